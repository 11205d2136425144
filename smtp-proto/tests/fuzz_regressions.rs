//! Bugs the fuzzers in `fuzz/` found, each as the smallest session that shows it.

use smtp_proto::{AbortReason, CloseReason, Config, Decision, Event, Session};
use std::sync::Arc;

/// Feeds `input` in one read after the greeting and runs the call order, accepting every
/// decision.
fn run(config: Config, input: &[u8]) -> (Vec<Event>, String) {
    run_reads(config, &[input])
}

/// [`run`], with the input arriving in these reads (the call order runs after each).
fn run_reads(config: Config, reads: &[&[u8]]) -> (Vec<Event>, String) {
    let mut s = Session::new(Arc::new(config));
    while s.poll_transmit().is_some() {}
    let (mut events, mut out) = (Vec::new(), Vec::new());
    for read in reads {
        s.handle_input(read);
        loop {
            while let Some(e) = s.poll_event() {
                if e.needs_decision() {
                    s.decide(Decision::Accept).unwrap();
                }
                events.push(e);
            }
            let mut progress = false;
            while let Some(b) = s.poll_transmit() {
                out.extend_from_slice(&b);
                progress = true;
            }
            if !progress {
                break;
            }
        }
    }
    (events, String::from_utf8(out).unwrap())
}

/// Found by `session`: between two BDAT chunks the body is open (`DataStart` and chunks were
/// delivered). When the session then closed for a protocol violation (an unreadable BDAT size,
/// an HTTP request, too many errors), the application got `Closed` without `DataAborted`, and
/// an application that keeps a body until `DataAborted` kept it.
#[test]
fn closing_between_bdat_chunks_aborts_the_body() {
    for closer in [&b"BDAT 0 (AST\r\n"[..], b"GET / HTTP/1.1\r\n"] {
        let mut input = b"EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\n\
BDAT 3\r\nabc"
            .to_vec();
        input.extend_from_slice(closer);
        let (events, out) = run(Config::new("mx.example.com"), &input);
        let tail = &events[events.len() - 4..];
        assert_eq!(tail[0], Event::DataChunk(bytes::Bytes::from_static(b"abc")));
        assert_eq!(
            tail[1],
            Event::DataAborted {
                reason: AbortReason::ConnectionClosed
            },
            "{events:?}"
        );
        // The transaction ends with Reset, like every accepted MAIL without a decided end.
        assert_eq!(tail[2], Event::Reset);
        assert!(matches!(
            tail[3],
            Event::Closed(CloseReason::ProtocolViolation)
        ));
        assert!(
            out.ends_with(" closing\r\n") || out.contains("421"),
            "{out}"
        );
    }
    let mut config = Config::new("mx.example.com");
    config.max_errors = 2;
    let (events, _) = run(
        config,
        b"EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\n\
BDAT 1\r\nxFOO\r\nBAR\r\n",
    );
    assert_eq!(
        &events[events.len() - 3..],
        [
            Event::DataAborted {
                reason: AbortReason::ConnectionClosed
            },
            Event::Reset,
            Event::Closed(CloseReason::TooManyErrors)
        ]
    );
}

/// Found by `session`: with a greeting delay and `EarlyTalkers::Allow`, the session held early
/// input unparsed until the greeting, yet `wants_read()` stayed true, so an adapter that
/// follows the call order kept reading and `buffered()` grew with every read: the documented
/// bound (`max_line_length` plus the last read) did not hold, and a client could make the
/// server buffer whatever it sent during the delay.
#[test]

fn early_input_during_the_greeting_delay_is_bounded() {
    let mut config = Config::new("mx.example.com");
    config.timeouts.greeting_delay = std::time::Duration::from_secs(5);
    config.early_talkers = smtp_proto::EarlyTalkers::Allow;
    let max = config.max_line_length;
    let mut s = Session::new(Arc::new(config));
    let read = [b'x'; 1000];
    for _ in 0..100 {
        while s.poll_event().is_some() {}
        while s.poll_transmit().is_some() {}
        if !s.wants_read() {
            break;
        }
        s.handle_input(&read);
        assert!(
            s.buffered() <= max + read.len(),
            "{} octets buffered before the greeting",
            s.buffered()
        );
    }
}

/// Found by `session` (`STRICT_CALL_ORDER`): once `max_pending_output` octets of replies wait,
/// the session stops parsing; `poll_transmit` then hands them out, after which `wants_read()`
/// was true although complete commands were still buffered. An adapter that follows the call
/// order (and the `Session` example) then read, while a pipelining client that had sent
/// everything waited for the rest of its replies: both waited until the command timeout.
#[test]

fn capped_output_does_not_stall_the_call_order() {
    let mut config = Config::new("mx.example.com");
    config.max_pending_output = 100;
    let mut s = Session::new(Arc::new(config));
    while s.poll_transmit().is_some() {}
    let mut input = b"NOOP\r\n".repeat(20);
    input.extend_from_slice(b"QUIT\r\n");
    s.handle_input(&input);
    let mut replies = Vec::new();
    // The call order, once: events, transmits; then the adapter reads if the session wants to.
    loop {
        while s.poll_event().is_some() {}
        while let Some(b) = s.poll_transmit() {
            replies.extend_from_slice(&b);
        }
        if s.is_closed() || s.wants_read() {
            break; // the client has sent everything: a read would wait for the timeout
        }
    }
    assert!(
        s.is_closed(),
        "the client got {} of 21 replies and waits for the rest",
        replies.split(|&c| c == b'\n').count() - 1
    );
}

/// Found by `body_roundtrip` and `data_decoder` (and by the decoder's proptests, fixed in
/// 3583cf0): a bare CR right before a CR that ends a read was not flagged, so under
/// `BareLineEndings::Reject` a message with a bare CR was accepted or cut late, depending on
/// how TCP split it.
#[test]
fn bare_cr_before_a_read_boundary_is_refused() {
    let reads: [&[u8]; 3] = [
        b"EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nDATA\r\n",
        b"a\r\r",
        b"\nb\r\n.\r\nQUIT\r\n",
    ];
    let (events, out) = run_reads(Config::new("mx.example.com"), &reads);
    let body: Vec<u8> = events
        .iter()
        .filter_map(|e| match e {
            Event::DataChunk(b) => Some(b.to_vec()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(body, b"a", "the application saw the bare CR");
    assert!(events.contains(&Event::DataAborted {
        reason: AbortReason::BareLineEnding
    }));
    assert!(out.contains("550 5.6.0"));
}

/// Found by `session_lmtp` (the LMTP model, within minutes): in LMTP mode, a `421` for one
/// recipient after the data closed the session but left the other recipients' decisions
/// pending, so `pending_decisions()` stayed above zero on a closing session and `decide` went
/// on accepting: an adapter that answers while decisions are pending wrote
/// `250 2.0.0 Message accepted` after the `421` that closed the connection (RFC 5321 3.8).
#[test]
fn lmtp_421_after_the_data_ends_the_replies() {
    let mut config = Config::new("mx.example.com");
    config.protocol = smtp_proto::Protocol::Lmtp;
    let mut s = Session::new(Arc::new(config));
    while s.poll_transmit().is_some() {}
    s.handle_input(
        b"LHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\n\
RCPT TO:<z@y.example>\r\nRCPT TO:<w@y.example>\r\nDATA\r\nbody\r\n.\r\n",
    );
    let (mut events, mut out) = (Vec::new(), Vec::new());
    loop {
        while let Some(e) = s.poll_event() {
            if let Event::DataEnd { .. } = e {
                assert_eq!(s.pending_decisions(), 3);
                s.decide(Decision::Accept).unwrap();
                let bye = "421 4.3.2 Shutting down".parse().unwrap();
                s.decide(Decision::Reject(bye)).unwrap();
                assert_eq!(
                    s.pending_decisions(),
                    0,
                    "a closing session pends decisions"
                );
                assert_eq!(
                    s.decide(Decision::Accept),
                    Err(smtp_proto::UsageError::NoPendingDecision)
                );
            } else if e.needs_decision() {
                s.decide(Decision::Accept).unwrap();
            }
            events.push(e);
        }
        let mut progress = false;
        while let Some(b) = s.poll_transmit() {
            out.extend_from_slice(&b);
            progress = true;
        }
        if !progress {
            break;
        }
    }
    let out = String::from_utf8(out).unwrap();
    assert!(
        out.ends_with("250 2.0.0 Message accepted\r\n421 4.3.2 Shutting down\r\n"),
        "{out}"
    );
    assert!(s.is_closed());
    assert_eq!(events.last(), Some(&Event::Closed(CloseReason::Rejected)));
    assert!(!events
        .iter()
        .any(|e| matches!(e, Event::DataAborted { .. })));
}

//! Bugs the fuzzers in `fuzz/` found, each as the smallest session that shows it.

use smtp_proto::{AbortReason, CloseReason, Config, Decision, Event, Session};
use std::sync::Arc;

/// Feeds `input` in one read after the greeting and runs the call order, accepting every
/// decision.
fn run(config: Config, input: &[u8]) -> (Vec<Event>, String) {
    let mut s = Session::new(Arc::new(config));
    while s.poll_transmit().is_some() {}
    let (mut events, mut out) = (Vec::new(), Vec::new());
    s.handle_input(input);
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
        let tail = &events[events.len() - 3..];
        assert_eq!(tail[0], Event::DataChunk(bytes::Bytes::from_static(b"abc")));
        assert_eq!(
            tail[1],
            Event::DataAborted {
                reason: AbortReason::ConnectionClosed
            },
            "{events:?}"
        );
        assert!(matches!(tail[2], Event::Closed(CloseReason::ProtocolViolation)));
        assert!(out.ends_with(" closing\r\n") || out.contains("421"), "{out}");
    }
    let mut config = Config::new("mx.example.com");
    config.max_errors = 2;
    let (events, _) = run(
        config,
        b"EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\n\
BDAT 1\r\nxFOO\r\nBAR\r\n",
    );
    assert_eq!(
        &events[events.len() - 2..],
        [
            Event::DataAborted {
                reason: AbortReason::ConnectionClosed
            },
            Event::Closed(CloseReason::TooManyErrors)
        ]
    );
}

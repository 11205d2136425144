//! The attacks, sent at the session: SMTP smuggling, STARTTLS command injection, TLS-required
//! mode, BDAT chunks that must never be executed.

mod support;

use smtp_proto::{AbortReason, BareLineEndings, CloseReason, Event, TimeoutKind, TlsPolicy};
use support::{config, tls_config, Harness};

/// The smuggling variants of CVE-2023-51764/51765/51766 and SEC Consult's paper: each is a
/// fake end-of-data that some server somewhere accepted.
const FAKE_TERMINATORS: [&[u8]; 7] = [
    b"\n.\n",
    b"\n.\r\n",
    b"\r\n.\n",
    b"\r.\r\n",
    b"\r\n.\r",
    b"\r.\r",
    b"\r\n\x00.\r\n",
];

fn smuggling_input(fake: &[u8]) -> Vec<u8> {
    let mut input = b"EHLO attacker.example\r\nMAIL FROM:<a@attacker.example>\r\n\
RCPT TO:<victim@mx.example.com>\r\nDATA\r\nSubject: first\r\n\r\nfirst body"
        .to_vec();
    input.extend_from_slice(fake);
    input.extend_from_slice(
        b"MAIL FROM:<ceo@bank.example>\r\nRCPT TO:<victim@mx.example.com>\r\nDATA\r\n\
Subject: smuggled\r\n\r\nsmuggled body\r\n.\r\nQUIT\r\n",
    );
    input
}

#[test]
fn smuggled_terminators_never_split_a_message() {
    for fake in FAKE_TERMINATORS {
        let input = smuggling_input(fake);
        // Fed whole, and one byte at a time.
        for whole in [true, false] {
            let mut h = Harness::greeted(config());
            if whole {
                h.send(&input);
            } else {
                for b in &input {
                    h.send(std::slice::from_ref(b));
                }
            }
            let name = format!("{fake:?} whole={whole}");
            assert_eq!(
                h.count(|e| matches!(e, Event::MailFrom { .. })),
                1,
                "{name}"
            );
            assert_eq!(h.count(|e| matches!(e, Event::DataStart)), 1, "{name}");
            if *fake == b"\r\n\x00.\r\n"[..] {
                // No bare CR/LF at all: one message whose body holds the NUL line and the
                // would-be smuggled commands.
                assert_eq!(h.count(|e| matches!(e, Event::DataEnd { .. })), 1, "{name}");
                assert!(String::from_utf8_lossy(&h.body()).contains("\0.\r\nMAIL FROM:<ceo"));
                assert!(h
                    .replies()
                    .ends_with("250 2.0.0 Message accepted\r\n221 2.0.0 Bye\r\n"));
                continue;
            }
            // By default such a message is refused after the real terminator.
            assert_eq!(h.count(|e| matches!(e, Event::DataEnd { .. })), 0, "{name}");
            assert!(
                h.events.contains(&Event::DataAborted {
                    reason: AbortReason::BareLineEnding
                }),
                "{name}"
            );
            let out = h.replies();
            assert!(
                out.ends_with(
                    "354 End data with <CR><LF>.<CR><LF>\r\n550 5.6.0 Message contains bare CR \
or LF characters (RFC 5321 section 2.3.8)\r\n221 2.0.0 Bye\r\n"
                ),
                "{name}: {out}"
            );
        }
    }
}

#[test]
fn smuggled_terminators_are_data_when_bare_line_endings_are_accepted() {
    for fake in FAKE_TERMINATORS {
        let mut c = config();
        c.bare_line_endings = BareLineEndings::Accept;
        let mut h = Harness::greeted(c);
        h.send(&smuggling_input(fake));
        let name = format!("{fake:?}");
        assert_eq!(
            h.count(|e| matches!(e, Event::MailFrom { .. })),
            1,
            "{name}"
        );
        assert_eq!(h.count(|e| matches!(e, Event::DataEnd { .. })), 1, "{name}");
        let body = h.body();
        let text = String::from_utf8_lossy(&body);
        assert!(text.starts_with("Subject: first"), "{name}");
        assert!(
            text.contains("MAIL FROM:<ceo@bank.example>"),
            "{name}: the smuggled commands are body"
        );
        assert!(text.ends_with("smuggled body\r\n"), "{name}");
        assert!(h
            .replies()
            .ends_with("250 2.0.0 Message accepted\r\n221 2.0.0 Bye\r\n"));
    }
}

#[test]
fn starttls_discards_injected_commands() {
    let mut h = Harness::greeted(tls_config());
    assert!(h
        .exchange("EHLO c.example\r\n")
        .contains("250 STARTTLS\r\n"));
    // CVE-2011-0411: the injected RSET arrives in the same packet as STARTTLS.
    assert_eq!(
        h.exchange("STARTTLS\r\nRSET\r\nMAIL FROM:<evil@x.example>\r\n"),
        "220 2.0.0 Ready to start TLS\r\n"
    );
    assert_eq!(h.events.last(), Some(&Event::StartTls { discarded: 34 }));
    assert!(
        !h.session.wants_read(),
        "the adapter does the handshake now"
    );
    assert_eq!(
        h.session.poll_timeout().unwrap().kind,
        TimeoutKind::TlsHandshake
    );
    // Whatever arrives in plain text before the handshake is dropped too.
    h.send(b"NOOP\r\n");
    h.session.handle_tls_established().unwrap();
    h.drive();
    assert_eq!(
        h.replies(),
        "",
        "no reply to anything sent before the handshake"
    );
    assert!(h.session.tls_active());
    // Back to the start (RFC 3207 4.2): EHLO again, no STARTTLS on offer.
    assert_eq!(
        h.exchange("MAIL FROM:<a@b.example>\r\n"),
        "503 5.5.1 Send HELO/EHLO first\r\n"
    );
    let ehlo = h.exchange("EHLO c.example\r\n");
    assert!(!ehlo.contains("STARTTLS"), "{ehlo}");
    assert!(ehlo.ends_with("250 REQUIRETLS\r\n"), "{ehlo}");
    assert_eq!(
        h.exchange("STARTTLS x\r\n"),
        "501 5.5.4 Syntax error (no parameters allowed)\r\n"
    );
    assert_eq!(
        h.exchange("STARTTLS\r\n"),
        "503 5.5.1 TLS already active\r\n"
    );
    assert_eq!(
        h.exchange("MAIL FROM:<a@b.example> REQUIRETLS\r\n"),
        "250 2.1.0 Sender OK\r\n"
    );
    assert_eq!(h.count(|e| matches!(e, Event::MailFrom { .. })), 1);
}

#[test]
fn starttls_mid_transaction_resets_it() {
    let mut h = Harness::greeted(tls_config());
    h.exchange("EHLO c.example\r\nMAIL FROM:<a@b.example>\r\n");
    h.exchange("STARTTLS\r\n");
    let n = h.events.len();
    assert_eq!(
        h.events[n - 2..],
        [Event::Reset, Event::StartTls { discarded: 0 }]
    );
}

#[test]
fn tls_required_mode() {
    let mut c = tls_config();
    c.tls = TlsPolicy::Required;
    let mut h = Harness::greeted(c);
    let need = "530 5.7.0 Must issue a STARTTLS command first\r\n";
    assert!(h.exchange("EHLO c.example\r\n").contains("STARTTLS"));
    assert_eq!(h.exchange("NOOP\r\n"), "250 2.0.0 OK\r\n");
    for cmd in [
        "HELO c.example",
        "MAIL FROM:<a@b.example>",
        "RCPT TO:<a@b.example>",
        "DATA",
        "RSET",
        "VRFY x",
        "HELP",
        "EXPN x",
        "FOO",
    ] {
        assert_eq!(h.exchange(&format!("{cmd}\r\n")), need, "{cmd}");
    }
    // A BDAT chunk is still read as data, and refused.
    assert_eq!(h.exchange("BDAT 6 LAST\r\nRSET\r\n"), need);
    assert_eq!(
        h.exchange("STARTTLS\r\n"),
        "220 2.0.0 Ready to start TLS\r\n"
    );
    h.session.handle_tls_established().unwrap();
    h.exchange("EHLO c.example\r\n");
    assert_eq!(
        h.exchange("MAIL FROM:<a@b.example>\r\n"),
        "250 2.1.0 Sender OK\r\n"
    );
}

#[test]
fn implicit_tls_session_needs_no_starttls() {
    let mut c = tls_config();
    c.tls = TlsPolicy::Required;
    let s = smtp_proto::Session::new_implicit_tls(std::sync::Arc::new(c));
    let mut h = Harness::from_session(s);
    h.replies();
    let ehlo = h.exchange("EHLO c.example\r\n");
    assert!(
        !ehlo.contains("STARTTLS") && ehlo.contains("REQUIRETLS"),
        "{ehlo}"
    );
    assert_eq!(
        h.exchange("MAIL FROM:<a@b.example>\r\n"),
        "250 2.1.0 Sender OK\r\n"
    );
}

#[test]
fn bdat_transaction() {
    let mut h = Harness::greeted(config());
    h.exchange(
        "EHLO c.example\r\nMAIL FROM:<a@b.example> BODY=BINARYMIME\r\nRCPT TO:<x@y.example>\r\n",
    );
    assert_eq!(
        h.exchange("BDAT 5\r\nhello"),
        "250 2.0.0 5 octets received\r\n"
    );
    // DATA after BDAT is refused (RFC 3030 section 3).
    assert_eq!(
        h.exchange("DATA\r\n"),
        "503 5.5.1 DATA not allowed after BDAT\r\n"
    );
    // The chunk may arrive in pieces, and carries CRLF.CRLF as plain data.
    h.send(b"BDAT 13 LAST\r\n\r\n.\r\n");
    assert_eq!(h.exchange(" world!!"), "250 2.0.0 Message accepted\r\n");
    assert_eq!(h.body(), b"hello\r\n.\r\n world!!");
    assert!(h.events.contains(&Event::DataEnd { size: 18 }));
    assert_eq!(h.count(|e| matches!(e, Event::DataStart)), 1);
    // BDAT 0 LAST ends an empty message.
    h.exchange("MAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\n");
    assert_eq!(
        h.exchange("BDAT 0 LAST\r\n"),
        "250 2.0.0 Message accepted\r\n"
    );
    assert!(h.events.contains(&Event::DataEnd { size: 0 }));
}

#[test]
fn rejected_bdat_chunk_is_consumed_never_executed() {
    let mut h = Harness::greeted(config());
    h.exchange("EHLO c.example\r\n");
    // Pipelined: the only recipient is refused, so BDAT is refused, but its octets are
    // still message data, not commands.
    let chunk = "MAIL FROM:<evil@x.example>\r\nRCPT TO:<v@y.example>\r\nQUIT\r\n";
    let out = h.exchange(&format!(
        "MAIL FROM:<a@b.example>\r\nRCPT TO:<reject@y.example>\r\nBDAT {} LAST\r\n{chunk}NOOP\r\n",
        chunk.len()
    ));
    assert_eq!(
        out,
        "250 2.1.0 Sender OK\r\n550 5.1.1 No such user\r\n554 5.5.1 No valid recipients\r\n\
250 2.0.0 OK\r\n"
    );
    assert_eq!(h.count(|e| matches!(e, Event::MailFrom { .. })), 1);
    assert_eq!(
        h.count(|e| matches!(e, Event::DataStart | Event::DataChunk(_))),
        0
    );
    assert!(!h.session.is_closed());
    // Without any MAIL, and with CHUNKING turned off, chunks are still consumed.
    h.exchange("RSET\r\n");
    assert_eq!(
        h.exchange("BDAT 6\r\nQUIT\r\n"),
        "503 5.5.1 Need MAIL command first\r\n"
    );
    let mut c = config();
    c.extensions.chunking = false;
    let mut h = Harness::greeted(c);
    assert!(!h.exchange("EHLO c.example\r\n").contains("CHUNKING"));
    assert_eq!(
        h.exchange("BDAT 6\r\nQUIT\r\n"),
        "502 5.5.1 Command not implemented\r\n"
    );
    assert!(!h.session.is_closed());
}

#[test]
fn bdat_without_a_size_closes() {
    for bad in [
        "BDAT\r\n",
        "BDAT x\r\n",
        "BDAT 99999999999999999999999\r\n",
        "BDAT 5 NOTLAST\r\n",
    ] {
        let mut h = Harness::greeted(config());
        h.exchange("EHLO c.example\r\n");
        assert_eq!(
            h.exchange(bad),
            "501 5.5.4 Syntax error in BDAT size, closing\r\n",
            "{bad}"
        );
        assert!(h.session.is_closed());
        assert_eq!(
            h.events.last(),
            Some(&Event::Closed(CloseReason::ProtocolViolation))
        );
    }
}

#[test]
fn bdat_over_the_size_limit() {
    let mut c = config();
    c.max_message_size = 10;
    let mut h = Harness::greeted(c);
    h.exchange("EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\n");
    assert_eq!(
        h.exchange("BDAT 6\r\n012345"),
        "250 2.0.0 6 octets received\r\n"
    );
    let out = h.exchange("BDAT 6 LAST\r\nRSET\r\nNOOP\r\n");
    assert_eq!(
        out,
        "552 5.3.4 Message size exceeds fixed maximum message size\r\n250 2.0.0 OK\r\n"
    );
    assert!(h.events.contains(&Event::DataAborted {
        reason: AbortReason::TooLarge
    }));
    assert_eq!(h.count(|e| matches!(e, Event::DataEnd { .. })), 0);
    // The next transaction is unaffected.
    h.exchange("MAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\n");
    assert_eq!(
        h.exchange("BDAT 10 LAST\r\n0123456789"),
        "250 2.0.0 Message accepted\r\n"
    );
}

#[test]
fn binarymime_requires_bdat() {
    let mut h = Harness::greeted(config());
    h.exchange(
        "EHLO c.example\r\nMAIL FROM:<a@b.example> BODY=BINARYMIME\r\nRCPT TO:<x@y.example>\r\n",
    );
    assert_eq!(
        h.exchange("DATA\r\n"),
        "503 5.5.1 BODY=BINARYMIME requires BDAT\r\n"
    );
}

#[test]
fn rset_between_bdat_chunks_aborts_the_body() {
    let mut h = Harness::greeted(config());
    h.exchange(
        "EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nBDAT 3\r\nabc",
    );
    assert_eq!(h.exchange("RSET\r\n"), "250 2.0.0 OK\r\n");
    let n = h.events.len();
    assert_eq!(
        h.events[n - 2..],
        [
            Event::DataAborted {
                reason: AbortReason::Reset
            },
            Event::Reset
        ]
    );
}

#[test]
fn rcpt_between_bdat_chunks_is_refused() {
    let mut h = Harness::greeted(config());
    h.exchange(
        "EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nBDAT 3\r\nabc",
    );
    assert_eq!(
        h.exchange("RCPT TO:<late@y.example>\r\n"),
        "503 5.5.1 RCPT not allowed once the message data has started\r\n"
    );
    assert_eq!(h.count(|e| matches!(e, Event::RcptTo { .. })), 1);
    assert_eq!(
        h.exchange("BDAT 1 LAST\r\nd"),
        "250 2.0.0 Message accepted\r\n"
    );
    assert_eq!(h.body(), b"abcd");
}

#[test]
fn shutdown_mid_message_aborts_it_and_closes() {
    let mut h = Harness::greeted(config());
    h.exchange("EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nDATA\r\n");
    assert!(h.session.in_transaction());
    h.send(b"partial");
    h.session
        .shutdown("421 4.3.0 Service shutting down".parse().unwrap());
    h.drive();
    assert_eq!(h.replies(), "421 4.3.0 Service shutting down\r\n");
    assert!(h.session.is_closed());
    let n = h.events.len();
    assert_eq!(
        h.events[n - 3..],
        [
            Event::DataAborted {
                reason: AbortReason::ConnectionClosed
            },
            Event::Reset,
            Event::Closed(CloseReason::Shutdown)
        ]
    );
    // Idempotent once closing.
    h.session.shutdown("421 4.3.0 again".parse().unwrap());
    h.drive();
    assert_eq!(h.replies(), "");
}

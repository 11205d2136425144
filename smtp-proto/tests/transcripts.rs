//! Whole sessions, command by command: RFC 5321 Appendix D, the sequence rules of 4.1.4 and
//! 3.3, every command and every core reply code.

mod support;

use smtp_proto::{AbortReason, CloseReason, Decision, Event, Session, TimeoutKind, TlsPolicy};
use std::sync::Arc;
use support::{config, reply, Harness};

const EHLO_KEYWORDS: &str = "250-mx.example.com Hello\r\n250-PIPELINING\r\n250-SIZE 26214400\r\n\
250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250-SMTPUTF8\r\n250-CHUNKING\r\n250-BINARYMIME\r\n\
250-DSN\r\n250 LIMITS RCPTMAX=100\r\n";

#[test]
fn appendix_d1_typical_transaction() {
    let mut h = Harness::new(config());
    assert_eq!(h.replies(), "220 mx.example.com ESMTP ready\r\n");
    assert_eq!(h.exchange("EHLO bar.com\r\n"), EHLO_KEYWORDS);
    assert_eq!(
        h.exchange("MAIL FROM:<Smith@bar.com>\r\n"),
        "250 2.1.0 Sender OK\r\n"
    );
    assert_eq!(
        h.exchange("RCPT TO:<Jones@foo.com>\r\n"),
        "250 2.1.5 Recipient OK\r\n"
    );
    assert_eq!(
        h.exchange("RCPT TO:<Green-reject@foo.com>\r\n"),
        "550 5.1.1 No such user\r\n"
    );
    assert_eq!(
        h.exchange("RCPT TO:<Brown@foo.com>\r\n"),
        "250 2.1.5 Recipient OK\r\n"
    );
    assert_eq!(
        h.exchange("DATA\r\n"),
        "354 End data with <CR><LF>.<CR><LF>\r\n"
    );
    assert_eq!(h.exchange("Blah blah blah...\r\n...etc. etc. etc.\r\n"), "");
    assert_eq!(h.exchange(".\r\n"), "250 2.0.0 Message accepted\r\n");
    assert_eq!(h.exchange("QUIT\r\n"), "221 2.0.0 Bye\r\n");
    assert!(h.session.is_closed());
    assert_eq!(h.body(), b"Blah blah blah...\r\n..etc. etc. etc.\r\n");
    let e = h.merged_events();
    assert!(matches!(&e[0], Event::Hello { domain, esmtp: true } if domain == "bar.com"));
    assert!(matches!(&e[1], Event::MailFrom { from, .. } if from.to_string() == "<Smith@bar.com>"));
    assert_eq!(h.count(|e| matches!(e, Event::RcptTo { .. })), 3);
    assert!(e.contains(&Event::DataEnd { size: 37 }));
    assert_eq!(e.last(), Some(&Event::Closed(CloseReason::Quit)));
}

#[test]
fn appendix_d2_aborted_transaction() {
    let mut h = Harness::greeted(config());
    h.exchange("EHLO bar.com\r\nMAIL FROM:<Smith@bar.com>\r\nRCPT TO:<Jones@foo.com>\r\n");
    assert_eq!(
        h.exchange("RCPT TO:<reject@foo.com>\r\n"),
        "550 5.1.1 No such user\r\n"
    );
    assert_eq!(h.exchange("RSET\r\n"), "250 2.0.0 OK\r\n");
    assert!(h.events.contains(&Event::Reset));
    // The transaction is gone: RCPT needs a new MAIL.
    assert_eq!(
        h.exchange("RCPT TO:<Jones@foo.com>\r\n"),
        "503 5.5.1 Need MAIL command first\r\n"
    );
    assert_eq!(h.exchange("QUIT\r\n"), "221 2.0.0 Bye\r\n");
}

#[test]
fn appendix_d4_vrfy_answers_252() {
    let mut h = Harness::greeted(config());
    h.exchange("EHLO bar.com\r\n");
    assert_eq!(
        h.exchange("VRFY Crispin\r\n"),
        "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery\r\n"
    );
    assert_eq!(
        h.exchange("VRFY\r\n"),
        "501 5.5.4 Syntax error in parameters or arguments\r\n"
    );
    assert_eq!(
        h.exchange("EXPN staff\r\n"),
        "502 5.5.1 Command not implemented\r\n"
    );
    let help = h.exchange("HELP\r\n");
    assert!(help.starts_with("214-2.0.0 Commands:"), "{help}");
    assert!(help.ends_with("214 2.0.0 See RFC 5321\r\n"), "{help}");
    assert_eq!(h.exchange("NOOP\r\n"), "250 2.0.0 OK\r\n");
    assert_eq!(h.exchange("noop with an argument\r\n"), "250 2.0.0 OK\r\n");
}

#[test]
fn helo_and_ehlo_syntax() {
    let mut h = Harness::greeted(config());
    assert_eq!(
        h.exchange("HELO bar.com\r\n"),
        "250 mx.example.com Hello\r\n"
    );
    assert!(matches!(&h.events[0], Event::Hello { esmtp: false, .. }));
    assert_eq!(
        h.exchange("EHLO\r\n"),
        "501 5.5.4 Syntax error: a domain name is required\r\n"
    );
    assert_eq!(
        h.exchange("HELO \r\n"),
        "501 5.5.4 Syntax error: a domain name is required\r\n"
    );
    // Lenient by default: real clients send names with underscores and trailing spaces.
    assert_eq!(
        h.exchange("HELO my_host  \r\n"),
        "250 mx.example.com Hello\r\n"
    );
    assert_eq!(h.exchange("EHLO [192.0.2.1]\r\n"), EHLO_KEYWORDS);
    let mut strict = config();
    strict.strict_hello = true;
    let mut h = Harness::greeted(strict);
    assert_eq!(
        h.exchange("HELO my_host\r\n"),
        "501 5.5.4 Syntax error: a domain name is required\r\n"
    );
    assert_eq!(
        h.exchange("HELO [IPv6:2001:db8::1]\r\n"),
        "250 mx.example.com Hello\r\n"
    );
}

#[test]
fn sequence_rules_of_4_1_4() {
    let mut h = Harness::greeted(config());
    assert_eq!(
        h.exchange("MAIL FROM:<a@b.example>\r\n"),
        "503 5.5.1 Send HELO/EHLO first\r\n"
    );
    assert_eq!(
        h.exchange("RCPT TO:<a@b.example>\r\n"),
        "503 5.5.1 Need MAIL command first\r\n"
    );
    assert_eq!(
        h.exchange("DATA\r\n"),
        "503 5.5.1 Need MAIL command first\r\n"
    );
    h.exchange("EHLO c.example\r\n");
    assert_eq!(
        h.exchange("MAIL FROM:<a@b.example>\r\n"),
        "250 2.1.0 Sender OK\r\n"
    );
    assert_eq!(
        h.exchange("MAIL FROM:<a@b.example>\r\n"),
        "503 5.5.1 Nested MAIL command\r\n"
    );
    // RFC 5321 3.3: DATA with no accepted recipient.
    h.exchange("RCPT TO:<reject@b.example>\r\n");
    assert_eq!(h.exchange("DATA\r\n"), "554 5.5.1 No valid recipients\r\n");
    h.exchange("RCPT TO:<ok@b.example>\r\n");
    assert_eq!(
        h.exchange("DATA now\r\n"),
        "501 5.5.4 Syntax error (no parameters allowed)\r\n"
    );
    assert_eq!(
        h.exchange("RSET x\r\n"),
        "501 5.5.4 Syntax error (no parameters allowed)\r\n"
    );
    assert_eq!(
        h.exchange("QUIT now\r\n"),
        "501 5.5.4 Syntax error (no parameters allowed)\r\n"
    );
    assert_eq!(
        h.exchange("XYZZY\r\n"),
        "500 5.5.2 Syntax error, command unrecognized\r\n"
    );
    assert_eq!(
        h.exchange("\r\n"),
        "500 5.5.2 Syntax error, command unrecognized\r\n"
    );
    assert_eq!(
        h.exchange("AUTH PLAIN\r\n"),
        "502 5.5.1 Command not implemented\r\n"
    );
    // EHLO in the middle of a transaction resets it (4.1.4).
    h.exchange("EHLO c.example\r\n");
    assert!(h.events.contains(&Event::Reset));
    assert_eq!(
        h.exchange("RCPT TO:<a@b.example>\r\n"),
        "503 5.5.1 Need MAIL command first\r\n"
    );
}

#[test]
fn verbs_are_case_insensitive_and_bare_lf_ends_a_command() {
    let mut h = Harness::greeted(config());
    assert_eq!(h.exchange("ehlo c.example\n").lines().count(), 10);
    assert_eq!(
        h.exchange("mail from:<a@b.example>\r\n"),
        "250 2.1.0 Sender OK\r\n"
    );
    assert_eq!(
        h.exchange("rcpt to: <x@y.example>\r\n"),
        "250 2.1.5 Recipient OK\r\n"
    );
}

#[test]
fn mail_and_rcpt_syntax_errors() {
    let mut h = Harness::greeted(config());
    h.exchange("EHLO c.example\r\n");
    for (cmd, expect) in [
        (
            "MAIL <a@b.example>",
            "501 5.5.4 Syntax error in parameters or arguments",
        ),
        (
            "MAIL FROM:a@b.example",
            "501 5.1.7 Bad sender address syntax",
        ),
        (
            "MAIL FROM:<a@b.example>x",
            "501 5.5.4 Syntax error in parameters or arguments",
        ),
        (
            "MAIL FROM:<a@b.example> FOO=BAR",
            "555 5.5.4 Unsupported or duplicate parameter",
        ),
        (
            "MAIL FROM:<a@b.example> SIZE=1 SIZE=2",
            "555 5.5.4 Unsupported or duplicate parameter",
        ),
        (
            "MAIL FROM:<a@b.example> SIZE=x",
            "501 5.5.4 Syntax error in parameters or arguments",
        ),
        (
            // 20 digits (RFC 1870's maximum) but beyond u64: over any limit.
            "MAIL FROM:<a@b.example> SIZE=99999999999999999999",
            "552 5.3.4 Message size exceeds fixed maximum message size",
        ),
        (
            "MAIL FROM:<a@b.example> SIZE=999999999999999999999",
            "501 5.5.4 Syntax error in parameters or arguments",
        ),
        (
            "MAIL FROM:<a@b.example> SIZE=26214401",
            "552 5.3.4 Message size exceeds fixed maximum message size",
        ),
        (
            "MAIL FROM:<ü@b.example>",
            "553 5.6.7 Non-ASCII address requires the SMTPUTF8 parameter",
        ),
        (
            "MAIL FROM:<a@b.example> REQUIRETLS",
            "555 5.5.4 Unsupported or duplicate parameter",
        ),
    ] {
        assert_eq!(
            h.exchange(&format!("{cmd}\r\n")),
            format!("{expect}\r\n"),
            "{cmd}"
        );
    }
    let local = "l".repeat(65);
    assert_eq!(
        h.exchange(&format!("MAIL FROM:<{local}@b.example>\r\n")),
        "501 5.5.4 Local part too long\r\n"
    );
    assert_eq!(
        h.exchange("MAIL FROM:<> SIZE=26214400 BODY=8BITMIME AUTH=<> RET=HDRS ENVID=x+2B\r\n"),
        "250 2.1.0 Sender OK\r\n"
    );
    let Some(Event::MailFrom { from, params }) = h.events.last() else {
        panic!()
    };
    assert_eq!(from, &smtp_proto::address::ReversePath::Null);
    assert_eq!(params.size, Some(26214400));
    assert_eq!(params.auth.as_deref(), Some("<>"));
    for (cmd, expect) in [
        (
            "RCPT <x@y.example>",
            "501 5.5.4 Syntax error in parameters or arguments",
        ),
        ("RCPT TO:<>", "501 5.1.3 Bad recipient address syntax"),
        (
            "RCPT TO:<x@y.example> ORCPT",
            "501 5.5.4 Syntax error in parameters or arguments",
        ),
        (
            "RCPT TO:<x@y.example> SIZE=1",
            "555 5.5.4 Unsupported or duplicate parameter",
        ),
        (
            "RCPT TO:<ü@y.example>",
            "553 5.6.7 Non-ASCII address requires the SMTPUTF8 parameter",
        ),
    ] {
        assert_eq!(
            h.exchange(&format!("{cmd}\r\n")),
            format!("{expect}\r\n"),
            "{cmd}"
        );
    }
    assert_eq!(
        h.exchange("RCPT TO:<Postmaster> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x@y.example\r\n"),
        "250 2.1.5 Recipient OK\r\n"
    );
    assert!(matches!(
        h.events.last(),
        Some(Event::RcptTo { to: smtp_proto::address::ForwardPath::Postmaster, params })
            if params.notify.as_ref().is_some_and(|n| n.success() && n.failure())
    ));
}

#[test]
fn smtputf8_transaction() {
    let mut h = Harness::greeted(config());
    h.exchange("EHLO c.example\r\n");
    assert_eq!(
        h.exchange("MAIL FROM:<用户@例子.广告> SMTPUTF8 BODY=8BITMIME\r\n"),
        "250 2.1.0 Sender OK\r\n"
    );
    assert_eq!(
        h.exchange("RCPT TO:<josé@example.com>\r\n"),
        "250 2.1.5 Recipient OK\r\n"
    );
    let mut off = config();
    off.extensions.smtputf8 = false;
    let mut h = Harness::greeted(off);
    let ehlo = h.exchange("EHLO c.example\r\n");
    assert!(!ehlo.contains("SMTPUTF8"));
    assert_eq!(
        h.exchange("MAIL FROM:<a@b.example> SMTPUTF8\r\n"),
        "555 5.5.4 Unsupported or duplicate parameter\r\n"
    );
}

#[test]
fn dsn_parameters_need_dsn() {
    let mut c = config();
    c.extensions.dsn = false;
    let mut h = Harness::greeted(c);
    assert!(!h.exchange("EHLO c.example\r\n").contains("DSN"));
    assert_eq!(
        h.exchange("MAIL FROM:<a@b.example> RET=FULL\r\n"),
        "555 5.5.4 Unsupported or duplicate parameter\r\n"
    );
    h.exchange("MAIL FROM:<a@b.example>\r\n");
    assert_eq!(
        h.exchange("RCPT TO:<x@y.example> NOTIFY=NEVER\r\n"),
        "555 5.5.4 Unsupported or duplicate parameter\r\n"
    );
}

#[test]
fn empty_message_and_dot_stuffing() {
    let mut h = Harness::greeted(config());
    h.exchange("EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\n");
    assert_eq!(
        h.exchange("DATA\r\n"),
        "354 End data with <CR><LF>.<CR><LF>\r\n"
    );
    assert_eq!(h.exchange(".\r\n"), "250 2.0.0 Message accepted\r\n");
    assert!(h.events.contains(&Event::DataEnd { size: 0 }));
    assert_eq!(h.body(), b"");
    h.exchange("MAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nDATA\r\n");
    h.exchange("..\r\n...x\r\n.\r\n");
    assert_eq!(h.body(), b".\r\n..x\r\n");
}

#[test]
fn recipient_limit_at_its_edge() {
    let mut c = config();
    c.max_recipients = 2;
    let mut h = Harness::greeted(c);
    assert!(h
        .exchange("EHLO c.example\r\n")
        .contains("LIMITS RCPTMAX=2"));
    h.exchange("MAIL FROM:<a@b.example>\r\n");
    assert_eq!(
        h.exchange("RCPT TO:<r1@y.example>\r\n"),
        "250 2.1.5 Recipient OK\r\n"
    );
    // Rejected recipients do not count toward the limit.
    h.exchange("RCPT TO:<reject@y.example>\r\n");
    assert_eq!(
        h.exchange("RCPT TO:<r2@y.example>\r\n"),
        "250 2.1.5 Recipient OK\r\n"
    );
    assert_eq!(
        h.exchange("RCPT TO:<r3@y.example>\r\n"),
        "452 4.5.3 Too many recipients\r\n"
    );
    assert_eq!(h.count(|e| matches!(e, Event::RcptTo { .. })), 3);
    // A new transaction starts from zero.
    h.exchange("DATA\r\nx\r\n.\r\nMAIL FROM:<a@b.example>\r\n");
    assert_eq!(
        h.exchange("RCPT TO:<r4@y.example>\r\n"),
        "250 2.1.5 Recipient OK\r\n"
    );
}

#[test]
fn error_limit_closes_with_421() {
    let mut c = config();
    c.max_errors = 3;
    let mut h = Harness::greeted(c);
    assert_eq!(
        h.exchange("FOO\r\n"),
        "500 5.5.2 Syntax error, command unrecognized\r\n"
    );
    assert_eq!(
        h.exchange("MAIL FROM:<a@b>\r\n"),
        "503 5.5.1 Send HELO/EHLO first\r\n"
    );
    assert!(!h.session.is_closed());
    assert_eq!(
        h.exchange("BAR\r\nNOOP\r\n"),
        "421 4.7.0 mx.example.com Too many errors, closing connection\r\n"
    );
    assert!(h.session.is_closed());
    assert_eq!(
        h.events.last(),
        Some(&Event::Closed(CloseReason::TooManyErrors))
    );
}

#[test]
fn command_line_length_at_its_edge() {
    let mut h = Harness::greeted(config());
    // 512 octets with CRLF is allowed (RFC 5321 4.5.3.1.4) ...
    let ok = format!("NOOP {}\r\n", "x".repeat(512 - 7));
    assert_eq!(ok.len(), 512);
    assert_eq!(h.exchange(&ok), "250 2.0.0 OK\r\n");
    // ... 513 is not.
    let long = format!("NOOP {}\r\n", "x".repeat(512 - 6));
    assert_eq!(h.exchange(&long), "500 5.5.2 Line too long\r\n");
    // A line that never ends is not buffered: memory stays bounded, and one reply comes
    // when its LF finally arrives. The session goes on.
    for _ in 0..1000 {
        h.send(&[b'y'; 1000]);
        assert!(h.session.buffered() <= 512, "{}", h.session.buffered());
    }
    assert_eq!(h.replies(), "");
    assert_eq!(
        h.exchange("\r\nNOOP\r\n"),
        "500 5.5.2 Line too long\r\n250 2.0.0 OK\r\n"
    );
    let mut c = config();
    c.max_line_length = 20;
    let mut h = Harness::greeted(c);
    assert_eq!(h.exchange("NOOP 0123456789abc\r\n"), "250 2.0.0 OK\r\n");
    assert_eq!(
        h.exchange("NOOP 0123456789abcd\r\n"),
        "500 5.5.2 Line too long\r\n"
    );
    assert_eq!(h.exchange("NOOP 0123456789abc\n"), "250 2.0.0 OK\r\n");
    assert_eq!(h.exchange("NOOP 0123456789abcd\n"), "250 2.0.0 OK\r\n");
    assert_eq!(
        h.exchange("NOOP 0123456789abcde\n"),
        "500 5.5.2 Line too long\r\n"
    );
}

#[test]
fn message_size_limit_drains_and_goes_on() {
    let mut c = config();
    c.max_message_size = 10;
    let mut h = Harness::greeted(c);
    assert!(h.exchange("EHLO c.example\r\n").contains("250-SIZE 10\r\n"));
    h.exchange("MAIL FROM:<a@b.example> SIZE=10\r\nRCPT TO:<x@y.example>\r\nDATA\r\n");
    // 12 octets: over the limit. Commands inside the drained body are not executed.
    h.send(b"0123456789\r\n");
    h.send(b"MAIL FROM:<evil@x.example>\r\n");
    assert_eq!(h.replies(), "");
    assert_eq!(
        h.exchange(".\r\n"),
        "552 5.3.4 Message size exceeds fixed maximum message size\r\n"
    );
    assert!(h.events.contains(&Event::DataAborted {
        reason: AbortReason::TooLarge
    }));
    assert_eq!(h.count(|e| matches!(e, Event::DataEnd { .. })), 0);
    assert_eq!(h.count(|e| matches!(e, Event::MailFrom { .. })), 1);
    // Exactly at the limit is fine, and the session carried on.
    h.exchange("MAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nDATA\r\n");
    assert_eq!(
        h.exchange("01234567\r\n.\r\n"),
        "250 2.0.0 Message accepted\r\n"
    );
    assert!(h.events.contains(&Event::DataEnd { size: 10 }));
}

#[test]
fn pipelined_group_is_one_transmit_in_order() {
    let mut h = Harness::greeted(config());
    h.exchange("EHLO c.example\r\n");
    let before = h.transmits.len();
    // RFC 2920 section 3.1: the group up to DATA.
    h.send(
        b"MAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nRCPT TO:<reject@y.example>\r\n\
RCPT TO:<defer@y.example>\r\nDATA\r\n",
    );
    assert_eq!(
        h.transmits.len(),
        before + 1,
        "one write for the whole group"
    );
    assert_eq!(
        h.replies(),
        "250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n550 5.1.1 No such user\r\n\
451 4.3.0 Try again later\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
    );
    // The end of data, and the next transaction, pipelined again.
    let before = h.transmits.len();
    h.send(b"body\r\n.\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nRSET\r\nQUIT\r\n");
    assert_eq!(h.transmits.len(), before + 1);
    assert_eq!(
        h.replies(),
        "250 2.0.0 Message accepted\r\n250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n\
250 2.0.0 OK\r\n221 2.0.0 Bye\r\n"
    );
}

#[test]
fn replies_are_held_while_complete_commands_wait() {
    let mut s = Session::new(Arc::new(config()));
    while s.poll_transmit().is_some() {}
    s.handle_input(b"NOOP\r\nNOOP\r\n");
    // Polling transmit before the events have been drained gives nothing yet.
    assert_eq!(s.poll_transmit(), None);
    assert_eq!(s.poll_event(), None);
    assert_eq!(
        &s.poll_transmit().unwrap()[..],
        b"250 2.0.0 OK\r\n250 2.0.0 OK\r\n"
    );
}

#[test]
fn unread_replies_bound_the_session() {
    let mut c = config();
    c.max_pending_output = 1000;
    let mut s = Session::new(Arc::new(c));
    while s.poll_transmit().is_some() {}
    s.handle_input(&b"NOOP\r\n".repeat(10_000));
    // Parsing stops once 1000 octets of replies wait to be written.
    while s.poll_event().is_some() {}
    assert!(
        !s.wants_read(),
        "a client that does not read is not read either"
    );
    let first = s.poll_transmit().unwrap();
    assert!(
        first.len() >= 1000 && first.len() < 1000 + 16,
        "{}",
        first.len()
    );
    let mut total = first.len();
    for _ in 0..100_000 {
        while s.poll_event().is_some() {}
        match s.poll_transmit() {
            Some(b) => total += b.len(),
            None => break,
        }
    }
    assert_eq!(total, 10_000 * b"250 2.0.0 OK\r\n".len());
    assert!(s.wants_read());
}

#[test]
fn decisions_with_custom_replies_and_421() {
    let mut h = Harness::greeted(config());
    h.policy = Box::new(|e| match e {
        Event::Hello { .. } => Decision::AcceptWith(reply("250 welcome, friend")),
        Event::MailFrom { .. } => Decision::AcceptWith(reply("250 2.1.0 Fine sender")),
        Event::RcptTo { .. } => Decision::Reject(reply("421 4.3.2 Shutting down")),
        _ => Decision::Accept,
    });
    assert!(h
        .exchange("EHLO c.example\r\n")
        .starts_with("250-mx.example.com welcome, friend\r\n250-PIPELINING"));
    assert_eq!(
        h.exchange("MAIL FROM:<a@b.example>\r\n"),
        "250 2.1.0 Fine sender\r\n"
    );
    assert_eq!(
        h.exchange("RCPT TO:<x@y.example>\r\nNOOP\r\n"),
        "421 4.3.2 Shutting down\r\n"
    );
    assert!(h.session.is_closed());
    assert_eq!(h.events.last(), Some(&Event::Closed(CloseReason::Rejected)));
}

/// Polls the session dry (no event may need a decision) and returns what it transmits.
fn drain(s: &mut Session) -> String {
    while let Some(event) = s.poll_event() {
        assert!(!event.needs_decision(), "{event:?}");
    }
    let mut out = Vec::new();
    while let Some(b) = s.poll_transmit() {
        out.extend_from_slice(&b);
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn misuse_is_a_usage_error() {
    use smtp_proto::UsageError;
    let mut s = Session::new(Arc::new(config()));
    assert!(s.poll_transmit().is_some(), "the greeting");
    assert_eq!(
        s.decide(Decision::Accept),
        Err(UsageError::NoPendingDecision)
    );
    assert_eq!(s.handle_tls_established(), Err(UsageError::NotStartingTls));
    s.handle_input(b"EHLO c.example\r\n");
    assert!(matches!(s.poll_event(), Some(Event::Hello { .. })));
    assert_eq!(s.poll_event(), None, "parsing waits for the decision");
    assert!(!s.wants_read());
    // A decision that does not fit is reported, and the client gets the local-error reply
    // instead: the session never waits on a bad decision.
    assert_eq!(
        s.decide(Decision::AcceptWith(reply("550 no"))),
        Err(UsageError::ReplyClass(550))
    );
    assert_eq!(
        drain(&mut s),
        "451 4.3.0 Local error in processing, try again later\r\n"
    );
    assert_eq!(
        s.decide(Decision::Accept),
        Err(UsageError::NoPendingDecision)
    );
    for (bad, error) in [
        (
            Decision::Reject(reply("250 yes")),
            UsageError::ReplyClass(250),
        ),
        (
            Decision::Challenge(b"x".to_vec()),
            UsageError::ChallengeOutsideAuth,
        ),
    ] {
        s.handle_input(b"EHLO c.example\r\n");
        assert!(matches!(s.poll_event(), Some(Event::Hello { .. })));
        assert_eq!(s.decide(bad), Err(error));
        assert!(drain(&mut s).starts_with("451 4.3.0 "));
    }
    s.handle_input(b"EHLO c.example\r\n");
    assert!(matches!(s.poll_event(), Some(Event::Hello { .. })));
    assert_eq!(s.decide(Decision::Accept), Ok(()));
    assert!(drain(&mut s).starts_with("250-"));
}

#[test]
fn a_failed_application_gets_the_fitting_local_error() {
    let mut c = config();
    c.auth_mechanisms = vec!["PLAIN".into()];
    c.allow_insecure_auth = true;
    let mut s = Session::new(Arc::new(c));
    s.poll_transmit();
    // Sends `input`, which must raise an event needing a decision, and answers it with
    // `fail` (or accepts it).
    let step = |s: &mut Session, input: &str, fail: bool| {
        s.handle_input(input.as_bytes());
        let event = s.poll_event().expect("an event");
        assert!(event.needs_decision(), "{event:?}");
        if fail {
            s.fail().unwrap();
            assert_eq!(s.fail(), Err(smtp_proto::UsageError::NoPendingDecision));
        } else {
            s.decide(Decision::Accept).unwrap();
        }
        drain(s)
    };
    assert!(step(&mut s, "EHLO c\r\n", true).starts_with("451 4.3.0 "));
    step(&mut s, "EHLO c\r\n", false);
    assert!(step(&mut s, "AUTH PLAIN AGEAYg==\r\n", true).starts_with("454 4.7.0 "));
    assert!(step(&mut s, "MAIL FROM:<a@b.example>\r\n", true).starts_with("451 4.3.0 "));
    step(&mut s, "MAIL FROM:<a@b.example>\r\n", false);
    assert!(step(&mut s, "RCPT TO:<x@y.example>\r\n", true).starts_with("451 4.3.0 "));
    step(&mut s, "RCPT TO:<x@y.example>\r\n", false);
    s.handle_input(b"DATA\r\n");
    assert_eq!(s.poll_event(), Some(Event::DataStart));
    drain(&mut s);
    s.handle_input(b"body\r\n.\r\n");
    assert!(matches!(s.poll_event(), Some(Event::DataChunk(_))));
    let out = step(&mut s, "", true);
    assert!(
        out.ends_with("554 5.3.0 Transaction failed: local error\r\n"),
        "{out}"
    );
    assert!(!s.in_transaction(), "the transaction is over");
}

#[test]
fn enhanced_codes_can_be_turned_off() {
    let mut c = config();
    c.extensions.enhanced_status_codes = false;
    let mut h = Harness::greeted(c);
    assert!(!h
        .exchange("EHLO c.example\r\n")
        .contains("ENHANCEDSTATUSCODES"));
    assert_eq!(
        h.exchange("MAIL FROM:<a@b.example>\r\n"),
        "250 Sender OK\r\n"
    );
    assert_eq!(
        h.exchange("FOO\r\n"),
        "500 Syntax error, command unrecognized\r\n"
    );
}

#[test]
fn refused_connection_waits_for_quit() {
    let s = Session::refuse(Arc::new(config()), reply("554 5.7.1 No service for you"));
    let mut h = Harness::from_session(s);
    assert_eq!(h.replies(), "554 5.7.1 No service for you\r\n");
    assert_eq!(
        h.exchange("EHLO c.example\r\n"),
        "503 5.5.1 Service refused, send QUIT\r\n"
    );
    assert_eq!(h.exchange("QUIT\r\n"), "221 2.0.0 Bye\r\n");
    assert!(h.session.is_closed());
    let mut h = Harness::from_session(Session::refuse(
        Arc::new(config()),
        reply("421 4.3.2 Too many connections"),
    ));
    assert_eq!(h.replies(), "421 4.3.2 Too many connections\r\n");
    assert!(h.session.is_closed());
}

#[test]
fn http_requests_are_refused() {
    let mut h = Harness::greeted(config());
    assert_eq!(
        h.exchange("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        "421 4.7.0 mx.example.com This is an SMTP server, not HTTP\r\n"
    );
    assert!(h.session.is_closed());
    assert_eq!(
        h.events.last(),
        Some(&Event::Closed(CloseReason::ProtocolViolation))
    );
}

#[test]
fn timeouts_follow_the_state() {
    let mut c = config();
    c.timeouts.command = std::time::Duration::from_secs(7);
    c.timeouts.data_block = std::time::Duration::from_secs(9);
    let mut h = Harness::greeted(c);
    let t = h.session.poll_timeout().unwrap();
    assert_eq!((t.kind, t.after.as_secs()), (TimeoutKind::Command, 7));
    h.exchange("EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nDATA\r\n");
    let t = h.session.poll_timeout().unwrap();
    assert_eq!((t.kind, t.after.as_secs()), (TimeoutKind::DataBlock, 9));
    h.send(b"partial body");
    // A stale kind is ignored.
    h.session.handle_timeout(TimeoutKind::Command);
    h.drive();
    assert!(!h.session.is_closed());
    h.session.handle_timeout(TimeoutKind::DataBlock);
    h.drive();
    assert_eq!(
        h.replies(),
        "421 4.4.2 mx.example.com Timeout exceeded, closing connection\r\n"
    );
    assert!(h.session.is_closed());
    assert_eq!(h.session.poll_timeout(), None);
    let tail = &h.events[h.events.len() - 3..];
    assert_eq!(
        tail,
        [
            Event::DataAborted {
                reason: AbortReason::Timeout
            },
            Event::Reset,
            Event::Closed(CloseReason::Timeout(TimeoutKind::DataBlock))
        ]
    );
}

#[test]
fn eof_mid_message_aborts_it() {
    let mut h = Harness::greeted(config());
    h.exchange("EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nDATA\r\n");
    h.send(b"half a mess");
    h.session.handle_eof();
    h.drive();
    assert!(h.session.is_closed());
    let tail = &h.events[h.events.len() - 3..];
    assert_eq!(
        tail,
        [
            Event::DataAborted {
                reason: AbortReason::ConnectionClosed
            },
            Event::Reset,
            Event::Closed(CloseReason::Eof)
        ]
    );
    assert_eq!(h.replies(), "");
}

#[test]
fn greeting_delay_and_early_talkers() {
    let mut c = config();
    c.timeouts.greeting_delay = std::time::Duration::from_secs(2);
    let c = Arc::new(c);
    // An honest client waits: the greeting comes when the delay runs out.
    let mut h = Harness::from_session(Session::new(Arc::clone(&c)));
    assert_eq!(h.replies(), "");
    let t = h.session.poll_timeout().unwrap();
    assert_eq!((t.kind, t.after.as_secs()), (TimeoutKind::GreetingDelay, 2));
    assert!(h.session.wants_read(), "reads to catch early talkers");
    h.session.handle_timeout(TimeoutKind::GreetingDelay);
    h.drive();
    assert_eq!(h.replies(), "220 mx.example.com ESMTP ready\r\n");
    assert_eq!(h.exchange("NOOP\r\n"), "250 2.0.0 OK\r\n");
    // An early talker is refused and closed.
    let mut h = Harness::from_session(Session::new(Arc::clone(&c)));
    assert_eq!(
        h.exchange("EHLO spam.example\r\n"),
        "554 5.5.1 Protocol error: the client spoke before the greeting\r\n"
    );
    assert!(h.session.is_closed());
    assert_eq!(h.count(|e| matches!(e, Event::Hello { .. })), 0);
    // Allowed early talkers are served after the greeting.
    let mut c2 = (*c).clone();
    c2.early_talkers = smtp_proto::EarlyTalkers::Allow;
    let mut h = Harness::new(c2);
    h.send(b"NOOP\r\n");
    assert_eq!(h.replies(), "");
    h.session.handle_timeout(TimeoutKind::GreetingDelay);
    h.drive();
    assert_eq!(
        h.replies(),
        "220 mx.example.com ESMTP ready\r\n250 2.0.0 OK\r\n"
    );
}

#[test]
fn hostname_cannot_inject_reply_lines() {
    let mut c = config();
    c.hostname = "evil\r\n250 injected".to_string().into();
    let h = Harness::new(c).replies();
    assert_eq!(h, "220 evil250injected ESMTP ready\r\n");
}

#[test]
fn tls_policy_disabled_refuses_starttls() {
    let mut h = Harness::greeted(config());
    assert!(!h.exchange("EHLO c.example\r\n").contains("STARTTLS"));
    assert_eq!(
        h.exchange("STARTTLS\r\n"),
        "502 5.5.1 Command not implemented\r\n"
    );
    let _ = TlsPolicy::Optional;
}

//! AUTH (RFC 4954) and LMTP (RFC 2033) as modes of the same session.

mod support;

use smtp_proto::{
    CloseReason, Credentials, Decision, Event, Protocol, Secret, Session, TlsPolicy, UsageError,
};
use std::sync::Arc;
use support::{config, reply, Harness};

fn auth_config() -> smtp_proto::Config {
    let mut c = config();
    c.tls = TlsPolicy::Optional;
    c.auth_mechanisms = vec!["PLAIN".into(), "LOGIN".into(), "XOAUTH2".into()];
    c
}

/// Accepts alice/secret, rejects everything else with 535 5.7.8.
fn login_policy(e: &Event) -> Decision {
    match e {
        Event::Auth { credentials, .. } => {
            let ok = match credentials {
                Credentials::Plain {
                    username, password, ..
                }
                | Credentials::Login { username, password } => {
                    username == "alice" && password.expose() == b"secret"
                }
                _ => false,
            };
            if ok {
                Decision::Accept
            } else {
                Decision::Reject(reply("535 5.7.8 Authentication credentials invalid"))
            }
        }
        _ => Decision::Accept,
    }
}

/// A session that is under TLS, greeted and EHLO'd.
fn tls_session(c: smtp_proto::Config) -> Harness {
    let mut h = Harness::from_session(Session::new_implicit_tls(Arc::new(c)));
    h.policy = Box::new(login_policy);
    h.replies();
    h.exchange("EHLO c.example\r\n");
    h
}

#[test]
fn auth_is_offered_only_under_tls_unless_allowed() {
    let mut h = Harness::greeted(auth_config());
    let ehlo = h.exchange("EHLO c.example\r\n");
    assert!(!ehlo.contains("AUTH"), "{ehlo}");
    assert_eq!(
        h.exchange("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"),
        "538 5.7.11 Encryption required for requested authentication mechanism\r\n"
    );
    let mut c = auth_config();
    c.allow_insecure_auth = true;
    let mut h = Harness::greeted(c);
    assert!(h
        .exchange("EHLO c.example\r\n")
        .contains("AUTH PLAIN LOGIN XOAUTH2\r\n"));
    let h = tls_session(auth_config());
    assert!(h.session.tls_active());
}

#[test]
fn plain_with_initial_response() {
    let mut h = tls_session(auth_config());
    // base64("\0alice\0secret")
    assert_eq!(
        h.exchange("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"),
        "235 2.7.0 Authentication successful\r\n"
    );
    assert!(h.session.authenticated());
    assert!(matches!(
        h.events.last(),
        Some(Event::Auth { mechanism, credentials: Credentials::Plain { username, .. } })
            if mechanism == "PLAIN" && username == "alice"
    ));
    // Once per session (RFC 4954 section 4).
    assert_eq!(
        h.exchange("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"),
        "503 5.5.1 Already authenticated\r\n"
    );
}

#[test]
fn plain_with_a_challenge_and_bad_credentials() {
    let mut h = tls_session(auth_config());
    assert_eq!(h.exchange("AUTH PLAIN\r\n"), "334 \r\n");
    assert!(
        h.session.expects_secret(),
        "the next line carries a password"
    );
    // base64("\0alice\0wrong")
    assert_eq!(
        h.exchange("AGFsaWNlAHdyb25n\r\n"),
        "535 5.7.8 Authentication credentials invalid\r\n"
    );
    assert!(!h.session.authenticated());
    assert!(!h.session.expects_secret());
}

#[test]
fn login_exchange() {
    let mut h = tls_session(auth_config());
    assert_eq!(h.exchange("AUTH LOGIN\r\n"), "334 VXNlcm5hbWU6\r\n");
    assert_eq!(h.exchange("YWxpY2U=\r\n"), "334 UGFzc3dvcmQ6\r\n");
    assert_eq!(
        h.exchange("c2VjcmV0\r\n"),
        "235 2.7.0 Authentication successful\r\n"
    );
    // With the user name as initial response.
    let mut h = tls_session(auth_config());
    assert_eq!(
        h.exchange("auth login YWxpY2U=\r\n"),
        "334 UGFzc3dvcmQ6\r\n"
    );
    assert_eq!(
        h.exchange("c2VjcmV0\r\n"),
        "235 2.7.0 Authentication successful\r\n"
    );
}

#[test]
fn cancel_bad_base64_and_bad_mechanisms() {
    let mut h = tls_session(auth_config());
    assert_eq!(h.exchange("AUTH LOGIN\r\n"), "334 VXNlcm5hbWU6\r\n");
    assert_eq!(
        h.exchange("*\r\n"),
        "501 5.0.0 Authentication cancelled\r\n"
    );
    assert_eq!(
        h.exchange("AUTH PLAIN not-base64!\r\n"),
        "501 5.5.2 Invalid base64 data\r\n"
    );
    assert_eq!(h.exchange("AUTH PLAIN\r\n"), "334 \r\n");
    assert_eq!(h.exchange("%%%\r\n"), "501 5.5.2 Invalid base64 data\r\n");
    // A PLAIN message without the NULs.
    assert_eq!(
        h.exchange("AUTH PLAIN YWxpY2U=\r\n"),
        "501 5.5.2 Malformed SASL message\r\n"
    );
    assert_eq!(
        h.exchange("AUTH CRAM-MD5\r\n"),
        "504 5.5.4 Unrecognized authentication type\r\n"
    );
    assert_eq!(
        h.exchange("AUTH\r\n"),
        "501 5.5.4 Syntax error in parameters or arguments\r\n"
    );
    // Not in a transaction.
    h.exchange("MAIL FROM:<a@b.example>\r\n");
    assert_eq!(
        h.exchange("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"),
        "503 5.5.1 AUTH not permitted during a mail transaction\r\n"
    );
}

#[test]
fn an_overlong_sasl_line_is_refused() {
    let mut c = auth_config();
    c.max_auth_line_length = 100;
    let mut h = tls_session(c);
    h.exchange("AUTH PLAIN\r\n");
    let long = format!("{}\r\n", "A".repeat(100));
    assert_eq!(
        h.exchange(&long),
        "500 5.5.6 Authentication exchange line is too long\r\n"
    );
    assert_eq!(h.exchange("NOOP\r\n"), "250 2.0.0 OK\r\n");
}

#[test]
fn failed_logins_count_toward_the_error_limit() {
    let mut c = auth_config();
    c.max_errors = 3;
    let mut h = tls_session(c);
    let bad = "AUTH PLAIN AGFsaWNlAHdyb25n\r\n";
    assert_eq!(
        h.exchange(bad),
        "535 5.7.8 Authentication credentials invalid\r\n"
    );
    assert_eq!(
        h.exchange(bad),
        "535 5.7.8 Authentication credentials invalid\r\n"
    );
    assert_eq!(
        h.exchange(bad),
        "421 4.7.0 mx.example.com Too many errors, closing connection\r\n"
    );
    assert_eq!(
        h.events.last(),
        Some(&Event::Closed(CloseReason::TooManyErrors))
    );
}

#[test]
fn custom_mechanism_with_challenges() {
    let mut h = tls_session(auth_config());
    h.policy = Box::new(|e| match e {
        Event::Auth {
            credentials: Credentials::Other { initial_response },
            ..
        } => {
            assert_eq!(
                initial_response.as_ref().map(Secret::expose),
                Some(&b"token"[..])
            );
            Decision::Challenge(b"more please".to_vec())
        }
        Event::AuthResponse { response } if response.expose() == b"ok" => Decision::Accept,
        _ => Decision::Reject(reply("535 5.7.8 No")),
    });
    assert_eq!(
        h.exchange("AUTH xoauth2 dG9rZW4=\r\n"),
        "334 bW9yZSBwbGVhc2U=\r\n"
    );
    assert_eq!(
        h.exchange("b2s=\r\n"),
        "235 2.7.0 Authentication successful\r\n"
    );
    // The mechanism name is reported as configured.
    assert!(h
        .events
        .iter()
        .any(|e| matches!(e, Event::Auth { mechanism, .. } if mechanism == "XOAUTH2")));
}

#[test]
fn challenge_is_only_for_auth() {
    let mut s = Session::new(Arc::new(config()));
    while s.poll_transmit().is_some() {}
    s.handle_input(b"EHLO c.example\r\n");
    assert!(matches!(s.poll_event(), Some(Event::Hello { .. })));
    assert_eq!(
        s.decide(Decision::Challenge(vec![])),
        Err(UsageError::ChallengeOutsideAuth)
    );
}

#[test]
fn require_auth_before_mail() {
    let mut c = auth_config();
    c.require_auth = true;
    let mut h = tls_session(c);
    assert_eq!(
        h.exchange("MAIL FROM:<a@b.example>\r\n"),
        "530 5.7.0 Authentication required\r\n"
    );
    h.exchange("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n");
    assert_eq!(
        h.exchange("MAIL FROM:<a@b.example> AUTH=<>\r\n"),
        "250 2.1.0 Sender OK\r\n"
    );
}

#[test]
fn secrets_never_reach_debug_output() {
    let mut h = tls_session(auth_config());
    h.exchange("AUTH LOGIN YWxpY2U=\r\n");
    h.exchange("aHVudGVyMg==\r\n"); // hunter2
    let shown = format!("{:?}", h.events);
    assert!(!shown.contains("hunter2"), "{shown}");
}

fn lmtp_config() -> smtp_proto::Config {
    let mut c = config();
    c.protocol = Protocol::Lmtp;
    c
}

#[test]
fn lmtp_rfc_2033_example() {
    // RFC 2033 section 4.2's example: three recipients, one refused at RCPT, and a reply per
    // accepted recipient after the data.
    let mut h = Harness::new(lmtp_config());
    assert_eq!(h.replies(), "220 mx.example.com LMTP ready\r\n");
    assert_eq!(
        h.exchange("EHLO foo.edu\r\n"),
        "500 5.5.2 Syntax error, command unrecognized\r\n"
    );
    let lhlo = h.exchange("LHLO foo.edu\r\n");
    assert!(
        lhlo.starts_with("250-mx.example.com Hello\r\n250-PIPELINING"),
        "{lhlo}"
    );
    h.policy = Box::new(|e| match e {
        Event::RcptTo { to, .. } if to.to_string().contains("reject") => {
            Decision::Reject(reply("550 5.1.1 No such user"))
        }
        _ => Decision::Accept,
    });
    h.exchange("MAIL FROM:<chris@bar.com>\r\nRCPT TO:<pat@foo.edu>\r\n");
    h.exchange("RCPT TO:<reject@foo.edu>\r\nRCPT TO:<green@foo.edu>\r\nDATA\r\n");
    // The application answers per recipient: pat delivered, green over quota.
    let mut answers = vec![
        Decision::Accept,
        Decision::Reject(reply("452 4.2.2 Mailbox full")),
    ]
    .into_iter();
    h.policy = Box::new(move |_| answers.next().expect("one decision per recipient"));
    h.session.handle_input(b"Blah blah blah...\r\n.\r\n");
    // Drive by hand to check the countdown.
    let mut seen_end = false;
    while let Some(e) = h.session.poll_event() {
        if let Event::DataEnd { .. } = e {
            seen_end = true;
            assert_eq!(h.session.recipients(), 2);
            assert_eq!(h.session.pending_decisions(), 2);
            h.session.decide(Decision::Accept).unwrap();
            assert_eq!(h.session.pending_decisions(), 1);
            assert!(
                h.session.poll_event().is_none(),
                "still waiting for the second reply"
            );
            h.session
                .decide(Decision::Reject(reply("452 4.2.2 Mailbox full")))
                .unwrap();
            assert_eq!(h.session.pending_decisions(), 0);
        }
    }
    assert!(seen_end);
    h.drive();
    assert_eq!(
        h.replies(),
        "250 2.0.0 Message accepted\r\n452 4.2.2 Mailbox full\r\n"
    );
    // The transaction is over.
    assert_eq!(
        h.exchange("RCPT TO:<x@foo.edu>\r\n"),
        "503 5.5.1 Need MAIL command first\r\n"
    );
}

#[test]
fn lmtp_with_bdat() {
    let mut h = Harness::greeted(lmtp_config());
    h.exchange("LHLO foo.edu\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nRCPT TO:<z@y.example>\r\n");
    assert_eq!(
        h.exchange("BDAT 3 LAST\r\nabc"),
        "250 2.0.0 Message accepted\r\n250 2.0.0 Message accepted\r\n"
    );
    assert_eq!(h.body(), b"abc");
}

#[test]
fn lhlo_is_not_smtp() {
    let mut h = Harness::greeted(config());
    assert_eq!(
        h.exchange("LHLO foo.edu\r\n"),
        "500 5.5.2 Syntax error, command unrecognized\r\n"
    );
}

/// An LMTP session with three accepted recipients, stopped at the end of data (the test
/// answers it), plus the replies so far.
fn lmtp_at_data_end() -> Harness {
    let mut h = Harness::greeted(lmtp_config());
    h.exchange("LHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\n");
    h.exchange("RCPT TO:<y@y.example>\r\nRCPT TO:<z@y.example>\r\nDATA\r\n");
    h.session.handle_input(b"body\r\n.\r\n");
    loop {
        match h.session.poll_event() {
            Some(Event::DataEnd { .. }) => break,
            Some(_) => {}
            None => panic!("no end of data"),
        }
    }
    assert_eq!(h.session.pending_decisions(), 3);
    h
}

#[test]
fn lmtp_decide_each_all_and_fail() {
    use smtp_proto::UsageError;
    // One decision for all.
    let mut h = lmtp_at_data_end();
    h.session.decide_all(Decision::Accept).unwrap();
    h.drive();
    assert_eq!(Harness::codes(&h.replies()), [250, 250, 250]);
    // One each, in RCPT order.
    let mut h = lmtp_at_data_end();
    let full = Decision::Reject(reply("452 4.2.2 Mailbox full"));
    let each = [Decision::Accept, full.clone(), Decision::Accept];
    h.session.decide_each(each).unwrap();
    h.drive();
    assert_eq!(Harness::codes(&h.replies()), [250, 452, 250]);
    // A list of one answers all.
    let mut h = lmtp_at_data_end();
    h.session.decide_each([full]).unwrap();
    h.drive();
    assert_eq!(Harness::codes(&h.replies()), [452, 452, 452]);
    // A list of the wrong length is the application's error: every recipient gets 554.
    let mut h = lmtp_at_data_end();
    assert_eq!(
        h.session.decide_each([Decision::Accept, Decision::Accept]),
        Err(UsageError::DecisionCount {
            given: 2,
            expected: 3
        })
    );
    h.drive();
    assert_eq!(Harness::codes(&h.replies()), [554, 554, 554]);
    // The application failed: one 554 5.3.0 per recipient.
    let mut h = lmtp_at_data_end();
    h.session.fail().unwrap();
    h.drive();
    let replies = h.replies();
    assert_eq!(
        replies
            .matches("554 5.3.0 Transaction failed: local error\r\n")
            .count(),
        3
    );
    assert!(!h.session.in_transaction());
    assert_eq!(
        h.exchange("RCPT TO:<x@y.example>\r\n"),
        "503 5.5.1 Need MAIL command first\r\n"
    );
}

#[test]
fn lmtp_421_for_one_recipient_closes_without_more_replies() {
    let mut h = lmtp_at_data_end();
    h.session.decide(Decision::Accept).unwrap();
    h.session
        .decide(Decision::Reject(reply("421 4.3.0 Going down")))
        .unwrap();
    assert_eq!(
        h.session.pending_decisions(),
        0,
        "nothing is owed after 421"
    );
    assert_eq!(
        h.session.decide(Decision::Accept),
        Err(smtp_proto::UsageError::NoPendingDecision)
    );
    h.drive();
    assert_eq!(
        h.replies(),
        "250 2.0.0 Message accepted\r\n421 4.3.0 Going down\r\n"
    );
    assert!(h.session.is_closed());
    // The message was answered: no DataAborted, and no Reset for a decided transaction.
    assert_eq!(h.count(|e| matches!(e, Event::DataAborted { .. })), 0);
    assert_eq!(h.count(|e| *e == Event::Reset), 0);
}

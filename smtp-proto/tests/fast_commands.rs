//! The session takes the commonest command lines (a four-letter verb alone, and MAIL and RCPT
//! with a plain path and common parameters, ended by CRLF) by a fast path that skips the line
//! search. Commands ended by a bare LF never take it, so the same commands with LF endings
//! must give exactly the same events and replies: this compares the two on generated command
//! mixes, valid and not, under several configurations and read sizes.

use proptest::prelude::*;
use smtp_proto::{Config, Decision, Event, Protocol, Session, TlsPolicy};
use std::sync::Arc;

/// Runs `input` through a session in reads of `read` octets; returns every event and all
/// reply octets.
fn run(config: &Arc<Config>, input: &[u8], read: usize) -> (Vec<Event>, Vec<u8>) {
    let mut session = Session::new(Arc::clone(config));
    let (mut events, mut out) = (Vec::new(), Vec::new());
    let mut reads = input.chunks(read.max(1));
    for _ in 0..100_000 {
        while let Some(event) = session.poll_event() {
            if event.needs_decision() {
                let reject =
                    matches!(&event, Event::RcptTo { to, .. } if to.to_string().contains("rej"));
                let decision = if reject {
                    Decision::Reject("550 5.1.1 No such user".parse().unwrap())
                } else {
                    Decision::Accept
                };
                while session.pending_decisions() > 0 {
                    session.decide(decision.clone()).unwrap();
                }
            }
            let starttls = matches!(event, Event::StartTls { .. });
            // What STARTTLS discards depends on where the reads end, which differ between
            // CRLF and LF endings.
            // So do the cuts between body chunks: adjacent chunks are joined.
            match (event, events.last_mut()) {
                (Event::StartTls { .. }, _) => events.push(Event::StartTls { discarded: 0 }),
                (Event::DataChunk(more), Some(Event::DataChunk(body))) => {
                    *body = [&body[..], &more[..]].concat().into();
                }
                (e, _) => events.push(e),
            }
            if starttls {
                while let Some(bytes) = session.poll_transmit() {
                    out.extend_from_slice(&bytes);
                }
                session.handle_tls_established().unwrap();
            }
        }
        while let Some(bytes) = session.poll_transmit() {
            out.extend_from_slice(&bytes);
        }
        if session.is_closed() {
            return (events, out);
        }
        if !session.wants_read() {
            continue;
        }
        match reads.next() {
            Some(r) => session.handle_input(r),
            None => session.handle_eof(),
        }
    }
    panic!("the session did not finish");
}

/// A command line without its line end.
fn command() -> impl Strategy<Value = String> {
    let local = prop_oneof![
        Just("a".to_string()),
        "[a-z]{1,10}(\\.[a-z0-9]{1,6}){0,2}",
        "[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]{1,12}",
        "[a-z.]{0,8}",
        Just("\"q x\"".to_string()),
        Just("rej".to_string()),
        Just("é".to_string()),
        "[a-z]{60,70}",
    ];
    let domain = prop_oneof![
        "[a-z]{1,8}(\\.[a-z0-9-]{1,8}){0,3}",
        Just("[192.0.2.1]".to_string()),
        Just("bücher.example".to_string()),
        "[a-z-]{0,6}\\.[a-z]{0,3}",
        "[a-z]{62,66}\\.x",
    ];
    let path = prop_oneof![
        8 => (local, domain).prop_map(|(l, d)| format!("<{l}@{d}>")),
        1 => Just("<>".to_string()),
        1 => Just("<postmaster>".to_string()),
        1 => Just("<@r.example:a@b.example>".to_string()),
        1 => "<[a-z@.]{0,10}>?",
    ];
    let param = prop_oneof![
        "SIZE=[0-9]{1,21}",
        Just("SIZE=".to_string()),
        Just("BODY=8BITMIME".to_string()),
        Just("body=7bit".to_string()),
        Just("BODY=BINARYMIME".to_string()),
        Just("SMTPUTF8".to_string()),
        Just("RET=HDRS".to_string()),
        Just("REQUIRETLS".to_string()),
        Just("ENVID=x+2B".to_string()),
        Just("AUTH=<>".to_string()),
        "NOTIFY=(SUCCESS|FAILURE|DELAY|NEVER)(,(SUCCESS|FAILURE|DELAY|NEVER)){0,2}",
        Just("ORCPT=rfc822;a@b".to_string()),
        "[A-Z]{1,6}(=[a-z]{0,3})?",
    ];
    let params = proptest::collection::vec(param, 0..3)
        .prop_map(|v| v.iter().map(|p| format!(" {p}")).collect::<String>());
    let spaces = prop_oneof![4 => Just(""), 1 => Just(" "), 1 => Just("  ")];
    let verb = prop_oneof![
        Just("MAIL FROM:"),
        Just("mail from:"),
        Just("RCPT TO:"),
        Just("Rcpt To:"),
        Just("MAIL FROM"),
        Just("RCPT TO"),
    ];
    prop_oneof![
        8 => (verb, spaces.clone(), path, params, spaces).prop_map(|(v, s, p, q, t)| format!("{v}{s}{p}{q}{t}")),
        2 => prop_oneof![
            Just("NOOP"), Just("noop"), Just("RSET"), Just("QUIT"), Just("HELP"), Just("VRFY"),
            Just("EXPN"), Just("HELO"), Just("EHLO"), Just("MAIL"), Just("RCPT"),
            Just("AUTH"), Just("BDAT"), Just("XXXX"), Just("STARTTLS"), Just("RSET x"), Just(""),
        ].prop_map(str::to_string),
        1 => Just("EHLO client.example".to_string()),
        1 => Just("HELO client.example".to_string()),
        // (Once DATA is accepted, the lines that follow are message data, which must not
        // change: a DATA comes with its body.)
        1 => Just("DATA\r\nbody\r\n.".to_string()),
        1 => "[ -~]{0,20}",
    ]
}

fn config(kind: u8) -> Config {
    let mut c = Config::new("mx.example");
    match kind {
        0 => {}
        1 => c.tls = TlsPolicy::Required,
        2 => c.require_auth = true,
        3 => c.protocol = Protocol::Lmtp,
        4 => c.max_line_length = 40,
        5 => {
            c.extensions.dsn = false;
            c.max_recipients = 2;
            c.max_message_size = 1000;
        }
        6 => {
            c.extensions.eight_bit_mime = false;
            c.extensions.smtputf8 = false;
            c.extensions.chunking = false;
            c.extensions.enhanced_status_codes = false;
        }
        _ => c.max_errors = 1000,
    }
    c
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn crlf_and_lf_command_lines_agree(
        commands in proptest::collection::vec(command(), 1..12),
        kind in 0u8..8,
        hello in any::<bool>(),
        read in prop_oneof![Just(usize::MAX), Just(1usize), 2usize..40],
    ) {
        let config = Arc::new(config(kind));
        let mut lines = Vec::new();
        if hello {
            lines.push(if kind == 3 { "LHLO c.example".to_string() } else { "EHLO c.example".to_string() });
        }
        lines.extend(commands);
        // What follows STARTTLS in the same read is discarded, and the reads end at different
        // places with CRLF and with LF endings: nothing after it.
        if let Some(i) = lines.iter().position(|l| l.eq_ignore_ascii_case("STARTTLS")) {
            lines.truncate(i + 1);
        }
        // A CR counts toward the line length: a line one octet under the limit with a bare LF
        // is over it with CRLF.
        let max = config.max_line_length;
        prop_assume!(lines.iter().all(|l| l.len() + 2 != max + 1));
        // Message data keeps its CRLF in both (only command lines change).
        let crlf: String = lines.iter().map(|l| format!("{l}\r\n")).collect();
        let lf: String = lines
            .iter()
            .map(|l| match l.split_once("\r\n") {
                Some((verb, body)) => format!("{verb}\n{body}\r\n"),
                None => format!("{l}\n"),
            })
            .collect();
        let fast = run(&config, crlf.as_bytes(), read);
        let slow = run(&config, lf.as_bytes(), read);
        prop_assert_eq!(&fast.0, &slow.0, "{:?}", crlf);
        prop_assert_eq!(
            String::from_utf8_lossy(&fast.1),
            String::from_utf8_lossy(&slow.1),
            "{:?}",
            crlf
        );
    }
}

#[test]
fn the_benchmark_mix_agrees() {
    let config = Arc::new(config(0));
    let one = "EHLO c\r\nMAIL FROM:<sender.name@example.com> SIZE=12345 BODY=8BITMIME\r\n\
RCPT TO:<first.recipient@example.org>\r\nRCPT TO:<second@example.net> NOTIFY=SUCCESS,FAILURE\r\n\
RCPT TO:<user+tag@sub.example.co.uk>\r\nNOOP\r\nRSET\r\n";
    let fast = run(&config, one.as_bytes(), usize::MAX);
    let slow = run(&config, one.replace("\r\n", "\n").as_bytes(), usize::MAX);
    assert_eq!(fast, slow);
    assert_eq!(fast.0.len(), 7, "{:?}", fast.0); // Hello, MailFrom, 3 RcptTo, Reset, Closed
}

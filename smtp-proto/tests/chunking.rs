//! Properties: however the input is split into reads, the session produces the same events
//! and the same reply bytes as when it gets the input whole.

mod support;

use proptest::prelude::*;
use smtp_proto::{Config, Event};
use support::{config, merge_chunks, Harness};

const SESSION: &[u8] = b"EHLO client.example\r\n\
MAIL FROM:<a@client.example> SIZE=100 BODY=8BITMIME\r\nRCPT TO:<b@mx.example.com>\r\n\
RCPT TO:<reject@mx.example.com>\r\nRCPT TO:<\"quoted local\"@[IPv6:2001:db8::1]>\r\nDATA\r\n\
Subject: test\r\n\r\n..dot stuffed\r\n.\r\nline\r\n\r\n.\r\n\
MAIL FROM:<>\r\nRCPT TO:<postmaster>\r\nBDAT 7\r\nchunk\r\nBDAT 3 LAST\r\nend\
NOOP\r\nFOO\r\nRSET\r\nVRFY x\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n\
x\r\n.\r\nQUIT\r\n";

const WORDS: &[&[u8]] = &[
    b"EHLO x\r\n",
    b"MAIL FROM:<a@b>\r\n",
    b"RCPT TO:<c@d>\r\n",
    b"DATA\r\n",
    b".\r\n",
    b"\r\n",
    b"\n",
    b"\r",
    b".",
    b"BDAT 3\r\n",
    b"BDAT 1 LAST\r\n",
    b"RSET\r\n",
    b"NOOP\r\n",
    b"xyz",
    b"STARTTLS\r\n",
    b"\x00",
    b"QUIT\r\n",
];

fn run(config: Config, input: &[u8], cuts: &[usize]) -> (Vec<u8>, Vec<Event>) {
    let mut h = Harness::new(config);
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
        let cut = cut.clamp(start, input.len());
        h.send(&input[start..cut]);
        start = cut;
    }
    let out = h.transmits.iter().flat_map(|b| b.iter().copied()).collect();
    (out, merge_chunks(&h.events))
}

fn cuts(len: usize) -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(0..=len, 0..40).prop_map(|mut v| {
        v.sort_unstable();
        v
    })
}

#[test]
fn reference_run_is_what_we_expect() {
    let (out, events) = run(config(), SESSION, &[]);
    let out = String::from_utf8(out).unwrap();
    assert!(out.ends_with("221 2.0.0 Bye\r\n"), "{out}");
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::DataEnd { .. }))
            .count(),
        3
    );
    assert!(events.contains(&Event::DataChunk(bytes::Bytes::from_static(
        b"Subject: test\r\n\r\n.dot stuffed\r\n"
    ))));
    assert!(events.contains(&Event::DataChunk(bytes::Bytes::from_static(
        b"chunk\r\nend"
    ))));
}

#[test]
fn byte_by_byte_equals_whole() {
    let cuts: Vec<usize> = (0..SESSION.len()).collect();
    assert_eq!(run(config(), SESSION, &cuts), run(config(), SESSION, &[]));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_split_gives_the_same_session(cuts in cuts(SESSION.len())) {
        prop_assert_eq!(run(config(), SESSION, &cuts), run(config(), SESSION, &[]));
    }

    #[test]
    fn any_split_of_any_smtp_ish_input_gives_the_same_session(
        words in proptest::collection::vec(proptest::sample::select(WORDS), 0..60),
        cuts in cuts(600),
    ) {
        let input: Vec<u8> = words.concat();
        let mut c = config();
        c.max_errors = 1000;
        prop_assert_eq!(run(c.clone(), &input, &cuts), run(c, &input, &[]));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every accepted MAIL ends with exactly one decided `DataEnd` or one `Reset`, whatever
    /// the client sends and however the connection ends: an application that keeps an
    /// envelope until one of them never leaks it, and never sees a `Reset` without one.
    #[test]
    fn every_accepted_mail_ends_once(
        words in proptest::collection::vec(proptest::sample::select(WORDS), 0..60),
        end in 0..3u8,
    ) {
        let mut c = config();
        c.max_errors = 1000;
        let mut h = Harness::new(c);
        h.send(&words.concat());
        match end {
            0 => h.session.handle_eof(),
            1 => h.session.shutdown(smtp_proto::Reply::SHUTTING_DOWN),
            _ => {
                if let Some(timer) = h.session.poll_timeout() {
                    h.session.handle_timeout(timer.kind);
                }
            }
        }
        h.drive();
        let mut open = false;
        for event in &h.events {
            match event {
                Event::MailFrom { .. } => {
                    prop_assert!(!open, "MAIL inside a transaction: {:?}", h.events);
                    open = true;
                }
                Event::DataEnd { .. } | Event::Reset => {
                    prop_assert!(open, "{:?} outside a transaction: {:?}", event, h.events);
                    open = false;
                }
                _ => {}
            }
        }
        prop_assert!(h.session.is_closed());
        prop_assert!(!open, "a transaction never ended: {:?}", h.events);
    }
}

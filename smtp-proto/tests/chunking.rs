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

/// As `run`, but each piece is read into one `BytesMut` of `capacity` octets, as an adapter
/// does, and handed over with `handle_input_buf` (no copy): the session must not tell the
/// difference, whether the buffer is reused in place or reallocated (a small capacity).
fn run_buf(config: Config, input: &[u8], cuts: &[usize], capacity: usize) -> (Vec<u8>, Vec<Event>) {
    let mut h = Harness::new(config);
    let mut buf = bytes::BytesMut::with_capacity(capacity);
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
        let cut = cut.clamp(start, input.len());
        buf.reserve(capacity);
        buf.extend_from_slice(&input[start..cut]);
        h.send_buf(&mut buf);
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

#[test]
fn byte_by_byte_without_copy_equals_whole() {
    let cuts: Vec<usize> = (0..SESSION.len()).collect();
    for capacity in [1, 64, 4096] {
        assert_eq!(
            run_buf(config(), SESSION, &cuts, capacity),
            run(config(), SESSION, &[])
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_split_gives_the_same_session(cuts in cuts(SESSION.len())) {
        prop_assert_eq!(run(config(), SESSION, &cuts), run(config(), SESSION, &[]));
    }

    #[test]
    fn any_split_without_copy_gives_the_same_session(
        cuts in cuts(SESSION.len()),
        capacity in prop_oneof![1..64usize, Just(16 * 1024)],
    ) {
        prop_assert_eq!(run_buf(config(), SESSION, &cuts, capacity), run(config(), SESSION, &[]));
    }

    #[test]
    fn any_split_of_any_smtp_ish_input_without_copy_gives_the_same_session(
        words in proptest::collection::vec(proptest::sample::select(WORDS), 0..60),
        cuts in cuts(600),
        capacity in prop_oneof![1..64usize, Just(16 * 1024)],
    ) {
        let input: Vec<u8> = words.concat();
        let mut c = config();
        c.max_errors = 1000;
        prop_assert_eq!(run_buf(c.clone(), &input, &cuts, capacity), run(c, &input, &[]));
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

/// `handle_input_buf` keeps the octets where they were read: a message body read in one go
/// comes back as a `DataChunk` that points into the read buffer, and so does a command's value.
#[test]
fn input_buf_hands_out_the_read_buffer_itself() {
    let mut h = Harness::greeted(config());
    let mut buf = bytes::BytesMut::with_capacity(4096);
    buf.extend_from_slice(b"EHLO client.example\r\nMAIL FROM:<a@client.example>\r\n");
    buf.extend_from_slice(b"RCPT TO:<b@mx.example.com>\r\nDATA\r\n");
    let start = buf.as_ptr() as usize;
    let inside = |p: *const u8| (start..start + 4096).contains(&(p as usize));
    h.send_buf(&mut buf);
    buf.reserve(1024);
    buf.extend_from_slice(b"Subject: zero copy\r\n\r\nHello\r\n.\r\nQUIT\r\n");
    assert!(inside(buf.as_ptr()), "the spare capacity is read into");
    h.send_buf(&mut buf);
    let replies = h.replies();
    assert!(replies.ends_with("221 2.0.0 Bye\r\n"), "{replies}");
    let chunks: Vec<_> = h
        .events
        .iter()
        .filter_map(|e| match e {
            Event::DataChunk(b) => Some(b.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(chunks.len(), 1);
    assert_eq!(&chunks[0][..], b"Subject: zero copy\r\n\r\nHello\r\n");
    assert!(inside(chunks[0].as_ptr()), "the body was not copied");
    let from = h
        .events
        .iter()
        .find_map(|e| match e {
            Event::MailFrom { from, .. } => Some(from.to_string()),
            _ => None,
        })
        .unwrap();
    assert_eq!(from, "<a@client.example>");
}

/// Input the session does not take (closing, or a client that talks before the greeting)
/// is dropped from the caller's buffer too, so it is never fed twice.
#[test]
fn input_buf_is_emptied_when_the_input_is_dropped() {
    let mut c = config();
    c.early_talkers = smtp_proto::EarlyTalkers::Reject;
    let mut session = smtp_proto::Session::new(std::sync::Arc::new(c));
    let mut buf = bytes::BytesMut::from(&b"EHLO early\r\n"[..]);
    session.handle_input_buf(&mut buf);
    assert!(buf.is_empty());
    let mut h = Harness::from_session(session);
    assert!(h.replies().starts_with("554 5.5.1"));
    assert!(h.session.is_closed());
    let mut buf = bytes::BytesMut::from(&b"QUIT\r\n"[..]);
    h.session.handle_input_buf(&mut buf);
    assert!(buf.is_empty());
    assert_eq!(h.session.buffered(), 0);
}

/// Once the session has consumed a read, it holds no reference to the caller's buffer, so
/// the caller's next `reserve` reuses the same memory instead of allocating.
#[test]
fn input_buf_is_let_go_once_consumed() {
    let mut h = Harness::greeted(config());
    let mut buf = bytes::BytesMut::with_capacity(1024);
    let start = buf.as_ptr();
    for _ in 0..3 {
        buf.reserve(1024);
        assert_eq!(buf.as_ptr(), start, "the read buffer is reused in place");
        // (NOOP: no event keeps a value that shares the buffer; an event's value would,
        // for as long as the application keeps the event.)
        buf.extend_from_slice(b"NOOP\r\nNOOP\r\n");
        h.send_buf(&mut buf);
        assert!(h.replies().ends_with("250 2.0.0 OK\r\n"));
    }
    // A partial line stays with the session; the buffer is shared until it is consumed.
    buf.extend_from_slice(b"NO");
    h.send_buf(&mut buf);
    assert_eq!(h.session.buffered(), 2);
    buf.reserve(1024);
    let moved = buf.as_ptr();
    assert_ne!(
        moved, start,
        "shared with the held octets: the next read goes elsewhere"
    );
    buf.extend_from_slice(b"OP\r\n");
    h.send_buf(&mut buf);
    assert!(h.replies().ends_with("250 2.0.0 OK\r\n"));
    buf.reserve(1024);
    assert_eq!(
        buf.as_ptr(),
        moved,
        "let go again once the line is consumed"
    );
}

//! Targets for message bodies: the DATA decoder on its own, and DATA and BDAT bodies through a
//! whole session, against a reference model of dot-stuffing.

use crate::driver::{run, DefaultPolicy, Step};
use crate::model;
use arbitrary::{Arbitrary, Unstructured};
use bytes::{Bytes, BytesMut};
use smtp_proto::fuzzing::{has_bare_line_ending, DataDecoder, DataStep};
use smtp_proto::{AbortReason, BareLineEndings, CloseReason, Config, Event, Session};
use std::sync::Arc;

/// The DATA decoder against [`model::unstuff`], fed whole and in pieces.
///
/// Input: one octet `n`, then `n % 16` octets of piece lengths, then the body bytes.
pub fn data_decoder(data: &[u8]) {
    let (cuts, input) = match data.split_first() {
        Some((&n, rest)) => rest.split_at((n as usize % 16).min(rest.len())),
        None => (&[][..], data),
    };
    let expected = model::unstuff(input);
    let whole = decode(input, &[]);
    assert_eq!(
        whole, expected,
        "decoder and reference model differ on {input:?}"
    );
    // Every consumed octet is accounted for: body, removed dots, terminator.
    let consumed = input.len() - expected.rest.len();
    let terminator = if expected.end_at.is_some() { 3 } else { 0 };
    assert_eq!(expected.body.len() + expected.dots + terminator, consumed);
    let cuts: Vec<usize> = cuts.iter().map(|&c| usize::from(c)).collect();
    assert_eq!(decode(input, &cuts), expected, "chunked differs from whole");
    if input.len() <= 256 {
        assert_eq!(
            decode(input, &vec![1; input.len()]),
            expected,
            "byte by byte differs"
        );
    }
}

/// Feeds `input` to a decoder in pieces of the given lengths (the rest as a last piece),
/// calling `decode` until it needs more after each, and checks each call's contract.
fn decode(input: &[u8], cuts: &[usize]) -> model::Unstuffed {
    let mut pieces = Vec::new();
    let mut at = 0;
    for &n in cuts {
        let n = n.min(input.len() - at);
        pieces.push(&input[at..at + n]);
        at += n;
    }
    pieces.push(&input[at..]);

    let mut dec = DataDecoder::new();
    let mut buf = BytesMut::new();
    let mut body = Vec::new();
    let mut bare = false;
    let (mut fed, mut end_at, mut next) = (0, None, 0);
    'outer: while next < pieces.len() {
        buf.extend_from_slice(pieces[next]);
        fed += pieces[next].len();
        next += 1;
        loop {
            let before = buf.len();
            match dec.decode(&mut buf) {
                DataStep::Chunk(c) => {
                    assert!(!c.is_empty(), "empty chunk");
                    // A chunk ends with CR only when the decoder already knows it is bare:
                    // the next octet is another CR (only the last CR of the input is held).
                    if c.ends_with(b"\r") {
                        assert_eq!(
                            buf.first(),
                            Some(&b'\r'),
                            "a chunk ends with a CR that may start a CRLF"
                        );
                    }
                    assert!(
                        before - buf.len() >= c.len(),
                        "chunk longer than what was consumed"
                    );
                    body.extend_from_slice(&c);
                    bare |= has_bare_line_ending(&c);
                }
                DataStep::NeedMore => {
                    assert!(buf.len() <= 2, "held back {:?}", &buf[..]);
                    break;
                }
                DataStep::End => {
                    end_at = Some(fed - buf.len());
                    // Used again after End: End again, buffer untouched.
                    let left = buf.clone();
                    assert_eq!(dec.decode(&mut buf), DataStep::End);
                    assert_eq!(buf, left);
                    break 'outer;
                }
            }
        }
    }
    let mut rest = buf.to_vec();
    for p in &pieces[next..] {
        rest.extend_from_slice(p);
    }
    let consumed = input.len() - rest.len();
    let terminator = if end_at.is_some() { 3 } else { 0 };
    let dots = consumed
        .checked_sub(body.len() + terminator)
        .expect("the decoder delivered more than it consumed");
    model::Unstuffed {
        body,
        end_at,
        bare,
        rest,
        dots,
    }
}

/// The shape of one message of a [`BodyControl`].
#[derive(Arbitrary, Debug)]
struct Shape {
    /// Octets of the body text this message takes (the last message takes the rest).
    len: u16,
    /// BDAT chunks of these sizes (the rest of the body in a last `LAST` chunk) instead of DATA.
    bdat: Option<Vec<u8>>,
}

/// How the bodies are sent; all zeros is one DATA message under the default configuration.
#[derive(Arbitrary, Debug, Default)]
struct BodyControl {
    accept_bare: bool,
    /// 0: no limit; otherwise the limit is this minus one (at least 1).
    max_message_size: u16,
    /// Lengths of the reads the transcript is cut into (the rest is one last read).
    reads: Vec<u16>,
    messages: Vec<Shape>,
}

/// DATA and BDAT bodies through a whole session: every body octet the client sends comes out
/// exactly once, in order, dot-unstuffed (DATA) or as sent (BDAT); a bare CR/LF under the
/// Reject policy, or a size over the limit, cuts the body exactly there and aborts it.
///
/// Input: a little-endian `u16` length, that many octets of [`BodyControl`] (decoded with
/// `arbitrary`), then the body text the messages take their bodies from.
pub fn body_roundtrip(data: &[u8]) {
    let (control, text) = crate::split_control(data);
    let Ok(case) = BodyControl::arbitrary_take_rest(Unstructured::new(control)) else {
        return;
    };
    let mut shapes = case.messages;
    if shapes.is_empty() {
        shapes.push(Shape { len: 0, bdat: None });
    }
    let mut bodies = Vec::new();
    let mut rest = text;
    for (i, shape) in shapes.iter().enumerate() {
        let n = if i + 1 == shapes.len() {
            rest.len()
        } else {
            usize::from(shape.len).min(rest.len())
        };
        let (body, tail) = rest.split_at(n);
        bodies.push(body);
        rest = tail;
    }
    let mut config = Config::new("mx.example.com");
    config.max_errors = usize::MAX;
    config.max_pending_output = usize::MAX;
    config.bare_line_endings = if case.accept_bare {
        BareLineEndings::Accept
    } else {
        BareLineEndings::Reject
    };
    config.max_message_size = match case.max_message_size {
        0 => 0,
        n => u64::from(n - 1).max(1),
    };
    let limit = Some(config.max_message_size).filter(|&m| m > 0);
    let config = Arc::new(config);

    let mut wire = b"EHLO client.example\r\n".to_vec();
    let mut expected = vec![Event::Hello {
        domain: "client.example".into(),
        esmtp: true,
    }];
    for (m, body) in shapes.iter().zip(bodies) {
        wire.extend_from_slice(b"MAIL FROM:<a@client.example>\r\nRCPT TO:<b@mx.example.com>\r\n");
        expected.push(Event::MailFrom {
            from: smtp_proto::address::ReversePath::Mailbox("a@client.example".parse().unwrap()),
            params: Default::default(),
        });
        expected.push(Event::RcptTo {
            to: smtp_proto::address::ForwardPath::Mailbox("b@mx.example.com".parse().unwrap()),
            params: Default::default(),
        });
        match &m.bdat {
            None => data_message(&mut wire, &mut expected, body, case.accept_bare, limit),
            Some(sizes) => bdat_message(&mut wire, &mut expected, body, sizes, limit),
        }
    }
    wire.extend_from_slice(b"QUIT\r\n");
    expected.push(Event::Closed(CloseReason::Quit));

    let mut steps = Vec::new();
    let mut rest = &wire[..];
    for &n in &case.reads {
        let (read, tail) = rest.split_at(usize::from(n).min(rest.len()));
        steps.push(Step::Input(read.to_vec()));
        rest = tail;
    }
    steps.push(Step::Input(rest.to_vec()));
    let d = run(
        Session::new(Arc::clone(&config)),
        &config,
        DefaultPolicy,
        &steps,
    );
    let got = d.outcome();
    assert_eq!(
        got.events,
        expected,
        "events differ for {:?}",
        String::from_utf8_lossy(&wire)
    );
    assert!(d.closed());
    assert!(got.output.ends_with(b"221 2.0.0 Bye\r\n"));
}

/// The events of a DATA message, given the body octets the client means to send.
fn data_message(
    wire: &mut Vec<u8>,
    expected: &mut Vec<Event>,
    body: &[u8],
    accept_bare: bool,
    limit: Option<u64>,
) {
    let (stuffed, unstuffed) = model::stuff(body);
    wire.extend_from_slice(b"DATA\r\n");
    wire.extend_from_slice(&stuffed);
    expected.push(Event::DataStart);
    let bare = if accept_bare {
        None
    } else {
        model::first_bare_line_ending(&unstuffed)
    };
    let over = limit
        .filter(|&m| unstuffed.len() as u64 > m)
        .map(|m| m as usize);
    let (seen, end) = match (bare, over) {
        (Some(p), Some(m)) if m < p => (m, Some(AbortReason::TooLarge)),
        (Some(p), _) => (p, Some(AbortReason::BareLineEnding)),
        (None, Some(m)) => (m, Some(AbortReason::TooLarge)),
        (None, None) => (unstuffed.len(), None),
    };
    if seen > 0 {
        expected.push(Event::DataChunk(Bytes::copy_from_slice(&unstuffed[..seen])));
    }
    match end {
        // A refused body ends its transaction: DataAborted, then Reset.
        Some(reason) => expected.extend([Event::DataAborted { reason }, Event::Reset]),
        None => expected.push(Event::DataEnd {
            size: unstuffed.len() as u64,
        }),
    }
}

/// The events of a BDAT message cut into chunks of `sizes` (the rest of the body in a last,
/// `LAST` chunk).
fn bdat_message(
    wire: &mut Vec<u8>,
    expected: &mut Vec<Event>,
    body: &[u8],
    sizes: &[u8],
    limit: Option<u64>,
) {
    let mut chunks = Vec::new();
    let mut rest = body;
    for &n in sizes {
        let (c, tail) = rest.split_at(usize::from(n).min(rest.len()));
        chunks.push(c);
        rest = tail;
    }
    chunks.push(rest);
    let (mut total, mut seen) = (0u64, Vec::new());
    let mut failed = false;
    for (i, c) in chunks.iter().enumerate() {
        let last = i + 1 == chunks.len();
        wire.extend_from_slice(
            format!("BDAT {}{}\r\n", c.len(), if last { " LAST" } else { "" }).as_bytes(),
        );
        wire.extend_from_slice(c);
        if failed {
            continue; // refused (no transaction any more), read and thrown away
        }
        if limit.is_some_and(|m| total + c.len() as u64 > m) {
            // 552, and the transaction is over.
            if i > 0 {
                push_seen(expected, &seen);
                expected.push(Event::DataAborted {
                    reason: AbortReason::TooLarge,
                });
            }
            expected.push(Event::Reset); // the transaction is over

            failed = true;
            continue;
        }
        if i == 0 {
            expected.push(Event::DataStart);
        }
        total += c.len() as u64;
        seen.extend_from_slice(c);
    }
    if !failed {
        push_seen(expected, &seen);
        expected.push(Event::DataEnd { size: total });
    }
}

fn push_seen(expected: &mut Vec<Event>, seen: &[u8]) {
    if !seen.is_empty() {
        expected.push(Event::DataChunk(Bytes::copy_from_slice(seen)));
    }
}

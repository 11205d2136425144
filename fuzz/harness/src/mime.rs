//! Targets for the MIME parser and the RFC 5322 header validator (`smtp_proto::mime`).

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use smtp_proto::mime::{
    validate_headers, HeaderField, HeaderValidator, MimeConfig, MimeEvent, Parser, PartKind,
};

/// How the message is parsed; all zeros is [`MimeConfig::default`], read whole.
#[derive(Arbitrary, Debug, Default)]
struct MimeControl {
    /// 0: default (20); otherwise this minus one.
    max_depth: u8,
    /// 0: default (1000); otherwise this minus one.
    max_parts: u8,
    /// 0: default (64 KiB); otherwise this.
    max_header_block: u16,
    /// 0: default (8 KiB); otherwise this.
    max_header_line: u16,
    /// Lengths of the reads (the rest is one last read).
    reads: Vec<u16>,
}

/// One open part, while checking the event grammar.
struct Open {
    index: usize,
    depth: usize,
    kind: PartKind,
    /// Decoded octets of the leaves inside, so far.
    decoded: u64,
}

/// The MIME parser fed a message in fuzzer-chosen reads: events nest, sizes add up, the limits
/// hold, memory stays bounded whatever the part sizes, and the same message read whole, in the
/// chosen reads or byte by byte gives the same events. The top-level header block goes through
/// the header validator, streaming and at once.
///
/// Input: a little-endian `u16` length, that many octets of control (decoded with `arbitrary`),
/// then the message.
pub fn mime(data: &[u8]) {
    let (control, message) = crate::split_control(data);
    let Ok(c) = MimeControl::arbitrary_take_rest(Unstructured::new(control)) else {
        return;
    };
    let mut config = MimeConfig::default();
    if c.max_depth != 0 {
        config.max_depth = usize::from(c.max_depth - 1);
    }
    if c.max_parts != 0 {
        config.max_parts = usize::from(c.max_parts - 1);
    }
    if c.max_header_block != 0 {
        config.max_header_block = usize::from(c.max_header_block);
    }
    if c.max_header_line != 0 {
        config.max_header_line = usize::from(c.max_header_line);
    }
    let mut reads = Vec::new();
    let mut rest = message;
    for &n in &c.reads {
        let (read, tail) = rest.split_at(usize::from(n).min(rest.len()));
        reads.push(read);
        rest = tail;
    }
    reads.push(rest);

    let chosen = parse(&config, &reads);
    let whole = parse(&config, &[message]);
    assert_eq!(chosen, whole, "reading in pieces changed the events");
    if message.len() <= 512 {
        let bytes: Vec<&[u8]> = message.chunks(1).collect();
        assert_eq!(
            parse(&config, &bytes),
            whole,
            "reading byte by byte changed the events"
        );
    }
}

/// Parses `reads`, checking the invariants, and returns the events with consecutive bodies
/// merged and warning offsets zeroed (they are positions "roughly", by the documentation).
fn parse(config: &MimeConfig, reads: &[&[u8]]) -> Vec<MimeEvent> {
    let mut parser = Parser::new(config.clone());
    let mut events = Vec::new();
    let mut open: Vec<Open> = Vec::new();
    let mut parts = 0;
    let mut top_headers = None;
    let bound = config
        .max_header_line
        .max(1024)
        .saturating_add(config.max_header_block);
    let mut drain = |parser: &mut Parser, events: &mut Vec<MimeEvent>| {
        while let Some(e) = parser.poll_event() {
            check_event(config, &e, &mut open, &mut parts, &mut top_headers);
            push_merged(events, e);
        }
        assert!(
            parser.buffered() <= bound,
            "{} octets held after poll_event returned None",
            parser.buffered()
        );
    };
    for read in reads {
        parser.feed(read);
        drain(&mut parser, &mut events);
    }
    parser.finish();
    drain(&mut parser, &mut events);
    assert!(parser.is_done(), "not done after finish and every event");
    assert!(open.is_empty(), "parts left open after finish");
    assert!(parts >= 1, "no PartStart for the message itself");
    parser.feed(b"more");
    assert_eq!(parser.poll_event(), None, "events after the end");
    if let Some(headers) = top_headers {
        check_headers(&headers);
    }
    events
}

fn check_event(
    config: &MimeConfig,
    e: &MimeEvent,
    open: &mut Vec<Open>,
    parts: &mut usize,
    top_headers: &mut Option<Vec<HeaderField>>,
) {
    match e {
        MimeEvent::PartStart(info) => {
            assert_eq!(
                info.index, *parts,
                "part indexes are in order of appearance"
            );
            assert_eq!(info.depth, open.len(), "depth is the nesting");
            assert!(info.depth <= config.max_depth, "deeper than max_depth");
            if let Some(parent) = open.last() {
                assert_ne!(parent.kind, PartKind::Leaf, "a part inside a leaf");
            }
            *parts += 1;
            assert!(
                *parts <= config.max_parts.max(1),
                "more parts than max_parts"
            );
            if info.kind == PartKind::Multipart {
                assert!(info.boundary.as_ref().is_some_and(|b| !b.is_empty()));
            }
            let size: usize = info.headers.iter().map(|h| h.raw().len()).sum();
            assert!(
                size <= config.max_header_block,
                "header block over max_header_block"
            );
            for h in &info.headers {
                for line in h.raw().split_inclusive(|&c| c == b'\n') {
                    assert!(
                        line.len() <= config.max_header_line,
                        "header line over max_header_line"
                    );
                }
                check_field(h);
            }
            if info.index == 0 {
                *top_headers = Some(info.headers.clone());
            }
            open.push(Open {
                index: info.index,
                depth: info.depth,
                kind: info.kind,
                decoded: 0,
            });
        }
        MimeEvent::Body(b) => {
            assert!(!b.is_empty(), "empty Body");
            let part = open.last_mut().expect("Body outside a part");
            assert_eq!(
                part.kind,
                PartKind::Leaf,
                "Body in a multipart or message part"
            );
            part.decoded += b.len() as u64;
        }
        MimeEvent::PartEnd(end) => {
            let part = open.pop().expect("PartEnd without PartStart");
            assert_eq!(
                (end.index, end.depth),
                (part.index, part.depth),
                "PartEnd mismatched"
            );
            assert_eq!(
                end.decoded_size, part.decoded,
                "decoded_size differs from the bodies"
            );
            if let Some(parent) = open.last_mut() {
                parent.decoded += part.decoded;
            }
        }
        MimeEvent::Warning(w) => {
            assert!(
                w.part < (*parts).max(1),
                "warning about a part not yet started"
            );
        }
        _ => {}
    }
}

/// A field parses back from its raw octets to itself, and its views do not panic.
fn check_field(h: &HeaderField) {
    assert_eq!(HeaderField::parse(h.raw().clone()).as_ref(), Some(h));
    assert!(h.is(h.name()) || h.name().contains('\u{fffd}'));
    let value = h.raw_value();
    assert!(value.len() < h.raw().len(), "the value is inside the field");
    let _ = (h.unfolded(), h.decoded());
}

/// The validator gives the same verdict streaming and at once, and its verdict does not change
/// when the fields are re-parsed from their raw octets.
fn check_headers(headers: &[HeaderField]) {
    let at_once = validate_headers(headers);
    let mut streaming = HeaderValidator::new();
    for h in headers {
        streaming.field(h);
    }
    assert_eq!(streaming.finish(), at_once);
    let reparsed: Vec<HeaderField> = headers
        .iter()
        .map(|h| HeaderField::parse(h.raw().clone()).expect("a field"))
        .collect();
    assert_eq!(validate_headers(&reparsed), at_once);
}

fn push_merged(events: &mut Vec<MimeEvent>, e: MimeEvent) {
    match (events.last_mut(), e) {
        (Some(MimeEvent::Body(prev)), MimeEvent::Body(next)) => {
            let mut joined = prev.to_vec();
            joined.extend_from_slice(&next);
            *prev = Bytes::from(joined);
        }
        (_, MimeEvent::Warning(mut w)) => {
            w.offset = 0;
            events.push(MimeEvent::Warning(w));
        }
        (_, e) => events.push(e),
    }
}

/// A header block on its own: each line that parses as a field is checked, and the block is
/// validated streaming and at once. Input: the header block (lines split at LF; a line starting
/// with SP or TAB continues the field before it).
pub fn headers(data: &[u8]) {
    let src = Bytes::copy_from_slice(data);
    let mut fields = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < src.len() {
        let end = src[i..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(src.len(), |p| i + p + 1);
        let continues = matches!(src.get(end), Some(b' ' | b'\t'));
        if !continues {
            if let Some(f) = HeaderField::parse(src.slice(start..end)) {
                check_field(&f);
                fields.push(f);
            }
            start = end;
        }
        i = end;
    }
    check_headers(&fields);
}

//! The streaming MIME parser against real messages (made by Python's `email` package and by
//! `lettre`, see tests/fixtures/mime/README.md) and against each kind of malformed input.

use smtp_proto::mime::{
    MimeConfig, MimeEvent, MimeWarning, Parser, PartEnd, PartInfo, PartKind, TransferEncoding,
    WarningKind,
};

/// One entity as the events describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entity {
    depth: usize,
    mime_type: String,
    filename: Option<String>,
    kind: PartKind,
    encoding: TransferEncoding,
    body: Vec<u8>,
    end: Option<PartEnd>,
}

#[derive(Debug)]
struct Parsed {
    entities: Vec<Entity>,
    warnings: Vec<MimeWarning>,
    max_buffered: usize,
}

impl Parsed {
    fn warning_kinds(&self) -> Vec<WarningKind> {
        self.warnings.iter().map(|w| w.kind.clone()).collect()
    }
}

/// Feeds `input` in pieces of `piece` octets, polling after each, and checks the nesting of
/// starts and ends.
fn parse_with(config: MimeConfig, input: &[u8], piece: usize) -> Parsed {
    let mut parser = Parser::new(config);
    let mut out = Parsed {
        entities: Vec::new(),
        warnings: Vec::new(),
        max_buffered: 0,
    };
    let mut open: Vec<usize> = Vec::new();
    let mut handle = |event: MimeEvent, out: &mut Parsed| match event {
        MimeEvent::PartStart(info) => {
            let PartInfo {
                depth,
                content_type,
                filename,
                kind,
                transfer_encoding,
                index,
                ..
            } = *info;
            assert_eq!(index, out.entities.len(), "indexes in order");
            assert_eq!(depth, open.len(), "depth is the nesting");
            open.push(index);
            out.entities.push(Entity {
                depth,
                mime_type: content_type.mime_type().to_string(),
                filename: filename.map(|f| f.to_string()),
                kind,
                encoding: transfer_encoding,
                body: Vec::new(),
                end: None,
            });
        }
        MimeEvent::Body(b) => {
            assert!(!b.is_empty(), "empty body event");
            let i = *open.last().expect("body inside a part");
            assert_eq!(out.entities[i].kind, PartKind::Leaf, "body of a leaf");
            out.entities[i].body.extend_from_slice(&b);
        }
        MimeEvent::PartEnd(end) => {
            let i = open.pop().expect("end of an open part");
            assert_eq!(end.index, i);
            assert_eq!(end.depth, out.entities[i].depth);
            out.entities[i].end = Some(end);
        }
        MimeEvent::Warning(w) => out.warnings.push(w),
        _ => {}
    };
    for chunk in input.chunks(piece.max(1)) {
        parser.feed(chunk);
        while let Some(e) = parser.poll_event() {
            handle(e, &mut out);
        }
        out.max_buffered = out.max_buffered.max(parser.buffered());
    }
    parser.finish();
    while let Some(e) = parser.poll_event() {
        handle(e, &mut out);
    }
    assert!(parser.is_done());
    assert!(open.is_empty(), "every part ended");
    assert_eq!(parser.poll_event(), None);
    out
}

fn parse(input: &[u8]) -> Parsed {
    parse_with(MimeConfig::default(), input, input.len())
}

/// The same result however the input is cut.
fn parse_all_ways(input: &[u8]) -> Parsed {
    let whole = parse(input);
    for piece in [1, 2, 3, 7, 64, 1000] {
        let p = parse_with(MimeConfig::default(), input, piece);
        assert_eq!(p.entities, whole.entities, "piece {piece}");
        assert_eq!(p.warning_kinds(), whole.warning_kinds(), "piece {piece}");
    }
    whole
}

fn fnv(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// Python's parser stores non-base64 payloads with LF line endings; compare alike.
fn normalize(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        if body[i] == b'\r' && body.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(body[i]);
        i += 1;
    }
    out
}

#[test]
fn fixtures_match_pythons_parser() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mime");
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    names.sort();
    assert!(names.len() >= 6, "fixtures present");
    for path in names {
        let input = std::fs::read(&path).unwrap();
        let expected = std::fs::read_to_string(path.with_extension("expected")).unwrap();
        let parsed = parse_all_ways(&input);
        let name = path.file_name().unwrap().to_string_lossy();
        let got: Vec<String> = parsed
            .entities
            .iter()
            .map(|e| {
                let body = if e.encoding == TransferEncoding::Base64 {
                    e.body.clone()
                } else {
                    normalize(&e.body)
                };
                format!(
                    "{}\t{}\t{}\t{}\t{:016x}",
                    e.depth,
                    e.mime_type,
                    e.filename.as_deref().unwrap_or("-"),
                    body.len(),
                    fnv(&body)
                )
            })
            .collect();
        let want: Vec<&str> = expected.lines().collect();
        assert_eq!(got, want, "{name}");
        // Only the legacy message has a preamble and an epilogue.
        let kinds = parsed.warning_kinds();
        if name.starts_with("python-legacy") {
            assert_eq!(
                kinds,
                [
                    WarningKind::Preamble { octets: 44 },
                    WarningKind::Epilogue { octets: 21 }
                ],
                "{name}"
            );
        } else {
            assert!(kinds.is_empty(), "{name}: {kinds:?}");
        }
        // Decoded sizes add up, and nothing was held back beyond a few octets.
        for e in &parsed.entities {
            let end = e.end.unwrap();
            if e.kind == PartKind::Leaf {
                assert_eq!(end.decoded_size, e.body.len() as u64);
            }
        }
        assert_eq!(
            parsed.entities[0].end.unwrap().decoded_size,
            parsed
                .entities
                .iter()
                .map(|e| e.body.len() as u64)
                .sum::<u64>()
        );
    }
}

#[test]
fn fixture_details() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mime");
    let input = std::fs::read(format!("{dir}/lettre-attachments.eml")).unwrap();
    let p = parse(&input);
    let pdf = &p.entities[4];
    assert_eq!(pdf.filename.as_deref(), Some("Résumé – 2026 €.pdf"));
    let pattern: Vec<u8> = (0..20000usize).map(|i| (i * 7 + 3) as u8).collect();
    assert_eq!(pdf.body, pattern);

    let input = std::fs::read(format!("{dir}/lettre-alternative.eml")).unwrap();
    let p = parse(&input);
    assert_eq!(
        p.entities[1].body,
        "Hallo Bob,\r\nviele Grüße – Zoë ☕\r\n".as_bytes()
    );
    assert_eq!(
        p.entities[2].body,
        "<p>Hallo Bob,</p><p>viele Grüße – Zoë ☕</p>".as_bytes()
    );

    // The header view: RFC 2047 words decoded on request.
    let mut parser = Parser::new(MimeConfig::default());
    parser.feed(&input);
    let Some(MimeEvent::PartStart(info)) = parser.poll_event() else {
        panic!("first event is the message's start")
    };
    assert_eq!(
        info.header("subject").unwrap().decoded(),
        "Grüße aus Köln ☕"
    );
    assert_eq!(
        info.header("From").unwrap().decoded(),
        "Zoë Example <zoe@example.org>"
    );
    assert_eq!(info.boundary.as_deref().map(str::len), Some(40));

    let input = std::fs::read(format!("{dir}/python-legacy.eml")).unwrap();
    let p = parse(&input);
    assert_eq!(
        p.entities[1].body, b"Caf\xe9 cr\xe8me =  \xe0 la carte\r\n",
        "octets kept in their charset"
    );
}

// ---- Malformed input: a warning, and parsing goes on ----

fn mixed(boundary: &str, parts: &[&str], close: bool) -> Vec<u8> {
    let mut m = format!("Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n");
    for p in parts {
        m.push_str(&format!("--{boundary}\r\n{p}\r\n"));
    }
    if close {
        m.push_str(&format!("--{boundary}--\r\n"));
    }
    m.into_bytes()
}

#[test]
fn a_boundary_split_at_every_point_is_found() {
    let input = mixed(
        "b0undary",
        &[
            "Content-Type: text/plain\r\n\r\nfirst\r\n--b0undaryX is not a delimiter\r\n-- b0undary neither",
            "\r\nsecond, no headers",
        ],
        true,
    );
    let whole = parse(&input);
    assert_eq!(whole.entities.len(), 3);
    assert_eq!(
        whole.entities[1].body,
        b"first\r\n--b0undaryX is not a delimiter\r\n-- b0undary neither"
    );
    assert_eq!(whole.entities[2].body, b"second, no headers");
    for k in 0..=input.len() {
        let mut p = Parser::new(MimeConfig::default());
        let mut bodies = Vec::new();
        for piece in [&input[..k], &input[k..]] {
            p.feed(piece);
            while let Some(e) = p.poll_event() {
                if let MimeEvent::Body(b) = e {
                    bodies.extend_from_slice(&b);
                }
            }
        }
        p.finish();
        while let Some(e) = p.poll_event() {
            if let MimeEvent::Body(b) = e {
                bodies.extend_from_slice(&b);
            }
        }
        let want: Vec<u8> = [&whole.entities[1].body[..], &whole.entities[2].body[..]].concat();
        assert_eq!(bodies, want, "split at {k}");
    }
}

#[test]
fn delimiter_forms() {
    // Transport padding after the boundary, a bare-LF line end, and a close delimiter at the
    // very end of the input without a line break are all delimiters (RFC 2046 5.1.1).
    let input =
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b \t\r\n\r\none\r\n--b\n\ntwo\n--b--";
    let p = parse_all_ways(input);
    let bodies: Vec<&[u8]> = p.entities[1..].iter().map(|e| &e.body[..]).collect();
    assert_eq!(bodies, [&b"one"[..], b"two"]);
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    // The preamble may be empty and the first delimiter come right after the header block.
    let p = parse_all_ways(
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n",
    );
    assert_eq!(p.entities[1].body, b"x");
}

#[test]
fn missing_close_delimiter() {
    let p = parse_all_ways(&mixed("b", &["\r\none", "\r\ntwo"], false));
    assert_eq!(p.entities.len(), 3);
    assert_eq!(p.entities[2].body, b"two\r\n");
    assert_eq!(p.warning_kinds(), [WarningKind::MissingCloseDelimiter]);
    assert_eq!(p.warnings[0].part, 0);
}

#[test]
fn multipart_without_any_delimiter() {
    let p = parse_all_ways(b"Content-Type: multipart/mixed; boundary=b\r\n\r\njust text\r\n");
    assert_eq!(p.entities.len(), 1);
    assert_eq!(
        p.warning_kinds(),
        [WarningKind::Preamble { octets: 11 }, WarningKind::NoParts]
    );
}

#[test]
fn an_outer_delimiter_ends_an_unclosed_inner_multipart() {
    let inner = "Content-Type: multipart/alternative; boundary=inner\r\n\r\n--inner\r\n\r\nin\r\n";
    let p = parse_all_ways(&mixed("outer", &[inner, "\r\nafter"], true));
    let types: Vec<(usize, &str)> = p
        .entities
        .iter()
        .map(|e| (e.depth, e.mime_type.as_str()))
        .collect();
    assert_eq!(
        types,
        [
            (0, "multipart/mixed"),
            (1, "multipart/alternative"),
            (2, "text/plain"),
            (1, "text/plain")
        ]
    );
    assert_eq!(p.entities[2].body, b"in\r\n");
    assert_eq!(p.entities[3].body, b"after");
    assert_eq!(p.warning_kinds(), [WarningKind::MissingCloseDelimiter]);
    assert_eq!(p.warnings[0].part, 1);
}

#[test]
fn bad_base64_is_skipped_and_reported() {
    let part = "Content-Transfer-Encoding: base64\r\n\r\nAAEC!!AwQF\r\nBg";
    let p = parse_all_ways(&mixed("b", &[part], true));
    assert_eq!(p.entities[1].body, [0, 1, 2, 3, 4, 5, 6]);
    assert_eq!(
        p.warning_kinds(),
        [WarningKind::InvalidBase64 { errors: 3 }],
        "two junk octets and the missing padding"
    );
    assert_eq!(p.warnings[0].part, 1);
}

#[test]
fn quoted_printable_is_decoded_and_bad_escapes_reported() {
    let part = "Content-Transfer-Encoding: Quoted-Printable\r\n\r\nsoft=\r\nbreak, =E2=82=AC, bad =ZZ,  \r\nend";
    let p = parse_all_ways(&mixed("b", &[part], true));
    assert_eq!(
        p.entities[1].body,
        "softbreak, €, bad =ZZ,\r\nend".as_bytes()
    );
    assert_eq!(
        p.warning_kinds(),
        [WarningKind::InvalidQuotedPrintable { errors: 1 }]
    );
}

#[test]
fn junk_preamble_and_epilogue_are_reported_whitespace_is_not() {
    let mut input = b"Content-Type: multipart/mixed; boundary=b\r\n\r\nJUNK\r\n--b\r\n\r\nx\r\n--b--\r\nmore junk\r\n".to_vec();
    let p = parse_all_ways(&input);
    assert_eq!(
        p.warning_kinds(),
        [
            WarningKind::Preamble { octets: 4 },
            WarningKind::Epilogue { octets: 11 }
        ]
    );
    input = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n  \r\n--b\r\n\r\nx\r\n--b--\r\n\r\n"
        .to_vec();
    assert!(parse_all_ways(&input).warnings.is_empty());
}

#[test]
fn header_line_without_colon_starts_the_body() {
    let p = parse_all_ways(b"Subject: x\r\nthis is no header\r\nbody\r\n");
    assert_eq!(p.entities[0].body, b"this is no header\r\nbody\r\n");
    assert_eq!(p.warning_kinds(), [WarningKind::HeaderWithoutColon]);
    // Reported against the part whose header block it is in.
    let p = parse_all_ways(&mixed(
        "b",
        &["Content-Type: text/plain\r\nnot a field\r\nbody"],
        true,
    ));
    assert_eq!(p.entities[1].body, b"not a field\r\nbody");
    assert_eq!(p.warning_kinds(), [WarningKind::HeaderWithoutColon]);
    assert_eq!(p.warnings[0].part, 1);
    // A continuation line with no field before it is dropped.
    let p = parse_all_ways(b" orphan\r\nSubject: x\r\n\r\nbody");
    assert_eq!(p.entities[0].body, b"body");
    assert_eq!(p.warning_kinds(), [WarningKind::HeaderWithoutColon]);
    // An mbox "From " line before the message is not part of it.
    let p = parse_all_ways(b"From a@b Thu Jan  1 00:00:00 1970\r\nSubject: x\r\n\r\nbody");
    assert_eq!(p.entities[0].body, b"body");
}

#[test]
fn unknown_and_misplaced_transfer_encodings() {
    let p = parse_all_ways(b"Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 f\r\n");
    assert_eq!(p.entities[0].body, b"begin 644 f\r\n");
    assert_eq!(
        p.warning_kinds(),
        [WarningKind::UnknownTransferEncoding("x-uuencode".into())]
    );
    // RFC 2045 6.4: a composite type must not be encoded; it is read as an opaque leaf.
    let p = parse_all_ways(b"Content-Type: multipart/mixed; boundary=b\r\nContent-Transfer-Encoding: base64\r\n\r\nLS1i\r\n");
    assert_eq!(p.entities.len(), 1);
    assert_eq!(p.entities[0].kind, PartKind::Leaf);
    assert_eq!(p.entities[0].body, b"--b");
    assert_eq!(p.warning_kinds(), [WarningKind::EncodedComposite]);
}

#[test]
fn invalid_content_type_and_boundary() {
    let p = parse_all_ways(b"Content-Type: nonsense\r\n\r\nx");
    assert_eq!(p.entities[0].mime_type, "text/plain");
    assert_eq!(p.warning_kinds(), [WarningKind::InvalidContentType]);
    let p = parse_all_ways(b"Content-Type: multipart/mixed\r\n\r\n--x\r\n");
    assert_eq!(p.entities[0].kind, PartKind::Leaf);
    assert_eq!(p.entities[0].body, b"--x\r\n");
    assert_eq!(p.warning_kinds(), [WarningKind::InvalidBoundary]);
    let long = "b".repeat(300);
    let p = parse(&mixed(&long, &["\r\nx"], true));
    assert_eq!(p.warning_kinds(), [WarningKind::InvalidBoundary]);
}

#[test]
fn message_rfc822_is_walked_and_digest_parts_default_to_it() {
    let input = b"Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: inner\r\nContent-Type: text/plain\r\n\r\nhello\r\n--d\r\nContent-Type: text/plain\r\n\r\nplain\r\n--d--\r\n";
    let p = parse_all_ways(input);
    let shape: Vec<(usize, &str, PartKind)> = p
        .entities
        .iter()
        .map(|e| (e.depth, e.mime_type.as_str(), e.kind))
        .collect();
    assert_eq!(
        shape,
        [
            (0, "multipart/digest", PartKind::Multipart),
            (1, "message/rfc822", PartKind::Message),
            (2, "text/plain", PartKind::Leaf),
            (1, "text/plain", PartKind::Leaf)
        ]
    );
    assert_eq!(p.entities[2].body, b"hello");
    let end = p.entities[1].end.unwrap();
    assert_eq!(end.decoded_size, 5);
    assert_eq!(
        end.raw_size,
        b"Subject: inner\r\nContent-Type: text/plain\r\n\r\nhello".len() as u64
    );
}

#[test]
fn limits_depth_parts_header_block_and_line() {
    // Depth: the multipart at the limit is read as a leaf.
    let mut config = MimeConfig::default();
    config.max_depth = 1;
    let inner =
        "Content-Type: multipart/mixed; boundary=inner\r\n\r\n--inner\r\n\r\nx\r\n--inner--";
    let p = parse_with(config, &mixed("outer", &[inner], true), 5);
    assert_eq!(p.entities.len(), 2);
    assert_eq!(p.entities[1].kind, PartKind::Leaf);
    assert_eq!(p.entities[1].body, b"--inner\r\n\r\nx\r\n--inner--");
    assert_eq!(p.warning_kinds(), [WarningKind::TooDeep]);

    // Parts: the message and two parts, the third part skipped.
    let mut config = MimeConfig::default();
    config.max_parts = 3;
    let p = parse_with(config, &mixed("b", &["\r\n1", "\r\n2", "\r\n3"], true), 4);
    assert_eq!(p.entities.len(), 3);
    assert_eq!(p.warning_kinds(), [WarningKind::TooManyParts]);

    // Header block: later fields are dropped, the body is intact.
    let mut config = MimeConfig::default();
    config.max_header_block = 30;
    let p = parse_with(
        config,
        b"A: 0123456789\r\nB: 0123456789\r\nC: 0123456789\r\n\r\nbody",
        3,
    );
    assert_eq!(p.entities[0].body, b"body");
    assert_eq!(p.warning_kinds(), [WarningKind::HeaderBlockTooLarge]);

    // Header line: dropped, whether it arrives whole or in pieces.
    let mut config = MimeConfig::default();
    config.max_header_line = 100;
    let long = format!("X-Long: {}\r\nSubject: kept\r\n\r\nbody", "y".repeat(500));
    for piece in [1, 10, 1000] {
        let mut parser = Parser::new(config.clone());
        let mut kinds = Vec::new();
        let mut subject = None;
        let mut max_buffered = 0;
        for c in long.as_bytes().chunks(piece) {
            parser.feed(c);
            while let Some(e) = parser.poll_event() {
                match e {
                    MimeEvent::Warning(w) => kinds.push(w.kind),
                    MimeEvent::PartStart(info) => {
                        subject = info.header("subject").map(|f| f.unfolded().into_owned())
                    }
                    _ => {}
                }
            }
            max_buffered = max_buffered.max(parser.buffered());
        }
        parser.finish();
        while parser.poll_event().is_some() {}
        assert_eq!(kinds, [WarningKind::HeaderLineTooLong], "piece {piece}");
        assert_eq!(subject.as_deref(), Some("kept"));
        if piece < 1000 {
            assert!(max_buffered <= 110, "held {max_buffered}");
        }
    }
}

#[test]
fn a_large_attachment_streams_in_constant_memory() {
    // 8 MiB of binary data, base64-encoded in 76-character lines, fed in 64 KiB reads.
    let data: Vec<u8> = (0..8usize << 20).map(|i| (i * 7 + 3) as u8).collect();
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = Vec::with_capacity(data.len() / 3 * 4 + data.len() / 57 * 2 + 8);
    for (i, c) in data.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            b64.extend_from_slice(b"\r\n");
        }
        let v = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for k in 0..4 {
            b64.push(if k <= c.len() {
                alphabet[(v >> (18 - 6 * k)) as usize & 63]
            } else {
                b'='
            });
        }
    }
    let mut input = mixed("big", &["\r\nsee attachment"], false);
    input.extend_from_slice(b"--big\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n");
    input.extend_from_slice(&b64);
    input.extend_from_slice(b"\r\n--big--\r\n");

    let mut parser = Parser::new(MimeConfig::default());
    let mut decoded_len = 0usize;
    let mut hash: u64 = 0xcbf29ce484222325;
    let mut max_buffered = 0;
    for chunk in input.chunks(64 * 1024) {
        parser.feed(chunk);
        while let Some(e) = parser.poll_event() {
            if let MimeEvent::Body(b) = e {
                decoded_len += b.len();
                for &x in b.iter() {
                    hash ^= u64::from(x);
                    hash = hash.wrapping_mul(0x100000001b3);
                }
            }
        }
        max_buffered = max_buffered.max(parser.buffered());
    }
    parser.finish();
    while parser.poll_event().is_some() {}
    assert_eq!(decoded_len, data.len() + b"see attachment".len());
    let mut want: u64 = 0xcbf29ce484222325;
    for &x in b"see attachment".iter().chain(data.iter()) {
        want ^= u64::from(x);
        want = want.wrapping_mul(0x100000001b3);
    }
    assert_eq!(hash, want);
    assert!(
        max_buffered < 16,
        "held back {max_buffered} octets between reads"
    );
}

#[test]
fn empty_and_header_only_messages() {
    let p = parse_all_ways(b"");
    assert_eq!(p.entities.len(), 1);
    assert!(p.entities[0].body.is_empty());
    let p = parse_all_ways(b"Subject: no body\r\n");
    assert_eq!(p.entities.len(), 1);
    assert!(p.entities[0].body.is_empty());
    assert!(p.warnings.is_empty());
    // A part cut off inside its header block still starts and ends.
    let p = parse_all_ways(
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/html",
    );
    assert_eq!(p.entities[1].mime_type, "text/html");
    assert_eq!(p.warning_kinds(), [WarningKind::MissingCloseDelimiter]);
}

/// How an adapter wires the two machines: the session's DataChunk bytes go into a parser
/// created at DataStart; at DataEnd the parser is finished and the handler has both the raw
/// body and the MIME events (with the top-level header validation) before it decides.
#[test]
fn session_data_chunks_feed_the_parser() {
    use smtp_proto::mime::validate_headers;
    use smtp_proto::{Config, Decision, Event, Session};
    use std::sync::Arc;

    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mime");
    let message = std::fs::read(format!("{dir}/lettre-attachments.eml")).unwrap();
    // Dot-stuff the message for DATA (RFC 5321 4.5.2).
    let mut wire =
        b"EHLO c.example\r\nMAIL FROM:<a@c.example>\r\nRCPT TO:<b@mx.example>\r\nDATA\r\n".to_vec();
    for line in message.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b".") {
            wire.push(b'.');
        }
        wire.extend_from_slice(line);
    }
    wire.extend_from_slice(b".\r\nQUIT\r\n");

    let mut session = Session::new(Arc::new(Config::new("mx.example")));
    let mut parser: Option<Parser> = None;
    let (mut raw, mut types, mut violations, mut decoded) = (Vec::new(), Vec::new(), None, 0u64);
    let mut pieces = wire.chunks(1000);
    loop {
        while let Some(event) = session.poll_event() {
            match event {
                Event::DataStart => parser = Some(Parser::new(MimeConfig::default())),
                Event::DataChunk(bytes) => {
                    raw.extend_from_slice(&bytes); // the raw view, as today
                    let p = parser.as_mut().unwrap();
                    p.feed(&bytes);
                    while let Some(e) = p.poll_event() {
                        match e {
                            MimeEvent::PartStart(info) => {
                                if info.depth == 0 {
                                    violations = Some(validate_headers(&info.headers));
                                }
                                types.push(info.content_type.mime_type().to_string());
                            }
                            MimeEvent::Body(b) => decoded += b.len() as u64,
                            _ => {}
                        }
                    }
                }
                Event::DataEnd { .. } => {
                    let mut p = parser.take().unwrap();
                    p.finish();
                    while let Some(e) = p.poll_event() {
                        if let MimeEvent::Body(b) = e {
                            decoded += b.len() as u64;
                        }
                    }
                    assert!(p.is_done());
                    session.decide(Decision::Accept).unwrap();
                }
                e if e.needs_decision() => session.decide(Decision::Accept).unwrap(),
                _ => {}
            }
        }
        while session.poll_transmit().is_some() {}
        if session.is_closed() {
            break;
        }
        match pieces.next() {
            Some(piece) => session.handle_input(piece),
            None => session.handle_eof(),
        }
    }
    assert!(raw == message, "the raw view is the message");
    assert_eq!(
        types,
        [
            "multipart/mixed",
            "multipart/related",
            "text/html",
            "image/png",
            "application/pdf"
        ]
    );
    assert_eq!(violations, Some(Vec::new()));
    assert_eq!(decoded, 36 + 3000 + 20000);
}

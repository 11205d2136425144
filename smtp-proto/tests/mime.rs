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

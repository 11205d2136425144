//! Properties of the MIME parser:
//! - a random MIME tree (nested multiparts and message/rfc822, 7bit/8bit/base64/QP leaves,
//!   random boundaries), serialized and fed in random chunk sizes, comes back as the same
//!   tree with the same decoded bytes;
//! - any input at all, cut anywhere, gives well-nested events, no panic, and bounded memory.

use proptest::prelude::*;
use smtp_proto::mime::{MimeConfig, MimeEvent, Parser, PartKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Enc {
    SevenBit,
    EightBit,
    Base64,
    Qp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Leaf {
        mime_type: String,
        enc: Enc,
        body: Vec<u8>,
    },
    Multi {
        subtype: String,
        boundary: String,
        children: Vec<Node>,
    },
    Message(Box<Node>),
}

/// Text lines for 7bit/8bit bodies. `=` never occurs in them and every boundary has one,
/// so no body line can be a delimiter.
fn text_body(eight_bit: bool) -> impl Strategy<Value = Vec<u8>> {
    let line = if eight_bit {
        prop::collection::vec(
            any::<u8>().prop_filter("no CR, LF, =", |b| !b"\r\n=".contains(b)),
            0..40,
        )
        .boxed()
    } else {
        prop::collection::vec(
            prop::sample::select(b" \t!\"#-.0123456789:;<>?ABCXYZabcxyz-".to_vec()),
            0..40,
        )
        .boxed()
    };
    prop::collection::vec(line, 0..5).prop_map(|lines| lines.join(&b"\r\n"[..]))
}

fn leaf() -> impl Strategy<Value = Node> {
    let mime_type = prop::sample::select(vec![
        "text/plain",
        "text/html",
        "application/octet-stream",
        "image/png",
    ]);
    prop_oneof![
        (mime_type.clone(), text_body(false)).prop_map(|(t, body)| Node::Leaf {
            mime_type: t.to_string(),
            enc: Enc::SevenBit,
            body
        }),
        (mime_type.clone(), text_body(true)).prop_map(|(t, body)| Node::Leaf {
            mime_type: t.to_string(),
            enc: Enc::EightBit,
            body
        }),
        (
            mime_type.clone(),
            prop::collection::vec(any::<u8>(), 0..300)
        )
            .prop_map(|(t, body)| Node::Leaf {
                mime_type: t.to_string(),
                enc: Enc::Base64,
                body
            }),
        // Mostly text with some CRLFs, spaces and binary octets, as QP carries.
        (
            mime_type,
            prop::collection::vec(
                prop_oneof![
                    4 => prop::sample::select(b"abc XYZ\t=.".to_vec()),
                    1 => Just(b'\r'),
                    1 => Just(b'\n'),
                    1 => any::<u8>(),
                ],
                0..300
            )
        )
            .prop_map(|(t, body)| Node::Leaf {
                mime_type: t.to_string(),
                enc: Enc::Qp,
                body
            }),
    ]
}

fn boundary() -> impl Strategy<Value = String> {
    // RFC 2046 bchars, always with an "=" (which text bodies never contain).
    "[A-Za-z0-9'()+_,./:?-]{0,30}".prop_map(|s| format!("={s}"))
}

fn tree() -> impl Strategy<Value = Node> {
    leaf().prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            3 => (
                prop::sample::select(vec!["mixed", "alternative", "related", "parallel"]),
                boundary(),
                prop::collection::vec(inner.clone(), 1..4)
            )
                .prop_map(|(s, b, children)| Node::Multi {
                    subtype: s.to_string(),
                    boundary: b,
                    children
                }),
            1 => inner.prop_map(|n| Node::Message(Box::new(n))),
        ]
    })
}

/// Boundaries must differ from each other along a path (RFC 2046 5.1.1); make them unique.
fn uniquify(node: &mut Node, n: &mut usize) {
    match node {
        Node::Multi {
            boundary, children, ..
        } => {
            *n += 1;
            boundary.push_str(&format!("#{n}"));
            for c in children {
                uniquify(c, n);
            }
        }
        Node::Message(inner) => uniquify(inner, n),
        Node::Leaf { .. } => {}
    }
}

fn serialize(node: &Node, out: &mut Vec<u8>) {
    match node {
        Node::Leaf {
            mime_type,
            enc,
            body,
        } => {
            let cte = match enc {
                Enc::SevenBit => "7bit",
                Enc::EightBit => "8bit",
                Enc::Base64 => "base64",
                Enc::Qp => "quoted-printable",
            };
            out.extend_from_slice(
                format!("Content-Type: {mime_type}\r\nContent-Transfer-Encoding: {cte}\r\n\r\n")
                    .as_bytes(),
            );
            match enc {
                Enc::SevenBit | Enc::EightBit => out.extend_from_slice(body),
                Enc::Base64 => base64(body, out),
                Enc::Qp => qp(body, out),
            }
        }
        Node::Multi {
            subtype,
            boundary,
            children,
        } => {
            out.extend_from_slice(
                format!("Content-Type: multipart/{subtype};\r\n boundary=\"{boundary}\"\r\n\r\n")
                    .as_bytes(),
            );
            for c in children {
                out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
                serialize(c, out);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(format!("--{boundary}--").as_bytes());
        }
        Node::Message(inner) => {
            out.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\nSubject: enclosed\r\n");
            serialize(inner, out);
        }
    }
}

fn base64(data: &[u8], out: &mut Vec<u8>) {
    let a = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (i, c) in data.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            out.extend_from_slice(b"\r\n");
        }
        let v = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for k in 0..4 {
            out.push(if k <= c.len() {
                a[(v >> (18 - 6 * k)) as usize & 63]
            } else {
                b'='
            });
        }
    }
}

/// Quoted-printable (RFC 2045 6.7): CRLF in the data is a hard line break, white space at
/// the end of a line is escaped, lines are cut with soft breaks.
fn qp(data: &[u8], out: &mut Vec<u8>) {
    let mut segments = Vec::new();
    let mut rest = data;
    while let Some(p) = rest.windows(2).position(|w| w == b"\r\n") {
        segments.push(&rest[..p]);
        rest = &rest[p + 2..];
    }
    segments.push(rest);
    for (si, seg) in segments.iter().enumerate() {
        if si > 0 {
            out.extend_from_slice(b"\r\n");
        }
        let mut line_len = 0;
        for (i, &b) in seg.iter().enumerate() {
            let last = i + 1 == seg.len();
            let plain =
                (b'!'..=b'~').contains(&b) && b != b'=' || ((b == b' ' || b == b'\t') && !last);
            let piece = if plain {
                vec![b]
            } else {
                format!("={b:02X}").into_bytes()
            };
            if line_len + piece.len() > 75 {
                out.extend_from_slice(b"=\r\n");
                line_len = 0;
            }
            line_len += piece.len();
            out.extend_from_slice(&piece);
        }
    }
}

/// Rebuilds the tree from the events of a parse of `input` fed in `cuts`-sized pieces.
fn parse_tree(input: &[u8], cuts: &[usize]) -> (Node, usize) {
    let mut parser = Parser::new(MimeConfig::default());
    let mut stack: Vec<Node> = Vec::new();
    let mut done: Option<Node> = None;
    let mut warnings = 0;
    let mut handle = |e: MimeEvent| match e {
        MimeEvent::PartStart(info) => {
            let node = match info.kind {
                PartKind::Leaf => Node::Leaf {
                    mime_type: info.content_type.mime_type().to_string(),
                    enc: match info.transfer_encoding {
                        smtp_proto::mime::TransferEncoding::SevenBit => Enc::SevenBit,
                        smtp_proto::mime::TransferEncoding::EightBit => Enc::EightBit,
                        smtp_proto::mime::TransferEncoding::Base64 => Enc::Base64,
                        _ => Enc::Qp,
                    },
                    body: Vec::new(),
                },
                PartKind::Multipart => Node::Multi {
                    subtype: info.content_type.subtype().to_string(),
                    boundary: info.boundary.as_deref().unwrap_or_default().to_string(),
                    children: Vec::new(),
                },
                PartKind::Message => Node::Message(Box::new(Node::Leaf {
                    mime_type: String::new(),
                    enc: Enc::SevenBit,
                    body: Vec::new(),
                })),
                _ => unreachable!(),
            };
            stack.push(node);
        }
        MimeEvent::Body(b) => match stack.last_mut() {
            Some(Node::Leaf { body, .. }) => body.extend_from_slice(&b),
            other => panic!("body outside a leaf: {other:?}"),
        },
        MimeEvent::PartEnd(_) => {
            let node = stack.pop().expect("open part");
            match stack.last_mut() {
                Some(Node::Multi { children, .. }) => children.push(node),
                Some(Node::Message(inner)) => **inner = node,
                Some(Node::Leaf { .. }) => panic!("part inside a leaf"),
                None => done = Some(node),
            }
        }
        MimeEvent::Warning(_) => warnings += 1,
        _ => {}
    };
    let mut at = 0;
    let mut i = 0;
    while at < input.len() {
        let n = cuts
            .get(i % cuts.len().max(1))
            .copied()
            .unwrap_or(input.len())
            .max(1);
        let end = (at + n).min(input.len());
        parser.feed(&input[at..end]);
        at = end;
        i += 1;
        while let Some(e) = parser.poll_event() {
            handle(e);
        }
    }
    parser.finish();
    while let Some(e) = parser.poll_event() {
        handle(e);
    }
    assert!(parser.is_done());
    (done.expect("the message ended"), warnings)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_trees_round_trip(
        mut t in tree(),
        cuts in prop::collection::vec(1usize..200, 1..10),
    ) {
        let mut n = 0;
        uniquify(&mut t, &mut n);
        let mut bytes = Vec::new();
        serialize(&t, &mut bytes);
        let (back, warnings) = parse_tree(&bytes, &cuts);
        prop_assert_eq!(&back, &t);
        prop_assert_eq!(warnings, 0);
        // And one octet at a time.
        let (back, _) = parse_tree(&bytes, &[1]);
        prop_assert_eq!(back, t);
    }

    #[test]
    fn any_input_is_parsed_without_panic_in_bounded_memory(
        words in prop::collection::vec(
            prop_oneof![
                Just(&b"\r\n"[..]), Just(&b"\n"[..]), Just(&b"\r"[..]), Just(&b"--b"[..]), Just(&b"--b--"[..]),
                Just(&b"--c\r\n"[..]), Just(&b"Content-Type: multipart/mixed; boundary=b\r\n"[..]),
                Just(&b"Content-Type: multipart/digest; boundary=c\r\n\r\n"[..]),
                Just(&b"Content-Type: message/rfc822\r\n"[..]), Just(&b"Content-Transfer-Encoding: base64\r\n"[..]),
                Just(&b"Content-Transfer-Encoding: quoted-printable\r\n"[..]), Just(&b"Content-Disposition: attachment; filename*0*=utf-8''%E2; filename*1=x\r\n"[..]),
                Just(&b"=?utf-8?B?4oKs?="[..]), Just(&b"="[..]), Just(&b"=4"[..]), Just(&b"QUJD"[..]),
                Just(&b" "[..]), Just(&b":"[..]), Just(&b"X"[..]), Just(&b"\xff"[..]),
            ],
            0..120,
        ),
        junk in prop::collection::vec(any::<u8>(), 0..64),
        cuts in prop::collection::vec(1usize..50, 1..6),
    ) {
        let mut input: Vec<u8> = words.concat();
        input.extend_from_slice(&junk);
        let mut config = MimeConfig::default();
        config.max_header_line = 64;
        config.max_header_block = 256;
        config.max_depth = 4;
        config.max_parts = 12;
        let mut parser = Parser::new(config);
        let mut depth = 0usize;
        let mut parts = 0usize;
        let mut at = 0;
        let mut i = 0;
        loop {
            let n = cuts[i % cuts.len()];
            let end = (at + n).min(input.len());
            parser.feed(&input[at..end]);
            at = end;
            i += 1;
            if at == input.len() {
                parser.finish();
            }
            while let Some(e) = parser.poll_event() {
                match e {
                    MimeEvent::PartStart(info) => {
                        prop_assert_eq!(info.depth, depth);
                        prop_assert!(info.depth <= 4);
                        prop_assert!(info.headers.iter().map(|f| f.raw().len()).sum::<usize>() <= 256);
                        depth += 1;
                        parts += 1;
                    }
                    MimeEvent::PartEnd(end) => {
                        depth -= 1;
                        prop_assert_eq!(end.depth, depth);
                    }
                    MimeEvent::Body(b) => prop_assert!(!b.is_empty()),
                    MimeEvent::Warning(w) => prop_assert!(w.part < parts, "warning names a started part"),
                    _ => {}
                }
            }
            // Held back: at most a folded field of the block and a partial header line, or
            // the start of a possible delimiter line.
            prop_assert!(parser.buffered() <= 256 + 64, "held {}", parser.buffered());
            if at == input.len() {
                break;
            }
        }
        prop_assert!(parser.is_done());
        prop_assert_eq!(depth, 0);
        prop_assert!(parts <= 12);
    }
}

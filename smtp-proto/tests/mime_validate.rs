//! RFC 5322 header validation: one test per rule, each with passing and failing input, and
//! the validator run on the real messages of tests/fixtures/mime.

use smtp_proto::mime::{
    validate_headers, HeaderField, MimeConfig, MimeEvent, Parser, Violation, ViolationKind,
};

/// A well-formed header block; tests replace or add fields.
const BASE: &[&str] = &[
    "From: Mary Smith <mary@example.net>\r\n",
    "Date: Fri, 21 Nov 1997 09:55:06 -0600\r\n",
];

fn fields(lines: &[&str]) -> Vec<HeaderField> {
    lines
        .iter()
        .map(|l| HeaderField::parse(l.to_string().into()).expect("a field"))
        .collect()
}

fn check(lines: &[&str]) -> Vec<(String, ViolationKind)> {
    validate_headers(&fields(lines))
        .into_iter()
        .map(|Violation { field, kind, .. }| (field.to_string(), kind))
        .collect()
}

fn with(extra: &[&str]) -> Vec<(String, ViolationKind)> {
    let mut lines = BASE.to_vec();
    lines.extend_from_slice(extra);
    check(&lines)
}

fn v(field: &str, kind: ViolationKind) -> (String, ViolationKind) {
    (field.to_string(), kind)
}

#[test]
fn a_valid_block_has_no_violations() {
    assert_eq!(check(BASE), []);
    assert_eq!(
        with(&[
            "To: John Doe <jdoe@machine.example>, \"Q. Public\" <q@example.com>\r\n",
            "Cc: Undisclosed recipients:;\r\n",
            "Subject: =?utf-8?Q?Gr=C3=BC=C3=9Fe?=\r\n",
            "Message-ID: <1234@local.machine.example>\r\n",
            "X-Anything: at all\r\n",
            "Received: from a by b; Fri, 21 Nov 1997 09:55:06 -0600\r\n",
            "Received: from c by d; Fri, 21 Nov 1997 09:55:06 -0600\r\n",
        ]),
        []
    );
}

#[test]
fn exactly_one_from() {
    assert_eq!(
        check(&[BASE[1]]),
        [v("From", ViolationKind::Missing)],
        "missing"
    );
    assert_eq!(
        with(&["From: other@example.net\r\n"]),
        [v("From", ViolationKind::Duplicate { count: 2 })]
    );
}

#[test]
fn exactly_one_date() {
    assert_eq!(check(&[BASE[0]]), [v("Date", ViolationKind::Missing)]);
    assert_eq!(
        with(&["date: Tue, 1 Jul 2003 10:52:37 +0200\r\n"]),
        [v("Date", ViolationKind::Duplicate { count: 2 })],
        "names are case-insensitive"
    );
}

#[test]
fn at_most_one_of_each_singleton() {
    for (line, name) in [
        ("Sender: s@example.net\r\n", "Sender"),
        ("Reply-To: r@example.net\r\n", "Reply-To"),
        ("To: t@example.net\r\n", "To"),
        ("Cc: c@example.net\r\n", "Cc"),
        ("Bcc: b@example.net\r\n", "Bcc"),
        ("Message-ID: <1@example.net>\r\n", "Message-ID"),
        ("In-Reply-To: <0@example.net>\r\n", "In-Reply-To"),
        ("References: <0@example.net>\r\n", "References"),
        ("Subject: hello\r\n", "Subject"),
    ] {
        assert_eq!(with(&[line]), [], "one {name}");
        assert_eq!(
            with(&[line, line]),
            [v(name, ViolationKind::Duplicate { count: 2 })],
            "two {name}"
        );
    }
    // Fields that may repeat.
    assert_eq!(
        with(&[
            "Comments: a\r\n",
            "Comments: b\r\n",
            "Keywords: x\r\n",
            "Keywords: y\r\n"
        ]),
        []
    );
}

#[test]
fn sender_required_with_several_from_mailboxes() {
    let two = "From: a@example.net, b@example.net\r\n";
    assert_eq!(
        check(&[two, BASE[1]]),
        [v("Sender", ViolationKind::SenderRequired { mailboxes: 2 })]
    );
    assert_eq!(check(&[two, BASE[1], "Sender: a@example.net\r\n"]), []);
}

#[test]
fn field_names_are_printable_ascii() {
    for bad in [
        "Bad Name: x\r\n",
        "X-Trailing-Space : x\r\n",
        "X-Ünicode: x\r\n",
        "X-\x01Control: x\r\n",
        ": empty name\r\n",
    ] {
        assert_eq!(
            with(&[bad]).len(),
            1,
            "{bad:?} gives one violation: {:?}",
            with(&[bad])
        );
        assert_eq!(with(&[bad])[0].1, ViolationKind::InvalidName, "{bad:?}");
    }
    assert_eq!(with(&["X-Odd!#$%&'*+-.^_`|~123: fine\r\n"]), []);
}

#[test]
fn date_must_parse() {
    for bad in [
        "Date: yesterday\r\n",
        "Date: 2026-11-25T23:37:23Z\r\n",
        "Date: Thu, 21 Nov 1997 09:55:06 -0600\r\n",
        "Date: Fri, 31 Nov 1997 09:55:06 -0600\r\n",
    ] {
        assert_eq!(
            check(&[BASE[0], bad]),
            [v("Date", ViolationKind::InvalidDate)],
            "{bad:?}"
        );
    }
    assert_eq!(
        check(&[
            BASE[0],
            "Date: Thu,\r\n 13 Feb 1969 23:32 -0330 (Newfoundland Time)\r\n"
        ]),
        []
    );
    assert_eq!(
        with(&["Resent-Date: not a date\r\n"]),
        [v("Resent-Date", ViolationKind::InvalidDate)]
    );
}

#[test]
fn address_fields_must_parse() {
    for (bad, name) in [
        ("From: Mary Smith\r\n", "From"),
        ("From: Group: a@example.net;\r\n", "From"),
        ("Sender: a@example.net, b@example.net\r\n", "Sender"),
        ("Reply-To: <a@example.net\r\n", "Reply-To"),
        ("To: john smith@example.net\r\n", "To"),
        ("To:\r\n", "To"),
        ("Cc: a@\r\n", "Cc"),
        ("Bcc: (unterminated comment\r\n", "Bcc"),
    ] {
        let mut lines = vec![BASE[1], bad];
        if name != "From" {
            lines.push(BASE[0]);
        }
        assert_eq!(
            check(&lines),
            [v(name, ViolationKind::InvalidAddress)],
            "{bad:?}"
        );
    }
    for good in [
        "Sender: Michael Jones <mjones@machine.example>\r\n",
        "Reply-To: \"Mary Smith: Personal Account\" <smith@home.example>\r\n",
        "To: A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;\r\n",
        "Cc: <@route.example:user@[192.0.2.1]>\r\n",
        "Bcc:\r\n",
        "Bcc: (hidden)\r\n",
    ] {
        assert_eq!(with(&[good]), [], "{good:?}");
    }
}

#[test]
fn lines_at_most_998_octets() {
    let ok = format!("Subject: {}\r\n", "x".repeat(998 - 9));
    assert_eq!(with(&[&ok]), []);
    let long = format!("Subject: {}\r\n", "x".repeat(999 - 9));
    assert_eq!(
        with(&[&long]),
        [v("Subject", ViolationKind::LineTooLong { length: 999 })]
    );
    // Folding keeps each line short.
    let folded = format!("Subject: {}\r\n {}\r\n", "x".repeat(900), "y".repeat(900));
    assert_eq!(with(&[&folded]), []);
}

#[test]
fn no_bare_cr_or_lf() {
    for bad in [
        "Subject: a\rb\r\n",
        "Subject: lf only\n",
        "Subject: folded\n with bare LF\r\n",
        "Subject: ends in CR\r",
    ] {
        assert_eq!(
            with(&[bad]),
            [v("Subject", ViolationKind::BareLineEnding)],
            "{bad:?}"
        );
    }
    assert_eq!(with(&["Subject: folded\r\n properly\r\n"]), []);
}

#[test]
fn violations_display_with_their_rfc_section() {
    let s = validate_headers(&fields(&[BASE[1]]))[0].to_string();
    assert_eq!(s, "From: required field missing (RFC 5322 section 3.6)");
}

/// The top-level header fields of a real message, from the parser.
fn top_level_violations(name: &str) -> Vec<(String, ViolationKind)> {
    let path = format!("{}/tests/fixtures/mime/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut parser = Parser::new(MimeConfig::default());
    parser.feed(&std::fs::read(path).unwrap());
    parser.finish();
    while let Some(e) = parser.poll_event() {
        if let MimeEvent::PartStart(info) = e {
            return validate_headers(&info.headers)
                .into_iter()
                .map(|v| (v.field.to_string(), v.kind))
                .collect();
        }
    }
    panic!("no part")
}

#[test]
fn real_messages() {
    for name in [
        "lettre-alternative.eml",
        "lettre-attachments.eml",
        "lettre-forward.eml",
        "python-crlf.eml",
        "python-legacy.eml",
    ] {
        assert_eq!(top_level_violations(name), [], "{name}");
    }
    // Python's default policy writes LF line endings: every field has a bare LF.
    let lf = top_level_violations("python-lf.eml");
    assert!(!lf.is_empty());
    assert!(lf.iter().all(|(_, k)| *k == ViolationKind::BareLineEnding));
}

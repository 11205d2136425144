//! Targets for the parsers on their own: command lines, paths and domains, ESMTP parameters.

use bytes::Bytes;
use smtp_proto::address::{AddressError, Domain, DomainKind, ForwardPath, Mailbox, ReversePath};
use smtp_proto::fuzzing as core;
use smtp_proto::params::{BodyType, MailParams, ParamError, RcptParams, Ret};

/// The verbs the core must recognise, and the names `core::split` gives them. Verbs the core
/// may add (LHLO, say) are checked by the rule that a recognised verb is named after its word.
const VERBS: &[(&str, &str)] = &[
    ("HELO", "HELO"),
    ("EHLO", "EHLO"),
    ("MAIL", "MAIL"),
    ("RCPT", "RCPT"),
    ("DATA", "DATA"),
    ("BDAT", "BDAT"),
    ("RSET", "RSET"),
    ("NOOP", "NOOP"),
    ("QUIT", "QUIT"),
    ("VRFY", "VRFY"),
    ("EXPN", "EXPN"),
    ("HELP", "HELP"),
    ("STARTTLS", "STARTTLS"),
    ("AUTH", "AUTH"),
    ("GET", "HTTP"),
    ("POST", "HTTP"),
    ("CONNECT", "HTTP"),
];

/// A command line (CRLF removed): the verb and argument split, and the BDAT argument parser,
/// against independent reference implementations.
pub fn command_line(data: &[u8]) {
    let (verb, arg) = core::split(data);
    // The argument is everything after the first SP, as a suffix of the line.
    let (word, expected_arg) = match data.iter().position(|&c| c == b' ') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &data[data.len()..]),
    };
    assert_eq!(
        arg,
        expected_arg,
        "argument of {:?}",
        String::from_utf8_lossy(data)
    );
    assert_eq!(
        arg.as_ptr_range().end,
        data.as_ptr_range().end,
        "argument is not a suffix"
    );
    match VERBS
        .iter()
        .find(|(w, _)| word.eq_ignore_ascii_case(w.as_bytes()))
    {
        Some(&(_, name)) => assert_eq!(verb, name, "verb of {:?}", String::from_utf8_lossy(data)),
        None if verb == "UNKNOWN" => {}
        None => assert!(
            word.eq_ignore_ascii_case(verb.as_bytes()),
            "{:?} recognised as {verb}",
            String::from_utf8_lossy(data)
        ),
    }
    // Case does not matter (RFC 5321 2.4).
    assert_eq!(core::split(&data.to_ascii_lowercase()).0, verb);
    assert_eq!(core::split(&data.to_ascii_uppercase()).0, verb);

    // BDAT chunk-size [SP "LAST"] (RFC 3030 section 2), on the argument and on the whole line.
    for a in [arg, data] {
        assert_eq!(
            core::parse_bdat(a),
            reference_bdat(a),
            "BDAT {:?}",
            String::from_utf8_lossy(a)
        );
    }
    let trimmed = core::trim_end_sp(arg);
    assert!(!trimmed.ends_with(b" ") && arg.starts_with(trimmed));
    for prefix in [&b"FROM:"[..], b"TO:"] {
        let stripped = core::strip_prefix_ci(arg, prefix);
        let expected = (arg.len() >= prefix.len()
            && arg[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| &arg[prefix.len()..]);
        assert_eq!(stripped, expected);
    }
}

/// RFC 3030's `bdat-cmd ::= "BDAT" SP chunk-size [ SP end-marker ] CRLF`, `chunk-size ::=
/// 1*DIGIT`, with trailing spaces tolerated and the size limited to what fits a `u64`.
fn reference_bdat(arg: &[u8]) -> Option<(u64, bool)> {
    let s = std::str::from_utf8(arg).ok()?.trim_end_matches(' ');
    let (size, last) = match s.split_once(' ') {
        Some((size, marker)) if marker.eq_ignore_ascii_case("LAST") => (size, true),
        Some(_) => return None,
        None => (s, false),
    };
    if size.is_empty() || size.len() > 20 || !size.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let n: u128 = size.parse().ok()?;
    Some((u64::try_from(n).ok()?, last))
}

/// Paths and domains: the RFC 5321 4.1.2 limits hold for whatever parses, the parse is zero-copy,
/// printing and parsing again gives the same value, and the two path parsers agree.
pub fn address(data: &[u8]) {
    let src = Bytes::copy_from_slice(data);
    let rev = core::parse_reverse_path(&src);
    let fwd = core::parse_forward_path(&src);

    if let Ok((path, used)) = &rev {
        check_used(&src, *used);
        match path {
            ReversePath::Null => assert_eq!(&src[..2], b"<>"),
            ReversePath::Mailbox(m) => {
                check_mailbox(&src, m, *used);
                // The same text is a forward-path with the same mailbox.
                assert_eq!(
                    fwd.as_ref().ok(),
                    Some(&(ForwardPath::Mailbox(m.clone()), *used))
                );
            }
        }
        let printed = Bytes::from(path.to_string());
        assert_eq!(
            core::parse_reverse_path(&printed),
            Ok((path.clone(), printed.len()))
        );
    }
    if let Ok((path, used)) = &fwd {
        check_used(&src, *used);
        match path {
            ForwardPath::Postmaster => {
                assert!(src[..*used].eq_ignore_ascii_case(b"<postmaster>"));
            }
            ForwardPath::Mailbox(m) => {
                check_mailbox(&src, m, *used);
                assert_eq!(
                    rev.as_ref().ok(),
                    Some(&(ReversePath::Mailbox(m.clone()), *used))
                );
            }
        }
        let printed = Bytes::from(path.to_string());
        assert_eq!(
            core::parse_forward_path(&printed),
            Ok((path.clone(), printed.len()))
        );
    }
    // Apart from `<>` and `<postmaster>`, the two grammars are the same, errors included.
    let special = src.starts_with(b"<>")
        || src.len() >= 12 && src[..12].eq_ignore_ascii_case(b"<postmaster>");
    if !special {
        assert_eq!(
            rev.as_ref().err(),
            fwd.as_ref().err(),
            "{:?}",
            String::from_utf8_lossy(data)
        );
    }

    let domain = core::parse_domain(&src);
    if let Ok(d) = &domain {
        assert_eq!(d.as_str().as_bytes(), data);
        assert!(data.len() <= 255, "domain over 255 octets");
        check_domain(d);
        assert!(inside(&src, d.as_str()), "domain copied");
    }
    if let Ok(s) = std::str::from_utf8(data) {
        assert_eq!(
            Domain::parse(s),
            domain,
            "Domain::parse and parse_domain disagree"
        );
        if let Ok(m) = Mailbox::parse(s) {
            assert_eq!(m.to_string(), s);
            check_limits(&m);
            // A bare mailbox is a path once bracketed (unless the path limit bites).
            let path = Bytes::from(format!("<{s}>"));
            match core::parse_forward_path(&path) {
                Ok((p, used)) => {
                    assert_eq!(used, path.len());
                    assert_eq!(p.mailbox(), Some(&m));
                }
                Err(e) => assert_eq!(e, AddressError::PathTooLong, "{s:?}"),
            }
        }
    }
}

fn check_used(src: &Bytes, used: usize) {
    assert!(used >= 2 && used <= src.len());
    assert_eq!(src[0], b'<');
    assert_eq!(src[used - 1], b'>');
}

fn check_mailbox(src: &Bytes, m: &Mailbox, used: usize) {
    assert!(used <= 256, "path over 256 octets");
    check_limits(m);
    assert!(inside(src, m.local_part()), "local part copied");
    assert!(inside(src, m.domain_str()), "domain copied");
    // Without a source route the path is printed exactly as sent.
    if src.get(1) != Some(&b'@') {
        assert_eq!(format!("<{m}>").as_bytes(), &src[..used]);
    }
}

fn check_limits(m: &Mailbox) {
    assert!(m.local_part().len() <= 64, "local part over 64 octets");
    assert!(m.domain_str().len() <= 255, "domain over 255 octets");
    assert_eq!(Mailbox::parse(&m.to_string()).as_ref(), Ok(m));
    let local = m.local_part();
    let unquoted = m.local_part_unquoted();
    if local.starts_with('"') {
        assert!(unquoted.len() + 2 <= local.len());
    } else {
        assert_eq!(unquoted, local);
    }
    assert_eq!(m.is_ascii(), m.to_string().is_ascii());
    check_domain(&m.domain());
    assert_eq!(m.as_str(), format!("{}@{}", m.local_part(), m.domain_str()));
}

fn check_domain(d: &Domain) {
    assert_eq!(Domain::parse(d.as_str()).as_ref(), Ok(d));
    let literal = d.as_str().starts_with('[');
    match d.kind() {
        DomainKind::Name => assert!(!literal, "an address literal classified as a name: {d}"),
        DomainKind::Ipv4(ip) => {
            assert!(literal);
            // Leading zeros are allowed, so compare numerically.
            let inner = &d.as_str()[1..d.as_str().len() - 1];
            let octets: Vec<u8> = inner.split('.').map(|p| p.parse().unwrap()).collect();
            assert_eq!(octets, ip.octets());
        }
        DomainKind::Ipv6(ip) => {
            assert!(literal);
            let inner = &d.as_str()[6..d.as_str().len() - 1];
            assert_eq!(inner.parse(), Ok(ip));
        }
        DomainKind::General { tag, content } => {
            assert!(literal);
            assert_eq!(format!("[{tag}:{content}]"), d.as_str());
            assert!(!tag.eq_ignore_ascii_case("IPv6"));
        }
    }
}

/// Whether `s` lies inside the buffer of `src` (the parse did not copy it).
fn inside(src: &Bytes, s: &str) -> bool {
    let range = src.as_ptr_range();
    let p = s.as_ptr();
    s.is_empty() || (range.start <= p && p.wrapping_add(s.len()) <= range.end)
}

/// ESMTP parameters of MAIL and RCPT: what parses obeys the RFC limits, is zero-copy, and
/// prints to a canonical form that parses back to the same value.
pub fn params(data: &[u8]) {
    let src = Bytes::copy_from_slice(data);
    match core::parse_mail_params(&src) {
        Ok(p) => {
            if let Some(envid) = &p.envid {
                assert!(envid.len() <= 100, "ENVID over 100 characters");
                assert!(
                    smtp_proto::params::decode_xtext(envid).is_some(),
                    "ENVID not xtext"
                );
                assert!(inside(&src, envid));
            }
            if let Some(auth) = &p.auth {
                assert!(!auth.is_empty());
                assert!(inside(&src, auth));
            }
            let printed = Bytes::from(print_mail(&p));
            assert_eq!(
                core::parse_mail_params(&printed).as_ref(),
                Ok(&p),
                "{printed:?}"
            );
        }
        Err(e) => check_param_error(&src, &e),
    }
    match core::parse_rcpt_params(&src) {
        Ok(p) => {
            if let Some(n) = &p.notify {
                assert!(!n.never() || !(n.success() || n.failure() || n.delay()));
                assert!(n.never() || n.success() || n.failure() || n.delay());
            }
            if let Some(o) = &p.orcpt {
                assert!(o.addr_type.chars().count() + 1 + o.address.chars().count() <= 500);
                assert!(!o.addr_type.is_empty());
                assert!(inside(&src, &o.addr_type) && inside(&src, &o.address));
            }
            let printed = Bytes::from(print_rcpt(&p));
            assert_eq!(
                core::parse_rcpt_params(&printed).as_ref(),
                Ok(&p),
                "{printed:?}"
            );
        }
        Err(e) => check_param_error(&src, &e),
    }
}

fn check_param_error(src: &Bytes, e: &ParamError) {
    match e {
        ParamError::Unknown(k) | ParamError::Duplicate(k) | ParamError::BadValue(k) => {
            assert!(!k.is_empty());
            assert!(k.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'));
            assert!(inside(src, k), "keyword copied");
        }
        ParamError::Syntax | ParamError::SizeOverflow => {}
        _ => {}
    }
}

fn print_mail(p: &MailParams) -> String {
    let mut s = String::new();
    if let Some(n) = p.size {
        s += &format!(" SIZE={n}");
    }
    if let Some(b) = p.body {
        s += match b {
            BodyType::SevenBit => " BODY=7BIT",
            BodyType::EightBitMime => " BODY=8BITMIME",
            BodyType::BinaryMime => " BODY=BINARYMIME",
            _ => unreachable!("a body type this target does not know"),
        };
    }
    if p.smtputf8 {
        s += " SMTPUTF8";
    }
    if let Some(r) = p.ret {
        s += match r {
            Ret::Full => " RET=FULL",
            Ret::Headers => " RET=HDRS",
        };
    }
    if let Some(e) = &p.envid {
        s += &format!(" ENVID={e}");
    }
    if p.requiretls {
        s += " REQUIRETLS";
    }
    if let Some(a) = &p.auth {
        s += &format!(" AUTH={a}");
    }
    s
}

fn print_rcpt(p: &RcptParams) -> String {
    let mut s = String::new();
    if let Some(n) = &p.notify {
        let mut items = Vec::new();
        if n.never() {
            items.push("NEVER");
        }
        if n.success() {
            items.push("SUCCESS");
        }
        if n.failure() {
            items.push("FAILURE");
        }
        if n.delay() {
            items.push("DELAY");
        }
        s += &format!(" NOTIFY={}", items.join(","));
    }
    if let Some(o) = &p.orcpt {
        s += &format!(" ORCPT={};{}", o.addr_type, o.address);
    }
    s
}

//! Command verbs (RFC 5321 section 4.1.1): recognising the verb of a command line.
//!
//! Verbs are case-insensitive (RFC 5321 section 2.4). The argument grammar of each command is
//! parsed by the session, with [`crate::address`] and [`crate::params`].

/// The verb of a command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verb {
    Helo,
    Ehlo,
    Mail,
    Rcpt,
    Data,
    Bdat,
    Rset,
    Noop,
    Quit,
    Vrfy,
    Expn,
    Help,
    StartTls,
    Auth,
    /// LMTP's hello (RFC 2033 section 4.1).
    Lhlo,
    /// `GET`, `POST`, `CONNECT`: an HTTP client (or a browser-borne cross-protocol attack)
    /// talking to the SMTP port, refused at once like Postfix's `smtpd_forbidden_commands`.
    Http,
    Unknown,
}

/// Splits a command line (CRLF already removed) into its verb and its argument. The argument
/// is what follows the first SP (empty when there is none). A verb followed by anything other
/// than SP or the end of the line is `Unknown`.
pub(crate) fn split(line: &[u8]) -> (Verb, &[u8]) {
    // The common case, a known four-letter verb (letters only, so no SP in it): no search
    // for the SP.
    let (head, arg_at) = match *line {
        [a, b, c, d] => ([a, b, c, d], 4),
        [a, b, c, d, b' ', ..] => ([a, b, c, d], 5),
        _ => ([0; 4], 0),
    };
    if arg_at > 0 {
        let verb = verb4(head);
        if verb != Verb::Unknown {
            return (verb, &line[arg_at..]);
        }
    }
    let (word, arg) = match memchr::memchr(b' ', line) {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, &line[line.len()..]),
    };
    let verb = if let Ok(head) = <[u8; 4]>::try_from(word) {
        verb4(head)
    } else if word.eq_ignore_ascii_case(b"STARTTLS") {
        Verb::StartTls
    } else if word.eq_ignore_ascii_case(b"GET") || word.eq_ignore_ascii_case(b"CONNECT") {
        Verb::Http
    } else {
        Verb::Unknown
    };
    (verb, arg)
}

/// A four-octet verb, case-insensitively: one OR folds the case of all four octets (only
/// letters become lower-case letters under `| 0x20`).
pub(crate) fn verb4(word: [u8; 4]) -> Verb {
    const fn w(s: &[u8; 4]) -> u32 {
        u32::from_le_bytes(*s)
    }
    match u32::from_le_bytes(word) | 0x2020_2020 {
        x if x == w(b"helo") => Verb::Helo,
        x if x == w(b"ehlo") => Verb::Ehlo,
        x if x == w(b"mail") => Verb::Mail,
        x if x == w(b"rcpt") => Verb::Rcpt,
        x if x == w(b"data") => Verb::Data,
        x if x == w(b"bdat") => Verb::Bdat,
        x if x == w(b"rset") => Verb::Rset,
        x if x == w(b"noop") => Verb::Noop,
        x if x == w(b"quit") => Verb::Quit,
        x if x == w(b"vrfy") => Verb::Vrfy,
        x if x == w(b"expn") => Verb::Expn,
        x if x == w(b"help") => Verb::Help,
        x if x == w(b"auth") => Verb::Auth,
        x if x == w(b"lhlo") => Verb::Lhlo,
        x if x == w(b"post") => Verb::Http,
        _ => Verb::Unknown,
    }
}

/// Strips a case-insensitive `prefix` (such as `FROM:`) from `arg`. (The session matches its
/// prefixes with [`Ci`]; a test checks that the two agree.)
#[cfg_attr(not(any(test, feature = "fuzzing")), allow(dead_code))]
#[inline]
pub(crate) fn strip_prefix_ci<'a>(arg: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let head = arg.get(..prefix.len())?;
    eq_ci(head, prefix).then(|| &arg[prefix.len()..])
}

/// `a.eq_ignore_ascii_case(b)` for a constant `b`, without folding every octet of both: an
/// octet matches when it is the same, or when `b`'s is a letter and `a`'s folds to it with
/// one OR (only the two cases of that letter do).
#[inline]
pub(crate) fn eq_ci(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(&x, &y)| x == y || (y.is_ascii_alphabetic() && x | 0x20 == y | 0x20))
}

/// The eight octets of `b` from `pos` as a little-endian word, zero-padded past the end of `b`
/// (0 when `pos` is at or past the end): for looking at a few octets at once without reading
/// out of bounds.
#[inline]
pub(crate) fn word_at(b: &[u8], pos: usize) -> u64 {
    if pos + 8 <= b.len() {
        if let Ok(w) = <[u8; 8]>::try_from(&b[pos..pos + 8]) {
            return u64::from_le_bytes(w);
        }
    }
    word_at_end(b, pos)
}

/// [`word_at`] within the last eight octets of `b`, out of line.
#[inline(never)]
fn word_at_end(b: &[u8], pos: usize) -> u64 {
    let rest = b.len().saturating_sub(pos);
    if rest == 0 {
        return 0;
    }
    if let Some(last) = b.last_chunk::<8>() {
        // The last eight octets, shifted so that `b[pos]` is the lowest.
        return u64::from_le_bytes(*last) >> (8 * (8 - rest));
    }
    let mut w = [0u8; 8];
    w[..rest].copy_from_slice(&b[pos..]);
    u64::from_le_bytes(w)
}

/// A case-insensitive pattern of up to eight ASCII octets, matched against a [`word_at`] in
/// one OR, one AND and one comparison: the OR folds the case of the octets where the pattern
/// has a letter (only the two cases of a letter fold onto it), the AND ignores the octets
/// past the pattern.
#[derive(Clone, Copy)]
pub(crate) struct Ci {
    pattern: u64,
    fold: u64,
    mask: u64,
}

impl Ci {
    /// The pattern for `s` (at most 8 octets).
    pub(crate) const fn new(s: &[u8]) -> Ci {
        assert!(s.len() <= 8);
        let (mut pattern, mut fold, mut mask) = (0u64, 0u64, 0u64);
        let mut i = 0;
        while i < s.len() {
            let c = s[i];
            let letter = c.is_ascii_alphabetic();
            pattern |= ((if letter { c | 0x20 } else { c }) as u64) << (8 * i);
            fold |= (if letter { 0x20u64 } else { 0 }) << (8 * i);
            mask |= 0xffu64 << (8 * i);
            i += 1;
        }
        Ci {
            pattern,
            fold,
            mask,
        }
    }

    /// Whether the octets of `word` start with the pattern, case-insensitively.
    #[inline]
    pub(crate) fn is(&self, word: u64) -> bool {
        (word | self.fold) & self.mask == self.pattern
    }
}

/// Parses the argument of `BDAT`: `chunk-size [SP "LAST"]` (RFC 3030 section 2).
/// `None` when the size is missing, not decimal, or does not fit in a `u64`.
pub(crate) fn parse_bdat(arg: &[u8]) -> Option<(u64, bool)> {
    let arg = trim_end_sp(arg);
    let (size, rest) = match memchr::memchr(b' ', arg) {
        Some(i) => (&arg[..i], &arg[i + 1..]),
        None => (arg, &arg[arg.len()..]),
    };
    if size.is_empty() || size.len() > 20 || !size.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = size.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })?;
    let last = match rest {
        b"" => false,
        r if eq_ci(r, b"LAST") => true,
        _ => return None,
    };
    Some((n, last))
}

/// `arg` without trailing spaces (some clients send them).
pub(crate) fn trim_end_sp(mut arg: &[u8]) -> &[u8] {
    while let [rest @ .., b' '] = arg {
        arg = rest;
    }
    arg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_are_case_insensitive() {
        assert_eq!(split(b"ehlo x"), (Verb::Ehlo, &b"x"[..]));
        assert_eq!(split(b"MaIl FROM:<>"), (Verb::Mail, &b"FROM:<>"[..]));
        assert_eq!(split(b"StartTLS"), (Verb::StartTls, &b""[..]));
        assert_eq!(split(b"QUIT"), (Verb::Quit, &b""[..]));
        assert_eq!(split(b"lhlo x"), (Verb::Lhlo, &b"x"[..]));
        assert_eq!(split(b"QUITX"), (Verb::Unknown, &b""[..]));
        assert_eq!(split(b"QUI"), (Verb::Unknown, &b""[..]));
        assert_eq!(split(b""), (Verb::Unknown, &b""[..]));
        assert_eq!(split(b" tst"), (Verb::Unknown, &b"tst"[..]));
        assert_eq!(split(b"a b "), (Verb::Unknown, &b"b "[..]));
        assert_eq!(split(b"GET / HTTP/1.1").0, Verb::Http);
        assert_eq!(split(b"post /x HTTP/1.0").0, Verb::Http);
        assert_eq!(split(b"CONNECT a:25 HTTP/1.1").0, Verb::Http);
        assert_eq!(
            split(b"DATA\t").0,
            Verb::Unknown,
            "only SP separates the verb"
        );
    }

    #[test]
    fn bdat_arguments() {
        assert_eq!(parse_bdat(b"0"), Some((0, false)));
        assert_eq!(parse_bdat(b"10 LAST"), Some((10, true)));
        assert_eq!(parse_bdat(b"10 last "), Some((10, true)));
        assert_eq!(parse_bdat(b"18446744073709551615"), Some((u64::MAX, false)));
        assert_eq!(parse_bdat(b"18446744073709551616"), None);
        assert_eq!(parse_bdat(b""), None);
        assert_eq!(parse_bdat(b"-1"), None);
        assert_eq!(parse_bdat(b"1 FIRST"), None);
        assert_eq!(parse_bdat(b"1  LAST"), None);
    }

    #[test]
    fn words_and_patterns() {
        let b = b"0123456789";
        assert_eq!(word_at(b, 0), u64::from_le_bytes(*b"01234567"));
        assert_eq!(word_at(b, 2), u64::from_le_bytes(*b"23456789"));
        assert_eq!(word_at(b, 3), u64::from_le_bytes(*b"3456789\0"));
        assert_eq!(word_at(b, 9), u64::from(b'9'));
        assert_eq!(word_at(b, 10), 0);
        assert_eq!(word_at(b, 99), 0);
        assert_eq!(word_at(b"abc", 1), u64::from_le_bytes(*b"bc\0\0\0\0\0\0"));
        assert_eq!(word_at(b"", 0), 0);
        let size = Ci::new(b"SIZE=");
        for yes in ["SIZE=1", "size=", "SiZe=xyzw"] {
            assert!(size.is(word_at(yes.as_bytes(), 0)), "{yes}");
        }
        for no in ["SIZE", "SIZE:", "SIZ=", "sise=", "\u{13}IZE=", "SIZE\u{1d}"] {
            assert!(!size.is(word_at(no.as_bytes(), 0)), "{no}");
        }
        // Every octet that is not the letter folds to something else.
        for c in 0..=255u8 {
            let w = word_at(&[c], 0);
            assert_eq!(Ci::new(b"a").is(w), c.eq_ignore_ascii_case(&b'a'), "{c}");
            assert_eq!(Ci::new(b"8").is(w), c == b'8', "{c}");
            assert_eq!(Ci::new(b"=").is(w), c == b'=', "{c}");
        }
    }

    #[test]
    fn patterns_strip_prefixes_like_strip_prefix_ci() {
        let inputs: [&[u8]; 12] = [
            b"FROM:<a@b>",
            b"from:",
            b"FrOm: <>",
            b"FROM",
            b"FROM <a@b>",
            b"FRO",
            b"",
            b"FROM;",
            b"TO:<a@b>",
            b"to:",
            b"T0:",
            b"TO",
        ];
        for prefix in [&b"FROM:"[..], b"TO:"] {
            let ci = Ci::new(prefix);
            for b in inputs {
                assert_eq!(ci.is(word_at(b, 0)), strip_prefix_ci(b, prefix).is_some());
            }
            for c in 0..=255u8 {
                for at in 0..prefix.len() {
                    let mut b = prefix.to_vec();
                    b[at] = c;
                    let ci_says = ci.is(word_at(&b, 0));
                    assert_eq!(ci_says, strip_prefix_ci(&b, prefix).is_some(), "{b:?}");
                }
            }
        }
    }

    #[test]
    fn prefixes() {
        assert_eq!(strip_prefix_ci(b"from:<>", b"FROM:"), Some(&b"<>"[..]));
        assert_eq!(strip_prefix_ci(b"FRO", b"FROM:"), None);
        assert_eq!(trim_end_sp(b"a  "), b"a");
        assert_eq!(trim_end_sp(b"   "), b"");
    }
}

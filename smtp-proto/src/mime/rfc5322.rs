//! The RFC 5322 section 3.2 lexical tokens and the section 3.4 address grammar, as
//! recognisers: they say whether a value parses (and how many mailboxes it names), for
//! [`validate_headers`](super::validate_headers). Obsolete syntax (section 4) is accepted
//! where a receiver must accept it; UTF-8 is accepted where RFC 6532 allows it.

/// Why a value does not parse (the validator only needs yes or no).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Invalid;

type R<T> = Result<T, Invalid>;

/// A cursor over an unfolded field value.
pub(crate) struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(s: &'a str) -> Cursor<'a> {
        Cursor {
            s: s.as_bytes(),
            pos: 0,
        }
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    pub(crate) fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// `[CFWS]`: white space and nested comments (3.2.2). An unterminated comment is an
    /// error.
    pub(crate) fn cfws(&mut self) -> R<()> {
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\r' | b'\n') => self.pos += 1,
                Some(b'(') => self.comment()?,
                _ => return Ok(()),
            }
        }
    }

    fn comment(&mut self) -> R<()> {
        let mut depth = 0usize;
        while let Some(b) = self.peek() {
            self.pos += 1;
            match b {
                b'(' => depth += 1,
                b')' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return Ok(());
                    }
                }
                b'\\' => {
                    if self.peek().is_none() {
                        return Err(Invalid);
                    }
                    self.pos += 1;
                }
                _ => {}
            }
        }
        Err(Invalid)
    }

    /// `1*atext` (3.2.3), without surrounding CFWS. `false` (and nothing consumed) when
    /// there is none.
    pub(crate) fn atom(&mut self) -> bool {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if !is_atext(b) {
                break;
            }
            self.pos += 1;
        }
        self.pos > start
    }

    /// A run of ASCII digits: its value (saturating) and length.
    pub(crate) fn digits(&mut self) -> (u32, usize) {
        let start = self.pos;
        let mut v: u32 = 0;
        while let Some(b @ b'0'..=b'9') = self.peek() {
            v = v.saturating_mul(10).saturating_add(u32::from(b - b'0'));
            self.pos += 1;
        }
        (v, self.pos - start)
    }

    /// A run of ASCII letters.
    pub(crate) fn letters(&mut self) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_alphabetic()) {
            self.pos += 1;
        }
        self.s.get(start..self.pos).unwrap_or_default()
    }

    /// `quoted-string` (3.2.4) without surrounding CFWS. `Ok(false)` when the next octet is
    /// not `"`.
    fn quoted_string(&mut self) -> R<bool> {
        if !self.eat(b'"') {
            return Ok(false);
        }
        while let Some(b) = self.peek() {
            self.pos += 1;
            match b {
                b'"' => return Ok(true),
                b'\\' => {
                    if self.peek().is_none() {
                        return Err(Invalid);
                    }
                    self.pos += 1;
                }
                _ => {}
            }
        }
        Err(Invalid)
    }

    /// `word` (3.2.5): an atom or a quoted-string.
    fn word(&mut self) -> R<bool> {
        Ok(self.atom() || self.quoted_string()?)
    }
}

/// `atext` (3.2.3), plus any non-ASCII octet (RFC 6532 section 3.2, UTF-8).
fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b) || b >= 0x80
}

/// Parses a `mailbox-list` (3.4) and returns the number of mailboxes (at least one).
pub(crate) fn mailbox_list(value: &str) -> R<usize> {
    let mut c = Cursor::new(value);
    let n = list(&mut c, false, None)?;
    if n.1 == 0 {
        return Err(Invalid);
    }
    Ok(n.0)
}

/// Parses an `address-list` (3.4) and returns the number of mailboxes (groups may be
/// empty). With `allow_empty`, a value of only CFWS is accepted (Bcc, 3.6.3).
pub(crate) fn address_list(value: &str, allow_empty: bool) -> R<usize> {
    let mut c = Cursor::new(value);
    let (mailboxes, addresses) = list(&mut c, true, None)?;
    if addresses == 0 && !allow_empty {
        return Err(Invalid);
    }
    Ok(mailboxes)
}

/// Parses a single `mailbox` (3.4), as Sender takes.
pub(crate) fn single_mailbox(value: &str) -> R<()> {
    let mut c = Cursor::new(value);
    address(&mut c, false)?;
    c.cfws()?;
    if c.at_end() {
        Ok(())
    } else {
        Err(Invalid)
    }
}

/// A comma-separated list up to `end` (or the end of the value). Empty elements are the
/// obsolete syntax of 4.4 and are accepted. Returns (mailboxes, addresses).
fn list(c: &mut Cursor<'_>, groups: bool, end: Option<u8>) -> R<(usize, usize)> {
    let (mut mailboxes, mut addresses) = (0, 0);
    loop {
        c.cfws()?;
        if c.peek() == end {
            return Ok((mailboxes, addresses));
        }
        if c.eat(b',') {
            continue;
        }
        mailboxes += address(c, groups)?;
        addresses += 1;
        c.cfws()?;
        if c.peek() == end {
            return Ok((mailboxes, addresses));
        }
        if !c.eat(b',') {
            return Err(Invalid);
        }
    }
}

/// `address` (or `mailbox` without groups): returns how many mailboxes it names.
fn address(c: &mut Cursor<'_>, groups: bool) -> R<usize> {
    c.cfws()?;
    if c.peek() == Some(b'<') {
        angle_addr(c)?;
        return Ok(1);
    }
    // A phrase (display name, group name) or a local-part: words and dots.
    let (mut words, mut local_ok, mut last_word) = (0usize, true, false);
    loop {
        c.cfws()?;
        if c.word()? {
            local_ok &= !last_word;
            last_word = true;
            words += 1;
        } else if c.eat(b'.') {
            // obs-phrase allows dots after the first word (4.1).
            if words == 0 {
                return Err(Invalid);
            }
            local_ok &= last_word;
            last_word = false;
        } else {
            break;
        }
    }
    c.cfws()?;
    match c.peek() {
        Some(b'<') if words > 0 => {
            angle_addr(c)?;
            Ok(1)
        }
        Some(b'@') if words > 0 && local_ok && last_word => {
            c.pos += 1;
            domain(c)?;
            Ok(1)
        }
        Some(b':') if groups && words > 0 => {
            c.pos += 1;
            let (n, _) = list(c, false, Some(b';'))?;
            if !c.eat(b';') {
                return Err(Invalid);
            }
            Ok(n)
        }
        _ => Err(Invalid),
    }
}

/// `angle-addr` (3.4), with the obsolete route of 4.4.
fn angle_addr(c: &mut Cursor<'_>) -> R<()> {
    if !c.eat(b'<') {
        return Err(Invalid);
    }
    c.cfws()?;
    if c.peek() == Some(b'@') || c.peek() == Some(b',') {
        // obs-route: obs-domain-list ":"
        loop {
            c.cfws()?;
            if c.eat(b',') {
                continue;
            }
            if c.eat(b'@') {
                domain(c)?;
                continue;
            }
            break;
        }
        if !c.eat(b':') {
            return Err(Invalid);
        }
    }
    addr_spec(c)?;
    c.cfws()?;
    if c.eat(b'>') {
        Ok(())
    } else {
        Err(Invalid)
    }
}

/// `addr-spec` (3.4.1): local-part "@" domain.
fn addr_spec(c: &mut Cursor<'_>) -> R<()> {
    loop {
        c.cfws()?;
        if !c.word()? {
            return Err(Invalid);
        }
        c.cfws()?;
        if !c.eat(b'.') {
            break;
        }
    }
    if !c.eat(b'@') {
        return Err(Invalid);
    }
    domain(c)
}

/// `domain` (3.4.1): a dot-atom or a domain-literal (obs-domain allows CFWS around dots).
fn domain(c: &mut Cursor<'_>) -> R<()> {
    c.cfws()?;
    if c.eat(b'[') {
        while let Some(b) = c.peek() {
            c.pos += 1;
            match b {
                b']' => return c.cfws(),
                b'[' => return Err(Invalid),
                b'\\' => c.pos += 1,
                _ => {}
            }
        }
        return Err(Invalid);
    }
    loop {
        c.cfws()?;
        if !c.atom() {
            return Err(Invalid);
        }
        c.cfws()?;
        if !c.eat(b'.') {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc5322_appendix_a_addresses() {
        // A.1.1 - A.1.3, A.5, A.6.3
        assert_eq!(mailbox_list("John Doe <jdoe@machine.example>"), Ok(1));
        assert_eq!(
            mailbox_list("\"Joe Q. Public\" <john.q.public@example.com>"),
            Ok(1)
        );
        assert_eq!(
            address_list(
                "Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>",
                false
            ),
            Ok(3)
        );
        assert_eq!(
            address_list(
                "<boss@nil.test>, \"Giant; \\\"Big\\\" Box\" <sysservices@example.net>",
                false
            ),
            Ok(2)
        );
        assert_eq!(
            address_list(
                "A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;",
                false
            ),
            Ok(3)
        );
        assert_eq!(address_list("Undisclosed recipients:;", false), Ok(0));
        assert_eq!(
            mailbox_list("Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>"),
            Ok(1)
        );
        assert_eq!(
            address_list(
                "(Empty list)(start)Hidden recipients  :(nobody(that I know))  ;",
                false
            ),
            Ok(0)
        );
        // A.6.1 obsolete forms: route, dotted phrase, empty list elements.
        assert_eq!(
            mailbox_list("Joe Q. Public <john.q.public@example.com>"),
            Ok(1)
        );
        assert_eq!(
            address_list(
                "<@machine.tld:mary@example.net>, , jdoe@test   . example",
                false
            ),
            Ok(2)
        );
        assert_eq!(
            single_mailbox("Michael Jones <mjones@machine.example>"),
            Ok(())
        );
        assert_eq!(
            mailbox_list("=?utf-8?Q?Zo=C3=AB?= <z@[192.0.2.1]>, \"ü\" <ü@bücher.example>"),
            Ok(2)
        );
    }

    #[test]
    fn invalid_addresses() {
        for bad in [
            "",
            "jdoe",
            "john smith@example.com",
            "<jdoe@example.com",
            "a@b, <>",
            "Group: a@b",
            "a@b c@d",
            "(unterminated a@b",
            "a@",
            "@b",
            "a@b.",
            ".a@b",
            "a@[b",
            "\"a@b",
        ] {
            assert_eq!(address_list(bad, false), Err(Invalid), "{bad:?}");
        }
        assert_eq!(address_list("  (nobody) ", true), Ok(0));
        assert_eq!(mailbox_list("Group: a@b;"), Err(Invalid));
        assert_eq!(single_mailbox("a@b, c@d"), Err(Invalid));
    }
}

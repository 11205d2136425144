//! Mailboxes, domains and the paths of `MAIL FROM` and `RCPT TO`.
//!
//! The grammar is RFC 5321 section 4.1.2 (paths, mailboxes, domains) and section 4.1.3 (address
//! literals), extended by RFC 6531 section 3.3 (SMTPUTF8): atoms, quoted strings and domain
//! labels may also contain UTF-8 encoded non-ASCII characters. The size limits are those of
//! RFC 5321 section 4.5.3.1.
//!
//! Parsed values are slices of the buffer the command was read into (see [`Text`]): parsing a
//! path allocates nothing.

use crate::command::word_at;
use crate::Text;
use bytes::{Buf, Bytes, BytesMut};
use std::borrow::Cow;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Range;
use std::str::FromStr;

/// Maximum length of a local part, in octets (RFC 5321 section 4.5.3.1.1).
const MAX_LOCAL_PART: usize = 64;
/// Maximum length of a domain name or address literal, in octets (RFC 5321 section 4.5.3.1.2).
const MAX_DOMAIN: usize = 255;
/// Maximum length of a reverse-path or forward-path including the angle brackets and any
/// source route, in octets (RFC 5321 section 4.5.3.1.3).
const MAX_PATH: usize = 256;
/// Maximum length of one domain label, in octets (RFC 1035 section 2.3.4).
const MAX_LABEL: usize = 63;

/// Why a path, mailbox or domain was rejected.
///
/// A server answers all of these with 501 (RFC 5321 section 4.1.2: "invalid character codes"
/// and section 4.5.3.1.9 for the length limits); the length variants let it say which limit was
/// exceeded (e.g. with enhanced code 5.1.3 or 5.1.10, RFC 3463).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// The input does not match the grammar of RFC 5321 section 4.1.2 / 4.1.3 (as extended by
    /// RFC 6531 section 3.3), or is not valid UTF-8.
    #[error("syntax error in mailbox or path (RFC 5321 section 4.1.2)")]
    Syntax,
    /// The local part is longer than 64 octets (RFC 5321 section 4.5.3.1.1).
    #[error("local part longer than 64 octets (RFC 5321 section 4.5.3.1.1)")]
    LocalPartTooLong,
    /// A domain or address literal is longer than 255 octets (RFC 5321 section 4.5.3.1.2).
    #[error("domain longer than 255 octets (RFC 5321 section 4.5.3.1.2)")]
    DomainTooLong,
    /// The path, brackets and source route included, is longer than 256 octets (RFC 5321
    /// section 4.5.3.1.3).
    #[error("path longer than 256 octets (RFC 5321 section 4.5.3.1.3)")]
    PathTooLong,
}

// ---------------------------------------------------------------------------------------------
// Domain
// ---------------------------------------------------------------------------------------------

/// A domain name or an address literal, exactly as the client wrote it.
///
/// Either `Domain` (RFC 5321 section 4.1.2: dot-separated labels of letters, digits and inner
/// hyphens, or U-labels with non-ASCII characters per RFC 6531 section 3.3) or
/// `address-literal` (RFC 5321 section 4.1.3: `[192.0.2.1]`, `[IPv6:2001:db8::1]`,
/// `[tag:content]`). Use [`Domain::kind`] to tell them apart.
///
/// Equality and hashing compare the text exactly as written; DNS names are case-insensitive, so
/// compare [`Domain::as_str`] with `eq_ignore_ascii_case` where that matters.
///
/// ```
/// use smtp_proto::address::{Domain, DomainKind};
/// let d = Domain::parse("[IPv6:2001:db8::1]").unwrap();
/// assert!(matches!(d.kind(), DomainKind::Ipv6(_)));
/// assert_eq!(Domain::parse("mail.example.com").unwrap().kind(), DomainKind::Name);
/// assert!(Domain::parse("bad_label.example").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Domain(Text);

/// What a [`Domain`] is: a name or one of the address-literal forms of RFC 5321 section 4.1.3.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DomainKind<'a> {
    /// A domain name (RFC 5321 section 4.1.2 `Domain`, possibly with RFC 6531 U-labels).
    Name,
    /// An IPv4 address literal, `[192.0.2.1]` (RFC 5321 section 4.1.3 `IPv4-address-literal`).
    Ipv4(Ipv4Addr),
    /// An IPv6 address literal, `[IPv6:2001:db8::1]` (RFC 5321 section 4.1.3
    /// `IPv6-address-literal`; the tag is matched case-insensitively).
    Ipv6(Ipv6Addr),
    /// Any other tagged literal, `[tag:content]` (RFC 5321 section 4.1.3
    /// `General-address-literal`).
    General {
        /// The `Standardized-tag` (an `Ldh-str`).
        tag: &'a str,
        /// The address, `1*dcontent`.
        content: &'a str,
    },
}

impl Domain {
    /// The domain or address literal as written (brackets included for a literal).
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The underlying [`Text`], sharing the buffer the command was read into.
    pub fn as_text(&self) -> &Text {
        &self.0
    }

    /// Whether this is a domain name or which kind of address literal (RFC 5321
    /// section 4.1.3).
    pub fn kind(&self) -> DomainKind<'_> {
        let s = self.as_str();
        match s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            // Validated when the Domain was built, so classify_literal succeeds; `Name` is only
            // a defensive fallback.
            Some(inner) => classify_literal(inner).unwrap_or(DomainKind::Name),
            None => DomainKind::Name,
        }
    }

    /// Parses a string that must be exactly a `Domain` or an `address-literal` (RFC 5321
    /// sections 4.1.2 and 4.1.3), at most 255 octets (section 4.5.3.1.2). This convenience
    /// copies `s`.
    pub fn parse(s: &str) -> Result<Domain, AddressError> {
        parse_domain(&Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl FromStr for Domain {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Domain, AddressError> {
        Domain::parse(s)
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// ---------------------------------------------------------------------------------------------
// Mailbox
// ---------------------------------------------------------------------------------------------

/// A mailbox, `Local-part "@" ( Domain / address-literal )` (RFC 5321 section 4.1.2).
///
/// The local part is kept exactly as written, quotes and backslashes included; RFC 5321
/// section 4.1.2 says it "MAY be case-sensitive", so no case folding happens here. Equality
/// compares the mailbox exactly as written.
///
/// The mailbox is one [`Text`], `local@domain` as sent, with the position of the `@`: the
/// parts are cut out of it on demand.
///
/// ```
/// use smtp_proto::address::Mailbox;
/// let m = Mailbox::parse(r#""john\ doe"@example.com"#).unwrap();
/// assert_eq!(m.local_part(), r#""john\ doe""#);
/// assert_eq!(m.local_part_unquoted(), "john doe");
/// assert_eq!(m.domain_str(), "example.com");
/// assert_eq!(m.as_str(), r#""john\ doe"@example.com"#);
/// assert_eq!(m.to_string(), m.as_str());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Mailbox {
    /// `local@domain`.
    text: Text,
    /// The offset of the `@` that ends the local part (a quoted local part may contain `@`).
    at: usize,
}

impl Mailbox {
    /// The mailbox as written, `local@domain`.
    pub fn as_str(&self) -> &str {
        self.text.as_str()
    }

    /// The mailbox as a [`Text`], sharing the buffer the command was read into.
    pub fn as_text(&self) -> &Text {
        &self.text
    }

    /// The local part as written: a `Dot-string`, or a `Quoted-string` with its quotes and
    /// backslashes (RFC 5321 section 4.1.2).
    pub fn local_part(&self) -> &str {
        self.as_str().get(..self.at).unwrap_or_default()
    }

    /// The local part as a [`Text`] of its own, sharing the buffer the command was read into
    /// (a reference count; [`local_part`](Self::local_part) is free).
    pub fn local_part_text(&self) -> Text {
        Text::trusted(self.text.as_bytes().slice(..self.at))
    }

    /// The local part with the quoting removed: the surrounding quotes dropped and each
    /// `quoted-pairSMTP` replaced by the character it quotes (RFC 5321 section 4.1.2, "all
    /// quoted forms MUST be treated as equivalent"). Borrowed unless a backslash had to be
    /// resolved.
    pub fn local_part_unquoted(&self) -> Cow<'_, str> {
        let s = self.local_part();
        let inner = match s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
            Some(inner) => inner,
            None => return Cow::Borrowed(s),
        };
        if !inner.contains('\\') {
            return Cow::Borrowed(inner);
        }
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                // The grammar guarantees a character follows a backslash.
                if let Some(quoted) = chars.next() {
                    out.push(quoted);
                }
            } else {
                out.push(c);
            }
        }
        Cow::Owned(out)
    }

    /// The domain or address literal after the `@`, as written.
    pub fn domain_str(&self) -> &str {
        self.as_str().get(self.at + 1..).unwrap_or_default()
    }

    /// The domain or address literal after the `@`, as a [`Domain`] of its own, sharing the
    /// buffer the command was read into (a reference count; [`domain_str`](Self::domain_str)
    /// is free).
    pub fn domain(&self) -> Domain {
        Domain(Text::trusted(self.text.as_bytes().slice(self.at + 1..)))
    }

    /// Whether the mailbox is all ASCII, i.e. usable without the SMTPUTF8 extension (RFC 6531
    /// section 3.2).
    pub fn is_ascii(&self) -> bool {
        self.text.is_ascii()
    }

    /// Parses a bare `local@domain` (no angle brackets, no source route), checking the local
    /// part and domain limits of RFC 5321 sections 4.5.3.1.1 and 4.5.3.1.2. This convenience
    /// copies `s`.
    pub fn parse(s: &str) -> Result<Mailbox, AddressError> {
        let src = Bytes::copy_from_slice(s.as_bytes());
        let b: &[u8] = &src;
        let local_end = scan_local_part(b, 0)?;
        if b.get(local_end) != Some(&b'@') {
            return Err(AddressError::Syntax);
        }
        let domain_start = local_end + 1;
        let domain_end = scan_domain_or_literal(b, domain_start)?;
        if domain_end != b.len() {
            return Err(AddressError::Syntax);
        }
        let text = Text::from_utf8(src).map_err(|_| AddressError::Syntax)?;
        check_mailbox_limits(0..local_end, domain_start..domain_end)?;
        Ok(Mailbox {
            text,
            at: local_end,
        })
    }
}

impl FromStr for Mailbox {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Mailbox, AddressError> {
        Mailbox::parse(s)
    }
}

impl fmt::Display for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// ---------------------------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------------------------

/// The argument of `MAIL FROM:`, `Reverse-path = Path / "<>"` (RFC 5321 section 4.1.2).
///
/// A source route (`<@a.example:user@b.example>`) is accepted and dropped, as RFC 5321
/// section 4.1.2 and Appendix C require; only the final mailbox is kept.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ReversePath {
    /// The null reverse-path `<>`, used for notifications (RFC 5321 sections 4.5.5 and 6.1).
    Null,
    /// A sender mailbox.
    Mailbox(Mailbox),
}

impl ReversePath {
    /// The mailbox, or `None` for the null path.
    pub fn mailbox(&self) -> Option<&Mailbox> {
        match self {
            ReversePath::Null => None,
            ReversePath::Mailbox(m) => Some(m),
        }
    }
}

impl fmt::Display for ReversePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReversePath::Null => f.write_str("<>"),
            ReversePath::Mailbox(m) => write!(f, "<{m}>"),
        }
    }
}

/// The argument of `RCPT TO:`, `Forward-path = Path` (RFC 5321 section 4.1.2), or the special
/// unqualified `<Postmaster>` (RFC 5321 section 4.1.1.3, matched case-insensitively).
///
/// `<postmaster@example.com>` is an ordinary [`ForwardPath::Mailbox`]. A source route is
/// accepted and dropped (RFC 5321 Appendix C).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ForwardPath {
    /// `<Postmaster>` without a domain, which every server MUST accept (RFC 5321 sections 2.3.5
    /// and 4.1.1.3).
    Postmaster,
    /// A recipient mailbox.
    Mailbox(Mailbox),
}

impl ForwardPath {
    /// The mailbox, or `None` for the unqualified `<Postmaster>`.
    pub fn mailbox(&self) -> Option<&Mailbox> {
        match self {
            ForwardPath::Postmaster => None,
            ForwardPath::Mailbox(m) => Some(m),
        }
    }
}

impl fmt::Display for ForwardPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ForwardPath::Postmaster => f.write_str("<Postmaster>"),
            ForwardPath::Mailbox(m) => write!(f, "<{m}>"),
        }
    }
}

/// Parses the `Reverse-path` of `MAIL FROM:` (RFC 5321 section 4.1.2). `src` starts at the `<`;
/// returns the path and the number of bytes up to and including the closing `>`. Bytes after
/// the `>` are not looked at.
#[cfg_attr(not(any(test, feature = "fuzzing")), allow(dead_code))]
pub(crate) fn parse_reverse_path(src: &Bytes) -> Result<(ReversePath, usize), AddressError> {
    let scan = scan_path(src, PathKind::Reverse)?;
    Ok((scan.reverse_path(src.clone(), 0), scan.end()))
}

/// Parses the `Forward-path` of `RCPT TO:` (RFC 5321 section 4.1.2), including the special
/// `<Postmaster>` (section 4.1.1.3). `src` starts at the `<`; returns the path and the number
/// of bytes up to and including the closing `>`. `<>` is a syntax error here.
#[cfg_attr(not(any(test, feature = "fuzzing")), allow(dead_code))]
pub(crate) fn parse_forward_path(src: &Bytes) -> Result<(ForwardPath, usize), AddressError> {
    let scan = scan_path(src, PathKind::Forward)?;
    Ok((scan.forward_path(src.clone(), 0), scan.end()))
}

/// Parses input that must be exactly a `Domain` or an `address-literal` (RFC 5321 sections
/// 4.1.2 and 4.1.3), e.g. the argument of EHLO/HELO, at most 255 octets (section 4.5.3.1.2).
/// The result shares `src`'s buffer.
pub(crate) fn parse_domain(src: &Bytes) -> Result<Domain, AddressError> {
    let end = scan_domain_or_literal(src, 0)?;
    if end != src.len() {
        return Err(AddressError::Syntax);
    }
    let text = Text::from_utf8(src.clone()).map_err(|_| AddressError::Syntax)?;
    if end > MAX_DOMAIN {
        return Err(AddressError::DomainTooLong);
    }
    Ok(Domain(text))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PathKind {
    Reverse,
    Forward,
}

/// A path checked by [`scan_path`], as offsets into the scanned bytes: the grammar, UTF-8 and
/// the size limits all passed. Building the values from the buffer is then only slicing. Eight
/// octets (every offset is within the 256 octets of a path), so that it is passed around in a
/// register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PathScan {
    found: Found,
    /// Whether the path is all ASCII (no SMTPUTF8 needed, RFC 6531 section 3.2).
    pub(crate) ascii: bool,
    /// For a mailbox, the offset of its first octet and of the `@` after its local part; the
    /// domain ends at the closing `>`.
    local: u16,
    at: u16,
    /// Octets up to and including the closing `>`.
    end: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Found {
    Null,
    Postmaster,
    Mailbox,
}

impl PathScan {
    /// `<>` (2 octets) or `<Postmaster>` (`end` octets).
    fn special(found: Found, end: usize) -> PathScan {
        debug_assert!(end <= MAX_PATH);
        PathScan {
            found,
            ascii: true,
            local: 0,
            at: 0,
            end: end as u16,
        }
    }

    /// A mailbox from `local` to the `>` at `end - 1`, its local part ending at the `@` at
    /// `at`. All within the path limit of 256 octets, checked by the caller.
    fn mailbox_at(local: usize, at: usize, end: usize, ascii: bool) -> PathScan {
        debug_assert!(local < at && at < end && end <= MAX_PATH);
        PathScan {
            found: Found::Mailbox,
            ascii,
            local: local as u16,
            at: at as u16,
            end: end as u16,
        }
    }

    /// Octets up to and including the closing `>`.
    #[inline]
    pub(crate) fn end(&self) -> usize {
        usize::from(self.end)
    }

    /// The mailbox out of `src`, in which the scanned bytes start at `offset`. The cuts are
    /// next to ASCII delimiters (`<`, `:`, `>`) of a path checked to be UTF-8, so they fall
    /// on character boundaries.
    #[inline(always)]
    fn mailbox(&self, mut src: Bytes, offset: usize) -> Option<Mailbox> {
        if self.found != Found::Mailbox {
            return None;
        }
        src.truncate(offset + self.end() - 1);
        src.advance(offset + usize::from(self.local));
        Some(Mailbox {
            text: Text::trusted(src),
            at: usize::from(self.at - self.local),
        })
    }

    /// [`mailbox`](Self::mailbox) out of the line still in the receive buffer's handle: its
    /// end is cut before the freeze (no check of the kind of buffer that `Bytes` needs).
    #[inline(always)]
    fn mailbox_mut(&self, mut src: BytesMut, offset: usize) -> Option<Mailbox> {
        if self.found != Found::Mailbox {
            return None;
        }
        src.truncate(offset + self.end() - 1);
        let mut text = src.freeze();
        text.advance(offset + usize::from(self.local));
        Some(Mailbox {
            text: Text::trusted(text),
            at: usize::from(self.at - self.local),
        })
    }

    /// [`reverse_path`](Self::reverse_path) of a line still in a `BytesMut`.
    #[inline]
    pub(crate) fn reverse_path_mut(&self, src: BytesMut, offset: usize) -> ReversePath {
        match self.mailbox_mut(src, offset) {
            Some(m) => ReversePath::Mailbox(m),
            None => ReversePath::Null,
        }
    }

    /// [`forward_path`](Self::forward_path) of a line still in a `BytesMut`.
    #[inline]
    pub(crate) fn forward_path_mut(&self, src: BytesMut, offset: usize) -> ForwardPath {
        match self.mailbox_mut(src, offset) {
            Some(m) => ForwardPath::Mailbox(m),
            None => ForwardPath::Postmaster,
        }
    }

    /// The reverse-path (for a scan of [`PathKind::Reverse`]), taking `src`.
    #[inline]
    pub(crate) fn reverse_path(&self, src: Bytes, offset: usize) -> ReversePath {
        match self.mailbox(src, offset) {
            Some(m) => ReversePath::Mailbox(m),
            None => ReversePath::Null,
        }
    }

    /// The forward-path (for a scan of [`PathKind::Forward`]), taking `src`.
    #[inline]
    pub(crate) fn forward_path(&self, src: Bytes, offset: usize) -> ForwardPath {
        match self.mailbox(src, offset) {
            Some(m) => ForwardPath::Mailbox(m),
            None => ForwardPath::Postmaster,
        }
    }
}

/// The shared body of the two path parsers: checks a path at the start of `b`.
///
/// The grammar is checked on bytes first (every delimiter is ASCII, and non-ASCII bytes are
/// only admitted where RFC 6531 allows UTF8-non-ascii); the path is then checked to be UTF-8 as
/// a whole, and finally the size limits are applied.
pub(crate) fn scan_path(b: &[u8], kind: PathKind) -> Result<PathScan, AddressError> {
    if let Some(scan) = scan_path_fast(b) {
        return Ok(scan);
    }
    scan_path_full(b, kind)
}

/// [`scan_path`] by the grammar alone, without the fast path.
#[inline(never)]
pub(crate) fn scan_path_full(b: &[u8], kind: PathKind) -> Result<PathScan, AddressError> {
    if b.first() != Some(&b'<') {
        return Err(AddressError::Syntax);
    }
    if b.get(1) == Some(&b'>') {
        return match kind {
            PathKind::Reverse => Ok(PathScan::special(Found::Null, 2)),
            PathKind::Forward => Err(AddressError::Syntax),
        };
    }
    let mut i = 1;
    // A-d-l = At-domain *( "," At-domain ), At-domain = "@" Domain; followed by ":".
    let mut longest_route_domain = 0;
    let routed = b.get(i) == Some(&b'@');
    if routed {
        loop {
            // b[i] is '@'.
            let start = i + 1;
            i = scan_domain(b, start)?;
            longest_route_domain = longest_route_domain.max(i - start);
            match b.get(i) {
                Some(b',') if b.get(i + 1) == Some(&b'@') => i += 1,
                Some(b':') => {
                    i += 1;
                    break;
                }
                _ => return Err(AddressError::Syntax),
            }
        }
    }
    let local_start = i;
    let local_end = scan_local_part(b, local_start)?;
    let local = local_start..local_end;
    if kind == PathKind::Forward
        && !routed
        && b.get(local_end) == Some(&b'>')
        && b.get(local.clone())
            .is_some_and(|l| l.eq_ignore_ascii_case(b"postmaster"))
    {
        return Ok(PathScan::special(Found::Postmaster, local_end + 1));
    }
    if b.get(local_end) != Some(&b'@') {
        return Err(AddressError::Syntax);
    }
    let domain_start = local_end + 1;
    let domain_end = scan_domain_or_literal(b, domain_start)?;
    if b.get(domain_end) != Some(&b'>') {
        return Err(AddressError::Syntax);
    }
    let end = domain_end + 1;
    let path = b.get(..end).unwrap_or_default();
    let ascii = path.is_ascii();
    if !ascii && std::str::from_utf8(path).is_err() {
        return Err(AddressError::Syntax);
    }
    if longest_route_domain > MAX_DOMAIN {
        return Err(AddressError::DomainTooLong);
    }
    let domain = domain_start..domain_end;
    check_mailbox_limits(local.clone(), domain.clone())?;
    if end > MAX_PATH {
        return Err(AddressError::PathTooLong);
    }
    Ok(PathScan::mailbox_at(local_start, local_end, end, ascii))
}

/// The common path, `"<" Dot-string "@" Domain ">"` in ASCII without a source route, a
/// quoted local part or an address literal, within every size limit: `Some` with exactly what
/// [`scan_path_full`] gives for it (either kind of path: neither `<>` nor `<Postmaster>` is of
/// this form), `None` for anything else, valid or not, which the full grammar then decides.
///
/// Eight octets at a time: letters, most of a path, are told apart from the rest with a few
/// word operations ([`special_octets`]), and only the other octets (dots, `@`, `>`, digits,
/// hyphens, the other `atext` specials) are looked at one by one.
pub(crate) fn scan_path_fast(b: &[u8]) -> Option<PathScan> {
    scan_path_fast_inline(b)
}

/// [`scan_path_fast`], inlined where it counts.
#[inline(always)]
pub(crate) fn scan_path_fast_inline(b: &[u8]) -> Option<PathScan> {
    if b.first() != Some(&b'<') {
        return None;
    }
    // The local part, a Dot-string: where the last dot was (0: none yet; b[0] is the '<').
    let mut last_dot = 0;
    let mut pos = 1;
    let mut w;
    let mut special;
    let at = 'local: loop {
        w = word_at(b, pos);
        special = special_octets(w);
        while special != 0 {
            let bit = special.trailing_zeros();
            special &= special - 1;
            let i = pos + (bit / 8) as usize;
            // The octet itself, from the word (the padding past the end of `b` is 0, which
            // is not atext).
            match (w >> (bit - 7)) as u8 {
                b'.' if i != last_dot + 1 => last_dot = i,
                b'@' if i != last_dot + 1 && i <= MAX_LOCAL_PART + 1 => break 'local i,
                c => {
                    if !is_atext_special(c) {
                        return None; // misplaced dot or '@', or not of this form
                    }
                }
            }
        }
        pos += 8;
        if pos > MAX_LOCAL_PART + 1 {
            return None;
        }
    };
    // The domain, LDH labels, from the rest of the word of the '@' on. Where the current
    // label starts and where the last hyphen was.
    let mut label = at + 1;
    let mut hyphen = 0;
    loop {
        while special != 0 {
            let bit = special.trailing_zeros();
            special &= special - 1;
            let i = pos + (bit / 8) as usize;
            match (w >> (bit - 7)) as u8 {
                b'-' if i != label => hyphen = i,
                b'0'..=b'9' => {}
                c @ (b'.' | b'>') if i != label && i - label <= MAX_LABEL && hyphen + 1 != i => {
                    if c == b'.' {
                        label = i + 1;
                        continue;
                    }
                    let end = i + 1;
                    if end > MAX_PATH {
                        return None;
                    }
                    return Some(PathScan::mailbox_at(1, at, end, true));
                }
                _ => return None,
            }
        }
        pos += 8;
        if pos > MAX_PATH {
            return None;
        }
        w = word_at(b, pos);
        special = special_octets(w);
    }
}

/// `atext` other than letters and digits, ASCII only: `! # $ % & ' * + - / = ? ^ _ ` { | } ~`
/// (RFC 5322 section 3.2.3).
#[inline]
fn is_atext_special(c: u8) -> bool {
    c < 0x80 && CLASSES[c as usize] & ATEXT != 0
}

/// The high bit of each octet of `w` that is not an ASCII letter, at once for the eight octets
/// (SWAR): a lane of `x + (0x80 - lo)` has its high bit set when `x >= lo`, and with the high
/// bits cleared first no lane carries into the next. (Letters are most of an address; digits
/// are rarer and taken one by one with the other octets, which keeps this to a few operations.)
#[inline]
fn special_octets(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = ONES * 0x80;
    let in_range = |x: u64, lo: u8, hi: u8| {
        x.wrapping_add(ONES * u64::from(0x80 - lo)) & !x.wrapping_add(ONES * u64::from(0x7f - hi))
    };
    let x = w & !HIGH;
    // `| 0x20` maps exactly the upper-case letters onto the lower-case ones within 'a'..='z'.
    let alpha = in_range(x | (ONES * 0x20), b'a', b'z');
    (!alpha | w) & HIGH
}

/// RFC 5321 sections 4.5.3.1.1 and 4.5.3.1.2.
fn check_mailbox_limits(local: Range<usize>, domain: Range<usize>) -> Result<(), AddressError> {
    if local.len() > MAX_LOCAL_PART {
        return Err(AddressError::LocalPartTooLong);
    }
    if domain.len() > MAX_DOMAIN {
        return Err(AddressError::DomainTooLong);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Byte-level scanners. Each takes the input and a start index and returns the index just past
// the production, or `Syntax`. None of them indexes out of bounds: all access goes via `get`.
// Bytes >= 0x80 are admitted where RFC 6531 section 3.3 allows UTF8-non-ascii; the caller
// validates UTF-8 over the whole production afterwards.
// ---------------------------------------------------------------------------------------------

// Character classes, one bit each, looked up in a table: one load per byte instead of a
// chain of comparisons (the parsers run once per MAIL and RCPT, on every connection).
const ATEXT: u8 = 1;
const QTEXT: u8 = 2;
const LDH: u8 = 4; // letter, digit, hyphen, or UTF-8 non-ASCII (U-labels)
const DCONTENT: u8 = 8;

const CLASSES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0usize;
    while c < 256 {
        let b = c as u8;
        let mut bits = 0;
        let alnum = b.is_ascii_alphanumeric();
        // `atext` of RFC 5322 section 3.2.3, plus UTF8-non-ascii (RFC 6531 section 3.3).
        if alnum
            || b >= 0x80
            || matches!(b, b'!' | b'#'..=b'\'' | b'*' | b'+' | b'-' | b'/'
            | b'=' | b'?' | b'^'..=b'`' | b'{'..=b'~')
        {
            bits |= ATEXT;
        }
        // `qtextSMTP = %d32-33 / %d35-91 / %d93-126` (RFC 5321 section 4.1.2), plus
        // UTF8-non-ascii (RFC 6531 section 3.3).
        if matches!(b, 32..=33 | 35..=91 | 93..=126) || b >= 0x80 {
            bits |= QTEXT;
        }
        if alnum || b == b'-' || b >= 0x80 {
            bits |= LDH;
        }
        // `dcontent = %d33-90 / %d94-126` (RFC 5321 section 4.1.3).
        if matches!(b, 33..=90 | 94..=126) {
            bits |= DCONTENT;
        }
        t[c] = bits;
        c += 1;
    }
    t
};

/// The index of the first byte at or after `pos` that is not of `class`.
fn skip(b: &[u8], pos: usize, class: u8) -> usize {
    let rest = b.get(pos..).unwrap_or_default();
    pos + rest
        .iter()
        .position(|&c| CLASSES[c as usize] & class == 0)
        .unwrap_or(rest.len())
}

fn is_dcontent(c: u8) -> bool {
    CLASSES[c as usize] & DCONTENT != 0
}

/// `Local-part = Dot-string / Quoted-string` (RFC 5321 section 4.1.2).
fn scan_local_part(b: &[u8], pos: usize) -> Result<usize, AddressError> {
    if b.get(pos) == Some(&b'"') {
        scan_quoted_string(b, pos)
    } else {
        scan_dot_string(b, pos)
    }
}

/// `Dot-string = Atom *("." Atom)`, `Atom = 1*atext` (RFC 5321 section 4.1.2).
fn scan_dot_string(b: &[u8], pos: usize) -> Result<usize, AddressError> {
    let mut i = pos;
    loop {
        let start = i;
        i = skip(b, i, ATEXT);
        if i == start {
            return Err(AddressError::Syntax);
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
        } else {
            return Ok(i);
        }
    }
}

/// `Quoted-string = DQUOTE *QcontentSMTP DQUOTE`, `quoted-pairSMTP = %d92 %d32-126`
/// (RFC 5321 section 4.1.2). `b[pos]` is the opening quote.
fn scan_quoted_string(b: &[u8], pos: usize) -> Result<usize, AddressError> {
    let mut i = pos + 1;
    loop {
        i = skip(b, i, QTEXT);
        match b.get(i) {
            Some(b'"') => return Ok(i + 1),
            Some(b'\\') => match b.get(i + 1) {
                Some(32..=126) => i += 2,
                _ => return Err(AddressError::Syntax),
            },
            _ => return Err(AddressError::Syntax),
        }
    }
}

/// `Domain / address-literal` (RFC 5321 sections 4.1.2 and 4.1.3).
fn scan_domain_or_literal(b: &[u8], pos: usize) -> Result<usize, AddressError> {
    if b.get(pos) == Some(&b'[') {
        scan_address_literal(b, pos)
    } else {
        scan_domain(b, pos)
    }
}

/// `Domain = sub-domain *("." sub-domain)` (RFC 5321 section 4.1.2) where a sub-domain is
/// `Let-dig [Ldh-str]` or, per RFC 6531 section 3.3, a U-label. Labels are at most 63 octets
/// (RFC 1035 section 2.3.4). No trailing dot.
fn scan_domain(b: &[u8], pos: usize) -> Result<usize, AddressError> {
    let mut i = pos;
    loop {
        let start = i;
        i = skip(b, i, LDH);
        check_label(b.get(start..i).unwrap_or_default())?;
        if b.get(i) == Some(&b'.') {
            i += 1;
        } else {
            return Ok(i);
        }
    }
}

/// One label, already known to consist of letters, digits, hyphens and non-ASCII bytes:
/// non-empty, at most 63 octets, and neither starting nor ending with a hyphen. For an ASCII
/// label that is exactly `Let-dig [Ldh-str]`; a label with non-ASCII characters is taken as a
/// U-label (RFC 6531 section 3.3, RFC 5890) without the IDNA2008 character-property checks.
fn check_label(label: &[u8]) -> Result<(), AddressError> {
    match (label.first(), label.last()) {
        (Some(&first), Some(&last))
            if first != b'-' && last != b'-' && label.len() <= MAX_LABEL =>
        {
            Ok(())
        }
        _ => Err(AddressError::Syntax),
    }
}

/// `address-literal = "[" ( IPv4-address-literal / IPv6-address-literal /
/// General-address-literal ) "]"` (RFC 5321 section 4.1.3). `b[pos]` is the `[`.
fn scan_address_literal(b: &[u8], pos: usize) -> Result<usize, AddressError> {
    let start = pos + 1;
    // Every literal form is made of dcontent (IPv4 and IPv6 forms included).
    let i = skip(b, start, DCONTENT);
    if b.get(i) != Some(&b']') {
        return Err(AddressError::Syntax);
    }
    let inner = b
        .get(start..i)
        .and_then(|s| std::str::from_utf8(s).ok())
        .ok_or(AddressError::Syntax)?;
    classify_literal(inner).ok_or(AddressError::Syntax)?;
    Ok(i + 1)
}

/// Classifies the inside of an address literal (between the brackets), or `None` if it is
/// none of the forms of RFC 5321 section 4.1.3.
fn classify_literal(inner: &str) -> Option<DomainKind<'_>> {
    if let Some(ip) = parse_ipv4_literal(inner) {
        return Some(DomainKind::Ipv4(ip));
    }
    let (tag, content) = inner.split_once(':')?;
    if tag.eq_ignore_ascii_case("IPv6") {
        // IPv6-addr covers the full, compressed and IPv4-embedded forms; std parses all of
        // them (and nothing with a zone index or brackets).
        return content.parse().ok().map(DomainKind::Ipv6);
    }
    if is_ldh_str(tag) && !content.is_empty() && content.bytes().all(is_dcontent) {
        Some(DomainKind::General { tag, content })
    } else {
        None
    }
}

/// `IPv4-address-literal = Snum 3("." Snum)`, `Snum = 1*3DIGIT` with a value 0-255 (RFC 5321
/// section 4.1.3). Leading zeros are allowed by the grammar and accepted.
fn parse_ipv4_literal(s: &str) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = s.split('.');
    for octet in &mut octets {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        *octet = p.parse().ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(Ipv4Addr::from(octets))
}

/// `Ldh-str = *( ALPHA / DIGIT / "-" ) Let-dig` (RFC 5321 section 4.1.2).
fn is_ldh_str(s: &str) -> bool {
    s.bytes().last().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rev(s: &str) -> Result<(ReversePath, usize), AddressError> {
        parse_reverse_path(&Bytes::copy_from_slice(s.as_bytes()))
    }

    fn fwd(s: &str) -> Result<(ForwardPath, usize), AddressError> {
        parse_forward_path(&Bytes::copy_from_slice(s.as_bytes()))
    }

    fn fwd_mailbox(s: &str) -> Mailbox {
        match fwd(s) {
            Ok((ForwardPath::Mailbox(m), n)) => {
                assert_eq!(n, s.len(), "{s}");
                m
            }
            other => panic!("{s}: {other:?}"),
        }
    }

    fn inside(buf: &Bytes, s: &str) -> bool {
        let range = buf.as_ptr_range();
        let p = s.as_ptr();
        range.start <= p && p.wrapping_add(s.len()) <= range.end
    }

    // --- Reverse and forward paths -----------------------------------------------------------

    #[test]
    fn null_reverse_path() {
        assert_eq!(rev("<>").unwrap(), (ReversePath::Null, 2));
        assert_eq!(rev("<> SIZE=10").unwrap(), (ReversePath::Null, 2));
        assert_eq!(ReversePath::Null.to_string(), "<>");
        assert!(ReversePath::Null.mailbox().is_none());
    }

    #[test]
    fn null_forward_path_is_syntax_error() {
        assert_eq!(fwd("<>"), Err(AddressError::Syntax));
    }

    #[test]
    fn simple_paths_and_consumed_length() {
        let (p, n) = rev("<user@example.com> BODY=8BITMIME").unwrap();
        assert_eq!(n, 18);
        let m = p.mailbox().unwrap();
        assert_eq!(m.local_part(), "user");
        assert_eq!(m.domain_str(), "example.com");
        assert_eq!(p.to_string(), "<user@example.com>");
        let (p, n) = fwd("<a.b-c+d@mx.example.org>").unwrap();
        assert_eq!(n, 24);
        assert_eq!(p.to_string(), "<a.b-c+d@mx.example.org>");
        assert_eq!(p.mailbox().unwrap().local_part(), "a.b-c+d");
    }

    #[test]
    fn postmaster_forms() {
        assert_eq!(fwd("<postmaster>").unwrap(), (ForwardPath::Postmaster, 12));
        assert_eq!(fwd("<POSTMASTER>").unwrap(), (ForwardPath::Postmaster, 12));
        assert_eq!(
            fwd("<PostMaster> x").unwrap(),
            (ForwardPath::Postmaster, 12)
        );
        assert!(ForwardPath::Postmaster.mailbox().is_none());
        assert_eq!(ForwardPath::Postmaster.to_string(), "<Postmaster>");
        let m = fwd_mailbox("<postmaster@example.com>");
        assert_eq!(m.local_part(), "postmaster");
        let m = fwd_mailbox("<Postmaster@x>");
        assert_eq!(m.domain_str(), "x");
        // Only the bare, unquoted, unrouted form is special.
        assert_eq!(rev("<postmaster>"), Err(AddressError::Syntax));
        assert_eq!(fwd("<\"postmaster\">"), Err(AddressError::Syntax));
        assert_eq!(fwd("<@a.example:postmaster>"), Err(AddressError::Syntax));
        assert_eq!(fwd("<postmistress>"), Err(AddressError::Syntax));
    }

    #[test]
    fn source_routes_are_accepted_and_dropped() {
        let s = "<@a.example,@b.example:user@c.example>";
        let m = fwd_mailbox(s);
        assert_eq!(m.to_string(), "user@c.example");
        let (p, n) = rev("<@a.example:u@b.example> ").unwrap();
        assert_eq!(n, 24);
        assert_eq!(p.mailbox().unwrap().domain_str(), "b.example");
        for bad in [
            "<@a.example>",
            "<@a.example:>",
            "<@:u@b>",
            "<@a.example,u@b>",
            "<@a.example,:u@b>",
            "<@a.example;u@b>",
            "<@[1.2.3.4]:u@b>",
            "<@a..b:u@b>",
        ] {
            assert_eq!(fwd(bad), Err(AddressError::Syntax), "{bad}");
        }
    }

    #[test]
    fn quoted_local_parts() {
        let m = fwd_mailbox(r#"<"john doe"@example.com>"#);
        assert_eq!(m.local_part(), "\"john doe\"");
        assert_eq!(m.local_part_unquoted(), "john doe");
        assert!(matches!(m.local_part_unquoted(), Cow::Borrowed(_)));
        let m = fwd_mailbox(r#"<"a\"b\\c\ d"@x.example>"#);
        assert_eq!(m.local_part(), r#""a\"b\\c\ d""#);
        assert_eq!(m.local_part_unquoted(), r#"a"b\c d"#);
        assert!(matches!(m.local_part_unquoted(), Cow::Owned(_)));
        // A '>' and '@' inside quotes do not end the path or the local part.
        let m = fwd_mailbox(r#"<"a>b@c"@x.example>"#);
        assert_eq!(m.local_part_unquoted(), "a>b@c");
        // Empty quoted string is allowed by *QcontentSMTP.
        assert_eq!(fwd_mailbox(r#"<""@x.example>"#).local_part_unquoted(), "");
        let m = fwd_mailbox("<plain@x.example>");
        assert!(matches!(m.local_part_unquoted(), Cow::Borrowed("plain")));
        for bad in [
            "<\"unterminated@x.example>",
            "<\"a\"b@x.example>",
            "<\"tab\there\"@x.example>",
            "<\"bs\\\u{7f}\"@x.example>",
            "<\"bad\\\"@x.example>",
            "<\"del\u{7f}\"@x.example>",
            "<\"lf\n\"@x.example>",
        ] {
            assert_eq!(fwd(bad), Err(AddressError::Syntax), "{bad:?}");
        }
    }

    #[test]
    fn dot_string_rules() {
        for good in ["<a@b>", "<!#$%&'*+-/=?^_`{|}~@b>", "<a.b.c@b>", "<1@2>"] {
            assert!(fwd(good).is_ok(), "{good}");
        }
        for bad in [
            "<.a@b>", "<a.@b>", "<a..b@b>", "<a b@b>", "<a(b)@b>", "<a,b@b>", "<@b>", "<a@>",
            "<a>", "<a@b", "a@b>", "", "<", "< a@b>", "<a@b >", "<a@@b>", "<a@b@c>",
        ] {
            assert_eq!(fwd(bad), Err(AddressError::Syntax), "{bad:?}");
        }
    }

    #[test]
    fn domain_rules() {
        for good in ["a", "a-b.c", "xn--bcher-kva.example", "0.1", "a1-2b.x9"] {
            let d = Domain::parse(good).unwrap();
            assert_eq!(d.as_str(), good);
            assert_eq!(d.kind(), DomainKind::Name);
        }
        for bad in [
            "",
            ".",
            "a.",
            ".a",
            "a..b",
            "-a.b",
            "a-.b",
            "a.b-",
            "under_score.example",
            "sp ace",
            "a b",
            "[]",
            "[1.2.3.4",
            "1.2.3.4]",
            "[1.2.3.4]x",
        ] {
            assert_eq!(Domain::parse(bad), Err(AddressError::Syntax), "{bad:?}");
        }
        assert_eq!("a.b".parse::<Domain>().unwrap().to_string(), "a.b");
    }

    #[test]
    fn label_length_edge() {
        let ok = format!("{}.example", "a".repeat(63));
        assert!(Domain::parse(&ok).is_ok());
        let bad = format!("{}.example", "a".repeat(64));
        assert_eq!(Domain::parse(&bad), Err(AddressError::Syntax));
    }

    #[test]
    fn ipv4_literals() {
        let d = Domain::parse("[192.0.2.1]").unwrap();
        assert_eq!(d.kind(), DomainKind::Ipv4(Ipv4Addr::new(192, 0, 2, 1)));
        let d = Domain::parse("[255.255.255.255]").unwrap();
        assert_eq!(d.kind(), DomainKind::Ipv4(Ipv4Addr::BROADCAST));
        let d = Domain::parse("[001.02.0.9]").unwrap();
        assert_eq!(d.kind(), DomainKind::Ipv4(Ipv4Addr::new(1, 2, 0, 9)));
        let m = fwd_mailbox("<u@[10.0.0.1]>");
        assert_eq!(
            m.domain().kind(),
            DomainKind::Ipv4(Ipv4Addr::new(10, 0, 0, 1))
        );
        for bad in [
            "[300.1.1.1]",
            "[256.0.0.0]",
            "[1.2.3]",
            "[1.2.3.4.5]",
            "[1.2.3.]",
            "[1..3.4]",
            "[0001.2.3.4]",
            "[1.2.3.4 ]",
            "[+1.2.3.4]",
        ] {
            assert_eq!(Domain::parse(bad), Err(AddressError::Syntax), "{bad}");
        }
        assert_eq!(fwd("<u@[300.1.1.1]>"), Err(AddressError::Syntax));
    }

    #[test]
    fn ipv6_literals() {
        let cases = [
            ("[IPv6:2001:db8::1]", "2001:db8::1"),
            ("[ipv6:::1]", "::1"),
            ("[IPV6:1:2:3:4:5:6:7:8]", "1:2:3:4:5:6:7:8"),
            ("[IPv6:::ffff:192.0.2.1]", "::ffff:192.0.2.1"),
            ("[IPv6:1:2:3:4:5:6:1.2.3.4]", "1:2:3:4:5:6:1.2.3.4"),
        ];
        for (lit, addr) in cases {
            let d = Domain::parse(lit).unwrap();
            assert_eq!(d.kind(), DomainKind::Ipv6(addr.parse().unwrap()), "{lit}");
        }
        for bad in [
            "[IPv6:zz::]",
            "[IPv6:]",
            "[IPv6:1.2.3.4]",
            "[IPv6:1:2:3:4:5:6:7:8:9]",
            "[IPv6:12345::]",
            "[IPv6:fe80::1%eth0]",
            "[IPv6:[::1]]",
            "[::1]",
        ] {
            assert_eq!(Domain::parse(bad), Err(AddressError::Syntax), "{bad}");
        }
        assert_eq!(fwd("<u@[IPv6:zz::]>"), Err(AddressError::Syntax));
        let m = fwd_mailbox("<u@[IPv6:::1]>");
        assert_eq!(m.domain().kind(), DomainKind::Ipv6(Ipv6Addr::LOCALHOST));
    }

    #[test]
    fn general_literals() {
        let d = Domain::parse("[x-foo:bar/baz^~!]").unwrap();
        assert_eq!(
            d.kind(),
            DomainKind::General {
                tag: "x-foo",
                content: "bar/baz^~!"
            }
        );
        let d = Domain::parse("[tag:a:b]").unwrap();
        assert_eq!(
            d.kind(),
            DomainKind::General {
                tag: "tag",
                content: "a:b"
            }
        );
        for bad in [
            "[tag:]",
            "[:content]",
            "[tag-:content]",
            "[t_g:content]",
            "[tag:a b]",
            "[tag:a\\b]",
            "[tag:a[b]",
            "[tag:é]",
            "[nocolon]",
        ] {
            assert_eq!(Domain::parse(bad), Err(AddressError::Syntax), "{bad:?}");
        }
    }

    #[test]
    fn utf8_local_parts_and_domains() {
        let m = fwd_mailbox("<用户@例子.广告>");
        assert_eq!(m.local_part(), "用户");
        assert_eq!(m.domain_str(), "例子.广告");
        assert_eq!(m.domain().kind(), DomainKind::Name);
        assert!(!m.is_ascii());
        let m = fwd_mailbox("<\"jöhn dœ\"@bücher.example>");
        assert_eq!(m.local_part_unquoted(), "jöhn dœ");
        assert!(!m.is_ascii());
        let m = fwd_mailbox("<ascii@example.com>");
        assert!(m.is_ascii());
        let m = fwd_mailbox("<ascii@bücher.example>");
        assert!(!m.is_ascii());
        // Non-ASCII is not allowed in a general address literal nor in a quoted pair.
        assert_eq!(fwd("<u@[x:é]>"), Err(AddressError::Syntax));
        assert_eq!(fwd("<\"\\é\"@x>"), Err(AddressError::Syntax));
    }

    #[test]
    fn invalid_utf8_is_syntax_error() {
        let cases: [&[u8]; 6] = [
            b"<\xff@example.com>",
            b"<a@ex\xffample.com>",
            b"<\"\xc3\"@example.com>",
            b"<a\xc3@b>",
            b"<@\xe4\xbe:a@b>",
            b"<\xed\xa0\x80@b>",
        ];
        for c in cases {
            let src = Bytes::copy_from_slice(c);
            assert_eq!(parse_forward_path(&src), Err(AddressError::Syntax), "{c:?}");
            assert_eq!(parse_reverse_path(&src), Err(AddressError::Syntax), "{c:?}");
        }
        assert_eq!(
            parse_domain(&Bytes::from_static(b"ex\xffample")),
            Err(AddressError::Syntax)
        );
        // Invalid UTF-8 after the path is not the path parser's business.
        let src = Bytes::from_static(b"<a@b> \xff");
        assert_eq!(parse_forward_path(&src).unwrap().1, 5);
    }

    // --- Limits (RFC 5321 section 4.5.3.1) ---------------------------------------------------

    #[test]
    fn local_part_limit_edge() {
        let l64 = "a".repeat(64);
        let m = fwd_mailbox(&format!("<{l64}@example.com>"));
        assert_eq!(m.local_part().len(), 64);
        assert!(Mailbox::parse(&format!("{l64}@example.com")).is_ok());
        let l65 = "a".repeat(65);
        assert_eq!(
            fwd(&format!("<{l65}@example.com>")),
            Err(AddressError::LocalPartTooLong)
        );
        assert_eq!(
            rev(&format!("<{l65}@example.com>")),
            Err(AddressError::LocalPartTooLong)
        );
        assert_eq!(
            Mailbox::parse(&format!("{l65}@example.com")),
            Err(AddressError::LocalPartTooLong)
        );
        // Octets, not characters: 32 two-byte characters fit, 33 don't.
        let ok = "é".repeat(32);
        assert!(fwd(&format!("<{ok}@x>")).is_ok());
        let long = "é".repeat(33);
        assert_eq!(
            fwd(&format!("<{long}@x>")),
            Err(AddressError::LocalPartTooLong)
        );
        // The quotes count.
        let q = format!("\"{}\"", "a".repeat(63));
        assert_eq!(
            fwd(&format!("<{q}@x>")),
            Err(AddressError::LocalPartTooLong)
        );
    }

    /// A domain of exactly `len` octets made of labels of at most 63 octets.
    fn domain_of_len(len: usize) -> String {
        let mut labels = Vec::new();
        let mut remaining = len;
        while remaining > 0 {
            // Leave room for the dot before the next label.
            let take = if remaining > 63 {
                62.min(remaining - 2)
            } else {
                remaining
            };
            labels.push("d".repeat(take));
            remaining -= take;
            remaining = remaining.saturating_sub(1);
        }
        let d = labels.join(".");
        assert_eq!(d.len(), len);
        d
    }

    #[test]
    fn domain_limit_edge() {
        let d255 = domain_of_len(255);
        assert_eq!(Domain::parse(&d255).unwrap().as_str().len(), 255);
        assert!(parse_domain(&Bytes::from(d255.clone())).is_ok());
        assert!(Mailbox::parse(&format!("a@{d255}")).is_ok());
        let d256 = domain_of_len(256);
        assert_eq!(Domain::parse(&d256), Err(AddressError::DomainTooLong));
        assert_eq!(
            Mailbox::parse(&format!("a@{d256}")),
            Err(AddressError::DomainTooLong)
        );
        // In a path, the domain limit is reported before the (also exceeded) path limit.
        assert_eq!(
            fwd(&format!("<a@{d256}>")),
            Err(AddressError::DomainTooLong)
        );
        assert_eq!(fwd(&format!("<a@{d255}>")), Err(AddressError::PathTooLong));
        // Source-route domains are limited too.
        assert_eq!(
            fwd(&format!("<@{d256}:a@b>")),
            Err(AddressError::DomainTooLong)
        );
        // A literal counts as a domain ("domain name or number").
        let lit = format!("[x:{}]", "a".repeat(252));
        assert_eq!(lit.len(), 256);
        assert_eq!(Domain::parse(&lit), Err(AddressError::DomainTooLong));
        assert!(Domain::parse(&lit.replacen('a', "", 1)).is_ok());
    }

    #[test]
    fn path_limit_edge() {
        // "<" + 64 + "@" + domain + ">" = 256 when the domain is 189 octets.
        let local = "l".repeat(64);
        let p256 = format!("<{local}@{}>", domain_of_len(189));
        assert_eq!(p256.len(), 256);
        assert_eq!(fwd(&p256).unwrap().1, 256);
        assert_eq!(rev(&p256).unwrap().1, 256);
        let p257 = format!("<{local}@{}>", domain_of_len(190));
        assert_eq!(p257.len(), 257);
        assert_eq!(fwd(&p257), Err(AddressError::PathTooLong));
        assert_eq!(rev(&p257), Err(AddressError::PathTooLong));
        // The source route counts toward the path length.
        let short = "<a@b.example>";
        let route = format!("@{}:", domain_of_len(256 - short.len() - 2));
        let routed = format!("<{route}a@b.example>");
        assert_eq!(routed.len(), 256);
        assert_eq!(fwd_mailbox(&routed).to_string(), "a@b.example");
        let routed = format!("<{route}ab@b.example>");
        assert_eq!(routed.len(), 257);
        assert_eq!(fwd(&routed), Err(AddressError::PathTooLong));
    }

    // --- Convenience constructors --------------------------------------------------------------

    #[test]
    fn mailbox_parse() {
        let m: Mailbox = "user@[IPv6:::1]".parse().unwrap();
        assert_eq!(m.local_part(), "user");
        assert_eq!(m.to_string(), "user@[IPv6:::1]");
        for bad in ["<user@x>", "user", "user@", "@x", "user@x ", "user@x>", ""] {
            assert_eq!(Mailbox::parse(bad), Err(AddressError::Syntax), "{bad:?}");
        }
    }

    #[test]
    fn parse_domain_requires_whole_input() {
        assert!(parse_domain(&Bytes::from_static(b"mail.example.com")).is_ok());
        assert!(parse_domain(&Bytes::from_static(b"[192.0.2.1]")).is_ok());
        assert_eq!(
            parse_domain(&Bytes::from_static(b"mail.example.com ")),
            Err(AddressError::Syntax)
        );
        assert_eq!(
            parse_domain(&Bytes::from_static(b"")),
            Err(AddressError::Syntax)
        );
    }

    #[test]
    fn error_messages_cite_the_rfc() {
        assert!(AddressError::Syntax.to_string().contains("4.1.2"));
        assert!(AddressError::LocalPartTooLong.to_string().contains("64"));
        assert!(AddressError::DomainTooLong.to_string().contains("255"));
        assert!(AddressError::PathTooLong.to_string().contains("256"));
    }

    // --- Zero copy -----------------------------------------------------------------------------

    #[test]
    fn path_parsers_do_not_copy() {
        let src = Bytes::from_static("<@r.example:\"q x\"@bücher.example> SIZE=1".as_bytes());
        let (p, _) = parse_forward_path(&src).unwrap();
        let m = p.mailbox().unwrap();
        assert!(inside(&src, m.local_part()));
        assert!(inside(&src, m.domain_str()));
        assert!(inside(&src, m.local_part_text().as_str()));
        assert!(inside(&src, m.domain().as_text().as_str()));
        assert!(inside(&src, m.as_str()));
        assert_eq!(m.as_str(), "\"q x\"@bücher.example");
        assert_eq!(m.as_text(), "\"q x\"@bücher.example");
        let src = Bytes::from(b"<u@[IPv6:::1]>".to_vec());
        let (p, _) = parse_reverse_path(&src).unwrap();
        let m = p.mailbox().unwrap();
        assert!(inside(&src, m.local_part()));
        assert!(inside(&src, m.domain_str()));
        assert_eq!(m.domain().kind(), DomainKind::Ipv6(Ipv6Addr::LOCALHOST));
        let src = Bytes::from(b"mx.example".to_vec());
        let d = parse_domain(&src).unwrap();
        assert!(inside(&src, d.as_str()));
        // Sanity check of the helper itself.
        assert!(!inside(&src, "mx.example"));
    }

    // --- The fast path ------------------------------------------------------------------------

    /// When the fast path answers, the full grammar gives the same answer for both kinds of
    /// path.
    fn check_fast_path(b: &[u8]) -> Result<(), TestCaseError> {
        if let Some(fast) = scan_path_fast(b) {
            for kind in [PathKind::Forward, PathKind::Reverse] {
                let full = scan_path_full(b, kind);
                prop_assert_eq!(Ok(&fast), full.as_ref(), "{:?}", b);
            }
        }
        Ok(())
    }

    #[test]
    fn fast_path_takes_the_common_paths() {
        for p in [
            "<a@b>",
            "<sender.name@example.com> SIZE=12345",
            "<first.recipient@example.org>",
            "<user+tag@sub.example.co.uk>",
            "<x-y_z!#$%&'*+/=?^`{|}~@a-b.c9>",
            "<A1@B-2.C3.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z> NOTIFY=NEVER",
        ] {
            let fast = scan_path_fast(p.as_bytes()).unwrap_or_else(|| panic!("{p}"));
            assert_eq!(
                Ok(&fast),
                scan_path_full(p.as_bytes(), PathKind::Forward).as_ref()
            );
        }
        let l64 = "l".repeat(64);
        let long = format!("<{l64}@{}>", domain_of_len(189));
        assert_eq!(scan_path_fast(long.as_bytes()).unwrap().end, 256);
        let label63 = format!("<a@{}.b>", "c".repeat(63));
        assert!(scan_path_fast(label63.as_bytes()).is_some());
        // Everything else goes to the full grammar, valid or not.
        for p in [
            "<>",
            "<postmaster>",
            "<@r.example:a@b>",
            "<\"q\"@b>",
            "<a@[192.0.2.1]>",
            "<é@b>",
            "<a@bücher.example>",
            "<a@b",
            "<a.@b>",
            "<.a@b>",
            "<a..b@c>",
            "<a@b.>",
            "<a@.b>",
            "<a@-b>",
            "<a@b->",
            "<a@b_c>",
            "<a@b@c>",
            "<a>",
            "a@b>",
            "<@b>",
        ] {
            assert_eq!(scan_path_fast(p.as_bytes()), None, "{p}");
        }
        let l65 = format!("<{}@b>", "l".repeat(65));
        assert_eq!(scan_path_fast(l65.as_bytes()), None);
        let label64 = format!("<a@{}.b>", "c".repeat(64));
        assert_eq!(scan_path_fast(label64.as_bytes()), None);
        let p257 = format!("<{l64}@{}>", domain_of_len(190));
        assert_eq!(scan_path_fast(p257.as_bytes()), None);
    }

    #[test]
    fn special_octets_are_all_but_letters() {
        for c in 0..=255u8 {
            for lane in 0..8 {
                let mut w = [b'a'; 8];
                w[lane] = c;
                let expected = if c.is_ascii_alphabetic() {
                    0
                } else {
                    0x80 << (8 * lane)
                };
                assert_eq!(
                    special_octets(u64::from_le_bytes(w)),
                    expected,
                    "{c} in {lane}"
                );
            }
        }
    }

    // --- Property tests ------------------------------------------------------------------------

    fn atom() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => "[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]{1,8}",
            1 => "[a-zé中😀]{1,4}",
        ]
    }

    fn dot_string() -> impl Strategy<Value = String> {
        proptest::collection::vec(atom(), 1..4).prop_map(|v| v.join("."))
    }

    fn quoted_string() -> impl Strategy<Value = (String, String)> {
        // (as written, unquoted)
        let piece = prop_oneof![
            "[ !#-\\[\\]-~é]".prop_map(|c| (c.clone(), c)),
            "[ -~]".prop_map(|c| (format!("\\{c}"), c)),
        ];
        proptest::collection::vec(piece, 0..12).prop_map(|v| {
            let written: String = v.iter().map(|(w, _)| w.as_str()).collect();
            let plain: String = v.iter().map(|(_, p)| p.as_str()).collect();
            (format!("\"{written}\""), plain)
        })
    }

    fn label() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => "[a-zA-Z0-9]([a-zA-Z0-9-]{0,10}[a-zA-Z0-9])?",
            1 => "[a-z]{0,3}[ü例][a-z0-9]{0,3}",
        ]
    }

    fn domain_name() -> impl Strategy<Value = String> {
        proptest::collection::vec(label(), 1..5).prop_map(|v| v.join("."))
    }

    fn literal() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<[u8; 4]>().prop_map(|o| format!("[{}]", Ipv4Addr::from(o))),
            any::<u128>().prop_map(|a| format!("[IPv6:{}]", Ipv6Addr::from(a))),
            ("[a-zA-Z][a-zA-Z0-9-]{0,6}[a-zA-Z0-9]", "[!-Z^-~]{1,20}")
                .prop_filter("not the IPv6 tag", |(t, _)| !t.eq_ignore_ascii_case("ipv6"))
                .prop_map(|(t, c)| format!("[{t}:{c}]")),
        ]
    }

    fn local_part() -> impl Strategy<Value = (String, String)> {
        prop_oneof![dot_string().prop_map(|s| (s.clone(), s)), quoted_string(),]
    }

    fn domain() -> impl Strategy<Value = String> {
        prop_oneof![3 => domain_name(), 1 => literal()]
    }

    proptest! {
        #[test]
        fn generated_mailboxes_round_trip(
            (local, plain) in local_part(),
            domain in domain(),
        ) {
            let text = format!("{local}@{domain}");
            let path = format!("<{text}> NOTIFY=NEVER");
            let src = Bytes::from(path.clone());
            let parsed = parse_forward_path(&src);
            let mbox = Mailbox::parse(&text);
            if local.len() > 64 {
                prop_assert_eq!(parsed, Err(AddressError::LocalPartTooLong));
                prop_assert_eq!(mbox, Err(AddressError::LocalPartTooLong));
                return Ok(());
            }
            let (p, n) = parsed.unwrap();
            prop_assert_eq!(n, text.len() + 2);
            let m = p.mailbox().unwrap();
            prop_assert_eq!(m.local_part(), local.as_str());
            prop_assert_eq!(m.local_part_unquoted(), plain.as_str());
            prop_assert_eq!(m.domain_str(), domain.as_str());
            prop_assert_eq!(m.to_string(), text.clone());
            prop_assert_eq!(m.is_ascii(), text.is_ascii());
            prop_assert!(inside(&src, m.local_part()));
            prop_assert!(inside(&src, m.domain_str()));
            let m2 = mbox.unwrap();
            prop_assert_eq!(&m2, m);
            let d = Domain::parse(&domain).unwrap();
            prop_assert_eq!(d, m.domain());
            let (r, rn) = parse_reverse_path(&src).unwrap();
            prop_assert_eq!(rn, n);
            prop_assert_eq!(r.mailbox(), Some(m));
        }

        #[test]
        fn generated_literals_classify(lit in literal()) {
            let d = Domain::parse(&lit).unwrap();
            let inner = &lit[1..lit.len() - 1];
            match d.kind() {
                DomainKind::Ipv4(a) => prop_assert_eq!(a.to_string(), inner),
                DomainKind::Ipv6(a) => prop_assert_eq!(format!("IPv6:{a}"), inner),
                DomainKind::General { tag, content } => {
                    prop_assert_eq!(format!("{tag}:{content}"), inner)
                }
                DomainKind::Name => prop_assert!(false, "literal parsed as a name"),
            }
        }

        #[test]
        fn never_panics_on_arbitrary_bytes(
            bytes in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let src = Bytes::from(bytes.clone());
            let mut bracketed = vec![b'<'];
            bracketed.extend_from_slice(&bytes);
            let bracketed = Bytes::from(bracketed);
            for s in [&src, &bracketed] {
                if let Ok((_, n)) = parse_reverse_path(s) {
                    prop_assert!(n <= s.len() && n <= MAX_PATH);
                    prop_assert_eq!(s.get(n - 1), Some(&b'>'));
                }
                if let Ok((_, n)) = parse_forward_path(s) {
                    prop_assert!(n <= s.len() && n <= MAX_PATH);
                    prop_assert_eq!(s.get(n - 1), Some(&b'>'));
                }
                if let Ok(d) = parse_domain(s) {
                    prop_assert_eq!(d.as_str().as_bytes(), &s[..]);
                    let _ = d.kind();
                }
            }
            if let Ok(s) = std::str::from_utf8(&bytes) {
                let _ = Mailbox::parse(s).map(|m| m.local_part_unquoted().len());
                let _ = Domain::parse(s);
            }
        }

        #[test]
        fn fast_path_agrees_with_the_grammar_on_arbitrary_bytes(
            bytes in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let mut bracketed = vec![b'<'];
            bracketed.extend_from_slice(&bytes);
            for b in [&bytes, &bracketed] {
                check_fast_path(b)?;
            }
        }

        #[test]
        fn fast_path_agrees_with_the_grammar_on_soup(
            s in "<[a-zA-Z0-9@.>_+-]{0,70}( SIZE=1)?",
            t in "<[a-z.@>\\\"\\[\\]:,-]{0,12}[a-z.@>-]{0,300}",
        ) {
            check_fast_path(s.as_bytes())?;
            check_fast_path(t.as_bytes())?;
        }

        #[test]
        fn fast_path_agrees_with_the_grammar_on_mailboxes(
            (local, _) in local_part(),
            domain in domain(),
            tail in "( [A-Z]{1,3})?",
        ) {
            check_fast_path(format!("<{local}@{domain}>{tail}").as_bytes())?;
            check_fast_path(format!("<{local}@{domain}").as_bytes())?;
            check_fast_path(format!("<@x:{local}@{domain}>").as_bytes())?;
        }

        #[test]
        fn never_panics_on_grammar_soup(s in "<[a-z@.:,<>\\[\\]\"\\\\ é0-9-]{0,40}") {
            let src = Bytes::from(s.clone());
            let _ = parse_reverse_path(&src);
            if let Ok((p, _)) = parse_forward_path(&src) {
                if let Some(m) = p.mailbox() {
                    let _ = m.local_part_unquoted();
                    let _ = m.domain().kind();
                }
            }
        }
    }
}

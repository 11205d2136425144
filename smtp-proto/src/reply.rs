//! SMTP replies (RFC 5321 section 4.2) with enhanced status codes (RFC 3463, RFC 2034).

use bytes::{BufMut, BytesMut};
use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

/// An enhanced mail system status code, `class.subject.detail` (RFC 3463 section 2).
///
/// ```
/// use smtp_proto::EnhancedCode;
/// let code: EnhancedCode = "5.1.1".parse().unwrap();
/// assert_eq!(code, EnhancedCode::new(5, 1, 1).unwrap());
/// assert_eq!(code.to_string(), "5.1.1");
/// assert!("3.1.1".parse::<EnhancedCode>().is_err(), "class is 2, 4 or 5");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EnhancedCode {
    class: u8,
    subject: u16,
    detail: u16,
}

impl EnhancedCode {
    /// Builds a code. `class` must be 2, 4 or 5; `subject` and `detail` at most 999 (RFC 3463:
    /// one to three digits each).
    pub const fn new(class: u8, subject: u16, detail: u16) -> Option<EnhancedCode> {
        if !matches!(class, 2 | 4 | 5) || subject > 999 || detail > 999 {
            return None;
        }
        Some(EnhancedCode {
            class,
            subject,
            detail,
        })
    }

    /// Internal constructor for the canned codes; the values are checked by the tests.
    pub(crate) const fn c(class: u8, subject: u16, detail: u16) -> EnhancedCode {
        EnhancedCode {
            class,
            subject,
            detail,
        }
    }

    /// The class digit: 2 (success), 4 (persistent transient failure) or 5 (permanent failure).
    pub const fn class(&self) -> u8 {
        self.class
    }

    /// The subject (e.g. 1 for addressing, 5 for protocol).
    pub const fn subject(&self) -> u16 {
        self.subject
    }

    /// The detail.
    pub const fn detail(&self) -> u16 {
        self.detail
    }
}

impl fmt::Display for EnhancedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

impl FromStr for EnhancedCode {
    type Err = InvalidReply;
    fn from_str(s: &str) -> Result<EnhancedCode, InvalidReply> {
        let mut it = s.split('.');
        let mut part = |max_len: usize| -> Result<u16, InvalidReply> {
            let p = it.next().ok_or(InvalidReply::EnhancedCode)?;
            if p.is_empty() || p.len() > max_len || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(InvalidReply::EnhancedCode);
            }
            p.parse().map_err(|_| InvalidReply::EnhancedCode)
        };
        let class = part(1)?;
        let subject = part(3)?;
        let detail = part(3)?;
        if it.next().is_some() {
            return Err(InvalidReply::EnhancedCode);
        }
        EnhancedCode::new(class as u8, subject, detail).ok_or(InvalidReply::EnhancedCode)
    }
}

/// Why a [`Reply`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidReply {
    /// The code is not in 200..=599 (RFC 5321 section 4.2: the first digit is 2 to 5).
    #[error("reply code {0} is not between 200 and 599")]
    Code(u16),
    /// The enhanced code does not parse, or its class differs from the reply code's first digit
    /// (RFC 3463 section 2: they must agree).
    #[error("invalid enhanced status code, or its class does not match the reply code")]
    EnhancedCode,
    /// The text contains CR or another control character (only `\n` separates lines, and TAB
    /// is allowed), or a line is longer than fits the 512-octet reply line (RFC 5321 4.5.3.1.5).
    #[error("reply text contains a control character or an over-long line")]
    Text,
}

/// The longest text line we emit: 512 octets per reply line (RFC 5321 4.5.3.1.5), less
/// "NNN-", an enhanced code of up to 9 octets and its space, and CRLF.
pub const MAX_TEXT_LINE: usize = 512 - 4 - 10 - 2;

/// An SMTP reply: a three-digit code, an optional enhanced status code and one or more lines of
/// text (separated by `\n` in [`Reply::text`]).
///
/// Multi-line formatting (`250-first` ... `250 last`, RFC 5321 section 4.2.1) is done by
/// [`Reply::encode`]; the enhanced code prefixes every line (RFC 2034 section 3).
///
/// ```
/// use smtp_proto::Reply;
/// let reply = Reply::new(550, Some("5.1.1".parse().unwrap()), "No such user\nTry another").unwrap();
/// let mut out = bytes::BytesMut::new();
/// reply.encode(&mut out, true);
/// assert_eq!(&out[..], b"550-5.1.1 No such user\r\n550 5.1.1 Try another\r\n");
/// out.clear();
/// reply.encode(&mut out, false); // ENHANCEDSTATUSCODES disabled
/// assert_eq!(&out[..], b"550-No such user\r\n550 Try another\r\n");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    code: u16,
    enhanced: Option<EnhancedCode>,
    text: Cow<'static, str>,
}

impl Reply {
    /// Builds a reply, checking the code (200..=599), that the enhanced code's class matches
    /// the code's first digit, and that the text has no control characters other than `\n`
    /// (line separator) and TAB, and no over-long line.
    pub fn new(
        code: u16,
        enhanced: Option<EnhancedCode>,
        text: impl Into<Cow<'static, str>>,
    ) -> Result<Reply, InvalidReply> {
        if !(200..=599).contains(&code) {
            return Err(InvalidReply::Code(code));
        }
        if let Some(e) = enhanced {
            if u16::from(e.class()) != code / 100 {
                return Err(InvalidReply::EnhancedCode);
            }
        }
        let text = text.into();
        for line in text.split('\n') {
            if line.len() > MAX_TEXT_LINE || line.chars().any(|c| c.is_control() && c != '\t') {
                return Err(InvalidReply::Text);
            }
        }
        Ok(Reply {
            code,
            enhanced,
            text,
        })
    }

    /// A reply from constants, for the core's own canned replies (checked by the tests).
    pub(crate) const fn fixed(code: u16, enhanced: EnhancedCode, text: &'static str) -> Reply {
        Reply {
            code,
            enhanced: Some(enhanced),
            text: Cow::Borrowed(text),
        }
    }

    /// `421 4.3.0 Service shutting down, try again later`: the reply of an adapter's graceful
    /// shutdown, for [`Session::shutdown`](crate::Session::shutdown) (RFC 5321 section 3.8).
    pub const SHUTTING_DOWN: Reply = Reply::fixed(
        421,
        EnhancedCode::c(4, 3, 0),
        "Service shutting down, try again later",
    );
    /// `421 4.3.2 Too many connections, try again later`: refuses a connection beyond an
    /// adapter's connection cap, with [`Session::refuse`](crate::Session::refuse).
    pub const TOO_MANY_CONNECTIONS: Reply = Reply::fixed(
        421,
        EnhancedCode::c(4, 3, 2),
        "Too many connections, try again later",
    );
    /// `451 4.3.0`: the application failed to answer HELO/EHLO, MAIL or RCPT
    /// ([`Session::fail`](crate::Session::fail)).
    pub const LOCAL_ERROR: Reply = Reply::fixed(
        451,
        EnhancedCode::c(4, 3, 0),
        "Local error in processing, try again later",
    );
    /// `454 4.7.0`: the application failed to answer AUTH (RFC 4954 section 6).
    pub const AUTH_LOCAL_ERROR: Reply = Reply::fixed(
        454,
        EnhancedCode::c(4, 7, 0),
        "Temporary authentication failure",
    );
    /// `554 5.3.0`: the application failed to answer the end of a message.
    pub const MESSAGE_LOCAL_ERROR: Reply = Reply::fixed(
        554,
        EnhancedCode::c(5, 3, 0),
        "Transaction failed: local error",
    );
    /// `421 4.3.0`: the application failed to answer a new connection; the session closes.
    pub const CONNECT_LOCAL_ERROR: Reply = Reply::fixed(
        421,
        EnhancedCode::c(4, 3, 0),
        "Local error, closing connection",
    );
    /// `535 5.7.8 Authentication credentials invalid` (RFC 4954 section 6): the usual answer
    /// to AUTH with wrong credentials.
    pub const BAD_CREDENTIALS: Reply = Reply::fixed(
        535,
        EnhancedCode::c(5, 7, 8),
        "Authentication credentials invalid",
    );

    /// The three-digit reply code.
    pub fn code(&self) -> u16 {
        self.code
    }

    /// The enhanced status code, if any.
    pub fn enhanced(&self) -> Option<EnhancedCode> {
        self.enhanced
    }

    /// The text, lines separated by `\n`.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The text lines.
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        self.text.split('\n')
    }

    /// 2xx: the command was accepted.
    pub fn is_positive(&self) -> bool {
        self.code / 100 == 2
    }

    /// 4xx: transient failure, the client may retry.
    pub fn is_transient(&self) -> bool {
        self.code / 100 == 4
    }

    /// 5xx: permanent failure.
    pub fn is_permanent(&self) -> bool {
        self.code / 100 == 5
    }

    /// Appends the wire form of the reply. `enhanced_codes` says whether ENHANCEDSTATUSCODES is
    /// in use (RFC 2034); without it, the enhanced code is left out.
    pub fn encode(&self, out: &mut BytesMut, enhanced_codes: bool) {
        let enhanced = self.enhanced.filter(|_| enhanced_codes);
        if !self.text.as_bytes().contains(&b'\n') {
            return put_line(out, self.code, b' ', enhanced, &self.text);
        }
        let mut lines = self.text.split('\n').peekable();
        while let Some(line) = lines.next() {
            let sep = if lines.peek().is_some() { b'-' } else { b' ' };
            put_line(out, self.code, sep, enhanced, line);
        }
    }
}

/// One reply line: "NNN-" and "c.sss.ddd " in one copy (at most 14 octets), the text, CRLF.
fn put_line(out: &mut BytesMut, code: u16, sep: u8, enhanced: Option<EnhancedCode>, text: &str) {
    let mut head = [0u8; 14];
    head[..4].copy_from_slice(&code_bytes(code, sep));
    let mut n = 4;
    if let Some(e) = enhanced {
        n += write_enhanced(&mut head[4..], e);
        head[n] = b' ';
        n += 1;
    }
    out.reserve(n + text.len() + 2);
    out.put_slice(&head[..n]);
    out.put_slice(text.as_bytes());
    out.put_slice(b"\r\n");
}

/// A single-line reply of the core's, with both wire forms spelled out at compile time: the
/// common replies (`250 OK`, `250 Sender OK`, ...) are then one copy into the send buffer,
/// not an encoding per command. The forms are arrays of their exact lengths, so that the copy
/// is a few moves rather than a call to `memcpy`.
#[derive(Debug)]
pub(crate) struct Canned<const A: usize, const B: usize> {
    /// The reply itself, for the test that checks the wire forms against [`Reply::encode`].
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) reply: Reply,
    with_code: [u8; A],
    without_code: [u8; B],
}

impl<const A: usize, const B: usize> Canned<A, B> {
    pub(crate) const fn new(reply: Reply, with_code: &str, without_code: &str) -> Self {
        const fn array<const N: usize>(s: &str) -> [u8; N] {
            let b = s.as_bytes();
            assert!(b.len() == N);
            let mut out = [0u8; N];
            let mut i = 0;
            while i < N {
                out[i] = b[i];
                i += 1;
            }
            out
        }
        Canned {
            reply,
            with_code: array(with_code),
            without_code: array(without_code),
        }
    }

    /// The wire form, with the enhanced code when ENHANCEDSTATUSCODES is in use.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn wire(&self, enhanced_codes: bool) -> &[u8] {
        if enhanced_codes {
            &self.with_code
        } else {
            &self.without_code
        }
    }

    /// Appends the wire form to `out`.
    #[inline]
    pub(crate) fn put(&self, out: &mut BytesMut, enhanced_codes: bool) {
        if enhanced_codes {
            out.extend_from_slice(&self.with_code);
        } else {
            out.extend_from_slice(&self.without_code);
        }
    }
}

/// `canned!(OK = 250, 2, 0, 0, "OK")`: a constant `OK`, the [`Canned`] reply `250 2.0.0 OK`.
macro_rules! canned {
    ($name:ident = $code:literal, $c:literal, $s:literal, $d:literal, $text:literal) => {
        const $name: $crate::reply::Canned<
            { concat!($code, " ", $c, ".", $s, ".", $d, " ", $text, "\r\n").len() },
            { concat!($code, " ", $text, "\r\n").len() },
        > = $crate::reply::Canned::new(
            $crate::reply::Reply::fixed($code, $crate::reply::EnhancedCode::c($c, $s, $d), $text),
            concat!($code, " ", $c, ".", $s, ".", $d, " ", $text, "\r\n"),
            concat!($code, " ", $text, "\r\n"),
        );
    };
}
pub(crate) use canned;

impl fmt::Display for Reply {
    /// The reply as it goes on the wire (with the enhanced code), without the final CRLF.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = BytesMut::new();
        self.encode(&mut out, true);
        let s = String::from_utf8_lossy(&out);
        f.write_str(s.trim_end_matches("\r\n"))
    }
}

impl FromStr for Reply {
    type Err = InvalidReply;

    /// Parses `"CODE [ENHANCED] text"`, e.g. `"550 5.1.1 No such user"`. The enhanced code is
    /// taken when the second word looks like one; lines of a multi-line text are separated
    /// by `\n`.
    ///
    /// ```
    /// use smtp_proto::Reply;
    /// let r: Reply = "451 4.3.0 Try again later".parse().unwrap();
    /// assert_eq!((r.code(), r.enhanced().unwrap().to_string().as_str()), (451, "4.3.0"));
    /// assert_eq!(r.text(), "Try again later");
    /// let r: Reply = "250 Fine".parse().unwrap();
    /// assert_eq!((r.code(), r.enhanced(), r.text()), (250, None, "Fine"));
    /// assert!("25 x".parse::<Reply>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Reply, InvalidReply> {
        let code = s
            .get(..3)
            .filter(|c| c.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or(InvalidReply::Code(0))?;
        let rest = match s.get(3..) {
            Some("") => "",
            Some(r) if r.starts_with(' ') => &r[1..],
            _ => return Err(InvalidReply::Code(code)),
        };
        let (word, after) = rest.split_once(' ').unwrap_or((rest, ""));
        if word.contains('.') && word.starts_with(|c: char| c.is_ascii_digit()) {
            let e: EnhancedCode = word.parse()?;
            return Reply::new(code, Some(e), after.to_owned());
        }
        Reply::new(code, None, rest.to_owned())
    }
}

fn code_bytes(code: u16, sep: u8) -> [u8; 4] {
    [
        b'0' + (code / 100 % 10) as u8,
        b'0' + (code / 10 % 10) as u8,
        b'0' + (code % 10) as u8,
        sep,
    ]
}

pub(crate) fn put_code(out: &mut BytesMut, code: u16, sep: u8) {
    out.put_slice(&code_bytes(code, sep));
}

/// Writes `c.s.d` into `buf` (at least 9 octets) and returns its length.
fn write_enhanced(buf: &mut [u8], e: EnhancedCode) -> usize {
    fn num(buf: &mut [u8], mut n: usize, v: u16) -> usize {
        for (digit, shown) in [(v / 100, v >= 100), (v / 10 % 10, v >= 10), (v % 10, true)] {
            if shown {
                buf[n] = b'0' + digit as u8;
                n += 1;
            }
        }
        n
    }
    buf[0] = b'0' + e.class();
    buf[1] = b'.';
    let n = num(buf, 2, e.subject());
    buf[n] = b'.';
    num(buf, n + 1, e.detail())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(r: &Reply) -> String {
        let mut out = BytesMut::new();
        r.encode(&mut out, true);
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn single_and_multi_line() {
        let r = Reply::new(250, EnhancedCode::new(2, 0, 0), "OK").unwrap();
        assert_eq!(wire(&r), "250 2.0.0 OK\r\n");
        let r = Reply::new(214, None, "a\nb\nc").unwrap();
        assert_eq!(wire(&r), "214-a\r\n214-b\r\n214 c\r\n");
        assert_eq!(r.to_string(), "214-a\r\n214-b\r\n214 c");
        let r = Reply::new(451, EnhancedCode::new(4, 123, 45), "x").unwrap();
        assert_eq!(wire(&r), "451 4.123.45 x\r\n");
    }

    #[test]
    fn rejects_bad_codes_and_text() {
        assert_eq!(Reply::new(199, None, "x"), Err(InvalidReply::Code(199)));
        assert_eq!(Reply::new(600, None, "x"), Err(InvalidReply::Code(600)));
        assert_eq!(
            Reply::new(550, EnhancedCode::new(4, 1, 1), "x"),
            Err(InvalidReply::EnhancedCode)
        );
        assert_eq!(Reply::new(550, None, "a\rb"), Err(InvalidReply::Text));
        assert_eq!(Reply::new(550, None, "a\0b"), Err(InvalidReply::Text));
        assert!(Reply::new(550, None, "tab\tok").is_ok());
        assert!(Reply::new(550, None, "x".repeat(MAX_TEXT_LINE)).is_ok());
        assert_eq!(
            Reply::new(550, None, "x".repeat(MAX_TEXT_LINE + 1)),
            Err(InvalidReply::Text)
        );
    }

    #[test]
    fn public_canned_replies_are_valid() {
        for r in [
            Reply::SHUTTING_DOWN,
            Reply::TOO_MANY_CONNECTIONS,
            Reply::LOCAL_ERROR,
            Reply::AUTH_LOCAL_ERROR,
            Reply::MESSAGE_LOCAL_ERROR,
            Reply::CONNECT_LOCAL_ERROR,
            Reply::BAD_CREDENTIALS,
        ] {
            let checked = Reply::new(r.code(), r.enhanced(), r.text().to_owned());
            assert_eq!(checked.as_ref(), Ok(&r), "{r}");
        }
    }

    #[test]
    fn longest_line_fits_512_octets() {
        let e = EnhancedCode::new(5, 999, 999).unwrap();
        let r = Reply::new(550, Some(e), "x".repeat(MAX_TEXT_LINE)).unwrap();
        assert_eq!(wire(&r).len(), 512);
    }

    #[test]
    fn enhanced_code_parsing() {
        for bad in [
            "", "5", "5.1", "5.1.1.1", "6.1.1", "5.1000.1", "5..1", "a.b.c", "55.1.1",
        ] {
            assert!(bad.parse::<EnhancedCode>().is_err(), "{bad:?}");
        }
        assert_eq!(
            "4.7.0".parse::<EnhancedCode>().unwrap(),
            EnhancedCode::new(4, 7, 0).unwrap()
        );
    }
}

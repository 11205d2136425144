//! ESMTP parameters of `MAIL FROM` and `RCPT TO`.
//!
//! The generic syntax is RFC 5321 section 4.1.2:
//!
//! ```text
//! Mail-parameters = esmtp-param *(SP esmtp-param)
//! Rcpt-parameters = esmtp-param *(SP esmtp-param)
//! esmtp-param     = esmtp-keyword ["=" esmtp-value]
//! esmtp-keyword   = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
//! esmtp-value     = 1*(%d33-60 / %d62-126)
//! ```
//!
//! with `esmtp-value` extended to UTF-8 non-ASCII characters by RFC 6531 section 3.3. Keywords
//! are case-insensitive (RFC 5321 section 2.4). The parameters understood here are those of
//! SIZE (RFC 1870), 8BITMIME (RFC 6152), BINARYMIME (RFC 3030), SMTPUTF8 (RFC 6531), DSN
//! (RFC 3461), REQUIRETLS (RFC 8689) and AUTH (RFC 4954). Whether the corresponding extension
//! was advertised is for the session to check, not this module.
//!
//! Values that are kept as text ([`MailParams::envid`], [`MailParams::auth`], [`Orcpt`]) are
//! slices of the command buffer: parsing allocates nothing.

use crate::command::{eq_ci, word_at, Ci};
use crate::Text;
use bytes::Bytes;
use std::ops::Range;

/// Longest ENVID value, in characters (RFC 3461 section 4.4).
const MAX_ENVID: usize = 100;
/// Longest ORCPT value, in characters (RFC 3461 section 4.2: "The entire ORCPT parameter MAY
/// be up to 500 characters in length").
const MAX_ORCPT: usize = 500;
/// Most digits in a SIZE value (RFC 1870 section 6, `size-value ::= 1*20DIGIT`).
const MAX_SIZE_DIGITS: usize = 20;

/// Why the parameters of a MAIL or RCPT command were rejected.
///
/// The [`Text`] in a variant is the keyword exactly as the client sent it. A server answers
/// `Syntax` and `BadValue` with 501, `Unknown` with 555 (RFC 5321 section 4.1.1.11:
/// "MAIL FROM/RCPT TO parameters not recognized or not implemented"), `Duplicate` with 501 and
/// `SizeOverflow` with 552 (RFC 1870 section 6).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamError {
    /// The text after the path is not `*(1*SP esmtp-param) *SP` (RFC 5321 section 4.1.2),
    /// e.g. garbage right after the `>`, a malformed keyword, `KEY=` with an empty value, a
    /// forbidden character in a value, or invalid UTF-8.
    #[error("syntax error in parameters (RFC 5321 section 4.1.2)")]
    Syntax,
    /// A keyword this command does not know (RFC 5321 section 4.1.1.11).
    #[error("parameter {0} not recognized")]
    Unknown(Text),
    /// The same keyword was given twice.
    #[error("parameter {0} given more than once")]
    Duplicate(Text),
    /// A known keyword with a missing, superfluous or malformed value.
    #[error("invalid value for parameter {0}")]
    BadValue(Text),
    /// A syntactically valid SIZE that does not fit in 64 bits (RFC 1870 section 6).
    #[error("SIZE value too large")]
    SizeOverflow,
}

/// The body type declared with `BODY=` (RFC 6152 section 2, RFC 3030 section 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BodyType {
    /// `BODY=7BIT` (RFC 6152 section 2).
    SevenBit,
    /// `BODY=8BITMIME` (RFC 6152 section 2).
    EightBitMime,
    /// `BODY=BINARYMIME` (RFC 3030 section 3), which requires BDAT.
    BinaryMime,
}

/// How much of the message a DSN should return, `RET=` (RFC 3461 section 4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ret {
    /// `RET=FULL`: the whole message.
    Full,
    /// `RET=HDRS`: the headers only.
    Headers,
}

/// The `NOTIFY=` parameter of RCPT (RFC 3461 section 4.1): `NEVER`, or a comma-separated list
/// of `SUCCESS`, `FAILURE` and `DELAY` (case-insensitive; no empty items and no repeats).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Notify(u8);

impl Notify {
    const NEVER: u8 = 1;
    const SUCCESS: u8 = 2;
    const FAILURE: u8 = 4;
    const DELAY: u8 = 8;

    /// `NOTIFY=NEVER`: no DSN at all. Never combined with the others.
    pub fn never(&self) -> bool {
        self.0 & Self::NEVER != 0
    }

    /// `SUCCESS` was requested: a DSN on successful delivery.
    pub fn success(&self) -> bool {
        self.0 & Self::SUCCESS != 0
    }

    /// `FAILURE` was requested: a DSN on delivery failure.
    pub fn failure(&self) -> bool {
        self.0 & Self::FAILURE != 0
    }

    /// `DELAY` was requested: a DSN when delivery is delayed.
    pub fn delay(&self) -> bool {
        self.0 & Self::DELAY != 0
    }

    /// Parses a `notify-esmtp-value` (RFC 3461 section 4.1).
    fn parse(value: &[u8]) -> Option<Notify> {
        let mut bits = 0u8;
        for item in value.split(|&c| c == b',') {
            let bit = if eq_ci(item, b"NEVER") {
                Self::NEVER
            } else if eq_ci(item, b"SUCCESS") {
                Self::SUCCESS
            } else if eq_ci(item, b"FAILURE") {
                Self::FAILURE
            } else if eq_ci(item, b"DELAY") {
                Self::DELAY
            } else {
                return None;
            };
            if bits & bit != 0 {
                return None;
            }
            bits |= bit;
        }
        if bits & Self::NEVER != 0 && bits != Self::NEVER {
            return None;
        }
        Some(Notify(bits))
    }
}

/// The `ORCPT=` parameter of RCPT, `addr-type ";" xtext` (RFC 3461 section 4.2).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Orcpt {
    /// The address type, e.g. `rfc822` or `utf-8` (RFC 6533 section 3), as sent.
    pub addr_type: Text,
    /// The original recipient address, still xtext-encoded as sent (decode it with
    /// [`decode_xtext`]). With the `utf-8` address type it may also contain UTF-8 and the
    /// `\x{HHHH}` escapes of RFC 6533 section 3.
    pub address: Text,
}

/// The parameters of a MAIL command (RFC 5321 section 4.1.1.2, `Mail-parameters`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MailParams {
    /// `SIZE=`: the declared message size in octets (RFC 1870 section 6).
    pub size: Option<u64>,
    /// `BODY=`: the body type (RFC 6152 section 2, RFC 3030 section 3).
    pub body: Option<BodyType>,
    /// `SMTPUTF8`: the message needs the SMTPUTF8 extension (RFC 6531 section 3.4).
    pub smtputf8: bool,
    /// `RET=`: how much of the message a DSN returns (RFC 3461 section 4.3).
    pub ret: Option<Ret>,
    /// `ENVID=`: the envelope identifier, still xtext-encoded as sent (RFC 3461 section 4.4).
    pub envid: Option<Text>,
    /// `REQUIRETLS`: the message must only be relayed over TLS (RFC 8689 section 4).
    pub requiretls: bool,
    /// `AUTH=`: the authenticated submitter as xtext, or `<>` (RFC 4954 section 5), as sent.
    pub auth: Option<Text>,
}

/// The parameters of a RCPT command (RFC 5321 section 4.1.1.3, `Rcpt-parameters`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RcptParams {
    /// `NOTIFY=` (RFC 3461 section 4.1).
    pub notify: Option<Notify>,
    /// `ORCPT=` (RFC 3461 section 4.2).
    pub orcpt: Option<Orcpt>,
}

/// Decodes xtext (RFC 3461 section 4): `xchar` is any of `!` to `~` except `+` and `=`, and
/// `hexchar` is `+` followed by two upper-case hexadecimal digits. Returns `None` when `s` is
/// not xtext (including any non-ASCII character).
///
/// ```
/// use smtp_proto::params::decode_xtext;
/// assert_eq!(decode_xtext("a+2Bb+3D").unwrap(), b"a+b=");
/// assert_eq!(decode_xtext("a+2b"), None, "hex digits must be upper case");
/// ```
pub fn decode_xtext(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'+' => {
                let hi = b.get(i + 1).copied().and_then(upper_hex_value)?;
                let lo = b.get(i + 2).copied().and_then(upper_hex_value)?;
                out.push(hi << 4 | lo);
                i += 3;
            }
            b'=' => return None,
            33..=126 => {
                out.push(c);
                i += 1;
            }
            _ => return None,
        }
    }
    Some(out)
}

/// The value of an upper-case hexadecimal digit (RFC 3461 section 4 `hexchar`).
fn upper_hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Whether `s` is xtext (RFC 3461 section 4); with `allow_utf8`, UTF-8 non-ASCII characters
/// are accepted as well (RFC 6531 section 3.3 extends `esmtp-value`, RFC 6533 section 3 the
/// ORCPT address).
fn is_xtext(b: &[u8], allow_utf8: bool) -> bool {
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'+' => {
                let hex = |j: usize| b.get(j).copied().and_then(upper_hex_value).is_some();
                if !(hex(i + 1) && hex(i + 2)) {
                    return false;
                }
                i += 3;
            }
            b'=' => return false,
            33..=126 => i += 1,
            0x80..=0xff if allow_utf8 => i += 1,
            _ => return false,
        }
    }
    true
}

/// `atext` of RFC 5322 section 3.2.3; RFC 3461 section 4.2 has `addr-type = atom`.
fn is_atom(s: &[u8]) -> bool {
    !s.is_empty()
        && s.iter()
            .copied()
            .all(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&c))
}

/// `esmtp-value` characters: `%d33-60 / %d62-126` (RFC 5321 section 4.1.2) or, in valid
/// UTF-8, part of a non-ASCII character (RFC 6531 section 3.3).
const fn is_value_char(c: u8) -> bool {
    matches!(c, 33..=60 | 62..=126) || c >= 0x80
}

/// Which octets may be in an `esmtp-keyword` (bit 1) and in an `esmtp-value` (bit 2):
/// `(ALPHA / DIGIT) *(ALPHA / DIGIT / "-")` and `%d33-60 / %d62-126` plus UTF-8 non-ASCII
/// (RFC 5321 section 4.1.2, RFC 6531 section 3.3). One table load per octet.
const KEYWORD: u8 = 1;
const VALUE: u8 = 2;
const PARAM_CLASSES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0usize;
    while c < 256 {
        let b = c as u8;
        let mut bits = 0;
        if b.is_ascii_alphanumeric() || b == b'-' {
            bits |= KEYWORD;
        }
        if is_value_char(b) {
            bits |= VALUE;
        }
        t[c] = bits;
        c += 1;
    }
    t
};

/// The index of the first octet at or after `i` that is not of `class`.
#[inline]
fn skip_class(b: &[u8], mut i: usize, class: u8) -> usize {
    while let Some(&c) = b.get(i) {
        if PARAM_CLASSES[c as usize] & class == 0 {
            break;
        }
        i += 1;
    }
    i
}

/// One `esmtp-param`: the byte ranges of the keyword and of the value, if any.
struct RawParam {
    keyword: Range<usize>,
    value: Option<Range<usize>>,
}

/// Splits `*(1*SP esmtp-param) *SP` into parameters, checking the generic grammar of RFC 5321
/// section 4.1.2. Anything but SP right at the start (i.e. right after the `>` of the path) is
/// a syntax error.
struct RawParams<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Iterator for RawParams<'_> {
    type Item = Result<RawParam, ParamError>;

    fn next(&mut self) -> Option<Self::Item> {
        let b = self.b;
        let before = self.pos;
        let mut i = before;
        while b.get(i) == Some(&b' ') {
            i += 1;
        }
        if i >= b.len() {
            self.pos = i;
            return None;
        }
        // `esmtp-param = esmtp-keyword ["=" esmtp-value]`, then SP or the end. No space
        // before the parameter is only possible right after the path.
        let start = i;
        i = skip_class(b, i, KEYWORD);
        let keyword = start..i;
        let mut ok = start > before && i > start && b[start] != b'-';
        let mut value = None;
        if ok && b.get(i) == Some(&b'=') {
            let v = i + 1;
            i = skip_class(b, v, VALUE);
            ok = i > v;
            value = Some(v..i);
        }
        if !ok || b.get(i).is_some_and(|&c| c != b' ') {
            self.pos = b.len();
            return Some(Err(ParamError::Syntax));
        }
        self.pos = i;
        Some(Ok(RawParam { keyword, value }))
    }
}

/// A parameter of the command: byte ranges into the parameter text `b`, which starts at
/// `base` in `src`. Values are compared as bytes; a [`Text`] slice (no copy) is made only for
/// what is kept or reported.
struct Param<'a> {
    b: &'a [u8],
    src: &'a Bytes,
    base: usize,
    keyword: Range<usize>,
    value: Option<Range<usize>>,
}

impl Param<'_> {
    /// A [`Text`] of `range` of the parameter text: checked UTF-8, cut at ASCII delimiters.
    fn text(&self, range: Range<usize>) -> Text {
        Text::trusted(
            self.src
                .slice(self.base + range.start..self.base + range.end),
        )
    }

    fn keyword(&self) -> Text {
        self.text(self.keyword.clone())
    }

    #[inline]
    fn is(&self, keyword: &str) -> bool {
        eq_ci(&self.b[self.keyword.clone()], keyword.as_bytes())
    }

    /// Records the keyword in `seen`, failing on a repeat.
    fn once(&self, seen: &mut u8, bit: u8) -> Result<(), ParamError> {
        if *seen & bit != 0 {
            return Err(ParamError::Duplicate(self.keyword()));
        }
        *seen |= bit;
        Ok(())
    }

    fn bad_value(&self) -> ParamError {
        ParamError::BadValue(self.keyword())
    }

    /// The value of a keyword that requires one.
    fn value(&self) -> Result<&[u8], ParamError> {
        match &self.value {
            Some(v) => Ok(&self.b[v.clone()]),
            None => Err(self.bad_value()),
        }
    }

    /// The value as a [`Text`] slice, to keep.
    fn value_text(&self) -> Result<Text, ParamError> {
        let range = self.value.clone().ok_or_else(|| self.bad_value())?;
        Ok(self.text(range))
    }

    /// Checks that a keyword that takes no value has none.
    fn no_value(&self) -> Result<(), ParamError> {
        match self.value {
            Some(_) => Err(self.bad_value()),
            None => Ok(()),
        }
    }
}

/// Runs `f` on each parameter of `src[start..]` (validated as UTF-8 once, as a whole).
fn for_each_param(
    src: &Bytes,
    start: usize,
    mut f: impl FnMut(Param<'_>) -> Result<(), ParamError>,
) -> Result<(), ParamError> {
    let b = src.get(start..).unwrap_or_default();
    if b.iter().all(|&c| c == b' ') {
        return Ok(()); // the common case: no parameters
    }
    if !b.is_ascii() && std::str::from_utf8(b).is_err() {
        return Err(ParamError::Syntax);
    }
    let raw = RawParams { b, pos: 0 };
    for r in raw {
        let RawParam { keyword, value } = r?;
        f(Param {
            b,
            src,
            base: start,
            keyword,
            value,
        })?;
    }
    Ok(())
}

/// `size-value ::= 1*20DIGIT` (RFC 1870 section 6).
fn parse_size(p: &Param<'_>) -> Result<u64, ParamError> {
    let v = p.value()?;
    if v.is_empty() || v.len() > MAX_SIZE_DIGITS || !v.iter().all(|c| c.is_ascii_digit()) {
        return Err(p.bad_value());
    }
    v.iter().try_fold(0u64, |acc, c| {
        acc.checked_mul(10)
            .and_then(|acc| acc.checked_add(u64::from(c - b'0')))
            .ok_or(ParamError::SizeOverflow)
    })
}

/// Parses the parameters of MAIL (RFC 5321 section 4.1.1.2): everything after the `>` of the
/// reverse-path up to the CRLF. Empty or all-SP input means no parameters; otherwise the input
/// must start with SP.
///
/// Keywords: SIZE (RFC 1870), BODY (RFC 6152, RFC 3030), SMTPUTF8 (RFC 6531), RET and ENVID
/// (RFC 3461), REQUIRETLS (RFC 8689), AUTH (RFC 4954). Any other is
/// [`ParamError::Unknown`].
#[cfg_attr(not(any(test, feature = "fuzzing")), allow(dead_code))]
pub(crate) fn parse_mail_params(src: &Bytes) -> Result<MailParams, ParamError> {
    parse_mail_params_at(src, 0)
}

/// [`parse_mail_params`] of `src[start..]`, sharing `src`.
pub(crate) fn parse_mail_params_at(src: &Bytes, start: usize) -> Result<MailParams, ParamError> {
    if let Some(p) = parse_mail_params_fast(src.get(start..).unwrap_or_default()) {
        return Ok(p);
    }
    parse_mail_params_full(src, start)
}

/// SP, the separator of parameters, or the end of them (of `b`, or a CR: see
/// [`mail_params_fast`]).
#[inline]
fn ends_at(b: &[u8], i: usize) -> bool {
    matches!(b.get(i), None | Some(b' ' | b'\r'))
}

/// Whether the parameters end at `i`: the end of `b`, or a CR.
#[inline]
fn done_at(b: &[u8], i: usize) -> bool {
    matches!(b.get(i), None | Some(b'\r'))
}

/// `*SP` from `i`: where the next parameter starts, and whether at least one SP came first.
#[inline]
fn skip_spaces(b: &[u8], mut i: usize) -> (usize, bool) {
    let start = i;
    while b.get(i) == Some(&b' ') {
        i += 1;
    }
    (i, i > start)
}

/// 1 to 19 decimal digits from `i` (so no overflow): the value and where the digits end.
/// Eight octets at a time: the digits of a word are counted with a few word operations and
/// converted with three multiplications ([`eight_digits`]).
#[inline]
fn fast_size(b: &[u8], mut i: usize) -> Option<(u64, usize)> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const POW10: [u64; 9] = [
        1,
        10,
        100,
        1_000,
        10_000,
        100_000,
        1_000_000,
        10_000_000,
        100_000_000,
    ];
    let start = i;
    let mut n = 0u64;
    loop {
        // Each lane minus '0': the digits become 0..=9. A lane that is not a digit has its
        // high bit set in `d` or in `d + 0x76` (borrows and carries only go up, from the first
        // such lane on, and the lanes above it are not used).
        let d = word_at(b, i).wrapping_sub(ONES * u64::from(b'0'));
        let other = (d | d.wrapping_add(ONES * 0x76)) & (ONES * 0x80);
        let k = (other.trailing_zeros() / 8) as usize;
        if k == 0 {
            break;
        }
        if i - start + k > 19 {
            return None; // 20 digits may overflow: the full parser decides
        }
        // The k digits into the top lanes, zeros (leading zeros) below them.
        n = n * POW10[k] + eight_digits(d << (8 * (8 - k)));
        i += k;
        if k < 8 {
            break;
        }
    }
    (i > start).then_some((n, i))
}

/// The number written by eight decimal digits, one per lane of `d` (values 0 to 9, the first
/// digit in the lowest lane): pairs, then quads, then the eight combined by multiplication.
#[inline]
fn eight_digits(d: u64) -> u64 {
    let d = (d.wrapping_mul(10 * 256 + 1) >> 8) & 0x00ff_00ff_00ff_00ff;
    let d = (d.wrapping_mul(100 * 65536 + 1) >> 16) & 0x0000_ffff_0000_ffff;
    d.wrapping_mul(10_000 * (1 << 32) + 1) >> 32
}

/// [`mail_params_fast`] of exactly `b`.
fn parse_mail_params_fast(b: &[u8]) -> Option<MailParams> {
    mail_params_fast(b).and_then(|(p, end)| (end == b.len()).then(|| p.into()))
}

/// The MAIL parameters that [`mail_params_fast`] takes: those of [`MailParams`] that are not
/// text. Small and `Copy`, to be passed around in registers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct CommonMailParams {
    pub(crate) size: Option<u64>,
    pub(crate) body: Option<BodyType>,
    pub(crate) ret: Option<Ret>,
    pub(crate) smtputf8: bool,
    pub(crate) requiretls: bool,
}

impl From<CommonMailParams> for MailParams {
    #[inline]
    fn from(p: CommonMailParams) -> MailParams {
        MailParams {
            size: p.size,
            body: p.body,
            smtputf8: p.smtputf8,
            ret: p.ret,
            envid: None,
            requiretls: p.requiretls,
            auth: None,
        }
    }
}

/// The common MAIL parameters, SIZE, BODY, SMTPUTF8, RET and REQUIRETLS, with the keywords
/// and values recognised by their first octets ([`Ci`]) in one pass: `Some` with exactly what
/// [`parse_mail_params_full`] gives, or `None` for anything else (another keyword, a repeat,
/// an error), which the full parser then decides. See the proptest `fast_paths_agree`.
///
/// The parameters end at the end of `b` or at a CR, whose offset is returned too: `b` may be
/// the rest of the receive buffer, the line's end not yet known (the CR is then that of the
/// CRLF, for the caller to check).
#[inline]
pub(crate) fn mail_params_fast(b: &[u8]) -> Option<(CommonMailParams, usize)> {
    const SIZE: Ci = Ci::new(b"SIZE=");
    const BODY: Ci = Ci::new(b"BODY=");
    const SMTPUTF8: Ci = Ci::new(b"SMTPUTF8");
    const RET: Ci = Ci::new(b"RET=");
    const REQUIRET: Ci = Ci::new(b"REQUIRET");
    const LS: Ci = Ci::new(b"LS");
    const SEVEN_BIT: Ci = Ci::new(b"7BIT");
    const EIGHT_BIT_MIME: Ci = Ci::new(b"8BITMIME");
    const BINARYMI: Ci = Ci::new(b"BINARYMI");
    const ME: Ci = Ci::new(b"ME");
    const FULL: Ci = Ci::new(b"FULL");
    const HDRS: Ci = Ci::new(b"HDRS");
    let mut out = CommonMailParams::default();
    let mut seen = 0u8;
    let mut i = 0;
    loop {
        // At the end, at a CR, or at the SP before a parameter (anything else was refused
        // after the previous parameter, or is not of this form at the start).
        let mut at = i;
        match b.get(at) {
            None | Some(b'\r') => return Some((out, at)),
            Some(b' ') => at += 1,
            Some(_) => return None,
        }
        while b.get(at) == Some(&b' ') {
            at += 1;
        }
        if done_at(b, at) {
            return Some((out, at));
        }
        let w = word_at(b, at);
        let (bit, next) = if SIZE.is(w) {
            let (n, end) = fast_size(b, at + 5)?;
            out.size = Some(n);
            (1, end)
        } else if BODY.is(w) {
            let v = word_at(b, at + 5);
            let (body, len) = if SEVEN_BIT.is(v) {
                (BodyType::SevenBit, 4)
            } else if EIGHT_BIT_MIME.is(v) {
                (BodyType::EightBitMime, 8)
            } else if BINARYMI.is(v) && ME.is(word_at(b, at + 13)) {
                (BodyType::BinaryMime, 10)
            } else {
                return None;
            };
            out.body = Some(body);
            (2, at + 5 + len)
        } else if SMTPUTF8.is(w) {
            out.smtputf8 = true;
            (4, at + 8)
        } else if RET.is(w) {
            let v = word_at(b, at + 4);
            out.ret = Some(if FULL.is(v) {
                Ret::Full
            } else if HDRS.is(v) {
                Ret::Headers
            } else {
                return None;
            });
            (8, at + 8)
        } else if REQUIRET.is(w) && LS.is(word_at(b, at + 8)) {
            out.requiretls = true;
            (16, at + 10)
        } else {
            return None;
        };
        if seen & bit != 0 {
            return None;
        }
        seen |= bit;
        i = next;
    }
}

/// [`parse_mail_params_at`] by the grammar alone, without the fast path.
#[inline(never)]
pub(crate) fn parse_mail_params_full(src: &Bytes, start: usize) -> Result<MailParams, ParamError> {
    const SIZE: u8 = 1;
    const BODY: u8 = 2;
    const SMTPUTF8: u8 = 4;
    const RET: u8 = 8;
    const ENVID: u8 = 16;
    const REQUIRETLS: u8 = 32;
    const AUTH: u8 = 64;
    let mut out = MailParams::default();
    let mut seen = 0u8;
    for_each_param(src, start, |p| {
        if p.is("SIZE") {
            p.once(&mut seen, SIZE)?;
            out.size = Some(parse_size(&p)?);
        } else if p.is("BODY") {
            p.once(&mut seen, BODY)?;
            let v = p.value()?;
            out.body = Some(if eq_ci(v, b"7BIT") {
                BodyType::SevenBit
            } else if eq_ci(v, b"8BITMIME") {
                BodyType::EightBitMime
            } else if eq_ci(v, b"BINARYMIME") {
                BodyType::BinaryMime
            } else {
                return Err(p.bad_value());
            });
        } else if p.is("SMTPUTF8") {
            p.once(&mut seen, SMTPUTF8)?;
            p.no_value()?;
            out.smtputf8 = true;
        } else if p.is("RET") {
            p.once(&mut seen, RET)?;
            let v = p.value()?;
            out.ret = Some(if eq_ci(v, b"FULL") {
                Ret::Full
            } else if eq_ci(v, b"HDRS") {
                Ret::Headers
            } else {
                return Err(p.bad_value());
            });
        } else if p.is("ENVID") {
            p.once(&mut seen, ENVID)?;
            let v = p.value()?;
            if v.len() > MAX_ENVID || !is_xtext(v, false) {
                return Err(p.bad_value());
            }
            out.envid = Some(p.value_text()?);
        } else if p.is("REQUIRETLS") {
            p.once(&mut seen, REQUIRETLS)?;
            p.no_value()?;
            out.requiretls = true;
        } else if p.is("AUTH") {
            p.once(&mut seen, AUTH)?;
            if !is_xtext(p.value()?, true) {
                return Err(p.bad_value());
            }
            out.auth = Some(p.value_text()?);
        } else {
            return Err(ParamError::Unknown(p.keyword()));
        }
        Ok(())
    })?;
    Ok(out)
}

/// Parses the parameters of RCPT (RFC 5321 section 4.1.1.3): everything after the `>` of the
/// forward-path up to the CRLF. Empty or all-SP input means no parameters; otherwise the input
/// must start with SP.
///
/// Keywords: NOTIFY and ORCPT (RFC 3461 sections 4.1 and 4.2). Any other is
/// [`ParamError::Unknown`].
#[cfg_attr(not(any(test, feature = "fuzzing")), allow(dead_code))]
pub(crate) fn parse_rcpt_params(src: &Bytes) -> Result<RcptParams, ParamError> {
    parse_rcpt_params_at(src, 0)
}

/// [`parse_rcpt_params`] of `src[start..]`, sharing `src`.
pub(crate) fn parse_rcpt_params_at(src: &Bytes, start: usize) -> Result<RcptParams, ParamError> {
    if let Some(p) = parse_rcpt_params_fast(src.get(start..).unwrap_or_default()) {
        return Ok(p);
    }
    parse_rcpt_params_full(src, start)
}

/// [`rcpt_params_fast`] of exactly `b`.
fn parse_rcpt_params_fast(b: &[u8]) -> Option<RcptParams> {
    let (notify, end) = rcpt_params_fast(b)?;
    (end == b.len()).then_some(RcptParams {
        notify,
        orcpt: None,
    })
}

/// None, or a NOTIFY: `Some` with exactly what [`parse_rcpt_params_full`] gives, or `None`
/// for anything else (ORCPT, another keyword, an error), which the full parser then decides.
/// See the proptest `fast_paths_agree`. Where the parameters end, as for
/// [`mail_params_fast`].
#[inline]
pub(crate) fn rcpt_params_fast(b: &[u8]) -> Option<(Option<Notify>, usize)> {
    // The common case: none.
    if done_at(b, 0) {
        return Some((None, 0));
    }
    rcpt_params_notify(b)
}

/// [`rcpt_params_fast`] when there is something after the path.
#[inline]
fn rcpt_params_notify(b: &[u8]) -> Option<(Option<Notify>, usize)> {
    const NOTIFY: Ci = Ci::new(b"NOTIFY=");
    const ITEMS: [(Ci, u8, usize); 4] = [
        (Ci::new(b"SUCCESS"), Notify::SUCCESS, 7),
        (Ci::new(b"FAILURE"), Notify::FAILURE, 7),
        (Ci::new(b"DELAY"), Notify::DELAY, 5),
        (Ci::new(b"NEVER"), Notify::NEVER, 5),
    ];
    let (at, spaced) = skip_spaces(b, 0);
    if done_at(b, at) {
        return Some((None, at));
    }
    if !spaced || !NOTIFY.is(word_at(b, at)) {
        return None;
    }
    let mut i = at + 7;
    let mut bits = 0u8;
    loop {
        let v = word_at(b, i);
        let &(_, bit, len) = ITEMS.iter().find(|(item, _, _)| item.is(v))?;
        if bits & bit != 0 {
            return None;
        }
        bits |= bit;
        i += len;
        if b.get(i) != Some(&b',') {
            break;
        }
        i += 1;
    }
    if bits & Notify::NEVER != 0 && bits != Notify::NEVER || !ends_at(b, i) {
        return None;
    }
    // Only spaces may follow (a second parameter goes to the full parser).
    let (end, _) = skip_spaces(b, i);
    if !done_at(b, end) {
        return None;
    }
    Some((Some(Notify(bits)), end))
}

/// [`parse_rcpt_params_at`] by the grammar alone, without the fast path.
#[inline(never)]
pub(crate) fn parse_rcpt_params_full(src: &Bytes, start: usize) -> Result<RcptParams, ParamError> {
    const NOTIFY: u8 = 1;
    const ORCPT: u8 = 2;
    let mut out = RcptParams::default();
    let mut seen = 0u8;
    for_each_param(src, start, |p| {
        if p.is("NOTIFY") {
            p.once(&mut seen, NOTIFY)?;
            out.notify = Some(Notify::parse(p.value()?).ok_or_else(|| p.bad_value())?);
        } else if p.is("ORCPT") {
            p.once(&mut seen, ORCPT)?;
            out.orcpt = Some(parse_orcpt(&p)?);
        } else {
            return Err(ParamError::Unknown(p.keyword()));
        }
        Ok(())
    })?;
    Ok(out)
}

/// `orcpt-parameter = "ORCPT=" original-recipient-address`, `original-recipient-address =
/// addr-type ";" xtext` (RFC 3461 section 4.2), at most 500 characters. UTF-8 is accepted in
/// the address for the `utf-8` address type of RFC 6533 section 3.
fn parse_orcpt(p: &Param<'_>) -> Result<Orcpt, ParamError> {
    let v = p.value_text()?;
    if v.chars().count() > MAX_ORCPT {
        return Err(p.bad_value());
    }
    let semi = v.find(';').ok_or_else(|| p.bad_value())?;
    let addr_type = v.slice(0..semi).ok_or_else(|| p.bad_value())?;
    let address = v.slice(semi + 1..v.len()).ok_or_else(|| p.bad_value())?;
    if !is_atom(addr_type.as_bytes()) || !is_xtext(address.as_bytes(), true) {
        return Err(p.bad_value());
    }
    Ok(Orcpt { addr_type, address })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn mail(s: &str) -> Result<MailParams, ParamError> {
        parse_mail_params(&Bytes::copy_from_slice(s.as_bytes()))
    }

    fn rcpt(s: &str) -> Result<RcptParams, ParamError> {
        parse_rcpt_params(&Bytes::copy_from_slice(s.as_bytes()))
    }

    fn kw(s: &'static str) -> Text {
        Text::from_static(s)
    }

    fn notify(s: &str) -> Notify {
        rcpt(&format!(" NOTIFY={s}")).unwrap().notify.unwrap()
    }

    fn inside(buf: &Bytes, s: &str) -> bool {
        let range = buf.as_ptr_range();
        let p = s.as_ptr();
        range.start <= p && p.wrapping_add(s.len()) <= range.end
    }

    // --- Generic syntax ----------------------------------------------------------------------

    #[test]
    fn empty_and_whitespace_only() {
        assert_eq!(mail("").unwrap(), MailParams::default());
        assert_eq!(mail("   ").unwrap(), MailParams::default());
        assert_eq!(rcpt("").unwrap(), RcptParams::default());
        assert_eq!(rcpt(" ").unwrap(), RcptParams::default());
    }

    #[test]
    fn garbage_after_path() {
        assert_eq!(mail("x"), Err(ParamError::Syntax));
        assert_eq!(mail("SIZE=10"), Err(ParamError::Syntax));
        assert_eq!(mail(">"), Err(ParamError::Syntax));
        assert_eq!(rcpt("NOTIFY=NEVER"), Err(ParamError::Syntax));
        assert_eq!(mail("\tSIZE=10"), Err(ParamError::Syntax));
    }

    #[test]
    fn separators_and_trailing_spaces() {
        let p = mail("  SIZE=10   BODY=8BITMIME  ").unwrap();
        assert_eq!(p.size, Some(10));
        assert_eq!(p.body, Some(BodyType::EightBitMime));
        assert_eq!(mail(" SIZE=10\tBODY=7BIT"), Err(ParamError::Syntax));
    }

    #[test]
    fn keyword_and_value_grammar() {
        for bad in [
            " =x",
            " -SIZE=1",
            " SI_ZE=1",
            " SIZE=",
            " SIZE==1",
            " SIZE=1=2",
            " AUTH=a\u{7f}",
            " AUTH=a\u{1}",
            " ENVID=\r",
        ] {
            assert_eq!(mail(bad), Err(ParamError::Syntax), "{bad:?}");
        }
        assert_eq!(rcpt(" NOTIFY="), Err(ParamError::Syntax));
        // Keywords may contain digits and inner or trailing hyphens; unknown ones are Unknown.
        assert_eq!(mail(" X-FOO-=1"), Err(ParamError::Unknown(kw("X-FOO-"))));
        assert_eq!(mail(" 8BIT"), Err(ParamError::Unknown(kw("8BIT"))));
    }

    #[test]
    fn invalid_utf8_is_syntax() {
        let src = Bytes::from_static(b" AUTH=\xff");
        assert_eq!(parse_mail_params(&src), Err(ParamError::Syntax));
        let src = Bytes::from_static(b" ORCPT=utf-8;\xc3");
        assert_eq!(parse_rcpt_params(&src), Err(ParamError::Syntax));
    }

    #[test]
    fn keywords_are_case_insensitive() {
        let p =
            mail(" size=1 Body=binarymime smtpUTF8 ret=hdrs envid=x requireTLS auth=<>").unwrap();
        assert_eq!(p.size, Some(1));
        assert_eq!(p.body, Some(BodyType::BinaryMime));
        assert!(p.smtputf8);
        assert_eq!(p.ret, Some(Ret::Headers));
        assert_eq!(p.envid.as_deref(), Some("x"));
        assert!(p.requiretls);
        assert_eq!(p.auth.as_deref(), Some("<>"));
        let r = rcpt(" notify=success orcpt=rfc822;a@b").unwrap();
        assert!(r.notify.unwrap().success());
        assert!(r.orcpt.is_some());
    }

    // --- MAIL parameters ---------------------------------------------------------------------

    #[test]
    fn size() {
        assert_eq!(mail(" SIZE=0").unwrap().size, Some(0));
        assert_eq!(mail(" SIZE=1048576").unwrap().size, Some(1_048_576));
        assert_eq!(
            mail(" SIZE=18446744073709551615").unwrap().size,
            Some(u64::MAX)
        );
        assert_eq!(
            mail(" SIZE=18446744073709551616"),
            Err(ParamError::SizeOverflow)
        );
        assert_eq!(
            mail(" SIZE=99999999999999999999"),
            Err(ParamError::SizeOverflow)
        );
        // 1*20DIGIT: leading zeros are digits too.
        assert_eq!(mail(" SIZE=00000000000000000001").unwrap().size, Some(1));
        assert_eq!(
            mail(" SIZE=000000000000000000001"),
            Err(ParamError::BadValue(kw("SIZE")))
        );
        for bad in [" SIZE", " SIZE=-1", " SIZE=+1", " SIZE=1k", " SIZE=0x10"] {
            assert_eq!(mail(bad), Err(ParamError::BadValue(kw("SIZE"))), "{bad}");
        }
    }

    #[test]
    fn body() {
        assert_eq!(mail(" BODY=7BIT").unwrap().body, Some(BodyType::SevenBit));
        assert_eq!(mail(" BODY=7bit").unwrap().body, Some(BodyType::SevenBit));
        assert_eq!(
            mail(" BODY=8BITMIME").unwrap().body,
            Some(BodyType::EightBitMime)
        );
        assert_eq!(
            mail(" BODY=BinaryMIME").unwrap().body,
            Some(BodyType::BinaryMime)
        );
        assert_eq!(mail(" BODY=8BIT"), Err(ParamError::BadValue(kw("BODY"))));
        assert_eq!(mail(" BODY"), Err(ParamError::BadValue(kw("BODY"))));
    }

    #[test]
    fn flags_take_no_value() {
        assert!(mail(" SMTPUTF8").unwrap().smtputf8);
        assert!(!mail("").unwrap().smtputf8);
        assert!(mail(" REQUIRETLS").unwrap().requiretls);
        assert!(!mail("").unwrap().requiretls);
        assert_eq!(
            mail(" SMTPUTF8=yes"),
            Err(ParamError::BadValue(kw("SMTPUTF8")))
        );
        assert_eq!(
            mail(" RequireTLS=1"),
            Err(ParamError::BadValue(kw("RequireTLS")))
        );
    }

    #[test]
    fn ret() {
        assert_eq!(mail(" RET=FULL").unwrap().ret, Some(Ret::Full));
        assert_eq!(mail(" RET=hdrs").unwrap().ret, Some(Ret::Headers));
        assert_eq!(mail(" RET=HEADERS"), Err(ParamError::BadValue(kw("RET"))));
        assert_eq!(mail(" RET"), Err(ParamError::BadValue(kw("RET"))));
    }

    #[test]
    fn envid() {
        assert_eq!(
            mail(" ENVID=QQ314159+2B1").unwrap().envid.as_deref(),
            Some("QQ314159+2B1")
        );
        let max = "e".repeat(100);
        assert_eq!(
            mail(&format!(" ENVID={max}")).unwrap().envid.as_deref(),
            Some(max.as_str())
        );
        let long = "e".repeat(101);
        assert_eq!(
            mail(&format!(" ENVID={long}")),
            Err(ParamError::BadValue(kw("ENVID")))
        );
        for bad in [
            " ENVID=a+2b",
            " ENVID=a+",
            " ENVID=a+4",
            " ENVID=é",
            " ENVID",
        ] {
            assert_eq!(mail(bad), Err(ParamError::BadValue(kw("ENVID"))), "{bad}");
        }
    }

    #[test]
    fn auth() {
        assert_eq!(mail(" AUTH=<>").unwrap().auth.as_deref(), Some("<>"));
        assert_eq!(
            mail(" AUTH=e+3Dmc2@example.com").unwrap().auth.as_deref(),
            Some("e+3Dmc2@example.com")
        );
        assert_eq!(
            mail(" AUTH=用户@例子.广告").unwrap().auth.as_deref(),
            Some("用户@例子.广告")
        );
        assert_eq!(mail(" AUTH=a+zz"), Err(ParamError::BadValue(kw("AUTH"))));
        assert_eq!(mail(" AUTH"), Err(ParamError::BadValue(kw("AUTH"))));
    }

    #[test]
    fn all_mail_params_together() {
        let p =
            mail(" SIZE=500 BODY=8BITMIME SMTPUTF8 RET=FULL ENVID=id1 REQUIRETLS AUTH=a@b.example")
                .unwrap();
        let expected = MailParams {
            size: Some(500),
            body: Some(BodyType::EightBitMime),
            smtputf8: true,
            ret: Some(Ret::Full),
            envid: Some(kw("id1")),
            requiretls: true,
            auth: Some(kw("a@b.example")),
        };
        assert_eq!(p, expected);
    }

    #[test]
    fn mail_duplicates() {
        for (s, k) in [
            (" SIZE=1 SIZE=2", "SIZE"),
            (" SIZE=1 size=1", "size"),
            (" BODY=7BIT BODY=8BITMIME", "BODY"),
            (" SMTPUTF8 SMTPUTF8", "SMTPUTF8"),
            (" RET=FULL RET=FULL", "RET"),
            (" ENVID=a ENVID=b", "ENVID"),
            (" REQUIRETLS REQUIRETLS", "REQUIRETLS"),
            (" AUTH=<> AUTH=<>", "AUTH"),
        ] {
            assert_eq!(
                mail(s),
                Err(ParamError::Duplicate(Text::from(k.to_string()))),
                "{s}"
            );
        }
        // A duplicate is reported even when its value would also be bad.
        assert_eq!(
            mail(" SIZE=1 SIZE=x"),
            Err(ParamError::Duplicate(kw("SIZE")))
        );
    }

    #[test]
    fn mail_unknown_keywords() {
        assert_eq!(mail(" FOO=bar"), Err(ParamError::Unknown(kw("FOO"))));
        assert_eq!(mail(" SIZE=1 XYZ"), Err(ParamError::Unknown(kw("XYZ"))));
        assert_eq!(
            mail(" NOTIFY=NEVER"),
            Err(ParamError::Unknown(kw("NOTIFY")))
        );
        assert_eq!(
            mail(" ORCPT=rfc822;a@b"),
            Err(ParamError::Unknown(kw("ORCPT")))
        );
        // The first error wins.
        assert_eq!(mail(" FOO SIZE=x"), Err(ParamError::Unknown(kw("FOO"))));
        assert_eq!(mail(" SIZE=x FOO"), Err(ParamError::BadValue(kw("SIZE"))));
    }

    // --- RCPT parameters ---------------------------------------------------------------------

    #[test]
    fn notify_combinations() {
        let n = notify("NEVER");
        assert!(n.never() && !n.success() && !n.failure() && !n.delay());
        let n = notify("SUCCESS");
        assert!(!n.never() && n.success() && !n.failure() && !n.delay());
        let n = notify("failure,delay");
        assert!(!n.never() && !n.success() && n.failure() && n.delay());
        let n = notify("DELAY,Success,FAILURE");
        assert!(!n.never() && n.success() && n.failure() && n.delay());
        assert_eq!(notify("SUCCESS,FAILURE"), notify("FAILURE,SUCCESS"));
        for bad in [
            "NEVER,SUCCESS",
            "SUCCESS,NEVER",
            "NEVER,NEVER",
            "SUCCESS,SUCCESS",
            "SUCCESS,",
            ",SUCCESS",
            "SUCCESS,,DELAY",
            "ALWAYS",
            "SUCCESS;DELAY",
        ] {
            assert_eq!(
                rcpt(&format!(" NOTIFY={bad}")),
                Err(ParamError::BadValue(kw("NOTIFY"))),
                "{bad}"
            );
        }
        assert_eq!(rcpt(" NOTIFY"), Err(ParamError::BadValue(kw("NOTIFY"))));
    }

    #[test]
    fn orcpt() {
        let r = rcpt(" ORCPT=rfc822;Bob+2Bx@example.com").unwrap();
        let o = r.orcpt.unwrap();
        assert_eq!(o.addr_type, "rfc822");
        assert_eq!(o.address, "Bob+2Bx@example.com");
        assert_eq!(decode_xtext(&o.address).unwrap(), b"Bob+x@example.com");
        let o = rcpt(" ORCPT=utf-8;用户@例子.广告").unwrap().orcpt.unwrap();
        assert_eq!(o.addr_type, "utf-8");
        assert_eq!(o.address, "用户@例子.广告");
        // ";" is an xchar: only the first one separates the address type.
        let o = rcpt(" ORCPT=x-local;a;b").unwrap().orcpt.unwrap();
        assert_eq!(
            (o.addr_type.as_str(), o.address.as_str()),
            ("x-local", "a;b")
        );
        let o = rcpt(" ORCPT=rfc822;").unwrap().orcpt.unwrap();
        assert_eq!(o.address, "");
        // Length edge: the value may be 500 characters.
        let v500 = format!("rfc822;{}", "a".repeat(493));
        assert_eq!(v500.len(), 500);
        assert!(rcpt(&format!(" ORCPT={v500}")).is_ok());
        let v501 = format!("rfc822;{}", "a".repeat(494));
        assert_eq!(
            rcpt(&format!(" ORCPT={v501}")),
            Err(ParamError::BadValue(kw("ORCPT")))
        );
        for bad in [
            " ORCPT=rfc822",
            " ORCPT=;a@b",
            " ORCPT=rfc(822);a@b",
            " ORCPT=rfc822;a+zz",
            " ORCPT=rfc822;a+4",
            " ORCPT",
        ] {
            assert_eq!(rcpt(bad), Err(ParamError::BadValue(kw("ORCPT"))), "{bad}");
        }
    }

    #[test]
    fn rcpt_duplicates_and_unknown() {
        assert_eq!(
            rcpt(" NOTIFY=NEVER NOTIFY=NEVER"),
            Err(ParamError::Duplicate(kw("NOTIFY")))
        );
        assert_eq!(
            rcpt(" ORCPT=rfc822;a ORCPT=rfc822;b"),
            Err(ParamError::Duplicate(kw("ORCPT")))
        );
        assert_eq!(rcpt(" SIZE=10"), Err(ParamError::Unknown(kw("SIZE"))));
        assert_eq!(rcpt(" SMTPUTF8"), Err(ParamError::Unknown(kw("SMTPUTF8"))));
        assert_eq!(rcpt(" XFOO=1"), Err(ParamError::Unknown(kw("XFOO"))));
        let r = rcpt(" NOTIFY=SUCCESS,DELAY ORCPT=rfc822;x@y ").unwrap();
        assert!(r.notify.unwrap().delay());
        assert_eq!(r.orcpt.unwrap().address, "x@y");
    }

    // --- xtext -------------------------------------------------------------------------------

    #[test]
    fn xtext_decoding() {
        assert_eq!(decode_xtext("").unwrap(), b"");
        assert_eq!(decode_xtext("abc").unwrap(), b"abc");
        assert_eq!(decode_xtext("+2B+3D+20").unwrap(), b"+= ");
        assert_eq!(decode_xtext("+FF+00").unwrap(), b"\xff\x00");
        assert_eq!(decode_xtext("!~<>").unwrap(), b"!~<>");
        for bad in ["+", "+2", "+2b", "+G0", "a=b", "a b", "é", "\u{7f}", "+ 2B"] {
            assert_eq!(decode_xtext(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn error_display() {
        assert!(ParamError::Syntax.to_string().contains("4.1.2"));
        assert!(ParamError::Unknown(kw("FOO")).to_string().contains("FOO"));
        assert!(ParamError::Duplicate(kw("SIZE"))
            .to_string()
            .contains("SIZE"));
        assert!(ParamError::BadValue(kw("RET")).to_string().contains("RET"));
        assert!(ParamError::SizeOverflow.to_string().contains("SIZE"));
    }

    // --- Zero copy -----------------------------------------------------------------------------

    #[test]
    fn values_are_slices_of_the_input() {
        let src = Bytes::from(b" ENVID=abc AUTH=<> BODY=7BIT".to_vec());
        let p = parse_mail_params(&src).unwrap();
        assert!(inside(&src, p.envid.as_deref().unwrap()));
        assert!(inside(&src, p.auth.as_deref().unwrap()));
        let src = Bytes::from(b" ORCPT=rfc822;a@b".to_vec());
        let o = parse_rcpt_params(&src).unwrap().orcpt.unwrap();
        assert!(inside(&src, &o.addr_type));
        assert!(inside(&src, &o.address));
        let src = Bytes::from(b" FROB=1".to_vec());
        match parse_mail_params(&src) {
            Err(ParamError::Unknown(k)) => assert!(inside(&src, &k)),
            other => panic!("{other:?}"),
        }
    }

    // --- Property tests ------------------------------------------------------------------------

    // --- The fast paths -----------------------------------------------------------------------

    /// When a fast path answers, the full parser gives the same answer.
    fn check_fast_paths(b: &[u8]) -> Result<(), TestCaseError> {
        let src = Bytes::copy_from_slice(b);
        if let Some(fast) = parse_mail_params_fast(b) {
            prop_assert_eq!(Ok(fast), parse_mail_params_full(&src, 0), "{:?}", b);
        }
        if let Some(fast) = parse_rcpt_params_fast(b) {
            prop_assert_eq!(Ok(fast), parse_rcpt_params_full(&src, 0), "{:?}", b);
        }
        Ok(())
    }

    #[test]
    fn fast_paths_take_the_common_parameters() {
        for p in [
            "",
            "  ",
            " SIZE=12345 BODY=8BITMIME",
            " size=0 body=7bit  ",
            " BODY=BINARYMIME SMTPUTF8 RET=HDRS REQUIRETLS SIZE=9999999999999999999",
            " ret=full smtputf8",
        ] {
            let fast = parse_mail_params_fast(p.as_bytes()).unwrap_or_else(|| panic!("{p}"));
            assert_eq!(Ok(fast), mail(p));
        }
        for p in [
            " NOTIFY=SUCCESS,FAILURE",
            " notify=never ",
            " NOTIFY=DELAY,Success,FAILURE",
        ] {
            let fast = parse_rcpt_params_fast(p.as_bytes()).unwrap_or_else(|| panic!("{p}"));
            assert_eq!(Ok(fast), rcpt(p));
        }
        for p in [
            "x",
            " SIZE=",
            " SIZE=1x",
            " SIZE=99999999999999999999",
            " SIZE=1 SIZE=1",
            " BODY=8BIT",
            " BODY=BINARYMIMEX",
            " SMTPUTF8=1",
            " RET=FULLY",
            " REQUIRETL",
            " ENVID=x",
            " AUTH=<>",
            " FOO",
            " SIZE=1\tBODY=7BIT",
        ] {
            assert_eq!(parse_mail_params_fast(p.as_bytes()), None, "{p}");
        }
        for p in [
            " NOTIFY=",
            " NOTIFY=NEVER,SUCCESS",
            " NOTIFY=SUCCESS,",
            " NOTIFY=SUCCESS,SUCCESS",
            " NOTIFY=SUCCESS ORCPT=rfc822;a@b",
            " NOTIFY=SUCCESSX",
            " ORCPT=rfc822;a@b",
            "NOTIFY=NEVER",
        ] {
            assert_eq!(parse_rcpt_params_fast(p.as_bytes()), None, "{p}");
        }
    }

    #[test]
    fn sizes_eight_digits_at_a_time() {
        for n in [
            0u64,
            7,
            10,
            12345,
            9_999_999,
            12_345_678,
            123_456_789,
            1_234_567_890_123_456,
            9_999_999_999_999_999_999,
        ] {
            for tail in ["", " ", "\r\n", "x", "0x"] {
                let v = format!("{n}{tail}");
                let end = n.to_string().len() + tail.len()
                    - tail.trim_start_matches(|c: char| c.is_ascii_digit()).len();
                let digits = &v[..end];
                let expected = (digits.len() <= 19).then(|| (digits.parse().unwrap(), end));
                assert_eq!(fast_size(v.as_bytes(), 0), expected, "{v:?}");
            }
        }
        assert_eq!(fast_size(b"00000000000000000001", 0), None, "20 digits");
        assert_eq!(fast_size(b"0000000000000000001", 0), Some((1, 19)));
        assert_eq!(fast_size(b"", 0), None);
        assert_eq!(fast_size(b"x1", 0), None);
        assert_eq!(fast_size(b"SIZE=42 ", 5), Some((42, 7)));
        assert_eq!(fast_size(b"/:", 0), None);
    }

    #[test]
    fn fast_paths_stop_at_a_cr() {
        let (p, end) = mail_params_fast(b" SIZE=1 BODY=7BIT\r\nRCPT").unwrap();
        assert_eq!(
            (p.size, p.body, end),
            (Some(1), Some(BodyType::SevenBit), 17)
        );
        assert_eq!(mail_params_fast(b"\r\n").unwrap().1, 0);
        assert_eq!(mail_params_fast(b"  \r\n").unwrap().1, 2);
        let (p, end) = mail_params_fast(b" SIZE=1\r2").unwrap();
        assert_eq!((MailParams::from(p), end), (mail(" SIZE=1").unwrap(), 7));
        let (notify, end) = rcpt_params_fast(b" NOTIFY=NEVER \r\n").unwrap();
        assert!(notify.unwrap().never());
        assert_eq!(end, 14);
        assert_eq!(rcpt_params_fast(b"\r\n"), Some((None, 0)));
        // Only as the end: within the exact input, a CR is not taken.
        assert_eq!(parse_mail_params_fast(b" SIZE=1\r"), None);
        assert_eq!(parse_rcpt_params_fast(b" NOTIFY=NEVER\r"), None);
        assert_eq!(mail(" SIZE=1\r"), Err(ParamError::Syntax));
    }

    proptest! {
        #[test]
        fn fast_paths_agree_on_arbitrary_bytes(
            bytes in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            check_fast_paths(&bytes)?;
        }

        #[test]
        fn fast_paths_agree_on_keyword_soup(
            s in "( {1,2}|(SIZE|BODY|RET|SMTPUTF8|REQUIRETLS|NOTIFY|ENVID)=?|7BIT|8BITMIME|\
                BINARYMIME|FULL|HDRS|SUCCESS|FAILURE|DELAY|NEVER|[a-zA-Z0-9=,;-]){0,16}",
        ) {
            check_fast_paths(s.as_bytes())?;
            check_fast_paths(s.to_lowercase().as_bytes())?;
        }

        #[test]
        fn never_panics_on_arbitrary_bytes(
            bytes in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let src = Bytes::from(bytes.clone());
            let _ = parse_mail_params(&src);
            let _ = parse_rcpt_params(&src);
            let mut spaced = vec![b' '];
            spaced.extend_from_slice(&bytes);
            let spaced = Bytes::from(spaced);
            let _ = parse_mail_params(&spaced);
            let _ = parse_rcpt_params(&spaced);
            if let Ok(s) = std::str::from_utf8(&bytes) {
                let _ = decode_xtext(s);
            }
        }

        #[test]
        fn never_panics_on_keyword_soup(
            s in " (SIZE|BODY|RET|ENVID|AUTH|NOTIFY|ORCPT|SMTPUTF8|[a-z=;,+0-9 ]){0,12}",
        ) {
            let _ = mail(&s);
            let _ = rcpt(&s);
        }

        #[test]
        fn fast_sizes_are_decimal(s in "[0-9]{0,22}[^0-9]?[0-9]{0,3}") {
            let digits = s.len() - s.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            let expected = (1..=19)
                .contains(&digits)
                .then(|| (s[..digits].parse().unwrap(), digits));
            prop_assert_eq!(fast_size(s.as_bytes(), 0), expected);
        }

        #[test]
        fn size_round_trips(n in any::<u64>()) {
            prop_assert_eq!(mail(&format!(" SIZE={n}")).unwrap().size, Some(n));
        }

        #[test]
        fn size_overflow_is_detected(extra in 1u64..=u64::MAX / 2) {
            // Values from u64::MAX + 1 upward, all 20 digits.
            let big = u128::from(u64::MAX) + u128::from(extra);
            prop_assert_eq!(mail(&format!(" SIZE={big}")), Err(ParamError::SizeOverflow));
        }

        #[test]
        fn xtext_round_trips(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let encoded: String = data
                .iter()
                .map(|&c| match c {
                    b'+' | b'=' => format!("+{c:02X}"),
                    33..=126 => char::from(c).to_string(),
                    _ => format!("+{c:02X}"),
                })
                .collect();
            prop_assert_eq!(decode_xtext(&encoded), Some(data));
            if !encoded.is_empty() && encoded.len() <= 100 {
                let p = mail(&format!(" ENVID={encoded}")).unwrap();
                prop_assert_eq!(p.envid.as_deref(), Some(encoded.as_str()));
            }
        }

        #[test]
        fn notify_any_non_empty_subset(
            success in any::<bool>(),
            failure in any::<bool>(),
            delay in any::<bool>(),
        ) {
            let mut items = Vec::new();
            if success { items.push("SUCCESS") }
            if failure { items.push("failure") }
            if delay { items.push("Delay") }
            let r = rcpt(&format!(" NOTIFY={}", items.join(",")));
            if items.is_empty() {
                prop_assert_eq!(r, Err(ParamError::Syntax));
            } else {
                let n = r.unwrap().notify.unwrap();
                prop_assert_eq!((n.never(), n.success(), n.failure(), n.delay()),
                    (false, success, failure, delay));
            }
        }
    }
}

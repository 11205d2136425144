//! Header fields (RFC 5322 section 2.2) and the MIME fields the parser reads: Content-Type
//! (RFC 2045 section 5), Content-Transfer-Encoding (RFC 2045 section 6) and
//! Content-Disposition (RFC 2183), with RFC 2231 parameter values.

use super::{charset, decode_encoded_words};
use crate::Text;
use bytes::Bytes;
use std::borrow::Cow;
use std::fmt;

/// One header field of an entity, as it came: name, colon, value, folding and all.
///
/// The field shares the parser's buffer (no copy). Three views of the value:
/// [`raw_value`](Self::raw_value) (exact octets), [`unfolded`](Self::unfolded) (RFC 5322
/// section 2.2.3) and [`decoded`](Self::decoded) (unfolded, with RFC 2047 encoded-words
/// decoded).
///
/// ```
/// use smtp_proto::mime::HeaderField;
/// let f = HeaderField::parse("Subject: =?utf-8?Q?caf=C3=A9?=\r\n and more\r\n".into()).unwrap();
/// assert!(f.is("subject"));
/// assert_eq!(f.raw_value(), &b" =?utf-8?Q?caf=C3=A9?=\r\n and more"[..]);
/// assert_eq!(f.unfolded(), "=?utf-8?Q?caf=C3=A9?= and more");
/// assert_eq!(f.decoded(), "café and more");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct HeaderField {
    raw: Bytes,
    name: Text,
    colon: usize,
}

impl HeaderField {
    /// Parses one field: everything up to the first colon is the name (trailing white space,
    /// which RFC 5322 section 4.5 allows in obsolete syntax, is trimmed from the name), the
    /// rest is the value. `raw` may end with the field's line break. `None` without a colon.
    pub fn parse(raw: Bytes) -> Option<HeaderField> {
        let colon = memchr::memchr(b':', &raw)?;
        let name = raw.get(..colon).unwrap_or_default();
        let end = name
            .iter()
            .rposition(|&b| b != b' ' && b != b'\t')
            .map_or(0, |p| p + 1);
        let name = match std::str::from_utf8(&name[..end]) {
            Ok(_) => Text::from_utf8(raw.slice(..end)).unwrap_or_default(),
            Err(_) => Text::from(String::from_utf8_lossy(&name[..end]).into_owned()),
        };
        Some(HeaderField { raw, name, colon })
    }

    /// Offset of the colon in [`raw`](Self::raw).
    pub(crate) fn colon(&self) -> usize {
        self.colon
    }

    /// The field name, as sent (case kept). Octets that are not UTF-8 are replaced by U+FFFD
    /// here; [`raw`](Self::raw) has them.
    pub fn name(&self) -> &Text {
        &self.name
    }

    /// Whether the name is `name`, ignoring ASCII case (field names are case-insensitive,
    /// RFC 5322 section 1.2.2).
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }

    /// The whole field exactly as it appeared in the message, including its line break(s).
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }

    /// The octets after the colon, folding kept, without the final line break.
    pub fn raw_value(&self) -> Bytes {
        let v = self
            .raw
            .slice(self.colon.saturating_add(1).min(self.raw.len())..);
        let end = if v.ends_with(b"\r\n") {
            v.len() - 2
        } else if v.ends_with(b"\n") {
            v.len() - 1
        } else {
            v.len()
        };
        v.slice(..end)
    }

    /// The value unfolded (RFC 5322 section 2.2.3: a line break followed by white space is
    /// removed) and trimmed of white space at both ends. Octets that are not UTF-8 (RFC 6532
    /// allows UTF-8 in header values) become U+FFFD.
    pub fn unfolded(&self) -> Cow<'_, str> {
        unfold(self.raw.get(self.colon + 1..).unwrap_or_default())
    }

    /// The unfolded value with RFC 2047 encoded-words decoded (see [`decode_encoded_words`]).
    pub fn decoded(&self) -> String {
        decode_encoded_words(&self.unfolded()).into_owned()
    }
}

impl fmt::Debug for HeaderField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {:?}", self.name, self.unfolded())
    }
}

/// Removes folding line breaks (CRLF or LF before white space, and the final one) and trims.
pub(crate) fn unfold(value: &[u8]) -> Cow<'_, str> {
    let trimmed = trim(value);
    if memchr::memchr2(b'\r', b'\n', trimmed).is_none() {
        return String::from_utf8_lossy(trimmed);
    }
    let mut out = Vec::with_capacity(trimmed.len());
    for &b in trimmed {
        if b != b'\r' && b != b'\n' {
            out.push(b);
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

fn trim(s: &[u8]) -> &[u8] {
    let ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let start = s.iter().position(|b| !ws(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|b| !ws(b)).map_or(start, |p| p + 1);
    s.get(start..end).unwrap_or_default()
}

/// A parameter of a Content-Type or Content-Disposition field (RFC 2045 section 5.1), with
/// RFC 2231 continuations joined and its charset converted.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Param {
    /// The attribute name, lower case, without RFC 2231 `*` and section suffixes.
    pub name: Text,
    /// The value: quotes and quoted-pairs undone, RFC 2231 percent-encoding and charset (or a
    /// misplaced RFC 2047 encoded-word, as some mailers write) decoded.
    pub value: Text,
}

/// A parsed Content-Type field (RFC 2045 section 5.1).
///
/// ```
/// use smtp_proto::mime::ContentType;
/// let ct = ContentType::parse("Multipart/Mixed; boundary=\"a b\"; (comment) charset=UTF-8");
/// assert_eq!(ct.mime_type(), "multipart/mixed");
/// assert_eq!((ct.main_type(), ct.subtype()), ("multipart", "mixed"));
/// assert_eq!(ct.param("BOUNDARY"), Some("a b"));
/// assert_eq!(ContentType::parse("garbage").mime_type(), "text/plain");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentType {
    mime_type: Text,
    slash: usize,
    params: Vec<Param>,
    valid: bool,
}

impl ContentType {
    /// Parses a Content-Type value. A value without a valid `type/subtype` gives the default
    /// `text/plain` (RFC 2045 section 5.2) with the parameters that could be read, and
    /// [`is_valid`](Self::is_valid) false.
    pub fn parse(value: &str) -> ContentType {
        let mut p = Lexer::new(value);
        p.cfws();
        let main = p.token();
        p.cfws();
        let slash = p.eat(b'/');
        p.cfws();
        let sub = p.token();
        let valid = !main.is_empty() && slash && !sub.is_empty();
        let params = parse_params(&mut p);
        if valid {
            ContentType::new(
                &main.to_ascii_lowercase(),
                &sub.to_ascii_lowercase(),
                params,
                true,
            )
        } else {
            ContentType::new("text", "plain", params, false)
        }
    }

    /// The default content type of a part: `text/plain; charset=us-ascii` (RFC 2045 section
    /// 5.2), or `message/rfc822` inside a multipart/digest (RFC 2046 section 5.1.5).
    pub fn default_for(in_digest: bool) -> ContentType {
        if in_digest {
            ContentType::new("message", "rfc822", Vec::new(), true)
        } else {
            let charset = Param {
                name: Text::from_static("charset"),
                value: Text::from_static("us-ascii"),
            };
            ContentType::new("text", "plain", vec![charset], true)
        }
    }

    fn new(main: &str, sub: &str, params: Vec<Param>, valid: bool) -> ContentType {
        ContentType {
            mime_type: Text::from(format!("{main}/{sub}")),
            slash: main.len(),
            params,
            valid,
        }
    }

    /// `type/subtype`, lower case.
    pub fn mime_type(&self) -> &str {
        &self.mime_type
    }

    /// The top-level media type (`text`, `multipart`, ...), lower case.
    pub fn main_type(&self) -> &str {
        self.mime_type.get(..self.slash).unwrap_or_default()
    }

    /// The subtype, lower case.
    pub fn subtype(&self) -> &str {
        self.mime_type.get(self.slash + 1..).unwrap_or_default()
    }

    /// All parameters, in order.
    pub fn params(&self) -> &[Param] {
        &self.params
    }

    /// The value of parameter `name` (ASCII case-insensitive).
    pub fn param(&self, name: &str) -> Option<&str> {
        find_param(&self.params, name)
    }

    /// Whether the field had a well-formed `type/subtype`.
    pub fn is_valid(&self) -> bool {
        self.valid
    }
}

/// A parsed Content-Disposition field (RFC 2183).
///
/// ```
/// use smtp_proto::mime::ContentDisposition;
/// let d = ContentDisposition::parse("attachment; filename*=UTF-8''%E2%82%AC%20rates.txt");
/// assert_eq!(d.kind(), "attachment");
/// assert_eq!(d.param("filename"), Some("€ rates.txt"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentDisposition {
    kind: Text,
    params: Vec<Param>,
}

impl ContentDisposition {
    /// Parses a Content-Disposition value.
    pub fn parse(value: &str) -> ContentDisposition {
        let mut p = Lexer::new(value);
        p.cfws();
        let kind = Text::from(p.token().to_ascii_lowercase());
        let params = parse_params(&mut p);
        ContentDisposition { kind, params }
    }

    /// The disposition type, lower case: `inline`, `attachment`, or an extension (RFC 2183
    /// section 2.8). Empty when the field had none.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// All parameters, in order.
    pub fn params(&self) -> &[Param] {
        &self.params
    }

    /// The value of parameter `name` (ASCII case-insensitive).
    pub fn param(&self, name: &str) -> Option<&str> {
        find_param(&self.params, name)
    }
}

fn find_param<'a>(params: &'a [Param], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(name))
        .map(|p| p.value.as_str())
}

/// A Content-Transfer-Encoding (RFC 2045 section 6.1).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransferEncoding {
    /// `7bit`, the default (RFC 2045 section 6.1).
    SevenBit,
    /// `8bit` (RFC 6152 for SMTP).
    EightBit,
    /// `binary` (RFC 3030 for SMTP).
    Binary,
    /// `base64` (RFC 2045 section 6.8): the parser decodes it.
    Base64,
    /// `quoted-printable` (RFC 2045 section 6.7): the parser decodes it.
    QuotedPrintable,
    /// Anything else (an `x-` token, or junk), lower case: the body is passed on as it came.
    Other(Text),
}

impl TransferEncoding {
    /// Parses the field value (case-insensitive, comments allowed).
    pub fn parse(value: &str) -> TransferEncoding {
        let mut p = Lexer::new(value);
        p.cfws();
        let token = p.token().to_ascii_lowercase();
        match token.as_str() {
            "7bit" => TransferEncoding::SevenBit,
            "8bit" => TransferEncoding::EightBit,
            "binary" => TransferEncoding::Binary,
            "base64" => TransferEncoding::Base64,
            "quoted-printable" => TransferEncoding::QuotedPrintable,
            _ => TransferEncoding::Other(Text::from(token)),
        }
    }

    /// Whether the body passes through unchanged (7bit, 8bit, binary).
    pub fn is_identity(&self) -> bool {
        matches!(
            self,
            TransferEncoding::SevenBit | TransferEncoding::EightBit | TransferEncoding::Binary
        )
    }
}

/// The lexical pieces of RFC 2045 section 5.1 (and RFC 822 comments).
struct Lexer<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn new(s: &'a str) -> Lexer<'a> {
        Lexer {
            s: s.as_bytes(),
            pos: 0,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Skips white space and (nested) comments.
    fn cfws(&mut self) {
        let mut depth = 0usize;
        while let Some(b) = self.peek() {
            match b {
                b' ' | b'\t' | b'\r' | b'\n' => {}
                b'(' => depth += 1,
                b')' if depth > 0 => depth -= 1,
                b'\\' if depth > 0 => self.pos += 1,
                _ if depth > 0 => {}
                _ => return,
            }
            self.pos += 1;
        }
    }

    /// A token: octets other than space, controls and tspecials (RFC 2045 section 5.1).
    /// Octets over 127 are accepted (RFC 6532 mail).
    fn token(&mut self) -> String {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if b <= b' ' || b == 0x7F || b"()<>@,;:\\\"/[]?=".contains(&b) {
                break;
            }
            self.pos += 1;
        }
        String::from_utf8_lossy(self.s.get(start..self.pos).unwrap_or_default()).into_owned()
    }

    /// A parameter value: a quoted-string (unquoted here) or, leniently, everything up to the
    /// next `;` or white space (real mail has unquoted tspecials, e.g. `boundary==_x`).
    fn value(&mut self) -> (Vec<u8>, bool) {
        if self.eat(b'"') {
            let mut v = Vec::new();
            while let Some(b) = self.peek() {
                self.pos += 1;
                match b {
                    b'"' => return (v, true),
                    b'\\' => {
                        if let Some(n) = self.peek() {
                            v.push(n);
                            self.pos += 1;
                        }
                    }
                    b'\r' | b'\n' => {}
                    _ => v.push(b),
                }
            }
            return (v, true);
        }
        let start = self.pos;
        while let Some(b) = self.peek() {
            if b == b';' || b == b' ' || b == b'\t' || b == b'\r' || b == b'\n' {
                break;
            }
            self.pos += 1;
        }
        (
            self.s.get(start..self.pos).unwrap_or_default().to_vec(),
            false,
        )
    }

    /// Skips to just after the next `;` (error recovery).
    fn skip_past_semicolon(&mut self) {
        while let Some(b) = self.peek() {
            self.pos += 1;
            if b == b';' {
                return;
            }
        }
    }
}

/// The most parameters read from one field; later ones are ignored.
const MAX_PARAMS: usize = 256;

/// One `attribute=value` as written, before RFC 2231 joining.
struct RawParam {
    name: String,
    section: Option<u32>,
    extended: bool,
    value: Vec<u8>,
}

/// Reads `*(";" parameter)` and joins RFC 2231 continuations (section 3) and decodes
/// extended values (section 4).
fn parse_params(p: &mut Lexer<'_>) -> Vec<Param> {
    let mut raw: Vec<RawParam> = Vec::new();
    // Joining continuations is quadratic in the number of parameters: bound it (a real
    // field has a handful; 256 sections hold a file name of 20 000 characters).
    while raw.len() < MAX_PARAMS {
        p.cfws();
        match p.peek() {
            None => break,
            Some(b';') => {
                p.pos += 1;
                continue;
            }
            Some(_) => {}
        }
        let mut name = p.token().to_ascii_lowercase();
        // `*` is a tspecial-free token character in RFC 2045, so it is in `name`.
        p.cfws();
        if name.is_empty() || !p.eat(b'=') {
            p.skip_past_semicolon();
            continue;
        }
        p.cfws();
        let (value, _quoted) = p.value();
        let extended = name.ends_with('*');
        if extended {
            name.pop();
        }
        let mut section = None;
        if let Some(star) = name.rfind('*') {
            if let Ok(n) = name[star + 1..].parse::<u32>() {
                section = Some(n);
                name.truncate(star);
            }
        }
        raw.push(RawParam {
            name,
            section,
            extended,
            value,
        });
    }

    let mut out: Vec<Param> = Vec::new();
    let mut done: Vec<&str> = Vec::new();
    for (i, first) in raw.iter().enumerate() {
        if done.contains(&first.name.as_str()) {
            continue;
        }
        done.push(&first.name);
        let same: Vec<&RawParam> = raw[i..].iter().filter(|r| r.name == first.name).collect();
        let value = if same.iter().any(|r| r.section.is_some() || r.extended) {
            // RFC 2231: prefer the extended or continued form over a plain duplicate.
            let mut parts: Vec<&RawParam> = same
                .iter()
                .copied()
                .filter(|r| r.section.is_some() || r.extended)
                .collect();
            parts.sort_by_key(|r| r.section.unwrap_or(0));
            join_rfc2231(&parts)
        } else {
            let v = String::from_utf8_lossy(&first.value);
            decode_encoded_words(&v).into_owned()
        };
        out.push(Param {
            name: Text::from(first.name.clone()),
            value: Text::from(value),
        });
    }
    out
}

/// Joins the sections of one RFC 2231 parameter (sorted) and decodes them.
fn join_rfc2231(parts: &[&RawParam]) -> String {
    let mut bytes = Vec::new();
    let mut cs = None;
    for (k, part) in parts.iter().enumerate() {
        let mut v = &part.value[..];
        if part.extended {
            if k == 0 {
                // charset'language'value (RFC 2231 section 4).
                let mut it = v.splitn(3, |&b| b == b'\'');
                if let (Some(c), Some(_lang), Some(rest)) = (it.next(), it.next(), it.next()) {
                    cs = Some(String::from_utf8_lossy(c).into_owned());
                    v = rest;
                }
            }
            percent_decode(v, &mut bytes);
        } else {
            bytes.extend_from_slice(v);
        }
    }
    match cs.as_deref() {
        Some(c) if !c.is_empty() => charset::to_string(c, &bytes)
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned()),
        _ => String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn percent_decode(v: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while let Some(&b) = v.get(i) {
        if b == b'%' {
            let h = v.get(i + 1).and_then(|&c| (c as char).to_digit(16));
            let l = v.get(i + 2).and_then(|&c| (c as char).to_digit(16));
            if let (Some(h), Some(l)) = (h, l) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2231_examples() {
        // Section 3.
        let ct = ContentType::parse(
            "message/external-body; access-type=URL;\r\n URL*0=\"ftp://\";\r\n URL*1=\"cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar\"",
        );
        assert_eq!(
            ct.param("url"),
            Some("ftp://cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar")
        );
        // Section 4.
        let ct = ContentType::parse(
            "application/x-stuff; title*=us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A",
        );
        assert_eq!(ct.param("title"), Some("This is ***fun***"));
        // Section 4.1.
        let ct = ContentType::parse(
            "application/x-stuff; title*0*=us-ascii'en'This%20is%20even%20more%20; title*1*=%2A%2A%2Afun%2A%2A%2A%20; title*2=\"isn't it!\"",
        );
        assert_eq!(
            ct.param("title"),
            Some("This is even more ***fun*** isn't it!")
        );
        // Out of order, Latin-1.
        let d = ContentDisposition::parse(
            "attachment; filename*1*=%E9.txt; filename*0*=iso-8859-1''caf",
        );
        assert_eq!(d.param("filename"), Some("café.txt"));
    }

    #[test]
    fn lenient_values() {
        let ct = ContentType::parse("multipart/mixed; boundary==_Part_1=; charset=\"a\\\"b\"");
        assert_eq!(ct.param("boundary"), Some("=_Part_1="));
        assert_eq!(ct.param("charset"), Some("a\"b"));
        let d = ContentDisposition::parse(
            "attachment; filename=\"=?UTF-8?B?4oKsLnBkZg==?=\"; junk; =x",
        );
        assert_eq!(d.param("filename"), Some("€.pdf"));
        assert_eq!(ContentType::parse("text/").mime_type(), "text/plain");
        assert!(!ContentType::parse("text/").is_valid());
        assert_eq!(ContentType::parse("").mime_type(), "text/plain");
        assert_eq!(
            ContentType::parse("(c) Text/HTML (x)").mime_type(),
            "text/html"
        );
    }

    #[test]
    fn fields() {
        let f = HeaderField::parse(Bytes::from_static(b"X-A :v\r\n")).unwrap();
        assert_eq!(f.name(), "X-A");
        assert_eq!(f.unfolded(), "v");
        assert!(HeaderField::parse(Bytes::from_static(b"no colon")).is_none());
        let f = HeaderField::parse(Bytes::from_static(b":")).unwrap();
        assert_eq!(f.name(), "");
        assert_eq!(f.raw_value(), "");
    }

    #[test]
    fn parameters_are_bounded() {
        let many: String = (0..20_000).map(|i| format!("; p{i}=v")).collect();
        let ct = ContentType::parse(&format!("text/plain{many}"));
        assert_eq!(ct.params().len(), MAX_PARAMS);
        assert_eq!(ct.param("p0"), Some("v"));
        assert_eq!(ct.param("p256"), None);
    }

    #[test]
    fn transfer_encodings() {
        assert_eq!(
            TransferEncoding::parse(" Base64 "),
            TransferEncoding::Base64
        );
        assert_eq!(
            TransferEncoding::parse("(x) quoted-printable"),
            TransferEncoding::QuotedPrintable
        );
        assert_eq!(
            TransferEncoding::parse("x-uue"),
            TransferEncoding::Other(Text::from("x-uue"))
        );
    }
}

//! RFC 2047 encoded-words (`=?charset?B?...?=` and `=?charset?Q?...?=`) in header text.

use super::charset;
use std::borrow::Cow;

/// The longest encoded-word looked for, in octets after the `=?`.
const MAX_WORD: usize = 1024;

/// Decodes the RFC 2047 encoded-words in `text` (an unfolded header value).
///
/// - Both encodings of RFC 2047 section 4: `B` (base64) and `Q` (4.2: `_` is a space, `=XX`
///   an octet). The language suffix of RFC 2231 section 5 (`=?utf-8*en?Q?..?=`) is allowed.
/// - White space between two adjacent encoded-words is dropped (RFC 2047 section 6.2), and
///   their octets are joined before conversion, so a character split across two words (as
///   some encoders do) survives.
/// - Charsets converted: UTF-8, US-ASCII, ISO-8859-1, ISO-8859-15, Windows-1252. A word in any
///   other charset, or malformed, is left as it is.
///
/// Decoding is lenient in one way real mail needs: encoded-words are also found inside quoted
/// strings and parameter values, where RFC 2047 section 5 does not allow them but mailers put
/// them anyway. Text without `=?` is returned borrowed.
///
/// ```
/// use smtp_proto::mime::decode_encoded_words;
/// assert_eq!(decode_encoded_words("=?UTF-8?Q?Gr=C3=BC=C3=9Fe?= =?utf-8?B?4piV?= ok"), "Grüße☕ ok");
/// assert_eq!(decode_encoded_words("plain"), "plain");
/// ```
pub fn decode_encoded_words(text: &str) -> Cow<'_, str> {
    if !text.contains("=?") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    // Octets of a run of adjacent encoded-words in one charset, not yet converted.
    let mut pending: Option<(String, Vec<u8>)> = None;
    let mut rest = text;
    while let Some(start) = rest.find("=?") {
        let (before, candidate) = rest.split_at(start);
        let word = parse_word(candidate);
        let only_space = before.chars().all(|c| c == ' ' || c == '\t');
        match word {
            Some((cs, bytes, used)) => {
                if pending.is_some() && only_space {
                    // Adjacent words: the white space between them goes (6.2).
                } else {
                    flush(&mut out, &mut pending);
                    out.push_str(before);
                }
                match &mut pending {
                    Some((pcs, pbytes)) if pcs.eq_ignore_ascii_case(&cs) => pbytes.extend(bytes),
                    _ => {
                        flush(&mut out, &mut pending);
                        pending = Some((cs, bytes));
                    }
                }
                rest = candidate.get(used..).unwrap_or_default();
            }
            None => {
                flush(&mut out, &mut pending);
                out.push_str(before);
                out.push_str("=?");
                rest = candidate.get(2..).unwrap_or_default();
            }
        }
    }
    flush(&mut out, &mut pending);
    out.push_str(rest);
    Cow::Owned(out)
}

/// Converts the pending octets and appends them; an unknown charset was filtered out before.
fn flush(out: &mut String, pending: &mut Option<(String, Vec<u8>)>) {
    if let Some((cs, bytes)) = pending.take() {
        out.push_str(&charset::to_string(&cs, &bytes).unwrap_or_default());
    }
}

/// Parses one encoded-word at the start of `s` (which starts with `=?`): the charset, the
/// decoded octets and the length used. `None` when it is not a well-formed encoded-word in a
/// known charset.
fn parse_word(s: &str) -> Option<(String, Vec<u8>, usize)> {
    let body = s.strip_prefix("=?")?;
    // RFC 2047 section 2 caps an encoded-word at 75 characters; mailers overrun that, so
    // allow more, but bound the search so a field full of "=?" stays linear to decode.
    let body = body.get(..MAX_WORD.min(body.len())).or_else(|| {
        let end = (0..=MAX_WORD.min(body.len()))
            .rev()
            .find(|&i| body.is_char_boundary(i))?;
        body.get(..end)
    })?;
    let q1 = body.find('?')?;
    let cs_lang = &body[..q1];
    let cs = cs_lang.split('*').next().unwrap_or_default();
    if cs.is_empty() || cs.contains(|c: char| c.is_whitespace()) {
        return None;
    }
    let after_cs = &body[q1 + 1..];
    let mut it = after_cs.char_indices();
    let (_, enc) = it.next()?;
    if after_cs.get(1..2)? != "?" {
        return None;
    }
    let text_start = 2;
    let text_len = after_cs.get(text_start..)?.find("?=")?;
    let text = &after_cs[text_start..text_start + text_len];
    if text.contains([' ', '\t', '?']) {
        return None;
    }
    let bytes = match enc {
        'B' | 'b' => {
            let mut d = super::decode::Base64Decoder::default();
            let mut out = Vec::new();
            d.decode(text.as_bytes(), &mut out);
            d.finish(&mut out);
            if d.errors > 0 {
                return None;
            }
            out
        }
        'Q' | 'q' => {
            let mut out = Vec::with_capacity(text.len());
            let t = text.as_bytes();
            let mut i = 0;
            while let Some(&b) = t.get(i) {
                match b {
                    b'_' => out.push(b' '),
                    b'=' => {
                        let h = t.get(i + 1).and_then(|&c| (c as char).to_digit(16))?;
                        let l = t.get(i + 2).and_then(|&c| (c as char).to_digit(16))?;
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b),
                }
                i += 1;
            }
            out
        }
        _ => return None,
    };
    charset::to_string(cs, b"")?; // a known charset, or leave the word alone
    let used = 2 + q1 + 1 + text_start + text_len + 2;
    Some((cs.to_string(), bytes, used))
}

#[cfg(test)]
mod tests {
    use super::decode_encoded_words as d;

    #[test]
    fn rfc2047_section8_examples() {
        assert_eq!(d("=?ISO-8859-1?Q?a?="), "a");
        assert_eq!(d("=?ISO-8859-1?Q?a?= b"), "a b");
        assert_eq!(d("=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?="), "ab");
        assert_eq!(d("=?ISO-8859-1?Q?a?=  =?ISO-8859-1?Q?b?="), "ab");
        assert_eq!(d("=?ISO-8859-1?Q?a?=\t =?ISO-8859-1?Q?b?="), "ab");
        assert_eq!(d("=?ISO-8859-1?Q?a_b?="), "a b");
        assert_eq!(
            d("=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?="),
            "a =?ISO-8859-2?Q?_b?="
        );
        assert_eq!(
            d("=?US-ASCII?Q?Keith_Moore?= <moore@cs.utk.edu>"),
            "Keith Moore <moore@cs.utk.edu>"
        );
        assert_eq!(d("=?ISO-8859-1?Q?Andr=E9?= Pirard"), "André Pirard");
    }

    #[test]
    fn split_character_and_bad_words() {
        // "é" (C3 A9) split across two words.
        assert_eq!(d("=?utf-8?Q?=C3?= =?utf-8?Q?=A9?="), "é");
        assert_eq!(d("=?utf-8*en?Q?hi?="), "hi");
        assert_eq!(d("=?utf-8?X?hi?="), "=?utf-8?X?hi?=");
        assert_eq!(d("=?utf-8?B?!!!?="), "=?utf-8?B?!!!?=");
        assert_eq!(d("a =? b"), "a =? b");
        assert_eq!(d("=?"), "=?");
        assert_eq!(d("=?é?Q?x?= =?utf-8?Q?=E"), "=?é?Q?x?= =?utf-8?Q?=E");
        // Too long to be an encoded-word (and a multi-byte character at the cut).
        let long = format!("=?utf-8?Q?{}é?=", "a".repeat(1015));
        assert_eq!(d(&long), long);
        let ok = format!("=?utf-8?Q?{}?=", "a".repeat(1000));
        assert_eq!(d(&ok), "a".repeat(1000));
        // Many starts without an end stay linear (and undecoded).
        let many = "=?x?B? ".repeat(10_000);
        assert_eq!(d(&many), many);
    }
}

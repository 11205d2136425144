//! The few charsets the core converts itself, for RFC 2047 encoded-words and RFC 2231
//! parameter values. A body's octets are never converted: its charset is only named.

/// Windows-1252 octets 0x80..=0x9F (the rest is ISO-8859-1). Undefined ones map to U+FFFD.
const CP1252_HIGH: [char; 32] = [
    '€', '\u{FFFD}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{FFFD}', 'Ž',
    '\u{FFFD}', '\u{FFFD}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{FFFD}',
    'ž', 'Ÿ',
];

/// Converts `bytes` in `charset` (a name as in the IANA registry, any case) to a string.
/// UTF-8 and US-ASCII (read as UTF-8, RFC 6532), ISO-8859-1, ISO-8859-15 and Windows-1252 are
/// known; `None` for any other charset. Invalid octets become U+FFFD.
pub(crate) fn to_string(charset: &str, bytes: &[u8]) -> Option<String> {
    let cs = charset.trim().to_ascii_lowercase();
    match cs.as_str() {
        "utf-8" | "utf8" | "us-ascii" | "ascii" | "ansi_x3.4-1968" => {
            Some(String::from_utf8_lossy(bytes).into_owned())
        }
        "iso-8859-1" | "iso8859-1" | "iso_8859-1" | "latin1" | "latin-1" | "l1" => {
            Some(bytes.iter().map(|&b| char::from(b)).collect())
        }
        "windows-1252" | "cp1252" => Some(
            bytes
                .iter()
                .map(|&b| match b {
                    0x80..=0x9F => CP1252_HIGH[usize::from(b - 0x80)],
                    _ => char::from(b),
                })
                .collect(),
        ),
        "iso-8859-15" | "iso8859-15" | "iso_8859-15" | "latin-9" | "latin9" => Some(
            bytes
                .iter()
                .map(|&b| match b {
                    0xA4 => '€',
                    0xA6 => 'Š',
                    0xA8 => 'š',
                    0xB4 => 'Ž',
                    0xB8 => 'ž',
                    0xBC => 'Œ',
                    0xBD => 'œ',
                    0xBE => 'Ÿ',
                    _ => char::from(b),
                })
                .collect(),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_charsets() {
        assert_eq!(super::to_string("UTF-8", "é".as_bytes()).unwrap(), "é");
        assert_eq!(super::to_string("iso-8859-1", b"\xe9").unwrap(), "é");
        assert_eq!(super::to_string("windows-1252", b"\x80").unwrap(), "€");
        assert_eq!(super::to_string("ISO-8859-15", b"\xa4").unwrap(), "€");
        assert!(super::to_string("koi8-r", b"x").is_none());
    }
}

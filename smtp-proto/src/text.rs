//! [`Text`]: a cheap-to-clone UTF-8 string that shares the receive buffer.

use bytes::Bytes;
use std::fmt;
use std::ops::Deref;

/// An immutable UTF-8 string backed by [`Bytes`].
///
/// Values that come from the client (a HELO name, a mailbox, a parameter value) are slices of
/// the buffer the command was read into: no copy and no allocation per command. `Text`
/// dereferences to `&str`, compares with `str`, and is cheap to clone (a reference count).
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Text(Bytes);

impl Text {
    /// Wraps bytes that must be valid UTF-8.
    pub fn from_utf8(bytes: Bytes) -> Result<Text, std::str::Utf8Error> {
        if !bytes.is_ascii() {
            std::str::from_utf8(&bytes)?;
        }
        Ok(Text(bytes))
    }

    /// Wraps bytes the caller has already checked to be UTF-8 (a cut of a checked buffer at
    /// ASCII delimiters). Were they not, [`Text::as_str`] would give `""`, never anything unsafe.
    pub(crate) fn trusted(bytes: Bytes) -> Text {
        debug_assert!(std::str::from_utf8(&bytes).is_ok());
        Text(bytes)
    }

    /// Whether the text is all ASCII (no SMTPUTF8 needed), without re-validating it.
    pub fn is_ascii(&self) -> bool {
        self.0.is_ascii()
    }

    /// A `Text` from a static string, without allocating.
    pub const fn from_static(s: &'static str) -> Text {
        Text(Bytes::from_static(s.as_bytes()))
    }

    /// The string.
    pub fn as_str(&self) -> &str {
        // The constructor checked the bytes; this cannot fail, and never panics either way.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The underlying bytes.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// A sub-slice `range` of this text, sharing the same buffer. `None` when the range is out
    /// of bounds or does not fall on character boundaries.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Option<Text> {
        // The text is valid UTF-8, so a cut is valid exactly when it is not in front of a
        // continuation byte (0b10xx_xxxx): no need to validate the whole text again.
        let b = &self.0;
        let boundary = |i: usize| i == b.len() || b.get(i).is_some_and(|&c| (c as i8) >= -0x40);
        if range.start > range.end
            || range.end > b.len()
            || !boundary(range.start)
            || !boundary(range.end)
        {
            return None;
        }
        Some(Text(self.0.slice(range)))
    }
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        Text(Bytes::from(s))
    }
}

impl From<&'static str> for Text {
    fn from(s: &'static str) -> Text {
        Text::from_static(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_invalid_utf8_and_slices_on_boundaries() {
        assert!(Text::from_utf8(Bytes::from_static(b"\xff")).is_err());
        let t = Text::from_utf8(Bytes::from_static("añb".as_bytes())).unwrap();
        assert_eq!(t, "añb");
        assert_eq!(t.slice(0..1).unwrap(), "a");
        assert!(t.slice(0..2).is_none(), "inside the two-byte ñ");
        assert_eq!(t.slice(1..3).unwrap(), "ñ");
        assert!(t.slice(3..9).is_none());
    }
}

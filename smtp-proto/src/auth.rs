//! SMTP AUTH (RFC 4954): SASL credentials, the PLAIN (RFC 4616) and LOGIN mechanisms, and the
//! strict base64 of the exchange.

use crate::Text;
use std::fmt;

/// Bytes that must never be logged: passwords, SASL responses. `Debug` shows only the length.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps secret bytes.
    pub fn new(bytes: Vec<u8>) -> Secret {
        Secret(bytes)
    }

    /// The secret bytes. Name the call site for what it is: the place where the secret is used.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The secret as UTF-8 text, if it is.
    pub fn expose_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<{} octets redacted>)", self.0.len())
    }
}

/// What the client sent to authenticate, from [`Event::Auth`](crate::Event::Auth).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credentials {
    /// PLAIN (RFC 4616): `[authzid] NUL authcid NUL passwd`, decoded by the core.
    Plain {
        /// The identity to act as; empty when the client did not ask for one.
        authzid: String,
        /// The identity whose password this is.
        username: String,
        /// The password.
        password: Secret,
    },
    /// LOGIN (draft-murchison-sasl-login): a user name and a password, each prompted with `334`.
    Login {
        /// The user name.
        username: String,
        /// The password.
        password: Secret,
    },
    /// A mechanism the application handles itself (e.g. XOAUTH2): the initial response, if
    /// the client sent one. Answer with [`Decision::Challenge`](crate::Decision::Challenge) to
    /// continue the exchange, or accept or reject.
    Other {
        /// The initial response, decoded from base64 (`=` is an empty one).
        initial_response: Option<Secret>,
    },
}

/// The mechanisms the core decodes itself; any other configured name is passed through as
/// [`Credentials::Other`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mechanism {
    Plain,
    Login,
    Other,
}

impl Mechanism {
    pub(crate) fn of(name: &Text) -> Mechanism {
        if name.as_bytes().eq_ignore_ascii_case(b"PLAIN") {
            Mechanism::Plain
        } else if name.as_bytes().eq_ignore_ascii_case(b"LOGIN") {
            Mechanism::Login
        } else {
            Mechanism::Other
        }
    }
}

/// Splits a PLAIN message (RFC 4616 section 2). `None` if it is malformed.
pub(crate) fn parse_plain(message: &[u8]) -> Option<Credentials> {
    let mut parts = message.split(|&b| b == 0);
    let authzid = parts.next()?;
    let authcid = parts.next()?;
    let passwd = parts.next()?;
    if parts.next().is_some() || authcid.is_empty() || passwd.is_empty() {
        return None;
    }
    Some(Credentials::Plain {
        authzid: String::from_utf8(authzid.to_vec()).ok()?,
        username: String::from_utf8(authcid.to_vec()).ok()?,
        password: Secret(passwd.to_vec()),
    })
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Strict base64 (RFC 4648 section 4, as RFC 4954 section 4 requires): a multiple of four
/// characters, padding only at the end, no whitespace. `None` on anything else.
pub(crate) fn decode_base64(input: &[u8]) -> Option<Vec<u8>> {
    if !input.len().is_multiple_of(4) {
        return None;
    }
    let value = |c: u8| ALPHABET.iter().position(|&a| a == c).map(|v| v as u32);
    let mut out = Vec::with_capacity(input.len() / 4 * 3);
    let quads = input.len() / 4;
    for (i, quad) in input.chunks_exact(4).enumerate() {
        let pad = match (quad[2], quad[3]) {
            (b'=', b'=') => 2,
            (_, b'=') => 1,
            _ => 0,
        };
        if pad > 0 && i + 1 != quads {
            return None;
        }
        let mut n = 0u32;
        for &c in &quad[..4 - pad] {
            n = n << 6 | value(c)?;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

/// Base64 of `input` (RFC 4648 section 4), for `334` challenges.
pub(crate) fn encode_base64(input: &[u8], out: &mut Vec<u8>) {
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn base64_vectors_of_rfc_4648() {
        for (plain, b64) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(decode_base64(b64.as_bytes()).unwrap(), plain.as_bytes());
            let mut out = Vec::new();
            encode_base64(plain.as_bytes(), &mut out);
            assert_eq!(out, b64.as_bytes());
        }
        for bad in ["Zg", "Zg=", "Z===", "Zg==Zg==", "Zm9 v", "Zm9v\r\n", "Zm!v"] {
            assert_eq!(decode_base64(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn plain_messages() {
        let c = parse_plain(b"\0alice\0secret").unwrap();
        assert_eq!(
            c,
            Credentials::Plain {
                authzid: String::new(),
                username: "alice".into(),
                password: Secret(b"secret".to_vec())
            }
        );
        assert!(parse_plain(b"admin\0alice\0secret").is_some());
        for bad in [
            &b"alice\0secret"[..],
            b"\0\0secret",
            b"\0alice\0",
            b"\0a\0b\0c",
            b"\0\xff\0p",
        ] {
            assert_eq!(parse_plain(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let c = parse_plain(b"\0alice\0hunter2").unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("7 octets redacted"), "{shown}");
    }

    proptest! {
        #[test]
        fn base64_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut b64 = Vec::new();
            encode_base64(&bytes, &mut b64);
            prop_assert_eq!(decode_base64(&b64), Some(bytes));
        }

        #[test]
        fn base64_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_base64(&bytes);
        }
    }
}

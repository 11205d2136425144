//! `--auth-file`: the users the example servers accept for SMTP AUTH (PLAIN and LOGIN).

use smtp_proto::Credentials;
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::path::Path;

/// User names and passwords from a file of `user:password` lines, for AUTH PLAIN and LOGIN
/// (RFC 4954, RFC 4616). Blank lines and lines starting with `#` are skipped; the password is
/// everything after the first colon. For a development catcher: the file holds passwords in
/// clear text.
///
/// ```
/// use smtp_catcher::AuthFile;
/// use smtp_proto::{Credentials, Secret};
/// let users = AuthFile::parse("# test users\nalice:s3cret:with colon\nbob:hunter2\n").unwrap();
/// assert_eq!(users.len(), 2);
/// let login = Credentials::Login {
///     username: "alice".into(),
///     password: Secret::new(b"s3cret:with colon".to_vec()),
/// };
/// assert_eq!(users.check(&login), Some("alice"));
/// ```
#[derive(Clone, Default)]
pub struct AuthFile {
    users: HashMap<String, Vec<u8>>,
}

impl fmt::Debug for AuthFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthFile({} users)", self.users.len())
    }
}

impl AuthFile {
    /// Reads `path`.
    pub fn load(path: impl AsRef<Path>) -> io::Result<AuthFile> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)?;
        AuthFile::parse(&text).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        })
    }

    /// Parses the lines of an auth file.
    pub fn parse(text: &str) -> Result<AuthFile, String> {
        let mut users = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            match line.split_once(':') {
                Some((user, password)) if !user.is_empty() => {
                    users.insert(user.to_owned(), password.as_bytes().to_vec());
                }
                _ => return Err(format!("line {}: expected user:password", n + 1)),
            }
        }
        Ok(AuthFile { users })
    }

    /// How many users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Whether `password` is `username`'s (compared in constant time for equal lengths).
    pub fn verify(&self, username: &str, password: &[u8]) -> bool {
        let Some(expected) = self.users.get(username) else {
            return false;
        };
        expected.len() == password.len()
            && expected
                .iter()
                .zip(password)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }

    /// The user the credentials authenticate, if they do: PLAIN (an authorization identity,
    /// if given, must be the user itself) and LOGIN; other mechanisms never.
    pub fn check<'a>(&self, credentials: &'a Credentials) -> Option<&'a str> {
        let (username, password) = match credentials {
            Credentials::Plain {
                authzid,
                username,
                password,
            } if authzid.is_empty() || authzid == username => (username, password),
            Credentials::Login { username, password } => (username, password),
            _ => return None,
        };
        self.verify(username, password.expose())
            .then_some(username.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smtp_proto::Secret;

    fn plain(authzid: &str, user: &str, password: &str) -> Credentials {
        Credentials::Plain {
            authzid: authzid.into(),
            username: user.into(),
            password: Secret::new(password.as_bytes().to_vec()),
        }
    }

    #[test]
    fn plain_and_login_are_checked_against_the_file() {
        let users = AuthFile::parse("alice:pw\r\n\n# c\nbob:\n").unwrap();
        assert_eq!(users.check(&plain("", "alice", "pw")), Some("alice"));
        assert_eq!(users.check(&plain("alice", "alice", "pw")), Some("alice"));
        assert_eq!(users.check(&plain("bob", "alice", "pw")), None);
        assert_eq!(users.check(&plain("", "alice", "pW")), None);
        assert_eq!(users.check(&plain("", "alice", "pw ")), None);
        assert_eq!(users.check(&plain("", "carol", "pw")), None);
        assert_eq!(users.check(&plain("", "bob", "")), Some("bob"));
        let other = Credentials::Other {
            initial_response: None,
        };
        assert_eq!(users.check(&other), None);
    }

    #[test]
    fn malformed_lines_are_errors() {
        assert!(AuthFile::parse("alice").unwrap_err().contains("line 1"));
        assert!(AuthFile::parse("ok:1\n:nouser")
            .unwrap_err()
            .contains("line 2"));
    }
}

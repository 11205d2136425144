//! The protocol trace: the lines a session reads and writes, ready to log, with passwords
//! masked (the seed's `Debug` option). The core does no logging itself; an adapter calls
//! [`Session::trace_input`] on every read (before handing it to the session) and
//! [`trace_output`] on every write, and logs each [`TraceLine`] as it likes.
//!
//! ```
//! use smtp_proto::{trace, Config, Session};
//! let session = Session::new(Config::default().into());
//! let input = b"EHLO client.example\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n";
//! let lines: Vec<String> = session.trace_input(input).map(|l| l.to_string()).collect();
//! assert_eq!(lines, ["EHLO client.example", "AUTH PLAIN ***"]);
//! let out: Vec<String> = trace::trace_output(b"250-a\r\n250 b\r\n").map(|l| l.to_string()).collect();
//! assert_eq!(out, ["250-a", "250 b"]);
//! ```

use crate::Session;
use std::fmt;

/// One line of the trace, as it should be logged: [`Display`](fmt::Display) escapes
/// everything outside printable ASCII and masks what must not be logged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceLine<'a> {
    /// A protocol line without its CRLF.
    Line(&'a [u8]),
    /// `AUTH <mechanism>` with its initial response masked: `AUTH PLAIN ***`.
    Auth(&'a [u8]),
    /// A SASL response (RFC 4954 section 4), which may carry a password: `***`.
    Secret,
    /// Input read while a message body is being received, logged by size only.
    Data(usize),
}

impl fmt::Display for TraceLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceLine::Line(line) => write!(f, "{}", line.escape_ascii()),
            TraceLine::Auth(mechanism) => write!(f, "AUTH {} ***", mechanism.escape_ascii()),
            TraceLine::Secret => f.write_str("***"),
            TraceLine::Data(n) => write!(f, "[{n} octets of message data]"),
        }
    }
}

/// The lines of one read, from [`Session::trace_input`].
#[derive(Clone, Debug)]
pub struct InputTrace<'a> {
    rest: &'a [u8],
    /// The read began inside a message body: one [`TraceLine::Data`] for all of it.
    data: bool,
    /// The next line is (or may be) a SASL response.
    secret: bool,
}

impl<'a> Iterator for InputTrace<'a> {
    type Item = TraceLine<'a>;

    fn next(&mut self) -> Option<TraceLine<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        if self.data {
            let n = self.rest.len();
            self.rest = &[];
            return Some(TraceLine::Data(n));
        }
        let (line, rest) = split_line(self.rest);
        self.rest = rest;
        if self.secret {
            if line == b"*" {
                self.secret = false; // the client cancelled the exchange
                return Some(TraceLine::Line(line));
            }
            return Some(TraceLine::Secret);
        }
        if line.len() > 5 && line[..5].eq_ignore_ascii_case(b"AUTH ") {
            // AUTH mechanism [initial-response]: keep the mechanism only, and mask whatever
            // follows in the same read (a client that pipelines its SASL responses).
            let mechanism = line[5..].split(|&b| b == b' ').next().unwrap_or_default();
            self.secret = true;
            return Some(TraceLine::Auth(mechanism));
        }
        Some(TraceLine::Line(line))
    }
}

/// The reply lines of one write, for logging: see [`TraceLine::Line`].
pub fn trace_output(bytes: &[u8]) -> impl Iterator<Item = TraceLine<'_>> {
    let mut rest = bytes;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (line, tail) = split_line(rest);
        rest = tail;
        Some(TraceLine::Line(line))
    })
}

/// The first line of `input` without its line ending (LF, CRLF, or none at the end), and the
/// rest.
fn split_line(input: &[u8]) -> (&[u8], &[u8]) {
    let (line, rest) = match memchr::memchr(b'\n', input) {
        Some(i) => (&input[..i], &input[i + 1..]),
        None => (input, &[][..]),
    };
    (line.strip_suffix(b"\r").unwrap_or(line), rest)
}

impl Session {
    /// The trace of `input`, to call *before* [`handle_input`](Session::handle_input): one
    /// [`TraceLine`] per line, with AUTH's initial response and SASL responses masked
    /// ([`TraceLine::Auth`], [`TraceLine::Secret`]), or a single [`TraceLine::Data`] for a
    /// read that begins inside a message body. Masking errs on the side of hiding: every line
    /// after an AUTH line in the same read is masked.
    pub fn trace_input<'a>(&self, input: &'a [u8]) -> InputTrace<'a> {
        InputTrace {
            rest: input,
            data: self.receiving_data(),
            secret: self.expects_secret(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Decision, Event};

    fn lines(session: &Session, input: &[u8]) -> Vec<String> {
        session.trace_input(input).map(|l| l.to_string()).collect()
    }

    #[test]
    fn masks_auth_and_sasl_responses() {
        let config = Config {
            allow_insecure_auth: true,
            auth_mechanisms: vec!["LOGIN".into()],
            ..Config::default()
        };
        let mut s = Session::new(config.into());
        s.poll_transmit(); // the greeting
        assert_eq!(
            lines(&s, b"EHLO c\r\nAUTH LOGIN\r\ndXNlcg==\r\ncGFzcw==\r\n"),
            ["EHLO c", "AUTH LOGIN ***", "***", "***"]
        );
        s.handle_input(b"EHLO c\r\nAUTH LOGIN\r\n");
        while let Some(event) = s.poll_event() {
            if event.needs_decision() {
                s.decide(Decision::Accept).unwrap();
            }
        }
        assert!(s.expects_secret());
        assert_eq!(lines(&s, b"dXNlcg==\r\n"), ["***"]);
        assert_eq!(lines(&s, b"*\r\nNOOP\r\n"), ["*", "NOOP"]);
    }

    #[test]
    fn message_data_is_logged_by_size() {
        let mut s = Session::new(Config::default().into());
        s.poll_transmit(); // the greeting
        s.handle_input(b"HELO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n");
        while let Some(event) = s.poll_event() {
            if event.needs_decision() {
                s.decide(Decision::Accept).unwrap();
            }
            if event == Event::DataStart {
                break;
            }
        }
        assert_eq!(
            lines(&s, b"Subject: secret\r\n\r\nbody\r\n"),
            ["[25 octets of message data]"]
        );
    }

    #[test]
    fn escapes_and_line_endings() {
        let s = Session::new(Config::default().into());
        assert_eq!(
            lines(&s, b"NOOP \x1b[31m\r\nbare\nlast"),
            ["NOOP \\x1b[31m", "bare", "last"]
        );
        let out: Vec<String> = trace_output(b"220 x\r\n").map(|l| l.to_string()).collect();
        assert_eq!(out, ["220 x"]);
    }
}

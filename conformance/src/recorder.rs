//! The handler policy every adapter's test handler follows, and where it reports.

use smtp_proto::{Credentials, Decision, EnhancedCode, Reply};
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// A message the handler accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivered {
    /// The reverse-path, as displayed (`<a@b>`).
    pub from: String,
    /// The accepted recipients, as displayed.
    pub to: Vec<String>,
    /// The body, byte for byte.
    pub body: Vec<u8>,
    /// Whether the connection was under TLS.
    pub tls: bool,
    /// The client's address, as the adapter told the handler at connect.
    pub peer: Option<SocketAddr>,
}

#[derive(Debug, Default)]
struct Seen {
    delivered: Vec<Delivered>,
    /// Every MAIL FROM the handler was asked about.
    mail: Vec<String>,
    /// How often the handler was told to forget a transaction.
    resets: usize,
}

/// Where the handlers of one server report: thread-safe, cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Sink(Arc<(Mutex<Seen>, Condvar)>);

impl Sink {
    fn update(&self, f: impl FnOnce(&mut Seen)) {
        f(&mut self.0 .0.lock().unwrap());
        self.0 .1.notify_all();
    }

    /// The messages delivered so far.
    pub fn delivered(&self) -> Vec<Delivered> {
        self.0 .0.lock().unwrap().delivered.clone()
    }

    /// Every MAIL FROM the handler was asked about.
    pub fn mail(&self) -> Vec<String> {
        self.0 .0.lock().unwrap().mail.clone()
    }

    /// How often the handler was told to forget a transaction (`reset`).
    pub fn resets(&self) -> usize {
        self.0 .0.lock().unwrap().resets
    }

    /// Waits (at most `timeout`) until `n` messages were delivered, and returns them.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Delivered> {
        let end = Instant::now() + timeout;
        let mut seen = self.0 .0.lock().unwrap();
        while seen.delivered.len() < n {
            let left = end.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "{} of {n} messages delivered",
                seen.delivered.len()
            );
            seen = self.0 .1.wait_timeout(seen, left).unwrap().0;
        }
        seen.delivered.clone()
    }
}

/// The state of a test handler for one connection, and the suite's policy. An adapter's
/// test handler forwards each callback here:
///
/// - `auth(credentials)` → [`Recorder::auth`];
/// - `connect(info)` → [`Recorder::connect`] with the peer address;
/// - `mail(from)` → [`Recorder::mail`], which accepts;
/// - `rcpt(to)` → [`Recorder::rcpt`]: a local part starting with `reject` gets `550 5.1.1`;
/// - `data(body)`: if [`Recorder::wants_body`], read the whole body and give it to
///   [`Recorder::deliver`]; otherwise return [`Recorder::skip_body`] without reading;
/// - `lmtp_data(body)`: read the whole body and give it to [`Recorder::deliver_lmtp`];
/// - `reset()` → [`Recorder::reset`]; `tls()` and an implicit-TLS connect → [`Recorder::tls`].
#[derive(Clone, Debug)]
pub struct Recorder {
    sink: Sink,
    from: String,
    to: Vec<String>,
    tls: bool,
    peer: Option<SocketAddr>,
}

impl Recorder {
    /// A recorder reporting to `sink`.
    pub fn new(sink: Sink) -> Recorder {
        Recorder {
            sink,
            from: String::new(),
            to: Vec::new(),
            tls: false,
            peer: None,
        }
    }

    /// A client connected from `peer` (`ConnInfo::peer`).
    pub fn connect(&mut self, peer: SocketAddr) {
        self.peer = Some(peer);
    }

    /// The connection is under TLS.
    pub fn tls(&mut self) {
        self.tls = true;
    }

    /// AUTH: `alice` with the password `secret` is accepted (PLAIN or LOGIN), anything else
    /// refused with `535 5.7.8`.
    pub fn auth(&mut self, credentials: &Credentials) -> Decision {
        let ok = match credentials {
            Credentials::Plain {
                username, password, ..
            }
            | Credentials::Login { username, password } => {
                username == "alice" && password.expose() == b"secret"
            }
            _ => false,
        };
        match ok {
            true => Decision::Accept,
            false => Decision::Reject(
                Reply::new(535, EnhancedCode::new(5, 7, 8), "Invalid credentials").unwrap(),
            ),
        }
    }

    /// MAIL FROM: accepted.
    pub fn mail(&mut self, from: &str) -> Decision {
        self.sink.update(|s| s.mail.push(from.to_owned()));
        self.from = from.to_owned();
        self.to.clear();
        Decision::Accept
    }

    /// RCPT TO: `reject…@` is refused with `550 5.1.1`; `error…@` is a handler failure
    /// (`Err`, which the adapter answers `451 4.3.0`); `wrongclass…@` is accepted with a
    /// `550` reply (a misuse the adapter answers `451 4.3.0`); the rest are accepted.
    pub fn rcpt(&mut self, to: &str) -> Result<Decision, String> {
        let local = to.trim_start_matches('<');
        if local.starts_with("reject") {
            let reply = Reply::new(550, EnhancedCode::new(5, 1, 1), "No such user");
            return Ok(Decision::Reject(reply.unwrap()));
        }
        if local.starts_with("error") {
            return Err("the recipient database is down".to_owned());
        }
        if local.starts_with("wrongclass") {
            let reply = Reply::new(550, EnhancedCode::new(5, 1, 1), "Not a 2xx");
            return Ok(Decision::AcceptWith(reply.unwrap()));
        }
        self.to.push(to.to_owned());
        Ok(Decision::Accept)
    }

    /// Whether the handler reads the body: not when a recipient starts with `early` (the
    /// handler then returns at once, and the adapter must drain the body).
    pub fn wants_body(&self) -> bool {
        !self
            .to
            .iter()
            .any(|to| to.trim_start_matches('<').starts_with("early"))
    }

    /// The answer of a handler that did not read the body: `250 2.0.0 Skipped`.
    pub fn skip_body(&mut self) -> Decision {
        self.to.clear();
        Decision::AcceptWith(Reply::new(250, EnhancedCode::new(2, 0, 0), "Skipped").unwrap())
    }

    /// The whole body was read: record the message and accept it; but if a recipient starts
    /// with `failing`, fail (`Err`, which the adapter answers `554 5.3.0`) without recording.
    pub fn deliver(&mut self, body: Vec<u8>) -> Result<Decision, String> {
        let to = std::mem::take(&mut self.to);
        if to
            .iter()
            .any(|to| to.trim_start_matches('<').starts_with("failing"))
        {
            return Err("cannot store the message".to_owned());
        }
        let message = Delivered {
            from: self.from.clone(),
            to,
            body,
            tls: self.tls,
            peer: self.peer,
        };
        self.sink.update(|s| s.delivered.push(message));
        Ok(Decision::Accept)
    }

    /// The whole body was read, in LMTP mode: record the message and answer each accepted
    /// recipient in order: `452 4.2.2` for a local part starting with `full`, `250` for the
    /// rest.
    pub fn deliver_lmtp(&mut self, body: Vec<u8>) -> Vec<Decision> {
        let verdicts = self
            .to
            .iter()
            .map(|to| match to.trim_start_matches('<').starts_with("full") {
                true => Decision::Reject(
                    Reply::new(452, EnhancedCode::new(4, 2, 2), "Mailbox full").unwrap(),
                ),
                false => Decision::Accept,
            })
            .collect();
        let _ = self.deliver(body);
        verdicts
    }

    /// RSET and the like.
    pub fn reset(&mut self) {
        self.sink.update(|s| s.resets += 1);
        self.to.clear();
    }
}

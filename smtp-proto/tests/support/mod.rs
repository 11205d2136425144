//! A scripted client for the session: feeds bytes, decides by a policy, records everything.
#![allow(dead_code)]

use bytes::Bytes;
use smtp_proto::{Config, Decision, Event, Reply, Session};
use std::sync::Arc;

/// Decides like a simple server: accept everything, except recipients whose address
/// contains "reject" (550 5.1.1) or "defer" (451 4.3.0).
pub fn default_policy(event: &Event) -> Decision {
    match event {
        Event::RcptTo { to, .. } if to.to_string().contains("reject") => {
            Decision::Reject("550 5.1.1 No such user".parse().unwrap())
        }
        Event::RcptTo { to, .. } if to.to_string().contains("defer") => {
            Decision::Reject("451 4.3.0 Try again later".parse().unwrap())
        }
        _ => Decision::Accept,
    }
}

pub struct Harness {
    pub session: Session,
    /// Every event, in order (DataChunks included, unmerged).
    pub events: Vec<Event>,
    /// Every `poll_transmit` result, in order.
    pub transmits: Vec<Bytes>,
    /// Output not yet taken by `replies()`.
    unread: Vec<u8>,
    pub policy: Box<dyn FnMut(&Event) -> Decision>,
}

impl Harness {
    pub fn new(config: Config) -> Harness {
        Harness::from_session(Session::new(Arc::new(config)))
    }

    pub fn from_session(session: Session) -> Harness {
        let mut h = Harness {
            session,
            events: Vec::new(),
            transmits: Vec::new(),
            unread: Vec::new(),
            policy: Box::new(default_policy),
        };
        h.drive();
        h
    }

    /// A harness whose greeting has already been read.
    pub fn greeted(config: Config) -> Harness {
        let mut h = Harness::new(config);
        let greeting = h.replies();
        assert!(greeting.starts_with("220 "), "{greeting}");
        h
    }

    /// Runs the call order of `Session`: drain events (deciding), then transmits.
    pub fn drive(&mut self) {
        for _ in 0..1_000_000 {
            while let Some(event) = self.session.poll_event() {
                // LMTP asks for one decision per recipient after the data.
                while event.needs_decision() && self.session.pending_decisions() > 0 {
                    let d = (self.policy)(&event);
                    self.session.decide(d).expect("decision accepted");
                    if self.session.poll_timeout().is_none() {
                        break; // a 421 closed the session
                    }
                }
                self.events.push(event);
            }
            let mut progressed = false;
            while let Some(bytes) = self.session.poll_transmit() {
                assert!(!bytes.is_empty());
                self.unread.extend_from_slice(&bytes);
                self.transmits.push(bytes);
                progressed = true;
            }
            // Output was capped: after a transmit the session may parse further.
            if !progressed {
                return;
            }
        }
        panic!("drive did not settle");
    }

    pub fn send(&mut self, input: &[u8]) -> &mut Harness {
        self.session.handle_input(input);
        self.drive();
        self
    }

    /// Sends what `buf` holds with [`Session::handle_input_buf`], as an adapter that reads
    /// into one `BytesMut` does; `buf` is left empty.
    pub fn send_buf(&mut self, buf: &mut bytes::BytesMut) -> &mut Harness {
        self.session.handle_input_buf(buf);
        assert!(buf.is_empty(), "handle_input_buf leaves the buffer empty");
        self.drive();
        self
    }

    /// Everything sent to the client since the last call, as text.
    pub fn replies(&mut self) -> String {
        String::from_utf8(std::mem::take(&mut self.unread)).expect("replies are UTF-8")
    }

    /// Sends `input` and returns the replies it produced.
    pub fn exchange(&mut self, input: &str) -> String {
        self.send(input.as_bytes());
        self.replies()
    }

    /// The reply codes in `text`, one per final line (`NNN ` rather than `NNN-`).
    pub fn codes(text: &str) -> Vec<u16> {
        text.split("\r\n")
            .filter(|l| l.len() >= 4 && l.as_bytes()[3] == b' ')
            .map(|l| l[..3].parse().unwrap())
            .collect()
    }

    /// Events with consecutive DataChunks merged (chunk boundaries are not semantic).
    pub fn merged_events(&self) -> Vec<Event> {
        merge_chunks(&self.events)
    }

    /// The body bytes of every DataChunk so far.
    pub fn body(&self) -> Vec<u8> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::DataChunk(b) => Some(&b[..]),
                _ => None,
            })
            .flatten()
            .copied()
            .collect()
    }

    pub fn count(&self, pred: impl Fn(&Event) -> bool) -> usize {
        self.events.iter().filter(|e| pred(e)).count()
    }
}

pub fn merge_chunks(events: &[Event]) -> Vec<Event> {
    let mut out: Vec<Event> = Vec::new();
    for e in events {
        match (out.last_mut(), e) {
            (Some(Event::DataChunk(prev)), Event::DataChunk(next)) => {
                let mut joined = prev.to_vec();
                joined.extend_from_slice(next);
                *prev = Bytes::from(joined);
            }
            _ => out.push(e.clone()),
        }
    }
    out
}

pub fn reply(s: &str) -> Reply {
    s.parse().unwrap()
}

/// A config with TLS offered.
pub fn tls_config() -> Config {
    let mut c = Config::new("mx.example.com");
    c.tls = smtp_proto::TlsPolicy::Optional;
    c
}

pub fn config() -> Config {
    Config::new("mx.example.com")
}

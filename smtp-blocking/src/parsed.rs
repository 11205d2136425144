//! [`ParsedBody`]: the message body as MIME events, as it streams.

use crate::Body;
use bytes::Bytes;
use smtp_proto::mime::{validate_headers, MimeConfig, MimeEvent, Parser, Violation};
use std::collections::VecDeque;
use std::io;

/// What a [`ParsedBody`] yields: the message as MIME events, with the header validation
/// result, and (if asked for) the raw octets they came from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyEvent {
    /// Raw body octets, as [`Body::chunk`] gives them, before the MIME events parsed from
    /// them. Only with [`ParsedBody::with_raw`].
    Raw(Bytes),
    /// The next MIME event ([`smtp_proto::mime`]): part starts with their headers, decoded
    /// body octets, part ends with sizes, warnings.
    Mime(MimeEvent),
    /// The RFC 5322 section 3.6 check of the message's own header fields
    /// ([`validate_headers`]): empty when they are valid. Comes right after the first
    /// [`MimeEvent::PartStart`] (the message's header block).
    Headers(Vec<Violation>),
}

/// The message [`Body`] parsed as it streams ([`Body::parsed`]): the
/// [`smtp_proto::mime::Parser`] wired to the body, in constant memory.
///
/// ```
/// use smtp_blocking::proto::mime::{MimeConfig, MimeEvent};
/// use smtp_blocking::{Body, BodyEvent};
/// let mut body = Body::from_bytes("From: a@example.org\r\nSubject: hi\r\n\r\nHello\r\n");
/// let (mut text, mut violations) = (Vec::new(), None);
/// for event in body.parsed(MimeConfig::default()) {
///     match event? {
///         BodyEvent::Mime(MimeEvent::Body(bytes)) => text.extend_from_slice(&bytes),
///         BodyEvent::Headers(v) => violations = Some(v),
///         _ => {}
///     }
/// }
/// assert_eq!(text, b"Hello\r\n");
/// assert!(!violations.unwrap().is_empty()); // no Date field
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct ParsedBody<'b, 'a> {
    body: &'b mut Body<'a>,
    parser: Parser,
    raw: bool,
    pending: VecDeque<BodyEvent>,
    validated: bool,
    finished: bool,
    failed: bool,
}

impl<'a> Body<'a> {
    /// This body as MIME events ([`ParsedBody`]) instead of raw octets.
    pub fn parsed(&mut self, config: MimeConfig) -> ParsedBody<'_, 'a> {
        ParsedBody {
            body: self,
            parser: Parser::new(config),
            raw: false,
            pending: VecDeque::new(),
            validated: false,
            finished: false,
            failed: false,
        }
    }
}

impl ParsedBody<'_, '_> {
    /// Also yield the raw octets ([`BodyEvent::Raw`]), to store the message as it came while
    /// looking at its structure.
    pub fn with_raw(mut self, raw: bool) -> Self {
        self.raw = raw;
        self
    }

    fn step(&mut self) -> io::Result<Option<BodyEvent>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Ok(Some(event));
            }
            if let Some(event) = self.parser.poll_event() {
                if let (MimeEvent::PartStart(info), false) = (&event, self.validated) {
                    self.validated = true;
                    let violations = validate_headers(&info.headers);
                    self.pending.push_back(BodyEvent::Headers(violations));
                }
                return Ok(Some(BodyEvent::Mime(event)));
            }
            if self.finished {
                return Ok(None);
            }
            match self.body.chunk()? {
                Some(chunk) => {
                    self.parser.feed(&chunk);
                    if self.raw {
                        return Ok(Some(BodyEvent::Raw(chunk)));
                    }
                }
                None => {
                    self.parser.finish();
                    self.finished = true;
                }
            }
        }
    }
}

/// The events in order; an `Err` (the message was abandoned, as [`Body::chunk`] reports it)
/// is the last item.
impl Iterator for ParsedBody<'_, '_> {
    type Item = io::Result<BodyEvent>;

    fn next(&mut self) -> Option<io::Result<BodyEvent>> {
        if self.failed {
            return None;
        }
        let step = self.step();
        self.failed = step.is_err();
        step.transpose()
    }
}

//! [`ParsedBody`]: the message body as MIME events, as it streams.

use crate::Body;
use smtp_proto::mime::{BodyEvent, MessageParser, MimeConfig};
use std::io;

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
    parser: MessageParser,
    finished: bool,
    failed: bool,
}

impl<'a> Body<'a> {
    /// This body as MIME events ([`ParsedBody`]) instead of raw octets.
    pub fn parsed(&mut self, config: MimeConfig) -> ParsedBody<'_, 'a> {
        ParsedBody {
            body: self,
            parser: MessageParser::new(config),
            finished: false,
            failed: false,
        }
    }
}

impl ParsedBody<'_, '_> {
    /// Also yield the raw octets ([`BodyEvent::Raw`]), to store the message as it came while
    /// looking at its structure.
    pub fn with_raw(mut self, raw: bool) -> Self {
        self.parser = self.parser.with_raw(raw);
        self
    }

    fn step(&mut self) -> io::Result<Option<BodyEvent>> {
        loop {
            if let Some(event) = self.parser.poll_event() {
                return Ok(Some(event));
            }
            if self.finished {
                return Ok(None);
            }
            match self.body.chunk()? {
                Some(chunk) => self.parser.feed(chunk),
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

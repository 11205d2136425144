//! [`MessageParser`]: the [`Parser`] with the message's header check, and optionally the raw
//! octets, in one event stream — what an adapter's parsed message body yields.

use super::{validate_headers, MimeConfig, MimeEvent, Parser, Violation};
use bytes::Bytes;
use std::collections::VecDeque;

/// What a [`MessageParser`] yields: the message as MIME events, with the header validation
/// result, and (if asked for) the raw octets they came from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyEvent {
    /// Raw body octets, as fed, before the MIME events parsed from them. Only with
    /// [`MessageParser::with_raw`].
    Raw(Bytes),
    /// The next MIME event: part starts with their headers, decoded body octets, part ends
    /// with sizes, warnings.
    Mime(MimeEvent),
    /// The RFC 5322 section 3.6 check of the message's own header fields
    /// ([`validate_headers`]): empty when they are valid. Comes right after the first
    /// [`MimeEvent::PartStart`] (the message's header block).
    Headers(Vec<Violation>),
}

/// A whole message as [`BodyEvent`]s: the streaming [`Parser`] plus the RFC 5322 check of
/// the top-level header fields, in constant memory. Feed it the body chunks (each
/// [`Event::DataChunk`](crate::Event::DataChunk)) when [`poll_event`](Self::poll_event) has
/// nothing more, and [`finish`](Self::finish) at the end of data.
///
/// ```
/// use smtp_proto::mime::{BodyEvent, MessageParser, MimeConfig, MimeEvent};
/// let mut parser = MessageParser::new(MimeConfig::default());
/// parser.feed("From: a@example.org\r\nSubject: hi\r\n\r\nHello\r\n".into());
/// parser.finish();
/// let (mut text, mut violations) = (Vec::new(), None);
/// while let Some(event) = parser.poll_event() {
///     match event {
///         BodyEvent::Mime(MimeEvent::Body(bytes)) => text.extend_from_slice(&bytes),
///         BodyEvent::Headers(v) => violations = Some(v),
///         _ => {}
///     }
/// }
/// assert_eq!(text, b"Hello\r\n");
/// assert!(!violations.unwrap().is_empty()); // no Date field
/// ```
#[derive(Debug)]
pub struct MessageParser {
    parser: Parser,
    raw: bool,
    /// A raw chunk, or the header check, due before the parser's next event.
    pending: VecDeque<BodyEvent>,
    validated: bool,
}

impl MessageParser {
    /// A parser for one message.
    pub fn new(config: MimeConfig) -> MessageParser {
        MessageParser {
            parser: Parser::new(config),
            raw: false,
            pending: VecDeque::new(),
            validated: false,
        }
    }

    /// Also yield each fed chunk as [`BodyEvent::Raw`], before the events parsed from it: to
    /// store the message as it came while looking at its structure.
    pub fn with_raw(mut self, raw: bool) -> MessageParser {
        self.raw = raw;
        self
    }

    /// The next chunk of the message body.
    pub fn feed(&mut self, chunk: Bytes) {
        self.parser.feed(&chunk);
        if self.raw {
            self.pending.push_back(BodyEvent::Raw(chunk));
        }
    }

    /// The body is complete: the parser closes the open parts.
    pub fn finish(&mut self) {
        self.parser.finish();
    }

    /// The next event; `None` when more input is needed, or after the last event once
    /// [`finish`](Self::finish) was called.
    pub fn poll_event(&mut self) -> Option<BodyEvent> {
        if let Some(event) = self.pending.pop_front() {
            return Some(event);
        }
        let event = self.parser.poll_event()?;
        if let (MimeEvent::PartStart(info), false) = (&event, self.validated) {
            self.validated = true;
            let violations = validate_headers(&info.headers);
            self.pending.push_back(BodyEvent::Headers(violations));
        }
        Some(BodyEvent::Mime(event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_chunks_come_before_their_events_and_headers_after_the_first_part_start() {
        let mut p = MessageParser::new(MimeConfig::default()).with_raw(true);
        let mut kinds = Vec::new();
        for chunk in ["Subject: a\r\n", "\r\nbody\r\n"] {
            p.feed(Bytes::from_static(chunk.as_bytes()));
            while let Some(event) = p.poll_event() {
                kinds.push(match event {
                    BodyEvent::Raw(_) => "raw",
                    BodyEvent::Headers(_) => "headers",
                    BodyEvent::Mime(MimeEvent::PartStart(_)) => "start",
                    BodyEvent::Mime(MimeEvent::Body(_)) => "body",
                    BodyEvent::Mime(MimeEvent::PartEnd(_)) => "end",
                    BodyEvent::Mime(_) => "other",
                });
            }
        }
        p.finish();
        while let Some(event) = p.poll_event() {
            assert!(!matches!(event, BodyEvent::Raw(_) | BodyEvent::Headers(_)));
            kinds.push("after-finish");
        }
        assert_eq!(kinds[..2], ["raw", "raw"]);
        let start = kinds.iter().position(|k| *k == "start").unwrap();
        assert_eq!(kinds[start + 1], "headers");
        assert_eq!(kinds.iter().filter(|k| **k == "headers").count(), 1);
    }
}

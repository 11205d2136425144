//! Streaming MIME parsing (RFC 2045, 2046, 2047, 2183, 2231) and RFC 5322 header validation:
//! a second sans-IO machine, independent of the [`Session`](crate::Session).
//!
//! [`Parser`] is fed the message body in chunks of any size (typically the bytes of each
//! [`Event::DataChunk`](crate::Event::DataChunk)) and yields [`MimeEvent`]s: each entity's
//! header fields and content type ([`MimeEvent::PartStart`]), the *decoded* body of each
//! leaf part ([`MimeEvent::Body`]), the end of each part ([`MimeEvent::PartEnd`]), and
//! [`MimeEvent::Warning`]s for malformed input. Nested multiparts and `message/rfc822` parts
//! are walked. Like the session it does no IO, reads no clock and never panics.
//!
//! **Constant memory.** No part is ever held whole: leaf bodies are decoded as they stream
//! through (base64 and quoted-printable with O(1) state), a boundary split across two chunks
//! is still found (only the few octets that could start a delimiter line are held back), and
//! header blocks, nesting depth and the number of parts are bounded by [`MimeConfig`].
//!
//! **Malformed input is reported, not refused.** A missing close delimiter, bad base64, text
//! before or after the parts, a header line without a colon, an unknown transfer encoding:
//! each gives a [`MimeWarning`] in the event stream and parsing goes on the way common mail
//! readers go on. The application decides what a warning means.
//!
//! [`validate_headers`] and [`HeaderValidator`] check a message's top-level header fields
//! against RFC 5322 section 3.6 (field counts, `Date`, address lists, line lengths) and
//! report [`Violation`]s; again the application decides (a submission server rejects with
//! `554 5.6.0`, an MX may accept).
//!
//! ## Events of one message
//! ```text
//!   PartStart(depth 0, multipart/mixed)        <- the message's own header block
//!     PartStart(depth 1, text/plain)
//!       Body(..) Body(..)                      <- decoded octets
//!     PartEnd
//!     PartStart(depth 1, message/rfc822)
//!       PartStart(depth 2, text/plain)         <- the enclosed message's header block
//!         Body(..)
//!       PartEnd
//!     PartEnd
//!   PartEnd
//! ```
//! Warnings come in between, where the problem was found.
//!
//! ## Example
//! ```
//! use smtp_proto::mime::{validate_headers, MimeConfig, MimeEvent, Parser};
//!
//! let message = b"From: a@example.org\r\nDate: Thu, 13 Feb 1969 23:32:54 -0330\r\n\
//! Content-Type: multipart/mixed; boundary=XYZ\r\n\r\n\
//! --XYZ\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello\r\n\
//! --XYZ\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\
//! Content-Disposition: attachment; filename*=utf-8''%E2%82%AC.bin\r\n\r\nAAEC\r\n--XYZ--\r\n";
//!
//! let mut parser = Parser::new(MimeConfig::default());
//! let mut parts = Vec::new();
//! // Feed it in chunks as they come (here: 7 octets at a time), then finish.
//! for chunk in message.chunks(7) {
//!     parser.feed(chunk);
//!     while let Some(event) = parser.poll_event() {
//!         match event {
//!             MimeEvent::PartStart(info) => {
//!                 if info.depth == 0 {
//!                     assert!(validate_headers(&info.headers).is_empty());
//!                 }
//!                 parts.push((info.content_type.mime_type().to_string(), info.filename.clone(), Vec::new()));
//!             }
//!             MimeEvent::Body(bytes) => parts.last_mut().unwrap().2.extend_from_slice(&bytes),
//!             MimeEvent::PartEnd(_) => {}
//!             MimeEvent::Warning(w) => panic!("{w}"),
//!             _ => {}
//!         }
//!     }
//! }
//! parser.finish();
//! while let Some(event) = parser.poll_event() {
//!     assert!(matches!(event, MimeEvent::PartEnd(_)));
//! }
//! assert!(parser.is_done());
//! assert_eq!(parts[1], ("text/plain".to_string(), None, b"Hello".to_vec()));
//! assert_eq!(parts[2].1.as_deref(), Some("€.bin"));
//! assert_eq!(parts[2].2, [0, 1, 2]);
//! ```
//!
//! ## Wiring it to a session
//! The two machines do not know each other; the driver connects them. Create a parser at
//! [`Event::DataStart`](crate::Event::DataStart), feed it every
//! [`Event::DataChunk`](crate::Event::DataChunk) (the same `Bytes` can also go to a raw
//! consumer), and at [`Event::DataEnd`](crate::Event::DataEnd) call `finish`, drain the
//! events, and only then [`decide`](crate::Session::decide), with the header
//! [`Violation`]s at hand. On [`Event::DataAborted`](crate::Event::DataAborted) drop the parser.
//!
//! ```
//! use smtp_proto::mime::{validate_headers, MimeConfig, MimeEvent, Parser, Violation};
//! use smtp_proto::{Decision, Event, Session};
//!
//! /// The MIME view of the message in progress.
//! struct Message {
//!     parser: Parser,
//!     violations: Vec<Violation>,
//! }
//!
//! fn drain(m: &mut Message) {
//!     while let Some(event) = m.parser.poll_event() {
//!         match event {
//!             MimeEvent::PartStart(info) if info.depth == 0 => {
//!                 m.violations = validate_headers(&info.headers)
//!             }
//!             _ => { /* hand the event to the handler */ }
//!         }
//!     }
//! }
//!
//! /// Called for every session event; `mime` lives as long as the session.
//! fn on_event(session: &mut Session, mime: &mut Option<Message>, event: Event) {
//!     match event {
//!         Event::DataStart => {
//!             let parser = Parser::new(MimeConfig::default());
//!             *mime = Some(Message { parser, violations: Vec::new() });
//!         }
//!         Event::DataChunk(bytes) => {
//!             if let Some(m) = mime {
//!                 m.parser.feed(&bytes); // `bytes` can go to a raw consumer too
//!                 drain(m);
//!             }
//!         }
//!         Event::DataEnd { .. } => {
//!             let mut m = mime.take().expect("DataStart came first");
//!             m.parser.finish();
//!             drain(&mut m);
//!             // A submission server answers "554 5.6.0" when `m.violations` is not empty.
//!             session.decide(Decision::Accept).unwrap();
//!         }
//!         Event::DataAborted { .. } => *mime = None,
//!         _ => {}
//!     }
//! }
//! ```

mod charset;
mod date;
mod decode;
mod encoded_word;
mod event;
mod header;
mod message;
mod parser;
mod rfc5322;
mod validate;

pub use date::DateTime;
pub use encoded_word::decode_encoded_words;
pub use event::{MimeEvent, MimeWarning, PartEnd, PartInfo, PartKind, WarningKind};
pub use header::{ContentDisposition, ContentType, HeaderField, Param, TransferEncoding};
pub use message::{BodyEvent, MessageParser};
pub use parser::{MimeConfig, Parser};
pub use validate::{validate_headers, HeaderValidator, Violation, ViolationKind};

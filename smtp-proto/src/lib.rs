//! # smtp-proto: a sans-IO SMTP server core
//!
//! A pure state machine for the server side of SMTP (RFC 5321) and its extensions. It consumes
//! the bytes a client sent and produces [`Event`]s for the application and reply bytes for the
//! client. It does **no IO**, spawns nothing, reads **no clock** and never blocks: the same
//! bytes and the same decisions always give the same output. Anyone can drive it over any
//! transport; `smtp-tokio` and `smtp-blocking` are two such drivers.
//!
//! The core answers everything the RFCs decide (syntax, sequence, limits, extensions) and
//! asks the application only about policy: accept this client, this sender, this recipient,
//! this message ([`Decision`]).
//!
//! ## What it implements
//! - RFC 5321: EHLO, HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT, VRFY (`252`), EXPN (`502`),
//!   HELP; the sequence rules of 4.1.4 and 3.3; the path grammar of 4.1.2 ([`address`]); the
//!   limits of 4.5.3.1; the timers of 4.5.3.2 ([`Timeout`]); transparency of 4.5.2.
//! - Extensions: PIPELINING (RFC 2920), 8BITMIME (6152), SIZE (1870), ENHANCEDSTATUSCODES
//!   (2034, codes of 3463), SMTPUTF8 (6531), CHUNKING and BINARYMIME (3030), STARTTLS (3207),
//!   DSN parameters (3461), REQUIRETLS (8689), LIMITS (9422), AUTH with SASL PLAIN and LOGIN
//!   built in and other mechanisms by the application (4954), and LMTP as a mode (2033).
//! - Message handling ([`mime`]): a streaming MIME parser (RFC 2045-2047, 2183, 2231) that
//!   yields each part's headers and decoded body in constant memory, and RFC 5322 section 3.6
//!   header validation. Connection handling ([`proxy`]): the PROXY protocol v1/v2 header.
//! - Defences: only `<CRLF>.<CRLF>` ends DATA, bare CR/LF rejected by default (SMTP smuggling,
//!   CVE-2023-51764/51765/51766); input after STARTTLS discarded (CVE-2011-0411); BDAT chunks
//!   always read as data; bounded command lines, messages, recipients, errors, and
//!   unanswered output; HTTP requests refused; early talkers refused.
//!
//! ## States
//! ```text
//!             new()                      refuse(554)
//!               |                             |
//!   [greeting delay] --timeout-->  +----> Command <-------- handle_tls_established
//!                                  |     |  |   \                     ^
//!                      DataEnd /   |  DATA  BDAT  STARTTLS --> TlsHandoff
//!                      chunk done  |     v  v
//!                                  +---- Data / Bdat
//!   QUIT, 421, EOF, too many errors, timeout: --> Closing --(replies sent)--> Closed
//! ```
//!
//! ## Driving it
//! See [`Session`] for the call order and a complete example. In short:
//!
//! ```no_run
//! # use std::io::{Read, Write};
//! # fn main() -> std::io::Result<()> {
//! use smtp_proto::{Config, Decision, Event, Session};
//! let mut socket = std::net::TcpStream::connect("127.0.0.1:2525")?; // (accepted, in a server)
//! let mut session = Session::new(std::sync::Arc::new(Config::new("mx.example.com")));
//! let mut buf = [0u8; 8192];
//! loop {
//!     while let Some(event) = session.poll_event() {
//!         match event {
//!             Event::RcptTo { to, .. } if to.to_string().contains("spam") => session
//!                 .decide(Decision::Reject("550 5.1.1 No such user".parse().unwrap()))
//!                 .unwrap(),
//!             e if e.needs_decision() => session.decide(Decision::Accept).unwrap(),
//!             Event::DataChunk(bytes) => { /* store the body */ }
//!             _ => {}
//!         }
//!     }
//!     while let Some(bytes) = session.poll_transmit() {
//!         socket.write_all(&bytes)?;
//!     }
//!     if session.is_closed() {
//!         return Ok(());
//!     }
//!     if !session.wants_read() {
//!         continue; // more buffered commands to parse first
//!     }
//!     socket.set_read_timeout(session.poll_timeout().map(|t| t.after))?;
//!     match socket.read(&mut buf) {
//!         Ok(0) => session.handle_eof(),
//!         Ok(n) => session.handle_input(&buf[..n]),
//!         Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
//!             session.handle_timeout(session.poll_timeout().unwrap().kind)
//!         }
//!         Err(e) => return Err(e),
//!     }
//! }
//! # }
//! ```
//!
//! ## Out of scope
//! Sockets, TLS handshakes, timers, storage and delivery belong to the adapter and the
//! application. The PROXY protocol header that a load balancer puts in front of the SMTP
//! stream is decoded by [`proxy`], a second sans-IO decoder that adapters run before the
//! session; MIME parsing and header validation are in [`mime`].
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod address;
mod auth;
mod command;
mod config;
pub mod conn;
mod data;
mod error;
mod event;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod mime;
pub mod params;
pub mod proxy;
mod reply;
mod session;
mod text;
pub mod trace;

/// The `bytes` crate, whose [`Bytes`](bytes::Bytes) and [`BytesMut`](bytes::BytesMut) the
/// API hands out and takes ([`Session::handle_input_buf`]).
pub use bytes;

pub use auth::{Credentials, Secret};
pub use config::{
    BareLineEndings, Config, EarlyTalkers, Extensions, Protocol, Timeouts, TlsPolicy,
};
pub use error::UsageError;
pub use event::{AbortReason, CloseReason, Decision, Event, Timeout, TimeoutKind};
pub use reply::{EnhancedCode, InvalidReply, Reply};
pub use session::Session;
pub use text::Text;

/// The workspace README's Rust examples, compiled and run as doctests.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

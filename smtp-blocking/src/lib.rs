//! # smtp-blocking: an SMTP server over `std::net`, without an async runtime
//!
//! This crate drives the sans-IO [`smtp_proto`] core over blocking sockets, one thread per
//! connection (from a pool: threads are reused), and adds only what needs IO: listening, TLS
//! (rustls, through [`rustls::StreamOwned`]), timers (socket read timeouts from the core's
//! [`poll_timeout`](smtp_proto::Session::poll_timeout)), and your [`Handler`]. It behaves like
//! `smtp-tokio` (the same builder options, handler methods and replies; both pass the same
//! conformance suite): the core answers everything the RFCs decide, your handler decides
//! policy.
//!
//! ## The common case: envelope and message
//! ```no_run
//! use smtp_blocking::{Body, Decision, Envelope};
//! use std::io::Read;
//! # fn main() -> std::io::Result<()> {
//! let listener = std::net::TcpListener::bind("127.0.0.1:2525")?;
//! smtp_blocking::serve(listener, |envelope: Envelope, body: &mut Body<'_>| {
//!     let mut message = Vec::new();
//!     body.read_to_end(&mut message)?;
//!     println!("from {} to {:?}: {} octets", envelope.from, envelope.to, message.len());
//!     Ok(Decision::Accept)
//! })
//! # }
//! ```
//!
//! ## Full control
//! [`Server::builder`] takes addresses or listeners (TCP, and a Unix-domain socket for
//! LMTP), every core limit and timeout ([`Config`]: SIZE, recipients, errors, AUTH, LMTP...),
//! TLS for STARTTLS, an implicit-TLS listener and TLS-required mode, a connection cap
//! (`421 4.3.2` beyond it), a graceful-shutdown deadline ([`ShutdownHandle`]) and the PROXY
//! protocol from trusted proxies. A [`Handler`] (one clone per connection) answers connect,
//! HELO/EHLO, AUTH, MAIL, RCPT and the message (per recipient in LMTP), and learns about
//! resets and TLS. The [`Body`] is an [`io::Read`](std::io::Read), or MIME events with
//! [`Body::parsed`].
//!
//! ## How it drives the core
//! One loop per connection, in the core's call order (see [`smtp_proto::Session`]), pulled
//! one event at a time: drain events, write the replies, close if closed, else read with
//! the core's timer and feed the result back. The message [`Body`] pulls the same loop while
//! the handler reads it, so a body streams through without a second thread or a buffer, and
//! what the handler leaves unread is drained after it returns. Reads go into a buffer of the
//! thread's, handed to the core without a copy ([`Session::handle_input_buf`]; short reads
//! are copied, which costs less). A read waits for the client with the core's timer only: at
//! shutdown the server shuts the reading half of the sockets of idle connections (of all, at
//! the shutdown deadline), which wakes their reads, and they say goodbye; an idle connection
//! costs no CPU until then. Each listener has a thread blocked in `accept`, woken at shutdown
//! by a connection to itself; it hands each connection to a pool of connection threads: a
//! thread that has served a connection waits for the next (a new thread starts only when
//! none waits) and ends after 10 seconds without one.
//!
//! [`Session::handle_input_buf`]: smtp_proto::Session::handle_input_buf
//!
//! ## Logging
//! Each connection runs in a `tracing` span `smtp` with the peer address and, once
//! negotiated, the TLS parameters. Protocol lines are logged at `trace` level (message data
//! by size only; AUTH payloads masked).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod conn;
mod handler;
mod input;
mod live;
mod parsed;
mod pool;
mod server;
mod sock;

pub use conn::Body;
pub use handler::{serve, Error, Handler};
pub use parsed::ParsedBody;
pub use rustls;
pub use server::{Builder, Server, ShutdownHandle};
pub use smtp_proto as proto;
pub use smtp_proto::conn::{ConnInfo, Envelope, TlsInfo};
pub use smtp_proto::mime::BodyEvent;
pub use smtp_proto::proxy::{ProxyConfig, TrustedNetworks};
pub use smtp_proto::{
    Config, Credentials, Decision, EnhancedCode, Protocol, Reply, Secret, TimeoutKind, Timeouts,
};
pub use smtp_tls as tls;

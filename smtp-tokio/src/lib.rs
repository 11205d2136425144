//! # smtp-tokio: an async SMTP server
//!
//! This crate drives the sans-IO [`smtp_proto`] core over tokio sockets and adds only what
//! needs IO: listening, TLS (rustls, through tokio-rustls), timers, and your [`Handler`]. The
//! core answers everything the RFCs decide (syntax, sequence, limits, extensions, pipelining,
//! STARTTLS injection, SMTP smuggling); your handler decides policy: this client, this sender,
//! this recipient, this message.
//!
//! ## The common case: envelope and message
//! ```no_run
//! use smtp_tokio::{Body, Decision, Envelope};
//! # #[tokio::main]
//! # async fn main() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:2525").await?;
//! smtp_tokio::serve(listener, |envelope: Envelope, body: Body| async move {
//!     let message = body.to_bytes().await?;
//!     println!("from {} to {:?}: {} octets", envelope.from, envelope.to, message.len());
//!     Ok(Decision::Accept)
//! })
//! .await
//! # }
//! ```
//!
//! ## Full control
//! [`Server::builder`] takes addresses or listeners, the host name, every core limit and
//! timeout ([`Config`]), TLS ([`tls::load_pem`]) for STARTTLS, an implicit-TLS listener and
//! TLS-required mode, a connection cap and a graceful-shutdown deadline. A [`Handler`] (one
//! value per connection) answers connect, HELO/EHLO, AUTH, MAIL, RCPT and the message, and learns
//! about resets and TLS. The message [`Body`] is a stream with backpressure: the socket is read
//! only as fast as the handler reads the body.
//!
//! ## Raw or parsed messages
//! A handler reads the [`Body`] as raw octets, or calls [`Body::parsed`] for a [`ParsedBody`]:
//! the streaming MIME parser of [`smtp_proto::mime`] wired to the body, yielding
//! [`BodyEvent`]s (part starts with their headers, decoded body chunks, part ends with sizes,
//! warnings), the RFC 5322 header validation of the message, and optionally the raw octets
//! too, in constant memory.
//!
//! ## LMTP and Unix sockets
//! With [`Protocol::Lmtp`] in the [`Config`], the server speaks LMTP (RFC 2033) and asks
//! [`Handler::lmtp_data`] for one verdict per accepted recipient. [`Builder::unix_listener`]
//! serves the same handler on a Unix-domain socket, LMTP's usual transport.
//!
//! ## Behind a proxy
//! [`Builder::proxy_protocol`] reads HAProxy's PROXY protocol header (v1 or v2) from trusted
//! proxies before the greeting (and before the implicit-TLS handshake):
//! [`ConnInfo::peer`] is then the real client and [`ConnInfo::proxy`] the proxy.
//!
//! ## Logging
//! Each connection runs in a `tracing` span `smtp` with the peer address and, once
//! negotiated, the TLS version and cipher. Every protocol line in and out is logged at
//! `trace` level (message data by size only; AUTH payloads masked).
//!
//! ## How it drives the core
//! One loop per connection, in the core's call order (see [`smtp_proto::Session`]): drain
//! events (asking the handler about those that need a decision), write the replies, close if
//! the session is closed, else read with the core's timer and feed the result back. The same
//! loop serves the plain stream and, after STARTTLS, the TLS stream over it. The handler's
//! [`data`](Handler::data) future is polled by that loop too, no task or channel per message:
//! the body's chunks wait in a queue of four, reused from message to message, and the socket
//! is not read while it is full.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod body;
mod conn;
mod handler;
mod server;

pub use body::{Body, ParsedBody};
pub use handler::{serve, Error, Handler};
pub use server::{Builder, Server};
pub use smtp_proto as proto;
pub use smtp_proto::conn::{ConnInfo, Envelope, TlsInfo};
pub use smtp_proto::mime::BodyEvent;
pub use smtp_proto::proxy::{ProxyConfig, TrustedNetworks};
pub use smtp_proto::{
    Config, Credentials, Decision, EnhancedCode, Protocol, Reply, Secret, TimeoutKind, Timeouts,
};
pub use smtp_tls as tls;
pub use tokio_rustls::rustls;

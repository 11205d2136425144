//! # smtp-catcher: what the example mail-catcher servers share
//!
//! The workspace ships a development mail catcher twice, once per adapter (`smtp-tokio`'s
//! `smtpd` and `smtp-blocking`'s `smtpd-blocking`). Everything they have in common that is not SMTP
//! lives here, in plain synchronous code (`std::fs`) that both can call:
//!
//! - [`Args`]: the command line (clap), and the [`Config`](smtp_proto::Config) it describes.
//! - [`Catcher`]: the answer to every SMTP event and the storing of each [`Message`], so
//!   that each example's handler only forwards to it and reads the body its own way.
//! - [`Maildir`]: delivery that keeps the promise of a `250` (RFC 5321 section 6.1): write to
//!   `tmp/`, fsync, rename into `new/`, fsync the folder.
//! - [`trace_headers`]: the `Return-Path` and `Received` fields (RFC 5321 section 4.4).
//! - [`RecipientPolicy`]: the `--reject-recipients` / `--defer-recipients` regexes.
//! - [`AuthFile`]: the `user:password` file of `--auth-file`, for AUTH PLAIN and LOGIN.
//! - [`tls`]: PEM loading and self-signed certificates (rcgen) for rustls.
//!
//! From async code, call the file operations through `spawn_blocking` (they fsync).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod args;
mod auth;
mod catcher;
mod maildir;
mod policy;
pub mod tls;
mod trace;

pub use args::Args;
pub use auth::AuthFile;
pub use catcher::{Catcher, Message, NewMessage, Settings};
/// The clap trait that gives [`Args::parse`], re-exported so servers need no clap dependency.
pub use clap::Parser;
pub use maildir::{Delivery, Maildir};
pub use policy::RecipientPolicy;
pub use trace::{protocol, received_protocol, rfc5322_date, trace_headers, Trace};

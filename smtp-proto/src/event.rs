//! What the session tells the application ([`Event`]) and what the application answers
//! ([`Decision`]), plus the timer values of [`Session::poll_timeout`](crate::Session::poll_timeout).

use crate::address::{ForwardPath, ReversePath};
use crate::auth::{Credentials, Secret};
use crate::params::{MailParams, RcptParams};
use crate::{Reply, Text};
use bytes::Bytes;
use std::time::Duration;

/// Something that happened in the session, from [`Session::poll_event`](crate::Session::poll_event).
///
/// Events marked *decide* stop the session until the application calls
/// [`Session::decide`](crate::Session::decide); their reply is the application's. For every
/// other event the core has already queued the reply (if any), and the event only informs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// *Decide.* `HELO` or `EHLO` (RFC 5321 4.1.1.1). Any transaction in progress has been
    /// reset. Accepting sends the greeting line (and, for EHLO, the extension list).
    Hello {
        /// The client's name for itself, as sent.
        domain: Text,
        /// `true` for EHLO, `false` for HELO.
        esmtp: bool,
    },
    /// *Decide.* `MAIL FROM` (RFC 5321 4.1.1.2), with syntax, sequence, SIZE and extension
    /// checks passed. Accepting starts a transaction.
    MailFrom {
        /// The reverse-path; `<>` is [`ReversePath::Null`].
        from: ReversePath,
        /// The ESMTP parameters.
        params: MailParams,
    },
    /// *Decide.* `RCPT TO` (RFC 5321 4.1.1.3), with syntax, sequence and the recipient limit
    /// checked. Accepting adds the recipient to the transaction.
    RcptTo {
        /// The forward-path.
        to: ForwardPath,
        /// The ESMTP parameters.
        params: RcptParams,
    },
    /// *Decide.* AUTH (RFC 4954): the client's credentials, decoded. Verify them: accept
    /// (`235 2.7.0`) or reject (conventionally `535 5.7.8`); for a mechanism of your own you
    /// may also answer [`Decision::Challenge`] to continue the SASL exchange.
    Auth {
        /// The mechanism, as configured.
        mechanism: Text,
        /// What the client sent.
        credentials: Credentials,
    },
    /// *Decide.* The client's answer to a [`Decision::Challenge`], decoded from base64.
    AuthResponse {
        /// The response.
        response: Secret,
    },
    /// The message body starts: `354` has been queued (DATA), or the first BDAT chunk of the
    /// transaction was accepted.
    DataStart,
    /// Message body bytes, dot-unstuffed (DATA) or as sent (BDAT), in order. Never contains
    /// the terminator.
    DataChunk(Bytes),
    /// *Decide.* The whole body has arrived (`.` after DATA, or `BDAT n LAST`). Accepting
    /// means taking responsibility for the message (RFC 5321 6.1). Either way the transaction
    /// is over. In LMTP mode, decide once per accepted recipient, in RCPT order (RFC 2033
    /// section 4.2); [`Session::pending_decisions`](crate::Session::pending_decisions) counts
    /// down.
    DataEnd {
        /// Body octets received (after dot-unstuffing).
        size: u64,
    },
    /// The body that started with [`Event::DataStart`] will not complete: drop what arrived.
    /// The core has answered the client if an answer was due.
    DataAborted {
        /// Why.
        reason: AbortReason,
    },
    /// The transaction in progress (an accepted MAIL) is over without a decided
    /// [`Event::DataEnd`]: RSET, HELO/EHLO or STARTTLS (RFC 5321 4.1.1.5), a BDAT chunk over
    /// the size limit (RFC 3030 section 2), a `421`, or the connection closing. Forget the
    /// envelope. Every accepted MAIL ends with exactly one decided `DataEnd` or one `Reset`
    /// (after [`Event::DataAborted`] if the body had started).
    Reset,
    /// STARTTLS was accepted: the `220` is queued. Send it ([`poll_transmit`](crate::Session::poll_transmit)),
    /// run the TLS handshake on the raw connection, then call
    /// [`handle_tls_established`](crate::Session::handle_tls_established).
    StartTls {
        /// Octets that followed the STARTTLS line in the same plaintext input and were thrown
        /// away unexecuted (the CVE-2011-0411 command injection class). Zero for an honest client.
        discarded: usize,
    },
    /// The session is over: send what [`poll_transmit`](crate::Session::poll_transmit) still
    /// returns, then close the connection.
    Closed(CloseReason),
}

impl Event {
    /// Whether this event waits for [`Session::decide`](crate::Session::decide).
    pub fn needs_decision(&self) -> bool {
        matches!(
            self,
            Event::Hello { .. }
                | Event::Auth { .. }
                | Event::AuthResponse { .. }
                | Event::MailFrom { .. }
                | Event::RcptTo { .. }
                | Event::DataEnd { .. }
        )
    }
}

/// Why a message body was abandoned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AbortReason {
    /// Larger than [`Config::max_message_size`](crate::Config::max_message_size): `552 5.3.4`.
    TooLarge,
    /// Contained a bare CR or LF under [`BareLineEndings::Reject`](crate::BareLineEndings): `550 5.6.0`.
    BareLineEnding,
    /// RSET, HELO/EHLO or STARTTLS between BDAT chunks.
    Reset,
    /// The connection ended first.
    ConnectionClosed,
    /// The client was too slow.
    Timeout,
}

/// Why the session closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The client sent QUIT.
    Quit,
    /// The client closed the connection (without QUIT).
    Eof,
    /// A timer ran out (`421 4.4.2`).
    Timeout(TimeoutKind),
    /// [`Config::max_errors`](crate::Config::max_errors) protocol errors (`421 4.7.0`).
    TooManyErrors,
    /// The client talked before the greeting (`554 5.5.1`).
    EarlyTalker,
    /// The application answered `421`, or the session was created with a closing reply.
    Rejected,
    /// The server ended the session ([`Session::shutdown`](crate::Session::shutdown)).
    Shutdown,
    /// The client broke the protocol in a way the session cannot recover from: an HTTP
    /// request, or a BDAT without a readable size.
    ProtocolViolation,
}

/// The application's answer to an event that needs one.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// Accept, with the core's standard reply.
    Accept,
    /// Accept with this 2xx reply instead.
    AcceptWith(Reply),
    /// Refuse with this 4xx or 5xx reply. A `421` also closes the session (RFC 5321 3.8).
    Reject(Reply),
    /// Only for [`Event::Auth`] and [`Event::AuthResponse`]: send this SASL challenge (`334`
    /// and its base64) and report the client's answer as [`Event::AuthResponse`].
    Challenge(Vec<u8>),
}

/// Which wait of RFC 5321 section 4.5.3.2 a timer stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TimeoutKind {
    /// The greeting is held back ([`Timeouts::greeting_delay`](crate::Timeouts)): when it runs
    /// out, the greeting is sent; it does not close the session.
    GreetingDelay,
    /// Waiting for the next command (4.5.3.2.7).
    Command,
    /// Waiting for more message data (4.5.3.2.5 and 4.5.3.2.7).
    DataBlock,
    /// Waiting for the TLS handshake after STARTTLS.
    TlsHandshake,
}

/// A timer: how long the adapter may wait for input before calling
/// [`Session::handle_timeout`](crate::Session::handle_timeout) with `kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeout {
    /// The wait this is.
    pub kind: TimeoutKind,
    /// How long, counted from the last input (or from now, when nothing is read yet).
    pub after: Duration,
}

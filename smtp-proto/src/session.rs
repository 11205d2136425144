//! [`Session`]: the server side of one SMTP connection, as a state machine.

use crate::address::{self, AddressError, PathKind, PathScan};
use crate::auth::{self, Credentials, Mechanism, Secret};
use crate::command::{self, Verb};
use crate::config::{BareLineEndings, Config, EarlyTalkers, Protocol, TlsPolicy};
use crate::data::{first_bare_line_ending, has_bare_line_ending, DataDecoder, DataStep};
use crate::event::{AbortReason, CloseReason, Decision, Event, Timeout, TimeoutKind};
use crate::params::{self, BodyType, MailParams, ParamError, RcptParams};
use crate::reply::{canned, put_code, Canned, EnhancedCode as E};
use crate::{Reply, Text, UsageError};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Arc;

/// The server side of one SMTP connection: bytes in, [`Event`]s and reply bytes out.
///
/// A `Session` does no IO and reads no clock. The caller (an adapter such as `smtp-tokio`,
/// or your own loop) owns the connection and the timers, and drives the session with four
/// kinds of methods, in the manner of `quinn-proto`:
///
/// - **A. Getters:** [`wants_read`](Self::wants_read), [`is_closed`](Self::is_closed),
///   [`tls_active`](Self::tls_active).
/// - **B. Inputs** (`handle_*`): [`handle_input`](Self::handle_input) (or, without a copy,
///   [`handle_input_buf`](Self::handle_input_buf)) with bytes read from the client,
///   [`handle_eof`](Self::handle_eof) when the client closed its side,
///   [`handle_timeout`](Self::handle_timeout) when a timer from `poll_timeout` ran out,
///   [`handle_tls_established`](Self::handle_tls_established) after the STARTTLS handshake.
/// - **C. Answers:** [`decide`](Self::decide), for the events that need a decision
///   ([`Event::needs_decision`]).
/// - **D. Outputs** (`poll_*`): [`poll_event`](Self::poll_event),
///   [`poll_transmit`](Self::poll_transmit), [`poll_timeout`](Self::poll_timeout).
///
/// ## The call order
///
/// After creating the session and after every B or C call:
///
/// 1. Call `poll_event` until it returns `None`. Parsing happens here, lazily. When an event
///    needs a decision, call `decide` before polling again (until then `poll_event` returns
///    `None`). On [`Event::StartTls`], go to step 2, then run the handshake and call
///    `handle_tls_established`.
/// 2. Call `poll_transmit` until it returns `None`, and write what it returns, in order.
///    Replies to one pipelined group of commands come out as one buffer (RFC 2920 section
///    3.1); the core holds replies back while complete commands are still waiting to be
///    parsed, so step 1 must come first.
/// 3. If [`is_closed`](Self::is_closed), close the connection. Otherwise, if
///    [`wants_read`](Self::wants_read), read with the [`poll_timeout`](Self::poll_timeout)
///    deadline and feed the result to a B method; then go to 1. If it does not want to read,
///    go to 1 straight away: the replies of a long pipelined group were capped
///    ([`Config::max_pending_output`]) and more buffered commands wait to be parsed.
///
/// ```
/// use smtp_proto::{Config, Decision, Event, Session};
/// use std::sync::Arc;
///
/// let mut session = Session::new(Arc::new(Config::new("mx.example.com")));
/// let mut client = vec![
///     &b"EHLO client.example\r\nMAIL FROM:<a@client.example>\r\n"[..],
///     b"RCPT TO:<b@mx.example.com>\r\nDATA\r\n",
///     b"Subject: hi\r\n\r\nHello\r\n.\r\nQUIT\r\n",
/// ]
/// .into_iter();
/// let (mut wire, mut body) = (Vec::new(), Vec::new());
/// loop {
///     while let Some(event) = session.poll_event() {
///         match event {
///             Event::DataChunk(bytes) => body.extend_from_slice(&bytes),
///             e if e.needs_decision() => session.decide(Decision::Accept).unwrap(),
///             _ => {}
///         }
///     }
///     while let Some(bytes) = session.poll_transmit() {
///         wire.extend_from_slice(&bytes); // socket.write_all(&bytes)
///     }
///     if session.is_closed() {
///         break;
///     }
///     if !session.wants_read() {
///         continue;
///     }
///     match client.next() {
///         Some(input) => session.handle_input(input), // socket.read(..) with poll_timeout()
///         None => session.handle_eof(),
///     }
/// }
/// assert_eq!(body, b"Subject: hi\r\n\r\nHello\r\n");
/// let wire = String::from_utf8(wire).unwrap();
/// assert!(wire.starts_with("220 mx.example.com ESMTP"));
/// assert!(wire.ends_with("250 2.0.0 Message accepted\r\n221 2.0.0 Bye\r\n"));
/// ```
#[derive(Debug)]
pub struct Session {
    config: Arc<Config>,
    state: State,
    recv: BytesMut,
    send: BytesMut,
    events: VecDeque<Event>,
    /// The event waiting for `decide`.
    pending: Option<Pending>,
    /// The client's accepted HELO (`false`) or EHLO (`true`).
    hello: Option<bool>,
    tx: Option<Transaction>,
    tls: bool,
    /// AUTH succeeded (RFC 4954: once per session).
    authenticated: bool,
    errors: usize,
    /// `poll_event` stopped because it needs more input: replies may leave.
    blocked: bool,
    /// A reply the client waits for before it sends more (354, STARTTLS 220, closing).
    flush: bool,
    /// The greeting has been handed to the caller by `poll_transmit`.
    greeted: bool,
    /// Bytes of `recv` already searched for LF without finding one.
    scanned: usize,
    /// Dropping an over-long command line until its LF.
    discarding: bool,
    /// `recv` may share a read buffer of the caller's (`handle_input_buf`): let go of it as
    /// soon as it is all consumed.
    recv_shared: bool,
}

#[derive(Debug)]
enum State {
    /// The greeting is held back until the greeting delay runs out.
    Greeting,
    /// Waiting for commands.
    Command,
    /// The connection was refused with a 554 greeting: only QUIT is accepted (RFC 5321 3.1).
    Refused,
    /// Inside DATA.
    Data(DataDecoder),
    /// Inside a BDAT chunk. `Err` holds the reply for a chunk that is read and thrown away.
    Bdat {
        remaining: u64,
        size: u64,
        last: bool,
        verdict: Result<(), Reply>,
    },
    /// A `334` was sent; the next line is the client's SASL response (RFC 4954 section 4).
    AuthResponse(AuthStep),
    /// STARTTLS accepted, waiting for the adapter's handshake.
    TlsHandoff,
    /// The last reply is queued; the session closes when it has been transmitted.
    Closing,
    Closed,
}

#[derive(Debug, Clone, Copy)]
enum Pending {
    Hello {
        esmtp: bool,
    },
    Auth,
    Mail {
        smtputf8: bool,
        body: BodyType,
    },
    Rcpt,
    /// The end of data, with the number of replies still to give (one in SMTP; one per
    /// accepted recipient in LMTP).
    DataEnd {
        replies: usize,
    },
}

/// What [`Session::fast_command`] made of the line at the front of the receive buffer.
enum Fast {
    /// Not a line for the fast path: search for the line end and parse it.
    No,
    /// Consumed and answered; nothing to report.
    Done,
    /// An RSET whose [`Event::Reset`] the caller reports.
    Reset,
    /// A verb alone on a line of six octets, still there: for
    /// [`command_split`](Session::command_split).
    Other(Verb),
    /// A MAIL for [`fast_mail`](Session::fast_mail).
    Mail(FastLine<params::CommonMailParams>),
    /// A RCPT for [`fast_rcpt`](Session::fast_rcpt).
    Rcpt(FastLine<Option<params::Notify>>),
}

/// A MAIL or RCPT line checked by the fast path, still in the receive buffer: its path at
/// `start`, its parameters, and its length without the CRLF.
#[derive(Clone, Copy)]
struct FastLine<P> {
    start: usize,
    path: PathScan,
    params: P,
    len: usize,
}

/// Where an AUTH exchange is (RFC 4954 section 4).
#[derive(Debug)]
enum AuthStep {
    /// PLAIN without an initial response: the next line is the PLAIN message.
    Plain,
    /// LOGIN, waiting for the user name, then for the password.
    LoginUser,
    LoginPassword {
        username: String,
    },
    /// A mechanism of the application's, after a `Decision::Challenge`.
    Other,
}

#[derive(Debug)]
struct Transaction {
    smtputf8: bool,
    body: BodyType,
    recipients: usize,
    /// Body octets so far.
    size: u64,
    /// DataStart was emitted (the application is receiving a body).
    data_started: bool,
    /// The body so far is over the size limit or has bare line endings: chunks are dropped.
    data_failed: Option<AbortReason>,
    /// BDAT was used in this transaction (DATA is then refused, RFC 3030 section 3).
    bdat: bool,
}

impl Transaction {
    fn new(smtputf8: bool, body: BodyType) -> Transaction {
        Transaction {
            smtputf8,
            body,
            recipients: 0,
            size: 0,
            data_started: false,
            data_failed: None,
            bdat: false,
        }
    }
}

// Canned replies. RFC 5321 4.2.2 and 4.2.3 give the codes, RFC 3463 the enhanced codes.
canned!(OK = 250, 2, 0, 0, "OK");
canned!(MAIL_OK = 250, 2, 1, 0, "Sender OK");
canned!(RCPT_OK = 250, 2, 1, 5, "Recipient OK");
canned!(MESSAGE_OK = 250, 2, 0, 0, "Message accepted");
canned!(BYE = 221, 2, 0, 0, "Bye");
const VRFY: Reply = Reply::fixed(
    252,
    E::c(2, 5, 0),
    "Cannot VRFY user, but will accept message and attempt delivery",
);
const HELP: Reply = Reply::fixed(
    214,
    E::c(2, 0, 0),
    "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS\nSee RFC 5321",
);
const START_TLS: Reply = Reply::fixed(220, E::c(2, 0, 0), "Ready to start TLS");
const UNRECOGNIZED: Reply = Reply::fixed(500, E::c(5, 5, 2), "Syntax error, command unrecognized");
const LINE_TOO_LONG: Reply = Reply::fixed(500, E::c(5, 5, 2), "Line too long");
const SYNTAX: Reply = Reply::fixed(
    501,
    E::c(5, 5, 4),
    "Syntax error in parameters or arguments",
);
const NO_PARAMS: Reply = Reply::fixed(501, E::c(5, 5, 4), "Syntax error (no parameters allowed)");
const BAD_HELLO: Reply = Reply::fixed(
    501,
    E::c(5, 5, 4),
    "Syntax error: a domain name is required",
);
const BAD_BDAT: Reply = Reply::fixed(501, E::c(5, 5, 4), "Syntax error in BDAT size, closing");
const NOT_IMPLEMENTED: Reply = Reply::fixed(502, E::c(5, 5, 1), "Command not implemented");
const HELLO_FIRST: Reply = Reply::fixed(503, E::c(5, 5, 1), "Send HELO/EHLO first");
const NESTED_MAIL: Reply = Reply::fixed(503, E::c(5, 5, 1), "Nested MAIL command");
const NEED_MAIL: Reply = Reply::fixed(503, E::c(5, 5, 1), "Need MAIL command first");
const DATA_AFTER_BDAT: Reply = Reply::fixed(503, E::c(5, 5, 1), "DATA not allowed after BDAT");
const BINARY_NEEDS_BDAT: Reply = Reply::fixed(503, E::c(5, 5, 1), "BODY=BINARYMIME requires BDAT");
const TLS_ACTIVE: Reply = Reply::fixed(503, E::c(5, 5, 1), "TLS already active");
const REFUSED: Reply = Reply::fixed(503, E::c(5, 5, 1), "Service refused, send QUIT");
const RCPT_AFTER_DATA: Reply = Reply::fixed(
    503,
    E::c(5, 5, 1),
    "RCPT not allowed once the message data has started",
);
const NO_RECIPIENTS: Reply = Reply::fixed(554, E::c(5, 5, 1), "No valid recipients");
const TOO_LARGE: Reply = Reply::fixed(
    552,
    E::c(5, 3, 4),
    "Message size exceeds fixed maximum message size",
);
const BARE_LINE_ENDING: Reply = Reply::fixed(
    550,
    E::c(5, 6, 0),
    "Message contains bare CR or LF characters (RFC 5321 section 2.3.8)",
);
const TOO_MANY_RCPTS: Reply = Reply::fixed(452, E::c(4, 5, 3), "Too many recipients");
const NEED_TLS: Reply = Reply::fixed(530, E::c(5, 7, 0), "Must issue a STARTTLS command first");
const NEED_SMTPUTF8: Reply = Reply::fixed(
    553,
    E::c(5, 6, 7),
    "Non-ASCII address requires the SMTPUTF8 parameter",
);
const BAD_SENDER: Reply = Reply::fixed(501, E::c(5, 1, 7), "Bad sender address syntax");
const BAD_RECIPIENT: Reply = Reply::fixed(501, E::c(5, 1, 3), "Bad recipient address syntax");
const PATH_TOO_LONG: Reply = Reply::fixed(501, E::c(5, 5, 4), "Path too long");
const LOCAL_TOO_LONG: Reply = Reply::fixed(501, E::c(5, 5, 4), "Local part too long");
const DOMAIN_TOO_LONG: Reply = Reply::fixed(501, E::c(5, 5, 4), "Domain too long");
canned!(AUTH_OK = 235, 2, 7, 0, "Authentication successful");
const AUTH_CANCELLED: Reply = Reply::fixed(501, E::c(5, 0, 0), "Authentication cancelled");
const AUTH_BAD_BASE64: Reply = Reply::fixed(501, E::c(5, 5, 2), "Invalid base64 data");
const AUTH_BAD_MESSAGE: Reply = Reply::fixed(501, E::c(5, 5, 2), "Malformed SASL message");
const AUTH_LINE_TOO_LONG: Reply = Reply::fixed(
    500,
    E::c(5, 5, 6),
    "Authentication exchange line is too long",
);
const AUTH_UNKNOWN: Reply = Reply::fixed(504, E::c(5, 5, 4), "Unrecognized authentication type");
const AUTH_TWICE: Reply = Reply::fixed(503, E::c(5, 5, 1), "Already authenticated");
const AUTH_IN_TX: Reply = Reply::fixed(
    503,
    E::c(5, 5, 1),
    "AUTH not permitted during a mail transaction",
);
const AUTH_NEEDS_TLS: Reply = Reply::fixed(
    538,
    E::c(5, 7, 11),
    "Encryption required for requested authentication mechanism",
);
const AUTH_REQUIRED: Reply = Reply::fixed(530, E::c(5, 7, 0), "Authentication required");
const EARLY_TALKER: Reply = Reply::fixed(
    554,
    E::c(5, 5, 1),
    "Protocol error: the client spoke before the greeting",
);

impl Session {
    /// A session for a new plain-text connection. The `220` greeting is queued (or held back
    /// for [`Timeouts::greeting_delay`](crate::Timeouts)).
    pub fn new(config: Arc<Config>) -> Session {
        let mut s = Session {
            config,
            state: State::Greeting,
            recv: BytesMut::new(),
            // Sized for the greeting and an EHLO reply: no reallocation in a normal session.
            send: BytesMut::with_capacity(512),
            // Allocated at the first queued event (most replies need none), so that a session
            // that never gets that far (an idle connection) does not hold it.
            events: VecDeque::new(),
            pending: None,
            hello: None,
            tx: None,
            tls: false,
            authenticated: false,
            errors: 0,
            blocked: true,
            flush: false,
            greeted: false,
            scanned: 0,
            discarding: false,
            recv_shared: false,
        };
        if s.config.timeouts.greeting_delay.is_zero() {
            s.greet();
        }
        s
    }

    /// A session on a connection that is TLS from the start (implicit TLS, RFC 8314 port 465):
    /// STARTTLS is not offered and TLS-required mode is satisfied.
    pub fn new_implicit_tls(config: Arc<Config>) -> Session {
        let mut s = Session::new(config);
        s.tls = true;
        s
    }

    /// A session for a connection the application was asked about (the adapters' "a client
    /// connected" hook): `Some(Accept)` or `Some(AcceptWith(_))` greets as [`new`](Self::new)
    /// (or [`new_implicit_tls`](Self::new_implicit_tls) when `implicit_tls`); `Some(Reject(r))`
    /// refuses with `r` ([`refuse`](Self::refuse)); `None` — the application failed — and
    /// any decision that does not fit close with [`Reply::CONNECT_LOCAL_ERROR`].
    ///
    /// ```
    /// use smtp_proto::{Config, Decision, Reply, Session};
    /// let config = std::sync::Arc::new(Config::default());
    /// let mut busy = Session::open(config, Some(Decision::Reject(Reply::TOO_MANY_CONNECTIONS)), false);
    /// assert!(busy.poll_transmit().unwrap().starts_with(b"421 4.3.2 "));
    /// assert_eq!(busy.poll_transmit(), None);
    /// assert!(busy.is_closed());
    /// ```
    pub fn open(config: Arc<Config>, decision: Option<Decision>, implicit_tls: bool) -> Session {
        match decision {
            Some(Decision::Reject(reply)) if !reply.is_positive() => Session::refuse(config, reply),
            Some(Decision::Accept | Decision::AcceptWith(_)) if implicit_tls => {
                Session::new_implicit_tls(config)
            }
            Some(Decision::Accept | Decision::AcceptWith(_)) => Session::new(config),
            _ => Session::refuse(config, Reply::CONNECT_LOCAL_ERROR),
        }
    }

    /// A session that refuses the connection with `reply` instead of the greeting. With a
    /// `421` the session closes after it; with anything else (`554`, RFC 5321 section 3.1) it
    /// answers every command but QUIT with `503` until the client quits.
    pub fn refuse(config: Arc<Config>, reply: Reply) -> Session {
        let mut s = Session::new(Arc::clone(&config));
        s.send.clear();
        s.greeted = true;
        s.put(&reply);
        if reply.code() == 421 {
            s.close(CloseReason::Rejected);
        } else {
            s.state = State::Refused;
        }
        s
    }

    // ----- A. getters -----

    /// Whether the caller should read more input now: the session has parsed all it can and
    /// needs more bytes. `false` while complete commands are still buffered (call
    /// [`poll_event`](Self::poll_event) again), while an event waits for a decision, while
    /// replies are queued beyond [`Config::max_pending_output`] (a client that pipelines
    /// without reading its replies is not read further), during the STARTTLS hand-off, once
    /// closing, and during the greeting delay once a line's worth of early input is held.
    pub fn wants_read(&self) -> bool {
        let readable = match self.state {
            State::Greeting => self.recv.len() < self.config.max_line_length,
            _ => self.blocked,
        };
        readable
            && matches!(
                self.state,
                State::Greeting
                    | State::Command
                    | State::Refused
                    | State::Data(_)
                    | State::Bdat { .. }
                    | State::AuthResponse(_)
            )
            && self.pending.is_none()
            && self.events.is_empty()
            && self.send.len() < self.config.max_pending_output
    }

    /// Whether the session is over and every reply has been handed out: close the connection.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// Octets of client input held in the session, not yet parsed. Bounded: at most one
    /// command line ([`Config::max_line_length`], or [`Config::max_auth_line_length`] while
    /// [`expects_secret`](Self::expects_secret)) plus what the caller fed in its last
    /// [`handle_input`](Self::handle_input).
    pub fn buffered(&self) -> usize {
        self.recv.len()
    }

    /// How many [`decide`](Self::decide) calls the session still expects for the current
    /// event: 0 (nothing pending), 1, or in LMTP mode after the data, one per accepted
    /// recipient not yet answered (RFC 2033 section 4.2).
    pub fn pending_decisions(&self) -> usize {
        match self.pending {
            None => 0,
            Some(Pending::DataEnd { replies }) => replies,
            Some(_) => 1,
        }
    }

    /// Whether input is message data now: inside DATA (until the terminating dot) or inside
    /// a BDAT chunk.
    pub fn receiving_data(&self) -> bool {
        matches!(self.state, State::Data(_) | State::Bdat { .. })
    }

    /// Whether the next input line is a SASL response (after a `334`): an adapter that logs
    /// the protocol should mask it (it may carry a password).
    pub fn expects_secret(&self) -> bool {
        matches!(self.state, State::AuthResponse(_))
    }

    /// Whether a mail transaction is in progress: a MAIL was accepted and its message has not
    /// ended yet. A server shutting down gracefully waits for these (RFC 5321 6.1: an accepted
    /// message must not be lost) and may close the others at once.
    pub fn in_transaction(&self) -> bool {
        self.tx.is_some()
    }

    /// Recipients accepted in the current transaction (0 outside one). In LMTP mode this is
    /// the number of replies due after the data (RFC 2033 section 4.2).
    pub fn recipients(&self) -> usize {
        self.tx.as_ref().map_or(0, |tx| tx.recipients)
    }

    /// Whether AUTH has succeeded in this session.
    pub fn authenticated(&self) -> bool {
        self.authenticated
    }

    /// Whether the connection is under TLS (implicit, or after STARTTLS).
    pub fn tls_active(&self) -> bool {
        self.tls
    }

    // ----- B. inputs -----

    /// Feeds bytes read from the client, copying them into the session's receive buffer.
    /// Input that arrives while the session is closing or waiting for the TLS handshake is
    /// dropped. [`handle_input_buf`](Self::handle_input_buf) does the same without the copy.
    pub fn handle_input(&mut self, input: &[u8]) {
        if self.accepts_input(input.len()) {
            self.recv.extend_from_slice(input);
        }
    }

    /// Feeds bytes read from the client, taking all of them out of `input` (which is left
    /// empty, with its spare capacity) without copying them: the session keeps the octets in
    /// the buffer they were read into, and hands out commands' values and
    /// [`Event::DataChunk`]s as [`Bytes`] that share it. Read into the same `input` again
    /// (e.g. tokio's `AsyncReadExt::read_buf`, after [`BytesMut::reserve`]); octets of an
    /// incomplete line held from the previous read are joined to the new ones in place when
    /// they sit next to each other in memory, and copied otherwise. Once
    /// [`poll_event`](Self::poll_event) has consumed every octet, the session holds no
    /// reference to the buffer, so `reserve` reuses it in place as soon as the application
    /// has dropped the values and chunks it was given.
    ///
    /// Otherwise the same as [`handle_input`](Self::handle_input).
    ///
    /// ```
    /// use smtp_proto::bytes::BytesMut;
    /// use smtp_proto::{Config, Event, Session};
    /// use std::sync::Arc;
    ///
    /// let mut session = Session::new(Arc::new(Config::new("mx.example.com")));
    /// let greeting = session.poll_transmit().unwrap();
    /// assert!(greeting.starts_with(b"220 "));
    /// let mut buf = BytesMut::with_capacity(4096);
    /// buf.extend_from_slice(b"EHLO client.exa"); // socket.read_buf(&mut buf)
    /// session.handle_input_buf(&mut buf);
    /// assert!(buf.is_empty());
    /// assert!(session.poll_event().is_none()); // not a whole line yet
    /// buf.extend_from_slice(b"mple\r\n");
    /// session.handle_input_buf(&mut buf);
    /// match session.poll_event() {
    ///     Some(Event::Hello { domain, esmtp }) => {
    ///         assert_eq!(domain.as_str(), "client.example");
    ///         assert!(esmtp);
    ///     }
    ///     other => panic!("{other:?}"),
    /// }
    /// ```
    pub fn handle_input_buf(&mut self, input: &mut BytesMut) {
        if self.accepts_input(input.len()) {
            // O(1) when `recv` is empty or ends where `input` starts in the same buffer.
            self.recv.unsplit(input.split());
            self.recv_shared = true;
        } else {
            input.clear();
        }
    }

    /// Whether `len` octets of client input are to be appended to `recv` (the session reads;
    /// the early-talker check may close it instead).
    fn accepts_input(&mut self, len: usize) -> bool {
        if len == 0 {
            return false;
        }
        match self.state {
            State::Closing | State::Closed | State::TlsHandoff => return false,
            _ => {}
        }
        if !self.greeted && self.config.early_talkers == EarlyTalkers::Reject {
            // Pre-greeting traffic (RFC 5321 3.1 has the client wait for the greeting).
            self.send.clear();
            self.greeted = true;
            self.put(&EARLY_TALKER);
            self.close(CloseReason::EarlyTalker);
            return false;
        }
        self.blocked = false;
        true
    }

    /// The client closed its side of the connection. A message in progress is abandoned
    /// ([`Event::DataAborted`]) and the session closes without a reply.
    pub fn handle_eof(&mut self) {
        if matches!(self.state, State::Closing | State::Closed) {
            return;
        }
        self.abort_data(AbortReason::ConnectionClosed);
        self.pending = None;
        self.close(CloseReason::Eof);
    }

    /// A timer from [`poll_timeout`](Self::poll_timeout) ran out. For
    /// [`TimeoutKind::GreetingDelay`] the greeting is released; otherwise `421 4.4.2` is
    /// queued and the session closes. A `kind` that is not the current timer is ignored.
    pub fn handle_timeout(&mut self, kind: TimeoutKind) {
        if self.poll_timeout().map(|t| t.kind) != Some(kind) {
            return;
        }
        if kind == TimeoutKind::GreetingDelay {
            self.greet();
            return;
        }
        self.abort_data(AbortReason::Timeout);
        self.pending = None;
        self.put_host_reply(421, E::c(4, 4, 2), "Timeout exceeded, closing connection");
        self.close(CloseReason::Timeout(kind));
    }

    /// The TLS handshake that followed [`Event::StartTls`] succeeded. The session forgets the
    /// HELO/EHLO and the transaction and waits for a new EHLO, without a new greeting
    /// (RFC 3207 section 4.2); STARTTLS is no longer offered.
    ///
    /// If the handshake failed, just close the connection.
    pub fn handle_tls_established(&mut self) -> Result<(), UsageError> {
        if !matches!(self.state, State::TlsHandoff) {
            return Err(UsageError::NotStartingTls);
        }
        self.tls = true;
        self.authenticated = false;
        self.hello = None;
        self.tx = None;
        self.recv.clear();
        self.scanned = 0;
        self.discarding = false;
        self.state = State::Command;
        self.blocked = true;
        Ok(())
    }

    /// Ends the session on the server's initiative, e.g. when it shuts down: queues `reply`
    /// (conventionally `421 4.3.0 Service shutting down`, RFC 5321 3.8) and closes. A message
    /// in progress is abandoned ([`Event::DataAborted`]); a pending decision is dropped.
    pub fn shutdown(&mut self, reply: Reply) {
        if matches!(self.state, State::Closing | State::Closed) {
            return;
        }
        self.pending = None;
        self.put(&reply);
        self.close(CloseReason::Shutdown);
    }

    // ----- C. answers -----

    /// Answers the event that is waiting for a decision ([`Event::needs_decision`]).
    ///
    /// A decision that does not fit (an `AcceptWith` with a reply that is not `2xx`, a
    /// `Reject` with one that is, a `Challenge` outside AUTH) is an error of the application:
    /// the client gets the reply of [`fail`](Self::fail) instead, and the error is returned
    /// for the application to log. The session never stays waiting on a bad decision.
    ///
    /// ```
    /// use smtp_proto::{Config, Decision, Event, Reply, Session};
    /// let mut session = Session::new(Config::default().into());
    /// session.poll_transmit(); // the greeting
    /// session.handle_input(b"EHLO client.example\r\n");
    /// assert!(matches!(session.poll_event(), Some(Event::Hello { .. })));
    /// let wrong = Reply::new(250, None, "a 2xx does not reject").unwrap();
    /// assert!(session.decide(Decision::Reject(wrong)).is_err());
    /// assert_eq!(session.poll_event(), None);
    /// assert!(session.poll_transmit().unwrap().starts_with(b"451 4.3.0 "));
    /// ```
    #[inline(always)]
    pub fn decide(&mut self, decision: Decision) -> Result<(), UsageError> {
        // The common answer, a plain accept of MAIL or RCPT, without the general case (inlined
        // into the caller, where the decision is usually a constant).
        if let Decision::Accept = decision {
            if self.accept_envelope() {
                return Ok(());
            }
        }
        self.decide_any(decision)
    }

    #[inline(never)]
    fn decide_any(&mut self, decision: Decision) -> Result<(), UsageError> {
        let result = self.answer(decision);
        if result.is_err() && self.pending.is_some() {
            self.fail_one();
        }
        result
    }

    /// Accepts a pending MAIL or RCPT with the canned reply; `false` when neither is pending.
    #[inline(always)]
    fn accept_envelope(&mut self) -> bool {
        match self.pending {
            Some(Pending::Rcpt) => {
                self.pending = None;
                if let Some(tx) = &mut self.tx {
                    tx.recipients += 1;
                }
                self.put_canned(&RCPT_OK);
                true
            }
            Some(Pending::Mail { smtputf8, body }) => {
                self.pending = None;
                self.tx = Some(Transaction::new(smtputf8, body));
                self.put_canned(&MAIL_OK);
                true
            }
            _ => false,
        }
    }

    /// Answers every pending decision with `decision`: the same as [`decide`](Self::decide)
    /// for SMTP; in LMTP, at the end of data, one reply per accepted recipient (RFC 2033
    /// section 4.2), all alike.
    pub fn decide_all(&mut self, decision: Decision) -> Result<(), UsageError> {
        if self.pending.is_none() {
            return Err(UsageError::NoPendingDecision);
        }
        let mut result = Ok(());
        while self.pending.is_some() {
            if let Err(e) = self.decide(decision.clone()) {
                result = result.and(Err(e));
            }
        }
        result
    }

    /// Answers the pending decisions one by one, in order: in LMTP, at the end of data, one
    /// per accepted recipient in RCPT order (RFC 2033 section 4.2). A single decision answers
    /// them all ([`decide_all`](Self::decide_all)); a list of any other length than
    /// [`pending_decisions`](Self::pending_decisions) is an error of the application: every
    /// recipient gets the reply of [`fail`](Self::fail).
    ///
    /// ```
    /// use smtp_proto::{Config, Decision, Event, Protocol, Reply, Session};
    /// let mut config = Config::default();
    /// config.protocol = Protocol::Lmtp;
    /// let mut session = Session::new(config.into());
    /// session.poll_transmit(); // the greeting
    /// session.handle_input(b"LHLO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nRCPT TO:<c@x>\r\nDATA\r\n.\r\n");
    /// while let Some(event) = session.poll_event() {
    ///     if matches!(event, Event::DataEnd { .. }) {
    ///         assert_eq!(session.pending_decisions(), 2);
    ///         let full = Reply::new(452, "4.2.2".parse().ok(), "Mailbox full")?;
    ///         session.decide_each([Decision::Accept, Decision::Reject(full)])?;
    ///     } else if event.needs_decision() {
    ///         session.decide(Decision::Accept)?;
    ///     }
    /// }
    /// let mut out = Vec::new();
    /// while let Some(bytes) = session.poll_transmit() {
    ///     out.extend_from_slice(&bytes);
    /// }
    /// assert!(out.ends_with(b"250 2.0.0 Message accepted\r\n452 4.2.2 Mailbox full\r\n"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn decide_each(
        &mut self,
        decisions: impl IntoIterator<Item = Decision>,
    ) -> Result<(), UsageError> {
        let expected = self.pending_decisions();
        if expected == 0 {
            return Err(UsageError::NoPendingDecision);
        }
        let mut list: Vec<Decision> = decisions.into_iter().collect();
        if list.len() == 1 {
            return self.decide_all(list.remove(0));
        }
        if list.len() != expected {
            self.fail()?;
            let given = list.len();
            return Err(UsageError::DecisionCount { given, expected });
        }
        let mut result = Ok(());
        for decision in list {
            if self.pending.is_none() {
                break; // a 421 closed the session
            }
            if let Err(e) = self.decide(decision) {
                result = result.and(Err(e));
            }
        }
        result
    }

    /// The application could not decide (its handler failed): answers every pending
    /// decision with the local-error reply that fits the event — [`Reply::LOCAL_ERROR`]
    /// (`451 4.3.0`) for HELO/EHLO, MAIL and RCPT, [`Reply::AUTH_LOCAL_ERROR`] (`454 4.7.0`)
    /// for AUTH, [`Reply::MESSAGE_LOCAL_ERROR`] (`554 5.3.0`) at the end of data.
    pub fn fail(&mut self) -> Result<(), UsageError> {
        if self.pending.is_none() {
            return Err(UsageError::NoPendingDecision);
        }
        while self.pending.is_some() {
            self.fail_one();
        }
        Ok(())
    }

    fn fail_one(&mut self) {
        let reply = match self.pending {
            Some(Pending::Auth) => Reply::AUTH_LOCAL_ERROR,
            Some(Pending::DataEnd { .. }) => Reply::MESSAGE_LOCAL_ERROR,
            _ => Reply::LOCAL_ERROR,
        };
        let answered = self.answer(Decision::Reject(reply));
        debug_assert!(answered.is_ok(), "a canned rejection always fits");
    }

    /// [`decide`](Self::decide) without the fallback: an `Err` leaves the decision pending.
    fn answer(&mut self, decision: Decision) -> Result<(), UsageError> {
        let Some(pending) = self.pending else {
            return Err(UsageError::NoPendingDecision);
        };
        // The common answers: a plain accept of RCPT or MAIL, with the canned reply.
        if let Decision::Accept = decision {
            if self.accept_envelope() {
                return Ok(());
            }
        }
        let reply = match decision {
            Decision::Accept => None,
            Decision::AcceptWith(r) if r.is_positive() => Some(r),
            Decision::Reject(r) if !r.is_positive() => {
                self.pending = None;
                if let Pending::DataEnd { replies } = pending {
                    self.data_end_replied(replies);
                }
                if r.code() == 421 {
                    if matches!(pending, Pending::DataEnd { .. }) {
                        // The message was answered: no reply is owed to the other LMTP
                        // recipients of a closing session, and there is nothing to abort.
                        self.pending = None;
                        self.tx = None;
                    }
                    self.put(&r);
                    self.abort_data(AbortReason::Reset);
                    self.close(CloseReason::Rejected);
                } else if matches!(pending, Pending::Auth) {
                    // Failed logins count toward the error limit: no endless password guessing.
                    self.error(&r);
                } else {
                    self.put(&r);
                }
                return Ok(());
            }
            Decision::Challenge(challenge) if matches!(pending, Pending::Auth) => {
                self.pending = None;
                self.challenge(&challenge, AuthStep::Other);
                return Ok(());
            }
            Decision::Challenge(_) => return Err(UsageError::ChallengeOutsideAuth),
            Decision::AcceptWith(r) | Decision::Reject(r) => {
                return Err(UsageError::ReplyClass(r.code()))
            }
        };
        self.pending = None;
        match pending {
            Pending::Auth => {
                self.authenticated = true;
                self.put_or(reply, &AUTH_OK);
            }
            Pending::Hello { esmtp } => {
                self.hello = Some(esmtp);
                self.put_hello(esmtp, reply.as_ref());
            }
            Pending::Mail { smtputf8, body } => {
                self.tx = Some(Transaction::new(smtputf8, body));
                self.put_or(reply, &MAIL_OK);
            }
            Pending::Rcpt => {
                if let Some(tx) = &mut self.tx {
                    tx.recipients += 1;
                }
                self.put_or(reply, &RCPT_OK);
            }
            Pending::DataEnd { replies } => {
                self.data_end_replied(replies);
                self.put_or(reply, &MESSAGE_OK);
            }
        }
        Ok(())
    }

    /// One of the end-of-data replies was given: the transaction ends with the last one.
    fn data_end_replied(&mut self, replies: usize) {
        if replies > 1 {
            self.pending = Some(Pending::DataEnd {
                replies: replies - 1,
            });
        } else {
            self.tx = None;
        }
    }

    // ----- D. outputs -----

    /// The next event, parsing buffered input as needed. `None` when more input (or a
    /// decision) is needed first.
    pub fn poll_event(&mut self) -> Option<Event> {
        // (Every way out without an event breaks out of the loop: an event is returned from
        // where it is made, with no copy on the way.)
        loop {
            if let Some(event) = self.events.pop_front() {
                return Some(event);
            }
            if self.pending.is_some() || self.send.len() >= self.config.max_pending_output {
                break;
            }
            // A command's event goes straight to the caller (a command that queues events
            // first, as HELO/EHLO may, queues its own after them).
            if let State::Command = self.state {
                match self.fast_command() {
                    Fast::No => {}
                    Fast::Done => continue,
                    Fast::Reset => return Some(Event::Reset),
                    Fast::Mail(plan) => return Some(self.fast_mail(plan)),
                    Fast::Rcpt(plan) => return Some(self.fast_rcpt(plan)),
                    Fast::Other(verb) => {
                        let event = self.command_split(verb, 4, 4, 6);
                        if event.is_some() {
                            return event;
                        }
                        continue;
                    }
                }
            }
            match &mut self.state {
                State::Command | State::Refused => {
                    match self.next_line(self.config.max_line_length) {
                        Some(Ok(end)) => {
                            let event = self.command(end);
                            if event.is_some() {
                                return event;
                            }
                        }
                        Some(Err(())) => self.error(&LINE_TOO_LONG),
                        None => {
                            self.blocked = true;
                            break;
                        }
                    }
                }
                State::AuthResponse(_) => match self.next_line(self.config.max_auth_line_length) {
                    Some(Ok(end)) => {
                        let line = self.recv.split_to(end).freeze();
                        self.auth_response(&line);
                    }
                    Some(Err(())) => {
                        self.state = State::Command;
                        self.error(&AUTH_LINE_TOO_LONG);
                    }
                    None => {
                        self.blocked = true;
                        break;
                    }
                },
                State::Data(decoder) => match decoder.decode(&mut self.recv) {
                    DataStep::Chunk(chunk) => {
                        if let Some(event) = self.data_chunk(chunk) {
                            return Some(event);
                        }
                    }
                    DataStep::End => self.data_end(),
                    DataStep::NeedMore => {
                        self.blocked = true;
                        break;
                    }
                },
                State::Bdat { remaining, .. } => {
                    if *remaining > 0 {
                        if self.recv.is_empty() {
                            self.blocked = true;
                            break;
                        }
                        let n = (*remaining).min(self.recv.len() as u64) as usize;
                        *remaining -= n as u64;
                        let chunk = self.recv.split_to(n).freeze();
                        if let Some(event) = self.bdat_chunk(chunk) {
                            return Some(event);
                        }
                    } else {
                        self.bdat_end();
                    }
                }
                State::Greeting | State::TlsHandoff | State::Closing | State::Closed => break,
            }
        }
        // No event: more input or a decision is needed first.
        if self.recv_shared && self.recv.is_empty() {
            // Every octet of the caller's read buffer is consumed: let go of it, so that the
            // caller's next `reserve` reuses it in place instead of allocating (a reference
            // held here, even to nothing, would make it look shared).
            self.recv = BytesMut::new();
            self.recv_shared = false;
        }
        None
    }

    /// Reply bytes to send, in order. Replies to a pipelined group come out together, once
    /// the session has parsed every complete command it holds (see the call order on
    /// [`Session`]).
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        if self.send.is_empty() {
            if matches!(self.state, State::Closing) {
                self.state = State::Closed;
            }
            return None;
        }
        let ready = self.blocked
            || self.flush
            || self.send.len() >= self.config.max_pending_output
            || matches!(self.state, State::Closing | State::TlsHandoff);
        if !ready {
            return None;
        }
        self.flush = false;
        self.greeted = true;
        Some(self.send.split().freeze())
    }

    /// The timer that applies now: which RFC 5321 4.5.3.2 wait, and how long. `None` once the
    /// session is closing (the adapter only needs to finish writing).
    pub fn poll_timeout(&self) -> Option<Timeout> {
        let t = &self.config.timeouts;
        let (kind, after) = match self.state {
            State::Greeting => (TimeoutKind::GreetingDelay, t.greeting_delay),
            State::Command | State::Refused | State::AuthResponse(_) => {
                (TimeoutKind::Command, t.command)
            }
            State::Data(_) | State::Bdat { .. } => (TimeoutKind::DataBlock, t.data_block),
            State::TlsHandoff => (TimeoutKind::TlsHandshake, t.tls_handshake),
            State::Closing | State::Closed => return None,
        };
        Some(Timeout { kind, after })
    }

    // ----- internals: lines and commands -----

    /// The length of the next complete command line in `recv` (with its LF; the line stays
    /// there), `Err` for an over-long one (dropped), `None` when no complete line is buffered.
    /// Never holds more than `max_line_length` octets of an incomplete line.
    fn next_line(&mut self, max: usize) -> Option<Result<usize, ()>> {
        match find_lf(&self.recv[self.scanned..]) {
            Some(i) => {
                let end = self.scanned + i + 1;
                self.scanned = 0;
                if self.discarding || end > max {
                    self.discarding = false;
                    self.recv.advance(end);
                    return Some(Err(()));
                }
                Some(Ok(end))
            }
            None => {
                if self.recv.len() >= max {
                    // RFC 5321 4.5.3.1.4: drop the line now, answer when its end arrives.
                    self.discarding = true;
                    self.recv.clear();
                    self.scanned = 0;
                } else {
                    self.scanned = self.recv.len();
                }
                None
            }
        }
    }

    /// Takes the line of `end` octets off `recv` as one [`Bytes`] of its first `len` octets
    /// (the line end dropped): one reference count for the whole command, and the values kept
    /// from it are cut out of this handle.
    #[inline]
    fn take_line(&mut self, len: usize, end: usize) -> Bytes {
        let mut line = self.recv.split_to(end).freeze();
        line.truncate(len);
        line
    }

    /// The command line of `end` octets at the front of `recv`.
    fn command(&mut self, end: usize) -> Option<Event> {
        let line = &self.recv[..end];
        let len = without_line_end(line).len();
        let (verb, arg) = command::split(&line[..len]);
        let arg_start = len - arg.len();
        self.command_split(verb, arg_start, len, end)
    }

    /// The commonest command lines, recognised straight from the receive buffer without the
    /// line search: a four-letter verb alone on its line (`NOOP`, `RSET`, `DATA`, `QUIT`, ...),
    /// and `MAIL FROM:` and `RCPT TO:` with a path and parameters of the fast paths
    /// ([`address::scan_path_fast`], [`params::mail_params_fast`]) ended by CRLF, that pass
    /// every check. The bytes they accept hold no LF before that CRLF, so the line search would
    /// have found the same line, and the command has the same effect as through
    /// [`next_line`](Self::next_line) and [`command`](Self::command) (a test checks it against
    /// the same commands ended by a bare LF, which never come this way). [`Fast::No`], with
    /// nothing consumed, for anything else.
    ///
    /// MAIL and RCPT are only planned here (everything that could refuse them is checked), and
    /// carried out by [`fast_mail`](Self::fast_mail) and [`fast_rcpt`](Self::fast_rcpt), whose
    /// event the caller returns as is: no copies of it on the way.
    #[inline]
    fn fast_command(&mut self) -> Fast {
        const RCPT_TO: command::Ci = command::Ci::new(b"RCPT TO:");
        const MAIL_FRO: command::Ci = command::Ci::new(b"MAIL FRO");
        const M_COLON: command::Ci = command::Ci::new(b"M:");
        const CRLF: u16 = u16::from_le_bytes(*b"\r\n");
        // (The caller has checked that the state is `Command`.)
        if self.discarding || (self.config.tls == TlsPolicy::Required && !self.tls) {
            return Fast::No;
        }
        let w = command::word_at(&self.recv, 0);
        if (w >> 32) as u16 == CRLF && self.config.max_line_length >= 6 {
            // Four octets, CRLF: the line search would end it at the LF, after a verb of
            // letters.
            // NOOP and RSET first: the commonest of these lines.
            const NOOP: u32 = u32::from_le_bytes(*b"noop");
            const RSET: u32 = u32::from_le_bytes(*b"rset");
            let verb = match w as u32 | 0x2020_2020 {
                NOOP => Verb::Noop,
                RSET => Verb::Rset,
                _ => command::verb4((w as u32).to_le_bytes()),
            };
            return match verb {
                Verb::Unknown => Fast::No,
                Verb::Noop => {
                    self.recv.advance(6);
                    self.scanned = 0;
                    self.put_canned(&OK);
                    Fast::Done
                }
                Verb::Rset => {
                    self.recv.advance(6);
                    self.scanned = 0;
                    if self.rset() {
                        Fast::Reset
                    } else {
                        Fast::Done
                    }
                }
                verb => {
                    self.scanned = 0;
                    Fast::Other(verb)
                }
            };
        }
        let plan = if RCPT_TO.is(w) {
            self.plan_rcpt().map(Fast::Rcpt)
        } else if MAIL_FRO.is(w) && M_COLON.is(command::word_at(&self.recv, 8)) {
            self.plan_mail().map(Fast::Mail)
        } else {
            None
        };
        plan.unwrap_or(Fast::No)
    }

    /// The part of `recv` a command line may take, the line length limit applied.
    #[inline]
    fn line_window(&self) -> &[u8] {
        &self.recv[..self.recv.len().min(self.config.max_line_length)]
    }

    /// `MAIL FROM:` for [`fast_command`](Self::fast_command): `Some` when the line takes the
    /// fast paths and MAIL is accepted for the application's decision.
    #[inline]
    fn plan_mail(&self) -> Option<FastLine<params::CommonMailParams>> {
        let b = self.line_window();
        let start = 10 + leading_spaces(b.get(10..)?);
        let path = address::scan_path_fast(b.get(start..)?)?;
        let at = start + path.end();
        let (params, cr) = params::mail_params_fast(b.get(at..)?)?;
        let len = at + cr;
        if b.get(len..len + 2) != Some(b"\r\n") {
            return None;
        }
        let ext = &self.config.extensions;
        let supported = match params.body {
            Some(BodyType::EightBitMime) => ext.eight_bit_mime,
            Some(BodyType::BinaryMime) => ext.binary_mime && ext.chunking,
            _ => true,
        } && (!params.smtputf8 || ext.smtputf8)
            && (ext.dsn || params.ret.is_none())
            && (!params.requiretls || (ext.requiretls && self.tls));
        let size_ok = match (self.limit(), params.size) {
            (Some(max), Some(size)) => size <= max,
            _ => true,
        };
        // (The path is ASCII: no SMTPUTF8 needed.)
        (supported && size_ok && self.mail_allowed().is_ok()).then_some(FastLine {
            start,
            path,
            params,
            len,
        })
    }

    /// Carries out a MAIL planned by [`plan_mail`](Self::plan_mail), as
    /// [`mail_parsed`](Self::mail_parsed) would.
    #[inline(never)]
    fn fast_mail(&mut self, plan: FastLine<params::CommonMailParams>) -> Event {
        self.scanned = 0;
        // (The path's own cut drops the CRLF.)
        let line = self.recv.split_to(plan.len + 2);
        let p = plan.params;
        self.pending = Some(Pending::Mail {
            smtputf8: p.smtputf8,
            body: p.body.unwrap_or(BodyType::SevenBit),
        });
        Event::MailFrom {
            from: plan.path.reverse_path_mut(line, plan.start),
            params: p.into(),
        }
    }

    /// `RCPT TO:` for [`fast_command`](Self::fast_command): `Some` when the line takes the
    /// fast paths and RCPT is accepted for the application's decision.
    #[inline]
    fn plan_rcpt(&self) -> Option<FastLine<Option<params::Notify>>> {
        let b = self.line_window();
        let start = 8 + leading_spaces(b.get(8..)?);
        let path = address::scan_path_fast_inline(b.get(start..)?)?;
        let at = start + path.end();
        let (notify, cr) = params::rcpt_params_fast(b.get(at..)?)?;
        let len = at + cr;
        if b.get(len..len + 2) != Some(b"\r\n") {
            return None;
        }
        let tx = self.tx.as_ref()?;
        // (The path is ASCII: no SMTPUTF8 needed.)
        let ok = !tx.data_started
            && tx.recipients < self.config.max_recipients
            && (notify.is_none() || self.config.extensions.dsn);
        ok.then_some(FastLine {
            start,
            path,
            params: notify,
            len,
        })
    }

    /// Carries out a RCPT planned by [`plan_rcpt`](Self::plan_rcpt), as
    /// [`rcpt_parsed`](Self::rcpt_parsed) would.
    #[inline(never)]
    fn fast_rcpt(&mut self, plan: FastLine<Option<params::Notify>>) -> Event {
        self.scanned = 0;
        // (The path's own cut drops the CRLF.)
        let line = self.recv.split_to(plan.len + 2);
        self.pending = Some(Pending::Rcpt);
        Event::RcptTo {
            to: plan.path.forward_path_mut(line, plan.start),
            params: RcptParams {
                notify: plan.params,
                orcpt: None,
            },
        }
    }

    /// The command line of `end` octets at the front of `recv`, `len` without its line end,
    /// split into its verb and the argument that starts at `arg_start`.
    fn command_split(
        &mut self,
        verb: Verb,
        arg_start: usize,
        len: usize,
        end: usize,
    ) -> Option<Event> {
        let arg = &self.recv[arg_start..len];
        let no_arg = arg.is_empty();

        if matches!(self.state, State::Refused) {
            self.recv.advance(end);
            match verb {
                Verb::Quit => self.quit(),
                _ => self.error(&REFUSED),
            }
            return None;
        }
        if self.config.tls == TlsPolicy::Required
            && !self.tls
            && !matches!(
                verb,
                Verb::Noop | Verb::Ehlo | Verb::StartTls | Verb::Quit | Verb::Bdat | Verb::Http
            )
        {
            self.recv.advance(end);
            self.error(&NEED_TLS);
            return None;
        }
        let lmtp = self.config.protocol == Protocol::Lmtp;
        // The commands whose values are kept take their argument off the buffer as `Bytes`;
        // the others only look at it, and leave no reference behind.
        match verb {
            // RFC 2033 section 4.1: LMTP has LHLO instead of HELO and EHLO.
            Verb::Helo | Verb::Ehlo if lmtp => {}
            Verb::Lhlo if !lmtp => {}
            Verb::Lhlo | Verb::Helo | Verb::Ehlo => {
                let mut args = self.take_line(len, end);
                args.advance(arg_start);
                return self.hello_cmd(args, verb != Verb::Helo);
            }
            Verb::Mail => {
                let line = self.take_line(len, end);
                return self.mail(line, arg_start);
            }
            Verb::Rcpt => {
                let line = self.take_line(len, end);
                return self.rcpt(line, arg_start);
            }
            Verb::Auth => {
                let line = self.take_line(len, end);
                self.auth(&line[arg_start..]);
                return None;
            }
            Verb::Bdat => {
                let parsed = command::parse_bdat(arg);
                self.recv.advance(end);
                self.bdat(parsed);
                return None;
            }
            _ => {}
        }
        self.recv.advance(end);
        if verb == Verb::Rset && no_arg {
            return self.rset().then_some(Event::Reset);
        }
        self.command_without_value(verb, no_arg);
        None
    }

    /// RSET (RFC 5321 4.1.1.5). `true` when the caller is to report [`Event::Reset`] itself:
    /// the common case, a transaction without a body in progress, does not go through the
    /// event queue.
    #[inline]
    fn rset(&mut self) -> bool {
        self.put_canned(&OK);
        match &self.tx {
            Some(tx) if !tx.data_started => {
                self.tx = None;
                true
            }
            _ => {
                self.abort_data(AbortReason::Reset);
                false
            }
        }
    }

    /// The commands that keep nothing of their argument.
    fn command_without_value(&mut self, verb: Verb, no_arg: bool) {
        match verb {
            Verb::Helo | Verb::Ehlo | Verb::Lhlo => self.error(&UNRECOGNIZED),
            Verb::Data => self.data(no_arg),
            // RSET alone on its line is `rset`, called before this.
            Verb::Rset => self.error(&NO_PARAMS),
            Verb::Noop => self.put_canned(&OK),
            Verb::Quit => {
                if !no_arg {
                    return self.error(&NO_PARAMS);
                }
                self.quit();
            }
            Verb::Vrfy => {
                if no_arg {
                    return self.error(&SYNTAX);
                }
                self.put(&VRFY);
            }
            Verb::Expn => self.error(&NOT_IMPLEMENTED),
            Verb::Help => self.put(&HELP),
            Verb::StartTls => self.starttls(no_arg),
            Verb::Http => {
                self.put_host_reply(421, E::c(4, 7, 0), "This is an SMTP server, not HTTP");
                self.close(CloseReason::ProtocolViolation);
            }
            Verb::Mail | Verb::Rcpt | Verb::Auth | Verb::Bdat | Verb::Unknown => {
                self.error(&UNRECOGNIZED)
            }
        }
    }

    fn hello_cmd(&mut self, mut name: Bytes, esmtp: bool) -> Option<Event> {
        name.truncate(command::trim_end_sp(&name).len());
        let valid = if self.config.strict_hello {
            address::parse_domain(&name).is_ok()
        } else {
            !name.is_empty() && name.len() <= 255 && !name.iter().any(|&b| b <= b' ' || b == 0x7f)
        };
        let domain = match Text::from_utf8(name) {
            Ok(d) if valid => d,
            _ => {
                self.error(&BAD_HELLO);
                return None;
            }
        };
        // RFC 5321 4.1.4: a HELO/EHLO in the middle of a session is also a RSET.
        self.abort_data(AbortReason::Reset);
        self.pending = Some(Pending::Hello { esmtp });
        let event = Event::Hello { domain, esmtp };
        if !self.events.is_empty() {
            // After the Reset.
            self.events.push_back(event);
            return None;
        }
        Some(event)
    }

    /// `MAIL FROM:` (RFC 5321 4.1.1.2); the argument starts at `arg` in `line`.
    fn mail(&mut self, line: Bytes, arg: usize) -> Option<Event> {
        const FROM: command::Ci = command::Ci::new(b"FROM:");
        if !FROM.is(command::word_at(&line, arg)) {
            self.error(&SYNTAX);
            return None;
        }
        let start = arg + 5 + leading_spaces(&line[arg + 5..]);
        if let Err(reply) = self.mail_allowed() {
            self.error(&reply);
            return None;
        }
        let path = match address::scan_path(&line[start..], PathKind::Reverse) {
            Ok(p) => p,
            Err(e) => {
                self.address_error(e, &BAD_SENDER);
                return None;
            }
        };
        let params = match params::parse_mail_params_at(&line, start + path.end()) {
            Ok(p) => p,
            Err(e) => {
                self.param_error(e);
                return None;
            }
        };
        self.mail_parsed(line, start, path, params)
    }

    /// Whether MAIL may come now (RFC 5321 4.1.4, RFC 4954 section 6).
    fn mail_allowed(&self) -> Result<(), Reply> {
        if self.hello.is_none() {
            Err(HELLO_FIRST)
        } else if self.tx.is_some() {
            Err(NESTED_MAIL)
        } else if self.config.require_auth && !self.authenticated {
            Err(AUTH_REQUIRED)
        } else {
            Ok(())
        }
    }

    /// MAIL, allowed, with its path (at `start` in `line`) and parameters parsed: the checks
    /// of the parameters against the configuration, then the event.
    fn mail_parsed(
        &mut self,
        line: Bytes,
        start: usize,
        path: PathScan,
        params: MailParams,
    ) -> Option<Event> {
        if let Err(reply) = self.check_mail_params(&params) {
            self.error(&reply);
            return None;
        }
        if let Some(max) = self.limit() {
            if params.size.is_some_and(|s| s > max) {
                self.put(&TOO_LARGE);
                return None;
            }
        }
        if !path.ascii && !params.smtputf8 {
            self.put(&NEED_SMTPUTF8);
            return None;
        }
        self.pending = Some(Pending::Mail {
            smtputf8: params.smtputf8,
            body: params.body.unwrap_or(BodyType::SevenBit),
        });
        let from = path.reverse_path(line, start);
        Some(Event::MailFrom { from, params })
    }

    fn check_mail_params(&self, p: &MailParams) -> Result<(), Reply> {
        let ext = &self.config.extensions;
        let ok = match p.body {
            Some(BodyType::EightBitMime) => ext.eight_bit_mime,
            Some(BodyType::BinaryMime) => ext.binary_mime && ext.chunking,
            _ => true,
        } && (!p.smtputf8 || ext.smtputf8)
            && (ext.dsn || (p.ret.is_none() && p.envid.is_none()))
            && (!p.requiretls || (ext.requiretls && self.tls));
        if ok {
            Ok(())
        } else {
            Err(UNSUPPORTED_PARAM)
        }
    }

    /// `RCPT TO:` (RFC 5321 4.1.1.3); the argument starts at `arg` in `line`.
    fn rcpt(&mut self, line: Bytes, arg: usize) -> Option<Event> {
        const TO: command::Ci = command::Ci::new(b"TO:");
        if !TO.is(command::word_at(&line, arg)) {
            self.error(&SYNTAX);
            return None;
        }
        let start = arg + 3 + leading_spaces(&line[arg + 3..]);
        if let Err(reply) = self.rcpt_allowed() {
            self.error(&reply);
            return None;
        }
        let path = match address::scan_path(&line[start..], PathKind::Forward) {
            Ok(p) => p,
            Err(e) => {
                self.address_error(e, &BAD_RECIPIENT);
                return None;
            }
        };
        let params = match params::parse_rcpt_params_at(&line, start + path.end()) {
            Ok(p) => p,
            Err(e) => {
                self.param_error(e);
                return None;
            }
        };
        self.rcpt_parsed(line, start, path, params)
    }

    /// Whether RCPT may come now (RFC 5321 4.1.4, RFC 3030 section 2).
    fn rcpt_allowed(&self) -> Result<(), Reply> {
        match &self.tx {
            None => Err(NEED_MAIL),
            // Between BDAT chunks (RFC 3030): the envelope is closed.
            Some(tx) if tx.data_started => Err(RCPT_AFTER_DATA),
            Some(_) => Ok(()),
        }
    }

    /// RCPT, allowed, with its path (at `start` in `line`) and parameters parsed: the checks
    /// against the configuration and the transaction, then the event.
    fn rcpt_parsed(
        &mut self,
        line: Bytes,
        start: usize,
        path: PathScan,
        params: RcptParams,
    ) -> Option<Event> {
        let (smtputf8, recipients) = self
            .tx
            .as_ref()
            .map_or((false, 0), |tx| (tx.smtputf8, tx.recipients));
        if !self.config.extensions.dsn && (params.notify.is_some() || params.orcpt.is_some()) {
            self.error(&UNSUPPORTED_PARAM);
            return None;
        }
        if !path.ascii && !smtputf8 {
            self.put(&NEED_SMTPUTF8);
            return None;
        }
        if recipients >= self.config.max_recipients {
            self.put(&TOO_MANY_RCPTS);
            return None;
        }
        self.pending = Some(Pending::Rcpt);
        let to = path.forward_path(line, start);
        Some(Event::RcptTo { to, params })
    }

    fn data(&mut self, no_arg: bool) {
        if !no_arg {
            return self.error(&NO_PARAMS);
        }
        let Some(tx) = &mut self.tx else {
            return self.error(&NEED_MAIL);
        };
        if tx.bdat {
            return self.error(&DATA_AFTER_BDAT);
        }
        if tx.body == BodyType::BinaryMime {
            return self.error(&BINARY_NEEDS_BDAT);
        }
        if tx.recipients == 0 {
            return self.put(&NO_RECIPIENTS);
        }
        tx.data_started = true;
        self.state = State::Data(DataDecoder::new());
        put_code(&mut self.send, 354, b' ');
        self.send.put_slice(b"End data with <CR><LF>.<CR><LF>\r\n");
        self.flush = true;
        self.events.push_back(Event::DataStart);
    }

    fn bdat(&mut self, parsed: Option<(u64, bool)>) {
        let Some((size, last)) = parsed else {
            // Without a size, the chunk's end cannot be found: anything that follows could be
            // message data, so executing it as commands would be a smuggling hole. Close.
            self.put(&BAD_BDAT);
            return self.close(CloseReason::ProtocolViolation);
        };
        // RFC 3030 section 2: the chunk is read whatever the verdict, never executed.
        let verdict = self.bdat_verdict(size);
        if let (Ok(()), Some(tx)) = (&verdict, &mut self.tx) {
            if !tx.data_started {
                tx.data_started = true;
                tx.bdat = true;
                self.events.push_back(Event::DataStart);
            }
        }
        self.state = State::Bdat {
            remaining: size,
            size,
            last,
            verdict,
        };
    }

    fn bdat_verdict(&self, size: u64) -> Result<(), Reply> {
        if !self.config.extensions.chunking {
            return Err(NOT_IMPLEMENTED);
        }
        if self.config.tls == TlsPolicy::Required && !self.tls {
            return Err(NEED_TLS);
        }
        let Some(tx) = &self.tx else {
            return Err(if self.hello.is_none() {
                HELLO_FIRST
            } else {
                NEED_MAIL
            });
        };
        if tx.recipients == 0 {
            return Err(NO_RECIPIENTS);
        }
        if let Some(max) = self.limit() {
            if tx.size.saturating_add(size) > max {
                return Err(TOO_LARGE);
            }
        }
        Ok(())
    }

    fn starttls(&mut self, no_arg: bool) {
        if !no_arg {
            return self.error(&NO_PARAMS);
        }
        if self.config.tls == TlsPolicy::Disabled {
            return self.error(&NOT_IMPLEMENTED);
        }
        if self.tls {
            return self.error(&TLS_ACTIVE);
        }
        // RFC 3207 section 4.2 / CVE-2011-0411: nothing sent before the handshake may be
        // executed after it.
        let discarded = self.recv.len();
        self.recv.clear();
        self.scanned = 0;
        self.abort_data(AbortReason::Reset);
        self.put(&START_TLS);
        self.state = State::TlsHandoff;
        self.flush = true;
        self.events.push_back(Event::StartTls { discarded });
    }

    /// AUTH (RFC 4954 section 4): `AUTH mechanism [initial-response]`.
    fn auth(&mut self, args: &[u8]) {
        let mechanisms = &self.config.auth_mechanisms;
        if mechanisms.is_empty() {
            return self.error(&NOT_IMPLEMENTED);
        }
        let args = command::trim_end_sp(args);
        let (name, initial) = match memchr::memchr(b' ', args) {
            Some(i) => (&args[..i], Some(&args[i + 1..])),
            None => (args, None),
        };
        if name.is_empty() {
            return self.error(&SYNTAX);
        }
        if self.hello.is_none() {
            return self.error(&HELLO_FIRST);
        }
        if self.authenticated {
            return self.error(&AUTH_TWICE);
        }
        if self.tx.is_some() {
            return self.error(&AUTH_IN_TX);
        }
        if !self.tls && !self.config.allow_insecure_auth {
            return self.error(&AUTH_NEEDS_TLS);
        }
        let Some(mechanism) = mechanisms
            .iter()
            .find(|m| m.as_bytes().eq_ignore_ascii_case(name))
            .cloned()
        else {
            return self.error(&AUTH_UNKNOWN);
        };
        // "=" is an empty initial response (RFC 4954 section 4).
        let initial = match initial {
            None => None,
            Some(b"=") => Some(Vec::new()),
            Some(b64) => match auth::decode_base64(b64) {
                Some(bytes) => Some(bytes),
                None => return self.error(&AUTH_BAD_BASE64),
            },
        };
        match (Mechanism::of(&mechanism), initial) {
            (Mechanism::Plain, Some(message)) => self.auth_plain(mechanism, &message),
            (Mechanism::Plain, None) => self.challenge(b"", AuthStep::Plain),
            (Mechanism::Login, Some(user)) => match String::from_utf8(user) {
                Ok(username) => self.challenge(b"Password:", AuthStep::LoginPassword { username }),
                Err(_) => self.error(&AUTH_BAD_MESSAGE),
            },
            (Mechanism::Login, None) => self.challenge(b"Username:", AuthStep::LoginUser),
            (Mechanism::Other, initial) => {
                self.pending = Some(Pending::Auth);
                let credentials = Credentials::Other {
                    initial_response: initial.map(Secret::new),
                };
                self.events.push_back(Event::Auth {
                    mechanism,
                    credentials,
                });
            }
        }
    }

    fn auth_plain(&mut self, mechanism: Text, message: &[u8]) {
        match auth::parse_plain(message) {
            Some(credentials) => {
                self.pending = Some(Pending::Auth);
                self.events.push_back(Event::Auth {
                    mechanism,
                    credentials,
                });
            }
            None => self.error(&AUTH_BAD_MESSAGE),
        }
    }

    /// Sends `334 base64(challenge)` and waits for the client's response line.
    fn challenge(&mut self, challenge: &[u8], step: AuthStep) {
        let mut b64 = Vec::with_capacity(challenge.len().div_ceil(3) * 4);
        auth::encode_base64(challenge, &mut b64);
        put_code(&mut self.send, 334, b' ');
        self.send.put_slice(&b64);
        self.send.put_slice(b"\r\n");
        self.flush = true;
        self.state = State::AuthResponse(step);
    }

    /// The client's line after a `334` (RFC 4954 section 4).
    fn auth_response(&mut self, line: &[u8]) {
        let State::AuthResponse(step) = std::mem::replace(&mut self.state, State::Command) else {
            return;
        };
        let line = without_line_end(line);
        if line == b"*" {
            return self.error(&AUTH_CANCELLED);
        }
        let Some(response) = auth::decode_base64(line) else {
            return self.error(&AUTH_BAD_BASE64);
        };
        let mechanism = |name: &str| {
            self.config
                .auth_mechanisms
                .iter()
                .find(|m| m.eq_ignore_ascii_case(name))
                .cloned()
                .unwrap_or_else(|| Text::from(name.to_string()))
        };
        match step {
            AuthStep::Plain => self.auth_plain(mechanism("PLAIN"), &response),
            AuthStep::LoginUser => match String::from_utf8(response) {
                Ok(username) => self.challenge(b"Password:", AuthStep::LoginPassword { username }),
                Err(_) => self.error(&AUTH_BAD_MESSAGE),
            },
            AuthStep::LoginPassword { username } => {
                let mechanism = mechanism("LOGIN");
                self.pending = Some(Pending::Auth);
                self.events.push_back(Event::Auth {
                    mechanism,
                    credentials: Credentials::Login {
                        username,
                        password: Secret::new(response),
                    },
                });
            }
            AuthStep::Other => {
                self.pending = Some(Pending::Auth);
                self.events.push_back(Event::AuthResponse {
                    response: Secret::new(response),
                });
            }
        }
    }

    fn quit(&mut self) {
        self.abort_data(AbortReason::Reset);
        self.put_canned(&BYE);
        self.close(CloseReason::Quit);
    }

    // ----- internals: message data -----

    /// Accounts for a decoded DATA chunk and decides what the application sees of it. Once
    /// the message is doomed (too large, or a bare CR/LF under the Reject policy), the rest
    /// is drained without reaching the application. The cut is exact, so the application
    /// sees the same bytes however the input was split into reads: everything before the
    /// octet that broke the rule.
    fn data_chunk(&mut self, chunk: Bytes) -> Option<Event> {
        let limit = self.limit();
        let reject_bare = self.config.bare_line_endings == BareLineEndings::Reject;
        let tx = self.tx.as_mut()?;
        let before = tx.size;
        tx.size = tx.size.saturating_add(chunk.len() as u64);
        if tx.data_failed.is_some() {
            return None;
        }
        let mut keep = chunk.len();
        // Looked for only when the policy rejects them, and only until the message fails.
        if reject_bare && has_bare_line_ending(&chunk) {
            if let Some(at) = first_bare_line_ending(&chunk) {
                keep = at;
                tx.data_failed = Some(AbortReason::BareLineEnding);
            }
        }
        if let Some(max) = limit {
            let room = max.saturating_sub(before);
            if (keep as u64) > room {
                keep = room as usize;
                tx.data_failed = Some(AbortReason::TooLarge);
            }
        }
        (keep > 0).then(|| Event::DataChunk(chunk.slice(..keep)))
    }

    fn data_end(&mut self) {
        self.state = State::Command;
        let Some(tx) = &mut self.tx else { return };
        match tx.data_failed {
            Some(reason) => {
                let reply = match reason {
                    AbortReason::TooLarge => TOO_LARGE,
                    _ => BARE_LINE_ENDING,
                };
                self.put(&reply);
                self.abort_data(reason);
            }
            None => {
                let size = tx.size;
                let replies = self.end_of_data_replies();
                self.pending = Some(Pending::DataEnd { replies });
                self.events.push_back(Event::DataEnd { size });
            }
        }
    }

    fn bdat_chunk(&mut self, chunk: Bytes) -> Option<Event> {
        let State::Bdat { verdict, .. } = &self.state else {
            return None;
        };
        if verdict.is_err() {
            return None;
        }
        let tx = self.tx.as_mut()?;
        tx.size += chunk.len() as u64; // within the limit: checked by bdat_verdict
        Some(Event::DataChunk(chunk))
    }

    fn bdat_end(&mut self) {
        let State::Bdat {
            size,
            last,
            verdict,
            ..
        } = std::mem::replace(&mut self.state, State::Command)
        else {
            return;
        };
        match verdict {
            Err(reply) if reply.code() == 552 => {
                // RFC 3030 section 2: after a failed BDAT the transaction is over; chunks
                // already pipelined behind it are read and refused (there is no MAIL any more).
                self.abort_data(AbortReason::TooLarge);
                self.put(&reply);
            }
            Err(reply) => self.error(&reply),
            Ok(()) if last => {
                let size = self.tx.as_ref().map_or(0, |tx| tx.size);
                let replies = self.end_of_data_replies();
                self.pending = Some(Pending::DataEnd { replies });
                self.events.push_back(Event::DataEnd { size });
            }
            Ok(()) => {
                let enhanced = self.config.extensions.enhanced_status_codes;
                put_code(&mut self.send, 250, b' ');
                if enhanced {
                    self.send.put_slice(b"2.0.0 ");
                }
                let _ = write!(self.send, "{size} octets received\r\n");
            }
        }
    }

    /// Drops the transaction, if any, without a decided end of data (RSET, HELO/EHLO,
    /// STARTTLS, QUIT, a refused body, a 421, the connection closing): a body in progress
    /// (BDAT between chunks, or DATA on EOF/timeout) ends with `DataAborted`, then `Reset`
    /// tells the application to forget the envelope. Every accepted MAIL thus ends with
    /// exactly one decided `DataEnd` or one `Reset`.
    fn abort_data(&mut self, reason: AbortReason) {
        if let Some(tx) = self.tx.take() {
            if tx.data_started && !matches!(self.pending, Some(Pending::DataEnd { .. })) {
                self.events.push_back(Event::DataAborted { reason });
            }
            self.events.push_back(Event::Reset);
        }
    }

    // ----- internals: replies -----

    /// How many end-of-data replies are due: one, or one per accepted recipient in LMTP.
    fn end_of_data_replies(&self) -> usize {
        match self.config.protocol {
            Protocol::Lmtp => self.tx.as_ref().map_or(1, |tx| tx.recipients.max(1)),
            _ => 1,
        }
    }

    fn limit(&self) -> Option<u64> {
        Some(self.config.max_message_size).filter(|&m| m > 0)
    }

    fn put(&mut self, reply: &Reply) {
        reply.encode(&mut self.send, self.config.extensions.enhanced_status_codes);
    }

    #[inline]
    fn put_canned<const A: usize, const B: usize>(&mut self, reply: &Canned<A, B>) {
        reply.put(&mut self.send, self.config.extensions.enhanced_status_codes);
    }

    /// The application's own reply if it gave one, else the canned one.
    fn put_or<const A: usize, const B: usize>(
        &mut self,
        reply: Option<Reply>,
        canned: &Canned<A, B>,
    ) {
        match reply {
            Some(r) => self.put(&r),
            None => self.put_canned(canned),
        }
    }

    /// Answers a protocol error, or closes with `421 4.7.0` once there were too many.
    fn error(&mut self, reply: &Reply) {
        self.errors += 1;
        if self.errors >= self.config.max_errors {
            return self.too_many_errors();
        }
        self.put(reply);
    }

    fn too_many_errors(&mut self) {
        self.put_host_reply(421, E::c(4, 7, 0), "Too many errors, closing connection");
        self.close(CloseReason::TooManyErrors);
    }

    fn address_error(&mut self, e: AddressError, syntax: &Reply) {
        let reply = match e {
            AddressError::PathTooLong => &PATH_TOO_LONG,
            AddressError::LocalPartTooLong => &LOCAL_TOO_LONG,
            AddressError::DomainTooLong => &DOMAIN_TOO_LONG,
            _ => syntax,
        };
        self.error(reply)
    }

    fn param_error(&mut self, e: ParamError) {
        match e {
            // RFC 1870 section 6: a SIZE beyond u64 is beyond any limit.
            ParamError::SizeOverflow => self.put(&TOO_LARGE),
            ParamError::Unknown(_) | ParamError::Duplicate(_) => self.error(&UNSUPPORTED_PARAM),
            _ => self.error(&SYNTAX),
        }
    }

    fn close(&mut self, reason: CloseReason) {
        // A body in progress (between BDAT chunks) ends here too: the application must hear
        // `DataAborted` before `Closed`.
        self.abort_data(AbortReason::ConnectionClosed);
        self.flush = true;
        self.state = State::Closing;
        self.events.push_back(Event::Closed(reason));
    }

    fn greet(&mut self) {
        self.state = State::Command;
        let text = match self.config.protocol {
            Protocol::Lmtp => "LMTP ready",
            _ => "ESMTP ready",
        };
        self.put_host_line(220, b' ', text);
    }

    /// `code host text`, with the enhanced code when enabled.
    fn put_host_reply(&mut self, code: u16, enhanced: E, text: &str) {
        put_code(&mut self.send, code, b' ');
        if self.config.extensions.enhanced_status_codes {
            let _ = write!(self.send, "{enhanced} ");
        }
        self.put_hostname();
        self.send.put_u8(b' ');
        self.send.put_slice(text.as_bytes());
        self.send.put_slice(b"\r\n");
    }

    fn put_host_line(&mut self, code: u16, sep: u8, text: &str) {
        put_code(&mut self.send, code, sep);
        self.put_hostname();
        self.send.put_u8(b' ');
        self.send.put_slice(text.as_bytes());
        self.send.put_slice(b"\r\n");
    }

    /// The configured host name, without anything that could break the reply line.
    fn put_hostname(&mut self) {
        let host = self.config.hostname.as_bytes();
        if host.iter().all(|&b| b > b' ' && b != 0x7f) && !host.is_empty() {
            self.send.put_slice(host);
        } else {
            let clean: Vec<u8> = host
                .iter()
                .copied()
                .filter(|&b| b > b' ' && b != 0x7f)
                .collect();
            self.send.put_slice(if clean.is_empty() {
                b"localhost"
            } else {
                &clean
            });
        }
    }

    /// The reply to an accepted HELO (RFC 5321 4.1.1.1) or EHLO with its extension keywords
    /// (4.1.4, and each extension's RFC), written straight into the send buffer.
    fn put_hello(&mut self, esmtp: bool, custom: Option<&Reply>) {
        let greeting = custom.map_or("Hello", |r| r.lines().next().unwrap_or("Hello"));
        if !esmtp {
            return self.put_host_line(250, b' ', greeting);
        }
        let ext = self.config.extensions;
        let (max_size, max_rcpt) = (self.config.max_message_size, self.config.max_recipients);
        let starttls = self.config.tls != TlsPolicy::Disabled && !self.tls;
        self.put_host_line(250, b'-', greeting);
        let out = &mut self.send;
        let mut last = 0;
        // (keyword, a number after it): written as octets, no formatting machinery.
        let mut line = |out: &mut BytesMut, on: bool, keyword: &[u8], number: Option<u64>| {
            if on {
                last = out.len() + 3;
                out.put_slice(b"250-");
                out.put_slice(keyword);
                if let Some(n) = number {
                    put_decimal(out, n);
                }
                out.put_slice(b"\r\n");
            }
        };
        line(out, ext.pipelining, b"PIPELINING", None);
        match max_size {
            0 => line(out, true, b"SIZE", None),
            n => line(out, true, b"SIZE ", Some(n)),
        }
        line(out, ext.eight_bit_mime, b"8BITMIME", None);
        line(out, ext.enhanced_status_codes, b"ENHANCEDSTATUSCODES", None);
        line(out, ext.smtputf8 && ext.eight_bit_mime, b"SMTPUTF8", None);
        line(out, ext.chunking, b"CHUNKING", None);
        line(out, ext.chunking && ext.binary_mime, b"BINARYMIME", None);
        line(out, ext.dsn, b"DSN", None);
        let rcptmax = Some(max_rcpt as u64);
        line(out, ext.limits, b"LIMITS RCPTMAX=", rcptmax);
        line(out, ext.requiretls && self.tls, b"REQUIRETLS", None);
        line(out, starttls, b"STARTTLS", None);
        let mechanisms = &self.config.auth_mechanisms;
        if !mechanisms.is_empty() && (self.tls || self.config.allow_insecure_auth) {
            last = out.len() + 3;
            out.put_slice(b"250-AUTH");
            for m in mechanisms {
                out.put_u8(b' ');
                out.put_slice(m.as_bytes());
            }
            out.put_slice(b"\r\n");
        }
        // SIZE is always there, so `last` points at the final line's separator.
        out[last] = b' ';
    }
}

const UNSUPPORTED_PARAM: Reply =
    Reply::fixed(555, E::c(5, 5, 4), "Unsupported or duplicate parameter");

/// Writes `n` in decimal.
fn put_decimal(out: &mut BytesMut, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.put_slice(&digits[at..]);
}

/// The offset of the first LF in `b`. Command lines are short: eight octets at a time over
/// the first 64 (no call, no set-up), then memchr for a long line.
#[inline]
fn find_lf(b: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    while i < 64 {
        let Some(word) = b[i..].first_chunk::<8>() else {
            break;
        };
        // Octets equal to LF become zero; the lowest zero octet sets the lowest flag bit.
        let x = u64::from_le_bytes(*word) ^ (ONES * u64::from(b'\n'));
        let zero = x.wrapping_sub(ONES) & !x & HIGH;
        if zero != 0 {
            return Some(i + (zero.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    memchr::memchr(b'\n', &b[i..]).map(|j| i + j)
}

/// A line without its LF and the CR before it, if any.
fn without_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[inline]
fn leading_spaces(s: &[u8]) -> usize {
    match s.first() {
        Some(b' ') => s.iter().take_while(|&&b| b == b' ').count(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_numbers_in_replies() {
        for n in [0, 7, 10, 99, 100, 35_882_577, u64::MAX] {
            let mut out = BytesMut::new();
            put_decimal(&mut out, n);
            assert_eq!(&out[..], n.to_string().as_bytes());
        }
    }

    /// The common lines take the fast path (its results are checked against the slow one by
    /// `tests/fast_commands.rs`); others do not.
    #[test]
    fn common_command_lines_take_the_fast_path() {
        let mut s = Session::new(Arc::new(Config::new("mx.example")));
        s.hello = Some(true);
        let fast: [&[u8]; 6] = [
            b"MAIL FROM:<sender.name@example.com> SIZE=12345 BODY=8BITMIME\r\n",
            b"RCPT TO:<first.recipient@example.org>\r\n",
            b"rcpt to: <second@example.net> NOTIFY=SUCCESS,FAILURE  \r\n",
            b"NOOP\r\n",
            b"RSET\r\nNOOP\r\n",
            b"QUIT\r\n",
        ];
        for line in fast {
            s.recv.clear();
            s.recv.extend_from_slice(line);
            // MAIL starts a transaction, RCPT needs one.
            s.tx =
                (!line.starts_with(b"MAIL")).then(|| Transaction::new(false, BodyType::SevenBit));
            assert!(!matches!(s.fast_command(), Fast::No), "{line:?}");
        }
        let slow: [&[u8]; 8] = [
            b"RCPT TO:<a@b>\n",
            b"RCPT TO:<a@b>",
            b"RCPT TO:<a@b>\r",
            b"RCPT TO:<postmaster>\r\n",
            b"RCPT TO:<a@b> ORCPT=rfc822;a@b\r\n",
            b"RCPT TO:<a@b> NOTIFY=NEVER\rX\r\n",
            b"NOOP x\r\n",
            b"XXXX\r\n",
        ];
        for line in slow {
            s.recv.clear();
            s.recv.extend_from_slice(line);
            assert!(matches!(s.fast_command(), Fast::No), "{line:?}");
        }
    }

    #[test]
    fn canned_wire_forms_match_the_encoder() {
        /// The reply, and what `put` appends with and without the enhanced code.
        fn both<const A: usize, const B: usize>(c: &Canned<A, B>) -> (&Reply, [Vec<u8>; 2]) {
            let put = |enhanced| {
                let mut out = BytesMut::from(&b"x"[..]);
                c.put(&mut out, enhanced);
                assert_eq!(&out[1..], c.wire(enhanced));
                out[1..].to_vec()
            };
            (&c.reply, [put(true), put(false)])
        }
        for (r, wire) in [
            both(&OK),
            both(&MAIL_OK),
            both(&RCPT_OK),
            both(&MESSAGE_OK),
            both(&BYE),
            both(&AUTH_OK),
        ] {
            let checked = Reply::new(r.code(), r.enhanced(), r.text().to_owned());
            assert_eq!(checked.as_ref(), Ok(r), "{r}");
            for (enhanced, wire) in [true, false].into_iter().zip(wire) {
                let mut out = BytesMut::new();
                r.encode(&mut out, enhanced);
                assert_eq!(wire, &out[..], "{r}");
            }
        }
    }
}

//! Drives a [`Session`] by its documented call order and checks every invariant on the way.

use crate::wire::ReplyChecker;
use bytes::Bytes;
use smtp_proto::{Config, Decision, Event, Protocol, Reply, Session, TimeoutKind, UsageError};
use std::sync::Arc;

/// One thing the client (or the adapter) does to the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Bytes read from the client: one `handle_input` call.
    Input(Vec<u8>),
    /// The client closed its side.
    Eof,
    /// The timer of `poll_timeout` runs out.
    Timeout,
    /// A timer that is not the current one fires (a stale timer): must be ignored.
    StaleTimeout(TimeoutKind),
    /// The adapter reports a finished TLS handshake (whether or not one was asked for).
    TlsEstablished,
    /// The adapter calls `decide` when nothing waits for a decision.
    DecideOutOfTurn,
}

/// How the application answers the events that need a decision.
pub trait Policy {
    /// The decision for `event`, and optionally a misuse to try first (a decision of the wrong
    /// class, which `decide` must refuse without effect).
    fn decide(&mut self, event: &Event) -> (Option<Decision>, Decision);

    /// In LMTP, the decision for recipient `index` (of `count`, in RCPT order) after the data
    /// (RFC 2033 section 4.2). By default, [`decide`](Self::decide) for the `DataEnd`.
    fn decide_recipient(
        &mut self,
        event: &Event,
        _index: usize,
        _count: usize,
        _rcpt: &str,
    ) -> (Option<Decision>, Decision) {
        self.decide(event)
    }

    /// In LMTP, how to answer all the recipients after the data (`rcpts`, in RCPT order) at
    /// once, if not one by one. By default one by one.
    fn batch(&mut self, _event: &Event, _rcpts: &[String]) -> Option<Batch> {
        None
    }
}

/// An answer to every recipient after the data at once (LMTP).
#[derive(Clone, Debug)]
pub enum Batch {
    /// `Session::decide_all`: the same decision for each.
    All(Decision),
    /// `Session::decide_each`: one per recipient, in RCPT order (one alone is for all; any
    /// other length is refused and every recipient gets the local error).
    Each(Vec<Decision>),
    /// `Session::fail`: the application could not decide.
    Fail,
}

/// Whether `decision` fits an event that is not AUTH (else the core answers with the local
/// error and returns the error).
fn fits(decision: &Decision) -> Result<(), UsageError> {
    match decision {
        Decision::Accept => Ok(()),
        Decision::AcceptWith(r) if r.is_positive() => Ok(()),
        Decision::Reject(r) if !r.is_positive() => Ok(()),
        Decision::AcceptWith(r) | Decision::Reject(r) => Err(UsageError::ReplyClass(r.code())),
        _ => Err(UsageError::ChallengeOutsideAuth),
    }
}

/// The replies that `decisions`, given one per recipient after the data, must produce: each
/// its own (the local error for one that does not fit), up to a 421 that closes; and the
/// first error.
fn end_of_data_replies(decisions: &[Decision]) -> (Vec<Reply>, Result<(), UsageError>) {
    let mut replies = Vec::new();
    let mut result = Ok(());
    for d in decisions {
        let fit = fits(d);
        replies.push(match (d, &fit) {
            (_, Err(_)) => Reply::MESSAGE_LOCAL_ERROR,
            (Decision::AcceptWith(r) | Decision::Reject(r), _) => r.clone(),
            _ => message_ok(),
        });
        result = result.and(fit);
        if matches!(d, Decision::Reject(r) if r.code() == 421) {
            break;
        }
    }
    (replies, result)
}

/// The core's reply for an accepted message (`Decision::Accept` on `DataEnd`).
pub fn message_ok() -> Reply {
    reply("250 2.0.0 Message accepted")
}

/// A model of the LMTP transaction (RFC 2033), kept from the events and the decisions alone:
/// what an application that follows the events knows. Every accepted MAIL ends with exactly
/// one decided `DataEnd` or one `Reset` (after `DataAborted` if the body had started).
#[derive(Debug, Default)]
pub struct LmtpModel {
    /// The recipients accepted in the open transaction, in RCPT order; `None` outside one.
    tx: Option<Vec<String>>,
    /// For every `DataEnd`, the replies the decisions asked for, in order (a `421` ends it).
    pub replies: Vec<Vec<Reply>>,
}

/// Accepts everything except recipients containing "reject" (550) or "defer" (451), like the
/// test harness in smtp-proto/tests/support.
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultPolicy;

impl Policy for DefaultPolicy {
    fn decide(&mut self, event: &Event) -> (Option<Decision>, Decision) {
        (None, default_decision(event))
    }
}

/// The decision of [`DefaultPolicy`].
pub fn default_decision(event: &Event) -> Decision {
    match event {
        Event::RcptTo { to, .. } if to.to_string().contains("reject") => {
            Decision::Reject(reply("550 5.1.1 No such user"))
        }
        Event::RcptTo { to, .. } if to.to_string().contains("defer") => {
            Decision::Reject(reply("451 4.3.0 Try again later"))
        }
        _ => Decision::Accept,
    }
}

/// Parses a reply known to be valid.
pub fn reply(s: &str) -> Reply {
    s.parse().expect("a valid reply")
}

/// What a run produced: the events (consecutive `DataChunk`s merged, `StartTls::discarded`
/// zeroed, as neither is meaningful across different chunkings) and every reply byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The normalised events.
    pub events: Vec<Event>,
    /// Everything `poll_transmit` returned, concatenated.
    pub output: Vec<u8>,
}

/// Checks that events come in a valid order: bodies open and close, nothing after `Closed`.
#[derive(Debug, Default)]
struct EventGrammar {
    closed: bool,
    /// Bytes of body since `DataStart`, while a body is open.
    body: Option<u64>,
}

impl EventGrammar {
    fn event(&mut self, e: &Event) {
        assert!(!self.closed, "event after Closed: {e:?}");
        match e {
            Event::Hello { .. }
            | Event::MailFrom { .. }
            | Event::Reset
            | Event::StartTls { .. } => {
                assert!(self.body.is_none(), "{e:?} while a body is open");
            }
            Event::RcptTo { .. } => {}
            Event::DataStart => {
                assert!(self.body.is_none(), "DataStart while a body is open");
                self.body = Some(0);
            }
            Event::DataChunk(b) => {
                assert!(!b.is_empty(), "empty DataChunk");
                let n = self.body.as_mut().expect("DataChunk outside a body");
                *n += b.len() as u64;
            }
            Event::DataEnd { size } => {
                let n = self.body.take().expect("DataEnd outside a body");
                assert_eq!(*size, n, "DataEnd size differs from the chunks delivered");
            }
            Event::DataAborted { .. } => {
                assert!(self.body.take().is_some(), "DataAborted outside a body");
            }
            Event::Closed(_) => {
                assert!(
                    self.body.is_none(),
                    "Closed while a body is open: the body never got DataEnd or DataAborted"
                );
                self.closed = true;
            }
            _ => {}
        }
    }
}

/// A session under test.
pub struct Driver<P> {
    /// The session.
    pub session: Session,
    config: Arc<Config>,
    policy: P,
    events: Vec<Event>,
    output: Vec<u8>,
    replies: ReplyChecker,
    grammar: EventGrammar,
    /// `StartTls` was emitted and the handshake is not reported yet.
    handoff: bool,
    /// A literal reading of the call order (poll events, poll transmits, then read) would have
    /// waited for input although the session still had replies to give.
    pub doc_order_stalled: bool,
    /// Reads (and the EOF behind them) the client sent while the session did not want to read
    /// (during the greeting delay, once a line of early input is held): an adapter leaves
    /// them in the socket until `wants_read()`.
    unread: std::collections::VecDeque<Step>,
    /// In LMTP mode, the model of the transaction.
    pub lmtp: Option<LmtpModel>,
    /// Feed reads with `handle_input_buf` through this one reused read buffer (as an adapter
    /// that reads into a `BytesMut` does) instead of `handle_input`.
    read_buf: Option<bytes::BytesMut>,
}

impl<P: Policy> Driver<P> {
    /// Wraps a new session and drives it (the greeting comes out).
    pub fn new(session: Session, config: Arc<Config>, policy: P) -> Driver<P> {
        let enhanced = config.extensions.enhanced_status_codes;
        let mut d = Driver {
            session,
            config,
            policy,
            events: Vec::new(),
            output: Vec::new(),
            replies: ReplyChecker::new(enhanced),
            grammar: EventGrammar::default(),
            handoff: false,
            doc_order_stalled: false,
            unread: std::collections::VecDeque::new(),
            lmtp: None,
            read_buf: None,
        };
        if d.config.protocol == Protocol::Lmtp {
            d.lmtp = Some(LmtpModel::default());
        }
        d.drive();
        d
    }

    /// The complete replies seen so far, by code.
    pub fn codes(&self) -> &[u16] {
        &self.replies.codes
    }

    /// Every event so far, unmerged.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// Runs steps 1 and 2 of the call order until the session has nothing more to say, checking
    /// each event and each transmit.
    pub fn drive(&mut self) {
        let mut round = 0;
        let mut wanted_after_first_round = false;
        loop {
            let mut progress = false;
            while let Some(event) = self.session.poll_event() {
                progress = true;
                self.grammar.event(&event);
                if matches!(event, Event::StartTls { .. }) {
                    self.handoff = true;
                }
                if event.needs_decision() {
                    // One decision, or in LMTP after the data one per accepted recipient.
                    assert!(
                        self.session.pending_decisions() >= 1,
                        "{event:?} pends nothing"
                    );
                    self.decide_all(&event);
                } else if let Some(m) = &mut self.lmtp {
                    // A transaction ends with a decided DataEnd or one Reset, which comes after
                    // DataAborted and before Closed.
                    match event {
                        Event::Reset => {
                            assert!(m.tx.is_some(), "Reset without a transaction");
                            m.tx = None;
                        }
                        Event::DataAborted { .. } => {
                            assert!(m.tx.is_some(), "DataAborted without a transaction");
                        }
                        Event::Closed(_) => {
                            assert!(m.tx.is_none(), "Closed without ending the transaction");
                        }
                        _ => {}
                    }
                }
                self.events.push(event);
            }
            while let Some(bytes) = self.session.poll_transmit() {
                progress = true;
                self.transmit(bytes);
            }
            if !progress {
                break;
            }
            if round == 1 && wanted_after_first_round {
                // An adapter that read after the first round, as the call order says, would
                // have waited for input while the session still had replies to give.
                self.doc_order_stalled = true;
            }
            if round == 0 {
                wanted_after_first_round = self.session.wants_read();
            }
            round += 1;
            assert!(round < 1_000_000, "drive does not settle");
        }
        self.check_lmtp_transaction();
        if self.session.is_closed() {
            assert!(self.grammar.closed, "closed without a Closed event");
            assert!(!self.session.wants_read(), "closed but wants to read");
            assert!(
                self.session.poll_timeout().is_none(),
                "closed but a timer runs"
            );
        } else if !self.handoff {
            let greeting =
                self.session.poll_timeout().map(|t| t.kind) == Some(TimeoutKind::GreetingDelay);
            assert!(
                self.session.wants_read() || greeting,
                "after the call order's steps the session neither reads, nor is closed, nor \
                 waits for TLS or the greeting timer"
            );
            assert!(
                self.session.poll_timeout().is_some(),
                "open but no timer runs"
            );
        } else {
            assert!(!self.session.wants_read(), "reads during the TLS hand-off");
        }
    }

    /// Once every event is out: the session's transaction is the model's, recipients included.
    fn check_lmtp_transaction(&self) {
        let Some(m) = &self.lmtp else { return };
        match &m.tx {
            None => assert!(
                !self.session.in_transaction(),
                "a transaction the events did not announce"
            ),
            Some(rcpts) => {
                assert!(
                    self.session.in_transaction(),
                    "the transaction ended without a Reset"
                );
                assert_eq!(self.session.recipients(), rcpts.len(), "{rcpts:?}");
            }
        }
    }

    /// Answers every recipient after the data at once, and returns the replies that must
    /// follow.
    fn run_batch(&mut self, batch: Batch, count: usize) -> Vec<Reply> {
        let (result, (replies, expected)) = match batch {
            Batch::Fail => (
                self.session.fail(),
                (vec![Reply::MESSAGE_LOCAL_ERROR; count], Ok(())),
            ),
            Batch::All(d) => (
                self.session.decide_all(d.clone()),
                end_of_data_replies(&vec![d; count]),
            ),
            Batch::Each(list) => {
                let expected = match list.len() {
                    1 => end_of_data_replies(&vec![list[0].clone(); count]),
                    n if n == count => end_of_data_replies(&list),
                    given => (
                        vec![Reply::MESSAGE_LOCAL_ERROR; count],
                        Err(UsageError::DecisionCount {
                            given,
                            expected: count,
                        }),
                    ),
                };
                (self.session.decide_each(list), expected)
            }
        };
        assert_eq!(result, expected, "the result of a batch answer");
        assert_eq!(
            self.session.pending_decisions(),
            0,
            "a batch answer left decisions pending"
        );
        replies
    }

    /// Answers `event` (one decision, or in LMTP after the data one per accepted recipient),
    /// checking the count against the model.
    fn decide_all(&mut self, event: &Event) {
        let data_end = matches!(event, Event::DataEnd { .. });
        let recipients = match (&self.lmtp, data_end) {
            (Some(m), true) => {
                let rcpts = m.tx.clone().unwrap_or_default();
                // RFC 2033 section 4.2: one reply per accepted RCPT of the transaction.
                assert_eq!(
                    self.session.pending_decisions(),
                    rcpts.len(),
                    "LMTP DataEnd pends {} decisions for the accepted recipients {rcpts:?}",
                    self.session.pending_decisions()
                );
                assert_eq!(self.session.recipients(), rcpts.len());
                Some(rcpts)
            }
            _ => None,
        };
        if let (Some(m), Event::MailFrom { .. }) = (&mut self.lmtp, event) {
            assert!(m.tx.is_none(), "MailFrom inside a transaction");
        }
        let mut replies = Vec::new();
        let mut index = 0;
        if let Some(rcpts) = &recipients {
            if let Some(batch) = self.policy.batch(event, rcpts) {
                replies = self.run_batch(batch, rcpts.len());
            }
        }
        while self.session.pending_decisions() > 0 {
            let left = self.session.pending_decisions();
            let (misuse, decision) = match &recipients {
                Some(rcpts) => {
                    let rcpt = rcpts.get(index).map_or("", String::as_str);
                    self.policy
                        .decide_recipient(event, index, rcpts.len(), rcpt)
                }
                None => self.policy.decide(event),
            };
            index += 1;
            if let Some(bad) = misuse {
                let expected = match &bad {
                    Decision::AcceptWith(r) | Decision::Reject(r) => {
                        UsageError::ReplyClass(r.code())
                    }
                    _ => UsageError::ChallengeOutsideAuth,
                };
                assert_eq!(self.session.decide(bad), Err(expected));
                // The core answered with the local error that fits instead: the recipient
                // (or command) is refused, and the next decision is due.
                assert_eq!(
                    self.session.pending_decisions(),
                    left - 1,
                    "misuse left pending"
                );
                replies.push(match event {
                    Event::DataEnd { .. } => Reply::MESSAGE_LOCAL_ERROR,
                    Event::Auth { .. } | Event::AuthResponse { .. } => Reply::AUTH_LOCAL_ERROR,
                    _ => Reply::LOCAL_ERROR,
                });
                continue;
            }
            let closing = matches!(&decision, Decision::Reject(r) if r.code() == 421);
            let accepted = matches!(decision, Decision::Accept | Decision::AcceptWith(_));
            replies.push(match &decision {
                Decision::AcceptWith(r) | Decision::Reject(r) => r.clone(),
                _ => message_ok(),
            });
            self.session
                .decide(decision)
                .expect("a decision of the right kind for a pending event");
            if closing {
                // A 421 closes the session: nothing more is due, nothing more is sent.
                assert_eq!(
                    self.session.pending_decisions(),
                    0,
                    "decisions still pending after a 421 closed the session ({event:?})"
                );
            } else if self.lmtp.is_some() {
                assert_eq!(
                    self.session.pending_decisions(),
                    left - 1,
                    "decide did not count down by one"
                );
            } else {
                assert!(
                    self.session.pending_decisions() < left,
                    "decide did not count down"
                );
            }
            if let Some(m) = &mut self.lmtp {
                match event {
                    Event::MailFrom { .. } if accepted => m.tx = Some(Vec::new()),
                    Event::RcptTo { to, .. } if accepted => {
                        let tx = m.tx.as_mut().expect("RcptTo outside a transaction");
                        tx.push(to.to_string());
                        assert_eq!(self.session.recipients(), tx.len());
                    }
                    _ => {}
                }
            }
        }
        if let (Some(m), true) = (&mut self.lmtp, data_end) {
            // Either way the transaction is over.
            m.tx = None;
            m.replies.push(replies);
            assert_eq!(
                self.session.recipients(),
                0,
                "a transaction after its DataEnd"
            );
        }
    }

    fn transmit(&mut self, bytes: Bytes) {
        // The session stops parsing once max_pending_output octets wait; one command (and
        // one decision) may add a reply or two beyond that.
        assert!(
            bytes.len() <= self.config.max_pending_output.saturating_add(4096),
            "{} octets of replies pending with max_pending_output {}",
            bytes.len(),
            self.config.max_pending_output
        );
        assert!(!self.session.is_closed(), "transmit after close");
        self.replies.transmit(&bytes);
        self.output.extend_from_slice(&bytes);
    }

    /// Whether the session is closed.
    pub fn closed(&self) -> bool {
        self.session.is_closed()
    }

    /// Runs one step, then the call order, checking the step's own promises. Reads and EOF
    /// wait (in order) while the session does not want to read, as they would in the socket.
    pub fn step(&mut self, step: &Step) {
        if self.closed() {
            return;
        }
        if matches!(step, Step::Input(_) | Step::Eof) {
            self.unread.push_back(step.clone());
        } else {
            self.exec(step);
        }
        while !self.closed() && (self.handoff || self.session.wants_read()) {
            let Some(next) = self.unread.pop_front() else {
                break;
            };
            self.exec(&next);
        }
    }

    fn exec(&mut self, step: &Step) {
        if self.closed() {
            return;
        }
        let before = (self.events.len(), self.output.len());
        match step {
            Step::Input(bytes) => {
                match &mut self.read_buf {
                    Some(buf) => {
                        // A small reserve: the buffer is reused in place when it can be and
                        // reallocated (the held octets copied) when it cannot.
                        buf.reserve(64);
                        buf.extend_from_slice(bytes);
                        self.session.handle_input_buf(buf);
                        assert!(buf.is_empty(), "handle_input_buf left input behind");
                    }
                    None => self.session.handle_input(bytes),
                }
                if self.handoff {
                    assert_eq!(
                        self.session.buffered(),
                        0,
                        "input kept during the TLS hand-off"
                    );
                }
                self.drive();
                // One line of input plus the last read; a SASL response line (after a 334) may
                // be as long as max_auth_line_length (RFC 4954 section 4).
                let line = if self.session.expects_secret() {
                    self.config
                        .max_line_length
                        .max(self.config.max_auth_line_length)
                } else {
                    self.config.max_line_length
                };
                let bound = line.saturating_add(bytes.len());
                let greeting =
                    self.session.poll_timeout().map(|t| t.kind) == Some(TimeoutKind::GreetingDelay);
                assert!(
                    self.session.buffered() <= bound
                        || (greeting && !crate::STRICT_GREETING_BUFFER),
                    "{} octets buffered, more than max_line_length {} + the last input {}",
                    self.session.buffered(),
                    self.config.max_line_length,
                    bytes.len()
                );
            }
            Step::Eof => {
                self.session.handle_eof();
                self.drive();
                assert!(self.closed(), "EOF did not close the session");
            }
            Step::Timeout => {
                let timer = self
                    .session
                    .poll_timeout()
                    .expect("an open session has a timer");
                self.session.handle_timeout(timer.kind);
                self.drive();
                if timer.kind != TimeoutKind::GreetingDelay {
                    assert!(self.closed(), "{:?} timeout did not close", timer.kind);
                }
            }
            Step::StaleTimeout(kind) => {
                let current = self.session.poll_timeout().map(|t| t.kind);
                self.session.handle_timeout(*kind);
                self.drive();
                if current != Some(*kind) {
                    assert_eq!(
                        before,
                        (self.events.len(), self.output.len()),
                        "a stale {kind:?} timer was not ignored"
                    );
                } else if *kind != TimeoutKind::GreetingDelay {
                    assert!(self.closed(), "{kind:?} timeout did not close");
                }
            }
            Step::TlsEstablished => {
                let result = self.session.handle_tls_established();
                if self.handoff {
                    assert_eq!(result, Ok(()));
                    assert!(self.session.tls_active());
                    self.handoff = false;
                } else {
                    assert_eq!(result, Err(UsageError::NotStartingTls));
                }
                self.drive();
                if result.is_err() {
                    assert_eq!(
                        before,
                        (self.events.len(), self.output.len()),
                        "a refused handle_tls_established had an effect"
                    );
                }
            }
            Step::DecideOutOfTurn => {
                assert_eq!(
                    self.session.decide(Decision::Accept),
                    Err(UsageError::NoPendingDecision)
                );
                self.drive();
                assert_eq!(
                    before,
                    (self.events.len(), self.output.len()),
                    "a refused decide had an effect"
                );
            }
        }
    }

    /// The normalised outcome so far.
    pub fn outcome(&self) -> Outcome {
        Outcome {
            events: normalise(&self.events),
            output: self.output.clone(),
        }
    }
}

/// Merges consecutive `DataChunk`s and zeroes `StartTls::discarded` (how many octets were
/// thrown away depends on how they were split into reads).
pub fn normalise(events: &[Event]) -> Vec<Event> {
    let mut out: Vec<Event> = Vec::new();
    for e in events {
        match (out.last_mut(), e) {
            (Some(Event::DataChunk(prev)), Event::DataChunk(next)) => {
                let mut joined = prev.to_vec();
                joined.extend_from_slice(next);
                *prev = Bytes::from(joined);
            }
            (_, Event::StartTls { .. }) => out.push(Event::StartTls { discarded: 0 }),
            _ => out.push(e.clone()),
        }
    }
    out
}

/// Runs `steps` on a new session, with every check.
pub fn run<P: Policy>(
    session: Session,
    config: &Arc<Config>,
    policy: P,
    steps: &[Step],
) -> Driver<P> {
    run_with(Driver::new(session, Arc::clone(config), policy), steps)
}

/// As [`run`], with every read handed over without a copy (`Session::handle_input_buf`)
/// through one reused read buffer.
pub fn run_zero_copy<P: Policy>(
    session: Session,
    config: &Arc<Config>,
    policy: P,
    steps: &[Step],
) -> Driver<P> {
    let mut d = Driver::new(session, Arc::clone(config), policy);
    d.read_buf = Some(bytes::BytesMut::new());
    run_with(d, steps)
}

fn run_with<P: Policy>(mut d: Driver<P>, steps: &[Step]) -> Driver<P> {
    for s in steps {
        d.step(s);
    }
    d
}

/// `steps` with consecutive inputs joined into one read.
pub fn merged(steps: &[Step]) -> Vec<Step> {
    let mut out: Vec<Step> = Vec::new();
    for s in steps {
        match (out.last_mut(), s) {
            (Some(Step::Input(prev)), Step::Input(next)) => prev.extend_from_slice(next),
            _ => out.push(s.clone()),
        }
    }
    out
}

/// `steps` with every input cut into reads of one octet.
pub fn byte_by_byte(steps: &[Step]) -> Vec<Step> {
    let mut out = Vec::new();
    for s in steps {
        match s {
            Step::Input(bytes) => out.extend(bytes.iter().map(|&b| Step::Input(vec![b]))),
            other => out.push(other.clone()),
        }
    }
    out
}

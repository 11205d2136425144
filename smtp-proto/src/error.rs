//! Errors for what the *caller* of the session can get wrong. Protocol errors made by the
//! client are never Rust errors: they become SMTP replies.

/// A method of [`Session`](crate::Session) was called when it makes no sense.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// [`decide`](crate::Session::decide) was called but no event is waiting for a decision.
    #[error("no event is waiting for a decision")]
    NoPendingDecision,
    /// `AcceptWith` needs a 2xx reply, `Reject` a 4xx or 5xx one.
    #[error("reply code {0} does not fit the decision (AcceptWith needs 2xx, Reject 4xx/5xx)")]
    ReplyClass(u16),
    /// [`Decision::Challenge`](crate::Decision::Challenge) answers only an AUTH event.
    #[error("a SASL challenge answers only an AUTH event")]
    ChallengeOutsideAuth,
    /// [`handle_tls_established`](crate::Session::handle_tls_established) was called without a
    /// STARTTLS being accepted first.
    #[error("no STARTTLS is waiting for a TLS handshake")]
    NotStartingTls,
    /// [`decide_each`](crate::Session::decide_each) got a list of decisions of another length
    /// than the decisions pending (one per accepted LMTP recipient).
    #[error("{given} decisions for {expected} pending")]
    DecisionCount {
        /// How many decisions were given.
        given: usize,
        /// How many were pending.
        expected: usize,
    },
}

//! Targets for the whole session: structured (configuration, reads, decisions, STARTTLS,
//! timeouts and EOF chosen by the fuzzer) and raw bytes mapped onto the SMTP alphabet.

use crate::driver::{
    byte_by_byte, default_decision, merged, reply, run, run_zero_copy, Driver, Policy, Step,
};
use arbitrary::{Arbitrary, Unstructured};
use smtp_proto::{
    BareLineEndings, Config, Decision, EarlyTalkers, Event, Protocol, Session, TimeoutKind,
    TlsPolicy,
};
use std::sync::Arc;
use std::time::Duration;

/// The configuration, chosen by the fuzzer; all zeros is [`Config::default`].
#[derive(Arbitrary, Debug, Default, Clone)]
pub struct FuzzConfig {
    /// 0 Disabled, 1 Optional, 2 Required.
    pub tls: u8,
    /// Accept bare CR/LF in DATA instead of rejecting the message.
    pub accept_bare: bool,
    /// Let early talkers through instead of refusing them.
    pub allow_early_talkers: bool,
    /// Hold the greeting back (a greeting-delay timer runs first).
    pub greeting_delay: bool,
    /// Check HELO/EHLO names strictly.
    pub strict_hello: bool,
    /// Each bit turns one extension off.
    pub extensions_off: u16,
    /// 0: 512; otherwise this modulo 1100 (0 included: every line is too long).
    pub max_line_length: u16,
    /// 0: 25 MiB; otherwise this minus one (0: no limit).
    pub max_message_size: u16,
    /// 0: 100; otherwise this minus one.
    pub max_recipients: u8,
    /// 0: 20; otherwise this minus one.
    pub max_errors: u8,
    /// 0: 64 KiB; otherwise this.
    pub max_pending_output: u16,
    /// LMTP instead of SMTP.
    pub lmtp: bool,
    /// Each bit offers one SASL mechanism: PLAIN, LOGIN, XOAUTH2 (handled by the application).
    pub auth_mechanisms: u8,
    /// Offer AUTH without TLS.
    pub allow_insecure_auth: bool,
    /// MAIL needs AUTH first.
    pub require_auth: bool,
    /// 0: 12288; otherwise this.
    pub max_auth_line_length: u16,
}

impl FuzzConfig {
    /// The [`Config`] this stands for.
    pub fn config(&self) -> Config {
        let mut c = Config::new("mx.example.com");
        c.tls = match self.tls % 3 {
            0 => TlsPolicy::Disabled,
            1 => TlsPolicy::Optional,
            _ => TlsPolicy::Required,
        };
        if self.accept_bare {
            c.bare_line_endings = BareLineEndings::Accept;
        }
        if self.allow_early_talkers {
            c.early_talkers = EarlyTalkers::Allow;
        }
        if self.greeting_delay {
            c.timeouts.greeting_delay = Duration::from_secs(5);
        }
        c.strict_hello = self.strict_hello;
        let off = |bit: u16| self.extensions_off & (1 << bit) != 0;
        let e = &mut c.extensions;
        e.pipelining = !off(0);
        e.eight_bit_mime = !off(1);
        e.enhanced_status_codes = !off(2);
        e.smtputf8 = !off(3);
        e.chunking = !off(4);
        e.binary_mime = !off(5);
        e.dsn = !off(6);
        e.requiretls = !off(7);
        e.limits = !off(8);
        if self.max_line_length != 0 {
            c.max_line_length = usize::from(self.max_line_length % 1100);
        }
        if self.max_message_size != 0 {
            c.max_message_size = u64::from(self.max_message_size - 1);
        }
        if self.max_recipients != 0 {
            c.max_recipients = usize::from(self.max_recipients - 1);
        }
        if self.max_errors != 0 {
            c.max_errors = usize::from(self.max_errors - 1);
        }
        if self.max_pending_output != 0 {
            c.max_pending_output = usize::from(self.max_pending_output);
        }
        if self.lmtp {
            c.protocol = Protocol::Lmtp;
        }
        for (bit, name) in ["PLAIN", "LOGIN", "XOAUTH2"].into_iter().enumerate() {
            if self.auth_mechanisms & (1 << bit) != 0 {
                c.auth_mechanisms.push(name.into());
            }
        }
        c.allow_insecure_auth = self.allow_insecure_auth;
        c.require_auth = self.require_auth;
        if self.max_auth_line_length != 0 {
            c.max_auth_line_length = usize::from(self.max_auth_line_length);
        }
        c
    }
}

/// How the session starts.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Start {
    /// `Session::new`.
    Plain,
    /// `Session::new_implicit_tls`.
    ImplicitTls,
    /// `Session::refuse` with a 554: only QUIT is accepted.
    Refuse554,
    /// `Session::refuse` with a 421: closes at once.
    Refuse421,
}

/// One step of the structured session target.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Op {
    /// The next `n` octets of the script, as one read.
    Read(u16),
    /// One of [`CANNED`], as one read.
    Canned(u8),
    /// The client closes its side.
    Eof,
    /// The current timer runs out.
    Timeout,
    /// A timer fires that may not be the current one.
    StaleTimeout(u8),
    /// The adapter reports a TLS handshake.
    TlsEstablished,
    /// The adapter calls `decide` with nothing pending.
    DecideOutOfTurn,
}

/// One answer to an event that needs a decision.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct Choice {
    /// 0 accept, 1 accept with a custom 2xx, 2 reject, 3 a SASL challenge (for AUTH; accept
    /// otherwise).
    kind: u8,
    /// Which reply of [`POSITIVE`] or [`NEGATIVE`].
    reply: u8,
    /// Try a decision of the wrong class first (it must be refused without effect).
    misuse_first: bool,
}

/// The control part of a session case: everything but the client's bytes.
#[derive(Arbitrary, Debug, Default)]
pub struct Control {
    /// The configuration.
    pub config: FuzzConfig,
    /// How the session starts.
    pub start: Option<Start>,
    /// Leave the connection open at the end instead of sending EOF.
    pub keep_open: bool,
    /// What happens, in order; the script's unread rest is one last read.
    pub ops: Vec<Op>,
    /// The decisions, in order; after them, [`default_decision`].
    pub decisions: Vec<Choice>,
}

/// Valid client commands and body pieces, for reaching deep states without guessing them.
pub const CANNED: &[&[u8]] = &[
    b"EHLO client.example\r\n",
    b"HELO client.example\r\n",
    b"EHLO [192.0.2.1]\r\n",
    b"MAIL FROM:<a@client.example>\r\n",
    b"MAIL FROM:<>\r\n",
    b"MAIL FROM:<a@client.example> SIZE=100 BODY=8BITMIME\r\n",
    b"MAIL FROM:<a@client.example> BODY=BINARYMIME\r\n",
    "MAIL FROM:<ü@client.example> SMTPUTF8\r\n".as_bytes(),
    b"MAIL FROM:<a@client.example> RET=HDRS ENVID=x+2By REQUIRETLS AUTH=<>\r\n",
    b"MAIL FROM:<a@client.example> SIZE=99999999999\r\n",
    b"RCPT TO:<b@mx.example.com>\r\n",
    b"RCPT TO:<postmaster>\r\n",
    b"RCPT TO:<reject@mx.example.com>\r\n",
    b"RCPT TO:<defer@mx.example.com>\r\n",
    b"RCPT TO:<c@[IPv6:2001:db8::1]> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;c@d\r\n",
    "RCPT TO:<ü@mx.example.com>\r\n".as_bytes(),
    b"DATA\r\n",
    b"Subject: x\r\n\r\nbody\r\n",
    b"..dot\r\n",
    b".\r\n",
    b"\r\n.\r\n",
    b"bare\nLF\r\n",
    b"bare\rCR\r\n",
    b"\n.\n",
    b"BDAT 5\r\n",
    b"BDAT 5 LAST\r\n",
    b"BDAT 0 LAST\r\n",
    b"hello",
    b"BDAT 18446744073709551615\r\n",
    b"BDAT x\r\n",
    b"RSET\r\n",
    b"NOOP\r\n",
    b"QUIT\r\n",
    b"VRFY x\r\n",
    b"EXPN x\r\n",
    b"HELP\r\n",
    b"STARTTLS\r\n",
    b"STARTTLS\r\nMAIL FROM:<injected@evil.example>\r\n",
    b"AUTH PLAIN\r\n",
    b"AUTH PLAIN AGJvYgBwYXNzd29yZA==\r\n",
    b"AUTH LOGIN\r\nYm9i\r\ncGFzc3dvcmQ=\r\n",
    b"AUTH LOGIN Ym9i\r\n",
    b"AUTH XOAUTH2 dXNlcj1ib2IBYXV0aD1CZWFyZXIgdG9rZW4BAQ==\r\n",
    b"AUTH XOAUTH2\r\n",
    b"*\r\n",
    b"=\r\n",
    b"bm90IGJhc2U2NA\r\n",
    b"LHLO client.example\r\n",
    b"GET / HTTP/1.1\r\n",
    b"FOO\r\n",
    b"\r\n",
    b"\n",
    b"\r",
    b"NOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\nHELP\r\nHELP\r\nHELP\r\n",
    b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
];

/// Custom replies for accepting.
pub const POSITIVE: &[&str] = &[
    "250 2.0.0 Fine",
    "250 first line\nsecond line",
    "251 2.1.5 User not local; will forward",
    "252 2.1.5 Cannot verify",
    "250 OK",
];

/// Replies for rejecting; a 421 closes the session.
pub const NEGATIVE: &[&str] = &[
    "550 5.1.1 No such user",
    "451 4.3.0 Try again later",
    "421 4.3.2 Shutting down",
    "554 5.7.1 Rejected\nfor policy reasons\nsee postmaster",
    "452 4.5.3 Too many recipients",
    "553 Mailbox name not allowed",
];

/// Decides by the fuzzer's choices, then by [`default_decision`].
#[derive(Clone, Default)]
pub struct Choices {
    pub(crate) choices: Vec<Choice>,
    pub(crate) next: usize,
}

impl Policy for Choices {
    fn decide(&mut self, event: &Event) -> (Option<Decision>, Decision) {
        let Some(c) = self.choices.get(self.next).copied() else {
            return (None, default_decision(event));
        };
        self.next += 1;
        let positive = || reply(POSITIVE[usize::from(c.reply) % POSITIVE.len()]);
        let negative = || reply(NEGATIVE[usize::from(c.reply) % NEGATIVE.len()]);
        let auth = matches!(event, Event::Auth { .. } | Event::AuthResponse { .. });
        let decision = match c.kind % 4 {
            0 => Decision::Accept,
            1 => Decision::AcceptWith(positive()),
            2 => Decision::Reject(negative()),
            _ if auth => Decision::Challenge(b"challenge".to_vec()),
            _ => Decision::Accept,
        };
        let misuse = c.misuse_first.then(|| match c.kind % 3 {
            0 => Decision::AcceptWith(negative()),
            1 => Decision::Reject(positive()),
            _ if auth => Decision::Reject(positive()),
            _ => Decision::Challenge(Vec::new()),
        });
        (misuse, decision)
    }
}

fn new_session(start: Start, config: &Arc<Config>) -> Session {
    let config = Arc::clone(config);
    match start {
        Start::Plain => Session::new(config),
        Start::ImplicitTls => Session::new_implicit_tls(config),
        Start::Refuse554 => Session::refuse(config, reply("554 5.7.1 No SMTP service here")),
        Start::Refuse421 => Session::refuse(config, reply("421 4.3.2 Not now")),
    }
}

/// Runs `steps` four ways (as given, as given without copying the reads, with consecutive
/// reads joined, and byte by byte when short) with every check in [`crate::driver`], and
/// requires the same outcome from all of them.
/// Returns the run as given.
pub fn run_all_ways<P: Policy + Clone>(
    start: Start,
    config: &Arc<Config>,
    policy: P,
    steps: &[Step],
) -> Driver<P> {
    let as_given = run(new_session(start, config), config, policy.clone(), steps);
    let outcome = as_given.outcome();
    let zero_copy = run_zero_copy(new_session(start, config), config, policy.clone(), steps);
    assert_eq!(
        zero_copy.outcome(),
        outcome,
        "handing the reads over without a copy changed the session"
    );
    let joined = run(
        new_session(start, config),
        config,
        policy.clone(),
        &merged(steps),
    );
    assert_eq!(
        joined.outcome(),
        outcome,
        "joining the reads changed the session"
    );
    let total: usize = steps
        .iter()
        .map(|s| match s {
            Step::Input(b) => b.len(),
            _ => 0,
        })
        .sum();
    if total <= 512 {
        let split = run(
            new_session(start, config),
            config,
            policy,
            &byte_by_byte(steps),
        );
        assert_eq!(
            split.outcome(),
            outcome,
            "reading byte by byte changed the session"
        );
    }
    if crate::STRICT_CALL_ORDER {
        assert!(
            !as_given.doc_order_stalled && !joined.doc_order_stalled,
            "after poll_event and poll_transmit ran dry the session wanted to read, yet it had \
             more replies to give without new input"
        );
    }
    as_given
}

/// The steps of `ops` over `script`, canned reads from `canned`; the script's unread rest is
/// one last read, then EOF unless `keep_open`.
pub(crate) fn steps(ops: &[Op], mut script: &[u8], canned: &[&[u8]], keep_open: bool) -> Vec<Step> {
    let mut steps = Vec::new();
    for op in ops {
        steps.push(match *op {
            Op::Read(n) => {
                let (read, rest) = script.split_at(usize::from(n).min(script.len()));
                script = rest;
                Step::Input(read.to_vec())
            }
            Op::Canned(i) => Step::Input(canned[usize::from(i) % canned.len()].to_vec()),
            Op::Eof => Step::Eof,
            Op::Timeout => Step::Timeout,
            Op::StaleTimeout(k) => Step::StaleTimeout(match k % 4 {
                0 => TimeoutKind::GreetingDelay,
                1 => TimeoutKind::Command,
                2 => TimeoutKind::DataBlock,
                _ => TimeoutKind::TlsHandshake,
            }),
            Op::TlsEstablished => Step::TlsEstablished,
            Op::DecideOutOfTurn => Step::DecideOutOfTurn,
        });
    }
    if !script.is_empty() {
        steps.push(Step::Input(script.to_vec()));
    }
    if !keep_open {
        steps.push(Step::Eof);
    }
    steps
}

/// The structured session target. Input: a little-endian `u16` length, that many octets of
/// [`Control`] (decoded with `arbitrary`), then the script: the client's bytes.
pub fn session(data: &[u8]) {
    let (control, script) = crate::split_control(data);
    let Ok(control) = Control::arbitrary_take_rest(Unstructured::new(control)) else {
        return;
    };
    let config = Arc::new(control.config.config());
    let steps = steps(&control.ops, script, CANNED, control.keep_open);
    let policy = Choices {
        choices: control.decisions,
        next: 0,
    };
    run_all_ways(
        control.start.unwrap_or(Start::Plain),
        &config,
        policy,
        &steps,
    );
}

/// Single-character tokens, for octets 0x80 to 0xff (the rest repeat [`WORDS`]).
const CHARS: &[&[u8]] = &[
    b"0",
    b"1",
    b"2",
    b"3",
    b"4",
    b"5",
    b"6",
    b"7",
    b"8",
    b"9",
    b" ",
    b"\r",
    b"\n",
    b"\t",
    b"<",
    b">",
    b":",
    b".",
    b",",
    b";",
    b"\"",
    b"=",
    b"+",
    b"-",
    b"!",
    b"#",
    b"$",
    b"%",
    b"&",
    b"'",
    b"(",
    b")",
    b"*",
    b"/",
    b"?",
    b"\0",
    "ü".as_bytes(),
    b"\xff",
    b"\x80",
];

/// SMTP words, for octets 0x00 to 0x3f.
const WORDS: &[&[u8]] = &[
    b"EHLO ",
    b"HELO ",
    b"MAIL FROM:",
    b"RCPT TO:",
    b"DATA",
    b"BDAT ",
    b"RSET",
    b"NOOP",
    b"QUIT",
    b"VRFY ",
    b"EXPN ",
    b"HELP",
    b"STARTTLS",
    b"AUTH ",
    b"GET / HTTP/1.1",
    b" LAST",
    b"<>",
    b"client.example",
    b"mx.example.com",
    b"[192.0.2.1]",
    b"[IPv6:2001:db8::1]",
    b"postmaster",
    b"user",
    b" SIZE=",
    b" BODY=8BITMIME",
    b" BODY=BINARYMIME",
    b" SMTPUTF8",
    b" RET=FULL",
    b" ENVID=",
    b" NOTIFY=SUCCESS,FAILURE",
    b" ORCPT=rfc822;",
    b" AUTH=<>",
    b" REQUIRETLS",
    b"+2B",
    b"\r\n",
    b"\r\n.\r\n",
    b".\r\n",
    b"..",
    b"\r\n\r\n",
    b"reject",
    b"defer",
    b"100",
    b"65536",
    b"18446744073709551616",
    b"@",
    b"\\",
    b"[",
    b"]",
];

/// The octet that cuts the script into another read.
const CUT: u8 = 0x3f;

/// Maps fuzzer octets onto the SMTP alphabet: 0x00-0x3e are words, 0x3f cuts a read,
/// 0x40-0x7f stand for themselves (letters and `@[\]^_` and friends), 0x80-0xff are
/// punctuation, digits, CR, LF and odd octets.
pub fn into_alphabet(data: &[u8]) -> Vec<Vec<u8>> {
    let mut reads = vec![Vec::new()];
    for &b in data {
        let read = reads.last_mut().expect("at least one read");
        match b {
            CUT => reads.push(Vec::new()),
            0x00..=0x3e => read.extend_from_slice(WORDS[usize::from(b) % WORDS.len()]),
            0x40..=0x7f => read.push(b),
            _ => {
                let i = usize::from(b - 0x80);
                match CHARS.get(i) {
                    Some(c) => read.extend_from_slice(c),
                    None => read.extend_from_slice(WORDS[i % WORDS.len()]),
                }
            }
        }
    }
    reads
}

/// The inverse of [`into_alphabet`] for text made of single characters: how a transcript
/// becomes a seed. `None` if some octet has no single-character token.
pub fn from_alphabet(reads: &[&[u8]]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for (i, read) in reads.iter().enumerate() {
        if i > 0 {
            out.push(CUT);
        }
        let mut rest = *read;
        while let Some(&c) = rest.first() {
            if (0x40..=0x7f).contains(&c) {
                out.push(c);
                rest = &rest[1..];
                continue;
            }
            let (j, token) = CHARS
                .iter()
                .enumerate()
                .filter(|(_, t)| rest.starts_with(t))
                .max_by_key(|(_, t)| t.len())?;
            out.push(0x80 + j as u8);
            rest = &rest[token.len()..];
        }
    }
    Some(out)
}

/// The session fed octets mapped onto the SMTP alphabet (after stalwart's `into_alphabet`),
/// with STARTTLS and timers enabled and the default policy, then EOF.
pub fn session_alphabet(data: &[u8]) {
    let mut config = Config::new("mx.example.com");
    config.tls = TlsPolicy::Optional;
    config.max_message_size = 1000;
    config.max_errors = 100;
    config.max_line_length = 128;
    config.max_recipients = 3;
    config.auth_mechanisms = vec!["PLAIN".into(), "LOGIN".into()];
    config.allow_insecure_auth = true;
    let config = Arc::new(config);
    let mut steps: Vec<Step> = Vec::new();
    for read in into_alphabet(data) {
        // A STARTTLS read is followed by the handshake, as an adapter would do.
        let tls = read.windows(8).any(|w| w.eq_ignore_ascii_case(b"STARTTLS"));
        steps.push(Step::Input(read));
        if tls {
            steps.push(Step::TlsEstablished);
        }
    }
    steps.push(Step::Eof);
    run_all_ways(Start::Plain, &config, crate::driver::DefaultPolicy, &steps);
}

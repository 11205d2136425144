//! LMTP (RFC 2033) per-recipient replies against a model: after the data, one decision and one
//! reply per accepted RCPT of the transaction, in RCPT order, each with the chosen code.

use crate::driver::{message_ok, reply, Batch, Policy};
use crate::session::{run_all_ways, steps, Choice, Choices, FuzzConfig, Op, Start};
use arbitrary::{Arbitrary, Unstructured};
use bytes::BytesMut;
use smtp_proto::{Decision, Event, Protocol, Reply};
use std::sync::Arc;

/// The control part of a `session_lmtp` input: everything but the client's bytes.
#[derive(Arbitrary, Debug, Default)]
pub struct LmtpControl {
    /// The configuration; LMTP whatever `lmtp` says.
    pub config: FuzzConfig,
    /// How the session starts.
    pub start: Option<Start>,
    /// Leave the connection open at the end instead of sending EOF.
    pub keep_open: bool,
    /// What happens, in order (canned reads from [`LMTP_CANNED`]); the script's unread rest is
    /// one last read.
    pub ops: Vec<Op>,
    /// The decisions for LHLO, MAIL, RCPT and AUTH, in order; then the default.
    pub decisions: Vec<Choice>,
    /// The per-recipient decisions after the data, in order; then by the recipient's name
    /// (`reject` 550, `defer` 451, else accept).
    pub verdicts: Vec<Verdict>,
    /// How each end of data is answered: 0 one by one, 1 `decide_all`, 2 `decide_each` (bits
    /// 2-3: with one decision per recipient, or one more, or one fewer), 3 `fail`; then one by
    /// one.
    pub modes: Vec<u8>,
}

/// One per-recipient decision after the data.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct Verdict {
    /// 0 accept, 1 accept with a tagged 2xx, 2 reject with a tagged 4xx/5xx (a 421 among them).
    kind: u8,
    /// Which code of [`ACCEPT_CODES`] or [`REJECT_CODES`]; the high bit makes it multi-line.
    code: u8,
    /// Try a decision of the wrong class first (it must be refused without effect).
    misuse_first: bool,
}

/// Codes for accepting a recipient's copy.
const ACCEPT_CODES: &[u16] = &[250, 251, 252];
/// Codes for refusing it; a 421 closes the session (RFC 5321 3.8).
const REJECT_CODES: &[u16] = &[450, 451, 452, 550, 552, 554, 421];

/// The marker of the replies the per-recipient decisions ask for (no reply of the core echoes
/// client input, so nothing else can carry it).
const TAG: &str = "lmtp-verdict";

/// LMTP client commands and body pieces (a whole transaction among them).
pub const LMTP_CANNED: &[&[u8]] = &[
    b"LHLO client.example\r\n",
    b"MAIL FROM:<a@client.example>\r\n",
    b"MAIL FROM:<>\r\n",
    b"MAIL FROM:<a@client.example> BODY=BINARYMIME\r\n",
    b"RCPT TO:<b@mx.example.com>\r\n",
    b"RCPT TO:<c@mx.example.com>\r\n",
    b"RCPT TO:<d@mx.example.com>\r\n",
    b"RCPT TO:<reject@mx.example.com>\r\n",
    b"RCPT TO:<defer@mx.example.com>\r\n",
    b"RCPT TO:<postmaster>\r\n",
    b"DATA\r\n",
    b"Subject: x\r\n\r\nbody\r\n",
    b".\r\n",
    b"BDAT 5\r\nhello",
    b"BDAT 5 LAST\r\nhello",
    b"BDAT 0 LAST\r\n",
    b"BDAT 99999999 LAST\r\n",
    b"RSET\r\n",
    b"NOOP\r\n",
    b"QUIT\r\n",
    b"STARTTLS\r\n",
    b"EHLO client.example\r\n",
    b"AUTH PLAIN AGJvYgBwYXNzd29yZA==\r\n",
    b"MAIL FROM:<a@client.example>\r\nRCPT TO:<b@mx.example.com>\r\nRCPT TO:<reject@mx.example.com>\r\n\
RCPT TO:<c@mx.example.com>\r\nDATA\r\nSubject: x\r\n\r\nbody\r\n.\r\n",
    b"MAIL FROM:<a@client.example>\r\nRCPT TO:<b@mx.example.com>\r\nRCPT TO:<c@mx.example.com>\r\n\
BDAT 4 LAST\r\nbody",
];

/// The decisions of a `session_lmtp` input: [`Choices`] for everything but the data's end, the
/// verdicts for each recipient after it.
#[derive(Clone, Default)]
struct LmtpChoices {
    choices: Choices,
    verdicts: Vec<Verdict>,
    next: usize,
    modes: Vec<u8>,
    next_mode: usize,
    /// `DataEnd`s so far (a tagged reply names the transaction and the recipient).
    data_ends: usize,
}

impl Policy for LmtpChoices {
    fn decide(&mut self, event: &Event) -> (Option<Decision>, Decision) {
        self.choices.decide(event)
    }

    fn decide_recipient(
        &mut self,
        _event: &Event,
        index: usize,
        _count: usize,
        rcpt: &str,
    ) -> (Option<Decision>, Decision) {
        if index == 0 {
            self.data_ends += 1;
        }
        self.verdict(&index.to_string(), rcpt)
    }

    fn batch(&mut self, _event: &Event, rcpts: &[String]) -> Option<Batch> {
        let mode = *self.modes.get(self.next_mode)?;
        self.next_mode += 1;
        if mode % 4 == 0 {
            return None;
        }
        self.data_ends += 1;
        // A misuse stands in for the decision: one that does not fit.
        let pick = |this: &mut Self, label: &str, rcpt: &str| {
            let (misuse, decision) = this.verdict(label, rcpt);
            misuse.unwrap_or(decision)
        };
        let first = rcpts.first().map_or("", String::as_str);
        Some(match mode % 4 {
            1 => Batch::All(pick(self, "all", first)),
            2 => {
                let n = match (mode >> 2) % 4 {
                    0 | 1 => rcpts.len(),
                    2 => rcpts.len() + 1,
                    _ => rcpts.len().saturating_sub(1),
                };
                let list = (0..n)
                    .map(|i| {
                        let rcpt = rcpts.get(i).map_or("", String::as_str);
                        pick(self, &i.to_string(), rcpt)
                    })
                    .collect();
                Batch::Each(list)
            }
            _ => Batch::Fail,
        })
    }
}

impl LmtpChoices {
    /// The next verdict (or one by the recipient's name), its replies tagged with the end of
    /// data and `label`, and a misuse to try first.
    fn verdict(&mut self, label: &str, rcpt: &str) -> (Option<Decision>, Decision) {
        let tagged = |code: u16, multi: bool| {
            let class = code / 100;
            let more = if multi { "\nsecond line" } else { "" };
            reply(&format!(
                "{code} {class}.0.0 {TAG} {}.{label}{more}",
                self.data_ends
            ))
        };
        let Some(v) = self.verdicts.get(self.next).copied() else {
            // By name, like the default policy (`driver::default_decision`), but tagged.
            let decision = if rcpt.contains("reject") {
                Decision::Reject(tagged(550, false))
            } else if rcpt.contains("defer") {
                Decision::Reject(tagged(451, false))
            } else {
                Decision::Accept
            };
            return (None, decision);
        };
        self.next += 1;
        let multi = v.code & 0x80 != 0;
        let code = usize::from(v.code & 0x7f);
        let ok = tagged(ACCEPT_CODES[code % ACCEPT_CODES.len()], multi);
        let fail = tagged(REJECT_CODES[code % REJECT_CODES.len()], multi);
        let decision = match v.kind % 3 {
            0 => Decision::Accept,
            1 => Decision::AcceptWith(ok.clone()),
            _ => Decision::Reject(fail.clone()),
        };
        let misuse = v.misuse_first.then(|| match v.kind % 4 {
            0 => Decision::AcceptWith(fail),
            1 => Decision::Reject(ok),
            _ => Decision::Challenge(Vec::new()),
        });
        (misuse, decision)
    }
}

/// Splits reply bytes into whole replies (multi-line ones together).
fn replies(output: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut at = 0;
    while let Some(i) = output[at..].windows(2).position(|w| w == b"\r\n") {
        let line = &output[at..at + i];
        at += i + 2;
        if line.get(3) != Some(&b'-') {
            out.push(&output[start..at]);
            start = at;
        }
    }
    out
}

fn encoded(r: &Reply, enhanced: bool) -> Vec<u8> {
    let mut out = BytesMut::new();
    r.encode(&mut out, enhanced);
    out.to_vec()
}

/// The replies after each end of data, in the output: exactly the decided ones (one per
/// accepted recipient, or up to a 421), in order, together, with the chosen codes. They are
/// told from the others by their text: tagged, the core's `Message accepted`, or its local
/// error for the end of data, which nothing else sends.
fn check_replies(output: &[u8], decided: &[Vec<Reply>], enhanced: bool) {
    let all = replies(output);
    let ok = encoded(&message_ok(), enhanced);
    let failed = encoded(&Reply::MESSAGE_LOCAL_ERROR, enhanced);
    let found: Vec<usize> = (0..all.len())
        .filter(|&i| {
            all[i] == &ok[..]
                || all[i] == &failed[..]
                || all[i].windows(TAG.len()).any(|w| w == TAG.as_bytes())
        })
        .collect();
    let expected: Vec<&Reply> = decided.iter().flatten().collect();
    assert_eq!(
        found.len(),
        expected.len(),
        "{} replies after the data for {} decisions: {:?}",
        found.len(),
        expected.len(),
        String::from_utf8_lossy(output)
    );
    let mut k = 0;
    for block in decided {
        for (i, r) in block.iter().enumerate() {
            let got = all[found[k]];
            assert_eq!(
                got,
                &encoded(r, enhanced)[..],
                "reply {i} after the data is not the one decided"
            );
            assert_eq!(got[..3], *r.code().to_string().as_bytes());
            if i > 0 {
                assert_eq!(
                    found[k],
                    found[k - 1] + 1,
                    "another reply among the replies after the data"
                );
            }
            k += 1;
        }
    }
}

/// The `session_lmtp` target: the structured session target in LMTP mode, with a model of the
/// accepted recipients (in the driver) and per-recipient decisions after the data. Input: a
/// little-endian `u16` length, that many octets of [`LmtpControl`], then the client's bytes.
pub fn session_lmtp(data: &[u8]) {
    let (control, script) = crate::split_control(data);
    let Ok(control) = LmtpControl::arbitrary_take_rest(Unstructured::new(control)) else {
        return;
    };
    let mut config = control.config.config();
    config.protocol = Protocol::Lmtp;
    let enhanced = config.extensions.enhanced_status_codes;
    let config = Arc::new(config);
    let steps = steps(&control.ops, script, LMTP_CANNED, control.keep_open);
    let policy = LmtpChoices {
        choices: Choices {
            choices: control.decisions,
            next: 0,
        },
        verdicts: control.verdicts,
        modes: control.modes,
        ..LmtpChoices::default()
    };
    let d = run_all_ways(
        control.start.unwrap_or(Start::Plain),
        &config,
        policy,
        &steps,
    );
    let model = d.lmtp.as_ref().expect("an LMTP session has a model");
    check_replies(&d.outcome().output, &model.replies, enhanced);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::run;

    /// The harness itself: RFC 2033 section 4.2's example reaches the end of data with two
    /// recipients, and the model records their two replies.
    #[test]
    fn the_model_sees_the_replies_after_the_data() {
        let mut config = smtp_proto::Config::new("mx.example.com");
        config.protocol = Protocol::Lmtp;
        let config = Arc::new(config);
        let policy = LmtpChoices::default();
        let script = b"LHLO foo.edu\r\nMAIL FROM:<chris@bar.com>\r\nRCPT TO:<pat@foo.edu>\r\n\
RCPT TO:<reject@foo.edu>\r\nRCPT TO:<green@foo.edu>\r\nDATA\r\nBlah\r\n.\r\nQUIT\r\n";
        let steps = steps(&[], script, LMTP_CANNED, false);
        let d = run(
            smtp_proto::Session::new(Arc::clone(&config)),
            &config,
            policy,
            &steps,
        );
        let model = d.lmtp.as_ref().expect("a model");
        assert_eq!(model.replies, [vec![message_ok(), message_ok()]]);
        check_replies(&d.outcome().output, &model.replies, true);
    }
}

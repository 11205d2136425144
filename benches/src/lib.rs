//! Shared workloads for the benchmarks: the same bytes go to our core and to the peers; and
//! the end-to-end parts ([`load`], the client of `smtp-load`; [`floor`], the floor sink;
//! [`procfs`], CPU time and memory of a server process).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod floor;
pub mod load;
pub mod procfs;

use bytes::BytesMut;
use smtp_proto::{Config, Decision, Event, Session};
use std::sync::Arc;

/// The multipart message of the seed benchmark's workload (about 1.6 KB): text/plain and
/// text/html alternatives, a UTF-8-named .txt attachment and a JSON attachment.
pub const SEED_MESSAGE: &str = "From: Sender <sender@example.com>\r\n\
To: Recipient <recipient@example.com>\r\n\
Subject: Benchmark message\r\n\
Date: Wed, 25 Nov 2026 12:00:00 +0000\r\n\
Message-ID: <bench-1@example.com>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"outer-boundary\"\r\n\
\r\n\
--outer-boundary\r\n\
Content-Type: multipart/alternative; boundary=\"inner-boundary\"\r\n\
\r\n\
--inner-boundary\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
Hello,\r\n\
This is the plain text part of the benchmark message. Caf=C3=A9.\r\n\
It goes on for a few lines, as the text of a notification or a newsletter\r\n\
would, so that the body is not trivially short and the parser has lines to\r\n\
walk through before the next boundary comes along.\r\n\
..A line that starts with a dot.\r\n\
\r\n\
--inner-boundary\r\n\
Content-Type: text/html; charset=utf-8\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
<html><body><p>Hello,</p><p>This is the <b>HTML</b> part. Caf=C3=A9.</p></body></html>\r\n\
\r\n\
--inner-boundary--\r\n\
\r\n\
--outer-boundary\r\n\
Content-Type: text/plain; charset=utf-8; name*=utf-8''r%C3%A9sum%C3%A9.txt\r\n\
Content-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.txt\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
VGhpcyBpcyBhIHRleHQgYXR0YWNobWVudCB3aXRoIGEgVVRGLTggbmFtZS4gSXQgaGFzIHNldmVy\r\n\
YWwgbGluZXMgb2YgY29udGVudCB0byBtYWtlIGl0IHJlYWxpc3RpYy4K\r\n\
\r\n\
--outer-boundary\r\n\
Content-Type: application/json\r\n\
Content-Disposition: attachment; filename=\"data.json\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
eyJpZCI6IDQyLCAibmFtZSI6ICJiZW5jaG1hcmsiLCAidGFncyI6IFsic210cCIsICJydXN0Il0s\r\n\
ICJuZXN0ZWQiOiB7ImEiOiAxLCAiYiI6IFt0cnVlLCBmYWxzZSwgbnVsbF19fQo=\r\n\
\r\n\
--outer-boundary--\r\n";

/// The seed benchmark's client side: HELO, MAIL, RCPT, an invalid RCPT (501), DATA, the
/// message, QUIT.
pub fn seed_session_input() -> Vec<u8> {
    let mut input = b"HELO host.example.com\r\nMAIL FROM:<sender@example.com>\r\n\
RCPT TO:<recipient@example.com>\r\nRCPT TO:\r\nDATA\r\n"
        .to_vec();
    input.extend_from_slice(SEED_MESSAGE.as_bytes());
    input.extend_from_slice(b".\r\nQUIT\r\n");
    input
}

/// Runs a whole session through the core, the way an adapter does, with the client's bytes
/// arriving in `reads` pieces (each copied into the session, [`Session::handle_input`]).
/// Returns (reply octets, body octets) so that nothing is optimised away.
pub fn run_session(config: &Arc<Config>, reads: &[&[u8]]) -> (usize, usize) {
    let mut reads = reads.iter();
    drive(config, |session| match reads.next() {
        Some(r) => session.handle_input(r),
        None => session.handle_eof(),
    })
}

/// [`run_session`] with each read already in a `BytesMut`, as a socket read (tokio's
/// `read_buf`) leaves it, handed over without a copy ([`Session::handle_input_buf`]).
pub fn run_session_buf(config: &Arc<Config>, reads: Vec<BytesMut>) -> (usize, usize) {
    let mut reads = reads.into_iter();
    drive(config, |session| match reads.next() {
        Some(mut r) => session.handle_input_buf(&mut r),
        None => session.handle_eof(),
    })
}

/// `input` cut into reads of `size` octets, each in a `BytesMut` of its own (what a
/// socket read would have filled), for [`run_session_buf`].
pub fn reads_buf(input: &[u8], size: usize) -> Vec<BytesMut> {
    input.chunks(size).map(BytesMut::from).collect()
}

/// The call order of the core (events, replies, read), accepting everything; `read` feeds
/// the next input or the end of it.
fn drive(config: &Arc<Config>, mut read: impl FnMut(&mut Session)) -> (usize, usize) {
    let mut session = Session::new(Arc::clone(config));
    let (mut out, mut body) = (0, 0);
    loop {
        while let Some(event) = session.poll_event() {
            match event {
                Event::DataChunk(b) => body += b.len(),
                e if e.needs_decision() => session.decide(Decision::Accept).expect("pending"),
                _ => {}
            }
        }
        while let Some(b) = session.poll_transmit() {
            out += b.len();
        }
        if session.is_closed() {
            return (out, body);
        }
        if session.wants_read() {
            read(&mut session);
        }
    }
}

/// `n` octets of message body made of `line_len`-octet lines (CRLF included); every
/// `dot_every`-th line starts with a stuffed dot (0: none). Ends with CRLF; no terminator.
pub fn body(n: usize, line_len: usize, dot_every: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + line_len);
    let mut i = 0usize;
    while out.len() < n {
        let start = out.len();
        if dot_every > 0 && i.is_multiple_of(dot_every) {
            out.extend_from_slice(b"..");
        }
        while out.len() - start < line_len - 2 {
            out.push(b'a' + ((out.len() % 26) as u8));
        }
        out.extend_from_slice(b"\r\n");
        i += 1;
    }
    out
}

/// A realistic pipelined command mix: one transaction's envelope, repeated.
pub fn command_mix(transactions: usize) -> Vec<u8> {
    let one = b"MAIL FROM:<sender.name@example.com> SIZE=12345 BODY=8BITMIME\r\n\
RCPT TO:<first.recipient@example.org>\r\nRCPT TO:<second@example.net> NOTIFY=SUCCESS,FAILURE\r\n\
RCPT TO:<user+tag@sub.example.co.uk>\r\nNOOP\r\nRSET\r\n";
    one.repeat(transactions)
}

/// Commands in one [`command_mix`] transaction.
pub const COMMANDS_PER_MIX: usize = 6;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workloads_do_what_they_say() {
        let config = Arc::new(Config::new("bench.example"));
        let input = seed_session_input();
        let (out, body_len) = run_session(&config, &[&input]);
        assert_eq!(body_len, SEED_MESSAGE.len() - 1, "one stuffed dot removed");
        assert_eq!(
            run_session_buf(&config, reads_buf(&input, 100)),
            (out, body_len),
            "the same session without the copy"
        );
        assert!(out > 0);
        assert!(
            (1500..1800).contains(&SEED_MESSAGE.len()),
            "{}",
            SEED_MESSAGE.len()
        );
        let b = body(1 << 20, 78, 0);
        assert!(b.len() >= 1 << 20 && b.ends_with(b"\r\n"));
        assert!(b
            .split(|&c| c == b'\n')
            .all(|l| l.is_empty() || l.len() == 77));
        let mut input = b"EHLO x\r\n".to_vec();
        input.extend_from_slice(&command_mix(10));
        input.extend_from_slice(b"QUIT\r\n");
        let (out, _) = run_session(&config, &[&input]);
        assert!(out > 10 * COMMANDS_PER_MIX * 10);
    }
}

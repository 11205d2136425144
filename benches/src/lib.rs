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

/// [`run_session_buf`] the way the adapters read: one receive buffer for the whole session,
/// each read put at its end (the copy stands for the socket's) and handed over without a
/// copy; the session lets go of what it consumed, so the buffer is reused in place.
pub fn run_session_reused(config: &Arc<Config>, reads: &[&[u8]]) -> (usize, usize) {
    let mut reads = reads.iter();
    let mut buf = BytesMut::with_capacity(16 << 10);
    drive(config, |session| match reads.next() {
        Some(r) => {
            buf.reserve(r.len());
            buf.extend_from_slice(r);
            session.handle_input_buf(&mut buf);
        }
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

/// About `n` octets of prose: sentences (a dot every 45 octets or so) wrapped into lines of
/// at most `line_len` octets with CRLF, none of them starting with a dot. The body where a
/// search for dots alone does worst.
pub fn prose_body(n: usize, line_len: usize) -> Vec<u8> {
    const SENTENCES: [&str; 4] = [
        "The quick brown fox jumps over the lazy dog.",
        "Mail servers must not end the data early.",
        "See https://example.com/a.b/c.d for details.",
        "Version 1.2.3 fixed it, e.g. in v. 4.",
    ];
    let mut out = Vec::with_capacity(n + line_len);
    let mut line = 0;
    for sentence in SENTENCES.iter().cycle() {
        if out.len() >= n {
            break;
        }
        for word in sentence.split(' ') {
            if line > 0 && line + 1 + word.len() > line_len - 2 {
                out.extend_from_slice(b"\r\n");
                line = 0;
            }
            if line > 0 {
                out.push(b' ');
                line += 1;
            }
            out.extend_from_slice(word.as_bytes());
            line += word.len();
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// A realistic pipelined command mix: one transaction's envelope, repeated.
pub fn command_mix(transactions: usize) -> Vec<u8> {
    let one = b"MAIL FROM:<sender.name@example.com> SIZE=12345 BODY=8BITMIME\r\n\
RCPT TO:<first.recipient@example.org>\r\nRCPT TO:<second@example.net> NOTIFY=SUCCESS,FAILURE\r\n\
RCPT TO:<user+tag@sub.example.co.uk>\r\nNOOP\r\nRSET\r\n";
    one.repeat(transactions)
}

/// The decoded attachment of [`mime_message`]: `n` octets of a fixed pseudo-random
/// sequence (xorshift), so that base64 decoding sees every octet value.
pub fn attachment(n: usize) -> Vec<u8> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

/// A message with a short text/plain part and [`attachment`]`(n)` as a base64
/// application/octet-stream attachment in 76-character lines (RFC 2045 section 6.8), as a
/// mail client sends it (the MIME benchmark: 10 MiB).
pub fn mime_message(n: usize) -> Vec<u8> {
    let mut m = b"From: Sender <sender@example.com>\r\nTo: <recipient@example.com>\r\n\
Subject: An attachment\r\nDate: Wed, 25 Nov 2026 12:00:00 +0000\r\n\
Message-ID: <mime-bench@example.com>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\nThe file is attached.\r\n\r\n--b1\r\n\
Content-Type: application/octet-stream; name=\"data.bin\"\r\n\
Content-Disposition: attachment; filename=\"data.bin\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\n"
        .to_vec();
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let data = attachment(n);
    let mut line = 0;
    for group in data.chunks(3) {
        let b = [
            group[0],
            *group.get(1).unwrap_or(&0),
            *group.get(2).unwrap_or(&0),
        ];
        let v = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            let c = if i <= group.len() {
                ALPHABET[(v >> (18 - 6 * i) & 63) as usize]
            } else {
                b'='
            };
            m.push(c);
        }
        line += 4;
        if line == 76 {
            m.extend_from_slice(b"\r\n");
            line = 0;
        }
    }
    if line > 0 {
        m.extend_from_slice(b"\r\n");
    }
    m.extend_from_slice(b"--b1--\r\n");
    m
}

/// Our streaming MIME parser over `message` in reads of `read` octets: returns the decoded
/// body octets of every leaf part (and checks nothing else, like a storing application that
/// only wants the decoded attachments).
pub fn parse_mime(message: &[u8], read: usize) -> usize {
    let mut parser = smtp_proto::mime::Parser::new(smtp_proto::mime::MimeConfig::default());
    let mut decoded = 0;
    for chunk in message.chunks(read) {
        parser.feed(chunk);
        while let Some(event) = parser.poll_event() {
            if let smtp_proto::mime::MimeEvent::Body(b) = event {
                decoded += b.len();
            }
        }
    }
    parser.finish();
    while let Some(event) = parser.poll_event() {
        if let smtp_proto::mime::MimeEvent::Body(b) = event {
            decoded += b.len();
        }
    }
    decoded
}

/// Stalwart's mail-parser (the peer) over the whole `message` in memory: returns the decoded
/// octets of every leaf part, as [`parse_mime`] does.
pub fn mail_parser_leaves(message: &[u8]) -> usize {
    let parsed = mail_parser::MessageParser::default()
        .parse(message)
        .expect("mail-parser parses the message");
    parsed.parts.iter().map(|p| p.contents().len()).sum()
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

    #[test]
    fn the_mime_message_decodes_to_its_attachment() {
        use smtp_proto::mime::{MimeConfig, MimeEvent, Parser};
        for n in [0, 1, 2, 3, 56, 57, 58, 100_000] {
            let message = mime_message(n);
            assert!(message
                .split(|&c| c == b'\n')
                .all(|l| l.len() <= 77 && (l.is_empty() || l.ends_with(b"\r"))));
            let mut parser = Parser::new(MimeConfig::default());
            parser.feed(&message);
            parser.finish();
            let (mut leaves, mut warnings) = (Vec::new(), 0);
            while let Some(event) = parser.poll_event() {
                match event {
                    MimeEvent::PartStart(_) => leaves.push(Vec::new()),
                    MimeEvent::Body(b) => leaves.last_mut().unwrap().extend_from_slice(&b),
                    MimeEvent::Warning(_) => warnings += 1,
                    _ => {}
                }
            }
            assert_eq!(warnings, 0, "n = {n}");
            assert_eq!(leaves.len(), 3, "the message, the text, the attachment");
            assert_eq!(leaves[1], b"The file is attached.\r\n");
            assert_eq!(leaves[2], attachment(n), "n = {n}");
            assert_eq!(parse_mime(&message, 4096), n + leaves[1].len());
            let peer = mail_parser_leaves(&message);
            assert!(
                (n..=n + leaves[1].len()).contains(&peer),
                "mail-parser decodes the same attachment: {peer} for {n}"
            );
        }
    }
}

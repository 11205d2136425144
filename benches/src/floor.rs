//! The floor: the least an SMTP sink must do, to measure what the IO alone costs.
//!
//! It greets, splits lines with `memchr`, answers by the first four octets of each command
//! (EHLO offers PIPELINING; MAIL and RCPT `250`; DATA `354`; QUIT `221` and close), scans the
//! message for the CRLF.CRLF terminator with one `memmem` search per read, and answers `250`.
//! No validation, no state beyond "in a message or not", no allocation per command. Replies
//! to a pipelined group are gathered and written with one `write` before the next read.
//!
//! [`Floor`] is the protocol half, without IO; [`serve_tokio`] drives it as our tokio adapter
//! does (a task per connection on a multi-threaded runtime), [`serve_threads`] as our
//! blocking adapter does (a thread per connection). Both read into a 16 KiB buffer, as the
//! adapters do; the tokio one allocates it when the connection first becomes readable (a
//! greeted, silent connection has none), the threaded one at its first read.

use memchr::memmem::Finder;
use std::io::{self, Read, Write};
use std::sync::LazyLock;

/// The read buffer of one connection: the size of the adapters'.
pub const READ_BUFFER: usize = 16 << 10;

static TERMINATOR: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\r\n.\r\n"));

const GREETING: &[u8] = b"220 floor ESMTP\r\n";
const EHLO: &[u8] = b"250-floor\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 0\r\n";
const HELO: &[u8] = b"250 floor\r\n";
const OK: &[u8] = b"250 2.0.0 Ok\r\n";
const DATA: &[u8] = b"354 End data with <CR><LF>.<CR><LF>\r\n";
const QUEUED: &[u8] = b"250 2.0.0 Ok: queued\r\n";
const BYE: &[u8] = b"221 2.0.0 Bye\r\n";
const UNKNOWN: &[u8] = b"500 5.5.2 Command unrecognized\r\n";
const TOO_LONG: &[u8] = b"500 5.5.6 Line too long\r\n";

/// One connection's protocol state: the read buffer, and the replies not yet written.
pub struct Floor {
    /// Allocated at the first read: a connection that stays silent after the greeting
    /// costs no buffer.
    buf: Vec<u8>,
    /// Octets in `buf` not yet consumed start at `pos` and end at `len`.
    pos: usize,
    len: usize,
    /// In a message: the terminator is searched for from `pos`.
    in_data: bool,
    /// A line too long for the buffer is being skipped.
    skipping: bool,
    out: Vec<u8>,
    quit: bool,
}

impl Default for Floor {
    fn default() -> Self {
        Floor::new()
    }
}

impl Floor {
    /// A new connection, with the greeting ready to write.
    pub fn new() -> Floor {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(GREETING);
        Floor {
            buf: Vec::new(),
            pos: 0,
            len: 0,
            in_data: false,
            skipping: false,
            out,
            quit: false,
        }
    }

    /// Where the next read goes.
    pub fn read_buf(&mut self) -> &mut [u8] {
        if self.buf.is_empty() {
            self.buf = vec![0; READ_BUFFER];
        } else if self.len == self.buf.len() {
            self.compact();
        }
        &mut self.buf[self.len..]
    }

    /// The read buffer was allocated (at the first [`read_buf`](Self::read_buf)).
    pub fn has_buffer(&self) -> bool {
        !self.buf.is_empty()
    }

    /// The replies to write before the next read; [`written`](Self::written) once they are.
    pub fn output(&self) -> &[u8] {
        &self.out
    }

    /// The output was written.
    pub fn written(&mut self) {
        self.out.clear();
    }

    /// QUIT was answered: write the output, then close.
    pub fn is_done(&self) -> bool {
        self.quit
    }

    /// `n` octets were read into [`read_buf`](Self::read_buf): answer what they complete.
    pub fn filled(&mut self, n: usize) {
        self.len += n;
        while !self.quit {
            if self.in_data {
                // The search starts two octets back: the CRLF before the dot may be the one
                // that ended the DATA line, or the end of the previous read.
                let from = self.pos.saturating_sub(2);
                match TERMINATOR.find(&self.buf[from..self.len]) {
                    Some(i) => {
                        self.pos = from + i + 5;
                        self.in_data = false;
                        self.out.extend_from_slice(QUEUED);
                    }
                    None => {
                        // Keep the last four octets: a terminator may straddle the reads.
                        let keep = (self.len - from).min(4);
                        self.buf.copy_within(self.len - keep..self.len, 0);
                        self.len = keep;
                        self.pos = keep.min(2); // the next search starts at 0
                        return;
                    }
                }
                continue;
            }
            let Some(i) = memchr::memchr(b'\n', &self.buf[self.pos..self.len]) else {
                if self.pos == self.len {
                    (self.pos, self.len) = (0, 0);
                } else if self.pos == 0 && self.len == self.buf.len() {
                    // No line end in a full buffer: drop it and refuse the line at its end.
                    self.skipping = true;
                    self.len = 0;
                }
                return;
            };
            let line = self.pos..self.pos + i + 1;
            self.pos += i + 1;
            if std::mem::take(&mut self.skipping) {
                self.out.extend_from_slice(TOO_LONG);
                continue;
            }
            self.command(line);
        }
    }

    fn command(&mut self, line: std::ops::Range<usize>) {
        let verb = match self.buf.get(line.start..line.start + 4) {
            Some(v) => [v[0], v[1], v[2], v[3]].map(|b| b.to_ascii_uppercase()),
            None => *b"    ",
        };
        let reply = match &verb {
            b"EHLO" => EHLO,
            b"HELO" => HELO,
            b"MAIL" | b"RCPT" | b"RSET" | b"NOOP" => OK,
            b"DATA" => {
                self.in_data = true;
                DATA
            }
            b"QUIT" => {
                self.quit = true;
                BYE
            }
            _ => UNKNOWN,
        };
        self.out.extend_from_slice(reply);
    }

    /// Moves the unconsumed octets to the front of the buffer.
    fn compact(&mut self) {
        // In a message, two consumed octets stay in front of `pos` (see `filled`).
        let keep_from = match self.in_data {
            true => self.pos.saturating_sub(2),
            false => self.pos,
        };
        self.buf.copy_within(keep_from..self.len, 0);
        self.len -= keep_from;
        self.pos -= keep_from;
    }
}

/// Serves connections on a tokio listener, a task each, until the listener fails.
pub async fn serve_tokio(listener: tokio::net::TcpListener) -> io::Result<()> {
    loop {
        let (sock, _) = listener.accept().await?;
        tokio::spawn(async move {
            let _ = session_tokio(sock).await;
        });
    }
}

async fn session_tokio(mut sock: tokio::net::TcpStream) -> io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut floor = Floor::new();
    loop {
        if !floor.output().is_empty() {
            sock.write_all(floor.output()).await?;
            floor.written();
        }
        if floor.is_done() {
            return sock.shutdown().await;
        }
        // Readiness first, so that the buffer exists only once there is something to read
        // (readiness can be spurious: the first read goes to the stack).
        sock.readable().await?;
        if !floor.has_buffer() {
            let mut first = [0; 512];
            match sock.try_read(&mut first) {
                Ok(0) => return Ok(()),
                Ok(n) => {
                    floor.read_buf()[..n].copy_from_slice(&first[..n]);
                    floor.filled(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            continue;
        }
        match sock.try_read(floor.read_buf()) {
            Ok(0) => return Ok(()),
            Ok(n) => floor.filled(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
}

/// Serves connections on a std listener, a thread each, until the listener fails.
pub fn serve_threads(listener: std::net::TcpListener) -> io::Result<()> {
    loop {
        let (sock, _) = listener.accept()?;
        let spawned = std::thread::Builder::new()
            .name("floor-conn".to_owned())
            .spawn(move || session_threads(sock));
        if let Err(e) = spawned {
            eprintln!("smtp-floor: cannot start a connection thread: {e}");
        }
    }
}

fn session_threads(mut sock: std::net::TcpStream) -> io::Result<()> {
    let mut floor = Floor::new();
    loop {
        if !floor.output().is_empty() {
            sock.write_all(floor.output())?;
            floor.written();
        }
        if floor.is_done() {
            return sock.shutdown(std::net::Shutdown::Write);
        }
        let n = sock.read(floor.read_buf())?;
        if n == 0 {
            return Ok(());
        }
        floor.filled(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `step` octets; returns everything the floor wrote.
    fn run(input: &[u8], step: usize) -> Vec<u8> {
        let mut floor = Floor::new();
        let mut written = Vec::new();
        let mut rest = input;
        loop {
            written.extend_from_slice(floor.output());
            floor.written();
            if floor.is_done() || rest.is_empty() {
                return written;
            }
            let buf = floor.read_buf();
            let n = step.min(rest.len()).min(buf.len());
            buf[..n].copy_from_slice(&rest[..n]);
            rest = &rest[n..];
            floor.filled(n);
        }
    }

    #[test]
    fn answers_a_session_however_it_is_split() {
        let mut input = b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n".to_vec();
        input.extend_from_slice(b"Subject: x\r\n\r\n..dot\r\n.x\r\nend\r\n.\r\n");
        // An empty message, pipelined right after the next DATA.
        input.extend_from_slice(b"MAIL FROM:<>\r\nRCPT TO:<c@d>\r\nDATA\r\n.\r\nNOOP\r\nQUIT\r\n");
        let mut expected = GREETING.to_vec();
        for reply in [EHLO, OK, OK, DATA, QUEUED, OK, OK, DATA, QUEUED, OK, BYE] {
            expected.extend_from_slice(reply);
        }
        for step in 1..=input.len() {
            assert_eq!(
                String::from_utf8_lossy(&run(&input, step)),
                String::from_utf8_lossy(&expected),
                "step {step}"
            );
        }
    }

    #[test]
    fn a_message_larger_than_the_buffer_and_a_long_line() {
        let mut input = b"DATA\r\n".to_vec();
        for _ in 0..1000 {
            input.extend_from_slice(&[b'a'; 78]);
            input.extend_from_slice(b"\r\n");
        }
        input.extend_from_slice(b".\r\n");
        input.extend_from_slice(&vec![b'z'; READ_BUFFER + 100]);
        input.extend_from_slice(b"\r\nQUIT\r\n");
        let mut expected = GREETING.to_vec();
        for reply in [DATA, QUEUED, TOO_LONG, BYE] {
            expected.extend_from_slice(reply);
        }
        for step in [5, 4096, READ_BUFFER] {
            assert_eq!(run(&input, step), expected, "step {step}");
        }
    }
}

//! The load client of `smtp-load`, in the spirit of Postfix's `smtp-source`: N connections at
//! once, each on its own thread with blocking IO (the cheapest client for a few dozen
//! connections: no runtime, one `write` per command group and one `read` per reply batch).
//!
//! Every reply code is checked; an unexpected one stops the run with an error that quotes it.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What to send.
#[derive(Clone, Debug)]
pub struct LoadConfig {
    /// The server.
    pub addr: SocketAddr,
    /// Connections open at once (one client thread each).
    pub connections: usize,
    /// Messages in all.
    pub messages: usize,
    /// Octets of each message (headers and body, before the `.` terminator).
    pub size: u64,
    /// Messages per connection before QUIT and a fresh connection (1: a connection each).
    pub per_connection: usize,
    /// Send MAIL, RCPT and DATA as one group (RFC 2920), if the server offers PIPELINING.
    pub pipelining: bool,
    /// Pipeline even if the EHLO reply does not offer PIPELINING (for servers that read
    /// line by line anyway but do not say so, such as mailin-embedded).
    pub force_pipelining: bool,
    /// Longest wait for any one reply (and for any one write).
    pub timeout: Duration,
    /// The name given in EHLO.
    pub helo: String,
    /// Stop after this long even if fewer than `messages` were sent: each connection
    /// finishes the message it is in, then says QUIT.
    pub duration: Option<Duration>,
}

impl LoadConfig {
    /// The defaults of `smtp-load`: 8 connections, 10,000 messages of 1 KiB, 100 per
    /// connection, no pipelining, 30 s per reply.
    pub fn new(addr: SocketAddr) -> LoadConfig {
        LoadConfig {
            addr,
            connections: 8,
            messages: 10_000,
            size: 1024,
            per_connection: 100,
            pipelining: false,
            force_pipelining: false,
            timeout: Duration::from_secs(30),
            helo: "load.example".to_owned(),
            duration: None,
        }
    }
}

/// What a run measured.
#[derive(Clone, Debug, Default)]
pub struct LoadReport {
    /// Messages accepted (final `250`).
    pub messages: usize,
    /// Connections opened.
    pub connections: usize,
    /// Wall time of the whole run.
    pub elapsed: Duration,
    /// Per message, MAIL sent to the final `250` read, sorted.
    pub latencies: Vec<Duration>,
    /// Per connection, connect to the EHLO reply read, sorted.
    pub setups: Vec<Duration>,
}

impl LoadReport {
    /// Messages per second of wall time.
    pub fn rate(&self) -> f64 {
        self.messages as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The `q` quantile (0..=1) of sorted values, by nearest rank; zero for none.
pub fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The message every connection sends: headers, then lines of 78 printable octets (none
/// starting with a dot, so nothing is dot-stuffed), exactly `size` octets ending in CRLF,
/// then the `.` line. Messages up to 1 MiB are kept whole (one `write`); larger ones are
/// streamed from a 64 KiB block of lines.
#[derive(Debug)]
pub struct Message {
    head: Vec<u8>,
    block: Vec<u8>,
    blocks: u64,
    tail: Vec<u8>,
    whole: Option<Vec<u8>>,
}

const LINE: usize = 80;
const BLOCK_LINES: usize = 819; // 65,520 octets
const WHOLE_LIMIT: u64 = 1 << 20;

fn line(i: usize) -> [u8; LINE] {
    let mut l = [b'x'; LINE];
    let text = b"The quick brown fox jumps over the lazy dog 0123456789 ";
    for (j, b) in l.iter_mut().take(LINE - 2).enumerate() {
        *b = text[(i + j) % text.len()];
    }
    l[LINE - 2] = b'\r';
    l[LINE - 1] = b'\n';
    l
}

impl Message {
    /// A message of `size` octets (at least 256).
    pub fn new(size: u64) -> Message {
        let size = size.max(256);
        let mut head = b"From: Load <load@example.com>\r\n\
To: Sink <sink@example.com>\r\n\
Message-ID: <load@example.com>\r\n\
Subject: smtp-load"
            .to_vec();
        let rest = |head: &[u8]| size - head.len() as u64 - 4; // "\r\n\r\n" after Subject
                                                               // A last partial line needs at least one octet and its CRLF: pad the subject else.
        let partial = rest(&head) % LINE as u64;
        if partial > 0 && partial < 3 {
            head.extend(std::iter::repeat_n(b'!', partial as usize));
        }
        head.extend_from_slice(b"\r\n\r\n");
        let lines_octets = size - head.len() as u64;
        let full_lines = lines_octets / LINE as u64;
        let partial = (lines_octets % LINE as u64) as usize;
        let blocks = full_lines / BLOCK_LINES as u64;
        let block: Vec<u8> = match blocks {
            0 => Vec::new(),
            _ => (0..BLOCK_LINES).flat_map(line).collect(),
        };
        let mut tail: Vec<u8> = (0..(full_lines % BLOCK_LINES as u64) as usize)
            .flat_map(line)
            .collect();
        if partial > 0 {
            let mut last = line(7)[..partial].to_vec();
            last[partial - 2] = b'\r';
            last[partial - 1] = b'\n';
            tail.extend_from_slice(&last);
        }
        tail.extend_from_slice(b".\r\n");
        let mut message = Message {
            head,
            block,
            blocks,
            tail,
            whole: None,
        };
        if size <= WHOLE_LIMIT {
            let mut whole = Vec::with_capacity(size as usize + 3);
            message
                .write_parts(|part| {
                    whole.extend_from_slice(part);
                    Ok(())
                })
                .expect("writing to a Vec");
            message.whole = Some(whole);
        }
        message
    }

    fn write_parts(&self, mut w: impl FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
        w(&self.head)?;
        for _ in 0..self.blocks {
            w(&self.block)?;
        }
        w(&self.tail)
    }

    /// Writes the message and its terminator.
    pub fn write_to(&self, out: &mut impl Write) -> io::Result<()> {
        match &self.whole {
            Some(whole) => out.write_all(whole),
            None => self.write_parts(|part| out.write_all(part)),
        }
    }

    /// The message and its terminator as one buffer (for tests; large messages are big).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.write_to(&mut v).expect("writing to a Vec");
        v
    }
}

/// A reply: its code and its lines (without CRLF).
#[derive(Debug)]
pub struct Reply {
    /// The three-digit code.
    pub code: u16,
    /// The text of each line, after the code and its separator.
    pub lines: Vec<String>,
}

/// Reads replies from a connection, with its own buffer.
pub struct Replies {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
}

impl Default for Replies {
    fn default() -> Self {
        Replies {
            buf: vec![0; 4096].into_boxed_slice(),
            start: 0,
            end: 0,
        }
    }
}

impl Replies {
    /// The next reply (all its lines).
    pub fn read(&mut self, sock: &mut impl Read) -> io::Result<Reply> {
        let mut code = None;
        let mut lines = Vec::new();
        loop {
            let line = self.line(sock)?;
            let bad = || {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("malformed reply line {:?}", String::from_utf8_lossy(line)),
                )
            };
            if line.len() < 3 || !line[..3].iter().all(u8::is_ascii_digit) {
                return Err(bad());
            }
            let this: u16 = std::str::from_utf8(&line[..3])
                .ok()
                .and_then(|c| c.parse().ok())
                .ok_or_else(bad)?;
            if *code.get_or_insert(this) != this {
                return Err(bad());
            }
            let more = match line.get(3) {
                None | Some(b' ') => false,
                Some(b'-') => true,
                Some(_) => return Err(bad()),
            };
            lines.push(String::from_utf8_lossy(line.get(4..).unwrap_or_default()).into_owned());
            if !more {
                return Ok(Reply { code: this, lines });
            }
        }
    }

    /// The next line, without its CRLF (or LF).
    fn line(&mut self, sock: &mut impl Read) -> io::Result<&[u8]> {
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.buf[self.start..self.end]) {
                let line = self.start..self.start + i;
                self.start += i + 1;
                let line = &self.buf[line];
                return Ok(line.strip_suffix(b"\r").unwrap_or(line));
            }
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.end == self.buf.len() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "reply line longer than 4096 octets",
                ));
            }
            let n = sock.read(&mut self.buf[self.end..])?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection",
                ));
            }
            self.end += n;
        }
    }

    /// Reads a reply and checks its code.
    pub fn expect(&mut self, sock: &mut impl Read, code: u16, after: &str) -> io::Result<Reply> {
        let reply = self.read(sock).map_err(|e| {
            io::Error::new(e.kind(), format!("waiting for {code} after {after}: {e}"))
        })?;
        if reply.code != code {
            return Err(io::Error::other(format!(
                "unexpected reply after {after}: {} {} (expected {code})",
                reply.code,
                reply.lines.join(" / ")
            )));
        }
        Ok(reply)
    }
}

/// Opens a connection and reads the greeting (`220`).
pub fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<(TcpStream, Replies)> {
    let mut sock = TcpStream::connect_timeout(&addr, timeout)?;
    sock.set_nodelay(true)?;
    sock.set_read_timeout(Some(timeout))?;
    sock.set_write_timeout(Some(timeout))?;
    let mut replies = Replies::default();
    replies.expect(&mut sock, 220, "connecting")?;
    Ok((sock, replies))
}

struct Worker {
    config: Arc<LoadConfig>,
    deadline: Option<Instant>,
    message: Arc<Message>,
    group: Vec<u8>,
    latencies: Vec<Duration>,
    setups: Vec<Duration>,
    connections: usize,
}

impl Worker {
    fn over(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    fn run(&mut self, mut messages: usize, failed: &AtomicBool) -> io::Result<()> {
        while messages > 0 && !failed.load(Ordering::Relaxed) && !self.over() {
            let n = messages.min(self.config.per_connection.max(1));
            self.connection(n)?;
            messages -= n;
        }
        Ok(())
    }

    fn connection(&mut self, n: usize) -> io::Result<()> {
        let config = Arc::clone(&self.config);
        let start = Instant::now();
        let (mut sock, mut replies) = connect(config.addr, config.timeout)?;
        self.connections += 1;
        sock.write_all(format!("EHLO {}\r\n", config.helo).as_bytes())?;
        let ehlo = replies.expect(&mut sock, 250, "EHLO")?;
        self.setups.push(start.elapsed());
        let offered = ehlo.lines.iter().skip(1).any(|l| {
            l.split_ascii_whitespace()
                .next()
                .is_some_and(|k| k.eq_ignore_ascii_case("PIPELINING"))
        });
        let pipelining = config.pipelining && (offered || config.force_pipelining);
        if config.pipelining && !pipelining {
            return Err(io::Error::other(
                "the server does not offer PIPELINING (see --force-pipelining)",
            ));
        }
        for i in 0..n {
            if i > 0 && self.over() {
                break;
            }
            let start = Instant::now();
            if pipelining {
                sock.write_all(&self.group)?;
                replies.expect(&mut sock, 250, "MAIL (pipelined)")?;
                replies.expect(&mut sock, 250, "RCPT (pipelined)")?;
                replies.expect(&mut sock, 354, "DATA (pipelined)")?;
            } else {
                sock.write_all(b"MAIL FROM:<load@example.com>\r\n")?;
                replies.expect(&mut sock, 250, "MAIL")?;
                sock.write_all(b"RCPT TO:<sink@example.com>\r\n")?;
                replies.expect(&mut sock, 250, "RCPT")?;
                sock.write_all(b"DATA\r\n")?;
                replies.expect(&mut sock, 354, "DATA")?;
            }
            self.message.write_to(&mut sock)?;
            replies.expect(&mut sock, 250, "the message")?;
            self.latencies.push(start.elapsed());
        }
        sock.write_all(b"QUIT\r\n")?;
        replies.expect(&mut sock, 221, "QUIT")?;
        Ok(())
    }
}

/// Runs the load; the first failure (connection refused, timeout, unexpected reply) stops
/// every thread and is returned.
pub fn run(config: LoadConfig) -> io::Result<LoadReport> {
    let connections = config.connections.clamp(1, config.messages.max(1));
    let config = Arc::new(config);
    let message = Arc::new(Message::new(config.size));
    let failed = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let deadline = config.duration.map(|d| start + d);
    let threads: Vec<_> = (0..connections)
        .map(|i| {
            let share =
                config.messages / connections + usize::from(i < config.messages % connections);
            let mut worker = Worker {
                config: Arc::clone(&config),
                deadline,
                message: Arc::clone(&message),
                group: b"MAIL FROM:<load@example.com>\r\nRCPT TO:<sink@example.com>\r\nDATA\r\n"
                    .to_vec(),
                latencies: Vec::with_capacity(share),
                setups: Vec::new(),
                connections: 0,
            };
            let failed = Arc::clone(&failed);
            std::thread::Builder::new()
                .name(format!("load-{i}"))
                .stack_size(256 << 10)
                .spawn(move || {
                    let result = worker.run(share, &failed);
                    if result.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    (worker, result)
                })
        })
        .collect::<io::Result<_>>()?;
    let mut report = LoadReport::default();
    let mut error = None;
    for t in threads {
        let (worker, result) = t
            .join()
            .map_err(|_| io::Error::other("a client thread panicked"))?;
        if let Err(e) = result {
            error.get_or_insert(e);
        }
        report.messages += worker.latencies.len();
        report.connections += worker.connections;
        report.latencies.extend(worker.latencies);
        report.setups.extend(worker.setups);
    }
    report.elapsed = start.elapsed();
    if let Some(e) = error {
        return Err(e);
    }
    report.latencies.sort_unstable();
    report.setups.sort_unstable();
    Ok(report)
}

/// Opens `n` connections and reads each greeting, `batch` connections at a time (so that a
/// listen backlog of 128 is never overrun). Returns the connections open, and the error that
/// stopped it early (such as the file descriptor limit), if any.
pub fn open_idle(
    addr: SocketAddr,
    n: usize,
    batch: usize,
    timeout: Duration,
) -> (Vec<TcpStream>, Option<io::Error>) {
    let mut open = Vec::with_capacity(n);
    while open.len() < n {
        let mut pending = Vec::new();
        let mut error = None;
        for _ in 0..batch.min(n - open.len()) {
            match TcpStream::connect_timeout(&addr, timeout) {
                Ok(sock) => pending.push(sock),
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        for mut sock in pending {
            let greeting = sock
                .set_read_timeout(Some(timeout))
                .and_then(|()| Replies::default().expect(&mut sock, 220, "connecting"));
            match greeting {
                Ok(_) => open.push(sock),
                Err(e) => {
                    error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = error {
            return (open, Some(e));
        }
    }
    (open, None)
}

/// Parses a size with an optional binary suffix: `1024`, `1k`, `100KiB`, `1M`, `1GiB`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let lower = s.trim().to_ascii_lowercase();
    let lower = lower.trim_end_matches("ib").trim_end_matches('b');
    let (digits, shift) = match lower.chars().last() {
        Some('k') => (&lower[..lower.len() - 1], 10),
        Some('m') => (&lower[..lower.len() - 1], 20),
        Some('g') => (&lower[..lower.len() - 1], 30),
        _ => (lower, 0),
    };
    let n: u64 = digits
        .trim()
        .parse()
        .map_err(|_| format!("not a size: {s:?} (e.g. 1024, 100k, 1GiB)"))?;
    n.checked_shl(shift)
        .filter(|v| v >> shift == n)
        .ok_or_else(|| format!("size too large: {s}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_have_the_exact_size_and_well_formed_lines() {
        let sizes = (256..=600).chain([1024, 100 << 10, (1 << 20) + 1]);
        for size in sizes {
            let bytes = Message::new(size).to_vec();
            assert_eq!(bytes.len() as u64, size + 3, "size {size}");
            let (body, end) = bytes.split_at(bytes.len() - 3);
            assert_eq!(end, b".\r\n");
            assert!(body.ends_with(b"\r\n"));
            for line in body.split_inclusive(|&b| b == b'\n') {
                let text = line.strip_suffix(b"\r\n").expect("every line ends in CRLF");
                assert!(!text.contains(&b'\r'), "bare CR, size {size}");
                assert!(text.len() <= 78, "size {size}");
                assert!(!text.starts_with(b"."), "size {size}");
            }
        }
    }

    #[test]
    fn sizes_parse_with_binary_suffixes() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("1k"), Ok(1024));
        assert_eq!(parse_size("100KiB"), Ok(100 << 10));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("2M"), Ok(2 << 20));
        assert!(parse_size("x").is_err());
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_micros).collect();
        assert_eq!(percentile(&v, 0.5), Duration::from_micros(50));
        assert_eq!(percentile(&v, 0.99), Duration::from_micros(99));
        assert_eq!(percentile(&v, 1.0), Duration::from_micros(100));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }

    #[test]
    fn multiline_replies_are_read_whole() {
        let mut input: &[u8] = b"250-one\r\n250-PIPELINING\r\n250 last\r\n354 go\r\n";
        let mut replies = Replies::default();
        let r = replies.read(&mut input).unwrap();
        assert_eq!((r.code, r.lines.len()), (250, 3));
        assert_eq!(replies.read(&mut input).unwrap().code, 354);
        let mut mixed: &[u8] = b"250-one\r\n251 two\r\n";
        assert!(Replies::default().read(&mut mixed).is_err());
    }
}

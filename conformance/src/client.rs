//! A small SMTP client for tests: raw bytes out, parsed replies in, every read bounded.

use crate::CLIENT_TIMEOUT;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;

/// One reply: the code and the text of each line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerReply {
    /// The three-digit code.
    pub code: u16,
    /// The text after the code, one per line.
    pub lines: Vec<String>,
}

enum Stream {
    Plain(TcpStream),
    #[cfg(unix)]
    Unix(std::os::unix::net::UnixStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

/// A test client on a real socket.
pub struct Client {
    stream: Stream,
    buf: Vec<u8>,
}

impl Client {
    /// Connects (reads time out after [`CLIENT_TIMEOUT`]); does not read the greeting.
    pub fn connect(addr: SocketAddr) -> Client {
        let tcp = TcpStream::connect(addr).expect("connect");
        tcp.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
        tcp.set_write_timeout(Some(CLIENT_TIMEOUT)).unwrap();
        Client {
            stream: Stream::Plain(tcp),
            buf: Vec::new(),
        }
    }

    /// Connects to a Unix-domain socket (reads time out after [`CLIENT_TIMEOUT`]); does not
    /// read the greeting.
    #[cfg(unix)]
    pub fn connect_unix(path: &std::path::Path) -> Client {
        let unix = std::os::unix::net::UnixStream::connect(path).expect("connect");
        unix.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
        unix.set_write_timeout(Some(CLIENT_TIMEOUT)).unwrap();
        Client {
            stream: Stream::Unix(unix),
            buf: Vec::new(),
        }
    }

    /// Connects with implicit TLS and reads the `220` greeting.
    pub fn connect_tls(addr: SocketAddr, config: &Arc<rustls::ClientConfig>) -> Client {
        let mut client = Client::connect(addr);
        client.handshake(config);
        client.expect(220);
        client
    }

    /// Connects with implicit TLS, sending `prefix` (a PROXY header) and the ClientHello in
    /// one write, and reads the `220` greeting.
    pub fn connect_tls_with_prefix(
        addr: SocketAddr,
        config: &Arc<rustls::ClientConfig>,
        prefix: &[u8],
    ) -> Client {
        let mut client = Client::connect(addr);
        let Stream::Plain(tcp) = &client.stream else {
            unreachable!()
        };
        let mut tcp = tcp.try_clone().unwrap();
        let name = "localhost".try_into().unwrap();
        let mut conn = rustls::ClientConnection::new(Arc::clone(config), name).unwrap();
        let mut first = prefix.to_vec();
        conn.write_tls(&mut first).unwrap();
        tcp.write_all(&first).unwrap();
        while conn.is_handshaking() {
            conn.complete_io(&mut tcp).expect("TLS handshake");
        }
        client.stream = Stream::Tls(Box::new(rustls::StreamOwned::new(conn, tcp)));
        client.expect(220);
        client
    }

    /// Sends STARTTLS, expects `220`, and runs the handshake.
    pub fn starttls(&mut self, config: &Arc<rustls::ClientConfig>) {
        self.cmd("STARTTLS", 220);
        self.handshake(config);
    }

    /// Runs the TLS handshake on the connection now (after a `220` to STARTTLS).
    pub fn handshake(&mut self, config: &Arc<rustls::ClientConfig>) {
        assert!(self.buf.is_empty(), "bytes after the 220: {:?}", self.buf);
        let Stream::Plain(tcp) = &self.stream else {
            panic!("already TLS")
        };
        let tcp = tcp.try_clone().unwrap();
        let name = "localhost".try_into().unwrap();
        let conn = rustls::ClientConnection::new(Arc::clone(config), name).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock).expect("TLS handshake");
        }
        self.stream = Stream::Tls(Box::new(tls));
    }

    /// Sends raw bytes.
    pub fn send(&mut self, bytes: impl AsRef<[u8]>) {
        let bytes = bytes.as_ref();
        let written = match &mut self.stream {
            Stream::Plain(tcp) => tcp.write_all(bytes).and_then(|()| tcp.flush()),
            #[cfg(unix)]
            Stream::Unix(unix) => unix.write_all(bytes),
            Stream::Tls(tls) => tls.write_all(bytes).and_then(|()| tls.flush()),
        };
        written.expect("send");
    }

    /// Sends raw bytes; `Err` if the server has closed (for tests where it may have).
    pub fn try_send(&mut self, bytes: impl AsRef<[u8]>) -> std::io::Result<()> {
        match &mut self.stream {
            Stream::Plain(tcp) => tcp.write_all(bytes.as_ref()),
            #[cfg(unix)]
            Stream::Unix(unix) => unix.write_all(bytes.as_ref()),
            Stream::Tls(tls) => tls.write_all(bytes.as_ref()).and_then(|()| tls.flush()),
        }
    }

    fn fill(&mut self) -> usize {
        let mut chunk = [0u8; 4096];
        let n = match &mut self.stream {
            Stream::Plain(tcp) => tcp.read(&mut chunk),
            #[cfg(unix)]
            Stream::Unix(unix) => unix.read(&mut chunk),
            Stream::Tls(tls) => tls.read(&mut chunk),
        };
        let n = match n {
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!(
                    "no reply within {CLIENT_TIMEOUT:?}; have {:?}",
                    String::from_utf8_lossy(&self.buf)
                )
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::ConnectionReset | ErrorKind::UnexpectedEof
                ) =>
            {
                0
            }
            Err(e) => panic!("read: {e}"),
        };
        self.buf.extend_from_slice(&chunk[..n]);
        n
    }

    /// Reads one (possibly multi-line) reply. Panics on timeout or close.
    pub fn reply(&mut self) -> ServerReply {
        self.try_reply().unwrap_or_else(|| {
            panic!(
                "connection closed; have {:?}",
                String::from_utf8_lossy(&self.buf)
            )
        })
    }

    /// Reads one reply, `None` if the server closed first.
    pub fn try_reply(&mut self) -> Option<ServerReply> {
        let mut lines = Vec::new();
        loop {
            let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") else {
                if self.fill() == 0 {
                    return None;
                }
                continue;
            };
            let line: Vec<u8> = self.buf.drain(..end + 2).collect();
            let line = String::from_utf8_lossy(&line[..end]).into_owned();
            assert!(line.len() >= 3, "short reply line {line:?}");
            let code: u16 = line[..3]
                .parse()
                .unwrap_or_else(|_| panic!("bad reply {line:?}"));
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line.get(4..).unwrap_or("").to_owned());
            if last {
                return Some(ServerReply { code, lines });
            }
        }
    }

    /// Reads a reply and checks its code.
    pub fn expect(&mut self, code: u16) -> ServerReply {
        let reply = self.reply();
        assert_eq!(reply.code, code, "expected {code}, got {reply:?}");
        reply
    }

    /// Sends `line` with CRLF and expects `code`.
    pub fn cmd(&mut self, line: &str, code: u16) -> ServerReply {
        self.send(format!("{line}\r\n"));
        self.expect(code)
    }

    /// Waits for the server to close the connection; panics on more replies or timeout.
    pub fn expect_closed(&mut self) {
        if let Some(reply) = self.try_reply() {
            panic!("expected the connection to close, got {reply:?}");
        }
    }

    /// EHLO, then MAIL FROM and RCPT TO for each recipient, expecting 250s.
    pub fn envelope(&mut self, from: &str, to: &[&str]) {
        self.cmd(&format!("MAIL FROM:<{from}>"), 250);
        for to in to {
            self.cmd(&format!("RCPT TO:<{to}>"), 250);
        }
    }

    /// `DATA`, the dot-stuffed `body` (which must end with CRLF) and the final dot;
    /// returns the reply to the end of data.
    pub fn data(&mut self, body: &[u8]) -> ServerReply {
        self.cmd("DATA", 354);
        let mut wire = Vec::with_capacity(body.len() + 16);
        let mut at_line_start = true;
        for &b in body {
            if at_line_start && b == b'.' {
                wire.push(b'.');
            }
            wire.push(b);
            at_line_start = b == b'\n';
        }
        wire.extend_from_slice(b".\r\n");
        self.send(wire);
        self.reply()
    }
}

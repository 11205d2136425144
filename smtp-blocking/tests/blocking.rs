//! What only the blocking adapter has to show: the body streams through the handler's
//! reads (no buffering of the message), a panicking handler costs only its connection, and
//! a large message arrives byte for byte through reads of every size (shared with the
//! session, or copied) over TCP and TLS.

use smtp_blocking::{Body, Decision, Error, Handler, Server};
use smtp_conformance::{Client, CLIENT_TIMEOUT};
use std::io::Read;
use std::sync::mpsc;

#[derive(Clone)]
struct Streaming {
    first_chunk: mpsc::Sender<Vec<u8>>,
}

impl Handler for Streaming {
    fn helo(&mut self, domain: &str, _: bool) -> Result<Decision, Error> {
        assert_ne!(domain, "panic.test", "a handler bug");
        Ok(Decision::Accept)
    }

    fn data(&mut self, body: &mut Body<'_>) -> Result<Decision, Error> {
        let first = body.chunk()?.expect("a first chunk");
        self.first_chunk.send(first.to_vec())?;
        let mut rest = Vec::new();
        body.read_to_end(&mut rest)?;
        assert_eq!(rest, b"second part\r\n");
        Ok(Decision::Accept)
    }
}

fn start(handler: Streaming) -> (std::net::SocketAddr, impl FnOnce()) {
    let builder = Server::builder().bind("127.0.0.1:0".parse().unwrap());
    let (addr, _, stop, serving) = serve_in_thread(builder, handler);
    (addr, move || {
        stop.shutdown();
        serving.join().unwrap().unwrap();
    })
}

/// A server serving in a thread: (address, implicit TLS address if any, its shutdown handle,
/// the serving thread).
type Serving = (
    std::net::SocketAddr,
    Option<std::net::SocketAddr>,
    smtp_blocking::ShutdownHandle,
    std::thread::JoinHandle<std::io::Result<()>>,
);

/// The server `builder` makes, serving `handler` in a thread.
fn serve_in_thread<H: Handler + Clone + Send + 'static>(
    builder: smtp_blocking::Builder,
    handler: H,
) -> Serving {
    let server = builder.build().unwrap();
    let (addr, tls_addr) = (
        server.local_addr().unwrap(),
        server.implicit_tls_local_addr(),
    );
    let stop = server.shutdown_handle();
    let serving = std::thread::spawn(move || server.serve(handler));
    (addr, tls_addr, stop, serving)
}

#[test]
fn the_handler_reads_the_body_as_it_arrives() {
    let (tx, first_chunk) = mpsc::channel();
    let (addr, stop) = start(Streaming { first_chunk: tx });
    let mut c = Client::connect(addr);
    c.expect(220);
    c.cmd("EHLO client.test", 250);
    c.envelope("a@client.test", &["b@mx.test"]);
    c.cmd("DATA", 354);
    c.send("first part\r\n");
    // The handler has the first part while the client has not finished the message.
    let first = first_chunk.recv_timeout(CLIENT_TIMEOUT).unwrap();
    assert_eq!(first, b"first part\r\n");
    c.send("second part\r\n.\r\n");
    c.expect(250);
    c.cmd("QUIT", 221);
    stop();
}

#[test]
fn a_panicking_handler_costs_only_its_connection() {
    let (tx, _first_chunk) = mpsc::channel();
    let (addr, stop) = start(Streaming { first_chunk: tx });
    let mut c = Client::connect(addr);
    c.expect(220);
    c.send("EHLO panic.test\r\n");
    c.expect_closed();
    let mut c = Client::connect(addr);
    c.expect(220);
    c.cmd("EHLO client.test", 250);
    c.cmd("QUIT", 221);
    stop();
}

/// Reports, per message: the raw octets, the number of MIME parts, the header violations.
#[derive(Clone)]
struct Mime(mpsc::Sender<(Vec<u8>, usize, usize)>);

impl Handler for Mime {
    fn data(&mut self, body: &mut Body<'_>) -> Result<Decision, Error> {
        use smtp_blocking::proto::mime::{MimeConfig, MimeEvent};
        use smtp_blocking::BodyEvent;
        let (mut raw, mut parts, mut violations) = (Vec::new(), 0, 0);
        for event in body.parsed(MimeConfig::default()).with_raw(true) {
            match event? {
                BodyEvent::Raw(bytes) => raw.extend_from_slice(&bytes),
                BodyEvent::Mime(MimeEvent::PartStart(_)) => parts += 1,
                BodyEvent::Headers(v) => violations = v.len(),
                _ => {}
            }
        }
        self.0.send((raw, parts, violations))?;
        Ok(Decision::Accept)
    }
}

#[test]
fn the_handler_can_read_the_body_as_mime_events() {
    let (tx, seen) = mpsc::channel();
    let server = Server::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .build()
        .unwrap();
    let addr = server.local_addr().unwrap();
    let stop = server.shutdown_handle();
    let serving = std::thread::spawn(move || server.serve(Mime(tx)));
    let message = "From: a@client.test\r\nDate: Thu, 26 Nov 2026 01:00:00 +0000\r\n\
        MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
        --b\r\nContent-Type: text/plain\r\n\r\none\r\n--b\r\n\
        Content-Type: text/plain\r\n\r\ntwo\r\n--b--\r\n";
    let mut c = Client::connect(addr);
    c.expect(220);
    c.cmd("EHLO client.test", 250);
    c.envelope("a@client.test", &["b@mx.test"]);
    assert_eq!(c.data(message.as_bytes()).code, 250);
    let (raw, parts, violations) = seen.recv_timeout(CLIENT_TIMEOUT).unwrap();
    assert_eq!(raw, message.as_bytes());
    assert_eq!(parts, 3, "the message and its two parts");
    assert_eq!(violations, 0);
    c.cmd("QUIT", 221);
    stop.shutdown();
    serving.join().unwrap().unwrap();
}

/// Sends every message it reads (through reads of varied sizes) to the test.
#[derive(Clone)]
struct Collect(mpsc::Sender<Vec<u8>>);

impl Handler for Collect {
    fn data(&mut self, body: &mut Body<'_>) -> Result<Decision, Error> {
        let mut message = Vec::new();
        let mut buf = vec![0; 70_000];
        for size in [1, 13, 4096, 65_536, 100, 70_000].into_iter().cycle() {
            match body.read(&mut buf[..size])? {
                0 => break,
                n => message.extend_from_slice(&buf[..n]),
            }
        }
        self.0.send(message)?;
        Ok(Decision::Accept)
    }
}

/// A message of `octets` or a little more: lines of every length from 0 to 998 octets,
/// some starting with one dot or two, some a lone dot.
fn large_message(octets: usize) -> Vec<u8> {
    let mut message = Vec::with_capacity(octets + 1000);
    let mut state: u32 = 12_345;
    let mut line = 0;
    while message.len() < octets {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let len = (state >> 8) as usize % 999;
        match line % 7 {
            0 => message.push(b'.'),
            3 => message.extend_from_slice(b".."),
            5 if len.is_multiple_of(3) => message.extend_from_slice(b"."),
            _ => {}
        }
        message.extend((0..len).map(|i| b"abcdefghijklmnopqrstuvwxyz .-"[(i + line) % 29]));
        message.extend_from_slice(b"\r\n");
        line += 1;
    }
    message
}

/// The message dot-stuffed (RFC 5321 4.5.2) and terminated, as a client sends it.
fn stuffed(message: &[u8]) -> Vec<u8> {
    let mut wire = Vec::with_capacity(message.len() + message.len() / 50 + 3);
    for line in message.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b".") {
            wire.push(b'.');
        }
        wire.extend_from_slice(line);
    }
    wire.extend_from_slice(b".\r\n");
    wire
}

/// A message of several MiB arrives byte for byte, over plain TCP, STARTTLS and implicit
/// TLS, sent in writes of varied sizes (so that the server reads it in pieces of every size,
/// lines split anywhere) and read by the handler in reads of varied sizes.
#[test]
fn a_large_message_arrives_byte_exact_over_tcp_and_tls() {
    let cert = smtp_conformance::TestCert::new();
    let (tx, messages) = mpsc::channel();
    let (addr, tls_addr, stop, serving) = serve_collecting(&cert, tx, |b| b.max_message_size(0));
    let message = large_message(5 << 20);
    let wire = stuffed(&message);
    for how in ["plain", "starttls", "implicit"] {
        let mut c = client_at(how, addr, tls_addr, None, &cert);
        c.envelope("a@client.test", &["b@mx.test"]);
        c.cmd("DATA", 354);
        let mut rest = &wire[..];
        for size in [
            1, 2, 3, 7, 100, 999, 1000, 2047, 2048, 4097, 16_384, 65_536, 300_000,
        ]
        .into_iter()
        .cycle()
        {
            let (piece, after) = rest.split_at(size.min(rest.len()));
            c.send(piece);
            rest = after;
            if rest.is_empty() {
                break;
            }
        }
        c.expect(250);
        let got = messages.recv_timeout(CLIENT_TIMEOUT).unwrap();
        assert_eq!(got.len(), message.len(), "{how}");
        assert!(got == message, "{how}: the message differs");
        c.cmd("QUIT", 221);
    }
    stop.shutdown();
    serving.join().unwrap().unwrap();
}

/// The server of the tests below on 127.0.0.1, plain and implicit TLS, with what `more` adds
/// to its builder, serving [`Collect`] in a thread.
fn serve_collecting(
    cert: &smtp_conformance::TestCert,
    tx: mpsc::Sender<Vec<u8>>,
    more: impl FnOnce(smtp_blocking::Builder) -> smtp_blocking::Builder,
) -> Serving {
    let local = "127.0.0.1:0".parse().unwrap();
    let builder = Server::builder()
        .bind(local)
        .implicit_tls_bind(local)
        .tls(cert.server.clone());
    serve_in_thread(more(builder), Collect(tx))
}

/// A client ready for MAIL, connected `how`: "implicit" (TLS from the first octet), "unix"
/// (the Unix-domain socket at `unix`), otherwise plain TCP; "starttls" after STARTTLS;
/// "greeted" stops after the greeting, before EHLO.
fn client_at(
    how: &str,
    addr: std::net::SocketAddr,
    tls_addr: Option<std::net::SocketAddr>,
    unix: Option<&std::path::Path>,
    cert: &smtp_conformance::TestCert,
) -> Client {
    let mut c = match how {
        "implicit" => Client::connect_tls(tls_addr.unwrap(), &cert.client),
        "unix" => Client::connect_unix(unix.unwrap()),
        _ => Client::connect(addr),
    };
    if how != "implicit" {
        c.expect(220);
    }
    if how != "greeted" {
        c.cmd("EHLO client.test", 250);
    }
    if how == "starttls" {
        c.starttls(&cert.client);
        c.cmd("EHLO client.test", 250);
    }
    c
}

/// At shutdown, connections waiting for their clients (plain, after STARTTLS, implicit TLS,
/// Unix-domain) are woken from their reads and get `421 4.3.0` (RFC 5321 3.8), while a
/// message in flight goes on: the server stops when it is done, long before its shutdown
/// deadline. (No read polls for the shutdown any more: the server shuts the reading half of
/// the idle connections' sockets.)
#[cfg(unix)]
#[test]
fn idle_connections_are_woken_with_421_at_shutdown() {
    let cert = smtp_conformance::TestCert::new();
    let (tx, messages) = mpsc::channel();
    let dir = std::env::temp_dir().join(format!("smtp-blocking-wake-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("lmtp.sock");
    let _ = std::fs::remove_file(&path);
    let unix = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let (addr, tls_addr, stop, serving) = serve_collecting(&cert, tx, |b| {
        b.unix_listener(unix)
            .shutdown_timeout(std::time::Duration::from_secs(600))
    });
    let mut idle = Vec::new();
    for how in ["greeted", "ehlo", "starttls", "implicit", "unix"] {
        let c = client_at(how, addr, tls_addr, Some(&path), &cert);
        idle.push((how, c));
    }
    let mut busy = client_at("plain", addr, tls_addr, None, &cert);
    busy.envelope("a@client.test", &["b@mx.test"]);
    busy.cmd("DATA", 354);
    busy.send("Subject: in flight\r\n\r\n");
    stop.shutdown();
    for (how, c) in &mut idle {
        let reply = c.expect(421);
        assert!(reply.lines[0].starts_with("4.3.0"), "{how}: {reply:?}");
        c.expect_closed();
    }
    assert!(
        !serving.is_finished(),
        "the message in flight holds the server"
    );
    busy.send("the end\r\n.\r\n");
    busy.expect(250);
    assert!(busy.expect(421).lines[0].starts_with("4.3.0"));
    busy.expect_closed();
    let got = messages.recv_timeout(CLIENT_TIMEOUT).unwrap();
    assert_eq!(got, b"Subject: in flight\r\n\r\nthe end\r\n");
    // Every connection is gone: the server stops without waiting for its deadline.
    let (done_tx, done) = mpsc::channel();
    std::thread::spawn(move || done_tx.send(serving.join().unwrap()));
    done.recv_timeout(CLIENT_TIMEOUT)
        .expect("the server stops once its connections are closed")
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

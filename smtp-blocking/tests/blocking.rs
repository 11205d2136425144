//! What only the blocking adapter has to show: the body streams through the handler's
//! reads (no buffering of the message), and a panicking handler costs only its connection.

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
    let server = Server::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .build()
        .unwrap();
    let addr = server.local_addr().unwrap();
    let stop = server.shutdown_handle();
    let serving = std::thread::spawn(move || server.serve(handler));
    (addr, move || {
        stop.shutdown();
        serving.join().unwrap().unwrap();
    })
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

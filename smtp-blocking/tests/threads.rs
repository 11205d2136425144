//! The connection threads: reused from one connection to the next, a new one while the others
//! are busy, and none left behind by a shutdown (parked threads, threads blocked in `accept`).

use smtp_blocking::{ConnInfo, Decision, Error, Handler, Server, ShutdownHandle};
use smtp_conformance::{Client, CLIENT_TIMEOUT};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread::{self, ThreadId};

/// Reports the thread each connection is served on.
#[derive(Clone)]
struct Threads(mpsc::Sender<ThreadId>);

impl Handler for Threads {
    fn connect(&mut self, _: &ConnInfo) -> Result<Decision, Error> {
        self.0.send(thread::current().id())?;
        Ok(Decision::Accept)
    }
}

/// A server on its own thread, with a handler that reports `T`s.
struct Running<T> {
    addr: SocketAddr,
    stop: ShutdownHandle,
    /// The result of `serve`, sent when it returns.
    served: mpsc::Receiver<std::io::Result<()>>,
    reports: mpsc::Receiver<T>,
}

impl Running<ThreadId> {
    fn start() -> Running<ThreadId> {
        Running::with(Threads)
    }

    /// One session: greeting, EHLO, QUIT, closed. Returns the thread that served it.
    fn session(&self) -> ThreadId {
        let mut c = Client::connect(self.addr);
        c.expect(220);
        c.cmd("EHLO client.test", 250);
        c.cmd("QUIT", 221);
        c.expect_closed();
        self.reports.recv_timeout(CLIENT_TIMEOUT).unwrap()
    }
}

impl<T: Send + 'static> Running<T> {
    /// Serves with the handler `handler` makes of the sender of its reports.
    fn with<H: Handler + Clone + Send + 'static>(
        handler: impl FnOnce(mpsc::Sender<T>) -> H,
    ) -> Self {
        let server = Server::builder()
            .bind("127.0.0.1:0".parse().unwrap())
            .build()
            .unwrap();
        let addr = server.local_addr().unwrap();
        let stop = server.shutdown_handle();
        let (tx, reports) = mpsc::channel();
        let (done, served) = mpsc::channel();
        let handler = handler(tx);
        thread::spawn(move || done.send(server.serve(handler)));
        Running {
            addr,
            stop,
            served,
            reports,
        }
    }

    /// Shuts down and checks that `serve` returns, within a bounded wait.
    fn stop(self) {
        self.stop.shutdown();
        let served = self.served.recv_timeout(CLIENT_TIMEOUT);
        served.expect("serve returns").expect("without an error");
    }
}

#[test]
fn a_thread_serves_one_connection_after_another() {
    let server = Running::start();
    let first = server.session();
    // The thread parks after its connection has closed: a little after the client sees the
    // close, so a later connection may find it still busy and start another. Most are
    // served by threads that served one before.
    let mut seen = vec![first];
    let mut reused = 0;
    for _ in 0..20 {
        let id = server.session();
        if seen.contains(&id) {
            reused += 1;
        } else {
            seen.push(id);
        }
    }
    assert!(reused > 0, "20 connections, each on a new thread");
    assert!(seen.len() < 21);
    server.stop();
}

#[test]
fn connections_at_once_get_threads_of_their_own() {
    let server = Running::start();
    let mut clients = Vec::new();
    for _ in 0..5 {
        let mut c = Client::connect(server.addr);
        c.expect(220);
        c.cmd("EHLO client.test", 250);
        clients.push(c);
    }
    let ids: HashSet<ThreadId> = (0..5)
        .map(|_| server.reports.recv_timeout(CLIENT_TIMEOUT).unwrap())
        .collect();
    assert_eq!(ids.len(), 5, "five connections open at once, five threads");
    for mut c in clients {
        c.cmd("QUIT", 221);
    }
    // And after they are gone, the threads serve new connections.
    server.session();
    server.stop();
}

#[test]
fn shutdown_with_parked_threads_and_open_connections() {
    let server = Running::start();
    for _ in 0..3 {
        server.session();
    }
    let mut open = Client::connect(server.addr);
    open.expect(220);
    open.cmd("EHLO client.test", 250);
    server.reports.recv_timeout(CLIENT_TIMEOUT).unwrap();
    server.stop();
    // `serve` has returned: the open connection had its goodbye.
    assert!(open.expect(421).lines[0].starts_with("4.3.0"));
    open.expect_closed();
}

#[test]
fn shutdown_before_serving() {
    let server = Server::builder()
        .bind("127.0.0.1:0".parse().unwrap())
        .build()
        .unwrap();
    let stop = server.shutdown_handle();
    stop.shutdown();
    let (tx, _threads) = mpsc::channel();
    let (done, served) = mpsc::channel();
    thread::spawn(move || done.send(server.serve(Threads(tx))));
    let result = served.recv_timeout(CLIENT_TIMEOUT).expect("serve returns");
    result.unwrap();
}

/// Sends the body it read.
#[derive(Clone)]
struct Bodies(mpsc::Sender<Vec<u8>>);

impl Handler for Bodies {
    fn data(&mut self, body: &mut smtp_blocking::Body<'_>) -> Result<Decision, Error> {
        let mut message = Vec::new();
        std::io::Read::read_to_end(body, &mut message)?;
        self.0.send(message)?;
        Ok(Decision::Accept)
    }
}

#[test]
fn a_new_thread_reads_a_large_message_whole() {
    // A new thread starts with a small read buffer and grows it when a read fills it: the
    // first connection of a server sends 64 KiB at once, pipelined with its commands.
    let server = Running::with(Bodies);
    let body: Vec<u8> = (0..1024)
        .flat_map(|i| format!("line {i:05} {}\r\n", "x".repeat(50)).into_bytes())
        .collect();
    let mut c = Client::connect(server.addr);
    c.expect(220);
    c.cmd("EHLO client.test", 250);
    let mut input = b"MAIL FROM:<a@client.test>\r\nRCPT TO:<b@mx.test>\r\nDATA\r\n".to_vec();
    input.extend_from_slice(&body);
    input.extend_from_slice(b".\r\n");
    c.send(&input);
    for code in [250, 250, 354, 250] {
        c.expect(code);
    }
    c.cmd("QUIT", 221);
    assert_eq!(server.reports.recv_timeout(CLIENT_TIMEOUT).unwrap(), body);
    server.stop();
}

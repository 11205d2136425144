//! The server over real sockets on 127.0.0.1: the one-function API, handler answers and
//! errors, timeouts, the connection cap, graceful shutdown, and body streaming.

mod common;

use common::{within, Client, Recorder, Running};
use smtp_tokio::proto::address::ReversePath;
use smtp_tokio::proto::params::MailParams;
use smtp_tokio::{Body, ConnInfo, Decision, Envelope, Error, Handler, Reply, Server, Timeouts};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, oneshot, Mutex};

#[tokio::test]
async fn serve_gives_the_envelope_and_the_exact_body() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = tokio::spawn(smtp_tokio::serve(
        listener,
        move |envelope: Envelope, body: Body| {
            let tx = tx.clone();
            async move {
                let body = body.to_bytes().await?;
                tx.send((envelope, body)).unwrap();
                Ok(Decision::Accept)
            }
        },
    ));
    let mut client = Client::connect(addr).await;
    client.hello().await;
    // Dot-stuffing is undone; bare CR/LF would be refused, CRLF passes through.
    let reply = client
        .mail("Subject: hi\r\n\r\n..leading dot\r\nend\r\n")
        .await;
    assert_eq!(reply, "250 2.0.0 Message accepted");
    let (envelope, body) = within("message", rx.recv()).await.unwrap();
    assert_eq!(&body[..], b"Subject: hi\r\n\r\n.leading dot\r\nend\r\n");
    assert_eq!(envelope.helo, "client.example");
    assert_eq!(envelope.from.to_string(), "<a@client.example>");
    assert_eq!(envelope.to.len(), 1);
    assert_eq!(envelope.peer.ip().to_string(), "127.0.0.1");

    // A second message on the same connection has only its own recipients.
    assert!(client.mail("second\r\n").await.starts_with("250"));
    let (envelope, body) = within("message", rx.recv()).await.unwrap();
    assert_eq!((envelope.to.len(), &body[..]), (1, &b"second\r\n"[..]));
    assert_eq!(client.cmd("QUIT").await, "221 2.0.0 Bye");
    client.expect_eof().await;
    server.abort();
}

/// A handler whose every answer is scripted by the test.
#[derive(Clone, Default)]
struct Scripted {
    refuse_connect: bool,
    fail_mail: bool,
    wrong_class: bool,
    fail_data: bool,
}

impl Handler for Scripted {
    async fn connect(&mut self, _: &ConnInfo) -> Result<Decision, Error> {
        if self.refuse_connect {
            let reply = Reply::new(554, Some("5.7.1".parse()?), "No SMTP service for you")?;
            return Ok(Decision::Reject(reply));
        }
        Ok(Decision::Accept)
    }
    async fn mail(&mut self, from: &ReversePath, _: &MailParams) -> Result<Decision, Error> {
        if self.fail_mail && from.to_string().contains("fail") {
            return Err("database down".into());
        }
        if self.wrong_class {
            // A 250 cannot reject: the server stands in a 451.
            return Ok(Decision::Reject(Reply::new(250, None, "oops")?));
        }
        Ok(Decision::Accept)
    }
    async fn data(&mut self, body: Body) -> Result<Decision, Error> {
        body.to_bytes().await?;
        if self.fail_data {
            return Err("disk full".into());
        }
        Ok(Decision::AcceptWith(Reply::new(
            250,
            Some("2.0.0".parse()?),
            "Queued as 42",
        )?))
    }
}

#[tokio::test]
async fn handler_errors_become_replies_not_dropped_connections() {
    let handler = Scripted {
        fail_mail: true,
        fail_data: true,
        ..Scripted::default()
    };
    let server = Running::start(Server::builder(), handler).await;
    let mut client = Client::connect(server.addr).await;
    client.hello().await;
    assert_eq!(
        client.cmd("MAIL FROM:<fail@client.example>").await,
        "451 4.3.0 Local error in processing, try again later"
    );
    assert_eq!(
        client.cmd("MAIL FROM:<ok@client.example>").await,
        "250 2.1.0 Sender OK"
    );
    assert!(client
        .cmd("RCPT TO:<b@server.example>")
        .await
        .starts_with("250"));
    assert!(client.cmd("DATA").await.starts_with("354"));
    client.send("body\r\n.\r\n").await;
    assert_eq!(
        client.reply().await,
        "554 5.3.0 Transaction failed: local error"
    );
    assert_eq!(client.cmd("NOOP").await, "250 2.0.0 OK");
    server.stop().await;
}

#[tokio::test]
async fn custom_replies_and_wrong_class_fallback() {
    let server = Running::start(Server::builder(), Scripted::default()).await;
    let mut client = Client::connect(server.addr).await;
    client.hello().await;
    assert_eq!(client.mail("x\r\n").await, "250 2.0.0 Queued as 42");
    server.stop().await;

    let handler = Scripted {
        wrong_class: true,
        ..Scripted::default()
    };
    let server = Running::start(Server::builder(), handler).await;
    let mut client = Client::connect(server.addr).await;
    client.hello().await;
    let reply = client.cmd("MAIL FROM:<a@client.example>").await;
    assert!(reply.starts_with("451 4.3.0"), "{reply}");
    server.stop().await;
}

#[tokio::test]
async fn connect_can_refuse_with_554() {
    let handler = Scripted {
        refuse_connect: true,
        ..Scripted::default()
    };
    let server = Running::start(Server::builder(), handler).await;
    let mut client = Client::connect(server.addr).await;
    assert_eq!(client.reply().await, "554 5.7.1 No SMTP service for you");
    assert!(client.cmd("EHLO client.example").await.starts_with("503"));
    assert_eq!(client.cmd("QUIT").await, "221 2.0.0 Bye");
    client.expect_eof().await;
    server.stop().await;
}

fn short_timeouts() -> Timeouts {
    let mut timeouts = Timeouts::default();
    timeouts.command = Duration::from_millis(300);
    timeouts.data_block = Duration::from_millis(300);
    timeouts
}

/// Reports how each body ended: `Ok(len)` or the read error.
#[derive(Clone)]
struct BodyOutcome(mpsc::UnboundedSender<Result<usize, std::io::ErrorKind>>);

impl Handler for BodyOutcome {
    async fn data(&mut self, mut body: Body) -> Result<Decision, Error> {
        let mut all = Vec::new();
        let outcome = body.read_to_end(&mut all).await.map_err(|e| e.kind());
        let _ = self.0.send(outcome);
        outcome.map_err(std::io::Error::from)?;
        Ok(Decision::Accept)
    }
}

#[tokio::test]
async fn command_and_data_timeouts_close_with_421() {
    let (tx, mut outcomes) = mpsc::unbounded_channel();
    let builder = Server::builder().timeouts(short_timeouts());
    let server = Running::start(builder, BodyOutcome(tx)).await;

    let mut client = Client::connect(server.addr).await;
    client.hello().await;
    let started = std::time::Instant::now();
    assert_eq!(
        client.reply().await,
        "421 4.4.2 localhost Timeout exceeded, closing connection"
    );
    assert!(started.elapsed() >= Duration::from_millis(250));
    client.expect_eof().await;

    let mut client = Client::connect(server.addr).await;
    client.hello().await;
    client.cmd("MAIL FROM:<a@client.example>").await;
    client.cmd("RCPT TO:<b@server.example>").await;
    assert!(client.cmd("DATA").await.starts_with("354"));
    client.send("Subject: slow\r\n").await;
    let reply = client.reply().await;
    assert!(reply.starts_with("421 4.4.2"), "{reply}");
    client.expect_eof().await;
    let outcome = within("body outcome", outcomes.recv()).await.unwrap();
    assert_eq!(
        outcome,
        Err(std::io::ErrorKind::UnexpectedEof),
        "the handler sees the abort"
    );
    server.stop().await;
}

/// The connection's timer is set once and moved only when it fires early: commands that keep
/// coming before the timeout keep the connection open past the first deadline, and silence
/// after them still ends it.
#[tokio::test]
async fn activity_moves_the_timeout_and_silence_still_ends_the_connection() {
    let mut timeouts = Timeouts::default();
    timeouts.command = Duration::from_millis(600);
    let (recorder, _seen) = Recorder::new();
    let server = Running::start(Server::builder().timeouts(timeouts), recorder).await;
    let mut client = Client::connect(server.addr).await;
    client.hello().await;
    // Twice the timeout in all, one command every third of it.
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(client.cmd("NOOP").await, "250 2.0.0 OK");
    }
    assert_eq!(
        client.reply().await,
        "421 4.4.2 localhost Timeout exceeded, closing connection"
    );
    client.expect_eof().await;
    server.stop().await;
}

#[tokio::test]
async fn too_large_message_is_refused_and_the_handler_told() {
    let (tx, mut outcomes) = mpsc::unbounded_channel();
    let server = Running::start(Server::builder().max_message_size(1000), BodyOutcome(tx)).await;
    let mut client = Client::connect(server.addr).await;
    client.hello().await;
    let big = "x".repeat(78) + "\r\n";
    let reply = client.mail(&big.repeat(50)).await;
    assert_eq!(
        reply,
        "552 5.3.4 Message size exceeds fixed maximum message size"
    );
    let outcome = within("body outcome", outcomes.recv()).await.unwrap();
    assert_eq!(outcome, Err(std::io::ErrorKind::UnexpectedEof));
    // The session goes on.
    assert!(client.mail("small\r\n").await.starts_with("250"));
    assert_eq!(
        within("body outcome", outcomes.recv()).await.unwrap(),
        Ok(7)
    );
    server.stop().await;
}

#[tokio::test]
async fn bdat_chunks_stream_to_the_handler() {
    let (recorder, mut seen) = Recorder::new();
    let server = Running::start(Server::builder(), recorder).await;
    let mut client = Client::connect(server.addr).await;
    client.hello().await;
    client.cmd("MAIL FROM:<a@client.example>").await;
    client.cmd("RCPT TO:<b@server.example>").await;
    client.send("BDAT 6\r\nHello ").await;
    assert_eq!(client.reply().await, "250 2.0.0 6 octets received");
    // RCPT while the body is with the handler: refused, the transaction goes on.
    assert!(client
        .cmd("RCPT TO:<c@server.example>")
        .await
        .starts_with("503 5.5.1"));
    client.send("BDAT 7 LAST\r\nworld\r\n").await;
    assert_eq!(client.reply().await, "250 2.0.0 Message accepted");
    let message = within("message", seen.recv()).await.unwrap();
    assert_eq!(message.body, b"Hello world\r\n");
    assert_eq!(message.to, ["<b@server.example>"]);
    server.stop().await;
}

#[tokio::test]
async fn connections_beyond_the_cap_get_421() {
    let (recorder, _seen) = Recorder::new();
    let server = Running::start(Server::builder().max_connections(2), recorder).await;
    let mut first = Client::connect(server.addr).await;
    first.hello().await;
    let mut second = Client::connect(server.addr).await;
    second.hello().await;
    let mut third = Client::connect(server.addr).await;
    assert_eq!(
        third.reply().await,
        "421 4.3.2 localhost Too many connections, try again later"
    );
    third.expect_eof().await;
    // A slot frees when a connection ends.
    assert_eq!(first.cmd("QUIT").await, "221 2.0.0 Bye");
    first.expect_eof().await;
    let mut fourth = within("a free slot", async {
        loop {
            let mut c = Client::connect(server.addr).await;
            if c.reply().await.starts_with("220") {
                return c;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(fourth.cmd("EHLO x").await.starts_with("250"));
    server.stop().await;
}

/// Signals when `data` starts, then reads the body.
#[derive(Clone)]
struct Announce(mpsc::UnboundedSender<()>);

impl Handler for Announce {
    async fn data(&mut self, body: Body) -> Result<Decision, Error> {
        let _ = self.0.send(());
        body.to_bytes().await?;
        Ok(Decision::Accept)
    }
}

#[tokio::test]
async fn graceful_shutdown_lets_the_transaction_in_flight_finish() {
    let (tx, mut started) = mpsc::unbounded_channel();
    let mut server = Running::start(Server::builder(), Announce(tx)).await;
    let mut idle = Client::connect(server.addr).await;
    idle.hello().await;
    let mut busy = Client::connect(server.addr).await;
    busy.hello().await;
    busy.cmd("MAIL FROM:<a@client.example>").await;
    busy.cmd("RCPT TO:<b@server.example>").await;
    busy.cmd("DATA").await;
    busy.send("Subject: in flight\r\n").await;
    within("data started", started.recv()).await.unwrap();

    server.shutdown();
    assert_eq!(
        idle.reply().await,
        "421 4.3.0 localhost Service shutting down, try again later"
    );
    idle.expect_eof().await;
    // No new connections.
    let refused = within("connect after shutdown", async {
        loop {
            match tokio::net::TcpStream::connect(server.addr).await {
                Err(_) => return,
                Ok(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    });
    refused.await;

    busy.send("\r\nthe rest\r\n.\r\n").await;
    assert_eq!(busy.reply().await, "250 2.0.0 Message accepted");
    let bye = busy.reply().await;
    assert!(bye.starts_with("421 4.3.0"), "{bye}");
    busy.expect_eof().await;
    server.stop().await;
}

#[tokio::test]
async fn shutdown_deadline_closes_transactions_that_do_not_finish() {
    let (tx, mut outcomes) = mpsc::unbounded_channel();
    let builder = Server::builder().shutdown_timeout(Duration::from_millis(300));
    let mut server = Running::start(builder, BodyOutcome(tx)).await;
    let mut busy = Client::connect(server.addr).await;
    busy.hello().await;
    busy.cmd("MAIL FROM:<a@client.example>").await;
    busy.cmd("RCPT TO:<b@server.example>").await;
    busy.cmd("DATA").await;
    busy.send("Subject: never finished\r\n").await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = std::time::Instant::now();
    server.shutdown();
    let bye = busy.reply().await;
    assert!(bye.starts_with("421 4.3.0"), "{bye}");
    assert!(started.elapsed() >= Duration::from_millis(250));
    busy.expect_eof().await;
    server.stop().await;
    // The handler's data was cut off, never accepted (its task is aborted or sees the end).
    assert!(!matches!(outcomes.try_recv(), Ok(Ok(_))));
}

/// Reads nothing until told to, then reads the whole body; counts what it read.
#[derive(Clone)]
struct Gate {
    open: Arc<Mutex<Option<oneshot::Receiver<()>>>>,
    read: Arc<AtomicUsize>,
}

impl Handler for Gate {
    async fn data(&mut self, mut body: Body) -> Result<Decision, Error> {
        if let Some(open) = self.open.lock().await.take() {
            let _ = open.await;
        }
        while let Some(chunk) = body.chunk().await? {
            self.read.fetch_add(chunk.len(), Ordering::Relaxed);
        }
        Ok(Decision::Accept)
    }
}

#[tokio::test]
async fn a_handler_that_does_not_read_stops_the_socket_being_read() {
    const TOTAL: usize = 64 << 20;
    let (open_tx, open_rx) = oneshot::channel();
    let read = Arc::new(AtomicUsize::new(0));
    let handler = Gate {
        open: Arc::new(Mutex::new(Some(open_rx))),
        read: Arc::clone(&read),
    };
    let server = Running::start(Server::builder().max_message_size(0), handler).await;
    let mut client = Client::connect(server.addr).await;
    client.hello().await;
    client.cmd("MAIL FROM:<a@client.example>").await;
    client.cmd("RCPT TO:<b@server.example>").await;
    assert!(client.cmd("DATA").await.starts_with("354"));

    let sent = Arc::new(AtomicUsize::new(0));
    let (mut reader, mut writer) = tokio::io::split(client.io);
    let writer_task = tokio::spawn({
        let sent = Arc::clone(&sent);
        async move {
            use tokio::io::AsyncWriteExt;
            let line = [b'x'; 1022];
            let block: Vec<u8> = line
                .iter()
                .chain(b"\r\n")
                .copied()
                .cycle()
                .take(64 << 10)
                .collect();
            for _ in 0..TOTAL / block.len() {
                writer.write_all(&block).await.unwrap();
                sent.fetch_add(block.len(), Ordering::Relaxed);
            }
            writer.write_all(b".\r\n").await.unwrap();
            writer
        }
    });
    // While the handler does not read, the client stalls once the socket buffers are full.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stalled = sent.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        sent.load(Ordering::Relaxed),
        stalled,
        "the client is blocked"
    );
    assert!(
        stalled < TOTAL / 2,
        "the server kept reading: {stalled} of {TOTAL} octets sent"
    );
    assert_eq!(read.load(Ordering::Relaxed), 0);

    open_tx.send(()).unwrap();
    let writer = within("the rest of the body", writer_task).await.unwrap();
    let mut reply = String::new();
    let mut buf = [0u8; 256];
    while !reply.ends_with("\r\n") {
        let n = within("reply", reader.read(&mut buf)).await.unwrap();
        assert!(n > 0);
        reply.push_str(std::str::from_utf8(&buf[..n]).unwrap());
    }
    assert_eq!(reply, "250 2.0.0 Message accepted\r\n");
    assert_eq!(read.load(Ordering::Relaxed), TOTAL);
    drop((reader, writer));
    server.stop().await;
}

/// Refuses every message without reading a byte of it.
#[derive(Clone)]
struct RefuseUnread;

impl Handler for RefuseUnread {
    async fn data(&mut self, body: Body) -> Result<Decision, Error> {
        drop(body);
        Ok(Decision::Reject(Reply::new(
            550,
            Some("5.7.1".parse()?),
            "Not wanted",
        )?))
    }
}

#[tokio::test]
async fn a_handler_that_returns_early_does_not_break_the_session() {
    let server = Running::start(Server::builder(), RefuseUnread).await;
    let mut client = Client::connect(server.addr).await;
    client.hello().await;
    let body = ("y".repeat(998) + "\r\n").repeat(1000);
    assert_eq!(client.mail(&body).await, "550 5.7.1 Not wanted");
    assert_eq!(client.mail(&body).await, "550 5.7.1 Not wanted");
    assert_eq!(client.cmd("NOOP").await, "250 2.0.0 OK");
    server.stop().await;
}

#[tokio::test]
async fn lmtp_answers_once_per_recipient() {
    let mut config = smtp_tokio::Config::new("lmtp.example");
    config.protocol = smtp_tokio::proto::Protocol::Lmtp;
    let (recorder, mut seen) = Recorder::new();
    let server = Running::start(Server::builder().config(config), recorder).await;
    let mut client = Client::connect(server.addr).await;
    assert!(client.reply().await.starts_with("220"));
    assert!(client.cmd("LHLO client.example").await.starts_with("250"));
    client.cmd("MAIL FROM:<a@client.example>").await;
    client.cmd("RCPT TO:<b@server.example>").await;
    client.cmd("RCPT TO:<c@server.example>").await;
    assert!(client.cmd("DATA").await.starts_with("354"));
    client.send("Subject: lmtp\r\n\r\nhi\r\n.\r\n").await;
    assert!(client.reply().await.starts_with("250"));
    assert!(client.reply().await.starts_with("250"));
    assert_eq!(client.cmd("NOOP").await, "250 2.0.0 OK");
    let message = within("message", seen.recv()).await.unwrap();
    assert_eq!(message.to.len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn a_deep_pipeline_is_answered_in_full() {
    // More replies than Config::max_pending_output holds: the core stops parsing with
    // commands still buffered, and the adapter must parse them without waiting for input.
    let (recorder, _seen) = Recorder::new();
    let server = Running::start(Server::builder(), recorder).await;
    let mut client = Client::connect(server.addr).await;
    client.hello().await;
    const N: usize = 6000;
    client.send("NOOP\r\n".repeat(N)).await;
    for i in 0..N {
        assert_eq!(client.reply().await, "250 2.0.0 OK", "reply {i}");
    }
    assert_eq!(client.cmd("QUIT").await, "221 2.0.0 Bye");
    server.stop().await;
}

#[tokio::test]
async fn greeting_delay_holds_the_greeting_and_early_talkers_are_refused() {
    let mut timeouts = Timeouts::default();
    timeouts.greeting_delay = Duration::from_millis(200);
    let (recorder, _seen) = Recorder::new();
    let server = Running::start(Server::builder().timeouts(timeouts), recorder).await;

    let started = std::time::Instant::now();
    let mut patient = Client::connect(server.addr).await;
    assert!(patient.reply().await.starts_with("220"));
    assert!(started.elapsed() >= Duration::from_millis(150));

    let mut early = Client::connect(server.addr).await;
    early.send("EHLO spammer.example\r\n").await;
    assert!(early.reply().await.starts_with("554 5.5.1"));
    early.expect_eof().await;
    server.stop().await;
}

/// Reads every body to its end and accepts.
#[derive(Clone)]
struct Drain;

impl Handler for Drain {
    async fn data(&mut self, mut body: Body) -> Result<Decision, Error> {
        while body.chunk().await?.is_some() {}
        Ok(Decision::Accept)
    }
}

/// Reads one reply (all its lines) from a blocking socket.
fn blocking_reply(reader: &mut impl std::io::BufRead) -> String {
    let mut reply = String::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        reply.push_str(&line);
        if line.len() < 4 || line.as_bytes()[3] != b'-' {
            return reply;
        }
    }
}

/// A client that sends faster than the server reads cannot keep the other connections
/// waiting, even on a runtime of one thread: every read of its connection finds data, and
/// the connection's task still yields its turn (tokio's coop budget, taken per read).
#[test]
fn a_client_that_never_pauses_does_not_starve_the_others() {
    use std::io::{BufReader, Write};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = rt
        .block_on(
            Server::builder()
                .max_message_size(0)
                .bind("127.0.0.1:0".parse().unwrap())
                .build(),
        )
        .unwrap();
    let addr = server.local_addr().unwrap();
    let (stop_server, stopped) = oneshot::channel::<()>();
    let serving = std::thread::spawn(move || {
        rt.block_on(server.serve_with_shutdown(Drain, async {
            let _ = stopped.await;
        }))
    });

    // The flood: blocking writes of 64 KiB, always ahead of the server, until told to end.
    let flooding = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let (started, under_way) = std::sync::mpsc::channel();
    let flood = std::thread::spawn({
        let flooding = Arc::clone(&flooding);
        move || {
            let tcp = std::net::TcpStream::connect(addr).unwrap();
            let mut reader = BufReader::new(tcp.try_clone().unwrap());
            let mut writer = tcp;
            assert!(blocking_reply(&mut reader).starts_with("220"));
            for (cmd, code) in [
                ("EHLO flood.example", "250"),
                ("MAIL FROM:<a@flood.example>", "250"),
                ("RCPT TO:<b@example.com>", "250"),
                ("DATA", "354"),
            ] {
                writer.write_all(format!("{cmd}\r\n").as_bytes()).unwrap();
                let reply = blocking_reply(&mut reader);
                assert!(reply.starts_with(code), "{cmd}: {reply}");
            }
            let block = format!("{}\r\n", "x".repeat(76)).repeat(840); // 65,520 octets
            let mut sent = 0usize;
            while flooding.load(Ordering::Relaxed) {
                writer.write_all(block.as_bytes()).unwrap();
                sent += block.len();
                if sent >= 4 << 20 {
                    let _ = started.send(());
                }
            }
            writer.write_all(b".\r\nQUIT\r\n").unwrap();
            (blocking_reply(&mut reader), sent)
        }
    });
    under_way.recv().unwrap();

    // Served while the flood goes on (a starved server would not even accept it).
    let tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut reader = BufReader::new(tcp);
    let greeting = blocking_reply(&mut reader);
    assert!(greeting.starts_with("220"), "{greeting:?}");
    assert!(flooding.load(Ordering::Relaxed), "the flood ended first");

    flooding.store(false, Ordering::Relaxed);
    let (reply, sent) = flood.join().unwrap();
    assert!(reply.starts_with("250"), "{reply} after {sent} octets");
    drop(reader);
    stop_server.send(()).unwrap();
    serving.join().unwrap().unwrap();
}

/// A client that sends commands and never reads the replies is disconnected once a reply
/// has waited the command timeout to be written: the write that the socket's buffers no
/// longer take is bounded like every wait.
#[tokio::test]
async fn a_client_that_never_reads_is_disconnected() {
    use tokio::io::AsyncWriteExt;
    let mut timeouts = Timeouts::default();
    timeouts.command = Duration::from_millis(200);
    let (recorder, _seen) = Recorder::new();
    let server = Running::start(Server::builder().timeouts(timeouts), recorder).await;
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let (mut read, mut write) = tcp.into_split();
    // 14 MB of replies: more than the socket buffers hold.
    const N: usize = 1_000_000;
    let writer = tokio::spawn(async move {
        let _ = write.write_all("NOOP\r\n".repeat(N).as_bytes()).await;
        write
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut replies = 0;
    let mut buf = vec![0; 64 << 10];
    loop {
        match within("the end of the replies", read.read(&mut buf)).await {
            Ok(0) | Err(_) => break,
            Ok(n) => replies += buf[..n].iter().filter(|&&b| b == b'\n').count(),
        }
    }
    assert!(
        replies < N,
        "{replies} replies: the connection was not closed"
    );
    writer.abort();
    server.stop().await;
}

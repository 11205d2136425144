//! The message body between the connection and the handler, over real sockets: the handler's
//! `data` runs in the connection's task, and the body may still be moved to another task or
//! thread, dropped early, kept after the answer, or abandoned; a panicking handler closes only
//! its connection.

mod common;

use common::{within, Client, Running};
use smtp_tokio::proto::address::ReversePath;
use smtp_tokio::proto::params::MailParams;
use smtp_tokio::{Body, Decision, Error, Handler, Reply, Server};
use std::io::ErrorKind;
use std::time::Duration;
use tokio::sync::mpsc;

/// Lines of 78 octets and CRLF, numbered, `octets` in all (a multiple of 80).
fn message(octets: usize) -> String {
    (0..octets / 80).map(|i| format!("{i:078}\r\n")).collect()
}

/// Sends a message on a greeted connection; returns the reply to its end.
async fn send_message(client: &mut Client<tokio::net::TcpStream>, body: &str) -> String {
    client.mail(body).await
}

/// Reads the body in a task of its own and reports it; answers when that task is done.
#[derive(Clone)]
struct ReadElsewhere {
    seen: mpsc::UnboundedSender<Result<Vec<u8>, ErrorKind>>,
    /// Read on a blocking thread (`spawn_blocking` + `Handle::block_on`) instead of a task.
    blocking: bool,
}

async fn read_all(mut body: Body) -> Result<Vec<u8>, ErrorKind> {
    let mut all = Vec::new();
    while let Some(chunk) = body.chunk().await.map_err(|e| e.kind())? {
        all.extend_from_slice(&chunk);
        tokio::task::yield_now().await; // a slow reader: the queue fills
    }
    Ok(all)
}

impl Handler for ReadElsewhere {
    async fn data(&mut self, body: Body) -> Result<Decision, Error> {
        let read = match self.blocking {
            false => tokio::spawn(read_all(body)).await?,
            true => {
                let rt = tokio::runtime::Handle::current();
                tokio::task::spawn_blocking(move || rt.block_on(read_all(body))).await?
            }
        };
        let ok = read.is_ok();
        let _ = self.seen.send(read);
        match ok {
            true => Ok(Decision::Accept),
            false => Err("abandoned".into()),
        }
    }
}

#[tokio::test]
async fn a_body_read_in_another_task_or_thread_arrives_whole() {
    for blocking in [false, true] {
        let (seen, mut seen_rx) = mpsc::unbounded_channel();
        let handler = ReadElsewhere { seen, blocking };
        let server = Running::start(Server::builder().max_message_size(0), handler).await;
        let mut client = Client::connect(server.addr).await;
        client.hello().await;
        for size in [80, 1 << 20] {
            let body = message(size);
            assert_eq!(
                send_message(&mut client, &body).await,
                "250 2.0.0 Message accepted"
            );
            let read = within("the body", seen_rx.recv()).await.unwrap().unwrap();
            assert_eq!(read.len(), body.len(), "blocking: {blocking}");
            assert!(read == body.as_bytes(), "blocking: {blocking}");
        }
        server.stop().await;
    }
}

#[tokio::test]
async fn an_abandoned_body_fails_in_the_task_that_reads_it() {
    let (seen, mut seen_rx) = mpsc::unbounded_channel();
    let handler = ReadElsewhere {
        seen,
        blocking: false,
    };
    let server = Running::start(Server::builder(), handler).await;
    let mut client = Client::connect(server.addr).await;
    client.hello().await;
    client.cmd("MAIL FROM:<a@client.example>").await;
    client.cmd("RCPT TO:<b@server.example>").await;
    assert!(client.cmd("DATA").await.starts_with("354"));
    client.send(message(200 << 10)).await;
    drop(client); // the client goes away in the middle of the message
    let read = within("the body", seen_rx.recv()).await.unwrap();
    assert_eq!(read, Err(ErrorKind::UnexpectedEof));
    server.stop().await;
}

/// Hands the body to a task of its own and answers at once, before the body has come.
#[derive(Clone)]
struct AnswerFirst(mpsc::UnboundedSender<Result<Vec<u8>, ErrorKind>>);

impl Handler for AnswerFirst {
    async fn data(&mut self, body: Body) -> Result<Decision, Error> {
        let seen = self.0.clone();
        tokio::spawn(async move {
            let _ = seen.send(read_all(body).await);
        });
        Ok(Decision::AcceptWith(Reply::new(
            250,
            Some("2.0.0".parse()?),
            "Answered early",
        )?))
    }
}

#[tokio::test]
async fn an_early_answer_is_used_and_the_body_still_reaches_its_reader() {
    let (seen, mut seen_rx) = mpsc::unbounded_channel();
    let server = Running::start(Server::builder().max_message_size(0), AnswerFirst(seen)).await;
    let mut client = Client::connect(server.addr).await;
    client.hello().await;
    for size in [1 << 20, 80] {
        let body = message(size);
        assert_eq!(
            send_message(&mut client, &body).await,
            "250 2.0.0 Answered early"
        );
        let read = within("the body", seen_rx.recv()).await.unwrap().unwrap();
        assert!(read == body.as_bytes(), "{size} octets");
    }
    // The connection goes away in the middle of a third: its reader is told.
    client.cmd("MAIL FROM:<a@client.example>").await;
    client.cmd("RCPT TO:<b@server.example>").await;
    assert!(client.cmd("DATA").await.starts_with("354"));
    client.send(message(8000)).await;
    drop(client);
    let read = within("the body", seen_rx.recv()).await.unwrap();
    assert_eq!(read, Err(ErrorKind::UnexpectedEof));
    server.stop().await;
}

/// Reads the first chunk, drops the body, then (after a pause) refuses the message.
#[derive(Clone)]
struct FirstChunkOnly;

impl Handler for FirstChunkOnly {
    async fn data(&mut self, mut body: Body) -> Result<Decision, Error> {
        body.chunk().await?.ok_or("an empty body")?;
        drop(body);
        tokio::time::sleep(Duration::from_millis(10)).await;
        let reply = Reply::new(550, Some("5.7.1".parse()?), "Stopped reading")?;
        Ok(Decision::Reject(reply))
    }
}

#[tokio::test]
async fn a_body_dropped_early_is_drained_and_the_answer_used() {
    let server = Running::start(Server::builder().max_message_size(0), FirstChunkOnly).await;
    let mut client = Client::connect(server.addr).await;
    client.hello().await;
    for size in [2 << 20, 160, 2 << 20] {
        assert_eq!(
            send_message(&mut client, &message(size)).await,
            "550 5.7.1 Stopped reading",
            "{size} octets"
        );
    }
    assert_eq!(client.cmd("NOOP").await, "250 2.0.0 OK");
    server.stop().await;
}

/// Reads each body, reports it, and keeps it (so the next message cannot reuse its queue);
/// checks that every body kept before has ended and stays ended.
struct Keeper {
    kept: Vec<Body>,
    seen: mpsc::UnboundedSender<Result<Vec<u8>, String>>,
}

impl Clone for Keeper {
    fn clone(&self) -> Keeper {
        Keeper {
            kept: Vec::new(),
            seen: self.seen.clone(),
        }
    }
}

impl Handler for Keeper {
    async fn data(&mut self, mut body: Body) -> Result<Decision, Error> {
        for old in &mut self.kept {
            if let Some(chunk) = old.chunk().await? {
                let _ = self.seen.send(Err(format!("an old body got {chunk:?}")));
            }
        }
        let mut all = Vec::new();
        while let Some(chunk) = body.chunk().await? {
            all.extend_from_slice(&chunk);
        }
        self.kept.push(body);
        let _ = self.seen.send(Ok(all));
        Ok(Decision::Accept)
    }
}

#[tokio::test]
async fn a_body_kept_after_the_answer_does_not_see_the_next_message() {
    let (seen, mut seen_rx) = mpsc::unbounded_channel();
    let keeper = Keeper {
        kept: Vec::new(),
        seen,
    };
    let server = Running::start(Server::builder().max_message_size(0), keeper).await;
    let mut client = Client::connect(server.addr).await;
    client.hello().await;
    for (i, size) in [80, 400 << 10, 160, 80].into_iter().enumerate() {
        let body = format!("Subject: {i}\r\n\r\n") + &message(size);
        assert_eq!(
            send_message(&mut client, &body).await,
            "250 2.0.0 Message accepted"
        );
        let read = within("the body", seen_rx.recv()).await.unwrap().unwrap();
        assert!(read == body.as_bytes(), "message {i}");
    }
    assert!(seen_rx.try_recv().is_err());
    server.stop().await;
}

/// Panics in `data` for senders named so: before reading the body, or after.
#[derive(Clone, Default)]
struct Panicky {
    from: String,
}

impl Handler for Panicky {
    async fn mail(&mut self, from: &ReversePath, _: &MailParams) -> Result<Decision, Error> {
        self.from = from.to_string();
        Ok(Decision::Accept)
    }

    async fn data(&mut self, body: Body) -> Result<Decision, Error> {
        if self.from.contains("panic-at-once@") {
            panic!("the handler broke (on purpose, in a test)");
        }
        body.to_bytes().await?;
        if self.from.contains("panic-at-the-end@") {
            panic!("the handler broke at the end (on purpose, in a test)");
        }
        Ok(Decision::Accept)
    }
}

#[tokio::test]
async fn a_panicking_handler_closes_its_connection_not_the_server() {
    let server = Running::start(Server::builder().max_message_size(0), Panicky::default()).await;
    for from in [
        "panic-at-once@client.example",
        "panic-at-the-end@client.example",
    ] {
        let mut client = Client::connect(server.addr).await;
        client.hello().await;
        assert!(client
            .cmd(&format!("MAIL FROM:<{from}>"))
            .await
            .starts_with("250"));
        assert!(client
            .cmd("RCPT TO:<b@server.example>")
            .await
            .starts_with("250"));
        assert!(client.cmd("DATA").await.starts_with("354"));
        client.send(message(1 << 20) + ".\r\n").await;
        assert_eq!(
            client.reply().await,
            "421 4.3.0 Local error, closing connection",
            "{from}"
        );
        client.expect_eof().await;
        // Another connection is served as before.
        let mut other = Client::connect(server.addr).await;
        other.hello().await;
        assert_eq!(
            send_message(&mut other, "fine\r\n").await,
            "250 2.0.0 Message accepted"
        );
        assert_eq!(other.cmd("QUIT").await.get(..3), Some("221"));
    }
    server.stop().await;
}

/// Reads the body, then never answers.
#[derive(Clone)]
struct NeverAnswers;

impl Handler for NeverAnswers {
    async fn data(&mut self, body: Body) -> Result<Decision, Error> {
        body.to_bytes().await?;
        std::future::pending().await
    }
}

#[tokio::test]
async fn the_shutdown_deadline_ends_a_handler_that_never_answers() {
    let builder = Server::builder().shutdown_timeout(Duration::from_millis(200));
    let mut server = Running::start(builder, NeverAnswers).await;
    let mut client = Client::connect(server.addr).await;
    client.hello().await;
    client.cmd("MAIL FROM:<a@client.example>").await;
    client.cmd("RCPT TO:<b@server.example>").await;
    assert!(client.cmd("DATA").await.starts_with("354"));
    client.send(message(8000) + ".\r\n").await;
    server.shutdown();
    let bye = client.reply().await;
    assert!(bye.starts_with("421 4.3.0"), "{bye}");
    client.expect_eof().await;
    server.stop().await;
}

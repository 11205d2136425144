//! LMTP (RFC 2033) over TCP and over a Unix-domain socket: scripted transcripts after the
//! RFC's section 4.2 example (one reply per accepted recipient after the message, in RCPT
//! order), the default per-message verdict, a wrong number of verdicts, and Python's
//! `smtplib.LMTP` as a real client over the Unix socket.
//!
//! The Python test needs python3: it prints SKIPPED and passes when python3 is missing,
//! except under CI (`CI=true`), where it fails.
#![cfg(unix)]

mod common;

use common::{within, Client, Running};
use smtp_tokio::proto::address::ForwardPath;
use smtp_tokio::proto::params::RcptParams;
use smtp_tokio::{Body, Config, Decision, Error, Handler, Protocol, Reply, Server};
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::UnixListener;
use tokio::sync::mpsc;

/// Mailboxes: `jones` does not exist (refused at RCPT), `green` is over quota (refused after
/// the message), everyone else gets it. Reports each delivery.
#[derive(Clone)]
struct Mailboxes {
    to: Vec<String>,
    delivered: mpsc::UnboundedSender<(String, Vec<u8>)>,
    /// Give one verdict too many (a handler bug the server must contain).
    miscount: bool,
}

impl Handler for Mailboxes {
    async fn rcpt(&mut self, to: &ForwardPath, _: &RcptParams) -> Result<Decision, Error> {
        let to = to.to_string();
        if to.starts_with("<jones@") {
            return Ok(Decision::Reject(Reply::new(
                550,
                Some("5.1.1".parse()?),
                "No such user here",
            )?));
        }
        self.to.push(to);
        Ok(Decision::Accept)
    }

    async fn lmtp_data(&mut self, body: Body) -> Result<Vec<Decision>, Error> {
        let message = body.to_bytes().await?.to_vec();
        let mut verdicts = Vec::new();
        for to in std::mem::take(&mut self.to) {
            if to.starts_with("<green@") {
                let text = format!("{to} is temporarily over quota");
                verdicts.push(Decision::Reject(Reply::new(
                    452,
                    Some("4.2.2".parse()?),
                    text,
                )?));
            } else {
                let _ = self.delivered.send((to, message.clone()));
                verdicts.push(Decision::Accept);
            }
        }
        if self.miscount {
            verdicts.push(Decision::Accept);
        }
        Ok(verdicts)
    }

    async fn reset(&mut self) {
        self.to.clear();
    }
}

fn lmtp_config() -> Config {
    let mut config = Config::new("foo.edu");
    config.protocol = Protocol::Lmtp;
    config
}

fn socket_path(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("smtp-tokio-{}-{name}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// A server on TCP and on a Unix socket, speaking LMTP.
async fn start<H: Handler + Clone>(handler: H, name: &str) -> (Running, PathBuf) {
    let path = socket_path(name);
    let unix = UnixListener::bind(&path).unwrap();
    let builder = Server::builder().config(lmtp_config()).unix_listener(unix);
    (Running::start(builder, handler).await, path)
}

/// RFC 2033 section 4.2, with the server's own reply texts.
async fn rfc2033_transcript<S: AsyncRead + AsyncWrite + Unpin>(
    client: &mut Client<S>,
    delivered: &mut mpsc::UnboundedReceiver<(String, Vec<u8>)>,
) {
    let greeting = client.reply().await;
    assert!(greeting.starts_with("220 foo.edu"), "{greeting}");
    // LMTP has no HELO/EHLO (RFC 2033 section 4.1).
    assert!(client.cmd("EHLO bar.com").await.starts_with("500"));
    let lhlo = client.cmd("LHLO bar.com").await;
    assert!(lhlo.starts_with("250-foo.edu"), "{lhlo}");
    assert!(lhlo.contains("PIPELINING"), "{lhlo}");
    assert!(client
        .cmd("MAIL FROM:<chris@bar.com>")
        .await
        .starts_with("250"));
    assert!(client.cmd("RCPT TO:<pat@foo.edu>").await.starts_with("250"));
    assert!(client
        .cmd("RCPT TO:<jones@foo.edu>")
        .await
        .starts_with("550 5.1.1"));
    assert!(client
        .cmd("RCPT TO:<green@foo.edu>")
        .await
        .starts_with("250"));
    assert!(client.cmd("DATA").await.starts_with("354"));
    client
        .send("Blah blah blah...\r\n...etc. etc. etc.\r\n.\r\n")
        .await;
    // One reply per accepted recipient, in RCPT order.
    assert!(client.reply().await.starts_with("250"));
    assert_eq!(
        client.reply().await,
        "452 4.2.2 <green@foo.edu> is temporarily over quota"
    );
    let (to, body) = within("delivery", delivered.recv()).await.unwrap();
    assert_eq!(to, "<pat@foo.edu>");
    assert_eq!(body, b"Blah blah blah...\r\n..etc. etc. etc.\r\n");
    // The session goes on: a second transaction, pipelined.
    client
        .send("MAIL FROM:<>\r\nRCPT TO:<green@foo.edu>\r\nRCPT TO:<a@foo.edu>\r\nRCPT TO:<b@foo.edu>\r\nDATA\r\n")
        .await;
    for _ in 0..5 {
        assert!(client.reply().await.starts_with(['2', '3']));
    }
    client.send("x\r\n.\r\n").await;
    assert!(client.reply().await.starts_with("452"));
    assert!(client.reply().await.starts_with("250"));
    assert!(client.reply().await.starts_with("250"));
    assert_eq!(client.cmd("QUIT").await, "221 2.0.0 Bye");
    client.expect_eof().await;
}

fn mailboxes(miscount: bool) -> (Mailboxes, mpsc::UnboundedReceiver<(String, Vec<u8>)>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let handler = Mailboxes {
        to: Vec::new(),
        delivered: tx,
        miscount,
    };
    (handler, rx)
}

#[tokio::test]
async fn rfc2033_transcript_over_tcp() {
    let (handler, mut delivered) = mailboxes(false);
    let (server, path) = start(handler, "tcp").await;
    let mut client = Client::connect(server.addr).await;
    rfc2033_transcript(&mut client, &mut delivered).await;
    server.stop().await;
    let _ = std::fs::remove_file(path);
}

#[tokio::test]
async fn rfc2033_transcript_over_a_unix_socket() {
    let (handler, mut delivered) = mailboxes(false);
    let (server, path) = start(handler, "unix").await;
    let unix = within("connect", tokio::net::UnixStream::connect(&path))
        .await
        .unwrap();
    let mut client = Client::new(unix);
    rfc2033_transcript(&mut client, &mut delivered).await;
    server.stop().await;
    let _ = std::fs::remove_file(path);
}

/// A handler without `lmtp_data`: its `data` decision answers every recipient.
#[derive(Clone)]
struct Plain;

impl Handler for Plain {
    async fn data(&mut self, body: Body) -> Result<Decision, Error> {
        let body = body.to_bytes().await?;
        if body.starts_with(b"defer") {
            return Ok(Decision::Reject(Reply::new(
                451,
                Some("4.3.0".parse()?),
                "Later",
            )?));
        }
        Ok(Decision::Accept)
    }
}

#[tokio::test]
async fn default_verdict_answers_every_recipient() {
    let (server, path) = start(Plain, "plain").await;
    let unix = tokio::net::UnixStream::connect(&path).await.unwrap();
    let mut client = Client::new(unix);
    assert!(client.reply().await.starts_with("220"));
    assert!(client.cmd("LHLO x").await.starts_with("250"));
    for (body, code) in [("ok\r\n", "250"), ("defer\r\n", "451 4.3.0 Later")] {
        assert!(client.cmd("MAIL FROM:<a@x>").await.starts_with("250"));
        for rcpt in ["<a@y>", "<b@y>", "<c@y>"] {
            assert!(client
                .cmd(&format!("RCPT TO:{rcpt}"))
                .await
                .starts_with("250"));
        }
        assert!(client.cmd("DATA").await.starts_with("354"));
        client.send(format!("{body}.\r\n")).await;
        for _ in 0..3 {
            let reply = client.reply().await;
            assert!(reply.starts_with(code), "{reply}");
        }
    }
    assert_eq!(client.cmd("NOOP").await, "250 2.0.0 OK");
    server.stop().await;
    let _ = std::fs::remove_file(path);
}

#[tokio::test]
async fn wrong_number_of_verdicts_fails_every_recipient() {
    let (handler, _delivered) = mailboxes(true);
    let (server, path) = start(handler, "miscount").await;
    let mut client = Client::connect(server.addr).await;
    assert!(client.reply().await.starts_with("220"));
    assert!(client.cmd("LHLO x").await.starts_with("250"));
    assert!(client.cmd("MAIL FROM:<a@x>").await.starts_with("250"));
    assert!(client.cmd("RCPT TO:<a@y>").await.starts_with("250"));
    assert!(client.cmd("RCPT TO:<b@y>").await.starts_with("250"));
    assert!(client.cmd("DATA").await.starts_with("354"));
    client.send("x\r\n.\r\n").await;
    assert!(client.reply().await.starts_with("554 5.3.0"));
    assert!(client.reply().await.starts_with("554 5.3.0"));
    assert_eq!(client.cmd("QUIT").await, "221 2.0.0 Bye");
    server.stop().await;
    let _ = std::fs::remove_file(path);
}

fn python3() -> Option<&'static str> {
    let found = std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("python3 is missing and CI=true");
        }
        println!("SKIPPED: python3 is not installed");
        return None;
    }
    Some("python3")
}

#[tokio::test]
async fn python_smtplib_lmtp_over_a_unix_socket() {
    let Some(python) = python3() else { return };
    let (handler, mut delivered) = mailboxes(false);
    let (server, path) = start(handler, "python").await;
    let script = r#"
import smtplib, sys
lmtp = smtplib.LMTP(sys.argv[1], timeout=20)
lmtp.ehlo("client.example")  # sends LHLO
refused = lmtp.sendmail("chris@bar.com", ["pat@foo.edu", "jones@foo.edu"],
                        "Subject: from python\r\n\r\nhello over LMTP\r\n")
assert list(refused) == ["jones@foo.edu"], refused
lmtp.quit()
print("sent")
"#;
    let child = tokio::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(&path)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(30), child)
        .await
        .expect("python finished")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "python failed: {stderr}");
    let (to, body) = within("delivery", delivered.recv()).await.unwrap();
    assert_eq!(to, "<pat@foo.edu>");
    assert_eq!(body, b"Subject: from python\r\n\r\nhello over LMTP\r\n");
    server.stop().await;
    let _ = std::fs::remove_file(path);
}

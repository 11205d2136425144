//! A 100 MB message streams through with bounded memory: the handler sees the first chunk
//! before the client has finished sending, and the process's peak memory stays far below
//! the message size. (Alone in its test binary, so that the peak is this test's.)

mod common;

use common::{within, Client, Running};
use smtp_tokio::{Body, Decision, Error, Handler, Server};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

const TOTAL: usize = 100 << 20;

#[derive(Clone)]
struct Count {
    first: mpsc::UnboundedSender<bool>,
    client_done: Arc<AtomicBool>,
    octets: Arc<AtomicUsize>,
}

impl Handler for Count {
    async fn data(&mut self, mut body: Body) -> Result<Decision, Error> {
        let mut first = true;
        while let Some(chunk) = body.chunk().await? {
            if std::mem::take(&mut first) {
                let _ = self.first.send(self.client_done.load(Ordering::SeqCst));
            }
            self.octets.fetch_add(chunk.len(), Ordering::Relaxed);
        }
        Ok(Decision::Accept)
    }
}

/// Peak resident memory of this process in KiB (Linux), if known.
fn peak_rss_kib() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn rss_kib() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100_mb_message_streams_with_bounded_memory() {
    let (first_tx, mut first_rx) = mpsc::unbounded_channel();
    let client_done = Arc::new(AtomicBool::new(false));
    let octets = Arc::new(AtomicUsize::new(0));
    let handler = Count {
        first: first_tx,
        client_done: Arc::clone(&client_done),
        octets: Arc::clone(&octets),
    };
    let server = Running::start(Server::builder().max_message_size(0), handler).await;
    let mut client = Client::connect(server.addr).await;
    client.hello().await;
    client.cmd("MAIL FROM:<a@client.example>").await;
    client.cmd("RCPT TO:<b@server.example>").await;
    assert!(client.cmd("DATA").await.starts_with("354"));
    let before = rss_kib();

    let mut io = client.io;
    let sender = {
        let client_done = Arc::clone(&client_done);
        tokio::spawn(async move {
            // Lines of 1000 octets, generated as we go: the message never exists in memory.
            let block: Vec<u8> = (b'a'..=b'z')
                .cycle()
                .take(998)
                .chain(*b"\r\n")
                .cycle()
                .take(100_000)
                .collect();
            for _ in 0..TOTAL / block.len() {
                io.get_mut().write_all(&block).await.unwrap();
            }
            io.get_mut().write_all(b".\r\n").await.unwrap();
            client_done.store(true, Ordering::SeqCst);
            io
        })
    };
    let done_at_first_chunk = within("first chunk", first_rx.recv()).await.unwrap();
    assert!(
        !done_at_first_chunk,
        "the handler saw the body only after the client had sent it all"
    );
    let io = within("sending 100 MB", sender).await.unwrap();
    let mut client = Client { io };
    assert_eq!(client.reply().await, "250 2.0.0 Message accepted");
    assert_eq!(octets.load(Ordering::Relaxed), TOTAL / 100_000 * 100_000);
    assert_eq!(client.cmd("QUIT").await, "221 2.0.0 Bye");

    match (before, peak_rss_kib()) {
        (Some(before), Some(peak)) => {
            let grew = peak.saturating_sub(before);
            println!("resident memory: {before} KiB before the body, peak {peak} KiB");
            assert!(
                grew < 32 << 10,
                "memory grew by {grew} KiB for a 100 MB message"
            );
        }
        _ => println!("no /proc/self/status: memory bound not measured on this platform"),
    }
    server.stop().await;
}

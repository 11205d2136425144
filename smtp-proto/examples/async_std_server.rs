//! The core over a transport of your own: a small SMTP sink on async-std sockets, with no
//! adapter crate. (async-std is discontinued upstream in favour of `smol`; both share the
//! `futures-io` traits, so this code ports by changing the imports.)
//!
//! Run: `cargo run -p smtp-proto --example async_std_server -- 127.0.0.1:2526`, then send mail
//! to it; it prints each message's envelope and size.

use async_std::io::{ReadExt, WriteExt};
use async_std::net::{TcpListener, TcpStream};
use smtp_proto::{Config, Decision, Event, Session};
use std::sync::Arc;

/// What one connection delivered: (sender, recipients, body) per accepted message.
type Delivered = Vec<(String, Vec<String>, Vec<u8>)>;

/// Drives one session over one connection, in the order `Session` documents.
async fn serve_connection(
    mut stream: TcpStream,
    config: Arc<Config>,
) -> std::io::Result<Delivered> {
    let mut session = Session::new(config);
    let mut buf = vec![0u8; 16 * 1024];
    let (mut from, mut rcpts, mut body, mut delivered) =
        (String::new(), Vec::new(), Vec::new(), Vec::new());
    loop {
        while let Some(event) = session.poll_event() {
            let decision = match &event {
                Event::MailFrom { from: f, .. } => {
                    (from, rcpts) = (f.to_string(), Vec::new());
                    Some(Decision::Accept)
                }
                Event::RcptTo { to, .. } => {
                    rcpts.push(to.to_string());
                    Some(Decision::Accept)
                }
                Event::DataStart => {
                    body.clear();
                    None
                }
                Event::DataChunk(bytes) => {
                    body.extend_from_slice(bytes);
                    None
                }
                Event::DataEnd { .. } => {
                    delivered.push((from.clone(), rcpts.clone(), std::mem::take(&mut body)));
                    Some(Decision::Accept)
                }
                // STARTTLS is not offered (TlsPolicy::Disabled), so StartTls never comes.
                e if e.needs_decision() => Some(Decision::Accept),
                _ => None,
            };
            if let Some(d) = decision {
                session.decide(d).expect("a decision was pending");
            }
        }
        while let Some(bytes) = session.poll_transmit() {
            stream.write_all(&bytes).await?;
        }
        if session.is_closed() {
            return Ok(delivered);
        }
        if !session.wants_read() {
            continue; // replies were capped: more buffered commands to parse first
        }
        let Some(timeout) = session.poll_timeout() else {
            return Ok(delivered);
        };
        match async_std::io::timeout(timeout.after, stream.read(&mut buf)).await {
            Ok(0) => session.handle_eof(),
            Ok(n) => session.handle_input(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                session.handle_timeout(timeout.kind)
            }
            Err(e) => return Err(e),
        }
    }
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:2526".into());
    async_std::task::block_on(async {
        let listener = TcpListener::bind(&addr).await?;
        println!("listening on {}", listener.local_addr()?);
        let config = Arc::new(Config::new("localhost"));
        loop {
            let (stream, peer) = listener.accept().await?;
            let config = Arc::clone(&config);
            async_std::task::spawn(async move {
                match serve_connection(stream, config).await {
                    Ok(messages) => {
                        for (from, to, body) in messages {
                            println!(
                                "{peer}: {from} -> {} ({} octets)",
                                to.join(", "),
                                body.len()
                            );
                        }
                    }
                    Err(e) => eprintln!("{peer}: {e}"),
                }
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real socket on 127.0.0.1: a pipelined client, then the stored message is checked.
    #[test]
    fn delivers_a_message_over_async_std_sockets() {
        async_std::task::block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server = async_std::task::spawn(async move {
                let (stream, _) = listener.accept().await.unwrap();
                serve_connection(stream, Arc::new(Config::new("test.example"))).await
            });
            let mut client = TcpStream::connect(addr).await.unwrap();
            client
                .write_all(
                    b"EHLO c.example\r\nMAIL FROM:<a@c.example>\r\nRCPT TO:<b@test.example>\r\n\
DATA\r\nSubject: x\r\n\r\n..dot\r\n.\r\nQUIT\r\n",
                )
                .await
                .unwrap();
            let mut replies = String::new();
            let read = client.read_to_string(&mut replies);
            async_std::future::timeout(std::time::Duration::from_secs(10), read)
                .await
                .expect("the server answers and closes")
                .unwrap();
            assert!(replies.starts_with("220 test.example ESMTP"), "{replies}");
            assert!(
                replies.ends_with("250 2.0.0 Message accepted\r\n221 2.0.0 Bye\r\n"),
                "{replies}"
            );
            let delivered = server.await.unwrap();
            assert_eq!(
                delivered,
                vec![(
                    "<a@c.example>".to_string(),
                    vec!["<b@test.example>".to_string()],
                    b"Subject: x\r\n\r\n.dot\r\n".to_vec()
                )]
            );
        });
    }
}

//! smtp-load against the floor sink and against a server that refuses: fast, no timing.

use smtp_benches::floor;
use smtp_benches::load::{self, LoadConfig};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

/// The tokio floor on a free port, served by a runtime on its own thread.
fn floor_tokio() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let _ = floor::serve_tokio(listener).await;
        });
    });
    addr
}

fn floor_threads() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || floor::serve_threads(listener));
    addr
}

fn config(addr: SocketAddr, pipelining: bool, size: u64) -> LoadConfig {
    let mut config = LoadConfig::new(addr);
    config.connections = 3;
    config.messages = 31;
    config.per_connection = 4;
    config.size = size;
    config.pipelining = pipelining;
    config.timeout = Duration::from_secs(10);
    config
}

#[test]
fn every_message_is_answered_by_both_floors() {
    for addr in [floor_tokio(), floor_threads()] {
        for pipelining in [false, true] {
            for size in [1024, 100 << 10] {
                let report = load::run(config(addr, pipelining, size)).unwrap();
                assert_eq!(report.messages, 31);
                // 11 + 10 + 10 messages, 4 per connection: 3 + 3 + 3 connections.
                assert_eq!(report.connections, 9);
                assert_eq!(report.latencies.len(), 31);
                assert_eq!(report.setups.len(), 9);
            }
        }
    }
}

#[test]
fn idle_connections_are_greeted() {
    let (open, error) = load::open_idle(floor_tokio(), 50, 20, Duration::from_secs(10));
    assert!(error.is_none());
    assert_eq!(open.len(), 50);
}

/// Greets and accepts EHLO and MAIL, then refuses RCPT with `550`.
fn refusing_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for sock in listener.incoming() {
            let Ok(mut sock) = sock else { return };
            let mut reader = BufReader::new(sock.try_clone().unwrap());
            let _ = sock.write_all(b"220 refuser\r\n");
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 {
                let reply: &[u8] = match &line[..4] {
                    "EHLO" => b"250-refuser\r\n250 PIPELINING\r\n",
                    "RCPT" => b"550 5.1.1 No such user\r\n",
                    _ => b"250 ok\r\n",
                };
                let _ = sock.write_all(reply);
                line.clear();
            }
        }
    });
    addr
}

#[test]
fn an_unexpected_reply_fails_the_run_and_is_quoted() {
    let addr = refusing_server();
    for pipelining in [false, true] {
        let error = load::run(config(addr, pipelining, 1024)).unwrap_err();
        let error = error.to_string();
        assert!(error.contains("550 5.1.1 No such user"), "{error}");
        assert!(error.contains("RCPT"), "{error}");
    }
}

#[test]
fn pipelining_needs_the_server_to_offer_it() {
    // The refusing server offers it; the floor too. A server that does not: one that
    // answers EHLO with a single line.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for sock in listener.incoming() {
            let Ok(mut sock) = sock else { return };
            let mut reader = BufReader::new(sock.try_clone().unwrap());
            let _ = sock.write_all(b"220 plain\r\n");
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = sock.write_all(b"250 plain\r\n");
        }
    });
    let error = load::run(config(addr, true, 1024)).unwrap_err();
    assert!(error.to_string().contains("PIPELINING"), "{error}");
}

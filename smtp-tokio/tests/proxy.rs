//! The PROXY protocol (HAProxy's `proxy-protocol.txt`) over real sockets on 127.0.0.1:
//! byte-level v1 and v2 headers, split and with the first SMTP octets behind them, implicit
//! TLS behind a header, broken headers, untrusted peers, and a real HAProxy in front.
//!
//! The HAProxy tests need the `haproxy` binary (Debian: `apt-get install -y haproxy`). When
//! it is missing they print a SKIPPED line and pass, except under CI (`CI=true`), where they
//! fail.

mod common;

use common::{cert, within, Client, Running, WAIT};
use smtp_tokio::proto::address::ForwardPath;
use smtp_tokio::proto::params::RcptParams;
use smtp_tokio::proto::proxy::{ProxyHeader, V2_SIGNATURE};
use smtp_tokio::{Body, ConnInfo, Decision, Error, Handler, ProxyConfig, Server, TrustedNetworks};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;

/// What a connection's handler saw: its `ConnInfo`, then each message's recipients and body.
#[derive(Debug)]
enum Seen {
    Connect(ConnInfo),
    Message(Vec<String>, Vec<u8>),
}

#[derive(Clone)]
struct Watcher {
    tx: mpsc::UnboundedSender<Seen>,
    to: Vec<String>,
}

impl Handler for Watcher {
    async fn connect(&mut self, info: &ConnInfo) -> Result<Decision, Error> {
        let _ = self.tx.send(Seen::Connect(info.clone()));
        Ok(Decision::Accept)
    }
    async fn rcpt(&mut self, to: &ForwardPath, _: &RcptParams) -> Result<Decision, Error> {
        self.to.push(to.to_string());
        Ok(Decision::Accept)
    }
    async fn data(&mut self, body: Body) -> Result<Decision, Error> {
        let body = body.to_bytes().await?.to_vec();
        let _ = self
            .tx
            .send(Seen::Message(std::mem::take(&mut self.to), body));
        Ok(Decision::Accept)
    }
}

fn watcher() -> (Watcher, mpsc::UnboundedReceiver<Seen>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Watcher { tx, to: Vec::new() }, rx)
}

fn proxy_config(required: bool, timeout: Duration) -> ProxyConfig {
    let mut config = ProxyConfig::default();
    config.required = required;
    config.timeout = timeout;
    config.max_v2_len = 256;
    config
}

/// A server trusting 127.0.0.1 (the tests' proxy) with the PROXY protocol.
async fn start(required: bool, timeout: Duration) -> (Running, mpsc::UnboundedReceiver<Seen>) {
    let trusted: TrustedNetworks = "127.0.0.1/32".parse().unwrap();
    let builder = Server::builder().proxy_protocol(trusted, proxy_config(required, timeout));
    let (handler, rx) = watcher();
    (Running::start(builder, handler).await, rx)
}

async fn connect_info(rx: &mut mpsc::UnboundedReceiver<Seen>) -> ConnInfo {
    match within("connect event", rx.recv()).await {
        Some(Seen::Connect(info)) => info,
        other => panic!("expected a connect, got {other:?}"),
    }
}

async fn message(rx: &mut mpsc::UnboundedReceiver<Seen>) -> (Vec<String>, Vec<u8>) {
    match within("message", rx.recv()).await {
        Some(Seen::Message(to, body)) => (to, body),
        other => panic!("expected a message, got {other:?}"),
    }
}

const CLIENT: &str = "192.0.2.1:56324";
const DEST: &str = "198.51.100.7:25";

#[tokio::test]
async fn v1_header_gives_the_client_address() {
    let (server, mut rx) = start(true, WAIT).await;
    let mut client = Client::connect(server.addr).await;
    let proxy = client.io.get_ref().local_addr().unwrap();
    client
        .send("PROXY TCP4 192.0.2.1 198.51.100.7 56324 25\r\n")
        .await;
    client.hello().await;
    assert!(client
        .mail("Subject: v1\r\n\r\nhi\r\n")
        .await
        .starts_with("250"));
    let info = connect_info(&mut rx).await;
    assert_eq!(info.peer, CLIENT.parse::<SocketAddr>().unwrap());
    assert_eq!(info.local, DEST.parse::<SocketAddr>().unwrap());
    assert_eq!(info.proxy, Some(proxy));
    let (to, body) = message(&mut rx).await;
    assert_eq!(
        (to.len(), &body[..]),
        (1, &b"Subject: v1\r\n\r\nhi\r\n"[..])
    );
    assert_eq!(client.cmd("QUIT").await, "221 2.0.0 Bye");
    server.stop().await;
}

#[tokio::test]
async fn v2_header_with_smtp_behind_it_in_one_write() {
    let v6: SocketAddr = "[2001:db8::1]:4000".parse().unwrap();
    let mut wire = ProxyHeader::v2(v6, "[2001:db8::2]:25".parse().unwrap())
        .with_tlv(0x05, b"conn-42")
        .unwrap()
        .encode()
        .unwrap();
    wire.extend_from_slice(b"EHLO client.example\r\n");
    // The octets after the header reach the session before the greeting: by default an
    // early talker, refused.
    let (server, mut rx) = start(true, WAIT).await;
    let mut client = Client::connect(server.addr).await;
    client.send(&wire).await;
    assert!(client.reply().await.starts_with("554 5.5.1"));
    client.expect_eof().await;
    assert_eq!(connect_info(&mut rx).await.peer, v6);
    server.stop().await;
    // With early talkers allowed, they are the first command.
    let mut config = smtp_tokio::Config::default();
    config.early_talkers = smtp_tokio::proto::EarlyTalkers::Allow;
    let trusted: TrustedNetworks = "127.0.0.1/32".parse().unwrap();
    let builder = Server::builder()
        .config(config)
        .proxy_protocol(trusted, proxy_config(true, WAIT));
    let (handler, mut rx) = watcher();
    let server = Running::start(builder, handler).await;
    let mut client = Client::connect(server.addr).await;
    client.send(&wire).await;
    assert!(client.reply().await.starts_with("220 "));
    assert!(client.reply().await.starts_with("250"));
    assert_eq!(connect_info(&mut rx).await.peer, v6);
    assert!(client.mail("x\r\n").await.starts_with("250"));
    message(&mut rx).await;
    server.stop().await;
}

#[tokio::test]
async fn header_trickled_one_octet_at_a_time() {
    let (server, mut rx) = start(true, WAIT).await;
    let mut client = Client::connect(server.addr).await;
    let wire = ProxyHeader::v2(CLIENT.parse().unwrap(), DEST.parse().unwrap())
        .encode()
        .unwrap();
    for octet in wire.chunks(1) {
        client.send(octet).await;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    client.hello().await;
    assert_eq!(connect_info(&mut rx).await.peer.to_string(), CLIENT);
    server.stop().await;
}

#[tokio::test]
async fn v2_local_and_v1_unknown_keep_the_socket_address() {
    let (server, mut rx) = start(true, WAIT).await;
    for header in [ProxyHeader::v2_local(), ProxyHeader::v1_unknown()] {
        let mut client = Client::connect(server.addr).await;
        let me = client.io.get_ref().local_addr().unwrap();
        client.send(header.encode().unwrap()).await;
        client.hello().await;
        let info = connect_info(&mut rx).await;
        assert_eq!((info.peer, info.proxy), (me, None));
    }
    server.stop().await;
}

/// Sends `bytes` (then maybe closes the write side) and expects the server to close without
/// a word and without asking the handler.
async fn refused(
    server: &Running,
    rx: &mut mpsc::UnboundedReceiver<Seen>,
    bytes: &[u8],
    close: bool,
) {
    let mut tcp = within("connect", TcpStream::connect(server.addr))
        .await
        .unwrap();
    tcp.write_all(bytes).await.unwrap();
    if close {
        tcp.shutdown().await.unwrap();
    }
    let mut rest = Vec::new();
    let _ = within("server closes", tcp.read_to_end(&mut rest)).await;
    assert_eq!(String::from_utf8_lossy(&rest), "", "no reply expected");
    assert!(rx.try_recv().is_err(), "the handler must not hear of it");
}

#[tokio::test]
async fn broken_headers_close_without_a_reply() {
    let (server, mut rx) = start(true, Duration::from_millis(500)).await;
    let v2 = ProxyHeader::v2(CLIENT.parse().unwrap(), DEST.parse().unwrap())
        .encode()
        .unwrap();
    // Truncated: half a v2 header, then EOF; a v1 line without its end, then EOF.
    refused(&server, &mut rx, &v2[..10], true).await;
    refused(&server, &mut rx, b"PROXY TCP4 192.0.2.1 198.51", true).await;
    // Truncated and left open: the header deadline closes it.
    refused(&server, &mut rx, &v2[..20], false).await;
    // Oversized: a v1 line of more than 107 octets, a v2 length above max_v2_len.
    let long = format!("PROXY TCP4 {}\r\n", "1".repeat(120));
    refused(&server, &mut rx, long.as_bytes(), false).await;
    let mut big = V2_SIGNATURE.to_vec();
    big.extend_from_slice(&[0x21, 0x11, 0x04, 0x00]); // length 1024 > 256
    refused(&server, &mut rx, &big, false).await;
    // Not a header at all from a peer that must send one.
    refused(&server, &mut rx, b"EHLO spoofer.example\r\n", false).await;
    // A trusted peer that sends nothing: closed at the deadline, never greeted.
    refused(&server, &mut rx, b"", false).await;
    server.stop().await;
}

#[tokio::test]
async fn optional_header_lets_a_trusted_peer_speak_smtp() {
    let (server, mut rx) = start(false, Duration::from_millis(300)).await;
    // Nothing sent: greeted when the (short) header timeout runs out.
    let mut client = Client::connect(server.addr).await;
    let me = client.io.get_ref().local_addr().unwrap();
    client.hello().await;
    let info = connect_info(&mut rx).await;
    assert_eq!((info.peer, info.proxy), (me, None));
    // And a header is still honoured.
    let mut client = Client::connect(server.addr).await;
    client
        .send("PROXY TCP4 192.0.2.1 198.51.100.7 56324 25\r\n")
        .await;
    client.hello().await;
    assert_eq!(connect_info(&mut rx).await.peer.to_string(), CLIENT);
    server.stop().await;
}

#[tokio::test]
async fn untrusted_peer_header_is_just_bytes() {
    let trusted: TrustedNetworks = "10.0.0.0/8".parse().unwrap();
    let builder = Server::builder().proxy_protocol(trusted, proxy_config(true, WAIT));
    let (handler, mut rx) = watcher();
    let server = Running::start(builder, handler).await;
    let mut client = Client::connect(server.addr).await;
    let me = client.io.get_ref().local_addr().unwrap();
    assert!(client.reply().await.starts_with("220 "));
    let reply = client
        .cmd("PROXY TCP4 192.0.2.1 198.51.100.7 56324 25")
        .await;
    assert!(reply.starts_with("500"), "{reply}");
    let info = connect_info(&mut rx).await;
    assert_eq!((info.peer, info.proxy), (me, None));
    server.stop().await;
}

#[tokio::test]
async fn implicit_tls_behind_a_header() {
    let cert = cert();
    let trusted: TrustedNetworks = "127.0.0.1/32".parse().unwrap();
    let implicit = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let builder = Server::builder()
        .tls(cert.server.clone())
        .implicit_tls_listener(implicit)
        .proxy_protocol(trusted, proxy_config(true, WAIT));
    let (handler, mut rx) = watcher();
    let server = Running::start(builder, handler).await;
    let tcp = within("connect", TcpStream::connect(server.implicit.unwrap()))
        .await
        .unwrap();
    // The header and the ClientHello in one write: the leftover must reach the acceptor.
    let header = ProxyHeader::v1(CLIENT.parse().unwrap(), DEST.parse().unwrap())
        .encode()
        .unwrap();
    let tls = cert
        .handshake(PrefixFirstWrite::new(tcp, header))
        .await
        .unwrap();
    let mut client = Client::new(tls);
    client.hello().await;
    let info = connect_info(&mut rx).await;
    assert_eq!(info.peer.to_string(), CLIENT);
    assert!(info.tls.is_some());
    assert!(client.mail("secret\r\n").await.starts_with("250"));
    message(&mut rx).await;
    server.stop().await;
}

/// A stream that puts `prefix` in front of its first write, in the same segment.
struct PrefixFirstWrite {
    io: TcpStream,
    prefix: Option<Vec<u8>>,
    /// Octets of the first write still to go, and how many of them are the caller's.
    first: Vec<u8>,
}

impl PrefixFirstWrite {
    fn new(io: TcpStream, prefix: Vec<u8>) -> Self {
        PrefixFirstWrite {
            io,
            prefix: Some(prefix),
            first: Vec::new(),
        }
    }
}

impl tokio::io::AsyncRead for PrefixFirstWrite {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for PrefixFirstWrite {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        use std::task::Poll;
        let this = &mut *self;
        if let Some(mut prefix) = this.prefix.take() {
            prefix.extend_from_slice(buf);
            this.first = prefix;
        }
        while !this.first.is_empty() {
            match std::pin::Pin::new(&mut this.io).poll_write(cx, &this.first) {
                Poll::Ready(Ok(n)) => {
                    this.first.drain(..n);
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending if this.first.len() > buf.len() => return Poll::Pending,
                Poll::Pending => return Poll::Ready(Ok(buf.len())),
            }
        }
        if this.first.capacity() > 0 {
            this.first = Vec::new();
            return Poll::Ready(Ok(buf.len()));
        }
        std::pin::Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

// ----- a real HAProxy in front -----

/// The haproxy binary, or `None` after printing SKIPPED (a failure under `CI=true`).
fn haproxy() -> Option<PathBuf> {
    let found = [
        "/usr/sbin/haproxy",
        "/usr/bin/haproxy",
        "/usr/local/sbin/haproxy",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.exists());
    if found.is_none() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("haproxy is not installed (apt-get install -y haproxy) and CI=true");
        }
        println!("SKIPPED: haproxy is not installed (apt-get install -y haproxy)");
    }
    found
}

/// A running haproxy, stopped by PID when dropped.
struct Haproxy {
    child: Child,
    dir: PathBuf,
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill(); // SIGKILL to this child's PID only
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts haproxy in the foreground with one TCP frontend per `send-proxy` variant, all to
/// `backend`; returns it and the frontend ports, once they accept connections.
async fn start_haproxy(
    bin: &PathBuf,
    backend: SocketAddr,
    variants: &[&str],
) -> (Haproxy, Vec<u16>) {
    let dir = std::env::temp_dir().join(format!(
        "smtp-tokio-haproxy-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let mut config = String::from(
        "global\n  maxconn 100\n\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n\n",
    );
    let mut ports = Vec::new();
    for (i, variant) in variants.iter().enumerate() {
        let port = free_port();
        ports.push(port);
        config.push_str(&format!(
            "frontend f{i}\n  bind 127.0.0.1:{port}\n  default_backend b{i}\n\nbackend b{i}\n  server s{i} {backend} {variant}\n\n"
        ));
    }
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, config).unwrap();
    let child = Command::new(bin)
        .arg("-db") // foreground, no daemon: the PID is the child's
        .arg("-f")
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let haproxy = Haproxy { child, dir };
    for &port in &ports {
        within("haproxy listening", async {
            while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
    }
    (haproxy, ports)
}

#[tokio::test]
async fn real_haproxy_send_proxy_v1_and_v2() {
    let Some(bin) = haproxy() else { return };
    let (server, mut rx) = start(true, Duration::from_secs(5)).await;
    let (haproxy, ports) = start_haproxy(&bin, server.addr, &["send-proxy", "send-proxy-v2"]).await;
    // The readiness probes above went through haproxy too: each gave the server a header
    // and an EOF. Let them settle, then forget what the handler heard of them.
    tokio::time::sleep(Duration::from_millis(200)).await;
    while rx.try_recv().is_ok() {}
    for port in ports {
        // The client comes from 127.0.0.2, the proxy from 127.0.0.1: the server must see
        // the client's.
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        let me = socket.local_addr().unwrap();
        let tcp = within(
            "connect via haproxy",
            socket.connect(([127, 0, 0, 1], port).into()),
        )
        .await
        .unwrap();
        let mut client = Client::new(tcp);
        client.hello().await;
        let body = format!("Subject: via haproxy port {port}\r\n\r\nhello\r\n");
        assert!(client.mail(&body).await.starts_with("250"));
        assert_eq!(client.cmd("QUIT").await, "221 2.0.0 Bye");
        let info = loop {
            let info = connect_info(&mut rx).await;
            if info.peer.ip() == me.ip() {
                break info; // (a late probe may still come first)
            }
        };
        assert_eq!(info.peer, me, "the handler sees the real client address");
        assert_eq!(info.proxy.unwrap().ip().to_string(), "127.0.0.1");
        assert_eq!(
            info.local.port(),
            port,
            "the address the client connected to"
        );
        let (_, got) = message(&mut rx).await;
        assert_eq!(got, body.as_bytes());
    }
    drop(haproxy);
    server.stop().await;
}

#[tokio::test]
async fn shutdown_while_waiting_for_a_header_closes_without_a_word() {
    let trusted: TrustedNetworks = "127.0.0.1/32".parse().unwrap();
    let builder = Server::builder()
        .proxy_protocol(trusted, proxy_config(true, WAIT))
        .shutdown_timeout(Duration::from_millis(100));
    let (handler, mut rx) = watcher();
    let mut server = Running::start(builder, handler).await;
    let mut tcp = within("connect", TcpStream::connect(server.addr))
        .await
        .unwrap();
    tcp.write_all(b"PROXY TCP4 ").await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    server.shutdown();
    let mut rest = Vec::new();
    let _ = within("server closes", tcp.read_to_end(&mut rest)).await;
    assert_eq!(String::from_utf8_lossy(&rest), "", "no greeting, no 421");
    assert!(rx.try_recv().is_err());
    server.stop().await;
}

#[tokio::test]
async fn real_haproxy_in_front_of_implicit_tls() {
    let Some(bin) = haproxy() else { return };
    let cert = cert();
    let trusted: TrustedNetworks = "127.0.0.1/32".parse().unwrap();
    let implicit = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let builder = Server::builder()
        .tls(cert.server.clone())
        .implicit_tls_listener(implicit)
        .proxy_protocol(trusted, proxy_config(true, Duration::from_secs(5)));
    let (handler, mut rx) = watcher();
    let server = Running::start(builder, handler).await;
    // TCP mode: haproxy passes the TLS bytes through, after its v2 header.
    let (haproxy, ports) = start_haproxy(&bin, server.implicit.unwrap(), &["send-proxy-v2"]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    while rx.try_recv().is_ok() {}
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let me = socket.local_addr().unwrap();
    let tcp = within(
        "connect via haproxy",
        socket.connect(([127, 0, 0, 1], ports[0]).into()),
    )
    .await
    .unwrap();
    let mut client = Client::new(cert.handshake(tcp).await.unwrap());
    client.hello().await;
    assert!(client.mail("over TLS\r\n").await.starts_with("250"));
    let info = loop {
        let info = connect_info(&mut rx).await;
        if info.peer.ip() == me.ip() {
            break info;
        }
    };
    assert_eq!(info.peer, me);
    assert!(info.tls.is_some());
    assert_eq!(message(&mut rx).await.1, b"over TLS\r\n");
    drop(haproxy);
    server.stop().await;
}

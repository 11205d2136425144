//! Test helpers: certificates made here, a line-oriented raw client, a recording handler,
//! and a server started on 127.0.0.1 with a shutdown trigger. Every wait is bounded.
#![allow(dead_code)]

use smtp_tokio::proto::address::{ForwardPath, ReversePath};
use smtp_tokio::proto::params::{MailParams, RcptParams};
use smtp_tokio::rustls::{self, pki_types::CertificateDer};
use smtp_tokio::{Body, Builder, ConnInfo, Decision, Error, Handler, TlsInfo};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// The bound on every client action in the tests.
pub const WAIT: Duration = Duration::from_secs(20);

/// Runs `f`, failing the test if it takes longer than [`WAIT`].
pub async fn within<F: Future>(what: &str, f: F) -> F::Output {
    match tokio::time::timeout(WAIT, f).await {
        Ok(out) => out,
        Err(_) => panic!("timed out: {what}"),
    }
}

/// A certificate for `localhost`, made now, as the server and the clients need it.
pub struct TestCert {
    pub der: CertificateDer<'static>,
    pub pem: String,
    pub server: Arc<rustls::ServerConfig>,
}

pub fn cert() -> TestCert {
    let c = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::try_from(c.signing_key.serialize_der()).unwrap();
    let server = smtp_tokio::tls::server_config(vec![c.cert.der().clone()], key).unwrap();
    TestCert {
        der: c.cert.der().clone(),
        pem: c.cert.pem(),
        server,
    }
}

impl TestCert {
    /// A TLS client that trusts this certificate.
    pub fn connector(&self) -> tokio_rustls::TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.der.clone()).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }

    /// The TLS handshake as a client, on a stream whose SMTP greeting (or 220 to STARTTLS)
    /// has been read.
    pub async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        io: S,
    ) -> std::io::Result<tokio_rustls::client::TlsStream<S>> {
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        within("TLS handshake", self.connector().connect(name, io)).await
    }
}

/// A raw SMTP client: send bytes, read whole replies.
pub struct Client<S> {
    pub io: BufReader<S>,
}

impl Client<TcpStream> {
    pub async fn connect(addr: SocketAddr) -> Client<TcpStream> {
        let tcp = within("connect", TcpStream::connect(addr)).await.unwrap();
        Client::new(tcp)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    pub fn new(io: S) -> Client<S> {
        Client {
            io: BufReader::new(io),
        }
    }

    /// One reply, all its lines, CRLF removed and joined with `\n`. Empty at EOF.
    pub async fn reply(&mut self) -> String {
        let mut reply = String::new();
        loop {
            let mut line = String::new();
            let n = within("reply", self.io.read_line(&mut line)).await.unwrap();
            if n == 0 {
                return reply;
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if !reply.is_empty() {
                reply.push('\n');
            }
            reply.push_str(line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return reply;
            }
        }
    }

    pub async fn send(&mut self, bytes: impl AsRef<[u8]>) {
        let io = self.io.get_mut();
        within("send", io.write_all(bytes.as_ref())).await.unwrap();
        within("flush", io.flush()).await.unwrap();
    }

    /// Sends one command line (CRLF added) and reads its reply.
    pub async fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n")).await;
        self.reply().await
    }

    /// Reads the greeting and says EHLO.
    pub async fn hello(&mut self) {
        let greeting = self.reply().await;
        assert!(greeting.starts_with("220 "), "{greeting}");
        let ehlo = self.cmd("EHLO client.example").await;
        assert!(ehlo.starts_with("250"), "{ehlo}");
    }

    /// MAIL, RCPT, DATA, the body and the dot: the reply to the dot.
    pub async fn mail(&mut self, body: &str) -> String {
        assert_eq!(
            self.cmd("MAIL FROM:<a@client.example>").await,
            "250 2.1.0 Sender OK"
        );
        assert_eq!(
            self.cmd("RCPT TO:<b@server.example>").await,
            "250 2.1.5 Recipient OK"
        );
        assert!(self.cmd("DATA").await.starts_with("354"));
        self.send(format!("{body}.\r\n")).await;
        self.reply().await
    }

    /// Waits for the server to close the connection; panics on anything else it sends.
    pub async fn expect_eof(&mut self) {
        let rest = self.reply().await;
        assert_eq!(rest, "", "expected the connection to close");
    }
}

/// A message as the [`Recorder`] saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub helo: String,
    pub from: String,
    pub to: Vec<String>,
    pub body: Vec<u8>,
    pub tls: Option<TlsInfo>,
}

/// A handler that accepts everything and reports each complete message.
#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::UnboundedSender<Seen>,
    seen: Seen,
}

impl Recorder {
    pub fn new() -> (Recorder, mpsc::UnboundedReceiver<Seen>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let seen = Seen {
            helo: String::new(),
            from: String::new(),
            to: Vec::new(),
            body: Vec::new(),
            tls: None,
        };
        (Recorder { tx, seen }, rx)
    }
}

impl Handler for Recorder {
    async fn connect(&mut self, info: &ConnInfo) -> Result<Decision, Error> {
        self.seen.tls = info.tls.clone();
        Ok(Decision::Accept)
    }
    async fn helo(&mut self, domain: &str, _: bool) -> Result<Decision, Error> {
        self.seen.helo = domain.to_owned();
        Ok(Decision::Accept)
    }
    async fn tls(&mut self, info: &TlsInfo) {
        self.seen.tls = Some(info.clone());
    }
    async fn mail(&mut self, from: &ReversePath, _: &MailParams) -> Result<Decision, Error> {
        self.seen.from = from.to_string();
        Ok(Decision::Accept)
    }
    async fn rcpt(&mut self, to: &ForwardPath, _: &RcptParams) -> Result<Decision, Error> {
        self.seen.to.push(to.to_string());
        Ok(Decision::Accept)
    }
    async fn data(&mut self, body: Body) -> Result<Decision, Error> {
        let mut seen = self.seen.clone();
        self.seen.to.clear();
        seen.body = body.to_bytes().await?.to_vec();
        let _ = self.tx.send(seen);
        Ok(Decision::Accept)
    }
    async fn reset(&mut self) {
        self.seen.to.clear();
    }
}

/// A running server: its addresses, a shutdown trigger and the serve task.
pub struct Running {
    pub addr: SocketAddr,
    pub implicit: Option<SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    pub task: JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Starts `builder` (with a listener on 127.0.0.1 added) serving `handler`.
    pub async fn start<H: Handler + Clone>(builder: Builder, handler: H) -> Running {
        let server = builder
            .bind("127.0.0.1:0".parse().unwrap())
            .build()
            .await
            .unwrap();
        let addr = server.local_addr().unwrap();
        let implicit = server.implicit_tls_local_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.serve_with_shutdown(handler, async {
            let _ = stopped.await;
        }));
        Running {
            addr,
            implicit,
            stop: Some(stop),
            task,
        }
    }

    /// Starts graceful shutdown.
    pub fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Starts graceful shutdown and waits for the server to return.
    pub async fn stop(mut self) {
        self.shutdown();
        within("server shutdown", &mut self.task)
            .await
            .unwrap()
            .unwrap();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

//! A development mail catcher: every accepted message lands in a Maildir.
//!
//! ```text
//! cargo run --release -p smtp-tokio --example smtpd -- --help
//! ```
//!
//! Listens on 127.0.0.1:2525 and stores each message in `./maildir/new/`, with `Return-Path`
//! and `Received` fields in front (RFC 5321 section 4.4). The `250` after the message comes
//! only once the file is durable (written to `tmp/`, fsynced, renamed into `new/`, folder
//! fsynced); a message that cannot be stored is answered `451`. Ctrl-C (or SIGTERM) shuts
//! down gracefully.

use bytes::BytesMut;
use smtp_catcher::{
    protocol, trace_headers, Args, Delivery, Maildir, Parser, RecipientPolicy, Trace,
};
use smtp_tokio::proto::address::{ForwardPath, ReversePath};
use smtp_tokio::proto::params::{MailParams, RcptParams};
use smtp_tokio::{Body, ConnInfo, Decision, Error, Handler, Reply, Server, TlsInfo};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tracing::{error, info};

/// Body bytes gathered before each write to the file (the writes run on the blocking pool).
const WRITE_BATCH: usize = 256 << 10;

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(args.log_filter()));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Error> {
    let mut builder = Server::builder()
        .config(args.config())
        .bind(args.listen)
        .shutdown_timeout(Duration::from_secs(10));
    if let Some(tls) = args.tls_config()? {
        builder = builder.tls(tls).require_tls(args.require_tls);
        if let Some(addr) = args.implicit_tls_listen {
            builder = builder.implicit_tls_bind(addr);
        }
        if args.self_signed {
            info!("TLS with a self-signed certificate: clients must not verify it");
        }
    }
    let server = builder.build().await?;
    let maildir = match args.discard {
        true => None,
        false => Some(Maildir::open(&args.maildir)?),
    };
    match &maildir {
        Some(m) => info!(maildir = %m.path().display(), "storing messages"),
        None => info!("--discard: messages are accepted and thrown away"),
    }
    if let Some(addr) = server.local_addr() {
        info!(%addr, "listening for SMTP");
    }
    if let Some(addr) = server.implicit_tls_local_addr() {
        info!(%addr, "listening for SMTP over implicit TLS");
    }
    let catcher = Catcher {
        shared: Arc::new(Shared {
            maildir,
            policy: args.policy(),
            hostname: args.hostname.clone(),
        }),
        peer: None,
        helo: String::new(),
        esmtp: false,
        tls: None,
        from: ReversePath::Null,
        to: Vec::new(),
    };
    server
        .serve_with_shutdown(catcher, shutdown_signal())
        .await?;
    info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

struct Shared {
    maildir: Option<Maildir>,
    policy: RecipientPolicy,
    hostname: String,
}

/// One per connection: the envelope so far.
#[derive(Clone)]
struct Catcher {
    shared: Arc<Shared>,
    peer: Option<ConnInfo>,
    helo: String,
    esmtp: bool,
    tls: Option<TlsInfo>,
    from: ReversePath,
    to: Vec<ForwardPath>,
}

impl Handler for Catcher {
    async fn connect(&mut self, info: &ConnInfo) -> Result<Decision, Error> {
        self.tls = info.tls.clone();
        self.peer = Some(info.clone());
        Ok(Decision::Accept)
    }

    async fn helo(&mut self, domain: &str, esmtp: bool) -> Result<Decision, Error> {
        self.helo = domain.to_owned();
        self.esmtp = esmtp;
        Ok(Decision::Accept)
    }

    async fn tls(&mut self, info: &TlsInfo) {
        self.tls = Some(info.clone());
    }

    async fn mail(&mut self, from: &ReversePath, _: &MailParams) -> Result<Decision, Error> {
        self.from = from.clone();
        self.to.clear();
        Ok(Decision::Accept)
    }

    async fn rcpt(&mut self, to: &ForwardPath, _: &RcptParams) -> Result<Decision, Error> {
        let address = match to.mailbox() {
            Some(mailbox) => mailbox.to_string(),
            None => "Postmaster".to_owned(),
        };
        if let Some(reply) = self.shared.policy.check(&address) {
            info!(to = %to, code = reply.code(), "recipient refused by policy");
            return Ok(Decision::Reject(reply));
        }
        self.to.push(to.clone());
        Ok(Decision::Accept)
    }

    async fn data(&mut self, mut body: Body) -> Result<Decision, Error> {
        let to = std::mem::take(&mut self.to);
        let recipients = to
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let Some(maildir) = &self.shared.maildir else {
            let mut size = 0;
            while let Some(chunk) = body.chunk().await? {
                size += chunk.len();
            }
            info!(from = %self.from, to = recipients, size, "message discarded");
            return Ok(Decision::Accept);
        };
        let maildir = maildir.clone();
        let mut delivery = match blocking(move || maildir.create()).await {
            Ok(delivery) => delivery,
            Err(e) => return Ok(cannot_store(e)),
        };
        let tls = self.tls.as_ref().map(ToString::to_string);
        let peer = self.peer.as_ref().map(|p| p.peer.ip());
        let headers = trace_headers(&Trace {
            return_path: &self.from.to_string(),
            helo: &self.helo,
            peer: peer.unwrap_or([0, 0, 0, 0].into()),
            by: &self.shared.hostname,
            protocol: protocol(self.esmtp, tls.is_some()),
            tls: tls.as_deref(),
            id: delivery.name(),
            recipient: (to.len() == 1).then_some(recipients.as_str()),
            date: SystemTime::now(),
        });
        let mut pending = BytesMut::from(headers.as_bytes());
        let mut size = 0;
        // A read error means the message was abandoned: dropping the delivery removes the file.
        while let Some(chunk) = body.chunk().await? {
            size += chunk.len();
            pending.extend_from_slice(&chunk);
            if pending.len() >= WRITE_BATCH {
                delivery = match write(delivery, pending.split()).await {
                    Ok(delivery) => delivery,
                    Err(e) => return Ok(cannot_store(e)),
                };
            }
        }
        let path: Result<PathBuf, _> = async {
            let delivery = write(delivery, pending).await?;
            blocking(move || delivery.commit()).await
        }
        .await;
        match path {
            Ok(path) => {
                info!(from = %self.from, to = recipients, size, file = %path.display(), "message stored");
                let name = path.file_name().unwrap_or_default().to_string_lossy();
                let reply = Reply::new(250, "2.0.0".parse().ok(), format!("Stored as {name}"));
                Ok(reply.map_or(Decision::Accept, Decision::AcceptWith))
            }
            Err(e) => Ok(cannot_store(e)),
        }
    }

    async fn reset(&mut self) {
        self.to.clear();
    }
}

async fn write(mut delivery: Delivery, bytes: BytesMut) -> std::io::Result<Delivery> {
    blocking(move || delivery.write_all(&bytes).map(|()| delivery)).await
}

/// Runs file IO (which fsyncs) off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(std::io::Error::other)?
}

/// A message that cannot be stored is not accepted: `451`, so the client tries again later.
fn cannot_store(e: std::io::Error) -> Decision {
    error!(error = %e, "cannot store the message");
    let reply = Reply::new(
        451,
        "4.3.0".parse().ok(),
        "Cannot store the message, try again later",
    );
    Decision::Reject(reply.expect("a valid reply"))
}

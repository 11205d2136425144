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
//!
//! Also: AUTH PLAIN and LOGIN against a `user:password` file (`--auth-file`,
//! `--require-auth`, `--allow-insecure-auth`), LMTP on the TCP port (`--lmtp`) or a Unix
//! socket (`--lmtp-socket`), the PROXY protocol from trusted proxies (`--proxy-protocol`,
//! `--trusted-proxy`). With `RUST_LOG=smtpd=debug` each message's header validation (RFC
//! 5322) and MIME structure are logged.

use bytes::{Bytes, BytesMut};
use smtp_catcher::{
    received_protocol, trace_headers, Args, AuthFile, Delivery, Maildir, Parser, RecipientPolicy,
    Trace,
};
use smtp_tokio::proto::address::{ForwardPath, ReversePath};
use smtp_tokio::proto::mime::{MimeConfig, MimeEvent, Violation};
use smtp_tokio::proto::params::{MailParams, RcptParams};
use smtp_tokio::{
    Body, BodyEvent, ConnInfo, Credentials, Decision, Error, Handler, ParsedBody, Reply, Server,
    TlsInfo,
};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;
use tracing::{debug, error, info, warn};

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
    let tls = args.tls_config()?;
    let mut builder = Server::builder()
        .config(args.config())
        .bind(args.listen)
        .shutdown_timeout(Duration::from_secs(10));
    if let Some(tls) = &tls {
        builder = builder.tls(tls.clone()).require_tls(args.require_tls);
        if let Some(addr) = args.implicit_tls_listen {
            builder = builder.implicit_tls_bind(addr);
        }
        if args.self_signed {
            info!("TLS with a self-signed certificate: clients must not verify it");
        }
    }
    if let Some((trusted, config)) = args.proxy() {
        let networks: Vec<String> = trusted.networks().iter().map(ToString::to_string).collect();
        info!(
            trusted = networks.join(","),
            "PROXY protocol required from trusted proxies"
        );
        builder = builder.proxy_protocol(trusted, config);
    }
    let users = args.auth_users()?;
    if let Some(users) = &users {
        info!(users = users.len(), "AUTH PLAIN and LOGIN offered");
        if tls.is_none() && !args.allow_insecure_auth {
            warn!("--auth-file without TLS: AUTH is offered only under TLS (see --self-signed, --allow-insecure-auth)");
        }
    }
    let server = builder.build().await?;
    // --lmtp-socket: a second server on the Unix socket, speaking LMTP, same handler.
    let lmtp = match &args.lmtp_socket {
        Some(path) => {
            let _ = std::fs::remove_file(path);
            let listener = tokio::net::UnixListener::bind(path)?;
            let mut builder = Server::builder()
                .config(args.lmtp_config())
                .unix_listener(listener)
                .shutdown_timeout(Duration::from_secs(10));
            if let Some(tls) = &tls {
                builder = builder.tls(tls.clone());
            }
            info!(path = %path.display(), "listening for LMTP");
            Some(builder.build().await?)
        }
        None => None,
    };
    let maildir = match args.discard {
        true => None,
        false => Some(Maildir::open(&args.maildir)?),
    };
    match &maildir {
        Some(m) => info!(maildir = %m.path().display(), "storing messages"),
        None => info!("--discard: messages are accepted and thrown away"),
    }
    if let Some(addr) = server.local_addr() {
        match args.lmtp {
            true => info!(%addr, "listening for LMTP"),
            false => info!(%addr, "listening for SMTP"),
        }
    }
    if let Some(addr) = server.implicit_tls_local_addr() {
        info!(%addr, "listening for SMTP over implicit TLS");
    }
    let catcher = Catcher {
        shared: Arc::new(Shared {
            maildir,
            policy: args.policy(),
            hostname: args.hostname.clone(),
            users,
            lmtp: args.lmtp,
        }),
        peer: None,
        helo: String::new(),
        esmtp: false,
        tls: None,
        from: ReversePath::Null,
        to: Vec::new(),
        user: None,
        lmtp: false,
    };
    let (stop, stopping) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    });
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let smtp = server.serve_with_shutdown(catcher.clone(), stopped(stopping.clone()));
    let lmtp = async {
        match lmtp {
            Some(lmtp) => lmtp.serve_with_shutdown(catcher, stopped(stopping)).await,
            None => Ok(()),
        }
    };
    let (smtp, lmtp) = tokio::join!(smtp, lmtp);
    if let Some(path) = &args.lmtp_socket {
        let _ = std::fs::remove_file(path);
    }
    smtp?;
    lmtp?;
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
    users: Option<AuthFile>,
    /// --lmtp: the TCP listener speaks LMTP (the Unix socket always does).
    lmtp: bool,
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
    /// The user that authenticated, if any.
    user: Option<String>,
    /// The connection speaks LMTP.
    lmtp: bool,
}

impl Handler for Catcher {
    async fn connect(&mut self, info: &ConnInfo) -> Result<Decision, Error> {
        self.tls = info.tls.clone();
        self.peer = Some(info.clone());
        self.lmtp = info.unix.is_some() || self.shared.lmtp;
        if let Some(proxy) = info.proxy {
            debug!(client = %info.peer, %proxy, "client address from the PROXY header");
        }
        Ok(Decision::Accept)
    }

    async fn auth(
        &mut self,
        mechanism: &str,
        credentials: &Credentials,
    ) -> Result<Decision, Error> {
        let user = self
            .shared
            .users
            .as_ref()
            .and_then(|u| u.check(credentials));
        match user {
            Some(user) => {
                info!(user, mechanism, "authenticated");
                self.user = Some(user.to_owned());
                Ok(Decision::Accept)
            }
            None => {
                info!(mechanism, "authentication failed");
                let reply = Reply::new(
                    535,
                    "5.7.8".parse().ok(),
                    "Authentication credentials invalid",
                )?;
                Ok(Decision::Reject(reply))
            }
        }
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

    async fn data(&mut self, body: Body) -> Result<Decision, Error> {
        // At debug level, the message is also parsed as it streams, to log its structure.
        let mut body = match tracing::enabled!(tracing::Level::DEBUG) {
            true => Reader::Parsed(
                Box::new(body.parsed(MimeConfig::default()).with_raw(true)),
                Structure::default(),
            ),
            false => Reader::Raw(body),
        };
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
            body.log();
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
            protocol: received_protocol(self.lmtp, self.esmtp, tls.is_some(), self.user.is_some()),
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
        body.log();
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

/// The message as the catcher reads it: raw chunks, and at debug level its MIME structure.
enum Reader {
    Raw(Body),
    Parsed(Box<ParsedBody>, Structure),
}

impl Reader {
    /// The next raw chunk; the MIME events in between are noted.
    async fn chunk(&mut self) -> std::io::Result<Option<Bytes>> {
        match self {
            Reader::Raw(body) => body.chunk().await,
            Reader::Parsed(parsed, structure) => loop {
                match parsed.next().await? {
                    None => return Ok(None),
                    Some(BodyEvent::Raw(bytes)) => return Ok(Some(bytes)),
                    Some(event) => structure.note(event),
                }
            },
        }
    }

    /// Logs the header validation and the MIME structure (debug level), once the whole
    /// message was read.
    fn log(&self) {
        let Reader::Parsed(_, structure) = self else {
            return;
        };
        let violations = structure.violations.as_deref().unwrap_or_default();
        let list: Vec<String> = violations.iter().map(ToString::to_string).collect();
        debug!(valid = violations.is_empty(), violations = ?list, "headers checked (RFC 5322)");
        let parts: Vec<String> = structure
            .parts
            .iter()
            .map(|(depth, mime_type, size)| format!("{}{mime_type} {size}", "  ".repeat(*depth)))
            .collect();
        debug!(parts = ?parts, warnings = ?structure.warnings, "MIME structure (decoded octets)");
    }
}

/// What the MIME events told: each part's depth, type and decoded size, the warnings, and
/// the header validation.
#[derive(Default)]
struct Structure {
    parts: Vec<(usize, String, u64)>,
    open: Vec<usize>,
    warnings: Vec<String>,
    violations: Option<Vec<Violation>>,
}

impl Structure {
    fn note(&mut self, event: BodyEvent) {
        match event {
            BodyEvent::Headers(violations) => self.violations = Some(violations),
            BodyEvent::Mime(MimeEvent::PartStart(info)) => {
                self.open.push(self.parts.len());
                let mime_type = info.content_type.mime_type().to_string();
                self.parts.push((info.depth, mime_type, 0));
            }
            BodyEvent::Mime(MimeEvent::PartEnd(end)) => {
                if let Some(i) = self.open.pop() {
                    self.parts[i].2 = end.decoded_size;
                }
            }
            BodyEvent::Mime(MimeEvent::Warning(w)) => self.warnings.push(w.to_string()),
            _ => {}
        }
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

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
//! `--trusted-proxy`). With `RUST_LOG=info,smtp_catcher=debug` each message's header validation (RFC
//! 5322) and MIME structure are logged.

use smtp_catcher::{Args, Message, Parser, Settings};
use smtp_tokio::proto::address::{ForwardPath, ReversePath};
use smtp_tokio::proto::mime::MimeConfig;
use smtp_tokio::proto::params::{MailParams, RcptParams};
use smtp_tokio::{
    Body, BodyEvent, ConnInfo, Credentials, Decision, Error, Handler, ParsedBody, Server, TlsInfo,
};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{error, info};

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
        .max_connections(args.max_connections)
        .shutdown_timeout(Duration::from_secs(10));
    if let Some(tls) = &tls {
        builder = builder.tls(tls.clone()).require_tls(args.require_tls);
        if let Some(addr) = args.implicit_tls_listen {
            builder = builder.implicit_tls_bind(addr);
        }
    }
    if let Some((trusted, config)) = args.proxy() {
        builder = builder.proxy_protocol(trusted, config);
    }
    let settings = Settings::from_args(&args, tls.is_some())?;
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
    if let Some(addr) = server.local_addr() {
        match args.lmtp {
            true => info!(%addr, "listening for LMTP"),
            false => info!(%addr, "listening for SMTP"),
        }
    }
    if let Some(addr) = server.implicit_tls_local_addr() {
        info!(%addr, "listening for SMTP over implicit TLS");
    }
    let catcher = Catcher(smtp_catcher::Catcher::new(Arc::new(settings)));
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

/// The catcher ([`smtp_catcher::Catcher`]) behind the async handler.
#[derive(Clone)]
struct Catcher(smtp_catcher::Catcher);

impl Handler for Catcher {
    async fn connect(&mut self, info: &ConnInfo) -> Result<Decision, Error> {
        Ok(self.0.connect(info))
    }

    async fn auth(
        &mut self,
        mechanism: &str,
        credentials: &Credentials,
    ) -> Result<Decision, Error> {
        Ok(self.0.auth(mechanism, credentials))
    }

    async fn helo(&mut self, domain: &str, esmtp: bool) -> Result<Decision, Error> {
        Ok(self.0.helo(domain, esmtp))
    }

    async fn tls(&mut self, info: &TlsInfo) {
        self.0.tls(info);
    }

    async fn mail(&mut self, from: &ReversePath, _: &MailParams) -> Result<Decision, Error> {
        Ok(self.0.mail(from))
    }

    async fn rcpt(&mut self, to: &ForwardPath, _: &RcptParams) -> Result<Decision, Error> {
        Ok(self.0.rcpt(to))
    }

    /// Streams the body into the Maildir file, the file IO (which fsyncs) on the blocking
    /// pool (with `--discard` there is none, and no pool); at debug level the body is also parsed, to log its header check and MIME
    /// structure. A read error means the message was abandoned: the unfinished file is
    /// removed.
    async fn data(&mut self, body: Body) -> Result<Decision, Error> {
        let new = self.0.start_message();
        let io = FileIo(new.stores());
        let mut message = io.run(move || new.open()).await?;
        let mut reader = match message.wants_structure() {
            true => Reader::Parsed(Box::new(body.parsed(MimeConfig::default()).with_raw(true))),
            false => Reader::Raw(body),
        };
        while let Some(event) = reader.next().await? {
            message.event(event);
            if message.flush_due() {
                message = io
                    .run(move || {
                        message.flush();
                        message
                    })
                    .await?;
            }
        }
        Ok(io.run(move || Message::finish(message)).await?)
    }

    async fn reset(&mut self) {
        self.0.reset();
    }
}

/// The body as raw chunks, or parsed as it streams (with the raw chunks).
enum Reader {
    Raw(Body),
    Parsed(Box<ParsedBody>),
}

impl Reader {
    async fn next(&mut self) -> std::io::Result<Option<BodyEvent>> {
        match self {
            Reader::Raw(body) => Ok(body.chunk().await?.map(BodyEvent::Raw)),
            Reader::Parsed(parsed) => parsed.next().await,
        }
    }
}

/// Where the message's file IO runs: on the blocking pool, in the connection's log span
/// (it fsyncs), or — with `--discard`, when there is none — right here.
#[derive(Clone, Copy)]
struct FileIo(bool);

impl FileIo {
    async fn run<T: Send + 'static>(
        self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::io::Result<T> {
        if !self.0 {
            return Ok(f());
        }
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(f))
            .await
            .map_err(std::io::Error::other)
    }
}

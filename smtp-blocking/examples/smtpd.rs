//! A development mail catcher without an async runtime: every accepted message lands in a
//! Maildir. The same program as `smtp-tokio`'s `smtpd` example, with the same flags and
//! defaults (both take them from `smtp-catcher`), so scripts run against either. (Its target
//! is `smtpd-blocking`: examples of all workspace members share one output folder.)
//!
//! ```text
//! cargo run --release -p smtp-blocking --example smtpd-blocking -- --help
//! ```
//!
//! Listens on 127.0.0.1:2525 and stores each message in `./maildir/new/`, with `Return-Path`
//! and `Received` fields in front (RFC 5321 section 4.4). The `250` after the message comes
//! only once the file is durable (written to `tmp/`, fsynced, renamed into `new/`, folder
//! fsynced); a message that cannot be stored is answered `451`. Ctrl-C (or SIGTERM) shuts
//! down gracefully; a second Ctrl-C exits at once.
//!
//! Also: AUTH PLAIN and LOGIN against a `user:password` file (`--auth-file`,
//! `--require-auth`, `--allow-insecure-auth`), LMTP on the TCP port (`--lmtp`), the PROXY
//! protocol from trusted proxies (`--proxy-protocol`, `--trusted-proxy`), and LMTP on a
//! Unix socket (`--lmtp-socket`). With `RUST_LOG=info,smtp_catcher=debug` each
//! message's header validation (RFC 5322) and MIME structure are logged.

use smtp_blocking::proto::address::{ForwardPath, ReversePath};
use smtp_blocking::proto::mime::MimeConfig;
use smtp_blocking::proto::params::{MailParams, RcptParams};
use smtp_blocking::{Body, ConnInfo, Credentials, Decision, Error, Handler, Server, TlsInfo};
use smtp_catcher::{Args, Parser, Settings};
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tracing::{error, info};

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(args.log_filter()));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), Error> {
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
    let server = builder.build()?;
    if let Some(addr) = server.local_addr() {
        match args.lmtp {
            true => info!(%addr, "listening for LMTP"),
            false => info!(%addr, "listening for SMTP"),
        }
    }
    if let Some(addr) = server.implicit_tls_local_addr() {
        info!(%addr, "listening for SMTP over implicit TLS");
    }
    // --lmtp-socket: a second server on the Unix socket, speaking LMTP, same handler.
    let lmtp = match &args.lmtp_socket {
        Some(path) => {
            let _ = std::fs::remove_file(path);
            let listener = std::os::unix::net::UnixListener::bind(path)?;
            let mut builder = Server::builder()
                .config(args.lmtp_config())
                .unix_listener(listener)
                .shutdown_timeout(Duration::from_secs(10));
            if let Some(tls) = &tls {
                builder = builder.tls(tls.clone());
            }
            info!(path = %path.display(), "listening for LMTP");
            Some(builder.build()?)
        }
        None => None,
    };
    let mut stops = vec![server.shutdown_handle()];
    stops.extend(lmtp.as_ref().map(Server::shutdown_handle));
    stop_on_signals(stops)?;
    let catcher = Catcher(smtp_catcher::Catcher::new(Arc::new(settings)));
    let lmtp = lmtp.map(|lmtp| {
        let catcher = catcher.clone();
        std::thread::spawn(move || lmtp.serve(catcher))
    });
    let served = server.serve(catcher);
    let lmtp_served = lmtp.map(|t| t.join().expect("the LMTP server"));
    if let Some(path) = &args.lmtp_socket {
        let _ = std::fs::remove_file(path);
    }
    served?;
    lmtp_served.transpose()?;
    info!("stopped");
    Ok(())
}

/// SIGINT and SIGTERM start the graceful shutdown; a second one exits at once.
fn stop_on_signals(stops: Vec<smtp_blocking::ShutdownHandle>) -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let signalled = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(signal, 1, Arc::clone(&signalled))?;
        signal_hook::flag::register(signal, Arc::clone(&signalled))?;
    }
    std::thread::spawn(move || {
        while !signalled.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
        info!("shutting down");
        stops
            .iter()
            .for_each(smtp_blocking::ShutdownHandle::shutdown);
    });
    Ok(())
}

/// The catcher ([`smtp_catcher::Catcher`]) behind the blocking handler.
#[derive(Clone)]
struct Catcher(smtp_catcher::Catcher);

impl Handler for Catcher {
    fn connect(&mut self, info: &ConnInfo) -> Result<Decision, Error> {
        Ok(self.0.connect(info))
    }

    fn auth(&mut self, mechanism: &str, credentials: &Credentials) -> Result<Decision, Error> {
        Ok(self.0.auth(mechanism, credentials))
    }

    fn helo(&mut self, domain: &str, esmtp: bool) -> Result<Decision, Error> {
        Ok(self.0.helo(domain, esmtp))
    }

    fn tls(&mut self, info: &TlsInfo) {
        self.0.tls(info);
    }

    fn mail(&mut self, from: &ReversePath, _: &MailParams) -> Result<Decision, Error> {
        Ok(self.0.mail(from))
    }

    fn rcpt(&mut self, to: &ForwardPath, _: &RcptParams) -> Result<Decision, Error> {
        Ok(self.0.rcpt(to))
    }

    /// Streams the body into the Maildir file; at debug level it is also parsed, to log its
    /// header check and MIME structure. A read error means the message was abandoned: the
    /// unfinished file is removed.
    fn data(&mut self, body: &mut Body<'_>) -> Result<Decision, Error> {
        let mut message = self.0.start_message().open();
        if message.wants_structure() {
            for event in body.parsed(MimeConfig::default()).with_raw(true) {
                message.event(event?);
                if message.flush_due() {
                    message.flush();
                }
            }
        } else {
            while let Some(chunk) = body.chunk()? {
                message.push(&chunk);
                if message.flush_due() {
                    message.flush();
                }
            }
        }
        Ok(message.finish())
    }

    fn reset(&mut self) {
        self.0.reset();
    }
}

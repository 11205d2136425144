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
//! Unix socket (`--lmtp-socket`).

use smtp_blocking::proto::address::{ForwardPath, ReversePath};
use smtp_blocking::proto::params::{MailParams, RcptParams};
use smtp_blocking::{
    Body, ConnInfo, Credentials, Decision, Error, Handler, Reply, Server, TlsInfo,
};
use smtp_catcher::{
    received_protocol, trace_headers, Args, AuthFile, Maildir, Parser, RecipientPolicy, Trace,
};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tracing::{debug, error, info, warn};

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
    let server = builder.build()?;
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
    fn connect(&mut self, info: &ConnInfo) -> Result<Decision, Error> {
        self.tls = info.tls.clone();
        self.peer = Some(info.clone());
        self.lmtp = info.unix.is_some() || self.shared.lmtp;
        if let Some(proxy) = info.proxy {
            debug!(client = %info.peer, %proxy, "client address from the PROXY header");
        }
        Ok(Decision::Accept)
    }

    fn auth(&mut self, mechanism: &str, credentials: &Credentials) -> Result<Decision, Error> {
        let users = self.shared.users.as_ref();
        match users.and_then(|u| u.check(credentials)) {
            Some(user) => {
                info!(user, mechanism, "authenticated");
                self.user = Some(user.to_owned());
                Ok(Decision::Accept)
            }
            None => {
                info!(mechanism, "authentication failed");
                let text = "Authentication credentials invalid";
                Ok(Decision::Reject(Reply::new(
                    535,
                    "5.7.8".parse().ok(),
                    text,
                )?))
            }
        }
    }

    fn helo(&mut self, domain: &str, esmtp: bool) -> Result<Decision, Error> {
        self.helo = domain.to_owned();
        self.esmtp = esmtp;
        Ok(Decision::Accept)
    }

    fn tls(&mut self, info: &TlsInfo) {
        self.tls = Some(info.clone());
    }

    fn mail(&mut self, from: &ReversePath, _: &MailParams) -> Result<Decision, Error> {
        self.from = from.clone();
        self.to.clear();
        Ok(Decision::Accept)
    }

    fn rcpt(&mut self, to: &ForwardPath, _: &RcptParams) -> Result<Decision, Error> {
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

    fn data(&mut self, body: &mut Body<'_>) -> Result<Decision, Error> {
        let to = std::mem::take(&mut self.to);
        let recipients = to
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let Some(maildir) = &self.shared.maildir else {
            let size = std::io::copy(body, &mut std::io::sink())?;
            info!(from = %self.from, to = recipients, size, "message discarded");
            return Ok(Decision::Accept);
        };
        let mut delivery = match maildir.create() {
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
        if let Err(e) = delivery.write_all(headers.as_bytes()) {
            return Ok(cannot_store(e));
        }
        // Copy the body straight into the file. A read error means the message was abandoned
        // (dropping the delivery removes the file); a write error means it cannot be stored.
        let mut size = 0u64;
        let mut buf = vec![0; 64 << 10];
        loop {
            let n = std::io::Read::read(body, &mut buf)?;
            if n == 0 {
                break;
            }
            size += n as u64;
            if let Err(e) = delivery.write_all(&buf[..n]) {
                return Ok(cannot_store(e));
            }
        }
        match delivery.commit() {
            Ok(path) => {
                info!(from = %self.from, to = recipients, size, file = %path.display(), "message stored");
                let name = path.file_name().unwrap_or_default().to_string_lossy();
                let reply = Reply::new(250, "2.0.0".parse().ok(), format!("Stored as {name}"));
                Ok(reply.map_or(Decision::Accept, Decision::AcceptWith))
            }
            Err(e) => Ok(cannot_store(e)),
        }
    }

    fn reset(&mut self) {
        self.to.clear();
    }
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

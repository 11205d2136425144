//! [`Catcher`]: the mail catcher's answers to every SMTP event and its message storage,
//! written once for both example servers. Each example's handler forwards to it; only how
//! the body is read (async or blocking) and where file IO runs differ.

use crate::{received_protocol, trace_headers, Args, AuthFile, Delivery, Maildir};
use crate::{RecipientPolicy, Trace};
use smtp_proto::address::{ForwardPath, Mailbox, ReversePath};
use smtp_proto::conn::{ConnInfo, TlsInfo};
use smtp_proto::mime::{BodyEvent, MimeEvent, Violation};
use smtp_proto::{Credentials, Decision, Reply};
use std::io::{self, Write};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;
use tracing::{debug, error, info, warn};

/// Body octets gathered before each write to the file (async servers run the writes on
/// their blocking pool).
const WRITE_BATCH: usize = 256 << 10;

/// What every connection of a catcher shares: where messages go, and the policies.
#[derive(Debug)]
pub struct Settings {
    /// `None` with `--discard`.
    maildir: Option<Maildir>,
    policy: RecipientPolicy,
    hostname: String,
    users: Option<AuthFile>,
    /// `--lmtp`: the TCP listener speaks LMTP (a Unix socket always does).
    lmtp: bool,
}

impl Settings {
    /// The settings of the command line: opens the Maildir (unless `--discard`) and the auth
    /// file, and logs what the server will do. `tls`: whether TLS is configured.
    pub fn from_args(args: &Args, tls: bool) -> io::Result<Settings> {
        if tls && args.self_signed {
            info!("TLS with a self-signed certificate: clients must not verify it");
        }
        if let Some((trusted, _)) = args.proxy() {
            let networks: Vec<String> =
                trusted.networks().iter().map(ToString::to_string).collect();
            let trusted = networks.join(",");
            info!(trusted, "PROXY protocol required from trusted proxies");
        }
        let users = args.auth_users()?;
        if let Some(users) = &users {
            info!(users = users.len(), "AUTH PLAIN and LOGIN offered");
            if !tls && !args.allow_insecure_auth {
                warn!("--auth-file without TLS: AUTH is offered only under TLS (see --self-signed, --allow-insecure-auth)");
            }
        }
        let maildir = match args.discard {
            true => None,
            false => Some(Maildir::open(&args.maildir)?),
        };
        match &maildir {
            Some(m) => info!(maildir = %m.path().display(), "storing messages"),
            None => info!("--discard: messages are accepted and thrown away"),
        }
        Ok(Settings {
            maildir,
            policy: args.policy(),
            hostname: args.hostname.clone(),
            users,
            lmtp: args.lmtp,
        })
    }
}

/// The forward-path `<Postmaster>` without its angle brackets (RFC 5321 4.1.1.3).
const POSTMASTER: &str = "Postmaster";

/// Room for an address and its angle brackets (most are shorter; longer ones grow the string).
const ENVELOPE_ROOM: usize = 64;

/// Appends a path as its `Display` writes it, `<mailbox>` (or `<` `without` `>`), without the
/// formatting machinery, with room for most addresses at once.
fn push_path(out: &mut String, mailbox: Option<&Mailbox>, without: &str) {
    let text = mailbox.map_or(without, Mailbox::as_str);
    out.reserve(text.len().max(ENVELOPE_ROOM - 2) + 2);
    out.push('<');
    out.push_str(text);
    out.push('>');
}

/// One connection of the catcher: the envelope so far, and the catcher's answer to each
/// event. Clone a prototype per connection.
///
/// The envelope is kept as text, not as the core's addresses: those share the connection's
/// read buffer, which they would keep from being reused for the next read.
#[derive(Clone, Debug)]
pub struct Catcher {
    settings: Arc<Settings>,
    peer: Option<IpAddr>,
    /// Shared with each message (its `Received` field).
    helo: Arc<str>,
    esmtp: bool,
    tls: Option<TlsInfo>,
    /// The reverse-path with its angle brackets.
    from: String,
    /// The accepted forward-paths with their angle brackets, separated by commas.
    to: String,
    /// How many are in `to`.
    recipients: usize,
    /// The user that authenticated, if any.
    user: Option<String>,
    /// The connection speaks LMTP.
    lmtp: bool,
}

impl Catcher {
    /// The prototype for a server's connections.
    pub fn new(settings: Arc<Settings>) -> Catcher {
        Catcher {
            settings,
            peer: None,
            helo: Arc::from(""),
            esmtp: false,
            tls: None,
            from: String::new(),
            to: String::new(),
            recipients: 0,
            user: None,
            lmtp: false,
        }
    }

    /// A client connected: accepted.
    pub fn connect(&mut self, info: &ConnInfo) -> Decision {
        self.tls = info.tls.clone();
        self.peer = Some(info.peer.ip());
        self.lmtp = info.unix.is_some() || self.settings.lmtp;
        if let Some(proxy) = info.proxy {
            debug!(client = %info.peer, %proxy, "client address from the PROXY header");
        }
        Decision::Accept
    }

    /// AUTH: the credentials against `--auth-file` (`535 5.7.8` if they are wrong).
    pub fn auth(&mut self, mechanism: &str, credentials: &Credentials) -> Decision {
        let users = self.settings.users.as_ref();
        match users.and_then(|u| u.check(credentials)) {
            Some(user) => {
                info!(user, mechanism, "authenticated");
                self.user = Some(user.to_owned());
                Decision::Accept
            }
            None => {
                info!(mechanism, "authentication failed");
                Decision::Reject(Reply::BAD_CREDENTIALS)
            }
        }
    }

    /// HELO/EHLO: accepted, the name kept for the `Received` field.
    pub fn helo(&mut self, domain: &str, esmtp: bool) -> Decision {
        self.helo = Arc::from(domain);
        self.esmtp = esmtp;
        Decision::Accept
    }

    /// STARTTLS completed.
    pub fn tls(&mut self, info: &TlsInfo) {
        self.tls = Some(info.clone());
    }

    /// MAIL: accepted.
    pub fn mail(&mut self, from: &ReversePath) -> Decision {
        self.from.clear();
        push_path(&mut self.from, from.mailbox(), "");
        self.reset();
        Decision::Accept
    }

    /// RCPT: refused or deferred if `--reject-recipients` / `--defer-recipients` match.
    pub fn rcpt(&mut self, to: &ForwardPath) -> Decision {
        // The address as `Display` writes it, borrowed: no string is made for the check.
        let address = to.mailbox().map_or(POSTMASTER, Mailbox::as_str);
        if let Some(reply) = self.settings.policy.check(address) {
            info!(to = %to, code = reply.code(), "recipient refused by policy");
            return Decision::Reject(reply);
        }
        if self.recipients > 0 {
            self.to.push(',');
        }
        push_path(&mut self.to, to.mailbox(), POSTMASTER);
        self.recipients += 1;
        Decision::Accept
    }

    /// The transaction was abandoned.
    pub fn reset(&mut self) {
        self.to.clear();
        self.recipients = 0;
    }

    /// The body begins: takes the envelope for a message. [`NewMessage::open`] does the file
    /// IO (run it where blocking is fine).
    pub fn start_message(&mut self) -> NewMessage {
        let tls = self.tls.is_some();
        let stores = self.settings.maildir.is_some();
        NewMessage {
            settings: Arc::clone(&self.settings),
            return_path: std::mem::take(&mut self.from),
            recipients: std::mem::take(&mut self.to),
            single: std::mem::take(&mut self.recipients) == 1,
            helo: Arc::clone(&self.helo),
            peer: self.peer.unwrap_or([0, 0, 0, 0].into()),
            protocol: received_protocol(self.lmtp, self.esmtp, tls, self.user.is_some()),
            // Only the `Received` field shows it: not formatted for nothing with `--discard`.
            tls: self
                .tls
                .as_ref()
                .filter(|_| stores)
                .map(ToString::to_string),
        }
    }
}

/// A message about to be stored: its envelope and trace data, before any file exists.
#[derive(Debug)]
pub struct NewMessage {
    /// Where it goes (`None` in its `maildir` with `--discard`), and the `by` of `Received`.
    settings: Arc<Settings>,
    return_path: String,
    recipients: String,
    single: bool,
    helo: Arc<str>,
    peer: IpAddr,
    protocol: &'static str,
    tls: Option<String>,
}

impl NewMessage {
    /// Whether the message goes to a file (not `--discard`): only then is there file IO.
    pub fn stores(&self) -> bool {
        self.settings.maildir.is_some()
    }

    /// Creates the file in the Maildir's `tmp/` and writes the `Return-Path` and `Received`
    /// fields (RFC 5321 section 4.4) into the write buffer. With `--discard`, nothing. A
    /// failure is kept: [`Message::finish`] answers `451`.
    pub fn open(self) -> Message {
        let (mut delivery, mut pending, mut failed) = (None, Vec::new(), None);
        match self.settings.maildir.as_ref().map(Maildir::create) {
            None => {} // --discard
            Some(Ok(created)) => {
                let headers = trace_headers(&Trace {
                    return_path: &self.return_path,
                    helo: &self.helo,
                    peer: self.peer,
                    by: &self.settings.hostname,
                    protocol: self.protocol,
                    tls: self.tls.as_deref(),
                    id: created.name(),
                    recipient: self.single.then_some(self.recipients.as_str()),
                    date: SystemTime::now(),
                });
                pending.extend_from_slice(headers.as_bytes());
                delivery = Some(created);
            }
            Some(Err(e)) => failed = Some(e),
        }
        Message {
            delivery,
            pending,
            size: 0,
            failed,
            structure: Structure::default(),
            from: self.return_path,
            recipients: self.recipients,
        }
    }
}

/// A message being stored. Feed it the body ([`push`](Self::push), or
/// [`event`](Self::event) for a parsed body), [`flush`](Self::flush) when
/// [`flush_due`](Self::flush_due), then [`finish`](Self::finish). Dropped unfinished (the
/// client went away), it leaves no file.
#[derive(Debug)]
pub struct Message {
    /// `None` with `--discard`, or when the file could not be created.
    delivery: Option<Delivery>,
    pending: Vec<u8>,
    size: u64,
    /// The first storage error: the rest is not written, and the answer is `451`.
    failed: Option<io::Error>,
    structure: Structure,
    from: String,
    recipients: String,
}

impl Message {
    /// Body octets.
    pub fn push(&mut self, chunk: &[u8]) {
        self.size += chunk.len() as u64;
        if self.delivery.is_some() && self.failed.is_none() {
            self.pending.extend_from_slice(chunk);
        }
    }

    /// An event of a parsed body (`with_raw`): raw octets are stored, the MIME events and
    /// header check noted for the debug log.
    pub fn event(&mut self, event: BodyEvent) {
        match event {
            BodyEvent::Raw(chunk) => self.push(&chunk),
            event => self.structure.note(event),
        }
    }

    /// Whether to parse the body and log its header check and MIME structure
    /// ([`event`](Self::event)): when `smtp_catcher` logs at debug level
    /// (`RUST_LOG=info,smtp_catcher=debug`).
    pub fn wants_structure(&self) -> bool {
        tracing::enabled!(tracing::Level::DEBUG)
    }

    /// Enough is buffered for a write.
    pub fn flush_due(&self) -> bool {
        self.pending.len() >= WRITE_BATCH
    }

    /// Writes what is buffered to the file (blocking IO).
    pub fn flush(&mut self) {
        if let (Some(delivery), None) = (&mut self.delivery, &self.failed) {
            if let Err(e) = delivery.write_all(&self.pending) {
                self.failed = Some(e);
            }
        }
        self.pending.clear();
    }

    /// The whole body arrived: writes the rest, makes the file durable in `new/` (blocking
    /// IO), logs one line, and gives the answer: `250 2.0.0 Stored as <file>`, or `451 4.3.0`
    /// if the message could not be stored.
    pub fn finish(mut self) -> Decision {
        self.flush();
        self.structure.log();
        let (from, to, size) = (&self.from, &self.recipients, self.size);
        if let Some(e) = self.failed {
            return cannot_store(e);
        }
        let Some(delivery) = self.delivery else {
            info!(from = %from, to = %to, size, "message discarded");
            return Decision::Accept;
        };
        match delivery.commit() {
            Ok(path) => {
                info!(from = %from, to = %to, size, file = %path.display(), "message stored");
                let name = path.file_name().unwrap_or_default().to_string_lossy();
                let reply = Reply::new(250, "2.0.0".parse().ok(), format!("Stored as {name}"));
                reply.map_or(Decision::Accept, Decision::AcceptWith)
            }
            Err(e) => cannot_store(e),
        }
    }
}

/// A message that cannot be stored is not accepted: `451`, so the client tries again later.
fn cannot_store(e: io::Error) -> Decision {
    error!(error = %e, "cannot store the message");
    let reply = Reply::new(
        451,
        "4.3.0".parse().ok(),
        "Cannot store the message, try again later",
    );
    Decision::Reject(reply.expect("a valid reply"))
}

/// What the MIME events told: each part's depth, type and decoded size, the warnings, and
/// the header validation. Logged at debug level when the message is complete.
#[derive(Debug, Default)]
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

    fn log(&self) {
        let Some(violations) = &self.violations else {
            return; // the body was not parsed
        };
        let list: Vec<String> = violations.iter().map(ToString::to_string).collect();
        debug!(valid = list.is_empty(), violations = ?list, "headers checked (RFC 5322)");
        let parts: Vec<String> = (self.parts.iter())
            .map(|(depth, mime_type, size)| format!("{}{mime_type} {size}", "  ".repeat(*depth)))
            .collect();
        debug!(parts = ?parts, warnings = ?self.warnings, "MIME structure (decoded octets)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn settings(dir: &std::path::Path, extra: &[&str]) -> Arc<Settings> {
        let maildir = dir.to_str().unwrap();
        let mut argv = vec!["smtpd", "--maildir", maildir, "--hostname", "mx.test"];
        argv.extend_from_slice(extra);
        let args = Args::try_parse_from(argv).unwrap();
        Arc::new(Settings::from_args(&args, false).unwrap())
    }

    fn envelope(catcher: &mut Catcher, to: &[&str]) {
        let info = ConnInfo::new(
            "192.0.2.1:4000".parse().unwrap(),
            "127.0.0.1:25".parse().unwrap(),
        );
        assert_eq!(catcher.connect(&info), Decision::Accept);
        assert_eq!(catcher.helo("client.test", true), Decision::Accept);
        let from = ReversePath::Mailbox("a@b.test".parse().unwrap());
        assert_eq!(catcher.mail(&from), Decision::Accept);
        for to in to {
            catcher.rcpt(&ForwardPath::Mailbox(to.parse().unwrap()));
        }
    }

    /// The envelope kept as text reads as the paths' `Display`: angle brackets, `<>`,
    /// `<Postmaster>`, recipients joined with commas; a new MAIL starts afresh.
    #[test]
    fn the_envelope_text_is_the_paths_display() {
        let dir = std::env::temp_dir().join(format!("catcher-text-{}", std::process::id()));
        let mut catcher = Catcher::new(settings(&dir, &[]));
        let to = [
            ForwardPath::Mailbox("x@y.test".parse().unwrap()),
            ForwardPath::Postmaster,
            ForwardPath::Mailbox("\"quoted local\"@y.test".parse().unwrap()),
        ];
        for from in [
            ReversePath::Null,
            ReversePath::Mailbox("a@b.test".parse().unwrap()),
        ] {
            catcher.mail(&ReversePath::Mailbox("earlier@b.test".parse().unwrap()));
            catcher.rcpt(&to[0]);
            assert_eq!(catcher.mail(&from), Decision::Accept);
            for to in &to {
                assert_eq!(catcher.rcpt(to), Decision::Accept);
            }
            let message = catcher.start_message();
            assert_eq!(message.return_path, from.to_string());
            let all: Vec<String> = to.iter().map(ToString::to_string).collect();
            assert_eq!(message.recipients, all.join(","));
            assert!(!message.single);
        }
        catcher.mail(&ReversePath::Null);
        catcher.rcpt(&to[1]);
        let message = catcher.start_message();
        assert_eq!(
            (message.recipients.as_str(), message.single),
            ("<Postmaster>", true)
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn stores_with_trace_fields_and_applies_the_policy() {
        let dir = std::env::temp_dir().join(format!("catcher-flow-{}", std::process::id()));
        let settings = settings(&dir, &["--reject-recipients", "^nobody@"]);
        let mut catcher = Catcher::new(settings);
        envelope(&mut catcher, &["x@y.test", "nobody@y.test"]);
        let mut message = catcher.start_message().open();
        message.push(b"Subject: hi\r\n\r\nbody\r\n");
        let Decision::AcceptWith(reply) = message.finish() else {
            panic!("stored");
        };
        let name = reply.text().strip_prefix("Stored as ").unwrap().to_owned();
        let stored = std::fs::read_to_string(dir.join("new").join(&name)).unwrap();
        assert!(stored.starts_with("Return-Path: <a@b.test>\r\nReceived: from client.test"));
        assert!(stored.contains("by mx.test with ESMTP"), "{stored}");
        assert!(
            stored.contains("for <x@y.test>"),
            "one recipient: the policy refused the other\n{stored}"
        );
        assert!(stored.ends_with("\r\nSubject: hi\r\n\r\nbody\r\n"));
        // Abandoned: no file left behind.
        envelope(&mut catcher, &["x@y.test"]);
        let mut message = catcher.start_message().open();
        message.push(b"partial");
        drop(message);
        assert_eq!(std::fs::read_dir(dir.join("tmp")).unwrap().count(), 0);
        assert_eq!(std::fs::read_dir(dir.join("new")).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

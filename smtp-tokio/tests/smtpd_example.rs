//! The example server as a user runs it: start the `smtpd` binary, send mail (a Rust client,
//! and Python's smtplib over plain TCP, STARTTLS and implicit TLS), find the Maildir files.
//!
//! The tests build the example with cargo (a no-op after `cargo test`, which builds examples).
//! The Python test needs python3: it says so and passes when python3 is missing, except under
//! CI (CI=true), where it fails.

mod common;

use common::{within, Client};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

/// A running `smtpd` example, killed (by PID) when dropped.
struct Smtpd {
    child: Child,
    lines: mpsc::Receiver<String>,
    log: Vec<String>,
    maildir: PathBuf,
}

/// The example binary, built (or found up to date) by cargo once per test run, so that a
/// filtered `cargo test --test smtpd_example` never runs a stale one.
fn example_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            // target/<profile>/deps/<this test> -> target/<profile>/examples/smtpd
            let exe = std::env::current_exe().unwrap();
            let dir = exe.parent().and_then(Path::parent).unwrap();
            let profile = match dir.file_name().and_then(|n| n.to_str()) {
                Some("debug") => "dev",
                Some(other) => other,
                None => "dev",
            };
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_owned());
            // The target directory this test runs from, whatever configured it.
            let target_dir = dir.parent().unwrap();
            let out = Command::new(cargo)
                .args(["build", "--quiet", "-p", "smtp-tokio", "--example", "smtpd"])
                .args(["--profile", profile])
                .arg("--target-dir")
                .arg(target_dir)
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success(),
                "building the smtpd example failed:\n{stderr}"
            );
            let bin = dir
                .join("examples")
                .join(format!("smtpd{}", std::env::consts::EXE_SUFFIX));
            assert!(bin.exists(), "{} is missing after the build", bin.display());
            bin
        })
        .clone()
}

impl Smtpd {
    fn start(name: &str, args: &[&str]) -> Smtpd {
        Smtpd::start_with(name, args, None)
    }

    /// Starts it with `RUST_LOG` set to `log` (else unset).
    fn start_with(name: &str, args: &[&str], log: Option<&str>) -> Smtpd {
        let maildir = std::env::temp_dir().join(format!("smtpd-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&maildir);
        let mut command = Command::new(example_binary());
        command.args(["--listen", "127.0.0.1:0"]);
        if !args.contains(&"--discard") {
            command.arg("--maildir").arg(&maildir);
        }
        let mut child = command
            .args(args)
            .env_remove("RUST_LOG")
            .envs(log.map(|log| ("RUST_LOG", log)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                eprintln!("smtpd: {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Smtpd {
            child,
            lines,
            log: Vec::new(),
            maildir,
        }
    }

    /// Waits for a log line containing `needle`, and returns it.
    fn wait_for(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + common::WAIT;
        if let Some(line) = self.log.iter().find(|l| l.contains(needle)) {
            return line.clone();
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!("smtpd never logged {needle:?}; log: {:#?}", self.log),
            }
        }
    }

    /// The address logged after `what` (`listening for SMTP addr=...`).
    fn addr(&mut self, what: &str) -> SocketAddr {
        let line = self.wait_for(what);
        let addr = line.rsplit("addr=").next().unwrap();
        addr.trim()
            .parse()
            .unwrap_or_else(|_| panic!("no address in {line:?}"))
    }

    /// The stored message `name`, split into trace header fields and body.
    fn message(&self, name: &str) -> (String, Vec<u8>) {
        let file = std::fs::read(self.maildir.join("new").join(name)).unwrap();
        let end = file
            .windows(5)
            .position(|w| w == b"+0000")
            .expect("a Received date")
            + 7;
        let headers = String::from_utf8(file[..end].to_vec()).unwrap();
        (headers, file[end..].to_vec())
    }

    /// SIGTERM, then the exit status (graceful shutdown).
    #[cfg(unix)]
    fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let deadline = Instant::now() + common::WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "smtpd did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Smtpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.maildir);
    }
}

fn stored_name(reply: &str) -> String {
    let name = reply.strip_prefix("250 2.0.0 Stored as ");
    name.unwrap_or_else(|| panic!("not stored: {reply}"))
        .to_owned()
}

#[tokio::test]
async fn smtpd_stores_the_exact_body_in_the_maildir() {
    let mut smtpd = Smtpd::start(
        "rust",
        &[
            "--reject-recipients",
            "^bounce@",
            "--defer-recipients",
            "^later@",
        ],
    );
    let addr = smtpd.addr("listening for SMTP");
    let mut client = Client::connect(addr).await;
    client.hello().await;
    assert_eq!(
        client.cmd("MAIL FROM:<app@client.example>").await,
        "250 2.1.0 Sender OK"
    );
    let bounce = client.cmd("RCPT TO:<bounce@server.example>").await;
    assert!(bounce.starts_with("550 5.1.1 "), "{bounce}");
    let later = client.cmd("RCPT TO:<later@server.example>").await;
    assert!(later.starts_with("451 4.3.0 "), "{later}");
    assert!(client
        .cmd("RCPT TO:<you@server.example>")
        .await
        .starts_with("250"));
    assert!(client.cmd("DATA").await.starts_with("354"));
    let body =
        b"Subject: caught\r\nFrom: app@client.example\r\n\r\nHello,\r\n.. a dotted line\r\n\r\n";
    client.send(&body[..]).await;
    client.send(".\r\n").await;
    let name = stored_name(&client.reply().await);
    let (headers, stored) = smtpd.message(&name);
    assert_eq!(
        stored,
        b"Subject: caught\r\nFrom: app@client.example\r\n\r\nHello,\r\n. a dotted line\r\n\r\n"
    );
    assert!(
        headers.starts_with(
            "Return-Path: <app@client.example>\r\nReceived: from client.example ([127.0.0.1])\r\n"
        ),
        "{headers}"
    );
    assert!(
        headers.contains("\tby localhost with ESMTP id "),
        "{headers}"
    );
    assert!(
        headers.contains("\tfor <you@server.example>; "),
        "{headers}"
    );
    let logged = smtpd.wait_for("message stored");
    assert!(
        logged.contains("from=<app@client.example>") && logged.contains(&name),
        "{logged}"
    );
    assert!(logged.contains("size=72"), "{logged}");
    assert!(std::fs::read_dir(smtpd.maildir.join("tmp"))
        .unwrap()
        .next()
        .is_none());
    assert_eq!(client.cmd("QUIT").await, "221 2.0.0 Bye");

    #[cfg(unix)]
    {
        assert!(smtpd.terminate().success());
        smtpd.wait_for("stopped");
    }
}

#[tokio::test]
async fn smtpd_discard_stores_nothing() {
    let mut smtpd = Smtpd::start("discard", &["--discard"]);
    let addr = smtpd.addr("listening for SMTP");
    let mut client = Client::connect(addr).await;
    client.hello().await;
    assert_eq!(
        client.mail("Subject: gone\r\n\r\nbye\r\n").await,
        "250 2.0.0 Message accepted"
    );
    smtpd.wait_for("message discarded");
    assert!(!smtpd.maildir.exists());
}

const SMTPLIB: &str = r#"
import smtplib, ssl, sys
plain, implicit = int(sys.argv[1]), int(sys.argv[2])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE  # --self-signed

def send(s, subject):
    s.ehlo("python.example")
    s.mail("py@client.example")
    s.rcpt("you@server.example")
    code, reply = s.data("Subject: %s\r\n\r\nSent with smtplib over %s.\r\n" % (subject, subject))
    assert code == 250, (code, reply)
    print(reply.decode())
    s.quit()

with smtplib.SMTP("127.0.0.1", plain, timeout=10) as s:
    send(s, "plain")
with smtplib.SMTP("127.0.0.1", plain, timeout=10) as s:
    s.starttls(context=ctx)
    send(s, "starttls")
with smtplib.SMTP_SSL("127.0.0.1", implicit, timeout=10, context=ctx) as s:
    send(s, "implicit")
"#;

#[test]
fn python_smtplib_over_plain_starttls_and_implicit_tls() {
    if Command::new("python3").arg("--version").output().is_err() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("python3 is missing, and CI must run the smtplib test");
        }
        println!(
            "SKIPPED python_smtplib_over_plain_starttls_and_implicit_tls: python3 is not installed"
        );
        return;
    }
    let mut smtpd = Smtpd::start(
        "python",
        &["--self-signed", "--implicit-tls-listen", "127.0.0.1:0"],
    );
    let plain = smtpd.addr("listening for SMTP addr=");
    let implicit = smtpd.addr("listening for SMTP over implicit TLS");
    let mut python = Command::new("python3")
        .args([
            "-c",
            SMTPLIB,
            &plain.port().to_string(),
            &implicit.port().to_string(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + common::WAIT;
    let status = loop {
        if let Some(status) = python.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = python.kill();
            let _ = python.wait();
            panic!("smtplib did not finish in time");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    std::io::Read::read_to_string(&mut python.stdout.take().unwrap(), &mut out).unwrap();
    assert!(status.success(), "smtplib failed: {out}");
    let names: Vec<String> = out
        .lines()
        .map(|l| stored_name(&format!("250 {l}")))
        .collect();
    assert_eq!(names.len(), 3, "{out}");
    for (name, how) in names.iter().zip(["plain", "starttls", "implicit"]) {
        let (headers, body) = smtpd.message(name);
        let expected = format!("Subject: {how}\r\n\r\nSent with smtplib over {how}.\r\n");
        assert_eq!(String::from_utf8(body).unwrap(), expected);
        let protocol = if how == "plain" { "ESMTP" } else { "ESMTPS" };
        assert!(
            headers.contains(&format!("with {protocol} id")),
            "{headers}"
        );
        assert!(
            headers.contains("Received: from python.example ([127.0.0.1])"),
            "{headers}"
        );
        if how != "plain" {
            assert!(headers.contains("(using TLSv1_"), "{headers}");
        }
    }
}

// ----- AUTH, LMTP, the PROXY protocol and the MIME log of the example -----

/// A `user:password` file for `--auth-file`, removed when dropped.
struct UsersFile(PathBuf);

impl UsersFile {
    fn new(name: &str) -> UsersFile {
        let path = std::env::temp_dir().join(format!("smtpd-users-{name}-{}", std::process::id()));
        std::fs::write(&path, "# test users\nalice:correct horse\nbob:b:colon\n").unwrap();
        UsersFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for UsersFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn python3_or_skip(test: &str) -> bool {
    if Command::new("python3").arg("--version").output().is_err() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("python3 is missing, and CI must run {test}");
        }
        println!("SKIPPED {test}: python3 is not installed");
        return false;
    }
    true
}

/// Runs a Python script with arguments, bounded by the test wait; its stdout.
fn python(script: &str, args: &[&str]) -> String {
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + common::WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("python did not finish in time");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    assert!(status.success(), "python failed: {out}");
    out
}

#[tokio::test]
async fn smtpd_auth_with_lettre_over_starttls() {
    use lettre::transport::smtp::authentication::{Credentials, Mechanism};
    use lettre::transport::smtp::client::{Tls, TlsParameters};
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

    let users = UsersFile::new("lettre");
    let mut smtpd = Smtpd::start(
        "auth-lettre",
        &[
            "--self-signed",
            "--auth-file",
            users.path(),
            "--require-auth",
        ],
    );
    let addr = smtpd.addr("listening for SMTP addr=");
    // Without TLS, AUTH is not offered and MAIL needs it.
    let mut client = Client::connect(addr).await;
    assert!(client.reply().await.starts_with("220"));
    let ehlo = client.cmd("EHLO client.example").await;
    assert!(!ehlo.contains("AUTH"), "{ehlo}");
    let mail = client.cmd("MAIL FROM:<a@client.example>").await;
    assert!(mail.starts_with("530 5.7.0"), "{mail}");

    let mailer = |user: &str, password: &str, mechanism| {
        let tls = TlsParameters::builder("localhost".to_owned())
            .dangerous_accept_invalid_certs(true)
            .build_rustls()
            .unwrap();
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
            .port(addr.port())
            .tls(Tls::Required(tls))
            .credentials(Credentials::new(user.to_owned(), password.to_owned()))
            .authentication(vec![mechanism])
            .timeout(Some(Duration::from_secs(10)))
            .build()
    };
    let email = |subject: &str| {
        Message::builder()
            .from("alice@client.example".parse().unwrap())
            .to("you@server.example".parse().unwrap())
            .subject(subject)
            .body("Hello with AUTH\r\n".to_owned())
            .unwrap()
    };
    for (user, password, mechanism) in [
        ("alice", "correct horse", Mechanism::Plain),
        ("bob", "b:colon", Mechanism::Login),
    ] {
        let transport = mailer(user, password, mechanism);
        let response = within("lettre send", transport.send(email(user)))
            .await
            .unwrap();
        let reply = format!("250 {}", response.message().next().unwrap());
        let (headers, body) = smtpd.message(&stored_name(&reply));
        assert!(headers.contains("with ESMTPSA id"), "{headers}");
        assert!(String::from_utf8(body)
            .unwrap()
            .contains(&format!("Subject: {user}\r\n")));
        smtpd.wait_for(&format!("authenticated user=\"{user}\""));
    }
    let transport = mailer("alice", "wrong", Mechanism::Plain);
    let err = within("lettre send", transport.send(email("no")))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("535"), "{err}");
    smtpd.wait_for("authentication failed");
}

const SMTPLIB_AUTH: &str = r#"
import smtplib, ssl, sys
port = int(sys.argv[1])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE  # --self-signed
for mechanism in ("PLAIN", "LOGIN"):
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
        s.starttls(context=ctx)
        s.ehlo("python.example")
        assert "PLAIN" in s.esmtp_features["auth"] and "LOGIN" in s.esmtp_features["auth"]
        try:
            s.user, s.password = "alice", "wrong"
            s.auth(mechanism, getattr(s, "auth_" + mechanism.lower()), initial_response_ok=False)
            raise SystemExit("a wrong password was accepted")
        except smtplib.SMTPAuthenticationError as e:
            assert e.smtp_code == 535, e
        s.user, s.password = "alice", "correct horse"
        code, _ = s.auth(mechanism, getattr(s, "auth_" + mechanism.lower()), initial_response_ok=(mechanism == "PLAIN"))
        assert code == 235, code
        refused = s.sendmail("alice@client.example", ["you@server.example"],
                             "Subject: %s\r\n\r\nAUTH %s from smtplib.\r\n" % (mechanism, mechanism))
        assert not refused, refused
        print(mechanism)
"#;

#[test]
fn python_smtplib_auth_plain_and_login() {
    if !python3_or_skip("python_smtplib_auth_plain_and_login") {
        return;
    }
    let users = UsersFile::new("python");
    let mut smtpd = Smtpd::start(
        "auth-python",
        &[
            "--self-signed",
            "--auth-file",
            users.path(),
            "--require-auth",
        ],
    );
    let addr = smtpd.addr("listening for SMTP addr=");
    let out = python(SMTPLIB_AUTH, &[&addr.port().to_string()]);
    assert_eq!(out.lines().collect::<Vec<_>>(), ["PLAIN", "LOGIN"]);
    for _ in 0..2 {
        smtpd.wait_for("message stored");
    }
    let stored = std::fs::read_dir(smtpd.maildir.join("new"))
        .unwrap()
        .count();
    assert_eq!(stored, 2);
}

#[cfg(unix)]
#[tokio::test]
async fn smtpd_lmtp_on_tcp_and_a_unix_socket() {
    let socket = std::env::temp_dir().join(format!("smtpd-lmtp-{}.sock", std::process::id()));
    let mut smtpd = Smtpd::start(
        "lmtp",
        &[
            "--lmtp",
            "--lmtp-socket",
            socket.to_str().unwrap(),
            "--reject-recipients",
            "^nobody@",
        ],
    );
    let addr = smtpd.addr("listening for LMTP addr=");
    smtpd.wait_for("listening for LMTP path=");
    let tcp = Client::connect(addr).await;
    let unix = Client::new(tokio::net::UnixStream::connect(&socket).await.unwrap());
    async fn transcript<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
        mut client: Client<S>,
    ) -> Vec<String> {
        assert!(client.reply().await.starts_with("220"));
        assert!(client.cmd("EHLO x").await.starts_with("500"));
        assert!(client.cmd("LHLO mta.example").await.starts_with("250"));
        assert!(client
            .cmd("MAIL FROM:<a@client.example>")
            .await
            .starts_with("250"));
        assert!(client
            .cmd("RCPT TO:<one@server.example>")
            .await
            .starts_with("250"));
        assert!(client
            .cmd("RCPT TO:<nobody@server.example>")
            .await
            .starts_with("550"));
        assert!(client
            .cmd("RCPT TO:<two@server.example>")
            .await
            .starts_with("250"));
        assert!(client.cmd("DATA").await.starts_with("354"));
        client.send("Subject: lmtp\r\n\r\nhi\r\n.\r\n").await;
        let replies = vec![client.reply().await, client.reply().await];
        assert_eq!(client.cmd("QUIT").await, "221 2.0.0 Bye");
        replies
    }
    for replies in [transcript(tcp).await, transcript(unix).await] {
        // One reply per accepted recipient: the same stored file for both.
        assert_eq!(replies[0], replies[1]);
        let (headers, body) = smtpd.message(&stored_name(&replies[0]));
        assert_eq!(body, b"Subject: lmtp\r\n\r\nhi\r\n");
        assert!(headers.contains("with LMTP id"), "{headers}");
    }
    #[cfg(unix)]
    {
        assert!(smtpd.terminate().success());
        assert!(!socket.exists(), "the socket is removed at exit");
    }
}

#[tokio::test]
async fn smtpd_proxy_protocol_puts_the_client_in_received() {
    let mut smtpd = Smtpd::start(
        "proxy",
        &["--proxy-protocol", "--trusted-proxy", "127.0.0.0/8"],
    );
    let addr = smtpd.addr("listening for SMTP addr=");
    let mut client = Client::connect(addr).await;
    client
        .send("PROXY TCP4 192.0.2.44 127.0.0.1 40000 25\r\n")
        .await;
    client.hello().await;
    let name = stored_name(&client.mail("Subject: proxied\r\n\r\nhi\r\n").await);
    let (headers, _) = smtpd.message(&name);
    assert!(
        headers.contains("Received: from client.example ([192.0.2.44])"),
        "{headers}"
    );
    // Without a header, a trusted proxy's connection is closed unanswered.
    let mut bare = Client::connect(addr).await;
    bare.send("EHLO spoof.example\r\n").await;
    bare.expect_eof().await;
}

#[tokio::test]
async fn smtpd_logs_header_validation_and_mime_structure_at_debug() {
    let mut smtpd = Smtpd::start_with("mime", &[], Some("info,smtp_catcher=debug"));
    let addr = smtpd.addr("listening for SMTP addr=");
    let mut client = Client::connect(addr).await;
    client.hello().await;
    let message = "From: a@client.example\r\nDate: Thu, 26 Nov 2026 00:00:00 +0000\r\n\
Subject: parts\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XYZ\r\n\r\n\
--XYZ\r\nContent-Type: text/plain\r\n\r\nHello\r\n\
--XYZ\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAECAw==\r\n\
--XYZ--\r\n";
    stored_name(&client.mail(message).await);
    let checked = smtpd.wait_for("headers checked");
    assert!(checked.contains("valid=true"), "{checked}");
    let structure = smtpd.wait_for("MIME structure");
    assert!(
        structure.contains("multipart/mixed 9")
            && structure.contains("  text/plain 5")
            && structure.contains("  application/octet-stream 4"),
        "{structure}"
    );
    // An invalid header block is reported (and the message still stored: a catcher).
    stored_name(&client.mail("Subject: no from\r\n\r\nx\r\n").await);
    let line = smtpd.wait_for("valid=false");
    assert!(line.contains("From") && line.contains("Date"), "{line}");
}

#[test]
fn smtpd_help_documents_the_flags() {
    let out = Command::new(example_binary())
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--auth-file <PATH>",
        "--require-auth",
        "--allow-insecure-auth",
        "--lmtp",
        "--lmtp-socket <PATH>",
        "--proxy-protocol",
        "--trusted-proxy <CIDR>",
        "--max-connections <N>",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
}

//! The `smtpd` examples as a user runs them: start the binary, send mail with Python's
//! smtplib over plain TCP, STARTTLS and implicit TLS, read the Maildir files, stop it with
//! SIGTERM. The same script and flags run against the blocking example and the tokio one:
//! whatever is scripted against one runs against the other.
//!
//! Needs python3: without it the test says so and passes, except under CI (CI=true).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);

/// Builds the example `name` of `package` and returns its path.
fn example_binary(package: &str, name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let profile = match dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev",
        Some(other) => other,
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_owned());
    let out = Command::new(cargo)
        .args(["build", "--quiet", "-p", package, "--example", name])
        .args(["--profile", profile, "--target-dir"])
        .arg(dir.parent().unwrap())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "building the example failed:\n{stderr}"
    );
    dir.join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
}

struct Smtpd {
    child: Child,
    lines: mpsc::Receiver<String>,
    log: Vec<String>,
}

impl Smtpd {
    fn wait_for(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(line) = self.log.iter().find(|l| l.contains(needle)) {
                return line.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.log.push(line),
                Err(_) => panic!("smtpd never logged {needle:?}; log: {:#?}", self.log),
            }
        }
    }

    fn port(&mut self, what: &str) -> u16 {
        let line = self.wait_for(what);
        let addr = line.rsplit("addr=").next().unwrap().trim();
        addr.rsplit(':').next().unwrap().parse().unwrap()
    }
}

impl Drop for Smtpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const SCRIPT: &str = r#"
import smtplib, ssl, sys
plain, implicit = int(sys.argv[1]), int(sys.argv[2])
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
msg = "Subject: {0}\r\n\r\nHello via {0}\r\n.leading dot\r\n"
s = smtplib.SMTP("127.0.0.1", plain, timeout=10); s.ehlo()
s.sendmail("a@client.test", ["b@mx.test"], msg.format("plain")); s.quit()
s = smtplib.SMTP("127.0.0.1", plain, timeout=10); s.ehlo(); s.starttls(context=ctx); s.ehlo()
s.sendmail("a@client.test", ["b@mx.test", "c@mx.test"], msg.format("starttls")); s.quit()
s = smtplib.SMTP_SSL("127.0.0.1", implicit, timeout=10, context=ctx); s.ehlo()
s.sendmail("a@client.test", ["b@mx.test"], msg.format("implicit")); s.quit()
try:
    s = smtplib.SMTP("127.0.0.1", plain, timeout=10); s.ehlo()
    s.sendmail("a@client.test", ["bounce@mx.test"], msg.format("refused"))
    sys.exit("the refused recipient was accepted")
except smtplib.SMTPRecipientsRefused as e:
    assert e.recipients["bounce@mx.test"][0] == 550, e.recipients
"#;

#[test]
fn python_smtplib_against_both_examples() {
    if Command::new("python3").arg("--version").output().is_err() {
        assert!(std::env::var("CI").is_err(), "python3 is needed under CI");
        eprintln!("SKIPPED: python3 not found");
        return;
    }
    for (package, example) in [("smtp-blocking", "smtpd-blocking"), ("smtp-tokio", "smtpd")] {
        run_script_against(package, example);
    }
}

fn run_script_against(package: &str, example: &str) {
    let maildir = std::env::temp_dir().join(format!("smtpd-{package}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&maildir);
    let mut child = Command::new(example_binary(package, example))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--implicit-tls-listen",
            "127.0.0.1:0",
        ])
        .args(["--self-signed", "--reject-recipients", "^bounce@"])
        .arg("--maildir")
        .arg(&maildir)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("smtpd: {line}");
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut smtpd = Smtpd {
        child,
        lines,
        log: Vec::new(),
    };
    let plain = smtpd.port("listening for SMTP addr=");
    let implicit = smtpd.port("listening for SMTP over implicit TLS");
    let out = Command::new("python3")
        .args(["-c", SCRIPT, &plain.to_string(), &implicit.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "smtplib failed against {package}: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut messages: Vec<String> = std::fs::read_dir(maildir.join("new"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    messages.sort_by_key(|m| m.contains("ESMTPS"));
    assert_eq!(messages.len(), 3, "{messages:#?}");
    assert!(messages[0].starts_with("Return-Path: <a@client.test>\r\nReceived: from "));
    assert!(messages[0].contains(" with ESMTP id "), "{}", messages[0]);
    assert!(messages[0].ends_with("Subject: plain\r\n\r\nHello via plain\r\n.leading dot\r\n"));
    for tls in &messages[1..] {
        assert!(tls.contains("(using TLSv1_3 "), "{tls}");
        assert!(tls.contains(" with ESMTPS id "), "{tls}");
    }
    assert!(messages.iter().any(|m| m.contains("Hello via starttls")));
    assert!(messages.iter().any(|m| m.contains("Hello via implicit")));
    // SIGTERM: a graceful stop.
    let pid = smtpd.child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = smtpd.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "smtpd did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    smtpd.wait_for("stopped");
    // It was this package's server (the adapter logs its shutdown under its crate name).
    smtpd.wait_for(&format!("{}::server", package.replace('-', "_")));
    std::fs::remove_dir_all(&maildir).unwrap();
}

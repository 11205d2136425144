//! AUTH over STARTTLS with lettre (PLAIN and LOGIN), and the protocol trace it leaves: every
//! line in and out at trace level, with the SASL payloads masked. Alone in its test binary:
//! `tracing` caches per-callsite interest across threads, so a scoped subscriber only sees
//! everything when no other test runs beside it.

mod common;

use common::{cert, within, Running};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use smtp_tokio::Server;
use std::time::Duration;

fn email(subject: &str) -> Message {
    Message::builder()
        .from("App <app@client.example>".parse().unwrap())
        .to("You <you@server.example>".parse().unwrap())
        .subject(subject)
        .body(format!("Hello from lettre: {subject}\r\n"))
        .unwrap()
}

fn tls_params(pem: &str) -> TlsParameters {
    TlsParameters::builder("localhost".to_owned())
        .add_root_certificate(Certificate::from_pem(pem.as_bytes()).unwrap())
        .build_rustls()
        .unwrap()
}

/// Accepts one user.
#[derive(Clone)]
struct OneUser;

impl smtp_tokio::Handler for OneUser {
    async fn auth(
        &mut self,
        _mechanism: &str,
        credentials: &smtp_tokio::Credentials,
    ) -> Result<smtp_tokio::Decision, smtp_tokio::Error> {
        use smtp_tokio::{Credentials, Decision, Reply};
        let ok = match credentials {
            Credentials::Plain {
                username, password, ..
            }
            | Credentials::Login { username, password } => {
                username == "user" && password.expose() == b"secret-password"
            }
            _ => false,
        };
        Ok(match ok {
            true => Decision::Accept,
            false => Decision::Reject(Reply::new(535, Some("5.7.8".parse()?), "Bad credentials")?),
        })
    }
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn auth_over_starttls_with_the_password_masked_in_the_trace() {
    use lettre::transport::smtp::authentication::{Credentials, Mechanism};
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer({
            let captured = captured.clone();
            move || captured.clone()
        })
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let cert = cert();
    let mut config = smtp_tokio::Config::new("mx.example");
    config.auth_mechanisms = vec!["PLAIN".into(), "LOGIN".into()];
    config.require_auth = true;
    let builder = Server::builder().config(config).tls(cert.server.clone());
    let server = Running::start(builder, OneUser).await;
    for mechanism in [Mechanism::Plain, Mechanism::Login] {
        let mailer = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
            .port(server.addr.port())
            .tls(Tls::Required(tls_params(&cert.pem)))
            .credentials(Credentials::new("user".into(), "secret-password".into()))
            .authentication(vec![mechanism])
            .timeout(Some(Duration::from_secs(10)))
            .build();
        within("lettre send", mailer.send(email("auth")))
            .await
            .unwrap();
        let wrong = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
            .port(server.addr.port())
            .tls(Tls::Required(tls_params(&cert.pem)))
            .credentials(Credentials::new("user".into(), "wrong".into()))
            .authentication(vec![mechanism])
            .timeout(Some(Duration::from_secs(10)))
            .build();
        let err = within("lettre send", wrong.send(email("auth")))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("535"), "{err}");
    }
    server.stop().await;

    let trace = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(trace.contains("S: 235 2.7.0"), "{trace}");
    assert!(trace.contains("C: AUTH PLAIN ***"), "{trace}");
    assert!(
        trace.contains("C: ***"),
        "LOGIN's answers are masked: {trace}"
    );
    for secret in [
        "secret-password",
        "c2VjcmV0LXBhc3N3b3Jk",
        "dXNlcgBzZWNyZXQ",
        "AHVzZXIAc2VjcmV0",
    ] {
        assert!(!trace.contains(secret), "{secret} leaked into the trace");
    }
}

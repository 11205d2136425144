//! Real clients over real sockets: lettre over plain TCP, STARTTLS and implicit TLS, the
//! TLS-required refusal, and STARTTLS command injection.

mod common;

use common::{cert, within, Client, Recorder, Running};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use smtp_tokio::Server;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::AsyncReadExt;

fn email(subject: &str) -> Message {
    Message::builder()
        .from("App <app@client.example>".parse().unwrap())
        .to("You <you@server.example>".parse().unwrap())
        .subject(subject)
        .body(format!("Hello from lettre: {subject}\r\n"))
        .unwrap()
}

fn mailer(addr: SocketAddr, tls: Tls) -> AsyncSmtpTransport<Tokio1Executor> {
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(addr.ip().to_string())
        .port(addr.port())
        .tls(tls)
        .timeout(Some(Duration::from_secs(10)))
        .build()
}

fn tls_params(pem: &str) -> TlsParameters {
    TlsParameters::builder("localhost".to_owned())
        .add_root_certificate(Certificate::from_pem(pem.as_bytes()).unwrap())
        .build_rustls()
        .unwrap()
}

#[tokio::test]
async fn lettre_over_plain_tcp() {
    let (recorder, mut seen) = Recorder::new();
    let server = Running::start(Server::builder(), recorder).await;
    let response = within(
        "lettre send",
        mailer(server.addr, Tls::None).send(email("plain")),
    )
    .await
    .unwrap();
    assert_eq!(response.code().to_string(), "250");
    let message = within("message", seen.recv()).await.unwrap();
    assert_eq!(message.from, "<app@client.example>");
    assert_eq!(message.to, ["<you@server.example>"]);
    assert!(message.tls.is_none());
    let body = String::from_utf8(message.body).unwrap();
    assert!(body.contains("Subject: plain\r\n"), "{body}");
    assert!(
        body.contains("\r\n\r\nHello from lettre: plain\r\n"),
        "{body}"
    );
    server.stop().await;
}

#[tokio::test]
async fn lettre_with_starttls() {
    let cert = cert();
    let (recorder, mut seen) = Recorder::new();
    let server = Running::start(Server::builder().tls(cert.server.clone()), recorder).await;
    let mailer = mailer(server.addr, Tls::Required(tls_params(&cert.pem)));
    within("lettre send", mailer.send(email("starttls")))
        .await
        .unwrap();
    let message = within("message", seen.recv()).await.unwrap();
    let tls = message.tls.expect("the handler learns about TLS");
    assert_eq!(tls.version, "TLSv1_3");
    assert!(tls.cipher.starts_with("TLS13_"), "{tls}");
    assert_eq!(tls.server_name.as_deref(), Some("localhost"));
    assert!(String::from_utf8(message.body)
        .unwrap()
        .contains("Subject: starttls"));
    server.stop().await;
}

#[tokio::test]
async fn lettre_with_implicit_tls() {
    let cert = cert();
    let (recorder, mut seen) = Recorder::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let builder = Server::builder()
        .tls(cert.server.clone())
        .implicit_tls_listener(listener);
    let server = Running::start(builder, recorder).await;
    let implicit = server.implicit.unwrap();
    let mailer = mailer(implicit, Tls::Wrapper(tls_params(&cert.pem)));
    within("lettre send", mailer.send(email("implicit")))
        .await
        .unwrap();
    let message = within("message", seen.recv()).await.unwrap();
    assert!(message.tls.is_some(), "connect() sees the TLS parameters");
    assert!(String::from_utf8(message.body)
        .unwrap()
        .contains("Subject: implicit"));

    // No STARTTLS on a connection that is already TLS.
    let tcp = tokio::net::TcpStream::connect(implicit).await.unwrap();
    let mut client = Client::new(cert.handshake(tcp).await.unwrap());
    let greeting = client.reply().await;
    assert!(greeting.starts_with("220 localhost"), "{greeting}");
    let ehlo = client.cmd("EHLO client.example").await;
    assert!(
        !ehlo.contains("STARTTLS") && ehlo.contains("REQUIRETLS"),
        "{ehlo}"
    );
    assert_eq!(client.cmd("QUIT").await, "221 2.0.0 Bye");
    server.stop().await;
}

#[tokio::test]
async fn tls_required_refuses_mail_before_starttls() {
    let cert = cert();
    let (recorder, mut seen) = Recorder::new();
    let builder = Server::builder().tls(cert.server.clone()).require_tls(true);
    let server = Running::start(builder, recorder).await;

    // A client that does not do TLS gets 530 (lettre reports it as a permanent error).
    let err = within(
        "lettre send",
        mailer(server.addr, Tls::None).send(email("x")),
    )
    .await
    .unwrap_err();
    assert!(err.is_permanent(), "{err}");
    assert!(err.to_string().contains("5.7.0"), "{err}");

    let mut client = Client::connect(server.addr).await;
    client.hello().await;
    assert_eq!(
        client.cmd("MAIL FROM:<a@client.example>").await,
        "530 5.7.0 Must issue a STARTTLS command first"
    );
    assert_eq!(client.cmd("NOOP").await, "250 2.0.0 OK");

    // With STARTTLS the same server accepts.
    let mailer = mailer(server.addr, Tls::Required(tls_params(&cert.pem)));
    within("lettre send", mailer.send(email("after tls")))
        .await
        .unwrap();
    assert!(within("message", seen.recv()).await.unwrap().tls.is_some());
    server.stop().await;
}

#[tokio::test]
async fn starttls_injection_is_not_executed_after_the_handshake() {
    let cert = cert();
    let (recorder, _seen) = Recorder::new();
    let server = Running::start(Server::builder().tls(cert.server.clone()), recorder).await;
    let mut client = Client::connect(server.addr).await;
    client.hello().await;
    // CVE-2011-0411: the RSET rides in the same write as STARTTLS.
    client.send("STARTTLS\r\nRSET\r\n").await;
    assert_eq!(client.reply().await, "220 2.0.0 Ready to start TLS");
    assert!(client.io.buffer().is_empty());
    let tls = cert.handshake(client.io.into_inner()).await.unwrap();
    let mut client = Client::new(tls);
    // The first reply under TLS answers our EHLO: nothing answers the injected RSET.
    let ehlo = client.cmd("EHLO client.example").await;
    assert!(ehlo.starts_with("250-localhost Hello"), "{ehlo}");
    assert!(!ehlo.contains("STARTTLS"), "{ehlo}");
    assert_eq!(client.cmd("NOOP").await, "250 2.0.0 OK");
    assert_eq!(client.cmd("QUIT").await, "221 2.0.0 Bye");
    server.stop().await;
}

#[tokio::test]
async fn a_failed_handshake_closes_only_that_connection() {
    let cert = cert();
    let (recorder, mut seen) = Recorder::new();
    let server = Running::start(Server::builder().tls(cert.server.clone()), recorder).await;
    let mut client = Client::connect(server.addr).await;
    client.hello().await;
    assert_eq!(client.cmd("STARTTLS").await, "220 2.0.0 Ready to start TLS");
    client.send("this is not a TLS ClientHello\r\n").await;
    // The server answers with a TLS alert and closes.
    let mut rest = Vec::new();
    within("close", client.io.read_to_end(&mut rest))
        .await
        .unwrap();

    let mut client = Client::connect(server.addr).await;
    client.hello().await;
    assert!(client
        .mail("Subject: ok\r\n\r\nok\r\n")
        .await
        .starts_with("250"));
    assert_eq!(
        within("message", seen.recv()).await.unwrap().body,
        b"Subject: ok\r\n\r\nok\r\n"
    );
    server.stop().await;
}

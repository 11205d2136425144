//! A handler that takes the message parsed: lettre sends a real multipart message (text,
//! HTML alternative, a binary attachment) and the handler sees its MIME structure, decoded
//! bodies and the header validation result, with the raw octets alongside.

mod common;

use common::{within, Running};
use lettre::message::header::ContentType;
use lettre::message::{Attachment, MultiPart, SinglePart};
use lettre::transport::smtp::client::Tls;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use smtp_tokio::proto::mime::{MimeConfig, MimeEvent, Violation};
use smtp_tokio::{Body, BodyEvent, Decision, Error, Handler, Server};
use std::time::Duration;
use tokio::sync::mpsc;

/// One part as the handler saw it: depth, type, file name, decoded body, decoded size.
#[derive(Debug, Clone, PartialEq)]
struct Part {
    depth: usize,
    mime_type: String,
    filename: Option<String>,
    body: Vec<u8>,
    decoded_size: u64,
}

#[derive(Debug)]
struct Parsed {
    parts: Vec<Part>,
    violations: Option<Vec<Violation>>,
    warnings: usize,
    raw: Vec<u8>,
}

#[derive(Clone)]
struct Structure(mpsc::UnboundedSender<Parsed>);

impl Handler for Structure {
    async fn data(&mut self, body: Body) -> Result<Decision, Error> {
        let mut parsed = body.parsed(MimeConfig::default()).with_raw(true);
        let mut out = Parsed {
            parts: Vec::new(),
            violations: None,
            warnings: 0,
            raw: Vec::new(),
        };
        let mut open = Vec::new(); // indexes into out.parts of the parts not yet ended
        while let Some(event) = parsed.next().await? {
            match event {
                BodyEvent::Raw(bytes) => out.raw.extend_from_slice(&bytes),
                BodyEvent::Headers(violations) => out.violations = Some(violations),
                BodyEvent::Mime(MimeEvent::PartStart(info)) => {
                    open.push(out.parts.len());
                    out.parts.push(Part {
                        depth: info.depth,
                        mime_type: info.content_type.mime_type().to_string(),
                        filename: info.filename.as_ref().map(ToString::to_string),
                        body: Vec::new(),
                        decoded_size: 0,
                    });
                }
                BodyEvent::Mime(MimeEvent::Body(bytes)) => {
                    let current = *open.last().expect("a body inside a part");
                    out.parts[current].body.extend_from_slice(&bytes);
                }
                BodyEvent::Mime(MimeEvent::PartEnd(end)) => {
                    let current = open.pop().expect("ends nest like starts");
                    out.parts[current].decoded_size = end.decoded_size;
                }
                BodyEvent::Mime(MimeEvent::Warning(_)) => out.warnings += 1,
                _ => {}
            }
        }
        assert!(open.is_empty());
        let _ = self.0.send(out);
        Ok(Decision::Accept)
    }
}

#[tokio::test]
async fn lettre_multipart_message_as_mime_events() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = Running::start(Server::builder(), Structure(tx)).await;
    let binary: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    let email = Message::builder()
        .from("App <app@client.example>".parse().unwrap())
        .to("You <you@server.example>".parse().unwrap())
        .subject("Report")
        .multipart(
            MultiPart::mixed()
                .multipart(
                    MultiPart::alternative()
                        .singlepart(SinglePart::plain("Hello, plain text.\r\n".to_owned()))
                        .singlepart(SinglePart::html("<p>Hello, HTML.</p>".to_owned())),
                )
                .singlepart(Attachment::new("data.bin".to_owned()).body(
                    binary.clone(),
                    ContentType::parse("application/octet-stream").unwrap(),
                )),
        )
        .unwrap();
    let sent = email.formatted();
    let mailer = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(server.addr.port())
        .tls(Tls::None)
        .timeout(Some(Duration::from_secs(10)))
        .build();
    within("lettre send", mailer.send(email)).await.unwrap();
    let parsed = within("parsed message", rx.recv()).await.unwrap();

    // The raw octets come through unchanged (lettre ends the data with a CRLF of its own).
    assert!(parsed.raw.starts_with(&sent), "raw octets changed");
    assert!(parsed.raw[sent.len()..].iter().all(|b| b"\r\n".contains(b)));
    assert_eq!(
        parsed.violations,
        Some(Vec::new()),
        "lettre writes valid headers"
    );
    assert_eq!(parsed.warnings, 0);
    let shape: Vec<(usize, &str)> = parsed
        .parts
        .iter()
        .map(|p| (p.depth, p.mime_type.as_str()))
        .collect();
    assert_eq!(
        shape,
        [
            (0, "multipart/mixed"),
            (1, "multipart/alternative"),
            (2, "text/plain"),
            (2, "text/html"),
            (1, "application/octet-stream"),
        ]
    );
    assert_eq!(parsed.parts[2].body, b"Hello, plain text.\r\n");
    assert_eq!(parsed.parts[3].body, b"<p>Hello, HTML.</p>");
    let attachment = &parsed.parts[4];
    assert_eq!(attachment.filename.as_deref(), Some("data.bin"));
    assert_eq!(attachment.body, binary, "base64 decoded");
    assert_eq!(attachment.decoded_size, 5000);
    let leaves: u64 = parsed.parts[2..].iter().map(|p| p.decoded_size).sum();
    assert_eq!(parsed.parts[0].decoded_size, leaves);
    server.stop().await;
}

#[tokio::test]
async fn invalid_headers_are_reported_not_refused() {
    let mut body = Body::from_bytes("Subject: one\r\nSubject: two\r\n\r\nno From, no Date\r\n")
        .parsed(MimeConfig::default());
    let mut violations = None;
    while let Some(event) = body.next().await.unwrap() {
        if let BodyEvent::Headers(v) = event {
            violations = Some(v);
        }
    }
    let kinds: Vec<String> = violations
        .unwrap()
        .iter()
        .map(|v| format!("{:?}", v.kind))
        .collect();
    assert!(kinds.len() >= 3, "{kinds:?}"); // From and Date missing, Subject twice
}

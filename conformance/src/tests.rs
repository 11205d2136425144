//! The tests, each generic over the [`Adapter`]. [`suite!`](crate::suite) makes a `#[test]`
//! of each for one adapter.

use crate::{Adapter, Client, TestCert, TestConfig, CLIENT_TIMEOUT};
use smtp_proto::proxy::{ProxyConfig, ProxyHeader};
use smtp_proto::{BareLineEndings, EarlyTalkers, Protocol};
use std::collections::HashMap;
use std::thread;
use std::time::{Duration, Instant};

fn ehlo(c: &mut Client) -> Vec<String> {
    c.cmd("EHLO client.test", 250).lines
}

/// EHLO, MAIL, two RCPTs, DATA with a dot-stuffed line, QUIT: the handler gets the envelope
/// and the body byte for byte.
pub fn full_transaction<A: Adapter>() {
    let server = A::start(TestConfig::new());
    let mut c = server.client();
    let lines = ehlo(&mut c);
    assert!(lines[0].starts_with("mx.test"), "{lines:?}");
    assert!(lines.iter().any(|l| l == "PIPELINING"), "{lines:?}");
    c.envelope("alice@client.test", &["bob@mx.test", "carol@mx.test"]);
    let body = b"Subject: hi\r\n\r\nHello\r\n.leading dot\r\n..two dots\r\n";
    assert_eq!(c.data(body).code, 250);
    c.cmd("QUIT", 221);
    c.expect_closed();
    let got = server.sink.wait_for(1, CLIENT_TIMEOUT);
    assert_eq!(got[0].from, "<alice@client.test>");
    assert_eq!(got[0].to, ["<bob@mx.test>", "<carol@mx.test>"]);
    assert_eq!(got[0].body, body);
    assert!(!got[0].tls);
    server.stop();
}

/// One write with a whole pipelined group (RFC 2920): the replies come back in order,
/// including the refused recipient's.
pub fn pipelined_group_replies_in_order<A: Adapter>() {
    let server = A::start(TestConfig::new());
    let mut c = server.client();
    c.send(
        "EHLO client.test\r\nMAIL FROM:<a@client.test>\r\nRCPT TO:<b@mx.test>\r\n\
         RCPT TO:<reject@mx.test>\r\nRCPT TO:<c@mx.test>\r\nDATA\r\n",
    );
    for code in [250, 250, 250, 550, 250, 354] {
        c.expect(code);
    }
    c.send("pipelined\r\n.\r\nNOOP\r\nRSET\r\nQUIT\r\n");
    for code in [250, 250, 250, 221] {
        c.expect(code);
    }
    c.expect_closed();
    let got = server.sink.wait_for(1, CLIENT_TIMEOUT);
    assert_eq!(got[0].to, ["<b@mx.test>", "<c@mx.test>"]);
    assert_eq!(got[0].body, b"pipelined\r\n");
}

/// RSET drops the transaction: RCPT and DATA need a new MAIL; the next message has only
/// the recipients given after it.
pub fn rset_semantics<A: Adapter>() {
    let server = A::start(TestConfig::new());
    let mut c = server.client();
    ehlo(&mut c);
    c.envelope("first@client.test", &["dropped@mx.test"]);
    c.cmd("RSET", 250);
    c.cmd("RCPT TO:<x@mx.test>", 503);
    c.cmd("DATA", 503);
    c.cmd("RSET", 250); // RSET without a transaction is fine too
    c.envelope("second@client.test", &["kept@mx.test"]);
    assert_eq!(c.data(b"after rset\r\n").code, 250);
    let got = server.sink.wait_for(1, CLIENT_TIMEOUT);
    assert_eq!(got[0].from, "<second@client.test>");
    assert_eq!(got[0].to, ["<kept@mx.test>"]);
    assert_eq!(server.sink.delivered().len(), 1);
}

/// A command line of exactly `max_line_length` octets (CRLF included) is fine, one more is
/// `500 5.5.2`, and the session goes on.
pub fn line_length_at_the_edge<A: Adapter>() {
    let server = A::start(TestConfig::new());
    let mut c = server.client();
    ehlo(&mut c);
    let fill = |n: usize| format!("NOOP {}\r\n", "x".repeat(n - 7));
    c.send(fill(512));
    c.expect(250);
    c.send(fill(513));
    assert!(c.expect(500).lines[0].starts_with("5.5.2"));
    // A very long line (no LF for a while) costs no memory and one reply.
    c.send(fill(100_000));
    c.expect(500);
    c.cmd("NOOP", 250);
}

fn lines_of(n: usize) -> Vec<u8> {
    // 100-octet lines: 98 octets and CRLF.
    let mut body = Vec::new();
    for i in 0..n {
        body.extend_from_slice(format!("{:0>98}\r\n", i).as_bytes());
    }
    body
}

/// A message of exactly `max_message_size` octets is accepted; one octet more is drained
/// and `552`; so is a far larger one; and the connection stays in step for the next message.
pub fn message_size_at_the_edge_with_drain<A: Adapter>() {
    let mut config = TestConfig::new();
    config.config.max_message_size = 1000;
    let server = A::start(config);
    let mut c = server.client();
    let lines = ehlo(&mut c);
    assert!(lines.iter().any(|l| l == "SIZE 1000"), "{lines:?}");
    let exact = lines_of(10);
    c.envelope("a@client.test", &["b@mx.test"]);
    assert_eq!(c.data(&exact).code, 250);
    let mut over = b"z".to_vec();
    over.extend_from_slice(&exact);
    c.envelope("a@client.test", &["b@mx.test"]);
    assert_eq!(c.data(&over).code, 552);
    c.envelope("a@client.test", &["b@mx.test"]);
    assert_eq!(c.data(&lines_of(5000)).code, 552);
    c.cmd("MAIL FROM:<a@client.test> SIZE=1001", 552);
    c.envelope("last@client.test", &["b@mx.test"]);
    assert_eq!(c.data(b"small\r\n").code, 250);
    let got = server.sink.wait_for(2, CLIENT_TIMEOUT);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].body, exact);
    assert_eq!(got[1].body, b"small\r\n");
}

/// `max_recipients` recipients are accepted, the next is `452 4.5.3`, and the message goes
/// to the accepted ones.
pub fn recipient_limit_at_the_edge<A: Adapter>() {
    let mut config = TestConfig::new();
    config.config.max_recipients = 3;
    let server = A::start(config);
    let mut c = server.client();
    ehlo(&mut c);
    c.envelope("a@client.test", &["r1@mx.test", "r2@mx.test", "r3@mx.test"]);
    assert!(c.cmd("RCPT TO:<r4@mx.test>", 452).lines[0].starts_with("4.5.3"));
    assert_eq!(c.data(b"three\r\n").code, 250);
    let got = server.sink.wait_for(1, CLIENT_TIMEOUT);
    assert_eq!(got[0].to.len(), 3);
}

/// With `max_errors = 3`, two bad commands get `500`, the third `421 4.7.0` and the close.
pub fn error_limit_at_the_edge<A: Adapter>() {
    let mut config = TestConfig::new();
    config.config.max_errors = 3;
    let server = A::start(config);
    let mut c = server.client();
    ehlo(&mut c);
    c.cmd("BOGUS", 500);
    c.cmd("BOGUS", 500);
    assert!(c.cmd("BOGUS", 421).lines[0].starts_with("4.7.0"));
    c.expect_closed();
}

/// A client that says nothing gets `421 4.4.2` after the command timeout, and is closed.
pub fn command_timeout<A: Adapter>() {
    let mut config = TestConfig::new();
    config.config.timeouts.command = Duration::from_millis(300);
    let server = A::start(config);
    let start = Instant::now();
    let mut c = server.client();
    assert!(c.expect(421).lines[0].starts_with("4.4.2"));
    c.expect_closed();
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(250), "{waited:?}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
}

/// A client that stops in the middle of the data gets `421 4.4.2` after the data-block
/// timeout; nothing is delivered.
pub fn data_timeout<A: Adapter>() {
    let mut config = TestConfig::new();
    config.config.timeouts.data_block = Duration::from_millis(300);
    let server = A::start(config);
    let mut c = server.client();
    ehlo(&mut c);
    c.envelope("a@client.test", &["b@mx.test"]);
    c.cmd("DATA", 354);
    c.send("Subject: stalled\r\n");
    assert!(c.expect(421).lines[0].starts_with("4.4.2"));
    c.expect_closed();
    thread::sleep(Duration::from_millis(100));
    assert!(server.sink.delivered().is_empty());
}

/// STARTTLS with a command pipelined behind it in the same plaintext write: the command is
/// thrown away, never executed; after the handshake the session wants a new EHLO, which no
/// longer offers STARTTLS; the message arrives marked as TLS.
pub fn starttls_reehlo_and_injection_discarded<A: Adapter>() {
    let cert = TestCert::new();
    let mut config = TestConfig::new();
    config.tls = Some(cert.server.clone());
    let server = A::start(config);
    let mut c = server.client();
    assert!(ehlo(&mut c).iter().any(|l| l == "STARTTLS"));
    c.send("STARTTLS\r\nMAIL FROM:<injected@evil.test>\r\n");
    c.expect(220);
    c.handshake(&cert.client);
    c.cmd("MAIL FROM:<a@client.test>", 503); // the EHLO before TLS is forgotten
    let lines = ehlo(&mut c);
    assert!(!lines.iter().any(|l| l == "STARTTLS"), "{lines:?}");
    c.cmd("STARTTLS", 503);
    c.envelope("a@client.test", &["b@mx.test"]);
    assert_eq!(c.data(b"secret\r\n").code, 250);
    c.cmd("QUIT", 221);
    let got = server.sink.wait_for(1, CLIENT_TIMEOUT);
    assert!(got[0].tls);
    assert_eq!(got[0].body, b"secret\r\n");
    assert_eq!(server.sink.mail(), ["<a@client.test>"]);
}

/// Implicit TLS: the handshake first, then SMTP without STARTTLS.
pub fn implicit_tls<A: Adapter>() {
    let cert = TestCert::new();
    let mut config = TestConfig::new();
    config.tls = Some(cert.server.clone());
    config.implicit_tls = true;
    let server = A::start(config);
    let mut c = Client::connect_tls(server.tls_addr.expect("an implicit-TLS port"), &cert.client);
    assert!(!ehlo(&mut c).iter().any(|l| l == "STARTTLS"));
    c.envelope("a@client.test", &["b@mx.test"]);
    assert_eq!(c.data(b"implicit\r\n").code, 250);
    c.cmd("QUIT", 221);
    let got = server.sink.wait_for(1, CLIENT_TIMEOUT);
    assert!(got[0].tls);
    assert_eq!(got[0].body, b"implicit\r\n");
}

/// TLS-required mode: before STARTTLS only NOOP, EHLO, STARTTLS and QUIT; mail after it.
pub fn tls_required<A: Adapter>() {
    let cert = TestCert::new();
    let mut config = TestConfig::new();
    config.tls = Some(cert.server.clone());
    config.require_tls = true;
    let server = A::start(config);
    let mut c = server.client();
    ehlo(&mut c);
    assert!(c.cmd("MAIL FROM:<a@client.test>", 530).lines[0].starts_with("5.7.0"));
    c.cmd("NOOP", 250);
    c.starttls(&cert.client);
    ehlo(&mut c);
    c.envelope("a@client.test", &["b@mx.test"]);
    assert_eq!(c.data(b"required\r\n").code, 250);
    let got = server.sink.wait_for(1, CLIENT_TIMEOUT);
    assert!(got[0].tls);
    assert!(server.sink.mail().len() == 1);
}

/// The SMTP smuggling end-of-data lookalikes (CVE-2023-51764/51765/51766).
const SMUGGLING: [&str; 6] = ["\n.\n", "\n.\r\n", "\r\n.\n", "\r.\r\n", "\r\n.\r", "\r.\r"];

fn smuggle(c: &mut Client, variant: &str) -> u16 {
    c.envelope("a@client.test", &["b@mx.test"]);
    c.cmd("DATA", 354);
    c.send(format!(
        "Subject: s\r\n\r\nhello{variant}MAIL FROM:<smuggled@evil.test>\r\n\
         RCPT TO:<victim@mx.test>\r\nDATA\r\nsmuggled\r\n.\r\n"
    ));
    let code = c.reply().code;
    c.cmd("NOOP", 250); // still in step: nothing smuggled was executed
    code
}

/// Under the default policy every lookalike ends nothing and the message is refused
/// (`550 5.6.0`); the smuggled commands are never executed.
pub fn smuggling_variants_rejected<A: Adapter>() {
    let server = A::start(TestConfig::new());
    let mut c = server.client();
    ehlo(&mut c);
    for variant in SMUGGLING {
        assert_eq!(smuggle(&mut c, variant), 550, "{variant:?}");
    }
    assert!(server.sink.delivered().is_empty());
    assert!(server.sink.mail().iter().all(|m| m == "<a@client.test>"));
}

/// With bare line endings accepted as data, each lookalike is part of one message, smuggled
/// commands included.
pub fn smuggling_variants_accepted_as_data<A: Adapter>() {
    let mut config = TestConfig::new();
    config.config.bare_line_endings = BareLineEndings::Accept;
    let server = A::start(config);
    let mut c = server.client();
    ehlo(&mut c);
    for variant in SMUGGLING {
        assert_eq!(smuggle(&mut c, variant), 250, "{variant:?}");
    }
    let got = server.sink.wait_for(SMUGGLING.len(), CLIENT_TIMEOUT);
    assert_eq!(got.len(), SMUGGLING.len());
    for message in got {
        let body = String::from_utf8(message.body).unwrap();
        assert!(body.starts_with("Subject: s\r\n\r\nhello"), "{body:?}");
        assert!(
            body.contains("MAIL FROM:<smuggled@evil.test>\r\n"),
            "{body:?}"
        );
    }
    assert!(server.sink.mail().iter().all(|m| m == "<a@client.test>"));
}

/// BDAT (RFC 3030): chunks in one pipelined write; a chunk holding `CRLF.CRLF` and command
/// lines is data.
pub fn bdat_chunks<A: Adapter>() {
    let server = A::start(TestConfig::new());
    let mut c = server.client();
    assert!(ehlo(&mut c).iter().any(|l| l == "CHUNKING"));
    c.envelope("a@client.test", &["b@mx.test"]);
    let first = "Subject: bdat\r\n\r\nline\r\n.\r\nQUIT\r\n";
    let last = "RSET\r\nend\r\n";
    c.send(format!(
        "BDAT {}\r\n{first}BDAT {} LAST\r\n{last}",
        first.len(),
        last.len()
    ));
    c.expect(250);
    c.expect(250);
    c.cmd("NOOP", 250);
    let got = server.sink.wait_for(1, CLIENT_TIMEOUT);
    assert_eq!(got[0].body, format!("{first}{last}").as_bytes());
}

/// The pipelined BDAT after a refused RCPT (no valid recipient): the chunk is read as data
/// and refused, never executed as commands.
pub fn bdat_after_rejected_rcpt_is_data<A: Adapter>() {
    let server = A::start(TestConfig::new());
    let mut c = server.client();
    ehlo(&mut c);
    let chunk = "MAIL FROM:<evil@attacker.test>\r\nRCPT TO:<victim@mx.test>\r\n";
    c.send(format!(
        "MAIL FROM:<a@client.test>\r\nRCPT TO:<reject@mx.test>\r\nBDAT {} LAST\r\n{chunk}NOOP\r\n",
        chunk.len()
    ));
    c.expect(250);
    c.expect(550);
    let refused = c.reply();
    assert!(refused.code >= 500, "{refused:?}");
    c.expect(250); // the NOOP: exactly one reply for the chunk, none for its lines
    c.cmd("QUIT", 221);
    c.expect_closed();
    assert!(server.sink.delivered().is_empty());
    assert_eq!(server.sink.mail(), ["<a@client.test>"]);
}

/// A handler that returns from `data` without reading: the adapter drains the body, the
/// handler's reply goes out after the end of data, and the next message is intact.
pub fn early_return_from_data_drains<A: Adapter>() {
    let server = A::start(TestConfig::new());
    let mut c = server.client();
    ehlo(&mut c);
    c.envelope("a@client.test", &["early@mx.test"]);
    let reply = c.data(&lines_of(3000));
    assert_eq!(
        (reply.code, reply.lines[0].as_str()),
        (250, "2.0.0 Skipped")
    );
    c.envelope("a@client.test", &["b@mx.test"]);
    let body = lines_of(7);
    assert_eq!(c.data(&body).code, 250);
    let got = server.sink.wait_for(1, CLIENT_TIMEOUT);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, body);
}

/// Beyond `max_connections`, a client gets `421 4.3.2` and is closed; a freed slot serves
/// again.
pub fn connection_cap<A: Adapter>() {
    let mut config = TestConfig::new();
    config.max_connections = 2;
    let server = A::start(config);
    let mut a = server.client();
    let _b = server.client();
    let mut over = Client::connect(server.addr);
    assert!(over.expect(421).lines[0].starts_with("4.3.2"));
    over.expect_closed();
    a.cmd("QUIT", 221);
    a.expect_closed();
    let end = Instant::now() + CLIENT_TIMEOUT;
    loop {
        let mut c = Client::connect(server.addr);
        if c.reply().code == 220 {
            break;
        }
        assert!(Instant::now() < end, "the slot was never freed");
        thread::sleep(Duration::from_millis(20));
    }
}

/// Graceful shutdown: an idle client gets `421 4.3.0` at once; a message in flight
/// completes and is delivered, then that client gets the `421` too.
pub fn graceful_shutdown<A: Adapter>() {
    let server = A::start(TestConfig::new());
    let sink = server.sink.clone();
    let mut idle = server.client();
    ehlo(&mut idle);
    let mut busy = server.client();
    ehlo(&mut busy);
    busy.envelope("a@client.test", &["b@mx.test"]);
    busy.cmd("DATA", 354);
    busy.send("Subject: in flight\r\n\r\n");
    let stopping = thread::spawn(move || server.stop());
    assert!(idle.expect(421).lines[0].starts_with("4.3.0"));
    idle.expect_closed();
    thread::sleep(Duration::from_millis(200));
    busy.send("the end\r\n.\r\n");
    busy.expect(250);
    assert!(busy.expect(421).lines[0].starts_with("4.3.0"));
    busy.expect_closed();
    stopping.join().unwrap();
    let got = sink.delivered();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, b"Subject: in flight\r\n\r\nthe end\r\n");
}

/// 50 clients at once, 20 messages each, all different: every message reaches the handler
/// exactly once, byte for byte.
pub fn concurrent_clients<A: Adapter>() {
    const CLIENTS: usize = 50;
    const MESSAGES: usize = 20;
    let server = A::start(TestConfig::new());
    let body = |i: usize, j: usize| {
        let mut body = format!("Subject: client {i} message {j}\r\n\r\n").into_bytes();
        body.extend_from_slice(b".dot-stuffed line\r\n");
        body.extend_from_slice(&lines_of((i * 7 + j * 13) % 50));
        body
    };
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let addr = server.addr;
            thread::spawn(move || {
                let mut c = Client::connect(addr);
                c.expect(220);
                ehlo(&mut c);
                for j in 0..MESSAGES {
                    c.envelope(&format!("c{i}@client.test"), &[&format!("m{j}@mx.test")]);
                    assert_eq!(c.data(&body(i, j)).code, 250);
                }
                c.cmd("QUIT", 221);
            })
        })
        .collect();
    for client in clients {
        client.join().expect("a client failed");
    }
    let got = server.sink.wait_for(CLIENTS * MESSAGES, CLIENT_TIMEOUT);
    assert_eq!(got.len(), CLIENTS * MESSAGES);
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    for message in &got {
        let key = (message.from.clone(), message.to.concat());
        *seen.entry(key.clone()).or_default() += 1;
        let i: usize = message.from[2..]
            .split('@')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let j: usize = message.to[0][2..]
            .split('@')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(message.body, body(i, j), "client {i} message {j}");
    }
    assert_eq!(seen.len(), CLIENTS * MESSAGES);
    assert!(seen.values().all(|&n| n == 1));
}

/// LMTP (RFC 2033): LHLO, and after the data one reply per accepted recipient, in RCPT
/// order, each the handler's own.
pub fn lmtp_reply_per_recipient<A: Adapter>() {
    let mut config = TestConfig::new();
    config.config.protocol = Protocol::Lmtp;
    let server = A::start(config);
    let mut c = server.client();
    c.cmd("EHLO client.test", 500);
    c.cmd("LHLO client.test", 250);
    c.envelope(
        "a@client.test",
        &["one@mx.test", "full@mx.test", "two@mx.test"],
    );
    c.cmd("RCPT TO:<reject@mx.test>", 550);
    c.cmd("DATA", 354);
    c.send("Subject: lmtp\r\n\r\nhi\r\n.\r\n");
    for code in [250, 452, 250] {
        c.expect(code);
    }
    c.cmd("QUIT", 221);
    let got = server.sink.wait_for(1, CLIENT_TIMEOUT);
    assert_eq!(got[0].to.len(), 3);
    assert_eq!(got[0].body, b"Subject: lmtp\r\n\r\nhi\r\n");
}

/// A handler's failures become replies, never dropped connections: an `Err` from RCPT is
/// `451 4.3.0`, a reply of the wrong class too, an `Err` after the data `554 5.3.0`; the
/// session goes on.
pub fn handler_errors_become_replies<A: Adapter>() {
    let server = A::start(TestConfig::new());
    let mut c = server.client();
    ehlo(&mut c);
    c.cmd("MAIL FROM:<a@client.test>", 250);
    assert!(c.cmd("RCPT TO:<error@mx.test>", 451).lines[0].starts_with("4.3.0"));
    assert!(c.cmd("RCPT TO:<wrongclass@mx.test>", 451).lines[0].starts_with("4.3.0"));
    c.cmd("RCPT TO:<failing@mx.test>", 250);
    let reply = c.data(b"lost\r\n");
    assert_eq!(reply.code, 554, "{reply:?}");
    assert!(reply.lines[0].starts_with("5.3.0"), "{reply:?}");
    c.envelope("a@client.test", &["b@mx.test"]);
    assert_eq!(c.data(b"kept\r\n").code, 250);
    let got = server.sink.wait_for(1, CLIENT_TIMEOUT);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, b"kept\r\n");
}

/// Graceful shutdown with a transaction that does not finish: at the shutdown deadline it
/// gets `421 4.3.0` and is closed, nothing is delivered, and the server stops.
pub fn shutdown_deadline_closes_transactions<A: Adapter>() {
    let mut config = TestConfig::new();
    config.shutdown_timeout = Duration::from_millis(300);
    let server = A::start(config);
    let sink = server.sink.clone();
    let mut slow = server.client();
    ehlo(&mut slow);
    slow.envelope("a@client.test", &["b@mx.test"]);
    slow.cmd("DATA", 354);
    slow.send("Subject: never ends\r\n");
    let start = Instant::now();
    let stopping = thread::spawn(move || server.stop());
    assert!(slow.expect(421).lines[0].starts_with("4.3.0"));
    slow.expect_closed();
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(250), "{waited:?}");
    stopping.join().unwrap();
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(sink.delivered().is_empty());
}

/// Not a test but a measurement (ignored by default; run it in release with
/// `-- --ignored --nocapture measure_throughput`): 50 clients send 100 messages of 10 KiB
/// each on one connection apiece; prints messages per second.
pub fn measure_throughput<A: Adapter>() {
    const CLIENTS: usize = 50;
    const MESSAGES: usize = 100;
    let server = A::start(TestConfig::new());
    let body = lines_of(100);
    let start = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (addr, body) = (server.addr, body.clone());
            thread::spawn(move || {
                let mut c = Client::connect(addr);
                c.expect(220);
                ehlo(&mut c);
                for j in 0..MESSAGES {
                    c.envelope(&format!("c{i}@client.test"), &[&format!("m{j}@mx.test")]);
                    assert_eq!(c.data(&body).code, 250);
                }
                c.cmd("QUIT", 221);
            })
        })
        .collect();
    for client in clients {
        client.join().expect("a client failed");
    }
    let elapsed = start.elapsed();
    let n = CLIENTS * MESSAGES;
    assert_eq!(server.sink.wait_for(n, CLIENT_TIMEOUT).len(), n);
    println!(
        "{n} messages of {} octets from {CLIENTS} clients in {elapsed:?}: {:.0} messages/s",
        body.len(),
        n as f64 / elapsed.as_secs_f64()
    );
}

/// RSET between two BDAT chunks abandons the message: the handler is told once, the next
/// chunk is read and refused (no transaction), and the next transaction is whole.
pub fn bdat_rset_between_chunks<A: Adapter>() {
    let server = A::start(TestConfig::new());
    let mut c = server.client();
    ehlo(&mut c);
    c.envelope("a@client.test", &["b@mx.test"]);
    c.send("BDAT 7\r\nhello\r\n");
    c.expect(250);
    c.cmd("RSET", 250);
    assert_eq!(server.sink.resets(), 1);
    c.send("BDAT 6 LAST\r\nQUIT\r\n");
    c.expect(503);
    c.envelope("a@client.test", &["b@mx.test"]);
    c.send("BDAT 7 LAST\r\nwhole\r\n");
    c.expect(250);
    c.cmd("QUIT", 221);
    let got = server.sink.wait_for(1, CLIENT_TIMEOUT);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, b"whole\r\n");
    assert_eq!(server.sink.resets(), 1);
}

/// A greeting delay: a patient client gets the `220` after it; a client that talks first is
/// refused with `554 5.5.1`; with early talkers allowed, even a long early pipeline (more
/// than a line, which the session holds without reading further) is answered after the
/// greeting, in order.
pub fn greeting_delay_and_early_talkers<A: Adapter>() {
    let delay = Duration::from_millis(300);
    let mut config = TestConfig::new();
    config.config.timeouts.greeting_delay = delay;
    let server = A::start(config);
    let start = Instant::now();
    let mut patient = Client::connect(server.addr);
    patient.expect(220);
    assert!(
        start.elapsed() >= delay - Duration::from_millis(50),
        "{:?}",
        start.elapsed()
    );
    ehlo(&mut patient);
    let mut early = Client::connect(server.addr);
    early.send("EHLO early.test\r\n");
    assert!(early.expect(554).lines[0].starts_with("5.5.1"));
    early.expect_closed();
    drop(server);

    let mut config = TestConfig::new();
    config.config.timeouts.greeting_delay = delay;
    config.config.early_talkers = EarlyTalkers::Allow;
    let server = A::start(config);
    let mut early = Client::connect(server.addr);
    early.send("NOOP\r\n".repeat(100));
    early.expect(220);
    for _ in 0..100 {
        early.expect(250);
    }
    early.cmd("QUIT", 221);
}

fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for group in input.chunks(3) {
        let b = [
            group[0],
            *group.get(1).unwrap_or(&0),
            *group.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= group.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// AUTH (RFC 4954) with `require_auth`: not offered before TLS; after STARTTLS, MAIL needs
/// it, a wrong password is `535`, LOGIN and PLAIN reach the handler's verdict.
pub fn auth_after_starttls<A: Adapter>() {
    let cert = TestCert::new();
    let mut config = TestConfig::new();
    config.tls = Some(cert.server.clone());
    config.config.auth_mechanisms = vec!["PLAIN".into(), "LOGIN".into()];
    config.config.require_auth = true;
    let server = A::start(config);
    let mut c = server.client();
    assert!(!ehlo(&mut c).iter().any(|l| l.starts_with("AUTH")));
    c.send(format!("AUTH PLAIN {}\r\n", base64(b"\0alice\0secret")));
    let refused = c.reply();
    assert!(refused.code >= 500, "{refused:?}");
    c.starttls(&cert.client);
    assert!(ehlo(&mut c).iter().any(|l| l == "AUTH PLAIN LOGIN"));
    c.cmd("MAIL FROM:<a@client.test>", 530);
    c.cmd(&format!("AUTH PLAIN {}", base64(b"\0alice\0wrong")), 535);
    c.cmd("AUTH LOGIN", 334);
    c.cmd(&base64(b"alice"), 334);
    c.cmd(&base64(b"secret"), 235);
    c.cmd(&format!("AUTH PLAIN {}", base64(b"\0alice\0secret")), 503);
    c.envelope("a@client.test", &["b@mx.test"]);
    assert_eq!(c.data(b"authenticated\r\n").code, 250);
    let got = server.sink.wait_for(1, CLIENT_TIMEOUT);
    assert!(got[0].tls);
}

fn proxied(trusted: &str) -> TestConfig {
    let mut config = TestConfig::new();
    config.proxy = Some((trusted.parse().unwrap(), ProxyConfig::default()));
    config
}

/// The PROXY protocol from a trusted peer, v1 and v2: the handler sees the client's address
/// from the header. A command in the header's write came before the greeting: an early
/// talker (`554 5.5.1`).
pub fn proxy_protocol_gives_the_client_address<A: Adapter>() {
    let server = A::start(proxied("127.0.0.0/8"));
    let mut c = Client::connect(server.addr);
    c.send("PROXY TCP4 192.0.2.1 127.0.0.1 5000 25\r\n");
    c.expect(220);
    ehlo(&mut c);
    c.envelope("a@client.test", &["b@mx.test"]);
    assert_eq!(c.data(b"v1\r\n").code, 250);
    let v2 = ProxyHeader::v2("[2001:db8::1]:6000".parse().unwrap(), server.addr);
    let mut c = Client::connect(server.addr);
    c.send(v2.encode().unwrap());
    c.expect(220);
    ehlo(&mut c);
    c.envelope("a@client.test", &["b@mx.test"]);
    assert_eq!(c.data(b"v2\r\n").code, 250);
    let mut first = v2.encode().unwrap();
    first.extend_from_slice(b"EHLO client.test\r\n");
    let mut early = Client::connect(server.addr);
    early.send(first);
    assert!(early.expect(554).lines[0].starts_with("5.5.1"));
    early.expect_closed();
    let got = server.sink.wait_for(2, CLIENT_TIMEOUT);
    assert_eq!(got[0].peer, Some("192.0.2.1:5000".parse().unwrap()));
    assert_eq!(got[1].peer, Some("[2001:db8::1]:6000".parse().unwrap()));
}

/// A trusted peer without a valid header is closed without a word; an untrusted peer's
/// header is never honoured (it is an unknown command).
pub fn proxy_protocol_refusals<A: Adapter>() {
    let server = A::start(proxied("127.0.0.0/8"));
    let mut c = Client::connect(server.addr);
    c.send("EHLO client.test\r\n");
    c.expect_closed();
    drop(server);
    let server = A::start(proxied("10.0.0.0/8"));
    let mut c = server.client();
    c.cmd("PROXY TCP4 192.0.2.1 127.0.0.1 5000 25", 500);
    ehlo(&mut c);
    c.envelope("a@client.test", &["b@mx.test"]);
    assert_eq!(c.data(b"direct\r\n").code, 250);
    let got = server.sink.wait_for(1, CLIENT_TIMEOUT);
    assert_eq!(got[0].peer.map(|p| p.ip()), Some([127, 0, 0, 1].into()));
}

/// Implicit TLS behind a PROXY header, with the ClientHello in the header's write.
pub fn proxy_protocol_before_implicit_tls<A: Adapter>() {
    let cert = TestCert::new();
    let mut config = proxied("127.0.0.0/8");
    config.tls = Some(cert.server.clone());
    config.implicit_tls = true;
    let server = A::start(config);
    let addr = server.tls_addr.unwrap();
    let header = ProxyHeader::v1("192.0.2.7:7000".parse().unwrap(), addr);
    let mut c = Client::connect_tls_with_prefix(addr, &cert.client, &header.encode().unwrap());
    ehlo(&mut c);
    c.envelope("a@client.test", &["b@mx.test"]);
    assert_eq!(c.data(b"proxied tls\r\n").code, 250);
    let got = server.sink.wait_for(1, CLIENT_TIMEOUT);
    assert!(got[0].tls);
    assert_eq!(got[0].peer, Some("192.0.2.7:7000".parse().unwrap()));
}

/// LMTP over a Unix-domain socket (its usual transport): the same handler, no peer address.
#[cfg(unix)]
pub fn lmtp_over_a_unix_socket<A: Adapter>() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static SOCKETS: AtomicUsize = AtomicUsize::new(0);
    let name = format!(
        "smtp-conformance-{}-{}.sock",
        std::process::id(),
        SOCKETS.fetch_add(1, Ordering::SeqCst)
    );
    let path = std::env::temp_dir().join(name);
    let _ = std::fs::remove_file(&path);
    let mut config = TestConfig::new();
    config.config.protocol = Protocol::Lmtp;
    config.unix = Some(path.clone());
    let server = A::start(config);
    let mut c = Client::connect_unix(&path);
    c.expect(220);
    c.cmd("LHLO client.test", 250);
    c.envelope("a@client.test", &["one@mx.test", "two@mx.test"]);
    c.cmd("DATA", 354);
    c.send("Subject: unix\r\n\r\nhi\r\n.\r\n");
    c.expect(250);
    c.expect(250);
    c.cmd("QUIT", 221);
    let got = server.sink.wait_for(1, CLIENT_TIMEOUT);
    assert!(
        got[0].peer.unwrap().ip().is_unspecified(),
        "{:?}",
        got[0].peer
    );
    assert_eq!(got[0].to.len(), 2);
    server.stop();
    let _ = std::fs::remove_file(&path);
}

//! Seed inputs for every target, made from the transcripts of smtp-proto's tests and from the
//! attacks of its security tests. `tests/corpus.rs` runs them on every `cargo test`, and
//! `cargo test -p smtp-fuzz-harness -- --ignored write_seeds` writes them into
//! `fuzz/corpus/<target>/` (then minimise with `cargo fuzz cmin`, see fuzz/README.md).

/// A client transcript: its reads, in order, and whether the server offers STARTTLS.
pub struct Transcript {
    /// A name for the seed files.
    pub name: &'static str,
    /// The client's reads.
    pub reads: &'static [&'static [u8]],
    /// Run with `TlsPolicy::Optional`.
    pub tls: bool,
}

const fn t(name: &'static str, reads: &'static [&'static [u8]], tls: bool) -> Transcript {
    Transcript { name, reads, tls }
}

/// The transcripts.
pub const TRANSCRIPTS: &[Transcript] = &[
    t(
        "appendix-d1",
        &[
            b"EHLO bar.com\r\n",
            b"MAIL FROM:<Smith@bar.com>\r\n",
            b"RCPT TO:<Jones@foo.com>\r\n",
            b"RCPT TO:<Green-reject@foo.com>\r\n",
            b"RCPT TO:<Brown@foo.com>\r\n",
            b"DATA\r\n",
            b"Blah blah blah...\r\n...etc. etc. etc.\r\n",
            b".\r\n",
            b"QUIT\r\n",
        ],
        false,
    ),
    t(
        "pipelined",
        &[b"EHLO client.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\n\
RCPT TO:<reject@y.example>\r\nRCPT TO:<defer@y.example>\r\nDATA\r\n",
            b"body\r\n.\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nRSET\r\nQUIT\r\n"],
        false,
    ),
    t(
        "chunking-reference",
        &[b"EHLO client.example\r\n\
MAIL FROM:<a@client.example> SIZE=100 BODY=8BITMIME\r\nRCPT TO:<b@mx.example.com>\r\n\
RCPT TO:<reject@mx.example.com>\r\nRCPT TO:<\"quoted local\"@[IPv6:2001:db8::1]>\r\nDATA\r\n\
Subject: test\r\n\r\n..dot stuffed\r\n.\r\nline\r\n\r\n.\r\n\
MAIL FROM:<>\r\nRCPT TO:<postmaster>\r\nBDAT 7\r\nchunk\r\nBDAT 3 LAST\r\nend\
NOOP\r\nFOO\r\nRSET\r\nVRFY x\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n\
x\r\n.\r\nQUIT\r\n"],
        false,
    ),
    t(
        "smuggling-lf-dot-lf",
        &[b"EHLO attacker.example\r\nMAIL FROM:<a@attacker.example>\r\nRCPT TO:<victim@mx.example.com>\r\n\
DATA\r\nSubject: first\r\n\r\nfirst body\n.\nMAIL FROM:<ceo@bank.example>\r\nRCPT TO:<victim@mx.example.com>\r\n\
DATA\r\nSubject: smuggled\r\n\r\nsmuggled body\r\n.\r\nQUIT\r\n"],
        false,
    ),
    t(
        "smuggling-cr-dot-crlf",
        &[b"EHLO attacker.example\r\nMAIL FROM:<a@attacker.example>\r\nRCPT TO:<victim@mx.example.com>\r\n\
DATA\r\nSubject: first\r\n\r\nfirst body\r.\r\nMAIL FROM:<ceo@bank.example>\r\nRCPT TO:<victim@mx.example.com>\r\n\
DATA\r\nSubject: smuggled\r\n\r\nsmuggled body\r\n.\r\nQUIT\r\n"],
        false,
    ),
    t(
        "smuggling-crlf-dot-lf",
        &[b"EHLO attacker.example\r\nMAIL FROM:<a@attacker.example>\r\nRCPT TO:<victim@mx.example.com>\r\n\
DATA\r\nfirst body\r\n.\nMAIL FROM:<ceo@bank.example>\r\nRCPT TO:<victim@mx.example.com>\r\n\
DATA\r\nsmuggled body\r\n.\r\nQUIT\r\n"],
        false,
    ),
    t(
        "smuggling-nul-dot",
        &[b"EHLO attacker.example\r\nMAIL FROM:<a@attacker.example>\r\nRCPT TO:<victim@mx.example.com>\r\n\
DATA\r\nfirst body\r\n\x00.\r\nMAIL FROM:<ceo@bank.example>\r\nRCPT TO:<victim@mx.example.com>\r\n\
DATA\r\nsmuggled body\r\n.\r\nQUIT\r\n"],
        false,
    ),
    t(
        "starttls-injection",
        &[
            b"EHLO client.example\r\n",
            b"STARTTLS\r\nMAIL FROM:<injected@evil.example>\r\nRCPT TO:<victim@mx.example.com>\r\n",
        ],
        true,
    ),
    t(
        "starttls-then-ehlo",
        &[b"EHLO client.example\r\nSTARTTLS\r\n", b"EHLO client.example\r\nMAIL FROM:<a@b.example>\r\nQUIT\r\n"],
        true,
    ),
    t(
        "bdat-smuggled-commands",
        &[b"EHLO c.example\r\nMAIL FROM:<a@b.example> BODY=BINARYMIME\r\nRCPT TO:<x@y.example>\r\n\
BDAT 30\r\nRCPT TO:<evil@y.example>\r\nRSET\r\nBDAT 0 LAST\r\nQUIT\r\n"],
        false,
    ),
    t(
        "bdat-bad-size",
        &[b"EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nBDAT ten\r\nQUIT\r\n"],
        false,
    ),
    t(
        "bdat-then-data",
        &[b"EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nBDAT 3\r\nabcDATA\r\nRSET\r\n\
BDAT 2 LAST\r\nxyQUIT\r\n"],
        false,
    ),
    t(
        "over-long-line",
        &[
            b"EHLO c.example\r\nNOOP xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
            b"yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\r\nNOOP\r\n",
        ],
        false,
    ),
    t(
        "sequence-errors",
        &[b"MAIL FROM:<a@b.example>\r\nHELO\r\nEHLO c.example\r\nRCPT TO:<x@y.example>\r\nDATA\r\n\
MAIL FROM:<a@b.example>\r\nMAIL FROM:<a@b.example>\r\nDATA\r\nRSET x\r\nQUIT x\r\nVRFY\r\nEXPN x\r\n\
HELP\r\nAUTH PLAIN\r\nmail from:<a@b.example>\r\nrcpt to:<x@y.example>\r\ndata\r\n.\r\nquit\r\n"],
        false,
    ),
    t(
        "params-and-paths",
        &[b"EHLO [IPv6:2001:db8::1]\r\nMAIL FROM:<@a.example,@b.example:u@c.example> RET=HDRS ENVID=QQ+2B AUTH=<>\r\n\
RCPT TO:<\"john\\ doe\"@[192.0.2.1]> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;jd+40x.example\r\n\
RCPT TO:<PostMaster>\r\nRCPT TO:<a@b.example> NOTIFY=NEVER,SUCCESS\r\nRCPT TO:<a@b.example> FOO=BAR\r\n\
MAIL FROM:<a@b.example> SIZE=99999999999999999999999\r\nRSET\r\nMAIL FROM:<a@b.example> SIZE=1 SIZE=2\r\n\
RSET\r\nMAIL FROM:<a@[tag:content]> BODY=7BIT SMTPUTF8 REQUIRETLS\r\nQUIT\r\n"],
        false,
    ),
    t(
        "smtputf8",
        &["EHLO c.example\r\nMAIL FROM:<jörg@bücher.example> SMTPUTF8\r\nRCPT TO:<ü@mx.example.com>\r\n\
DATA\r\nSubject: ü\r\n\r\nü\r\n.\r\nMAIL FROM:<jörg@bücher.example>\r\nQUIT\r\n"
            .as_bytes()],
        false,
    ),
    t(
        "http",
        &[b"GET / HTTP/1.1\r\nHost: mx.example.com\r\n\r\n"],
        false,
    ),
    t(
        "dot-stuffing",
        &[b"EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nDATA\r\n.\r\n\
MAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nDATA\r\n..\r\n...x\r\n.\r\nQUIT\r\n"],
        false,
    ),
    t(
        "byte-at-a-time-data",
        &[
            b"EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nDATA\r\n",
            b"a", b"\r", b"\n", b".", b".", b"b", b"\r", b"\n", b".", b"\r", b"\n", b"QUIT\r\n",
        ],
        false,
    ),
];

/// The seeds of every target: (target, file name, contents).
pub fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();
    for tr in TRANSCRIPTS {
        let whole: Vec<u8> = tr.reads.concat();
        // session: the control is one octet, FuzzConfig's first field (tls); the rest of
        // Control takes its defaults. The whole transcript is the script, read at once.
        let control = [u8::from(tr.tls)];
        let mut s = (control.len() as u16).to_le_bytes().to_vec();
        s.extend_from_slice(&control);
        s.extend_from_slice(&whole);
        out.push(("session", tr.name.to_string(), s));
        if let Some(a) = crate::from_alphabet(tr.reads) {
            out.push(("session_alphabet", tr.name.to_string(), a));
        }
        for (i, line) in whole.split(|&c| c == b'\n').enumerate() {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() || line.len() > 300 {
                continue;
            }
            out.push(("command_line", format!("{}-{i}", tr.name), line.to_vec()));
            let upper = line.to_ascii_uppercase();
            for prefix in [&b"MAIL FROM:"[..], b"RCPT TO:"] {
                if upper.starts_with(prefix) {
                    let arg = &line[prefix.len()..];
                    out.push(("address", format!("{}-{i}", tr.name), arg.to_vec()));
                    if let Some(p) = arg.iter().rposition(|&c| c == b'>') {
                        out.push(("params", format!("{}-{i}", tr.name), arg[p + 1..].to_vec()));
                    }
                }
            }
            for prefix in [&b"EHLO "[..], b"HELO "] {
                if upper.starts_with(prefix) {
                    out.push((
                        "address",
                        format!("{}-{i}", tr.name),
                        line[prefix.len()..].to_vec(),
                    ));
                }
            }
        }
        if let Some(p) = find(&whole, b"DATA\r\n") {
            let mut d = vec![0u8];
            d.extend_from_slice(&whole[p + 6..]);
            out.push(("data_decoder", tr.name.to_string(), d));
        }
    }
    out.extend(body_seeds());
    out.extend(mime_seeds());
    out.extend(proxy_seeds());
    out.extend(lmtp_seeds());
    out.sort();
    out.dedup_by(|a, b| a.0 == b.0 && a.2 == b.2);
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Seeds for `body_roundtrip`: a few bodies, the attack bodies among them.
fn body_seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let bodies: &[(&str, &[u8])] = &[
        ("plain", b"Subject: hi\r\n\r\nHello\r\n"),
        ("dots", b".\r\n..\r\n.x\r\nend"),
        (
            "bare-lf",
            b"first body\n.\nMAIL FROM:<ceo@bank.example>\r\n",
        ),
        ("bare-cr", b"first body\r.\r\nRSET\r\n"),
        ("empty", b""),
    ];
    let mut out = Vec::new();
    for (name, body) in bodies {
        for accept_bare in [0u8, 1] {
            // The control is one octet, BodyControl's first field (accept_bare); the body text
            // is one DATA message.
            let mut b = vec![1, 0, accept_bare];
            b.extend_from_slice(body);
            out.push(("body_roundtrip", format!("{name}-{accept_bare}"), b));
        }
    }
    // Two messages, the second by BDAT: [accept_bare, size (2), reads: none, messages: keep
    // going, len (2) = 5, bdat: None, keep going, len (2), bdat: Some, [keep going, 3, stop]].
    let control = [0u8, 0, 0, 0, 1, 5, 0, 0, 1, 0, 0, 1, 1, 3, 0];
    let mut b = (control.len() as u16).to_le_bytes().to_vec();
    b.extend_from_slice(&control);
    b.extend_from_slice(b"a.b\r\nchunked body");
    out.push(("body_roundtrip", "data-then-bdat".to_string(), b));
    out
}

/// The messages of smtp-proto's MIME tests (real output of lettre and Python's email package).
const MESSAGES: &[(&str, &[u8])] = &[
    (
        "lettre-alternative",
        include_bytes!("../../../smtp-proto/tests/fixtures/mime/lettre-alternative.eml"),
    ),
    (
        "lettre-attachments",
        include_bytes!("../../../smtp-proto/tests/fixtures/mime/lettre-attachments.eml"),
    ),
    (
        "lettre-forward",
        include_bytes!("../../../smtp-proto/tests/fixtures/mime/lettre-forward.eml"),
    ),
    (
        "python-crlf",
        include_bytes!("../../../smtp-proto/tests/fixtures/mime/python-crlf.eml"),
    ),
    (
        "python-legacy",
        include_bytes!("../../../smtp-proto/tests/fixtures/mime/python-legacy.eml"),
    ),
    (
        "python-lf",
        include_bytes!("../../../smtp-proto/tests/fixtures/mime/python-lf.eml"),
    ),
    (
        "nested-digest",
        b"From: a@example.org\r\nDate: Thu, 13 Feb 1969 23:32:54 -0330\r\n\
Content-Type: multipart/mixed; boundary=XYZ\r\n\r\npreamble\r\n--XYZ\r\n\
Content-Type: multipart/digest; boundary=\"in ner\"\r\n\r\n--in ner\r\n\r\n\
Subject: enclosed\r\n\r\nhi\r\n--in ner--\r\n--XYZ\r\nContent-Type: text/plain\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9 =\r\nsoft\r\n--XYZ\r\n\
Content-Type: application/octet-stream; name=\"a.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
AAEC\r\nAw==\r\n--XYZ--\r\nepilogue\r\n",
    ),
];

/// Header blocks with RFC 5322 section 3.6 violations.
const HEADER_BLOCKS: &[(&str, &[u8])] = &[
    ("duplicates", b"From: a@example.org\r\nFrom: b@example.org\r\nSubject: x\r\nSubject: y\r\n"),
    ("missing-date", b"From: a@example.org, b@example.org\r\nTo: c@example.org\r\n"),
    ("bad-date", b"From: a@example.org\r\nDate: yesterday\r\nMessage-ID: <x@y>\r\n"),
    ("folded", b"From: a@example.org\r\nDate: Fri, 21 Nov 1997 09:55:06 -0600\r\nSubject: =?utf-8?Q?caf=C3=A9?=\r\n and more\r\nTo: \"A, B\" <a@x.example>,\r\n\tc@y.example\r\n"),
    ("obsolete", b"From : a@example.org\nDate: 21 Nov 97 09:55:06 GMT\nBcc:\nReply-To: group: a@b.example, c@d.example;\n"),
];

fn mime_seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();
    for (name, message) in MESSAGES {
        let mut m = vec![0, 0];
        m.extend_from_slice(message);
        out.push(("mime", name.to_string(), m));
        let end = find(message, b"\r\n\r\n")
            .or_else(|| find(message, b"\n\n"))
            .unwrap_or(message.len());
        out.push(("headers", name.to_string(), message[..end].to_vec()));
    }
    for (name, block) in HEADER_BLOCKS {
        out.push(("headers", name.to_string(), block.to_vec()));
        let mut m = vec![0, 0];
        m.extend_from_slice(block);
        m.extend_from_slice(b"\r\nbody\r\n");
        out.push(("mime", name.to_string(), m));
    }
    out
}

/// Seeds for `proxy`: the headers of smtp-proto's PROXY tests (HAProxy's capture and the
/// section 2.1 and 2.2 examples), each followed by SMTP, with the control empty (required, the
/// default limit, read at once) and with the header optional; and SMTP without a header.
fn proxy_seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    use smtp_proto::proxy::{tlv, Addresses, Command, ProxyHeader, Transport, V2_SIGNATURE};
    let addr = |s: &str| s.parse::<std::net::SocketAddr>().expect("an address");
    let full = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
    let mut unix = ProxyHeader::v2_local();
    unix.command = Command::Proxy;
    unix.transport = Transport::Datagram;
    unix.addresses = Addresses::Unix {
        source: "/run/haproxy/a.sock".into(),
        destination: "\0abstract".into(),
    };
    let mut ssl = vec![tlv::CLIENT_SSL | tlv::CLIENT_CERT_CONN, 0, 0, 0, 0];
    for (kind, value) in [
        (tlv::SSL_VERSION, &b"TLSv1.3"[..]),
        (tlv::SSL_CN, b"client.example"),
    ] {
        ssl.push(kind);
        ssl.extend_from_slice(&(value.len() as u16).to_be_bytes());
        ssl.extend_from_slice(value);
    }
    let tlvs = ProxyHeader::v2(addr("192.0.2.1:56324"), addr("198.51.100.7:25"))
        .with_tlv(tlv::ALPN, b"smtp")
        .and_then(|h| h.with_tlv(tlv::AUTHORITY, b"mx.example.com"))
        .and_then(|h| h.with_tlv(tlv::SSL, &ssl))
        .and_then(|h| h.with_tlv(tlv::CRC32C, &[0; 4]))
        .and_then(|h| h.with_tlv(tlv::MIN_CUSTOM, b"custom"))
        .expect("TLVs fit");
    let mut udp6 = ProxyHeader::v2(addr("[2001:db8::1]:40000"), addr("[2001:db8::25]:25"));
    udp6.transport = Transport::Datagram;
    let mut unspec = ProxyHeader::v2_local();
    unspec.command = Command::Proxy;
    let encoded = |h: ProxyHeader| h.encode().expect("encodable");
    let mut local_with_block = V2_SIGNATURE.to_vec();
    local_with_block.extend_from_slice(&[0x20, 0xff, 0, 4, 1, 2, 3, 4]);
    let headers: Vec<(&str, Vec<u8>)> = vec![
        (
            "v1-tcp4",
            b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n".to_vec(),
        ),
        (
            "v1-tcp6",
            b"PROXY TCP6 2001:db8::1 2001:DB8::25 40000 25\r\n".to_vec(),
        ),
        (
            "v1-tcp6-mapped",
            b"PROXY TCP6 ::ffff:192.0.2.1 ::1 1 2\r\n".to_vec(),
        ),
        ("v1-unknown", b"PROXY UNKNOWN\r\n".to_vec()),
        (
            "v1-longest",
            format!("PROXY UNKNOWN {full} {full} 65535 65535\r\n").into_bytes(),
        ),
        (
            "v2-haproxy-tcp4",
            vec![
                0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x21, 0x11,
                0x00, 0x0c, 0xac, 0x13, 0x00, 0x01, 0xac, 0x13, 0x00, 0x03, 0xa6, 0x52, 0x00, 0x50,
            ],
        ),
        ("v2-udp6", encoded(udp6)),
        ("v2-unix", encoded(unix)),
        ("v2-tlvs", encoded(tlvs)),
        ("v2-local", encoded(ProxyHeader::v2_local())),
        ("v2-local-block", local_with_block),
        ("v2-unspec", encoded(unspec)),
        ("smtp", Vec::new()),
    ];
    let mut out = Vec::new();
    for (name, header) in headers {
        for (mode, control) in [("required", &[][..]), ("optional", &[1][..])] {
            let mut s = (control.len() as u16).to_le_bytes().to_vec();
            s.extend_from_slice(control);
            s.extend_from_slice(&header);
            s.extend_from_slice(b"EHLO client.example\r\n");
            out.push(("proxy", format!("{name}-{mode}"), s));
        }
    }
    out
}

/// Seeds for `session_lmtp`: the LMTP transcripts of smtp-proto's tests (RFC 2033 section 4.2's
/// example, BDAT, several transactions), as one read with the control empty (default
/// configuration in LMTP mode; recipients named `reject` or `defer` refused at RCPT, others
/// accepted; after the data, the same by name).
fn lmtp_seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let scripts: &[(&str, &[u8])] = &[
        (
            "rfc2033-example",
            b"EHLO foo.edu\r\nLHLO foo.edu\r\nMAIL FROM:<chris@bar.com>\r\nRCPT TO:<pat@foo.edu>\r\n\
RCPT TO:<reject@foo.edu>\r\nRCPT TO:<green@foo.edu>\r\nDATA\r\nBlah blah blah...\r\n.\r\n\
RCPT TO:<x@foo.edu>\r\nQUIT\r\n",
        ),
        (
            "bdat",
            b"LHLO foo.edu\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nRCPT TO:<z@y.example>\r\n\
BDAT 3\r\nabcBDAT 3 LAST\r\ndefQUIT\r\n",
        ),
        (
            "two-transactions",
            b"LHLO foo.edu\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nRCPT TO:<defer@y.example>\r\n\
RCPT TO:<z@y.example>\r\nDATA\r\nfirst\r\n.\r\nMAIL FROM:<>\r\nRCPT TO:<defer@y.example>\r\n\
RCPT TO:<w@y.example>\r\nRCPT TO:<postmaster>\r\nDATA\r\nsecond\r\n.\r\nRSET\r\nQUIT\r\n",
        ),
        (
            "rejected-after-data",
            b"LHLO foo.edu\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<reject-later@y.example>\r\n\
RCPT TO:<x@y.example>\r\nDATA\r\nbody\r\n.\r\nQUIT\r\n",
        ),
        (
            "no-recipients",
            b"LHLO foo.edu\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<reject@y.example>\r\nDATA\r\n\
BDAT 3 LAST\r\nabcRSET\r\nQUIT\r\n",
        ),
    ];
    scripts
        .iter()
        .map(|(name, script)| {
            let mut s = vec![0, 0];
            s.extend_from_slice(script);
            ("session_lmtp", name.to_string(), s)
        })
        .collect()
}

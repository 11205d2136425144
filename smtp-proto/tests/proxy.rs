//! The PROXY protocol decoder (`smtp_proto::proxy`) against HAProxy's `proxy-protocol.txt`:
//! version 1 (section 2.1) and version 2 (section 2.2, TLVs 2.2.1 to 2.2.8), octet by
//! octet, every error path, the limits, the trust helper, and the encoder as its inverse.

use proptest::prelude::*;
use smtp_proto::proxy::{
    tlv, Addresses, Cidr, CidrError, Command, Decoded, EncodeError, ProxyConfig, ProxyDecoder,
    ProxyError, ProxyHeader, Transport, TrustedNetworks, V1_MAX_LEN, V2_SIGNATURE,
};
use std::net::{IpAddr, SocketAddr};

// ---------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------

/// What a decoder made of some input fed in chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// Every chunk was taken and the header is still incomplete.
    NeedMore,
    /// A header (or, when optional, none), ending at this offset of the whole input.
    Done(Option<ProxyHeader>, usize),
    Failed(ProxyError),
}

/// Feeds `input` cut at `cuts` (offsets, any order, duplicates allowed). Also checks the
/// decoder's contract on the way: `consumed` is within the last chunk, and the decoder never
/// holds more than a header's worth of octets.
fn feed_cut(config: ProxyConfig, input: &[u8], cuts: &[usize]) -> Outcome {
    let mut cuts: Vec<usize> = cuts.iter().map(|&c| c.min(input.len())).collect();
    cuts.push(input.len());
    cuts.sort_unstable();
    let limit = V1_MAX_LEN.max(16 + config.max_v2_len);
    let mut decoder = ProxyDecoder::new(config);
    let mut start = 0;
    for end in cuts {
        let chunk = &input[start..end];
        let result = decoder.decode(chunk);
        assert!(
            decoder.buffered() <= limit,
            "buffered {}",
            decoder.buffered()
        );
        match result {
            Ok(None) => {}
            Ok(Some(Decoded { header, consumed })) => {
                assert!(consumed <= chunk.len());
                assert!(start + consumed <= limit);
                assert_eq!(decoder.buffered(), 0);
                return Outcome::Done(header, start + consumed);
            }
            Err(e) => {
                assert_eq!(decoder.buffered(), 0);
                return Outcome::Failed(e);
            }
        }
        start = end;
    }
    Outcome::NeedMore
}

fn feed(input: &[u8]) -> Outcome {
    feed_cut(ProxyConfig::default(), input, &[])
}

fn one_by_one(config: ProxyConfig, input: &[u8]) -> Outcome {
    let cuts: Vec<usize> = (0..input.len()).collect();
    feed_cut(config, input, &cuts)
}

/// Decodes a complete header that is followed by `trailer`, whole, octet by octet and at
/// every single cut: the same header each way, ending exactly before the trailer.
fn decode_ok(header: &[u8], trailer: &[u8]) -> ProxyHeader {
    let mut input = header.to_vec();
    input.extend_from_slice(trailer);
    let Outcome::Done(Some(decoded), end) = feed(&input) else {
        panic!("{:?}: {:?}", String::from_utf8_lossy(header), feed(&input));
    };
    assert_eq!(end, header.len());
    let whole = Outcome::Done(Some(decoded.clone()), header.len());
    assert_eq!(one_by_one(ProxyConfig::default(), &input), whole);
    for cut in 0..=input.len() {
        assert_eq!(
            feed_cut(ProxyConfig::default(), &input, &[cut]),
            whole,
            "cut {cut}"
        );
    }
    decoded
}

/// The error for `input`, whole and octet by octet, and the offset where it shows at the
/// latest: octet by octet, the first `at` octets still need more.
fn decode_err(input: &[u8], at: usize) -> ProxyError {
    let Outcome::Failed(e) = feed(input) else {
        panic!("{:?}: {:?}", String::from_utf8_lossy(input), feed(input));
    };
    assert_eq!(
        one_by_one(ProxyConfig::default(), input),
        Outcome::Failed(e.clone())
    );
    assert_eq!(feed(&input[..at]), Outcome::NeedMore, "{e:?} before {at}");
    assert_eq!(
        feed(&input[..at + 1]),
        Outcome::Failed(e.clone()),
        "{e:?} at {at}"
    );
    e
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A version 2 header from its parts (section 2.2).
fn v2(ver_cmd: u8, fam: u8, body: &[u8]) -> Vec<u8> {
    let mut out = V2_SIGNATURE.to_vec();
    out.push(ver_cmd);
    out.push(fam);
    out.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn tlv_bytes(kind: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend_from_slice(&u16::try_from(value.len()).unwrap().to_be_bytes());
    out.extend_from_slice(value);
    out
}

/// An independent, bitwise CRC32c (RFC 4960 appendix B) to check the encoder's.
fn crc32c_bitwise(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

const SMTP: &[u8] = b"EHLO client.example\r\nMAIL FROM:<a@client.example>\r\n";

// ---------------------------------------------------------------------------------------
// Version 1 (section 2.1)
// ---------------------------------------------------------------------------------------

#[test]
fn v1_tcp4_the_spec_example() {
    let line = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n";
    let h = decode_ok(line, b"GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n");
    assert_eq!(h.version, 1);
    assert_eq!(h.command, Command::Proxy);
    assert_eq!(h.transport, Transport::Stream);
    assert_eq!(h.source(), Some(addr("192.168.0.1:56324")));
    assert_eq!(h.destination(), Some(addr("192.168.0.11:443")));
    assert_eq!(h.tlvs().count(), 0);
    assert_eq!(
        h,
        ProxyHeader::v1(addr("192.168.0.1:56324"), addr("192.168.0.11:443"))
    );
}

#[test]
fn v1_tcp4_longest_line_is_56_octets() {
    let line = b"PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n";
    assert_eq!(line.len(), 56);
    let h = decode_ok(line, SMTP);
    assert_eq!(h.source(), Some(addr("255.255.255.255:65535")));
    let h = decode_ok(b"PROXY TCP4 0.0.0.0 0.0.0.0 0 0\r\n", b"");
    assert_eq!(h.source(), Some(addr("0.0.0.0:0")));
}

#[test]
fn v1_tcp6() {
    let h = decode_ok(b"PROXY TCP6 2001:db8::1 2001:DB8::25 40000 25\r\n", SMTP);
    assert_eq!(h.source(), Some(addr("[2001:db8::1]:40000")));
    assert_eq!(h.destination(), Some(addr("[2001:db8::25]:25")));
    // The longest TCP6 line of section 2.1: 104 octets.
    let full = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
    let line = format!("PROXY TCP6 {full} {full} 65535 65535\r\n");
    assert_eq!(line.len(), 104);
    let h = decode_ok(line.as_bytes(), SMTP);
    assert_eq!(h.source(), Some(SocketAddr::new(ip(full), 65535)));
    // Like inet_pton, a dotted IPv4 tail is accepted (kept as IPv6).
    let h = decode_ok(b"PROXY TCP6 ::ffff:192.0.2.1 ::1 1 2\r\n", b"");
    assert_eq!(h.source(), Some(addr("[::ffff:192.0.2.1]:1")));
}

#[test]
fn v1_unknown_gives_no_addresses() {
    for line in [
        &b"PROXY UNKNOWN\r\n"[..],
        b"PROXY UNKNOWN ::1 ::2 1 2\r\n",
        // "the receiver must ignore anything presented before the CRLF is found"
        b"PROXY UNKNOWN whatever \x00\x7f\r here\r\n",
    ] {
        let h = decode_ok(line, SMTP);
        assert_eq!(h, ProxyHeader::v1_unknown());
        assert_eq!(h.command, Command::Proxy);
        assert_eq!(h.addresses, Addresses::Unspecified);
        assert_eq!((h.source(), h.destination()), (None, None));
    }
}

#[test]
fn v1_worst_case_is_exactly_107_octets() {
    let full = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
    let line = format!("PROXY UNKNOWN {full} {full} 65535 65535\r\n");
    assert_eq!(line.len(), V1_MAX_LEN);
    decode_ok(line.as_bytes(), SMTP);
    // One octet more and the CRLF is past the 107th octet.
    let line = format!("PROXY UNKNOWN {full} {full} 65535 65535 \r\n");
    assert_eq!(decode_err(line.as_bytes(), 106), ProxyError::V1TooLong);
}

#[test]
fn v1_without_crlf_in_107_octets() {
    let mut line = b"PROXY UNKNOWN ".to_vec();
    line.resize(200, b'x');
    assert_eq!(decode_err(&line, 106), ProxyError::V1TooLong);
    // The limit is the same for TCP lines; digits never end.
    let mut line = b"PROXY TCP6 ".to_vec();
    line.resize(200, b':');
    assert_eq!(decode_err(&line, 106), ProxyError::V1TooLong);
}

#[test]
fn v1_not_a_proxy_header_is_seen_at_the_first_differing_octet() {
    // An SMTP client that talks first is refused after one octet.
    assert_eq!(
        decode_err(b"EHLO client.example\r\n", 0),
        ProxyError::NotProxy
    );
    assert_eq!(decode_err(b"GET / HTTP/1.1\r\n", 0), ProxyError::NotProxy);
    assert_eq!(decode_err(b"\x16\x03\x01\x02\x00", 0), ProxyError::NotProxy); // TLS
    assert_eq!(decode_err(b"PROXX TCP4", 4), ProxyError::NotProxy);
    assert_eq!(decode_err(b"proxy TCP4", 0), ProxyError::NotProxy);
    // "PROXY" and exactly one space.
    assert_eq!(decode_err(b"PROXY\r\n", 5), ProxyError::NotProxy);
    assert_eq!(decode_err(b"PROXYTCP4", 5), ProxyError::NotProxy);
}

#[test]
fn v1_protocol_errors() {
    assert_eq!(decode_err(b"PROXY TCP5 1.2.3.4", 9), ProxyError::V1Protocol);
    assert_eq!(decode_err(b"PROXY tcp4 1.2.3.4", 6), ProxyError::V1Protocol);
    assert_eq!(decode_err(b"PROXY UDP4 1.2.3.4", 7), ProxyError::V1Protocol);
    assert_eq!(decode_err(b"PROXY TCP 1.2.3.4", 9), ProxyError::V1Protocol);
    assert_eq!(
        decode_err(b"PROXY TCP44 1.2.3.4", 10),
        ProxyError::V1Protocol
    );
    assert_eq!(
        decode_err(b"PROXY UNKNOWNX\r\n", 13),
        ProxyError::V1Protocol
    );
    assert_eq!(decode_err(b"PROXY  TCP4", 6), ProxyError::V1Protocol);
    assert_eq!(decode_err(b"PROXY \r\n", 6), ProxyError::V1Protocol);
}

#[test]
fn v1_syntax_errors() {
    let cases: [(&[u8], usize); 7] = [
        (b"PROXY TCP4\r\n", 10),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", 28),
        (b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", 11),
        (b"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", 19),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", 30),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", 30),
        (b"PROXY TCP6 ::1 ::2 1\r\n", 20),
    ];
    for (line, at) in cases {
        assert_eq!(
            decode_err(line, at),
            ProxyError::V1Syntax,
            "{:?}",
            String::from_utf8_lossy(line)
        );
    }
}

#[test]
fn v1_line_ending_errors() {
    // "The receiver must not tolerate a single CR or LF character to end the line".
    assert_eq!(
        decode_err(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", 30),
        ProxyError::V1LineEnding
    );
    assert_eq!(
        decode_err(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX", 31),
        ProxyError::V1LineEnding
    );
    assert_eq!(
        decode_err(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n", 31),
        ProxyError::V1LineEnding
    );
    assert_eq!(decode_err(b"PROXY UNKNOWN\n", 13), ProxyError::V1LineEnding);
    assert_eq!(
        decode_err(b"PROXY UNKNOWN 1 2\n", 17),
        ProxyError::V1LineEnding
    );
}

#[test]
fn v1_address_errors() {
    for (line, at) in [
        (&b"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n"[..], 19), // leading zero (section 2.1)
        (b"PROXY TCP4 256.0.0.1 5.6.7.8 1 2\r\n", 20),
        (b"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", 16),
        (b"PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n", 20),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8.9 1 2\r\n", 28),
        (b"PROXY TCP4 ::1 ::2 1 2\r\n", 11), // IPv6 in a TCP4 line
        (b"PROXY TCP4 a.b.c.d 5.6.7.8 1 2\r\n", 11),
        (b"PROXY TCP6 1.2.3.4 ::1 1 2\r\n", 18), // IPv4 in a TCP6 line
        (b"PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", 18), // no zone ids
        (b"PROXY TCP6 [::1] ::2 1 2\r\n", 11),
        (b"PROXY TCP6 1:2:3:4:5:6:7:8:9 ::2 1 2\r\n", 28),
        (b"PROXY TCP6 ::1 ::g 1 2\r\n", 17),
    ] {
        assert_eq!(
            decode_err(line, at),
            ProxyError::V1Address,
            "{:?}",
            String::from_utf8_lossy(line)
        );
    }
}

#[test]
fn v1_port_errors() {
    for (line, at) in [
        (&b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"[..], 32),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n", 34),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 025 2\r\n", 28), // leading zero (section 2.1)
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 00 2\r\n", 28),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", 27),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1a 2\r\n", 28),
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 123456\r\n", 34), // seen at the 6th digit
        (b"PROXY TCP4 1.2.3.4 5.6.7.8 1 0x19\r\n", 30),
    ] {
        assert_eq!(
            decode_err(line, at),
            ProxyError::V1Port,
            "{:?}",
            String::from_utf8_lossy(line)
        );
    }
}

// ---------------------------------------------------------------------------------------
// Version 2 (section 2.2)
// ---------------------------------------------------------------------------------------

#[test]
fn v2_proxy_tcp4_as_haproxy_sends_it() {
    // HAProxy's "send-proxy-v2" to a backend, captured: 172.19.0.1:42578 -> 172.19.0.3:80.
    let wire = [
        0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x21, 0x11, 0x00,
        0x0c, 0xac, 0x13, 0x00, 0x01, 0xac, 0x13, 0x00, 0x03, 0xa6, 0x52, 0x00, 0x50,
    ];
    let h = decode_ok(&wire, b"GET / HTTP/1.1\r\n");
    assert_eq!(h.version, 2);
    assert_eq!(h.command, Command::Proxy);
    assert_eq!(h.transport, Transport::Stream);
    assert_eq!(h.source(), Some(addr("172.19.0.1:42578")));
    assert_eq!(h.destination(), Some(addr("172.19.0.3:80")));
    assert_eq!(h.encode().unwrap(), wire);
}

#[test]
fn v2_proxy_tcp6_and_udp() {
    let mut body = Vec::new();
    let v6 = |s: &str| s.parse::<std::net::Ipv6Addr>().unwrap().octets();
    body.extend_from_slice(&v6("2001:db8::1"));
    body.extend_from_slice(&v6("2001:db8::25"));
    body.extend_from_slice(&40000u16.to_be_bytes());
    body.extend_from_slice(&25u16.to_be_bytes());
    let h = decode_ok(&v2(0x21, 0x21, &body), SMTP);
    assert_eq!(h.source(), Some(addr("[2001:db8::1]:40000")));
    assert_eq!(h.destination(), Some(addr("[2001:db8::25]:25")));
    assert_eq!(h.transport, Transport::Stream);
    let h = decode_ok(&v2(0x21, 0x22, &body), SMTP);
    assert_eq!(h.transport, Transport::Datagram);
    assert_eq!(h.source(), Some(addr("[2001:db8::1]:40000")));
    let h = decode_ok(
        &v2(0x21, 0x12, &[192, 0, 2, 1, 198, 51, 100, 7, 0, 53, 0, 53]),
        SMTP,
    );
    assert_eq!(h.transport, Transport::Datagram);
    assert_eq!(h.source(), Some(addr("192.0.2.1:53")));
}

#[test]
fn v2_local_ignores_the_block_and_the_family() {
    let h = decode_ok(&v2(0x20, 0x00, &[]), SMTP);
    assert_eq!(h, ProxyHeader::v2_local());
    assert_eq!((h.source(), h.destination()), (None, None));
    // "Receivers MUST always consider this field to skip the appropriate number of bytes and
    // must not assume zero is presented for LOCAL connections"; the family is ignored.
    let block = [192, 0, 2, 1, 198, 51, 100, 7, 0, 1, 0, 2, 0xde, 0xad];
    for fam in [0x00, 0x11, 0x21, 0xff] {
        let h = decode_ok(&v2(0x20, fam, &block), SMTP);
        assert_eq!(h, ProxyHeader::v2_local());
        assert_eq!(h.tlvs().count(), 0);
    }
}

#[test]
fn v2_proxy_unspec_keeps_the_real_addresses() {
    // AF_UNSPEC: "The receiver should ignore address information."
    let h = decode_ok(&v2(0x21, 0x00, b"opaque"), SMTP);
    assert_eq!(h.command, Command::Proxy);
    assert_eq!(h.addresses, Addresses::Unspecified);
    assert_eq!(h.transport, Transport::Unspecified);
    assert_eq!(h.source(), None);
}

#[test]
fn v2_unix_sockets() {
    let mut body = vec![0u8; 216];
    body[..18].copy_from_slice(b"/run/haproxy/a.sok");
    body[108..116].copy_from_slice(b"/tmp/dst");
    let h = decode_ok(&v2(0x21, 0x31, &body), SMTP);
    assert_eq!(h.transport, Transport::Stream);
    let Addresses::Unix {
        source,
        destination,
    } = &h.addresses
    else {
        panic!("{h:?}")
    };
    assert_eq!(
        (&source[..], &destination[..]),
        (&b"/run/haproxy/a.sok"[..], &b"/tmp/dst"[..])
    );
    // No IP address: the socket's own stands.
    assert_eq!(h.source(), None);
    // A full 108-octet path has no NUL; an abstract one starts with NUL.
    let mut body = vec![b'p'; 108];
    body.extend_from_slice(b"\0abstract\0\0");
    body.resize(216, 0);
    let h = decode_ok(&v2(0x21, 0x32, &body), SMTP);
    assert_eq!(h.transport, Transport::Datagram);
    let Addresses::Unix {
        source,
        destination,
    } = &h.addresses
    else {
        panic!("{h:?}")
    };
    assert_eq!(source.len(), 108);
    assert_eq!(&destination[..], b"\0abstract");
}

#[test]
fn v2_tlvs() {
    let mut ssl = vec![tlv::CLIENT_SSL | tlv::CLIENT_CERT_CONN, 0, 0, 0, 0];
    ssl.extend(tlv_bytes(tlv::SSL_VERSION, b"TLSv1.3"));
    ssl.extend(tlv_bytes(tlv::SSL_CN, b"client.example"));
    ssl.extend(tlv_bytes(tlv::SSL_CIPHER, b"TLS_AES_256_GCM_SHA384"));
    let mut body = vec![192, 0, 2, 1, 198, 51, 100, 7, 0xdc, 0x04, 0, 25];
    body.extend(tlv_bytes(tlv::ALPN, b"smtp"));
    body.extend(tlv_bytes(tlv::AUTHORITY, "mx.exämple.com".as_bytes()));
    body.extend(tlv_bytes(tlv::NOOP, &[]));
    body.extend(tlv_bytes(tlv::UNIQUE_ID, &[7; 128]));
    body.extend(tlv_bytes(tlv::SSL, &ssl));
    body.extend(tlv_bytes(tlv::NETNS, b"blue"));
    body.extend(tlv_bytes(tlv::MIN_CUSTOM, b"\x00\x01"));
    body.extend(tlv_bytes(tlv::MIN_CUSTOM, b"second"));
    let wire = v2(0x21, 0x11, &body);
    let h = decode_ok(&wire, SMTP);
    assert_eq!(h.source(), Some(addr("192.0.2.1:56324")));
    let kinds: Vec<u8> = h.tlvs().map(|t| t.kind).collect();
    assert_eq!(kinds, [0x01, 0x02, 0x04, 0x05, 0x20, 0x30, 0xE0, 0xE0]);
    assert_eq!(h.tlv(tlv::ALPN), Some(&b"smtp"[..]));
    assert_eq!(h.tlv(tlv::AUTHORITY), Some("mx.exämple.com".as_bytes()));
    assert_eq!(h.tlv(tlv::NOOP), Some(&[][..]));
    assert_eq!(h.tlv(tlv::UNIQUE_ID).map(<[u8]>::len), Some(128));
    assert_eq!(h.tlv(tlv::MIN_CUSTOM), Some(&b"\x00\x01"[..])); // the first one
    assert_eq!(h.tlv(tlv::CRC32C), None);
    let ssl = h.ssl().unwrap();
    assert_eq!(ssl.client, 0x03);
    assert_eq!(ssl.verify, 0);
    assert_eq!(ssl.get(tlv::SSL_VERSION), Some(&b"TLSv1.3"[..]));
    assert_eq!(ssl.get(tlv::SSL_CN), Some(&b"client.example"[..]));
    assert_eq!(ssl.tlvs().count(), 3);
    assert_eq!(h.encode().unwrap(), wire);
}

#[test]
fn v2_ssl_tlv_that_is_too_short_or_has_bad_sub_tlvs() {
    let mut body = vec![192, 0, 2, 1, 198, 51, 100, 7, 0, 1, 0, 2];
    body.extend(tlv_bytes(tlv::SSL, &[1, 0, 0, 0]));
    assert_eq!(decode_ok(&v2(0x21, 0x11, &body), b"").ssl(), None);
    let mut body = vec![192, 0, 2, 1, 198, 51, 100, 7, 0, 1, 0, 2];
    body.extend(tlv_bytes(
        tlv::SSL,
        &[1, 0, 0, 0, 1, tlv::SSL_CN, 0, 9, b'x'],
    ));
    let h = decode_ok(&v2(0x21, 0x11, &body), b"");
    let ssl = h.ssl().unwrap();
    assert_eq!(ssl.verify, 1);
    assert_eq!(ssl.tlvs().count(), 0); // the sub-TLV runs past the end: iteration stops
}

#[test]
fn v2_crc32c_is_verified() {
    let header = ProxyHeader::v2(addr("192.0.2.1:1234"), addr("198.51.100.7:25"))
        .with_tlv(tlv::CRC32C, &[0; 4])
        .unwrap()
        .with_tlv(tlv::AUTHORITY, b"mx.example.com")
        .unwrap();
    let wire = header.encode().unwrap();
    // The value is the CRC32c of the whole header with the field zeroed (section 2.2.3).
    let at = 16 + 12 + 3;
    let mut zeroed = wire.clone();
    zeroed[at..at + 4].fill(0);
    assert_eq!(wire[at..at + 4], crc32c_bitwise(&zeroed).to_be_bytes());
    let h = decode_ok(&wire, SMTP);
    assert_eq!(h.tlv(tlv::CRC32C), Some(&wire[at..at + 4]));
    assert_eq!(h.encode().unwrap(), wire);
    // A flipped bit is caught wherever it is: in the version/command octet, the addresses,
    // the TLVs or the checksum itself. Not in the checksum's type octet (28): that turns the
    // checksum into another TLV, and a checksum cannot vouch for its own presence. Octets of
    // the shape (family, lengths, the other TLV's type and length) give other outcomes.
    let shape = [13, 14, 15, 29, 30, 35, 36, 37];
    for i in (12..wire.len()).filter(|&i| i != 28) {
        let mut bad = wire.clone();
        bad[i] ^= 0x10;
        let outcome = feed(&bad);
        if i < 16 || shape.contains(&i) {
            // Refused, or (a longer length) still waiting for more.
            assert!(
                !matches!(outcome, Outcome::Done(..)),
                "octet {i}: {outcome:?}"
            );
        } else {
            assert_eq!(
                outcome,
                Outcome::Failed(ProxyError::V2Checksum),
                "octet {i}"
            );
        }
    }
}

#[test]
fn v2_crc32c_tlv_of_the_wrong_size_or_twice() {
    let base = [192, 0, 2, 1, 198, 51, 100, 7, 0, 1, 0, 2];
    let mut body = base.to_vec();
    body.extend(tlv_bytes(tlv::CRC32C, &[0; 3]));
    assert_eq!(
        feed(&v2(0x21, 0x11, &body)),
        Outcome::Failed(ProxyError::V2Checksum)
    );
    // Two: the encoder fills the first, the decoder refuses the header.
    let header = ProxyHeader::v2(addr("192.0.2.1:1"), addr("192.0.2.2:2"))
        .with_tlv(tlv::CRC32C, &[0; 4])
        .unwrap()
        .with_tlv(tlv::CRC32C, &[0; 4])
        .unwrap();
    assert_eq!(
        feed(&header.encode().unwrap()),
        Outcome::Failed(ProxyError::V2Checksum)
    );
}

#[test]
fn v2_signature_mismatch_at_each_octet() {
    for i in 0..12 {
        let mut wire = v2(0x21, 0x11, &[0; 12]);
        wire[i] ^= 0x01;
        assert_eq!(decode_err(&wire, i), ProxyError::NotProxy, "octet {i}");
    }
    // An SMTP client that begins with an empty line is refused at its 'E'.
    assert_eq!(decode_err(b"\r\nEHLO x\r\n", 2), ProxyError::NotProxy);
}

#[test]
fn v2_version_and_command_errors_at_the_13th_octet() {
    for ver_cmd in [0x00, 0x01, 0x10, 0x11, 0x31, 0xf1] {
        let wire = v2(ver_cmd, 0x11, &[0; 12]);
        assert_eq!(decode_err(&wire, 12), ProxyError::V2Version(ver_cmd));
    }
    for ver_cmd in [0x22, 0x23, 0x2f] {
        let wire = v2(ver_cmd, 0x11, &[0; 12]);
        assert_eq!(decode_err(&wire, 12), ProxyError::V2Command(ver_cmd));
    }
}

#[test]
fn v2_family_errors_at_the_14th_octet() {
    for fam in 0..=255u8 {
        let valid = [0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32].contains(&fam);
        if !valid {
            let wire = v2(0x21, fam, &[0; 216]);
            assert_eq!(decode_err(&wire, 13), ProxyError::V2Family(fam));
        }
    }
}

#[test]
fn v2_length_shorter_than_the_addresses() {
    for (fam, need) in [
        (0x11, 12),
        (0x12, 12),
        (0x21, 36),
        (0x22, 36),
        (0x31, 216),
        (0x32, 216),
    ] {
        let wire = v2(0x21, fam, &vec![0; need - 1]);
        assert_eq!(
            decode_err(&wire, 15),
            ProxyError::V2Length {
                len: need - 1,
                need
            }
        );
        assert_eq!(
            feed(&v2(0x21, fam, &[])),
            Outcome::Failed(ProxyError::V2Length { len: 0, need })
        );
    }
}

#[test]
fn v2_malformed_tlvs() {
    let base = [192, 0, 2, 1, 198, 51, 100, 7, 0, 1, 0, 2];
    for tail in [
        &[0x01][..],                           // one stray octet
        &[0x01, 0x00],                         // a TLV header cut short
        &[0x01, 0x00, 0x02, b'x'],             // a value running past the end
        &[0x01, 0x00, 0x00, 0xE0, 0x01, 0x00], // a good TLV, then a bad one
    ] {
        let mut body = base.to_vec();
        body.extend_from_slice(tail);
        let wire = v2(0x21, 0x11, &body);
        assert_eq!(
            decode_err(&wire, wire.len() - 1),
            ProxyError::V2Tlv,
            "{tail:?}"
        );
    }
}

#[test]
fn v2_length_over_the_cap_is_refused_before_it_is_buffered() {
    let config = ProxyConfig::default();
    assert_eq!(config.max_v2_len, 1024);
    let at_cap = v2(
        0x21,
        0x11,
        &[&[0; 12][..], &tlv_bytes(tlv::NOOP, &[0; 1009])].concat(),
    );
    assert_eq!(at_cap.len(), 16 + 1024);
    assert!(matches!(feed(&at_cap), Outcome::Done(Some(_), 1040)));
    // 1025: refused at the 16th octet, with 16 octets held at most.
    let over = v2(
        0x21,
        0x11,
        &[&[0; 12][..], &tlv_bytes(tlv::NOOP, &[0; 1010])].concat(),
    );
    assert_eq!(
        decode_err(&over, 15),
        ProxyError::V2TooLong {
            len: 1025,
            max: 1024
        }
    );
    let mut header = over[..16].to_vec();
    header[14..16].copy_from_slice(&u16::MAX.to_be_bytes());
    let mut decoder = ProxyDecoder::new(config);
    assert_eq!(decoder.decode(&header[..15]), Ok(None));
    assert_eq!(decoder.buffered(), 15);
    assert_eq!(
        decoder.decode(&header[15..]),
        Err(ProxyError::V2TooLong {
            len: 65535,
            max: 1024
        })
    );
    assert_eq!(decoder.buffered(), 0);
}

#[test]
fn v2_cap_is_configurable() {
    let mut config = ProxyConfig::default();
    config.max_v2_len = 12;
    let v4 = ProxyHeader::v2(addr("192.0.2.1:1"), addr("192.0.2.2:2"))
        .encode()
        .unwrap();
    assert!(matches!(
        feed_cut(config, &v4, &[]),
        Outcome::Done(Some(_), 28)
    ));
    let v6 = ProxyHeader::v2(addr("[::1]:1"), addr("[::2]:2"))
        .encode()
        .unwrap();
    assert_eq!(
        feed_cut(config, &v6, &[]),
        Outcome::Failed(ProxyError::V2TooLong { len: 36, max: 12 })
    );
    config.max_v2_len = 0;
    let local = ProxyHeader::v2_local().encode().unwrap();
    assert!(matches!(
        feed_cut(config, &local, &[]),
        Outcome::Done(Some(_), 16)
    ));
    config.max_v2_len = 65535;
    let big = v2(
        0x21,
        0x11,
        &[&[0; 12][..], &tlv_bytes(0xE1, &[9; 65520])].concat(),
    );
    assert_eq!(big.len(), 16 + 65535);
    let Outcome::Done(Some(h), end) = feed_cut(config, &big, &[1000, 30000]) else {
        panic!()
    };
    assert_eq!(
        (end, h.tlv(0xE1).map(<[u8]>::len)),
        (big.len(), Some(65520))
    );
}

// ---------------------------------------------------------------------------------------
// Partial input, EOF, timeouts, reuse
// ---------------------------------------------------------------------------------------

fn valid_headers() -> Vec<Vec<u8>> {
    let mut unix = ProxyHeader::v2_local();
    unix.command = Command::Proxy;
    unix.transport = Transport::Stream;
    unix.addresses = Addresses::Unix {
        source: "/a".into(),
        destination: "/b".into(),
    };
    vec![
        b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n".to_vec(),
        b"PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n".to_vec(),
        b"PROXY UNKNOWN\r\n".to_vec(),
        ProxyHeader::v2(addr("192.0.2.1:1"), addr("192.0.2.2:25"))
            .encode()
            .unwrap(),
        ProxyHeader::v2(addr("[2001:db8::1]:1"), addr("[2001:db8::2]:25"))
            .with_tlv(tlv::CRC32C, &[0; 4])
            .unwrap()
            .with_tlv(tlv::ALPN, b"smtp")
            .unwrap()
            .encode()
            .unwrap(),
        ProxyHeader::v2_local().encode().unwrap(),
        unix.encode().unwrap(),
    ]
}

#[test]
fn every_prefix_needs_more_and_is_an_error_at_eof() {
    for header in valid_headers() {
        for n in 0..header.len() {
            let mut decoder = ProxyDecoder::new(ProxyConfig::default());
            assert_eq!(decoder.decode(&header[..n]), Ok(None), "{n} of {header:?}");
            assert_eq!(decoder.buffered(), n);
            assert_eq!(decoder.handle_eof(), ProxyError::Truncated { received: n });
            // Final: the error repeats.
            assert_eq!(
                decoder.decode(&header[n..]),
                Err(ProxyError::Truncated { received: n })
            );
            let mut decoder = ProxyDecoder::new(ProxyConfig::default());
            assert_eq!(decoder.decode(&header[..n]), Ok(None));
            assert_eq!(
                decoder.handle_timeout(),
                Err(ProxyError::Timeout { received: n })
            );
            assert_eq!(decoder.handle_eof(), ProxyError::Timeout { received: n });
        }
    }
}

#[test]
fn headers_followed_by_smtp_leave_the_smtp_octets() {
    for header in valid_headers() {
        let mut input = header.clone();
        input.extend_from_slice(SMTP);
        for cut in 0..=input.len() {
            let mut decoder = ProxyDecoder::new(ProxyConfig::default());
            let (a, b) = input.split_at(cut);
            let (decoded, rest) = match decoder.decode(a).unwrap() {
                Some(d) => (d.clone(), &a[d.consumed..]),
                None => {
                    let d = decoder.decode(b).unwrap().unwrap();
                    (d.clone(), &b[d.consumed..])
                }
            };
            assert!(decoded.header.is_some());
            let mut after = rest.to_vec();
            if cut >= header.len() {
                after.extend_from_slice(b); // the second read goes to the session whole
            }
            assert_eq!(after, SMTP, "cut {cut}");
            assert_eq!(decoder.decode(b"more"), Err(ProxyError::Finished));
            assert_eq!(decoder.handle_eof(), ProxyError::Finished);
            assert_eq!(decoder.handle_timeout(), Err(ProxyError::Finished));
        }
    }
}

#[test]
fn empty_input_changes_nothing() {
    let mut decoder = ProxyDecoder::new(ProxyConfig::default());
    assert_eq!(decoder.decode(b""), Ok(None));
    assert_eq!(decoder.decode(b"PRO"), Ok(None));
    assert_eq!(decoder.decode(b""), Ok(None));
    assert_eq!(decoder.buffered(), 3);
    let d = decoder.decode(b"XY UNKNOWN\r\n").unwrap().unwrap();
    assert_eq!(d.consumed, 12);
}

#[test]
fn nothing_at_all_is_truncated_with_zero_octets() {
    // A proxy's TCP health check connects and closes.
    let mut decoder = ProxyDecoder::new(ProxyConfig::default());
    assert_eq!(decoder.handle_eof(), ProxyError::Truncated { received: 0 });
    let mut decoder = ProxyDecoder::new(ProxyConfig::default());
    assert_eq!(
        decoder.handle_timeout(),
        Err(ProxyError::Timeout { received: 0 })
    );
    assert_eq!(decoder.timeout(), std::time::Duration::from_secs(5));
}

#[test]
fn errors_are_final() {
    let mut decoder = ProxyDecoder::new(ProxyConfig::default());
    assert_eq!(decoder.decode(b"EHLO"), Err(ProxyError::NotProxy));
    assert_eq!(
        decoder.decode(b"PROXY UNKNOWN\r\n"),
        Err(ProxyError::NotProxy)
    );
    assert_eq!(decoder.handle_eof(), ProxyError::NotProxy);
    assert_eq!(decoder.handle_timeout(), Err(ProxyError::NotProxy));
}

#[test]
fn optional_header_is_decided_by_the_first_octet() {
    let mut config = ProxyConfig::default();
    config.required = false;
    // A direct SMTP client: no header, nothing consumed.
    assert_eq!(
        feed_cut(config, b"EHLO client.example\r\n", &[]),
        Outcome::Done(None, 0)
    );
    assert_eq!(one_by_one(config, b"QUIT\r\n"), Outcome::Done(None, 0));
    // A header is still decoded.
    for header in valid_headers() {
        let mut input = header.clone();
        input.extend_from_slice(SMTP);
        let Outcome::Done(Some(_), end) = one_by_one(config, &input) else {
            panic!("{header:?}")
        };
        assert_eq!(end, header.len());
    }
    // 'P' or CR commits to a header.
    assert_eq!(
        feed_cut(config, b"PROXX", &[]),
        Outcome::Failed(ProxyError::NotProxy)
    );
    assert_eq!(
        feed_cut(config, b"\r\nEHLO", &[]),
        Outcome::Failed(ProxyError::NotProxy)
    );
    // A client that waits for the greeting: served when the timer runs out.
    let mut decoder = ProxyDecoder::new(config);
    assert_eq!(decoder.decode(b""), Ok(None));
    assert_eq!(
        decoder.handle_timeout(),
        Ok(Decoded {
            header: None,
            consumed: 0
        })
    );
    assert_eq!(decoder.decode(b"EHLO"), Err(ProxyError::Finished));
    // But not one that sent part of a header, nor one that hung up.
    let mut decoder = ProxyDecoder::new(config);
    assert_eq!(decoder.decode(b"PROXY"), Ok(None));
    assert_eq!(
        decoder.handle_timeout(),
        Err(ProxyError::Timeout { received: 5 })
    );
    let mut decoder = ProxyDecoder::new(config);
    assert_eq!(decoder.handle_eof(), ProxyError::Truncated { received: 0 });
}

// ---------------------------------------------------------------------------------------
// Trust
// ---------------------------------------------------------------------------------------

#[test]
fn cidr_parsing() {
    let net: Cidr = "10.0.0.0/8".parse().unwrap();
    assert_eq!((net.addr(), net.prefix_len()), (ip("10.0.0.0"), 8));
    assert_eq!(net.to_string(), "10.0.0.0/8");
    assert_eq!("192.0.2.1".parse::<Cidr>().unwrap().prefix_len(), 32);
    assert_eq!("::1".parse::<Cidr>().unwrap().prefix_len(), 128);
    assert_eq!(
        "2001:db8::/32".parse::<Cidr>().unwrap().to_string(),
        "2001:db8::/32"
    );
    assert_eq!("0.0.0.0/0".parse::<Cidr>().unwrap().prefix_len(), 0);
    assert_eq!("::/0".parse::<Cidr>().unwrap().prefix_len(), 0);
    for (text, err) in [
        ("10.0.0.1/8", CidrError::HostBits("10.0.0.1/8".into())),
        (
            "2001:db8::1/32",
            CidrError::HostBits("2001:db8::1/32".into()),
        ),
        ("10.0.0.0/33", CidrError::Prefix("10.0.0.0/33".into())),
        ("::/129", CidrError::Prefix("::/129".into())),
        ("10.0.0.0/", CidrError::Prefix("10.0.0.0/".into())),
        ("10.0.0.0/-1", CidrError::Prefix("10.0.0.0/-1".into())),
        ("10.0.0.0/+8", CidrError::Prefix("10.0.0.0/+8".into())),
        ("10.0.0.0/1000", CidrError::Prefix("10.0.0.0/1000".into())),
        ("10.0.0.0/8/8", CidrError::Prefix("10.0.0.0/8/8".into())),
        ("10.0.0/8", CidrError::Address("10.0.0/8".into())),
        ("010.0.0.0/8", CidrError::Address("010.0.0.0/8".into())),
        ("[::1]/128", CidrError::Address("[::1]/128".into())),
        ("localhost", CidrError::Address("localhost".into())),
        ("", CidrError::Address("".into())),
    ] {
        assert_eq!(text.parse::<Cidr>(), Err(err), "{text}");
    }
    assert!(Cidr::new(ip("10.0.0.0"), 33).is_err());
    assert!(Cidr::new(ip("::"), 128).is_ok());
}

#[test]
fn cidr_edges() {
    let all4: Cidr = "0.0.0.0/0".parse().unwrap();
    assert!(all4.contains(ip("0.0.0.0")) && all4.contains(ip("255.255.255.255")));
    assert!(!all4.contains(ip("2001:db8::1")));
    let all6: Cidr = "::/0".parse().unwrap();
    assert!(
        all6.contains(ip("::")) && all6.contains(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"))
    );
    let host4: Cidr = "192.0.2.7/32".parse().unwrap();
    assert!(host4.contains(ip("192.0.2.7")));
    assert!(!host4.contains(ip("192.0.2.6")) && !host4.contains(ip("192.0.2.8")));
    let host6: Cidr = "2001:db8::7/128".parse().unwrap();
    assert!(host6.contains(ip("2001:db8::7")));
    assert!(!host6.contains(ip("2001:db8::6")) && !host6.contains(ip("2001:db8::8")));
    let net: Cidr = "10.0.0.0/8".parse().unwrap();
    assert!(net.contains(ip("10.0.0.0")) && net.contains(ip("10.255.255.255")));
    assert!(!net.contains(ip("9.255.255.255")) && !net.contains(ip("11.0.0.0")));
    let odd: Cidr = "192.0.2.128/25".parse().unwrap();
    assert!(odd.contains(ip("192.0.2.128")) && odd.contains(ip("192.0.2.255")));
    assert!(!odd.contains(ip("192.0.2.127")));
    let net6: Cidr = "fd00::/8".parse().unwrap();
    assert!(
        net6.contains(ip("fdff::1"))
            && !net6.contains(ip("fe00::1"))
            && !net6.contains(ip("fc00::1"))
    );
}

#[test]
fn cidr_ipv4_mapped_ipv6_is_the_ipv4_host() {
    let net: Cidr = "10.0.0.0/8".parse().unwrap();
    assert!(net.contains(ip("::ffff:10.1.2.3"))); // a dual-stack socket's view of 10.1.2.3
    assert!(!net.contains(ip("::ffff:11.1.2.3")));
    assert!(!net.contains(ip("::10.1.2.3"))); // IPv4-compatible (deprecated): not mapped
    assert!(!net.contains(ip("64:ff9b::a01:203"))); // NAT64: not mapped
    let mapped: Cidr = "::ffff:10.0.0.0/104".parse().unwrap();
    assert!(mapped.contains(ip("10.1.2.3")) && !mapped.contains(ip("11.1.2.3")));
    let all_v4: Cidr = "::ffff:0:0/96".parse().unwrap();
    assert!(all_v4.contains(ip("203.0.113.9")) && !all_v4.contains(ip("2001:db8::1")));
    let loopback6: Cidr = "::1/128".parse().unwrap();
    assert!(!loopback6.contains(ip("127.0.0.1")));
    let loopback4: Cidr = "127.0.0.0/8".parse().unwrap();
    assert!(!loopback4.contains(ip("::1")));
    assert!("::/0".parse::<Cidr>().unwrap().contains(ip("192.0.2.1")));
}

#[test]
fn trusted_networks() {
    let trusted: TrustedNetworks = "10.0.0.0/8, 192.168.1.5\t::1/128,,fd00::/8\n"
        .parse()
        .unwrap();
    assert_eq!(trusted.networks().len(), 4);
    assert!(trusted.contains(ip("10.200.0.1")));
    assert!(trusted.contains(ip("192.168.1.5")));
    assert!(trusted.contains(ip("::ffff:192.168.1.5")));
    assert!(trusted.contains(ip("::1")));
    assert!(trusted.contains(ip("fd12::1")));
    assert!(!trusted.contains(ip("192.168.1.6")));
    assert!(!trusted.contains(ip("127.0.0.1")));
    assert!(!trusted.contains(ip("2001:db8::1")));
    assert_eq!(
        "10.0.0.0/8, 10.0.0.1/8".parse::<TrustedNetworks>(),
        Err(CidrError::HostBits("10.0.0.1/8".into()))
    );
    let nobody: TrustedNetworks = "".parse().unwrap();
    assert!(!nobody.contains(ip("10.0.0.1")));
    assert_eq!(nobody, TrustedNetworks::new());
    let mut built = TrustedNetworks::new();
    built.push("::1".parse().unwrap());
    assert!(built.contains(ip("::1")));
    let collected: TrustedNetworks = ["10.0.0.0/8", "::1"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(collected.networks().len(), 2);
}

#[test]
fn a_decoder_only_for_trusted_peers() {
    let trusted: TrustedNetworks = "10.0.0.0/8".parse().unwrap();
    let config = ProxyConfig::default();
    assert!(ProxyDecoder::for_peer(config, &trusted, ip("10.0.0.1")).is_some());
    assert!(ProxyDecoder::for_peer(config, &trusted, ip("::ffff:10.0.0.1")).is_some());
    assert!(ProxyDecoder::for_peer(config, &trusted, ip("192.0.2.1")).is_none());
    assert!(ProxyDecoder::for_peer(config, &TrustedNetworks::new(), ip("10.0.0.1")).is_none());
}

// ---------------------------------------------------------------------------------------
// Encoder
// ---------------------------------------------------------------------------------------

#[test]
fn encode_v1() {
    let h = ProxyHeader::v1(addr("192.168.0.1:56324"), addr("192.168.0.11:443"));
    assert_eq!(
        h.encode().unwrap(),
        b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"
    );
    let h = ProxyHeader::v1(addr("[2001:db8::1]:1"), addr("[::1]:25"));
    assert_eq!(h.encode().unwrap(), b"PROXY TCP6 2001:db8::1 ::1 1 25\r\n");
    assert_eq!(
        ProxyHeader::v1_unknown().encode().unwrap(),
        b"PROXY UNKNOWN\r\n"
    );
    // Mixed families become one: IPv6, with the IPv4 address mapped.
    let h = ProxyHeader::v1(addr("192.0.2.1:1"), addr("[2001:db8::2]:25"));
    assert_eq!(h.source(), Some(addr("[::ffff:192.0.2.1]:1")));
    assert_eq!(
        h.encode().unwrap(),
        b"PROXY TCP6 ::ffff:192.0.2.1 2001:db8::2 1 25\r\n"
    );
    assert_eq!(decode_ok(&h.encode().unwrap(), b""), h);
}

#[test]
fn encode_v2_exact_octets() {
    let h = ProxyHeader::v2(addr("[2001:db8::1]:40000"), addr("[2001:db8::2]:25"));
    let wire = h.encode().unwrap();
    assert_eq!(wire[..12], V2_SIGNATURE);
    assert_eq!(wire[12..16], [0x21, 0x21, 0x00, 36]);
    assert_eq!(wire.len(), 16 + 36);
    assert_eq!(wire[48..], [0x9c, 0x40, 0x00, 0x19]);
    assert_eq!(
        ProxyHeader::v2_local().encode().unwrap(),
        v2(0x20, 0x00, &[])
    );
    let mut udp = ProxyHeader::v2(addr("192.0.2.1:53"), addr("192.0.2.2:53"));
    udp.transport = Transport::Datagram;
    assert_eq!(udp.encode().unwrap()[13], 0x12);
    assert_eq!(decode_ok(&udp.encode().unwrap(), b""), udp);
}

#[test]
fn encode_errors() {
    let mut local_v1 = ProxyHeader::v2_local();
    local_v1.version = 1;
    assert_eq!(
        local_v1.encode(),
        Err(EncodeError::NotInV1("a LOCAL command"))
    );
    let mut tlv_v1 = ProxyHeader::v2(addr("192.0.2.1:1"), addr("192.0.2.2:2"))
        .with_tlv(1, b"x")
        .unwrap();
    tlv_v1.version = 1;
    assert_eq!(tlv_v1.encode(), Err(EncodeError::NotInV1("TLVs")));
    let mut udp_v1 = ProxyHeader::v1(addr("192.0.2.1:1"), addr("192.0.2.2:2"));
    udp_v1.transport = Transport::Datagram;
    assert_eq!(udp_v1.encode(), Err(EncodeError::NotInV1("UDP")));
    let mut unix = ProxyHeader::v1_unknown();
    unix.addresses = Addresses::Unix {
        source: "/a".into(),
        destination: "/b".into(),
    };
    assert_eq!(
        unix.encode(),
        Err(EncodeError::NotInV1("AF_UNIX addresses"))
    );
    unix.version = 2;
    assert_eq!(unix.encode(), Err(EncodeError::NoTransport));
    unix.transport = Transport::Stream;
    assert!(unix.encode().is_ok());
    unix.addresses = Addresses::Unix {
        source: vec![b'x'; 109].into(),
        destination: "/b".into(),
    };
    assert_eq!(unix.encode(), Err(EncodeError::UnixPathTooLong));
    let mut v3 = ProxyHeader::v1_unknown();
    v3.version = 3;
    assert_eq!(v3.encode(), Err(EncodeError::Version(3)));
    let h = ProxyHeader::v2_local();
    assert_eq!(
        h.clone().with_tlv(1, &vec![0; 65536]).unwrap_err(),
        EncodeError::TooLong
    );
    let mut h = h.with_tlv(1, &vec![0; 65532]).unwrap(); // 65535 octets of TLV
    assert_eq!(h.encode().unwrap().len(), 16 + 65535);
    // With 12 octets of addresses on top, the length no longer fits in 16 bits.
    h.command = Command::Proxy;
    h.transport = Transport::Stream;
    h.addresses = Addresses::Inet {
        source: addr("192.0.2.1:1"),
        destination: addr("192.0.2.2:2"),
    };
    assert_eq!(h.encode(), Err(EncodeError::TooLong));
}

// ---------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------

fn socket_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::new(ip.into(), port)),
        (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::new(ip.into(), port)),
        // IPv4-mapped IPv6, which the v1 text writes with a dotted tail.
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| {
            SocketAddr::new(std::net::Ipv4Addr::from(ip).to_ipv6_mapped().into(), port)
        }),
    ]
}

/// Any header the decoder can produce, in its normal form.
fn header() -> impl Strategy<Value = ProxyHeader> {
    let tlvs = prop::collection::vec(
        (
            any::<u8>().prop_filter("not CRC32C", |k| *k != tlv::CRC32C),
            prop::collection::vec(any::<u8>(), 0..40),
        ),
        0..5,
    );
    prop_oneof![
        (socket_addr(), socket_addr()).prop_map(|(s, d)| ProxyHeader::v1(s, d)),
        Just(ProxyHeader::v1_unknown()),
        Just(ProxyHeader::v2_local()),
        (
            socket_addr(),
            socket_addr(),
            any::<bool>(),
            any::<bool>(),
            tlvs
        )
            .prop_map(|(s, d, udp, crc, tlvs)| {
                let mut h = ProxyHeader::v2(s, d);
                if udp {
                    h.transport = Transport::Datagram;
                }
                if crc {
                    h = h.with_tlv(tlv::CRC32C, &[0; 4]).unwrap();
                }
                for (kind, value) in tlvs {
                    h = h.with_tlv(kind, &value).unwrap();
                }
                h
            }),
    ]
}

/// Inputs near the grammar: a signature or a v1 start, then octets biased towards it.
fn near_header() -> impl Strategy<Value = Vec<u8>> {
    let starts: Vec<Vec<u8>> = vec![
        vec![],
        b"PROXY ".to_vec(),
        b"PROXY TCP4 ".to_vec(),
        b"PROXY TCP6 ".to_vec(),
        b"PROXY UNKNOWN".to_vec(),
        V2_SIGNATURE.to_vec(),
        [&V2_SIGNATURE[..], &[0x21]].concat(),
        [&V2_SIGNATURE[..], &[0x21, 0x11, 0x00]].concat(),
        [&V2_SIGNATURE[..], &[0x21, 0x21, 0x00]].concat(),
        [&V2_SIGNATURE[..], &[0x20]].concat(),
    ];
    let alphabet = b"0123456789abcdefABCDEF.: \r\n\x00\xffPROXYTCUNKW".to_vec();
    (
        prop::sample::select(starts),
        prop::collection::vec(
            prop_oneof![any::<u8>(), prop::sample::select(alphabet)],
            0..300,
        ),
    )
        .prop_map(|(start, tail)| [start, tail].concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any header plus any trailing octets, split anywhere: the same header, ending exactly
    /// where the encoding ends; and the encoder is the decoder's inverse.
    #[test]
    fn any_split_of_a_valid_header(
        h in header(),
        trailer in prop::collection::vec(any::<u8>(), 0..64),
        cuts in prop::collection::vec(0usize..400, 0..6),
    ) {
        let wire = h.encode().unwrap();
        let input = [&wire[..], &trailer[..]].concat();
        let whole = feed(&input);
        let Outcome::Done(Some(decoded), end) = whole.clone() else {
            panic!("{h:?}: {whole:?}");
        };
        prop_assert_eq!(end, wire.len());
        prop_assert_eq!(decoded.encode().unwrap(), wire.clone());
        prop_assert_eq!(decoded.source(), h.source());
        prop_assert_eq!(decoded.destination(), h.destination());
        prop_assert_eq!(decoded.tlvs().count(), h.tlvs().count());
        if h.tlv(tlv::CRC32C).is_none() {
            prop_assert_eq!(&decoded, &h);
        }
        prop_assert_eq!(feed_cut(ProxyConfig::default(), &input, &cuts), whole.clone());
        prop_assert_eq!(one_by_one(ProxyConfig::default(), &input), whole);
    }

    /// Arbitrary octets never panic, never hold or consume more than a header may be, and
    /// give the same outcome however they are split.
    #[test]
    fn arbitrary_octets(
        input in prop_oneof![prop::collection::vec(any::<u8>(), 0..400), near_header()],
        cuts in prop::collection::vec(0usize..400, 0..8),
        max in prop_oneof![Just(1024usize), 0usize..300],
        required in any::<bool>(),
    ) {
        let mut config = ProxyConfig::default();
        config.max_v2_len = max;
        config.required = required;
        let whole = feed_cut(config, &input, &[]);
        if let Outcome::Done(_, end) = &whole {
            prop_assert!(*end <= V1_MAX_LEN.max(16 + max));
        }
        prop_assert_eq!(feed_cut(config, &input, &cuts), whole.clone());
        prop_assert_eq!(one_by_one(config, &input), whole.clone());
        // At EOF an incomplete header is an error, never a header.
        if whole == Outcome::NeedMore {
            let mut decoder = ProxyDecoder::new(config);
            prop_assert_eq!(decoder.decode(&input), Ok(None));
            prop_assert_eq!(decoder.handle_eof(), ProxyError::Truncated { received: input.len() });
        }
    }
}

//! The PROXY protocol decoder (`smtp_proto::proxy`) against an independent reference encoder,
//! under any chunking, with EOF or a timeout at a chosen point, and the trust check
//! (`Cidr`, `TrustedNetworks`, `ProxyDecoder::for_peer`) against a one-line model.

use arbitrary::{Arbitrary, Unstructured};
use smtp_proto::proxy::{
    Addresses, Cidr, CidrError, Command, Decoded, ProxyConfig, ProxyDecoder, ProxyError,
    ProxyHeader, Transport, TrustedNetworks, V1_MAX_LEN, V2_SIGNATURE,
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// `PP2_TYPE_CRC32C` (section 2.2.3).
const CRC32C: u8 = 0x03;

/// The fixed part of a version 2 header: signature, version/command, family, length.
const V2_FIXED: usize = 16;

/// The longest input fed octet by octet as well (the decoder is cheap; this keeps corpus
/// replays of huge inputs quick).
const BYTE_BY_BYTE_MAX: usize = 8192;

/// The control part of a `proxy` input: everything but the raw octets after the header.
#[derive(Arbitrary, Debug)]
pub struct ProxyControl {
    /// `ProxyConfig::required` off: a peer may speak SMTP directly.
    optional: bool,
    /// `ProxyConfig::max_v2_len`.
    limit: Limit,
    /// A header written by the reference encoder, put before the raw octets.
    prefix: Option<HeaderSpec>,
    /// Flip the bits `.1` of the octet at `.0` (modulo the prefix's length) of the prefix: a
    /// near-valid header (then only the equivalences are checked, not the expected header).
    corrupt: Option<(u16, u8)>,
    /// How many octets of the stream arrive before the end; `None`: all of them.
    arrive: Option<u16>,
    /// Read lengths (0 is an empty read); the rest of what arrives is one last read.
    reads: Vec<u16>,
    /// What happens once everything arrived.
    end: End,
    /// Networks for `TrustedNetworks`, and the socket's peer.
    trusted: Vec<NetSpec>,
    peer: IpSpec,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Limit {
    Default,
    Exactly(u16),
    Unlimited,
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Nothing: the decoder is left waiting.
    Nothing,
    /// The peer closes: `handle_eof`.
    Eof,
    /// The adapter's timer runs out: `handle_timeout`.
    Timeout,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum IpSpec {
    V4([u8; 4]),
    V6([u8; 16]),
    /// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`).
    Mapped([u8; 4]),
}

impl IpSpec {
    fn ip(self) -> IpAddr {
        match self {
            IpSpec::V4(o) => IpAddr::V4(Ipv4Addr::from(o)),
            IpSpec::V6(o) => IpAddr::V6(Ipv6Addr::from(o)),
            IpSpec::Mapped(o) => IpAddr::V6(Ipv4Addr::from(o).to_ipv6_mapped()),
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
struct NetSpec {
    ip: IpSpec,
    prefix: u8,
    /// Clear the host bits first (else most networks would be refused for them).
    mask: bool,
}

/// A header for the reference encoder to write.
#[derive(Arbitrary, Debug)]
enum HeaderSpec {
    Tcp4 {
        source: ([u8; 4], u16),
        destination: ([u8; 4], u16),
    },
    Tcp6 {
        source: (IpSpec, u16),
        destination: (IpSpec, u16),
    },
    /// `PROXY UNKNOWN`, then (if not empty) a space and octets the receiver ignores.
    Unknown(Vec<u8>),
    /// Version 2 `LOCAL`: the family octet and the block are ignored.
    Local { family: u8, block: Vec<u8> },
    /// Version 2 `PROXY`.
    Proxy {
        datagram: bool,
        addresses: V2Addresses,
        tlvs: Vec<(u8, Vec<u8>)>,
        /// Where a CRC32C TLV goes among the others (modulo their number plus one).
        crc: Option<u8>,
    },
}

#[derive(Arbitrary, Debug)]
enum V2Addresses {
    /// `AF_UNSPEC`: the block is ignored.
    Unspec(Vec<u8>),
    Inet4 {
        source: ([u8; 4], u16),
        destination: ([u8; 4], u16),
    },
    Inet6 {
        source: ([u8; 16], u16),
        destination: ([u8; 16], u16),
    },
    /// Paths of at most 108 octets, zero-padded; `junk` goes after a NUL when there is room.
    Unix {
        source: Vec<u8>,
        destination: Vec<u8>,
        junk: Vec<u8>,
    },
}

// ---------------------------------------------------------------------------------------
// The reference encoder
// ---------------------------------------------------------------------------------------

/// CRC32c (Castagnoli), bit by bit: independent of the core's table.
fn crc32c(data: &[u8]) -> u32 {
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

/// A version 1 `TCP4`/`TCP6` line (section 2.1).
fn v1_line(source: SocketAddr, destination: SocketAddr) -> Vec<u8> {
    let protocol = match (source.ip(), destination.ip()) {
        (IpAddr::V4(_), IpAddr::V4(_)) => "TCP4",
        (IpAddr::V6(_), IpAddr::V6(_)) => "TCP6",
        _ => panic!("a v1 line with mixed families: {source} {destination}"),
    };
    format!(
        "PROXY {protocol} {} {} {} {}\r\n",
        source.ip(),
        destination.ip(),
        source.port(),
        destination.port()
    )
    .into_bytes()
}

/// A version 2 header (section 2.2): `ver_cmd`, `family`, the block, the TLVs. A CRC32C TLV of
/// 4 octets gets its value computed over the whole header (section 2.2.3).
fn v2_header(ver_cmd: u8, family: u8, block: &[u8], tlvs: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut out = V2_SIGNATURE.to_vec();
    out.push(ver_cmd);
    out.push(family);
    let len = block.len() + tlvs.iter().map(|(_, v)| 3 + v.len()).sum::<usize>();
    out.extend_from_slice(&u16::try_from(len).expect("a v2 header fits").to_be_bytes());
    out.extend_from_slice(block);
    let mut crc_at = None;
    for (kind, value) in tlvs {
        out.push(*kind);
        out.extend_from_slice(
            &u16::try_from(value.len())
                .expect("a TLV fits")
                .to_be_bytes(),
        );
        if *kind == CRC32C && value.len() == 4 && crc_at.is_none() {
            crc_at = Some(out.len());
            out.extend_from_slice(&[0; 4]);
        } else {
            out.extend_from_slice(value);
        }
    }
    if let Some(at) = crc_at {
        let crc = crc32c(&out);
        out[at..at + 4].copy_from_slice(&crc.to_be_bytes());
    }
    out
}

fn port_bytes(block: &mut Vec<u8>, source: u16, destination: u16) {
    block.extend_from_slice(&source.to_be_bytes());
    block.extend_from_slice(&destination.to_be_bytes());
}

/// A UNIX address field: the path, zero-padded to 108 octets.
fn unix_field(block: &mut Vec<u8>, path: &[u8]) {
    assert!(path.len() <= 108, "a UNIX path of {} octets", path.len());
    block.extend_from_slice(path);
    block.resize(block.len() + 108 - path.len(), 0);
}

/// What the decoder makes of a 108-octet UNIX address field: the path up to its first NUL;
/// an abstract address (leading NUL) keeps its leading NUL and loses its trailing NULs.
fn unix_path(field: &[u8]) -> Vec<u8> {
    let end = if field[0] == 0 {
        field.iter().rposition(|&b| b != 0).map_or(1, |i| i + 1)
    } else {
        field.iter().position(|&b| b == 0).unwrap_or(field.len())
    };
    field[..end].to_vec()
}

/// The reference encoding of a decoded header: v1 text for `TCP4`/`TCP6`/`UNKNOWN`, v2 binary
/// with canonical fields (LOCAL and AF_UNSPEC with no block, UNIX paths zero-padded) and the
/// TLVs as decoded, a CRC32C recomputed.
fn encode(h: &ProxyHeader) -> Vec<u8> {
    match h.version {
        1 => {
            assert_eq!(h.command, Command::Proxy, "a v1 LOCAL: {h:?}");
            assert_eq!(h.tlvs().count(), 0, "a v1 header with TLVs: {h:?}");
            match &h.addresses {
                Addresses::Unspecified => {
                    assert_eq!(h.transport, Transport::Unspecified);
                    b"PROXY UNKNOWN\r\n".to_vec()
                }
                Addresses::Inet {
                    source,
                    destination,
                } => {
                    assert_eq!(h.transport, Transport::Stream, "{h:?}");
                    v1_line(*source, *destination)
                }
                Addresses::Unix { .. } => panic!("a v1 header with UNIX addresses: {h:?}"),
            }
        }
        2 => {
            let tlvs: Vec<(u8, Vec<u8>)> = h.tlvs().map(|t| (t.kind, t.value.to_vec())).collect();
            let (command, family, block) = match (&h.command, &h.addresses) {
                (Command::Local, a) => {
                    assert_eq!(*a, Addresses::Unspecified, "{h:?}");
                    assert!(tlvs.is_empty(), "a LOCAL header keeps TLVs: {h:?}");
                    (0x20, 0x00, Vec::new())
                }
                (Command::Proxy, Addresses::Unspecified) => {
                    assert!(tlvs.is_empty(), "an AF_UNSPEC header keeps TLVs: {h:?}");
                    (0x21, 0x00, Vec::new())
                }
                (
                    Command::Proxy,
                    Addresses::Inet {
                        source,
                        destination,
                    },
                ) => {
                    let mut block = Vec::new();
                    let family = match (source.ip(), destination.ip()) {
                        (IpAddr::V4(s), IpAddr::V4(d)) => {
                            block.extend_from_slice(&s.octets());
                            block.extend_from_slice(&d.octets());
                            0x10
                        }
                        (IpAddr::V6(s), IpAddr::V6(d)) => {
                            block.extend_from_slice(&s.octets());
                            block.extend_from_slice(&d.octets());
                            0x20
                        }
                        _ => panic!("a v2 header with mixed families: {h:?}"),
                    };
                    port_bytes(&mut block, source.port(), destination.port());
                    (0x21, family, block)
                }
                (
                    Command::Proxy,
                    Addresses::Unix {
                        source,
                        destination,
                    },
                ) => {
                    let mut block = Vec::new();
                    unix_field(&mut block, source);
                    unix_field(&mut block, destination);
                    (0x21, 0x30, block)
                }
            };
            let transport = match (h.command, &h.addresses, h.transport) {
                (_, Addresses::Unspecified, t) => {
                    assert_eq!(t, Transport::Unspecified, "{h:?}");
                    0
                }
                (_, _, Transport::Stream) => 1,
                (_, _, Transport::Datagram) => 2,
                (_, _, Transport::Unspecified) => panic!("addresses without a transport: {h:?}"),
            };
            v2_header(command, family | transport, &block, &tlvs)
        }
        v => panic!("a decoded header of version {v}"),
    }
}

impl HeaderSpec {
    /// The octets and the header the decoder must make of them.
    fn build(&self) -> (Vec<u8>, ProxyHeader) {
        let sock4 = |(o, p): ([u8; 4], u16)| SocketAddr::new(IpAddr::V4(Ipv4Addr::from(o)), p);
        match self {
            HeaderSpec::Tcp4 {
                source,
                destination,
            } => {
                let (s, d) = (sock4(*source), sock4(*destination));
                (v1_line(s, d), ProxyHeader::v1(s, d))
            }
            HeaderSpec::Tcp6 {
                source,
                destination,
            } => {
                let six = |(ip, p): (IpSpec, u16)| {
                    let ip = match ip.ip() {
                        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                        IpAddr::V6(v6) => v6,
                    };
                    SocketAddr::new(IpAddr::V6(ip), p)
                };
                let (s, d) = (six(*source), six(*destination));
                (v1_line(s, d), ProxyHeader::v1(s, d))
            }
            HeaderSpec::Unknown(junk) => {
                let mut line = b"PROXY UNKNOWN".to_vec();
                let junk: Vec<u8> = junk.iter().copied().filter(|&b| b != b'\n').collect();
                if !junk.is_empty() {
                    line.push(b' ');
                    line.extend_from_slice(&junk);
                }
                line.truncate(V1_MAX_LEN - 2);
                line.extend_from_slice(b"\r\n");
                (line, ProxyHeader::v1_unknown())
            }
            HeaderSpec::Local { family, block } => {
                let block = &block[..block.len().min(2048)];
                (
                    v2_header(0x20, *family, block, &[]),
                    ProxyHeader::v2_local(),
                )
            }
            HeaderSpec::Proxy {
                datagram,
                addresses,
                tlvs,
                crc,
            } => {
                let transport = if *datagram {
                    Transport::Datagram
                } else {
                    Transport::Stream
                };
                let t = if *datagram { 2 } else { 1 };
                let mut expected = ProxyHeader::v2_local();
                expected.command = Command::Proxy;
                let mut block = Vec::new();
                let family = match addresses {
                    V2Addresses::Unspec(b) => {
                        block.extend_from_slice(&b[..b.len().min(2048)]);
                        0x00
                    }
                    V2Addresses::Inet4 {
                        source,
                        destination,
                    } => {
                        block.extend_from_slice(&source.0);
                        block.extend_from_slice(&destination.0);
                        port_bytes(&mut block, source.1, destination.1);
                        expected.transport = transport;
                        expected.addresses = Addresses::Inet {
                            source: sock4(*source),
                            destination: sock4(*destination),
                        };
                        0x10 | t
                    }
                    V2Addresses::Inet6 {
                        source,
                        destination,
                    } => {
                        block.extend_from_slice(&source.0);
                        block.extend_from_slice(&destination.0);
                        port_bytes(&mut block, source.1, destination.1);
                        let sock6 = |(o, p): ([u8; 16], u16)| {
                            SocketAddr::new(IpAddr::V6(Ipv6Addr::from(o)), p)
                        };
                        expected.transport = transport;
                        expected.addresses = Addresses::Inet {
                            source: sock6(*source),
                            destination: sock6(*destination),
                        };
                        0x20 | t
                    }
                    V2Addresses::Unix {
                        source,
                        destination,
                        junk,
                    } => {
                        let mut fields = [[0u8; 108]; 2];
                        for (field, path) in fields.iter_mut().zip([source, destination]) {
                            let path = &path[..path.len().min(108)];
                            field[..path.len()].copy_from_slice(path);
                            // Junk after the first NUL past the path (ignored), if room.
                            if let Some(nul) = (path.len()..108).find(|&i| field[i] == 0) {
                                let room = 108 - nul - 1;
                                let junk = &junk[..junk.len().min(room)];
                                field[nul + 1..nul + 1 + junk.len()].copy_from_slice(junk);
                            }
                        }
                        for f in &fields {
                            block.extend_from_slice(f);
                        }
                        expected.transport = transport;
                        expected.addresses = Addresses::Unix {
                            source: unix_path(&fields[0]).into(),
                            destination: unix_path(&fields[1]).into(),
                        };
                        0x30 | t
                    }
                };
                // CRC32C TLVs come only from `crc` (one, 4 octets): the others are renamed.
                let mut tlvs: Vec<(u8, Vec<u8>)> = tlvs
                    .iter()
                    .take(64)
                    .map(|(k, v)| {
                        let k = if *k == CRC32C { 0x04 } else { *k };
                        (k, v[..v.len().min(1024)].to_vec())
                    })
                    .collect();
                if let Some(at) = crc {
                    let at = usize::from(*at) % (tlvs.len() + 1);
                    tlvs.insert(at, (CRC32C, vec![0; 4]));
                }
                let wire = v2_header(0x20 | 1, family, &block, &tlvs);
                if family != 0x00 {
                    // TLVs are kept as sent: the CRC32C's value is the one on the wire.
                    let mut at = V2_FIXED + block.len();
                    for (k, v) in &tlvs {
                        let value = &wire[at + 3..at + 3 + v.len()];
                        expected = expected.with_tlv(*k, value).expect("a TLV fits");
                        at += 3 + v.len();
                    }
                }
                (wire, expected)
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Feeding the decoder
// ---------------------------------------------------------------------------------------

/// What a decoder made of the octets that arrived, fed in some chunking, then the end.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    /// Every chunk was taken and the header is incomplete.
    NeedMore,
    /// A header (or, when optional, none) ending at this offset of the stream.
    Done(Option<ProxyHeader>, usize),
    /// An error from `decode`.
    Failed(ProxyError),
}

/// A run: the outcome, what the end event gave, and at which octet the outcome was reported
/// (the last octet of the chunk that gave it; `None` while waiting).
#[derive(Debug)]
struct Run {
    outcome: Outcome,
    end: Option<Result<Decoded, ProxyError>>,
    reported: Option<(usize, usize)>,
}

/// The most a decoder may hold for this stream: 107 octets for v1 (`P`), 16 plus the length
/// limit for v2.
fn buffer_bound(config: &ProxyConfig, stream: &[u8]) -> usize {
    match stream.first() {
        Some(b'P') => V1_MAX_LEN,
        _ => V2_FIXED + config.max_v2_len.min(usize::from(u16::MAX)),
    }
}

/// Feeds `arrived` cut at `cuts` (ascending offsets, duplicates give empty reads), then
/// `end`, checking the decoder's contract after every call.
fn feed(
    mut decoder: ProxyDecoder,
    config: &ProxyConfig,
    arrived: &[u8],
    cuts: &[usize],
    end: End,
) -> Run {
    let bound = buffer_bound(config, arrived);
    let mut start = 0;
    let mut outcome = Outcome::NeedMore;
    let mut reported = None;
    let ends = cuts.iter().copied().chain(std::iter::once(arrived.len()));
    for stop in ends {
        let chunk = &arrived[start..stop];
        let result = decoder.decode(chunk);
        match result {
            Ok(None) => {
                // All octets so far were taken, and held: they are the header's.
                assert_eq!(
                    decoder.buffered(),
                    stop,
                    "Ok(None) but not every octet so far is held"
                );
                assert!(
                    decoder.buffered() <= bound,
                    "{} octets held, over {bound}",
                    decoder.buffered()
                );
                start = stop;
                continue;
            }
            Ok(Some(Decoded { header, consumed })) => {
                assert!(
                    consumed <= chunk.len(),
                    "consumed {consumed} of a {}-octet read",
                    chunk.len()
                );
                assert_eq!(decoder.buffered(), 0, "a finished decoder holds octets");
                let at = start + consumed;
                // What the adapter passes on is exactly the stream after the header.
                let leftover = [&chunk[consumed..], &arrived[stop..]].concat();
                assert_eq!(&leftover[..], &arrived[at..]);
                match &header {
                    Some(h) => {
                        assert!(
                            consumed >= 1,
                            "a header completed in an earlier read: {h:?}"
                        );
                        let max = match h.version {
                            1 => V1_MAX_LEN,
                            _ => V2_FIXED + config.max_v2_len.min(usize::from(u16::MAX)),
                        };
                        assert!(at <= max, "a header of {at} octets, over {max}");
                    }
                    None => {
                        assert!(!config.required, "no header although one is required");
                        assert_eq!((start, consumed), (0, 0), "no header, yet octets taken");
                        assert!(
                            !matches!(arrived.first(), Some(b'P' | b'\r') | None),
                            "no header, yet the first octet may start one"
                        );
                    }
                }
                outcome = Outcome::Done(header, at);
                reported = Some((start, stop));
            }
            Err(e) => {
                assert_eq!(decoder.buffered(), 0, "a failed decoder holds octets");
                assert!(
                    !matches!(
                        e,
                        ProxyError::Finished
                            | ProxyError::Truncated { .. }
                            | ProxyError::Timeout { .. }
                    ),
                    "decode gave {e:?}"
                );
                outcome = Outcome::Failed(e);
                reported = Some((start, stop));
            }
        }
        break;
    }
    let fed = decoder.buffered();
    let end = match (&outcome, end) {
        (_, End::Nothing) => None,
        (Outcome::NeedMore, End::Eof) => {
            let e = decoder.handle_eof();
            assert_eq!(e, ProxyError::Truncated { received: fed });
            Some(Err(e))
        }
        (Outcome::NeedMore, End::Timeout) => {
            let r = decoder.handle_timeout();
            if !config.required && fed == 0 {
                assert_eq!(
                    r,
                    Ok(Decoded {
                        header: None,
                        consumed: 0
                    })
                );
            } else {
                assert_eq!(r, Err(ProxyError::Timeout { received: fed }));
            }
            Some(r)
        }
        _ => None,
    };
    // Finished and failed decoders stay so, and say why, whatever is called.
    let last = match (&outcome, &end) {
        (Outcome::Failed(e), _) | (_, Some(Err(e))) => Some(Err(e.clone())),
        (Outcome::Done(..), _) | (_, Some(Ok(_))) => Some(Ok(())),
        (Outcome::NeedMore, None) => None,
    };
    if let Some(last) = last {
        let e = last.err().unwrap_or(ProxyError::Finished);
        assert_eq!(decoder.decode(b"PROXY "), Err(e.clone()));
        assert_eq!(decoder.decode(b""), Err(e.clone()));
        assert_eq!(decoder.handle_timeout(), Err(e.clone()));
        assert_eq!(decoder.handle_eof(), e);
        assert_eq!(decoder.buffered(), 0);
    } else {
        assert_eq!(
            decoder.decode(b""),
            Ok(None),
            "an empty read changed something"
        );
        assert_eq!(decoder.buffered(), fed);
    }
    Run {
        outcome,
        end,
        reported,
    }
}

/// Decodes a whole input and returns the header, if it is one.
fn decode_whole(input: &[u8]) -> Result<Option<Decoded>, ProxyError> {
    let mut config = ProxyConfig::default();
    config.max_v2_len = usize::from(u16::MAX);
    ProxyDecoder::new(config).decode(input)
}

/// The header with the value of its CRC32C TLV zeroed: re-encoding recomputes it, and it
/// differs from the sent one when ignored octets (after a UNIX path's NUL) were dropped.
fn without_crc(h: &ProxyHeader) -> ProxyHeader {
    if h.tlv(CRC32C).is_none() {
        return h.clone();
    }
    let mut out = ProxyHeader::v2_local();
    out.command = h.command;
    out.transport = h.transport;
    out.addresses = h.addresses.clone();
    for t in h.tlvs() {
        let value: &[u8] = if t.kind == CRC32C { &[0; 4] } else { t.value };
        out = out.with_tlv(t.kind, value).expect("a TLV fits");
    }
    out
}

/// A decoded header, re-encoded by the reference encoder, decodes to itself; the core's
/// encoder writes the same octets; a canonical header on the wire re-encodes to those octets.
fn round_trip(h: &ProxyHeader, wire: &[u8]) {
    let again = encode(h);
    assert_eq!(
        h.encode().as_deref(),
        Ok(&again[..]),
        "ProxyHeader::encode differs from the reference encoder for {h:?}"
    );
    let decoded = decode_whole(&again)
        .unwrap_or_else(|e| panic!("the re-encoded {h:?} fails: {e:?}"))
        .unwrap_or_else(|| panic!("the re-encoded {h:?} is incomplete"));
    assert_eq!(decoded.consumed, again.len());
    let back = decoded.header.expect("a header");
    if again == wire {
        assert_eq!(&back, h);
    } else {
        assert_eq!(without_crc(&back), without_crc(h));
    }
    // Canonical encodings: v1 TCP4 (IPv4 text has one form), v2 PROXY over IP.
    let canonical = match (h.version, &h.addresses) {
        (1, Addresses::Inet { source, .. }) => source.is_ipv4(),
        (2, Addresses::Inet { .. }) => true,
        _ => false,
    };
    if canonical {
        assert_eq!(again, wire, "a canonical header re-encodes to other octets");
    }
    if h.version == 1 {
        // The addresses and ports are what the encoder wrote.
        let text = String::from_utf8(again).expect("v1 is text");
        let fields: Vec<&str> = text.trim_end().split(' ').collect();
        match fields[..] {
            ["PROXY", "UNKNOWN"] => {
                assert_eq!((back.source(), back.destination()), (None, None));
            }
            ["PROXY", "TCP4" | "TCP6", s, d, sp, dp] => {
                let sock = |ip: &str, port: &str| {
                    SocketAddr::new(ip.parse().expect("an IP"), port.parse().expect("a port"))
                };
                assert_eq!(back.source(), Some(sock(s, sp)));
                assert_eq!(back.destination(), Some(sock(d, dp)));
                assert_eq!(back.source(), h.source());
                assert_eq!(back.destination(), h.destination());
            }
            _ => panic!("the reference v1 line is malformed: {text:?}"),
        }
    }
    // The accessors never panic, and the TLVs tile the area.
    let _ = h.ssl().map(|ssl| ssl.tlvs().count());
    for t in h.tlvs() {
        let _ = h.tlv(t.kind);
    }
}

// ---------------------------------------------------------------------------------------
// Trust
// ---------------------------------------------------------------------------------------

/// An address as a 128-bit number in IPv6 space (IPv4 as IPv4-mapped IPv6).
fn as_v6(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// Whether the network `addr/prefix` contains `ip`: the common top bits, in IPv6 space.
fn model_contains(addr: IpAddr, prefix: u8, ip: IpAddr) -> bool {
    let bits = u32::from(prefix) + if addr.is_ipv4() { 96 } else { 0 };
    let diff = as_v6(addr) ^ as_v6(ip);
    bits == 0 || diff >> (128 - bits) == 0
}

/// `Cidr::new`, its text form, `TrustedNetworks` and `for_peer` against the model.
fn trust(control: &ProxyControl, config: ProxyConfig) -> Option<ProxyDecoder> {
    let peer = control.peer.ip();
    let mut networks = Vec::new();
    for net in control.trusted.iter().take(16) {
        let ip = net.ip.ip();
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = net.prefix % (max + 8);
        let ip = if net.mask && prefix <= max {
            match ip {
                IpAddr::V4(v4) => {
                    let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                    IpAddr::V4(Ipv4Addr::from(u32::from(v4) & m))
                }
                IpAddr::V6(v6) => {
                    let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
                    IpAddr::V6(Ipv6Addr::from(u128::from(v6) & m))
                }
            }
        } else {
            ip
        };
        let host_bits = prefix <= max && {
            let shift = u32::from(max - prefix);
            let low = match ip {
                IpAddr::V4(v4) => u128::from(u32::from(v4)),
                IpAddr::V6(v6) => u128::from(v6),
            };
            let host = u128::MAX.checked_shl(shift).map_or(u128::MAX, |m| !m);
            low & host != 0
        };
        match Cidr::new(ip, prefix) {
            Ok(cidr) => {
                assert!(prefix <= max && !host_bits, "{ip}/{prefix} accepted");
                assert_eq!((cidr.addr(), cidr.prefix_len()), (ip, prefix));
                assert_eq!(cidr.contains(peer), model_contains(ip, prefix, peer));
                assert!(cidr.contains(ip), "{cidr} does not contain its own address");
                assert_eq!(cidr.to_string().parse::<Cidr>(), Ok(cidr));
                networks.push(cidr);
            }
            Err(CidrError::Prefix(_)) => assert!(prefix > max, "{ip}/{prefix} refused"),
            Err(CidrError::HostBits(_)) => {
                assert!(
                    prefix <= max && host_bits,
                    "{ip}/{prefix} refused for host bits"
                )
            }
            Err(e) => panic!("Cidr::new({ip}, {prefix}): {e:?}"),
        }
    }
    let trusted: TrustedNetworks = networks.iter().copied().collect();
    let text: Vec<String> = networks.iter().map(Cidr::to_string).collect();
    assert_eq!(
        text.join(", ").parse::<TrustedNetworks>(),
        Ok(trusted.clone())
    );
    let expected = networks
        .iter()
        .any(|n| model_contains(n.addr(), n.prefix_len(), peer));
    assert_eq!(trusted.contains(peer), expected);
    let decoder = ProxyDecoder::for_peer(config, &trusted, peer);
    assert_eq!(decoder.is_some(), expected);
    decoder
}

// ---------------------------------------------------------------------------------------
// The target
// ---------------------------------------------------------------------------------------

/// The `proxy` target. Input: a little-endian `u16` length, that many octets of
/// [`ProxyControl`] (decoded with `arbitrary`), then raw octets that follow the prefix header.
pub fn proxy(data: &[u8]) {
    let (control, raw) = crate::split_control(data);
    let Ok(control) = ProxyControl::arbitrary_take_rest(Unstructured::new(control)) else {
        return;
    };
    let mut config = ProxyConfig::default();
    config.required = !control.optional;
    config.max_v2_len = match control.limit {
        Limit::Default => config.max_v2_len,
        Limit::Exactly(n) => usize::from(n),
        Limit::Unlimited => usize::MAX,
    };

    // The stream: a reference-encoded header (perhaps damaged), then the raw octets.
    let built = control.prefix.as_ref().map(HeaderSpec::build);
    let mut stream = Vec::new();
    let mut intact = true;
    if let Some((wire, _)) = &built {
        stream.extend_from_slice(wire);
        if let Some((at, flip)) = control.corrupt {
            if flip != 0 && !wire.is_empty() {
                stream[usize::from(at) % wire.len()] ^= flip;
                intact = false;
            }
        }
    }
    stream.extend_from_slice(raw);
    let arrived = match control.arrive {
        Some(n) => &stream[..usize::from(n).min(stream.len())],
        None => &stream[..],
    };

    let decoder = trust(&control, config).unwrap_or_else(|| ProxyDecoder::new(config));
    let mut cuts = Vec::new();
    let mut at = 0;
    for &n in control.reads.iter().take(4096) {
        at = (at + usize::from(n)).min(arrived.len());
        cuts.push(at);
    }
    let chunked = feed(decoder, &config, arrived, &cuts, control.end);
    let whole = feed(
        ProxyDecoder::new(config),
        &config,
        arrived,
        &[],
        control.end,
    );
    assert_eq!(
        (&chunked.outcome, &chunked.end),
        (&whole.outcome, &whole.end),
        "the chunking changed the result"
    );
    if arrived.len() <= BYTE_BY_BYTE_MAX {
        let cuts: Vec<usize> = (1..arrived.len()).collect();
        let split = feed(
            ProxyDecoder::new(config),
            &config,
            arrived,
            &cuts,
            control.end,
        );
        assert_eq!(
            (&split.outcome, &split.end),
            (&whole.outcome, &whole.end),
            "reading octet by octet changed the result"
        );
        // The result comes with the octet that decides it, whatever the chunking.
        if let (Some((_, decisive)), Some((start, stop))) = (split.reported, chunked.reported) {
            let octet = decisive.saturating_sub(1);
            assert!(
                start <= octet && octet < stop,
                "reported in the read {start}..{stop}, decided at octet {octet}"
            );
        }
    }

    if let Outcome::Done(Some(h), end) = &whole.outcome {
        round_trip(h, &arrived[..*end]);
    }

    // The reference encoder's header decodes to what it stands for.
    if let (Some((wire, expected)), true) = (&built, intact) {
        let len = wire.len();
        let v2_len = len - V2_FIXED.min(len);
        let too_long = wire.first() == Some(&b'\r') && v2_len > config.max_v2_len;
        let outcome = &whole.outcome;
        if too_long && arrived.len() >= V2_FIXED {
            assert_eq!(
                *outcome,
                Outcome::Failed(ProxyError::V2TooLong {
                    len: v2_len,
                    max: config.max_v2_len
                })
            );
        } else if arrived.len() >= len {
            assert_eq!(*outcome, Outcome::Done(Some(expected.clone()), len));
        } else {
            assert_eq!(*outcome, Outcome::NeedMore, "a prefix of a valid header");
        }
    }
    // No header when optional and the first octet cannot start one; NotProxy when required.
    if let Some(&first) = arrived.first() {
        if first != b'P' && first != b'\r' {
            let expected = if config.required {
                Outcome::Failed(ProxyError::NotProxy)
            } else {
                Outcome::Done(None, 0)
            };
            assert_eq!(whole.outcome, expected);
        }
    }
}

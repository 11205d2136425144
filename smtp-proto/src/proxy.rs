//! The PROXY protocol, versions 1 and 2 (HAProxy's `proxy-protocol.txt`), receiver side: a
//! third sans-IO machine beside the [`Session`](crate::Session) and the MIME parser.
//!
//! A proxy or load balancer in front of the server prepends a header to each connection
//! that tells the real client's address: a line of text in version 1 (section 2.1,
//! `PROXY TCP4 192.0.2.1 198.51.100.7 56324 25\r\n`) or a binary block in version 2 (section
//! 2.2, a 12-octet signature, a version/command octet, a family/transport octet, a length, the
//! addresses and optional TLVs, 2.2.1 to 2.2.8). [`ProxyDecoder`] reads that header from the
//! first octets of a connection, fed in chunks of any size, and tells how many octets of the
//! last chunk were the header's: the rest is the start of the SMTP stream. Like the session
//! it does no IO, reads no clock, never panics and holds at most one header (a v1 line of at
//! most 107 octets, or 16 octets plus [`ProxyConfig::max_v2_len`]). [`ProxyHeader::encode`]
//! writes headers, for clients, proxies and tests.
//!
//! ## Trust
//! The header replaces the client's address, so only trusted proxies may send one. Section 5:
//! implementers "must only rely on a configuration parameter" to decide whether to decode a
//! header, never guess; "accepting the header only from a number of known sources should be
//! safe". [`TrustedNetworks`] is that configuration: the networks of the proxies (CIDRs,
//! IPv4 and IPv6). [`ProxyDecoder::for_peer`] gives a decoder for a trusted peer and `None`
//! for any other, whose connection is plain SMTP with its own address: a header it sends is
//! never honoured (the session takes it for a command it does not know), or the adapter
//! closes such connections if the port serves proxies only.
//!
//! ## Driving it (what an adapter does)
//! 1. Accept the connection; note the socket's `peer` and `local` addresses.
//! 2. `ProxyDecoder::for_peer(config, &trusted, peer.ip())`. `None`: skip to step 5 with the
//!    socket's addresses and no leftover.
//! 3. **Before** creating the [`Session`](crate::Session) (which queues the greeting: the
//!    server must not speak before the header is read, section 2), read from the socket with
//!    one deadline for the whole header, [`ProxyDecoder::timeout`] after the accept (5 s by
//!    default; section 2 suggests "a few seconds (at least 3 seconds to cover a TCP
//!    retransmit)"). It is a total budget, not a per-read idle timer, so a peer that trickles
//!    one octet at a time cannot extend it. The core has no clock: this timer is the
//!    adapter's.
//!    - read `n > 0` octets: [`decode`](ProxyDecoder::decode)`(&buf[..n])`. `Ok(None)`: the
//!      header is incomplete and all `n` octets were taken; read again. `Ok(Some(decoded))`:
//!      step 4. `Err(e)`: close the connection without a reply (log `e`).
//!    - read 0 octets (EOF): log [`handle_eof`](ProxyDecoder::handle_eof)'s error and close.
//!      [`ProxyError::Truncated`] with `received: 0` is a proxy's TCP health check.
//!    - the deadline passes: [`handle_timeout`](ProxyDecoder::handle_timeout). `Ok(decoded)`
//!      (only when [`ProxyConfig::required`] is off and nothing arrived) goes to step 4 with
//!      no leftover; `Err(e)`: close.
//! 4. The addresses: `decoded.header.as_ref().and_then(ProxyHeader::source).unwrap_or(peer)`
//!    is the client, and [`destination`](ProxyHeader::destination) (else `local`) the address
//!    it connected to. v1 `UNKNOWN`, v2 `LOCAL` (a health check), v2 `AF_UNSPEC` and
//!    `AF_UNIX` headers carry no IP address: the socket's own addresses stand. The leftover is
//!    `&buf[decoded.consumed..n]`.
//! 5. Give the application (handler) the client and server addresses in place of the
//!    socket's, and keep the proxy's (the socket peer) for logs. Create the session; then, if
//!    the leftover is not empty, pass it on **before** the first `poll_transmit`: to
//!    [`Session::handle_input`](crate::Session::handle_input) on a plain connection (octets
//!    that came with the header were sent before the greeting, so the early-talker policy
//!    rightly sees them as early), or to the TLS acceptor first on an implicit-TLS port (the
//!    header precedes the handshake; the leftover is the start of the ClientHello).
//!
//! ## Example
//! ```
//! use smtp_proto::proxy::{ProxyConfig, ProxyDecoder, ProxyHeader, TrustedNetworks};
//! use std::net::SocketAddr;
//!
//! let trusted: TrustedNetworks = "10.0.0.0/8, ::1/128".parse().unwrap();
//! let peer: SocketAddr = "10.1.2.3:41000".parse().unwrap(); // the load balancer
//! let local: SocketAddr = "10.9.9.9:25".parse().unwrap();
//! let mut decoder = ProxyDecoder::for_peer(ProxyConfig::default(), &trusted, peer.ip())
//!     .expect("a trusted peer");
//!
//! // The proxy's header and the client's first octets, as two reads split anywhere.
//! let client: SocketAddr = "192.0.2.1:56324".parse().unwrap();
//! let mut wire = ProxyHeader::v2(client, "198.51.100.7:25".parse().unwrap()).encode().unwrap();
//! wire.extend_from_slice(b"EHLO client.example\r\n");
//! let (first, second) = wire.split_at(10);
//! assert_eq!(decoder.decode(first), Ok(None)); // need more
//! let decoded = decoder.decode(second).unwrap().expect("complete");
//! let header = decoded.header.as_ref().unwrap();
//! assert_eq!(header.source().unwrap_or(peer), client);
//! assert_ne!(header.destination().unwrap_or(local), local);
//! assert_eq!(&second[decoded.consumed..], b"EHLO client.example\r\n"); // for the session
//! ```

use bytes::{BufMut, Bytes, BytesMut};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

/// The longest version 1 line, CRLF included (section 2.1: `PROXY UNKNOWN`, two full IPv6
/// addresses and two 5-digit ports). A line without CRLF in this many octets is invalid.
pub const V1_MAX_LEN: usize = 107;

/// The 12-octet signature that starts a version 2 header (section 2.2).
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// What starts a version 1 header: `PROXY` and exactly one space (section 2.1).
const V1_PREFIX: &[u8; 6] = b"PROXY ";

/// Signature, version/command, family/transport, length (section 2.2).
const V2_FIXED_LEN: usize = 16;

/// Octets of one AF_UNIX address (section 2.2).
const UNIX_ADDR_LEN: usize = 108;

/// The TLV types and flags registered in section 2.2 (2.2.1 to 2.2.8), for
/// [`ProxyHeader::tlv`] and [`ProxyHeader::with_tlv`].
pub mod tlv {
    /// `PP2_TYPE_ALPN` (2.2.1): the TLS ALPN protocol the client negotiated, raw octets.
    pub const ALPN: u8 = 0x01;
    /// `PP2_TYPE_AUTHORITY` (2.2.2): the host name the client asked for (TLS SNI), UTF-8.
    pub const AUTHORITY: u8 = 0x02;
    /// `PP2_TYPE_CRC32C` (2.2.3): a CRC32c of the whole header, 4 octets, big-endian. The
    /// decoder verifies it; [`ProxyHeader::encode`](super::ProxyHeader::encode) fills it in.
    pub const CRC32C: u8 = 0x03;
    /// `PP2_TYPE_NOOP` (2.2.4): padding, to be ignored.
    pub const NOOP: u8 = 0x04;
    /// `PP2_TYPE_UNIQUE_ID` (2.2.5): an opaque connection id of up to 128 octets.
    pub const UNIQUE_ID: u8 = 0x05;
    /// `PP2_TYPE_SSL` (2.2.6): the client's TLS connection; see [`SslTlv`](super::SslTlv).
    pub const SSL: u8 = 0x20;
    /// `PP2_SUBTYPE_SSL_VERSION` (2.2.6): the TLS version, US-ASCII (inside [`SSL`]).
    pub const SSL_VERSION: u8 = 0x21;
    /// `PP2_SUBTYPE_SSL_CN` (2.2.6): the client certificate's Common Name, UTF-8.
    pub const SSL_CN: u8 = 0x22;
    /// `PP2_SUBTYPE_SSL_CIPHER` (2.2.6): the cipher name, US-ASCII.
    pub const SSL_CIPHER: u8 = 0x23;
    /// `PP2_SUBTYPE_SSL_SIG_ALG` (2.2.6): the server certificate's signature algorithm.
    pub const SSL_SIG_ALG: u8 = 0x24;
    /// `PP2_SUBTYPE_SSL_KEY_ALG` (2.2.6): the server certificate's key algorithm.
    pub const SSL_KEY_ALG: u8 = 0x25;
    /// `PP2_TYPE_NETNS` (2.2.7): the network namespace's name, US-ASCII.
    pub const NETNS: u8 = 0x30;
    /// `PP2_TYPE_MIN_CUSTOM` (2.2.8): first of 16 types for application data (to `0xEF`).
    pub const MIN_CUSTOM: u8 = 0xE0;
    /// `PP2_TYPE_MAX_CUSTOM` (2.2.8).
    pub const MAX_CUSTOM: u8 = 0xEF;
    /// `PP2_CLIENT_SSL` (2.2.6): flag of [`SslTlv::client`](super::SslTlv::client): the client
    /// connected over TLS.
    pub const CLIENT_SSL: u8 = 0x01;
    /// `PP2_CLIENT_CERT_CONN` (2.2.6): the client gave a certificate on this connection.
    pub const CLIENT_CERT_CONN: u8 = 0x02;
    /// `PP2_CLIENT_CERT_SESS` (2.2.6): the client gave a certificate in this TLS session.
    pub const CLIENT_CERT_SESS: u8 = 0x04;
}

// ---------------------------------------------------------------------------------------
// The header
// ---------------------------------------------------------------------------------------

/// The command of a header (section 2.2, the low 4 bits of the 13th octet).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    /// `LOCAL` (`0x0`): the proxy opened the connection itself (a health check). The
    /// connection's own endpoints stand; the decoder discards the address block and TLVs.
    Local,
    /// `PROXY` (`0x1`): the connection is relayed for a client. Every version 1 header is one.
    Proxy,
}

/// The transport of the proxied connection (section 2.2, the low 4 bits of the 14th octet).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// `UNSPEC` (`0x0`): unknown, as in v1 `UNKNOWN`, v2 `AF_UNSPEC` and `LOCAL` headers.
    Unspecified,
    /// `STREAM` (`0x1`): TCP or a UNIX stream socket. v1 `TCP4` and `TCP6` lines are this.
    Stream,
    /// `DGRAM` (`0x2`): UDP or a UNIX datagram socket (v2 only).
    Datagram,
}

/// The addresses a header carries (sections 2.1 and 2.2).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Addresses {
    /// None: v1 `UNKNOWN`, v2 `LOCAL`, v2 `AF_UNSPEC`. The connection's own addresses stand.
    Unspecified,
    /// TCP or UDP over IPv4 or IPv6 (v1 `TCP4`/`TCP6`, v2 `AF_INET`/`AF_INET6`).
    Inet {
        /// The client: where the proxied connection came from.
        source: SocketAddr,
        /// Where the client connected to (the proxy's listening address, usually).
        destination: SocketAddr,
    },
    /// UNIX sockets (v2 `AF_UNIX`): the paths, up to their first NUL. An abstract address
    /// (Linux; a leading NUL) keeps its leading NUL and loses only its trailing NULs.
    Unix {
        /// The client's socket path.
        source: Bytes,
        /// The socket path it connected to.
        destination: Bytes,
    },
}

/// A decoded (or to-be-encoded) PROXY protocol header.
///
/// Decoded headers are in a normal form: v1 `UNKNOWN` is `Proxy` with no addresses and an
/// unspecified transport; v2 `LOCAL` and `AF_UNSPEC` headers have no addresses, an unspecified
/// transport and no TLVs (section 2.2: the receiver ignores that block). TLVs (v2 only) are
/// kept raw, in the order sent, validated to tile the rest of the header exactly.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ProxyHeader {
    /// `1` for the text format (section 2.1), `2` for the binary one (section 2.2).
    pub version: u8,
    /// `LOCAL` or `PROXY`.
    pub command: Command,
    /// TCP/stream, UDP/datagram or unspecified.
    pub transport: Transport,
    /// The proxied connection's endpoints, if the header gives them.
    pub addresses: Addresses,
    /// The raw TLV area (type, 16-bit big-endian length, value; repeated).
    tlvs: Bytes,
}

impl ProxyHeader {
    /// A version 1 `TCP4` or `TCP6` line. If one address is IPv4 and the other IPv6, the
    /// IPv4 one is written in its IPv4-mapped IPv6 form (`::ffff:a.b.c.d`) and the line is
    /// `TCP6`: a line has one family (section 2.1).
    pub fn v1(source: SocketAddr, destination: SocketAddr) -> Self {
        let (source, destination) = same_family(source, destination);
        ProxyHeader {
            version: 1,
            command: Command::Proxy,
            transport: Transport::Stream,
            addresses: Addresses::Inet {
                source,
                destination,
            },
            tlvs: Bytes::new(),
        }
    }

    /// A version 1 `PROXY UNKNOWN` line: the receiver uses the connection's own addresses.
    pub fn v1_unknown() -> Self {
        ProxyHeader {
            version: 1,
            command: Command::Proxy,
            transport: Transport::Unspecified,
            addresses: Addresses::Unspecified,
            tlvs: Bytes::new(),
        }
    }

    /// A version 2 `PROXY` header for TCP (`\x11` or `\x21`). Mixed families are written as
    /// IPv6, as for [`v1`](Self::v1). Add TLVs with [`with_tlv`](Self::with_tlv); for UDP or
    /// UNIX sockets set [`transport`](Self::transport) and [`addresses`](Self::addresses).
    pub fn v2(source: SocketAddr, destination: SocketAddr) -> Self {
        ProxyHeader {
            version: 2,
            ..ProxyHeader::v1(source, destination)
        }
    }

    /// A version 2 `LOCAL` header (a proxy's health check), family `AF_UNSPEC`, no addresses.
    pub fn v2_local() -> Self {
        ProxyHeader {
            version: 2,
            command: Command::Local,
            transport: Transport::Unspecified,
            addresses: Addresses::Unspecified,
            tlvs: Bytes::new(),
        }
    }

    /// Appends a TLV (version 2 only; section 2.2). A [`tlv::CRC32C`] TLV may be given any 4
    /// octets: [`encode`](Self::encode) computes its value. Fails with
    /// [`EncodeError::TooLong`] if the value is over 65535 octets.
    pub fn with_tlv(mut self, kind: u8, value: &[u8]) -> Result<Self, EncodeError> {
        let len = u16::try_from(value.len()).map_err(|_| EncodeError::TooLong)?;
        let mut tlvs = BytesMut::with_capacity(self.tlvs.len() + 3 + value.len());
        tlvs.extend_from_slice(&self.tlvs);
        tlvs.put_u8(kind);
        tlvs.put_u16(len);
        tlvs.extend_from_slice(value);
        self.tlvs = tlvs.freeze();
        Ok(self)
    }

    /// The client's address (the proxied connection's source), if the header gives an IP
    /// address. `None` for `UNKNOWN`, `LOCAL`, `AF_UNSPEC` and `AF_UNIX`: use the
    /// connection's own peer address.
    pub fn source(&self) -> Option<SocketAddr> {
        match (&self.command, &self.addresses) {
            (Command::Proxy, Addresses::Inet { source, .. }) => Some(*source),
            _ => None,
        }
    }

    /// The address the client connected to, if the header gives an IP address (see
    /// [`source`](Self::source)). `None`: use the connection's own local address.
    pub fn destination(&self) -> Option<SocketAddr> {
        match (&self.command, &self.addresses) {
            (Command::Proxy, Addresses::Inet { destination, .. }) => Some(*destination),
            _ => None,
        }
    }

    /// The TLVs, in the order sent (section 2.2; version 2 `PROXY` headers only).
    pub fn tlvs(&self) -> Tlvs<'_> {
        Tlvs { rest: &self.tlvs }
    }

    /// The value of the first TLV of type `kind` (see [`tlv`] for the registered types).
    pub fn tlv(&self, kind: u8) -> Option<&[u8]> {
        self.tlvs().find(|t| t.kind == kind).map(|t| t.value)
    }

    /// The [`tlv::SSL`] TLV (section 2.2.6), if present and at least 5 octets long.
    pub fn ssl(&self) -> Option<SslTlv<'_>> {
        let value = self.tlv(tlv::SSL)?;
        let (&client, rest) = value.split_first()?;
        let verify = rest.get(..4)?;
        Some(SslTlv {
            client,
            verify: u32::from_be_bytes([verify[0], verify[1], verify[2], verify[3]]),
            sub: &rest[4..],
        })
    }

    /// Writes the header in its version's wire format: the exact octets a proxy sends
    /// (for clients, proxies and tests). Version 2 fills in a [`tlv::CRC32C`] TLV's value
    /// (section 2.2.3).
    ///
    /// Fails for what the version cannot carry: version 1 has no `LOCAL`, no UNIX or UDP
    /// addresses and no TLVs; version 2 needs a transport when it has addresses, UNIX paths
    /// of at most 108 octets, and at most 65535 octets after the fixed 16.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        match self.version {
            1 => self.encode_v1(),
            2 => self.encode_v2(),
            v => Err(EncodeError::Version(v)),
        }
    }

    fn encode_v1(&self) -> Result<Vec<u8>, EncodeError> {
        if self.command == Command::Local {
            return Err(EncodeError::NotInV1("a LOCAL command"));
        }
        if !self.tlvs.is_empty() {
            return Err(EncodeError::NotInV1("TLVs"));
        }
        let line = match &self.addresses {
            Addresses::Unspecified => "PROXY UNKNOWN\r\n".to_string(),
            Addresses::Unix { .. } => return Err(EncodeError::NotInV1("AF_UNIX addresses")),
            Addresses::Inet {
                source,
                destination,
            } => {
                if self.transport == Transport::Datagram {
                    return Err(EncodeError::NotInV1("UDP"));
                }
                let (s, d) = same_family(*source, *destination);
                let proto = if s.is_ipv4() { "TCP4" } else { "TCP6" };
                format!(
                    "PROXY {proto} {} {} {} {}\r\n",
                    s.ip(),
                    d.ip(),
                    s.port(),
                    d.port()
                )
            }
        };
        Ok(line.into_bytes())
    }

    fn encode_v2(&self) -> Result<Vec<u8>, EncodeError> {
        let transport = match self.transport {
            Transport::Unspecified => 0x0,
            Transport::Stream => 0x1,
            Transport::Datagram => 0x2,
        };
        let mut block = Vec::new();
        let family = match &self.addresses {
            Addresses::Unspecified => 0x00,
            _ if transport == 0 => return Err(EncodeError::NoTransport),
            Addresses::Inet {
                source,
                destination,
            } => match same_family(*source, *destination) {
                (SocketAddr::V4(s), SocketAddr::V4(d)) => {
                    block.extend_from_slice(&s.ip().octets());
                    block.extend_from_slice(&d.ip().octets());
                    block.extend_from_slice(&s.port().to_be_bytes());
                    block.extend_from_slice(&d.port().to_be_bytes());
                    0x10 | transport
                }
                (s, d) => {
                    block.extend_from_slice(&v6(s.ip()).octets());
                    block.extend_from_slice(&v6(d.ip()).octets());
                    block.extend_from_slice(&s.port().to_be_bytes());
                    block.extend_from_slice(&d.port().to_be_bytes());
                    0x20 | transport
                }
            },
            Addresses::Unix {
                source,
                destination,
            } => {
                for path in [source, destination] {
                    if path.len() > UNIX_ADDR_LEN {
                        return Err(EncodeError::UnixPathTooLong);
                    }
                    block.extend_from_slice(path);
                    block.resize(block.len() + UNIX_ADDR_LEN - path.len(), 0);
                }
                0x30 | transport
            }
        };
        let len = u16::try_from(block.len() + self.tlvs.len()).map_err(|_| EncodeError::TooLong)?;
        let command = match self.command {
            Command::Local => 0x0,
            Command::Proxy => 0x1,
        };
        let mut out = Vec::with_capacity(V2_FIXED_LEN + usize::from(len));
        out.extend_from_slice(&V2_SIGNATURE);
        out.push(0x20 | command);
        out.push(family);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&block);
        let tlv_start = out.len();
        out.extend_from_slice(&self.tlvs);
        // Section 2.2.3: zero the checksum field, take the CRC32c of the whole header, store it.
        if let Some(at) = crc_field(&out[tlv_start..]) {
            let at = tlv_start + at;
            out[at..at + 4].fill(0);
            let crc = crc32c(&out);
            out[at..at + 4].copy_from_slice(&crc.to_be_bytes());
        }
        Ok(out)
    }
}

/// Writes both addresses in one family: IPv4 if both are, else IPv6 (IPv4-mapped).
fn same_family(a: SocketAddr, b: SocketAddr) -> (SocketAddr, SocketAddr) {
    if a.is_ipv4() == b.is_ipv4() {
        (a, b)
    } else {
        let widen = |s: SocketAddr| SocketAddr::new(IpAddr::V6(v6(s.ip())), s.port());
        (widen(a), widen(b))
    }
}

fn v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

/// One TLV of a version 2 header (section 2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tlv<'a> {
    /// The type (see [`tlv`] for the registered ones).
    pub kind: u8,
    /// The value, raw.
    pub value: &'a [u8],
}

/// An iterator over TLVs: [`ProxyHeader::tlvs`], [`SslTlv::tlvs`]. It stops at the first TLV
/// that would run past the end (only possible inside an [`SslTlv`]: the decoder rejects
/// headers whose top-level TLVs do not fit exactly).
#[derive(Clone, Debug)]
pub struct Tlvs<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Tlvs<'a> {
    type Item = Tlv<'a>;

    fn next(&mut self) -> Option<Tlv<'a>> {
        let (&kind, rest) = self.rest.split_first()?;
        let len = match rest {
            [hi, lo, ..] => usize::from(u16::from_be_bytes([*hi, *lo])),
            _ => {
                self.rest = &[];
                return None;
            }
        };
        let Some(value) = rest.get(2..2 + len) else {
            self.rest = &[];
            return None;
        };
        self.rest = &rest[2 + len..];
        Some(Tlv { kind, value })
    }
}

/// The value of a [`tlv::SSL`] TLV (section 2.2.6): `struct pp2_tlv_ssl { uint8_t client;
/// uint32_t verify; struct pp2_tlv sub_tlv[0]; }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SslTlv<'a> {
    /// Flags: [`tlv::CLIENT_SSL`], [`tlv::CLIENT_CERT_CONN`], [`tlv::CLIENT_CERT_SESS`].
    pub client: u8,
    /// Zero if the client presented a certificate and it was verified, non-zero otherwise.
    pub verify: u32,
    sub: &'a [u8],
}

impl<'a> SslTlv<'a> {
    /// The sub-TLVs ([`tlv::SSL_VERSION`], [`tlv::SSL_CN`], [`tlv::SSL_CIPHER`], ...).
    pub fn tlvs(&self) -> Tlvs<'a> {
        Tlvs { rest: self.sub }
    }

    /// The value of the first sub-TLV of type `kind`.
    pub fn get(&self, kind: u8) -> Option<&'a [u8]> {
        self.tlvs().find(|t| t.kind == kind).map(|t| t.value)
    }
}

/// What [`ProxyHeader::encode`] cannot write.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// [`ProxyHeader::version`] is neither 1 nor 2.
    #[error("PROXY protocol version {0} does not exist (1 or 2)")]
    Version(u8),
    /// Version 1 (section 2.1) has TCP over IPv4 or IPv6, or `UNKNOWN`, and nothing else.
    #[error("PROXY protocol version 1 cannot carry {0}")]
    NotInV1(&'static str),
    /// A version 2 header with addresses needs [`Transport::Stream`] or
    /// [`Transport::Datagram`] (section 2.2 has no family with an unspecified transport).
    #[error("a version 2 header with addresses needs a stream or datagram transport")]
    NoTransport,
    /// A TLV value, or the addresses and TLVs together, are over 65535 octets.
    #[error("over 65535 octets in a TLV or after the fixed part of a version 2 header")]
    TooLong,
    /// An AF_UNIX path is over 108 octets (section 2.2).
    #[error("an AF_UNIX address is over 108 octets")]
    UnixPathTooLong,
}

// ---------------------------------------------------------------------------------------
// The decoder
// ---------------------------------------------------------------------------------------

/// Settings of a [`ProxyDecoder`]; every one has a safe default.
///
/// ```
/// let mut config = smtp_proto::proxy::ProxyConfig::default();
/// config.max_v2_len = 512;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProxyConfig {
    /// A peer that gets a decoder must send a header. Default `true`, as section 2 asks ("the
    /// receiver ... MUST not try to guess whether the protocol header is present or not").
    ///
    /// With `false`, a trusted peer may also speak SMTP directly. Section 2 forbids guessing
    /// so that untrusted parties cannot spoof addresses; only peers in [`TrustedNetworks`]
    /// ever get a decoder ([`ProxyDecoder::for_peer`]), and they could send a header anyway,
    /// so this trusts them no further. The first octet decides, with no guessing beyond it:
    /// a header starts with `P` (v1) or CR (v2) and no SMTP command does, so any other first
    /// octet means "no header" ([`Decoded::header`] `None`, nothing consumed); after `P` or
    /// CR the input must be a header. A client that waits for the greeting sends nothing,
    /// so it is served only when [`timeout`](Self::timeout) runs out
    /// ([`ProxyDecoder::handle_timeout`]): keep that timeout short on such ports.
    pub required: bool,
    /// The largest version 2 length field accepted: the octets of addresses and TLVs after
    /// the fixed 16 (section 2.2). A larger one is refused as soon as the length is read,
    /// before anything is buffered for it, so a decoder never holds more than 16 plus this.
    /// Default 1024 (IPv6 addresses take 36, UNIX ones 216, HAProxy's TLVs a few hundred).
    pub max_v2_len: usize,
    /// How long an adapter waits for the whole header, from the accept. Default 5 s. The
    /// decoder reads no clock: the adapter runs this timer and calls
    /// [`ProxyDecoder::handle_timeout`].
    pub timeout: Duration,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            required: true,
            max_v2_len: 1024,
            timeout: Duration::from_secs(5),
        }
    }
}

/// A complete result of [`ProxyDecoder`]: the header, and where the SMTP stream starts.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct Decoded {
    /// The header. `None` only when [`ProxyConfig::required`] is off and the peer sent none.
    pub header: Option<ProxyHeader>,
    /// How many octets at the front of the *last* input were the header's. The rest of that
    /// input, `&input[consumed..]`, is what follows the header (SMTP, or TLS on an
    /// implicit-TLS port) and belongs to the next layer. (Earlier inputs, answered
    /// `Ok(None)`, were the header's entirely.)
    pub consumed: usize,
}

/// What a peer sent instead of a valid header, or a decoder used after it finished. Every
/// one means: close the connection without a reply (section 2.1: "abort the connection").
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The input starts with neither `PROXY ` (section 2.1) nor the version 2 signature
    /// (section 2.2). Reported at the first octet that differs from both.
    #[error("not a PROXY protocol header")]
    NotProxy,
    /// Version 1: no CRLF in the first 107 octets (section 2.1).
    #[error("PROXY v1 line without CRLF in its first 107 octets")]
    V1TooLong,
    /// Version 1: a bare CR or LF (section 2.1: "must not tolerate a single CR or LF").
    #[error("PROXY v1 line with a bare CR or LF")]
    V1LineEnding,
    /// Version 1: the protocol is not `TCP4`, `TCP6` or `UNKNOWN`.
    #[error("PROXY v1 line with an unknown protocol (not TCP4, TCP6 or UNKNOWN)")]
    V1Protocol,
    /// Version 1: not exactly four fields separated by single spaces after `TCP4`/`TCP6`.
    #[error("PROXY v1 line without exactly four fields separated by single spaces")]
    V1Syntax,
    /// Version 1: an address that is not of the line's family in its canonical text form
    /// (section 2.1: IPv4 as four decimal numbers without leading zeros).
    #[error("PROXY v1 line with an invalid address")]
    V1Address,
    /// Version 1: a port that is not a decimal in 0..=65535 without leading zeros.
    #[error("PROXY v1 line with an invalid port")]
    V1Port,
    /// Version 2: the version (high 4 bits of the 13th octet, shown) is not 2.
    #[error("PROXY v2 header with version/command octet {0:#04x}: the version is not 2")]
    V2Version(u8),
    /// Version 2: the command (low 4 bits of the 13th octet, shown) is neither `LOCAL` nor
    /// `PROXY` (section 2.2: "receivers must drop connections presenting unexpected values").
    #[error("PROXY v2 header with version/command octet {0:#04x}: unknown command")]
    V2Command(u8),
    /// Version 2 `PROXY`: the family/transport octet (shown) is none of `\x00`, `\x11`,
    /// `\x12`, `\x21`, `\x22`, `\x31`, `\x32` (section 2.2: "must be rejected").
    #[error("PROXY v2 header with unknown family/transport octet {0:#04x}")]
    V2Family(u8),
    /// Version 2: the length is over [`ProxyConfig::max_v2_len`].
    #[error("PROXY v2 header of {len} octets after the fixed 16, over the limit of {max}")]
    V2TooLong {
        /// The length field.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// Version 2 `PROXY`: the length is shorter than the family's addresses (12, 36, 216).
    #[error("PROXY v2 length {len} cannot hold the {need} octets of the addresses")]
    V2Length {
        /// The length field.
        len: usize,
        /// The addresses' size.
        need: usize,
    },
    /// Version 2: the octets after the addresses are not a sequence of whole TLVs.
    #[error("PROXY v2 header with a malformed TLV")]
    V2Tlv,
    /// Version 2: a [`tlv::CRC32C`] TLV that is not 4 octets, is repeated, or does not match
    /// the header (section 2.2.3: "the receiver MUST treat the TCP connection ... as invalid").
    #[error("PROXY v2 header with a bad CRC32c checksum")]
    V2Checksum,
    /// The connection closed before the header was complete (`received` octets of it).
    /// `received: 0` is typically a proxy's TCP health check.
    #[error("connection closed after {received} octets of a PROXY header")]
    Truncated {
        /// Octets received.
        received: usize,
    },
    /// The adapter's timer ([`ProxyConfig::timeout`]) ran out before the header was complete.
    #[error("no complete PROXY header in time ({received} octets received)")]
    Timeout {
        /// Octets received.
        received: usize,
    },
    /// Caller error: the decoder already returned a header; what follows is not its business.
    #[error("the PROXY header was already decoded")]
    Finished,
}

/// The sans-IO PROXY protocol decoder for one connection (sections 2.1 and 2.2).
///
/// - **Input:** [`decode`](Self::decode) with each chunk read from the connection, in order;
///   [`handle_eof`](Self::handle_eof) if the peer closes first,
///   [`handle_timeout`](Self::handle_timeout) if the adapter's timer
///   ([`timeout`](Self::timeout)) runs out first.
/// - **Output:** `decode` returns `Ok(None)` while the header is incomplete (the whole chunk
///   was taken), `Ok(Some(`[`Decoded`]`))` once it is complete, with the octets of the last
///   chunk it used, or an error as soon as the octets so far cannot begin a valid header
///   (octet by octet: `EHLO` is refused at `E`). Errors are final and repeat.
/// - **Memory:** at most 107 octets for version 1, 16 plus [`ProxyConfig::max_v2_len`] for
///   version 2 ([`buffered`](Self::buffered)); the header's TLVs share that buffer.
///
/// See the [module documentation](crate::proxy) for the adapter's steps and an example.
#[derive(Debug)]
pub struct ProxyDecoder {
    config: ProxyConfig,
    state: State,
    /// The header so far; never longer than the header itself.
    buf: Vec<u8>,
}

#[derive(Debug)]
enum State {
    /// A proper prefix of `PROXY ` or of the v2 signature (possibly empty).
    Detect,
    /// `buf` starts with `PROXY `.
    V1,
    /// `buf` starts with the v2 signature.
    V2,
    Done,
    Failed(ProxyError),
}

impl ProxyDecoder {
    /// A decoder for a connection whose peer is trusted to send a header.
    pub fn new(config: ProxyConfig) -> Self {
        ProxyDecoder {
            config,
            state: State::Detect,
            buf: Vec::new(),
        }
    }

    /// A decoder if `peer` (the connection's peer address) is in `trusted`, else `None`: the
    /// connection is then served as plain SMTP with its own addresses, and a header from it
    /// is never decoded (section 5: accept the header "only from a number of known sources").
    pub fn for_peer(config: ProxyConfig, trusted: &TrustedNetworks, peer: IpAddr) -> Option<Self> {
        trusted.contains(peer).then(|| ProxyDecoder::new(config))
    }

    /// The adapter's budget for the whole header, counted from the accept
    /// ([`ProxyConfig::timeout`]).
    pub fn timeout(&self) -> Duration {
        self.config.timeout
    }

    /// Octets held: the part of the header received so far.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Feeds the next octets read from the connection. See [`ProxyDecoder`] for the results.
    pub fn decode(&mut self, input: &[u8]) -> Result<Option<Decoded>, ProxyError> {
        match &self.state {
            State::Done => return Err(ProxyError::Finished),
            State::Failed(e) => return Err(e.clone()),
            State::Detect | State::V1 | State::V2 => {}
        }
        match self.step(input) {
            Ok(None) => Ok(None),
            Ok(Some(decoded)) => {
                self.state = State::Done;
                self.buf = Vec::new();
                Ok(Some(decoded))
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    /// The peer closed the connection. Before a complete header that is always an error:
    /// [`ProxyError::Truncated`] (or the error already reported, or
    /// [`ProxyError::Finished`] after a header).
    pub fn handle_eof(&mut self) -> ProxyError {
        match &self.state {
            State::Done => ProxyError::Finished,
            State::Failed(e) => e.clone(),
            State::Detect | State::V1 | State::V2 => {
                let received = self.buf.len();
                self.fail(ProxyError::Truncated { received })
            }
        }
    }

    /// The adapter's timer ([`timeout`](Self::timeout)) ran out. [`ProxyError::Timeout`],
    /// except when [`ProxyConfig::required`] is off and nothing arrived: then the peer is
    /// speaking SMTP directly and waits for the greeting (`Ok`, no header, nothing consumed).
    pub fn handle_timeout(&mut self) -> Result<Decoded, ProxyError> {
        match &self.state {
            State::Done => Err(ProxyError::Finished),
            State::Failed(e) => Err(e.clone()),
            State::Detect if !self.config.required && self.buf.is_empty() => {
                self.state = State::Done;
                Ok(Decoded {
                    header: None,
                    consumed: 0,
                })
            }
            State::Detect | State::V1 | State::V2 => {
                let received = self.buf.len();
                Err(self.fail(ProxyError::Timeout { received }))
            }
        }
    }

    fn fail(&mut self, e: ProxyError) -> ProxyError {
        self.state = State::Failed(e.clone());
        self.buf = Vec::new();
        e
    }

    fn step(&mut self, input: &[u8]) -> Result<Option<Decoded>, ProxyError> {
        let mut used = 0;
        if let State::Detect = self.state {
            if self.buf.is_empty() {
                match input.first() {
                    None => return Ok(None),
                    Some(b'P') => self.buf.reserve_exact(V1_MAX_LEN),
                    Some(b'\r') => self.buf.reserve_exact(V2_FIXED_LEN),
                    Some(_) if !self.config.required => {
                        return Ok(Some(Decoded {
                            header: None,
                            consumed: 0,
                        }))
                    }
                    Some(_) => return Err(ProxyError::NotProxy),
                }
            }
            // The first octet chose the signature; the rest must follow it octet by octet.
            let v1 = self.buf.first().or(input.first()) == Some(&b'P');
            let signature: &[u8] = if v1 { V1_PREFIX } else { &V2_SIGNATURE };
            for &octet in input {
                if signature.get(self.buf.len()) != Some(&octet) {
                    return Err(ProxyError::NotProxy);
                }
                self.buf.push(octet);
                used += 1;
                if self.buf.len() == signature.len() {
                    self.state = if v1 { State::V1 } else { State::V2 };
                    break;
                }
            }
        }
        let rest = &input[used..];
        let done = match self.state {
            State::V1 => self.step_v1(rest)?,
            State::V2 => self.step_v2(rest)?,
            State::Detect | State::Done | State::Failed(_) => None,
        };
        Ok(done.map(|(header, n)| Decoded {
            header: Some(header),
            consumed: used + n,
        }))
    }

    /// Takes octets up to the first LF, at most up to 107 in all (section 2.1).
    fn step_v1(&mut self, rest: &[u8]) -> Result<Option<(ProxyHeader, usize)>, ProxyError> {
        let room = V1_MAX_LEN.saturating_sub(self.buf.len());
        let take = &rest[..rest.len().min(room)];
        let take = match memchr::memchr(b'\n', take) {
            Some(lf) => &take[..=lf],
            None => take,
        };
        self.buf.extend_from_slice(take);
        match scan_v1(&self.buf[V1_PREFIX.len()..])? {
            Some(header) => Ok(Some((header, take.len()))),
            None if self.buf.len() >= V1_MAX_LEN => Err(ProxyError::V1TooLong),
            None => Ok(None),
        }
    }

    /// Takes the fixed 16 octets, checks them as they come, then exactly `len` more.
    fn step_v2(&mut self, rest: &[u8]) -> Result<Option<(ProxyHeader, usize)>, ProxyError> {
        let mut used = 0;
        if self.buf.len() < V2_FIXED_LEN {
            used = rest.len().min(V2_FIXED_LEN - self.buf.len());
            self.buf.extend_from_slice(&rest[..used]);
            if let Some(&ver_cmd) = self.buf.get(12) {
                if ver_cmd >> 4 != 2 {
                    return Err(ProxyError::V2Version(ver_cmd));
                }
                if ver_cmd & 0x0F > 1 {
                    return Err(ProxyError::V2Command(ver_cmd));
                }
            }
            let local = self.buf.get(12).is_some_and(|c| c & 0x0F == 0);
            if let Some(&fam) = self.buf.get(13) {
                // LOCAL: "discard the protocol block including the family which is ignored".
                if !local && address_len(fam).is_none() {
                    return Err(ProxyError::V2Family(fam));
                }
            }
            if self.buf.len() < V2_FIXED_LEN {
                return Ok(None);
            }
            let len = usize::from(u16::from_be_bytes([self.buf[14], self.buf[15]]));
            if len > self.config.max_v2_len {
                return Err(ProxyError::V2TooLong {
                    len,
                    max: self.config.max_v2_len,
                });
            }
            let need = if local {
                0
            } else {
                address_len(self.buf[13]).unwrap_or(0)
            };
            if len < need {
                return Err(ProxyError::V2Length { len, need });
            }
            self.buf.reserve_exact(len);
        }
        let total = V2_FIXED_LEN + usize::from(u16::from_be_bytes([self.buf[14], self.buf[15]]));
        let take = (total - self.buf.len()).min(rest.len() - used);
        self.buf.extend_from_slice(&rest[used..used + take]);
        used += take;
        if self.buf.len() < total {
            return Ok(None);
        }
        let header = parse_v2(Bytes::from(std::mem::take(&mut self.buf)))?;
        Ok(Some((header, used)))
    }
}

/// The size of the address block of a valid family/transport octet (section 2.2), or `None`
/// for an invalid one.
fn address_len(fam: u8) -> Option<usize> {
    match fam {
        0x00 => Some(0),
        0x11 | 0x12 => Some(12),
        0x21 | 0x22 => Some(36),
        0x31 | 0x32 => Some(2 * UNIX_ADDR_LEN),
        _ => None,
    }
}

/// Scans a version 1 line after `PROXY ` from left to right (section 2.1). `Ok(None)`: a
/// valid beginning. An error is found at the first octet that cannot be part of a valid line,
/// so the same octets give the same error however they were split into reads. `line` holds
/// no LF except, possibly, as its last octet.
fn scan_v1(line: &[u8]) -> Result<Option<ProxyHeader>, ProxyError> {
    const PROTOCOLS: [&[u8]; 3] = [b"TCP4", b"TCP6", b"UNKNOWN"];
    let end = line.iter().position(|&b| matches!(b, b' ' | b'\r' | b'\n'));
    let protocol = &line[..end.unwrap_or(line.len())];
    if !PROTOCOLS.iter().any(|p| p.starts_with(protocol)) {
        return Err(ProxyError::V1Protocol);
    }
    let Some(end) = end else {
        return Ok(None);
    };
    if !PROTOCOLS.contains(&protocol) {
        return Err(ProxyError::V1Protocol);
    }
    let rest = &line[end..];
    if protocol == b"UNKNOWN" {
        // "the receiver must ignore anything presented before the CRLF is found".
        return match rest.last() {
            Some(b'\n') if rest.ends_with(b"\r\n") => Ok(Some(ProxyHeader::v1_unknown())),
            Some(b'\n') => Err(ProxyError::V1LineEnding),
            _ => Ok(None),
        };
    }
    let ipv6 = protocol == b"TCP6";
    let (mut ips, mut ports) = ([None; 2], [None; 2]);
    let mut at = 0;
    for i in 0..4 {
        match rest.get(at) {
            None => return Ok(None),
            Some(b' ') => at += 1,
            Some(_) => return Err(ProxyError::V1Syntax), // CR or LF: too few fields
        }
        let start = at;
        let bad = if i < 2 {
            ProxyError::V1Address
        } else {
            ProxyError::V1Port
        };
        while let Some(&b) = rest.get(at) {
            if matches!(b, b' ' | b'\r' | b'\n') {
                break;
            }
            let ok = match i {
                0 | 1 if ipv6 => b.is_ascii_hexdigit() || b == b':' || b == b'.',
                0 | 1 => b.is_ascii_digit() || b == b'.',
                // Ports: at most 5 digits, no leading zero.
                _ => b.is_ascii_digit() && at - start < 5 && !(at > start && rest[start] == b'0'),
            };
            if !ok {
                return Err(bad);
            }
            at += 1;
        }
        if at == rest.len() {
            return Ok(None); // the field may go on
        }
        if at == start {
            return Err(ProxyError::V1Syntax); // two spaces, or a space before CR
        }
        let field = &rest[start..at];
        let valid = match i {
            0 | 1 => parse_ip(field, ipv6).map(|ip| ips[i] = Some(ip)),
            _ => parse_port(field).map(|port| ports[i - 2] = Some(port)),
        };
        valid.ok_or(bad)?;
    }
    match &rest[at..] {
        [] | [b'\r'] => return Ok(None),
        [b'\r', b'\n', ..] => {}
        [b' ', ..] => return Err(ProxyError::V1Syntax), // a fifth field or a trailing space
        _ => return Err(ProxyError::V1LineEnding),
    }
    match (ips, ports) {
        ([Some(src), Some(dst)], [Some(sport), Some(dport)]) => Ok(Some(ProxyHeader::v1(
            SocketAddr::new(src, sport),
            SocketAddr::new(dst, dport),
        ))),
        _ => Err(ProxyError::V1Syntax), // not reached: the loop filled every field
    }
}

/// An address of the line's family. IPv4: std's parser is strict (four decimal octets, no
/// leading zeros), as section 2.1 asks. IPv6: std's parser, which like `inet_pton` also
/// takes a dotted IPv4 tail (`::ffff:192.0.2.1`).
fn parse_ip(field: &[u8], ipv6: bool) -> Option<IpAddr> {
    let text = std::str::from_utf8(field).ok()?;
    if ipv6 {
        text.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
    } else {
        text.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
    }
}

/// A port: decimal, 0..=65535, no leading zeros (section 2.1).
fn parse_port(field: &[u8]) -> Option<u16> {
    if field.is_empty() || field.len() > 5 || (field.len() > 1 && field[0] == b'0') {
        return None;
    }
    if !field.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(field).ok()?.parse().ok()
}

/// Parses a complete version 2 header whose fixed part was checked (section 2.2).
fn parse_v2(header: Bytes) -> Result<ProxyHeader, ProxyError> {
    let (ver_cmd, fam) = (header[12], header[13]);
    let local = ProxyHeader {
        version: 2,
        command: Command::Local,
        transport: Transport::Unspecified,
        addresses: Addresses::Unspecified,
        tlvs: Bytes::new(),
    };
    if ver_cmd & 0x0F == 0 {
        return Ok(local);
    }
    if fam == 0x00 {
        // AF_UNSPEC: "The receiver should ignore address information".
        return Ok(ProxyHeader {
            command: Command::Proxy,
            ..local
        });
    }
    let block = &header[V2_FIXED_LEN..];
    let port = |at: usize| u16::from_be_bytes([block[at], block[at + 1]]);
    let (addresses, len) = match fam >> 4 {
        1 => {
            let ip =
                |at: usize| Ipv4Addr::new(block[at], block[at + 1], block[at + 2], block[at + 3]);
            let source = SocketAddr::new(IpAddr::V4(ip(0)), port(8));
            let destination = SocketAddr::new(IpAddr::V4(ip(4)), port(10));
            (
                Addresses::Inet {
                    source,
                    destination,
                },
                12,
            )
        }
        2 => {
            let ip = |at: usize| {
                let mut octets = [0; 16];
                octets.copy_from_slice(&block[at..at + 16]);
                Ipv6Addr::from(octets)
            };
            let source = SocketAddr::new(IpAddr::V6(ip(0)), port(32));
            let destination = SocketAddr::new(IpAddr::V6(ip(16)), port(34));
            (
                Addresses::Inet {
                    source,
                    destination,
                },
                36,
            )
        }
        _ => {
            let path = |at: usize| {
                let raw = &block[at..at + UNIX_ADDR_LEN];
                let end = if raw[0] == 0 {
                    raw.iter().rposition(|&b| b != 0).map_or(1, |i| i + 1)
                } else {
                    raw.iter().position(|&b| b == 0).unwrap_or(UNIX_ADDR_LEN)
                };
                let start = V2_FIXED_LEN + at;
                header.slice(start..start + end)
            };
            (
                Addresses::Unix {
                    source: path(0),
                    destination: path(UNIX_ADDR_LEN),
                },
                2 * UNIX_ADDR_LEN,
            )
        }
    };
    let transport = if fam & 0x0F == 1 {
        Transport::Stream
    } else {
        Transport::Datagram
    };
    let tlv_start = V2_FIXED_LEN + len;
    let tlvs = header.slice(tlv_start..);
    check_tlvs(&tlvs)?;
    if let Some(at) = crc_field(&tlvs) {
        let at = tlv_start + at;
        let sent = u32::from_be_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]]);
        let crc = !crc32c_update(
            crc32c_update(crc32c_update(!0, &header[..at]), &[0; 4]),
            &header[at + 4..],
        );
        if crc != sent {
            return Err(ProxyError::V2Checksum);
        }
    }
    Ok(ProxyHeader {
        version: 2,
        command: Command::Proxy,
        transport,
        addresses,
        tlvs,
    })
}

/// The TLVs must tile the area exactly; a CRC32C TLV must be 4 octets and appear once.
fn check_tlvs(area: &[u8]) -> Result<(), ProxyError> {
    let (mut at, mut crcs) = (0, 0);
    while at < area.len() {
        let Some(&[kind, hi, lo]) = area.get(at..at + 3) else {
            return Err(ProxyError::V2Tlv);
        };
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        if area.len() - at - 3 < len {
            return Err(ProxyError::V2Tlv);
        }
        if kind == tlv::CRC32C {
            crcs += 1;
            if len != 4 || crcs > 1 {
                return Err(ProxyError::V2Checksum);
            }
        }
        at += 3 + len;
    }
    Ok(())
}

/// The offset of the first 4-octet CRC32C TLV's value in a TLV area.
fn crc_field(area: &[u8]) -> Option<usize> {
    let mut at = 0;
    for t in (Tlvs { rest: area }) {
        if t.kind == tlv::CRC32C && t.value.len() == 4 {
            return Some(at + 3);
        }
        at += 3 + t.value.len();
    }
    None
}

/// CRC32c (Castagnoli, RFC 4960 appendix B; reflected polynomial `0x82F63B78`).
fn crc32c(data: &[u8]) -> u32 {
    !crc32c_update(!0, data)
}

fn crc32c_update(mut crc: u32, data: &[u8]) -> u32 {
    for &b in data {
        crc = CRC32C_TABLE[usize::from((crc as u8) ^ b)] ^ (crc >> 8);
    }
    crc
}

const CRC32C_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 == 1 {
                (c >> 1) ^ 0x82F6_3B78
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

// ---------------------------------------------------------------------------------------
// Trust
// ---------------------------------------------------------------------------------------

/// An IPv4 or IPv6 network in CIDR notation: `10.0.0.0/8`, `2001:db8::/32`, or a single
/// address (`192.0.2.1` is `/32`, `::1` is `/128`).
///
/// **IPv4-mapped IPv6 addresses** (`::ffff:a.b.c.d`, what a dual-stack socket reports for an
/// IPv4 peer) are the IPv4 host they map: `10.0.0.0/8` contains `::ffff:10.1.2.3`, and an
/// IPv6 network contains an IPv4 address if it contains its mapped form (`::ffff:0:0/96`
/// contains every IPv4 address, and so does `::/0`). So trust does not depend on how the
/// listening socket was bound. Other IPv6 forms of IPv4 (the deprecated `::a.b.c.d`, NAT64)
/// are not mapped; `::1` is not `127.0.0.1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// The network `addr/prefix`. Fails if the prefix is longer than the address (32 or
    /// 128 bits) or `addr` has bits set past the prefix (`10.0.0.1/8` is a typo for either
    /// `10.0.0.0/8` or `10.0.0.1/32`, so it is refused rather than guessed).
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Self, CidrError> {
        let net = Cidr { addr, prefix };
        let bits = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > bits {
            return Err(CidrError::Prefix(net.to_string()));
        }
        if net.masked(addr) != Some(addr) {
            return Err(CidrError::HostBits(net.to_string()));
        }
        Ok(net)
    }

    /// The network's address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn prefix_len(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` is in the network (see the type's documentation for IPv4-mapped IPv6).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => return false,
            },
            (IpAddr::V6(_), IpAddr::V4(v4)) => IpAddr::V6(v4.to_ipv6_mapped()),
            _ => ip,
        };
        self.masked(ip) == Some(self.addr)
    }

    /// `ip` with the bits past the prefix cleared, if it is of the network's family.
    fn masked(&self, ip: IpAddr) -> Option<IpAddr> {
        match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                Some(IpAddr::V4(Ipv4Addr::from(u32::from(ip) & mask)))
            }
            (IpAddr::V6(_), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                Some(IpAddr::V6(Ipv6Addr::from(u128::from(ip) & mask)))
            }
            _ => None,
        }
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    /// `address/prefix` or a bare address (a host: `/32` or `/128`).
    fn from_str(s: &str) -> Result<Self, CidrError> {
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| CidrError::Address(s.to_string()))?;
        let prefix = match prefix {
            None => {
                if addr.is_ipv4() {
                    32
                } else {
                    128
                }
            }
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse().map_err(|_| CidrError::Prefix(s.to_string()))?
            }
            Some(_) => return Err(CidrError::Prefix(s.to_string())),
        };
        Cidr::new(addr, prefix).map_err(|e| match e {
            CidrError::Prefix(_) => CidrError::Prefix(s.to_string()),
            _ => CidrError::HostBits(s.to_string()),
        })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// A network that could not be parsed or built ([`Cidr`], [`TrustedNetworks`]); each
/// variant holds the offending text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CidrError {
    /// The part before `/` is not an IPv4 or IPv6 address.
    #[error("{0:?} is not an IP address or network")]
    Address(String),
    /// The prefix length is not a number of at most 32 (IPv4) or 128 (IPv6).
    #[error("{0:?} has an invalid prefix length")]
    Prefix(String),
    /// The address has bits set past the prefix length.
    #[error("{0:?} has host bits set past the prefix length")]
    HostBits(String),
}

/// The networks whose peers are trusted to send a PROXY header: the proxies' addresses
/// (section 5: accept the header "only from a number of known sources"). Empty by default:
/// nobody is trusted.
///
/// ```
/// use smtp_proto::proxy::TrustedNetworks;
/// let trusted: TrustedNetworks = "10.0.0.0/8, 192.168.1.5 fd00::/8".parse().unwrap();
/// assert!(trusted.contains("10.200.0.1".parse().unwrap()));
/// assert!(trusted.contains("::ffff:192.168.1.5".parse().unwrap())); // IPv4-mapped
/// assert!(!trusted.contains("192.168.1.6".parse().unwrap()));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedNetworks {
    networks: Vec<Cidr>,
}

impl TrustedNetworks {
    /// An empty list: no peer is trusted.
    pub fn new() -> Self {
        TrustedNetworks::default()
    }

    /// Adds a network.
    pub fn push(&mut self, network: Cidr) {
        self.networks.push(network);
    }

    /// Whether `peer` is in one of the networks ([`Cidr::contains`]).
    pub fn contains(&self, peer: IpAddr) -> bool {
        self.networks.iter().any(|n| n.contains(peer))
    }

    /// The networks, in the order added.
    pub fn networks(&self) -> &[Cidr] {
        &self.networks
    }
}

impl FromStr for TrustedNetworks {
    type Err = CidrError;

    /// Networks separated by commas and/or white space, each as [`Cidr`] parses it. The
    /// empty string is the empty list.
    fn from_str(s: &str) -> Result<Self, CidrError> {
        s.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|item| !item.is_empty())
            .map(str::parse)
            .collect()
    }
}

impl FromIterator<Cidr> for TrustedNetworks {
    fn from_iter<I: IntoIterator<Item = Cidr>>(iter: I) -> Self {
        TrustedNetworks {
            networks: iter.into_iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_check_values() {
        // RFC 3720 appendix B.4 and the common check value.
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(&[0; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xFF; 32]), 0x62A8_AB43);
        let ascending: Vec<u8> = (0..32).collect();
        assert_eq!(crc32c(&ascending), 0x46DD_794E);
    }

    #[test]
    fn ports() {
        assert_eq!(parse_port(b"0"), Some(0));
        assert_eq!(parse_port(b"65535"), Some(65535));
        assert_eq!(parse_port(b"65536"), None);
        assert_eq!(parse_port(b"025"), None);
        assert_eq!(parse_port(b"00"), None);
        assert_eq!(parse_port(b""), None);
        assert_eq!(parse_port(b"+25"), None);
        assert_eq!(parse_port(b"100000"), None);
    }

    #[test]
    fn address_lengths() {
        for fam in 0..=255u8 {
            let valid = [0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32].contains(&fam);
            assert_eq!(address_len(fam).is_some(), valid, "{fam:#04x}");
        }
    }

    #[test]
    fn masks_at_the_edges() {
        let any4 = Cidr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0).unwrap();
        assert!(any4.contains("255.255.255.255".parse().unwrap()));
        let any6 = Cidr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0).unwrap();
        assert!(any6.contains("ffff::1".parse().unwrap()));
        assert_eq!(
            Cidr::new(IpAddr::V4(Ipv4Addr::BROADCAST), 32)
                .unwrap()
                .masked(IpAddr::V4(Ipv4Addr::BROADCAST)),
            Some(IpAddr::V4(Ipv4Addr::BROADCAST))
        );
    }
}

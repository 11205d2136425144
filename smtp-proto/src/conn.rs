//! What an adapter knows about a connection and tells the application: [`ConnInfo`],
//! [`TlsInfo`], and the [`Envelope`] of a message. Plain data, shared by every adapter so
//! that a handler's logic does not depend on the transport.

use crate::address::{ForwardPath, ReversePath};
use crate::proxy::ProxyHeader;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

/// The negotiated TLS parameters of a connection, as the adapter's TLS library names them.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsInfo {
    /// The protocol version, e.g. `TLSv1_3`.
    pub version: String,
    /// The cipher suite, e.g. `TLS13_AES_256_GCM_SHA384`.
    pub cipher: String,
    /// The server name the client asked for (SNI), if any.
    pub server_name: Option<String>,
}

impl TlsInfo {
    /// The parameters of a finished handshake.
    pub fn new(
        version: impl Into<String>,
        cipher: impl Into<String>,
        server_name: Option<String>,
    ) -> TlsInfo {
        TlsInfo {
            version: version.into(),
            cipher: cipher.into(),
            server_name,
        }
    }
}

impl fmt::Display for TlsInfo {
    /// `TLSv1_3 TLS13_AES_256_GCM_SHA384`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.version, self.cipher)
    }
}

/// What the server knows about a connection when it opens.
///
/// ```
/// use smtp_proto::conn::ConnInfo;
/// use smtp_proto::proxy::{ProxyConfig, ProxyDecoder, TrustedNetworks};
/// let socket_peer = "10.0.0.1:40000".parse().unwrap();
/// let mut info = ConnInfo::new(socket_peer, "10.0.0.2:25".parse().unwrap());
/// let trusted: TrustedNetworks = "10.0.0.0/8".parse().unwrap();
/// let mut decoder = ProxyDecoder::for_peer(ProxyConfig::default(), &trusted, socket_peer.ip()).unwrap();
/// let decoded = decoder.decode(b"PROXY TCP4 192.0.2.7 10.0.0.2 51000 25\r\n").unwrap().unwrap();
/// info.apply_proxy(decoded.header.as_ref());
/// assert_eq!(info.peer, "192.0.2.7:51000".parse().unwrap());
/// assert_eq!(info.proxy, Some(socket_peer));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnInfo {
    /// The client's address: the socket's peer, or with the PROXY protocol the source
    /// address in the proxy's header. Unspecified (`0.0.0.0:0`) on a Unix-domain socket.
    pub peer: SocketAddr,
    /// The local address the client connected to (with the PROXY protocol, the header's
    /// destination address).
    pub local: SocketAddr,
    /// The proxy's own address (the socket's peer), when a PROXY header gave the client's.
    pub proxy: Option<SocketAddr>,
    /// The socket path, for a connection on a Unix-domain listener.
    pub unix: Option<PathBuf>,
    /// Set for an implicit-TLS connection (the handshake is done before the application
    /// hears of the connection). After STARTTLS the adapter tells the application.
    pub tls: Option<TlsInfo>,
}

impl ConnInfo {
    /// A TCP connection between these addresses.
    pub fn new(peer: SocketAddr, local: SocketAddr) -> ConnInfo {
        ConnInfo {
            peer,
            local,
            proxy: None,
            unix: None,
            tls: None,
        }
    }

    /// A connection on the Unix-domain socket at `path`.
    pub fn unix(path: PathBuf) -> ConnInfo {
        let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
        ConnInfo {
            unix: Some(path),
            ..ConnInfo::new(unspecified, unspecified)
        }
    }

    /// Takes the addresses of a PROXY header ([`crate::proxy`]): the client's address
    /// replaces the socket's peer (which is kept as [`proxy`](Self::proxy)), the
    /// destination replaces the local address. A header without addresses (`LOCAL`,
    /// `UNKNOWN`, a health check) or none at all changes nothing.
    pub fn apply_proxy(&mut self, header: Option<&ProxyHeader>) {
        let Some(header) = header else { return };
        if let Some(client) = header.source() {
            self.proxy = Some(self.peer);
            self.peer = client;
        }
        if let Some(local) = header.destination() {
            self.local = local;
        }
    }
}

/// The envelope of one message (RFC 5321 section 2.3.1), for handlers that want it whole:
/// the adapters' one-function `serve` hands it to the application with the body.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Envelope {
    /// The client's address.
    pub peer: SocketAddr,
    /// The name the client gave in HELO/EHLO.
    pub helo: String,
    /// The reverse-path of MAIL FROM.
    pub from: ReversePath,
    /// The accepted recipients, in order.
    pub to: Vec<ForwardPath>,
    /// The TLS parameters, if the connection is under TLS.
    pub tls: Option<TlsInfo>,
}

impl Envelope {
    /// An empty envelope for a connection: no HELO, a null reverse-path, no recipients.
    pub fn new(info: &ConnInfo) -> Envelope {
        Envelope {
            peer: info.peer,
            helo: String::new(),
            from: ReversePath::Null,
            to: Vec::new(),
            tls: info.tls.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::{ProxyConfig, ProxyDecoder, TrustedNetworks};

    fn header(line: &[u8]) -> Option<ProxyHeader> {
        let trusted: TrustedNetworks = "127.0.0.1/32".parse().unwrap();
        let mut d = ProxyDecoder::for_peer(ProxyConfig::default(), &trusted, [127, 0, 0, 1].into())
            .unwrap();
        d.decode(line).unwrap().unwrap().header
    }

    #[test]
    fn proxy_addresses_replace_the_socket_ones_only_when_given() {
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:25".parse().unwrap();
        let mut info = ConnInfo::new(peer, local);
        info.apply_proxy(header(b"PROXY UNKNOWN\r\n").as_ref());
        assert_eq!(info, ConnInfo::new(peer, local));
        info.apply_proxy(None);
        assert_eq!(info, ConnInfo::new(peer, local));
        info.apply_proxy(header(b"PROXY TCP6 2001:db8::1 2001:db8::2 4000 587\r\n").as_ref());
        assert_eq!(info.peer, "[2001:db8::1]:4000".parse().unwrap());
        assert_eq!(info.local, "[2001:db8::2]:587".parse().unwrap());
        assert_eq!(info.proxy, Some(peer));
        let unix = ConnInfo::unix("/run/lmtp".into());
        assert_eq!(unix.peer.port(), 0);
        assert_eq!(Envelope::new(&unix).from, ReversePath::Null);
    }
}

//! [`Server`] and its [`Builder`]: listeners, limits, TLS, the connection cap and shutdown.

use crate::conn::{self, Accepted, Shared, Stream};
use crate::{ConnInfo, Handler};
use smtp_proto::proxy::{ProxyConfig, TrustedNetworks};
use smtp_proto::{Config, Timeouts, TlsPolicy};
use std::future::{pending, Future};
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
#[cfg(unix)]
use tokio::net::UnixListener;
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// Stands in for `tokio::net::UnixListener` where there is none: never constructed.
#[cfg(not(unix))]
#[derive(Debug)]
enum UnixListener {}
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Where to listen: an address to bind, or a listener the caller made.
#[derive(Debug)]
enum Listen {
    Addr(SocketAddr),
    Listener(TcpListener),
}

impl Listen {
    async fn open(self) -> io::Result<Listener> {
        match self {
            Listen::Addr(addr) => {
                // As `TcpListener::bind` does (mio), plus TCP_NODELAY for the connections.
                let socket = match addr {
                    SocketAddr::V4(_) => TcpSocket::new_v4()?,
                    SocketAddr::V6(_) => TcpSocket::new_v6()?,
                };
                #[cfg(not(windows))]
                socket.set_reuseaddr(true)?;
                let nodelay_inherited =
                    cfg!(target_os = "linux") && socket.set_nodelay(true).is_ok();
                socket.bind(addr)?;
                let tcp = socket.listen(128)?;
                let bound = tcp.local_addr()?;
                // Bound by us to one address (no `IP_TRANSPARENT`): every connection's local
                // address is the listener's. A wildcard's depends on the connection.
                let one = match bound {
                    SocketAddr::V4(v4) => !v4.ip().is_unspecified(),
                    SocketAddr::V6(v6) => !v6.ip().is_unspecified() && v6.scope_id() == 0,
                };
                Ok(Listener {
                    tcp,
                    local: one.then_some(bound),
                    nodelay_inherited,
                })
            }
            Listen::Listener(tcp) => Ok(Listener {
                tcp,
                local: None,
                nodelay_inherited: false,
            }),
        }
    }
}

/// A TCP listener, and what the sockets it accepts get from it: two system calls per
/// connection fewer (`getsockname`, `setsockopt`) when it was bound here.
#[derive(Debug)]
struct Listener {
    tcp: TcpListener,
    /// The local address of every connection, when the listener was bound here to one
    /// address; `None`: ask each socket.
    local: Option<SocketAddr>,
    /// Accepted sockets inherit TCP_NODELAY from the listener (Linux), which has it.
    nodelay_inherited: bool,
}

/// Configures a [`Server`]. Start from [`Server::builder`].
#[derive(Debug)]
#[must_use]
pub struct Builder {
    config: Config,
    plain: Option<Listen>,
    implicit: Option<Listen>,
    unix: Option<UnixListener>,
    tls: Option<Arc<rustls::ServerConfig>>,
    require_tls: bool,
    max_connections: usize,
    shutdown_timeout: Duration,
    proxy: Option<(TrustedNetworks, ProxyConfig)>,
}

impl Builder {
    /// Also serve on a Unix-domain socket you bound yourself (`tokio::net::UnixListener`):
    /// the usual transport of LMTP ([`Protocol::Lmtp`](smtp_proto::Protocol) in
    /// [`config`](Self::config)) between an MTA and a mail store on one host. The same
    /// handler and configuration serve it; [`ConnInfo::unix`](crate::ConnInfo) names the
    /// socket and the peer address is unspecified. Neither implicit TLS nor the PROXY
    /// protocol applies to it (STARTTLS is offered as on the TCP listener).
    #[cfg(unix)]
    pub fn unix_listener(mut self, listener: UnixListener) -> Builder {
        self.unix = Some(listener);
        self
    }

    /// Reads the PROXY protocol (HAProxy's `proxy-protocol.txt`, versions 1 and 2) from the
    /// peers in `trusted` (the proxies' networks), on the plain and the implicit-TLS
    /// listeners: before the greeting (and before the TLS handshake on the implicit-TLS
    /// port), within [`ProxyConfig::timeout`] for the whole header. The header's source
    /// address becomes [`ConnInfo::peer`](crate::ConnInfo) and the proxy's own address
    /// [`ConnInfo::proxy`](crate::ConnInfo). With [`ProxyConfig::required`] (the default) a
    /// trusted peer must send a header; with it off it may also speak SMTP directly. A
    /// trusted peer that sends a malformed, oversized or truncated header, or none in time
    /// when one is required, is disconnected without a reply.
    ///
    /// Peers outside `trusted` are served as plain SMTP with their own address: a header
    /// they send is never honoured (it reaches the session as an unknown command). To serve
    /// proxies only, keep other peers away from the port (firewall, or bind it to the
    /// proxies' network).
    pub fn proxy_protocol(mut self, trusted: TrustedNetworks, config: ProxyConfig) -> Builder {
        self.proxy = Some((trusted, config));
        self
    }

    /// Listen for SMTP (with STARTTLS when [`tls`](Self::tls) is set) on `addr`.
    pub fn bind(mut self, addr: SocketAddr) -> Builder {
        self.plain = Some(Listen::Addr(addr));
        self
    }

    /// Serve SMTP on a listener you bound yourself.
    pub fn listener(mut self, listener: TcpListener) -> Builder {
        self.plain = Some(Listen::Listener(listener));
        self
    }

    /// Also listen for implicit TLS on `addr` (port 465 style, RFC 8314): the TLS handshake
    /// comes first, then SMTP without STARTTLS. Needs [`tls`](Self::tls).
    pub fn implicit_tls_bind(mut self, addr: SocketAddr) -> Builder {
        self.implicit = Some(Listen::Addr(addr));
        self
    }

    /// Serve implicit TLS on a listener you bound yourself. Needs [`tls`](Self::tls).
    pub fn implicit_tls_listener(mut self, listener: TcpListener) -> Builder {
        self.implicit = Some(Listen::Listener(listener));
        self
    }

    /// The session configuration: host name, every limit, extensions and timeouts (RFC 5321
    /// 4.5.3.2, per kind). Its [`tls`](Config::tls) policy is set by the builder from
    /// [`tls`](Self::tls) and [`require_tls`](Self::require_tls). Default: [`Config::default`].
    /// It replaces the whole configuration, including what the setters below set before.
    pub fn config(mut self, config: Config) -> Builder {
        self.config = config;
        self
    }

    /// The server's name in the greeting and replies. Default `localhost`.
    pub fn hostname(mut self, hostname: impl Into<String>) -> Builder {
        self.config.hostname = hostname.into().into();
        self
    }

    /// The largest message in octets (advertised as SIZE); 0 for no limit. Default 25 MiB.
    pub fn max_message_size(mut self, octets: u64) -> Builder {
        self.config.max_message_size = octets;
        self
    }

    /// Recipients per message. Default 100.
    pub fn max_recipients(mut self, n: usize) -> Builder {
        self.config.max_recipients = n;
        self
    }

    /// The timers (RFC 5321 section 4.5.3.2): per command, per data block, TLS handshake,
    /// greeting delay. Writes to a client that does not read time out after the command
    /// timeout too.
    pub fn timeouts(mut self, timeouts: Timeouts) -> Builder {
        self.config.timeouts = timeouts;
        self
    }

    /// TLS: offer STARTTLS with this configuration, and use it for the implicit-TLS listener.
    /// [`tls::load_pem`](crate::tls::load_pem) makes one from PEM files.
    pub fn tls(mut self, config: Arc<rustls::ServerConfig>) -> Builder {
        self.tls = Some(config);
        self
    }

    /// Refuse mail on plain-text connections until STARTTLS: every command but NOOP, EHLO,
    /// STARTTLS and QUIT is answered `530 5.7.0` (RFC 3207 section 4). Needs [`tls`](Self::tls).
    pub fn require_tls(mut self, required: bool) -> Builder {
        self.require_tls = required;
        self
    }

    /// Connections served at once; the ones beyond are answered `421 4.3.2` and closed.
    /// Default 1000.
    pub fn max_connections(mut self, n: usize) -> Builder {
        self.max_connections = n;
        self
    }

    /// How long graceful shutdown lets transactions in flight finish before the connections
    /// are closed with `421 4.3.0`. Default 30 seconds.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Builder {
        self.shutdown_timeout = timeout;
        self
    }

    /// Binds the listeners and checks the configuration.
    pub async fn build(self) -> io::Result<Server> {
        let invalid = |msg: &str| Err(io::Error::new(io::ErrorKind::InvalidInput, msg.to_owned()));
        if self.plain.is_none() && self.implicit.is_none() && self.unix.is_none() {
            return invalid("no address or listener to serve on");
        }
        if self.tls.is_none() && (self.require_tls || self.implicit.is_some()) {
            return invalid("require_tls and implicit TLS need a TLS configuration");
        }
        let mut config = self.config;
        config.tls = match (&self.tls, self.require_tls) {
            (None, _) => TlsPolicy::Disabled,
            (Some(_), false) => TlsPolicy::Optional,
            (Some(_), true) => TlsPolicy::Required,
        };
        let shared = Arc::new(Shared {
            proxy: self.proxy,
            config: Arc::new(config),
            tls: self.tls,
        });
        let plain = match self.plain {
            Some(listen) => Some(listen.open().await?),
            None => None,
        };
        let implicit = match self.implicit {
            Some(listen) => Some(listen.open().await?),
            None => None,
        };
        Ok(Server {
            shared,
            plain,
            implicit,
            unix: self.unix,
            max_connections: self.max_connections,
            shutdown_timeout: self.shutdown_timeout,
        })
    }
}

/// An SMTP server: listeners plus everything the connections share.
///
/// ```no_run
/// use smtp_tokio::{Server, Handler};
/// use std::time::Duration;
///
/// #[derive(Clone)]
/// struct AcceptAll;
/// impl Handler for AcceptAll {}
///
/// # #[tokio::main]
/// # async fn main() -> std::io::Result<()> {
/// let server = Server::builder()
///     .bind("127.0.0.1:2525".parse().unwrap())
///     .hostname("mx.example.com")
///     .max_message_size(10 << 20)
///     .tls(smtp_tokio::tls::load_pem("cert.pem", "key.pem")?)
///     .shutdown_timeout(Duration::from_secs(10))
///     .build()
///     .await?;
/// server
///     .serve_with_shutdown(AcceptAll, async { tokio::signal::ctrl_c().await.unwrap() })
///     .await
/// # }
/// ```
#[derive(Debug)]
pub struct Server {
    shared: Arc<Shared>,
    plain: Option<Listener>,
    implicit: Option<Listener>,
    unix: Option<UnixListener>,
    max_connections: usize,
    shutdown_timeout: Duration,
}

impl Server {
    /// A builder with the defaults: no listener yet, [`Config::default`], no TLS, 1000
    /// connections, 30 seconds of graceful shutdown.
    pub fn builder() -> Builder {
        Builder {
            config: Config::default(),
            plain: None,
            implicit: None,
            unix: None,
            tls: None,
            require_tls: false,
            max_connections: 1000,
            shutdown_timeout: Duration::from_secs(30),
            proxy: None,
        }
    }

    /// The address of the SMTP listener.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.plain.as_ref().and_then(|l| l.tcp.local_addr().ok())
    }

    /// The address of the implicit-TLS listener.
    pub fn implicit_tls_local_addr(&self) -> Option<SocketAddr> {
        self.implicit.as_ref().and_then(|l| l.tcp.local_addr().ok())
    }

    /// Serves connections until the process ends, each with its own clone of `handler`.
    pub async fn serve<H: Handler + Clone>(self, handler: H) -> io::Result<()> {
        self.serve_with_shutdown(handler, pending()).await
    }

    /// Serves connections until `signal` completes, then shuts down gracefully: stops
    /// accepting, closes idle connections with `421 4.3.0`, lets transactions in flight finish
    /// for up to the [`shutdown_timeout`](Builder::shutdown_timeout), then closes the rest
    /// with `421 4.3.0`. Returns when every connection is done.
    pub async fn serve_with_shutdown<H, S>(self, handler: H, signal: S) -> io::Result<()>
    where
        H: Handler + Clone,
        S: Future<Output = ()>,
    {
        let Server {
            shared,
            plain,
            implicit,
            unix,
            max_connections,
            shutdown_timeout,
        } = self;
        let permits = Arc::new(Semaphore::new(max_connections));
        let (stop, stopping) = watch::channel(None);
        let mut connections = JoinSet::new();
        let mut signal = std::pin::pin!(signal);
        loop {
            // The connections that ended are reaped here, between accepts, not waited for: a
            // wait would wake this task (often on another thread) at the end of every one.
            reap(&mut connections);
            let accepted = tokio::select! {
                () = &mut signal => break,
                r = accept(plain.as_ref(), false) => r,
                r = accept(implicit.as_ref(), true) => r,
                r = accept_unix(unix.as_ref()) => r,
            };
            let accepted = match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let permit = Arc::clone(&permits).try_acquire_owned().ok();
            let handler = permit.as_ref().map(|_| handler.clone());
            let shared = Arc::clone(&shared);
            let stopping = stopping.clone();
            // Boxed: the connection's future is large (see `conn`), and spawning moves it
            // several times before it lands in its task; a box moves as a pointer.
            connections.spawn(Box::pin(async move {
                conn::serve(shared, accepted, handler, stopping).await;
                drop(permit);
            }));
        }
        drop((plain, implicit, unix));
        // Counted after the ended ones are reaped: the connections still open.
        reap(&mut connections);
        tracing::info!(connections = connections.len(), "shutting down");
        let _ = stop.send(Some(Instant::now() + shutdown_timeout));
        while let Some(done) = connections.join_next().await {
            if let Err(e) = done {
                tracing::error!(error = %e, "connection task failed");
            }
        }
        Ok(())
    }
}

/// Takes the connection tasks that have ended out of the set, logging any that failed.
fn reap(connections: &mut JoinSet<()>) {
    while let Some(done) = connections.try_join_next() {
        if let Err(e) = done {
            tracing::error!(error = %e, "connection task failed");
        }
    }
}

async fn accept(listener: Option<&Listener>, implicit_tls: bool) -> io::Result<Accepted> {
    let Some(listener) = listener else {
        return pending().await;
    };
    let (tcp, info) = accept_tcp(listener).await?;
    Ok(Accepted {
        io: Stream::Tcp(tcp),
        info,
        implicit_tls,
    })
}

/// Accepts a TCP connection, with TCP_NODELAY and its addresses.
async fn accept_tcp(listener: &Listener) -> io::Result<(TcpStream, ConnInfo)> {
    let (tcp, peer) = listener.tcp.accept().await?;
    let local = match listener.local {
        Some(local) => local,
        None => tcp.local_addr()?,
    };
    if !listener.nodelay_inherited {
        let _ = tcp.set_nodelay(true);
    }
    Ok((tcp, ConnInfo::new(peer, local)))
}

#[cfg(not(unix))]
async fn accept_unix(listener: Option<&UnixListener>) -> io::Result<Accepted> {
    match listener {
        None => pending().await,
        Some(never) => match *never {},
    }
}

#[cfg(unix)]
async fn accept_unix(listener: Option<&UnixListener>) -> io::Result<Accepted> {
    let Some(listener) = listener else {
        return pending().await;
    };
    let (stream, _) = listener.accept().await?;
    let path = listener
        .local_addr()
        .ok()
        .and_then(|a| a.as_pathname().map(PathBuf::from))
        .unwrap_or_default();
    Ok(Accepted {
        io: Stream::Other(Box::new(stream)),
        info: ConnInfo::unix(path),
        implicit_tls: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever the listener, accepted sockets have TCP_NODELAY (replies are not held back
    /// by Nagle's algorithm) and the local address the client connected to, not the
    /// listener's wildcard.
    #[tokio::test]
    async fn accepted_sockets_have_nodelay_and_their_local_address() {
        let bound_here = |addr: &str| Listen::Addr(addr.parse().unwrap());
        let given = TcpListener::bind("127.0.0.1:0").await.unwrap();
        for (listen, one) in [
            (bound_here("127.0.0.1:0"), true),
            (bound_here("0.0.0.0:0"), false),
            (Listen::Listener(given), false),
        ] {
            let listener = listen.open().await.unwrap();
            assert_eq!(listener.local.is_some(), one, "{listener:?}");
            let port = listener.tcp.local_addr().unwrap().port();
            let client = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            let (tcp, info) = accept_tcp(&listener).await.unwrap();
            assert!(tcp.nodelay().unwrap(), "{listener:?}");
            assert_eq!(info.local, client.peer_addr().unwrap(), "{listener:?}");
            assert_eq!(info.peer, client.local_addr().unwrap(), "{listener:?}");
        }
    }
}

//! [`Server`] and its [`Builder`]: listeners, limits, TLS, the connection cap and shutdown.

use crate::conn::{self, Shared};
use crate::sock::Sock;
use crate::Handler;
use smtp_proto::proxy::{ProxyConfig, TrustedNetworks};
use smtp_proto::{Config, Reply, Session, Timeouts, TlsPolicy};
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener};
#[cfg(unix)]
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How often the accept loop looks for new connections and for a shutdown request.
/// Short, so that fresh connections are not held up (a 10 ms poll capped them at ~750/s in
/// the issue 8 load test); one thread waking up this often costs next to nothing.
const ACCEPT_POLL: Duration = Duration::from_millis(2);

/// Where to listen: an address to bind, or a listener the caller made.
#[derive(Debug)]
enum Listen {
    Addr(SocketAddr),
    Listener(TcpListener),
}

impl Listen {
    fn open(self) -> io::Result<TcpListener> {
        let listener = match self {
            Listen::Addr(addr) => TcpListener::bind(addr)?,
            Listen::Listener(listener) => listener,
        };
        listener.set_nonblocking(true)?;
        Ok(listener)
    }
}

/// Configures a [`Server`]. Start from [`Server::builder`]. The same options as
/// `smtp-tokio`'s builder.
#[derive(Debug)]
#[must_use]
pub struct Builder {
    config: Config,
    plain: Option<Listen>,
    implicit: Option<Listen>,
    tls: Option<Arc<rustls::ServerConfig>>,
    require_tls: bool,
    max_connections: usize,
    shutdown_timeout: Duration,
    proxy: Option<(TrustedNetworks, ProxyConfig)>,
    #[cfg(unix)]
    unix: Option<UnixListener>,
}

impl Builder {
    /// Also serve on a Unix-domain socket you bound yourself (LMTP's usual transport, RFC
    /// 2033), with the same handler and configuration; [`ConnInfo::unix`](crate::ConnInfo)
    /// names the socket. No PROXY protocol there.
    #[cfg(unix)]
    pub fn unix_listener(mut self, listener: UnixListener) -> Builder {
        self.unix = Some(listener);
        self
    }

    /// Expect a PROXY protocol header (v1 or v2, HAProxy's `proxy-protocol.txt`) from peers
    /// in `trusted`, before anything else on the connection (before the implicit-TLS
    /// handshake too): the client's address from the header becomes [`ConnInfo::peer`], the
    /// proxy's [`ConnInfo::proxy`](crate::ConnInfo::proxy). A bad, truncated or late header
    /// closes the connection without a reply. Other peers are served as they are, and a
    /// header they send is never honoured.
    ///
    /// [`ConnInfo::peer`]: crate::ConnInfo::peer
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

    /// Also listen for implicit TLS on `addr` (port 465 style, RFC 8314). Needs
    /// [`tls`](Self::tls).
    pub fn implicit_tls_bind(mut self, addr: SocketAddr) -> Builder {
        self.implicit = Some(Listen::Addr(addr));
        self
    }

    /// Serve implicit TLS on a listener you bound yourself. Needs [`tls`](Self::tls).
    pub fn implicit_tls_listener(mut self, listener: TcpListener) -> Builder {
        self.implicit = Some(Listen::Listener(listener));
        self
    }

    /// The session configuration: host name, every limit, extensions and timeouts. Its
    /// [`tls`](Config::tls) policy is set from [`tls`](Self::tls) and
    /// [`require_tls`](Self::require_tls). It replaces what the setters below set before.
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

    /// The timers (RFC 5321 section 4.5.3.2). Writes to a client that does not read time
    /// out after the command timeout too.
    pub fn timeouts(mut self, timeouts: Timeouts) -> Builder {
        self.config.timeouts = timeouts;
        self
    }

    /// TLS: offer STARTTLS with this configuration, and use it for the implicit-TLS listener.
    pub fn tls(mut self, config: Arc<rustls::ServerConfig>) -> Builder {
        self.tls = Some(config);
        self
    }

    /// Refuse mail on plain-text connections until STARTTLS (`530 5.7.0`, RFC 3207
    /// section 4). Needs [`tls`](Self::tls).
    pub fn require_tls(mut self, required: bool) -> Builder {
        self.require_tls = required;
        self
    }

    /// Connections served at once (one thread each); the ones beyond are answered
    /// `421 4.3.2` and closed. Default 1000.
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
    pub fn build(self) -> io::Result<Server> {
        let invalid = |msg: &str| Err(io::Error::new(io::ErrorKind::InvalidInput, msg.to_owned()));
        #[cfg(unix)]
        let unix = self.unix;
        #[cfg(not(unix))]
        let unix: Option<std::convert::Infallible> = None;
        if self.plain.is_none() && self.implicit.is_none() && unix.is_none() {
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
            config: Arc::new(config),
            tls: self.tls,
            stopping: OnceLock::new(),
            proxy: self.proxy,
        });
        Ok(Server {
            shared,
            #[cfg(unix)]
            unix: match unix {
                Some(listener) => {
                    listener.set_nonblocking(true)?;
                    let path = listener.local_addr()?.as_pathname().map(PathBuf::from);
                    Some((listener, path))
                }
                None => None,
            },
            plain: self.plain.map(Listen::open).transpose()?,
            implicit: self.implicit.map(Listen::open).transpose()?,
            max_connections: self.max_connections,
            shutdown_timeout: self.shutdown_timeout,
            stop: ShutdownHandle(Arc::new(AtomicBool::new(false))),
        })
    }
}

/// Asks a running [`Server`] to shut down gracefully, from any thread.
#[derive(Clone, Debug)]
pub struct ShutdownHandle(Arc<AtomicBool>);

impl ShutdownHandle {
    /// Starts the graceful shutdown: see [`Server::serve`].
    pub fn shutdown(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A blocking SMTP server: listeners plus what the connections share, one thread per
/// connection.
///
/// ```no_run
/// use smtp_blocking::{Handler, Server};
/// use std::time::Duration;
///
/// #[derive(Clone)]
/// struct AcceptAll;
/// impl Handler for AcceptAll {}
///
/// # fn main() -> std::io::Result<()> {
/// let server = Server::builder()
///     .bind("127.0.0.1:2525".parse().unwrap())
///     .hostname("mx.example.com")
///     .max_message_size(10 << 20)
///     .shutdown_timeout(Duration::from_secs(10))
///     .build()?;
/// let stop = server.shutdown_handle();
/// let serving = std::thread::spawn(move || server.serve(AcceptAll));
/// // ... later, from any thread:
/// stop.shutdown();
/// serving.join().unwrap()
/// # }
/// ```
#[derive(Debug)]
pub struct Server {
    shared: Arc<Shared>,
    plain: Option<TcpListener>,
    implicit: Option<TcpListener>,
    max_connections: usize,
    shutdown_timeout: Duration,
    stop: ShutdownHandle,
    #[cfg(unix)]
    unix: Option<(UnixListener, Option<PathBuf>)>,
}

impl Server {
    /// A builder with the defaults: no listener yet, [`Config::default`], no TLS, 1000
    /// connections, 30 seconds of graceful shutdown.
    pub fn builder() -> Builder {
        Builder {
            config: Config::default(),
            plain: None,
            implicit: None,
            tls: None,
            require_tls: false,
            max_connections: 1000,
            shutdown_timeout: Duration::from_secs(30),
            proxy: None,
            #[cfg(unix)]
            unix: None,
        }
    }

    /// The address of the SMTP listener.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.plain.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The address of the implicit-TLS listener.
    pub fn implicit_tls_local_addr(&self) -> Option<SocketAddr> {
        self.implicit.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// A handle that stops [`serve`](Self::serve) from another thread.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.stop.clone()
    }

    /// Serves connections, each on its own thread with its own clone of `handler`, until
    /// [`ShutdownHandle::shutdown`]; then shuts down gracefully: stops accepting, closes idle
    /// connections with `421 4.3.0`, lets transactions in flight finish for up to the
    /// [`shutdown_timeout`](Builder::shutdown_timeout), then closes the rest with `421 4.3.0`
    /// (a handler busy outside the session, e.g. storing, is waited for). Returns when every
    /// connection thread has ended.
    pub fn serve<H: Handler + Clone>(self, handler: H) -> io::Result<()> {
        let active = Arc::new(AtomicUsize::new(0));
        let mut threads: Vec<JoinHandle<()>> = Vec::new();
        // Finished threads are pruned when the list has doubled, not on every poll: with
        // thousands of connections a scan per poll is real CPU.
        let mut prune_at = 64;
        while !self.stop.0.load(Ordering::SeqCst) {
            let mut idle = true;
            for (accepted, unix, implicit_tls) in self.accept() {
                match accepted {
                    Ok(sock) => {
                        idle = false;
                        let handler = handler.clone();
                        if let Some(t) = self.spawn(&active, sock, unix, implicit_tls, handler) {
                            threads.push(t);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => tracing::warn!(error = %e, "accept failed"),
                }
            }
            if threads.len() >= prune_at {
                threads.retain(|t| !t.is_finished());
                prune_at = 2 * threads.len() + 64;
            }
            if idle {
                thread::sleep(ACCEPT_POLL);
            }
        }
        drop((self.plain, self.implicit));
        #[cfg(unix)]
        drop(self.unix);
        tracing::info!(connections = threads.len(), "shutting down");
        let _ = self
            .shared
            .stopping
            .set(Instant::now() + self.shutdown_timeout);
        for t in threads {
            if t.join().is_err() {
                tracing::error!("connection thread panicked");
            }
        }
        Ok(())
    }

    /// One non-blocking accept on each listener: the connection (or `WouldBlock`), the
    /// Unix socket's path, and whether it is implicit TLS.
    fn accept(&self) -> Vec<(io::Result<Sock>, Option<PathBuf>, bool)> {
        let mut accepted = Vec::new();
        if let Some(listener) = &self.plain {
            accepted.push((listener.accept().map(|(s, _)| s.into()), None, false));
        }
        if let Some(listener) = &self.implicit {
            accepted.push((listener.accept().map(|(s, _)| s.into()), None, true));
        }
        #[cfg(unix)]
        if let Some((listener, path)) = &self.unix {
            accepted.push((
                listener.accept().map(|(s, _)| s.into()),
                path.clone(),
                false,
            ));
        }
        accepted
    }

    /// Starts a connection's thread, or refuses the connection beyond the cap.
    fn spawn<H: Handler>(
        &self,
        active: &Arc<AtomicUsize>,
        sock: Sock,
        unix: Option<PathBuf>,
        implicit_tls: bool,
        handler: H,
    ) -> Option<JoinHandle<()>> {
        if active.fetch_add(1, Ordering::SeqCst) >= self.max_connections {
            active.fetch_sub(1, Ordering::SeqCst);
            tracing::debug!("over the connection cap: refused");
            if !implicit_tls {
                // (An implicit-TLS client would first cost a handshake: just close.)
                let config = &self.shared.config;
                let busy = config.host_reply(&Reply::TOO_MANY_CONNECTIONS);
                let mut session = Session::refuse(Arc::clone(config), busy);
                let _ = sock.set_blocking();
                let _ = sock.set_write_timeout(Some(Duration::from_secs(1)));
                while let Some(out) = session.poll_transmit() {
                    let _ = (&sock).write_all(&out);
                }
            }
            return None;
        }
        let slot = Slot(Arc::clone(active));
        let shared = Arc::clone(&self.shared);
        let spawned = thread::Builder::new()
            .name("smtp-conn".to_owned())
            .spawn(move || {
                let _slot = slot;
                conn::serve(shared, sock, unix, implicit_tls, handler);
            });
        spawned
            .map_err(|e| tracing::warn!(error = %e, "cannot start a connection thread"))
            .ok()
    }
}

/// A connection's place under the cap, given back when its thread ends.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

//! [`Server`] and its [`Builder`]: listeners, limits, TLS, the connection cap and shutdown.

use crate::conn::{Accepted, Addrs, Shared};
use crate::pool::{Job, Pool, Slot};
use crate::sock::{Sock, Socket};
use crate::Handler;
use smtp_proto::proxy::{ProxyConfig, TrustedNetworks};
use smtp_proto::{Config, Reply, Session, Timeouts, TlsPolicy};
use std::io::{self, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
#[cfg(unix)]
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// After a failed `accept` other than an aborted connection (e.g. out of file descriptors),
/// the listener's thread waits this long before it tries again, rather than spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// The longest wait for the wake-up connection that ends a listener's blocked `accept` at
/// shutdown, then for that thread to end.
const WAKE_TIMEOUT: Duration = Duration::from_secs(2);

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
        // Each listener has a thread blocked in `accept`; a socket accepted from a blocking
        // listener is blocking too, on every system.
        listener.set_nonblocking(false)?;
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

    /// Connections served at once (a thread each); the ones beyond are answered
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
            live: Arc::default(),
        });
        Ok(Server {
            shared,
            #[cfg(unix)]
            unix: match unix {
                Some(listener) => {
                    listener.set_nonblocking(false)?;
                    let path = listener.local_addr()?.as_pathname().map(PathBuf::from);
                    Some((listener, path))
                }
                None => None,
            },
            plain: self.plain.map(Listen::open).transpose()?,
            implicit: self.implicit.map(Listen::open).transpose()?,
            max_connections: self.max_connections,
            shutdown_timeout: self.shutdown_timeout,
            stop: ShutdownHandle(Arc::default()),
        })
    }
}

/// Asks a running [`Server`] to shut down gracefully, from any thread.
#[derive(Clone, Debug)]
pub struct ShutdownHandle(Arc<Stop>);

impl ShutdownHandle {
    /// Starts the graceful shutdown: see [`Server::serve`].
    pub fn shutdown(&self) {
        self.0.request();
    }
}

/// The shutdown request: a flag for the listeners' threads to look at, and a condition for
/// [`Server::serve`] to wait on.
#[derive(Debug, Default)]
struct Stop {
    requested: AtomicBool,
    lock: Mutex<()>,
    changed: Condvar,
}

impl Stop {
    fn request(&self) {
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.requested.store(true, Ordering::SeqCst);
        self.changed.notify_all();
    }

    fn is_requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    fn wait(&self) {
        let mut guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        while !self.is_requested() {
            guard = self
                .changed
                .wait(guard)
                .unwrap_or_else(PoisonError::into_inner);
        }
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

    /// Serves connections, each on a thread of its own with its own clone of `handler`,
    /// until [`ShutdownHandle::shutdown`]; then shuts down gracefully: stops accepting, closes
    /// idle connections with `421 4.3.0` at once (RFC 5321 3.8), lets transactions in flight
    /// finish for up to the [`shutdown_timeout`](Builder::shutdown_timeout), then closes the
    /// rest with `421 4.3.0` (a handler busy outside the session, e.g. storing, is waited
    /// for). A connection waiting for its client is woken by shutting the reading half of its
    /// socket: it polls for nothing meanwhile. Returns when every connection thread has
    /// ended.
    ///
    /// Threads: one per listener, blocked in `accept`; and one per connection at a time,
    /// from a pool: a thread that has served a connection waits for the next one (a thread
    /// is started only when none waits) and ends after 10 seconds without one. So a stream
    /// of short connections does not start a thread each, and there are never more
    /// connection threads than connections at the peak. (A handler's thread-local state
    /// outlives its connection, then: keep per-connection state in the handler.)
    pub fn serve<H: Handler + Clone>(self, handler: H) -> io::Result<()> {
        let pool = Arc::new(Pool::new(Arc::clone(&self.shared)));
        let active = Arc::new(AtomicUsize::new(0));
        let mut listeners = Vec::new();
        if let Some(listener) = self.plain {
            listeners.push((Listener::Tcp(listener), false));
        }
        if let Some(listener) = self.implicit {
            listeners.push((Listener::Tcp(listener), true));
        }
        #[cfg(unix)]
        if let Some((listener, path)) = self.unix {
            listeners.push((Listener::Unix(listener, path), false));
        }
        // Each listener's thread holds a sender: all have ended when the channel closes.
        let (ended_tx, ended) = mpsc::channel::<()>();
        let mut acceptors = Vec::new();
        let mut failed = None;
        for (listener, implicit_tls) in listeners {
            let started = listener.waker().and_then(|waker| {
                let acceptor = Acceptor {
                    local: listener.local_addr(),
                    listener,
                    implicit_tls,
                    handler: handler.clone(),
                    pool: Arc::clone(&pool),
                    active: Arc::clone(&active),
                    max_connections: self.max_connections,
                    shared: Arc::clone(&self.shared),
                    stop: Arc::clone(&self.stop.0),
                    _ended: ended_tx.clone(),
                };
                let thread = thread::Builder::new()
                    .name("smtp-accept".to_owned())
                    .spawn(move || acceptor.run())?;
                Ok((thread, waker))
            });
            match started {
                Ok(acceptor) => acceptors.push(acceptor),
                Err(e) => {
                    failed = Some(e);
                    self.stop.shutdown();
                    break;
                }
            }
        }
        drop(ended_tx);
        self.stop.0.wait();
        stop_accepting(acceptors, &ended);
        tracing::info!("shutting down");
        let deadline = Instant::now() + self.shutdown_timeout;
        let _ = self.shared.stopping.set(deadline);
        // Set before the connections are woken: each then finds it (see `Live`).
        let live = &self.shared.live;
        live.wake(false);
        let threads = pool.close();
        if !live.wait_empty(deadline) {
            live.wake(true);
        }
        for thread in threads {
            if thread.join().is_err() {
                tracing::error!("connection thread panicked");
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Wakes each listener's thread from its `accept` with a connection of our own (it sees the
/// shutdown and ends, closing its listener), and waits for them, a bounded time.
fn stop_accepting(acceptors: Vec<(JoinHandle<()>, Waker)>, ended: &mpsc::Receiver<()>) {
    for (_, waker) in &acceptors {
        if let Err(e) = waker.wake() {
            tracing::warn!(error = %e, "cannot wake a listener's thread");
        }
    }
    let deadline = Instant::now() + WAKE_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match ended.recv_timeout(left) {
            Ok(()) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {
                // It ends at its next connection, without serving it.
                tracing::warn!("a listener's thread did not stop: left behind");
                break;
            }
        }
    }
    for (thread, _) in acceptors {
        if thread.is_finished() && thread.join().is_err() {
            tracing::error!("a listener's thread panicked");
        }
    }
}

/// A listener, in blocking mode.
#[derive(Debug)]
enum Listener {
    Tcp(TcpListener),
    /// With its path, if it has one.
    #[cfg(unix)]
    Unix(UnixListener, Option<PathBuf>),
}

impl Listener {
    fn accept(&self) -> io::Result<(Socket, Addrs)> {
        match self {
            Listener::Tcp(listener) => {
                let (tcp, peer) = listener.accept()?;
                // The local address is found per connection only if the listener's is
                // unspecified: see `Acceptor::local`.
                let addrs = Addrs::Tcp { peer, local: None };
                Ok((tcp.into(), addrs))
            }
            #[cfg(unix)]
            Listener::Unix(listener, path) => {
                let (unix, _) = listener.accept()?;
                Ok((unix.into(), Addrs::Unix(path.clone())))
            }
        }
    }

    /// The local address of every connection, if the listener's own says it.
    fn local_addr(&self) -> Option<SocketAddr> {
        match self {
            Listener::Tcp(listener) => listener
                .local_addr()
                .ok()
                .filter(|addr| !addr.ip().is_unspecified()),
            #[cfg(unix)]
            Listener::Unix(..) => None,
        }
    }

    /// How to wake this listener's thread from `accept` at shutdown.
    fn waker(&self) -> io::Result<Waker> {
        match self {
            Listener::Tcp(listener) => {
                let mut addr = listener.local_addr()?;
                if addr.ip().is_unspecified() {
                    addr.set_ip(match addr {
                        SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
                        SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
                    });
                }
                Ok(Waker::Tcp(addr))
            }
            #[cfg(unix)]
            Listener::Unix(listener, _) => Ok(Waker::Unix(listener.local_addr()?)),
        }
    }
}

/// The address a listener's thread is woken through at shutdown: its own.
#[derive(Debug)]
enum Waker {
    Tcp(SocketAddr),
    #[cfg(unix)]
    Unix(std::os::unix::net::SocketAddr),
}

impl Waker {
    fn wake(&self) -> io::Result<()> {
        match self {
            Waker::Tcp(addr) => TcpStream::connect_timeout(addr, WAKE_TIMEOUT).map(drop),
            #[cfg(unix)]
            Waker::Unix(addr) => UnixStream::connect_addr(addr).map(drop),
        }
    }
}

/// One listener's thread: accepts, applies the cap, hands connections to the pool.
struct Acceptor<H> {
    listener: Listener,
    /// The local address of every connection, when the listener's own says it.
    local: Option<SocketAddr>,
    implicit_tls: bool,
    handler: H,
    pool: Arc<Pool<H>>,
    active: Arc<AtomicUsize>,
    max_connections: usize,
    shared: Arc<Shared>,
    stop: Arc<Stop>,
    /// Dropped when the thread ends.
    _ended: mpsc::Sender<()>,
}

impl<H: Handler + Clone> Acceptor<H> {
    fn run(self) {
        loop {
            let accepted = self.listener.accept();
            if self.stop.is_requested() {
                return; // dropping the connection: a wake-up, or too late
            }
            match accepted {
                Ok((sock, mut addrs)) => {
                    if let Addrs::Tcp { local, .. } = &mut addrs {
                        *local = self.local;
                    }
                    self.dispatch(Accepted {
                        sock,
                        addrs,
                        implicit_tls: self.implicit_tls,
                    });
                }
                Err(e) if is_transient(&e) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    thread::sleep(ACCEPT_BACKOFF);
                }
            }
        }
    }

    /// Hands the connection to a worker, or refuses it beyond the cap.
    fn dispatch(&self, accepted: Accepted) {
        if self.active.fetch_add(1, Ordering::SeqCst) >= self.max_connections {
            self.active.fetch_sub(1, Ordering::SeqCst);
            tracing::debug!("over the connection cap: refused");
            if !accepted.implicit_tls {
                // (An implicit-TLS client would first cost a handshake: just close.)
                let config = &self.shared.config;
                let busy = config.host_reply(&Reply::TOO_MANY_CONNECTIONS);
                let mut session = Session::refuse(Arc::clone(config), busy);
                let sock = Sock::from(accepted.sock);
                let _ = sock.set_write_timeout(Some(Duration::from_secs(1)));
                while let Some(out) = session.poll_transmit() {
                    let _ = (&sock).write_all(&out);
                }
            }
            return;
        }
        self.pool.run(Job {
            accepted,
            handler: self.handler.clone(),
            slot: Slot(Arc::clone(&self.active)),
        });
    }
}

/// An `accept` error that says nothing about the listener: try again at once.
fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::Interrupted
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::WouldBlock
    )
}

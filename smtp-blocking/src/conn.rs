//! One connection on a thread of the pool: the drive loop over the core, and the message
//! [`Body`] that pulls the same loop forward as it is read.

use crate::input::{trace_input, ReadBuf};
use crate::live::{Entry, Live};
use crate::sock::{Sock, Socket};
use crate::{ConnInfo, Error, Handler, TlsInfo};
use bytes::{Buf, Bytes, BytesMut};
use smtp_proto::proxy::{ProxyConfig, ProxyDecoder, ProxyError, TrustedNetworks};
use smtp_proto::{Config, Event, Protocol, Reply, Session, Timeout, UsageError};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tracing::{debug, trace, warn};

/// What the connections of a server share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub config: Arc<Config>,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Set when the server shuts down: until when transactions in flight may go on.
    pub stopping: OnceLock<Instant>,
    /// The PROXY protocol: from which peers, with which decoder settings.
    pub proxy: Option<(TrustedNetworks, ProxyConfig)>,
    /// The open connections, for the shutdown to wake.
    pub live: Arc<Live>,
}

/// The longest wait for the goodbye `421` to leave at shutdown.
const GOODBYE_WRITE: Duration = Duration::from_secs(5);

type TlsStream = rustls::StreamOwned<rustls::ServerConnection, Sock>;

/// The connection: TCP or Unix, then TLS over it (implicit, or after STARTTLS).
enum Stream {
    Plain(Sock),
    Tls(Box<TlsStream>),
}

impl Stream {
    fn sock(&self) -> &Sock {
        match self {
            Stream::Plain(sock) => sock,
            Stream::Tls(tls) => &tls.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.read(buf),
            Stream::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.write(buf),
            Stream::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(tcp) => tcp.flush(),
            Stream::Tls(tls) => tls.flush(),
        }
    }
}

/// The driver of one session. Private: handlers see it only through [`Body`].
pub(crate) struct Conn {
    shared: Arc<Shared>,
    info: ConnInfo,
    session: Session,
    io: Stream,
    /// The worker thread's read buffer, lent for the connection.
    buf: ReadBuf,
    /// The event that ended a body, kept for the main loop (which decides on it).
    stashed: Option<Event>,
    /// A read or write failed: the connection is over.
    broken: bool,
    /// The socket's read timeout as last set: set again only when it changes (one syscall
    /// less per read).
    read_timeout: Option<Duration>,
    /// Its place among the server's open connections (see [`Live`]).
    entry: Entry,
}

/// A connection as its listener accepted it.
#[derive(Debug)]
pub(crate) struct Accepted {
    pub sock: Socket,
    pub addrs: Addrs,
    /// Accepted on the implicit-TLS listener.
    pub implicit_tls: bool,
}

/// Where an accepted connection comes from.
#[derive(Debug)]
pub(crate) enum Addrs {
    /// The peer's address (from `accept`), and the local one when the listener's own
    /// address says it (else `getsockname` finds it: a listener on an unspecified address).
    Tcp {
        peer: SocketAddr,
        local: Option<SocketAddr>,
    },
    /// The path of the Unix-domain listener, if it has one.
    #[cfg(unix)]
    Unix(Option<PathBuf>),
}

/// Serves one accepted connection to the end, on the calling thread, with `buf` as its read
/// buffer (lent for the connection: left new if it panics).
pub(crate) fn serve<H: Handler>(
    shared: &Arc<Shared>,
    accepted: Accepted,
    handler: &mut H,
    buf: &mut ReadBuf,
) {
    let Accepted {
        sock,
        addrs,
        implicit_tls,
    } = accepted;
    let sock = Sock::from(sock);
    let empty = tracing::field::Empty;
    let (mut info, span) = match addrs {
        Addrs::Tcp { peer, local } => {
            let local = match local.map_or_else(|| sock.local_addr(), Ok) {
                Ok(local) => local,
                Err(_) => return,
            };
            let span = tracing::info_span!("smtp", %peer, client = empty, tls = empty);
            (ConnInfo::new(peer, local), span)
        }
        #[cfg(unix)]
        Addrs::Unix(Some(path)) => {
            let span =
                tracing::info_span!("smtp", unix = %path.display(), client = empty, tls = empty);
            (ConnInfo::unix(path), span)
        }
        #[cfg(unix)]
        Addrs::Unix(None) => {
            let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
            let span =
                tracing::info_span!("smtp", peer = %unspecified, client = empty, tls = empty);
            (ConnInfo::new(unspecified, unspecified), span)
        }
    };
    let _entered = span.enter();
    debug!("connected");
    // Listed busy: the shutdown wakes it only at its deadline until its session reads.
    let entry = shared.live.add(&sock);
    let mut io = Stream::Plain(sock);
    let leftover = match prepare(shared, &mut io, &mut info, implicit_tls, buf) {
        Ok(leftover) => leftover,
        Err(e) => return debug!(error = %e, "closed on error"),
    };
    // Asks the handler about the new connection; the session refuses it if told to.
    let decision = handler.connect(&info).map_err(|e| {
        warn!(error = %e, "handler failed at connect");
    });
    let (config, tls) = (Arc::clone(&shared.config), info.tls.is_some());
    let mut conn = Conn {
        shared: Arc::clone(shared),
        info,
        session: Session::open(config, decision.ok(), tls),
        io,
        buf: std::mem::take(buf),
        stashed: None,
        broken: false,
        read_timeout: None,
        entry,
    };
    match conn.run(implicit_tls, leftover, handler) {
        Ok(()) => debug!("closed"),
        Err(e) => debug!(error = %e, "closed on error"),
    }
    *buf = std::mem::take(&mut conn.buf);
}

/// Before the session: the socket's options, the PROXY header of a trusted peer and the
/// implicit-TLS handshake. Returns the octets read after the PROXY header, if any.
fn prepare(
    shared: &Shared,
    io: &mut Stream,
    info: &mut ConnInfo,
    implicit_tls: bool,
    buf: &mut ReadBuf,
) -> io::Result<BytesMut> {
    let sock = io.sock();
    // Blocking already: the listeners are, and an accepted socket is as its listener.
    sock.set_nodelay()?;
    sock.set_write_timeout(Some(shared.config.timeouts.command))?;
    let leftover = proxy_header(shared, sock, info, buf)?;
    if implicit_tls {
        handshake(shared, io, info, &leftover)?;
    }
    Ok(leftover)
}

impl Conn {
    fn run<H: Handler>(
        &mut self,
        implicit_tls: bool,
        mut leftover: BytesMut,
        handler: &mut H,
    ) -> io::Result<()> {
        if !implicit_tls && !leftover.is_empty() {
            // Sent with the PROXY header, before the greeting: early input for the session.
            trace_input(&self.session, &leftover);
            self.session.handle_input_buf(&mut leftover);
        }
        while let Some(event) = self.next_event()? {
            self.event(event, handler)?;
        }
        if let Stream::Tls(tls) = &mut self.io {
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
        // The socket is closed when the connection is dropped, at once: its one descriptor
        // (the TLS stream holds the only handle left then).
        Ok(())
    }

    /// The core's call order, pulled one event at a time: the next event, after writing the
    /// replies and reading as needed. `None` once the session is closed and all is written.
    fn next_event(&mut self) -> io::Result<Option<Event>> {
        if let Some(event) = self.stashed.take() {
            return Ok(Some(event));
        }
        if self.broken {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        let result = self.pull();
        self.broken = result.is_err();
        result
    }

    fn pull(&mut self) -> io::Result<Option<Event>> {
        loop {
            if let Some(event) = self.session.poll_event() {
                return Ok(Some(event));
            }
            let wrote = self.transmit()?;
            if self.session.is_closed() {
                return Ok(None);
            }
            let Some(timer) = self.session.poll_timeout() else {
                return Ok(None);
            };
            if self.session.wants_read() {
                self.read(timer)?;
            } else if !wrote {
                // Nothing to parse and no reading wanted (early input held during the
                // greeting delay): wait out the timer.
                std::thread::sleep(timer.after);
                self.session.handle_timeout(timer.kind);
            }
        }
    }

    /// One read with the core's timer. At shutdown, idle sessions close at once and
    /// transactions at the shutdown deadline: the server wakes this read then (see [`Live`]).
    fn read(&mut self, timer: Timeout) -> io::Result<()> {
        // Busy or not before looking for a shutdown: one that began before saw it as it was.
        self.entry.set_busy(self.session.in_transaction());
        if let Some(&stop) = self.shared.stopping.get() {
            if !self.session.in_transaction() || Instant::now() >= stop {
                self.goodbye();
                return Ok(());
            }
        }
        // `std` refuses a zero timeout: a timer already run out (after a slow handler) fires
        // after a millisecond's wait.
        let wait = timer.after.max(Duration::from_millis(1));
        if self.read_timeout != Some(wait) {
            self.io.sock().set_read_timeout(Some(wait))?;
            self.read_timeout = Some(wait);
        }
        let read = loop {
            let read = match &mut self.io {
                Stream::Plain(sock) => self.buf.read(sock).inspect(|&n| {
                    self.buf.feed(n, &mut self.session);
                }),
                Stream::Tls(tls) => self.buf.read_tls(tls, &mut self.session),
            };
            match read {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                read => break read,
            }
        };
        match read {
            Ok(n) if n > 0 => {}
            // Woken by the shutdown: the socket reads no more, but still writes.
            _ if self.shared.stopping.get().is_some() => self.goodbye(),
            Ok(_) => self.session.handle_eof(),
            Err(e) if is_timeout(&e) => {
                debug!(kind = ?timer.kind, "timeout");
                self.session.handle_timeout(timer.kind);
            }
            Err(e) => {
                debug!(error = %e, "read failed");
                self.session.handle_eof();
            }
        }
        Ok(())
    }

    /// The server is shutting down: `421` and close (RFC 5321 3.8).
    fn goodbye(&mut self) {
        debug!("shutting down: closing");
        let _ = self.io.sock().set_write_timeout(Some(GOODBYE_WRITE));
        let bye = self.shared.config.host_reply(&Reply::SHUTTING_DOWN);
        self.session.shutdown(bye);
    }

    fn event<H: Handler>(&mut self, event: Event, handler: &mut H) -> io::Result<()> {
        let verdict = match event {
            Event::Hello { domain, esmtp } => handler.helo(domain.as_str(), esmtp),
            Event::Auth {
                mechanism,
                credentials,
            } => handler.auth(mechanism.as_str(), &credentials),
            Event::AuthResponse { response } => handler.auth_response(&response),
            Event::MailFrom { from, params } => handler.mail(&from, &params),
            Event::RcptTo { to, params } => handler.rcpt(&to, &params),
            Event::DataStart => return self.data(handler),
            Event::Reset => {
                handler.reset();
                return Ok(());
            }
            Event::StartTls { discarded } => return self.starttls(discarded, handler),
            Event::DataAborted { reason } => {
                debug!(?reason, "message abandoned");
                return Ok(());
            }
            Event::Closed(reason) => {
                debug!(?reason, "session over");
                return Ok(());
            }
            // An event of a newer core that this adapter cannot ask the handler about.
            event if event.needs_decision() => Err("no handler for this event".into()),
            _ => return Ok(()),
        };
        let result = match verdict {
            Ok(decision) => self.session.decide(decision),
            Err(e) => failed(&mut self.session, e),
        };
        misfit(result);
        Ok(())
    }

    /// STARTTLS was accepted: the `220` goes out, then the handshake on the raw socket.
    fn starttls<H: Handler>(&mut self, discarded: usize, handler: &mut H) -> io::Result<()> {
        if discarded > 0 {
            warn!(
                discarded,
                "input after STARTTLS discarded (command injection?)"
            );
        }
        self.transmit()?;
        // A shutdown lets the handshake finish (until its deadline): the session says
        // goodbye over TLS then.
        self.entry.set_busy(true);
        let info = handshake(&self.shared, &mut self.io, &mut self.info, &[])?;
        self.read_timeout = None; // the handshake set its own
        self.session
            .handle_tls_established()
            .map_err(io::Error::other)?;
        handler.tls(&info);
        Ok(())
    }

    /// Runs the handler's `data` over the [`Body`], drains what it left unread, and answers
    /// the end of data: one decision, or in LMTP one per accepted recipient (RFC 2033 4.2).
    fn data<H: Handler>(&mut self, handler: &mut H) -> io::Result<()> {
        let lmtp = self.shared.config.protocol == Protocol::Lmtp;
        let mut body = Body {
            conn: Some(self),
            current: Bytes::new(),
            done: false,
            complete: false,
        };
        let verdict = match lmtp {
            true => handler.lmtp_data(&mut body),
            false => handler.data(&mut body).map(|decision| vec![decision]),
        };
        body.drain()?;
        match self.stashed.take() {
            Some(Event::DataEnd { size }) => {
                debug!(size, "message received");
                let result = match verdict {
                    Ok(decisions) => self.session.decide_each(decisions),
                    Err(e) => failed(&mut self.session, e),
                };
                misfit(result);
                Ok(())
            }
            Some(event) => self.event(event, handler),
            None => Ok(()),
        }
    }

    /// Writes the replies the core has ready. Returns whether there were any.
    fn transmit(&mut self) -> io::Result<bool> {
        let mut wrote = false;
        while let Some(bytes) = self.session.poll_transmit() {
            self.trace_output(&bytes);
            self.io.write_all(&bytes)?;
            wrote = true;
        }
        if wrote {
            self.io.flush()?;
        }
        Ok(wrote)
    }

    fn trace_output(&self, bytes: &[u8]) {
        if tracing::enabled!(tracing::Level::TRACE) {
            smtp_proto::trace::trace_output(bytes).for_each(|l| trace!("S: {l}"));
        }
    }
}

/// Reads the PROXY protocol header of a trusted peer (HAProxy's `proxy-protocol.txt`)
/// before anything is said, within one deadline. The client's addresses replace the
/// socket's in [`ConnInfo`] (the proxy's is kept). Returns the octets that came after the
/// header (for the session, or the TLS handshake). An error closes without a reply.
fn proxy_header(
    shared: &Shared,
    sock: &Sock,
    info: &mut ConnInfo,
    buf: &mut ReadBuf,
) -> io::Result<BytesMut> {
    let Some((trusted, config)) = &shared.proxy else {
        return Ok(BytesMut::new());
    };
    if !sock.is_tcp() {
        return Ok(BytesMut::new()); // no peer address to trust
    }
    let Some(mut decoder) = ProxyDecoder::for_peer(*config, trusted, info.peer.ip()) else {
        return Ok(BytesMut::new());
    };
    let invalid = |e: ProxyError| {
        debug!(error = %e, "PROXY header refused: closing");
        io::Error::new(io::ErrorKind::InvalidData, e)
    };
    let deadline = Instant::now() + decoder.timeout();
    let (decoded, leftover) = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break (decoder.handle_timeout().map_err(invalid)?, BytesMut::new());
        }
        sock.set_read_timeout(Some(left))?;
        match buf.read(&mut &*sock) {
            Ok(0) => return Err(invalid(decoder.handle_eof())),
            Ok(n) => {
                let mut input = buf.take(n);
                if let Some(decoded) = decoder.decode(&input).map_err(invalid)? {
                    input.advance(decoded.consumed);
                    break (decoded, input);
                }
            }
            Err(e) if is_retry(&e) => continue,
            Err(e) => return Err(e),
        }
    };
    let header = decoded.header.as_ref();
    info.apply_proxy(header);
    if info.proxy.is_some() {
        tracing::Span::current().record("client", tracing::field::display(info.peer));
    }
    debug!(client = %info.peer, header = header.is_some(), "PROXY header read");
    Ok(leftover)
}

/// The TLS handshake on the TCP stream (implicit TLS, or after STARTTLS), bounded by the
/// handshake timeout; `io` becomes the TLS stream. `prefix`: its first octets, read already
/// (after a PROXY header). It sets the socket's read timeout.
fn handshake(
    shared: &Shared,
    io: &mut Stream,
    info: &mut ConnInfo,
    mut prefix: &[u8],
) -> io::Result<TlsInfo> {
    let config = shared.tls.clone().ok_or(io::ErrorKind::Unsupported)?;
    // The TLS stream's own handle on the socket: the same descriptor, no `dup`.
    let mut sock = io.sock().clone();
    let mut tls = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
    while !prefix.is_empty() {
        tls.read_tls(&mut prefix)?;
        tls.process_new_packets().map_err(io::Error::other)?;
    }
    let deadline = Instant::now() + shared.config.timeouts.tls_handshake;
    while tls.is_handshaking() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        sock.set_read_timeout(Some(left))?;
        tls.complete_io(&mut sock)?;
    }
    let tls_info = smtp_tls::tls_info(&tls);
    tracing::Span::current().record("tls", tracing::field::display(&tls_info));
    debug!(info = %tls_info, "TLS established");
    info.tls = Some(tls_info.clone());
    *io = Stream::Tls(Box::new(rustls::StreamOwned::new(tls, sock)));
    Ok(tls_info)
}

/// The handler returned an error: the core answers with the local error that fits.
fn failed(session: &mut Session, e: Error) -> Result<(), UsageError> {
    warn!(error = %e, "handler failed");
    session.fail()
}

/// Logs a handler's answer that did not fit the event (the core answered it with a local
/// error instead).
fn misfit(result: Result<(), UsageError>) {
    if let Err(e) = result {
        warn!(error = %e, "the handler's answer does not fit the event");
    }
}

fn is_retry(e: &io::Error) -> bool {
    is_timeout(e) || e.kind() == io::ErrorKind::Interrupted
}

/// A read that ran out its socket timeout (`EAGAIN` on Unix, `TimedOut` on Windows).
fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// The body of one message, as the client sends it (dot-unstuffed, CRLF line endings), handed
/// to [`Handler::data`].
///
/// Read it as an [`io::Read`] or chunk by chunk with [`chunk`](Self::chunk). Reading *is* the
/// connection's loop: each read that finds nothing buffered writes the replies due (e.g. to
/// BDAT chunks), reads the socket with the core's timer and decodes the next chunk, all on
/// the handler's thread. So the client is read only as fast as the handler reads, and memory
/// stays bounded. Whatever the handler leaves unread is read and thrown away when `data`
/// returns.
///
/// If the message does not complete (the client disconnects or times out, the message breaks
/// a limit, or the server shuts down), reading fails with [`io::ErrorKind::UnexpectedEof`]
/// and the handler's answer is not used: the session has already answered the client.
///
/// ```
/// use std::io::Read;
/// let mut body = smtp_blocking::Body::from_bytes("Subject: hi\r\n\r\nHello\r\n");
/// let mut text = String::new();
/// body.read_to_string(&mut text)?;
/// assert_eq!(text, "Subject: hi\r\n\r\nHello\r\n");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Body<'a> {
    /// `None` for a body made with [`Body::from_bytes`].
    conn: Option<&'a mut Conn>,
    current: Bytes,
    /// The body ended (completely or not): its end event is stashed for the main loop.
    done: bool,
    /// It ended with its end of data.
    complete: bool,
}

impl Body<'_> {
    /// The next chunk of the body, `None` at its end. Chunks are never empty.
    pub fn chunk(&mut self) -> io::Result<Option<Bytes>> {
        if !self.current.is_empty() {
            return Ok(Some(std::mem::take(&mut self.current)));
        }
        while let (false, Some(conn)) = (self.done, &mut self.conn) {
            match conn.next_event()? {
                Some(Event::DataChunk(chunk)) if !chunk.is_empty() => return Ok(Some(chunk)),
                Some(Event::DataChunk(_)) => {}
                Some(event) => {
                    self.done = true;
                    self.complete = matches!(event, Event::DataEnd { .. });
                    conn.stashed = Some(event);
                }
                None => self.done = true,
            }
        }
        match self.complete {
            true => Ok(None),
            false => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the message was abandoned before its end",
            )),
        }
    }

    /// A complete body holding `bytes`: for testing a [`Handler`] without a connection.
    pub fn from_bytes(bytes: impl Into<Bytes>) -> Body<'static> {
        Body {
            conn: None,
            current: bytes.into(),
            done: true,
            complete: true,
        }
    }

    /// Reads and drops the rest of the body.
    fn drain(&mut self) -> io::Result<()> {
        self.current.clear();
        while !self.done {
            if let Err(e) = self.chunk() {
                if self.conn.as_ref().is_some_and(|conn| conn.broken) {
                    return Err(e);
                }
            }
        }
        Ok(())
    }
}

impl Read for Body<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.current.is_empty() {
            match self.chunk()? {
                Some(chunk) => self.current = chunk,
                None => return Ok(0),
            }
        }
        let n = self.current.len().min(buf.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        Ok(n)
    }
}

impl std::fmt::Debug for Body<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Body")
            .field("buffered", &self.current.len())
            .field("done", &self.done)
            .finish()
    }
}

//! One connection: the drive loop over the core, the same for plain and TLS streams.

use crate::body::{Body, BodySender};
use crate::{ConnInfo, Error, Handler, TlsInfo};
use bytes::{Bytes, BytesMut};
use smtp_proto::proxy::{ProxyConfig, ProxyDecoder, TrustedNetworks};
use smtp_proto::{Config, Decision, Event, Protocol, Reply, Session, UsageError};
use std::any::Any;
use std::future::{pending, poll_fn, Future};
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{ready, Context, Poll, Waker};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::{sleep_until, timeout, Instant, Sleep};
use tokio_rustls::TlsAcceptor;
use tracing::{debug, trace, warn, Instrument};

/// What the connections of a server share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub config: Arc<Config>,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The PROXY protocol: which peers must (or may) send a header, and its limits.
    pub proxy: Option<(TrustedNetworks, ProxyConfig)>,
}

/// An accepted connection, as the listener gave it.
pub(crate) struct Accepted {
    pub io: Stream,
    /// The socket's addresses, or its path for a Unix-domain connection.
    pub info: ConnInfo,
    /// The listener is the implicit-TLS one.
    pub implicit_tls: bool,
}

/// Any stream the loop can drive: TCP, then TLS over it after STARTTLS.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A connection's stream: TCP as accepted, which the loop reads as the floor sink does (see
/// [`Stream::poll_read_buf`]), or any other (Unix-domain, TLS, a PROXY header's leftover
/// chained in front).
pub(crate) enum Stream {
    Tcp(tokio::net::TcpStream),
    Other(Box<dyn Io>),
}

impl Stream {
    /// A placeholder, while the stream is moved into a TLS session or a chain.
    fn none() -> Stream {
        Stream::Other(Box::new(tokio::io::empty()))
    }

    /// Reads into the spare capacity of `buf`.
    ///
    /// A TCP socket is read whenever the last read did not end in `WouldBlock`, even after a
    /// short read (after which the stream's own `poll_read` waits for the next readiness
    /// event): in SMTP the client's next command often arrives while its reply is being
    /// written, and this read then finds it at the cost of one system call, where waiting
    /// costs a turn of the IO driver and a wake-up of this task. The task's budget is taken
    /// as `poll_read` takes it: a client that keeps sending cannot hold up the worker's other
    /// tasks.
    fn poll_read_buf(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
    ) -> Poll<io::Result<usize>> {
        match self {
            Stream::Tcp(tcp) => loop {
                let coop = ready!(tokio::task::coop::poll_proceed(cx));
                match tcp.try_read_buf(buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => drop(coop),
                    done => {
                        coop.made_progress();
                        return Poll::Ready(done);
                    }
                }
                ready!(tcp.poll_read_ready(cx))?;
            },
            Stream::Other(io) => pin!(io.read_buf(buf)).poll(cx),
        }
    }

    /// Writes what a TCP socket takes now, without waiting (`Ok(0)` for any other stream,
    /// or when the socket's buffer is full).
    fn try_write_tcp(&self, bytes: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(tcp) => match tcp.try_write(bytes) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
                done => done,
            },
            Stream::Other(_) => Ok(0),
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Stream::Other(io) => Pin::new(io).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Stream::Other(io) => Pin::new(io).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(tcp) => Pin::new(tcp).poll_flush(cx),
            Stream::Other(io) => Pin::new(io).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Stream::Other(io) => Pin::new(io).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(tcp) => Pin::new(tcp).poll_write_vectored(cx, bufs),
            Stream::Other(io) => Pin::new(io).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Tcp(tcp) => tcp.is_write_vectored(),
            Stream::Other(io) => io.is_write_vectored(),
        }
    }
}

/// Reads start small (an idle connection costs little memory: issue 8 holds 10,000 of them)
/// and the buffer grows, up to 16 KiB, while reads fill it.
const READ_BUFFER_MIN: usize = 512;
const READ_BUFFER_MAX: usize = 16 << 10;
/// Far enough to be later than any timeout of the core.
const NOT_YET: Duration = Duration::from_secs(365 * 86_400);
/// The longest wait for the goodbye `421` to leave at shutdown.
const GOODBYE_WRITE: Duration = Duration::from_secs(5);

/// The handler's answer to a message: one decision, or (LMTP) one per recipient.
enum Verdict {
    One(Decision),
    Each(Vec<Decision>),
}

/// What the handler's `data` future ends with: the handler back and its verdict, or the
/// payload of its panic.
type DataOutput<H> = Result<(H, Result<Verdict, Error>), Box<dyn Any + Send>>;

enum Step {
    Closed,
    StartTls,
}

/// What ended a wait for the socket in `drive`.
enum Woke<H> {
    Read(io::Result<usize>),
    /// The handler's `data` future finished.
    Data(DataOutput<H>),
    Timer,
    /// The server is shutting down (and the connection is idle).
    Stop,
}

struct Conn<'t, H> {
    shared: Arc<Shared>,
    info: ConnInfo,
    session: Session,
    io: Stream,
    /// Read into, then handed to the session without a copy
    /// ([`Session::handle_input_buf`]); body chunks share it. Once the session has consumed a
    /// read and the handler has dropped its chunks, the next read reuses the same memory.
    buf: BytesMut,
    /// How much to read at once: small at first, larger while reads fill it.
    read_size: usize,
    /// The core's timer, one per connection (cheaper than a new `timeout` per read), moved
    /// earlier when a read needs it, later only when it fires too early (see `drive`).
    /// Pinned in the connection's task (not a box of its own).
    timer: Pin<&'t mut Sleep>,
    /// The timer was polled since it was last set: it holds this task's waker, and needs no
    /// poll until it fires.
    timer_armed: bool,
    /// `None` while the handler's `data` future holds it (or after it panicked there).
    handler: Option<H>,
    /// The verdict of a `data` future that finished, kept until the message ends.
    verdict: Option<Result<Verdict, Error>>,
    /// Feeds the body of the message in progress to the handler.
    body: BodySender,
    /// Changed once, when the server starts shutting down.
    stopping: watch::Receiver<Option<Instant>>,
}

/// Serves one accepted connection to the end. Without a handler (over the connection cap),
/// answers `421 4.3.2` and closes.
pub(crate) async fn serve<H: Handler>(
    shared: Arc<Shared>,
    accepted: Accepted,
    mut handler: Option<H>,
    stopping: watch::Receiver<Option<Instant>>,
) {
    let Accepted {
        mut io,
        mut info,
        implicit_tls,
    } = accepted;
    let empty = tracing::field::Empty;
    let span = match &info.unix {
        Some(path) => {
            tracing::info_span!("smtp", unix = %path.display(), client = empty, tls = empty)
        }
        None => tracing::info_span!("smtp", peer = %info.peer, client = empty, tls = empty),
    };
    async move {
        debug!("connected");
        // Built once: it also wakes the connection when the shutdown starts (see `drive`).
        let mut deadline = pin!(shutdown_deadline(stopping.clone()));
        let mut buf = BytesMut::with_capacity(READ_BUFFER_MIN);
        // Before the session: the server has said nothing yet (PROXY header or TLS handshake in
        // progress), and a shutdown closes without a word.
        let opened = tokio::select! {
            r = open(&shared, &mut io, &mut buf, &mut info, handler.as_mut(), implicit_tls) => r,
            () = deadline.as_mut() => {
                debug!("shutdown deadline: closing");
                timed(GOODBYE_WRITE, io.shutdown()).await.map(|()| None)
            }
        };
        let result = match opened {
            Ok(None) => Ok(()),
            Err(e) => Err(e),
            Ok(Some((session, leftover))) => {
                // Set by the first read (the timer is only ever moved earlier there).
                let timer = pin!(sleep_until(Instant::now() + NOT_YET));
                let mut conn = Conn {
                    shared,
                    info,
                    session,
                    io,
                    buf,
                    read_size: READ_BUFFER_MIN,
                    timer,
                    timer_armed: false,
                    handler,
                    verdict: None,
                    body: BodySender::default(),
                    stopping,
                };
                tokio::select! {
                    // Biased: no random draw each time the connection is woken; the deadline
                    // is still polled whenever the connection waits.
                    biased;
                    r = conn.run(leftover) => r,
                    () = deadline.as_mut() => {
                        debug!("shutdown deadline: closing");
                        conn.goodbye().await
                    }
                }
            }
        };
        match result {
            Ok(()) => debug!("closed"),
            Err(e) => debug!(error = %e, "closed on error"),
        }
    }
    .instrument(span)
    .await
}

/// Everything before the session: the PROXY header, the implicit-TLS handshake, the handler's
/// `connect`. Returns the session and the octets read past the PROXY header (for the
/// session), or `None` to close without a word (over the cap on the implicit-TLS port: a
/// `421` would first cost a handshake).
async fn open<H: Handler>(
    shared: &Shared,
    io: &mut Stream,
    buf: &mut BytesMut,
    info: &mut ConnInfo,
    handler: Option<&mut H>,
    implicit_tls: bool,
) -> io::Result<Option<(Session, Bytes)>> {
    let mut leftover = proxy_header(shared, io, buf, info).await?;
    if implicit_tls {
        if handler.is_none() {
            return Ok(None);
        }
        if !leftover.is_empty() {
            // The start of the ClientHello came with the PROXY header.
            let prefix = std::io::Cursor::new(std::mem::take(&mut leftover));
            let plain = std::mem::replace(io, Stream::none());
            let (read, write) = tokio::io::split(plain);
            *io = Stream::Other(Box::new(tokio::io::join(
                AsyncReadExt::chain(prefix, read),
                write,
            )));
        }
        handshake(shared, io, info).await?;
    }
    // Ask the handler about the new connection, and refuse it if told to (or if over the
    // connection cap: no handler).
    let decision = match handler {
        None => {
            let busy = shared.config.host_reply(&Reply::TOO_MANY_CONNECTIONS);
            Some(Decision::Reject(busy))
        }
        Some(handler) => handler
            .connect(info)
            .await
            .map_err(|e| {
                warn!(error = %e, "handler failed at connect");
            })
            .ok(),
    };
    let config = Arc::clone(&shared.config);
    let session = Session::open(config, decision, info.tls.is_some());
    Ok(Some((session, leftover)))
}

/// Reads the PROXY protocol header of a trusted peer (HAProxy's `proxy-protocol.txt`), before
/// anything is said, within one deadline for the whole header. The client's addresses replace
/// the socket's in [`ConnInfo`] (the proxy's is kept); returns the octets after the header,
/// for the session or the TLS acceptor. An error closes the connection without a reply.
async fn proxy_header(
    shared: &Shared,
    io: &mut Stream,
    buf: &mut BytesMut,
    info: &mut ConnInfo,
) -> io::Result<Bytes> {
    let Some((trusted, config)) = &shared.proxy else {
        return Ok(Bytes::new());
    };
    if info.unix.is_some() {
        return Ok(Bytes::new()); // no peer address to trust: see `Builder::proxy_protocol`
    }
    let Some(mut decoder) = ProxyDecoder::for_peer(*config, trusted, info.peer.ip()) else {
        return Ok(Bytes::new());
    };
    let deadline = Instant::now() + decoder.timeout();
    let invalid = |e: smtp_proto::proxy::ProxyError| {
        debug!(error = %e, "PROXY header refused: closing");
        io::Error::new(io::ErrorKind::InvalidData, e)
    };
    let mut leftover = Bytes::new();
    buf.resize(READ_BUFFER_MIN, 0);
    let decoded = loop {
        match tokio::time::timeout_at(deadline, io.read(buf)).await {
            Ok(Ok(0)) => return Err(invalid(decoder.handle_eof())),
            Ok(Ok(n)) => match decoder.decode(&buf[..n]).map_err(invalid)? {
                None => continue,
                Some(decoded) => {
                    leftover = Bytes::copy_from_slice(&buf[decoded.consumed..n]);
                    break decoded;
                }
            },
            Ok(Err(e)) => return Err(e),
            Err(_) => break decoder.handle_timeout().map_err(invalid)?,
        }
    };
    buf.clear();
    let header = decoded.header.as_ref();
    info.apply_proxy(header);
    if info.proxy.is_some() {
        tracing::Span::current().record("client", tracing::field::display(info.peer));
    }
    debug!(client = %info.peer, header = header.is_some(), "PROXY header read");
    Ok(leftover)
}

/// The TLS handshake on the current stream (implicit TLS, or after STARTTLS), bounded by the
/// handshake timeout.
async fn handshake(shared: &Shared, io: &mut Stream, info: &mut ConnInfo) -> io::Result<TlsInfo> {
    let acceptor = TlsAcceptor::from(shared.tls.clone().ok_or(io::ErrorKind::Unsupported)?);
    let after = shared.config.timeouts.tls_handshake;
    let plain = std::mem::replace(io, Stream::none());
    // Boxed: the handshake's state is large (1.5 KiB), and would otherwise take room in every
    // connection's task, twice (implicit TLS, STARTTLS), handshake or not.
    let tls = timed(after, Box::pin(acceptor.accept(plain))).await?;
    let tls_info = smtp_tls::tls_info(tls.get_ref().1);
    tracing::Span::current().record("tls", tracing::field::display(&tls_info));
    debug!(info = %tls_info, "TLS established");
    info.tls = Some(tls_info.clone());
    *io = Stream::Other(Box::new(tls));
    Ok(tls_info)
}

/// The handler's `data` (or `lmtp_data`) for one message, polled by the connection's task
/// between reads: it owns the handler while it runs and gives it back with its verdict.
async fn run_data<H: Handler>(
    mut handler: H,
    body: Body,
    lmtp: bool,
) -> (H, Result<Verdict, Error>) {
    let verdict = match lmtp {
        true => handler.lmtp_data(body).await.map(Verdict::Each),
        false => handler.data(body).await.map(Verdict::One),
    };
    (handler, verdict)
}

/// Polls the handler's `data` future, catching a panic: a broken handler closes its
/// connection, not the server's task for it.
fn poll_caught<F: Future>(
    fut: Pin<&mut F>,
    cx: &mut Context<'_>,
) -> Poll<Result<F::Output, Box<dyn Any + Send>>> {
    match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
        Ok(Poll::Pending) => Poll::Pending,
        Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
        Err(panic) => Poll::Ready(Err(panic)),
    }
}

/// The text of a panic's payload, when it has one.
fn panic_message(panic: &(dyn Any + Send)) -> &str {
    match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
        (Some(s), _) => s,
        (_, Some(s)) => s,
        _ => "(no message)",
    }
}

impl<H: Handler> Conn<'_, H> {
    async fn run(&mut self, leftover: Bytes) -> io::Result<()> {
        if !leftover.is_empty() {
            // Sent with the PROXY header, before the greeting: early input for the session.
            self.trace_input(&leftover);
            self.session.handle_input(&leftover);
        }
        loop {
            match self.drive().await? {
                Step::Closed => break,
                Step::StartTls => {
                    let info = handshake(&self.shared, &mut self.io, &mut self.info).await?;
                    self.session
                        .handle_tls_established()
                        .map_err(io::Error::other)?;
                    if let Some(handler) = &mut self.handler {
                        handler.tls(&info).await;
                    }
                }
            }
        }
        let _ = self.io.shutdown().await;
        Ok(())
    }

    /// The loop of the core's call order: events, then replies, then close or read.
    ///
    /// While a message comes in, the handler's `data` future lives here and is polled by this
    /// task: while waiting for the socket, while the body queue is full (the socket is not read
    /// until the handler makes room: backpressure), and to its end after the message's.
    async fn drive(&mut self) -> io::Result<Step> {
        let mut data = pin!(None);
        loop {
            let mut starttls = false;
            let mut progressed = false;
            // Body chunks were queued for the handler since it was last polled.
            let mut fed = false;
            while let Some(event) = self.session.poll_event() {
                progressed = true;
                match event {
                    Event::StartTls { discarded } => {
                        if discarded > 0 {
                            warn!(
                                discarded,
                                "input after STARTTLS discarded (command injection?)"
                            );
                        }
                        starttls = true;
                    }
                    Event::DataStart => {
                        self.verdict = None;
                        // Without a handler (gone after a panic) the body is thrown away.
                        if let Some(handler) = self.handler.take() {
                            let lmtp = self.shared.config.protocol == Protocol::Lmtp;
                            data.set(Some(run_data(handler, self.body.start(), lmtp)));
                        }
                    }
                    Event::DataChunk(chunk) => {
                        fed = true;
                        self.feed(chunk, data.as_mut()).await;
                    }
                    Event::DataEnd { size } => {
                        debug!(size, "message received");
                        let result = match self.finish(true, data.as_mut()).await {
                            Ok(Verdict::One(decision)) => self.session.decide_all(decision),
                            Ok(Verdict::Each(decisions)) => self.session.decide_each(decisions),
                            Err(e) => self.failed(e),
                        };
                        misfit(result);
                    }
                    Event::DataAborted { reason } => {
                        debug!(?reason, "message abandoned");
                        drop(self.finish(false, data.as_mut()).await);
                    }
                    event => self.event(event).await,
                }
            }
            progressed |= self.transmit().await?;
            if self.session.is_closed() {
                return Ok(Step::Closed);
            }
            if starttls {
                return Ok(Step::StartTls);
            }
            let Some(timer) = self.session.poll_timeout() else {
                return Ok(Step::Closed);
            };
            if !self.session.wants_read() {
                if progressed {
                    continue; // complete commands still buffered: parse them first
                }
                // Nothing to parse and no reading wanted (early input held during the greeting
                // delay): wait out the timer.
                tokio::time::sleep(timer.after).await;
                self.session.handle_timeout(timer.kind);
                continue;
            }
            let idle = !self.session.in_transaction();
            if fed {
                // The chunks share the read buffer: once the handler has taken (and most
                // likely dropped) them, the next read reuses its memory instead of a new one.
                self.poll_data_once(data.as_mut()).await;
            }
            let receiving = data.is_some();
            // The timer is moved earlier only: one set for an earlier read may fire first, and
            // is then set again (cheaper than resetting it for every read).
            self.buf.reserve(self.read_size);
            let due = Instant::now() + timer.after;
            if due < self.timer.deadline() {
                self.timer.as_mut().reset(due);
                self.timer_armed = false;
            }
            let woke = loop {
                // Biased: the read first, which is what is ready most often, and without a
                // random draw per read.
                let woke = tokio::select! {
                    biased;
                    read = poll_fn(|cx| self.io.poll_read_buf(cx, &mut self.buf)) => Woke::Read(read),
                    output = poll_fn(|cx| match data.as_mut().as_pin_mut() {
                        Some(fut) => poll_caught(fut, cx),
                        None => Poll::Pending,
                    }), if receiving => Woke::Data(output),
                    () = poll_fn(|cx| poll_timer(&mut self.timer, &mut self.timer_armed, cx)) => {
                        Woke::Timer
                    }
                    // No waker of its own: the shutdown wakes this task through the deadline
                    // future of `serve`, which waits for the same change.
                    () = poll_fn(|_| match self.stopping.has_changed() {
                        Ok(true) => Poll::Ready(()),
                        _ => Poll::Pending,
                    }), if idle => Woke::Stop,
                };
                match woke {
                    Woke::Timer if Instant::now() < due => {
                        self.timer.as_mut().reset(due);
                        self.timer_armed = false;
                    }
                    woke => break woke,
                }
            };
            match woke {
                Woke::Read(Ok(0)) => self.session.handle_eof(),
                Woke::Read(Ok(n)) => {
                    self.trace_input(&self.buf);
                    self.session.handle_input_buf(&mut self.buf);
                    if n >= self.read_size && self.read_size < READ_BUFFER_MAX {
                        self.read_size = (self.read_size * 4).min(READ_BUFFER_MAX);
                    }
                }
                Woke::Read(Err(e)) => {
                    debug!(error = %e, "read failed");
                    self.session.handle_eof();
                }
                Woke::Data(output) => {
                    data.set(None);
                    self.data_done(output);
                }
                Woke::Timer => {
                    debug!(kind = ?timer.kind, "timeout");
                    self.session.handle_timeout(timer.kind);
                }
                Woke::Stop => {
                    debug!("shutting down: closing idle connection");
                    self.goodbye().await?;
                    return Ok(Step::Closed);
                }
            }
        }
    }

    async fn event(&mut self, event: Event) {
        if let Event::Closed(reason) = event {
            return debug!(?reason, "session over");
        }
        // Without a handler (it is away in a data future, or gone after a panic), the core
        // sends nothing that needs one; should a newer core do so, it gets a local error.
        let verdict = match (event, &mut self.handler) {
            (Event::Hello { domain, esmtp }, Some(h)) => h.helo(domain.as_str(), esmtp).await,
            (
                Event::Auth {
                    mechanism,
                    credentials,
                },
                Some(h),
            ) => h.auth(mechanism.as_str(), &credentials).await,
            (Event::AuthResponse { response }, Some(h)) => h.auth_response(&response).await,
            (Event::MailFrom { from, params }, Some(h)) => h.mail(&from, &params).await,
            (Event::RcptTo { to, params }, Some(h)) => h.rcpt(&to, &params).await,
            (Event::Reset, Some(h)) => return h.reset().await,
            (event, _) if event.needs_decision() => Err("no handler for this event".into()),
            _ => return,
        };
        let result = match verdict {
            Ok(decision) => self.session.decide(decision),
            Err(e) => self.failed(e),
        };
        misfit(result);
    }

    /// The handler returned an error: the core answers with the local error that fits.
    fn failed(&mut self, e: Error) -> Result<(), UsageError> {
        warn!(error = %e, "handler failed");
        self.session.fail()
    }

    /// Queues a chunk of the body. While the queue is full, polls the handler's `data` future
    /// (if the body is read elsewhere, waits to be woken): the socket is read only as fast as
    /// the body is.
    async fn feed<F>(&mut self, chunk: Bytes, mut data: Pin<&mut Option<F>>)
    where
        F: Future<Output = (H, Result<Verdict, Error>)>,
    {
        let mut chunk = Some(chunk);
        poll_fn(|cx| {
            if self.body.poll_send(cx, &mut chunk).is_ready() {
                return Poll::Ready(());
            }
            let Some(fut) = data.as_mut().as_pin_mut() else {
                return Poll::Pending; // the body lives on elsewhere: it wakes us
            };
            if let Poll::Ready(output) = poll_caught(fut, cx) {
                data.set(None);
                self.data_done(output);
            }
            self.body.poll_send(cx, &mut chunk)
        })
        .await;
    }

    /// Polls the handler's `data` future once, without waiting.
    async fn poll_data_once<F>(&mut self, mut data: Pin<&mut Option<F>>)
    where
        F: Future<Output = (H, Result<Verdict, Error>)>,
    {
        let Some(fut) = data.as_mut().as_pin_mut() else {
            return;
        };
        let mut fut = Some(fut);
        let polled = poll_fn(|cx| Poll::Ready(fut.take().map(|f| poll_caught(f, cx)))).await;
        if let Some(Poll::Ready(output)) = polled {
            data.set(None);
            self.data_done(output);
        }
    }

    /// Ends the body (complete, or abandoned: reads fail) and waits for the handler's verdict.
    async fn finish<F>(
        &mut self,
        complete: bool,
        mut data: Pin<&mut Option<F>>,
    ) -> Result<Verdict, Error>
    where
        F: Future<Output = (H, Result<Verdict, Error>)>,
    {
        let mut ended = false;
        poll_fn(|cx| {
            if !ended {
                self.body.end(complete, cx.waker());
                ended = true;
            }
            if let Some(fut) = data.as_mut().as_pin_mut() {
                let output = ready!(poll_caught(fut, cx));
                data.set(None);
                self.data_done(output);
            }
            Poll::Ready(())
        })
        .await;
        self.verdict
            .take()
            .unwrap_or_else(|| Err("no handler for this message".into()))
    }

    /// The handler's `data` future is done: takes the handler back and keeps its verdict for
    /// the end of the message.
    fn data_done(&mut self, output: DataOutput<H>) {
        self.verdict = Some(match output {
            Ok((handler, verdict)) => {
                self.handler = Some(handler);
                verdict
            }
            Err(panic) => {
                // The handler is gone: close the connection.
                tracing::error!(panic = panic_message(&*panic), "handler panicked in data");
                Ok(Verdict::One(Decision::Reject(Reply::CONNECT_LOCAL_ERROR)))
            }
        });
    }

    /// Writes the replies the core has ready, bounded by the command timeout. Returns
    /// whether there were any.
    async fn transmit(&mut self) -> io::Result<bool> {
        let limit = self.shared.config.timeouts.command;
        let mut wrote = false;
        while let Some(bytes) = self.session.poll_transmit() {
            self.trace_output(&bytes);
            // Most replies fit in the socket's buffer at once: one `send`, no future.
            let sent = self.io.try_write_tcp(&bytes)?;
            if sent < bytes.len() {
                timed(limit, self.io.write_all(&bytes[sent..])).await?;
            }
            wrote = true;
        }
        if wrote && !matches!(self.io, Stream::Tcp(_)) {
            timed(limit, self.io.flush()).await?;
        }
        Ok(wrote)
    }

    /// Closes with `421 4.3.0` at shutdown ([`Session::shutdown`]): the loop is between
    /// replies, or gone. A message in flight is abandoned (its body's reads fail).
    async fn goodbye(&mut self) -> io::Result<()> {
        let waker = std::task::Waker::noop();
        self.body.end(false, waker);
        let bye = self.shared.config.host_reply(&Reply::SHUTTING_DOWN);
        self.session.shutdown(bye);
        timed(GOODBYE_WRITE, async {
            while let Some(bytes) = self.session.poll_transmit() {
                self.trace_output(&bytes);
                self.io.write_all(&bytes).await?;
            }
            self.io.shutdown().await
        })
        .await
    }

    /// The protocol trace at `trace` level, AUTH masked ([`smtp_proto::trace`]).
    fn trace_input(&self, input: &[u8]) {
        if tracing::enabled!(tracing::Level::TRACE) {
            self.session
                .trace_input(input)
                .for_each(|l| trace!("C: {l}"));
        }
    }

    fn trace_output(&self, bytes: &[u8]) {
        if tracing::enabled!(tracing::Level::TRACE) {
            smtp_proto::trace::trace_output(bytes).for_each(|l| trace!("S: {l}"));
        }
    }
}

/// Polls the connection's timer, or not: once it has been polled (with budget to spare, so
/// that it registered this task's waker) after it was last set, it wakes the task when it
/// fires, and only then needs another poll. The task is woken far more often by the socket
/// than by the timer, and a poll of the timer costs more than a look at whether it fired.
fn poll_timer(timer: &mut Pin<&mut Sleep>, armed: &mut bool, cx: &mut Context<'_>) -> Poll<()> {
    if *armed && !timer.is_elapsed() {
        return Poll::Pending;
    }
    // Out of budget, the poll is refused before the timer registers the waker.
    *armed = tokio::task::coop::has_budget_remaining();
    timer.as_mut().poll(cx)
}

/// Logs a handler's answer that did not fit the event (the core answered it with a local
/// error instead).
fn misfit(result: Result<(), UsageError>) {
    if let Err(e) = result {
        warn!(error = %e, "the handler's answer does not fit the event");
    }
}

/// `f`, or a `TimedOut` error after `limit`. Most writes complete at once: they are tried
/// once before a timer is made for them.
async fn timed<T>(limit: Duration, f: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    let mut f = pin!(f);
    if let Poll::Ready(done) = poll_fn(|cx| Poll::Ready(f.as_mut().poll(cx))).await {
        return done;
    }
    timeout(limit, f)
        .await
        .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
}

/// Completes at the shutdown deadline. Polled whenever its connection's task is, it is also
/// what wakes the task when the shutdown starts (see `drive`).
///
/// Until the shutdown starts, a poll with the waker it already registered costs one atomic
/// load, not a poll of the `watch` channel's notification.
async fn shutdown_deadline(stopping: watch::Receiver<Option<Instant>>) {
    let started = stopping.clone();
    let mut wait = pin!(wait_deadline(stopping));
    let mut registered: Option<Waker> = None;
    poll_fn(|cx| {
        let same = registered.as_ref().is_some_and(|w| w.will_wake(cx.waker()));
        if same && !matches!(started.has_changed(), Ok(true)) {
            return Poll::Pending;
        }
        if !same {
            registered = Some(cx.waker().clone());
        }
        wait.as_mut().poll(cx)
    })
    .await
}

async fn wait_deadline(mut stopping: watch::Receiver<Option<Instant>>) {
    let deadline = stopping.wait_for(Option::is_some).await.map(|d| *d);
    match deadline {
        Ok(deadline) => sleep_until(deadline.unwrap_or_else(Instant::now)).await,
        Err(_) => pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads the body and accepts, like the least handler of the benchmarks.
    #[derive(Clone)]
    struct Sink;

    impl Handler for Sink {
        async fn data(&mut self, mut body: Body) -> Result<Decision, Error> {
            while body.chunk().await?.is_some() {}
            Ok(Decision::Accept)
        }
    }

    /// Every connection's task holds its whole future, idle or not (issue 8 holds 10,000
    /// idle connections): the handler's data future lives in it, and the TLS handshake's
    /// state must not (3,880 octets before the data future moved in; 3,504 with it and the
    /// boxed handshake, Rust 1.95).
    #[test]
    fn a_connection_task_stays_small() {
        let shared = Arc::new(Shared {
            config: Arc::new(Config::default()),
            tls: None,
            proxy: None,
        });
        let (_stop, stopping) = watch::channel(None);
        let any = ([0, 0, 0, 0], 0).into();
        let accepted = Accepted {
            io: Stream::Other(Box::new(tokio::io::duplex(1).0)),
            info: ConnInfo::new(any, any),
            implicit_tls: false,
        };
        let connection = serve(shared, accepted, Some(Sink), stopping);
        let size = std::mem::size_of_val(&connection);
        assert!(size <= 4096, "{size} octets");
    }
}

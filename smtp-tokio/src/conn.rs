//! One connection: the drive loop over the core, the same for plain and TLS streams.

use crate::body::{Body, Piece};
use crate::{ConnInfo, Error, Handler, TlsInfo};
use bytes::BytesMut;
use smtp_proto::{Config, Decision, EnhancedCode, Event, Reply, Session};
use std::future::{pending, Future};
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, timeout, Instant};
use tokio_rustls::TlsAcceptor;
use tracing::{debug, trace, warn, Instrument};

/// What the connections of a server share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub config: Arc<Config>,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// `421 4.3.0`, for graceful shutdown.
    pub shutdown: Reply,
    /// `421 4.3.2`, beyond the connection cap.
    pub busy: Reply,
}

/// Any stream the loop can drive: TCP, then TLS over it after STARTTLS.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Body pieces queued between the socket and a handler that reads slowly: with 16 KiB
/// reads, at most 64 KiB of body per connection waits in memory.
const BODY_QUEUE: usize = 4;
const READ_BUFFER: usize = 16 << 10;
/// The longest wait for the goodbye `421` to leave at shutdown.
const GOODBYE_WRITE: Duration = Duration::from_secs(5);

/// While a handler's `data` runs, it owns the handler; the loop gets it back at the end.
struct DataTask<H> {
    /// `None` once the handler dropped its body: the rest of the message is drained.
    tx: Option<mpsc::Sender<Piece>>,
    join: JoinHandle<(H, Result<Decision, Error>)>,
}

impl<H> Drop for DataTask<H> {
    fn drop(&mut self) {
        // Only reached unfinished when the connection is torn down (shutdown deadline).
        self.join.abort();
    }
}

enum Step {
    Closed,
    StartTls,
}

struct Conn<H> {
    shared: Arc<Shared>,
    info: ConnInfo,
    session: Session,
    io: Box<dyn Io>,
    buf: Box<[u8]>,
    /// `None` while a data task holds it.
    handler: Option<H>,
    data: Option<DataTask<H>>,
    /// A MAIL was accepted and the transaction is not over.
    in_tx: bool,
    /// Between DataStart and its end: input is message data (logged by size only).
    in_body: bool,
    stopping: watch::Receiver<Option<Instant>>,
}

/// Serves one accepted connection to the end. Without a handler (over the connection cap),
/// answers `421 4.3.2` and closes.
pub(crate) async fn serve<H: Handler>(
    shared: Arc<Shared>,
    tcp: TcpStream,
    implicit_tls: bool,
    handler: Option<H>,
    stopping: watch::Receiver<Option<Instant>>,
) {
    let (Ok(peer), Ok(local)) = (tcp.peer_addr(), tcp.local_addr()) else {
        return;
    };
    let _ = tcp.set_nodelay(true);
    let span = tracing::info_span!("smtp", %peer, tls = tracing::field::Empty);
    let session = Session::new(Arc::clone(&shared.config));
    let mut conn = Conn {
        shared,
        info: ConnInfo {
            peer,
            local,
            tls: None,
        },
        session,
        io: Box::new(tcp),
        buf: vec![0; READ_BUFFER].into_boxed_slice(),
        handler,
        data: None,
        in_tx: false,
        in_body: false,
        stopping: stopping.clone(),
    };
    let mut deadline = stopping;
    async move {
        debug!("connected");
        let result = tokio::select! {
            r = conn.run(implicit_tls) => r,
            () = shutdown_deadline(&mut deadline) => {
                debug!("shutdown deadline: closing");
                conn.goodbye().await
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

impl<H: Handler> Conn<H> {
    async fn run(&mut self, implicit_tls: bool) -> io::Result<()> {
        if implicit_tls {
            if self.handler.is_none() {
                // Over the cap: a 421 would first cost a handshake. Just close.
                return Ok(());
            }
            self.handshake().await?;
        }
        self.open().await;
        loop {
            match self.drive().await? {
                Step::Closed => break,
                Step::StartTls => {
                    let info = self.handshake().await?;
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

    /// Asks the handler about the new connection, and refuses it if told to (or if over the
    /// connection cap: no handler).
    async fn open(&mut self) {
        let config = Arc::clone(&self.shared.config);
        let verdict = match &mut self.handler {
            None => Ok(Decision::Reject(self.shared.busy.clone())),
            Some(handler) => handler.connect(&self.info).await,
        };
        self.session = match verdict {
            Ok(Decision::Reject(reply)) if !reply.is_positive() => Session::refuse(config, reply),
            Ok(_) if self.info.tls.is_some() => Session::new_implicit_tls(config),
            Ok(_) => Session::new(config),
            Err(e) => {
                warn!(error = %e, "handler failed at connect");
                Session::refuse(config, error_reply(421))
            }
        };
    }

    /// The loop of the core's call order: events, then replies, then close or read.
    async fn drive(&mut self) -> io::Result<Step> {
        loop {
            let mut starttls = false;
            let mut progressed = false;
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
            let idle = !self.in_tx;
            tokio::select! {
                read = timeout(timer.after, self.io.read(&mut self.buf)) => match read {
                    Ok(Ok(0)) => self.session.handle_eof(),
                    Ok(Ok(n)) => {
                        self.trace_input(n);
                        self.session.handle_input(&self.buf[..n]);
                    }
                    Ok(Err(e)) => {
                        debug!(error = %e, "read failed");
                        self.session.handle_eof();
                    }
                    Err(_) => {
                        debug!(kind = ?timer.kind, "timeout");
                        self.session.handle_timeout(timer.kind);
                    }
                },
                () = shutdown_when_idle(&mut self.stopping, idle) => {
                    debug!("shutting down: closing idle connection");
                    self.goodbye().await?;
                    return Ok(Step::Closed);
                }
            }
        }
    }

    async fn event(&mut self, event: Event) {
        match event {
            Event::Hello { domain, esmtp } => {
                let verdict = match &mut self.handler {
                    Some(h) => h.helo(domain.as_str(), esmtp).await,
                    None => Ok(busy()),
                };
                self.decide(verdict, 451);
            }
            Event::Auth {
                mechanism,
                credentials,
            } => {
                let verdict = match &mut self.handler {
                    Some(h) => h.auth(mechanism.as_str(), &credentials).await,
                    None => Ok(busy()),
                };
                self.decide(verdict, 454);
            }
            Event::AuthResponse { response } => {
                let verdict = match &mut self.handler {
                    Some(h) => h.auth_response(&response).await,
                    None => Ok(busy()),
                };
                self.decide(verdict, 454);
            }
            Event::MailFrom { from, params } => {
                let verdict = match &mut self.handler {
                    Some(h) => h.mail(&from, &params).await,
                    None => Ok(busy()),
                };
                self.in_tx = self.decide(verdict, 451);
            }
            Event::RcptTo { to, params } => {
                let verdict = match &mut self.handler {
                    Some(h) => h.rcpt(&to, &params).await,
                    // RCPT between two BDAT chunks, while `data` runs.
                    None => Ok(busy()),
                };
                self.decide(verdict, 451);
            }
            Event::DataStart => self.start_data(),
            Event::DataChunk(chunk) => self.feed(Piece::Chunk(chunk)).await,
            Event::DataEnd { size } => {
                debug!(size, "message received");
                self.feed(Piece::End).await;
                let verdict = self.finish_data().await;
                self.in_tx = false;
                self.decide(verdict, 554);
            }
            Event::DataAborted { reason } => {
                debug!(?reason, "message abandoned");
                self.finish_data().await.ok();
                self.reset().await;
            }
            Event::Reset => self.reset().await,
            Event::Closed(reason) => debug!(?reason, "session over"),
            // An event of a newer core that this adapter cannot ask the handler about: refuse
            // it rather than leave the session waiting for a decision.
            event if event.needs_decision() => {
                let reply = Reply::new(502, EnhancedCode::new(5, 5, 1), "Command not implemented");
                self.decide(
                    Ok(Decision::Reject(reply.expect("a valid canned reply"))),
                    451,
                );
            }
            _ => {}
        }
    }

    /// Answers the pending event with the handler's verdict; a failure, or a reply of the
    /// wrong class, becomes `fallback` (451 or 554). Returns whether it accepted.
    fn decide(&mut self, verdict: Result<Decision, Error>, fallback: u16) -> bool {
        let decision = verdict.unwrap_or_else(|e| {
            warn!(error = %e, "handler failed");
            Decision::Reject(error_reply(fallback))
        });
        let accepted = matches!(decision, Decision::Accept | Decision::AcceptWith(_));
        if let Err(e) = self.session.decide(decision.clone()) {
            warn!(error = %e, "handler answered with a reply of the wrong class");
            let _ = self.session.decide(Decision::Reject(error_reply(fallback)));
            return false;
        }
        // LMTP: one reply per accepted recipient (RFC 2033 4.2), all with the data verdict.
        while self.session.pending_decisions() > 0 {
            if self.session.decide(decision.clone()).is_err() {
                break;
            }
        }
        accepted
    }

    /// Starts the handler's `data` on a task of its own, fed through a bounded channel: the
    /// loop blocks on a full channel, so the socket is read only as fast as the body is.
    fn start_data(&mut self) {
        self.in_body = true;
        let Some(mut handler) = self.handler.take() else {
            return;
        };
        let (tx, body) = Body::channel(BODY_QUEUE);
        let join = tokio::spawn(
            async move {
                let verdict = handler.data(body).await;
                (handler, verdict)
            }
            .in_current_span(),
        );
        self.data = Some(DataTask { tx: Some(tx), join });
    }

    async fn feed(&mut self, piece: Piece) {
        let Some(task) = &mut self.data else { return };
        if let Some(tx) = &task.tx {
            if tx.send(piece).await.is_err() {
                debug!("handler stopped reading the body: draining the rest");
                task.tx = None;
            }
        }
    }

    /// Ends the body (closing the channel: after `Piece::End` a clean end, without it an
    /// abandoned body) and takes the handler back with its verdict.
    async fn finish_data(&mut self) -> Result<Decision, Error> {
        self.in_body = false;
        let Some(mut task) = self.data.take() else {
            return Err("no handler for this message".into());
        };
        task.tx = None;
        match (&mut task.join).await {
            Ok((handler, verdict)) => {
                self.handler = Some(handler);
                verdict
            }
            Err(e) => {
                // The handler panicked and is gone: close the connection.
                tracing::error!(error = %e, "handler task failed");
                Ok(Decision::Reject(error_reply(421)))
            }
        }
    }

    async fn reset(&mut self) {
        if std::mem::take(&mut self.in_tx) {
            if let Some(handler) = &mut self.handler {
                handler.reset().await;
            }
        }
    }

    /// Writes the replies the core has ready, bounded by the command timeout. Returns
    /// whether there were any.
    async fn transmit(&mut self) -> io::Result<bool> {
        let limit = self.shared.config.timeouts.command;
        let mut wrote = false;
        while let Some(bytes) = self.session.poll_transmit() {
            self.trace_output(&bytes);
            timed(limit, self.io.write_all(&bytes)).await?;
            wrote = true;
        }
        if wrote {
            timed(limit, self.io.flush()).await?;
        }
        Ok(wrote)
    }

    /// The TLS handshake on the current stream (implicit TLS, or after STARTTLS), bounded by
    /// the handshake timeout.
    async fn handshake(&mut self) -> io::Result<TlsInfo> {
        let acceptor =
            TlsAcceptor::from(self.shared.tls.clone().ok_or(io::ErrorKind::Unsupported)?);
        let after = self.shared.config.timeouts.tls_handshake;
        let plain = std::mem::replace(&mut self.io, Box::new(tokio::io::duplex(1).0));
        let tls = timed(after, acceptor.accept(plain)).await?;
        let info = TlsInfo::of(tls.get_ref().1);
        tracing::Span::current().record("tls", tracing::field::display(&info));
        debug!(%info, "TLS established");
        self.info.tls = Some(info.clone());
        self.io = Box::new(tls);
        Ok(info)
    }

    /// Closes with `421 4.3.0` at shutdown, outside the core (which has no such input): the
    /// loop is between replies, or gone. A message in flight is abandoned.
    async fn goodbye(&mut self) -> io::Result<()> {
        self.data = None;
        let mut out = BytesMut::new();
        let enhanced = self.shared.config.extensions.enhanced_status_codes;
        self.shared.shutdown.encode(&mut out, enhanced);
        self.trace_output(&out);
        timed(GOODBYE_WRITE, async {
            self.io.write_all(&out).await?;
            self.io.shutdown().await
        })
        .await
    }

    fn trace_input(&self, n: usize) {
        if !tracing::enabled!(tracing::Level::TRACE) {
            return;
        }
        if self.in_body {
            return trace!("C: [{n} octets of message data]");
        }
        let secret = self.session.expects_secret();
        for line in self.buf[..n].split_inclusive(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\n").unwrap_or(line);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if secret {
                trace!("C: ***"); // a SASL response after 334
            } else if line.len() > 5 && line[..5].eq_ignore_ascii_case(b"AUTH ") {
                // AUTH mechanism [initial-response]: keep the mechanism only.
                let mechanism = line[5..].split(|&b| b == b' ').next().unwrap_or_default();
                trace!("C: AUTH {} ***", mechanism.escape_ascii());
            } else {
                trace!("C: {}", line.escape_ascii());
            }
        }
    }

    fn trace_output(&self, bytes: &[u8]) {
        if !tracing::enabled!(tracing::Level::TRACE) {
            return;
        }
        for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            trace!("S: {}", line.escape_ascii());
        }
    }
}

/// `f`, or a `TimedOut` error after `limit`.
async fn timed<T>(limit: Duration, f: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    timeout(limit, f)
        .await
        .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
}

/// Completes when the server is shutting down and the connection has no transaction.
async fn shutdown_when_idle(stopping: &mut watch::Receiver<Option<Instant>>, idle: bool) {
    if !idle || stopping.wait_for(Option::is_some).await.is_err() {
        pending::<()>().await;
    }
}

/// Completes at the shutdown deadline.
async fn shutdown_deadline(stopping: &mut watch::Receiver<Option<Instant>>) {
    let deadline = stopping.wait_for(Option::is_some).await.map(|d| *d);
    match deadline {
        Ok(deadline) => sleep_until(deadline.unwrap_or_else(Instant::now)).await,
        Err(_) => pending().await,
    }
}

/// The reply standing in for a handler that failed: `451 4.3.0`, `554 5.3.0` (after data),
/// `454 4.7.0` (AUTH) or `421 4.3.0` (closing).
fn error_reply(code: u16) -> Reply {
    let (enhanced, text) = match code {
        554 => ((5, 3, 0), "Transaction failed: local error"),
        454 => ((4, 7, 0), "Temporary authentication failure"),
        421 => ((4, 3, 0), "Local error, closing connection"),
        _ => ((4, 3, 0), "Local error in processing, try again later"),
    };
    let enhanced = EnhancedCode::new(enhanced.0, enhanced.1, enhanced.2);
    Reply::new(code, enhanced, text).expect("a valid canned reply")
}

/// The answer to a command that comes while the handler is busy with a message body (RCPT
/// between BDAT chunks): `503 5.5.1`.
fn busy() -> Decision {
    let reply = Reply::new(503, EnhancedCode::new(5, 5, 1), "Bad sequence of commands");
    Decision::Reject(reply.expect("a valid canned reply"))
}

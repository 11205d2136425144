//! [`Body`]: the message body as a stream, with backpressure.

use bytes::{Buf, Bytes, BytesMut};
use smtp_proto::mime::{BodyEvent, MessageParser, MimeConfig};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{ready, Context, Poll, Waker};
use tokio::io::{AsyncRead, ReadBuf};

/// Body chunks queued between the socket and a handler that reads slowly: with 16 KiB reads,
/// at most 64 KiB of body per connection waits in memory.
const QUEUE: usize = 4;

/// Where a body's chunks wait between the connection and the [`Body`]: one per connection,
/// reused for each message once the previous body is gone (most handlers drop it before they
/// answer), so a message costs no allocation here.
#[derive(Debug, Default)]
struct Slot {
    chunks: VecDeque<Bytes>,
    end: End,
    /// The body was dropped: chunks are thrown away.
    dropped: bool,
    /// The body waits for a chunk.
    reader: Option<Waker>,
    /// The connection waits for room in `chunks`.
    writer: Option<Waker>,
}

/// How the body ends, as far as the connection has said.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum End {
    /// More may come.
    #[default]
    Open,
    /// The message is complete.
    Complete,
    /// The message was abandoned before its end.
    Abandoned,
}

fn lock(slot: &Mutex<Slot>) -> MutexGuard<'_, Slot> {
    // Nothing panics while the lock is held (wakers are woken after it), but if something did
    // the slot would still be consistent.
    slot.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Wakes `waker` unless it is the current task's: the connection and a handler polled by it
/// share a task, and each looks at the slot again after polling the other, so waking itself
/// would only schedule a useless extra poll.
fn wake_other(waker: Option<Waker>, current: &Waker) {
    if let Some(waker) = waker {
        if !waker.will_wake(current) {
            waker.wake();
        }
    }
}

/// The connection's end of the message bodies: it queues the chunks of the message in progress
/// and says how it ended.
#[derive(Debug, Default)]
pub(crate) struct BodySender {
    /// Allocated at the first message.
    slot: Option<Arc<Mutex<Slot>>>,
    /// A body is being fed.
    open: bool,
    /// Its reader dropped it: what is left is thrown away.
    draining: bool,
}

impl BodySender {
    /// The body of a new message.
    pub fn start(&mut self) -> Body {
        let fresh = || {
            Arc::new(Mutex::new(Slot {
                chunks: VecDeque::with_capacity(QUEUE),
                ..Slot::default()
            }))
        };
        let slot = self.slot.get_or_insert_with(fresh);
        match Arc::get_mut(slot) {
            // The previous body is gone (and no new reference to the slot can appear): reuse it.
            Some(only) => {
                let s = only.get_mut().unwrap_or_else(PoisonError::into_inner);
                s.chunks.clear();
                s.end = End::Open;
                s.dropped = false;
                s.reader = None;
                s.writer = None;
            }
            // A handler kept the previous body (in another task, say): a slot of its own.
            None => *slot = fresh(),
        }
        self.open = true;
        self.draining = false;
        Body {
            slot: Arc::clone(slot),
            current: Bytes::new(),
        }
    }

    /// Queues `chunk` (taking it) if there is room, throws it away if the body was dropped or
    /// no body is being fed; else keeps it and registers the task to be woken when there is
    /// room.
    pub fn poll_send(&mut self, cx: &mut Context<'_>, chunk: &mut Option<Bytes>) -> Poll<()> {
        let Some(slot) = self.slot.as_ref().filter(|_| self.open) else {
            *chunk = None;
            return Poll::Ready(());
        };
        let mut s = lock(slot);
        if s.dropped {
            if chunk.take().is_some() && !std::mem::replace(&mut self.draining, true) {
                tracing::debug!("handler stopped reading the body: draining the rest");
            }
            return Poll::Ready(());
        }
        if s.chunks.len() >= QUEUE {
            if !s.writer.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                s.writer = Some(cx.waker().clone());
            }
            return Poll::Pending;
        }
        if let Some(chunk) = chunk.take() {
            s.chunks.push_back(chunk);
        }
        let reader = s.reader.take();
        drop(s);
        wake_other(reader, cx.waker());
        Poll::Ready(())
    }

    /// Ends the body being fed: complete, or abandoned (reads fail). `current` is the waker of
    /// the calling task.
    pub fn end(&mut self, complete: bool, current: &Waker) {
        if !std::mem::take(&mut self.open) {
            return;
        }
        let Some(slot) = &self.slot else { return };
        let mut s = lock(slot);
        s.end = match complete {
            true => End::Complete,
            false => End::Abandoned,
        };
        let reader = s.reader.take();
        drop(s);
        wake_other(reader, current);
    }
}

impl Drop for BodySender {
    /// The connection is gone: a body still being fed (a handler may have moved it to another
    /// task) was abandoned.
    fn drop(&mut self) {
        if !self.open {
            return;
        }
        if let Some(slot) = &self.slot {
            let mut s = lock(slot);
            s.end = End::Abandoned;
            let reader = s.reader.take();
            drop(s);
            if let Some(reader) = reader {
                reader.wake();
            }
        }
    }
}

/// The body of one message, as the client sends it (dot-unstuffed, CRLF line endings), handed
/// to [`Handler::data`](crate::Handler::data).
///
/// Read it as an [`AsyncRead`] or chunk by chunk with [`chunk`](Self::chunk). The connection
/// reads the socket only as fast as the body is read: a handler that stores slowly slows the
/// client down instead of filling memory. A handler may stop reading (drop the body) at any
/// time; the rest of the message is then read and thrown away.
///
/// If the message does not complete (the client disconnects, times out, or the message breaks
/// a limit), reading fails with [`io::ErrorKind::UnexpectedEof`] and the handler's answer is
/// not used: the session has already answered the client.
///
/// The handler's [`data`](crate::Handler::data) runs in the connection's task, polled between
/// reads of the socket; the body may still be moved to another task (or to
/// `spawn_blocking` through a runtime handle) and read there.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use tokio::io::AsyncReadExt;
/// let mut body = smtp_tokio::Body::from_bytes("Subject: hi\r\n\r\nHello\r\n");
/// let mut text = String::new();
/// body.read_to_string(&mut text).await?;
/// assert_eq!(text, "Subject: hi\r\n\r\nHello\r\n");
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Body {
    slot: Arc<Mutex<Slot>>,
    /// What is left of a chunk [`AsyncRead`] read in part.
    current: Bytes,
}

impl Body {
    /// A complete body holding `bytes`: for testing a [`Handler`](crate::Handler).
    pub fn from_bytes(bytes: impl Into<Bytes>) -> Body {
        let bytes = bytes.into();
        let slot = Slot {
            chunks: VecDeque::from([bytes]),
            end: End::Complete,
            ..Slot::default()
        };
        Body {
            slot: Arc::new(Mutex::new(slot)),
            current: Bytes::new(),
        }
    }

    /// The next chunk of the body, `None` at its end. Chunks are never empty.
    pub async fn chunk(&mut self) -> io::Result<Option<Bytes>> {
        poll_fn(|cx| self.poll_chunk(cx)).await
    }

    /// Reads the whole body into memory. It is at most
    /// [`Config::max_message_size`](smtp_proto::Config) octets long.
    pub async fn to_bytes(mut self) -> io::Result<Bytes> {
        let Some(first) = self.chunk().await? else {
            return Ok(Bytes::new());
        };
        let Some(second) = self.chunk().await? else {
            return Ok(first);
        };
        let mut all = BytesMut::from(&first[..]);
        all.extend_from_slice(&second);
        while let Some(chunk) = self.chunk().await? {
            all.extend_from_slice(&chunk);
        }
        Ok(all.freeze())
    }

    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<Bytes>>> {
        if !self.current.is_empty() {
            return Poll::Ready(Ok(Some(std::mem::take(&mut self.current))));
        }
        let mut s = lock(&self.slot);
        while let Some(chunk) = s.chunks.pop_front() {
            if chunk.is_empty() {
                continue;
            }
            let writer = s.writer.take();
            drop(s);
            wake_other(writer, cx.waker());
            return Poll::Ready(Ok(Some(chunk)));
        }
        match s.end {
            End::Complete => Poll::Ready(Ok(None)),
            End::Abandoned => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the message was abandoned before its end",
            ))),
            End::Open => {
                if !s.reader.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    s.reader = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}

impl Drop for Body {
    /// The handler stopped reading: the connection throws the rest away instead of waiting.
    fn drop(&mut self) {
        let mut s = lock(&self.slot);
        s.dropped = true;
        s.chunks.clear();
        s.reader = None;
        let writer = s.writer.take();
        drop(s);
        if let Some(writer) = writer {
            writer.wake();
        }
    }
}

impl AsyncRead for Body {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.current.is_empty() {
            match ready!(this.poll_chunk(cx))? {
                Some(chunk) => this.current = chunk,
                None => return Poll::Ready(Ok(())),
            }
        }
        let n = this.current.len().min(buf.remaining());
        buf.put_slice(&this.current[..n]);
        this.current.advance(n);
        Poll::Ready(Ok(()))
    }
}

/// The message [`Body`] parsed as it streams ([`Body::parsed`]): the
/// [`smtp_proto::mime::Parser`] wired to the body, in constant memory.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use smtp_tokio::proto::mime::{MimeConfig, MimeEvent};
/// use smtp_tokio::{Body, BodyEvent};
/// let body = Body::from_bytes("From: a@example.org\r\nSubject: hi\r\n\r\nHello\r\n");
/// let mut parsed = body.parsed(MimeConfig::default());
/// let mut text = Vec::new();
/// let mut violations = None;
/// while let Some(event) = parsed.next().await? {
///     match event {
///         BodyEvent::Mime(MimeEvent::Body(bytes)) => text.extend_from_slice(&bytes),
///         BodyEvent::Headers(v) => violations = Some(v),
///         _ => {}
///     }
/// }
/// assert_eq!(text, b"Hello\r\n");
/// assert!(!violations.unwrap().is_empty()); // no Date field
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ParsedBody {
    body: Body,
    parser: MessageParser,
    finished: bool,
}

impl Body {
    /// This body as MIME events ([`ParsedBody`]) instead of raw octets.
    pub fn parsed(self, config: MimeConfig) -> ParsedBody {
        ParsedBody {
            body: self,
            parser: MessageParser::new(config),
            finished: false,
        }
    }
}

impl ParsedBody {
    /// Also yield the raw octets ([`BodyEvent::Raw`]), to store the message as it came while
    /// looking at its structure.
    pub fn with_raw(mut self, raw: bool) -> ParsedBody {
        self.parser = self.parser.with_raw(raw);
        self
    }

    /// The next event, `None` after the last. Fails like [`Body::chunk`] if the message was
    /// abandoned.
    pub async fn next(&mut self) -> io::Result<Option<BodyEvent>> {
        loop {
            if let Some(event) = self.parser.poll_event() {
                return Ok(Some(event));
            }
            if self.finished {
                return Ok(None);
            }
            match self.body.chunk().await? {
                Some(chunk) => self.parser.feed(chunk),
                None => {
                    self.parser.finish();
                    self.finished = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    /// A waker that counts its wake-ups.
    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counter() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count::default());
        (Arc::clone(&count), Waker::from(count))
    }

    fn send(tx: &mut BodySender, waker: &Waker, bytes: &'static [u8]) -> Poll<()> {
        let mut chunk = Some(Bytes::from_static(bytes));
        let sent = tx.poll_send(&mut Context::from_waker(waker), &mut chunk);
        assert_eq!(
            chunk.is_none(),
            sent.is_ready(),
            "a chunk is taken when sent"
        );
        sent
    }

    fn recv(body: &mut Body, waker: &Waker) -> Poll<io::Result<Option<Bytes>>> {
        body.poll_chunk(&mut Context::from_waker(waker))
    }

    #[test]
    fn the_queue_is_bounded_and_the_writer_woken_when_there_is_room() {
        let (writer, writer_waker) = counter();
        let (reader, reader_waker) = counter();
        let mut tx = BodySender::default();
        let mut body = tx.start();
        assert!(recv(&mut body, &reader_waker).is_pending());
        for _ in 0..QUEUE {
            assert!(send(&mut tx, &writer_waker, b"abc").is_ready());
        }
        assert_eq!(
            reader.0.load(Ordering::SeqCst),
            1,
            "woken by the first chunk only"
        );
        assert!(send(&mut tx, &writer_waker, b"def").is_pending());
        assert_eq!(writer.0.load(Ordering::SeqCst), 0);
        let chunk = recv(&mut body, &reader_waker);
        assert!(matches!(chunk, Poll::Ready(Ok(Some(c))) if c == "abc"));
        assert_eq!(
            writer.0.load(Ordering::SeqCst),
            1,
            "room: the writer is woken"
        );
        assert!(send(&mut tx, &writer_waker, b"def").is_ready());
        tx.end(true, &writer_waker);
        let mut all = Vec::new();
        while let Poll::Ready(Ok(Some(chunk))) = recv(&mut body, &reader_waker) {
            all.extend_from_slice(&chunk);
        }
        assert_eq!(all, b"abcabcabcdef");
        assert!(matches!(
            recv(&mut body, &reader_waker),
            Poll::Ready(Ok(None))
        ));
    }

    #[test]
    fn a_task_does_not_wake_itself() {
        let (count, waker) = counter();
        let mut tx = BodySender::default();
        let mut body = tx.start();
        assert!(recv(&mut body, &waker).is_pending());
        assert!(send(&mut tx, &waker, b"abc").is_ready());
        tx.end(true, &waker);
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        let chunk = recv(&mut body, &waker);
        assert!(matches!(chunk, Poll::Ready(Ok(Some(c))) if c == "abc"));
        assert!(matches!(recv(&mut body, &waker), Poll::Ready(Ok(None))));
    }

    #[test]
    fn a_dropped_body_throws_the_rest_away_and_frees_the_writer() {
        let (writer, writer_waker) = counter();
        let mut tx = BodySender::default();
        let body = tx.start();
        for _ in 0..QUEUE {
            assert!(send(&mut tx, &writer_waker, b"abc").is_ready());
        }
        assert!(send(&mut tx, &writer_waker, b"abc").is_pending());
        drop(body);
        assert_eq!(writer.0.load(Ordering::SeqCst), 1);
        for _ in 0..3 * QUEUE {
            assert!(send(&mut tx, &writer_waker, b"abc").is_ready());
        }
        tx.end(true, &writer_waker);
    }

    #[test]
    fn an_abandoned_body_fails_after_what_came() {
        for abandon in [
            |tx: &mut BodySender, w: &Waker| tx.end(false, w),
            |tx: &mut BodySender, _: &Waker| drop(std::mem::take(tx)),
        ] {
            let (reader, waker) = counter();
            let mut tx = BodySender::default();
            let mut body = tx.start();
            assert!(send(&mut tx, Waker::noop(), b"abc").is_ready());
            assert!(recv(&mut body, &waker).is_ready());
            assert!(recv(&mut body, &waker).is_pending());
            abandon(&mut tx, Waker::noop());
            assert_eq!(reader.0.load(Ordering::SeqCst), 1);
            match recv(&mut body, &waker) {
                Poll::Ready(Err(e)) => assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn the_queue_is_reused_only_once_the_body_is_gone() {
        let mut tx = BodySender::default();
        let first = tx.start();
        tx.end(true, Waker::noop());
        let first_slot = Arc::as_ptr(&first.slot);
        drop(first);
        let second = tx.start();
        assert!(
            std::ptr::eq(first_slot, Arc::as_ptr(&second.slot)),
            "reused"
        );
        tx.end(true, Waker::noop());
        let mut second = second;
        let third = tx.start();
        assert!(
            !Arc::ptr_eq(&second.slot, &third.slot),
            "the second body is alive"
        );
        assert!(send(&mut tx, Waker::noop(), b"third").is_ready());
        assert!(matches!(
            recv(&mut second, Waker::noop()),
            Poll::Ready(Ok(None))
        ));
    }

    #[tokio::test]
    async fn from_bytes_reads_back() {
        let body = Body::from_bytes("Subject: x\r\n\r\nhi\r\n");
        assert_eq!(body.to_bytes().await.unwrap(), "Subject: x\r\n\r\nhi\r\n");
        let mut empty = Body::from_bytes("");
        assert_eq!(empty.chunk().await.unwrap(), None);
    }
}

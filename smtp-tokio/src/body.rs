//! [`Body`]: the message body as a stream, with backpressure.

use bytes::{Buf, Bytes, BytesMut};
use smtp_proto::mime::{BodyEvent, MessageParser, MimeConfig};
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::mpsc;

/// What the connection sends to the body reader.
#[derive(Debug)]
pub(crate) enum Piece {
    /// Body bytes, dot-unstuffed.
    Chunk(Bytes),
    /// The body is complete. A channel that closes without `End` means the body was abandoned.
    End,
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
    rx: mpsc::Receiver<Piece>,
    current: Bytes,
    ended: bool,
}

impl Body {
    /// A body and the sender that feeds it, holding at most `capacity` pieces.
    pub(crate) fn channel(capacity: usize) -> (mpsc::Sender<Piece>, Body) {
        let (tx, rx) = mpsc::channel(capacity);
        let body = Body {
            rx,
            current: Bytes::new(),
            ended: false,
        };
        (tx, body)
    }

    /// A complete body holding `bytes`: for testing a [`Handler`](crate::Handler).
    pub fn from_bytes(bytes: impl Into<Bytes>) -> Body {
        let (tx, body) = Body::channel(2);
        let _ = tx.try_send(Piece::Chunk(bytes.into()));
        let _ = tx.try_send(Piece::End);
        body
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
        while !self.ended {
            match ready!(self.rx.poll_recv(cx)) {
                Some(Piece::Chunk(chunk)) if !chunk.is_empty() => {
                    return Poll::Ready(Ok(Some(chunk)))
                }
                Some(Piece::Chunk(_)) => {}
                Some(Piece::End) => self.ended = true,
                None => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the message was abandoned before its end",
                    )))
                }
            }
        }
        Poll::Ready(Ok(None))
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

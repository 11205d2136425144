//! [`Body`]: the message body as a stream, with backpressure.

use bytes::{Buf, Bytes, BytesMut};
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

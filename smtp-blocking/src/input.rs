//! [`ReadBuf`]: reads handed to the core without a copy ([`Session::handle_input_buf`]).
//!
//! `std`'s `Read::read` takes an initialised `&mut [u8]`, and this crate has no `unsafe`:
//! the octets a read lands in must have been written before, zeros at least. Zeroing the
//! buffer before every read would cost as much as the copy it saves. So the buffer keeps a
//! region zeroed once ([`ReadBuf::free`]); each read fills the front of what is left of it
//! and that front is split off for the session, which holds it (and hands out commands'
//! values and message chunks that share it) until it has consumed it. Consecutive reads
//! land next to each other in memory, so the session joins an incomplete line to the octets
//! that complete it in place. When the region runs low, the buffer is zeroed again, in the
//! same memory if the session and the handler have let go of all of it (the usual case: a
//! read is consumed before the next one), else in a new allocation. Each octet read is so
//! written twice in all (zeroed, then read into), never copied. Short reads (commands, small
//! messages) are the exception: copying them costs less than sharing ([`SHARE_FROM`]), and
//! they leave the zeroed octets to the next read.
//!
//! Over TLS, rustls decrypts into a buffer of its own: its plaintext is copied once into the
//! buffer's spare capacity (no zeroing needed for a copy), and handed over the same way.
//!
//! [`Session::handle_input_buf`]: smtp_proto::Session::handle_input_buf

use bytes::{BufMut, BytesMut};
use smtp_proto::Session;
use std::io::{self, BufRead, Read};

/// How much of a worker thread's buffer is zeroed at a time at first. Small, so that a
/// thread whose connections stay silent (issue 8 holds 10,000 greeted, idle connections) has
/// next to none: 16 KiB took 8 KiB of RSS per idle connection.
pub(crate) const FIRST_READ_BUFFER: usize = 1 << 10;
/// ... and from the first read that fills what it was offered (a connection that sends more
/// than greetings and commands): a thread's buffer grows once.
pub(crate) const READ_BUFFER: usize = 16 << 10;
/// The buffer is zeroed again when less than this part of [`ReadBuf::size`] is left (a read
/// into a few octets would cost a system call for little).
const REFILL_BELOW: usize = 8;
/// Octets zeroed by one `memset`. glibc's switches to `rep stosb` from 2 KiB up: 16 KiB
/// zeroed in pieces of this size took 8 to 14 % less time on the issue 8 machine (AMD EPYC,
/// a microbenchmark on a busy machine) than in one, and callgrind counts `rep stosb` as one
/// instruction per octet (207 million for 2,000 messages of 100 KiB), which would drown a
/// measurement of instructions per message.
const ZERO_PIECE: usize = 2047;
/// Reads of fewer octets than this (commands, small messages) are copied into the session,
/// and the buffer reads into the same octets again. Sharing the buffer costs two reference
/// counts and a split per read (about 170 instructions under callgrind), and the session
/// lets go of a shared buffer once it has consumed it, so the next copied read allocates
/// again: for 1 KiB messages, sharing every read cost 9 % more instructions per message than
/// copying. A copy of fewer than 2 KiB also stays clear of glibc's `rep movsb`, which on AMD
/// Zen runs 20 to 40 times slower when the destination sits a few octets past the source
/// modulo 4 KiB (the reason the session was fed in pieces of 2047 octets before).
const SHARE_FROM: usize = 2 << 10;

/// The read buffer of a worker thread, lent to each connection it serves.
#[derive(Debug)]
pub(crate) struct ReadBuf {
    /// Zeroed octets, not read into yet (its length); reads fill its front. Over TLS: empty,
    /// with spare capacity that plaintext is copied into.
    free: BytesMut,
    /// How many octets to zero at a time: [`FIRST_READ_BUFFER`], then [`READ_BUFFER`].
    size: usize,
}

impl Default for ReadBuf {
    fn default() -> ReadBuf {
        ReadBuf {
            free: BytesMut::new(),
            size: FIRST_READ_BUFFER,
        }
    }
}

impl ReadBuf {
    /// One read from a plain socket into the front of the zeroed octets: how many were read
    /// (0 at the end of the stream). Then [`take`](Self::take) them, or [`feed`](Self::feed)
    /// them to the session.
    pub fn read(&mut self, io: &mut impl Read) -> io::Result<usize> {
        if self.free.len() < self.size / REFILL_BELOW {
            self.zero();
        }
        let offered = self.free.len();
        let n = io.read(&mut self.free)?;
        if n == offered {
            self.grow();
        }
        Ok(n)
    }

    /// The `n` octets just [`read`](Self::read), split off the buffer.
    pub fn take(&mut self, n: usize) -> BytesMut {
        self.free.split_to(n)
    }

    /// Hands the `n` octets just [`read`](Self::read) to the session: a few, copied (the
    /// buffer reads into the same octets again); more, without a copy.
    pub fn feed(&mut self, n: usize, session: &mut Session) {
        if n < SHARE_FROM {
            trace_input(session, &self.free[..n]);
            session.handle_input(&self.free[..n]);
        } else {
            let mut input = self.take(n);
            trace_input(session, &input);
            session.handle_input_buf(&mut input);
        }
    }

    /// One read from a TLS stream, to the session: the plaintext rustls holds (at most one
    /// record's), read from the socket first if it holds none. Returns how many octets (0 at
    /// the end of the stream).
    pub fn read_tls(&mut self, io: &mut impl BufRead, session: &mut Session) -> io::Result<usize> {
        let plain = io.fill_buf()?;
        let n = plain.len();
        if n < SHARE_FROM {
            trace_input(session, plain);
            session.handle_input(plain);
            io.consume(n);
            return Ok(n);
        }
        // Zeroed octets are no use here: a copy initialises what it writes.
        self.free.clear();
        if self.free.capacity() < n {
            if n >= self.size {
                self.grow();
            }
            self.reclaim(self.size.max(n));
        }
        self.free.put_slice(plain);
        io.consume(n);
        let mut input = self.free.split();
        trace_input(session, &input);
        session.handle_input_buf(&mut input);
        Ok(n)
    }

    /// Zeroes [`size`](Self::size) octets to read into.
    fn zero(&mut self) {
        self.free.clear();
        self.reclaim(self.size);
        let capacity = self.free.capacity();
        while self.free.len() < capacity {
            let len = self.free.len();
            self.free.resize(capacity.min(len + ZERO_PIECE), 0);
        }
    }

    /// Makes room for `n` octets: in the same memory if no one else holds any of it any more,
    /// else in a new allocation (the old one is freed with the last chunk that shares it).
    /// `free` must be empty.
    fn reclaim(&mut self, n: usize) {
        if !self.free.try_reclaim(n) {
            self.free = BytesMut::with_capacity(n);
        }
    }

    fn grow(&mut self) {
        self.size = READ_BUFFER;
    }
}

/// The protocol trace at `trace` level, AUTH masked ([`smtp_proto::trace`]).
pub(crate) fn trace_input(session: &Session, input: &[u8]) {
    if tracing::enabled!(tracing::Level::TRACE) {
        session
            .trace_input(input)
            .for_each(|l| tracing::trace!("C: {l}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads from a script of pieces, one per `read`, as a socket returns them.
    struct Pieces<'a>(std::collections::VecDeque<&'a [u8]>);

    impl Read for Pieces<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let Some(piece) = self.0.front_mut() else {
                return Ok(0);
            };
            let n = piece.len().min(buf.len());
            buf[..n].copy_from_slice(&piece[..n]);
            *piece = &piece[n..];
            if piece.is_empty() {
                self.0.pop_front();
            }
            Ok(n)
        }
    }

    #[test]
    fn reads_are_the_octets_sent_and_reuse_the_memory_once_consumed() {
        let mut buf = ReadBuf::default();
        let mut io = Pieces([&b"EHLO a\r\n"[..], b"MAIL FROM:<>\r\n"].into());
        let n = buf.read(&mut io).unwrap();
        let first = buf.take(n);
        assert_eq!(&first[..], b"EHLO a\r\n");
        let at = first.as_ptr();
        let n = buf.read(&mut io).unwrap();
        let second = buf.take(n);
        assert_eq!(&second[..], b"MAIL FROM:<>\r\n");
        // Next to each other: the session joins a split line without a copy.
        assert_eq!(second.as_ptr(), at.wrapping_add(first.len()));
        drop((first, second));
        assert_eq!(buf.read(&mut io).unwrap(), 0, "end of the stream");
        // Consumed and dropped: zeroing again reuses the same memory, in place.
        buf.zero();
        assert_eq!(buf.free.as_ptr(), at);
        assert!(buf.free.iter().all(|&b| b == 0));
    }

    #[test]
    fn a_full_read_grows_the_buffer_and_a_held_one_is_not_overwritten() {
        let big = vec![b'x'; 3 * FIRST_READ_BUFFER];
        let mut buf = ReadBuf::default();
        let mut io = Pieces([&big[..]].into());
        let n = buf.read(&mut io).unwrap();
        assert_eq!(n, FIRST_READ_BUFFER);
        assert_eq!(buf.size, READ_BUFFER);
        let first = buf.take(n);
        // `first` is still held: the next zeroing takes new memory.
        let n = buf.read(&mut io).unwrap();
        let second = buf.take(n);
        assert_eq!(second.len(), 2 * FIRST_READ_BUFFER);
        assert!(first.iter().chain(second.iter()).all(|&b| b == b'x'));
    }
}

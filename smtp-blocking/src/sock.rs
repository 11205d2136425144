//! [`Sock`]: a TCP or a Unix-domain connection, as one `Read + Write` type that the
//! connection, its TLS stream and the server's list of live connections share.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

/// An accepted connection. Clones share the one descriptor (no `dup`): the last one dropped
/// closes it.
#[derive(Clone, Debug)]
pub(crate) struct Sock(Arc<Socket>);

/// An accepted connection as the listener's thread hands it over: made a [`Sock`] on the
/// connection's thread, so that its allocation is made and freed there (a block freed by
/// another thread lands in this one's cache and scatters its heap: the session's buffers
/// then grew by moving, 500 instructions more per fresh connection under callgrind).
#[derive(Debug)]
pub(crate) enum Socket {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(UnixStream),
}

/// `$body` with `$s` bound to the stream inside `$sock`, whatever its kind.
macro_rules! each {
    ($sock:expr, $s:ident => $body:expr) => {
        match &*$sock.0 {
            Socket::Tcp($s) => $body,
            #[cfg(unix)]
            Socket::Unix($s) => $body,
        }
    };
}

impl Sock {
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        each!(self, s => s.set_read_timeout(timeout))
    }

    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        each!(self, s => s.set_write_timeout(timeout))
    }

    /// No Nagle delay, on TCP.
    pub fn set_nodelay(&self) -> io::Result<()> {
        match &*self.0 {
            Socket::Tcp(tcp) => tcp.set_nodelay(true),
            #[cfg(unix)]
            Socket::Unix(_) => Ok(()),
        }
    }

    /// The local address of a TCP connection.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match &*self.0 {
            Socket::Tcp(tcp) => tcp.local_addr(),
            #[cfg(unix)]
            Socket::Unix(_) => Err(io::ErrorKind::Unsupported.into()),
        }
    }

    /// Whether this is a TCP connection (one with a peer address).
    pub fn is_tcp(&self) -> bool {
        matches!(&*self.0, Socket::Tcp(_))
    }

    /// Shuts the reading half: a read blocked on this socket, in any thread, returns at once
    /// (end of file), and so does every later one once the octets already received are read.
    /// Writing still works. How the shutdown wakes connections waiting for their clients.
    pub fn shutdown_read(&self) -> io::Result<()> {
        each!(self, s => s.shutdown(Shutdown::Read))
    }
}

impl From<Socket> for Sock {
    fn from(socket: Socket) -> Sock {
        Sock(Arc::new(socket))
    }
}

impl From<TcpStream> for Socket {
    fn from(tcp: TcpStream) -> Socket {
        Socket::Tcp(tcp)
    }
}

#[cfg(unix)]
impl From<UnixStream> for Socket {
    fn from(unix: UnixStream) -> Socket {
        Socket::Unix(unix)
    }
}

impl Read for &Sock {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        each!(self, s => (&*s).read(buf))
    }
}

impl Read for Sock {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl Write for &Sock {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        each!(self, s => (&*s).write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        each!(self, s => (&*s).flush())
    }
}

impl Write for Sock {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        (&*self).flush()
    }
}

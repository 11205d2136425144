//! The connection threads: a pool of workers, each serving one connection at a time.
//!
//! A new connection goes to the worker that parked last (its stack and read buffer are the
//! warmest); a thread is started only when none is parked. A worker parked for
//! [`IDLE_EXIT`] leaves, so the pool shrinks back after a burst; the oldest leave first. So
//! there are never more workers than connections at the peak (itself bounded by
//! `max_connections`), and a steady stream of fresh connections costs no thread start or
//! exit (a `clone`, stack and guard-page mappings, signal stack, and on exit their
//! unmapping: about 17 system calls per connection, and the largest part of a short
//! connection's CPU time).

use crate::conn::{self, Accepted, Shared};
use crate::input::ReadBuf;
use crate::Handler;
use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// How long a worker stays parked without a connection before its thread ends.
pub(crate) const IDLE_EXIT: Duration = Duration::from_secs(10);

/// A connection for a worker: the socket, its own clone of the handler, its place under
/// the cap.
pub(crate) struct Job<H> {
    pub accepted: Accepted,
    pub handler: H,
    pub slot: Slot,
}

/// A connection's place under the cap, given back when it is served (or refused).
pub(crate) struct Slot(pub Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What a parked worker is sent: a connection, or `None` to leave (shutdown).
type Message<H> = Option<Job<H>>;

/// A parked worker: its id (to find itself when it leaves) and its mailbox.
struct Parked<H> {
    id: u64,
    tx: Sender<Message<H>>,
}

struct State<H> {
    /// Parked workers, the most recently parked last.
    idle: VecDeque<Parked<H>>,
    /// Shutting down: no worker parks any more.
    closed: bool,
    /// Every worker thread started (finished ones pruned now and then), for the shutdown to
    /// join.
    threads: Vec<JoinHandle<()>>,
    prune_at: usize,
    next_id: u64,
}

/// The workers of one [`Server::serve`](crate::Server::serve).
pub(crate) struct Pool<H> {
    shared: Arc<Shared>,
    state: Mutex<State<H>>,
    /// [`IDLE_EXIT`], but in tests.
    idle_exit: Duration,
}

impl<H: Handler> Pool<H> {
    pub fn new(shared: Arc<Shared>) -> Pool<H> {
        Pool {
            shared,
            state: Mutex::new(State {
                idle: VecDeque::new(),
                closed: false,
                threads: Vec::new(),
                prune_at: 64,
                next_id: 0,
            }),
            idle_exit: IDLE_EXIT,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<H>> {
        // Nothing panics while holding the lock; if something did, the state is still whole.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Serves `job` on a parked worker, or on a new one. After [`close`](Self::close), or if
    /// no thread can be started, the connection is dropped (closed without a word).
    pub fn run(self: &Arc<Self>, mut job: Job<H>) {
        let mut state = loop {
            let mut state = self.lock();
            if state.closed {
                return;
            }
            let Some(parked) = state.idle.pop_back() else {
                break state;
            };
            // Sent after the lock is let go (a wake-up is a system call): a worker that
            // times out meanwhile does not find itself in `idle`, and waits for this.
            drop(state);
            // A worker's mailbox outlives its place in `idle`: this fails only if the worker
            // is gone some other way (never, short of an abort): then try the next.
            let Err(mpsc::SendError(Some(back))) = parked.tx.send(Some(job)) else {
                return;
            };
            job = back;
        };
        if state.threads.len() >= state.prune_at {
            state.threads.retain(|t| !t.is_finished());
            state.prune_at = 2 * state.threads.len() + 64;
        }
        let id = state.next_id;
        state.next_id += 1;
        let pool = Arc::clone(self);
        // Under the lock, so that `close` sees every thread: starts are rare (a burst of
        // connections beyond the parked workers), and parking waits for them only then.
        let spawned = thread::Builder::new()
            .name("smtp-conn".to_owned())
            .spawn(move || pool.work(id, job));
        match spawned {
            Ok(thread) => state.threads.push(thread),
            Err(e) => tracing::warn!(error = %e, "cannot start a connection thread"),
        }
    }

    /// Stops parking: parked workers leave, busy ones leave after their connection. Returns
    /// the threads to join.
    pub fn close(&self) -> Vec<JoinHandle<()>> {
        let (idle, threads) = {
            let mut state = self.lock();
            state.closed = true;
            (
                std::mem::take(&mut state.idle),
                std::mem::take(&mut state.threads),
            )
        };
        for parked in idle {
            let _ = parked.tx.send(None);
        }
        threads
    }

    /// A worker thread: serves its first connection, then whatever it is sent while parked.
    fn work(&self, id: u64, first: Job<H>) {
        let (tx, rx) = mpsc::channel();
        // One read buffer for every connection this thread serves (grown by the first that
        // needs it).
        let mut buf = ReadBuf::default();
        let mut job = first;
        loop {
            self.serve(job, &mut buf);
            match self.park(id, &tx, &rx) {
                Some(next) => job = next,
                None => return,
            }
        }
    }

    /// One connection, to its end. A panic (a handler's bug) ends the connection, not the
    /// worker: the handler is the connection's own clone, dropped with it.
    fn serve(&self, job: Job<H>, buf: &mut ReadBuf) {
        let Job {
            accepted,
            mut handler,
            slot,
        } = job;
        let shared = &self.shared;
        let served = panic::catch_unwind(AssertUnwindSafe(|| {
            conn::serve(shared, accepted, &mut handler, buf);
        }));
        drop(handler);
        drop(slot);
        if served.is_err() {
            // (The read buffer was dropped with the connection: `buf` is a new one.)
            tracing::error!("connection thread panicked");
        }
    }

    /// Waits for the next connection; `None` when the worker should leave: shutdown, or
    /// parked for [`IDLE_EXIT`].
    fn park(&self, id: u64, tx: &Sender<Message<H>>, rx: &Receiver<Message<H>>) -> Option<Job<H>> {
        {
            let mut state = self.lock();
            if state.closed {
                return None;
            }
            state.idle.push_back(Parked { id, tx: tx.clone() });
        }
        match rx.recv_timeout(self.idle_exit) {
            Ok(message) => message,
            Err(RecvTimeoutError::Disconnected) => None, // not while `tx` lives
            Err(RecvTimeoutError::Timeout) => {
                let mut state = self.lock();
                // The oldest parked worker is first: the one that times out, usually.
                if let Some(at) = state.idle.iter().position(|p| p.id == id) {
                    state.idle.remove(at);
                    return None;
                }
                drop(state);
                // Taken off `idle` by `run` or `close` just now: the message is on its way.
                rx.recv().ok().flatten()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::Addrs;
    use crate::Decision;
    use smtp_proto::Config;
    use std::io::{BufRead, BufReader, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::OnceLock;
    use std::time::Instant;

    /// Reports the thread of each connection.
    #[derive(Clone)]
    struct Threads(mpsc::Sender<thread::ThreadId>);

    impl Handler for Threads {
        fn connect(&mut self, _: &smtp_proto::conn::ConnInfo) -> Result<Decision, crate::Error> {
            self.0.send(thread::current().id())?;
            Ok(Decision::Accept)
        }
    }

    /// One session through `pool`: greeting, QUIT, close. Returns its thread.
    fn session(
        pool: &Arc<Pool<Threads>>,
        listener: &TcpListener,
        active: &Arc<AtomicUsize>,
        handler: &Threads,
        threads: &mpsc::Receiver<thread::ThreadId>,
    ) -> thread::ThreadId {
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let (sock, peer) = listener.accept().unwrap();
        active.fetch_add(1, Ordering::SeqCst);
        pool.run(Job {
            accepted: Accepted {
                sock: sock.into(),
                addrs: Addrs::Tcp { peer, local: None },
                implicit_tls: false,
            },
            handler: handler.clone(),
            slot: Slot(Arc::clone(active)),
        });
        let mut lines = BufReader::new(&client);
        let mut line = String::new();
        lines.read_line(&mut line).unwrap();
        assert!(line.starts_with("220 "), "{line:?}");
        (&client).write_all(b"QUIT\r\n").unwrap();
        line.clear();
        lines.read_line(&mut line).unwrap();
        assert!(line.starts_with("221 "), "{line:?}");
        line.clear();
        assert_eq!(lines.read_line(&mut line).unwrap(), 0, "closed");
        threads.recv_timeout(Duration::from_secs(10)).unwrap()
    }

    /// Waits (bounded) until `done` holds.
    fn eventually(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < deadline, "never: {what}");
            thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn parked_workers_serve_again_then_leave_when_idle() {
        let shared = Arc::new(Shared {
            config: Arc::new(Config::default()),
            tls: None,
            stopping: OnceLock::new(),
            proxy: None,
            live: Arc::default(),
        });
        let mut pool = Pool::new(shared);
        pool.idle_exit = Duration::from_millis(200);
        let pool = Arc::new(pool);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let active = Arc::new(AtomicUsize::new(0));
        let (tx, threads) = mpsc::channel();
        let handler = Threads(tx);
        let first = session(&pool, &listener, &active, &handler, &threads);
        eventually("the worker parks", || pool.lock().idle.len() == 1);
        assert_eq!(active.load(Ordering::SeqCst), 0, "the slot is given back");
        let second = session(&pool, &listener, &active, &handler, &threads);
        assert_eq!(
            first, second,
            "the parked worker served the next connection"
        );
        assert_eq!(pool.lock().threads.len(), 1, "one thread started");
        // Parked for longer than `idle_exit`: it leaves.
        eventually("the worker leaves", || {
            let state = pool.lock();
            state.idle.is_empty() && state.threads[0].is_finished()
        });
        let third = session(&pool, &listener, &active, &handler, &threads);
        assert_ne!(third, first, "a new thread");
        eventually("the new worker parks", || pool.lock().idle.len() == 1);
        // Closing lets the parked worker go at once.
        for thread in pool.close() {
            thread.join().unwrap();
        }
        assert!(pool.lock().idle.is_empty());
    }
}

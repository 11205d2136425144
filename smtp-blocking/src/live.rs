//! [`Live`]: the server's open connections, so that the shutdown can wake the ones blocked
//! in a read.
//!
//! A connection waiting for its client is blocked in `read` with the core's timer (minutes:
//! RFC 5321 4.5.3.2). Rather than wake up now and then to look for a shutdown (10,000 idle
//! connections would cost CPU for nothing), the shutdown shuts the reading half of their
//! sockets ([`Sock::shutdown_read`]): a blocked read returns at once, and so does one about
//! to start (the shutdown is the socket's state, not an event that could be missed). The
//! connection then finds the server stopping and says goodbye (`421`, RFC 5321 3.8).
//!
//! Connections with a mail transaction in progress are *busy*: the shutdown lets them finish
//! until its deadline, and wakes them only then. So does a connection before its session
//! (PROXY header, implicit-TLS handshake) and during a STARTTLS handshake.

use crate::sock::Sock;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

/// The open connections of one server.
#[derive(Debug, Default)]
pub(crate) struct Live {
    table: Mutex<Table>,
    /// Notified when the last connection leaves.
    empty: Condvar,
}

#[derive(Debug, Default)]
struct Table {
    /// Indexed by [`Entry`] number; `None` for a free one.
    slots: Vec<Option<Listed>>,
    /// Free slots, reused last-freed first.
    free: Vec<usize>,
    open: usize,
    /// Every connection has been woken (the shutdown deadline passed): later ones are at once.
    all_woken: bool,
}

#[derive(Debug)]
struct Listed {
    sock: Sock,
    busy: bool,
}

/// A connection's place in [`Live`]: it leaves when dropped.
#[derive(Debug)]
pub(crate) struct Entry {
    live: Arc<Live>,
    at: usize,
    /// As last set in the table (changed there only when it changes).
    busy: bool,
}

impl Live {
    fn lock(&self) -> MutexGuard<'_, Table> {
        // Nothing panics while holding the lock; if something did, the table is still whole.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Lists a new connection, busy (it has no session yet).
    pub fn add(self: &Arc<Self>, sock: &Sock) -> Entry {
        let mut table = self.lock();
        if table.all_woken {
            wake(sock);
        }
        let listed = Some(Listed {
            sock: sock.clone(),
            busy: true,
        });
        let at = match table.free.pop() {
            Some(at) => {
                table.slots[at] = listed;
                at
            }
            None => {
                table.slots.push(listed);
                table.slots.len() - 1
            }
        };
        table.open += 1;
        Entry {
            live: Arc::clone(self),
            at,
            busy: true,
        }
    }

    /// Wakes the connections waiting for their clients, or with `all` every connection (for
    /// good: later reads do not wait either, and connections listed later are woken at once).
    pub fn wake(&self, all: bool) {
        let mut table = self.lock();
        table.all_woken |= all;
        for listed in table.slots.iter().flatten() {
            if all || !listed.busy {
                wake(&listed.sock);
            }
        }
    }

    /// Waits until no connection is left, or `deadline`. Returns whether none is left.
    pub fn wait_empty(&self, deadline: Instant) -> bool {
        let mut table = self.lock();
        while table.open > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            table = self
                .empty
                .wait_timeout(table, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }
}

fn wake(sock: &Sock) {
    // Fails only if the socket is no longer connected: then its reads do not wait either.
    if let Err(e) = sock.shutdown_read() {
        tracing::trace!(error = %e, "cannot shut the reading half");
    }
}

impl Entry {
    /// Marks the connection busy (a transaction, or a handshake, in progress: the shutdown
    /// wakes it only at its deadline) or not. Check for a shutdown after this: one that
    /// began before saw the connection busy and did not wake it.
    pub fn set_busy(&mut self, busy: bool) {
        if busy != self.busy {
            self.busy = busy;
            if let Some(listed) = &mut self.live.lock().slots[self.at] {
                listed.busy = busy;
            }
        }
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        let mut table = self.live.lock();
        table.slots[self.at] = None;
        table.free.push(self.at);
        table.open -= 1;
        if table.open == 0 {
            self.live.empty.notify_all();
        }
    }
}

//! Maildir delivery (<https://cr.yp.to/proto/maildir.html>), durable before the `250`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Deliveries made by this process, for unique file names.
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// A Maildir: a folder with `tmp/`, `new/` and `cur/`.
///
/// Each message is written to `tmp/` under a unique name, fsynced, renamed into `new/`, and the
/// `new/` folder is fsynced; only then does [`Delivery::commit`] return, and only then may a
/// server answer `250` (RFC 5321 section 6.1). Files are stored exactly as received (CRLF line
/// endings), after the trace header fields the caller writes first.
///
/// ```
/// use std::io::Write;
/// let dir = std::env::temp_dir().join(format!("maildir-doc-{}", std::process::id()));
/// let maildir = smtp_catcher::Maildir::open(&dir).unwrap();
/// let mut delivery = maildir.create().unwrap();
/// delivery.write_all(b"Subject: hi\r\n\r\nHello\r\n").unwrap();
/// let path = delivery.commit().unwrap();
/// assert_eq!(path.parent().unwrap(), dir.join("new"));
/// assert_eq!(std::fs::read(&path).unwrap(), b"Subject: hi\r\n\r\nHello\r\n");
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct Maildir {
    root: PathBuf,
    host: String,
}

impl Maildir {
    /// Opens the Maildir at `root`, creating it and its `tmp/`, `new/` and `cur/` as needed.
    pub fn open(root: impl AsRef<Path>) -> io::Result<Maildir> {
        let root = root.as_ref().to_path_buf();
        for sub in ["tmp", "new", "cur"] {
            fs::create_dir_all(root.join(sub))?;
        }
        Ok(Maildir {
            root,
            host: maildir_host(&gethostname::gethostname().to_string_lossy()),
        })
    }

    /// The folder holding `tmp/`, `new/` and `cur/`.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Starts a delivery: a new, empty file in `tmp/` under a unique name of the form
    /// `seconds.MmicrosecondsPpidQsequence.host` (the Maildir naming rules).
    pub fn create(&self) -> io::Result<Delivery> {
        loop {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            let name = format!(
                "{}.M{}P{}Q{}.{}",
                now.as_secs(),
                now.subsec_micros(),
                std::process::id(),
                SEQUENCE.fetch_add(1, Ordering::Relaxed),
                self.host
            );
            let tmp = self.root.join("tmp").join(&name);
            match OpenOptions::new().write(true).create_new(true).open(&tmp) {
                Ok(file) => {
                    return Ok(Delivery {
                        file: Some(file),
                        tmp,
                        new_dir: self.root.join("new"),
                        name,
                    })
                }
                // Another process with our pid (a container restart) or a clock step: retry
                // with the next sequence number.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

/// The host part of a Maildir file name: `/` and `:` are escaped as the spec says.
fn maildir_host(host: &str) -> String {
    let host = if host.is_empty() { "localhost" } else { host };
    host.replace('/', "\\057").replace(':', "\\072")
}

/// A message being written into `tmp/`. Write the whole message ([`Write`]), then
/// [`commit`](Self::commit). Dropped without a commit, the file in `tmp/` is removed.
#[derive(Debug)]
pub struct Delivery {
    file: Option<File>,
    tmp: PathBuf,
    new_dir: PathBuf,
    name: String,
}

impl Delivery {
    /// The unique file name (the same in `tmp/` and `new/`), usable as a queue id.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Makes the message durable and visible: fsync the file, rename it into `new/`, fsync
    /// `new/`. Returns the path in `new/`.
    pub fn commit(mut self) -> io::Result<PathBuf> {
        let file = self.file.take().expect("a delivery is committed once");
        file.sync_all()?;
        drop(file);
        let new = self.new_dir.join(&self.name);
        fs::rename(&self.tmp, &new)?;
        File::open(&self.new_dir)?.sync_all()?;
        Ok(new)
    }
}

impl Write for Delivery {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.as_mut().expect("not committed").write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().expect("not committed").flush()
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("catcher-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn names_are_unique_and_well_formed() {
        let dir = temp("names");
        let maildir = Maildir::open(&dir).unwrap();
        let a = maildir.create().unwrap();
        let b = maildir.create().unwrap();
        assert_ne!(a.name(), b.name());
        let parts: Vec<&str> = a.name().splitn(3, '.').collect();
        assert!(parts[0].parse::<u64>().is_ok(), "{}", a.name());
        assert!(parts[1].starts_with('M') && parts[1].contains('P') && parts[1].contains('Q'));
        assert!(!a.name().contains('/') && !a.name().contains(':'));
        drop((a, b));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_abandoned_delivery_leaves_nothing() {
        let dir = temp("abandon");
        let maildir = Maildir::open(&dir).unwrap();
        let mut d = maildir.create().unwrap();
        d.write_all(b"half a message").unwrap();
        drop(d);
        for sub in ["tmp", "new", "cur"] {
            assert_eq!(fs::read_dir(dir.join(sub)).unwrap().count(), 0, "{sub}");
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn commit_moves_from_tmp_to_new() {
        let dir = temp("commit");
        let maildir = Maildir::open(&dir).unwrap();
        let mut d = maildir.create().unwrap();
        let name = d.name().to_owned();
        assert!(dir.join("tmp").join(&name).exists());
        d.write_all(b"x").unwrap();
        let path = d.commit().unwrap();
        assert_eq!(path, dir.join("new").join(&name));
        assert!(!dir.join("tmp").join(&name).exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn host_is_escaped() {
        assert_eq!(maildir_host("a/b:c"), "a\\057b\\072c");
        assert_eq!(maildir_host(""), "localhost");
    }
}

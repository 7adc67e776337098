//! What every mode of the guard shares: reading a request or response head,
//! copying bytes one way while watching for idleness, and recording the
//! other origins it refused.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use super::{MAX_HEAD_BYTES, Origin};

pub(super) fn record_refusal(origin: &Origin, wanted: Option<Origin>, refused: &Refusals) {
    if let Some(wanted) = wanted {
        tracing::warn!(configured = %origin, refused = %wanted, "git: refusing to reach another origin than the configured one (a redirect?)");
        refused.record(wanted);
    }
}

/// The first origin the guard refused, and a way to wait for one.
#[derive(Default)]
pub(super) struct Refusals {
    first: Mutex<Option<Origin>>,
    recorded: Condvar,
}

impl Refusals {
    pub(super) fn record(&self, origin: Origin) {
        if let Ok(mut first) = self.first.lock() {
            first.get_or_insert(origin);
            self.recorded.notify_all();
        }
    }

    pub(super) fn wait(&self, limit: Duration) -> Option<Origin> {
        let first = self.first.lock().ok()?;
        let (first, _) = self
            .recorded
            .wait_timeout_while(first, limit, |first| first.is_none())
            .ok()?;
        first.clone()
    }
}

/// Reads up to the blank line that ends a request head.
pub(super) fn read_head(reader: &mut BufReader<TcpStream>) -> io::Result<String> {
    let mut head = Vec::new();
    loop {
        let before = head.len();
        let read = reader
            .by_ref()
            .take((MAX_HEAD_BYTES + 1 - head.len()) as u64)
            .read_until(b'\n', &mut head)?;
        if read == 0 || head.len() > MAX_HEAD_BYTES {
            return Err(io::Error::other("no complete request head"));
        }
        let line = &head[before..];
        if line == b"\r\n" || line == b"\n" {
            return String::from_utf8(head)
                .map_err(|_| io::Error::other("a request head that is not text"));
        }
    }
}

/// When bytes last moved on a relayed connection, and whether one side is done.
pub(super) struct Activity {
    idle: Duration,
    started: Instant,
    last_millis: AtomicU64,
    /// One side is done: the other stops at its next check.
    pub(super) done: AtomicBool,
}

impl Activity {
    pub(super) fn new(idle: Duration) -> Self {
        Self {
            idle,
            started: Instant::now(),
            last_millis: AtomicU64::new(0),
            done: AtomicBool::new(false),
        }
    }

    pub(super) fn touch(&self) {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_millis.store(now, Ordering::Release);
    }

    pub(super) fn idle_too_long(&self) -> bool {
        let last = Duration::from_millis(self.last_millis.load(Ordering::Acquire));
        self.started.elapsed().saturating_sub(last) > self.idle
    }
}

/// Copies `from` to `to` until EOF, an error, the other direction ending, or idleness.
pub(super) fn pump(from: TcpStream, to: TcpStream, activity: &Activity) {
    pump_muted(from, to, activity, &AtomicBool::new(false));
}

/// [`pump`], dropping what arrives once `mute` is set.
pub(super) fn pump_muted(
    mut from: TcpStream,
    mut to: TcpStream,
    activity: &Activity,
    mute: &AtomicBool,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        match from.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => {
                if !mute.load(Ordering::Acquire) && to.write_all(&buffer[..read]).is_err() {
                    break;
                }
                activity.touch();
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if activity.done.load(Ordering::Acquire) || activity.idle_too_long() {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    activity.done.store(true, Ordering::Release);
    let _ = to.shutdown(Shutdown::Write);
}

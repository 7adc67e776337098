//! The `--listen` server's connection handling: every connection is bounded
//! in time, and the number of connections in bytes of file descriptors, so a
//! client flood cannot starve the daemon (invariant 11).
//!
//! `axum::serve` accepted every connection and held it until the client left:
//! 500 clients sending half a request line, without a token, were held forever,
//! and under a realistic fd limit the daemon then failed its scans, its lock
//! and its status writes with `Too many open files`, `/healthz` stopped
//! answering and new tags were not committed (issue 17, finding 4). Here:
//!
//! - a request's headers must arrive within [`ServerLimits::header_read`]
//!   (hyper's header-read timer, which also runs while a kept-alive
//!   connection waits for its next request: the idle timeout);
//! - a webhook body must arrive within
//!   [`super::http::WEBHOOK_BODY_TIMEOUT`] (in the handler);
//! - a connection lives at most [`ServerLimits::lifetime`], whatever it does;
//! - at most [`ServerLimits::max_connections`] are open, derived from the
//!   process's fd limit so that [`RESERVED_FDS`] stay free for scans, git,
//!   the lock and the state files. When the table is full, a new connection
//!   replaces the oldest one that is not in a request (a slow or idle client,
//!   never a request being answered); if every one is in a request, the new
//!   connection is closed at once. A replaced connection's socket is freed
//!   when the runtime drops its task, and the server accepts nothing more
//!   until then: it took the whole backlog first, 121 sockets under a cap of
//!   8, and ran out of fds under a limit of 256. So a flood of half-open connections can
//!   neither hold the server nor keep `/healthz` from answering: a real
//!   request completes in far less time than it takes the flood to cycle
//!   the table.
//! - `accept` failing for lack of fds waits a little instead of spinning.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::task::AbortHandle;

/// File descriptors left for everything but `--listen` connections (registry
/// and git connections, pack and working-copy files, the lock, the state
/// files, the runtime's own).
pub const RESERVED_FDS: u64 = 128;
/// The most `--listen` connections whatever the fd limit.
pub const MAX_CONNECTIONS: usize = 256;
/// The fewest `--listen` connections, even under a tiny fd limit.
pub const MIN_CONNECTIONS: usize = 8;

/// The bounds of every `--listen` connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLimits {
    /// Time to receive a request's headers, and to wait for the next request.
    pub header_read: Duration,
    /// Time a connection may stay open in all.
    pub lifetime: Duration,
    /// Connections open at once.
    pub max_connections: usize,
    /// The largest request head buffered (hyper's read buffer).
    pub max_head_bytes: usize,
}

impl ServerLimits {
    /// The limits for this process: fixed times, and a connection cap of
    /// `(soft fd limit − RESERVED_FDS) / 2`, within
    /// [`MIN_CONNECTIONS`]..=[`MAX_CONNECTIONS`] (64 under `ulimit -n 256`).
    pub fn for_this_process() -> Self {
        let fd_limit = open_files_limit();
        Self {
            max_connections: connections_for(fd_limit),
            ..Self::default()
        }
    }
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            header_read: Duration::from_secs(10),
            lifetime: Duration::from_secs(60),
            max_connections: MAX_CONNECTIONS,
            max_head_bytes: 64 * 1024,
        }
    }
}

/// The connection cap for a soft fd limit (`None`: unknown, assume 1024).
pub fn connections_for(fd_limit: Option<u64>) -> usize {
    let spare = fd_limit.unwrap_or(1024).saturating_sub(RESERVED_FDS) / 2;
    usize::try_from(spare)
        .unwrap_or(MAX_CONNECTIONS)
        .clamp(MIN_CONNECTIONS, MAX_CONNECTIONS)
}

/// The soft `RLIMIT_NOFILE`, from `/proc/self/limits` (Linux); `None` elsewhere.
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line
        .trim_start_matches("Max open files")
        .split_whitespace()
        .next()?;
    match soft {
        "unlimited" => Some(u64::MAX),
        number => number.parse().ok(),
    }
}

/// One open connection.
struct Entry {
    /// Requests being answered on it (0: reading headers, or idle).
    in_request: Arc<AtomicUsize>,
    task: AbortHandle,
}

/// The open connections, by the order they were accepted (ids only grow).
#[derive(Default)]
struct Connections {
    next_id: u64,
    open: BTreeMap<u64, Entry>,
}

impl Connections {
    /// Makes room for one more: closes the oldest connection not in a request.
    /// False when every connection is in a request.
    fn make_room(&mut self, max: usize) -> bool {
        if self.open.len() < max {
            return true;
        }
        let oldest_idle = self
            .open
            .iter()
            .find(|(_, entry)| entry.in_request.load(Ordering::Acquire) == 0)
            .map(|(id, _)| *id);
        match oldest_idle.and_then(|id| self.open.remove(&id)) {
            Some(entry) => {
                entry.task.abort();
                true
            }
            None => false,
        }
    }
}

/// Sockets of `--listen` connections alive: accepted and not yet dropped.
#[derive(Debug, Default)]
struct Sockets {
    now: AtomicUsize,
    peak: AtomicUsize,
}

/// One accepted socket, counted in [`Sockets`] until dropped.
struct Counted(Arc<Sockets>);

impl Counted {
    fn new(sockets: &Arc<Sockets>) -> Self {
        let now = sockets.now.fetch_add(1, Ordering::AcqRel) + 1;
        sockets.peak.fetch_max(now, Ordering::AcqRel);
        Self(sockets.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Serves `app` on `listener` within `limits` until `shutdown` resolves; then
/// closes every connection. At most `limits.max_connections` sockets are held
/// at once, and one more just accepted.
pub async fn serve_bounded(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_counted(listener, app, limits, shutdown, Arc::default()).await
}

async fn serve_counted(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
    sockets: Arc<Sockets>,
) -> std::io::Result<()> {
    let connections = Arc::new(Mutex::new(Connections::default()));
    // One permit per socket: held by a connection's task until it is dropped.
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read)
        .max_buf_size(limits.max_head_bytes.max(8192))
        .keep_alive(true);
    let builder = Arc::new(builder);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut refused_since_log = 0u64;
    let mut last_log: Option<Instant> = None;
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => (Counted::new(&sockets), stream),
            Err(error) => {
                // EMFILE/ENFILE and the like: give fds a moment to come back.
                if last_log.is_none_or(|at| at.elapsed() > Duration::from_secs(10)) {
                    tracing::warn!(%error, "cannot accept a connection on --listen");
                    last_log = Some(Instant::now());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(room) = connections
            .lock()
            .map(|mut table| table.make_room(limits.max_connections))
        else {
            break;
        };
        if !room {
            drop(stream);
            refused_since_log += 1;
            if last_log.is_none_or(|at| at.elapsed() > Duration::from_secs(10)) {
                tracing::warn!(
                    refused = refused_since_log,
                    max_connections = limits.max_connections,
                    "--listen is at its connection limit with every connection in a request; closing new connections"
                );
                refused_since_log = 0;
                last_log = Some(Instant::now());
            }
            continue;
        }
        // A connection closed to make room keeps its socket until the runtime
        // drops its task: wait for that instead of accepting past the cap
        // (the accept loop could otherwise take the whole backlog first).
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => slot,
        };
        let Ok(slot) = slot else { break };
        let Ok(mut table) = connections.lock() else {
            break;
        };
        let id = table.next_id;
        table.next_id += 1;
        let in_request = Arc::new(AtomicUsize::new(0));
        let service = Tracked {
            inner: TowerToHyperService::new(app.clone()),
            in_request: in_request.clone(),
        };
        let builder = builder.clone();
        let lifetime = limits.lifetime;
        let table_handle = connections.clone();
        let task = tokio::spawn(async move {
            let (_counted, stream) = stream;
            let _slot = slot;
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            // Errors (a client gone, a header timeout) concern that client only.
            let _ = tokio::time::timeout(lifetime, connection).await;
            if let Ok(mut table) = table_handle.lock() {
                table.open.remove(&id);
            }
        });
        table.open.insert(
            id,
            Entry {
                in_request,
                task: task.abort_handle(),
            },
        );
    }
    if let Ok(mut table) = connections.lock() {
        for (_, entry) in std::mem::take(&mut table.open) {
            entry.task.abort();
        }
    }
    Ok(())
}

/// The router as a hyper service that counts the requests in progress on its connection.
#[derive(Clone)]
struct Tracked {
    inner: TowerToHyperService<Router>,
    in_request: Arc<AtomicUsize>,
}

/// Counts one request in progress while alive (also when its future is dropped).
struct InRequest(Arc<AtomicUsize>);

impl Drop for InRequest {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl hyper::service::Service<hyper::Request<Incoming>> for Tracked {
    type Response = <TowerToHyperService<Router> as hyper::service::Service<
        hyper::Request<Incoming>,
    >>::Response;
    type Error =
        <TowerToHyperService<Router> as hyper::service::Service<hyper::Request<Incoming>>>::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn call(&self, request: hyper::Request<Incoming>) -> Self::Future {
        self.in_request.fetch_add(1, Ordering::AcqRel);
        let counted = InRequest(self.in_request.clone());
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await;
            drop(counted);
            response
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_cap_leaves_fds_for_the_daemon() {
        assert_eq!(connections_for(Some(256)), 64);
        assert_eq!(connections_for(Some(1024)), MAX_CONNECTIONS);
        assert_eq!(connections_for(Some(1 << 20)), MAX_CONNECTIONS);
        assert_eq!(connections_for(Some(u64::MAX)), MAX_CONNECTIONS);
        assert_eq!(connections_for(Some(64)), MIN_CONNECTIONS);
        assert_eq!(connections_for(None), MAX_CONNECTIONS);
        assert!(open_files_limit().is_some(), "Linux reports the fd limit");
    }

    /// Reads until the server closes the connection; what it sent.
    async fn read_to_close(stream: &mut tokio::net::TcpStream) -> Vec<u8> {
        use tokio::io::AsyncReadExt as _;
        let mut answer = Vec::new();
        let read = stream.read_to_end(&mut answer);
        tokio::time::timeout(Duration::from_secs(20), read)
            .await
            .expect("the server closes the connection")
            .expect("read");
        answer
    }

    /// The daemon's router, and the receiver of its webhook pushes.
    fn app() -> (
        Router,
        tokio::sync::mpsc::Receiver<super::super::webhook::Trigger>,
    ) {
        let (sender, receiver) = tokio::sync::mpsc::channel(1);
        let router = super::super::http::router(
            Arc::new(super::super::metrics::Metrics::new()),
            None,
            sender,
        );
        (router, receiver)
    }

    /// `GET /healthz` on a new connection: the whole answer.
    async fn healthz(address: std::net::SocketAddr) -> String {
        use tokio::io::AsyncWriteExt as _;
        let mut health = tokio::net::TcpStream::connect(address).await.unwrap();
        health
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        String::from_utf8(read_to_close(&mut health).await).unwrap()
    }

    /// Slow headers are cut off, and through a flood of half-open connections
    /// that fills the table many times over, `/healthz` still answers.
    #[tokio::test]
    async fn slow_clients_are_cut_off_and_healthz_answers_through_a_flood() {
        use tokio::io::AsyncWriteExt as _;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (app, _pushes) = app();
        let limits = ServerLimits {
            header_read: Duration::from_millis(300),
            lifetime: Duration::from_secs(30),
            max_connections: 8,
            ..ServerLimits::default()
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve_bounded(listener, app, limits, async {
            let _ = stopped.await;
        }));

        let mut slow = tokio::net::TcpStream::connect(address).await.unwrap();
        slow.write_all(b"GET /heal").await.unwrap();
        let answer = read_to_close(&mut slow).await;
        assert!(
            answer.is_empty() || answer.starts_with(b"HTTP/1.1 408"),
            "{}",
            String::from_utf8_lossy(&answer)
        );

        let mut flood = Vec::new();
        for _ in 0..40 {
            let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
            stream.write_all(b"GET /heal").await.unwrap();
            flood.push(stream);
        }
        let answer = healthz(address).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("ok\n"), "{answer}");
        // The oldest flood connections were closed to make room.
        let closed = read_to_close(&mut flood[0]).await;
        assert!(closed.is_empty());
        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }

    /// Regression: a connection closed to make room kept its socket until
    /// the runtime next polled its task, while the accept loop went on
    /// accepting; a flood waiting in the backlog then held far more sockets
    /// than the cap (an fd limit of 256 ran out in CI: `Too many open files`).
    #[tokio::test]
    async fn a_flood_in_the_backlog_never_holds_more_sockets_than_the_cap() {
        use std::io::Write as _;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        // The kernel completes these connections before the server accepts
        // any (the backlog is 128, as in std).
        let flood: Vec<std::net::TcpStream> = (0..120)
            .map(|_| {
                let mut stream = std::net::TcpStream::connect(address).unwrap();
                stream.write_all(b"GET /heal").unwrap();
                stream
            })
            .collect();
        let (app, _pushes) = app();
        let limits = ServerLimits {
            max_connections: 8,
            ..ServerLimits::default()
        };
        let sockets = Arc::new(Sockets::default());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve_counted(
            listener,
            app,
            limits,
            async {
                let _ = stopped.await;
            },
            sockets.clone(),
        ));
        let answer = healthz(address).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        let peak = sockets.peak.load(Ordering::Acquire);
        assert!(peak <= 8 + 1, "{peak} sockets were open at once (cap 8)");
        drop(flood);
        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_full_table_closes_the_oldest_idle_connection_never_one_in_a_request() {
        let mut table = Connections::default();
        let mut tasks = Vec::new();
        for (id, busy) in [(0, 1), (1, 0), (2, 0)] {
            let task = tokio::spawn(std::future::pending::<()>());
            table.open.insert(
                id,
                Entry {
                    in_request: Arc::new(AtomicUsize::new(busy)),
                    task: task.abort_handle(),
                },
            );
            tasks.push(task);
        }
        assert!(table.make_room(4), "room left");
        assert!(table.make_room(3));
        assert_eq!(table.open.keys().copied().collect::<Vec<_>>(), [0, 2]);
        assert!(tasks.remove(1).await.unwrap_err().is_cancelled());
        table
            .open
            .get(&2)
            .unwrap()
            .in_request
            .store(1, Ordering::Release);
        assert!(!table.make_room(2), "every connection is in a request");
        assert_eq!(table.open.len(), 2);
    }
}

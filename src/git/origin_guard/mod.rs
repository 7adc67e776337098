//! The origin guard: libgit2's http(s) transport reaches the network only
//! through a one-operation relay on 127.0.0.1 that connects to the configured
//! origin (scheme, host, port) and nowhere else (invariant 10).
//!
//! libgit2 follows a redirect on the first request of an operation to any
//! host, and, whatever the policy, to another port of the same host; the
//! bearer token travels in a custom header on every request, and basic
//! credentials are handed to whichever server challenges. A git server
//! answering `302` to another host:port therefore received the
//! GitRepository Secret's credentials (issue 17, finding 1). Checking the
//! host in the credential callback covers basic auth only, so the guard makes
//! the rule structural: every byte libgit2 sends goes to the configured
//! origin or nowhere. Two modes, one per scheme:
//!
//! - https: the guard is libgit2's proxy. libgit2 asks it for a `CONNECT`
//!   tunnel to each server it talks to; only the configured origin gets one
//!   (TLS stays end to end, certificates are checked by libgit2 as before),
//!   any other is answered `403` and recorded, so the error can say where the
//!   redirect led.
//! - http: libgit2 1.9 formats requests for an http proxy but connects to the
//!   server itself, so there the guard is the server libgit2 is given
//!   (`http://127.0.0.1:PORT/path`, the userinfo kept). It forwards each
//!   request to the configured origin with the origin's `Host` and
//!   `Connection: close` (one request per connection), and reads each
//!   response head: a redirect within the origin is passed on (pointed back
//!   at the guard), a redirect to another origin is replaced by `403` and
//!   recorded, so libgit2 never learns the other address.
//!
//! - ssh: the guard is a plain TCP relay to the origin's host and port that
//!   libgit2 is given in place of them (`ssh://user@127.0.0.1:PORT/path`);
//!   host keys are still checked against the configured host's known_hosts
//!   entry, and nothing else changes. It exists for the two settings below.
//!
//! The guard also bounds a stalled server, which libgit2 cannot do itself
//! without `unsafe`: a connection on which nothing arrives for
//! [`IDLE_TIMEOUT`] is closed, and with a timeout (the GitRepository's
//! `spec.timeout`) every connection of the operation is closed when it
//! passes, which ends whatever libgit2 was waiting for; [`OriginGuard::expired`]
//! then tells the operation's error apart. With a proxy (`proxySecretRef`)
//! every upstream connection goes through it ([`upstream`]).

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

mod forward;
mod relay;
mod streams;
#[cfg(test)]
mod tests;
mod tunnel;
mod upstream;

use forward::serve_forward;
use relay::serve_relay;
use streams::{Activity, Refusals, pump, pump_muted, read_head, record_refusal};
use tunnel::serve_tunnel;
use upstream::{Connections, Upstream, connect_host, through_proxy};
pub(crate) use upstream::{ProxyProtocol, UpstreamProxy};

/// A connection on which nothing moves, either way, for this long is closed.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// How often a silent connection checks whether it has been idle too long.
const IDLE_CHECK: Duration = Duration::from_secs(2);

/// How often a connection allowed to be silent for `idle` checks its silence.
fn idle_check(idle: Duration) -> Duration {
    IDLE_CHECK.min(idle).max(Duration::from_millis(10))
}
/// How long connecting to the origin may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest request or response head read.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// What a refused connection or redirect is answered with.
const FORBIDDEN: &[u8] =
    b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// Where credentials may go: a scheme, a host and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    /// `http`, `https` or `ssh`.
    pub scheme: String,
    /// The host, lower-case, without IPv6 brackets.
    pub host: String,
    /// The port (the scheme's default when the URL names none).
    pub port: u16,
}

impl Origin {
    /// The origin of an `http://`, `https://` or `ssh://` URL (`None` for other schemes).
    pub fn of_url(url: &str) -> Option<Self> {
        let (scheme, rest) = url.split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => 80,
            "https" => 443,
            "ssh" => 22,
            _ => return None,
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let (host, port) = split_host_port(host_port)?;
        Some(Self {
            scheme,
            host,
            port: port.unwrap_or(default_port),
        })
    }

    /// The origin a `CONNECT host:port` asks for (always https: libgit2 tunnels only TLS).
    fn of_connect(authority: &str) -> Option<Self> {
        let (host, port) = split_host_port(authority)?;
        Some(Self {
            scheme: "https".to_string(),
            host,
            port: port.unwrap_or(443),
        })
    }
}

impl Origin {
    /// `host:port` (IPv6 hosts in brackets), as `CONNECT` names it.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// `host[:port]` as a `Host` header writes it (the port when not the default).
    fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let default = if self.scheme == "https" { 443 } else { 80 };
        if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}://[{}]:{}", self.scheme, self.host, self.port)
        } else {
            write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
        }
    }
}

/// `host[:port]` or `[v6][:port]` → lower-case host and the port, if valid.
fn split_host_port(text: &str) -> Option<(String, Option<u16>)> {
    let (host, port) = if let Some(bracketed) = text.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else {
        match text.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        None | Some("") => None,
        Some(port) => Some(port.parse().ok()?),
    };
    Some((host.to_ascii_lowercase(), port))
}

/// How a guard treats its connections.
#[derive(Debug, Clone)]
pub(crate) struct GuardSettings {
    /// A connection silent both ways this long is closed.
    pub idle: Duration,
    /// Every connection is closed this long after the guard starts (the
    /// GitRepository's `timeout` for one operation); `None`: no limit.
    pub timeout: Option<Duration>,
    /// The forward proxy upstream connections go through.
    pub proxy: Option<UpstreamProxy>,
}

impl Default for GuardSettings {
    fn default() -> Self {
        Self {
            idle: IDLE_TIMEOUT,
            timeout: None,
            proxy: None,
        }
    }
}

/// A running guard for one remote operation; stops when dropped.
pub(crate) struct OriginGuard {
    origin: Origin,
    address: SocketAddr,
    refused: Arc<Refusals>,
    connections: Arc<Connections>,
    stop: Arc<AtomicBool>,
    accepting: Option<JoinHandle<()>>,
    watchdog: Option<JoinHandle<()>>,
}

impl OriginGuard {
    /// Listens on a free port of 127.0.0.1 and lets connections through to
    /// `origin` only, as `settings` say.
    pub fn start(origin: Origin, settings: GuardSettings) -> io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let address = listener.local_addr()?;
        let refused = Arc::new(Refusals::default());
        let connections = Arc::new(Connections::default());
        let stop = Arc::new(AtomicBool::new(false));
        let watchdog = match settings.timeout {
            Some(timeout) => {
                let watched = connections.clone();
                Some(
                    std::thread::Builder::new()
                        .name("git-origin-guard-deadline".into())
                        .spawn(move || watched.watch(timeout))?,
                )
            }
            None => None,
        };
        let guarded = origin.clone();
        let relay = Arc::new(Relay {
            origin,
            address,
            idle: settings.idle,
            deadline: settings.timeout.map(|timeout| Instant::now() + timeout),
            proxy: settings.proxy,
            connections: connections.clone(),
        });
        let (refused_log, stopping) = (refused.clone(), stop.clone());
        let accepting = std::thread::Builder::new()
            .name("git-origin-guard".into())
            .spawn(move || {
                for client in listener.incoming() {
                    if stopping.load(Ordering::Acquire) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    let tracked = relay.connections.track(&client);
                    let (relay, refused) = (relay.clone(), refused_log.clone());
                    let _ = std::thread::Builder::new()
                        .name("git-origin-guard-conn".into())
                        .spawn(move || {
                            if let Err(error) = serve(client, &relay, &refused) {
                                tracing::debug!(%error, "git origin guard: connection ended");
                            }
                            drop(tracked);
                        });
                }
            })?;
        Ok(Self {
            origin: guarded,
            address,
            refused,
            connections,
            stop,
            accepting: Some(accepting),
            watchdog,
        })
    }

    /// [`Self::start`] with the default settings but `idle` (tests use a short one).
    #[cfg(test)]
    pub fn start_with_idle(origin: Origin, idle: Duration) -> io::Result<Self> {
        Self::start(
            origin,
            GuardSettings {
                idle,
                ..GuardSettings::default()
            },
        )
    }

    /// Whether the operation's timeout passed and its connections were closed.
    pub fn expired(&self) -> bool {
        self.connections.expired()
    }

    /// Why the proxy did not let a connection through, if it did not.
    pub fn proxy_failure(&self) -> Option<String> {
        self.connections.proxy_failure()
    }

    /// Why the origin could not be reached (connection refused, no route...), if it could not.
    pub fn connect_failure(&self) -> Option<String> {
        self.connections.connect_failure()
    }

    /// The proxy URL to give libgit2 (https), or `None` (http: see [`Self::remote_url`]).
    pub fn proxy_url(&self) -> Option<String> {
        (self.origin.scheme == "https").then(|| format!("http://{}", self.address))
    }

    /// The URL to give libgit2 for `url` (the configured one): unchanged for
    /// https, and for http and ssh the guard's address in place of the
    /// origin's, userinfo, path and query kept.
    pub fn remote_url(&self, url: &str) -> String {
        if self.origin.scheme == "https" {
            return url.to_string();
        }
        let Some((scheme, rest)) = url.split_once("://") else {
            return url.to_string();
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let userinfo = authority
            .rsplit_once('@')
            .map(|(info, _)| format!("{info}@"));
        format!(
            "{scheme}://{}{}{tail}",
            userinfo.unwrap_or_default(),
            self.address
        )
    }

    /// Whether `url` is the guard's own address (what libgit2 sees in http mode).
    pub fn is_own_url(&self, url: &str) -> bool {
        Origin::of_url(url).is_some_and(|o| {
            o.scheme == "http"
                && o.port == self.address.port()
                && o.host == self.address.ip().to_string()
        })
    }

    /// The other origin a connection was refused to, if any.
    #[cfg(test)]
    pub fn refused(&self) -> Option<Origin> {
        self.refused.wait(Duration::ZERO)
    }

    /// [`Self::refused`], waiting up to `limit` for a refusal in progress:
    /// libgit2 may fail on stale bytes of a reused connection a moment before
    /// the guard has read the CONNECT it sent on it.
    pub fn refused_within(&self, limit: Duration) -> Option<Origin> {
        self.refused.wait(limit)
    }
}

impl Drop for OriginGuard {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.connections.stop();
        // Wake the accepting thread so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.address, Duration::from_secs(1));
        if let Some(accepting) = self.accepting.take() {
            let _ = accepting.join();
        }
        if let Some(watchdog) = self.watchdog.take() {
            let _ = watchdog.join();
        }
    }
}

/// What a connection thread needs: the configured origin, the guard's own
/// address, and how to reach the origin.
struct Relay {
    origin: Origin,
    address: SocketAddr,
    /// How long a connection may stay silent both ways.
    idle: Duration,
    /// When every connection is closed (the operation's timeout).
    deadline: Option<Instant>,
    /// The forward proxy to go through.
    proxy: Option<UpstreamProxy>,
    /// Every connection opened, for the deadline; what the proxy refused.
    connections: Arc<Connections>,
}

impl Relay {
    /// A connection to the origin, through the proxy when there is one (a
    /// tunnel when `tunnel`; else, with an http proxy, a connection to the
    /// proxy for absolute-form requests), and what the origin already sent.
    fn connect_upstream(&self, tunnel: bool) -> io::Result<Upstream> {
        if let Some(proxy) = &self.proxy {
            return through_proxy(
                proxy,
                &self.origin,
                tunnel,
                self.deadline,
                &self.connections,
            );
        }
        let limit = self.deadline.map_or(CONNECT_TIMEOUT, |deadline| {
            deadline.saturating_duration_since(Instant::now())
        });
        let stream = connect_host(&self.origin.host, self.origin.port, limit).map_err(|error| {
            self.connections.connect_failed(format!(
                "failed to connect to {}: {error}",
                self.origin.authority()
            ));
            error
        })?;
        let tracked = self.connections.track(&stream);
        Ok(Upstream {
            stream,
            early: Vec::new(),
            tracked,
        })
    }

    /// The http proxy plain http requests are sent to in absolute form.
    fn http_proxy(&self) -> Option<&UpstreamProxy> {
        self.proxy
            .as_ref()
            .filter(|proxy| proxy.protocol == ProxyProtocol::Http)
    }
}

/// One client connection, by the origin's scheme.
fn serve(client: TcpStream, relay: &Relay, refused: &Refusals) -> io::Result<()> {
    match relay.origin.scheme.as_str() {
        "https" => serve_tunnel(client, relay, refused),
        "ssh" => serve_relay(client, relay),
        _ => serve_forward(client, relay, refused),
    }
}

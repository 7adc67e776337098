//! How the guard reaches the origin: directly, or through the GitRepository's
//! forward proxy (`proxySecretRef`), and how one operation's deadline (the
//! GitRepository's `timeout`) closes every connection it opened.
//!
//! Proxies, as Flux's Go transports use them:
//! - `http://`: a tunnel is `CONNECT host:port` (https and ssh origins); a
//!   plain http origin's requests are sent to the proxy in absolute form
//!   (`GET http://host:port/path`). Credentials go in `Proxy-Authorization:
//!   Basic`, to the proxy only.
//! - `socks5://`: a SOCKS5 `CONNECT` (RFC 1928; host names resolved by the
//!   proxy), with username/password authentication (RFC 1929) when the
//!   Secret has them.
//!
//! What the proxy refused is recorded, so the operation's error can say so.

use std::collections::BTreeMap;
use std::io::{self, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;

use super::{CONNECT_TIMEOUT, Origin, read_head};
use crate::secret::Secret;

/// The protocol spoken to a proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProxyProtocol {
    /// An HTTP forward proxy (`CONNECT`, absolute-form requests).
    Http,
    /// A SOCKS5 proxy.
    Socks5,
}

/// A forward proxy the guard's upstream connections go through.
#[derive(Debug, Clone)]
pub(crate) struct UpstreamProxy {
    /// How to speak to it.
    pub protocol: ProxyProtocol,
    /// Its host.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// Basic (http) or username/password (socks5) credentials.
    pub credentials: Option<(String, Secret<String>)>,
    /// `scheme://host:port`, for messages.
    pub display: String,
}

impl UpstreamProxy {
    /// The `Proxy-Authorization` header line (with CRLF), or nothing.
    pub fn authorization_header(&self) -> String {
        match &self.credentials {
            Some((user, password)) => format!(
                "Proxy-Authorization: Basic {}\r\n",
                base64::engine::general_purpose::STANDARD
                    .encode(format!("{user}:{}", password.expose()))
            ),
            None => String::new(),
        }
    }
}

/// Every open socket of one guard, and the operation's deadline.
#[derive(Default)]
pub(crate) struct Connections {
    open: Mutex<BTreeMap<u64, TcpStream>>,
    next: AtomicU64,
    expired: AtomicBool,
    stopped: Mutex<bool>,
    wake: Condvar,
    proxy_failure: Mutex<Option<String>>,
    connect_failure: Mutex<Option<String>>,
}

/// A socket's place in [`Connections`], given up when dropped (so the
/// registry's handle does not keep the socket open).
pub(crate) struct Tracked {
    connections: Arc<Connections>,
    id: u64,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if let Ok(mut open) = self.connections.open.lock() {
            open.remove(&self.id);
        }
    }
}

/// A connection to the origin (or to the http proxy), what the origin
/// already sent through it, and its place in [`Connections`].
pub(crate) struct Upstream {
    /// The connection.
    pub stream: TcpStream,
    /// Bytes the origin sent before the caller reads (an ssh banner that came
    /// with the proxy's answer).
    pub early: Vec<u8>,
    /// Keep until the connection is done with.
    pub tracked: Tracked,
}

impl Connections {
    /// Keeps a handle on `stream` to close it at the deadline (closed at once
    /// when the deadline has passed), until the returned [`Tracked`] drops.
    pub fn track(self: &Arc<Self>, stream: &TcpStream) -> Tracked {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        if self.expired() {
            let _ = stream.shutdown(Shutdown::Both);
        } else if let (Ok(mut open), Ok(clone)) = (self.open.lock(), stream.try_clone()) {
            open.insert(id, clone);
        }
        Tracked {
            connections: self.clone(),
            id,
        }
    }

    /// Whether the deadline passed and the connections were closed.
    pub fn expired(&self) -> bool {
        self.expired.load(Ordering::Acquire)
    }

    /// Waits until `timeout` has passed or the guard stops; in the first
    /// case closes every tracked connection, which ends whatever libgit2
    /// was waiting for.
    pub fn watch(&self, timeout: Duration) {
        let Ok(stopped) = self.stopped.lock() else {
            return;
        };
        let Ok((stopped, _)) = self
            .wake
            .wait_timeout_while(stopped, timeout, |stopped| !*stopped)
        else {
            return;
        };
        if *stopped {
            return;
        }
        self.expired.store(true, Ordering::Release);
        if let Ok(open) = self.open.lock() {
            for stream in open.values() {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
    }

    /// Ends [`Self::watch`] without closing anything.
    pub fn stop(&self) {
        if let Ok(mut stopped) = self.stopped.lock() {
            *stopped = true;
            self.wake.notify_all();
        }
    }

    /// Records why the proxy did not let a connection through (the first reason).
    pub fn proxy_failed(&self, reason: String) {
        if let Ok(mut failure) = self.proxy_failure.lock() {
            failure.get_or_insert(reason);
        }
    }

    /// Why the proxy did not let a connection through, if it did not.
    pub fn proxy_failure(&self) -> Option<String> {
        self.proxy_failure.lock().ok().and_then(|f| f.clone())
    }

    /// Records why the origin could not be reached (the first reason).
    pub fn connect_failed(&self, reason: String) {
        if let Ok(mut failure) = self.connect_failure.lock() {
            failure.get_or_insert(reason);
        }
    }

    /// Why the origin could not be reached, if it could not.
    pub fn connect_failure(&self) -> Option<String> {
        self.connect_failure.lock().ok().and_then(|f| f.clone())
    }
}

/// Connects to `host:port` within `limit`, trying each address.
pub(crate) fn connect_host(host: &str, port: u16, limit: Duration) -> io::Result<TcpStream> {
    let mut last = io::Error::other("the host name resolves to no address");
    for address in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&address, limit.min(CONNECT_TIMEOUT)) {
            Ok(stream) => return Ok(stream),
            Err(error) => last = error,
        }
    }
    Err(last)
}

/// Opens a connection to `origin` through `proxy`: a tunnel when `tunnel`
/// (or the proxy is SOCKS5), else a connection to the http proxy itself, to
/// which the caller sends absolute-form requests. Returns the stream and what
/// the origin already sent through the tunnel (an ssh server speaks first).
/// Refusals are recorded in `connections`.
pub(crate) fn through_proxy(
    proxy: &UpstreamProxy,
    origin: &Origin,
    tunnel: bool,
    deadline: Option<Instant>,
    connections: &Arc<Connections>,
) -> io::Result<Upstream> {
    let limit = deadline.map_or(CONNECT_TIMEOUT, |deadline| {
        deadline.saturating_duration_since(Instant::now())
    });
    let stream = connect_host(&proxy.host, proxy.port, limit).map_err(|error| {
        connections.proxy_failed(format!("cannot connect to the proxy ({error})"));
        error
    })?;
    let tracked = connections.track(&stream);
    // The handshake must not outlive the operation either.
    stream.set_read_timeout(Some(limit.max(Duration::from_millis(10))))?;
    let result = match proxy.protocol {
        ProxyProtocol::Http if tunnel => http_connect(stream, proxy, origin),
        ProxyProtocol::Http => Ok((stream, Vec::new())),
        ProxyProtocol::Socks5 => socks5_connect(stream, proxy, origin).map(|s| (s, Vec::new())),
    };
    let (stream, early) = result.map_err(|error| {
        if error.kind() == io::ErrorKind::PermissionDenied {
            connections.proxy_failed(error.to_string());
        } else {
            connections.proxy_failed(format!("the proxy handshake failed ({error})"));
        }
        error
    })?;
    Ok(Upstream {
        stream,
        early,
        tracked,
    })
}

/// `CONNECT host:port` through an HTTP proxy; the stream after a 2xx
/// answer, and what the origin sent after it.
fn http_connect(
    stream: TcpStream,
    proxy: &UpstreamProxy,
    origin: &Origin,
) -> io::Result<(TcpStream, Vec<u8>)> {
    let authority = origin.authority();
    let mut writer = stream.try_clone()?;
    writer.write_all(
        format!(
            "CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n{}\r\n",
            proxy.authorization_header()
        )
        .as_bytes(),
    )?;
    let mut reader = BufReader::new(stream);
    let head = read_head(&mut reader)?;
    let status_line = head.lines().next().unwrap_or_default().trim().to_string();
    let status: u16 = status_line
        .split_ascii_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if !(200..300).contains(&status) {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            refusal(status, &status_line, &authority),
        ));
    }
    let early = reader.buffer().to_vec();
    Ok((reader.into_inner(), early))
}

/// What a proxy's refusal means, in words. (An answer to `CONNECT` can only
/// be the proxy's: some proxies, tinyproxy among them, refuse wrong
/// credentials with 401 rather than 407.)
pub(crate) fn refusal(status: u16, status_line: &str, authority: &str) -> String {
    match status {
        401 | 407 => format!(
            "the proxy asks for credentials, or refused the ones given ({status_line}): check username and password in the proxy Secret"
        ),
        _ => format!("the proxy refused to connect to {authority} ({status_line})"),
    }
}

/// A SOCKS5 `CONNECT` to the origin by name.
fn socks5_connect(
    mut stream: TcpStream,
    proxy: &UpstreamProxy,
    origin: &Origin,
) -> io::Result<TcpStream> {
    let denied = |reason: String| io::Error::new(io::ErrorKind::PermissionDenied, reason);
    let methods: &[u8] = if proxy.credentials.is_some() {
        &[0x00, 0x02]
    } else {
        &[0x00]
    };
    let mut greeting = vec![0x05, methods.len() as u8];
    greeting.extend_from_slice(methods);
    stream.write_all(&greeting)?;
    let mut choice = [0u8; 2];
    stream.read_exact(&mut choice)?;
    if choice[0] != 0x05 {
        return Err(io::Error::other("the proxy does not speak SOCKS5"));
    }
    match (choice[1], &proxy.credentials) {
        (0x00, _) => {}
        (0x02, Some((user, password))) => {
            let (user, password) = (user.as_bytes(), password.expose().as_bytes());
            let (Ok(user_len), Ok(password_len)) =
                (u8::try_from(user.len()), u8::try_from(password.len()))
            else {
                return Err(denied(
                    "the proxy username or password is longer than SOCKS5 allows (255 bytes)"
                        .to_string(),
                ));
            };
            let mut request = vec![0x01, user_len];
            request.extend_from_slice(user);
            request.push(password_len);
            request.extend_from_slice(password);
            stream.write_all(&request)?;
            let mut answer = [0u8; 2];
            stream.read_exact(&mut answer)?;
            if answer[1] != 0x00 {
                return Err(denied(
                    "the SOCKS5 proxy refused the username and password: check them in the proxy Secret"
                        .to_string(),
                ));
            }
        }
        _ => {
            return Err(denied(
                "the SOCKS5 proxy accepts none of the offered authentication methods (none, or username and password when the Secret has them)"
                    .to_string(),
            ));
        }
    }
    let mut request = vec![0x05, 0x01, 0x00];
    match origin.host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => {
            request.push(0x01);
            request.extend_from_slice(&ip.octets());
        }
        Ok(std::net::IpAddr::V6(ip)) => {
            request.push(0x04);
            request.extend_from_slice(&ip.octets());
        }
        // A name is resolved by the proxy (as `socks5h`), like Go's dialer does.
        Err(_) => {
            let host = origin.host.as_bytes();
            let Ok(host_len) = u8::try_from(host.len()) else {
                return Err(io::Error::other("the host name is too long for SOCKS5"));
            };
            request.extend_from_slice(&[0x03, host_len]);
            request.extend_from_slice(host);
        }
    }
    request.extend_from_slice(&origin.port.to_be_bytes());
    stream.write_all(&request)?;
    let mut reply = [0u8; 4];
    stream.read_exact(&mut reply)?;
    if reply[1] != 0x00 {
        return Err(denied(format!(
            "the SOCKS5 proxy refused to connect to {} ({})",
            origin.authority(),
            socks5_reply(reply[1])
        )));
    }
    // The bound address the proxy reports, then the tunnel.
    let skip = match reply[3] {
        0x01 => 4,
        0x04 => 16,
        0x03 => {
            let mut len = [0u8; 1];
            stream.read_exact(&mut len)?;
            usize::from(len[0])
        }
        _ => {
            return Err(io::Error::other(
                "the SOCKS5 proxy sent an unknown address type",
            ));
        }
    };
    let mut bound = vec![0u8; skip + 2];
    stream.read_exact(&mut bound)?;
    Ok(stream)
}

/// RFC 1928's reply codes.
fn socks5_reply(code: u8) -> &'static str {
    match code {
        0x01 => "general failure",
        0x02 => "not allowed by its rules",
        0x03 => "network unreachable",
        0x04 => "host unreachable",
        0x05 => "connection refused",
        0x06 => "TTL expired",
        0x07 => "command not supported",
        0x08 => "address type not supported",
        _ => "unknown error",
    }
}

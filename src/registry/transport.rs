//! The HTTP layer under the registry client: one `reqwest` client per TLS
//! setting, retry decisions with jittered exponential backoff, `Retry-After`,
//! and per-host gates that limit concurrency and slow a host down for every
//! scan after it answered 429.
//!
//! A request holds its host's concurrency permit only while it is in flight:
//! a repository that is backing off never holds a slot, so a failing
//! repository does not delay the others. Waiting goes through a [`Sleeper`] so
//! tests can observe (and skip) the waits instead of timing them.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use reqwest::Url;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use sha2::{Digest as _, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::proxy::ProxySettings;

/// How failed requests are retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per request, the first included (5xx, 408, 429 and connection errors retry).
    pub max_attempts: u32,
    /// The first backoff; doubled per attempt, with full jitter.
    pub base_delay: Duration,
    /// The longest backoff.
    pub max_delay: Duration,
    /// The longest `Retry-After` honoured; a longer one fails the request (transient).
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1` (`attempt` ≥ 1): a random duration
    /// up to `base × 2^(attempt-1)`, capped at `max_delay`, at least 1 ms.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(20);
        let ceiling = self
            .base_delay
            .saturating_mul(1 << exponent)
            .min(self.max_delay);
        let millis = u64::try_from(ceiling.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        Duration::from_millis(fastrand::u64(millis / 2..=millis).max(1))
    }
}

/// Whether an HTTP status is worth retrying.
pub fn is_retryable_status(status: u16) -> bool {
    status == 408 || status == 429 || (500..=599).contains(&status) && status != 501
}

/// `Retry-After` as a delay: delta-seconds or an HTTP date.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Waits. Production sleeps on the tokio timer; tests record and skip.
pub trait Sleeper: Send + Sync {
    /// Waits for `duration`.
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// Sleeps on the tokio timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// One registry host's concurrency limit and rate-limit pause.
#[derive(Debug)]
pub struct HostGate {
    permits: Arc<Semaphore>,
    paused_until: Mutex<Option<Instant>>,
}

impl HostGate {
    fn new(concurrency: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            paused_until: Mutex::new(None),
        }
    }

    /// Waits out any pause, then takes a concurrency slot.
    pub async fn enter(&self, sleeper: &dyn Sleeper) -> Option<OwnedSemaphorePermit> {
        if let Some(wait) = self.remaining_pause() {
            sleeper.sleep(wait).await;
        }
        self.permits.clone().acquire_owned().await.ok()
    }

    /// Pauses the host for everyone for `delay` from now (a longer pause wins).
    pub fn pause_for(&self, delay: Duration) {
        let now = Instant::now();
        let until = now.checked_add(delay).unwrap_or(now);
        if let Ok(mut paused) = self.paused_until.lock() {
            *paused = Some(paused.map_or(until, |p| p.max(until)));
        }
    }

    /// How long the host is still paused.
    pub fn remaining_pause(&self) -> Option<Duration> {
        let paused = *self.paused_until.lock().ok()?;
        paused
            .and_then(|until| until.checked_duration_since(Instant::now()))
            .filter(|d| !d.is_zero())
    }
}

/// Gates by host (`host:port` of the endpoint actually contacted).
#[derive(Debug)]
pub struct HostGates {
    concurrency: usize,
    gates: Mutex<HashMap<String, Arc<HostGate>>>,
}

impl HostGates {
    /// Gates allowing `concurrency` requests in flight per host.
    pub fn new(concurrency: usize) -> Self {
        Self {
            concurrency,
            gates: Mutex::new(HashMap::new()),
        }
    }

    /// The gate of `authority`.
    pub fn gate(&self, authority: &str) -> Arc<HostGate> {
        match self.gates.lock() {
            Ok(mut gates) => gates
                .entry(authority.to_string())
                .or_insert_with(|| Arc::new(HostGate::new(self.concurrency)))
                .clone(),
            // A poisoned map only loses sharing, never correctness.
            Err(_) => Arc::new(HostGate::new(self.concurrency)),
        }
    }
}

/// TLS material from a `certSecretRef`.
#[derive(Clone, Default)]
pub struct TlsSettings {
    /// PEM CA certificates to trust in addition to the system's.
    pub ca_pem: Option<Vec<u8>>,
    /// PEM client certificate chain and private key.
    pub client_identity_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSettings")
            .field("ca", &self.ca_pem.is_some())
            .field("client_identity", &"[redacted]")
            .finish()
    }
}

impl TlsSettings {
    /// Reads `ca.crt` (or `caFile`) and `tls.crt` + `tls.key` (or `certFile` +
    /// `keyFile`) from a `certSecretRef` Secret, as Flux does.
    pub fn from_secret(secret: &super::SecretData) -> Result<Self, String> {
        let first = |keys: &[&str]| keys.iter().find_map(|k| secret.get(k)).map(<[u8]>::to_vec);
        let ca_pem = first(&["ca.crt", "caFile"]);
        let cert = first(&["tls.crt", "certFile"]);
        let key = first(&["tls.key", "keyFile"]);
        let client_identity_pem = match (cert, key) {
            (Some(mut cert), Some(key)) => {
                cert.push(b'\n');
                cert.extend_from_slice(&key);
                Some(cert)
            }
            (None, None) => None,
            _ => return Err("tls.crt and tls.key must be given together".into()),
        };
        if ca_pem.is_none() && client_identity_pem.is_none() {
            return Err("it has neither ca.crt nor tls.crt/tls.key".into());
        }
        Ok(Self {
            ca_pem,
            client_identity_pem,
        })
    }

    fn key(&self) -> String {
        let mut hasher = Sha256::new();
        for part in [&self.ca_pem, &self.client_identity_pem] {
            hasher.update(part.as_deref().unwrap_or_default());
            hasher.update([0]);
        }
        hex::encode(hasher.finalize())
    }

    fn is_default(&self) -> bool {
        self.ca_pem.is_none() && self.client_identity_pem.is_none()
    }
}

/// `reqwest` clients, one per distinct TLS and proxy setting (connection
/// pools are shared by every scan with the same settings).
#[derive(Debug)]
pub struct HttpClients {
    default: reqwest::Client,
    direct: reqwest::Client,
    user_agent: String,
    /// By a hash of the TLS material and the proxy (never the values themselves).
    custom: Mutex<HashMap<String, reqwest::Client>>,
}

impl HttpClients {
    /// Builds the default client.
    pub fn new(user_agent: &str) -> Result<Self, reqwest::Error> {
        Ok(Self {
            default: Self::builder(user_agent).build()?,
            direct: Self::builder(user_agent).no_proxy().build()?,
            user_agent: user_agent.to_string(),
            custom: Mutex::new(HashMap::new()),
        })
    }

    fn builder(user_agent: &str) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .user_agent(user_agent)
            // Registries redirect blob downloads, never tag lists; a redirect on an
            // API call would carry our Authorization elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(15))
            .pool_max_idle_per_host(16)
    }

    /// A client that never goes through a proxy, not even one from the
    /// environment (`HTTP_PROXY`): for link-local metadata servers.
    pub fn direct(&self) -> reqwest::Client {
        self.direct.clone()
    }

    /// The client for `tls` through `proxy` (built on first use).
    pub fn client(
        &self,
        tls: &TlsSettings,
        proxy: Option<&ProxySettings>,
    ) -> Result<reqwest::Client, String> {
        if tls.is_default() && proxy.is_none() {
            return Ok(self.default.clone());
        }
        let key = format!(
            "{}/{}",
            tls.key(),
            proxy.map(ProxySettings::key).unwrap_or_default()
        );
        if let Ok(custom) = self.custom.lock()
            && let Some(client) = custom.get(&key)
        {
            return Ok(client.clone());
        }
        let mut builder = Self::builder(&self.user_agent);
        if let Some(pem) = &tls.ca_pem {
            let certificates = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| format!("ca.crt is not PEM certificates ({e})"))?;
            if certificates.is_empty() {
                return Err("ca.crt holds no certificate".into());
            }
            builder = builder.tls_certs_merge(certificates);
        }
        if let Some(pem) = &tls.client_identity_pem {
            let identity = reqwest::Identity::from_pem(pem)
                .map_err(|_| "tls.crt/tls.key are not a PEM certificate and key".to_string())?;
            builder = builder.identity(identity);
        }
        if let Some(proxy) = proxy {
            builder = builder.proxy(proxy.to_reqwest()?);
        }
        let client = builder
            .build()
            .map_err(|e| format!("cannot build an HTTP client ({e})"))?;
        if let Ok(mut custom) = self.custom.lock() {
            custom.insert(key, client.clone());
        }
        Ok(client)
    }
}

/// A response read in full.
#[derive(Debug)]
pub struct Fetched {
    /// The HTTP status.
    pub status: u16,
    /// The response headers.
    pub headers: HeaderMap,
    /// The body (empty for `HEAD`).
    pub body: Vec<u8>,
}

/// Sends requests with retries, host gates and a request counter.
pub struct Transport {
    /// The clients by TLS setting.
    pub clients: HttpClients,
    gates: HostGates,
    retry: RetryPolicy,
    sleeper: Arc<dyn Sleeper>,
    requests: AtomicU64,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("retry", &self.retry)
            .field("requests", &self.requests)
            .finish_non_exhaustive()
    }
}

/// The largest response body read (a page of 1000 tags is far smaller).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Why [`Transport::execute`] gave up without a response.
#[derive(Debug)]
pub enum ExecuteError {
    /// Sending or reading failed on every attempt.
    Transport(reqwest::Error),
    /// The body was larger than allowed.
    TooLarge,
}

impl Transport {
    /// A transport with `concurrency` requests in flight per host.
    pub fn new(
        clients: HttpClients,
        concurrency: usize,
        retry: RetryPolicy,
        sleeper: Arc<dyn Sleeper>,
    ) -> Self {
        Self {
            clients,
            gates: HostGates::new(concurrency),
            retry,
            sleeper,
            requests: AtomicU64::new(0),
        }
    }

    /// Requests sent so far (every attempt counts).
    pub fn request_count(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// The gate of `url`'s host.
    pub fn gate(&self, url: &Url) -> Arc<HostGate> {
        self.gates.gate(&authority(url))
    }

    /// Sends the request `build` makes (again for each attempt) and reads the
    /// whole body, retrying connection errors, broken bodies, 5xx and 408 with
    /// jittered backoff and 429 after `Retry-After` (pausing the host for
    /// everyone). The last response is returned whatever its status.
    pub async fn execute(
        &self,
        url: &Url,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Fetched, ExecuteError> {
        let gate = self.gate(url);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= self.retry.max_attempts;
            let permit = gate.enter(self.sleeper.as_ref()).await;
            self.requests.fetch_add(1, Ordering::Relaxed);
            let outcome = match build().send().await {
                Ok(response) => read(response).await,
                Err(error) => Err(ExecuteError::Transport(error)),
            };
            drop(permit);
            match outcome {
                Ok(fetched) if fetched.status == 429 && !last => {
                    let delay = retry_after(&fetched.headers, SystemTime::now())
                        .unwrap_or_else(|| self.retry.backoff(attempt));
                    if delay > self.retry.max_retry_after {
                        tracing::warn!(url = %crate::redact::url(url.as_str()), ?delay, "registry asks to wait longer than allowed; giving up for now");
                        return Ok(fetched);
                    }
                    tracing::info!(host = %authority(url), ?delay, "registry rate-limits us (429); pausing requests to this host");
                    gate.pause_for(delay);
                }
                Ok(fetched)
                    if is_retryable_status(fetched.status) && fetched.status != 429 && !last =>
                {
                    let delay = self.retry.backoff(attempt);
                    tracing::debug!(url = %crate::redact::url(url.as_str()), status = fetched.status, attempt, ?delay, "retrying");
                    self.sleeper.sleep(delay).await;
                }
                Ok(fetched) => return Ok(fetched),
                Err(ExecuteError::Transport(error)) if !last => {
                    let delay = self.retry.backoff(attempt);
                    tracing::debug!(
                        url = %crate::redact::url(url.as_str()),
                        error = %crate::redact::text(&error.to_string()),
                        attempt,
                        ?delay,
                        "request failed; retrying"
                    );
                    self.sleeper.sleep(delay).await;
                }
                Err(error) => return Err(error),
            }
        }
    }
}

async fn read(mut response: reqwest::Response) -> Result<Fetched, ExecuteError> {
    let status = response.status().as_u16();
    let headers = std::mem::take(response.headers_mut());
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(ExecuteError::Transport)? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(ExecuteError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Fetched {
        status,
        headers,
        body,
    })
}

/// `host:port` of a URL (the port made explicit).
pub fn authority(url: &Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap_or_default(),
        url.port_or_known_default().unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn backoff_grows_and_stays_within_bounds() {
        let policy = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            ..RetryPolicy::default()
        };
        for _ in 0..50 {
            let first = policy.backoff(1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let late = policy.backoff(10);
            assert!(late <= Duration::from_millis(1000) && late >= Duration::from_millis(500));
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&later).unwrap());
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(30)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers, now), None);
    }

    #[test]
    fn retryable_statuses() {
        for status in [408, 429, 500, 502, 503, 504] {
            assert!(is_retryable_status(status), "{status}");
        }
        for status in [400, 401, 403, 404, 501] {
            assert!(!is_retryable_status(status), "{status}");
        }
    }

    #[test]
    fn a_paused_host_reports_the_remaining_pause() {
        let gates = HostGates::new(2);
        let gate = gates.gate("registry:5000");
        assert_eq!(gate.remaining_pause(), None);
        gate.pause_for(Duration::from_secs(60));
        gates
            .gate("registry:5000")
            .pause_for(Duration::from_secs(1));
        let remaining = gates.gate("registry:5000").remaining_pause().unwrap();
        assert!(remaining > Duration::from_secs(30), "the longer pause wins");
        assert_eq!(gates.gate("other:5000").remaining_pause(), None);
    }
}

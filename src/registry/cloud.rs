//! What `provider: azure` ([`super::azure`]) and `provider: gcp`
//! ([`super::gcp`]) share: the environment they read, their errors, a token
//! cache, and one request helper.
//!
//! Tokens are cached with their expiry ([`super::ecr::token_lifetime`]:
//! saturating arithmetic, refreshed before they end, never longer than 12
//! hours and never less than a minute, so a server that answers with tokens
//! already expired cannot cause a request storm). Fetches are serialized per
//! cache, so many scans of one registry make one request. Tokens live in
//! [`Secret`]s and never reach a log line or an error: errors carry the URL
//! (without query), the status and the server's error code, never a body that
//! may echo a credential.
//!
//! Endpoints: each provider talks to its cloud's fixed, documented endpoints.
//! The Azure AD authority follows `AZURE_AUTHORITY_HOST` (as Azure's SDKs and
//! Flux do: workload identity sets it, sovereign clouds need it). Every other
//! endpoint can be moved **for tests only**, by a `TAGPILOT_TEST_*` variable
//! that accepts nothing but a loopback URL, so no setting can send a cloud
//! token off the machine.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use reqwest::Url;
use reqwest::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;

use crate::secret::Secret;

/// Reads an environment variable (the process environment in production; a
/// map in unit tests). Unset and empty are the same.
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// The process environment.
pub fn process_env() -> EnvLookup {
    Arc::new(|name| std::env::var(name).ok().filter(|value| !value.is_empty()))
}

/// A fixed environment (tests, or settings from elsewhere than the process).
pub fn env_from<K: Into<String>, V: Into<String>>(
    pairs: impl IntoIterator<Item = (K, V)>,
) -> EnvLookup {
    let map: HashMap<String, String> = pairs
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    Arc::new(move |name| map.get(name).cloned())
}

/// The longest answer body read from a token endpoint.
const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// The timeout of a request to a metadata server (link-local: it answers at
/// once, or the machine is not in that cloud).
pub const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a cloud identity token or registry credential could not be obtained.
#[derive(Debug, thiserror::Error)]
pub enum CloudError {
    /// An environment variable holds something unusable.
    #[error("environment variable {variable}: {reason}")]
    Environment {
        /// The variable.
        variable: &'static str,
        /// What is wrong (never its value when it may be secret).
        reason: String,
    },
    /// The workload identity's federated token file cannot be read.
    #[error("cannot read the federated token file {path} (AZURE_FEDERATED_TOKEN_FILE): {source}")]
    TokenFile {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A token endpoint could not be reached, refused, or answered something unusable.
    #[error("{what} from {url} failed: {reason}{hint}")]
    Request {
        /// Which token (`an Azure AD token`, `the ACR token exchange`, …).
        what: &'static str,
        /// The endpoint, without query.
        url: String,
        /// The status and the server's error code, or the connection error.
        reason: String,
        /// What to check (starts with "; "), or empty.
        hint: String,
        /// Whether a later try may succeed (unreachable, 5xx, 429).
        transient: bool,
    },
}

impl CloudError {
    /// Whether a later try may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Request {
                transient: true,
                ..
            }
        )
    }
}

/// A test-only endpoint override: `None` when `variable` is unset; an error
/// unless it is an `http(s)` URL on a loopback address.
pub fn test_endpoint(env: &EnvLookup, variable: &'static str) -> Result<Option<Url>, CloudError> {
    let Some(value) = env(variable) else {
        return Ok(None);
    };
    let refused = || {
        CloudError::Environment {
        variable,
        reason: "this test-only override must be an http:// or https:// URL on 127.0.0.1, [::1] or localhost".to_string(),
    }
    };
    let url = Url::parse(&value).map_err(|_| refused())?;
    let host = url.host_str().unwrap_or_default();
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !matches!(url.scheme(), "http" | "https") || !loopback || !url.username().is_empty() {
        return Err(refused());
    }
    Ok(Some(url))
}

/// The HTTP clients a provider request uses.
#[derive(Clone, Copy)]
pub struct HttpContext<'a> {
    /// Through the ImageRepository's proxy, if any (Azure AD, the registry).
    pub proxied: &'a reqwest::Client,
    /// Never through a proxy (metadata services).
    pub direct: &'a reqwest::Client,
    /// The request timeout (the ImageRepository's `timeout`).
    pub timeout: Duration,
    /// The environment.
    pub env: &'a EnvLookup,
}

/// A form body (`application/x-www-form-urlencoded`), kept secret: it carries credentials.
pub fn form(pairs: &[(&str, &str)]) -> Secret<String> {
    let mut body = String::new();
    for (key, value) in pairs {
        if !body.is_empty() {
            body.push('&');
        }
        encode_form_component(key, &mut body);
        body.push('=');
        encode_form_component(value, &mut body);
    }
    Secret::new(body)
}

/// The form encoding of the WHATWG URL standard: `*-._` and alphanumerics
/// as is, space as `+`, every other byte as `%XX`.
fn encode_form_component(text: &str, out: &mut String) {
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
}

/// A form POST through the proxied client.
pub fn post_form(
    http: &HttpContext<'_>,
    url: &Url,
    body: &Secret<String>,
) -> reqwest::RequestBuilder {
    http.proxied
        .post(url.clone())
        .timeout(http.timeout)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body.expose().clone())
}

/// Values cached until shortly before they expire; fetches serialized.
pub struct TokenCache<T> {
    entries: tokio::sync::Mutex<HashMap<String, (T, Instant)>>,
}

impl<T> Default for TokenCache<T> {
    fn default() -> Self {
        Self {
            entries: tokio::sync::Mutex::new(HashMap::new()),
        }
    }
}

impl<T> std::fmt::Debug for TokenCache<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache").finish_non_exhaustive()
    }
}

impl<T: Clone> TokenCache<T> {
    /// The value cached under `key` (a host or a scope, never a secret), or
    /// the one `fetch` returns with its expiry, cached for
    /// [`super::ecr::token_lifetime`] of it.
    pub async fn get_or_fetch<F, Fut>(&self, key: &str, fetch: F) -> Result<T, CloudError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(T, Option<SystemTime>), CloudError>>,
    {
        // Holding the lock across the fetch makes concurrent scans wait for one request.
        let mut entries = self.entries.lock().await;
        let now = Instant::now();
        if let Some((value, valid_until)) = entries.get(key)
            && now < *valid_until
        {
            return Ok(value.clone());
        }
        let (value, expires_at) = fetch().await?;
        let lifetime = super::ecr::token_lifetime(expires_at, SystemTime::now());
        let now = Instant::now();
        entries.retain(|_, (_, until)| now < *until);
        entries.insert(
            key.to_string(),
            (value.clone(), now.checked_add(lifetime).unwrap_or(now)),
        );
        Ok(value)
    }
}

impl<T> TokenCache<T> {
    /// Forgets the value under `key` (refused by its server).
    pub async fn forget(&self, key: &str) {
        self.entries.lock().await.remove(key);
    }
}

/// `now + seconds`, saturating (a peer's number of seconds may be anything).
pub fn expiry_in(seconds: u64) -> Option<SystemTime> {
    SystemTime::now().checked_add(Duration::from_secs(seconds))
}

/// The `exp` claim of a JWT, read without verifying it (only to know when to
/// ask again; the registry verifies the token).
pub fn jwt_expiry(token: &str) -> Option<SystemTime> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let exp = claims.get("exp")?.as_u64()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(exp))
}

/// A number of seconds that some servers send as a JSON number and others
/// (Azure's managed identity endpoint) as a string.
pub fn seconds(value: Option<&serde_json::Value>) -> Option<u64> {
    match value? {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Sends a token request and reads its JSON answer. `hint` is added to a
/// refusal (401, 403, 400) to say what to check.
pub async fn fetch_json<T: DeserializeOwned>(
    what: &'static str,
    url: &Url,
    request: reqwest::RequestBuilder,
    hint: &str,
) -> Result<T, CloudError> {
    let shown = shown_url(url);
    let failed = |reason: String, hint: String, transient: bool| CloudError::Request {
        what,
        url: shown.clone(),
        reason,
        hint,
        transient,
    };
    let mut response = request
        .send()
        .await
        .map_err(|error| failed(crate::redact::with_causes(&error), String::new(), true))?;
    let status = response.status().as_u16();
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| failed(crate::redact::with_causes(&error), String::new(), true))?
    {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(failed(
                format!("the answer is larger than {MAX_ANSWER_BYTES} bytes"),
                String::new(),
                false,
            ));
        }
        body.extend_from_slice(&chunk);
    }
    if status != 200 {
        let transient = status >= 500 || status == 429 || status == 408;
        let hint = if transient {
            String::new()
        } else {
            format!("; {hint}")
        };
        return Err(failed(
            format!("it answered {status}{}", error_code(&body)),
            hint,
            transient,
        ));
    }
    serde_json::from_slice(&body).map_err(|e| {
        failed(
            format!(
                "the answer is not the expected JSON (line {} column {})",
                e.line(),
                e.column()
            ),
            String::new(),
            false,
        )
    })
}

/// The OAuth (`error`) or registry (`errors[0].code`) error code of an answer,
/// as ` (code)`: short, and never a description that may quote a credential.
fn error_code(body: &[u8]) -> String {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
        return String::new();
    };
    let code = json
        .get("error")
        .and_then(|e| {
            e.as_str()
                .or_else(|| e.get("code").and_then(|c| c.as_str()))
        })
        .or_else(|| json.pointer("/errors/0/code").and_then(|c| c.as_str()));
    match code {
        Some(code)
            if code.len() <= 64
                && code
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b)) =>
        {
            format!(" ({code})")
        }
        _ => String::new(),
    }
}

/// A URL as errors show it: without query or credentials.
pub fn shown_url(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    crate::redact::url(shown.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn env(pairs: &[(&str, &str)]) -> EnvLookup {
        env_from(pairs.iter().copied())
    }

    #[test]
    fn test_overrides_accept_loopback_urls_only() {
        let lookup = env(&[
            ("A", "https://127.0.0.1:8443/oauth2/exchange"),
            ("B", "http://localhost:9000/token"),
            ("C", "https://metadata.example/token"),
            ("D", "file:///etc/passwd"),
            ("E", "http://user:pw@127.0.0.1/"),
        ]);
        assert!(test_endpoint(&lookup, "A").unwrap().is_some());
        assert!(test_endpoint(&lookup, "B").unwrap().is_some());
        assert!(test_endpoint(&lookup, "unset").unwrap().is_none());
        for refused in ["C", "D", "E"] {
            let error = test_endpoint(&lookup, refused).unwrap_err().to_string();
            assert!(error.contains("test-only override"), "{error}");
            assert!(!error.contains("pw"), "{error}");
        }
    }

    #[test]
    fn jwt_expiry_reads_exp_and_ignores_anything_else() {
        use base64::Engine as _;
        let encode = |json: &str| {
            format!(
                "h.{}.s",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
            )
        };
        assert_eq!(
            jwt_expiry(&encode(r#"{"exp": 2000000000}"#)),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000))
        );
        assert_eq!(jwt_expiry(&encode(r#"{"exp": -1}"#)), None);
        assert_eq!(jwt_expiry(&encode(r#"{"exp": 1e300}"#)), None);
        assert_eq!(jwt_expiry("not a jwt"), None);
        // u64::MAX seconds cannot be a SystemTime: no panic, no expiry.
        assert_eq!(
            jwt_expiry(&encode(r#"{"exp": 18446744073709551615}"#)),
            None
        );
        assert!(expiry_in(u64::MAX).is_none());
    }

    #[test]
    fn seconds_are_numbers_or_strings() {
        assert_eq!(seconds(Some(&serde_json::json!(3599))), Some(3599));
        assert_eq!(seconds(Some(&serde_json::json!("86399"))), Some(86399));
        assert_eq!(seconds(Some(&serde_json::json!("soon"))), None);
        assert_eq!(seconds(None), None);
    }

    #[test]
    fn error_codes_are_short_identifiers_only() {
        assert_eq!(error_code(br#"{"error": "invalid_client", "error_description": "AADSTS7000215 secret hunter2"}"#), " (invalid_client)");
        assert_eq!(
            error_code(br#"{"errors": [{"code": "UNAUTHORIZED", "message": "x"}]}"#),
            " (UNAUTHORIZED)"
        );
        assert_eq!(error_code(br#"{"error": "hunter2 with spaces"}"#), "");
        assert_eq!(error_code(b"<html>"), "");
    }

    #[tokio::test]
    async fn the_cache_fetches_once_until_expiry_even_when_the_server_says_expired() {
        let cache: TokenCache<String> = TokenCache::default();
        let calls = AtomicUsize::new(0);
        for _ in 0..3 {
            let value = cache
                .get_or_fetch("registry", || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    // Already expired: kept for the minimum lifetime anyway.
                    Ok(("t".to_string(), Some(SystemTime::UNIX_EPOCH)))
                })
                .await
                .unwrap();
            assert_eq!(value, "t");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // A failed fetch is not cached.
        let error = cache
            .get_or_fetch("other", || async {
                Err::<(String, Option<SystemTime>), _>(CloudError::Environment {
                    variable: "X",
                    reason: "r".into(),
                })
            })
            .await;
        assert!(error.is_err());
        let value = cache
            .get_or_fetch("other", || async { Ok(("u".to_string(), None)) })
            .await
            .unwrap();
        assert_eq!(value, "u");
    }

    #[test]
    fn forms_are_url_encoded_and_never_print() {
        let body = form(&[("a", "x y&z"), ("b", "ü")]);
        assert_eq!(body.expose(), "a=x+y%26z&b=%C3%BC");
        assert_eq!(format!("{body:?}"), "[redacted]");
    }
}

//! The HTTP side shared by the forges: one `reqwest` client per target (the
//! repository's CA, no redirects: a redirect would carry the token elsewhere),
//! the token in one sensitive header, a timeout per request, bounded answers,
//! and retries as the registry client does them (jittered exponential backoff
//! on connection errors, 408, 5xx; `Retry-After` on 429) for the requests that
//! are safe to repeat. A `POST` is sent once: creating twice would open two
//! pull requests, so [`super::reconcile`] looks again before it retries.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;

use super::endpoint::{ForgeKind, ForgeTarget};
use super::error::ForgeError;
use crate::registry::transport::{
    RetryPolicy, Sleeper, TokioSleeper, is_retryable_status, retry_after,
};
use crate::secret::Secret;

/// The largest answer read (a page of pull requests with long bodies fits).
pub const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// How long one request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How the token is presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForgeToken {
    /// HTTP basic authentication (a GitRepository Secret's `username` and
    /// `password`): Gitea takes it as is; GitHub and GitLab take the password
    /// as an access token.
    Basic {
        /// The user name.
        username: String,
        /// The password or access token.
        password: Secret<String>,
    },
    /// A bearer token (a Secret's `bearerToken`, or `token` of the
    /// pull request's own `secretRef`).
    Bearer(Secret<String>),
}

impl ForgeToken {
    /// The secret part, to mask it should a forge ever echo it.
    fn secret(&self) -> &str {
        match self {
            Self::Basic { password, .. } => password.expose(),
            Self::Bearer(token) => token.expose(),
        }
    }

    /// The header that carries the token to `kind`, marked sensitive.
    fn header(&self, kind: ForgeKind) -> Option<(HeaderName, HeaderValue)> {
        use base64::Engine as _;
        let (name, value) = match (kind, self) {
            (ForgeKind::Gitea, Self::Basic { username, password }) => (
                reqwest::header::AUTHORIZATION,
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD
                        .encode(format!("{username}:{}", password.expose()))
                ),
            ),
            (ForgeKind::Gitea, Self::Bearer(token)) => (
                reqwest::header::AUTHORIZATION,
                format!("token {}", token.expose()),
            ),
            (ForgeKind::GitLab, Self::Basic { password, .. }) => (
                HeaderName::from_static("private-token"),
                password.expose().clone(),
            ),
            (ForgeKind::GitLab, Self::Bearer(token)) | (ForgeKind::GitHub, Self::Bearer(token)) => {
                (
                    reqwest::header::AUTHORIZATION,
                    format!("Bearer {}", token.expose()),
                )
            }
            (ForgeKind::GitHub, Self::Basic { password, .. }) => (
                reqwest::header::AUTHORIZATION,
                format!("Bearer {}", password.expose()),
            ),
        };
        let mut value = HeaderValue::from_str(&value).ok()?;
        value.set_sensitive(true);
        Some((name, value))
    }
}

/// An answer read in full.
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

/// Requests to one repository's forge API.
pub struct ForgeHttp {
    kind: ForgeKind,
    base: String,
    client: reqwest::Client,
    token: ForgeToken,
    extra_headers: HeaderMap,
    retry: RetryPolicy,
    sleeper: Arc<dyn Sleeper>,
}

impl std::fmt::Debug for ForgeHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForgeHttp")
            .field("kind", &self.kind)
            .field("base", &self.base)
            .field("token", &"[redacted]")
            .finish_non_exhaustive()
    }
}

impl ForgeHttp {
    /// A client for `target`, trusting `ca_pem` (PEM certificates) in addition
    /// to the system's, sending `extra_headers` (the forge's `Accept`, API
    /// version) with every request.
    pub fn new(
        target: &ForgeTarget,
        token: ForgeToken,
        ca_pem: Option<&[u8]>,
        extra_headers: HeaderMap,
    ) -> Result<Self, ForgeError> {
        let client_error = |reason: String| ForgeError::Client {
            forge: target.kind,
            reason,
        };
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("tagpilot/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(15))
            .timeout(REQUEST_TIMEOUT);
        if let Some(pem) = ca_pem {
            let certificates = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| client_error(format!("ca.crt is not PEM certificates ({e})")))?;
            builder = builder.tls_certs_merge(certificates);
        }
        let client = builder
            .build()
            .map_err(|e| client_error(crate::redact::text(&e.to_string()).into_owned()))?;
        Ok(Self {
            kind: target.kind,
            base: target.api_base.as_str().trim_end_matches('/').to_string(),
            client,
            token,
            extra_headers,
            retry: RetryPolicy::default(),
            sleeper: Arc::new(TokioSleeper),
        })
    }

    /// Replaces the retry policy and the sleeper (tests skip the waits).
    pub fn with_retry(mut self, retry: RetryPolicy, sleeper: Arc<dyn Sleeper>) -> Self {
        self.retry = retry;
        self.sleeper = sleeper;
        self
    }

    /// The forge.
    pub fn kind(&self) -> ForgeKind {
        self.kind
    }

    /// The path of the API base (`/api/v1`, or empty for `api.github.com`).
    fn base_path(&self) -> String {
        Url::parse(&self.base)
            .map(|u| u.path().trim_end_matches('/').to_string())
            .unwrap_or_default()
    }

    /// Sends `method path?query` with `body` as JSON; retries (but not a
    /// `POST`) as the module docs say; returns the answer when its status is
    /// one of `expected`, else [`ForgeError::Status`].
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
        expected: &[u16],
    ) -> Result<Answer, ForgeError> {
        let method_name = method_name(&method);
        let shown_path = format!("{}{path}", self.base_path());
        let mut url =
            Url::parse(&format!("{}{path}", self.base)).map_err(|e| ForgeError::Transport {
                forge: self.kind,
                method: method_name,
                path: shown_path.clone(),
                reason: format!("not a URL ({e})"),
            })?;
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        let repeatable = method != Method::POST;
        let attempts = if repeatable {
            self.retry.max_attempts.max(1)
        } else {
            1
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= attempts;
            let mut request = self
                .client
                .request(method.clone(), url.clone())
                .headers(self.extra_headers.clone());
            if let Some((name, value)) = self.token.header(self.kind) {
                request = request.header(name, value);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let outcome = match request.send().await {
                Ok(response) => read(response).await,
                Err(error) => Err(error.without_url().to_string()),
            };
            match outcome {
                Ok((status, headers, bytes)) => {
                    if !last && (status == 429 || is_retryable_status(status)) {
                        let delay = if status == 429 {
                            retry_after(&headers, SystemTime::now())
                                .unwrap_or_else(|| self.retry.backoff(attempt))
                        } else {
                            self.retry.backoff(attempt)
                        };
                        if delay <= self.retry.max_retry_after {
                            tracing::debug!(forge = %self.kind, method = method_name, path = %shown_path, status, attempt, ?delay, "retrying");
                            self.sleeper.sleep(delay).await;
                            continue;
                        }
                    }
                    if expected.contains(&status) {
                        return Ok(Answer {
                            status,
                            body: bytes,
                        });
                    }
                    return Err(ForgeError::Status {
                        forge: self.kind,
                        method: method_name,
                        path: shown_path,
                        status,
                        detail: self.detail(&bytes),
                    });
                }
                Err(reason) if !last => {
                    let delay = self.retry.backoff(attempt);
                    tracing::debug!(forge = %self.kind, method = method_name, path = %shown_path, reason = %self.mask(&reason), attempt, ?delay, "retrying");
                    self.sleeper.sleep(delay).await;
                }
                Err(reason) => {
                    return Err(ForgeError::Transport {
                        forge: self.kind,
                        method: method_name,
                        path: shown_path,
                        reason: self.mask(&reason),
                    });
                }
            }
        }
    }

    /// [`Self::send`], then the body as `T`.
    pub async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
        expected: &[u16],
    ) -> Result<T, ForgeError> {
        let method_name = method_name(&method);
        let answer = self.send(method, path, query, body, expected).await?;
        serde_json::from_slice(&answer.body).map_err(|e| ForgeError::Decode {
            forge: self.kind,
            method: method_name,
            path: format!("{}{path}", self.base_path()),
            reason: e.to_string(),
        })
    }

    /// The forge's own message from an error answer (`message`, `error`,
    /// `error_description`), on one line, at most 200 characters, redacted.
    fn detail(&self, body: &[u8]) -> Option<String> {
        let value: serde_json::Value = serde_json::from_slice(body).ok()?;
        let text = ["message", "error", "error_description"]
            .iter()
            .find_map(|key| match value.get(key)? {
                serde_json::Value::String(text) => Some(text.clone()),
                serde_json::Value::Null => None,
                other => Some(other.to_string()),
            })?;
        let line: String = text
            .split(['\n', '\r'])
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ")
            .chars()
            .take(200)
            .collect();
        Some(self.mask(&line))
    }

    /// `text` redacted, with the token masked should a forge have echoed it.
    fn mask(&self, text: &str) -> String {
        let redacted = crate::redact::text(text).into_owned();
        let secret = self.token.secret();
        if secret.len() >= 4 {
            redacted.replace(secret, crate::redact::MASK)
        } else {
            redacted
        }
    }
}

fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        _ => "HTTP",
    }
}

/// Reads the status, headers and body (at most [`MAX_ANSWER_BYTES`]).
async fn read(mut response: reqwest::Response) -> Result<(u16, HeaderMap, Vec<u8>), String> {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| e.without_url().to_string())?
    {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(format!(
                "the answer is larger than {MAX_ANSWER_BYTES} bytes"
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, headers, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_forge_gets_the_token_in_its_own_header_marked_sensitive() {
        let basic = ForgeToken::Basic {
            username: "bot".into(),
            password: Secret::new("s3cret".into()),
        };
        let bearer = ForgeToken::Bearer(Secret::new("t0ken".into()));
        let header = |token: &ForgeToken, kind| {
            let (name, value) = token.header(kind).unwrap();
            assert!(value.is_sensitive());
            (name.to_string(), value.to_str().unwrap().to_string())
        };
        assert_eq!(
            header(&basic, ForgeKind::Gitea),
            ("authorization".into(), "Basic Ym90OnMzY3JldA==".into())
        );
        assert_eq!(
            header(&bearer, ForgeKind::Gitea),
            ("authorization".into(), "token t0ken".into())
        );
        assert_eq!(
            header(&basic, ForgeKind::GitLab),
            ("private-token".into(), "s3cret".into())
        );
        assert_eq!(
            header(&bearer, ForgeKind::GitLab),
            ("authorization".into(), "Bearer t0ken".into())
        );
        assert_eq!(
            header(&basic, ForgeKind::GitHub),
            ("authorization".into(), "Bearer s3cret".into())
        );
        assert!(!format!("{basic:?}{bearer:?}").contains("s3cret"));
    }

    #[test]
    fn an_echoed_token_is_masked_in_details() {
        let target = ForgeTarget::derive("https://github.com/a/b", None, None).unwrap();
        let http = ForgeHttp::new(
            &target,
            ForgeToken::Bearer(Secret::new("ghp_abcdef".into())),
            None,
            HeaderMap::new(),
        )
        .unwrap();
        assert_eq!(
            http.detail(br#"{"message": "bad credentials ghp_abcdef\nsee docs"}"#),
            Some("bad credentials ***; see docs".into())
        );
        assert_eq!(http.detail(b"<html>"), None);
        assert!(!format!("{http:?}").contains("ghp_abcdef"));
    }
}

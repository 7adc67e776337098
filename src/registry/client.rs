//! [`RegistryClient`]: the registry client's requests — credentials, auth
//! challenges, bearer tokens — and manifest digests ([`DigestResolver`]).
//! Listing tags page by page, within the scan budget, is in
//! [`super::listing`] ([`super::TagLister`]).
//!
//! A scan resolves its credentials and TLS settings once (a `Session`); every
//! request then goes through `RegistryClient::get`, which answers one `401`
//! challenge. Credentials go to the registry's own origin (and, as docker
//! does, to the token realm it names), never elsewhere (invariant 10).

use std::sync::Arc;

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, WWW_AUTHENTICATE};
use reqwest::{Method, Url};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use super::auth::{AuthCache, HostScheme, TokenKey};
use super::azure::AzureCredentials;
use super::challenge::{Challenge, parse_challenge};
use super::cloud::{EnvLookup, process_env};
use super::credentials::Credentials;
use super::ecr::{EcrCredentialCache, EcrTokenSource};
use super::endpoints::RegistryEndpoints;
use super::error::ScanError;
use super::gcp::GcpCredentials;
use super::image_details::ImageDetails;
use super::listing::is_valid_tag;
use super::pagination::ScanBudget;
pub(super) use super::session::Session;
use super::transport::{
    ExecuteError, Fetched, HttpClients, RetryPolicy, Sleeper, TokioSleeper, Transport,
};
use super::{DigestResolver, NoSecrets, ScanTarget, SecretSource};
use crate::secret::Secret;

/// The manifest media types a digest lookup accepts (OCI and Docker, single and multi-arch).
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

/// Tunables of the registry client.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Tags per page (`n`); registries reject more than 1000 (ECR, distribution ≥ 3.1).
    pub page_size: u32,
    /// The most tags one scan collects; beyond it the scan is partial.
    pub max_tags: usize,
    /// Retries and backoff.
    pub retry: RetryPolicy,
    /// Requests in flight per registry host.
    pub per_host_concurrency: usize,
    /// Registry host → URL overrides.
    pub endpoints: RegistryEndpoints,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// The limits of one scan: pages, bytes, empty pages, wall time.
    pub budget: ScanBudget,
}

impl Default for ScanOptions {
    fn default() -> Self {
        Self {
            page_size: 1000,
            max_tags: 100_000,
            retry: RetryPolicy::default(),
            per_host_concurrency: 8,
            endpoints: RegistryEndpoints::default(),
            user_agent: format!("tagpilot/{}", env!("CARGO_PKG_VERSION")),
            budget: ScanBudget::default(),
        }
    }
}

/// Lists tags and resolves digests; cheap to clone (shared caches and pools).
#[derive(Debug, Clone)]
pub struct RegistryClient {
    pub(super) inner: Arc<Inner>,
}

/// What every clone of a client shares.
pub(super) struct Inner {
    pub(super) options: ScanOptions,
    pub(super) transport: Transport,
    auth: AuthCache,
    /// Per host, whether a first request has finished (see `RegistryClient::get`).
    first_contact: FirstContact,
    pub(super) ecr: EcrCredentialCache,
    pub(super) azure: AzureCredentials,
    pub(super) gcp: GcpCredentials,
    /// Where `provider: azure` and `gcp` read their settings.
    pub(super) env: EnvLookup,
    pub(super) secrets: Arc<dyn SecretSource>,
    /// Image annotations by digest (see [`super::image_details`]).
    pub(super) image_details: super::image_details::ImageDetailsCache,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// Builds a [`RegistryClient`].
pub struct RegistryClientBuilder {
    options: ScanOptions,
    secrets: Arc<dyn SecretSource>,
    ecr: Option<Arc<dyn EcrTokenSource>>,
    env: EnvLookup,
    sleeper: Arc<dyn Sleeper>,
}

impl RegistryClientBuilder {
    /// Where `provider: azure` and `gcp` read their settings (default: the
    /// process environment; see [`super::azure`] and [`super::gcp`]).
    pub fn environment(mut self, env: EnvLookup) -> Self {
        self.env = env;
        self
    }

    /// Where `secretRef` and `certSecretRef` are looked up (default: nowhere).
    pub fn secrets(mut self, secrets: Arc<dyn SecretSource>) -> Self {
        self.secrets = secrets;
        self
    }

    /// Where ECR tokens come from (default: the AWS SDK configured from the environment).
    pub fn ecr_token_source(mut self, source: Arc<dyn EcrTokenSource>) -> Self {
        self.ecr = Some(source);
        self
    }

    /// How waits happen (default: the tokio timer; tests record them instead).
    pub fn sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.sleeper = sleeper;
        self
    }

    /// The client.
    pub fn build(self) -> Result<RegistryClient, reqwest::Error> {
        let clients = HttpClients::new(&self.options.user_agent)?;
        let transport = Transport::new(
            clients,
            self.options.per_host_concurrency,
            self.options.retry.clone(),
            self.sleeper,
        );
        Ok(RegistryClient {
            inner: Arc::new(Inner {
                options: self.options,
                transport,
                auth: AuthCache::default(),
                first_contact: FirstContact::default(),
                ecr: EcrCredentialCache::new(self.ecr),
                azure: AzureCredentials::default(),
                gcp: GcpCredentials::default(),
                env: self.env,
                secrets: self.secrets,
                image_details: Default::default(),
            }),
        })
    }
}

impl RegistryClient {
    /// A builder with `options`.
    pub fn builder(options: ScanOptions) -> RegistryClientBuilder {
        RegistryClientBuilder {
            options,
            secrets: Arc::new(NoSecrets),
            ecr: None,
            env: process_env(),
            sleeper: Arc::new(TokioSleeper),
        }
    }

    /// Requests sent so far, every attempt and token request included.
    pub fn request_count(&self) -> u64 {
        self.inner.transport.request_count()
    }

    /// The client's tunables.
    pub fn options(&self) -> &ScanOptions {
        &self.inner.options
    }

    /// GETs `v2/NAME/{suffix}` of `target`'s repository with the scan's
    /// credentials (the hook of [`super::created`]); any status is returned.
    pub(crate) async fn get_in_repository(
        &self,
        target: &ScanTarget,
        suffix: &str,
        accept: &str,
    ) -> Result<(Fetched, Url), ScanError> {
        let session = self.session(target).await?;
        let url = session
            .base
            .join(&format!("v2/{}/{suffix}", session.repository))
            .map_err(|e| invalid_target(&session.image, e))?;
        Ok((self.get(&session, Method::GET, &url, accept).await?, url))
    }

    /// GETs `url` without credentials (a blob redirect's target), with the
    /// scan's TLS settings, timeout and retries.
    pub(crate) async fn get_without_credentials(
        &self,
        target: &ScanTarget,
        url: &Url,
    ) -> Result<Fetched, ScanError> {
        let session = self.session(target).await?;
        self.inner
            .transport
            .execute(url, || {
                session.http.get(url.clone()).timeout(target.timeout)
            })
            .await
            .map_err(|e| execute_error(&session.image, url, e))
    }

    /// Sends a request with the credentials the host's scheme needs, answering
    /// one `401` challenge; a second refusal is [`ScanError::Unauthorized`].
    pub(super) async fn get(
        &self,
        session: &Session<'_>,
        method: Method,
        url: &Url,
        accept: &str,
    ) -> Result<Fetched, ScanError> {
        let result = self.get_once(session, method, url, accept).await;
        if matches!(result, Err(ScanError::Unauthorized { .. })) {
            // Refused cloud credentials are not reused: the next scan asks again.
            self.forget_cloud_credentials(session.target).await;
        }
        result
    }

    async fn get_once(
        &self,
        session: &Session<'_>,
        method: Method,
        url: &Url,
        accept: &str,
    ) -> Result<Fetched, ScanError> {
        let mut challenged = false;
        // The first request to a host learns its auth scheme from the answer;
        // until it has, the other requests to that host wait for it instead of
        // all going out without credentials, to collect one `401` each.
        let gate = self.inner.first_contact.gate(&session.authority);
        let mut probe = Some(gate.lock().await);
        if probe.as_deref().is_some_and(|contacted| *contacted) {
            probe = None;
        }
        let mut release = || {
            if let Some(mut contacted) = probe.take() {
                *contacted = true;
            }
        };
        loop {
            let authorization = self.authorization(session).await;
            let authorization = authorization.inspect_err(|_| release())?;
            let fetched = self
                .inner
                .transport
                .execute(url, || {
                    let request = session
                        .http
                        .request(method.clone(), url.clone())
                        .timeout(session.target.timeout)
                        .header(ACCEPT, accept);
                    match &authorization {
                        Some(value) => request.header(AUTHORIZATION, value.expose()),
                        None => request,
                    }
                })
                .await
                .map_err(|e| execute_error(&session.image, url, e));
            let fetched = fetched.inspect_err(|_| release())?;
            let retry = if fetched.status == 401 && !challenged {
                challenged = true;
                self.answer_challenge(session, &fetched.headers)
            } else {
                Ok(false)
            };
            release();
            if retry? {
                continue;
            }
            if fetched.status == 407
                && let Some(secret) = &session.target.proxy_secret
            {
                return Err(ScanError::Proxy {
                    image: session.image.clone(),
                    secret: secret.to_string(),
                    reason: "it answered 407 (proxy authentication required): check `username` and `password`".to_string(),
                });
            }
            if fetched.status == 401 || fetched.status == 403 {
                return Err(ScanError::Unauthorized {
                    image: session.image.clone(),
                    host: session.authority.clone(),
                    status: fetched.status,
                    hint: session.hint.clone(),
                });
            }
            return Ok(fetched);
        }
    }

    /// Records what a `401` asked for; true when a retry can satisfy it.
    fn answer_challenge(
        &self,
        session: &Session<'_>,
        headers: &HeaderMap,
    ) -> Result<bool, ScanError> {
        let challenge = headers
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_challenge);
        match challenge {
            Some(Challenge::Basic) => {
                self.inner
                    .auth
                    .set_scheme(&session.authority, HostScheme::Basic);
                Ok(matches!(
                    session.credentials,
                    Some(Credentials::Basic { .. })
                ))
            }
            Some(Challenge::Bearer { realm, service, .. }) => {
                let realm = session
                    .base
                    .join(&realm)
                    .map_err(|_| ScanError::InvalidResponse {
                        image: session.image.clone(),
                        url: shown(&session.base),
                        reason: "the Bearer challenge's realm is not a URL".into(),
                    })?;
                // Credentials go to the token server: only over HTTPS, unless the
                // registry itself is plain HTTP (insecure or a local endpoint).
                if realm.scheme() != "https" && session.base.scheme() == "https" {
                    return Err(ScanError::InvalidResponse {
                        image: session.image.clone(),
                        url: shown(&session.base),
                        reason: format!(
                            "the token realm {} is not HTTPS; refusing to send credentials over plain HTTP",
                            without_query(&realm)
                        ),
                    });
                }
                let key = TokenKey::new(
                    &realm,
                    service.as_deref(),
                    &pull_scope(session),
                    session.credentials.as_ref(),
                );
                self.inner.auth.drop_token(&key);
                self.inner
                    .auth
                    .set_scheme(&session.authority, HostScheme::Bearer { realm, service });
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The `Authorization` value for the next request, if any.
    async fn authorization(
        &self,
        session: &Session<'_>,
    ) -> Result<Option<Secret<String>>, ScanError> {
        if let Some(Credentials::RegistryToken(token)) = &session.credentials {
            return Ok(Some(Secret::new(format!("Bearer {}", token.expose()))));
        }
        match self.inner.auth.scheme(&session.authority) {
            None => Ok(None),
            Some(HostScheme::Basic) => Ok(session
                .credentials
                .as_ref()
                .and_then(Credentials::basic_header)),
            Some(HostScheme::Bearer { realm, service }) => {
                let scope = pull_scope(session);
                let key = TokenKey::new(
                    &realm,
                    service.as_deref(),
                    &scope,
                    session.credentials.as_ref(),
                );
                let token = match self.inner.auth.token(&key) {
                    Some(token) => token,
                    None => {
                        let (token, lifetime) = self
                            .fetch_token(session, &realm, service.as_deref(), &scope)
                            .await?;
                        self.inner.auth.put_token(&key, token.clone(), lifetime);
                        token
                    }
                };
                Ok(Some(Secret::new(format!("Bearer {}", token.expose()))))
            }
        }
    }

    async fn fetch_token(
        &self,
        session: &Session<'_>,
        realm: &Url,
        service: Option<&str>,
        scope: &str,
    ) -> Result<(Secret<String>, std::time::Duration), ScanError> {
        let realm_name = without_query(realm);
        let token_error = |reason: String, transient: bool| ScanError::Token {
            image: session.image.clone(),
            realm: realm_name.clone(),
            reason,
            transient,
        };
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        if let Some(service) = service {
            pairs.push(("service", service));
        }
        pairs.push(("scope", scope));
        let fetched = match &session.credentials {
            Some(Credentials::IdentityToken { token, .. }) => {
                let mut form =
                    Url::parse("form:").map_err(|e| token_error(e.to_string(), false))?;
                form.query_pairs_mut()
                    .extend_pairs(&pairs)
                    .append_pair("grant_type", "refresh_token")
                    .append_pair("client_id", "tagpilot")
                    .append_pair("refresh_token", token.expose());
                let body = Secret::new(form.query().unwrap_or_default().to_string());
                self.inner
                    .transport
                    .execute(realm, || {
                        session
                            .http
                            .post(realm.clone())
                            .timeout(session.target.timeout)
                            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                            .body(body.expose().clone())
                    })
                    .await
            }
            credentials => {
                let mut url = realm.clone();
                url.query_pairs_mut().extend_pairs(&pairs);
                let basic = credentials.as_ref().and_then(|c| c.basic_header());
                self.inner
                    .transport
                    .execute(&url, || {
                        let request = session
                            .http
                            .get(url.clone())
                            .timeout(session.target.timeout);
                        match &basic {
                            Some(value) => request.header(AUTHORIZATION, value.expose()),
                            None => request,
                        }
                    })
                    .await
            }
        }
        .map_err(|e| execute_error(&session.image, realm, e))?;
        match fetched.status {
            200 => {}
            401 | 403 => {
                return Err(ScanError::Unauthorized {
                    image: session.image.clone(),
                    host: realm.host_str().unwrap_or_default().to_string(),
                    status: fetched.status,
                    hint: session.hint.clone(),
                });
            }
            status => {
                return Err(token_error(
                    format!("it answered {status}"),
                    super::transport::is_retryable_status(status),
                ));
            }
        }
        super::token::parse_token_answer(&fetched.body)
            .map_err(|problem| token_error(problem.to_string(), false))
    }
}

impl DigestResolver for RegistryClient {
    #[tracing::instrument(skip_all, fields(image = %target.image.name(), tag = %tag))]
    async fn manifest_digest(&self, target: &ScanTarget, tag: &str) -> Result<String, ScanError> {
        let max_time = self.options().budget.max_time;
        tokio::time::timeout(max_time, self.resolve_digest(target, tag))
            .await
            .unwrap_or_else(|_| {
                Err(ScanError::Budget {
                    image: target.image.name().to_string(),
                    pages: 0,
                    tags: 0,
                    reason: format!(
                        "resolving the digest of {tag} took longer than {} s",
                        max_time.as_secs_f64()
                    ),
                    transient: true,
                })
            })
    }

    async fn image_details(
        &self,
        target: &ScanTarget,
        reference: &str,
    ) -> Result<Option<Arc<ImageDetails>>, ScanError> {
        RegistryClient::image_details(self, target, reference)
            .await
            .map(Some)
    }
}

impl RegistryClient {
    async fn resolve_digest(&self, target: &ScanTarget, tag: &str) -> Result<String, ScanError> {
        let session = self.session(target).await?;
        if !is_valid_tag(tag) {
            return Err(invalid_target(
                &session.image,
                format!("{tag:?} is not a valid tag"),
            ));
        }
        let url = session
            .base
            .join(&format!("v2/{}/manifests/{tag}", session.repository))
            .map_err(|e| invalid_target(&session.image, e))?;
        let fetched = self
            .get(&session, Method::HEAD, &url, MANIFEST_ACCEPT)
            .await?;
        expect_ok(&session, &url, &fetched)?;
        let header = fetched
            .headers
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .filter(|d| is_sha256_digest(d));
        if let Some(digest) = header {
            return Ok(digest.to_string());
        }
        // Some registries omit the header on HEAD: hash the manifest itself.
        let fetched = self
            .get(&session, Method::GET, &url, MANIFEST_ACCEPT)
            .await?;
        expect_ok(&session, &url, &fetched)?;
        Ok(format!(
            "sha256:{}",
            hex::encode(Sha256::digest(&fetched.body))
        ))
    }
}

/// Per registry host, a gate the first request holds until it has an answer
/// (or failed: the others then go ahead on their own rather than wait on a host
/// that does not answer).
#[derive(Debug, Default)]
struct FirstContact {
    gates: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<bool>>>>,
}

impl FirstContact {
    /// The gate of `authority`; its value is true once a first request finished.
    fn gate(&self, authority: &str) -> Arc<tokio::sync::Mutex<bool>> {
        let mut gates = self
            .gates
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(gate) = gates.get(authority) {
            return gate.clone();
        }
        gates.entry(authority.to_string()).or_default().clone()
    }
}

fn pull_scope(session: &Session<'_>) -> String {
    format!("repository:{}:pull", session.repository)
}

/// Fails unless the answer is `200`: `404` is [`ScanError::NotFound`], anything else [`ScanError::Status`].
pub(super) fn expect_ok(
    session: &Session<'_>,
    url: &Url,
    fetched: &Fetched,
) -> Result<(), ScanError> {
    match fetched.status {
        200 => Ok(()),
        404 => Err(ScanError::NotFound {
            image: session.image.clone(),
            host: session.authority.clone(),
            detail: registry_error_detail(&fetched.body).unwrap_or_else(|| "404".into()),
        }),
        status => Err(ScanError::Status {
            image: session.image.clone(),
            url: shown(url),
            status,
            detail: registry_error_detail(&fetched.body)
                .map(|d| format!(": {d}"))
                .unwrap_or_default(),
        }),
    }
}

/// `CODE: message` from a registry's `{"errors": [...]}` body, shortened.
fn registry_error_detail(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Errors {
        errors: Vec<Entry>,
    }
    #[derive(Deserialize)]
    struct Entry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let errors: Errors = serde_json::from_slice(body).ok()?;
    let first = errors.errors.first()?;
    let mut detail = format!("{}: {}", first.code, first.message);
    if detail.len() > 200 {
        let mut end = 200;
        while !detail.is_char_boundary(end) {
            end -= 1;
        }
        detail.truncate(end);
    }
    Some(detail)
}

fn execute_error(image: &str, url: &Url, error: ExecuteError) -> ScanError {
    match error {
        ExecuteError::Transport(source) if super::error::is_plain_http_answer(&source) => {
            ScanError::PlainHttp {
                image: image.to_string(),
                host: super::transport::authority(url),
            }
        }
        ExecuteError::Transport(source) => ScanError::Transport {
            image: image.to_string(),
            url: shown(url),
            source: source.without_url(),
        },
        ExecuteError::TooLarge => ScanError::InvalidResponse {
            image: image.to_string(),
            url: shown(url),
            reason: "the body is larger than 16 MiB".into(),
        },
    }
}

/// [`ScanError::InvalidTarget`] for `image`.
pub(super) fn invalid_target(image: &str, reason: impl std::fmt::Display) -> ScanError {
    ScanError::InvalidTarget {
        image: image.to_string(),
        reason: reason.to_string(),
    }
}

/// A URL for an error or a log line, without query or fragment, credentials masked.
fn without_query(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.set_fragment(None);
    shown(&url)
}

/// A URL for an error or a log line: credentials masked ([`crate::redact::url`]).
pub(super) fn shown(url: &Url) -> String {
    crate::redact::url(url.as_str())
}

fn is_sha256_digest(text: &str) -> bool {
    text.strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_errors_are_summarized() {
        let body = br#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}"#;
        assert_eq!(
            registry_error_detail(body).unwrap(),
            "NAME_UNKNOWN: repository name not known to registry"
        );
        assert_eq!(registry_error_detail(b"<html>"), None);
    }
}

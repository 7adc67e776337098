//! [`RegistryClient`]: lists tags over the OCI distribution API and resolves
//! manifest digests, implementing [`TagLister`] and [`DigestResolver`].
//!
//! A scan resolves its credentials and TLS settings once ([`Session`]), then
//! pages through `GET /v2/NAME/tags/list?n=PAGE`, following
//! `Link: <…>; rel="next"` exactly as given (relative or absolute, opaque
//! `last` tokens included) but never to another scheme, host or port — a
//! registry must not be able to point the scanner at arbitrary URLs. A scan
//! that reaches the tag cap returns what it has with `complete: false`.

use std::collections::HashSet;
use std::sync::Arc;

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, LINK, WWW_AUTHENTICATE};
use reqwest::{Method, Url};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use super::auth::{AuthCache, Challenge, HostScheme, TokenKey, TokenResponse, parse_challenge};
use super::credentials::{Credentials, credentials_from_secret};
use super::ecr::{EcrCredentialCache, EcrRegistry, EcrTokenSource};
use super::endpoints::RegistryEndpoints;
use super::error::ScanError;
use super::transport::{
    ExecuteError, Fetched, HttpClients, RetryPolicy, Sleeper, TlsSettings, TokioSleeper, Transport,
    authority,
};
use super::{
    CredentialSource, DigestResolver, NoSecrets, ScanTarget, SecretSource, TagList, TagLister,
};
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
        }
    }
}

/// Lists tags and resolves digests; cheap to clone (shared caches and pools).
#[derive(Debug, Clone)]
pub struct RegistryClient {
    inner: Arc<Inner>,
}

struct Inner {
    options: ScanOptions,
    transport: Transport,
    auth: AuthCache,
    ecr: EcrCredentialCache,
    secrets: Arc<dyn SecretSource>,
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
    sleeper: Arc<dyn Sleeper>,
}

impl RegistryClientBuilder {
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
                ecr: EcrCredentialCache::new(self.ecr),
                secrets: self.secrets,
            }),
        })
    }
}

/// One scan's resolved settings.
struct Session<'a> {
    target: &'a ScanTarget,
    image: String,
    base: Url,
    authority: String,
    repository: String,
    credentials: Option<Credentials>,
    hint: String,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct TagsPage {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

impl RegistryClient {
    /// A builder with `options`.
    pub fn builder(options: ScanOptions) -> RegistryClientBuilder {
        RegistryClientBuilder {
            options,
            secrets: Arc::new(NoSecrets),
            ecr: None,
            sleeper: Arc::new(TokioSleeper),
        }
    }

    /// Requests sent so far, every attempt and token request included.
    pub fn request_count(&self) -> u64 {
        self.inner.transport.request_count()
    }

    /// Lists the tags of `target`, calling `progress` with the running count after each page.
    #[tracing::instrument(skip_all, fields(image = %target.image.name(), object = %target.id))]
    pub async fn list_tags_with_progress(
        &self,
        target: &ScanTarget,
        progress: &(dyn Fn(usize) + Send + Sync),
    ) -> Result<TagList, ScanError> {
        let session = self.session(target).await?;
        let options = &self.inner.options;
        let mut url = session
            .base
            .join(&format!("v2/{}/tags/list", session.repository))
            .map_err(|e| invalid_target(&session.image, e))?;
        url.query_pairs_mut()
            .append_pair("n", &options.page_size.max(1).to_string());
        let mut seen = HashSet::new();
        let mut tags: Vec<String> = Vec::new();
        let mut pages = 0;
        let mut complete = true;
        let mut invalid = 0usize;
        loop {
            if !seen.insert(url.to_string()) {
                return Err(ScanError::PaginationLoop {
                    image: session.image,
                    url: url.to_string(),
                });
            }
            let fetched = self
                .get(&session, Method::GET, &url, "application/json")
                .await?;
            pages += 1;
            expect_ok(&session, &url, &fetched)?;
            let page: TagsPage =
                serde_json::from_slice(&fetched.body).map_err(|e| ScanError::InvalidResponse {
                    image: session.image.clone(),
                    url: url.to_string(),
                    reason: format!("not a tag list ({e})"),
                })?;
            let before = tags.len();
            tags.extend(page.tags.unwrap_or_default().into_iter().filter(|tag| {
                let valid = is_valid_tag(tag);
                if !valid {
                    invalid += 1;
                    if invalid <= LOGGED_INVALID_TAGS {
                        tracing::warn!(tag = %shown_tag(tag), "ignoring a tag that is not a valid tag name");
                    }
                }
                valid
            }));
            tracing::debug!(url = %url, page = pages, tags = tags.len() - before, "tags page");
            progress(tags.len());
            let next = next_link(&session, &url, &fetched.headers)?;
            if tags.len() > options.max_tags || (tags.len() == options.max_tags && next.is_some()) {
                tracing::warn!(
                    max_tags = options.max_tags,
                    "tag cap reached; the scan is partial and will not replace the stored list"
                );
                tags.truncate(options.max_tags);
                complete = false;
                break;
            }
            match next {
                Some(next) => url = next,
                None => break,
            }
        }
        if invalid > LOGGED_INVALID_TAGS {
            tracing::warn!(
                ignored = invalid,
                logged = LOGGED_INVALID_TAGS,
                "ignored tags that are not valid tag names (only the first ones were logged)"
            );
        }
        tags.sort_unstable();
        tags.dedup();
        Ok(TagList {
            tags,
            complete,
            pages,
        })
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

    async fn session<'a>(&self, target: &'a ScanTarget) -> Result<Session<'a>, ScanError> {
        let image = target.image.name().to_string();
        let registry_host = target.image.registry().to_string();
        let base = self
            .inner
            .options
            .endpoints
            .base_url(target.image.api_host(), target.insecure)
            .map_err(|e| invalid_target(&image, e))?;
        let tls =
            match &target.cert_secret {
                None => TlsSettings::default(),
                Some(key) => {
                    let secret = self.inner.secrets.secret(key).ok_or_else(|| {
                        ScanError::SecretNotFound {
                            image: image.clone(),
                            secret: key.to_string(),
                        }
                    })?;
                    TlsSettings::from_secret(&secret).map_err(|reason| ScanError::Tls {
                        image: image.clone(),
                        secret: key.to_string(),
                        reason,
                    })?
                }
            };
        let http = self
            .inner
            .transport
            .clients
            .client(&tls)
            .map_err(|reason| ScanError::Tls {
                image: image.clone(),
                secret: target
                    .cert_secret
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                reason,
            })?;
        let host_without_port = registry_host.split(':').next().unwrap_or_default();
        let ecr = EcrRegistry::from_host(host_without_port);
        let (mut credentials, mut hint) = match &target.credentials {
            CredentialSource::Anonymous => (
                None,
                format!(
                    "the repository may be private: set spec.secretRef to a Secret with credentials for {registry_host}"
                ),
            ),
            CredentialSource::Secret(key) => {
                let secret =
                    self.inner
                        .secrets
                        .secret(key)
                        .ok_or_else(|| ScanError::SecretNotFound {
                            image: image.clone(),
                            secret: key.to_string(),
                        })?;
                let credentials =
                    credentials_from_secret(&secret, &registry_host).map_err(|reason| {
                        ScanError::InvalidSecret {
                            image: image.clone(),
                            secret: key.to_string(),
                            reason,
                        }
                    })?;
                if credentials.is_none() {
                    tracing::debug!(secret = %key, "the Secret has no entry for this registry; scanning anonymously");
                }
                (
                    credentials,
                    format!("check the credentials in Secret {key}"),
                )
            }
            CredentialSource::DockerConfig(config) => (
                config.credentials_for(&registry_host).cloned(),
                format!(
                    "check the credentials for {registry_host} in the Docker config (docker login {registry_host})"
                ),
            ),
            CredentialSource::Aws => {
                if ecr.is_none() {
                    return Err(ScanError::InvalidTarget {
                        image,
                        reason: format!(
                            "provider aws needs an ECR host (ACCOUNT.dkr.ecr.REGION.amazonaws.com), not {registry_host}"
                        ),
                    });
                }
                (None, String::new())
            }
        };
        if credentials.is_none()
            && let Some(ecr) = &ecr
        {
            let from_ecr =
                self.inner
                    .ecr
                    .credentials(ecr)
                    .await
                    .map_err(|source| ScanError::Ecr {
                        image: image.clone(),
                        source,
                    })?;
            credentials = Some(from_ecr);
            hint = format!(
                "check that the AWS identity may pull from {registry_host} (ecr:ListImages, ecr:BatchGetImage)"
            );
        }
        Ok(Session {
            target,
            authority: authority(&base),
            base,
            repository: target.image.repository(),
            credentials,
            hint,
            http,
            image,
        })
    }

    /// Sends a request with the credentials the host's scheme needs, answering
    /// one `401` challenge; a second refusal is [`ScanError::Unauthorized`].
    async fn get(
        &self,
        session: &Session<'_>,
        method: Method,
        url: &Url,
        accept: &str,
    ) -> Result<Fetched, ScanError> {
        let mut challenged = false;
        loop {
            let authorization = self.authorization(session).await?;
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
                .map_err(|e| execute_error(&session.image, url, e))?;
            if fetched.status == 401 && !challenged {
                challenged = true;
                if self.answer_challenge(session, &fetched.headers)? {
                    continue;
                }
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
                        url: session.base.to_string(),
                        reason: "the Bearer challenge's realm is not a URL".into(),
                    })?;
                // Credentials go to the token server: only over HTTPS, unless the
                // registry itself is plain HTTP (insecure or a local endpoint).
                if realm.scheme() != "https" && session.base.scheme() == "https" {
                    return Err(ScanError::InvalidResponse {
                        image: session.image.clone(),
                        url: session.base.to_string(),
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
        serde_json::from_slice::<TokenResponse>(&fetched.body)
            .ok()
            .and_then(TokenResponse::into_token)
            .ok_or_else(|| token_error("the answer holds no token".into(), false))
    }
}

impl TagLister for RegistryClient {
    async fn list_tags(&self, target: &ScanTarget) -> Result<TagList, ScanError> {
        self.list_tags_with_progress(target, &|_| {}).await
    }
}

impl DigestResolver for RegistryClient {
    #[tracing::instrument(skip_all, fields(image = %target.image.name(), tag = %tag))]
    async fn manifest_digest(&self, target: &ScanTarget, tag: &str) -> Result<String, ScanError> {
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

fn pull_scope(session: &Session<'_>) -> String {
    format!("repository:{}:pull", session.repository)
}

fn expect_ok(session: &Session<'_>, url: &Url, fetched: &Fetched) -> Result<(), ScanError> {
    match fetched.status {
        200 => Ok(()),
        404 => Err(ScanError::NotFound {
            image: session.image.clone(),
            host: session.authority.clone(),
            detail: registry_error_detail(&fetched.body).unwrap_or_else(|| "404".into()),
        }),
        status => Err(ScanError::Status {
            image: session.image.clone(),
            url: url.to_string(),
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

/// The `rel="next"` target of the `Link` headers, resolved against `current`
/// and refused unless it stays on the registry's scheme, host and port.
fn next_link(
    session: &Session<'_>,
    current: &Url,
    headers: &HeaderMap,
) -> Result<Option<Url>, ScanError> {
    for value in headers.get_all(LINK) {
        let Ok(value) = value.to_str() else { continue };
        for link in value.split(',') {
            let Some((target, params)) = link
                .trim()
                .strip_prefix('<')
                .and_then(|l| l.split_once('>'))
            else {
                continue;
            };
            let is_next = params.split(';').any(|p| {
                let p = p.trim().replace(' ', "");
                p.eq_ignore_ascii_case("rel=\"next\"") || p.eq_ignore_ascii_case("rel=next")
            });
            if !is_next {
                continue;
            }
            let next = current
                .join(target)
                .map_err(|_| ScanError::InvalidResponse {
                    image: session.image.clone(),
                    url: current.to_string(),
                    reason: format!("the Link header's target {target:?} is not a URL"),
                })?;
            if next.scheme() != session.base.scheme() || authority(&next) != session.authority {
                return Err(ScanError::ForeignLink {
                    image: session.image.clone(),
                    link_host: format!("{}://{}", next.scheme(), authority(&next)),
                    registry_host: format!("{}://{}", session.base.scheme(), session.authority),
                });
            }
            return Ok(Some(next));
        }
    }
    Ok(None)
}

fn execute_error(image: &str, url: &Url, error: ExecuteError) -> ScanError {
    match error {
        ExecuteError::Transport(source) => ScanError::Transport {
            image: image.to_string(),
            url: url.to_string(),
            source: source.without_url(),
        },
        ExecuteError::TooLarge => ScanError::InvalidResponse {
            image: image.to_string(),
            url: url.to_string(),
            reason: "the body is larger than 16 MiB".into(),
        },
    }
}

fn invalid_target(image: &str, reason: impl std::fmt::Display) -> ScanError {
    ScanError::InvalidTarget {
        image: image.to_string(),
        reason: reason.to_string(),
    }
}

fn without_query(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.to_string()
}

/// How many ignored (invalid) tags one scan logs one by one; the rest are only counted.
const LOGGED_INVALID_TAGS: usize = 20;

/// An invalid tag for a log line: escaped, and cut after 64 characters.
fn shown_tag(tag: &str) -> String {
    let mut shown: String = tag.chars().take(64).flat_map(char::escape_debug).collect();
    if tag.chars().nth(64).is_some() {
        shown.push('…');
    }
    shown
}

/// A tag as the distribution spec allows: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
pub fn is_valid_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn is_sha256_digest(text: &str) -> bool {
    text.strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_names_follow_the_distribution_spec() {
        for tag in ["v1.2.3", "latest", "_x", "main-abc123-7", &"a".repeat(128)] {
            assert!(is_valid_tag(tag), "{tag}");
        }
        for tag in ["", "-x", ".x", "a b", "a\nb", "a/b", &"a".repeat(129)] {
            assert!(!is_valid_tag(tag), "{tag:?}");
        }
    }

    #[test]
    fn invalid_tags_are_logged_escaped_and_cut() {
        assert_eq!(shown_tag("1.0\nimage: x"), "1.0\\nimage: x");
        let long = "x".repeat(10_000_000);
        assert_eq!(shown_tag(&long), format!("{}…", "x".repeat(64)));
    }

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

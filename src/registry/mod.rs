//! Registries: list the tags of an image repository over the OCI distribution API
//! (pagination, anonymous/basic/bearer/ECR auth, retries, rate limits) and keep
//! the last complete list per repository in the tag store (invariant 4).
//!
//! Data flows like this: the config edge turns an ImageRepository into a
//! validated [`ScanTarget`] (`TryFrom`, in `config::image_repository`). The
//! engine hands targets to a [`TagLister`] — in production the
//! [`RegistryClient`], in unit tests an in-memory fake — and gets a
//! [`TagList`] back, which it offers to the [`TagStore`]; the store keeps only
//! complete lists. Credentials are resolved at scan time through a
//! [`SecretSource`] (Secrets from YAML files or from the cluster), so a changed
//! Secret takes effect on the next scan, and are carried in [`Secret`] values
//! that never print.
//!
//! Submodules, by concern:
//! - [`client`]: requests with credentials and challenges, manifest digests
//!   for digest reflection (one scan's endpoint, TLS and credentials are
//!   resolved in `session`); [`listing`]: the tag listing itself (the SSRF
//!   guard on `Link`, the tag cap) within the scan budget of [`pagination`]
//!   (pages, bytes, empty pages, loops, wall time).
//! - [`transport`]: HTTP clients per TLS setting, retries with jittered
//!   backoff, `Retry-After`, per-host concurrency and slow-down.
//! - [`auth`]: basic auth, bearer tokens and their cache; [`challenge`]
//!   parses `WWW-Authenticate`, [`token`] a token server's answer (peer
//!   numbers clamped).
//! - [`credentials`]: [`Credentials`], Docker `config.json`.
//! - [`ecr`]: Amazon ECR authorization tokens and their cache; [`azure`]: ACR
//!   credentials from an Azure AD identity ([`azure_identity`]); [`gcp`]: GCP registries' tokens
//!   from the metadata server; [`cloud`]: what those two share (environment,
//!   test-only endpoints, errors, token cache).
//! - [`proxy`]: the forward proxy of `proxySecretRef`.
//! - [`endpoints`]: mapping a registry host to another URL (mirrors, tests).
//! - [`store`]: the tag store and its atomic persistence.
//! - [`created`], [`created_store`]: an image's creation time (Flux v1 ordering), once per digest.
//! - [`image_details`]: an image's OCI annotations (source, revision, version,
//!   created) for commit messages, read by the same walk, cached per digest.
//! - [`cosign`], [`signatures`]: cosign key-based signatures of an image;
//!   [`platforms`]: the platforms of an image; [`inspect`]: the trait the
//!   engine asks these through (a policy's requirements).
//! - [`error`]: the scan error type, [`ScanError`].

pub mod auth;
pub mod azure;
pub mod azure_identity;
pub mod challenge;
pub mod client;
pub mod cloud;
pub mod cosign;
pub mod created;
pub mod created_store;
pub mod credentials;
pub mod ecr;
pub mod endpoints;
pub mod error;
pub mod gcp;
pub mod image_details;
pub mod inspect;
pub mod listing;
pub mod pagination;
pub mod platforms;
pub mod proxy;
mod session;
pub mod signatures;
pub mod store;
pub mod token;
pub mod transport;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::image::ImageReference;

pub use crate::secret::Secret;
pub use client::{RegistryClient, ScanOptions};
pub use credentials::{Credentials, DockerConfig};
pub use endpoints::RegistryEndpoints;
pub use error::ScanError;
pub use pagination::ScanBudget;
pub use store::{StoredTags, TagStore};
pub use transport::RetryPolicy;

/// The namespace and name of an object (an ImageRepository or a Secret).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    /// The namespace (`default` when a file gives none).
    pub namespace: String,
    /// The object's name.
    pub name: String,
}

impl ObjectKey {
    /// A key from a namespace and a name.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Where the credentials for a scan come from.
#[derive(Debug, Clone, Default)]
pub enum CredentialSource {
    /// No credentials (an ECR host still gets an ECR token, see [`ecr`]).
    #[default]
    Anonymous,
    /// A Secret (`kubernetes.io/dockerconfigjson`, `kubernetes.io/basic-auth`,
    /// or one with `username` and `password` keys), looked up at scan time.
    Secret(ObjectKey),
    /// A Docker `config.json` already loaded (the CLI's `~/.docker/config.json`).
    DockerConfig(Arc<DockerConfig>),
    /// `provider: aws`: an ECR authorization token from the AWS credential chain.
    Aws,
    /// `provider: azure`: an ACR refresh token exchanged for the controller's
    /// Azure AD token (see [`azure`]).
    Azure,
    /// `provider: gcp`: an access token from the GCP metadata server (see [`gcp`]).
    Gcp,
}

/// Everything needed to scan one image repository, validated once.
///
/// Built from an ImageRepository with `TryFrom` (see
/// `config::image_repository`) or directly with [`ScanTarget::new`].
#[derive(Debug, Clone)]
pub struct ScanTarget {
    /// The ImageRepository this target comes from (names files, log lines, errors).
    pub id: ObjectKey,
    /// The image to scan (its tag and digest, if any, are ignored).
    pub image: ImageReference,
    /// Where the credentials come from.
    pub credentials: CredentialSource,
    /// `insecure: true`: talk plain HTTP to the registry.
    pub insecure: bool,
    /// `certSecretRef`: a Secret with `ca.crt` (and `tls.crt`/`tls.key` for a client certificate).
    pub cert_secret: Option<ObjectKey>,
    /// The timeout of each request.
    pub timeout: Duration,
    /// `proxySecretRef`: a Secret with the proxy's `address` (and `username`,
    /// `password`), in the ImageRepository's namespace.
    pub proxy_secret: Option<ObjectKey>,
    /// `serviceAccountName`: a ServiceAccount (same namespace) whose image pull
    /// secrets add to the credentials (`provider: generic`; controller mode).
    pub service_account: Option<ObjectKey>,
    /// The `imagePullSecrets` of [`Self::service_account`], in its order, as
    /// the controller read them (empty in standalone mode, which has no
    /// ServiceAccounts). After `secretRef`, the first of them with an entry
    /// for the registry gives the credentials, as in Flux.
    pub pull_secrets: Vec<ObjectKey>,
}

/// The per-request timeout when an object sets none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

impl ScanTarget {
    /// A target for `image`, anonymous, over HTTPS, with the default timeout.
    pub fn new(id: ObjectKey, image: ImageReference) -> Self {
        Self {
            id,
            image,
            credentials: CredentialSource::Anonymous,
            insecure: false,
            cert_secret: None,
            timeout: DEFAULT_TIMEOUT,
            proxy_secret: None,
            service_account: None,
            pull_secrets: Vec::new(),
        }
    }
}

/// The tags one scan found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TagList {
    /// The tags, sorted byte-wise and without duplicates.
    pub tags: Vec<String>,
    /// False when the scan stopped early (the tag cap); such a list never
    /// replaces a stored one.
    pub complete: bool,
    /// How many `tags/list` pages were fetched.
    pub pages: u32,
}

impl TagList {
    /// A complete list from tags in any order (sorted and deduplicated here).
    pub fn complete(tags: impl IntoIterator<Item = String>) -> Self {
        let mut tags: Vec<String> = tags.into_iter().collect();
        tags.sort_unstable();
        tags.dedup();
        Self {
            tags,
            complete: true,
            pages: 1,
        }
    }
}

/// Lists the tags of an image repository. The engine scans through this trait
/// so unit tests can use an in-memory implementation.
pub trait TagLister: Send + Sync {
    /// Lists every tag of `target`'s repository (or as many as the cap allows,
    /// with `complete: false`).
    fn list_tags(
        &self,
        target: &ScanTarget,
    ) -> impl Future<Output = Result<TagList, ScanError>> + Send;
}

/// Resolves a tag to its manifest digest (for `digestReflectionPolicy`).
pub trait DigestResolver: Send + Sync {
    /// The digest (`sha256:…`) of `tag`'s manifest in `target`'s repository.
    fn manifest_digest(
        &self,
        target: &ScanTarget,
        tag: &str,
    ) -> impl Future<Output = Result<String, ScanError>> + Send;

    /// What the image `reference` (a tag or a `sha256:` digest) of `target`'s
    /// repository says about itself (see [`image_details`]); `None` when this
    /// resolver cannot tell (the default, for in-memory fakes).
    fn image_details(
        &self,
        _target: &ScanTarget,
        _reference: &str,
    ) -> impl Future<Output = Result<Option<Arc<image_details::ImageDetails>>, ScanError>> + Send
    {
        async { Ok(None) }
    }
}

/// The contents of a Secret: its type and decoded data.
#[derive(Debug, Clone, Default)]
pub struct SecretData {
    /// The Secret's `type` (`kubernetes.io/dockerconfigjson`, `Opaque`, …).
    pub secret_type: String,
    /// Decoded values by key (from `data`, base64, and `stringData`).
    pub data: BTreeMap<String, Secret<Vec<u8>>>,
}

impl SecretData {
    /// The value of `key` as bytes.
    pub fn get(&self, key: &str) -> Option<&[u8]> {
        self.data.get(key).map(|v| v.expose().as_slice())
    }
}

/// Looks up Secrets by namespace and name (YAML files in standalone mode, the
/// API server in controller mode).
pub trait SecretSource: Send + Sync {
    /// The Secret `key`, if it exists.
    fn secret(&self, key: &ObjectKey) -> Option<SecretData>;
}

/// A [`SecretSource`] with no Secrets.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSecrets;

impl SecretSource for NoSecrets {
    fn secret(&self, _key: &ObjectKey) -> Option<SecretData> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An in-memory lister: how the engine's unit tests scan.
    struct FakeLister(Vec<&'static str>);

    impl TagLister for FakeLister {
        async fn list_tags(&self, _target: &ScanTarget) -> Result<TagList, ScanError> {
            Ok(TagList::complete(self.0.iter().map(|t| t.to_string())))
        }
    }

    #[tokio::test]
    async fn a_fake_lister_is_enough_to_scan() {
        let target = ScanTarget::new(
            ObjectKey::new("default", "app"),
            ImageReference::parse("ghcr.io/org/app").unwrap(),
        );
        let list = FakeLister(vec!["v2", "v1", "v2"])
            .list_tags(&target)
            .await
            .unwrap();
        assert_eq!(list.tags, ["v1", "v2"]);
        assert!(list.complete);
    }
}

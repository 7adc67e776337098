//! What an image says about itself, for commit messages: the OCI
//! annotations `org.opencontainers.image.source`, `.revision`, `.version`
//! and `.created` of the image a tag (or digest) names.
//!
//! [`RegistryClient::image_details`] resolves a tag to its manifest digest (a
//! `HEAD`), then, unless the client's [`ImageDetailsCache`] knows that digest,
//! reads the image with the creation-time walk of [`super::created`] (index
//! → platform manifest → config blob, each checked against its digest).
//!
//! Each key is taken from the first place that has it, most specific first:
//! the index's annotations (multi-platform images), the image manifest's
//! annotations, then the config's labels (`LABEL` in a Dockerfile). Labels
//! come last because an image inherits its base image's labels, so a label
//! may describe another project; annotations are the image's own.
//!
//! Values come from the registry, so they are cleaned before anyone sees
//! them: a value with control characters (a newline could forge a commit
//! trailer) or over [`MAX_VALUE_LEN`] bytes is dropped, and a `source` URL
//! loses its userinfo (CI systems put tokens there) and any credential-like
//! query value ([`crate::redact::url`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use serde::Serialize;

use super::client::RegistryClient;
use super::created::ImageRecord;
use super::{DigestResolver as _, ScanError, ScanTarget};

/// The annotation keys read, in [`OciAnnotations`]' field order.
pub const ANNOTATION_KEYS: [&str; 4] = [
    "org.opencontainers.image.source",
    "org.opencontainers.image.revision",
    "org.opencontainers.image.version",
    "org.opencontainers.image.created",
];

/// The longest value kept, in bytes.
pub const MAX_VALUE_LEN: usize = 1024;

/// How many digests the cache holds before it starts over.
pub const CACHE_CAPACITY: usize = 4096;

/// The OCI annotations of one image (each `None` when the image has none,
/// or only an unusable value).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OciAnnotations {
    /// `org.opencontainers.image.source`: the source repository's URL.
    pub source: Option<String>,
    /// `org.opencontainers.image.revision`: the source revision (a commit).
    pub revision: Option<String>,
    /// `org.opencontainers.image.version`: the packaged software's version.
    pub version: Option<String>,
    /// `org.opencontainers.image.created`: the build time, as written (RFC 3339).
    pub created: Option<String>,
}

impl OciAnnotations {
    /// The annotations of `layers`, most specific first (see the module docs),
    /// cleaned.
    pub fn from_layers<'a>(layers: impl IntoIterator<Item = &'a BTreeMap<String, String>>) -> Self {
        let layers: Vec<_> = layers.into_iter().collect();
        let mut values = ANNOTATION_KEYS.iter().map(|key| {
            layers
                .iter()
                .find_map(|layer| layer.get(*key).and_then(|value| clean(value)))
        });
        let mut next = || values.next().flatten();
        Self {
            source: next().and_then(|source| clean_source(&source)),
            revision: next(),
            version: next(),
            created: next(),
        }
    }

    /// Whether no key is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

fn clean(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty() && value.len() <= MAX_VALUE_LEN && !value.chars().any(char::is_control))
        .then(|| value.to_string())
}

/// `source` without userinfo (an ssh user such as `git@` is kept: ssh never
/// carries a secret there) and with credential-like query values masked.
fn clean_source(source: &str) -> Option<String> {
    let without_userinfo = match reqwest::Url::parse(source) {
        Ok(mut url) if matches!(url.scheme(), "http" | "https" | "git+https") => {
            if url.set_username("").is_err() || url.set_password(None).is_err() {
                return None;
            }
            url.to_string()
        }
        _ => source.to_string(),
    };
    Some(crate::redact::url(&without_userinfo))
}

/// What the registry says about one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageDetails {
    /// The manifest digest the reference resolved to (an index's own digest
    /// for multi-platform images).
    pub digest: String,
    /// The config's `created` (Go's zero time and unparsable text are `None`).
    pub created: Option<Timestamp>,
    /// The OCI annotations (see the module docs).
    pub annotations: OciAnnotations,
}

/// Image details by manifest digest, in memory: a digest names content, so an
/// entry never goes stale. Bounded: when full, it starts over.
#[derive(Debug, Default)]
pub struct ImageDetailsCache {
    entries: Mutex<HashMap<String, Arc<ImageDetails>>>,
}

impl ImageDetailsCache {
    /// The details of `digest`, when known.
    pub fn get(&self, digest: &str) -> Option<Arc<ImageDetails>> {
        self.entries.lock().ok()?.get(digest).cloned()
    }

    /// Records `details` under its digest.
    pub fn insert(&self, details: Arc<ImageDetails>) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= CACHE_CAPACITY {
                entries.clear();
            }
            entries.insert(details.digest.clone(), details);
        }
    }

    /// How many digests are known.
    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or_default()
    }

    /// Whether no digest is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn is_digest(reference: &str) -> bool {
    reference
        .strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl RegistryClient {
    /// The details of the image `reference` (a tag, or a `sha256:` digest)
    /// of `target`'s repository names: from this client's cache when the
    /// digest is known there, else read from the registry and cached. A tag
    /// costs one `HEAD` when cached; a digest nothing.
    #[tracing::instrument(skip_all, fields(image = %target.image.name(), reference = %reference))]
    pub async fn image_details(
        &self,
        target: &ScanTarget,
        reference: &str,
    ) -> Result<Arc<ImageDetails>, ScanError> {
        let digest = if is_digest(reference) {
            reference.to_string()
        } else {
            self.manifest_digest(target, reference).await?
        };
        let cache = &self.inner.image_details;
        if let Some(details) = cache.get(&digest) {
            return Ok(details);
        }
        let ImageRecord { created, layers } = self.read_image(target, &digest).await?;
        let details = Arc::new(ImageDetails {
            digest,
            created,
            annotations: OciAnnotations::from_layers(&layers),
        });
        cache.insert(details.clone());
        Ok(details)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
        entries
            .iter()
            .map(|(k, v)| (format!("org.opencontainers.image.{k}"), v.to_string()))
            .collect()
    }

    #[test]
    fn the_most_specific_layer_wins_per_key() {
        let index = layer(&[("version", "2.0.0")]);
        let manifest = layer(&[
            ("source", "https://github.com/acme/app"),
            ("revision", "b2"),
        ]);
        let labels = layer(&[
            ("source", "https://github.com/base/image"),
            ("revision", "b1"),
            ("version", "1.0.0"),
            ("created", "2026-01-02T03:04:05Z"),
        ]);
        assert_eq!(
            OciAnnotations::from_layers([&index, &manifest, &labels]),
            OciAnnotations {
                source: Some("https://github.com/acme/app".into()),
                revision: Some("b2".into()),
                version: Some("2.0.0".into()),
                created: Some("2026-01-02T03:04:05Z".into()),
            }
        );
        assert!(OciAnnotations::from_layers([]).is_empty());
    }

    #[test]
    fn values_are_cleaned_and_sources_lose_their_credentials() {
        let long = "x".repeat(MAX_VALUE_LEN + 1);
        let dirty = layer(&[
            ("revision", "abc\nSigned-off-by: mallory"),
            ("version", &long),
            ("created", "   "),
            (
                "source",
                "https://gitlab-ci-token:glcbt-SECRET@gitlab.com/acme/app.git?private_token=SECRET2",
            ),
        ]);
        let clean = layer(&[("revision", "  fe12  ")]);
        let annotations = OciAnnotations::from_layers([&dirty, &clean]);
        assert_eq!(annotations.revision.as_deref(), Some("fe12"));
        assert_eq!(annotations.version, None);
        assert_eq!(annotations.created, None);
        let source = annotations.source.unwrap();
        assert!(!source.contains("SECRET"), "{source}");
        assert!(
            source.starts_with("https://gitlab.com/acme/app.git"),
            "{source}"
        );
        let ssh =
            OciAnnotations::from_layers([&layer(&[("source", "git@github.com:acme/app.git")])]);
        assert_eq!(ssh.source.as_deref(), Some("git@github.com:acme/app.git"));
    }

    #[test]
    fn the_cache_is_bounded() {
        let cache = ImageDetailsCache::default();
        for n in 0..CACHE_CAPACITY + 1 {
            cache.insert(Arc::new(ImageDetails {
                digest: format!("sha256:{n}"),
                created: None,
                annotations: OciAnnotations::default(),
            }));
        }
        assert_eq!(cache.len(), 1);
        assert!(cache.get(&format!("sha256:{CACHE_CAPACITY}")).is_some());
        assert!(is_digest(&format!("sha256:{}", "a".repeat(64))));
        assert!(!is_digest("main-1a2b3c4-118"));
    }
}

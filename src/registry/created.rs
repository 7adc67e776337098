//! An image's creation time: tag → manifest → config blob → `created`; the
//! same walk (`read_image`) also reads the annotations and
//! labels that `image_details` gives commit messages.
//!
//! Flux v1's `glob:` and `regexp:` filters order tags by when their image was
//! built. [`RegistryClient::image_created`] resolves a tag to its manifest
//! digest (a `HEAD`, as for digest reflection), and only when the
//! [`CreatedStore`] does not know that digest yet, fetches the manifest by
//! digest and the config blob it names and reads the config's `created`. Each
//! image is thus fetched once per digest, ever; a moved tag costs one `HEAD`.
//!
//! - OCI and Docker v2 image manifests name their config directly.
//! - For an image index (OCI index, Docker manifest list) the platform rule is:
//!   the first `linux/amd64` entry; else the first entry whose platform is not
//!   `unknown/unknown` (build attestations); else the first entry. The index's
//!   digest is stored with that image's creation time.
//! - Every fetched manifest and blob must hash to the digest it was asked by.
//! - `created` absent, unparsable or Go's zero time (`0001-01-01T00:00:00Z`,
//!   which fluxd treated as unknown) is stored as "no creation time".
//! - A blob download redirected elsewhere (object storage, a CDN) is followed
//!   without credentials, at most [`MAX_REDIRECTS`] times, never from HTTPS to
//!   plain HTTP (invariant 10).

use std::collections::BTreeMap;

use jiff::Timestamp;
use reqwest::Url;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use super::client::{MANIFEST_ACCEPT, RegistryClient};
use super::created_store::CreatedStore;
use super::transport::Fetched;
use super::{DigestResolver as _, ScanError, ScanTarget};

/// The most redirects one blob download follows.
pub const MAX_REDIRECTS: usize = 3;

/// What one tag's image was built at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageCreated {
    /// The tag's manifest digest (an index's own digest for multi-platform images).
    pub digest: String,
    /// The config's `created`; `None` when the image has none.
    pub created: Option<Timestamp>,
    /// Whether the registry was asked for the manifest and config (not the store).
    pub fetched: bool,
}

/// Looks up what a tag's image was built at; the engine goes through this
/// trait so its unit tests can use an in-memory registry.
pub trait CreatedLookup: Send + Sync {
    /// See [`RegistryClient::image_created`].
    fn lookup_created(
        &self,
        target: &ScanTarget,
        tag: &str,
        store: &CreatedStore,
    ) -> impl std::future::Future<Output = Result<ImageCreated, ScanError>> + Send;
}

impl CreatedLookup for RegistryClient {
    async fn lookup_created(
        &self,
        target: &ScanTarget,
        tag: &str,
        store: &CreatedStore,
    ) -> Result<ImageCreated, ScanError> {
        self.image_created(target, tag, store).await
    }
}

#[derive(Deserialize)]
struct Manifest {
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
    /// Values that are not strings (against the spec) are skipped, not fatal.
    #[serde(default)]
    annotations: Option<BTreeMap<String, serde_json::Value>>,
}

#[derive(Deserialize)]
struct Descriptor {
    digest: String,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Deserialize)]
struct Platform {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
}

#[derive(Deserialize)]
struct Config {
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    config: Option<RuntimeConfig>,
}

#[derive(Deserialize)]
struct RuntimeConfig {
    /// `LABEL`s; Docker writes `null` when there are none.
    #[serde(default, rename = "Labels")]
    labels: Option<BTreeMap<String, serde_json::Value>>,
}

/// What one walk from a manifest digest to its image config read.
pub(super) struct ImageRecord {
    /// The config's `created` (see [`parse_created`]).
    pub(super) created: Option<Timestamp>,
    /// String annotations and labels, most specific layer first: the index's
    /// annotations (when the digest names an index), the image manifest's,
    /// then the config's labels.
    pub(super) layers: Vec<BTreeMap<String, String>>,
}

fn strings(map: Option<BTreeMap<String, serde_json::Value>>) -> BTreeMap<String, String> {
    map.unwrap_or_default()
        .into_iter()
        .filter_map(|(key, value)| match value {
            serde_json::Value::String(text) => Some((key, text)),
            _ => None,
        })
        .collect()
}

impl RegistryClient {
    /// The creation time of the image `tag` of `target` points to, from
    /// `store` when its digest is known there, else from the registry (and
    /// then recorded in `store`, in memory: call [`CreatedStore::save`]).
    #[tracing::instrument(skip_all, fields(image = %target.image.name(), tag = %tag))]
    pub async fn image_created(
        &self,
        target: &ScanTarget,
        tag: &str,
        store: &CreatedStore,
    ) -> Result<ImageCreated, ScanError> {
        let digest = self.manifest_digest(target, tag).await?;
        if let Some(created) = store.get(&digest) {
            return Ok(ImageCreated {
                digest,
                created,
                fetched: false,
            });
        }
        let created = self.read_image(target, &digest).await?.created;
        store.insert(&digest, created);
        Ok(ImageCreated {
            digest,
            created,
            fetched: true,
        })
    }

    /// Reads the image `digest` names: its manifest (for an index, the
    /// platform the module docs describe) and its config blob. Every
    /// document is checked against its digest.
    pub(super) async fn read_image(
        &self,
        target: &ScanTarget,
        digest: &str,
    ) -> Result<ImageRecord, ScanError> {
        let mut layers = Vec::new();
        let mut manifest = self.manifest(target, digest).await?;
        if let Some(entries) = manifest.manifests.take() {
            let chosen = choose_platform(&entries)
                .ok_or_else(|| invalid(target, digest, "an image index without manifests"))?;
            layers.push(strings(manifest.annotations.take()));
            manifest = self.manifest(target, &chosen.digest).await?;
        }
        layers.push(strings(manifest.annotations.take()));
        let config = manifest
            .config
            .ok_or_else(|| invalid(target, digest, "a manifest without a config"))?;
        let body = self.blob(target, &config.digest).await?;
        let config = serde_json::from_slice::<Config>(&body).map_err(|e| {
            invalid(
                target,
                &config.digest,
                &format!("not an image config ({e})"),
            )
        })?;
        layers.push(strings(config.config.and_then(|c| c.labels)));
        Ok(ImageRecord {
            created: config.created.as_deref().and_then(parse_created),
            layers,
        })
    }

    async fn manifest(&self, target: &ScanTarget, digest: &str) -> Result<Manifest, ScanError> {
        let (fetched, url) = self
            .get_in_repository(target, &format!("manifests/{digest}"), MANIFEST_ACCEPT)
            .await?;
        let body = verified(target, &url, fetched, digest)?;
        serde_json::from_slice(&body)
            .map_err(|e| invalid(target, digest, &format!("not a manifest ({e})")))
    }

    pub(crate) async fn blob(
        &self,
        target: &ScanTarget,
        digest: &str,
    ) -> Result<Vec<u8>, ScanError> {
        let (mut fetched, mut url) = self
            .get_in_repository(target, &format!("blobs/{digest}"), "*/*")
            .await?;
        let mut redirects = 0;
        while (300..400).contains(&fetched.status) {
            redirects += 1;
            let next = fetched
                .headers
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|location| url.join(location).ok())
                .ok_or_else(|| invalid(target, digest, "a redirect without a valid Location"))?;
            if redirects > MAX_REDIRECTS || (url.scheme() == "https" && next.scheme() != "https") {
                return Err(invalid(
                    target,
                    digest,
                    "too many redirects, or a redirect from HTTPS to plain HTTP",
                ));
            }
            fetched = self.get_without_credentials(target, &next).await?;
            url = next;
        }
        verified(target, &url, fetched, digest)
    }
}

/// The body of a `200` answer, checked against `digest`.
pub(crate) fn verified(
    target: &ScanTarget,
    url: &Url,
    fetched: Fetched,
    digest: &str,
) -> Result<Vec<u8>, ScanError> {
    let image = target.image.name().to_string();
    match fetched.status {
        200 => {}
        404 => {
            return Err(ScanError::NotFound {
                image,
                host: url.host_str().unwrap_or_default().to_string(),
                detail: format!("{digest} not found"),
            });
        }
        status => {
            return Err(ScanError::Status {
                image,
                url: without_query(url),
                status,
                detail: String::new(),
            });
        }
    }
    if let Some(hex) = digest.strip_prefix("sha256:")
        && hex::encode(Sha256::digest(&fetched.body)) != hex
    {
        return Err(invalid(
            target,
            digest,
            "the content does not match its digest",
        ));
    }
    Ok(fetched.body)
}

/// The entry of an index to read the creation time from (see the module docs).
fn choose_platform(entries: &[Descriptor]) -> Option<&Descriptor> {
    fn platform(d: &Descriptor) -> Option<(&str, &str)> {
        d.platform
            .as_ref()
            .map(|p| (p.os.as_str(), p.architecture.as_str()))
    }
    entries
        .iter()
        .find(|d| platform(d) == Some(("linux", "amd64")))
        .or_else(|| {
            entries
                .iter()
                .find(|d| platform(d) != Some(("unknown", "unknown")))
        })
        .or_else(|| entries.first())
}

/// An RFC 3339 `created`; Go's zero time and unparsable text are no creation time.
pub fn parse_created(text: &str) -> Option<Timestamp> {
    let time: Timestamp = text.parse().ok()?;
    (time > Timestamp::from_second(-62_135_596_800).ok()?).then_some(time)
}

fn invalid(target: &ScanTarget, digest: &str, reason: &str) -> ScanError {
    ScanError::InvalidResponse {
        image: target.image.name().to_string(),
        url: digest.to_string(),
        reason: reason.to_string(),
    }
}

fn without_query(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(digest: &str, os: &str, architecture: &str) -> Descriptor {
        Descriptor {
            digest: digest.into(),
            platform: Some(Platform {
                os: os.into(),
                architecture: architecture.into(),
            }),
        }
    }

    #[test]
    fn indexes_prefer_linux_amd64_then_a_real_platform() {
        let entries = [
            entry("a", "unknown", "unknown"),
            entry("b", "linux", "arm64"),
            entry("c", "linux", "amd64"),
        ];
        assert_eq!(choose_platform(&entries).unwrap().digest, "c");
        assert_eq!(choose_platform(&entries[..2]).unwrap().digest, "b");
        assert_eq!(choose_platform(&entries[..1]).unwrap().digest, "a");
        assert!(choose_platform(&[]).is_none());
    }

    #[test]
    fn created_times_parse_and_go_zero_is_none() {
        assert_eq!(
            parse_created("2024-03-01T10:00:00.123456789Z").unwrap(),
            "2024-03-01T10:00:00.123456789Z"
                .parse::<Timestamp>()
                .unwrap()
        );
        assert!(parse_created("2024-03-01T12:00:00+02:00").is_some());
        assert_eq!(parse_created("0001-01-01T00:00:00Z"), None);
        assert_eq!(parse_created("yesterday"), None);
        assert!(parse_created("1970-01-01T00:00:00Z").is_some());
    }
}

//! The platforms an image is built for: the entries of its image index (OCI
//! index or Docker manifest list), or, for a single image, the `os`,
//! `architecture` and `variant` of its config. One manifest request by digest
//! (plus the config blob for a single image); both are checked against their
//! digests, and a manifest or config larger than [`MAX_MANIFEST_BYTES`] is refused.

use serde::Deserialize;

use super::client::{MANIFEST_ACCEPT, RegistryClient};
use super::created::verified;
use super::{ScanError, ScanTarget};

/// The largest index, manifest or config read for platforms.
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// One platform as the registry names it (normalized later, by the policy).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ImagePlatform {
    /// `linux`, `windows`, ...
    #[serde(default)]
    pub os: String,
    /// `amd64`, `arm64`, ...
    #[serde(default)]
    pub architecture: String,
    /// `v7`, `v8`, ... when given.
    #[serde(default)]
    pub variant: Option<String>,
}

#[derive(Deserialize)]
struct Manifest {
    #[serde(default)]
    manifests: Option<Vec<Entry>>,
    #[serde(default)]
    config: Option<Config>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    platform: Option<ImagePlatform>,
}

#[derive(Deserialize)]
struct Config {
    digest: String,
}

impl RegistryClient {
    /// The platforms of the image `digest` in `target`'s repository.
    #[tracing::instrument(skip_all, fields(image = %target.image.name(), digest = %digest))]
    pub async fn image_platforms(
        &self,
        target: &ScanTarget,
        digest: &str,
    ) -> Result<Vec<ImagePlatform>, ScanError> {
        let invalid = |what: &str, reason: String| ScanError::InvalidResponse {
            image: target.image.name().to_string(),
            url: what.to_string(),
            reason,
        };
        let (fetched, url) = self
            .get_in_repository(target, &format!("manifests/{digest}"), MANIFEST_ACCEPT)
            .await?;
        let body = verified(target, &url, fetched, digest)?;
        if body.len() > MAX_MANIFEST_BYTES {
            return Err(invalid(digest, "the manifest is larger than 4 MiB".into()));
        }
        let manifest: Manifest = serde_json::from_slice(&body)
            .map_err(|e| invalid(digest, format!("not a manifest or index ({e})")))?;
        if let Some(entries) = manifest.manifests {
            return Ok(entries.into_iter().filter_map(|e| e.platform).collect());
        }
        let config = manifest
            .config
            .ok_or_else(|| invalid(digest, "neither an index nor an image manifest".into()))?;
        let body = self.blob(target, &config.digest).await?;
        if body.len() > MAX_MANIFEST_BYTES {
            return Err(invalid(
                &config.digest,
                "the config is larger than 4 MiB".into(),
            ));
        }
        let platform: ImagePlatform = serde_json::from_slice(&body)
            .map_err(|e| invalid(&config.digest, format!("not an image config ({e})")))?;
        if platform.os.is_empty() && platform.architecture.is_empty() {
            return Ok(Vec::new());
        }
        Ok(vec![platform])
    }
}

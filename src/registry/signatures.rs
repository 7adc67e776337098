//! An image's cosign signatures, fetched from its repository and checked with
//! [`super::cosign`]: the manifest of the tag `sha256-<hex>.sig` (cosign's
//! default place), then the payload blob of each simple-signing layer.
//!
//! Bounded: the signature manifest may be at most
//! [`MAX_SIGNATURE_MANIFEST_BYTES`] with at most [`MAX_SIGNATURE_LAYERS`]
//! layers (cosign's own limit), each payload at most [`MAX_PAYLOAD_BYTES`],
//! and at most [`MAX_PAYLOADS`] distinct payloads are fetched per image; the
//! layers are checked in order and the first trusted one ends the check.
//! A manifest that is not JSON or is too large is an error for that image
//! ([`ScanError::InvalidResponse`], never retried); a payload that cannot be
//! read makes its layer count as unreadable.

use std::collections::BTreeMap;

use super::client::RegistryClient;
use super::cosign::{CosignKeys, LayerVerdict, check_layer, signature_layers, untrusted_detail};
use super::created::verified;
use super::{ScanError, ScanTarget};

/// The largest signature manifest read.
pub const MAX_SIGNATURE_MANIFEST_BYTES: usize = 1024 * 1024;
/// The most layers a signature manifest may have (cosign's `maxLayers`).
pub const MAX_SIGNATURE_LAYERS: usize = 1000;
/// The largest payload fetched (a simple-signing payload is a few hundred bytes).
pub const MAX_PAYLOAD_BYTES: u64 = 64 * 1024;
/// The most distinct payloads fetched for one image.
pub const MAX_PAYLOADS: usize = 20;

/// The media types a signature manifest is asked for with.
const SIGNATURE_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// What an image's signatures say, for one key set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureOutcome {
    /// A signature of this image verifies with this key.
    Verified {
        /// The key's entry name in the Secret.
        key: String,
    },
    /// No signature image.
    Unsigned,
    /// Signatures, none of them trusted for this image.
    Untrusted {
        /// What was found.
        detail: String,
    },
}

/// The tag cosign stores `digest`'s signatures under: `sha256-<hex>.sig`.
pub fn signature_tag(digest: &str) -> Option<String> {
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| format!("sha256-{hex}.sig"))
}

impl RegistryClient {
    /// Checks the cosign signatures of the image `digest` in `target`'s
    /// repository against `keys`.
    #[tracing::instrument(skip_all, fields(image = %target.image.name(), digest = %digest))]
    pub async fn cosign_signature(
        &self,
        target: &ScanTarget,
        digest: &str,
        keys: &CosignKeys,
    ) -> Result<SignatureOutcome, ScanError> {
        let invalid = |reason: String| ScanError::InvalidResponse {
            image: target.image.name().to_string(),
            url: digest.to_string(),
            reason,
        };
        let tag = signature_tag(digest)
            .ok_or_else(|| invalid(format!("{digest:?} is not a sha256 digest")))?;
        let (fetched, url) = self
            .get_in_repository(target, &format!("manifests/{tag}"), SIGNATURE_ACCEPT)
            .await?;
        if fetched.status == 404 {
            return Ok(SignatureOutcome::Unsigned);
        }
        // A tag, not a digest: `verified` checks the status only.
        let manifest = verified(target, &url, fetched, &tag)?;
        if manifest.len() > MAX_SIGNATURE_MANIFEST_BYTES {
            return Err(invalid(format!(
                "the signature manifest {tag} is larger than {} KiB",
                MAX_SIGNATURE_MANIFEST_BYTES / 1024
            )));
        }
        let layers = signature_layers(&manifest).map_err(invalid)?;
        if layers.len() > MAX_SIGNATURE_LAYERS {
            return Err(invalid(format!(
                "the signature manifest {tag} has {} layers, more than {MAX_SIGNATURE_LAYERS}",
                layers.len()
            )));
        }
        if layers.is_empty() {
            return Ok(SignatureOutcome::Unsigned);
        }
        let mut payloads: BTreeMap<String, Option<Vec<u8>>> = BTreeMap::new();
        let mut verdicts = Vec::new();
        let mut unchecked = 0;
        for layer in &layers {
            if !payloads.contains_key(&layer.payload_digest) {
                if payloads.len() == MAX_PAYLOADS {
                    unchecked += 1;
                    continue;
                }
                let payload = if layer.size > MAX_PAYLOAD_BYTES {
                    None
                } else {
                    match self.blob(target, &layer.payload_digest).await {
                        Ok(body) if body.len() as u64 <= MAX_PAYLOAD_BYTES => Some(body),
                        Ok(_) => None,
                        Err(error) if error.is_transient() => return Err(error),
                        Err(error) => {
                            tracing::debug!(%error, payload = %layer.payload_digest, "unreadable signature payload");
                            None
                        }
                    }
                };
                payloads.insert(layer.payload_digest.clone(), payload);
            }
            let verdict = match payloads.get(&layer.payload_digest) {
                Some(Some(payload)) => check_layer(keys, digest, layer, payload),
                _ => LayerVerdict::Unreadable,
            };
            if let LayerVerdict::Verified(key) = verdict {
                return Ok(SignatureOutcome::Verified { key });
            }
            verdicts.push(verdict);
        }
        let mut detail = untrusted_detail(keys, &verdicts);
        if unchecked > 0 {
            detail.push_str(&format!(
                "; {unchecked} more not checked (at most {MAX_PAYLOADS} payloads per image)"
            ));
        }
        Ok(SignatureOutcome::Untrusted { detail })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_tags_follow_cosign() {
        let hex = "b88277e7c14d951695aa6b96124c81e8d1dc7e11aab930945bb42a00ffb9ecbd";
        assert_eq!(
            signature_tag(&format!("sha256:{hex}")).unwrap(),
            format!("sha256-{hex}.sig")
        );
        assert_eq!(signature_tag("sha512:abc"), None);
        assert_eq!(signature_tag("sha256:../../x"), None);
    }
}

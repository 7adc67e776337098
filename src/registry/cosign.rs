//! Cosign's key-based signatures, checked the way `cosign verify --key` checks
//! them (sigstore/cosign v2, `pkg/cosign/verify.go`), minus the transparency
//! log: pure functions over bytes the registry returned ([`super::signatures`]
//! fetches them).
//!
//! - The keys are the `*.pub` entries of a Secret, each a PEM `PUBLIC KEY`
//!   (PKIX) of an ECDSA P-256 key, what `cosign generate-key-pair` writes.
//! - A signature image (the tag `sha256-<hex>.sig` beside the image) is an
//!   OCI manifest whose layers are simple-signing payloads
//!   (`application/vnd.dev.cosign.simplesigning.v1+json`), each with its
//!   signature, base64 of an ASN.1 DER ECDSA signature over the payload's
//!   SHA-256, in the annotation `dev.cosignproject.cosign/signature`.
//! - A payload counts only if its `critical.type` is cosign's and its
//!   `critical.image.docker-manifest-digest` is the image's digest (cosign's
//!   `SimpleClaimVerifier`): a valid signature of another image proves nothing.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::{DecodePublicKey as _, EncodePublicKey as _};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use super::{ObjectKey, SecretData};

/// The media type of a simple-signing payload layer.
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The layer annotation holding the base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// `critical.type` of a cosign image signature payload.
pub const COSIGN_PAYLOAD_TYPE: &str = "cosign container image signature";

/// Why a Secret's keys cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CosignKeyError {
    /// The Secret holds no `*.pub` entry.
    #[error(
        "Secret {secret} has no *.pub entry; put the public key (cosign.pub) under a key ending in .pub"
    )]
    NoKeys {
        /// `namespace/name` of the Secret.
        secret: String,
    },
    /// An entry is not a PEM ECDSA P-256 public key.
    #[error(
        "Secret {secret}, entry {entry}: not an ECDSA P-256 public key in PEM (what `cosign generate-key-pair` writes); other key types are not supported yet"
    )]
    InvalidKey {
        /// `namespace/name` of the Secret.
        secret: String,
        /// The entry's name.
        entry: String,
    },
}

/// The public keys one policy trusts, from one Secret.
#[derive(Clone)]
pub struct CosignKeys {
    secret: ObjectKey,
    keys: Vec<(String, VerifyingKey)>,
    fingerprint: String,
}

impl fmt::Debug for CosignKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CosignKeys")
            .field("secret", &self.secret)
            .field("keys", &self.names())
            .finish()
    }
}

impl PartialEq for CosignKeys {
    fn eq(&self, other: &Self) -> bool {
        self.secret == other.secret && self.fingerprint == other.fingerprint
    }
}

impl CosignKeys {
    /// The `*.pub` entries of the Secret `secret`.
    pub fn from_secret(secret: &ObjectKey, data: &SecretData) -> Result<Self, CosignKeyError> {
        let mut keys = Vec::new();
        for (entry, value) in &data.data {
            if !entry.ends_with(".pub") {
                continue;
            }
            let invalid = || CosignKeyError::InvalidKey {
                secret: secret.to_string(),
                entry: entry.clone(),
            };
            let text = std::str::from_utf8(value.expose()).map_err(|_| invalid())?;
            let key = VerifyingKey::from_public_key_pem(text.trim()).map_err(|_| invalid())?;
            keys.push((entry.clone(), key));
        }
        if keys.is_empty() {
            return Err(CosignKeyError::NoKeys {
                secret: secret.to_string(),
            });
        }
        let mut hasher = Sha256::new();
        for (_, key) in &keys {
            if let Ok(der) = key.to_public_key_der() {
                hasher.update(der.as_bytes());
            }
        }
        Ok(Self {
            secret: secret.clone(),
            keys,
            fingerprint: hex::encode(hasher.finalize()),
        })
    }

    /// The Secret the keys come from.
    pub fn secret(&self) -> &ObjectKey {
        &self.secret
    }

    /// The entries' names (`cosign.pub`, ...), sorted.
    pub fn names(&self) -> Vec<&str> {
        self.keys.iter().map(|(name, _)| name.as_str()).collect()
    }

    /// A hash of the keys: verification results are cached per key set.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// What the keys are, for messages: `cosign keys in Secret shop/keys (cosign.pub)`.
    pub fn describe(&self) -> String {
        format!(
            "cosign keys in Secret {} ({})",
            self.secret,
            self.names().join(", ")
        )
    }

    /// The name of the first key that verifies `signature` (DER) over `payload`.
    fn verifier_of(&self, payload: &[u8], signature: &[u8]) -> Option<&str> {
        let signature = Signature::from_der(signature).ok()?;
        self.keys
            .iter()
            .find(|(_, key)| key.verify(payload, &signature).is_ok())
            .map(|(name, _)| name.as_str())
    }
}

/// One layer of a signature image: its payload's digest and size, and the signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureLayer {
    /// The payload blob's digest.
    pub payload_digest: String,
    /// The payload's declared size.
    pub size: u64,
    /// The annotation's text (base64), if present.
    pub signature: Option<String>,
}

#[derive(Deserialize)]
struct SignatureManifest {
    #[serde(default)]
    layers: Vec<LayerDescriptor>,
}

#[derive(Deserialize)]
struct LayerDescriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// The simple-signing layers of a signature manifest (other layers, e.g.
/// attestations, are not signatures and are left out).
pub fn signature_layers(manifest: &[u8]) -> Result<Vec<SignatureLayer>, String> {
    let manifest: SignatureManifest = serde_json::from_slice(manifest)
        .map_err(|e| format!("the signature manifest is not an OCI manifest ({e})"))?;
    Ok(manifest
        .layers
        .into_iter()
        .filter(|layer| layer.media_type == SIMPLE_SIGNING_MEDIA_TYPE)
        .map(|mut layer| SignatureLayer {
            payload_digest: layer.digest,
            size: layer.size,
            signature: layer.annotations.remove(SIGNATURE_ANNOTATION),
        })
        .collect())
}

#[derive(Deserialize)]
struct Payload {
    critical: Critical,
}

#[derive(Deserialize)]
struct Critical {
    #[serde(rename = "type", default)]
    kind: String,
    image: PayloadImage,
}

#[derive(Deserialize)]
struct PayloadImage {
    #[serde(rename = "docker-manifest-digest")]
    digest: String,
}

/// What one signature layer proves about the image `digest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerVerdict {
    /// Verified with this key, for this image.
    Verified(String),
    /// A payload for another image (or not a cosign image signature).
    OtherImage(String),
    /// No trusted key verifies it (or it carries no signature).
    NotByTrustedKey,
    /// The payload is not simple-signing JSON.
    Unreadable,
}

/// Checks one layer: `payload` is its blob (already checked against its digest).
pub fn check_layer(
    keys: &CosignKeys,
    digest: &str,
    layer: &SignatureLayer,
    payload: &[u8],
) -> LayerVerdict {
    let Ok(parsed) = serde_json::from_slice::<Payload>(payload) else {
        return LayerVerdict::Unreadable;
    };
    if parsed.critical.kind != COSIGN_PAYLOAD_TYPE {
        return LayerVerdict::OtherImage(format!("a payload of type {:?}", parsed.critical.kind));
    }
    if parsed.critical.image.digest != digest {
        return LayerVerdict::OtherImage(parsed.critical.image.digest);
    }
    let signature = layer.signature.as_deref().and_then(|text| {
        base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .ok()
    });
    match signature.and_then(|s| keys.verifier_of(payload, &s).map(str::to_string)) {
        Some(key) => LayerVerdict::Verified(key),
        None => LayerVerdict::NotByTrustedKey,
    }
}

/// A sentence about signatures none of which is trusted, e.g. `2 signatures,
/// none by cosign keys in Secret shop/keys (cosign.pub)`.
pub fn untrusted_detail(keys: &CosignKeys, verdicts: &[LayerVerdict]) -> String {
    let count = verdicts.len();
    let mut text = format!(
        "{count} signature{}, none by {}",
        if count == 1 { "" } else { "s" },
        keys.describe()
    );
    let other: Vec<&str> = verdicts
        .iter()
        .filter_map(|v| match v {
            LayerVerdict::OtherImage(what) => Some(what.as_str()),
            _ => None,
        })
        .collect();
    if let Some(first) = other.first() {
        text.push_str(&format!(
            "; {} signed another image ({first})",
            if other.len() == 1 {
                "one".to_string()
            } else {
                other.len().to_string()
            }
        ));
    }
    let unreadable = verdicts
        .iter()
        .filter(|v| **v == LayerVerdict::Unreadable)
        .count();
    if unreadable > 0 {
        text.push_str(&format!("; {unreadable} with an unreadable payload"));
    }
    text
}

#[cfg(test)]
#[path = "cosign_tests.rs"]
mod tests;

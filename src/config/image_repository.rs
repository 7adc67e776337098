//! ImageRepository objects from files (Flux's `image.toolkit.fluxcd.io/v1` and
//! `v1beta2`, or `tagpilot.dev/v1alpha1`), validated once into the registry's
//! [`ScanTarget`] with `TryFrom`.

use std::time::Duration;

use serde::Deserialize;

use super::secrets::Metadata;
use crate::image::{ImageReference, ImageReferenceError};
use crate::registry::ecr::EcrRegistry;
use crate::registry::{CredentialSource, DEFAULT_TIMEOUT, ObjectKey, ScanTarget};

/// The apiVersions read as ImageRepository.
pub const API_VERSIONS: [&str; 3] = [
    "image.toolkit.fluxcd.io/v1",
    "image.toolkit.fluxcd.io/v1beta2",
    "tagpilot.dev/v1alpha1",
];

/// An ImageRepository as written in a file.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageRepository {
    /// One of [`API_VERSIONS`].
    pub api_version: String,
    /// Name and namespace.
    pub metadata: Metadata,
    /// What to scan and how.
    pub spec: ImageRepositorySpec,
}

/// A reference to an object in the same namespace.
#[derive(Debug, Clone, Deserialize)]
pub struct LocalObjectReference {
    /// The object's name.
    pub name: String,
}

/// `spec` of an ImageRepository (the fields the scanner uses; others are ignored).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageRepositorySpec {
    /// The image to scan, without tag.
    pub image: String,
    /// How often to scan (a Go duration such as `5m`).
    #[serde(default)]
    pub interval: Option<String>,
    /// The timeout of each registry request (a Go duration; default 60s).
    #[serde(default)]
    pub timeout: Option<String>,
    /// A Secret with registry credentials.
    #[serde(default)]
    pub secret_ref: Option<LocalObjectReference>,
    /// A Secret with `ca.crt` and optionally `tls.crt`/`tls.key`.
    #[serde(default)]
    pub cert_secret_ref: Option<LocalObjectReference>,
    /// Talk plain HTTP to the registry.
    #[serde(default)]
    pub insecure: bool,
    /// `generic` (default) or `aws`.
    #[serde(default)]
    pub provider: Option<String>,
    /// Tag exclusion regexes (used by the policy engine, not the scanner).
    #[serde(default)]
    pub exclusion_list: Vec<String>,
    /// Do not scan.
    #[serde(default)]
    pub suspend: bool,
}

/// Why an ImageRepository cannot be scanned.
#[derive(Debug, thiserror::Error)]
pub enum ImageRepositoryError {
    /// The apiVersion is not one we read.
    #[error("ImageRepository {object}: apiVersion {api_version:?} is not one of {API_VERSIONS:?}")]
    ApiVersion {
        /// `namespace/name`.
        object: String,
        /// What the file says.
        api_version: String,
    },
    /// `spec.image` is not an image reference.
    #[error("ImageRepository {object}: spec.image: {source}")]
    Image {
        /// `namespace/name`.
        object: String,
        /// Why.
        #[source]
        source: ImageReferenceError,
    },
    /// `spec.image` carries a tag or digest.
    #[error("ImageRepository {object}: spec.image {image:?} must not have a tag or digest")]
    TaggedImage {
        /// `namespace/name`.
        object: String,
        /// The value.
        image: String,
    },
    /// A duration field is not a Go duration.
    #[error(
        "ImageRepository {object}: spec.{field} {value:?} is not a duration (like 30s, 5m, 1h30m)"
    )]
    Duration {
        /// `namespace/name`.
        object: String,
        /// The field.
        field: &'static str,
        /// The value.
        value: String,
    },
    /// The provider is unknown or not supported.
    #[error(
        "ImageRepository {object}: spec.provider {provider:?} is not supported (use generic or aws)"
    )]
    Provider {
        /// `namespace/name`.
        object: String,
        /// The value.
        provider: String,
    },
    /// `provider: aws` with a host that is not ECR.
    #[error(
        "ImageRepository {object}: provider aws needs an ECR image (ACCOUNT.dkr.ecr.REGION.amazonaws.com/…), not {image}"
    )]
    NotEcr {
        /// `namespace/name`.
        object: String,
        /// The image.
        image: String,
    },
}

impl ImageRepository {
    /// The object's key.
    pub fn key(&self) -> ObjectKey {
        self.metadata.key()
    }
}

impl TryFrom<&ImageRepository> for ScanTarget {
    type Error = ImageRepositoryError;

    fn try_from(object: &ImageRepository) -> Result<Self, Self::Error> {
        let id = object.key();
        let name = id.to_string();
        if !API_VERSIONS.contains(&object.api_version.as_str()) {
            return Err(ImageRepositoryError::ApiVersion {
                object: name,
                api_version: object.api_version.clone(),
            });
        }
        let spec = &object.spec;
        let image =
            ImageReference::parse(&spec.image).map_err(|source| ImageRepositoryError::Image {
                object: name.clone(),
                source,
            })?;
        if image.tag().is_some() || image.digest().is_some() {
            return Err(ImageRepositoryError::TaggedImage {
                object: name,
                image: spec.image.clone(),
            });
        }
        let timeout = match &spec.timeout {
            None => DEFAULT_TIMEOUT,
            Some(value) => parse_duration(value)
                .filter(|d| !d.is_zero())
                .ok_or_else(|| ImageRepositoryError::Duration {
                    object: name.clone(),
                    field: "timeout",
                    value: value.clone(),
                })?,
        };
        if let Some(value) = &spec.interval
            && parse_duration(value).is_none()
        {
            return Err(ImageRepositoryError::Duration {
                object: name,
                field: "interval",
                value: value.clone(),
            });
        }
        let namespace = &id.namespace;
        let credentials = match spec.provider.as_deref().unwrap_or("generic") {
            "generic" => match &spec.secret_ref {
                Some(secret) => CredentialSource::Secret(ObjectKey::new(namespace, &secret.name)),
                None => CredentialSource::Anonymous,
            },
            "aws" => {
                let host = image.registry().split(':').next().unwrap_or_default();
                if EcrRegistry::from_host(host).is_none() {
                    return Err(ImageRepositoryError::NotEcr {
                        object: name,
                        image: spec.image.clone(),
                    });
                }
                CredentialSource::Aws
            }
            other => {
                return Err(ImageRepositoryError::Provider {
                    object: name,
                    provider: other.to_string(),
                });
            }
        };
        Ok(ScanTarget {
            cert_secret: spec
                .cert_secret_ref
                .as_ref()
                .map(|r| ObjectKey::new(namespace, &r.name)),
            id,
            image,
            credentials,
            insecure: spec.insecure,
            timeout,
        })
    }
}

/// Parses a Go duration (`300ms`, `1.5s`, `5m`, `1h30m`); `None` if invalid.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text == "0" {
        return Some(Duration::ZERO);
    }
    let mut rest = text;
    let mut total = 0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += number * seconds;
        rest = &rest[unit_end..];
    }
    Duration::try_from_secs_f64(total).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(spec: &str) -> ImageRepository {
        let yaml = format!(
            "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\nmetadata:\n  name: app\n  namespace: apps\nspec:\n{spec}"
        );
        serde_saphyr::from_str(&yaml).unwrap()
    }

    #[test]
    fn a_full_spec_becomes_a_scan_target() {
        let target = ScanTarget::try_from(&object(
            "  image: 127.0.0.1:5000/team/app\n  interval: 5m\n  timeout: 1m30s\n  insecure: true\n  secretRef:\n    name: creds\n  certSecretRef:\n    name: ca\n",
        ))
        .unwrap();
        assert_eq!(target.id, ObjectKey::new("apps", "app"));
        assert_eq!(target.image.repository(), "team/app");
        assert!(target.insecure);
        assert_eq!(target.timeout, Duration::from_secs(90));
        assert!(
            matches!(target.credentials, CredentialSource::Secret(ref k) if *k == ObjectKey::new("apps", "creds"))
        );
        assert_eq!(target.cert_secret, Some(ObjectKey::new("apps", "ca")));
    }

    #[test]
    fn invalid_specs_say_which_field() {
        let cases = [
            ("  image: 'UPPER/Case'\n", "spec.image"),
            ("  image: app:v1\n", "must not have a tag"),
            ("  image: app\n  timeout: soon\n", "spec.timeout"),
            ("  image: app\n  provider: azure\n", "spec.provider"),
            (
                "  image: ghcr.io/org/app\n  provider: aws\n",
                "provider aws needs an ECR image",
            ),
        ];
        for (spec, expected) in cases {
            let error = ScanTarget::try_from(&object(spec)).unwrap_err().to_string();
            assert!(error.contains(expected), "{spec}: {error}");
            assert!(error.contains("apps/app"), "{error}");
        }
        let aws = ScanTarget::try_from(&object(
            "  image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/front-end\n  provider: aws\n",
        ))
        .unwrap();
        assert!(matches!(aws.credentials, CredentialSource::Aws));
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("300ms"), Some(Duration::from_millis(300)));
        for bad in ["", "5", "5x", "m", "-1s"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}

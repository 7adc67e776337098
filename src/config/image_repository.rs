//! ImageRepository objects from files (Flux's `image.toolkit.fluxcd.io/v1` and
//! `v1beta2`, or `tagpilot.dev/v1alpha1`), validated once into the registry's
//! [`ScanTarget`] with `TryFrom`.

use serde::Deserialize;

use super::meta::{
    GoDuration, IMAGE_API_VERSIONS as API_VERSIONS, LocalObjectReference, ObjectMeta,
};
use crate::image::{ImageReference, ImageReferenceError};
use crate::registry::ecr::EcrRegistry;
use crate::registry::{CredentialSource, DEFAULT_TIMEOUT, ObjectKey, ScanTarget};

/// An ImageRepository as written in a file.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageRepository {
    /// One of [`IMAGE_API_VERSIONS`](super::meta::IMAGE_API_VERSIONS).
    pub api_version: String,
    /// Name and namespace.
    pub metadata: ObjectMeta,
    /// What to scan and how.
    pub spec: ImageRepositorySpec,
}

/// `spec` of an ImageRepository. Unknown fields are an error (a typo must not
/// silently change what is scanned); Flux fields tagpilot does not use are accepted.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageRepositorySpec {
    /// The image to scan, without tag.
    pub image: String,
    /// How often to scan (a Go duration such as `5m`).
    #[serde(default)]
    pub interval: Option<GoDuration>,
    /// The timeout of each registry request (a Go duration; default 60s).
    #[serde(default)]
    pub timeout: Option<GoDuration>,
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
    /// Flux's cross-namespace access list (accepted; standalone mode has no namespaces to guard).
    #[serde(default)]
    pub access_from: Option<serde_json::Value>,
    /// Flux's workload-identity service account (accepted and ignored).
    #[serde(default)]
    pub service_account_name: Option<String>,
    /// Flux's proxy Secret (accepted and ignored).
    #[serde(default)]
    pub proxy_secret_ref: Option<LocalObjectReference>,
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
    #[error("ImageRepository {object}: spec.timeout must be longer than zero (like 30s or 1m)")]
    ZeroTimeout {
        /// `namespace/name`.
        object: String,
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
        let timeout = match spec.timeout {
            None => DEFAULT_TIMEOUT,
            Some(GoDuration(timeout)) if !timeout.is_zero() => timeout,
            Some(_) => {
                return Err(ImageRepositoryError::ZeroTimeout { object: name });
            }
        };
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

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
            ("  image: app\n  timeout: 0s\n", "spec.timeout"),
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
    fn durations_and_unknown_fields_are_checked_when_read() {
        let yaml = "apiVersion: tagpilot.dev/v1alpha1\nkind: ImageRepository\nmetadata:\n  name: app\nspec:\n  image: app\n  interval: soon\n";
        let error = serde_saphyr::from_str::<ImageRepository>(yaml)
            .unwrap_err()
            .to_string();
        assert!(error.contains("invalid duration \"soon\""), "{error}");
        let typo = yaml.replace("interval: soon", "intervall: 5m");
        let error = serde_saphyr::from_str::<ImageRepository>(&typo)
            .unwrap_err()
            .to_string();
        assert!(error.contains("unknown field `intervall`"), "{error}");
    }
}

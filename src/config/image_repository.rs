//! ImageRepository objects (any served version, read into
//! [`ImageRepositorySpec`]) validated once into a [`RepositoryEntry`]: the
//! registry's [`ScanTarget`] plus what the engine schedules by.

use std::time::Duration;

use super::meta::{ObjectKey, object_key};
use crate::api::ApiObject;
use crate::api::image_repository::{ImageRepositorySpec, RegistryProvider};
use crate::api::meta::AccessFrom;
use crate::image::{ImageReference, ImageReferenceError};
use crate::policy::ExclusionList;
use crate::registry::azure::is_acr_host;
use crate::registry::ecr::EcrRegistry;
use crate::registry::gcp::is_gcp_host;
use crate::registry::{CredentialSource, DEFAULT_TIMEOUT, ScanTarget};

/// An ImageRepository as read from a file or the API server.
pub type ImageRepositoryObject = ApiObject<ImageRepositorySpec>;

/// The interval used when an object gives none.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);

/// An ImageRepository, ready to scan.
#[derive(Debug, Clone)]
pub struct RepositoryEntry {
    /// What and how to scan: image, credentials (`provider`, `secretRef`),
    /// TLS, proxy, ServiceAccount, request timeout.
    pub target: ScanTarget,
    /// Tags that no policy sees.
    pub exclusions: ExclusionList,
    /// How often to scan.
    pub interval: Duration,
    /// Not scanned while true.
    pub suspend: bool,
    /// Which namespaces' ImagePolicies may use it (`None`: only its own).
    pub access_from: Option<AccessFrom>,
}

/// Why an ImageRepository cannot be scanned.
#[derive(Debug, thiserror::Error)]
pub enum ImageRepositoryError {
    /// `spec.image` is not an image reference.
    #[error("spec.image: {0}")]
    Image(#[source] ImageReferenceError),
    /// `spec.image` carries a tag or digest.
    #[error("spec.image {0:?} must not have a tag or digest")]
    TaggedImage(String),
    /// `spec.timeout` is zero.
    #[error("spec.timeout must be longer than zero (like 30s or 1m)")]
    ZeroTimeout,
    /// `spec.interval` is zero.
    #[error("spec.interval must be longer than zero (like 5m)")]
    ZeroInterval,
    /// `provider: aws` with a host that is not ECR.
    #[error(
        "spec.provider: aws needs an ECR image (ACCOUNT.dkr.ecr.REGION.amazonaws.com/…), not {0}"
    )]
    NotEcr(String),
    /// `provider: azure` with a host that is not ACR.
    #[error(
        "spec.provider: azure needs an Azure Container Registry image (NAME.azurecr.io/…), not {0}"
    )]
    NotAcr(String),
    /// `provider: gcp` with a host that is not a GCP registry.
    #[error(
        "spec.provider: gcp needs a GCP registry image (gcr.io, *.gcr.io or *-docker.pkg.dev), not {0}"
    )]
    NotGcp(String),
    /// An exclusion pattern is not a valid regular expression.
    #[error("spec.exclusionList: {0}")]
    Exclusion(String),
}

impl TryFrom<&ImageRepositoryObject> for RepositoryEntry {
    type Error = ImageRepositoryError;

    fn try_from(object: &ImageRepositoryObject) -> Result<Self, Self::Error> {
        let id = object_key(&object.metadata);
        let namespace = id.namespace.clone();
        let spec = &object.spec;
        let image = ImageReference::parse(&spec.image).map_err(ImageRepositoryError::Image)?;
        if image.tag().is_some() || image.digest().is_some() {
            return Err(ImageRepositoryError::TaggedImage(spec.image.clone()));
        }
        let timeout = match spec.timeout {
            None => DEFAULT_TIMEOUT,
            Some(timeout) if !timeout.0.is_zero() => timeout.0,
            Some(_) => return Err(ImageRepositoryError::ZeroTimeout),
        };
        let interval = match spec.interval {
            None => DEFAULT_INTERVAL,
            Some(interval) if !interval.0.is_zero() => interval.0,
            Some(_) => return Err(ImageRepositoryError::ZeroInterval),
        };
        let host = image.registry().split(':').next().unwrap_or_default();
        let credentials = match spec.provider.unwrap_or_default() {
            RegistryProvider::Generic => match &spec.secret_ref {
                Some(secret) => CredentialSource::Secret(ObjectKey::new(&namespace, &secret.name)),
                None => CredentialSource::Anonymous,
            },
            // As in Flux, a cloud provider's login replaces `secretRef`.
            RegistryProvider::Aws => {
                if EcrRegistry::from_host(host).is_none() {
                    return Err(ImageRepositoryError::NotEcr(spec.image.clone()));
                }
                CredentialSource::Aws
            }
            RegistryProvider::Azure => {
                if !is_acr_host(host) {
                    return Err(ImageRepositoryError::NotAcr(spec.image.clone()));
                }
                CredentialSource::Azure
            }
            RegistryProvider::Gcp => {
                if !is_gcp_host(host) {
                    return Err(ImageRepositoryError::NotGcp(spec.image.clone()));
                }
                CredentialSource::Gcp
            }
        };
        let exclusions = if spec.exclusion_list.is_empty() {
            ExclusionList::default()
        } else {
            ExclusionList::new(&spec.exclusion_list)
                .map_err(|e| ImageRepositoryError::Exclusion(crate::redact::with_causes(&e)))?
        };
        let key = |name: &str| ObjectKey::new(&namespace, name);
        Ok(Self {
            target: ScanTarget {
                cert_secret: spec.cert_secret_ref.as_ref().map(|r| key(&r.name)),
                proxy_secret: spec.proxy_secret_ref.as_ref().map(|r| key(&r.name)),
                service_account: spec.service_account_name.as_deref().map(key),
                pull_secrets: Vec::new(),
                id,
                image,
                credentials,
                insecure: spec.insecure,
                timeout,
            },
            exclusions,
            interval,
            suspend: spec.suspend,
            access_from: spec.access_from.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load::parse_objects;

    fn entry(api_version: &str, spec: &str) -> Result<RepositoryEntry, String> {
        let yaml = format!(
            "apiVersion: {api_version}\nkind: ImageRepository\nmetadata:\n  name: app\n  namespace: apps\nspec:\n{spec}"
        );
        let objects = parse_objects(std::path::Path::new("r.yaml"), &yaml).unwrap();
        let object: ImageRepositoryObject = objects[0].decode().map_err(|e| e.to_string())?;
        RepositoryEntry::try_from(&object).map_err(|e| e.to_string())
    }

    #[test]
    fn a_full_spec_becomes_a_scan_target() {
        let entry = entry(
            "image.toolkit.fluxcd.io/v1",
            "  image: 127.0.0.1:5000/team/app\n  interval: 5m\n  timeout: 1m30s\n  insecure: true\n  secretRef:\n    name: creds\n  certSecretRef:\n    name: ca\n  proxySecretRef:\n    name: proxy\n  serviceAccountName: puller\n",
        )
        .unwrap();
        let target = &entry.target;
        assert_eq!(target.id, ObjectKey::new("apps", "app"));
        assert_eq!(target.image.repository(), "team/app");
        assert!(target.insecure);
        assert_eq!(target.timeout, Duration::from_secs(90));
        assert!(
            matches!(target.credentials, CredentialSource::Secret(ref k) if *k == ObjectKey::new("apps", "creds"))
        );
        assert_eq!(target.cert_secret, Some(ObjectKey::new("apps", "ca")));
        assert_eq!(target.proxy_secret, Some(ObjectKey::new("apps", "proxy")));
        assert_eq!(
            target.service_account,
            Some(ObjectKey::new("apps", "puller"))
        );
        assert_eq!(entry.interval, Duration::from_secs(300));
    }

    #[test]
    fn signatures_are_excluded_unless_the_list_says_otherwise() {
        for version in [
            "image.toolkit.fluxcd.io/v1",
            "image.toolkit.fluxcd.io/v1beta1",
            "tagpilot.dev/v1alpha1",
        ] {
            let entry = entry(version, "  image: app\n  interval: 1m\n").unwrap();
            assert!(entry.exclusions.excludes("sha256-abc.sig"), "{version}");
        }
        let own = entry(
            "image.toolkit.fluxcd.io/v1",
            "  image: app\n  interval: 1m\n  exclusionList: ['^dev-']\n",
        )
        .unwrap();
        assert!(!own.exclusions.excludes("sha256-abc.sig"));
        assert!(own.exclusions.excludes("dev-1"));
        let ours = entry("tagpilot.dev/v1alpha1", "  image: app\n").unwrap();
        assert_eq!(ours.interval, DEFAULT_INTERVAL);
    }

    #[test]
    fn invalid_specs_say_which_field() {
        let v1 = "image.toolkit.fluxcd.io/v1";
        let cases = [
            ("  image: 'UPPER/Case'\n  interval: 1m\n", "spec.image"),
            ("  image: app:v1\n  interval: 1m\n", "must not have a tag"),
            (
                "  image: app\n  interval: 1m\n  timeout: 0s\n",
                "spec.timeout",
            ),
            (
                "  image: app\n  interval: 1m\n  provider: azur\n",
                "spec.provider",
            ),
            (
                "  image: ghcr.io/org/app\n  interval: 1m\n  provider: aws\n",
                "aws needs an ECR image",
            ),
            (
                "  image: ghcr.io/org/app\n  interval: 1m\n  provider: azure\n",
                "azure needs an Azure Container Registry image (NAME.azurecr.io/…), not ghcr.io/org/app",
            ),
            (
                "  image: shop.azurecr.io/app\n  interval: 1m\n  provider: gcp\n",
                "gcp needs a GCP registry image",
            ),
            (
                "  image: app\n",
                "spec: missing field `interval` (required in image.toolkit.fluxcd.io/v1)",
            ),
            (
                "  image: app\n  interval: soon\n",
                "invalid duration \"soon\"",
            ),
            (
                "  image: app\n  intervall: 5m\n",
                "spec.intervall: unknown field `intervall` in image.toolkit.fluxcd.io/v1",
            ),
        ];
        for (spec, expected) in cases {
            let error = entry(v1, spec).unwrap_err();
            assert!(error.contains(expected), "{spec}: {error}");
        }
        let error = entry(
            "image.toolkit.fluxcd.io/v1beta1",
            "  image: app\n  interval: 1m\n  provider: aws\n",
        )
        .unwrap_err();
        assert!(
            error.contains("spec.provider: unknown field `provider` in image.toolkit.fluxcd.io/v1beta1 (it is a field of tagpilot.dev/v1alpha1, image.toolkit.fluxcd.io/v1beta2, image.toolkit.fluxcd.io/v1)"),
            "{error}"
        );
        let aws = entry(
            v1,
            "  image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/front-end\n  interval: 1m\n  provider: aws\n",
        )
        .unwrap();
        assert!(matches!(aws.target.credentials, CredentialSource::Aws));
        let azure = entry(
            v1,
            "  image: shop.azurecr.io/app\n  interval: 1m\n  provider: azure\n",
        )
        .unwrap();
        assert!(matches!(azure.target.credentials, CredentialSource::Azure));
        let gcp = entry(
            v1,
            "  image: europe-west1-docker.pkg.dev/project/repo/app\n  interval: 1m\n  provider: gcp\n",
        )
        .unwrap();
        assert!(matches!(gcp.target.credentials, CredentialSource::Gcp));
    }
}

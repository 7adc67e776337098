//! One scan's resolved settings ([`Session`]): the registry's base URL (with
//! endpoint overrides), the TLS settings of `certSecretRef`, and the
//! credentials — from a Secret, a Docker config, or ECR — looked up once per
//! scan, so a changed Secret takes effect on the next scan.

use reqwest::Url;

use super::client::{RegistryClient, invalid_target};
use super::credentials::{Credentials, credentials_from_secret};
use super::ecr::EcrRegistry;
use super::error::ScanError;
use super::transport::{TlsSettings, authority};
use super::{CredentialSource, ScanTarget};

/// One scan's resolved settings.
pub(crate) struct Session<'a> {
    /// What is scanned.
    pub target: &'a ScanTarget,
    /// The image's name, for errors.
    pub image: String,
    /// The registry's base URL.
    pub base: Url,
    /// `host:port` of [`Self::base`].
    pub authority: String,
    /// The repository path on the registry.
    pub repository: String,
    /// The credentials for this registry, if any.
    pub credentials: Option<Credentials>,
    /// What to check when the registry refuses them.
    pub hint: String,
    /// The HTTP client for this target's TLS settings.
    pub http: reqwest::Client,
}

impl RegistryClient {
    /// Resolves `target`'s endpoint, TLS settings and credentials for one scan.
    pub(super) async fn session<'a>(
        &self,
        target: &'a ScanTarget,
    ) -> Result<Session<'a>, ScanError> {
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
            CredentialSource::Azure | CredentialSource::Gcp => {
                return Err(ScanError::InvalidTarget {
                    image,
                    reason: "this spec.provider is not supported yet".to_string(),
                });
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
}

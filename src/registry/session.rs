//! One scan's resolved settings ([`Session`]): the registry's base URL (with
//! endpoint overrides), the TLS settings of `certSecretRef`, the proxy of
//! `proxySecretRef`, and the credentials — from a cloud provider, a Secret and
//! the ServiceAccount's image pull secrets, a Docker config, or ECR — looked
//! up once per scan, so a changed Secret takes effect on the next scan.

use reqwest::Url;

use super::azure::is_acr_host;
use super::client::{RegistryClient, invalid_target};
use super::cloud::HttpContext;
use super::credentials::{Credentials, credentials_from_secret};
use super::ecr::EcrRegistry;
use super::error::ScanError;
use super::gcp::is_gcp_host;
use super::proxy::ProxySettings;
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
    /// Resolves `target`'s endpoint, TLS settings, proxy and credentials for one scan.
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
        let tls = self.tls_settings(target, &image)?;
        let proxy = self.proxy_settings(target, &image)?;
        let http = self
            .inner
            .transport
            .clients
            .client(&tls, proxy.as_ref())
            .map_err(|reason| match (&target.proxy_secret, &target.cert_secret) {
                (Some(secret), None) => ScanError::Proxy {
                    image: image.clone(),
                    secret: secret.to_string(),
                    reason: reason.clone(),
                },
                (_, secret) => ScanError::Tls {
                    image: image.clone(),
                    secret: secret.as_ref().map(ToString::to_string).unwrap_or_default(),
                    reason,
                },
            })?;
        let (credentials, mut hint) = self
            .credentials(target, &image, &registry_host, proxy.as_ref())
            .await?;
        if let Some(secret) = target.proxy_secret.as_ref().filter(|_| proxy.is_some()) {
            // A proxy answers 407 for its own credentials, but some (tinyproxy)
            // answer 401 to wrong ones, which reads as the registry's refusal.
            hint.push_str(&format!(
                " (or, if the proxy refused, `username` and `password` in Secret {secret})"
            ));
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

    fn tls_settings(&self, target: &ScanTarget, image: &str) -> Result<TlsSettings, ScanError> {
        let Some(key) = &target.cert_secret else {
            return Ok(TlsSettings::default());
        };
        let secret = self
            .inner
            .secrets
            .secret(key)
            .ok_or_else(|| ScanError::SecretNotFound {
                image: image.to_string(),
                secret: key.to_string(),
            })?;
        TlsSettings::from_secret(&secret).map_err(|reason| ScanError::Tls {
            image: image.to_string(),
            secret: key.to_string(),
            reason,
        })
    }

    fn proxy_settings(
        &self,
        target: &ScanTarget,
        image: &str,
    ) -> Result<Option<ProxySettings>, ScanError> {
        let Some(key) = &target.proxy_secret else {
            return Ok(None);
        };
        let secret = self
            .inner
            .secrets
            .secret(key)
            .ok_or_else(|| ScanError::SecretNotFound {
                image: image.to_string(),
                secret: key.to_string(),
            })?;
        let proxy = ProxySettings::from_secret(&secret).map_err(|reason| ScanError::Proxy {
            image: image.to_string(),
            secret: key.to_string(),
            reason,
        })?;
        tracing::debug!(proxy = %proxy.address(), secret = %key, "registry requests go through a proxy");
        Ok(Some(proxy))
    }

    /// The credentials for this scan and what to check when they are refused.
    async fn credentials(
        &self,
        target: &ScanTarget,
        image: &str,
        registry_host: &str,
        proxy: Option<&ProxySettings>,
    ) -> Result<(Option<Credentials>, String), ScanError> {
        let host_without_port = registry_host.split(':').next().unwrap_or_default();
        let invalid = |reason: String| ScanError::InvalidTarget {
            image: image.to_string(),
            reason,
        };
        let (mut credentials, mut hint) = match &target.credentials {
            CredentialSource::Anonymous => (
                None,
                format!(
                    "the repository may be private: set spec.secretRef to a Secret with credentials for {registry_host}"
                ),
            ),
            CredentialSource::Secret(key) => {
                let credentials = self.secret_credentials(key, image, registry_host)?;
                if credentials.is_none() {
                    tracing::debug!(secret = %key, "the Secret has no entry for this registry");
                }
                (
                    credentials,
                    format!("check the credentials in Secret {key}"),
                )
            }
            CredentialSource::DockerConfig(config) => (
                config.credentials_for(registry_host).cloned(),
                format!(
                    "check the credentials for {registry_host} in the Docker config (docker login {registry_host})"
                ),
            ),
            CredentialSource::Aws => {
                if EcrRegistry::from_host(host_without_port).is_none() {
                    return Err(invalid(format!(
                        "provider aws needs an ECR host (ACCOUNT.dkr.ecr.REGION.amazonaws.com), not {registry_host}"
                    )));
                }
                (None, String::new())
            }
            CredentialSource::Azure | CredentialSource::Gcp => {
                let azure = matches!(target.credentials, CredentialSource::Azure);
                let (provider, valid, expected) = if azure {
                    (
                        "azure",
                        is_acr_host(host_without_port),
                        "an Azure Container Registry host (NAME.azurecr.io)",
                    )
                } else {
                    (
                        "gcp",
                        is_gcp_host(host_without_port),
                        "a GCP registry host (gcr.io, *.gcr.io, *-docker.pkg.dev)",
                    )
                };
                if !valid {
                    return Err(invalid(format!(
                        "provider {provider} needs {expected}, not {registry_host}"
                    )));
                }
                // Token requests go through the target's proxy with the system's
                // CAs (as Flux); metadata services never through a proxy.
                let clients = &self.inner.transport.clients;
                let proxied = clients
                    .client(&TlsSettings::default(), proxy)
                    .map_err(invalid)?;
                let http = HttpContext {
                    proxied: &proxied,
                    direct: &clients.direct(),
                    timeout: target.timeout,
                    env: &self.inner.env,
                };
                let fetched = if azure {
                    self.inner.azure.credentials(&http, host_without_port).await
                } else {
                    self.inner.gcp.credentials(&http).await
                };
                let credentials = fetched.map_err(|source| ScanError::Cloud {
                    image: image.to_string(),
                    provider,
                    source: Box::new(source),
                })?;
                let hint = if azure {
                    format!(
                        "check that the Azure identity may pull from {registry_host} (the AcrPull role)"
                    )
                } else {
                    format!(
                        "check that the Google service account may read from {registry_host} (Artifact Registry Reader)"
                    )
                };
                (Some(credentials), hint)
            }
        };
        // The ServiceAccount's image pull secrets come after `secretRef`, in
        // their order; the first with an entry for this registry wins (Flux's
        // keychain of `secretRef` + imagePullSecrets).
        if credentials.is_none() {
            for key in &target.pull_secrets {
                if let Some(found) = self.secret_credentials(key, image, registry_host)? {
                    credentials = Some(found);
                    let account = target
                        .service_account
                        .as_ref()
                        .map(|sa| format!(", an imagePullSecret of ServiceAccount {sa}"))
                        .unwrap_or_default();
                    hint = format!("check the credentials in Secret {key}{account}");
                    break;
                }
            }
        }
        let ecr = EcrRegistry::from_host(host_without_port);
        if credentials.is_none()
            && let Some(ecr) = &ecr
        {
            let from_ecr =
                self.inner
                    .ecr
                    .credentials(ecr)
                    .await
                    .map_err(|source| ScanError::Ecr {
                        image: image.to_string(),
                        source,
                    })?;
            credentials = Some(from_ecr);
            hint = format!(
                "check that the AWS identity may pull from {registry_host} (ecr:ListImages, ecr:BatchGetImage)"
            );
        }
        Ok((credentials, hint))
    }

    /// Drops the cached credentials of `target`'s cloud provider (after the
    /// registry refused them).
    pub(super) async fn forget_cloud_credentials(&self, target: &ScanTarget) {
        let host = target.image.registry();
        let host = host.split(':').next().unwrap_or_default();
        match target.credentials {
            CredentialSource::Azure => self.inner.azure.forget(host).await,
            CredentialSource::Gcp => self.inner.gcp.forget().await,
            _ => {}
        }
    }

    /// The credentials Secret `key` holds for `registry_host` (`None`: a
    /// Docker config without an entry for it).
    fn secret_credentials(
        &self,
        key: &super::ObjectKey,
        image: &str,
        registry_host: &str,
    ) -> Result<Option<Credentials>, ScanError> {
        let secret = self
            .inner
            .secrets
            .secret(key)
            .ok_or_else(|| ScanError::SecretNotFound {
                image: image.to_string(),
                secret: key.to_string(),
            })?;
        credentials_from_secret(&secret, registry_host).map_err(|reason| ScanError::InvalidSecret {
            image: image.to_string(),
            secret: key.to_string(),
            reason,
        })
    }
}

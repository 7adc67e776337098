//! `provider: gcp`: Google Container Registry and Artifact Registry
//! credentials from the metadata server, as Flux gets them on GKE (where the
//! metadata server also serves workload identity's tokens):
//! `GET http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token`
//! with `Metadata-Flavor: Google` answers `{"access_token", "expires_in",
//! "token_type"}`; the token is the password of user `oauth2accesstoken`.
//!
//! Registries: `gcr.io` and `*.gcr.io`, `*-docker.pkg.dev` (Artifact
//! Registry) and `docker.s3nsregistry.fr`, as Flux accepts. One token serves
//! them all; it is cached until shortly before `expires_in` ends. The metadata
//! server is link-local and never proxied. Service account key files
//! (`GOOGLE_APPLICATION_CREDENTIALS`) are not read.
//!
//! For tests only, [`METADATA_OVERRIDE`] moves the metadata server to a
//! loopback URL ([`super::cloud`]).

use reqwest::Url;
use serde::Deserialize;

use super::cloud::{
    CloudError, HttpContext, METADATA_TIMEOUT, TokenCache, expiry_in, fetch_json, seconds,
    test_endpoint,
};
use super::credentials::Credentials;
use crate::secret::Secret;

/// The user name of GCP access-token credentials.
pub const GCP_USERNAME: &str = "oauth2accesstoken";
/// The metadata server's token endpoint for the default service account.
pub const METADATA_TOKEN_URL: &str =
    "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token";
/// Test only: a loopback URL replacing [`METADATA_TOKEN_URL`].
pub const METADATA_OVERRIDE: &str = "TAGPILOT_TEST_GCP_METADATA_URL";

/// Whether `host` (without port) is a GCP registry Flux's `provider: gcp` accepts.
pub fn is_gcp_host(host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    host == "gcr.io"
        || host
            .strip_suffix(".gcr.io")
            .is_some_and(|name| !name.is_empty())
        || host
            .strip_suffix("-docker.pkg.dev")
            .is_some_and(|name| !name.is_empty())
        || host == "docker.s3nsregistry.fr"
}

/// One token serves every GCP registry.
const CACHE_KEY: &str = "default";

#[derive(Deserialize)]
struct MetadataAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

/// The metadata server's token, cached.
#[derive(Debug, Default)]
pub struct GcpCredentials {
    cache: TokenCache<Credentials>,
}

impl GcpCredentials {
    /// Basic credentials (`oauth2accesstoken` and the access token) for any GCP registry.
    pub async fn credentials(&self, http: &HttpContext<'_>) -> Result<Credentials, CloudError> {
        self.cache
            .get_or_fetch(CACHE_KEY, || async {
                let url = match test_endpoint(http.env, METADATA_OVERRIDE)? {
                    Some(url) => url,
                    None => {
                        Url::parse(METADATA_TOKEN_URL).map_err(|e| CloudError::Environment {
                            variable: METADATA_OVERRIDE,
                            reason: e.to_string(),
                        })?
                    }
                };
                let request = http
                    .direct
                    .get(url.clone())
                    .timeout(METADATA_TIMEOUT)
                    .header("Metadata-Flavor", "Google");
                let answer: MetadataAnswer = fetch_json(
                    "a GCP access token",
                    &url,
                    request,
                    "check that the node's (or, with GKE workload identity, the Kubernetes service account's) Google service account exists",
                )
                .await
                .map_err(not_on_gcp_hint)?;
                let expires_at = seconds(answer.expires_in.as_ref()).and_then(expiry_in);
                tracing::debug!("fetched a GCP access token from the metadata server");
                Ok((
                    Credentials::Basic {
                        username: GCP_USERNAME.to_string(),
                        password: Secret::new(answer.access_token),
                    },
                    expires_at,
                ))
            })
            .await
    }
}

impl GcpCredentials {
    /// Forgets the token (a registry refused it).
    pub async fn forget(&self) {
        self.cache.forget(CACHE_KEY).await;
    }
}

/// An unreachable metadata server most often means "not on GCP".
fn not_on_gcp_hint(error: CloudError) -> CloudError {
    match error {
        CloudError::Request {
            what,
            url,
            reason,
            transient: true,
            hint,
        } if hint.is_empty() => CloudError::Request {
            what,
            url,
            reason,
            hint: "; provider gcp needs the GCP metadata server (GCE, GKE, Cloud Run)".to_string(),
            transient: true,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcp_hosts_are_recognized_as_flux_does() {
        for host in [
            "gcr.io",
            "eu.gcr.io",
            "europe-west1-docker.pkg.dev",
            "docker.s3nsregistry.fr",
        ] {
            assert!(is_gcp_host(host), "{host}");
        }
        for host in [
            "ghcr.io",
            ".gcr.io",
            "-docker.pkg.dev",
            "gcr.io.evil.example",
            "pkg.dev",
        ] {
            assert!(!is_gcp_host(host), "{host}");
        }
    }
}

//! The Azure AD identity `provider: azure` uses ([`super::azure`]): the first
//! one the environment configures, in Flux's order (fluxcd/pkg `auth/azure`,
//! without the `az` CLI), and its access token for a resource:
//! - a client secret (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`,
//!   `AZURE_CLIENT_SECRET`) and workload identity (`AZURE_TENANT_ID`,
//!   `AZURE_CLIENT_ID`, `AZURE_FEDERATED_TOKEN_FILE`, `AZURE_AUTHORITY_HOST`;
//!   the file's token is the client assertion, re-read at each request as it
//!   rotates) post the client-credentials grant to
//!   `{AZURE_AUTHORITY_HOST}{tenant}/oauth2/v2.0/token` (HTTPS only; the
//!   public cloud's authority by default), through the repository's proxy;
//! - otherwise the machine's managed identity, from the instance metadata
//!   service (link-local, never proxied; `AZURE_CLIENT_ID` picks a
//!   user-assigned identity).
//!
//! A client certificate or a user name and password (`EnvironmentCredential`'s
//! other forms) are refused by name.

use std::path::PathBuf;
use std::time::SystemTime;

use reqwest::Url;
use serde::Deserialize;

use super::cloud::{
    CloudError, EnvLookup, HttpContext, METADATA_TIMEOUT, expiry_in, fetch_json, form, post_form,
    seconds, test_endpoint,
};
use crate::secret::Secret;

/// Azure AD of the public cloud, when `AZURE_AUTHORITY_HOST` is unset.
pub const DEFAULT_AUTHORITY_HOST: &str = "https://login.microsoftonline.com/";
/// The instance metadata service's token endpoint (managed identity).
pub const IMDS_TOKEN_URL: &str = "http://169.254.169.254/metadata/identity/oauth2/token";
/// Test only: a loopback URL replacing [`IMDS_TOKEN_URL`].
pub const IMDS_OVERRIDE: &str = "TAGPILOT_TEST_AZURE_IMDS_URL";

/// The Azure identity the environment configures.
#[derive(Debug)]
pub enum Identity {
    /// An app registration's client secret.
    ClientSecret {
        /// The tenant.
        tenant: String,
        /// The application (client) id.
        client_id: String,
        /// The secret.
        secret: Secret<String>,
        /// The Azure AD authority.
        authority: Url,
    },
    /// Workload identity: a federated (Kubernetes service account) token in a file.
    Workload {
        /// The tenant.
        tenant: String,
        /// The application (client) id.
        client_id: String,
        /// The token file (re-read at each AAD request: it rotates).
        token_file: PathBuf,
        /// The Azure AD authority.
        authority: Url,
    },
    /// The machine's managed identity.
    Managed {
        /// A user-assigned identity's client id, if chosen.
        client_id: Option<String>,
        /// The metadata service's token endpoint.
        endpoint: Url,
    },
}

impl Identity {
    /// The first identity the environment configures (see the module docs).
    pub fn from_env(env: &EnvLookup) -> Result<Self, CloudError> {
        let tenant = env("AZURE_TENANT_ID");
        let client_id = env("AZURE_CLIENT_ID");
        if let (Some(tenant), Some(client_id)) = (&tenant, &client_id) {
            if let Some(secret) = env("AZURE_CLIENT_SECRET") {
                return Ok(Self::ClientSecret {
                    tenant: valid_tenant(tenant)?,
                    client_id: client_id.clone(),
                    secret: Secret::new(secret),
                    authority: authority(env)?,
                });
            }
            for (variable, what) in [
                ("AZURE_CLIENT_CERTIFICATE_PATH", "a client certificate"),
                ("AZURE_USERNAME", "a user name and password"),
            ] {
                if env(variable).is_some() {
                    return Err(CloudError::Environment {
                        variable,
                        reason: format!(
                            "authenticating with {what} is not supported; use AZURE_CLIENT_SECRET, workload identity or a managed identity"
                        ),
                    });
                }
            }
            if let (Some(file), Some(_)) = (
                env("AZURE_FEDERATED_TOKEN_FILE"),
                env("AZURE_AUTHORITY_HOST"),
            ) {
                return Ok(Self::Workload {
                    tenant: valid_tenant(tenant)?,
                    client_id: client_id.clone(),
                    token_file: PathBuf::from(file),
                    authority: authority(env)?,
                });
            }
        }
        let endpoint = match test_endpoint(env, IMDS_OVERRIDE)? {
            Some(url) => url,
            None => Url::parse(IMDS_TOKEN_URL).map_err(|e| CloudError::Environment {
                variable: IMDS_OVERRIDE,
                reason: e.to_string(),
            })?,
        };
        Ok(Self::Managed {
            client_id,
            endpoint,
        })
    }

    /// What the AAD token is cached under (no secret in it).
    pub(super) fn cache_key(&self, resource: &str) -> String {
        match self {
            Self::ClientSecret {
                tenant, client_id, ..
            } => format!("secret|{tenant}|{client_id}|{resource}"),
            Self::Workload {
                tenant, client_id, ..
            } => format!("workload|{tenant}|{client_id}|{resource}"),
            Self::Managed { client_id, .. } => {
                format!("managed|{}|{resource}", client_id.as_deref().unwrap_or(""))
            }
        }
    }

    pub(super) fn tenant(&self) -> Option<&str> {
        match self {
            Self::ClientSecret { tenant, .. } | Self::Workload { tenant, .. } => Some(tenant),
            Self::Managed { .. } => None,
        }
    }

    /// A fresh AAD access token for `resource`, with its expiry.
    pub(super) async fn token(
        &self,
        http: &HttpContext<'_>,
        resource: &str,
    ) -> Result<(Secret<String>, Option<SystemTime>), CloudError> {
        let answer: AadAnswer = match self {
            Self::ClientSecret {
                tenant,
                client_id,
                authority,
                secret,
            } => {
                let form = form(&[
                    ("client_id", client_id),
                    ("scope", &format!("{resource}/.default")),
                    ("grant_type", "client_credentials"),
                    ("client_secret", secret.expose()),
                ]);
                aad_request(http, authority, tenant, form, "check AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (is the secret expired?)").await?
            }
            Self::Workload {
                tenant,
                client_id,
                authority,
                token_file,
            } => {
                let assertion = std::fs::read_to_string(token_file).map_err(|source| {
                    CloudError::TokenFile {
                        path: token_file.display().to_string(),
                        source,
                    }
                })?;
                let form = form(&[
                    ("client_id", client_id),
                    ("scope", &format!("{resource}/.default")),
                    ("grant_type", "client_credentials"),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", assertion.trim()),
                ]);
                aad_request(http, authority, tenant, form, "check the federated identity credential of AZURE_CLIENT_ID: its issuer and subject must match this pod's service account").await?
            }
            Self::Managed {
                client_id,
                endpoint,
            } => {
                let mut url = endpoint.clone();
                url.query_pairs_mut()
                    .append_pair("api-version", "2018-02-01")
                    .append_pair("resource", resource);
                if let Some(client_id) = client_id {
                    url.query_pairs_mut().append_pair("client_id", client_id);
                }
                let request = http
                    .direct
                    .get(url.clone())
                    .timeout(METADATA_TIMEOUT)
                    .header("Metadata", "true");
                fetch_json("an Azure AD token (managed identity)", &url, request, "check that this machine has a managed identity (AZURE_CLIENT_ID selects a user-assigned one)")
                    .await
                    .map_err(no_identity_hint)?
            }
        };
        let expires_at = seconds(answer.expires_in.as_ref()).and_then(expiry_in);
        Ok((Secret::new(answer.access_token), expires_at))
    }
}

/// The tenant id goes into a URL path: a GUID or a domain name only.
fn valid_tenant(tenant: &str) -> Result<String, CloudError> {
    let valid = !tenant.is_empty()
        && tenant.len() <= 256
        && tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if valid {
        Ok(tenant.to_string())
    } else {
        Err(CloudError::Environment {
            variable: "AZURE_TENANT_ID",
            reason: "a tenant is a GUID or a domain name".to_string(),
        })
    }
}

/// `AZURE_AUTHORITY_HOST` (HTTPS only), or the public cloud's.
fn authority(env: &EnvLookup) -> Result<Url, CloudError> {
    let value = env("AZURE_AUTHORITY_HOST").unwrap_or_else(|| DEFAULT_AUTHORITY_HOST.to_string());
    let refused = || CloudError::Environment {
        variable: "AZURE_AUTHORITY_HOST",
        reason: "must be an https:// URL (e.g. https://login.microsoftonline.com/)".to_string(),
    };
    let mut url = Url::parse(&value).map_err(|_| refused())?;
    if url.scheme() != "https" || url.host_str().is_none() || !url.username().is_empty() {
        return Err(refused());
    }
    url.set_query(None);
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// The managed identity is the last resort: when it is unreachable, say what else could be set.
fn no_identity_hint(error: CloudError) -> CloudError {
    match error {
        CloudError::Request {
            what,
            url,
            reason,
            transient: true,
            ..
        } => CloudError::Request {
            what,
            url,
            reason,
            hint: "; no other Azure identity is configured: set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, or use workload identity (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_FEDERATED_TOKEN_FILE, AZURE_AUTHORITY_HOST)".to_string(),
            transient: true,
        },
        other => other,
    }
}

async fn aad_request(
    http: &HttpContext<'_>,
    authority: &Url,
    tenant: &str,
    body: Secret<String>,
    hint: &str,
) -> Result<AadAnswer, CloudError> {
    let url = authority
        .join(&format!("{tenant}/oauth2/v2.0/token"))
        .map_err(|_| CloudError::Environment {
            variable: "AZURE_TENANT_ID",
            reason: "does not make a token URL".to_string(),
        })?;
    fetch_json(
        "an Azure AD token",
        &url,
        post_form(http, &url, &body),
        hint,
    )
    .await
}

#[derive(Deserialize)]
struct AadAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

impl Identity {
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Self::ClientSecret { .. } => "client secret",
            Self::Workload { .. } => "workload identity",
            Self::Managed { .. } => "managed identity",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> EnvLookup {
        crate::registry::cloud::env_from(pairs.iter().copied())
    }

    #[test]
    fn the_environment_chooses_the_identity_in_flux_order() {
        let secret = Identity::from_env(&env(&[
            ("AZURE_TENANT_ID", "contoso.onmicrosoft.com"),
            ("AZURE_CLIENT_ID", "app"),
            ("AZURE_CLIENT_SECRET", "hunter2"),
            ("AZURE_FEDERATED_TOKEN_FILE", "/var/run/token"),
            ("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.us"),
        ]))
        .unwrap();
        assert!(
            matches!(&secret, Identity::ClientSecret { authority, .. } if authority.as_str() == "https://login.microsoftonline.us/")
        );
        assert!(!format!("{secret:?}").contains("hunter2"));

        let workload = Identity::from_env(&env(&[
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "app"),
            ("AZURE_FEDERATED_TOKEN_FILE", "/var/run/token"),
            ("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.com/"),
        ]))
        .unwrap();
        assert!(matches!(workload, Identity::Workload { .. }));

        // Without the authority host, workload identity is incomplete: managed identity.
        let managed = Identity::from_env(&env(&[
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_ID", "app"),
            ("AZURE_FEDERATED_TOKEN_FILE", "/var/run/token"),
        ]))
        .unwrap();
        assert!(
            matches!(&managed, Identity::Managed { client_id: Some(id), endpoint } if id == "app" && endpoint.as_str() == IMDS_TOKEN_URL)
        );
        assert!(matches!(
            Identity::from_env(&env(&[])).unwrap(),
            Identity::Managed {
                client_id: None,
                ..
            }
        ));
    }

    #[test]
    fn unusable_settings_name_the_variable() {
        for (pairs, variable) in [
            (
                &[
                    ("AZURE_TENANT_ID", "t"),
                    ("AZURE_CLIENT_ID", "c"),
                    ("AZURE_CLIENT_SECRET", "s"),
                    ("AZURE_AUTHORITY_HOST", "http://login.example/"),
                ][..],
                "AZURE_AUTHORITY_HOST",
            ),
            (
                &[
                    ("AZURE_TENANT_ID", "../../evil"),
                    ("AZURE_CLIENT_ID", "c"),
                    ("AZURE_CLIENT_SECRET", "s"),
                ][..],
                "AZURE_TENANT_ID",
            ),
            (
                &[
                    ("AZURE_TENANT_ID", "t"),
                    ("AZURE_CLIENT_ID", "c"),
                    ("AZURE_CLIENT_CERTIFICATE_PATH", "/cert.pem"),
                ][..],
                "AZURE_CLIENT_CERTIFICATE_PATH",
            ),
            (
                &[(IMDS_OVERRIDE, "http://169.254.169.254/token")][..],
                IMDS_OVERRIDE,
            ),
        ] {
            let error = Identity::from_env(&env(pairs)).unwrap_err().to_string();
            assert!(error.contains(variable), "{pairs:?}: {error}");
        }
    }
}

//! `provider: azure`: Azure Container Registry credentials from the
//! controller's Azure AD identity, the way Flux gets them (fluxcd/pkg `auth/azure`
//! without shelling out to the `az` CLI):
//!
//! 1. An Azure AD access token for the registry's cloud
//!    (`https://containerregistry.azure.net/.default`; `.azure.cn`, `.azure.us`
//!    for `azurecr.cn`, `azurecr.us`), from the first identity the environment
//!    configures ([`Identity::from_env`]):
//!    - a client secret: `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`;
//!    - workload identity (what AKS's webhook injects): `AZURE_TENANT_ID`,
//!      `AZURE_CLIENT_ID`, `AZURE_FEDERATED_TOKEN_FILE`, `AZURE_AUTHORITY_HOST`
//!      — the file's token is the client assertion;
//!    - otherwise the managed identity of the machine (the instance metadata
//!      service, `AZURE_CLIENT_ID` selecting a user-assigned one).
//!
//!    The first two post to `{AZURE_AUTHORITY_HOST}{tenant}/oauth2/v2.0/token`
//!    (the client-credentials grant; the authority defaults to
//!    `https://login.microsoftonline.com/` and must be HTTPS).
//! 2. `POST https://<registry>/oauth2/exchange` with `grant_type=access_token`,
//!    `service=<registry>` and the AAD token answers an ACR refresh token.
//! 3. The refresh token is the password of user
//!    `00000000-0000-0000-0000-000000000000`: basic credentials that the
//!    registry's own token server turns into access tokens, as for any
//!    registry ([`super::client`]).
//!
//! The AAD token is cached per identity and scope, the ACR credentials per
//! registry, each until shortly before it expires (`expires_in`; the refresh
//! token's `exp` claim). Requests to Azure AD and to the registry go through
//! the ImageRepository's `proxySecretRef` proxy, as in Flux; the instance
//! metadata service is link-local and never proxied.
//!
//! For tests only, [`EXCHANGE_OVERRIDE`] and [`IMDS_OVERRIDE`] move the
//! exchange and the metadata service to a loopback URL ([`super::cloud`]).

use std::path::PathBuf;
use std::time::SystemTime;

use reqwest::Url;
use reqwest::header::CONTENT_TYPE;
use serde::Deserialize;

use super::cloud::{
    CloudError, EnvLookup, HttpContext, METADATA_TIMEOUT, TokenCache, expiry_in, fetch_json,
    jwt_expiry, seconds, test_endpoint,
};
use super::credentials::Credentials;
use crate::secret::Secret;

/// The user name of ACR refresh-token credentials.
pub const ACR_USERNAME: &str = "00000000-0000-0000-0000-000000000000";
/// Azure AD of the public cloud, when `AZURE_AUTHORITY_HOST` is unset.
pub const DEFAULT_AUTHORITY_HOST: &str = "https://login.microsoftonline.com/";
/// The instance metadata service's token endpoint (managed identity).
pub const IMDS_TOKEN_URL: &str = "http://169.254.169.254/metadata/identity/oauth2/token";
/// Test only: a loopback URL replacing `https://<registry>/oauth2/exchange`.
pub const EXCHANGE_OVERRIDE: &str = "TAGPILOT_TEST_ACR_EXCHANGE_URL";
/// Test only: a loopback URL replacing [`IMDS_TOKEN_URL`].
pub const IMDS_OVERRIDE: &str = "TAGPILOT_TEST_AZURE_IMDS_URL";

/// Whether `host` (without port) is an ACR registry: `NAME.azurecr.io`
/// (or `.cn`, `.de`, `.us`), as Flux accepts.
pub fn is_acr_host(host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    [".azurecr.io", ".azurecr.cn", ".azurecr.de", ".azurecr.us"]
        .iter()
        .any(|suffix| {
            host.strip_suffix(suffix)
                .is_some_and(|name| !name.is_empty())
        })
}

/// The AAD resource (audience) of the registry's cloud.
fn acr_resource(host: &str) -> &'static str {
    if host.ends_with(".azurecr.cn") {
        "https://containerregistry.azure.cn"
    } else if host.ends_with(".azurecr.us") {
        "https://containerregistry.azure.us"
    } else {
        "https://containerregistry.azure.net"
    }
}

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
    fn cache_key(&self, resource: &str) -> String {
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

    fn tenant(&self) -> Option<&str> {
        match self {
            Self::ClientSecret { tenant, .. } | Self::Workload { tenant, .. } => Some(tenant),
            Self::Managed { .. } => None,
        }
    }

    /// A fresh AAD access token for `resource`, with its expiry.
    async fn token(
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

/// A form body (`application/x-www-form-urlencoded`), kept secret: it carries credentials.
fn form(pairs: &[(&str, &str)]) -> Secret<String> {
    let mut body = String::new();
    for (key, value) in pairs {
        if !body.is_empty() {
            body.push('&');
        }
        encode_form_component(key, &mut body);
        body.push('=');
        encode_form_component(value, &mut body);
    }
    Secret::new(body)
}

/// The form encoding of the WHATWG URL standard: `*-._` and alphanumerics
/// as is, space as `+`, every other byte as `%XX`.
fn encode_form_component(text: &str, out: &mut String) {
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
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

/// A form POST through the proxied client.
fn post_form(http: &HttpContext<'_>, url: &Url, body: &Secret<String>) -> reqwest::RequestBuilder {
    http.proxied
        .post(url.clone())
        .timeout(http.timeout)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body.expose().clone())
}

#[derive(Deserialize)]
struct AadAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ExchangeAnswer {
    refresh_token: String,
}

/// ACR credentials, cached per registry, and the AAD tokens they come from.
#[derive(Debug, Default)]
pub struct AzureCredentials {
    aad: TokenCache<Secret<String>>,
    acr: TokenCache<Credentials>,
}

impl AzureCredentials {
    /// Basic credentials for `host` (an ACR host without port).
    pub async fn credentials(
        &self,
        http: &HttpContext<'_>,
        host: &str,
    ) -> Result<Credentials, CloudError> {
        let host = host.to_ascii_lowercase();
        self.acr
            .get_or_fetch(&host, || async {
                let identity = Identity::from_env(http.env)?;
                let resource = acr_resource(&host);
                let aad = self
                    .aad
                    .get_or_fetch(&identity.cache_key(resource), || {
                        identity.token(http, resource)
                    })
                    .await?;
                let refresh = exchange(http, &host, &aad, identity.tenant()).await?;
                let expires_at = jwt_expiry(refresh.expose());
                tracing::debug!(registry = %host, identity = identity.kind(), "exchanged an Azure AD token for ACR credentials");
                Ok((
                    Credentials::Basic {
                        username: ACR_USERNAME.to_string(),
                        password: refresh,
                    },
                    expires_at,
                ))
            })
            .await
    }
}

impl AzureCredentials {
    /// Forgets the ACR credentials of `host` (the registry refused them); the
    /// AAD token stays, the next scan exchanges it again.
    pub async fn forget(&self, host: &str) {
        self.acr.forget(&host.to_ascii_lowercase()).await;
    }
}

impl Identity {
    fn kind(&self) -> &'static str {
        match self {
            Self::ClientSecret { .. } => "client secret",
            Self::Workload { .. } => "workload identity",
            Self::Managed { .. } => "managed identity",
        }
    }
}

/// Exchanges an AAD access token for an ACR refresh token.
async fn exchange(
    http: &HttpContext<'_>,
    host: &str,
    aad: &Secret<String>,
    tenant: Option<&str>,
) -> Result<Secret<String>, CloudError> {
    let url = match test_endpoint(http.env, EXCHANGE_OVERRIDE)? {
        Some(url) => url,
        None => Url::parse(&format!("https://{host}/oauth2/exchange")).map_err(|_| {
            CloudError::Environment {
                variable: EXCHANGE_OVERRIDE,
                reason: format!("{host} does not make an exchange URL"),
            }
        })?,
    };
    let mut pairs = vec![
        ("grant_type", "access_token"),
        ("service", host),
        ("access_token", aad.expose().as_str()),
    ];
    if let Some(tenant) = tenant {
        pairs.push(("tenant", tenant));
    }
    let request = post_form(http, &url, &form(&pairs));
    let hint = format!(
        "check that the Azure identity may pull from {host} (the AcrPull role) and that the registry accepts Azure AD authentication"
    );
    let answer: ExchangeAnswer = fetch_json("the ACR token exchange", &url, request, &hint).await?;
    Ok(Secret::new(answer.refresh_token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> EnvLookup {
        crate::registry::cloud::env_from(pairs.iter().copied())
    }

    #[test]
    fn acr_hosts_are_recognized_as_flux_does() {
        for host in [
            "shop.azurecr.io",
            "Shop.AzureCR.io",
            "x.azurecr.cn",
            "x.azurecr.de",
            "x.azurecr.us",
        ] {
            assert!(is_acr_host(host), "{host}");
        }
        for host in [
            "azurecr.io",
            ".azurecr.io",
            "ghcr.io",
            "shop.azurecr.io.evil.example",
        ] {
            assert!(!is_acr_host(host), "{host}");
        }
        assert_eq!(
            acr_resource("x.azurecr.io"),
            "https://containerregistry.azure.net"
        );
        assert_eq!(
            acr_resource("x.azurecr.cn"),
            "https://containerregistry.azure.cn"
        );
        assert_eq!(
            acr_resource("x.azurecr.us"),
            "https://containerregistry.azure.us"
        );
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

    #[test]
    fn forms_are_url_encoded_and_never_print() {
        let body = form(&[("a", "x y&z"), ("b", "ü")]);
        assert_eq!(body.expose(), "a=x+y%26z&b=%C3%BC");
        assert_eq!(format!("{body:?}"), "[redacted]");
    }
}

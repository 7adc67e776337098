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
//! The identities are in [`super::azure_identity`]. For tests only,
//! [`EXCHANGE_OVERRIDE`] and [`super::azure_identity::IMDS_OVERRIDE`] move the
//! exchange and the metadata service to a loopback URL ([`super::cloud`]).

use reqwest::Url;
use serde::Deserialize;

pub use super::azure_identity::Identity;
use super::cloud::{
    CloudError, HttpContext, TokenCache, fetch_json, form, jwt_expiry, post_form, test_endpoint,
};
use super::credentials::Credentials;
use crate::secret::Secret;

/// The user name of ACR refresh-token credentials.
pub const ACR_USERNAME: &str = "00000000-0000-0000-0000-000000000000";
/// Test only: a loopback URL replacing `https://<registry>/oauth2/exchange`.
pub const EXCHANGE_OVERRIDE: &str = "TAGPILOT_TEST_ACR_EXCHANGE_URL";

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
pub(super) fn acr_resource(host: &str) -> &'static str {
    if host.ends_with(".azurecr.cn") {
        "https://containerregistry.azure.cn"
    } else if host.ends_with(".azurecr.us") {
        "https://containerregistry.azure.us"
    } else {
        "https://containerregistry.azure.net"
    }
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
}

//! Amazon ECR: registry credentials from `GetAuthorizationToken` (aws-sdk-ecr,
//! the default AWS credential chain; the endpoint is overridable with the
//! SDK's own `AWS_ENDPOINT_URL_ECR` / `AWS_ENDPOINT_URL`), decoded from
//! `base64("AWS:password")` and used as basic auth.
//!
//! Tokens are cached per (region, account) until shortly before `expiresAt`.
//! A token whose expiry is already past or very near (moto always answers so)
//! is still kept for [`MIN_TOKEN_LIFETIME`], so such an answer cannot cause a
//! request storm. Fetches are serialized per cache, so many scans of one
//! account make one call.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tokio::sync::{Mutex, OnceCell};

use super::credentials::Credentials;
use crate::secret::Secret;

/// The shortest time a fetched token is used before asking again.
pub const MIN_TOKEN_LIFETIME: Duration = Duration::from_secs(60);
/// How long before `expiresAt` a token is replaced.
pub const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);
/// The longest a token is used, whatever `expiresAt` says (ECR tokens last 12 hours).
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);

/// An ECR registry host: `ACCOUNT.dkr.ecr[-fips].REGION.amazonaws.com[.cn]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EcrRegistry {
    /// The 12-digit account id.
    pub account: String,
    /// The region (`us-east-1`).
    pub region: String,
}

impl EcrRegistry {
    /// Recognizes an ECR host (without port).
    pub fn from_host(host: &str) -> Option<Self> {
        let host = host.to_ascii_lowercase();
        let host = host
            .strip_suffix(".amazonaws.com.cn")
            .or_else(|| host.strip_suffix(".amazonaws.com"))?;
        let mut parts = host.split('.');
        let account = parts.next()?;
        let dkr = parts.next()?;
        let ecr = parts.next()?;
        let region = parts.next()?;
        let valid = account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit())
            && dkr == "dkr"
            && (ecr == "ecr" || ecr == "ecr-fips")
            && !region.is_empty()
            && region
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && parts.next().is_none();
        valid.then(|| Self {
            account: account.to_string(),
            region: region.to_string(),
        })
    }
}

/// A decoded ECR authorization token.
#[derive(Debug, Clone)]
pub struct EcrToken {
    /// The user name (always `AWS`).
    pub username: String,
    /// The password.
    pub password: Secret<String>,
    /// When ECR says the token expires.
    pub expires_at: Option<SystemTime>,
}

/// Why an ECR token could not be obtained.
#[derive(Debug, thiserror::Error)]
pub enum EcrError {
    /// The `GetAuthorizationToken` call failed.
    #[error(
        "ECR GetAuthorizationToken for account {account} in {region} failed: {message}; check the AWS credentials (environment, profile, web identity or instance role) and their ecr:GetAuthorizationToken permission"
    )]
    Api {
        /// The account.
        account: String,
        /// The region.
        region: String,
        /// The SDK's error, with context.
        message: String,
        /// Whether the failure was a timeout, a connection failure or throttling.
        transient: bool,
        /// The SDK error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// ECR answered without a usable token.
    #[error(
        "ECR GetAuthorizationToken for account {account} in {region} returned no usable token ({reason})"
    )]
    InvalidToken {
        /// The account.
        account: String,
        /// The region.
        region: String,
        /// What was wrong (never the token).
        reason: &'static str,
    },
}

impl EcrError {
    /// Whether a later try may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Api {
                transient: true,
                ..
            }
        )
    }
}

/// The future an [`EcrTokenSource`] returns.
pub type EcrTokenFuture<'a> = Pin<Box<dyn Future<Output = Result<EcrToken, EcrError>> + Send + 'a>>;

/// Fetches ECR authorization tokens (the AWS SDK in production; tests may wrap it to count calls).
pub trait EcrTokenSource: Send + Sync {
    /// A fresh token for `registry`.
    fn authorization_token<'a>(&'a self, registry: &'a EcrRegistry) -> EcrTokenFuture<'a>;
}

/// Tokens from the AWS SDK, configured by the default chain (env, profile,
/// web identity, IMDS) and the SDK's endpoint environment variables.
#[derive(Debug, Clone)]
pub struct AwsEcrTokenSource {
    config: aws_config::SdkConfig,
}

impl AwsEcrTokenSource {
    /// Loads the SDK configuration from the environment.
    pub async fn from_env() -> Self {
        Self::from_sdk_config(
            aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await,
        )
    }

    /// Uses an already loaded SDK configuration (the region is set per call).
    pub fn from_sdk_config(config: aws_config::SdkConfig) -> Self {
        Self { config }
    }

    async fn fetch(&self, registry: &EcrRegistry) -> Result<EcrToken, EcrError> {
        let conf = aws_sdk_ecr::config::Builder::from(&self.config)
            .region(aws_sdk_ecr::config::Region::new(registry.region.clone()))
            .build();
        let client = aws_sdk_ecr::Client::from_conf(conf);
        #[allow(deprecated)] // registryIds is deprecated but still selects the account
        let output = client
            .get_authorization_token()
            .registry_ids(registry.account.clone())
            .send()
            .await
            .map_err(|error| {
                use aws_sdk_ecr::error::SdkError;
                let transient = match &error {
                    SdkError::TimeoutError(_)
                    | SdkError::DispatchFailure(_)
                    | SdkError::ResponseError(_) => true,
                    SdkError::ServiceError(service) => {
                        service.raw().status().as_u16() >= 500
                            || service.raw().status().as_u16() == 429
                    }
                    _ => false,
                };
                EcrError::Api {
                    account: registry.account.clone(),
                    region: registry.region.clone(),
                    message: aws_sdk_ecr::error::DisplayErrorContext(&error).to_string(),
                    transient,
                    source: Box::new(error),
                }
            })?;
        let invalid = |reason| EcrError::InvalidToken {
            account: registry.account.clone(),
            region: registry.region.clone(),
            reason,
        };
        let data = output
            .authorization_data()
            .first()
            .ok_or_else(|| invalid("no authorizationData"))?;
        let encoded = data
            .authorization_token()
            .ok_or_else(|| invalid("no authorizationToken"))?;
        let decoded = STANDARD
            .decode(encoded)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| invalid("authorizationToken is not base64 text"))?;
        let (username, password) = decoded
            .split_once(':')
            .ok_or_else(|| invalid("authorizationToken is not user:password"))?;
        let expires_at = data
            .expires_at()
            .and_then(|t| SystemTime::try_from(*t).ok());
        Ok(EcrToken {
            username: username.to_string(),
            password: Secret::new(password.to_string()),
            expires_at,
        })
    }
}

impl EcrTokenSource for AwsEcrTokenSource {
    fn authorization_token<'a>(&'a self, registry: &'a EcrRegistry) -> EcrTokenFuture<'a> {
        Box::pin(self.fetch(registry))
    }
}

/// How long to use a token fetched at `now` that expires at `expires_at`:
/// between [`MIN_TOKEN_LIFETIME`] and [`MAX_TOKEN_LIFETIME`], whatever the
/// (peer-supplied) expiry says.
pub fn token_lifetime(expires_at: Option<SystemTime>, now: SystemTime) -> Duration {
    let remaining = expires_at
        .and_then(|at| at.duration_since(now).ok())
        .unwrap_or(Duration::ZERO);
    remaining
        .saturating_sub(REFRESH_BEFORE_EXPIRY)
        .clamp(MIN_TOKEN_LIFETIME, MAX_TOKEN_LIFETIME)
}

/// ECR credentials cached per (region, account).
pub struct EcrCredentialCache {
    configured: Option<Arc<dyn EcrTokenSource>>,
    from_env: OnceCell<Arc<dyn EcrTokenSource>>,
    entries: Mutex<HashMap<EcrRegistry, (Credentials, Instant)>>,
}

impl std::fmt::Debug for EcrCredentialCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EcrCredentialCache").finish_non_exhaustive()
    }
}

impl EcrCredentialCache {
    /// A cache over `source`, or over the AWS SDK from the environment (loaded on first use).
    pub fn new(source: Option<Arc<dyn EcrTokenSource>>) -> Self {
        Self {
            configured: source,
            from_env: OnceCell::new(),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Basic credentials for `registry`, from the cache or a new token.
    pub async fn credentials(&self, registry: &EcrRegistry) -> Result<Credentials, EcrError> {
        // Holding the lock across the fetch makes concurrent scans wait for one call.
        let mut entries = self.entries.lock().await;
        if let Some((credentials, valid_until)) = entries.get(registry)
            && Instant::now() < *valid_until
        {
            return Ok(credentials.clone());
        }
        let source = match &self.configured {
            Some(source) => source.clone(),
            None => self
                .from_env
                .get_or_init(|| async {
                    Arc::new(AwsEcrTokenSource::from_env().await) as Arc<dyn EcrTokenSource>
                })
                .await
                .clone(),
        };
        let token = source.authorization_token(registry).await?;
        let lifetime = token_lifetime(token.expires_at, SystemTime::now());
        tracing::debug!(account = %registry.account, region = %registry.region, ?lifetime, "fetched an ECR authorization token");
        let credentials = Credentials::Basic {
            username: token.username,
            password: token.password,
        };
        let now = Instant::now();
        entries.insert(
            registry.clone(),
            (
                credentials.clone(),
                now.checked_add(lifetime).unwrap_or(now),
            ),
        );
        Ok(credentials)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecr_hosts_are_recognized() {
        assert_eq!(
            EcrRegistry::from_host("123456789012.dkr.ecr.eu-west-1.amazonaws.com"),
            Some(EcrRegistry {
                account: "123456789012".into(),
                region: "eu-west-1".into()
            })
        );
        assert!(
            EcrRegistry::from_host("123456789012.dkr.ecr-fips.us-east-1.amazonaws.com").is_some()
        );
        assert!(
            EcrRegistry::from_host("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn").is_some()
        );
        for other in [
            "ghcr.io",
            "12345.dkr.ecr.us-east-1.amazonaws.com",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example",
            "public.ecr.aws",
        ] {
            assert_eq!(EcrRegistry::from_host(other), None, "{other}");
        }
    }

    #[test]
    fn past_expiries_still_give_a_minimum_lifetime() {
        let now = SystemTime::now();
        assert_eq!(
            token_lifetime(Some(now - Duration::from_secs(3600)), now),
            MIN_TOKEN_LIFETIME
        );
        assert_eq!(token_lifetime(None, now), MIN_TOKEN_LIFETIME);
        assert_eq!(
            token_lifetime(Some(now + Duration::from_secs(12 * 3600)), now),
            Duration::from_secs(12 * 3600) - REFRESH_BEFORE_EXPIRY
        );
        // An expiry centuries away (peer data) is clamped, never added as is.
        let far = now + Duration::from_secs(400 * 365 * 24 * 3600);
        assert_eq!(token_lifetime(Some(far), now), MAX_TOKEN_LIFETIME);
    }
}

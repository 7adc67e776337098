//! Google-signed OIDC ID tokens, as Pub/Sub push subscriptions send them and
//! as Flux's `gcr` Receiver checks them (`idtoken.Validate`, then issuer,
//! email and `email_verified`): an RS256 JWT whose key is one of Google's
//! published JWKS keys (fetched from [`GOOGLE_CERTS_URL`], cached for the
//! `max-age` Google sends, at most an hour; an unknown key id refetches at
//! most once a minute), with the Receiver's audience, an expiry in the future,
//! issuer `accounts.google.com`, and the push subscription's service account.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use jiff::Timestamp;
use openssl::bn::BigNum;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Public};
use openssl::rsa::Rsa;
use openssl::sign::Verifier;
use serde::Deserialize;
use tokio::sync::Mutex;

use super::GoogleIdentity;

/// Where Google publishes the keys that sign its ID tokens (JWKS).
pub const GOOGLE_CERTS_URL: &str = "https://www.googleapis.com/oauth2/v3/certs";

/// The largest JWKS document read.
const MAX_JWKS_BYTES: usize = 256 * 1024;
/// The longest keys are trusted without refetching.
const MAX_KEY_AGE: Duration = Duration::from_secs(3600);
/// The shortest time between two fetches (an unknown `kid` cannot make us hammer Google).
const MIN_REFETCH: Duration = Duration::from_secs(60);
/// Clock skew allowed on `exp`.
const SKEW_SECONDS: i64 = 30;

/// Why an ID token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum GoogleError {
    /// Google's keys could not be fetched (the delivery is answered 503 and retried).
    #[error("cannot fetch Google's signing keys from {url}: {message}")]
    Keys {
        /// The JWKS URL.
        url: String,
        /// What failed.
        message: String,
    },
    /// The token is not a JWT Google signs.
    #[error("the ID token is malformed: {0}")]
    Malformed(&'static str),
    /// No key of Google's has the token's key id.
    #[error("the ID token's key id is not one of Google's signing keys")]
    UnknownKey,
    /// The signature does not verify.
    #[error("the ID token's signature is invalid")]
    Signature,
    /// A claim is not what the Receiver expects.
    #[error("{0}")]
    Claim(String),
}

impl GoogleError {
    /// Whether the failure is on the fetching side, not the token's.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Keys { .. })
    }
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    #[serde(default)]
    kid: String,
    #[serde(default)]
    kty: String,
    #[serde(default)]
    n: String,
    #[serde(default)]
    e: String,
}

#[derive(Deserialize)]
struct Header {
    #[serde(default)]
    alg: String,
    #[serde(default)]
    kid: String,
}

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    iss: String,
    #[serde(default)]
    aud: String,
    #[serde(default)]
    exp: i64,
    #[serde(default)]
    email: String,
    #[serde(default)]
    email_verified: bool,
}

struct Cached {
    keys: BTreeMap<String, PKey<Public>>,
    fetched: Instant,
    max_age: Duration,
}

/// Google's signing keys, fetched on first use and cached.
pub struct GoogleKeys {
    url: String,
    client: reqwest::Client,
    cache: Mutex<Option<Cached>>,
}

impl std::fmt::Debug for GoogleKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleKeys")
            .field("url", &self.url)
            .finish()
    }
}

impl GoogleKeys {
    /// Keys published at `url` (Google's: [`GOOGLE_CERTS_URL`]).
    pub fn new(url: &str) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self {
            url: url.to_string(),
            client,
            cache: Mutex::new(None),
        }
    }

    /// Verifies `token` for `identity`.
    pub async fn verify(&self, token: &str, identity: &GoogleIdentity) -> Result<(), GoogleError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(GoogleError::Malformed("not three dot-separated parts"));
        };
        let decode = |part: &str| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(part.trim_end_matches('='))
                .map_err(|_| GoogleError::Malformed("a part is not base64url"))
        };
        let parsed: Header = serde_json::from_slice(&decode(header)?)
            .map_err(|_| GoogleError::Malformed("the header is not JSON"))?;
        if parsed.alg != "RS256" {
            return Err(GoogleError::Malformed("the algorithm is not RS256"));
        }
        let key = self.key(&parsed.kid).await?;
        let mut verifier =
            Verifier::new(MessageDigest::sha256(), &key).map_err(|_| GoogleError::Signature)?;
        let signed = &token[..header.len() + 1 + payload.len()];
        let signature = decode(signature)?;
        let valid = verifier
            .update(signed.as_bytes())
            .and_then(|()| verifier.verify(&signature))
            .unwrap_or(false);
        if !valid {
            return Err(GoogleError::Signature);
        }
        let claims: Claims = serde_json::from_slice(&decode(payload)?)
            .map_err(|_| GoogleError::Malformed("the claims are not JSON"))?;
        if claims.aud != identity.audience {
            return Err(GoogleError::Claim(format!(
                "invalid ID token: audience is {:?}, want {:?}",
                claims.aud, identity.audience
            )));
        }
        if claims.exp + SKEW_SECONDS < Timestamp::now().as_second() {
            return Err(GoogleError::Claim("the ID token has expired".into()));
        }
        if claims.iss != "accounts.google.com" && claims.iss != "https://accounts.google.com" {
            return Err(GoogleError::Claim(format!(
                "token issuer is {:?}, want accounts.google.com",
                claims.iss
            )));
        }
        if claims.email != identity.email {
            return Err(GoogleError::Claim(format!(
                "token email is {:?}, want {:?}",
                claims.email, identity.email
            )));
        }
        if !claims.email_verified {
            return Err(GoogleError::Claim(format!(
                "token email {:?} is not verified",
                claims.email
            )));
        }
        Ok(())
    }

    /// The key `kid`, from the cache or a fetch.
    async fn key(&self, kid: &str) -> Result<PKey<Public>, GoogleError> {
        let mut cache = self.cache.lock().await;
        let fresh = cache
            .as_ref()
            .is_some_and(|c| c.fetched.elapsed() < c.max_age);
        if fresh && let Some(key) = cache.as_ref().and_then(|c| c.keys.get(kid)) {
            return Ok(key.clone());
        }
        let may_fetch = cache
            .as_ref()
            .is_none_or(|c| !fresh || c.fetched.elapsed() >= MIN_REFETCH);
        if may_fetch {
            *cache = Some(self.fetch().await?);
        }
        cache
            .as_ref()
            .and_then(|c| c.keys.get(kid))
            .cloned()
            .ok_or(GoogleError::UnknownKey)
    }

    async fn fetch(&self) -> Result<Cached, GoogleError> {
        let failed = |message: String| GoogleError::Keys {
            url: crate::redact::url(&self.url),
            message,
        };
        let response = self
            .client
            .get(&self.url)
            .send()
            .await
            .map_err(|e| failed(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(failed(format!("HTTP {}", response.status())));
        }
        let max_age = response
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.split(',')
                    .find_map(|d| d.trim().strip_prefix("max-age=")?.parse::<u64>().ok())
            })
            .map_or(MAX_KEY_AGE, |s| Duration::from_secs(s).min(MAX_KEY_AGE));
        let mut body = Vec::new();
        let mut response = response;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| failed(e.without_url().to_string()))?
        {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(failed(format!(
                    "the JWKS is larger than {MAX_JWKS_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        let jwks: Jwks = serde_json::from_slice(&body)
            .map_err(|e| failed(format!("not a JWKS document: {e}")))?;
        let mut keys = BTreeMap::new();
        for jwk in jwks.keys.into_iter().filter(|k| k.kty == "RSA") {
            let component = |text: &str| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(text.trim_end_matches('='))
                    .ok()
                    .and_then(|bytes| BigNum::from_slice(&bytes).ok())
            };
            let (Some(n), Some(e)) = (component(&jwk.n), component(&jwk.e)) else {
                continue;
            };
            if let Ok(key) = Rsa::from_public_components(n, e).and_then(PKey::from_rsa) {
                keys.insert(jwk.kid, key);
            }
        }
        Ok(Cached {
            keys,
            fetched: Instant::now(),
            max_age,
        })
    }
}

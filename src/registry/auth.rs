//! Registry authentication: remembering which scheme each registry host asked
//! for (challenges are parsed in [`super::challenge`], token answers in
//! [`super::token`]), and caching bearer tokens until shortly before they
//! expire.
//!
//! The first request to a host goes out without credentials; its `401`
//! challenge tells the scheme. From then on the client authenticates up
//! front: basic credentials directly, bearer tokens from the cache (one token
//! request per repository scope and expiry, not per scan). Tokens, passwords
//! and `Authorization` values stay in [`Secret`] and are never logged.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::Url;
use sha2::{Digest as _, Sha256};

use super::credentials::Credentials;
use super::token::MAX_TOKEN_LIFETIME;
use crate::secret::Secret;

/// What a host asked for in its last challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostScheme {
    /// HTTP basic auth.
    Basic,
    /// Bearer tokens from a token server.
    Bearer {
        /// The token server URL.
        realm: Url,
        /// The `service` parameter.
        service: Option<String>,
    },
}

#[derive(Debug)]
struct CachedToken {
    value: Secret<String>,
    refresh_at: Instant,
}

/// Auth knowledge shared by every scan: schemes by host and bearer tokens.
#[derive(Debug, Default)]
pub struct AuthCache {
    schemes: Mutex<HashMap<String, HostScheme>>,
    tokens: Mutex<HashMap<String, CachedToken>>,
}

impl AuthCache {
    /// The scheme `authority` asked for last, if any.
    pub fn scheme(&self, authority: &str) -> Option<HostScheme> {
        self.schemes.lock().ok()?.get(authority).cloned()
    }

    /// Remembers the scheme of `authority`.
    pub fn set_scheme(&self, authority: &str, scheme: HostScheme) {
        if let Ok(mut schemes) = self.schemes.lock() {
            schemes.insert(authority.to_string(), scheme);
        }
    }

    /// A cached token that is not about to expire.
    pub fn token(&self, key: &TokenKey) -> Option<Secret<String>> {
        let tokens = self.tokens.lock().ok()?;
        tokens
            .get(&key.0)
            .filter(|t| Instant::now() < t.refresh_at)
            .map(|t| t.value.clone())
    }

    /// Caches a token for `lifetime` (at most [`MAX_TOKEN_LIFETIME`]),
    /// refreshing a little before it ends.
    pub fn put_token(&self, key: &TokenKey, value: Secret<String>, lifetime: Duration) {
        let lifetime = lifetime.min(MAX_TOKEN_LIFETIME);
        let margin = (lifetime / 5).min(Duration::from_secs(30));
        let now = Instant::now();
        let refresh_at = now
            .checked_add(lifetime.saturating_sub(margin))
            .unwrap_or(now);
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.retain(|_, t| Instant::now() < t.refresh_at);
            tokens.insert(key.0.clone(), CachedToken { value, refresh_at });
        }
    }

    /// Forgets a token the registry refused.
    pub fn drop_token(&self, key: &TokenKey) {
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens.remove(&key.0);
        }
    }
}

/// What a token is cached under: realm, service, scope and a hash of the
/// credentials (so different Secrets never share a token, and the key itself
/// reveals nothing).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenKey(String);

impl TokenKey {
    /// The key for a token request.
    pub fn new(
        realm: &Url,
        service: Option<&str>,
        scope: &str,
        credentials: Option<&Credentials>,
    ) -> Self {
        let mut hasher = Sha256::new();
        for part in [realm.as_str(), service.unwrap_or_default(), scope] {
            hasher.update(part.as_bytes());
            hasher.update([0]);
        }
        match credentials {
            None => hasher.update(b"anonymous"),
            Some(Credentials::Basic { username, password }) => {
                hasher.update(b"basic\0");
                hasher.update(username.as_bytes());
                hasher.update([0]);
                hasher.update(password.expose().as_bytes());
            }
            Some(Credentials::IdentityToken { username, token }) => {
                hasher.update(b"identity\0");
                hasher.update(username.as_bytes());
                hasher.update([0]);
                hasher.update(token.expose().as_bytes());
            }
            Some(Credentials::RegistryToken(token)) => {
                hasher.update(b"registry\0");
                hasher.update(token.expose().as_bytes());
            }
        }
        Self(hex::encode(hasher.finalize()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_cached_per_credentials_and_expire() {
        let cache = AuthCache::default();
        let realm = Url::parse("https://auth.example/token").unwrap();
        let alice = Credentials::basic("alice", "a");
        let bob = Credentials::basic("alice", "b");
        let key = TokenKey::new(&realm, Some("s"), "repository:x:pull", Some(&alice));
        let other = TokenKey::new(&realm, Some("s"), "repository:x:pull", Some(&bob));
        assert_ne!(key, other);
        cache.put_token(&key, Secret::new("t1".into()), Duration::from_secs(300));
        assert_eq!(cache.token(&key).unwrap().expose(), "t1");
        assert!(cache.token(&other).is_none());
        cache.put_token(&other, Secret::new("t2".into()), Duration::ZERO);
        assert!(
            cache.token(&other).is_none(),
            "an expired token is not used"
        );
        // A lifetime no clock can hold is cached for the longest allowed, without a panic.
        cache.put_token(&other, Secret::new("t3".into()), Duration::MAX);
        assert_eq!(cache.token(&other).unwrap().expose(), "t3");
    }
}

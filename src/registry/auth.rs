//! Registry authentication: parsing `WWW-Authenticate` challenges, remembering
//! which scheme each registry host asked for, and caching bearer tokens until
//! shortly before they expire.
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
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use super::credentials::Credentials;
use crate::secret::Secret;

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic realm="…"`.
    Basic,
    /// `Bearer realm="…",service="…",scope="…"`.
    Bearer {
        /// The token server URL.
        realm: String,
        /// The `service` parameter to pass on.
        service: Option<String>,
        /// The scope the registry asked for, if it said.
        scope: Option<String>,
        /// `error="insufficient_scope"` and the like.
        error: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` value; a Bearer challenge wins over Basic when both are offered.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let mut found = None;
    let mut rest = header.trim();
    while !rest.is_empty() {
        let (scheme, after) = rest.split_once(' ').unwrap_or((rest, ""));
        let (params, next) = parse_params(after);
        if scheme.eq_ignore_ascii_case("bearer") {
            let realm = params.get("realm")?.clone();
            return Some(Challenge::Bearer {
                realm,
                service: params.get("service").cloned(),
                scope: params.get("scope").cloned(),
                error: params.get("error").cloned(),
            });
        }
        if scheme.eq_ignore_ascii_case("basic") {
            found = Some(Challenge::Basic);
        }
        rest = next.trim_start_matches([',', ' ']);
    }
    found
}

/// Reads `key="value", key=value` pairs; stops at the next scheme (a token not
/// followed by `=`). Returns the pairs and the unread rest.
fn parse_params(text: &str) -> (HashMap<String, String>, &str) {
    let mut params = HashMap::new();
    let mut rest = text.trim_start();
    loop {
        rest = rest.trim_start_matches([',', ' ']);
        let Some(eq) = rest.find('=') else {
            return (params, rest);
        };
        let key = &rest[..eq];
        if key.is_empty() || key.contains([' ', ',']) {
            return (params, rest);
        }
        let after = &rest[eq + 1..];
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &quoted[end.min(quoted.len())..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        params.insert(key.trim().to_ascii_lowercase(), value);
        rest = remaining;
    }
}

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

    /// Caches a token for `lifetime`, refreshing a little before it ends.
    pub fn put_token(&self, key: &TokenKey, value: Secret<String>, lifetime: Duration) {
        let margin = (lifetime / 5).min(Duration::from_secs(30));
        let refresh_at = Instant::now() + lifetime.saturating_sub(margin);
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

/// A token server's answer.
#[derive(Deserialize)]
pub struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

impl TokenResponse {
    /// The token and how long it lives (60 s when the server does not say, as the spec requires).
    pub fn into_token(self) -> Option<(Secret<String>, Duration)> {
        let token = self
            .token
            .filter(|t| !t.is_empty())
            .or(self.access_token.filter(|t| !t.is_empty()))?;
        let lifetime = Duration::from_secs(self.expires_in.unwrap_or(60).max(1));
        Some((Secret::new(token), lifetime))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenges_keep_commas_inside_quotes() {
        let challenge = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:team/app:pull,push",error="insufficient_scope""#,
        )
        .unwrap();
        assert_eq!(
            challenge,
            Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into()),
                scope: Some("repository:team/app:pull,push".into()),
                error: Some("insufficient_scope".into()),
            }
        );
    }

    #[test]
    fn basic_and_multiple_challenges() {
        assert_eq!(
            parse_challenge(r#"Basic realm="tagpilot-test""#),
            Some(Challenge::Basic)
        );
        assert!(matches!(
            parse_challenge(r#"Basic realm="x", Bearer realm="https://a/t",service=s"#),
            Some(Challenge::Bearer { service: Some(s), .. }) if s == "s"
        ));
        assert_eq!(parse_challenge("Negotiate"), None);
        assert_eq!(parse_challenge(r#"Bearer service="s""#), None);
    }

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
        let response: TokenResponse = serde_json::from_str(r#"{"access_token": "abc"}"#).unwrap();
        let (token, lifetime) = response.into_token().unwrap();
        assert_eq!(
            (token.expose().as_str(), lifetime),
            ("abc", Duration::from_secs(60))
        );
    }
}

//! A token server's answer (the Docker token protocol, also used by OAuth2
//! registries): the token and how long to use it.
//!
//! Every number in the answer comes from the peer, so none is trusted: a
//! lifetime is clamped to [`MAX_TOKEN_LIFETIME`] before it reaches any
//! `Instant` arithmetic (a token server answering `"expires_in":
//! 18446744073709551615` used to overflow `Instant + Duration` and panic),
//! and a token that could not travel in an HTTP header is refused here with a
//! reason instead of failing every request later. The fuzz crate compiles this
//! file as it is (`fuzz/fuzz_targets/auth.rs`).

use std::time::Duration;

use crate::secret::Secret;

/// How long a token lives when the server does not say (the protocol's default).
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);
/// The longest a token is used before asking for a new one, whatever the server says.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(60 * 60);
/// The longest token accepted (a JWT with many scopes is a few KiB).
pub const MAX_TOKEN_BYTES: usize = 64 * 1024;

/// Why a token server's answer holds no usable token. The messages never
/// contain the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenAnswerError {
    /// The body is not a JSON object.
    #[error("the answer is not a JSON object")]
    NotJson,
    /// Neither `token` nor `access_token` is a non-empty string.
    #[error("the answer holds no token")]
    Missing,
    /// The token has characters an HTTP header cannot carry, or is too long.
    #[error("the token is not usable in an Authorization header ({0})")]
    Unusable(&'static str),
}

/// Reads a token server's JSON answer: the token (`token`, else
/// `access_token`) and its lifetime (`expires_in` seconds, default
/// [`DEFAULT_TOKEN_LIFETIME`], clamped to 1 s ..= [`MAX_TOKEN_LIFETIME`];
/// a negative, fractional, string or absurd value is read leniently, never
/// trusted).
pub fn parse_token_answer(body: &[u8]) -> Result<(Secret<String>, Duration), TokenAnswerError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| TokenAnswerError::NotJson)?;
    let object = value.as_object().ok_or(TokenAnswerError::NotJson)?;
    let token = ["token", "access_token"]
        .iter()
        .find_map(|key| object.get(*key)?.as_str().filter(|t| !t.is_empty()))
        .ok_or(TokenAnswerError::Missing)?;
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenAnswerError::Unusable("longer than 64 KiB"));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(TokenAnswerError::Unusable(
            "it holds spaces, control or non-ASCII characters",
        ));
    }
    let lifetime = object
        .get("expires_in")
        .map_or(DEFAULT_TOKEN_LIFETIME, lifetime_from);
    Ok((Secret::new(token.to_string()), lifetime))
}

/// `expires_in` as a lifetime within 1 s ..= [`MAX_TOKEN_LIFETIME`].
fn lifetime_from(value: &serde_json::Value) -> Duration {
    let max = MAX_TOKEN_LIFETIME.as_secs();
    let seconds = match value {
        serde_json::Value::Number(number) => {
            if let Some(seconds) = number.as_u64() {
                seconds
            } else if let Some(seconds) = number.as_f64().filter(|s| s.is_finite() && *s > 0.0) {
                // Saturates: an f64 beyond u64 becomes u64::MAX, then the clamp below.
                seconds as u64
            } else {
                // Negative: the token is already stale; use it once, briefly.
                1
            }
        }
        _ => DEFAULT_TOKEN_LIFETIME.as_secs(),
    };
    Duration::from_secs(seconds.clamp(1, max))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn lifetime(body: &str) -> Duration {
        parse_token_answer(body.as_bytes()).unwrap().1
    }

    #[test]
    fn the_token_and_its_lifetime() {
        let (token, life) = parse_token_answer(br#"{"access_token": "abc"}"#).unwrap();
        assert_eq!(
            (token.expose().as_str(), life),
            ("abc", DEFAULT_TOKEN_LIFETIME)
        );
        let (token, _) = parse_token_answer(br#"{"token": "t", "access_token": "a"}"#).unwrap();
        assert_eq!(token.expose(), "t");
        let (token, _) = parse_token_answer(br#"{"token": "", "access_token": "a"}"#).unwrap();
        assert_eq!(token.expose(), "a");
        assert_eq!(
            lifetime(r#"{"token":"t","expires_in":300}"#),
            Duration::from_secs(300)
        );
    }

    /// Regression (issue 17, finding 5): this answer panicked with
    /// `overflow when adding duration to instant` in the token cache.
    #[test]
    fn hostile_lifetimes_are_clamped() {
        for body in [
            r#"{"token":"t","expires_in":18446744073709551615}"#,
            r#"{"token":"t","expires_in":1e300}"#,
            r#"{"token":"t","expires_in":99999999999999999999999}"#,
        ] {
            assert_eq!(lifetime(body), MAX_TOKEN_LIFETIME, "{body}");
        }
        for body in [
            r#"{"token":"t","expires_in":0}"#,
            r#"{"token":"t","expires_in":-5}"#,
            r#"{"token":"t","expires_in":-1e300}"#,
            r#"{"token":"t","expires_in":0.2}"#,
        ] {
            assert_eq!(lifetime(body), Duration::from_secs(1), "{body}");
        }
        assert_eq!(
            lifetime(r#"{"token":"t","expires_in":"3600"}"#),
            DEFAULT_TOKEN_LIFETIME
        );
        assert_eq!(
            lifetime(r#"{"token":"t","expires_in":null}"#),
            DEFAULT_TOKEN_LIFETIME
        );
    }

    #[test]
    fn unusable_answers_say_why_without_the_token() {
        assert_eq!(
            parse_token_answer(b"<html>").unwrap_err(),
            TokenAnswerError::NotJson
        );
        assert_eq!(
            parse_token_answer(b"[1]").unwrap_err(),
            TokenAnswerError::NotJson
        );
        assert_eq!(
            parse_token_answer(br#"{"token": 5}"#).unwrap_err(),
            TokenAnswerError::Missing
        );
        let error = parse_token_answer(b"{\"token\": \"abc\\r\\nX-Injected: 1\"}").unwrap_err();
        assert!(matches!(error, TokenAnswerError::Unusable(_)));
        assert!(!error.to_string().contains("abc"));
        let long = format!("{{\"token\": \"{}\"}}", "a".repeat(MAX_TOKEN_BYTES + 1));
        assert!(matches!(
            parse_token_answer(long.as_bytes()).unwrap_err(),
            TokenAnswerError::Unusable(_)
        ));
    }

    proptest! {
        #[test]
        fn any_body_gives_a_token_or_a_reason(body in any::<Vec<u8>>()) {
            if let Ok((token, lifetime)) = parse_token_answer(&body) {
                prop_assert!(!token.expose().is_empty());
                prop_assert!(lifetime >= Duration::from_secs(1) && lifetime <= MAX_TOKEN_LIFETIME);
            }
        }

        #[test]
        fn any_expiry_is_clamped(expires_in in prop_oneof![
            any::<u64>().prop_map(|n| n.to_string()),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| format!("{f:e}")),
        ]) {
            let body = format!("{{\"token\":\"t\",\"expires_in\":{expires_in}}}");
            let (_, lifetime) = parse_token_answer(body.as_bytes()).unwrap();
            prop_assert!(lifetime >= Duration::from_secs(1) && lifetime <= MAX_TOKEN_LIFETIME);
        }
    }
}

//! Credentials and where they are written down: [`Credentials`] (what a registry accepts), and [`DockerConfig`]
//! (Docker's `config.json`, also the payload of `kubernetes.io/dockerconfigjson`
//! Secrets), looked up by registry host with Docker Hub's aliases folded.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use crate::image::DOCKER_HUB_HOST;
use crate::secret::Secret;

/// What a registry (or its token server) accepts from a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// A user name and password (or a personal access token used as one).
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: Secret<String>,
    },
    /// An OAuth2 refresh token (`identitytoken` in `config.json`), exchanged at
    /// the token server with `grant_type=refresh_token`.
    IdentityToken {
        /// The user name it was issued to (may be empty).
        username: String,
        /// The refresh token.
        token: Secret<String>,
    },
    /// A bearer token sent as is (`registrytoken` in `config.json`).
    RegistryToken(Secret<String>),
}

impl Credentials {
    /// Basic credentials.
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self::Basic {
            username: username.into(),
            password: Secret::new(password.into()),
        }
    }

    /// The `Authorization` value for HTTP basic auth, if these are basic credentials.
    pub(crate) fn basic_header(&self) -> Option<Secret<String>> {
        match self {
            Self::Basic { username, password } => Some(Secret::new(format!(
                "Basic {}",
                STANDARD.encode(format!("{username}:{}", password.expose()))
            ))),
            _ => None,
        }
    }
}

/// Why a Docker `config.json` cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum DockerConfigError {
    /// The text is not the JSON Docker writes. Carries where and what kind of
    /// problem, not serde's message: that quotes the offending value, which
    /// may be a password (invariant 7), so there is no `#[source]` either.
    #[error("not a Docker config.json: {0}")]
    Json(JsonProblem),
    /// An `auth` field is not base64 of `user:password`.
    #[error("the `auth` entry for {host} is not base64 of `user:password`")]
    InvalidAuth {
        /// The `auths` key.
        host: String,
    },
}

/// Where a `config.json` stops being the JSON Docker writes, without any of its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonProblem {
    kind: &'static str,
    line: usize,
    column: usize,
}

impl JsonProblem {
    fn from_serde(error: &serde_json::Error) -> Self {
        let kind = match error.classify() {
            serde_json::error::Category::Syntax => "invalid JSON",
            serde_json::error::Category::Eof => "the JSON ends too early",
            serde_json::error::Category::Data => {
                "a value of the wrong type (expected {\"auths\": {HOST: {\"auth\": ...}}})"
            }
            serde_json::error::Category::Io => "unreadable",
        };
        Self {
            kind,
            line: error.line(),
            column: error.column(),
        }
    }
}

impl std::fmt::Display for JsonProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} at line {} column {}",
            self.kind, self.line, self.column
        )
    }
}

/// A Docker `config.json`: credentials by registry host.
///
/// `credsStore` and `credHelpers` (external programs) are not run; entries that
/// need them are absent.
#[derive(Debug, Clone, Default)]
pub struct DockerConfig {
    by_host: HashMap<String, Credentials>,
}

#[derive(Deserialize)]
struct RawConfig {
    #[serde(default)]
    auths: HashMap<String, RawAuth>,
}

#[derive(Deserialize, Default)]
struct RawAuth {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
    #[serde(default)]
    registrytoken: Option<String>,
}

impl DockerConfig {
    /// Parses `config.json` (`{"auths": {...}}`).
    pub fn parse(bytes: &[u8]) -> Result<Self, DockerConfigError> {
        let raw: RawConfig = serde_json::from_slice(bytes)
            .map_err(|e| DockerConfigError::Json(JsonProblem::from_serde(&e)))?;
        Self::from_raw(raw.auths)
    }

    /// Parses the legacy `.dockercfg` format (the `auths` map on its own).
    pub fn parse_legacy(bytes: &[u8]) -> Result<Self, DockerConfigError> {
        let auths: HashMap<String, RawAuth> = serde_json::from_slice(bytes)
            .map_err(|e| DockerConfigError::Json(JsonProblem::from_serde(&e)))?;
        Self::from_raw(auths)
    }

    fn from_raw(auths: HashMap<String, RawAuth>) -> Result<Self, DockerConfigError> {
        let mut by_host = HashMap::new();
        for (key, entry) in auths {
            let host = normalize_host(&key);
            let credentials = if let Some(token) = entry.registrytoken.filter(|t| !t.is_empty()) {
                Credentials::RegistryToken(Secret::new(token))
            } else {
                let (mut username, mut password) = (entry.username, entry.password);
                if let Some(auth) = entry.auth.filter(|a| !a.is_empty()) {
                    let invalid = || DockerConfigError::InvalidAuth { host: key.clone() };
                    let decoded = STANDARD.decode(auth.trim()).map_err(|_| invalid())?;
                    let decoded = String::from_utf8(decoded).map_err(|_| invalid())?;
                    let (user, pass) = decoded.split_once(':').ok_or_else(invalid)?;
                    username = Some(user.to_string());
                    password = Some(pass.to_string());
                }
                if let Some(token) = entry.identitytoken.filter(|t| !t.is_empty()) {
                    Credentials::IdentityToken {
                        username: username.unwrap_or_default(),
                        token: Secret::new(token),
                    }
                } else {
                    match (username, password) {
                        (Some(username), Some(password)) => Credentials::basic(username, password),
                        _ => continue,
                    }
                }
            };
            by_host.insert(host, credentials);
        }
        Ok(Self { by_host })
    }

    /// Adds every entry of `other`, keeping this config's entry where both have one.
    pub fn merge(&mut self, other: &DockerConfig) {
        for (host, credentials) in &other.by_host {
            self.by_host
                .entry(host.clone())
                .or_insert_with(|| credentials.clone());
        }
    }

    /// The credentials for a registry host (`ghcr.io`, `127.0.0.1:5000`,
    /// `docker.io` or any of its aliases).
    pub fn credentials_for(&self, registry_host: &str) -> Option<&Credentials> {
        self.by_host.get(&normalize_host(registry_host))
    }

    /// True when no entry has usable credentials.
    pub fn is_empty(&self) -> bool {
        self.by_host.is_empty()
    }
}

/// `https://index.docker.io/v1/` → `docker.io`; `HTTP://Host:5000/x` → `host:5000`.
fn normalize_host(key: &str) -> String {
    let key = key.trim();
    let without_scheme = key
        .split_once("://")
        .map_or(key, |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match without_scheme.as_str() {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            DOCKER_HUB_HOST.to_string()
        }
        _ => without_scheme,
    }
}

/// The credentials a Secret holds for `registry_host`: a
/// `kubernetes.io/dockerconfigjson` (or legacy `dockercfg`) entry for the host,
/// or `username`/`password` keys (`kubernetes.io/basic-auth`, `Opaque`).
/// `Ok(None)`: a Docker config without an entry for this host. `Err`: what is
/// wrong, never a value.
pub fn credentials_from_secret(
    secret: &super::SecretData,
    registry_host: &str,
) -> Result<Option<Credentials>, String> {
    if let Some(json) = secret.get(".dockerconfigjson") {
        let config = DockerConfig::parse(json).map_err(|e| format!(".dockerconfigjson: {e}"))?;
        return Ok(config.credentials_for(registry_host).cloned());
    }
    if let Some(json) = secret.get(".dockercfg") {
        let config = DockerConfig::parse_legacy(json).map_err(|e| format!(".dockercfg: {e}"))?;
        return Ok(config.credentials_for(registry_host).cloned());
    }
    let text = |key: &str| {
        secret
            .get(key)
            .map(|v| String::from_utf8(v.to_vec()).map_err(|_| format!("`{key}` is not UTF-8")))
            .transpose()
    };
    match (text("username")?, text("password")?) {
        (Some(username), Some(password)) => Ok(Some(Credentials::basic(username, password))),
        _ => Err(format!(
            "type {:?} has neither .dockerconfigjson nor username and password keys",
            secret.secret_type
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_values_never_print() {
        let credentials = Credentials::basic("me", "hunter2");
        let debug = format!("{credentials:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("[redacted]"));
        assert_eq!(Secret::new("x").to_string(), "[redacted]");
    }

    #[test]
    fn config_json_entries_are_found_by_host_and_docker_hub_alias() {
        let auth = STANDARD.encode("bob:pw1");
        let json = format!(
            r#"{{"auths": {{
                "https://index.docker.io/v1/": {{"auth": "{auth}"}},
                "ghcr.io": {{"username": "alice", "password": "pw2"}},
                "registry.example:5000": {{"auth": "{auth}", "identitytoken": "refresh"}},
                "quay.io": {{}}
            }}, "credsStore": "desktop"}}"#
        );
        let config = DockerConfig::parse(json.as_bytes()).unwrap();
        for alias in ["docker.io", "index.docker.io", "registry-1.docker.io"] {
            assert_eq!(
                config.credentials_for(alias),
                Some(&Credentials::basic("bob", "pw1")),
                "{alias}"
            );
        }
        assert_eq!(
            config.credentials_for("GHCR.io"),
            Some(&Credentials::basic("alice", "pw2"))
        );
        assert!(matches!(
            config.credentials_for("registry.example:5000"),
            Some(Credentials::IdentityToken { username, .. }) if username == "bob"
        ));
        assert_eq!(config.credentials_for("quay.io"), None);
        assert_eq!(config.credentials_for("registry.example"), None);
    }

    #[test]
    fn json_of_the_wrong_shape_is_located_but_not_quoted() {
        for json in [
            &br#"{"auths": {"ghcr.io": "hunter2-as-entry"}}"#[..],
            br#"{"auths": "hunter2-as-auths"}"#,
            br#"{"auths": {"ghcr.io": {"password": ["hunter2-in-a-list"]}}}"#,
            br#"{"auths": {"ghcr.io": {"password": "hunter2-unterminated"#,
            b"hunter2-not-json",
        ] {
            let error = DockerConfig::parse(json).unwrap_err();
            let text = format!("{error} {error:?}");
            assert!(!text.contains("hunter2"), "{text}");
            assert!(text.contains("line 1 column"), "{text}");
            assert!(std::error::Error::source(&error).is_none());
        }
        let legacy = DockerConfig::parse_legacy(br#"{"ghcr.io": "hunter2"}"#)
            .unwrap_err()
            .to_string();
        assert!(
            legacy.contains("wrong type") && !legacy.contains("hunter2"),
            "{legacy}"
        );
    }

    #[test]
    fn a_broken_auth_field_names_the_host_but_not_the_value() {
        let error = DockerConfig::parse(br#"{"auths": {"ghcr.io": {"auth": "bm9jb2xvbg=="}}}"#)
            .unwrap_err()
            .to_string();
        assert!(error.contains("ghcr.io"), "{error}");
        assert!(!error.contains("bm9jb2xvbg"), "{error}");
    }
}

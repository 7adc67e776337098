//! `proxySecretRef`: the forward proxy an ImageRepository's registry traffic
//! goes through, read from a Secret with Flux's keys — `address` (an `http://`
//! or `https://` URL), and optional `username` and `password`.
//!
//! The proxy's credentials stay in [`Secret`]s: they are taken out of the
//! address (where a URL may also carry them), given to the HTTP client as the
//! proxy's basic auth, and every address that reaches an output goes through
//! [`crate::redact::url`]. Clients are cached per proxy under a hash
//! (`ProxySettings::key`), never under the values themselves.

use reqwest::Url;
use sha2::{Digest as _, Sha256};

use super::SecretData;
use crate::secret::Secret;

/// The longest `address` accepted (as Flux).
pub const MAX_ADDRESS_LENGTH: usize = 2048;

/// A proxy from a `proxySecretRef` Secret.
#[derive(Clone)]
pub struct ProxySettings {
    /// The proxy URL, without userinfo.
    url: Url,
    /// The basic-auth user, if any.
    username: Option<String>,
    /// The basic-auth password (empty with a user alone, as Go's `url.User`).
    password: Secret<String>,
}

impl std::fmt::Debug for ProxySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxySettings")
            .field("url", &self.url.as_str())
            .field("credentials", &self.username.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

impl ProxySettings {
    /// Reads `address`, `username` and `password` from a Secret. The error
    /// says what is wrong and never holds a value other than a redacted address.
    pub fn from_secret(secret: &SecretData) -> Result<Self, String> {
        let text = |key: &str| {
            secret
                .get(key)
                .map(|v| String::from_utf8(v.to_vec()).map_err(|_| format!("`{key}` is not UTF-8")))
                .transpose()
        };
        let address = text("address")?.ok_or("it has no `address` key (the proxy URL)")?;
        let address = address.trim();
        if address.is_empty() {
            return Err("`address` is empty".to_string());
        }
        if address.len() > MAX_ADDRESS_LENGTH {
            return Err(format!(
                "`address` is longer than {MAX_ADDRESS_LENGTH} characters"
            ));
        }
        // The address is never quoted as written (`user:password@host` has no
        // scheme to redact by): only the parsed URL, without its userinfo.
        let mut url = Url::parse(address)
            .map_err(|e| format!("`address` is not a URL ({e}); write it as http://HOST:PORT"))?;
        let scheme = url.scheme().to_string();
        if !matches!(scheme.as_str(), "http" | "https") {
            return Err(if scheme == "socks5" {
                "`address`: socks5 proxies are not supported yet; use an http:// or https:// proxy"
                    .to_string()
            } else {
                format!(
                    "`address` must be an http:// or https:// URL (its scheme is {:?})",
                    crate::redact::text(&scheme)
                )
            });
        }
        let (raw_user, raw_password) = (
            url.username().to_string(),
            url.password().map(str::to_string),
        );
        let _ = url.set_username("");
        let _ = url.set_password(None);
        let shown = url.as_str().to_string();
        if url.host_str().is_none_or(str::is_empty) {
            return Err(format!("`address` {shown:?} has no host"));
        }
        // Credentials in the URL count, unless the Secret's keys give them (as Flux).
        let decode = |s: &str| {
            percent_decode(s).ok_or_else(|| format!("`address` {shown:?}: invalid userinfo"))
        };
        let mut username = (!raw_user.is_empty())
            .then(|| decode(&raw_user))
            .transpose()?;
        let mut password = raw_password.as_deref().map(decode).transpose()?;
        if let Some(user) = text("username")? {
            username = Some(user);
            password = text("password")?;
        } else if secret.get("password").is_some() {
            return Err("`password` is given without `username`".to_string());
        }
        Ok(Self {
            url,
            username,
            password: Secret::new(password.unwrap_or_default()),
        })
    }

    /// The proxy's address without credentials (safe to print).
    pub fn address(&self) -> &str {
        self.url.as_str()
    }

    /// The proxy for a `reqwest` client builder.
    pub(crate) fn to_reqwest(&self) -> Result<reqwest::Proxy, String> {
        let proxy = reqwest::Proxy::all(self.url.clone())
            .map_err(|e| format!("the proxy {} cannot be used ({e})", self.address()))?;
        Ok(match &self.username {
            Some(user) => proxy.basic_auth(user, self.password.expose()),
            None => proxy,
        })
    }

    /// A hash of the address and credentials: clients are cached under it.
    pub(crate) fn key(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.url.as_str());
        hasher.update([0]);
        if let Some(user) = &self.username {
            hasher.update(user.as_bytes());
            hasher.update([0]);
            hasher.update(self.password.expose().as_bytes());
        }
        hex::encode(hasher.finalize())
    }
}

/// `%XX` sequences decoded (userinfo in a URL is percent-encoded).
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(pairs: &[(&str, &str)]) -> SecretData {
        SecretData {
            secret_type: "Opaque".into(),
            data: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), Secret::new(v.as_bytes().to_vec())))
                .collect(),
        }
    }

    #[test]
    fn address_and_keys_give_the_proxy_and_its_credentials() {
        let proxy = ProxySettings::from_secret(&secret(&[
            ("address", "http://proxy.example:3128"),
            ("username", "squid"),
            ("password", "hunter2"),
        ]))
        .unwrap();
        assert_eq!(proxy.address(), "http://proxy.example:3128/");
        assert_eq!(proxy.username.as_deref(), Some("squid"));
        assert_eq!(proxy.password.expose(), "hunter2");
        let debug = format!("{proxy:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("squid"),
            "{debug}"
        );
        proxy.to_reqwest().unwrap();

        let anonymous =
            ProxySettings::from_secret(&secret(&[("address", "https://proxy.example")])).unwrap();
        assert_eq!(anonymous.username, None);
        assert_ne!(anonymous.key(), proxy.key());
    }

    #[test]
    fn credentials_in_the_address_are_moved_out_of_it() {
        let proxy = ProxySettings::from_secret(&secret(&[(
            "address",
            "http://user%40corp:p%3Ass@proxy.example:8080",
        )]))
        .unwrap();
        assert_eq!(proxy.address(), "http://proxy.example:8080/");
        assert_eq!(proxy.username.as_deref(), Some("user@corp"));
        assert_eq!(proxy.password.expose(), "p:ss");
    }

    #[test]
    fn unusable_secrets_say_why_without_their_values() {
        for (pairs, expected) in [
            (&[("username", "u")][..], "no `address` key"),
            (&[("address", " ")][..], "`address` is empty"),
            (
                &[("address", "socks5://u:hunter2@proxy:1080")][..],
                "socks5 proxies are not supported yet",
            ),
            (
                &[("address", "ftp://u:hunter2@proxy")][..],
                "must be an http:// or https:// URL",
            ),
            (
                &[("address", "u:hunter2@proxy:3128")][..],
                "must be an http:// or https:// URL",
            ),
            (&[("address", "http://[hunter2")][..], "is not a URL"),
            (
                &[("address", "http://proxy"), ("password", "hunter2")][..],
                "without `username`",
            ),
        ] {
            let error = ProxySettings::from_secret(&secret(pairs)).unwrap_err();
            assert!(error.contains(expected), "{pairs:?}: {error}");
            assert!(!error.contains("hunter2"), "{error}");
        }
        let long = format!("http://{}", "a".repeat(MAX_ADDRESS_LENGTH));
        let error = ProxySettings::from_secret(&secret(&[("address", &long)])).unwrap_err();
        assert!(error.contains("longer than 2048"), "{error}");
    }
}

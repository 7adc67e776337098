//! A GitRepository's forward proxy (`proxySecretRef`), read from Flux's
//! Secret keys into a [`ProxySpec`].

use crate::secret::Secret;

/// The protocol a proxy speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyScheme {
    /// `http://`: an HTTP forward proxy (`CONNECT` tunnels, absolute-form requests).
    Http,
    /// `socks5://` (or `socks5h://`): a SOCKS5 proxy, host names resolved by the proxy.
    Socks5,
}

/// A forward proxy (Flux's proxy Secret: `address`, `username`, `password`).
#[derive(Debug, Clone)]
pub struct ProxySpec {
    /// How to speak to it.
    pub scheme: ProxyScheme,
    /// Its host (IPv6 without brackets).
    pub host: String,
    /// Its port (the scheme's default when the address names none: 80, 1080).
    pub port: u16,
    /// The user name for the proxy.
    pub username: Option<String>,
    /// The password for the proxy.
    pub password: Option<Secret<String>>,
}

impl ProxySpec {
    /// Reads a proxy Secret as Flux does: `address` is an `http://` or
    /// `socks5://` URL (credentials in it are used unless the Secret has a
    /// `username`, which then comes with its `password`, if any). The error
    /// never contains the password.
    pub fn from_secret(
        address: &str,
        username: Option<String>,
        password: Option<Secret<String>>,
    ) -> Result<Self, String> {
        let shown = crate::redact::url(address);
        let invalid = |reason: &str| format!("proxy address {shown:?} is not usable: {reason}");
        if address.is_empty() {
            return Err("the proxy address is empty".to_string());
        }
        let (scheme, rest) = address
            .split_once("://")
            .ok_or_else(|| invalid("it needs a scheme, like http://proxy:3128"))?;
        let (scheme, default_port) = match scheme.to_ascii_lowercase().as_str() {
            "http" => (ProxyScheme::Http, 80),
            "socks5" | "socks5h" => (ProxyScheme::Socks5, 1080),
            "https" => {
                return Err(invalid(
                    "https:// proxies (TLS to the proxy) are not supported yet; use http:// or socks5://",
                ));
            }
            _ => return Err(invalid("the scheme must be http or socks5")),
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let crate::git::url::Authority {
            userinfo,
            host,
            port,
        } = crate::git::url::Authority::split(authority).map_err(invalid)?;
        let port = match port {
            None | Some("") => default_port,
            Some(port) => port
                .parse()
                .map_err(|_| invalid("the port is not a number"))?,
        };
        let (username, password) = match (username, userinfo) {
            (Some(username), _) => (Some(username), password),
            (None, Some(info)) => {
                let (user, pass) = match info.split_once(':') {
                    Some((user, pass)) => (user, Some(pass)),
                    None => (info, None),
                };
                (
                    Some(percent_decode(user)),
                    pass.map(|p| Secret::new(percent_decode(p))),
                )
            }
            (None, None) => (None, None),
        };
        Ok(Self {
            scheme,
            host: host.to_ascii_lowercase(),
            port,
            username: username.filter(|u| !u.is_empty()),
            password,
        })
    }

    /// `scheme://host:port`, without credentials (for messages).
    pub fn redacted(&self) -> String {
        let scheme = match self.scheme {
            ProxyScheme::Http => "http",
            ProxyScheme::Socks5 => "socks5",
        };
        if self.host.contains(':') {
            format!("{scheme}://[{}]:{}", self.host, self.port)
        } else {
            format!("{scheme}://{}:{}", self.host, self.port)
        }
    }
}

/// `%XX` escapes decoded (URL userinfo); anything malformed kept as it is.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = (bytes[index] == b'%')
            .then(|| text.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                index += 3;
            }
            None => {
                out.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_secrets_are_read_as_flux_reads_them() {
        let proxy = ProxySpec::from_secret("http://proxy.example:3128", None, None).unwrap();
        assert_eq!(
            (
                proxy.scheme,
                proxy.host.as_str(),
                proxy.port,
                proxy.username.as_deref()
            ),
            (ProxyScheme::Http, "proxy.example", 3128, None)
        );
        assert_eq!(proxy.redacted(), "http://proxy.example:3128");
        let proxy = ProxySpec::from_secret("socks5://u%40x:p%3As@[::1]", None, None).unwrap();
        assert_eq!(proxy.redacted(), "socks5://[::1]:1080");
        assert_eq!(proxy.username.as_deref(), Some("u@x"));
        assert_eq!(proxy.password.unwrap().expose(), "p:s");
        // The Secret's username wins over the address's, with the Secret's password.
        let proxy = ProxySpec::from_secret(
            "http://old:old@proxy",
            Some("new".into()),
            Some(Secret::new("pw".into())),
        )
        .unwrap();
        assert_eq!(proxy.port, 80);
        assert_eq!(proxy.username.as_deref(), Some("new"));
        assert_eq!(proxy.password.unwrap().expose(), "pw");
        for (address, expected) in [
            ("", "empty"),
            ("proxy:3128", "needs a scheme"),
            ("https://proxy", "https:// proxies"),
            ("ftp://proxy", "must be http or socks5"),
            ("http://user:hunter2@proxy:port", "port is not a number"),
        ] {
            let error = ProxySpec::from_secret(address, None, None).unwrap_err();
            assert!(error.contains(expected), "{address}: {error}");
            assert!(!error.contains("hunter2"), "{error}");
        }
    }
}

//! Where a registry host is reached: by default `https://HOST` (`http://HOST`
//! with `insecure: true`), unless [`RegistryEndpoints`] maps the host to another
//! base URL — in the spirit of containerd's `hosts.toml` mirrors. Credentials
//! are still chosen by the image's own host, so a mapped ECR host keeps getting
//! ECR tokens.
//!
//! Written `HOST=URL` (comma-separated for several), e.g.
//! `123456789012.dkr.ecr.us-east-1.amazonaws.com=http://127.0.0.1:5000`, from
//! `--registry-endpoint` or `TAGPILOT_REGISTRY_ENDPOINTS`.

use std::collections::HashMap;

use reqwest::Url;

use crate::image::DOCKER_HUB_API_HOST;

/// Why an endpoint mapping is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// Not `HOST=URL`.
    #[error("registry endpoint {0:?} is not HOST=URL (e.g. ghcr.io=https://mirror.example:5000)")]
    Syntax(String),
    /// The URL is not an `http` or `https` URL with a host and no path.
    #[error(
        "registry endpoint URL {0:?} must be http:// or https:// with a host and no path, query or credentials"
    )]
    Url(String),
}

/// Registry host → base URL overrides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryEndpoints {
    by_host: HashMap<String, Url>,
}

impl RegistryEndpoints {
    /// Parses `HOST=URL` entries (each may itself be a comma-separated list).
    pub fn parse<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<Self, EndpointError> {
        let mut by_host = HashMap::new();
        for entry in entries.into_iter().flat_map(|e| e.split(',')) {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            let (host, url) = entry
                .split_once('=')
                .ok_or_else(|| EndpointError::Syntax(crate::redact::text(entry).into_owned()))?;
            let host = host.trim().to_ascii_lowercase();
            if host.is_empty() || host.contains('/') {
                return Err(EndpointError::Syntax(
                    crate::redact::text(entry).into_owned(),
                ));
            }
            let refused = || EndpointError::Url(crate::redact::url(url.trim()));
            let parsed = Url::parse(url.trim()).map_err(|_| refused())?;
            let valid = matches!(parsed.scheme(), "http" | "https")
                && parsed.host_str().is_some()
                && parsed.path() == "/"
                && parsed.query().is_none()
                && parsed.username().is_empty()
                && parsed.password().is_none();
            if !valid {
                return Err(refused());
            }
            by_host.insert(host, parsed);
        }
        Ok(Self { by_host })
    }

    /// The base URL (`scheme://authority/`) for the registry's API host.
    pub fn base_url(&self, api_host: &str, insecure: bool) -> Result<Url, EndpointError> {
        if let Some(url) = self.by_host.get(&api_host.to_ascii_lowercase()) {
            return Ok(url.clone());
        }
        // Docker Hub's aliases share one mapping.
        if api_host == DOCKER_HUB_API_HOST
            && let Some(url) = self.by_host.get("docker.io")
        {
            return Ok(url.clone());
        }
        let scheme = if insecure { "http" } else { "https" };
        Url::parse(&format!("{scheme}://{api_host}/"))
            .map_err(|_| EndpointError::Url(api_host.to_string()))
    }

    /// True when nothing is mapped.
    pub fn is_empty(&self) -> bool {
        self.by_host.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_hosts_use_their_url_and_others_https_or_http_when_insecure() {
        let endpoints = RegistryEndpoints::parse([
            "123.dkr.ecr.us-east-1.amazonaws.com=http://127.0.0.1:5000,docker.io=https://mirror.example",
        ])
        .unwrap();
        assert_eq!(
            endpoints
                .base_url("123.dkr.ecr.us-east-1.amazonaws.com", false)
                .unwrap()
                .as_str(),
            "http://127.0.0.1:5000/"
        );
        assert_eq!(
            endpoints
                .base_url(DOCKER_HUB_API_HOST, false)
                .unwrap()
                .as_str(),
            "https://mirror.example/"
        );
        assert_eq!(
            endpoints.base_url("ghcr.io", false).unwrap().as_str(),
            "https://ghcr.io/"
        );
        assert_eq!(
            endpoints.base_url("127.0.0.1:5000", true).unwrap().as_str(),
            "http://127.0.0.1:5000/"
        );
    }

    #[test]
    fn malformed_mappings_are_refused() {
        for bad in [
            "ghcr.io",
            "=http://x",
            "ghcr.io=ftp://x",
            "ghcr.io=http://x/path",
            "ghcr.io=http://u:p@x",
        ] {
            assert!(RegistryEndpoints::parse([bad]).is_err(), "{bad}");
        }
    }
}

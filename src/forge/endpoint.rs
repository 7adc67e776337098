//! Which forge serves a repository and where its API is: the provider from
//! the repository URL's host (or as given), the API base URL derived from the
//! repository URL (or as given), and the repository's name as the API wants it
//! (`owner/name`, or GitLab's full project path).

use std::fmt;

use reqwest::Url;
use serde::{Deserialize, Serialize};

/// A forge API tagpilot can open pull requests with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ForgeKind {
    /// Gitea and Forgejo (REST API v1).
    Gitea,
    /// GitLab (REST API v4, merge requests).
    GitLab,
    /// GitHub and GitHub Enterprise Server (REST API v3).
    GitHub,
}

impl fmt::Display for ForgeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Gitea => "Gitea",
            Self::GitLab => "GitLab",
            Self::GitHub => "GitHub",
        })
    }
}

impl ForgeKind {
    /// The forge a well-known host name belongs to: `github.com`;
    /// `gitlab.com` or a host whose first label starts with `gitlab`;
    /// `codeberg.org` or a first label starting with `gitea` or `forgejo`.
    pub fn from_host(host: &str) -> Option<Self> {
        let host = host.to_ascii_lowercase();
        let first = host.split('.').next().unwrap_or_default();
        if host == "github.com" || host == "www.github.com" {
            Some(Self::GitHub)
        } else if host == "gitlab.com" || first.starts_with("gitlab") {
            Some(Self::GitLab)
        } else if host == "codeberg.org"
            || first.starts_with("gitea")
            || first.starts_with("forgejo")
        {
            Some(Self::Gitea)
        } else {
            None
        }
    }
}

/// One repository on one forge's API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForgeTarget {
    /// The forge.
    pub kind: ForgeKind,
    /// The API base, without a trailing slash: `https://git.example.com/api/v1`,
    /// `https://api.github.com`, `https://gitlab.com/api/v4`.
    pub api_base: Url,
    /// `owner/name` (Gitea, GitHub) or the project's full path (GitLab:
    /// `group/subgroup/project`).
    pub repository: String,
}

impl ForgeTarget {
    /// The target for the repository at `repository_url` (`https://`, `http://`
    /// or `ssh://`). `kind` defaults to [`ForgeKind::from_host`]; `api_url`
    /// defaults to the repository's host (scheme and port kept for http(s),
    /// https on the default port for ssh) with the forge's API path. Errors
    /// are sentences for a `spec` field message.
    pub fn derive(
        repository_url: &str,
        kind: Option<ForgeKind>,
        api_url: Option<&str>,
    ) -> Result<Self, String> {
        let shown = crate::redact::url(repository_url);
        let url = Url::parse(repository_url).map_err(|_| {
            format!("the repository URL {shown} is not an http(s) or ssh:// URL a forge serves")
        })?;
        let web_scheme = match url.scheme() {
            "https" | "http" => url.scheme().to_string(),
            "ssh" => "https".to_string(),
            other => {
                return Err(format!(
                    "the repository URL {shown} ({other}) is not served by a forge; pull requests need an http(s) or ssh:// URL"
                ));
            }
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("the repository URL {shown} names no host"))?;
        let kind = match kind.or_else(|| ForgeKind::from_host(host)) {
            Some(kind) => kind,
            None => {
                return Err(format!(
                    "cannot tell which forge serves {host}; set provider (gitea, gitlab or github)"
                ));
            }
        };
        let segments: Vec<&str> = url
            .path()
            .trim_matches('/')
            .trim_end_matches(".git")
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        if segments.len() < 2 {
            return Err(format!("the repository URL {shown} has no owner/name path"));
        }
        let given = api_url.map(parse_api_url).transpose()?;
        let port = match (url.scheme(), url.port()) {
            ("ssh", _) | (_, None) => String::new(),
            (_, Some(port)) => format!(":{port}"),
        };
        let bracketed = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        let origin = format!("{web_scheme}://{bracketed}{port}");
        let (default_base, repository) = match kind {
            ForgeKind::GitHub => {
                let base = if host.eq_ignore_ascii_case("github.com") {
                    "https://api.github.com".to_string()
                } else {
                    format!("{origin}/api/v3")
                };
                (base, last_two(&segments))
            }
            ForgeKind::Gitea => {
                let prefix = &segments[..segments.len() - 2];
                let base = format!("{origin}{}/api/v1", joined_prefix(prefix));
                (base, last_two(&segments))
            }
            ForgeKind::GitLab => {
                // A GitLab served under a path (`https://host/gitlab/group/project`)
                // needs apiURL; its path before `/api/v4` is then left out here.
                let prefix: Vec<&str> = given
                    .as_ref()
                    .map(|base| {
                        base.path()
                            .trim_end_matches('/')
                            .trim_end_matches("/api/v4")
                            .split('/')
                            .filter(|s| !s.is_empty())
                            .collect()
                    })
                    .unwrap_or_default();
                let project = if segments.len() > prefix.len() && segments.starts_with(&prefix) {
                    &segments[prefix.len()..]
                } else {
                    &segments[..]
                };
                (format!("{origin}/api/v4"), project.join("/"))
            }
        };
        let api_base = match given {
            Some(base) => base,
            None => parse_api_url(&default_base)?,
        };
        Ok(Self {
            kind,
            api_base,
            repository,
        })
    }

    /// Whether the repository's credentials may be sent to this API: only to
    /// the repository's own host (and `api.github.com` for `github.com`),
    /// never elsewhere (invariant 10).
    pub fn is_same_host_as(&self, repository_url: &str) -> bool {
        let Ok(url) = Url::parse(repository_url) else {
            return false;
        };
        let (Some(repository_host), Some(api_host)) = (url.host_str(), self.api_base.host_str())
        else {
            return false;
        };
        repository_host.eq_ignore_ascii_case(api_host)
            || (self.kind == ForgeKind::GitHub
                && repository_host.eq_ignore_ascii_case("github.com")
                && api_host.eq_ignore_ascii_case("api.github.com"))
    }

    /// `owner` of `owner/name` (the first path segment).
    pub fn owner(&self) -> &str {
        self.repository.split('/').next().unwrap_or_default()
    }
}

fn last_two(segments: &[&str]) -> String {
    segments[segments.len() - 2..].join("/")
}

fn joined_prefix(prefix: &[&str]) -> String {
    prefix.iter().map(|s| format!("/{s}")).collect()
}

/// An `apiURL`: http(s), no credentials, no query or fragment; stored without a trailing slash.
fn parse_api_url(text: &str) -> Result<Url, String> {
    let shown = crate::redact::url(text);
    let url = Url::parse(text).map_err(|e| format!("apiURL {shown} is not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("apiURL {shown} must be an http(s) URL"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "apiURL {shown} must not hold credentials; the token comes from a Secret"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("apiURL {shown} must not have a query or fragment"));
    }
    let trimmed = text.trim_end_matches('/');
    Url::parse(trimmed).map_err(|e| format!("apiURL {shown} is not a URL ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn derive(
        url: &str,
        kind: Option<ForgeKind>,
        api: Option<&str>,
    ) -> (ForgeKind, String, String) {
        let target = ForgeTarget::derive(url, kind, api).unwrap();
        (target.kind, target.api_base.to_string(), target.repository)
    }

    #[test]
    fn the_api_is_derived_from_the_repository_url() {
        assert_eq!(
            derive("https://github.com/acme/config.git", None, None),
            (
                ForgeKind::GitHub,
                "https://api.github.com/".into(),
                "acme/config".into()
            )
        );
        assert_eq!(
            derive("ssh://git@github.com/acme/config", None, None),
            (
                ForgeKind::GitHub,
                "https://api.github.com/".into(),
                "acme/config".into()
            )
        );
        assert_eq!(
            derive(
                "https://ghe.example.com/acme/config",
                Some(ForgeKind::GitHub),
                None
            ),
            (
                ForgeKind::GitHub,
                "https://ghe.example.com/api/v3".into(),
                "acme/config".into()
            )
        );
        assert_eq!(
            derive("https://gitlab.com/acme/platform/config.git", None, None),
            (
                ForgeKind::GitLab,
                "https://gitlab.com/api/v4".into(),
                "acme/platform/config".into()
            )
        );
        assert_eq!(
            derive(
                "ssh://git@gitlab.example.com:2222/team/config.git",
                None,
                None
            ),
            (
                ForgeKind::GitLab,
                "https://gitlab.example.com/api/v4".into(),
                "team/config".into()
            )
        );
        assert_eq!(
            derive(
                "http://127.0.0.1:3000/bot/config.git",
                Some(ForgeKind::Gitea),
                None
            ),
            (
                ForgeKind::Gitea,
                "http://127.0.0.1:3000/api/v1".into(),
                "bot/config".into()
            )
        );
        assert_eq!(
            derive(
                "https://example.com/git/team/config",
                Some(ForgeKind::Gitea),
                None
            ),
            (
                ForgeKind::Gitea,
                "https://example.com/git/api/v1".into(),
                "team/config".into()
            ),
            "a Gitea under a sub path keeps it"
        );
        assert_eq!(
            derive("https://codeberg.org/team/config", None, None).0,
            ForgeKind::Gitea
        );
        assert_eq!(
            derive("https://forgejo.example.net/team/config", None, None).0,
            ForgeKind::Gitea
        );
    }

    #[test]
    fn an_api_url_overrides_and_a_gitlab_sub_path_is_left_out_of_the_project() {
        assert_eq!(
            derive(
                "https://example.com/gitlab/group/sub/config.git",
                Some(ForgeKind::GitLab),
                Some("https://example.com/gitlab/api/v4/")
            ),
            (
                ForgeKind::GitLab,
                "https://example.com/gitlab/api/v4".into(),
                "group/sub/config".into()
            )
        );
        assert_eq!(
            derive(
                "ssh://git@git.internal/team/config",
                Some(ForgeKind::Gitea),
                Some("http://git.internal:3000/api/v1")
            )
            .1,
            "http://git.internal:3000/api/v1"
        );
    }

    #[test]
    fn unknown_hosts_and_bad_urls_are_explained() {
        let error = ForgeTarget::derive("https://git.example.com/a/b", None, None).unwrap_err();
        assert_eq!(
            error,
            "cannot tell which forge serves git.example.com; set provider (gitea, gitlab or github)"
        );
        let error = ForgeTarget::derive("file:///srv/config.git", Some(ForgeKind::Gitea), None)
            .unwrap_err();
        assert!(error.contains("is not served by a forge"), "{error}");
        let error = ForgeTarget::derive("https://github.com/config", None, None).unwrap_err();
        assert!(error.contains("no owner/name path"), "{error}");
        let error = ForgeTarget::derive(
            "https://github.com/a/b",
            None,
            Some("https://bot:hunter2@api.github.com"),
        )
        .unwrap_err();
        assert!(
            error.contains("must not hold credentials") && !error.contains("hunter2"),
            "{error}"
        );
    }

    #[test]
    fn credentials_go_to_the_repository_host_only() {
        let github = ForgeTarget::derive("https://github.com/a/b", None, None).unwrap();
        assert!(github.is_same_host_as("https://github.com/a/b"));
        let elsewhere = ForgeTarget::derive(
            "https://gitea.example.com/a/b",
            None,
            Some("https://api.elsewhere.example/api/v1"),
        )
        .unwrap();
        assert!(!elsewhere.is_same_host_as("https://gitea.example.com/a/b"));
        let same = ForgeTarget::derive("ssh://git@gitea.example.com:2222/a/b", None, None).unwrap();
        assert!(same.is_same_host_as("ssh://git@gitea.example.com:2222/a/b"));
    }
}

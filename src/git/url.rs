//! Repository URLs: which transport, which host and port (for known_hosts),
//! which ssh user, and a form without credentials for messages and logs.

use super::error::GitError;

/// How the repository is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// `ssh://`.
    Ssh,
    /// `http://` or `https://`.
    Http,
    /// `file://` or a local path.
    Local,
}

/// A parsed repository URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RepoUrl {
    /// The transport.
    pub transport: Transport,
    /// The ssh user in the URL (`git` in `ssh://git@host/…`); `None` for http(s).
    pub user: Option<String>,
    /// The host (without brackets for IPv6), empty for local repositories.
    pub host: String,
    /// The port, if the URL names one.
    pub port: Option<u16>,
    /// The URL without a password, safe for messages.
    pub redacted: String,
}

/// The parts of a URL's authority (`user:password@host:port`), not yet checked
/// beyond what splitting them needs.
pub(crate) struct Authority<'a> {
    /// What stands before the last `@`.
    pub userinfo: Option<&'a str>,
    /// The host, without an IPv6 literal's brackets.
    pub host: &'a str,
    /// The text after the host's `:`, if any (may be empty or not a number).
    pub port: Option<&'a str>,
}

impl<'a> Authority<'a> {
    /// Splits `authority`; the error says what is wrong with it.
    pub(crate) fn split(authority: &'a str) -> Result<Self, &'static str> {
        let (userinfo, host_port) = match authority.rsplit_once('@') {
            Some((userinfo, host_port)) => (Some(userinfo), host_port),
            None => (None, authority),
        };
        let (host, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or("an IPv6 host is missing its closing bracket")?;
            (host, after.strip_prefix(':'))
        } else {
            match host_port.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (host_port, None),
            }
        };
        if host.is_empty() {
            return Err("it names no host");
        }
        Ok(Self {
            userinfo,
            host,
            port,
        })
    }
}

impl RepoUrl {
    /// Parses `url`.
    pub fn parse(url: &str) -> Result<Self, GitError> {
        let invalid = |reason: &str| GitError::InvalidUrl {
            url: redact(url),
            reason: reason.to_string(),
        };
        if url.starts_with('/') {
            return Ok(Self::local(url));
        }
        let Some((scheme, rest)) = url.split_once("://") else {
            if url.contains('@') && url.contains(':') {
                return Err(invalid(
                    "scp-like addresses (user@host:path) are not supported; write ssh://user@host/path",
                ));
            }
            return Err(invalid("it has no scheme and is not an absolute path"));
        };
        let transport = match scheme.to_ascii_lowercase().as_str() {
            "ssh" => Transport::Ssh,
            "http" | "https" => Transport::Http,
            "file" => return Ok(Self::local(url)),
            _ => return Err(invalid(&format!("the scheme {scheme:?} is not supported"))),
        };
        let authority = rest.split('/').next().unwrap_or_default();
        let Authority {
            userinfo,
            host,
            port,
        } = Authority::split(authority).map_err(invalid)?;
        let port = match port {
            None | Some("") => None,
            Some(port) => Some(
                port.parse::<u16>()
                    .map_err(|_| invalid(&format!("the port {port:?} is not a number")))?,
            ),
        };
        // Only ssh takes its user from the URL; an http userinfo is a credential
        // that libgit2 reads from the URL itself, never kept here.
        let user = userinfo
            .filter(|_| transport == Transport::Ssh)
            .map(|info| info.split(':').next().unwrap_or_default().to_string())
            .filter(|user| !user.is_empty());
        Ok(Self {
            transport,
            user,
            host: host.to_string(),
            port,
            redacted: redact(url),
        })
    }

    fn local(url: &str) -> Self {
        Self {
            transport: Transport::Local,
            user: None,
            host: String::new(),
            port: None,
            redacted: url.to_string(),
        }
    }

    /// The host as known_hosts writes it: `host` for port 22, else `[host]:port`.
    pub fn known_hosts_name(&self) -> String {
        match self.port {
            None | Some(22) => self.host.clone(),
            Some(port) => format!("[{}]:{port}", self.host),
        }
    }

    /// The arguments of `ssh-keyscan` that fetch this host's keys.
    pub fn keyscan_arguments(&self) -> String {
        match self.port {
            None | Some(22) => self.host.clone(),
            Some(port) => format!("-p {port} {}", self.host),
        }
    }
}

/// `url` without credentials, for messages and logs: every userinfo shape
/// (a token alone included) masked by the one redaction function.
pub(crate) fn redact(url: &str) -> String {
    crate::redact::url(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_urls_give_user_host_and_port() {
        let url = RepoUrl::parse("ssh://git@127.0.0.1:2222/srv/repo.git").unwrap();
        assert_eq!(url.transport, Transport::Ssh);
        assert_eq!(url.user.as_deref(), Some("git"));
        assert_eq!(url.host, "127.0.0.1");
        assert_eq!(url.port, Some(2222));
        assert_eq!(url.known_hosts_name(), "[127.0.0.1]:2222");
        assert_eq!(url.keyscan_arguments(), "-p 2222 127.0.0.1");
        let default_port = RepoUrl::parse("ssh://github.com/org/repo").unwrap();
        assert_eq!(default_port.user, None);
        assert_eq!(default_port.known_hosts_name(), "github.com");
        let ipv6 = RepoUrl::parse("ssh://git@[::1]:22/repo").unwrap();
        assert_eq!(ipv6.host, "::1");
        assert_eq!(ipv6.known_hosts_name(), "::1");
    }

    #[test]
    fn http_credentials_are_redacted() {
        let url = RepoUrl::parse("https://bot:s3cret@example.com/org/repo.git").unwrap();
        assert_eq!(url.transport, Transport::Http);
        assert_eq!(url.redacted, "https://***@example.com/org/repo.git");
        assert!(!format!("{url:?}").contains("s3cret"));
    }

    /// Regression (issue 17, finding 2): a token alone as userinfo was printed
    /// in full in errors, status.json, `tagpilot status` and `plan`.
    #[test]
    fn a_token_alone_as_userinfo_used_to_be_printed() {
        let url = RepoUrl::parse("http://ghp_T0kenOnly@127.0.0.1:8080/git/config.git").unwrap();
        assert_eq!(url.redacted, "http://***@127.0.0.1:8080/git/config.git");
        assert!(!format!("{url:?}").contains("T0kenOnly"));
        let invalid = RepoUrl::parse("http://ghp_T0kenOnly@127.0.0.1:port/x")
            .unwrap_err()
            .to_string();
        assert!(!invalid.contains("T0kenOnly"), "{invalid}");
    }

    #[test]
    fn local_paths_and_file_urls_are_local() {
        assert_eq!(
            RepoUrl::parse("/srv/git/repo.git").unwrap().transport,
            Transport::Local
        );
        assert_eq!(
            RepoUrl::parse("file:///srv/git/repo.git")
                .unwrap()
                .transport,
            Transport::Local
        );
    }

    #[test]
    fn unusable_urls_are_refused_with_a_reason() {
        for (url, reason) in [
            ("git@github.com:org/repo.git", "scp-like"),
            ("ftp://example.com/repo", "\"ftp\""),
            ("ssh://:22/repo", "no host"),
            ("ssh://host:port/repo", "not a number"),
            ("relative/path", "no scheme"),
        ] {
            let error = RepoUrl::parse(url).unwrap_err().to_string();
            assert!(error.contains(reason), "{url}: {error}");
        }
    }
}

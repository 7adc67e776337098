//! Reaching the remote: credentials (ssh identity, basic auth, bearer token),
//! host key checks against the Secret's known_hosts (no trust on first use),
//! https certificates against a configured CA, and turning libgit2's failures
//! into [`GitError`]s that name the repository and never carry a secret.
//!
//! Every network operation (http, https, ssh) runs through an [`OriginGuard`],
//! which closes its connections when the GitRepository's `timeout` passes
//! ([`GitError::Timeout`]) and reaches the server through the proxy of
//! `proxySecretRef` when there is one ([`GitError::Proxy`] when the proxy
//! refuses).
//!
//! Credentials go to the configured origin only (invariant 10): every http(s)
//! operation runs through an [`OriginGuard`] that connects to that origin and
//! nowhere else, so a redirect to another origin is refused (and named in the
//! error) before any request — with its bearer header or basic credentials —
//! leaves; the credential callback also refuses to answer another origin.

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

use git2::{AutotagOption, Cred, CredentialType, FetchOptions, ProxyOptions, RemoteCallbacks};

use super::error::GitError;
use super::known_hosts::KnownHosts;
use super::origin_guard::{GuardSettings, Origin, OriginGuard, ProxyProtocol, UpstreamProxy};
use super::spec::{Credentials, ProxyScheme, RepoSpec};
use super::url::{RepoUrl, Transport as Scheme};
use crate::secret::Secret;

/// Credentials in the form libgit2 takes them.
enum PreparedCredentials {
    Anonymous,
    Ssh {
        user: String,
        /// An unencrypted private key (PEM text).
        key: Secret<String>,
        /// The password, when the key could not be decrypted here (non-OpenSSH formats).
        passphrase: Option<Secret<String>>,
    },
    Basic {
        username: String,
        password: Secret<String>,
    },
    Bearer {
        header: Secret<String>,
    },
}

/// How to reach one repository; owns the per-operation failure detail that
/// libgit2's callbacks record.
pub(crate) struct Transport {
    /// The parsed URL.
    pub url: RepoUrl,
    /// The URL handed to libgit2.
    raw_url: String,
    credentials: PreparedCredentials,
    known_hosts: Option<KnownHosts>,
    ca: Option<Vec<openssl::x509::X509>>,
    /// The precise reason a callback failed the current operation.
    failure: RefCell<Option<GitError>>,
    /// Where an http(s) remote's credentials may go, or the ssh server
    /// (`None` for local paths).
    origin: Option<Origin>,
    /// The current operation's guard (http(s) and ssh).
    guard: RefCell<Option<OriginGuard>>,
    /// The guard's timeout and proxy.
    guard_settings: GuardSettings,
    /// The timeout, for messages.
    timeout: Duration,
    /// The proxy, without credentials, for messages.
    proxy_display: Option<String>,
    /// The most one fetch may receive, and take.
    fetch_budget: FetchBudget,
}

/// The limits of one fetch: what the server sends is bounded in bytes and
/// time, whatever it does (invariant 11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FetchBudget {
    /// Pack bytes received (4 GiB: config repositories are far smaller).
    pub max_bytes: u64,
    /// Time from the start of the operation (1 hour).
    pub max_time: Duration,
}

impl Default for FetchBudget {
    fn default() -> Self {
        Self {
            max_bytes: 4 * 1024 * 1024 * 1024,
            max_time: Duration::from_secs(60 * 60),
        }
    }
}

impl Transport {
    /// Validates the spec: URL, known_hosts, identity (decrypted here so a
    /// wrong password is reported as such), CA certificates.
    pub fn new(spec: &RepoSpec) -> Result<Self, GitError> {
        let url = RepoUrl::parse(&spec.url)?;
        let mut known_hosts = None;
        let credentials = match &spec.credentials {
            Credentials::Anonymous => PreparedCredentials::Anonymous,
            Credentials::Ssh {
                identity,
                password,
                known_hosts: text,
            } => {
                known_hosts =
                    Some(
                        KnownHosts::parse(text).map_err(|error| GitError::InvalidKnownHosts {
                            url: url.redacted.clone(),
                            line: error.line,
                            reason: error.reason,
                        })?,
                    );
                let (key, passphrase) = prepare_identity(&url, identity, password.as_ref())?;
                PreparedCredentials::Ssh {
                    user: url.user.clone().unwrap_or_else(|| "git".to_string()),
                    key,
                    passphrase,
                }
            }
            Credentials::Basic { username, password } => PreparedCredentials::Basic {
                username: username.clone(),
                password: password.clone(),
            },
            Credentials::Bearer { token } => PreparedCredentials::Bearer {
                header: Secret::new(format!("Authorization: Bearer {}", token.expose())),
            },
        };
        let ca = match &spec.ca_certificate {
            None => None,
            Some(pem) => {
                let invalid = |detail: String| GitError::UntrustedCertificate {
                    url: url.redacted.clone(),
                    reason: format!("the CA certificate is not valid PEM ({detail})"),
                };
                let certificates = openssl::x509::X509::stack_from_pem(pem)
                    .map_err(|error| invalid(error.to_string()))?;
                if certificates.is_empty() {
                    return Err(invalid("no certificate found".to_string()));
                }
                Some(certificates)
            }
        };
        let origin = match url.transport {
            Scheme::Http | Scheme::Ssh => {
                Some(
                    Origin::of_url(&spec.url).ok_or_else(|| GitError::InvalidUrl {
                        url: url.redacted.clone(),
                        reason: "its host or port cannot be read".to_string(),
                    })?,
                )
            }
            Scheme::Local => None,
        };
        let proxy = spec.proxy.as_ref().map(|proxy| UpstreamProxy {
            protocol: match proxy.scheme {
                ProxyScheme::Http => ProxyProtocol::Http,
                ProxyScheme::Socks5 => ProxyProtocol::Socks5,
            },
            host: proxy.host.clone(),
            port: proxy.port,
            credentials: proxy.username.clone().map(|user| {
                (
                    user,
                    proxy
                        .password
                        .clone()
                        .unwrap_or_else(|| Secret::new(String::new())),
                )
            }),
            display: proxy.redacted(),
        });
        Ok(Self {
            raw_url: spec.url.clone(),
            url,
            credentials,
            known_hosts,
            ca,
            failure: RefCell::new(None),
            origin,
            guard: RefCell::new(None),
            proxy_display: proxy.as_ref().map(|proxy| proxy.display.clone()),
            guard_settings: GuardSettings {
                timeout: Some(spec.timeout),
                proxy,
                ..GuardSettings::default()
            },
            timeout: spec.timeout,
            fetch_budget: FetchBudget::default(),
        })
    }

    /// This transport with another fetch budget (tests use a tiny one).
    #[cfg(test)]
    pub fn with_fetch_budget(mut self, budget: FetchBudget) -> Self {
        self.fetch_budget = budget;
        self
    }

    /// The URL without credentials.
    pub fn redacted_url(&self) -> &str {
        &self.url.redacted
    }

    /// Callbacks for one remote operation: credentials, certificate checks,
    /// and the fetch budget (a server cannot send without end).
    pub fn callbacks(&self) -> RemoteCallbacks<'_> {
        self.failure.borrow_mut().take();
        let mut callbacks = RemoteCallbacks::new();
        let attempts = Cell::new(0_u32);
        callbacks.credentials(move |url, _user, allowed| {
            self.refuse_other_origin(url)?;
            self.credential(&attempts, allowed)
        });
        callbacks.certificate_check(|cert, host| self.check_certificate(cert, host));
        let started = Instant::now();
        callbacks.transfer_progress(move |progress| {
            let bytes = u64::try_from(progress.received_bytes()).unwrap_or(u64::MAX);
            let over = if bytes > self.fetch_budget.max_bytes {
                Some(format!(
                    "the server sent more than {} bytes",
                    self.fetch_budget.max_bytes
                ))
            } else if started.elapsed() > self.fetch_budget.max_time {
                Some(format!(
                    "the fetch took longer than {} minutes",
                    self.fetch_budget.max_time.as_secs() / 60
                ))
            } else {
                None
            };
            match over {
                Some(reason) => {
                    *self.failure.borrow_mut() = Some(GitError::FetchBudget {
                        url: self.url.redacted.clone(),
                        reason,
                    });
                    false
                }
                None => true,
            }
        });
        callbacks
    }

    /// Starts a remote operation: for http(s) and ssh, a new [`OriginGuard`]
    /// (kept until the next operation) through which libgit2 reaches the
    /// configured origin only, within the timeout, through the proxy if any.
    /// Returns the URL to give libgit2 (the guard's address for http and ssh,
    /// the configured URL otherwise).
    pub fn connect(&self) -> Result<String, GitError> {
        // Stop the previous operation's guard before starting this one's.
        self.guard.borrow_mut().take();
        let Some(origin) = &self.origin else {
            return Ok(self.raw_url.clone());
        };
        let guard =
            OriginGuard::start(origin.clone(), self.guard_settings.clone()).map_err(|source| {
                GitError::Io {
                    action: "starting the local origin guard on",
                    path: "127.0.0.1".into(),
                    source,
                }
            })?;
        let url = guard.remote_url(&self.raw_url);
        *self.guard.borrow_mut() = Some(guard);
        Ok(url)
    }

    /// Proxy options for the operation [`Self::connect`] started: the guard
    /// for https, none otherwise.
    pub fn proxy_options(&self) -> ProxyOptions<'static> {
        let mut options = ProxyOptions::new();
        if let Some(proxy) = self
            .guard
            .borrow()
            .as_ref()
            .and_then(OriginGuard::proxy_url)
        {
            options.url(&proxy);
        }
        options
    }

    /// Fetch options with these callbacks, the origin guard and no tags.
    pub fn fetch_options(&self) -> FetchOptions<'_> {
        let mut options = FetchOptions::new();
        options.remote_callbacks(self.callbacks());
        options.proxy_options(self.proxy_options());
        options.download_tags(AutotagOption::None);
        // Nothing reads FETCH_HEAD; writing it replaced a file (and freed
        // the old one) on every fetch.
        options.update_fetchhead(false);
        if let PreparedCredentials::Bearer { header } = &self.credentials {
            options.custom_headers(&[header.expose()]);
        }
        options
    }

    /// Fails the operation when libgit2 asks for credentials for another
    /// origin than the configured one (after a redirect).
    fn refuse_other_origin(&self, url: &str) -> Result<(), git2::Error> {
        let Some(origin) = self.origin.as_ref().filter(|o| o.scheme != "ssh") else {
            return Ok(());
        };
        let own = self
            .guard
            .borrow()
            .as_ref()
            .is_some_and(|guard| guard.is_own_url(url));
        match Origin::of_url(url) {
            _ if own => Ok(()),
            Some(asking) if &asking == origin => Ok(()),
            asking => Err(self.fail(GitError::Redirected {
                url: self.url.redacted.clone(),
                to: asking.map_or_else(|| crate::redact::url(url), |o| o.to_string()),
                origin: origin.to_string(),
            })),
        }
    }

    /// The extra headers a push needs (a bearer token).
    pub fn custom_headers(&self) -> Vec<&str> {
        match &self.credentials {
            PreparedCredentials::Bearer { header } => vec![header.expose().as_str()],
            _ => Vec::new(),
        }
    }

    /// Records why a callback failed the operation and returns libgit2's error for it.
    pub fn fail(&self, error: GitError) -> git2::Error {
        let message = error.to_string();
        *self.failure.borrow_mut() = Some(error);
        git2::Error::from_str(&message)
    }

    fn authentication_error(&self, hint: &'static str) -> GitError {
        let user = match &self.credentials {
            PreparedCredentials::Ssh { user, .. } => format!(" as user {user}"),
            PreparedCredentials::Basic { username, .. } => format!(" as user {username}"),
            PreparedCredentials::Anonymous | PreparedCredentials::Bearer { .. } => String::new(),
        };
        GitError::Authentication {
            url: self.url.redacted.clone(),
            user,
            hint,
        }
    }

    fn credential(
        &self,
        attempts: &Cell<u32>,
        allowed: CredentialType,
    ) -> Result<Cred, git2::Error> {
        match &self.credentials {
            PreparedCredentials::Ssh {
                user,
                key,
                passphrase,
            } => {
                if allowed.contains(CredentialType::USERNAME) {
                    return Cred::username(user);
                }
                if !allowed.intersects(CredentialType::SSH_KEY | CredentialType::SSH_MEMORY) {
                    return Err(self.fail(self.authentication_error(
                        "the ssh server accepts no public key authentication",
                    )));
                }
                attempts.set(attempts.get() + 1);
                if attempts.get() > 1 {
                    return Err(self.fail(self.authentication_error(
                        "the server did not accept the ssh identity: register its public key (a deploy key with write access) for this repository",
                    )));
                }
                Cred::ssh_key_from_memory(
                    user,
                    None,
                    key.expose(),
                    passphrase.as_ref().map(|p| p.expose().as_str()),
                )
                .map_err(|error| {
                    self.fail(GitError::InvalidKey {
                        what: "ssh identity",
                        url: self.url.redacted.clone(),
                        reason: error.message().to_string(),
                    })
                })
            }
            PreparedCredentials::Basic { username, password } => {
                if !allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
                    return Err(self.fail(self.authentication_error(
                        "the server does not accept a username and password",
                    )));
                }
                attempts.set(attempts.get() + 1);
                if attempts.get() > 1 {
                    return Err(self.fail(self.authentication_error(
                        "the server refused the username and password: check them in the Secret",
                    )));
                }
                Cred::userpass_plaintext(username, password.expose())
            }
            PreparedCredentials::Bearer { .. } => Err(self.fail(self.authentication_error(
                "the server refused the bearer token: check bearerToken in the Secret",
            ))),
            PreparedCredentials::Anonymous => Err(self.fail(self.authentication_error(
                "the server asks for credentials: set the GitRepository's secretRef",
            ))),
        }
    }
}

/// Decrypts an OpenSSH identity here (so a wrong password gets its own error)
/// and hands libssh2 an unencrypted key; other formats (PEM) go to libssh2 as
/// they are, with the password.
fn prepare_identity(
    url: &RepoUrl,
    identity: &Secret<Vec<u8>>,
    password: Option<&Secret<String>>,
) -> Result<(Secret<String>, Option<Secret<String>>), GitError> {
    let invalid = |reason: String| GitError::InvalidKey {
        what: "ssh identity",
        url: url.redacted.clone(),
        reason,
    };
    let text = std::str::from_utf8(identity.expose()).map_err(|_| {
        invalid("the Secret's identity is not text (expected an OpenSSH or PEM private key)".into())
    })?;
    if !text.contains("BEGIN OPENSSH PRIVATE KEY") {
        // libssh2 reads PEM blocks (RSA, EC, PKCS#8); anything else would only
        // surface as an unexplained failed fetch.
        if !(text.contains("-----BEGIN ") && text.contains("PRIVATE KEY-----")) {
            return Err(invalid(
                "the Secret's identity is not a private key (expected an OpenSSH or PEM `-----BEGIN ... PRIVATE KEY-----` block)"
                    .into(),
            ));
        }
        return Ok((Secret::new(text.to_string()), password.cloned()));
    }
    let key = super::signing::read_private_key(identity, password).map_err(invalid)?;
    let pem = key
        .to_openssh(ssh_key::LineEnding::LF)
        .map_err(|error| invalid(format!("cannot re-encode the key ({error})")))?;
    Ok((Secret::new(pem.as_str().to_string()), None))
}

#[path = "transport_certificates.rs"]
mod certificates;
#[path = "transport_errors.rs"]
mod errors;
#[cfg(test)]
#[path = "transport_tests.rs"]
mod tests;

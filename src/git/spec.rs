//! The validated inputs of the git module: where the repository is and how to
//! reach it, which branch to check out, how to commit and where to push. The
//! `config` and `controller` modules build these from GitRepository and
//! ImageUpdateAutomation objects; nothing here knows about Kubernetes.

use super::flux_message::FluxTemplateVersion;
use std::fmt;
use std::time::Duration;

use crate::secret::Secret;

#[path = "spec_proxy.rs"]
mod proxy;
pub use proxy::{ProxyScheme, ProxySpec};

/// The longest one fetch or push may take when nothing says otherwise
/// (Flux's default GitRepository `timeout`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// A config repository and the credentials to reach it.
#[derive(Debug, Clone)]
pub struct RepoSpec {
    /// `ssh://`, `https://`, `http://`, `file://` URL or an absolute local path.
    /// Put credentials in [`RepoSpec::credentials`], not in the URL.
    pub url: String,
    /// How to authenticate (from the GitRepository's `secretRef`).
    pub credentials: Credentials,
    /// PEM certificates of the CAs that may sign the https server's certificate
    /// (the Secret's `ca.crt`), instead of the system trust store.
    pub ca_certificate: Option<Vec<u8>>,
    /// The longest one fetch or push over the network may take (the
    /// GitRepository's `timeout`); when it passes, the operation's
    /// connections are closed and it fails with [`crate::git::GitError::Timeout`].
    pub timeout: Duration,
    /// The forward proxy to reach the server through (the GitRepository's
    /// `proxySecretRef`), for http(s) and ssh remotes.
    pub proxy: Option<ProxySpec>,
}

impl RepoSpec {
    /// A repository reached without credentials (local paths, public http),
    /// with the default timeout and no proxy.
    pub fn anonymous(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            credentials: Credentials::Anonymous,
            ca_certificate: None,
            timeout: DEFAULT_TIMEOUT,
            proxy: None,
        }
    }
}

/// Credentials for one repository (the GitRepository Secret's keys).
#[derive(Debug, Clone, Default)]
pub enum Credentials {
    /// No credentials.
    #[default]
    Anonymous,
    /// ssh: an OpenSSH private key and the server's host keys.
    Ssh {
        /// The Secret's `identity`: an OpenSSH private key (`-----BEGIN OPENSSH PRIVATE KEY-----`).
        identity: Secret<Vec<u8>>,
        /// The Secret's `password`, when the identity is encrypted.
        password: Option<Secret<String>>,
        /// The Secret's `known_hosts`: the only host keys accepted (no trust on first use).
        known_hosts: String,
    },
    /// http(s) basic authentication (the Secret's `username` and `password`).
    Basic {
        /// The user name.
        username: String,
        /// The password or access token.
        password: Secret<String>,
    },
    /// http(s) bearer token (the Secret's `bearerToken`), sent as `Authorization: Bearer`.
    Bearer {
        /// The token.
        token: Secret<String>,
    },
}

/// A git reference, as Flux's `ref` names one. When a `ref` sets several
/// fields, Flux takes `commit` first, then `name`, `semver`, `tag` and
/// `branch`; the validated reference keeps the one that wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitReference {
    /// A branch, without `refs/heads/`.
    Branch(String),
    /// A tag, without `refs/tags/`.
    Tag(String),
    /// The highest tag inside a semver range.
    Semver(String),
    /// A full reference name that is not a branch (`refs/pull/7/head`, `refs/tags/v1`).
    Name(String),
    /// A commit, fetched from `branch` when given.
    Commit {
        /// The full SHA-1.
        sha: String,
        /// The branch to fetch it from.
        branch: Option<String>,
    },
}

impl GitReference {
    /// The branch this reference checks out, when it is a branch.
    pub fn branch(&self) -> Option<&str> {
        match self {
            Self::Branch(branch) => Some(branch),
            _ => None,
        }
    }

    /// What kind of reference this is (`branch`, `tag`, `semver`, `name`, `commit`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Branch(_) => "branch",
            Self::Tag(_) => "tag",
            Self::Semver(_) => "semver",
            Self::Name(_) => "name",
            Self::Commit { .. } => "commit",
        }
    }
}

impl GitReference {
    /// Refuses a reference git could not resolve; the message says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        let valid_ref = |name: &str| git2::Reference::is_valid_name(name);
        let branch_ok = |branch: &str| {
            !branch.is_empty()
                && !branch.starts_with("refs/")
                && valid_ref(&format!("refs/heads/{branch}"))
        };
        match self {
            Self::Branch(branch)
            | Self::Commit {
                branch: Some(branch),
                ..
            } if !branch_ok(branch) => Err(format!(
                "branch {branch:?} is not a valid branch name (give it without refs/heads/)"
            )),
            Self::Branch(_) => Ok(()),
            Self::Tag(tag)
                if tag.starts_with("refs/") || !valid_ref(&format!("refs/tags/{tag}")) =>
            {
                Err(format!(
                    "tag {tag:?} is not a valid tag name (give it without refs/tags/)"
                ))
            }
            Self::Tag(_) => Ok(()),
            Self::Semver(range) => crate::policy::Range::parse(range)
                .map(|_| ())
                .map_err(|error| error.to_string()),
            Self::Name(name) if !name.starts_with("refs/") || !valid_ref(name) => Err(format!(
                "name {name:?} is not a full reference name (like refs/tags/v1.0.0 or refs/pull/7/head)"
            )),
            Self::Name(_) => Ok(()),
            Self::Commit { sha, .. }
                if sha.len() != 40 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) =>
            {
                Err(format!(
                    "commit {sha:?} is not a full commit id (40 hexadecimal digits)"
                ))
            }
            Self::Commit { .. } => Ok(()),
        }
    }

    /// What this reference is, for messages: `branch "main"`, `tag "v1.0.0"`,
    /// `semver range ">=1.0.0"`, `reference "refs/pull/7/head"`,
    /// `commit 0123… (in branch "main")`.
    pub fn describe(&self) -> String {
        match self {
            Self::Branch(branch) => format!("branch {branch:?}"),
            Self::Tag(tag) => format!("tag {tag:?}"),
            Self::Semver(range) => format!("semver range {range:?}"),
            Self::Name(name) => format!("reference {name:?}"),
            Self::Commit {
                sha,
                branch: Some(branch),
            } => format!("commit {sha} (in branch {branch:?})"),
            Self::Commit { sha, branch: None } => format!("commit {sha}"),
        }
    }
}

impl fmt::Display for GitReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Branch(name) | Self::Tag(name) | Self::Semver(name) | Self::Name(name) => {
                f.write_str(name)
            }
            Self::Commit { sha, .. } => f.write_str(sha),
        }
    }
}

/// What to check out: the branch (or other reference) the automation
/// updates, and by default pushes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutSpec {
    /// The reference.
    pub reference: GitReference,
}

impl CheckoutSpec {
    /// Check out `branch`.
    pub fn branch(branch: impl Into<String>) -> Self {
        Self {
            reference: GitReference::Branch(branch.into()),
        }
    }

    /// The branch checked out, when the reference is a branch.
    pub fn branch_name(&self) -> Option<&str> {
        self.reference.branch()
    }
}

/// A commit's author (the committer is the same person).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    /// The name, e.g. `tagpilot`.
    pub name: String,
    /// The email address.
    pub email: String,
}

/// How commits are signed (`git.commit.signingKey`).
#[derive(Debug, Clone)]
pub enum SigningKey {
    /// git's SSH signature format (`gpg.format=ssh`).
    Ssh {
        /// An OpenSSH private key (the Secret's `identity`).
        private_key: Secret<Vec<u8>>,
        /// Its password, if it is encrypted.
        password: Option<Secret<String>>,
    },
    /// An OpenPGP key (Flux's default `type: gpg`).
    OpenPgp {
        /// The ASCII-armored private key (the Secret's `git.asc`).
        armored_key: Secret<Vec<u8>>,
        /// Its passphrase (the Secret's `passphrase`), if it is protected.
        passphrase: Option<Secret<String>>,
    },
}

/// A commit message template and the language it is written in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageTemplate {
    /// A `tagpilot.dev` object's template: Handlebars over tagpilot's data.
    Handlebars(String),
    /// A Flux object's template: Go `text/template` (with Sprig's hermetic
    /// functions) over Flux's data for `version`, rendered by
    /// [`crate::git::render_flux_message`]; `None` means Flux's default message.
    Flux {
        /// The template text, when the object sets one.
        source: Option<String>,
        /// The API version whose data it reads.
        version: FluxTemplateVersion,
    },
}

impl MessageTemplate {
    /// The template text, if any.
    pub fn source(&self) -> Option<&str> {
        match self {
            Self::Handlebars(source) => Some(source),
            Self::Flux { source, .. } => source.as_deref(),
        }
    }
}

impl From<&str> for MessageTemplate {
    fn from(source: &str) -> Self {
        Self::Handlebars(source.to_string())
    }
}

impl From<String> for MessageTemplate {
    fn from(source: String) -> Self {
        Self::Handlebars(source)
    }
}

/// How to make the automation's commit.
#[derive(Debug, Clone)]
pub struct CommitSpec {
    /// Author and committer.
    pub author: Author,
    /// The message template; `None` uses tagpilot's default message (see
    /// [`crate::git::render_commit_message`]).
    pub message_template: Option<MessageTemplate>,
    /// Sign the commit with this key.
    pub signing_key: Option<SigningKey>,
}

/// Where to push (`git.push`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushSpec {
    /// The branch to push to. `None` means the checkout branch, unless only a
    /// `refspec` is given, in which case only the refspec is pushed. A branch
    /// other than the checkout branch is tagpilot's own: it is rebuilt on the
    /// checkout branch's head each run and updated under a lease.
    pub branch: Option<String>,
    /// An extra refspec to push, e.g. `refs/heads/main:refs/heads/auto` or
    /// `HEAD:refs/for/main`. A forced refspec may not target the checkout branch.
    pub refspec: Option<String>,
    /// Push options sent to the server (`git push -o`), in `git.push.options`
    /// key order, each `key=value` as Flux sends them (`key=` when the value
    /// is empty: GitLab reads `merge_request.create=` as set).
    pub options: Vec<String>,
}

/// How often and how patiently a rejected push is retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (at least 1).
    pub attempts: u32,
    /// The pause before the second attempt; it doubles each time, with jitter.
    pub initial_backoff: Duration,
    /// The longest pause.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The pause after failed attempt `attempt` (1-based): exponential with
    /// "equal jitter", between half and all of the capped exponential delay.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(16);
        let delay = self
            .initial_backoff
            .saturating_mul(1 << exponent)
            .min(self.max_backoff);
        let half = delay / 2;
        let jitter_nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(fastrand::u64(0..=jitter_nanos))
    }
}

/// A commit's id (hex SHA-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CommitId(pub(crate) git2::Oid);

impl fmt::Display for CommitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_stays_within_jitter_bounds() {
        let policy = RetryPolicy {
            attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(300),
        };
        for _ in 0..50 {
            let first = policy.backoff(1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = policy.backoff(3);
            assert!(third >= Duration::from_millis(150) && third <= Duration::from_millis(300));
            let late = policy.backoff(40);
            assert!(late <= Duration::from_millis(300));
        }
    }

    #[test]
    fn credentials_debug_output_hides_secrets() {
        let credentials = Credentials::Basic {
            username: "bot".into(),
            password: Secret::new("pa55".into()),
        };
        let text = format!("{credentials:?}");
        assert!(text.contains("bot") && !text.contains("pa55"), "{text}");
    }
}

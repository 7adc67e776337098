//! The git module's errors. Messages name the repository (its URL without
//! credentials) and the branch, and say what to do next. [`GitError::is_transient`]
//! tells the engine whether retrying later may help.

use std::path::PathBuf;

/// What an error from the caller's `apply` step carries.
pub type ApplyError = Box<dyn std::error::Error + Send + Sync>;

/// Everything that can go wrong between cloning and pushing.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The repository URL has a scheme tagpilot cannot use or is malformed.
    #[error(
        "repository URL {url} is not usable: {reason}; use ssh://, https://, http://, file:// or an absolute path"
    )]
    InvalidUrl {
        /// The URL, credentials removed.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A branch, refspec or template in the spec is not valid.
    #[error("{what} {value:?} is not valid: {reason}")]
    InvalidSpec {
        /// Which field (e.g. `push refspec`).
        what: &'static str,
        /// Its value.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// The Secret's `known_hosts` cannot be parsed.
    #[error("known_hosts for {url}, line {line}: {reason}; fix the known_hosts key of the Secret")]
    InvalidKnownHosts {
        /// The repository URL.
        url: String,
        /// The 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The ssh identity (or signing key) cannot be read or decrypted.
    #[error("{what} for {url} cannot be used: {reason}")]
    InvalidKey {
        /// `ssh identity` or `signing key`.
        what: &'static str,
        /// The repository URL.
        url: String,
        /// What is wrong (never the key itself).
        reason: String,
    },
    /// The ssh server's host key is not in known_hosts (no trust on first use).
    #[error(
        "host key of {host} ({url}) is not in known_hosts: add the output of `ssh-keyscan {scan}` to the Secret's known_hosts"
    )]
    HostKeyUnknown {
        /// `host` or `[host]:port`.
        host: String,
        /// `-p PORT host` for ssh-keyscan.
        scan: String,
        /// The repository URL.
        url: String,
    },
    /// The ssh server's host key differs from the one(s) in known_hosts, or is revoked.
    #[error(
        "host key of {host} ({url}) does not match known_hosts ({detail}): the server changed its key or someone is intercepting the connection; check the key and update the Secret's known_hosts"
    )]
    HostKeyMismatch {
        /// `host` or `[host]:port`.
        host: String,
        /// The repository URL.
        url: String,
        /// `different key` or `key revoked`.
        detail: &'static str,
    },
    /// The https server's certificate is not signed by the configured CA.
    #[error("TLS certificate of {url} is not trusted: {reason}; check the Secret's ca.crt")]
    UntrustedCertificate {
        /// The repository URL.
        url: String,
        /// Why verification failed.
        reason: String,
    },
    /// The server refused the credentials (or asked for some and none were configured).
    #[error("authentication to {url} failed{user}: {hint}")]
    Authentication {
        /// The repository URL.
        url: String,
        /// ` as user NAME`, or empty.
        user: String,
        /// What to check.
        hint: &'static str,
    },
    /// The server redirected to another origin; credentials go to the
    /// configured origin only, so the redirect was not followed.
    #[error(
        "{url} redirected to {to}, another origin than the configured {origin}: tagpilot sends the repository's credentials only to the configured origin, so it did not follow; if you trust {to}, set the GitRepository's spec.url to the address it redirects to"
    )]
    Redirected {
        /// The repository URL.
        url: String,
        /// The origin the redirect led to.
        to: String,
        /// The configured origin.
        origin: String,
    },
    /// A fetch received more, or took longer, than its budget allows.
    #[error(
        "fetch from {url} stopped: {reason}, beyond the fetch budget; the server is misbehaving or the repository is far larger than a config repository should be"
    )]
    FetchBudget {
        /// The repository URL.
        url: String,
        /// Which limit.
        reason: String,
    },
    /// The branch to check out does not exist on the remote.
    #[error("branch {branch:?} does not exist in {url}: create it or fix git.checkout.ref.branch")]
    BranchNotFound {
        /// The repository URL.
        url: String,
        /// The branch.
        branch: String,
    },
    /// The tag, semver range, reference or commit to check out matches nothing on the remote.
    #[error("{reference} is not in {url}: {hint}")]
    ReferenceNotFound {
        /// The repository URL.
        url: String,
        /// What was looked for ([`crate::git::GitReference::describe`]).
        reference: String,
        /// What was seen, and what to fix.
        hint: String,
    },
    /// A fetch or push did not finish within the GitRepository's timeout.
    #[error(
        "{operation} of {reference} from/to {url} did not finish within the timeout of {timeout}: the server or the network stalled; if the repository is just large, raise the GitRepository's spec.timeout"
    )]
    Timeout {
        /// `fetch` or `push`.
        operation: &'static str,
        /// What was fetched or pushed.
        reference: String,
        /// The repository URL.
        url: String,
        /// The timeout, as Go writes durations (`1m0s`).
        timeout: String,
    },
    /// The proxy of the GitRepository's `proxySecretRef` did not let the connection through.
    #[error(
        "{url} could not be reached through the proxy {proxy}: {reason}; check the proxySecretRef Secret (address, username, password)"
    )]
    Proxy {
        /// The repository URL.
        url: String,
        /// The proxy, without credentials.
        proxy: String,
        /// What the proxy answered (never its credentials).
        reason: String,
    },
    /// A network or server failure while fetching or pushing.
    #[error("{operation} of {reference} from/to {url} failed")]
    Remote {
        /// `fetch` or `push`.
        operation: &'static str,
        /// The repository URL.
        url: String,
        /// What was fetched or pushed, e.g. `branch "main"` or `tag "v1.0.0"`.
        reference: String,
        /// libgit2's error.
        #[source]
        source: git2::Error,
    },
    /// A local git operation on the working copy failed.
    #[error("working copy {path} of {url}: {action} failed")]
    WorkingCopy {
        /// The working copy.
        path: PathBuf,
        /// The repository URL.
        url: String,
        /// What was being done.
        action: &'static str,
        /// libgit2's error.
        #[source]
        source: git2::Error,
    },
    /// A file system operation in the state directory failed.
    #[error("{action} {path} failed: check the state directory's permissions and free space")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The commit message template does not compile.
    #[error("commit message template is not valid Handlebars: fix git.commit.messageTemplate")]
    TemplateSyntax {
        /// Handlebars' error (line and column).
        #[source]
        source: Box<handlebars::TemplateError>,
    },
    /// The commit message template names a variable the template data lacks.
    #[error(
        "commit message template uses {variable:?}, which is not in the template data (automation, changes, images, values): fix git.commit.messageTemplate or add it to messageTemplateValues"
    )]
    TemplateUnknownVariable {
        /// The variable's path as written in the template.
        variable: String,
    },
    /// Rendering the commit message failed otherwise.
    #[error("commit message template cannot be rendered: fix git.commit.messageTemplate")]
    TemplateRender {
        /// Handlebars' error.
        #[source]
        source: Box<handlebars::RenderError>,
    },
    /// A Flux object's Go template failed to parse or to render; the cause is
    /// Flux's own message (e.g. a v1 template using the removed `.Updated`).
    #[error("commit message template (git.commit.messageTemplate): {source}")]
    FluxMessage {
        /// Flux's error.
        #[source]
        source: super::flux_message::FluxMessageError,
    },
    /// Creating the commit signature failed.
    #[error("signing the commit for {url} failed: {reason}")]
    Signing {
        /// The repository URL.
        url: String,
        /// What went wrong (never the key).
        reason: String,
    },
    /// The server (or libgit2, for a non-fast-forward update) refused to update a reference.
    #[error("push of {reference} to {url} was rejected: {reason}")]
    PushRejected {
        /// The remote reference.
        url: String,
        /// The reference, e.g. `refs/heads/main`.
        reference: String,
        /// The server's or libgit2's reason, with what the server's hooks printed.
        reason: String,
        /// Whether the branch moved under the push (fetching, re-applying and
        /// pushing again can succeed), rather than a refusal such as a hook's
        /// or a protected branch's, which would refuse the retry too.
        branch_moved: bool,
    },
    /// Push options were configured and the server does not accept any.
    #[error(
        "{url} does not accept push options (it does not advertise push-options), so git.push.options cannot be sent and nothing was pushed: enable them on the server (for git: receive.advertisePushOptions=true) or remove git.push.options"
    )]
    PushOptionsNotSupported {
        /// The repository URL.
        url: String,
    },
    /// The push branch moved on the remote since tagpilot last pushed it.
    #[error(
        "push branch {branch:?} in {url} is at {actual}, not at the commit tagpilot last pushed ({expected}): someone else changed tagpilot's branch; delete the remote branch to let tagpilot recreate it, or choose another git.push.branch"
    )]
    LeaseBroken {
        /// The repository URL.
        url: String,
        /// The push branch.
        branch: String,
        /// What tagpilot expected (`none` if it never pushed it).
        expected: String,
        /// What the remote has.
        actual: String,
    },
    /// Every push attempt was rejected because the branch kept moving.
    #[error("push to branch {branch:?} of {url} still rejected after {attempts} attempts")]
    RetriesExhausted {
        /// The repository URL.
        url: String,
        /// The branch.
        branch: String,
        /// How many attempts were made.
        attempts: u32,
        /// The last rejection.
        #[source]
        source: Box<GitError>,
    },
    /// The caller's update step failed.
    #[error("updating the working copy of {url} failed")]
    Apply {
        /// The repository URL.
        url: String,
        /// The caller's error.
        #[source]
        source: ApplyError,
    },
    /// The blocking task running libgit2 panicked or was cancelled.
    #[error("git task failed")]
    Task {
        /// Tokio's error.
        #[source]
        source: tokio::task::JoinError,
    },
}

impl GitError {
    /// Whether trying again later may succeed without changing configuration
    /// (network failures, rejections from concurrent pushes, a busy state directory).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Remote { .. }
            | Self::Timeout { .. }
            | Self::Proxy { .. }
            | Self::PushRejected { .. }
            | Self::RetriesExhausted { .. }
            | Self::Io { .. }
            | Self::WorkingCopy { .. }
            | Self::Task { .. } => true,
            Self::InvalidUrl { .. }
            | Self::InvalidSpec { .. }
            | Self::InvalidKnownHosts { .. }
            | Self::InvalidKey { .. }
            | Self::HostKeyUnknown { .. }
            | Self::HostKeyMismatch { .. }
            | Self::UntrustedCertificate { .. }
            | Self::Authentication { .. }
            | Self::Redirected { .. }
            | Self::FetchBudget { .. }
            | Self::BranchNotFound { .. }
            | Self::ReferenceNotFound { .. }
            | Self::TemplateSyntax { .. }
            | Self::TemplateUnknownVariable { .. }
            | Self::TemplateRender { .. }
            | Self::FluxMessage { .. }
            | Self::Signing { .. }
            | Self::LeaseBroken { .. }
            | Self::PushOptionsNotSupported { .. }
            | Self::Apply { .. } => false,
        }
    }

    /// Whether this is a rejection that fetching, re-applying and pushing again
    /// can resolve: the branch moved under the push.
    pub fn is_branch_moved(&self) -> bool {
        matches!(
            self,
            Self::PushRejected {
                branch_moved: true,
                ..
            }
        )
    }

    /// Whether the remote refused the push (whatever the reason), as opposed to
    /// failing before it (network, credentials, the update itself).
    pub fn is_refused_push(&self) -> bool {
        matches!(
            self,
            Self::PushRejected { .. }
                | Self::RetriesExhausted { .. }
                | Self::LeaseBroken { .. }
                | Self::PushOptionsNotSupported { .. }
        )
    }
}

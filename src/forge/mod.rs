//! Pull requests instead of pushes: an automation with
//! `spec.git.push.pullRequest` pushes to its own branch, and this module keeps
//! one pull (GitLab: merge) request from that branch to the checkout branch on
//! the forge: opened when the branch holds a change, its title and body kept
//! equal to the commit message, closed (with a comment saying why) when the
//! checkout branch no longer needs the change.
//!
//! Data flow: `config` validates the spec into a [`PullRequestSpec`] (which
//! forge, where its API is — [`ForgeTarget`], derived from the repository URL
//! — and the token, from the GitRepository's Secret) → after the git module
//! pushed (or found the branch already current, or found nothing to change),
//! the engine calls [`propose`] or [`withdraw`] with a [`Forge`] made by
//! [`connect`] → the [`Reconciled`] outcome becomes status, an event and a
//! log line.
//!
//! Each forge is one file behind the narrow [`Forge`] trait: [`gitea`]
//! (Gitea and Forgejo, API v1), [`gitlab`] (API v4), [`github`] (REST v3).
//! They share [`http`]: bounded answers, timeouts, retries, no redirects, the
//! token in one sensitive header and never in a message (invariant 7).

pub mod endpoint;
pub mod error;
pub mod gitea;
pub mod github;
pub mod gitlab;
pub mod http;
mod reconcile;

use std::future::Future;

pub use endpoint::{ForgeKind, ForgeTarget};
pub use error::ForgeError;
pub use http::{ForgeHttp, ForgeToken};
pub use reconcile::{
    Action, CLOSE_COMMENT, Reconciled, Recorded, RecordedState, propose, split_message, withdraw,
};

/// What the automation asks for (`spec.git.push.pullRequest`, validated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestSpec {
    /// The forge and repository.
    pub target: ForgeTarget,
    /// The token.
    pub token: ForgeToken,
    /// PEM CA certificates for the API (the GitRepository Secret's `ca.crt`).
    pub ca_certificate: Option<Vec<u8>>,
}

/// The state of a pull request on the forge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullRequestState {
    /// Open for review.
    Open,
    /// Closed without merging.
    Closed,
    /// Merged.
    Merged,
}

/// A pull (merge) request as the forge returned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    /// Its number (GitLab: the project-level `iid`).
    pub number: u64,
    /// Its web page.
    pub url: String,
    /// The title.
    pub title: String,
    /// The description (empty when the forge has none).
    pub body: String,
    /// Open, closed or merged.
    pub state: PullRequestState,
}

/// A pull request to open or keep: from `head` into `base`, titled and
/// described by the commit message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    /// The source branch (the automation's push branch).
    pub head: String,
    /// The target branch (the checkout branch).
    pub base: String,
    /// The title: the message's first line.
    pub title: String,
    /// The body: the rest of the message.
    pub body: String,
}

/// The operations tagpilot needs from a forge, on one repository. Branches are
/// of that repository (no forks).
pub trait Forge: Send + Sync {
    /// Which forge.
    fn kind(&self) -> ForgeKind;

    /// The open pull request from `head` into `base`, if any.
    fn find_open(
        &self,
        head: &str,
        base: &str,
    ) -> impl Future<Output = Result<Option<PullRequest>, ForgeError>> + Send;

    /// Pull request `number`, in whatever state.
    fn get(&self, number: u64) -> impl Future<Output = Result<PullRequest, ForgeError>> + Send;

    /// Opens a pull request.
    fn create(
        &self,
        proposal: &Proposal,
    ) -> impl Future<Output = Result<PullRequest, ForgeError>> + Send;

    /// Sets the title and body of pull request `number`.
    fn edit(
        &self,
        number: u64,
        title: &str,
        body: &str,
    ) -> impl Future<Output = Result<PullRequest, ForgeError>> + Send;

    /// Adds a comment to pull request `number`.
    fn comment(
        &self,
        number: u64,
        text: &str,
    ) -> impl Future<Output = Result<(), ForgeError>> + Send;

    /// Closes pull request `number` without merging.
    fn close(&self, number: u64) -> impl Future<Output = Result<PullRequest, ForgeError>> + Send;
}

/// A client for one of the forges, chosen by [`ForgeTarget::kind`].
#[derive(Debug)]
pub enum AnyForge {
    /// Gitea / Forgejo.
    Gitea(gitea::Gitea),
    /// GitLab.
    GitLab(gitlab::GitLab),
    /// GitHub.
    GitHub(github::GitHub),
}

/// The client `spec` asks for.
pub fn connect(spec: &PullRequestSpec) -> Result<AnyForge, ForgeError> {
    let target = &spec.target;
    let token = spec.token.clone();
    let ca = spec.ca_certificate.as_deref();
    Ok(match target.kind {
        ForgeKind::Gitea => AnyForge::Gitea(gitea::Gitea::new(target, token, ca)?),
        ForgeKind::GitLab => AnyForge::GitLab(gitlab::GitLab::new(target, token, ca)?),
        ForgeKind::GitHub => AnyForge::GitHub(github::GitHub::new(target, token, ca)?),
    })
}

macro_rules! dispatch {
    ($self:ident, $forge:ident => $call:expr) => {
        match $self {
            AnyForge::Gitea($forge) => $call.await,
            AnyForge::GitLab($forge) => $call.await,
            AnyForge::GitHub($forge) => $call.await,
        }
    };
}

impl Forge for AnyForge {
    fn kind(&self) -> ForgeKind {
        match self {
            Self::Gitea(forge) => forge.kind(),
            Self::GitLab(forge) => forge.kind(),
            Self::GitHub(forge) => forge.kind(),
        }
    }

    async fn find_open(&self, head: &str, base: &str) -> Result<Option<PullRequest>, ForgeError> {
        dispatch!(self, forge => forge.find_open(head, base))
    }

    async fn get(&self, number: u64) -> Result<PullRequest, ForgeError> {
        dispatch!(self, forge => forge.get(number))
    }

    async fn create(&self, proposal: &Proposal) -> Result<PullRequest, ForgeError> {
        dispatch!(self, forge => forge.create(proposal))
    }

    async fn edit(&self, number: u64, title: &str, body: &str) -> Result<PullRequest, ForgeError> {
        dispatch!(self, forge => forge.edit(number, title, body))
    }

    async fn comment(&self, number: u64, text: &str) -> Result<(), ForgeError> {
        dispatch!(self, forge => forge.comment(number, text))
    }

    async fn close(&self, number: u64) -> Result<PullRequest, ForgeError> {
        dispatch!(self, forge => forge.close(number))
    }
}

/// A path segment percent-encoded for a URL path (`/` included: GitLab's
/// project path is one segment).
pub(crate) fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `owner/name` as two encoded path segments.
pub(crate) fn repository_path(repository: &str) -> String {
    repository
        .split('/')
        .map(path_segment)
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(path_segment("group/sub/app"), "group%2Fsub%2Fapp");
        assert_eq!(repository_path("bot/con fig"), "bot/con%20fig");
    }
}

//! One automation run: prepare the working copy, apply the policy results,
//! commit (at most once: invariant 5), push; on a rejected push fetch, reset,
//! re-apply the same results, commit and push again after a jittered backoff,
//! up to [`RetryPolicy::attempts`], never forcing the checkout branch
//! (invariant 6). A crash anywhere leaves nothing the next run would keep: it
//! starts by resetting to the remote head, so a result is pushed once.

use std::collections::BTreeMap;
use std::path::Path;

use super::error::{ApplyError, GitError};
use super::message::{AutomationRef, ChangeSet, MessageData};
use super::spec::{CheckoutSpec, CommitId, CommitSpec, PushSpec, RepoSpec, RetryPolicy};
use super::workcopy::GitWorkspace;

/// Everything one ImageUpdateAutomation run needs from the git side.
#[derive(Debug, Clone)]
pub struct AutomationSpec {
    /// The automation (for the message template and logs).
    pub automation: AutomationRef,
    /// The repository.
    pub repo: RepoSpec,
    /// The branch to check out.
    pub checkout: CheckoutSpec,
    /// How to commit.
    pub commit: CommitSpec,
    /// Where to push.
    pub push: PushSpec,
    /// `messageTemplateValues`.
    pub values: BTreeMap<String, String>,
    /// `spec.update.path` relative to the repository root (`""` for the
    /// root): Flux's template data names files relative to it.
    pub update_path: String,
    /// How to retry rejected pushes.
    pub retry: RetryPolicy,
}

/// What an automation run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AutomationOutcome {
    /// The policy results are already on the checkout branch: no new commit,
    /// no push.
    NoChange {
        /// The head that holds them.
        head: CommitId,
    },
    /// A separate push branch already holds the change, rebuilt from the same
    /// checkout head (it awaits review): no push.
    AlreadyPushed {
        /// The push branch's head.
        head: CommitId,
        /// The commit message the change has now (its first line is a pull
        /// request's title).
        message: String,
    },
    /// A commit was made and pushed.
    Pushed {
        /// The commit.
        commit: CommitId,
        /// The refspecs pushed.
        refspecs: Vec<String>,
        /// What changed.
        changes: ChangeSet,
        /// Push attempts made (1 when the first push landed).
        attempts: u32,
        /// The commit message.
        message: String,
    },
}

/// Runs one automation (blocking; see [`run_automation`] for async callers).
///
/// `apply` rewrites files under the working tree it is given and says what it
/// changed; it is called again, on a freshly reset tree, after each rejected
/// push, so it must derive its changes from the files alone.
pub fn run_automation_blocking<F>(
    workspace: &GitWorkspace,
    spec: &AutomationSpec,
    mut apply: F,
) -> Result<AutomationOutcome, GitError>
where
    F: FnMut(&Path) -> Result<ChangeSet, ApplyError>,
{
    let mut checkout = workspace.prepare_for(&spec.automation, &spec.repo, &spec.checkout)?;
    let attempts = spec.retry.attempts.max(1);
    let mut attempt = 1;
    loop {
        let changes = apply(checkout.path()).map_err(|source| GitError::Apply {
            url: checkout.url().to_string(),
            source,
        })?;
        let data = MessageData::new(spec.automation.clone(), &changes, spec.values.clone())
            .with_update_path(spec.update_path.as_str());
        let Some(commit) = checkout.commit(&spec.commit, &data)? else {
            return Ok(AutomationOutcome::NoChange {
                head: checkout.base(),
            });
        };
        let message = checkout.commit_message(commit)?;
        match checkout.push(&spec.push) {
            Ok(outcome) if outcome.already_current => {
                return Ok(AutomationOutcome::AlreadyPushed {
                    head: outcome.commit,
                    message,
                });
            }
            Ok(outcome) => {
                return Ok(AutomationOutcome::Pushed {
                    commit,
                    refspecs: outcome.refspecs,
                    changes,
                    attempts: attempt,
                    message,
                });
            }
            Err(error) if error.is_branch_moved() && attempt < attempts => {
                let pause = spec.retry.backoff(attempt);
                tracing::info!(
                    namespace = %spec.automation.namespace,
                    name = %spec.automation.name,
                    url = %checkout.url(),
                    %error,
                    attempt,
                    pause_ms = pause.as_millis() as u64,
                    "push rejected; fetching and re-applying"
                );
                std::thread::sleep(pause);
                attempt += 1;
                checkout.refresh()?;
            }
            Err(error) if error.is_branch_moved() => {
                return Err(GitError::RetriesExhausted {
                    url: checkout.url().to_string(),
                    branch: spec
                        .push
                        .branch
                        .clone()
                        .unwrap_or_else(|| checkout.branch().to_string()),
                    attempts: attempt,
                    source: Box::new(error),
                });
            }
            Err(error) => return Err(error),
        }
    }
}

impl super::workcopy::Checkout {
    /// The message of local commit `commit`.
    fn commit_message(&self, commit: CommitId) -> Result<String, GitError> {
        self.repo
            .find_commit(commit.0)
            .map(|found| String::from_utf8_lossy(found.message_bytes()).into_owned())
            .map_err(|source| self.local_error("reading the commit message", source))
    }
}

/// Runs one automation on a blocking thread (libgit2 blocks): prepare → apply
/// → commit → push, with retries (see [`run_automation_blocking`]).
pub async fn run_automation<F>(
    workspace: GitWorkspace,
    spec: AutomationSpec,
    apply: F,
) -> Result<AutomationOutcome, GitError>
where
    F: FnMut(&Path) -> Result<ChangeSet, ApplyError> + Send + 'static,
{
    tokio::task::spawn_blocking(move || run_automation_blocking(&workspace, &spec, apply))
        .await
        .map_err(|source| GitError::Task { source })?
}

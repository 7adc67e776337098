//! The engine's side of `spec.git.push.pullRequest`: after the git module
//! pushed the automation's branch (or found it already holding the change),
//! keep the pull request open with the commit message as title and body;
//! after a run that found nothing to change, close it. What the forge said
//! goes into the run's report and from there into the status; a forge that
//! cannot be reached is the run's error, and the next run (the branch still
//! holds the change) tries again, so no change is lost.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::cycle::AutomationReport;
use super::metrics::Metrics;
use crate::config::automation::AutomationEntry;
use crate::config::meta::ObjectKey;
use crate::forge::{self, Action, Proposal, PullRequestSpec, Reconciled, Recorded, RecordedState};
use crate::git::{AutomationOutcome, GitError};

/// The longest a pull request's reconciliation may take (all requests, retries included).
pub const FORGE_BUDGET: Duration = Duration::from_secs(120);

/// What a run wants of the pull request.
#[derive(Debug, Clone)]
pub(crate) enum Wanted {
    /// Open (or kept up to date) for this proposal and branch head.
    Open {
        proposal: Proposal,
        commit: String,
        pushed: bool,
    },
    /// Closed: the checkout branch needs no change.
    Closed { head: String, base: String },
}

/// What the status remembers of an automation's pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PullRequestStatus {
    /// Its number on the forge (GitLab: the merge request's `iid`).
    pub number: u64,
    /// Its web page.
    pub url: String,
    /// `open`, `closed` (by tagpilot: no longer needed), `declined` (closed by
    /// someone else; not reopened until the change differs) or `merged`.
    pub state: String,
    /// The branch head it proposes (or proposed).
    pub commit: String,
}

/// What one run did to the pull request (in the run's report).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PullRequestReport {
    /// `opened`, `updated`, `unchanged`, `closed`, `declined` or `merged`.
    pub action: &'static str,
    /// The pull request as the status now records it.
    #[serde(flatten)]
    pub status: PullRequestStatus,
}

impl PullRequestReport {
    /// The event reason (`PullRequestOpened`, `…Updated`, `…Closed`) when
    /// the action is one a person wants to hear of.
    pub fn event_reason(&self) -> Option<&'static str> {
        action_from_name(self.action).and_then(Action::event_reason)
    }

    /// An event's or output line's text: `opened pull request #3 (URL)`.
    pub fn note(&self) -> String {
        let (number, url) = (self.status.number, &self.status.url);
        match self.action {
            "unchanged" => format!("pull request #{number} is up to date ({url})"),
            "declined" => format!(
                "pull request #{number} was closed without merging; not proposed again until the change differs ({url})"
            ),
            "merged" => format!("pull request #{number} was merged ({url})"),
            action => format!("{action} pull request #{number} ({url})"),
        }
    }
}

fn action_name(action: Action) -> &'static str {
    match action {
        Action::Opened => "opened",
        Action::Updated => "updated",
        Action::Unchanged => "unchanged",
        Action::Closed => "closed",
        Action::Declined => "declined",
        Action::Merged => "merged",
        Action::Nothing => "nothing",
    }
}

fn action_from_name(name: &str) -> Option<Action> {
    [
        Action::Opened,
        Action::Updated,
        Action::Unchanged,
        Action::Closed,
        Action::Declined,
        Action::Merged,
    ]
    .into_iter()
    .find(|action| action_name(*action) == name)
}

fn recorded(status: &PullRequestStatus) -> Recorded {
    Recorded {
        number: status.number,
        commit: status.commit.clone(),
        state: match status.state.as_str() {
            "open" => RecordedState::Open,
            "declined" => RecordedState::Declined,
            "merged" => RecordedState::Merged,
            _ => RecordedState::Closed,
        },
    }
}

/// What `outcome` asks of the pull request of `entry` (none without `pullRequest`, or after a failed run).
pub(crate) fn wanted(
    entry: &AutomationEntry,
    outcome: &Result<AutomationOutcome, GitError>,
) -> Option<Wanted> {
    entry.pull_request.as_ref()?;
    let head = entry.push.branch.clone()?;
    let base = entry.checkout.branch_name()?.to_string();
    let open = |message: &str, commit: String, pushed| {
        let (title, body) = forge::split_message(message);
        Wanted::Open {
            proposal: Proposal {
                head: head.clone(),
                base: base.clone(),
                title,
                body,
            },
            commit,
            pushed,
        }
    };
    match outcome.as_ref().ok()? {
        AutomationOutcome::Pushed {
            commit, message, ..
        } => Some(open(message, commit.to_string(), true)),
        AutomationOutcome::AlreadyPushed { head, message } => {
            Some(open(message, head.to_string(), false))
        }
        AutomationOutcome::NoChange { .. } => Some(Wanted::Closed {
            head: head.clone(),
            base,
        }),
    }
}

/// Brings the pull request to `wanted`; `previous` is what the status holds.
/// `Ok(None)`: no pull request, none needed. Errors are messages for the
/// run's report (they name the automation's forge and the HTTP status).
pub(crate) async fn reconcile(
    spec: &PullRequestSpec,
    wanted: Wanted,
    previous: Option<&PullRequestStatus>,
) -> Result<Option<PullRequestReport>, String> {
    let forge = forge::connect(spec).map_err(|e| e.to_string())?;
    let before = previous.map(recorded);
    let (result, commit) = match &wanted {
        Wanted::Open {
            proposal,
            commit,
            pushed,
        } => (
            tokio::time::timeout(
                FORGE_BUDGET,
                forge::propose(&forge, proposal, commit, *pushed, before.as_ref()),
            )
            .await,
            commit.clone(),
        ),
        Wanted::Closed { head, base } => (
            tokio::time::timeout(
                FORGE_BUDGET,
                forge::withdraw(&forge, head, base, before.as_ref()),
            )
            .await,
            previous.map(|p| p.commit.clone()).unwrap_or_default(),
        ),
    };
    let Reconciled {
        action,
        pull_request,
    } = result
        .map_err(|_| {
            forge::ForgeError::Timeout {
                forge: spec.target.kind,
                seconds: FORGE_BUDGET.as_secs(),
            }
            .to_string()
        })?
        .map_err(|e| e.to_string())?;
    let state = match action {
        Action::Opened | Action::Updated | Action::Unchanged => "open",
        Action::Closed => "closed",
        Action::Declined => "declined",
        Action::Merged => "merged",
        Action::Nothing => return Ok(None),
    };
    let status = match (pull_request, previous) {
        (Some(pull), _) => PullRequestStatus {
            number: pull.number,
            url: crate::redact::url(&pull.url),
            state: state.to_string(),
            commit,
        },
        // Declined without a new answer: what the status held, marked.
        (None, Some(previous)) => PullRequestStatus {
            state: state.to_string(),
            ..previous.clone()
        },
        (None, None) => return Ok(None),
    };
    Ok(Some(PullRequestReport {
        action: action_name(action),
        status,
    }))
}

/// [`reconcile`] for automation `key`, its outcome logged, counted and put
/// in `report` (a failure as the run's error, after any git error).
pub(crate) async fn reconcile_into(
    key: &ObjectKey,
    spec: &PullRequestSpec,
    wanted: Wanted,
    previous: Option<&PullRequestStatus>,
    metrics: &Metrics,
    report: &mut AutomationReport,
) {
    let waiting = match &wanted {
        Wanted::Open { proposal, .. } => format!(
            " (the change waits on branch {}; the next run proposes it again)",
            proposal.head
        ),
        Wanted::Closed { .. } => " (the next run tries again)".to_string(),
    };
    match reconcile(spec, wanted, previous).await {
        Ok(Some(pull_request)) => {
            if pull_request.action == "unchanged" {
                tracing::debug!(automation = %key, url = %pull_request.status.url, "pull request up to date");
            } else {
                tracing::info!(
                    automation = %key,
                    number = pull_request.status.number,
                    url = %pull_request.status.url,
                    "pull request {}",
                    pull_request.action
                );
                metrics.increment(
                    "tagpilot_pull_requests_total",
                    &[("action", pull_request.action)],
                );
            }
            report.pull_request = Some(pull_request);
        }
        Ok(None) => {}
        Err(message) => {
            let message = format!("{message}{waiting}");
            tracing::warn!(automation = %key, error = %message, "pull request not reconciled");
            report.error = Some(match report.error.take() {
                Some(git) => format!("{git}; {message}"),
                None => message,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_name_the_event_a_person_sees() {
        let report = PullRequestReport {
            action: "opened",
            status: PullRequestStatus {
                number: 3,
                url: "http://gitea/bot/config/pulls/3".into(),
                state: "open".into(),
                commit: "abc".into(),
            },
        };
        assert_eq!(report.event_reason(), Some("PullRequestOpened"));
        assert_eq!(
            report.note(),
            "opened pull request #3 (http://gitea/bot/config/pulls/3)"
        );
        let unchanged = PullRequestReport {
            action: "unchanged",
            ..report
        };
        assert_eq!(unchanged.event_reason(), None);
        assert_eq!(
            unchanged.note(),
            "pull request #3 is up to date (http://gitea/bot/config/pulls/3)"
        );
        assert_eq!(
            recorded(&unchanged.status),
            Recorded {
                number: 3,
                commit: "abc".into(),
                state: RecordedState::Open
            }
        );
    }
}

//! Keeping one pull request per automation in the state the repository asks
//! for. Idempotent: run it after every automation run and it converges.
//!
//! [`propose`] (the push branch holds a change): update the open pull request
//! from head into base, or open one. It does not reopen what a person closed:
//! when the branch still holds the very commit of a pull request tagpilot had
//! open and that pull request is now closed without merging, the outcome is
//! [`Action::Declined`] until the branch holds a different change.
//! [`withdraw`] (the checkout branch needs no change): comment and close the
//! open pull request, if any.
//!
//! A `POST` that failed in transit may still have opened the pull request, so
//! after a transient failure to create, it looks again before trying again.

use super::{Forge, ForgeError, Proposal, PullRequest, PullRequestState};

/// The comment a pull request gets when tagpilot closes it.
pub const CLOSE_COMMENT: &str = "Closed by tagpilot: the target branch needs no change any more (it already holds the images the policies select).";

/// Title used when a commit message has no first line.
const DEFAULT_TITLE: &str = "Update images";

/// Longest title sent (GitHub, GitLab and Gitea refuse longer ones at 255/256).
const MAX_TITLE_CHARS: usize = 250;

/// Longest body sent (GitHub's limit is 65536 characters).
const MAX_BODY_CHARS: usize = 60_000;

/// Creating is tried at most this many times (each after looking again).
const CREATE_ATTEMPTS: u32 = 3;

/// What reconciling did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A pull request was opened.
    Opened,
    /// The open pull request got new commits, a new title or body.
    Updated,
    /// The open pull request was already as wanted.
    Unchanged,
    /// tagpilot closed the pull request: no change is needed any more.
    Closed,
    /// A person closed tagpilot's pull request without merging; it stays
    /// closed until the branch holds a different change.
    Declined,
    /// The pull request tagpilot had open was merged.
    Merged,
    /// No pull request, none needed.
    Nothing,
}

impl Action {
    /// The event reason for actions a person wants to hear of.
    pub fn event_reason(self) -> Option<&'static str> {
        match self {
            Self::Opened => Some("PullRequestOpened"),
            Self::Updated => Some("PullRequestUpdated"),
            Self::Closed => Some("PullRequestClosed"),
            Self::Declined | Self::Merged | Self::Unchanged | Self::Nothing => None,
        }
    }
}

/// What the status remembers of the last pull request (for [`Action::Declined`] and merges).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// Its number.
    pub number: u64,
    /// The branch head it proposed.
    pub commit: String,
    /// Its state as tagpilot last left or saw it.
    pub state: RecordedState,
}

/// The state of a [`Recorded`] pull request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordedState {
    /// Open.
    Open,
    /// Closed by tagpilot.
    Closed,
    /// Closed by someone else without merging.
    Declined,
    /// Merged.
    Merged,
}

/// The outcome of [`propose`] or [`withdraw`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciled {
    /// What was done.
    pub action: Action,
    /// The pull request concerned, as the forge last returned it.
    pub pull_request: Option<PullRequest>,
}

/// A commit message as a title (first line, shortened) and body (the rest).
pub fn split_message(message: &str) -> (String, String) {
    let message = message.replace("\r\n", "\n");
    let message = message.trim_start_matches('\n');
    let (first, rest) = message.split_once('\n').unwrap_or((message, ""));
    let first = first.trim();
    let title = if first.is_empty() {
        DEFAULT_TITLE.to_string()
    } else if first.chars().count() > MAX_TITLE_CHARS {
        let mut title: String = first.chars().take(MAX_TITLE_CHARS - 1).collect();
        title.push('…');
        title
    } else {
        first.to_string()
    };
    let rest = rest.trim_matches('\n').trim_end();
    let body = if rest.chars().count() > MAX_BODY_CHARS {
        let mut body: String = rest.chars().take(MAX_BODY_CHARS).collect();
        body.push_str("\n\n(shortened by tagpilot: the commit message holds the rest)");
        body
    } else {
        rest.to_string()
    };
    (title, body)
}

/// Texts equal as a forge stores them (line endings, trailing white space).
fn same_text(a: &str, b: &str) -> bool {
    a.replace("\r\n", "\n").trim_end() == b.replace("\r\n", "\n").trim_end()
}

/// Keeps a pull request open for `proposal`. `commit` is the push branch's
/// head, `pushed` whether this run moved it, `previous` what the status holds.
pub async fn propose<F: Forge>(
    forge: &F,
    proposal: &Proposal,
    commit: &str,
    pushed: bool,
    previous: Option<&Recorded>,
) -> Result<Reconciled, ForgeError> {
    let open = match forge.find_open(&proposal.head, &proposal.base).await? {
        Some(open) => Some(open),
        None => match previous {
            Some(recorded) if !pushed && recorded.commit == commit => {
                match recorded.state {
                    RecordedState::Declined => {
                        return Ok(Reconciled {
                            action: Action::Declined,
                            pull_request: None,
                        });
                    }
                    RecordedState::Open => {
                        let known = forge.get(recorded.number).await?;
                        match known.state {
                            PullRequestState::Closed => {
                                return Ok(Reconciled {
                                    action: Action::Declined,
                                    pull_request: Some(known),
                                });
                            }
                            PullRequestState::Merged => {
                                return Ok(Reconciled {
                                    action: Action::Merged,
                                    pull_request: Some(known),
                                });
                            }
                            // Open after all (the list missed it): keep it.
                            PullRequestState::Open => Some(known),
                        }
                    }
                    RecordedState::Closed | RecordedState::Merged => None,
                }
            }
            _ => None,
        },
    };
    if let Some(open) = open {
        if same_text(&open.title, &proposal.title) && same_text(&open.body, &proposal.body) {
            return Ok(Reconciled {
                action: if pushed {
                    Action::Updated
                } else {
                    Action::Unchanged
                },
                pull_request: Some(open),
            });
        }
        let edited = forge
            .edit(open.number, &proposal.title, &proposal.body)
            .await?;
        return Ok(Reconciled {
            action: Action::Updated,
            pull_request: Some(edited),
        });
    }
    let mut attempt = 1;
    loop {
        match forge.create(proposal).await {
            Ok(created) => {
                return Ok(Reconciled {
                    action: Action::Opened,
                    pull_request: Some(created),
                });
            }
            // In transit (it may have landed), or refused as a duplicate
            // (someone, or a run that timed out, opened it meanwhile).
            Err(error) if error.is_transient() || matches!(error.status(), Some(409 | 422)) => {
                if let Some(found) = forge.find_open(&proposal.head, &proposal.base).await? {
                    return Ok(Reconciled {
                        action: Action::Opened,
                        pull_request: Some(found),
                    });
                }
                if attempt >= CREATE_ATTEMPTS || !error.is_transient() {
                    return Err(error);
                }
                attempt += 1;
            }
            Err(error) => return Err(error),
        }
    }
}

/// Closes the open pull request from `head` into `base`, with
/// [`CLOSE_COMMENT`]; with none open, notes a merge of the one `previous` says
/// was open.
pub async fn withdraw<F: Forge>(
    forge: &F,
    head: &str,
    base: &str,
    previous: Option<&Recorded>,
) -> Result<Reconciled, ForgeError> {
    if let Some(open) = forge.find_open(head, base).await? {
        if let Err(error) = forge.comment(open.number, CLOSE_COMMENT).await {
            // The comment only explains; closing is what matters.
            tracing::warn!(forge = %forge.kind(), number = open.number, %error, "cannot comment before closing");
        }
        let closed = forge.close(open.number).await?;
        return Ok(Reconciled {
            action: Action::Closed,
            pull_request: Some(closed),
        });
    }
    if let Some(recorded) = previous.filter(|r| r.state == RecordedState::Open) {
        let known = forge.get(recorded.number).await?;
        let action = match known.state {
            PullRequestState::Merged => Action::Merged,
            PullRequestState::Closed => Action::Declined,
            PullRequestState::Open => Action::Nothing,
        };
        return Ok(Reconciled {
            action,
            pull_request: Some(known),
        });
    }
    Ok(Reconciled {
        action: Action::Nothing,
        pull_request: None,
    })
}

#[cfg(test)]
#[path = "reconcile_tests.rs"]
mod tests;

//! Pushing: the checkout branch is only ever fast-forwarded (invariant 6); a
//! separate push branch is tagpilot's own and is rebuilt on the checkout head
//! (the branch head, or the commit a tag, semver range, reference or commit
//! checkout resolved to) each run, replaced only while its remote head is
//! still a commit tagpilot pushed (a lease recorded in
//! `<state>/git/<key>/leases.json`, checked against the server's advertised
//! head before anything is sent). Every reference's
//! result is checked: libgit2 reports server-side rejections only through the
//! `push_update_reference` callback.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use git2::{ErrorClass, ErrorCode, Oid, PushOptions};
use serde::{Deserialize, Serialize};

use super::error::GitError;
use super::spec::{CommitId, PushSpec};
use super::workcopy::{Checkout, validate_branch};

/// What a successful push updated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushOutcome {
    /// The commit pushed (the local branch head).
    pub commit: CommitId,
    /// The refspecs pushed, e.g. `refs/heads/main:refs/heads/main`.
    pub refspecs: Vec<String>,
    /// The push branch already held the same tree on the same base, so it was
    /// left alone (no new commit each run while a change awaits review);
    /// `commit` is then the push branch's head.
    pub already_current: bool,
}

/// What tagpilot knows about one push branch it owns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Lease {
    /// The head tagpilot last pushed successfully.
    seen: Option<String>,
    /// A head tagpilot was pushing when it last stopped (it may have landed).
    pending: Option<String>,
}

/// The lease records of one working copy.
struct Leases {
    path: PathBuf,
    branches: BTreeMap<String, Lease>,
}

impl Leases {
    fn load(state_dir: &Path) -> Result<Self, GitError> {
        let path = state_dir.join("leases.json");
        let branches = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|error| {
                tracing::warn!(path = %path.display(), %error, "unreadable lease records; starting afresh");
                BTreeMap::new()
            }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(source) => {
                return Err(GitError::Io {
                    action: "reading",
                    path,
                    source,
                });
            }
        };
        Ok(Self { path, branches })
    }

    fn save(&self) -> Result<(), GitError> {
        let temporary = self.path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(&self.branches).unwrap_or_default();
        std::fs::write(&temporary, bytes)
            .and_then(|()| std::fs::rename(&temporary, &self.path))
            .map_err(|source| GitError::Io {
                action: "writing",
                path: self.path.clone(),
                source,
            })
    }

    /// The remote heads that may be replaced: what tagpilot pushed or was pushing.
    fn replaceable(&self, branch: &str) -> Vec<Oid> {
        self.branches
            .get(branch)
            .map(|lease| [&lease.seen, &lease.pending])
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|oid| Oid::from_str(oid).ok())
            .collect()
    }
}

/// A refspec to push, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ParsedRefspec {
    forced: bool,
    destination: String,
}

fn parse_refspec(refspec: &str) -> Result<ParsedRefspec, GitError> {
    let invalid = |reason: &str| GitError::InvalidSpec {
        what: "push refspec",
        value: refspec.to_string(),
        reason: reason.to_string(),
    };
    let (forced, rest) = match refspec.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, refspec),
    };
    let (source, destination) = rest.split_once(':').unwrap_or((rest, rest));
    if source.is_empty() {
        return Err(invalid("deleting references is not allowed"));
    }
    if destination.is_empty() || destination.contains('*') {
        return Err(invalid(
            "it needs one destination reference, without wildcards",
        ));
    }
    let destination = if destination.starts_with("refs/") {
        destination.to_string()
    } else {
        format!("refs/heads/{destination}")
    };
    if !git2::Reference::is_valid_name(&destination) {
        return Err(invalid("the destination is not a valid reference name"));
    }
    Ok(ParsedRefspec {
        forced,
        destination,
    })
}

impl Checkout {
    /// Pushes the local branch head as `spec` says (see [`PushSpec`]), with
    /// its push options (`git push -o`; a server that does not take them is
    /// [`GitError::PushOptionsNotSupported`], before anything is sent). A push
    /// to the checkout branch that is not a fast-forward, or that the server
    /// refuses, is [`GitError::PushRejected`]: fetch, re-apply and commit again
    /// (what [`crate::git::run_automation`] does). A push branch that moved
    /// since tagpilot last pushed it is [`GitError::LeaseBroken`].
    pub fn push(&mut self, spec: &PushSpec) -> Result<PushOutcome, GitError> {
        let head = self.head()?.0;
        let checkout_branch = self.checkout_branch().map(str::to_string);
        let push_branch = match (&spec.branch, &spec.refspec) {
            (Some(branch), _) => Some(branch.clone()),
            (None, None) => Some(
                checkout_branch
                    .clone()
                    .ok_or_else(|| GitError::InvalidSpec {
                        what: "push branch",
                        value: String::new(),
                        reason: format!(
                            "required: the checkout is a {} ({}), not a branch to push to",
                            self.reference.kind(),
                            self.reference
                        ),
                    })?,
            ),
            (None, Some(_)) => None,
        };
        let mut refspecs = Vec::new();
        let mut leased_branch = None;
        if let Some(branch) = &push_branch {
            validate_branch("push branch", branch)?;
            if Some(branch) == checkout_branch.as_ref() {
                refspecs.push(format!("refs/heads/{branch}:refs/heads/{branch}"));
            } else {
                refspecs.push(format!("+refs/heads/{}:refs/heads/{branch}", self.branch));
                leased_branch = Some(branch.clone());
            }
        }
        if let Some(refspec) = &spec.refspec {
            let parsed = parse_refspec(refspec)?;
            if parsed.forced
                && checkout_branch
                    .as_ref()
                    .is_some_and(|branch| parsed.destination == format!("refs/heads/{branch}"))
            {
                return Err(GitError::InvalidSpec {
                    what: "push refspec",
                    value: refspec.clone(),
                    reason: "tagpilot never force-pushes the checkout branch; remove the +"
                        .to_string(),
                });
            }
            refspecs.push(refspec.clone());
        }
        if let Some(branch) = &leased_branch
            && let Some(existing) = self.fetch_remote_branch(branch)?
            && self.same_change(existing, head)
        {
            // Same tree on the same base: whoever made it, replacing it later loses nothing.
            let mut leases = Leases::load(&self.state_dir)?;
            leases.branches.insert(
                branch.clone(),
                Lease {
                    seen: Some(existing.to_string()),
                    pending: None,
                },
            );
            leases.save()?;
            refspecs.remove(0);
            leased_branch = None;
            if refspecs.is_empty() {
                return Ok(PushOutcome {
                    commit: CommitId(existing),
                    refspecs,
                    already_current: true,
                });
            }
        }
        let mut leases = Leases::load(&self.state_dir)?;
        let lease = match &leased_branch {
            Some(branch) => {
                let replaceable = leases.replaceable(branch);
                let record = leases.branches.entry(branch.clone()).or_default();
                record.pending = Some(head.to_string());
                leases.save()?;
                Some((format!("refs/heads/{branch}"), replaceable))
            }
            None => None,
        };

        let rejections = RefCell::new(Vec::<(String, String)>::new());
        let remote_messages = RefCell::new(Vec::<u8>::new());
        let result = {
            let mut callbacks = self.transport.callbacks();
            callbacks.sideband_progress(|data| {
                let mut messages = remote_messages.borrow_mut();
                let room = REMOTE_MESSAGE_LIMIT.saturating_sub(messages.len());
                messages.extend_from_slice(&data[..data.len().min(room)]);
                true
            });
            callbacks.push_update_reference(|reference, status| {
                if let Some(status) = status {
                    rejections
                        .borrow_mut()
                        .push((reference.to_string(), status.to_string()));
                }
                Ok(())
            });
            callbacks.push_negotiation(|updates| {
                let Some((leased_ref, replaceable)) = &lease else {
                    return Ok(());
                };
                for update in updates {
                    let remote_head = update.src();
                    if update.dst_refname().ok() == Some(leased_ref.as_str())
                        && !remote_head.is_zero()
                        && !replaceable.contains(&remote_head)
                    {
                        return Err(self.transport.fail(GitError::LeaseBroken {
                            url: self.transport.redacted_url().to_string(),
                            branch: leased_ref.trim_start_matches("refs/heads/").to_string(),
                            expected: replaceable
                                .first()
                                .map_or_else(|| "none".to_string(), Oid::to_string),
                            actual: remote_head.to_string(),
                        }));
                    }
                }
                Ok(())
            });
            let mut options = PushOptions::new();
            options.remote_callbacks(callbacks);
            let push_options: Vec<&str> = spec.options.iter().map(String::as_str).collect();
            options.remote_push_options(&push_options);
            let url = self.transport.connect()?;
            options.proxy_options(self.transport.proxy_options());
            options.custom_headers(&self.transport.custom_headers());
            let mut remote = self
                .repo
                .remote_anonymous(&url)
                .map_err(|source| self.local_error("setting up the remote", source))?;
            let refs: Vec<&str> = refspecs.iter().map(String::as_str).collect();
            remote.push(&refs, Some(&mut options))
        };
        let reported_branch = push_branch.as_deref().unwrap_or(&self.branch);
        if let Err(error) = result {
            // libgit2 refuses before sending anything when the server does
            // not advertise `push-options` (its only `Invalid` push error).
            if !spec.options.is_empty()
                && error.class() == ErrorClass::Invalid
                && error.message().contains("push-options")
            {
                return Err(GitError::PushOptionsNotSupported {
                    url: self.transport.redacted_url().to_string(),
                });
            }
            let error =
                self.transport
                    .remote_error("push", &format!("branch {reported_branch:?}"), error);
            return Err(match error {
                GitError::Remote { source, .. } if source.code() == ErrorCode::NotFastForward => {
                    GitError::PushRejected {
                        url: self.transport.redacted_url().to_string(),
                        reference: format!("refs/heads/{reported_branch}"),
                        reason: format!(
                            "the remote branch has moved since the fetch (non-fast-forward: {})",
                            source.message()
                        ),
                        branch_moved: true,
                    }
                }
                other => other,
            });
        }
        if let Some((reference, status)) = rejections.into_inner().into_iter().next() {
            let remote = remote_lines(&remote_messages.into_inner());
            return Err(GitError::PushRejected {
                url: self.transport.redacted_url().to_string(),
                reference,
                branch_moved: is_branch_moved_status(&status),
                reason: if remote.is_empty() {
                    status
                } else {
                    format!("{status} (remote: {remote})")
                },
            });
        }
        if let Some(branch) = &leased_branch {
            leases.branches.insert(
                branch.clone(),
                Lease {
                    seen: Some(head.to_string()),
                    pending: None,
                },
            );
            leases.save()?;
        }
        if push_branch.is_some() && push_branch == checkout_branch {
            let tracking = format!("refs/remotes/origin/{}", self.branch);
            self.repo
                .reference(&tracking, head, true, "tagpilot: pushed")
                .map_err(|source| self.local_error("recording the pushed head", source))?;
            self.base = head;
        }
        tracing::debug!(url = %self.transport.redacted_url(), refspecs = ?refspecs, commit = %head, "pushed");
        Ok(PushOutcome {
            commit: CommitId(head),
            refspecs,
            already_current: false,
        })
    }

    /// Whether commit `existing` makes the same change as `ours`: same tree, same parents.
    fn same_change(&self, existing: Oid, ours: Oid) -> bool {
        match (self.repo.find_commit(existing), self.repo.find_commit(ours)) {
            (Ok(existing), Ok(ours)) => {
                existing.tree_id() == ours.tree_id() && existing.parent_ids().eq(ours.parent_ids())
            }
            _ => false,
        }
    }
}

/// How much of what the server's hooks print is kept for an error message.
const REMOTE_MESSAGE_LIMIT: usize = 1024;

/// The statuses a server gives a push whose branch moved since the fetch, for
/// which fetching, re-applying and pushing again is the answer (tagpilot never
/// forces the checkout branch, so a non-fast-forward can only mean that). Any
/// other status (a hook's refusal, a protected branch) would refuse the retry too.
const BRANCH_MOVED_STATUSES: [&str; 6] = [
    "non-fast-forward",
    "fetch first",
    "failed to update ref",
    "failed to lock",
    "stale info",
    "incorrect old value",
];

fn is_branch_moved_status(status: &str) -> bool {
    BRANCH_MOVED_STATUSES
        .iter()
        .any(|moved| status.contains(moved))
}

/// What the server printed on the side band (its hooks' output), as one line.
fn remote_lines(messages: &[u8]) -> String {
    String::from_utf8_lossy(messages)
        .split(['\n', '\r'])
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refspecs_are_parsed_and_deletions_refused() {
        assert_eq!(
            parse_refspec("HEAD:refs/for/main").unwrap(),
            ParsedRefspec {
                forced: false,
                destination: "refs/for/main".into()
            }
        );
        assert_eq!(
            parse_refspec("+refs/heads/main:auto").unwrap(),
            ParsedRefspec {
                forced: true,
                destination: "refs/heads/auto".into()
            }
        );
        assert!(parse_refspec(":refs/heads/main").is_err());
        assert!(parse_refspec("refs/heads/*:refs/heads/*").is_err());
    }

    #[test]
    fn leases_round_trip_and_list_replaceable_heads() {
        let dir = tempfile::tempdir().unwrap();
        let mut leases = Leases::load(dir.path()).unwrap();
        assert!(leases.replaceable("auto").is_empty());
        let seen = Oid::from_str("1111111111111111111111111111111111111111").unwrap();
        let pending = Oid::from_str("2222222222222222222222222222222222222222").unwrap();
        leases.branches.insert(
            "auto".into(),
            Lease {
                seen: Some(seen.to_string()),
                pending: Some(pending.to_string()),
            },
        );
        leases.save().unwrap();
        let loaded = Leases::load(dir.path()).unwrap();
        assert_eq!(loaded.replaceable("auto"), vec![seen, pending]);
    }

    #[test]
    fn only_a_moved_branch_is_worth_a_retry() {
        for moved in ["non-fast-forward", "failed to update ref", "fetch first"] {
            assert!(is_branch_moved_status(moved), "{moved}");
        }
        for refused in [
            "pre-receive hook declined",
            "hook declined",
            "protected branch hook declined",
            "deny updating a hidden ref",
        ] {
            assert!(!is_branch_moved_status(refused), "{refused}");
        }
    }

    #[test]
    fn hook_output_becomes_one_line() {
        assert_eq!(
            remote_lines(b"main is frozen\r\nask #release\n\n"),
            "main is frozen; ask #release"
        );
        assert_eq!(remote_lines(b""), "");
    }
}

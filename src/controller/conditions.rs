//! kstatus-compatible conditions: `Ready`, `Reconciling` and `Stalled`, with
//! every reason tagpilot writes as a constant here (one place to look up what a
//! reason means). A transition time is kept while a condition's status stays.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

/// The object is up to date with its spec.
pub const READY: &str = "Ready";
/// Work is in progress (first scan, first run).
pub const RECONCILING: &str = "Reconciling";
/// Nothing will change until the spec does (an invalid spec).
pub const STALLED: &str = "Stalled";

/// The last scan, evaluation or run succeeded.
pub const REASON_SUCCEEDED: &str = "Succeeded";
/// The first scan or run has not finished yet.
pub const REASON_PROGRESSING: &str = "Progressing";
/// The spec is invalid; the message names the field.
pub const REASON_INVALID_SPEC: &str = "InvalidSpec";
/// A referenced object (repository, source, Secret) is missing or not ready.
pub const REASON_DEPENDENCY_NOT_READY: &str = "DependencyNotReady";
/// A cross-namespace reference the target's `accessFrom` does not allow.
pub const REASON_ACCESS_DENIED: &str = "AccessDenied";
/// Listing the registry's tags failed (retried with backoff).
pub const REASON_SCAN_FAILED: &str = "ScanFailed";
/// No tag satisfies the policy, or its digest could not be resolved.
pub const REASON_NO_RESULT: &str = "NoResult";
/// Cloning, committing or pushing failed (retried with backoff).
pub const REASON_GIT_OPERATION_FAILED: &str = "GitOperationFailed";
/// `spec.suspend` is true.
pub const REASON_SUSPENDED: &str = "Suspended";

/// A Sync's path could not be rendered (kustomize, YAML).
pub const REASON_BUILD_FAILED: &str = crate::apply::sync::reason::BUILD_FAILED;
/// The API server refused a Sync's objects (dry-run or apply), or pruning failed.
pub const REASON_APPLY_FAILED: &str = crate::apply::sync::reason::APPLY_FAILED;
/// A Sync's objects were applied but did not become healthy before its timeout.
pub const REASON_HEALTH_CHECK_FAILED: &str = crate::apply::sync::reason::HEALTH_CHECK_FAILED;
/// A Sync's GitRepository could not be fetched (retried with backoff).
pub const REASON_ARTIFACT_FAILED: &str = crate::apply::sync::reason::ARTIFACT_FAILED;

/// Event reason: a scan found a different tag list.
pub const EVENT_SCAN_CHANGED: &str = "NewTags";
/// Event reason: a policy chose a new image.
pub const EVENT_POLICY_CHANGED: &str = "NewLatestImage";
/// Event reason: a policy passed over better tags whose images failed its
/// requirements (signature, platforms, age); the note names each and why.
pub const EVENT_CANDIDATES_SKIPPED: &str = "CandidatesSkipped";
/// Event reason: an automation pushed a commit.
pub const EVENT_PUSHED: &str = "Pushed";
/// Event reason: a Sync applied a revision (or corrected drift, or pruned).
pub const EVENT_SYNC_APPLIED: &str = "ReconciliationSucceeded";
/// Event reason: a Sync failed (the message names the objects).
pub const EVENT_SYNC_FAILED: &str = "ReconciliationFailed";
/// Event reason: an object's spec is invalid.
pub const EVENT_INVALID: &str = "InvalidSpec";

/// The outcome of one object, before it is written as conditions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Up to date.
    Ready {
        /// What is true now (e.g. the latest tag).
        message: String,
    },
    /// Not done yet, nothing wrong.
    Progressing {
        /// What is awaited.
        message: String,
    },
    /// Failed in a way that may pass (retried with backoff).
    Failed {
        /// One of the reason constants.
        reason: &'static str,
        /// What went wrong.
        message: String,
    },
    /// Invalid until the spec changes.
    Stalled {
        /// What is wrong, naming the field.
        message: String,
    },
}

impl Health {
    /// The conditions for `generation`, keeping the transition times of `previous`
    /// conditions whose status did not change.
    pub fn conditions(&self, generation: Option<i64>, previous: &[Condition]) -> Vec<Condition> {
        let (ready, ready_reason, message, reconciling, stalled) = match self {
            Self::Ready { message } => ("True", REASON_SUCCEEDED, message, false, false),
            Self::Progressing { message } => ("Unknown", REASON_PROGRESSING, message, true, false),
            Self::Failed { reason, message } => ("False", *reason, message, false, false),
            Self::Stalled { message } => ("False", REASON_INVALID_SPEC, message, false, true),
        };
        let mut conditions = vec![condition(
            READY,
            ready,
            ready_reason,
            message,
            generation,
            previous,
        )];
        if reconciling {
            conditions.push(condition(
                RECONCILING,
                "True",
                REASON_PROGRESSING,
                message,
                generation,
                previous,
            ));
        }
        if stalled {
            conditions.push(condition(
                STALLED,
                "True",
                REASON_INVALID_SPEC,
                message,
                generation,
                previous,
            ));
        }
        conditions
    }
}

/// The longest condition message Kubernetes' `metav1.Condition` (and so
/// Flux's CRDs) accepts, in characters.
pub const MAX_MESSAGE_CHARS: usize = 32_768;

/// `message` cut to [`MAX_MESSAGE_CHARS`] (a status with a longer one would be
/// refused by the API server, and the object would keep a stale status).
fn bounded(message: &str) -> String {
    const MARK: &str = " …(cut)";
    if message.chars().count() <= MAX_MESSAGE_CHARS {
        return message.to_string();
    }
    let keep = MAX_MESSAGE_CHARS - MARK.chars().count();
    let mut cut: String = message.chars().take(keep).collect();
    cut.push_str(MARK);
    cut
}

fn condition(
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    previous: &[Condition],
) -> Condition {
    let last_transition_time = previous
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| Time(now_seconds()));
    Condition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: reason.to_string(),
        message: bounded(message),
        observed_generation: generation,
        last_transition_time,
    }
}

/// Now, to the second (what the API server stores).
fn now_seconds() -> Timestamp {
    let now = Timestamp::now();
    Timestamp::from_second(now.as_second()).unwrap_or(now)
}

/// RFC 3339 text of seconds since the epoch.
pub fn rfc3339(epoch_seconds: u64) -> Option<String> {
    let seconds = i64::try_from(epoch_seconds).ok()?;
    Timestamp::from_second(seconds).ok().map(|t| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stalled_sets_ready_false_and_stalled_true_and_keeps_transition_times() {
        let stalled = Health::Stalled {
            message: "spec.filterTags.pattern: bad".into(),
        };
        let first = stalled.conditions(Some(2), &[]);
        let types: Vec<(&str, &str, &str)> = first
            .iter()
            .map(|c| (c.type_.as_str(), c.status.as_str(), c.reason.as_str()))
            .collect();
        assert_eq!(
            types,
            [
                (READY, "False", REASON_INVALID_SPEC),
                (STALLED, "True", REASON_INVALID_SPEC)
            ]
        );
        assert!(first.iter().all(|c| c.observed_generation == Some(2)));
        let mut old = first.clone();
        old[0].last_transition_time = Time(Timestamp::from_second(1_000).unwrap());
        let again = stalled.conditions(Some(2), &old);
        assert_eq!(again[0].last_transition_time, old[0].last_transition_time);
        let ready = Health::Ready {
            message: "ok".into(),
        }
        .conditions(Some(3), &old);
        assert_eq!(ready.len(), 1);
        assert_ne!(ready[0].last_transition_time, old[0].last_transition_time);
        assert_eq!(rfc3339(0).unwrap(), "1970-01-01T00:00:00Z");
    }

    /// Flux's CRDs (metav1.Condition) refuse a message over 32768 characters:
    /// a git hook's whole output must not make the status unwritable.
    #[test]
    fn messages_are_cut_to_what_the_api_server_accepts() {
        let long = "é".repeat(MAX_MESSAGE_CHARS + 10);
        let failed = Health::Failed {
            reason: REASON_GIT_OPERATION_FAILED,
            message: long,
        };
        let message = &failed.conditions(Some(1), &[])[0].message;
        assert_eq!(message.chars().count(), MAX_MESSAGE_CHARS);
        assert!(message.ends_with(" …(cut)"));
        assert_eq!(bounded("short"), "short");
    }
}

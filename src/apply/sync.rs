//! One Sync reconciliation, the same in both modes: render a directory at a
//! revision, apply it, prune what the previous inventory had and this revision
//! does not, optionally wait for health, and say what the status is now.
//! [`reconcile`] takes the previous [`SyncStatus`] and returns the next one;
//! where the files come from (a standalone git working copy, or a controller's
//! source) and where the status goes is the caller's business.

use std::path::Path;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::applier::{Action, Applier, ApplyOptions, ApplyReport, ConflictPolicy, ObjectResult};
use super::error::ApplyError;
use super::object::ObjectRef;
use super::render::{RenderOptions, render};
use crate::config::sync::SyncEntry;

/// Condition reasons (kstatus-style, like Flux's).
pub mod reason {
    /// Applied (and healthy, when waited for).
    pub const RECONCILIATION_SUCCEEDED: &str = "ReconciliationSucceeded";
    /// The render failed (kustomize, YAML).
    pub const BUILD_FAILED: &str = "BuildFailed";
    /// The server refused objects, or applying failed.
    pub const APPLY_FAILED: &str = "ReconciliationFailed";
    /// Applied, but not healthy before the timeout.
    pub const HEALTH_CHECK_FAILED: &str = "HealthCheckFailed";
    /// The source could not be fetched.
    pub const ARTIFACT_FAILED: &str = "ArtifactFailed";
    /// Suspended.
    pub const SUSPENDED: &str = "Suspended";
}

/// The Ready condition of a Sync.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadyCondition {
    /// `True` or `False`.
    pub status: String,
    /// One of [`reason`].
    pub reason: String,
    /// What happened, naming failed objects.
    pub message: String,
    /// When the status last changed (seconds since the epoch).
    pub last_transition_time: u64,
}

/// The label naming the Sync that applied an object.
pub const SYNC_NAME_LABEL: &str = "sync.tagpilot.dev/name";
/// The label naming that Sync's namespace.
pub const SYNC_NAMESPACE_LABEL: &str = "sync.tagpilot.dev/namespace";

/// The labels a Sync puts on every object it applies (as Flux's Kustomization
/// does). Besides telling who applied an object, they give tagpilot a field of
/// its own in objects that have nothing else to own (a bare Namespace), so a
/// re-apply of an unchanged object is a no-op instead of a reported change.
pub fn sync_labels(namespace: &str, name: &str) -> Vec<(String, String)> {
    vec![
        (SYNC_NAME_LABEL.to_string(), name.to_string()),
        (SYNC_NAMESPACE_LABEL.to_string(), namespace.to_string()),
    ]
}

/// What a Sync last did (kept in status).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatus {
    /// The Ready condition.
    pub ready: Option<ReadyCondition>,
    /// The last revision applied completely (`branch@sha1:...`).
    pub last_applied_revision: Option<String>,
    /// The last revision tried.
    pub last_attempted_revision: Option<String>,
    /// The objects the last complete apply applied.
    #[serde(default)]
    pub inventory: Vec<ObjectRef>,
    /// Objects changed by the last re-apply of an already applied revision (drift corrected).
    #[serde(default)]
    pub drift_corrected: usize,
    /// Drift corrections over all runs.
    #[serde(default)]
    pub drift_corrected_total: u64,
    /// When the last attempt finished (seconds since the epoch).
    pub last_attempt_time: Option<u64>,
}

impl SyncStatus {
    /// Whether Ready is True.
    pub fn is_ready(&self) -> bool {
        self.ready.as_ref().is_some_and(|c| c.status == "True")
    }

    fn set_ready(&mut self, ready: bool, reason: &str, message: String, now: u64) {
        let status = if ready { "True" } else { "False" };
        let last_transition_time = match &self.ready {
            Some(old) if old.status == status => old.last_transition_time,
            _ => now,
        };
        self.ready = Some(ReadyCondition {
            status: status.to_string(),
            reason: reason.to_string(),
            message,
            last_transition_time,
        });
    }
}

/// What one reconciliation did.
#[derive(Debug, Clone, Default)]
pub struct SyncOutcome {
    /// The status after it.
    pub status: SyncStatus,
    /// Every object and what happened to it (pruned ones last).
    pub objects: Vec<ObjectResult>,
    /// The failure may pass on its own (network, server): try again before the interval.
    pub retry_soon: bool,
}

/// The outcome when the Sync's source could not be fetched: Ready=False
/// ([`reason::ARTIFACT_FAILED`]) with `message`, the rest of `previous` kept,
/// and retried soon.
pub fn source_failed(previous: &SyncStatus, message: String) -> SyncOutcome {
    let mut status = previous.clone();
    let now = crate::engine::state::epoch_seconds(SystemTime::now());
    status.last_attempt_time = Some(now);
    status.set_ready(false, reason::ARTIFACT_FAILED, message, now);
    SyncOutcome {
        status,
        objects: Vec::new(),
        retry_soon: true,
    }
}

/// How a Sync applies (what the caller decides rather than the Sync's spec).
#[derive(Debug, Clone)]
pub struct SyncSettings {
    /// Rendering.
    pub render: RenderOptions,
    /// The namespace of namespaced objects that name none.
    pub default_namespace: String,
    /// The field manager.
    pub field_manager: String,
    /// Labels added to every applied object ([`sync_labels`]).
    pub labels: Vec<(String, String)>,
}

impl Default for SyncSettings {
    fn default() -> Self {
        Self {
            render: RenderOptions::default(),
            default_namespace: "default".to_string(),
            field_manager: super::applier::FIELD_MANAGER.to_string(),
            labels: Vec::new(),
        }
    }
}

/// Renders the Sync's path inside `root` (a checkout of its source at
/// `revision`; nothing outside it is read), applies it, prunes and waits as
/// `entry` says, and returns the next status from `previous`. Never fails: a
/// failure is a Ready=False status naming it.
pub async fn reconcile(
    applier: &Applier,
    entry: &SyncEntry,
    root: &Path,
    revision: &str,
    previous: &SyncStatus,
    settings: &SyncSettings,
) -> SyncOutcome {
    let mut status = previous.clone();
    status.last_attempted_revision = Some(revision.to_string());
    let now = crate::engine::state::epoch_seconds(SystemTime::now());
    status.last_attempt_time = Some(now);
    let fail = |mut status: SyncStatus, reason: &str, message: String| {
        status.set_ready(false, reason, message, now);
        SyncOutcome {
            status,
            objects: Vec::new(),
            retry_soon: false,
        }
    };
    let fail_with = |status: SyncStatus, reason: &str, error: ApplyError| {
        let mut outcome = fail(status, reason, error.to_string());
        outcome.retry_soon = error.is_transient();
        outcome
    };
    let rendered = {
        let directory = root.join(&entry.path);
        let mut options = settings.render.clone();
        options.confine_to = Some(root.to_path_buf());
        tokio::task::spawn_blocking(move || render(&directory, &options)).await
    };
    let manifests = match rendered {
        Ok(Ok(manifests)) => manifests,
        Ok(Err(error)) => return fail(status, reason::BUILD_FAILED, error.to_string()),
        Err(error) => return fail(status, reason::BUILD_FAILED, error.to_string()),
    };
    let options = ApplyOptions {
        field_manager: settings.field_manager.clone(),
        conflicts: ConflictPolicy::TakeOverManualEdits,
        target_namespace: entry.target_namespace.clone(),
        default_namespace: settings.default_namespace.clone(),
        labels: settings.labels.clone(),
        ..ApplyOptions::default()
    };
    let report = match applier.apply(&manifests, &options).await {
        Ok(report) => report,
        Err(error) => return fail_with(status, reason::APPLY_FAILED, error),
    };
    let applied: Vec<ObjectRef> = report.objects.iter().map(|o| o.object.clone()).collect();
    if !report.failures.is_empty() {
        // Keep what was applied in the inventory, so a later prune finds it.
        let mut inventory = status.inventory.clone();
        for object in &applied {
            if !inventory.iter().any(|o| o.identity() == object.identity()) {
                inventory.push(object.clone());
            }
        }
        status.inventory = inventory;
        let message = ApplyError::Failed {
            failures: report.failures.clone(),
        }
        .to_string();
        let mut outcome = fail(status, reason::APPLY_FAILED, message);
        outcome.objects = report.objects;
        outcome.retry_soon = true;
        return outcome;
    }
    let same_revision = previous.last_applied_revision.as_deref() == Some(revision);
    status.drift_corrected = if same_revision {
        report.count(Action::Configured) + report.count(Action::Created)
    } else {
        0
    };
    status.drift_corrected_total += status.drift_corrected as u64;
    let mut objects = report.objects.clone();
    if entry.prune {
        match applier
            .prune(
                &previous.inventory,
                &applied,
                &settings.field_manager,
                false,
            )
            .await
        {
            Ok(pruned) => {
                objects.extend(pruned.pruned);
                if !pruned.failures.is_empty() {
                    status.inventory = applied;
                    let message = format!(
                        "applied, but pruning failed: {}",
                        failures_text(&pruned.failures)
                    );
                    let mut outcome = fail(status, reason::APPLY_FAILED, message);
                    outcome.objects = objects;
                    return outcome;
                }
            }
            Err(error) => return fail_with(status, reason::APPLY_FAILED, error),
        }
    }
    status.inventory = applied.clone();
    status.last_applied_revision = Some(revision.to_string());
    if entry.wait {
        match applier.wait_healthy(&applied, entry.timeout).await {
            Ok(unhealthy) if unhealthy.is_empty() => {}
            Ok(unhealthy) => {
                let message = format!(
                    "applied revision {revision}, but not healthy after {:?}: {}",
                    entry.timeout,
                    failures_text(&unhealthy)
                );
                let mut outcome = fail(status, reason::HEALTH_CHECK_FAILED, message);
                outcome.objects = objects;
                return outcome;
            }
            Err(error) => return fail_with(status, reason::HEALTH_CHECK_FAILED, error),
        }
    }
    let message = summary(revision, &report, &objects);
    status.set_ready(true, reason::RECONCILIATION_SUCCEEDED, message, now);
    SyncOutcome {
        status,
        objects,
        retry_soon: false,
    }
}

fn failures_text(failures: &[super::error::ObjectFailure]) -> String {
    failures
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// `Applied revision main@sha1:...: 3 objects (1 created, 1 configured, 1 unchanged), 1 pruned`.
fn summary(revision: &str, report: &ApplyReport, objects: &[ObjectResult]) -> String {
    let pruned = objects
        .iter()
        .filter(|o| o.action == Action::Pruned)
        .count();
    format!(
        "Applied revision {revision}: {} objects ({} created, {} configured, {} unchanged), {pruned} pruned",
        report.objects.len(),
        report.count(Action::Created),
        report.count(Action::Configured),
        report.count(Action::Unchanged),
    )
}

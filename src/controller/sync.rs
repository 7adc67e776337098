//! Syncs in controller mode: the driver's Sync half. Each valid, active Sync is
//! reconciled at its interval, at once when it is new, changed or requested
//! (`reconcile.tagpilot.dev/requestedAt`), when its GitRepository changes,
//! and when an automation pushes to that GitRepository. A run fetches the
//! source into `<state>/sync/git` (apart from the automations' copies), calls
//! the same `apply::sync::reconcile` as standalone mode, and keeps the
//! resulting `SyncStatus` in memory; [`SyncDriver::desired`] turns it into the
//! Sync's status subresource (kstatus conditions and Flux-like fields), which
//! the driver writes with the other kinds' statuses.
//!
//! The previous inventory (what prune compares with) comes from the Sync's own
//! status in the cluster when this process has not run it yet, so pruning
//! survives restarts and leader changes.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::conditions::{
    EVENT_SYNC_APPLIED, EVENT_SYNC_FAILED, Health, REASON_APPLY_FAILED, REASON_ARTIFACT_FAILED,
    REASON_BUILD_FAILED, REASON_HEALTH_CHECK_FAILED, REASON_SUSPENDED, rfc3339,
};
use super::crd::{InventoryEntry, SyncResourceStatus};
use super::events::EventSink;
use super::kinds::Kind;
use super::snapshot::{CachedObject, ObjectId, Snapshot};
use super::status::StatusError;
use crate::apply::ObjectRef;
use crate::apply::standalone::{fetch_source, record_metrics};
use crate::apply::sync::{
    SyncOutcome, SyncSettings, SyncStatus, reason, reconcile, source_failed, sync_labels,
};
use crate::apply::{Action, Applier};
use crate::config::meta::ObjectKey;
use crate::engine::metrics::Metrics;
use crate::engine::objects::ObjectSet;
use crate::git::GitWorkspace;

/// The shortest wait after a failure that may pass on its own.
const FIRST_BACKOFF: Duration = Duration::from_secs(2);
/// The longest wait after repeated failures.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Runs the Syncs of the current snapshot.
pub struct SyncDriver {
    applier: Applier,
    workspace: GitWorkspace,
    metrics: Arc<Metrics>,
    statuses: BTreeMap<ObjectKey, SyncStatus>,
    next: BTreeMap<ObjectKey, Instant>,
    failures: BTreeMap<ObjectKey, u32>,
    /// The last failure message published as an event, per Sync (no repeats).
    announced: BTreeMap<ObjectKey, String>,
}

impl SyncDriver {
    /// A driver applying with `client`, its working copies under `state_dir/sync`.
    pub fn new(client: kube::Client, state_dir: &Path, metrics: Arc<Metrics>) -> Self {
        Self {
            applier: Applier::new(client),
            workspace: GitWorkspace::new(state_dir.join("sync")),
            metrics,
            statuses: BTreeMap::new(),
            next: BTreeMap::new(),
            failures: BTreeMap::new(),
            announced: BTreeMap::new(),
        }
    }

    /// Takes the status of Syncs this process has not run yet from the cluster
    /// (their inventory is what the next prune compares with).
    pub fn restore(&mut self, cached: &[CachedObject]) {
        for entry in cached.iter().filter(|e| e.kind == Kind::Sync) {
            let meta = &entry.object.metadata;
            let (Some(namespace), Some(name)) = (&meta.namespace, &meta.name) else {
                continue;
            };
            let key = ObjectKey::new(namespace, name);
            if self.statuses.contains_key(&key) {
                continue;
            }
            let Some(status) = entry
                .object
                .data
                .get("status")
                .cloned()
                .and_then(|value| serde_json::from_value::<SyncResourceStatus>(value).ok())
            else {
                continue;
            };
            self.statuses.insert(key, from_resource(&status));
        }
    }

    /// Runs `key` at the next step (new, changed or requested).
    pub fn request(&mut self, key: &ObjectKey) {
        self.failures.remove(key);
        self.next.insert(key.clone(), Instant::now());
    }

    /// Runs every Sync of the GitRepository `source` at the next step.
    pub fn source_changed(&mut self, objects: &ObjectSet, source: &ObjectKey) {
        for (key, entry) in &objects.syncs {
            if &entry.source == source {
                tracing::debug!(sync = %key, %source, "its source changed: applying now");
                self.next.insert(key.clone(), Instant::now());
            }
        }
    }

    /// Schedules exactly the valid Syncs that are not suspended (a new one at
    /// once) and forgets the state of Syncs that are gone.
    pub fn retain(&mut self, objects: &ObjectSet) {
        let active = |key: &ObjectKey| objects.syncs.get(key).is_some_and(|e| !e.suspend);
        self.next.retain(|key, _| active(key));
        let now = Instant::now();
        for key in objects.syncs.keys().filter(|key| active(key)) {
            self.next.entry(key.clone()).or_insert(now);
        }
        self.statuses
            .retain(|key, _| objects.syncs.contains_key(key));
        self.failures
            .retain(|key, _| objects.syncs.contains_key(key));
        self.announced
            .retain(|key, _| objects.syncs.contains_key(key));
    }

    /// When the next Sync is due.
    pub fn next_wake(&self) -> Option<Instant> {
        self.next.values().min().copied()
    }

    /// Runs the Syncs that are due, one after the other, and publishes an event
    /// for each applied revision and each new failure.
    pub async fn run_due(&mut self, objects: &ObjectSet, snapshot: &Snapshot, events: &EventSink) {
        let now = Instant::now();
        let due: Vec<ObjectKey> = self
            .next
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(key, _)| key.clone())
            .collect();
        for key in due {
            let Some(entry) = objects.syncs.get(&key) else {
                self.next.remove(&key);
                continue;
            };
            let started = Instant::now();
            let previous = self.statuses.get(&key).cloned().unwrap_or_default();
            let outcome = match objects.sources.get(&entry.source) {
                None => source_failed(
                    &previous,
                    format!("GitRepository {} is not defined", entry.source),
                ),
                Some(source) => match fetch_source(&self.workspace, source).await {
                    Err(message) => source_failed(&previous, message),
                    Ok((checkout_dir, revision, _lock)) => {
                        let settings = SyncSettings {
                            default_namespace: key.namespace.clone(),
                            labels: sync_labels(&key.namespace, &key.name),
                            ..SyncSettings::default()
                        };
                        reconcile(
                            &self.applier,
                            entry,
                            &checkout_dir,
                            &revision,
                            &previous,
                            &settings,
                        )
                        .await
                    }
                },
            };
            record_metrics(&self.metrics, &key, &outcome.status, started.elapsed());
            let wait = if outcome.retry_soon {
                let failures = self.failures.entry(key.clone()).or_insert(0);
                *failures += 1;
                backoff(*failures, entry.interval)
            } else {
                self.failures.remove(&key);
                entry.interval
            };
            self.next.insert(key.clone(), Instant::now() + wait);
            if let Some(info) = snapshot.infos.get(&(Kind::Sync, key.clone())) {
                let reference = info.reference(&key);
                match announcement(&previous, &outcome) {
                    Some(Announcement::Applied(note)) => {
                        self.announced.remove(&key);
                        events.normal(&reference, EVENT_SYNC_APPLIED, note).await;
                    }
                    Some(Announcement::Failed(note)) if self.announced.get(&key) != Some(&note) => {
                        self.announced.insert(key.clone(), note.clone());
                        events.warning(&reference, EVENT_SYNC_FAILED, note).await;
                    }
                    Some(Announcement::Failed(_)) | None => {}
                }
            }
            log_outcome(&key, &outcome);
            self.statuses.insert(key, outcome.status);
        }
    }

    /// The health and status body of every Sync in `snapshot`.
    pub fn desired(
        &self,
        snapshot: &Snapshot,
        objects: &ObjectSet,
    ) -> Result<BTreeMap<ObjectId, (Health, Value)>, StatusError> {
        let mut out = BTreeMap::new();
        for ((kind, key), info) in &snapshot.infos {
            if *kind != Kind::Sync {
                continue;
            }
            let id = (*kind, key.clone());
            let status = self.statuses.get(key);
            let suspended = objects.syncs.get(key).is_some_and(|e| e.suspend);
            let health = snapshot
                .problems
                .get(&id)
                .cloned()
                .unwrap_or_else(|| health(status, suspended));
            let mut resource = status.map(to_resource).unwrap_or_default();
            resource.conditions = health.conditions(info.generation, &info.conditions);
            resource.observed_generation = info.generation;
            let body = serde_json::to_value(resource).map_err(StatusError::Serialize)?;
            out.insert(id, (health, body));
        }
        Ok(out)
    }
}

/// An event worth publishing after a run.
enum Announcement {
    /// A new revision applied, or objects changed (drift corrected, pruned).
    Applied(String),
    /// A failure.
    Failed(String),
}

fn announcement(previous: &SyncStatus, outcome: &SyncOutcome) -> Option<Announcement> {
    let ready = outcome.status.ready.as_ref()?;
    if ready.status != "True" {
        // The event's reason is EVENT_SYNC_FAILED; a different cause is named in the note.
        let note = if ready.reason == EVENT_SYNC_FAILED {
            ready.message.clone()
        } else {
            format!("{}: {}", ready.reason, ready.message)
        };
        return Some(Announcement::Failed(note));
    }
    let new_revision = previous.last_applied_revision != outcome.status.last_applied_revision;
    let changed = outcome
        .objects
        .iter()
        .any(|o| o.action != Action::Unchanged);
    (new_revision || changed || !previous.is_ready())
        .then(|| Announcement::Applied(ready.message.clone()))
}

/// What the in-memory status says (problems found by validation come first).
fn health(status: Option<&SyncStatus>, suspended: bool) -> Health {
    if suspended {
        return Health::Failed {
            reason: REASON_SUSPENDED,
            message: "suspended: not applied".into(),
        };
    }
    match status.and_then(|s| s.ready.as_ref()) {
        None => Health::Progressing {
            message: "fetching and applying the source".into(),
        },
        Some(ready) if ready.status == "True" => Health::Ready {
            message: ready.message.clone(),
        },
        Some(ready) => Health::Failed {
            reason: failure_reason(&ready.reason),
            message: ready.message.clone(),
        },
    }
}

/// The constant (from `conditions`) for a reason `apply::sync` wrote.
fn failure_reason(text: &str) -> &'static str {
    [
        REASON_BUILD_FAILED,
        REASON_APPLY_FAILED,
        REASON_HEALTH_CHECK_FAILED,
        REASON_ARTIFACT_FAILED,
        REASON_SUSPENDED,
    ]
    .into_iter()
    .find(|known| *known == text)
    .unwrap_or(REASON_APPLY_FAILED)
}

fn to_resource(status: &SyncStatus) -> SyncResourceStatus {
    SyncResourceStatus {
        last_applied_revision: status.last_applied_revision.clone(),
        last_attempted_revision: status.last_attempted_revision.clone(),
        last_attempt_time: status.last_attempt_time.and_then(rfc3339),
        inventory: status
            .inventory
            .iter()
            .map(|o| InventoryEntry {
                api_version: o.api_version.clone(),
                kind: o.kind.clone(),
                namespace: o.namespace.clone(),
                name: o.name.clone(),
            })
            .collect(),
        drift_corrected: i64::try_from(status.drift_corrected).unwrap_or(i64::MAX),
        drift_corrected_total: i64::try_from(status.drift_corrected_total).unwrap_or(i64::MAX),
        ..SyncResourceStatus::default()
    }
}

/// The part of a written status the next run needs (no Ready: it is re-decided).
fn from_resource(resource: &SyncResourceStatus) -> SyncStatus {
    SyncStatus {
        last_applied_revision: resource.last_applied_revision.clone(),
        last_attempted_revision: resource.last_attempted_revision.clone(),
        inventory: resource
            .inventory
            .iter()
            .map(|o| ObjectRef {
                api_version: o.api_version.clone(),
                kind: o.kind.clone(),
                namespace: o.namespace.clone(),
                name: o.name.clone(),
            })
            .collect(),
        drift_corrected_total: u64::try_from(resource.drift_corrected_total).unwrap_or(0),
        ..SyncStatus::default()
    }
}

fn log_outcome(key: &ObjectKey, outcome: &SyncOutcome) {
    let Some(ready) = &outcome.status.ready else {
        return;
    };
    if ready.status == "True" {
        tracing::info!(sync = %key, drift_corrected = outcome.status.drift_corrected, message = %ready.message, "sync ready");
    } else if ready.reason == reason::ARTIFACT_FAILED {
        tracing::warn!(sync = %key, message = %ready.message, "cannot fetch the sync's source");
    } else {
        tracing::warn!(sync = %key, reason = %ready.reason, message = %ready.message, "sync not ready");
    }
}

/// Doubling from 2 s, at most the Sync's interval and at most 5 minutes.
fn backoff(failures: u32, interval: Duration) -> Duration {
    let doubled = FIRST_BACKOFF.saturating_mul(1 << failures.saturating_sub(1).min(10));
    doubled.min(interval.max(FIRST_BACKOFF)).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::sync::ReadyCondition;

    fn status(ready: bool, reason: &str) -> SyncStatus {
        SyncStatus {
            ready: Some(ReadyCondition {
                status: if ready { "True" } else { "False" }.into(),
                reason: reason.into(),
                message: "applied revision main@sha1:abc".into(),
                last_transition_time: 0,
            }),
            last_applied_revision: Some("main@sha1:abc".into()),
            inventory: vec![ObjectRef {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                namespace: Some("shop".into()),
                name: "settings".into(),
            }],
            drift_corrected: 2,
            drift_corrected_total: 5,
            ..SyncStatus::default()
        }
    }

    #[test]
    fn the_status_round_trips_through_the_resource_and_keeps_the_inventory() {
        let original = status(true, reason::RECONCILIATION_SUCCEEDED);
        let resource = to_resource(&original);
        assert_eq!(resource.inventory[0].kind, "ConfigMap");
        assert_eq!(resource.drift_corrected, 2);
        let json = serde_json::to_value(&resource).unwrap();
        assert_eq!(json["lastAppliedRevision"], "main@sha1:abc");
        let back = from_resource(&serde_json::from_value(json).unwrap());
        assert_eq!(back.inventory, original.inventory);
        assert_eq!(back.last_applied_revision, original.last_applied_revision);
        assert_eq!(back.drift_corrected_total, 5);
        assert!(
            back.ready.is_none(),
            "Ready is decided again by the next run"
        );
    }

    #[test]
    fn failures_keep_their_reason_and_suspension_wins() {
        let failed = health(Some(&status(false, reason::BUILD_FAILED)), false);
        assert!(
            matches!(failed, Health::Failed { reason, .. } if reason == REASON_BUILD_FAILED),
            "{failed:?}"
        );
        let ready = health(Some(&status(true, reason::RECONCILIATION_SUCCEEDED)), false);
        assert!(matches!(ready, Health::Ready { .. }));
        assert!(matches!(health(None, false), Health::Progressing { .. }));
        let suspended = health(Some(&status(true, "x")), true);
        assert!(matches!(suspended, Health::Failed { reason, .. } if reason == REASON_SUSPENDED));
        assert_eq!(failure_reason("Unheard"), REASON_APPLY_FAILED);
    }
}

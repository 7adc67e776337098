//! Syncs in controller mode: the driver's Sync half. Each valid, active Sync is
//! reconciled at its interval, at once when it is new, changed or requested
//! (`reconcile.tagpilot.dev/requestedAt`), when its GitRepository changes,
//! and when an automation pushes to that GitRepository. Each run is a task of
//! its own, so a health wait holds neither the other kinds nor other Syncs. A
//! run fetches the source into the Sync's own working copy under
//! `<state>/sync/NAMESPACE/NAME` (apart from the automations' copies), calls
//! the same `apply::sync::reconcile` as standalone mode, and keeps the
//! resulting `SyncStatus` in memory; [`SyncDriver::desired`] turns it into the
//! Sync's status subresource (kstatus conditions and Flux-like fields), which
//! the driver writes with the other kinds' statuses.
//!
//! The previous inventory (what prune compares with) comes from the Sync's own
//! status in the cluster when this process has not run it yet, so pruning
//! survives restarts and leader changes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::backoff::{Backoff, MAX_BACKOFF};
use super::conditions::{
    EVENT_SYNC_APPLIED, EVENT_SYNC_FAILED, Health, REASON_APPLY_FAILED, REASON_ARTIFACT_FAILED,
    REASON_BUILD_FAILED, REASON_HEALTH_CHECK_FAILED, REASON_SUSPENDED,
};
use super::events::EventSink;
use super::kinds::Kind;
use super::snapshot::{CachedObject, ObjectId, Snapshot};
use super::status::StatusError;
use super::sync_status::{from_resource, to_resource};
use crate::apply::standalone::{fetch_source, record_metrics};
use crate::apply::sync::{
    SyncOutcome, SyncSettings, SyncStatus, reason, reconcile, source_failed, sync_labels,
};
use crate::apply::{Action, Applier, RenderOptions};
use crate::config::meta::ObjectKey;
use crate::engine::metrics::Metrics;
use crate::engine::objects::ObjectSet;
use crate::git::GitWorkspace;

/// Runs the Syncs of the current snapshot.
pub struct SyncDriver {
    applier: Arc<Applier>,
    /// How kustomizations are rendered.
    render: RenderOptions,
    /// `<state>/sync`: each Sync has its working copy below (`NAMESPACE/NAME`).
    workspace_root: PathBuf,
    metrics: Arc<Metrics>,
    statuses: BTreeMap<ObjectKey, SyncStatus>,
    next: BTreeMap<ObjectKey, Instant>,
    failures: Backoff,
    /// The last failure message published as an event, per Sync (no repeats).
    announced: BTreeMap<ObjectKey, String>,
    /// The runs in progress.
    tasks: JoinSet<Finished>,
    /// The Syncs those runs are for, and their tasks.
    running: BTreeMap<ObjectKey, tokio::task::Id>,
    /// Syncs asked for while running: run again when done.
    rerun: BTreeSet<ObjectKey>,
}

/// One finished Sync run.
#[derive(Debug)]
pub struct Finished {
    key: ObjectKey,
    previous: SyncStatus,
    outcome: SyncOutcome,
    elapsed: Duration,
}

impl SyncDriver {
    /// A driver applying with `client`, its working copies under `state_dir/sync`.
    pub fn new(client: kube::Client, state_dir: &Path, metrics: Arc<Metrics>) -> Self {
        Self {
            applier: Arc::new(Applier::new(client)),
            render: RenderOptions::default(),
            workspace_root: state_dir.join("sync"),
            metrics,
            statuses: BTreeMap::new(),
            next: BTreeMap::new(),
            failures: Backoff::default(),
            announced: BTreeMap::new(),
            tasks: JoinSet::new(),
            running: BTreeMap::new(),
            rerun: BTreeSet::new(),
        }
    }

    /// Renders kustomizations as `render` says (the kustomize binary).
    pub fn with_render(mut self, render: RenderOptions) -> Self {
        self.render = render;
        self
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
            let Some(status) = entry.object.data.get("status").cloned().and_then(|value| {
                serde_json::from_value::<crate::api::status::SyncStatus>(value).ok()
            }) else {
                continue;
            };
            self.statuses.insert(key, from_resource(&status));
        }
    }

    /// Runs `key` at the next step (new, changed or requested), or again as
    /// soon as the run in progress finishes.
    pub fn request(&mut self, key: &ObjectKey) {
        self.failures.forget(key);
        self.run_soon(key);
    }

    fn run_soon(&mut self, key: &ObjectKey) {
        if self.running.contains_key(key) {
            self.rerun.insert(key.clone());
        } else {
            self.next.insert(key.clone(), Instant::now());
        }
    }

    /// Runs every Sync of the GitRepository `source` at the next step.
    pub fn source_changed(&mut self, objects: &ObjectSet, source: &ObjectKey) {
        let mut keys = Vec::new();
        for (key, entry) in &objects.syncs {
            if &entry.source == source {
                tracing::debug!(sync = %key, %source, "its source changed: applying now");
                keys.push(key.clone());
            }
        }
        for key in keys {
            self.run_soon(&key);
        }
    }

    /// Schedules exactly the valid Syncs that are not suspended (a new one at
    /// once) and forgets the state of Syncs that are gone from `snapshot`. An
    /// invalid Sync keeps its status: its inventory is still what the next
    /// valid revision prunes against (and what its status shows meanwhile).
    pub fn retain(&mut self, objects: &ObjectSet, snapshot: &Snapshot) {
        let active = |key: &ObjectKey| objects.syncs.get(key).is_some_and(|e| !e.suspend);
        self.next.retain(|key, _| active(key));
        let now = Instant::now();
        for key in objects.syncs.keys().filter(|key| active(key)) {
            if !self.running.contains_key(key) {
                self.next.entry(key.clone()).or_insert(now);
            }
        }
        let present = |key: &ObjectKey| snapshot.infos.contains_key(&(Kind::Sync, key.clone()));
        self.statuses.retain(|key, _| present(key));
        self.failures.retain(present);
        self.announced.retain(|key, _| present(key));
    }

    /// When the next Sync that is not running is due.
    pub fn next_wake(&self) -> Option<Instant> {
        self.next
            .iter()
            .filter(|(key, _)| !self.running.contains_key(*key))
            .map(|(_, at)| *at)
            .min()
    }

    /// Starts the Syncs that are due, each in its own task (so a health wait
    /// holds neither the other kinds nor the other Syncs); a Sync never runs
    /// twice at once. Their results come from [`SyncDriver::finished`].
    pub fn start_due(&mut self, objects: &ObjectSet) {
        let now = Instant::now();
        let due: Vec<ObjectKey> = self
            .next
            .iter()
            .filter(|(key, at)| **at <= now && !self.running.contains_key(*key))
            .map(|(key, _)| key.clone())
            .collect();
        for key in due {
            self.next.remove(&key);
            let Some(entry) = objects.syncs.get(&key).cloned() else {
                continue;
            };
            let source = objects.sources.get(&entry.source).cloned();
            let previous = self.statuses.get(&key).cloned().unwrap_or_default();
            let applier = self.applier.clone();
            let render = self.render.clone();
            // Its own working copy: a run holds the copy's lock until it is
            // done (health wait included), which must not hold other Syncs.
            let workspace =
                GitWorkspace::new(self.workspace_root.join(&key.namespace).join(&key.name));
            let task_key = key.clone();
            let task = self.tasks.spawn(async move {
                let key = task_key;
                let started = Instant::now();
                let outcome = match source {
                    None => source_failed(
                        &previous,
                        format!("GitRepository {} is not defined", entry.source),
                    ),
                    Some(source) => match fetch_source(&workspace, &source).await {
                        Err(message) => source_failed(&previous, message),
                        Ok((checkout_dir, revision, _lock)) => {
                            let settings = SyncSettings {
                                default_namespace: key.namespace.clone(),
                                labels: sync_labels(&key.namespace, &key.name),
                                render,
                                ..SyncSettings::default()
                            };
                            reconcile(
                                &applier,
                                &entry,
                                &checkout_dir,
                                &revision,
                                &previous,
                                &settings,
                            )
                            .await
                        }
                    },
                };
                Finished {
                    key,
                    previous,
                    outcome,
                    elapsed: started.elapsed(),
                }
            });
            self.running.insert(key, task.id());
        }
    }

    /// Whether a Sync is running (then [`SyncDriver::finished`] will resolve).
    pub fn is_running(&self) -> bool {
        !self.tasks.is_empty()
    }

    /// The next Sync run to finish (pending while none runs). A run whose
    /// task failed (a bug) is retried after a backoff.
    pub async fn finished(&mut self) -> Finished {
        loop {
            match self.tasks.join_next_with_id().await {
                None => return std::future::pending().await,
                Some(Ok((_, finished))) => return finished,
                Some(Err(error)) => {
                    let id = error.id();
                    let key = self
                        .running
                        .iter()
                        .find(|(_, task)| **task == id)
                        .map(|(key, _)| key.clone());
                    if let Some(key) = key {
                        tracing::error!(sync = %key, %error, "a Sync run failed; retrying later");
                        self.running.remove(&key);
                        self.next.insert(key, Instant::now() + MAX_BACKOFF);
                    }
                }
            }
        }
    }

    /// Stops the runs in progress (the controller is stopping or lost its
    /// Lease). Safe: applying is idempotent, and the next run applies the
    /// revision again.
    pub fn abort(&mut self) {
        self.tasks.abort_all();
        self.running.clear();
    }

    /// Records a finished run: status, metrics, the next run, and an event for
    /// each applied revision and each new failure.
    pub fn complete(
        &mut self,
        finished: Finished,
        objects: &ObjectSet,
        snapshot: &Snapshot,
        events: &EventSink,
    ) {
        let Finished {
            key,
            previous,
            outcome,
            elapsed,
        } = finished;
        self.running.remove(&key);
        let Some(entry) = objects.syncs.get(&key) else {
            self.rerun.remove(&key);
            return; // Deleted while it ran.
        };
        record_metrics(&self.metrics, &key, &outcome.status, elapsed);
        let wait = self
            .failures
            .after_run(&key, outcome.retry_soon, entry.interval);
        let at = if self.rerun.remove(&key) {
            Instant::now()
        } else {
            Instant::now() + wait
        };
        if !entry.suspend {
            self.next.insert(key.clone(), at);
        }
        if let Some(info) = snapshot.infos.get(&(Kind::Sync, key.clone())) {
            let reference = info.reference(&key);
            match announcement(&previous, &outcome) {
                Some(Announcement::Applied(note)) => {
                    self.announced.remove(&key);
                    events.normal(&reference, EVENT_SYNC_APPLIED, note);
                }
                Some(Announcement::Failed(note)) if self.announced.get(&key) != Some(&note) => {
                    self.announced.insert(key.clone(), note.clone());
                    events.warning(&reference, EVENT_SYNC_FAILED, note);
                }
                Some(Announcement::Failed(_)) | None => {}
            }
        }
        log_outcome(&key, &outcome);
        self.statuses.insert(key, outcome.status);
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
            resource.observed_generation = info.generation;
            let mut body = serde_json::to_value(resource).map_err(StatusError::Serialize)?;
            body["conditions"] =
                serde_json::to_value(health.conditions(info.generation, &info.conditions))
                    .map_err(StatusError::Serialize)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::ObjectRef;
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

    /// Regression: an invalid Sync's status lost its inventory (so the next
    /// valid revision could not prune what it had applied).
    #[tokio::test]
    async fn an_invalid_sync_keeps_its_inventory_until_it_is_deleted() {
        let service =
            tower::service_fn(|_request: axum::http::Request<kube::client::Body>| async {
                Err::<axum::http::Response<kube::client::Body>, _>(std::io::Error::other(
                    "no server",
                ))
            });
        let directory = tempfile::tempdir().unwrap();
        let mut driver = SyncDriver::new(
            kube::Client::new(service, "default"),
            directory.path(),
            Arc::new(Metrics::new()),
        );
        let key = ObjectKey::new("shop", "app");
        driver
            .statuses
            .insert(key.clone(), status(true, reason::RECONCILIATION_SUCCEEDED));
        let mut snapshot = Snapshot::default();
        snapshot.infos.insert(
            (Kind::Sync, key.clone()),
            super::super::snapshot::ObjectInfo {
                generation: Some(2),
                uid: None,
                requested_at: Default::default(),
                labels: Default::default(),
                event_annotations: Default::default(),
                conditions: Vec::new(),
                resource: Kind::Sync.api_resource(super::super::kinds::ApiFlavor::Tagpilot),
            },
        );
        snapshot.problems.insert(
            (Kind::Sync, key.clone()),
            Health::Stalled {
                message: "spec.path: leads outside the repository".into(),
            },
        );
        let objects = ObjectSet::default();
        driver.retain(&objects, &snapshot);
        assert!(driver.next_wake().is_none(), "an invalid Sync is not run");
        let desired = driver.desired(&snapshot, &objects).unwrap();
        let (health, body) = &desired[&(Kind::Sync, key.clone())];
        assert!(matches!(health, Health::Stalled { .. }), "{health:?}");
        assert_eq!(body["inventory"][0]["name"], "settings", "{body}");
        assert_eq!(body["lastAppliedRevision"], "main@sha1:abc");
        assert_eq!(body["observedGeneration"], 2);

        driver.retain(&objects, &Snapshot::default());
        assert!(driver.statuses.is_empty(), "a deleted Sync is forgotten");
    }
}

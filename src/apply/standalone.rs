//! Syncs in standalone mode (`tagpilot run --config DIR`): each Sync's
//! GitRepository is fetched into its own working copy under
//! `<state>/sync/git` (apart from the automations' copies, so neither waits
//! for the other), the path is rendered and applied to the cluster of the
//! current kubeconfig at every interval, and the status is kept in
//! `<state>/syncs.json` (shown by `tagpilot status`) and in the metrics.
//!
//! The engine's `status.json` has one writer, the engine; this file has one
//! writer, the [`SyncRunner`]. That keeps `engine` free of `kube` and the two
//! loops from overwriting each other's records.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::applier::Applier;
use super::sync::{SyncOutcome, SyncSettings, SyncStatus, reconcile};
use crate::config::meta::ObjectKey;
use crate::config::sync::SyncEntry;
use crate::engine::metrics::Metrics;
use crate::engine::objects::SourceEntry;
use crate::engine::state::{StateError, load_json, save_json};
use crate::git::{CheckoutSpec, GitWorkspace};

/// How soon a Sync whose failure may pass on its own (fetch, network) is tried again.
const RETRY_INTERVAL: Duration = Duration::from_secs(30);

/// The file under the state directory holding every Sync's status.
pub const SYNC_STATUS_FILE: &str = "syncs.json";

/// Every Sync's status, keyed by `namespace/name`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatusFile {
    /// Syncs.
    #[serde(default)]
    pub syncs: BTreeMap<String, SyncStatus>,
}

impl SyncStatusFile {
    /// Reads `syncs.json` from `state_dir`; a missing file is empty.
    pub fn load(state_dir: &Path) -> Result<Self, StateError> {
        load_json(state_dir, SYNC_STATUS_FILE)
    }

    /// Writes `syncs.json` atomically (temporary file, fsync, rename).
    pub fn save(&self, state_dir: &Path) -> Result<(), StateError> {
        save_json(self, state_dir, SYNC_STATUS_FILE)
    }
}

/// Runs the Syncs of one configuration.
pub struct SyncRunner {
    applier: Applier,
    syncs: BTreeMap<ObjectKey, SyncEntry>,
    sources: BTreeMap<ObjectKey, SourceEntry>,
    workspace: GitWorkspace,
    state_dir: PathBuf,
    status: SyncStatusFile,
    settings: SyncSettings,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for SyncRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncRunner")
            .field("syncs", &self.syncs.keys().collect::<Vec<_>>())
            .field("state_dir", &self.state_dir)
            .finish()
    }
}

impl SyncRunner {
    /// A runner for `syncs` (their GitRepositories in `sources`), keeping state under `state_dir`.
    pub fn new(
        applier: Applier,
        syncs: BTreeMap<ObjectKey, SyncEntry>,
        sources: BTreeMap<ObjectKey, SourceEntry>,
        state_dir: &Path,
        settings: SyncSettings,
        metrics: Arc<Metrics>,
    ) -> Result<Self, StateError> {
        Ok(Self {
            applier,
            syncs,
            sources,
            workspace: GitWorkspace::new(state_dir.join("sync")),
            state_dir: state_dir.to_path_buf(),
            status: SyncStatusFile::load(state_dir)?,
            settings,
            metrics,
        })
    }

    /// The status of every Sync.
    pub fn status(&self) -> &SyncStatusFile {
        &self.status
    }

    /// Reconciles every Sync that is not suspended, once, in key order.
    pub async fn run_all_once(&mut self) -> Vec<(ObjectKey, SyncOutcome)> {
        let keys: Vec<ObjectKey> = self.syncs.keys().cloned().collect();
        let mut outcomes = Vec::new();
        for key in keys {
            if let Some(outcome) = self.run_one(&key).await {
                outcomes.push((key, outcome));
            }
        }
        outcomes
    }

    /// Reconciles each Sync at its interval until `shutdown` resolves.
    pub async fn run_loop(&mut self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut next: BTreeMap<ObjectKey, Instant> = self
            .syncs
            .keys()
            .map(|key| (key.clone(), Instant::now()))
            .collect();
        loop {
            let now = Instant::now();
            let due: Vec<ObjectKey> = next
                .iter()
                .filter(|(_, at)| **at <= now)
                .map(|(key, _)| key.clone())
                .collect();
            for key in due {
                let outcome = self.run_one(&key).await;
                let mut wait = self
                    .syncs
                    .get(&key)
                    .map_or(Duration::from_secs(60), |e| e.interval);
                if let Some(outcome) = outcome {
                    log_outcome(&key, &outcome);
                    if outcome.retry_soon {
                        wait = wait.min(RETRY_INTERVAL);
                    }
                }
                next.insert(key, Instant::now() + wait);
            }
            let wake = next
                .values()
                .min()
                .copied()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(60));
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep_until(wake.into()) => {}
            }
        }
    }

    /// One Sync: fetch, render, apply, record. `None` when suspended or unknown.
    pub async fn run_one(&mut self, key: &ObjectKey) -> Option<SyncOutcome> {
        let entry = self.syncs.get(key)?.clone();
        let previous = self
            .status
            .syncs
            .get(&key.to_string())
            .cloned()
            .unwrap_or_default();
        if entry.suspend {
            tracing::debug!(sync = %key, "suspended");
            return None;
        }
        let started = Instant::now();
        let settings = SyncSettings {
            labels: super::sync::sync_labels(&key.namespace, &key.name),
            ..self.settings.clone()
        };
        let outcome = match self.fetch(&entry).await {
            Ok((checkout_dir, revision, _guard)) => {
                reconcile(
                    &self.applier,
                    &entry,
                    &checkout_dir,
                    &revision,
                    &previous,
                    &settings,
                )
                .await
            }
            Err(message) => super::sync::source_failed(&previous, message),
        };
        self.record(key, &outcome, started.elapsed());
        Some(outcome)
    }

    /// Fetches the Sync's source; the checkout directory, the revision and the
    /// working copy's lock (held while the files are read).
    async fn fetch(
        &self,
        entry: &SyncEntry,
    ) -> Result<(PathBuf, String, crate::git::Checkout), String> {
        let source = self
            .sources
            .get(&entry.source)
            .ok_or_else(|| format!("GitRepository {} is not defined", entry.source))?;
        fetch_source(&self.workspace, source).await
    }

    fn record(&mut self, key: &ObjectKey, outcome: &SyncOutcome, elapsed: Duration) {
        record_metrics(&self.metrics, key, &outcome.status, elapsed);
        self.status
            .syncs
            .insert(key.to_string(), outcome.status.clone());
        if let Err(error) = self.status.save(&self.state_dir) {
            tracing::error!(%error, "cannot save the Sync status");
        }
    }
}

/// Fetches `source` (a GitRepository) into its working copy in `workspace`;
/// the checkout directory, the revision (`branch@sha1:...`) and the working
/// copy's lock (hold it while the files are read). The error says what failed
/// and never holds credentials (git errors do not).
pub async fn fetch_source(
    workspace: &GitWorkspace,
    source: &SourceEntry,
) -> Result<(PathBuf, String, crate::git::Checkout), String> {
    let source = source.clone();
    let workspace = workspace.clone();
    let prepared = tokio::task::spawn_blocking(move || {
        let checkout = CheckoutSpec {
            reference: source.reference.clone(),
        };
        workspace
            .prepare(&source.repo, &checkout)
            .map(|checkout| (checkout, source.reference.to_string()))
    })
    .await
    .map_err(|error| format!("the fetch task failed: {error}"))?;
    let (checkout, branch) = prepared.map_err(|error| error.to_string())?;
    let revision = format!("{branch}@sha1:{}", checkout.base());
    Ok((checkout.path().to_path_buf(), revision, checkout))
}

/// Records one Sync run in the metrics (`tagpilot_sync_*`), the same in both modes.
pub fn record_metrics(metrics: &Metrics, key: &ObjectKey, status: &SyncStatus, elapsed: Duration) {
    let name = key.to_string();
    let ready = status.is_ready();
    metrics.increment(
        "tagpilot_sync_runs_total",
        &[
            ("sync", &name),
            ("result", if ready { "ready" } else { "failed" }),
        ],
    );
    metrics.set(
        "tagpilot_sync_ready",
        &[("sync", &name)],
        if ready { 1.0 } else { 0.0 },
    );
    metrics.set(
        "tagpilot_sync_objects",
        &[("sync", &name)],
        status.inventory.len() as f64,
    );
    metrics.add(
        "tagpilot_sync_drift_corrected_total",
        &[("sync", &name)],
        status.drift_corrected as f64,
    );
    metrics.add(
        "tagpilot_sync_duration_seconds_sum",
        &[("sync", &name)],
        elapsed.as_secs_f64(),
    );
    if !ready {
        metrics.increment("tagpilot_failures_total", &[("kind", "Sync")]);
    }
}

/// Logs one outcome (the daemon's view; `run --once` prints instead).
fn log_outcome(key: &ObjectKey, outcome: &SyncOutcome) {
    let Some(ready) = &outcome.status.ready else {
        return;
    };
    let changed = outcome
        .objects
        .iter()
        .filter(|object| object.action != crate::apply::Action::Unchanged)
        .count();
    if ready.status == "True" && changed == 0 {
        // Like a scan that finds nothing new: no line at the daemon's level.
        tracing::debug!(sync = %key, message = %ready.message, "sync ready, nothing changed");
    } else if ready.status == "True" {
        tracing::info!(sync = %key, changed, drift_corrected = outcome.status.drift_corrected, message = %ready.message, "sync ready");
    } else {
        tracing::warn!(sync = %key, reason = %ready.reason, message = %ready.message, "sync not ready");
    }
}

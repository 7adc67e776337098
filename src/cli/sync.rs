//! The Syncs of `tagpilot run`: taken from the loaded configuration, run by
//! `apply`'s [`SyncRunner`] against the cluster of the current kubeconfig, and
//! printed by `run --once` (`sync NS/NAME: applied REVISION (...)`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::CommandError;
use crate::apply::standalone::SyncRunner;
use crate::apply::sync::SyncSettings;
use crate::apply::{Action, Applier};
use crate::config::meta::ObjectKey;
use crate::config::sync::SyncEntry;
use crate::engine::metrics::Metrics;
use crate::engine::objects::{ObjectSet, SourceEntry};

/// The Syncs of a configuration and the GitRepositories they read.
#[derive(Debug, Default)]
pub struct SyncObjects {
    syncs: BTreeMap<ObjectKey, SyncEntry>,
    sources: BTreeMap<ObjectKey, SourceEntry>,
    state_dir: PathBuf,
}

impl SyncObjects {
    /// Copies the Syncs (and their sources) out of `objects`.
    pub fn take(objects: &ObjectSet, state_dir: &Path) -> Self {
        let syncs = objects.syncs.clone();
        let sources = objects
            .sources
            .iter()
            .filter(|(key, _)| syncs.values().any(|sync| &sync.source == *key))
            .map(|(key, entry)| (key.clone(), entry.clone()))
            .collect();
        Self {
            syncs,
            sources,
            state_dir: state_dir.to_path_buf(),
        }
    }

    /// A runner connected to the current kubeconfig's cluster; `None` without Syncs
    /// (then no cluster is needed).
    pub async fn runner(self, metrics: Arc<Metrics>) -> Result<Option<SyncRunner>, CommandError> {
        if self.syncs.is_empty() {
            return Ok(None);
        }
        let client = super::kubeconfig::client()
            .await
            .map_err(|error| match error {
                CommandError::Failed(e) => {
                    CommandError::Failed(e.context("the configuration has Syncs"))
                }
                CommandError::InvalidInput(e) => {
                    CommandError::InvalidInput(e.context("the configuration has Syncs"))
                }
            })?;
        let settings = SyncSettings {
            default_namespace: client.default_namespace().to_string(),
            ..SyncSettings::default()
        };
        SyncRunner::new(
            Applier::new(client),
            self.syncs,
            self.sources,
            &self.state_dir,
            settings,
            metrics,
        )
        .map(Some)
        .map_err(|e| CommandError::Failed(e.into()))
    }
}

/// Runs every Sync once and prints one line each; true when all are Ready.
pub async fn run_once(runner: &mut SyncRunner) -> bool {
    let mut all_ready = true;
    for (key, outcome) in runner.run_all_once().await {
        let status = &outcome.status;
        let Some(ready) = &status.ready else {
            continue;
        };
        for result in &outcome.objects {
            if result.action != Action::Unchanged {
                println!(
                    "sync {key}: {} {}",
                    result.object.kubectl_name(),
                    result.action
                );
            }
        }
        if ready.status == "True" {
            let drift = if status.drift_corrected > 0 {
                format!(", {} drifted objects corrected", status.drift_corrected)
            } else {
                String::new()
            };
            println!("sync {key}: {}{drift}", ready.message);
        } else {
            all_ready = false;
            eprintln!("error: sync {key}: {}: {}", ready.reason, ready.message);
        }
    }
    all_ready
}

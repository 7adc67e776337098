//! What an automation run reads, owned ([`Runner`]), so a run can be a task of
//! its own while the loop that started it scans, evaluates and records; and
//! the recording of runs that ended ([`Engine::record_runs`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use super::super::annotation_memory::AnnotationMemory;
use super::super::metrics::Metrics;
use super::super::objects::ObjectSet;
use super::super::pull_request::PullRequestStatus;
use super::super::state::{PolicyStatus, epoch_seconds};
use super::{AutomationReport, CycleMode, Engine};
use crate::config::meta::ObjectKey;
use crate::git::{GitWorkspace, RetryPolicy};
use crate::registry::TagStore;
use crate::registry::created_store::CreatedStore;

/// Everything an automation run reads, taken from the engine when the runner
/// is ([`Engine::runner`]): the objects and the policies' results of that
/// moment, and handles to what runs share (registry client, tag store, git
/// workspace, metrics). Cheap to clone.
#[derive(Clone)]
pub struct Runner<C> {
    pub(in crate::engine) objects: Arc<ObjectSet>,
    pub(in crate::engine) client: Arc<C>,
    pub(in crate::engine) store: Arc<TagStore>,
    pub(in crate::engine) workspace: GitWorkspace,
    pub(in crate::engine) metrics: Arc<Metrics>,
    pub(in crate::engine) retry: RetryPolicy,
    pub(in crate::engine) created: Arc<CreatedStore>,
    pub(in crate::engine) annotation_memory: Arc<Mutex<AnnotationMemory>>,
    /// The policies' results, by `namespace/name`.
    pub(in crate::engine) policies: Arc<BTreeMap<String, PolicyStatus>>,
    /// Each automation's pull request as last seen, by `namespace/name`.
    pub(in crate::engine) pull_requests: Arc<BTreeMap<String, PullRequestStatus>>,
    /// When the runner was taken: what it holds is the engine's of then.
    pub(in crate::engine) taken_at: Instant,
}

impl<C: super::super::EngineClient> Runner<C> {
    /// The policies automation `key` considers (`namespace/name`), with their
    /// latest reference (those without one yet are left out).
    pub(in crate::engine) fn observed_policies(&self, key: &ObjectKey) -> BTreeMap<String, String> {
        self.objects
            .policies_for(key)
            .into_iter()
            .filter_map(|policy| {
                let policy = policy.to_string();
                let latest = self.policies.get(&policy)?.latest_ref.clone()?;
                Some((policy, latest))
            })
            .collect()
    }
}

impl<C: super::super::EngineClient> Engine<C> {
    /// A runner over the objects and policy results of now: runs started
    /// from it see no evaluation that happens while they run.
    pub fn runner(&self) -> Runner<C> {
        Runner {
            objects: self.objects.clone(),
            client: self.client.clone(),
            store: self.store.clone(),
            workspace: self.workspace.clone(),
            metrics: self.metrics.clone(),
            retry: self.retry.clone(),
            created: self.created.clone(),
            annotation_memory: self.annotation_memory.clone(),
            policies: Arc::new(self.status.policies.clone()),
            pull_requests: Arc::new(
                self.status
                    .automations
                    .iter()
                    .filter_map(|(key, status)| Some((key.clone(), status.pull_request.clone()?)))
                    .collect(),
            ),
            taken_at: Instant::now(),
        }
    }

    /// Records what runs in `mode` did (in Commit mode their status, written
    /// to `status.json` within [`super::STATUS_FLUSH`]: the loops record each
    /// run as it ends), and counts the failed ones.
    pub fn record_runs(&mut self, runs: &[(ObjectKey, AutomationReport)], mode: CycleMode) {
        for (key, report) in runs {
            if mode == CycleMode::Commit {
                let status = self.status.automations.entry(key.to_string()).or_default();
                let now = epoch_seconds(SystemTime::now());
                status.last_run_time = Some(now);
                status.observed_policies = report.observed_policies.clone();
                status.last_error = report.error.clone();
                status.images = report.images.clone();
                status.containers = report.containers.clone();
                status.held_downgrades = report
                    .held_downgrades
                    .iter()
                    .map(|d| {
                        format!(
                            "{} {}: holds {}, policy says {}",
                            d.location, d.setter, d.current, d.result
                        )
                    })
                    .collect();
                if let Some(commit) = &report.commit {
                    status.last_push_commit = Some(commit.clone());
                    status.last_push_time = Some(now);
                }
                if let Some(pull_request) = &report.pull_request {
                    status.pull_request = Some(pull_request.status.clone());
                }
            }
            if report.has_errors() {
                self.metrics.increment(
                    "tagpilot_failures_total",
                    &[("kind", "ImageUpdateAutomation")],
                );
            }
        }
        if mode == CycleMode::Commit && !runs.is_empty() {
            self.status_saved.1 = true;
            self.flush_status_if_due();
        }
    }
}

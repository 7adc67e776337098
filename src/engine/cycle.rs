//! One automation cycle: scan the image repositories, evaluate the policies,
//! run the automations. Each step reads what the previous one stored, so a
//! failed scan keeps the previous tag list and therefore the previous policy
//! result (invariant 4), and an automation writes only the results it has.
//!
//! The engine is generic over the registry client so unit tests can scan an
//! in-memory registry; git and the update engine run for real on local paths.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use serde::Serialize;

use super::annotation_memory::AnnotationMemory;
pub use super::annotations::{ContainerReport, ImageScanReport};
use super::automation_git::planned_message;
use super::eligibility::{Evaluated, Failed};
pub use super::guard::HeldDowngrade;
use super::guard::{AutomationInputs, PolicyInput, change_set, update_with_guard};
use super::image_details::ImageDescriber;
use super::metrics::Metrics;
use super::objects::ObjectSet;
use super::state::Status;
use crate::config::image_policy::DigestReflectionPolicy;
use crate::config::meta::ObjectKey;
use crate::git::{AutomationOutcome, ChangeLine, GitWorkspace, RetryPolicy};
use crate::image::ImageReference;
use crate::policy::Skipped;
use crate::registry::created_store::CreatedStore;
use crate::registry::{ScanError, StoredTags, TagList, TagStore};
use crate::update::{PolicyId, PolicyResult, UpdateMode};

use crate::redact::with_causes;

/// Whether a cycle may commit and push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CycleMode {
    /// Commit and push (`tagpilot run`).
    Commit,
    /// Compute the diff and message only (`tagpilot plan`).
    Plan,
}

/// The outcome of scanning one ImageRepository.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanReport {
    /// `namespace/name`.
    pub repository: String,
    /// Tags in the stored list after the scan.
    pub tags: usize,
    /// The error, when the scan failed or was partial.
    pub error: Option<String>,
}

/// The outcome of evaluating one ImagePolicy.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyReport {
    /// `namespace/name`.
    pub policy: String,
    /// The chosen reference.
    pub latest: Option<String>,
    /// The reference chosen before, when it changed in this cycle.
    pub previous: Option<String>,
    /// Whether the result changed in this cycle.
    pub changed: bool,
    /// The error, when nothing could be chosen.
    pub error: Option<String>,
    /// Better candidates passed over because their images failed a
    /// requirement (signature, platforms, age), best first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
    /// Whether the skipped candidates differ from the previous evaluation's.
    #[serde(skip)]
    pub skipped_changed: bool,
    /// When a better candidate skipped as too young becomes old enough: the
    /// policy is evaluated again then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recheck_at: Option<jiff::Timestamp>,
}

/// The outcome of one automation.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AutomationReport {
    /// `namespace/name`.
    pub automation: String,
    /// The commit pushed (Commit mode), if any.
    pub commit: Option<String>,
    /// Every changed value.
    pub changes: Vec<ChangeLine>,
    /// The unified diff (Plan mode).
    pub diff: Option<String>,
    /// The commit message (Plan mode, or the pushed commit's).
    pub message: Option<String>,
    /// Markers held back because the result would be a downgrade.
    pub held_downgrades: Vec<HeldDowngrade>,
    /// The error, when the run failed.
    pub error: Option<String>,
    /// What the run did to its pull request (`git.push.pullRequest`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<super::pull_request::PullRequestReport>,
    /// Strategy `Annotations`: each image the workloads name, as scanned in the run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<ImageScanReport>,
    /// Strategy `Annotations`: the decision for each container.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<ContainerReport>,
    /// Run again this soon rather than at the interval (a webhook's tag not
    /// listed yet, creation times left to look up).
    #[serde(skip)]
    pub run_again_after: Option<std::time::Duration>,
    /// The policies the run considered: `namespace/name` → latest reference then.
    #[serde(skip)]
    pub observed_policies: BTreeMap<String, String>,
    /// The moment whose objects and policy results the run used: a request
    /// to run made before it is answered by this run.
    #[serde(skip)]
    pub as_of: Option<Instant>,
}

impl AutomationReport {
    /// Whether the run failed, or an image or container of it did.
    pub fn has_errors(&self) -> bool {
        self.error.is_some()
            || self.images.iter().any(|i| i.error.is_some())
            || self.containers.iter().any(|c| c.result.is_problem())
    }
}

/// Everything one cycle did.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CycleReport {
    /// Scans.
    pub scans: Vec<ScanReport>,
    /// Policy evaluations.
    pub policies: Vec<PolicyReport>,
    /// Automation runs.
    pub automations: Vec<AutomationReport>,
}

impl CycleReport {
    /// Whether any object failed.
    pub fn has_errors(&self) -> bool {
        self.scans.iter().any(|s| s.error.is_some())
            || self.policies.iter().any(|p| p.error.is_some())
            || self.automations.iter().any(AutomationReport::has_errors)
    }
}

/// The shared engine of `run` and `plan`.
pub struct Engine<C> {
    pub(super) objects: Arc<ObjectSet>,
    pub(super) client: Arc<C>,
    pub(super) store: Arc<TagStore>,
    pub(super) facts: super::eligibility::FactCache,
    pub(super) workspace: GitWorkspace,
    state_dir: PathBuf,
    pub(super) status: Status,
    pub(super) metrics: Arc<Metrics>,
    pub(super) retry: RetryPolicy,
    /// Creation times by digest (strategy `Annotations`).
    pub(super) created: Arc<CreatedStore>,
    /// What earlier runs of `Annotations` automations found.
    pub(super) annotation_memory: Arc<Mutex<AnnotationMemory>>,
    /// Per policy, its last result and the stored list it was chosen from:
    /// until that list is replaced (a scan of its repository) or the objects
    /// change, evaluating it again would give the same result.
    evaluated: HashMap<ObjectKey, Memo>,
    /// When `status.json` was last written, and whether it is behind memory.
    status_saved: (Option<Instant>, bool),
}

/// A policy's last successful result that no clock can change (see
/// `Engine::evaluated`): one with a candidate waiting for its minimum age
/// (`recheck_at`) is never kept.
struct Memo {
    /// The stored list it was chosen from (weak: the store owns lists; a
    /// replaced list's address is never reused while this holds it).
    list: Weak<StoredTags>,
    /// The chosen reference.
    latest: String,
    /// The candidates skipped on the way.
    skipped: Vec<Skipped>,
}

/// The longest `status.json` lags behind an evaluation that changed no policy
/// result (scan times only): the daemon writes it at most this often then.
pub(crate) const STATUS_FLUSH: Duration = Duration::from_secs(1);

/// How many automations of different working copies run at once (their git
/// work is on blocking threads; most of a run waits on the git server).
pub const AUTOMATIONS_AT_ONCE: usize = 8;

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The tag store could not be opened.
    #[error("cannot open the tag store: {0}")]
    Store(#[source] crate::registry::store::StoreError),
    /// `status.json` could not be read.
    #[error(transparent)]
    State(#[from] super::state::StateError),
    /// The creation-time store could not be opened.
    #[error("cannot open the creation-time store: {0}")]
    Created(#[source] crate::registry::created_store::CreatedStoreError),
}

impl<C: super::EngineClient> Engine<C> {
    /// An engine over `objects`, scanning with `client`, keeping state in `state_dir`.
    pub fn new(
        objects: ObjectSet,
        client: C,
        state_dir: &Path,
        metrics: Arc<Metrics>,
    ) -> Result<Self, EngineError> {
        let store = Arc::new(TagStore::open(state_dir).map_err(EngineError::Store)?);
        let created = Arc::new(CreatedStore::open(state_dir).map_err(EngineError::Created)?);
        let status = Status::load(state_dir)?;
        let facts = super::eligibility::FactCache::new(created.clone());
        Ok(Self {
            objects: Arc::new(objects),
            client: Arc::new(client),
            store,
            facts,
            created,
            annotation_memory: Arc::default(),
            workspace: GitWorkspace::new(state_dir),
            state_dir: state_dir.to_path_buf(),
            status,
            metrics,
            retry: RetryPolicy::default(),
            evaluated: HashMap::new(),
            status_saved: (None, false),
        })
    }

    /// The objects the engine runs.
    pub fn objects(&self) -> &ObjectSet {
        &self.objects
    }

    /// Replaces the objects (controller mode: the cluster's objects changed).
    /// Stored tags and results of objects that remain are kept.
    pub fn set_objects(&mut self, objects: ObjectSet) {
        let automations = objects.automations.keys().cloned().collect();
        super::annotation_memory::lock(&self.annotation_memory).retain(&automations);
        self.objects = Arc::new(objects);
        self.evaluated.clear();
    }

    /// What the engine knows of each object (latest results, last pushes, errors).
    pub fn status(&self) -> &Status {
        &self.status
    }

    /// Starts from results recorded elsewhere for objects the engine has none
    /// for (controller mode: the objects' status, e.g. Flux's on a takeover).
    pub fn adopt(&mut self, recorded: Status) {
        if self.status.adopt(recorded) {
            self.save_status();
        }
    }

    /// The tag store.
    pub fn store(&self) -> &TagStore {
        &self.store
    }

    /// Sets the retry policy of rejected pushes.
    pub fn set_push_retry(&mut self, retry: RetryPolicy) {
        self.retry = retry;
    }
}

/// What runs automations: strategy `Annotations` scans in its runs, so it
/// needs creation-time lookups and a client it can hand to git's thread.
impl<C: super::EngineClient> Engine<C> {
    /// One full cycle over every object that is not suspended.
    pub async fn cycle(&mut self, mode: CycleMode) -> CycleReport {
        let started = Instant::now();
        let repositories: Vec<ObjectKey> = self
            .objects
            .active_repositories()
            .map(|(key, _)| key.clone())
            .collect();
        let ahead = (mode == CycleMode::Commit).then(|| self.prepare_working_copies_ahead());
        tracing::debug!(repositories = repositories.len(), "cycle: scanning");
        let scans = self.scan(&repositories).await;
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "cycle: scanned"
        );
        let policies = self.evaluate(mode).await;
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "cycle: evaluated"
        );
        let automations: Vec<ObjectKey> = self
            .objects
            .active_automations()
            .map(|(key, _)| key.clone())
            .collect();
        let automations = self
            .run_automations_after(&automations, mode, ahead.unwrap_or_default())
            .await;
        self.workspace.release_prepared();
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "cycle: done"
        );
        self.metrics.add(
            "tagpilot_cycle_duration_seconds_sum",
            &[],
            started.elapsed().as_secs_f64(),
        );
        CycleReport {
            scans,
            policies,
            automations,
        }
    }
}

impl<C: super::EngineClient> Engine<C> {
    /// Clones or fetches the working copies of the first active automations
    /// (of the Setters strategy; as many working copies as are kept, and
    /// [`AUTOMATIONS_AT_ONCE`] at a time) on blocking threads, while the cycle
    /// scans and evaluates; each automation's run then waits for its own
    /// working copy's task only and takes the copy ready (see
    /// [`crate::git::GitWorkspace::prepare_ahead`]).
    fn prepare_working_copies_ahead(&self) -> HashMap<PathBuf, tokio::task::JoinHandle<()>> {
        let limit = Arc::new(tokio::sync::Semaphore::new(AUTOMATIONS_AT_ONCE));
        let mut tasks = HashMap::new();
        for (key, entry) in self.objects.active_automations() {
            if tasks.len() >= crate::git::MAX_PREPARED_AHEAD {
                break;
            }
            let Some(source) = self.objects.sources.get(&entry.source) else {
                continue;
            };
            let path = self
                .workspace
                .working_copy_of(&source.repo, &entry.checkout);
            if entry.annotations.is_some() || tasks.contains_key(&path) {
                continue;
            }
            let owner = super::automation_git::automation_ref(key);
            let (repo, checkout) = (source.repo.clone(), entry.checkout.clone());
            let (workspace, limit) = (self.workspace.clone(), limit.clone());
            let task = tokio::spawn(async move {
                let _permit = limit.acquire_owned().await;
                // Panics are the task's own (none expected); errors wait for the run.
                let _ = tokio::task::spawn_blocking(move || {
                    workspace.prepare_ahead(&owner, &repo, &checkout);
                })
                .await;
            });
            tasks.insert(path, task);
        }
        tasks
    }

    /// A scan of one repository that owns what it needs, so it can run on its
    /// own while other scans finish (the daemon and the controller record each
    /// as it completes); its time adds to `tagpilot_scan_duration_seconds_sum`.
    /// None for a repository that is not defined or is suspended: whatever
    /// asked (its interval, a webhook, a Receiver, a reconcile request), a
    /// suspended ImageRepository is not scanned, as in Flux.
    pub fn scan_task(
        &self,
        key: &ObjectKey,
    ) -> Option<
        impl std::future::Future<Output = (ObjectKey, Result<TagList, ScanError>)>
        + Send
        + 'static
        + use<C>,
    >
    where
        C: Clone + Send + Sync + 'static,
    {
        let entry = self.objects.repositories.get(key)?;
        if entry.suspend {
            tracing::debug!(repository = %key, "suspended: not scanned");
            return None;
        }
        let target = entry.target.clone();
        let client = self.client.clone();
        let metrics = self.metrics.clone();
        let key = key.clone();
        Some(async move {
            let started = Instant::now();
            let result = client.list_tags(&target).await;
            metrics.add(
                "tagpilot_scan_duration_seconds_sum",
                &[],
                started.elapsed().as_secs_f64(),
            );
            (key, result)
        })
    }

    /// Evaluates every policy against the stored tags of its repository.
    pub async fn evaluate(&mut self, mode: CycleMode) -> Vec<PolicyReport> {
        let objects = self.objects.clone();
        let mut reports = Vec::new();
        let mut results_changed = false;
        for (key, entry) in &objects.policies {
            if entry.suspend {
                // Its last result stays, and automations keep using it.
                continue;
            }
            let stored = self.store.get(&entry.repository);
            let memo = self.evaluated.get(key).filter(|memo| {
                stored
                    .as_ref()
                    .is_some_and(|list| std::ptr::eq(memo.list.as_ptr(), Arc::as_ptr(list)))
            });
            let result = match memo {
                Some(memo) => Ok(Evaluated {
                    latest: memo.latest.clone(),
                    skipped: memo.skipped.clone(),
                    recheck_at: None,
                }),
                None => {
                    let result = self.evaluate_one(&objects, key, entry).await;
                    match (&result, &stored) {
                        (Ok(evaluated), Some(list)) if evaluated.recheck_at.is_none() => {
                            let memo = Memo {
                                list: Arc::downgrade(list),
                                latest: evaluated.latest.clone(),
                                skipped: evaluated.skipped.clone(),
                            };
                            self.evaluated.insert(key.clone(), memo);
                        }
                        _ => {
                            self.evaluated.remove(key);
                        }
                    }
                    result
                }
            };
            let status = self.status.policies.entry(key.to_string()).or_default();
            let before = status.clone();
            let (skipped, recheck_at) = match &result {
                Ok(evaluated) => (evaluated.skipped.clone(), evaluated.recheck_at),
                Err(failed) => (failed.skipped.clone(), None),
            };
            let skipped_changed =
                super::eligibility::record_skips(key, status, &skipped, &self.metrics, mode);
            let report = match result {
                Ok(evaluated) => {
                    let latest = evaluated.latest;
                    let changed = status.latest_ref.as_deref() != Some(latest.as_str());
                    let mut previous = None;
                    if changed {
                        if mode == CycleMode::Commit {
                            tracing::info!(
                                policy = %key,
                                from = %status.latest_ref.as_deref().unwrap_or("none"),
                                to = %latest,
                                "policy result changed"
                            );
                        }
                        // In Plan mode too: the automations of this cycle read the
                        // result from here. Plan mode never saves it (see below).
                        status.previous_ref = status.latest_ref.take();
                        status.latest_ref = Some(latest.clone());
                        previous = status.previous_ref.clone();
                    }
                    if mode == CycleMode::Commit {
                        status.last_error = None;
                    }
                    self.metrics
                        .increment("tagpilot_policy_evaluations_total", &[("result", "ok")]);
                    PolicyReport {
                        policy: key.to_string(),
                        latest: Some(latest),
                        previous,
                        changed,
                        error: None,
                        skipped,
                        skipped_changed,
                        recheck_at,
                    }
                }
                Err(failed) => {
                    let message = failed.message;
                    if self.store.get(&entry.repository).is_some() {
                        tracing::warn!(policy = %key, error = %message, "policy has no result");
                    } else {
                        // Its repository's scan failed (that was warned about) or
                        // has not finished yet (the daemon's first evaluation).
                        tracing::debug!(policy = %key, error = %message, "policy has no result yet");
                    }
                    if mode == CycleMode::Commit {
                        status.last_error = Some(message.clone());
                    }
                    self.metrics.increment(
                        "tagpilot_policy_evaluations_total",
                        &[("result", "no_match")],
                    );
                    PolicyReport {
                        policy: key.to_string(),
                        latest: status.latest_ref.clone(),
                        previous: None,
                        changed: false,
                        error: Some(message),
                        skipped,
                        skipped_changed,
                        recheck_at,
                    }
                }
            };
            results_changed |= *status != before;
            reports.push(report);
        }
        if mode == CycleMode::Commit {
            if results_changed {
                self.save_status();
            } else {
                // Only scan times are new: written within `STATUS_FLUSH`.
                self.status_saved.1 = true;
                self.flush_status_if_due();
            }
            if let Err(error) = self.facts.save() {
                tracing::error!(%error, "cannot save the creation times");
            }
        }
        reports
    }

    /// When `status.json` should next be written, if memory is ahead of it.
    pub(crate) fn status_flush_due(&self) -> Option<Instant> {
        let (saved_at, behind) = self.status_saved;
        behind.then(|| saved_at.map_or_else(Instant::now, |at| at + STATUS_FLUSH))
    }

    /// Writes `status.json` if it is behind memory and the flush is due.
    pub(crate) fn flush_status_if_due(&mut self) {
        if self
            .status_flush_due()
            .is_some_and(|due| due <= Instant::now())
        {
            self.save_status();
        }
    }

    async fn evaluate_one(
        &self,
        objects: &ObjectSet,
        key: &ObjectKey,
        entry: &super::objects::PolicyEntry,
    ) -> Result<Evaluated, Failed> {
        let repository = objects.repositories.get(&entry.repository).ok_or_else(|| {
            Failed::from(format!(
                "ImageRepository {} is not defined",
                entry.repository
            ))
        })?;
        let stored = self.store.get(&entry.repository).ok_or_else(|| {
            Failed::from(format!(
                "ImageRepository {} has not been scanned successfully yet",
                entry.repository
            ))
        })?;
        let inputs = super::eligibility::Inputs {
            target: &repository.target,
            tags: &stored.tags,
            scanned_at: stored.scanned_at,
            exclusions: &repository.exclusions,
            now: jiff::Timestamp::now(),
            metrics: Some(&self.metrics),
        };
        let selection =
            super::eligibility::select(self.client.as_ref(), &self.facts, entry, &inputs)
                .await
                .map_err(Failed::from)?;
        let explanation = selection.explanation;
        let tag = selection.tag;
        let image = &repository.target.image;
        let previous_digest = self
            .status
            .policies
            .get(&key.to_string())
            .and_then(|status| status.latest_ref.as_deref())
            .and_then(|text| ImageReference::parse(text).ok())
            .filter(|reference| reference.tag() == Some(tag.as_str()))
            .and_then(|reference| reference.digest().map(str::to_string));
        let digest = match entry.digest_reflection {
            DigestReflectionPolicy::Never => None,
            DigestReflectionPolicy::IfNotPresent if previous_digest.is_some() => previous_digest,
            // The digest the requirements were checked on, when they were: pin what was verified.
            _ if explanation.chosen.digest.is_some() => explanation.chosen.digest.clone(),
            DigestReflectionPolicy::IfNotPresent | DigestReflectionPolicy::Always => Some(
                self.client
                    .manifest_digest(&repository.target, &tag)
                    .await
                    .map_err(|error| {
                        Failed::from(format!("cannot resolve the digest of {tag}: {error}"))
                    })?,
            ),
        };
        Ok(Evaluated {
            latest: image.with_tag(&tag, digest.as_deref()).to_string(),
            skipped: explanation.skipped,
            recheck_at: explanation.recheck_at,
        })
    }
}

impl<C: super::EngineClient> Engine<C> {
    /// Runs `keys` (one commit each at most) for one cycle, with the latest
    /// policy results; one report per key, in the order of `keys`. Automations
    /// that share a working copy (a repository URL and checkout) run one after
    /// another in that order, after that working copy's task in `ahead` (see
    /// [`Engine::prepare_working_copies_ahead`]) has ended; the others run side
    /// by side, [`AUTOMATIONS_AT_ONCE`] at most, so one slow git server or
    /// clone holds back no other repository's commit. (The loops that keep
    /// running start runs as tasks instead: `engine::runs`.)
    async fn run_automations_after(
        &mut self,
        keys: &[ObjectKey],
        mode: CycleMode,
        mut ahead: HashMap<PathBuf, tokio::task::JoinHandle<()>>,
    ) -> Vec<AutomationReport> {
        type Group<'k> = (
            Option<tokio::task::JoinHandle<()>>,
            Vec<(usize, &'k ObjectKey)>,
        );
        let mut groups: Vec<Group<'_>> = Vec::new();
        let mut group_of: HashMap<PathBuf, usize> = HashMap::new();
        for (index, key) in keys.iter().enumerate() {
            let path = self.working_copy_of(key);
            let group = match path.as_ref().and_then(|path| group_of.get(path)) {
                Some(group) => *group,
                None => {
                    let task = path.as_ref().and_then(|path| ahead.remove(path));
                    if let Some(path) = path {
                        group_of.insert(path, groups.len());
                    }
                    groups.push((task, Vec::new()));
                    groups.len() - 1
                }
            };
            groups[group].1.push((index, key));
        }
        let runner = &self.runner();
        let mut finished: Vec<(usize, AutomationReport)> =
            futures::stream::iter(groups.into_iter().map(|(task, group)| async move {
                if let Some(task) = task {
                    let _ = task.await;
                }
                let mut reports = Vec::with_capacity(group.len());
                for (index, key) in group {
                    reports.push((index, runner.run(key, mode).await));
                }
                reports
            }))
            .buffer_unordered(AUTOMATIONS_AT_ONCE)
            .flat_map(futures::stream::iter)
            .collect()
            .await;
        finished.sort_by_key(|(index, _)| *index);
        let finished: Vec<(ObjectKey, AutomationReport)> = finished
            .into_iter()
            .map(|(index, report)| (keys[index].clone(), report))
            .collect();
        self.record_runs(&finished, mode);
        if mode == CycleMode::Commit {
            self.save_status();
        }
        finished.into_iter().map(|(_, report)| report).collect()
    }

    /// The working copy automation `key` runs in (`None` when it is not defined).
    pub fn working_copy_of(&self, key: &ObjectKey) -> Option<PathBuf> {
        let entry = self.objects.automations.get(key)?;
        let source = self.objects.sources.get(&entry.source)?;
        Some(
            self.workspace
                .working_copy_of(&source.repo, &entry.checkout),
        )
    }
}

impl<C: super::EngineClient> Runner<C> {
    /// Runs automation `key` in `mode` with what the runner holds (the
    /// policies' results when it was taken); the engine records the report
    /// ([`Engine::record_runs`]).
    pub async fn run(&self, key: &ObjectKey, mode: CycleMode) -> AutomationReport {
        let mut report = AutomationReport {
            automation: key.to_string(),
            observed_policies: self.observed_policies(key),
            as_of: Some(self.taken_at),
            ..AutomationReport::default()
        };
        let Some(entry) = self.objects.automations.get(key).cloned() else {
            report.error = Some("not defined".to_string());
            return report;
        };
        let Some(source) = self.objects.sources.get(&entry.source).cloned() else {
            report.error = Some(format!("GitRepository {} is not defined", entry.source));
            return report;
        };
        if let Some(settings) = entry.annotations.clone() {
            return self
                .run_annotations(key, &entry, settings, source, mode, report)
                .await;
        }
        let inputs = match self.automation_inputs(key) {
            Ok(inputs) => inputs,
            Err(message) => {
                report.error = Some(message);
                return report;
            }
        };
        let held = Arc::new(Mutex::new(Vec::new()));
        let describer = ImageDescriber::new(self.client.clone(), &self.objects, &inputs);
        let spec = self.automation_spec(key, &entry, &source);
        let automation = spec.automation.clone();
        match mode {
            CycleMode::Commit => {
                let apply_inputs = inputs.clone();
                let apply_held = held.clone();
                let path = entry.path.clone();
                let outcome =
                    crate::git::run_automation(self.workspace.clone(), spec, move |root| {
                        // The working copy is ours and hard-reset to the remote head
                        // before every run; what matters is the commit, which libgit2
                        // builds from these files. A write interrupted by a crash is
                        // undone by the next run's reset, so no temporary file,
                        // rename or fsync per file (see `update::UpdateMode`).
                        let (report, held) = update_with_guard(
                            root,
                            &path,
                            &apply_inputs,
                            UpdateMode::WriteInPlace,
                        )?;
                        if let Ok(mut slot) = apply_held.lock() {
                            *slot = held;
                        }
                        let mut changes = change_set(&report, &apply_inputs);
                        if !changes.images.is_empty() {
                            describer.describe(&mut changes);
                        }
                        Ok(changes)
                    })
                    .await;
                report.held_downgrades = held.lock().map(|h| h.clone()).unwrap_or_default();
                let wanted_pull_request = super::pull_request::wanted(&entry, &outcome);
                self.record_push(key, outcome, &mut report);
                if let (Some(wanted), Some(spec)) = (wanted_pull_request, &entry.pull_request) {
                    let previous = self.pull_requests.get(&key.to_string());
                    super::pull_request::reconcile_into(
                        key,
                        spec,
                        wanted,
                        previous,
                        &self.metrics,
                        &mut report,
                    )
                    .await;
                }
            }
            CycleMode::Plan => {
                let workspace = self.workspace.clone();
                let path = entry.path.clone();
                let values = entry.values.clone();
                let update_path = spec.update_path.clone();
                let template = entry.commit.message_template.clone();
                let planned = tokio::task::spawn_blocking(move || -> Result<_, String> {
                    let checkout = workspace
                        .prepare(&spec.repo, &spec.checkout)
                        .map_err(|e| e.to_string())?;
                    let (update, held) =
                        update_with_guard(checkout.path(), &path, &inputs, UpdateMode::DryRun)
                            .map_err(|e| e.to_string())?;
                    let mut changes = change_set(&update, &inputs);
                    if !update.is_empty() {
                        describer.describe(&mut changes);
                    }
                    let message = planned_message(
                        automation,
                        &changes,
                        values,
                        update_path,
                        template.as_ref(),
                    )?;
                    Ok((update.unified_diff(), changes, message, held))
                })
                .await;
                match planned {
                    Ok(Ok((diff, changes, message, held))) => {
                        report.diff = Some(diff);
                        report.changes = changes.changes;
                        report.message = message;
                        report.held_downgrades = held;
                    }
                    Ok(Err(message)) => report.error = Some(message),
                    Err(error) => report.error = Some(format!("the plan task failed: {error}")),
                }
            }
        }
        report
    }
}

impl<C: super::EngineClient> Runner<C> {
    /// Logs, counts and reports what a push attempt of automation `key` did.
    pub(super) fn record_push(
        &self,
        key: &ObjectKey,
        outcome: Result<AutomationOutcome, crate::git::GitError>,
        report: &mut AutomationReport,
    ) {
        match outcome {
            Ok(AutomationOutcome::NoChange { .. }) => {
                tracing::debug!(automation = %key, "no change");
            }
            Ok(AutomationOutcome::AlreadyPushed { head, .. }) => {
                tracing::debug!(automation = %key, %head, "the push branch already holds the change");
            }
            Ok(AutomationOutcome::Pushed {
                commit,
                changes,
                attempts,
                ..
            }) => {
                tracing::info!(
                    automation = %key,
                    commit = %commit,
                    changes = changes.changes.len(),
                    attempts,
                    "pushed"
                );
                self.metrics.increment("tagpilot_commits_total", &[]);
                let label = if attempts > 1 { "retried" } else { "ok" };
                self.metrics
                    .increment("tagpilot_pushes_total", &[("result", label)]);
                report.commit = Some(commit.to_string());
                report.changes = changes.changes;
            }
            Err(error) => {
                let message = with_causes(&error);
                tracing::warn!(automation = %key, error = %message, "automation failed");
                if error.is_refused_push() {
                    self.metrics
                        .increment("tagpilot_pushes_total", &[("result", "failed")]);
                }
                report.error = Some(message);
            }
        }
    }

    /// The policy results an automation writes, with what the guard needs.
    fn automation_inputs(&self, key: &ObjectKey) -> Result<AutomationInputs, String> {
        let mut inputs = AutomationInputs::default();
        for policy_key in self.objects.policies_for(key) {
            let Some(policy) = self.objects.policies.get(policy_key) else {
                continue;
            };
            let status = self.policies.get(&policy_key.to_string());
            let Some(latest) = status.and_then(|s| s.latest_ref.clone()) else {
                continue;
            };
            let reference = ImageReference::parse(&latest)
                .map_err(|e| format!("policy {policy_key} has an unreadable result: {e}"))?;
            let id = PolicyId::new(&policy_key.namespace, &policy_key.name)
                .map_err(|e| format!("policy {policy_key}: {e}"))?;
            PolicyResult::new(reference.clone())
                .map_err(|e| format!("policy {policy_key}: {e}"))?;
            inputs.policies.insert(
                id,
                PolicyInput {
                    key: policy_key.clone(),
                    policy: policy.version_order.clone(),
                    allow_downgrade: policy.allow_downgrade,
                    reference,
                    previous: status.and_then(|s| s.previous_ref.clone()),
                },
            );
        }
        Ok(inputs)
    }
}

impl<C: super::EngineClient> Engine<C> {
    /// Writes `status.json` now.
    pub(crate) fn save_status(&mut self) {
        self.status_saved = (Some(Instant::now()), false);
        if let Err(error) = self.status.save(&self.state_dir) {
            tracing::error!(%error, "cannot save status");
        }
    }

    /// Keys of the repositories (not suspended) whose webhook push matches
    /// `host`/`repository`.
    pub fn repositories_for_push(&self, host: Option<&str>, repository: &str) -> Vec<ObjectKey> {
        let matches = |exact_host: bool| -> Vec<ObjectKey> {
            self.objects
                .active_repositories()
                .filter(|(_, entry)| {
                    let image = &entry.target.image;
                    image.repository() == repository
                        && (!exact_host
                            || host.is_some_and(|h| h == image.registry() || h == image.api_host()))
                })
                .map(|(key, _)| key.clone())
                .collect()
        };
        let exact = matches(true);
        if exact.is_empty() {
            matches(false)
        } else {
            exact
        }
    }
}

#[cfg(test)]
mod cause_tests {
    use super::with_causes;
    use crate::git::GitError;

    /// Regression: a failed fetch or push was logged and stored in `status`
    /// as `fetch of branch "main" from/to URL failed`, without libgit2's reason.
    #[test]
    fn remote_git_errors_used_to_hide_their_cause() {
        let error = GitError::Remote {
            operation: "fetch",
            url: "ssh://git@127.0.0.1:2222/config.git".into(),
            reference: "branch \"main\"".into(),
            source: git2::Error::from_str("failed to connect to 127.0.0.1: Connection refused"),
        };
        assert_eq!(
            with_causes(&error),
            "fetch of branch \"main\" from/to ssh://git@127.0.0.1:2222/config.git failed: failed to connect to 127.0.0.1: Connection refused"
        );
    }
}

#[path = "scan_record.rs"]
mod scan_record;

#[path = "runner.rs"]
mod runner;
pub use runner::Runner;

#[cfg(test)]
#[path = "suspend_tests.rs"]
mod suspend_tests;

#[cfg(test)]
#[path = "evaluate_tests.rs"]
mod evaluate_tests;

#[cfg(test)]
#[path = "annotation_tests.rs"]
mod annotation_tests;

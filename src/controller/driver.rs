//! The controller's loop: rebuild the snapshot when the watched objects
//! change, scan the ImageRepositories that are due (new or changed objects and
//! requested reconciles at once, failures with backoff; each scan on its own,
//! recorded as it ends: [`super::scans`]), evaluate the policies,
//! run the automations that are due or that a changed policy feeds (each
//! working copy's as a task, recorded as it ends: [`crate::engine::runs`]), apply the
//! Syncs that are due ([`super::sync`]), publish events, and write every status
//! that changed. Only the Lease holder runs it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::backoff::{Backoff, MAX_BACKOFF};
use super::conditions::{
    EVENT_CANDIDATES_SKIPPED, EVENT_INVALID, EVENT_POLICY_CHANGED, EVENT_PUSHED,
    EVENT_SCAN_CHANGED, Health,
};
use super::events::{EventMetadata, EventSink};
use super::kinds::{ApiFlavor, Kind};
use super::scans::{Finished, Scans};
use super::snapshot::{self, ApiReads, ObjectId, Requests, SharedSecrets, Snapshot};
use super::sync::SyncDriver;
use super::takeover::recorded_results;
use super::watch::Watches;
use crate::apply::RenderOptions;
use crate::config::meta::ObjectKey;
use crate::engine::cycle::{AutomationReport, CycleMode, Engine, EngineError};
use crate::engine::metrics::Metrics;
use crate::engine::objects::ObjectSet;
use crate::engine::runs::Runs;
use crate::engine::webhook::{AnnouncedTags, Trigger};
use crate::registry::{RegistryClient, RegistryEndpoints, ScanOptions};

/// How long automations wait for the first scan of a repository their
/// policies use before running without it.
const FIRST_SCAN_WAIT: Duration = Duration::from_secs(10);

/// How long the events still queued at shutdown may take to be posted.
const EVENTS_AT_SHUTDOWN: Duration = Duration::from_secs(5);

/// How long the statuses of runs that ended wait for those of other runs, so
/// that one step writes them all (see the loop).
const RUNS_STEP_DELAY: Duration = Duration::from_millis(500);

/// Why the controller loop could not start.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The engine could not open its state.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The registry client could not be built.
    #[error("cannot set up the registry HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

/// What the loop needs besides the watches.
pub struct DriverSettings {
    /// Tag store, git working copies, status.json.
    pub state_dir: PathBuf,
    /// Registry endpoint overrides.
    pub endpoints: RegistryEndpoints,
    /// How often everything is re-read even without a watch event (Secrets are not watched).
    pub resync: Duration,
    /// How Syncs render kustomizations.
    pub render: RenderOptions,
    /// Whose API group the objects are in (with Flux's, source-controller
    /// owns GitRepository status: tagpilot does not write it).
    pub flavor: ApiFlavor,
}

/// The loop's state.
pub struct Driver {
    client: kube::Client,
    engine: Engine<RegistryClient>,
    secrets: SharedSecrets,
    events: EventSink,
    snapshot: Snapshot,
    fingerprint: Vec<String>,
    last_rebuild: Option<Instant>,
    resync: Duration,
    seen: BTreeMap<ObjectId, (Option<i64>, Requests)>,
    handled: BTreeMap<ObjectId, String>,
    flavor: ApiFlavor,
    scans: Scans,
    scan_failures: Backoff,
    /// Automation runs in flight, each recorded as it ends.
    runs: Runs<RegistryClient>,
    /// When runs that ended were first recorded without a step since.
    runs_recorded: Option<Instant>,
    /// Tags webhooks announced that no scan has listed yet.
    announced_tags: AnnouncedTags,
    next_run: BTreeMap<ObjectKey, Instant>,
    run_failures: Backoff,
    evaluate_now: bool,
    /// When a tag skipped as too young (`minimumAge`) becomes eligible.
    recheck: Option<Instant>,
    written: BTreeMap<ObjectId, Value>,
    /// When to write statuses again: those that failed, and first statuses
    /// deferred while in progress.
    status_retry: Option<Instant>,
    /// Since when each object whose status this controller has not written
    /// yet has been in progress (see `FIRST_STATUS_DELAY`).
    progressing_since: BTreeMap<ObjectId, Instant>,
    announced: BTreeMap<ObjectId, String>,
    failures_announced: BTreeMap<ObjectId, String>,
    syncs: SyncDriver,
}

impl Driver {
    /// A driver over an engine that keeps its state in `settings.state_dir`.
    pub fn new(
        client: kube::Client,
        settings: DriverSettings,
        metrics: Arc<Metrics>,
        events: EventSink,
    ) -> Result<Self, DriverError> {
        let secrets = SharedSecrets::default();
        let registry = RegistryClient::builder(ScanOptions {
            endpoints: settings.endpoints,
            ..ScanOptions::default()
        })
        .secrets(Arc::new(secrets.clone()))
        .build()
        .map_err(DriverError::Client)?;
        std::fs::create_dir_all(&settings.state_dir).ok();
        let syncs = SyncDriver::new(client.clone(), &settings.state_dir, metrics.clone())
            .with_render(settings.render);
        let engine = Engine::new(ObjectSet::default(), registry, &settings.state_dir, metrics)?;
        Ok(Self {
            client,
            engine,
            secrets,
            events,
            snapshot: Snapshot::default(),
            fingerprint: Vec::new(),
            last_rebuild: None,
            resync: settings.resync,
            seen: BTreeMap::new(),
            handled: BTreeMap::new(),
            flavor: settings.flavor,
            scans: Scans::default(),
            scan_failures: Backoff::default(),
            runs: Runs::default(),
            runs_recorded: None,
            announced_tags: AnnouncedTags::default(),
            next_run: BTreeMap::new(),
            run_failures: Backoff::default(),
            evaluate_now: true,
            recheck: None,
            written: BTreeMap::new(),
            status_retry: None,
            progressing_since: BTreeMap::new(),
            announced: BTreeMap::new(),
            failures_announced: BTreeMap::new(),
            syncs,
        })
    }

    /// Runs until `stop` turns true; then waits for the runs in flight, so a
    /// commit and its push are never cut in half by the controller itself.
    pub async fn run(
        &mut self,
        watches: &Watches,
        mut triggers: mpsc::Receiver<Trigger>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut webhooks_open = true;
        let mut step_now = true;
        loop {
            if *stop.borrow() {
                self.syncs.abort();
                self.scans.abort_all();
                // Runs end on their own (their git timeouts bound them): a
                // push is never cut in half. Their statuses are left to the
                // next leader, which finds the pushes done.
                self.runs.cancel_queued();
                while self.runs.any_running() {
                    let finished = self.runs.finished().await;
                    self.record_runs(finished).await;
                }
                self.events.close(EVENTS_AT_SHUTDOWN).await;
                return;
            }
            if step_now {
                self.step(watches).await;
                self.runs_recorded = None;
            }
            step_now = true;
            // An automation waiting for a first scan wakes the loop when the
            // scan ends, or when the wait does.
            let waiting = self.waiting_for_first_scans();
            let wake = self
                .next_run
                .iter()
                .filter(|(key, _)| !waiting.contains(*key) && !self.runs.is_held(key))
                .map(|(_, at)| *at)
                .chain(self.scans.next_due())
                .chain(self.first_scan_wait_ends())
                .chain(self.status_retry)
                .chain(self.engine.status_flush_due().map(Instant::from_std))
                .chain(self.syncs.next_wake())
                .chain(self.last_rebuild.map(|at| at + self.resync))
                .chain(self.recheck)
                .chain(self.runs_recorded.map(|at| at + RUNS_STEP_DELAY))
                .min()
                .unwrap_or_else(|| Instant::now() + self.resync);
            // Results first, timers last: a scan that ended is recorded
            // (and its policies evaluated) before a step that a timer asks
            // for, which may be long (at start-up, thousands of statuses
            // held back the first scans' results for 11 s).
            tokio::select! {
                biased;
                _ = stop.changed() => {}
                scanned = self.scans.finished(), if self.scans.is_running() => {
                    self.record_scans(scanned).await;
                }
                ran = self.runs.finished(), if self.runs.any_running() => {
                    self.record_runs(ran).await;
                    // The freed slots are filled at once; the rest of a step
                    // (every object's status) waits for the runs that end
                    // within RUNS_STEP_DELAY, so thousands of runs ending one
                    // after another do not each cost a pass over every object.
                    self.start_runs();
                    let first = *self.runs_recorded.get_or_insert_with(Instant::now);
                    step_now = first + RUNS_STEP_DELAY <= Instant::now();
                }
                finished = self.syncs.finished(), if self.syncs.is_running() => {
                    self.syncs
                        .complete(finished, self.engine.objects(), &self.snapshot, &self.events);
                }
                trigger = triggers.recv(), if webhooks_open => match trigger {
                    Some(trigger) => self.webhook(trigger),
                    None => webhooks_open = false,
                },
                () = watches.changed() => {}
                () = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    /// One pass: refresh, start the due scans, evaluate, run, apply, write status.
    #[tracing::instrument(skip_all)]
    pub async fn step(&mut self, watches: &Watches) {
        self.refresh(watches).await;
        self.scans.start_due(|key| self.engine.scan_task(key));
        self.engine.flush_status_if_due();
        self.evaluate().await;
        self.start_runs();
        self.syncs.start_due(self.engine.objects());
        self.write_statuses().await;
    }

    /// Rebuilds the snapshot when an object changed (or at each resync).
    async fn refresh(&mut self, watches: &Watches) {
        let cached = watches.cached();
        let mut fingerprint: Vec<String> = cached
            .iter()
            .map(|entry| {
                let meta = &entry.object.metadata;
                format!(
                    "{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
                    entry.kind,
                    meta.namespace,
                    meta.name,
                    meta.uid,
                    meta.generation,
                    (&meta.labels, &meta.annotations)
                )
            })
            .collect();
        fingerprint.sort();
        let due = self
            .last_rebuild
            .is_none_or(|at| at.elapsed() >= self.resync);
        if fingerprint == self.fingerprint && !due {
            return;
        }
        self.fingerprint = fingerprint;
        self.last_rebuild = Some(Instant::now());
        let mut snapshot = snapshot::build(&cached, &ApiReads(self.client.clone())).await;
        let objects = std::mem::take(&mut snapshot.objects);
        let now = Instant::now();
        for (id, info) in &snapshot.infos {
            let marker = (info.generation, info.requested_at.clone());
            let before = self.seen.get(id);
            let changed = before != Some(&marker);
            let spec_changed = before.is_none_or(|(generation, _)| *generation != info.generation);
            if let Some(request) = info
                .requested_at
                .newer_than(before.map(|(_, requests)| requests))
            {
                self.handled.insert(id.clone(), request.to_string());
            }
            self.seen.insert(id.clone(), marker);
            if !changed {
                continue;
            }
            let (kind, key) = id;
            tracing::debug!(kind = kind.name(), object = %key, "new, changed or requested");
            match kind {
                Kind::GitRepository => {
                    for (automation, entry) in &objects.automations {
                        if &entry.source == key {
                            run_now(&mut self.next_run, automation.clone(), now);
                        }
                    }
                    self.syncs.source_changed(&objects, key);
                }
                Kind::ImageRepository => {
                    self.scan_failures.forget(key);
                    if spec_changed {
                        self.scans.changed(key, now);
                    } else {
                        self.scans.request(key, now);
                    }
                }
                Kind::ImageUpdateAutomation => {
                    self.run_failures.forget(key);
                    run_now(&mut self.next_run, key.clone(), now);
                }
                Kind::Sync => self.syncs.request(key),
                Kind::ImagePolicy => {}
            }
        }
        self.handled.retain(|id, _| snapshot.infos.contains_key(id));
        self.seen.retain(|id, _| snapshot.infos.contains_key(id));
        // Only valid, active objects are scheduled; one that just became valid runs now.
        self.scans
            .retain(objects.active_repositories().map(|(key, _)| key), now);
        self.syncs.restore(&cached);
        self.syncs.retain(&objects, &snapshot);
        self.next_run
            .retain(|key, _| objects.is_active_automation(key));
        for (key, _) in objects.active_automations() {
            if !self.runs.is_running(key) {
                self.next_run.entry(key.clone()).or_insert(now);
            }
        }
        for (id, health) in &snapshot.problems {
            let (Health::Stalled { message } | Health::Failed { message, .. }) = health else {
                continue;
            };
            if self.announced.get(id) != Some(message) {
                tracing::warn!(kind = id.0.name(), object = %id.1, %message, "object cannot run");
                if let (Health::Stalled { .. }, Some(info)) = (health, snapshot.infos.get(id)) {
                    let metadata = EventMetadata {
                        annotations: info.event_annotations.clone(),
                        ..EventMetadata::default()
                    };
                    self.events.warning_with(
                        &info.reference(&id.1),
                        EVENT_INVALID,
                        message.clone(),
                        &metadata,
                    );
                }
                self.announced.insert(id.clone(), message.clone());
            }
        }
        self.announced
            .retain(|id, _| snapshot.problems.contains_key(id));
        self.secrets.replace(objects.secrets.clone());
        self.engine.set_objects(objects);
        // What the objects' status already records (Flux's, on a takeover)
        // is the starting point for objects the engine knows nothing of.
        self.engine.adopt(recorded_results(&cached));
        self.snapshot = snapshot;
        self.evaluate_now = true;
    }

    /// Records the scans that ended, schedules each repository's next scan
    /// (at its interval, with backoff after failures, at once when asked for
    /// while it ran), and has the policies evaluated.
    async fn record_scans(&mut self, finished: Vec<Finished>) {
        // A repository removed while its scan ran was cancelled by `retain`;
        // one the engine no longer knows (between two refreshes) is not recorded.
        let mut finished: Vec<Finished> = finished
            .into_iter()
            .filter(|done| self.engine.objects().repositories.contains_key(&done.key))
            .collect();
        let before: Vec<Option<String>> = finished
            .iter()
            .map(|done| {
                self.engine
                    .store()
                    .get(&done.key)
                    .map(|stored| stored.revision.clone())
            })
            .collect();
        let panicked: Vec<bool> = finished.iter().map(|done| done.result.is_none()).collect();
        let results: Vec<_> = finished
            .iter_mut()
            .filter_map(|done| Some((done.key.clone(), done.result.take()?)))
            .collect();
        let mut reports = self.engine.record_scans(results).await.into_iter();
        let now = Instant::now();
        for ((done, before), panicked) in finished.into_iter().zip(before).zip(panicked) {
            // A panicked scan task has no report, and counts as a failure.
            let report = if panicked { None } else { reports.next() };
            let failed = report.as_ref().is_none_or(|r| r.error.is_some());
            let interval = self
                .engine
                .objects()
                .repositories
                .get(&done.key)
                .map_or(MAX_BACKOFF, |e| e.interval);
            let wait = self.scan_failures.after_run(&done.key, failed, interval);
            let stored = self.engine.store().get(&done.key);
            let listed = |tag: &str| stored.as_ref().is_some_and(|stored| stored.lists(tag));
            let at = if done.again {
                now
            } else if let Some(soon) = self.announced_tags.rescan_after(&done.key, listed) {
                now + soon.min(wait)
            } else {
                now + wait
            };
            self.scans.schedule(done.key.clone(), at);
            let Some(report) = report.filter(|r| r.error.is_none()) else {
                continue;
            };
            if stored.map(|stored| stored.revision.clone()) != before {
                self.event(
                    Kind::ImageRepository,
                    &done.key,
                    EVENT_SCAN_CHANGED,
                    format!("scan found {} tags", report.tags),
                );
            }
        }
        self.evaluate_now = true;
    }

    async fn evaluate(&mut self) {
        if self.recheck.is_some_and(|at| at <= Instant::now()) {
            self.recheck = None;
            self.evaluate_now = true;
        }
        if !std::mem::take(&mut self.evaluate_now) {
            return;
        }
        let reports = self.engine.evaluate(CycleMode::Commit).await;
        self.skipped_events(&reports);
        // A second late, so the evaluation then never runs a moment early.
        self.recheck = reports
            .iter()
            .filter_map(|report| report.recheck_at)
            .min()
            .map(|at| {
                let wait = at
                    .duration_since(jiff::Timestamp::now())
                    .try_into()
                    .unwrap_or(Duration::ZERO);
                Instant::now() + wait + Duration::from_secs(1)
            });
        let mut changed = Vec::new();
        for report in reports.iter().filter(|r| r.changed) {
            let Some(key) = self
                .engine
                .objects()
                .policies
                .keys()
                .find(|key| key.to_string() == report.policy)
                .cloned()
            else {
                continue;
            };
            let note = match (&report.previous, &report.latest) {
                (Some(previous), Some(latest)) => {
                    format!("latest image changed from {previous} to {latest}")
                }
                (None, Some(latest)) => format!("latest image is {latest}"),
                _ => continue,
            };
            let fields = report
                .latest
                .iter()
                .map(|latest| ("revision".to_string(), latest.clone()))
                .collect();
            self.event_with(Kind::ImagePolicy, &key, EVENT_POLICY_CHANGED, note, fields);
            changed.push(key);
        }
        let changed: Vec<&ObjectKey> = changed.iter().collect();
        let now = Instant::now();
        for automation in self.engine.objects().automations_fed_by(&changed) {
            tracing::debug!(%automation, "a policy it uses changed: running now");
            run_now(&mut self.next_run, automation, now);
        }
    }

    /// Starts the due automations, the most overdue first, each working copy's
    /// as a task of its own ([`Runs`]); those already running, or whose
    /// working copy is, stay due until their task ends.
    fn start_runs(&mut self) {
        let now = Instant::now();
        let waiting = self.waiting_for_first_scans();
        let mut due: Vec<(Instant, ObjectKey)> = self
            .next_run
            .iter()
            .filter(|(key, at)| **at <= now && !waiting.contains(*key))
            .map(|(key, at)| (*at, key.clone()))
            .collect();
        due.sort();
        let due: Vec<ObjectKey> = due.into_iter().map(|(_, key)| key).collect();
        for key in self.runs.start(&self.engine, &due) {
            self.next_run.remove(&key);
        }
    }

    /// Records the runs that ended: their status, when each is due again (at
    /// its interval, with backoff after failures, or as asked for while it
    /// ran), and their events. An automation removed while it ran is not
    /// recorded.
    async fn record_runs(&mut self, finished: Vec<(ObjectKey, AutomationReport)>) {
        let finished: Vec<(ObjectKey, AutomationReport)> = finished
            .into_iter()
            .filter(|(key, _)| self.engine.objects().automations.contains_key(key))
            .collect();
        self.engine.record_runs(&finished, CycleMode::Commit);
        for (key, report) in &finished {
            let interval = self
                .engine
                .objects()
                .automations
                .get(key)
                .map_or(MAX_BACKOFF, |e| e.run_interval());
            let wait = self
                .run_failures
                .after_run(key, failed_run(report), interval);
            let wait = report.run_again_after.map_or(wait, |soon| soon.min(wait));
            if self.engine.objects().is_active_automation(key) {
                let at = Instant::now() + wait;
                // Asked for again after the run took its view of the objects
                // and policies (a policy it uses changed meanwhile, a
                // reconcile request): that earlier time stays. Asked for
                // before (while it was queued): this run was the answer.
                let answered = report.as_of.map(Instant::from_std);
                match self.next_run.get(key) {
                    Some(due) if answered.is_some_and(|as_of| *due <= as_of) => {
                        self.next_run.insert(key.clone(), at);
                    }
                    _ => run_now(&mut self.next_run, key.clone(), at),
                }
            }
            if let Some(commit) = &report.commit {
                if let Some(entry) = self.engine.objects().automations.get(key) {
                    self.syncs
                        .source_changed(self.engine.objects(), &entry.source);
                }
                let note = format!(
                    "pushed commit {commit} ({} change{})",
                    report.changes.len(),
                    if report.changes.len() == 1 { "" } else { "s" }
                );
                let branch = self
                    .engine
                    .objects()
                    .automations
                    .get(key)
                    .and_then(|entry| {
                        entry
                            .push
                            .branch
                            .clone()
                            .or_else(|| entry.checkout.branch_name().map(str::to_string))
                    });
                let revision = match branch {
                    Some(branch) => format!("{branch}@sha1:{commit}"),
                    None => format!("sha1:{commit}"),
                };
                let fields = BTreeMap::from([
                    ("revision".to_string(), revision),
                    ("commit".to_string(), commit.clone()),
                ]);
                self.event_with(Kind::ImageUpdateAutomation, key, EVENT_PUSHED, note, fields);
            }
            if let Some(pull) = &report.pull_request
                && let Some(reason) = pull.event_reason()
            {
                self.event(Kind::ImageUpdateAutomation, key, reason, pull.note());
            }
        }
    }

    /// The automations fed by a policy whose repository is being scanned for
    /// the first time, for at most [`FIRST_SCAN_WAIT`] of that scan: they stay
    /// due and run once it is recorded, rather than now with nothing to go on
    /// (and then again). A repository with a stored list holds back nothing,
    /// nor does one whose scan takes longer (a registry that hangs), and
    /// [`Self::first_scan_wait_ends`] wakes the loop when a wait ends.
    fn waiting_for_first_scans(&self) -> BTreeSet<ObjectKey> {
        let unscanned: BTreeSet<&ObjectKey> =
            self.first_scans_waited_for().map(|(key, _)| key).collect();
        if unscanned.is_empty() {
            return BTreeSet::new();
        }
        let objects = self.engine.objects();
        let policies: Vec<&ObjectKey> = objects
            .policies
            .iter()
            .filter(|(_, policy)| unscanned.contains(&policy.repository))
            .map(|(key, _)| key)
            .collect();
        objects.automations_fed_by(&policies).into_iter().collect()
    }

    /// When the next wait of [`Self::waiting_for_first_scans`] ends.
    fn first_scan_wait_ends(&self) -> Option<Instant> {
        self.first_scans_waited_for()
            .map(|(_, started)| started + FIRST_SCAN_WAIT)
            .min()
    }

    /// The running first scans (no stored list) that automations still wait
    /// for (started less than [`FIRST_SCAN_WAIT`] ago), with their start.
    fn first_scans_waited_for(&self) -> impl Iterator<Item = (&ObjectKey, Instant)> {
        let store = self.engine.store();
        let now = Instant::now();
        self.scans.running().filter(move |(key, started)| {
            now.duration_since(*started) < FIRST_SCAN_WAIT && store.get(key).is_none()
        })
    }

    /// A Warning event for each policy whose skipped tags changed (and are not none).
    fn skipped_events(&self, reports: &[crate::engine::cycle::PolicyReport]) {
        for report in reports
            .iter()
            .filter(|r| r.skipped_changed && !r.skipped.is_empty())
        {
            let Some(key) = self
                .engine
                .objects()
                .policies
                .keys()
                .find(|key| key.to_string() == report.policy)
            else {
                continue;
            };
            let Some(info) = self.snapshot.infos.get(&(Kind::ImagePolicy, key.clone())) else {
                continue;
            };
            let lines: Vec<String> = report.skipped.iter().map(ToString::to_string).collect();
            let mut note = format!("skipped {}", lines.join("; "));
            if note.len() > 1000 {
                let mut end = 1000;
                while !note.is_char_boundary(end) {
                    end -= 1;
                }
                note.truncate(end);
                note.push('…');
            }
            self.events
                .warning(&info.reference(key), EVENT_CANDIDATES_SKIPPED, note);
        }
    }

    fn event(&self, kind: Kind, key: &ObjectKey, reason: &str, note: String) {
        self.event_with(kind, key, reason, note, BTreeMap::new());
    }

    /// An event with metadata (`revision`, `commit`) for notification-controller.
    fn event_with(
        &self,
        kind: Kind,
        key: &ObjectKey,
        reason: &str,
        note: String,
        fields: BTreeMap<String, String>,
    ) {
        if let Some(info) = self.snapshot.infos.get(&(kind, key.clone())) {
            let metadata = EventMetadata {
                fields,
                annotations: info.event_annotations.clone(),
            };
            self.events
                .normal_with(&info.reference(key), reason, note, &metadata);
        }
    }
}

/// Makes `key` due at `at` (now, mostly), keeping an earlier due time: an
/// automation asked for again keeps its place among those waiting for a run
/// slot, and one asked for while it ran runs again when it ends.
fn run_now(next_run: &mut BTreeMap<ObjectKey, Instant>, key: ObjectKey, at: Instant) {
    next_run
        .entry(key)
        .and_modify(|due| *due = (*due).min(at))
        .or_insert(at);
}

/// Whether a run failed in a way a retry may fix: git, or a registry
/// (a container's invalid filter waits for a change of the file instead).
fn failed_run(report: &AutomationReport) -> bool {
    report.error.is_some() || report.images.iter().any(|i| i.error.is_some())
}

#[path = "driver_status.rs"]
mod status_writes;

#[path = "driver_requests.rs"]
mod requests;

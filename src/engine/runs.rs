//! Automation runs in flight, for the loops that keep running (`tagpilot run`
//! and the controller). The due automations of one working copy form a group
//! that runs in order; groups wait in a queue that up to
//! [`AUTOMATIONS_AT_ONCE`] workers take from, each group reported as it ends.
//! A worker goes on to the next group by itself, so the loop that records the
//! results (and writes statuses, events, scans) never paces the runs; and a
//! git server that hangs until its timeout holds back its own automations
//! only, never the others' commits, statuses or scans, nor the loop.
//!
//! A run is never cut short: a loop that stops drops the queued groups
//! ([`Runs::cancel_queued`]) and waits for those running, so a commit and its
//! push are never cut in half by tagpilot itself.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use futures::FutureExt as _;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::cycle::{AUTOMATIONS_AT_ONCE, AutomationReport, CycleMode, Engine, Runner};
use crate::config::meta::ObjectKey;

/// The automations of one working copy (none for an automation whose source
/// is not defined), in the order they run.
type Group = (Option<PathBuf>, Vec<ObjectKey>);

/// What a group did: its working copy and each automation's report, in order.
type Ran = (Option<PathBuf>, Vec<(ObjectKey, AutomationReport)>);

/// What the workers share with the loop.
struct Queue<C> {
    groups: VecDeque<Group>,
    /// Workers alive (each takes the next group until none is left).
    workers: usize,
    /// What the next group runs with: the latest the loop handed over.
    runner: Option<Runner<C>>,
}

/// The groups queued or running, and their results.
pub struct Runs<C> {
    queue: Arc<Mutex<Queue<C>>>,
    workers: JoinSet<()>,
    sender: mpsc::UnboundedSender<Ran>,
    results: mpsc::UnboundedReceiver<Ran>,
    /// Groups queued or running.
    in_flight: usize,
    /// The working copies of the groups queued or running.
    busy: HashSet<PathBuf>,
    /// The automations of the groups queued or running.
    running: HashSet<ObjectKey>,
    /// Due automations the last [`Runs::start`] left waiting: queued or
    /// running already, or their working copy is. The end of a group is what
    /// can change that, so a loop need not wake for them before.
    held: BTreeSet<ObjectKey>,
}

impl<C> Default for Runs<C> {
    fn default() -> Self {
        let (sender, results) = mpsc::unbounded_channel();
        Self {
            queue: Arc::new(Mutex::new(Queue {
                groups: VecDeque::new(),
                workers: 0,
                runner: None,
            })),
            workers: JoinSet::new(),
            sender,
            results,
            in_flight: 0,
            busy: HashSet::new(),
            running: HashSet::new(),
            held: BTreeSet::new(),
        }
    }
}

fn lock<C>(queue: &Mutex<Queue<C>>) -> MutexGuard<'_, Queue<C>> {
    queue
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<C: super::EngineClient> Runs<C> {
    /// Queues the automations of `due` (most overdue first), grouped by
    /// working copy in the order given, and hands the workers a runner over
    /// the engine's objects and policy results of now (queued groups run
    /// with it too). Returns those taken: queued, or dropped because they are
    /// suspended or no longer defined (a suspended automation never runs,
    /// whatever asked for it: a webhook, a Receiver, a policy change); the
    /// others (queued or running already, or their working copy is) are held
    /// ([`Runs::is_held`]) until the next call.
    pub fn start(&mut self, engine: &Engine<C>, due: &[ObjectKey]) -> Vec<ObjectKey> {
        self.held.clear();
        let mut groups: Vec<Group> = Vec::new();
        let mut group_of: HashMap<PathBuf, usize> = HashMap::new();
        let mut taken = Vec::new();
        for key in due {
            if !engine.objects().is_active_automation(key) {
                tracing::debug!(automation = %key, "suspended or gone: not run");
                taken.push(key.clone());
                continue;
            }
            if self.running.contains(key) {
                self.held.insert(key.clone());
                continue;
            }
            let path = engine.working_copy_of(key);
            match &path {
                Some(path) if self.busy.contains(path) => {
                    self.held.insert(key.clone());
                }
                Some(path) if group_of.contains_key(path) => {
                    groups[group_of[path]].1.push(key.clone());
                }
                _ => {
                    if let Some(path) = &path {
                        group_of.insert(path.clone(), groups.len());
                    }
                    groups.push((path, vec![key.clone()]));
                }
            }
        }
        if groups.is_empty() && self.in_flight == 0 {
            return taken;
        }
        let mut started = taken;
        let mut queue = lock(&self.queue);
        queue.runner = Some(engine.runner());
        for (path, keys) in groups {
            if let Some(path) = &path {
                self.busy.insert(path.clone());
            }
            self.running.extend(keys.iter().cloned());
            started.extend(keys.iter().cloned());
            self.in_flight += 1;
            queue.groups.push_back((path, keys));
        }
        let wanted = AUTOMATIONS_AT_ONCE.min(queue.workers + queue.groups.len());
        while queue.workers < wanted {
            queue.workers += 1;
            self.workers
                .spawn(work(self.queue.clone(), self.sender.clone()));
        }
        drop(queue);
        while self.workers.try_join_next().is_some() {}
        started
    }

    /// Whether automation `key` is queued or running.
    pub fn is_running(&self, key: &ObjectKey) -> bool {
        self.running.contains(key)
    }

    /// Whether the last [`Runs::start`] left `key` waiting for a group to end.
    pub fn is_held(&self, key: &ObjectKey) -> bool {
        self.held.contains(key)
    }

    /// Whether a group is queued or running (only then does
    /// [`Runs::finished`] return).
    pub fn any_running(&self) -> bool {
        self.in_flight > 0
    }

    /// Drops the groups no worker has taken yet (a loop that stops).
    pub fn cancel_queued(&mut self) {
        let dropped: Vec<Group> = lock(&self.queue).groups.drain(..).collect();
        for (path, keys) in dropped {
            self.forget(path.as_ref(), &keys);
        }
    }

    /// Waits for a group to end and returns its runs with those of every
    /// other group that has ended meanwhile.
    pub async fn finished(&mut self) -> Vec<(ObjectKey, AutomationReport)> {
        let mut ran = Vec::new();
        let Some(first) = self.results.recv().await else {
            return ran;
        };
        let mut next = Some(first);
        while let Some((path, group)) = next {
            let keys: Vec<ObjectKey> = group.iter().map(|(key, _)| key.clone()).collect();
            self.forget(path.as_ref(), &keys);
            ran.extend(group);
            next = self.results.try_recv().ok();
        }
        while self.workers.try_join_next().is_some() {}
        ran
    }

    fn forget(&mut self, path: Option<&PathBuf>, keys: &[ObjectKey]) {
        if let Some(path) = path {
            self.busy.remove(path);
        }
        for key in keys {
            self.running.remove(key);
        }
        self.in_flight -= 1;
    }
}

/// A worker: runs the queued groups one after another until none is left.
async fn work<C: super::EngineClient>(
    queue: Arc<Mutex<Queue<C>>>,
    results: mpsc::UnboundedSender<Ran>,
) {
    loop {
        let next = {
            let mut queue = lock(&queue);
            match (queue.groups.pop_front(), queue.runner.clone()) {
                (Some(group), Some(runner)) => Some((group, runner)),
                _ => {
                    queue.workers -= 1;
                    None
                }
            }
        };
        let Some(((path, keys), runner)) = next else {
            return;
        };
        let mut ran = Vec::with_capacity(keys.len());
        for key in keys {
            let report = AssertUnwindSafe(runner.run(&key, CycleMode::Commit))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| {
                    tracing::error!(automation = %key, "an automation run panicked");
                    AutomationReport {
                        automation: key.to_string(),
                        error: Some("the run stopped unexpectedly (a bug: see the log)".into()),
                        ..AutomationReport::default()
                    }
                });
            ran.push((key, report));
        }
        if results.send((path, ran)).is_err() {
            // The loop is gone: nobody records the rest.
            lock(&queue).workers -= 1;
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::engine::metrics::Metrics;
    use crate::engine::objects::ObjectSet;
    use crate::engine::test_tags::Tags;

    /// `sources` GitRepositories (`file://` paths that do not exist: each run
    /// fails at once) and, on each, the automations named.
    fn engine(state: &std::path::Path, automations: &[(&str, &str)]) -> Engine<Tags> {
        engine_with_suspended(state, automations, &[])
    }

    /// [`engine`], with the automations named in `suspended` suspended.
    fn engine_with_suspended(
        state: &std::path::Path,
        automations: &[(&str, &str)],
        suspended: &[&str],
    ) -> Engine<Tags> {
        let dir = tempfile::tempdir().unwrap();
        let mut yaml = String::new();
        let mut sources: Vec<&str> = automations.iter().map(|(_, source)| *source).collect();
        sources.dedup();
        for source in sources {
            yaml.push_str(&format!(
                "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {{name: {source}, namespace: shop}}\nspec: {{url: 'file:///nonexistent/{source}.git', ref: {{branch: main}}, interval: 1h}}\n---\n"
            ));
        }
        for (name, source) in automations {
            let suspend = suspended.contains(name);
            yaml.push_str(&format!(
                "apiVersion: image.toolkit.fluxcd.io/v1beta2\nkind: ImageUpdateAutomation\nmetadata: {{name: {name}, namespace: shop}}\nspec: {{suspend: {suspend}, interval: 1h, sourceRef: {{kind: GitRepository, name: {source}}}, git: {{commit: {{author: {{name: t, email: t@example.com}}}}}}, update: {{path: ./, strategy: Setters}}}}\n---\n"
            ));
        }
        std::fs::write(dir.path().join("objects.yaml"), yaml).unwrap();
        let (set, errors) = ObjectSet::load(dir.path());
        assert!(errors.is_empty(), "{errors:?}");
        Engine::new(set, Tags::default(), state, Arc::new(Metrics::new())).unwrap()
    }

    fn keys(names: &[&str]) -> Vec<ObjectKey> {
        names
            .iter()
            .map(|name| ObjectKey::new("shop", *name))
            .collect()
    }

    async fn all_finished(runs: &mut Runs<Tags>) -> Vec<String> {
        let mut ran = Vec::new();
        while runs.any_running() {
            for (key, report) in runs.finished().await {
                assert!(report.error.is_some(), "{report:?}");
                ran.push(key.name);
            }
        }
        ran
    }

    #[tokio::test]
    async fn one_group_per_working_copy_in_order_and_the_rest_held() {
        let state = tempfile::tempdir().unwrap();
        let engine = engine(state.path(), &[("a", "one"), ("b", "one"), ("c", "two")]);
        let mut runs = Runs::default();
        let started = runs.start(&engine, &keys(&["b", "c", "a"]));
        assert_eq!(started, keys(&["b", "a", "c"]), "b's working copy first");
        assert_eq!(runs.in_flight, 2);
        assert!(runs.is_running(&ObjectKey::new("shop", "a")));
        // Asked for again while it is queued or runs: held, not queued twice.
        assert!(runs.start(&engine, &keys(&["a"])).is_empty());
        assert!(runs.is_held(&ObjectKey::new("shop", "a")));
        let ran = all_finished(&mut runs).await;
        let position = |name: &str| ran.iter().position(|n| n == name).unwrap();
        assert!(position("b") < position("a"), "{ran:?}");
        assert_eq!(ran.len(), 3, "{ran:?}");
        assert!(!runs.is_running(&ObjectKey::new("shop", "a")));
        assert_eq!(runs.start(&engine, &keys(&["a"])), keys(&["a"]));
        all_finished(&mut runs).await;
    }

    /// Regression: a Receiver or a webhook asking for a suspended automation
    /// (or for its GitRepository) ran it, commit and push included.
    #[tokio::test]
    async fn a_suspended_or_removed_automation_is_taken_and_never_runs() {
        let state = tempfile::tempdir().unwrap();
        let engine = engine_with_suspended(state.path(), &[("a", "one"), ("s", "two")], &["s"]);
        let mut runs = Runs::default();
        let taken = runs.start(&engine, &keys(&["s", "gone", "a"]));
        assert_eq!(
            taken,
            keys(&["s", "gone", "a"]),
            "all three leave the due list"
        );
        assert!(!runs.is_running(&ObjectKey::new("shop", "s")));
        assert!(!runs.is_held(&ObjectKey::new("shop", "s")));
        assert_eq!(all_finished(&mut runs).await, ["a"]);
        // Only suspended ones due: nothing queued, nothing left waiting.
        assert_eq!(runs.start(&engine, &keys(&["s"])), keys(&["s"]));
        assert!(!runs.any_running());
    }

    #[tokio::test]
    async fn at_most_so_many_workers_and_the_queue_can_be_dropped() {
        let state = tempfile::tempdir().unwrap();
        let names: Vec<String> = (0..=AUTOMATIONS_AT_ONCE)
            .map(|i| format!("r{i:02}"))
            .collect();
        let pairs: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), n.as_str())).collect();
        let engine = engine(state.path(), &pairs);
        let all: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut runs = Runs::default();
        assert_eq!(runs.start(&engine, &keys(&all)).len(), all.len());
        assert_eq!(lock(&runs.queue).workers, AUTOMATIONS_AT_ONCE);
        assert_eq!(all_finished(&mut runs).await.len(), all.len());
        // (A test runtime has one thread: no worker has taken a group yet.)
        runs.start(&engine, &keys(&all));
        runs.cancel_queued();
        assert!(!runs.any_running());
        assert!(!runs.is_running(&ObjectKey::new("shop", "r00")));
    }
}

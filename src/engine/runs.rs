//! Automation runs in flight, for the loops that keep running (`tagpilot run`
//! and the controller): the due automations of one working copy run one after
//! another as a task of their own, up to [`AUTOMATIONS_AT_ONCE`] tasks at
//! once, and each task is recorded as it ends. A git server that hangs until
//! its timeout then holds back its own automations only, never the others'
//! commits, statuses, scans or the loop itself.
//!
//! A run is never cut short: a loop that stops waits for the runs in flight
//! ([`Runs::finished`] until [`Runs::is_running`] turns false), so a commit
//! and its push are never cut in half by tagpilot itself.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::PathBuf;

use tokio::task::{Id, JoinError, JoinSet};

use super::cycle::{AUTOMATIONS_AT_ONCE, AutomationReport, CycleMode, Engine};
use crate::config::meta::ObjectKey;

/// What a run task returns: each automation of its working copy, in order.
type Ran = Vec<(ObjectKey, AutomationReport)>;

/// The run tasks in flight.
#[derive(Default)]
pub struct Runs {
    tasks: JoinSet<Ran>,
    /// Each task's working copy and automations.
    groups: HashMap<Id, (Option<PathBuf>, Vec<ObjectKey>)>,
    /// The working copies of the tasks in flight.
    busy: HashSet<PathBuf>,
    /// The automations of the tasks in flight.
    running: HashSet<ObjectKey>,
    /// Due automations the last [`Runs::start`] left waiting: their working
    /// copy was busy, or every task slot was taken. The end of a task is what
    /// can change that, so a loop need not wake for them before.
    held: BTreeSet<ObjectKey>,
}

impl Runs {
    /// Starts the automations of `due` (most overdue first): grouped by
    /// working copy, in the order given, a task per group while slots are
    /// free. Returns those started; the others (running already, their working
    /// copy busy, or no slot free) are held ([`Runs::is_held`]) until the next
    /// call.
    pub fn start<C: super::EngineClient>(
        &mut self,
        engine: &Engine<C>,
        due: &[ObjectKey],
    ) -> Vec<ObjectKey> {
        self.held.clear();
        let mut groups: Vec<(Option<PathBuf>, Vec<ObjectKey>)> = Vec::new();
        let mut group_of: HashMap<PathBuf, usize> = HashMap::new();
        for key in due {
            let path = engine.working_copy_of(key);
            match &path {
                _ if self.running.contains(key) => {
                    self.held.insert(key.clone());
                }
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
        let free = AUTOMATIONS_AT_ONCE.saturating_sub(self.tasks.len());
        if groups.len() > free {
            for (_, keys) in groups.drain(free..) {
                self.held.extend(keys);
            }
        }
        if groups.is_empty() {
            return Vec::new();
        }
        let runner = engine.runner();
        let mut started = Vec::new();
        for (path, keys) in groups {
            let runner = runner.clone();
            let owned = keys.clone();
            let task = self.tasks.spawn(async move {
                let mut ran = Vec::with_capacity(owned.len());
                for key in owned {
                    let report = runner.run(&key, CycleMode::Commit).await;
                    ran.push((key, report));
                }
                ran
            });
            if let Some(path) = &path {
                self.busy.insert(path.clone());
            }
            self.running.extend(keys.iter().cloned());
            started.extend(keys.iter().cloned());
            self.groups.insert(task.id(), (path, keys));
        }
        started
    }

    /// Whether automation `key` is running.
    pub fn is_running(&self, key: &ObjectKey) -> bool {
        self.running.contains(key)
    }

    /// Whether the last [`Runs::start`] left `key` waiting for a task to end.
    pub fn is_held(&self, key: &ObjectKey) -> bool {
        self.held.contains(key)
    }

    /// Whether a task is in flight (only then does [`Runs::finished`] return).
    pub fn any_running(&self) -> bool {
        !self.tasks.is_empty()
    }

    /// Waits for a task to end and returns its runs with those of every other
    /// task that has ended meanwhile. A task that panicked reports each of its
    /// automations as failed.
    pub async fn finished(&mut self) -> Ran {
        let mut ran = Vec::new();
        let Some(first) = self.tasks.join_next_with_id().await else {
            return ran;
        };
        let mut next = Some(first);
        while let Some(joined) = next {
            ran.extend(self.take(joined));
            next = self.tasks.try_join_next_with_id();
        }
        ran
    }

    fn take(&mut self, joined: Result<(Id, Ran), JoinError>) -> Ran {
        let (id, ran) = match joined {
            Ok((id, ran)) => (id, Some(ran)),
            Err(error) => {
                tracing::error!(%error, "an automation run task failed");
                (error.id(), None)
            }
        };
        let Some((path, keys)) = self.groups.remove(&id) else {
            return Vec::new();
        };
        if let Some(path) = &path {
            self.busy.remove(path);
        }
        for key in &keys {
            self.running.remove(key);
        }
        ran.unwrap_or_else(|| {
            keys.into_iter()
                .map(|key| {
                    let report = AutomationReport {
                        automation: key.to_string(),
                        error: Some("the run stopped unexpectedly (a bug: see the log)".into()),
                        ..AutomationReport::default()
                    };
                    (key, report)
                })
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::engine::metrics::Metrics;
    use crate::engine::objects::ObjectSet;

    /// A registry that has no tags (no policy here).
    #[derive(Clone, Default)]
    struct NoTags;

    impl crate::registry::TagLister for NoTags {
        async fn list_tags(
            &self,
            _target: &crate::registry::ScanTarget,
        ) -> Result<crate::registry::TagList, crate::registry::ScanError> {
            Ok(crate::registry::TagList::complete(Vec::new()))
        }
    }

    impl crate::registry::inspect::ImageInspector for NoTags {
        async fn signature(
            &self,
            _target: &crate::registry::ScanTarget,
            _digest: &str,
            _keys: &crate::registry::cosign::CosignKeys,
        ) -> Result<crate::registry::signatures::SignatureOutcome, crate::registry::ScanError>
        {
            unreachable!("no policy here")
        }

        async fn platforms(
            &self,
            _target: &crate::registry::ScanTarget,
            _digest: &str,
        ) -> Result<Vec<crate::registry::platforms::ImagePlatform>, crate::registry::ScanError>
        {
            unreachable!("no policy here")
        }
    }

    impl crate::registry::created::CreatedLookup for NoTags {
        async fn lookup_created(
            &self,
            _target: &crate::registry::ScanTarget,
            _tag: &str,
            _store: &crate::registry::created_store::CreatedStore,
        ) -> Result<crate::registry::created::ImageCreated, crate::registry::ScanError> {
            unreachable!("no policy here")
        }
    }

    impl crate::registry::DigestResolver for NoTags {
        async fn manifest_digest(
            &self,
            _target: &crate::registry::ScanTarget,
            _tag: &str,
        ) -> Result<String, crate::registry::ScanError> {
            unreachable!("no policy here")
        }
    }

    /// `sources` GitRepositories (`file://` paths that do not exist: each run
    /// fails at once) and, on each, the automations named.
    fn engine(state: &std::path::Path, automations: &[(&str, &str)]) -> Engine<NoTags> {
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
            yaml.push_str(&format!(
                "apiVersion: image.toolkit.fluxcd.io/v1beta2\nkind: ImageUpdateAutomation\nmetadata: {{name: {name}, namespace: shop}}\nspec: {{interval: 1h, sourceRef: {{kind: GitRepository, name: {source}}}, git: {{commit: {{author: {{name: t, email: t@example.com}}}}}}, update: {{path: ./, strategy: Setters}}}}\n---\n"
            ));
        }
        std::fs::write(dir.path().join("objects.yaml"), yaml).unwrap();
        let (set, errors) = ObjectSet::load(dir.path());
        assert!(errors.is_empty(), "{errors:?}");
        Engine::new(set, NoTags, state, Arc::new(Metrics::new())).unwrap()
    }

    fn keys(names: &[&str]) -> Vec<ObjectKey> {
        names
            .iter()
            .map(|name| ObjectKey::new("shop", *name))
            .collect()
    }

    async fn all_finished(runs: &mut Runs) -> Vec<String> {
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
    async fn one_task_per_working_copy_in_order_and_the_rest_held() {
        let state = tempfile::tempdir().unwrap();
        let engine = engine(state.path(), &[("a", "one"), ("b", "one"), ("c", "two")]);
        let mut runs = Runs::default();
        let started = runs.start(&engine, &keys(&["b", "c", "a"]));
        assert_eq!(started, keys(&["b", "a", "c"]), "b's working copy first");
        assert_eq!(runs.tasks.len(), 2);
        assert!(runs.is_running(&ObjectKey::new("shop", "a")));
        // Asked for again while it runs: held, not started twice.
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

    #[tokio::test]
    async fn at_most_a_slot_per_task() {
        let state = tempfile::tempdir().unwrap();
        let names: Vec<String> = (0..=AUTOMATIONS_AT_ONCE)
            .map(|i| format!("r{i:02}"))
            .collect();
        let pairs: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), n.as_str())).collect();
        let engine = engine(state.path(), &pairs);
        let all: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut runs = Runs::default();
        let started = runs.start(&engine, &keys(&all));
        assert_eq!(started.len(), AUTOMATIONS_AT_ONCE);
        let last = ObjectKey::new("shop", all[AUTOMATIONS_AT_ONCE]);
        assert!(runs.is_held(&last) && !runs.is_running(&last));
        let ran = all_finished(&mut runs).await;
        assert_eq!(ran.len(), AUTOMATIONS_AT_ONCE);
        assert_eq!(runs.start(&engine, std::slice::from_ref(&last)), vec![last]);
        all_finished(&mut runs).await;
    }
}

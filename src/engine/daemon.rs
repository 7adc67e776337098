//! The long-running loop of `tagpilot run`: scans each ImageRepository at its
//! interval (spread after a restart), each scan on its own so a slow registry
//! never delays the others, re-evaluates the policies as scans finish, and
//! runs an automation when its interval is up or one of its policies changed
//! (each working copy's runs as a task of their own, recorded as they end:
//! [`super::runs`]). Webhook pushes scan the matching repositories at once
//! (and run the automations whose annotated workloads use the pushed image);
//! a Flux Receiver's request reconciles its resources at once (a GitRepository:
//! the automations that use it).
//! A policy that skipped a better tag as too young (`minimumAge`) is evaluated
//! again when that tag becomes old enough, without waiting for a scan.
//! On a shutdown signal the runs in flight are waited for, so a commit and its
//! push are never cut in half by tagpilot itself.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::{Duration, Instant, SystemTime};

use futures::FutureExt as _;
use futures::stream::{FuturesUnordered, StreamExt as _};
use tokio::sync::mpsc;

use super::cycle::{CycleMode, Engine};
use super::runs::Runs;
use super::webhook::{AnnouncedTags, ObjectLabels, Trigger};
use crate::api::Kind;
use crate::config::meta::ObjectKey;
use crate::registry::store::next_scan_at;

/// The longest the loop sleeps before looking again (also bounds clock drift).
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// Runs until `shutdown` resolves.
pub async fn run_loop<C: super::EngineClient>(
    engine: &mut Engine<C>,
    mut triggers: mpsc::Receiver<Trigger>,
    labels: &ObjectLabels,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut webhooks_open = true;
    let now = Instant::now();
    let wall = SystemTime::now();
    let mut next_scan: BTreeMap<ObjectKey, Instant> = engine
        .objects()
        .active_repositories()
        .map(|(key, entry)| {
            // Never scanned: nothing to work from, so scan at once. A stored list
            // is used until its scan is due (spread over a window when overdue).
            let Some(stored) = engine.store().get(key) else {
                return (key.clone(), now);
            };
            let due = next_scan_at(Some(&*stored), entry.interval, wall);
            let wait = due.duration_since(wall).unwrap_or_default();
            (key.clone(), now + wait)
        })
        .collect();
    let mut next_run: BTreeMap<ObjectKey, Instant> = engine
        .objects()
        .active_automations()
        .map(|(key, _)| (key.clone(), now))
        .collect();
    // The first evaluation uses stored tags, so a restart can commit without rescanning.
    let mut evaluate_now = true;
    // When a tag skipped as too young becomes eligible: evaluate again then.
    let mut recheck: Option<Instant> = None;
    // Scans run side by side and are recorded as each finishes: a slow or failing
    // registry never holds back the results of the others.
    let mut in_flight = FuturesUnordered::new();
    let mut scanning: BTreeSet<ObjectKey> = BTreeSet::new();
    // Pushes announced while their repository's scan was already running: that
    // scan may have listed the tags before the push, so scan again when it ends.
    let mut rescan: BTreeSet<ObjectKey> = BTreeSet::new();
    // Tags a webhook announced that no scan has listed yet.
    let mut announced = AnnouncedTags::default();
    // Automation runs, each working copy's a task of its own, recorded as they end.
    let mut runs = Runs::default();
    loop {
        let now = Instant::now();
        let due_scans: Vec<ObjectKey> = next_scan
            .iter()
            .filter(|(key, at)| **at <= now && !scanning.contains(*key))
            .map(|(key, _)| key.clone())
            .collect();
        for key in due_scans {
            let Some(task) = engine.scan_task(&key) else {
                // Suspended or gone: nothing scans it until it is resumed.
                next_scan.remove(&key);
                continue;
            };
            // Spawned, so scans progress while the loop commits and pushes.
            let handle = tokio::spawn(task);
            let owner = key.clone();
            in_flight.push(handle.map(move |joined| match joined {
                Ok((key, result)) => (key, Some(result)),
                Err(error) => {
                    tracing::error!(repository = %owner, %error, "the scan task failed");
                    (owner, None)
                }
            }));
            scanning.insert(key);
        }
        if recheck.is_some_and(|at| at <= Instant::now()) {
            recheck = None;
            evaluate_now = true;
        }
        if evaluate_now {
            evaluate_now = false;
            let reports = engine.evaluate(CycleMode::Commit).await;
            recheck = reports
                .iter()
                .filter_map(|report| report.recheck_at)
                .min()
                .map(instant_of);
            let changed: HashSet<&str> = reports
                .iter()
                .filter(|r| r.changed)
                .map(|r| r.policy.as_str())
                .collect();
            if !changed.is_empty() {
                let changed: Vec<&ObjectKey> = engine
                    .objects()
                    .policies
                    .keys()
                    .filter(|key| changed.contains(key.to_string().as_str()))
                    .collect();
                for automation in engine.objects().automations_fed_by(&changed) {
                    next_run.insert(automation, Instant::now());
                }
            }
        }
        let now = Instant::now();
        let mut due_runs: Vec<(Instant, ObjectKey)> = next_run
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(key, at)| (*at, key.clone()))
            .collect();
        due_runs.sort();
        let due_runs: Vec<ObjectKey> = due_runs.into_iter().map(|(_, key)| key).collect();
        for key in runs.start(engine, &due_runs) {
            next_run.remove(&key);
        }
        let wake = next_scan
            .iter()
            .filter(|(key, _)| !scanning.contains(*key))
            .map(|(_, at)| at)
            .chain(
                next_run
                    .iter()
                    .filter(|(key, _)| !runs.is_held(key))
                    .map(|(_, at)| at),
            )
            .chain(recheck.iter())
            .copied()
            .chain(engine.status_flush_due())
            .min()
            .unwrap_or_else(|| Instant::now() + MAX_SLEEP)
            .min(Instant::now() + MAX_SLEEP);
        tokio::select! {
            () = &mut shutdown => {
                tracing::info!("shutting down");
                // Runs end on their own (their git timeouts bound them): a
                // push is never cut in half.
                runs.cancel_queued();
                while runs.any_running() {
                    let ran = runs.finished().await;
                    engine.record_runs(&ran, CycleMode::Commit);
                }
                engine.flush_status_if_due();
                if engine.status_flush_due().is_some() {
                    engine.save_status();
                }
                return;
            }
            () = tokio::time::sleep_until(wake.into()) => {
                engine.flush_status_if_due();
            }
            ran = runs.finished(), if runs.any_running() => {
                engine.record_runs(&ran, CycleMode::Commit);
                for (key, report) in ran {
                    let Some(entry) = engine.objects().automations.get(&key) else {
                        continue;
                    };
                    if entry.suspend {
                        continue;
                    }
                    let due = match report.run_again_after {
                        Some(soon) => Instant::now() + soon,
                        None => next_due(Some(entry.run_interval())),
                    };
                    // Asked for again after the run took its view of the
                    // objects and policies (a policy it uses changed, a
                    // webhook): that earlier time stays; asked for before
                    // (while it was queued): this run was the answer.
                    match next_run.get(&key) {
                        Some(at) if report.as_of.is_some_and(|as_of| *at <= as_of) => {
                            next_run.insert(key, due);
                        }
                        _ => {
                            next_run
                                .entry(key)
                                .and_modify(|at| *at = (*at).min(due))
                                .or_insert(due);
                        }
                    }
                }
            }
            Some((key, result)) = in_flight.next(), if !in_flight.is_empty() => {
                // Record this scan and every other one that has finished meanwhile,
                // then evaluate once for all of them.
                let mut finished = vec![(key, result)];
                while let Some(Some(more)) = in_flight.next().now_or_never() {
                    finished.push(more);
                }
                let recorded: Vec<_> = finished
                    .iter_mut()
                    .filter_map(|(key, result)| Some((key.clone(), result.take()?)))
                    .collect();
                engine.record_scans(recorded).await;
                for (key, _) in finished {
                    scanning.remove(&key);
                    let stored = engine.store().get(&key);
                    let listed = |tag: &str| stored.is_some_and(|stored| stored.lists(tag));
                    let due = if rescan.remove(&key) {
                        Instant::now()
                    } else if let Some(wait) = announced.rescan_after(&key, listed) {
                        Instant::now() + wait
                    } else {
                        next_due(engine.objects().repositories.get(&key).map(|e| e.interval))
                    };
                    next_scan.insert(key, due);
                }
                evaluate_now = true;
            }
            trigger = triggers.recv(), if webhooks_open => {
                let Some(trigger) = trigger else {
                    // The HTTP server is gone; keep running on intervals alone.
                    webhooks_open = false;
                    continue;
                };
                let (scans, pushed) = match trigger {
                    Trigger::Pushed(images) => {
                        let mut scans = Vec::new();
                        for image in &images {
                            let keys = engine.repositories_for_push(image.host.as_deref(), &image.repository);
                            let automations = engine.automations_for_push(image.host.as_deref(), &image.repository, &image.tag);
                            if keys.is_empty() && automations.is_empty() {
                                tracing::debug!(repository = %image.repository, "webhook push matches no ImageRepository and no annotated workload");
                            }
                            for automation in automations {
                                tracing::info!(automation = %automation, repository = %image.repository, tag = %image.tag, "webhook: running the automation now");
                                next_run.insert(automation, Instant::now());
                            }
                            scans.extend(keys);
                        }
                        (scans, images)
                    }
                    Trigger::Requested { receiver, resources, pushed } => {
                        let mut scans = Vec::new();
                        for (kind, key) in resources
                            .iter()
                            .flat_map(|resource| resource.resolve(labels.iter().map(|((k, key), l)| (*k, key, l))))
                        {
                            tracing::info!(%receiver, kind = kind.name(), object = %key, "receiver: reconciling now");
                            match kind {
                                Kind::ImageRepository => scans.push(key),
                                Kind::ImagePolicy => evaluate_now = true,
                                Kind::ImageUpdateAutomation => {
                                    next_run.insert(key, Instant::now());
                                }
                                Kind::GitRepository => {
                                    for (automation, entry) in &engine.objects().automations {
                                        if entry.source == key {
                                            next_run.insert(automation.clone(), Instant::now());
                                        }
                                    }
                                }
                                Kind::Sync => tracing::debug!(object = %key, "receivers do not trigger Syncs in standalone mode; they apply at their interval"),
                            }
                        }
                        (scans, pushed)
                    }
                };
                for key in scans {
                    if !engine.objects().is_active_repository(&key) {
                        continue;
                    }
                    let tag = pushed.iter().find(|image| {
                        engine
                            .repositories_for_push(image.host.as_deref(), &image.repository)
                            .contains(&key)
                    });
                    tracing::info!(repository = %key, tag = tag.map_or("", |t| t.tag.as_str()), "webhook: scanning now");
                    if let Some(image) = tag {
                        announced.announce(&key, &image.tag);
                    }
                    if scanning.contains(&key) {
                        rescan.insert(key);
                    } else {
                        next_scan.insert(key, Instant::now());
                    }
                }
            }
        }
    }
}

/// The instant just after a wall-clock time (a second late, so the evaluation
/// then never runs a moment early; now, if it has passed).
fn instant_of(at: jiff::Timestamp) -> Instant {
    let wait = at
        .duration_since(jiff::Timestamp::now())
        .try_into()
        .unwrap_or(Duration::ZERO);
    Instant::now() + wait + Duration::from_secs(1)
}

/// When an object with `interval` (the longest sleep if it is gone) is next due.
fn next_due(interval: Option<Duration>) -> Instant {
    Instant::now() + jittered(interval.unwrap_or(MAX_SLEEP))
}

/// `interval` plus up to 10% (at most 30 s) of random delay, so objects with the
/// same interval do not all fire in the same second.
fn jittered(interval: Duration) -> Duration {
    let spread = (interval / 10).min(Duration::from_secs(30));
    interval + spread.mul_f64(fastrand::f64())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::sync::Notify;

    use crate::registry::{DigestResolver, TagLister};

    use super::*;
    use crate::engine::metrics::Metrics;
    use crate::engine::objects::ObjectSet;
    use crate::engine::webhook::PushedImage;
    use crate::registry::{ScanError, ScanTarget, TagList};

    /// A registry whose first listing waits until the test lets it finish.
    #[derive(Clone, Default)]
    struct GatedRegistry {
        calls: Arc<AtomicUsize>,
        release_first: Arc<Notify>,
    }

    impl TagLister for GatedRegistry {
        async fn list_tags(&self, _target: &ScanTarget) -> Result<TagList, ScanError> {
            if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
                self.release_first.notified().await;
            }
            Ok(TagList::complete(["v1".to_string()]))
        }
    }

    impl crate::registry::inspect::ImageInspector for GatedRegistry {
        async fn signature(
            &self,
            _target: &ScanTarget,
            _digest: &str,
            _keys: &crate::registry::cosign::CosignKeys,
        ) -> Result<crate::registry::signatures::SignatureOutcome, ScanError> {
            unreachable!("no policy here requires a signature")
        }

        async fn platforms(
            &self,
            _target: &ScanTarget,
            _digest: &str,
        ) -> Result<Vec<crate::registry::platforms::ImagePlatform>, ScanError> {
            unreachable!("no policy here requires platforms")
        }
    }

    impl crate::registry::created::CreatedLookup for GatedRegistry {
        async fn lookup_created(
            &self,
            target: &ScanTarget,
            tag: &str,
            _store: &crate::registry::created_store::CreatedStore,
        ) -> Result<crate::registry::created::ImageCreated, ScanError> {
            Err(ScanError::NotFound {
                image: target.image.name().to_string(),
                host: target.image.registry().to_string(),
                detail: format!("{tag} is not in this test registry"),
            })
        }
    }

    impl DigestResolver for GatedRegistry {
        async fn manifest_digest(
            &self,
            _target: &ScanTarget,
            _tag: &str,
        ) -> Result<String, ScanError> {
            Ok(format!("sha256:{}", "0".repeat(64)))
        }
    }

    async fn wait_for_calls(registry: &GatedRegistry, calls: usize) {
        tokio::time::timeout(Duration::from_secs(10), async {
            while registry.calls.load(Ordering::SeqCst) < calls {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("the registry was never asked {calls} times"));
    }

    /// Regression: a push announced while its repository's scan was running was
    /// overwritten by that scan's next due time, so the new tag waited a whole interval.
    #[tokio::test]
    async fn a_push_during_a_running_scan_scans_again_when_it_ends() {
        let config = tempfile::tempdir().unwrap();
        std::fs::write(
            config.path().join("repository.yaml"),
            "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\nmetadata:\n  name: app\n  namespace: shop\nspec:\n  image: registry.example.com/team/app\n  interval: 1h\n",
        )
        .unwrap();
        let (objects, errors) = ObjectSet::load(config.path());
        assert!(errors.is_empty(), "{errors:?}");
        let state = tempfile::tempdir().unwrap();
        let registry = GatedRegistry::default();
        let mut engine = Engine::new(
            objects,
            registry.clone(),
            state.path(),
            Arc::new(Metrics::new()),
        )
        .unwrap();
        let (pushes, receiver) = mpsc::channel(4);
        let labels = ObjectLabels::new();
        let stop = Arc::new(Notify::new());
        let stopped = stop.clone();
        let driver = async {
            wait_for_calls(&registry, 1).await;
            pushes
                .send(Trigger::Pushed(vec![PushedImage {
                    host: Some("registry.example.com".into()),
                    repository: "team/app".into(),
                    tag: "v2".into(),
                }]))
                .await
                .unwrap();
            // The loop runs in this task (join!): yielding once lets it take the push
            // while the first scan is still held.
            tokio::task::yield_now().await;
            registry.release_first.notify_one();
            wait_for_calls(&registry, 2).await;
            stop.notify_one();
        };
        tokio::join!(
            run_loop(&mut engine, receiver, &labels, async move {
                stopped.notified().await
            }),
            driver
        );
    }
}

//! The long-running loop of `tagpilot run`: scans each ImageRepository at its
//! interval (spread after a restart), each scan on its own so a slow registry
//! never delays the others, re-evaluates the policies as scans finish, and
//! runs an automation when its interval is up or one of its policies changed. Webhook pushes scan the matching repositories at once.
//! A shutdown signal is honoured between steps, so a commit and its push are
//! never cut in half by tagpilot itself.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant, SystemTime};

use futures::FutureExt as _;
use futures::stream::{FuturesUnordered, StreamExt as _};
use tokio::sync::mpsc;

use super::cycle::{CycleMode, Engine};
use super::webhook::PushedImage;
use crate::config::meta::ObjectKey;
use crate::registry::store::next_scan_at;
use crate::registry::{DigestResolver, TagLister};

/// The longest the loop sleeps before looking again (also bounds clock drift).
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// Runs until `shutdown` resolves.
pub async fn run_loop<C: TagLister + DigestResolver + Clone + Send + Sync + 'static>(
    engine: &mut Engine<C>,
    mut pushes: mpsc::Receiver<Vec<PushedImage>>,
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
    // Scans run side by side and are recorded as each finishes: a slow or failing
    // registry never holds back the results of the others.
    let mut in_flight = FuturesUnordered::new();
    let mut scanning: BTreeSet<ObjectKey> = BTreeSet::new();
    loop {
        let now = Instant::now();
        let due_scans: Vec<ObjectKey> = next_scan
            .iter()
            .filter(|(key, at)| **at <= now && !scanning.contains(*key))
            .map(|(key, _)| key.clone())
            .collect();
        for key in due_scans {
            if let Some(task) = engine.scan_task(&key) {
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
        }
        if evaluate_now {
            evaluate_now = false;
            let reports = engine.evaluate(CycleMode::Commit).await;
            let changed: Vec<String> = reports
                .iter()
                .filter(|r| r.changed)
                .map(|r| r.policy.clone())
                .collect();
            let changed: Vec<&ObjectKey> = engine
                .objects()
                .policies
                .keys()
                .filter(|key| changed.contains(&key.to_string()))
                .collect();
            for automation in engine.objects().automations_fed_by(&changed) {
                next_run.insert(automation, Instant::now());
            }
        }
        let now = Instant::now();
        let due_runs: Vec<ObjectKey> = next_run
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(key, _)| key.clone())
            .collect();
        if !due_runs.is_empty() {
            engine.run_automations(&due_runs, CycleMode::Commit).await;
            for key in due_runs {
                let interval = engine.objects().automations.get(&key).map(|e| e.interval);
                next_run.insert(key, next_due(interval));
            }
        }
        let wake = next_scan
            .iter()
            .filter(|(key, _)| !scanning.contains(*key))
            .map(|(_, at)| at)
            .chain(next_run.values())
            .min()
            .copied()
            .unwrap_or_else(|| Instant::now() + MAX_SLEEP)
            .min(Instant::now() + MAX_SLEEP);
        tokio::select! {
            () = &mut shutdown => {
                tracing::info!("shutting down");
                return;
            }
            () = tokio::time::sleep_until(wake.into()) => {}
            Some((key, result)) = in_flight.next(), if !in_flight.is_empty() => {
                // Record this scan and every other one that has finished meanwhile,
                // then evaluate once for all of them.
                let mut finished = vec![(key, result)];
                while let Some(Some(more)) = in_flight.next().now_or_never() {
                    finished.push(more);
                }
                for (key, result) in finished {
                    if let Some(result) = result {
                        engine.record_scan(&key, result);
                    }
                    scanning.remove(&key);
                    let interval = engine.objects().repositories.get(&key).map(|e| e.interval);
                    next_scan.insert(key, next_due(interval));
                }
                evaluate_now = true;
            }
            pushed = pushes.recv(), if webhooks_open => {
                let Some(images) = pushed else {
                    // The HTTP server is gone; keep running on intervals alone.
                    webhooks_open = false;
                    continue;
                };
                for image in images {
                    let keys = engine.repositories_for_push(image.host.as_deref(), &image.repository);
                    if keys.is_empty() {
                        tracing::debug!(repository = %image.repository, "webhook push matches no ImageRepository");
                    }
                    for key in keys {
                        tracing::info!(repository = %key, tag = %image.tag, "webhook: scanning now");
                        next_scan.insert(key, Instant::now());
                    }
                }
            }
        }
    }
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

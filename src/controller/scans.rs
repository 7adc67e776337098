//! The controller's ImageRepository scans: when each is due, and the scans in
//! flight. Every scan is a task of its own and is handed back as it finishes,
//! so a registry that is slow or never answers (until its `timeout`) holds back
//! no other repository's tags, no policy, no automation and no status — the
//! same as the standalone daemon (`engine::daemon`).
//!
//! At most one scan of a repository is in flight. A request for a repository
//! that is being scanned (a webhook push, a reconcile request) scans it again
//! as soon as that scan ends, since the running one may have listed the tags
//! before the push; a change of its spec, or its removal, discards the running
//! scan's result (it is of the old spec).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use tokio::task::{AbortHandle, Id, JoinSet};
use tokio::time::Instant;

use crate::config::meta::ObjectKey;
use crate::registry::{ScanError, TagList};

/// What a scan task returns: its repository and what it listed.
type Scanned = (ObjectKey, Result<TagList, ScanError>);

/// A scan that ended and is to be recorded.
pub struct Finished {
    /// The ImageRepository scanned.
    pub key: ObjectKey,
    /// What the scan found; `None` when its task panicked (a failure).
    pub result: Option<Result<TagList, ScanError>>,
    /// Asked for again while it ran: due now rather than at its interval.
    pub again: bool,
}

/// A scan in flight.
struct Flight {
    task: AbortHandle,
    again: bool,
    started: Instant,
}

/// When each active ImageRepository is scanned next, and the scans running.
#[derive(Default)]
pub struct Scans {
    due: BTreeMap<ObjectKey, Instant>,
    running: JoinSet<Scanned>,
    owners: HashMap<Id, ObjectKey>,
    in_flight: BTreeMap<ObjectKey, Flight>,
}

impl Scans {
    /// Scans `key` at `at`, or once its running scan ends.
    pub fn request(&mut self, key: &ObjectKey, at: Instant) {
        match self.in_flight.get_mut(key) {
            Some(flight) => flight.again = true,
            None => {
                self.due.insert(key.clone(), at);
            }
        }
    }

    /// `key`'s spec changed: a running scan's result is of the old spec, so it
    /// is dropped, and the repository is scanned at `at`.
    pub fn changed(&mut self, key: &ObjectKey, at: Instant) {
        self.cancel(key);
        self.due.insert(key.clone(), at);
    }

    /// Schedules `key` `at` after its scan was recorded.
    pub fn schedule(&mut self, key: ObjectKey, at: Instant) {
        if !self.in_flight.contains_key(&key) {
            self.due.insert(key, at);
        }
    }

    /// Keeps only the repositories in `active` (cancelling the scans of the
    /// others); one that is new is due at `now`.
    pub fn retain<'a>(&mut self, active: impl IntoIterator<Item = &'a ObjectKey>, now: Instant) {
        let active: BTreeSet<&ObjectKey> = active.into_iter().collect();
        self.due.retain(|key, _| active.contains(key));
        let gone: Vec<ObjectKey> = self
            .in_flight
            .keys()
            .filter(|key| !active.contains(key))
            .cloned()
            .collect();
        for key in gone {
            self.cancel(&key);
        }
        for key in active {
            if !self.in_flight.contains_key(key) {
                self.due.entry(key.clone()).or_insert(now);
            }
        }
    }

    /// Starts the scans that are due, each the task `scan` makes for its key
    /// (`Engine::scan_task`); a key it makes none for is forgotten.
    pub fn start_due<F>(&mut self, mut scan: impl FnMut(&ObjectKey) -> Option<F>)
    where
        F: Future<Output = Scanned> + Send + 'static,
    {
        let now = Instant::now();
        let due: Vec<ObjectKey> = self
            .due
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(key, _)| key.clone())
            .collect();
        for key in due {
            self.due.remove(&key);
            let Some(task) = scan(&key) else {
                continue;
            };
            let task = self.running.spawn(task);
            self.owners.insert(task.id(), key.clone());
            let started = Instant::now();
            self.in_flight.insert(
                key,
                Flight {
                    task,
                    again: false,
                    started,
                },
            );
        }
    }

    /// When the next scan that is not running is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.due.values().min().copied()
    }

    /// The repositories being scanned, with when each scan started.
    pub fn running(&self) -> impl Iterator<Item = (&ObjectKey, Instant)> {
        self.in_flight
            .iter()
            .map(|(key, flight)| (key, flight.started))
    }

    /// Whether a scan has ended and waits to be taken by [`Self::finished`].
    pub fn any_ended(&self) -> bool {
        self.in_flight
            .values()
            .any(|flight| flight.task.is_finished())
    }

    /// Whether a scan is running (only then does [`Self::finished`] return).
    pub fn is_running(&self) -> bool {
        !self.running.is_empty()
    }

    /// Waits for a scan to end and returns it with every other that has ended
    /// meanwhile (scans cancelled by [`Self::changed`] or [`Self::retain`]
    /// are left out).
    pub async fn finished(&mut self) -> Vec<Finished> {
        let mut finished = Vec::new();
        let Some(first) = self.running.join_next_with_id().await else {
            return finished;
        };
        let mut next = Some(first);
        while let Some(joined) = next {
            finished.extend(self.take(joined));
            next = self.running.try_join_next_with_id();
        }
        finished
    }

    /// Stops every running scan.
    pub fn abort_all(&mut self) {
        self.running.abort_all();
        self.in_flight.clear();
        self.owners.clear();
    }

    fn take(&mut self, joined: Result<(Id, Scanned), tokio::task::JoinError>) -> Option<Finished> {
        let (id, result) = match joined {
            Ok((id, (_, result))) => (id, Some(result)),
            Err(error) => {
                if !error.is_cancelled() {
                    tracing::error!(%error, "a scan task failed");
                }
                (error.id(), None)
            }
        };
        let key = self.owners.remove(&id)?;
        // A cancelled scan's key may be scanned again by a newer task.
        let flight = self.in_flight.get(&key).filter(|f| f.task.id() == id)?;
        let again = flight.again;
        self.in_flight.remove(&key);
        Some(Finished { key, result, again })
    }

    fn cancel(&mut self, key: &ObjectKey) {
        if let Some(flight) = self.in_flight.remove(key) {
            flight.task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use tokio::sync::oneshot;

    use super::*;

    type Gates = Arc<Mutex<BTreeMap<String, Vec<oneshot::Sender<()>>>>>;

    /// Starts the due scans as tasks that end when the test opens their gate,
    /// each listing one tag: the task's number for its key (1 for the first).
    fn start(scans: &mut Scans, gates: &Gates) {
        scans.start_due(|key: &ObjectKey| {
            let (open, opened) = oneshot::channel();
            let mut gates = gates.lock().unwrap();
            let queued = gates.entry(key.name.clone()).or_default();
            queued.push(open);
            let number = queued.len();
            let key = key.clone();
            Some(async move {
                let _ = opened.await;
                (key, Ok(TagList::complete([number.to_string()])))
            })
        });
    }

    fn open(gates: &Gates, name: &str, number: usize) {
        let gate = std::mem::replace(
            &mut gates.lock().unwrap().get_mut(name).unwrap()[number - 1],
            oneshot::channel().0,
        );
        gate.send(()).unwrap();
    }

    fn tags(done: &Finished) -> Vec<String> {
        match &done.result {
            Some(Ok(list)) => list.tags.clone(),
            other => panic!("not a listing: {other:?}"),
        }
    }

    fn started(gates: &Gates, name: &str) -> usize {
        gates.lock().unwrap().get(name).map_or(0, Vec::len)
    }

    /// The scans of `shop/slow` and `shop/fast`, started and waiting at their gates.
    fn slow_and_fast() -> (ObjectKey, Gates, Scans) {
        let (slow, fast) = (
            ObjectKey::new("shop", "slow"),
            ObjectKey::new("shop", "fast"),
        );
        let gates = Gates::default();
        let mut scans = Scans::default();
        scans.retain([&slow, &fast], Instant::now());
        start(&mut scans, &gates);
        assert_eq!((started(&gates, "slow"), started(&gates, "fast")), (1, 1));
        (slow, gates, scans)
    }

    #[tokio::test]
    async fn an_ended_scan_is_seen_before_it_is_taken() {
        let (_, gates, mut scans) = slow_and_fast();
        assert!(!scans.any_ended());
        open(&gates, "fast", 1);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !scans.any_ended() {
            assert!(Instant::now() < deadline, "the ended scan is never seen");
            tokio::task::yield_now().await;
        }
        let done = scans.finished().await;
        assert_eq!(done[0].key.name, "fast");
        assert!(!scans.any_ended(), "taken: the slow scan still runs");
    }

    #[tokio::test]
    async fn a_slow_scan_holds_back_no_other_and_a_request_meanwhile_scans_again() {
        let (slow, gates, mut scans) = slow_and_fast();
        let now = Instant::now();

        open(&gates, "fast", 1);
        let done = scans.finished().await;
        assert_eq!(done.len(), 1);
        assert_eq!((done[0].key.name.as_str(), done[0].again), ("fast", false));
        assert_eq!(tags(&done[0]), ["1"]);

        // Asked for while it runs: no second scan now, one right after.
        scans.request(&slow, now);
        start(&mut scans, &gates);
        assert_eq!(
            started(&gates, "slow"),
            1,
            "two scans of one repository at once"
        );
        assert_eq!(scans.next_due(), None);
        open(&gates, "slow", 1);
        let done = scans.finished().await;
        assert_eq!((done[0].key.name.as_str(), done[0].again), ("slow", true));
        assert!(!scans.is_running());
    }

    #[tokio::test]
    async fn a_scan_of_a_changed_or_removed_repository_is_dropped() {
        let (app, gone) = (
            ObjectKey::new("shop", "app"),
            ObjectKey::new("shop", "gone"),
        );
        let gates = Gates::default();
        let mut scans = Scans::default();
        let now = Instant::now();
        scans.retain([&app, &gone], now);
        start(&mut scans, &gates);

        // The spec changed while the first scan ran: only the second counts.
        scans.changed(&app, now);
        scans.retain([&app], now);
        start(&mut scans, &gates);
        assert_eq!((started(&gates, "app"), started(&gates, "gone")), (2, 1));
        open(&gates, "app", 2);
        let mut done = Vec::new();
        while scans.is_running() {
            let finished = tokio::time::timeout(Duration::from_secs(10), scans.finished());
            done.extend(
                finished
                    .await
                    .expect("a scan that should be cancelled still runs"),
            );
        }
        assert_eq!(
            done.len(),
            1,
            "{:?}",
            done.iter().map(|d| &d.key).collect::<Vec<_>>()
        );
        assert_eq!(
            (done[0].key.name.as_str(), tags(&done[0])),
            ("app", vec!["2".to_string()])
        );

        // Scheduled after its record; the removed one is never due again.
        scans.schedule(app.clone(), now);
        assert_eq!(scans.next_due(), Some(now));
        scans.retain([], now);
        assert_eq!(scans.next_due(), None);
    }
}

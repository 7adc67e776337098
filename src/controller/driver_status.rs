//! Writing the statuses the driver computed (only those that changed, under
//! one field manager), with `lastHandledReconcileAt` for handled reconcile
//! requests, and announcing failures as Warning events.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt as _;
use serde_json::Value;
use tokio::time::Instant;

use super::super::conditions::{Health, REASON_SUSPENDED};
use super::super::events::EventMetadata;
use super::super::kinds::{ApiFlavor, Kind};
use super::super::snapshot::ObjectId;
use super::super::status;
use super::Driver;

/// How many status writes are in flight at once.
const STATUS_WRITES_AT_ONCE: usize = 16;

/// How many status writes go before the loop checks for ended scans.
const STATUS_WRITES_BATCH: usize = 256;

/// When a status that could not be written is tried again (with the next
/// step's other changes), if nothing wakes the loop sooner.
const STATUS_RETRY: Duration = Duration::from_secs(2);

/// How long an object's first status waits while it only says "in progress":
/// most first scans, evaluations and runs end sooner, and their result is
/// then the first status written. At start-up with 2,000 objects of each
/// kind, 8,000 "in progress" statuses kept the loop from recording the
/// first scans for 15 s (and were overwritten right after).
const FIRST_STATUS_DELAY: Duration = Duration::from_secs(3);

impl Driver {
    pub(super) async fn write_statuses(&mut self) {
        let desired = status::desired(
            &self.snapshot,
            self.engine.objects(),
            self.engine.status(),
            self.engine.store(),
        )
        .and_then(|mut desired| {
            desired.extend(self.syncs.desired(&self.snapshot, self.engine.objects())?);
            Ok(desired)
        });
        let desired = match desired {
            Ok(desired) => desired,
            Err(error) => {
                tracing::error!(%error, "cannot compute status");
                return;
            }
        };
        self.written.retain(|id, _| desired.contains_key(id));
        self.announce_failures(&desired);
        let now = Instant::now();
        self.progressing_since.retain(|id, _| {
            matches!(desired.get(id), Some((Health::Progressing { .. }, _)))
                && !self.written.contains_key(id)
        });
        let mut deferred: Option<Instant> = None;
        let mut writes = Vec::new();
        for (id, (health, mut body)) in desired {
            if matches!(health, Health::Progressing { .. }) && !self.written.contains_key(&id) {
                let since = *self.progressing_since.entry(id.clone()).or_insert(now);
                let due = since + FIRST_STATUS_DELAY;
                if now < due {
                    deferred = Some(deferred.map_or(due, |at| at.min(due)));
                    continue;
                }
            }
            // With Flux's groups, source-controller owns GitRepository status.
            if self.flavor == ApiFlavor::Flux && id.0 == Kind::GitRepository {
                continue;
            }
            if let (Some(handled), Some(map)) = (self.handled.get(&id), body.as_object_mut())
                && id.0 != Kind::Sync
            {
                map.insert("lastHandledReconcileAt".into(), handled.clone().into());
            }
            if let Some(previous) = self.written.get(&id) {
                if without_transition_times(previous) == without_transition_times(&body) {
                    continue;
                }
                keep_transition_times(&mut body, previous);
            }
            let Some(info) = self.snapshot.infos.get(&id) else {
                continue;
            };
            writes.push((id, info, body));
        }
        // Each write is its own request: a few at a time, so 2,000 objects
        // becoming Ready at once do not wait on one round trip after another.
        // Between batches, scans that ended go first: the loop records them
        // and comes back for the rest (at start-up, 2,000 first statuses held
        // back the first scans' results for 4 s).
        let client = &self.client;
        let mut written = Vec::new();
        let mut writes = writes.into_iter();
        loop {
            let batch: Vec<_> = writes.by_ref().take(STATUS_WRITES_BATCH).collect();
            if batch.is_empty() {
                break;
            }
            written.extend(
                futures::stream::iter(batch.into_iter().map(|(id, info, body)| async move {
                    let result = status::write(client, id.0, &id.1, info, &body).await;
                    (id, body, result)
                }))
                .buffer_unordered(STATUS_WRITES_AT_ONCE)
                .collect::<Vec<_>>()
                .await,
            );
            if writes.len() > 0 && self.scans.any_ended() {
                tracing::debug!(
                    left = writes.len(),
                    "scans ended: recording them before the other statuses"
                );
                deferred = Some(Instant::now());
                break;
            }
        }
        if !written.is_empty() {
            tracing::debug!(count = written.len(), "statuses written or tried");
        }
        // The deferred first statuses are written when their delay ends.
        self.status_retry = deferred;
        for (id, body, result) in written {
            match result {
                Ok(()) => {
                    self.written.insert(id, body);
                }
                Err(error) => {
                    tracing::warn!(%error, "status not written; retrying shortly");
                    let retry = Instant::now() + STATUS_RETRY;
                    self.status_retry = Some(self.status_retry.map_or(retry, |at| at.min(retry)));
                }
            }
        }
    }
}

impl Driver {
    /// A Warning event (and an error-severity alert) when an object starts
    /// failing or fails differently (a scan, a policy, a push), as Flux's
    /// controllers emit one when an object becomes not ready; not repeated
    /// while the failure stays the same.
    fn announce_failures(&mut self, desired: &BTreeMap<ObjectId, (Health, Value)>) {
        self.failures_announced
            .retain(|id, _| matches!(desired.get(id), Some((Health::Failed { .. }, _))));
        for (id, (health, _)) in desired {
            let Health::Failed { reason, message } = health else {
                continue;
            };
            if *reason == REASON_SUSPENDED
                || self.failures_announced.get(id) == Some(message)
                || self.snapshot.problems.contains_key(id)
            {
                continue;
            }
            self.failures_announced.insert(id.clone(), message.clone());
            if let Some(info) = self.snapshot.infos.get(id) {
                let metadata = EventMetadata {
                    annotations: info.event_annotations.clone(),
                    ..EventMetadata::default()
                };
                self.events.warning_with(
                    &info.reference(&id.1),
                    reason,
                    message.clone(),
                    &metadata,
                );
            }
        }
    }
}

/// A status without its conditions' transition times (which only say when, not what).
fn without_transition_times(body: &Value) -> Value {
    let mut body = body.clone();
    if let Some(conditions) = body.get_mut("conditions").and_then(Value::as_array_mut) {
        for condition in conditions {
            if let Some(map) = condition.as_object_mut() {
                map.remove("lastTransitionTime");
            }
        }
    }
    body
}

/// Copies the transition time of each condition whose type and status did not
/// change since `previous` was written (the cache may not have seen that write yet).
fn keep_transition_times(body: &mut Value, previous: &Value) {
    let Some(old) = previous.get("conditions").and_then(Value::as_array) else {
        return;
    };
    let Some(conditions) = body.get_mut("conditions").and_then(Value::as_array_mut) else {
        return;
    };
    for condition in conditions {
        let same = old.iter().find(|o| {
            o.get("type") == condition.get("type") && o.get("status") == condition.get("status")
        });
        if let (Some(same), Some(map)) = (same, condition.as_object_mut())
            && let Some(time) = same.get("lastTransitionTime")
        {
            map.insert("lastTransitionTime".into(), time.clone());
        }
    }
}

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

/// When a status that could not be written is tried again (with the next
/// step's other changes), if nothing wakes the loop sooner.
const STATUS_RETRY: Duration = Duration::from_secs(2);

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
        let mut writes = Vec::new();
        for (id, (_, mut body)) in desired {
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
        let client = &self.client;
        let written: Vec<_> =
            futures::stream::iter(writes.into_iter().map(|(id, info, body)| async move {
                let result = status::write(client, id.0, &id.1, info, &body).await;
                (id, body, result)
            }))
            .buffer_unordered(STATUS_WRITES_AT_ONCE)
            .collect()
            .await;
        if !written.is_empty() {
            tracing::debug!(count = written.len(), "statuses written or tried");
        }
        self.status_retry = None;
        for (id, body, result) in written {
            match result {
                Ok(()) => {
                    self.written.insert(id, body);
                }
                Err(error) => {
                    tracing::warn!(%error, "status not written; retrying shortly");
                    self.status_retry = Some(Instant::now() + STATUS_RETRY);
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

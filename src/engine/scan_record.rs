//! Scanning many ImageRepositories and recording what the scans found.
//!
//! Scans run concurrently (the registry client bounds requests per host) and
//! are recorded as they finish, in batches of [`RECORD_BATCH`]: each batch goes
//! to the tag store in one blocking task ([`TagStore::record_batch`]: changed
//! lists written and fsynced together, unchanged ones only refreshing their scan
//! time), so a cycle holds at most a batch of fresh lists beside the stored ones
//! and never blocks the async runtime on disk writes. A complete list replaces
//! the stored one; a partial or failed scan keeps it (invariant 4).

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use futures::stream::{FuturesUnordered, StreamExt as _};

use super::super::metrics::Metrics;
use super::super::state::{Status, epoch_seconds};
use super::{Engine, ScanReport};
use crate::config::meta::ObjectKey;
use crate::engine::objects::ObjectSet;
use crate::redact::with_causes;
use crate::registry::store::{RecordOutcome, Recorded, Recording, StoreError};
use crate::registry::{ScanError, TagList, TagStore};

/// How many finished scans are recorded together.
const RECORD_BATCH: usize = 64;

/// What became of one finished scan.
enum Outcome {
    /// The list was complete and the store took it.
    Stored(Recorded),
    /// The store could not write it (the previous list is kept).
    NotStored(StoreError),
    /// The scan stopped at the tag cap (the previous list is kept).
    Partial(usize),
    /// The scan failed (the previous list is kept).
    Failed(ScanError),
}

impl<C: super::super::EngineClient> Engine<C> {
    /// Scans `keys` concurrently and records complete lists in the tag store;
    /// one report per key that names an ImageRepository, in the order of `keys`.
    pub async fn scan(&mut self, keys: &[ObjectKey]) -> Vec<ScanReport> {
        let started = Instant::now();
        let objects = self.objects.clone();
        let Self {
            client,
            store,
            status,
            metrics,
            ..
        } = self;
        let client: &C = client.as_ref();
        let mut pending: FuturesUnordered<_> = keys
            .iter()
            .enumerate()
            .filter_map(|(index, key)| {
                let entry = objects.repositories.get(key)?;
                Some(async move { (index, key.clone(), client.list_tags(&entry.target).await) })
            })
            .collect();
        let mut reports: Vec<(usize, ScanReport)> = Vec::with_capacity(pending.len());
        let mut batch = Vec::new();
        loop {
            let next = pending.next().await;
            let done = next.is_none();
            if let Some(finished) = next {
                batch.push(finished);
            }
            if batch.len() >= RECORD_BATCH || (done && !batch.is_empty()) {
                let recorded = record(store, &objects, std::mem::take(&mut batch)).await;
                for (index, key, outcome) in recorded {
                    let report = report(status, metrics, &objects, store, &key, outcome);
                    reports.push((index, report));
                }
            }
            if done {
                break;
            }
        }
        drop(pending);
        reports.sort_by_key(|(index, _)| *index);
        self.metrics.add(
            "tagpilot_scan_duration_seconds_sum",
            &[],
            started.elapsed().as_secs_f64(),
        );
        self.save_status();
        reports.into_iter().map(|(_, report)| report).collect()
    }

    /// Records finished scans (the daemon's, as they complete), in order; the
    /// caller saves the status.
    pub async fn record_scans(
        &mut self,
        finished: Vec<(ObjectKey, Result<TagList, ScanError>)>,
    ) -> Vec<ScanReport> {
        let objects = self.objects.clone();
        let finished = finished
            .into_iter()
            .enumerate()
            .map(|(index, (key, result))| (index, key, result))
            .collect();
        let mut recorded = record(&self.store, &objects, finished).await;
        recorded.sort_by_key(|(index, ..)| *index);
        recorded
            .into_iter()
            .map(|(_, key, outcome)| {
                report(
                    &mut self.status,
                    &self.metrics,
                    &objects,
                    &self.store,
                    &key,
                    outcome,
                )
            })
            .collect()
    }
}

/// The image an ImageRepository scans (empty when it is gone).
fn image_of(objects: &ObjectSet, key: &ObjectKey) -> String {
    objects
        .repositories
        .get(key)
        .map(|entry| entry.target.image.name().to_string())
        .unwrap_or_default()
}

type Finished = (usize, ObjectKey, Result<TagList, ScanError>);

/// Complete lists to record, and the outcomes of the other scans.
fn split(
    objects: &ObjectSet,
    finished: Vec<Finished>,
) -> (Vec<Recording>, Vec<(usize, ObjectKey, Outcome)>) {
    let mut recordings = Vec::new();
    let mut outcomes = Vec::new();
    for (index, key, result) in finished {
        match result {
            Ok(list) if list.complete => recordings.push(Recording {
                image: image_of(objects, &key),
                key,
                list,
            }),
            Ok(list) => outcomes.push((index, key, Outcome::Partial(list.tags.len()))),
            Err(error) => outcomes.push((index, key, Outcome::Failed(error))),
        }
    }
    (recordings, outcomes)
}

fn stored_outcomes(
    stored: Vec<Result<Recorded, StoreError>>,
    keys: Vec<(usize, ObjectKey)>,
) -> Vec<(usize, ObjectKey, Outcome)> {
    keys.into_iter()
        .zip(stored)
        .map(|((index, key), result)| {
            let outcome = match result {
                Ok(recorded) => Outcome::Stored(recorded),
                Err(error) => Outcome::NotStored(error),
            };
            (index, key, outcome)
        })
        .collect()
}

/// Hands the complete lists of `finished` to the store on a blocking thread.
async fn record(
    store: &Arc<TagStore>,
    objects: &ObjectSet,
    finished: Vec<Finished>,
) -> Vec<(usize, ObjectKey, Outcome)> {
    let indexes: Vec<(usize, ObjectKey)> = finished
        .iter()
        .filter(|(_, _, result)| result.as_ref().is_ok_and(|list| list.complete))
        .map(|(index, key, _)| (*index, key.clone()))
        .collect();
    let (recordings, mut outcomes) = split(objects, finished);
    if recordings.is_empty() {
        return outcomes;
    }
    let writer = store.clone();
    let stored =
        tokio::task::spawn_blocking(move || writer.record_batch(recordings, SystemTime::now()))
            .await;
    match stored {
        Ok(stored) => outcomes.extend(stored_outcomes(stored, indexes)),
        Err(error) => {
            for (index, key) in indexes {
                let error = StoreError::Io {
                    action: "record",
                    path: key.to_string().into(),
                    source: std::io::Error::other(format!("the store task failed: {error}")),
                };
                outcomes.push((index, key, Outcome::NotStored(error)));
            }
        }
    }
    outcomes
}

/// Updates the status and metrics for one recorded scan, logs it, and reports it.
fn report(
    status: &mut Status,
    metrics: &Metrics,
    objects: &ObjectSet,
    store: &TagStore,
    key: &ObjectKey,
    outcome: Outcome,
) -> ScanReport {
    let entry = status.repositories.entry(key.to_string()).or_default();
    entry.image = image_of(objects, key);
    let error = match &outcome {
        Outcome::Stored(_) => {
            let stored = store.get(key);
            entry.tag_count = stored.as_ref().map_or(0, |s| s.tags.len());
            entry.last_scan_time = Some(
                stored
                    .as_ref()
                    .map_or_else(|| epoch_seconds(SystemTime::now()), |s| s.scanned_at),
            );
            None
        }
        Outcome::NotStored(error) => Some(format!("cannot store the tag list: {error}")),
        Outcome::Partial(tags) => Some(format!(
            "the scan stopped after {tags} tags (the tag cap); the previous list is kept"
        )),
        Outcome::Failed(error) => Some(with_causes(error)),
    };
    let result_label = if error.is_some() { "failed" } else { "ok" };
    metrics.increment("tagpilot_scans_total", &[("result", result_label)]);
    match (&error, outcome) {
        (Some(message), _) => {
            tracing::warn!(repository = %key, error = %message, "scan failed; keeping the previous tag list");
        }
        (
            None,
            Outcome::Stored(Recorded {
                outcome: RecordOutcome::Updated { .. },
                previous,
            }),
        ) => {
            let before = previous.as_ref().map_or(&[][..], |p| &p.tags[..]);
            if let Some(after) = store.get(key) {
                super::super::progress::log_changed_scan(key, before, &after.tags);
            }
        }
        (None, _) => {
            tracing::debug!(repository = %key, tags = entry.tag_count, "scanned: no new tags");
        }
    }
    let key_text = key.to_string();
    metrics.set(
        "tagpilot_tags",
        &[("repository", key_text.as_str())],
        entry.tag_count as f64,
    );
    entry.last_error = error.clone();
    ScanReport {
        repository: key_text,
        tags: store.get(key).map_or(0, |stored| stored.tags.len()),
        error,
    }
}

//! Kubernetes Events about the objects (`events.k8s.io/v1`): a scan that found
//! a different tag list, a policy that chose a new image, a push, an invalid
//! spec; each also posted to Flux's notification-controller with
//! `--events-addr` ([`super::flux_events`]). Messages come from the engine's
//! reports, which never hold credentials.
//!
//! Events are posted in the background, one after another in the order they
//! were recorded, so that the loop never waits for them: posted inline, the
//! 2,000 "scan found" events of a fleet's first scans held back its policy
//! evaluation for 11 s, and the 2,000 policy events its runs for as long
//! again. At most [`QUEUE`] wait; more are dropped with a warning (as
//! client-go's broadcaster does): an event is a notice, never the record.
//! Each carries the time it was recorded, not the time it was posted.
//!
//! An event that repeats one of the last [`SERIES_WINDOW`] (the same object,
//! type, reason and message) counts up that event's `series`, as client-go
//! does. kube's `Recorder`, used before, left the message out of that
//! comparison: a second push within six minutes showed as the first push's
//! message, counted twice, and a policy that moved on kept announcing its
//! previous image.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::flux_events::{FluxEventPoster, group_of};

/// Events waiting to be posted before new ones are dropped: a fleet of 4,000
/// objects of each kind starting at once (a scan and a policy event each).
pub const QUEUE: usize = 8_192;

/// How long an event is remembered to count its repeats (client-go's and
/// kube's six minutes).
pub const SERIES_WINDOW: Duration = Duration::from_secs(6 * 60);

/// The controller that reports events.
const CONTROLLER: &str = "tagpilot";

/// Whether an event is a `Warning` or `Normal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum EventType {
    Normal,
    Warning,
}

impl EventType {
    fn name(self) -> &'static str {
        match self {
            Self::Normal => "Normal",
            Self::Warning => "Warning",
        }
    }
}

/// One event as recorded, waiting for the sender.
struct Recorded {
    type_: EventType,
    reason: String,
    note: String,
    object: ObjectReference,
    at: Timestamp,
}

/// What makes two events the same (repeats are counted, not posted again).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SeriesKey {
    type_: EventType,
    reason: String,
    note: String,
    /// apiVersion, kind, namespace, name, uid.
    object: [Option<String>; 5],
}

impl SeriesKey {
    fn of(recorded: &Recorded) -> Self {
        let object = &recorded.object;
        Self {
            type_: recorded.type_,
            reason: recorded.reason.clone(),
            note: recorded.note.clone(),
            object: [
                object.api_version.clone(),
                object.kind.clone(),
                object.namespace.clone(),
                object.name.clone(),
                object.uid.clone(),
            ],
        }
    }
}

/// What is kept of a posted event to count its repeats.
struct Posted {
    name: String,
    /// Occurrences so far (1 until it repeats).
    count: i32,
    /// When it last occurred (nanoseconds).
    last: i128,
}

/// Posts the recorded events, one at a time.
struct Sender {
    client: kube::Client,
    instance: String,
    /// The events of the last [`SERIES_WINDOW`], by what they say.
    recent: HashMap<SeriesKey, Posted>,
    /// The last event name's suffix (nanoseconds), so that names never repeat.
    last_suffix: i128,
    /// When `recent` was last pruned (nanoseconds).
    pruned_at: i128,
}

impl Sender {
    async fn post(&mut self, recorded: Recorded) -> Result<(), kube::Error> {
        let window = i128::try_from(SERIES_WINDOW.as_nanos()).unwrap_or(i128::MAX);
        let at_nanos = recorded.at.as_nanosecond();
        // Forgetting old events is a pass over all: at most once a second.
        if at_nanos - self.pruned_at > 1_000_000_000 {
            self.pruned_at = at_nanos;
            self.recent
                .retain(|_, posted| posted.last + window > at_nanos);
        }
        let key = SeriesKey::of(&recorded);
        let namespace = recorded
            .object
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into());
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        if let Some(posted) = self.recent.get_mut(&key) {
            let series = EventSeries {
                count: posted.count + 1,
                last_observed_time: MicroTime(recorded.at),
            };
            // Only the series: a resourceVersion would make the patch
            // conditional on a version that has moved on.
            let patch = serde_json::json!({ "series": &series });
            match api
                .patch(&posted.name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => {
                    posted.count = series.count;
                    posted.last = at_nanos;
                    return Ok(());
                }
                // Gone (the API server's event TTL, or deleted): a new one.
                Err(kube::Error::Api(status)) if status.code == 404 => {
                    self.recent.remove(&key);
                }
                Err(error) => return Err(error),
            }
        }
        self.last_suffix = (self.last_suffix + 1).max(at_nanos);
        let name = event_name(
            recorded.object.name.as_deref().unwrap_or(CONTROLLER),
            self.last_suffix,
        );
        let event = Event {
            action: Some("Reconcile".into()),
            reason: Some(recorded.reason),
            note: Some(recorded.note),
            type_: Some(recorded.type_.name().into()),
            event_time: Some(MicroTime(recorded.at)),
            metadata: ObjectMeta {
                namespace: Some(namespace),
                name: Some(name.clone()),
                ..ObjectMeta::default()
            },
            regarding: Some(recorded.object),
            reporting_controller: Some(CONTROLLER.into()),
            reporting_instance: Some(self.instance.clone()),
            ..Event::default()
        };
        api.create(&PostParams::default(), &event).await?;
        self.recent.insert(
            key,
            Posted {
                name,
                count: 1,
                last: at_nanos,
            },
        );
        Ok(())
    }
}

/// The longest object name (a DNS subdomain), and so the longest event name.
const MAX_NAME: usize = 253;

/// An event's name: the object's name and a suffix that never repeats, as
/// client-go names them, but within the API server's 253 characters (an
/// object with a name of 238 or more had its events refused): the object's
/// part is cut, and what ends it cannot end a DNS label (`-`, `.`) dropped.
fn event_name(object: &str, suffix: i128) -> String {
    let suffix = format!(".{suffix:x}");
    let mut keep = object.len().min(MAX_NAME.saturating_sub(suffix.len()));
    while !object.is_char_boundary(keep) {
        keep -= 1;
    }
    let part = object[..keep].trim_end_matches(['-', '.']);
    let part = if part.is_empty() { CONTROLLER } else { part };
    format!("{part}{suffix}")
}

/// Publishes events as the controller `tagpilot`, instance `identity`.
pub struct EventSink {
    /// `None` once closed.
    queue: Option<mpsc::Sender<Recorded>>,
    sender: Option<JoinHandle<()>>,
    dropped: AtomicU64,
    flux: Option<FluxEventPoster>,
}

/// What an event says besides its message: metadata keys without their group
/// (`revision`, `commit`), and the object's `event.toolkit.fluxcd.io/*` annotations.
#[derive(Debug, Clone, Default)]
pub struct EventMetadata {
    /// `revision`, `commit`, ...: sent under the involved object's API group.
    pub fields: BTreeMap<String, String>,
    /// The object's `event.toolkit.fluxcd.io/*` annotations, sent as they are.
    pub annotations: BTreeMap<String, String>,
}

impl EventSink {
    /// A sink reporting as `identity`; its sender runs on the current runtime.
    pub fn new(client: kube::Client, identity: &str) -> Self {
        let (queue, mut pending) = mpsc::channel::<Recorded>(QUEUE);
        let mut sender = Sender {
            client,
            instance: identity.to_string(),
            recent: HashMap::new(),
            last_suffix: 0,
            pruned_at: 0,
        };
        let sender = tokio::spawn(async move {
            while let Some(recorded) = pending.recv().await {
                let reason = recorded.reason.clone();
                if let Err(error) = sender.post(recorded).await {
                    tracing::warn!(%error, reason, "cannot publish an event");
                }
            }
        });
        Self {
            queue: Some(queue),
            sender: Some(sender),
            dropped: AtomicU64::new(0),
            flux: None,
        }
    }

    /// Stops taking events and waits up to `within` for the queued ones to
    /// be posted (at shutdown: the last push's event is not lost).
    pub async fn close(&mut self, within: Duration) {
        self.queue = None;
        let Some(sender) = self.sender.take() else {
            return;
        };
        if tokio::time::timeout(within, sender).await.is_err() {
            tracing::warn!("events still queued after {within:?} at shutdown are not posted");
        }
    }

    /// Also posts every event with `poster` (`--events-addr`).
    pub fn with_flux(mut self, poster: FluxEventPoster) -> Self {
        self.flux = Some(poster);
        self
    }

    /// A `Normal` event.
    pub fn normal(&self, object: &ObjectReference, reason: &str, note: String) {
        self.publish(
            object,
            EventType::Normal,
            reason,
            note,
            &EventMetadata::default(),
        );
    }

    /// A `Normal` event with metadata for notification-controller.
    pub fn normal_with(
        &self,
        object: &ObjectReference,
        reason: &str,
        note: String,
        metadata: &EventMetadata,
    ) {
        self.publish(object, EventType::Normal, reason, note, metadata);
    }

    /// A `Warning` event.
    pub fn warning(&self, object: &ObjectReference, reason: &str, note: String) {
        self.publish(
            object,
            EventType::Warning,
            reason,
            note,
            &EventMetadata::default(),
        );
    }

    /// A `Warning` event with metadata for notification-controller.
    pub fn warning_with(
        &self,
        object: &ObjectReference,
        reason: &str,
        note: String,
        metadata: &EventMetadata,
    ) {
        self.publish(object, EventType::Warning, reason, note, metadata);
    }

    fn publish(
        &self,
        object: &ObjectReference,
        type_: EventType,
        reason: &str,
        note: String,
        metadata: &EventMetadata,
    ) {
        if let Some(flux) = &self.flux {
            let group = group_of(object.api_version.as_deref());
            let mut sent = metadata.annotations.clone();
            for (key, value) in &metadata.fields {
                let key = if group.is_empty() {
                    key.clone()
                } else {
                    format!("{group}/{key}")
                };
                sent.insert(key, value.clone());
            }
            flux.send(object, type_ == EventType::Warning, reason, &note, &sent);
        }
        let recorded = Recorded {
            type_,
            reason: reason.to_string(),
            note,
            object: object.clone(),
            at: Timestamp::now(),
        };
        let Some(queue) = &self.queue else {
            return;
        };
        if queue.try_send(recorded).is_err() {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped == 1 || dropped.is_multiple_of(1_000) {
                tracing::warn!(
                    reason,
                    dropped,
                    "{QUEUE} events are waiting to be posted; new ones are dropped"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_fit_the_api_servers_limit() {
        let suffix = 0x187a_1b2c_3d4e_5f60_i128;
        assert_eq!(event_name("api", suffix), "api.187a1b2c3d4e5f60");
        let longest = "a".repeat(MAX_NAME);
        let name = event_name(&longest, suffix);
        assert_eq!(name.len(), MAX_NAME, "{name}");
        assert!(name.ends_with(".187a1b2c3d4e5f60"), "{name}");
        // The cut falls after a `-` or a `.`: neither may end a label.
        let kept = MAX_NAME - ".187a1b2c3d4e5f60".len();
        for cut_after in ["-", ".", "-.-"] {
            let before = "b".repeat(kept - cut_after.len());
            let object = format!("{before}{cut_after}{}", "c".repeat(20));
            let name = event_name(&object, suffix);
            assert_eq!(name, format!("{before}.187a1b2c3d4e5f60"), "{cut_after:?}");
        }
        assert_eq!(event_name("---", suffix), "tagpilot.187a1b2c3d4e5f60");
    }
}

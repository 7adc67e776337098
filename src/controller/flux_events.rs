//! `--events-addr`: every event the controller records is also posted to
//! Flux's notification-controller, in its event format (fluxcd/pkg
//! `apis/event/v1beta1.Event`, as `runtime/events.Recorder` sends it), so
//! existing Alerts on image objects keep working:
//!
//! ```json
//! {"involvedObject": {"kind": "ImageUpdateAutomation", "namespace": "shop", "name": "apps",
//!   "uid": "…", "apiVersion": "image.toolkit.fluxcd.io/v1"},
//!  "severity": "info", "timestamp": "2026-11-30T10:00:00Z", "message": "…", "reason": "Pushed",
//!  "metadata": {"image.toolkit.fluxcd.io/revision": "main@sha1:…", "image.toolkit.fluxcd.io/commit": "…"},
//!  "reportingController": "tagpilot", "reportingInstance": "<host>"}
//! ```
//!
//! Metadata keys carry the involved object's API group as prefix (what
//! notification-controller keeps and strips); the object's
//! `event.toolkit.fluxcd.io/*` annotations are copied as Flux's recorder
//! copies them. Posting never blocks the loop: events queue (at most
//! [`QUEUE`]; more are dropped with a warning) for one sender that tries each
//! for 5 s, retrying connection errors and 5xx answers up to 4 times with
//! backoff (1, 2, 4, 8 s) like Flux's retryable client; a 429 is
//! notification-controller saying it has seen the event already.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::engine::metrics::Metrics;

/// Events waiting to be posted before new ones are dropped: as many as the
/// Kubernetes Events' queue ([`super::events::QUEUE`]), so that a fleet's
/// first scans and evaluation (an event per repository and per policy) are
/// not dropped here (256 used to drop all but the first 256 of them).
pub const QUEUE: usize = super::events::QUEUE;
/// Flux's event annotation group: annotations under it are copied to events.
pub const EVENT_GROUP: &str = "event.toolkit.fluxcd.io";
const RETRIES: u32 = 4;
const METRIC: &str = "tagpilot_events_posted_total";

/// Flux's severity for a Kubernetes event type (`Warning` is `error`).
pub fn severity(warning: bool) -> &'static str {
    if warning { "error" } else { "info" }
}

/// The JSON body of one event.
pub fn payload(
    object: &ObjectReference,
    warning: bool,
    reason: &str,
    message: &str,
    metadata: &BTreeMap<String, String>,
    instance: &str,
    now: Timestamp,
) -> Value {
    let mut involved = json!({
        "kind": object.kind,
        "namespace": object.namespace,
        "name": object.name,
        "apiVersion": object.api_version,
    });
    if let (Some(uid), Some(map)) = (&object.uid, involved.as_object_mut()) {
        map.insert("uid".into(), uid.clone().into());
    }
    let mut event = json!({
        "involvedObject": involved,
        "severity": severity(warning),
        "timestamp": Timestamp::from_second(now.as_second()).unwrap_or(now).to_string(),
        "message": message,
        "reason": reason,
        "reportingController": "tagpilot",
        "reportingInstance": instance,
    });
    if !metadata.is_empty()
        && let Some(map) = event.as_object_mut()
    {
        map.insert("metadata".into(), json!(metadata));
    }
    event
}

/// The API group of an `apiVersion` (`image.toolkit.fluxcd.io/v1` → `image.toolkit.fluxcd.io`).
pub fn group_of(api_version: Option<&str>) -> &str {
    api_version
        .and_then(|v| v.rsplit_once('/'))
        .map_or("", |(group, _)| group)
}

/// Posts events to one notification-controller address, in the background.
#[derive(Clone)]
pub struct FluxEventPoster {
    queue: mpsc::Sender<Value>,
    metrics: Arc<Metrics>,
    instance: String,
}

impl FluxEventPoster {
    /// Starts the sender for `url` on the current runtime.
    pub fn spawn(url: &str, metrics: Arc<Metrics>, instance: &str) -> Self {
        let (queue, mut pending) = mpsc::channel::<Value>(QUEUE);
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        let url = url.to_string();
        let sender_metrics = metrics.clone();
        tokio::spawn(async move {
            while let Some(event) = pending.recv().await {
                let result = post(&client, &url, &event).await;
                sender_metrics.increment(METRIC, &[("result", result)]);
            }
        });
        Self {
            queue,
            metrics,
            instance: instance.to_string(),
        }
    }

    /// Queues an event about `object`.
    pub fn send(
        &self,
        object: &ObjectReference,
        warning: bool,
        reason: &str,
        message: &str,
        metadata: &BTreeMap<String, String>,
    ) {
        let event = payload(
            object,
            warning,
            reason,
            message,
            metadata,
            &self.instance,
            Timestamp::now(),
        );
        if self.queue.try_send(event).is_err() {
            self.metrics.increment(METRIC, &[("result", "dropped")]);
            tracing::warn!(
                reason,
                "--events-addr: {QUEUE} events are waiting to be posted; this one is dropped"
            );
        }
    }
}

/// Posts one event with retries; the metrics label of the outcome.
async fn post(client: &reqwest::Client, url: &str, event: &Value) -> &'static str {
    let mut pause = Duration::from_secs(1);
    for attempt in 0..=RETRIES {
        if attempt > 0 {
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
        match client.post(url).json(event).send().await {
            Ok(response) if response.status().as_u16() == 429 => return "duplicate",
            Ok(response) if response.status().is_success() => return "ok",
            Ok(response) if response.status().is_server_error() => {
                tracing::debug!(status = %response.status(), "--events-addr: retrying");
            }
            Ok(response) => {
                tracing::warn!(url = %crate::redact::url(url), status = %response.status(), "--events-addr refused an event");
                return "failed";
            }
            Err(error) => {
                tracing::debug!(error = %error.without_url(), "--events-addr: retrying");
            }
        }
    }
    tracing::warn!(url = %crate::redact::url(url), "cannot post an event to --events-addr; dropped after {RETRIES} retries");
    "failed"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_is_fluxs_event() {
        let object = ObjectReference {
            api_version: Some("image.toolkit.fluxcd.io/v1".into()),
            kind: Some("ImagePolicy".into()),
            name: Some("api".into()),
            namespace: Some("shop".into()),
            uid: Some("u-1".into()),
            ..ObjectReference::default()
        };
        let metadata = BTreeMap::from([(
            "image.toolkit.fluxcd.io/revision".to_string(),
            "1.2.0".to_string(),
        )]);
        let now = Timestamp::from_second(1_700_000_000).unwrap();
        let event = payload(
            &object,
            false,
            "NewLatestImage",
            "latest",
            &metadata,
            "pod-1",
            now,
        );
        assert_eq!(
            event,
            json!({
                "involvedObject": {"kind": "ImagePolicy", "namespace": "shop", "name": "api",
                    "apiVersion": "image.toolkit.fluxcd.io/v1", "uid": "u-1"},
                "severity": "info",
                "timestamp": "2023-11-14T22:13:20Z",
                "message": "latest",
                "reason": "NewLatestImage",
                "metadata": {"image.toolkit.fluxcd.io/revision": "1.2.0"},
                "reportingController": "tagpilot",
                "reportingInstance": "pod-1",
            })
        );
        let warning = payload(
            &object,
            true,
            "InvalidSpec",
            "bad",
            &BTreeMap::new(),
            "p",
            now,
        );
        assert_eq!(warning["severity"], "error");
        assert!(warning.get("metadata").is_none());
        assert_eq!(
            group_of(Some("image.toolkit.fluxcd.io/v1")),
            "image.toolkit.fluxcd.io"
        );
        assert_eq!(group_of(Some("v1")), "");
    }
}

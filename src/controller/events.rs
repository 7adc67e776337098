//! Kubernetes Events about the objects (`events.k8s.io/v1`): a scan that found
//! a different tag list, a policy that chose a new image, a push, an invalid
//! spec; each also posted to Flux's notification-controller with
//! `--events-addr` ([`super::flux_events`]). Messages come from the engine's
//! reports, which never hold credentials.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};

use super::flux_events::{FluxEventPoster, group_of};

/// Publishes events as the controller `tagpilot`, instance `identity`.
pub struct EventSink {
    recorder: Recorder,
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
    /// A sink reporting as `identity`.
    pub fn new(client: kube::Client, identity: &str) -> Self {
        let reporter = Reporter {
            controller: "tagpilot".into(),
            instance: Some(identity.to_string()),
        };
        Self {
            recorder: Recorder::new(client, reporter),
            flux: None,
        }
    }

    /// Also posts every event with `poster` (`--events-addr`).
    pub fn with_flux(mut self, poster: FluxEventPoster) -> Self {
        self.flux = Some(poster);
        self
    }

    /// A `Normal` event.
    pub async fn normal(&self, object: &ObjectReference, reason: &str, note: String) {
        self.publish(
            object,
            EventType::Normal,
            reason,
            note,
            &EventMetadata::default(),
        )
        .await;
    }

    /// A `Normal` event with metadata for notification-controller.
    pub async fn normal_with(
        &self,
        object: &ObjectReference,
        reason: &str,
        note: String,
        metadata: &EventMetadata,
    ) {
        self.publish(object, EventType::Normal, reason, note, metadata)
            .await;
    }

    /// A `Warning` event.
    pub async fn warning(&self, object: &ObjectReference, reason: &str, note: String) {
        self.publish(
            object,
            EventType::Warning,
            reason,
            note,
            &EventMetadata::default(),
        )
        .await;
    }

    /// A `Warning` event with metadata for notification-controller.
    pub async fn warning_with(
        &self,
        object: &ObjectReference,
        reason: &str,
        note: String,
        metadata: &EventMetadata,
    ) {
        self.publish(object, EventType::Warning, reason, note, metadata)
            .await;
    }

    async fn publish(
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
        let event = Event {
            type_,
            reason: reason.to_string(),
            note: Some(note),
            action: "Reconcile".into(),
            secondary: None,
        };
        if let Err(error) = self.recorder.publish(&event, object).await {
            tracing::warn!(%error, reason, "cannot publish an event");
        }
    }
}

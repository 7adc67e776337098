//! `tagpilot controller --receivers`: Flux's Receiver objects of the cluster
//! (`notification.toolkit.fluxcd.io/v1`, Flux's CRD) served on `--listen`.
//!
//! A reflector keeps the Receivers; on every change, and at least once a
//! minute (their Secrets are not watched), each Receiver is read with the
//! `token` of the Secret it names (from its own namespace) into the
//! [`ReceiverTable`] the HTTP server looks routes up in. tagpilot never writes
//! a Receiver's status: where Flux's notification-controller runs it owns
//! them (and its `status.webhookPath` is the same path); where it does not,
//! the path is `/hook/` and the hex sha256 of token, name and namespace.
//! A Receiver that cannot be served is logged once per change.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::reflector;
use kube::runtime::{WatchStreamExt as _, watcher};
use tokio::sync::Notify;

use super::snapshot::secret_object;
use crate::config::meta::ObjectKey;
use crate::engine::objects::ObjectSet;
use crate::engine::receiver::{RECEIVER_GROUP, Receiver, ReceiverTable};

/// How often Receivers are re-read even without a change (their Secrets may have changed).
const RESYNC: Duration = Duration::from_secs(60);

/// The watch of Flux's Receivers.
pub struct ReceiverWatch {
    served: tokio::sync::watch::Receiver<bool>,
}

impl ReceiverWatch {
    /// Starts watching (in `namespace`, or every namespace) and keeps `table` current.
    pub fn start(client: &kube::Client, namespace: Option<&str>, table: ReceiverTable) -> Self {
        let resource = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(RECEIVER_GROUP, "v1", "Receiver"),
            "receivers",
        );
        let api: Api<DynamicObject> = match namespace {
            Some(namespace) => Api::namespaced_with(client.clone(), namespace, &resource),
            None => Api::all_with(client.clone(), &resource),
        };
        let writer = reflector::store::Writer::new(resource);
        let store = writer.as_reader();
        let changed = Arc::new(Notify::new());
        let notify = changed.clone();
        let stream = watcher(api, watcher::Config::default())
            .default_backoff()
            .reflect(writer);
        tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(event) = stream.next().await {
                match event {
                    Ok(_) => notify.notify_one(),
                    Err(error) => tracing::warn!(
                        %error,
                        "cannot watch Flux's Receivers; retrying (is Flux's Receiver CRD installed? --receivers needs it)"
                    ),
                }
            }
        });
        let reader = store;
        let client = client.clone();
        let (serving, served) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let mut reported: BTreeMap<ObjectKey, String> = BTreeMap::new();
            loop {
                if reader.wait_until_ready().await.is_err() {
                    return;
                }
                let receivers = read_all(&client, &reader.state(), &mut reported).await;
                tracing::debug!(count = receivers.len(), "serving Flux Receivers");
                table.replace(receivers);
                serving.send_replace(true);
                let _ = tokio::time::timeout(RESYNC, changed.notified()).await;
            }
        });
        Self { served }
    }

    /// Waits until the first list of Receivers is served.
    pub async fn ready(&self) {
        let mut served = self.served.clone();
        let _ = served.wait_for(|served| *served).await;
    }
}

/// Reads each Receiver with its Secret; logs (once per message) those that cannot be served.
async fn read_all(
    client: &kube::Client,
    objects: &[Arc<DynamicObject>],
    reported: &mut BTreeMap<ObjectKey, String>,
) -> Vec<Receiver> {
    let mut receivers = Vec::new();
    let mut problems = BTreeMap::new();
    for object in objects {
        let (Some(namespace), Some(name)) = (&object.metadata.namespace, &object.metadata.name)
        else {
            continue;
        };
        let key = ObjectKey::new(namespace, name);
        let mut value = serde_json::to_value(&**object).unwrap_or_default();
        if let Some(map) = value.as_object_mut() {
            map.insert("apiVersion".into(), format!("{RECEIVER_GROUP}/v1").into());
        }
        let mut secrets = Vec::new();
        if let Some(secret_name) = value
            .pointer("/spec/secretRef/name")
            .and_then(|v| v.as_str())
        {
            let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
            match api.get_opt(secret_name).await {
                Ok(Some(secret)) => secrets.extend(secret_object(&secret)),
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(receiver = %key, %error, "cannot read the Receiver's Secret");
                }
            }
        }
        let (set, _) = ObjectSet::from_raw(&secrets);
        match Receiver::from_object(&value, &set.secrets) {
            Ok(receiver) => receivers.push(receiver),
            Err(error) => {
                problems.insert(key, error.to_string());
            }
        }
    }
    for (key, message) in &problems {
        if reported.get(key) != Some(message) {
            tracing::warn!(receiver = %key, %message, "Receiver not served");
        }
    }
    *reported = problems;
    receivers
}

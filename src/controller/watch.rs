//! Watches: one reflector per kind (optionally limited to a namespace and a
//! label selector, for sharding), each keeping a cache of its objects and
//! waking the driver on every change.

use std::sync::Arc;

use futures::StreamExt as _;
use kube::api::{Api, DynamicObject};
use kube::core::ApiResource;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt as _, watcher};
use tokio::sync::Notify;

use super::kinds::{ApiFlavor, Kind};
use super::snapshot::CachedObject;

/// The caches of the watched kinds.
pub struct Watches {
    stores: Vec<(Kind, ApiResource, Store<DynamicObject>)>,
    changed: Arc<Notify>,
}

impl Watches {
    /// Starts a watch per kind on the current runtime.
    pub fn start(
        client: &kube::Client,
        flavor: ApiFlavor,
        namespace: Option<&str>,
        label_selector: Option<&str>,
    ) -> Self {
        let changed = Arc::new(Notify::new());
        let mut stores = Vec::new();
        for kind in Kind::watched(flavor) {
            let resource = kind.api_resource(flavor);
            let api: Api<DynamicObject> = match namespace {
                Some(namespace) => Api::namespaced_with(client.clone(), namespace, &resource),
                None => Api::all_with(client.clone(), &resource),
            };
            let writer = reflector::store::Writer::new(resource.clone());
            stores.push((kind, resource.clone(), writer.as_reader()));
            let mut config = watcher::Config::default();
            if let Some(selector) = label_selector {
                config = config.labels(selector);
            }
            let notify = changed.clone();
            let stream = watcher(api, config).default_backoff().reflect(writer);
            tokio::spawn(async move {
                let mut stream = std::pin::pin!(stream);
                while let Some(event) = stream.next().await {
                    match event {
                        Ok(_) => notify.notify_one(),
                        Err(error) => tracing::warn!(
                            kind = kind.name(),
                            %error,
                            "watch failed; retrying (are the CRDs installed? `tagpilot crds | kubectl apply -f -`; with --flux-compat, Flux's)"
                        ),
                    }
                }
            });
        }
        Self { stores, changed }
    }

    /// Waits until every cache has its first full list.
    pub async fn ready(&self) {
        for (kind, _, store) in &self.stores {
            if store.wait_until_ready().await.is_err() {
                tracing::error!(
                    kind = kind.name(),
                    "the watch stopped before its first list"
                );
            }
        }
    }

    /// Every cached object.
    pub fn cached(&self) -> Vec<CachedObject> {
        self.stores
            .iter()
            .flat_map(|(kind, resource, store)| {
                store.state().into_iter().map(|object| CachedObject {
                    kind: *kind,
                    resource: resource.clone(),
                    object,
                })
            })
            .collect()
    }

    /// Resolves at the next change of any watched object.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }
}

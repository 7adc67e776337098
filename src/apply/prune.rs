//! Prune and inventory: what a previous apply recorded and the new set no
//! longer has is deleted — only objects of the previous inventory, and only
//! while tagpilot's field manager still manages them (an object someone else
//! re-created under the same name is left alone). `tagpilot apply` keeps its
//! inventory in a ConfigMap; a Sync keeps it in its status.

use std::collections::HashSet;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams};

use super::applier::{Action, Applier, ObjectResult};
use super::error::{ApplyError, ObjectFailure, kube_message};
use super::object::ObjectRef;

/// The ConfigMap key holding the inventory (a JSON list of objects).
pub const INVENTORY_KEY: &str = "inventory";

/// What a prune did.
#[derive(Debug, Clone, Default)]
pub struct PruneReport {
    /// Deleted objects.
    pub pruned: Vec<ObjectResult>,
    /// Objects that could not be deleted.
    pub failures: Vec<ObjectFailure>,
}

impl Applier {
    /// Deletes the objects of `previous` that `current` does not have (by
    /// group, kind, namespace and name), namespaced objects first, CRDs last.
    /// With `dry_run` only reports what it would delete.
    pub async fn prune(
        &self,
        previous: &[ObjectRef],
        current: &[ObjectRef],
        field_manager: &str,
        dry_run: bool,
    ) -> Result<PruneReport, ApplyError> {
        let keep: HashSet<_> = current.iter().map(ObjectRef::identity).collect();
        let mut stale: Vec<&ObjectRef> = previous
            .iter()
            .filter(|object| !keep.contains(&object.identity()))
            .collect();
        stale.sort();
        stale.reverse();
        let mut report = PruneReport::default();
        for object in stale {
            let Some(served) = self.served(object).await? else {
                continue; // Its kind is gone, and the objects with it.
            };
            let api = self.api(&served.resource, object);
            let live = match api.get_opt(&object.name).await {
                Ok(Some(live)) => live,
                Ok(None) => continue,
                Err(error) => {
                    report.failures.push(ObjectFailure {
                        object: object.clone(),
                        message: kube_message(&error),
                    });
                    continue;
                }
            };
            // A name-only object (a bare Namespace) leaves its applier owning no
            // field; the server then records its defaults as `before-first-apply`.
            let ours = live.metadata.managed_fields.iter().flatten().any(|entry| {
                matches!(entry.manager.as_deref(), Some(m) if m == field_manager || m == "before-first-apply")
            });
            if !ours {
                tracing::warn!(object = %object, "not pruning: tagpilot no longer manages it");
                continue;
            }
            let mut params = DeleteParams::background();
            params.dry_run = dry_run;
            match api.delete(&object.name, &params).await {
                Ok(_) => report.pruned.push(ObjectResult {
                    object: object.clone(),
                    action: Action::Pruned,
                }),
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(error) => report.failures.push(ObjectFailure {
                    object: object.clone(),
                    message: kube_message(&error),
                }),
            }
        }
        Ok(report)
    }

    /// Reads the inventory ConfigMap `namespace/name`; empty when it does not exist.
    pub async fn load_inventory(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Vec<ObjectRef>, ApplyError> {
        let api: Api<ConfigMap> = Api::namespaced(self.client().clone(), namespace);
        let config_map = api.get_opt(name).await.map_err(|source| ApplyError::Kube {
            action: format!("reading the inventory ConfigMap {namespace}/{name}"),
            source,
        })?;
        let Some(text) = config_map
            .and_then(|c| c.data)
            .and_then(|mut data| data.remove(INVENTORY_KEY))
        else {
            return Ok(Vec::new());
        };
        serde_json::from_str(&text).map_err(|error| ApplyError::Inventory {
            name: format!("{namespace}/{name}"),
            message: format!("data.{INVENTORY_KEY} is not an inventory: {error}"),
        })
    }

    /// Writes `objects` as the inventory ConfigMap `namespace/name` (server-side apply).
    pub async fn save_inventory(
        &self,
        namespace: &str,
        name: &str,
        objects: &[ObjectRef],
        field_manager: &str,
    ) -> Result<(), ApplyError> {
        let mut sorted = objects.to_vec();
        sorted.sort();
        let text = serde_json::to_string(&sorted).map_err(|error| ApplyError::Inventory {
            name: format!("{namespace}/{name}"),
            message: error.to_string(),
        })?;
        let desired = serde_json::json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {"app.kubernetes.io/managed-by": "tagpilot"},
            },
            "data": {INVENTORY_KEY: text},
        });
        let api: Api<ConfigMap> = Api::namespaced(self.client().clone(), namespace);
        api.patch(
            name,
            &PatchParams::apply(field_manager).force(),
            &Patch::Apply(&desired),
        )
        .await
        .map_err(|source| ApplyError::Kube {
            action: format!("writing the inventory ConfigMap {namespace}/{name}"),
            source,
        })?;
        Ok(())
    }
}

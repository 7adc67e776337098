//! Sync: apply a path of a GitRepository to the cluster. The spec is
//! `config::sync::SyncSpec` unchanged (one wire type for both modes); the
//! status is `apply::sync::SyncStatus` in the API's shape, plus kstatus
//! conditions and `observedGeneration`.

// Every `printcolumn(...)` repeats `type_ = "string"`, which this lint takes for
// a duplicated attribute.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::apply::ObjectRef;
use crate::apply::sync::SyncStatus;
use crate::config::sync::SyncSpec;
use crate::controller::conditions::rfc3339;

/// Sync: apply a path of a GitRepository to the cluster.
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "tagpilot.dev",
    version = "v1alpha1",
    kind = "Sync",
    namespaced,
    status = "SyncResourceStatus",
    doc = "Sync: apply a path of a GitRepository to the cluster.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#
    ),
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].message"#
    ),
    printcolumn(
        name = "Revision",
        type_ = "string",
        json_path = ".status.lastAppliedRevision"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
pub struct SyncResourceSpec {
    /// The fields of `config::sync::SyncSpec`, at the top of `spec`.
    #[serde(flatten)]
    pub spec: SyncSpec,
}

/// One object a Sync applied (what prune compares the next revision with).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InventoryEntry {
    /// `v1`, `apps/v1`, ...
    pub api_version: String,
    /// `Deployment`, ...
    pub kind: String,
    /// The namespace (absent for cluster-scoped objects).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The name.
    pub name: String,
}

/// What the controller last did for a Sync.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncResourceStatus {
    /// The generation these conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Reconciling, Stalled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The last revision applied completely (`branch@sha1:...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied_revision: Option<String>,
    /// The last revision tried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempted_revision: Option<String>,
    /// When the last attempt finished (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt_time: Option<String>,
    /// The objects the last complete apply applied.
    #[serde(default)]
    pub inventory: Vec<InventoryEntry>,
    /// Objects changed by the last re-apply of an already applied revision (drift corrected).
    #[serde(default)]
    pub drift_corrected: i64,
    /// Drift corrections since the controller started keeping count.
    #[serde(default)]
    pub drift_corrected_total: i64,
}

impl From<&SyncStatus> for SyncResourceStatus {
    /// The applier's status in the API's shape (conditions and
    /// `observedGeneration` are the controller's to add).
    fn from(status: &SyncStatus) -> Self {
        Self {
            last_applied_revision: status.last_applied_revision.clone(),
            last_attempted_revision: status.last_attempted_revision.clone(),
            last_attempt_time: status.last_attempt_time.and_then(rfc3339),
            inventory: status
                .inventory
                .iter()
                .map(|o| InventoryEntry {
                    api_version: o.api_version.clone(),
                    kind: o.kind.clone(),
                    namespace: o.namespace.clone(),
                    name: o.name.clone(),
                })
                .collect(),
            drift_corrected: i64::try_from(status.drift_corrected).unwrap_or(i64::MAX),
            drift_corrected_total: i64::try_from(status.drift_corrected_total).unwrap_or(i64::MAX),
            ..Self::default()
        }
    }
}

impl SyncResourceStatus {
    /// The part of a written status the next run needs: the inventory (what
    /// prune compares with), the revisions and the drift total. Ready is left
    /// out: the next run decides it again.
    pub fn to_sync_status(&self) -> SyncStatus {
        SyncStatus {
            last_applied_revision: self.last_applied_revision.clone(),
            last_attempted_revision: self.last_attempted_revision.clone(),
            inventory: self
                .inventory
                .iter()
                .map(|o| ObjectRef {
                    api_version: o.api_version.clone(),
                    kind: o.kind.clone(),
                    namespace: o.namespace.clone(),
                    name: o.name.clone(),
                })
                .collect(),
            drift_corrected_total: u64::try_from(self.drift_corrected_total).unwrap_or(0),
            ..SyncStatus::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::sync::{ReadyCondition, reason};

    #[test]
    fn the_status_round_trips_through_the_resource_and_keeps_the_inventory() {
        let original = SyncStatus {
            ready: Some(ReadyCondition {
                status: "True".into(),
                reason: reason::RECONCILIATION_SUCCEEDED.into(),
                message: "applied".into(),
                last_transition_time: 0,
            }),
            last_applied_revision: Some("main@sha1:abc".into()),
            inventory: vec![ObjectRef {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                namespace: Some("shop".into()),
                name: "settings".into(),
            }],
            drift_corrected: 2,
            drift_corrected_total: 5,
            last_attempt_time: Some(0),
            ..SyncStatus::default()
        };
        let resource = SyncResourceStatus::from(&original);
        assert_eq!(resource.inventory[0].kind, "ConfigMap");
        assert_eq!(resource.drift_corrected, 2);
        assert_eq!(
            resource.last_attempt_time.as_deref(),
            Some("1970-01-01T00:00:00Z")
        );
        let json = serde_json::to_value(&resource).unwrap();
        assert_eq!(json["lastAppliedRevision"], "main@sha1:abc");
        let back = serde_json::from_value::<SyncResourceStatus>(json)
            .unwrap()
            .to_sync_status();
        assert_eq!(back.inventory, original.inventory);
        assert_eq!(back.last_applied_revision, original.last_applied_revision);
        assert_eq!(back.drift_corrected_total, 5);
        assert!(
            back.ready.is_none(),
            "Ready is decided again by the next run"
        );
    }
}

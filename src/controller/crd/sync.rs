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

use crate::config::sync::SyncSpec;

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

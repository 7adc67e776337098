//! Sync: apply a path of a GitRepository to the cluster (the shape of Flux's
//! `Kustomization`, slimmed down). tagpilot's own kind, served only as
//! `tagpilot.dev/v1alpha1`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ApiSpec;
use super::meta::{GoDuration, SourceReference};
use super::version::{Kind, VersionRule};

/// `spec` of a Sync.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncSpec {
    /// The GitRepository whose files are applied.
    pub source_ref: SourceReference,
    /// The directory inside the repository to apply (`./` when absent). A
    /// directory with a `kustomization.yaml` is rendered by kustomize; any other
    /// is read as plain manifests, recursively.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// How often to fetch, render and apply (a Go duration, e.g. `5m`); each
    /// interval also corrects drift by applying the same revision again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<GoDuration>,
    /// Delete objects applied by the previous revision that the new one no longer has (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prune: Option<bool>,
    /// Put every namespaced object in this namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_namespace: Option<String>,
    /// Stop applying while true.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
    /// How long to wait for the applied objects to become healthy (a Go
    /// duration; default 5m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<GoDuration>,
    /// Wait for the applied objects to be healthy (Deployments, StatefulSets and
    /// DaemonSets rolled out, Jobs complete) before reporting Ready.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub wait: bool,
}

impl ApiSpec for SyncSpec {
    const KIND: Kind = Kind::Sync;

    fn version_rules() -> &'static [VersionRule] {
        &[]
    }
}

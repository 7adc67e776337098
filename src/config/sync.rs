//! `Sync`: apply a path of a GitRepository to a cluster (the shape of Flux's
//! `Kustomization`, slimmed down). [`SyncSpec`] is the wire type (serde and
//! JSON schema, so controller mode can wrap it in a CRD unchanged);
//! [`SyncEntry`] is the validated domain type the applier runs on, made once by
//! [`SyncEntry::from_spec`].

use std::path::PathBuf;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::meta::{GoDuration, ObjectKey, ObjectMeta, TAGPILOT_API, repository_path};

/// The apiVersions read as Sync (Sync is tagpilot's own kind).
pub const SYNC_API_VERSIONS: [&str; 1] = [TAGPILOT_API];

/// The interval used when a Sync gives none.
pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_secs(600);

/// The health-wait timeout used when a Sync gives none (Flux's default: the interval).
pub const DEFAULT_SYNC_TIMEOUT: Duration = Duration::from_secs(300);

/// A Sync object as written in YAML.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncObject {
    /// `tagpilot.dev/v1alpha1`.
    pub api_version: String,
    /// `Sync`.
    pub kind: String,
    /// Name, namespace, labels, annotations.
    pub metadata: ObjectMeta,
    /// What to apply and how.
    pub spec: SyncSpec,
}

/// `spec` of a Sync.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncSpec {
    /// The GitRepository whose files are applied.
    pub source_ref: SyncSourceReference,
    /// The directory inside the repository to apply (`./` when absent). A
    /// directory with a `kustomization.yaml` is rendered by kustomize; any other
    /// is read as plain manifests, recursively.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// How often to fetch, render and apply (a Go duration, e.g. `5m`); each
    /// interval also corrects drift by applying the same revision again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    pub interval: Option<String>,
    /// Delete objects applied by the previous revision that the new one no longer has (default true).
    #[serde(default = "default_true")]
    pub prune: bool,
    /// Put every namespaced object in this namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_namespace: Option<String>,
    /// Stop applying while true.
    #[serde(default)]
    pub suspend: bool,
    /// How long to wait for the applied objects to become healthy (a Go
    /// duration; default 5m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"))]
    pub timeout: Option<String>,
    /// Wait for the applied objects to be healthy (Deployments, StatefulSets and
    /// DaemonSets rolled out, Jobs complete) before reporting Ready.
    #[serde(default)]
    pub wait: bool,
}

fn default_true() -> bool {
    true
}

/// `spec.sourceRef`: a GitRepository, in the Sync's namespace unless named.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncSourceReference {
    /// `GitRepository` (the only supported kind; the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Its apiVersion, if given (ignored beyond validation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// The GitRepository's name.
    pub name: String,
    /// Its namespace; the Sync's when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// A Sync, validated: what the applier runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncEntry {
    /// The GitRepository it applies.
    pub source: ObjectKey,
    /// The directory inside the repository (relative, never leaving it).
    pub path: PathBuf,
    /// How often to apply.
    pub interval: Duration,
    /// Delete what the previous revision applied and this one does not.
    pub prune: bool,
    /// The namespace of every namespaced object, when set.
    pub target_namespace: Option<String>,
    /// Not applied while true.
    pub suspend: bool,
    /// How long the health wait may take.
    pub timeout: Duration,
    /// Whether to wait for health.
    pub wait: bool,
}

impl SyncEntry {
    /// Validates `spec` of a Sync in `namespace`; the error names the field.
    pub fn from_spec(spec: &SyncSpec, namespace: &str) -> Result<Self, String> {
        if let Some(kind) = spec.source_ref.kind.as_deref()
            && kind != "GitRepository"
        {
            return Err(format!(
                "spec.sourceRef.kind: {kind:?} is not supported; use GitRepository"
            ));
        }
        let duration = |field: &str, text: &Option<String>, default: Duration| match text {
            None => Ok(default),
            Some(text) => GoDuration::parse(text)
                .map(|d| d.0)
                .map_err(|e| format!("spec.{field}: {e}")),
        };
        let interval = duration("interval", &spec.interval, DEFAULT_SYNC_INTERVAL)?;
        if interval.is_zero() {
            return Err("spec.interval: must be more than 0".to_string());
        }
        let timeout = duration("timeout", &spec.timeout, DEFAULT_SYNC_TIMEOUT)?;
        let path = repository_path(spec.path.as_deref().unwrap_or("."))
            .map_err(|message| format!("spec.path: {message}"))?;
        if let Some(target) = &spec.target_namespace
            && !is_dns_label(target)
        {
            return Err(format!(
                "spec.targetNamespace: {target:?} is not a valid namespace name (lowercase letters, digits and '-', at most 63)"
            ));
        }
        Ok(Self {
            source: ObjectKey::new(
                spec.source_ref.namespace.as_deref().unwrap_or(namespace),
                &spec.source_ref.name,
            ),
            path,
            interval,
            prune: spec.prune,
            target_namespace: spec.target_namespace.clone(),
            suspend: spec.suspend,
            timeout,
            wait: spec.wait,
        })
    }
}

/// An RFC 1123 label (what a namespace name must be).
fn is_dns_label(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 63
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !text.starts_with('-')
        && !text.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> SyncSpec {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn defaults_follow_flux() {
        let entry = SyncEntry::from_spec(&spec("sourceRef: {name: config}\n"), "shop").unwrap();
        assert_eq!(entry.source, ObjectKey::new("shop", "config"));
        assert!(entry.prune, "prune defaults to true");
        assert!(!entry.wait && !entry.suspend);
        assert_eq!(entry.path, PathBuf::new());
        assert_eq!(entry.interval, DEFAULT_SYNC_INTERVAL);
    }

    #[test]
    fn fields_are_validated_and_named() {
        let full = spec(
            "sourceRef: {kind: GitRepository, name: config, namespace: flux}\npath: ./deploy/prod\ninterval: 1m30s\nprune: false\ntargetNamespace: shop\ntimeout: 2m\nwait: true\n",
        );
        let entry = SyncEntry::from_spec(&full, "default").unwrap();
        assert_eq!(entry.source, ObjectKey::new("flux", "config"));
        assert_eq!(entry.path, PathBuf::from("deploy/prod"));
        assert_eq!(entry.interval, Duration::from_secs(90));
        assert_eq!(entry.timeout, Duration::from_secs(120));
        assert!(!entry.prune && entry.wait);
        for (yaml, field) in [
            ("sourceRef: {name: c}\npath: ../x\n", "spec.path"),
            ("sourceRef: {name: c}\ninterval: soon\n", "spec.interval"),
            (
                "sourceRef: {name: c, kind: Bucket}\n",
                "spec.sourceRef.kind",
            ),
            (
                "sourceRef: {name: c}\ntargetNamespace: Shop\n",
                "spec.targetNamespace",
            ),
        ] {
            let error = SyncEntry::from_spec(&spec(yaml), "default").unwrap_err();
            assert!(error.starts_with(field), "{yaml}: {error}");
        }
        let unknown = serde_saphyr::from_str::<SyncSpec>("sourceRef: {name: c}\nprnue: false\n");
        assert!(unknown.is_err(), "unknown fields are rejected");
    }

    #[test]
    fn the_spec_round_trips_and_has_a_schema() {
        let original = spec("sourceRef: {name: config}\npath: apps\nprune: true\n");
        let json = serde_json::to_value(&original).unwrap();
        assert_eq!(json["sourceRef"]["name"], "config");
        let back: SyncSpec = serde_json::from_value(json).unwrap();
        assert_eq!(back, original);
        let schema = serde_json::to_value(schemars::schema_for!(SyncSpec)).unwrap();
        assert!(
            schema["properties"]["targetNamespace"].is_object(),
            "{schema}"
        );
    }
}

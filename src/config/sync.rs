//! `Sync` objects (read into [`SyncSpec`], tagpilot's own kind) validated
//! into a [`SyncEntry`]: the domain type the applier runs on, made once by
//! [`SyncEntry::from_spec`].

use std::path::PathBuf;
use std::time::Duration;

use super::meta::{ObjectKey, repository_path};
use crate::api::ApiObject;

pub use crate::api::sync::SyncSpec;

/// A Sync as read from a file or the API server.
pub type SyncObject = ApiObject<SyncSpec>;

/// The interval used when a Sync gives none.
pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_secs(600);

/// The health-wait timeout used when a Sync gives none (Flux's default: the interval).
pub const DEFAULT_SYNC_TIMEOUT: Duration = Duration::from_secs(300);

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
        let interval = spec.interval.map_or(DEFAULT_SYNC_INTERVAL, |d| d.0);
        if interval.is_zero() {
            return Err("spec.interval: must be more than 0".to_string());
        }
        let timeout = spec.timeout.map_or(DEFAULT_SYNC_TIMEOUT, |d| d.0);
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
            prune: spec.prune.unwrap_or(true),
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
        let spec: serde_json::Value = serde_saphyr::from_str(yaml).unwrap();
        let document = serde_json::json!({
            "apiVersion": "tagpilot.dev/v1alpha1", "kind": "Sync",
            "metadata": {"name": "s"}, "spec": spec,
        });
        crate::api::decode::<SyncSpec>(&document, None)
            .unwrap()
            .spec
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
        let unknown = serde_json::json!({
            "apiVersion": "tagpilot.dev/v1alpha1", "kind": "Sync", "metadata": {"name": "s"},
            "spec": {"sourceRef": {"name": "c"}, "prnue": false, "interval": "soon"},
        });
        let error = crate::api::decode::<SyncSpec>(&unknown, None)
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("spec.prnue: unknown field `prnue` in tagpilot.dev/v1alpha1"),
            "{error}"
        );
    }
}

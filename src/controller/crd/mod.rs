//! The custom resources of controller mode, in `tagpilot.dev/v1alpha1`, with
//! Flux's field names. These types exist to generate the CRDs (OpenAPI schema
//! with enums, interval patterns and required fields; printer columns; the
//! status subresource) and to build objects in tests. The controller itself
//! reads objects as JSON and validates them with the same code as standalone
//! mode (`engine::objects`), so there is one validation, not two.
//!
//! Adding a kind (e.g. `Sync`): derive it in a file of this module like the
//! ones in `image.rs`, add its `crd()` to [`all_crds`] and its file name to
//! `crds/kustomization.yaml`, then regenerate `crds/` with
//! `TAGPILOT_WRITE_CRDS=1 cargo test --lib controller::crd` (the staleness test
//! checks all three). `tagpilot crds` prints it from then on.

use std::collections::BTreeMap;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt as _;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

mod automation;
mod image;
mod sync;

pub use automation::*;
pub use image::*;
pub use sync::{InventoryEntry, Sync, SyncResourceSpec, SyncResourceStatus};

/// A Go duration such as `5m`, `1h30m` or `30s` (what Flux accepts for intervals).
pub const DURATION_PATTERN: &str = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$";

/// A reference to an object in the same namespace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LocalReference {
    /// The object's name.
    pub name: String,
}

/// Which namespaces may refer to an object from elsewhere.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessFrom {
    /// Namespaces whose labels match any of these selectors (an empty selector matches all).
    pub namespace_selectors: Vec<NamespaceSelector>,
}

/// Selects namespaces by label.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceSelector {
    /// Labels the namespace must have.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
}

/// Every CRD tagpilot serves, in a stable order (one more kind: one more line).
pub fn all_crds() -> Vec<CustomResourceDefinition> {
    vec![
        ImageRepository::crd(),
        ImagePolicy::crd(),
        GitRepository::crd(),
        ImageUpdateAutomation::crd(),
        Sync::crd(),
    ]
}

/// The file name of a CRD under `crds/`: `<group>_<plural>.yaml`.
pub fn crd_file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}_{}.yaml", crd.spec.group, crd.spec.names.plural)
}

/// One CRD as YAML.
pub fn crd_yaml(crd: &CustomResourceDefinition) -> Result<String, serde_saphyr::ser::Error> {
    serde_saphyr::to_string(crd)
}

/// Every CRD as one multi-document YAML stream (what `tagpilot crds` prints).
pub fn all_crds_yaml() -> Result<String, serde_saphyr::ser::Error> {
    let mut text = String::new();
    for crd in all_crds() {
        text.push_str("---\n");
        text.push_str(&crd_yaml(&crd)?);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// `crds/` must be what `tagpilot crds` prints; regenerate with
    /// `TAGPILOT_WRITE_CRDS=1 cargo test --lib controller::crd`.
    #[test]
    fn crds_directory_is_up_to_date() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
        let write = std::env::var_os("TAGPILOT_WRITE_CRDS").is_some();
        let mut stale = Vec::new();
        let mut expected_files = Vec::new();
        for crd in all_crds() {
            let name = crd_file_name(&crd);
            let text = crd_yaml(&crd).unwrap();
            let path = dir.join(&name);
            if write {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &text).unwrap();
            } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                stale.push(name.clone());
            }
            expected_files.push(name);
        }
        assert!(
            stale.is_empty(),
            "crds/ is stale ({stale:?}): run `TAGPILOT_WRITE_CRDS=1 cargo test --lib controller::crd` and commit crds/"
        );
        let mut found: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".yaml") && name != "kustomization.yaml")
            .collect();
        found.sort();
        expected_files.sort();
        assert_eq!(
            found, expected_files,
            "crds/ holds a CRD tagpilot no longer serves"
        );
    }

    #[test]
    fn schemas_carry_enums_patterns_and_required_fields() {
        let policy = serde_json::to_value(ImagePolicy::crd()).unwrap();
        let spec =
            &policy["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        let required: Vec<&str> = spec["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(required, ["imageRepositoryRef", "policy"]);
        assert_eq!(
            spec["properties"]["digestReflectionPolicy"]["enum"],
            serde_json::json!(["Never", "IfNotPresent", "Always"])
        );
        assert_eq!(
            spec["properties"]["interval"]["pattern"],
            serde_json::json!(DURATION_PATTERN)
        );
        let versions = &policy["spec"]["versions"][0];
        assert_eq!(versions["subresources"]["status"], serde_json::json!({}));
        let columns: Vec<&str> = versions["additionalPrinterColumns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(columns, ["Ready", "Status", "Latest Tag", "Image", "Age"]);
    }

    #[test]
    fn the_sync_crd_wraps_the_sync_spec_with_validation_and_columns() {
        let sync = serde_json::to_value(Sync::crd()).unwrap();
        let version = &sync["spec"]["versions"][0];
        let spec = &version["schema"]["openAPIV3Schema"]["properties"]["spec"];
        assert_eq!(
            spec["required"],
            serde_json::json!(["sourceRef"]),
            "{spec:#}"
        );
        assert_eq!(
            spec["properties"]["sourceRef"]["required"],
            serde_json::json!(["name"])
        );
        for field in ["interval", "timeout"] {
            assert_eq!(
                spec["properties"][field]["pattern"],
                serde_json::json!(DURATION_PATTERN),
                "{field}"
            );
        }
        assert_eq!(version["subresources"]["status"], serde_json::json!({}));
        let columns: Vec<&str> = version["additionalPrinterColumns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(columns, ["Ready", "Status", "Revision", "Age"]);
        let status = &version["schema"]["openAPIV3Schema"]["properties"]["status"];
        for field in [
            "lastAppliedRevision",
            "inventory",
            "driftCorrected",
            "conditions",
        ] {
            assert!(
                status["properties"][field].is_object(),
                "{field}: {status:#}"
            );
        }
        // The wrapper reads and writes the spec unchanged.
        let spec: SyncResourceSpec = serde_json::from_value(
            serde_json::json!({"sourceRef": {"name": "config"}, "path": "apps"}),
        )
        .unwrap();
        assert_eq!(spec.spec.path.as_deref(), Some("apps"));
        assert_eq!(
            serde_json::to_value(&spec).unwrap()["sourceRef"]["name"],
            "config"
        );
    }
}

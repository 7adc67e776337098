//! The CustomResourceDefinitions, generated from the hub types: one CRD per
//! kind in `tagpilot.dev` (`v1alpha1`, what `tagpilot crds` prints and
//! `crds/` holds), and one per Flux kind in Flux's groups serving `v1beta1`,
//! `v1beta2` and `v1` (storage `v1`): not shipped (Flux's own CRDs serve
//! Flux's groups; since Flux 2.9 they serve `v1` only), but the schema the
//! loader reads Flux files with, checked field by field against Flux's CRDs
//! by the integration test
//! `controller_flux::the_loaders_flux_schema_has_the_fields_of_fluxs_own_crds`.
//!
//! Each version's schema is [`super::spec_schema`] of that version: the same
//! schema the loader checks files with. Like Flux's own CRDs they have no
//! conversion webhook (`strategy: None`): the API server stores an object of
//! any version as `v1` with its fields unchanged (pruned to `v1`'s schema) and
//! serves it in every version. Every field of Flux's beta versions that
//! tagpilot acts on is also a field of `v1`, so nothing is lost but
//! `gitImplementation` and a GitRepository's `accessFrom`, which Flux `v1`
//! dropped too (and nothing acts on). What does differ by version, the data a
//! Flux commit message template sees, the controller recovers from
//! `metadata.managedFields` (see `controller::snapshot`).
//!
//! `crds/` is checked by `crds_directory_is_up_to_date`; regenerate it with
//! `TAGPILOT_WRITE_CRDS=1 cargo test --lib api::crd`.

use serde_json::{Map, Value, json};

use super::schema::{generate, object_schema};
use super::status::{
    GitRepositoryStatus, ImagePolicyStatus, ImageRepositoryStatus, ImageUpdateAutomationStatus,
    SyncStatus,
};
use super::version::{ApiVersion, Kind, TAGPILOT_GROUP};

/// One line of `kubectl get`.
struct Column {
    name: &'static str,
    kind: &'static str,
    path: &'static str,
    priority: Option<u32>,
}

const READY: Column = Column {
    name: "Ready",
    kind: "string",
    path: r#".status.conditions[?(@.type=="Ready")].status"#,
    priority: None,
};
const STATUS: Column = Column {
    name: "Status",
    kind: "string",
    path: r#".status.conditions[?(@.type=="Ready")].message"#,
    priority: None,
};
const AGE: Column = Column {
    name: "Age",
    kind: "date",
    path: ".metadata.creationTimestamp",
    priority: None,
};

fn columns(kind: Kind) -> Vec<Column> {
    let own = match kind {
        Kind::ImageRepository => vec![
            Column {
                name: "Last Scan",
                kind: "string",
                path: ".status.lastScanResult.scanTime",
                priority: None,
            },
            Column {
                name: "Tags",
                kind: "integer",
                path: ".status.lastScanResult.tagCount",
                priority: None,
            },
        ],
        Kind::ImagePolicy => vec![
            Column {
                name: "Latest Tag",
                kind: "string",
                path: ".status.latestRef.tag",
                priority: None,
            },
            Column {
                name: "Image",
                kind: "string",
                path: ".status.latestRef.name",
                priority: Some(1),
            },
        ],
        Kind::GitRepository => Vec::new(),
        Kind::ImageUpdateAutomation => vec![
            Column {
                name: "Last Push",
                kind: "string",
                path: ".status.lastPushTime",
                priority: None,
            },
            Column {
                name: "Commit",
                kind: "string",
                path: ".status.lastPushCommit",
                priority: Some(1),
            },
        ],
        Kind::Sync => vec![Column {
            name: "Revision",
            kind: "string",
            path: ".status.lastAppliedRevision",
            priority: None,
        }],
    };
    let mut all = Vec::new();
    if kind == Kind::GitRepository {
        all.push(Column {
            name: "URL",
            kind: "string",
            path: ".spec.url",
            priority: None,
        });
    }
    all.extend([READY, STATUS]);
    all.extend(own);
    all.push(AGE);
    all
}

fn description(kind: Kind) -> &'static str {
    match kind {
        Kind::ImageRepository => {
            "ImageRepository: which image to scan, how often, with which credentials."
        }
        Kind::ImagePolicy => "ImagePolicy: how to pick the latest tag of one ImageRepository.",
        Kind::GitRepository => "GitRepository: the config repository.",
        Kind::ImageUpdateAutomation => {
            "ImageUpdateAutomation: write policy results into a repository."
        }
        Kind::Sync => "Sync: apply a path of a GitRepository to the cluster.",
    }
}

fn status_schema(kind: Kind) -> Value {
    match kind {
        Kind::ImageRepository => generate::<ImageRepositoryStatus>(),
        Kind::ImagePolicy => generate::<ImagePolicyStatus>(),
        Kind::GitRepository => generate::<GitRepositoryStatus>(),
        Kind::ImageUpdateAutomation => generate::<ImageUpdateAutomationStatus>(),
        Kind::Sync => generate::<SyncStatus>(),
    }
}

/// Flux's short names (`kubectl get imgpol`); only the Flux-group CRDs carry them.
fn flux_short_names(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::ImageRepository => &["imgrepo", "imagerepo"],
        Kind::ImagePolicy => &["imgpol", "imagepol"],
        Kind::GitRepository => &["gitrepo"],
        Kind::ImageUpdateAutomation => &["iua", "imgupd", "imgauto"],
        Kind::Sync => &[],
    }
}

/// Status fields of what only `tagpilot.dev` objects can ask for (a Flux
/// object has no `git.push.pullRequest`), so Flux's versions do not have them.
fn tagpilot_only_status(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::ImageUpdateAutomation => &["pullRequest"],
        _ => &[],
    }
}

/// The `openAPIV3Schema` of `kind` in `version`.
pub fn object_schema_of(kind: Kind, version: ApiVersion) -> Value {
    let mut properties = Map::new();
    properties.insert(
        "apiVersion".into(),
        json!({"type": "string", "description": "The object's API group and version."}),
    );
    properties.insert(
        "kind".into(),
        json!({"type": "string", "description": "The object's kind."}),
    );
    properties.insert("metadata".into(), json!({"type": "object"}));
    let mut spec = super::spec_schema(kind, version).clone();
    if let Some(map) = spec.as_object_mut() {
        map.insert("description".into(), description(kind).into());
    }
    properties.insert("spec".into(), spec);
    let mut status = status_schema(kind);
    if let Some(map) = status.as_object_mut() {
        map.insert("nullable".into(), Value::Bool(true));
    }
    if version.is_flux()
        && let Some(fields) = status["properties"].as_object_mut()
    {
        for field in tagpilot_only_status(kind) {
            fields.remove(*field);
        }
    }
    properties.insert("status".into(), status);
    let mut schema = object_schema(properties);
    if let Some(map) = schema.as_object_mut() {
        map.insert("description".into(), description(kind).into());
        map.insert("required".into(), json!(["spec"]));
    }
    schema
}

fn version_entry(kind: Kind, version: ApiVersion, storage: bool) -> Value {
    let columns: Vec<Value> = columns(kind)
        .into_iter()
        .map(|column| {
            let mut entry =
                json!({"name": column.name, "type": column.kind, "jsonPath": column.path});
            if let Some(priority) = column.priority {
                entry["priority"] = priority.into();
            }
            entry
        })
        .collect();
    json!({
        "name": version.version(),
        "served": true,
        "storage": storage,
        "schema": {"openAPIV3Schema": object_schema_of(kind, version)},
        "subresources": {"status": {}},
        "additionalPrinterColumns": columns,
    })
}

fn crd(kind: Kind, group: &str, versions: &[ApiVersion], short_names: &[&str]) -> Value {
    let plural = kind.plural();
    let mut names = json!({
        "kind": kind.name(),
        "listKind": format!("{}List", kind.name()),
        "plural": plural,
        "singular": kind.name().to_lowercase(),
    });
    if !short_names.is_empty() {
        names["shortNames"] = json!(short_names);
    }
    let last = versions.len().saturating_sub(1);
    let entries: Vec<Value> = versions
        .iter()
        .enumerate()
        .map(|(index, version)| version_entry(kind, *version, index == last))
        .collect();
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.{group}")},
        "spec": {
            "group": group,
            "names": names,
            "scope": "Namespaced",
            "versions": entries,
        },
    })
}

/// tagpilot's CRDs (`tagpilot.dev/v1alpha1`), in a stable order.
pub fn all_crds() -> Vec<Value> {
    Kind::ALL
        .into_iter()
        .map(|kind| crd(kind, TAGPILOT_GROUP, &[ApiVersion::Tagpilot], &[]))
        .collect()
}

/// The CRDs of the Flux kinds in Flux's groups, serving `v1beta1`, `v1beta2`
/// and `v1` (storage).
pub fn flux_crds() -> Vec<Value> {
    Kind::ALL
        .into_iter()
        .filter_map(|kind| {
            kind.flux_group()
                .map(|group| crd(kind, group, &ApiVersion::FLUX, flux_short_names(kind)))
        })
        .collect()
}

/// The file name of a CRD: `<group>_<plural>.yaml`.
pub fn crd_file_name(crd: &Value) -> String {
    format!(
        "{}_{}.yaml",
        crd["spec"]["group"].as_str().unwrap_or_default(),
        crd["spec"]["names"]["plural"].as_str().unwrap_or_default()
    )
}

/// One CRD as YAML.
pub fn crd_yaml(crd: &Value) -> Result<String, serde_saphyr::ser::Error> {
    serde_saphyr::to_string(crd)
}

/// CRDs as one multi-document YAML stream.
pub fn crds_yaml(crds: &[Value]) -> Result<String, serde_saphyr::ser::Error> {
    let mut text = String::new();
    for crd in crds {
        text.push_str("---\n");
        text.push_str(&crd_yaml(crd)?);
    }
    Ok(text)
}

/// tagpilot's CRDs as one YAML stream (what `tagpilot crds` prints).
pub fn all_crds_yaml() -> Result<String, serde_saphyr::ser::Error> {
    crds_yaml(&all_crds())
}

#[cfg(test)]
#[path = "crd_tests.rs"]
mod tests;

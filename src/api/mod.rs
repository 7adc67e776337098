//! The object kinds of tagpilot's API: ImageRepository, ImagePolicy,
//! GitRepository, ImageUpdateAutomation and Sync.
//!
//! One Rust type per kind (the *hub*: [`ImageRepositorySpec`],
//! [`ImagePolicySpec`], [`GitRepositorySpec`], [`ImageUpdateAutomationSpec`],
//! [`SyncSpec`]) is the source of everything else:
//!
//! - the CRDs ([`crd`]): each served version's schema is the hub's schema with
//!   that version's [`VersionRule`]s applied (fields it lacks removed, its
//!   defaults and required fields added);
//! - the loader's input ([`decode`]): a document is checked against the
//!   schema of its own apiVersion (every unknown field named, with its version),
//!   defaulted as that version defaults, and read into the hub type.
//!
//! Served versions: `tagpilot.dev/v1alpha1` (every kind), Flux's
//! `image.toolkit.fluxcd.io` and `source.toolkit.fluxcd.io` `v1beta1`,
//! `v1beta2` and `v1` (all but Sync). A version converts into the hub by
//! reading its fields into it; what else depends on the version (how a commit
//! message template is read) is kept as [`ApiObject::api_version`] for the
//! `config` module, which validates hub objects into the domain types.
//!
//! This module depends on nothing of tagpilot's but its own types; it never
//! talks to a cluster.

pub mod automation;
pub mod crd;
pub mod git_repository;
pub mod image_policy;
pub mod image_repository;
pub mod meta;
pub mod schema;
pub mod status;
pub mod sync;
pub mod version;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use automation::ImageUpdateAutomationSpec;
pub use git_repository::GitRepositorySpec;
pub use image_policy::ImagePolicySpec;
pub use image_repository::ImageRepositorySpec;
pub use meta::{GoDuration, ObjectMeta};
pub use schema::FieldProblem;
pub use sync::SyncSpec;
pub use version::{ApiVersion, Kind, TAGPILOT_API, VersionRule};

/// A hub type: the `spec` of one kind, read from every version it is served in.
pub trait ApiSpec: DeserializeOwned + JsonSchema {
    /// The kind.
    const KIND: Kind;
    /// How each served version differs from the hub.
    fn version_rules() -> &'static [VersionRule];
}

/// An object of one kind, read into its hub type.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiObject<S> {
    /// The version the object was written in (which decides, e.g., how its
    /// commit message template is read).
    pub api_version: ApiVersion,
    /// Name, namespace, labels, annotations.
    pub metadata: ObjectMeta,
    /// The spec, in the hub type.
    pub spec: S,
}

/// Why a document is not an object of its kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The apiVersion does not serve the kind.
    #[error("{}", unsupported_version(kind, api_version, served))]
    UnsupportedVersion {
        /// The kind.
        kind: Kind,
        /// What the document says.
        api_version: String,
        /// The apiVersions that serve the kind.
        served: Vec<String>,
    },
    /// The document has no `spec` mapping.
    #[error("spec: missing; a {kind} needs one")]
    MissingSpec {
        /// The kind.
        kind: Kind,
    },
    /// Fields the version does not have, or lacks but requires (all of them).
    #[error("{}", messages.join("; "))]
    Fields {
        /// One message per field.
        messages: Vec<String>,
    },
    /// A value of the wrong type or shape.
    #[error("{path}: {message}")]
    Value {
        /// Where (`spec.interval`).
        path: String,
        /// What is wrong.
        message: String,
    },
}

fn unsupported_version(kind: &Kind, api_version: &str, served: &[String]) -> String {
    if api_version.is_empty() {
        format!(
            "apiVersion: missing; a {kind} has one of {}",
            served.join(", ")
        )
    } else {
        format!(
            "apiVersion {api_version:?} is not supported for {kind}; use one of {}",
            served.join(", ")
        )
    }
}

/// The top-level fields of an object document.
const TOP_LEVEL: [&str; 5] = ["apiVersion", "kind", "metadata", "spec", "status"];

/// Reads `document` (a whole object: apiVersion, kind, metadata, spec) as the
/// hub type `S`: checks every field against the schema of the document's
/// apiVersion, applies that version's defaults and deserializes.
///
/// `written_in` overrides the version whose semantics the object keeps (the
/// controller reads every object as the version it watches, but an object may
/// have been written in another; see `controller::snapshot`).
pub fn decode<S: ApiSpec>(
    document: &Value,
    written_in: Option<ApiVersion>,
) -> Result<ApiObject<S>, ApiError> {
    let kind = S::KIND;
    let text = document
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let version = ApiVersion::parse(kind, text).ok_or_else(|| ApiError::UnsupportedVersion {
        kind,
        api_version: text.to_string(),
        served: kind.served_api_versions(),
    })?;
    let mut problems = Vec::new();
    if let Some(fields) = document.as_object() {
        for name in fields.keys() {
            if !TOP_LEVEL.contains(&name.as_str()) {
                problems.push(FieldProblem::Unknown {
                    path: name.clone(),
                    field: name.clone(),
                    expected: TOP_LEVEL.iter().map(ToString::to_string).collect(),
                });
            }
        }
    }
    let mut spec = match document.get("spec") {
        Some(spec @ Value::Object(_)) => spec.clone(),
        _ => return Err(ApiError::MissingSpec { kind }),
    };
    let schema = spec_schema(kind, version);
    problems.extend(schema::check(&spec, schema, "spec"));
    let mut messages: Vec<String> = problems
        .iter()
        .map(|problem| describe(kind, version, problem))
        .collect();
    messages.extend(refused_values::<S>(&spec, version));
    if !messages.is_empty() {
        return Err(ApiError::Fields { messages });
    }
    schema::apply_defaults(&mut spec, schema);
    let metadata: ObjectMeta = document
        .get("metadata")
        .cloned()
        .map(serde_path_to_error::deserialize)
        .transpose()
        .map_err(|error| ApiError::Value {
            path: format!("metadata.{}", error.path()),
            message: error.into_inner().to_string(),
        })?
        .unwrap_or_default();
    let spec: S = serde_path_to_error::deserialize(spec).map_err(|error| {
        let path = error.path().to_string();
        ApiError::Value {
            path: if path == "." {
                "spec".to_string()
            } else {
                format!("spec.{path}")
            },
            message: error.into_inner().to_string(),
        }
    })?;
    Ok(ApiObject {
        api_version: written_in.unwrap_or(version),
        metadata,
        spec,
    })
}

/// A message for each value that a [`VersionRule::Values`] of `version`
/// refuses, naming the versions that take it.
fn refused_values<S: ApiSpec>(spec: &Value, version: ApiVersion) -> Vec<String> {
    let kind = S::KIND;
    let mut messages = Vec::new();
    for rule in S::version_rules() {
        let VersionRule::Values(path, versions, _) = *rule else {
            continue;
        };
        if !versions.contains(&version) {
            continue;
        }
        let Some((value, allowed)) = schema::refused_value(spec, spec_schema(kind, version), path)
        else {
            continue;
        };
        let elsewhere: Vec<String> = kind
            .served()
            .iter()
            .filter(|other| schema::refused_value(spec, spec_schema(kind, **other), path).is_none())
            .map(|other| other.api_version(kind))
            .collect();
        let hint = if elsewhere.is_empty() {
            String::new()
        } else {
            format!(" (it is a value of {})", elsewhere.join(", "))
        };
        messages.push(format!(
            "{path}: `{value}` is not a value of {}{hint}, expected {}",
            version.api_version(kind),
            schema::expected_list(&allowed)
        ));
    }
    messages
}

/// One field problem as a message naming the field and the version, and the
/// versions that do have an unknown field.
fn describe(kind: Kind, version: ApiVersion, problem: &FieldProblem) -> String {
    let api_version = version.api_version(kind);
    match problem {
        FieldProblem::Unknown {
            path,
            field,
            expected,
        } => {
            let field_path = problem.field_path();
            let elsewhere: Vec<String> = kind
                .served()
                .iter()
                .filter(|other| **other != version)
                .filter(|other| schema::has_field(spec_schema(kind, **other), &field_path))
                .map(|other| other.api_version(kind))
                .collect();
            let hint = if elsewhere.is_empty() {
                String::new()
            } else {
                format!(" (it is a field of {})", elsewhere.join(", "))
            };
            format!(
                "{path}: unknown field `{field}` in {api_version}{hint}, expected {}",
                schema::expected_list(expected)
            )
        }
        FieldProblem::Missing { path, field } => {
            format!("{path}: missing field `{field}` (required in {api_version})")
        }
    }
}

/// The `spec` schema of `kind` in `version` (computed once).
pub fn spec_schema(kind: Kind, version: ApiVersion) -> &'static Value {
    static SCHEMAS: OnceLock<BTreeMap<(Kind, ApiVersion), Value>> = OnceLock::new();
    static EMPTY: Value = Value::Null;
    SCHEMAS
        .get_or_init(|| {
            let mut schemas = BTreeMap::new();
            for kind in Kind::ALL {
                let (hub, rules) = hub_schema(kind);
                for version in kind.served() {
                    schemas.insert(
                        (kind, *version),
                        schema::version_spec_schema(&hub, rules, *version),
                    );
                }
            }
            schemas
        })
        .get(&(kind, version))
        .unwrap_or(&EMPTY)
}

/// The hub `spec` schema of `kind`, and its version rules.
fn hub_schema(kind: Kind) -> (Value, &'static [VersionRule]) {
    fn of<S: ApiSpec>() -> (Value, &'static [VersionRule]) {
        (schema::generate::<S>(), S::version_rules())
    }
    match kind {
        Kind::ImageRepository => of::<ImageRepositorySpec>(),
        Kind::ImagePolicy => of::<ImagePolicySpec>(),
        Kind::GitRepository => of::<GitRepositorySpec>(),
        Kind::ImageUpdateAutomation => of::<ImageUpdateAutomationSpec>(),
        Kind::Sync => of::<SyncSpec>(),
    }
}

//! ImagePolicy objects (any served version, read into [`ImagePolicySpec`])
//! and the [`Policy`] each one's fields make. [`ImagePolicyObject::from_yaml`]
//! reads a single-object file (the CLI's `--policy`). What the engine needs
//! around the policy (requirements, keys) is `super::policy_entry`: this module
//! stays pure, so the fuzz crate compiles it as it is.

use super::meta::{ObjectKey, object_key};
use crate::api::image_policy::{ImagePolicySpec, PolicyChoice};
use crate::api::{ApiError, ApiObject, Kind};
use crate::policy::{InvalidField, OrderingSpec, Policy, PolicyError};

pub use crate::api::image_policy::DigestReflectionPolicy;

/// The kind this module reads.
pub const IMAGE_POLICY_KIND: &str = "ImagePolicy";

/// The annotation that lets a policy move a marker to an older version.
pub const ALLOW_DOWNGRADE_ANNOTATION: &str = "tagpilot.dev/allow-downgrade";

/// An ImagePolicy as read from a file or the API server.
pub type ImagePolicyObject = ApiObject<ImagePolicySpec>;

/// Why an ImagePolicy file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ImagePolicyFileError {
    /// The text is not YAML.
    #[error("not a valid ImagePolicy")]
    Yaml(#[source] serde_saphyr::Error),
    /// The document is another kind of object.
    #[error("kind {0:?} is not ImagePolicy")]
    Kind(String),
    /// The fields do not fit an ImagePolicy of its apiVersion.
    #[error("not a valid ImagePolicy: {0}")]
    Invalid(#[source] ApiError),
}

impl ImagePolicyObject {
    /// Reads one ImagePolicy from YAML: kind, apiVersion and every field checked.
    pub fn from_yaml(text: &str) -> Result<Self, ImagePolicyFileError> {
        let document: serde_json::Value =
            serde_saphyr::from_str(text).map_err(ImagePolicyFileError::Yaml)?;
        let kind = document
            .get("kind")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default();
        if kind != Kind::ImagePolicy.name() {
            return Err(ImagePolicyFileError::Kind(kind.to_string()));
        }
        crate::api::decode(&document, None).map_err(ImagePolicyFileError::Invalid)
    }

    /// `namespace/name`, as messages name the object.
    pub fn qualified_name(&self) -> String {
        format!("{}/{}", self.metadata.namespace(), self.metadata.name)
    }
}

/// The one ordering of `spec.policy`, or the error naming what was given.
fn ordering<'a>(name: &str, choice: &'a PolicyChoice) -> Result<OrderingSpec<'a>, PolicyError> {
    match (&choice.semver, &choice.numerical, &choice.alphabetical) {
        (Some(semver), None, None) => Ok(OrderingSpec::Semver {
            range: &semver.range,
        }),
        (None, Some(numerical), None) => Ok(OrderingSpec::Numerical {
            order: numerical.order.map(|o| o.as_str()),
        }),
        (None, None, Some(alphabetical)) => Ok(OrderingSpec::Alphabetical {
            order: alphabetical.order.map(|o| o.as_str()),
        }),
        _ => {
            let given: Vec<&str> = [
                choice.semver.as_ref().map(|_| "semver"),
                choice.numerical.as_ref().map(|_| "numerical"),
                choice.alphabetical.as_ref().map(|_| "alphabetical"),
            ]
            .into_iter()
            .flatten()
            .collect();
            let found = if given.is_empty() {
                "none".to_string()
            } else {
                given.join(" and ")
            };
            Err(PolicyError::Invalid {
                policy: name.to_string(),
                field: "spec.policy",
                source: InvalidField::Choice(found),
            })
        }
    }
}

pub(super) fn policy_with(
    object: &ImagePolicyObject,
    ordering: OrderingSpec<'_>,
) -> Result<Policy, PolicyError> {
    let filter = object.spec.filter_tags.as_ref();
    Policy::new(
        object.qualified_name(),
        filter.and_then(|f| f.pattern.as_deref()),
        filter.and_then(|f| f.extract.as_deref()),
        ordering,
    )
}

impl TryFrom<&ImagePolicyObject> for Policy {
    type Error = PolicyError;

    fn try_from(object: &ImagePolicyObject) -> Result<Self, Self::Error> {
        policy_with(
            object,
            ordering(&object.qualified_name(), &object.spec.policy)?,
        )
    }
}

impl TryFrom<ImagePolicyObject> for Policy {
    type Error = PolicyError;

    fn try_from(object: ImagePolicyObject) -> Result<Self, Self::Error> {
        Policy::try_from(&object)
    }
}

/// The key of a policy object.
pub fn policy_key(object: &ImagePolicyObject) -> ObjectKey {
    object_key(&object.metadata)
}

#[cfg(test)]
#[path = "image_policy_tests.rs"]
mod tests;

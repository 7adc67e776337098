//! The ImagePolicy object as written in YAML files (ours or Flux's apiVersion),
//! and its conversion into a validated [`Policy`].
//!
//! Deserializing checks the shape: required fields and no unknown field
//! anywhere under `spec` (a typo such as `filterTag` is an
//! error naming the field, not a silently ignored setting). [`TryFrom`] then
//! checks the meaning (regex, range, order) and yields a [`Policy`].
//! [`ImagePolicyObject::from_yaml`] reads a single-object file (the CLI's
//! `--policy`) and checks `apiVersion` and `kind`; the directory loader
//! ([`super::load`]) dispatches on them itself.

use serde::Deserialize;

use super::meta::{GoDuration, IMAGE_API_VERSIONS, NamespacedObjectReference, ObjectMeta};
use crate::policy::{InvalidField, OrderingSpec, Policy, PolicyError};

/// The kind this module reads.
pub const IMAGE_POLICY_KIND: &str = "ImagePolicy";

/// An ImagePolicy object as written in YAML.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImagePolicyObject {
    /// `tagpilot.dev/v1alpha1` or `image.toolkit.fluxcd.io/v1` (`/v1beta2`).
    pub api_version: String,
    /// `ImagePolicy`.
    pub kind: String,
    /// Name, namespace, labels, annotations.
    pub metadata: ObjectMeta,
    /// What to select and how.
    pub spec: ImagePolicySpec,
}

/// Why an ImagePolicy file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ImagePolicyFileError {
    /// The text is not YAML, or its fields do not fit an ImagePolicy.
    #[error("not a valid ImagePolicy")]
    Yaml(#[source] serde_saphyr::Error),
    /// The apiVersion is not one we read ImagePolicy objects from.
    #[error(
        "apiVersion {0:?} is not supported for ImagePolicy; use tagpilot.dev/v1alpha1, \
         image.toolkit.fluxcd.io/v1 or image.toolkit.fluxcd.io/v1beta2"
    )]
    ApiVersion(String),
    /// The document is another kind of object.
    #[error("kind {0:?} is not ImagePolicy")]
    Kind(String),
}

/// `spec` of an ImagePolicy.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImagePolicySpec {
    /// The ImageRepository whose tags the policy orders.
    pub image_repository_ref: NamespacedObjectReference,
    /// Which tags take part and which value of each is ordered.
    #[serde(default)]
    pub filter_tags: Option<TagFilterSpec>,
    /// Exactly one ordering.
    pub policy: PolicyChoice,
    /// Whether to look up and pin the chosen tag's digest.
    #[serde(default)]
    pub digest_reflection_policy: DigestReflectionPolicy,
    /// How often to re-check the digest (with `Always`), e.g. `10m`.
    #[serde(default)]
    pub interval: Option<GoDuration>,
}

/// `spec.filterTags`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagFilterSpec {
    /// A Go RE2 regex a tag must match (unanchored).
    #[serde(default)]
    pub pattern: Option<String>,
    /// A template (`$name`, `${name}`, `$1`) giving the value to order.
    #[serde(default)]
    pub extract: Option<String>,
}

/// `spec.policy`: exactly one field must be set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyChoice {
    /// Highest version inside a Masterminds range.
    #[serde(default)]
    pub semver: Option<SemverPolicySpec>,
    /// By decimal value.
    #[serde(default)]
    pub numerical: Option<OrderPolicySpec>,
    /// Byte-wise.
    #[serde(default)]
    pub alphabetical: Option<OrderPolicySpec>,
}

/// `spec.policy.semver`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SemverPolicySpec {
    /// A Masterminds/semver constraint, e.g. `>=1.0.0 <2.0.0`.
    pub range: String,
}

/// `spec.policy.numerical` and `spec.policy.alphabetical`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderPolicySpec {
    /// `asc` (default, the largest wins) or `desc`.
    #[serde(default)]
    pub order: Option<String>,
}

/// `spec.digestReflectionPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum DigestReflectionPolicy {
    /// Never look up digests (the default).
    #[default]
    Never,
    /// Look up a digest once per chosen tag.
    IfNotPresent,
    /// Look up the digest at every interval.
    Always,
}

impl ImagePolicyObject {
    /// Reads one ImagePolicy from YAML and checks its apiVersion and kind.
    pub fn from_yaml(text: &str) -> Result<Self, ImagePolicyFileError> {
        let object: Self = serde_saphyr::from_str(text).map_err(ImagePolicyFileError::Yaml)?;
        object.check_type()?;
        Ok(object)
    }

    /// Checks that apiVersion and kind are ones this type stands for.
    pub fn check_type(&self) -> Result<(), ImagePolicyFileError> {
        if !IMAGE_API_VERSIONS.contains(&self.api_version.as_str()) {
            return Err(ImagePolicyFileError::ApiVersion(self.api_version.clone()));
        }
        if self.kind != IMAGE_POLICY_KIND {
            return Err(ImagePolicyFileError::Kind(self.kind.clone()));
        }
        Ok(())
    }

    /// `namespace/name`, as messages name the object.
    pub fn qualified_name(&self) -> String {
        format!("{}/{}", self.metadata.namespace(), self.metadata.name)
    }
}

impl TryFrom<&ImagePolicyObject> for Policy {
    type Error = PolicyError;

    fn try_from(object: &ImagePolicyObject) -> Result<Self, Self::Error> {
        let name = object.qualified_name();
        let choice = &object.spec.policy;
        let ordering = match (&choice.semver, &choice.numerical, &choice.alphabetical) {
            (Some(semver), None, None) => OrderingSpec::Semver {
                range: &semver.range,
            },
            (None, Some(numerical), None) => OrderingSpec::Numerical {
                order: numerical.order.as_deref(),
            },
            (None, None, Some(alphabetical)) => OrderingSpec::Alphabetical {
                order: alphabetical.order.as_deref(),
            },
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
                return Err(PolicyError::Invalid {
                    policy: name,
                    field: "spec.policy",
                    source: InvalidField::Choice(found),
                });
            }
        };
        let filter = object.spec.filter_tags.as_ref();
        Policy::new(
            name,
            filter.and_then(|f| f.pattern.as_deref()),
            filter.and_then(|f| f.extract.as_deref()),
            ordering,
        )
    }
}

impl TryFrom<ImagePolicyObject> for Policy {
    type Error = PolicyError;

    fn try_from(object: ImagePolicyObject) -> Result<Self, Self::Error> {
        Policy::try_from(&object)
    }
}

#[cfg(test)]
#[path = "image_policy_tests.rs"]
mod tests;

//! Policy results and setters: what a marker names and what it is given.
//!
//! A marker names a [`Setter`]: an ImagePolicy ([`PolicyId`]) plus an optional
//! [`SetterSuffix`]. [`PolicyResults`] maps policies to their latest image
//! ([`PolicyResult`]), and [`PolicyResult::value_for`] turns a result into the
//! text a setter writes.

use std::collections::HashMap;
use std::fmt;

use crate::image::ImageReference;

/// Why a policy name, setter or policy result is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResultsError {
    /// The policy name is not `NAMESPACE:NAME` with two Kubernetes object names.
    #[error(
        "invalid policy name {text:?}: expected NAMESPACE:NAME (lowercase letters, digits, '-' and '.')"
    )]
    InvalidPolicyId {
        /// The text as given.
        text: String,
    },
    /// The setter is not `NAMESPACE:NAME` optionally followed by `:tag`, `:name` or `:digest`.
    #[error(
        "invalid setter {text:?}: expected NAMESPACE:NAME with an optional :tag, :name or :digest"
    )]
    InvalidSetter {
        /// The text as given.
        text: String,
    },
    /// A policy result must name a tag: setters write `name:tag`.
    #[error("policy result {reference:?} has no tag: give IMAGE:TAG[@DIGEST]")]
    MissingTag {
        /// The reference as given.
        reference: String,
    },
}

/// The namespace and name of an ImagePolicy (`shop:front-end`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PolicyId {
    namespace: String,
    name: String,
}

impl PolicyId {
    /// Builds an id from a namespace and a name, both Kubernetes object names.
    pub fn new(namespace: &str, name: &str) -> Result<Self, ResultsError> {
        if is_object_name(namespace) && is_object_name(name) {
            Ok(Self {
                namespace: namespace.to_string(),
                name: name.to_string(),
            })
        } else {
            Err(ResultsError::InvalidPolicyId {
                text: format!("{namespace}:{name}"),
            })
        }
    }

    /// Parses `NAMESPACE:NAME`.
    pub fn parse(text: &str) -> Result<Self, ResultsError> {
        let invalid = || ResultsError::InvalidPolicyId {
            text: text.to_string(),
        };
        let (namespace, name) = text.split_once(':').ok_or_else(invalid)?;
        Self::new(namespace, name).map_err(|_| invalid())
    }

    /// The policy's namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The policy's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for PolicyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.namespace, self.name)
    }
}

/// Which part of a policy result a marker asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SetterSuffix {
    /// `:tag`: the tag only (`v1.2.3`).
    Tag,
    /// `:name`: the image name only (`ghcr.io/org/app`).
    Name,
    /// `:digest`: the digest only (`sha256:…`).
    Digest,
}

impl SetterSuffix {
    fn as_str(self) -> &'static str {
        match self {
            Self::Tag => "tag",
            Self::Name => "name",
            Self::Digest => "digest",
        }
    }
}

/// What a marker names: a policy and an optional suffix (`shop:front-end:tag`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Setter {
    /// The policy whose result is written.
    pub policy: PolicyId,
    /// The part of the result to write; `None` writes the full reference.
    pub suffix: Option<SetterSuffix>,
}

impl Setter {
    /// Parses `NAMESPACE:NAME[:tag|:name|:digest]` (the value of a `$imagepolicy` marker).
    pub fn parse(text: &str) -> Result<Self, ResultsError> {
        let invalid = || ResultsError::InvalidSetter {
            text: text.to_string(),
        };
        let mut parts = text.split(':');
        let (Some(namespace), Some(name)) = (parts.next(), parts.next()) else {
            return Err(invalid());
        };
        let suffix = match (parts.next(), parts.next()) {
            (None, _) => None,
            (Some("tag"), None) => Some(SetterSuffix::Tag),
            (Some("name"), None) => Some(SetterSuffix::Name),
            (Some("digest"), None) => Some(SetterSuffix::Digest),
            _ => return Err(invalid()),
        };
        let policy = PolicyId::new(namespace, name).map_err(|_| invalid())?;
        Ok(Self { policy, suffix })
    }
}

impl fmt::Display for Setter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.policy)?;
        if let Some(suffix) = self.suffix {
            write!(f, ":{}", suffix.as_str())?;
        }
        Ok(())
    }
}

/// The latest image an ImagePolicy selected: a reference with a tag, and a digest if known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyResult {
    image: ImageReference,
}

impl PolicyResult {
    /// Wraps a reference; it must have a tag.
    pub fn new(image: ImageReference) -> Result<Self, ResultsError> {
        if image.tag().is_none() {
            return Err(ResultsError::MissingTag {
                reference: image.to_string(),
            });
        }
        Ok(Self { image })
    }

    /// The selected image.
    pub fn image(&self) -> &ImageReference {
        &self.image
    }

    /// The text a setter with this suffix writes, or `None` when the result
    /// lacks that part (a `:digest` setter and a result without a digest).
    ///
    /// No suffix writes `name:tag`, plus `@digest` when the digest is known.
    pub fn value_for(&self, suffix: Option<SetterSuffix>) -> Option<String> {
        match suffix {
            None => Some(self.image.to_string()),
            Some(SetterSuffix::Tag) => self.image.tag().map(str::to_string),
            Some(SetterSuffix::Name) => Some(self.image.name().to_string()),
            Some(SetterSuffix::Digest) => self.image.digest().map(str::to_string),
        }
    }
}

/// The results available to one update run, keyed by policy.
#[derive(Debug, Clone, Default)]
pub struct PolicyResults {
    results: HashMap<PolicyId, PolicyResult>,
}

impl PolicyResults {
    /// No results.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the result of a policy; returns the one it replaced.
    pub fn insert(&mut self, policy: PolicyId, result: PolicyResult) -> Option<PolicyResult> {
        self.results.insert(policy, result)
    }

    /// The result of a policy, if there is one.
    pub fn get(&self, policy: &PolicyId) -> Option<&PolicyResult> {
        self.results.get(policy)
    }

    /// How many policies have a result.
    pub fn len(&self) -> usize {
        self.results.len()
    }

    /// Whether there are no results at all.
    pub fn is_empty(&self) -> bool {
        self.results.is_empty()
    }
}

impl FromIterator<(PolicyId, PolicyResult)> for PolicyResults {
    fn from_iter<I: IntoIterator<Item = (PolicyId, PolicyResult)>>(iter: I) -> Self {
        Self {
            results: iter.into_iter().collect(),
        }
    }
}

/// A Kubernetes object name (RFC 1123 subdomain): lowercase alphanumerics, `-`
/// and `.`, starting and ending with an alphanumeric, at most 253 characters.
fn is_object_name(text: &str) -> bool {
    let bytes = text.as_bytes();
    let alnum = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    bytes.len() <= 253
        && alnum(bytes.first())
        && alnum(bytes.last())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn result(text: &str) -> PolicyResult {
        PolicyResult::new(ImageReference::parse(text).unwrap()).unwrap()
    }

    #[test]
    fn setters_parse_with_and_without_suffix() {
        let s = Setter::parse("shop:front-end").unwrap();
        assert_eq!(s.policy, PolicyId::new("shop", "front-end").unwrap());
        assert_eq!(s.suffix, None);
        assert_eq!(
            Setter::parse("shop:front-end:tag").unwrap().suffix,
            Some(SetterSuffix::Tag)
        );
        assert_eq!(
            Setter::parse("a:b:name").unwrap().to_string(),
            "a:b:name".to_string()
        );
        assert_eq!(
            Setter::parse("a:b:digest").unwrap().suffix,
            Some(SetterSuffix::Digest)
        );
        for bad in [
            "",
            "a",
            "a:",
            ":b",
            "a:b:",
            "a:b:version",
            "a:b:tag:x",
            "A:b",
            "a b:c",
        ] {
            assert!(Setter::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn values_follow_flux_setters() {
        let r = result(&format!("registry.local:5000/org/app:v1.2.3@{DIGEST}"));
        assert_eq!(
            r.value_for(None).unwrap(),
            format!("registry.local:5000/org/app:v1.2.3@{DIGEST}")
        );
        assert_eq!(r.value_for(Some(SetterSuffix::Tag)).unwrap(), "v1.2.3");
        assert_eq!(
            r.value_for(Some(SetterSuffix::Name)).unwrap(),
            "registry.local:5000/org/app"
        );
        assert_eq!(r.value_for(Some(SetterSuffix::Digest)).unwrap(), DIGEST);
        let r = result("nginx:1.27");
        assert_eq!(r.value_for(None).unwrap(), "nginx:1.27");
        assert_eq!(r.value_for(Some(SetterSuffix::Digest)), None);
    }

    #[test]
    fn a_result_needs_a_tag() {
        let image = ImageReference::parse("nginx").unwrap();
        assert!(matches!(
            PolicyResult::new(image),
            Err(ResultsError::MissingTag { .. })
        ));
    }
}

//! Pieces every object kind shares: metadata, references, durations, and the
//! accepted apiVersions.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Our own API group and version.
pub const TAGPILOT_API: &str = "tagpilot.dev/v1alpha1";
/// The apiVersions read as ImageRepository, ImagePolicy and ImageUpdateAutomation: ours and Flux's.
pub const IMAGE_API_VERSIONS: [&str; 3] = [
    TAGPILOT_API,
    "image.toolkit.fluxcd.io/v1",
    "image.toolkit.fluxcd.io/v1beta2",
];
/// The apiVersions read as GitRepository: ours and Flux's.
pub const SOURCE_API_VERSIONS: [&str; 3] = [
    TAGPILOT_API,
    "source.toolkit.fluxcd.io/v1",
    "source.toolkit.fluxcd.io/v1beta2",
];
/// The namespace of objects that do not name one.
pub const DEFAULT_NAMESPACE: &str = "default";

/// `metadata` of an object (the fields tagpilot reads; others are ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    /// The object's name.
    pub name: String,
    /// The object's namespace (`default` when absent).
    #[serde(default)]
    pub namespace: Option<String>,
    /// Labels, used by `policySelector`.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Annotations (e.g. `tagpilot.dev/allow-downgrade`).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

impl ObjectMeta {
    /// The namespace, `default` when none is given.
    pub fn namespace(&self) -> &str {
        self.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE)
    }

    /// The object's `namespace/name` key.
    pub fn key(&self) -> ObjectKey {
        ObjectKey::new(self.namespace(), &self.name)
    }
}

pub use crate::registry::ObjectKey;

/// A reference to an object in the same namespace (`secretRef`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalObjectReference {
    /// The referenced object's name.
    pub name: String,
}

/// A reference that may name another namespace (`imageRepositoryRef`, `sourceRef`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NamespacedObjectReference {
    /// The referenced kind, where the field has one (`sourceRef.kind`).
    #[serde(default)]
    pub kind: Option<String>,
    /// Its apiVersion, if given (ignored beyond validation).
    #[serde(default)]
    pub api_version: Option<String>,
    /// The referenced object's name.
    pub name: String,
    /// Its namespace; the referring object's namespace when absent.
    #[serde(default)]
    pub namespace: Option<String>,
}

impl NamespacedObjectReference {
    /// The key of the referenced object, resolving the namespace against the referrer's.
    pub fn key(&self, referrer_namespace: &str) -> ObjectKey {
        ObjectKey::new(
            self.namespace.as_deref().unwrap_or(referrer_namespace),
            &self.name,
        )
    }
}

/// A Go-style duration (`30s`, `5m`, `1h30m`, `1.5h`, `500ms`), as Flux's `interval` fields use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct GoDuration(pub Duration);

/// A duration string that is not a Go duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid duration {text:?}: expected a number and a unit (ns, us, ms, s, m, h), e.g. \"5m\" or \"1h30m\""
)]
pub struct DurationError {
    /// The text as given.
    pub text: String,
}

impl GoDuration {
    /// Parses Go's `time.ParseDuration` syntax (no negative durations).
    pub fn parse(text: &str) -> Result<Self, DurationError> {
        let error = || DurationError {
            text: text.to_string(),
        };
        let mut rest = text.trim();
        if rest == "0" {
            return Ok(Self(Duration::ZERO));
        }
        if rest.is_empty() {
            return Err(error());
        }
        let mut total = 0f64;
        while !rest.is_empty() {
            let number_len = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(error)?;
            if number_len == 0 {
                return Err(error());
            }
            let number: f64 = rest[..number_len].parse().map_err(|_| error())?;
            rest = &rest[number_len..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(rest.len());
            let seconds = match &rest[..unit_len] {
                "ns" => 1e-9,
                "us" | "µs" => 1e-6,
                "ms" => 1e-3,
                "s" => 1.0,
                "m" => 60.0,
                "h" => 3600.0,
                _ => return Err(error()),
            };
            total += number * seconds;
            rest = &rest[unit_len..];
        }
        Duration::try_from_secs_f64(total)
            .map(Self)
            .map_err(|_| error())
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A path from an object (`spec.update.path`, a Sync's `spec.path`) as a
/// clean path relative to the repository root: `.` components dropped, `..`
/// and absolute paths refused (invariant 8).
pub fn repository_path(path: &str) -> Result<PathBuf, String> {
    let mut clean = PathBuf::new();
    for component in Path::new(path).components() {
        match component {
            Component::Normal(part) => clean.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(format!(
                    "{path:?} leads outside the repository; give a path relative to its root"
                ));
            }
        }
    }
    Ok(clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        for (text, seconds) in [
            ("30s", 30.0),
            ("5m", 300.0),
            ("1h30m", 5400.0),
            ("1.5h", 5400.0),
            ("500ms", 0.5),
            ("5m0s", 300.0),
            ("0", 0.0),
        ] {
            assert_eq!(
                GoDuration::parse(text).unwrap().0.as_secs_f64(),
                seconds,
                "{text}"
            );
        }
        for bad in ["", "5", "m", "5x", "-5m", "1h-5m"] {
            assert!(
                GoDuration::parse(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }
}

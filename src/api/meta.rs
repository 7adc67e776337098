//! Pieces every kind shares: object metadata, references, durations, label
//! selectors and `accessFrom`. They are part of the hub types, so each is both
//! a serde type (the loader's input) and a JSON schema (the CRDs).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The namespace of objects that do not name one.
pub const DEFAULT_NAMESPACE: &str = "default";

/// A Go duration as Flux's CRDs accept it (`5m`, `1h30m`, `1.5s`, `500ms`).
pub const DURATION_PATTERN: &str = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$";

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
}

/// A reference to an object in the same namespace (`secretRef`, `proxySecretRef`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LocalObjectReference {
    /// The referenced object's name.
    pub name: String,
}

/// A reference to an object that may live in another namespace
/// (`imageRepositoryRef`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NamespacedObjectReference {
    /// The referenced object's name.
    pub name: String,
    /// Its namespace; the referring object's namespace when absent (another
    /// namespace needs the target's `accessFrom` in controller mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl NamespacedObjectReference {
    /// The referenced object's namespace, resolved against the referrer's.
    pub fn namespace_or<'a>(&'a self, referrer_namespace: &'a str) -> &'a str {
        self.namespace.as_deref().unwrap_or(referrer_namespace)
    }
}

/// A reference to a source object (`sourceRef`): a GitRepository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SourceReference {
    /// The source's apiVersion (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// The source's kind: `GitRepository`, the only kind tagpilot reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The source's name.
    pub name: String,
    /// Its namespace; the referring object's namespace when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl SourceReference {
    /// The referenced object's namespace, resolved against the referrer's.
    pub fn namespace_or<'a>(&'a self, referrer_namespace: &'a str) -> &'a str {
        self.namespace.as_deref().unwrap_or(referrer_namespace)
    }
}

/// Which namespaces may refer to an object from elsewhere (Flux's ACL).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessFrom {
    /// Namespaces whose labels match any of these selectors (an empty selector matches all).
    pub namespace_selectors: Vec<NamespaceSelector>,
}

/// Selects namespaces by label.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NamespaceSelector {
    /// Labels the namespace must have.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
}

impl AccessFrom {
    /// Whether a namespace with `labels` may refer to the object.
    pub fn allows(&self, labels: &BTreeMap<String, String>) -> bool {
        self.namespace_selectors.iter().any(|selector| {
            selector
                .match_labels
                .iter()
                .all(|(key, value)| labels.get(key) == Some(value))
        })
    }
}

/// A Kubernetes label selector.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelector {
    /// Labels that must be equal.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    /// Set-based requirements.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One set-based requirement of a [`LabelSelector`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelectorRequirement {
    /// The label key.
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: SelectorOperator,
    /// Values for `In`/`NotIn`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// The operator of a [`LabelSelectorRequirement`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SelectorOperator {
    /// The label's value is one of `values`.
    In,
    /// The label is absent or its value is none of `values`.
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
}

impl LabelSelector {
    /// Whether `labels` satisfy the selector.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(key, value)| labels.get(key) == Some(value))
            && self.match_expressions.iter().all(|requirement| {
                let value = labels.get(&requirement.key);
                match requirement.operator {
                    SelectorOperator::In => value.is_some_and(|v| requirement.values.contains(v)),
                    SelectorOperator::NotIn => {
                        value.is_none_or(|v| !requirement.values.contains(v))
                    }
                    SelectorOperator::Exists => value.is_some(),
                    SelectorOperator::DoesNotExist => value.is_none(),
                }
            })
    }
}

/// A Go-style duration (`30s`, `5m`, `1h30m`, `1.5h`, `500ms`), as Flux's
/// `interval` and `timeout` fields use. Parsed when read: an invalid one is an
/// error naming the field.
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

    /// The duration in Go's notation (`1h30m0s`, `1.5s`, `250ms`).
    pub fn to_go_string(&self) -> String {
        let total = self.0;
        if total.is_zero() {
            return "0s".to_string();
        }
        if total < Duration::from_secs(1) {
            let millis = total.as_secs_f64() * 1e3;
            return format!("{}ms", trim_float(millis));
        }
        let seconds = total.as_secs();
        let (hours, minutes) = (seconds / 3600, (seconds % 3600) / 60);
        let rest = total.as_secs_f64() - (hours * 3600 + minutes * 60) as f64;
        let mut text = String::new();
        if hours > 0 {
            text.push_str(&format!("{hours}h"));
        }
        if hours > 0 || minutes > 0 {
            text.push_str(&format!("{minutes}m"));
        }
        text.push_str(&format!("{}s", trim_float(rest)));
        text
    }
}

fn trim_float(value: f64) -> String {
    let text = format!("{value:.9}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_string()
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl Serialize for GoDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_go_string())
    }
}

impl JsonSchema for GoDuration {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "GoDuration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "pattern": DURATION_PATTERN})
    }
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

    #[test]
    fn durations_print_in_go_notation() {
        for (text, printed) in [
            ("90s", "1m30s"),
            ("1h", "1h0m0s"),
            ("1.5s", "1.5s"),
            ("250ms", "250ms"),
            ("0", "0s"),
        ] {
            assert_eq!(GoDuration::parse(text).unwrap().to_go_string(), printed);
        }
    }

    #[test]
    fn label_selectors_match_like_kubernetes() {
        let labels: BTreeMap<String, String> = [("team".to_string(), "shop".to_string())]
            .into_iter()
            .collect();
        let selector = LabelSelector {
            match_labels: labels.clone(),
            match_expressions: vec![LabelSelectorRequirement {
                key: "tier".into(),
                operator: SelectorOperator::DoesNotExist,
                values: vec![],
            }],
        };
        assert!(selector.matches(&labels));
        assert!(LabelSelector::default().matches(&BTreeMap::new()));
        assert!(!selector.matches(&BTreeMap::new()));
    }
}

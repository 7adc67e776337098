//! `ImageUpdateAutomation` (Flux's `image.toolkit.fluxcd.io` shape): which
//! repository to write policy results into, and how to commit and push.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::meta::{GoDuration, LocalObjectReference, NamespacedObjectReference, ObjectMeta};
use super::source::GitReference;

/// An ImageUpdateAutomation object as written in YAML.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageUpdateAutomationObject {
    /// `tagpilot.dev/v1alpha1` or `image.toolkit.fluxcd.io/v1` (`/v1beta2`).
    pub api_version: String,
    /// `ImageUpdateAutomation`.
    pub kind: String,
    /// Name, namespace, labels, annotations.
    pub metadata: ObjectMeta,
    /// What to update, commit and push.
    pub spec: ImageUpdateAutomationSpec,
}

/// `spec` of an ImageUpdateAutomation.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageUpdateAutomationSpec {
    /// The GitRepository to write to.
    pub source_ref: NamespacedObjectReference,
    /// Checkout, commit and push settings.
    #[serde(default)]
    pub git: Option<GitSpec>,
    /// How often to run.
    pub interval: GoDuration,
    /// Which ImagePolicies (by label) feed this automation; all in the namespace when absent.
    #[serde(default)]
    pub policy_selector: Option<LabelSelector>,
    /// Where and how to update.
    #[serde(default)]
    pub update: Option<UpdateSpec>,
    /// Stop running while true.
    #[serde(default)]
    pub suspend: bool,
}

/// `spec.git`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitSpec {
    /// Which branch to check out (the GitRepository's when absent).
    #[serde(default)]
    pub checkout: Option<GitCheckoutSpec>,
    /// Commit author, message, signing.
    pub commit: CommitSpec,
    /// Where to push (the checkout branch when absent).
    #[serde(default)]
    pub push: Option<PushSpec>,
}

/// `spec.git.checkout`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitCheckoutSpec {
    /// The reference to check out.
    #[serde(rename = "ref")]
    pub reference: GitReference,
}

/// `spec.git.commit`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CommitSpec {
    /// Author (and committer) of the commits.
    pub author: CommitAuthor,
    /// A key to sign commits with.
    #[serde(default)]
    pub signing_key: Option<SigningKeySpec>,
    /// A Handlebars template for the commit message.
    #[serde(default)]
    pub message_template: Option<String>,
    /// Extra values for the template (`values`).
    #[serde(default)]
    pub message_template_values: BTreeMap<String, String>,
}

/// `spec.git.commit.author`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CommitAuthor {
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Email.
    pub email: String,
}

/// `spec.git.commit.signingKey`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SigningKeySpec {
    /// The Secret holding the key (`identity` for ssh, `git.asc` for gpg).
    pub secret_ref: LocalObjectReference,
    /// `ssh` or `gpg` (Flux's default; not supported yet).
    #[serde(default, rename = "type")]
    pub key_type: Option<String>,
}

/// `spec.git.push`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PushSpec {
    /// The branch to push to.
    #[serde(default)]
    pub branch: Option<String>,
    /// A refspec to push as well.
    #[serde(default)]
    pub refspec: Option<String>,
    /// Push options (accepted; sent where the transport supports them).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

/// `spec.update`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateSpec {
    /// The path under the repository root to update (the root when absent).
    #[serde(default)]
    pub path: Option<String>,
    /// Only `Setters`.
    #[serde(default)]
    pub strategy: Option<String>,
}

/// A Kubernetes label selector.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelector {
    /// Labels that must be equal.
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
    /// Set-based requirements.
    #[serde(default)]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One set-based requirement of a [`LabelSelector`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelectorRequirement {
    /// The label key.
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: String,
    /// Values for `In`/`NotIn`.
    #[serde(default)]
    pub values: Vec<String>,
}

impl LabelSelector {
    /// Whether `labels` satisfy the selector (unknown operators match nothing).
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(key, value)| labels.get(key) == Some(value))
            && self.match_expressions.iter().all(|requirement| {
                let value = labels.get(&requirement.key);
                match requirement.operator.as_str() {
                    "In" => value.is_some_and(|v| requirement.values.contains(v)),
                    "NotIn" => value.is_none_or(|v| !requirement.values.contains(v)),
                    "Exists" => value.is_some(),
                    "DoesNotExist" => value.is_none(),
                    _ => false,
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::load::parse_objects;

    #[test]
    fn the_example_automation_parses_and_names_unknown_fields() {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/config-repo.yaml"),
        )
        .unwrap();
        let objects = parse_objects(Path::new("config-repo.yaml"), &text).unwrap();
        let automation: ImageUpdateAutomationObject = objects[1].parse().unwrap();
        let git = automation.spec.git.unwrap();
        assert_eq!(git.commit.author.email, "tagpilot@example.com");
        assert_eq!(git.push.unwrap().branch.as_deref(), Some("main"));
        assert_eq!(
            automation.spec.update.unwrap().path.as_deref(),
            Some("./overlays/production")
        );

        let typo = text.replace("    strategy: Setters", "    stratgy: Setters");
        let objects = parse_objects(Path::new("config-repo.yaml"), &typo).unwrap();
        let error = objects[1]
            .parse::<ImageUpdateAutomationObject>()
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "config-repo.yaml (document 2): ImageUpdateAutomation shop/shop: spec.update.stratgy: unknown field `stratgy`, expected `path` or `strategy`"
        );
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
                operator: "DoesNotExist".into(),
                values: vec![],
            }],
        };
        assert!(selector.matches(&labels));
        assert!(LabelSelector::default().matches(&BTreeMap::new()));
        assert!(!selector.matches(&BTreeMap::new()));
    }
}

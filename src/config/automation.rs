//! ImageUpdateAutomation objects (any served version, read into
//! [`ImageUpdateAutomationSpec`]) validated into an [`AutomationEntry`]: what
//! to check out, how to commit (author, message template and its language,
//! signing key resolved from its Secret), where to push, and for strategy
//! `Annotations` how registries are scanned ([`AnnotationSettings`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::annotation_registries::AnnotationSettings;
use super::load::Invalid;
use super::meta::{ObjectKey, repository_path};
use super::source::{SourceEntry, git_reference};
use crate::api::automation::{ImageUpdateAutomationSpec, SigningKeyType};
use crate::api::meta::LabelSelector;
use crate::api::{ApiObject, ApiVersion};
use crate::git::{
    Author, CheckoutSpec, CommitSpec, FluxTemplateVersion, MessageTemplate, PushSpec, Secret,
    SigningKey, check_signing_key, validate_flux_template, validate_template,
};
use crate::registry::SecretSource;

/// An ImageUpdateAutomation as read from a file or the API server.
pub type ImageUpdateAutomationObject = ApiObject<ImageUpdateAutomationSpec>;

/// The author name used when an automation gives none.
pub const DEFAULT_AUTHOR_NAME: &str = "tagpilot";

/// An ImageUpdateAutomation, ready to run.
#[derive(Debug, Clone)]
pub struct AutomationEntry {
    /// The GitRepository it writes to.
    pub source: ObjectKey,
    /// What to check out (`git.checkout.ref`, else the GitRepository's `ref`).
    pub checkout: CheckoutSpec,
    /// Author, message template (and its language), signing key.
    pub commit: CommitSpec,
    /// Where to push, and the push options.
    pub push: PushSpec,
    /// Propose the push branch as a pull request (`git.push.pullRequest`).
    pub pull_request: Option<crate::forge::PullRequestSpec>,
    /// `messageTemplateValues`.
    pub values: BTreeMap<String, String>,
    /// The path under the repository root to update.
    pub path: PathBuf,
    /// Which policies (same namespace) feed it; all when `None`.
    pub selector: Option<LabelSelector>,
    /// How often to run.
    pub interval: Duration,
    /// Not run while true.
    pub suspend: bool,
    /// Strategy `Annotations` (Flux v1 workload annotations) and how it scans
    /// registries; `None` for strategy `Setters`.
    pub annotations: Option<AnnotationSettings>,
}

impl AutomationEntry {
    /// How often it runs: its interval, or the shortest scan interval of its
    /// registries when that is shorter (strategy `Annotations` scans in its runs).
    pub fn run_interval(&self) -> Duration {
        self.annotations
            .as_ref()
            .map_or(self.interval, |a| a.shortest_interval().min(self.interval))
    }
}

/// The template language of an object written in `version`.
fn message_template(version: ApiVersion, source: Option<&str>) -> Option<MessageTemplate> {
    let flux = |version| {
        Some(MessageTemplate::Flux {
            source: source.map(str::to_string),
            version,
        })
    };
    match version {
        ApiVersion::Tagpilot => source.map(MessageTemplate::from),
        ApiVersion::FluxV1beta1 => flux(FluxTemplateVersion::V1Beta1),
        ApiVersion::FluxV1beta2 => flux(FluxTemplateVersion::V1Beta2),
        ApiVersion::FluxV1 => flux(FluxTemplateVersion::V1),
    }
}

/// Push options as Flux sends them: `key=value`, also when the value is
/// empty (`merge_request.create=`, which GitLab reads as set).
fn push_options(options: &BTreeMap<String, String>) -> Vec<String> {
    options
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect()
}

impl AutomationEntry {
    /// Validates an automation; its GitRepository comes from `sources` and its
    /// signing key's Secret from `secrets`.
    pub fn from_object(
        object: &ImageUpdateAutomationObject,
        sources: &BTreeMap<ObjectKey, SourceEntry>,
        secrets: &impl SecretSource,
    ) -> Result<Self, Invalid> {
        let spec = &object.spec;
        let namespace = object.metadata.namespace();
        if let Some(kind) = spec.source_ref.kind.as_deref()
            && kind != "GitRepository"
        {
            return Err(Invalid::spec(format!(
                "spec.sourceRef.kind: {kind:?} is not supported; use GitRepository"
            )));
        }
        let source = ObjectKey::new(
            spec.source_ref.namespace_or(namespace),
            &spec.source_ref.name,
        );
        let source_entry = sources.get(&source).ok_or_else(|| {
            Invalid::missing(format!(
                "spec.sourceRef: GitRepository {source} is not defined (or is invalid) in the config directory"
            ))
        })?;
        let git = spec.git.as_ref().ok_or_else(|| {
            Invalid::spec("spec.git: missing; it needs at least commit.author.email")
        })?;
        if spec.interval.0.is_zero() {
            return Err(Invalid::spec("spec.interval must be longer than zero"));
        }
        let reference = match &git.checkout {
            Some(checkout) => git_reference(&checkout.reference),
            None => source_entry.reference.clone(),
        };
        let reference_field = if git.checkout.is_some() {
            "spec.git.checkout.ref"
        } else {
            "the GitRepository's spec.ref"
        };
        reference
            .validate()
            .map_err(|reason| Invalid::spec(format!("{reference_field}: {reason}")))?;
        let push = git.push.clone().unwrap_or_default();
        let push_branch = push.branch.filter(|branch| !branch.is_empty());
        let pull_request = push
            .pull_request
            .as_ref()
            .map(|spec| {
                super::pull_request::pull_request(
                    spec,
                    namespace,
                    &reference,
                    push_branch.as_deref(),
                    source_entry,
                    secrets,
                )
            })
            .transpose()?;
        if push_branch.is_none() && reference.branch().is_none() {
            return Err(Invalid::spec(format!(
                "spec.git.push.branch: required, because the checkout is a {} ({}), not a branch to push to",
                reference.kind(),
                reference_field
            )));
        }
        let commit = &git.commit;
        let message_template =
            message_template(object.api_version, commit.message_template.as_deref());
        match &message_template {
            Some(MessageTemplate::Handlebars(template)) => validate_template(template)
                .map_err(|e| Invalid::spec(format!("spec.git.commit.messageTemplate: {e}")))?,
            Some(MessageTemplate::Flux {
                source: Some(template),
                ..
            }) => validate_flux_template(template)
                .map_err(|e| Invalid::spec(format!("spec.git.commit.messageTemplate: {e}")))?,
            Some(MessageTemplate::Flux { source: None, .. }) | None => {}
        }
        let signing_key = match &commit.signing_key {
            None => None,
            Some(key_spec) => {
                let key = ObjectKey::new(namespace, &key_spec.secret_ref.name);
                let secret = secrets.secret(&key).ok_or_else(|| {
                    Invalid::missing(format!(
                        "spec.git.commit.signingKey.secretRef: Secret {key} not found"
                    ))
                })?;
                let text = |name: &str| {
                    secret
                        .get(name)
                        .map(|v| Secret::new(String::from_utf8_lossy(v).into_owned()))
                };
                let signing_key = match key_spec.key_type.unwrap_or(SigningKeyType::Gpg) {
                    SigningKeyType::Ssh => SigningKey::Ssh {
                        private_key: Secret::new(
                            secret
                                .get("identity")
                                .ok_or_else(|| {
                                    Invalid::spec(format!(
                                        "spec.git.commit.signingKey: Secret {key} has no `identity` (an OpenSSH private key)"
                                    ))
                                })?
                                .to_vec(),
                        ),
                        password: text("password"),
                    },
                    SigningKeyType::Gpg => SigningKey::OpenPgp {
                        armored_key: Secret::new(
                            secret
                                .get("git.asc")
                                .ok_or_else(|| {
                                    Invalid::spec(format!(
                                        "spec.git.commit.signingKey: Secret {key} has no `git.asc` (an ASCII-armored OpenPGP private key)"
                                    ))
                                })?
                                .to_vec(),
                        ),
                        passphrase: text("passphrase"),
                    },
                };
                // Read (and decrypted) now, so a bad key stops the automation
                // before any run, naming the Secret.
                check_signing_key(&signing_key).map_err(|reason| {
                    Invalid::spec(format!(
                        "spec.git.commit.signingKey: Secret {key}: {reason}"
                    ))
                })?;
                Some(signing_key)
            }
        };
        let update = spec.update.clone().unwrap_or_default();
        let path = repository_path(update.path.as_deref().unwrap_or("."))
            .map_err(|message| Invalid::spec(format!("spec.update.path: {message}")))?;
        let annotations = AnnotationSettings::from_spec(&update, namespace, spec.interval.0)?;
        if annotations.is_some() && spec.policy_selector.is_some() {
            return Err(Invalid::spec(
                "spec.policySelector: strategy Annotations uses no ImagePolicies; remove the selector",
            ));
        }
        Ok(Self {
            source,
            checkout: CheckoutSpec { reference },
            commit: CommitSpec {
                author: Author {
                    name: commit
                        .author
                        .name
                        .clone()
                        .filter(|name| !name.is_empty())
                        .unwrap_or_else(|| DEFAULT_AUTHOR_NAME.to_string()),
                    email: commit.author.email.clone(),
                },
                message_template,
                signing_key,
            },
            push: PushSpec {
                branch: push_branch,
                refspec: push.refspec.filter(|refspec| !refspec.is_empty()),
                options: push_options(&push.options),
            },
            pull_request,
            values: commit.message_template_values.clone(),
            path,
            selector: spec.policy_selector.clone(),
            interval: spec.interval.0,
            suspend: spec.suspend,
            annotations,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_options_are_written_as_flux_sends_them() {
        let options = BTreeMap::from([
            ("merge_request.create".to_string(), String::new()),
            ("merge_request.target".to_string(), "main".to_string()),
            ("topic".to_string(), "bumps".to_string()),
        ]);
        assert_eq!(
            push_options(&options),
            [
                "merge_request.create=",
                "merge_request.target=main",
                "topic=bumps"
            ]
        );
    }

    /// Loads a config text and returns the load errors' messages.
    fn load_errors(text: &str) -> Vec<String> {
        let objects =
            super::super::load::parse_objects(std::path::Path::new("config.yaml"), text).unwrap();
        let (_, errors) = crate::engine::objects::ObjectSet::from_raw(&objects);
        errors.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_signing_key_that_cannot_sign_is_refused_at_load_naming_the_secret() {
        let config = |key: &str, extra: &str| {
            format!(
                "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {{name: config, namespace: apps}}\nspec: {{url: 'ssh://git@example.com/config.git', interval: 1m, ref: {{branch: main}}}}\n---\n\
                 apiVersion: v1\nkind: Secret\nmetadata: {{name: signing, namespace: apps}}\nstringData:\n  {key}: 'garbage-key-material'\n{extra}---\n\
                 apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageUpdateAutomation\nmetadata: {{name: bump, namespace: apps}}\nspec:\n  sourceRef: {{kind: GitRepository, name: config}}\n  interval: 1m\n  git:\n    commit:\n      author: {{email: bot@example.com}}\n      signingKey:\n        secretRef: {{name: signing}}\n"
            )
        };
        let errors = load_errors(&config("git.asc", "  passphrase: 'pass-Word-1'\n"));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].contains("spec.git.commit.signingKey: Secret apps/signing: `git.asc`: not an ASCII-armored OpenPGP private key"),
            "{errors:?}"
        );
        assert!(
            !errors[0].contains("garbage-key-material") && !errors[0].contains("pass-Word-1"),
            "{errors:?}"
        );
        let ssh = config("identity", "").replace(
            "        secretRef: {name: signing}\n",
            "        secretRef: {name: signing}\n        type: ssh\n",
        );
        let errors = load_errors(&ssh);
        assert!(
            errors.len() == 1
                && errors[0]
                    .contains("spec.git.commit.signingKey: Secret apps/signing: `identity`: not an OpenSSH private key"),
            "{errors:?}"
        );
    }

    #[test]
    fn a_checkout_reference_git_cannot_resolve_is_refused_at_load() {
        let config = |reference: &str, push: &str| {
            format!(
                "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {{name: config, namespace: apps}}\nspec: {{url: 'ssh://git@example.com/config.git', interval: 1m, ref: {{branch: main}}}}\n---\n\
                 apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageUpdateAutomation\nmetadata: {{name: bump, namespace: apps}}\nspec:\n  sourceRef: {{kind: GitRepository, name: config}}\n  interval: 1m\n  git:\n    checkout:\n      ref: {reference}\n    commit:\n      author: {{email: bot@example.com}}\n{push}"
            )
        };
        let push = "    push:\n      branch: updates\n";
        for (reference, expected) in [
            (
                "{semver: 'not a range'}",
                "spec.git.checkout.ref: invalid semver range \"not a range\"",
            ),
            (
                "{name: 'pull/7/head'}",
                "spec.git.checkout.ref: name \"pull/7/head\" is not a full reference name",
            ),
            (
                "{commit: 'abc123'}",
                "spec.git.checkout.ref: commit \"abc123\" is not a full commit id (40 hexadecimal digits)",
            ),
        ] {
            let errors = load_errors(&config(reference, push));
            assert!(
                errors.len() == 1 && errors[0].contains(expected),
                "{reference}: {errors:?}"
            );
        }
        assert!(load_errors(&config("{tag: v1.0.0}", push)).is_empty());
        let errors = load_errors(&config("{tag: v1.0.0}", ""));
        assert!(
            errors.len() == 1
                && errors[0].contains("spec.git.push.branch: required, because the checkout is a tag (spec.git.checkout.ref)"),
            "{errors:?}"
        );
    }

    #[test]
    fn the_template_language_follows_the_version() {
        assert_eq!(
            message_template(ApiVersion::Tagpilot, Some("{{automation.name}}")),
            Some(MessageTemplate::Handlebars("{{automation.name}}".into()))
        );
        assert_eq!(message_template(ApiVersion::Tagpilot, None), None);
        assert_eq!(
            message_template(ApiVersion::FluxV1beta1, None),
            Some(MessageTemplate::Flux {
                source: None,
                version: FluxTemplateVersion::V1Beta1
            })
        );
        assert_eq!(
            message_template(ApiVersion::FluxV1, Some("{{ .AutomationObject }}")),
            Some(MessageTemplate::Flux {
                source: Some("{{ .AutomationObject }}".into()),
                version: FluxTemplateVersion::V1
            })
        );
    }
}

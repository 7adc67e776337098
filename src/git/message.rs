//! Commit messages: the template data, Handlebars rendering (no HTML escaping,
//! strict mode: an unknown variable is an error naming it) and the default message.
//!
//! # Template data
//!
//! `git.commit.messageTemplate` is rendered with this data:
//!
//! | variable | content |
//! | --- | --- |
//! | `automation.namespace`, `automation.name` | the ImageUpdateAutomation |
//! | `changes` | every changed value: `file` (relative path), `line` (1-based), `setter` (the marker's `namespace:policy[:suffix]`), `old`, `new` |
//! | `images` | every policy result written: `policy` (ImagePolicy name), `namespace`, `name` (image repository), `tag`, `digest` (or null), `previous` (the policy's result before, or null), and what the registry says ([`ImageAbout`]): `source`, `revision`, `version`, `created` (the new image's OCI annotations), `old` (the reference the files held), `old_revision`, `old_version`, `compare_url` (each null when unknown) |
//! | `values` | `messageTemplateValues`, a map of strings |
//!
//! For example:
//!
//! ```text
//! Automated update by {{automation.namespace}}/{{automation.name}}
//!
//! {{#each changes}}
//! - {{file}}:{{line}} {{old}} -> {{new}}
//! {{/each}}
//! ```
//!
//! The rendered message is trimmed at the end and gets one final newline.
//!
//! The default message lists each change, then, for each image the registry
//! told something about, its version, source, revision (with the old ones),
//! created time and compare link.

use std::collections::BTreeMap;

use handlebars::{Handlebars, RenderErrorReason};
use serde::Serialize;

use super::error::GitError;
use super::flux_message::render_flux_message;
pub use super::message_images::ImageAbout;
use super::spec::MessageTemplate;

/// The ImageUpdateAutomation a commit is made for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AutomationRef {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

/// One changed value (one marker) in the repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeLine {
    /// The file, relative to the repository root, with `/` separators.
    pub file: String,
    /// The 1-based line of the value.
    pub line: usize,
    /// The marker's setter, e.g. `shop:front-end` or `shop:front-end:tag`.
    pub setter: String,
    /// The value before.
    pub old: String,
    /// The value after.
    pub new: String,
    /// The object (YAML document) the value is in, when the document has one
    /// (Flux templates group changes by it; not part of the Handlebars data).
    #[serde(skip)]
    pub object: Option<crate::update::ObjectId>,
}

/// One policy result written into the repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageUpdate {
    /// The ImagePolicy's name.
    pub policy: String,
    /// The ImagePolicy's namespace.
    pub namespace: String,
    /// The image repository, e.g. `ghcr.io/acme/front-end`.
    pub name: String,
    /// The tag chosen.
    pub tag: String,
    /// Its digest, when digest reflection is on.
    pub digest: Option<String>,
    /// The reference it replaced, when known.
    pub previous: Option<String>,
    /// What the registry says about the new image and the one it replaced
    /// (filled in by the engine before the message is rendered).
    #[serde(flatten)]
    pub about: ImageAbout,
}

/// What one application of policy results changed (the `apply` step's result).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ChangeSet {
    /// Every changed value, ordered by file then line.
    pub changes: Vec<ChangeLine>,
    /// Every policy result that changed something.
    pub images: Vec<ImageUpdate>,
}

/// Everything a commit message template can use (see the module documentation).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MessageData {
    /// The automation.
    pub automation: AutomationRef,
    /// Every changed value.
    pub changes: Vec<ChangeLine>,
    /// Every policy result that changed something.
    pub images: Vec<ImageUpdate>,
    /// `messageTemplateValues`.
    pub values: BTreeMap<String, String>,
    /// The automation's `spec.update.path` (`""` for the repository root):
    /// Flux's template data names files relative to it. Not Handlebars data.
    #[serde(skip)]
    pub update_path: String,
}

impl MessageData {
    /// The data for `automation`'s commit of `changes`, with `values`.
    pub fn new(
        automation: AutomationRef,
        changes: &ChangeSet,
        values: BTreeMap<String, String>,
    ) -> Self {
        Self {
            automation,
            changes: changes.changes.clone(),
            images: changes.images.clone(),
            values,
            update_path: String::new(),
        }
    }

    /// The same data for an automation whose `spec.update.path` is `path`.
    pub fn with_update_path(mut self, path: impl Into<String>) -> Self {
        self.update_path = path.into();
        self
    }
}

/// The commit message of an automation whose template is `template`:
///
/// - none (a `tagpilot.dev` object without one): tagpilot's default message;
/// - [`MessageTemplate::Handlebars`]: [`render_message`] (trimmed at the end,
///   one final newline);
/// - [`MessageTemplate::Flux`]: [`render_flux_message`] over Flux's data for
///   the object's version, the text as it is (Flux neither trims it nor adds a
///   newline; an empty template is Flux's default message).
pub fn render_commit_message(
    template: Option<&MessageTemplate>,
    data: &MessageData,
) -> Result<String, GitError> {
    match template {
        None => render_message(None, data),
        Some(MessageTemplate::Handlebars(source)) => render_message(Some(source), data),
        Some(MessageTemplate::Flux { source, version }) => {
            let changes = ChangeSet {
                changes: data.changes.clone(),
                images: data.images.clone(),
            };
            render_flux_message(
                source.as_deref().unwrap_or_default(),
                *version,
                &data.automation,
                &data.values,
                &data.update_path,
                &changes,
            )
            .map_err(|source| GitError::FluxMessage { source })
        }
    }
}

fn registry() -> Handlebars<'static> {
    let mut registry = Handlebars::new();
    registry.set_strict_mode(true);
    registry.register_escape_fn(handlebars::no_escape);
    registry
}

/// Checks that `template` compiles (for validating configuration early).
pub fn validate_template(template: &str) -> Result<(), GitError> {
    handlebars::Template::compile(template)
        .map(|_| ())
        .map_err(|error| GitError::TemplateSyntax {
            source: Box::new(error),
        })
}

/// Renders the commit message: `template` with `data`, or the default message.
///
/// The default subject is `Update image: NAMESPACE/POLICY → TAG` for one
/// image, `Update N images` for several, and the body lists each change as
/// `FILE:LINE SETTER OLD → NEW`.
pub fn render_message(template: Option<&str>, data: &MessageData) -> Result<String, GitError> {
    let rendered = match template {
        None => default_message(data),
        Some(template) => {
            validate_template(template)?;
            registry()
                .render_template(template, data)
                .map_err(|error| match error.reason() {
                    RenderErrorReason::MissingVariable(Some(variable)) => {
                        GitError::TemplateUnknownVariable {
                            variable: variable.clone(),
                        }
                    }
                    _ => GitError::TemplateRender {
                        source: Box::new(error),
                    },
                })?
        }
    };
    Ok(format!("{}\n", rendered.trim_end()))
}

/// The default message's lines about `image`, when the registry told something.
fn about_lines(image: &ImageUpdate) -> Option<String> {
    let about = &image.about;
    let was = |new: &Option<String>, old: &Option<String>| match (new, old) {
        (Some(new), Some(old)) if new != old => Some(format!("{new} (was {old})")),
        (Some(new), _) => Some(new.clone()),
        (None, _) => None,
    };
    let lines: Vec<String> = [
        ("version", was(&about.version, &about.old_version)),
        ("source", about.source.clone()),
        ("revision", was(&about.revision, &about.old_revision)),
        ("created", about.created.clone()),
        ("changes", about.compare_url.clone()),
    ]
    .into_iter()
    .filter_map(|(label, value)| Some(format!("  {label}: {}\n", value?)))
    .collect();
    (!lines.is_empty()).then(|| format!("{}:{}\n{}", image.name, image.tag, lines.concat()))
}

fn default_message(data: &MessageData) -> String {
    let subject = match data.images.as_slice() {
        [image] => format!(
            "Update image: {}/{} → {}",
            image.namespace, image.policy, image.tag
        ),
        [] if data.changes.len() == 1 => "Update 1 image reference".to_string(),
        [] => format!("Update {} image references", data.changes.len()),
        images => format!("Update {} images", images.len()),
    };
    let mut message = subject;
    if !data.changes.is_empty() {
        message.push_str("\n\n");
        for change in &data.changes {
            message.push_str(&format!(
                "{}:{} {} {} → {}\n",
                change.file, change.line, change.setter, change.old, change.new
            ));
        }
    }
    for lines in data.images.iter().filter_map(about_lines) {
        message.push('\n');
        message.push_str(&lines);
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> MessageData {
        MessageData {
            automation: AutomationRef {
                namespace: "flux-system".into(),
                name: "apps".into(),
            },
            changes: vec![ChangeLine {
                file: "apps/front-end.yaml".into(),
                line: 12,
                setter: "shop:front-end".into(),
                old: "ghcr.io/acme/front-end:main-0a0a0a0-117".into(),
                new: "ghcr.io/acme/front-end:main-1a2b3c4-118".into(),
                object: None,
            }],
            images: vec![ImageUpdate {
                policy: "front-end".into(),
                namespace: "shop".into(),
                name: "ghcr.io/acme/front-end".into(),
                tag: "main-1a2b3c4-118".into(),
                digest: None,
                previous: Some("ghcr.io/acme/front-end:main-0a0a0a0-117".into()),
                about: ImageAbout::default(),
            }],
            values: BTreeMap::from([("team".to_string(), "<shop> & co".to_string())]),
            update_path: String::new(),
        }
    }

    #[test]
    fn default_message_lists_each_change() {
        assert_eq!(
            render_message(None, &data()).unwrap(),
            "Update image: shop/front-end → main-1a2b3c4-118\n\n\
             apps/front-end.yaml:12 shop:front-end ghcr.io/acme/front-end:main-0a0a0a0-117 → ghcr.io/acme/front-end:main-1a2b3c4-118\n"
        );
        let mut several = data();
        several.images.push(several.images[0].clone());
        several.images.push(several.images[0].clone());
        assert!(
            render_message(None, &several)
                .unwrap()
                .starts_with("Update 3 images\n\n")
        );
    }

    #[test]
    fn templates_render_without_html_escaping() {
        let template = "{{automation.namespace}}/{{automation.name}} for {{values.team}}\n\n\
                        {{#each changes}}{{file}}:{{line}} {{old}} -> {{new}}\n{{/each}}\
                        {{#each images}}{{name}}:{{tag}} digest={{digest}}{{/each}}\n\n\n";
        assert_eq!(
            render_message(Some(template), &data()).unwrap(),
            "flux-system/apps for <shop> & co\n\n\
             apps/front-end.yaml:12 ghcr.io/acme/front-end:main-0a0a0a0-117 -> ghcr.io/acme/front-end:main-1a2b3c4-118\n\
             ghcr.io/acme/front-end:main-1a2b3c4-118 digest=\n"
        );
    }

    #[test]
    fn unknown_variables_are_errors_naming_the_variable() {
        let error = render_message(Some("Update {{automation.nmae}}"), &data()).unwrap_err();
        assert!(
            matches!(&error, GitError::TemplateUnknownVariable { variable } if variable == "automation.nmae"),
            "{error:?}"
        );
        assert!(error.to_string().contains("\"automation.nmae\""), "{error}");
        let error =
            render_message(Some("{{#each changes}}{{fiel}}{{/each}}"), &data()).unwrap_err();
        assert!(error.to_string().contains("fiel"), "{error}");
    }

    #[test]
    fn the_template_language_decides_how_the_message_is_made() {
        use crate::git::flux_message::{DEFAULT_FLUX_MESSAGE, FluxTemplateVersion};
        let flux = |source: Option<&str>, version| MessageTemplate::Flux {
            source: source.map(str::to_string),
            version,
        };
        let v1 = FluxTemplateVersion::V1;
        // Flux's text is the message as it is: no trimming, no newline added.
        assert_eq!(
            render_commit_message(Some(&flux(Some("  {{ .Values.team }}\n\n\n"), v1)), &data())
                .unwrap(),
            "  <shop> & co\n\n\n"
        );
        assert_eq!(
            render_commit_message(Some(&flux(None, v1)), &data()).unwrap(),
            DEFAULT_FLUX_MESSAGE
        );
        assert_eq!(
            render_commit_message(Some(&flux(Some(""), v1)), &data()).unwrap(),
            DEFAULT_FLUX_MESSAGE
        );
        // Handlebars and the default message are tagpilot's, as before.
        assert_eq!(
            render_commit_message(Some(&MessageTemplate::from("{{values.team}}\n\n")), &data())
                .unwrap(),
            "<shop> & co\n"
        );
        assert_eq!(
            render_commit_message(None, &data()).unwrap(),
            render_message(None, &data()).unwrap()
        );
        // A v1 template using the removed `.Updated`: Flux's error, carried.
        let error = render_commit_message(Some(&flux(Some("{{ .Updated.Images }}"), v1)), &data())
            .unwrap_err();
        assert!(matches!(error, GitError::FluxMessage { .. }), "{error:?}");
        assert_eq!(
            error.to_string(),
            "commit message template (git.commit.messageTemplate): template uses removed '.Updated' field. \
             Please use '.Changed' instead. See: https://fluxcd.io/flux/components/image/imageupdateautomations/#message-template"
        );
        assert!(!error.is_transient());
        // v1beta1 still has it.
        let beta1 = FluxTemplateVersion::V1Beta1;
        assert!(
            render_commit_message(Some(&flux(Some("{{ .Updated.Images }}"), beta1)), &data())
                .is_ok()
        );
    }

    #[test]
    fn syntax_errors_are_reported() {
        assert!(matches!(
            validate_template("{{#each changes}}"),
            Err(GitError::TemplateSyntax { .. })
        ));
        assert!(matches!(
            render_message(Some("{{#each changes}}"), &data()),
            Err(GitError::TemplateSyntax { .. })
        ));
        validate_template("{{automation.name}}").unwrap();
    }
}

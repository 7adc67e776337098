//! Commit messages of Flux objects: `messageTemplate` is Go `text/template`
//! with Sprig's hermetic functions ([`crate::gotemplate`]), over the data Flux
//! gives it for the object's API version, rendered as Flux renders it.
//!
//! # Template data
//!
//! For `image.toolkit.fluxcd.io/v1beta2` and `v1` (current Flux, type names
//! as Go prints them):
//!
//! | field | Go type | content |
//! | --- | --- | --- |
//! | `.AutomationObject` | `types.NamespacedName` | the automation; prints as `namespace/name`; `.Namespace`, `.Name` |
//! | `.Changed` | `update.Result` | `.FileChanges`: file → object → changes; methods `.Changes` (every change once) and `.Objects` (object → changes) |
//! | `.Values` | `map[string]string` | `messageTemplateValues` |
//!
//! An object (`update.ObjectIdentifier`) has `.APIVersion`, `.Kind`,
//! `.Name`, `.Namespace` (from its YAML document); a change
//! (`update.Change`) has `.OldValue`, `.NewValue`, `.Setter`. `.Updated`
//! and `.Changed.ImageResult` fail with Flux's message that they were removed.
//!
//! For `v1beta1` (the data of image-automation-controller v0.41, the last to
//! serve it), `.Changed` is `update.ResultV2` (the same, plus
//! `.ImageResult`), and `.Updated` is `update.Result`: `.Files`: file →
//! `.Objects`: object → images; methods `.Images` (every image once) and
//! `.Objects`. An image prints as its full reference (`repo:tag`, with
//! `@digest` when known) and has `.Name`, `.Repository`, `.Registry`,
//! `.Identifier` and `.Policy` (`namespace/name`).
//!
//! File names are relative to the automation's `update.path` (to its
//! directory when it names a file), as Flux's file reader makes them.
//! Changes in YAML documents without `apiVersion`, `kind` or `metadata` are
//! left out of the data, as Flux leaves them out. Where Flux iterates Go maps
//! (`.Changes`, `.Objects`, `.Images` over several files or objects) its
//! order is random; here it is files in name order, then objects in Go's key
//! order.
//!
//! tagpilot adds one method to the data of every version, `.Images`: the
//! updated images with their OCI annotations and compare link (see
//! `flux_message_images`). Flux templates do not call it, and it changes
//! nothing they print.
//!
//! An empty template is Flux's default message, `Update from image update
//! automation`. The rendered text is the commit message as it is: Flux does
//! not trim it or add a newline.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::message::{AutomationRef, ChangeSet};
use crate::gotemplate::{Field, Map, Struct, Template, TemplateError, Value};
use crate::update::ObjectId;

/// Flux's message when `messageTemplate` is empty.
pub const DEFAULT_FLUX_MESSAGE: &str = "Update from image update automation";

/// The template's name in Go's error messages.
const TEMPLATE_NAME: &str = "commit message";

const DOCS: &str =
    "https://fluxcd.io/flux/components/image/imageupdateautomations/#message-template";

/// Which Flux API version's template data to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FluxTemplateVersion {
    /// `image.toolkit.fluxcd.io/v1beta1`: `.Updated` and `.Changed` (with `.ImageResult`).
    V1Beta1,
    /// `image.toolkit.fluxcd.io/v1beta2`: the current data.
    V1Beta2,
    /// `image.toolkit.fluxcd.io/v1`: the current data.
    V1,
}

impl FluxTemplateVersion {
    /// The template flavour of an ImageUpdateAutomation `apiVersion`, or
    /// `None` when it is not one of Flux's (`tagpilot.dev` objects use Handlebars).
    pub fn from_api_version(api_version: &str) -> Option<Self> {
        match api_version {
            "image.toolkit.fluxcd.io/v1beta1" => Some(Self::V1Beta1),
            "image.toolkit.fluxcd.io/v1beta2" => Some(Self::V1Beta2),
            "image.toolkit.fluxcd.io/v1" => Some(Self::V1),
            _ => None,
        }
    }
}

/// Why a Flux commit message could not be rendered; the text is Flux's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FluxMessageError {
    /// The template does not parse (or names a function that does not exist).
    #[error("unable to create commit message template from spec: {source}")]
    Parse {
        /// Go's parse error.
        #[source]
        source: TemplateError,
    },
    /// Executing the template failed.
    #[error("failed to run template from spec: {source}")]
    Execute {
        /// Go's execution error.
        #[source]
        source: TemplateError,
    },
    /// The template uses a field current Flux removed (`.Updated`, `.Changed.ImageResult`).
    #[error("template uses removed '{field}' field. Please use {instead} instead. See: {DOCS}")]
    RemovedField {
        /// The removed field.
        field: &'static str,
        /// What to use instead (quoted field names).
        instead: &'static str,
    },
}

/// Checks that `template` parses (for validating configuration early).
pub fn validate_flux_template(template: &str) -> Result<(), FluxMessageError> {
    Template::parse(TEMPLATE_NAME, template)
        .map(|_| ())
        .map_err(|source| FluxMessageError::Parse { source })
}

/// Renders a Flux `messageTemplate` for `automation`'s commit of `changes`,
/// byte for byte as Flux's image-automation-controller renders it for an
/// object of `version` (see the module documentation for the data).
///
/// `update_path` is the automation's `spec.update.path` as written (`""`
/// for the repository root); `changes` name files relative to the root.
pub fn render_flux_message(
    template: &str,
    version: FluxTemplateVersion,
    automation: &AutomationRef,
    values: &BTreeMap<String, String>,
    update_path: &str,
    changes: &ChangeSet,
) -> Result<String, FluxMessageError> {
    let template = if template.is_empty() {
        DEFAULT_FLUX_MESSAGE
    } else {
        template
    };
    let parsed = Template::parse(TEMPLATE_NAME, template)
        .map_err(|source| FluxMessageError::Parse { source })?;
    let data = template_data(version, automation, values, update_path, changes);
    parsed.execute(&data).map_err(|source| {
        let text = source.to_string();
        if version != FluxTemplateVersion::V1Beta1 {
            if text.contains("can't evaluate field Updated in type source.TemplateData") {
                return FluxMessageError::RemovedField {
                    field: ".Updated",
                    instead: "'.Changed'",
                };
            }
            if text.contains("can't evaluate field ImageResult in type update.Result") {
                return FluxMessageError::RemovedField {
                    field: ".Changed.ImageResult",
                    instead: "'.Changed.FileChanges' or '.Changed.Objects'",
                };
            }
        }
        FluxMessageError::Execute { source }
    })
}

pub(super) fn object(
    type_name: &str,
    fields: Vec<(&str, Value, bool)>,
    methods: Vec<(&str, Value)>,
) -> Value {
    Value::Struct(Arc::new(Struct {
        type_name: type_name.into(),
        fields: fields
            .into_iter()
            .map(|(name, value, embedded)| Field {
                name: name.into(),
                value,
                embedded,
            })
            .collect(),
        methods: methods.into_iter().map(|(n, v)| (n.into(), v)).collect(),
        string: None,
    }))
}

pub(super) fn namespaced_name(namespace: &str, name: &str) -> Value {
    let Value::Struct(inner) = object(
        "types.NamespacedName",
        vec![
            ("Namespace", Value::string(namespace), false),
            ("Name", Value::string(name), false),
        ],
        vec![],
    ) else {
        return Value::Missing;
    };
    let mut inner = (*inner).clone();
    inner.string = Some(format!("{namespace}/{name}").into());
    Value::Struct(Arc::new(inner))
}

pub(super) fn object_identifier(id: &ObjectId) -> Value {
    let type_meta = object(
        "yaml.TypeMeta",
        vec![
            ("APIVersion", Value::string(id.api_version.as_str()), false),
            ("Kind", Value::string(id.kind.as_str()), false),
        ],
        vec![],
    );
    let name_meta = object(
        "yaml.NameMeta",
        vec![
            ("Name", Value::string(id.name.as_str()), false),
            ("Namespace", Value::string(id.namespace.as_str()), false),
        ],
        vec![],
    );
    let resource = object(
        "yaml.ResourceIdentifier",
        vec![("TypeMeta", type_meta, true), ("NameMeta", name_meta, true)],
        vec![],
    );
    object(
        "update.ObjectIdentifier",
        vec![("ResourceIdentifier", resource, true)],
        vec![],
    )
}

fn change(old: &str, new: &str, setter: &str) -> Value {
    object(
        "update.Change",
        vec![
            ("OldValue", Value::string(old), false),
            ("NewValue", Value::string(new), false),
            ("Setter", Value::string(setter), false),
        ],
        vec![],
    )
}

fn changes_list(items: Vec<Value>) -> Value {
    Value::list("[]update.Change", items)
}

pub(super) fn object_map(type_name: &str, zero: Value, entries: Vec<(Value, Value)>) -> Value {
    Value::Map(Arc::new(Map::new(
        type_name,
        "update.ObjectIdentifier",
        zero,
        entries,
    )))
}

pub(super) fn string_map(type_name: &str, zero: Value, entries: Vec<(Value, Value)>) -> Value {
    Value::Map(Arc::new(Map::new(type_name, "string", zero, entries)))
}

/// file → object → changes (in the order the update engine found them), as Flux's `AddChange` builds it.
pub(super) type FileChanges<'a> =
    BTreeMap<String, BTreeMap<&'a ObjectId, Vec<(&'a str, &'a str, &'a str)>>>;

/// The file names Flux uses: relative to the update path (or, when the
/// update path is a file, to its directory), as Flux's file reader makes them.
fn flux_file_names<'a>(update_path: &str, changes: &'a ChangeSet) -> impl Fn(&'a str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in update_path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    let mut base = parts.join("/");
    if !base.is_empty() && changes.changes.iter().any(|c| c.file == base) {
        base = base
            .rsplit_once('/')
            .map(|(dir, _)| dir.to_string())
            .unwrap_or_default();
    }
    move |file: &str| -> String {
        if base.is_empty() {
            return file.to_string();
        }
        match file
            .strip_prefix(base.as_str())
            .and_then(|rest| rest.strip_prefix('/'))
        {
            Some(relative) => relative.to_string(),
            None => file.to_string(),
        }
    }
}

fn file_changes<'a>(update_path: &str, changes: &'a ChangeSet) -> FileChanges<'a> {
    let name = flux_file_names(update_path, changes);
    let mut files: FileChanges<'a> = BTreeMap::new();
    for line in &changes.changes {
        let Some(id) = &line.object else {
            continue;
        };
        files
            .entry(name(line.file.as_str()))
            .or_default()
            .entry(id)
            .or_default()
            .push((line.old.as_str(), line.new.as_str(), line.setter.as_str()));
    }
    files
}

/// `.Changed`'s `FileChanges`, `Changes()` and `Objects()`; `append` merges an
/// object's changes across files (current Flux), otherwise the last file wins (v1beta1).
fn changed_parts(files: &FileChanges<'_>, append: bool) -> (Value, Value, Value) {
    let zero_changes = changes_list(Vec::new());
    let mut all: Vec<(&str, &str, &str)> = Vec::new();
    let mut objects: BTreeMap<&ObjectId, Vec<Value>> = BTreeMap::new();
    let mut per_file = Vec::new();
    for (file, by_object) in files {
        let mut entries = Vec::new();
        // Go's key order: apiVersion, kind, name, namespace — ObjectId's field order.
        for (id, list) in by_object {
            for item in list {
                if !all.contains(item) {
                    all.push(*item);
                }
            }
            let values: Vec<Value> = list.iter().map(|(o, n, s)| change(o, n, s)).collect();
            let slot = objects.entry(id).or_default();
            if !append {
                slot.clear();
            }
            slot.extend(values.iter().cloned());
            entries.push((object_identifier(id), changes_list(values)));
        }
        per_file.push((
            Value::string(file.as_str()),
            object_map("update.ObjectChanges", zero_changes.clone(), entries),
        ));
    }
    let file_map = string_map(
        "map[string]update.ObjectChanges",
        object_map("update.ObjectChanges", zero_changes.clone(), vec![]),
        per_file,
    );
    let changes = changes_list(all.iter().map(|(o, n, s)| change(o, n, s)).collect());
    let objects = object_map(
        "update.ObjectChanges",
        zero_changes,
        objects
            .into_iter()
            .map(|(id, list)| (object_identifier(id), changes_list(list)))
            .collect(),
    );
    (file_map, changes, objects)
}

fn template_data(
    version: FluxTemplateVersion,
    automation: &AutomationRef,
    values: &BTreeMap<String, String>,
    update_path: &str,
    changes: &ChangeSet,
) -> Value {
    let automation_object = namespaced_name(&automation.namespace, &automation.name);
    let values = string_map(
        "map[string]string",
        Value::string(""),
        values
            .iter()
            .map(|(k, v)| (Value::string(k.as_str()), Value::string(v.as_str())))
            .collect(),
    );
    let files = file_changes(update_path, changes);
    let images = super::flux_message_images::images(changes);
    match version {
        FluxTemplateVersion::V1Beta2 | FluxTemplateVersion::V1 => {
            let (file_map, all, objects) = changed_parts(&files, true);
            let changed = object(
                "update.Result",
                vec![("FileChanges", file_map, false)],
                vec![("Changes", all), ("Objects", objects)],
            );
            object(
                "source.TemplateData",
                vec![
                    ("AutomationObject", automation_object, false),
                    ("Changed", changed, false),
                    ("Values", values, false),
                ],
                vec![("Images", images)],
            )
        }
        FluxTemplateVersion::V1Beta1 => {
            let (file_map, all, objects) = changed_parts(&files, false);
            let updated = super::flux_images::updated(&files, changes);
            let changed = object(
                "update.ResultV2",
                vec![
                    ("ImageResult", updated.clone(), false),
                    ("FileChanges", file_map, false),
                ],
                vec![("Changes", all), ("Objects", objects)],
            );
            object(
                "source.TemplateData",
                vec![
                    ("AutomationObject", automation_object, false),
                    ("Updated", updated, false),
                    ("Changed", changed, false),
                    ("Values", values, false),
                ],
                vec![("Images", images)],
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::message::ChangeLine;

    #[test]
    fn api_versions_pick_the_data() {
        assert_eq!(
            FluxTemplateVersion::from_api_version("image.toolkit.fluxcd.io/v1beta1"),
            Some(FluxTemplateVersion::V1Beta1)
        );
        assert_eq!(
            FluxTemplateVersion::from_api_version("tagpilot.dev/v1alpha1"),
            None
        );
    }

    #[test]
    fn changes_outside_objects_are_left_out_and_empty_templates_are_the_default() {
        let automation = AutomationRef {
            namespace: "ns".into(),
            name: "auto".into(),
        };
        let line = |object: Option<ObjectId>| ChangeLine {
            file: "values.yaml".into(),
            line: 1,
            setter: "ns:app:tag".into(),
            old: "1".into(),
            new: "2".into(),
            object,
        };
        let changes = ChangeSet {
            changes: vec![line(None), line(Some(ObjectId::default()))],
            images: vec![],
        };
        let values = BTreeMap::new();
        let render = |t: &str| {
            render_flux_message(
                t,
                FluxTemplateVersion::V1,
                &automation,
                &values,
                "",
                &changes,
            )
        };
        assert_eq!(
            render("{{ len .Changed.Changes }}").ok().as_deref(),
            Some("1")
        );
        assert_eq!(render("").ok().as_deref(), Some(DEFAULT_FLUX_MESSAGE));
        assert!(validate_flux_template("{{ nope }}").is_err());
        assert!(matches!(
            render("{{ .Updated }}"),
            Err(FluxMessageError::RemovedField {
                field: ".Updated",
                ..
            })
        ));
    }
}

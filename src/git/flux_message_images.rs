//! tagpilot's addition to Flux's template data: `.Images`, a method of the
//! data (Flux templates never call it, and printing `.` or any Flux field is
//! unchanged), listing each updated image with what the registry says about
//! it ([`super::message_images`]).
//!
//! Each element is a `tagpilot.Image`; it prints as the new image's full
//! reference (`name:tag`, with `@digest` when known) and has these string
//! fields (`""` when unknown): `.Name`, `.Tag`, `.Digest`, `.Source`,
//! `.Revision`, `.Version`, `.Created` (the new image's OCI annotations),
//! `.Old` (the reference the files held), `.OldRevision`, `.OldVersion`,
//! `.CompareURL`; and `.Policy` (`types.NamespacedName`, prints as
//! `namespace/name`).

use std::sync::Arc;

use super::flux_message::{namespaced_name, object};
use super::message::{ChangeSet, ImageUpdate};
use crate::gotemplate::Value;

/// The Go type name of one element.
const IMAGE_TYPE: &str = "tagpilot.Image";

fn text(value: &Option<String>) -> Value {
    Value::string(value.as_deref().unwrap_or_default())
}

fn image(update: &ImageUpdate) -> Value {
    let about = &update.about;
    let mut reference = format!("{}:{}", update.name, update.tag);
    if let Some(digest) = &update.digest {
        reference.push('@');
        reference.push_str(digest);
    }
    let mut value = object(
        IMAGE_TYPE,
        vec![
            (
                "Policy",
                namespaced_name(&update.namespace, &update.policy),
                false,
            ),
            ("Name", Value::string(update.name.as_str()), false),
            ("Tag", Value::string(update.tag.as_str()), false),
            ("Digest", text(&update.digest), false),
            ("Source", text(&about.source), false),
            ("Revision", text(&about.revision), false),
            ("Version", text(&about.version), false),
            ("Created", text(&about.created), false),
            ("Old", text(&about.old), false),
            ("OldRevision", text(&about.old_revision), false),
            ("OldVersion", text(&about.old_version), false),
            ("CompareURL", text(&about.compare_url), false),
        ],
        vec![],
    );
    if let Value::Struct(inner) = &mut value {
        Arc::make_mut(inner).string = Some(reference.into());
    }
    value
}

/// `.Images`: every updated image, in the order of the change set.
pub(super) fn images(changes: &ChangeSet) -> Value {
    Value::list(
        format!("[]{IMAGE_TYPE}"),
        changes.images.iter().map(image).collect(),
    )
}

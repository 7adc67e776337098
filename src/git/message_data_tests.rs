//! Golden tests of the commit message data: each case under
//! `testdata/message-data/cases/` gives what the registry returned for each
//! updated image and the image it replaced (annotation and label maps, most
//! specific first), and expects, byte for byte, the Handlebars data
//! (`data.json`) and the default message (`default.txt`), and, when the case
//! has a `template.hbs`, its rendering (`template.txt`).
//!
//! `TAGPILOT_WRITE_MESSAGE_DATA=1 cargo test --lib git::message_data`
//! rewrites the expected files after a deliberate change.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::message::{
    AutomationRef, ChangeLine, ChangeSet, ImageAbout, ImageUpdate, MessageData, render_message,
};
use crate::registry::image_details::OciAnnotations;
use crate::update::ObjectId;

#[derive(Deserialize)]
struct Input {
    automation: Automation,
    #[serde(default)]
    values: BTreeMap<String, String>,
    changes: Vec<Change>,
    images: Vec<Image>,
}

#[derive(Deserialize)]
struct Change {
    file: String,
    line: usize,
    setter: String,
    old: String,
    new: String,
}

#[derive(Deserialize)]
struct Image {
    namespace: String,
    policy: String,
    name: String,
    tag: String,
    digest: Option<String>,
    previous: Option<String>,
    /// The new image's annotation maps (index, manifest, config labels).
    registry: Option<Vec<BTreeMap<String, String>>>,
    /// The replaced image's, when the registry could read it.
    old_registry: Option<Vec<BTreeMap<String, String>>>,
}

#[derive(Deserialize)]
struct Automation {
    namespace: String,
    name: String,
}

fn cases() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/message-data/cases")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The message data of a case, built the way the engine builds it.
fn data(input: Input) -> MessageData {
    let mut changes = ChangeSet {
        changes: input
            .changes
            .into_iter()
            .map(|c| ChangeLine {
                file: c.file,
                line: c.line,
                setter: c.setter,
                old: c.old,
                new: c.new,
                object: Some(ObjectId::default()),
            })
            .collect(),
        images: Vec::new(),
    };
    let mut registry = Vec::new();
    for image in input.images {
        registry.push((image.registry, image.old_registry));
        changes.images.push(ImageUpdate {
            policy: image.policy,
            namespace: image.namespace,
            name: image.name,
            tag: image.tag,
            digest: image.digest,
            previous: image.previous,
            about: ImageAbout::default(),
        });
    }
    let olds: Vec<Option<String>> = changes
        .images
        .iter()
        .map(|image| changes.old_reference(image))
        .collect();
    for ((image, old), (new, old_layers)) in changes.images.iter_mut().zip(olds).zip(registry) {
        let new = OciAnnotations::from_layers(new.iter().flatten());
        let old_annotations = old_layers.map(|layers| OciAnnotations::from_layers(&layers));
        image.about = ImageAbout::new(
            &new,
            old.as_deref()
                .map(|reference| (reference, old_annotations.as_ref())),
        );
    }
    let automation = AutomationRef {
        namespace: input.automation.namespace,
        name: input.automation.name,
    };
    MessageData::new(automation, &changes, input.values)
}

#[test]
fn message_data_and_default_messages_match_the_goldens() {
    let write = std::env::var_os("TAGPILOT_WRITE_MESSAGE_DATA").is_some();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(cases())
        .unwrap_or_else(|e| panic!("testdata/message-data/cases: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 6, "only {} cases", dirs.len());
    let mut failures = Vec::new();
    for dir in &dirs {
        let input: Input = serde_json::from_str(&read(&dir.join("input.json")))
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let data = data(input);
        let mut outputs = vec![
            (
                "data.json",
                serde_json::to_string_pretty(&data).unwrap() + "\n",
            ),
            ("default.txt", render_message(None, &data).unwrap()),
        ];
        let template = dir.join("template.hbs");
        if template.exists() {
            outputs.push((
                "template.txt",
                render_message(Some(&read(&template)), &data)
                    .unwrap_or_else(|e| format!("error: {e}\n")),
            ));
        }
        for (name, got) in outputs {
            let path = dir.join(name);
            if write {
                std::fs::write(&path, &got).unwrap();
                continue;
            }
            let want = std::fs::read_to_string(&path).unwrap_or_default();
            if want != got {
                failures.push(format!(
                    "{}:\n--- want\n{want}\n--- got\n{got}",
                    path.display()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} outputs differ (TAGPILOT_WRITE_MESSAGE_DATA=1 rewrites them):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

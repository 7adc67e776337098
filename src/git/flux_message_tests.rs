//! Golden tests of Flux commit message templates: every case under
//! `testdata/flux-templates/cases/` renders byte for byte as real Go renders
//! it (the expected files come from `tests/gotemplate-oracle`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::flux_message::{FluxTemplateVersion, render_flux_message};
use super::message::{AutomationRef, ChangeLine, ChangeSet, ImageAbout, ImageUpdate};
use crate::update::ObjectId;

#[derive(Deserialize)]
struct Case {
    version: String,
    input: String,
}

#[derive(Deserialize)]
struct Input {
    automation: Automation,
    values: Option<BTreeMap<String, String>>,
    #[serde(rename = "updatePath", default)]
    update_path: String,
    changes: Vec<Change>,
    images: Vec<Image>,
}

#[derive(Deserialize)]
struct Automation {
    namespace: String,
    name: String,
}

#[derive(Deserialize)]
struct Change {
    file: String,
    line: usize,
    object: Option<ObjectId>,
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
    /// What the registry said (`.Images`), field names as in the Handlebars data.
    #[serde(flatten)]
    about: ImageAbout,
}

/// A case tree under `testdata/`; `TAGPILOT_FLUX_TEMPLATE_CASES` points the
/// tests at another one (for comparing more templates with the oracle while
/// developing).
fn root(tree: &str) -> PathBuf {
    match std::env::var_os("TAGPILOT_FLUX_TEMPLATE_CASES") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(tree),
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn load_input(
    root: &Path,
    name: &str,
) -> (AutomationRef, BTreeMap<String, String>, String, ChangeSet) {
    let input: Input =
        serde_json::from_str(&read(&root.join("inputs").join(format!("{name}.json"))))
            .unwrap_or_else(|e| panic!("input {name}: {e}"));
    let changes = ChangeSet {
        changes: input
            .changes
            .into_iter()
            .map(|c| ChangeLine {
                file: c.file,
                line: c.line,
                setter: c.setter,
                old: c.old,
                new: c.new,
                object: c.object,
            })
            .collect(),
        images: input
            .images
            .into_iter()
            .map(|i| ImageUpdate {
                policy: i.policy,
                namespace: i.namespace,
                name: i.name,
                tag: i.tag,
                digest: i.digest,
                previous: None,
                about: i.about,
            })
            .collect(),
    };
    let automation = AutomationRef {
        namespace: input.automation.namespace,
        name: input.automation.name,
    };
    (
        automation,
        input.values.unwrap_or_default(),
        input.update_path,
        changes,
    )
}

/// Renders every case of `root` and compares with the expected files; returns how many ran.
fn check_tree(root: &Path) -> usize {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root.join("cases"))
        .unwrap_or_else(|e| panic!("cases: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 20 || std::env::var_os("TAGPILOT_FLUX_TEMPLATE_CASES").is_some(),
        "only {} template cases",
        dirs.len()
    );
    let mut failures = Vec::new();
    for dir in &dirs {
        let case: Case = serde_json::from_str(&read(&dir.join("case.json")))
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let version = match case.version.as_str() {
            "v1beta1" => FluxTemplateVersion::V1Beta1,
            "v1beta2" => FluxTemplateVersion::V1Beta2,
            _ => FluxTemplateVersion::V1,
        };
        let (automation, values, update_path, changes) = load_input(root, &case.input);
        let template = read(&dir.join("template.tmpl"));
        let got = match render_flux_message(
            &template,
            version,
            &automation,
            &values,
            &update_path,
            &changes,
        ) {
            Ok(message) => ("expected.txt", message),
            Err(error) => ("expected.err", error.to_string()),
        };
        let path = dir.join(got.0);
        let want = std::fs::read_to_string(&path).unwrap_or_else(|_| "<missing>".into());
        if want != got.1 {
            failures.push(format!(
                "{}:\n  want {want:?}\n  got  {:?}",
                path.display(),
                got.1
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        dirs.len(),
        failures.join("\n")
    );
    dirs.len()
}

#[test]
fn flux_style_templates_render_as_real_go_renders_them() {
    let count = check_tree(&root("flux-templates"));
    assert!(count >= 20, "only {count} template cases");
}

#[test]
fn interpreter_matches_real_go_on_conformance_cases() {
    let count = check_tree(&root("gotemplate-conformance"));
    assert!(count >= 300, "only {count} conformance cases");
}

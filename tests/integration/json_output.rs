//! Every `-o json` in one style, as the README's "JSON output" section
//! documents it: one pretty-printed document (two-space indent, final
//! newline), camelCase keys, RFC 3339 UTC times; and every field a command
//! prints is listed in that section.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use regex::Regex;
use serde_json::Value;

use crate::engine::World;
use crate::harness::tagpilot::{RunOutput, plain_source};

/// Field names in `value`; keys of maps keyed by object (`namespace/name`) are data, not fields.
fn field_names(value: &Value, names: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                if !key.contains('/') {
                    names.insert(key.clone());
                }
                field_names(value, names);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| field_names(item, names)),
        _ => {}
    }
}

/// Times under `...Time` keys, anywhere.
fn times(value: &Value, found: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                if key.ends_with("Time") {
                    found.push((key.clone(), value.clone()));
                }
                times(value, found);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| times(item, found)),
        _ => {}
    }
}

fn check_style(command: &str, text: &str) -> BTreeSet<String> {
    let value: Value = serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("{command}: not one JSON document ({e}):\n{text}"));
    // serde_json's pretty form: one key or item per line, two-space indent, a final newline.
    let indent = Regex::new(r#"^(  )*(["\]\}\[\{0-9tfn-])"#).unwrap();
    assert!(
        text.starts_with("{\n  \"") && text.ends_with("\n}\n"),
        "{command}: not pretty-printed with a final newline:\n{text}"
    );
    for line in text.lines() {
        assert!(
            indent.is_match(line),
            "{command}: {line:?} is not pretty-printed"
        );
    }
    let mut names = BTreeSet::new();
    field_names(&value, &mut names);
    let camel = Regex::new("^[a-z][a-zA-Z0-9]*$").unwrap();
    for name in &names {
        assert!(
            camel.is_match(name),
            "{command}: key {name:?} is not camelCase"
        );
    }
    let rfc3339 = Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$").unwrap();
    let mut found = Vec::new();
    times(&value, &mut found);
    for (key, time) in found {
        assert!(
            time.is_null() || time.as_str().is_some_and(|t| rfc3339.is_match(t)),
            "{command}: {key} is {time}, not an RFC 3339 time"
        );
    }
    names
}

/// The README's text for `-o json` of `command`: from the `#### ` heading
/// that names `` `tagpilot COMMAND `` to the next heading.
fn documented(readme: &str, command: &str) -> String {
    let name = format!("`tagpilot {command}");
    let start = readme
        .match_indices("\n#### ")
        .map(|(at, _)| at + 1)
        .find(|at| {
            readme[*at..]
                .lines()
                .next()
                .is_some_and(|l| l.contains(&name))
        })
        .unwrap_or_else(|| panic!("the README has no `#### ` heading naming {name}`"));
    let rest = &readme[start + 5..];
    let end = rest.find("\n#").unwrap_or(rest.len());
    rest[..end].to_string()
}

fn json_of(output: RunOutput, command: &str) -> String {
    assert!(
        output.code == Some(0) || output.code == Some(1),
        "{command}: {output:?}"
    );
    output.stdout
}

fn tagpilot_output(command: &mut std::process::Command) -> RunOutput {
    let output = command.output().unwrap();
    RunOutput {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

#[test]
fn every_json_output_has_one_style_and_every_field_is_documented() {
    let world = World::new(&["1.0.0", "1.1.0"]);
    let tagpilot = world.tagpilot(&plain_source(&format!("file://{}", world.bare.display())));
    // A Flux v1 annotated workload and an Annotations automation, so that
    // their fields are in the outputs too.
    let host = &world.registry.host;
    let mut pusher = crate::harness::images::ImagePusher::new(&world.registry, "lucj/hello");
    pusher.push_with_created("1a2b3c4", Some("2024-03-01T10:00:00Z"));
    pusher.push_with_created("master", Some("2024-03-01T10:00:00Z"));
    crate::harness::git_fixtures::push_other_commit(
        &world.bare,
        "main",
        "apps/hello.yaml",
        &crate::annotations_engine::workload(host, "master", false),
    );
    tagpilot.write(
        "annotations.yaml",
        &crate::annotations_engine::automation(
            "1h",
            &format!("      - host: {host}\n        insecure: true\n"),
        ),
    );
    let engine_args = |command: &[&str]| {
        let mut process = tagpilot.command();
        process
            .args(command)
            .arg("--config")
            .arg(tagpilot.config_dir())
            .arg("--state-dir")
            .arg(tagpilot.state_dir())
            .args(["-o", "json"]);
        process
    };
    let scratch = tagpilot.home_dir();
    let mut outputs: BTreeMap<&str, String> = BTreeMap::new();
    outputs.insert(
        "plan",
        json_of(tagpilot_output(&mut engine_args(&["plan"])), "plan"),
    );
    outputs.insert(
        "run",
        json_of(
            tagpilot_output(&mut engine_args(&["run", "--once"])),
            "run --once",
        ),
    );
    outputs.insert(
        "status",
        json_of(
            tagpilot_output(
                tagpilot
                    .command()
                    .args(["status", "-o", "json", "--state-dir"])
                    .arg(tagpilot.state_dir()),
            ),
            "status",
        ),
    );
    outputs.insert(
        "tags",
        json_of(
            tagpilot_output(tagpilot.command().args([
                "tags",
                "--insecure",
                "-o",
                "json",
                &world.image,
            ])),
            "tags",
        ),
    );
    let policy = scratch.join("policy.yaml");
    std::fs::write(
        &policy,
        "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImagePolicy\nmetadata:\n  name: app\nspec:\n  imageRepositoryRef:\n    name: app\n  filterTags:\n    pattern: '^v(?P<v>.*)$'\n    extract: '$v'\n  policy:\n    semver:\n      range: '>=1.0.0'\n",
    )
    .unwrap();
    std::fs::write(scratch.join("tags"), "v1.0.0\nv1.2.0\nv1.1.0\n").unwrap();
    outputs.insert(
        "policy eval",
        json_of(
            tagpilot_output(
                tagpilot
                    .command()
                    .args(["policy", "eval", "-o", "json", "--policy"])
                    .arg(&policy)
                    .arg("--tags")
                    .arg(scratch.join("tags")),
            ),
            "policy eval",
        ),
    );
    let tree = scratch.join("tree");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(
        tree.join("app.yaml"),
        "image: app:1 # {\"$imagepolicy\": \"shop:app\"}\ndigest: x # {\"$imagepolicy\": \"shop:app:digest\"}\n",
    )
    .unwrap();
    std::fs::write(
        tree.join("broken.yaml"),
        "image: app:1 # {\"$imagepolicy\": \"shop:app\"}\n: [\n",
    )
    .unwrap();
    outputs.insert(
        "update",
        json_of(
            tagpilot_output(
                tagpilot
                    .command()
                    .args(["update", "-o", "json", "--set", "shop:app=app:2"])
                    .arg(&tree),
            ),
            "update",
        ),
    );

    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let fields: BTreeMap<&str, BTreeSet<String>> = outputs
        .iter()
        .map(|(command, text)| (*command, check_style(command, text)))
        .collect();
    for (command, names) in &fields {
        let text = &outputs[command];
        assert!(!names.is_empty(), "{command}: {text}");
        let doc = documented(&readme, command);
        let missing: Vec<&String> = names
            .iter()
            // `name`, or the last part of a path such as `scans[].name`.
            .filter(|name| {
                !doc.contains(&format!("`{name}`")) && !doc.contains(&format!(".{name}`"))
            })
            .collect();
        assert!(
            missing.is_empty(),
            "README, JSON output of `tagpilot {command}`: fields {missing:?} are not documented\n{text}"
        );
    }
    // The documents carry what they should (a cross-check of the harness).
    let run: Value = serde_json::from_str(&outputs["run"]).unwrap();
    assert!(run["automations"][0]["commit"].is_string(), "{run}");
    let status: Value = serde_json::from_str(&outputs["status"]).unwrap();
    assert!(
        status["automations"]["shop/apps"]["lastPushTime"].is_string(),
        "{status}"
    );
}

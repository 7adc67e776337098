//! What `tagpilot plan` and `tagpilot status` print, as snapshots (ports,
//! commit ids, times and temporary paths normalised), for a configuration with
//! one bump to make and one downgrade to hold back (invariant 3).

use regex::Regex;

use crate::engine::World;
use crate::harness::images::ImagePusher;
use crate::harness::tagpilot::{Automation, Tagpilot, plain_source, semver_image};

/// Replaces what changes from run to run with text of the same width (so
/// table columns stay aligned): the registry's port, paths, commit ids, times.
fn normalise(text: &str, world: &World, tagpilot: &Tagpilot) -> String {
    let (host, port) = world.registry.host.split_once(':').unwrap();
    let mut text = text.replace(
        &world.registry.host,
        &format!("{host}:{}", "X".repeat(port.len())),
    );
    for (path, name) in [
        (tagpilot.state_dir(), "STATE"),
        (tagpilot.config_dir(), "CONFIG"),
        (world.bare.as_path(), "BARE"),
    ] {
        text = text.replace(&path.display().to_string(), name);
    }
    for (pattern, word) in [
        (r"\b[0-9a-f]{40}\b", "c".repeat(40)),
        (r"\b[0-9a-f]{12}\b", "c".repeat(12)),
        (
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ",
            "YYYY-MM-DDTHH:MM:SSZ".to_string(),
        ),
    ] {
        text = Regex::new(pattern)
            .unwrap()
            .replace_all(&text, word.as_str())
            .into_owned();
    }
    text
}

#[test]
fn plan_shows_the_diff_and_message_and_status_shows_what_ran() {
    let world = World::with(&[("api", &["1.0.0", "1.1.0"]), ("web", &["0.9.0"])]);
    let tagpilot = Tagpilot::new();
    tagpilot.write(
        "images.yaml",
        &format!(
            "{}---\n{}",
            semver_image("api", &world.image_of("api"), ">=1.0.0 <2.0.0", "1h"),
            // web's file holds 1.0.0 but the policy only allows 0.x: a downgrade.
            semver_image("web", &world.image_of("web"), "<1.0.0", "1h")
        ),
    );
    tagpilot.write(
        "source.yaml",
        &plain_source(&format!("file://{}", world.bare.display())),
    );
    let mut automation = Automation::new("apps");
    automation.template = Some(crate::engine::TEMPLATE.to_string());
    automation.values = vec![("ticket".into(), "OPS-42".into())];
    tagpilot.write("automation.yaml", &automation.yaml());
    let initial = world.head();

    let plan = tagpilot.plan().success();
    assert_eq!(world.head(), initial, "plan pushes nothing");
    insta::assert_snapshot!("plan", normalise(&plan.stdout, &world, &tagpilot));

    let run = tagpilot.run_once().success();
    assert!(
        run.stderr.contains("held back a downgrade"),
        "{}",
        run.stderr
    );
    assert!(
        world.file("web").contains(":1.0.0 #"),
        "web is not downgraded"
    );
    // A newer api build: the status then shows the previous result too.
    ImagePusher::new(&world.registry, "shop/api").push("1.2.0");
    tagpilot.run_once().success();
    let status = tagpilot.status().success();
    insta::assert_snapshot!("status", normalise(&status.stdout, &world, &tagpilot));
    // The status table names the commit that landed.
    let head = world.head();
    assert!(status.stdout.contains(&head[..12]), "{}", status.stdout);
}

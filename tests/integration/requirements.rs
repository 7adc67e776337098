//! `spec.requiredPlatforms` and `spec.minimumAge` of an ImagePolicy against a
//! real registry: multi-arch indexes and single images pushed in the test,
//! images whose config `created` time the test sets. The platform filter and
//! the age are explained by `policy eval` (text and JSON), and a tag too young
//! becomes the result later without a new push or scan.

use serde_json::{Value, json};

use crate::engine::World;
use crate::harness::images::ImagePusher;
use crate::harness::process::free_port;
use crate::harness::tagpilot::{Automation, Tagpilot, deployment, plain_source, wait_for};
use crate::verify::eval;

/// A Flux ImageRepository and a tagpilot.dev ImagePolicy `shop/api` with `extra` spec lines.
fn images(image: &str, extra: &str) -> String {
    format!(
        "apiVersion: image.toolkit.fluxcd.io/v1beta2\nkind: ImageRepository\nmetadata:\n  name: api\n  namespace: shop\nspec:\n  image: {image}\n  interval: 1h\n  insecure: true\n---\napiVersion: tagpilot.dev/v1alpha1\nkind: ImagePolicy\nmetadata:\n  name: api\n  namespace: shop\nspec:\n  imageRepositoryRef:\n    name: api\n  policy:\n    semver:\n      range: '>=1.0.0 <2.0.0'\n{extra}"
    )
}

/// RFC 3339 of now moved by `seconds` (negative: in the past).
fn created_at(seconds: i64) -> String {
    let now = jiff::Timestamp::now();
    now.checked_add(jiff::SignedDuration::from_secs(seconds))
        .unwrap()
        .to_string()
}

const OLD: &str = "2024-01-01T00:00:00Z";

#[test]
fn required_platforms_skip_indexes_without_them_and_say_which_are_missing() {
    let world = World::new(&["1.0.0"]);
    let mut pusher = ImagePusher::new(&world.registry, "shop/api");
    // A single-platform image (its config says linux/amd64).
    pusher.push("1.1.0");
    let both = pusher.push_index("1.2.0", &[("linux", "amd64", OLD), ("linux", "arm64", OLD)]);
    let amd64_only = pusher.push_index("1.3.0", &[("linux", "amd64", OLD)]);
    let tagpilot = Tagpilot::new();
    tagpilot.write(
        "images.yaml",
        &images(&world.image, "  requiredPlatforms: [linux/arm64]\n"),
    );
    tagpilot.write(
        "source.yaml",
        &plain_source(&format!("file://{}", world.bare.display())),
    );
    tagpilot.write("automation.yaml", &Automation::new("apps").yaml());

    let (code, stdout, stderr) = eval(&tagpilot, &world.image, true);
    assert_eq!(code, Some(0), "{stderr}");
    let explanation: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(explanation["tag"], "1.2.0");
    assert_eq!(
        explanation["explanation"]["requirements"],
        json!({"platforms": ["linux/arm64/v8"]})
    );
    assert_eq!(explanation["explanation"]["chosen"]["digest"], both);
    assert_eq!(
        explanation["explanation"]["skipped"],
        json!([{
            "tag": "1.3.0", "value": "1.3.0", "digest": amd64_only,
            "reason": "missingPlatforms", "missing": ["linux/arm64/v8"], "available": ["linux/amd64"],
        }])
    );
    let (code, _, stderr) = eval(&tagpilot, &world.image, false);
    assert_eq!(code, Some(0));
    assert!(
        stderr.contains("  requires: platforms linux/arm64/v8\n")
            && stderr
                .contains("  skipped: 1.3.0: lacks platform linux/arm64/v8 (it has linux/amd64)\n"),
        "{stderr}"
    );

    tagpilot.run_once().success();
    assert_eq!(
        world.deployed(),
        deployment("api", &format!("{}:1.2.0", world.image), "api")
    );

    // A platform nothing has: every candidate is skipped, each with what it has
    // (the single image's platform comes from its config).
    tagpilot.write(
        "images.yaml",
        &images(&world.image, "  requiredPlatforms: [linux/s390x]\n"),
    );
    let (code, stdout, stderr) = eval(&tagpilot, &world.image, false);
    assert_eq!((code, stdout.as_str()), (Some(1), ""), "{stderr}");
    assert!(
        stderr.contains(
            "no eligible tag for policy shop/api: 1.3.0: lacks platform linux/s390x (it has linux/amd64); \
             1.2.0: lacks platform linux/s390x (it has linux/amd64, linux/arm64/v8); \
             1.1.0: lacks platform linux/s390x (it has linux/amd64); \
             1.0.0: lacks platform linux/s390x (it has linux/amd64)"
        ),
        "{stderr}"
    );
    // An invalid platform names the field.
    tagpilot.write(
        "images.yaml",
        &images(&world.image, "  requiredPlatforms: [linux/arm64, arm64]\n"),
    );
    let (code, _, stderr) = eval(&tagpilot, &world.image, false);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("spec.requiredPlatforms[1]: \"arm64\" is not a platform; write os/architecture or os/architecture/variant, e.g. linux/arm64"),
        "{stderr}"
    );
}

#[test]
fn a_minimum_age_skips_young_images_and_images_without_a_creation_time() {
    let world = World::new(&["1.0.0"]);
    let mut pusher = ImagePusher::new(&world.registry, "shop/api");
    pusher.push_with_created("1.1.0", Some(&created_at(-10 * 24 * 3600)));
    let young = created_at(-3600);
    pusher.push_with_created("1.2.0", Some(&young));
    pusher.push_with_created("1.3.0", None);
    let tagpilot = Tagpilot::new();
    tagpilot.write("images.yaml", &images(&world.image, "  minimumAge: 24h\n"));
    let (code, stdout, stderr) = eval(&tagpilot, &world.image, true);
    assert_eq!(code, Some(0), "{stderr}");
    let explanation: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(explanation["tag"], "1.1.0");
    let skipped = &explanation["explanation"]["skipped"];
    assert_eq!(skipped[0]["tag"], "1.3.0");
    assert_eq!(skipped[0]["reason"], "noCreationTime");
    assert_eq!(skipped[1]["tag"], "1.2.0");
    assert_eq!(skipped[1]["reason"], "tooYoung");
    let created: jiff::Timestamp = skipped[1]["created"].as_str().unwrap().parse().unwrap();
    let eligible: jiff::Timestamp = skipped[1]["eligibleAt"].as_str().unwrap().parse().unwrap();
    assert_eq!(created, young.parse::<jiff::Timestamp>().unwrap());
    assert_eq!(eligible.duration_since(created).as_secs(), 24 * 3600);
    assert_eq!(
        explanation["explanation"]["recheckAt"],
        skipped[1]["eligibleAt"]
    );
    assert_eq!(
        explanation["explanation"]["requirements"],
        json!({"minimumAgeSeconds": 86400})
    );
    let (_, _, stderr) = eval(&tagpilot, &world.image, false);
    assert!(
        stderr.contains("  requires: at least 24h since created\n")
            && stderr.contains(
                "  skipped: 1.3.0: no creation time in its image config, so its age is unknown\n"
            )
            && stderr.contains(&format!(
                "  skipped: 1.2.0: too young: created {created}, eligible from {eligible}\n"
            ))
            && stderr.contains(&format!(
                "  eligible later: a better tag becomes old enough at {eligible}\n"
            )),
        "{stderr}"
    );
}

/// The daemon evaluates again when a skipped tag comes of age: the bump needs
/// no new push and no scan (the interval is an hour).
#[test]
fn a_tag_too_young_is_committed_when_it_comes_of_age_without_a_new_scan() {
    let world = World::with(&[("api", &[])]);
    let mut pusher = ImagePusher::new(&world.registry, "shop/api");
    pusher.push_with_created("1.0.0", Some(OLD));
    // Old enough 15 s from now: the daemon's first evaluation comes well before.
    let young_digest = pusher.push_with_created("1.1.0", Some(&created_at(15 - 3600)));
    let tagpilot = Tagpilot::new();
    tagpilot.write("images.yaml", &images(&world.image, "  minimumAge: 1h\n"));
    tagpilot.write(
        "source.yaml",
        &plain_source(&format!("file://{}", world.bare.display())),
    );
    tagpilot.write("automation.yaml", &Automation::new("apps").yaml());
    let listen = format!("127.0.0.1:{}", free_port());
    let daemon = tagpilot.spawn_daemon(&["--listen", &listen]);
    let metrics = || {
        reqwest::blocking::get(format!("http://{listen}/metrics"))
            .and_then(|r| r.text())
            .unwrap_or_default()
    };
    let too_young = "tagpilot_policy_skipped_candidates{policy=\"shop/api\",reason=\"tooYoung\"}";
    wait_for(
        "the young tag to be skipped",
        || {
            daemon.assert_running();
            metrics()
                .contains(&format!("{too_young} 1\n"))
                .then_some(())
        },
        || daemon.log_text(),
    );
    assert!(
        daemon.log_text().contains("candidates skipped")
            && daemon.log_text().contains("1.1.0: too young: created "),
        "{}",
        daemon.log_text()
    );
    assert_eq!(world.commit_count(), 1, "1.0.0 is already deployed");
    wait_for(
        "the bump once 1.1.0 is old enough",
        || {
            daemon.assert_running();
            (world.commit_count() == 2).then_some(())
        },
        || daemon.log_text(),
    );
    assert_eq!(
        world.deployed(),
        deployment("api", &format!("{}:1.1.0", world.image), "api")
    );
    let log = daemon.log_text();
    assert_eq!(
        log.matches("scanned: the tag list changed").count(),
        1,
        "one scan, at start: the bump came from the re-evaluation\n{log}"
    );
    assert!(log.contains("no candidate skipped any more"), "{log}");
    // Creation times are kept per digest across restarts.
    let created = std::fs::read_to_string(tagpilot.state_dir().join("created.json")).unwrap();
    assert!(created.contains(&young_digest), "{created}");
    assert!(
        metrics().contains(&format!("{too_young} 0\n")),
        "{}",
        metrics()
    );
}

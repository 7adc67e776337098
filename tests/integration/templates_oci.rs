//! What changed, in the commit message (issue 18), against a real registry:
//! images pushed with OCI labels (config) and annotations (manifest, index)
//! are read back for the message data, and the default message of a
//! `tagpilot.dev` automation, a Handlebars template and a Flux template's
//! `.Images` show the new and old versions, revisions and the compare link.

use tagpilot::registry::image_details::OciAnnotations;

use crate::annotations::pull_secret;
use crate::engine::{World, head_commit};
use crate::harness::images::{ImageMetadata, ImagePusher};
use crate::harness::registry::{AuthMode, Distribution, Registry};
use crate::harness::tagpilot::{Automation, Tagpilot, plain_source, semver_image};
use crate::registry::{block_on, client_with, target, test_options};
use crate::templates_flux::raw_message;

const OLD_REVISION: &str = "0123456789abcdef0123456789abcdef01234567";
const NEW_REVISION: &str = "9f1c2d3e4b5a69788796a5b4c3d2e1f0a9b8c7d6";

fn labels(pairs: &[(&str, &str)]) -> ImageMetadata {
    ImageMetadata {
        labels: ImageMetadata::oci(pairs),
        ..ImageMetadata::default()
    }
}

#[test]
fn annotations_win_over_labels_and_are_read_once_per_digest_through_token_auth() {
    let registry = Registry::start(Distribution::V2, AuthMode::Token);
    let mut pusher = ImagePusher::new(&registry, "acme/app");
    pusher.push_with(
        "1.0.0",
        &labels(&[
            ("source", "https://github.com/acme/app"),
            ("revision", OLD_REVISION),
            ("version", "1.0.0"),
            ("created", "2026-03-01T09:00:00Z"),
        ]),
    );
    // Labels inherited from the base image; the build's own annotations win.
    let built = ImageMetadata {
        labels: ImageMetadata::oci(&[
            ("source", "https://github.com/library/alpine"),
            ("revision", "base"),
            ("version", "3.20"),
        ]),
        annotations: ImageMetadata::oci(&[
            ("source", "https://github.com/acme/app.git"),
            ("revision", NEW_REVISION),
            ("version", "1.1.0"),
        ]),
        ..ImageMetadata::default()
    };
    let digest = pusher.push_with("1.1.0", &built);
    let index = pusher.push_index_with(
        "1.2.0",
        &[("linux", "arm64"), ("linux", "amd64")],
        &ImageMetadata::oci(&[("version", "1.2.0")]),
        &built,
    );
    pusher.push_with(
        "hostile",
        &ImageMetadata {
            annotations: ImageMetadata::oci(&[
                ("revision", "b2\n\nSigned-off-by: Mallory <m@example.com>"),
                (
                    "source",
                    "https://gitlab-ci-token:glcbt-64_TOKEN@gitlab.com/acme/app.git",
                ),
            ]),
            ..ImageMetadata::default()
        },
    );
    pusher.push("bare");

    let client = client_with(test_options(), pull_secret(&registry.host));
    let mut target = target(&registry.host, "acme/app");
    target.credentials = tagpilot::registry::CredentialSource::Secret(
        tagpilot::registry::ObjectKey::new("apps", "gitlab-registry"),
    );
    let annotations = |reference: &str| {
        block_on(client.image_details(&target, reference))
            .unwrap_or_else(|e| panic!("{reference}: {e}"))
            .annotations
            .clone()
    };
    assert_eq!(
        annotations("1.0.0"),
        OciAnnotations {
            source: Some("https://github.com/acme/app".into()),
            revision: Some(OLD_REVISION.into()),
            version: Some("1.0.0".into()),
            created: Some("2026-03-01T09:00:00Z".into()),
        }
    );
    assert_eq!(
        annotations("1.1.0"),
        OciAnnotations {
            source: Some("https://github.com/acme/app.git".into()),
            revision: Some(NEW_REVISION.into()),
            version: Some("1.1.0".into()),
            created: None,
        }
    );
    let multi = block_on(client.image_details(&target, "1.2.0")).unwrap();
    assert_eq!(
        multi.digest, index,
        "an index is described by its own digest"
    );
    assert_eq!(multi.annotations.version.as_deref(), Some("1.2.0"));
    assert_eq!(multi.annotations.revision.as_deref(), Some(NEW_REVISION));
    let hostile = annotations("hostile");
    assert_eq!(hostile.revision, None, "a value with a newline is dropped");
    assert_eq!(
        hostile.source.as_deref(),
        Some("https://gitlab.com/acme/app.git"),
        "the token is not kept"
    );
    assert!(annotations("bare").is_empty());

    // Known digests: a tag costs one HEAD, a digest nothing.
    let before = client.request_count();
    assert_eq!(annotations("1.1.0").version.as_deref(), Some("1.1.0"));
    assert_eq!(client.request_count() - before, 1);
    let before = client.request_count();
    assert_eq!(annotations(&digest).version.as_deref(), Some("1.1.0"));
    assert_eq!(client.request_count(), before);
}

/// `shop/api` 1.0.0 (labels) and 1.1.0 (annotations), the files on 1.0.0.
fn world() -> World {
    let world = World::new(&[]);
    let mut pusher = ImagePusher::new(&world.registry, "shop/api");
    pusher.push_with(
        "1.0.0",
        &labels(&[
            ("source", "https://github.com/acme/api"),
            ("revision", OLD_REVISION),
            ("version", "1.0.0"),
        ]),
    );
    pusher.push_with(
        "1.1.0",
        &ImageMetadata {
            annotations: ImageMetadata::oci(&[
                ("source", "git@github.com:acme/api.git"),
                ("revision", NEW_REVISION),
                ("version", "1.1.0"),
                ("created", "2026-03-02T10:11:12Z"),
            ]),
            ..ImageMetadata::default()
        },
    );
    world
}

/// The world's objects as `tagpilot.dev/v1alpha1`, with `template` (Handlebars).
fn tagpilot_objects(world: &World, template: Option<&str>) -> Tagpilot {
    let tagpilot = Tagpilot::new();
    let ours = |yaml: String| {
        yaml.replace("image.toolkit.fluxcd.io/v1beta2", "tagpilot.dev/v1alpha1")
            .replace("image.toolkit.fluxcd.io/v1", "tagpilot.dev/v1alpha1")
            .replace("source.toolkit.fluxcd.io/v1", "tagpilot.dev/v1alpha1")
    };
    tagpilot.write(
        "images.yaml",
        &ours(semver_image("api", &world.image, ">=1.0.0", "1h")),
    );
    tagpilot.write(
        "source.yaml",
        &ours(plain_source(&format!("file://{}", world.bare.display()))),
    );
    let mut automation = Automation::new("apps");
    automation.template = template.map(str::to_string);
    tagpilot.write("automation.yaml", &ours(automation.yaml()));
    tagpilot
}

#[test]
fn the_default_message_shows_versions_revisions_and_the_compare_link() {
    let world = world();
    let tagpilot = tagpilot_objects(&world, None);
    let image = &world.image;
    let expected = format!(
        "Update image: shop/api → 1.1.0

apps/api.yaml:10 shop:api {image}:1.0.0 → {image}:1.1.0

{image}:1.1.0
  version: 1.1.0 (was 1.0.0)
  source: git@github.com:acme/api.git
  revision: {NEW_REVISION} (was {OLD_REVISION})
  created: 2026-03-02T10:11:12Z
  changes: https://github.com/acme/api/compare/{OLD_REVISION}...{NEW_REVISION}
"
    );
    let plan = tagpilot.plan().success();
    assert!(
        plan.stdout
            .contains(&format!("--- commit message ---\n{expected}")),
        "plan shows the message the run commits:\n{}",
        plan.stdout
    );
    let run = tagpilot.run_once().success();
    assert!(
        run.stdout.contains("automation shop/apps: pushed"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    let message = raw_message(&world.bare, "main");
    assert_eq!(
        message.lines().collect::<Vec<_>>(),
        expected.lines().collect::<Vec<_>>()
    );
    assert_eq!(message, expected);
}

#[test]
fn templates_of_both_languages_read_the_image_data() {
    // Handlebars, tagpilot.dev.
    let world = world();
    let tagpilot = tagpilot_objects(
        &world,
        Some(
            "Bump {{#each images}}{{name}} {{old_version}} -> {{version}}\n{{compare_url}}{{/each}}",
        ),
    );
    tagpilot.run_once().success();
    assert_eq!(
        head_commit(&world.bare).1,
        format!(
            "Bump {}/shop/api 1.0.0 -> 1.1.0\nhttps://github.com/acme/api/compare/{OLD_REVISION}...{NEW_REVISION}\n",
            world.registry.host
        )
    );

    // A Flux v1 object: `.Images`, beside Flux's own data.
    let world = self::world();
    let tagpilot = Tagpilot::new();
    tagpilot.write(
        "images.yaml",
        &semver_image("api", &world.image, ">=1.0.0", "1h"),
    );
    tagpilot.write(
        "source.yaml",
        &plain_source(&format!("file://{}", world.bare.display())),
    );
    let mut automation = Automation::new("apps");
    automation.template = Some(
        "{{ len .Changed.Changes }} change(s)\n{{ range .Images }}{{ . }} ({{ .Policy }}): {{ .OldVersion }} -> {{ .Version }}, {{ .Old }}\n{{ .CompareURL }}\n{{ end -}}"
            .to_string(),
    );
    tagpilot.write("automation.yaml", &automation.yaml());
    tagpilot.run_once().success();
    assert_eq!(
        raw_message(&world.bare, "main"),
        format!(
            "1 change(s)\n{image}:1.1.0 (shop/api): 1.0.0 -> 1.1.0, {image}:1.0.0\nhttps://github.com/acme/api/compare/{OLD_REVISION}...{NEW_REVISION}\n",
            image = world.image
        )
    );
}

//! Hostile registries and token servers (issue 17): numbers no clock can hold,
//! and pagination that never ends. Each test runs the `tagpilot` binary as a
//! user does against a real registry, with a real token server or a
//! misbehaving front (the fault proxy) in between.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::harness::images::ImagePusher;
use crate::harness::registry::{AuthMode, Distribution, PASSWORD, Registry, USER};
use crate::harness::tagpilot::Tagpilot;

/// A dockerconfigjson Secret for `host`, an ImageRepository of `image` using
/// it, and a semver ImagePolicy, all named `app` in namespace `shop`.
fn scanned_image_with_secret(host: &str, image: &str) -> String {
    let docker_config = serde_json::json!({"auths": {host: {"auth": STANDARD.encode(format!("{USER}:{PASSWORD}"))}}});
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: pull\n  namespace: shop\ntype: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: '{docker_config}'\n---\n{}",
        scanned_image(image, Some("pull"))
    )
}

/// An ImageRepository of `image` (optionally with a `secretRef`) and a semver
/// ImagePolicy, both named `app` in namespace `shop`.
pub fn scanned_image(image: &str, secret: Option<&str>) -> String {
    let secret_ref = secret
        .map(|name| format!("  secretRef:\n    name: {name}\n"))
        .unwrap_or_default();
    format!(
        "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\nmetadata:\n  name: app\n  namespace: shop\nspec:\n  image: {image}\n  interval: 1h\n  insecure: true\n{secret_ref}---\napiVersion: image.toolkit.fluxcd.io/v1\nkind: ImagePolicy\nmetadata:\n  name: app\n  namespace: shop\nspec:\n  imageRepositoryRef:\n    name: app\n  policy:\n    semver:\n      range: '>=1.0.0'\n"
    )
}

/// Regression (finding 5): a token server answering `"expires_in":
/// 18446744073709551615` made the token cache overflow `Instant + Duration`:
/// `tags` and `run --once` panicked (exit 101) and the daemon logged a
/// panicked task every interval. The lifetime is now clamped (to an hour).
#[test]
fn a_token_server_answering_an_endless_expiry_used_to_panic() {
    let registry = Registry::start(Distribution::V2, AuthMode::Token);
    ImagePusher::new(&registry, "team/app").push_all(["1.0.0", "1.1.0"]);
    let token_server = registry.token_server.as_ref().unwrap();
    token_server.answer_expires_in(u64::MAX);
    let image = format!("{}/team/app", registry.host);
    let tagpilot = Tagpilot::new();
    tagpilot.write(
        "objects.yaml",
        &scanned_image_with_secret(&registry.host, &image),
    );

    let output = tagpilot
        .command()
        .args(["tags", "--insecure", "--config"])
        .arg(tagpilot.config_dir())
        .arg(&image)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "tags failed:\n{stderr}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "1.0.0\n1.1.0\n");

    let run = tagpilot.run_once();
    assert_eq!(
        run.code,
        Some(0),
        "run --once failed:\n{}\n{}",
        run.stdout,
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    let status = tagpilot.status().success();
    assert!(
        status.stdout.contains("1.1.0"),
        "the policy picked 1.1.0 through the clamped token:\n{}",
        status.stdout
    );
    assert!(
        token_server.request_count() >= 1,
        "the token server was asked"
    );
}

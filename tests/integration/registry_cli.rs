//! `tagpilot tags` against real registries: credentials from a config
//! directory's Secrets and ImageRepository, from Docker's `config.json`,
//! output formats, exit codes — and no credential in any log line at trace
//! level (invariant 7).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::harness::images::ImagePusher;
use crate::harness::registry::{AuthMode, Distribution, PASSWORD, Registry, USER};
use crate::registry::tagpilot_isolated;

fn assert_no_credentials(stderr: &str) {
    let basic = STANDARD.encode(format!("{USER}:{PASSWORD}"));
    for (what, secret) in [
        ("password", PASSWORD),
        ("basic credentials", basic.as_str()),
        ("base64 password", &STANDARD.encode(PASSWORD)),
        ("a JWT", "eyJ"),
    ] {
        if let Some(line) = stderr.lines().find(|l| l.contains(secret)) {
            panic!("{what} in a log line: {line}");
        }
    }
}

#[test]
fn basic_auth_from_config_dir_secrets_never_reaches_the_logs() {
    let registry = Registry::start(Distribution::V2, AuthMode::Basic);
    ImagePusher::new(&registry, "team/app").push_all(["1.1.0", "1.0.0", "1.10.0"]);
    let home = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    std::fs::write(
        config.path().join("objects.yaml"),
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  namespace: apps\ntype: kubernetes.io/basic-auth\ndata:\n  username: {}\n  password: {}\n---\napiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\nmetadata:\n  name: app\n  namespace: apps\nspec:\n  image: {}/team/app\n  interval: 1m\n  insecure: true\n  secretRef:\n    name: creds\n",
            STANDARD.encode(USER),
            STANDARD.encode(PASSWORD),
            registry.host
        ),
    )
    .unwrap();
    let output = tagpilot_isolated(home.path())
        .args(["--log-level", "trace", "tags", "--config"])
        .arg(config.path())
        .arg(format!("{}/team/app", registry.host))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "stderr:\n{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "1.0.0\n1.1.0\n1.10.0\n"
    );
    assert!(stderr.contains("TRACE"), "trace logging was on:\n{stderr}");
    assert!(stderr.contains("tags page"), "{stderr}");
    assert_no_credentials(&stderr);
}

#[test]
fn token_auth_from_a_dockerconfigjson_secret_never_reaches_the_logs() {
    let registry = Registry::start(Distribution::V3, AuthMode::Token);
    ImagePusher::new(&registry, "team/app").push_all(["a", "b", "c", "d"]);
    let home = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    let docker_config = serde_json::json!({"auths": {registry.host.clone(): {"auth": STANDARD.encode(format!("{USER}:{PASSWORD}"))}}});
    std::fs::write(
        config.path().join("pull-secret.yml"),
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: pull\ntype: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: '{docker_config}'\n"
        ),
    )
    .unwrap();
    let output = tagpilot_isolated(home.path())
        .args([
            "--log-level",
            "trace",
            "tags",
            "--insecure",
            "--page-size",
            "3",
            "-o",
            "json",
            "--config",
        ])
        .arg(config.path())
        .arg(format!("{}/team/app", registry.host))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "stderr:\n{stderr}");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["tags"], serde_json::json!(["a", "b", "c", "d"]));
    assert_eq!(json["complete"], true);
    assert!(stderr.contains("TRACE"), "{stderr}");
    assert_no_credentials(&stderr);
}

#[test]
fn docker_config_json_is_used_without_config_dir() {
    let registry = Registry::start(Distribution::V2, AuthMode::Basic);
    ImagePusher::new(&registry, "team/app").push_all(["v1"]);
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join(".docker")).unwrap();
    std::fs::write(
        home.path().join(".docker/config.json"),
        serde_json::json!({"auths": {registry.host.clone(): {"username": USER, "password": PASSWORD}}}).to_string(),
    )
    .unwrap();
    let output = tagpilot_isolated(home.path())
        .args(["tags", "--insecure", "--max-tags", "5"])
        .arg(format!("{}/team/app:ignored-tag", registry.host))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout), "v1\n");
}

#[test]
fn failures_exit_1_and_invalid_input_exits_2_with_stdout_empty() {
    let home = tempfile::tempdir().unwrap();
    let cases: [(&[&str], i32, &str); 4] = [
        (&["tags", "Not A/Valid Image"], 2, "IMAGE"),
        (
            &["tags", "--registry-endpoint", "nohost", "ghcr.io/a/b"],
            2,
            "HOST=URL",
        ),
        (
            &["tags", "--timeout", "soon", "ghcr.io/a/b"],
            2,
            "--timeout",
        ),
        // Port 1 on loopback refuses connections: a transport error naming the image.
        (
            &[
                "tags",
                "--insecure",
                "--timeout",
                "5s",
                "127.0.0.1:1/team/app",
            ],
            1,
            "127.0.0.1:1/team/app",
        ),
    ];
    for (args, code, expected) in cases {
        let output = tagpilot_isolated(home.path()).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn policy_eval_picks_from_a_live_registry_with_the_config_dirs_credentials() {
    let registry = Registry::start(Distribution::V3, AuthMode::Token);
    ImagePusher::new(&registry, "team/app").push_all([
        "v1.2.0",
        "v1.10.0",
        "v2.0.0-rc.1",
        "v1.9.9",
    ]);
    let home = tempfile::tempdir().unwrap();
    let config = tempfile::tempdir().unwrap();
    std::fs::write(
        config.path().join("objects.yaml"),
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  namespace: apps\nstringData:\n  username: {USER}\n  password: {PASSWORD}\n---\napiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\nmetadata:\n  name: app\n  namespace: apps\nspec:\n  image: {}/team/app\n  interval: 1m\n  insecure: true\n  secretRef:\n    name: creds\n",
            registry.host
        ),
    )
    .unwrap();
    let policy = config.path().join("policy.yaml.txt");
    std::fs::write(
        &policy,
        "apiVersion: image.toolkit.fluxcd.io/v1beta2\nkind: ImagePolicy\nmetadata:\n  name: app\nspec:\n  imageRepositoryRef:\n    name: app\n  policy:\n    semver:\n      range: '>=1.0.0'\n",
    )
    .unwrap();
    let image = format!("{}/team/app", registry.host);
    let output = tagpilot_isolated(home.path())
        .args(["--log-level", "trace", "policy", "eval", "--policy"])
        .arg(&policy)
        .args(["--image", &image, "--config"])
        .arg(config.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "stderr:\n{stderr}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "v1.10.0\n");
    assert_no_credentials(&stderr);

    // Without the credentials the registry refuses, and the exit code says it failed.
    let output = tagpilot_isolated(home.path())
        .args(["policy", "eval", "--policy"])
        .arg(&policy)
        .args(["--image", &image, "--insecure"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("team/app"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

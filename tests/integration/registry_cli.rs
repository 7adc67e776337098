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

/// Each `: `-separated part of an error line at most once in a row, and no
/// long part twice (the doubled `error sending request: error sending request`).
fn assert_says_each_cause_once(line: &str) {
    let parts: Vec<&str> = line.split(": ").collect();
    for pair in parts.windows(2) {
        assert_ne!(pair[0], pair[1], "a doubled phrase in {line}");
    }
    for part in parts.iter().filter(|p| p.len() > 12) {
        assert_eq!(line.matches(part).count(), 1, "{part:?} twice in {line}");
    }
}

/// Regression (issue 13): a refused connection said "error sending request:
/// error sending request": the error's message holds its source's text, and
/// the printer added the source again.
#[test]
fn a_refused_connection_names_each_cause_once() {
    let home = tempfile::tempdir().unwrap();
    // Bound, never listening: connecting to it is refused.
    let (_reserved, port) = crate::harness::process::refusing_port();
    let output = tagpilot_isolated(home.path())
        .args(["tags", "--insecure", "--timeout", "5s"])
        .arg(format!("127.0.0.1:{port}/team/app"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let line = stderr.lines().find(|l| l.starts_with("error: ")).unwrap();
    assert!(line.contains("Connection refused"), "{line}");
    assert!(line.contains("error sending request"), "{line}");
    assert_says_each_cause_once(line);
}

/// Regression (issue 13): an HTTPS request to a plain-HTTP registry failed
/// with rustls' "received corrupt message of type InvalidContentType".
#[test]
fn a_plain_http_registry_reached_over_https_says_to_use_insecure() {
    let registry = Registry::start(Distribution::V2, AuthMode::Anonymous);
    ImagePusher::new(&registry, "team/app").push("v1");
    let home = tempfile::tempdir().unwrap();
    let image = format!("{}/team/app", registry.host);
    let output = tagpilot_isolated(home.path())
        .args(["tags", &image])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "error: scanning {image}: {} answered an HTTPS request in plain HTTP; if the registry \
             serves plain HTTP, set `insecure: true` on the ImageRepository (on the command line: \
             --insecure)\n",
            registry.host
        )
    );
    // And the hint is right.
    let output = tagpilot_isolated(home.path())
        .args(["tags", "--insecure", &image])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout), "v1\n");
}

/// Regression (issue 13): `tags` said "check spec.image" and "set
/// spec.secretRef", which a command-line user has no object for.
#[test]
fn tags_errors_name_what_the_command_line_user_can_change() {
    let home = tempfile::tempdir().unwrap();
    let open = Registry::start(Distribution::V2, AuthMode::Anonymous);
    ImagePusher::new(&open, "team/app").push("v1");
    let private = Registry::start(Distribution::V2, AuthMode::Basic);
    let cases = [
        (
            format!("{}/team/typo", open.host),
            "repository not found at",
            "check the image name",
        ),
        (
            format!("{}/team/app", private.host),
            "not authorized",
            "log in with `docker login",
        ),
    ];
    for (image, what, hint) in cases {
        let output = tagpilot_isolated(home.path())
            .args(["tags", "--insecure", &image])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(what) && stderr.contains(hint), "{stderr}");
        assert!(!stderr.contains("spec."), "{stderr}");
    }
}

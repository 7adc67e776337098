//! Syncs in standalone mode, end to end: a real registry, a real git server
//! (lighttpd + git http-backend), the engine committing tag bumps, and a real
//! kube-apiserver the Sync applies to. Bumps reach the cluster on the next
//! revision, removed manifests are pruned, an invalid revision changes nothing
//! and names the object, manual scaling is reverted at the next interval, and
//! the health wait reports what did not roll out.

use std::path::Path;
use std::process::{Command, Stdio};

use tempfile::TempDir;

use crate::apply::{config_map, deployment, jsonpath, kubectl};
use crate::harness::git_fixtures::git_in;
use crate::harness::git_server::{GIT_PASSWORD, GIT_USER, GitRepos, HttpGitServer, git};
use crate::harness::images::ImagePusher;
use crate::harness::kube_api::KubeApiServer;
use crate::harness::process::{free_port, run};
use crate::harness::registry::{AuthMode, Distribution, Registry};
use crate::harness::tagpilot::{
    Automation, RunOutput, Tagpilot, http_source, semver_image, wait_for,
};

/// A Sync `shop/app` of `path` in the GitRepository `shop/config`.
fn sync_yaml(path: &str, interval: &str, extra: &str) -> String {
    format!(
        "apiVersion: tagpilot.dev/v1alpha1\nkind: Sync\nmetadata:\n  name: app\n  namespace: shop\nspec:\n  sourceRef:\n    kind: GitRepository\n    name: config\n  path: {path}\n  interval: {interval}\n{extra}"
    )
}

/// Commits a change made by `edit` (on a fresh clone) to `bare`'s `main`; returns the new head.
pub fn commit_to(bare: &Path, message: &str, edit: impl FnOnce(&Path)) -> String {
    let work = TempDir::new().unwrap();
    let clone = work.path().join("clone");
    run(git()
        .args(["clone", "-q", "-b", "main"])
        .arg(bare)
        .arg(&clone));
    edit(&clone);
    git_in(&clone, &["add", "-A"]);
    git_in(&clone, &["commit", "-qm", message]);
    git_in(&clone, &["push", "-q", "origin", "main"]);
    git_in(&clone, &["rev-parse", "HEAD"]).trim().to_string()
}

/// `tagpilot run --once` against `server`.
fn run_once(tagpilot: &Tagpilot, server: &KubeApiServer) -> RunOutput {
    let output = run_command(tagpilot, server, &["run", "--once"])
        .output()
        .unwrap();
    RunOutput {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn run_command(tagpilot: &Tagpilot, server: &KubeApiServer, args: &[&str]) -> Command {
    let mut command = tagpilot.command();
    command
        .env("KUBECONFIG", &server.kubeconfig)
        .args(args)
        .arg("--config")
        .arg(tagpilot.config_dir())
        .arg("--state-dir")
        .arg(tagpilot.state_dir());
    command
}

/// The Sync's entry in `syncs.json`.
fn sync_status(tagpilot: &Tagpilot) -> serde_json::Value {
    let text = std::fs::read_to_string(tagpilot.state_dir().join("syncs.json")).unwrap_or_default();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    value["syncs"]["shop/app"].clone()
}

/// The commit `main` of `bare` points at.
pub fn head(bare: &Path) -> String {
    git_in(bare, &["rev-parse", "main"]).trim().to_string()
}

#[test]
fn a_sync_applies_engine_bumps_through_a_kustomize_overlay_prunes_and_refuses_invalid_revisions() {
    let server = KubeApiServer::start();
    let registry = Registry::start(Distribution::V2, AuthMode::Anonymous);
    let mut pusher = ImagePusher::new(&registry, "shop/api");
    pusher.push("1.0.0");
    let image = format!("{}/shop/api", registry.host);
    let repos = GitRepos::new();
    let overlay = format!(
        "namespace: shop\nresources:\n  - namespace.yaml\n  - ../../base\nimages:\n  - name: app\n    newName: {image} # {{\"$imagepolicy\": \"shop:api:name\"}}\n    newTag: 1.0.0 # {{\"$imagepolicy\": \"shop:api:tag\"}}\n"
    );
    let bare = repos.create(
        "config",
        &[
            (
                "base/kustomization.yaml",
                "resources:\n  - api.yaml\n  - settings.yaml\n",
            ),
            ("base/api.yaml", &deployment("shop", "api", "app")),
            ("base/settings.yaml", &config_map("shop", "settings", "1")),
            (
                "overlays/prod/namespace.yaml",
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n",
            ),
            ("overlays/prod/kustomization.yaml", &overlay),
        ],
    );
    let git_server = HttpGitServer::start(&repos);
    let tagpilot = Tagpilot::new();
    tagpilot.write(
        "images.yaml",
        &semver_image("api", &image, ">=1.0.0 <2.0.0", "1h"),
    );
    tagpilot.write(
        "source.yaml",
        &http_source(&git_server.url(&bare), GIT_USER, GIT_PASSWORD),
    );
    let mut automation = Automation::new("apps");
    automation.path = "./overlays".to_string();
    tagpilot.write("automation.yaml", &automation.yaml());
    tagpilot.write("sync.yaml", &sync_yaml("./overlays/prod", "1h", ""));
    let api_image = || {
        jsonpath(
            &server.kubeconfig,
            &["deployment", "api", "-n", "shop"],
            "{.spec.template.spec.containers[0].image}",
        )
    };

    // The first revision: the Namespace first, then the overlay's objects.
    let first = run_once(&tagpilot, &server).success();
    assert!(
        first.stdout.contains("automation shop/apps: no change"),
        "{}",
        first.stdout
    );
    assert!(
        first
            .stdout
            .contains("sync shop/app: namespace/shop created\n"),
        "{}",
        first.stdout
    );
    assert!(
        first
            .stdout
            .contains("sync shop/app: deployment.apps/api created\n"),
        "{}",
        first.stdout
    );
    assert_eq!(api_image(), format!("{image}:1.0.0"));
    assert_eq!(
        jsonpath(
            &server.kubeconfig,
            &["deployment", "api", "-n", "shop"],
            "{.metadata.labels.sync\\.tagpilot\\.dev/name}",
        ),
        "app",
        "a Sync labels what it applies"
    );
    let first_revision = format!("main@sha1:{}", head(&bare));
    let status = sync_status(&tagpilot);
    assert_eq!(status["ready"]["status"], "True", "{status}");
    assert_eq!(status["lastAppliedRevision"], first_revision.as_str());
    assert_eq!(status["inventory"].as_array().unwrap().len(), 3, "{status}");

    // CI pushes 1.1.0: the engine commits the bump, the Sync applies that revision.
    pusher.push("1.1.0");
    let second = run_once(&tagpilot, &server).success();
    assert!(
        second.stdout.contains("automation shop/apps: pushed"),
        "{}",
        second.stdout
    );
    assert!(
        second
            .stdout
            .contains("sync shop/app: deployment.apps/api configured\n"),
        "{}",
        second.stdout
    );
    assert_eq!(api_image(), format!("{image}:1.1.0"));
    let bumped_revision = format!("main@sha1:{}", head(&bare));
    assert_ne!(bumped_revision, first_revision);
    assert_eq!(
        sync_status(&tagpilot)["lastAppliedRevision"],
        bumped_revision.as_str()
    );

    // A manifest removed from the repository is pruned.
    commit_to(&bare, "Drop the settings", |clone| {
        std::fs::remove_file(clone.join("base/settings.yaml")).unwrap();
        std::fs::write(
            clone.join("base/kustomization.yaml"),
            "resources:\n  - api.yaml\n",
        )
        .unwrap();
    });
    let third = run_once(&tagpilot, &server).success();
    assert!(
        third
            .stdout
            .contains("sync shop/app: configmap/settings pruned\n"),
        "{}",
        third.stdout
    );
    assert!(
        !kubectl(
            &server.kubeconfig,
            &["get", "configmap", "settings", "-n", "shop"]
        )
        .status
        .success()
    );
    assert!(
        kubectl(&server.kubeconfig, &["get", "namespace", "shop"])
            .status
            .success()
    );

    // An invalid manifest fails the whole revision: nothing of it is applied.
    let applied_before = sync_status(&tagpilot)["lastAppliedRevision"].clone();
    let broken = commit_to(&bare, "Add a broken Deployment and a ConfigMap", |clone| {
        std::fs::write(
            clone.join("base/broken.yaml"),
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: broken\nspec:\n  replicas: two\n  selector: {matchLabels: {app: b}}\n  template:\n    metadata: {labels: {app: b}}\n    spec: {containers: [{name: c, image: nginx}]}\n",
        )
        .unwrap();
        std::fs::write(
            clone.join("base/extra.yaml"),
            config_map("shop", "extra", "1"),
        )
        .unwrap();
        std::fs::write(
            clone.join("base/kustomization.yaml"),
            "resources:\n  - api.yaml\n  - broken.yaml\n  - extra.yaml\n",
        )
        .unwrap();
    });
    let fourth = run_once(&tagpilot, &server);
    assert_eq!(fourth.code, Some(1), "{}\n{}", fourth.stdout, fourth.stderr);
    assert!(
        fourth.stderr.contains("Deployment shop/broken"),
        "{}",
        fourth.stderr
    );
    assert!(
        !kubectl(
            &server.kubeconfig,
            &["get", "configmap", "extra", "-n", "shop"]
        )
        .status
        .success()
    );
    let status = sync_status(&tagpilot);
    assert_eq!(status["ready"]["status"], "False", "{status}");
    assert!(
        status["ready"]["message"]
            .as_str()
            .unwrap()
            .contains("Deployment shop/broken"),
        "{status}"
    );
    assert_eq!(status["lastAppliedRevision"], applied_before);
    assert_eq!(
        status["lastAttemptedRevision"],
        format!("main@sha1:{broken}").as_str()
    );

    let shown = tagpilot.status().success();
    assert!(shown.stdout.contains("SYNC"), "{}", shown.stdout);
    assert!(shown.stdout.contains("shop/app  False"), "{}", shown.stdout);
}

#[test]
fn a_manual_scale_is_reverted_at_the_next_interval_but_another_applier_is_a_conflict() {
    let server = KubeApiServer::start();
    let repos = GitRepos::new();
    let bare = repos.create(
        "config",
        &[
            // targetNamespace moves the Deployment into `team`, which this set creates.
            (
                "deploy/web.yaml",
                &deployment("default", "web", "nginx:1.27.0"),
            ),
            (
                "deploy/namespace.yaml",
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n",
            ),
        ],
    );
    let git_server = HttpGitServer::start(&repos);
    let tagpilot = Tagpilot::new();
    tagpilot.write(
        "source.yaml",
        &http_source(&git_server.url(&bare), GIT_USER, GIT_PASSWORD),
    );
    tagpilot.write(
        "sync.yaml",
        &sync_yaml("./deploy", "1s", "  targetNamespace: team\n"),
    );
    let port = free_port();
    let log = tagpilot.home_dir().join("daemon.log");
    let mut daemon = run_command(&tagpilot, &server, &["--log-level", "info", "run"])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
        .stderr(Stdio::from(
            std::fs::File::create(tagpilot.home_dir().join("daemon.err")).unwrap(),
        ))
        .spawn()
        .unwrap();
    let context =
        || std::fs::read_to_string(tagpilot.home_dir().join("daemon.err")).unwrap_or_default();
    let replicas = || {
        let output = kubectl(
            &server.kubeconfig,
            &[
                "get",
                "-n",
                "team",
                "deployment",
                "web",
                "-o=jsonpath={.spec.replicas}",
            ],
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    wait_for(
        "the Sync to create the Deployment",
        || (replicas() == "2").then_some(()),
        context,
    );
    let scaled = kubectl(
        &server.kubeconfig,
        &[
            "scale",
            "-n",
            "team",
            "deployment",
            "web",
            "--replicas",
            "5",
        ],
    );
    assert!(
        scaled.status.success(),
        "{}",
        String::from_utf8_lossy(&scaled.stderr)
    );
    wait_for(
        "the Sync to revert the manual scale",
        || (replicas() == "2").then_some(()),
        context,
    );
    let status = wait_for(
        "the drift correction in the status",
        || {
            let status = sync_status(&tagpilot);
            (status["driftCorrectedTotal"].as_u64() >= Some(1)).then_some(status)
        },
        context,
    );
    assert_eq!(status["ready"]["status"], "True", "{status}");
    let metrics = reqwest::blocking::get(format!("http://127.0.0.1:{port}/metrics"))
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("tagpilot_sync_drift_corrected_total{sync=\"shop/app\"} 1"),
        "{metrics}"
    );

    // Another applier that takes the field over is not overridden: that is a conflict.
    let theirs = tagpilot.home_dir().join("theirs.yaml");
    std::fs::write(
        &theirs,
        deployment("team", "web", "nginx:1.27.0").replace("replicas: 2", "replicas: 3"),
    )
    .unwrap();
    let applied = kubectl(
        &server.kubeconfig,
        &[
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager",
            "other-tool",
            "-f",
            theirs.to_str().unwrap(),
        ],
    );
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let status = wait_for(
        "the Sync to report the conflict",
        || {
            let status = sync_status(&tagpilot);
            (status["ready"]["status"] == "False").then_some(status)
        },
        context,
    );
    let message = status["ready"]["message"].as_str().unwrap();
    assert!(
        message.contains("Deployment team/web") && message.contains("other-tool"),
        "{message}"
    );
    assert_eq!(replicas(), "3");
    let _ = daemon.kill();
    let _ = daemon.wait();
}

#[test]
fn the_health_wait_names_what_did_not_roll_out_and_passes_once_it_has() {
    let server = KubeApiServer::start();
    let repos = GitRepos::new();
    let bare = repos.create(
        "config",
        &[
            (
                "deploy/web.yaml",
                &deployment("default", "web", "nginx:1.27.0"),
            ),
            (
                "deploy/settings.yaml",
                &config_map("default", "settings", "1"),
            ),
        ],
    );
    let git_server = HttpGitServer::start(&repos);
    let tagpilot = Tagpilot::new();
    tagpilot.write(
        "source.yaml",
        &http_source(&git_server.url(&bare), GIT_USER, GIT_PASSWORD),
    );
    // No kube-controller-manager runs here: the Deployment never rolls out by itself.
    tagpilot.write(
        "sync.yaml",
        &sync_yaml("./deploy", "1h", "  wait: true\n  timeout: 2s\n"),
    );
    let timed_out = run_once(&tagpilot, &server);
    assert_eq!(
        timed_out.code,
        Some(1),
        "{}\n{}",
        timed_out.stdout,
        timed_out.stderr
    );
    assert!(
        timed_out.stderr.contains("HealthCheckFailed"),
        "{}",
        timed_out.stderr
    );
    assert!(
        timed_out
            .stderr
            .contains("Deployment default/web: not rolled out"),
        "{}",
        timed_out.stderr
    );
    assert!(
        !timed_out.stderr.contains("ConfigMap"),
        "a present ConfigMap is healthy: {}",
        timed_out.stderr
    );
    let status = sync_status(&tagpilot);
    assert_eq!(status["ready"]["reason"], "HealthCheckFailed", "{status}");

    // Now let the wait see a rollout: the test writes the Deployment's status
    // subresource the way kube-controller-manager would once its Pods are available.
    tagpilot.write(
        "sync.yaml",
        &sync_yaml("./deploy", "1h", "  wait: true\n  timeout: 5m\n"),
    );
    let child = run_command(&tagpilot, &server, &["run", "--once"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status_patch = r#"{"status":{"observedGeneration":1,"replicas":2,"updatedReplicas":2,"readyReplicas":2,"availableReplicas":2}}"#;
    let patched = kubectl(
        &server.kubeconfig,
        &[
            "patch",
            "deployment",
            "web",
            "--subresource=status",
            "--type=merge",
            "-p",
            status_patch,
        ],
    );
    assert!(
        patched.status.success(),
        "{}",
        String::from_utf8_lossy(&patched.stderr)
    );
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(sync_status(&tagpilot)["ready"]["status"], "True");
}

//! `tagpilot apply` against a real kube-apiserver: plain manifests (CRD, its
//! custom resource and a Namespace in the same set), kubectl-like output,
//! unchanged re-applies, prune through the inventory ConfigMap, a kustomize
//! overlay with `images:`, an invalid manifest that changes nothing, and
//! field-manager conflicts reported unless forced.

use std::path::Path;
use std::process::{Command, Output};

use tempfile::TempDir;

use crate::harness::kube_api::{KubeApiServer, kubectl_command};
use crate::harness::process::write;

/// A Deployment `name` in `namespace` running `image` (valid for the API server).
pub fn deployment(namespace: &str, name: &str, image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n  namespace: {namespace}\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n        - name: {name}\n          image: {image}\n"
    )
}

/// A ConfigMap `name` in `namespace` with one key.
pub fn config_map(namespace: &str, name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {namespace}\ndata:\n  value: \"{value}\"\n"
    )
}

const WIDGET_CRD: &str = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\nspec:\n  group: example.com\n  names: {kind: Widget, plural: widgets, singular: widget}\n  scope: Namespaced\n  versions:\n    - name: v1\n      served: true\n      storage: true\n      schema:\n        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}\n";

/// `tagpilot apply ARGS` with `KUBECONFIG` pointing at `server`.
fn tagpilot_apply(server: &KubeApiServer, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tagpilot"))
        .env("KUBECONFIG", &server.kubeconfig)
        .env("NO_COLOR", "1")
        .arg("apply")
        .args(args)
        .output()
        .unwrap()
}

/// `kubectl ARGS` against `server`.
pub fn kubectl(kubeconfig: &Path, args: &[&str]) -> Output {
    kubectl_command(kubeconfig).args(args).output().unwrap()
}

/// `kubectl get ... -o jsonpath=PATH`, which must succeed.
pub fn jsonpath(kubeconfig: &Path, resource: &[&str], path: &str) -> String {
    let mut args = vec!["get"];
    args.extend_from_slice(resource);
    let format = format!("-o=jsonpath={path}");
    args.push(&format);
    let output = kubectl(kubeconfig, &args);
    assert!(
        output.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn exists(kubeconfig: &Path, resource: &[&str]) -> bool {
    let mut args = vec!["get"];
    args.extend_from_slice(resource);
    kubectl(kubeconfig, &args).status.success()
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn apply_creates_crds_namespaces_and_the_rest_then_reports_unchanged_and_prunes() {
    let server = KubeApiServer::start();
    let dir = TempDir::new().unwrap();
    let root = dir.path();
    write(
        &root.join("namespace.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: plain\n",
    );
    write(&root.join("crd.yaml"), WIDGET_CRD);
    // A custom resource whose kind and a namespace that only this set creates.
    write(
        &root.join("apps/widget.yaml"),
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: gear\n  namespace: plain\nspec:\n  size: 3\n",
    );
    write(
        &root.join("apps/web.yaml"),
        deployment("plain", "web", "nginx:1.27.0"),
    );
    write(
        &root.join("apps/settings.yaml"),
        config_map("plain", "settings", "1"),
    );
    write(&root.join("README.md"), "not a manifest\n");
    let path = root.to_str().unwrap();

    let first = tagpilot_apply(&server, &[path, "--inventory", "default/plain-inventory"]);
    let (stdout, stderr) = text(&first);
    assert_eq!(first.status.code(), Some(0), "{stdout}\n{stderr}");
    assert_eq!(
        stdout,
        "customresourcedefinition.apiextensions.k8s.io/widgets.example.com created\n\
         namespace/plain created\n\
         configmap/settings created\n\
         deployment.apps/web created\n\
         widget.example.com/gear created\n"
    );
    assert_eq!(
        jsonpath(
            &server.kubeconfig,
            &["deployment", "web", "-n", "plain"],
            "{.metadata.managedFields[0].manager}"
        ),
        "tagpilot"
    );

    let again = tagpilot_apply(&server, &[path, "--inventory", "default/plain-inventory"]);
    let (stdout, stderr) = text(&again);
    assert_eq!(again.status.code(), Some(0), "{stderr}");
    for line in stdout.lines().filter(|l| !l.starts_with("namespace/")) {
        assert!(line.ends_with(" unchanged"), "{stdout}");
    }

    std::fs::remove_file(root.join("apps/settings.yaml")).unwrap();
    write(
        &root.join("apps/web.yaml"),
        deployment("plain", "web", "nginx:1.27.1"),
    );
    let dry = tagpilot_apply(
        &server,
        &[
            path,
            "--prune",
            "--dry-run",
            "--inventory",
            "default/plain-inventory",
        ],
    );
    let (stdout, _) = text(&dry);
    assert!(
        stdout.contains("deployment.apps/web configured (server dry run)\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("configmap/settings pruned (server dry run)\n"),
        "{stdout}"
    );
    assert!(
        exists(
            &server.kubeconfig,
            &["configmap", "settings", "-n", "plain"]
        ),
        "a dry run deletes nothing"
    );
    assert_eq!(
        jsonpath(
            &server.kubeconfig,
            &["deployment", "web", "-n", "plain"],
            "{.spec.template.spec.containers[0].image}"
        ),
        "nginx:1.27.0",
        "a dry run changes nothing"
    );

    let pruned = tagpilot_apply(
        &server,
        &[path, "--prune", "--inventory", "default/plain-inventory"],
    );
    let (stdout, stderr) = text(&pruned);
    assert_eq!(pruned.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains("deployment.apps/web configured\n"),
        "{stdout}"
    );
    assert!(stdout.ends_with("configmap/settings pruned\n"), "{stdout}");
    assert!(!exists(
        &server.kubeconfig,
        &["configmap", "settings", "-n", "plain"]
    ));
    assert!(exists(
        &server.kubeconfig,
        &["widget", "gear", "-n", "plain"]
    ));
}

#[test]
fn an_invalid_manifest_changes_nothing_and_is_named() {
    let server = KubeApiServer::start();
    let dir = TempDir::new().unwrap();
    let root = dir.path();
    write(&root.join("good.yaml"), config_map("default", "good", "1"));
    write(
        &root.join("bad.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: broken\n  namespace: default\nspec:\n  replicas: two\n  selector: {matchLabels: {app: broken}}\n  template:\n    metadata: {labels: {app: broken}}\n    spec: {containers: [{name: c, image: nginx}]}\n",
    );
    let output = tagpilot_apply(&server, &[root.to_str().unwrap()]);
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(stderr.contains("Deployment default/broken"), "{stderr}");
    assert!(stderr.contains(".spec.replicas"), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        !exists(&server.kubeconfig, &["configmap", "good", "-n", "default"]),
        "the valid object of the same set must not be applied"
    );
}

#[test]
fn a_kustomize_overlay_with_images_is_rendered_and_applied() {
    let server = KubeApiServer::start();
    let dir = TempDir::new().unwrap();
    let root = dir.path();
    write(
        &root.join("base/deployment.yaml"),
        deployment("default", "api", "app"),
    );
    write(
        &root.join("base/kustomization.yaml"),
        "resources:\n  - deployment.yaml\n",
    );
    write(
        &root.join("overlays/prod/kustomization.yaml"),
        "namespace: default\nresources:\n  - ../../base\nimages:\n  - name: app\n    newName: registry.example.com/shop/api # {\"$imagepolicy\": \"shop:api:name\"}\n    newTag: 1.2.3 # {\"$imagepolicy\": \"shop:api:tag\"}\n",
    );
    let overlay = root.join("overlays/prod");
    let output = tagpilot_apply(
        &server,
        &[
            overlay.to_str().unwrap(),
            "--kustomize",
            "/nonexistent/kustomize",
        ],
    );
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    assert_eq!(stdout, "deployment.apps/api created\n");
    assert_eq!(
        jsonpath(
            &server.kubeconfig,
            &["deployment", "api", "-n", "default"],
            "{.spec.template.spec.containers[0].image}"
        ),
        "registry.example.com/shop/api:1.2.3"
    );
}

#[test]
fn conflicts_with_another_applier_are_reported_unless_forced() {
    let server = KubeApiServer::start();
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("settings.yaml");
    write(&file, config_map("default", "shared", "theirs"));
    let theirs = kubectl(
        &server.kubeconfig,
        &[
            "apply",
            "--server-side",
            "--field-manager",
            "other-tool",
            "-f",
            file.to_str().unwrap(),
        ],
    );
    assert!(
        theirs.status.success(),
        "{}",
        String::from_utf8_lossy(&theirs.stderr)
    );
    write(&file, config_map("default", "shared", "ours"));
    let path = dir.path().to_str().unwrap();
    let refused = tagpilot_apply(&server, &[path]);
    let (_, stderr) = text(&refused);
    assert_ne!(refused.status.code(), Some(0));
    assert!(
        stderr.contains("ConfigMap default/shared") && stderr.contains("other-tool"),
        "{stderr}"
    );
    assert_eq!(
        jsonpath(
            &server.kubeconfig,
            &["configmap", "shared"],
            "{.data.value}"
        ),
        "theirs"
    );
    let forced = tagpilot_apply(&server, &[path, "--force-conflicts"]);
    let (stdout, stderr) = text(&forced);
    assert_eq!(forced.status.code(), Some(0), "{stderr}");
    assert_eq!(stdout, "configmap/shared configured\n");
    assert_eq!(
        jsonpath(
            &server.kubeconfig,
            &["configmap", "shared"],
            "{.data.value}"
        ),
        "ours"
    );
}

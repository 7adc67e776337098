//! Syncs in controller mode, end to end: a real kube-apiserver, a real git
//! server (lighttpd + git http-backend, basic auth from a Secret), and
//! `tagpilot controller` (leader-elected) applying a path of plain manifests
//! and a kustomize overlay with `images:`. New commits are applied at the next
//! interval (or at once on `reconcile.tagpilot.dev/requestedAt`), manual
//! edits are reverted, removed manifests are pruned, an invalid manifest changes nothing and names the
//! object, and `kubectl get syncs` shows the printer columns.
//!
//! No controller-manager runs, so Deployments never roll out: the Syncs do not
//! `wait`, and what is checked is what the API server stores.

use crate::apply::{config_map, deployment, jsonpath};
use crate::apply_sync::{commit_to, head};
use crate::controller::{git_ssh_secret, ready_condition, shop_objects};
use crate::controller_rbac::service_account_kubeconfig;
use crate::engine::World;
use crate::harness::cluster::Cluster;
use crate::harness::git_server::{GIT_PASSWORD, GIT_USER, GitRepos, HttpGitServer, SshGitServer};
use crate::harness::images::ImagePusher;
use crate::harness::registry::{AuthMode, Distribution, Registry};

/// The GitRepository `shop/config` at `url`, with the Secret `git-http`.
fn source_yaml(url: &str) -> String {
    format!(
        "apiVersion: tagpilot.dev/v1alpha1\nkind: GitRepository\nmetadata:\n  name: config\n  namespace: shop\nspec:\n  url: {url}\n  ref:\n    branch: main\n  interval: 1h\n  secretRef:\n    name: git-http\n"
    )
}

/// The Sync `shop/NAME` of `path` in `shop/config`.
fn sync_yaml(name: &str, path: &str, interval: &str) -> String {
    format!(
        "apiVersion: tagpilot.dev/v1alpha1\nkind: Sync\nmetadata:\n  name: {name}\n  namespace: shop\nspec:\n  sourceRef:\n    kind: GitRepository\n    name: config\n  path: {path}\n  interval: {interval}\n"
    )
}

fn overlay(tag: &str) -> String {
    format!(
        "namespace: shop\nresources:\n  - api.yaml\nimages:\n  - name: app\n    newName: registry.example/shop/api\n    newTag: {tag}\n"
    )
}

fn message(sync: &serde_json::Value) -> String {
    ready_condition(sync)
        .and_then(|c| c["message"].as_str())
        .unwrap_or_default()
        .to_string()
}

/// Ready=True for the current generation, with `revision` applied.
fn applied(sync: &serde_json::Value, revision: &str) -> bool {
    ready_condition(sync).is_some_and(|c| c["status"] == "True")
        && sync["status"]["observedGeneration"] == sync["metadata"]["generation"]
        && sync["status"]["lastAppliedRevision"] == revision
}

#[test]
fn controller_sync_applies_prunes_and_refuses_invalid_revisions() {
    let cluster = Cluster::start();
    cluster.namespace("shop");
    // OpenAPI validation of the Sync CRD: interval pattern, required sourceRef.
    for (bad, expected) in [
        (sync_yaml("bad", "./plain", "soon"), "spec.interval"),
        (
            "apiVersion: tagpilot.dev/v1alpha1\nkind: Sync\nmetadata:\n  name: bad\n  namespace: shop\nspec:\n  path: ./plain\n".to_string(),
            "spec.sourceRef: Required value",
        ),
    ] {
        let (ok, _, stderr) = cluster.kubectl_output(&["apply", "-f", "-"], Some(&bad));
        assert!(!ok, "the API server accepted:\n{bad}");
        assert!(stderr.contains(expected), "{expected}: {stderr}");
    }

    let repos = GitRepos::new();
    let bare = repos.create(
        "config",
        &[
            ("plain/settings.yaml", &config_map("shop", "settings", "1")),
            ("plain/extra/extra.yaml", &config_map("shop", "extra", "1")),
            ("overlay/kustomization.yaml", &overlay("1.0.0")),
            ("overlay/api.yaml", &deployment("shop", "api", "app")),
        ],
    );
    let git_server = HttpGitServer::start(&repos);
    cluster.kubectl(&[
        "create",
        "secret",
        "generic",
        "git-http",
        "-n",
        "shop",
        &format!("--from-literal=username={GIT_USER}"),
        &format!("--from-literal=password={GIT_PASSWORD}"),
    ]);
    cluster.apply(&source_yaml(&git_server.url(&bare)));
    // `plain` follows the branch every 2 s; `overlay` only hourly (or when asked).
    cluster.apply(&sync_yaml("plain", "./plain", "2s"));
    cluster.apply(&sync_yaml("overlay", "./overlay", "1h"));
    let controller = cluster.spawn_controller(
        "sync",
        cluster.kubeconfig(),
        &["--leader-elect", "--lease-namespace", "shop"],
    );
    let log = || controller.log_text();
    let kubeconfig = cluster.kubeconfig().to_path_buf();
    let api_image = || {
        jsonpath(
            &kubeconfig,
            &["deployment", "api", "-n", "shop"],
            "{.spec.template.spec.containers[0].image}",
        )
    };

    // The first revision: both paths applied, the revision and inventory in status.
    let first = format!("main@sha1:{}", head(&bare));
    let plain = cluster.wait_for_object(
        "the plain Sync applied",
        "sync",
        "shop",
        "plain",
        |o| applied(o, &first),
        log,
    );
    assert!(message(&plain).contains("2 created"), "{plain:#}");
    let inventory = plain["status"]["inventory"].as_array().unwrap();
    assert_eq!(inventory.len(), 2, "{plain:#}");
    assert_eq!(plain["status"]["lastAttemptedRevision"], first.as_str());
    let settings = cluster.get_json("configmap", "shop", "settings").unwrap();
    assert_eq!(
        settings["metadata"]["labels"]["sync.tagpilot.dev/name"], "plain",
        "{settings:#}"
    );
    cluster.wait_for_object(
        "the overlay Sync applied",
        "sync",
        "shop",
        "overlay",
        |o| applied(o, &first),
        log,
    );
    assert_eq!(api_image(), "registry.example/shop/api:1.0.0");

    // `kubectl get syncs`: the printer columns.
    let table = cluster.kubectl(&["get", "syncs", "-n", "shop"]);
    let lines: Vec<Vec<&str>> = table
        .lines()
        .map(|line| {
            line.split("   ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect();
    assert_eq!(
        lines[0],
        ["NAME", "READY", "STATUS", "REVISION", "AGE"],
        "{table}"
    );
    let plain_row = lines.iter().find(|l| l[0] == "plain").unwrap();
    assert_eq!(plain_row[1], "True", "{table}");
    assert_eq!(plain_row[3], first, "{table}");
    cluster.wait_for_events("shop", &[], &["ReconciliationSucceeded"]);

    // Drift: a manual edit is reverted at the next interval, and counted.
    cluster.kubectl(&[
        "patch",
        "configmap",
        "settings",
        "-n",
        "shop",
        "--type=merge",
        "-p",
        r#"{"data":{"value":"edited"}}"#,
    ]);
    cluster.wait_for_object(
        "the manual edit reverted and counted",
        "sync",
        "shop",
        "plain",
        |o| o["status"]["driftCorrectedTotal"].as_i64() >= Some(1),
        log,
    );
    let settings = cluster.get_json("configmap", "shop", "settings").unwrap();
    assert_eq!(settings["data"]["value"], "1", "{settings:#}");

    // A new commit: a removed manifest is pruned at the next interval, and the
    // overlay's tag bump is applied when requested.
    let second = commit_to(&bare, "Bump the api and drop the extra settings", |clone| {
        std::fs::remove_dir_all(clone.join("plain/extra")).unwrap();
        std::fs::write(clone.join("overlay/kustomization.yaml"), overlay("1.1.0")).unwrap();
    });
    let second = format!("main@sha1:{second}");
    let plain = cluster.wait_for_object(
        "the plain Sync at the next interval",
        "sync",
        "shop",
        "plain",
        |o| applied(o, &second),
        log,
    );
    assert!(message(&plain).contains("1 pruned"), "{plain:#}");
    assert!(cluster.get_json("configmap", "shop", "extra").is_none());
    assert!(cluster.get_json("configmap", "shop", "settings").is_some());
    assert_eq!(plain["status"]["inventory"].as_array().unwrap().len(), 1);
    cluster.request_reconcile("sync", "shop", "overlay", "now-1");
    cluster.wait_for_object(
        "the overlay Sync applied on request",
        "sync",
        "shop",
        "overlay",
        |o| applied(o, &second),
        log,
    );
    assert_eq!(api_image(), "registry.example/shop/api:1.1.0");

    // An invalid manifest: nothing of the revision is applied, and the Sync
    // is not Ready, naming the object.
    let broken = commit_to(&bare, "Add a broken Deployment and a ConfigMap", |clone| {
        std::fs::write(
            clone.join("plain/broken.yaml"),
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: broken\n  namespace: shop\nspec:\n  replicas: two\n  selector: {matchLabels: {app: b}}\n  template:\n    metadata: {labels: {app: b}}\n    spec: {containers: [{name: c, image: nginx}]}\n",
        )
        .unwrap();
        std::fs::write(
            clone.join("plain/added.yaml"),
            config_map("shop", "added", "1"),
        )
        .unwrap();
    });
    let broken = format!("main@sha1:{broken}");
    let plain = cluster.wait_for_object(
        "the plain Sync to refuse the broken revision",
        "sync",
        "shop",
        "plain",
        |o| {
            o["status"]["lastAttemptedRevision"] == broken.as_str()
                && ready_condition(o).is_some_and(|c| c["status"] == "False")
        },
        log,
    );
    let ready = ready_condition(&plain).unwrap();
    assert_eq!(ready["reason"], "ReconciliationFailed", "{plain:#}");
    assert!(
        message(&plain).contains("Deployment shop/broken"),
        "{plain:#}"
    );
    assert_eq!(plain["status"]["lastAppliedRevision"], second.as_str());
    assert!(cluster.get_json("configmap", "shop", "added").is_none());
    assert!(cluster.get_json("deployment", "shop", "broken").is_none());
    cluster.wait_for_object(
        "a warning event naming the object",
        "sync",
        "shop",
        "plain",
        |_| {
            cluster
                .kubectl(&["get", "events", "-n", "shop"])
                .contains("Deployment shop/broken")
        },
        log,
    );
    let table = cluster.kubectl(&["get", "syncs", "-n", "shop"]);
    assert!(table.contains("False"), "{table}");
    controller.assert_running();

    // A new controller with an empty state directory prunes against the
    // inventory in the Sync's status (as after a restart or a leader change).
    controller.kill();
    let fixed = commit_to(
        &bare,
        "Replace the settings, drop the broken files",
        |clone| {
            for file in [
                "plain/broken.yaml",
                "plain/added.yaml",
                "plain/settings.yaml",
            ] {
                std::fs::remove_file(clone.join(file)).unwrap();
            }
            std::fs::write(
                clone.join("plain/fresh.yaml"),
                config_map("shop", "fresh", "1"),
            )
            .unwrap();
        },
    );
    let fixed = format!("main@sha1:{fixed}");
    let successor = cluster.spawn_controller(
        "sync-successor",
        cluster.kubeconfig(),
        &[
            "--leader-elect",
            "--lease-namespace",
            "shop",
            "--lease-duration",
            "4s",
        ],
    );
    let plain = cluster.wait_for_object(
        "the successor to apply and prune",
        "sync",
        "shop",
        "plain",
        |o| applied(o, &fixed),
        || successor.log_text(),
    );
    assert!(message(&plain).contains("1 pruned"), "{plain:#}");
    assert!(cluster.get_json("configmap", "shop", "settings").is_none());
    assert!(cluster.get_json("configmap", "shop", "fresh").is_some());
    successor.assert_running();
}

/// With `deploy/` alone the controller keeps least privilege: a Sync is
/// reported Ready=False with the API server's refusal and nothing is applied.
/// Adding the documented opt-in `deploy/sync-rbac.yaml` lets it apply.
#[test]
fn controller_sync_needs_the_opt_in_rbac_to_apply() {
    let cluster = Cluster::start();
    let deploy = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    cluster.kubectl(&["apply", "-k", deploy.to_str().unwrap()]);
    let kubeconfig = service_account_kubeconfig(&cluster, "tagpilot-system", "tagpilot");
    cluster.namespace("shop");
    let repos = GitRepos::new();
    let bare = repos.create(
        "config",
        &[("plain/settings.yaml", &config_map("shop", "settings", "1"))],
    );
    let git_server = HttpGitServer::start(&repos);
    cluster.kubectl(&[
        "create",
        "secret",
        "generic",
        "git-http",
        "-n",
        "shop",
        &format!("--from-literal=username={GIT_USER}"),
        &format!("--from-literal=password={GIT_PASSWORD}"),
    ]);
    cluster.apply(&source_yaml(&git_server.url(&bare)));
    cluster.apply(&sync_yaml("plain", "./plain", "2s"));
    let controller = cluster.spawn_controller(
        "sync-rbac",
        &kubeconfig,
        &["--leader-elect", "--lease-namespace", "tagpilot-system"],
    );
    let log = || controller.log_text();
    let refused = cluster.wait_for_object(
        "the Sync refused for lack of rights",
        "sync",
        "shop",
        "plain",
        |o| ready_condition(o).is_some_and(|c| c["status"] == "False"),
        log,
    );
    assert!(message(&refused).contains("forbidden"), "{refused:#}");
    assert!(cluster.get_json("configmap", "shop", "settings").is_none());

    cluster.kubectl(&[
        "apply",
        "-f",
        deploy.join("sync-rbac.yaml").to_str().unwrap(),
    ]);
    let revision = format!("main@sha1:{}", head(&bare));
    cluster.wait_for_object(
        "the Sync applied with the opt-in rights",
        "sync",
        "shop",
        "plain",
        |o| applied(o, &revision),
        log,
    );
    assert!(cluster.get_json("configmap", "shop", "settings").is_some());
    controller.assert_running();
}

/// The whole pipeline in one cluster: a new tag is scanned, the automation
/// pushes the bump, and the push itself makes the Sync apply it (its own
/// interval and the GitRepository's are an hour). Meanwhile another Sync of the
/// same source waits for a Deployment that never rolls out (no
/// controller-manager runs here): its run holds neither the scan, the push,
/// nor the other Sync. An invalid Sync spec is Stalled with the field named.
#[test]
fn controller_sync_applies_the_automations_push_at_once() {
    let cluster = Cluster::start();
    let registry = Registry::start(Distribution::V2, AuthMode::Anonymous);
    ImagePusher::new(&registry, "shop/api").push("1.0.0");
    let image = format!("{}/shop/api", registry.host);
    let repos = GitRepos::new();
    let marked = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  selector:\n    matchLabels: {{app: api}}\n  template:\n    metadata:\n      labels: {{app: api}}\n    spec:\n      containers:\n        - name: api\n          image: {image}:1.0.0 # {{\"$imagepolicy\": \"shop:api\"}}\n"
    );
    let bare = repos.create("config", &[("apps/api.yaml", &marked)]);
    let world = World {
        registry,
        repos,
        bare,
        image: image.clone(),
    };
    let server = SshGitServer::start();
    cluster.namespace("shop");
    git_ssh_secret(&cluster, &server);
    cluster.apply(&shop_objects(&world, &server.url(&world.bare), "^1\\."));
    cluster.apply(&sync_yaml("apps", "./apps", "1h"));
    cluster.apply(&sync_yaml("outside", "../elsewhere", "1h"));
    cluster.namespace("waiting");
    cluster.apply(&format!(
        "{}  targetNamespace: waiting\n  wait: true\n  timeout: 1h\n",
        sync_yaml("waits", "./apps", "1h")
    ));
    let controller = cluster.spawn_controller("sync-push", cluster.kubeconfig(), &[]);
    let log = || controller.log_text();
    let api_image = || {
        cluster.get_json("deployment", "shop", "api").map(|d| {
            d["spec"]["template"]["spec"]["containers"][0]["image"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
    };

    let first = format!("main@sha1:{}", world.head());
    cluster.wait_for_object(
        "the Sync applied the first revision",
        "sync",
        "shop",
        "apps",
        |o| applied(o, &first),
        log,
    );
    // Objects without a namespace go to the Sync's.
    assert_eq!(api_image(), Some(format!("{image}:1.0.0")));
    let stalled = cluster.wait_for_object(
        "the invalid Sync Stalled",
        "sync",
        "shop",
        "outside",
        |o| {
            o["status"]["conditions"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c["type"] == "Stalled"))
        },
        log,
    );
    assert!(message(&stalled).contains("spec.path"), "{stalled:#}");

    ImagePusher::new(&world.registry, "shop/api").push("1.1.0");
    cluster.request_reconcile("imagerepository", "shop", "api", "scan-now");
    let automation = cluster.wait_for_object(
        "the automation's push",
        "imageupdateautomation",
        "shop",
        "apps",
        |o| o["status"]["lastPushCommit"].is_string(),
        log,
    );
    let pushed = format!(
        "main@sha1:{}",
        automation["status"]["lastPushCommit"].as_str().unwrap()
    );
    assert_ne!(pushed, first);
    cluster.wait_for_object(
        "the Sync applied the pushed revision",
        "sync",
        "shop",
        "apps",
        |o| applied(o, &pushed),
        log,
    );
    assert_eq!(api_image(), Some(format!("{image}:1.1.0")));
    // The waiting Sync applied its Deployment and is still in its first run.
    cluster.wait_for_object(
        "the waiting Sync's Deployment",
        "deployment",
        "waiting",
        "api",
        |_| true,
        log,
    );
    // (A first status that only says "in progress" is written after 3 s.)
    let waits = cluster.wait_for_object(
        "the waiting Sync's first status",
        "sync",
        "shop",
        "waits",
        |o| ready_condition(o).is_some(),
        log,
    );
    assert!(
        waits["status"]["lastAttemptedRevision"].is_null(),
        "{waits:#}"
    );
    assert_eq!(
        ready_condition(&waits).unwrap()["status"],
        "Unknown",
        "{waits:#}"
    );
    controller.assert_running();
}

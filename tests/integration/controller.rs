//! Controller mode against a real kube-apiserver: the CRDs (schema validation,
//! printer columns, status subresource), and `tagpilot controller` scanning a
//! real registry and committing to a real git server, with status written back.

use crate::engine::World;
use crate::harness::cluster::Cluster;
use crate::harness::git_server::SshGitServer;
use crate::harness::tagpilot::{AUTHOR_EMAIL, AUTHOR_NAME};

const POLICY: &str = "apiVersion: tagpilot.dev/v1alpha1\nkind: ImagePolicy\nmetadata:\n  name: api\n  namespace: crds\nspec:\n  imageRepositoryRef:\n    name: api\n  policy:\n    semver:\n      range: '>=1.0.0'\n";

#[test]
fn crds_validate_objects_and_kubectl_shows_the_printer_columns() {
    let cluster = Cluster::start();
    cluster.namespace("crds");
    cluster.apply(POLICY);
    // OpenAPI validation: bad enum, bad interval, missing required field.
    for (bad, expected) in [
        (
            POLICY.replace(
                "  policy:\n",
                "  digestReflectionPolicy: Sometimes\n  policy:\n",
            ),
            "digestReflectionPolicy",
        ),
        (
            POLICY.replace("  policy:\n", "  interval: five minutes\n  policy:\n"),
            "spec.interval",
        ),
        (
            POLICY.replace("  policy:\n    semver:\n      range: '>=1.0.0'\n", ""),
            "spec.policy: Required value",
        ),
    ] {
        let bad = bad.replace("name: api\n  namespace", "name: bad\n  namespace");
        let (ok, _, stderr) = cluster.kubectl_output(&["apply", "-f", "-"], Some(&bad));
        assert!(!ok, "the API server accepted:\n{bad}");
        assert!(stderr.contains(expected), "{expected}: {stderr}");
    }
    // The status subresource: a status patch is kept, a spec patch does not touch it.
    cluster.kubectl(&[
        "patch",
        "imagepolicy",
        "api",
        "-n",
        "crds",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"observedGeneration":1,"latestRef":{"name":"reg.example/shop/api","tag":"1.2.3"},"conditions":[{"type":"Ready","status":"True","reason":"Succeeded","message":"latest tag 1.2.3","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}"#,
    ]);
    let table = cluster.kubectl(&["get", "imagepolicies", "-n", "crds"]);
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
        ["NAME", "READY", "STATUS", "LATEST TAG", "AGE"],
        "{table}"
    );
    assert_eq!(
        &lines[1][..4],
        ["api", "True", "latest tag 1.2.3", "1.2.3"],
        "{table}"
    );
    let wide = cluster.kubectl(&["get", "imagepolicies", "-n", "crds", "-o", "wide"]);
    assert!(
        wide.contains("IMAGE") && wide.contains("reg.example/shop/api"),
        "{wide}"
    );
}

/// The four objects of the `shop` namespace for `world`, in our API group,
/// the config repository reached over ssh through `url` with Secret `git-ssh`.
pub fn shop_objects(world: &World, url: &str, pattern: &str) -> String {
    format!(
        "apiVersion: tagpilot.dev/v1alpha1
kind: ImageRepository
metadata:
  name: api
  namespace: shop
spec:
  image: {image}
  interval: 1h
  insecure: true
---
{policy}---
apiVersion: tagpilot.dev/v1alpha1
kind: GitRepository
metadata:
  name: config
  namespace: shop
spec:
  url: {url}
  ref:
    branch: main
  interval: 1h
  secretRef:
    name: git-ssh
---
apiVersion: tagpilot.dev/v1alpha1
kind: ImageUpdateAutomation
metadata:
  name: apps
  namespace: shop
spec:
  interval: 1h
  sourceRef:
    kind: GitRepository
    name: config
  git:
    checkout:
      ref:
        branch: main
    commit:
      author:
        name: {AUTHOR_NAME}
        email: {AUTHOR_EMAIL}
    push:
      branch: main
  update:
    path: ./apps
    strategy: Setters
",
        image = world.image,
        policy = shop_policy(pattern),
    )
}

/// The ImagePolicy `shop/api` with `filterTags.pattern`.
pub fn shop_policy(pattern: &str) -> String {
    format!(
        "apiVersion: tagpilot.dev/v1alpha1
kind: ImagePolicy
metadata:
  name: api
  namespace: shop
spec:
  imageRepositoryRef:
    name: api
  filterTags:
    pattern: '{pattern}'
  policy:
    semver:
      range: '>=1.0.0 <2.0.0'
"
    )
}

/// `kubectl create secret generic git-ssh` in `shop` with the ssh server's client key.
pub fn git_ssh_secret(cluster: &Cluster, server: &SshGitServer) {
    cluster.kubectl(&[
        "create",
        "secret",
        "generic",
        "git-ssh",
        "-n",
        "shop",
        &format!("--from-file=identity={}", server.identity_path.display()),
        &format!(
            "--from-file=known_hosts={}",
            server.known_hosts_path.display()
        ),
    ]);
}

pub fn ready_condition(object: &serde_json::Value) -> Option<&serde_json::Value> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")
}

pub fn is_ready(object: &serde_json::Value) -> bool {
    ready_condition(object).is_some_and(|c| c["status"] == "True")
        && object["status"]["observedGeneration"] == object["metadata"]["generation"]
}

#[test]
fn controller_scans_commits_reports_status_and_stalls_on_an_invalid_regex() {
    let cluster = Cluster::start();
    let world = World::new(&["1.0.0", "1.1.0", "1.2.0", "2.0.0"]);
    let server = SshGitServer::start();
    cluster.namespace("shop");
    git_ssh_secret(&cluster, &server);
    cluster.apply(&shop_objects(&world, &server.url(&world.bare), "^1\\."));
    let controller = cluster.spawn_controller("controller", cluster.kubeconfig(), &[]);
    let log = || controller.log_text();
    let policy = cluster.wait_for_object(
        "the policy's latestRef",
        "imagepolicy",
        "shop",
        "api",
        |o| o["status"]["latestRef"]["tag"] == "1.2.0" && is_ready(o),
        log,
    );
    assert_eq!(policy["status"]["latestRef"]["name"], world.image);
    let automation = cluster.wait_for_object(
        "the automation's lastPushCommit",
        "imageupdateautomation",
        "shop",
        "apps",
        |o| o["status"]["lastPushCommit"].is_string() && is_ready(o),
        log,
    );
    assert_eq!(automation["status"]["lastPushCommit"], world.head());
    assert_eq!(world.commit_count(), 2, "one bot commit");
    assert!(
        world.deployed().contains(&format!("{}:1.2.0", world.image)),
        "{}",
        world.deployed()
    );
    assert_eq!(
        automation["status"]["observedPolicies"]["api"]["tag"], "1.2.0",
        "{automation:#}"
    );
    let repository = cluster.get_json("imagerepository", "shop", "api").unwrap();
    assert_eq!(repository["status"]["lastScanResult"]["tagCount"], 4);
    // Status fields are owned by one field manager, written by server-side apply.
    let with_fields: serde_json::Value = serde_json::from_str(&cluster.kubectl(&[
        "get",
        "imageupdateautomation",
        "-n",
        "shop",
        "apps",
        "-o",
        "json",
        "--show-managed-fields",
    ]))
    .unwrap();
    let managers: Vec<&str> = with_fields["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["subresource"] == "status")
        .map(|f| f["manager"].as_str().unwrap())
        .collect();
    assert_eq!(managers, ["tagpilot"]);
    let table = cluster.kubectl(&["get", "imagepolicies", "-n", "shop"]);
    assert!(table.contains("True") && table.contains("1.2.0"), "{table}");
    let events = cluster.wait_for_events("shop", &[], &["Pushed", "NewLatestImage", "NewTags"]);
    // What a user sees (the README shows this output).
    eprintln!(
        "{}\n{events}",
        cluster.kubectl(&[
            "get",
            "imagerepositories,imagepolicies,gitrepositories,imageupdateautomations",
            "-n",
            "shop"
        ])
    );
    for reason in ["Pushed", "NewLatestImage", "NewTags"] {
        assert!(events.contains(reason), "{reason}:\n{events}");
    }

    // An invalid regex: Stalled, the message names the field; nothing else moves.
    cluster.apply(&shop_policy("^1\\.(("));
    let stalled = cluster.wait_for_object(
        "the policy to stall",
        "imagepolicy",
        "shop",
        "api",
        |o| {
            o["status"]["observedGeneration"] == o["metadata"]["generation"]
                && o["status"]["conditions"].as_array().is_some_and(|c| {
                    c.iter()
                        .any(|c| c["type"] == "Stalled" && c["status"] == "True")
                })
        },
        log,
    );
    let message = ready_condition(&stalled).unwrap()["message"]
        .as_str()
        .unwrap();
    assert!(message.contains("spec.filterTags.pattern"), "{message}");
    assert_eq!(ready_condition(&stalled).unwrap()["status"], "False");
    eprintln!(
        "{}",
        cluster.kubectl(&["get", "imagepolicies", "-n", "shop"])
    );
    // Fixing it makes it Ready again.
    cluster.apply(&shop_policy("^1\\."));
    let fixed = cluster.wait_for_object(
        "the policy to be Ready again",
        "imagepolicy",
        "shop",
        "api",
        |o| is_ready(o) && o["status"]["latestRef"]["tag"] == "1.2.0",
        log,
    );
    assert!(
        fixed["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["type"] != "Stalled"),
        "{fixed:#}"
    );
    assert_eq!(world.commit_count(), 2, "no change, no commit");
    controller.assert_running();
    let identity = std::fs::read_to_string(&server.identity_path).unwrap();
    let secret_line = identity.lines().nth(1).unwrap();
    assert!(
        !controller.log_text().contains(secret_line),
        "a key reached the log"
    );
}

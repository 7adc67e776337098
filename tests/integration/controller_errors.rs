//! How the controller reports what it cannot do, against the real API server:
//! a cross-namespace policy without the repository's `accessFrom` consent, a
//! registry that does not answer (Ready=False, retried with backoff), and a
//! Secret that appears after the object naming it.

use crate::controller::{is_ready, ready_condition};
use crate::engine::World;
use crate::harness::cluster::Cluster;
use crate::harness::process::free_port;
use crate::harness::tagpilot::wait_for;

fn policy(namespace: &str, name: &str) -> String {
    format!(
        "apiVersion: tagpilot.dev/v1alpha1\nkind: ImagePolicy\nmetadata:\n  name: {name}\n  namespace: {namespace}\nspec:\n  imageRepositoryRef:\n    name: api\n    namespace: images\n  policy:\n    semver:\n      range: '>=1.0.0'\n"
    )
}

fn reason(object: &serde_json::Value) -> String {
    ready_condition(object)
        .map(|c| {
            format!(
                "{}/{}",
                c["status"].as_str().unwrap(),
                c["reason"].as_str().unwrap()
            )
        })
        .unwrap_or_default()
}

#[test]
fn access_from_backoff_and_late_secrets_are_reported_in_status() {
    let cluster = Cluster::start();
    let world = World::new(&["1.0.0", "1.5.0"]);
    for namespace in ["images", "shop", "other"] {
        cluster.namespace(namespace);
    }
    cluster.kubectl(&["label", "namespace", "shop", "team=shop"]);
    let dead = format!("127.0.0.1:{}/nobody/home", free_port());
    cluster.apply(&format!(
        "apiVersion: tagpilot.dev/v1alpha1\nkind: ImageRepository\nmetadata:\n  name: api\n  namespace: images\nspec:\n  image: {image}\n  interval: 1h\n  insecure: true\n  accessFrom:\n    namespaceSelectors:\n      - matchLabels:\n          team: shop\n---\n{allowed}---\n{denied}---\napiVersion: tagpilot.dev/v1alpha1\nkind: ImageRepository\nmetadata:\n  name: down\n  namespace: images\nspec:\n  image: {dead}\n  interval: 1h\n  insecure: true\n---\napiVersion: tagpilot.dev/v1alpha1\nkind: GitRepository\nmetadata:\n  name: config\n  namespace: shop\nspec:\n  url: file://{bare}\n  interval: 1h\n  secretRef:\n    name: later\n",
        image = world.image,
        allowed = policy("shop", "allowed"),
        denied = policy("other", "denied"),
        bare = world.bare.display(),
    ));
    let controller = cluster.spawn_controller("errors", cluster.kubeconfig(), &["--resync", "2s"]);
    let log = || controller.log_text();
    cluster.wait_for_object(
        "the allowed cross-namespace policy",
        "imagepolicy",
        "shop",
        "allowed",
        |o| is_ready(o) && o["status"]["latestRef"]["tag"] == "1.5.0",
        log,
    );
    let denied = cluster.wait_for_object(
        "the denied cross-namespace policy",
        "imagepolicy",
        "other",
        "denied",
        |o| reason(o) == "False/AccessDenied",
        log,
    );
    let message = ready_condition(&denied).unwrap()["message"]
        .as_str()
        .unwrap();
    assert!(
        message.contains("spec.imageRepositoryRef") && message.contains("accessFrom"),
        "{message}"
    );
    assert!(denied["status"].get("latestRef").is_none(), "{denied:#}");

    // A registry that refuses connections: Ready=False, retried with growing waits.
    cluster.wait_for_object(
        "the unreachable repository",
        "imagerepository",
        "images",
        "down",
        |o| reason(o) == "False/ScanFailed",
        log,
    );
    wait_for(
        "a retry after backoff (the interval is an hour)",
        || {
            let failures = log()
                .lines()
                .filter(|l| l.contains("scan failed") && l.contains("images/down"))
                .count();
            (failures >= 2).then_some(())
        },
        log,
    );
    assert!(
        cluster
            .condition("imagerepository", "images", "down", "Stalled")
            .is_none(),
        "a transient error is not Stalled"
    );

    // A Secret named before it exists: DependencyNotReady, then Ready once it appears.
    let source = cluster.wait_for_object(
        "the source waiting for its Secret",
        "gitrepository",
        "shop",
        "config",
        |o| reason(o) == "False/DependencyNotReady",
        log,
    );
    let message = ready_condition(&source).unwrap()["message"]
        .as_str()
        .unwrap();
    assert!(
        message.contains("spec.secretRef") && message.contains("shop/later"),
        "{message}"
    );
    cluster.kubectl(&[
        "create",
        "secret",
        "generic",
        "later",
        "-n",
        "shop",
        "--from-literal=username=git",
        "--from-literal=password=s3cr3t-value",
    ]);
    cluster.wait_for_object(
        "the source to pick up its Secret",
        "gitrepository",
        "shop",
        "config",
        is_ready,
        log,
    );
    assert!(!log().contains("s3cr3t-value"), "a secret reached the log");
    controller.assert_running();
}

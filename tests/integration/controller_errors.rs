//! How the controller reports what it cannot do, against the real API server:
//! a cross-namespace policy without the repository's `accessFrom` consent, a
//! registry that does not answer (Ready=False, retried with backoff), a
//! registry that hangs (holding back no other object), and a Secret that
//! appears after the object naming it.

use crate::controller::{is_ready, ready_condition};
use crate::engine::World;
use crate::harness::cluster::Cluster;
use crate::harness::images::ImagePusher;
use crate::harness::process::{black_hole_port, refusing_port};
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
    let (_reserved, dead_port) = refusing_port();
    let dead = format!("127.0.0.1:{dead_port}/nobody/home");
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

/// Regression: the controller scanned the due ImageRepositories together and
/// recorded none before the slowest had finished, so one registry that accepts
/// Regression: the controller ran the due automations and waited for all of
/// them before writing a status or handling anything else, so one whose git
/// server accepts connections and never answers (here with a ten-minute
/// timeout) held back every other automation's status, every later scan and
/// every later commit until its clone gave up. Each working copy's runs are
/// now a task of their own, recorded as they end.
#[test]
fn a_git_server_that_never_answers_holds_back_no_other_automation() {
    let cluster = Cluster::start();
    let world = World::new(&["1.0.0", "1.5.0"]);
    cluster.namespace("shop");
    let stuck = black_hole_port();
    cluster.apply(&format!(
        "apiVersion: tagpilot.dev/v1alpha1\nkind: ImageRepository\nmetadata:\n  name: api\n  namespace: shop\nspec:\n  image: {image}\n  interval: 1h\n  insecure: true\n---\napiVersion: tagpilot.dev/v1alpha1\nkind: ImagePolicy\nmetadata:\n  name: api\n  namespace: shop\nspec:\n  imageRepositoryRef:\n    name: api\n  policy:\n    semver:\n      range: '>=1.0.0'\n",
        image = world.image,
    ));
    let automation = |name: &str, source: &str| {
        format!(
            "apiVersion: tagpilot.dev/v1alpha1\nkind: ImageUpdateAutomation\nmetadata:\n  name: {name}\n  namespace: shop\nspec:\n  interval: 1h\n  sourceRef:\n    kind: GitRepository\n    name: {source}\n  git:\n    commit:\n      author:\n        name: tagpilot\n        email: tagpilot@example.com\n  update:\n    path: ./apps\n    strategy: Setters\n"
        )
    };
    // `aaa-stuck` sorts first: it used to be started first too.
    cluster.apply(&format!(
        "apiVersion: tagpilot.dev/v1alpha1\nkind: GitRepository\nmetadata:\n  name: stuck\n  namespace: shop\nspec:\n  url: http://127.0.0.1:{stuck}/config.git\n  ref:\n    branch: main\n  interval: 1h\n  timeout: 10m\n---\napiVersion: tagpilot.dev/v1alpha1\nkind: GitRepository\nmetadata:\n  name: config\n  namespace: shop\nspec:\n  url: file://{bare}\n  ref:\n    branch: main\n  interval: 1h\n---\n{}---\n{}",
        automation("aaa-stuck", "stuck"),
        automation("apps", "config"),
        bare = world.bare.display(),
    ));
    let controller = cluster.spawn_controller("stuck-git", cluster.kubeconfig(), &[]);
    let log = || controller.log_text();
    let pushed = |tag: &'static str| {
        move |o: &serde_json::Value| {
            is_ready(o)
                && o["status"]["lastPushCommit"].is_string()
                && o["status"]["observedPolicies"]["api"]["tag"] == tag
        }
    };
    cluster.wait_for_object(
        "the automation whose git server answers",
        "imageupdateautomation",
        "shop",
        "apps",
        pushed("1.5.0"),
        log,
    );
    assert!(
        world.deployed().contains(":1.5.0 #"),
        "{}",
        world.deployed()
    );
    // A later tag is scanned, chosen and committed while the clone still hangs.
    ImagePusher::new(&world.registry, "shop/api").push("1.6.0");
    cluster.request_reconcile("imagerepository", "shop", "api", "scan-now");
    cluster.wait_for_object(
        "the commit of the new tag",
        "imageupdateautomation",
        "shop",
        "apps",
        pushed("1.6.0"),
        log,
    );
    assert!(
        world.deployed().contains(":1.6.0 #"),
        "{}",
        world.deployed()
    );
    // The hanging run is still in flight: it has no status of a run yet.
    let stuck = cluster
        .get_json("imageupdateautomation", "shop", "aaa-stuck")
        .unwrap();
    assert!(
        stuck["status"].get("lastAutomationRunTime").is_none(),
        "{:#}",
        stuck["status"]
    );
    controller.assert_running();
}

/// connections and never answers (here with a ten-minute timeout) held back
/// every other repository's tags, every policy and every status until it gave
/// up. Found as a flaky `access_from_backoff_...` under CI load. An
/// automation that uses the hanging repository's policy waits a while for its
/// first scan, then commits what it has.
#[test]
fn a_registry_that_never_answers_holds_back_no_other_object() {
    let cluster = Cluster::start();
    let world = World::new(&["1.0.0", "1.5.0"]);
    cluster.namespace("shop");
    let stuck = black_hole_port();
    cluster.apply(&format!(
        "apiVersion: tagpilot.dev/v1alpha1\nkind: ImageRepository\nmetadata:\n  name: stuck\n  namespace: shop\nspec:\n  image: 127.0.0.1:{stuck}/shop/stuck\n  interval: 1h\n  timeout: 10m\n  insecure: true\n---\napiVersion: tagpilot.dev/v1alpha1\nkind: ImageRepository\nmetadata:\n  name: api\n  namespace: shop\nspec:\n  image: {image}\n  interval: 1h\n  insecure: true\n---\napiVersion: tagpilot.dev/v1alpha1\nkind: ImagePolicy\nmetadata:\n  name: api\n  namespace: shop\nspec:\n  imageRepositoryRef:\n    name: api\n  policy:\n    semver:\n      range: '>=1.0.0'\n",
        image = world.image,
    ));
    // An automation over every policy of the namespace, the hanging one's too:
    // it waits a while for that first scan, then commits what it has.
    cluster.apply(&format!(
        "apiVersion: tagpilot.dev/v1alpha1\nkind: ImagePolicy\nmetadata:\n  name: stuck\n  namespace: shop\nspec:\n  imageRepositoryRef:\n    name: stuck\n  policy:\n    semver:\n      range: '>=1.0.0'\n---\napiVersion: tagpilot.dev/v1alpha1\nkind: GitRepository\nmetadata:\n  name: config\n  namespace: shop\nspec:\n  url: file://{bare}\n  ref:\n    branch: main\n  interval: 1h\n---\napiVersion: tagpilot.dev/v1alpha1\nkind: ImageUpdateAutomation\nmetadata:\n  name: apps\n  namespace: shop\nspec:\n  interval: 1h\n  sourceRef:\n    kind: GitRepository\n    name: config\n  git:\n    commit:\n      author:\n        name: tagpilot\n        email: tagpilot@example.com\n  update:\n    path: ./apps\n    strategy: Setters\n",
        bare = world.bare.display(),
    ));
    let controller = cluster.spawn_controller("stuck", cluster.kubeconfig(), &["--resync", "2s"]);
    let log = || controller.log_text();
    let latest = |tag: &'static str| {
        move |o: &serde_json::Value| is_ready(o) && o["status"]["latestRef"]["tag"] == tag
    };
    cluster.wait_for_object(
        "the policy",
        "imagepolicy",
        "shop",
        "api",
        latest("1.5.0"),
        log,
    );
    cluster.wait_for_object(
        "the answering repository",
        "imagerepository",
        "shop",
        "api",
        is_ready,
        log,
    );
    wait_for(
        "the automation's commit while the other registry hangs",
        || world.deployed().contains(":1.5.0 #").then_some(()),
        log,
    );
    // A later scan of the answering registry is not held back either.
    ImagePusher::new(&world.registry, "shop/api").push("1.6.0");
    cluster.request_reconcile("imagerepository", "shop", "api", "scan-now");
    cluster.wait_for_object(
        "the new tag",
        "imagepolicy",
        "shop",
        "api",
        latest("1.6.0"),
        log,
    );
    // The hanging scan is still in flight: no result for its repository yet.
    let stuck = cluster
        .get_json("imagerepository", "shop", "stuck")
        .unwrap();
    assert!(
        stuck["status"].get("lastScanResult").is_none(),
        "{:#}",
        stuck["status"]
    );
    controller.assert_running();
}

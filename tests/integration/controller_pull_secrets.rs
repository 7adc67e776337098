//! `serviceAccountName` in controller mode, against the real API server and a
//! basic-auth registry: the ServiceAccount's `imagePullSecrets` are the
//! repository's credentials, in the ServiceAccount's order, after
//! `secretRef` (Flux's keychain order); a missing ServiceAccount is a
//! dependency the repository waits for, and a ServiceAccount created later
//! is picked up at the next re-read.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::controller::is_ready;
use crate::controller_secrets::{ready_message, ready_reason};
use crate::harness::cluster::Cluster;
use crate::harness::images::ImagePusher;
use crate::harness::registry::{AuthMode, Distribution, PASSWORD, Registry, USER};

/// A `kubernetes.io/dockerconfigjson` Secret for `host`.
fn pull_secret(name: &str, host: &str, password: &str) -> String {
    let config = serde_json::json!({"auths": {host: {"auth": STANDARD.encode(format!("{USER}:{password}"))}}});
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: shop\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: {}\n---\n",
        STANDARD.encode(config.to_string())
    )
}

fn service_account(name: &str, pull_secrets: &[&str]) -> String {
    let list: String = pull_secrets
        .iter()
        .map(|secret| format!("  - name: {secret}\n"))
        .collect();
    format!(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {name}\n  namespace: shop\nimagePullSecrets:\n{list}---\n"
    )
}

fn repository(name: &str, image: &str, extra: &str) -> String {
    format!(
        "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\nmetadata:\n  name: {name}\n  namespace: shop\nspec:\n  image: {image}\n  interval: 1h\n  insecure: true\n{extra}---\napiVersion: image.toolkit.fluxcd.io/v1\nkind: ImagePolicy\nmetadata:\n  name: {name}\n  namespace: shop\nspec:\n  imageRepositoryRef:\n    name: {name}\n  policy:\n    semver:\n      range: '>=1.0.0'\n---\n"
    )
}

#[test]
fn a_service_accounts_image_pull_secrets_open_the_registry_after_secret_ref() {
    let registry = Registry::start(Distribution::V2, AuthMode::Basic);
    ImagePusher::new(&registry, "shop/api").push_all(["1.0.0", "1.2.0"]);
    let image = format!("{}/shop/api", registry.host);
    let cluster = Cluster::start();
    crate::controller_flux::install_flux_crds(&cluster);
    cluster.namespace("shop");
    let objects = [
        pull_secret("elsewhere", "registry.elsewhere.example", "x"),
        pull_secret("pull", &registry.host, PASSWORD),
        pull_secret("wrong", &registry.host, "Wr0ng-Pull-Pa55-7d2"),
        // The first pull secret has no entry for this registry: the second one is used.
        service_account("puller", &["elsewhere", "pull", "wrong"]),
        repository("from-account", &image, "  serviceAccountName: puller\n"),
        // `secretRef` comes first, even when it is wrong.
        repository(
            "ref-first",
            &image,
            "  secretRef:\n    name: wrong\n  serviceAccountName: puller\n",
        ),
        repository("waiting", &image, "  serviceAccountName: late\n"),
    ]
    .concat();
    cluster.apply(&objects);
    let controller = cluster.spawn_controller(
        "pull-secrets",
        cluster.kubeconfig(),
        &["--flux-compat", "--resync", "2s"],
    );
    let log = || controller.log_text();
    let policy = cluster.wait_for_object(
        "the policy of the ServiceAccount's repository",
        "imagepolicy.v1.image.toolkit.fluxcd.io",
        "shop",
        "from-account",
        |o| o["status"]["latestRef"]["tag"] == "1.2.0" && is_ready(o),
        log,
    );
    assert_eq!(policy["status"]["latestRef"]["name"], image);
    let refused = cluster.wait_for_object(
        "secretRef's refusal",
        "imagerepository.v1.image.toolkit.fluxcd.io",
        "shop",
        "ref-first",
        |o| ready_reason(o).starts_with("False/"),
        log,
    );
    assert!(
        ready_message(&refused).contains(&format!(
            "{} answered 401: not authorized; check the credentials in Secret shop/wrong",
            registry.host
        )),
        "{:#}",
        refused["status"]
    );
    let waiting = cluster.wait_for_object(
        "the repository to wait for its ServiceAccount",
        "imagerepository.v1.image.toolkit.fluxcd.io",
        "shop",
        "waiting",
        |o| ready_reason(o) == "False/DependencyNotReady",
        log,
    );
    assert_eq!(
        ready_message(&waiting),
        "spec.serviceAccountName: ServiceAccount shop/late not found"
    );

    // Created later, the ServiceAccount is read at the next re-read.
    cluster.apply(&service_account("late", &["pull"]));
    cluster.wait_for_object(
        "the late ServiceAccount's repository to scan",
        "imagepolicy.v1.image.toolkit.fluxcd.io",
        "shop",
        "waiting",
        |o| o["status"]["latestRef"]["tag"] == "1.2.0" && is_ready(o),
        log,
    );
    let text = log();
    for secret in [PASSWORD, "Wr0ng-Pull-Pa55-7d2"] {
        assert!(
            !text.contains(secret),
            "a pull secret's password is in the log"
        );
    }
    controller.assert_running();
}

//! `deploy/`'s RBAC against the real API server: the controller runs with a
//! ServiceAccount token (TokenRequest) bound to exactly the role in
//! `deploy/base/rbac.yaml`, applied from the files, and must both work — its
//! registry credentials come from an ImageRepository's `serviceAccountName`,
//! which needs `get serviceaccounts` — and be refused what the role does not
//! grant.

use std::path::{Path, PathBuf};

use crate::controller::{git_ssh_secret, is_ready, shop_objects};
use crate::engine::World;
use crate::harness::cluster::Cluster;
use crate::harness::git_server::SshGitServer;
use crate::harness::registry::{AuthMode, Distribution, PASSWORD, Registry, USER};

/// A kubeconfig for the ServiceAccount `namespace/name`, with a token from the TokenRequest API.
pub fn service_account_kubeconfig(cluster: &Cluster, namespace: &str, name: &str) -> PathBuf {
    let token = cluster.kubectl(&["create", "token", name, "-n", namespace, "--duration=1h"]);
    let admin = std::fs::read_to_string(cluster.kubeconfig()).unwrap();
    let mut config: serde_json::Value = serde_saphyr::from_str(&admin).unwrap();
    for user in config["users"].as_array_mut().unwrap() {
        user["user"] = serde_json::json!({"token": token.trim()});
    }
    let path = cluster.dir().join(format!("{name}.kubeconfig"));
    std::fs::write(&path, serde_json::to_string(&config).unwrap()).unwrap();
    path
}

#[test]
fn the_deploy_rbac_is_enough_for_the_controller_and_no_more() {
    let cluster = Cluster::start();
    // deploy/ as a user installs it (the Deployment has no pods here: no controller-manager).
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    cluster.kubectl(&["apply", "-k", deploy.to_str().unwrap()]);
    let kubeconfig = service_account_kubeconfig(&cluster, "tagpilot-system", "tagpilot");
    let as_controller = |args: &[&str]| cluster.kubectl_as(&kubeconfig, args, None);
    let (ok, who, stderr) = as_controller(&[
        "auth",
        "whoami",
        "-o",
        "jsonpath={.status.userInfo.username}",
    ]);
    assert!(ok, "{stderr}");
    assert_eq!(who, "system:serviceaccount:tagpilot-system:tagpilot");

    let world = World::on(
        Registry::start(Distribution::V2, AuthMode::Basic),
        &[("api", &["1.0.0", "1.3.0"])],
    );
    let server = SshGitServer::start();
    cluster.namespace("shop");
    git_ssh_secret(&cluster, &server);
    // The registry's credentials: an image pull secret of ServiceAccount `puller`.
    cluster.kubectl(&[
        "create",
        "secret",
        "docker-registry",
        "registry-pull",
        "-n",
        "shop",
        &format!("--docker-server={}", world.registry.host),
        &format!("--docker-username={USER}"),
        &format!("--docker-password={PASSWORD}"),
    ]);
    cluster.apply(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: puller\n  namespace: shop\nimagePullSecrets:\n  - name: registry-pull\n",
    );
    cluster.apply(
        &shop_objects(&world, &server.url(&world.bare), "^1\\.").replacen(
            "  insecure: true\n",
            "  insecure: true\n  serviceAccountName: puller\n",
            1,
        ),
    );
    let controller = cluster.spawn_controller(
        "rbac",
        &kubeconfig,
        &["--leader-elect", "--lease-namespace", "tagpilot-system"],
    );
    let automation = cluster.wait_for_object(
        "a push by the controller running as its ServiceAccount",
        "imageupdateautomation",
        "shop",
        "apps",
        |o| o["status"]["lastPushCommit"].is_string() && is_ready(o),
        || controller.log_text(),
    );
    assert_eq!(automation["status"]["lastPushCommit"], world.head());
    let lease = cluster
        .get_json("lease", "tagpilot-system", "tagpilot-controller")
        .unwrap();
    assert!(lease["spec"]["holderIdentity"].is_string(), "{lease:#}");
    cluster.wait_for_events("shop", &[], &["Pushed"]);
    let log = controller.log_text();
    assert!(
        !log.contains("forbidden"),
        "the role lacks something:\n{log}"
    );

    // Inside it: one named ServiceAccount.
    let (ok, _, stderr) = as_controller(&["get", "serviceaccount", "puller", "-n", "shop"]);
    assert!(ok, "{stderr}");
    // Outside its role: listing Secrets or ServiceAccounts, minting their tokens,
    // changing specs, deleting, other kinds, leases elsewhere.
    for denied in [
        &["get", "secrets", "-n", "shop"][..],
        &["get", "serviceaccounts", "-n", "shop"],
        &["create", "token", "puller", "-n", "shop"],
        &["delete", "imagepolicy", "api", "-n", "shop"],
        &["label", "imagepolicy", "api", "-n", "shop", "x=y"],
        &["get", "configmaps", "-n", "shop"],
        &["get", "leases", "-n", "kube-system"],
        &["create", "namespace", "elsewhere"],
    ] {
        let (ok, _, stderr) = as_controller(denied);
        assert!(!ok, "allowed: kubectl {denied:?}");
        assert!(stderr.contains("forbidden"), "kubectl {denied:?}: {stderr}");
    }
    controller.assert_running();
}

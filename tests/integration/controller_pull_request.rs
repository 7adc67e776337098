//! Pull requests in controller mode: a real kube-apiserver, a real registry
//! and a real Gitea. The automation's status carries the pull request
//! (`status.pullRequest`, and the Ready message names it), and the events
//! `PullRequestOpened` / `PullRequestClosed` are recorded on it.

use crate::controller::{is_ready, shop_policy};
use crate::forge_gitea::BRANCH;
use crate::harness::cluster::Cluster;
use crate::harness::gitea::{GITEA_USER, Gitea};
use crate::harness::images::ImagePusher;
use crate::harness::registry::{AuthMode, Distribution, Registry};
use crate::harness::tagpilot::{DEPLOY_FILE, deployment};

fn objects(image: &str, url: &str, policy: &str) -> String {
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
    name: gitea-token
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
        email: bot@tagpilot.example
    push:
      branch: {BRANCH}
      pullRequest:
        provider: gitea
  update:
    path: ./apps
    strategy: Setters
"
    )
}

#[test]
fn the_controller_opens_and_closes_a_pull_request_with_status_and_events() {
    let registry = Registry::start(Distribution::V2, AuthMode::Anonymous);
    ImagePusher::new(&registry, "shop/api").push_all(["1.0.0", "1.1.0"]);
    let image = format!("{}/shop/api", registry.host);
    let gitea = Gitea::start();
    let url = gitea.create_repo(
        "config",
        &[(
            DEPLOY_FILE,
            &deployment("api", &format!("{image}:1.0.0"), "api"),
        )],
    );
    let cluster = Cluster::start();
    cluster.namespace("shop");
    cluster.kubectl(&[
        "create",
        "secret",
        "generic",
        "gitea-token",
        "-n",
        "shop",
        &format!("--from-literal=username={GITEA_USER}"),
        &format!("--from-literal=password={}", gitea.token),
    ]);
    cluster.apply(&objects(&image, &url, &shop_policy("^1\\.")));
    let controller = cluster.spawn_controller("controller", cluster.kubeconfig(), &[]);
    let log = || format!("{}\nGitea:\n{}", controller.log_text(), gitea.log_text());

    let automation = cluster.wait_for_object(
        "the automation's pull request",
        "imageupdateautomation",
        "shop",
        "apps",
        |o| o["status"]["pullRequest"]["state"] == "open" && is_ready(o),
        log,
    );
    let pulls = gitea.pulls("config");
    assert_eq!(pulls.len(), 1);
    let url = pulls[0]["html_url"].as_str().unwrap();
    assert_eq!(
        automation["status"]["pullRequest"],
        serde_json::json!({ "number": 1, "url": url, "state": "open" })
    );
    let ready = crate::controller::ready_condition(&automation).unwrap();
    assert_eq!(
        ready["message"],
        format!("change proposed in pull request #1 ({url})")
    );
    cluster.wait_for_events(
        "shop",
        &[],
        &[
            "PullRequestOpened",
            &format!("opened pull request #1 ({url})"),
        ],
    );

    // The policy goes back to what main holds: the pull request is closed.
    cluster.apply(&shop_policy("^1\\.0\\."));
    cluster.wait_for_object(
        "the pull request closed",
        "imageupdateautomation",
        "shop",
        "apps",
        |o| o["status"]["pullRequest"]["state"] == "closed",
        log,
    );
    assert_eq!(gitea.pulls("config")[0]["state"], "closed");
    cluster.wait_for_events("shop", &[], &["PullRequestClosed"]);
}

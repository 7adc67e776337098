//! `spec.git.push.pullRequest` from YAML: what is accepted, and the message
//! each mistake gets (naming the object, the field and what to do).

use crate::engine::objects::ObjectSet;
use crate::forge::{ForgeKind, ForgeToken};

const SOURCE: &str = "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: config\n  namespace: shop\nspec:\n  url: URL\n  ref:\n    branch: main\n  interval: 1h\n  secretRef:\n    name: git\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: git\n  namespace: shop\nstringData:\n  CREDENTIALS\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: forge\n  namespace: shop\nstringData:\n  token: forge-t0ken\n---\n";

fn automation(api_version: &str, push: &str) -> String {
    format!(
        "apiVersion: {api_version}\nkind: ImageUpdateAutomation\nmetadata:\n  name: apps\n  namespace: shop\nspec:\n  interval: 1h\n  sourceRef:\n    kind: GitRepository\n    name: config\n  git:\n    commit:\n      author:\n        email: bot@example.com\n    push:\n{push}"
    )
}

/// Loads a GitRepository at `url` whose Secret holds `credentials` and the
/// automation; the automation's entry or its error message.
fn load(url: &str, credentials: &str, automation: &str) -> Result<ObjectSet, String> {
    let dir = tempfile::tempdir().unwrap();
    let source = SOURCE
        .replace("URL", url)
        .replace("CREDENTIALS", credentials);
    std::fs::write(
        dir.path().join("objects.yaml"),
        format!("{source}{automation}"),
    )
    .unwrap();
    let (set, errors) = ObjectSet::load(dir.path());
    match errors.first() {
        Some(error) => Err(error.to_string()),
        None => Ok(set),
    }
}

const BASIC: &str = "username: bot\n  password: gitea-t0ken";
const PROPOSE: &str = "      branch: tagpilot/apps\n      pullRequest:\n        provider: gitea\n";

#[test]
fn a_pull_request_takes_the_gitrepository_token_and_derives_the_api() {
    let set = load(
        "https://git.example.com/shop/config.git",
        BASIC,
        &automation("tagpilot.dev/v1alpha1", PROPOSE),
    )
    .unwrap();
    let entry = set.automations.values().next().unwrap();
    let spec = entry.pull_request.as_ref().unwrap();
    assert_eq!(spec.target.kind, ForgeKind::Gitea);
    assert_eq!(
        spec.target.api_base.as_str(),
        "https://git.example.com/api/v1"
    );
    assert_eq!(spec.target.repository, "shop/config");
    assert!(
        matches!(&spec.token, ForgeToken::Basic { username, password }
        if username == "bot" && password.expose() == "gitea-t0ken")
    );
    assert!(!format!("{entry:?}").contains("gitea-t0ken"));

    let set = load(
        "https://github.com/acme/config",
        "bearerToken: ghp_t0ken",
        &automation(
            "tagpilot.dev/v1alpha1",
            "      branch: tagpilot/apps\n      pullRequest: {}\n",
        ),
    )
    .unwrap();
    let spec = set
        .automations
        .values()
        .next()
        .unwrap()
        .pull_request
        .clone()
        .unwrap();
    assert_eq!(spec.target.kind, ForgeKind::GitHub, "told from the host");
    assert!(matches!(spec.token, ForgeToken::Bearer(token) if token.expose() == "ghp_t0ken"));
}

#[test]
fn mistakes_are_explained() {
    let cases = [
        (
            "image.toolkit.fluxcd.io/v1",
            "https://git.example.com/shop/config",
            BASIC,
            PROPOSE,
            "spec.git.push.pullRequest",
        ),
        (
            "tagpilot.dev/v1alpha1",
            "https://git.example.com/shop/config",
            BASIC,
            "      pullRequest:\n        provider: gitea\n",
            "spec.git.push.pullRequest: needs spec.git.push.branch, the branch the pull request proposes (e.g. tagpilot/main)",
        ),
        (
            "tagpilot.dev/v1alpha1",
            "https://git.example.com/shop/config",
            BASIC,
            "      branch: main\n      pullRequest:\n        provider: gitea\n",
            "spec.git.push.pullRequest: spec.git.push.branch is the checkout branch \"main\"; a pull request needs a branch of its own",
        ),
        (
            "tagpilot.dev/v1alpha1",
            "https://git.example.com/shop/config",
            BASIC,
            "      branch: tagpilot/apps\n      pullRequest: {}\n",
            "spec.git.push.pullRequest: cannot tell which forge serves git.example.com; set provider (gitea, gitlab or github)",
        ),
        (
            "tagpilot.dev/v1alpha1",
            "ssh://git@git.example.com/shop/config",
            "identity: key\n  known_hosts: hosts",
            PROPOSE,
            "spec.git.push.pullRequest: the GitRepository's Secret holds no API token (`password` or `bearerToken`); set secretRef to a Secret with `token`",
        ),
        (
            "tagpilot.dev/v1alpha1",
            "https://git.example.com/shop/config",
            BASIC,
            "      branch: tagpilot/apps\n      pullRequest:\n        provider: gitea\n        apiURL: https://elsewhere.example/api/v1\n",
            "spec.git.push.pullRequest.apiURL: https://elsewhere.example/api/v1 is not the repository's host; the GitRepository's credentials are only sent there. Set secretRef to a token for that API",
        ),
        (
            "tagpilot.dev/v1alpha1",
            "https://git.example.com/shop/config",
            BASIC,
            "      branch: tagpilot/apps\n      pullRequest:\n        provider: gitea\n        secretRef:\n          name: missing\n",
            "spec.git.push.pullRequest.secretRef: Secret shop/missing not found",
        ),
        (
            "tagpilot.dev/v1alpha1",
            "https://git.example.com/shop/config",
            BASIC,
            "      branch: tagpilot/apps\n      pullRequest:\n        provider: gitea\n        secretRef:\n          name: git\n",
            "spec.git.push.pullRequest.secretRef: Secret shop/git has no `token` (the forge API token)",
        ),
    ];
    for (version, url, credentials, push, expected) in cases {
        let error = load(url, credentials, &automation(version, push))
            .err()
            .unwrap_or_default();
        assert!(
            error.contains(expected),
            "expected {expected:?} in:\n{error}"
        );
        assert!(!error.contains("gitea-t0ken"), "{error}");
    }
}

#[test]
fn a_secret_ref_token_may_go_to_another_host() {
    let set = load(
        "ssh://git@git.example.com/shop/config",
        "identity: key\n  known_hosts: hosts",
        &automation(
            "tagpilot.dev/v1alpha1",
            "      branch: tagpilot/apps\n      pullRequest:\n        provider: gitlab\n        apiURL: https://api.example.net/api/v4\n        secretRef:\n          name: forge\n",
        ),
    )
    .unwrap();
    let spec = set
        .automations
        .values()
        .next()
        .unwrap()
        .pull_request
        .clone()
        .unwrap();
    assert_eq!(
        spec.target.api_base.as_str(),
        "https://api.example.net/api/v4"
    );
    assert!(matches!(spec.token, ForgeToken::Bearer(token) if token.expose() == "forge-t0ken"));
}

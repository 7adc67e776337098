//! Flux's git settings end to end through the `tagpilot` binary, as a Flux
//! user's YAML sets them (issue 14): an ImageUpdateAutomation that checks out
//! a release tag, pushes to its own branch with GitLab-style push options and
//! signs with an OpenPGP key (no `type`, Flux's default), against a
//! GitRepository with a `timeout` and a `proxySecretRef`, over http through a
//! real tinyproxy, with a real registry.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::engine::World;
use crate::git_push_options::{record_push_options, recorded};
use crate::harness::git_fixtures::git_in;
use crate::harness::git_server::{GIT_PASSWORD, GIT_USER, HttpGitServer, git};
use crate::harness::gpg::{GpgHome, GpgKeyKind};
use crate::harness::process::run;
use crate::harness::proxy::ForwardProxy;
use crate::harness::tagpilot::{DEPLOY_FILE, Tagpilot, semver_image};

const PASSPHRASE: &str = "Flux-gpg-Pa55";

fn secret(name: &str, data: &[(&str, &[u8])]) -> String {
    let mut yaml = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: shop\ndata:\n"
    );
    for (key, value) in data {
        yaml.push_str(&format!("  {key}: {}\n", STANDARD.encode(value)));
    }
    yaml
}

#[test]
fn a_flux_automation_on_a_tag_with_push_options_signing_timeout_and_proxy() {
    let world = World::new(&["1.0.0", "1.3.0"]);
    let bare = &world.bare;
    run(git()
        .arg("-C")
        .arg(bare)
        .args(["tag", "-a", "-m", "Release", "v1.0.0", "main"]));
    let tagged = git_in(bare, &["rev-parse", "v1.0.0^{commit}"])
        .trim()
        .to_string();
    record_push_options(bare, true);
    let server = HttpGitServer::start(&world.repos);
    let proxy = ForwardProxy::start();
    let gpg = GpgHome::new();
    let key = gpg.generate(GpgKeyKind::Ed25519, PASSPHRASE);

    let tagpilot = Tagpilot::new();
    tagpilot.write(
        "images.yaml",
        &semver_image("api", &world.image_of("api"), ">=1.0.0 <2.0.0", "1h"),
    );
    tagpilot.write(
        "source.yaml",
        &format!(
            "{}---\n{}---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: config\n  namespace: shop\nspec:\n  url: {url}\n  interval: 1h\n  timeout: 30s\n  ref:\n    branch: main\n  secretRef:\n    name: git-http\n  proxySecretRef:\n    name: proxy\n",
            secret(
                "git-http",
                &[("username", GIT_USER.as_bytes()), ("password", GIT_PASSWORD.as_bytes())]
            ),
            secret("proxy", &[("address", proxy.address().as_bytes())]),
            url = server.url(bare),
        ),
    );
    tagpilot.write(
        "automation.yaml",
        &format!(
            "{}---\napiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageUpdateAutomation\nmetadata:\n  name: apps\n  namespace: shop\nspec:\n  interval: 1h\n  sourceRef:\n    kind: GitRepository\n    name: config\n  git:\n    checkout:\n      ref:\n        tag: v1.0.0\n    commit:\n      author:\n        name: Flux Bot\n        email: flux@example.com\n      signingKey:\n        secretRef:\n          name: signing\n    push:\n      branch: image-updates\n      options:\n        merge_request.create: \"\"\n        merge_request.target: main\n  update:\n    path: ./apps\n    strategy: Setters\n",
            secret(
                "signing",
                &[("git.asc", &key.armored_secret), ("passphrase", PASSPHRASE.as_bytes())]
            ),
        ),
    );

    let main_before = world.head();
    let output = tagpilot.run_once().success();
    assert_eq!(world.head(), main_before, "main untouched");
    // The update, on the tag's commit, on the push branch.
    assert_eq!(
        git_in(bare, &["rev-parse", "image-updates^"]).trim(),
        tagged,
        "{}",
        output.stderr
    );
    let deployed = git_in(bare, &["show", &format!("image-updates:{DEPLOY_FILE}")]);
    assert!(
        deployed.contains(&format!("{}:1.3.0 #", world.image_of("api"))),
        "{deployed}"
    );
    // Signed with the OpenPGP key.
    let verifier = GpgHome::new();
    verifier.import(&key.armored_public);
    let verified = verifier.verify_commit(bare, "image-updates");
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    // The push options reached the server.
    assert_eq!(
        recorded(bare),
        "count=2\noption=merge_request.create=\noption=merge_request.target=main\n"
    );
    // Everything went through the proxy.
    let receive_pack = format!(
        "POST http://127.0.0.1:{}/git/config.git/git-receive-pack HTTP/1.1",
        server.port
    );
    assert!(
        proxy.requests().contains(&receive_pack),
        "{:#?}",
        proxy.requests()
    );
    for text in [&output.stdout, &output.stderr] {
        assert!(!text.contains(PASSPHRASE) && !text.contains(GIT_PASSWORD));
    }

    // A second run: the push branch already holds the update.
    tagpilot.run_once().success();
    assert_eq!(
        git_in(bare, &["rev-list", "--count", "image-updates"]).trim(),
        "2",
        "still one commit on the tag"
    );
}

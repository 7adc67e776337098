//! Strategy `Annotations` end to end, through the `tagpilot` binary: the
//! issue's walkthrough workload (`flux.weave.works/automated`, a look-ahead
//! filter that leaves out `tmp`) in a repository on a real git server over
//! ssh, its image in a real registry behind a token server (GitLab's registry
//! flow), no ImageRepository and no ImagePolicy. CI pushes three tags per
//! build — the commit sha, the branch, and `tmp` (built later, pushed last) —
//! and each build is committed: by `run --once`, by the daemon on a webhook
//! push, and by the daemon at its interval. `fluxcd.io/locked` holds it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::engine_webhook::{WEBHOOK_TOKEN, notifications};
use crate::harness::git_fixtures::{git_in, push_other_commit};
use crate::harness::git_server::{GitRepos, SshGitServer};
use crate::harness::images::ImagePusher;
use crate::harness::process::free_port;
use crate::harness::registry::{AuthMode, Distribution, PASSWORD, Registry, RegistryOptions, USER};
use crate::harness::tagpilot::{Daemon, Tagpilot, ssh_source, wait_for};
use crate::harness::tls::TestCertificates;

const REPOSITORY: &str = "lucj/hello";
const FILE: &str = "apps/hello.yaml";

/// The workload running `tag`, optionally locked.
pub fn workload(host: &str, tag: &str, locked: bool) -> String {
    let lock = if locked {
        "    fluxcd.io/locked: \"true\"\n"
    } else {
        ""
    };
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: hello\n  annotations:\n    flux.weave.works/automated: \"true\"\n    flux.weave.works/tag.hello: regexp:^((?!tmp).)*$\n{lock}spec:\n  template:\n    spec:\n      containers:\n      - name: hello\n        image: {host}/{REPOSITORY}:{tag}\n"
    )
}

/// A Secret (namespace `shop`).
fn secret(name: &str, secret_type: &str, data: &[(&str, &[u8])]) -> String {
    let mut yaml = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: shop\ntype: {secret_type}\ndata:\n"
    );
    for (key, value) in data {
        yaml.push_str(&format!("  {key}: {}\n", STANDARD.encode(value)));
    }
    yaml
}

/// A `tagpilot.dev` automation `shop/hello` with strategy Annotations over
/// `./apps`, and `registry` (a `registries:` item, indented as one).
pub fn automation(interval: &str, registry: &str) -> String {
    format!(
        "apiVersion: tagpilot.dev/v1alpha1\nkind: ImageUpdateAutomation\nmetadata:\n  name: hello\n  namespace: shop\nspec:\n  interval: {interval}\n  sourceRef:\n    kind: GitRepository\n    name: config\n  git:\n    commit:\n      author:\n        name: Tag Pilot Bot\n        email: bot@tagpilot.example\n  update:\n    strategy: Annotations\n    path: ./apps\n    registries:\n{registry}"
    )
}

/// The registry, its CI, and the config repository on an ssh git server.
pub struct Walkthrough {
    pub registry: Registry,
    pub ssh: SshGitServer,
    pub _repos: GitRepos,
    pub bare: std::path::PathBuf,
    builds: u32,
}

impl Walkthrough {
    /// A token-auth registry (with `extra` configuration) and a repository
    /// whose workload runs `master`, with one build pushed.
    pub fn start(extra: String) -> Self {
        let registry = Registry::start_with(
            Distribution::V2,
            AuthMode::Token,
            RegistryOptions {
                extra_config: extra,
                ..RegistryOptions::default()
            },
        );
        let repos = GitRepos::new();
        let bare = repos.create(
            "config",
            &[
                ("README.md", "the walkthrough's config\n"),
                (FILE, &workload(&registry.host, "master", false)),
            ],
        );
        let ssh = SshGitServer::start();
        Self {
            registry,
            ssh,
            _repos: repos,
            bare,
            builds: 0,
        }
    }

    /// One CI build of commit `sha`: the image is pushed as `sha` and as the
    /// branch `master` (built at the same time), then `tmp` (built five
    /// minutes later) is pushed last.
    pub fn ci_build(&mut self, sha: &str) {
        self.builds += 1;
        let day = self.builds;
        let mut pusher = ImagePusher::new(&self.registry, REPOSITORY);
        let built = format!("2024-03-{day:02}T10:00:00Z");
        pusher.push_with_created(sha, Some(&built));
        pusher.push_with_created("master", Some(&built));
        pusher.push_with_created("tmp", Some(&format!("2024-03-{day:02}T10:05:00Z")));
    }

    /// The config directory: the pull secret, the ssh GitRepository and the automation.
    pub fn tagpilot(&self, interval: &str, host_interval: &str) -> Tagpilot {
        let tagpilot = Tagpilot::new();
        let docker_config = serde_json::json!({"auths": {self.registry.host.clone(): {"username": USER, "password": PASSWORD}}}).to_string();
        tagpilot.write(
            "registry-secret.yaml",
            &secret(
                "gitlab-registry",
                "kubernetes.io/dockerconfigjson",
                &[(".dockerconfigjson", docker_config.as_bytes())],
            ),
        );
        tagpilot.write(
            "source.yaml",
            &ssh_source(&self.ssh, &self.ssh.url(&self.bare)),
        );
        tagpilot.write(
            "automation.yaml",
            &automation(
                interval,
                &format!(
                    "      - host: {}\n        secretRef:\n          name: gitlab-registry\n        insecure: true\n        interval: {host_interval}\n",
                    self.registry.host
                ),
            ),
        );
        tagpilot
    }

    /// The workload file at the head of `main`.
    pub fn deployed(&self) -> String {
        git_in(&self.bare, &["show", &format!("main:{FILE}")])
    }

    /// How many commits `main` has.
    pub fn commits(&self) -> usize {
        git_in(&self.bare, &["rev-list", "--count", "main"])
            .trim()
            .parse()
            .unwrap()
    }

    /// The head commit's message.
    pub fn head_message(&self) -> String {
        git_in(&self.bare, &["log", "-1", "--format=%B", "main"])
    }
}

#[test]
fn run_once_bumps_the_walkthrough_to_each_new_build_and_locked_holds_it() {
    let mut world = Walkthrough::start(String::new());
    let host = world.registry.host.clone();
    world.ci_build("1a2b3c4");
    let tagpilot = world.tagpilot("1h", "1h");

    let output = tagpilot.run_once().success();
    assert_eq!(world.deployed(), workload(&host, "1a2b3c4", false));
    assert_eq!(
        world.head_message(),
        format!(
            "Update image: shop/hello → 1a2b3c4\n\n{FILE}:13 deployment/hello:hello {host}/{REPOSITORY}:master → {host}/{REPOSITORY}:1a2b3c4\n\n"
        )
    );
    assert!(
        output
            .stdout
            .contains(&format!("scanned shop/hello: {host}/{REPOSITORY}: 3 tags")),
        "{}",
        output.stdout
    );
    assert!(
        output.stdout.contains("automation shop/hello: pushed "),
        "{}",
        output.stdout
    );
    for text in [&output.stdout, &output.stderr] {
        assert!(!text.contains(PASSWORD), "{text}");
    }

    // Nothing new: no commit.
    let commits = world.commits();
    let output = tagpilot.run_once().success();
    assert!(
        output.stdout.contains("automation shop/hello: no change"),
        "{}",
        output.stdout
    );
    assert_eq!(world.commits(), commits);

    // The next build (its image is newer than tmp's of the first build).
    world.ci_build("5d6e7f8");
    tagpilot.run_once().success();
    assert_eq!(world.deployed(), workload(&host, "5d6e7f8", false));
    assert_eq!(world.commits(), commits + 1);

    // Someone locks the workload; the next build is held.
    push_other_commit(&world.bare, "main", FILE, &workload(&host, "5d6e7f8", true));
    world.ci_build("0c1d2e3");
    let commits = world.commits();
    tagpilot.run_once().success();
    assert_eq!(world.commits(), commits);
    assert_eq!(world.deployed(), workload(&host, "5d6e7f8", true));
    let status = tagpilot.status().success().stdout;
    assert!(
        status.contains(&format!(
            "shop/hello  {FILE}:14  deployment/hello:hello  {host}/{REPOSITORY}:5d6e7f8  regexp:^((?!tmp).)*$  locked"
        )),
        "{status}"
    );
    assert!(!status.contains(PASSWORD), "{status}");
}

#[test]
fn plan_shows_the_bump_and_an_invalid_filter_fails_only_its_container() {
    let mut world = Walkthrough::start(String::new());
    let host = world.registry.host.clone();
    world.ci_build("1a2b3c4");
    let broken = workload(&host, "master", false)
        .replace("name: hello\n  annotations", "name: broken\n  annotations")
        .replace("regexp:^((?!tmp).)*$", "semver:not a range");
    push_other_commit(&world.bare, "main", "apps/broken.yaml", &broken);
    let tagpilot = world.tagpilot("1h", "1h");
    let head = git_in(&world.bare, &["rev-parse", "main"]);

    let plan = tagpilot.plan();
    assert_eq!(plan.code, Some(1), "{}\n{}", plan.stdout, plan.stderr);
    assert!(
        plan.stdout.contains(&format!(
            "apps/hello.yaml:13 deployment/hello:hello (regexp:^((?!tmp).)*$): update → {host}/{REPOSITORY}:1a2b3c4\n"
        )),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("apps/broken.yaml:13 deployment/broken:hello: invalid filter (flux.weave.works/tag.hello: invalid semver range \"not a range\""),
        "{}",
        plan.stdout
    );
    assert!(plan.stdout.contains("invalid filter"), "{}", plan.stdout);
    assert!(
        plan.stdout.contains(&format!(
            "-        image: {host}/{REPOSITORY}:master\n+        image: {host}/{REPOSITORY}:1a2b3c4\n"
        )),
        "{}",
        plan.stdout
    );
    assert_eq!(
        git_in(&world.bare, &["rev-parse", "main"]),
        head,
        "a plan pushes nothing"
    );

    // The run commits the good workload and fails (exit 1) for the bad one.
    let output = tagpilot.run_once();
    assert_eq!(output.code, Some(1), "{}", output.stderr);
    assert!(
        output.stderr.contains("deployment/broken:hello") && output.stderr.contains("not a range"),
        "{}",
        output.stderr
    );
    assert_eq!(world.deployed(), workload(&host, "1a2b3c4", false));
}

#[test]
fn the_daemon_commits_each_build_when_the_registry_notifies_it() {
    let port = free_port();
    let mut world = Walkthrough::start(notifications(port, WEBHOOK_TOKEN));
    let host = world.registry.host.clone();
    world.ci_build("1a2b3c4");
    // Every interval is an hour away: only the webhook can make the second commit.
    let tagpilot = world.tagpilot("1h", "1h");
    let listen = format!("127.0.0.1:{port}");
    let daemon: Daemon = tagpilot.spawn_listening_daemon(&listen, WEBHOOK_TOKEN, &[]);
    wait_for(
        "the first run's commit",
        || {
            daemon.assert_running();
            world
                .deployed()
                .contains(&format!("{REPOSITORY}:1a2b3c4"))
                .then_some(())
        },
        || daemon.log_text(),
    );
    let commits = world.commits();

    world.ci_build("5d6e7f8");
    wait_for(
        "the webhook-triggered commit of the second build",
        || {
            daemon.assert_running();
            (world.deployed() == workload(&host, "5d6e7f8", false)).then_some(())
        },
        || daemon.log_text(),
    );
    assert_eq!(world.commits(), commits + 1);
    let log = daemon.log_text();
    assert!(log.contains("webhook: running the automation now"), "{log}");
    assert!(!log.contains(PASSWORD), "{log}");
    assert_eq!(daemon.terminate(), Some(0));
}

#[test]
fn the_daemon_commits_each_build_at_the_registry_hosts_interval() {
    let mut world = Walkthrough::start(String::new());
    let host = world.registry.host.clone();
    world.ci_build("1a2b3c4");
    // The automation runs hourly, but its registry host is scanned every second.
    let tagpilot = world.tagpilot("1h", "1s");
    let daemon = tagpilot.spawn_daemon(&[]);
    wait_for(
        "the first run's commit",
        || {
            daemon.assert_running();
            (world.deployed() == workload(&host, "1a2b3c4", false)).then_some(())
        },
        || daemon.log_text(),
    );
    world.ci_build("5d6e7f8");
    wait_for(
        "the second build's commit",
        || {
            daemon.assert_running();
            (world.deployed() == workload(&host, "5d6e7f8", false)).then_some(())
        },
        || daemon.log_text(),
    );
    assert_eq!(daemon.terminate(), Some(0));
}

/// The per-host settings reach the registry: a CA from `certSecretRef`
/// verifies an HTTPS registry; without it the scan fails and names the image.
#[test]
fn a_registry_hosts_ca_secret_verifies_its_https_registry() {
    let dir = tempfile::tempdir().unwrap();
    let certificates = TestCertificates::generate(dir.path());
    let registry = Registry::start_with(
        Distribution::V2,
        AuthMode::Anonymous,
        RegistryOptions {
            tls: Some((
                certificates.server_cert.clone(),
                certificates.server_key.clone(),
            )),
            ..RegistryOptions::default()
        },
    );
    let host = registry.host.clone();
    let mut pusher = ImagePusher::new(&registry, REPOSITORY);
    pusher.push_with_created("1a2b3c4", Some("2024-03-01T10:00:00Z"));
    pusher.push_with_created("master", Some("2024-03-01T10:00:00Z"));
    let repos = GitRepos::new();
    let bare = repos.create("config", &[(FILE, &workload(&host, "master", false))]);
    let tagpilot = Tagpilot::new();
    tagpilot.write(
        "source.yaml",
        &crate::harness::tagpilot::plain_source(&format!("file://{}", bare.display())),
    );
    let without_ca = automation("1h", &format!("      - host: {host}\n"));
    tagpilot.write("automation.yaml", &without_ca);
    let output = tagpilot.run_once();
    assert_eq!(output.code, Some(1), "{}", output.stdout);
    assert!(
        output.stderr.contains(&format!(
            "error: automation shop/hello: scan of {host}/{REPOSITORY} failed"
        )),
        "{}",
        output.stderr
    );

    let ca = std::fs::read(&certificates.ca_cert).unwrap();
    tagpilot.write(
        "ca.yaml",
        &secret("registry-ca", "Opaque", &[("ca.crt", &ca)]),
    );
    let with_ca = automation(
        "1h",
        &format!("      - host: {host}\n        certSecretRef:\n          name: registry-ca\n"),
    );
    tagpilot.write("automation.yaml", &with_ca);
    tagpilot.run_once().success();
    assert_eq!(
        git_in(&bare, &["show", &format!("main:{FILE}")]),
        workload(&host, "1a2b3c4", false)
    );
}

/// The commit goes through the setters' path: an SSH-signed commit whose
/// Handlebars template reads the containers where setters would be.
#[test]
fn annotation_commits_are_signed_and_templated_like_the_setters() {
    let registry = Registry::start(Distribution::V2, AuthMode::Anonymous);
    let host = registry.host.clone();
    let mut pusher = ImagePusher::new(&registry, REPOSITORY);
    pusher.push_with_created("1a2b3c4", Some("2024-03-01T10:00:00Z"));
    pusher.push_with_created("master", Some("2024-03-01T10:00:00Z"));
    let repos = GitRepos::new();
    let bare = repos.create("config", &[(FILE, &workload(&host, "master", false))]);
    let tagpilot = Tagpilot::new();
    let (key, public) =
        crate::harness::git_fixtures::ssh_keypair(tagpilot.home_dir(), "signing", "");
    tagpilot.write(
        "source.yaml",
        &crate::harness::tagpilot::plain_source(&format!("file://{}", bare.display())),
    );
    tagpilot.write(
        "signing.yaml",
        &secret(
            "signing",
            "Opaque",
            &[("identity", &std::fs::read(&key).unwrap())],
        ),
    );
    let template = "{{automation.name}}: bump containers\n\n{{#each changes}}- {{setter}} in {{file}}:{{line}}: {{old}} -> {{new}}\n{{/each}}{{#each images}}* {{namespace}}/{{policy}} {{name}}:{{tag}} (was {{previous}})\n{{/each}}";
    let yaml = automation("1h", &format!("      - host: {host}\n        insecure: true\n"))
        .replace(
            "        email: bot@tagpilot.example\n",
            &format!(
                "        email: bot@tagpilot.example\n      signingKey:\n        type: ssh\n        secretRef:\n          name: signing\n      messageTemplate: {template:?}\n"
            ),
        );
    tagpilot.write("automation.yaml", &yaml);
    tagpilot.run_once().success();

    let message = git_in(&bare, &["log", "-1", "--format=%B", "main"]);
    assert_eq!(
        message,
        format!(
            "hello: bump containers\n\n- deployment/hello:hello in {FILE}:13: {host}/{REPOSITORY}:master -> {host}/{REPOSITORY}:1a2b3c4\n* shop/hello {host}/{REPOSITORY}:1a2b3c4 (was {host}/{REPOSITORY}:master)\n\n"
        )
    );
    let signers = tagpilot.home_dir().join("allowed_signers");
    std::fs::write(&signers, format!("bot@tagpilot.example {public}\n")).unwrap();
    let verify = crate::harness::git_server::git()
        .arg("-C")
        .arg(&bare)
        .args(["-c", "gpg.format=ssh", "-c"])
        .arg(format!("gpg.ssh.allowedSignersFile={}", signers.display()))
        .args(["verify-commit", "main"])
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
}

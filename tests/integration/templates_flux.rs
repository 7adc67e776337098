//! Flux commit message templates end to end: Flux YAML in, through
//! `tagpilot run --once` against a real registry and a real git server, and
//! the commit message checked byte for byte against what Flux renders.
//!
//! The v1beta1 case follows the published "Flux on EKS with ECR and
//! CodePipeline" walkthrough (rewritten here): CI tags images
//! `main-<sha>-<build>`, a numerical policy picks the highest build, a
//! kustomization's `images:` entry carries the `newName`/`newTag` markers, and
//! the automation's message lists `.Updated.Images`, one reference per line.
//! The registry is reached as `registry.example.com` through
//! `--registry-endpoint` (v1beta1 has no `insecure`), as an ECR host would be.

use std::path::{Path, PathBuf};

use crate::harness::git_fixtures::git_in;
use crate::harness::git_server::{GIT_PASSWORD, GIT_USER, GitRepos, HttpGitServer, SshGitServer};
use crate::harness::images::ImagePusher;
use crate::harness::registry::{AuthMode, Distribution, Registry};
use crate::harness::tagpilot::{RunOutput, Tagpilot};

/// The host name the configurations use for the test registry.
pub const REGISTRY_HOST: &str = "registry.example.com";

/// The kustomization of the walkthrough: two images, each with a `newName`
/// and a `newTag` marker.
fn kustomization(app_tag: &str, worker_tag: &str) -> String {
    format!(
        "apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - deployment.yaml
images:
  - name: app
    newName: {REGISTRY_HOST}/team/app # {{\"$imagepolicy\": \"flux-system:app:name\"}}
    newTag: {app_tag} # {{\"$imagepolicy\": \"flux-system:app:tag\"}}
  - name: worker
    newName: {REGISTRY_HOST}/team/worker # {{\"$imagepolicy\": \"flux-system:worker:name\"}}
    newTag: {worker_tag} # {{\"$imagepolicy\": \"flux-system:worker:tag\"}}
"
    )
}

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  namespace: shop
spec:
  template:
    spec:
      containers:
        - name: app
          image: app
        - name: worker
          image: worker
";

/// The file the markers are in, relative to the repository root.
const KUSTOMIZATION_FILE: &str = "clusters/my-cluster/shop/kustomization.yaml";

/// A registry with `team/app` and `team/worker` builds, and a config
/// repository whose kustomization runs build 1 of each.
pub struct Walkthrough {
    pub registry: Registry,
    pub repos: GitRepos,
    pub bare: PathBuf,
}

impl Walkthrough {
    pub fn new() -> Self {
        let registry = Registry::start(Distribution::V2, AuthMode::Anonymous);
        ImagePusher::new(&registry, "team/app").push_all([
            "main-0a1b2c3-1",
            "main-4d5e6f7-2",
            "main-aaaaaaa-9",
            "main-89abcde-10",
            "latest",
            "feature-x-1234567-11",
        ]);
        ImagePusher::new(&registry, "team/worker").push_all(["main-0a1b2c3-1", "main-7777777-7"]);
        let repos = GitRepos::new();
        let bare = repos.create(
            "fleet",
            &[
                (
                    KUSTOMIZATION_FILE,
                    &kustomization("main-0a1b2c3-1", "main-0a1b2c3-1"),
                ),
                ("clusters/my-cluster/shop/deployment.yaml", DEPLOYMENT),
                ("README.md", "fleet\n"),
            ],
        );
        Self {
            registry,
            repos,
            bare,
        }
    }

    /// `--registry-endpoint` mapping [`REGISTRY_HOST`] to the test registry.
    pub fn endpoint(&self) -> String {
        format!("{REGISTRY_HOST}={}", self.registry.base_url())
    }

    /// `tagpilot run --once` with the registry mapping.
    pub fn run_once(&self, tagpilot: &Tagpilot) -> RunOutput {
        let mut command = tagpilot.run_once_command();
        command.args(["--registry-endpoint", &self.endpoint()]);
        RunOutput::from_output(command.output().unwrap())
    }

    pub fn head(&self) -> String {
        git_in(&self.bare, &["rev-parse", "main"])
            .trim()
            .to_string()
    }

    pub fn commit_count(&self) -> usize {
        git_in(&self.bare, &["rev-list", "--count", "main"])
            .trim()
            .parse()
            .unwrap()
    }

    pub fn kustomization(&self) -> String {
        git_in(&self.bare, &["show", &format!("main:{KUSTOMIZATION_FILE}")])
    }
}

/// The message of `rev` exactly as stored in the commit object (git log
/// would re-wrap or add newlines).
pub fn raw_message(bare: &Path, rev: &str) -> String {
    let commit = git_in(bare, &["cat-file", "commit", rev]);
    let (_, message) = commit
        .split_once("\n\n")
        .expect("a commit has headers, a blank line, then the message");
    message.to_string()
}

/// ImageRepository and ImagePolicy of `app` and `worker` in
/// `image.toolkit.fluxcd.io/VERSION`: the highest `main-<sha>-<build>` build.
fn image_objects(version: &str, interval: &str) -> String {
    ["app", "worker"]
        .iter()
        .map(|name| {
            format!(
                "---
apiVersion: image.toolkit.fluxcd.io/{version}
kind: ImageRepository
metadata:
  name: {name}
  namespace: flux-system
spec:
  image: {REGISTRY_HOST}/team/{name}
  interval: {interval}
---
apiVersion: image.toolkit.fluxcd.io/{version}
kind: ImagePolicy
metadata:
  name: {name}
  namespace: flux-system
spec:
  imageRepositoryRef:
    name: {name}
  filterTags:
    pattern: '^main-[a-f0-9]+-(?P<build>[0-9]+)$'
    extract: '$build'
  policy:
    numerical:
      order: asc
"
            )
        })
        .collect()
}

/// The walkthrough's objects (`image.toolkit.fluxcd.io/v1beta1`,
/// `source.toolkit.fluxcd.io/v1beta1`), reaching the repository at `url` over
/// ssh with `identity` and `known_hosts`.
pub fn walkthrough_objects(
    url: &str,
    identity: &[u8],
    known_hosts: &[u8],
    template: &str,
) -> String {
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let images = image_objects("v1beta1", "1m0s");
    format!(
        "apiVersion: v1
kind: Secret
metadata:
  name: flux-system
  namespace: flux-system
data:
  identity: {identity}
  known_hosts: {known_hosts}
---
apiVersion: source.toolkit.fluxcd.io/v1beta1
kind: GitRepository
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 1m0s
  ref:
    branch: main
  secretRef:
    name: flux-system
  url: {url}
{images}---
apiVersion: image.toolkit.fluxcd.io/v1beta1
kind: ImageUpdateAutomation
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 1m0s
  sourceRef:
    kind: GitRepository
    name: flux-system
  git:
    checkout:
      ref:
        branch: main
    commit:
      author:
        email: fluxcdbot@users.noreply.github.com
        name: fluxcdbot
      messageTemplate: '{template}'
    push:
      branch: main
  update:
    path: ./clusters/my-cluster
    strategy: Setters
",
        identity = b64(identity),
        known_hosts = b64(known_hosts),
    )
}

#[test]
fn the_v1beta1_walkthrough_commits_each_updated_image_on_its_own_line() {
    let world = Walkthrough::new();
    let server = SshGitServer::start();
    let tagpilot = Tagpilot::new();
    tagpilot.write(
        "flux-system.yaml",
        &walkthrough_objects(
            &server.url(&world.bare),
            &std::fs::read(&server.identity_path).unwrap(),
            &std::fs::read(&server.known_hosts_path).unwrap(),
            "{{range .Updated.Images}}{{println .}}{{end}}",
        ),
    );

    let first = world.run_once(&tagpilot).success();
    assert!(
        first
            .stdout
            .contains("automation flux-system/flux-system: pushed"),
        "{}\n{}",
        first.stdout,
        first.stderr
    );
    assert_eq!(world.commit_count(), 2);
    assert_eq!(
        world.kustomization(),
        kustomization("main-89abcde-10", "main-7777777-7"),
        "the highest build of each image (10 above 9 and 2: numbers, not text); every other byte kept"
    );
    let message = raw_message(&world.bare, "main");
    assert_eq!(
        message.lines().collect::<Vec<_>>(),
        [
            "registry.example.com/team/app:main-89abcde-10",
            "registry.example.com/team/worker:main-7777777-7",
        ],
        "{message:?}"
    );
    assert_eq!(
        message,
        "registry.example.com/team/app:main-89abcde-10\nregistry.example.com/team/worker:main-7777777-7\n",
        "println ends each line; nothing trimmed or added, as Flux commits it"
    );
    assert_eq!(
        git_in(&world.bare, &["log", "-1", "--format=%an <%ae>", "main"]).trim(),
        "fluxcdbot <fluxcdbot@users.noreply.github.com>"
    );

    // The next CI build of app only: one line.
    ImagePusher::new(&world.registry, "team/app").push("main-fedcba9-11");
    world.run_once(&tagpilot).success();
    assert_eq!(world.commit_count(), 3);
    assert_eq!(
        raw_message(&world.bare, "main"),
        "registry.example.com/team/app:main-fedcba9-11\n"
    );
    let head = world.head();
    let again = world.run_once(&tagpilot).success();
    assert!(
        again
            .stdout
            .contains("automation flux-system/flux-system: no change"),
        "{}",
        again.stdout
    );
    assert_eq!(world.head(), head);
}

/// A current Flux configuration (`v1`) of the walkthrough's repository over
/// http, with `template` and `values`.
pub fn v1_objects(url: &str, template: &str, values: &[(&str, &str)]) -> String {
    let images = image_objects("v1", "5m");
    let mut template_block = String::from("      messageTemplate: |\n");
    for line in template.lines() {
        template_block.push_str(&format!("        {line}\n"));
    }
    if !values.is_empty() {
        template_block.push_str("      messageTemplateValues:\n");
        for (key, value) in values {
            template_block.push_str(&format!("        {key}: {value:?}\n"));
        }
    }
    format!(
        "apiVersion: v1
kind: Secret
metadata:
  name: git-http
  namespace: flux-system
stringData:
  username: {GIT_USER}
  password: {GIT_PASSWORD}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata:
  name: fleet
  namespace: flux-system
spec:
  interval: 1m
  ref:
    branch: main
  secretRef:
    name: git-http
  url: {url}
{images}---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageUpdateAutomation
metadata:
  name: shop
  namespace: flux-system
spec:
  interval: 30m
  sourceRef:
    kind: GitRepository
    name: fleet
  git:
    checkout:
      ref:
        branch: main
    commit:
      author:
        email: fluxcdbot@users.noreply.github.com
        name: fluxcdbot
{template_block}    push:
      branch: main
  update:
    path: ./clusters/my-cluster
    strategy: Setters
"
    )
}

/// Runs `template` (v1, with `values`) over the walkthrough's first bump
/// through `plan` and `run --once`; returns (plan's output, the commit message).
fn render_v1(template: &str, values: &[(&str, &str)]) -> (String, String) {
    let world = Walkthrough::new();
    let server = HttpGitServer::start(&world.repos);
    let tagpilot = Tagpilot::new();
    tagpilot.write(
        "fleet.yaml",
        &v1_objects(&server.url(&world.bare), template, values),
    );
    let mut plan = tagpilot.command();
    plan.args(["plan", "--config"])
        .arg(tagpilot.config_dir())
        .arg("--state-dir")
        .arg(tagpilot.state_dir())
        .args(["--registry-endpoint", &world.endpoint()]);
    let plan = plan.output().unwrap();
    assert!(plan.status.success(), "{plan:?}");
    let run = world.run_once(&tagpilot).success();
    assert_eq!(world.commit_count(), 2, "{}\n{}", run.stdout, run.stderr);
    (
        String::from_utf8(plan.stdout).unwrap(),
        raw_message(&world.bare, "main"),
    )
}

#[test]
fn a_v1_automation_renders_the_flux_docs_template_and_plan_shows_the_same_message() {
    // The docs' example, reworded: a subject, then each change as old -> new.
    let template = "Bump images in {{ .AutomationObject }}\n\n{{range .Changed.Changes}}{{print .OldValue}} -> {{println .NewValue}}{{end}}";
    let (plan, message) = render_v1(template, &[]);
    assert_eq!(
        message,
        "Bump images in flux-system/shop\n\n\
         main-0a1b2c3-1 -> main-89abcde-10\n\
         main-0a1b2c3-1 -> main-7777777-7\n\n",
        "the literal block's final newline is kept, as Flux keeps it"
    );
    assert!(
        plan.contains(&format!("--- commit message ---\n{message}")),
        "plan shows the message the run commits:\n{plan}"
    );
}

#[test]
fn a_v1_template_reads_values_objects_and_files_relative_to_the_update_path() {
    let template = "[{{ .Values.cluster | upper }}] {{ .Values.team | default \"platform\" }}: automated update\n\
{{ range $file, $objects := .Changed.FileChanges -}}\n\
{{ range $object, $changes := $objects }}\n\
{{ $file }}: {{ $object.Kind }}{{ with $object.Name }} {{ . }}{{ end }}\n\
{{- range $changes }}\n  {{ .Setter }}: {{ .OldValue }} -> {{ .NewValue }}{{ end }}\n\
{{- end }}\n\
{{- end -}}";
    let (_, message) = render_v1(template, &[("cluster", "eks-prod-eu")]);
    assert_eq!(
        message,
        "[EKS-PROD-EU] platform: automated update\n\n\
         shop/kustomization.yaml: Kustomization\n  \
         flux-system:app:tag: main-0a1b2c3-1 -> main-89abcde-10\n  \
         flux-system:worker:tag: main-0a1b2c3-1 -> main-7777777-7"
    );
}

#[test]
fn a_v1_template_using_updated_fails_with_fluxs_message_and_commits_nothing() {
    let world = Walkthrough::new();
    let server = HttpGitServer::start(&world.repos);
    let tagpilot = Tagpilot::new();
    tagpilot.write(
        "fleet.yaml",
        &v1_objects(
            &server.url(&world.bare),
            "{{range .Updated.Images}}{{println .}}{{end}}",
            &[],
        ),
    );
    let head = world.head();
    let run = world.run_once(&tagpilot);
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(world.head(), head, "nothing committed");
    let expected = "template uses removed '.Updated' field. Please use '.Changed' instead. \
                    See: https://fluxcd.io/flux/components/image/imageupdateautomations/#message-template";
    assert!(
        run.stderr.contains("automation flux-system/shop")
            && run.stderr.contains("git.commit.messageTemplate")
            && run.stderr.contains(expected),
        "the error names the object, the field and Flux's cause:\n{}",
        run.stderr
    );
    let status = tagpilot.status().success();
    assert!(
        status.stdout.contains("flux-system/shop") && status.stdout.contains("removed '.Updated'"),
        "{}",
        status.stdout
    );
}

#[test]
fn a_flux_template_that_does_not_parse_makes_the_object_invalid() {
    let world = Walkthrough::new();
    let tagpilot = Tagpilot::new();
    // Handlebars in a Flux object: Go's parser refuses it, as Flux's does.
    tagpilot.write(
        "fleet.yaml",
        &v1_objects(
            &format!("file://{}", world.bare.display()),
            "{{#each changes}}{{old}}{{/each}}",
            &[],
        ),
    );
    let run = world.run_once(&tagpilot);
    // The other objects still run; the invalid one fails the run.
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("ImageUpdateAutomation flux-system/shop")
            && run.stderr.contains(
                "spec.git.commit.messageTemplate: unable to create commit message template from spec: template: commit message:1: unexpected \"#\" in command"
            ),
        "{}",
        run.stderr
    );
    assert_eq!(world.commit_count(), 1);
}

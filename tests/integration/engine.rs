//! The standalone engine through the `tagpilot` binary, against a real registry
//! and real git remotes over ssh and http: Flux YAML in, commits out. Bumps,
//! no-op runs, the configured author and message, no credential anywhere a
//! user can see it, and bad objects that do not stop the good ones.

use std::path::{Path, PathBuf};

use crate::harness::git_fixtures::git_in;
use crate::harness::git_server::{GIT_PASSWORD, GIT_USER, GitRepos, HttpGitServer, SshGitServer};
use crate::harness::images::ImagePusher;
use crate::harness::registry::{AuthMode, Distribution, Registry};
use crate::harness::tagpilot::{
    AUTHOR_EMAIL, AUTHOR_NAME, Automation, DEPLOY_FILE, Tagpilot, deployment, http_source,
    plain_source, semver_image, ssh_source,
};

/// The test automations' template: they are Flux objects, so it is a Go
/// template over Flux's data (files relative to `update.path`).
pub const TEMPLATE: &str = "{{ .AutomationObject.Name }}: update images ({{ .Values.ticket }})\n\n{{ range $file, $objects := .Changed.FileChanges }}{{ range $objects }}{{ range . }}- {{ $file }} {{ .OldValue }} -> {{ .NewValue }}\n{{ end }}{{ end }}{{ end -}}";

/// A registry with `shop/<name>` images, and a config repository whose
/// `apps/<name>.yaml` Deployments run `shop/<name>:1.0.0`, each marked for the
/// policy `shop:<name>`.
pub struct World {
    pub registry: Registry,
    pub repos: GitRepos,
    pub bare: PathBuf,
    pub image: String,
}

impl World {
    /// `shop/api` with `tags`.
    pub fn new(tags: &[&str]) -> Self {
        Self::with(&[("api", tags)])
    }

    /// Several images with their tags; `image` is the first one's name.
    pub fn with(images: &[(&str, &[&str])]) -> Self {
        Self::on(
            Registry::start(Distribution::V2, AuthMode::Anonymous),
            images,
        )
    }

    /// Several images with their tags on `registry`.
    pub fn on(registry: Registry, images: &[(&str, &[&str])]) -> Self {
        let mut files = vec![("README.md".to_string(), "the shop's config\n".to_string())];
        for (name, tags) in images {
            ImagePusher::new(&registry, &format!("shop/{name}")).push_all(tags.iter().copied());
            let image = format!("{}/shop/{name}", registry.host);
            files.push((
                format!("apps/{name}.yaml"),
                deployment(name, &format!("{image}:1.0.0"), name),
            ));
        }
        let image = format!("{}/shop/{}", registry.host, images[0].0);
        let repos = GitRepos::new();
        let files: Vec<(&str, &str)> = files
            .iter()
            .map(|(path, text)| (path.as_str(), text.as_str()))
            .collect();
        let bare = repos.create("config", &files);
        Self {
            registry,
            repos,
            bare,
            image,
        }
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

    /// `apps/api.yaml` at the head of `main`.
    pub fn deployed(&self) -> String {
        self.file("api")
    }

    /// `apps/<name>.yaml` at the head of `main`.
    pub fn file(&self, name: &str) -> String {
        git_in(&self.bare, &["show", &format!("main:apps/{name}.yaml")])
    }

    /// The image `shop/<name>` of this world's registry.
    pub fn image_of(&self, name: &str) -> String {
        format!("{}/shop/{name}", self.registry.host)
    }

    /// A config directory for `shop/api` and the automation `shop/apps`,
    /// reaching the repository through `source`.
    pub fn tagpilot(&self, source: &str) -> Tagpilot {
        self.tagpilot_for("api", "apps", source)
    }

    /// A config directory for the image `shop/<image>` and an automation
    /// `shop/<automation>` with the test template.
    pub fn tagpilot_for(&self, image: &str, automation: &str, source: &str) -> Tagpilot {
        let tagpilot = Tagpilot::new();
        tagpilot.write(
            "images.yaml",
            &semver_image(image, &self.image_of(image), ">=1.0.0 <2.0.0", "1h"),
        );
        tagpilot.write("source.yaml", source);
        let mut automation = Automation::new(automation);
        automation.template = Some(TEMPLATE.to_string());
        automation.values = vec![("ticket".into(), "OPS-42".into())];
        tagpilot.write("automation.yaml", &automation.yaml());
        tagpilot
    }

    /// The message the test template renders for one change of `shop/api`.
    pub fn expected_message(&self, old: &str, new: &str) -> String {
        format!(
            "apps: update images (OPS-42)\n\n- {file} {image}:{old} -> {image}:{new}\n",
            file = DEPLOY_FILE.trim_start_matches("apps/"),
            image = self.image
        )
    }
}

/// `author|email|committer|email` and the raw message of `main`'s head.
pub fn head_commit(bare: &Path) -> (String, String) {
    let identity = git_in(bare, &["log", "-1", "--format=%an|%ae|%cn|%ce", "main"]);
    let message = git_in(bare, &["log", "-1", "--format=%B", "main"]);
    (
        identity.trim().to_string(),
        message.strip_suffix('\n').unwrap_or(&message).to_string(),
    )
}

pub fn bot_identity() -> String {
    format!("{AUTHOR_NAME}|{AUTHOR_EMAIL}|{AUTHOR_NAME}|{AUTHOR_EMAIL}")
}

#[test]
fn flux_yaml_over_ssh_bumps_twice_then_does_nothing() {
    let world = World::new(&["1.0.0", "1.1.0", "2.0.0"]);
    let server = SshGitServer::start();
    let tagpilot = world.tagpilot(&ssh_source(&server, &server.url(&world.bare)));

    let first = tagpilot.run_once().success();
    assert!(
        first.stdout.contains("automation shop/apps: pushed"),
        "{}",
        first.stdout
    );
    assert_eq!(world.commit_count(), 2);
    assert_eq!(
        world.deployed(),
        deployment("api", &format!("{}:1.1.0", world.image), "api"),
        "the marker moved to the newest 1.x tag; every other byte is kept"
    );
    assert_eq!(
        head_commit(&world.bare),
        (bot_identity(), world.expected_message("1.0.0", "1.1.0"))
    );

    ImagePusher::new(&world.registry, "shop/api").push("1.2.0");
    tagpilot.run_once().success();
    assert_eq!(world.commit_count(), 3);
    assert_eq!(
        head_commit(&world.bare),
        (bot_identity(), world.expected_message("1.1.0", "1.2.0"))
    );
    let head = world.head();

    let third = tagpilot.run_once().success();
    assert!(
        third.stdout.contains("automation shop/apps: no change"),
        "{}",
        third.stdout
    );
    assert_eq!(world.head(), head, "a run with nothing new makes no commit");
    // Linear history: the bot's commits sit on the initial commit, one parent each.
    assert_eq!(
        git_in(&world.bare, &["rev-list", "--min-parents=2", "main"]),
        ""
    );
}

#[test]
fn flux_yaml_over_http_basic_auth_never_shows_the_password() {
    let world = World::new(&["1.0.0", "1.3.0"]);
    let server = HttpGitServer::start(&world.repos);
    let tagpilot = world.tagpilot(&http_source(
        &server.url(&world.bare),
        GIT_USER,
        GIT_PASSWORD,
    ));

    let run = tagpilot.run_once_with(&["--log-level", "trace"]).success();
    assert_eq!(world.commit_count(), 2);
    assert_eq!(
        head_commit(&world.bare),
        (bot_identity(), world.expected_message("1.0.0", "1.3.0"))
    );
    assert!(
        run.stderr.contains("TRACE"),
        "trace logging was on:\n{}",
        run.stderr
    );
    let again = tagpilot.run_once_with(&["--log-level", "trace"]).success();
    assert_eq!(world.commit_count(), 2, "the second run is a no-op");

    let status = tagpilot.status().success();
    let status_json = std::fs::read_to_string(tagpilot.state_dir().join("status.json")).unwrap();
    let messages = git_in(&world.bare, &["log", "--format=%B", "main"]);
    for (place, text) in [
        ("stderr", run.stderr.as_str()),
        ("stdout", run.stdout.as_str()),
        ("stderr of the second run", again.stderr.as_str()),
        ("status output", status.stdout.as_str()),
        ("status.json", status_json.as_str()),
        ("a commit message", messages.as_str()),
    ] {
        if let Some(line) = text.lines().find(|line| line.contains(GIT_PASSWORD)) {
            panic!("the git password is in {place}: {line}");
        }
    }
    // Nor anywhere in the state directory (working copy config, leases, tag store).
    for file in files_under(tagpilot.state_dir()) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !bytes
                .windows(GIT_PASSWORD.len())
                .any(|w| w == GIT_PASSWORD.as_bytes()),
            "the git password is in {}",
            file.display()
        );
    }
}

pub fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                pending.push(entry.path());
            } else {
                files.push(entry.path());
            }
        }
    }
    files
}

#[test]
fn a_bad_file_and_a_bad_field_are_named_and_the_rest_still_runs() {
    let world = World::new(&["1.0.0", "1.1.0"]);
    let tagpilot = world.tagpilot(&plain_source(&format!("file://{}", world.bare.display())));
    tagpilot.write("broken.yaml", "apiVersion: v1\nkind: [unclosed\n");
    tagpilot.write(
        "typo.yaml",
        "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImagePolicy\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  imageRepositoryRef:\n    name: api\n  policy:\n    semver:\n      rnage: '>=1.0.0'\n",
    );
    let output = tagpilot.run_once();
    assert_eq!(
        output.code,
        Some(1),
        "--once fails when an object is invalid\n{}",
        output.stderr
    );
    let broken = tagpilot.config_dir().join("broken.yaml");
    let typo = tagpilot.config_dir().join("typo.yaml");
    let error_line = |needle: &str| {
        output
            .stderr
            .lines()
            .find(|line| line.starts_with("error: ") && line.contains(needle))
            .unwrap_or_else(|| panic!("no error naming {needle}:\n{}", output.stderr))
            .to_string()
    };
    let line = error_line(&broken.display().to_string());
    assert!(line.contains("not valid YAML"), "{line}");
    let line = error_line(&typo.display().to_string());
    assert!(
        line.contains("ImagePolicy shop/web")
            && line.contains("spec.policy.semver")
            && line.contains("rnage"),
        "the error names the file, the object and the field: {line}"
    );
    // The valid objects still ran: the automation pushed its bump.
    assert!(
        output.stdout.contains("automation shop/apps: pushed"),
        "{}",
        output.stdout
    );
    assert!(
        world.deployed().contains(":1.1.0 #"),
        "{}",
        world.deployed()
    );
    assert_eq!(world.commit_count(), 2);
}

//! Helpers for the git module's tests: automation specs, an `apply` step that
//! bumps one image tag in one file, and git CLI queries on bare repositories.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tagpilot::git::{
    ApplyError, Author, AutomationRef, AutomationSpec, ChangeLine, ChangeSet, CheckoutSpec,
    CommitSpec, Credentials, ImageUpdate, PushSpec, RepoSpec, RetryPolicy, Secret,
};

use super::git_server::{SshGitServer, git};
use super::process::{require_program, run};

/// The file the tests' markers live in.
pub const DEPLOY_FILE: &str = "apps/front-end.yaml";

/// A deployment with one marked image at `tag`.
pub fn deploy_yaml(tag: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: ghcr.io/acme/front-end:{tag} # {{\"$imagepolicy\": \"shop:front-end\"}}\n"
    )
}

/// The commit author the tests configure.
pub fn author() -> Author {
    Author {
        name: "tagpilot".into(),
        email: "tagpilot@example.com".into(),
    }
}

/// An automation spec for `repo`, checking out `main`, default message, quick retries.
pub fn automation(repo: RepoSpec) -> AutomationSpec {
    AutomationSpec {
        automation: AutomationRef {
            namespace: "flux-system".into(),
            name: "apps".into(),
        },
        repo,
        checkout: CheckoutSpec::branch("main"),
        commit: CommitSpec {
            author: author(),
            message_template: None,
            signing_key: None,
        },
        push: PushSpec::default(),
        values: BTreeMap::new(),
        update_path: String::new(),
        retry: RetryPolicy {
            attempts: 3,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
        },
    }
}

/// ssh credentials for `server` from its key files.
pub fn ssh_credentials(server: &SshGitServer) -> Credentials {
    Credentials::Ssh {
        identity: Secret::new(std::fs::read(&server.identity_path).unwrap()),
        password: None,
        known_hosts: std::fs::read_to_string(&server.known_hosts_path).unwrap(),
    }
}

/// An `apply` step that sets the front-end image tag to `tag` in [`DEPLOY_FILE`],
/// reporting the change the way the update engine does (nothing when it is already set).
pub fn set_tag(tag: &str) -> impl FnMut(&Path) -> Result<ChangeSet, ApplyError> + Send + 'static {
    let tag = tag.to_string();
    move |root: &Path| {
        let path = root.join(DEPLOY_FILE);
        let text = std::fs::read_to_string(&path)?;
        let (index, line) = text
            .lines()
            .enumerate()
            .find(|(_, line)| line.contains("$imagepolicy"))
            .ok_or("no marker")?;
        let old = line
            .trim()
            .trim_start_matches("image: ")
            .split(' ')
            .next()
            .unwrap_or_default()
            .to_string();
        let new = format!("ghcr.io/acme/front-end:{tag}");
        if old == new {
            return Ok(ChangeSet::default());
        }
        std::fs::write(&path, text.replace(&old, &new))?;
        Ok(ChangeSet {
            changes: vec![ChangeLine {
                file: DEPLOY_FILE.into(),
                line: index + 1,
                setter: "shop:front-end".into(),
                old: old.clone(),
                new,
                object: None,
            }],
            images: vec![ImageUpdate {
                policy: "front-end".into(),
                namespace: "shop".into(),
                name: "ghcr.io/acme/front-end".into(),
                tag: tag.clone(),
                digest: None,
                previous: Some(old),
                about: Default::default(),
            }],
        })
    }
}

/// `git -C bare ARGS`, stdout.
pub fn git_in(repo: &Path, args: &[&str]) -> String {
    run(git().arg("-C").arg(repo).args(args))
}

/// A file's content at `rev` in `repo`.
pub fn show(repo: &Path, rev: &str, file: &str) -> String {
    git_in(repo, &["show", &format!("{rev}:{file}")])
}

/// The commit `rev` of `repo` as `author|author email|committer|committer email` and its raw message.
pub fn commit_identity_and_message(repo: &Path, rev: &str) -> (String, String) {
    let identity = git_in(repo, &["log", "-1", "--format=%an|%ae|%cn|%ce", rev]);
    let message = git_in(repo, &["log", "-1", "--format=%B", rev]);
    // `%B` adds a newline after the raw message.
    (
        identity.trim().to_string(),
        message.strip_suffix('\n').unwrap_or(&message).to_string(),
    )
}

/// Pushes a commit changing `file` to `bare`'s `branch` from a separate clone (another writer).
pub fn push_other_commit(bare: &Path, branch: &str, file: &str, contents: &str) -> String {
    let work = tempfile::TempDir::new().unwrap();
    let clone = work.path().join("other");
    run(git()
        .args(["clone", "-q", "-b", branch])
        .arg(bare)
        .arg(&clone));
    std::fs::create_dir_all(clone.join(file).parent().unwrap()).unwrap();
    std::fs::write(clone.join(file), contents).unwrap();
    git_in(&clone, &["add", "-A"]);
    git_in(&clone, &["commit", "-qm", "Another writer"]);
    git_in(&clone, &["push", "-q", "origin", branch]);
    git_in(&clone, &["rev-parse", "HEAD"]).trim().to_string()
}

/// A new ssh key pair (ed25519, optionally encrypted): (private key path, public key line).
pub fn ssh_keypair(dir: &Path, name: &str, passphrase: &str) -> (PathBuf, String) {
    let keygen = require_program("ssh-keygen", "apt-get install openssh-client");
    let path = dir.join(name);
    run(Command::new(keygen)
        .args([
            "-q", "-t", "ed25519", "-C", "signer", "-N", passphrase, "-f",
        ])
        .arg(&path));
    let public = std::fs::read_to_string(path.with_extension("pub")).unwrap();
    (path, public.trim().to_string())
}

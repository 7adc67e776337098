//! Persistent working copies: one per (repository URL, checkout reference)
//! under `<state>/git/<key>/repo`, where `<key>` is the first 16 hex digits of
//! SHA-256 over the URL and the branch (or, for other references, their kind
//! and value: `tag:v1.0.0`, which no branch name can be). [`GitWorkspace::prepare`]
//! opens (or creates) it, fetches the reference and hard-resets to what it
//! points at, so the leftovers of a crashed run (dirty files, unpushed commits)
//! are discarded. A branch is checked out as itself; a tag, semver range,
//! other reference or commit (see [`super::checkout_ref`]) as the local branch
//! [`DETACHED_BRANCH`], whose commits go to a push branch.
//! A working copy that libgit2 cannot read is deleted and cloned again. A lock
//! file serializes runs on the same working copy, across processes too; holding
//! it, `prepare` removes the `*.lock` files a killed run left in `.git`.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use git2::build::CheckoutBuilder;
use git2::{ErrorClass, ErrorCode, Oid, Repository, RepositoryInitOptions, ResetType};
use sha2::{Digest, Sha256};

use super::checkout_ref::resolve_reference;
use super::error::GitError;
use super::message::AutomationRef;
use super::spec::{CheckoutSpec, CommitId, GitReference, RepoSpec};
use super::transport::Transport;

/// The local branch of a working copy whose checkout is not a branch (a tag,
/// a semver range, another reference or a commit): commits are made on it
/// and pushed to the automation's push branch.
pub const DETACHED_BRANCH: &str = "tagpilot/checkout";

/// How long a working copy prepared ahead ([`GitWorkspace::prepare_ahead`])
/// stays usable: a `prepare` that finds it older drops it (and its lock) and
/// prepares again.
const PREPARED_AHEAD_FOR: Duration = Duration::from_secs(60);

/// The most working copies kept prepared ahead at once: each holds open files
/// (its lock, libgit2's pack files) until its run.
pub const MAX_PREPARED_AHEAD: usize = 16;

/// Where tagpilot keeps its working copies (`<state>/git`).
#[derive(Debug, Clone)]
pub struct GitWorkspace {
    root: PathBuf,
    /// Working copies prepared ahead, by state directory, waiting for their
    /// run (shared by the clones of this workspace).
    ahead: Arc<Mutex<HashMap<PathBuf, PreparedAhead>>>,
}

/// A working copy prepared ahead for one owner (an automation, which knows
/// its credentials), or why it could not be: the owner's run gets the same
/// error without trying again.
#[derive(Debug)]
struct PreparedAhead {
    owner: AutomationRef,
    at: Instant,
    checkout: Result<Checkout, GitError>,
}

impl GitWorkspace {
    /// The workspace under the state directory `state_dir`.
    pub fn new(state_dir: impl AsRef<Path>) -> Self {
        Self {
            root: state_dir.as_ref().join("git"),
            ahead: Arc::default(),
        }
    }

    /// Prepares the working copy of `repo` at `checkout` now (cloning or
    /// fetching, then resetting, as [`GitWorkspace::prepare`]) and keeps it,
    /// locked, for `owner`'s next [`GitWorkspace::prepare_for`] in this
    /// process, which then only checks that the remote branch has not moved.
    /// A cycle calls it while it scans the registries, so the clone or fetch
    /// overlaps the scans instead of following them. Does nothing when the
    /// working copy is busy (another run, here or in another process, holds
    /// its lock: waiting while holding other kept copies could deadlock two
    /// processes), when one is already kept for it, or when
    /// [`MAX_PREPARED_AHEAD`] are kept. A kept copy is dropped by
    /// [`GitWorkspace::release_prepared`], by anyone else's `prepare` of the
    /// same working copy, and by the first `prepare` after
    /// [`PREPARED_AHEAD_FOR`]. Blocks (libgit2).
    pub fn prepare_ahead(&self, owner: &AutomationRef, repo: &RepoSpec, checkout: &CheckoutSpec) {
        let key = self.working_copy_of(repo, checkout);
        let full = |ahead: &HashMap<PathBuf, PreparedAhead>| {
            ahead.contains_key(&key) || ahead.len() >= MAX_PREPARED_AHEAD
        };
        if self.ahead.lock().map_or(true, |ahead| full(&ahead)) {
            return;
        }
        let prepared = match self.prepare_locked(repo, checkout, false) {
            Ok(Some(prepared)) => Ok(prepared),
            Ok(None) => return, // busy: the run will wait for it, holding nothing else
            Err(error) => {
                tracing::debug!(%error, "preparing the working copy ahead failed; its run reports it");
                Err(error)
            }
        };
        if let Ok(mut ahead) = self.ahead.lock()
            && !full(&ahead)
        {
            ahead.insert(
                key,
                PreparedAhead {
                    owner: owner.clone(),
                    at: Instant::now(),
                    checkout: prepared,
                },
            );
        }
    }

    /// Releases every working copy prepared ahead that no run took.
    pub fn release_prepared(&self) {
        if let Ok(mut ahead) = self.ahead.lock() {
            ahead.clear();
        }
    }

    /// The directory holding the working copy of `url` at `branch` (or at
    /// [`state_key`] of another reference) and its lease records.
    pub fn state_dir_for(&self, url: &str, branch: &str) -> PathBuf {
        let mut hasher = Sha256::new();
        hasher.update(url.as_bytes());
        hasher.update([0]);
        hasher.update(branch.as_bytes());
        let digest = hex::encode(hasher.finalize());
        self.root.join(&digest[..16])
    }

    /// The directory of the working copy [`GitWorkspace::prepare`] uses for
    /// `repo` at `checkout`: runs with the same one wait for each other.
    pub fn working_copy_of(&self, repo: &RepoSpec, checkout: &CheckoutSpec) -> PathBuf {
        self.state_dir_for(&repo.url, &state_key(&checkout.reference))
    }

    /// Opens or clones the working copy of `repo` at `checkout`, fetches the
    /// reference and hard-resets the working tree to the commit it points at,
    /// removing untracked and ignored files. Drops a copy kept by
    /// [`GitWorkspace::prepare_ahead`] for the same working copy instead of
    /// waiting for it. Blocks (libgit2); call it from a blocking task. Waits
    /// while another run holds the same working copy.
    pub fn prepare(&self, repo: &RepoSpec, checkout: &CheckoutSpec) -> Result<Checkout, GitError> {
        self.prepare_as(None, repo, checkout)
    }

    /// [`GitWorkspace::prepare`] for `owner`, taking the working copy
    /// [`GitWorkspace::prepare_ahead`] kept for it: when its checkout is a
    /// branch, one fetch checks that the branch has not moved since (or
    /// resets to where it moved); other references are taken as they are.
    pub fn prepare_for(
        &self,
        owner: &AutomationRef,
        repo: &RepoSpec,
        checkout: &CheckoutSpec,
    ) -> Result<Checkout, GitError> {
        self.prepare_as(Some(owner), repo, checkout)
    }

    fn prepare_as(
        &self,
        owner: Option<&AutomationRef>,
        repo: &RepoSpec,
        checkout: &CheckoutSpec,
    ) -> Result<Checkout, GitError> {
        let key = self.working_copy_of(repo, checkout);
        // Whatever is kept for this working copy leaves the map (releasing its
        // lock when it is not ours: waiting for it would never end).
        let kept = self.ahead.lock().ok().and_then(|mut ahead| {
            ahead.retain(|_, prepared| prepared.at.elapsed() < PREPARED_AHEAD_FOR);
            ahead.remove(&key)
        });
        match kept {
            Some(prepared) if Some(&prepared.owner) == owner => {
                let mut taken = prepared.checkout?;
                if let Some(branch) = taken.checkout_branch().map(str::to_string)
                    && taken.fetch_remote_branch(&branch)? != Some(taken.base)
                {
                    taken.refresh()?;
                }
                Ok(taken)
            }
            other => {
                drop(other);
                self.prepare_now(repo, checkout)
            }
        }
    }

    fn prepare_now(&self, repo: &RepoSpec, checkout: &CheckoutSpec) -> Result<Checkout, GitError> {
        self.prepare_locked(repo, checkout, true)?
            .ok_or_else(|| GitError::Io {
                action: "locking",
                path: self.working_copy_of(repo, checkout),
                source: std::io::Error::other("the working copy is busy"),
            })
    }

    /// Prepares the working copy under its lock; `None` when `wait` is false
    /// and another run holds the lock.
    fn prepare_locked(
        &self,
        repo: &RepoSpec,
        checkout: &CheckoutSpec,
        wait: bool,
    ) -> Result<Option<Checkout>, GitError> {
        let reference = checkout.reference.clone();
        reference
            .validate()
            .map_err(|reason| GitError::InvalidSpec {
                what: "checkout ref",
                value: reference.to_string(),
                reason,
            })?;
        let branch = reference.branch().unwrap_or(DETACHED_BRANCH).to_string();
        let transport = Transport::new(repo)?;
        let state_dir = self.working_copy_of(repo, checkout);
        std::fs::create_dir_all(&state_dir).map_err(|source| GitError::Io {
            action: "creating",
            path: state_dir.clone(),
            source,
        })?;
        let lock_path = state_dir.join("lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .and_then(|file| {
                if wait {
                    return file.lock().map(|()| Some(file));
                }
                match file.try_lock() {
                    Ok(()) => Ok(Some(file)),
                    Err(std::fs::TryLockError::WouldBlock) => Ok(None),
                    Err(std::fs::TryLockError::Error(error)) => Err(error),
                }
            })
            .map_err(|source| GitError::Io {
                action: "locking",
                path: lock_path,
                source,
            })?;
        let Some(lock) = lock else {
            return Ok(None);
        };
        let workdir = state_dir.join("repo");
        remove_stale_locks(&workdir.join(".git"));
        let target = Target {
            reference: &reference,
            branch: &branch,
        };
        let (repo, base) = open_or_recreate(&workdir, &transport, &target)?;
        tracing::debug!(url = %transport.redacted_url(), reference = %reference.describe(), head = %base, "working copy ready");
        Ok(Some(Checkout {
            repo,
            transport,
            branch,
            reference,
            state_dir,
            workdir,
            base,
            _lock: lock,
        }))
    }
}

/// The working copy key of a reference: the branch name for a branch, else
/// `kind:value`, which no branch name can be (`:` is not allowed in one).
fn state_key(reference: &GitReference) -> String {
    match reference {
        GitReference::Branch(branch) => branch.clone(),
        GitReference::Commit {
            sha,
            branch: Some(branch),
        } => format!("commit:{sha}@{branch}"),
        other => format!("{}:{other}", other.kind()),
    }
}

/// What a working copy checks out: the reference, and the local branch it is
/// checked out as.
struct Target<'a> {
    reference: &'a GitReference,
    branch: &'a str,
}

/// A working copy reset to the commit its reference points at (the remote
/// head of its branch), held exclusively until dropped. Rewrite files under
/// [`Checkout::path`], then [`Checkout::commit`] and [`Checkout::push`].
pub struct Checkout {
    pub(crate) repo: Repository,
    pub(crate) transport: Transport,
    /// The local branch commits are made on: the checkout branch, or
    /// [`DETACHED_BRANCH`].
    pub(crate) branch: String,
    /// What was checked out.
    pub(crate) reference: GitReference,
    pub(crate) state_dir: PathBuf,
    pub(crate) workdir: PathBuf,
    /// The remote head the working copy was last reset to.
    pub(crate) base: Oid,
    _lock: File,
}

impl std::fmt::Debug for Checkout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkout")
            .field("url", &self.transport.redacted_url())
            .field("reference", &self.reference)
            .field("workdir", &self.workdir)
            .field("base", &self.base)
            .finish()
    }
}

impl Checkout {
    /// The working tree's root.
    pub fn path(&self) -> &Path {
        &self.workdir
    }

    /// The local branch commits are made on: the checkout branch, or
    /// [`DETACHED_BRANCH`] when the checkout is not a branch.
    pub fn branch(&self) -> &str {
        &self.branch
    }

    /// What was checked out.
    pub fn reference(&self) -> &GitReference {
        &self.reference
    }

    /// The remote branch that [`Checkout::push`] fast-forwards by default:
    /// the checkout branch (`None` when the checkout is not a branch).
    pub(crate) fn checkout_branch(&self) -> Option<&str> {
        self.reference.branch()
    }

    /// The repository URL without credentials (for logs and messages).
    pub fn url(&self) -> &str {
        self.transport.redacted_url()
    }

    /// The commit the working copy was reset to (the remote head of the
    /// branch, the tag's commit, ...).
    pub fn base(&self) -> CommitId {
        CommitId(self.base)
    }

    /// The local branch head (the base, or the commit made since).
    pub fn head(&self) -> Result<CommitId, GitError> {
        self.repo
            .refname_to_id(&format!("refs/heads/{}", self.branch))
            .map(CommitId)
            .map_err(|source| self.local_error("reading the branch head", source))
    }

    /// Fetches again and hard-resets to the new remote head, discarding local
    /// commits and changes (used before re-applying after a rejected push).
    pub fn refresh(&mut self) -> Result<(), GitError> {
        let target = Target {
            reference: &self.reference,
            branch: &self.branch,
        };
        match sync(&self.repo, &self.workdir, &self.transport, &target) {
            Ok(base) => self.base = base,
            Err(GitError::WorkingCopy { .. }) => {
                let (repo, base) = recreate(&self.workdir, &self.transport, &target)?;
                self.repo = repo;
                self.base = base;
            }
            Err(error) => return Err(error),
        }
        Ok(())
    }

    /// Fetches another branch of the remote; `None` when it does not exist.
    pub(crate) fn fetch_remote_branch(&self, branch: &str) -> Result<Option<Oid>, GitError> {
        fetch_branch(&self.repo, &self.workdir, &self.transport, branch)
    }

    pub(crate) fn local_error(&self, action: &'static str, source: git2::Error) -> GitError {
        local_error(&self.workdir, &self.transport, action, source)
    }
}

/// Refuses branch names git would refuse.
pub(crate) fn validate_branch(what: &'static str, branch: &str) -> Result<(), GitError> {
    if branch.is_empty()
        || branch.starts_with("refs/")
        || !git2::Reference::is_valid_name(&format!("refs/heads/{branch}"))
    {
        return Err(GitError::InvalidSpec {
            what,
            value: branch.to_string(),
            reason: "not a valid branch name (give the name without refs/heads/)".to_string(),
        });
    }
    Ok(())
}

pub(crate) fn local_error(
    workdir: &Path,
    transport: &Transport,
    action: &'static str,
    source: git2::Error,
) -> GitError {
    GitError::WorkingCopy {
        path: workdir.to_path_buf(),
        url: transport.redacted_url().to_string(),
        action,
        source,
    }
}

/// Whether libgit2 failed on local data (objects, refs, index, files) rather than the network.
pub(crate) fn is_local_failure(error: &git2::Error) -> bool {
    matches!(
        error.class(),
        ErrorClass::Odb
            | ErrorClass::Object
            | ErrorClass::Reference
            | ErrorClass::Repository
            | ErrorClass::Index
            | ErrorClass::Tree
            | ErrorClass::Checkout
            | ErrorClass::Filesystem
            | ErrorClass::Config
            | ErrorClass::Indexer
            | ErrorClass::Zlib
    )
}

/// Removes the `*.lock` files git leaves in `git_dir` when a process is killed
/// while it updates a ref, the index or the config. Only called with the
/// working copy's own lock held, so no live process can own them; left in
/// place, each would fail every later fetch or commit ("failed to lock file").
fn remove_stale_locks(git_dir: &Path) {
    let mut pending = vec![git_dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(file_type) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            if file_type.is_dir() {
                // Object directories hold no ref locks; skip their many entries.
                if entry.file_name() != "objects" {
                    pending.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "lock") {
                match std::fs::remove_file(&path) {
                    Ok(()) => {
                        tracing::warn!(file = %path.display(), "removed a lock file left by an interrupted run")
                    }
                    Err(error) => {
                        tracing::warn!(file = %path.display(), %error, "cannot remove a stale lock file")
                    }
                }
            }
        }
    }
}

fn open_or_recreate(
    workdir: &Path,
    transport: &Transport,
    target: &Target<'_>,
) -> Result<(Repository, Oid), GitError> {
    let opened = if workdir.join(".git").exists() {
        Repository::open(workdir)
            .and_then(|repo| without_reflogs(&repo, workdir).map(|()| repo))
            .map_err(|source| local_error(workdir, transport, "opening", source))
            .and_then(|repo| {
                let base = sync(&repo, workdir, transport, target)?;
                Ok((repo, base))
            })
    } else {
        return recreate(workdir, transport, target);
    };
    match opened {
        Err(error @ GitError::WorkingCopy { .. }) => {
            tracing::warn!(url = %transport.redacted_url(), reference = %target.reference.describe(), %error, "working copy is unusable; cloning it again");
            recreate(workdir, transport, target)
        }
        other => other,
    }
}

/// Deletes whatever is at `workdir` and clones afresh.
fn recreate(
    workdir: &Path,
    transport: &Transport,
    target: &Target<'_>,
) -> Result<(Repository, Oid), GitError> {
    if workdir.exists() {
        std::fs::remove_dir_all(workdir).map_err(|source| GitError::Io {
            action: "removing the broken working copy",
            path: workdir.to_path_buf(),
            source,
        })?;
    }
    let repo = init_working_copy(workdir)
        .map_err(|source| local_error(workdir, transport, "creating", source))?;
    let base = sync(&repo, workdir, transport, target)?;
    tracing::info!(url = %transport.redacted_url(), reference = %target.reference.describe(), "cloned working copy");
    Ok((repo, base))
}

/// Creates the repository of a new working copy with libgit2's own minimal
/// layout rather than the system's template directory (a dozen hook samples
/// that libgit2 never runs, written on every clone), and without reflogs.
fn init_working_copy(workdir: &Path) -> Result<Repository, git2::Error> {
    let mut options = RepositoryInitOptions::new();
    options.external_template(false);
    let repo = Repository::init_opts(workdir, &options)?;
    without_reflogs(&repo, workdir)?;
    Ok(repo)
}

/// Git's setting for reflogs: on by default in a repository with a working tree.
const LOG_REF_UPDATES: &str = "core.logAllRefUpdates";

/// Turns reflogs off in a working copy cloned before they were (once): nothing
/// reads them, and they grew by a few lines on every run, for ever.
fn without_reflogs(repo: &Repository, workdir: &Path) -> Result<(), git2::Error> {
    let mut config = repo.config()?;
    if config.get_bool(LOG_REF_UPDATES).ok() == Some(false) {
        return Ok(());
    }
    config.set_bool(LOG_REF_UPDATES, false)?;
    let logs = repo.path().join("logs");
    if let Err(error) = std::fs::remove_dir_all(&logs)
        && error.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(directory = %logs.display(), working_copy = %workdir.display(), %error, "cannot remove the old reflogs");
    }
    Ok(())
}

/// Fetches `branch` into `refs/remotes/origin/BRANCH`; `None` when the remote has no such branch.
pub(crate) fn fetch_branch(
    repo: &Repository,
    workdir: &Path,
    transport: &Transport,
    branch: &str,
) -> Result<Option<Oid>, GitError> {
    let local = |action, source| local_error(workdir, transport, action, source);
    let tracking = format!("refs/remotes/origin/{branch}");
    // Forget the old remote head so that a branch deleted on the remote is noticed.
    match repo.find_reference(&tracking) {
        Ok(mut reference) => reference
            .delete()
            .map_err(|source| local("forgetting the old remote head", source))?,
        Err(error) if error.code() == ErrorCode::NotFound => {}
        Err(source) => return Err(local("reading the remote head", source)),
    }
    let mut remote = repo
        .remote_anonymous(&transport.connect()?)
        .map_err(|source| local("setting up the remote", source))?;
    let refspec = format!("+refs/heads/{branch}:{tracking}");
    remote
        .fetch(
            &[refspec.as_str()],
            Some(&mut transport.fetch_options()),
            Some("tagpilot: fetch"),
        )
        .map_err(|error| {
            if is_local_failure(&error) {
                local("fetching", error)
            } else {
                transport.remote_error("fetch", &format!("branch {branch:?}"), error)
            }
        })?;
    match repo.refname_to_id(&tracking) {
        Ok(oid) => Ok(Some(oid)),
        Err(error) if error.code() == ErrorCode::NotFound => Ok(None),
        Err(source) => Err(local("reading the fetched head", source)),
    }
}

/// Fetches the target's reference and hard-resets the local branch, HEAD
/// and working tree to the commit it points at.
fn sync(
    repo: &Repository,
    workdir: &Path,
    transport: &Transport,
    target: &Target<'_>,
) -> Result<Oid, GitError> {
    let local = |action, source| local_error(workdir, transport, action, source);
    let base = match target.reference {
        GitReference::Branch(branch) => fetch_branch(repo, workdir, transport, branch)?
            .ok_or_else(|| GitError::BranchNotFound {
                url: transport.redacted_url().to_string(),
                branch: branch.to_string(),
            })?,
        other => resolve_reference(repo, workdir, transport, other)?,
    };
    let commit = repo
        .find_commit(base)
        .map_err(|source| local("reading the fetched commit", source))?;
    let head = format!("refs/heads/{}", target.branch);
    repo.reference(&head, base, true, "tagpilot: reset to the remote head")
        .map_err(|source| local("resetting the branch", source))?;
    repo.set_head(&head)
        .map_err(|source| local("checking out the branch", source))?;
    repo.reset(commit.as_object(), ResetType::Hard, None)
        .map_err(|source| local("resetting the working tree", source))?;
    // A hard reset keeps untracked files (libgit2 forces its own checkout
    // strategy); a second checkout removes them and ignored ones.
    let mut checkout = CheckoutBuilder::new();
    checkout.force().remove_untracked(true).remove_ignored(true);
    repo.checkout_head(Some(&mut checkout))
        .map_err(|source| local("cleaning the working tree", source))?;
    Ok(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_dirs_differ_by_url_and_branch() {
        let workspace = GitWorkspace::new("/state");
        let a = workspace.state_dir_for("ssh://h/repo", "main");
        assert!(a.starts_with("/state/git"));
        assert_eq!(a.file_name().unwrap().len(), 16);
        assert_ne!(a, workspace.state_dir_for("ssh://h/repo", "dev"));
        assert_ne!(a, workspace.state_dir_for("ssh://h/other", "main"));
        assert_eq!(a, workspace.state_dir_for("ssh://h/repo", "main"));
    }

    #[test]
    fn other_references_have_keys_no_branch_can_have() {
        assert_eq!(state_key(&GitReference::Branch("main".into())), "main");
        assert_eq!(state_key(&GitReference::Tag("v1".into())), "tag:v1");
        assert_eq!(
            state_key(&GitReference::Semver(">=1.0.0".into())),
            "semver:>=1.0.0"
        );
        assert_eq!(
            state_key(&GitReference::Name("refs/pull/7/head".into())),
            "name:refs/pull/7/head"
        );
        let sha = "0123456789abcdef0123456789abcdef01234567".to_string();
        assert_eq!(
            state_key(&GitReference::Commit {
                sha: sha.clone(),
                branch: None
            }),
            format!("commit:{sha}")
        );
        assert_eq!(
            state_key(&GitReference::Commit {
                sha: sha.clone(),
                branch: Some("main".into())
            }),
            format!("commit:{sha}@main")
        );
        for key in ["tag:v1", "semver:>=1.0.0"] {
            assert!(validate_branch("branch", key).is_err(), "{key}");
        }
    }

    #[test]
    fn branch_names_are_validated() {
        validate_branch("checkout branch", "main").unwrap();
        validate_branch("checkout branch", "release/1.x").unwrap();
        for bad in ["", "refs/heads/main", "a..b", "with space", "trailing/"] {
            assert!(validate_branch("checkout branch", bad).is_err(), "{bad:?}");
        }
    }
}

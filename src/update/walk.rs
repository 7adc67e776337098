//! The file walk: which files under the update path are read, never leaving the repository.
//!
//! [`resolve`] canonicalises the repository root and the update path and refuses
//! a path that ends up outside the root (`..`, absolute paths, symlinks:
//! invariant 8). [`walk`] then lists the candidate files (`*.yaml`, `*.yml`,
//! `Kustomization`). Directory symlinks are never followed, so the walk cannot
//! loop. A symlink to a file is read through its target only when the target is
//! inside the root and outside `.git` (and each real file is read once); one
//! that leads outside, into `.git`, dangles or loops is listed as skipped.
//!
//! With `sweep` (atomic write runs), the walk also removes the stale
//! temporary files a crashed run left in the directories it lists
//! ([`super::write::remove_if_stale`]: only ours, only stale ones).

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use super::{SkipReason, SkippedFile, UpdateError};

/// A file to read: where it really is, and how it is named in reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Candidate {
    /// The real (canonical) path; reads and writes go here.
    pub real: PathBuf,
    /// The path relative to the repository root.
    pub relative: PathBuf,
}

/// Canonicalises `root` and `root.join(path)`; the latter must lie inside the former.
pub(crate) fn resolve(root: &Path, path: &Path) -> Result<(PathBuf, PathBuf), UpdateError> {
    let root = fs::canonicalize(root).map_err(|source| UpdateError::Root {
        path: root.to_path_buf(),
        source,
    })?;
    let joined = root.join(path);
    let target = fs::canonicalize(&joined).map_err(|source| UpdateError::Path {
        path: path.to_path_buf(),
        source,
    })?;
    if !target.starts_with(&root) {
        return Err(UpdateError::OutsideRoot {
            path: path.to_path_buf(),
        });
    }
    Ok((root, target))
}

/// Whether a file with this name is read at all (Flux's rule).
pub(crate) fn is_candidate_name(name: &str) -> bool {
    name == "Kustomization" || name.ends_with(".yaml") || name.ends_with(".yml")
}

/// Calls `found` for every candidate file under `target` (a directory or one file).
///
/// `root` and `target` must come from [`resolve`]. Every real file is reported
/// once: a symlink to a file under `target` is left to the walk, which reaches
/// the file itself (all directories under a canonical `target` are walked, and
/// their paths are canonical since directory symlinks are not followed).
pub(crate) fn walk(
    root: &Path,
    target: &Path,
    sweep: bool,
    skipped: &mut Vec<SkippedFile>,
    found: &mut dyn FnMut(Candidate),
) -> Result<(), UpdateError> {
    let mut add = |real: PathBuf| {
        if let Ok(relative) = real.strip_prefix(root).map(Path::to_path_buf) {
            found(Candidate { real, relative });
        }
    };
    if !target.is_dir() {
        // `target` is canonical: a regular file inside the root.
        let named = target
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(is_candidate_name);
        if named {
            add(target.to_path_buf());
        }
        return Ok(());
    }
    let mut linked = HashSet::new();
    let mut directories = vec![target.to_path_buf()];
    while let Some(directory) = directories.pop() {
        let read_error = |source| UpdateError::ReadDir {
            path: relative_to(root, &directory),
            source,
        };
        let mut entries = Vec::new();
        for entry in fs::read_dir(&directory).map_err(read_error)? {
            let entry = entry.map_err(read_error)?;
            let file_type = entry.file_type().map_err(read_error)?;
            entries.push((entry.file_name(), file_type));
        }
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (name, file_type) in entries {
            let path = directory.join(&name);
            let name = name.to_string_lossy();
            if file_type.is_dir() {
                if name != ".git" {
                    directories.push(path);
                }
            } else if !is_candidate_name(&name) {
                if sweep && file_type.is_file() {
                    sweep_leftover(root, &path, &name);
                }
                continue;
            } else if file_type.is_file() {
                add(path);
            } else if file_type.is_symlink() {
                let reason = match fs::canonicalize(&path) {
                    Err(error) => SkipReason::BrokenSymlink(error.to_string()),
                    Ok(real) if !real.starts_with(root) => SkipReason::SymlinkOutsideRoot,
                    Ok(real) if in_git_dir(root, &real) => SkipReason::SymlinkIntoGit,
                    Ok(real)
                        if !real.is_file() || (real.starts_with(target) && walked_name(&real)) =>
                    {
                        tracing::debug!(file = %path.display(), "not following a symlink to a directory or to a file the walk reaches");
                        continue;
                    }
                    Ok(real) => {
                        if linked.insert(real.clone()) {
                            add(real);
                        }
                        continue;
                    }
                };
                skipped.push(SkippedFile {
                    line: None,
                    file: relative_to(root, &path),
                    reason,
                });
            }
        }
    }
    Ok(())
}

/// Removes `path` if it is a stale temporary file of a crashed run, and says so.
fn sweep_leftover(root: &Path, path: &Path, name: &str) {
    match super::write::remove_if_stale(path, name) {
        Ok(Some(pid)) => tracing::warn!(
            file = %relative_to(root, path).display(),
            pid,
            "removed a temporary file left by an interrupted run"
        ),
        Ok(None) => {}
        Err(error) => tracing::warn!(
            file = %relative_to(root, path).display(),
            %error,
            "cannot remove a temporary file left by an interrupted run"
        ),
    }
}

/// Whether the walk reads a file of this name itself.
fn walked_name(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(is_candidate_name)
}

/// Whether `path` (inside `root`) lies in a `.git` directory.
fn in_git_dir(root: &Path, path: &Path) -> bool {
    path.strip_prefix(root).map_or(true, |relative| {
        relative.components().any(|c| c.as_os_str() == ".git")
    })
}

fn relative_to(root: &Path, path: &Path) -> PathBuf {
    path.strip_prefix(root).unwrap_or(path).to_path_buf()
}

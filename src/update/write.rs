//! Writing changed files, in one of two ways.
//!
//! [`Staged`] files (the default of `tagpilot update`): every file is replaced
//! atomically — a reader or a crash sees its old or its new content, never a
//! mix — and all of them are on disk when the write returns. It goes in four
//! steps, each over every changed file:
//!
//! 1. [`stage`]: the new content goes to a temporary file in the same
//!    directory (so the rename stays on one file system), which gets the
//!    original's permissions, and is closed (a run may change more files than
//!    it may hold open). A crash here leaves the originals as they were,
//!    plus temporary files that the next atomic run removes.
//! 2. [`flush_file_systems`]: one `syncfs` per file system puts all the new
//!    contents on disk at once (one journal commit, instead of one `fsync` per
//!    file waiting for its own).
//! 3. [`Staged::commit`]: each temporary file is renamed over its original.
//!    Its data is already on disk, so ext4 has nothing to flush on the rename
//!    (`auto_da_alloc`) and a crash leaves every file whole: old or new.
//! 4. [`flush_file_systems`] again: the renames themselves are on disk before
//!    the write reports success.
//!
//! Steps 1 and 3 run a directory at a time on several threads (the caller,
//! `update::write_staged`): creating or renaming a file locks its directory,
//! and replacing a file frees the old one, which can wait for the device.
//! On a failure before step 3 every temporary file is removed and no original
//! is touched; a failure during step 3 leaves the files renamed so far with
//! their new content (each whole), renames no other, and removes the other
//! temporary files.
//!
//! [`overwrite_in_place`] (the engine's own working copy, `tagpilot update
//! --in-place`): the same inode is overwritten and then cut to the new length;
//! no temporary file, no rename, no fsync. A crash mid-write can leave a file
//! half-written, so it is only for trees whose truth is in git and that are
//! reset before use. It exists because replacing files is what costs on disk:
//! freeing the old file's blocks (a journal commit, and a discard on `discard`
//! mounts) and ext4's flush of every file renamed over another
//! (`auto_da_alloc`, which also fires on truncation to zero — hence the
//! truncation to the final length after writing, never to zero before). See
//! `bench/update.sh`. It writes only a regular file with a single link, the
//! one the walk resolved: a file with other hard links is refused (the write
//! would change files elsewhere, possibly outside the repository), and so is
//! a path that became something else in the meantime.
//!
//! Temporary files are recognisable: `.NAME.tagpilot-PID-N.tmp` next to the
//! file NAME. A crash (`kill -9`) between creating and renaming one leaves it
//! behind; the next atomic run's walk removes the stale ones
//! ([`remove_if_stale`]): only names of exactly that shape, only regular
//! files, and only when process PID is not running or the file is older than
//! [`STALE_AFTER`].

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A leftover temporary file is removed once this old, even if a process with
/// its PID runs (PIDs are reused; a live write takes milliseconds).
pub(crate) const STALE_AFTER: Duration = Duration::from_secs(60 * 60);

/// A new content in its temporary file, waiting to replace its original
/// (steps 1 and 3 of the module docs).
///
/// The temporary file is closed once written: a run that changes more files
/// than the process may hold open (`ulimit -n`, often 1,024) must not fail
/// with "Too many open files".
#[derive(Debug)]
pub(crate) struct Staged {
    temporary: PathBuf,
    target: PathBuf,
    device: u64,
}

/// Step 1: writes `content` to a temporary file beside the existing file
/// `path`, with its permissions, and closes it. Nothing is flushed or renamed yet.
pub(crate) fn stage(path: &Path, content: &[u8]) -> io::Result<Staged> {
    let permissions = fs::metadata(path)?.permissions();
    let (temporary, mut file) = create_temporary(path)?;
    let result = file
        .write_all(content)
        .and_then(|()| file.set_permissions(permissions))
        .and_then(|()| device_of(&file));
    drop(file);
    match result {
        Ok(device) => Ok(Staged {
            temporary,
            target: path.to_path_buf(),
            device,
        }),
        Err(error) => {
            let _ = fs::remove_file(&temporary);
            Err(error)
        }
    }
}

impl Staged {
    /// Where the new content waits (step 2 flushes it): the file system's
    /// device, and the temporary file.
    pub(crate) fn content(&self) -> (u64, &Path) {
        (self.device, &self.temporary)
    }

    /// Where the rename happens (step 4 flushes it): the file system's
    /// device, and the directory of the file.
    pub(crate) fn directory(&self) -> (u64, &Path) {
        let directory = self.target.parent().unwrap_or(Path::new("."));
        let directory = if directory.as_os_str().is_empty() {
            Path::new(".")
        } else {
            directory
        };
        (self.device, directory)
    }

    /// Step 3: renames the temporary file over its original.
    pub(crate) fn commit(self) -> io::Result<()> {
        let result = fs::rename(&self.temporary, &self.target);
        if result.is_err() {
            let _ = fs::remove_file(&self.temporary);
        }
        result
    }

    /// Removes the temporary file; the original stays as it is.
    pub(crate) fn discard(self) {
        let _ = fs::remove_file(&self.temporary);
    }
}

/// Steps 2 and 4: flushes every file system that holds one of `files`
/// ((device, path) pairs from [`Staged::content`] or [`Staged::directory`]),
/// once each: `syncfs` on Linux, the platform tagpilot ships for, through
/// one handle opened for it; elsewhere each distinct path is flushed on its
/// own (a directory's flush is what makes a rename in it durable).
pub(crate) fn flush_file_systems<'a>(
    files: impl IntoIterator<Item = (u64, &'a Path)>,
) -> io::Result<()> {
    let mut flushed: Vec<(u64, &Path)> = Vec::new();
    for (device, path) in files {
        let done = |&(d, p): &(u64, &Path)| d == device && (cfg!(target_os = "linux") || p == path);
        if flushed.iter().any(done) {
            continue;
        }
        sync_file_system(path).map_err(|error| {
            io::Error::new(
                error.kind(),
                format!("flushing {}: {error}", path.display()),
            )
        })?;
        flushed.push((device, path));
    }
    Ok(())
}

#[cfg(unix)]
fn device_of(file: &fs::File) -> io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    Ok(file.metadata()?.dev())
}

#[cfg(not(unix))]
fn device_of(_file: &fs::File) -> io::Result<u64> {
    Ok(0)
}

#[cfg(target_os = "linux")]
fn sync_file_system(path: &Path) -> io::Result<()> {
    rustix::fs::syncfs(fs::File::open(path)?).map_err(io::Error::from)
}

/// Elsewhere: the file itself (opened for writing, as some platforms need to
/// flush it), or the directory on Unix; other platforms cannot open one.
#[cfg(not(target_os = "linux"))]
fn sync_file_system(path: &Path) -> io::Result<()> {
    if path.is_dir() {
        return if cfg!(unix) {
            fs::File::open(path)?.sync_all()
        } else {
            Ok(())
        };
    }
    OpenOptions::new().write(true).open(path)?.sync_all()
}

/// Overwrites the existing file `path` with `content` in place: same inode
/// and permissions; not atomic and not flushed (see the module docs). Refuses
/// anything but a regular file with one link.
pub(crate) fn overwrite_in_place(path: &Path, content: &[u8]) -> io::Result<()> {
    let before = fs::symlink_metadata(path)?;
    if !before.file_type().is_file() {
        return Err(io::Error::other(
            "it is not a regular file; refusing to write through it",
        ));
    }
    let mut file = OpenOptions::new().write(true).open(path)?;
    check_single_link(&before, &file.metadata()?)?;
    file.write_all(content)?;
    file.set_len(content.len() as u64)
}

/// The opened file must be the one looked at, and have no other hard link.
#[cfg(unix)]
fn check_single_link(before: &fs::Metadata, opened: &fs::Metadata) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    if (before.dev(), before.ino()) != (opened.dev(), opened.ino()) {
        return Err(io::Error::other(
            "it was replaced while being written; refusing to write through it",
        ));
    }
    if opened.nlink() > 1 {
        return Err(io::Error::other(format!(
            "it has {} hard links; an in-place write would change the other names too",
            opened.nlink()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_single_link(_before: &fs::Metadata, _opened: &fs::Metadata) -> io::Result<()> {
    Ok(())
}

/// The PID in the name of one of our temporary files
/// (`.NAME.tagpilot-PID-N.tmp`, NAME a file the walk reads), if it is one.
pub(crate) fn temporary_owner(file_name: &str) -> Option<u32> {
    let inner = file_name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let (name, owner) = inner.rsplit_once(".tagpilot-")?;
    let (pid, attempt) = owner.split_once('-')?;
    let digits = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    if !super::walk::is_candidate_name(name) || !digits(attempt) || !digits(pid) {
        return None;
    }
    pid.parse().ok()
}

/// Removes `path` if it is a stale temporary file of ours: named by
/// [`temporary_owner`], a regular file, and its process is not running (when
/// `/proc` can tell) or it is older than [`STALE_AFTER`]. Returns the PID of
/// the crashed run when it removed the file.
pub(crate) fn remove_if_stale(path: &Path, file_name: &str) -> io::Result<Option<u32>> {
    let Some(pid) = temporary_owner(file_name) else {
        return Ok(None);
    };
    let metadata = fs::symlink_metadata(path)?;
    if !metadata.file_type().is_file() || pid == std::process::id() {
        return Ok(None);
    }
    let old = metadata
        .modified()
        .ok()
        .and_then(|modified| SystemTime::now().duration_since(modified).ok())
        .is_some_and(|age| age > STALE_AFTER);
    if !old && process_may_run(pid) {
        return Ok(None);
    }
    fs::remove_file(path)?;
    Ok(Some(pid))
}

/// Whether process `pid` may be running: false only when `/proc` is mounted
/// and has no entry for it.
fn process_may_run(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.join("self").exists() || proc.join(pid.to_string()).exists()
}

fn create_temporary(path: &Path) -> io::Result<(PathBuf, fs::File)> {
    let directory = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let pid = std::process::id();
    let mut last_error = None;
    for attempt in 0..64 {
        let temporary = directory.join(format!(".{name}.tagpilot-{pid}-{attempt}.tmp"));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temporary)
        {
            Ok(file) => return Ok((temporary, file)),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => last_error = Some(error),
            Err(error) => return Err(error),
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::other("no free temporary file name")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn content_and_permissions_are_replaced_and_no_temporary_is_left() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.yaml");
        fs::write(&path, "old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let staged = stage(&path, b"new").unwrap();
        flush_file_systems([staged.content()]).unwrap();
        let (device, directory) = staged.directory();
        let directory = directory.to_path_buf();
        staged.commit().unwrap();
        flush_file_systems([(device, directory.as_path())]).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn our_temporary_names_are_recognised_and_nothing_else() {
        assert_eq!(temporary_owner(".app.yaml.tagpilot-4242-0.tmp"), Some(4242));
        assert_eq!(temporary_owner(".Kustomization.tagpilot-7-63.tmp"), Some(7));
        for other in [
            "app.yaml.tagpilot-4242-0.tmp",
            ".app.yaml.tagpilot-4242-0.tmp.bak",
            ".app.txt.tagpilot-4242-0.tmp",
            ".app.yaml.tagpilot--0.tmp",
            ".app.yaml.tagpilot-42x-0.tmp",
            ".app.yaml.tagpilot-4242-.tmp",
            ".app.yaml.tmp",
            ".tagpilot-1-1.tmp",
        ] {
            assert_eq!(temporary_owner(other), None, "{other}");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn only_stale_leftovers_of_ours_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        // A process that has ended: its PID is free (until reused, which the age bound covers).
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let alive = std::process::id();
        let parent = std::os::unix::process::parent_id();
        for (name, removed) in [
            (format!(".a.yaml.tagpilot-{dead}-0.tmp"), Some(dead)),
            (format!(".a.yaml.tagpilot-{alive}-0.tmp"), None),
            (format!(".a.yaml.tagpilot-{parent}-1.tmp"), None),
            (format!(".a.txt.tagpilot-{dead}-0.tmp"), None),
        ] {
            let path = dir.path().join(&name);
            fs::write(&path, "half").unwrap();
            assert_eq!(remove_if_stale(&path, &name).unwrap(), removed, "{name}");
            assert_eq!(path.exists(), removed.is_none(), "{name}");
        }
    }

    /// Regression (issue 17, finding 8): in-place writes went through hard
    /// links, changing files outside the tree.
    #[cfg(unix)]
    #[test]
    fn in_place_writes_used_to_go_through_hard_links() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside.yaml");
        fs::write(&outside, "image: app:1\n").unwrap();
        let inside = dir.path().join("inside.yaml");
        fs::hard_link(&outside, &inside).unwrap();
        let error = overwrite_in_place(&inside, b"image: app:2\n").unwrap_err();
        assert!(error.to_string().contains("2 hard links"), "{error}");
        assert_eq!(fs::read_to_string(&outside).unwrap(), "image: app:1\n");
        #[cfg(unix)]
        {
            let link = dir.path().join("link.yaml");
            std::os::unix::fs::symlink(&outside, &link).unwrap();
            let error = overwrite_in_place(&link, b"x").unwrap_err();
            assert!(error.to_string().contains("not a regular file"), "{error}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn in_place_keeps_the_inode_and_cuts_a_shorter_content() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.yaml");
        fs::write(&path, "image: app:1.10.0\n").unwrap();
        let inode = fs::metadata(&path).unwrap().ino();
        overwrite_in_place(&path, b"image: app:2\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "image: app:2\n");
        overwrite_in_place(&path, b"image: app:2.0.0-rc.1\n").unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "image: app:2.0.0-rc.1\n"
        );
        assert_eq!(fs::metadata(&path).unwrap().ino(), inode);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}

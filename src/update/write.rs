//! Writing a changed file, in one of two ways.
//!
//! [`write_atomically`] (the default of `tagpilot update`): readers and crashes
//! see the old or the new content, never a mix, and the new content is on disk
//! when it returns. The new content goes to a temporary file in the same
//! directory (so the rename stays on one file system), is flushed to disk, gets
//! the original file's permissions, and is renamed over the original. On any
//! failure the temporary file is removed and the original is untouched.
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

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Replaces the content of the existing file `path` with `content`.
pub(crate) fn write_atomically(path: &Path, content: &[u8]) -> io::Result<()> {
    let permissions = fs::metadata(path)?.permissions();
    let (temporary, mut file) = create_temporary(path)?;
    let result = file
        .write_all(content)
        .and_then(|()| file.sync_all())
        .and_then(|()| fs::set_permissions(&temporary, permissions))
        .and_then(|()| fs::rename(&temporary, path));
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result
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
        write_atomically(&path, b"new").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
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

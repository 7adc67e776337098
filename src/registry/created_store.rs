//! The creation-time store: manifest digest → the image's `created`, kept
//! across restarts so each image's config is fetched once.
//!
//! A digest names content, so an entry never goes stale: the same digest in any
//! repository is the same image. Entries live in memory and in one JSON file,
//! `STATE/created.json`, written atomically by [`CreatedStore::save`]
//! (temporary file, fsync, rename, fsync of the directory): a crash leaves the
//! old file or the new one. [`CreatedStore::retain`] drops the digests no
//! listed tag points to any more, so the file follows the registries' size.
//!
//! Writes are small synchronous file operations; call [`CreatedStore::save`]
//! from a blocking context (or `spawn_blocking`) in async code.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// The store's file under the state directory.
pub const CREATED_FILE: &str = "created.json";

/// Why the store could not read or write its file.
#[derive(Debug, thiserror::Error)]
pub enum CreatedStoreError {
    /// A file or directory operation failed.
    #[error(
        "creation-time store: {action} {path}: {source}; check that the state directory is writable"
    )]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not the store's JSON.
    #[error(
        "creation-time store: {path} is not the store's JSON ({source}); delete it to look the times up again"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
}

/// The file's content.
#[derive(Debug, Default, Serialize, Deserialize)]
struct StoreFile {
    /// Digest → RFC 3339 creation time, or `null` for an image without one.
    images: BTreeMap<String, Option<Timestamp>>,
}

/// Creation times by manifest digest, persisted under a state directory.
#[derive(Debug)]
pub struct CreatedStore {
    /// The file, or `None` for a store that lives in memory only.
    path: Option<PathBuf>,
    entries: RwLock<(BTreeMap<String, Option<Timestamp>>, bool)>,
}

impl CreatedStore {
    /// Opens (creating the directory if needed) the store under `state_dir`.
    pub fn open(state_dir: &Path) -> Result<Self, CreatedStoreError> {
        std::fs::create_dir_all(state_dir).map_err(io("create", state_dir))?;
        let path = state_dir.join(CREATED_FILE);
        let images = match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice::<StoreFile>(&bytes)
                    .map_err(|source| CreatedStoreError::Corrupt {
                        path: path.clone(),
                        source,
                    })?
                    .images
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(error) => return Err(io("read", &path)(error)),
        };
        Ok(Self {
            path: Some(path),
            entries: RwLock::new((images, false)),
        })
    }

    /// A store for one command (`policy eval`): nothing read, nothing saved.
    pub fn in_memory() -> Self {
        Self {
            path: None,
            entries: RwLock::default(),
        }
    }

    /// What is stored for `digest`: `Some(None)` for an image known to have no creation time.
    pub fn get(&self, digest: &str) -> Option<Option<Timestamp>> {
        self.entries.read().ok()?.0.get(digest).copied()
    }

    /// Records `digest`'s creation time in memory (see [`CreatedStore::save`]).
    pub fn insert(&self, digest: &str, created: Option<Timestamp>) {
        if let Ok(mut entries) = self.entries.write()
            && entries.0.get(digest) != Some(&created)
        {
            entries.0.insert(digest.to_string(), created);
            entries.1 = true;
        }
    }

    /// Forgets every digest for which `keep` is false.
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        if let Ok(mut entries) = self.entries.write() {
            let before = entries.0.len();
            entries.0.retain(|digest, _| keep(digest));
            if entries.0.len() != before {
                entries.1 = true;
            }
        }
    }

    /// How many digests are stored.
    pub fn len(&self) -> usize {
        self.entries.read().map_or(0, |e| e.0.len())
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the file if anything changed since it was read or last saved.
    pub fn save(&self) -> Result<(), CreatedStoreError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let Ok(mut entries) = self.entries.write() else {
            return Ok(());
        };
        if !entries.1 {
            return Ok(());
        }
        let file = StoreFile {
            images: entries.0.clone(),
        };
        let mut bytes =
            serde_json::to_vec_pretty(&file).map_err(|source| CreatedStoreError::Corrupt {
                path: path.clone(),
                source,
            })?;
        bytes.push(b'\n');
        let directory = path.parent().unwrap_or(Path::new("."));
        let temporary = directory.join(format!(".{CREATED_FILE}.{}.tmp", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut out = std::fs::File::create(&temporary)?;
            out.write_all(&bytes)?;
            out.sync_all()?;
            std::fs::rename(&temporary, path)?;
            std::fs::File::open(directory)?.sync_all()
        };
        write().map_err(|error| {
            let _ = std::fs::remove_file(&temporary);
            io("write", path)(error)
        })?;
        entries.1 = false;
        Ok(())
    }
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> CreatedStoreError {
    let path = path.to_path_buf();
    move |source| CreatedStoreError::Io {
        action,
        path,
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_a_restart_and_can_be_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let store = CreatedStore::open(dir.path()).unwrap();
        let time: Timestamp = "2024-03-01T10:00:00.5Z".parse().unwrap();
        store.insert("sha256:aa", Some(time));
        store.insert("sha256:bb", None);
        assert_eq!(store.get("sha256:aa"), Some(Some(time)));
        assert_eq!(store.get("sha256:cc"), None);
        store.save().unwrap();
        let reopened = CreatedStore::open(dir.path()).unwrap();
        assert_eq!(reopened.get("sha256:aa"), Some(Some(time)));
        assert_eq!(reopened.get("sha256:bb"), Some(None));
        reopened.retain(|digest| digest == "sha256:aa");
        reopened.save().unwrap();
        let pruned = CreatedStore::open(dir.path()).unwrap();
        assert_eq!(pruned.len(), 1);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [CREATED_FILE], "no temporary file is left");
    }

    #[test]
    fn a_corrupt_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CREATED_FILE), "{").unwrap();
        let error = CreatedStore::open(dir.path()).unwrap_err().to_string();
        assert!(error.contains("created.json"), "{error}");
        assert!(error.contains("delete it"), "{error}");
    }
}

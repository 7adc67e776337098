//! The tag store: per ImageRepository, the last complete tag list with its scan
//! time and revision, in memory and persisted under the state directory.
//!
//! Invariant 4: only a complete scan replaces a stored list; a partial scan is
//! refused here and a failed scan never reaches the store, so a policy result
//! never changes because of a bad scan. Each list is one JSON file,
//! `STATE/tags/NAMESPACE/NAME.json`, written atomically (temporary file, fsync,
//! rename, fsync of the directory); a crash leaves the old file or the new one.
//! On start the files are loaded, and [`next_scan_at`] spreads the resumed scans
//! over time instead of scanning everything at once.
//!
//! Writes are small synchronous file operations; call from a blocking context
//! (or `spawn_blocking`) in async code.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::{ObjectKey, TagList};

/// Why the store could not read or write its files.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file or directory operation failed.
    #[error("tag store: {action} {path}: {source}; check that the state directory is writable")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A stored file is not the store's JSON.
    #[error("tag store: {path} is not a tag list ({source}); delete it to rescan")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
}

/// One ImageRepository's last complete tag list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredTags {
    /// `namespace/name` of the ImageRepository.
    pub object: String,
    /// The image that was scanned.
    pub image: String,
    /// The tags, sorted byte-wise.
    pub tags: Vec<String>,
    /// `sha256:` over the sorted tags, one per line: equal lists, equal revisions.
    pub revision: String,
    /// When the scan finished, in seconds since the Unix epoch.
    pub scanned_at: u64,
    /// Always true for stored lists (kept in the file for readers).
    pub complete: bool,
}

impl StoredTags {
    /// The scan time (a value from a damaged file that no clock can hold reads as the epoch).
    pub fn scan_time(&self) -> SystemTime {
        UNIX_EPOCH
            .checked_add(Duration::from_secs(self.scanned_at))
            .unwrap_or(UNIX_EPOCH)
    }
}

/// The revision of a sorted tag list.
pub fn revision(sorted_tags: &[String]) -> String {
    let mut hasher = Sha256::new();
    for tag in sorted_tags {
        hasher.update(tag.as_bytes());
        hasher.update(b"\n");
    }
    format!("sha256:{}", hex::encode(hasher.finalize()))
}

/// What [`TagStore::record`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordOutcome {
    /// The list differs from the stored one (or there was none) and was stored.
    Updated {
        /// The new revision.
        revision: String,
    },
    /// Same tags as before; only the scan time was refreshed.
    Unchanged,
    /// The scan was partial; the previous list (if any) is kept.
    KeptPrevious,
}

/// Tag lists by ImageRepository, persisted under a state directory.
#[derive(Debug)]
pub struct TagStore {
    dir: PathBuf,
    entries: RwLock<HashMap<ObjectKey, Arc<StoredTags>>>,
}

impl TagStore {
    /// Opens (creating if needed) the store under `state_dir` and loads every list.
    pub fn open(state_dir: &Path) -> Result<Self, StoreError> {
        let dir = state_dir.join("tags");
        std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
        let mut entries = HashMap::new();
        for namespace in std::fs::read_dir(&dir).map_err(io("read", &dir))? {
            let namespace = namespace.map_err(io("read", &dir))?;
            if !namespace.file_type().map_err(io("read", &dir))?.is_dir() {
                continue;
            }
            let namespace_dir = namespace.path();
            for file in std::fs::read_dir(&namespace_dir).map_err(io("read", &namespace_dir))? {
                let path = file.map_err(io("read", &namespace_dir))?.path();
                if path.extension().is_none_or(|e| e != "json") {
                    continue; // temporary files of an interrupted write
                }
                let bytes = std::fs::read(&path).map_err(io("read", &path))?;
                let stored: StoredTags =
                    serde_json::from_slice(&bytes).map_err(|source| StoreError::Corrupt {
                        path: path.clone(),
                        source,
                    })?;
                if let Some((ns, name)) = stored.object.split_once('/') {
                    entries.insert(ObjectKey::new(ns, name), Arc::new(stored));
                }
            }
        }
        Ok(Self {
            dir,
            entries: RwLock::new(entries),
        })
    }

    /// The stored list of `key`.
    pub fn get(&self, key: &ObjectKey) -> Option<Arc<StoredTags>> {
        self.entries.read().ok()?.get(key).cloned()
    }

    /// Every ImageRepository with a stored list.
    pub fn keys(&self) -> Vec<ObjectKey> {
        let mut keys: Vec<ObjectKey> = self
            .entries
            .read()
            .map(|e| e.keys().cloned().collect())
            .unwrap_or_default();
        keys.sort();
        keys
    }

    /// Stores a scan's result if it is complete; a partial list never replaces
    /// the stored one (invariant 4). Persists before updating memory.
    pub fn record(
        &self,
        key: &ObjectKey,
        image: &str,
        list: &TagList,
        now: SystemTime,
    ) -> Result<RecordOutcome, StoreError> {
        if !list.complete {
            return Ok(RecordOutcome::KeptPrevious);
        }
        let mut tags = list.tags.clone();
        tags.sort_unstable();
        tags.dedup();
        let revision = revision(&tags);
        let previous = self.get(key);
        let unchanged = previous.as_ref().is_some_and(|p| p.revision == revision);
        let stored = StoredTags {
            object: key.to_string(),
            image: image.to_string(),
            tags,
            revision: revision.clone(),
            scanned_at: now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
            complete: true,
        };
        self.persist(key, &stored)?;
        if let Ok(mut entries) = self.entries.write() {
            entries.insert(key.clone(), Arc::new(stored));
        }
        Ok(if unchanged {
            RecordOutcome::Unchanged
        } else {
            RecordOutcome::Updated { revision }
        })
    }

    /// Forgets `key` (its ImageRepository was deleted).
    pub fn remove(&self, key: &ObjectKey) -> Result<(), StoreError> {
        let path = self.path(key);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("remove", &path)(e)),
        }
        if let Ok(mut entries) = self.entries.write() {
            entries.remove(key);
        }
        Ok(())
    }

    fn path(&self, key: &ObjectKey) -> PathBuf {
        self.dir
            .join(file_name(&key.namespace))
            .join(format!("{}.json", file_name(&key.name)))
    }

    fn persist(&self, key: &ObjectKey, stored: &StoredTags) -> Result<(), StoreError> {
        let path = self.path(key);
        let dir = path.parent().unwrap_or(&self.dir).to_path_buf();
        std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
        let temporary = dir.join(format!(
            ".{}.{}.tmp",
            file_name(&key.name),
            std::process::id()
        ));
        let bytes = serde_json::to_vec_pretty(stored).map_err(|source| StoreError::Corrupt {
            path: path.clone(),
            source,
        })?;
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::File::create(&temporary)?;
            file.write_all(&bytes)?;
            file.write_all(b"\n")?;
            file.sync_all()?;
            std::fs::rename(&temporary, &path)?;
            std::fs::File::open(&dir)?.sync_all()
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&temporary);
            io("write", &path)(e)
        })
    }
}

/// A name safe as one path component: Kubernetes names pass unchanged, anything
/// else (`..`, `/`, uppercase, …) is hex-encoded with a `~` prefix.
fn file_name(name: &str) -> String {
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if plain {
        name.to_string()
    } else {
        format!("~{}", hex::encode(name.as_bytes()))
    }
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.to_path_buf();
    move |source| StoreError::Io {
        action,
        path,
        source,
    }
}

/// When to scan an ImageRepository next after a start: one interval after its
/// stored scan, or, when that is already past (or nothing is stored), at a
/// random point within the next `min(interval, 5 min)`, so a restart does not
/// scan everything at once.
pub fn next_scan_at(
    stored: Option<&StoredTags>,
    interval: Duration,
    now: SystemTime,
) -> SystemTime {
    if let Some(stored) = stored
        && let Some(due) = stored.scan_time().checked_add(interval)
        && due > now
    {
        // A scan time in the future (a clock set back, a damaged file) waits one interval at most.
        return due.min(now.checked_add(interval).unwrap_or(due));
    }
    let window = interval.min(Duration::from_secs(300));
    let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
    now + Duration::from_millis(fastrand::u64(0..=window_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(tags: &[&str], complete: bool) -> TagList {
        let mut list = TagList::complete(tags.iter().map(|t| t.to_string()));
        list.complete = complete;
        list
    }

    #[test]
    fn partial_scans_never_replace_the_stored_list() {
        let dir = tempfile::tempdir().unwrap();
        let store = TagStore::open(dir.path()).unwrap();
        let key = ObjectKey::new("apps", "front-end");
        let now = SystemTime::now();
        let outcome = store
            .record(&key, "ghcr.io/org/app", &list(&["v2", "v1"], true), now)
            .unwrap();
        let first = store.get(&key).unwrap();
        assert_eq!(
            outcome,
            RecordOutcome::Updated {
                revision: first.revision.clone()
            }
        );
        assert_eq!(first.tags, ["v1", "v2"]);
        assert_eq!(
            store
                .record(&key, "ghcr.io/org/app", &list(&["v3"], false), now)
                .unwrap(),
            RecordOutcome::KeptPrevious
        );
        assert_eq!(store.get(&key).unwrap(), first);
        // A partial first scan stores nothing at all.
        let other = ObjectKey::new("apps", "other");
        store
            .record(&other, "x", &list(&["a"], false), now)
            .unwrap();
        assert!(store.get(&other).is_none());
        // Survives a restart, and the partial scan left no trace on disk either.
        let reopened = TagStore::open(dir.path()).unwrap();
        assert_eq!(reopened.get(&key).unwrap(), first);
        assert_eq!(reopened.keys(), vec![key.clone()]);
    }

    #[test]
    fn equal_tags_give_equal_revisions_in_any_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = TagStore::open(dir.path()).unwrap();
        let key = ObjectKey::new("default", "app");
        let now = SystemTime::now();
        store
            .record(&key, "app", &list(&["b", "a"], true), now)
            .unwrap();
        assert_eq!(
            store
                .record(&key, "app", &list(&["a", "b"], true), now)
                .unwrap(),
            RecordOutcome::Unchanged
        );
        assert_eq!(
            store.get(&key).unwrap().revision,
            revision(&["a".into(), "b".into()])
        );
        assert_ne!(
            revision(&["ab".into()]),
            revision(&["a".into(), "b".into()])
        );
    }

    #[test]
    fn odd_names_stay_inside_the_store_directory() {
        let dir = tempfile::tempdir().unwrap();
        let store = TagStore::open(dir.path()).unwrap();
        let key = ObjectKey::new("..", "../../escape");
        store
            .record(&key, "x", &list(&["a"], true), SystemTime::now())
            .unwrap();
        assert!(!dir.path().parent().unwrap().join("escape.json").exists());
        let reopened = TagStore::open(dir.path()).unwrap();
        assert_eq!(reopened.get(&key).unwrap().tags, ["a"]);
    }

    #[test]
    fn resumed_scans_are_spread_out_and_fresh_ones_wait_an_interval() {
        let now = SystemTime::now();
        let interval = Duration::from_secs(600);
        let fresh = StoredTags {
            object: "a/b".into(),
            image: "x".into(),
            tags: vec![],
            revision: revision(&[]),
            scanned_at: now.duration_since(UNIX_EPOCH).unwrap().as_secs(),
            complete: true,
        };
        let due = next_scan_at(Some(&fresh), interval, now);
        assert!(due > now + Duration::from_secs(500));
        for _ in 0..20 {
            let at = next_scan_at(None, interval, now);
            assert!(at >= now && at <= now + Duration::from_secs(300));
        }
    }
}

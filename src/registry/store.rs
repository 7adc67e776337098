//! The tag store: per ImageRepository, the last complete tag list with its scan
//! time and revision, in memory and persisted under the state directory.
//!
//! Invariant 4: only a complete scan replaces a stored list; a partial scan is
//! refused here and a failed scan never reaches the store, so a policy result
//! never changes because of a bad scan.
//!
//! On disk, each list is one JSON file, `STATE/tags/NAMESPACE/NAME.json`,
//! written only when the list changed: to a temporary file, fsynced, renamed
//! over the old one, and the directory fsynced, so a crash leaves the old list
//! or the new one, and a recorded change is on disk when `record` returns. A
//! scan that finds the same tags writes no list: its time goes to
//! `STATE/tags/.scan-times.json`, one small index for every repository,
//! written the same atomic way at most once a minute and when the store is
//! dropped (a crash loses at most a minute of scan times: those repositories
//! are rescanned early after a restart). On start each list's scan time is the
//! later of its file's and the index's. [`TagStore::record_batch`] records
//! many scans at once: the changed lists are written and fsynced concurrently,
//! so the journal commits them together. On start the files are loaded, and
//! [`next_scan_at`] spreads the resumed scans over time instead of scanning
//! everything at once.
//!
//! Writes are synchronous file operations; call from a blocking context (or
//! `spawn_blocking`) in async code.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::{ObjectKey, TagList};

/// The index of scan times, in the store's directory (a name no namespace
/// directory can have: those starting with `.` are hex-encoded).
const SCAN_TIMES_FILE: &str = ".scan-times.json";

/// How many list files a batch writes and fsyncs at the same time.
const WRITERS: usize = 16;

/// How many list files [`TagStore::open`] reads and parses at the same time
/// (CPU-bound: about the cores of a small machine).
const LOADERS: usize = 4;

/// The longest the store waits before writing refreshed scan times to the
/// index (a crash loses at most this much: those repositories are rescanned
/// early after a restart).
const SCAN_TIMES_EVERY: Duration = Duration::from_secs(60);

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

    /// Whether the list holds `tag`.
    pub fn lists(&self, tag: &str) -> bool {
        self.tags
            .binary_search_by(|listed| listed.as_str().cmp(tag))
            .is_ok()
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

/// One scan for [`TagStore::record_batch`].
#[derive(Debug)]
pub struct Recording {
    /// The ImageRepository.
    pub key: ObjectKey,
    /// The image that was scanned.
    pub image: String,
    /// What the scan listed (moved into the store, not copied).
    pub list: TagList,
}

/// What [`TagStore::record_batch`] did with one [`Recording`].
#[derive(Debug)]
pub struct Recorded {
    /// The outcome.
    pub outcome: RecordOutcome,
    /// The list this one replaced, when the outcome is `Updated` (for logging what changed).
    pub previous: Option<Arc<StoredTags>>,
}

/// Tag lists by ImageRepository, persisted under a state directory.
#[derive(Debug)]
pub struct TagStore {
    dir: PathBuf,
    entries: RwLock<HashMap<ObjectKey, Arc<StoredTags>>>,
    /// Serializes writes of the scan-time index; holds what it last wrote and when.
    scan_times: Mutex<ScanTimes>,
}

/// The scan-time index as last written.
#[derive(Debug, Default)]
struct ScanTimes {
    written: BTreeMap<String, u64>,
    at: Option<Instant>,
}

impl TagStore {
    /// Opens (creating if needed) the store under `state_dir` and loads every
    /// list, several files at a time (parsing thousands of lists is most of a
    /// no-change run's start).
    pub fn open(state_dir: &Path) -> Result<Self, StoreError> {
        let dir = state_dir.join("tags");
        std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
        let scan_times = read_scan_times(&dir);
        let mut paths = Vec::new();
        for namespace in std::fs::read_dir(&dir).map_err(io("read", &dir))? {
            let namespace = namespace.map_err(io("read", &dir))?;
            if !namespace.file_type().map_err(io("read", &dir))?.is_dir() {
                continue;
            }
            let namespace_dir = namespace.path();
            for file in std::fs::read_dir(&namespace_dir).map_err(io("read", &namespace_dir))? {
                let path = file.map_err(io("read", &namespace_dir))?.path();
                if path.extension().is_some_and(|e| e == "json") {
                    paths.push(path); // not the temporary files of an interrupted write
                }
            }
        }
        let loaded = crate::parallel::run_indexed(paths.len(), LOADERS, |index| {
            let path = &paths[index];
            let bytes = std::fs::read(path).map_err(io("read", path))?;
            serde_json::from_slice::<StoredTags>(&bytes).map_err(|source| StoreError::Corrupt {
                path: path.clone(),
                source,
            })
        });
        let mut entries = HashMap::with_capacity(loaded.len());
        for stored in loaded {
            let mut stored = stored?;
            if let Some(&scanned_at) = scan_times.get(&stored.object) {
                stored.scanned_at = stored.scanned_at.max(scanned_at);
            }
            if let Some((ns, name)) = stored.object.split_once('/') {
                entries.insert(ObjectKey::new(ns, name), Arc::new(stored));
            }
        }
        Ok(Self {
            dir,
            entries: RwLock::new(entries),
            scan_times: Mutex::new(ScanTimes {
                written: scan_times,
                at: None,
            }),
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
        let recording = Recording {
            key: key.clone(),
            image: image.to_string(),
            list: list.clone(),
        };
        let mut recorded = self.record_batch(vec![recording], now);
        recorded
            .pop()
            .map_or(Ok(RecordOutcome::KeptPrevious), |r| r.map(|r| r.outcome))
    }

    /// Records many scans, as [`TagStore::record`] records one, and returns
    /// their outcomes in order. Changed lists are written concurrently and are
    /// on disk when this returns; unchanged ones only refresh their scan time
    /// (one write of the index for the whole batch).
    pub fn record_batch(
        &self,
        recordings: Vec<Recording>,
        now: SystemTime,
    ) -> Vec<Result<Recorded, StoreError>> {
        let scanned_at = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let mut results: Vec<Option<Result<Recorded, StoreError>>> = Vec::new();
        let mut changed = Vec::new();
        let mut refreshed = false;
        for Recording { key, image, list } in recordings {
            let index = results.len();
            results.push(None);
            if !list.complete {
                results[index] = Some(Ok(Recorded {
                    outcome: RecordOutcome::KeptPrevious,
                    previous: None,
                }));
                continue;
            }
            let mut tags = list.tags;
            if !tags.is_sorted() {
                tags.sort_unstable();
            }
            tags.dedup();
            let revision = revision(&tags);
            let previous = self.get(&key);
            let stored = StoredTags {
                object: key.to_string(),
                image,
                tags,
                revision,
                scanned_at,
                complete: true,
            };
            let same_tags = previous
                .as_ref()
                .is_some_and(|p| p.revision == stored.revision);
            let outcome = if same_tags {
                RecordOutcome::Unchanged
            } else {
                RecordOutcome::Updated {
                    revision: stored.revision.clone(),
                }
            };
            if same_tags && previous.as_ref().is_some_and(|p| p.image == stored.image) {
                // The same file but for its scan time, which goes to the index.
                // The stored list stays; the scan's equal copy is freed now.
                drop((previous, stored));
                self.refresh(&key, scanned_at);
                refreshed = true;
                results[index] = Some(Ok(Recorded {
                    outcome,
                    previous: None,
                }));
            } else {
                let previous = previous.filter(|_| !same_tags);
                changed.push((index, key, stored, previous, outcome));
            }
        }
        let written = crate::parallel::run_indexed(changed.len(), WRITERS, |i| {
            let (_, key, stored, ..) = &changed[i];
            self.write_list(key, stored)
        });
        let mut directories = BTreeSet::new();
        for ((index, key, stored, previous, outcome), result) in changed.into_iter().zip(written) {
            results[index] = Some(result.map(|directory| {
                directories.insert(directory);
                self.insert(&key, stored);
                Recorded { outcome, previous }
            }));
        }
        // The renames are on disk once their directories are.
        for directory in directories {
            if let Err(error) = sync_directory(&directory) {
                tracing::warn!(directory = %directory.display(), %error, "tag store: cannot flush a directory");
            }
        }
        if refreshed {
            self.save_scan_times_every(SCAN_TIMES_EVERY);
        }
        results
            .into_iter()
            .map(|result| {
                result.unwrap_or(Ok(Recorded {
                    outcome: RecordOutcome::KeptPrevious,
                    previous: None,
                }))
            })
            .collect()
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
        let indexed = self
            .scan_times
            .lock()
            .is_ok_and(|times| times.written.contains_key(&key.to_string()));
        if indexed {
            self.save_scan_times()?;
        }
        Ok(())
    }

    /// Sets the scan time of `key`'s stored list, in place unless someone
    /// holds that list (then a copy with the new time replaces it).
    fn refresh(&self, key: &ObjectKey, scanned_at: u64) {
        if let Ok(mut entries) = self.entries.write()
            && let Some(stored) = entries.get_mut(key)
        {
            Arc::make_mut(stored).scanned_at = scanned_at;
        }
    }

    fn insert(&self, key: &ObjectKey, stored: StoredTags) {
        if let Ok(mut entries) = self.entries.write() {
            entries.insert(key.clone(), Arc::new(stored));
        }
    }

    fn path(&self, key: &ObjectKey) -> PathBuf {
        self.dir
            .join(file_name(&key.namespace))
            .join(format!("{}.json", file_name(&key.name)))
    }

    /// Writes `stored` durably in place of `key`'s file (temporary file,
    /// fsync, rename); returns the directory, whose fsync makes the rename durable.
    fn write_list(&self, key: &ObjectKey, stored: &StoredTags) -> Result<PathBuf, StoreError> {
        let path = self.path(key);
        let dir = path.parent().unwrap_or(&self.dir).to_path_buf();
        std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
        let temporary = dir.join(format!(
            ".{}.{}.tmp",
            file_name(&key.name),
            std::process::id()
        ));
        let mut bytes =
            serde_json::to_vec_pretty(stored).map_err(|source| StoreError::Corrupt {
                path: path.clone(),
                source,
            })?;
        bytes.push(b'\n');
        write_atomically(&temporary, &path, &bytes).map_err(io("write", &path))?;
        Ok(dir)
    }

    /// Writes the scan time of every stored list to the index, atomically,
    /// unless it holds them already. The store does it itself at most every
    /// [`SCAN_TIMES_EVERY`] and when dropped; call it after a cycle to have
    /// them on disk at once.
    pub fn save_scan_times(&self) -> Result<(), StoreError> {
        self.save_scan_times_if(|_| true)
    }

    fn save_scan_times_every(&self, period: Duration) {
        let saved = self.save_scan_times_if(|at| at.is_none_or(|at| at.elapsed() >= period));
        if let Err(error) = saved {
            tracing::warn!(%error, "tag store: cannot save the scan times; a restart may rescan early");
        }
    }

    fn save_scan_times_if(&self, due: impl Fn(Option<Instant>) -> bool) -> Result<(), StoreError> {
        let path = self.dir.join(SCAN_TIMES_FILE);
        let mut saved = self
            .scan_times
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !due(saved.at) {
            return Ok(());
        }
        let times: BTreeMap<String, u64> = self
            .entries
            .read()
            .map(|entries| {
                entries
                    .values()
                    .map(|stored| (stored.object.clone(), stored.scanned_at))
                    .collect()
            })
            .unwrap_or_default();
        if saved.written == times {
            return Ok(());
        }
        let mut bytes = serde_json::to_vec(&times).map_err(|source| StoreError::Corrupt {
            path: path.clone(),
            source,
        })?;
        bytes.push(b'\n');
        let temporary = self
            .dir
            .join(format!("{SCAN_TIMES_FILE}.{}.tmp", std::process::id()));
        write_atomically(&temporary, &path, &bytes).map_err(io("write", &path))?;
        saved.written = times;
        saved.at = Some(Instant::now());
        Ok(())
    }
}

impl Drop for TagStore {
    fn drop(&mut self) {
        if let Err(error) = self.save_scan_times() {
            tracing::warn!(%error, "tag store: cannot save the scan times; a restart may rescan early");
        }
    }
}

/// Temporary file, fsync, rename over `path`; the temporary file is removed on failure.
fn write_atomically(temporary: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(temporary, path)
    };
    write().inspect_err(|_| {
        let _ = std::fs::remove_file(temporary);
    })
}

fn sync_directory(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// The index of scan times; an unreadable one is ignored (the lists' own
/// times are used: at worst a restart rescans early).
fn read_scan_times(dir: &Path) -> BTreeMap<String, u64> {
    let path = dir.join(SCAN_TIMES_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|error| {
            tracing::warn!(file = %path.display(), %error, "tag store: ignoring an unreadable scan-time index");
            BTreeMap::new()
        }),
        Err(_) => BTreeMap::new(),
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
#[path = "store_tests.rs"]
mod tests;

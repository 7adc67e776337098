//! Setters: find `$imagepolicy` markers in YAML files and rewrite the marked values.
//!
//! Pure apart from the file walk: policy results in, a list of changes out,
//! every byte outside the marked scalars preserved (invariants 1, 2 and 8).
//!
//! Data flows in one direction through [`apply_results`]:
//! 1. `walk` resolves the update path inside the repository root and lists the
//!    candidate files (`*.yaml`, `*.yml`, `Kustomization`), never following a
//!    symlink out of the root and skipping `.git`.
//! 2. Each file is read and screened for the literal `"$imagepolicy"`; only
//!    files that contain it are parsed ([`scan`]) and rewritten ([`rewrite`]),
//!    in parallel. A file that is not valid YAML is skipped with its parse error.
//!    Memory stays bounded whatever the tree holds: a file larger than
//!    [`MAX_MARKED_FILE_BYTES`] is screened in small chunks and, if marked,
//!    skipped (listed with its size) instead of being read whole. In-place
//!    runs skip files with other hard links (writing them would change files
//!    elsewhere); atomic runs remove the stale temporary files of crashed runs
//!    during the walk.
//! 3. Only when every file has been read without error, the changed files are
//!    written, only if their content changed: each atomically, or overwritten
//!    in place for working copies that git can restore (`write`).
//!
//! Marker semantics follow Flux's setters; see [`results`] and [`scan`].
//!
//! [`annotations`] is the other strategy: Flux v1's workload annotations
//! instead of markers, sharing this module's walk, parser, value encoding and
//! writes.

pub mod annotations;
#[cfg(test)]
mod golden_tests;
#[cfg(test)]
mod limit_tests;
pub mod object;
#[cfg(test)]
mod prop_tests;
pub mod report;
pub mod results;
pub mod rewrite;
pub mod scan;
mod walk;
mod write;

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, mpsc};

pub use object::ObjectId;
pub use report::{Change, FileUpdate, SkipReason, SkippedFile, UpdateReport};
pub use results::{PolicyId, PolicyResult, PolicyResults, ResultsError, Setter, SetterSuffix};
pub use rewrite::{MarkerRewrite, Rewrite, rewrite};
pub use scan::{MARKER_TOKEN, YamlError, scan};

/// The largest marked file that is read and updated (8 MiB; a Kubernetes
/// manifest is rarely above a few hundred KiB). Above it a marked file is
/// listed as skipped: reading, parsing and rewriting it would take about three
/// times its size in memory (a 150 MB file used to take 464 MB).
pub const MAX_MARKED_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// How many changed files are staged or written at the same time.
const WRITERS: usize = 16;

/// The most files of one directory a writer takes at once (see `by_directory`).
const DIRECTORY_GROUP: usize = 32;

/// Whether and how an update run writes files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateMode {
    /// Replace every changed file atomically and durably (temporary file,
    /// fsync, rename): a crash leaves the old or the new file, never a mix.
    Write,
    /// Overwrite every changed file in place, without fsync: an order of
    /// magnitude faster on large trees, but a crash mid-write can leave a file
    /// half-written. Only for working copies whose truth is in git and that are
    /// reset before each use (the engine's own checkout).
    WriteInPlace,
    /// Write nothing; the report still holds every change and the new contents.
    DryRun,
}

/// Why an update run failed. Nothing is written unless every file could be read.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// The repository root does not exist or cannot be resolved.
    #[error("cannot resolve the repository root {}", path.display())]
    Root {
        /// The root as given.
        path: PathBuf,
        /// The file system error.
        #[source]
        source: io::Error,
    },
    /// The update path does not exist or cannot be resolved.
    #[error("cannot resolve the update path {} in the repository", path.display())]
    Path {
        /// The path as given, relative to the root.
        path: PathBuf,
        /// The file system error.
        #[source]
        source: io::Error,
    },
    /// The update path leads outside the repository root (`..`, absolute path or symlink).
    #[error("the update path {} leads outside the repository; give a path inside it", path.display())]
    OutsideRoot {
        /// The path as given.
        path: PathBuf,
    },
    /// A directory under the update path cannot be listed.
    #[error("cannot list directory {}", path.display())]
    ReadDir {
        /// The directory, relative to the root.
        path: PathBuf,
        /// The file system error.
        #[source]
        source: io::Error,
    },
    /// A file cannot be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file, relative to the root.
        path: PathBuf,
        /// The file system error.
        #[source]
        source: io::Error,
    },
    /// A changed file cannot be written (it keeps its old content).
    #[error("cannot write {}", path.display())]
    Write {
        /// The file, relative to the root.
        path: PathBuf,
        /// The file system error.
        #[source]
        source: io::Error,
    },
}

/// Applies `results` to every marker in the files under `root/path`.
///
/// `path` is relative to `root` (an absolute path must lie inside it). Paths in
/// the report are relative to `root`. Idempotent: a second run with the same
/// results changes nothing, and a file whose values already match is not
/// written (its mtime and inode stay). In [`UpdateMode::DryRun`] nothing is
/// written at all.
///
/// Nothing is written unless every candidate file could be read. In
/// [`UpdateMode::Write`] each write is atomic (a reader sees the old or the new
/// file); in either write mode, if one write fails, other changed files may
/// already hold their new content, and the error names the first failed file
/// (by path).
pub fn apply_results(
    root: &Path,
    path: &Path,
    results: &PolicyResults,
    mode: UpdateMode,
) -> Result<UpdateReport, UpdateError> {
    update_tree(root, path, results, mode, true)
}

/// What [`apply_results`] in `intended` mode would do, without writing a
/// changed file: the same files are skipped (in place: files with other hard
/// links), and an atomic run's stale temporary files are swept. Hand the
/// report to [`write_report`] to write it without reading the tree again.
pub fn preview_results(
    root: &Path,
    path: &Path,
    results: &PolicyResults,
    intended: UpdateMode,
) -> Result<UpdateReport, UpdateError> {
    update_tree(root, path, results, intended, false)
}

fn update_tree(
    root: &Path,
    path: &Path,
    results: &PolicyResults,
    mode: UpdateMode,
    write: bool,
) -> Result<UpdateReport, UpdateError> {
    let (root, target) = walk::resolve(root, path)?;
    let mut report = UpdateReport::default();
    let processed = walk_and_process(&root, &target, results, mode, &mut report.skipped)?;
    let mut writes = Vec::new();
    for (candidate, outcome) in processed {
        match outcome {
            FileOutcome::Unmarked => {}
            FileOutcome::Skipped(reason) => report.skipped.push(SkippedFile {
                file: candidate.relative.clone(),
                line: None,
                reason,
            }),
            FileOutcome::Rewritten { original, rewrite } => {
                log_ignored(&candidate.relative, &rewrite);
                report
                    .policies_named
                    .extend(rewrite.policies_named.iter().cloned());
                report.skipped.extend(
                    rewrite
                        .ignored
                        .iter()
                        .filter(|ignored| ignored.reason == scan::IgnoredReason::NoDigest)
                        .map(|ignored| SkippedFile {
                            file: candidate.relative.clone(),
                            line: Some(ignored.line),
                            reason: SkipReason::NoDigest,
                        }),
                );
                let Some(updated) = rewrite.content else {
                    continue;
                };
                report
                    .changes
                    .extend(rewrite.changes.into_iter().map(|c| Change {
                        file: candidate.relative.clone(),
                        line: c.line,
                        setter: c.setter,
                        old: c.old,
                        new: c.new,
                        object: c.object,
                    }));
                writes.push(candidate.real);
                report.files.push(FileUpdate {
                    file: candidate.relative.clone(),
                    original,
                    updated,
                });
            }
        }
    }
    report
        .skipped
        .sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    // Callers report the skipped files (the CLI in its summary, the engine in its log).
    for skipped in &report.skipped {
        tracing::debug!(%skipped, "skipped");
    }
    if write {
        write_files(&writes, &report.files, mode)?;
    }
    Ok(report)
}

/// Writes what a dry run of [`apply_results`] over `root` reported, in `mode`,
/// without reading and parsing the tree again: the write run of the same
/// results over the same tree would write exactly these files.
///
/// The tree must not have changed since the dry run (the engine's own working
/// copy, which nothing else touches); the report's paths are relative to the
/// canonical root, and symlinks were resolved by the dry run.
pub fn write_report(
    root: &Path,
    report: &UpdateReport,
    mode: UpdateMode,
) -> Result<(), UpdateError> {
    let (root, _) = walk::resolve(root, Path::new("."))?;
    let reals: Vec<PathBuf> = report.files.iter().map(|f| root.join(&f.file)).collect();
    write_files(&reals, &report.files, mode)
}

fn write_files(
    reals: &[PathBuf],
    files: &[FileUpdate],
    mode: UpdateMode,
) -> Result<(), UpdateError> {
    match mode {
        UpdateMode::Write => write_staged(reals, files),
        UpdateMode::WriteInPlace => write_all(reals, files, write::overwrite_in_place),
        UpdateMode::DryRun => Ok(()),
    }
}

/// Replaces every changed file atomically and durably, in the steps of
/// [`write`]'s module docs: stage all, one flush per file system, rename all,
/// flush again. Staging and renaming run a directory (or part of a large
/// one) at a time on several threads.
fn write_staged(reals: &[PathBuf], files: &[FileUpdate]) -> Result<(), UpdateError> {
    let write_error = |index: usize, source| UpdateError::Write {
        path: files[index].file.clone(),
        source,
    };
    // Files are staged a directory at a time: creating a file locks its
    // directory, and writers that shared one would wait for each other.
    let groups = by_directory((0..reals.len()).collect(), |&index| {
        reals[index].parent().unwrap_or(Path::new("")).to_path_buf()
    });
    let mut staged: Vec<(usize, io::Result<write::Staged>)> =
        crate::parallel::run_indexed(groups.len(), WRITERS, |group| {
            groups[group]
                .iter()
                .map(|&index| {
                    let staged = write::stage(&reals[index], files[index].updated.as_bytes());
                    (index, staged)
                })
                .collect::<Vec<_>>()
        })
        .into_iter()
        .flatten()
        .collect();
    staged.sort_by_key(|(index, _)| *index);
    let mut ready = Vec::with_capacity(staged.len());
    let mut first_error = None;
    for (index, result) in staged {
        match result {
            Ok(staged) => ready.push((index, staged)),
            Err(source) => {
                first_error.get_or_insert_with(|| write_error(index, source));
            }
        }
    }
    let flushed = match first_error {
        Some(error) => Err(error),
        None => write::flush_file_systems(ready.iter().map(|(_, staged)| staged.content()))
            .map_err(|source| write_error(ready.first().map_or(0, |(index, _)| *index), source)),
    };
    if let Err(error) = flushed {
        ready.into_iter().for_each(|(_, staged)| staged.discard());
        return Err(error);
    }
    // The renames, a directory at a time on several threads: replacing a file
    // frees the old one, which can wait for the device (ext4 without a journal
    // discards the freed blocks there and then on `discard` mounts), and
    // several waits overlap. After the first failure no other file is
    // replaced; the temporary files left are removed.
    let groups = by_directory(ready, |(_, staged)| staged.directory().1.to_path_buf());
    // The last flush covers each group's directory (once per file system on Linux).
    let directories: Vec<(u64, PathBuf)> = groups
        .iter()
        .filter_map(|group| group.first())
        .map(|(_, staged)| {
            let (device, directory) = staged.directory();
            (device, directory.to_path_buf())
        })
        .collect();
    let groups: Vec<Mutex<Vec<(usize, write::Staged)>>> =
        groups.into_iter().map(Mutex::new).collect();
    let failed = std::sync::atomic::AtomicBool::new(false);
    let errors = crate::parallel::run_indexed(groups.len(), WRITERS, |group| {
        let group = groups[group]
            .lock()
            .map(|mut group| std::mem::take(&mut *group))
            .unwrap_or_default();
        let mut first = None;
        for (index, staged) in group {
            if failed.load(std::sync::atomic::Ordering::Relaxed) {
                staged.discard();
            } else if let Err(source) = staged.commit() {
                failed.store(true, std::sync::atomic::Ordering::Relaxed);
                first.get_or_insert((index, source));
            }
        }
        first
    });
    if let Some((index, source)) = errors.into_iter().flatten().min_by_key(|(index, _)| *index) {
        return Err(write_error(index, source));
    }
    write::flush_file_systems(directories.iter().map(|(d, p)| (*d, p.as_path())))
        .map_err(|source| write_error(0, source))
}

/// `items` grouped by `directory(item)`, each group and the groups in the
/// order of `items`, a directory's items split into groups of at most
/// [`DIRECTORY_GROUP`] (so a flat tree still spreads over the writers).
fn by_directory<T>(items: Vec<T>, directory: impl Fn(&T) -> PathBuf) -> Vec<Vec<T>> {
    let mut positions: std::collections::HashMap<PathBuf, usize> = std::collections::HashMap::new();
    let mut groups: Vec<Vec<T>> = Vec::new();
    for item in items {
        let directory = directory(&item);
        let position = positions
            .get(&directory)
            .copied()
            .filter(|&position| groups[position].len() < DIRECTORY_GROUP)
            .unwrap_or_else(|| {
                groups.push(Vec::new());
                positions.insert(directory, groups.len() - 1);
                groups.len() - 1
            });
        groups[position].push(item);
    }
    groups
}

/// Writes every changed file with `write`, several at a time; the error
/// names the first file (in order) that failed.
fn write_all(
    reals: &[PathBuf],
    files: &[FileUpdate],
    write: fn(&Path, &[u8]) -> io::Result<()>,
) -> Result<(), UpdateError> {
    let results = crate::parallel::run_indexed(reals.len(), WRITERS, |index| {
        write(&reals[index], files[index].updated.as_bytes())
    });
    match results
        .into_iter()
        .enumerate()
        .find_map(|(index, result)| result.err().map(|e| (index, e)))
    {
        Some((index, source)) => Err(UpdateError::Write {
            path: files[index].file.clone(),
            source,
        }),
        None => Ok(()),
    }
}

/// What reading one candidate file gave.
enum FileOutcome {
    /// No `"$imagepolicy"` token: not parsed.
    Unmarked,
    /// Has the token but cannot be updated.
    Skipped(SkipReason),
    /// Parsed; `rewrite.content` is `Some` when a value changed.
    Rewritten { original: String, rewrite: Rewrite },
}

/// Walks the tree and, at the same time, reads, screens and rewrites every
/// candidate on worker threads. Outcomes come back sorted by path; the first
/// read error (by path) fails the whole run.
fn walk_and_process(
    root: &Path,
    target: &Path,
    results: &PolicyResults,
    mode: UpdateMode,
    skipped: &mut Vec<SkippedFile>,
) -> Result<Vec<(walk::Candidate, FileOutcome)>, UpdateError> {
    let refuse_hard_links = mode == UpdateMode::WriteInPlace;
    let workers = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, 8);
    // Candidates travel in batches: one channel operation per batch, not per file.
    const BATCH: usize = 64;
    let (sender, receiver) = mpsc::sync_channel::<Vec<walk::Candidate>>(256);
    let receiver = Mutex::new(receiver);
    let work = || {
        let mut done = Vec::new();
        // One read buffer per worker: no allocation and no size lookup per file.
        let mut buffer = Vec::with_capacity(64 * 1024);
        loop {
            let next = match receiver.lock() {
                Ok(receiver) => receiver.recv(),
                Err(_) => return done, // another worker panicked; the scope re-raises it
            };
            let Ok(batch) = next else {
                return done;
            };
            for candidate in batch {
                let outcome = process_file(&candidate, results, refuse_hard_links, &mut buffer);
                // Most files have no marker: nothing is kept of them, so their
                // memory serves the next file instead of piling up.
                if !matches!(outcome, Ok(FileOutcome::Unmarked)) {
                    done.push((candidate, outcome));
                }
            }
        }
    };
    let (walked, mut processed) = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers).map(|_| scope.spawn(work)).collect();
        let mut batch = Vec::with_capacity(BATCH);
        // Workers only stop once the sender is dropped, so sending cannot fail.
        let sweep = mode == UpdateMode::Write;
        let walked = walk::walk(root, target, sweep, skipped, &mut |candidate| {
            batch.push(candidate);
            if batch.len() == BATCH {
                let _ = sender.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)));
            }
        });
        let _ = sender.send(batch);
        drop(sender);
        let processed: Vec<_> = handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect();
        (walked, processed)
    });
    walked?;
    processed.sort_unstable_by(|a, b| a.0.relative.as_os_str().cmp(b.0.relative.as_os_str()));
    processed
        .into_iter()
        .map(|(candidate, outcome)| outcome.map(|outcome| (candidate, outcome)))
        .collect()
}

fn process_file(
    candidate: &walk::Candidate,
    results: &PolicyResults,
    refuse_hard_links: bool,
    buffer: &mut Vec<u8>,
) -> Result<FileOutcome, UpdateError> {
    let read_error = |source| UpdateError::Read {
        path: candidate.relative.clone(),
        source,
    };
    let mut file = std::fs::File::open(&candidate.real).map_err(read_error)?;
    let metadata = file.metadata().map_err(read_error)?;
    if metadata.len() > MAX_MARKED_FILE_BYTES {
        let marked = contains_marker(&mut file, buffer).map_err(read_error)?;
        return Ok(if marked {
            FileOutcome::Skipped(SkipReason::TooLarge {
                bytes: metadata.len(),
            })
        } else {
            FileOutcome::Unmarked
        });
    }
    buffer.clear();
    buffer.reserve(
        usize::try_from(metadata.len())
            .unwrap_or(0)
            .saturating_add(1),
    );
    (&mut file)
        .take(MAX_MARKED_FILE_BYTES + 1)
        .read_to_end(buffer)
        .map_err(read_error)?;
    if memchr::memmem::find(buffer, MARKER_TOKEN.as_bytes()).is_none() {
        return Ok(FileOutcome::Unmarked);
    }
    if buffer.len() as u64 > MAX_MARKED_FILE_BYTES {
        // It grew while being read.
        return Ok(FileOutcome::Skipped(SkipReason::TooLarge {
            bytes: buffer.len() as u64,
        }));
    }
    if refuse_hard_links && let Some(links) = other_links(&metadata) {
        return Ok(FileOutcome::Skipped(SkipReason::HardLinked { links }));
    }
    // The worker's buffer becomes the text (no copy); the next file regrows it.
    let original = match String::from_utf8(std::mem::take(buffer)) {
        Ok(original) => original,
        Err(error) => {
            *buffer = error.into_bytes();
            return Ok(FileOutcome::Skipped(SkipReason::NotUtf8));
        }
    };
    match rewrite(&original, results) {
        Ok(rewrite) => Ok(FileOutcome::Rewritten { original, rewrite }),
        Err(error) => Ok(FileOutcome::Skipped(SkipReason::InvalidYaml(error))),
    }
}

/// The number of links of a file that has more than one.
#[cfg(unix)]
fn other_links(metadata: &std::fs::Metadata) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    (metadata.nlink() > 1).then(|| metadata.nlink())
}

#[cfg(not(unix))]
fn other_links(_metadata: &std::fs::Metadata) -> Option<u64> {
    None
}

/// Whether the rest of `file` holds the marker token, reading 64 KiB at a time.
fn contains_marker(file: &mut std::fs::File, buffer: &mut Vec<u8>) -> io::Result<bool> {
    const CHUNK: usize = 64 * 1024;
    let token = MARKER_TOKEN.as_bytes();
    let keep = token.len() - 1;
    buffer.clear();
    buffer.resize(CHUNK + keep, 0);
    let mut carried = 0;
    loop {
        let read = match file.read(&mut buffer[carried..]) {
            Ok(0) => return Ok(false),
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        let filled = carried + read;
        if memchr::memmem::find(&buffer[..filled], token).is_some() {
            return Ok(true);
        }
        carried = keep.min(filled);
        buffer.copy_within(filled - carried..filled, 0);
    }
}

fn log_ignored(file: &Path, rewrite: &Rewrite) {
    for ignored in &rewrite.ignored {
        // `NoDigest` markers are reported as skipped.
        if ignored.reason != scan::IgnoredReason::NoDigest {
            tracing::debug!(
                file = %file.display(), line = ignored.line, reason = %ignored.reason, "marker left alone"
            );
        }
    }
}

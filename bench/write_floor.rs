//! Benchmark: the file system's part of `tagpilot update`'s default write, alone
//! (`bench/update.sh` runs it next to `grep` and `tagpilot update`).
//!
//! Reads the listed files, then replaces each with its own bytes the way the
//! default write replaces a changed file (`src/update/write.rs`): a temporary
//! file beside it, one `syncfs`, a rename over the original, one `syncfs`;
//! creating and renaming run a directory at a time on 16 threads, as there. No
//! walk, no parse, no rewrite: what is left is what the kernel and the device
//! take to replace those files atomically and durably, the least any program
//! doing that job pays. It prints the time of each step on stderr.
//!
//! Environment: `TAGPILOT_BENCH_TREE=DIR` and `TAGPILOT_BENCH_FILES=LIST` (a
//! file of paths relative to DIR, one per line), both required; without them
//! the binary only says so, which is what `cargo test --all-targets` sees.
//! `TAGPILOT_BENCH_WRITERS` sets the threads (default 16).

#![allow(missing_docs)]

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

type Group = Vec<(PathBuf, PathBuf, Vec<u8>)>;

/// Runs `task` on every group, `writers` threads taking the next group each.
fn on_threads(groups: &[Mutex<Group>], writers: usize, task: impl Fn(&mut Group) + Sync) {
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..writers.min(groups.len()) {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(group) = groups.get(index) else {
                        return;
                    };
                    task(&mut group.lock().unwrap_or_else(PoisonError::into_inner));
                }
            });
        }
    });
}

fn syncfs(path: &Path) -> std::io::Result<()> {
    rustix::fs::syncfs(fs::File::open(path)?).map_err(std::io::Error::from)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (Ok(tree), Ok(list)) = (
        std::env::var("TAGPILOT_BENCH_TREE"),
        std::env::var("TAGPILOT_BENCH_FILES"),
    ) else {
        println!(
            "write_floor: skipped (set TAGPILOT_BENCH_TREE=DIR and TAGPILOT_BENCH_FILES=LIST; bench/update.sh does)"
        );
        return Ok(());
    };
    let writers = std::env::var("TAGPILOT_BENCH_WRITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16usize)
        .max(1);
    let tree = PathBuf::from(tree);
    let started = Instant::now();
    // A directory's files in groups of at most 32, as the update's writers take them.
    let mut directories: BTreeMap<PathBuf, Vec<Group>> = BTreeMap::new();
    let mut count = 0;
    for relative in fs::read_to_string(&list)?.lines().filter(|l| !l.is_empty()) {
        let target = tree.join(relative);
        let name = target.file_name().ok_or("a listed path has no file name")?;
        let temporary = target.with_file_name(format!(".{}.floor.tmp", name.to_string_lossy()));
        let content = fs::read(&target)?;
        let parent = target.parent().unwrap_or(Path::new(".")).to_path_buf();
        let groups = directories.entry(parent).or_default();
        match groups.last_mut() {
            Some(group) if group.len() < 32 => group.push((temporary, target, content)),
            _ => groups.push(vec![(temporary, target, content)]),
        }
        count += 1;
    }
    let groups: Vec<Mutex<Group>> = directories
        .into_values()
        .flatten()
        .map(Mutex::new)
        .collect();
    let read = started.elapsed();

    let failed = Mutex::new(None);
    let fail = |error: std::io::Error, path: &Path| {
        failed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert(format!("{}: {error}", path.display()));
    };
    let step = Instant::now();
    on_threads(&groups, writers, |group| {
        for (temporary, _, content) in group.iter() {
            let written = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(temporary)
                .and_then(|mut file| file.write_all(content));
            if let Err(error) = written {
                fail(error, temporary);
            }
        }
    });
    let staged = step.elapsed();
    let step = Instant::now();
    syncfs(&tree)?;
    let flushed = step.elapsed();
    let step = Instant::now();
    on_threads(&groups, writers, |group| {
        for (temporary, target, _) in group.iter() {
            if let Err(error) = fs::rename(temporary, target) {
                fail(error, target);
            }
        }
    });
    let renamed = step.elapsed();
    let step = Instant::now();
    syncfs(&tree)?;
    let flushed_again = step.elapsed();
    if let Some(error) = failed.into_inner().unwrap_or_else(PoisonError::into_inner) {
        return Err(error.into());
    }
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    eprintln!(
        "write_floor: {count} files: read {:.1} ms, temporary files {:.1} ms, syncfs {:.1} ms, renames {:.1} ms, syncfs {:.1} ms; total {:.1} ms",
        ms(read),
        ms(staged),
        ms(flushed),
        ms(renamed),
        ms(flushed_again),
        ms(started.elapsed())
    );
    Ok(())
}

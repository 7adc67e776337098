//! Blocking work on a few threads at once: the update engine's file writes and
//! the tag store's list writes use it so their fsyncs reach the journal
//! together instead of one after another. No dependencies; no I/O of its own.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs `task` for every index below `count` on up to `workers` threads and
/// returns the results in index order. A panic in a task is resumed here.
pub(crate) fn run_indexed<T: Send>(
    count: usize,
    workers: usize,
    task: impl Fn(usize) -> T + Sync,
) -> Vec<T> {
    if count <= 1 || workers <= 1 {
        return (0..count).map(task).collect();
    }
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            if index >= count {
                return done;
            }
            done.push((index, task(index)));
        }
    };
    let mut results: Vec<(usize, T)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers.min(count)).map(|_| scope.spawn(work)).collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    results.sort_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, result)| result).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn results_come_back_in_index_order() {
        for workers in [1, 3, 16] {
            let squares = super::run_indexed(50, workers, |i| i * i);
            assert_eq!(squares, (0..50).map(|i| i * i).collect::<Vec<_>>());
        }
        assert!(super::run_indexed(0, 4, |i| i).is_empty());
    }
}

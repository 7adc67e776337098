//! When an object runs again after a run: at its interval after a success;
//! after failures in a row, sooner, doubling from 2 s up to the interval (and
//! at most 5 minutes). One [`Backoff`] per kind of run (scans, automations,
//! Syncs) counts the failures in a row of each object.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::meta::ObjectKey;

/// The shortest wait after a failure.
const FIRST_BACKOFF: Duration = Duration::from_secs(2);
/// The longest wait after repeated failures.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Failures in a row, per object.
#[derive(Debug, Default)]
pub struct Backoff {
    failures: BTreeMap<ObjectKey, u32>,
}

impl Backoff {
    /// Records the outcome of a run of `key` and returns the wait before the
    /// next one: `interval` after a success, the backoff after a failure.
    pub fn after_run(&mut self, key: &ObjectKey, failed: bool, interval: Duration) -> Duration {
        if failed {
            let failures = self.failures.entry(key.clone()).or_insert(0);
            *failures += 1;
            wait_after(*failures, interval)
        } else {
            self.failures.remove(key);
            interval
        }
    }

    /// Forgets the failures of `key` (it changed, or was asked to run now).
    pub fn forget(&mut self, key: &ObjectKey) {
        self.failures.remove(key);
    }

    /// Keeps only the objects for which `keep` holds.
    pub fn retain(&mut self, mut keep: impl FnMut(&ObjectKey) -> bool) {
        self.failures.retain(|key, _| keep(key));
    }
}

/// The wait after `failures` failures in a row.
fn wait_after(failures: u32, interval: Duration) -> Duration {
    let doubled = FIRST_BACKOFF.saturating_mul(1 << failures.saturating_sub(1).min(10));
    doubled.min(interval.max(FIRST_BACKOFF)).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped_by_the_interval() {
        let hour = Duration::from_secs(3600);
        assert_eq!(wait_after(1, hour), Duration::from_secs(2));
        assert_eq!(wait_after(2, hour), Duration::from_secs(4));
        assert_eq!(wait_after(30, hour), MAX_BACKOFF);
        assert_eq!(
            wait_after(5, Duration::from_secs(10)),
            Duration::from_secs(10)
        );
    }

    #[test]
    fn a_success_resets_the_count() {
        let mut backoff = Backoff::default();
        let key = ObjectKey::new("shop", "api");
        let hour = Duration::from_secs(3600);
        assert_eq!(backoff.after_run(&key, true, hour), Duration::from_secs(2));
        assert_eq!(backoff.after_run(&key, true, hour), Duration::from_secs(4));
        assert_eq!(backoff.after_run(&key, false, hour), hour);
        assert_eq!(backoff.after_run(&key, true, hour), Duration::from_secs(2));
        backoff.after_run(&key, true, hour);
        backoff.forget(&key);
        assert_eq!(backoff.after_run(&key, true, hour), Duration::from_secs(2));
    }
}

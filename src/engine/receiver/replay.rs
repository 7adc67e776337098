//! Replays: a verified delivery seen again is answered but not acted on.
//!
//! A delivery is known by its body's sha256 (for the signed types the body is
//! what the signature covers, so a replay cannot alter it) and, when the
//! sender numbers its deliveries (`X-GitHub-Delivery`, `X-Gitlab-Event-UUID`,
//! `X-Nexus-Webhook-Delivery`, CloudEvents' `id`, Pub/Sub's `messageId`), by
//! that id, per Receiver, for [`REPLAY_WINDOW`]. A delivery whose own time
//! (Pub/Sub's `publishTime`, CloudEvents' `time`, Docker Hub's `pushed_at`,
//! Harbor's `occur_at`, ACR's and Nexus' `timestamp`) is older than the window
//! is a replay too: it can no longer be recognised by its hash. At most
//! [`MAX_REMEMBERED`] deliveries are remembered (the oldest are forgotten first).
//!
//! Consequence: the same body sent twice within the window is acted on once.
//! A Quay payload names only the repository and tags, so pushing the same tag
//! again within an hour is not announced twice (the scan at the interval still
//! sees it).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use sha2::{Digest as _, Sha256};

use crate::config::meta::ObjectKey;

/// How long a delivery is remembered, and the oldest a delivery's own time may be.
pub const REPLAY_WINDOW: Duration = Duration::from_secs(3600);
/// The most deliveries remembered.
pub const MAX_REMEMBERED: usize = 10_000;

/// What the guard says about a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not seen before: act on it.
    New,
    /// Seen within the window.
    Replayed,
    /// Its own time is older than the window.
    Stale,
}

/// The deliveries seen in the last window.
#[derive(Debug, Default)]
pub struct ReplayGuard {
    seen: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    by_key: BTreeMap<String, Instant>,
    order: VecDeque<(Instant, String)>,
}

impl ReplayGuard {
    /// Records a delivery to `receiver` of `body` (with the sender's `id` and
    /// `sent_at`), at `now`; whether it is new.
    pub fn check(
        &self,
        receiver: &ObjectKey,
        body: &[u8],
        id: Option<&str>,
        sent_at: Option<Timestamp>,
        now: Instant,
    ) -> Verdict {
        if let Some(sent) = sent_at {
            let age = Timestamp::now().duration_since(sent);
            if age.as_secs() > i64::try_from(REPLAY_WINDOW.as_secs()).unwrap_or(i64::MAX) {
                return Verdict::Stale;
            }
        }
        let prefix = format!("{}/{}", receiver.namespace, receiver.name);
        let mut keys = vec![format!(
            "{prefix}|body|{}",
            hex::encode(Sha256::digest(body))
        )];
        if let Some(id) = id {
            keys.push(format!("{prefix}|id|{id}"));
        }
        let Ok(mut seen) = self.seen.lock() else {
            return Verdict::New;
        };
        while let Some((at, key)) = seen.order.front().cloned() {
            if now.duration_since(at) < REPLAY_WINDOW && seen.order.len() + 2 <= MAX_REMEMBERED {
                break;
            }
            seen.order.pop_front();
            if seen.by_key.get(&key) == Some(&at) {
                seen.by_key.remove(&key);
            }
        }
        if keys.iter().any(|key| seen.by_key.contains_key(key)) {
            return Verdict::Replayed;
        }
        for key in keys {
            seen.by_key.insert(key.clone(), now);
            seen.order.push_back((now, key));
        }
        Verdict::New
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_is_new_once_per_window_by_body_or_id_and_old_ones_are_stale() {
        let guard = ReplayGuard::default();
        let receiver = ObjectKey::new("flux-system", "hub");
        let other = ObjectKey::new("flux-system", "other");
        let start = Instant::now();
        assert_eq!(
            guard.check(&receiver, b"a", Some("1"), None, start),
            Verdict::New
        );
        assert_eq!(
            guard.check(&receiver, b"a", None, None, start),
            Verdict::Replayed
        );
        // Same id, another body (a header-only change): a replay.
        assert_eq!(
            guard.check(&receiver, b"b", Some("1"), None, start),
            Verdict::Replayed
        );
        assert_eq!(
            guard.check(&other, b"a", Some("1"), None, start),
            Verdict::New
        );
        assert_eq!(
            guard.check(&receiver, b"c", Some("2"), None, start),
            Verdict::New
        );
        // After the window it is forgotten.
        let later = start + REPLAY_WINDOW + Duration::from_secs(1);
        assert_eq!(
            guard.check(&receiver, b"a", Some("1"), None, later),
            Verdict::New
        );
        let old = Timestamp::now() - jiff::SignedDuration::from_hours(2);
        assert_eq!(
            guard.check(&receiver, b"d", None, Some(old), later),
            Verdict::Stale
        );
        let recent = Timestamp::now() - jiff::SignedDuration::from_mins(5);
        assert_eq!(
            guard.check(&receiver, b"e", None, Some(recent), later),
            Verdict::New
        );
    }

    #[test]
    fn memory_is_bounded() {
        let guard = ReplayGuard::default();
        let receiver = ObjectKey::new("a", "b");
        let now = Instant::now();
        for index in 0..(MAX_REMEMBERED + 10) {
            guard.check(&receiver, index.to_string().as_bytes(), None, None, now);
        }
        let seen = guard.seen.lock().unwrap();
        assert!(seen.order.len() <= MAX_REMEMBERED, "{}", seen.order.len());
        assert!(seen.by_key.len() <= MAX_REMEMBERED);
    }
}

//! Tests of the tag store.

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

/// Regression (issue 19): every scan rewrote and fsynced its whole list, twice
/// per repository and cycle, even when the tags were the same: 25 s of a
/// 30 s no-change cycle at 2,000 repositories.
#[test]
fn an_unchanged_scan_rewrites_no_list_but_its_time_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let key = ObjectKey::new("apps", "web");
    let path = dir.path().join("tags/apps/web.json");
    let first = UNIX_EPOCH + Duration::from_secs(1_000_000);
    let later = first + Duration::from_secs(600);
    {
        let store = TagStore::open(dir.path()).unwrap();
        store
            .record(&key, "reg/web", &list(&["v1", "v2"], true), first)
            .unwrap();
        let written = std::fs::read(&path).unwrap();
        assert_eq!(
            store
                .record(&key, "reg/web", &list(&["v2", "v1"], true), later)
                .unwrap(),
            RecordOutcome::Unchanged
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            written,
            "the list file is untouched"
        );
        assert_eq!(store.get(&key).unwrap().scan_time(), later);
    }
    // Dropped: the index holds the later time, and a restart reads it.
    let reopened = TagStore::open(dir.path()).unwrap();
    assert_eq!(reopened.get(&key).unwrap().scan_time(), later);
    assert_eq!(reopened.get(&key).unwrap().tags, ["v1", "v2"]);
    // A damaged index is ignored: the list's own time is used.
    drop(reopened);
    std::fs::write(dir.path().join("tags").join(SCAN_TIMES_FILE), "{not json").unwrap();
    let reopened = TagStore::open(dir.path()).unwrap();
    assert_eq!(reopened.get(&key).unwrap().scan_time(), first);
}

#[test]
fn a_batch_records_each_scan_as_record_would() {
    let dir = tempfile::tempdir().unwrap();
    let store = TagStore::open(dir.path()).unwrap();
    let now = SystemTime::now();
    let key = |i: usize| ObjectKey::new(format!("team-{}", i % 3), format!("app-{i}"));
    store
        .record(&key(0), "reg/app-0", &list(&["a"], true), now)
        .unwrap();
    store
        .record(&key(1), "reg/app-1", &list(&["a"], true), now)
        .unwrap();
    let recordings = (0..40)
        .map(|i| Recording {
            key: key(i),
            image: format!("reg/app-{i}"),
            list: match i {
                0 => list(&["a"], true),      // unchanged
                1 => list(&["a", "b"], true), // changed
                2 => list(&["x"], false),     // partial
                _ => list(&["1", "2"], true), // new
            },
        })
        .collect();
    let recorded = store.record_batch(recordings, now);
    assert_eq!(recorded.len(), 40);
    let outcomes: Vec<RecordOutcome> = recorded.into_iter().map(|r| r.unwrap().outcome).collect();
    assert_eq!(outcomes[0], RecordOutcome::Unchanged);
    assert!(matches!(outcomes[1], RecordOutcome::Updated { .. }));
    assert_eq!(outcomes[2], RecordOutcome::KeptPrevious);
    assert!(
        outcomes[3..]
            .iter()
            .all(|o| matches!(o, RecordOutcome::Updated { .. }))
    );
    assert!(store.get(&key(2)).is_none());
    let reopened = TagStore::open(dir.path()).unwrap();
    assert_eq!(reopened.keys().len(), 39);
    assert_eq!(reopened.get(&key(1)).unwrap().tags, ["a", "b"]);
    assert_eq!(reopened.get(&key(39)).unwrap().tags, ["1", "2"]);
    let leftovers: Vec<_> = walk_files(dir.path())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.file_type().unwrap().is_dir() {
            files.extend(walk_files(&entry.path()));
        } else {
            files.push(entry.path());
        }
    }
    files
}

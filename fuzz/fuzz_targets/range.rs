//! Fuzzes the semver range parser and the semver policy on arbitrary text.
//!
//! Input: the first line is a range, the other lines are tags. Properties:
//! parsing never panics; a parsed range accepted by `Policy::new`, printed and
//! parsed again, selects the same tag; the selection never depends on the order
//! of the tags (invariant 9).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tagpilot_fuzz::policy::{ExclusionList, OrderingSpec, Policy, Range};

const TAGS: &[&str] = &[
    "1.0.0", "v1.2.3", "1.2.3-rc.1", "1.2", "2", "0.0.1-alpha+build", "1.10.0", "3.0.0-0",
    "v2.0.0-beta.2", "latest", "1.2.3+meta", "10.20.30",
];

fn pick(range: &str, tags: &[&str]) -> Option<String> {
    let policy = Policy::new("fuzz/range", None, None, OrderingSpec::Semver { range }).ok()?;
    let exclusions = ExclusionList::default();
    policy
        .select(tags, &exclusions)
        .ok()
        .map(|selection| selection.tag)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.lines();
    let range_text = lines.next().unwrap_or_default();
    let Ok(range) = Range::parse(range_text) else {
        return;
    };
    let mut tags: Vec<&str> = TAGS.to_vec();
    tags.extend(lines.take(64));
    let first = pick(range_text, &tags);
    let printed = range.to_string();
    assert!(
        Range::parse(&printed).is_ok(),
        "the printed range {printed:?} of {range_text:?} does not parse"
    );
    let mut reversed = tags.clone();
    reversed.reverse();
    assert_eq!(first, pick(range_text, &reversed), "order changed the result");
});

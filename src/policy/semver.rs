//! The semver ordering: values that are versions (as Flux's
//! `version.ParseVersion` reads them, see [`super::version`]) inside the range;
//! the highest precedence wins.

use std::cmp::Ordering;

use super::range::Range;
use super::select::{Ranker, Verdict};
use super::version::{VersionRef, compare_prerelease};

/// Ranks by SemVer precedence within a range.
pub(crate) struct SemverRanker<'a> {
    pub(crate) range: &'a Range,
}

/// A version's numbers; the pre-release is re-read from the value text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SemverKey {
    numbers: (u64, u64, u64),
    has_prerelease: bool,
}

impl Ranker for SemverRanker<'_> {
    type Key = SemverKey;

    fn classify(&self, value: &str) -> Verdict<SemverKey> {
        let Some(version) = VersionRef::parse_tag(value) else {
            return Verdict::NotAValue;
        };
        if !self.range.matches(&version) {
            return Verdict::OutOfRange;
        }
        Verdict::Candidate(SemverKey {
            numbers: (version.major, version.minor, version.patch),
            has_prerelease: version.is_prerelease(),
        })
    }

    fn compare(&self, a: (&SemverKey, &str), b: (&SemverKey, &str)) -> Ordering {
        a.0.numbers
            .cmp(&b.0.numbers)
            .then_with(|| compare_prerelease(prerelease(a), prerelease(b)))
    }
}

/// The pre-release text of a value known to be a version.
fn prerelease<'v>((key, value): (&SemverKey, &'v str)) -> &'v str {
    if !key.has_prerelease {
        return "";
    }
    // Before the pre-release there are only digits, dots and a `v`, so the
    // first `-` starts it (a `+` before any `-` would mean no pre-release,
    // which `has_prerelease` ruled out).
    let start = value.find('-').map_or(value.len(), |i| i + 1);
    let end = value[start..].find('+').map_or(value.len(), |i| start + i);
    &value[start..end]
}

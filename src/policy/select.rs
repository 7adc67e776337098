//! The one pass every ordering shares: exclusion, then `filterTags`, then the
//! ordering's classification, keeping only the best few candidates.
//!
//! Nothing is allocated per tag in the common cases: the value is a slice of
//! the tag (no extract, or an extract that is one group); only a composite
//! extract template is expanded into a reused buffer, and copied only when it
//! enters the best few. Candidates are ordered by the ordering's key, then by
//! the original tag byte-wise, so ties resolve the same for any input order.

use std::borrow::Cow;
use std::cmp::Ordering;

use super::exclusion::ExclusionList;
use super::explanation::StepCounts;
use super::filter::{Extracted, TagFilter};

/// What an ordering makes of one value.
pub(crate) enum Verdict<K> {
    /// Not a version / not a number.
    NotAValue,
    /// A version outside the range.
    OutOfRange,
    /// Takes part in the ordering.
    Candidate(K),
}

/// One ordering (semver, numerical, alphabetical).
pub(crate) trait Ranker {
    /// What the ordering needs besides the value text; cheap to copy.
    type Key: Copy;
    /// Classifies one value.
    fn classify(&self, value: &str) -> Verdict<Self::Key>;
    /// Compares two candidates; `Greater` is the better one.
    fn compare(&self, a: (&Self::Key, &str), b: (&Self::Key, &str)) -> Ordering;
}

/// A candidate kept among the best.
pub(crate) struct Entry<'t, K> {
    pub(crate) key: K,
    pub(crate) value: Cow<'t, str>,
    pub(crate) tag: &'t str,
}

/// Runs the steps over `tags`; returns the counts and the best `keep`
/// candidates, best first.
pub(crate) fn select<'t, R: Ranker, T: AsRef<str>>(
    ranker: &R,
    tags: &'t [T],
    filter: Option<&TagFilter>,
    exclusions: &ExclusionList,
    keep: usize,
) -> (StepCounts, Vec<Entry<'t, R::Key>>) {
    let mut counts = StepCounts {
        tags: tags.len(),
        ..StepCounts::default()
    };
    let mut best: Vec<Entry<'t, R::Key>> = Vec::with_capacity(keep + 1);
    let mut buffer = String::new();
    let mut locations = filter.map(TagFilter::capture_locations);
    for tag in tags {
        let tag = tag.as_ref();
        if exclusions.excludes(tag) {
            counts.excluded += 1;
            continue;
        }
        let extracted = match (filter, locations.as_mut()) {
            (Some(filter), Some(locations)) => match filter.apply(tag, locations, &mut buffer) {
                Some(extracted) => extracted,
                None => {
                    counts.pattern_mismatch += 1;
                    continue;
                }
            },
            _ => Extracted::Slice(tag),
        };
        let value = match extracted {
            Extracted::Slice(value) => value,
            Extracted::Buffer => buffer.as_str(),
        };
        let key = match ranker.classify(value) {
            Verdict::NotAValue => {
                counts.not_a_value += 1;
                continue;
            }
            Verdict::OutOfRange => {
                counts.out_of_range += 1;
                continue;
            }
            Verdict::Candidate(key) => key,
        };
        counts.candidates += 1;
        let order = |entry: &Entry<'t, R::Key>| {
            ranker
                .compare((&key, value), (&entry.key, &entry.value))
                .then_with(|| tag.cmp(entry.tag))
        };
        // Most candidates lose against the worst kept one: check it first.
        if best.len() == keep
            && best
                .last()
                .is_none_or(|last| order(last) != Ordering::Greater)
        {
            continue;
        }
        let mut position = best.len();
        for (index, entry) in best.iter().enumerate() {
            match order(entry) {
                Ordering::Greater => {
                    position = index;
                    break;
                }
                // The same tag twice: keep one.
                Ordering::Equal => {
                    position = usize::MAX;
                    break;
                }
                Ordering::Less => {}
            }
        }
        if position == usize::MAX {
            continue;
        }
        let value = match extracted {
            Extracted::Slice(value) => Cow::Borrowed(value),
            Extracted::Buffer => Cow::Owned(buffer.clone()),
        };
        best.insert(position, Entry { key, value, tag });
        best.truncate(keep);
    }
    (counts, best)
}

//! What a policy chose and why: counts per step and the runners-up.

use serde::Serialize;

use super::Ordering;
use super::eligibility::{Requirements, Skipped};

/// How many tags each step saw and dropped, in step order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepCounts {
    /// Tags given.
    pub tags: usize,
    /// Dropped by the exclusion list.
    pub excluded: usize,
    /// Dropped because `filterTags.pattern` did not match.
    pub pattern_mismatch: usize,
    /// Dropped because the (extracted) value is not a version (semver) or
    /// not a number, or NaN (numerical).
    pub not_a_value: usize,
    /// Dropped because the version is outside `semver.range`.
    pub out_of_range: usize,
    /// Left to be ordered.
    pub candidates: usize,
}

/// One tag that took part in the ordering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candidate {
    /// The original tag.
    pub tag: String,
    /// The value the ordering used (the extracted value, or the tag).
    pub value: String,
    /// The image's digest, when the policy's requirements needed it resolved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// Why a tag was chosen.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Explanation {
    /// The policy, as `namespace/name`.
    pub policy: String,
    /// The ordering and its parameter (range or order).
    pub ordering: Ordering,
    /// How many tags each step dropped.
    pub counts: StepCounts,
    /// What the policy requires of an image besides its tag (absent: nothing).
    #[serde(skip_serializing_if = "Requirements::is_empty")]
    pub requirements: Requirements,
    /// The winner.
    pub chosen: Candidate,
    /// Better candidates passed over because they failed a requirement, best first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
    /// When a better candidate skipped as too young becomes old enough: the
    /// result may change then without a new push.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recheck_at: Option<jiff::Timestamp>,
    /// The next best candidates, best first (at most [`RUNNERS_UP`]).
    pub runners_up: Vec<Candidate>,
}

/// How many runners-up an explanation lists.
pub const RUNNERS_UP: usize = 5;

/// The chosen tag and why.
#[derive(Debug, Clone, Serialize)]
pub struct Selection {
    /// The chosen tag (always an original tag, never an extracted value).
    pub tag: String,
    /// Counts per step and runners-up.
    pub explanation: Explanation,
}

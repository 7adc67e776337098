//! Errors of the policy engine: an invalid policy (naming the field) or no tag
//! left after the policy's steps (naming how many tags each step dropped).

use super::Ordering;
use super::eligibility::{MAX_CHECKED, Skipped};
use super::explanation::StepCounts;
use super::go_regex::RegexError;
use super::range::RangeError;

/// Why a policy cannot be built or picks no tag.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A field of the policy cannot be used; the source says why.
    #[error("invalid policy {policy}: {field}")]
    Invalid {
        /// The policy, as `namespace/name`.
        policy: String,
        /// The field, e.g. `spec.filterTags.pattern`.
        field: &'static str,
        /// What is wrong with the field's value.
        #[source]
        source: InvalidField,
    },
    /// An exclusion regex (an ImageRepository setting or `--exclude`) cannot be used.
    #[error("invalid exclusion list: exclusionList[{index}]")]
    InvalidExclusion {
        /// The position of the pattern in the list.
        index: usize,
        /// What is wrong with the pattern.
        #[source]
        source: RegexError,
    },
    /// Every tag was dropped by exclusion, the pattern or the ordering.
    #[error("no tag matches policy {policy}: {}", describe_drops(counts, ordering))]
    NoMatch {
        /// The policy, as `namespace/name`.
        policy: String,
        /// How many tags each step dropped.
        counts: StepCounts,
        /// The policy's ordering (names the range in the message).
        ordering: Box<Ordering>,
    },
    /// Candidates exist, but every one checked failed a requirement
    /// (signature, platforms, age).
    #[error("no eligible tag for policy {policy}: {}", describe_skips(skipped, *unchecked))]
    NoEligible {
        /// The policy, as `namespace/name`.
        policy: String,
        /// The candidates checked, best first, and why each was skipped.
        skipped: Vec<Skipped>,
        /// Candidates not checked (beyond the checks one evaluation makes).
        unchecked: usize,
    },
}

impl PolicyError {
    /// Whether the error is about the input (policy or exclusion list) rather
    /// than about the tags: fixing it needs a change to the object.
    pub fn is_invalid_input(&self) -> bool {
        matches!(self, Self::Invalid { .. } | Self::InvalidExclusion { .. })
    }
}

/// What is wrong with one field of a policy.
#[derive(Debug, thiserror::Error)]
pub enum InvalidField {
    /// A regular expression that Go's RE2 (and so Flux) would not run the same way.
    #[error(transparent)]
    Regex(#[from] RegexError),
    /// A semver range that is not Masterminds constraint syntax.
    #[error(transparent)]
    Range(#[from] RangeError),
    /// An order other than `asc` or `desc`.
    #[error("order {0:?} is neither \"asc\" nor \"desc\"")]
    Order(String),
    /// None, or more than one, of `semver`, `numerical` and `alphabetical`.
    #[error("give exactly one of semver, numerical or alphabetical (found {0})")]
    Choice(String),
    /// A combination of fields Flux's CRD refuses (its CEL rules).
    #[error("{0}")]
    Combination(&'static str),
}

fn describe_skips(skipped: &[Skipped], unchecked: usize) -> String {
    let mut text = skipped
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    if unchecked > 0 {
        text.push_str(&format!(
            "; {unchecked} older candidate{} not checked (an evaluation checks at most {MAX_CHECKED})",
            if unchecked == 1 { "" } else { "s" }
        ));
    }
    text
}

fn describe_drops(counts: &StepCounts, ordering: &Ordering) -> String {
    let mut parts = vec![format!("{} tags in total", counts.tags)];
    parts.push(format!(
        "{} excluded by the exclusion list",
        counts.excluded
    ));
    parts.push(format!(
        "{} not matching spec.filterTags.pattern",
        counts.pattern_mismatch
    ));
    match ordering {
        Ordering::Semver(range) => {
            parts.push(format!("{} not a version", counts.not_a_value));
            parts.push(format!(
                "{} out of spec.policy.semver.range {:?}",
                counts.out_of_range,
                range.as_str()
            ));
        }
        Ordering::Numerical(_) => {
            parts.push(format!("{} not a number", counts.not_a_value));
        }
        Ordering::Alphabetical(_) => {}
    }
    parts.join(", ")
}

//! Tag selection: which tag of an image repository is "the latest" under an
//! ImagePolicy.
//!
//! Pure: a list of tags and a validated [`Policy`] in, a [`Selection`] (the
//! chosen tag plus an [`Explanation`]) out. The steps run in this order, each
//! counted in the explanation:
//!
//! 1. the [`ExclusionList`] (default `^.*\.sig$`) drops tags;
//! 2. the [`TagFilter`] pattern (Go RE2 syntax, unanchored) keeps matching tags
//!    and its extract template turns each into the value to order;
//! 3. the [`Ordering`] classifies values (semver: a version as Flux parses it,
//!    inside the Masterminds range; numerical: a number as Go parses it, not
//!    NaN) and picks the best;
//! 4. ties (equal versions, numbers or values) go to the greatest original
//!    tag, byte-wise, so the result never depends on input order (invariant 9).
//!
//! A policy is validated once ([`Policy::new`]); evaluating it cannot fail for
//! any reason but "no tag matches".
//!
//! Rules about a tag's image rather than its name (a trusted signature, the
//! platforms of its index, a minimum age) need facts from the registry:
//! [`Policy::walk`] ranks the candidates and a [`Walk`] takes the caller's
//! verdict on each, best first, until one passes ([`eligibility`]).
//!
//! Flux v1 (fluxd) workload annotations carry their policy inline: their
//! filters are [`annotation_filter`] (`glob:`, `semver:`, and `regexp:` with
//! look-around under a backtracking budget) and their ordering by image
//! creation time is [`creation_order`].

mod alphabetical;
pub mod annotation_filter;
pub mod creation_order;
pub mod eligibility;
mod error;
mod exclusion;
mod explanation;
mod filter;
mod go_float;
mod go_regex;
mod numerical;
pub mod platform;
mod range;
mod range_syntax;
mod select;
mod semver;
mod template;
mod version;

#[cfg(test)]
mod tests;

use serde::Serialize;

pub use eligibility::{MAX_CHECKED, Requirements, SignatureCheck, SkipReason, Skipped, Walk};
pub use error::{InvalidField, PolicyError};
pub use exclusion::{DEFAULT_EXCLUSIONS, ExclusionList};
pub use explanation::{Candidate, Explanation, RUNNERS_UP, Selection, StepCounts};
pub use filter::TagFilter;
pub use go_regex::RegexError;
pub use platform::{Platform, PlatformError};
pub use range::{Range, RangeError};
/// Flux's version parsing, for the git module's semver checkouts.
#[allow(
    unused_imports,
    reason = "the fuzz crate includes this module without the git module"
)]
pub(crate) use version::VersionRef;

use select::{Entry, Ranker};

/// Which end of a numerical or alphabetical ordering wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// The largest value wins (the default).
    #[default]
    Asc,
    /// The smallest value wins.
    Desc,
}

impl Order {
    /// Parses `asc` or `desc`; absent or empty means `asc`.
    pub fn parse(text: Option<&str>) -> Result<Self, InvalidField> {
        match text.unwrap_or("") {
            "" | "asc" => Ok(Self::Asc),
            "desc" => Ok(Self::Desc),
            other => Err(InvalidField::Order(other.to_string())),
        }
    }
}

/// How candidates are ordered.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Ordering {
    /// Highest SemVer precedence inside a range.
    Semver(#[serde(serialize_with = "serialize_range")] Range),
    /// By decimal value.
    Numerical(Order),
    /// Byte-wise.
    Alphabetical(Order),
}

fn serialize_range<S: serde::Serializer>(range: &Range, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(range.as_str())
}

/// The ordering part of a policy as written, before validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderingSpec<'a> {
    /// `policy.semver.range`.
    Semver {
        /// The Masterminds range.
        range: &'a str,
    },
    /// `policy.numerical.order`.
    Numerical {
        /// `asc`, `desc` or absent.
        order: Option<&'a str>,
    },
    /// `policy.alphabetical.order`.
    Alphabetical {
        /// `asc`, `desc` or absent.
        order: Option<&'a str>,
    },
}

/// A validated policy: built once, evaluated any number of times.
#[derive(Debug, Clone)]
pub struct Policy {
    name: String,
    filter: Option<TagFilter>,
    ordering: Ordering,
}

impl Policy {
    /// Validates a policy. `name` is used in messages (`namespace/name`);
    /// `pattern` and `extract` are `filterTags` (absent or empty: no filter).
    pub fn new(
        name: impl Into<String>,
        pattern: Option<&str>,
        extract: Option<&str>,
        ordering: OrderingSpec<'_>,
    ) -> Result<Self, PolicyError> {
        let name = name.into();
        let invalid = |field: &'static str, source: InvalidField| PolicyError::Invalid {
            policy: name.clone(),
            field,
            source,
        };
        let pattern = pattern.unwrap_or("");
        let extract = extract.unwrap_or("");
        let filter = if pattern.is_empty() && extract.is_empty() {
            None
        } else {
            let filter = TagFilter::new(pattern, extract)
                .map_err(|e| invalid("spec.filterTags.pattern", e.into()))?;
            Some(filter)
        };
        let ordering = match ordering {
            OrderingSpec::Semver { range } => Ordering::Semver(
                Range::parse(range).map_err(|e| invalid("spec.policy.semver.range", e.into()))?,
            ),
            OrderingSpec::Numerical { order } => Ordering::Numerical(
                Order::parse(order).map_err(|e| invalid("spec.policy.numerical.order", e))?,
            ),
            OrderingSpec::Alphabetical { order } => Ordering::Alphabetical(
                Order::parse(order).map_err(|e| invalid("spec.policy.alphabetical.order", e))?,
            ),
        };
        Ok(Self {
            name,
            filter,
            ordering,
        })
    }

    /// The policy's name, as given to [`Policy::new`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tag filter, if any.
    pub fn filter(&self) -> Option<&TagFilter> {
        self.filter.as_ref()
    }

    /// The ordering.
    pub fn ordering(&self) -> &Ordering {
        &self.ordering
    }

    /// Picks the latest tag. Fails only when no tag is left after the steps.
    pub fn select<T: AsRef<str>>(
        &self,
        tags: &[T],
        exclusions: &ExclusionList,
    ) -> Result<Selection, PolicyError> {
        self.walk(tags, exclusions, Requirements::default())
            .finish()
    }

    /// Ranks the candidates for a [`Walk`] under `requirements`: with none, the
    /// best candidate is already chosen; else the caller checks them in order.
    pub fn walk<T: AsRef<str>>(
        &self,
        tags: &[T],
        exclusions: &ExclusionList,
        requirements: Requirements,
    ) -> Walk {
        let keep = if requirements.is_empty() {
            RUNNERS_UP + 1
        } else {
            MAX_CHECKED + RUNNERS_UP
        };
        let (counts, candidates) = match &self.ordering {
            Ordering::Semver(range) => {
                self.rank(&semver::SemverRanker { range }, tags, exclusions, keep)
            }
            Ordering::Numerical(order) => self.rank(
                &numerical::NumericalRanker { order: *order },
                tags,
                exclusions,
                keep,
            ),
            Ordering::Alphabetical(order) => self.rank(
                &alphabetical::AlphabeticalRanker { order: *order },
                tags,
                exclusions,
                keep,
            ),
        };
        Walk::new(
            self.name.clone(),
            self.ordering.clone(),
            counts,
            requirements,
            candidates,
        )
    }

    fn rank<R: Ranker, T: AsRef<str>>(
        &self,
        ranker: &R,
        tags: &[T],
        exclusions: &ExclusionList,
        keep: usize,
    ) -> (StepCounts, Vec<Candidate>) {
        let (counts, best) = select::select(ranker, tags, self.filter.as_ref(), exclusions, keep);
        (counts, best.into_iter().map(candidate).collect())
    }
}

fn candidate<K>(entry: Entry<'_, K>) -> Candidate {
    Candidate {
        tag: entry.tag.to_string(),
        value: entry.value.into_owned(),
        digest: None,
    }
}

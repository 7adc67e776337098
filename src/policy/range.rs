//! Semver ranges with the syntax and meaning of Masterminds/semver v3
//! constraints, which Flux's semver policy uses.
//!
//! `||` separates alternatives; inside one, comparators are joined by spaces or
//! commas (AND). A comparator is an operator (`=`, `!=`, `>`, `<`, `>=`, `=>`,
//! `<=`, `=<`, `~`, `~>`, `^`, or none) and a loose version (`v` prefix,
//! one to three parts, `x`/`X`/`*` wildcards); `A - B` (spaces required) is
//! `>= A, <= B`. A bare version without wildcards means exactly that version.
//! The syntax, with Masterminds' quirks, is in [`super::range_syntax`].
//!
//! Pre-releases (Masterminds v3.5): a pre-release version can only satisfy an
//! AND group in which some comparator names a pre-release. So `>=1.0.0-0
//! <2.0.0` admits `1.5.0-rc.1`, `>=1.0.0` does not, and neither does `!=1.2.3`.
//!
//! Limits (Masterminds'): at most 512 bytes and 32 `||` alternatives.
//!
//! This is a port of the behaviour, not of the code: the operator functions
//! below keep Masterminds' quirks (e.g. `>1.1` is "minor greater than 1 within
//! major 1 or a greater major", `<=1.1` admits `1.1.9`).

use std::cmp::Ordering;
use std::fmt;

use super::range_syntax::{parse_alternative, rewrite_hyphen_ranges};
use super::version::VersionRef;

/// Why a range cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid semver range {range:?}: {reason}")]
pub struct RangeError {
    /// The range as written.
    pub range: String,
    /// What is wrong with it, naming the offending part.
    pub reason: String,
}

/// A parsed semver range.
#[derive(Debug, Clone)]
pub struct Range {
    text: String,
    alternatives: Vec<Alternative>,
}

/// Comparators joined by AND.
#[derive(Debug, Clone)]
struct Alternative {
    comparators: Vec<Comparator>,
    /// Some comparator names a pre-release: pre-release versions may match.
    admits_prereleases: bool,
}

/// The longest range Masterminds parses (`MaxConstraintLen`).
const MAX_RANGE_LEN: usize = 512;

/// The most `||` alternatives Masterminds parses (`MaxConstraintGroups`).
const MAX_ALTERNATIVES: usize = 32;

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    TildeOrEqual,
    NotEqual,
    Greater,
    Less,
    GreaterOrEqual,
    LessOrEqual,
    Tilde,
    Caret,
}

/// One comparator: an operator and the version Masterminds builds from the
/// operand (wildcard and missing parts are 0).
#[derive(Debug, Clone)]
pub(super) struct Comparator {
    pub(super) op: Op,
    pub(super) major: u64,
    pub(super) minor: u64,
    pub(super) patch: u64,
    pub(super) pre: String,
    /// Some part was a wildcard or missing.
    pub(super) dirty: bool,
    /// The minor part (and so the patch) was a wildcard or missing.
    pub(super) minor_dirty: bool,
    /// Only the patch part was a wildcard or missing.
    pub(super) patch_dirty: bool,
}

impl Range {
    /// Parses a Masterminds constraint string.
    pub fn parse(text: &str) -> Result<Self, RangeError> {
        let error = |reason: String| RangeError {
            range: text.to_string(),
            reason,
        };
        if text.len() > MAX_RANGE_LEN {
            return Err(error(format!(
                "longer than {MAX_RANGE_LEN} bytes ({})",
                text.len()
            )));
        }
        // As Masterminds does: hyphen ranges become `>= A, <= B` in the text
        // first (see `rewrite_hyphen_ranges`), then `||` splits the result.
        let rewritten = rewrite_hyphen_ranges(text);
        let count = rewritten.split("||").count();
        if count > MAX_ALTERNATIVES {
            return Err(error(format!(
                "more than {MAX_ALTERNATIVES} alternatives separated by || ({count})"
            )));
        }
        let mut alternatives = Vec::with_capacity(count);
        for segment in rewritten.split("||") {
            let comparators = parse_alternative(segment).map_err(error)?;
            let admits_prereleases = comparators.iter().any(|c| !c.pre.is_empty());
            alternatives.push(Alternative {
                comparators,
                admits_prereleases,
            });
        }
        Ok(Self {
            text: text.to_string(),
            alternatives,
        })
    }

    /// The range as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether a version satisfies the range.
    pub(crate) fn matches(&self, version: &VersionRef<'_>) -> bool {
        self.alternatives.iter().any(|alternative| {
            (alternative.admits_prereleases || !version.is_prerelease())
                && alternative.comparators.iter().all(|c| c.matches(version))
        })
    }
}

impl Comparator {
    fn constraint_version(&self) -> VersionRef<'_> {
        VersionRef {
            major: self.major,
            minor: self.minor,
            patch: self.patch,
            pre: &self.pre,
        }
    }

    /// Whether `v` satisfies this comparator; pre-releases are admitted or not
    /// by the whole AND group, before this is asked.
    fn matches(&self, v: &VersionRef<'_>) -> bool {
        let con = self.constraint_version();
        let order = v.precedence(&con);
        match self.op {
            Op::NotEqual => self.not_equal(v),
            Op::Greater => self.greater(v, order),
            Op::Less => order == Ordering::Less,
            Op::GreaterOrEqual => order != Ordering::Less,
            Op::LessOrEqual => {
                if !self.dirty {
                    order != Ordering::Greater
                } else {
                    !(v.major > self.major
                        || (v.major == self.major && v.minor > self.minor && !self.minor_dirty))
                }
            }
            Op::Tilde => self.tilde(v, order),
            Op::TildeOrEqual if self.dirty => self.tilde(v, order),
            Op::TildeOrEqual => order == Ordering::Equal,
            Op::Caret => self.caret(v, order),
        }
    }

    fn not_equal(&self, v: &VersionRef<'_>) -> bool {
        if self.dirty {
            if self.major != v.major {
                return true;
            }
            if self.minor != v.minor && !self.minor_dirty {
                return true;
            } else if self.minor_dirty {
                return false;
            } else if self.patch != v.patch && !self.patch_dirty {
                return true;
            } else if self.patch_dirty {
                return (v.is_prerelease() || !self.pre.is_empty())
                    && super::version::compare_prerelease(v.pre, &self.pre) != Ordering::Equal;
            }
        }
        v.precedence(&self.constraint_version()) != Ordering::Equal
    }

    fn greater(&self, v: &VersionRef<'_>, order: Ordering) -> bool {
        if !self.dirty {
            return order == Ordering::Greater;
        }
        if v.major != self.major {
            return v.major > self.major;
        }
        if self.minor_dirty {
            return false;
        }
        if self.patch_dirty {
            return v.minor > self.minor;
        }
        order == Ordering::Greater
    }

    fn tilde(&self, v: &VersionRef<'_>, order: Ordering) -> bool {
        if order == Ordering::Less {
            return false;
        }
        // `~0.0.0` and `~*` accept everything.
        if (self.major, self.minor, self.patch) == (0, 0, 0)
            && !self.minor_dirty
            && !self.patch_dirty
        {
            return true;
        }
        v.major == self.major && (v.minor == self.minor || self.minor_dirty)
    }

    fn caret(&self, v: &VersionRef<'_>, order: Ordering) -> bool {
        if order == Ordering::Less {
            return false;
        }
        if self.major > 0 || self.minor_dirty {
            return v.major == self.major;
        }
        if v.major > 0 {
            return false;
        }
        if self.minor > 0 || self.patch_dirty {
            return v.minor == self.minor;
        }
        if v.minor > 0 {
            return false;
        }
        v.patch == self.patch
    }
}

#[cfg(test)]
#[path = "range_tests.rs"]
mod tests;

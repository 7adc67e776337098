//! Tag filters of Flux v1 annotations: `glob:`, `semver:`, `regexp:`/`regex:`.
//!
//! The workloads that carry them are read by `update::annotations`; what a
//! filter matches and how its candidates are ordered is policy, so it lives
//! here, next to the ImagePolicy orderings ([`super::creation_order`] orders
//! by image creation time).
//!
//! The value of `fluxcd.io/tag.<container>` (or `flux.weave.works/tag.…`,
//! `filter.fluxcd.io/…`) is parsed once into a [`TagPattern`]:
//! - `glob:PATTERN` (also a value without prefix, as fluxd read it): `*`
//!   matches any run of characters, every other character itself; the whole tag
//!   must match. Ordered by image creation time.
//! - `semver:RANGE`: a Masterminds range, checked and ordered by
//!   [`super::Policy`]'s semver ordering (tags must be `MAJOR.MINOR.PATCH` with an
//!   optional `v` prefix, as Flux v2 reads versions).
//! - `regexp:RE` / `regex:RE`: unanchored, in the syntax of the bounded
//!   backtracking engine [`fancy_regex`] — RE2 plus look-around (`(?!…)`,
//!   `(?=…)`, `(?<!…)`, `(?<=…)`), backreferences and atomic groups. Ordered by
//!   image creation time.
//!
//! Unlike fluxd, an invalid range or expression is an error for that container
//! (fluxd silently matched every tag). A regular expression runs with a
//! backtracking budget ([`BACKTRACK_LIMIT`]) and patterns are capped at
//! [`MAX_PATTERN_BYTES`], so a hostile pattern or tag ends in a clear
//! [`PatternError::TooExpensive`] instead of a hang.

use std::fmt;

use super::{ExclusionList, OrderingSpec, Policy, Range};

/// The most backtracking steps one match may take (about a millisecond of work).
pub const BACKTRACK_LIMIT: usize = 100_000;

/// The longest regular expression accepted.
pub const MAX_PATTERN_BYTES: usize = 1024;

/// Why a filter annotation cannot be used, or a match could not finish.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// `semver:` with a range that does not parse.
    #[error("invalid semver range {range:?}: {reason}")]
    Semver {
        /// The range as written.
        range: String,
        /// What the range parser said.
        reason: String,
    },
    /// `regexp:` with an expression that does not compile.
    #[error("invalid regular expression {pattern:?}: {reason}")]
    Regexp {
        /// The expression as written.
        pattern: String,
        /// What the regex compiler said.
        reason: String,
    },
    /// `regexp:` with an expression longer than [`MAX_PATTERN_BYTES`].
    #[error("regular expression is {length} bytes long; at most {MAX_PATTERN_BYTES} are accepted")]
    TooLong {
        /// The expression's length.
        length: usize,
    },
    /// Matching a tag needed more than [`BACKTRACK_LIMIT`] backtracking steps.
    #[error(
        "regular expression {pattern:?} needs too much backtracking on tag {tag:?} (limit {BACKTRACK_LIMIT} steps); simplify the pattern (avoid nested repetition such as (a+)+)"
    )]
    TooExpensive {
        /// The expression.
        pattern: String,
        /// The tag it was matched against.
        tag: String,
    },
}

/// A regular expression with a backtracking budget.
#[derive(Clone)]
pub struct BoundedRegex {
    pattern: String,
    regex: fancy_regex::Regex,
}

impl fmt::Debug for BoundedRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("BoundedRegex").field(&self.pattern).finish()
    }
}

impl BoundedRegex {
    /// Compiles `pattern` (unanchored, fancy-regex syntax).
    pub fn new(pattern: &str) -> Result<Self, PatternError> {
        if pattern.len() > MAX_PATTERN_BYTES {
            return Err(PatternError::TooLong {
                length: pattern.len(),
            });
        }
        let regex = fancy_regex::RegexBuilder::new(pattern)
            .backtrack_limit(BACKTRACK_LIMIT)
            .build()
            .map_err(|error| PatternError::Regexp {
                pattern: pattern.to_string(),
                reason: error.to_string(),
            })?;
        Ok(Self {
            pattern: pattern.to_string(),
            regex,
        })
    }

    /// The expression as written.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Whether `tag` matches somewhere; fails when the budget runs out.
    pub fn is_match(&self, tag: &str) -> Result<bool, PatternError> {
        self.regex
            .is_match(tag)
            .map_err(|_| PatternError::TooExpensive {
                pattern: self.pattern.clone(),
                tag: tag.to_string(),
            })
    }
}

/// A parsed tag filter.
#[derive(Debug, Clone)]
pub enum TagPattern {
    /// `glob:PATTERN`: `*` is the only wildcard; ordered by creation time.
    Glob(String),
    /// `semver:RANGE`: ordered by version.
    Semver {
        /// The range as written.
        range: String,
        /// The validated policy that checks and orders versions.
        policy: Box<Policy>,
    },
    /// `regexp:RE`: ordered by creation time.
    Regexp(BoundedRegex),
}

impl TagPattern {
    /// The filter of a container without a filter annotation: `glob:*`.
    pub fn all() -> Self {
        Self::Glob("*".to_string())
    }

    /// Parses an annotation value; a value without a known prefix is a glob (as in fluxd).
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        if let Some(range) = text.strip_prefix("semver:") {
            let invalid = |reason: String| PatternError::Semver {
                range: range.to_string(),
                reason,
            };
            Range::parse(range).map_err(|error| invalid(error.reason))?;
            let policy = Policy::new("flux-v1-filter", None, None, OrderingSpec::Semver { range })
                .map_err(|error| invalid(error.to_string()))?;
            return Ok(Self::Semver {
                range: range.to_string(),
                policy: Box::new(policy),
            });
        }
        if let Some(pattern) = text
            .strip_prefix("regexp:")
            .or_else(|| text.strip_prefix("regex:"))
        {
            return BoundedRegex::new(pattern).map(Self::Regexp);
        }
        Ok(Self::Glob(
            text.strip_prefix("glob:").unwrap_or(text).to_string(),
        ))
    }

    /// Whether candidates are ordered by the image's creation time (else by version).
    pub fn orders_by_created(&self) -> bool {
        !matches!(self, Self::Semver { .. })
    }

    /// Whether this is `glob:latest`, the one filter that may pick the tag `latest`.
    pub fn is_latest(&self) -> bool {
        matches!(self, Self::Glob(glob) if glob == "latest")
    }

    /// Whether `tag` passes the filter. `latest` (any case) passes only `glob:latest`,
    /// as in fluxd.
    pub fn matches(&self, tag: &str) -> Result<bool, PatternError> {
        if tag.eq_ignore_ascii_case("latest") && !self.is_latest() {
            return Ok(false);
        }
        match self {
            Self::Glob(glob) => Ok(glob_matches(glob, tag)),
            Self::Semver { policy, .. } => Ok(policy
                .select(&[tag], &ExclusionList::new::<&str>(&[]).unwrap_or_default())
                .is_ok()),
            Self::Regexp(regex) => regex.is_match(tag),
        }
    }
}

impl fmt::Display for TagPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Glob(glob) => write!(f, "glob:{glob}"),
            Self::Semver { range, .. } => write!(f, "semver:{range}"),
            Self::Regexp(regex) => write!(f, "regexp:{}", regex.pattern()),
        }
    }
}

/// Whether `text` matches `glob` as a whole, `*` matching any run of characters.
///
/// Linear: each literal piece between stars is found at its leftmost place
/// (the leftmost place never loses a match the later pieces could use), the
/// first piece must start the text and the last must end it.
pub fn glob_matches(glob: &str, text: &str) -> bool {
    let mut pieces = glob.split('*');
    let first = pieces.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let mut pieces: Vec<&str> = pieces.collect();
    let Some(last) = pieces.pop() else {
        return rest.is_empty(); // no star: the whole text was the first piece
    };
    for piece in pieces {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_whole_tags_with_stars_only() {
        for (glob, tag, expected) in [
            ("*", "anything", true),
            ("*", "", true),
            ("", "", true),
            ("", "x", false),
            ("master-*", "master-abc", true),
            ("master-*", "main-abc", false),
            ("*-prod", "v1-prod", true),
            ("*-prod", "v1-prod-x", false),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "acb", false),
            ("a*ab", "aab", true),
            ("ab*b", "ab", false),
            ("*a*a", "a", false),
            ("v1.?", "v1.2", false),
            ("exact", "exact", true),
        ] {
            assert_eq!(glob_matches(glob, tag), expected, "{glob} ~ {tag}");
        }
    }

    #[test]
    fn prefixes_pick_the_filter_kind() {
        assert!(matches!(
            TagPattern::parse("semver:~1.2").unwrap(),
            TagPattern::Semver { .. }
        ));
        assert!(matches!(
            TagPattern::parse("regex:^v").unwrap(),
            TagPattern::Regexp(_)
        ));
        assert!(matches!(TagPattern::parse("glob:v*").unwrap(), TagPattern::Glob(g) if g == "v*"));
        assert!(matches!(TagPattern::parse("v*").unwrap(), TagPattern::Glob(g) if g == "v*"));
        assert!(TagPattern::parse("semver:not a range").is_err());
        let error = TagPattern::parse("regexp:(").unwrap_err().to_string();
        assert!(
            error.contains("invalid regular expression \"(\""),
            "{error}"
        );
    }

    #[test]
    fn latest_passes_only_glob_latest() {
        assert!(!TagPattern::all().matches("latest").unwrap());
        assert!(!TagPattern::all().matches("LATEST").unwrap());
        assert!(
            TagPattern::parse("glob:latest")
                .unwrap()
                .matches("latest")
                .unwrap()
        );
        let regexp = TagPattern::parse("regexp:.*").unwrap();
        assert!(!regexp.matches("latest").unwrap());
    }

    #[test]
    fn the_walkthrough_lookahead_excludes_tmp() {
        let pattern = TagPattern::parse("regexp:^((?!tmp).)*$").unwrap();
        assert!(pattern.orders_by_created());
        assert!(pattern.matches("master").unwrap());
        assert!(pattern.matches("3f2a9c1").unwrap());
        assert!(!pattern.matches("tmp").unwrap());
        assert!(!pattern.matches("build-tmp-1").unwrap());
    }

    #[test]
    fn semver_filters_use_the_range() {
        let pattern = TagPattern::parse("semver:~1.2").unwrap();
        assert!(!pattern.orders_by_created());
        assert!(pattern.matches("1.2.7").unwrap());
        assert!(pattern.matches("v1.2.0").unwrap());
        assert!(!pattern.matches("1.3.0").unwrap());
        assert!(!pattern.matches("master").unwrap());
    }

    /// A catastrophic pattern (exponential backtracking: a repeated group with
    /// a look-ahead, and a backreference) against the longest valid tags ends
    /// with a clear error instead of running for ages.
    #[test]
    fn catastrophic_backtracking_is_bounded() {
        let tag = "a".repeat(128);
        for catastrophic in [r"regexp:^((?!x)(a|aa))+b$", r"regexp:^((a|aa)+)\1b$"] {
            let pattern = TagPattern::parse(catastrophic).unwrap();
            let error = pattern.matches(&tag).unwrap_err();
            assert!(
                matches!(error, PatternError::TooExpensive { .. }),
                "{error}"
            );
        }
        let pattern = TagPattern::parse(r"regexp:^((?!x)(a|aa))+b$").unwrap();
        let error = pattern.matches(&tag).unwrap_err();
        assert!(
            matches!(error, PatternError::TooExpensive { .. }),
            "{error}"
        );
        let message = error.to_string();
        assert!(message.contains("too much backtracking"), "{message}");
        assert!(message.contains(&tag), "{message}");
        let long = format!("regexp:{}", "a".repeat(MAX_PATTERN_BYTES + 1));
        assert!(matches!(
            TagPattern::parse(&long),
            Err(PatternError::TooLong { .. })
        ));
    }
}

//! The exclusion list of an ImageRepository: tags matching any of its regexes
//! (unanchored, Go RE2 syntax) are dropped before any policy sees them.

use regex::Regex;

use super::error::PolicyError;
use super::go_regex;

/// The exclusion list used when none is given: cosign signature tags.
pub const DEFAULT_EXCLUSIONS: [&str; 1] = [r"^.*\.sig$"];

/// Compiled exclusion regexes.
#[derive(Debug, Clone)]
pub struct ExclusionList {
    regexes: Vec<Regex>,
}

impl ExclusionList {
    /// Compiles a list that replaces the default; an empty list excludes nothing.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Self, PolicyError> {
        let regexes = patterns
            .iter()
            .enumerate()
            .map(|(index, pattern)| {
                go_regex::compile(pattern.as_ref())
                    .map_err(|source| PolicyError::InvalidExclusion { index, source })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { regexes })
    }

    /// Whether a tag is excluded.
    pub fn excludes(&self, tag: &str) -> bool {
        self.regexes.iter().any(|regex| regex.is_match(tag))
    }
}

impl Default for ExclusionList {
    /// The default list, `^.*\.sig$`.
    fn default() -> Self {
        let regexes = DEFAULT_EXCLUSIONS
            .iter()
            .filter_map(|pattern| Regex::new(pattern).ok())
            .collect();
        Self { regexes }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn default_excludes_signatures_only() {
        let list = ExclusionList::default();
        assert!(list.excludes("sha256-abc.sig"));
        assert!(!list.excludes("1.2.3"));
        assert!(!list.excludes("sig"));
        assert!(!list.excludes("a.sig.1"));
    }

    #[test]
    fn given_list_replaces_the_default_and_matches_unanchored() {
        let list = ExclusionList::new(&["rc"]).unwrap();
        assert!(list.excludes("1.2.3-rc.1"));
        assert!(!list.excludes("sha256-abc.sig"));
        let empty = ExclusionList::new::<&str>(&[]).unwrap();
        assert!(!empty.excludes("sha256-abc.sig"));
    }

    #[test]
    fn invalid_exclusion_names_its_index() {
        let error = ExclusionList::new(&["ok", "(?=x)"]).unwrap_err();
        assert!(error.to_string().contains("exclusionList[1]"), "{error}");
    }
}

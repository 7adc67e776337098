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
    /// The list is exactly the default: `^.*\.sig$` is "ends with `.sig`, no
    /// newline", checked without running a regex on every tag.
    signatures_only: bool,
}

impl ExclusionList {
    /// Compiles a list that replaces the default; an empty list excludes nothing.
    /// The default list itself needs no regex (nor its compilation, once per
    /// ImageRepository of a fleet).
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Self, PolicyError> {
        if patterns.len() == 1 && patterns.iter().all(|p| p.as_ref() == DEFAULT_EXCLUSIONS[0]) {
            return Ok(Self::default());
        }
        let regexes = patterns
            .iter()
            .enumerate()
            .map(|(index, pattern)| {
                go_regex::compile(pattern.as_ref())
                    .map_err(|source| PolicyError::InvalidExclusion { index, source })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            regexes,
            signatures_only: false,
        })
    }

    /// Whether a tag is excluded.
    pub fn excludes(&self, tag: &str) -> bool {
        if self.signatures_only {
            return tag.ends_with(".sig") && !tag.as_bytes().contains(&b'\n');
        }
        self.regexes.iter().any(|regex| regex.is_match(tag))
    }
}

impl Default for ExclusionList {
    /// The default list, `^.*\.sig$`.
    fn default() -> Self {
        Self {
            regexes: Vec::new(),
            signatures_only: true,
        }
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
        assert!(!list.excludes("a\nb.sig"));
        // The fast path agrees with the regex it stands for.
        let regex = ExclusionList::new(&DEFAULT_EXCLUSIONS).unwrap();
        let slow = ExclusionList::new(&[r"^.*\.sig$", "^$never"]).unwrap();
        for tag in [
            "x.sig", ".sig", "sig", "x.sigs", "x.Sig", "a\nb.sig", "a.sig\n", "",
        ] {
            assert_eq!(list.excludes(tag), slow.excludes(tag), "{tag:?}");
            assert_eq!(regex.excludes(tag), slow.excludes(tag), "{tag:?}");
        }
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

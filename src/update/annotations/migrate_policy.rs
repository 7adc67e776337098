//! From a Flux v1 filter to the closest ImageRepository/ImagePolicy pair, and
//! the YAML of those objects.
//!
//! | filter | ImagePolicy | ImageRepository `exclusionList` |
//! | --- | --- | --- |
//! | `semver:R` | `policy.semver.range: R` | `^.*\.sig$` (Flux's default) + `(?i)^latest$` |
//! | `glob:G` | `filterTags.pattern` = G as an anchored RE2 pattern (`*` → `.*`), alphabetical | default + `(?i)^latest$` (fluxd never picked `latest`) |
//! | `glob:*` | no filter, alphabetical | default + `(?i)^latest$` |
//! | `regexp:R`, R valid RE2 | `filterTags.pattern: R`, numerical on `$1` when R's only group is `(\d+)` or `([0-9]+)`, else alphabetical | default + `(?i)^latest$` |
//! | `regexp:^((?!X).)*$` (X valid RE2) | no filter, alphabetical | default + `(?i)^latest$` + `X` |
//! | other `regexp:` (look-around, backreferences) | not migrated: said plainly | |
//!
//! fluxd ordered `glob:` and `regexp:` tags by image creation time, which no
//! ImagePolicy can express; every such translation carries a [`Translation::note`].

use std::fmt::Write as _;

use crate::policy::TagFilter;
use crate::policy::annotation_filter::TagPattern;

/// Flux's default exclusion (signatures).
const SIGNATURES: &str = r"^.*\.sig$";
/// fluxd never chose `latest` unless the filter was `glob:latest`.
const LATEST: &str = "(?i)^latest$";

/// How an ImagePolicy orders tags.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum PolicyOrder {
    /// `policy.semver.range`.
    Semver(String),
    /// `policy.numerical.order: asc`, on `filterTags.extract`.
    Numerical,
    /// `policy.alphabetical.order: asc`.
    Alphabetical,
}

/// The objects one container's filter becomes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Translation {
    /// `spec.exclusionList` of the ImageRepository.
    pub exclusions: Vec<String>,
    /// `spec.filterTags.pattern`, if any.
    pub pattern: Option<String>,
    /// `spec.filterTags.extract`, if any.
    pub extract: Option<String>,
    /// The ordering.
    pub order: PolicyOrder,
    /// What the user must know (creation-time ordering lost), if anything.
    pub note: Option<String>,
}

/// The translation of `pattern`, or why there is none.
pub fn translate(pattern: &TagPattern) -> Result<Translation, String> {
    let mut exclusions = vec![SIGNATURES.to_string()];
    if !pattern.is_latest() {
        exclusions.push(LATEST.to_string());
    }
    let (filter, extract, order) = match pattern {
        TagPattern::Semver { range, .. } => {
            return Ok(Translation {
                exclusions,
                pattern: None,
                extract: None,
                order: PolicyOrder::Semver(range.clone()),
                note: None,
            });
        }
        TagPattern::Glob(glob) if glob == "*" => (None, None, PolicyOrder::Alphabetical),
        TagPattern::Glob(glob) => {
            let parts: Vec<String> = glob.split('*').map(regex::escape).collect();
            (
                Some(format!("^{}$", parts.join(".*"))),
                None,
                PolicyOrder::Alphabetical,
            )
        }
        TagPattern::Regexp(regex) => {
            let source = regex.pattern();
            if let Some(excluded) = not_containing(source) {
                exclusions.push(excluded.to_string());
                (None, None, PolicyOrder::Alphabetical)
            } else if TagFilter::new(source, "").is_ok() {
                if has_one_number_group(source) {
                    (
                        Some(source.to_string()),
                        Some("$1".to_string()),
                        PolicyOrder::Numerical,
                    )
                } else {
                    (Some(source.to_string()), None, PolicyOrder::Alphabetical)
                }
            } else {
                return Err(format!(
                    "{pattern} uses syntax RE2 does not have (look-around, backreferences); an ImagePolicy's filterTags.pattern cannot express it: write that ImagePolicy by hand"
                ));
            }
        }
    };
    if let Some(filter) = &filter
        && let Err(error) = TagFilter::new(filter, extract.as_deref().unwrap_or(""))
    {
        return Err(format!(
            "{pattern} translates to an invalid pattern: {error}"
        ));
    }
    let how = match order {
        PolicyOrder::Numerical => "numerically by the number the pattern captures",
        _ => "alphabetically",
    };
    Ok(Translation {
        exclusions,
        pattern: filter,
        extract,
        order,
        note: Some(format!(
            "fluxd ordered {pattern} tags by image creation time; an ImagePolicy cannot order by creation time, so this one orders them {how}: check that the tags you push sort that way (e.g. a build number or a timestamp in the tag)"
        )),
    })
}

/// `X` of the idiom `^((?!X).)*$` ("the tag does not contain X"), when X is valid RE2.
fn not_containing(pattern: &str) -> Option<&str> {
    let inner = pattern.strip_prefix("^((?!")?.strip_suffix(").)*$")?;
    (!inner.is_empty() && TagFilter::new(inner, "").is_ok()).then_some(inner)
}

/// Whether the pattern's only capturing group is `(\d+)` or `([0-9]+)`.
fn has_one_number_group(pattern: &str) -> bool {
    let groups = pattern
        .match_indices('(')
        .filter(|(i, _)| !pattern[i + 1..].starts_with('?') && !pattern[..*i].ends_with('\\'));
    groups.count() == 1 && (pattern.contains(r"(\d+)") || pattern.contains("([0-9]+)"))
}

/// A YAML scalar in single quotes (every character stands for itself).
pub fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The YAML of an ImageRepository.
pub fn repository_yaml(
    api_version: &str,
    namespace: &str,
    name: &str,
    image: &str,
    exclusions: &[String],
) -> String {
    let mut out = format!(
        "apiVersion: {api_version}\nkind: ImageRepository\nmetadata:\n  name: {name}\n  namespace: {namespace}\nspec:\n  image: {}\n  interval: 5m\n",
        quoted(image)
    );
    out.push_str("  exclusionList:\n");
    for exclusion in exclusions {
        let _ = writeln!(out, "  - {}", quoted(exclusion));
    }
    out
}

/// The YAML of an ImagePolicy.
pub fn policy_yaml(
    api_version: &str,
    namespace: &str,
    name: &str,
    repository: &str,
    translation: &Translation,
) -> String {
    let mut out = format!(
        "apiVersion: {api_version}\nkind: ImagePolicy\nmetadata:\n  name: {name}\n  namespace: {namespace}\nspec:\n  imageRepositoryRef:\n    name: {repository}\n"
    );
    if let Some(pattern) = &translation.pattern {
        let _ = writeln!(out, "  filterTags:\n    pattern: {}", quoted(pattern));
        if let Some(extract) = &translation.extract {
            let _ = writeln!(out, "    extract: {}", quoted(extract));
        }
    }
    out.push_str("  policy:\n");
    match &translation.order {
        PolicyOrder::Semver(range) => {
            let _ = writeln!(out, "    semver:\n      range: {}", quoted(range));
        }
        PolicyOrder::Numerical => out.push_str("    numerical:\n      order: asc\n"),
        PolicyOrder::Alphabetical => out.push_str("    alphabetical:\n      order: asc\n"),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(filter: &str) -> Result<Translation, String> {
        translate(&TagPattern::parse(filter).unwrap())
    }

    #[test]
    fn each_filter_kind_has_its_closest_policy() {
        let semver = run("semver:~1.2").unwrap();
        assert_eq!(semver.order, PolicyOrder::Semver("~1.2".into()));
        assert_eq!(semver.note, None);
        let glob = run("glob:main-*").unwrap();
        assert_eq!(glob.pattern.as_deref(), Some(r"^main\-.*$"));
        assert_eq!(glob.order, PolicyOrder::Alphabetical);
        assert!(glob.note.unwrap().contains("cannot order by creation time"));
        assert!(glob.exclusions.contains(&LATEST.to_string()));
        let all = run("glob:*").unwrap();
        assert_eq!(all.pattern, None);
        let latest = run("glob:latest").unwrap();
        assert!(!latest.exclusions.contains(&LATEST.to_string()));
        let number = run(r"regexp:^build-(\d+)$").unwrap();
        assert_eq!(number.order, PolicyOrder::Numerical);
        assert_eq!(number.extract.as_deref(), Some("$1"));
        let plain = run(r"regexp:^v(?:\d+)-[a-f0-9]+$").unwrap();
        assert_eq!(plain.order, PolicyOrder::Alphabetical);
        let not_tmp = run("regexp:^((?!tmp).)*$").unwrap();
        assert_eq!(not_tmp.pattern, None);
        assert_eq!(not_tmp.exclusions.last().unwrap(), "tmp");
        let error = run(r"regexp:^(?=v)\w+$").unwrap_err();
        assert!(error.contains("write that ImagePolicy by hand"), "{error}");
    }

    #[test]
    fn objects_are_written_with_quoted_values() {
        let translation = run("glob:it's-*").unwrap();
        let yaml = policy_yaml(
            "image.toolkit.fluxcd.io/v1",
            "flux-system",
            "app",
            "app",
            &translation,
        );
        assert!(yaml.contains("    pattern: '^it''s\\-.*$'\n"), "{yaml}");
        assert!(
            yaml.ends_with("    alphabetical:\n      order: asc\n"),
            "{yaml}"
        );
    }
}

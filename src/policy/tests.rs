//! Table tests of whole policies (every rule of the issue), ties in every
//! ordering, errors, and the input-order property.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;

use super::*;

fn semver(range: &str) -> OrderingSpec<'_> {
    OrderingSpec::Semver { range }
}

fn pick(
    pattern: Option<&str>,
    extract: Option<&str>,
    ordering: OrderingSpec<'_>,
    tags: &[&str],
) -> Result<Selection, PolicyError> {
    Policy::new("default/app", pattern, extract, ordering)
        .unwrap()
        .select(tags, &ExclusionList::default())
}

fn chosen(
    pattern: Option<&str>,
    extract: Option<&str>,
    ordering: OrderingSpec<'_>,
    tags: &[&str],
) -> String {
    match pick(pattern, extract, ordering, tags) {
        Ok(selection) => selection.tag,
        Err(error) => format!("error: {error}"),
    }
}

/// The error and its sources, as the CLI prints them.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(next) = source {
        text.push_str(": ");
        text.push_str(&next.to_string());
        source = next.source();
    }
    text
}

#[test]
fn semver_rules() {
    let tags = [
        "1.0.0",
        "v1.2.0",
        "1.10.0",
        "1.9.9",
        "2.0.0-rc.1",
        "1.2",
        "v1",
        "1.2.3.4",
        "01.2.3",
        "latest",
        "3.0.0.sig",
    ];
    let cases: &[(&str, &str)] = &[
        (">=1.0.0", "1.10.0"),
        ("1.0.0", "1.0.0"),
        // `01.2.3` is 1.2.3: Flux reads zero-padded parts.
        ("<1.5", "01.2.3"),
        ("<1.2.1", "v1.2.0"),
        ("^1.2", "1.10.0"),
        ("~1.9", "1.9.9"),
        (">=1.0.0-0", "2.0.0-rc.1"),
        ("*", "1.10.0"),
        ("1.2 - 1.9.9", "1.9.9"),
        ("<1.1 || >=1.9 <1.10", "1.9.9"),
        // `!=` names no pre-release, so it admits none.
        ("!=1.10.0", "1.9.9"),
        ("!=1.10.0 <2", "1.9.9"),
    ];
    for (range, expected) in cases {
        assert_eq!(
            chosen(None, None, semver(range), &tags),
            *expected,
            "{range}"
        );
    }
}

#[test]
fn semver_caret_on_zero_versions() {
    let tags = ["0.2.3", "0.2.9", "0.3.0", "0.0.3", "0.0.4"];
    assert_eq!(chosen(None, None, semver("^0.2.3"), &tags), "0.2.9");
    assert_eq!(chosen(None, None, semver("^0.0.3"), &tags), "0.0.3");
}

#[test]
fn prereleases_only_with_a_prerelease_comparator() {
    let tags = ["1.0.0", "1.1.0-rc.1", "1.1.0-rc.2"];
    assert_eq!(chosen(None, None, semver(">=1.0.0"), &tags), "1.0.0");
    assert_eq!(chosen(None, None, semver(">=1.0.0-0"), &tags), "1.1.0-rc.2");
    assert_eq!(
        chosen(None, None, semver("~1.1.0-rc.1"), &tags),
        "1.1.0-rc.2"
    );
}

#[test]
fn pattern_and_extract() {
    let tags = [
        "main-abc-100",
        "main-def-99",
        "feature-x-500",
        "main-ghi-20",
    ];
    let pattern = Some(r"^main-[a-f0-9]+-(?P<ts>\d+)$");
    assert_eq!(
        chosen(
            pattern,
            Some("$ts"),
            OrderingSpec::Numerical { order: None },
            &tags
        ),
        "main-abc-100"
    );
    assert_eq!(
        chosen(
            pattern,
            Some("$ts"),
            OrderingSpec::Numerical {
                order: Some("desc")
            },
            &tags
        ),
        "main-def-99"
    );
    // Extract turns prefixed tags into versions; the result is the original tag.
    let tags = ["app-1.2.3", "app-1.10.0", "other-9.9.9", "app-v2.0.0"];
    let pattern = Some(r"^app-(?<version>v?\d+\.\d+\.\d+)$");
    assert_eq!(
        chosen(pattern, Some("${version}"), semver(">=1"), &tags),
        "app-v2.0.0"
    );
    // A composite template.
    let tags = ["r1-p2", "r1-p10", "r2-p0"];
    let pattern = Some(r"^r(\d+)-p(\d+)$");
    assert_eq!(
        chosen(pattern, Some("$1.$2.0"), semver("*"), &tags),
        "r2-p0"
    );
    // The pattern is unanchored.
    let tags = ["x-1.0.0-y", "1.5.0"];
    assert_eq!(
        chosen(Some(r"\d+\.\d+\.\d+"), None, semver("*"), &tags),
        "1.5.0"
    );
    assert_eq!(
        chosen(Some(r"(\d+\.\d+\.\d+)"), Some("$1"), semver("*"), &tags),
        "1.5.0"
    );
}

#[test]
fn ascii_digits_in_patterns() {
    let tags = ["١٢٣", "7"];
    let pattern = Some(r"^\d+$");
    assert_eq!(
        chosen(
            pattern,
            None,
            OrderingSpec::Alphabetical { order: None },
            &tags
        ),
        "7"
    );
}

#[test]
fn numerical_rules() {
    let tags = ["1.9", "1.10", "-3", "abc", "1e1", "0x10"];
    let asc = OrderingSpec::Numerical { order: Some("asc") };
    let desc = OrderingSpec::Numerical {
        order: Some("desc"),
    };
    assert_eq!(chosen(None, None, asc, &tags), "1e1");
    assert_eq!(chosen(None, None, desc, &tags), "-3");
    // `abc` and `0x10` (a Go hex float needs a `p` exponent) are skipped.
    let selection = pick(None, None, asc, &tags).unwrap();
    assert_eq!(selection.explanation.counts.not_a_value, 2);
    // `1.10` is 1.1, less than `1.9`.
    assert_eq!(chosen(None, None, asc, &["1.10", "1.9"]), "1.9");
}

/// The rules where Flux (fluxcd/pkg/version, Masterminds v3.5, Go's
/// `strconv.ParseFloat`) differs from strict SemVer and Rust's float parsing;
/// tests/policy_vs_flux checks them against Flux's code on random cases.
#[test]
fn flux_parity_rules() {
    let cases: &[(&str, &[&str], &str)] = &[
        // Calendar tags: zero-padded parts are numbers.
        (
            ">=2025.1.0",
            &["v2025.02.03", "2025.1.15", "v2024.12.31", "2025.02.03-rc.1"],
            "v2025.02.03",
        ),
        // Two dots anywhere, then the loose grammar: `1.2-rc.1` is 1.2.0-rc.1.
        (">=1.0.0-0", &["1.1.9", "1.2-rc.1", "1.3"], "1.2-rc.1"),
        // A pre-release in any comparator admits pre-releases for its group.
        (">=1.0.0-0 <2.0.0", &["1.4.0", "1.5.0-rc.1"], "1.5.0-rc.1"),
        // ... and a pre-release of the upper bound is below it.
        (
            ">=1.0.0-0 <2.0.0",
            &["1.5.0-rc.1", "2.0.0-rc.1"],
            "2.0.0-rc.1",
        ),
        (">=1.0.0 <2.0.0", &["1.4.0", "1.5.0-rc.1"], "1.4.0"),
        // `!=` alone admits no pre-release.
        ("!=1.4.0", &["1.3.0", "1.5.0-rc.1"], "1.3.0"),
        // Pre-release numbers past 64 bits compare as text, above numbers.
        (
            ">=1.0.0-0",
            &[
                "1.0.0-99999999999999999999",
                "1.0.0-100000000000000000000",
                "1.0.0-5",
            ],
            "1.0.0-99999999999999999999",
        ),
    ];
    for (range, tags, expected) in cases {
        assert_eq!(
            chosen(None, None, semver(range), tags),
            *expected,
            "{range} {tags:?}"
        );
    }
    let asc = OrderingSpec::Numerical { order: None };
    let desc = OrderingSpec::Numerical {
        order: Some("desc"),
    };
    let numbers: &[(OrderingSpec<'_>, &[&str], &str)] = &[
        // Go's float syntax: digit separators, hex floats, infinities.
        (asc, &["999", "1_000"], "1_000"),
        (asc, &["15", "0x1p4"], "0x1p4"),
        (asc, &["0x1.8p3", "11"], "0x1.8p3"),
        (asc, &["12", "Inf"], "Inf"),
        (desc, &["-infinity", "-1e300"], "-infinity"),
        // Not numbers in Go: skipped here (Flux fails the policy).
        (asc, &["5", "1e400", "1__0", "0x10", "+nan"], "5"),
        // NaN is skipped (Flux's pick would depend on the tag order).
        (asc, &["NaN", "3"], "3"),
    ];
    for (ordering, tags, expected) in numbers {
        assert_eq!(chosen(None, None, *ordering, tags), *expected, "{tags:?}");
    }
}

#[test]
fn alphabetical_rules() {
    let tags = ["b", "a", "C", "ab", "é"];
    let asc = OrderingSpec::Alphabetical { order: None };
    let desc = OrderingSpec::Alphabetical {
        order: Some("desc"),
    };
    assert_eq!(chosen(None, None, asc, &tags), "é");
    assert_eq!(chosen(None, None, desc, &tags), "C");
}

#[test]
fn ties_go_to_the_greatest_tag_in_every_ordering() {
    assert_eq!(
        chosen(None, None, semver("*"), &["v1.0.0", "1.0.0"]),
        "v1.0.0"
    );
    assert_eq!(
        chosen(None, None, semver("*"), &["1.0.0+b", "1.0.0+a"]),
        "1.0.0+b"
    );
    let numerical = OrderingSpec::Numerical { order: None };
    assert_eq!(chosen(None, None, numerical, &["10", "1e1", "10.0"]), "1e1");
    let numerical_desc = OrderingSpec::Numerical {
        order: Some("desc"),
    };
    assert_eq!(
        chosen(None, None, numerical_desc, &["0", "-0", "0.0"]),
        "0.0"
    );
    let tags = ["a-x", "b-x", "c-y"];
    let pattern = Some(r"^[a-z]-(?P<v>[a-z])$");
    let asc = OrderingSpec::Alphabetical { order: None };
    let desc = OrderingSpec::Alphabetical {
        order: Some("desc"),
    };
    assert_eq!(chosen(pattern, Some("$v"), asc, &tags), "c-y");
    assert_eq!(chosen(pattern, Some("$v"), desc, &tags), "b-x");
    // Duplicate extracted versions.
    let tags = ["build-2-1.0.0", "build-10-1.0.0"];
    let pattern = Some(r"^build-\d+-(?P<v>.*)$");
    assert_eq!(
        chosen(pattern, Some("$v"), semver("*"), &tags),
        "build-2-1.0.0"
    );
}

#[test]
fn exclusions_apply_before_the_pattern() {
    let policy = Policy::new("default/app", None, None, semver("*")).unwrap();
    let tags = ["1.0.0", "2.0.0.sig", "3.0.0"];
    let selection = policy.select(&tags, &ExclusionList::default()).unwrap();
    assert_eq!(selection.tag, "3.0.0");
    let exclude_three = ExclusionList::new(&["^3"]).unwrap();
    let selection = policy.select(&tags, &exclude_three).unwrap();
    assert_eq!(selection.tag, "1.0.0");
    assert_eq!(selection.explanation.counts.excluded, 1);
    assert_eq!(selection.explanation.counts.not_a_value, 1);
}

#[test]
fn no_match_counts_every_step() {
    let tags = ["a.sig", "b", "app-x", "app-0.1.0", "app-2.0.0", "app-1.0"];
    let error = pick(Some("^app-(.*)$"), Some("$1"), semver(">=3"), &tags).unwrap_err();
    let text = error.to_string();
    assert!(text.contains("default/app"), "{text}");
    for expected in [
        "6 tags in total",
        "1 excluded",
        "1 not matching spec.filterTags.pattern",
        "2 not a version",
        "2 out of spec.policy.semver.range \">=3\"",
    ] {
        assert!(text.contains(expected), "{expected} in {text}");
    }
    assert!(!error.is_invalid_input());
    let error = pick(None, None, OrderingSpec::Numerical { order: None }, &[]).unwrap_err();
    assert!(error.to_string().contains("0 tags in total"));
}

#[test]
fn invalid_policies_name_the_field() {
    let cases: &[(Option<&str>, OrderingSpec<'_>, &str)] = &[
        (
            Some("(?=x)"),
            semver("*"),
            "spec.filterTags.pattern: invalid regular expression",
        ),
        (Some(r"(?<!x)y"), semver("*"), "look-behind"),
        (Some(r"(a)\1"), semver("*"), "backreference"),
        (Some(r"a\E"), semver("*"), "\\E"),
        (Some("("), semver("*"), "spec.filterTags.pattern"),
        (None, semver(">= bar"), "spec.policy.semver.range"),
        (None, semver(""), "spec.policy.semver.range"),
        (
            None,
            OrderingSpec::Numerical { order: Some("up") },
            "spec.policy.numerical.order",
        ),
        (
            None,
            OrderingSpec::Alphabetical { order: Some("ASC") },
            "spec.policy.alphabetical.order",
        ),
    ];
    for (pattern, ordering, expected) in cases {
        let error = Policy::new("ns/p", *pattern, None, *ordering).unwrap_err();
        let text = chain(&error);
        assert!(text.starts_with("invalid policy ns/p: "), "{text}");
        assert!(text.contains(expected), "{expected} in {text}");
        assert!(error.is_invalid_input());
    }
}

#[test]
fn explanation_lists_runners_up_in_order() {
    let tags = [
        "1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0", "1.5.0", "1.6.0", "0.1.0",
    ];
    let selection = pick(None, None, semver("*"), &tags).unwrap();
    let runners: Vec<_> = selection
        .explanation
        .runners_up
        .iter()
        .map(|c| c.tag.as_str())
        .collect();
    assert_eq!(selection.tag, "1.6.0");
    assert_eq!(runners, ["1.5.0", "1.4.0", "1.3.0", "1.2.0", "1.1.0"]);
    assert_eq!(selection.explanation.counts.candidates, 8);
}

fn tag_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u8..3, 0u8..3, 0u8..3).prop_map(|(a, b, c)| format!("{a}.{b}.{c}")),
        (0u8..3, 0u8..3, 0u8..3).prop_map(|(a, b, c)| format!("v{a}.{b}.{c}")),
        (0u8..3, 0u8..2).prop_map(|(a, b)| format!("{a}.0.0-rc.{b}")),
        (0u8..3, "[ab]").prop_map(|(a, b)| format!("{a}.0.0+{b}")),
        "[a-c0-9.]{1,3}",
        "[0-9]{1,2}(\\.[0-9])?",
    ]
}

proptest! {
    #[test]
    fn result_does_not_depend_on_input_order(
        (tags, shuffled) in prop::collection::vec(tag_strategy(), 0..24)
            .prop_flat_map(|tags| (Just(tags.clone()), Just(tags).prop_shuffle()))
    ) {
        let policies = [
            Policy::new("p", None, None, semver(">=0.0.0-0")).unwrap(),
            Policy::new("p", None, None, semver("*")).unwrap(),
            Policy::new("p", Some(r"^v?(?P<v>.*)$"), Some("$v"), semver("^1 || ^0")).unwrap(),
            Policy::new("p", None, None, OrderingSpec::Numerical { order: None }).unwrap(),
            Policy::new("p", None, None, OrderingSpec::Numerical { order: Some("desc") }).unwrap(),
            Policy::new("p", Some(r"^(\d)"), Some("$1"), OrderingSpec::Alphabetical { order: None }).unwrap(),
            Policy::new("p", None, None, OrderingSpec::Alphabetical { order: Some("desc") }).unwrap(),
        ];
        let exclusions = ExclusionList::default();
        for policy in &policies {
            let a = policy.select(&tags, &exclusions).ok().map(|s| (s.tag, s.explanation.runners_up));
            let b = policy.select(&shuffled, &exclusions).ok().map(|s| (s.tag, s.explanation.runners_up));
            prop_assert_eq!(a, b);
        }
    }
}

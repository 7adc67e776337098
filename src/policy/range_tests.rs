//! Table tests pinning Masterminds/semver v3.5 constraint behaviour (cases from
//! its `constraints_test.go`: `TestConstraintCheck` and `TestConstraintsCheck`,
//! and the pre-release and limit rules of v3.5, each checked against Flux's
//! code by tests/policy_vs_flux).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

/// Masterminds' tests check loose versions (`1`, `1.4`); pad them to three parts.
fn check(range: &str, version: &str) -> bool {
    let split = version.find(['-', '+']).unwrap_or(version.len());
    let (core, rest) = version.split_at(split);
    let mut core = core.trim_start_matches('v').to_string();
    while core.matches('.').count() < 2 {
        core.push_str(".0");
    }
    let full = format!("{core}{rest}");
    let v = VersionRef::parse_tag(&full).unwrap_or_else(|| panic!("{full} is a version"));
    Range::parse(range)
        .unwrap_or_else(|e| panic!("{range}: {e}"))
        .matches(&v)
}

const CASES: &[(&str, &str, bool)] = &[
    // single comparators
    ("=2.0.0", "1.2.3", false),
    ("=2.0.0", "2.0.0", true),
    ("=2.0", "1.2.3", false),
    ("=2.0", "2.0.0", true),
    ("=2.0", "2.0.1", true),
    ("4.1", "4.1.0", true),
    ("1.0.0", "1.0.0", true),
    ("1.0.0", "1.0.1", false),
    ("1.0.0", "1.1.0", false),
    ("v1.0.0", "1.0.0", true),
    ("!=4.1.0", "4.1.0", false),
    ("!=4.1.0", "4.1.1", true),
    ("!=4.1", "4.1.0", false),
    ("!=4.1", "4.1.1", false),
    ("!=4.1", "5.1.0-alpha.1", false),
    ("!=4.1.0", "5.1.0-alpha.1", false),
    ("!=4.1-alpha", "4.1.0", true),
    ("!=4.1", "5.1.0", true),
    ("<11", "0.1.0", true),
    ("<11", "11.1.0", false),
    ("<1.1", "0.1.0", true),
    ("<1.1", "1.1.0", false),
    ("<1.1", "1.1.1", false),
    ("<=11", "1.2.3", true),
    ("<=11", "12.2.3", false),
    ("<=11", "11.2.3", true),
    ("<=1.1", "1.2.3", false),
    ("<=1.1", "0.1.0", true),
    ("<=1.1", "1.1.0", true),
    ("<=1.1", "1.1.1", true),
    (">1.1", "4.1.0", true),
    (">1.1", "1.1.0", false),
    (">0", "0", false),
    (">0", "1", true),
    (">0", "0.0.1-alpha", false),
    (">0.0", "0.0.1-alpha", false),
    (">0-0", "0.0.1-alpha", false),
    (">0.0-0", "0.0.1-alpha", false),
    (">0", "0.0.0-alpha", false),
    (">0-0", "0.0.0-alpha", false),
    (">0.0.0-0", "0.0.0-alpha", true),
    (">1.2.3-alpha.1", "1.2.3-alpha.2", true),
    (">1.2.3-alpha.1", "1.3.3-alpha.2", true),
    (">11", "11.1.0", false),
    (">11.1", "11.1.0", false),
    (">11.1", "11.1.1", false),
    (">11.1", "11.2.1", true),
    (">=11", "11.1.2", true),
    (">=11.1", "11.1.2", true),
    (">=11.1", "11.0.2", false),
    (">=1.1", "4.1.0", true),
    (">=1.1", "1.1.0", true),
    (">=1.1", "0.0.9", false),
    (">=0", "0.0.1-alpha", false),
    (">=0.0", "0.0.1-alpha", false),
    (">=0-0", "0.0.1-alpha", true),
    (">=0.0-0", "0.0.1-alpha", true),
    (">=0", "0.0.0-alpha", false),
    (">=0-0", "0.0.0-alpha", true),
    (">=0.0.0-0", "0.0.0-alpha", true),
    (">=0.0.0-0", "1.2.3", true),
    (">=0.0.0-0", "3.4.5-beta.1", true),
    ("=>1.1", "1.1.0", true),
    ("=<1.1", "1.1.1", true),
    ("<0", "0.0.0-alpha", false),
    ("<0-z", "0.0.0-alpha", true),
    (">=0", "0", true),
    ("=0", "1", false),
    // wildcards
    ("*", "1", true),
    ("*", "4.5.6", true),
    ("*", "1.2.3-alpha.1", false),
    ("*-0", "1.2.3-alpha.1", true),
    ("x", "4.5.6", true),
    ("X", "4.5.6", true),
    ("2.*", "1", false),
    ("2.*", "3.4.5", false),
    ("2.*", "2.1.1", true),
    ("2.1.*", "2.1.1", true),
    ("2.1.*", "2.2.1", false),
    ("2.x", "2.9.9", true),
    ("2.X.X", "2.9.9", true),
    ("2", "1", false),
    ("2", "3.4.5", false),
    ("2", "2.1.1", true),
    ("2.1", "2.1.1", true),
    ("2.1", "2.2.1", false),
    ("0.x.x", "1.2.3", false),
    ("0.0.x", "1.2.3", false),
    ("0.0.0", "1.2.3", false),
    ("!=4.x", "5.1.0", true),
    ("!=4.x", "4.1.0", false),
    ("!=4.1.x", "4.2.0", true),
    ("!=4.2.x", "4.2.3", false),
    ("!=4.1-alpha", "4.1.0-alpha", false),
    ("!=4.1-alpha", "4.1.1-alpha", false),
    ("<1.x", "1.1.1", false),
    ("<1.x", "0.1.1", true),
    ("<1.x", "2.0.0", false),
    ("<1.1.x", "1.2.1", false),
    ("<1.1.x", "1.1.500", false),
    ("<1.1.x", "1.0.500", true),
    ("<1.2.x", "1.1.1", true),
    ("<=1.x", "1.1.0", true),
    ("<=2.x", "3.0.0", false),
    ("<=1.1.x", "1.2.500", false),
    ("<=4.5", "3.4.0", true),
    ("<=4.5", "3.7.0", true),
    ("<=4.5", "4.6.3", false),
    (">=1.1", "4.1.0-beta", false),
    ("<=1.1", "0.1.0-alpha", false),
    ("<=1.1-a", "0.1.0-alpha", true),
    // tilde
    ("~1.2.3", "1.2.4", true),
    ("~1.2.3", "1.3.4", false),
    ("~1.2", "1.2.4", true),
    ("~1.2", "1.3.4", false),
    ("~1", "1.2.4", true),
    ("~1", "2.3.4", false),
    ("~0.2.3", "0.2.5", true),
    ("~0.2.3", "0.3.5", false),
    ("~1.2.3-beta.2", "1.2.3-beta.4", true),
    ("~1.2.3-beta.2", "1.2.4-beta.2", true),
    ("~1.2.3-beta.2", "1.3.4-beta.2", false),
    ("~*", "2.1.1", true),
    ("~0.0.0", "1.2.3", true),
    ("~1.x", "2.1.1", false),
    ("~1.x", "1.3.5", true),
    ("~1.x", "1.3.5-beta", false),
    ("~1.1", "1.1.1-alpha", false),
    ("~1.1-alpha", "1.1.1-beta", true),
    ("~1.1.1-beta", "1.1.1-alpha", false),
    ("~1.1.1-beta", "1.1.1", true),
    ("~1.2.3", "1.2.2", false),
    ("~>1.2.3", "1.2.9", true),
    ("~>1.2.3", "1.3.0", false),
    ("~>1.2", "1.2.0", true),
    // caret
    ("^1.2.3", "1.8.9", true),
    ("^1.2.3", "2.8.9", false),
    ("^1.2.3", "1.2.1", false),
    ("^1.1.0", "2.1.0", false),
    ("^1.2.0", "2.2.1", false),
    ("^1.2.0", "1.2.1-alpha.1", false),
    ("^1.2.0-alpha.0", "1.2.1-alpha.1", true),
    ("^1.2.0-alpha.0", "1.2.1-alpha.0", true),
    ("^1.2.0-alpha.2", "1.2.0-alpha.1", false),
    ("^1.2", "1.8.9", true),
    ("^1.2", "2.8.9", false),
    ("^1", "1.8.9", true),
    ("^1", "2.8.9", false),
    ("^0.2.3", "0.2.5", true),
    ("^0.2.3", "0.2.2", false),
    ("^0.2.3", "0.3.0", false),
    ("^0.2.3", "0.5.6", false),
    ("^0.2", "0.2.5", true),
    ("^0.2", "0.5.6", false),
    ("^0.0.3", "0.0.3", true),
    ("^0.0.3", "0.0.4", false),
    ("^0.0", "0.0.3", true),
    ("^0.0", "0.1.4", false),
    ("^0.0", "1.0.4", false),
    ("^0", "0.2.3", true),
    ("^0", "1.1.4", false),
    ("^0.2.3-beta.2", "0.2.3-beta.4", true),
    ("^0.2.3-beta.2", "0.2.4-beta.2", true),
    ("^0.2.3-beta.2", "0.3.4-beta.2", false),
    ("^0.2.3-beta.2", "0.2.3-beta.2", true),
    ("^0.0.0", "1.2.3", false),
    ("^1.x", "1.1.1", true),
    ("^2.x", "1.1.1", false),
    ("^1.x", "2.1.1", false),
    ("^1.x", "1.1.1-beta1", false),
    ("^1.1.2-alpha", "1.2.1-beta1", true),
    ("^1.2.x-alpha", "1.1.1-beta1", false),
    ("^0.0.1", "0.0.1", true),
    ("^0.0.1", "0.3.1", false),
    // AND by space or comma, OR by ||
    (">1.1, <2", "1.1.1", false),
    (">1.1, <2", "1.2.1", true),
    (">1.1, <3", "4.3.2", false),
    (">=1.1, <2, !=1.2.3", "1.2.3", false),
    (">1.1 <2", "1.1.1", false),
    (">1.1 <2", "1.2.1", true),
    (">1.1    <3", "4.3.2", false),
    (">=1.1    <2    !=1.2.3", "1.2.3", false),
    (">=1.1, <2, !=1.2.3 || > 3", "4.1.2", true),
    (">=1.1, <2, !=1.2.3 || > 3", "3.1.2", false),
    (">=1.1, <2, !=1.2.3 || >= 3", "3.0.0", true),
    (">=1.1, <2, !=1.2.3 || > 3", "3.0.0", false),
    (">=1.1, <2, !=1.2.3 || > 3", "1.2.3", false),
    (">=1.1 <2 !=1.2.3 || > 3", "4.1.2", true),
    ("> 1.1, <     2", "1.1.1", false),
    (">   1.1, <2", "1.2.1", true),
    (">= 1.1 <2 != 1.2.3 || >= 3", "3.0.0", true),
    (">=1.0, <2.0", "1.5.0", true),
    (">=1.0, <2.0", "2.0.0", false),
    (">=1.0,<2.0", "1.5.0", true),
    (">= 1.2.3 , < 2.0", "1.5.0", true),
    // hyphen ranges
    ("1.1 - 2", "1.1.1", true),
    ("1.5.0 - 4.5", "3.7.0", true),
    ("1.2 - 1.4.5", "1.4.5", true),
    ("1.2 - 1.4.5", "1.4.6", false),
    ("1.2 - 1.4.5", "1.1.9", false),
    ("1.1-3", "4.3.2", false),
    ("1.0.0 - 2.0.0 <=2.0.0", "1.5.0", true),
    ("1.0.0 - 2.0.0, <=2.0.0", "1.5.0", true),
    ("3 - 4 || => 3.0, < 4", "4.5.0", true),
];

#[test]
fn masterminds_constraint_table() {
    let mut failures = Vec::new();
    for &(range, version, expected) in CASES {
        if check(range, version) != expected {
            failures.push(format!("{range:?} with {version:?} should be {expected}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A pre-release satisfies an AND group only when some comparator of that
/// group names a pre-release; `!=` is no exception.
const GROUP_PRERELEASES: &[(&str, &str, bool)] = &[
    (">=1.0.0-0 <2.0.0", "1.5.0-rc.1", true),
    (">=1.0.0 <2.0.0-0", "1.5.0-rc.1", true),
    (">=1.0.0, <2.0.0-0", "1.5.0-rc.1", true),
    (">=1.0.0 <2.0.0", "1.5.0-rc.1", false),
    ("1.0.0-0 - 2.0.0", "1.5.0-rc.1", true),
    (">=1.0.0-0 <2.0.0 || >=3", "3.1.0-rc.1", false),
    (">=3 || >=1.0.0-0 <2.0.0", "1.5.0-rc.1", true),
    ("^1.0.0 !=1.2.0-0", "1.3.0-beta", true),
    ("~1.2 >=0.0.0-0", "1.2.5-rc.1", true),
    ("* >=0-0", "1.2.3-alpha", true),
    ("!=1.2.3", "1.5.0-rc.1", false),
    ("!=1.2.3", "1.5.0", true),
    ("!=1.2.3", "1.2.3", false),
    ("!=1.2.3-rc.1", "1.5.0-rc.1", true),
    ("!=1.2.3-rc.1", "1.2.3-rc.1", false),
    ("!=1.2.3 >=1.0.0-0", "1.5.0-rc.1", true),
    ("!=1.x", "2.0.0-rc.1", false),
    ("!=1.x >=0-0", "2.0.0-rc.1", true),
];

#[test]
fn prereleases_are_admitted_per_and_group() {
    let mut failures = Vec::new();
    for &(range, version, expected) in GROUP_PRERELEASES {
        if check(range, version) != expected {
            failures.push(format!("{range:?} with {version:?} should be {expected}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Masterminds' syntax, quirks included: `None` where Flux rejects the range.
#[test]
fn masterminds_syntax_quirks() {
    let cases: &[(&str, &str, Option<bool>)] = &[
        // A hyphen range is rewritten with the whitespace around it, so after
        // another comparator it needs a comma.
        ("<3 1 - 2", "1.5.0", None),
        ("<3, 1 - 2", "1.5.0", Some(true)),
        ("1 - 2 <3", "1.5.0", Some(true)),
        ("1.0.0 - 2.0.0,<=1.5", "1.4.0", Some(true)),
        // Its upper bound may swallow `||` and what follows it.
        ("1 - 2||3", "3.1.0", Some(true)),
        ("1 - 2 || 3 - 4", "3.5.0", Some(true)),
        ("1 - 2||3 - 4", "3.5.0", None),
        // Parts after a wildcard are not read.
        ("2.x.99999999999999999999", "2.5.0", Some(true)),
        ("1.x.5x", "1.9.0", Some(true)),
        ("x.18446744073709551616", "7.0.0", Some(true)),
        ("1.18446744073709551616", "1.0.0", None),
        // Go's `\s` is whitespace, without `\v`.
        ("\t>=1.0\n<2", "1.5.0", Some(true)),
        (">=1.0\u{b}<2", "1.5.0", None),
    ];
    let mut failures = Vec::new();
    for &(range, version, expected) in cases {
        let got = Range::parse(range).ok().map(|_| check(range, version));
        if got != expected {
            failures.push(format!(
                "{range:?} with {version:?}: {got:?}, Flux: {expected:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn versions_in_ranges_have_at_most_256_bytes() {
    // The version Masterminds builds from the operand: as written, or padded
    // with `.0` up to the wildcard, plus the pre-release.
    let cases = [
        (format!(">=1.0.0-{}", "a".repeat(250)), true),
        (format!(">=1.0.0-{}", "a".repeat(251)), false),
        (format!(">=v1.0.0+{}", "b".repeat(249)), true),
        (format!(">=v1.0.0+{}", "b".repeat(250)), false),
        (format!(">=1.x-{}", "a".repeat(250)), true),
        (format!(">=1.x-{}", "a".repeat(251)), false),
        (format!(">=1.2.x-{}", "a".repeat(250)), true),
        (format!(">=1.2.x-{}", "a".repeat(251)), false),
        (format!(">=*-{}", "a".repeat(250)), true),
        (format!(">=*-{}", "a".repeat(251)), false),
    ];
    for (range, valid) in cases {
        assert_eq!(Range::parse(&range).is_ok(), valid, "{} bytes", range.len());
    }
}

#[test]
fn ranges_longer_than_512_bytes_or_with_more_than_32_alternatives_are_rejected() {
    let at_limit = format!(">=1.0.0 {}", "1".repeat(504));
    assert_eq!(at_limit.len(), 512);
    assert!(
        Range::parse(&at_limit).is_err(),
        "a huge number is invalid anyway"
    );
    let spaces = format!(">=1.0.0{}", " ".repeat(505));
    assert_eq!(spaces.len(), 512);
    assert!(Range::parse(&spaces).is_ok());
    let error = Range::parse(&format!("{spaces} ")).unwrap_err();
    assert!(error.reason.contains("longer than 512 bytes"), "{error}");

    let alternatives = |n: usize| vec![">=1"; n].join("||");
    assert!(Range::parse(&alternatives(32)).is_ok());
    let error = Range::parse(&alternatives(33)).unwrap_err();
    assert!(
        error.reason.contains("more than 32 alternatives"),
        "{error}"
    );
}

#[test]
fn invalid_ranges_are_rejected() {
    let invalid = [
        "",
        "   ",
        ">= bar",
        "BAR >= 1.2.3",
        "12.3.4.1234",
        "12.23.4.1234",
        "12.3.34~ 1.2.3",
        ">=1.0 ||",
        ">=1.0,",
        "1x",
        ">=1.2.3-01",
        "1.2.3+",
        ">=1.0<2.0",
        "99999999999999999999",
        "1.0 -2.0",
    ];
    for range in invalid {
        assert!(Range::parse(range).is_err(), "{range:?} should be invalid");
    }
    let valid = [
        ">= 1.1",
        ">40.50.60, < 50.70",
        "2.0",
        "v2.3.5-20161202202307-sha.e8fc5e5",
        ">= 1.2.3 < 2.0 || => 3.0 < 4",
        "12.3.34 ~1.2.3",
        "1.0.0 - 2.0.0, <=2.0.0",
    ];
    for range in valid {
        assert!(Range::parse(range).is_ok(), "{range:?} should be valid");
    }
}

#[test]
fn error_names_the_range() {
    let error = Range::parse(">= bar").unwrap_err();
    assert!(error.to_string().contains(">= bar"), "{error}");
}

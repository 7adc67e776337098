//! Go RE2 compatibility of `filterTags.pattern` and `exclusionList`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn is_match(pattern: &str, text: &str) -> bool {
    compile(pattern)
        .unwrap_or_else(|e| panic!("{pattern}: {e}"))
        .is_match(text)
}

#[test]
fn perl_classes_are_ascii_like_go() {
    // Arabic-Indic and full-width digits are Unicode digits, not Go digits.
    assert!(!is_match(r"^\d+$", "١٢٣"));
    assert!(!is_match(r"^\d+$", "１２３"));
    assert!(is_match(r"^\d+$", "123"));
    assert!(is_match(r"^\D+$", "١٢٣"));
    assert!(!is_match(r"^\w+$", "é"));
    assert!(is_match(r"^\W$", "é"));
    assert!(is_match(r"^\w+$", "a_Z9"));
    assert!(!is_match(r"^\s$", "\u{a0}"));
    assert!(!is_match(r"^\s$", "\u{b}"), "Go's \\s has no \\v");
    assert!(is_match(r"^\s$", "\t"));
    assert!(is_match(r"^\S$", "\u{a0}"));
    // Inside classes too.
    assert!(!is_match(r"^[\d.]+$", "١.٢"));
    assert!(is_match(r"^[\d.]+$", "1.2"));
    assert!(is_match(r"^[^\d]+$", "١"));
    assert!(is_match(r"^[\D]+$", "١"));
}

#[test]
fn word_boundaries_are_ascii_like_go() {
    // In Go, `é` is not a word character, so there is a boundary between `a` and `é`.
    assert!(is_match(r"a\b", "aé"));
    assert!(!is_match(r"a\B", "aé"));
    assert!(is_match(r"\bv1\b", "app-v1-x"));
    assert!(!is_match(r"\bv1\b", "appv1"));
}

#[test]
fn named_groups_in_both_spellings() {
    let re = compile(r"^(?P<major>\d+)\.(?<minor>\d+)$").unwrap();
    let caps = re.captures("12.3").unwrap();
    assert_eq!(&caps["major"], "12");
    assert_eq!(&caps["minor"], "3");
}

#[test]
fn literal_syntax_go_accepts() {
    assert!(is_match(r"^a{x}$", "a{x}"));
    assert!(is_match(r"^a{,2}$", "a{,2}"));
    assert!(is_match(r"^a{2}$", "aa"));
    assert!(is_match(r"^[a[]+$", "[a["));
    assert!(is_match(r"^[a&&b]+$", "a&b"));
    assert!(is_match(r"^[a~~b]+$", "~"));
    assert!(is_match(r"^[+--]+$", ",+-"));
    assert!(is_match(r"^[]a]+$", "]a"));
    assert!(is_match(r"^[^]a]+$", "b"));
    assert!(is_match(r"^[[:digit:]]+$", "42"));
    assert!(is_match(r"^\101$", "A"));
    assert!(is_match(r"^\x41\x{42}$", "AB"));
    assert!(is_match(r"^\pL+$", "é"));
    assert!(is_match(r"^\p{Greek}$", "α"));
    assert!(is_match(r"^\.\-\ $", ".- "));
    assert!(is_match(r"(?i)^ABC$", "abc"));
    assert!(is_match(r"(?s:.)", "\n"));
    assert!(is_match(r"\Av\d\z", "v1"));
    // `\Q…\E` quotes literal text, up to `\E` or the end of the pattern.
    assert!(is_match(r"^\Qa.b*\E$", "a.b*"));
    assert!(!is_match(r"^\Qa.b\E$", "axb"));
    assert!(is_match(r"^\Qv1.(\E\d+$", "v1.(42"));
    assert!(is_match(r"^x\Q[a]{2}", "x[a]{2}"));
    assert!(is_match(r"^\Qab\E+$", "abbb"));
    assert!(is_match(r"^a\Q\E$", "a"));
}

#[test]
fn unsupported_syntax_is_rejected_with_a_reason() {
    let cases = [
        (r"^(?=v)\d", "look-ahead"),
        (r"^(?!v)\d", "look-ahead"),
        (r"(?<=v)\d", "look-behind"),
        (r"(?<!v)\d", "look-behind"),
        (r"(a)\1", "backreference"),
        (r"(?P<n>a)(?P=n)", "backreference"),
        (r"\Ea", "\\E"),
        (r"[\Qa\E]", "\\Q"),
        (r"(?x) a", "flag"),
        (r"a{1001}", "1000"),
        (r"\e", "unknown escape"),
        (r"\Z", "unknown escape"),
        (r"\8", "backreference"),
        (r"[a", "]"),
        (r"(a", "unclosed"),
    ];
    for (pattern, expected) in cases {
        let error = compile(pattern).expect_err(pattern);
        let text = error.to_string();
        assert!(text.contains(expected), "{pattern}: {text}");
        assert!(
            text.contains(pattern) || text.contains(&format!("{pattern:?}")),
            "{text}"
        );
    }
}

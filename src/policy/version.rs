//! Versions as Flux reads image tags for a semver policy.
//!
//! Flux parses with `fluxcd/pkg/version.ParseVersion`: the text must have at
//! least two dots, then Masterminds' loose `NewVersion` reads it. So a tag (or
//! an extracted value) is a version when it is at most 256 bytes, contains two
//! or more `.`, and is: one optional lowercase `v`; a major number, then an
//! optional `.minor` and `.patch` (decimal digits, leading zeros allowed:
//! `v2025.02.03` is 2025.2.3; each fits in 64 bits; missing parts are 0); an
//! optional `-pre.release` of non-empty `[0-9A-Za-z-]` identifiers, numeric
//! ones without leading zeros; an optional `+build` of non-empty
//! `[0-9A-Za-z-]` identifiers. The dots may be in the pre-release or build
//! part: `1.2-rc.1` is 1.2.0-rc.1; `1.2.3.4` and `1.2` are not versions.
//!
//! Precedence is Masterminds' `Compare`: numbers, then the pre-release, where
//! an identifier is numeric when it parses as a 64-bit unsigned number (longer
//! digit strings compare as text, as Masterminds does).
//!
//! Parsing borrows from the input: no allocation per tag.

use std::cmp::Ordering;

/// The longest text Masterminds parses as a version (`MaxVersionLen`).
const MAX_VERSION_LEN: usize = 256;

/// A parsed version borrowing its pre-release text from the value it came from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct VersionRef<'a> {
    pub(crate) major: u64,
    pub(crate) minor: u64,
    pub(crate) patch: u64,
    /// The pre-release without its leading `-`; empty when there is none.
    pub(crate) pre: &'a str,
}

impl<'a> VersionRef<'a> {
    /// Parses a tag as Flux's `version.ParseVersion` does (see the module docs).
    pub(crate) fn parse_tag(tag: &'a str) -> Option<Self> {
        if tag.len() > MAX_VERSION_LEN {
            return None;
        }
        let version = parse_loose(tag)?;
        // Checked after parsing: most non-versions fail earlier and cheaper.
        let mut dots = tag.bytes().filter(|&b| b == b'.');
        (dots.next().is_some() && dots.next().is_some()).then_some(version)
    }

    /// Whether this is a pre-release.
    pub(crate) fn is_prerelease(&self) -> bool {
        !self.pre.is_empty()
    }

    /// Masterminds precedence (build metadata ignored).
    pub(crate) fn precedence(&self, other: &VersionRef<'_>) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| compare_prerelease(self.pre, other.pre))
    }
}

/// `v?N(.N)?(.N)?(-pre)?(+build)?` in one pass over the bytes (this runs for
/// every tag, so no splitting into intermediate strings).
fn parse_loose(text: &str) -> Option<VersionRef<'_>> {
    let bytes = text.as_bytes();
    let mut i = usize::from(bytes.first() == Some(&b'v'));
    let major = parse_number(bytes, &mut i)?;
    let mut minor = 0;
    let mut patch = 0;
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        minor = parse_number(bytes, &mut i)?;
        if bytes.get(i) == Some(&b'.') {
            i += 1;
            patch = parse_number(bytes, &mut i)?;
        }
    }
    let mut pre = "";
    if bytes.get(i) == Some(&b'-') {
        let start = i + 1;
        let end = bytes[start..]
            .iter()
            .position(|&b| b == b'+')
            .map_or(bytes.len(), |p| start + p);
        pre = &text[start..end];
        if !valid_prerelease(pre) {
            return None;
        }
        i = end;
    }
    if bytes.get(i) == Some(&b'+') {
        if !text[i + 1..].split('.').all(is_identifier) {
            return None;
        }
        i = bytes.len();
    }
    (i == bytes.len()).then_some(VersionRef {
        major,
        minor,
        patch,
        pre,
    })
}

/// A numeric part: one or more ASCII digits (leading zeros allowed) that fit
/// in a u64.
fn parse_number(bytes: &[u8], i: &mut usize) -> Option<u64> {
    let start = *i;
    let mut value: u64 = 0;
    while let Some(&b) = bytes.get(*i) {
        if !b.is_ascii_digit() {
            break;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
        *i += 1;
    }
    (*i > start).then_some(value)
}

/// A non-empty `[0-9A-Za-z-]+` identifier.
pub(crate) fn is_identifier(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Dot-separated identifiers; numeric ones without leading zeros.
pub(crate) fn valid_prerelease(pre: &str) -> bool {
    pre.split('.').all(|id| {
        is_identifier(id)
            && !(id.len() > 1 && id.starts_with('0') && id.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// Masterminds' pre-release precedence; an empty pre-release (a release) is
/// greater than any pre-release.
pub(crate) fn compare_prerelease(a: &str, b: &str) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        (false, false) => {}
    }
    let mut left = a.split('.');
    let mut right = b.split('.');
    loop {
        match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let order = compare_identifier(x, y);
                if order != Ordering::Equal {
                    return order;
                }
            }
        }
    }
}

/// An identifier that Go's `strconv.ParseUint(id, 10, 64)` reads.
fn numeric(id: &str) -> Option<u64> {
    if id.bytes().all(|b| b.is_ascii_digit()) {
        id.parse().ok()
    } else {
        None
    }
}

/// One identifier against another: numbers (that fit in a u64) by value and
/// below any text; text byte-wise. A longer run of digits is text.
fn compare_identifier(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    match (numeric(a), numeric(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// Major, minor, patch and pre-release.
    type Parts = (u64, u64, u64, &'static str);

    /// `(tag, Some(parts))` or `(tag, None)`: Flux's `version.ParseVersion`
    /// (checked against it by tests/policy_vs_flux).
    const PARSES: &[(&str, Option<Parts>)] = &[
        ("1.2.3", Some((1, 2, 3, ""))),
        ("v1.2.3", Some((1, 2, 3, ""))),
        ("0.0.0", Some((0, 0, 0, ""))),
        ("1.2.3-rc.1", Some((1, 2, 3, "rc.1"))),
        ("1.2.3+build.5", Some((1, 2, 3, ""))),
        ("1.2.3-alpha-1.x+b", Some((1, 2, 3, "alpha-1.x"))),
        ("18446744073709551615.0.0", Some((u64::MAX, 0, 0, ""))),
        // Zero padding: calendar tags.
        ("v2025.02.03", Some((2025, 2, 3, ""))),
        ("2025.02.03-rc.1", Some((2025, 2, 3, "rc.1"))),
        ("01.2.3", Some((1, 2, 3, ""))),
        ("1.02.3", Some((1, 2, 3, ""))),
        ("1.2.03", Some((1, 2, 3, ""))),
        ("000.000.000", Some((0, 0, 0, ""))),
        // Two dots anywhere, then the loose grammar: missing parts are 0.
        ("1.2-rc.1", Some((1, 2, 0, "rc.1"))),
        ("1-rc.1.2", Some((1, 0, 0, "rc.1.2"))),
        ("1.2+build.7", Some((1, 2, 0, ""))),
        ("v1+a.b.c", Some((1, 0, 0, ""))),
        ("1.2.3-0", Some((1, 2, 3, "0"))),
        ("1.2.3--", Some((1, 2, 3, "-"))),
        ("1.2.3+01", Some((1, 2, 3, ""))),
        ("1.2", None),
        ("v1", None),
        ("1.2-rc", None),
        ("1.2.3.4", None),
        ("vv1.2.3", None),
        ("V1.2.3", None),
        ("1.2.3-", None),
        ("1.2.3+", None),
        ("1.2.3-a..b", None),
        ("1.2.3-01", None),
        ("1.2.3-rc_1", None),
        ("1.2.3 ", None),
        (" 1.2.3", None),
        ("1.2.3\n", None),
        ("", None),
        ("latest", None),
        ("v.1.2", None),
        ("1..2", None),
        ("18446744073709551616.0.0", None),
        ("١.٢.٣", None),
    ];

    #[test]
    fn versions_as_flux_parses_them() {
        let mut failures = Vec::new();
        for &(tag, expected) in PARSES {
            let got = VersionRef::parse_tag(tag).map(|v| (v.major, v.minor, v.patch, v.pre));
            if got != expected {
                failures.push(format!("{tag:?}: {got:?}, expected {expected:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn versions_longer_than_256_bytes_are_not_versions() {
        let at_limit = format!("1.2.3-{}", "a".repeat(250));
        assert_eq!(at_limit.len(), 256);
        assert!(VersionRef::parse_tag(&at_limit).is_some());
        let over = format!("{at_limit}a");
        assert!(VersionRef::parse_tag(&over).is_none());
    }

    #[test]
    fn precedence_follows_masterminds() {
        let ordered = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-beta.18446744073709551615",
            // Past u64, digits compare as text, and above every number.
            "1.0.0-beta.100000000000000000000",
            "1.0.0-beta.99999999999999999999",
            "1.0.0-beta.a",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1",
            "1.10.0",
            "2.0.0",
        ];
        for pair in ordered.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            let (va, vb) = (
                VersionRef::parse_tag(a).unwrap(),
                VersionRef::parse_tag(b).unwrap(),
            );
            assert_eq!(va.precedence(&vb), Ordering::Less, "{a} < {b}");
            assert_eq!(vb.precedence(&va), Ordering::Greater, "{b} > {a}");
        }
        let equal = [
            ("1.0.0+a", "v1.0.0+b"),
            ("v2025.02.03", "2025.2.3"),
            ("1.2-rc.1", "1.2.0-rc.1"),
        ];
        for (a, b) in equal {
            let (va, vb) = (
                VersionRef::parse_tag(a).unwrap(),
                VersionRef::parse_tag(b).unwrap(),
            );
            assert_eq!(va.precedence(&vb), Ordering::Equal, "{a} = {b}");
        }
    }
}

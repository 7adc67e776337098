//! SemVer 2.0 versions as image tags carry them.
//!
//! A tag (or an extracted value) is a version when, after removing one leading
//! `v`, it is strict SemVer 2.0: exactly `MAJOR.MINOR.PATCH`, no leading zeros,
//! optional `-pre.release` and `+build` parts made of non-empty
//! `[0-9A-Za-z-]` identifiers. This is Masterminds' `StrictNewVersion` after
//! `strings.TrimPrefix(v, "v")`, which is how Flux's `version.ParseVersion`
//! reads tags for a semver policy. (Masterminds also lets an empty pre-release
//! like `1.2.3-` through; SemVer 2.0 does not, and neither do we.)
//!
//! Parsing borrows from the input: no allocation per tag.

use std::cmp::Ordering;

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
    /// Parses a tag: one optional leading `v`, then strict SemVer 2.0.
    pub(crate) fn parse_tag(tag: &'a str) -> Option<Self> {
        parse_strict(tag.strip_prefix('v').unwrap_or(tag))
    }

    /// Whether this is a pre-release.
    pub(crate) fn is_prerelease(&self) -> bool {
        !self.pre.is_empty()
    }

    /// SemVer precedence (build metadata ignored).
    pub(crate) fn precedence(&self, other: &VersionRef<'_>) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| compare_prerelease(self.pre, other.pre))
    }
}

/// Strict SemVer 2.0, no `v` prefix: one pass over the bytes (this runs for
/// every tag, so no splitting into intermediate strings).
fn parse_strict(text: &str) -> Option<VersionRef<'_>> {
    let bytes = text.as_bytes();
    let mut i = 0;
    let major = parse_number(bytes, &mut i)?;
    expect(bytes, &mut i, b'.')?;
    let minor = parse_number(bytes, &mut i)?;
    expect(bytes, &mut i, b'.')?;
    let patch = parse_number(bytes, &mut i)?;
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

fn expect(bytes: &[u8], i: &mut usize, byte: u8) -> Option<()> {
    (bytes.get(*i) == Some(&byte)).then(|| *i += 1)
}

/// A numeric part: digits, no leading zero, fits in u64.
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
    let len = *i - start;
    if len == 0 || (len > 1 && bytes[start] == b'0') {
        return None;
    }
    Some(value)
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

/// SemVer 2.0 pre-release precedence; an empty pre-release (a release) is
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

fn compare_identifier(a: &str, b: &str) -> Ordering {
    let numeric = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    match (numeric(a), numeric(b)) {
        // Numbers compare by value: strip leading zeros, then longer is larger.
        (true, true) => {
            let a = a.trim_start_matches('0');
            let b = b.trim_start_matches('0');
            a.len().cmp(&b.len()).then_with(|| a.cmp(b))
        }
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.cmp(b),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn versions_and_non_versions() {
        let versions = [
            "1.2.3",
            "v1.2.3",
            "0.0.0",
            "1.2.3-rc.1",
            "1.2.3+build.5",
            "1.2.3-alpha-1.x+b",
            "18446744073709551615.0.0",
        ];
        for tag in versions {
            assert!(VersionRef::parse_tag(tag).is_some(), "{tag} is a version");
        }
        let not_versions = [
            "1.2",
            "v1",
            "1.2.3.4",
            "01.2.3",
            "1.02.3",
            "1.2.03",
            "vv1.2.3",
            "V1.2.3",
            "1.2.3-",
            "1.2.3+",
            "1.2.3-a..b",
            "1.2.3-01",
            "1.2.3-rc_1",
            "1.2.3 ",
            "",
            "latest",
            "18446744073709551616.0.0",
            "١.٢.٣",
        ];
        for tag in not_versions {
            assert!(
                VersionRef::parse_tag(tag).is_none(),
                "{tag} is not a version"
            );
        }
    }

    #[test]
    fn precedence_follows_semver() {
        let ordered = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
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
        let a = VersionRef::parse_tag("1.0.0+a").unwrap();
        let b = VersionRef::parse_tag("v1.0.0+b").unwrap();
        assert_eq!(a.precedence(&b), Ordering::Equal);
    }
}

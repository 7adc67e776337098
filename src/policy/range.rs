//! Semver ranges with the syntax and meaning of Masterminds/semver v3
//! constraints, which Flux's semver policy uses.
//!
//! `||` separates alternatives; inside one, comparators are joined by spaces or
//! commas (AND). A comparator is an operator (`=`, `!=`, `>`, `<`, `>=`, `=>`,
//! `<=`, `=<`, `~`, `~>`, `^`, or none) and a loose version (`v` prefix,
//! one to three parts, `x`/`X`/`*` wildcards); `A - B` (spaces required) is
//! `>= A, <= B`. A bare version without wildcards means exactly that version.
//!
//! Pre-releases: each comparator whose own version has no pre-release rejects
//! every pre-release version (Masterminds' rule, per comparator), so
//! `>=1.0.0-0` admits pre-releases and `>=1.0.0` does not.
//!
//! This is a port of the behaviour, not of the code: the operator functions
//! below keep Masterminds' quirks (e.g. `>1.1` is "minor greater than 1 within
//! major 1 or a greater major", `<=1.1` admits `1.1.9`).

use std::cmp::Ordering;
use std::fmt;

use super::version::{VersionRef, is_identifier, valid_prerelease};

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
    alternatives: Vec<Vec<Comparator>>,
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    TildeOrEqual,
    NotEqual,
    Greater,
    Less,
    GreaterOrEqual,
    LessOrEqual,
    Tilde,
    Caret,
}

/// Operators, longest first so that `>=` wins over `>`.
const OPERATORS: [(&str, Op); 11] = [
    ("!=", Op::NotEqual),
    (">=", Op::GreaterOrEqual),
    ("=>", Op::GreaterOrEqual),
    ("<=", Op::LessOrEqual),
    ("=<", Op::LessOrEqual),
    ("~>", Op::Tilde),
    (">", Op::Greater),
    ("<", Op::Less),
    ("=", Op::TildeOrEqual),
    ("~", Op::Tilde),
    ("^", Op::Caret),
];

#[derive(Debug, Clone)]
struct Comparator {
    op: Op,
    major: u64,
    minor: u64,
    patch: u64,
    pre: String,
    /// Some part was a wildcard or missing.
    dirty: bool,
    /// The minor part (and so the patch) was a wildcard or missing.
    minor_dirty: bool,
    /// Only the patch part was a wildcard or missing.
    patch_dirty: bool,
}

impl Range {
    /// Parses a Masterminds constraint string.
    pub fn parse(text: &str) -> Result<Self, RangeError> {
        let error = |reason: String| RangeError {
            range: text.to_string(),
            reason,
        };
        let mut alternatives = Vec::new();
        for segment in text.split("||") {
            alternatives.push(parse_alternative(segment).map_err(error)?);
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
        self.alternatives
            .iter()
            .any(|all| all.iter().all(|c| c.matches(version)))
    }
}

/// One `||` alternative: comparators separated by whitespace or a comma.
fn parse_alternative(segment: &str) -> Result<Vec<Comparator>, String> {
    let mut cursor = Cursor {
        text: segment,
        pos: 0,
    };
    let mut comparators = Vec::new();
    cursor.skip_whitespace();
    loop {
        if cursor.at_end() {
            return Err(if comparators.is_empty() {
                format!("empty constraint in {segment:?}")
            } else {
                format!("a comma is not followed by a constraint in {segment:?}")
            });
        }
        let op = cursor.operator();
        cursor.skip_whitespace();
        let first = cursor.version()?;
        let mut spaces = cursor.skip_whitespace();
        // `A - B` (no operator, spaces around the dash) is `>= A, <= B`.
        let hyphen = op.is_none()
            && spaces > 0
            && cursor.peek() == Some(b'-')
            && cursor.peek_at(1).is_some_and(|b| b.is_ascii_whitespace());
        if hyphen {
            cursor.pos += 1;
            cursor.skip_whitespace();
            let second = cursor.version()?;
            comparators.push(first.into_comparator(Op::GreaterOrEqual));
            comparators.push(second.into_comparator(Op::LessOrEqual));
            spaces = cursor.skip_whitespace();
        } else {
            comparators.push(first.into_comparator(op.unwrap_or(Op::TildeOrEqual)));
        }
        if cursor.at_end() {
            return Ok(comparators);
        }
        if cursor.peek() == Some(b',') {
            cursor.pos += 1;
            cursor.skip_whitespace();
        } else if spaces == 0 {
            let rest = &segment[cursor.pos..];
            return Err(format!(
                "unexpected {rest:?} in {segment:?}; separate constraints with a space or a comma"
            ));
        }
    }
}

struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

/// A version operand as written: parts may be wildcards (`None`).
struct Operand {
    major: Option<u64>,
    minor: Option<u64>,
    patch: Option<u64>,
    pre: String,
}

impl Operand {
    fn into_comparator(self, op: Op) -> Comparator {
        let (dirty, minor_dirty, patch_dirty) = match (self.major, self.minor, self.patch) {
            (None, _, _) => (true, false, false),
            (Some(_), None, _) => (true, true, false),
            (Some(_), Some(_), None) => (true, false, true),
            _ => (false, false, false),
        };
        // A wildcard zeroes itself and every part after it.
        let major = self.major.unwrap_or(0);
        let minor = if self.major.is_none() {
            0
        } else {
            self.minor.unwrap_or(0)
        };
        let patch = if self.major.is_none() || self.minor.is_none() {
            0
        } else {
            self.patch.unwrap_or(0)
        };
        Comparator {
            op,
            major,
            minor,
            patch,
            pre: self.pre,
            dirty,
            minor_dirty,
            patch_dirty,
        }
    }
}

impl<'a> Cursor<'a> {
    fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }
    fn peek(&self) -> Option<u8> {
        self.peek_at(0)
    }
    fn peek_at(&self, offset: usize) -> Option<u8> {
        self.text.as_bytes().get(self.pos + offset).copied()
    }
    fn skip_whitespace(&mut self) -> usize {
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.pos += 1;
        }
        self.pos - start
    }
    fn operator(&mut self) -> Option<Op> {
        let rest = &self.text[self.pos..];
        let (symbol, op) = OPERATORS.iter().find(|(s, _)| rest.starts_with(s))?;
        self.pos += symbol.len();
        Some(*op)
    }
    fn take_while(&mut self, accept: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(&accept) {
            self.pos += 1;
        }
        &self.text[start..self.pos]
    }
    /// `v?N(.N(.N)?)?(-pre)?(+build)?` where N is digits or a wildcard.
    fn version(&mut self) -> Result<Operand, String> {
        let start = self.pos;
        if self.peek() == Some(b'v') {
            self.pos += 1;
        }
        let mut parts: Vec<Option<u64>> = Vec::with_capacity(3);
        loop {
            let part = self.take_while(|b| b.is_ascii_digit() || matches!(b, b'x' | b'X' | b'*'));
            parts.push(match part {
                "x" | "X" | "*" => None,
                _ if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) => Some(
                    part.parse()
                        .map_err(|_| format!("number too large in {part:?}"))?,
                ),
                _ => {
                    let found = &self.text[start..];
                    return Err(format!("expected a version, found {found:?}"));
                }
            });
            if parts.len() == 3 || self.peek() != Some(b'.') {
                break;
            }
            self.pos += 1;
        }
        let identifier = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'.';
        let mut pre = "";
        if self.peek() == Some(b'-') {
            self.pos += 1;
            pre = self.take_while(identifier);
            if !valid_prerelease(pre) {
                return Err(format!("invalid pre-release {pre:?}"));
            }
        }
        if self.peek() == Some(b'+') {
            self.pos += 1;
            let build = self.take_while(identifier);
            if !build.split('.').all(is_identifier) {
                return Err(format!("invalid build metadata {build:?}"));
            }
        }
        if let Some(next) = self.peek()
            && !next.is_ascii_whitespace()
            && next != b','
        {
            let found = &self.text[start..];
            return Err(format!("invalid version in {found:?}"));
        }
        let mut parts = parts.into_iter();
        Ok(Operand {
            major: parts.next().flatten(),
            minor: parts.next().flatten(),
            patch: parts.next().flatten(),
            pre: pre.to_string(),
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

    fn matches(&self, v: &VersionRef<'_>) -> bool {
        // Only a comparator that names a pre-release admits pre-releases;
        // `!=` applies this only to wildcard operands.
        let rejects_prerelease = v.is_prerelease() && self.pre.is_empty();
        if rejects_prerelease && self.op != Op::NotEqual {
            return false;
        }
        let con = self.constraint_version();
        let order = v.precedence(&con);
        match self.op {
            Op::NotEqual => self.not_equal(v, rejects_prerelease),
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

    fn not_equal(&self, v: &VersionRef<'_>, rejects_prerelease: bool) -> bool {
        if self.dirty {
            if rejects_prerelease {
                return false;
            }
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

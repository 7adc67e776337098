//! The text of a semver range, read as Masterminds/semver v3.5 reads it
//! (`NewConstraint`), quirks included, so that a range Flux accepts is
//! accepted here with the same meaning and one it rejects is rejected.
//!
//! - Hyphen ranges are rewritten in the text before anything else: each
//!   `A - B` (whitespace around the dash) becomes `>= A, <= B `, and the
//!   whitespace around it goes with it. So `<3 1 - 2` becomes `<3>= 1, <= 2 `,
//!   which is invalid (a comma is needed: `<3, 1 - 2`). An operand here may
//!   contain `|` (Masterminds' pattern allows it), so in `1 - 2||3` the upper
//!   bound is `2||3`.
//! - Then `||` splits alternatives, and comparators inside one are separated
//!   by whitespace or a comma.
//! - An operand's parts are read up to the first wildcard; the parts after it
//!   are not read at all (`1.x.99999999999999999999` is `1.x`).
//! - The version built from an operand has at most 256 bytes.

use std::sync::LazyLock;

use regex::Regex;

use super::range::{Comparator, Op};
use super::version::{is_identifier, valid_prerelease};

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

/// The longest version Masterminds parses (`MaxVersionLen`).
const MAX_VERSION_LEN: usize = 256;

/// `A - B` with the whitespace around it, `A` and `B` being Masterminds'
/// operand pattern (parts of digits, `x`, `X`, `*` and `|`; pre-release;
/// build). Whitespace is Go's `\s`.
static HYPHEN_RANGE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    let operand = r"v?[0-9|xX*]+(?:\.[0-9|xX*]+)?(?:\.[0-9|xX*]+)?(?:-[0-9A-Za-z\-]+(?:\.[0-9A-Za-z\-]+)*)?(?:\+[0-9A-Za-z\-]+(?:\.[0-9A-Za-z\-]+)*)?";
    let space = r"[\t\n\x0C\r ]";
    Regex::new(&format!(
        "{space}*(?P<low>{operand}){space}+-{space}+(?P<high>{operand}){space}*"
    ))
    .ok()
});

/// Rewrites every hyphen range `A - B` into `>= A, <= B `, as Masterminds'
/// `rewriteRange` does: matches are found in the original text, and each
/// replaces the first occurrence of its text in the text rewritten so far.
pub(super) fn rewrite_hyphen_ranges(text: &str) -> String {
    let Some(pattern) = HYPHEN_RANGE.as_ref() else {
        // The pattern is a constant that compiles; without it, no rewrite.
        return text.to_string();
    };
    let mut rewritten = text.to_string();
    for captures in pattern.captures_iter(text) {
        let (Some(whole), Some(low), Some(high)) =
            (captures.get(0), captures.name("low"), captures.name("high"))
        else {
            continue;
        };
        let replacement = format!(">= {}, <= {} ", low.as_str(), high.as_str());
        rewritten = rewritten.replacen(whole.as_str(), &replacement, 1);
    }
    rewritten
}

/// One `||` alternative: comparators separated by whitespace or a comma.
pub(super) fn parse_alternative(segment: &str) -> Result<Vec<Comparator>, String> {
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
        let operand = cursor.operand()?;
        comparators.push(operand.into_comparator(op.unwrap_or(Op::TildeOrEqual)));
        let spaces = cursor.skip_whitespace();
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

/// A version operand as written: parts may be wildcards or missing (`None`).
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
        self.text.as_bytes().get(self.pos).copied()
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
    /// `v?P(.P(.P)?)?(-pre)?(+build)?` where P is digits or a wildcard.
    fn operand(&mut self) -> Result<Operand, String> {
        let start = self.pos;
        if self.peek() == Some(b'v') {
            self.pos += 1;
        }
        let mut parts: Vec<&str> = Vec::with_capacity(3);
        loop {
            let part =
                self.take_while(|b| b.is_ascii_digit() || matches!(b, b'x' | b'X' | b'*' | b'|'));
            if part.is_empty() {
                let found = &self.text[start..];
                return Err(format!("expected a version, found {found:?}"));
            }
            parts.push(part);
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
        let written = &self.text[start..self.pos];
        if let Some(next) = self.peek()
            && !next.is_ascii_whitespace()
            && next != b','
        {
            let found = &self.text[start..];
            return Err(format!("invalid version in {found:?}"));
        }
        // The parts up to the first wildcard are numbers; the rest is unread.
        let mut numbers = [None; 3];
        for (number, part) in numbers.iter_mut().zip(&parts) {
            if matches!(*part, "x" | "X" | "*") {
                break;
            }
            if !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("invalid version part {part:?} in {written:?}"));
            }
            *number = Some(
                part.parse()
                    .map_err(|_| format!("number too large in {written:?}"))?,
            );
        }
        // The version Masterminds builds: the operand as written, or its
        // parts up to the wildcard padded with `.0`, plus the pre-release.
        let built = match numbers {
            [Some(_), Some(_), Some(_)] => written.len(),
            [None, ..] => "0.0.0".len() + dash_and(pre),
            [Some(_), None, _] => parts[0].len() + ".0.0".len() + dash_and(pre),
            [Some(_), Some(_), None] => {
                parts[0].len() + 1 + parts[1].len() + ".0".len() + dash_and(pre)
            }
        };
        if built > MAX_VERSION_LEN {
            return Err(format!(
                "version {written:?} is longer than {MAX_VERSION_LEN} bytes"
            ));
        }
        Ok(Operand {
            major: numbers[0],
            minor: numbers[1],
            patch: numbers[2],
            pre: pre.to_string(),
        })
    }
}

/// The length of `-pre`, or 0 without a pre-release.
fn dash_and(pre: &str) -> usize {
    if pre.is_empty() { 0 } else { pre.len() + 1 }
}

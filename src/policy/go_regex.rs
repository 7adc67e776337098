//! Go (RE2) regular expressions, compiled with the `regex` crate.
//!
//! Flux compiles `filterTags.pattern` and `exclusionList` with Go's `regexp`.
//! The `regex` crate speaks almost the same language; this module rewrites the
//! few places where the meaning differs and rejects what neither can do:
//!
//! - `\d \w \s \b` (and `\D \W \S \B`) are ASCII in Go, Unicode in Rust: they
//!   become explicit ASCII classes (`\s` is Go's `[\t\n\f\r ]`, without `\v`).
//! - Inside a class Go reads `[`, `&&`, `--` and `~~` literally; Rust would
//!   read nested classes and set operations, so they are escaped.
//! - `{` that does not start a valid repetition is a literal in Go.
//! - Octal escapes (`\012`) become `\x{..}`.
//! - `\Q…\E` (literal text, up to `\E` or the end) is escaped.
//! - Rejected with a reason: look-around, backreferences (`\1`, `(?P=n)`),
//!   `\C`, `\Z`, flags other than `imsU`, repetition counts over
//!   1000, and escapes Go does not know (`\e`, `\<`-like letters).
//!
//! `(?P<name>…)` and `(?<name>…)` pass through unchanged.

use std::fmt::Write as _;

use regex::Regex;

/// Why a Go regular expression cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid regular expression {pattern:?}: {reason}")]
pub struct RegexError {
    /// The pattern as written.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Compiles a Go RE2 pattern into an equivalent `Regex`.
pub(crate) fn compile(pattern: &str) -> Result<Regex, RegexError> {
    let error = |reason: String| RegexError {
        pattern: pattern.to_string(),
        reason,
    };
    let translated = translate(pattern).map_err(error)?;
    regex::RegexBuilder::new(&translated)
        .build()
        .map_err(|e| error(rust_error_reason(&e)))
}

fn rust_error_reason(error: &regex::Error) -> String {
    match error {
        // The syntax error display spans several lines (pattern, caret, message).
        regex::Error::Syntax(text) => text
            .lines()
            .rev()
            .find(|line| line.starts_with("error:"))
            .map_or_else(
                || text.clone(),
                |line| line.trim_start_matches("error: ").to_string(),
            ),
        other => other.to_string(),
    }
}

const DIGIT: &str = "[0-9]";
const NOT_DIGIT: &str = "[^0-9]";
const WORD: &str = "[0-9A-Za-z_]";
const NOT_WORD: &str = "[^0-9A-Za-z_]";
const SPACE: &str = r"[\t\n\x0C\r ]";
const NOT_SPACE: &str = r"[^\t\n\x0C\r ]";
/// Go's limit on `{n,m}` counts.
const MAX_REPEAT: u32 = 1000;

/// Rewrites Go syntax into `regex` crate syntax with the same meaning.
fn translate(pattern: &str) -> Result<String, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut i = 0;
    // Inside `[...]`: position of the first member (where `]` is literal).
    let mut class_first: Option<usize> = None;
    let mut previous_dash = false;
    while i < chars.len() {
        let c = chars[i];
        if let Some(first) = class_first {
            let was_dash = previous_dash;
            previous_dash = false;
            match c {
                ']' if i != first => {
                    class_first = None;
                    out.push(']');
                }
                '\\' => i = escape(&chars, i, true, &mut out)?,
                '[' if chars.get(i + 1) == Some(&':') => {
                    // A POSIX class `[:name:]` is copied whole.
                    let end =
                        find_from(&chars, i + 2, ":]").ok_or("unterminated POSIX class `[:`")?;
                    out.extend(&chars[i..end + 2]);
                    i = end + 1;
                }
                '[' | '&' | '~' => {
                    out.push('\\');
                    out.push(c);
                }
                '-' => {
                    if was_dash {
                        out.push_str("\\-");
                    } else {
                        out.push('-');
                        previous_dash = true;
                    }
                }
                _ => out.push(c),
            }
            i += 1;
            continue;
        }
        match c {
            '\\' => i = escape(&chars, i, false, &mut out)?,
            '[' => {
                out.push('[');
                if chars.get(i + 1) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                class_first = Some(i + 1);
            }
            '(' if chars.get(i + 1) == Some(&'?') => i = group(&chars, i, &mut out)?,
            '{' => match repetition(&chars, i)? {
                Some(end) => {
                    out.extend(&chars[i..=end]);
                    i = end;
                }
                None => out.push_str("\\{"),
            },
            '}' => out.push_str("\\}"),
            _ => out.push(c),
        }
        i += 1;
    }
    if class_first.is_some() {
        return Err("missing closing `]`".to_string());
    }
    Ok(out)
}

fn find_from(chars: &[char], from: usize, needle: &str) -> Option<usize> {
    let needle: Vec<char> = needle.chars().collect();
    (from..chars.len()).find(|&j| chars[j..].starts_with(&needle))
}

/// Handles `\` at `i`; returns the index of the last character consumed.
fn escape(chars: &[char], i: usize, in_class: bool, out: &mut String) -> Result<usize, String> {
    let Some(&c) = chars.get(i + 1) else {
        return Err("trailing backslash".to_string());
    };
    let class = |out: &mut String, text: &str| out.push_str(text);
    match c {
        'd' => class(out, DIGIT),
        'D' => class(out, NOT_DIGIT),
        'w' => class(out, WORD),
        'W' => class(out, NOT_WORD),
        's' => class(out, SPACE),
        'S' => class(out, NOT_SPACE),
        'b' | 'B' | 'A' | 'z' if in_class => {
            return Err(format!("`\\{c}` is not allowed inside a character class"));
        }
        'b' => out.push_str(r"(?-u:\b)"),
        'B' => out.push_str(r"(?-u:\B)"),
        'A' | 'z' | 'a' | 'f' | 't' | 'n' | 'r' | 'v' => {
            out.push('\\');
            out.push(c);
        }
        'Q' if !in_class => {
            // `\Q…\E`: literal text up to `\E` or the end of the pattern.
            let end = find_from(chars, i + 2, "\\E");
            let literal: String = chars[i + 2..end.unwrap_or(chars.len())].iter().collect();
            out.push_str(&regex::escape(&literal));
            return Ok(end.map_or(chars.len() - 1, |end| end + 1));
        }
        'Q' | 'E' => {
            return Err(format!(
                "`\\{c}` is only allowed as `\\Q…\\E` quoting, outside a character class"
            ));
        }
        'p' | 'P' | 'x' => {
            // `\pL`, `\p{Greek}`, `\x7F`, `\x{10FFFF}`: copy the operand.
            let end = if chars.get(i + 2) == Some(&'{') {
                find_from(chars, i + 3, "}").ok_or(format!("missing `}}` after `\\{c}{{`"))?
            } else if c == 'x' {
                i + 3
            } else {
                i + 2
            };
            if end >= chars.len() {
                return Err(format!("incomplete `\\{c}` escape"));
            }
            out.extend(&chars[i..=end]);
            return Ok(end);
        }
        '1'..='9' if !chars.get(i + 2).is_some_and(|d| ('0'..='7').contains(d)) || c > '7' => {
            return Err(format!(
                "backreference `\\{c}` is not supported (Go RE2 has no backreferences)"
            ));
        }
        '0'..='7' => {
            let mut end = i + 1;
            let mut value = 0u32;
            while end < chars.len() && end < i + 4 && ('0'..='7').contains(&chars[end]) {
                value = value * 8 + chars[end].to_digit(8).unwrap_or(0);
                end += 1;
            }
            let _ = write!(out, "\\x{{{value:X}}}");
            return Ok(end - 1);
        }
        _ if c.is_ascii() && !c.is_ascii_alphanumeric() => {
            let escaped = regex::escape(c.encode_utf8(&mut [0; 4]));
            if in_class && escaped.len() == 1 && matches!(c, '&' | '~' | '-' | '[') {
                out.push('\\');
            }
            out.push_str(&escaped);
        }
        _ => return Err(format!("unknown escape `\\{c}`")),
    }
    Ok(i + 1)
}

/// Handles `(?` at `i`; returns the index of the last character consumed.
fn group(chars: &[char], i: usize, out: &mut String) -> Result<usize, String> {
    let rest: String = chars[i + 2..].iter().take(3).collect();
    if rest.starts_with('=') || rest.starts_with('!') {
        return Err(
            "look-ahead `(?=…)`/`(?!…)` is not supported (Go RE2 has no look-around)".into(),
        );
    }
    if rest.starts_with("<=") || rest.starts_with("<!") {
        return Err(
            "look-behind `(?<=…)`/`(?<!…)` is not supported (Go RE2 has no look-around)".into(),
        );
    }
    if rest.starts_with("P=") || rest.starts_with("P>") || rest.starts_with('&') {
        return Err("backreferences and recursion `(?P=…)` are not supported".into());
    }
    if rest.starts_with('<') || rest.starts_with("P<") {
        // A named group: copy through `>`; the name is checked by the compiler.
        let end = find_from(chars, i + 2, ">").ok_or("missing `>` after a group name")?;
        out.extend(&chars[i..=end]);
        return Ok(end);
    }
    // Flags: `(?flags)` or `(?flags:…)`, Go knows i, m, s and U.
    let mut j = i + 2;
    while let Some(&f) = chars.get(j) {
        match f {
            'i' | 'm' | 's' | 'U' | '-' => j += 1,
            ':' | ')' => {
                out.extend(&chars[i..=j]);
                return Ok(j);
            }
            other => {
                return Err(format!(
                    "unsupported group or flag `(?{other}` (Go RE2 knows i, m, s, U)"
                ));
            }
        }
    }
    Err("missing `)` after `(?`".to_string())
}

/// If `{` at `i` starts `{n}`, `{n,}` or `{n,m}`, the index of its `}`.
fn repetition(chars: &[char], i: usize) -> Result<Option<usize>, String> {
    let Some(close) = find_from(chars, i + 1, "}") else {
        return Ok(None);
    };
    let body: String = chars[i + 1..close].iter().collect();
    let (min, max) = match body.split_once(',') {
        Some((min, max)) => (min, Some(max)),
        None => (body.as_str(), None),
    };
    let number = |s: &str| -> Option<u32> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            None
        } else {
            Some(s.parse().unwrap_or(u32::MAX))
        }
    };
    let Some(low) = number(min) else {
        return Ok(None);
    };
    let high = match max {
        None => Some(low),
        Some("") => None,
        Some(max) => match number(max) {
            Some(high) => Some(high),
            None => return Ok(None),
        },
    };
    if low > MAX_REPEAT || high.is_some_and(|h| h > MAX_REPEAT) {
        return Err(format!(
            "repetition count in `{{{body}}}` is over Go's limit of {MAX_REPEAT}"
        ));
    }
    Ok(Some(close))
}

#[cfg(test)]
#[path = "go_regex_tests.rs"]
mod tests;

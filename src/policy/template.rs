//! `filterTags.extract`: a template expanded from the pattern's match, with
//! Go's `regexp.Expand` semantics.
//!
//! `$name` takes the longest run of letters, digits and `_` (Go uses Unicode
//! letters and digits here); `${name}` delimits it; an all-digit name without a
//! leading zero (below 10^8) is a group number; `$$` is a `$`. A group that does
//! not exist or did not take part in the match expands to nothing. A `$` that
//! does not start a valid reference is kept as text. (The `regex` crate's own
//! `expand` differs: it reads `$01` as group 1, Go as the group named `01`.)
//!
//! Group names are resolved once, when the template is compiled.

use regex::{CaptureLocations, Regex};

/// A compiled extract template.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Group(usize),
}

impl Template {
    /// Compiles `template` against the groups of `regex`.
    pub(crate) fn compile(template: &str, regex: &Regex) -> Self {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut rest = template;
        while let Some(dollar) = rest.find('$') {
            text.push_str(&rest[..dollar]);
            rest = &rest[dollar + 1..];
            if let Some(after) = rest.strip_prefix('$') {
                text.push('$');
                rest = after;
                continue;
            }
            let Some((name, after)) = reference(rest) else {
                text.push('$');
                continue;
            };
            rest = after;
            if let Some(index) = group_index(name, regex) {
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Group(index));
            }
        }
        text.push_str(rest);
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Self { pieces }
    }

    /// The group whose text is the whole value, when the template is just `$group`
    /// (the common case: the value is then a slice of the tag, no copy needed).
    pub(crate) fn single_group(&self) -> Option<usize> {
        match self.pieces.as_slice() {
            [Piece::Group(index)] => Some(*index),
            _ => None,
        }
    }

    /// Appends the expansion for one match to `out`.
    pub(crate) fn expand(&self, haystack: &str, locations: &CaptureLocations, out: &mut String) {
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Group(index) => {
                    if let Some((start, end)) = locations.get(*index) {
                        out.push_str(&haystack[start..end]);
                    }
                }
            }
        }
    }
}

/// Parses `name`, `{name}` after a `$`; returns the name and the rest.
fn reference(text: &str) -> Option<(&str, &str)> {
    let (braced, body) = match text.strip_prefix('{') {
        Some(body) => (true, body),
        None => (false, text),
    };
    let end = body
        .char_indices()
        .find(|&(_, c)| !(c.is_alphanumeric() || c == '_'))
        .map_or(body.len(), |(i, _)| i);
    if end == 0 {
        return None;
    }
    let name = &body[..end];
    if braced {
        let rest = body[end..].strip_prefix('}')?;
        Some((name, rest))
    } else {
        Some((name, &body[end..]))
    }
}

/// Go: all digits, no leading zero, below 10^8 is a number; otherwise a name.
fn group_index(name: &str, regex: &Regex) -> Option<usize> {
    let numeric = name.bytes().all(|b| b.is_ascii_digit())
        && !(name.len() > 1 && name.starts_with('0'))
        && name.len() <= 8;
    if numeric {
        let index: usize = name.parse().ok()?;
        return (index < regex.captures_len()).then_some(index);
    }
    regex
        .capture_names()
        .position(|candidate| candidate == Some(name))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn expand(pattern: &str, template: &str, tag: &str) -> String {
        let regex = Regex::new(pattern).unwrap();
        let template = Template::compile(template, &regex);
        let mut locations = regex.capture_locations();
        regex.captures_read(&mut locations, tag).unwrap();
        let mut out = String::new();
        template.expand(tag, &locations, &mut out);
        out
    }

    #[test]
    fn go_expand_semantics() {
        let pattern = r"^(?P<name>[a-z]+)-(?P<ts>\d+)(?:-(?P<opt>x))?$";
        let cases = [
            ("$ts", "1700"),
            ("${ts}", "1700"),
            ("$2", "1700"),
            ("${2}", "1700"),
            ("$0", "main-1700"),
            ("$name.$ts", "main.1700"),
            ("${name}x", "mainx"),
            ("$namex", ""),
            ("$1x", ""),
            ("$01", ""),
            ("$9", ""),
            ("$opt", ""),
            ("$missing-$ts", "-1700"),
            ("$$ts", "$ts"),
            ("$", "$"),
            ("a$-b", "a$-b"),
            ("${ts", "${ts"),
            ("${}", "${}"),
            ("v$1", "vmain"),
            ("$tsé", ""),
        ];
        for (template, expected) in cases {
            assert_eq!(
                expand(pattern, template, "main-1700"),
                expected,
                "{template}"
            );
        }
    }

    #[test]
    fn single_group_templates_are_recognised() {
        let regex = Regex::new(r"(?P<v>\d+)-(x)").unwrap();
        assert_eq!(Template::compile("$v", &regex).single_group(), Some(1));
        assert_eq!(Template::compile("${2}", &regex).single_group(), Some(2));
        assert_eq!(Template::compile("v$v", &regex).single_group(), None);
    }
}

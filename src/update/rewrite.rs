//! Rewriting one text: marked scalars get their policy's value, nothing else moves.
//!
//! [`rewrite`] scans the text ([`super::scan`]), looks up each marker's policy
//! result, and splices the new value over the scalar's bytes only. The quoting
//! style is kept: a single-quoted value stays single-quoted, a double-quoted one
//! is escaped as needed. A plain scalar stays plain unless the new value would
//! not read back as the same string (`1.10` would become a number, `on` a
//! boolean); then it is double-quoted, so the file keeps meaning a string.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use regex::Regex;

use super::object::ObjectId;
use super::results::{PolicyId, PolicyResults, Setter, SetterSuffix};
use super::scan::{IgnoredMarker, IgnoredReason, QuoteStyle, YamlError, scan};

/// One marked value that changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkerRewrite {
    /// The 1-based line of the value.
    pub line: usize,
    /// The marker's setter.
    pub setter: Setter,
    /// The value before.
    pub old: String,
    /// The value after.
    pub new: String,
    /// The object (YAML document) the value is in, when the document has one.
    pub object: Option<ObjectId>,
}

/// The outcome of rewriting one text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rewrite {
    /// The new text, or `None` when no value changed (the text must not be written).
    pub content: Option<String>,
    /// The values that changed, in source order.
    pub changes: Vec<MarkerRewrite>,
    /// Markers that were left alone, and why.
    pub ignored: Vec<IgnoredMarker>,
    /// Every policy a marker names (applied, unchanged or left alone).
    pub policies_named: BTreeSet<PolicyId>,
}

/// Applies `results` to every marker in `text`.
///
/// Idempotent: rewriting the output again with the same results changes nothing.
/// Fails only when the text is not valid YAML; the text is then left alone.
pub fn rewrite(text: &str, results: &PolicyResults) -> Result<Rewrite, YamlError> {
    let scan = scan(text)?;
    let mut out = Rewrite {
        ignored: scan.ignored,
        ..Rewrite::default()
    };
    let mut content = String::new();
    let mut copied = 0;
    for marked in scan.marked {
        out.policies_named.insert(marked.setter.policy.clone());
        let Some(result) = results.get(&marked.setter.policy) else {
            out.ignored.push(IgnoredMarker {
                line: marked.line,
                reason: IgnoredReason::NoPolicyResult,
            });
            continue;
        };
        let Some(new) = result.value_for(marked.setter.suffix) else {
            debug_assert_eq!(marked.setter.suffix, Some(SetterSuffix::Digest));
            out.ignored.push(IgnoredMarker {
                line: marked.line,
                reason: IgnoredReason::NoDigest,
            });
            continue;
        };
        if marked.value == new {
            continue;
        }
        let (Some(before), true) = (
            text.get(copied..marked.span.start),
            text.is_char_boundary(marked.span.end),
        ) else {
            // The scanner's spans are ordered and on char boundaries; anything
            // else would be a parser bug, and the safe answer is to not touch it.
            continue;
        };
        content.push_str(before);
        content.push_str(&encode(&new, marked.style, marked.tagged));
        copied = marked.span.end;
        out.changes.push(MarkerRewrite {
            line: marked.line,
            setter: marked.setter,
            old: marked.value.into_owned(),
            new,
            object: marked.object,
        });
    }
    if !out.changes.is_empty() {
        content.push_str(text.get(copied..).unwrap_or_default());
        out.content = Some(content);
    }
    Ok(out)
}

/// Writes `value` as a scalar in (or as close as possible to) `style`.
pub fn encode(value: &str, style: QuoteStyle, tagged: bool) -> String {
    match style {
        QuoteStyle::Plain if is_plain_safe(value, tagged) => value.to_string(),
        QuoteStyle::SingleQuoted if !value.chars().any(char::is_control) => {
            format!("'{}'", value.replace('\'', "''"))
        }
        _ => double_quote(value),
    }
}

/// Whether `value` written unquoted reads back as the same string.
///
/// Deliberately narrow: the characters of image references, starting with a
/// letter or digit, and nothing that YAML 1.1 or 1.2 would read as a number,
/// boolean or null (unless the scalar has an explicit tag).
fn is_plain_safe(value: &str, tagged: bool) -> bool {
    let bytes = value.as_bytes();
    let charset_ok = bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && !value.ends_with(':')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"._/:@+-".contains(b));
    charset_ok && (tagged || !reads_as_non_string(value))
}

fn reads_as_non_string(value: &str) -> bool {
    static NUMBER: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(concat!(
            r"^[-+]?(?:0b[01_]+|0o[0-7_]+|0x[0-9a-fA-F_]+",
            r"|[0-9][0-9_]*(?::[0-5]?[0-9])*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?",
            r"|\.[0-9_]+(?:[eE][-+]?[0-9]+)?|\.(?:inf|Inf|INF|nan|NaN|NAN))$",
        ))
        .ok()
    });
    const WORDS: [&str; 10] = [
        "y", "n", "yes", "no", "true", "false", "on", "off", "null", "~",
    ];
    WORDS.iter().any(|w| value.eq_ignore_ascii_case(w))
        // Without the pattern (it is a constant, so never), quote everything.
        || NUMBER.as_ref().is_none_or(|re| re.is_match(value))
}

fn double_quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || c == '\u{feff}' => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::ImageReference;
    use crate::update::results::{PolicyId, PolicyResult};

    fn results(pairs: &[(&str, &str)]) -> PolicyResults {
        pairs
            .iter()
            .map(|(id, image)| {
                (
                    PolicyId::parse(id).unwrap(),
                    PolicyResult::new(ImageReference::parse(image).unwrap()).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn only_the_scalar_bytes_change() {
        let text = "a: &x  nginx:1   #  {\"$imagepolicy\": \"ns:p\"}  \r\nb: nginx:1\r\n";
        let out = rewrite(text, &results(&[("ns:p", "nginx:2")])).unwrap();
        assert_eq!(
            out.content.unwrap(),
            "a: &x  nginx:2   #  {\"$imagepolicy\": \"ns:p\"}  \r\nb: nginx:1\r\n"
        );
        assert_eq!(out.changes[0].old, "nginx:1");
        assert_eq!(out.changes[0].new, "nginx:2");
    }

    #[test]
    fn unchanged_values_give_no_content() {
        let text = "a: \"nginx:2\" # {\"$imagepolicy\": \"ns:p\"}\n";
        let out = rewrite(text, &results(&[("ns:p", "nginx:2")])).unwrap();
        assert_eq!(out.content, None);
        assert!(out.changes.is_empty() && out.ignored.is_empty(), "{out:?}");
        assert_eq!(
            out.policies_named.into_iter().collect::<Vec<_>>(),
            [PolicyId::parse("ns:p").unwrap()],
            "a marker whose value already matches still names its policy"
        );
    }

    #[test]
    fn quoting_style_is_kept_and_escaped() {
        assert_eq!(encode("a'b", QuoteStyle::SingleQuoted, false), "'a''b'");
        assert_eq!(
            encode("a\"b\\", QuoteStyle::DoubleQuoted, false),
            "\"a\\\"b\\\\\""
        );
        assert_eq!(encode("v1.2.3", QuoteStyle::Plain, false), "v1.2.3");
        assert_eq!(encode("1.2.3", QuoteStyle::Plain, false), "1.2.3");
        assert_eq!(
            encode("ghcr.io/a/b:1@sha256:00", QuoteStyle::Plain, false),
            "ghcr.io/a/b:1@sha256:00"
        );
    }

    #[test]
    fn plain_values_that_would_change_type_are_quoted() {
        for value in [
            "1.10", "10", "1e5", "0x1F", "1_000", "on", "No", "null", "20:30", ".5",
        ] {
            assert_eq!(
                encode(value, QuoteStyle::Plain, false),
                format!("\"{value}\"")
            );
        }
        assert_eq!(encode("1.10", QuoteStyle::Plain, true), "1.10");
        assert_eq!(encode("a b", QuoteStyle::Plain, false), "\"a b\"");
    }

    #[test]
    fn missing_results_and_digests_are_reported() {
        let text = "a: x:1 # {\"$imagepolicy\": \"ns:none\"}\nb: d # {\"$imagepolicy\": \"ns:p:digest\"}\n";
        let out = rewrite(text, &results(&[("ns:p", "x:2")])).unwrap();
        assert_eq!(out.content, None);
        let reasons: Vec<_> = out.ignored.into_iter().map(|i| i.reason).collect();
        assert_eq!(
            reasons,
            vec![IgnoredReason::NoPolicyResult, IgnoredReason::NoDigest]
        );
    }
}

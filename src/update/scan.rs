//! The marker scanner: which scalars of a YAML text carry a `$imagepolicy` marker.
//!
//! The text goes through a YAML event parser ([`granit_parser`]) once. That
//! validates it (an invalid file is reported, never half-rewritten) and yields
//! the byte span, line and style of every scalar and every comment. Because
//! comments come from the parser, `#` inside quoted strings and block scalars
//! (`|`, `>`) is never mistaken for a marker (invariant 2).
//!
//! A comment is a marker when its text (after the leading `#`s) is a JSON object
//! whose `"$imagepolicy"` key holds a [`Setter`]. It marks the scalar it follows
//! on the same line, with only blanks between them: `key: value # marker` and
//! `- value # marker`. Anything else (a comment after a key, after a flow
//! collection, after a block scalar header, after a multi-line scalar) is listed
//! in [`Scan::ignored`] with the reason, and nothing is rewritten for it.

use std::borrow::Cow;
use std::ops::Range;

use granit_parser::{Event, Parser, ScalarStyle};

use super::object::{ObjectId, ObjectTracker};
use super::results::Setter;

/// The key every marker carries.
pub const MARKER_KEY: &str = "$imagepolicy";

/// The literal files are screened for before any parsing (as Flux does).
pub const MARKER_TOKEN: &str = "\"$imagepolicy\"";

/// How a marked scalar is written in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuoteStyle {
    /// Unquoted.
    Plain,
    /// `'single quoted'`.
    SingleQuoted,
    /// `"double quoted"`.
    DoubleQuoted,
}

/// A scalar with a marker on its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkedScalar<'a> {
    /// What the marker names.
    pub setter: Setter,
    /// The scalar's bytes in the text, quotes included (anchor and tag excluded).
    pub span: Range<usize>,
    /// The 1-based line of the scalar.
    pub line: usize,
    /// How the scalar is quoted.
    pub style: QuoteStyle,
    /// Whether the scalar has an explicit tag (`!!str value`).
    pub tagged: bool,
    /// The scalar's value (escapes and quotes resolved).
    pub value: Cow<'a, str>,
    /// The object (YAML document) it is in, when the document has one.
    pub object: Option<ObjectId>,
}

/// A `$imagepolicy` comment that changed nothing, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredMarker {
    /// The 1-based line of the comment.
    pub line: usize,
    /// Why it is not applied.
    pub reason: IgnoredReason,
}

/// Why a comment mentioning `$imagepolicy` was left alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IgnoredReason {
    /// The comment is not a JSON object with a string `"$imagepolicy"` value.
    NotAMarker,
    /// The `"$imagepolicy"` value is not `NAMESPACE:NAME[:tag|:name|:digest]`.
    InvalidSetter(String),
    /// No single-line scalar value precedes the comment on its line.
    NoScalar,
    /// No result was given for the policy the marker names.
    NoPolicyResult,
    /// The marker asks for a digest and the policy result has none.
    NoDigest,
}

impl std::fmt::Display for IgnoredReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotAMarker => f.write_str("comment is not a JSON object with a \"$imagepolicy\" string"),
            Self::InvalidSetter(text) => write!(
                f,
                "setter {text:?} is not NAMESPACE:NAME with an optional :tag, :name or :digest"
            ),
            Self::NoScalar => f.write_str(
                "no single-line scalar value precedes the marker on its line (keys, flow collections and block scalars are not marked)",
            ),
            Self::NoPolicyResult => f.write_str("no result for the policy the marker names"),
            Self::NoDigest => {
                f.write_str("the marker asks for a digest and the policy result has none")
            }
        }
    }
}

/// Everything the scanner found in one text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan<'a> {
    /// Marked scalars, in source order.
    pub marked: Vec<MarkedScalar<'a>>,
    /// Marker-like comments that mark nothing.
    pub ignored: Vec<IgnoredMarker>,
}

/// The text is not valid YAML.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at line {line} column {column}")]
pub struct YamlError {
    /// What the parser reported.
    pub message: String,
    /// 1-based line of the error.
    pub line: usize,
    /// 1-based column of the error.
    pub column: usize,
}

/// A scalar that ends right before a `#` on its line.
struct Candidate<'a> {
    span: Range<usize>,
    line: usize,
    style: QuoteStyle,
    tagged: bool,
    value: Cow<'a, str>,
    /// Why it cannot be marked, if it cannot.
    unmarkable: bool,
}

/// A comment that mentions the marker key.
struct MarkerComment<'a> {
    start: usize,
    line: usize,
    text: Cow<'a, str>,
}

/// One open collection while walking the event stream.
struct Frame {
    mapping: bool,
    children: usize,
}

/// Parses `text` as YAML and returns its marked scalars.
///
/// Fails only when the text is not valid YAML. Never panics on any input.
pub fn scan(text: &str) -> Result<Scan<'_>, YamlError> {
    let bytes = text.as_bytes();
    let mut candidates: Vec<Candidate<'_>> = Vec::new();
    let mut comments: Vec<MarkerComment<'_>> = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut objects = ObjectTracker::default();
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|error| yaml_error(&error))?;
        let is_node = matches!(
            event,
            Event::Scalar(..)
                | Event::Alias(..)
                | Event::UnresolvedAlias(..)
                | Event::SequenceStart(..)
                | Event::MappingStart(..)
        );
        let mut is_key = false;
        if is_node && let Some(frame) = stack.last_mut() {
            is_key = frame.mapping && frame.children % 2 == 0;
            frame.children += 1;
        }
        match &event {
            Event::DocumentStart(..) => {
                objects.document_start(span.start.byte_offset().unwrap_or(0))
            }
            Event::Scalar(value, ..) => objects.scalar(value),
            Event::SequenceStart(..) => objects.start_collection(false),
            Event::MappingStart(..) => objects.start_collection(true),
            Event::SequenceEnd | Event::MappingEnd => objects.end_collection(),
            Event::Alias(..) | Event::UnresolvedAlias(..) => objects.alias(),
            _ => {}
        }
        match event {
            Event::Scalar(value, style, _anchor, tag) => {
                let (Some(start), Some(end)) = (span.start.byte_offset(), span.end.byte_offset())
                else {
                    continue;
                };
                if !followed_by_comment(bytes, end) {
                    continue;
                }
                let style = quote_style(style);
                let single_line = span.start.line() == span.end.line();
                candidates.push(Candidate {
                    span: start..end,
                    line: span.end.line(),
                    style: style.unwrap_or(QuoteStyle::Plain),
                    tagged: tag.is_some(),
                    value,
                    unmarkable: is_key || style.is_none() || !single_line || start >= end,
                });
            }
            Event::SequenceStart(..) => stack.push(Frame {
                mapping: false,
                children: 0,
            }),
            Event::MappingStart(..) => stack.push(Frame {
                mapping: true,
                children: 0,
            }),
            Event::SequenceEnd | Event::MappingEnd => {
                stack.pop();
            }
            Event::Comment(comment, _placement) => {
                if memchr::memmem::find(comment.as_bytes(), MARKER_KEY.as_bytes()).is_some()
                    && let Some(start) = span.start.byte_offset()
                {
                    comments.push(MarkerComment {
                        start,
                        line: span.start.line(),
                        text: comment,
                    });
                }
            }
            _ => {}
        }
    }
    let mut scan = match_comments(bytes, candidates, comments);
    for marked in &mut scan.marked {
        marked.object = objects.object_at(marked.span.start);
    }
    Ok(scan)
}

/// The [`YamlError`] of a parser error (shared with the annotation tree).
pub(crate) fn yaml_error(error: &granit_parser::ScanError) -> YamlError {
    YamlError {
        message: error.info().to_string(),
        line: error.marker().line(),
        column: error.marker().col() + 1,
    }
}

/// The quoting of a flow scalar; `None` for block scalars (`|`, `>`), which are never rewritten.
pub(crate) fn quote_style(style: ScalarStyle) -> Option<QuoteStyle> {
    match style {
        ScalarStyle::Plain => Some(QuoteStyle::Plain),
        ScalarStyle::SingleQuoted => Some(QuoteStyle::SingleQuoted),
        ScalarStyle::DoubleQuoted => Some(QuoteStyle::DoubleQuoted),
        _ => None,
    }
}

/// Pairs each marker comment with the scalar right before it on its line.
fn match_comments<'a>(
    bytes: &[u8],
    mut candidates: Vec<Candidate<'a>>,
    mut comments: Vec<MarkerComment<'a>>,
) -> Scan<'a> {
    candidates.sort_by_key(|c| c.span.end);
    comments.sort_by_key(|c| c.start);
    let mut scan = Scan::default();
    for comment in comments {
        let setter = match marker_setter(&comment.text) {
            Ok(setter) => setter,
            Err(reason) => {
                scan.ignored.push(IgnoredMarker {
                    line: comment.line,
                    reason,
                });
                continue;
            }
        };
        let scalar_end = skip_blanks_back(bytes, comment.start);
        let first = candidates.partition_point(|c| c.span.end < scalar_end);
        let found = candidates
            .iter_mut()
            .skip(first)
            .take_while(|c| c.span.end == scalar_end)
            .find(|c| !c.unmarkable && c.line == comment.line);
        match found {
            Some(candidate) => {
                candidate.unmarkable = true; // one marker per scalar
                scan.marked.push(MarkedScalar {
                    setter,
                    span: candidate.span.clone(),
                    line: candidate.line,
                    style: candidate.style,
                    tagged: candidate.tagged,
                    value: std::mem::take(&mut candidate.value),
                    object: None,
                });
            }
            None => scan.ignored.push(IgnoredMarker {
                line: comment.line,
                reason: IgnoredReason::NoScalar,
            }),
        }
    }
    scan
}

/// Reads the setter out of a comment's text (everything after the first `#`).
///
/// Like Flux, extra leading `#`s and whitespace around the JSON are allowed.
pub fn marker_setter(comment: &str) -> Result<Setter, IgnoredReason> {
    let json = comment.trim_start_matches('#').trim();
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(json).map_err(|_| IgnoredReason::NotAMarker)?;
    let Some(serde_json::Value::String(setter)) = object.get(MARKER_KEY) else {
        return Err(IgnoredReason::NotAMarker);
    };
    Setter::parse(setter).map_err(|_| IgnoredReason::InvalidSetter(setter.clone()))
}

/// Whether only blanks separate `end` from a `#`.
fn followed_by_comment(bytes: &[u8], end: usize) -> bool {
    bytes
        .get(end..)
        .and_then(|rest| rest.iter().find(|b| !matches!(b, b' ' | b'\t')))
        == Some(&b'#')
}

/// The position after the last non-blank byte before `position`.
fn skip_blanks_back(bytes: &[u8], position: usize) -> usize {
    let head = bytes.get(..position).unwrap_or(bytes);
    head.iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(0, |i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setters(text: &str) -> Vec<(usize, String, String)> {
        scan(text)
            .unwrap()
            .marked
            .iter()
            .map(|m| {
                (
                    m.line,
                    m.setter.to_string(),
                    text[m.span.clone()].to_string(),
                )
            })
            .collect()
    }

    fn ignored(text: &str) -> Vec<(usize, IgnoredReason)> {
        scan(text)
            .unwrap()
            .ignored
            .into_iter()
            .map(|i| (i.line, i.reason))
            .collect()
    }

    #[test]
    fn map_values_and_sequence_items_are_marked() {
        let text = "a: nginx:1 # {\"$imagepolicy\": \"ns:p\"}\nb:\n  - 'x:2'\t#{\"$imagepolicy\":\"ns:q:tag\"}\n";
        assert_eq!(
            setters(text),
            vec![
                (1, "ns:p".into(), "nginx:1".into()),
                (3, "ns:q:tag".into(), "'x:2'".into())
            ]
        );
    }

    #[test]
    fn anchors_and_tags_stay_outside_the_span() {
        let text = "a: &img !!str \"nginx:1\" # {\"$imagepolicy\": \"ns:p\"}\n";
        let scan = scan(text).unwrap();
        assert_eq!(&text[scan.marked[0].span.clone()], "\"nginx:1\"");
        assert!(scan.marked[0].tagged);
        assert_eq!(scan.marked[0].value, "nginx:1");
    }

    #[test]
    fn markers_inside_strings_and_block_scalars_are_text() {
        let text = concat!(
            "a: |\n  x: y # {\"$imagepolicy\": \"ns:p\"}\n",
            "b: 'v # {\"$imagepolicy\": \"ns:p\"}'\n",
            "c: >- # {\"$imagepolicy\": \"ns:p\"}\n  folded\n",
        );
        assert!(setters(text).is_empty());
        assert_eq!(ignored(text), vec![(4, IgnoredReason::NoScalar)]);
    }

    #[test]
    fn keys_flow_collections_and_multiline_scalars_are_not_marked() {
        let text = concat!(
            "a: # {\"$imagepolicy\": \"ns:p\"}\n  v\n",
            "b: [x] # {\"$imagepolicy\": \"ns:p\"}\n",
            "? k # {\"$imagepolicy\": \"ns:p\"}\n: v\n",
            "c: one\n  two # {\"$imagepolicy\": \"ns:p\"}\n",
        );
        assert!(setters(text).is_empty());
        assert_eq!(ignored(text).len(), 4);
    }

    #[test]
    fn non_markers_are_reported_not_applied() {
        let text = concat!(
            "a: x # $imagepolicy: ns:p\n",
            "b: x # {\"imagepolicy\": \"ns:p\", \"note\": \"$imagepolicy\"}\n",
            "c: x # {\"$imagepolicy\": 3}\n",
            "d: x # {\"$imagepolicy\": \"ns:p:version\"}\n",
        );
        assert!(setters(text).is_empty());
        assert_eq!(
            ignored(text),
            vec![
                (1, IgnoredReason::NotAMarker),
                (2, IgnoredReason::NotAMarker),
                (3, IgnoredReason::NotAMarker),
                (4, IgnoredReason::InvalidSetter("ns:p:version".into())),
            ]
        );
    }

    #[test]
    fn invalid_yaml_is_an_error_with_a_position() {
        let error = scan("a: [1, 2\nb: c\n").unwrap_err();
        assert!(error.line >= 1, "{error}");
    }

    #[test]
    fn crlf_and_bom_keep_byte_offsets() {
        let text = "\u{feff}a: x:1 # {\"$imagepolicy\": \"ns:p\"}\r\nb: y\r\n";
        let m = &scan(text).unwrap().marked[0];
        assert_eq!(&text[m.span.clone()], "x:1");
        assert_eq!(m.line, 1);
    }
}

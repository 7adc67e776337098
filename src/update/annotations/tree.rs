//! A YAML text as a tree of nodes that remember their bytes.
//!
//! The same event parser as the marker scanner ([`granit_parser`], through
//! [`super::super::scan`]'s error and style helpers) turns each document into
//! mappings, sequences and scalars. Every scalar keeps its byte span (quotes
//! included, anchor and tag excluded), its line and its quoting, so a value can
//! be replaced in place with [`super::super::rewrite::encode`] and every other
//! byte of the file kept. Block scalars (`|`, `>`) have no quoting style and are
//! never rewritten (invariant 2). Aliases are kept as opaque leaves: nothing is
//! read or written through them.

use std::borrow::Cow;
use std::ops::Range;

use granit_parser::{Event, Options, Parser};

use crate::update::scan::{QuoteStyle, YamlError, quote_style, yaml_error};

/// A scalar's text and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scalar<'a> {
    /// The value, escapes and quotes resolved.
    pub value: Cow<'a, str>,
    /// The bytes of the scalar in the text (quotes included).
    pub span: Range<usize>,
    /// The 1-based line the scalar starts on.
    pub line: usize,
    /// Whether the scalar starts and ends on the same line.
    pub single_line: bool,
    /// The quoting; `None` for block scalars.
    pub style: Option<QuoteStyle>,
    /// Whether the scalar has an explicit tag (`!!str`).
    pub tagged: bool,
}

impl Scalar<'_> {
    /// Whether the value can be replaced in place: a single-line flow scalar with bytes.
    pub fn is_rewritable(&self) -> bool {
        self.style.is_some() && self.single_line && self.span.start < self.span.end
    }
}

/// One node of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node<'a> {
    /// A scalar.
    Scalar(Scalar<'a>),
    /// A mapping: key and value nodes in source order.
    Mapping(Vec<(Node<'a>, Node<'a>)>),
    /// A sequence.
    Sequence(Vec<Node<'a>>),
    /// An alias (`*name`), or an empty document's placeholder: never followed.
    Opaque,
}

impl<'a> Node<'a> {
    /// The value of the first entry whose key is the scalar `key`.
    pub fn get(&self, key: &str) -> Option<&Node<'a>> {
        self.entry(key).map(|(_, value)| value)
    }

    /// The first entry (key and value) whose key is the scalar `key`.
    pub fn entry(&self, key: &str) -> Option<(&Scalar<'a>, &Node<'a>)> {
        let Node::Mapping(entries) = self else {
            return None;
        };
        entries.iter().find_map(|(k, v)| match k {
            Node::Scalar(s) if s.value == key => Some((s, v)),
            _ => None,
        })
    }

    /// The node at `path` (mapping keys), if every step exists.
    pub fn at(&self, path: &[&str]) -> Option<&Node<'a>> {
        path.iter().try_fold(self, |node, key| node.get(key))
    }

    /// The scalar this node is, if it is one.
    pub fn as_scalar(&self) -> Option<&Scalar<'a>> {
        match self {
            Node::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// The value of this node if it is a scalar.
    pub fn as_str(&self) -> Option<&str> {
        self.as_scalar().map(|s| s.value.as_ref())
    }

    /// The string entries of a mapping (`metadata.annotations`): key scalar, value scalar.
    pub fn string_entries(&self) -> Vec<(&Scalar<'a>, &Scalar<'a>)> {
        let Node::Mapping(entries) = self else {
            return Vec::new();
        };
        entries
            .iter()
            .filter_map(|(k, v)| Some((k.as_scalar()?, v.as_scalar()?)))
            .collect()
    }

    /// The items of a sequence (empty for anything else).
    pub fn items(&self) -> &[Node<'a>] {
        match self {
            Node::Sequence(items) => items,
            _ => &[],
        }
    }
}

/// A collection being built.
enum Open<'a> {
    Mapping(Vec<(Node<'a>, Node<'a>)>, Option<Node<'a>>),
    Sequence(Vec<Node<'a>>),
}

/// Parses every document of `text`. Fails only when the text is not valid YAML.
pub(crate) fn parse(text: &str) -> Result<Vec<Node<'_>>, YamlError> {
    let mut options = Options::default();
    options.set_emit_comments(false);
    let mut documents = Vec::new();
    let mut stack: Vec<Open<'_>> = Vec::new();
    let mut root: Option<Node<'_>> = None;
    for event in Parser::new_from_str_with_options(text, options) {
        let (event, span) = event.map_err(|error| yaml_error(&error))?;
        let node = match event {
            Event::Scalar(value, style, _anchor, tag) => {
                let (Some(start), Some(end)) = (span.start.byte_offset(), span.end.byte_offset())
                else {
                    continue;
                };
                Node::Scalar(Scalar {
                    value,
                    span: start..end,
                    line: span.start.line(),
                    single_line: span.start.line() == span.end.line(),
                    style: quote_style(style),
                    tagged: tag.is_some(),
                })
            }
            Event::Alias(..) | Event::UnresolvedAlias(..) => Node::Opaque,
            Event::MappingStart(..) => {
                stack.push(Open::Mapping(Vec::new(), None));
                continue;
            }
            Event::SequenceStart(..) => {
                stack.push(Open::Sequence(Vec::new()));
                continue;
            }
            Event::MappingEnd | Event::SequenceEnd => match stack.pop() {
                Some(Open::Mapping(entries, _)) => Node::Mapping(entries),
                Some(Open::Sequence(items)) => Node::Sequence(items),
                None => continue,
            },
            Event::DocumentEnd => {
                documents.push(root.take().unwrap_or(Node::Opaque));
                continue;
            }
            _ => continue,
        };
        match stack.last_mut() {
            Some(Open::Sequence(items)) => items.push(node),
            Some(Open::Mapping(entries, key)) => match key.take() {
                Some(k) => entries.push((k, node)),
                None => *key = Some(node),
            },
            None => root = Some(node),
        }
    }
    Ok(documents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_mappings_and_spans() {
        let text = "a:\n  b: &r 'x:1'\n  c: [1, *r]\n---\n- |\n  block\n---\n";
        let docs = parse(text).unwrap();
        assert_eq!(docs.len(), 3);
        let b = docs[0].at(&["a", "b"]).unwrap().as_scalar().unwrap();
        assert_eq!(&text[b.span.clone()], "'x:1'");
        assert_eq!(b.value, "x:1");
        assert_eq!(b.line, 2);
        assert!(b.is_rewritable());
        assert_eq!(docs[0].at(&["a", "c"]).unwrap().items()[1], Node::Opaque);
        let block = docs[1].items()[0].as_scalar().unwrap();
        assert!(!block.is_rewritable());
        let empty = docs[2].as_scalar().unwrap();
        assert!(
            !empty.is_rewritable(),
            "an empty document has no bytes to rewrite"
        );
    }

    #[test]
    fn invalid_yaml_is_an_error() {
        assert!(parse("a: [1\n").is_err());
    }
}

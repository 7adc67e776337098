//! Replacing byte ranges of a text, all at once, everything else kept.

use std::ops::Range;

/// Replace `span` with `text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Edit {
    /// The bytes replaced (empty for an insertion).
    pub span: Range<usize>,
    /// What goes there.
    pub text: String,
}

/// `text` with every edit applied, or `None` when there is none or none changes anything.
///
/// Edits are applied in order of position; an edit that overlaps an earlier
/// one or does not fall on character boundaries is dropped (the spans come from
/// the parser, so that would be a bug, and the safe answer is not to touch it).
pub(crate) fn splice(text: &str, mut edits: Vec<Edit>) -> Option<String> {
    edits.sort_by_key(|e| (e.span.start, e.span.end));
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut changed = false;
    for edit in edits {
        let valid = edit.span.start >= copied
            && edit.span.start <= edit.span.end
            && text.is_char_boundary(edit.span.start)
            && text.is_char_boundary(edit.span.end);
        let (true, Some(before), Some(old)) = (
            valid,
            text.get(copied..edit.span.start),
            text.get(edit.span.clone()),
        ) else {
            continue;
        };
        changed |= old != edit.text;
        out.push_str(before);
        out.push_str(&edit.text);
        copied = edit.span.end;
    }
    if !changed {
        return None;
    }
    out.push_str(text.get(copied..).unwrap_or_default());
    Some(out)
}

/// The start of the line holding byte `at`.
pub(crate) fn line_start(text: &str, at: usize) -> usize {
    text.get(..at)
        .and_then(|head| head.rfind('\n'))
        .map_or(0, |i| i + 1)
}

/// The end of the line holding byte `at`, after its line break (`\n` or `\r\n`).
pub(crate) fn line_end(text: &str, at: usize) -> usize {
    text.get(at..)
        .and_then(|tail| tail.find('\n'))
        .map_or(text.len(), |i| at + i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(span: Range<usize>, text: &str) -> Edit {
        Edit {
            span,
            text: text.into(),
        }
    }

    #[test]
    fn edits_apply_in_order_and_overlaps_are_dropped() {
        let text = "a: 1\nb: 2\n";
        let out = splice(
            text,
            vec![edit(8..9, "3"), edit(3..4, "x"), edit(3..5, "y")],
        );
        assert_eq!(out.unwrap(), "a: x\nb: 3\n");
        assert_eq!(splice(text, vec![edit(3..4, "1")]), None);
        assert_eq!(splice(text, vec![]), None);
        assert_eq!(
            splice(text, vec![edit(4..4, " # c")]).unwrap(),
            "a: 1 # c\nb: 2\n"
        );
    }

    #[test]
    fn lines_are_found_around_a_byte() {
        let text = "one\r\ntwo\nthree";
        assert_eq!(line_start(text, 6), 5);
        assert_eq!(line_end(text, 6), 9);
        assert_eq!(line_end(text, 11), text.len());
        assert_eq!(&text[line_start(text, 1)..line_end(text, 1)], "one\r\n");
    }
}

//! Lexer tests: items as Go's lexer produces them.

use super::*;

fn items(text: &str) -> Vec<(ItemType, String)> {
    let mut lexer = Lexer::new(text);
    let mut out = Vec::new();
    loop {
        let item = lexer.next_item();
        let done = matches!(item.typ, ItemType::Eof | ItemType::Error);
        out.push((item.typ, item.val));
        if done {
            return out;
        }
    }
}

#[test]
fn trim_markers_eat_ascii_space_on_their_side() {
    use ItemType::*;
    assert_eq!(
        items("a \n{{- .X -}} \n b"),
        vec![
            (Text, "a".into()),
            (LeftDelim, "{{".into()),
            (Field, ".X".into()),
            (RightDelim, "}}".into()),
            (Text, "b".into()),
            (Eof, "".into())
        ]
    );
    // `{{-3}}` is a number, not a trim marker.
    assert_eq!(items("{{-3}}")[1], (Number, "-3".into()));
}

#[test]
fn comments_disappear_and_can_trim() {
    use ItemType::*;
    assert_eq!(
        items("a {{- /* hi */ -}} b"),
        vec![(Text, "a".into()), (Text, "b".into()), (Eof, "".into())]
    );
    assert_eq!(items("{{/* x */ y}}").last().map(|i| i.0), Some(Error));
}

#[test]
fn errors_are_reported() {
    let last = |t: &str| items(t).pop().map(|i| i.1).unwrap_or_default();
    assert_eq!(last("{{ .X"), "unclosed action");
    assert_eq!(last("{{ \"x }}"), "unterminated quoted string");
    assert_eq!(last("{{ 3x }}"), "bad number syntax: \"3x\"");
    assert_eq!(last("{{ ) }}"), "unexpected right paren");
}

//! Property tests: for generated YAML with markers, (a) the output parses as
//! YAML, (b) only marked scalars differ from the input (every other scalar,
//! comment and line is unchanged), and (c) applying the same results twice is
//! a no-op.
//!
//! The generator keeps its own model of what each scalar should hold after the
//! update, independent of the engine, and the checks compare against it.

use granit_parser::{Event, Parser};
use proptest::prelude::*;

use super::*;
use crate::image::ImageReference;

const DIGEST: &str = "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn results() -> PolicyResults {
    [
        ("ns:a", "ghcr.io/org/app:2.0".to_string()),
        ("ns:b", format!("registry.local:5000/x/y:1.10@{DIGEST}")),
    ]
    .into_iter()
    .map(|(id, image)| {
        (
            PolicyId::parse(id).unwrap(),
            PolicyResult::new(ImageReference::parse(&image).unwrap()).unwrap(),
        )
    })
    .collect()
}

/// What a generated scalar must hold after the update.
fn expected_value(value: &str, comment: &str) -> String {
    let Ok(setter) = scan::marker_setter(comment.trim_start_matches('#')) else {
        return value.to_string();
    };
    results()
        .get(&setter.policy)
        .and_then(|r| r.value_for(setter.suffix))
        .unwrap_or_else(|| value.to_string())
}

#[derive(Debug, Clone)]
struct Scalar {
    value: String,
    style: u8,
    anchor: bool,
}

#[derive(Debug, Clone)]
enum Entry {
    Pair(Scalar, Option<String>),
    List(Vec<(Scalar, Option<String>)>),
    Block(bool),
}

fn scalar() -> impl Strategy<Value = Scalar> {
    let values = prop::sample::select(vec![
        "ghcr.io/org/app:1.0",
        "nginx:1.25",
        "1.0",
        "v2",
        "1.10",
        "registry.local:5000/x/y",
        "x:y",
        "it's",
    ]);
    (values, 0u8..3, any::<bool>()).prop_map(|(v, style, anchor)| Scalar {
        value: v.to_string(),
        style,
        anchor,
    })
}

fn comment() -> impl Strategy<Value = Option<String>> {
    let setters = prop::sample::select(vec![
        "ns:a",
        "ns:a:tag",
        "ns:a:name",
        "ns:a:digest",
        "ns:b",
        "ns:b:tag",
        "ns:b:name",
        "ns:b:digest",
        "ns:c",
        "ns:c:tag",
    ]);
    prop_oneof![
        Just(None),
        Just(Some("# a plain comment".to_string())),
        Just(Some("# {\"other\": \"$imagepolicy\"}".to_string())),
        (setters, 0u8..3).prop_map(|(s, spacing)| Some(match spacing {
            0 => format!("# {{\"$imagepolicy\": \"{s}\"}}"),
            1 => format!("#{{\"$imagepolicy\":\"{s}\"}}"),
            _ => format!("#  {{ \"$imagepolicy\" : \"{s}\" }}  "),
        })),
    ]
}

fn entry() -> impl Strategy<Value = Entry> {
    prop_oneof![
        4 => (scalar(), comment()).prop_map(|(s, c)| Entry::Pair(s, c)),
        2 => prop::collection::vec((scalar(), comment()), 1..4).prop_map(Entry::List),
        1 => any::<bool>().prop_map(Entry::Block),
    ]
}

fn render_scalar(s: &Scalar, anchor_id: usize) -> String {
    let text = match s.style {
        0 if !s.value.contains('\'') && s.value != "1.0" && s.value != "1.10" => s.value.clone(),
        0 | 1 => format!("'{}'", s.value.replace('\'', "''")),
        _ => format!("\"{}\"", s.value),
    };
    if s.anchor {
        format!("&a{anchor_id} {text}")
    } else {
        text
    }
}

/// Renders the document; returns the text, (original, expected) for every
/// scalar in event order, and the indices of lines that may change.
fn render(
    entries: &[Entry],
    crlf: bool,
    final_newline: bool,
    start: bool,
) -> (String, Vec<(String, String)>, Vec<usize>) {
    let mut lines = Vec::new();
    let mut scalars = Vec::new();
    let mut changing = Vec::new();
    if start {
        lines.push("---".to_string());
    }
    let mut with_comment = |line: String,
                            s: &Scalar,
                            c: &Option<String>,
                            lines: &mut Vec<String>,
                            scalars: &mut Vec<(String, String)>| {
        let expected = c
            .as_deref()
            .map_or(s.value.clone(), |c| expected_value(&s.value, c));
        if expected != s.value {
            changing.push(lines.len());
        }
        scalars.push((s.value.clone(), expected));
        lines.push(match c {
            Some(c) => format!("{line} {c}"),
            None => line,
        });
    };
    for (i, entry) in entries.iter().enumerate() {
        let key = format!("k{i}");
        scalars.push((key.clone(), key.clone()));
        match entry {
            Entry::Pair(s, c) => {
                with_comment(
                    format!("{key}: {}", render_scalar(s, i)),
                    s,
                    c,
                    &mut lines,
                    &mut scalars,
                );
            }
            Entry::List(items) => {
                lines.push(format!("{key}:"));
                for (j, (s, c)) in items.iter().enumerate() {
                    let line = format!("  - {}", render_scalar(s, i * 10 + j));
                    with_comment(line, s, c, &mut lines, &mut scalars);
                }
            }
            Entry::Block(fake) => {
                lines.push(format!("{key}: |"));
                let body = if *fake {
                    "image: nginx:1.25 # {\"$imagepolicy\": \"ns:a\"}"
                } else {
                    "plain text"
                };
                lines.push(format!("  {body}"));
                let content = format!("{body}\n");
                scalars.push((content.clone(), content));
            }
        }
    }
    let eol = if crlf { "\r\n" } else { "\n" };
    let mut text = lines.join(eol);
    if final_newline {
        text.push_str(eol);
    }
    (text, scalars, changing)
}

fn scalar_values(text: &str) -> Vec<String> {
    Parser::new_from_str(text)
        .map(|e| e.unwrap().0)
        .filter_map(|e| match e {
            Event::Scalar(v, ..) => Some(v.into_owned()),
            _ => None,
        })
        .collect()
}

fn comments(text: &str) -> Vec<String> {
    Parser::new_from_str(text)
        .map(|e| e.unwrap().0)
        .filter_map(|e| match e {
            Event::Comment(c, _) => Some(c.into_owned()),
            _ => None,
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn only_marked_scalars_change_and_twice_is_once(
        entries in prop::collection::vec(entry(), 1..12),
        crlf in any::<bool>(),
        final_newline in any::<bool>(),
        start in any::<bool>(),
    ) {
        let (input, scalars, changing) = render(&entries, crlf, final_newline, start);
        let originals: Vec<String> = scalars.iter().map(|(o, _)| o.clone()).collect();
        let expected: Vec<String> = scalars.iter().map(|(_, e)| e.clone()).collect();
        prop_assert_eq!(scalar_values(&input), originals, "generator model is wrong:\n{}", input);

        let results = results();
        let out = rewrite(&input, &results).unwrap();
        let output = out.content.clone().unwrap_or_else(|| input.clone());
        // (a) the output parses, and (b) only the marked scalars hold new values…
        let parsed: Result<Vec<_>, _> = Parser::new_from_str(&output).collect();
        prop_assert!(parsed.is_ok(), "output does not parse:\n{}", output);
        prop_assert_eq!(scalar_values(&output), expected, "input:\n{}\noutput:\n{}", input, output);
        prop_assert_eq!(comments(&output), comments(&input));
        prop_assert_eq!(out.changes.len(), changing.len());
        // …and every other line is byte-identical (line endings included).
        let eol = if crlf { "\r\n" } else { "\n" };
        let in_lines: Vec<_> = input.split(eol).collect();
        let out_lines: Vec<_> = output.split(eol).collect();
        prop_assert_eq!(in_lines.len(), out_lines.len());
        for (n, (a, b)) in in_lines.iter().zip(&out_lines).enumerate() {
            if !changing.contains(&(n)) {
                prop_assert_eq!(a, b, "line {} changed", n + 1);
            } else {
                // The marker comment after the value is untouched.
                let comment = |l: &str| l.rfind(" #").map(|i| l[i..].to_string());
                prop_assert_eq!(comment(a), comment(b));
            }
        }
        // (c) a second application is a no-op.
        let again = rewrite(&output, &results).unwrap();
        prop_assert!(again.content.is_none(), "second run changed {:?}", again.changes);
    }

    #[test]
    fn the_scanner_never_panics_and_spans_are_sound(text in "(\\PC|\n|\r|\t| |#|:|-|'|\"|\\{|\\}|\\[|\\]|\\||>|&|\\*|!){0,200}") {
        if let Ok(scan) = scan(&text) {
            for marked in scan.marked {
                prop_assert!(text.get(marked.span.clone()).is_some());
            }
        }
    }
}

//! Tests of Go `fmt` printing; expected texts are Go 1.26's.

use super::*;
use crate::gotemplate::value::{Map, Struct};
use std::sync::Arc;

fn s(text: &str) -> Value {
    Value::string(text)
}

#[test]
fn sprint_spaces_only_between_non_strings() {
    let args = [
        s("a"),
        Value::int(1),
        Value::int(2),
        s("b"),
        s("c"),
        Value::Float(3.0),
        Value::Missing,
    ];
    assert_eq!(sprint(&args), "a1 2bc3 <nil>");
    assert_eq!(sprintln(&[s("a"), Value::int(1)]), "a 1\n");
}

#[test]
fn composite_values_print_like_go() {
    let map = Value::Map(Arc::new(Map::new(
        "map[string]int",
        "string",
        Value::int(0),
        vec![(s("b"), Value::int(2)), (s("a"), Value::int(1))],
    )));
    let object = Value::Struct(Arc::new(Struct::plain(
        "main.T",
        vec![
            ("A", s("a")),
            ("B", Value::int(1)),
            ("C", Value::string_list(["x"])),
            ("D", map.clone()),
            ("F", Value::Missing),
        ],
    )));
    assert_eq!(
        sprintf("%v", std::slice::from_ref(&object)),
        "{a 1 [x] map[a:1 b:2] <nil>}"
    );
    assert_eq!(
        sprintf("%+v", &[object]),
        "{A:a B:1 C:[x] D:map[a:1 b:2] F:<nil>}"
    );
    assert_eq!(sprintf("%s", &[map]), "map[a:%!s(int=1) b:%!s(int=2)]");
    assert_eq!(
        sprintf("%q", &[Value::string_list(["a", "b"])]),
        "[\"a\" \"b\"]"
    );
}

#[test]
fn verbs_flags_and_errors() {
    assert_eq!(
        sprintf("%s|%d", &[Value::int(3), s("s")]),
        "%!s(int=3)|%!d(string=s)"
    );
    assert_eq!(
        sprintf(
            "%x|%5.2f|%-5d|%05d|%e|%g",
            &[
                s("hi"),
                Value::Float(3.14158),
                Value::int(42),
                Value::int(-42),
                Value::Float(1234.5678),
                Value::Float(1e21)
            ]
        ),
        "6869| 3.14|42   |-0042|1.234568e+03|1e+21"
    );
    assert_eq!(sprintf("%d %d", &[Value::int(1)]), "1 %!d(MISSING)");
    assert_eq!(
        sprintf("%d", &[Value::int(1), s("x"), Value::int(3)]),
        "1%!(EXTRA string=x, int=3)"
    );
    assert_eq!(
        sprintf(
            "[%05s][%-6s|][%6.2s][%x][% x][%#x][%#08x][%.0d][%+.2e][%g][%.3g][%G]",
            &[
                s("ab"),
                s("cd"),
                s("xyz"),
                Value::int(-1),
                s("ab"),
                Value::int(255),
                Value::int(255),
                Value::int(0),
                Value::Float(12345.678),
                Value::Float(1e-7),
                Value::Float(1234.5678),
                Value::Float(1e100)
            ]
        ),
        "[000ab][cd    |][    xy][-1][61 62][0xff][0x000000ff][][+1.23e+04][1e-07][1.23e+03][1E+100]"
    );
    assert_eq!(
        sprintf(
            "%6.2v|%v|%v|%.2f|%5t|%08.3f|%+d|%c|%U",
            &[
                Value::Float(3.14158),
                Value::Float(1e20),
                Value::Float(1e21),
                Value::Float(2.675),
                Value::Bool(true),
                Value::Float(-3.14158),
                Value::int(5),
                Value::int(65),
                Value::int(0x1F600)
            ]
        ),
        "   3.1|1e+20|1e+21|2.67| true|-003.142|+5|A|U+1F600"
    );
    assert_eq!(
        sprint(&[
            Value::Float(1e6),
            Value::Float(100000.0),
            Value::Float(123456789.0),
            Value::Float(0.0001),
            Value::Float(0.00001),
            Value::Float(1.5),
            Value::Float(3.0)
        ]),
        "1e+06 100000 1.23456789e+08 0.0001 1e-05 1.5 3"
    );
}

#[test]
fn quote_escapes_like_strconv() {
    assert_eq!(
        quote("a\"b\\c\n\t\u{1}é\u{200b}😀\u{a0}", false),
        "\"a\\\"b\\\\c\\n\\t\\x01é\\u200b😀\\u00a0\""
    );
    assert_eq!(quote("é", true), "\"\\u00e9\"");
}

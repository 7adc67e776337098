//! Feature tests of the interpreter; outputs checked against Go 1.26.

use std::sync::Arc;

use super::*;

fn data() -> Value {
    let change = |old: &str, new: &str| {
        Value::Struct(Arc::new(Struct::plain(
            "update.Change",
            vec![
                ("OldValue", Value::string(old)),
                ("NewValue", Value::string(new)),
            ],
        )))
    };
    Value::Struct(Arc::new(Struct {
        type_name: "main.Data".into(),
        fields: vec![
            Field {
                name: "Name".into(),
                value: Value::string("app"),
                embedded: false,
            },
            Field {
                name: "Items".into(),
                value: Value::string_list(["b", "a", "c"]),
                embedded: false,
            },
            Field {
                name: "Values".into(),
                value: Value::Map(Arc::new(Map::new(
                    "map[string]string",
                    "string",
                    Value::string(""),
                    vec![
                        (Value::string("z"), Value::string("last")),
                        (Value::string("a"), Value::string("first")),
                    ],
                ))),
                embedded: false,
            },
            Field {
                name: "Changes".into(),
                value: Value::list("[]update.Change", vec![change("1", "2"), change("x", "y")]),
                embedded: false,
            },
        ],
        methods: vec![("Count".into(), Value::int(2))],
        string: None,
    }))
}

fn render(text: &str) -> String {
    match Template::parse("t", text).and_then(|t| t.execute(&data())) {
        Ok(out) => out,
        Err(error) => format!("ERROR: {error}"),
    }
}

#[test]
fn trimming_matches_go() {
    assert_eq!(render("a  {{- .Name -}}  \n b"), "aappb");
    assert_eq!(
        render("{{ range .Items -}}\n  {{ . }}\n{{ end -}}\n"),
        "b\na\nc\n"
    );
    assert_eq!(render("x {{- /* c */ -}} y"), "xy");
}

#[test]
fn ranges_variables_and_control_flow() {
    assert_eq!(
        render("{{range $k, $v := .Values}}{{$k}}={{$v}};{{end}}"),
        "a=first;z=last;"
    );
    assert_eq!(
        render("{{range $i, $c := .Changes}}{{$i}}:{{$c.OldValue}}->{{.NewValue}} {{end}}"),
        "0:1->2 1:x->y "
    );
    assert_eq!(
        render("{{range .Items}}{{if eq . \"a\"}}{{break}}{{end}}{{.}}{{end}}"),
        "b"
    );
    assert_eq!(
        render("{{range .Items}}{{if eq . \"a\"}}{{continue}}{{end}}{{.}}{{end}}"),
        "bc"
    );
    assert_eq!(
        render("{{range .Values.nope}}x{{else}}empty{{end}}"),
        "empty"
    );
    assert_eq!(render("{{range 3}}{{.}}{{end}}"), "012");
    assert_eq!(render("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}"), "2");
    assert_eq!(
        render("{{if .Values.nope}}a{{else if .Name}}b{{else}}c{{end}}"),
        "b"
    );
    assert_eq!(
        render(
            "{{with .Name}}{{.}}!{{end}}{{with .Values.nope}}x{{else with .Items}}{{len .}}{{end}}"
        ),
        "app!3"
    );
    assert_eq!(
        render("{{.Count}} {{.Values.a}} {{.Values.nope}} {{index .Values \"nope\"}}|"),
        "2 first <no value> |"
    );
}

#[test]
fn templates_and_blocks() {
    assert_eq!(
        render(
            "{{define \"x\"}}[{{.}}]{{end}}{{template \"x\" .Name}}{{block \"y\" 1}}({{.}}){{end}}"
        ),
        "[app](1)"
    );
    let error = render("{{define \"r\"}}{{template \"r\" .}}{{end}}{{template \"r\" .}}");
    assert!(
        error.contains("exceeded maximum template depth (200)"),
        "{error}"
    );
}

#[test]
fn printing_follows_fmt() {
    assert_eq!(
        render("{{.Changes}} {{.Items}} {{.Values}}"),
        "[{1 2} {x y}] [b a c] map[a:first z:last]"
    );
    assert_eq!(
        render("{{printf \"%-4s|%5.1f|%03d|%q\" .Name 3.14159 7 .Items}}"),
        "app |  3.1|007|[\"b\" \"a\" \"c\"]"
    );
    assert_eq!(
        render("{{print 1 2 \"a\" 3}}|{{println .Name 1}}"),
        "1 2a3|app 1\n"
    );
    assert_eq!(
        render("{{html \"<a&b>\"}} {{js \"it's\"}} {{urlquery \"a b\"}}"),
        "&lt;a&amp;b&gt; it\\'s a+b"
    );
}

#[test]
fn sprig_functions() {
    assert_eq!(render("{{.Items | sortAlpha | join \", \"}}"), "a, b, c");
    assert_eq!(
        render(
            "{{\"  hi  \" | trim | upper}} {{default \"d\" .Values.nope}} {{.Name | default \"d\"}}"
        ),
        "HI d app"
    );
    assert_eq!(
        render("{{add 1 2 3}} {{sub 5 2}} {{mul 2 3}} {{div 7 2}} {{mod 7 2}} {{addf 0.1 0.2}}"),
        "6 3 6 3 1 0.3"
    );
    assert_eq!(
        render("{{list 1 \"a\" | toJson}} {{dict \"b\" 1 \"a\" 2 | toJson}}"),
        "[1,\"a\"] {\"a\":2,\"b\":1}"
    );
    assert_eq!(
        render(
            "{{regexReplaceAll \"v([0-9]+)\" \"v12\" \"n$1\"}} {{\"a/b/c.yaml\" | base}} {{trunc 3 \"abcdef\"}}"
        ),
        "n12 c.yaml abc"
    );
    assert_eq!(
        render(
            "{{ $l := splitList \",\" \"x,y\" }}{{ first $l }}{{ last $l }}{{ len (append $l \"z\") }}"
        ),
        "xy3"
    );
    assert_eq!(
        render(
            "{{ ternary \"yes\" \"no\" (hasPrefix \"ap\" .Name) }} {{ contains \"pp\" .Name }} {{ replace \"p\" \"P\" .Name }}"
        ),
        "yes true aPP"
    );
    assert_eq!(
        render(
            "{{ b64enc \"hi\" }} {{ sha256sum \"\" | trunc 8 }} {{ quote .Name 1 }} {{ indent 2 \"a\\nb\" }}"
        ),
        "aGk= e3b0c442 \"app\" \"1\"   a\n  b"
    );
}

#[test]
fn errors_are_go_errors() {
    assert_eq!(
        render("{{ nope }}"),
        "ERROR: template: t:1: function \"nope\" not defined"
    );
    assert_eq!(
        render("x\n  {{ .Updated }}"),
        "ERROR: template: t:2:5: executing \"t\" at <.Updated>: can't evaluate field Updated in type main.Data"
    );
    assert_eq!(
        render("{{ .Name.Foo }}"),
        "ERROR: template: t:1:8: executing \"t\" at <.Name.Foo>: can't evaluate field Foo in type string"
    );
    assert_eq!(
        render("{{ upper 3 }}"),
        "ERROR: template: t:1:9: executing \"t\" at <3>: expected string; found 3"
    );
    assert_eq!(
        render("{{ .Count | upper }}"),
        "ERROR: template: t:1:12: executing \"t\" at <upper>: wrong type for value; expected string; got int"
    );
    assert_eq!(
        render("{{ fail \"boom\" }}"),
        "ERROR: template: t:1:3: executing \"t\" at <fail \"boom\">: error calling fail: boom"
    );
    assert_eq!(
        render("{{ upper .Values.nope }}"),
        "ERROR: template: t:1:16: executing \"t\" at <.Values.nope>: invalid value; expected string"
    );
    assert_eq!(
        render("{{ keys .Values }}"),
        "ERROR: template: t:1:8: executing \"t\" at <.Values>: wrong type for value; expected map[string]interface {}; got map[string]string"
    );
    assert_eq!(
        render("{{ .Count 1 }}"),
        "ERROR: template: t:1:3: executing \"t\" at <.Count>: wrong number of args for Count: want 0 got 1"
    );
}

#[test]
fn nesting_is_bounded() {
    let deep = format!("{}1{}", "(".repeat(200), ")".repeat(200));
    assert!(render(&format!("{{{{ {deep} }}}}")).contains("max expression depth exceeded"));
    let ifs = format!("{}x{}", "{{if 1}}".repeat(200), "{{end}}".repeat(200));
    assert!(render(&ifs).contains("max expression depth exceeded"));
    let ok = format!("{}x{}", "{{if 1}}".repeat(50), "{{end}}".repeat(50));
    assert_eq!(render(&ok), "x");
}

#[test]
fn output_is_bounded() {
    let error = render("{{ range until 1000 }}{{ repeat 2000 \"x\" }}{{ end }}");
    assert!(error.contains("output exceeds"), "{error}");
}

#[test]
fn functions_cannot_exhaust_memory_or_time() {
    for template in [
        "{{ indent 10000 (repeat 100000 \"\\n\") }}",
        "{{ replace \"\" (repeat 1000 \"x\") (repeat 100000 \"y\") }}",
        "{{ regexReplaceAll \"\" (repeat 100000 \"y\") (repeat 1000 \"x\") }}",
        "{{ printf \"%1000000d%1000000d%1000000d%1000000d%1000000d\" 1 2 3 4 5 }}",
        "{{ untilStep -9223372036854775808 9223372036854775807 1 }}",
        "{{ $l := list }}{{ range until 1000000 }}{{ $l = append $l 1 }}{{ end }}",
    ] {
        let out = render(template);
        assert!(
            out.starts_with("ERROR: "),
            "{template}: {}",
            &out[..out.len().min(80)]
        );
    }
    assert_eq!(render("{{ uniq (until 100000) | len }}"), "100000");
}

//! Go's `fmt` for template values: `Sprint`, `Sprintln`, `Sprintf` and the
//! `%v` printing of slices (`[a b]`), maps (`map[k:v]`), structs (`{a b}`),
//! Stringers, numbers and strings, with Go's flags, widths, precisions and
//! its in-band error texts (`%!d(string=x)`, `%!v(MISSING)`, `%!(EXTRA …)`).

use super::value::{IntType, Value};

/// Flags, width and precision of one verb.
#[derive(Debug, Clone, Copy, Default)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    plus_v: bool,
    sharp_v: bool,
    width: Option<usize>,
    precision: Option<usize>,
}

/// `fmt.Sprint`: operands in `%v`, a space between two operands when neither is a string.
pub fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, arg) in args.iter().enumerate() {
        let is_string = matches!(arg, Value::String(_));
        if i > 0 && !is_string && !matches!(args[i - 1], Value::String(_)) {
            out.push(' ');
        }
        print_arg(&mut out, arg, 'v', Spec::default());
    }
    out
}

/// `fmt.Sprintln`: operands in `%v` separated by spaces, then a newline.
pub fn sprintln(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        print_arg(&mut out, arg, 'v', Spec::default());
    }
    out.push('\n');
    out
}

/// What an action prints for a value (`fmt.Fprint` of one operand).
pub fn print_value(value: &Value) -> String {
    let mut out = String::new();
    print_arg(&mut out, value, 'v', Spec::default());
    out
}

/// `fmt.Sprintf`.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut next_arg = 0;
    let mut chars = format.char_indices().peekable();
    let mut reordered = false;
    while let Some((_, c)) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        // Flags.
        while let Some(&(_, f)) = chars.peek() {
            match f {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '#' => spec.sharp = true,
                ' ' => spec.space = true,
                '0' => spec.zero = !spec.minus,
                _ => break,
            }
            chars.next();
        }
        // Width.
        if chars.peek().map(|&(_, c)| c) == Some('*') {
            chars.next();
            match args.get(next_arg) {
                Some(Value::Int(n, _)) => {
                    if *n < 0 {
                        spec.minus = true;
                        spec.zero = false;
                    }
                    spec.width = Some(n.unsigned_abs() as usize);
                }
                _ => out.push_str("%!(BADWIDTH)"),
            }
            next_arg += 1;
        } else {
            spec.width = read_number(&mut chars);
        }
        // Precision.
        if chars.peek().map(|&(_, c)| c) == Some('.') {
            chars.next();
            if chars.peek().map(|&(_, c)| c) == Some('*') {
                chars.next();
                match args.get(next_arg) {
                    Some(Value::Int(n, _)) if *n >= 0 => spec.precision = Some(*n as usize),
                    _ => out.push_str("%!(BADPREC)"),
                }
                next_arg += 1;
            } else {
                spec.precision = Some(read_number(&mut chars).unwrap_or(0));
            }
        }
        if spec.minus {
            spec.zero = false;
        }
        let Some((_, verb)) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '[' {
            // Argument indexes are rare in templates; report them as Go does for bad ones.
            reordered = true;
            out.push_str("%!(BADINDEX)");
            continue;
        }
        match verb {
            '%' => out.push('%'),
            _ if next_arg >= args.len() => {
                out.push_str("%!");
                out.push(verb);
                out.push_str("(MISSING)");
            }
            _ => {
                if verb == 'v' {
                    if spec.sharp {
                        spec.sharp = false;
                        spec.sharp_v = true;
                    }
                    if spec.plus {
                        spec.plus = false;
                        spec.plus_v = true;
                    }
                }
                print_arg(&mut out, &args[next_arg], verb, spec);
                next_arg += 1;
            }
        }
    }
    if !reordered && next_arg < args.len() {
        out.push_str("%!(EXTRA ");
        for (i, arg) in args[next_arg..].iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            if matches!(arg, Value::Missing) {
                out.push_str("<nil>");
            } else {
                out.push_str(&arg.type_name());
                out.push('=');
                print_arg(&mut out, arg, 'v', Spec::default());
            }
        }
        out.push(')');
    }
    out
}

fn read_number(chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>) -> Option<usize> {
    let mut number: Option<usize> = None;
    while let Some(&(_, c)) = chars.peek() {
        let Some(digit) = c.to_digit(10) else { break };
        number = Some(
            number
                .unwrap_or(0)
                .saturating_mul(10)
                .saturating_add(digit as usize)
                .min(1_000_000),
        );
        chars.next();
    }
    number
}

/// Prints one top-level operand.
fn print_arg(out: &mut String, value: &Value, verb: char, spec: Spec) {
    if verb == 'T' {
        pad(out, &value.type_name(), spec, false);
        return;
    }
    if let Value::Missing = value {
        if verb == 'v' {
            pad(out, "<nil>", spec, false);
        } else {
            out.push_str("%!");
            out.push(verb);
            out.push_str("(<nil>)");
        }
        return;
    }
    print_nested(out, value, verb, spec);
}

/// Prints a value (top-level or inside a slice, map or struct).
fn print_nested(out: &mut String, value: &Value, verb: char, spec: Spec) {
    if let Value::Struct(object) = value
        && let Some(text) = &object.string
        && !spec.sharp_v
        && matches!(verb, 'v' | 's' | 'x' | 'X' | 'q')
    {
        format_string(out, text, verb, spec);
        return;
    }
    match value {
        Value::Missing => pad(out, "<nil>", spec, false),
        Value::Bool(b) => match verb {
            't' | 'v' => pad(out, if *b { "true" } else { "false" }, spec, false),
            _ => bad_verb(out, value, verb),
        },
        Value::Int(n, _) => format_integer(out, value, *n, verb, spec),
        Value::Float(f) => format_float(out, value, *f, verb, spec),
        Value::String(s) => match verb {
            'v' if spec.sharp_v => pad(out, &quote(s, false), spec, false),
            'v' | 's' | 'q' | 'x' | 'X' => format_string(out, s, verb, spec),
            _ => bad_verb(out, value, verb),
        },
        Value::List(list) => {
            if spec.sharp_v {
                out.push_str(&list.type_name);
                out.push('{');
                for (i, item) in list.items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    print_nested(out, item, verb, spec);
                }
                out.push('}');
                return;
            }
            out.push('[');
            for (i, item) in list.items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                print_nested(out, item, verb, spec);
            }
            out.push(']');
        }
        Value::Map(map) => {
            out.push_str("map[");
            for (i, (key, item)) in map.entries().iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                print_nested(out, key, verb, spec);
                out.push(':');
                print_nested(out, item, verb, spec);
            }
            out.push(']');
        }
        Value::Struct(object) => {
            out.push('{');
            for (i, field) in object.fields.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                if spec.plus_v {
                    out.push_str(&field.name);
                    out.push(':');
                }
                print_nested(out, &field.value, verb, spec);
            }
            out.push('}');
        }
    }
}

/// `%!verb(type=value)`.
fn bad_verb(out: &mut String, value: &Value, verb: char) {
    out.push_str("%!");
    out.push(verb);
    out.push('(');
    out.push_str(&value.type_name());
    out.push('=');
    print_nested(out, value, 'v', Spec::default());
    out.push(')');
}

/// Pads `text` to the width, on the left unless `-` (with zeros when `0` and `zeros_ok`).
fn pad(out: &mut String, text: &str, spec: Spec, zeros_ok: bool) {
    let width = spec.width.unwrap_or(0);
    let len = text.chars().count();
    if len >= width {
        out.push_str(text);
        return;
    }
    let fill = width - len;
    if spec.minus {
        out.push_str(text);
        out.extend(std::iter::repeat_n(' ', fill));
    } else {
        let c = if spec.zero && zeros_ok { '0' } else { ' ' };
        out.extend(std::iter::repeat_n(c, fill));
        out.push_str(text);
    }
}

fn format_string(out: &mut String, s: &str, verb: char, spec: Spec) {
    let truncated: String = match spec.precision {
        Some(p) if matches!(verb, 'v' | 's' | 'q') => s.chars().take(p).collect(),
        _ => s.to_string(),
    };
    match verb {
        'q' => {
            let quoted = if spec.sharp
                && !truncated.contains('`')
                && truncated.chars().all(|c| c == '\t' || !c.is_control())
            {
                format!("`{truncated}`")
            } else {
                quote(&truncated, spec.plus)
            };
            pad(out, &quoted, spec, true);
        }
        'x' | 'X' => {
            let bytes = match spec.precision {
                Some(p) => &s.as_bytes()[..p.min(s.len())],
                None => s.as_bytes(),
            };
            let mut hex = String::new();
            for (i, b) in bytes.iter().enumerate() {
                if spec.space && i > 0 {
                    hex.push(' ');
                }
                if spec.sharp && (spec.space || i == 0) {
                    hex.push_str(if verb == 'x' { "0x" } else { "0X" });
                }
                if verb == 'x' {
                    hex.push_str(&format!("{b:02x}"));
                } else {
                    hex.push_str(&format!("{b:02X}"));
                }
            }
            pad(out, &hex, spec, true);
        }
        _ => pad(out, &truncated, spec, true),
    }
}

fn format_integer(out: &mut String, value: &Value, n: i64, verb: char, spec: Spec) {
    let (base, upper) = match verb {
        'v' | 'd' => (10, false),
        'b' => (2, false),
        'o' | 'O' => (8, false),
        'x' => (16, false),
        'X' => (16, true),
        'c' => {
            let c = u32::try_from(n)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{fffd}');
            pad(out, &c.to_string(), spec, true);
            return;
        }
        'q' => {
            let c = u32::try_from(n)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{fffd}');
            pad(out, &quote_rune(c, spec.plus), spec, true);
            return;
        }
        'U' => {
            let mut text = format!("U+{:04X}", n);
            if spec.sharp
                && let Some(c) = u32::try_from(n).ok().and_then(char::from_u32)
                && !c.is_control()
            {
                text.push_str(&format!(" '{c}'"));
            }
            pad(out, &text, spec, true);
            return;
        }
        _ => return bad_verb(out, value, verb),
    };
    let negative = n < 0;
    let magnitude = n.unsigned_abs();
    let mut digits = match (base, upper) {
        (2, _) => format!("{magnitude:b}"),
        (8, _) => format!("{magnitude:o}"),
        (16, false) => format!("{magnitude:x}"),
        (16, true) => format!("{magnitude:X}"),
        _ => magnitude.to_string(),
    };
    let mut min_digits = spec.precision;
    if spec.precision.is_none()
        && spec.zero
        && !spec.minus
        && let Some(width) = spec.width
    {
        let sign = usize::from(negative || spec.plus || spec.space);
        min_digits = Some(width.saturating_sub(sign));
    }
    if spec.precision == Some(0) && magnitude == 0 {
        digits.clear();
    }
    if let Some(min) = min_digits {
        while digits.len() < min {
            digits.insert(0, '0');
        }
    }
    let mut text = String::new();
    if negative {
        text.push('-');
    } else if spec.plus {
        text.push('+');
    } else if spec.space {
        text.push(' ');
    }
    match verb {
        'x' if spec.sharp => text.push_str("0x"),
        'X' if spec.sharp => text.push_str("0X"),
        'b' if spec.sharp => text.push_str("0b"),
        'o' if spec.sharp && !digits.starts_with('0') => text.push('0'),
        'O' => text.push_str("0o"),
        _ => {}
    }
    text.push_str(&digits);
    pad(
        out,
        &text,
        Spec {
            zero: false,
            ..spec
        },
        false,
    );
}

fn format_float(out: &mut String, value: &Value, f: f64, verb: char, spec: Spec) {
    let body = match verb {
        'v' => format_g(f, spec.precision, 'e'),
        'g' => format_g(f, spec.precision, 'e'),
        'G' => format_g(f, spec.precision, 'E'),
        'e' => format_e(f, spec.precision.unwrap_or(6), 'e'),
        'E' => format_e(f, spec.precision.unwrap_or(6), 'E'),
        'f' | 'F' => format_f(f, spec.precision.unwrap_or(6)),
        _ => return bad_verb(out, value, verb),
    };
    let (sign, digits) = match body.strip_prefix('-') {
        Some(rest) => ("-", rest.to_string()),
        None if spec.plus => ("+", body),
        None if spec.space => (" ", body),
        None => ("", body),
    };
    let special = !f.is_finite();
    if spec.zero && !spec.minus && !special {
        let width = spec.width.unwrap_or(0);
        let len = sign.len() + digits.chars().count();
        out.push_str(sign);
        out.extend(std::iter::repeat_n('0', width.saturating_sub(len)));
        out.push_str(&digits);
        return;
    }
    pad(
        out,
        &format!("{sign}{digits}"),
        Spec {
            zero: false,
            ..spec
        },
        false,
    );
}

/// Decimal digits (no leading zeros) and the decimal point position.
fn decimal_digits(f: f64, significant: Option<usize>) -> (String, i32) {
    let text = match significant {
        None => format!("{:e}", f.abs()),
        Some(p) => format!("{:.*e}", p.saturating_sub(1), f.abs()),
    };
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let digits = if significant.is_none() {
        let trimmed = digits.trim_end_matches('0');
        if trimmed.is_empty() {
            "0".to_string()
        } else {
            trimmed.to_string()
        }
    } else {
        digits
    };
    (digits, exponent + 1)
}

fn special_float(f: f64) -> Option<String> {
    if f.is_nan() {
        Some("NaN".into())
    } else if f.is_infinite() {
        Some(if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        })
    } else {
        None
    }
}

fn sign_of(f: f64) -> &'static str {
    if f.is_sign_negative() { "-" } else { "" }
}

/// strconv's `%e` with `precision` digits after the point.
fn format_e(f: f64, precision: usize, e: char) -> String {
    if let Some(s) = special_float(f) {
        return s;
    }
    let (digits, point) = decimal_digits(f, Some(precision + 1));
    e_from_digits(sign_of(f), &digits, point, precision, e)
}

fn e_from_digits(sign: &str, digits: &str, point: i32, precision: usize, e: char) -> String {
    let mut out = String::from(sign);
    let mut chars = digits.chars();
    out.push(chars.next().unwrap_or('0'));
    if precision > 0 {
        out.push('.');
        let rest: String = chars.collect();
        for i in 0..precision {
            out.push(rest.chars().nth(i).unwrap_or('0'));
        }
    }
    let exponent = if digits.trim_start_matches('0').is_empty() {
        0
    } else {
        point - 1
    };
    out.push(e);
    out.push(if exponent < 0 { '-' } else { '+' });
    let magnitude = exponent.unsigned_abs();
    if magnitude < 10 {
        out.push('0');
    }
    out.push_str(&magnitude.to_string());
    out
}

/// strconv's `%f` with `precision` digits after the point.
fn format_f(f: f64, precision: usize) -> String {
    if let Some(s) = special_float(f) {
        return s;
    }
    let text = format!("{:.*}", precision, f.abs());
    format!("{}{}", sign_of(f), text)
}

fn f_from_digits(sign: &str, digits: &str, point: i32, frac: usize) -> String {
    let mut out = String::from(sign);
    let digit = |i: i32| -> char {
        if i >= 0 {
            digits.chars().nth(i as usize).unwrap_or('0')
        } else {
            '0'
        }
    };
    if point <= 0 {
        out.push('0');
    } else {
        for i in 0..point {
            out.push(digit(i));
        }
    }
    if frac > 0 {
        out.push('.');
        for i in 0..frac as i32 {
            out.push(digit(point + i));
        }
    }
    out
}

/// strconv's `%g`: shortest (`None`) or with `precision` significant digits.
fn format_g(f: f64, precision: Option<usize>, e: char) -> String {
    if let Some(s) = special_float(f) {
        return s;
    }
    let sign = sign_of(f);
    let (digits, point, mut eprec) = match precision {
        None => {
            let (digits, point) = decimal_digits(f, None);
            (digits, point, 6)
        }
        Some(p) => {
            let p = p.max(1);
            let (digits, point) = decimal_digits(f, Some(p));
            let trimmed = digits.trim_end_matches('0');
            let digits = if trimmed.is_empty() {
                "0".to_string()
            } else {
                trimmed.to_string()
            };
            let mut eprec = p as i32;
            if eprec > digits.len() as i32 && digits.len() as i32 >= point {
                eprec = digits.len() as i32;
            }
            (digits, point, eprec)
        }
    };
    let zero = digits == "0";
    let point = if zero { 1 } else { point };
    if precision.is_none() {
        eprec = 6;
    }
    let exponent = point - 1;
    let nd = digits.len();
    if exponent < -4 || exponent >= eprec {
        return e_from_digits(sign, &digits, point, nd.saturating_sub(1), e);
    }
    let frac = (nd as i32 - point).max(0) as usize;
    f_from_digits(sign, &digits, point, frac)
}

/// Go's `strconv.Quote` (or `QuoteToASCII` when `ascii`).
pub fn quote(s: &str, ascii: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        push_escaped(&mut out, c, '"', ascii);
    }
    out.push('"');
    out
}

fn quote_rune(c: char, ascii: bool) -> String {
    let mut out = String::from("'");
    push_escaped(&mut out, c, '\'', ascii);
    out.push('\'');
    out
}

fn push_escaped(out: &mut String, c: char, delimiter: char, ascii: bool) {
    match c {
        c if c == delimiter || c == '\\' => {
            out.push('\\');
            out.push(c);
        }
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        c if (c as u32) < 0x80 && (c < ' ' || c == '\u{7f}') => {
            out.push_str(&format!("\\x{:02x}", c as u32));
        }
        c if ascii && (c as u32) >= 0x80 || !is_print(c) => {
            if (c as u32) < 0x10000 {
                out.push_str(&format!("\\u{:04x}", c as u32));
            } else {
                out.push_str(&format!("\\U{:08x}", c as u32));
            }
        }
        c => out.push(c),
    }
}

/// An approximation of Go's `unicode.IsPrint`: no control, format or
/// separator characters other than the ASCII space.
pub fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    !matches!(c as u32,
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E | 0x200B..=0x200F
        | 0x2028..=0x202E | 0x2060..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB
        | 0xD800..=0xDFFF | 0xE000..=0xF8FF | 0xFFFE | 0xFFFF | 0xF0000..)
}

/// The text Go's `fmt` gives an `int` (used by functions that print numbers).
pub fn int_text(n: i64) -> String {
    n.to_string()
}

/// The Go type name of an int kind.
pub fn int_type_name(kind: IntType) -> &'static str {
    match kind {
        IntType::Int => "int",
        IntType::Int64 => "int64",
    }
}

#[cfg(test)]
mod tests {
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
}

//! Go's `fmt` for template values: `Sprint`, `Sprintln`, `Sprintf` and the
//! `%v` printing of slices (`[a b]`), maps (`map[k:v]`), structs (`{a b}`),
//! Stringers, numbers and strings, with Go's flags, widths, precisions and
//! its in-band error texts (`%!d(string=x)`, `%!v(MISSING)`, `%!(EXTRA …)`).

use super::value::{IntType, Value};

mod float;
mod quote;

use quote::quote_rune;
pub use quote::{is_print, quote};

use float::format_float;

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
    sprintf_limited(format, args, usize::MAX).unwrap_or_default()
}

/// `fmt.Sprintf`, failing once the text grows past `limit` bytes.
pub fn sprintf_limited(format: &str, args: &[Value], limit: usize) -> Result<String, String> {
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
                if out.len() > limit {
                    return Err(format!("printf would make more than {limit} bytes"));
                }
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
    Ok(out)
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
mod tests;

//! The functions a template can call: Go's builtins and Sprig's hermetic set.
//!
//! Each function has its Go parameter types, so that arguments are checked
//! and converted as Go checks them (`wrong type for value; expected string;
//! got int`). Sprig's functions come first, as in Go where a `FuncMap`
//! shadows a builtin (Sprig's `slice` replaces Go's).

use super::format;
use super::value::{Value, compare_keys, deep_equal};

/// A function's implementation: arguments already checked against the signature.
pub type Call = fn(&[Value]) -> Result<Value, String>;

/// A callable function and its Go signature.
#[derive(Clone, Copy)]
pub struct Function {
    /// Go types of the fixed parameters (`"string"`, `"int"`, `"interface {}"`,
    /// `"reflect.Value"` for builtins that take anything).
    pub params: &'static [&'static str],
    /// The element type of the variadic parameter, if any.
    pub variadic: Option<&'static str>,
    /// Whether it is a Go builtin (`and`, `or` and `call` are special).
    pub builtin: bool,
    /// The implementation.
    pub call: Call,
}

/// Builds a [`Function`] (`f(params, variadic, call)`).
pub const fn f(
    params: &'static [&'static str],
    variadic: Option<&'static str>,
    call: Call,
) -> Function {
    Function {
        params,
        variadic,
        builtin: false,
        call,
    }
}

const ANY: &str = "interface {}";
const RV: &str = "reflect.Value";

/// Looks a function up by name.
pub fn lookup(name: &str) -> Option<Function> {
    super::sprig::lookup(name).or_else(|| builtin(name))
}

fn builtin(name: &str) -> Option<Function> {
    let b = |params, variadic, call| {
        Some(Function {
            params,
            variadic,
            builtin: true,
            call,
        })
    };
    match name {
        "and" | "or" => b(&[RV], Some(RV), |_| Ok(Value::Missing)),
        "call" => b(&[RV], Some(RV), |_| Ok(Value::Missing)),
        "not" => b(&[RV], None, |a| Ok(Value::Bool(!a[0].is_true()))),
        "len" => b(&[RV], None, length),
        "index" => b(&[RV], Some(RV), index),
        "slice" => b(&[RV], Some(RV), |_| Err("slice is Sprig's".into())),
        "print" => b(&[], Some(ANY), |a| Ok(Value::string(format::sprint(a)))),
        "println" => b(&[], Some(ANY), |a| Ok(Value::string(format::sprintln(a)))),
        "printf" => b(&["string"], Some(ANY), |a| {
            format::sprintf_limited(
                a[0].as_str().unwrap_or_default(),
                &a[1..],
                super::exec::MAX_VALUE,
            )
            .map(Value::string)
        }),
        "html" => b(&[], Some(ANY), |a| {
            Ok(Value::string(html_escape(&eval_args(a))))
        }),
        "js" => b(&[], Some(ANY), |a| {
            Ok(Value::string(js_escape(&eval_args(a))))
        }),
        "urlquery" => b(&[], Some(ANY), |a| {
            Ok(Value::string(query_escape(&eval_args(a))))
        }),
        "eq" => b(&[RV], Some(RV), |a| eq(&a[0], &a[1..]).map(Value::Bool)),
        "ne" => b(&[RV, RV], None, |a| {
            eq(&a[0], &a[1..]).map(|e| Value::Bool(!e))
        }),
        "lt" => b(&[RV, RV], None, |a| lt(&a[0], &a[1]).map(Value::Bool)),
        "le" => b(&[RV, RV], None, |a| le(&a[0], &a[1]).map(Value::Bool)),
        "gt" => b(&[RV, RV], None, |a| {
            le(&a[0], &a[1]).map(|x| Value::Bool(!x))
        }),
        "ge" => b(&[RV, RV], None, |a| {
            lt(&a[0], &a[1]).map(|x| Value::Bool(!x))
        }),
        _ => None,
    }
}

fn length(args: &[Value]) -> Result<Value, String> {
    let n = match &args[0] {
        Value::String(s) => s.len(),
        Value::List(list) => list.items.len(),
        Value::Map(map) => map.len(),
        Value::Missing => return Err("reflect: call of reflect.Value.Type on zero Value".into()),
        other => return Err(format!("len of type {}", other.type_name())),
    };
    Ok(Value::int(n as i64))
}

fn index_arg(index: &Value, cap: usize) -> Result<usize, String> {
    let x = match index {
        Value::Int(i, _) => *i,
        Value::Missing => return Err("cannot index slice/array with nil".into()),
        other => {
            return Err(format!(
                "cannot index slice/array with type {}",
                other.type_name()
            ));
        }
    };
    if x < 0 || x as u64 > cap as u64 {
        return Err(format!("index out of range: {x}"));
    }
    Ok(x as usize)
}

fn index(args: &[Value]) -> Result<Value, String> {
    let mut item = args[0].clone();
    if let Value::Missing = item {
        return Err("index of untyped nil".into());
    }
    for index in &args[1..] {
        item = match &item {
            Value::List(list) => {
                let i = index_arg(index, list.items.len())?;
                list.items
                    .get(i)
                    .cloned()
                    .ok_or_else(|| "reflect: slice index out of range".to_string())?
            }
            Value::String(s) => {
                let i = index_arg(index, s.len())?;
                Value::int(i64::from(
                    *s.as_bytes()
                        .get(i)
                        .ok_or("reflect: string index out of range")?,
                ))
            }
            Value::Map(map) => {
                let key = match index {
                    Value::Missing => {
                        return Err(format!("value is nil; should be of type {}", map.key_type));
                    }
                    key if key.assignable_to(&map.key_type) => key,
                    key => {
                        return Err(format!(
                            "value has type {}; should be {}",
                            key.type_name(),
                            map.key_type
                        ));
                    }
                };
                map.get(key).cloned().unwrap_or_else(|| map.zero.clone())
            }
            Value::Missing => return Err("index of nil pointer".into()),
            other => return Err(format!("can't index item of type {}", other.type_name())),
        };
    }
    Ok(item)
}

/// Go's `evalArgs` for `html`, `js` and `urlquery`: one string as is, else `fmt.Sprint`.
fn eval_args(args: &[Value]) -> String {
    match args {
        [Value::String(s)] => s.to_string(),
        _ => format::sprint(args),
    }
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if c < ' ' => out.push_str(&format!("\\u00{:02X}", c as u32)),
            c if (c as u32) >= 0x80 && !format::is_print(c) => {
                out.push_str(&format!("\\u{:04X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// Go's `url.QueryEscape`.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum Kind {
    Invalid,
    Bool,
    Int,
    Float,
    String,
}

fn basic_kind(v: &Value) -> Kind {
    match v {
        Value::Bool(_) => Kind::Bool,
        Value::Int(..) => Kind::Int,
        Value::Float(_) => Kind::Float,
        Value::String(_) => Kind::String,
        _ => Kind::Invalid,
    }
}

fn eq(first: &Value, others: &[Value]) -> Result<bool, String> {
    if others.is_empty() {
        return Err("missing argument for comparison".into());
    }
    let k1 = basic_kind(first);
    for other in others {
        let k2 = basic_kind(other);
        let truth = if k1 != k2 {
            if !matches!(first, Value::Missing) && !matches!(other, Value::Missing) {
                return Err(format!(
                    "incompatible types for comparison: {} and {}",
                    first.type_name(),
                    other.type_name()
                ));
            }
            false
        } else {
            match (first, other) {
                (Value::Bool(a), Value::Bool(b)) => a == b,
                (Value::Int(a, _), Value::Int(b, _)) => a == b,
                (Value::Float(a), Value::Float(b)) => a == b,
                (Value::String(a), Value::String(b)) => a == b,
                (Value::Missing, _) | (_, Value::Missing) => {
                    matches!(first, Value::Missing) == matches!(other, Value::Missing)
                }
                (Value::List(_), _) | (Value::Map(_), _) => {
                    return Err(format!(
                        "non-comparable type {}: {}",
                        format::sprintf("%s", std::slice::from_ref(other)),
                        other.type_name()
                    ));
                }
                (a, b) => {
                    if a.type_name() != b.type_name() {
                        return Err(format!(
                            "non-comparable types {}: {}, {}: {}",
                            format::print_value(a),
                            a.type_name(),
                            b.type_name(),
                            format::print_value(b)
                        ));
                    }
                    deep_equal(a, b)
                }
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

fn lt(a: &Value, b: &Value) -> Result<bool, String> {
    let (k1, k2) = (basic_kind(a), basic_kind(b));
    if k1 == Kind::Invalid || k2 == Kind::Invalid {
        return Err("invalid type for comparison".into());
    }
    if k1 != k2 {
        return Err(format!(
            "incompatible types for comparison: {} and {}",
            a.type_name(),
            b.type_name()
        ));
    }
    if k1 == Kind::Bool {
        return Err("invalid type for comparison".into());
    }
    Ok(compare_keys(a, b) == std::cmp::Ordering::Less)
}

fn le(a: &Value, b: &Value) -> Result<bool, String> {
    if lt(a, b)? {
        return Ok(true);
    }
    eq(a, std::slice::from_ref(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_follow_go() {
        assert_eq!(eq(&Value::int(1), &[Value::int64(1)]), Ok(true));
        assert_eq!(eq(&Value::Missing, &[Value::string("x")]), Ok(false));
        assert!(eq(&Value::int(1), &[Value::string("1")]).is_err());
        assert_eq!(lt(&Value::string("a"), &Value::string("b")), Ok(true));
        assert!(lt(&Value::Bool(true), &Value::Bool(false)).is_err());
    }

    #[test]
    fn escapers_match_go() {
        assert_eq!(
            html_escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&#34;x&#34;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(
            js_escape("a'b\"<=>\n"),
            "a\\'b\\\"\\u003C\\u003D\\u003E\\u000A"
        );
        assert_eq!(query_escape("a b&c/é"), "a+b%26c%2F%C3%A9");
    }
}

//! Sprig's dict functions and JSON.
//!
//! Go's map iteration order is random; where Sprig's result depends on it
//! (`keys`, `values`), keys come in sorted order here. `set`, `unset` and
//! the merges return a changed copy (Sprig changes the dict in place).

use std::sync::Arc;

use super::sprig_data::empty;
use super::sprig_text::strval;
use super::value::{Map, Value, deep_equal};

type Out = Result<Value, String>;

fn dict_of(value: &Value) -> Option<&Arc<Map>> {
    match value {
        Value::Map(map) => Some(map),
        _ => None,
    }
}

fn new_dict(entries: Vec<(Value, Value)>) -> Value {
    Value::Map(Arc::new(Map::new(
        "map[string]interface {}",
        "string",
        Value::Missing,
        entries,
    )))
}

fn entries(value: &Value) -> Vec<(Value, Value)> {
    dict_of(value)
        .map(|m| m.entries().to_vec())
        .unwrap_or_default()
}

/// `dict KEY VALUE …`.
pub fn dict(args: &[Value]) -> Out {
    let pairs = args
        .chunks(2)
        .map(|pair| {
            (
                Value::string(strval(&pair[0])),
                pair.get(1).cloned().unwrap_or(Value::string("")),
            )
        })
        .collect();
    Ok(new_dict(pairs))
}

/// `get DICT KEY`.
pub fn get(args: &[Value]) -> Out {
    Ok(dict_of(&args[0])
        .and_then(|m| m.get(&args[1]).cloned())
        .unwrap_or(Value::string("")))
}

/// `set DICT KEY VALUE`: the dict with the key set (the original is not changed).
pub fn set(args: &[Value]) -> Out {
    let mut all = entries(&args[0]);
    all.push((args[1].clone(), args[2].clone()));
    Ok(new_dict(all))
}

/// `unset DICT KEY`: the dict without the key (the original is not changed).
pub fn unset(args: &[Value]) -> Out {
    Ok(new_dict(
        entries(&args[0])
            .into_iter()
            .filter(|(k, _)| !deep_equal(k, &args[1]))
            .collect(),
    ))
}

/// `hasKey DICT KEY`.
pub fn has_key(args: &[Value]) -> Out {
    Ok(Value::Bool(
        dict_of(&args[0]).is_some_and(|m| m.get(&args[1]).is_some()),
    ))
}

/// `pluck KEY DICTS…`.
pub fn pluck(args: &[Value]) -> Out {
    Ok(Value::any_list(
        args[1..]
            .iter()
            .filter_map(|d| dict_of(d).and_then(|m| m.get(&args[0]).cloned()))
            .collect(),
    ))
}

/// `keys DICTS…` (each dict's keys in sorted order).
pub fn keys(args: &[Value]) -> Out {
    Ok(Value::string_list(
        args.iter().flat_map(entries).map(|(k, _)| strval(&k)),
    ))
}

/// `pick DICT KEYS…`.
pub fn pick(args: &[Value]) -> Out {
    Ok(new_dict(
        entries(&args[0])
            .into_iter()
            .filter(|(k, _)| args[1..].iter().any(|x| deep_equal(x, k)))
            .collect(),
    ))
}

/// `omit DICT KEYS…`.
pub fn omit(args: &[Value]) -> Out {
    Ok(new_dict(
        entries(&args[0])
            .into_iter()
            .filter(|(k, _)| !args[1..].iter().any(|x| deep_equal(x, k)))
            .collect(),
    ))
}

/// `values DICT`.
pub fn values(args: &[Value]) -> Out {
    Ok(Value::any_list(
        entries(&args[0]).into_iter().map(|(_, v)| v).collect(),
    ))
}

fn merge_into(dst: &Value, src: &Value, overwrite: bool) -> Value {
    let mut out = entries(dst);
    for (key, value) in entries(src) {
        match out.iter_mut().find(|(k, _)| deep_equal(k, &key)) {
            Some(slot) => {
                if let (Value::Map(_), Value::Map(_)) = (&slot.1, &value) {
                    slot.1 = merge_into(&slot.1, &value, overwrite);
                } else if overwrite || empty(&slot.1) {
                    slot.1 = value;
                }
            }
            None => out.push((key, value)),
        }
    }
    new_dict(out)
}

/// `merge DST SRCS…` / `mergeOverwrite DST SRCS…`: a deep merge (the original is not changed).
pub fn merge(args: &[Value], overwrite: bool) -> Out {
    Ok(args[1..]
        .iter()
        .fold(args[0].clone(), |dst, src| merge_into(&dst, src, overwrite)))
}

/// `dig KEYS… DEFAULT DICT`.
pub fn dig(args: &[Value]) -> Out {
    if args.len() < 3 {
        return Err("dig needs at least three arguments".into());
    }
    let default = &args[args.len() - 2];
    let mut current = args[args.len() - 1].clone();
    let keys = &args[..args.len() - 2];
    for (i, key) in keys.iter().enumerate() {
        let Some(map) = dict_of(&current) else {
            return Err(format!(
                "interface conversion: interface {{}} is {}, not map[string]interface {{}}",
                current.type_name()
            ));
        };
        let Some(next) = map.get(key) else {
            return Ok(default.clone());
        };
        if i + 1 == keys.len() {
            return Ok(next.clone());
        }
        current = next.clone();
    }
    Ok(default.clone())
}

/// `fromJson` / `mustFromJson`.
pub fn from_json(text: &str) -> Out {
    let json: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    Ok(from_json_value(json))
}

fn from_json_value(json: serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::Missing,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => Value::string(s),
        serde_json::Value::Array(items) => {
            Value::any_list(items.into_iter().map(from_json_value).collect())
        }
        serde_json::Value::Object(map) => new_dict(
            map.into_iter()
                .map(|(k, v)| (Value::string(k), from_json_value(v)))
                .collect(),
        ),
    }
}

/// Go's `encoding/json` text of a value; `indent` is the prefix of `MarshalIndent`.
/// Fails as `json.Marshal` does on maps whose keys are not strings and on NaN or infinities.
pub fn to_json(value: &Value, escape_html: bool, indent: Option<&str>) -> Result<String, String> {
    if let Some(error) = json_error(value) {
        return Err(error);
    }
    let mut out = String::new();
    write_json(&mut out, value, escape_html, indent.map(|_| 0));
    Ok(out)
}

fn json_error(value: &Value) -> Option<String> {
    match value {
        Value::Float(f) if !f.is_finite() => Some(format!(
            "json: unsupported value: {}",
            super::format::print_value(value)
        )),
        Value::Map(map) => {
            if !matches!(&*map.key_type, "string" | "int" | "int64") {
                return Some(format!("json: unsupported type: {}", map.type_name));
            }
            map.entries().iter().find_map(|(_, v)| json_error(v))
        }
        Value::List(list) => list.items.iter().find_map(json_error),
        Value::Struct(object) => object.fields.iter().find_map(|f| json_error(&f.value)),
        _ => None,
    }
}

fn newline(out: &mut String, depth: Option<usize>) {
    if let Some(depth) = depth {
        out.push('\n');
        out.push_str(&"  ".repeat(depth));
    }
}

fn write_json(out: &mut String, value: &Value, escape_html: bool, depth: Option<usize>) {
    let inner = depth.map(|d| d + 1);
    match value {
        Value::Missing => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(n, _) => out.push_str(&n.to_string()),
        Value::Float(f) => out.push_str(&json_float(*f)),
        Value::String(s) => json_string(out, s, escape_html),
        Value::List(list) => {
            out.push('[');
            for (i, item) in list.items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, inner);
                write_json(out, item, escape_html, inner);
            }
            if !list.items.is_empty() {
                newline(out, depth);
            }
            out.push(']');
        }
        Value::Map(map) => {
            out.push('{');
            for (i, (key, item)) in map.entries().iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, inner);
                json_string(out, &strval(key), escape_html);
                out.push(':');
                if depth.is_some() {
                    out.push(' ');
                }
                write_json(out, item, escape_html, inner);
            }
            if !map.is_empty() {
                newline(out, depth);
            }
            out.push('}');
        }
        Value::Struct(object) => {
            out.push('{');
            for (i, field) in object.fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, inner);
                json_string(out, &field.name, escape_html);
                out.push(':');
                if depth.is_some() {
                    out.push(' ');
                }
                write_json(out, &field.value, escape_html, inner);
            }
            if !object.fields.is_empty() {
                newline(out, depth);
            }
            out.push('}');
        }
    }
}

fn json_float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let shortest = format!("{f:e}");
        let (mantissa, exponent) = shortest.split_once('e').unwrap_or((&shortest, "0"));
        let exponent: i32 = exponent.parse().unwrap_or(0);
        return if exponent < 0 {
            format!("{mantissa}e-{}", exponent.unsigned_abs())
        } else {
            format!("{mantissa}e+{exponent:02}")
        };
    }
    format!("{f}")
}

fn json_string(out: &mut String, s: &str, escape_html: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' if escape_html => out.push_str(&format!("\\u{:04x}", c as u32)),
            '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_matches_encoding_json() {
        let value = Value::dict([
            ("b", Value::string("<x>")),
            ("a", Value::any_list(vec![Value::int(1), Value::Float(1.5)])),
        ]);
        assert_eq!(
            to_json(&value, true, None).unwrap_or_default(),
            "{\"a\":[1,1.5],\"b\":\"\\u003cx\\u003e\"}"
        );
        assert_eq!(
            to_json(&value, false, Some("")).unwrap_or_default(),
            "{\n  \"a\": [\n    1,\n    1.5\n  ],\n  \"b\": \"<x>\"\n}"
        );
        assert_eq!(json_float(1e21), "1e+21");
        assert_eq!(json_float(1e-7), "1e-7");
    }
}

//! Sprig's string functions: case, trimming, wrapping, quoting and
//! splitting. Lengths and offsets are in bytes, as in Go.

use super::exec::MAX_VALUE;
use super::format;
use super::value::{Map, Value};

type Out = Result<Value, String>;

fn arg_str(args: &[Value], i: usize) -> &str {
    args.get(i).and_then(Value::as_str).unwrap_or_default()
}

fn arg_int(args: &[Value], i: usize) -> i64 {
    match args.get(i) {
        Some(Value::Int(n, _)) => *n,
        _ => 0,
    }
}

/// Fails when a function would make a string longer than [`MAX_VALUE`] bytes.
pub fn check_size(bytes: u128) -> Result<(), String> {
    if bytes > MAX_VALUE as u128 {
        return Err(format!("the result would be more than {MAX_VALUE} bytes"));
    }
    Ok(())
}

/// A function of one string.
pub fn map_str(args: &[Value], op: impl Fn(&str) -> String) -> Out {
    Ok(Value::string(op(arg_str(args, 0))))
}

/// A function of two strings.
pub fn map_str2(args: &[Value], op: impl Fn(&str, &str) -> String) -> Out {
    Ok(Value::string(op(arg_str(args, 0), arg_str(args, 1))))
}

/// A test of one string.
pub fn test_str(args: &[Value], op: impl Fn(&str) -> bool) -> Out {
    Ok(Value::Bool(op(arg_str(args, 0))))
}

/// A test of two strings.
pub fn test_str2(args: &[Value], op: impl Fn(&str, &str) -> bool) -> Out {
    Ok(Value::Bool(op(arg_str(args, 0), arg_str(args, 1))))
}

/// Sprig's `strval`: strings as they are, Stringers by `String()`, the rest by `%v`.
pub fn strval(value: &Value) -> String {
    match value {
        Value::String(s) => s.to_string(),
        Value::Struct(object) if object.string.is_some() => {
            object.string.as_deref().unwrap_or_default().to_string()
        }
        other => format::sprintf("%v", std::slice::from_ref(other)),
    }
}

/// A byte range of `s` as text (a cut inside a character keeps the rest of it out).
fn byte_slice(s: &str, start: usize, end: usize) -> String {
    String::from_utf8_lossy(&s.as_bytes()[start.min(s.len())..end.min(s.len())]).into_owned()
}

fn abbreviate_full(s: &str, offset: i64, width: i64) -> String {
    let len = s.len() as i64;
    if s.is_empty() || width < 4 || len <= width {
        return s.to_string();
    }
    let mut offset = offset.min(len);
    if len - offset < width - 3 {
        offset = len - (width - 3);
    }
    if offset <= 4 {
        return format!("{}...", byte_slice(s, 0, (width - 3) as usize));
    }
    if width < 7 {
        return String::new();
    }
    if offset + width - 3 < len {
        let rest = byte_slice(s, offset as usize, len as usize);
        return format!("...{}", abbreviate_full(&rest, 0, width - 3));
    }
    format!(
        "...{}",
        byte_slice(s, (len - (width - 3)) as usize, len as usize)
    )
}

/// `abbrev WIDTH S`.
pub fn abbrev(args: &[Value]) -> Out {
    let width = arg_int(args, 0);
    let s = arg_str(args, 1);
    Ok(Value::string(if width < 4 {
        s.to_string()
    } else {
        abbreviate_full(s, 0, width)
    }))
}

/// `abbrevboth LEFT RIGHT S`.
pub fn abbrevboth(args: &[Value]) -> Out {
    let (left, right) = (arg_int(args, 0), arg_int(args, 1));
    let s = arg_str(args, 2);
    if right < 4 || (left > 0 && right < 7) {
        return Ok(Value::string(s));
    }
    Ok(Value::string(abbreviate_full(s, left, right)))
}

/// `trunc N S`: the first N bytes, or the last -N.
pub fn trunc(args: &[Value]) -> Out {
    let c = arg_int(args, 0);
    let s = arg_str(args, 1);
    let len = s.len() as i64;
    Ok(Value::string(if c < 0 && len + c > 0 {
        byte_slice(s, (len + c) as usize, s.len())
    } else if c >= 0 && len > c {
        byte_slice(s, 0, c as usize)
    } else {
        s.to_string()
    }))
}

/// `substr START END S`.
pub fn substr(args: &[Value]) -> Out {
    let (start, end) = (arg_int(args, 0), arg_int(args, 1));
    let s = arg_str(args, 2);
    let len = s.len() as i64;
    let bounds = |from: i64, to: i64| -> Out {
        if from < 0 || to < from || to > len {
            return Err(format!(
                "runtime error: slice bounds out of range [{from}:{to}] with length {len}"
            ));
        }
        Ok(Value::string(byte_slice(s, from as usize, to as usize)))
    };
    if start < 0 {
        if end < 0 || end > len {
            return Err(format!(
                "runtime error: slice bounds out of range [:{end}] with length {len}"
            ));
        }
        return bounds(0, end);
    }
    if end < 0 || end > len {
        if start > len {
            return Err(format!(
                "runtime error: slice bounds out of range [{start}:{len}]"
            ));
        }
        return bounds(start, len);
    }
    if start > end {
        return Err(format!(
            "runtime error: slice bounds out of range [{start}:{end}]"
        ));
    }
    bounds(start, end)
}

/// `repeat N S`.
pub fn repeat(args: &[Value]) -> Out {
    let count = arg_int(args, 0);
    let s = arg_str(args, 1);
    if count < 0 {
        return Err("strings: negative Repeat count".into());
    }
    if (s.len() as u128) * (count as u128) > super::exec::MAX_OUTPUT as u128 {
        return Err(format!(
            "repeat would make more than {} bytes",
            super::exec::MAX_OUTPUT
        ));
    }
    Ok(Value::string(s.repeat(count as usize)))
}

/// Go's `strings.Title`: upper-cases the first letter of each word.
pub fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut previous = ' ';
    for c in s.chars() {
        let separator = if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else {
            !(c.is_alphanumeric()) && c.is_whitespace()
        };
        let previous_separator = if previous.is_ascii() {
            !(previous.is_ascii_alphanumeric() || previous == '_')
        } else {
            previous.is_whitespace()
        };
        if previous_separator && !separator {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        previous = c;
    }
    out
}

/// goutils' `Uncapitalize`: lower-cases the first letter after each space.
pub fn untitle(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut gap = true;
    for c in s.chars() {
        if c.is_whitespace() {
            gap = true;
            out.push(c);
        } else if gap {
            out.extend(c.to_lowercase());
            gap = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// goutils' `Initials`: the first byte of each space-separated word.
pub fn initials(s: &str) -> String {
    let mut out = String::new();
    let mut gap = true;
    for b in s.bytes() {
        if (b as char).is_whitespace() {
            gap = true;
        } else if gap {
            out.push(b as char);
            gap = false;
        }
    }
    out
}

/// goutils' `SwapCase`.
pub fn swapcase(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_uppercase() {
            out.extend(c.to_lowercase());
        } else if c.is_lowercase() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Splits an identifier into words at separators and case changes.
fn words(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let mut words = Vec::new();
    let mut word = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            continue;
        }
        if c.is_uppercase() && !word.is_empty() {
            let previous = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if previous.is_lowercase()
                || previous.is_numeric()
                || (previous.is_uppercase() && next_lower)
            {
                words.push(std::mem::take(&mut word));
            }
        }
        word.push(c);
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// xstrings' `ToSnakeCase` / `ToKebabCase`.
pub fn delimited_case(s: &str, delimiter: char) -> String {
    words(s)
        .iter()
        .map(|w| w.to_lowercase())
        .collect::<Vec<_>>()
        .join(&delimiter.to_string())
}

fn is_connector(c: char) -> bool {
    c == '-' || c == '_' || c.is_whitespace()
}

/// Go's `unicode.ToUpper` (simple case mapping: one rune to one rune).
pub fn upper_rune(c: char) -> char {
    let mut upper = c.to_uppercase();
    match (upper.next(), upper.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

/// Go's `unicode.ToLower` (simple case mapping).
pub fn lower_rune(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

/// xstrings' `ToPascalCase` (Sprig's `camelcase`): connectors (`-`, `_`,
/// spaces) between words are dropped and the next letter upper-cased;
/// leading and repeated connectors stay.
pub fn pascal_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    let mut first_upper = false;
    let mut r0 = None;
    for c in chars.by_ref() {
        if !is_connector(c) {
            first_upper = c.is_uppercase();
            r0 = Some(upper_rune(c));
            break;
        }
        out.push(c);
    }
    let Some(mut r0) = r0 else {
        return out;
    };
    for c in chars {
        let r1 = r0;
        r0 = c;
        if is_connector(r0) && is_connector(r1) {
            out.push(r1);
            continue;
        }
        if is_connector(r1) {
            first_upper = r0.is_uppercase();
            r0 = upper_rune(r0);
        } else {
            if first_upper {
                if r0.is_uppercase() {
                    r0 = lower_rune(r0);
                } else {
                    first_upper = false;
                }
            }
            out.push(r1);
        }
    }
    out.push(r0);
    out
}

fn wrap_custom(s: &str, width: i64, newline: &str, wrap_long_words: bool) -> String {
    if s.is_empty() {
        return String::new();
    }
    let newline = if newline.is_empty() { "\n" } else { newline };
    let width = width.max(1) as usize;
    let bytes = s.as_bytes();
    let len = bytes.len();
    let mut offset = 0;
    let mut out = Vec::new();
    while len - offset > width {
        if bytes[offset] == b' ' {
            offset += 1;
            continue;
        }
        let end = (width + offset + 1).min(len);
        match bytes[offset..end].iter().rposition(|&b| b == b' ') {
            Some(space) => {
                out.extend_from_slice(&bytes[offset..offset + space]);
                out.extend_from_slice(newline.as_bytes());
                offset += space + 1;
            }
            None if wrap_long_words => {
                out.extend_from_slice(&bytes[offset..offset + width]);
                out.extend_from_slice(newline.as_bytes());
                offset += width;
            }
            None => {
                let end = width + offset;
                match bytes[end..].iter().position(|&b| b == b' ') {
                    None => {
                        out.extend_from_slice(&bytes[offset..]);
                        offset = len;
                    }
                    Some(index) => {
                        out.extend_from_slice(&bytes[offset..end + index]);
                        out.extend_from_slice(newline.as_bytes());
                        offset = end + index + 1;
                    }
                }
            }
        }
    }
    out.extend_from_slice(&bytes[offset..]);
    String::from_utf8_lossy(&out).into_owned()
}

/// `wrap WIDTH S`.
pub fn wrap(args: &[Value]) -> Out {
    Ok(Value::string(wrap_custom(
        arg_str(args, 1),
        arg_int(args, 0),
        "\n",
        false,
    )))
}

/// `wrapWith WIDTH SEP S`.
pub fn wrap_with(args: &[Value]) -> Out {
    let (width, s) = (arg_int(args, 0).max(1) as u128, arg_str(args, 2));
    check_size((s.len() as u128 / width + 1) * arg_str(args, 1).len() as u128 + s.len() as u128)?;
    Ok(Value::string(wrap_custom(
        arg_str(args, 2),
        arg_int(args, 0),
        arg_str(args, 1),
        true,
    )))
}

/// `quote ARGS…`: each non-nil argument Go-quoted, joined by spaces.
pub fn quote(args: &[Value]) -> Out {
    let parts: Vec<String> = args
        .iter()
        .filter(|a| !matches!(a, Value::Missing))
        .map(|a| format::quote(&strval(a), false))
        .collect();
    Ok(Value::string(parts.join(" ")))
}

/// `squote ARGS…`: each non-nil argument in single quotes, joined by spaces.
pub fn squote(args: &[Value]) -> Out {
    let parts: Vec<String> = args
        .iter()
        .filter(|a| !matches!(a, Value::Missing))
        .map(|a| format!("'{}'", format::sprintf("%v", std::slice::from_ref(a))))
        .collect();
    Ok(Value::string(parts.join(" ")))
}

/// `cat ARGS…`: the non-nil arguments in `%v`, joined by spaces.
pub fn cat(args: &[Value]) -> Out {
    let parts: Vec<String> = args
        .iter()
        .filter(|a| !matches!(a, Value::Missing))
        .map(|a| format::sprintf("%v", std::slice::from_ref(a)))
        .collect();
    Ok(Value::string(parts.join(" ")))
}

/// `indent N S`.
pub fn indent(args: &[Value]) -> Out {
    let width = arg_int(args, 0).max(0) as u128;
    let s = arg_str(args, 1);
    check_size((s.matches('\n').count() as u128 + 1) * width + s.len() as u128)?;
    let pad = " ".repeat(width as usize);
    Ok(Value::string(format!(
        "{pad}{}",
        arg_str(args, 1).replace('\n', &format!("\n{pad}"))
    )))
}

/// `nindent N S`.
pub fn nindent(args: &[Value]) -> Out {
    let Value::String(s) = indent(args)? else {
        return Ok(Value::string("\n"));
    };
    Ok(Value::string(format!("\n{s}")))
}

/// `replace OLD NEW S`.
pub fn replace(args: &[Value]) -> Out {
    let (old, new, s) = (arg_str(args, 0), arg_str(args, 1), arg_str(args, 2));
    let matches = if old.is_empty() {
        s.chars().count() + 1
    } else {
        s.matches(old).count()
    };
    check_size(matches as u128 * new.len() as u128 + s.len() as u128)?;
    Ok(Value::string(
        arg_str(args, 2).replace(arg_str(args, 0), arg_str(args, 1)),
    ))
}

/// `plural ONE MANY N`.
pub fn plural(args: &[Value]) -> Out {
    Ok(Value::string(if arg_int(args, 2) == 1 {
        arg_str(args, 0)
    } else {
        arg_str(args, 1)
    }))
}

/// `atoi S` (0 when it is not an integer).
pub fn atoi(args: &[Value]) -> Out {
    Ok(Value::int(arg_str(args, 0).parse::<i64>().unwrap_or(0)))
}

/// Go's `strings.SplitN` (n < 0: all parts).
fn split_n(s: &str, sep: &str, n: i64) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    if sep.is_empty() {
        let chars: Vec<String> = s.chars().map(String::from).collect();
        if n < 0 || chars.len() <= n as usize {
            return chars;
        }
        let mut parts: Vec<String> = chars[..n as usize - 1].to_vec();
        parts.push(chars[n as usize - 1..].concat());
        return parts;
    }
    if n < 0 {
        s.split(sep).map(str::to_string).collect()
    } else {
        s.splitn(n as usize, sep).map(str::to_string).collect()
    }
}

fn indexed_map(parts: Vec<String>) -> Value {
    let entries = parts
        .into_iter()
        .enumerate()
        .map(|(i, p)| (Value::string(format!("_{i}")), Value::string(p)))
        .collect();
    Value::Map(std::sync::Arc::new(Map::new(
        "map[string]string",
        "string",
        Value::string(""),
        entries,
    )))
}

/// `split SEP S`: a map `_0`, `_1`, … of the parts.
pub fn split(args: &[Value]) -> Out {
    Ok(indexed_map(split_n(arg_str(args, 1), arg_str(args, 0), -1)))
}

/// `splitn SEP N S`.
pub fn splitn(args: &[Value]) -> Out {
    Ok(indexed_map(split_n(
        arg_str(args, 2),
        arg_str(args, 0),
        arg_int(args, 1),
    )))
}

/// `splitList SEP S`.
pub fn split_list(args: &[Value]) -> Out {
    Ok(Value::string_list(split_n(
        arg_str(args, 1),
        arg_str(args, 0),
        -1,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_follow_go() {
        assert_eq!(title("hello wide-world_x"), "Hello Wide-World_x");
        assert_eq!(delimited_case("HTTPServerName2", '_'), "http_server_name2");
        assert_eq!(pascal_case("__foo_bar"), "__FooBar");
        assert_eq!(abbreviate_full("abcdefghij", 0, 6), "abc...");
        assert_eq!(
            wrap_custom("the quick brown fox", 10, "\n", false),
            "the quick\nbrown fox"
        );
    }
}

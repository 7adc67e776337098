//! Sprig's string functions: case, trimming, wrapping, quoting, splitting,
//! hashes, encodings, paths, regular expressions and URLs. Lengths and
//! offsets are in bytes, as in Go.

use base64::Engine as _;
use sha2::Digest as _;

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
    let pad = " ".repeat(arg_int(args, 0).clamp(0, 10_000) as usize);
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

/// SHA-1 as lowercase hex.
pub fn sha1_hex(s: &str) -> String {
    hex::encode(super::hash::sha1(s.as_bytes()))
}

/// SHA-256 as lowercase hex.
pub fn sha256_hex(s: &str) -> String {
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

/// SHA-512 as lowercase hex.
pub fn sha512_hex(s: &str) -> String {
    hex::encode(sha2::Sha512::digest(s.as_bytes()))
}

/// Adler-32 in decimal.
pub fn adler32(s: &str) -> String {
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in s.as_bytes() {
        a = (a + u32::from(byte)) % 65521;
        b = (b + a) % 65521;
    }
    ((b << 16) | a).to_string()
}

/// Standard base64 with padding.
pub fn b64enc(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}

/// Decodes standard base64; on error, Go's error text.
pub fn b64dec(s: &str) -> String {
    match base64::engine::general_purpose::STANDARD.decode(s.as_bytes()) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(base64::DecodeError::InvalidByte(at, _)) => {
            format!("illegal base64 data at input byte {at}")
        }
        Err(_) => format!(
            "illegal base64 data at input byte {}",
            s.len().saturating_sub(s.len() % 4).min(s.len())
        ),
    }
}

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Standard base32 with padding.
pub fn b32enc(s: &str) -> String {
    let mut out = String::new();
    for chunk in s.as_bytes().chunks(5) {
        let mut buffer = [0u8; 5];
        buffer[..chunk.len()].copy_from_slice(chunk);
        let bits = buffer
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        let chars = (chunk.len() * 8).div_ceil(5);
        for i in 0..8 {
            if i < chars {
                out.push(B32[((bits >> (35 - i * 5)) & 31) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base32; on error, Go's error text.
pub fn b32dec(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    for (index, chunk) in bytes.chunks(8).enumerate() {
        if chunk.len() != 8 {
            return format!("illegal base32 data at input byte {}", index * 8);
        }
        let mut bits = 0u64;
        let mut count = 0;
        for (i, &c) in chunk.iter().enumerate() {
            if c == b'=' {
                if chunk[i..].iter().any(|&p| p != b'=') {
                    return format!("illegal base32 data at input byte {}", index * 8 + i);
                }
                break;
            }
            let Some(value) = B32.iter().position(|&b| b == c) else {
                return format!("illegal base32 data at input byte {}", index * 8 + i);
            };
            bits |= (value as u64) << (35 - i * 5);
            count += 1;
        }
        let n = count * 5 / 8;
        for i in 0..n {
            out.push((bits >> (32 - i * 8)) as u8);
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Go's `path.Clean`.
pub fn path_clean(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Go's `path.Base`.
pub fn path_base(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/".into();
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_string()
}

/// Go's `path.Dir`.
pub fn path_dir(path: &str) -> String {
    let dir = match path.rfind('/') {
        Some(i) => &path[..=i],
        None => "",
    };
    path_clean(dir)
}

/// Go's `path.Ext`.
pub fn path_ext(path: &str) -> String {
    for (i, c) in path.char_indices().rev() {
        match c {
            '/' => return String::new(),
            '.' => return path[i..].to_string(),
            _ => {}
        }
    }
    String::new()
}

/// Go's `regexp.QuoteMeta`.
pub fn quote_meta(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn compile(pattern: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(pattern).map_err(|e| format!("error parsing regexp: {e}"))
}

/// `regexMatch RE S`.
pub fn regex_match(args: &[Value]) -> Out {
    Ok(Value::Bool(
        compile(arg_str(args, 0)).is_ok_and(|re| re.is_match(arg_str(args, 1))),
    ))
}

/// `mustRegexMatch RE S`.
pub fn must_regex_match(args: &[Value]) -> Out {
    Ok(Value::Bool(
        compile(arg_str(args, 0))?.is_match(arg_str(args, 1)),
    ))
}

/// `regexFindAll RE S N`.
pub fn regex_find_all(args: &[Value]) -> Out {
    let re = compile(arg_str(args, 0))?;
    let n = arg_int(args, 2);
    let found = re
        .find_iter(arg_str(args, 1))
        .map(|m| m.as_str().to_string());
    Ok(Value::string_list(if n < 0 {
        found.collect::<Vec<_>>()
    } else {
        found.take(n as usize).collect()
    }))
}

/// `regexFind RE S`.
pub fn regex_find(args: &[Value]) -> Out {
    let re = compile(arg_str(args, 0))?;
    Ok(Value::string(
        re.find(arg_str(args, 1))
            .map(|m| m.as_str())
            .unwrap_or_default(),
    ))
}

/// `regexReplaceAll RE S REPL` (with `$1` expansion unless `literal`).
pub fn regex_replace(args: &[Value], literal: bool) -> Out {
    let re = compile(arg_str(args, 0))?;
    let (s, replacement) = (arg_str(args, 1), arg_str(args, 2));
    Ok(Value::string(if literal {
        re.replace_all(s, regex::NoExpand(replacement)).into_owned()
    } else {
        re.replace_all(s, replacement).into_owned()
    }))
}

/// `regexSplit RE S N`.
pub fn regex_split(args: &[Value]) -> Out {
    let re = compile(arg_str(args, 0))?;
    let (s, n) = (arg_str(args, 1), arg_int(args, 2));
    Ok(Value::string_list(match n {
        0 => Vec::new(),
        n if n < 0 => re.split(s).map(str::to_string).collect::<Vec<_>>(),
        n => re.splitn(s, n as usize).map(str::to_string).collect(),
    }))
}

/// `urlParse URL`: its parts as a dict.
pub fn url_parse(args: &[Value]) -> Out {
    let raw = arg_str(args, 0);
    let (rest, fragment) = raw.split_once('#').unwrap_or((raw, ""));
    let (mut scheme, mut rest) = ("", rest);
    if let Some((s, r)) = rest.split_once(':')
        && !s.is_empty()
        && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    {
        scheme = s;
        rest = r;
    }
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (mut host, mut path, mut opaque, mut userinfo) = ("", rest, "", "");
    if let Some(authority) = rest.strip_prefix("//") {
        let (a, p) = match authority.find('/') {
            Some(i) => (&authority[..i], &authority[i..]),
            None => (authority, ""),
        };
        path = p;
        host = a;
        if let Some((u, h)) = a.rsplit_once('@') {
            userinfo = u;
            host = h;
        }
    } else if !scheme.is_empty() && !rest.starts_with('/') {
        opaque = rest;
        path = "";
    }
    let hostname = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    Ok(Value::dict([
        ("scheme", Value::string(scheme.to_ascii_lowercase())),
        ("host", Value::string(host)),
        ("hostname", Value::string(hostname)),
        ("path", Value::string(path)),
        ("query", Value::string(query)),
        ("opaque", Value::string(opaque)),
        ("fragment", Value::string(fragment)),
        ("userinfo", Value::string(userinfo)),
    ]))
}

/// Go's `url.URL.EscapedPath` for a path without escapes.
fn escape_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~$&+,/:;=@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `urlJoin DICT`: a URL from its parts.
pub fn url_join(args: &[Value]) -> Out {
    let Some(Value::Map(map)) = args.first() else {
        return Ok(Value::string(""));
    };
    let part = |key: &str| -> Result<String, String> {
        match map.get_str(key) {
            None => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.to_string()),
            Some(other) => Err(format!(
                "unable to parse {key} key, must be of type string, but {} found",
                other.kind_name()
            )),
        }
    };
    let (scheme, host, path, query, opaque, fragment, userinfo) = (
        part("scheme")?,
        part("host")?,
        part("path")?,
        part("query")?,
        part("opaque")?,
        part("fragment")?,
        part("userinfo")?,
    );
    let mut out = String::new();
    if !scheme.is_empty() {
        out.push_str(&scheme);
        out.push(':');
    }
    if !opaque.is_empty() {
        out.push_str(&opaque);
    } else {
        if !scheme.is_empty() || !host.is_empty() || !userinfo.is_empty() {
            if !host.is_empty() || !path.is_empty() || !userinfo.is_empty() {
                out.push_str("//");
            }
            if !userinfo.is_empty() {
                out.push_str(&userinfo);
                out.push('@');
            }
            out.push_str(&host);
        }
        if !path.is_empty() && !path.starts_with('/') && !host.is_empty() {
            out.push('/');
        }
        out.push_str(&escape_path(&path));
    }
    if !query.is_empty() {
        out.push('?');
        out.push_str(&query);
    }
    if !fragment.is_empty() {
        out.push('#');
        out.push_str(&fragment);
    }
    Ok(Value::string(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_follow_go() {
        assert_eq!(title("hello wide-world_x"), "Hello Wide-World_x");
        assert_eq!(path_clean("a//b/../c/."), "a/c");
        assert_eq!(path_base("/a/b/"), "b");
        assert_eq!(path_dir("a/b/c.yaml"), "a/b");
        assert_eq!(path_ext("a/b.tar.gz"), ".gz");
        assert_eq!(b32enc("hello"), "NBSWY3DP");
        assert_eq!(b32dec("NBSWY3DP"), "hello");
        assert_eq!(b64dec("aGk="), "hi");
        assert_eq!(adler32("abc"), "38600999");
        assert_eq!(sha1_hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(delimited_case("HTTPServerName2", '_'), "http_server_name2");
        assert_eq!(abbreviate_full("abcdefghij", 0, 6), "abc...");
        assert_eq!(
            wrap_custom("the quick brown fox", 10, "\n", false),
            "the quick\nbrown fox"
        );
    }
}

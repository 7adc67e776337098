//! Sprig's hashes, encodings, paths, regular expressions and URLs.

use base64::Engine as _;
use sha2::Digest as _;

use super::value::Value;

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
    let limit = super::exec::MAX_VALUE;
    let mut size = s.len();
    let mut over = false;
    let result = re.replace_all(s, |captures: &regex::Captures<'_>| {
        let mut expanded = String::new();
        if over {
            return expanded;
        }
        if literal {
            expanded.push_str(replacement);
        } else {
            captures.expand(replacement, &mut expanded);
        }
        size += expanded.len();
        if size > limit {
            over = true;
            expanded.clear();
        }
        expanded
    });
    if over {
        return Err(format!("the result would be more than {limit} bytes"));
    }
    Ok(Value::string(result.into_owned()))
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
    fn encodings_and_paths_follow_go() {
        assert_eq!(path_clean("a//b/../c/."), "a/c");
        assert_eq!(path_base("/a/b/"), "b");
        assert_eq!(path_dir("a/b/c.yaml"), "a/b");
        assert_eq!(path_ext("a/b.tar.gz"), ".gz");
        assert_eq!(b32enc("hello"), "NBSWY3DP");
        assert_eq!(b32dec("NBSWY3DP"), "hello");
        assert_eq!(b64dec("aGk="), "hi");
        assert_eq!(adler32("abc"), "38600999");
        assert_eq!(sha1_hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(escape_path("a b/c"), "a%20b/c");
    }
}

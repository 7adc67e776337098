//! Literals: Go's `strconv.Unquote` and `newNumber`.

use super::super::ast::Number;
use super::super::lex::ItemType;

/// Go's `strconv.Unquote` for `"…"`, `` `…` `` and `'…'` literals.
pub fn unquote(text: &str) -> std::result::Result<String, String> {
    let syntax = || "invalid syntax".to_string();
    if let Some(raw) = text.strip_prefix('`').and_then(|t| t.strip_suffix('`')) {
        return Ok(raw.replace('\r', ""));
    }
    let quote = text.chars().next().ok_or_else(syntax)?;
    let body = text
        .strip_prefix(quote)
        .and_then(|t| t.strip_suffix(quote))
        .filter(|_| text.len() >= 2 && matches!(quote, '"' | '\''))
        .ok_or_else(syntax)?;
    let mut out = String::new();
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c == quote || (quote == '"' && c == '\n') {
            return Err(syntax());
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let escape = chars.next().ok_or_else(syntax)?;
        let mut hex = |n: usize| -> std::result::Result<u32, String> {
            let digits: String = (0..n).filter_map(|_| chars.next()).collect();
            if digits.len() != n {
                return Err(syntax());
            }
            u32::from_str_radix(&digits, 16).map_err(|_| syntax())
        };
        match escape {
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\u{b}'),
            '\\' => out.push('\\'),
            '\'' | '"' if escape == quote => out.push(escape),
            'x' => out.push(char::from_u32(hex(2)?).ok_or_else(syntax)?),
            'u' => out.push(char::from_u32(hex(4)?).ok_or_else(syntax)?),
            'U' => out.push(char::from_u32(hex(8)?).ok_or_else(syntax)?),
            '0'..='7' => {
                let mut value = escape.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    let digit = chars
                        .next()
                        .and_then(|c| c.to_digit(8))
                        .ok_or_else(syntax)?;
                    value = value * 8 + digit;
                }
                if value > 255 {
                    return Err(syntax());
                }
                out.push(char::from_u32(value).ok_or_else(syntax)?);
            }
            _ => return Err(syntax()),
        }
    }
    if quote == '\'' && out.chars().count() != 1 {
        return Err(syntax());
    }
    Ok(out)
}

/// A character constant (`'a'`, `'\\n'`, `'\\u00e9'`): Go's `UnquoteChar` then the closing quote.
fn char_constant(text: &str) -> std::result::Result<char, String> {
    let body = text.get(1..).unwrap_or_default();
    let first_len = if body.starts_with('\\') {
        let escape = body.chars().nth(1).ok_or("invalid syntax")?;
        1 + escape.len_utf8()
            + match escape {
                'x' => 2,
                'u' => 4,
                'U' => 8,
                '0'..='7' => 2,
                _ => 0,
            }
    } else {
        body.chars().next().map_or(0, char::len_utf8)
    };
    let (first, tail) = (
        body.get(..first_len).ok_or("invalid syntax")?,
        &body[first_len..],
    );
    let value = unquote(&format!("'{first}'"))?;
    if tail != "'" {
        return Err(format!("malformed character constant: {text}"));
    }
    value
        .chars()
        .next()
        .ok_or_else(|| "invalid syntax".to_string())
}

/// Go's `strconv.ParseInt(text, 0, 64)` digits (sign handled by the caller).
fn parse_unsigned(text: &str) -> Option<u64> {
    let (digits, radix, prefixed) = match text.get(..2) {
        Some("0x" | "0X") => (&text[2..], 16, true),
        Some("0o" | "0O") => (&text[2..], 8, true),
        Some("0b" | "0B") => (&text[2..], 2, true),
        _ if text.len() > 1 && text.starts_with('0') => (&text[1..], 8, true),
        _ => (text, 10, false),
    };
    let _ = prefixed;
    if digits.is_empty() || (digits.contains('_') && !valid_underscores(text)) {
        return None;
    }
    u64::from_str_radix(&digits.replace('_', ""), radix).ok()
}

fn valid_underscores(text: &str) -> bool {
    // Go: underscores only between digits or after a base prefix.
    let bytes = text.as_bytes();
    let mut previous = b'^';
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'_' {
            let after_prefix =
                i == 2 && matches!(bytes[1], b'x' | b'X' | b'o' | b'O' | b'b' | b'B');
            if !(previous.is_ascii_hexdigit() || after_prefix) {
                return false;
            }
        } else if previous == b'_' && !b.is_ascii_hexdigit() {
            return false;
        }
        previous = b;
    }
    previous != b'_'
}

/// Go's `newNumber`: every interpretation of a number literal.
pub(super) fn number(text: &str, typ: ItemType) -> std::result::Result<Number, String> {
    let mut number = Number {
        text: text.to_string(),
        int: None,
        uint: None,
        float: None,
        complex: false,
    };
    if typ == ItemType::CharConstant {
        let c = char_constant(text)? as i64;
        number.int = Some(c);
        number.uint = Some(c as u64);
        number.float = Some(c as f64);
        return Ok(number);
    }
    if typ == ItemType::Complex || text.ends_with('i') {
        number.complex = true;
        return Ok(number);
    }
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if let Some(u) = parse_unsigned(unsigned) {
        if !negative && !text.starts_with('+') {
            number.uint = Some(u);
        }
        if negative {
            if u <= i64::MAX as u64 + 1 {
                number.int = Some((u as i128).wrapping_neg() as i64);
            }
        } else if u <= i64::MAX as u64 {
            number.int = Some(u as i64);
        }
        if number.int == Some(0) {
            number.uint = Some(0);
        }
    }
    if let Some(i) = number.int {
        number.float = Some(i as f64);
    } else if let Some(u) = number.uint {
        number.float = Some(u as f64);
    } else if let Some(f) = parse_float(text) {
        if !text.contains(['.', 'e', 'E', 'p', 'P']) {
            return Err(format!(
                "integer overflow: {}",
                crate::gotemplate::format::quote(text, false)
            ));
        }
        number.float = Some(f);
        if f.fract() == 0.0 && f.abs() < 9.2e18 {
            number.int = Some(f as i64);
        }
        if f.fract() == 0.0 && (0.0..1.8e19).contains(&f) {
            number.uint = Some(f as u64);
        }
    }
    if number.int.is_none() && number.uint.is_none() && number.float.is_none() {
        return Err(format!(
            "illegal number syntax: {}",
            crate::gotemplate::format::quote(text, false)
        ));
    }
    Ok(number)
}

fn parse_float(text: &str) -> Option<f64> {
    if text.contains("__") || text.ends_with('_') {
        return None;
    }
    if text.contains(['x', 'X']) {
        return parse_hex_float(text);
    }
    if text.contains(['p', 'P']) {
        return None;
    }
    text.replace('_', "")
        .parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
}

/// A hexadecimal float (`0x1.8p3`): hex mantissa, binary exponent.
fn parse_hex_float(text: &str) -> Option<f64> {
    let (negative, rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let rest = rest
        .strip_prefix("0x")
        .or_else(|| rest.strip_prefix("0X"))?
        .replace('_', "");
    let (mantissa, exponent) = rest.split_once(['p', 'P'])?;
    let exponent: i32 = exponent.parse().ok()?;
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut value = 0f64;
    for c in int.chars().chain(frac.chars()) {
        value = value * 16.0 + f64::from(c.to_digit(16)?);
    }
    let value = value * 2f64.powi(exponent - 4 * frac.len() as i32);
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_have_every_interpretation() {
        let n = number("0x1F", ItemType::Number).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((n.int, n.float), (Some(31), Some(31.0)));
        let n = number("1.0", ItemType::Number).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(n.int, Some(1));
        let n = number("'a'", ItemType::CharConstant).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(n.int, Some(97));
        assert!(number("1__0", ItemType::Number).is_err());
    }
}

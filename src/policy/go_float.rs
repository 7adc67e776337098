//! Numbers as Go's `strconv.ParseFloat(s, 64)` reads them, which is how Flux's
//! numerical policy reads values.
//!
//! Accepted (anything else is not a number):
//! - decimal: `[+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?`;
//! - hexadecimal: `[+-]? 0[xX] hexdigits [. hexdigits?] [pP] [+-]? digits`
//!   (the binary exponent is required; `0x.8p1` works too);
//! - `_` between digits, or between `0x` and a digit (`1_000`, `0x_1p4`,
//!   `1e1_0`), never first, last or doubled;
//! - `inf` and `infinity` with an optional sign, and `nan`, in any case.
//!
//! A value too large for a float64 (`1e400`) is an error in Go, so it is not a
//! number here; one too small rounds to zero, as in Go. Both decimal and
//! hexadecimal values round to the nearest float64, ties to even.

/// Parses `text` as Go's `strconv.ParseFloat(text, 64)`; `None` where Go
/// returns an error.
pub(crate) fn parse(text: &str) -> Option<f64> {
    if let Some(special) = special(text) {
        return Some(special);
    }
    let bytes = text.as_bytes();
    if !bytes.is_empty() && bytes.iter().all(u8::is_ascii_digit) {
        // The common case (build numbers): plain decimal digits.
        return finite(text.parse().ok()?);
    }
    let (negative, body) = match bytes.first() {
        Some(b'+') => (false, &bytes[1..]),
        Some(b'-') => (true, &bytes[1..]),
        _ => (false, bytes),
    };
    let hex = body.len() > 2 && body[0] == b'0' && body[1].eq_ignore_ascii_case(&b'x');
    let scan = scan(body, hex)?;
    if scan.underscores && !underscores_ok(body, hex) {
        return None;
    }
    let value = if hex {
        hex_value(&body[2..])?
    } else if scan.underscores {
        let digits: String = text.chars().filter(|&c| c != '_').collect();
        return finite(digits.parse().ok()?);
    } else {
        return finite(text.parse().ok()?);
    };
    Some(if negative { -value } else { value })
}

/// `inf`, `infinity` (optionally signed) and `nan`, case-insensitively.
fn special(text: &str) -> Option<f64> {
    let (sign, rest) = match text.as_bytes().first() {
        Some(b'+') => (1.0, &text[1..]),
        Some(b'-') => (-1.0, &text[1..]),
        _ => (1.0, text),
    };
    if rest.eq_ignore_ascii_case("inf") || rest.eq_ignore_ascii_case("infinity") {
        return Some(sign * f64::INFINITY);
    }
    (text.eq_ignore_ascii_case("nan")).then_some(f64::NAN)
}

/// Go reports overflow as an error: an infinite result is not a number.
fn finite(value: f64) -> Option<f64> {
    value.is_finite().then_some(value)
}

/// What a syntax check found.
struct Scan {
    underscores: bool,
}

/// Checks the syntax of an unsigned number (`0x` included when `hex`).
fn scan(body: &[u8], hex: bool) -> Option<Scan> {
    let mut i = if hex { 2 } else { 0 };
    let is_digit = |b: u8| {
        if hex {
            b.is_ascii_hexdigit()
        } else {
            b.is_ascii_digit()
        }
    };
    let mut underscores = false;
    let mut digits = false;
    let mut dot = false;
    while let Some(&b) = body.get(i) {
        match b {
            b'_' => underscores = true,
            b'.' if !dot => dot = true,
            _ if is_digit(b) => digits = true,
            _ => break,
        }
        i += 1;
    }
    if !digits {
        return None;
    }
    let exponent = if hex { b'p' } else { b'e' };
    if body
        .get(i)
        .is_some_and(|b| b.to_ascii_lowercase() == exponent)
    {
        i += 1;
        if matches!(body.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !body.get(i).is_some_and(u8::is_ascii_digit) {
            return None;
        }
        while let Some(&b) = body.get(i) {
            match b {
                b'_' => underscores = true,
                _ if b.is_ascii_digit() => {}
                _ => break,
            }
            i += 1;
        }
    } else if hex {
        return None;
    }
    (i == body.len()).then_some(Scan { underscores })
}

/// Go's rule for `_`: only between two digits, or between the `0x` prefix and
/// a digit.
fn underscores_ok(body: &[u8], hex: bool) -> bool {
    #[derive(PartialEq)]
    enum Last {
        Start,
        Digit,
        Underscore,
        Other,
    }
    let (mut last, rest) = if hex {
        (Last::Digit, &body[2..])
    } else {
        (Last::Start, body)
    };
    for &b in rest {
        if b.is_ascii_digit() || (hex && b.is_ascii_hexdigit()) {
            last = Last::Digit;
        } else if b == b'_' {
            if last != Last::Digit {
                return false;
            }
            last = Last::Underscore;
        } else if last == Last::Underscore {
            return false;
        } else {
            last = Last::Other;
        }
    }
    last != Last::Underscore
}

/// The value of `hexdigits[.hexdigits]p[+-]digits` (underscores allowed,
/// syntax already checked), rounded to the nearest float64, ties to even;
/// `None` on overflow.
fn hex_value(body: &[u8]) -> Option<f64> {
    // Up to 16 significant hex digits are kept exactly; any non-zero digit
    // past them only makes the value slightly larger (`sticky`).
    let mut mantissa: u64 = 0;
    let mut kept_digits = 0u32;
    let mut sticky = false;
    let mut exponent: i64 = 0;
    let mut after_dot = false;
    let mut i = 0;
    while let Some(&b) = body.get(i) {
        if b == b'p' || b == b'P' {
            break;
        }
        i += 1;
        if b == b'_' {
            continue;
        }
        if b == b'.' {
            after_dot = true;
            continue;
        }
        let digit = u64::from(hex_digit(b));
        if mantissa == 0 && digit == 0 {
            // Leading zeros: no significant bits, but they shift a fraction.
            if after_dot {
                exponent -= 4;
            }
            continue;
        }
        if kept_digits < 16 {
            mantissa = mantissa << 4 | digit;
            kept_digits += 1;
            if after_dot {
                exponent -= 4;
            }
        } else {
            sticky |= digit != 0;
            if !after_dot {
                exponent += 4;
            }
        }
    }
    let mut binary: i64 = 0;
    let mut negative = false;
    // After the `p` that `scan` found.
    for &b in body.get(i + 1..).unwrap_or_default() {
        match b {
            b'-' => negative = true,
            b'0'..=b'9' => binary = (binary * 10 + i64::from(b - b'0')).min(1 << 40),
            _ => {}
        }
    }
    exponent += if negative { -binary } else { binary };
    round_to_f64(mantissa, exponent, sticky)
}

fn hex_digit(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        _ => b.to_ascii_lowercase() - b'a' + 10,
    }
}

/// `mantissa × 2^exponent` (plus a little when `sticky`) to the nearest
/// float64, ties to even; `None` when it overflows.
fn round_to_f64(mantissa: u64, exponent: i64, sticky: bool) -> Option<f64> {
    if mantissa == 0 {
        return Some(0.0);
    }
    let bits = i64::from(64 - mantissa.leading_zeros());
    // The exponent of the leading bit, and the weight of the last bit kept:
    // 52 bits below the leading one, but never below 2^-1074 (subnormals).
    let top = exponent + bits - 1;
    let quantum = (top - 52).max(-1074);
    let kept = match u32::try_from(quantum - exponent) {
        // Exact: `sticky` needs 17 digits, more than 53 bits, so never here.
        Err(_) => mantissa << (exponent - quantum),
        Ok(0) => mantissa,
        Ok(shift) if shift > 64 => 0,
        Ok(shift) => {
            let wide = u128::from(mantissa);
            let kept = wide >> shift;
            let rest = wide & ((1 << shift) - 1);
            let half = 1 << (shift - 1);
            let round_up = rest > half || (rest == half && (sticky || kept & 1 == 1));
            u64::try_from(kept).ok()? + u64::from(round_up)
        }
    };
    // `kept` has at most 53 bits, or is 2^53 after rounding up.
    let (kept, quantum) = if kept >> 53 != 0 {
        (kept >> 1, quantum + 1)
    } else {
        (kept, quantum)
    };
    if kept >> 52 == 0 {
        // Subnormal: the quantum is 2^-1074, the bits are the value.
        return Some(f64::from_bits(kept));
    }
    let biased = u64::try_from(quantum + 52 + 1023).ok()?;
    if biased >= 0x7ff {
        return None;
    }
    Some(f64::from_bits(biased << 52 | (kept & ((1 << 52) - 1))))
}

#[cfg(test)]
#[path = "go_float_tests.rs"]
mod tests;

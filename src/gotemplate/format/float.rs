//! Floats as Go's `strconv.FormatFloat` writes them for `%v`, `%e`, `%f`
//! and `%g` (shortest digits, or a given precision).

use super::super::value::Value;
use super::{Spec, bad_verb, pad};

pub(super) fn format_float(out: &mut String, value: &Value, f: f64, verb: char, spec: Spec) {
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

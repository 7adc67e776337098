//! Sprig's functions on numbers, lists and defaults, with `spf13/cast`'s
//! conversions and `shopspring/decimal`'s float arithmetic.

use super::format;
use super::sprig_text::strval;
use super::value::{Value, deep_equal};

type Out = Result<Value, String>;

/// The most elements `until`, `untilStep` and `seq` may produce.
const MAX_ELEMENTS: i64 = 1_000_000;

/// `cast.ToInt64`: numbers truncated, strings parsed (0 when not a number), bools 1 or 0.
pub fn to_int64(value: &Value) -> i64 {
    match value {
        Value::Int(n, _) => *n,
        Value::Float(f) => *f as i64,
        Value::Bool(b) => i64::from(*b),
        Value::String(s) => {
            let trimmed = trim_zero_decimal(s);
            parse_go_int(trimmed).unwrap_or(0)
        }
        _ => 0,
    }
}

fn trim_zero_decimal(s: &str) -> &str {
    if let Some((int, frac)) = s.split_once('.')
        && !int.is_empty()
        && !frac.is_empty()
        && frac.bytes().all(|b| b == b'0')
    {
        return int;
    }
    s
}

fn parse_go_int(s: &str) -> Option<i64> {
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (digits, radix) = match digits.get(..2) {
        Some("0x" | "0X") => (&digits[2..], 16),
        Some("0o" | "0O") => (&digits[2..], 8),
        Some("0b" | "0B") => (&digits[2..], 2),
        _ if digits.len() > 1 && digits.starts_with('0') => (&digits[1..], 8),
        _ => (digits, 10),
    };
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    let magnitude = i128::from_str_radix(&digits.replace('_', ""), radix).ok()?;
    i64::try_from(if negative { -magnitude } else { magnitude }).ok()
}

/// `cast.ToFloat64`.
pub fn to_float64(value: &Value) -> f64 {
    match value {
        Value::Int(n, _) => *n as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::String(s) => s.parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

/// Go's `math.Max` (NaN wins).
pub fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// Go's `math.Min` (NaN wins).
pub fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

/// Sprig's `strslice`: a list's non-nil elements as strings, anything else as one string.
pub fn strslice(value: &Value) -> Vec<String> {
    match value {
        Value::List(list) => list
            .items
            .iter()
            .filter(|v| !matches!(v, Value::Missing))
            .map(strval)
            .collect(),
        Value::Missing => Vec::new(),
        other => vec![strval(other)],
    }
}

/// Sprig's `empty`.
pub fn empty(value: &Value) -> bool {
    !matches!(value, Value::Struct(_)) && !value.is_true()
}

/// `default DEFAULT VALUE`.
pub fn default(args: &[Value]) -> Out {
    match args.get(1) {
        Some(given) if !empty(given) => Ok(given.clone()),
        _ => Ok(args[0].clone()),
    }
}

/// `div A B`.
pub fn div(args: &[Value]) -> Out {
    let b = to_int64(&args[1]);
    if b == 0 {
        return Err("runtime error: integer divide by zero".into());
    }
    Ok(Value::int64(to_int64(&args[0]).wrapping_div(b)))
}

/// `mod A B`.
pub fn modulo(args: &[Value]) -> Out {
    let b = to_int64(&args[1]);
    if b == 0 {
        return Err("runtime error: integer divide by zero".into());
    }
    Ok(Value::int64(to_int64(&args[0]).wrapping_rem(b)))
}

/// An exact decimal `mantissa × 10^-scale`, as `shopspring/decimal` computes.
#[derive(Clone, Copy)]
struct Decimal {
    mantissa: i128,
    scale: u32,
}

impl Decimal {
    fn from_f64(f: f64) -> Option<Self> {
        if !f.is_finite() {
            return None;
        }
        let text = format!("{f}");
        let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
        let digits = format!("{int}{frac}");
        let mantissa: i128 = digits.parse().ok()?;
        Some(Self {
            mantissa,
            scale: frac.len() as u32,
        })
    }

    fn rescale(self, scale: u32) -> Option<i128> {
        self.mantissa
            .checked_mul(10i128.checked_pow(scale.checked_sub(self.scale)?)?)
    }

    fn to_f64(self) -> f64 {
        let negative = self.mantissa < 0;
        let digits = self.mantissa.unsigned_abs().to_string();
        let scale = self.scale as usize;
        let text = if digits.len() > scale {
            format!(
                "{}.{}",
                &digits[..digits.len() - scale],
                &digits[digits.len() - scale..]
            )
        } else {
            format!("0.{}{}", "0".repeat(scale - digits.len()), digits)
        };
        let value: f64 = text.parse().unwrap_or(0.0);
        if negative { -value } else { value }
    }
}

fn decimal_apply(a: Decimal, b: Decimal, op: fn(f64, f64) -> f64) -> Option<Decimal> {
    let sample = op(6.0, 3.0);
    let scale = a.scale.max(b.scale);
    if sample == 9.0 || sample == 3.0 {
        let (x, y) = (a.rescale(scale)?, b.rescale(scale)?);
        let mantissa = if sample == 9.0 {
            x.checked_add(y)?
        } else {
            x.checked_sub(y)?
        };
        return Some(Decimal { mantissa, scale });
    }
    if sample == 18.0 {
        return Some(Decimal {
            mantissa: a.mantissa.checked_mul(b.mantissa)?,
            scale: a.scale + b.scale,
        });
    }
    // Division, rounded half away from zero to 16 decimal places.
    if b.mantissa == 0 {
        return None;
    }
    let numerator = a.mantissa.checked_mul(10i128.checked_pow(17 + b.scale)?)?;
    let denominator = b.mantissa.checked_mul(10i128.checked_pow(a.scale)?)?;
    let quotient = numerator / denominator;
    let rounded = if quotient % 10 >= 5 {
        quotient / 10 + 1
    } else if quotient % 10 <= -5 {
        quotient / 10 - 1
    } else {
        quotient / 10
    };
    Some(Decimal {
        mantissa: rounded,
        scale: 16,
    })
}

/// `addf`/`subf`/`mulf`/`divf`: decimal arithmetic on the floats' shortest forms.
pub fn decimal_op(first: &Value, rest: &[Value], op: fn(f64, f64) -> f64) -> f64 {
    let mut float = to_float64(first);
    let mut exact = Decimal::from_f64(float);
    for value in rest {
        let other = to_float64(value);
        float = op(float, other);
        exact = exact
            .zip(Decimal::from_f64(other))
            .and_then(|(a, b)| decimal_apply(a, b, op));
    }
    exact.map_or(float, Decimal::to_f64)
}

/// `round VALUE PLACES [ROUND_ON]`.
pub fn round(args: &[Value]) -> Out {
    let round_on = match args.get(2) {
        Some(Value::Float(f)) => *f,
        _ => 0.5,
    };
    let value = to_float64(&args[0]);
    let pow = 10f64.powf(to_float64(&args[1]));
    let digit = pow * value;
    let fraction = digit - digit.trunc();
    let rounded = if fraction >= round_on {
        digit.ceil()
    } else {
        digit.floor()
    };
    Ok(Value::Float(rounded / pow))
}

/// `toDecimal V`: V read as an octal number.
pub fn to_decimal(args: &[Value]) -> Out {
    let text = format::sprint(&args[..1]);
    Ok(Value::int64(i64::from_str_radix(&text, 8).unwrap_or(0)))
}

fn until_step_values(start: i64, stop: i64, step: i64) -> Result<Vec<i64>, String> {
    let (start, stop, step) = (i128::from(start), i128::from(stop), i128::from(step));
    let count = if stop < start {
        if step >= 0 {
            0
        } else {
            (start - stop - step - 1) / -step
        }
    } else if step <= 0 {
        0
    } else {
        (stop - start + step - 1) / step
    };
    if count > i128::from(MAX_ELEMENTS) {
        return Err(format!("more than {MAX_ELEMENTS} elements"));
    }
    Ok((0..count).map(|i| (start + i * step) as i64).collect())
}

fn int_list(values: Vec<i64>) -> Value {
    Value::list("[]int", values.into_iter().map(Value::int).collect())
}

/// `until N`.
pub fn until(args: &[Value]) -> Out {
    let count = to_int64(&args[0]);
    until_step_values(0, count, if count < 0 { -1 } else { 1 }).map(int_list)
}

/// `untilStep START STOP STEP`.
pub fn until_step(args: &[Value]) -> Out {
    until_step_values(to_int64(&args[0]), to_int64(&args[1]), to_int64(&args[2])).map(int_list)
}

/// `seq [START [STEP]] END`: the numbers joined by spaces.
pub fn seq(args: &[Value]) -> Out {
    let n: Vec<i64> = args.iter().map(to_int64).collect();
    let values = match n.as_slice() {
        [end] => {
            let increment = if *end < 1 { -1 } else { 1 };
            until_step_values(1, end.saturating_add(increment), increment)?
        }
        [start, end] => {
            let step = if end < start { -1 } else { 1 };
            until_step_values(*start, end.saturating_add(step), step)?
        }
        [start, step, end] => {
            let increment = if end < start { -1 } else { 1 };
            if end < start && *step > 0 {
                Vec::new()
            } else {
                until_step_values(*start, end.saturating_add(increment), *step)?
            }
        }
        _ => Vec::new(),
    };
    let text: Vec<String> = values.iter().map(i64::to_string).collect();
    Ok(Value::string(text.join(" ")))
}

fn kind_error(value: &Value) -> String {
    match value {
        Value::Missing => "runtime error: invalid memory address or nil pointer dereference".into(),
        other => other.kind_name().to_string(),
    }
}

/// Runs `op` on a list's elements, or fails as Sprig does (`Cannot WHAT type KIND`).
pub fn list_op(value: &Value, what: &str, op: impl FnOnce(&[Value]) -> Out) -> Out {
    match value {
        Value::List(list) => op(&list.items),
        Value::Missing => Err(kind_error(value)),
        other => Err(format!("Cannot {what} type {}", other.kind_name())),
    }
}

/// `sortAlpha LIST`.
pub fn sort_alpha(args: &[Value]) -> Out {
    match &args[0] {
        Value::List(_) => {
            let mut items = strslice(&args[0]);
            items.sort();
            Ok(Value::string_list(items))
        }
        other => Ok(Value::string_list([strval(other)])),
    }
}

/// `uniq LIST`.
pub fn uniq(args: &[Value]) -> Out {
    list_op(&args[0], "find uniq on", |items| {
        // Values equal under Go's DeepEqual have the same type and debug text.
        let mut seen = std::collections::HashSet::new();
        let mut out: Vec<Value> = Vec::new();
        for item in items {
            let key = format!("{}\u{0}{item:?}", item.type_name());
            if seen.insert(key) {
                out.push(item.clone());
            }
        }
        Ok(Value::any_list(out))
    })
}

/// `without LIST VALUES…`.
pub fn without(args: &[Value]) -> Out {
    list_op(&args[0], "find without on", |items| {
        Ok(Value::any_list(
            items
                .iter()
                .filter(|i| !args[1..].iter().any(|o| deep_equal(o, i)))
                .cloned()
                .collect(),
        ))
    })
}

/// `has NEEDLE LIST`.
pub fn has(args: &[Value]) -> Out {
    if let Value::Missing = args[1] {
        return Ok(Value::Bool(false));
    }
    list_op(&args[1], "find has on", |items| {
        Ok(Value::Bool(items.iter().any(|i| deep_equal(&args[0], i))))
    })
}

/// `slice LIST [START [END]]`.
pub fn slice(args: &[Value]) -> Out {
    match &args[0] {
        Value::List(list) => {
            if list.items.is_empty() {
                return Ok(Value::Missing);
            }
            let start = args.get(1).map_or(0, to_int64);
            let end = args.get(2).map_or(list.items.len() as i64, to_int64);
            if start < 0 || end < start || end > list.items.len() as i64 {
                return Err("reflect.Value.Slice: slice index out of bounds".into());
            }
            Ok(Value::list(
                list.type_name.clone(),
                list.items[start as usize..end as usize].to_vec(),
            ))
        }
        Value::Missing => Err(kind_error(&args[0])),
        other => Err(format!(
            "list should be type of slice or array but {}",
            other.kind_name()
        )),
    }
}

/// `concat LISTS…`.
pub fn concat(args: &[Value]) -> Out {
    let mut out = Vec::new();
    for value in args {
        match value {
            Value::List(list) => out.extend(list.items.iter().cloned()),
            Value::Missing => return Err(kind_error(value)),
            other => return Err(format!("Cannot concat type {} as list", other.kind_name())),
        }
    }
    Ok(Value::any_list(out))
}

/// `chunk SIZE LIST`.
pub fn chunk(args: &[Value]) -> Out {
    let size = to_int64(&args[0]);
    list_op(&args[1], "chunk", |items| {
        if size <= 0 {
            return Err("runtime error: makeslice: len out of range".into());
        }
        Ok(Value::list(
            "[][]interface {}",
            items
                .chunks(size as usize)
                .map(|c| Value::any_list(c.to_vec()))
                .collect(),
        ))
    })
}

/// `duration SECONDS`: Go's `time.Duration` text of an `int64` or a numeric string.
pub fn duration(args: &[Value]) -> Out {
    let seconds = match &args[0] {
        Value::Int(n, super::value::IntType::Int64) => *n,
        Value::String(s) => s.parse::<i64>().unwrap_or(0),
        _ => 0,
    };
    if seconds == 0 {
        return Ok(Value::string("0s"));
    }
    let sign = if seconds < 0 { "-" } else { "" };
    let total = seconds.unsigned_abs();
    let (h, m, s) = (total / 3600, (total / 60) % 60, total % 60);
    Ok(Value::string(if h > 0 {
        format!("{sign}{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{sign}{m}m{s}s")
    } else {
        format!("{sign}{s}s")
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_follow_cast() {
        assert_eq!(to_int64(&Value::string("12")), 12);
        assert_eq!(to_int64(&Value::string("1.0")), 1);
        assert_eq!(to_int64(&Value::string("1.5")), 0);
        assert_eq!(to_int64(&Value::string("0x10")), 16);
        assert_eq!(to_int64(&Value::Float(2.9)), 2);
    }

    #[test]
    fn float_arithmetic_is_decimal() {
        assert_eq!(
            decimal_op(&Value::Float(0.1), &[Value::Float(0.2)], |x, y| x + y),
            0.3
        );
        assert_eq!(
            decimal_op(&Value::int(1), &[Value::int(3)], |x, y| x / y),
            0.3333333333333333
        );
    }
}

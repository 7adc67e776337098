//! The numerical ordering: values parsed as decimal numbers (`1.10` is 1.1);
//! `asc` picks the largest, `desc` the smallest. Values that are not finite
//! numbers are not candidates (Flux fails the whole policy instead).
//!
//! Parsing is Rust's `f64` syntax, which matches Go's `strconv.ParseFloat` for
//! decimal input (`+1`, `.5`, `1e3`); Go's hexadecimal floats (`0x1p3`) are not
//! accepted.

use std::cmp::Ordering;

use super::Order;
use super::select::{Ranker, Verdict};

/// Ranks by numeric value.
pub(crate) struct NumericalRanker {
    pub(crate) order: Order,
}

impl Ranker for NumericalRanker {
    type Key = f64;

    fn classify(&self, value: &str) -> Verdict<f64> {
        match value.parse::<f64>() {
            Ok(number) if number.is_finite() => Verdict::Candidate(number),
            _ => Verdict::NotAValue,
        }
    }

    fn compare(&self, a: (&f64, &str), b: (&f64, &str)) -> Ordering {
        // Finite values: `partial_cmp` is total (and -0 equals 0, a tie).
        let order = a.0.partial_cmp(b.0).unwrap_or(Ordering::Equal);
        match self.order {
            Order::Asc => order,
            Order::Desc => order.reverse(),
        }
    }
}

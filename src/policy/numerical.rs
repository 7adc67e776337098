//! The numerical ordering: values read as Go's `strconv.ParseFloat` reads them
//! (Flux's numerical policy), so `1.10` is 1.1, `1_000` is 1000, `0x1p4` is
//! 16 and `Inf` is larger than any number (see [`super::go_float`]); `asc`
//! picks the largest, `desc` the smallest.
//!
//! Values that are not numbers, and `NaN`, are not candidates. Flux instead
//! fails the whole policy on a value that is not a number, and with a `NaN`
//! its pick depends on the order of the tags.

use std::cmp::Ordering;

use super::Order;
use super::go_float;
use super::select::{Ranker, Verdict};

/// Ranks by numeric value.
pub(crate) struct NumericalRanker {
    pub(crate) order: Order,
}

impl Ranker for NumericalRanker {
    type Key = f64;

    fn classify(&self, value: &str) -> Verdict<f64> {
        match go_float::parse(value) {
            Some(number) if !number.is_nan() => Verdict::Candidate(number),
            _ => Verdict::NotAValue,
        }
    }

    fn compare(&self, a: (&f64, &str), b: (&f64, &str)) -> Ordering {
        // No NaN: `partial_cmp` is total (and -0 equals 0, a tie).
        let order = a.0.partial_cmp(b.0).unwrap_or(Ordering::Equal);
        match self.order {
            Order::Asc => order,
            Order::Desc => order.reverse(),
        }
    }
}

//! The alphabetical ordering: values compared byte-wise; `asc` picks the
//! largest, `desc` the smallest.

use std::cmp::Ordering;

use super::Order;
use super::select::{Ranker, Verdict};

/// Ranks by byte-wise comparison of the values.
pub(crate) struct AlphabeticalRanker {
    pub(crate) order: Order,
}

impl Ranker for AlphabeticalRanker {
    type Key = ();

    fn classify(&self, _value: &str) -> Verdict<()> {
        Verdict::Candidate(())
    }

    fn compare(&self, a: (&(), &str), b: (&(), &str)) -> Ordering {
        let order = a.1.as_bytes().cmp(b.1.as_bytes());
        match self.order {
            Order::Asc => order,
            Order::Desc => order.reverse(),
        }
    }
}

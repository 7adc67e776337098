//! Policy evaluation over 200,000 tags: pattern + extract + semver range.
//!
//! The tag list is generated deterministically with the same generator as
//! `bench/policy-vs-sort.sh` (MINSTD, seed 20240101), so the numbers compare
//! with that script's `grep -E | sort -V | tail -1` timing.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use tagpilot::policy::{ExclusionList, OrderingSpec, Policy};

/// How many tags a bench run orders.
const TAGS: usize = 200_000;

/// The Park–Miller "minimal standard" generator; exact in awk's doubles too.
struct Minstd(u64);

impl Minstd {
    fn next(&mut self) -> u64 {
        self.0 = self.0 * 48_271 % 2_147_483_647;
        self.0
    }
}

/// The same list `bench/policy-vs-sort.sh` writes, one tag per element.
fn generate_tags(count: usize) -> Vec<String> {
    let mut random = Minstd(20_240_101);
    (0..count)
        .map(|i| {
            let kind = random.next() % 10;
            let (a, b, c) = (random.next() % 20, random.next() % 50, random.next() % 100);
            match kind {
                0..=4 => format!("app-{a}.{b}.{c}"),
                5 => format!("app-{a}.{b}.{c}-rc.{}", c % 10),
                6 => format!("main-{:07x}-{i}", random.next() % 268_435_456),
                7 => format!("sha256-{:08x}.sig", random.next()),
                8 => format!("{a}.{b}.{c}"),
                _ => format!("app-{a}.{b}"),
            }
        })
        .collect()
}

fn policy_benchmarks(c: &mut Criterion) {
    let tags = generate_tags(TAGS);
    let exclusions = ExclusionList::default();
    let semver = Policy::new(
        "bench/app",
        Some(r"^app-(?P<version>[0-9]+\.[0-9]+\.[0-9]+)$"),
        Some("$version"),
        OrderingSpec::Semver { range: ">=1.0.0" },
    )
    .unwrap_or_else(|error| panic!("bench policy is valid: {error}"));
    let numerical = Policy::new(
        "bench/main",
        Some(r"^main-[a-f0-9]+-(?P<build>[0-9]+)$"),
        Some("$build"),
        OrderingSpec::Numerical { order: None },
    )
    .unwrap_or_else(|error| panic!("bench policy is valid: {error}"));

    let mut group = c.benchmark_group("policy_200k_tags");
    group.sample_size(20);
    group.bench_function("pattern_extract_semver", |b| {
        b.iter(|| semver.select(black_box(&tags), &exclusions).map(|s| s.tag))
    });
    group.bench_function("pattern_extract_numerical", |b| {
        b.iter(|| {
            numerical
                .select(black_box(&tags), &exclusions)
                .map(|s| s.tag)
        })
    });
    group.finish();
}

criterion_group!(benches, policy_benchmarks);
criterion_main!(benches);

//! tagpilot's policy engine against Flux's own code, on random cases.
//!
//! `tests/policy-oracle` is a small Go program built on the libraries Flux's
//! image-reflector-controller uses (fluxcd/pkg/version, Masterminds/semver
//! v3.5) and the controller's glue (exclusion list, filterTags, the three
//! orderings). `scripts/install-test-deps.sh` builds it into the tools
//! directory. This test generates random tag lists and policies (calendar
//! tags, zero padding, `v` prefixes, pre-releases, odd numbers, ranges of
//! every operator, some invalid), asks the oracle what Flux picks, and checks
//! tagpilot picks the same on every case, except for the documented
//! deliberate differences (README, "Differences from Flux"):
//!
//! - ties: when several tags rank the same, Flux takes one by list (or map)
//!   order; tagpilot takes the greatest tag, byte-wise. The oracle lists the
//!   tied tags; tagpilot's pick must be among them, and be the greatest;
//! - non-numbers in a numerical policy: Flux fails the policy (and a `NaN`
//!   makes its pick depend on order); tagpilot skips them. The oracle then
//!   also answers over the values that are numbers, which tagpilot must match.
//!
//! `TAGPILOT_ORACLE_CASES` (default 50000) and `TAGPILOT_ORACLE_SEED` (default
//! fixed) change the run; a failure prints the seed and the failing cases.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};
use tagpilot::policy::{ExclusionList, OrderingSpec, Policy, PolicyError, Selection, StepCounts};

mod generate;
#[path = "../common/go_programs.rs"]
mod go_programs;

use generate::{Case, Choice, Rng};

/// The oracle binary, built by `scripts/install-test-deps.sh`; fails with an
/// install hint when there is no build of this checkout's sources.
fn oracle() -> PathBuf {
    go_programs::built_go_program("policy-oracle")
}

/// What the oracle says Flux does with one case.
#[derive(Debug, Deserialize)]
struct Answer {
    latest: Option<String>,
    #[serde(default)]
    error: String,
    #[serde(default)]
    kind: String,
    ties: Vec<String>,
    /// How many tags each step dropped (a valid policy only), in the shape
    /// of tagpilot's `StepCounts`.
    counts: Option<serde_json::Value>,
    #[serde(rename = "numbersOnly")]
    numbers_only: Option<Box<Answer>>,
}

/// Runs every case through the oracle in one process.
fn ask_oracle(cases: &[Case]) -> Vec<Answer> {
    let mut child = Command::new(oracle())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the policy oracle");
    let mut stdin = child.stdin.take().unwrap();
    let requests: Vec<u8> = cases
        .iter()
        .flat_map(|case| {
            let mut line = serde_json::to_vec(&Request::from(case)).unwrap();
            line.push(b'\n');
            line
        })
        .collect();
    let writer = std::thread::spawn(move || stdin.write_all(&requests));
    let answers: Vec<Answer> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(|line| serde_json::from_str(&line.unwrap()).unwrap())
        .collect();
    writer.join().unwrap().expect("write to the policy oracle");
    let status = child.wait().unwrap();
    assert!(status.success(), "the policy oracle failed: {status}");
    assert_eq!(answers.len(), cases.len(), "one answer per case");
    answers
}

/// A case as the oracle reads it (Flux's field names).
#[derive(Serialize)]
struct Request<'a> {
    tags: &'a [String],
    #[serde(rename = "exclusionList")]
    exclusion_list: &'a [String],
    #[serde(rename = "filterTags", skip_serializing_if = "Option::is_none")]
    filter_tags: Option<FilterTags<'a>>,
    policy: serde_json::Value,
}

#[derive(Serialize)]
struct FilterTags<'a> {
    pattern: &'a str,
    extract: &'a str,
}

impl<'a> From<&'a Case> for Request<'a> {
    fn from(case: &'a Case) -> Self {
        let policy = match &case.choice {
            Choice::Semver(range) => serde_json::json!({"semver": {"range": range}}),
            Choice::Numerical(order) => serde_json::json!({"numerical": {"order": order}}),
            Choice::Alphabetical(order) => serde_json::json!({"alphabetical": {"order": order}}),
        };
        Request {
            tags: &case.tags,
            exclusion_list: &case.exclusions,
            filter_tags: case
                .filter
                .as_ref()
                .map(|(pattern, extract)| FilterTags { pattern, extract }),
            policy,
        }
    }
}

/// tagpilot's answer and its step counts, wired as the engine wires a policy
/// (an empty exclusion list is the default one, as in Flux).
fn ours(case: &Case) -> (Result<String, PolicyError>, Option<StepCounts>) {
    match select(case) {
        Ok(selection) => (Ok(selection.tag), Some(selection.explanation.counts)),
        Err(error) => {
            let counts = match &error {
                PolicyError::NoMatch { counts, .. } => Some(*counts),
                _ => None,
            };
            (Err(error), counts)
        }
    }
}

fn select(case: &Case) -> Result<Selection, PolicyError> {
    let exclusions = if case.exclusions.is_empty() {
        ExclusionList::default()
    } else {
        ExclusionList::new(&case.exclusions)?
    };
    let spec = match &case.choice {
        Choice::Semver(range) => OrderingSpec::Semver { range },
        Choice::Numerical(order) => OrderingSpec::Numerical { order: Some(order) },
        Choice::Alphabetical(order) => OrderingSpec::Alphabetical { order: Some(order) },
    };
    let (pattern, extract) = match &case.filter {
        Some((pattern, extract)) => (Some(pattern.as_str()), Some(extract.as_str())),
        None => (None, None),
    };
    Policy::new("oracle/case", pattern, extract, spec)?.select(&case.tags, &exclusions)
}

/// How one case compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Outcome {
    /// Both reject the policy or the exclusion list.
    BothInvalid,
    /// Flux picks nothing (no tags, no version in range, no number); neither do we.
    BothNoMatch,
    /// The same tag as Flux's.
    SameTag,
    /// Another tag of the same rank (deliberate: ties go to the greatest tag).
    Tie,
    /// Flux fails or depends on order because of non-numbers or NaN; we match
    /// its answer over the numbers (deliberate: non-numbers are skipped).
    NumbersOnly,
}

fn judge(
    answer: &Answer,
    (ours, counts): &(Result<String, PolicyError>, Option<StepCounts>),
) -> Result<Outcome, String> {
    // Every tag is classified as Flux's parsers and range classify it: the
    // number dropped at each step is the same.
    let counts = counts.map(|c| serde_json::to_value(c).unwrap());
    if counts != answer.counts {
        let show =
            |c: &Option<serde_json::Value>| c.as_ref().map_or("none".into(), |c| c.to_string());
        return Err(format!(
            "step counts differ: Flux {}, we {}",
            show(&answer.counts),
            show(&counts)
        ));
    }
    let (expected, numbers_only) = match &answer.numbers_only {
        Some(only) => (only.as_ref(), true),
        None => (answer, false),
    };
    let outcome = match (expected.kind.as_str(), ours) {
        ("invalidExclusion" | "invalidPolicy", Err(error)) if error.is_invalid_input() => {
            Outcome::BothInvalid
        }
        ("empty" | "noVersion" | "notANumber", Err(PolicyError::NoMatch { .. })) => {
            Outcome::BothNoMatch
        }
        ("", Ok(tag)) => {
            let flux = expected
                .latest
                .as_deref()
                .ok_or("oracle: no pick and no error")?;
            if !expected.ties.iter().any(|t| t == flux) {
                return Err(format!(
                    "oracle: Flux's pick {flux:?} is not among its ties"
                ));
            }
            if !expected.ties.contains(tag) {
                return Err(format!(
                    "we pick {tag:?}, Flux picks {flux:?} (same rank: {:?})",
                    expected.ties
                ));
            }
            let greatest = expected.ties.iter().max().unwrap();
            if tag != greatest {
                return Err(format!(
                    "we pick {tag:?} among the ties {:?}, not the greatest",
                    expected.ties
                ));
            }
            if tag == flux {
                Outcome::SameTag
            } else {
                Outcome::Tie
            }
        }
        (kind, ours) => {
            let flux = match kind {
                "" => format!("picks {:?}", expected.latest),
                _ => format!("fails ({kind}: {})", expected.error),
            };
            let ours = match ours {
                Ok(tag) => format!("we pick {tag:?}"),
                Err(error) => format!("we fail ({error})"),
            };
            return Err(format!("Flux {flux}, {ours}"));
        }
    };
    let differs = answer.numbers_only.is_some()
        && (answer.kind != expected.kind || answer.latest != expected.latest);
    Ok(if numbers_only && differs {
        Outcome::NumbersOnly
    } else {
        outcome
    })
}

#[test]
fn policies_pick_what_flux_picks_on_random_cases() {
    let count: usize = std::env::var("TAGPILOT_ORACLE_CASES")
        .ok()
        .map_or(50_000, |n| {
            n.parse().expect("TAGPILOT_ORACLE_CASES is a number")
        });
    let seed: u64 = std::env::var("TAGPILOT_ORACLE_SEED")
        .ok()
        .map_or(0x7a9_1107, |n| {
            n.parse().expect("TAGPILOT_ORACLE_SEED is a number")
        });
    let mut rng = Rng(seed);
    let cases: Vec<Case> = (0..count).map(|_| generate::case(&mut rng)).collect();
    let answers = ask_oracle(&cases);

    let mut tally = std::collections::BTreeMap::<(&str, Outcome), usize>::new();
    let mut failures = Vec::new();
    for (case, answer) in cases.iter().zip(&answers) {
        match judge(answer, &ours(case)) {
            Ok(outcome) => *tally.entry((case.choice.name(), outcome)).or_default() += 1,
            Err(why) => failures.push(format!(
                "{why}\n    case: {}",
                serde_json::to_string(&Request::from(case)).unwrap()
            )),
        }
    }
    let tags: usize = cases.iter().map(|case| case.tags.len()).sum();
    println!(
        "{count} random cases ({tags} tags, each classified as Flux does) compared with Flux's code (seed {seed}):"
    );
    for ((choice, outcome), n) in &tally {
        println!("  {choice:<12} {outcome:?}: {n}");
    }
    assert!(
        failures.is_empty(),
        "{} of {count} cases differ from Flux (seed {seed}; rerun with TAGPILOT_ORACLE_SEED={seed}):\n{}",
        failures.len(),
        failures
            .iter()
            .take(25)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    // Every kind of outcome was exercised, so a generator change that stops
    // reaching one is noticed.
    for choice in ["semver", "numerical", "alphabetical"] {
        for outcome in [Outcome::SameTag, Outcome::BothNoMatch] {
            assert!(
                tally.contains_key(&(choice, outcome)),
                "no {choice} case ended {outcome:?}"
            );
        }
    }
    for (choice, outcome) in [
        ("semver", Outcome::BothInvalid),
        ("semver", Outcome::Tie),
        ("numerical", Outcome::Tie),
        ("numerical", Outcome::NumbersOnly),
        ("alphabetical", Outcome::Tie),
    ] {
        assert!(
            tally.contains_key(&(choice, outcome)),
            "no {choice} case ended {outcome:?}"
        );
    }
}

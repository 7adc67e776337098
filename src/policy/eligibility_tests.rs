//! The walk down the candidates and the checks' verdicts.

use std::time::Duration;

use jiff::Timestamp;

use super::*;
use crate::policy::{ExclusionList, OrderingSpec, Policy};

fn policy() -> Policy {
    Policy::new(
        "shop/app",
        None,
        None,
        OrderingSpec::Semver { range: ">=1.0.0" },
    )
    .unwrap()
}

fn tags(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("1.{i}.0")).collect()
}

fn signed() -> Requirements {
    Requirements {
        signature: Some("cosign keys in Secret shop/keys".into()),
        ..Requirements::default()
    }
}

#[test]
fn without_requirements_the_best_candidate_is_chosen_at_once() {
    let walk = policy().walk(&tags(3), &ExclusionList::default(), Requirements::default());
    assert!(walk.current().is_none());
    let selection = walk.finish().unwrap();
    assert_eq!(selection.tag, "1.2.0");
    let json = serde_json::to_value(&selection).unwrap();
    let keys: Vec<&String> = json["explanation"].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["chosen", "counts", "ordering", "policy", "runnersUp"],
        "nothing new appears without requirements"
    );
}

#[test]
fn skipped_candidates_are_explained_and_the_next_one_wins() {
    let mut walk = policy().walk(&tags(4), &ExclusionList::default(), signed());
    assert_eq!(walk.current().unwrap().tag, "1.3.0");
    walk.skip(Some("sha256:3".into()), SkipReason::Unsigned);
    assert_eq!(walk.current().unwrap().tag, "1.2.0");
    walk.skip(
        Some("sha256:2".into()),
        SkipReason::UntrustedSignature {
            detail: "1 signature, none by a trusted key".into(),
        },
    );
    walk.accept(Some("sha256:1".into()));
    assert!(walk.current().is_none());
    let selection = walk.finish().unwrap();
    assert_eq!(selection.tag, "1.1.0");
    insta::assert_snapshot!(serde_json::to_string_pretty(&selection.explanation).unwrap(), @r#"
    {
      "policy": "shop/app",
      "ordering": {
        "semver": ">=1.0.0"
      },
      "counts": {
        "tags": 4,
        "excluded": 0,
        "patternMismatch": 0,
        "notAValue": 0,
        "outOfRange": 0,
        "candidates": 4
      },
      "requirements": {
        "signature": "cosign keys in Secret shop/keys"
      },
      "chosen": {
        "tag": "1.1.0",
        "value": "1.1.0",
        "digest": "sha256:1"
      },
      "skipped": [
        {
          "tag": "1.3.0",
          "value": "1.3.0",
          "digest": "sha256:3",
          "reason": "unsigned"
        },
        {
          "tag": "1.2.0",
          "value": "1.2.0",
          "digest": "sha256:2",
          "reason": "untrustedSignature",
          "detail": "1 signature, none by a trusted key"
        }
      ],
      "runnersUp": [
        {
          "tag": "1.0.0",
          "value": "1.0.0"
        }
      ]
    }
    "#);
}

#[test]
fn at_most_max_checked_candidates_are_checked_then_the_policy_fails() {
    let mut walk = policy().walk(&tags(1000), &ExclusionList::default(), signed());
    let mut checked = 0;
    while walk.current().is_some() {
        walk.skip(None, SkipReason::Unsigned);
        checked += 1;
    }
    assert_eq!(checked, MAX_CHECKED);
    let error = walk.finish().unwrap_err();
    let text = error.to_string();
    assert!(
        text.starts_with("no eligible tag for policy shop/app: 1.999.0: not signed (no cosign signature); 1.998.0: not signed"),
        "{text}"
    );
    assert!(
        text.ends_with("; 990 older candidates not checked (an evaluation checks at most 10)"),
        "{text}"
    );
    assert!(
        matches!(error, PolicyError::NoEligible { ref skipped, unchecked: 990, .. } if skipped.len() == 10)
    );
}

#[test]
fn no_candidate_at_all_is_still_no_match() {
    let walk = policy().walk(&["latest"], &ExclusionList::default(), signed());
    assert!(walk.current().is_none());
    assert!(matches!(walk.finish(), Err(PolicyError::NoMatch { .. })));
}

#[test]
fn age_is_measured_from_created_and_a_young_better_tag_sets_a_recheck_time() {
    let requirements = Requirements {
        minimum_age: Some(Duration::from_secs(3600)),
        ..Requirements::default()
    };
    let now: Timestamp = "2026-01-01T12:00:00Z".parse().unwrap();
    let created: Timestamp = "2026-01-01T11:30:00Z".parse().unwrap();
    let eligible_at: Timestamp = "2026-01-01T12:30:00Z".parse().unwrap();
    assert_eq!(
        requirements.check_age(Some(created), now),
        Err(SkipReason::TooYoung {
            created,
            eligible_at
        })
    );
    assert_eq!(requirements.check_age(Some(created), eligible_at), Ok(()));
    assert_eq!(
        requirements.check_age(None, now),
        Err(SkipReason::NoCreationTime)
    );
    let mut walk = policy().walk(&tags(2), &ExclusionList::default(), requirements);
    let reason = walk
        .requirements()
        .check_age(Some(created), now)
        .unwrap_err();
    assert_eq!(
        reason.to_string(),
        "too young: created 2026-01-01T11:30:00Z, eligible from 2026-01-01T12:30:00Z"
    );
    walk.skip(None, reason);
    walk.accept(None);
    let selection = walk.finish().unwrap();
    assert_eq!(selection.tag, "1.0.0");
    assert_eq!(selection.explanation.recheck_at, Some(eligible_at));
}

#[test]
fn platforms_must_all_be_offered() {
    let requirements = Requirements {
        platforms: vec![
            Platform::parse("linux/amd64").unwrap(),
            Platform::parse("linux/arm64").unwrap(),
        ],
        ..Requirements::default()
    };
    let amd64 = Platform::parse("linux/amd64").unwrap();
    let arm64 = Platform::new("linux", "arm64", None);
    let attestation = Platform::new("unknown", "unknown", None);
    assert_eq!(
        requirements.check_platforms(&[amd64.clone(), arm64.clone()]),
        Ok(())
    );
    let skip = requirements
        .check_platforms(&[amd64.clone(), attestation])
        .unwrap_err();
    assert_eq!(
        skip.to_string(),
        "lacks platform linux/arm64/v8 (it has linux/amd64)"
    );
    assert_eq!(
        requirements.check_platforms(&[]).unwrap_err().to_string(),
        "lacks platform linux/amd64, linux/arm64/v8 (it names no platform)"
    );
}

#[test]
fn signature_checks_become_reasons() {
    let requirements = signed();
    assert_eq!(
        requirements.check_signature(&SignatureCheck::Verified {
            key: "a.pub".into()
        }),
        Ok(())
    );
    assert_eq!(
        requirements.check_signature(&SignatureCheck::Unsigned),
        Err(SkipReason::Unsigned)
    );
    let untrusted = requirements
        .check_signature(&SignatureCheck::Untrusted {
            detail: "2 signatures, none by a trusted key".into(),
        })
        .unwrap_err();
    assert_eq!(
        untrusted.to_string(),
        "signature not trusted: 2 signatures, none by a trusted key"
    );
}

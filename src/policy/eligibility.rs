//! Eligibility: rules a candidate must pass besides the ordering, each about
//! the candidate's image rather than its tag — a trusted signature, the
//! platforms its index holds, its age since `created`.
//!
//! The facts come from the registry, so they are gathered outside this module
//! (no I/O here): a [`Walk`] goes down the ranked candidates, best first; for
//! each one the caller looks the facts up and hands them to the
//! `Requirements::check_*` functions, then tells the walk to
//! [`Walk::accept`] or [`Walk::skip`] it. The first candidate accepted is the
//! result; every skipped one is kept, with why, for the explanation. At most
//! [`MAX_CHECKED`] candidates are checked per evaluation, so a repository of
//! thousands of unsigned tags costs a bounded number of registry requests.

use std::fmt;
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;

use super::explanation::{Candidate, Explanation, RUNNERS_UP, Selection, StepCounts};
use super::platform::Platform;
use super::{Ordering, PolicyError};

/// The most candidates one evaluation checks against the requirements.
pub const MAX_CHECKED: usize = 10;

/// What a policy requires of a candidate's image, besides its tag.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Requirements {
    /// A trusted signature is required; the text names the trusted keys
    /// (e.g. `cosign keys in Secret shop/cosign-keys`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// Platforms the image (its index) must hold, every one of them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<Platform>,
    /// How long after its `created` time an image becomes eligible.
    #[serde(
        rename = "minimumAgeSeconds",
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_seconds"
    )]
    pub minimum_age: Option<Duration>,
}

fn serialize_seconds<S: serde::Serializer>(
    age: &Option<Duration>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match age {
        Some(age) => serializer.serialize_u64(age.as_secs()),
        None => serializer.serialize_none(),
    }
}

/// What checking a candidate's signatures found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureCheck {
    /// A signature verified with one of the trusted keys.
    Verified {
        /// The key that verified it (its name in the Secret).
        key: String,
    },
    /// The image has no signature at all.
    Unsigned,
    /// Signatures exist, but none verifies with a trusted key for this image.
    Untrusted {
        /// What was found, e.g. `2 signatures, none by a trusted key`.
        detail: String,
    },
}

/// Why a candidate was passed over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "camelCase")]
pub enum SkipReason {
    /// No signature.
    Unsigned,
    /// Signed, but not by a trusted key (or not for this image).
    UntrustedSignature {
        /// What was found.
        detail: String,
    },
    /// The image lacks some of the required platforms.
    #[serde(rename_all = "camelCase")]
    MissingPlatforms {
        /// The required platforms it lacks.
        missing: Vec<Platform>,
        /// The platforms it has.
        available: Vec<Platform>,
    },
    /// Younger than the minimum age.
    #[serde(rename_all = "camelCase")]
    TooYoung {
        /// The image's `created` time.
        created: Timestamp,
        /// When it becomes old enough.
        eligible_at: Timestamp,
    },
    /// The image has no `created` time, so its age is unknown.
    NoCreationTime,
    /// The registry's answer about this image could not be used.
    Unreadable {
        /// What was wrong with it.
        error: String,
    },
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unsigned => f.write_str("not signed (no cosign signature)"),
            Self::UntrustedSignature { detail } => write!(f, "signature not trusted: {detail}"),
            Self::MissingPlatforms { missing, available } => {
                write!(f, "lacks platform {}", join(missing))?;
                if available.is_empty() {
                    f.write_str(" (it names no platform)")
                } else {
                    write!(f, " (it has {})", join(available))
                }
            }
            Self::TooYoung {
                created,
                eligible_at,
            } => write!(
                f,
                "too young: created {created}, eligible from {eligible_at}"
            ),
            Self::NoCreationTime => {
                f.write_str("no creation time in its image config, so its age is unknown")
            }
            Self::Unreadable { error } => write!(f, "cannot be checked: {error}"),
        }
    }
}

fn join(platforms: &[Platform]) -> String {
    platforms
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Requirements {
    /// Whether nothing beyond the ordering is required (no registry facts needed).
    pub fn is_empty(&self) -> bool {
        self.signature.is_none() && self.platforms.is_empty() && self.minimum_age.is_none()
    }

    /// Judges a signature check (only called when a signature is required).
    pub fn check_signature(&self, check: &SignatureCheck) -> Result<(), SkipReason> {
        match check {
            SignatureCheck::Verified { .. } => Ok(()),
            SignatureCheck::Unsigned => Err(SkipReason::Unsigned),
            SignatureCheck::Untrusted { detail } => Err(SkipReason::UntrustedSignature {
                detail: detail.clone(),
            }),
        }
    }

    /// Judges the platforms an image offers against the required ones.
    pub fn check_platforms(&self, offered: &[Platform]) -> Result<(), SkipReason> {
        let available: Vec<Platform> = offered
            .iter()
            .filter(|p| !p.is_unknown())
            .cloned()
            .collect();
        let missing: Vec<Platform> = self
            .platforms
            .iter()
            .filter(|required| !available.iter().any(|p| required.is_satisfied_by(p)))
            .cloned()
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(SkipReason::MissingPlatforms { missing, available })
        }
    }

    /// Judges an image's age at `now` from its `created` time.
    pub fn check_age(&self, created: Option<Timestamp>, now: Timestamp) -> Result<(), SkipReason> {
        let Some(minimum) = self.minimum_age else {
            return Ok(());
        };
        let Some(created) = created else {
            return Err(SkipReason::NoCreationTime);
        };
        let eligible_at = jiff::SignedDuration::try_from(minimum)
            .ok()
            .and_then(|age| created.checked_add(age).ok())
            .unwrap_or(Timestamp::MAX);
        if eligible_at <= now {
            Ok(())
        } else {
            Err(SkipReason::TooYoung {
                created,
                eligible_at,
            })
        }
    }
}

/// A candidate passed over, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The original tag.
    pub tag: String,
    /// The value the ordering used.
    pub value: String,
    /// The image's digest, when it was resolved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Why it was skipped.
    #[serde(flatten)]
    pub reason: SkipReason,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.tag, self.reason)
    }
}

/// Goes down the ranked candidates until one passes the requirements.
#[derive(Debug, Clone)]
pub struct Walk {
    policy: String,
    ordering: Ordering,
    counts: StepCounts,
    requirements: Requirements,
    candidates: Vec<Candidate>,
    position: usize,
    chosen: Option<usize>,
    skipped: Vec<Skipped>,
}

impl Walk {
    pub(super) fn new(
        policy: String,
        ordering: Ordering,
        counts: StepCounts,
        requirements: Requirements,
        candidates: Vec<Candidate>,
    ) -> Self {
        let chosen = (requirements.is_empty() && !candidates.is_empty()).then_some(0);
        Self {
            policy,
            ordering,
            counts,
            requirements,
            candidates,
            position: 0,
            chosen,
            skipped: Vec::new(),
        }
    }

    /// The requirements candidates are checked against.
    pub fn requirements(&self) -> &Requirements {
        &self.requirements
    }

    /// The candidate to check next; `None` once one was accepted, or when no
    /// candidate (or no check, [`MAX_CHECKED`]) is left.
    pub fn current(&self) -> Option<&Candidate> {
        if self.chosen.is_some() || self.position >= MAX_CHECKED {
            return None;
        }
        self.candidates.get(self.position)
    }

    /// The current candidate passes: it is the result.
    pub fn accept(&mut self, digest: Option<String>) {
        if let Some(candidate) = self.candidates.get_mut(self.position)
            && self.chosen.is_none()
        {
            candidate.digest = digest;
            self.chosen = Some(self.position);
        }
    }

    /// The current candidate fails a requirement: go on to the next one.
    pub fn skip(&mut self, digest: Option<String>, reason: SkipReason) {
        if self.chosen.is_some() {
            return;
        }
        if let Some(candidate) = self.candidates.get(self.position) {
            self.skipped.push(Skipped {
                tag: candidate.tag.clone(),
                value: candidate.value.clone(),
                digest,
                reason,
            });
            self.position += 1;
        }
    }

    /// The result: the accepted candidate with the skipped ones and the
    /// runners-up after it, or [`PolicyError::NoMatch`] (no candidate at all)
    /// or [`PolicyError::NoEligible`] (every checked candidate was skipped).
    pub fn finish(self) -> Result<Selection, PolicyError> {
        let Some(index) = self.chosen else {
            if self.candidates.is_empty() {
                return Err(PolicyError::NoMatch {
                    policy: self.policy,
                    counts: self.counts,
                    ordering: Box::new(self.ordering),
                });
            }
            let unchecked = self.counts.candidates.saturating_sub(self.skipped.len());
            return Err(PolicyError::NoEligible {
                policy: self.policy,
                skipped: self.skipped,
                unchecked,
            });
        };
        // Only a younger image that beats the result may change it later without a push.
        let recheck_at = self
            .skipped
            .iter()
            .filter_map(|s| match s.reason {
                SkipReason::TooYoung { eligible_at, .. } => Some(eligible_at),
                _ => None,
            })
            .min();
        let mut rest = self.candidates.into_iter().skip(index);
        let Some(chosen) = rest.next() else {
            // Not reached: `chosen` is only ever set to a valid position.
            return Err(PolicyError::NoMatch {
                policy: self.policy,
                counts: self.counts,
                ordering: Box::new(self.ordering),
            });
        };
        Ok(Selection {
            tag: chosen.tag.clone(),
            explanation: Explanation {
                policy: self.policy,
                ordering: self.ordering,
                counts: self.counts,
                requirements: self.requirements,
                chosen,
                skipped: self.skipped,
                recheck_at,
                runners_up: rest.take(RUNNERS_UP).collect(),
            },
        })
    }
}

#[cfg(test)]
#[path = "eligibility_tests.rs"]
mod tests;

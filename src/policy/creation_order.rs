//! Choosing a container's next tag, as fluxd did.
//!
//! 1. Filter: every tag the container's [`TagPattern`] matches (`latest` only
//!    for `glob:latest`). A regular expression that runs out of backtracking
//!    budget fails the whole choice ([`SelectError::Pattern`]).
//! 2. Order:
//!    - `semver:` — by version, through [`super::Policy`] (equal versions: the
//!      byte-wise greatest tag, as Flux v2 and fluxd's `1.10.0` over `1.10`);
//!      the current tag takes part, so a container already on a version newer
//!      than every listed one stays where it is;
//!    - `glob:` and `regexp:` — by the creation time of the image each tag
//!      points to (the image config's `created`), newest first; **ties (several
//!      tags of one image, or images built in the same second) go to the
//!      byte-wise smallest tag**, fluxd's rule — so a commit-sha tag wins over a
//!      branch tag pushed with it. A matching tag whose creation time has not
//!      been looked up is an error ([`SelectError::CreationTimeMissing`]): the
//!      caller must look up every matching tag first.
//! 3. Guard: with creation-time ordering, a change happens only when the
//!    current tag's image is known and older than the chosen one (fluxd skipped
//!    a container whose current or latest image had no creation time; a newer
//!    current image is a downgrade, held back: invariant 3).

use jiff::Timestamp;

use super::ExclusionList;
use super::annotation_filter::{PatternError, TagPattern};

/// What is known of the image a tag points to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreatedAt {
    /// The image config's `created`.
    Known(Timestamp),
    /// The image has no usable `created` (absent, or Go's zero time `0001-01-01T00:00:00Z`).
    Absent,
}

/// Why no tag could be chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    /// The filter is invalid or ran out of budget.
    #[error(transparent)]
    Pattern(#[from] PatternError),
    /// No listed tag passes the filter.
    #[error("no tag of {image} matches {filter} ({tags} tags listed)")]
    NoMatch {
        /// The image name.
        image: String,
        /// The filter.
        filter: String,
        /// How many tags were listed.
        tags: usize,
    },
    /// Matching tags whose creation time was not looked up.
    #[error("creation time of {image} tags {} not looked up yet", .tags.join(", "))]
    CreationTimeMissing {
        /// The image name.
        image: String,
        /// The tags (at most a few).
        tags: Vec<String>,
    },
}

/// Why a container keeps its tag although another was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldReason {
    /// The newest matching image has no creation time.
    ChosenHasNoCreationTime,
    /// The current tag is not listed or its image has no creation time: it
    /// cannot be compared (fluxd skipped such containers too).
    CurrentNotComparable,
    /// The current image is newer than the chosen one.
    Downgrade,
}

impl std::fmt::Display for HoldReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::ChosenHasNoCreationTime => "the newest matching image has no creation time",
            Self::CurrentNotComparable => {
                "the current tag is not in the registry or its image has no creation time, so it cannot be compared"
            }
            Self::Downgrade => "the current image is newer than the newest matching one",
        })
    }
}

/// The outcome of a choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// The current tag is the one to run.
    Current,
    /// Move to this tag.
    Move(String),
    /// Another tag ranks first but the current one is kept, and why.
    Hold {
        /// The tag that ranked first.
        tag: String,
        /// Why it is not applied.
        reason: HoldReason,
    },
}

/// Chooses among `tags` for a container on `current` (its tag, if any) of `image`.
///
/// `created` answers, for a tag, what is known of its image (`None`: not
/// looked up). Only consulted for creation-time filters.
pub fn choose(
    image: &str,
    pattern: &TagPattern,
    current: Option<&str>,
    tags: &[String],
    created: &dyn Fn(&str) -> Option<CreatedAt>,
) -> Result<Choice, SelectError> {
    let mut matching = Vec::new();
    for tag in tags {
        if pattern.matches(tag)? {
            matching.push(tag.as_str());
        }
    }
    let no_match = || SelectError::NoMatch {
        image: image.to_string(),
        filter: pattern.to_string(),
        tags: tags.len(),
    };
    if let TagPattern::Semver { policy, .. } = pattern {
        let mut candidates = matching.clone();
        if let Some(current) = current.filter(|c| !matching.contains(c))
            && pattern.matches(current)?
        {
            candidates.push(current);
        }
        let selection = policy
            .select(
                &candidates,
                &ExclusionList::new::<&str>(&[]).unwrap_or_default(),
            )
            .map_err(|_| no_match())?;
        return Ok(if Some(selection.tag.as_str()) == current {
            Choice::Current
        } else {
            Choice::Move(selection.tag)
        });
    }
    if matching.is_empty() {
        return Err(no_match());
    }
    let mut missing = Vec::new();
    let mut ranked: Vec<(Option<Timestamp>, &str)> = Vec::new();
    for tag in matching {
        match created(tag) {
            Some(CreatedAt::Known(time)) => ranked.push((Some(time), tag)),
            Some(CreatedAt::Absent) => ranked.push((None, tag)),
            None => missing.push(tag.to_string()),
        }
    }
    if !missing.is_empty() {
        missing.truncate(5);
        return Err(SelectError::CreationTimeMissing {
            image: image.to_string(),
            tags: missing,
        });
    }
    // Newest first (a known time before none), then the byte-wise smallest tag.
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    let Some(&(chosen_time, chosen)) = ranked.first() else {
        return Err(no_match());
    };
    if Some(chosen) == current {
        return Ok(Choice::Current);
    }
    let hold = |reason| {
        Ok(Choice::Hold {
            tag: chosen.to_string(),
            reason,
        })
    };
    let Some(chosen_time) = chosen_time else {
        return hold(HoldReason::ChosenHasNoCreationTime);
    };
    let current_time = current
        .filter(|c| tags.iter().any(|t| t == c))
        .and_then(created);
    match current_time {
        Some(CreatedAt::Known(time)) if time > chosen_time => hold(HoldReason::Downgrade),
        Some(CreatedAt::Known(_)) => Ok(Choice::Move(chosen.to_string())),
        _ => hold(HoldReason::CurrentNotComparable),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn at(seconds: i64) -> CreatedAt {
        CreatedAt::Known(Timestamp::from_second(seconds).unwrap())
    }

    fn run(
        pattern: &str,
        current: Option<&str>,
        images: &[(&str, Option<CreatedAt>)],
    ) -> Result<Choice, SelectError> {
        let tags: Vec<String> = images.iter().map(|(t, _)| t.to_string()).collect();
        let times: HashMap<String, Option<CreatedAt>> =
            images.iter().map(|(t, c)| (t.to_string(), *c)).collect();
        let pattern = TagPattern::parse(pattern).unwrap();
        choose("app", &pattern, current, &tags, &|tag| {
            times.get(tag).copied().flatten()
        })
    }

    #[test]
    fn the_walkthrough_picks_the_newest_build_that_is_not_tmp() {
        let images = [
            ("master", Some(at(200))),
            ("1a2b3c", Some(at(200))),
            ("0f9e8d", Some(at(100))),
            ("tmp", Some(at(300))),
        ];
        let choice = run("regexp:^((?!tmp).)*$", Some("0f9e8d"), &images).unwrap();
        assert_eq!(choice, Choice::Move("1a2b3c".into()), "sha wins the tie");
        let choice = run("regexp:^((?!tmp).)*$", Some("1a2b3c"), &images).unwrap();
        assert_eq!(choice, Choice::Current);
        // Without a filter, tmp (the newest) wins; latest never does.
        let mut with_latest = images.to_vec();
        with_latest.push(("latest", Some(at(900))));
        assert_eq!(
            run("glob:*", Some("master"), &with_latest).unwrap(),
            Choice::Move("tmp".into())
        );
    }

    #[test]
    fn unknown_and_newer_current_images_hold_the_container() {
        let images = [("a", Some(at(100))), ("b", Some(at(200)))];
        assert_eq!(
            run("glob:*", Some("gone"), &images).unwrap(),
            Choice::Hold {
                tag: "b".into(),
                reason: HoldReason::CurrentNotComparable
            }
        );
        let images = [
            ("a", Some(at(100))),
            ("b", Some(at(200))),
            ("dev", Some(at(300))),
        ];
        assert_eq!(
            run("glob:[ab]", Some("dev"), &images),
            Err(SelectError::NoMatch {
                image: "app".into(),
                filter: "glob:[ab]".into(),
                tags: 3
            })
        );
        assert_eq!(
            run("regexp:^[ab]$", Some("dev"), &images).unwrap(),
            Choice::Hold {
                tag: "b".into(),
                reason: HoldReason::Downgrade
            }
        );
        let images = [("a", Some(CreatedAt::Absent)), ("b", Some(at(1)))];
        assert_eq!(
            run("glob:*", Some("b"), &images).unwrap(),
            Choice::Current,
            "an image without creation time ranks last"
        );
        let images = [("a", Some(CreatedAt::Absent))];
        assert_eq!(
            run("glob:*", None, &images).unwrap(),
            Choice::Hold {
                tag: "a".into(),
                reason: HoldReason::ChosenHasNoCreationTime
            }
        );
    }

    #[test]
    fn creation_times_must_be_looked_up_first() {
        let images = [("a", Some(at(1))), ("b", None)];
        assert_eq!(
            run("glob:*", Some("a"), &images),
            Err(SelectError::CreationTimeMissing {
                image: "app".into(),
                tags: vec!["b".into()]
            })
        );
    }

    #[test]
    fn semver_orders_by_version_and_never_goes_below_the_current_tag() {
        let images = [("1.2.0", None), ("1.10.0", None), ("2.0.0", None)];
        assert_eq!(
            run("semver:~1", Some("1.2.0"), &images).unwrap(),
            Choice::Move("1.10.0".into())
        );
        assert_eq!(
            run("semver:~1", Some("1.11.0"), &images).unwrap(),
            Choice::Current
        );
        assert!(matches!(
            run("semver:>=3", Some("1.2.0"), &images),
            Err(SelectError::NoMatch { .. })
        ));
    }
}

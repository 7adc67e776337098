//! Checking out what is not a branch, as Flux's `ref` allows: a tag, the
//! highest tag in a semver range, any other reference by its full name, or a
//! commit (looked for in one branch, or in all of them). Each is fetched into
//! tagpilot's own namespace of the working copy, `refs/tagpilot/…`, and
//! resolved to the commit the working copy is reset to.
//!
//! Semver follows Flux's source-controller: every tag is fetched, tags that
//! are not versions (`fluxcd/pkg/version` rules: three dot-separated parts,
//! read loosely) are skipped, the rest filtered by the range (Masterminds
//! constraints, [`crate::policy::Range`]) and the highest taken; among equal
//! versions (`v1.0.0` and `1.0.0`, or versions that differ in build metadata)
//! the one whose commit is newest, then the greatest name, so the pick is
//! the same every time.

use std::cmp::Ordering;
use std::path::Path;

use git2::{ErrorCode, Oid, Repository};

use super::error::GitError;
use super::spec::GitReference;
use super::transport::Transport;
use super::workcopy::{is_local_failure, local_error};
use crate::policy::{Range, VersionRef};

/// Where a single fetched reference (tag, name) is kept.
const FETCHED_REF: &str = "refs/tagpilot/checkout";
/// Where a semver checkout keeps the remote's tags.
const TAGS_PREFIX: &str = "refs/tagpilot/tags/";
/// Where a commit checkout without a branch keeps the remote's branches.
const HEADS_PREFIX: &str = "refs/tagpilot/heads/";

/// Fetches what `reference` (not a branch) needs and returns the commit it
/// resolves to.
pub(crate) fn resolve_reference(
    repo: &Repository,
    workdir: &Path,
    transport: &Transport,
    reference: &GitReference,
) -> Result<Oid, GitError> {
    let fetcher = Fetcher {
        repo,
        workdir,
        transport,
        reference,
    };
    match reference {
        GitReference::Branch(branch) => fetcher.single(&format!("refs/heads/{branch}")),
        GitReference::Tag(tag) => fetcher.single(&format!("refs/tags/{tag}")),
        GitReference::Name(name) => fetcher.single(name),
        GitReference::Semver(range) => fetcher.semver(range),
        GitReference::Commit { sha, branch } => fetcher.commit(sha, branch.as_deref()),
    }
}

/// One resolution: the working copy, the remote and the reference.
struct Fetcher<'a> {
    repo: &'a Repository,
    workdir: &'a Path,
    transport: &'a Transport,
    reference: &'a GitReference,
}

impl Fetcher<'_> {
    fn local(&self, action: &'static str, source: git2::Error) -> GitError {
        local_error(self.workdir, self.transport, action, source)
    }

    fn not_found(&self, hint: impl Into<String>) -> GitError {
        GitError::ReferenceNotFound {
            url: self.transport.redacted_url().to_string(),
            reference: self.reference.describe(),
            hint: hint.into(),
        }
    }

    /// Deletes the local references under `prefix` (or the one named so), so
    /// that what the remote no longer has is not resolved from an old fetch.
    fn forget(&self, prefix: &str) -> Result<(), GitError> {
        let glob = if prefix.ends_with('/') {
            format!("{prefix}*")
        } else {
            prefix.to_string()
        };
        let references = self
            .repo
            .references_glob(&glob)
            .map_err(|source| self.local("listing fetched references", source))?;
        for reference in references {
            let mut reference =
                reference.map_err(|source| self.local("listing fetched references", source))?;
            reference
                .delete()
                .map_err(|source| self.local("forgetting a fetched reference", source))?;
        }
        Ok(())
    }

    /// Fetches `refspecs` from the remote.
    fn fetch(&self, refspecs: &[&str]) -> Result<(), GitError> {
        let mut remote = self
            .repo
            .remote_anonymous(&self.transport.connect()?)
            .map_err(|source| self.local("setting up the remote", source))?;
        remote
            .fetch(
                refspecs,
                Some(&mut self.transport.fetch_options()),
                Some("tagpilot: fetch"),
            )
            .map_err(|error| {
                if is_local_failure(&error) {
                    self.local("fetching", error)
                } else {
                    self.transport
                        .remote_error("fetch", &self.reference.describe(), error)
                }
            })
    }

    /// The commit a fetched reference points at (peeling annotated tags).
    fn commit_of(&self, name: &str) -> Result<Option<Oid>, GitError> {
        match self.repo.find_reference(name) {
            Ok(reference) => reference
                .peel_to_commit()
                .map(|commit| Some(commit.id()))
                .map_err(|_| self.not_found("it does not point at a commit")),
            Err(error) if error.code() == ErrorCode::NotFound => Ok(None),
            Err(source) => Err(self.local("reading the fetched reference", source)),
        }
    }

    /// A tag or another reference, by its full name.
    fn single(&self, name: &str) -> Result<Oid, GitError> {
        self.forget(FETCHED_REF)?;
        self.fetch(&[&format!("+{name}:{FETCHED_REF}")])?;
        self.commit_of(FETCHED_REF)?.ok_or_else(|| {
            self.not_found(format!(
                "the remote has no {name}; create it or fix the checkout ref"
            ))
        })
    }

    /// The highest tag in `range`.
    fn semver(&self, range: &str) -> Result<Oid, GitError> {
        let range = Range::parse(range).map_err(|error| GitError::InvalidSpec {
            what: "checkout ref semver",
            value: range.to_string(),
            reason: error.to_string(),
        })?;
        self.forget(TAGS_PREFIX)?;
        self.fetch(&[&format!("+refs/tags/*:{TAGS_PREFIX}*")])?;
        let references = self
            .repo
            .references_glob(&format!("{TAGS_PREFIX}*"))
            .map_err(|source| self.local("listing the fetched tags", source))?;
        let mut seen = 0_usize;
        let mut best: Option<Candidate> = None;
        for reference in references {
            let reference =
                reference.map_err(|source| self.local("listing the fetched tags", source))?;
            let Some(tag) = reference
                .name()
                .ok()
                .and_then(|name| name.strip_prefix(TAGS_PREFIX))
            else {
                continue;
            };
            seen += 1;
            let Some(version) = VersionRef::parse_tag(tag) else {
                continue;
            };
            if !range.matches(&version) {
                continue;
            }
            // A tag of something else than a commit (a tree, a blob) is no checkout.
            let Ok(commit) = reference.peel_to_commit() else {
                continue;
            };
            let candidate = Candidate {
                tag: tag.to_string(),
                commit: commit.id(),
                time: commit.committer().when().seconds(),
            };
            let better = match &best {
                None => true,
                Some(best) => candidate.cmp_with(best) == Ordering::Greater,
            };
            if better {
                best = Some(candidate);
            }
        }
        let best = best.ok_or_else(|| {
            self.not_found(format!(
                "none of its {seen} tags is a version in the range; tag a release or widen the range"
            ))
        })?;
        tracing::debug!(url = %self.transport.redacted_url(), range = %range, tag = %best.tag, "semver checkout picked a tag");
        Ok(best.commit)
    }

    /// A commit, in `branch` or in any branch.
    fn commit(&self, sha: &str, branch: Option<&str>) -> Result<Oid, GitError> {
        let wanted = Oid::from_str(sha).map_err(|_| GitError::InvalidSpec {
            what: "checkout ref commit",
            value: sha.to_string(),
            reason: "not a commit id".to_string(),
        })?;
        let heads: Vec<Oid> = match branch {
            Some(branch) => vec![self.single(&format!("refs/heads/{branch}"))?],
            None => {
                self.forget(HEADS_PREFIX)?;
                self.fetch(&[&format!("+refs/heads/*:{HEADS_PREFIX}*")])?;
                let references = self
                    .repo
                    .references_glob(&format!("{HEADS_PREFIX}*"))
                    .map_err(|source| self.local("listing the fetched branches", source))?;
                let mut heads = Vec::new();
                for reference in references {
                    let reference = reference
                        .map_err(|source| self.local("listing the fetched branches", source))?;
                    if let Some(head) = reference.target() {
                        heads.push(head);
                    }
                }
                heads
            }
        };
        // The commit must be in what was fetched now, not only in the
        // working copy's objects from an earlier fetch.
        let reachable = heads.iter().any(|head| {
            *head == wanted
                || self
                    .repo
                    .graph_descendant_of(*head, wanted)
                    .unwrap_or(false)
        });
        if !reachable {
            return Err(self.not_found(match branch {
                Some(branch) => format!(
                    "branch {branch:?} does not contain it; check the commit and the branch"
                ),
                None => "no branch contains it; check the commit id".to_string(),
            }));
        }
        self.repo
            .find_commit(wanted)
            .map(|commit| commit.id())
            .map_err(|source| self.local("reading the commit", source))
    }
}

/// A tag inside the range.
struct Candidate {
    tag: String,
    commit: Oid,
    /// The commit's committer time (seconds since the epoch).
    time: i64,
}

impl Candidate {
    /// Version precedence, then the newer commit, then the greater name.
    fn cmp_with(&self, other: &Candidate) -> Ordering {
        let (Some(mine), Some(theirs)) = (
            VersionRef::parse_tag(&self.tag),
            VersionRef::parse_tag(&other.tag),
        ) else {
            return self.tag.cmp(&other.tag);
        };
        mine.precedence(&theirs)
            .then(self.time.cmp(&other.time))
            .then_with(|| self.tag.cmp(&other.tag))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(tag: &str, time: i64) -> Candidate {
        Candidate {
            tag: tag.to_string(),
            commit: Oid::ZERO_SHA1,
            time,
        }
    }

    #[test]
    fn versions_rank_first_then_commit_time_then_name() {
        let cmp = |a: Candidate, b: Candidate| a.cmp_with(&b);
        assert_eq!(
            cmp(candidate("v1.10.0", 1), candidate("v1.9.0", 9)),
            Ordering::Greater
        );
        assert_eq!(
            cmp(candidate("1.0.0+b", 5), candidate("1.0.0+a", 9)),
            Ordering::Less
        );
        assert_eq!(
            cmp(candidate("v1.0.0", 5), candidate("1.0.0", 5)),
            Ordering::Greater
        );
        assert_eq!(
            cmp(candidate("1.0.0", 5), candidate("1.0.0-rc.1", 9)),
            Ordering::Greater
        );
    }
}

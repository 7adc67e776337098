//! What changed, per updated image, for commit messages: the OCI annotations
//! of the new image and of the one it replaced, and a link to the forge's
//! comparison of the two source revisions.
//!
//! The engine reads the annotations from the registry
//! ([`crate::registry::image_details`]) and hands them to
//! [`ImageAbout::new`]; the old image is the one the files named before the
//! change ([`ChangeSet::old_reference`]).
//!
//! A compare link needs both images to carry `source` and `revision`, the
//! same source repository (after normalizing `https://`, `ssh://`, `git@host:`
//! and `.git` forms) and different revisions, on a forge recognized by its
//! host:
//!
//! | forge | hosts | link |
//! | --- | --- | --- |
//! | GitHub | `github.com`, `github.*` | `https://HOST/OWNER/REPO/compare/OLD...NEW` |
//! | GitLab | `gitlab.com`, `gitlab.*` | `https://HOST/GROUP/…/PROJECT/-/compare/OLD...NEW` |
//! | Gitea, Forgejo | `gitea.com`, `codeberg.org`, `gitea.*`, `forgejo.*`, `codeberg.*` | `https://HOST/OWNER/REPO/compare/OLD...NEW` |
//! | Bitbucket Cloud | `bitbucket.org` | `https://bitbucket.org/WORKSPACE/REPO/branches/compare/NEW%0DOLD` |
//!
//! An `http(s)` source keeps its scheme and port; an ssh source links over
//! `https` without its port. Revisions must be made of `A-Z a-z 0-9 . _ - /`
//! (commit ids, tags, branch names) and not contain `..`.

use serde::{Deserialize, Serialize};

use super::message::{ChangeSet, ImageUpdate};
use crate::registry::image_details::OciAnnotations;

/// What the registry says about an updated image and the one it replaced.
/// Every field is `None` when unknown (no annotation, or the registry could
/// not be read).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ImageAbout {
    /// The new image's `org.opencontainers.image.source`.
    pub source: Option<String>,
    /// The new image's `org.opencontainers.image.revision`.
    pub revision: Option<String>,
    /// The new image's `org.opencontainers.image.version`.
    pub version: Option<String>,
    /// The new image's `org.opencontainers.image.created`.
    pub created: Option<String>,
    /// The image the files named before (full reference).
    pub old: Option<String>,
    /// The old image's `org.opencontainers.image.revision`.
    pub old_revision: Option<String>,
    /// The old image's `org.opencontainers.image.version`.
    pub old_version: Option<String>,
    /// The forge's comparison of the old revision with the new one.
    pub compare_url: Option<String>,
}

impl ImageAbout {
    /// The data of an image whose new image carries `new`, replacing `old`
    /// (its reference and, when read, its annotations).
    pub fn new(new: &OciAnnotations, old: Option<(&str, Option<&OciAnnotations>)>) -> Self {
        let (old_reference, old) = match old {
            Some((reference, annotations)) => (Some(reference.to_string()), annotations),
            None => (None, None),
        };
        let compare_url = old.and_then(|old| {
            compare_url(
                old.source.as_deref()?,
                new.source.as_deref()?,
                old.revision.as_deref()?,
                new.revision.as_deref()?,
            )
        });
        Self {
            source: new.source.clone(),
            revision: new.revision.clone(),
            version: new.version.clone(),
            created: new.created.clone(),
            old: old_reference,
            old_revision: old.and_then(|o| o.revision.clone()),
            old_version: old.and_then(|o| o.version.clone()),
            compare_url,
        }
    }

    /// Whether nothing is known.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

impl ChangeSet {
    /// The reference `image`'s markers held before this change: a full
    /// reference marker's old value, else the image's name with the old tag
    /// and digest of its `:tag` and `:digest` markers. `None` when its
    /// markers changed neither (a `:name` marker alone).
    pub fn old_reference(&self, image: &ImageUpdate) -> Option<String> {
        let mut tag = None;
        let mut digest = None;
        for change in &self.changes {
            let mut parts = change.setter.split(':');
            if parts.next() != Some(image.namespace.as_str())
                || parts.next() != Some(image.policy.as_str())
            {
                continue;
            }
            match parts.next() {
                None => return Some(change.old.clone()),
                Some("tag") => tag = tag.or(Some(change.old.as_str())),
                Some("digest") => digest = digest.or(Some(change.old.as_str())),
                Some(_) => {}
            }
        }
        match (tag, digest) {
            (None, None) => None,
            (tag, digest) => {
                let mut reference = image.name.clone();
                if let Some(tag) = tag {
                    reference.push(':');
                    reference.push_str(tag);
                }
                if let Some(digest) = digest {
                    reference.push('@');
                    reference.push_str(digest);
                }
                Some(reference)
            }
        }
    }
}

/// A source repository as the forges' web pages name it.
#[derive(Debug, PartialEq, Eq)]
struct Repository {
    /// `https` or `http`.
    scheme: String,
    /// The host, lowercase, with `:port` for web URLs that give one.
    authority: String,
    /// The host alone, lowercase.
    host: String,
    /// The path without slashes at either end and without `.git`.
    path: String,
}

fn repository(source: &str) -> Option<Repository> {
    let source = source.strip_prefix("git+").unwrap_or(source);
    let (scheme, authority, path) = match source.split_once("://") {
        Some((scheme, rest)) => {
            let scheme = scheme.to_ascii_lowercase();
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            let authority = authority.rsplit('@').next().unwrap_or(authority);
            match scheme.as_str() {
                "https" | "http" => (scheme, authority.to_ascii_lowercase(), path),
                "ssh" | "git" => {
                    let host = authority.split(':').next().unwrap_or(authority);
                    ("https".to_string(), host.to_ascii_lowercase(), path)
                }
                _ => return None,
            }
        }
        // scp-like: [user@]host:path
        None => {
            let (authority, path) = source.split_once(':')?;
            let host = authority.rsplit('@').next().unwrap_or(authority);
            if host.is_empty() || host.contains('/') {
                return None;
            }
            ("https".to_string(), host.to_ascii_lowercase(), path)
        }
    };
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let path = path.trim_matches('/');
    let path = path
        .strip_suffix(".git")
        .unwrap_or(path)
        .trim_end_matches('/');
    let host = authority.split(':').next().unwrap_or_default().to_string();
    (!host.is_empty() && !path.is_empty()).then(|| Repository {
        scheme,
        authority,
        host,
        path: path.to_string(),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Forge {
    GitHub,
    GitLab,
    Gitea,
    Bitbucket,
}

fn forge(host: &str) -> Option<Forge> {
    let starts = |prefix: &str| host.starts_with(prefix);
    match host {
        "github.com" => Some(Forge::GitHub),
        "gitlab.com" => Some(Forge::GitLab),
        "gitea.com" | "codeberg.org" => Some(Forge::Gitea),
        "bitbucket.org" => Some(Forge::Bitbucket),
        _ if starts("github.") => Some(Forge::GitHub),
        _ if starts("gitlab.") => Some(Forge::GitLab),
        _ if starts("gitea.") || starts("forgejo.") || starts("codeberg.") => Some(Forge::Gitea),
        _ => None,
    }
}

fn is_revision(revision: &str) -> bool {
    !revision.is_empty()
        && revision.len() <= 255
        && !revision.contains("..")
        && !revision.starts_with(['/', '-', '.'])
        && revision
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'))
}

/// The path's first two segments (owner and repository).
fn owner_and_repo(path: &str) -> Option<String> {
    let mut segments = path.split('/');
    let owner = segments.next().filter(|s| !s.is_empty())?;
    let repo = segments.next().filter(|s| !s.is_empty())?;
    Some(format!("{owner}/{repo}"))
}

/// The forge's comparison of `old_revision` with `new_revision`, when both
/// sources name the same repository on a known forge (see the module docs).
pub fn compare_url(
    old_source: &str,
    new_source: &str,
    old_revision: &str,
    new_revision: &str,
) -> Option<String> {
    let old = repository(old_source)?;
    let new = repository(new_source)?;
    let forge = forge(&new.host)?;
    let project = project_path(forge, &new.path)?;
    if old.host != new.host
        || project_path(forge, &old.path)? != project
        || old_revision == new_revision
        || !is_revision(old_revision)
        || !is_revision(new_revision)
    {
        return None;
    }
    let base = format!("{}://{}/{project}", new.scheme, new.authority);
    Some(match forge {
        Forge::GitHub | Forge::Gitea => format!("{base}/compare/{old_revision}...{new_revision}"),
        Forge::GitLab => format!("{base}/-/compare/{old_revision}...{new_revision}"),
        Forge::Bitbucket => format!("{base}/branches/compare/{new_revision}%0D{old_revision}"),
    })
}

/// The repository part of a web path: `OWNER/REPO` (GitLab: every group up
/// to `/-/`).
fn project_path(forge: Forge, path: &str) -> Option<String> {
    match forge {
        Forge::GitLab => {
            let project = path.split("/-/").next().unwrap_or_default();
            project.contains('/').then(|| project.to_string())
        }
        Forge::GitHub | Forge::Gitea | Forge::Bitbucket => owner_and_repo(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_of_every_shape_name_the_same_repository() {
        let want = repository("https://github.com/acme/app").unwrap();
        for source in [
            "https://github.com/acme/app.git",
            "https://GitHub.com/acme/app/",
            "git+https://github.com/acme/app",
            "git@github.com:acme/app.git",
            "ssh://git@github.com:22/acme/app.git",
            "git://github.com/acme/app",
        ] {
            let got = repository(source).unwrap();
            assert_eq!(
                (got.host, got.path),
                (want.host.clone(), want.path.clone()),
                "{source}"
            );
        }
        assert_eq!(repository("not a url"), None);
        assert_eq!(repository("https://github.com"), None);
    }

    #[test]
    fn links_are_made_only_when_they_can_be_right() {
        let link = |old: &str, new: &str| compare_url(old, new, "a1", "b2");
        let gh = "https://github.com/acme/app";
        assert_eq!(
            link(gh, "https://github.com/acme/app/tree/main/cmd").as_deref(),
            Some("https://github.com/acme/app/compare/a1...b2")
        );
        assert_eq!(
            link(gh, "https://github.com/acme/other"),
            None,
            "another repository"
        );
        assert_eq!(
            link("https://git.example.com/a/b", "https://git.example.com/a/b"),
            None
        );
        assert_eq!(compare_url(gh, gh, "a1", "a1"), None, "same revision");
        assert_eq!(compare_url(gh, gh, "a1", "b2?x=1"), None);
        assert_eq!(compare_url(gh, gh, "a1", "../../settings"), None);
        assert_eq!(
            link(
                "https://gitlab.example.org/g/sub/p",
                "https://gitlab.example.org/g/sub/p/-/tree/main"
            )
            .as_deref(),
            Some("https://gitlab.example.org/g/sub/p/-/compare/a1...b2")
        );
        assert_eq!(
            link("http://gitea.lan:3000/o/r", "http://gitea.lan:3000/o/r.git").as_deref(),
            Some("http://gitea.lan:3000/o/r/compare/a1...b2")
        );
        assert_eq!(
            link("git@bitbucket.org:ws/r.git", "https://bitbucket.org/ws/r").as_deref(),
            Some("https://bitbucket.org/ws/r/branches/compare/b2%0Da1")
        );
    }
}

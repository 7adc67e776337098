//! Listing tags: `GET /v2/NAME/tags/list?n=PAGE`, page after page, within the
//! scan's budget.
//!
//! The next page is the `Link: <…>; rel="next"` target exactly as given
//! (relative or absolute, opaque `last` tokens included) but never on another
//! scheme, host or port — a registry must not be able to point the scanner,
//! and its credentials, at arbitrary URLs (invariant 10). Every scan is
//! bounded (invariant 11) by the [`ScanBudget`]: pages, body bytes, empty
//! pages in a row, a loop back to a recent page, and wall time around the
//! whole scan. Reaching a limit is a [`ScanError::Budget`] (or
//! [`ScanError::PaginationLoop`]): the engine keeps the stored list, so a
//! partial scan never changes a policy result (invariant 4). A scan that
//! reaches the tag cap returns what it has with `complete: false`, which the
//! store refuses the same way.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use reqwest::header::{HeaderMap, LINK};
use reqwest::{Method, Url};
use serde::Deserialize;

use super::client::{RegistryClient, Session, expect_ok, invalid_target, shown};
use super::error::ScanError;
use super::pagination::{BudgetExceeded, PageCounter, ScanBudget, next_link_target};
use super::transport::authority;
use super::{ScanTarget, TagList, TagLister};

/// How many ignored (invalid) tags one scan logs one by one; the rest are only counted.
const LOGGED_INVALID_TAGS: usize = 20;

#[derive(Deserialize)]
struct TagsPage {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

/// What a scan has read so far (readable after its future is dropped by the time limit).
#[derive(Default)]
struct Progress {
    pages: AtomicU32,
    tags: AtomicUsize,
}

impl RegistryClient {
    /// Lists the tags of `target`, calling `progress` with the running count after each page.
    #[tracing::instrument(skip_all, fields(image = %target.image.name(), object = %target.id))]
    pub async fn list_tags_with_progress(
        &self,
        target: &ScanTarget,
        progress: &(dyn Fn(usize) + Send + Sync),
    ) -> Result<TagList, ScanError> {
        let budget = &self.options().budget;
        let read = Progress::default();
        let scan = self.list_pages(target, progress, budget, &read);
        match tokio::time::timeout(budget.max_time, scan).await {
            Ok(result) => result,
            Err(_) => Err(ScanError::Budget {
                image: target.image.name().to_string(),
                pages: read.pages.load(Ordering::Relaxed),
                tags: read.tags.load(Ordering::Relaxed),
                reason: format!(
                    "the scan took longer than {} s",
                    budget.max_time.as_secs_f64()
                ),
                transient: true,
            }),
        }
    }

    async fn list_pages(
        &self,
        target: &ScanTarget,
        progress: &(dyn Fn(usize) + Send + Sync),
        budget: &ScanBudget,
        read: &Progress,
    ) -> Result<TagList, ScanError> {
        let session = self.session(target).await?;
        let options = self.options();
        let mut url = session
            .base
            .join(&format!("v2/{}/tags/list", session.repository))
            .map_err(|e| invalid_target(&session.image, e))?;
        url.query_pairs_mut()
            .append_pair("n", &options.page_size.max(1).to_string());
        let mut counter = PageCounter::new(budget.clone());
        let mut tags: Vec<String> = Vec::new();
        let mut complete = true;
        let mut invalid = 0usize;
        let over_budget =
            |exceeded: BudgetExceeded, url: &Url, pages: u32, tags: usize| match exceeded {
                BudgetExceeded::Loop => ScanError::PaginationLoop {
                    image: session.image.clone(),
                    url: shown(url),
                },
                exceeded => ScanError::Budget {
                    image: session.image.clone(),
                    pages,
                    tags,
                    reason: exceeded.to_string(),
                    transient: false,
                },
            };
        loop {
            counter
                .before_page(url.as_str())
                .map_err(|exceeded| over_budget(exceeded, &url, counter.pages(), tags.len()))?;
            let fetched = self
                .get(&session, Method::GET, &url, "application/json")
                .await?;
            expect_ok(&session, &url, &fetched)?;
            let page: TagsPage =
                serde_json::from_slice(&fetched.body).map_err(|e| ScanError::InvalidResponse {
                    image: session.image.clone(),
                    url: shown(&url),
                    reason: format!("not a tag list ({e})"),
                })?;
            let listed = page.tags.as_ref().map_or(0, Vec::len);
            let before = tags.len();
            tags.extend(page.tags.unwrap_or_default().into_iter().filter(|tag| {
                let valid = is_valid_tag(tag);
                if !valid {
                    invalid += 1;
                    if invalid <= LOGGED_INVALID_TAGS {
                        tracing::warn!(tag = %shown_tag(tag), "ignoring a tag that is not a valid tag name");
                    }
                }
                valid
            }));
            let next = next_link(&session, &url, &fetched.headers)?;
            counter
                .after_page(fetched.body.len(), listed, next.is_some())
                .map_err(|exceeded| over_budget(exceeded, &url, counter.pages(), tags.len()))?;
            read.pages.store(counter.pages(), Ordering::Relaxed);
            read.tags.store(tags.len(), Ordering::Relaxed);
            tracing::debug!(url = %shown(&url), page = counter.pages(), tags = tags.len() - before, "tags page");
            progress(tags.len());
            if tags.len() > options.max_tags || (tags.len() == options.max_tags && next.is_some()) {
                tracing::warn!(
                    max_tags = options.max_tags,
                    "tag cap reached; the scan is partial and will not replace the stored list"
                );
                tags.truncate(options.max_tags);
                complete = false;
                break;
            }
            match next {
                Some(next) => url = next,
                None => break,
            }
        }
        if invalid > LOGGED_INVALID_TAGS {
            tracing::warn!(
                ignored = invalid,
                logged = LOGGED_INVALID_TAGS,
                "ignored tags that are not valid tag names (only the first ones were logged)"
            );
        }
        tags.sort_unstable();
        tags.dedup();
        Ok(TagList {
            tags,
            complete,
            pages: counter.pages(),
        })
    }
}

impl TagLister for RegistryClient {
    async fn list_tags(&self, target: &ScanTarget) -> Result<TagList, ScanError> {
        self.list_tags_with_progress(target, &|_| {}).await
    }
}

/// The `rel="next"` target of the `Link` headers, resolved against `current`
/// and refused unless it stays on the registry's scheme, host and port.
fn next_link(
    session: &Session<'_>,
    current: &Url,
    headers: &HeaderMap,
) -> Result<Option<Url>, ScanError> {
    let values = headers.get_all(LINK).iter().filter_map(|v| v.to_str().ok());
    let Some(target) = next_link_target(values) else {
        return Ok(None);
    };
    let next = current
        .join(target)
        .map_err(|_| ScanError::InvalidResponse {
            image: session.image.clone(),
            url: shown(current),
            reason: format!(
                "the Link header's target {:?} is not a URL",
                shown_tag(target)
            ),
        })?;
    if next.scheme() != session.base.scheme() || authority(&next) != session.authority {
        return Err(ScanError::ForeignLink {
            image: session.image.clone(),
            link_host: format!("{}://{}", next.scheme(), authority(&next)),
            registry_host: format!("{}://{}", session.base.scheme(), session.authority),
        });
    }
    Ok(Some(next))
}

/// An invalid tag for a log line: escaped, and cut after 64 characters.
fn shown_tag(tag: &str) -> String {
    let mut shown: String = tag.chars().take(64).flat_map(char::escape_debug).collect();
    if tag.chars().nth(64).is_some() {
        shown.push('…');
    }
    shown
}

/// A tag as the distribution spec allows: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
pub fn is_valid_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 128
        && (bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_')
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_names_follow_the_distribution_spec() {
        for tag in ["v1.2.3", "latest", "_x", "main-abc123-7", &"a".repeat(128)] {
            assert!(is_valid_tag(tag), "{tag}");
        }
        for tag in ["", "-x", ".x", "a b", "a\nb", "a/b", &"a".repeat(129)] {
            assert!(!is_valid_tag(tag), "{tag:?}");
        }
    }

    #[test]
    fn invalid_tags_are_logged_escaped_and_cut() {
        assert_eq!(shown_tag("1.0\nimage: x"), "1.0\\nimage: x");
        let long = "x".repeat(10_000_000);
        assert_eq!(shown_tag(&long), format!("{}…", "x".repeat(64)));
    }
}

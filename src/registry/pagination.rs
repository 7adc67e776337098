//! Tag-list pagination, as pure logic: reading the `rel="next"` target of
//! `Link` headers (RFC 8288), and the budget that bounds one scan's pages,
//! bytes and empty pages (invariant 11).
//!
//! A registry decides how many pages there are. Without a budget, one that
//! answers empty pages each linking to a fresh `?last=…` kept `run --once`
//! going for minutes and thousands of requests, remembering every page URL
//! (issue 17, finding 3). Now a scan stops — as a partial scan that changes
//! nothing (invariant 4) — at the first of: [`ScanBudget::max_pages`] pages,
//! [`ScanBudget::max_bytes`] of bodies, [`ScanBudget::max_empty_pages`] pages
//! in a row without a tag, or a link back to one of the last
//! [`RECENT_PAGES`] pages. Its memory does not grow with the page count: the
//! loop check keeps a fixed number of hashes, not URLs. The wall-time budget
//! ([`ScanBudget::max_time`]) is enforced by the client around the whole scan.
//!
//! Depends on `std` only: the fuzz crate compiles this file as it is
//! (`fuzz/fuzz_targets/link.rs`).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::time::Duration;

/// How many recent page URLs the loop check remembers (as hashes).
pub const RECENT_PAGES: usize = 16;

/// The limits of one scan. The defaults are documented in SECURITY.md.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanBudget {
    /// The most `tags/list` pages one scan fetches. 1,000 pages reach the
    /// 100,000-tag cap even at 100 tags a page (Docker Hub's page size).
    pub max_pages: u32,
    /// The most response-body bytes one scan reads, all pages together
    /// (100,000 tags of 128 characters are under 14 MB of JSON).
    pub max_bytes: u64,
    /// The most pages in a row that hold no tag but link to another page.
    pub max_empty_pages: u32,
    /// The longest one scan may take, retries and waits included.
    pub max_time: Duration,
}

impl Default for ScanBudget {
    fn default() -> Self {
        Self {
            max_pages: 1_000,
            max_bytes: 64 * 1024 * 1024,
            max_empty_pages: 10,
            max_time: Duration::from_secs(10 * 60),
        }
    }
}

/// Which limit a scan reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BudgetExceeded {
    /// More pages than [`ScanBudget::max_pages`].
    Pages(u32),
    /// More body bytes than [`ScanBudget::max_bytes`].
    Bytes(u64),
    /// More empty pages in a row than [`ScanBudget::max_empty_pages`].
    EmptyPages(u32),
    /// A next-page link to a page fetched shortly before.
    Loop,
}

impl std::fmt::Display for BudgetExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Pages(max) => write!(f, "the registry has more than {max} pages of tags"),
            Self::Bytes(max) => write!(
                f,
                "the tag pages hold more than {} MiB",
                max / (1024 * 1024)
            ),
            Self::EmptyPages(max) => {
                write!(
                    f,
                    "{max} pages in a row held no tag but linked to another page"
                )
            }
            Self::Loop => f.write_str("a next-page link leads back to a page already read"),
        }
    }
}

/// Counts one scan's pages against a [`ScanBudget`], in constant memory.
#[derive(Debug, Clone)]
pub struct PageCounter {
    budget: ScanBudget,
    pages: u32,
    bytes: u64,
    empty_in_a_row: u32,
    recent: [u64; RECENT_PAGES],
    recent_len: usize,
    next_slot: usize,
}

impl PageCounter {
    /// A counter for a new scan.
    pub fn new(budget: ScanBudget) -> Self {
        Self {
            budget,
            pages: 0,
            bytes: 0,
            empty_in_a_row: 0,
            recent: [0; RECENT_PAGES],
            recent_len: 0,
            next_slot: 0,
        }
    }

    /// Pages counted so far.
    pub fn pages(&self) -> u32 {
        self.pages
    }

    /// Before fetching `url`: refuses a page beyond the page budget or one of
    /// the last [`RECENT_PAGES`] pages again.
    pub fn before_page(&mut self, url: &str) -> Result<(), BudgetExceeded> {
        if self.pages >= self.budget.max_pages {
            return Err(BudgetExceeded::Pages(self.budget.max_pages));
        }
        let mut hasher = DefaultHasher::new();
        url.hash(&mut hasher);
        let hash = hasher.finish();
        if self.recent[..self.recent_len].contains(&hash) {
            return Err(BudgetExceeded::Loop);
        }
        self.recent[self.next_slot] = hash;
        self.next_slot = (self.next_slot + 1) % RECENT_PAGES;
        self.recent_len = (self.recent_len + 1).min(RECENT_PAGES);
        Ok(())
    }

    /// After reading a page of `body_bytes` holding `tags` tags; `has_next`
    /// when it links to another page.
    pub fn after_page(
        &mut self,
        body_bytes: usize,
        tags: usize,
        has_next: bool,
    ) -> Result<(), BudgetExceeded> {
        self.pages = self.pages.saturating_add(1);
        self.bytes = self
            .bytes
            .saturating_add(u64::try_from(body_bytes).unwrap_or(u64::MAX));
        if self.bytes > self.budget.max_bytes {
            return Err(BudgetExceeded::Bytes(self.budget.max_bytes));
        }
        if tags == 0 && has_next {
            self.empty_in_a_row = self.empty_in_a_row.saturating_add(1);
            if self.empty_in_a_row >= self.budget.max_empty_pages {
                return Err(BudgetExceeded::EmptyPages(self.budget.max_empty_pages));
            }
        } else {
            self.empty_in_a_row = 0;
        }
        Ok(())
    }
}

/// The target of the first link whose `rel` includes `next`, from the values
/// of every `Link` header (each may hold several comma-separated links).
/// The target is returned as written (relative or absolute); resolving and
/// checking it is the caller's job.
pub fn next_link_target<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    values
        .into_iter()
        .find_map(|value| links(value).find(|link| link.is_next()).map(|l| l.target))
}

/// One parsed link-value.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Link<'a> {
    target: &'a str,
    rel: Option<String>,
}

impl Link<'_> {
    fn is_next(&self) -> bool {
        self.rel.as_deref().is_some_and(|rel| {
            rel.split_ascii_whitespace()
                .any(|r| r.eq_ignore_ascii_case("next"))
        })
    }
}

/// The link-values of one header value: `<target>; param=value; param="quoted, value", <…>`.
/// Malformed parts are skipped up to the next comma outside quotes.
fn links(value: &str) -> impl Iterator<Item = Link<'_>> {
    let mut rest = value;
    std::iter::from_fn(move || {
        loop {
            rest = rest.trim_start_matches([' ', '\t', ',']);
            if rest.is_empty() {
                return None;
            }
            let Some(after_open) = rest.strip_prefix('<') else {
                rest = skip_past_comma(rest);
                continue;
            };
            let Some(close) = after_open.find('>') else {
                rest = "";
                return None;
            };
            let target = &after_open[..close];
            rest = &after_open[close + 1..];
            let mut rel = None;
            loop {
                rest = rest.trim_start_matches([' ', '\t']);
                let Some(after_semicolon) = rest.strip_prefix(';') else {
                    break;
                };
                let (name, value, remaining) = parameter(after_semicolon);
                if name.eq_ignore_ascii_case("rel") && rel.is_none() {
                    rel = value;
                }
                rest = remaining;
            }
            if !rest.is_empty() && !rest.starts_with(',') {
                // Junk after the link-value: drop this link, resume after the next comma.
                rest = skip_past_comma(rest);
                continue;
            }
            return Some(Link { target, rel });
        }
    })
}

/// One `name[=value]` parameter: its name, value (unquoted) and the text after it.
fn parameter(text: &str) -> (&str, Option<String>, &str) {
    let text = text.trim_start_matches([' ', '\t']);
    let name_end = text
        .find(|c: char| matches!(c, '=' | ';' | ',') || c.is_whitespace())
        .unwrap_or(text.len());
    let name = &text[..name_end];
    let after_name = text[name_end..].trim_start_matches([' ', '\t']);
    let Some(after_eq) = after_name.strip_prefix('=') else {
        return (name, None, after_name);
    };
    let after_eq = after_eq.trim_start_matches([' ', '\t']);
    if let Some(quoted) = after_eq.strip_prefix('"') {
        let mut value = String::new();
        let mut chars = quoted.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, escaped)) = chars.next() {
                        value.push(escaped);
                    }
                }
                '"' => return (name, Some(value), &quoted[i + 1..]),
                c => value.push(c),
            }
        }
        (name, Some(value), "")
    } else {
        let end = after_eq
            .find(|c: char| matches!(c, ';' | ',') || c.is_whitespace())
            .unwrap_or(after_eq.len());
        (name, Some(after_eq[..end].to_string()), &after_eq[end..])
    }
}

/// The text after the next comma that is outside a quoted string.
fn skip_past_comma(text: &str) -> &str {
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            ',' if !in_quotes => return &text[i + 1..],
            _ => {}
        }
    }
    ""
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_next_link_as_registries_send_it() {
        for (value, next) in [
            (
                r#"</v2/team/app/tags/list?last=v9&n=100>; rel="next""#,
                Some("/v2/team/app/tags/list?last=v9&n=100"),
            ),
            (
                r#"<https://r/x?last=a,b>; rel=next"#,
                Some("https://r/x?last=a,b"),
            ),
            (
                r#"<https://r/p1>; rel="prev", <https://r/p3>; rel="next""#,
                Some("https://r/p3"),
            ),
            (
                r#"<https://r/p3>; title="a, b; c"; rel="first next""#,
                Some("https://r/p3"),
            ),
            (r#"<https://r/p3> ; REL = "Next""#, Some("https://r/p3")),
            (r#"<https://r/p3>; rel="nextish""#, None),
            (r#"<https://r/p3>"#, None),
            (r#"garbage, <https://r/p3>; rel=next"#, Some("https://r/p3")),
            (
                r#"<https://r/p2> junk; rel=next, <https://r/p3>; rel=next"#,
                Some("https://r/p3"),
            ),
            (r#"<https://r/unclosed; rel=next"#, None),
            ("", None),
        ] {
            assert_eq!(next_link_target([value]), next, "{value}");
        }
        assert_eq!(
            next_link_target([r#"<a>; rel=prev"#, r#"<b>; rel=next"#]),
            Some("b"),
            "later Link headers are read too"
        );
    }

    fn small_budget() -> ScanBudget {
        ScanBudget {
            max_pages: 5,
            max_bytes: 1000,
            max_empty_pages: 3,
            max_time: Duration::from_secs(1),
        }
    }

    #[test]
    fn the_budget_stops_endless_empty_and_looping_pagination() {
        let mut counter = PageCounter::new(small_budget());
        for page in 0..3 {
            counter.before_page(&format!("/p?last={page}")).unwrap();
            let result = counter.after_page(10, 0, true);
            if page < 2 {
                result.unwrap();
            } else {
                assert_eq!(result, Err(BudgetExceeded::EmptyPages(3)));
            }
        }

        let mut counter = PageCounter::new(small_budget());
        for page in 0..5 {
            counter.before_page(&format!("/p?last={page}")).unwrap();
            counter.after_page(10, 1, true).unwrap();
        }
        assert_eq!(
            counter.before_page("/p?last=new"),
            Err(BudgetExceeded::Pages(5))
        );

        let mut counter = PageCounter::new(small_budget());
        counter.before_page("/a").unwrap();
        counter.after_page(10, 1, true).unwrap();
        counter.before_page("/b").unwrap();
        counter.after_page(10, 1, true).unwrap();
        assert_eq!(counter.before_page("/a"), Err(BudgetExceeded::Loop));

        let mut counter = PageCounter::new(small_budget());
        counter.before_page("/a").unwrap();
        assert_eq!(
            counter.after_page(1001, 1, true),
            Err(BudgetExceeded::Bytes(1000))
        );
    }

    #[test]
    fn a_last_page_may_be_empty() {
        let mut counter = PageCounter::new(small_budget());
        for page in 0..2 {
            counter.before_page(&format!("/p{page}")).unwrap();
            counter.after_page(10, 0, true).unwrap();
        }
        counter.before_page("/p-last").unwrap();
        counter.after_page(10, 0, false).unwrap();
    }

    proptest! {
        #[test]
        fn link_parsing_never_panics(values in proptest::collection::vec(any::<String>(), 0..4)) {
            let _ = next_link_target(values.iter().map(String::as_str));
        }

        #[test]
        fn link_like_text_never_panics(value in r#"(<|>|;|,|"|\\| |=|rel|next|prev|[a-z/?=&]){0,64}"#) {
            if let Some(target) = next_link_target([value.as_str()]) {
                prop_assert!(value.contains(target));
            }
        }

        #[test]
        fn a_formatted_next_link_is_found(
            before in proptest::collection::vec("[a-z0-9/?=&.,;-]{0,16}", 0..3),
            target in "[A-Za-z0-9/?=&.,;:%_-]{0,40}",
            quoted in any::<bool>(),
        ) {
            let mut value: Vec<String> = before.iter().map(|t| format!("<{t}>; rel=\"prev\"")).collect();
            value.push(if quoted {
                format!("<{target}>; rel=\"next\"")
            } else {
                format!("<{target}>;rel=next")
            });
            let value = value.join(", ");
            prop_assert_eq!(next_link_target([value.as_str()]), Some(target.as_str()));
        }

        #[test]
        fn any_endless_pagination_stops_within_the_page_budget(
            tags_per_page in proptest::collection::vec(0usize..3, 1..50),
        ) {
            let budget = small_budget();
            let mut counter = PageCounter::new(budget.clone());
            let mut fetched = 0u32;
            let mut stopped = false;
            for (page, tags) in tags_per_page.iter().cycle().enumerate().take(10_000) {
                if counter.before_page(&format!("/p?last={page}")).is_err() {
                    stopped = true;
                    break;
                }
                fetched += 1;
                if counter.after_page(10, *tags, true).is_err() {
                    stopped = true;
                    break;
                }
            }
            prop_assert!(stopped);
            prop_assert!(fetched <= budget.max_pages);
        }
    }
}

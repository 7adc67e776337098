//! Fuzzes what a registry controls in pagination, and the URL redaction:
//! `Link` headers, the page budget, and URLs with credentials.
//!
//! Input: lines. Every line is a `Link` header value; the bytes also drive
//! a page sequence (tags per page) through the budget; and each line is
//! redacted as a URL, alone and as userinfo. Properties: never panics; a
//! next-page target is a slice of a header; an endless pagination stops
//! within the page budget; a userinfo never survives redaction.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tagpilot_fuzz::redact;
use tagpilot_fuzz::registry::pagination::{PageCounter, ScanBudget, next_link_target};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let values: Vec<&str> = text.lines().collect();
    if let Some(target) = next_link_target(values.iter().copied()) {
        assert!(values.iter().any(|v| v.contains(target)), "{target:?} is not from the headers");
    }

    let budget = ScanBudget {
        max_pages: 50,
        max_empty_pages: 5,
        ..ScanBudget::default()
    };
    let mut counter = PageCounter::new(budget.clone());
    let mut fetched = 0u32;
    for (page, byte) in data.iter().cycle().enumerate().take(10_000) {
        if counter.before_page(&format!("/v2/x/tags/list?last={page}")).is_err() {
            break;
        }
        fetched += 1;
        if counter.after_page(usize::from(*byte) * 100, usize::from(byte % 3), true).is_err() {
            break;
        }
    }
    assert!(fetched <= budget.max_pages);

    for line in &values {
        let _ = redact::url(line);
        let _ = redact::text(line);
        let secret = line.trim();
        if secret.len() >= 4 && !secret.contains(['@', '/', '?', '#']) && !secret.contains("://") {
            let shown = redact::url(&format!("https://{secret}@registry.example/v2/"));
            assert_eq!(shown, "https://***@registry.example/v2/", "{secret:?}");
        }
    }
});

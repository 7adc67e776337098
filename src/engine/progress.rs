//! What the engine says as it works, at the daemon's default level: one line
//! per scan that changed a tag list (with what it added), per policy change
//! and per commit pushed; nothing for work that changed nothing.

use crate::config::meta::ObjectKey;

/// How many added tags a scan line names before it counts the rest.
const SHOWN: usize = 5;

/// Logs a scan whose list differs from the stored one (`before`; empty if none).
pub(crate) fn log_changed_scan(key: &ObjectKey, before: &[String], after: &[String]) {
    let (added, removed) = tag_changes(before, after);
    tracing::info!(
        repository = %key,
        tags = after.len(),
        added = %summarize(&added),
        removed = removed.len(),
        "scanned: the tag list changed"
    );
}

/// The tags of `new` not in `old`, and those of `old` not in `new` (both sorted).
fn tag_changes<'a>(old: &'a [String], new: &'a [String]) -> (Vec<&'a str>, Vec<&'a str>) {
    let added = new
        .iter()
        .filter(|tag| old.binary_search(tag).is_err())
        .map(String::as_str)
        .collect();
    let removed = old
        .iter()
        .filter(|tag| new.binary_search(tag).is_err())
        .map(String::as_str)
        .collect();
    (added, removed)
}

/// Up to [`SHOWN`] tags, then how many more: `1.2.0, 1.3.0 and 12 more`.
fn summarize(tags: &[&str]) -> String {
    if tags.is_empty() {
        return "none".to_string();
    }
    let mut text = tags
        .iter()
        .take(SHOWN)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if tags.len() > SHOWN {
        text.push_str(&format!(" and {} more", tags.len() - SHOWN));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_changed_scan_names_what_it_added_and_counts_what_went() {
        let old = tags(&["1.0.0", "1.1.0", "2.0.0"]);
        let new = tags(&["1.1.0", "1.2.0", "2.0.0", "3.0.0"]);
        let (added, removed) = tag_changes(&old, &new);
        assert_eq!(added, ["1.2.0", "3.0.0"]);
        assert_eq!(removed, ["1.0.0"]);
        assert_eq!(summarize(&added), "1.2.0, 3.0.0");
        assert_eq!(summarize(&[]), "none");
        let many: Vec<String> = (0..12).map(|i| format!("1.0.{i:02}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(
            summarize(&many),
            "1.0.00, 1.0.01, 1.0.02, 1.0.03, 1.0.04 and 7 more"
        );
    }
}

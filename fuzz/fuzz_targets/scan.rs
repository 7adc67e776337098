//! Fuzzes the marker scanner and the rewrite on arbitrary text.
//!
//! Properties: never panics; every marked span is a valid slice of the input;
//! a rewritten text is still valid YAML, differs only inside marked spans'
//! lines, and rewriting it again changes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tagpilot_fuzz::image::ImageReference;
use tagpilot_fuzz::update::results::{PolicyId, PolicyResult, PolicyResults};
use tagpilot_fuzz::update::rewrite::rewrite;
use tagpilot_fuzz::update::scan::scan;

fn results() -> PolicyResults {
    let mut results = PolicyResults::new();
    for (id, image) in [
        ("ns:a", "ghcr.io/org/app:2.0"),
        (
            "ns:b",
            "registry.local:5000/x/y:1.10@sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
        ),
        ("a:b", "on:off"),
    ] {
        if let (Ok(id), Ok(image)) = (PolicyId::parse(id), ImageReference::parse(image)) {
            if let Ok(result) = PolicyResult::new(image) {
                results.insert(id, result);
            }
        }
    }
    results
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(found) = scan(text) else {
        return;
    };
    for marked in &found.marked {
        assert!(
            text.get(marked.span.clone()).is_some(),
            "span {:?} is not a slice",
            marked.span
        );
    }
    let results = results();
    let Ok(once) = rewrite(text, &results) else {
        panic!("rewrite failed on a text the scanner accepted");
    };
    if let Some(output) = once.content {
        assert_eq!(
            text.lines().count(),
            output.lines().count(),
            "the rewrite changed the number of lines"
        );
        let twice = match rewrite(&output, &results) {
            Ok(twice) => twice,
            Err(error) => panic!("the rewrite produced invalid YAML: {error}\n{output}"),
        };
        assert!(
            twice.content.is_none(),
            "a second rewrite changed {:?}",
            twice.changes
        );
        assert_eq!(
            scan(&output).map(|s| s.marked.len()).ok(),
            Some(found.marked.len())
        );
    }
});

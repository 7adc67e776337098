//! Mirror of `tagpilot::update` (the pure parts only).

#[path = "../../../src/update/object.rs"]
pub mod object;
#[path = "../../../src/update/results.rs"]
pub mod results;
#[path = "../../../src/update/rewrite.rs"]
pub mod rewrite;
#[path = "../../../src/update/scan.rs"]
pub mod scan;

//! Tag selection: which tag of an image repository is "the latest" under an ImagePolicy.
//!
//! Pure: a list of tags and a validated policy in, a [`PolicyResult`]-style
//! choice plus an explanation out. Exclusion, `filterTags` (pattern and extract)
//! and one ordering (semver, numerical, alphabetical) are applied in that order;
//! ties are broken deterministically (invariant 9).

//! Setters: find `$imagepolicy` markers in YAML files and rewrite the marked values.
//!
//! Pure apart from the file walk: policy results in, a list of changes out,
//! every byte outside the marked scalars preserved (invariants 1, 2 and 8).

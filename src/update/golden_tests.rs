//! Golden trees.

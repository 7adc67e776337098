//! The config repository: clone/fetch a working copy, commit the update engine's
//! changes (author, message template, signing) and push with retry, never forcing
//! the checkout branch (invariants 5 and 6). Uses libgit2, off the async runtime.

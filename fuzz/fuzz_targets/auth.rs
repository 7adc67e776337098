//! Fuzzes what a registry's auth servers send: `WWW-Authenticate` challenges
//! and token answers (the JSON and its peer-supplied numbers).
//!
//! Input: the first line is a `WWW-Authenticate` value, the rest a token
//! server's body. Properties: never panics; a Bearer challenge has a
//! non-empty realm; a token is printable ASCII without spaces (it travels in
//! a header) and its lifetime is within 1 s ..= the maximum, whatever
//! `expires_in` says (issue 17: a huge one used to overflow `Instant`).
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tagpilot_fuzz::registry::challenge::{Challenge, parse_challenge};
use tagpilot_fuzz::registry::token::{MAX_TOKEN_LIFETIME, parse_token_answer};

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|b| *b == b'\n').unwrap_or(data.len());
    let (header, body) = data.split_at(split);
    if let Ok(header) = std::str::from_utf8(header) {
        if let Some(Challenge::Bearer { realm, .. }) = parse_challenge(header) {
            assert!(!realm.is_empty(), "a Bearer challenge without a realm: {header:?}");
        }
    }
    if let Ok((token, lifetime)) = parse_token_answer(body.get(1..).unwrap_or_default()) {
        let token = token.expose();
        assert!(!token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic()));
        assert!(lifetime >= Duration::from_secs(1) && lifetime <= MAX_TOKEN_LIFETIME);
    }
});

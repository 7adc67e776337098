//! The one way a URL reaches an output (an error, a log line, `status.json`,
//! `tagpilot status`, `plan`, an event): [`url`] for a URL, [`text`] for
//! free text that may hold URLs (libgit2's and other libraries' messages).
//!
//! Credentials hide in URLs in several shapes, and all are masked with `***`:
//! - userinfo of any shape: `user:password@`, a token alone (`TOKEN@`, as
//!   GitHub and GitLab accept), `TOKEN:x-oauth-basic@`, an empty user
//!   (`:password@`), percent-encoded or not. The whole userinfo is masked
//!   (the user may itself be the token). Only a plain ssh user name
//!   (`ssh://git@host`, `git@host:path`) is kept: ssh never carries a secret
//!   there, and the name helps to read an error.
//! - a userinfo that breaks the URL grammar, e.g. a password holding `/`: the
//!   mask reaches to the last `@` before the query, so nothing of it shows
//!   (an `@` in a path then hides the host too: safe, if less helpful).
//! - query parameters named like credentials (`token`, `access_token`,
//!   `password`, `secret`, `signature`, `X-Amz-Credential`, `key`, …): their
//!   values are masked, other parameters (a registry's `last`, `n`) are kept.
//!
//! Pure and dependency-free: property tests here, and the fuzz crate's `link`
//! target, check that no input makes a credential survive.

use std::borrow::Cow;

/// An error's message followed by each cause its message does not already
/// contain (`fetch … failed: failed to connect to 127.0.0.1: Connection
/// refused`), so the log and `status` say why, not only what.
pub fn with_causes(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !text.is_empty() && !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    // Causes come from libraries (libgit2, HTTP clients) that may print a URL as given.
    text(&message).into_owned()
}

/// What replaces a credential.
pub const MASK: &str = "***";

/// `url` with every credential masked (see the module docs). Text that is not
/// a URL comes back unchanged.
pub fn url(url: &str) -> String {
    match url.find("://") {
        Some(separator) if is_scheme(&url[..separator]) => {
            let scheme = &url[..separator];
            let keep_ssh_user = scheme.eq_ignore_ascii_case("ssh")
                || scheme.eq_ignore_ascii_case("git+ssh")
                || scheme.eq_ignore_ascii_case("ssh+git");
            let mut out = String::with_capacity(url.len());
            out.push_str(&url[..separator + 3]);
            redact_after_scheme(&url[separator + 3..], keep_ssh_user, &mut out);
            out
        }
        _ => scp_like(url),
    }
}

/// `text` with every `scheme://…` URL in it passed through [`url`]. A URL ends
/// at whitespace, a quote, `<`, `>` or a backtick.
pub fn text(text: &str) -> Cow<'_, str> {
    if !text.contains("://") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(separator) = rest.find("://") {
        let scheme_start = rest[..separator]
            .rfind(|c: char| !is_scheme_char(c))
            .map_or(0, |i| {
                i + rest[i..].chars().next().map_or(1, char::len_utf8)
            });
        let end = rest[separator + 3..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`'))
            .map_or(rest.len(), |i| separator + 3 + i);
        out.push_str(&rest[..scheme_start]);
        let candidate = &rest[scheme_start..end];
        if is_scheme(&rest[scheme_start..separator]) {
            out.push_str(&url(candidate));
        } else {
            out.push_str(candidate);
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Masks the userinfo and credential query values of `rest` (what follows `scheme://`).
fn redact_after_scheme(rest: &str, keep_ssh_user: bool, out: &mut String) {
    let query_start = rest.find(['?', '#']).unwrap_or(rest.len());
    let (before_query, query) = rest.split_at(query_start);
    match before_query.rfind('@') {
        Some(at) => {
            let userinfo = &before_query[..at];
            if keep_ssh_user && is_plain_user(userinfo) {
                out.push_str(userinfo);
            } else {
                out.push_str(MASK);
            }
            out.push_str(&before_query[at..]);
        }
        None => out.push_str(before_query),
    }
    redact_query(query, out);
}

/// Copies `?query#fragment`, masking the values of credential-like parameters.
fn redact_query(query: &str, out: &mut String) {
    let Some(parameters) = query.strip_prefix('?') else {
        out.push_str(query);
        return;
    };
    let (parameters, fragment) = match parameters.find('#') {
        Some(hash) => parameters.split_at(hash),
        None => (parameters, ""),
    };
    out.push('?');
    for (index, pair) in parameters.split('&').enumerate() {
        if index > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((key, value)) if is_credential_key(key) && !value.is_empty() => {
                out.push_str(key);
                out.push('=');
                out.push_str(MASK);
            }
            _ => out.push_str(pair),
        }
    }
    out.push_str(fragment);
}

/// scp-like `user@host:path` (git's ssh shorthand): a plain user is kept, anything else masked.
fn scp_like(text: &str) -> String {
    let Some(at) = text.find('@') else {
        return text.to_string();
    };
    let userinfo = &text[..at];
    let looks_scp = !userinfo.contains(['/', ' ']) && text[at..].contains(':');
    if !looks_scp || is_plain_user(userinfo) {
        return text.to_string();
    }
    format!("{MASK}{}", &text[at..])
}

/// A user name that cannot be a secret: short, `[A-Za-z0-9._-]`, no `:`.
fn is_plain_user(userinfo: &str) -> bool {
    !userinfo.is_empty()
        && userinfo.len() <= 32
        && userinfo
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Query parameter names whose values are credentials.
fn is_credential_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    const CONTAINS: [&str; 7] = [
        "token",
        "password",
        "passwd",
        "secret",
        "signature",
        "credential",
        "apikey",
    ];
    CONTAINS.iter().any(|word| key.contains(word))
        || matches!(
            key.as_str(),
            "key" | "api_key" | "sig" | "auth" | "authorization" | "code"
        )
}

fn is_scheme(scheme: &str) -> bool {
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic()) && chars.all(is_scheme_char)
}

fn is_scheme_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn every_userinfo_shape_is_masked() {
        for (given, shown) in [
            (
                "https://bot:s3cret@example.com/org/repo.git",
                "https://***@example.com/org/repo.git",
            ),
            // Regression (issue 17, finding 2): a token alone was printed in full.
            (
                "http://ghp_T0ken@127.0.0.1:8080/git/config.git",
                "http://***@127.0.0.1:8080/git/config.git",
            ),
            (
                "https://ghp_T0ken:x-oauth-basic@github.com/o/r",
                "https://***@github.com/o/r",
            ),
            ("https://:pw@h/r", "https://***@h/r"),
            ("https://@h/r", "https://***@h/r"),
            ("https://us%40er:p%3Ass@h/r", "https://***@h/r"),
            ("HTTPS://u:p@h", "HTTPS://***@h"),
            ("https://user:pa/ss@h/r", "https://***@h/r"),
            ("https://user:p@ss@h/r", "https://***@h/r"),
            ("https://t@[::1]:8443/r", "https://***@[::1]:8443/r"),
            (
                "ssh://git@127.0.0.1:2222/srv/r.git",
                "ssh://git@127.0.0.1:2222/srv/r.git",
            ),
            ("ssh://git:pw@h/r", "ssh://***@h/r"),
            ("git@github.com:org/repo.git", "git@github.com:org/repo.git"),
            (
                "ghp_T0ken:x@github.com:org/repo.git",
                "***@github.com:org/repo.git",
            ),
            ("https://h/r", "https://h/r"),
            ("/srv/git/r.git", "/srv/git/r.git"),
            ("file:///srv/git/r.git", "file:///srv/git/r.git"),
        ] {
            assert_eq!(url(given), shown, "{given}");
        }
    }

    #[test]
    fn credential_query_values_are_masked_and_others_kept() {
        assert_eq!(
            url("https://r.example/v2/a/tags/list?n=100&last=v9&access_token=abc#x"),
            "https://r.example/v2/a/tags/list?n=100&last=v9&access_token=***#x"
        );
        assert_eq!(
            url("https://s3/b?X-Amz-Credential=AKIA&X-Amz-Signature=f00&x=1"),
            "https://s3/b?X-Amz-Credential=***&X-Amz-Signature=***&x=1"
        );
        assert_eq!(
            url("https://h/p?private_token="),
            "https://h/p?private_token="
        );
    }

    #[test]
    fn urls_inside_text_are_masked() {
        assert_eq!(
            text("fetch from 'http://T0ken@h:1/r' failed: see https://u:p@x/y and ftp://a@b."),
            "fetch from 'http://***@h:1/r' failed: see https://***@x/y and ftp://***@b."
        );
        assert_eq!(text("no url here"), "no url here");
        assert_eq!(text("://@x"), "://@x");
        assert_eq!(text("é://a@b ü"), "é://a@b ü");
    }

    /// Characters a credential may hold, including ones that break URL grammar.
    /// (Never `'`: the text below quotes URLs with it.)
    const SECRET: &str = "Q[A-Za-z0-9%:/._~!$&()*+,;=-]{5,24}";

    proptest! {
        #[test]
        fn a_userinfo_never_survives(
            scheme in "(http|https|HTTP|git|ftp|ssh)",
            user in "[a-z0-9._-]{0,8}",
            secret in SECRET,
            host in "[a-z0-9.-]{1,12}(:[0-9]{1,5})?",
            path in "(/[a-z0-9._@-]{0,8}){0,3}",
        ) {
            // A userinfo without `:` after ssh:// is a user name, kept by design
            // (ssh never carries a secret there): only its other shapes apply.
            let token_alone = (!scheme.eq_ignore_ascii_case("ssh")).then(|| secret.clone());
            let shapes = [format!("{user}:{secret}"), format!("{secret}:x-oauth-basic")];
            for userinfo in token_alone.into_iter().chain(shapes) {
                let given = format!("{scheme}://{userinfo}@{host}{path}");
                let shown = url(&given);
                prop_assert!(!shown.contains(&secret), "{given} -> {shown}");
                let in_text = text(&format!("error: '{given}' failed")).into_owned();
                prop_assert!(!in_text.contains(&secret), "{given} -> {in_text}");
            }
        }

        #[test]
        fn never_panics_and_text_without_urls_is_kept(input in any::<String>()) {
            let _ = url(&input);
            let shown = text(&input).into_owned();
            if !input.contains("://") {
                prop_assert_eq!(&shown, &input);
            }
        }
    }
}

//! Parsing `WWW-Authenticate` challenges (RFC 7235 as registries send them):
//! which scheme a registry asks for, and for `Bearer` the token server
//! (`realm`), `service` and `scope`.
//!
//! Pure text in, values out, with no dependency beyond `std`: the fuzz crate
//! compiles this file as it is (`fuzz/fuzz_targets/auth.rs`). The parser
//! never panics and always ends: each step consumes input, and a value is
//! never longer than the header it came from.

use std::collections::HashMap;

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic realm="…"`.
    Basic,
    /// `Bearer realm="…",service="…",scope="…"`.
    Bearer {
        /// The token server URL.
        realm: String,
        /// The `service` parameter to pass on.
        service: Option<String>,
        /// The scope the registry asked for, if it said.
        scope: Option<String>,
        /// `error="insufficient_scope"` and the like.
        error: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` value; a Bearer challenge wins over Basic when
/// both are offered. A Bearer challenge without a `realm` is unusable (`None`
/// unless Basic was offered before it).
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let mut found = None;
    let mut rest = header.trim();
    while !rest.is_empty() {
        let (scheme, after) = rest.split_once([' ', '\t']).unwrap_or((rest, ""));
        let scheme = scheme.trim_end_matches(',');
        let (params, next) = parse_params(after);
        if scheme.eq_ignore_ascii_case("bearer") {
            let Some(realm) = params.get("realm").filter(|r| !r.is_empty()) else {
                return found;
            };
            return Some(Challenge::Bearer {
                realm: realm.clone(),
                service: params.get("service").cloned(),
                scope: params.get("scope").cloned(),
                error: params.get("error").cloned(),
            });
        }
        if scheme.eq_ignore_ascii_case("basic") {
            found = Some(Challenge::Basic);
        }
        rest = next.trim_start_matches([',', ' ', '\t']);
    }
    found
}

/// Reads `key="value", key=value` pairs; stops at the next scheme (a token not
/// followed by `=`). Returns the pairs (keys lower-cased, the first of a
/// repeated key kept) and the unread rest.
fn parse_params(text: &str) -> (HashMap<String, String>, &str) {
    let mut params = HashMap::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches([',', ' ', '\t']);
        let Some(eq) = rest.find('=') else {
            return (params, rest);
        };
        let key = rest[..eq].trim_end_matches([' ', '\t']);
        if key.is_empty() || key.contains([' ', ',', '\t', '"']) {
            return (params, rest);
        }
        let after = rest[eq + 1..].trim_start_matches([' ', '\t']);
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &quoted[end..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        params.entry(key.to_ascii_lowercase()).or_insert(value);
        rest = remaining;
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn bearer_challenges_keep_commas_inside_quotes() {
        let challenge = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:team/app:pull,push",error="insufficient_scope""#,
        )
        .unwrap();
        assert_eq!(
            challenge,
            Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into()),
                scope: Some("repository:team/app:pull,push".into()),
                error: Some("insufficient_scope".into()),
            }
        );
    }

    #[test]
    fn basic_and_multiple_challenges() {
        assert_eq!(
            parse_challenge(r#"Basic realm="tagpilot-test""#),
            Some(Challenge::Basic)
        );
        assert!(matches!(
            parse_challenge(r#"Basic realm="x", Bearer realm="https://a/t",service=s"#),
            Some(Challenge::Bearer { service: Some(s), .. }) if s == "s"
        ));
        assert_eq!(parse_challenge("Negotiate"), None);
        assert!(matches!(
            parse_challenge(r#"Negotiate, Bearer realm="https://a/t""#),
            Some(Challenge::Bearer { .. })
        ));
        assert_eq!(parse_challenge(r#"Bearer service="s""#), None);
        assert_eq!(
            parse_challenge(r#"Basic realm="x", Bearer realm="""#),
            Some(Challenge::Basic),
            "a Bearer challenge without a realm is unusable"
        );
    }

    #[test]
    fn odd_spacing_and_repeated_keys() {
        assert_eq!(
            parse_challenge("Bearer\trealm = \"https://a/t\" , service=s"),
            Some(Challenge::Bearer {
                realm: "https://a/t".into(),
                service: Some("s".into()),
                scope: None,
                error: None,
            })
        );
        assert!(matches!(
            parse_challenge(r#"Bearer realm="https://first/t",realm="https://second/t""#),
            Some(Challenge::Bearer { realm, .. }) if realm == "https://first/t"
        ));
    }

    /// A quoted-string as a server writes it.
    fn quoted(value: &str) -> String {
        let mut out = String::from('"');
        for c in value.chars() {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
        out
    }

    proptest! {
        #[test]
        fn parsing_never_panics(header in any::<String>()) {
            let _ = parse_challenge(&header);
        }

        #[test]
        fn parsing_never_panics_on_challenge_like_text(header in r#"(Bearer|Basic|bearer|,| |\t|=|"|\\|realm|service|scope|[a-z:/.]){0,64}"#) {
            let _ = parse_challenge(&header);
        }

        #[test]
        fn quoted_values_round_trip(
            realm in "[^\u{0}]{1,40}",
            service in proptest::option::of("[^\u{0}]{0,40}"),
            scope in proptest::option::of("[^\u{0}]{0,40}"),
            basic_first in any::<bool>(),
        ) {
            let mut header = String::new();
            if basic_first {
                header.push_str("Basic realm=\"x\", ");
            }
            header.push_str(&format!("Bearer realm={}", quoted(&realm)));
            if let Some(service) = &service {
                header.push_str(&format!(",service={}", quoted(service)));
            }
            if let Some(scope) = &scope {
                header.push_str(&format!(", scope={}", quoted(scope)));
            }
            prop_assert_eq!(
                parse_challenge(&header),
                Some(Challenge::Bearer { realm, service, scope, error: None })
            );
        }
    }
}

//! The Secret's `known_hosts`: OpenSSH's format (markers, comma-separated
//! patterns with `*`/`?` globs and `!` negation, `[host]:port`, hashed
//! `|1|salt|hash` names). A host key is trusted only when an entry for the
//! host holds exactly that key; there is no trust on first use.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// What known_hosts says about a host key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HostKeyVerdict {
    /// An entry for the host holds this key.
    Trusted,
    /// Entries for the host exist, none with this key.
    Mismatch,
    /// The key is marked `@revoked`.
    Revoked,
    /// No entry names the host.
    Unknown,
}

/// A parse error: the 1-based line and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KnownHostsError {
    pub line: usize,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Marker {
    Revoked,
    CertAuthority,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Hosts {
    Patterns(Vec<String>),
    Hashed { salt: Vec<u8>, hash: Vec<u8> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    marker: Option<Marker>,
    hosts: Hosts,
    /// The key blob (SSH wire format), as the server presents it.
    key: Vec<u8>,
}

/// Parsed known_hosts entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct KnownHosts {
    entries: Vec<Entry>,
}

impl KnownHosts {
    /// Parses known_hosts text; blank lines and `#` comments are skipped.
    pub fn parse(text: &str) -> Result<Self, KnownHostsError> {
        let mut entries = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let error = |reason: &str| KnownHostsError {
                line: index + 1,
                reason: reason.to_string(),
            };
            let mut fields = line.split_whitespace().peekable();
            let marker = match fields.peek() {
                Some(&"@revoked") => Some(Marker::Revoked),
                Some(&"@cert-authority") => Some(Marker::CertAuthority),
                Some(field) if field.starts_with('@') => {
                    return Err(error(&format!("unknown marker {field}")));
                }
                _ => None,
            };
            if marker.is_some() {
                fields.next();
            }
            let (Some(hosts), Some(key_type), Some(key)) =
                (fields.next(), fields.next(), fields.next())
            else {
                return Err(error(
                    "expected: [marker] hosts key-type base64-key [comment]",
                ));
            };
            let key = STANDARD
                .decode(key)
                .map_err(|_| error("the key is not valid base64"))?;
            if !blob_has_type(&key, key_type) {
                return Err(error(&format!("the key is not a {key_type} key")));
            }
            let hosts = match hosts.strip_prefix("|1|") {
                Some(hashed) => {
                    let (salt, hash) = hashed
                        .split_once('|')
                        .ok_or_else(|| error("a hashed host name needs |1|salt|hash"))?;
                    Hosts::Hashed {
                        salt: STANDARD
                            .decode(salt)
                            .map_err(|_| error("the hashed host's salt is not base64"))?,
                        hash: STANDARD
                            .decode(hash)
                            .map_err(|_| error("the hashed host's hash is not base64"))?,
                    }
                }
                None => Hosts::Patterns(hosts.split(',').map(str::to_string).collect()),
            };
            entries.push(Entry { marker, hosts, key });
        }
        Ok(Self { entries })
    }

    /// Whether the key blob `key` is trusted for `name` (`host` or `[host]:port`,
    /// as [`super::url::RepoUrl::known_hosts_name`] gives it).
    pub fn check(&self, name: &str, key: &[u8]) -> HostKeyVerdict {
        let mut named = false;
        let mut trusted = false;
        for entry in self
            .entries
            .iter()
            .filter(|entry| entry.hosts.matches(name))
        {
            match entry.marker {
                Some(Marker::Revoked) if entry.key == key => return HostKeyVerdict::Revoked,
                Some(Marker::Revoked) | Some(Marker::CertAuthority) => {}
                None => {
                    named = true;
                    trusted |= entry.key == key;
                }
            }
        }
        match (trusted, named) {
            (true, _) => HostKeyVerdict::Trusted,
            (false, true) => HostKeyVerdict::Mismatch,
            (false, false) => HostKeyVerdict::Unknown,
        }
    }
}

impl Hosts {
    fn matches(&self, name: &str) -> bool {
        match self {
            Self::Patterns(patterns) => {
                let mut matched = false;
                for pattern in patterns {
                    let (negated, pattern) = match pattern.strip_prefix('!') {
                        Some(pattern) => (true, pattern),
                        None => (false, pattern.as_str()),
                    };
                    if glob_matches(&pattern.to_ascii_lowercase(), &name.to_ascii_lowercase()) {
                        if negated {
                            return false;
                        }
                        matched = true;
                    }
                }
                matched
            }
            Self::Hashed { salt, hash } => hmac_sha1(salt, name.as_bytes())
                .is_some_and(|computed| computed.as_slice() == hash.as_slice()),
        }
    }
}

/// OpenSSH's `match_pattern`: `*` any run of characters, `?` one character.
fn glob_matches(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            backtrack = Some((p, t));
            p += 1;
        } else if let Some((star, matched)) = backtrack {
            p = star + 1;
            t = matched + 1;
            backtrack = Some((star, matched + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// Whether an SSH key blob starts with the string `key_type`.
fn blob_has_type(blob: &[u8], key_type: &str) -> bool {
    let Some(length) = blob.get(..4) else {
        return false;
    };
    let length = u32::from_be_bytes([length[0], length[1], length[2], length[3]]) as usize;
    blob.get(4..4 + length) == Some(key_type.as_bytes())
}

fn hmac_sha1(key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::sign::Signer;
    let key = PKey::hmac(key).ok()?;
    let mut signer = Signer::new(MessageDigest::sha1(), &key).ok()?;
    signer.sign_oneshot_to_vec(data).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    // A real ed25519 public key (ssh-keygen) and a second one.
    const KEY_A: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIO3Y1K8Pn9VpB/16mcZczc7DTeEcgG/YF9QR6ISGFUeo";
    const KEY_B: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIDT7aaIFznCGlmTG8EKb62lkd4IpzGMPSvBsa6dBJQUh";

    fn blob(key: &str) -> Vec<u8> {
        STANDARD.decode(key).unwrap()
    }

    #[test]
    fn exact_host_with_port_is_trusted_and_other_keys_mismatch() {
        let known = KnownHosts::parse(&format!(
            "# comment\n\n[127.0.0.1]:2222 ssh-ed25519 {KEY_A} test\n"
        ))
        .unwrap();
        assert_eq!(
            known.check("[127.0.0.1]:2222", &blob(KEY_A)),
            HostKeyVerdict::Trusted
        );
        assert_eq!(
            known.check("[127.0.0.1]:2222", &blob(KEY_B)),
            HostKeyVerdict::Mismatch
        );
        assert_eq!(
            known.check("[127.0.0.1]:2223", &blob(KEY_A)),
            HostKeyVerdict::Unknown
        );
        assert_eq!(
            known.check("127.0.0.1", &blob(KEY_A)),
            HostKeyVerdict::Unknown
        );
    }

    #[test]
    fn patterns_globs_and_negation() {
        let known = KnownHosts::parse(&format!(
            "*.example.com,!evil.example.com,git.test ssh-ed25519 {KEY_A}\n"
        ))
        .unwrap();
        assert_eq!(
            known.check("git.example.com", &blob(KEY_A)),
            HostKeyVerdict::Trusted
        );
        assert_eq!(
            known.check("GIT.test", &blob(KEY_A)),
            HostKeyVerdict::Trusted
        );
        assert_eq!(
            known.check("evil.example.com", &blob(KEY_A)),
            HostKeyVerdict::Unknown
        );
        assert!(glob_matches("git?.ex*le.*", "git1.example.org"));
        assert!(!glob_matches("git?.example.org", "git12.example.org"));
    }

    #[test]
    fn hashed_host_names_match_by_hmac() {
        // `ssh-keygen -H` output for "github.com" and KEY_A.
        let known = KnownHosts::parse(&format!(
            "|1|medPpmwrRtAitWTDEXAKyfTqR0Y=|aj0oCxgRgckT9T964ZXAXa/qwEM= ssh-ed25519 {KEY_A}\n"
        ))
        .unwrap();
        assert_eq!(
            known.check("github.com", &blob(KEY_A)),
            HostKeyVerdict::Trusted
        );
        assert_eq!(
            known.check("gitlab.com", &blob(KEY_A)),
            HostKeyVerdict::Unknown
        );
    }

    #[test]
    fn revoked_keys_are_refused_even_when_also_listed() {
        let known = KnownHosts::parse(&format!(
            "@revoked * ssh-ed25519 {KEY_A}\ngit.test ssh-ed25519 {KEY_A}\n"
        ))
        .unwrap();
        assert_eq!(
            known.check("git.test", &blob(KEY_A)),
            HostKeyVerdict::Revoked
        );
    }

    #[test]
    fn malformed_lines_name_the_line() {
        let error = KnownHosts::parse("host ssh-ed25519\n").unwrap_err();
        assert_eq!(error.line, 1);
        let error = KnownHosts::parse(&format!("\nhost ssh-rsa {KEY_A}\n")).unwrap_err();
        assert_eq!(error.line, 2);
        assert!(
            error.reason.contains("not a ssh-rsa key"),
            "{}",
            error.reason
        );
        let error = KnownHosts::parse("host ssh-ed25519 !!!\n").unwrap_err();
        assert!(error.reason.contains("base64"));
    }
}

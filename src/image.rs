//! Image references: `[host[:port]/]path[:tag][@digest]`.
//!
//! This module owns the one parser every other module uses for image names. A
//! reference keeps the name exactly as the user wrote it (so the update engine
//! writes back what was there, e.g. `nginx` rather than
//! `docker.io/library/nginx`), and separately knows the registry host and the
//! repository path to use on the wire (Docker Hub's defaults applied).
//!
//! Data flows one way: text in, [`ImageReference`] out; nothing here does I/O.

use std::fmt;

/// The registry host assumed when a name has none (Docker Hub).
pub const DOCKER_HUB_HOST: &str = "docker.io";
/// The host Docker Hub's registry API actually answers on.
pub const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";

/// Why a text is not an image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageReferenceError {
    /// The text was empty (or only a tag/digest).
    #[error("image reference is empty")]
    Empty,
    /// The text contains characters or structure that no registry accepts.
    #[error("invalid image reference {reference:?}: {reason}")]
    Invalid {
        /// The text as given.
        reference: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageReference {
    /// The name as written: optional host (with port) and path, no tag/digest.
    name: String,
    /// Byte length of the host part of `name` (0 when the name has no host).
    host_len: usize,
    tag: Option<String>,
    digest: Option<String>,
}

impl ImageReference {
    /// Parses `[host[:port]/]path[:tag][@digest]`.
    pub fn parse(text: &str) -> Result<Self, ImageReferenceError> {
        let text = text.trim();
        let invalid = |reason| ImageReferenceError::Invalid {
            reference: text.to_string(),
            reason,
        };
        if text.is_empty() {
            return Err(ImageReferenceError::Empty);
        }
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => {
                validate_digest(digest).map_err(invalid)?;
                (rest, Some(digest.to_string()))
            }
            None => (text, None),
        };
        // A tag is after the last ':' that comes after the last '/'.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let split = last_slash + i;
                (&rest[..split], Some(rest[split + 1..].to_string()))
            }
            None => (rest, None),
        };
        if name.is_empty() {
            return Err(ImageReferenceError::Empty);
        }
        if let Some(tag) = &tag {
            validate_tag(tag).map_err(invalid)?;
        }
        let host_len = match name.split_once('/') {
            Some((first, _)) if is_host(first) => first.len(),
            _ => 0,
        };
        let path = if host_len == 0 {
            name
        } else {
            &name[host_len + 1..]
        };
        validate_path(path).map_err(invalid)?;
        if host_len > 0 {
            validate_host(&name[..host_len]).map_err(invalid)?;
        }
        Ok(Self {
            name: name.to_string(),
            host_len,
            tag,
            digest,
        })
    }

    /// The name exactly as written, without tag or digest (`ghcr.io/org/app`, `nginx`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tag, if one was given.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest (`sha256:…`), if one was given.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// The registry host as written, or `docker.io` when the name has none.
    pub fn registry(&self) -> &str {
        if self.host_len == 0 {
            DOCKER_HUB_HOST
        } else {
            &self.name[..self.host_len]
        }
    }

    /// The host to send API requests to (`registry-1.docker.io` for Docker Hub's aliases).
    pub fn api_host(&self) -> &str {
        match self.registry() {
            "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB_API_HOST,
            other => other,
        }
    }

    /// The repository path on the wire (`library/nginx` for a bare Docker Hub name).
    pub fn repository(&self) -> String {
        let path = if self.host_len == 0 {
            &self.name[..]
        } else {
            &self.name[self.host_len + 1..]
        };
        if self.api_host() == DOCKER_HUB_API_HOST && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_string()
        }
    }

    /// A copy with the given tag and digest (used to form a policy result).
    pub fn with_tag(&self, tag: &str, digest: Option<&str>) -> Self {
        Self {
            name: self.name.clone(),
            host_len: self.host_len,
            tag: Some(tag.to_string()),
            digest: digest.map(str::to_string),
        }
    }
}

impl fmt::Display for ImageReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for ImageReference {
    type Err = ImageReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

fn is_host(component: &str) -> bool {
    component.contains('.') || component.contains(':') || component == "localhost"
}

fn validate_host(host: &str) -> Result<(), &'static str> {
    let ok = host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if ok {
        Ok(())
    } else {
        Err("the registry host has characters a host name cannot have")
    }
}

fn validate_path(path: &str) -> Result<(), &'static str> {
    if path.is_empty() {
        return Err("the repository path is empty");
    }
    for component in path.split('/') {
        let bytes = component.as_bytes();
        let valid_chars = bytes.iter().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
        let alnum =
            |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if component.is_empty() || !valid_chars || !alnum(bytes.first()) || !alnum(bytes.last()) {
            return Err(
                "each path component must be lowercase letters, digits and . _ - (starting and ending with a letter or digit)",
            );
        }
    }
    Ok(())
}

fn validate_tag(tag: &str) -> Result<(), &'static str> {
    let bytes = tag.as_bytes();
    let first_ok = bytes
        .first()
        .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_');
    let rest_ok = bytes
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if first_ok && rest_ok && bytes.len() <= 128 {
        Ok(())
    } else {
        Err("a tag is 1-128 characters of letters, digits, _ . - and may not start with . or -")
    }
}

fn validate_digest(digest: &str) -> Result<(), &'static str> {
    match digest.split_once(':') {
        Some((algorithm, hex))
            if !algorithm.is_empty()
                && algorithm.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b)
                })
                && hex.len() >= 32
                && hex.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            Ok(())
        }
        _ => Err("a digest is ALGORITHM:HEX, e.g. sha256:<64 hex digits>"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn parses_registry_with_port_path_tag_and_digest() {
        let text = format!("127.0.0.1:5000/team/app:v1.2.3@{DIGEST}");
        let r = ImageReference::parse(&text).unwrap();
        assert_eq!(r.name(), "127.0.0.1:5000/team/app");
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(r.repository(), "team/app");
        assert_eq!(r.tag(), Some("v1.2.3"));
        assert_eq!(r.digest(), Some(DIGEST));
        assert_eq!(r.to_string(), text);
    }

    #[test]
    fn bare_docker_hub_names_keep_their_spelling_but_use_library_on_the_wire() {
        let r = ImageReference::parse("nginx:1.27").unwrap();
        assert_eq!(r.name(), "nginx");
        assert_eq!(r.registry(), "docker.io");
        assert_eq!(r.api_host(), "registry-1.docker.io");
        assert_eq!(r.repository(), "library/nginx");
        let r = ImageReference::parse("index.docker.io/bitnami/redis").unwrap();
        assert_eq!(r.api_host(), "registry-1.docker.io");
        assert_eq!(r.repository(), "bitnami/redis");
        assert_eq!(r.tag(), None);
    }

    #[test]
    fn port_without_tag_is_not_a_tag() {
        let r = ImageReference::parse("localhost:5000/app").unwrap();
        assert_eq!(r.registry(), "localhost:5000");
        assert_eq!(r.tag(), None);
        let r = ImageReference::parse("localhost/app:1").unwrap();
        assert_eq!(r.registry(), "localhost");
        assert_eq!(r.tag(), Some("1"));
    }

    #[test]
    fn rejects_what_no_registry_accepts() {
        for bad in [
            "",
            ":tag",
            "Upper/case",
            "app:-bad",
            "app@sha256:xyz",
            "a//b",
            "app:",
            "ho st/app",
        ] {
            assert!(
                ImageReference::parse(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn with_tag_replaces_tag_and_digest() {
        let r = ImageReference::parse("ghcr.io/org/app:old").unwrap();
        assert_eq!(
            r.with_tag("new", Some(DIGEST)).to_string(),
            format!("ghcr.io/org/app:new@{DIGEST}")
        );
    }
}

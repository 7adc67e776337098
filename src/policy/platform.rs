//! Image platforms (`os/architecture[/variant]`), normalized the way
//! container runtimes compare them: `aarch64` is `arm64`, `x86_64` is
//! `amd64`, and an `arm64` without a variant is `arm64/v8` (`arm`: `arm/v7`).

use std::fmt;

use serde::Serialize;

/// One platform of an image, or one a policy requires.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Platform {
    os: String,
    architecture: String,
    variant: Option<String>,
}

/// Why a platform text cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a platform; write os/architecture or os/architecture/variant, e.g. linux/arm64"
)]
pub struct PlatformError(pub String);

impl Platform {
    /// A platform from its parts (as an image index or config gives them), normalized.
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Self {
        let os = os.to_ascii_lowercase();
        let mut architecture = architecture.to_ascii_lowercase();
        let mut variant = variant
            .filter(|v| !v.is_empty())
            .map(str::to_ascii_lowercase);
        match architecture.as_str() {
            "aarch64" | "arm64" => {
                architecture = "arm64".into();
                if variant.as_deref().is_none_or(|v| v == "8") {
                    variant = Some("v8".into());
                }
            }
            "armhf" => {
                architecture = "arm".into();
                variant = Some("v7".into());
            }
            "armel" => {
                architecture = "arm".into();
                variant = Some("v6".into());
            }
            "arm" => {
                if variant.is_none() {
                    variant = Some("v7".into());
                } else if let Some(v) = variant.as_deref().filter(|v| v.len() == 1) {
                    variant = Some(format!("v{v}"));
                }
            }
            "x86_64" | "x86-64" => architecture = "amd64".into(),
            "i386" => architecture = "386".into(),
            _ => {}
        }
        Self {
            os,
            architecture,
            variant,
        }
    }

    /// Reads `os/architecture` or `os/architecture/variant` (a policy's field).
    pub fn parse(text: &str) -> Result<Self, PlatformError> {
        let error = || PlatformError(text.to_string());
        let valid = |part: &str| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        };
        let parts: Vec<&str> = text.split('/').collect();
        match parts.as_slice() {
            [os, architecture] if valid(os) && valid(architecture) => {
                Ok(Self::new(os, architecture, None))
            }
            [os, architecture, variant] if valid(os) && valid(architecture) && valid(variant) => {
                Ok(Self::new(os, architecture, Some(variant)))
            }
            _ => Err(error()),
        }
    }

    /// Whether an image of platform `offered` satisfies this (required) platform.
    pub fn is_satisfied_by(&self, offered: &Platform) -> bool {
        self.os == offered.os
            && self.architecture == offered.architecture
            && (self.variant.is_none() || self.variant == offered.variant)
    }

    /// `unknown/unknown`: an attestation manifest in an index, not an image.
    pub fn is_unknown(&self) -> bool {
        self.os == "unknown" && self.architecture == "unknown"
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

impl Serialize for Platform {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_parse_and_normalize_like_runtimes() {
        assert_eq!(
            Platform::parse("linux/arm64").unwrap().to_string(),
            "linux/arm64/v8"
        );
        assert_eq!(
            Platform::parse("linux/aarch64").unwrap(),
            Platform::new("linux", "arm64", Some("v8"))
        );
        assert_eq!(
            Platform::parse("linux/arm").unwrap().to_string(),
            "linux/arm/v7"
        );
        assert_eq!(
            Platform::new("linux", "arm", Some("6")).to_string(),
            "linux/arm/v6"
        );
        assert_eq!(
            Platform::parse("Linux/X86_64").unwrap().to_string(),
            "linux/amd64"
        );
        for bad in [
            "linux",
            "linux/",
            "/amd64",
            "linux/amd64/v1/x",
            "linux/amd 64",
            "",
        ] {
            assert_eq!(
                Platform::parse(bad),
                Err(PlatformError(bad.into())),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_required_platform_without_variant_accepts_any_variant() {
        let arm = Platform::parse("linux/arm/v6").unwrap();
        assert!(!Platform::parse("linux/arm").unwrap().is_satisfied_by(&arm));
        assert!(
            Platform::parse("linux/amd64")
                .unwrap()
                .is_satisfied_by(&Platform::new("linux", "amd64", Some("v3")))
        );
        let amd64 = Platform::parse("linux/amd64").unwrap();
        assert!(amd64.is_satisfied_by(&Platform::new("linux", "amd64", None)));
        assert!(!amd64.is_satisfied_by(&Platform::new("windows", "amd64", None)));
        assert!(Platform::new("unknown", "unknown", None).is_unknown());
    }
}

//! The kinds and the versions they are served in, and what sets each version
//! apart: the fields it has, the defaults it applies and the fields it
//! requires. Every version reads into the same hub type (one Rust type per
//! kind); [`VersionRule`]s describe the differences, and both the CRD schema of
//! a version and the loader's check of a document are derived from the hub
//! schema with them (see [`super::schema`]).

use std::fmt;

/// Our own API group.
pub const TAGPILOT_GROUP: &str = "tagpilot.dev";
/// Flux's group of ImageRepository, ImagePolicy and ImageUpdateAutomation.
pub const FLUX_IMAGE_GROUP: &str = "image.toolkit.fluxcd.io";
/// Flux's group of GitRepository.
pub const FLUX_SOURCE_GROUP: &str = "source.toolkit.fluxcd.io";
/// Our own API version.
pub const TAGPILOT_API: &str = "tagpilot.dev/v1alpha1";

/// An object kind of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// Which image to scan, how often, with which credentials.
    ImageRepository,
    /// How to pick the latest tag of one ImageRepository.
    ImagePolicy,
    /// The config repository.
    GitRepository,
    /// Write policy results into a repository.
    ImageUpdateAutomation,
    /// Apply a path of a repository to the cluster (tagpilot's own kind).
    Sync,
}

impl Kind {
    /// Every kind, in the order objects are validated.
    pub const ALL: [Self; 5] = [
        Self::ImageRepository,
        Self::ImagePolicy,
        Self::GitRepository,
        Self::ImageUpdateAutomation,
        Self::Sync,
    ];

    /// The kind's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::ImageRepository => "ImageRepository",
            Self::ImagePolicy => "ImagePolicy",
            Self::GitRepository => "GitRepository",
            Self::ImageUpdateAutomation => "ImageUpdateAutomation",
            Self::Sync => "Sync",
        }
    }

    /// The kind named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// The plural resource name.
    pub fn plural(self) -> &'static str {
        match self {
            Self::ImageRepository => "imagerepositories",
            Self::ImagePolicy => "imagepolicies",
            Self::GitRepository => "gitrepositories",
            Self::ImageUpdateAutomation => "imageupdateautomations",
            Self::Sync => "syncs",
        }
    }

    /// Flux's API group of the kind (`None` for Sync, which Flux does not have).
    pub fn flux_group(self) -> Option<&'static str> {
        match self {
            Self::ImageRepository | Self::ImagePolicy | Self::ImageUpdateAutomation => {
                Some(FLUX_IMAGE_GROUP)
            }
            Self::GitRepository => Some(FLUX_SOURCE_GROUP),
            Self::Sync => None,
        }
    }

    /// The versions the kind is served in: ours, then Flux's from oldest to newest.
    pub fn served(self) -> &'static [ApiVersion] {
        match self {
            Self::Sync => &[ApiVersion::Tagpilot],
            _ => &ApiVersion::ALL,
        }
    }

    /// The apiVersion strings the kind is served in.
    pub fn served_api_versions(self) -> Vec<String> {
        self.served()
            .iter()
            .map(|version| version.api_version(self))
            .collect()
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One served version of a kind. The group follows from the kind: Flux's
/// versions live in `image.toolkit.fluxcd.io` or `source.toolkit.fluxcd.io`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ApiVersion {
    /// `tagpilot.dev/v1alpha1`: the hub's own field set.
    Tagpilot,
    /// Flux `v1beta1`.
    FluxV1beta1,
    /// Flux `v1beta2`.
    FluxV1beta2,
    /// Flux `v1` (the storage version of Flux's groups).
    FluxV1,
}

impl ApiVersion {
    /// Every version, ours first, then Flux's from oldest to newest.
    pub const ALL: [Self; 4] = [
        Self::Tagpilot,
        Self::FluxV1beta1,
        Self::FluxV1beta2,
        Self::FluxV1,
    ];

    /// Flux's versions, oldest first.
    pub const FLUX: [Self; 3] = [Self::FluxV1beta1, Self::FluxV1beta2, Self::FluxV1];

    /// The version part (`v1alpha1`, `v1beta1`, ...).
    pub fn version(self) -> &'static str {
        match self {
            Self::Tagpilot => "v1alpha1",
            Self::FluxV1beta1 => "v1beta1",
            Self::FluxV1beta2 => "v1beta2",
            Self::FluxV1 => "v1",
        }
    }

    /// Whether this is one of Flux's versions.
    pub fn is_flux(self) -> bool {
        self != Self::Tagpilot
    }

    /// The group of `kind` in this version.
    pub fn group(self, kind: Kind) -> &'static str {
        match (self, kind.flux_group()) {
            (Self::Tagpilot, _) | (_, None) => TAGPILOT_GROUP,
            (_, Some(group)) => group,
        }
    }

    /// `group/version` of `kind` in this version.
    pub fn api_version(self, kind: Kind) -> String {
        format!("{}/{}", self.group(kind), self.version())
    }

    /// The version `text` names for `kind`, if `kind` is served there.
    pub fn parse(kind: Kind, text: &str) -> Option<Self> {
        kind.served()
            .iter()
            .copied()
            .find(|version| version.api_version(kind) == text)
    }
}

/// How one version differs from the hub for one field. Paths are dot-separated
/// from the object's root (`spec.git.commit.signingKey.type`); a segment that
/// is a list continues into its items.
#[derive(Debug, Clone, Copy)]
pub enum VersionRule {
    /// The field exists only in these versions (elsewhere it is unknown).
    OnlyIn(&'static str, &'static [ApiVersion]),
    /// These versions default the field (when its parent is present) to this JSON value.
    Default(&'static str, &'static [ApiVersion], &'static str),
    /// These versions require the field.
    Required(&'static str, &'static [ApiVersion]),
    /// In these versions the (enum) field takes only these values.
    Values(&'static str, &'static [ApiVersion], &'static [&'static str]),
}

/// Flux's versions from v1beta2 on, and ours.
pub const SINCE_V1BETA2: &[ApiVersion] = &[
    ApiVersion::Tagpilot,
    ApiVersion::FluxV1beta2,
    ApiVersion::FluxV1,
];
/// Flux `v1`, and ours.
pub const SINCE_V1: &[ApiVersion] = &[ApiVersion::Tagpilot, ApiVersion::FluxV1];
/// Flux's beta versions only (fields `v1` removed).
pub const FLUX_BETAS: &[ApiVersion] = &[ApiVersion::FluxV1beta1, ApiVersion::FluxV1beta2];
/// Flux's versions, all of them.
pub const FLUX_ALL: &[ApiVersion] = &ApiVersion::FLUX;
/// Flux `v1beta2` and `v1`.
pub const FLUX_SINCE_V1BETA2: &[ApiVersion] = &[ApiVersion::FluxV1beta2, ApiVersion::FluxV1];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_per_kind() {
        assert_eq!(
            ApiVersion::parse(Kind::ImagePolicy, "image.toolkit.fluxcd.io/v1beta1"),
            Some(ApiVersion::FluxV1beta1)
        );
        assert_eq!(
            ApiVersion::parse(Kind::GitRepository, "source.toolkit.fluxcd.io/v1"),
            Some(ApiVersion::FluxV1)
        );
        assert_eq!(
            ApiVersion::parse(Kind::GitRepository, "image.toolkit.fluxcd.io/v1"),
            None,
            "a GitRepository is not in Flux's image group"
        );
        assert_eq!(
            ApiVersion::parse(Kind::Sync, "tagpilot.dev/v1alpha1"),
            Some(ApiVersion::Tagpilot)
        );
        assert_eq!(ApiVersion::parse(Kind::Sync, "tagpilot.dev/v1"), None);
        assert_eq!(
            Kind::ImageUpdateAutomation.served_api_versions(),
            [
                "tagpilot.dev/v1alpha1",
                "image.toolkit.fluxcd.io/v1beta1",
                "image.toolkit.fluxcd.io/v1beta2",
                "image.toolkit.fluxcd.io/v1"
            ]
        );
    }
}

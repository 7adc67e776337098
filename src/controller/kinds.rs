//! The kinds the controller watches, and where they live in the API:
//! `tagpilot.dev/v1alpha1`, or Flux's groups with `--flux-compat` (which has no
//! Sync: Flux's own Kustomization does that job there).

use kube::core::{ApiResource, GroupVersionKind};

pub use crate::api::Kind;

/// Whose API group the objects are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiFlavor {
    /// `tagpilot.dev/v1alpha1`.
    Tagpilot,
    /// `image.toolkit.fluxcd.io/v1` and `source.toolkit.fluxcd.io/v1`.
    Flux,
}

// `Kind` is the API's; where it lives in the API server is the controller's business.
impl Kind {
    /// The kinds watched for `flavor`: all of ours; Flux's four without Sync
    /// (Flux has no such kind, and a Flux cluster need not have our CRDs).
    pub fn watched(flavor: ApiFlavor) -> impl Iterator<Item = Self> {
        Self::ALL
            .into_iter()
            .filter(move |kind| flavor == ApiFlavor::Tagpilot || *kind != Self::Sync)
    }

    /// Where the kind lives for `flavor` (Flux's `v1`, the version their CRDs store).
    pub fn api_resource(self, flavor: ApiFlavor) -> ApiResource {
        let (group, version) = match (flavor, self) {
            (ApiFlavor::Tagpilot, _) | (ApiFlavor::Flux, Self::Sync) => {
                ("tagpilot.dev", "v1alpha1")
            }
            (ApiFlavor::Flux, Self::GitRepository) => ("source.toolkit.fluxcd.io", "v1"),
            (ApiFlavor::Flux, _) => ("image.toolkit.fluxcd.io", "v1"),
        };
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(group, version, self.name()),
            self.plural(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flux_compat_moves_the_groups_and_keeps_the_kinds() {
        let ours = Kind::ImagePolicy.api_resource(ApiFlavor::Tagpilot);
        assert_eq!(ours.api_version, "tagpilot.dev/v1alpha1");
        assert_eq!(ours.plural, "imagepolicies");
        let flux = Kind::GitRepository.api_resource(ApiFlavor::Flux);
        assert_eq!(flux.api_version, "source.toolkit.fluxcd.io/v1");
        assert_eq!(Kind::from_name("ImagePolicy"), Some(Kind::ImagePolicy));
        assert_eq!(Kind::watched(ApiFlavor::Tagpilot).count(), 5);
        assert!(!Kind::watched(ApiFlavor::Flux).any(|k| k == Kind::Sync));
        // The CRDs we generate name the same plurals.
        for crd in crate::api::crd::all_crds()
            .into_iter()
            .chain(crate::api::crd::flux_crds())
        {
            let kind = Kind::from_name(crd["spec"]["names"]["kind"].as_str().unwrap()).unwrap();
            assert_eq!(crd["spec"]["names"]["plural"], kind.plural());
        }
    }
}

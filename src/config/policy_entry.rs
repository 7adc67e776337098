//! An ImagePolicy validated into a [`PolicyEntry`]: the [`Policy`] the engine
//! evaluates, plus what the engine needs around it.
//!
//! tagpilot's own requirements (`verify`, `requiredPlatforms`, `minimumAge`)
//! become [`Requirements`]; the keys of `verify.secretRef` are read and parsed
//! here, once, from the Secrets at hand (a missing Secret is a missing
//! reference, a bad key an invalid spec).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::image_policy::{
    ALLOW_DOWNGRADE_ANNOTATION, DigestReflectionPolicy, ImagePolicyObject, policy_with,
};
use super::load::Invalid;
use super::meta::ObjectKey;
use crate::api::image_policy::{ImageVerification, VerificationProvider};
use crate::policy::{InvalidField, OrderingSpec, Platform, Policy, PolicyError, Requirements};
use crate::registry::SecretSource;
use crate::registry::cosign::CosignKeys;

/// A semver range every version matches, pre-releases included.
const ANY_VERSION: &str = ">=0.0.0-0";

/// An ImagePolicy, ready to evaluate.
#[derive(Debug, Clone)]
pub struct PolicyEntry {
    /// The validated policy.
    pub policy: Policy,
    /// The same filter and ordering without a semver range: what "older" means
    /// to the downgrade guard (invariant 3), so that a marker holding a version
    /// above a narrowed range still counts as newer than the policy's result.
    pub version_order: Policy,
    /// The ImageRepository it picks from.
    pub repository: ObjectKey,
    /// Whether to resolve the chosen tag's digest.
    pub digest_reflection: DigestReflectionPolicy,
    /// Its labels (for `policySelector`).
    pub labels: BTreeMap<String, String>,
    /// `tagpilot.dev/allow-downgrade: "true"`.
    pub allow_downgrade: bool,
    /// Not evaluated while true: its last result stays, and automations keep using it.
    pub suspend: bool,
    /// What a candidate's image must satisfy besides its tag (signature,
    /// platforms, age); empty for every Flux object.
    pub requirements: Requirements,
    /// The keys `spec.verify` trusts (set exactly when a signature is required).
    pub verify_keys: Option<Arc<CosignKeys>>,
}

impl PolicyEntry {
    /// Validates an ImagePolicy; the Secret of `spec.verify.secretRef` comes from `secrets`.
    pub fn from_object(
        object: &ImagePolicyObject,
        secrets: &impl SecretSource,
    ) -> Result<Self, Invalid> {
        let spec_error = |e: PolicyError| Invalid::spec(crate::redact::with_causes(&e));
        let policy = Policy::try_from(object).map_err(spec_error)?;
        // Flux's CRD refuses these combinations (its CEL rules); so does the
        // loader, for Flux's versions. A tagpilot.dev policy with `Always` and no
        // interval looks the digest up again at each scan of its repository.
        let always = object.spec.digest_reflection_policy == Some(DigestReflectionPolicy::Always);
        let flux = object.api_version.is_flux();
        match (flux && object.spec.interval.is_some(), flux && always) {
            (true, false) => {
                return Err(spec_error(PolicyError::Invalid {
                    policy: object.qualified_name(),
                    field: "spec.interval",
                    source: InvalidField::Combination(
                        "is only accepted when spec.digestReflectionPolicy is set to 'Always'",
                    ),
                }));
            }
            (false, true) => {
                return Err(spec_error(PolicyError::Invalid {
                    policy: object.qualified_name(),
                    field: "spec.interval",
                    source: InvalidField::Combination(
                        "must be set when spec.digestReflectionPolicy is set to 'Always'",
                    ),
                }));
            }
            _ => {}
        }
        let version_order = match object.spec.policy.semver {
            Some(_) => policy_with(object, OrderingSpec::Semver { range: ANY_VERSION })
                .map_err(spec_error)?,
            None => policy.clone(),
        };
        let namespace = object.metadata.namespace();
        let reference = &object.spec.image_repository_ref;
        let verify_keys = match &object.spec.verify {
            Some(verify) => Some(Arc::new(verification_keys(verify, namespace, secrets)?)),
            None => None,
        };
        let platforms = object
            .spec
            .required_platforms
            .iter()
            .enumerate()
            .map(|(index, text)| {
                Platform::parse(text)
                    .map_err(|e| Invalid::spec(format!("spec.requiredPlatforms[{index}]: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let requirements = Requirements {
            signature: verify_keys.as_ref().map(|keys| keys.describe()),
            platforms,
            minimum_age: object
                .spec
                .minimum_age
                .map(|age| age.0)
                .filter(|age| !age.is_zero()),
        };
        Ok(Self {
            policy,
            version_order,
            repository: ObjectKey::new(reference.namespace_or(namespace), &reference.name),
            digest_reflection: object.spec.digest_reflection_policy.unwrap_or_default(),
            labels: object.metadata.labels.clone(),
            allow_downgrade: object
                .metadata
                .annotations
                .get(ALLOW_DOWNGRADE_ANNOTATION)
                .is_some_and(|v| v == "true"),
            suspend: object.spec.suspend,
            requirements,
            verify_keys,
        })
    }
}

/// The keys of `spec.verify`, or why there are none to use.
fn verification_keys(
    verify: &ImageVerification,
    namespace: &str,
    secrets: &impl SecretSource,
) -> Result<CosignKeys, Invalid> {
    if verify.provider == VerificationProvider::Notation {
        return Err(Invalid::spec(
            "spec.verify.provider: notation is not supported yet; use cosign",
        ));
    }
    if !verify.match_oidc_identity.is_empty() {
        return Err(Invalid::spec(
            "spec.verify.matchOIDCIdentity: keyless verification is not supported yet; give spec.verify.secretRef with the cosign public keys instead",
        ));
    }
    let Some(secret_ref) = &verify.secret_ref else {
        return Err(Invalid::spec(
            "spec.verify.secretRef: required (keyless verification is not supported yet); name a Secret holding the cosign public keys as *.pub entries",
        ));
    };
    let key = ObjectKey::new(namespace, &secret_ref.name);
    let secret = secrets.secret(&key).ok_or_else(|| {
        Invalid::missing(format!(
            "spec.verify.secretRef: Secret {key} not found in the config directory"
        ))
    })?;
    CosignKeys::from_secret(&key, &secret)
        .map_err(|e| Invalid::spec(format!("spec.verify.secretRef: {e}")))
}

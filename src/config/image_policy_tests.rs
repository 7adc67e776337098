#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::config::policy_entry::PolicyEntry;
use crate::policy::ExclusionList;

const FLUX_POLICY: &str = r#"
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata:
  name: podinfo
  labels: {team: a}
spec:
  imageRepositoryRef:
    name: podinfo
  filterTags:
    pattern: '^(?P<version>\d+\.\d+\.\d+)$'
    extract: '$version'
  policy:
    semver:
      range: '>=5.0.0 <7'
"#;

#[test]
fn reads_a_flux_policy_and_defaults_the_namespace() {
    let object = ImagePolicyObject::from_yaml(FLUX_POLICY).unwrap();
    assert_eq!(object.api_version, crate::api::ApiVersion::FluxV1);
    assert_eq!(object.metadata.namespace(), "default");
    assert_eq!(object.spec.digest_reflection_policy, None);
    let policy = Policy::try_from(&object).unwrap();
    assert_eq!(policy.name(), "default/podinfo");
    let selection = policy
        .select(&["5.1.0", "6.9.1", "7.0.0", "x"], &ExclusionList::default())
        .unwrap();
    assert_eq!(selection.tag, "6.9.1");
}

#[test]
fn accepts_every_api_version_and_all_fields() {
    for api_version in [
        "tagpilot.dev/v1alpha1",
        "image.toolkit.fluxcd.io/v1",
        "image.toolkit.fluxcd.io/v1beta2",
    ] {
        // (v1beta1 has no digestReflectionPolicy or interval: see shape_errors_name_the_problem.)
        let text = format!(
            "apiVersion: {api_version}\nkind: ImagePolicy\nmetadata: {{name: p, namespace: apps}}\n\
             spec:\n  imageRepositoryRef: {{name: r, namespace: flux}}\n  policy:\n    numerical: {{order: desc}}\n  \
             digestReflectionPolicy: Always\n  interval: 10m\n"
        );
        let object = ImagePolicyObject::from_yaml(&text).unwrap();
        assert_eq!(object.metadata.namespace(), "apps");
        assert_eq!(
            object.spec.digest_reflection_policy,
            Some(DigestReflectionPolicy::Always)
        );
        assert_eq!(
            object.spec.image_repository_ref.namespace.as_deref(),
            Some("flux")
        );
        let policy = Policy::try_from(object).unwrap();
        assert_eq!(policy.name(), "apps/p");
    }
}

fn yaml_error(text: &str) -> String {
    format!(
        "{:#}",
        anyhow::Error::from(ImagePolicyObject::from_yaml(text).unwrap_err())
    )
}

#[test]
fn shape_errors_name_the_problem() {
    let wrong_api = FLUX_POLICY.replace("image.toolkit.fluxcd.io/v1", "image.toolkit.fluxcd.io/v9");
    let text = yaml_error(&wrong_api);
    assert!(text.contains("image.toolkit.fluxcd.io/v9"), "{text}");
    let wrong_kind = FLUX_POLICY.replace("kind: ImagePolicy", "kind: ImageRepository");
    let text = yaml_error(&wrong_kind);
    assert!(text.contains("ImageRepository"), "{text}");
    let typo = FLUX_POLICY.replace("filterTags:", "filterTag:");
    let text = yaml_error(&typo);
    assert!(
        text.contains("spec.filterTag: unknown field `filterTag` in image.toolkit.fluxcd.io/v1"),
        "{text}"
    );
    let v1beta1 = FLUX_POLICY
        .replace("fluxcd.io/v1\n", "fluxcd.io/v1beta1\n")
        .replace("  policy:", "  suspend: true\n  policy:");
    let text = yaml_error(&v1beta1);
    assert!(
        text.contains("spec.suspend: unknown field `suspend` in image.toolkit.fluxcd.io/v1beta1 (it is a field of"),
        "{text}"
    );
    let nested_typo = FLUX_POLICY.replace("range:", "rnage:");
    let text = yaml_error(&nested_typo);
    assert!(text.contains("rnage"), "{text}");
    let bad_interval = FLUX_POLICY.replace("  policy:", "  interval: soon\n  policy:");
    let text = yaml_error(&bad_interval);
    assert!(text.contains("soon"), "{text}");
}

#[test]
fn meaning_errors_name_the_field() {
    let both = FLUX_POLICY.replace("    semver:", "    alphabetical: {order: asc}\n    semver:");
    let object = ImagePolicyObject::from_yaml(&both).unwrap();
    let error = Policy::try_from(&object).unwrap_err();
    let text = format!("{:#}", anyhow::Error::from(error));
    assert!(text.contains("spec.policy"), "{text}");
    assert!(text.contains("semver and alphabetical"), "{text}");

    let none = FLUX_POLICY.replace("    semver:\n      range: '>=5.0.0 <7'\n", "    {}\n");
    let object =
        ImagePolicyObject::from_yaml(&none.replace("  policy:\n    {}", "  policy: {}")).unwrap();
    let text = Policy::try_from(&object).unwrap_err().to_string();
    assert!(text.contains("spec.policy"), "{text}");

    let lookahead = FLUX_POLICY.replace(r"^(?P<version>", r"^(?=\d)(?P<version>");
    let object = ImagePolicyObject::from_yaml(&lookahead).unwrap();
    let error = Policy::try_from(&object).unwrap_err();
    let text = format!("{:#}", anyhow::Error::from(error));
    assert!(
        text.starts_with("invalid policy default/podinfo: spec.filterTags.pattern"),
        "{text}"
    );
    assert!(text.contains("look-ahead"), "{text}");
}

/// Flux's CRD refuses `interval` without `digestReflectionPolicy: Always`, and
/// `Always` without `interval` (its CEL rules): the loader refuses them too,
/// so a file that loads here also applies to a Flux cluster.
#[test]
fn interval_goes_with_digest_reflection_always_as_fluxs_crd_says() {
    let with = |extra: &str| {
        let object = ImagePolicyObject::from_yaml(&format!("{FLUX_POLICY}{extra}")).unwrap();
        PolicyEntry::from_object(&object, &crate::registry::NoSecrets).map(|_| ())
    };
    let text = with("  interval: 10m\n").unwrap_err().message;
    assert_eq!(
        text,
        "invalid policy default/podinfo: spec.interval: is only accepted when spec.digestReflectionPolicy is set to 'Always'"
    );
    let text = with("  digestReflectionPolicy: Always\n")
        .unwrap_err()
        .message;
    assert!(
        text.ends_with("must be set when spec.digestReflectionPolicy is set to 'Always'"),
        "{text}"
    );
    with("  digestReflectionPolicy: Always\n  interval: 10m\n").unwrap();
    with("  digestReflectionPolicy: IfNotPresent\n").unwrap();
}

#[test]
fn example_policies_in_the_repository_are_valid() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let (objects, errors) = crate::config::load::read_dir_objects(&dir);
    assert!(errors.is_empty(), "{errors:?}");
    let policies: Vec<Policy> = objects
        .iter()
        .filter(|raw| raw.kind == IMAGE_POLICY_KIND)
        .map(|raw| {
            let object: ImagePolicyObject = raw.decode().unwrap();
            Policy::try_from(&object).unwrap()
        })
        .collect();
    assert!(policies.len() >= 2);
    let front_end = policies
        .iter()
        .find(|p| p.name() == "shop/front-end")
        .unwrap();
    let tags = ["main-1a2b3c4-118", "main-5d6e7f8-99", "feature-1-500"];
    let selection = front_end.select(&tags, &ExclusionList::default()).unwrap();
    assert_eq!(selection.tag, "main-1a2b3c4-118");
}

const VERIFIED: &str = r#"
apiVersion: tagpilot.dev/v1alpha1
kind: ImagePolicy
metadata: {name: api, namespace: shop}
spec:
  imageRepositoryRef: {name: api}
  policy: {semver: {range: '>=1.0.0'}}
  verify:
    provider: cosign
    secretRef: {name: cosign-keys}
  requiredPlatforms: [linux/amd64, linux/arm64]
  minimumAge: 72h
"#;

fn keys_secret() -> crate::config::secrets::SecretSet {
    let mut secrets = crate::config::secrets::SecretSet::default();
    secrets.insert(
        ObjectKey::new("shop", "cosign-keys"),
        crate::registry::SecretData {
            secret_type: "Opaque".into(),
            data: [(
                "cosign.pub".to_string(),
                crate::secret::Secret::new(
                    include_bytes!("../../testdata/cosign/cosign.pub").to_vec(),
                ),
            )]
            .into(),
        },
    );
    secrets
}

#[test]
fn tagpilot_requirements_become_the_entrys_requirements() {
    let object = ImagePolicyObject::from_yaml(VERIFIED).unwrap();
    let entry = PolicyEntry::from_object(&object, &keys_secret()).unwrap();
    assert_eq!(
        entry.requirements.signature.as_deref(),
        Some("cosign keys in Secret shop/cosign-keys (cosign.pub)")
    );
    let platforms: Vec<String> = entry
        .requirements
        .platforms
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64/v8"]);
    assert_eq!(
        entry.requirements.minimum_age,
        Some(std::time::Duration::from_secs(72 * 3600))
    );
    assert!(entry.verify_keys.is_some());
    // Without the Secret: a missing reference (it may appear), never a policy without checks.
    let missing = PolicyEntry::from_object(&object, &crate::registry::NoSecrets).unwrap_err();
    assert_eq!(
        missing.cause,
        crate::config::load::InvalidCause::MissingReference
    );
    assert_eq!(
        missing.message,
        "spec.verify.secretRef: Secret shop/cosign-keys not found in the config directory"
    );
}

#[test]
fn the_requirements_are_tagpilot_fields_only() {
    for (field, yaml) in [
        ("verify", "  verify: {secretRef: {name: k}}\n"),
        ("requiredPlatforms", "  requiredPlatforms: [linux/arm64]\n"),
        ("minimumAge", "  minimumAge: 1h\n"),
    ] {
        for version in ["v1beta1", "v1beta2", "v1"] {
            let text = format!(
                "{}{yaml}",
                FLUX_POLICY.replace(
                    "image.toolkit.fluxcd.io/v1\n",
                    &format!("image.toolkit.fluxcd.io/{version}\n")
                )
            );
            let error = ImagePolicyObject::from_yaml(&text).unwrap_err().to_string();
            assert!(
                error.contains(&format!(
                    "spec.{field}: unknown field `{field}` in image.toolkit.fluxcd.io/{version}"
                )),
                "{error}"
            );
        }
    }
}

#[test]
fn unsupported_verification_modes_are_refused_by_name() {
    for (change, message) in [
        (
            "    provider: notation\n",
            "spec.verify.provider: notation is not supported yet; use cosign",
        ),
        (
            "    matchOIDCIdentity: [{issuer: '^https://issuer$', subject: '^x$'}]\n",
            "spec.verify.matchOIDCIdentity: keyless verification is not supported yet; give spec.verify.secretRef with the cosign public keys instead",
        ),
    ] {
        let text = VERIFIED.replace("    provider: cosign\n", change);
        let object = ImagePolicyObject::from_yaml(&text).unwrap();
        let error = PolicyEntry::from_object(&object, &keys_secret()).unwrap_err();
        assert_eq!(error.message, message);
        assert_eq!(error.cause, crate::config::load::InvalidCause::Spec);
    }
    let keyless = VERIFIED.replace("    secretRef: {name: cosign-keys}\n", "");
    let object = ImagePolicyObject::from_yaml(&keyless).unwrap();
    assert_eq!(
        PolicyEntry::from_object(&object, &keys_secret())
            .unwrap_err()
            .message,
        "spec.verify.secretRef: required (keyless verification is not supported yet); name a Secret holding the cosign public keys as *.pub entries"
    );
}

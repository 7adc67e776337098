#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
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
        PolicyEntry::try_from(&object).map(|_| ())
    };
    let text = with("  interval: 10m\n").unwrap_err().to_string();
    assert_eq!(text, "invalid policy default/podinfo: spec.interval");
    let text = format!(
        "{:#}",
        anyhow::Error::from(with("  digestReflectionPolicy: Always\n").unwrap_err())
    );
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

//! The Flux corpus (`testdata/flux/<version>.yaml`): for each Flux API
//! version, objects of the four kinds using every field that version has.
//! Each loads with the standalone loader into the expected domain values;
//! what the engine cannot act on yet is refused by name.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::automation::AutomationEntry;
use super::image_policy::DigestReflectionPolicy;
use super::image_repository::RepositoryEntry;
use super::load::{LoadError, RawObject, parse_objects};
use super::meta::ObjectKey;
use super::policy_entry::PolicyEntry;
use super::secrets::SecretSet;
use super::source::{SourceEntry, SourceVerification};
use crate::api::git_repository::GitProvider;
use crate::api::{
    ApiVersion, GitRepositorySpec, ImagePolicySpec, ImageRepositorySpec, ImageUpdateAutomationSpec,
    Kind, spec_schema,
};
use crate::engine::objects::ObjectSet;
use crate::git::{FluxTemplateVersion, GitReference, MessageTemplate, SigningKey};
use crate::registry::{CredentialSource, SecretData};

const VERSIONS: [(&str, ApiVersion); 3] = [
    ("v1beta1", ApiVersion::FluxV1beta1),
    ("v1beta2", ApiVersion::FluxV1beta2),
    ("v1", ApiVersion::FluxV1),
];

fn corpus(version: &str) -> Vec<RawObject> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/flux")
        .join(format!("{version}.yaml"));
    let text = std::fs::read_to_string(&path).unwrap();
    parse_objects(&path, &text).unwrap()
}

/// Every field path of a schema that has no fields below it (lists of
/// objects continue into their items).
fn schema_leaves(schema: &Value, path: &str, out: &mut BTreeSet<String>) {
    let mut node = schema;
    while let Some(items) = node.get("items") {
        node = items;
    }
    match node.get("properties").and_then(Value::as_object) {
        Some(properties) => {
            for (name, child) in properties {
                schema_leaves(child, &format!("{path}.{name}"), out);
            }
        }
        None => {
            out.insert(path.to_string());
        }
    }
}

/// Every field path set in a document, list indexes dropped.
fn document_paths(value: &Value, path: &str, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(fields) if !fields.is_empty() => {
            for (name, child) in fields {
                document_paths(child, &format!("{path}.{name}"), out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                document_paths(item, path, out);
            }
        }
        _ => {
            out.insert(path.to_string());
        }
    }
}

#[test]
fn each_flux_version_has_every_field_of_its_kinds_in_the_corpus() {
    for (name, version) in VERSIONS {
        let objects = corpus(name);
        for kind in [
            Kind::ImageRepository,
            Kind::ImagePolicy,
            Kind::GitRepository,
            Kind::ImageUpdateAutomation,
        ] {
            let mut expected = BTreeSet::new();
            schema_leaves(spec_schema(kind, version), "spec", &mut expected);
            let mut found = BTreeSet::new();
            for object in objects.iter().filter(|o| o.kind == kind.name()) {
                assert_eq!(object.api_version, version.api_version(kind), "{name}");
                document_paths(&object.value["spec"], "spec", &mut found);
            }
            // Maps (`matchLabels`, `options`) are leaves of the schema and
            // have keys below them in a document.
            let missing: Vec<&String> = expected
                .iter()
                .filter(|path| {
                    !found
                        .iter()
                        .any(|f| f == *path || f.starts_with(&format!("{path}.")))
                })
                .collect();
            assert!(
                missing.is_empty(),
                "{name} {kind}: no object sets {missing:?}"
            );
            let unknown: Vec<&String> = found
                .iter()
                .filter(|path| {
                    !expected
                        .iter()
                        .any(|e| *path == e || path.starts_with(&format!("{e}.")))
                })
                .collect();
            assert!(
                unknown.is_empty(),
                "{name} {kind}: not in the schema: {unknown:?}"
            );
        }
    }
}

/// The corpus of one version, converted kind by kind (without the
/// "not supported yet" checks, which `what_cannot_run_yet_is_refused_by_name` covers).
struct Converted {
    repositories: BTreeMap<String, RepositoryEntry>,
    policies: BTreeMap<String, PolicyEntry>,
    sources: BTreeMap<ObjectKey, SourceEntry>,
    automations: BTreeMap<String, AutomationEntry>,
}

fn convert(objects: &[RawObject]) -> Converted {
    let mut secrets = SecretSet::default();
    for object in objects.iter().filter(|o| o.kind == "Secret") {
        let (key, data) = <(ObjectKey, SecretData)>::try_from(
            object.parse::<super::secrets::SecretObject>().unwrap(),
        )
        .unwrap();
        secrets.insert(key, data);
    }
    let of_kind = |kind: Kind| objects.iter().filter(move |o| o.kind == kind.name());
    let name = |object: &RawObject| object.metadata.name.clone();
    let mut converted = Converted {
        repositories: BTreeMap::new(),
        policies: BTreeMap::new(),
        sources: BTreeMap::new(),
        automations: BTreeMap::new(),
    };
    for object in of_kind(Kind::ImageRepository) {
        let parsed = object.decode::<ImageRepositorySpec>().unwrap();
        let entry = RepositoryEntry::try_from(&parsed).unwrap();
        converted.repositories.insert(name(object), entry);
    }
    for object in of_kind(Kind::ImagePolicy) {
        let parsed = object.decode::<ImagePolicySpec>().unwrap();
        let entry = PolicyEntry::from_object(&parsed, &crate::registry::NoSecrets).unwrap();
        converted.policies.insert(name(object), entry);
    }
    for object in of_kind(Kind::GitRepository) {
        let parsed = object.decode::<GitRepositorySpec>().unwrap();
        let entry = SourceEntry::from_object(&parsed, &secrets).unwrap();
        let key = ObjectKey::new(object.namespace(), name(object));
        converted.sources.insert(key, entry);
    }
    for object in of_kind(Kind::ImageUpdateAutomation) {
        let parsed = object.decode::<ImageUpdateAutomationSpec>().unwrap();
        let entry = AutomationEntry::from_object(&parsed, &converted.sources, &secrets)
            .unwrap_or_else(|e| panic!("{}: {e:?}", name(object)));
        converted.automations.insert(name(object), entry);
    }
    converted
}

#[test]
fn each_flux_version_loads_into_the_expected_domain_values() {
    for (name, version) in VERSIONS {
        let namespace = format!("flux-{name}");
        let key = |name: &str| ObjectKey::new(&namespace, name);
        let all = convert(&corpus(name));
        let beta1 = version == ApiVersion::FluxV1beta1;

        // ImageRepository
        let app = &all.repositories["app"];
        assert!(
            matches!(&app.target.credentials, CredentialSource::Secret(k) if *k == key("registry"))
        );
        assert_eq!(app.target.cert_secret, Some(key("registry-ca")));
        assert_eq!(app.target.timeout, Duration::from_secs(30));
        assert_eq!(app.interval, Duration::from_secs(300));
        assert!(app.exclusions.excludes("dev-1") && app.exclusions.excludes("x.sig"));
        assert!(!app.exclusions.excludes("v1.2.3"));
        assert!(!app.suspend && app.access_from.is_some());
        assert!(all.repositories["paused"].suspend);
        assert_eq!(
            all.repositories["workload"].target.service_account,
            Some(key("image-puller"))
        );
        if !beta1 {
            let credentials = |name: &str| all.repositories[name].target.credentials.clone();
            assert!(matches!(credentials("ecr"), CredentialSource::Aws));
            assert!(matches!(credentials("acr"), CredentialSource::Azure));
            assert!(matches!(credentials("gar"), CredentialSource::Gcp));
            let proxied = &all.repositories["proxied"].target;
            assert_eq!(proxied.proxy_secret, Some(key("proxy")));
            assert!(proxied.insecure);
        }

        // ImagePolicy
        let policy = &all.policies["app"];
        assert_eq!(policy.repository, key("app"));
        assert_eq!(policy.labels["tier"], "backend");
        let tags = ["v1.2.0", "v1.10.0", "v2.0.0", "1.11.0"];
        let none = crate::policy::ExclusionList::default();
        assert_eq!(policy.policy.select(&tags, &none).unwrap().tag, "v1.10.0");
        assert_eq!(
            policy.digest_reflection,
            if beta1 {
                DigestReflectionPolicy::Never
            } else {
                DigestReflectionPolicy::IfNotPresent
            }
        );
        assert!(!policy.suspend);
        let builds = ["main-abc-9", "main-def-10", "feature-1-99"];
        assert_eq!(
            all.policies["builds"]
                .policy
                .select(&builds, &none)
                .unwrap()
                .tag,
            "main-def-10"
        );
        assert_eq!(
            all.policies["dates"]
                .policy
                .select(&["b", "a", "c"], &none)
                .unwrap()
                .tag,
            "a"
        );
        if !beta1 {
            let pinned = &all.policies["pinned"];
            assert!(pinned.suspend);
            assert_eq!(pinned.digest_reflection, DigestReflectionPolicy::Always);
        }

        // GitRepository
        let source = |name: &str| &all.sources[&key(name)];
        let config = source("config");
        assert_eq!(config.reference, GitReference::Branch("main".into()));
        assert_eq!(config.timeout, Duration::from_secs(90));
        assert_eq!(
            config.repo.timeout,
            Duration::from_secs(90),
            "applied to git"
        );
        assert!(matches!(
            config.repo.credentials,
            crate::git::Credentials::Ssh { .. }
        ));
        assert_eq!(config.provider, GitProvider::Generic);
        assert_eq!(
            source("release").reference,
            GitReference::Semver(">=1.0.0".into())
        );
        assert_eq!(
            source("release").timeout,
            Duration::from_secs(60),
            "Flux's default"
        );
        assert_eq!(
            source("pinned").reference,
            GitReference::Tag("v1.4.0".into())
        );
        assert_eq!(
            source("exact").reference,
            GitReference::Commit {
                sha: "0123456789abcdef0123456789abcdef01234567".into(),
                branch: Some("main".into())
            }
        );
        let artifact = source("artifact");
        assert!(artifact.suspend);
        assert_eq!(artifact.content.ignore.as_deref(), Some("/*\n!/apps\n"));
        assert!(artifact.content.recurse_submodules);
        assert_eq!(artifact.content.include[0].repository, key("config"));
        assert_eq!(
            artifact.content.include[0].to_path.as_deref(),
            Some("shared/apps")
        );
        assert_eq!(
            artifact.content.verification,
            Some(SourceVerification {
                mode: "HEAD".into(),
                secret: key("trusted-keys")
            })
        );
        if !beta1 {
            assert_eq!(
                source("review").reference,
                GitReference::Name("refs/pull/7/head".into())
            );
        }
        if version == ApiVersion::FluxV1 {
            assert_eq!(artifact.content.sparse_checkout, ["apps", "infra"]);
            let azure = source("azure-devops");
            assert_eq!(azure.provider, GitProvider::Azure);
            assert_eq!(azure.service_account, Some(key("git-reader")));
            assert_eq!(source("proxied").proxy_secret, Some(key("proxy")));
            let proxy = source("proxied").repo.proxy.as_ref().unwrap();
            assert_eq!(proxy.redacted(), "http://proxy.example.com:3128");
            assert_eq!(proxy.username.as_deref(), Some("proxy-user"));
        }

        // ImageUpdateAutomation
        let template_version = match version {
            ApiVersion::FluxV1beta1 => FluxTemplateVersion::V1Beta1,
            ApiVersion::FluxV1beta2 => FluxTemplateVersion::V1Beta2,
            _ => FluxTemplateVersion::V1,
        };
        let apps = &all.automations["apps"];
        assert_eq!(apps.source, key("config"));
        assert_eq!(apps.checkout.reference, GitReference::Branch("main".into()));
        assert_eq!(apps.commit.author.name, "fluxcdbot");
        match &apps.commit.message_template {
            Some(MessageTemplate::Flux {
                source: Some(text),
                version,
            }) => {
                assert_eq!(*version, template_version);
                let expected = if beta1 {
                    ".Updated.Images"
                } else {
                    ".Values.cluster"
                };
                assert!(text.contains(expected), "{text}");
            }
            other => panic!("{name}: {other:?}"),
        }
        assert_eq!(apps.push.branch.as_deref(), Some("main"));
        assert_eq!(
            apps.push.refspec.as_deref(),
            Some("refs/heads/main:refs/heads/image-updates")
        );
        assert_eq!(apps.path, std::path::PathBuf::from("clusters/production"));
        assert_eq!(apps.interval, Duration::from_secs(1800));
        if beta1 {
            assert!(apps.values.is_empty() && apps.selector.is_none());
        } else {
            assert_eq!(apps.values["cluster"], "production");
            let selector = apps.selector.as_ref().unwrap();
            let labels = |tier: &str| {
                BTreeMap::from([
                    ("app".to_string(), "shop".to_string()),
                    ("tier".into(), tier.into()),
                ])
            };
            assert!(selector.matches(&labels("worker")) && !selector.matches(&labels("web")));
        }
        let defaults = &all.automations["defaults"];
        assert_eq!(
            defaults.checkout.reference,
            GitReference::Branch("main".into())
        );
        assert_eq!(defaults.push.branch, None, "pushes to the checkout branch");
        assert_eq!(
            defaults.commit.message_template,
            Some(MessageTemplate::Flux {
                source: None,
                version: template_version
            })
        );
        assert_eq!(defaults.path, std::path::PathBuf::new());
        match &all.automations["signed"].commit.signing_key {
            Some(SigningKey::OpenPgp {
                armored_key,
                passphrase,
            }) => {
                assert!(
                    armored_key
                        .expose()
                        .starts_with(b"-----BEGIN PGP PRIVATE KEY BLOCK-----")
                );
                assert!(passphrase.is_some());
            }
            other => panic!("{name}: a key without type is OpenPGP: {other:?}"),
        }
        if version == ApiVersion::FluxV1 {
            assert!(matches!(
                all.automations["signed-ssh"].commit.signing_key,
                Some(SigningKey::Ssh { .. })
            ));
        }
        let merge_request = &all.automations["merge-request"];
        assert_eq!(
            merge_request.push.options,
            ["merge_request.create=", "merge_request.target=main"]
        );
        let from_tag = &all.automations["from-tag"];
        assert_eq!(
            from_tag.checkout.reference,
            GitReference::Tag("v1.4.0".into())
        );
        assert_eq!(from_tag.push.branch.as_deref(), Some("image-updates"));
        assert!(all.automations["paused"].suspend);
        assert_eq!(
            all.automations["from-review"].checkout.reference,
            GitReference::Name("refs/pull/7/head".into())
        );
        assert_eq!(
            all.automations["from-release"].checkout.reference,
            GitReference::Semver(">=1.0.0".into())
        );
    }
}

/// The objects of the corpus the loader refuses, and why: only what the
/// engine cannot act on yet. When a behaviour lands, its line goes.
#[test]
fn what_cannot_run_yet_is_refused_by_name() {
    for (name, version) in VERSIONS {
        let (set, errors) = ObjectSet::from_raw(&corpus(name));
        let refused: BTreeMap<String, String> = errors
            .iter()
            .map(|error| match error {
                LoadError::Invalid {
                    kind,
                    name,
                    message,
                    ..
                } => (format!("{kind} {name}"), message.clone()),
                other => panic!("{other}"),
            })
            .collect();
        let mut expected: BTreeMap<&str, &str> = BTreeMap::new();
        if version == ApiVersion::FluxV1 {
            expected.extend([(
                "GitRepository azure-devops",
                "spec.provider: azure is not supported yet",
            )]);
        }
        let names: BTreeSet<&String> = refused.keys().collect();
        let expected_names: BTreeSet<String> = expected.keys().map(|k| k.to_string()).collect();
        assert_eq!(
            names,
            expected_names.iter().collect(),
            "{name}: {refused:#?}"
        );
        for (object, message) in expected {
            assert!(
                refused[object].contains(message),
                "{name} {object}: {}",
                refused[object]
            );
        }
        assert!(
            set.automations
                .contains_key(&ObjectKey::new(format!("flux-{name}"), "defaults"))
        );
    }
}

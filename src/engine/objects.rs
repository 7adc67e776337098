//! The validated object set of one configuration: every object (from files
//! in standalone mode, from the API server in controller mode) read into its
//! kind's hub type ([`crate::api`]) and validated, once, into the domain types
//! the engine runs on ([`crate::config`]). Each bad object becomes an error
//! that names its file, the object and the field; the others still load (one
//! bad object never stops the rest). Fields the engine cannot act on yet make
//! their object fail here too ([`crate::config::support`]).

use std::collections::BTreeMap;
use std::path::Path;

use crate::api::{
    GitRepositorySpec, ImagePolicySpec, ImageRepositorySpec, ImageUpdateAutomationSpec, SyncSpec,
};
use crate::config::load::{Invalid, LoadError, RawObject, read_dir_objects};
use crate::config::meta::{ObjectKey, object_key};
use crate::config::secrets::{SecretObject, SecretSet};
use crate::config::support;
use crate::registry::SecretData;

pub use crate::config::automation::AutomationEntry;
pub use crate::config::image_policy::ALLOW_DOWNGRADE_ANNOTATION;
pub use crate::config::image_repository::{DEFAULT_INTERVAL, RepositoryEntry};
pub use crate::config::policy_entry::PolicyEntry;
pub use crate::config::source::SourceEntry;
pub use crate::config::sync::SyncEntry;

/// Every valid object of a configuration, by kind and key.
#[derive(Debug, Default)]
pub struct ObjectSet {
    /// ImageRepositories.
    pub repositories: BTreeMap<ObjectKey, RepositoryEntry>,
    /// ImagePolicies.
    pub policies: BTreeMap<ObjectKey, PolicyEntry>,
    /// GitRepositories.
    pub sources: BTreeMap<ObjectKey, SourceEntry>,
    /// ImageUpdateAutomations.
    pub automations: BTreeMap<ObjectKey, AutomationEntry>,
    /// Secrets (credentials for registries and git).
    pub secrets: SecretSet,
    /// Syncs (applied to a cluster by `apply`; the engine itself ignores them).
    pub syncs: BTreeMap<ObjectKey, SyncEntry>,
    /// Settings that are valid but have no effect, one message each (`Kind
    /// namespace/name: field ...`): logged, never silently dropped.
    pub warnings: Vec<String>,
}

impl ObjectSet {
    /// Loads and validates every object under `dir` (standalone mode); returns
    /// the valid ones and one error per invalid file or object. Warnings are logged.
    pub fn load(dir: &Path) -> (Self, Vec<LoadError>) {
        let (raw, mut errors) = read_dir_objects(dir);
        let (mut set, more) = Self::from_raw(&raw);
        errors.extend(more);
        for (key, entry) in &set.repositories {
            if entry.target.service_account.is_some() {
                set.warnings.push(format!(
                    "ImageRepository {key}: spec.serviceAccountName does nothing in standalone mode (there are no ServiceAccounts); give the credentials with spec.secretRef"
                ));
            }
        }
        for warning in &set.warnings {
            tracing::warn!("{warning}");
        }
        (set, errors)
    }

    /// Validates raw objects (from files, or from the API server in controller
    /// mode); returns the valid ones and one error per invalid object.
    pub fn from_raw(raw: &[RawObject]) -> (Self, Vec<LoadError>) {
        let mut errors = Vec::new();
        let mut set = Self::default();
        // Secrets first: other kinds resolve them at load time.
        for object in raw.iter().filter(|o| o.kind == "Secret") {
            if let Err(error) = set.add_secret(object) {
                errors.push(error);
            }
        }
        let mut sources = Vec::new();
        let mut automations = Vec::new();
        let mut syncs = Vec::new();
        for object in raw.iter().filter(|o| o.kind != "Secret") {
            let result = match object.kind.as_str() {
                "ImageRepository" => set.add_repository(object),
                "ImagePolicy" => set.add_policy(object),
                "GitRepository" => {
                    sources.push(object);
                    Ok(())
                }
                "ImageUpdateAutomation" => {
                    automations.push(object);
                    Ok(())
                }
                "Sync" => {
                    syncs.push(object);
                    Ok(())
                }
                // Flux's Receivers: served by `--listen` (`engine::receiver`), not run here.
                "Receiver" if object.api_version.starts_with("notification.toolkit.fluxcd.io/") => {
                    Ok(())
                }
                other => Err(object.invalid(format!(
                    "unknown kind {other:?}: tagpilot reads ImageRepository, ImagePolicy, GitRepository, ImageUpdateAutomation, Sync and Secret"
                ))),
            };
            if let Err(error) = result {
                errors.push(error);
            }
        }
        for object in sources {
            if let Err(error) = set.add_source(object) {
                errors.push(error);
            }
        }
        for object in automations {
            if let Err(error) = set.add_automation(object) {
                errors.push(error);
            }
        }
        for object in syncs {
            if let Err(error) = set.add_sync(object) {
                errors.push(error);
            }
        }
        set.check_references(raw, &mut errors);
        (set, errors)
    }

    fn add_secret(&mut self, object: &RawObject) -> Result<(), LoadError> {
        if object.api_version != "v1" {
            return Err(object.invalid(format!(
                "apiVersion {:?} is not supported for Secret; use v1",
                object.api_version
            )));
        }
        let secret: SecretObject = object.parse()?;
        let (key, data) =
            <(ObjectKey, SecretData)>::try_from(secret).map_err(|e| object.invalid(e))?;
        self.secrets.insert(key, data);
        Ok(())
    }

    fn add_repository(&mut self, object: &RawObject) -> Result<(), LoadError> {
        let parsed = object.decode::<ImageRepositorySpec>()?;
        let entry = RepositoryEntry::try_from(&parsed).map_err(|e| object.invalid(e))?;
        support::repository(&entry).map_err(|e| object.invalid(e))?;
        self.repositories.insert(entry.target.id.clone(), entry);
        Ok(())
    }

    fn add_policy(&mut self, object: &RawObject) -> Result<(), LoadError> {
        let parsed = object.decode::<ImagePolicySpec>()?;
        let entry =
            PolicyEntry::from_object(&parsed, &self.secrets).map_err(|e| object.reject(e))?;
        self.policies.insert(object_key(&parsed.metadata), entry);
        Ok(())
    }

    fn add_source(&mut self, object: &RawObject) -> Result<(), LoadError> {
        let parsed = object.decode::<GitRepositorySpec>()?;
        let key = object_key(&parsed.metadata);
        let entry =
            SourceEntry::from_object(&parsed, &self.secrets).map_err(|e| object.reject(e))?;
        support::source(&entry).map_err(|e| object.invalid(e))?;
        if entry.service_account.is_some()
            && entry.provider == crate::api::git_repository::GitProvider::Generic
        {
            self.warnings.push(format!(
                "GitRepository {key}: spec.serviceAccountName has no effect with provider generic (as in Flux)"
            ));
        }
        self.sources.insert(key, entry);
        Ok(())
    }

    fn add_automation(&mut self, object: &RawObject) -> Result<(), LoadError> {
        let parsed = object.decode::<ImageUpdateAutomationSpec>()?;
        let entry = AutomationEntry::from_object(&parsed, &self.sources, &self.secrets)
            .map_err(|e| object.reject(e))?;
        self.automations.insert(object_key(&parsed.metadata), entry);
        Ok(())
    }

    fn add_sync(&mut self, object: &RawObject) -> Result<(), LoadError> {
        let parsed = object.decode::<SyncSpec>()?;
        let namespace = parsed.metadata.namespace();
        let entry = SyncEntry::from_spec(&parsed.spec, namespace).map_err(|e| object.invalid(e))?;
        let Some(source) = self.sources.get(&entry.source) else {
            return Err(object.reject(Invalid::missing(format!(
                "spec.sourceRef: GitRepository {} is not defined (or is invalid) in the config directory",
                entry.source
            ))));
        };
        support::sync(&entry, source).map_err(|e| object.invalid(e))?;
        self.syncs.insert(object_key(&parsed.metadata), entry);
        Ok(())
    }

    fn check_references(&self, raw: &[RawObject], errors: &mut Vec<LoadError>) {
        for (key, policy) in &self.policies {
            if !self.repositories.contains_key(&policy.repository) {
                let object = raw.iter().find(|o| {
                    o.kind == "ImagePolicy"
                        && o.namespace() == key.namespace
                        && o.metadata.name == key.name
                });
                if let Some(object) = object {
                    errors.push(object.missing_reference(format!(
                        "spec.imageRepositoryRef: ImageRepository {} is not defined (or is invalid) in the config directory",
                        policy.repository
                    )));
                }
            }
        }
    }

    /// The policies that feed `automation`: same namespace, matching its selector.
    pub fn policies_for(&self, automation: &ObjectKey) -> Vec<&ObjectKey> {
        let Some(entry) = self.automations.get(automation) else {
            return Vec::new();
        };
        self.policies
            .iter()
            .filter(|(key, policy)| {
                key.namespace == automation.namespace
                    && entry
                        .selector
                        .as_ref()
                        .is_none_or(|selector| selector.matches(&policy.labels))
            })
            .map(|(key, _)| key)
            .collect()
    }

    /// ImageRepositories that are not suspended.
    pub fn active_repositories(&self) -> impl Iterator<Item = (&ObjectKey, &RepositoryEntry)> {
        self.repositories.iter().filter(|(_, entry)| !entry.suspend)
    }

    /// Whether ImageRepository `key` is defined and not suspended.
    pub fn is_active_repository(&self, key: &ObjectKey) -> bool {
        self.repositories
            .get(key)
            .is_some_and(|entry| !entry.suspend)
    }

    /// Whether ImageUpdateAutomation `key` is defined and not suspended.
    pub fn is_active_automation(&self, key: &ObjectKey) -> bool {
        self.automations
            .get(key)
            .is_some_and(|entry| !entry.suspend)
    }

    /// ImageUpdateAutomations that are not suspended.
    pub fn active_automations(&self) -> impl Iterator<Item = (&ObjectKey, &AutomationEntry)> {
        self.automations.iter().filter(|(_, entry)| !entry.suspend)
    }

    /// Automations (not suspended) that one of `policies` feeds.
    pub fn automations_fed_by(&self, policies: &[&ObjectKey]) -> Vec<ObjectKey> {
        // By namespace, so each automation looks at the changed policies of its
        // own namespace only (not at every policy for every changed one).
        let mut changed: BTreeMap<&str, Vec<&PolicyEntry>> = BTreeMap::new();
        for key in policies {
            if let Some(policy) = self.policies.get(*key) {
                changed.entry(&key.namespace).or_default().push(policy);
            }
        }
        self.active_automations()
            .filter(|(key, entry)| {
                changed.get(key.namespace.as_str()).is_some_and(|policies| {
                    policies.iter().any(|policy| {
                        entry
                            .selector
                            .as_ref()
                            .is_none_or(|selector| selector.matches(&policy.labels))
                    })
                })
            })
            .map(|(key, _)| key.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::ExclusionList;

    #[test]
    fn downgrades_are_judged_without_the_semver_range() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("objects.yaml"),
            "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\nmetadata: {name: web}\nspec: {image: reg.example/web, interval: 5m}\n---\napiVersion: image.toolkit.fluxcd.io/v1\nkind: ImagePolicy\nmetadata: {name: web}\nspec:\n  imageRepositoryRef: {name: web}\n  policy: {semver: {range: '<1.0.0'}}\n",
        )
        .unwrap();
        let (set, errors) = ObjectSet::load(dir.path());
        assert!(errors.is_empty(), "{errors:?}");
        let entry = &set.policies[&ObjectKey::new("default", "web")];
        let none = ExclusionList::default();
        let tags = ["1.0.0", "0.9.0", "1.1.0-rc.1"];
        assert_eq!(entry.policy.select(&tags, &none).unwrap().tag, "0.9.0");
        assert_eq!(
            entry.version_order.select(&tags, &none).unwrap().tag,
            "1.1.0-rc.1"
        );
    }

    /// Standalone mode has no ServiceAccounts: the field is kept (controller
    /// mode will read its pull secrets) and a warning says it does nothing.
    #[test]
    fn a_service_account_in_standalone_mode_is_a_warning_not_silence() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("objects.yaml"),
            "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\nmetadata: {name: web, namespace: shop}\nspec: {image: reg.example/web, interval: 5m, serviceAccountName: puller}\n",
        )
        .unwrap();
        let (set, errors) = ObjectSet::load(dir.path());
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            set.warnings,
            [
                "ImageRepository shop/web: spec.serviceAccountName does nothing in standalone mode (there are no ServiceAccounts); give the credentials with spec.secretRef"
            ]
        );
        let entry = &set.repositories[&ObjectKey::new("shop", "web")];
        assert_eq!(
            entry.target.service_account,
            Some(ObjectKey::new("shop", "puller"))
        );
    }

    /// A Sync applies the repository's files; Flux serves them filtered by
    /// the GitRepository's artifact settings, which Syncs cannot honour yet.
    #[test]
    fn syncs_refuse_sources_whose_files_flux_would_serve_differently() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("objects.yaml"),
            "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {name: filtered, namespace: shop}\nspec: {url: 'https://git.example/c', interval: 5m, ref: {branch: main}, ignore: '/docs'}\n---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {name: tagged, namespace: shop}\nspec: {url: 'https://git.example/c', interval: 5m, ref: {tag: v1}}\n---\napiVersion: tagpilot.dev/v1alpha1\nkind: Sync\nmetadata: {name: a, namespace: shop}\nspec: {sourceRef: {name: filtered}}\n---\napiVersion: tagpilot.dev/v1alpha1\nkind: Sync\nmetadata: {name: b, namespace: shop}\nspec: {sourceRef: {name: tagged}}\n",
        )
        .unwrap();
        let (set, errors) = ObjectSet::load(dir.path());
        let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(
            messages[0].ends_with("Sync shop/a: spec.sourceRef: the GitRepository sets spec.ignore, which Syncs do not support yet"),
            "{}",
            messages[0]
        );
        assert!(
            messages[1].ends_with("Sync shop/b: spec.sourceRef: the GitRepository's spec.ref is a tag; Syncs of a tag are not supported yet"),
            "{}",
            messages[1]
        );
        assert_eq!(set.sources.len(), 2, "automations may still use both");
    }

    #[test]
    fn syncs_load_and_need_their_git_repository() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("objects.yaml"),
            "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {name: config, namespace: shop}\nspec: {url: 'https://git.example/config', interval: 5m, ref: {branch: main}}\n---\napiVersion: tagpilot.dev/v1alpha1\nkind: Sync\nmetadata: {name: web, namespace: shop}\nspec: {sourceRef: {name: config}, path: ./deploy}\n---\napiVersion: tagpilot.dev/v1alpha1\nkind: Sync\nmetadata: {name: orphan, namespace: shop}\nspec: {sourceRef: {name: missing}}\n",
        )
        .unwrap();
        let (set, errors) = ObjectSet::load(dir.path());
        let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert!(
            messages[0].contains("Sync shop/orphan: spec.sourceRef: GitRepository shop/missing"),
            "{messages:?}"
        );
        let web = &set.syncs[&ObjectKey::new("shop", "web")];
        assert_eq!(web.source, ObjectKey::new("shop", "config"));
        assert!(web.prune);
    }

    #[test]
    fn the_example_policies_load_without_errors() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
        let (set, errors) = ObjectSet::load(&dir);
        let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(messages.is_empty(), "{messages:#?}");
        assert_eq!(set.repositories.len(), 2);
        assert_eq!(set.policies.len(), 2);
        assert_eq!(set.sources.len(), 1);
        assert_eq!(set.automations.len(), 1);
        let automation = ObjectKey::new("shop", "shop");
        assert_eq!(set.policies_for(&automation).len(), 2);
    }

    #[test]
    fn objects_naming_missing_objects_say_so_in_their_cause() {
        use crate::config::load::{InvalidCause, parse_objects};
        let text = "\
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {name: web}
spec: {imageRepositoryRef: {name: gone}, policy: {semver: {range: '>=1'}}}
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: config}
spec: {url: 'ssh://git@example.com/config.git', interval: 1m, ref: {branch: main}, secretRef: {name: gone}}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImageUpdateAutomation
metadata: {name: auto}
spec: {sourceRef: {name: gone}, interval: 1m, git: {commit: {author: {email: bot@example.com}}}}
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata: {name: bad}
spec: {imageRepositoryRef: {name: gone}, filterTags: {pattern: '^v('}, policy: {semver: {range: '>=1'}}}
";
        let raw = parse_objects(Path::new("objects.yaml"), text).unwrap();
        let (_, errors) = ObjectSet::from_raw(&raw);
        let causes: BTreeMap<String, InvalidCause> = errors
            .iter()
            .map(|error| match error {
                LoadError::Invalid { name, cause, .. } => (name.clone(), *cause),
                other => panic!("{other}"),
            })
            .collect();
        let expected = BTreeMap::from([
            ("web".to_string(), InvalidCause::MissingReference),
            ("config".to_string(), InvalidCause::MissingReference),
            ("auto".to_string(), InvalidCause::MissingReference),
            ("bad".to_string(), InvalidCause::Spec),
        ]);
        assert_eq!(causes, expected, "{errors:#?}");
    }
}

//! The validated object set of one configuration: every YAML document under the
//! config directory turned, once, into the domain types the engine runs on.
//! Each bad object becomes an error that names its file, the object and the
//! field; the others still load (one bad object never stops the rest).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::automation::{ImageUpdateAutomationObject, LabelSelector};
use crate::config::image_policy::{DigestReflectionPolicy, ImagePolicyObject, SemverPolicySpec};
use crate::config::image_repository::ImageRepository;
use crate::config::load::{LoadError, RawObject, read_dir_objects};
use crate::config::meta::{IMAGE_API_VERSIONS, ObjectKey, SOURCE_API_VERSIONS, repository_path};
use crate::config::secrets::{SecretObject, SecretSet};
use crate::config::source::GitRepositoryObject;
use crate::config::sync::{SYNC_API_VERSIONS, SyncEntry, SyncObject};
use crate::git::{
    Author, CheckoutSpec, CommitSpec, Credentials, PushSpec, RepoSpec, Secret, SigningKey,
    validate_template,
};
use crate::policy::{ExclusionList, Policy};
use crate::registry::{ScanTarget, SecretData, SecretSource};

/// The annotation that lets a policy move a marker to an older version.
pub const ALLOW_DOWNGRADE_ANNOTATION: &str = "tagpilot.dev/allow-downgrade";

/// A semver range every version matches, pre-releases included.
const ANY_VERSION: &str = ">=0.0.0-0";

/// An interval used when an object gives none (ImagePolicy has no interval of its own).
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);

/// An ImageRepository, ready to scan.
#[derive(Debug, Clone)]
pub struct RepositoryEntry {
    /// What and how to scan.
    pub target: ScanTarget,
    /// Tags that no policy sees.
    pub exclusions: ExclusionList,
    /// How often to scan.
    pub interval: Duration,
    /// Not scanned while true.
    pub suspend: bool,
}

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
}

/// A GitRepository, ready to clone.
#[derive(Debug, Clone)]
pub struct SourceEntry {
    /// URL and credentials.
    pub repo: RepoSpec,
    /// The branch it follows.
    pub branch: String,
}

/// An ImageUpdateAutomation, ready to run.
#[derive(Debug, Clone)]
pub struct AutomationEntry {
    /// The GitRepository it writes to.
    pub source: ObjectKey,
    /// The branch to check out.
    pub checkout: CheckoutSpec,
    /// Author, message template, signing.
    pub commit: CommitSpec,
    /// Where to push.
    pub push: PushSpec,
    /// `messageTemplateValues`.
    pub values: BTreeMap<String, String>,
    /// The path under the repository root to update.
    pub path: PathBuf,
    /// Which policies (same namespace) feed it; all when `None`.
    pub selector: Option<LabelSelector>,
    /// How often to run.
    pub interval: Duration,
    /// Not run while true.
    pub suspend: bool,
}

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
}

impl ObjectSet {
    /// Loads and validates every object under `dir`; returns the valid ones and
    /// one error per invalid file or object.
    pub fn load(dir: &Path) -> (Self, Vec<LoadError>) {
        let (raw, mut errors) = read_dir_objects(dir);
        let (set, more) = Self::from_raw(&raw);
        errors.extend(more);
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

    fn add_sync(&mut self, object: &RawObject) -> Result<(), LoadError> {
        check_api(object, &SYNC_API_VERSIONS)?;
        let parsed: SyncObject = object.parse()?;
        let namespace = parsed.metadata.namespace();
        let entry = SyncEntry::from_spec(&parsed.spec, namespace).map_err(|e| object.invalid(e))?;
        if !self.sources.contains_key(&entry.source) {
            return Err(object.missing_reference(format!(
                "spec.sourceRef: GitRepository {} is not defined (or is invalid) in the config directory",
                entry.source
            )));
        }
        self.syncs
            .insert(ObjectKey::new(namespace, &parsed.metadata.name), entry);
        Ok(())
    }

    fn add_secret(&mut self, object: &RawObject) -> Result<(), LoadError> {
        check_api(object, &["v1"])?;
        let secret: SecretObject = object.parse()?;
        let (key, data) =
            <(ObjectKey, SecretData)>::try_from(secret).map_err(|e| object.invalid(e))?;
        self.secrets.insert(key, data);
        Ok(())
    }

    fn add_repository(&mut self, object: &RawObject) -> Result<(), LoadError> {
        check_api(object, &IMAGE_API_VERSIONS)?;
        let repository: ImageRepository = object.parse()?;
        let target = ScanTarget::try_from(&repository).map_err(|e| object.invalid(e))?;
        let patterns = &repository.spec.exclusion_list;
        let exclusions = if patterns.is_empty() {
            ExclusionList::default()
        } else {
            ExclusionList::new(patterns)
                .map_err(|e| object.invalid(format!("spec.exclusionList: {e:#}")))?
        };
        let interval = repository
            .spec
            .interval
            .map(|interval| interval.0)
            .unwrap_or(DEFAULT_INTERVAL);
        self.repositories.insert(
            target.id.clone(),
            RepositoryEntry {
                target,
                exclusions,
                interval,
                suspend: repository.spec.suspend,
            },
        );
        Ok(())
    }

    fn add_policy(&mut self, object: &RawObject) -> Result<(), LoadError> {
        check_api(object, &IMAGE_API_VERSIONS)?;
        let parsed: ImagePolicyObject = object.parse()?;
        let policy = Policy::try_from(&parsed).map_err(|e| object.invalid(format!("{e:#}")))?;
        let version_order = match &parsed.spec.policy.semver {
            Some(_) => {
                let mut unbounded = parsed.clone();
                unbounded.spec.policy.semver = Some(SemverPolicySpec {
                    range: ANY_VERSION.to_string(),
                });
                Policy::try_from(&unbounded).map_err(|e| object.invalid(format!("{e:#}")))?
            }
            None => policy.clone(),
        };
        let namespace = parsed.metadata.namespace().to_string();
        self.policies.insert(
            ObjectKey::new(&namespace, &parsed.metadata.name),
            PolicyEntry {
                policy,
                version_order,
                repository: parsed.spec.image_repository_ref.key(&namespace),
                digest_reflection: parsed.spec.digest_reflection_policy,
                allow_downgrade: parsed
                    .metadata
                    .annotations
                    .get(ALLOW_DOWNGRADE_ANNOTATION)
                    .is_some_and(|v| v == "true"),
                labels: parsed.metadata.labels,
            },
        );
        Ok(())
    }

    fn add_source(&mut self, object: &RawObject) -> Result<(), LoadError> {
        check_api(object, &SOURCE_API_VERSIONS)?;
        let parsed: GitRepositoryObject = object.parse()?;
        let spec = &parsed.spec;
        let reference = spec.reference.clone().unwrap_or_default();
        if reference.tag.is_some() || reference.semver.is_some() || reference.commit.is_some() {
            return Err(object.invalid(
                "spec.ref: an automation needs a branch to commit to; tag, semver and commit references cannot be updated",
            ));
        }
        let branch = reference.branch().unwrap_or("master").to_string();
        let namespace = parsed.metadata.namespace();
        let mut repo = RepoSpec::anonymous(&spec.url);
        if let Some(secret_ref) = &spec.secret_ref {
            let key = ObjectKey::new(namespace, &secret_ref.name);
            let secret = self.secrets.secret(&key).ok_or_else(|| {
                object.missing_reference(format!(
                    "spec.secretRef: Secret {key} not found in the config directory"
                ))
            })?;
            repo.credentials = git_credentials(&secret).map_err(|message| {
                object.invalid(format!("spec.secretRef: Secret {key}: {message}"))
            })?;
            repo.ca_certificate = secret.get("ca.crt").map(<[u8]>::to_vec);
        }
        self.sources.insert(
            ObjectKey::new(namespace, &parsed.metadata.name),
            SourceEntry { repo, branch },
        );
        Ok(())
    }

    fn add_automation(&mut self, object: &RawObject) -> Result<(), LoadError> {
        check_api(object, &IMAGE_API_VERSIONS)?;
        let parsed: ImageUpdateAutomationObject = object.parse()?;
        let spec = parsed.spec;
        let namespace = parsed.metadata.namespace().to_string();
        if let Some(kind) = spec.source_ref.kind.as_deref()
            && kind != "GitRepository"
        {
            return Err(object.invalid(format!(
                "spec.sourceRef.kind: {kind:?} is not supported; use GitRepository"
            )));
        }
        let source = spec.source_ref.key(&namespace);
        let source_entry = self.sources.get(&source).ok_or_else(|| {
            object.missing_reference(format!(
                "spec.sourceRef: GitRepository {source} is not defined (or is invalid) in the config directory"
            ))
        })?;
        let git = spec.git.ok_or_else(|| {
            object.invalid("spec.git: missing; it needs at least commit.author.email")
        })?;
        let branch = match git.checkout.as_ref() {
            Some(checkout) => checkout
                .reference
                .branch()
                .ok_or_else(|| {
                    object.invalid("spec.git.checkout.ref: only a branch can be checked out")
                })?
                .to_string(),
            None => source_entry.branch.clone(),
        };
        if let Some(template) = &git.commit.message_template {
            validate_template(template)
                .map_err(|e| object.invalid(format!("spec.git.commit.messageTemplate: {e}")))?;
        }
        let signing_key = match &git.commit.signing_key {
            None => None,
            Some(key_spec) => {
                let key = ObjectKey::new(&namespace, &key_spec.secret_ref.name);
                match key_spec.key_type.as_deref().unwrap_or("gpg") {
                    "ssh" => {
                        let secret = self.secrets.secret(&key).ok_or_else(|| {
                            object.missing_reference(format!(
                                "spec.git.commit.signingKey.secretRef: Secret {key} not found"
                            ))
                        })?;
                        let private_key = secret.get("identity").ok_or_else(|| {
                            object.invalid(format!(
                                "spec.git.commit.signingKey: Secret {key} has no `identity` (an OpenSSH private key)"
                            ))
                        })?;
                        Some(SigningKey::Ssh {
                            private_key: Secret::new(private_key.to_vec()),
                            password: secret
                                .get("password")
                                .map(|p| Secret::new(String::from_utf8_lossy(p).into_owned())),
                        })
                    }
                    "gpg" => {
                        return Err(object.invalid(
                            "spec.git.commit.signingKey: OpenPGP signing is not supported yet; use type: ssh",
                        ));
                    }
                    other => {
                        return Err(object.invalid(format!(
                            "spec.git.commit.signingKey.type: {other:?} is not one of ssh, gpg"
                        )));
                    }
                }
            }
        };
        let update = spec
            .update
            .unwrap_or(crate::config::automation::UpdateSpec {
                path: None,
                strategy: None,
            });
        if let Some(strategy) = update.strategy.as_deref()
            && strategy != "Setters"
        {
            return Err(object.invalid(format!(
                "spec.update.strategy: {strategy:?} is not supported; use Setters"
            )));
        }
        let path = repository_path(update.path.as_deref().unwrap_or("."))
            .map_err(|message| object.invalid(format!("spec.update.path: {message}")))?;
        let push = git.push.unwrap_or_default();
        self.automations.insert(
            ObjectKey::new(&namespace, &parsed.metadata.name),
            AutomationEntry {
                source,
                checkout: CheckoutSpec::branch(branch),
                commit: CommitSpec {
                    author: Author {
                        name: git
                            .commit
                            .author
                            .name
                            .clone()
                            .unwrap_or_else(|| "tagpilot".to_string()),
                        email: git.commit.author.email.clone(),
                    },
                    message_template: git.commit.message_template.clone(),
                    signing_key,
                },
                push: PushSpec {
                    branch: push.branch,
                    refspec: push.refspec,
                },
                values: git.commit.message_template_values,
                path,
                selector: spec.policy_selector,
                interval: spec.interval.0,
                suspend: spec.suspend,
            },
        );
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

    /// ImageUpdateAutomations that are not suspended.
    pub fn active_automations(&self) -> impl Iterator<Item = (&ObjectKey, &AutomationEntry)> {
        self.automations.iter().filter(|(_, entry)| !entry.suspend)
    }

    /// Automations (not suspended) that one of `policies` feeds.
    pub fn automations_fed_by(&self, policies: &[&ObjectKey]) -> Vec<ObjectKey> {
        self.active_automations()
            .filter(|(key, _)| {
                self.policies_for(key)
                    .iter()
                    .any(|policy| policies.contains(policy))
            })
            .map(|(key, _)| key.clone())
            .collect()
    }
}

fn check_api(object: &RawObject, accepted: &[&str]) -> Result<(), LoadError> {
    if accepted.contains(&object.api_version.as_str()) {
        Ok(())
    } else {
        Err(object.invalid(format!(
            "apiVersion {:?} is not supported for {}; use one of {}",
            object.api_version,
            object.kind,
            accepted.join(", ")
        )))
    }
}

/// Credentials for git from a Secret's keys (Flux's conventions).
fn git_credentials(secret: &SecretData) -> Result<Credentials, String> {
    let text = |key: &str| {
        secret
            .get(key)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    };
    if let Some(identity) = secret.get("identity") {
        let known_hosts = text("known_hosts").ok_or(
            "has `identity` but no `known_hosts`; tagpilot never trusts an ssh host key on first use",
        )?;
        return Ok(Credentials::Ssh {
            identity: Secret::new(identity.to_vec()),
            password: text("password").map(Secret::new),
            known_hosts,
        });
    }
    if let Some(token) = text("bearerToken") {
        return Ok(Credentials::Bearer {
            token: Secret::new(token),
        });
    }
    match (text("username"), text("password")) {
        (Some(username), Some(password)) => Ok(Credentials::Basic {
            username,
            password: Secret::new(password),
        }),
        (Some(_), None) => Err("has `username` but no `password`".to_string()),
        _ => Ok(Credentials::Anonymous),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_paths_stay_inside_the_repository() {
        assert_eq!(
            repository_path("./overlays/prod").unwrap(),
            PathBuf::from("overlays/prod")
        );
        assert_eq!(repository_path(".").unwrap(), PathBuf::new());
        for bad in ["../..", "/etc", "a/../../b"] {
            assert!(repository_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn downgrades_are_judged_without_the_semver_range() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("objects.yaml"),
            "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\nmetadata: {name: web}\nspec: {image: reg.example/web}\n---\napiVersion: image.toolkit.fluxcd.io/v1\nkind: ImagePolicy\nmetadata: {name: web}\nspec:\n  imageRepositoryRef: {name: web}\n  policy: {semver: {range: '<1.0.0'}}\n",
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

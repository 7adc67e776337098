//! GitRepository objects (any served version, read into
//! [`GitRepositorySpec`]) validated into a [`SourceEntry`]: the repository,
//! its credentials (resolved from the Secret at load time), the reference to
//! check out, and every setting that changes what is fetched.

use std::time::Duration;

use super::load::Invalid;
use super::meta::{GoDuration, ObjectKey};
use crate::api::ApiObject;
use crate::api::git_repository::{GitProvider, GitRepositoryRef, GitRepositorySpec};
use crate::git::{Credentials, GitReference, ProxySpec, RepoSpec, Secret};
use crate::registry::{SecretData, SecretSource};

/// A GitRepository as read from a file or the API server.
pub type GitRepositoryObject = ApiObject<GitRepositorySpec>;

/// Flux's default branch when a GitRepository names no reference.
pub const DEFAULT_BRANCH: &str = "master";

/// The timeout of git operations when an object gives none (Flux's default).
pub const DEFAULT_GIT_TIMEOUT: Duration = Duration::from_secs(60);

/// A GitRepository, ready to clone.
#[derive(Debug, Clone)]
pub struct SourceEntry {
    /// URL, credentials and CA.
    pub repo: RepoSpec,
    /// What it checks out (`spec.ref`; Flux's `master` when absent).
    pub reference: GitReference,
    /// The longest one git operation may take (also in [`RepoSpec::timeout`]).
    pub timeout: Duration,
    /// Where credentials come from (`generic`: the Secret).
    pub provider: GitProvider,
    /// The ServiceAccount whose identity a cloud provider uses.
    pub service_account: Option<ObjectKey>,
    /// A Secret with the proxy's `address` (and `username`, `password`),
    /// resolved into [`RepoSpec::proxy`].
    pub proxy_secret: Option<ObjectKey>,
    /// Not fetched while true.
    pub suspend: bool,
    /// What changes the files a Sync applies (Flux's artifact settings).
    pub content: SourceContent,
}

/// The settings of a GitRepository that change its files as Flux's
/// source-controller serves them (its artifact). Automations, like Flux's
/// image-automation-controller, work on the repository itself and ignore them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceContent {
    /// `.gitignore`-style patterns of files left out.
    pub ignore: Option<String>,
    /// Other GitRepositories copied in.
    pub include: Vec<SourceInclude>,
    /// Submodules are cloned too.
    pub recurse_submodules: bool,
    /// Only these directories are checked out.
    pub sparse_checkout: Vec<String>,
    /// The commit (or tag) must carry a signature by one of these keys.
    pub verification: Option<SourceVerification>,
}

/// One `spec.include[]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceInclude {
    /// The included GitRepository.
    pub repository: ObjectKey,
    /// The path in it (its root when absent).
    pub from_path: Option<String>,
    /// Where it goes (its name when absent).
    pub to_path: Option<String>,
}

/// `spec.verify`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceVerification {
    /// `HEAD`, `Tag` or `TagAndHEAD` (`head` is `HEAD`).
    pub mode: String,
    /// The Secret with the trusted OpenPGP public keys.
    pub secret: ObjectKey,
}

impl SourceContent {
    /// The fields (by name) that are set, in the object's field order.
    pub fn fields_set(&self) -> Vec<&'static str> {
        [
            self.verification.as_ref().map(|_| "spec.verify"),
            self.ignore.as_ref().map(|_| "spec.ignore"),
            self.recurse_submodules.then_some("spec.recurseSubmodules"),
            (!self.include.is_empty()).then_some("spec.include"),
            (!self.sparse_checkout.is_empty()).then_some("spec.sparseCheckout"),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// The reference Flux checks out for `reference`: `commit` first, then
/// `name`, `semver`, `tag`, `branch`; empty strings count as absent.
/// `name: refs/heads/X` is the branch X.
pub fn git_reference(reference: &GitRepositoryRef) -> GitReference {
    let set = |field: &Option<String>| field.clone().filter(|text| !text.is_empty());
    if let Some(sha) = set(&reference.commit) {
        return GitReference::Commit {
            sha,
            branch: set(&reference.branch),
        };
    }
    if let Some(name) = set(&reference.name) {
        return match name.strip_prefix("refs/heads/") {
            Some(branch) => GitReference::Branch(branch.to_string()),
            None => GitReference::Name(name),
        };
    }
    if let Some(range) = set(&reference.semver) {
        return GitReference::Semver(range);
    }
    if let Some(tag) = set(&reference.tag) {
        return GitReference::Tag(tag);
    }
    GitReference::Branch(set(&reference.branch).unwrap_or_else(|| DEFAULT_BRANCH.to_string()))
}

impl SourceEntry {
    /// Validates a GitRepository; its Secret (if it names one) comes from `secrets`.
    pub fn from_object(
        object: &GitRepositoryObject,
        secrets: &impl SecretSource,
    ) -> Result<Self, Invalid> {
        let spec = &object.spec;
        let namespace = object.metadata.namespace();
        let key = |name: &str| ObjectKey::new(namespace, name);
        let timeout = match spec.timeout {
            None => DEFAULT_GIT_TIMEOUT,
            Some(GoDuration(timeout)) if !timeout.is_zero() => timeout,
            Some(_) => return Err(Invalid::spec("spec.timeout must be longer than zero")),
        };
        let mut repo = RepoSpec::anonymous(&spec.url);
        repo.timeout = timeout;
        if let Some(secret_ref) = &spec.secret_ref {
            let secret_key = key(&secret_ref.name);
            let secret = secrets.secret(&secret_key).ok_or_else(|| {
                Invalid::missing(format!(
                    "spec.secretRef: Secret {secret_key} not found in the config directory"
                ))
            })?;
            repo.credentials = git_credentials(&secret).map_err(|message| {
                Invalid::spec(format!("spec.secretRef: Secret {secret_key}: {message}"))
            })?;
            repo.ca_certificate = secret.get("ca.crt").map(<[u8]>::to_vec);
        }
        if let Some(proxy_ref) = &spec.proxy_secret_ref {
            let secret_key = key(&proxy_ref.name);
            let secret = secrets.secret(&secret_key).ok_or_else(|| {
                Invalid::missing(format!(
                    "spec.proxySecretRef: Secret {secret_key} not found in the config directory"
                ))
            })?;
            repo.proxy = Some(proxy_spec(&secret).map_err(|message| {
                Invalid::spec(format!(
                    "spec.proxySecretRef: Secret {secret_key}: {message}"
                ))
            })?);
        }
        let content = SourceContent {
            ignore: spec.ignore.clone(),
            include: spec
                .include
                .iter()
                .map(|include| SourceInclude {
                    repository: key(&include.repository.name),
                    from_path: include.from_path.clone(),
                    to_path: include.to_path.clone(),
                })
                .collect(),
            recurse_submodules: spec.recurse_submodules,
            sparse_checkout: spec.sparse_checkout.clone(),
            verification: spec.verification.as_ref().map(|verify| SourceVerification {
                mode: match verify.mode.as_deref() {
                    None | Some("head") => "HEAD".to_string(),
                    Some(mode) => mode.to_string(),
                },
                secret: key(&verify.secret_ref.name),
            }),
        };
        Ok(Self {
            repo,
            reference: spec
                .reference
                .as_ref()
                .map(git_reference)
                .unwrap_or_else(|| GitReference::Branch(DEFAULT_BRANCH.to_string())),
            timeout,
            provider: spec.provider.unwrap_or(GitProvider::Generic),
            service_account: spec.service_account_name.as_deref().map(key),
            proxy_secret: spec.proxy_secret_ref.as_ref().map(|r| key(&r.name)),
            suspend: spec.suspend,
            content,
        })
    }
}

/// A proxy from a Secret's `address`, `username` and `password` (Flux's keys).
fn proxy_spec(secret: &SecretData) -> Result<ProxySpec, String> {
    let text = |key: &str| {
        secret
            .get(key)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    };
    let address = text("address").ok_or("has no `address` (the proxy's URL)")?;
    ProxySpec::from_secret(
        address.trim(),
        text("username"),
        text("password").map(Secret::new),
    )
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

    /// Loads a GitRepository with a proxy Secret holding `data` (YAML lines).
    fn load_proxied(data: &str) -> Vec<String> {
        let text = format!(
            "apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata: {{name: config, namespace: apps}}\nspec: {{url: 'https://git.example.com/config.git', interval: 1m, timeout: 45s, proxySecretRef: {{name: proxy}}}}\n---\n\
             apiVersion: v1\nkind: Secret\nmetadata: {{name: proxy, namespace: apps}}\nstringData:\n{data}"
        );
        let objects =
            super::super::load::parse_objects(std::path::Path::new("config.yaml"), &text).unwrap();
        let (set, errors) = crate::engine::objects::ObjectSet::from_raw(&objects);
        if let Some(source) = set.sources.values().next() {
            assert_eq!(source.repo.timeout, Duration::from_secs(45));
            let proxy = source.repo.proxy.as_ref().unwrap();
            return vec![format!("{} {:?}", proxy.redacted(), proxy.username)];
        }
        errors.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn the_proxy_secret_and_the_timeout_reach_the_git_spec() {
        assert_eq!(
            load_proxied(
                "  address: http://proxy.example:3128\n  username: bot\n  password: 'Pr0xy-pw'\n"
            ),
            ["http://proxy.example:3128 Some(\"bot\")"]
        );
        for (data, expected) in [
            (
                "  username: bot\n",
                "spec.proxySecretRef: Secret apps/proxy: has no `address`",
            ),
            (
                "  address: 'https://bot:Pr0xy-pw@proxy.example'\n",
                "https:// proxies (TLS to the proxy) are not supported yet",
            ),
        ] {
            let errors = load_proxied(data);
            assert!(
                errors.len() == 1
                    && errors[0].contains(expected)
                    && !errors[0].contains("Pr0xy-pw"),
                "{errors:?}"
            );
        }
    }

    fn reference(yaml: &str) -> GitReference {
        git_reference(&serde_saphyr::from_str(yaml).unwrap())
    }

    #[test]
    fn references_resolve_in_fluxs_order() {
        assert_eq!(
            reference("branch: main"),
            GitReference::Branch("main".into())
        );
        assert_eq!(reference("{}"), GitReference::Branch("master".into()));
        assert_eq!(
            reference("name: refs/heads/release"),
            GitReference::Branch("release".into())
        );
        assert_eq!(
            reference("name: refs/pull/7/head\nbranch: main"),
            GitReference::Name("refs/pull/7/head".into())
        );
        assert_eq!(
            reference("tag: v1.0.0\nsemver: '>=1.0.0'"),
            GitReference::Semver(">=1.0.0".into())
        );
        assert_eq!(
            reference("tag: v1.0.0\nbranch: main"),
            GitReference::Tag("v1.0.0".into())
        );
        assert_eq!(
            reference("commit: 0123456789abcdef0123456789abcdef01234567\nbranch: main\ntag: v1"),
            GitReference::Commit {
                sha: "0123456789abcdef0123456789abcdef01234567".into(),
                branch: Some("main".into())
            }
        );
        assert_eq!(
            reference("branch: ''\ntag: v2"),
            GitReference::Tag("v2".into())
        );
    }
}

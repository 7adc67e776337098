//! Strategy `Annotations` of an ImageUpdateAutomation (`tagpilot.dev` only):
//! `spec.update.registries` validated into [`AnnotationSettings`], which say
//! how each image the workloads name is scanned — no ImageRepository needed.
//!
//! Each entry is one registry host with its credentials Secret, CA Secret,
//! `insecure`, request timeout and scan interval. An image is matched to the
//! entry of its host (Docker Hub's aliases fold into `docker.io`); a host with
//! no entry is scanned anonymously over HTTPS, at the automation's interval.
//! [`AnnotationSettings::target`] gives the [`ScanTarget`] of one image, so
//! scans go through the same client (auth challenges, token servers such as
//! GitLab's, retries, budgets) as ImageRepositories.

use std::collections::BTreeMap;
use std::time::Duration;

use super::load::Invalid;
use super::meta::ObjectKey;
use crate::api::automation::{AnnotationRegistry, UpdateStrategy, UpdateStrategyName};
use crate::image::ImageReference;
use crate::registry::{CredentialSource, DEFAULT_TIMEOUT, ScanTarget};

/// How one registry host is scanned.
#[derive(Debug, Clone)]
pub struct RegistrySettings {
    /// Where the credentials come from (a Secret, or none).
    pub credentials: CredentialSource,
    /// A Secret with `ca.crt` (and a client certificate).
    pub cert_secret: Option<ObjectKey>,
    /// Plain HTTP.
    pub insecure: bool,
    /// How often its images are scanned.
    pub interval: Duration,
    /// The timeout of each request.
    pub timeout: Duration,
}

/// Strategy `Annotations`: scan settings by registry host.
#[derive(Debug, Clone)]
pub struct AnnotationSettings {
    /// By the host's API host (Docker Hub's aliases folded).
    registries: BTreeMap<String, RegistrySettings>,
    /// The settings of a host with no entry.
    fallback: RegistrySettings,
}

/// The API host of a registry host as written (`docker.io` → `registry-1.docker.io`).
fn api_host(host: &str) -> Option<String> {
    ImageReference::parse(&format!("{host}/image"))
        .ok()
        .filter(|image| image.registry() == host)
        .map(|image| image.api_host().to_string())
}

impl AnnotationSettings {
    /// The settings of `update` for an automation in `namespace` running every
    /// `interval`; `None` for strategy `Setters`.
    pub fn from_spec(
        update: &UpdateStrategy,
        namespace: &str,
        interval: Duration,
    ) -> Result<Option<Self>, Invalid> {
        if update.strategy != Some(UpdateStrategyName::Annotations) {
            if !update.registries.is_empty() {
                return Err(Invalid::spec(
                    "spec.update.registries: only strategy Annotations scans registries; set spec.update.strategy: Annotations or remove the list",
                ));
            }
            return Ok(None);
        }
        let fallback = RegistrySettings {
            credentials: CredentialSource::Anonymous,
            cert_secret: None,
            insecure: false,
            interval,
            timeout: DEFAULT_TIMEOUT,
        };
        let mut registries = BTreeMap::new();
        for (index, entry) in update.registries.iter().enumerate() {
            let field = format!("spec.update.registries[{index}]");
            let (host, settings) = registry(entry, namespace, interval, &field)?;
            if registries.insert(host, settings).is_some() {
                return Err(Invalid::spec(format!(
                    "{field}.host: {:?} is listed twice (Docker Hub's aliases count as one host)",
                    entry.host
                )));
            }
        }
        Ok(Some(Self {
            registries,
            fallback,
        }))
    }

    /// The settings that scan `image`.
    pub fn settings(&self, image: &ImageReference) -> &RegistrySettings {
        self.registries
            .get(image.api_host())
            .unwrap_or(&self.fallback)
    }

    /// The scan target of `image` (its tag and digest are ignored by scans);
    /// `id` names it in logs.
    pub fn target(&self, id: ObjectKey, image: &ImageReference) -> ScanTarget {
        let settings = self.settings(image);
        let mut target = ScanTarget::new(id, image.clone());
        target.credentials = settings.credentials.clone();
        target.cert_secret = settings.cert_secret.clone();
        target.insecure = settings.insecure;
        target.timeout = settings.timeout;
        target
    }

    /// The shortest scan interval of any host (the automation runs at least this often).
    pub fn shortest_interval(&self) -> Duration {
        self.registries
            .values()
            .map(|r| r.interval)
            .chain([self.fallback.interval])
            .min()
            .unwrap_or(self.fallback.interval)
    }

    /// The Secrets the settings name.
    pub fn secrets(&self) -> impl Iterator<Item = &ObjectKey> {
        self.registries.values().flat_map(|r| {
            let credentials = match &r.credentials {
                CredentialSource::Secret(key) => Some(key),
                _ => None,
            };
            credentials.into_iter().chain(r.cert_secret.as_ref())
        })
    }
}

fn registry(
    entry: &AnnotationRegistry,
    namespace: &str,
    interval: Duration,
    field: &str,
) -> Result<(String, RegistrySettings), Invalid> {
    let host = api_host(&entry.host).ok_or_else(|| {
        Invalid::spec(format!(
            "{field}.host: {:?} is not a registry host (like registry.gitlab.com or 127.0.0.1:5000; no scheme, no path)",
            entry.host
        ))
    })?;
    let duration =
        |value: Option<crate::api::GoDuration>, name: &str, default: Duration| match value {
            None => Ok(default),
            Some(value) if !value.0.is_zero() => Ok(value.0),
            Some(_) => Err(Invalid::spec(format!(
                "{field}.{name} must be longer than zero"
            ))),
        };
    let key = |name: &str| ObjectKey::new(namespace, name);
    Ok((
        host,
        RegistrySettings {
            credentials: entry
                .secret_ref
                .as_ref()
                .map_or(CredentialSource::Anonymous, |r| {
                    CredentialSource::Secret(key(&r.name))
                }),
            cert_secret: entry.cert_secret_ref.as_ref().map(|r| key(&r.name)),
            insecure: entry.insecure,
            interval: duration(entry.interval, "interval", interval)?,
            timeout: duration(entry.timeout, "timeout", DEFAULT_TIMEOUT)?,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::GoDuration;
    use crate::api::meta::LocalObjectReference;

    fn entry(host: &str) -> AnnotationRegistry {
        AnnotationRegistry {
            host: host.into(),
            secret_ref: None,
            cert_secret_ref: None,
            insecure: false,
            interval: None,
            timeout: None,
        }
    }

    fn annotations(registries: Vec<AnnotationRegistry>) -> UpdateStrategy {
        UpdateStrategy {
            strategy: Some(UpdateStrategyName::Annotations),
            path: None,
            registries,
        }
    }

    #[test]
    fn each_image_gets_the_settings_of_its_host() {
        let mut gitlab = entry("registry.gitlab.com");
        gitlab.secret_ref = Some(LocalObjectReference {
            name: "gitlab".into(),
        });
        gitlab.interval = Some(GoDuration(Duration::from_secs(60)));
        let mut local = entry("127.0.0.1:5000");
        local.insecure = true;
        local.cert_secret_ref = Some(LocalObjectReference { name: "ca".into() });
        let hub = entry("index.docker.io");
        let settings = AnnotationSettings::from_spec(
            &annotations(vec![gitlab, local, hub]),
            "apps",
            Duration::from_secs(600),
        )
        .unwrap()
        .unwrap();
        let image = |text: &str| ImageReference::parse(text).unwrap();
        let id = || ObjectKey::new("apps", "auto");
        let target = settings.target(id(), &image("registry.gitlab.com/lucj/hello:master"));
        assert!(
            matches!(&target.credentials, CredentialSource::Secret(key) if *key == ObjectKey::new("apps", "gitlab"))
        );
        assert!(!target.insecure);
        assert_eq!(
            settings
                .settings(&image("registry.gitlab.com/lucj/hello"))
                .interval,
            Duration::from_secs(60)
        );
        let target = settings.target(id(), &image("127.0.0.1:5000/team/app"));
        assert!(target.insecure);
        assert_eq!(target.cert_secret, Some(ObjectKey::new("apps", "ca")));
        assert_eq!(
            settings.settings(&image("nginx:1.25")).interval,
            Duration::from_secs(600)
        );
        assert!(std::ptr::eq(
            settings.settings(&image("nginx")),
            settings.settings(&image("docker.io/library/nginx"))
        ));
        let other = settings.target(id(), &image("ghcr.io/org/app"));
        assert!(matches!(other.credentials, CredentialSource::Anonymous));
        assert_eq!(settings.shortest_interval(), Duration::from_secs(60));
        let secrets: Vec<String> = settings.secrets().map(ToString::to_string).collect();
        assert_eq!(secrets, ["apps/ca", "apps/gitlab"]);
    }

    #[test]
    fn bad_entries_name_their_field() {
        let error = |update: UpdateStrategy| {
            AnnotationSettings::from_spec(&update, "apps", Duration::from_secs(60))
                .unwrap_err()
                .message
        };
        let message = error(annotations(vec![entry("https://registry.gitlab.com")]));
        assert!(
            message.contains("spec.update.registries[0].host"),
            "{message}"
        );
        let message = error(annotations(vec![
            entry("docker.io"),
            entry("index.docker.io"),
        ]));
        assert!(
            message.contains("spec.update.registries[1].host: \"index.docker.io\" is listed twice"),
            "{message}"
        );
        let mut zero = entry("ghcr.io");
        zero.interval = Some(GoDuration(Duration::ZERO));
        let message = error(annotations(vec![zero]));
        assert!(
            message.contains("spec.update.registries[0].interval must be longer than zero"),
            "{message}"
        );
        let setters = UpdateStrategy {
            strategy: Some(UpdateStrategyName::Setters),
            path: None,
            registries: vec![entry("ghcr.io")],
        };
        assert!(error(setters).contains("only strategy Annotations"));
        assert!(
            AnnotationSettings::from_spec(
                &UpdateStrategy::default(),
                "apps",
                Duration::from_secs(1)
            )
            .unwrap()
            .is_none()
        );
    }

    /// Flux's versions have no Annotations strategy and no registries: the
    /// error names the version and the one that has them.
    #[test]
    fn annotations_are_a_strategy_of_tagpilot_dev_only() {
        use crate::api::ImageUpdateAutomationSpec;
        use crate::config::load::parse_objects;
        let object = |api_version: &str, update: &str| {
            let yaml = format!(
                "apiVersion: {api_version}\nkind: ImageUpdateAutomation\nmetadata: {{name: auto, namespace: apps}}\nspec:\n  interval: 5m\n  sourceRef: {{kind: GitRepository, name: config}}\n  git: {{commit: {{author: {{email: bot@example.com}}}}}}\n  update:\n{update}"
            );
            let raw = parse_objects(std::path::Path::new("auto.yaml"), &yaml).unwrap();
            raw[0]
                .decode::<ImageUpdateAutomationSpec>()
                .map_err(|e| e.to_string())
        };
        let update = "    strategy: Annotations\n    path: ./apps\n";
        let ours = object("tagpilot.dev/v1alpha1", update).unwrap();
        let settings = AnnotationSettings::from_spec(
            ours.spec.update.as_ref().unwrap(),
            "apps",
            Duration::from_secs(300),
        )
        .unwrap();
        assert!(settings.is_some());
        for version in ["v1beta1", "v1beta2", "v1"] {
            let error = object(&format!("image.toolkit.fluxcd.io/{version}"), update).unwrap_err();
            assert!(
                error.contains(&format!(
                    "spec.update.strategy: `Annotations` is not a value of image.toolkit.fluxcd.io/{version} (it is a value of tagpilot.dev/v1alpha1), expected `Setters`"
                )),
                "{error}"
            );
        }
        let error = object(
            "image.toolkit.fluxcd.io/v1",
            "    strategy: Setters\n    registries: [{host: ghcr.io}]\n",
        )
        .unwrap_err();
        assert!(
            error.contains("spec.update.registries: unknown field `registries` in image.toolkit.fluxcd.io/v1 (it is a field of tagpilot.dev/v1alpha1)"),
            "{error}"
        );
    }
}

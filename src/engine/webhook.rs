//! Registry push notifications: which images were pushed, from the payloads that
//! registries send (CNCF distribution notification envelopes, Docker Hub, Harbor,
//! GitHub `package` events), and the [`Trigger`] the HTTP server hands to the
//! engine's loop (standalone or controller). Pure: bytes in, pushed images out;
//! the HTTP server that receives them and the token check live in
//! `engine::http`, Flux's Receiver routes in `engine::receiver`.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::api::Kind;
use crate::config::meta::ObjectKey;

/// What a webhook asks the engine to do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// Registry pushes (`POST /webhook/registry`): scan the ImageRepositories of these images.
    Pushed(Vec<PushedImage>),
    /// A Flux Receiver (`POST /hook/<digest>`): reconcile its resources now.
    Requested {
        /// The Receiver, for the logs.
        receiver: ObjectKey,
        /// What its `spec.resources` name.
        resources: Vec<ResourceRef>,
        /// The images the payload says were pushed (empty when it says none):
        /// a scan that does not list them yet is repeated shortly.
        pushed: Vec<PushedImage>,
    },
}

/// The labels of each object (what a Receiver's `name: "*"` with `matchLabels` selects).
pub type ObjectLabels = BTreeMap<(Kind, ObjectKey), BTreeMap<String, String>>;

/// One entry of a Receiver's `spec.resources`: an object by name, or every
/// object of a kind in a namespace whose labels match (`name: "*"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceRef {
    /// The kind (`ImageRepository`, `GitRepository`, ...); `None` for a kind tagpilot does not run.
    pub kind: Option<Kind>,
    /// The kind as written, for messages.
    pub kind_name: String,
    /// The namespace (the Receiver's when not given).
    pub namespace: String,
    /// The name, or `*`.
    pub name: String,
    /// With `*`: the labels an object must carry.
    pub match_labels: BTreeMap<String, String>,
}

impl ResourceRef {
    /// The objects of `objects` (kind, key, labels) this reference names.
    pub fn resolve<'a>(
        &self,
        objects: impl IntoIterator<Item = (Kind, &'a ObjectKey, &'a BTreeMap<String, String>)>,
    ) -> Vec<(Kind, ObjectKey)> {
        let Some(kind) = self.kind else {
            return Vec::new();
        };
        objects
            .into_iter()
            .filter(|(k, key, labels)| {
                *k == kind
                    && key.namespace == self.namespace
                    && if self.name == "*" {
                        self.match_labels
                            .iter()
                            .all(|(label, value)| labels.get(label) == Some(value))
                    } else {
                        key.name == self.name
                    }
            })
            .map(|(k, key, _)| (k, key.clone()))
            .collect()
    }
}

/// An image that a webhook says was pushed with a tag.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PushedImage {
    /// The registry host as the payload names it (`None` when it does not).
    pub host: Option<String>,
    /// The repository path (`team/app`).
    pub repository: String,
    /// The pushed tag.
    pub tag: String,
}

/// How many times a scan is repeated when a webhook's tag is not listed yet.
const ANNOUNCED_TAG_RESCANS: u32 = 5;

/// Tags a webhook announced that no scan has listed yet, with the number of
/// scans that missed each. Registries send the notification as the manifest
/// is stored, which can be before `tags/list` shows the tag; such a scan is
/// repeated shortly (0.5, 1, 2, 4, 8 s) instead of waiting for the interval.
/// Both loops (the daemon's and the controller's) keep one.
#[derive(Debug, Default)]
pub struct AnnouncedTags {
    tags: BTreeMap<ObjectKey, (String, u32)>,
}

impl AnnouncedTags {
    /// A webhook said `tag` was pushed to the image ImageRepository `key` scans.
    pub fn announce(&mut self, key: &ObjectKey, tag: &str) {
        self.tags.insert(key.clone(), (tag.to_string(), 0));
    }

    /// After a scan of `key` was recorded, whose list holds the announced tag
    /// when `listed` says so: how soon to scan again because it does not yet.
    /// `None` when nothing is announced, the tag is listed, or the rescans are
    /// used up (the announcement is then forgotten).
    pub fn rescan_after(
        &mut self,
        key: &ObjectKey,
        listed: impl FnOnce(&str) -> bool,
    ) -> Option<std::time::Duration> {
        let (tag, misses) = self.tags.get_mut(key)?;
        if listed(tag) || *misses >= ANNOUNCED_TAG_RESCANS {
            self.tags.remove(key);
            return None;
        }
        let wait = std::time::Duration::from_millis(500) * 2u32.pow(*misses);
        tracing::debug!(repository = %key, misses = *misses, "the announced tag is not listed yet; scanning again shortly");
        *misses += 1;
        Some(wait)
    }
}

/// Why a webhook body was not understood.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The body is not JSON.
    #[error("the webhook body is not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    /// The body is JSON of no format tagpilot knows.
    #[error(
        "the webhook body is not a CNCF distribution, Docker Hub, Harbor or GitHub package event"
    )]
    UnknownFormat,
}

/// The pushed images a payload describes; pulls, deletes and pushes without a tag yield nothing.
pub fn pushed_images(body: &[u8]) -> Result<Vec<PushedImage>, WebhookError> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(WebhookError::NotJson)?;
    let mut images = if value.get("events").is_some() {
        distribution(value)
    } else if value.get("push_data").is_some() {
        docker_hub(value)
    } else if value.get("event_data").is_some() {
        harbor(value)
    } else if value.get("package").is_some() {
        github(value)
    } else {
        return Err(WebhookError::UnknownFormat);
    };
    images.sort();
    images.dedup();
    Ok(images)
}

fn distribution(value: serde_json::Value) -> Vec<PushedImage> {
    #[derive(Deserialize)]
    struct Envelope {
        #[serde(default)]
        events: Vec<Event>,
    }
    #[derive(Deserialize)]
    struct Event {
        #[serde(default)]
        action: String,
        #[serde(default)]
        target: Target,
        #[serde(default)]
        request: Request,
    }
    #[derive(Deserialize, Default)]
    struct Target {
        #[serde(default)]
        repository: String,
        #[serde(default)]
        tag: Option<String>,
    }
    #[derive(Deserialize, Default)]
    struct Request {
        #[serde(default)]
        host: Option<String>,
    }
    let Ok(envelope) = serde_json::from_value::<Envelope>(value) else {
        return Vec::new();
    };
    envelope
        .events
        .into_iter()
        .filter(|event| event.action == "push" && !event.target.repository.is_empty())
        .filter_map(|event| {
            let tag = event.target.tag.filter(|t| !t.is_empty())?;
            Some(PushedImage {
                host: event.request.host.filter(|h| !h.is_empty()),
                repository: event.target.repository,
                tag,
            })
        })
        .collect()
}

fn docker_hub(value: serde_json::Value) -> Vec<PushedImage> {
    let tag = value["push_data"]["tag"].as_str().unwrap_or_default();
    let repository = value["repository"]["repo_name"]
        .as_str()
        .unwrap_or_default();
    if tag.is_empty() || repository.is_empty() {
        return Vec::new();
    }
    let repository = if repository.contains('/') {
        repository.to_string()
    } else {
        format!("library/{repository}")
    };
    vec![PushedImage {
        host: Some("docker.io".to_string()),
        repository,
        tag: tag.to_string(),
    }]
}

fn harbor(value: serde_json::Value) -> Vec<PushedImage> {
    if value["type"].as_str() != Some("PUSH_ARTIFACT") {
        return Vec::new();
    }
    let repository = value["event_data"]["repository"]["repo_full_name"]
        .as_str()
        .unwrap_or_default();
    let resources = value["event_data"]["resources"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    resources
        .iter()
        .filter_map(|resource| {
            let tag = resource["tag"].as_str().filter(|t| !t.is_empty())?;
            let host = resource["resource_url"]
                .as_str()
                .and_then(|url| url.split_once('/'))
                .map(|(host, _)| host.to_string());
            (!repository.is_empty()).then(|| PushedImage {
                host,
                repository: repository.to_string(),
                tag: tag.to_string(),
            })
        })
        .collect()
}

fn github(value: serde_json::Value) -> Vec<PushedImage> {
    let package = &value["package"];
    if !matches!(value["action"].as_str(), Some("published" | "updated")) {
        return Vec::new();
    }
    let version = &package["package_version"];
    let tag = version["container_metadata"]["tag"]["name"]
        .as_str()
        .filter(|t| !t.is_empty());
    // package_url is `ghcr.io/owner/name:tag`.
    let from_url = version["package_url"].as_str().and_then(|url| {
        let reference = crate::image::ImageReference::parse(url).ok()?;
        Some((reference.registry().to_string(), reference.repository()))
    });
    let (host, repository) = match from_url {
        Some(found) => found,
        None => {
            let owner = package["owner"]["login"].as_str().unwrap_or_default();
            let name = package["name"].as_str().unwrap_or_default();
            if owner.is_empty() || name.is_empty() {
                return Vec::new();
            }
            (
                "ghcr.io".to_string(),
                format!("{owner}/{name}").to_ascii_lowercase(),
            )
        }
    };
    match tag {
        Some(tag) => vec![PushedImage {
            host: Some(host),
            repository,
            tag: tag.to_string(),
        }],
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_announced_tag_is_scanned_for_five_times_more_then_forgotten() {
        let key = ObjectKey::new("shop", "app");
        let mut announced = AnnouncedTags::default();
        assert_eq!(announced.rescan_after(&key, |_| false), None);
        announced.announce(&key, "v2");
        let waits: Vec<u64> = std::iter::from_fn(|| announced.rescan_after(&key, |_| false))
            .map(|wait| wait.as_millis() as u64)
            .collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 8000]);
        announced.announce(&key, "v3");
        assert!(announced.rescan_after(&key, |tag| tag != "v3").is_some());
        assert_eq!(announced.rescan_after(&key, |tag| tag == "v3"), None);
        assert_eq!(
            announced.rescan_after(&key, |_| false),
            None,
            "forgotten once listed"
        );
    }

    fn image(host: Option<&str>, repository: &str, tag: &str) -> PushedImage {
        PushedImage {
            host: host.map(str::to_string),
            repository: repository.to_string(),
            tag: tag.to_string(),
        }
    }

    #[test]
    fn distribution_envelopes_yield_tagged_pushes_only() {
        let body = br#"{"events":[
            {"action":"push","target":{"repository":"team/app","tag":"v1","digest":"sha256:aa"},"request":{"host":"127.0.0.1:5000"}},
            {"action":"push","target":{"repository":"team/app","digest":"sha256:bb"},"request":{"host":"127.0.0.1:5000"}},
            {"action":"pull","target":{"repository":"team/app","tag":"v1"},"request":{"host":"127.0.0.1:5000"}},
            {"action":"push","target":{"repository":"team/app","tag":"v1"},"request":{"host":"127.0.0.1:5000"}}
        ]}"#;
        assert_eq!(
            pushed_images(body).unwrap(),
            [image(Some("127.0.0.1:5000"), "team/app", "v1")]
        );
    }

    #[test]
    fn docker_hub_harbor_and_github_payloads() {
        let hub = br#"{"push_data":{"tag":"1.2.3","pusher":"me"},"repository":{"repo_name":"org/app","name":"app","namespace":"org"}}"#;
        assert_eq!(
            pushed_images(hub).unwrap(),
            [image(Some("docker.io"), "org/app", "1.2.3")]
        );
        let harbor = br#"{"type":"PUSH_ARTIFACT","event_data":{"resources":[{"digest":"sha256:aa","tag":"v2","resource_url":"harbor.example.com/library/app:v2"}],"repository":{"name":"app","namespace":"library","repo_full_name":"library/app"}}}"#;
        assert_eq!(
            pushed_images(harbor).unwrap(),
            [image(Some("harbor.example.com"), "library/app", "v2")]
        );
        let github = br#"{"action":"published","package":{"name":"app","package_type":"container","owner":{"login":"Org"},"package_version":{"package_url":"ghcr.io/org/app:v3","container_metadata":{"tag":{"name":"v3"}}}}}"#;
        assert_eq!(
            pushed_images(github).unwrap(),
            [image(Some("ghcr.io"), "org/app", "v3")]
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(matches!(
            pushed_images(b"not json"),
            Err(WebhookError::NotJson(_))
        ));
        assert!(matches!(
            pushed_images(br#"{"hello":"world"}"#),
            Err(WebhookError::UnknownFormat)
        ));
        assert!(pushed_images(br#"{"events":"nope"}"#).unwrap().is_empty());
    }
}

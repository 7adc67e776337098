//! Pushing test images without Docker: a shared layer blob, a config blob that
//! names the tag (so every tag has its own digest), and an OCI image manifest;
//! optionally with config labels, manifest and index annotations
//! ([`ImageMetadata`]).

use reqwest::blocking::Client;
use sha2::{Digest as _, Sha256};

use super::registry::Registry;

/// The OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// The OCI image index media type.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// The `Accept` header a client needs for manifests (2.8 answers 404 without it).
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// What a pushed image carries besides its tag: `created` in its config,
/// config labels (`LABEL` in a Dockerfile) and manifest annotations.
#[derive(Debug, Clone, Default)]
pub struct ImageMetadata {
    /// The config's `created` (RFC 3339).
    pub created: Option<String>,
    /// `config.Labels`.
    pub labels: Vec<(String, String)>,
    /// The image manifest's `annotations`.
    pub annotations: Vec<(String, String)>,
}

impl ImageMetadata {
    /// `org.opencontainers.image.KEY` = value pairs.
    pub fn oci(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(key, value)| (format!("org.opencontainers.image.{key}"), value.to_string()))
            .collect()
    }
}

fn object(pairs: &[(String, String)]) -> serde_json::Value {
    pairs
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::from(v.as_str())))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// Pushes images to one repository of a registry.
pub struct ImagePusher<'a> {
    registry: &'a Registry,
    repository: String,
    authorization: Option<String>,
    client: Client,
    layer_digest: Option<String>,
}

const LAYER: &[u8] = b"tagpilot test layer: not a real filesystem";

impl<'a> ImagePusher<'a> {
    /// A pusher for `repository` (e.g. `team/app`) with push credentials for it.
    pub fn new(registry: &'a Registry, repository: &str) -> Self {
        Self {
            registry,
            repository: repository.to_string(),
            authorization: registry.authorization(repository),
            // Test setup only: HTTPS registries use a throwaway CA the tests verify separately.
            client: Client::builder()
                .danger_accept_invalid_certs(true)
                .build()
                .expect("HTTP client"),
            layer_digest: None,
        }
    }

    fn request(&self, method: reqwest::Method, url: &str) -> reqwest::blocking::RequestBuilder {
        let request = self.client.request(method, url);
        match &self.authorization {
            Some(value) => request.header("Authorization", value),
            None => request,
        }
    }

    fn upload_blob(&self, bytes: &[u8]) -> String {
        let digest = sha256(bytes);
        let base = self.registry.base_url();
        let start = self
            .request(
                reqwest::Method::POST,
                &format!("{base}/v2/{}/blobs/uploads/", self.repository),
            )
            .send()
            .expect("start blob upload");
        assert_eq!(
            start.status().as_u16(),
            202,
            "blob upload refused: {:?}",
            start.text()
        );
        let location = start
            .headers()
            .get("Location")
            .and_then(|v| v.to_str().ok())
            .expect("upload Location")
            .to_string();
        let location = if location.starts_with('/') {
            format!("{base}{location}")
        } else {
            location
        };
        let separator = if location.contains('?') { '&' } else { '?' };
        let put = self
            .request(
                reqwest::Method::PUT,
                &format!("{location}{separator}digest={digest}"),
            )
            .header("Content-Type", "application/octet-stream")
            .body(bytes.to_vec())
            .send()
            .expect("finish blob upload");
        assert_eq!(
            put.status().as_u16(),
            201,
            "blob upload failed: {:?}",
            put.text()
        );
        digest
    }

    /// Pushes `tag` and returns its manifest digest.
    pub fn push(&mut self, tag: &str) -> String {
        self.push_with_created(tag, None)
    }

    /// Pushes `tag` with `created` (RFC 3339) in its image config, if given;
    /// returns its manifest digest.
    pub fn push_with_created(&mut self, tag: &str, created: Option<&str>) -> String {
        let metadata = ImageMetadata {
            created: created.map(str::to_string),
            ..ImageMetadata::default()
        };
        self.push_with(tag, &metadata)
    }

    /// Pushes `tag` carrying `metadata`; returns its manifest digest.
    pub fn push_with(&mut self, tag: &str, metadata: &ImageMetadata) -> String {
        let manifest = self.image_manifest(tag, metadata);
        self.put_manifest(tag, OCI_MANIFEST, &manifest)
    }

    /// Pushes an OCI image index as `tag` with `annotations` on the index,
    /// over one image per `(os, architecture)`, each carrying `metadata` and
    /// pushed by digest. Returns the index digest.
    pub fn push_index_with(
        &mut self,
        tag: &str,
        platforms: &[(&str, &str)],
        annotations: &[(String, String)],
        metadata: &ImageMetadata,
    ) -> String {
        let images = platforms
            .iter()
            .map(|(os, architecture)| (*os, *architecture, metadata.clone()))
            .collect();
        self.put_index(tag, images, annotations)
    }

    /// Pushes an OCI image index as `tag`: one image per `(os, architecture,
    /// created)`, each pushed by digest. Returns the index digest.
    pub fn push_index(&mut self, tag: &str, platforms: &[(&str, &str, &str)]) -> String {
        let images = platforms
            .iter()
            .map(|(os, architecture, created)| {
                let metadata = ImageMetadata {
                    created: Some(created.to_string()),
                    ..ImageMetadata::default()
                };
                (*os, *architecture, metadata)
            })
            .collect();
        self.put_index(tag, images, &[])
    }

    fn put_index(
        &mut self,
        tag: &str,
        images: Vec<(&str, &str, ImageMetadata)>,
        annotations: &[(String, String)],
    ) -> String {
        let mut manifests = Vec::new();
        for (os, architecture, metadata) in images {
            let manifest = self.image_manifest(&format!("{tag}-{os}-{architecture}"), &metadata);
            let digest = self.put_manifest(&sha256(manifest.as_bytes()), OCI_MANIFEST, &manifest);
            manifests.push(serde_json::json!({
                "mediaType": OCI_MANIFEST, "digest": digest, "size": manifest.len(),
                "platform": {"os": os, "architecture": architecture},
            }));
        }
        let mut index = serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests,
        });
        if !annotations.is_empty() {
            index["annotations"] = object(annotations);
        }
        self.put_manifest(tag, OCI_INDEX, &index.to_string())
    }

    fn image_manifest(&mut self, tag: &str, metadata: &ImageMetadata) -> String {
        let layer_digest = match &self.layer_digest {
            Some(digest) => digest.clone(),
            None => {
                let digest = self.upload_blob(LAYER);
                self.layer_digest = Some(digest.clone());
                digest
            }
        };
        let mut labels = vec![("dev.tagpilot.test.tag".to_string(), tag.to_string())];
        labels.extend(metadata.labels.iter().cloned());
        let mut config = serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "config": {"Labels": object(&labels)},
            "rootfs": {"type": "layers", "diff_ids": [sha256(LAYER)]},
        });
        if let Some(created) = &metadata.created {
            config["created"] = created.as_str().into();
        }
        let config = config.to_string();
        let config_digest = self.upload_blob(config.as_bytes());
        let mut manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": LAYER.len()}],
        });
        if !metadata.annotations.is_empty() {
            manifest["annotations"] = object(&metadata.annotations);
        }
        manifest.to_string()
    }

    /// PUTs `manifest` of `media_type` as `reference` (a tag or its digest); returns its digest.
    fn put_manifest(&self, reference: &str, media_type: &str, manifest: &str) -> String {
        let response = self
            .request(
                reqwest::Method::PUT,
                &format!(
                    "{}/v2/{}/manifests/{reference}",
                    self.registry.base_url(),
                    self.repository
                ),
            )
            .header("Content-Type", media_type)
            .body(manifest.to_string())
            .send()
            .expect("put manifest");
        assert_eq!(
            response.status().as_u16(),
            201,
            "manifest push failed: {:?}",
            response.text()
        );
        sha256(manifest.as_bytes())
    }

    /// Pushes every tag and returns their digests in order.
    pub fn push_all<'t>(&mut self, tags: impl IntoIterator<Item = &'t str>) -> Vec<String> {
        tags.into_iter().map(|tag| self.push(tag)).collect()
    }
}

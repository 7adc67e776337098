//! Secrets from YAML files (standalone mode): `v1` `Secret` objects with
//! `data` (base64) and `stringData`, collected into a [`SecretSet`] that the
//! registry client reads through [`SecretSource`]. Values are decoded into
//! [`Secret`] at once and never printed.

use std::collections::{BTreeMap, HashMap};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use super::meta::{ObjectMeta, object_key};
use crate::registry::{DockerConfig, ObjectKey, Secret, SecretData, SecretSource};

/// A `v1` Secret as written in a file.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretObject {
    /// Name and namespace.
    pub metadata: ObjectMeta,
    /// `type` (`Opaque` when absent).
    #[serde(rename = "type", default)]
    pub secret_type: Option<String>,
    #[serde(default)]
    data: BTreeMap<String, String>,
    #[serde(default)]
    string_data: BTreeMap<String, String>,
}

impl std::fmt::Debug for SecretObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretObject")
            .field("metadata", &self.metadata)
            .field("type", &self.secret_type)
            .field(
                "keys",
                &self
                    .data
                    .keys()
                    .chain(self.string_data.keys())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Why a Secret in a file is invalid.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// A `data` value is not base64.
    #[error("Secret {secret}: data.{key} is not base64")]
    NotBase64 {
        /// `namespace/name`.
        secret: String,
        /// The key.
        key: String,
    },
}

impl TryFrom<SecretObject> for (ObjectKey, SecretData) {
    type Error = SecretError;

    fn try_from(object: SecretObject) -> Result<Self, Self::Error> {
        let key = object_key(&object.metadata);
        let mut data = BTreeMap::new();
        for (name, value) in object.data {
            let compact: String = value.split_whitespace().collect();
            let decoded = STANDARD
                .decode(compact)
                .map_err(|_| SecretError::NotBase64 {
                    secret: key.to_string(),
                    key: name.clone(),
                })?;
            data.insert(name, Secret::new(decoded));
        }
        // As in Kubernetes, stringData wins over data.
        for (name, value) in object.string_data {
            data.insert(name, Secret::new(value.into_bytes()));
        }
        let secret_type = object.secret_type.unwrap_or_else(|| "Opaque".to_string());
        Ok((key, SecretData { secret_type, data }))
    }
}

/// Secrets by namespace and name.
#[derive(Debug, Clone, Default)]
pub struct SecretSet {
    secrets: HashMap<ObjectKey, SecretData>,
}

impl SecretSet {
    /// Adds (or replaces) a Secret.
    pub fn insert(&mut self, key: ObjectKey, data: SecretData) {
        self.secrets.insert(key, data);
    }

    /// How many Secrets there are.
    pub fn len(&self) -> usize {
        self.secrets.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// Every `kubernetes.io/dockerconfigjson` Secret merged into one Docker config;
    /// where two name the same host, the one first by namespace/name wins.
    /// Unreadable ones are skipped with a warning that names them.
    pub fn merged_docker_config(&self) -> DockerConfig {
        let mut keys: Vec<&ObjectKey> = self.secrets.keys().collect();
        keys.sort();
        let mut merged = DockerConfig::default();
        for key in keys {
            let Some(json) = self.secrets[key].get(".dockerconfigjson") else {
                continue;
            };
            match DockerConfig::parse(json) {
                Ok(config) => merged.merge(&config),
                Err(error) => {
                    tracing::warn!(secret = %key, %error, "skipping an unreadable .dockerconfigjson")
                }
            }
        }
        merged
    }
}

impl SecretSource for SecretSet {
    fn secret(&self, key: &ObjectKey) -> Option<SecretData> {
        self.secrets.get(key).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_is_decoded_and_string_data_wins() {
        let yaml = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\ntype: kubernetes.io/basic-auth\ndata:\n  username: dXNlcg==\n  password: b2xk\nstringData:\n  password: new\n";
        let object: SecretObject = serde_saphyr::from_str(yaml).unwrap();
        assert!(!format!("{object:?}").contains("b2xk"));
        let (key, data) = <(ObjectKey, SecretData)>::try_from(object).unwrap();
        assert_eq!(key, ObjectKey::new("default", "creds"));
        assert_eq!(data.secret_type, "kubernetes.io/basic-auth");
        assert_eq!(data.get("username").unwrap(), b"user");
        assert_eq!(data.get("password").unwrap(), b"new");
        assert!(!format!("{data:?}").contains("new"));
    }

    #[test]
    fn invalid_base64_names_the_secret_and_key() {
        let yaml = "metadata:\n  name: creds\n  namespace: apps\ndata:\n  password: '%%%'\n";
        let object: SecretObject = serde_saphyr::from_str(yaml).unwrap();
        let error = <(ObjectKey, SecretData)>::try_from(object)
            .unwrap_err()
            .to_string();
        assert_eq!(error, "Secret apps/creds: data.password is not base64");
    }
}

//! Which resource (plural, scope) serves an apiVersion and kind: one discovery
//! request per apiVersion, cached, forgotten when CRDs change what is served.

use std::collections::HashMap;

use kube::Client;
use kube::discovery::{ApiCapabilities, ApiResource, Scope};
use tokio::sync::Mutex;

use super::error::{ApplyError, is_transient_kube};

/// A resource the server serves and whether its objects live in namespaces.
#[derive(Debug, Clone)]
pub struct Served {
    /// The dynamic API resource.
    pub resource: ApiResource,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
}

/// The discovery cache of one client.
#[derive(Debug, Default)]
pub struct Discovery {
    by_api_version: Mutex<HashMap<String, Vec<(ApiResource, ApiCapabilities)>>>,
}

impl Discovery {
    /// The resource serving `kind` in `api_version`; `None` when the server has none.
    pub async fn resolve(
        &self,
        client: &Client,
        api_version: &str,
        kind: &str,
    ) -> Result<Option<Served>, ApplyError> {
        let mut cache = self.by_api_version.lock().await;
        if !cache.contains_key(api_version) {
            let resources = fetch(client, api_version).await?;
            cache.insert(api_version.to_string(), resources);
        }
        Ok(cache.get(api_version).and_then(|resources| {
            resources
                .iter()
                .find(|(resource, _)| resource.kind == kind)
                .map(|(resource, capabilities)| Served {
                    resource: resource.clone(),
                    namespaced: capabilities.scope == Scope::Namespaced,
                })
        }))
    }

    /// Forgets what was learnt about `api_version` (after a CRD changed it).
    pub async fn forget(&self, api_version: &str) {
        self.by_api_version.lock().await.remove(api_version);
    }
}

async fn fetch(
    client: &Client,
    api_version: &str,
) -> Result<Vec<(ApiResource, ApiCapabilities)>, ApplyError> {
    let Ok(group_version) = api_version.parse::<kube::core::GroupVersion>() else {
        return Ok(Vec::new());
    };
    match kube::discovery::pinned_group(client, &group_version).await {
        Ok(group) => Ok(group.versioned_resources(&group_version.version)),
        Err(error) if is_transient_kube(&error) => Err(ApplyError::Kube {
            action: format!("discovering {api_version}"),
            source: error,
        }),
        // 404 (no such group or version) and friends: nothing is served there.
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(Vec::new()),
        Err(error) => Err(ApplyError::Kube {
            action: format!("discovering {api_version}"),
            source: error,
        }),
    }
}

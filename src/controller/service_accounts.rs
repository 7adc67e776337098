//! `serviceAccountName` on an ImageRepository (provider `generic`), in
//! controller mode: the named ServiceAccount, in the repository's namespace,
//! is read at each snapshot, and its `imagePullSecrets` — read like any
//! referenced Secret — become the repository's extra registry credentials
//! ([`crate::registry::ScanTarget::pull_secrets`]), after `secretRef`, in the
//! ServiceAccount's order, as Flux's keychain uses them.
//!
//! A missing ServiceAccount is a dependency that may appear (`Ready=False`,
//! `DependencyNotReady`, retried); a ServiceAccount the controller may not read
//! says so with the API server's answer (the role needs `get serviceaccounts`,
//! `deploy/base/rbac.yaml`). With a cloud `provider`, Flux uses the ServiceAccount
//! for object-level workload identity; that is refused in
//! [`crate::config::support`] and the ServiceAccount is not read here.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ServiceAccount;

use super::conditions::{Health, REASON_DEPENDENCY_NOT_READY};
use super::kinds::Kind;
use super::snapshot::{ClusterReads, ObjectId};
use crate::config::load::RawObject;
use crate::config::meta::ObjectKey;
use crate::engine::objects::ObjectSet;

/// How reading a ServiceAccount went.
#[derive(Debug)]
pub enum AccountRead {
    /// Found: its image pull secrets, in its order.
    PullSecrets(Vec<ObjectKey>),
    /// Not found, or not readable: why.
    Unusable(Health),
}

/// The ServiceAccounts the snapshot's generic ImageRepositories name, by key.
#[derive(Debug, Default)]
pub struct ServiceAccounts(BTreeMap<ObjectKey, AccountRead>);

impl ServiceAccounts {
    /// Reads each ServiceAccount a `provider: generic` ImageRepository of `raw` names.
    pub async fn read(raw: &[RawObject], reads: &impl ClusterReads) -> Self {
        let mut accounts = BTreeMap::new();
        for object in raw.iter().filter(|o| o.kind == "ImageRepository") {
            let generic = object
                .value
                .pointer("/spec/provider")
                .and_then(|v| v.as_str())
                .is_none_or(|provider| provider == "generic");
            let Some(name) = object
                .value
                .pointer("/spec/serviceAccountName")
                .and_then(|v| v.as_str())
                .filter(|name| generic && !name.is_empty())
            else {
                continue;
            };
            let key = ObjectKey::new(object.namespace(), name);
            if accounts.contains_key(&key) {
                continue;
            }
            let read = match reads.service_account(&key).await {
                Ok(Some(account)) => AccountRead::PullSecrets(pull_secrets(&key, &account)),
                Ok(None) => AccountRead::Unusable(Health::Failed {
                    reason: REASON_DEPENDENCY_NOT_READY,
                    message: format!("spec.serviceAccountName: ServiceAccount {key} not found"),
                }),
                Err(error) => AccountRead::Unusable(Health::Failed {
                    reason: REASON_DEPENDENCY_NOT_READY,
                    message: format!(
                        "spec.serviceAccountName: cannot read ServiceAccount {key}: {error}"
                    ),
                }),
            };
            accounts.insert(key, read);
        }
        Self(accounts)
    }

    /// Every pull secret named, to be read with the other referenced Secrets.
    pub fn secret_keys(&self) -> impl Iterator<Item = &ObjectKey> {
        self.0.values().flat_map(|read| match read {
            AccountRead::PullSecrets(keys) => keys.as_slice(),
            AccountRead::Unusable(_) => &[],
        })
    }

    /// Gives each repository its ServiceAccount's pull secrets; a repository
    /// whose ServiceAccount is unusable does not run and gets a problem instead.
    pub fn apply(&self, objects: &mut ObjectSet, problems: &mut BTreeMap<ObjectId, Health>) {
        objects.repositories.retain(|key, entry| {
            let Some(account) = &entry.target.service_account else {
                return true;
            };
            match self.0.get(account) {
                Some(AccountRead::PullSecrets(keys)) => {
                    entry.target.pull_secrets = keys.clone();
                    true
                }
                Some(AccountRead::Unusable(health)) => {
                    problems.insert((Kind::ImageRepository, key.clone()), health.clone());
                    false
                }
                // Not read: a cloud provider (refused when validated).
                None => true,
            }
        });
    }
}

/// The `imagePullSecrets` of `account` as Secret keys in its namespace.
fn pull_secrets(account_key: &ObjectKey, account: &ServiceAccount) -> Vec<ObjectKey> {
    account
        .image_pull_secrets
        .iter()
        .flatten()
        .filter(|reference| !reference.name.is_empty())
        .map(|reference| ObjectKey::new(&account_key.namespace, &reference.name))
        .collect()
}

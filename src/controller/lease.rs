//! Leader election on a `coordination.k8s.io/v1` Lease, written directly with
//! optimistic concurrency (every update carries the `resourceVersion` it read,
//! so two candidates can never both win the same term).
//!
//! A candidate takes the Lease when it is free, expired (`renewTime` +
//! `leaseDurationSeconds` in the past) or already its own; the holder renews it
//! every third of the duration. A holder that cannot renew before the lease
//! would expire reports the loss, and the controller exits rather than risk
//! acting next to a new leader.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, PostParams};

/// Why the Lease could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// The API server refused a request other than a lost race.
    #[error("cannot read or write Lease {namespace}/{name}: {source}")]
    Api {
        /// The Lease's namespace.
        namespace: String,
        /// The Lease's name.
        name: String,
        /// The API error.
        #[source]
        source: Box<kube::Error>,
    },
}

/// How long after a Lease's expiry a standby tries to take it (clock granularity).
const EXPIRY_MARGIN: Duration = Duration::from_millis(50);

/// What one attempt on the Lease found.
enum Attempt {
    /// This candidate holds it now.
    Held,
    /// Another candidate holds it until `expires`.
    HeldByOther {
        /// When its last renewal runs out.
        expires: Timestamp,
    },
    /// Another candidate wrote it first (a lost race).
    Lost,
}

/// One candidate for the Lease.
pub struct LeaseLock {
    api: Api<Lease>,
    namespace: String,
    name: String,
    identity: String,
    duration: Duration,
}

impl LeaseLock {
    /// A candidate `identity` for Lease `namespace/name`, held for `duration` per renewal.
    pub fn new(
        client: kube::Client,
        namespace: &str,
        name: &str,
        identity: &str,
        duration: Duration,
    ) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_string(),
            name: name.to_string(),
            identity: identity.to_string(),
            duration,
        }
    }

    /// This candidate's identity.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// How often the holder renews and a standby retries.
    pub fn retry_period(&self) -> Duration {
        self.duration / 3
    }

    /// Takes or renews the Lease; `Ok(true)` when this candidate holds it now.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, LeaseError> {
        Ok(matches!(self.attempt().await?, Attempt::Held))
    }

    async fn attempt(&self) -> Result<Attempt, LeaseError> {
        let now = Timestamp::now();
        let seconds = i32::try_from(self.duration.as_secs().max(1)).unwrap_or(i32::MAX);
        let existing = self
            .api
            .get_opt(&self.name)
            .await
            .map_err(|e| self.error(e))?;
        let Some(mut lease) = existing else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    namespace: Some(self.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.identity.clone()),
                    lease_duration_seconds: Some(seconds),
                    acquire_time: Some(MicroTime(now)),
                    renew_time: Some(MicroTime(now)),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(Attempt::Held),
                Err(error) if is_conflict(&error) => Ok(Attempt::Lost),
                Err(error) => Err(self.error(error)),
            };
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let ours = holder == self.identity;
        if !ours && !holder.is_empty() {
            let held_for = SignedDuration::from_secs(i64::from(
                spec.lease_duration_seconds.unwrap_or(seconds),
            ));
            let expires = spec
                .renew_time
                .as_ref()
                .map(|t| t.0)
                .unwrap_or(Timestamp::UNIX_EPOCH)
                .checked_add(held_for)
                .unwrap_or(Timestamp::MAX);
            if expires > now {
                return Ok(Attempt::HeldByOther { expires });
            }
        }
        if !ours {
            spec.holder_identity = Some(self.identity.clone());
            spec.acquire_time = Some(MicroTime(now));
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        spec.lease_duration_seconds = Some(seconds);
        spec.renew_time = Some(MicroTime(now));
        // `replace` sends the resourceVersion read above: a concurrent writer makes it a 409.
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => {
                if !ours {
                    tracing::info!(lease = %self.name, previous = %holder, "acquired the lease");
                }
                Ok(Attempt::Held)
            }
            Err(error) if is_conflict(&error) => Ok(Attempt::Lost),
            Err(error) => Err(self.error(error)),
        }
    }

    /// Waits until this candidate holds the Lease. A standby sleeps until the
    /// holder's Lease would expire (at most a retry period), so it takes over
    /// within the lease duration of the holder's last renewal.
    pub async fn acquire(&self) {
        let mut logged = false;
        loop {
            let mut wait = self.retry_period();
            match self.attempt().await {
                Ok(Attempt::Held) => return,
                Ok(Attempt::HeldByOther { expires }) => {
                    if !logged {
                        tracing::info!(lease = %self.name, identity = %self.identity, "standing by: another replica holds the lease");
                        logged = true;
                    }
                    let left = expires.duration_since(Timestamp::now());
                    let until_expiry = if left.is_negative() {
                        EXPIRY_MARGIN
                    } else {
                        left.unsigned_abs().saturating_add(EXPIRY_MARGIN)
                    };
                    wait = wait.min(until_expiry);
                }
                Ok(Attempt::Lost) => {}
                Err(error) => tracing::warn!(%error, "leader election"),
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// Renews the Lease until a renewal fails for longer than the lease
    /// duration (or another candidate took it); then returns.
    pub async fn hold(&self) {
        let mut last_renewal = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(self.retry_period()).await;
            match self.try_acquire_or_renew().await {
                Ok(true) => last_renewal = tokio::time::Instant::now(),
                Ok(false) => {
                    tracing::error!(lease = %self.name, "another replica took the lease");
                    return;
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot renew the lease");
                    // Give up early enough that a standby cannot act next to us.
                    if last_renewal.elapsed() + self.retry_period() >= self.duration {
                        return;
                    }
                }
            }
        }
    }

    /// Gives the Lease up (on a clean shutdown) so a standby need not wait for it
    /// to expire. Only clears it while this candidate still holds it.
    pub async fn release(&self) -> Result<(), LeaseError> {
        let Some(mut lease) = self
            .api
            .get_opt(&self.name)
            .await
            .map_err(|e| self.error(e))?
        else {
            return Ok(());
        };
        let Some(spec) = lease.spec.as_mut() else {
            return Ok(());
        };
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.renew_time = None;
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => {
                tracing::info!(lease = %self.name, "released the lease");
                Ok(())
            }
            Err(error) if is_conflict(&error) => Ok(()),
            Err(error) => Err(self.error(error)),
        }
    }

    fn error(&self, source: kube::Error) -> LeaseError {
        LeaseError::Api {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            source: Box::new(source),
        }
    }
}

fn is_conflict(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 409)
}

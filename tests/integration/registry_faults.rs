//! Registry faults behind a fault-injecting proxy in front of a real registry:
//! 429 with `Retry-After`, 500s, a body cut mid-page, malformed JSON, and a
//! `Link` header to another host. Each first stores a good list, then checks
//! the documented behaviour and that the stored list is unchanged
//! (invariant 4). Waits are recorded by a sleeper, never timed.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tagpilot::config::secrets::SecretSet;
use tagpilot::registry::store::RecordOutcome;
use tagpilot::registry::{
    RegistryClient, ScanError, ScanOptions, ScanTarget, StoredTags, TagLister as _, TagStore,
};

use crate::harness::fault_proxy::{Fault, FaultProxy};
use crate::harness::images::ImagePusher;
use crate::harness::registry::{AuthMode, Distribution, Registry};
use crate::registry::{RecordingSleeper, block_on, client_with, target, test_options};

/// A registry with `team/app` (three tags) behind a proxy, a store holding the
/// good list, and the target through the proxy.
pub(crate) struct Setup {
    _registry: Registry,
    pub(crate) proxy: FaultProxy,
    store: TagStore,
    _state: tempfile::TempDir,
    pub(crate) target: ScanTarget,
    stored: Arc<StoredTags>,
}

pub(crate) fn setup(distribution: Distribution) -> Setup {
    let registry = Registry::start(distribution, AuthMode::Anonymous);
    ImagePusher::new(&registry, "team/app").push_all(["v1", "v2", "v3"]);
    ImagePusher::new(&registry, "team/other").push_all(["x"]);
    let proxy = FaultProxy::start(&registry.host);
    let state = tempfile::tempdir().unwrap();
    let store = TagStore::open(state.path()).unwrap();
    let target = target(&proxy.host, "team/app");
    let list =
        block_on(client_with(test_options(), SecretSet::default()).list_tags(&target)).unwrap();
    store
        .record(&target.id, target.image.name(), &list, SystemTime::now())
        .unwrap();
    let stored = store.get(&target.id).unwrap();
    assert_eq!(stored.tags, ["v1", "v2", "v3"]);
    proxy.reset();
    Setup {
        _registry: registry,
        proxy,
        store,
        _state: state,
        target,
        stored,
    }
}

impl Setup {
    /// Scans and offers the result to the store as the engine does: errors never reach it.
    pub(crate) fn scan_and_record(
        &self,
        client: &RegistryClient,
    ) -> Result<RecordOutcome, ScanError> {
        let list = block_on(client.list_tags(&self.target))?;
        Ok(self
            .store
            .record(
                &self.target.id,
                self.target.image.name(),
                &list,
                SystemTime::now(),
            )
            .unwrap())
    }

    /// The stored list is the setup's (a successful scan in between may only
    /// have refreshed its scan time, so that is not compared).
    pub(crate) fn assert_store_kept(&self) {
        let stored = self.store.get(&self.target.id).unwrap();
        assert_eq!(
            (&stored.tags, &stored.revision, stored.complete),
            (
                &self.stored.tags,
                &self.stored.revision,
                self.stored.complete
            )
        );
    }
}

pub(crate) fn is_tags_request(line: &str, repository: &str) -> bool {
    line.starts_with(&format!("GET /v2/{repository}/tags/list"))
}

#[test]
fn rate_limits_are_honoured_and_slow_the_host_down_for_everyone() {
    let setup = setup(Distribution::V2);
    let mut limited = false;
    setup.proxy.set_rule(move |line, _| {
        if is_tags_request(line, "team/app") && !limited {
            limited = true;
            Fault::Respond {
                status: 429,
                headers: vec![("Retry-After".into(), "40".into())],
                body: r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}"#.into(),
            }
        } else {
            Fault::Pass
        }
    });
    let sleeper = Arc::new(RecordingSleeper::default());
    let client = RegistryClient::builder(test_options())
        .sleeper(sleeper.clone())
        .build()
        .unwrap();
    let outcome = setup.scan_and_record(&client).unwrap();
    assert_eq!(outcome, RecordOutcome::Unchanged);
    let requests = setup.proxy.requests();
    assert_eq!(requests.len(), 2, "one 429, then the retry: {requests:?}");
    let waits = sleeper.0.lock().unwrap().clone();
    assert_eq!(waits.len(), 1, "{waits:?}");
    assert!(
        waits[0] > Duration::from_secs(30) && waits[0] <= Duration::from_secs(40),
        "waited for Retry-After before retrying: {waits:?}"
    );
    // Another repository on the same host waits out the same pause before its first request.
    let other = target(&setup.proxy.host, "team/other");
    assert_eq!(block_on(client.list_tags(&other)).unwrap().tags, ["x"]);
    let waits = sleeper.0.lock().unwrap().clone();
    assert_eq!(waits.len(), 2, "{waits:?}");
    assert!(waits[1] > Duration::from_secs(30), "{waits:?}");
    assert_eq!(
        setup.proxy.requests().len(),
        3,
        "no extra request was sent during the pause"
    );
}

#[test]
fn server_errors_are_retried_and_exhausted_retries_keep_the_old_list() {
    let setup = setup(Distribution::V2);
    setup.proxy.set_rule(|_, seen| {
        if seen < 2 {
            Fault::Respond {
                status: 503,
                headers: vec![],
                body: String::new(),
            }
        } else {
            Fault::Pass
        }
    });
    let client = client_with(test_options(), SecretSet::default());
    assert_eq!(
        setup.scan_and_record(&client).unwrap(),
        RecordOutcome::Unchanged
    );
    assert_eq!(setup.proxy.requests().len(), 3, "two 503s, then success");
    let before = setup.store.get(&setup.target.id).unwrap();

    setup.proxy.reset();
    setup.proxy.set_rule(|_, _| Fault::Respond {
        status: 500,
        headers: vec![],
        body: String::new(),
    });
    let error = setup.scan_and_record(&client).unwrap_err();
    assert!(
        matches!(error, ScanError::Status { status: 500, .. }),
        "{error}"
    );
    assert!(error.is_transient());
    assert_eq!(
        setup.proxy.requests().len(),
        4,
        "max_attempts requests, then give up"
    );
    assert_eq!(setup.store.get(&setup.target.id).unwrap(), before);
}

#[test]
fn a_body_cut_mid_page_is_retried_and_a_persistent_one_fails_cleanly() {
    let setup = setup(Distribution::V2);
    setup.proxy.set_rule(|_, seen| {
        if seen == 0 {
            Fault::CutBody
        } else {
            Fault::Pass
        }
    });
    let client = client_with(test_options(), SecretSet::default());
    assert_eq!(
        setup.scan_and_record(&client).unwrap(),
        RecordOutcome::Unchanged
    );
    assert_eq!(setup.proxy.requests().len(), 2);
    // The successful retry refreshed the scan time; the failed scan below must keep
    // exactly this entry (comparing with the setup's would race the clock's second).
    let before = setup.store.get(&setup.target.id).unwrap();

    setup.proxy.reset();
    setup.proxy.set_rule(|_, _| Fault::CutBody);
    let error = setup.scan_and_record(&client).unwrap_err();
    assert!(matches!(error, ScanError::Transport { .. }), "{error}");
    assert!(error.is_transient());
    assert!(error.to_string().contains("team/app"), "{error}");
    assert_eq!(setup.store.get(&setup.target.id).unwrap(), before);
}

#[test]
fn malformed_json_is_a_clear_permanent_error() {
    let setup = setup(Distribution::V2);
    setup
        .proxy
        .set_rule(|_, _| Fault::ReplaceBody(r#"{"name":"team/app","tags":["v1","#.into()));
    let client = client_with(test_options(), SecretSet::default());
    let error = setup.scan_and_record(&client).unwrap_err();
    assert!(
        matches!(error, ScanError::InvalidResponse { .. }),
        "{error}"
    );
    assert!(!error.is_transient());
    let message = error.to_string();
    assert!(
        message.contains("team/app") && message.contains("not a tag list"),
        "{message}"
    );
    assert_eq!(setup.proxy.requests().len(), 1, "not retried");
    setup.assert_store_kept();
}

#[test]
fn a_link_to_another_host_is_refused_without_following_it() {
    let setup = setup(Distribution::V3);
    setup.proxy.set_rule(|_, _| {
        Fault::SetHeader(
            "Link".into(),
            r#"<http://127.0.0.2:9/v2/team/app/tags/list?n=3&last=v3>; rel="next""#.into(),
        )
    });
    let client = client_with(test_options(), SecretSet::default());
    let error = setup.scan_and_record(&client).unwrap_err();
    assert!(matches!(error, ScanError::ForeignLink { .. }), "{error}");
    assert!(error.to_string().contains("127.0.0.2:9"), "{error}");
    assert!(!error.is_transient());
    assert_eq!(setup.proxy.requests().len(), 1);
    setup.assert_store_kept();

    // A relative link on the same host is followed.
    setup.proxy.reset();
    let mut first = true;
    setup.proxy.set_rule(move |_, _| {
        if std::mem::take(&mut first) {
            Fault::SetHeader(
                "Link".into(),
                r#"</v2/team/other/tags/list?n=1000>; rel="next""#.into(),
            )
        } else {
            Fault::Pass
        }
    });
    let list = block_on(client.list_tags(&setup.target)).unwrap();
    assert_eq!(list.tags, ["v1", "v2", "v3", "x"]);
    assert_eq!(list.pages, 2);
}

#[test]
fn options_page_size_is_sent_as_n() {
    let setup = setup(Distribution::V3);
    let client = client_with(
        ScanOptions {
            page_size: 2,
            ..test_options()
        },
        SecretSet::default(),
    );
    let list = block_on(client.list_tags(&setup.target)).unwrap();
    assert_eq!(list.pages, 2);
    let requests = setup.proxy.requests();
    assert!(requests[0].contains("n=2"), "{requests:?}");
}

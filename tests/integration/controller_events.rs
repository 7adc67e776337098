//! The controller's Kubernetes Events on a real API server: a repeat of an
//! event is counted in its `series` (or posted anew when that event is gone),
//! and a new message is a new event.

use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams};
use tagpilot::controller::events::EventSink;

use crate::harness::kube_api::KubeApiServer;

/// Runs `test` with a client of a new real API server and an event sink
/// posting to it (reporting instance `test-instance`).
fn on_api_server<Test, Done>(test: Test)
where
    Test: FnOnce(kube::Client, EventSink) -> Done,
    Done: std::future::Future<Output = ()>,
{
    let server = KubeApiServer::start();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = server.client().await;
        let events = EventSink::new(client.clone(), "test-instance");
        test(client, events).await;
    });
}

/// The ImagePolicy `default/NAME` with `uid`, as events name it.
fn policy_ref(name: &str, uid: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some("tagpilot.dev/v1alpha1".into()),
        kind: Some("ImagePolicy".into()),
        namespace: Some("default".into()),
        name: Some(name.into()),
        uid: Some(uid.into()),
        ..ObjectReference::default()
    }
}

/// Regression: kube's `Recorder` counted an event with a new message as a
/// repeat of the last one with the same reason (the policy that moved on to
/// 1.3.0 kept showing 1.1.0), and the third occurrence of one event must
/// patch the series of an event whose resourceVersion has moved on.
#[test]
fn repeats_are_counted_and_a_new_message_is_a_new_event() {
    on_api_server(|client, mut events| async move {
        let policy = policy_ref("api", "00000000-0000-0000-0000-000000000001");
        let first = "latest image is example.com/api:1.1.0";
        let then = "latest image changed from example.com/api:1.1.0 to example.com/api:1.3.0";
        for _ in 0..3 {
            events.normal(&policy, "NewLatestImage", first.into());
        }
        events.normal(&policy, "NewLatestImage", then.into());
        events.close(Duration::from_secs(30)).await;

        let posted = Api::<Event>::namespaced(client, "default")
            .list(&ListParams::default())
            .await
            .unwrap();
        let mut seen: Vec<(String, i32, String)> = posted
            .items
            .iter()
            .filter(|e| e.reporting_controller.as_deref() == Some("tagpilot"))
            .map(|e| {
                (
                    e.note.clone().unwrap_or_default(),
                    e.series.as_ref().map_or(1, |series| series.count),
                    e.reporting_instance.clone().unwrap_or_default(),
                )
            })
            .collect();
        seen.sort();
        assert_eq!(
            seen,
            [
                (then.to_string(), 1, "test-instance".to_string()),
                (first.to_string(), 3, "test-instance".to_string()),
            ],
            "{:#?}",
            posted.items
        );
    });
}

/// Regression: an event was named after its object plus a 17-character
/// suffix, so an object with a name of 238 characters or more (up to 253 are
/// valid) had every event refused by the API server.
#[test]
fn an_object_with_the_longest_name_gets_its_events() {
    on_api_server(|client, mut events| async move {
        let name = format!("{}-{}", "a".repeat(236), "b".repeat(16));
        assert_eq!(name.len(), 253);
        let policy = policy_ref(&name, "00000000-0000-0000-0000-000000000002");
        events.normal(&policy, "NewLatestImage", "latest image is x:1".into());
        events.warning(&policy, "Failed", "the registry answered 500".into());
        events.close(Duration::from_secs(30)).await;

        let posted = Api::<Event>::namespaced(client, "default")
            .list(&ListParams::default())
            .await
            .unwrap();
        let mut seen: Vec<(String, String)> = posted
            .items
            .iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(&name))
            .map(|e| {
                let event_name = e.metadata.name.clone().unwrap_or_default();
                assert!(event_name.len() <= 253, "{event_name}");
                (
                    e.reason.clone().unwrap_or_default(),
                    e.note.clone().unwrap_or_default(),
                )
            })
            .collect();
        seen.sort();
        assert_eq!(
            seen,
            [
                (
                    "Failed".to_string(),
                    "the registry answered 500".to_string()
                ),
                (
                    "NewLatestImage".to_string(),
                    "latest image is x:1".to_string()
                ),
            ]
        );
    });
}

/// A repeat is counted on the event already posted; when that event is gone
/// (the API server's event TTL, or someone deleted it) the repeat is posted
/// as a new event, not lost.
#[test]
fn a_repeat_of_a_deleted_event_is_posted_anew() {
    on_api_server(|client, mut events| async move {
        let api = Api::<Event>::namespaced(client.clone(), "default");
        let policy = policy_ref("api", "00000000-0000-0000-0000-000000000003");
        let note = "latest image is example.com/api:1.1.0";
        let ours = |list: Vec<Event>| -> Vec<Event> {
            list.into_iter()
                .filter(|e| e.reporting_controller.as_deref() == Some("tagpilot"))
                .collect()
        };
        events.normal(&policy, "NewLatestImage", note.into());
        let mut first = Vec::new();
        for _ in 0..300 {
            first = ours(api.list(&ListParams::default()).await.unwrap().items);
            if !first.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(first.len(), 1, "the first event was not posted in 30 s");
        let first_name = first[0].metadata.name.clone().unwrap();
        api.delete(&first_name, &Default::default()).await.unwrap();

        events.normal(&policy, "NewLatestImage", note.into());
        events.close(Duration::from_secs(30)).await;

        let posted = ours(api.list(&ListParams::default()).await.unwrap().items);
        let seen: Vec<(String, i32)> = posted
            .iter()
            .map(|e| {
                (
                    e.note.clone().unwrap_or_default(),
                    e.series.as_ref().map_or(1, |series| series.count),
                )
            })
            .collect();
        assert_eq!(seen, [(note.to_string(), 1)], "{posted:#?}");
        assert_ne!(
            posted[0].metadata.name.as_deref(),
            Some(first_name.as_str())
        );
    });
}

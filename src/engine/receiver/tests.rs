use axum::http::{HeaderMap, HeaderValue};
use serde_json::json;

use super::google::GoogleKeys;
use super::payload;
use super::verify::{Refusal, sign_for_tests, verify};
use super::*;
use crate::config::secrets::SecretSet;
use crate::registry::SecretData;

fn secrets(pairs: &[(&str, &str)]) -> SecretSet {
    let mut set = SecretSet::default();
    let data = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Secret::new(v.as_bytes().to_vec())))
        .collect();
    set.insert(
        ObjectKey::new("flux-system", "webhook-token"),
        SecretData {
            secret_type: "Opaque".into(),
            data,
        },
    );
    set
}

fn object(receiver_type: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut spec = json!({
        "type": receiver_type,
        "secretRef": {"name": "webhook-token"},
        "resources": [{"kind": "ImageRepository", "name": "app"}],
    });
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra.as_object()) {
        spec.extend(extra.clone());
    }
    json!({
        "apiVersion": "notification.toolkit.fluxcd.io/v1",
        "kind": "Receiver",
        "metadata": {"name": "webhook", "namespace": "flux-system"},
        "spec": spec,
    })
}

#[test]
fn a_flux_receiver_becomes_a_route_with_fluxs_path() {
    let receiver = Receiver::from_object(
        &object("github", json!({"events": ["package"]})),
        &secrets(&[("token", "s3cret")]),
    )
    .unwrap();
    assert_eq!(receiver.receiver_type, ReceiverType::GitHub);
    assert_eq!(receiver.events, ["package"]);
    assert_eq!(receiver.resources[0].namespace, "flux-system");
    assert_eq!(receiver.resources[0].kind, Some(Kind::ImageRepository));
    // sha256("s3cret" + "webhook" + "flux-system"), as Flux's GetWebhookPath.
    assert_eq!(
        receiver.webhook_path(),
        "/hook/255469dea91562bb37f226cebdd46f0b1a4e18d0f2b2e3e37bb3f815326219f3"
    );
    assert_eq!(format!("{:?}", receiver.token), "[redacted]");
    let table = ReceiverTable::new(vec![receiver.clone()]);
    assert!(table.get(&receiver.webhook_path()).is_some());
    assert!(table.get("/hook/00").is_none());
    assert_eq!(table.keys(), [ObjectKey::new("flux-system", "webhook")]);
}

#[test]
fn receivers_that_cannot_be_served_say_why() {
    let with_token = secrets(&[("token", "s3cret")]);
    let error = |value: serde_json::Value, set: &SecretSet| {
        Receiver::from_object(&value, set).unwrap_err().to_string()
    };
    assert!(
        error(object("bitbucket", json!({})), &with_token)
            .contains("spec.type \"bitbucket\" is not served by tagpilot"),
    );
    assert!(
        error(
            object("generic", json!({"resourceFilter": "true"})),
            &with_token
        )
        .contains("CEL) are not supported yet")
    );
    assert!(
        error(object("generic", json!({})), &SecretSet::default())
            .contains("Secret flux-system/webhook-token (spec.secretRef) does not exist")
    );
    assert!(
        error(object("gcr", json!({})), &with_token)
            .contains("Secret flux-system/webhook-token has no \"email\" key")
    );
    assert!(
        error(
            object(
                "generic",
                json!({"resources": [{"kind": "ImageRepository", "name": "*"}]})
            ),
            &with_token
        )
        .contains("name \"*\" needs matchLabels")
    );
    let mut old = object("generic", json!({}));
    old["apiVersion"] = "notification.toolkit.fluxcd.io/v1beta1".into();
    assert!(error(old, &with_token).contains("is not notification.toolkit.fluxcd.io/v1"));
    // Never the token's value.
    let text = error(object("nexus", json!({"resources": []})), &with_token);
    assert!(!text.contains("s3cret"), "{text}");
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(*name, HeaderValue::from_str(value).unwrap());
    }
    map
}

#[tokio::test]
async fn signatures_are_checked_per_type() {
    let google = GoogleKeys::new("http://127.0.0.1:9/unused");
    let set = secrets(&[("token", "s3cret")]);
    let hmac = Receiver::from_object(&object("generic-hmac", json!({})), &set).unwrap();
    let body = br#"{"a":1}"#;
    for algorithm in ["sha1", "sha256", "sha512"] {
        let signature = format!("{algorithm}={}", sign_for_tests(algorithm, b"s3cret", body));
        verify(
            &hmac,
            &headers(&[("x-signature", &signature)]),
            body,
            &google,
        )
        .await
        .unwrap();
    }
    let wrong = format!("md5={}", sign_for_tests("sha256", b"s3cret", body));
    let refusal = verify(&hmac, &headers(&[("x-signature", &wrong)]), body, &google)
        .await
        .unwrap_err();
    assert!(matches!(refusal, Refusal::Unauthorized(_)), "{refusal}");
    assert_eq!(refusal.status(), 401);

    // GitHub also sends form-encoded bodies; the signature covers the raw body.
    let github = Receiver::from_object(&object("github", json!({})), &set).unwrap();
    let form = b"payload=%7B%22zen%22%3A%22Keep+it+simple.%22%7D";
    let signature = format!("sha256={}", sign_for_tests("sha256", b"s3cret", form));
    verify(
        &github,
        &headers(&[
            ("x-hub-signature-256", &signature),
            ("x-github-event", "ping"),
            ("content-type", "application/x-www-form-urlencoded"),
            ("x-github-delivery", "d-1"),
        ]),
        form,
        &google,
    )
    .await
    .unwrap();
    let sha1 = format!("sha1={}", sign_for_tests("sha1", b"s3cret", body));
    let delivery = verify(
        &github,
        &headers(&[("x-hub-signature", &sha1), ("x-github-delivery", "d-2")]),
        body,
        &google,
    )
    .await
    .unwrap();
    assert_eq!(delivery.id.as_deref(), Some("d-2"));
}

#[test]
fn payloads_name_the_pushed_images_as_each_sender_writes_them() {
    let image =
        |host: Option<&str>, repository: &str, tag: &str| crate::engine::webhook::PushedImage {
            host: host.map(str::to_string),
            repository: repository.into(),
            tag: tag.into(),
        };
    let quay =
        payload::quay(br#"{"docker_url":"quay.io/team/app","updated_tags":["v1","v2"]}"#).unwrap();
    assert_eq!(
        quay.pushed,
        [
            image(Some("quay.io"), "team/app", "v1"),
            image(Some("quay.io"), "team/app", "v2")
        ]
    );
    let acr = payload::acr(br#"{"id":"x","timestamp":"2026-11-30T10:00:00Z","action":"push","target":{"repository":"app","tag":"v3"},"request":{"host":"reg.azurecr.io"}}"#).unwrap();
    assert_eq!(acr.pushed, [image(Some("reg.azurecr.io"), "app", "v3")]);
    assert_eq!(acr.sent_at.unwrap().to_string(), "2026-11-30T10:00:00Z");
    let nexus = payload::nexus(br#"{"timestamp":"2016-11-10T23:57:49.664+0000","action":"CREATED","component":{"format":"docker","name":"team/app","version":"v4"}}"#).unwrap();
    assert_eq!(nexus.pushed, [image(None, "team/app", "v4")]);
    assert_eq!(nexus.sent_at.unwrap().as_second(), 1_478_822_269);
    let ecr = payload::generic(
        &HeaderMap::new(),
        br#"{"version":"0","id":"e-1","detail-type":"ECR Image Action","source":"aws.ecr","account":"123456789012","time":"2026-11-30T10:00:00Z","region":"eu-west-1","detail":{"result":"SUCCESS","repository-name":"app","action-type":"PUSH","image-tag":"v5"}}"#,
    );
    assert_eq!(
        ecr.pushed,
        [image(
            Some("123456789012.dkr.ecr.eu-west-1.amazonaws.com"),
            "app",
            "v5"
        )]
    );
    assert_eq!(ecr.id.as_deref(), Some("e-1"));
    // A failed push, or a delete, announces nothing.
    let failed = payload::generic(
        &HeaderMap::new(),
        br#"{"detail-type":"ECR Image Action","detail":{"result":"FAILURE","repository-name":"app","action-type":"PUSH","image-tag":"v5"}}"#,
    );
    assert!(failed.pushed.is_empty());
    assert!(
        payload::generic(&HeaderMap::new(), b"not json")
            .pushed
            .is_empty()
    );
    assert!(matches!(
        payload::docker_hub(b"[]"),
        Err(Refusal::Payload(_))
    ));
    assert!(matches!(
        payload::gcr(br#"{"message":{"data":"%%%"}}"#),
        Err(Refusal::Payload(_))
    ));
}

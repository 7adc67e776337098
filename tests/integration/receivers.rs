//! Flux's Receiver types on `tagpilot run --listen`: one test per type, each
//! with a payload shaped as its sender documents it, the refusals its
//! verification makes (wrong signature or token, wrong path, wrong event, a
//! body that is not the sender's), and a replay (answered, not acted on).
//! The Receiver YAML is Flux's `notification.toolkit.fluxcd.io/v1`, unchanged.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use openssl::hash::MessageDigest;

use crate::harness::receivers::{
    Delivery, Hooked, JwksServer, hmac_hex, receiver_yaml, webhook_path,
};

const TOKEN: &str = "rcv-token-5b2e91";

fn now_rfc3339() -> String {
    jiff::Timestamp::now().to_string()
}

#[test]
fn generic_receivers_trust_the_secret_path_only() {
    let hooked = Hooked::start("generic", TOKEN, &[], "", &[]);
    let good = |tag: &str| Delivery::json(format!(r#"{{"source":"ci","tag":"{tag}"}}"#));
    let wrong_path = Delivery {
        path: Some(webhook_path("another-token", "generic-hook", "shop")),
        ..good("1.0.9")
    };
    hooked.check("generic", good, &[(wrong_path, 404)]);
}

#[test]
fn generic_hmac_receivers_check_x_signature() {
    let hooked = Hooked::start("generic-hmac", TOKEN, &[], "", &[]);
    let body = |tag: &str| format!(r#"{{"tag":"{tag}"}}"#);
    let good = |tag: &str| {
        let body = body(tag);
        let signature = hmac_hex(MessageDigest::sha256(), TOKEN, body.as_bytes());
        Delivery::json(body).header("X-Signature", format!("sha256={signature}"))
    };
    let sha1 = hmac_hex(MessageDigest::sha1(), "wrong", body("1.0.9").as_bytes());
    hooked.check(
        "generic-hmac",
        good,
        &[
            (
                Delivery::json(body("1.0.9")).header("X-Signature", format!("sha1={sha1}")),
                401,
            ),
            (Delivery::json(body("1.0.9")), 401),
        ],
    );
}

fn github_package(tag: &str) -> String {
    format!(
        r#"{{"action":"published","package":{{"id":1,"name":"api","namespace":"shop","ecosystem":"CONTAINER","package_type":"CONTAINER","html_url":"https://github.com/orgs/shop/packages/container/package/api","package_version":{{"id":7,"version":"sha256:0b1f","name":"sha256:0b1f","container_metadata":{{"tag":{{"name":"{tag}","digest":"sha256:0b1f"}}}},"package_url":"ghcr.io/shop/api:{tag}"}},"registry":{{"about_url":"https://docs.github.com/packages","name":"GitHub CONTAINER registry","type":"CONTAINER","url":"https://ghcr.io/shop","vendor":"GitHub Inc"}}}},"repository":{{"full_name":"shop/api"}},"sender":{{"login":"ci-bot"}}}}"#
    )
}

#[test]
fn github_receivers_check_x_hub_signature_256_and_the_event() {
    let hooked = Hooked::start("github", TOKEN, &[], "  events:\n    - package\n", &[]);
    let signed = |body: &str, event: &str, delivery: &str| {
        let signature = hmac_hex(MessageDigest::sha256(), TOKEN, body.as_bytes());
        Delivery::json(body.to_string())
            .header("X-GitHub-Event", event)
            .header("X-GitHub-Delivery", delivery)
            .header("X-Hub-Signature-256", format!("sha256={signature}"))
            .header("User-Agent", "GitHub-Hookshot/3f4a1b2")
    };
    let good = |tag: &str| signed(&github_package(tag), "package", &format!("d-{tag}"));
    let forged = {
        let mut delivery = good("1.0.9");
        delivery.body = github_package("6.6.6").into_bytes();
        delivery
    };
    hooked.check(
        "github",
        good,
        &[
            (forged, 401),
            (
                signed(r#"{"ref":"refs/heads/main"}"#, "push", "d-push"),
                400,
            ),
            // A known delivery id with another body is a replay too.
            (signed(&github_package("1.0.8"), "package", "d-1.0.1"), 200),
        ],
    );
}

#[test]
fn gitlab_receivers_check_x_gitlab_token() {
    let hooked = Hooked::start("gitlab", TOKEN, &[], "", &[]);
    let body = |tag: &str| {
        format!(
            r#"{{"object_kind":"pipeline","object_attributes":{{"id":31,"ref":"{tag}","tag":true,"status":"success"}},"project":{{"path_with_namespace":"shop/api"}}}}"#
        )
    };
    let good = |tag: &str| {
        Delivery::json(body(tag))
            .header("X-Gitlab-Event", "Pipeline Hook")
            .header("X-Gitlab-Token", TOKEN)
            .header("X-Gitlab-Event-UUID", format!("uuid-{tag}"))
    };
    hooked.check(
        "gitlab",
        good,
        &[(
            Delivery::json(body("1.0.9"))
                .header("X-Gitlab-Event", "Pipeline Hook")
                .header("X-Gitlab-Token", "guess"),
            401,
        )],
    );
}

#[test]
fn harbor_receivers_check_the_authorization_header() {
    let hooked = Hooked::start("harbor", TOKEN, &[], "", &[]);
    let host = hooked.world.registry.host.clone();
    let body = move |tag: &str| {
        format!(
            r#"{{"type":"PUSH_ARTIFACT","occur_at":{},"operator":"ci","event_data":{{"resources":[{{"digest":"sha256:0b1f","tag":"{tag}","resource_url":"{host}/shop/api:{tag}"}}],"repository":{{"date_created":1700000000,"name":"api","namespace":"shop","repo_full_name":"shop/api","repo_type":"private"}}}}}}"#,
            jiff::Timestamp::now().as_second()
        )
    };
    let good = |tag: &str| Delivery::json(body(tag)).header("Authorization", TOKEN);
    hooked.check(
        "harbor",
        good,
        &[(
            Delivery::json(body("1.0.9")).header("Authorization", format!("Bearer {TOKEN}")),
            401,
        )],
    );
}

#[test]
fn dockerhub_receivers_need_a_docker_hub_payload() {
    let hooked = Hooked::start("dockerhub", TOKEN, &[], "", &[]);
    let good = |tag: &str| {
        Delivery::json(format!(
            r#"{{"callback_url":"https://registry.hub.docker.com/u/shop/api/hook/2141b5bi5i5b02bec211i4eeih0242eg11000a/","push_data":{{"pushed_at":{},"pusher":"ci","tag":"{tag}"}},"repository":{{"comment_count":0,"date_created":1417494799,"description":"","is_official":false,"is_private":true,"is_trusted":true,"name":"api","namespace":"shop","owner":"shop","repo_name":"shop/api","repo_url":"https://registry.hub.docker.com/u/shop/api/","star_count":0,"status":"Active"}}}}"#,
            jiff::Timestamp::now().as_second()
        ))
    };
    let stale = Delivery::json(
        r#"{"push_data":{"pushed_at":1417566161,"tag":"1.0.9"},"repository":{"repo_name":"shop/api"}}"#,
    );
    hooked.check(
        "dockerhub",
        good,
        &[
            (Delivery::json("not json"), 400),
            (Delivery::json(r#"{"hello":"world"}"#), 400),
            // Older than the replay window: answered, not acted on.
            (stale, 200),
        ],
    );
    assert_eq!(hooked.deliveries("dockerhub", "stale"), 1.0);
}

#[test]
fn quay_receivers_need_a_quay_payload() {
    let hooked = Hooked::start("quay", TOKEN, &[], "", &[]);
    let good = |tag: &str| {
        Delivery::json(format!(
            r#"{{"name":"api","repository":"shop/api","namespace":"shop","docker_url":"quay.io/shop/api","homepage":"https://quay.io/repository/shop/api","updated_tags":["{tag}"]}}"#
        ))
    };
    hooked.check(
        "quay",
        good,
        &[(Delivery::json(r#"{"updated_tags":["1.0.9"]}"#), 400)],
    );
}

#[test]
fn acr_receivers_need_an_acr_payload() {
    let hooked = Hooked::start("acr", TOKEN, &[], "", &[]);
    let host = hooked.world.registry.host.clone();
    let good = move |tag: &str| {
        Delivery::json(format!(
            r#"{{"id":"cb8c3971-{tag}","timestamp":"{}","action":"push","target":{{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":524,"digest":"sha256:0b1f","length":524,"repository":"shop/api","tag":"{tag}"}},"request":{{"id":"3cbb6949","host":"{host}","method":"PUT","useragent":"docker/24.0"}}}}"#,
            now_rfc3339()
        ))
    };
    hooked.check("acr", good, &[(Delivery::json("[1,2]"), 400)]);
}

#[test]
fn nexus_receivers_check_the_hmac_sha1_signature() {
    let hooked = Hooked::start("nexus", TOKEN, &[], "", &[]);
    let body = |tag: &str| {
        format!(
            r#"{{"timestamp":"2026-11-30T10:00:00.000+0000","nodeId":"52905B51-085CCABB","initiator":"ci/10.0.0.7","repositoryName":"docker-hosted","action":"CREATED","component":{{"id":"08909bf0","componentId":"Y29tcG9uZW50","format":"docker","name":"shop/api","version":"{tag}"}}}}"#
        )
        .replace("2026-11-30T10:00:00.000+0000", &jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string())
    };
    let good = |tag: &str| {
        let body = body(tag);
        let signature = hmac_hex(MessageDigest::sha1(), TOKEN, body.as_bytes());
        Delivery::json(body)
            .header("X-Nexus-Webhook-Signature", signature)
            .header("X-Nexus-Webhook-Id", "rm:repository:component")
    };
    let bad = {
        let body = body("1.0.9");
        let signature = hmac_hex(MessageDigest::sha1(), "other", body.as_bytes());
        Delivery::json(body).header("X-Nexus-Webhook-Signature", signature)
    };
    hooked.check(
        "nexus",
        good,
        &[(bad, 401), (Delivery::json(body("1.0.9")), 401)],
    );
}

#[test]
fn gcr_receivers_check_googles_id_token_for_the_subscriptions_account() {
    const KID: &str = "test-key-1";
    const EMAIL: &str = "push@shop-prod.iam.gserviceaccount.com";
    const AUDIENCE: &str = "https://hooks.shop.example/gcr";
    let jwks = JwksServer::start(KID);
    let hooked = Hooked::start(
        "gcr",
        TOKEN,
        &[("email", EMAIL), ("audience", AUDIENCE)],
        "",
        &["--google-certs-url", &jwks.url],
    );
    let claims = |email: &str, audience: &str, expires_in: i64| {
        let now = jiff::Timestamp::now().as_second();
        serde_json::json!({
            "iss": "https://accounts.google.com", "aud": audience, "azp": "1122",
            "email": email, "email_verified": true, "iat": now, "exp": now + expires_in,
            "sub": "1122",
        })
    };
    let host = hooked.world.registry.host.clone();
    let body = move |tag: &str| {
        let data = STANDARD.encode(format!(
            r#"{{"action":"INSERT","digest":"{host}/shop/api@sha256:0b1f","tag":"{host}/shop/api:{tag}"}}"#
        ));
        format!(
            r#"{{"message":{{"attributes":{{}},"data":"{data}","messageId":"1369693469{}","publishTime":"{}"}},"subscription":"projects/shop-prod/subscriptions/tagpilot"}}"#,
            tag.replace('.', ""),
            now_rfc3339()
        )
    };
    let with_token = |token: String, tag: &str| {
        Delivery::json(body(tag)).header("Authorization", format!("Bearer {token}"))
    };
    let good = |tag: &str| {
        with_token(
            JwksServer::token(&jwks.key, KID, &claims(EMAIL, AUDIENCE, 3600)),
            tag,
        )
    };
    let other_key =
        openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
    hooked.check(
        "gcr",
        good,
        &[
            (
                with_token(
                    JwksServer::token(&other_key, KID, &claims(EMAIL, AUDIENCE, 3600)),
                    "1.0.9",
                ),
                401,
            ),
            (
                with_token(
                    JwksServer::token(
                        &jwks.key,
                        KID,
                        &claims("evil@x.iam.gserviceaccount.com", AUDIENCE, 3600),
                    ),
                    "1.0.9",
                ),
                401,
            ),
            (
                with_token(
                    JwksServer::token(&jwks.key, KID, &claims(EMAIL, "https://elsewhere", 3600)),
                    "1.0.9",
                ),
                401,
            ),
            (
                with_token(
                    JwksServer::token(&jwks.key, KID, &claims(EMAIL, AUDIENCE, -3600)),
                    "1.0.9",
                ),
                401,
            ),
            (Delivery::json(body("1.0.9")), 401),
        ],
    );
}

/// Amazon ECR has no Flux Receiver type: its `ECR Image Action` events reach
/// a `generic` Receiver through an EventBridge API destination, as
/// CloudEvents (structured here; binary mode is the same data with `ce-*`
/// headers) or as the raw EventBridge event.
#[test]
fn ecr_pushes_arrive_as_eventbridge_cloudevents_on_a_generic_receiver() {
    let hooked = Hooked::start("generic", TOKEN, &[], "", &[]);
    let event = |tag: &str| {
        serde_json::json!({
            "version": "0", "id": format!("13cde686-{tag}"), "detail-type": "ECR Image Action",
            "source": "aws.ecr", "account": "123456789012", "time": now_rfc3339(),
            "region": "eu-west-1", "resources": [],
            "detail": {"result": "SUCCESS", "repository-name": "shop/api",
                "image-digest": "sha256:0b1f", "action-type": "PUSH", "image-tag": tag},
        })
    };
    let structured = |tag: &str| Delivery {
        headers: vec![("Content-Type".into(), "application/cloudevents+json".into())],
        body: serde_json::json!({
            "specversion": "1.0", "id": format!("ce-{tag}"), "source": "aws.ecr",
            "type": "aws.ecr.image.action", "time": now_rfc3339(),
            "datacontenttype": "application/json", "data": event(tag),
        })
        .to_string()
        .into_bytes(),
        path: None,
    };
    let binary = Delivery::json(event("1.0.7").to_string())
        .header("ce-specversion", "1.0")
        .header("ce-id", "ce-1.0.1")
        .header("ce-source", "aws.ecr")
        .header("ce-type", "aws.ecr.image.action");
    // The binary-mode event reuses the first event's CloudEvents id: a replay.
    hooked.check("generic", structured, &[(binary, 200)]);
    assert_eq!(hooked.deliveries("generic", "replayed"), 2.0);
}

/// `spec:` of a document, with `suspend: true` added under it.
fn suspended(yaml: &str, kind: &str) -> String {
    let start = yaml.find(&format!("kind: {kind}\n")).unwrap();
    let spec = start + yaml[start..].find("spec:\n").unwrap() + "spec:\n".len();
    format!("{}  suspend: true\n{}", &yaml[..spec], &yaml[spec..])
}

/// Regression: a Receiver (like a registry webhook) asking for a suspended
/// ImageRepository scanned it, and one asking for a suspended automation, or
/// for its GitRepository, ran it: commit and push included. As in Flux, a
/// suspended object does nothing until it is resumed, whatever asks.
#[test]
fn a_receiver_neither_scans_nor_runs_suspended_objects() {
    use crate::harness::process::free_port;
    use crate::harness::tagpilot::{Automation, Tagpilot, plain_source, semver_image, wait_for};

    let world = crate::engine::World::with(&[
        ("api", &["1.0.0"]),
        ("web", &["1.0.0", "1.0.1"]),
        ("db", &["1.0.0", "1.0.1"]),
    ]);
    let tagpilot = Tagpilot::new();
    let image = |name: &str| semver_image(name, &world.image_of(name), ">=1.0.0 <2.0.0", "1h");
    tagpilot.write(
        "images.yaml",
        &format!(
            "{}---\n{}---\n{}",
            image("api"),
            image("web"),
            suspended(&image("db"), "ImageRepository")
        ),
    );
    tagpilot.write(
        "source.yaml",
        &plain_source(&format!("file://{}", world.bare.display())),
    );
    let bot = |name: &str, app: &str| {
        let mut automation = Automation::new(name);
        automation.app = Some(app.into());
        automation.yaml()
    };
    tagpilot.write(
        "automations.yaml",
        &format!(
            "{}---\n{}",
            bot("api-bot", "api"),
            suspended(&bot("web-bot", "web"), "ImageUpdateAutomation")
        ),
    );
    tagpilot.write(
        "receiver.yaml",
        &receiver_yaml(
            "all-hook",
            "generic",
            "",
            &[
                "{apiVersion: image.toolkit.fluxcd.io/v1, kind: ImageUpdateAutomation, name: web-bot}",
                "{apiVersion: source.toolkit.fluxcd.io/v1, kind: GitRepository, name: config}",
                "{apiVersion: image.toolkit.fluxcd.io/v1, kind: ImageRepository, name: db}",
                "{apiVersion: image.toolkit.fluxcd.io/v1, kind: ImageRepository, name: api}",
            ],
            TOKEN,
            &[],
        ),
    );
    let listen = format!("127.0.0.1:{}", free_port());
    let daemon = tagpilot.spawn_daemon(&["--listen", &listen]);
    let client = reqwest::blocking::Client::new();
    let status = || -> Option<serde_json::Value> {
        let output = tagpilot
            .command()
            .args(["status", "-o", "json", "--state-dir"])
            .arg(tagpilot.state_dir())
            .output()
            .ok()?;
        serde_json::from_slice(&output.stdout).ok()
    };
    // Started: api and web scanned, api-bot ran (nothing to change yet).
    wait_for(
        "the first scans and api-bot's first run",
        || {
            let status = status()?;
            let scanned = |name: &str| {
                status["repositories"][format!("shop/{name}")]["lastScanTime"].is_string()
            };
            (scanned("api")
                && scanned("web")
                && status["automations"]["shop/api-bot"]["lastRunTime"].is_string())
            .then_some(())
        },
        || daemon.log_text(),
    );
    crate::harness::images::ImagePusher::new(&world.registry, "shop/api").push("1.0.1");

    let response = client
        .post(format!(
            "http://{listen}{}",
            webhook_path(TOKEN, "all-hook", "shop")
        ))
        .header("Content-Type", "application/json")
        .body(r#"{"source":"ci"}"#)
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200, "{}", daemon.log_text());
    wait_for(
        "api 1.0.1 committed",
        || world.file("api").contains(":1.0.1 #").then_some(()),
        || format!("{}\n{}", world.file("api"), daemon.log_text()),
    );
    let status = wait_for(
        "status.json with api-bot's second run",
        || {
            let status = status()?;
            status["automations"]["shop/api-bot"]["lastPushCommit"]
                .is_string()
                .then_some(status)
        },
        || daemon.log_text(),
    );
    let log = daemon.log_text();
    assert!(
        world.file("web").contains(":1.0.0 #"),
        "the suspended web-bot did not run:\n{}\n{log}",
        world.file("web")
    );
    assert_eq!(world.commit_count(), 2, "api's commit only\n{log}");
    assert!(
        status["automations"]["shop/web-bot"]["lastRunTime"].is_null(),
        "{status:#}"
    );
    assert!(
        status["repositories"]["shop/db"]["lastScanTime"].is_null(),
        "the suspended db was not scanned: {status:#}"
    );
    assert!(
        !log.lines()
            .any(|line| line.contains("scanning now") && line.contains("shop/db")),
        "{log}"
    );
}

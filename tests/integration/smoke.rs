//! Smoke tests: each harness server really answers (authenticated tag lists,
//! pagination, clone and push, the ECR API). A server that cannot start fails
//! here with what to install.

use std::process::Command;

use base64::Engine as _;
use reqwest::blocking::Client;
use tempfile::TempDir;

use crate::harness::git_server::{
    GIT_PASSWORD, GIT_USER, GitRepos, HttpGitServer, SshGitServer, git,
};
use crate::harness::images::{ImagePusher, MANIFEST_ACCEPT};
use crate::harness::moto::{ACCOUNT, Moto};
use crate::harness::process::{require_program, run};
use crate::harness::registry::{AuthMode, Distribution, PASSWORD, Registry, USER};

fn tags_of(registry: &Registry, repository: &str, authorization: Option<&str>) -> Vec<String> {
    let mut request =
        Client::new().get(format!("{}/v2/{repository}/tags/list", registry.base_url()));
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    let response = request.send().unwrap();
    assert_eq!(
        response.status().as_u16(),
        200,
        "tags/list: {:?}",
        response.text()
    );
    let body: serde_json::Value = response.json().unwrap();
    let mut tags: Vec<String> = body["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    tags.sort();
    tags
}

fn challenge(registry: &Registry, path: &str) -> (u16, String) {
    let response = Client::new()
        .get(format!("{}{path}", registry.base_url()))
        .send()
        .unwrap();
    let header = response
        .headers()
        .get("WWW-Authenticate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (response.status().as_u16(), header)
}

#[test]
fn anonymous_registry_lists_pushed_tags_with_distinct_digests() {
    let registry = Registry::start(Distribution::V2, AuthMode::Anonymous);
    let digests =
        ImagePusher::new(&registry, "team/app").push_all(["v1.0.0", "v1.1.0", "main-abc123-7"]);
    assert_eq!(digests.len(), 3);
    assert!(
        digests[0] != digests[1] && digests[1] != digests[2],
        "each tag has its own digest"
    );
    assert_eq!(
        tags_of(&registry, "team/app", None),
        ["main-abc123-7", "v1.0.0", "v1.1.0"]
    );
    // The manifest answers a HEAD with the digest we computed (what digest reflection will use).
    let head = Client::new()
        .head(format!(
            "{}/v2/team/app/manifests/v1.1.0",
            registry.base_url()
        ))
        .header("Accept", MANIFEST_ACCEPT)
        .send()
        .unwrap();
    assert_eq!(
        head.headers()["Docker-Content-Digest"].to_str().unwrap(),
        digests[1]
    );
    // An independent client agrees.
    let skopeo = require_program("skopeo", "apt-get install skopeo");
    let listed = run(Command::new(skopeo).args([
        "list-tags",
        "--tls-verify=false",
        &format!("docker://{}/team/app", registry.host),
    ]));
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed["Tags"].as_array().unwrap().len(), 3);
}

#[test]
fn basic_auth_registry_refuses_anonymous_and_wrong_passwords() {
    let registry = Registry::start(Distribution::V2, AuthMode::Basic);
    ImagePusher::new(&registry, "team/app").push_all(["1", "2"]);
    let (status, header) = challenge(&registry, "/v2/team/app/tags/list");
    assert_eq!(status, 401);
    assert!(header.starts_with("Basic realm="), "challenge: {header}");
    let wrong = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:wrong"))
    );
    let response = Client::new()
        .get(format!("{}/v2/team/app/tags/list", registry.base_url()))
        .header("Authorization", wrong)
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let good = registry.authorization("team/app").unwrap();
    assert_eq!(tags_of(&registry, "team/app", Some(&good)), ["1", "2"]);
}

#[test]
fn token_auth_registry_challenges_and_accepts_tokens_from_the_token_server() {
    let registry = Registry::start(Distribution::V2, AuthMode::Token);
    ImagePusher::new(&registry, "team/app").push_all(["v1", "v2"]);
    let (status, header) = challenge(&registry, "/v2/team/app/tags/list");
    assert_eq!(status, 401);
    let server = registry.token_server.as_ref().unwrap();
    assert!(header.starts_with("Bearer realm="), "challenge: {header}");
    assert!(
        header.contains(&server.realm()),
        "challenge names the realm: {header}"
    );
    assert!(
        header.contains("scope=\"repository:team/app:pull\""),
        "challenge: {header}"
    );
    let token = server.token_for(USER, PASSWORD, "repository:team/app:pull");
    assert_eq!(
        tags_of(&registry, "team/app", Some(&format!("Bearer {token}"))),
        ["v1", "v2"]
    );
    // A token for another repository lacks the scope.
    let other = server.token_for(USER, PASSWORD, "repository:team/other:pull");
    let response = Client::new()
        .get(format!("{}/v2/team/app/tags/list", registry.base_url()))
        .header("Authorization", format!("Bearer {other}"))
        .send()
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let header = response.headers()["WWW-Authenticate"].to_str().unwrap();
    assert!(header.contains("insufficient_scope"), "challenge: {header}");
}

#[test]
fn distribution_v3_paginates_tag_lists_with_link_headers() {
    let registry = Registry::start(Distribution::V3, AuthMode::Token);
    let tags: Vec<String> = (0..20).map(|i| format!("1.0.{i}")).collect();
    ImagePusher::new(&registry, "team/app").push_all(tags.iter().map(String::as_str));
    let authorization = registry.authorization("team/app").unwrap();
    let client = Client::new();
    let mut url = format!("{}/v2/team/app/tags/list?n=7", registry.base_url());
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let response = client
            .get(&url)
            .header("Authorization", &authorization)
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        pages += 1;
        let link = response
            .headers()
            .get("Link")
            .map(|v| v.to_str().unwrap().to_string());
        let body: serde_json::Value = response.json().unwrap();
        let page: Vec<String> = body["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect();
        assert!(page.len() <= 7);
        seen.extend(page);
        match link {
            Some(link) => {
                let target = link.trim_start_matches('<').split('>').next().unwrap();
                assert!(link.contains("rel=\"next\""), "Link: {link}");
                url = format!("{}{target}", registry.base_url());
            }
            None => break,
        }
    }
    assert_eq!(pages, 3, "20 tags in pages of 7");
    seen.sort();
    let mut expected = tags.clone();
    expected.sort();
    assert_eq!(seen, expected);
}

#[test]
fn git_over_ssh_clones_and_pushes_with_a_checked_host_key() {
    let repos = GitRepos::new();
    let bare = repos.create("config", &[("apps/app.yaml", "image: app:v1\n")]);
    let server = SshGitServer::start();
    let work = TempDir::new().unwrap();
    let clone = work.path().join("clone");
    let ssh = server.git_ssh_command();
    run(git()
        .env("GIT_SSH_COMMAND", &ssh)
        .args(["clone", "-q", &server.url(&bare)])
        .arg(&clone));
    assert_eq!(
        std::fs::read_to_string(clone.join("apps/app.yaml")).unwrap(),
        "image: app:v1\n"
    );
    std::fs::write(clone.join("apps/app.yaml"), "image: app:v2\n").unwrap();
    run(git()
        .arg("-C")
        .arg(&clone)
        .args(["commit", "-qam", "Bump app"]));
    run(git()
        .env("GIT_SSH_COMMAND", &ssh)
        .arg("-C")
        .arg(&clone)
        .args(["push", "-q", "origin", "main"]));
    let subject = run(git()
        .arg("-C")
        .arg(&bare)
        .args(["log", "-1", "--format=%s", "main"]));
    assert_eq!(
        subject.trim(),
        "Bump app",
        "sshd log:\n{}",
        server.log_text()
    );
    // A wrong host key is refused.
    std::fs::write(
        &server.known_hosts_path,
        format!("[127.0.0.1]:{} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBdFFrNYmjyw9ryxYtrmmoNqD1LqQ6ysUZ8wfmuSKi3x\n", server.port),
    )
    .unwrap();
    let refused = git()
        .env("GIT_SSH_COMMAND", &ssh)
        .args(["ls-remote", &server.url(&bare)])
        .output()
        .unwrap();
    assert!(
        !refused.status.success(),
        "a changed host key must be refused"
    );
}

#[test]
fn git_over_http_requires_basic_auth_and_accepts_pushes() {
    let repos = GitRepos::new();
    let bare = repos.create("config", &[("README.md", "config\n")]);
    let server = HttpGitServer::start(&repos);
    let url = server.url(&bare);
    let anonymous = git().args(["ls-remote", &url]).output().unwrap();
    assert!(
        !anonymous.status.success(),
        "anonymous access must be refused"
    );
    let authenticated = url.replacen("http://", &format!("http://{GIT_USER}:{GIT_PASSWORD}@"), 1);
    let work = TempDir::new().unwrap();
    let clone = work.path().join("clone");
    run(git().args(["clone", "-q", &authenticated]).arg(&clone));
    std::fs::write(clone.join("README.md"), "config, edited\n").unwrap();
    run(git()
        .arg("-C")
        .arg(&clone)
        .args(["commit", "-qam", "Edit over http"]));
    let push = git()
        .arg("-C")
        .arg(&clone)
        .args(["push", "-q", "origin", "main"])
        .output()
        .unwrap();
    assert!(
        push.status.success(),
        "push over http failed: {}\nlighttpd log:\n{}",
        String::from_utf8_lossy(&push.stderr),
        server.log_text()
    );
    let subject = run(git()
        .arg("-C")
        .arg(&bare)
        .args(["log", "-1", "--format=%s", "main"]));
    assert_eq!(subject.trim(), "Edit over http");
}

#[test]
fn moto_serves_the_ecr_api() {
    let moto = Moto::start();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let ecr = moto.ecr_client();
        let created = ecr.create_repository().repository_name("shop/front-end").send().await.unwrap();
        let uri = created.repository().unwrap().repository_uri().unwrap().to_string();
        assert!(uri.starts_with(&format!("{ACCOUNT}.dkr.ecr.")), "repository uri {uri}");
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{}", "a".repeat(64)), "size": 2},
            "layers": [],
        });
        ecr.put_image()
            .repository_name("shop/front-end")
            .image_manifest(manifest.to_string())
            .image_tag("main-abc1234-42")
            .send()
            .await
            .unwrap();
        let images = ecr.describe_images().repository_name("shop/front-end").send().await.unwrap();
        let tags: Vec<String> = images
            .image_details()
            .iter()
            .flat_map(|d| d.image_tags().iter().cloned())
            .collect();
        assert_eq!(tags, ["main-abc1234-42"]);
        let auth = ecr.get_authorization_token().send().await.unwrap();
        let data = &auth.authorization_data()[0];
        let token = base64::engine::general_purpose::STANDARD
            .decode(data.authorization_token().unwrap())
            .unwrap();
        let token = String::from_utf8(token).unwrap();
        assert!(token.starts_with("AWS:"), "token {token}");
        assert!(data.proxy_endpoint().unwrap().contains(".dkr.ecr."), "log:\n{}", moto.log_text());
    });
}

#[test]
fn kube_apiserver_lists_namespaces_and_takes_server_side_apply_from_kube_rs() {
    // What tagpilot's main does first: one TLS stack, rustls with aws-lc-rs.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let server = crate::harness::kube_api::KubeApiServer::start();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
        use kube::api::{Api, Patch, PatchParams};
        let client = server.client().await;
        let names: Vec<String> = Api::<Namespace>::all(client.clone())
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter_map(|namespace| namespace.metadata.name)
            .collect();
        assert!(
            names.iter().any(|n| n == "default") && names.iter().any(|n| n == "kube-system"),
            "{names:?}\n{}",
            server.log_text()
        );
        let config_maps: Api<ConfigMap> = Api::namespaced(client, "default");
        let desired = serde_json::json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "tagpilot-smoke"},
            "data": {"image": "ghcr.io/acme/app:v1.2.3"},
        });
        let applied = config_maps
            .patch(
                "tagpilot-smoke",
                &PatchParams::apply("tagpilot"),
                &Patch::Apply(desired),
            )
            .await
            .unwrap();
        assert_eq!(applied.data.unwrap()["image"], "ghcr.io/acme/app:v1.2.3");
        let managers: Vec<String> = applied
            .metadata
            .managed_fields
            .unwrap_or_default()
            .into_iter()
            .filter_map(|entry| entry.manager)
            .collect();
        assert_eq!(managers, ["tagpilot"]);
    });
}

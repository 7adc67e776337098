//! `spec.verify` of an ImagePolicy against images signed by the real `cosign`
//! CLI (key-based, transparency log off) in a real registry: only a tag
//! signed by a trusted key is committed (over a real git server), and
//! `status`, `policy eval` (text and JSON), the log and, in controller mode,
//! the Ready condition and an Event say why the others were skipped.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::engine::World;
use crate::harness::cluster::Cluster;
use crate::harness::cosign::{Cosign, KeyPair};
use crate::harness::fault_proxy::{Fault, FaultProxy};
use crate::harness::git_server::SshGitServer;
use crate::harness::images::ImagePusher;
use crate::harness::registry::{AuthMode, Distribution, PASSWORD, Registry, USER};
use crate::harness::tagpilot::{Automation, Tagpilot, deployment, ssh_source};

/// A Flux ImageRepository and a tagpilot.dev ImagePolicy `shop/api` that
/// trusts the keys of the Secret `shop/cosign-keys` and pins digests.
fn verified_images(image: &str) -> String {
    format!(
        "apiVersion: image.toolkit.fluxcd.io/v1beta2\nkind: ImageRepository\nmetadata:\n  name: api\n  namespace: shop\nspec:\n  image: {image}\n  interval: 1h\n  insecure: true\n---\napiVersion: tagpilot.dev/v1alpha1\nkind: ImagePolicy\nmetadata:\n  name: api\n  namespace: shop\nspec:\n  imageRepositoryRef:\n    name: api\n  policy:\n    semver:\n      range: '>=1.0.0 <2.0.0'\n  digestReflectionPolicy: Always\n  verify:\n    provider: cosign\n    secretRef:\n      name: cosign-keys\n"
    )
}

/// The Secret `shop/cosign-keys` with each key's public half as `<name>.pub`.
fn keys_secret(keys: &[(&str, &KeyPair)]) -> String {
    let mut yaml =
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: cosign-keys\n  namespace: shop\ndata:\n"
            .to_string();
    for (name, key) in keys {
        yaml.push_str(&format!(
            "  {name}.pub: {}\n",
            STANDARD.encode(key.public_pem())
        ));
    }
    yaml
}

/// `policy eval --image` of the config directory's `images.yaml` (with
/// `--config`): exit code, stdout, stderr.
pub fn eval(tagpilot: &Tagpilot, image: &str, json_output: bool) -> (Option<i32>, String, String) {
    let mut command = tagpilot.command();
    command
        .args(["policy", "eval", "--policy"])
        .arg(tagpilot.config_dir().join("images.yaml"))
        .args(["--image", image, "--config"])
        .arg(tagpilot.config_dir());
    if json_output {
        command.args(["-o", "json"]);
    }
    let output = command.output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn of_three_new_tags_only_the_one_signed_by_a_trusted_key_is_committed() {
    let world = World::new(&["1.0.0"]);
    let mut pusher = ImagePusher::new(&world.registry, "shop/api");
    let signed = pusher.push("1.1.0");
    let other = pusher.push("1.2.0");
    let unsigned = pusher.push("1.3.0");
    let cosign = Cosign::new();
    let trusted = cosign.key_pair("trusted");
    let stranger = cosign.key_pair("stranger");
    cosign.sign(
        &world.registry,
        &trusted,
        &format!("{}@{signed}", world.image),
    );
    cosign.sign(
        &world.registry,
        &stranger,
        &format!("{}@{other}", world.image),
    );
    // cosign itself agrees with the verdicts below.
    assert!(cosign.verifies(&world.registry, &trusted, &format!("{}:1.1.0", world.image)));
    assert!(!cosign.verifies(&world.registry, &trusted, &format!("{}:1.2.0", world.image)));
    assert!(!cosign.verifies(&world.registry, &trusted, &format!("{}:1.3.0", world.image)));

    let server = SshGitServer::start();
    let tagpilot = Tagpilot::new();
    tagpilot.write("images.yaml", &verified_images(&world.image));
    tagpilot.write("keys.yaml", &keys_secret(&[("cosign", &trusted)]));
    tagpilot.write(
        "source.yaml",
        &ssh_source(&server, &server.url(&world.bare)),
    );
    tagpilot.write("automation.yaml", &Automation::new("apps").yaml());

    let run = tagpilot.run_once().success();
    assert_eq!(world.commit_count(), 2, "{}", run.stderr);
    assert_eq!(
        world.deployed(),
        deployment("api", &format!("{}:1.1.0@{signed}", world.image), "api"),
        "the signed tag, pinned to the digest that was verified"
    );
    let trusted_keys = "cosign keys in Secret shop/cosign-keys (cosign.pub)";
    let unsigned_line = "1.3.0: not signed (no cosign signature)";
    let untrusted_line =
        format!("1.2.0: signature not trusted: 1 signature, none by {trusted_keys}");
    // The log says it once, as a warning.
    assert!(
        run.stderr.contains("candidates skipped")
            && run.stderr.contains(unsigned_line)
            && run.stderr.contains(&untrusted_line),
        "{}",
        run.stderr
    );

    // `status`: a SKIPPED table, and the same lines in JSON.
    let status = tagpilot.status().success();
    assert!(
        status.stdout.contains(&format!(
            "IMAGEPOLICY  SKIPPED\nshop/api     {unsigned_line}\nshop/api     {untrusted_line}\n"
        )),
        "{}",
        status.stdout
    );
    let mut command = tagpilot.command();
    command
        .args(["status", "-o", "json", "--state-dir"])
        .arg(tagpilot.state_dir());
    let json_status: Value = serde_json::from_slice(&command.output().unwrap().stdout).unwrap();
    assert_eq!(
        json_status["policies"]["shop/api"]["skipped"],
        json!([unsigned_line, untrusted_line])
    );

    // `run --once -o json` reports them per policy too.
    let output = tagpilot
        .run_once_command()
        .args(["-o", "json"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["policies"][0]["skipped"][0]["reason"], "unsigned");
    assert_eq!(
        report["policies"][0]["skipped"][1]["reason"],
        "untrustedSignature"
    );

    // `policy eval -o json`: the choice, its digest, and each skipped tag with its reason.
    let (code, stdout, stderr) = eval(&tagpilot, &world.image, true);
    assert_eq!(code, Some(0), "{stderr}");
    let explanation: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(explanation["tag"], "1.1.0");
    assert_eq!(
        explanation["explanation"]["requirements"],
        json!({"signature": trusted_keys})
    );
    assert_eq!(
        explanation["explanation"]["chosen"],
        json!({"tag": "1.1.0", "value": "1.1.0", "digest": signed})
    );
    assert_eq!(
        explanation["explanation"]["skipped"],
        json!([
            {"tag": "1.3.0", "value": "1.3.0", "digest": unsigned, "reason": "unsigned"},
            {"tag": "1.2.0", "value": "1.2.0", "digest": other, "reason": "untrustedSignature",
             "detail": format!("1 signature, none by {trusted_keys}")},
        ])
    );
    // And in text: the tag on stdout, why on stderr.
    let (code, stdout, stderr) = eval(&tagpilot, &world.image, false);
    assert_eq!((code, stdout.as_str()), (Some(0), "1.1.0\n"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "  requires: a signature by {trusted_keys}\n  chosen: 1.1.0 ({signed})\n  skipped: {unsigned_line}\n  skipped: {untrusted_line}\n"
        )),
        "{stderr}"
    );

    // Trusting the second key too: 1.2.0 becomes the result; 1.3.0 stays skipped.
    tagpilot.write(
        "keys.yaml",
        &keys_secret(&[("cosign", &trusted), ("release", &stranger)]),
    );
    tagpilot.run_once().success();
    assert_eq!(world.commit_count(), 3);
    assert_eq!(
        world.deployed(),
        deployment("api", &format!("{}:1.2.0@{other}", world.image), "api")
    );
    let status = tagpilot.status().success();
    assert!(
        status
            .stdout
            .contains(&format!("shop/api     {unsigned_line}\n"))
            && !status.stdout.contains("1.2.0: "),
        "{}",
        status.stdout
    );
}

/// Signatures are read with the ImageRepository's credentials (bearer tokens
/// scoped to the repository), like the tags.
#[test]
fn signatures_behind_token_auth_are_read_with_the_repository_credentials() {
    let registry = Registry::start(Distribution::V3, AuthMode::Token);
    let mut pusher = ImagePusher::new(&registry, "team/app");
    let image = format!("{}/team/app", registry.host);
    let good = pusher.push("1.5.0");
    pusher.push("1.6.0");
    let cosign = Cosign::new();
    let key = cosign.key_pair("ci");
    cosign.sign(&registry, &key, &format!("{image}@{good}"));

    let tagpilot = Tagpilot::new();
    let credentials = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: pull\n  namespace: shop\ntype: kubernetes.io/basic-auth\nstringData:\n  username: {USER}\n  password: {PASSWORD}\n"
    );
    tagpilot.write(
        "images.yaml",
        &verified_images(&image).replace(
            "  insecure: true\n",
            "  insecure: true\n  secretRef:\n    name: pull\n",
        ),
    );
    tagpilot.write(
        "keys.yaml",
        &format!("{}---\n{credentials}", keys_secret(&[("cosign", &key)])),
    );
    let (code, stdout, stderr) = eval(&tagpilot, &image, false);
    assert_eq!((code, stdout.as_str()), (Some(0), "1.5.0\n"), "{stderr}");
    assert!(
        stderr.contains("  skipped: 1.6.0: not signed (no cosign signature)\n"),
        "{stderr}"
    );
    assert!(!stderr.contains(PASSWORD));
}

/// Through a proxy that records and alters the registry's answers: how many
/// requests one evaluation makes, a signature manifest that is garbage (that
/// tag is skipped, saying so), and a registry failing while a candidate is
/// checked (the evaluation fails: a result is never picked around an outage).
#[test]
fn garbage_skips_a_tag_an_outage_fails_the_evaluation_and_requests_are_few() {
    let world = World::new(&["1.0.0"]);
    let mut pusher = ImagePusher::new(&world.registry, "shop/api");
    let cosign = Cosign::new();
    let key = cosign.key_pair("ci");
    let mut digests = Vec::new();
    for tag in ["1.1.0", "1.2.0", "1.3.0"] {
        let digest = pusher.push(tag);
        cosign.sign(&world.registry, &key, &format!("{}@{digest}", world.image));
        digests.push(digest);
    }
    pusher.push("1.4.0");
    let proxy = FaultProxy::start(&world.registry.host);
    let image = format!("{}/shop/api", proxy.host);
    let tagpilot = Tagpilot::new();
    tagpilot.write("images.yaml", &verified_images(&image));
    tagpilot.write("keys.yaml", &keys_secret(&[("cosign", &key)]));

    // Every request of one evaluation: the listing, a HEAD per checked tag,
    // the signature manifest and its payload for the signed one (1.4.0 has no
    // `.sig` tag in the listing: nothing to ask).
    let (code, stdout, stderr) = eval(&tagpilot, &image, false);
    assert_eq!((code, stdout.as_str()), (Some(0), "1.3.0\n"), "{stderr}");
    let sig = |digest: &str| format!("sha256-{}.sig", digest.strip_prefix("sha256:").unwrap());
    let requests: Vec<String> = proxy
        .requests()
        .iter()
        .map(|line| line.trim_end_matches(" HTTP/1.1").to_string())
        .collect();
    let payload = requests
        .iter()
        .find(|r| r.contains("/blobs/"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        requests,
        [
            "GET /v2/shop/api/tags/list?n=1000".to_string(),
            "HEAD /v2/shop/api/manifests/1.4.0".to_string(),
            "HEAD /v2/shop/api/manifests/1.3.0".to_string(),
            format!("GET /v2/shop/api/manifests/{}", sig(&digests[2])),
            payload,
        ]
    );

    // Garbage for 1.3.0's signature manifest: skipped, with the reason.
    let garbage = sig(&digests[2]);
    proxy.reset();
    proxy.set_rule(move |line, _| {
        if line.contains(&garbage) {
            Fault::ReplaceBody("<html>sorry</html>".into())
        } else {
            Fault::Pass
        }
    });
    let (code, stdout, stderr) = eval(&tagpilot, &image, false);
    assert_eq!((code, stdout.as_str()), (Some(0), "1.2.0\n"), "{stderr}");
    assert!(
        stderr.contains("  skipped: 1.3.0: cannot be checked: scanning ")
            && stderr.contains("the signature manifest is not an OCI manifest"),
        "{stderr}"
    );

    // A registry failing (503) on 1.3.0's signature: no result, and the error says which tag.
    let failing = sig(&digests[2]);
    proxy.reset();
    proxy.set_rule(move |line, _| {
        if line.contains(&failing) {
            Fault::Respond {
                status: 503,
                headers: vec![],
                body: String::new(),
            }
        } else {
            Fault::Pass
        }
    });
    let (code, stdout, stderr) = eval(&tagpilot, &image, false);
    assert_eq!((code, stdout.as_str()), (Some(1), ""), "{stderr}");
    assert!(
        stderr.contains("cannot check 1.3.0: scanning ") && stderr.contains("answered 503"),
        "{stderr}"
    );
}

#[test]
fn flux_objects_cannot_set_verify_and_keyless_is_refused_clearly() {
    let tagpilot = Tagpilot::new();
    let flux = verified_images("reg.example/shop/api").replace(
        "apiVersion: tagpilot.dev/v1alpha1\nkind: ImagePolicy",
        "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImagePolicy",
    );
    tagpilot.write("images.yaml", &flux);
    let mut command = tagpilot.command();
    command
        .args(["policy", "eval", "--policy"])
        .arg(tagpilot.config_dir().join("images.yaml"))
        .args(["--image", "reg.example/shop/api"]);
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("spec.verify: unknown field `verify` in image.toolkit.fluxcd.io/v1"),
        "{stderr}"
    );

    let keyless = verified_images("reg.example/shop/api").replace(
        "    secretRef:\n      name: cosign-keys\n",
        "    matchOIDCIdentity:\n      - issuer: '^https://token.actions.githubusercontent.com$'\n        subject: '^https://github.com/org/app/'\n",
    );
    tagpilot.write("images.yaml", &keyless);
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "images.yaml: spec.verify.matchOIDCIdentity: keyless verification is not supported yet"
        ),
        "{stderr}"
    );
    // The engine refuses the object the same way, and runs the others.
    let output = tagpilot.run_once();
    assert!(
        output.stderr.contains(
            "ImagePolicy shop/api: spec.verify.matchOIDCIdentity: keyless verification is not supported yet"
        ),
        "{}",
        output.stderr
    );
}

/// Controller mode: the Ready condition names the skipped tags, and a
/// `CandidatesSkipped` Warning event says why.
#[test]
fn controller_status_and_events_say_why_tags_were_skipped() {
    let cluster = Cluster::start();
    let world = World::new(&["1.0.0"]);
    let mut pusher = ImagePusher::new(&world.registry, "shop/api");
    let signed = pusher.push("1.1.0");
    pusher.push("1.2.0");
    let cosign = Cosign::new();
    let key = cosign.key_pair("ci");
    cosign.sign(&world.registry, &key, &format!("{}@{signed}", world.image));
    let server = SshGitServer::start();
    cluster.namespace("shop");
    crate::controller::git_ssh_secret(&cluster, &server);
    cluster.kubectl(&[
        "create",
        "secret",
        "generic",
        "cosign-keys",
        "-n",
        "shop",
        &format!("--from-file=cosign.pub={}", key.public.display()),
    ]);
    let objects = crate::controller::shop_objects(&world, &server.url(&world.bare), "^1\\.")
        .replace(
            "  policy:\n    semver:\n      range: '>=1.0.0 <2.0.0'\n",
            "  policy:\n    semver:\n      range: '>=1.0.0 <2.0.0'\n  verify:\n    provider: cosign\n    secretRef:\n      name: cosign-keys\n",
        );
    cluster.apply(&objects);
    let controller = cluster.spawn_controller("controller", cluster.kubeconfig(), &[]);
    let log = || controller.log_text();
    let policy = cluster.wait_for_object(
        "the policy's latestRef",
        "imagepolicy",
        "shop",
        "api",
        |o| o["status"]["latestRef"]["tag"] == "1.1.0" && crate::controller::is_ready(o),
        log,
    );
    let ready = crate::controller::ready_condition(&policy).unwrap();
    assert_eq!(
        ready["message"],
        format!(
            "latest image tag for {} resolved to 1.1.0; skipped 1.2.0: not signed (no cosign signature)",
            world.image
        )
    );
    crate::harness::tagpilot::wait_for(
        "the CandidatesSkipped event",
        || {
            let events = cluster.kubectl(&["get", "events", "-n", "shop", "-o", "json"]);
            let events: Value = serde_json::from_str(&events).ok()?;
            events["items"].as_array()?.iter().find_map(|e| {
                (e["reason"] == "CandidatesSkipped"
                    && e["type"] == "Warning"
                    && e["message"] == "skipped 1.2.0: not signed (no cosign signature)")
                    .then_some(())
            })
        },
        log,
    );
    crate::harness::tagpilot::wait_for(
        "the commit",
        || (world.commit_count() == 2).then_some(()),
        log,
    );
    assert!(world.deployed().contains(":1.1.0"), "{}", world.deployed());
    controller.assert_running();
}

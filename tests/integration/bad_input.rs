//! Bad input from every side, through the `tagpilot` binary and real servers:
//! broken config files, registries that answer with a million tags, odd tag
//! names, garbage or enormous JSON, update paths that leave the repository, a
//! config repository full of symlink loops, and abusive webhook requests. Each
//! gets a clear error naming the object and the cause, and nothing is lost:
//! the valid objects still run, the stored tags and the repository are kept.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use crate::engine::World;
use crate::harness::fault_proxy::{Fault, FaultProxy};
use crate::harness::git_fixtures::git_in;
use crate::harness::git_server::git;
use crate::harness::process::{free_port, run};
use crate::harness::tagpilot::{
    Automation, Daemon, RunOutput, Tagpilot, deployment, plain_source, wait_for,
};

fn file_source(world: &World) -> String {
    plain_source(&format!("file://{}", world.bare.display()))
}

/// `tagpilot run --once` with scans of `world`'s registry sent through `proxy`.
fn run_through(tagpilot: &Tagpilot, world: &World, proxy: &FaultProxy) -> RunOutput {
    let mut command = tagpilot.command();
    command
        .env(
            "TAGPILOT_REGISTRY_ENDPOINTS",
            format!("{}=http://{}", world.registry.host, proxy.host),
        )
        .args(["run", "--once", "--config"])
        .arg(tagpilot.config_dir())
        .arg("--state-dir")
        .arg(tagpilot.state_dir());
    let output = command.output().unwrap();
    RunOutput {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The `error:` line of `output` that contains every needle.
fn error_line(output: &RunOutput, needles: &[&str]) -> String {
    output
        .stderr
        .lines()
        .find(|line| line.starts_with("error: ") && needles.iter().all(|n| line.contains(n)))
        .unwrap_or_else(|| panic!("no error line with {needles:?}:\n{}", output.stderr))
        .to_string()
}

#[test]
fn malformed_yaml_unknown_kinds_and_fields_are_each_named_and_the_valid_objects_still_run() {
    let world = World::new(&["1.0.0", "1.1.0"]);
    let tagpilot = world.tagpilot(&file_source(&world));
    tagpilot.write(
        "tabs.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n\tname: x\n",
    );
    tagpilot.write(
        "unknown-kind.yaml",
        "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImagePolicyy\nmetadata:\n  name: odd\n  namespace: shop\nspec: {}\n",
    );
    tagpilot.write(
        "unknown-version.yaml",
        "apiVersion: image.toolkit.fluxcd.io/v9\nkind: ImagePolicy\nmetadata:\n  name: future\n  namespace: shop\nspec: {}\n",
    );
    tagpilot.write(
        "unknown-field.yaml",
        "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\nmetadata:\n  name: extra\n  namespace: shop\nspec:\n  image: 127.0.0.1:1/x\n  interval: 1m\n  imagee: typo\n",
    );
    tagpilot.write("a-list.yaml", "- just\n- a list\n");
    tagpilot.write(
        "broken-secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  namespace: shop\nstringData:\n  password: Hunter2-Bad-Input\n   extra: [unclosed\n",
    );
    // "Billion laughs": ten levels of ten aliases each.
    let mut laughs = String::from(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: lol\ndata:\n  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
    );
    for level in 1..10 {
        let previous = format!("*a{}", level - 1);
        laughs.push_str(&format!(
            "  a{level}: &a{level} [{}]\n",
            [previous.as_str(); 10].join(", ")
        ));
    }
    tagpilot.write("laughs.yaml", &laughs);
    std::fs::write(
        tagpilot.config_dir().join("binary.yaml"),
        [0xff, 0xfe, 0x00, 0x41, 0x80],
    )
    .unwrap();
    let output = tagpilot.run_once();
    assert_eq!(output.code, Some(1), "{}", output.stderr);
    let dir = tagpilot.config_dir().display().to_string();
    for (file, cause) in [
        ("tabs.yaml", "not valid YAML"),
        ("unknown-kind.yaml", "ImagePolicyy"),
        ("unknown-version.yaml", "image.toolkit.fluxcd.io/v9"),
        ("unknown-field.yaml", "imagee"),
        ("a-list.yaml", ""),
        ("binary.yaml", ""),
        ("broken-secret.yaml", "not valid YAML: line 8 column 9"),
        ("laughs.yaml", "budget"),
    ] {
        let line = error_line(&output, &[&format!("{dir}/{file}"), cause]);
        assert!(!line.contains("panicked"), "{line}");
    }
    assert!(
        !output.stderr.contains("Hunter2"),
        "a broken Secret file's values stay out of the log:\n{}",
        output.stderr
    );
    assert!(
        output.stdout.contains("automation shop/apps: pushed"),
        "the valid objects still ran:\n{}\n{}",
        output.stdout,
        output.stderr
    );
    assert!(world.deployed().contains(":1.1.0 #"));
    assert_eq!(world.commit_count(), 2);
}

/// Regression (issue 13): one error hid another in the same file: a YAML
/// error anywhere made the whole file one error, and only the first bad field
/// of an object was named. Now every bad document and every unknown field of
/// a file is reported in one run, and the file's valid objects still run.
#[test]
fn every_invalid_document_of_a_file_is_reported_in_one_run() {
    let world = World::new(&["1.0.0", "1.1.0"]);
    let tagpilot = world.tagpilot(&file_source(&world));
    tagpilot.write(
        "mixed.yaml",
        "apiVersion: image.toolkit.fluxcd.io/v1beta2
kind: ImagePolicy
metadata:
  name: two-typos
  namespace: shop
spec:
  imageRepositoryRef:
    name: api
  filterTag:
    pattern: '^1'
  policy:
    semver:
      rnage: '>=1.0.0'
---
key: [unclosed
---
apiVersion: image.toolkit.fluxcd.io/v1beta1
kind: ImagePolicy
metadata:
  name: too-new
  namespace: shop
spec:
  imageRepositoryRef:
    name: api
  policy:
    semver:
      range: '>=1.0.0'
  suspend: true
---
apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata:
  name: fine
  namespace: shop
spec:
  imageRepositoryRef:
    name: api
  policy:
    semver:
      range: '>=1.0.0'
",
    );
    let output = tagpilot.run_once();
    assert_eq!(output.code, Some(1), "{}", output.stderr);
    let file = format!("{}/mixed.yaml", tagpilot.config_dir().display());
    let errors: Vec<&str> = output
        .stderr
        .lines()
        .filter(|line| line.starts_with("error: ") && line.contains(&file))
        .collect();
    assert_eq!(errors.len(), 3, "{}", output.stderr);
    let two_typos = error_line(&output, &[&file, "shop/two-typos"]);
    for field in [
        "spec.filterTag: unknown field `filterTag` in image.toolkit.fluxcd.io/v1beta2",
        "spec.policy.semver.rnage: unknown field `rnage` in image.toolkit.fluxcd.io/v1beta2, expected `range`",
        "spec.policy.semver: missing field `range`",
    ] {
        assert!(two_typos.contains(field), "{field}: {two_typos}");
    }
    error_line(&output, &[&file, "not valid YAML: line 15 column"]);
    error_line(
        &output,
        &[
            &file,
            "shop/too-new: spec.suspend: unknown field `suspend` in image.toolkit.fluxcd.io/v1beta1 (it is a field of",
        ],
    );
    assert!(
        output.stdout.contains("automation shop/apps: pushed"),
        "the valid objects still ran:\n{}\n{}",
        output.stdout,
        output.stderr
    );
    assert!(
        output.stdout.contains("shop/fine") && !output.stderr.contains("shop/fine"),
        "the file's valid policy ran too:\n{}\n{}",
        output.stdout,
        output.stderr
    );
}

/// A registry behind the fault proxy, a first good run that commits 1.1.0.
fn proxied_world() -> (World, FaultProxy, Tagpilot) {
    let world = World::new(&["1.0.0", "1.1.0"]);
    let proxy = FaultProxy::start(&world.registry.host);
    let tagpilot = world.tagpilot(&file_source(&world));
    let first = run_through(&tagpilot, &world, &proxy);
    assert_eq!(first.code, Some(0), "{}", first.stderr);
    assert!(world.deployed().contains(":1.1.0 #"));
    (world, proxy, tagpilot)
}

fn tag_list(tags: impl IntoIterator<Item = String>) -> String {
    let tags: Vec<String> = tags.into_iter().collect();
    serde_json::json!({"name": "shop/api", "tags": tags}).to_string()
}

fn replace_tag_lists(proxy: &FaultProxy, body: String) {
    proxy.set_rule(move |line, _| {
        if line.starts_with("GET /v2/shop/api/tags/list") {
            Fault::ReplaceBody(body.clone())
        } else {
            Fault::Pass
        }
    });
}

#[test]
fn a_million_tags_stop_at_the_tag_cap_and_keep_the_stored_list() {
    let (world, proxy, tagpilot) = proxied_world();
    let head = world.head();
    // 1,000,000 semver tags in one 12 MB page (under the 16 MiB body bound).
    let body = tag_list((0..1_000_000u32).map(|i| format!("1.{}.{}", i / 1000, i % 1000)));
    replace_tag_lists(&proxy, body);
    let output = run_through(&tagpilot, &world, &proxy);
    assert_eq!(output.code, Some(1), "{}", output.stderr);
    let line = error_line(&output, &["shop/api", "tag cap", "previous list is kept"]);
    assert!(line.contains("100000"), "{line}");
    assert_eq!(world.head(), head, "a partial scan changes nothing");
    assert!(world.deployed().contains(":1.1.0 #"));

    // The CLI can take all of them when asked to.
    let listed = tagpilot
        .command()
        .args(["tags", "--insecure", "--max-tags", "1000000", "-o", "json"])
        .arg(format!("{}/shop/api", proxy.host))
        .output()
        .unwrap();
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(json["tags"].as_array().unwrap().len(), 1_000_000);
    assert_eq!(json["complete"], true);
}

#[test]
fn odd_tag_names_are_ignored_and_cannot_inject_yaml() {
    let (world, proxy, tagpilot) = proxied_world();
    let odd = [
        "1.9.0 # {\"$imagepolicy\": \"shop:other\"}",
        "1.9.1\nimage: evil",
        "../../1.9.2",
        "1.9.3/x",
        "\u{661}.\u{669}.\u{664}",
        "1.9.5@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        "-1.9.6",
        ".1.9.7",
        "1.9.8\"",
        "1.9.9'",
        "",
        &"9".repeat(129),
    ];
    let mut tags: Vec<String> = odd.iter().map(|t| t.to_string()).collect();
    tags.extend(["1.0.0", "1.1.0", "1.2.0"].map(String::from));
    replace_tag_lists(&proxy, tag_list(tags));
    let output = run_through(&tagpilot, &world, &proxy);
    assert_eq!(output.code, Some(0), "{}", output.stderr);
    assert_eq!(
        world.deployed(),
        deployment("api", &format!("{}:1.2.0", world.image), "api"),
        "only the valid tag was written, byte for byte"
    );
    let warnings = output
        .stderr
        .lines()
        .filter(|l| l.contains("not a valid tag name"))
        .count();
    assert_eq!(warnings, odd.len(), "{}", output.stderr);
    assert!(
        !output.stderr.lines().any(|l| l.starts_with("image: evil")),
        "a newline in a tag cannot forge a log line:\n{}",
        output.stderr
    );
}

/// Regression: every invalid tag was logged on its own line, whole, so a
/// registry listing a million of them (or one of 16 MB) flooded the log.
#[test]
fn a_registry_listing_a_million_invalid_tags_used_to_flood_the_log() {
    let (world, proxy, tagpilot) = proxied_world();
    let mut tags: Vec<String> = (0..1_000_000u32).map(|i| format!("-{i}")).collect();
    tags.push(format!("x{}", "/".repeat(1 << 20)));
    tags.push("1.2.0".to_string());
    replace_tag_lists(&proxy, tag_list(tags));
    let output = run_through(&tagpilot, &world, &proxy);
    assert_eq!(
        output.code,
        Some(0),
        "{}",
        &output.stderr[..output.stderr.len().min(4000)]
    );
    assert!(
        world.deployed().contains(":1.2.0 #"),
        "{}",
        world.deployed()
    );
    let lines = output.stderr.lines().count();
    assert!(lines < 100, "{lines} lines of stderr");
    assert!(
        output.stderr.lines().all(|l| l.len() < 2000),
        "no line carries a whole tag"
    );
    assert!(
        output.stderr.contains("ignored=1000001"),
        "the rest are counted:\n{}",
        output.stderr
    );
}

#[test]
fn registry_bodies_that_are_not_json_or_are_enormous_fail_clearly_and_change_nothing() {
    let (world, proxy, tagpilot) = proxied_world();
    let head = world.head();
    let stored = std::fs::read(tagpilot.state_dir().join("tags/shop/api.json")).unwrap();
    let cases = [
        (
            "<html><body>502 Bad Gateway</body></html>".to_string(),
            "not a tag list",
        ),
        (
            "{\"name\":\"shop/api\",\"tags\":\"1.2.0\"}".to_string(),
            "not a tag list",
        ),
        (
            // 20 MB of one huge JSON string: over the 16 MiB bound.
            format!(
                "{{\"name\":\"shop/api\",\"tags\":[\"{}\"]}}",
                "1".repeat(20 << 20)
            ),
            "larger than 16 MiB",
        ),
    ];
    for (body, cause) in cases {
        replace_tag_lists(&proxy, body);
        let output = run_through(&tagpilot, &world, &proxy);
        assert_eq!(output.code, Some(1), "{}", output.stderr);
        let line = error_line(&output, &["scan of shop/api failed", cause]);
        assert!(
            line.len() < 1000,
            "the error does not echo the body: {line}"
        );
        assert_eq!(world.head(), head);
        assert_eq!(
            std::fs::read(tagpilot.state_dir().join("tags/shop/api.json")).unwrap(),
            stored,
            "the stored tag list is kept"
        );
    }
}

#[test]
fn update_paths_outside_the_repository_are_refused_by_name() {
    let world = World::new(&["1.0.0", "1.1.0"]);
    let tagpilot = world.tagpilot(&file_source(&world));
    for (name, path) in [
        ("up", "../.."),
        ("absolute", "/etc"),
        ("sneaky", "apps/../../x"),
    ] {
        let mut automation = Automation::new(name);
        automation.path = path.to_string();
        tagpilot.write(&format!("{name}.yaml"), &automation.yaml());
    }
    let output = tagpilot.run_once();
    assert_eq!(output.code, Some(1), "{}", output.stderr);
    for (name, path) in [
        ("up", "../.."),
        ("absolute", "/etc"),
        ("sneaky", "apps/../../x"),
    ] {
        error_line(&output, &[&format!("shop/{name}"), path]);
    }
    assert!(
        output.stdout.contains("automation shop/apps: pushed"),
        "{}",
        output.stdout
    );
    assert_eq!(
        world.commit_count(),
        2,
        "only the valid automation committed"
    );
    let changed = git_in(&world.bare, &["show", "--name-only", "--format=", "main"]);
    assert_eq!(changed.trim(), "apps/api.yaml");
}

/// Adds `links` (path, target) as symlinks to `bare`'s main in one commit.
fn commit_symlinks(bare: &Path, links: &[(&str, &str)]) {
    let work = tempfile::tempdir().unwrap();
    run(git().arg("clone").arg("-q").arg(bare).arg(work.path()));
    for (path, target) in links {
        let link = work.path().join(path);
        std::fs::create_dir_all(link.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, &link).unwrap();
    }
    run(git().arg("-C").arg(work.path()).args(["add", "-A"]));
    run(git()
        .arg("-C")
        .arg(work.path())
        .args(["commit", "-qm", "symlinks"]));
    run(git()
        .arg("-C")
        .arg(work.path())
        .args(["push", "-q", "origin", "main"]));
}

#[test]
fn symlink_loops_in_the_config_repository_are_skipped_and_the_rest_is_updated() {
    let world = World::new(&["1.0.0", "1.1.0"]);
    commit_symlinks(
        &world.bare,
        &[
            ("apps/self.yaml", "self.yaml"),
            ("apps/ping.yaml", "pong.yaml"),
            ("apps/pong.yaml", "ping.yaml"),
            ("apps/loop", "."),
            ("apps/deeper/up", "../.."),
            ("apps/escape.yaml", "/etc/passwd"),
            ("apps/into-git.yaml", "../.git/config"),
        ],
    );
    let before = world.commit_count();
    let tagpilot = world.tagpilot(&file_source(&world));
    let output = tagpilot.run_once();
    assert_eq!(output.code, Some(0), "{}\n{}", output.stdout, output.stderr);
    assert!(
        world.deployed().contains(":1.1.0 #"),
        "{}",
        world.deployed()
    );
    assert_eq!(world.commit_count(), before + 1);
    let changed = git_in(&world.bare, &["show", "--name-only", "--format=", "main"]);
    assert_eq!(
        changed.trim(),
        "apps/api.yaml",
        "no link was followed out or rewritten"
    );
    // The links are still links, unchanged.
    let tree = git_in(&world.bare, &["ls-tree", "-r", "main", "apps"]);
    assert_eq!(
        tree.lines().filter(|l| l.starts_with("120000")).count(),
        7,
        "{tree}"
    );
}

/// The daemon's peak resident memory, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

const TOKEN: &str = "bad-input-webhook-token";

fn daemon_with_webhook(world: &World) -> (Tagpilot, Daemon, String) {
    let tagpilot = world.tagpilot(&file_source(world));
    let listen = format!("127.0.0.1:{}", free_port());
    let daemon = tagpilot.spawn_listening_daemon(&listen, TOKEN, &[]);
    wait_for(
        "the daemon to listen",
        || TcpStream::connect(&listen).ok(),
        || daemon.log_text(),
    );
    (tagpilot, daemon, listen)
}

/// Sends `head`, then streams `body_len` bytes from another thread, and returns
/// the status line the server answered with (the server may answer, and close,
/// before the body is through).
fn post_streaming(listen: &str, head: &str, body_len: usize, chunked: bool) -> String {
    let mut stream = TcpStream::connect(listen).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let block = vec![b'x'; 64 * 1024];
        let mut sent = 0;
        while sent < body_len {
            let result = if chunked {
                writer
                    .write_all(format!("{:x}\r\n", block.len()).as_bytes())
                    .and_then(|()| writer.write_all(&block))
                    .and_then(|()| writer.write_all(b"\r\n"))
            } else {
                writer.write_all(&block)
            };
            if result.is_err() {
                break;
            }
            sent += block.len();
        }
        sent
    });
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    while !answer.windows(2).any(|w| w == b"\r\n") {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buffer[..n]),
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let sent = sender.join().unwrap();
    assert!(
        sent < body_len,
        "the server read the whole {body_len} bytes"
    );
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_100_mb_webhook_body_gets_413_without_being_buffered() {
    let world = World::new(&["1.0.0"]);
    let (_tagpilot, daemon, listen) = daemon_with_webhook(&world);
    let pid = daemon.pid();
    let peak_before = peak_rss_kib(pid);
    const HUNDRED_MB: usize = 100 * 1024 * 1024;
    let head = format!(
        "POST /webhook/registry HTTP/1.1\r\nHost: {listen}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {HUNDRED_MB}\r\n\r\n"
    );
    let status = post_streaming(&listen, &head, HUNDRED_MB, false);
    assert!(status.contains(" 413 "), "{status}");
    let head = format!(
        "POST /webhook/registry HTTP/1.1\r\nHost: {listen}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let status = post_streaming(&listen, &head, HUNDRED_MB, true);
    assert!(status.contains(" 413 "), "chunked: {status}");
    let peak_after = peak_rss_kib(pid);
    assert!(
        peak_after < peak_before + 20 * 1024,
        "peak RSS grew from {peak_before} KiB to {peak_after} KiB"
    );
    daemon.assert_running();
    let health = reqwest::blocking::get(format!("http://{listen}/healthz")).unwrap();
    assert_eq!(health.status().as_u16(), 200);
    assert_eq!(daemon.terminate(), Some(0));
}

#[test]
fn webhook_requests_with_a_wrong_token_are_refused_whatever_their_shape() {
    let world = World::new(&["1.0.0"]);
    let (_tagpilot, daemon, listen) = daemon_with_webhook(&world);
    let client = reqwest::blocking::Client::new();
    let body = r#"{"events":[{"action":"push","target":{"repository":"shop/api","tag":"1.1.0"},"request":{"host":"x"}}]}"#;
    let prefix = &TOKEN[..TOKEN.len() - 1];
    for authorization in [
        format!("Bearer {prefix}"),
        format!("Bearer {TOKEN}0"),
        format!("bearer {TOKEN}"),
        format!("Basic {TOKEN}"),
        TOKEN.to_string(),
        "Bearer ".to_string(),
        format!("Bearer {}", TOKEN.to_uppercase()),
    ] {
        let response = client
            .post(format!("http://{listen}/webhook/registry"))
            .header("Authorization", &authorization)
            .body(body)
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), 401, "{authorization}");
    }
    let metrics = client
        .get(format!("http://{listen}/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("tagpilot_webhooks_total{result=\"unauthorized\"} 7\n"),
        "{metrics}"
    );
    assert!(!metrics.contains("result=\"accepted\""), "{metrics}");
    assert_eq!(world.commit_count(), 1);
    assert_eq!(daemon.terminate(), Some(0));
}

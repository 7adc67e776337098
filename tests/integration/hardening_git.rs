//! Hostile or careless git remotes (issue 17): credentials in the URL never
//! printed, and credentials never sent to another origin than the configured
//! one. Against the real lighttpd + `git http-backend` server.

use crate::engine::World;
use crate::harness::git_server::{GIT_PASSWORD, GIT_USER, HttpGitServer, RedirectingServer};
use crate::harness::tagpilot::{
    Automation, Tagpilot, bearer_source, http_source, https_source, plain_source, semver_image,
};
use crate::harness::tls::TestCertificates;

/// A bearer token for the GitRepository Secret (never to reach another origin).
const BEARER_TOKEN: &str = "git-Bearer-Redirect-T0ken";

/// What a token in a URL looks like (GitHub's shape), and must never be printed.
const URL_TOKEN: &str = "ghp_UrlT0kenNeverPrinted42";

/// A config directory for `shop/api` and the automation `shop/apps`, reaching
/// the repository at `url` without a Secret.
fn configured(world: &World, url: &str) -> Tagpilot {
    configured_with(world, &plain_source(url))
}

/// A config directory for `shop/api` and the automation `shop/apps`, reaching
/// the repository as `source` (a GitRepository and its Secret) says.
fn configured_with(world: &World, source: &str) -> Tagpilot {
    let tagpilot = Tagpilot::new();
    tagpilot.write(
        "images.yaml",
        &semver_image("api", &world.image, ">=1.0.0", "1h"),
    );
    tagpilot.write("source.yaml", source);
    tagpilot.write("automation.yaml", &Automation::new("apps").yaml());
    tagpilot
}

/// Every file under `dir`, as text (the state directory: status.json, the tag store…).
fn files_text(dir: &std::path::Path) -> Vec<(std::path::PathBuf, String)> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(directory) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&directory) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                found.push((path, String::from_utf8_lossy(&bytes).into_owned()));
            }
        }
    }
    found
}

/// Regression (finding 2): `http://TOKEN@host/repo` was printed in full in
/// errors, `status.json`, `tagpilot status` and `tagpilot plan`; only
/// `user:password@` was masked. The lighttpd server refuses the token (it is
/// not a valid user), so the URL reaches every error output.
#[test]
fn a_token_alone_in_the_url_is_never_printed() {
    let world = World::new(&["1.0.0", "1.1.0"]);
    let server = HttpGitServer::start(&world.repos);
    let url = server
        .url(&world.bare)
        .replacen("http://", &format!("http://{URL_TOKEN}@"), 1);
    let tagpilot = configured(&world, &url);

    let run = tagpilot.run_once_with(&["--log-level", "trace"]);
    assert_ne!(run.code, Some(0), "the server refuses the token");
    let plan = tagpilot.plan();
    let status = tagpilot.status();
    let masked = format!("http://***@127.0.0.1:{}/git/config.git", server.port);
    assert!(
        status.stdout.contains(&masked) || status.stderr.contains(&masked),
        "status names the repository with its credentials masked:\n{}{}",
        status.stdout,
        status.stderr
    );
    let mut outputs = vec![
        ("run --once stdout".to_string(), run.stdout),
        ("run --once stderr (trace)".to_string(), run.stderr),
        ("plan stdout".to_string(), plan.stdout),
        ("plan stderr".to_string(), plan.stderr),
        ("status stdout".to_string(), status.stdout),
        ("status stderr".to_string(), status.stderr),
    ];
    for (path, text) in files_text(tagpilot.state_dir()) {
        outputs.push((path.display().to_string(), text));
    }
    assert!(
        outputs
            .iter()
            .any(|(what, _)| what.ends_with("status.json")),
        "status.json was written"
    );
    for (what, text) in &outputs {
        if let Some(line) = text.lines().find(|line| line.contains("UrlT0ken")) {
            panic!("the URL's token is in {what}: {line}");
        }
    }
}

/// Credentials in the URL that the server accepts: the automation commits,
/// and neither the outputs nor any file of the state directory (the working
/// copy's `.git` included: libgit2 used to write the URL into `FETCH_HEAD`)
/// holds the password.
#[test]
fn working_url_credentials_reach_no_output_and_no_file() {
    let world = World::new(&["1.0.0", "1.1.0"]);
    let server = HttpGitServer::start(&world.repos);
    let url = server.url(&world.bare).replacen(
        "http://",
        &format!("http://{GIT_USER}:{GIT_PASSWORD}@"),
        1,
    );
    let tagpilot = configured(&world, &url);
    let run = tagpilot.run_once_with(&["--log-level", "trace"]).success();
    assert!(
        world.deployed().contains("1.1.0"),
        "the automation committed through the URL's credentials"
    );
    let status = tagpilot.status().success();
    let mut outputs = vec![
        ("run --once stdout".to_string(), run.stdout),
        ("run --once stderr (trace)".to_string(), run.stderr),
        ("status stdout".to_string(), status.stdout),
    ];
    for (path, text) in files_text(tagpilot.state_dir()) {
        outputs.push((path.display().to_string(), text));
    }
    for (what, text) in &outputs {
        if let Some(line) = text.lines().find(|line| line.contains(GIT_PASSWORD)) {
            panic!("the URL's password is in {what}: {line}");
        }
    }
}

/// Regression (finding 1): a git HTTP server answering `302` to another
/// host:port received the GitRepository Secret's `Authorization: Basic …` or
/// `Bearer …` on the redirected request — the credential callback did not look
/// at which host asked, and no redirect policy was set. Here the configured
/// server (lighttpd) redirects every request to a second, real git server on
/// another port, whose access log records each request's `Authorization`
/// header: it never receives one, and the error names both origins.
#[test]
fn credentials_never_follow_a_redirect_to_another_origin() {
    let world = World::new(&["1.0.0", "1.1.0"]);
    let elsewhere = HttpGitServer::start(&world.repos);
    let front = RedirectingServer::start(&format!("http://127.0.0.1:{}", elsewhere.port));
    let url = format!("http://127.0.0.1:{}/git/config.git", front.port);
    let with_userinfo = url.replacen("http://", &format!("http://{GIT_USER}:{GIT_PASSWORD}@"), 1);
    let initial = world.head();
    for (case, source) in [
        ("basic auth", http_source(&url, GIT_USER, GIT_PASSWORD)),
        ("bearer token", bearer_source(&url, BEARER_TOKEN)),
        ("credentials in the URL", plain_source(&with_userinfo)),
    ] {
        let tagpilot = configured_with(&world, &source);
        let run = tagpilot.run_once();
        for line in elsewhere.requests() {
            assert!(
                line.ends_with("authorization=[-]"),
                "{case}: the other origin received credentials: {line}"
            );
        }
        assert!(
            front.requests().iter().any(|line| line.contains(" 302 ")),
            "{case}: the configured server redirected: {:?}\n{}",
            front.requests(),
            run.stderr,
        );
        assert_ne!(run.code, Some(0), "{case}: the redirect is refused");
        let status = tagpilot.status();
        let other_origin = format!("http://127.0.0.1:{}", elsewhere.port);
        assert!(
            status.stdout.contains("redirect") && status.stdout.contains(&other_origin),
            "{case}: the error says where the redirect led:\n{}",
            status.stdout
        );
        assert!(
            !status.stdout.contains(GIT_PASSWORD) && !run.stderr.contains(BEARER_TOKEN),
            "{case}"
        );
    }
    assert_eq!(world.head(), initial, "nothing was pushed");
}

/// The same over https: libgit2 reaches servers through the guard's
/// `CONNECT` tunnels, and gets one to the configured origin only. A direct
/// https remote (a real lighttpd with TLS, its CA in the Secret) still
/// commits through the tunnel; one that redirects to another https origin is
/// refused, and the other origin sees no request at all.
#[test]
fn https_credentials_never_follow_a_redirect_to_another_origin() {
    let world = World::new(&["1.0.0", "1.1.0"]);
    let dir = tempfile::tempdir().unwrap();
    let certificates = TestCertificates::generate(dir.path());
    let ca = std::fs::read(&certificates.ca_cert).unwrap();
    let elsewhere = HttpGitServer::start_tls(&world.repos, &certificates);
    let front = RedirectingServer::start_tls(
        &format!("https://127.0.0.1:{}", elsewhere.port),
        &certificates,
    );

    let direct = configured_with(
        &world,
        &https_source(&elsewhere.url(&world.bare), GIT_USER, GIT_PASSWORD, &ca),
    );
    direct.run_once().success();
    assert!(
        world.deployed().contains("1.1.0"),
        "committed over https through the tunnel"
    );

    let redirected = configured_with(
        &world,
        &https_source(
            &format!("https://127.0.0.1:{}/git/config.git", front.port),
            GIT_USER,
            GIT_PASSWORD,
            &ca,
        ),
    );
    let seen_before = elsewhere.requests().len();
    let run = redirected.run_once();
    assert_eq!(
        elsewhere.requests()[seen_before..],
        [] as [String; 0],
        "the other origin saw nothing"
    );
    assert!(
        front.requests().iter().any(|line| line.contains(" 302 ")),
        "{:?}\n{}",
        front.requests(),
        run.stderr
    );
    assert_ne!(run.code, Some(0));
    let other_origin = format!("https://127.0.0.1:{}", elsewhere.port);
    assert!(
        run.stderr.contains("redirected to") && run.stderr.contains(&other_origin),
        "{}",
        run.stderr
    );
}

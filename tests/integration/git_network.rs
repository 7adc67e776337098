//! The GitRepository's network settings against real servers: `timeout`
//! (a server that stalls, in front of sshd or lighttpd, fails the fetch or
//! the push at the timeout with a clear error) and `proxySecretRef` (http,
//! https and ssh through a real tinyproxy, which must see the traffic; a
//! proxy that refuses the credentials is named, without them).

use std::path::Path;
use std::time::{Duration, Instant};

use tagpilot::git::{
    CheckoutSpec, Credentials, GitError, GitWorkspace, ProxySpec, RepoSpec, Secret,
    run_automation_blocking,
};
use tempfile::TempDir;

use crate::harness::git_fixtures::{
    DEPLOY_FILE, automation, deploy_yaml, git_in, set_tag, show, ssh_credentials,
};
use crate::harness::git_server::{GIT_PASSWORD, GIT_USER, GitRepos, HttpGitServer, SshGitServer};
use crate::harness::proxy::ForwardProxy;
use crate::harness::socks::SocksProxy;
use crate::harness::stall_proxy::StallingProxy;
use crate::harness::tls::TestCertificates;

const TIMEOUT: Duration = Duration::from_secs(3);
/// Far above the timeout, far below the guard's 5-minute idle limit: a
/// failure within it is the timeout at work.
const GIVE_UP_WITHIN: Duration = Duration::from_secs(60);

fn config_repo(repos: &GitRepos) -> std::path::PathBuf {
    repos.create(
        "config",
        &[(DEPLOY_FILE, &deploy_yaml("v1")), ("README.md", "config\n")],
    )
}

/// ssh credentials for `server`, reached at `port` (a relay in front of it).
fn ssh_via(server: &SshGitServer, port: u16) -> Credentials {
    let Credentials::Ssh {
        identity,
        password,
        known_hosts,
    } = ssh_credentials(server)
    else {
        unreachable!()
    };
    Credentials::Ssh {
        identity,
        password,
        known_hosts: known_hosts.replace(
            &format!("[127.0.0.1]:{}", server.port),
            &format!("[127.0.0.1]:{port}"),
        ),
    }
}

fn basic() -> Credentials {
    Credentials::Basic {
        username: GIT_USER.into(),
        password: Secret::new(GIT_PASSWORD.into()),
    }
}

/// Runs `operation`, which must fail with a timeout, and checks it gave up in time.
fn times_out<T: std::fmt::Debug>(
    operation: impl FnOnce() -> Result<T, GitError>,
) -> (GitError, Duration) {
    let started = Instant::now();
    let error = operation().unwrap_err();
    let took = started.elapsed();
    assert!(matches!(error, GitError::Timeout { .. }), "{error:?}");
    assert!(took >= TIMEOUT, "gave up before the timeout: {took:?}");
    assert!(took < GIVE_UP_WITHIN, "gave up only after {took:?}");
    assert!(error.is_transient());
    (error, took)
}

#[test]
fn a_stalled_ssh_server_fails_the_fetch_then_the_push_at_the_timeout() {
    let repos = GitRepos::new();
    let bare = config_repo(&repos);
    let server = SshGitServer::start();
    let relay = StallingProxy::start(server.port);
    let url = format!(
        "ssh://{}",
        server
            .url(&bare)
            .split_once('@')
            .unwrap()
            .0
            .trim_start_matches("ssh://")
    ) + &format!("@127.0.0.1:{}{}", relay.port, bare.display());
    let mut repo = RepoSpec {
        credentials: ssh_via(&server, relay.port),
        ..RepoSpec::anonymous(url.clone())
    };
    repo.timeout = TIMEOUT;
    let state = TempDir::new().unwrap();
    let workspace = GitWorkspace::new(state.path());

    // The server stops answering from the first connection: the fetch gives up.
    relay.stall_from(0);
    let (error, _) = times_out(|| workspace.prepare(&repo, &CheckoutSpec::branch("main")));
    assert_eq!(
        error.to_string(),
        format!(
            "fetch of branch \"main\" from/to {url} did not finish within the timeout of 3s: the server or the network stalled; if the repository is just large, raise the GitRepository's spec.timeout"
        )
    );

    // It answers the fetch, then stalls on the push: nothing lands.
    let before = git_in(&bare, &["rev-parse", "main"]);
    relay.stall_from(relay.accepted() + 1);
    let spec = automation(repo);
    let (error, _) = times_out(|| run_automation_blocking(&workspace, &spec, set_tag("v2")));
    assert!(
        error
            .to_string()
            .starts_with("push of branch \"main\" from/to"),
        "{error}"
    );
    assert_eq!(git_in(&bare, &["rev-parse", "main"]), before);
}

#[test]
fn a_stalled_http_server_fails_at_the_timeout() {
    let repos = GitRepos::new();
    let bare = config_repo(&repos);
    let server = HttpGitServer::start(&repos);
    let relay = StallingProxy::start(server.port);
    relay.stall_from(0);
    let url = server
        .url(&bare)
        .replace(&format!(":{}/", server.port), &format!(":{}/", relay.port));
    let mut repo = RepoSpec {
        credentials: basic(),
        ..RepoSpec::anonymous(url.clone())
    };
    repo.timeout = TIMEOUT;
    let state = TempDir::new().unwrap();
    let (error, _) =
        times_out(|| GitWorkspace::new(state.path()).prepare(&repo, &CheckoutSpec::branch("main")));
    assert!(
        error.to_string().starts_with(&format!(
            "fetch of branch \"main\" from/to {url} did not finish within the timeout of 3s"
        )),
        "{error}"
    );
    assert!(!format!("{error:?}").contains(GIT_PASSWORD));
}

fn proxied(repo: RepoSpec, proxy: &ForwardProxy, password: Option<&str>) -> RepoSpec {
    RepoSpec {
        proxy: Some(
            ProxySpec::from_secret(
                &proxy.address(),
                proxy.credentials.as_ref().map(|(user, _)| user.clone()),
                password.map(|p| Secret::new(p.to_string())),
            )
            .unwrap(),
        ),
        ..repo
    }
}

const PROXY_USER: &str = "proxy-user";
const PROXY_PASSWORD: &str = "Pr0xy-Pa55";

/// Fetches, commits and pushes through `proxy`, then checks the push landed.
fn automate_through(repo: RepoSpec, bare: &Path) {
    let state = TempDir::new().unwrap();
    let spec = automation(repo);
    run_automation_blocking(&GitWorkspace::new(state.path()), &spec, set_tag("v2"))
        .unwrap_or_else(|error| panic!("{error:?}"));
    assert_eq!(show(bare, "main", DEPLOY_FILE), deploy_yaml("v2"));
}

#[test]
fn http_git_goes_through_the_proxy_with_its_credentials() {
    let repos = GitRepos::new();
    let bare = config_repo(&repos);
    let server = HttpGitServer::start(&repos);
    let proxy = ForwardProxy::start_with_basic_auth(PROXY_USER, PROXY_PASSWORD);
    let repo = RepoSpec {
        credentials: basic(),
        ..RepoSpec::anonymous(server.url(&bare))
    };
    automate_through(proxied(repo, &proxy, Some(PROXY_PASSWORD)), &bare);
    let origin = format!("http://127.0.0.1:{}/git/config.git/", server.port);
    let requests = proxy.requests();
    for expected in [
        format!("GET {origin}info/refs?service=git-upload-pack HTTP/1.1"),
        format!("POST {origin}git-upload-pack HTTP/1.1"),
        format!("GET {origin}info/refs?service=git-receive-pack HTTP/1.1"),
        format!("POST {origin}git-receive-pack HTTP/1.1"),
    ] {
        assert!(
            requests.contains(&expected),
            "{expected} not in {requests:#?}"
        );
    }
    assert!(proxy.connections_to(&format!("127.0.0.1:{}", server.port)) >= 4);
}

#[test]
fn https_and_ssh_git_tunnel_through_the_proxy() {
    let repos = GitRepos::new();
    let bare = config_repo(&repos);
    let dir = TempDir::new().unwrap();
    let certificates = TestCertificates::generate(dir.path());
    let https = HttpGitServer::start_tls(&repos, &certificates);
    let ssh = SshGitServer::start();
    let proxy = ForwardProxy::start();

    let repo = RepoSpec {
        credentials: basic(),
        ca_certificate: Some(std::fs::read(&certificates.ca_cert).unwrap()),
        ..RepoSpec::anonymous(https.url(&bare))
    };
    automate_through(proxied(repo, &proxy, None), &bare);
    let tunnel = format!("CONNECT 127.0.0.1:{} HTTP/1.1", https.port);
    assert!(
        proxy.requests().contains(&tunnel),
        "{:#?}",
        proxy.requests()
    );

    let repo = RepoSpec {
        credentials: ssh_credentials(&ssh),
        ..RepoSpec::anonymous(ssh.url(&bare))
    };
    let state = TempDir::new().unwrap();
    let mut spec = automation(proxied(repo, &proxy, None));
    spec.push.branch = Some("through-ssh".into());
    run_automation_blocking(&GitWorkspace::new(state.path()), &spec, set_tag("v3"))
        .unwrap_or_else(|error| panic!("{error:?}\nsshd: {}", ssh.log_text()));
    assert_eq!(show(&bare, "through-ssh", DEPLOY_FILE), deploy_yaml("v3"));
    let tunnel = format!("CONNECT 127.0.0.1:{} HTTP/1.1", ssh.port);
    assert!(
        proxy.requests().iter().filter(|r| **r == tunnel).count() >= 2,
        "a fetch and a push: {:#?}",
        proxy.requests()
    );
}

/// Flux proxies ssh through SOCKS5 (go-git's ssh transport dials through
/// `golang.org/x/net/proxy`); tagpilot does too.
#[test]
fn ssh_git_goes_through_a_socks5_proxy() {
    let repos = GitRepos::new();
    let bare = config_repo(&repos);
    let ssh = SshGitServer::start();
    let socks = SocksProxy::start();
    let repo = RepoSpec {
        credentials: ssh_credentials(&ssh),
        proxy: Some(ProxySpec::from_secret(&socks.address(), None, None).unwrap()),
        ..RepoSpec::anonymous(ssh.url(&bare))
    };
    automate_through(repo, &bare);
    assert!(
        socks.connections_to(ssh.port) >= 2,
        "a fetch and a push through the proxy: {}",
        socks.log_text()
    );
}

#[test]
fn a_proxy_that_refuses_the_credentials_is_named_without_them() {
    let repos = GitRepos::new();
    let bare = config_repo(&repos);
    let http = HttpGitServer::start(&repos);
    let ssh = SshGitServer::start();
    let proxy = ForwardProxy::start_with_basic_auth(PROXY_USER, PROXY_PASSWORD);
    let wrong = "Wr0ng-Pa55";
    let cases = [
        // Plain http, no proxy credentials in the Secret: the proxy's 407.
        (
            RepoSpec {
                credentials: basic(),
                ..RepoSpec::anonymous(http.url(&bare))
            },
            None,
            "HTTP/1.0 407 Proxy Authentication Required",
        ),
        // ssh tunnelled with a wrong password (tinyproxy answers CONNECT with 401).
        (
            RepoSpec {
                credentials: ssh_credentials(&ssh),
                ..RepoSpec::anonymous(ssh.url(&bare))
            },
            Some(wrong),
            "HTTP/1.0 401 Unauthorized",
        ),
    ];
    for (repo, password, answer) in cases {
        let url = repo.url.clone();
        let repo = RepoSpec {
            proxy: Some(
                ProxySpec::from_secret(
                    &proxy.address(),
                    password.map(|_| PROXY_USER.to_string()),
                    password.map(|p| Secret::new(p.to_string())),
                )
                .unwrap(),
            ),
            ..repo
        };
        let state = TempDir::new().unwrap();
        let error = GitWorkspace::new(state.path())
            .prepare(&repo, &CheckoutSpec::branch("main"))
            .unwrap_err();
        assert!(matches!(error, GitError::Proxy { .. }), "{url}: {error:?}");
        assert_eq!(
            error.to_string(),
            format!(
                "{url} could not be reached through the proxy {}: the proxy asks for credentials, or refused the ones given ({answer}): check username and password in the proxy Secret; check the proxySecretRef Secret (address, username, password)",
                proxy.address()
            )
        );
        let text = format!("{error} {error:?}");
        assert!(
            !text.contains(wrong) && !text.contains(GIT_PASSWORD),
            "{text}"
        );
    }
    assert_eq!(proxy.connections_to(&format!("127.0.0.1:{}", http.port)), 0);
    assert_eq!(proxy.connections_to(&format!("127.0.0.1:{}", ssh.port)), 0);
}

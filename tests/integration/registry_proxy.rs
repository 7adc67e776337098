//! `proxySecretRef` against a real forward proxy (Debian's tinyproxy with
//! basic auth): a plain HTTP registry is reached by absolute-URI requests
//! through the proxy, an HTTPS one (`certSecretRef`) through `CONNECT`, and
//! the proxy's log proves the traffic went that way while the registry
//! answered. A proxy refusing the credentials is named by its Secret; the
//! proxy's credentials appear in no output, at trace level.

use std::process::Output;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::harness::images::ImagePusher;
use crate::harness::proxy::ForwardProxy;
use crate::harness::registry::{AuthMode, Distribution, PASSWORD, Registry, RegistryOptions, USER};
use crate::harness::tls::TestCertificates;
use crate::registry::tagpilot_isolated;

const PROXY_USER: &str = "squid";
const PROXY_PASSWORD: &str = "pr0xy-Pa55word-1b7c";

fn secret(name: &str, data: &[(&str, &[u8])]) -> String {
    let mut yaml = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: shop\ndata:\n"
    );
    for (key, value) in data {
        yaml.push_str(&format!("  {key}: {}\n", STANDARD.encode(value)));
    }
    yaml + "---\n"
}

fn proxy_secret(proxy: &ForwardProxy, password: &str) -> String {
    secret(
        "proxy",
        &[
            ("address", proxy.address().as_bytes()),
            ("username", PROXY_USER.as_bytes()),
            ("password", password.as_bytes()),
        ],
    )
}

fn repository(name: &str, image: &str, extra: &str) -> String {
    format!(
        "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageRepository\nmetadata:\n  name: {name}\n  namespace: shop\nspec:\n  image: {image}\n  interval: 5m\n  secretRef:\n    name: registry\n  proxySecretRef:\n    name: proxy\n{extra}---\n"
    )
}

fn tags(config: &std::path::Path, image: &str) -> Output {
    let home = tempfile::tempdir().unwrap();
    tagpilot_isolated(home.path())
        .args(["--log-level", "trace", "tags", "--config"])
        .arg(config)
        .arg(image)
        .output()
        .unwrap()
}

fn assert_no_proxy_credentials(stderr: &str) {
    for (what, value) in [
        ("the proxy password", PROXY_PASSWORD.to_string()),
        (
            "the proxy's basic credentials",
            STANDARD.encode(format!("{PROXY_USER}:{PROXY_PASSWORD}")),
        ),
        ("the registry password", PASSWORD.to_string()),
    ] {
        if let Some(line) = stderr.lines().find(|line| line.contains(&value)) {
            panic!("{what} is in the output: {line}");
        }
    }
}

#[test]
fn registry_traffic_goes_through_the_proxy_of_proxy_secret_ref() {
    let proxy = ForwardProxy::start_with_basic_auth(PROXY_USER, PROXY_PASSWORD);
    let plain = Registry::start(Distribution::V2, AuthMode::Basic);
    ImagePusher::new(&plain, "team/app").push_all(["1.0.0", "1.1.0"]);
    let dir = tempfile::tempdir().unwrap();
    let certificates = TestCertificates::generate(dir.path());
    let tls = Registry::start_with(
        Distribution::V2,
        AuthMode::Basic,
        RegistryOptions {
            tls: Some((
                certificates.server_cert.clone(),
                certificates.server_key.clone(),
            )),
            ..RegistryOptions::default()
        },
    );
    ImagePusher::new(&tls, "team/api").push_all(["2.0.0"]);
    let config = tempfile::tempdir().unwrap();
    let ca = std::fs::read(&certificates.ca_cert).unwrap();
    let objects = [
        proxy_secret(&proxy, PROXY_PASSWORD),
        secret(
            "registry",
            &[
                ("username", USER.as_bytes()),
                ("password", PASSWORD.as_bytes()),
            ],
        ),
        secret("registry-ca", &[("ca.crt", &ca)]),
        repository(
            "app",
            &format!("{}/team/app", plain.host),
            "  insecure: true\n",
        ),
        repository(
            "api",
            &format!("{}/team/api", tls.host),
            "  certSecretRef:\n    name: registry-ca\n",
        ),
    ]
    .concat();
    std::fs::write(config.path().join("objects.yaml"), objects).unwrap();

    // Plain HTTP: the proxy forwards absolute-URI requests.
    let output = tags(config.path(), &format!("{}/team/app", plain.host));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "stderr:\n{stderr}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "1.0.0\n1.1.0\n");
    assert_no_proxy_credentials(&stderr);
    proxy.wait_for_request("for team/app's tags", |line| {
        line.starts_with(&format!("GET http://{}/v2/team/app/tags/list", plain.host))
    });
    assert!(
        proxy.connections_to(&plain.host) >= 1,
        "{}",
        proxy.log_text()
    );

    // HTTPS: a CONNECT tunnel, the registry's certificate checked end to end.
    let output = tags(config.path(), &format!("{}/team/api", tls.host));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "stderr:\n{stderr}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "2.0.0\n");
    assert_no_proxy_credentials(&stderr);
    proxy.wait_for_request("a tunnel to the HTTPS registry", |line| {
        line.starts_with(&format!("CONNECT {} ", tls.host))
    });
    assert!(proxy.connections_to(&tls.host) >= 1, "{}", proxy.log_text());
}

#[test]
fn a_proxy_that_refuses_the_credentials_is_named_by_its_secret() {
    let proxy = ForwardProxy::start_with_basic_auth(PROXY_USER, PROXY_PASSWORD);
    let registry = Registry::start(Distribution::V2, AuthMode::Basic);
    ImagePusher::new(&registry, "team/app").push_all(["1.0.0"]);
    let image = format!("{}/team/app", registry.host);
    let config = tempfile::tempdir().unwrap();
    const WRONG: &str = "Wr0ng-Proxy-Pa55-33f";
    // A failing scan of `image` with `proxy` as the proxy's Secret: its stderr.
    let failing_scan = |proxy_secret: String| {
        let objects = [
            proxy_secret,
            secret(
                "registry",
                &[
                    ("username", USER.as_bytes()),
                    ("password", PASSWORD.as_bytes()),
                ],
            ),
            repository("app", &image, "  insecure: true\n"),
        ]
        .concat();
        std::fs::write(config.path().join("objects.yaml"), objects).unwrap();
        let output = tags(config.path(), &image);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(output.status.code(), Some(1), "stderr:\n{stderr}");
        assert!(!stderr.contains(WRONG), "{stderr}");
        assert!(
            !stderr.contains(&STANDARD.encode(format!("{PROXY_USER}:{WRONG}"))),
            "{stderr}"
        );
        stderr
    };

    // tinyproxy answers 401 (not 407) to wrong credentials: the hint names both Secrets.
    let stderr = failing_scan(proxy_secret(&proxy, WRONG));
    assert!(
        stderr.contains(&format!(
            "scanning {image}: {} answered 401: not authorized; check the credentials in Secret shop/registry (or, if the proxy refused, `username` and `password` in Secret shop/proxy)",
            registry.host
        )),
        "{stderr}"
    );
    // The proxy saw the requests and refused them: nothing reached the registry.
    proxy.wait_for_request("refused", |line| line.contains("/v2/"));
    assert_eq!(
        proxy.connections_to(&registry.host),
        0,
        "{}",
        proxy.log_text()
    );

    // No credentials at all: the proxy's 407 names the proxy's Secret.
    let stderr = failing_scan(secret("proxy", &[("address", proxy.address().as_bytes())]));
    assert!(
        stderr.contains(&format!(
            "scanning {image}: the proxy from Secret shop/proxy: it answered 407 (proxy authentication required): check `username` and `password`"
        )),
        "{stderr}"
    );
    assert_eq!(
        proxy.connections_to(&registry.host),
        0,
        "{}",
        proxy.log_text()
    );

    // An unusable address is named, and its credentials are not quoted.
    let socks = format!("socks5://{PROXY_USER}:{WRONG}@127.0.0.1:1080");
    let stderr = failing_scan(secret("proxy", &[("address", socks.as_bytes())]));
    assert!(
        stderr.contains("the proxy from Secret shop/proxy: `address`: socks5 proxies are not supported yet; use an http:// or https:// proxy"),
        "{stderr}"
    );
}

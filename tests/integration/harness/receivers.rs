//! Flux Receivers on a standalone daemon: the world of `engine::World`
//! (a real registry, a config repository), one Receiver of Flux's
//! `notification.toolkit.fluxcd.io/v1` YAML for the ImageRepository `shop/api`
//! with its Secret, and `tagpilot run --listen`. Deliveries are sent as their
//! senders send them; the effects checked are the ones a user sees: the new
//! tag committed, the answer, and `/metrics`.

use std::io::{Read as _, Write as _};
use std::net::TcpListener;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::sign::Signer;
use reqwest::blocking::Client;
use sha2::{Digest as _, Sha256};

use super::images::ImagePusher;
use super::process::free_port;
use super::tagpilot::{Daemon, plain_source, wait_for};
use crate::engine::World;

/// One delivery: headers and body (and, for a wrong-path case, another path).
#[derive(Debug, Clone, Default)]
pub struct Delivery {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub path: Option<String>,
}

impl Delivery {
    pub fn json(body: impl Into<Vec<u8>>) -> Self {
        Self {
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.into(),
            path: None,
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// A daemon serving one Receiver.
pub struct Hooked {
    pub world: World,
    pub daemon: Daemon,
    pub base: String,
    pub path: String,
    pub client: Client,
    _config: super::tagpilot::Tagpilot,
}

/// Flux's YAML of a Receiver `shop/NAME` of `receiver_type` (`spec` adds
/// lines under `spec:`) reconciling `resources` (flow mappings), and of its
/// Secret `NAME-token` holding `token` and the `extra` keys.
pub fn receiver_yaml(
    name: &str,
    receiver_type: &str,
    spec: &str,
    resources: &[&str],
    token: &str,
    extra: &[(&str, &str)],
) -> String {
    let mut data = format!("  token: {}\n", STANDARD.encode(token));
    for (key, value) in extra {
        data.push_str(&format!("  {key}: {}\n", STANDARD.encode(value)));
    }
    let resources: String = resources
        .iter()
        .map(|resource| format!("    - {resource}\n"))
        .collect();
    format!(
        "apiVersion: notification.toolkit.fluxcd.io/v1
kind: Receiver
metadata:
  name: {name}
  namespace: shop
spec:
  type: {receiver_type}
{spec}  secretRef:
    name: {name}-token
  resources:
{resources}---
apiVersion: v1
kind: Secret
metadata:
  name: {name}-token
  namespace: shop
type: Opaque
data:
{data}"
    )
}

/// Flux's webhook path of a Receiver.
pub fn webhook_path(token: &str, name: &str, namespace: &str) -> String {
    let digest = Sha256::digest(format!("{token}{name}{namespace}").as_bytes());
    format!("/hook/{}", hex::encode(digest))
}

/// `hex(HMAC(key, body))` with `digest`.
pub fn hmac_hex(digest: MessageDigest, key: &str, body: &[u8]) -> String {
    let key = PKey::hmac(key.as_bytes()).unwrap();
    let mut signer = Signer::new(digest, &key).unwrap();
    signer.update(body).unwrap();
    hex::encode(signer.sign_to_vec().unwrap())
}

impl Hooked {
    /// `shop/api` at 1.0.0, and a Receiver `shop/<type>-hook` of `receiver_type`
    /// whose Secret holds `token` (and `extra` keys), reconciling the
    /// ImageRepository `api`; `spec` adds lines under `spec:`.
    pub fn start(
        receiver_type: &str,
        token: &str,
        extra: &[(&str, &str)],
        spec: &str,
        daemon_args: &[&str],
    ) -> Self {
        let world = World::new(&["1.0.0"]);
        let tagpilot = world.tagpilot(&plain_source(&format!("file://{}", world.bare.display())));
        let name = format!("{receiver_type}-hook");
        tagpilot.write(
            "receiver.yaml",
            &receiver_yaml(
                &name,
                receiver_type,
                spec,
                &["{apiVersion: image.toolkit.fluxcd.io/v1, kind: ImageRepository, name: api}"],
                token,
                extra,
            ),
        );
        let listen = format!("127.0.0.1:{}", free_port());
        let mut args = vec!["--listen", listen.as_str()];
        args.extend_from_slice(daemon_args);
        let daemon = tagpilot.spawn_daemon(&args);
        let base = format!("http://{listen}");
        let client = Client::new();
        wait_for(
            "/readyz",
            || {
                let response = client.get(format!("{base}/readyz")).send().ok()?;
                (response.status().as_u16() == 200).then_some(())
            },
            || daemon.log_text(),
        );
        let hooked = Self {
            path: webhook_path(token, &name, "shop"),
            world,
            daemon,
            base,
            client,
            _config: tagpilot,
        };
        // The first scan (at start) has run once the metrics count it.
        wait_for(
            "the first scan",
            || (hooked.scans() >= 1.0).then_some(()),
            || hooked.daemon.log_text(),
        );
        hooked
    }

    /// Sends `delivery`; the status and the answer's text.
    pub fn deliver(&self, delivery: &Delivery) -> (u16, String) {
        let path = delivery.path.as_deref().unwrap_or(&self.path);
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .body(delivery.body.clone());
        for (name, value) in &delivery.headers {
            request = request.header(name, value);
        }
        let response = request.send().unwrap();
        let status = response.status().as_u16();
        (status, response.text().unwrap_or_default())
    }

    /// Pushes `tag` of `shop/api` to the registry.
    pub fn push(&self, tag: &str) {
        ImagePusher::new(&self.world.registry, "shop/api").push(tag);
    }

    /// Waits until the config repository deploys `tag`.
    pub fn committed(&self, tag: &str) {
        wait_for(
            &format!("a commit with {tag}"),
            || {
                self.daemon.assert_running();
                self.world
                    .deployed()
                    .contains(&format!(":{tag} #"))
                    .then_some(())
            },
            || format!("{}\n{}", self.world.deployed(), self.daemon.log_text()),
        );
    }

    /// A metric's value (0 when absent).
    pub fn metric(&self, series: &str) -> f64 {
        let text = self
            .client
            .get(format!("{}/metrics", self.base))
            .send()
            .unwrap()
            .text()
            .unwrap();
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
            .unwrap_or(0.0)
    }

    /// Successful scans so far.
    pub fn scans(&self) -> f64 {
        self.metric("tagpilot_scans_total{result=\"ok\"} ")
    }

    /// Deliveries of this Receiver's type with `result`.
    pub fn deliveries(&self, receiver_type: &str, result: &str) -> f64 {
        self.metric(&format!(
            "tagpilot_receiver_deliveries_total{{result=\"{result}\",type=\"{receiver_type}\"}} "
        ))
    }

    /// The whole check of one type: `good(tag)` is a valid delivery
    /// announcing `tag`; each of `refused` gets its status and causes no scan;
    /// the first good delivery sent again is a replay (200, no scan); and a
    /// second good delivery still works.
    pub fn check(
        &self,
        receiver_type: &str,
        good: impl Fn(&str) -> Delivery,
        refused: &[(Delivery, u16)],
    ) {
        self.push("1.0.1");
        let first = good("1.0.1");
        let (status, text) = self.deliver(&first);
        assert_eq!(status, 200, "{text}\n{}", self.daemon.log_text());
        self.committed("1.0.1");
        assert_eq!(self.deliveries(receiver_type, "accepted"), 1.0);
        let scans = self.scans();

        for (delivery, expected) in refused {
            let (status, text) = self.deliver(delivery);
            assert_eq!(status, *expected, "{delivery:?}: {text}");
        }
        let replayed = self.deliveries(receiver_type, "replayed");
        let (status, text) = self.deliver(&first);
        assert_eq!(
            (status, text.as_str()),
            (200, "already handled: this delivery was received before\n")
        );
        assert_eq!(self.deliveries(receiver_type, "replayed"), replayed + 1.0);

        self.push("1.0.2");
        let (status, text) = self.deliver(&good("1.0.2"));
        assert_eq!(status, 200, "{text}");
        self.committed("1.0.2");
        assert_eq!(
            self.scans(),
            scans + 1.0,
            "only the second good delivery scanned\n{}",
            self.daemon.log_text()
        );
        assert_eq!(self.world.commit_count(), 3, "one commit per delivery");
    }
}

/// An RSA key and a one-route HTTP server publishing it as a JWKS (Google's
/// certs endpoint, for `gcr` Receivers).
pub struct JwksServer {
    pub url: String,
    pub key: PKey<Private>,
}

impl JwksServer {
    pub fn start(kid: &str) -> Self {
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let rsa = key.rsa().unwrap();
        let jwks = serde_json::json!({"keys": [{
            "kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid,
            "n": URL_SAFE_NO_PAD.encode(rsa.n().to_vec()),
            "e": URL_SAFE_NO_PAD.encode(rsa.e().to_vec()),
        }]})
        .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/oauth2/v3/certs", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let mut buffer = [0u8; 4096];
                let _ = stream.read(&mut buffer);
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: public, max-age=3600\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{jwks}",
                    jwks.len()
                );
            }
        });
        Self { url, key }
    }

    /// An RS256 ID token with `claims`, signed by `key` under `kid`.
    pub fn token(key: &PKey<Private>, kid: &str, claims: &serde_json::Value) -> String {
        let header = URL_SAFE_NO_PAD
            .encode(serde_json::json!({"alg": "RS256", "kid": kid, "typ": "JWT"}).to_string());
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        let mut signer = Signer::new(MessageDigest::sha256(), key).unwrap();
        signer
            .update(format!("{header}.{payload}").as_bytes())
            .unwrap();
        let signature = URL_SAFE_NO_PAD.encode(signer.sign_to_vec().unwrap());
        format!("{header}.{payload}.{signature}")
    }
}

//! A token server for the registry's token auth (the flow Docker Hub and the
//! GitLab registry use): `GET /token?service=S&scope=repository:NAME:ACTIONS`
//! answers `{"token", "access_token", "expires_in", "issued_at"}` with an RS256
//! JWT whose `x5c` header carries the signing certificate, which the registry
//! trusts through `auth.token.rootcertbundle`.
//!
//! Users authenticate with HTTP basic auth; a known user gets the actions it
//! asks for, an anonymous caller gets a token with no access (as on Docker Hub
//! for private repositories) unless anonymous pull is allowed.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::process::{require_program, run};

/// The issuer and service names the registry is configured with.
pub const ISSUER: &str = "tagpilot-test-issuer";
/// The `service` of the test registry.
pub const SERVICE: &str = "tagpilot-test-registry";

/// A running token server (a thread of the test process).
pub struct TokenServer {
    port: u16,
    /// The certificate the registry must trust (PEM file).
    pub cert_path: PathBuf,
    requests: Arc<AtomicUsize>,
    signer: Arc<Signer>,
}

struct Signer {
    key: jsonwebtoken::EncodingKey,
    cert_der_base64: String,
    users: HashMap<String, String>,
    anonymous_pull: bool,
    expires_in: u64,
    /// The `expires_in` the JSON answer claims (the JWT's `exp` stays `expires_in`).
    answered_expires_in: AtomicU64,
}

impl TokenServer {
    /// Generates a signing key and certificate in `dir` and starts serving on a free port.
    pub fn start(dir: &Path, users: &[(&str, &str)], anonymous_pull: bool) -> Self {
        let openssl = require_program("openssl", "apt-get install openssl");
        let key_path = dir.join("token-signing.key");
        let cert_path = dir.join("token-signing.crt");
        run(std::process::Command::new(openssl)
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=tagpilot test token issuer",
                "-keyout",
            ])
            .arg(&key_path)
            .arg("-out")
            .arg(&cert_path));
        let key_pem = std::fs::read(&key_path).expect("read signing key");
        let cert_pem = std::fs::read_to_string(&cert_path).expect("read signing cert");
        let cert_body: String = cert_pem
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .collect();
        let signer = Arc::new(Signer {
            key: jsonwebtoken::EncodingKey::from_rsa_pem(&key_pem).expect("RSA signing key"),
            cert_der_base64: cert_body,
            users: users
                .iter()
                .map(|(u, p)| (u.to_string(), p.to_string()))
                .collect(),
            anonymous_pull,
            expires_in: 300,
            answered_expires_in: AtomicU64::new(300),
        });
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind token server");
        let port = listener.local_addr().expect("addr").port();
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        let serving = signer.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                counter.fetch_add(1, Ordering::SeqCst);
                let signer = serving.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &signer);
                });
            }
        });
        Self {
            port,
            cert_path,
            requests,
            signer,
        }
    }

    /// Makes the JSON answers claim `expires_in` (a hostile server's number);
    /// the tokens themselves stay valid for 300 s.
    pub fn answer_expires_in(&self, expires_in: u64) {
        self.signer
            .answered_expires_in
            .store(expires_in, Ordering::SeqCst);
    }

    /// The realm URL for the registry's `auth.token.realm`.
    pub fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }

    /// How many requests the server has answered.
    pub fn request_count(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Fetches a token for `scope` as `user` (for test setup, e.g. pushing images).
    pub fn token_for(&self, user: &str, password: &str, scope: &str) -> String {
        let response = reqwest::blocking::Client::new()
            .get(self.realm())
            .query(&[("service", SERVICE), ("scope", scope)])
            .basic_auth(user, Some(password))
            .send()
            .expect("token request");
        assert!(
            response.status().is_success(),
            "token server refused {user}"
        );
        let body: serde_json::Value = response.json().expect("token JSON");
        body["token"].as_str().expect("token field").to_string()
    }
}

fn serve(stream: TcpStream, signer: &Signer) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut authorization = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("authorization")
        {
            authorization = Some(value.trim().to_string());
        }
    }
    let target = request_line.split_whitespace().nth(1).unwrap_or("/");
    let query = target.split_once('?').map_or("", |(_, q)| q);
    let mut scopes = Vec::new();
    let mut service = String::new();
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value);
        match key {
            "scope" => scopes.push(value),
            "service" => service = value,
            _ => {}
        }
    }
    let user = match authorization
        .as_deref()
        .and_then(|a| a.strip_prefix("Basic "))
    {
        Some(encoded) => {
            let decoded = STANDARD.decode(encoded.trim()).unwrap_or_default();
            let text = String::from_utf8_lossy(&decoded).into_owned();
            match text.split_once(':') {
                Some((u, p)) if signer.users.get(u).is_some_and(|expected| expected == p) => {
                    Some(u.to_string())
                }
                _ => {
                    return respond(
                        stream,
                        "401 Unauthorized",
                        r#"{"details":"invalid credentials"}"#,
                    );
                }
            }
        }
        None => None,
    };
    let access: Vec<serde_json::Value> = scopes
        .iter()
        .filter_map(|scope| {
            let mut parts = scope.splitn(3, ':');
            let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
            let granted: Vec<&str> = actions
                .split(',')
                .filter(|action| user.is_some() || (signer.anonymous_pull && *action == "pull"))
                .collect();
            Some(serde_json::json!({"type": kind, "name": name, "actions": granted}))
        })
        .collect();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let claims = serde_json::json!({
        "iss": ISSUER,
        "sub": user.clone().unwrap_or_default(),
        "aud": service,
        "exp": now.saturating_add(signer.expires_in),
        "nbf": now.saturating_sub(10),
        "iat": now,
        "jti": format!("{now}-{}", rand_suffix()),
        "access": access,
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.x5c = Some(vec![signer.cert_der_base64.clone()]);
    let token = jsonwebtoken::encode(&header, &claims, &signer.key).expect("sign token");
    let body = serde_json::json!({
        "token": token,
        "access_token": token,
        "expires_in": signer.answered_expires_in.load(Ordering::SeqCst),
        "issued_at": "2026-01-01T00:00:00Z",
    });
    respond(stream, "200 OK", &body.to_string())
}

fn respond(mut stream: TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn rand_suffix() -> u64 {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    COUNTER.fetch_add(1, Ordering::SeqCst) as u64
}

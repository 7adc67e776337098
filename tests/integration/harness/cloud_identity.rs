//! The cloud identity endpoints `provider: azure` and `provider: gcp` talk
//! to, speaking their documented protocols, in threads of the test process:
//!
//! - Azure AD's v2.0 token endpoint, `POST /{tenant}/oauth2/v2.0/token`
//!   (client-credentials grant with `client_secret` or a workload-identity
//!   `client_assertion`), over HTTPS;
//! - ACR's token exchange, `POST /oauth2/exchange` (`grant_type=access_token`,
//!   `service`, `access_token`) answering `{"refresh_token"}`, over HTTPS;
//! - Azure's instance metadata service, `GET /metadata/identity/oauth2/token`
//!   with `Metadata: true` (managed identity), over plain HTTP;
//! - GCP's metadata server, `GET /computeMetadata/v1/instance/service-accounts/default/token`
//!   with `Metadata-Flavor: Google`, over plain HTTP.
//!
//! Each endpoint checks what a real one checks (the identity, the scope or
//! resource, the header) and answers 400/401/403 with the real error shapes
//! otherwise. The tokens it issues are fixed, so a real registry's htpasswd
//! can accept them; every request is recorded for counting.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openssl::ssl::{SslAcceptor, SslFiletype, SslMethod};

use super::tls::TestCertificates;

/// The tenant the AAD endpoint knows.
pub const TENANT: &str = "72f988bf-0000-4000-8000-2d7cd011db47";
/// The application (client) id it knows.
pub const CLIENT_ID: &str = "4bc8e8a1-0000-4000-8000-6f5f6bd7a3c2";
/// That application's client secret.
pub const CLIENT_SECRET: &str = "aad-Client-Secr3t-71c0";
/// The workload identity's federated token (a service account token's shape).
pub const FEDERATED_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6dGFncGlsb3Qtc3lzdGVtOnRhZ3BpbG90In0.fed-Sig-5a9e";
/// The AAD access token it issues.
pub const AAD_TOKEN: &str = "aad-Access-T0ken-3f9b2c";
/// The GCP access token the metadata server issues.
pub const GCP_TOKEN: &str = "ya29.gcp-Access-T0ken-8d1e";
/// The AAD resource of ACR in the public cloud.
pub const ACR_RESOURCE: &str = "https://containerregistry.azure.net";

/// One request the server received.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `GET` or `POST`.
    pub method: String,
    /// The path, without query.
    pub path: String,
    /// The query and form parameters.
    pub params: HashMap<String, String>,
    /// The headers, names lowercased.
    pub headers: HashMap<String, String>,
}

#[derive(Default)]
struct State {
    seen: Vec<Seen>,
    /// Whether the exchange refuses every token (the identity lacks AcrPull).
    refuse_exchange: bool,
}

/// A running server: an HTTPS port (Azure AD, ACR exchange) and an HTTP port
/// (the metadata services).
pub struct CloudIdentityServer {
    /// `127.0.0.1:PORT` of the HTTPS listener.
    pub https_authority: String,
    /// `127.0.0.1:PORT` of the plain HTTP listener.
    pub http_authority: String,
    /// The ACR refresh token it issues (a JWT whose `exp` is an hour away).
    pub refresh_token: String,
    state: Arc<Mutex<State>>,
}

impl CloudIdentityServer {
    /// Starts both listeners, the HTTPS one with `certificates`' server certificate.
    pub fn start(certificates: &TestCertificates) -> Self {
        let mut acceptor =
            SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).expect("TLS acceptor");
        acceptor
            .set_certificate_chain_file(&certificates.server_cert)
            .expect("server certificate");
        acceptor
            .set_private_key_file(&certificates.server_key, SslFiletype::PEM)
            .expect("server key");
        let acceptor = Arc::new(acceptor.build());
        let exp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 3600;
        let refresh_token = format!(
            "{}.{}.acr-Refresh-Sig-c47d",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(format!(
                r#"{{"grant_type":"refresh_token","exp":{exp},"aud":"shop.azurecr.io"}}"#
            ))
        );
        let state = Arc::new(Mutex::new(State::default()));

        let tls_listener = TcpListener::bind("127.0.0.1:0").expect("bind https");
        let https_authority = tls_listener.local_addr().unwrap().to_string();
        let (tls_state, tls_refresh) = (state.clone(), refresh_token.clone());
        std::thread::spawn(move || {
            for stream in tls_listener.incoming().flatten() {
                let (acceptor, state, refresh) =
                    (acceptor.clone(), tls_state.clone(), tls_refresh.clone());
                std::thread::spawn(move || {
                    if let Ok(stream) = acceptor.accept(stream) {
                        serve(stream, &state, &refresh);
                    }
                });
            }
        });

        let listener = TcpListener::bind("127.0.0.1:0").expect("bind http");
        let http_authority = listener.local_addr().unwrap().to_string();
        let (plain_state, plain_refresh) = (state.clone(), refresh_token.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (state, refresh) = (plain_state.clone(), plain_refresh.clone());
                std::thread::spawn(move || serve(stream, &state, &refresh));
            }
        });
        Self {
            https_authority,
            http_authority,
            refresh_token,
            state,
        }
    }

    /// `https://127.0.0.1:PORT/` (`AZURE_AUTHORITY_HOST`).
    pub fn authority_host(&self) -> String {
        format!("https://{}/", self.https_authority)
    }

    /// The ACR exchange URL (`TAGPILOT_TEST_ACR_EXCHANGE_URL`).
    pub fn exchange_url(&self) -> String {
        format!("https://{}/oauth2/exchange", self.https_authority)
    }

    /// Azure's managed identity endpoint (`TAGPILOT_TEST_AZURE_IMDS_URL`).
    pub fn imds_url(&self) -> String {
        format!(
            "http://{}/metadata/identity/oauth2/token",
            self.http_authority
        )
    }

    /// GCP's metadata token URL (`TAGPILOT_TEST_GCP_METADATA_URL`).
    pub fn gcp_metadata_url(&self) -> String {
        format!(
            "http://{}/computeMetadata/v1/instance/service-accounts/default/token",
            self.http_authority
        )
    }

    /// Makes the ACR exchange refuse every AAD token (an identity without AcrPull).
    pub fn refuse_exchange(&self) {
        self.state.lock().unwrap().refuse_exchange = true;
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// How many requests went to `path`.
    pub fn count(&self, path: &str) -> usize {
        self.seen().iter().filter(|s| s.path == path).count()
    }
}

fn serve(stream: impl Read + Write, state: &Mutex<State>, refresh_token: &str) {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or_default().to_string(),
        parts.next().unwrap_or_default().to_string(),
    );
    let mut headers = HashMap::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut params = parse_form(query);
    params.extend(parse_form(&String::from_utf8_lossy(&body)));
    let seen = Seen {
        method: method.clone(),
        path: path.to_string(),
        params,
        headers,
    };
    let refuse_exchange = {
        let mut state = state.lock().unwrap();
        state.seen.push(seen.clone());
        state.refuse_exchange
    };
    let (status, json) = answer(&seen, refresh_token, refuse_exchange);
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        _ => "Not Found",
    };
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
        json.len()
    );
    let stream = reader.get_mut();
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.flush();
}

fn answer(seen: &Seen, refresh_token: &str, refuse_exchange: bool) -> (u16, String) {
    let param = |name: &str| seen.params.get(name).map(String::as_str).unwrap_or("");
    let aad_path = format!("/{TENANT}/oauth2/v2.0/token");
    match (seen.method.as_str(), seen.path.as_str()) {
        ("POST", path) if path == aad_path => {
            let identity_ok = param("client_id") == CLIENT_ID
                && param("grant_type") == "client_credentials"
                && (param("client_secret") == CLIENT_SECRET
                    || (param("client_assertion_type")
                        == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
                        && param("client_assertion") == FEDERATED_TOKEN));
            if !identity_ok {
                return (
                    401,
                    r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}"#.into(),
                );
            }
            if param("scope") != format!("{ACR_RESOURCE}/.default") {
                return (
                    400,
                    r#"{"error":"invalid_scope","error_description":"AADSTS70011: The provided value for scope is not valid."}"#.into(),
                );
            }
            (
                200,
                format!(
                    r#"{{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"{AAD_TOKEN}"}}"#
                ),
            )
        }
        ("GET", "/metadata/identity/oauth2/token") => {
            if seen.headers.get("metadata").map(String::as_str) != Some("true")
                || param("api-version").is_empty()
            {
                return (
                    400,
                    r#"{"error":"invalid_request","error_description":"Required metadata header not specified"}"#.into(),
                );
            }
            if param("resource") != ACR_RESOURCE {
                return (
                    400,
                    r#"{"error":"invalid_resource","error_description":"AADSTS500011: The resource principal was not found."}"#.into(),
                );
            }
            (
                200,
                format!(
                    r#"{{"access_token":"{AAD_TOKEN}","expires_in":"86399","expires_on":"1900000000","resource":"{ACR_RESOURCE}","token_type":"Bearer"}}"#
                ),
            )
        }
        ("POST", "/oauth2/exchange") => {
            if refuse_exchange || param("access_token") != AAD_TOKEN {
                return (
                    401,
                    r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#
                        .into(),
                );
            }
            if param("grant_type") != "access_token" || param("service").is_empty() {
                return (
                    400,
                    r#"{"errors":[{"code":"UNSUPPORTED","message":"grant_type"}]}"#.into(),
                );
            }
            (200, format!(r#"{{"refresh_token":"{refresh_token}"}}"#))
        }
        ("GET", "/computeMetadata/v1/instance/service-accounts/default/token") => {
            if seen.headers.get("metadata-flavor").map(String::as_str) != Some("Google") {
                return (
                    403,
                    r#"{"error":"Missing Metadata-Flavor:Google header"}"#.into(),
                );
            }
            (
                200,
                format!(
                    r#"{{"access_token":"{GCP_TOKEN}","expires_in":3599,"token_type":"Bearer"}}"#
                ),
            )
        }
        _ => (404, r#"{"error":"not_found"}"#.into()),
    }
}

/// `a=b&c=d` (form or query), `+` and `%XX` decoded.
fn parse_form(text: &str) -> HashMap<String, String> {
    text.split('&')
        .filter(|pair| !pair.is_empty())
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            Some((decode(key)?, decode(value)?))
        })
        .collect()
}

fn decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                out.push(u8::from_str_radix(text.get(i + 1..i + 3)?, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

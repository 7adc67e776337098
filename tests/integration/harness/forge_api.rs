//! NOT A REAL FORGE. A local HTTP server that stands in for GitLab's and
//! GitHub's REST APIs in the tests, because neither can run here. It checks
//! every request against the APIs' documentation — method, path, required
//! headers, query parameters and JSON body fields (required present, unknown
//! ones refused) — records each violation, and answers as the documentation
//! says, from a small in-memory model of the pull (merge) requests. Gitea,
//! which can run here, is tested for real (`forge_gitea`).
//!
//! Sources: GitHub "REST API endpoints for pull requests" and "for issue
//! comments" (API version 2022-11-28); GitLab "Merge requests API" and "Notes
//! API" (v4), "REST API authentication".

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    /// The method.
    pub method: Method,
    /// The raw (still percent-encoded) path.
    pub path: String,
    /// The query, decoded.
    pub query: BTreeMap<String, String>,
    /// The headers, names lowercase.
    pub headers: BTreeMap<String, String>,
    /// The JSON body, if any.
    pub body: Option<Value>,
}

/// An answer: status, extra headers, JSON.
pub struct ApiAnswer {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Value,
}

impl ApiAnswer {
    pub fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body,
        }
    }
}

/// What a model of one forge does with a request; violations go to `problems`.
pub trait ApiModel: Send + 'static {
    fn answer(&mut self, request: &ApiRequest, problems: &mut Vec<String>) -> ApiAnswer;
}

/// A fault to inject instead of (or after) the model's answer.
pub struct Fault {
    /// Which request: method and the end of the path.
    pub method: Method,
    pub path_suffix: String,
    /// The answer sent instead.
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Value,
    /// Let the model act first (the answer is lost on the way back).
    pub after_model: bool,
}

struct Shared {
    model: Box<dyn ApiModel>,
    requests: Vec<ApiRequest>,
    problems: Vec<String>,
    faults: Vec<Fault>,
}

/// The running stand-in; stops with the test's runtime (or, started with
/// [`ApiServer::start_on_own_thread`], when dropped).
pub struct ApiServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    shared: Arc<Mutex<Shared>>,
    _stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl ApiServer {
    fn shared(model: impl ApiModel) -> Arc<Mutex<Shared>> {
        Arc::new(Mutex::new(Shared {
            model: Box::new(model),
            requests: Vec::new(),
            problems: Vec::new(),
            faults: Vec::new(),
        }))
    }

    fn app(shared: &Arc<Mutex<Shared>>) -> axum::Router {
        let state = shared.clone();
        axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                async move { handle(&state, method, uri, headers, body) }
            },
        )
    }

    /// Serves `model` on a free port of 127.0.0.1 (on the current tokio runtime).
    pub async fn start(model: impl ApiModel) -> Self {
        let shared = Self::shared(model);
        let app = Self::app(&shared);
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base,
            shared,
            _stop: None,
        }
    }

    /// Serves `model` from a thread of its own (for tests without a runtime),
    /// until dropped.
    pub fn start_on_own_thread(model: impl ApiModel) -> Self {
        let shared = Self::shared(model);
        let app = Self::app(&shared);
        let listener = std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
        listener.set_nonblocking(true).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        Self {
            base,
            shared,
            _stop: Some(stop),
        }
    }

    /// Queues a fault for the next matching request.
    pub fn inject(&self, fault: Fault) {
        self.shared.lock().unwrap().faults.push(fault);
    }

    /// Every request so far, as `METHOD path`.
    pub fn requests(&self) -> Vec<String> {
        self.shared
            .lock()
            .unwrap()
            .requests
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }

    /// Every request so far.
    pub fn full_requests(&self) -> Vec<ApiRequest> {
        self.shared.lock().unwrap().requests.clone()
    }

    /// Every documented rule a request broke so far.
    pub fn problems(&self) -> Vec<String> {
        self.shared.lock().unwrap().problems.clone()
    }

    /// Fails the test with every documented rule a request broke.
    pub fn assert_conformant(&self) {
        let problems = self.shared.lock().unwrap().problems.clone();
        assert!(
            problems.is_empty(),
            "requests that break the documented API:\n{}",
            problems.join("\n")
        );
    }
}

fn handle(
    shared: &Mutex<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query = uri
        .query()
        .map(|q| {
            url_pairs(q)
                .into_iter()
                .collect::<BTreeMap<String, String>>()
        })
        .unwrap_or_default();
    let headers: BTreeMap<String, String> = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let mut shared = shared.lock().unwrap();
    let mut problems = Vec::new();
    let body = if body.is_empty() {
        None
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(value) => Some(value),
            Err(e) => {
                problems.push(format!("{method} {}: body is not JSON ({e})", uri.path()));
                None
            }
        }
    };
    if body.is_some()
        && !headers
            .get("content-type")
            .is_some_and(|c| c.starts_with("application/json"))
    {
        problems.push(format!(
            "{method} {}: a JSON body without Content-Type: application/json",
            uri.path()
        ));
    }
    let request = ApiRequest {
        method: method.clone(),
        path: uri.path().to_string(),
        query,
        headers,
        body,
    };
    shared.requests.push(request.clone());
    let fault = shared
        .faults
        .iter()
        .position(|f| f.method == method && request.path.ends_with(&f.path_suffix))
        .map(|index| shared.faults.remove(index));
    let answer = match fault {
        Some(fault) => {
            if fault.after_model {
                let mut ignored = Vec::new();
                shared.model.answer(&request, &mut ignored);
                problems.extend(ignored);
            }
            ApiAnswer {
                status: fault.status,
                headers: fault.headers,
                body: fault.body,
            }
        }
        None => shared.model.answer(&request, &mut problems),
    };
    shared.problems.extend(problems);
    let mut response = (
        StatusCode::from_u16(answer.status).unwrap(),
        axum::Json(answer.body),
    )
        .into_response();
    for (name, value) in answer.headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://x/?{query}"))
        .map(|url| url.query_pairs().into_owned().collect())
        .unwrap_or_default()
}

/// Checks a JSON body: `required` fields present, nothing outside `allowed`.
pub fn check_fields(
    context: &str,
    body: Option<&Value>,
    required: &[&str],
    allowed: &[&str],
    problems: &mut Vec<String>,
) {
    let Some(Value::Object(fields)) = body else {
        problems.push(format!("{context}: a JSON object body is required"));
        return;
    };
    for field in required {
        if !fields.contains_key(*field) {
            problems.push(format!("{context}: required field {field:?} missing"));
        }
    }
    for field in fields.keys() {
        if !allowed.contains(&field.as_str()) {
            problems.push(format!(
                "{context}: field {field:?} is not in the documented API"
            ));
        }
    }
}

/// Checks query parameters: nothing outside `allowed`.
pub fn check_query(request: &ApiRequest, allowed: &[&str], problems: &mut Vec<String>) {
    for key in request.query.keys() {
        if !allowed.contains(&key.as_str()) {
            problems.push(format!(
                "{} {}: query parameter {key:?} is not in the documented API",
                request.method, request.path
            ));
        }
    }
}

/// One pull (merge) request of a model.
#[derive(Debug, Clone)]
pub struct ModelPull {
    pub number: u64,
    pub head: String,
    pub base: String,
    pub title: String,
    pub body: String,
    /// `open`, `closed` or `merged`.
    pub state: String,
    pub comments: Vec<String>,
}

/// The pull requests a model holds, shared with the test (which merges or
/// closes them as a person would).
#[derive(Debug, Clone, Default)]
pub struct Pulls(Arc<Mutex<Vec<ModelPull>>>);

impl Pulls {
    pub fn all(&self) -> Vec<ModelPull> {
        self.0.lock().unwrap().clone()
    }

    pub fn open(&self, head: &str, base: &str) -> Option<ModelPull> {
        self.all()
            .into_iter()
            .find(|p| p.state == "open" && p.head == head && p.base == base)
    }

    pub fn get(&self, number: u64) -> Option<ModelPull> {
        self.all().into_iter().find(|p| p.number == number)
    }

    /// Changes pull request `number`; `None` when there is none.
    pub fn update(&self, number: u64, change: impl FnOnce(&mut ModelPull)) -> Option<ModelPull> {
        let mut pulls = self.0.lock().unwrap();
        let pull = pulls.iter_mut().find(|p| p.number == number)?;
        change(pull);
        Some(pull.clone())
    }

    pub fn add(&self, head: &str, base: &str, title: &str, body: &str) -> ModelPull {
        let mut pulls = self.0.lock().unwrap();
        let pull = ModelPull {
            number: pulls.len() as u64 + 1,
            head: head.into(),
            base: base.into(),
            title: title.into(),
            body: body.into(),
            state: "open".into(),
            comments: Vec::new(),
        };
        pulls.push(pull.clone());
        pull
    }
}

/// A model answer for a path no documented endpoint has.
pub fn not_found(request: &ApiRequest, problems: &mut Vec<String>) -> ApiAnswer {
    problems.push(format!(
        "{} {}: no such endpoint in the documented API",
        request.method, request.path
    ));
    ApiAnswer::json(404, json!({ "message": "Not Found" }))
}

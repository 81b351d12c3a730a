//! A small ApiGatewayV2 server for what moto cannot do: real pagination with a
//! server-side page cap, a token bucket that answers 429 TooManyRequests
//! (optionally with retry-after hints), 5xx, hangs, invalid JSON, repeated
//! tokens, NotFound and BadRequest mid-listing, connections cut mid-response;
//! and hostile endpoints: pagination that never ends (fresh tokens, pages that
//! ignore MaxResults), bodies that never end or are huge, and error messages
//! full of control characters.
//! It speaks the REST-JSON wire format of GetApis, GetApi and GetRoutes,
//! listens on 127.0.0.1 only, and counts what it served.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

/// What goes wrong, and for which requests.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer with this status and `x-amzn-ErrorType`.
    Error {
        status: u16,
        error_type: &'static str,
    },
    /// Answer 429 with no error type header at all.
    Bare429,
    /// Never answer (until the client gives up).
    Hang,
    /// A 200 whose body is not JSON.
    InvalidJson,
    /// Every page's NextToken is the same.
    RepeatToken,
    /// A 200 whose body breaks off: the connection is cut mid-response.
    Reset,
    /// GetRoutes pages of this many routes, whatever MaxResults says, each
    /// with a fresh NextToken, forever.
    EndlessPages(usize),
    /// A 200 chunked body that never ends (the server stops at 8 GiB).
    EndlessBody,
    /// A 200 whose body is this many bytes, declared in Content-Length and
    /// streamed (never held).
    HugeBody(usize),
    /// A 400 BadRequestException whose message holds terminal escapes, bidi
    /// overrides, newlines and 2 MiB of filler.
    HostileError,
}

/// The message of [`Fault::HostileError`] starts with this.
pub const HOSTILE_MESSAGE: &str =
    "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{202e}evil\r\nERROR forged log line\n";

/// `n` bytes of a JSON-looking body in 64 KiB chunks, never held at once.
fn filler(n: usize) -> impl futures_util::Stream<Item = Result<axum::body::Bytes, std::io::Error>> {
    const CHUNK: usize = 64 << 10;
    let chunk = axum::body::Bytes::from(vec![b' '; CHUNK]);
    let head = axum::body::Bytes::from_static(b"{\"items\": [");
    let chunks = n.saturating_sub(head.len()).div_ceil(CHUNK);
    let last = n.saturating_sub(head.len()) - chunks.saturating_sub(1) * CHUNK;
    futures_util::stream::iter(
        std::iter::once(head)
            .chain((0..chunks).map(move |i| {
                if i + 1 == chunks {
                    chunk.slice(..last)
                } else {
                    chunk.clone()
                }
            }))
            .map(Ok),
    )
}

/// Where a fault applies.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// `None`: every API (and GetApis).
    pub api_id: Option<String>,
    /// Only requests that carry a NextToken (page 2 and later).
    pub paged_only: bool,
    /// How many matching requests fail before the fault clears (`None`: forever).
    pub times: Option<u32>,
    pub fault: Fault,
}

impl Fault {
    /// An error status with its `x-amzn-ErrorType`.
    pub fn error(status: u16, error_type: &'static str) -> Fault {
        Fault::Error { status, error_type }
    }
}

impl Rule {
    /// The fault on every request for one API, for good.
    pub fn on(api_id: &str, fault: Fault) -> Rule {
        Rule {
            api_id: Some(api_id.to_owned()),
            paged_only: false,
            times: None,
            fault,
        }
    }

    /// The fault on every request (GetApis too), for good.
    pub fn everywhere(fault: Fault) -> Rule {
        Rule {
            api_id: None,
            paged_only: false,
            times: None,
            fault,
        }
    }

    /// Only on requests that carry a NextToken.
    pub fn paged(self) -> Rule {
        Rule {
            paged_only: true,
            ..self
        }
    }

    /// Only the first `n` matching requests.
    pub fn times(self, n: u32) -> Rule {
        Rule {
            times: Some(n),
            ..self
        }
    }
}

/// A token bucket: `rate` per second, `burst` at most.
#[derive(Debug, Clone, Copy)]
pub struct Throttle {
    pub rate: f64,
    pub burst: f64,
    /// Send `x-amz-retry-after` (ms) with this value.
    pub retry_after_ms: Option<u64>,
    /// Send `Retry-After` (s) with this value.
    pub retry_after_s: Option<u64>,
}

/// A token bucket that only measures a client's rate on the server's clock:
/// requests beyond it are counted in [`Counts::over_rate`] and served all the
/// same, so that the client is never slowed down by throttling.
#[derive(Debug, Clone, Copy)]
pub struct Meter {
    pub rate: f64,
    pub burst: f64,
}

/// What the server served.
#[derive(Debug, Clone, Default)]
pub struct Counts {
    pub requests: u64,
    pub throttled: u64,
    /// Requests beyond the [`Meter`]'s rate (served).
    pub over_rate: u64,
    pub faults: u64,
    /// Requests by path (`/v2/apis`, `/v2/apis/{id}`, `/v2/apis/{id}/routes`).
    pub by_path: BTreeMap<String, u64>,
    /// Most requests in progress at once.
    pub max_in_flight: u64,
    in_flight: u64,
}

#[derive(Debug, Clone)]
pub struct FakeApi {
    pub id: String,
    pub name: String,
    pub protocol: &'static str,
    pub tags: BTreeMap<String, String>,
    /// Routes in the wire format (camelCase keys).
    pub routes: Vec<Value>,
}

struct Inner {
    apis: Vec<FakeApi>,
    page_cap: usize,
    rules: Vec<Rule>,
    throttle: Option<Throttle>,
    tokens: f64,
    last_refill: Instant,
    /// How long every request is held, in flight, before it is answered.
    latency: Duration,
    /// The meter, its tokens and its last refill.
    meter: Option<(Meter, f64, Instant)>,
    counts: Counts,
}

#[derive(Clone)]
pub struct FaultServer {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    shutdown: Arc<tokio::sync::Notify>,
}

impl FaultServer {
    /// Starts on 127.0.0.1 with a free port, on the current tokio runtime.
    pub async fn start(apis: Vec<FakeApi>) -> FaultServer {
        let inner = Arc::new(Mutex::new(Inner {
            apis,
            page_cap: 50,
            rules: Vec::new(),
            throttle: None,
            tokens: 0.0,
            last_refill: Instant::now(),
            latency: Duration::ZERO,
            meter: None,
            counts: Counts::default(),
        }));
        let app = Router::new()
            .route("/v2/apis", get(get_apis))
            .route("/v2/apis/{api_id}", get(get_api))
            .route("/v2/apis/{api_id}/routes", get(get_routes))
            // STS GetCallerIdentity (query protocol): tools such as Cloud
            // Custodian ask it for the account id first.
            .route("/", axum::routing::post(get_caller_identity))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = Arc::new(tokio::sync::Notify::new());
        let stop = shutdown.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.notified().await })
                .await
                .ok();
        });
        FaultServer {
            addr,
            inner,
            shutdown,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Largest page the server sends, whatever MaxResults asks.
    pub fn set_page_cap(&self, cap: usize) {
        self.inner.lock().unwrap().page_cap = cap;
    }

    /// Holds every request this long before answering it, so that requests
    /// a client sends at once are seen in flight together.
    pub fn set_latency(&self, latency: Duration) {
        self.inner.lock().unwrap().latency = latency;
    }

    /// Measures the rate of requests against `meter`, starting full.
    pub fn set_meter(&self, meter: Option<Meter>) {
        self.inner.lock().unwrap().meter = meter.map(|m| (m, m.burst, Instant::now()));
    }

    pub fn add_fault(&self, rule: Rule) {
        self.inner.lock().unwrap().rules.push(rule);
    }

    pub fn set_throttle(&self, throttle: Option<Throttle>) {
        let mut inner = self.inner.lock().unwrap();
        inner.tokens = throttle.map_or(0.0, |t| t.burst);
        inner.last_refill = Instant::now();
        inner.throttle = throttle;
    }

    pub fn clear_faults(&self) {
        self.inner.lock().unwrap().rules.clear();
    }

    pub fn add_api(&self, api: FakeApi) {
        self.inner.lock().unwrap().apis.push(api);
    }

    pub fn remove_api(&self, id: &str) {
        self.inner.lock().unwrap().apis.retain(|a| a.id != id);
    }

    pub fn counts(&self) -> Counts {
        self.inner.lock().unwrap().counts.clone()
    }

    pub fn stop(&self) {
        self.shutdown.notify_waiters();
    }
}

/// `n` routes for an API, alternating authorization types.
pub fn routes(api: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let auth = ["NONE", "JWT", "AWS_IAM", "CUSTOM"][i % 4];
            let mut route = json!({
                "routeId": format!("{api}-r{i}"),
                "routeKey": format!("GET /{api}/item{i}"),
                "authorizationType": auth,
                "apiKeyRequired": false,
                "target": format!("integrations/{api}"),
            });
            if auth == "JWT" || auth == "CUSTOM" {
                route["authorizerId"] = json!("auth1");
            }
            if auth == "JWT" {
                route["authorizationScopes"] = json!(["read"]);
            }
            route
        })
        .collect()
}

pub fn api(id: &str, n_routes: usize) -> FakeApi {
    FakeApi {
        id: id.to_owned(),
        name: format!("name-{id}"),
        protocol: "HTTP",
        tags: BTreeMap::from([("env".to_owned(), "test".to_owned())]),
        routes: routes(id, n_routes),
    }
}

fn api_json(api: &FakeApi) -> Value {
    json!({
        "apiId": api.id,
        "name": api.name,
        "protocolType": api.protocol,
        "tags": api.tags,
        "routeSelectionExpression": "$request.method $request.path",
        "apiEndpoint": format!("https://{}.execute-api.local", api.id),
    })
}

fn error(status: u16, error_type: Option<&str>, message: &str) -> Response {
    let mut response = (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "application/json")],
        json!({ "message": message }).to_string(),
    )
        .into_response();
    if let Some(error_type) = error_type {
        response.headers_mut().insert(
            "x-amzn-ErrorType",
            HeaderValue::from_str(error_type).unwrap(),
        );
    }
    response
}

fn ok(body: Value) -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

type Shared = State<Arc<Mutex<Inner>>>;

fn done(inner: &Arc<Mutex<Inner>>) {
    let mut s = inner.lock().unwrap();
    s.counts.in_flight = s.counts.in_flight.saturating_sub(1);
}

/// Ends a request's in-flight count when the handler returns (or is dropped).
struct InFlight(Arc<Mutex<Inner>>);

impl Drop for InFlight {
    fn drop(&mut self) {
        done(&self.0);
    }
}

/// Counts the request, applies the bucket and the fault rules. `Err` is the
/// response to send instead of the real one.
async fn gate(
    inner: &Arc<Mutex<Inner>>,
    path: String,
    api_id: Option<&str>,
    paged: bool,
) -> Result<Option<Fault>, Response> {
    let (throttled, fault, latency) = {
        let mut s = inner.lock().unwrap();
        s.counts.requests += 1;
        s.counts.in_flight += 1;
        s.counts.max_in_flight = s.counts.max_in_flight.max(s.counts.in_flight);
        *s.counts.by_path.entry(path).or_default() += 1;
        if let Some((meter, tokens, last)) = s.meter {
            let now = Instant::now();
            let tokens =
                (tokens + now.duration_since(last).as_secs_f64() * meter.rate).min(meter.burst);
            let conforms = tokens >= 1.0;
            s.meter = Some((meter, if conforms { tokens - 1.0 } else { tokens }, now));
            if !conforms {
                s.counts.over_rate += 1;
            }
        }
        let mut throttled = None;
        if let Some(t) = s.throttle {
            let now = Instant::now();
            let elapsed = now.duration_since(s.last_refill).as_secs_f64();
            s.tokens = (s.tokens + elapsed * t.rate).min(t.burst);
            s.last_refill = now;
            if s.tokens >= 1.0 {
                s.tokens -= 1.0;
            } else {
                s.counts.throttled += 1;
                throttled = Some(t);
            }
        }
        let mut fault = None;
        if throttled.is_none() {
            for rule in s.rules.iter_mut() {
                let api_ok = rule.api_id.as_deref().is_none_or(|id| Some(id) == api_id);
                let page_ok = !rule.paged_only || paged;
                let left = rule.times.is_none_or(|n| n > 0);
                if api_ok && page_ok && left {
                    if let Some(n) = rule.times.as_mut() {
                        *n -= 1;
                    }
                    fault = Some(rule.fault.clone());
                    break;
                }
            }
            if fault.is_some() {
                s.counts.faults += 1;
            }
        }
        (throttled, fault, s.latency)
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some(t) = throttled {
        let mut response = error(429, Some("TooManyRequestsException"), "Too Many Requests");
        if let Some(ms) = t.retry_after_ms {
            response
                .headers_mut()
                .insert("x-amz-retry-after", HeaderValue::from(ms));
        }
        if let Some(s) = t.retry_after_s {
            response
                .headers_mut()
                .insert("retry-after", HeaderValue::from(s));
        }
        return Err(response);
    }
    match fault {
        Some(Fault::Error { status, error_type }) => {
            Err(error(status, Some(error_type), "injected fault"))
        }
        Some(Fault::Bare429) => Err(error(429, None, "slow down")),
        Some(Fault::Hang) => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Err(error(500, Some("InternalServerError"), "woke up"))
        }
        Some(Fault::InvalidJson) => Err((
            StatusCode::OK,
            [("content-type", "application/json")],
            "{\"items\": [",
        )
            .into_response()),
        Some(Fault::Reset) => {
            let cut = futures_util::stream::iter([
                Ok(axum::body::Bytes::from_static(b"{\"items\": [")),
                Err(std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
            ]);
            Err((
                StatusCode::OK,
                [
                    ("content-type", "application/json"),
                    ("content-length", "4096"),
                ],
                axum::body::Body::from_stream(cut),
            )
                .into_response())
        }
        Some(Fault::EndlessBody) => Err((
            StatusCode::OK,
            [("content-type", "application/json")],
            axum::body::Body::from_stream(filler(8 << 30)),
        )
            .into_response()),
        Some(Fault::HugeBody(n)) => Err((
            StatusCode::OK,
            [
                ("content-type", "application/json".to_owned()),
                ("content-length", n.to_string()),
            ],
            axum::body::Body::from_stream(filler(n)),
        )
            .into_response()),
        Some(Fault::HostileError) => {
            let message = format!("{HOSTILE_MESSAGE}{}", "A".repeat(2 << 20));
            Err(error(400, Some("BadRequestException"), &message))
        }
        other => Ok(other),
    }
}

#[derive(serde::Deserialize)]
struct Paging {
    #[serde(rename = "maxResults")]
    max_results: Option<String>,
    #[serde(rename = "nextToken")]
    next_token: Option<String>,
}

/// A page of `items`: tokens are offsets; `RepeatToken` always sends "loop".
fn page(items: Vec<Value>, paging: &Paging, cap: usize, fault: Option<Fault>) -> Response {
    let start: usize = match paging.next_token.as_deref() {
        None => 0,
        Some("loop") => 1,
        Some(token) => match token.parse() {
            Ok(n) => n,
            Err(_) => return error(400, Some("BadRequestException"), "Invalid next token"),
        },
    };
    let size = paging
        .max_results
        .as_deref()
        .and_then(|m| m.parse::<usize>().ok())
        .unwrap_or(cap)
        .clamp(1, cap);
    let end = (start + size).min(items.len());
    let chunk: Vec<Value> = items
        .get(start..end)
        .map(<[Value]>::to_vec)
        .unwrap_or_default();
    let mut body = json!({ "items": chunk });
    if end < items.len() {
        body["nextToken"] = json!(if fault == Some(Fault::RepeatToken) {
            "loop".to_owned()
        } else {
            end.to_string()
        });
    }
    ok(body)
}

async fn get_apis(
    State(inner): Shared,
    Query(paging): Query<Paging>,
    _headers: HeaderMap,
) -> Response {
    let _guard = InFlight(inner.clone());
    let fault = match gate(&inner, "/v2/apis".into(), None, paging.next_token.is_some()).await {
        Ok(fault) => fault,
        Err(response) => return response,
    };
    let (items, cap) = {
        let s = inner.lock().unwrap();
        (s.apis.iter().map(api_json).collect(), s.page_cap)
    };
    page(items, &paging, cap, fault)
}

async fn get_api(State(inner): Shared, Path(api_id): Path<String>) -> Response {
    let _guard = InFlight(inner.clone());
    if let Err(response) = gate(&inner, format!("/v2/apis/{api_id}"), Some(&api_id), false).await {
        return response;
    }
    let s = inner.lock().unwrap();
    match s.apis.iter().find(|a| a.id == api_id) {
        Some(api) => ok(api_json(api)),
        None => error(
            404,
            Some("NotFoundException"),
            "Invalid API identifier specified",
        ),
    }
}

async fn get_routes(
    State(inner): Shared,
    Path(api_id): Path<String>,
    Query(paging): Query<Paging>,
) -> Response {
    let _guard = InFlight(inner.clone());
    let paged = paging.next_token.is_some();
    let fault = match gate(
        &inner,
        format!("/v2/apis/{api_id}/routes"),
        Some(&api_id),
        paged,
    )
    .await
    {
        Ok(fault) => fault,
        Err(response) => return response,
    };
    if let Some(Fault::EndlessPages(n)) = fault {
        // Fresh routes and a fresh token on every page, whatever was asked.
        let page: u64 = paging
            .next_token
            .as_deref()
            .and_then(|t| t.strip_prefix('e')?.parse().ok())
            .unwrap_or(0);
        let items: Vec<Value> = (0..n)
            .map(|i| json!({"routeId": format!("e{page}-{i}"), "routeKey": format!("GET /endless/{page}/{i}"), "authorizationType": "NONE"}))
            .collect();
        return ok(json!({ "items": items, "nextToken": format!("e{}", page + 1) }));
    }
    let (routes, cap) = {
        let s = inner.lock().unwrap();
        let Some(api) = s.apis.iter().find(|a| a.id == api_id) else {
            return error(
                404,
                Some("NotFoundException"),
                "Invalid API identifier specified",
            );
        };
        (api.routes.clone(), s.page_cap)
    };
    page(routes, &paging, cap, fault)
}

async fn get_caller_identity(State(inner): Shared) -> Response {
    let _guard = InFlight(inner.clone());
    {
        let mut s = inner.lock().unwrap();
        s.counts.requests += 1;
        s.counts.in_flight += 1;
        *s.counts.by_path.entry("sts".to_owned()).or_default() += 1;
    }
    let body = "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
        <GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/bench</Arn>\
        <UserId>AIDABENCH</UserId><Account>123456789012</Account></GetCallerIdentityResult>\
        <ResponseMetadata><RequestId>bench</RequestId></ResponseMetadata></GetCallerIdentityResponse>";
    (StatusCode::OK, [("content-type", "text/xml")], body).into_response()
}

/// Counts of requests per API's routes path, for pagination checks.
pub fn route_requests(counts: &Counts, api: &str) -> u64 {
    counts
        .by_path
        .get(&format!("/v2/apis/{api}/routes"))
        .copied()
        .unwrap_or(0)
}

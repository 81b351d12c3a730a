//! A small ApiGatewayV2 server for what moto cannot do: real pagination with a
//! server-side page cap, a token bucket that answers 429 TooManyRequests
//! (optionally with retry-after hints), 5xx, hangs, invalid JSON, repeated
//! tokens, NotFound and BadRequest mid-listing, connections cut mid-response;
//! and hostile endpoints: pagination that never ends (fresh tokens, pages that
//! ignore MaxResults), bodies that never end or are huge, and error messages
//! full of control characters.
//!
//! It speaks the REST-JSON wire format of GetApis, GetApi, GetRoutes,
//! GetAuthorizers, GetIntegrations and GetStages (camelCase keys, `items`,
//! `nextToken`), listens on 127.0.0.1 only, and counts what it served, by
//! path and by operation. Faults apply per API and, optionally, per operation.
//!
//! [`FaultServer::proxy`] makes it the front of a moto server: every request
//! is counted and passes the faults, then goes to moto byte for byte, except
//! GetAuthorizers (moto 5.2 answers it 500), which the proxy answers itself,
//! paginated, from the CreateAuthorizer (and UpdateAuthorizer,
//! DeleteAuthorizer) responses that passed through it. moto plus the proxy is
//! a complete peer for the live source.

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
    /// `None`: every operation; else only this one (`"GetAuthorizers"`).
    pub operation: Option<&'static str>,
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
            operation: None,
            paged_only: false,
            times: None,
            fault,
        }
    }

    /// The fault on every request (GetApis too), for good.
    pub fn everywhere(fault: Fault) -> Rule {
        Rule {
            api_id: None,
            operation: None,
            paged_only: false,
            times: None,
            fault,
        }
    }

    /// Only on requests of this operation (`"GetAuthorizers"`).
    pub fn only(self, operation: &'static str) -> Rule {
        Rule {
            operation: Some(operation),
            ..self
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
    /// Requests by operation (`GetRoutes`, `GetAuthorizers`, ...; see
    /// [`operation`]).
    pub by_operation: BTreeMap<String, u64>,
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
    /// GetAuthorizers items, in the wire format.
    pub authorizers: Vec<Value>,
    /// GetIntegrations items, in the wire format.
    pub integrations: Vec<Value>,
    /// GetStages items, in the wire format.
    pub stages: Vec<Value>,
    /// More of the API's own fields (GetApis, GetApi), in the wire format:
    /// `corsConfiguration`, `ipAddressType`, ...
    pub settings: serde_json::Map<String, Value>,
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
    /// Proxy mode: the moto server behind, and the authorizers created
    /// through the proxy, by API id.
    upstream: Option<SocketAddr>,
    recorded: BTreeMap<String, Vec<Value>>,
}

impl Inner {
    fn new(apis: Vec<FakeApi>, upstream: Option<SocketAddr>) -> Inner {
        Inner {
            apis,
            page_cap: 50,
            rules: Vec::new(),
            throttle: None,
            tokens: 0.0,
            last_refill: Instant::now(),
            latency: Duration::ZERO,
            meter: None,
            counts: Counts::default(),
            upstream,
            recorded: BTreeMap::new(),
        }
    }
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
        let inner = Arc::new(Mutex::new(Inner::new(apis, None)));
        let app = Router::new()
            .route("/v2/apis", get(get_apis))
            .route("/v2/apis/{api_id}", get(get_api))
            .route("/v2/apis/{api_id}/routes", get(get_routes))
            .route("/v2/apis/{api_id}/authorizers", get(get_authorizers))
            .route("/v2/apis/{api_id}/integrations", get(get_integrations))
            .route("/v2/apis/{api_id}/stages", get(get_stages))
            // STS GetCallerIdentity (query protocol): tools such as Cloud
            // Custodian ask it for the account id first.
            .route("/", axum::routing::post(get_caller_identity))
            .with_state(inner.clone());
        FaultServer::serve(app, inner).await
    }

    /// Starts in front of the moto server at `upstream`
    /// (`http://127.0.0.1:PORT`): every request is counted and passes the
    /// faults and the throttle; GetAuthorizers is answered from what was
    /// created through the proxy; everything else goes to moto as it came.
    pub async fn proxy(upstream: &str) -> FaultServer {
        let upstream: SocketAddr = upstream
            .strip_prefix("http://")
            .and_then(|a| a.trim_end_matches('/').parse().ok())
            .expect("the upstream is http://127.0.0.1:PORT");
        let inner = Arc::new(Mutex::new(Inner::new(Vec::new(), Some(upstream))));
        let app = Router::new().fallback(proxied).with_state(inner.clone());
        FaultServer::serve(app, inner).await
    }

    async fn serve(app: Router, inner: Arc<Mutex<Inner>>) -> FaultServer {
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

    /// Forgets what was counted (a test's setup through the proxy).
    pub fn reset_counts(&self) {
        self.inner.lock().unwrap().counts = Counts::default();
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

/// An HTTP API with `n_routes` routes (see [`routes`]) and the parts they
/// refer to, none of which the built-in pack flags: the JWT authorizer
/// `auth1` (an audience, an https issuer), the integration `{id}` (HTTP_PROXY
/// to an https URI) and a `$default` stage with access logs.
pub fn api(id: &str, n_routes: usize) -> FakeApi {
    FakeApi {
        id: id.to_owned(),
        name: format!("name-{id}"),
        protocol: "HTTP",
        tags: BTreeMap::from([("env".to_owned(), "test".to_owned())]),
        routes: routes(id, n_routes),
        authorizers: vec![jwt_authorizer(
            "auth1",
            &["api://default"],
            "https://issuer.test/",
        )],
        integrations: vec![json!({
            "integrationId": id,
            "integrationType": "HTTP_PROXY",
            "connectionType": "INTERNET",
            "integrationMethod": "ANY",
            "integrationUri": format!("https://backend.test/{id}"),
            "payloadFormatVersion": "1.0",
            "timeoutInMillis": 30000,
        })],
        stages: vec![stage(
            "$default",
            Some(&format!(
                "arn:aws:logs:us-east-1:123456789012:log-group:{id}"
            )),
        )],
        settings: serde_json::Map::new(),
    }
}

/// A JWT authorizer in the wire format.
pub fn jwt_authorizer(id: &str, audience: &[&str], issuer: &str) -> Value {
    json!({
        "authorizerId": id,
        "authorizerType": "JWT",
        "name": format!("jwt-{id}"),
        "identitySource": ["$request.header.Authorization"],
        "jwtConfiguration": { "audience": audience, "issuer": issuer },
    })
}

/// A stage in the wire format, with access logs to `log_group` if given.
pub fn stage(name: &str, log_group: Option<&str>) -> Value {
    let mut stage = json!({
        "stageName": name,
        "autoDeploy": true,
        "defaultRouteSettings": {
            "throttlingRateLimit": 100.0,
            "throttlingBurstLimit": 50,
            "detailedMetricsEnabled": false,
        },
    });
    if let Some(arn) = log_group {
        stage["accessLogSettings"] = json!({
            "destinationArn": arn,
            "format": "$context.requestId $context.status",
        });
    }
    stage
}

/// An API as GetApis and GetApi send it.
pub fn api_json(api: &FakeApi) -> Value {
    let mut json = json!({
        "apiId": api.id,
        "name": api.name,
        "protocolType": api.protocol,
        "tags": api.tags,
        "routeSelectionExpression": "$request.method $request.path",
        "apiEndpoint": format!("https://{}.execute-api.local", api.id),
    });
    for (key, value) in &api.settings {
        json[key] = value.clone();
    }
    json
}

/// A REST-JSON error: `{"message"}` with `x-amzn-ErrorType` if given.
pub fn error(status: u16, error_type: Option<&str>, message: &str) -> Response {
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

/// A 200 with a JSON body.
pub fn ok(body: Value) -> Response {
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
    operation: &str,
    api_id: Option<&str>,
    paged: bool,
) -> Result<Option<Fault>, Response> {
    let (throttled, fault, latency) = {
        let mut s = inner.lock().unwrap();
        s.counts.requests += 1;
        s.counts.in_flight += 1;
        s.counts.max_in_flight = s.counts.max_in_flight.max(s.counts.in_flight);
        *s.counts.by_path.entry(path).or_default() += 1;
        *s.counts
            .by_operation
            .entry(operation.to_owned())
            .or_default() += 1;
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
                let operation_ok = rule.operation.is_none_or(|op| op == operation);
                let page_ok = !rule.paged_only || paged;
                let left = rule.times.is_none_or(|n| n > 0);
                if api_ok && operation_ok && page_ok && left {
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

/// The paging parameters of a listing's query string.
#[derive(serde::Deserialize)]
pub struct Paging {
    #[serde(rename = "maxResults")]
    pub max_results: Option<String>,
    #[serde(rename = "nextToken")]
    pub next_token: Option<String>,
}

/// A page of `items`: tokens are offsets; `RepeatToken` always sends "loop".
pub fn page(items: Vec<Value>, paging: &Paging, cap: usize, fault: Option<Fault>) -> Response {
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
    let paged = paging.next_token.is_some();
    let fault = match gate(&inner, "/v2/apis".into(), "GetApis", None, paged).await {
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
    let path = format!("/v2/apis/{api_id}");
    if let Err(response) = gate(&inner, path, "GetApi", Some(&api_id), false).await {
        return response;
    }
    let s = inner.lock().unwrap();
    match s.apis.iter().find(|a| a.id == api_id) {
        Some(api) => ok(api_json(api)),
        None => not_found(),
    }
}

/// GetApi and the listings of an API that does not exist.
pub fn not_found() -> Response {
    error(
        404,
        Some("NotFoundException"),
        "Invalid API identifier specified",
    )
}

/// The items of one of an API's listings.
pub type Part = fn(&FakeApi) -> &Vec<Value>;

/// One of an API's listings (GetRoutes, GetAuthorizers, GetIntegrations,
/// GetStages): counted, gated, paginated.
async fn listing(
    inner: Arc<Mutex<Inner>>,
    api_id: String,
    paging: Paging,
    (operation, noun, part): (&'static str, &'static str, Part),
) -> Response {
    let _guard = InFlight(inner.clone());
    let paged = paging.next_token.is_some();
    let path = format!("/v2/apis/{api_id}/{noun}");
    let fault = match gate(&inner, path, operation, Some(&api_id), paged).await {
        Ok(fault) => fault,
        Err(response) => return response,
    };
    if let Some(Fault::EndlessPages(n)) = fault {
        return endless(operation, &paging, n);
    }
    let (items, cap) = {
        let s = inner.lock().unwrap();
        let Some(api) = s.apis.iter().find(|a| a.id == api_id) else {
            return not_found();
        };
        (part(api).clone(), s.page_cap)
    };
    page(items, &paging, cap, fault)
}

/// [`Fault::EndlessPages`]: fresh items and a fresh token on every page,
/// whatever was asked.
fn endless(operation: &str, paging: &Paging, n: usize) -> Response {
    let page: u64 = paging
        .next_token
        .as_deref()
        .and_then(|t| t.strip_prefix('e')?.parse().ok())
        .unwrap_or(0);
    let items: Vec<Value> = (0..n)
        .map(|i| match operation {
            "GetRoutes" => json!({"routeId": format!("e{page}-{i}"), "routeKey": format!("GET /endless/{page}/{i}"), "authorizationType": "NONE"}),
            "GetAuthorizers" => json!({"authorizerId": format!("e{page}-{i}"), "authorizerType": "REQUEST"}),
            "GetIntegrations" => json!({"integrationId": format!("e{page}-{i}"), "integrationType": "MOCK"}),
            _ => json!({"stageName": format!("e{page}-{i}")}),
        })
        .collect();
    ok(json!({ "items": items, "nextToken": format!("e{}", page + 1) }))
}

/// An API's listings: the operation, the path's last segment, the items.
pub const ROUTES: (&str, &str, Part) = ("GetRoutes", "routes", |a| &a.routes);
pub const AUTHORIZERS: (&str, &str, Part) = ("GetAuthorizers", "authorizers", |a| &a.authorizers);
pub const INTEGRATIONS: (&str, &str, Part) =
    ("GetIntegrations", "integrations", |a| &a.integrations);
pub const STAGES: (&str, &str, Part) = ("GetStages", "stages", |a| &a.stages);

async fn get_routes(
    State(inner): Shared,
    Path(api_id): Path<String>,
    Query(paging): Query<Paging>,
) -> Response {
    listing(inner, api_id, paging, ROUTES).await
}

async fn get_authorizers(
    State(inner): Shared,
    Path(api_id): Path<String>,
    Query(paging): Query<Paging>,
) -> Response {
    listing(inner, api_id, paging, AUTHORIZERS).await
}

async fn get_integrations(
    State(inner): Shared,
    Path(api_id): Path<String>,
    Query(paging): Query<Paging>,
) -> Response {
    listing(inner, api_id, paging, INTEGRATIONS).await
}

async fn get_stages(
    State(inner): Shared,
    Path(api_id): Path<String>,
    Query(paging): Query<Paging>,
) -> Response {
    listing(inner, api_id, paging, STAGES).await
}

/// The AWS operation of a request, as the counts and fault rules name it:
/// `GetRoutes`, `CreateAuthorizer`, ...; `STS` for the query protocol at
/// `/`; `METHOD /path` for anything else.
pub fn operation(method: &str, path: &str) -> String {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let name = match (method, parts.as_slice()) {
        ("GET", ["v2", "apis"]) => "GetApis",
        ("POST", ["v2", "apis"]) => "CreateApi",
        ("GET", ["v2", "apis", _]) => "GetApi",
        ("DELETE", ["v2", "apis", _]) => "DeleteApi",
        ("GET", ["v2", "apis", _, "routes"]) => "GetRoutes",
        ("POST", ["v2", "apis", _, "routes"]) => "CreateRoute",
        ("PATCH", ["v2", "apis", _, "routes", _]) => "UpdateRoute",
        ("GET", ["v2", "apis", _, "authorizers"]) => "GetAuthorizers",
        ("POST", ["v2", "apis", _, "authorizers"]) => "CreateAuthorizer",
        ("GET", ["v2", "apis", _, "authorizers", _]) => "GetAuthorizer",
        ("PATCH", ["v2", "apis", _, "authorizers", _]) => "UpdateAuthorizer",
        ("DELETE", ["v2", "apis", _, "authorizers", _]) => "DeleteAuthorizer",
        ("GET", ["v2", "apis", _, "integrations"]) => "GetIntegrations",
        ("POST", ["v2", "apis", _, "integrations"]) => "CreateIntegration",
        ("GET", ["v2", "apis", _, "stages"]) => "GetStages",
        ("POST", ["v2", "apis", _, "stages"]) => "CreateStage",
        ("PATCH", ["v2", "apis", _, "stages", _]) => "UpdateStage",
        ("POST", [""]) => "STS",
        _ => return format!("{method} {path}"),
    };
    name.to_owned()
}

/// The API a path is about: `/v2/apis/{id}...`.
fn api_of(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/v2/apis/")?;
    Some(rest.split('/').next().unwrap_or(rest)).filter(|id| !id.is_empty())
}

/// Proxy mode: every request, counted and gated; GetAuthorizers answered
/// from what was recorded, anything else sent to moto as it came.
async fn proxied(
    State(inner): Shared,
    Query(paging): Query<Paging>,
    request: axum::extract::Request,
) -> Response {
    let _guard = InFlight(inner.clone());
    let path = request.uri().path().to_owned();
    let operation = operation(request.method().as_str(), &path);
    let api_id = api_of(&path).map(str::to_owned);
    let paged = paging.next_token.is_some();
    let fault = match gate(&inner, path.clone(), &operation, api_id.as_deref(), paged).await {
        Ok(fault) => fault,
        Err(response) => return response,
    };
    let upstream = inner.lock().unwrap().upstream.expect("proxy mode");
    if operation == "GetAuthorizers" {
        let api_id = api_id.unwrap_or_default();
        // An API moto does not know is NotFound, as AWS answers: ask moto.
        let headers = request.headers().clone();
        let exists = axum::http::Request::get(format!("/v2/apis/{api_id}"))
            .body(axum::body::Body::empty())
            .map(|mut r| {
                *r.headers_mut() = headers;
                r
            })
            .unwrap();
        let answer = forward(upstream, exists).await;
        if answer.status() != StatusCode::OK {
            return answer;
        }
        if let Some(Fault::EndlessPages(n)) = fault {
            return endless(&operation, &paging, n);
        }
        let (items, cap) = {
            let s = inner.lock().unwrap();
            let items = s.recorded.get(&api_id).cloned().unwrap_or_default();
            (items, s.page_cap)
        };
        return page(items, &paging, cap, fault);
    }
    let answer = forward(upstream, request).await;
    record(&inner, &operation, api_id.as_deref(), &path, answer).await
}

/// Keeps what moto answered to the authorizer calls that passed through
/// (and forgets an API's authorizers when it is deleted, everything on
/// moto's reset); returns the answer as it came.
async fn record(
    inner: &Arc<Mutex<Inner>>,
    operation: &str,
    api_id: Option<&str>,
    path: &str,
    answer: Response,
) -> Response {
    let is_authorizer_call = matches!(
        operation,
        "CreateAuthorizer" | "UpdateAuthorizer" | "DeleteAuthorizer" | "DeleteApi"
    ) || path == "/moto-api/reset";
    if !is_authorizer_call || !answer.status().is_success() {
        return answer;
    }
    let (parts, body) = answer.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    {
        let mut s = inner.lock().unwrap();
        let api_id = api_id.unwrap_or_default().to_owned();
        let authorizer_id = path.rsplit('/').next().unwrap_or_default();
        let same = |a: &Value| a["authorizerId"] == authorizer_id;
        match operation {
            "CreateAuthorizer" | "UpdateAuthorizer" => {
                if let Ok(created) = serde_json::from_slice::<Value>(&bytes) {
                    let id = created["authorizerId"].clone();
                    let list = s.recorded.entry(api_id).or_default();
                    match list.iter_mut().find(|a| a["authorizerId"] == id) {
                        Some(old) => *old = created,
                        None => list.push(created),
                    }
                }
            }
            "DeleteAuthorizer" => {
                if let Some(list) = s.recorded.get_mut(&api_id) {
                    list.retain(|a| !same(a));
                }
            }
            "DeleteApi" => {
                s.recorded.remove(&api_id);
            }
            _ => s.recorded.clear(),
        }
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// Sends `request` to the server at `upstream` as it came (method, path,
/// query, headers, body) and returns its answer, body whole; a 502 when it
/// cannot be reached (moto stopped: an outage, as the client sees one).
async fn forward(upstream: SocketAddr, request: axum::extract::Request) -> Response {
    use http_body_util::BodyExt;
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else {
        return error(400, Some("BadRequestException"), "unreadable request body");
    };
    let unreachable = |what: String| error(502, None, &format!("moto unreachable: {what}"));
    let stream = match tokio::net::TcpStream::connect(upstream).await {
        Ok(stream) => stream,
        Err(err) => return unreachable(err.to_string()),
    };
    let (mut sender, connection) =
        match hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await {
            Ok(pair) => pair,
            Err(err) => return unreachable(err.to_string()),
        };
    tokio::spawn(connection);
    let mut outgoing = axum::http::Request::builder()
        .method(parts.method)
        .uri(parts.uri.path_and_query().map_or("/", |p| p.as_str()))
        .version(axum::http::Version::HTTP_11);
    *outgoing.headers_mut().unwrap() = parts.headers;
    let outgoing = outgoing
        .body(http_body_util::Full::new(body))
        .expect("a request built from a valid one");
    let answer = match sender.send_request(outgoing).await {
        Ok(answer) => answer,
        Err(err) => return unreachable(err.to_string()),
    };
    let (mut parts, body) = answer.into_parts();
    let body = match body.collect().await {
        Ok(body) => body.to_bytes(),
        Err(err) => return unreachable(err.to_string()),
    };
    // The body is sent whole, with its length.
    parts.headers.remove(axum::http::header::TRANSFER_ENCODING);
    parts.headers.remove(axum::http::header::CONNECTION);
    Response::from_parts(parts, axum::body::Body::from(body))
}

async fn get_caller_identity(State(inner): Shared) -> Response {
    let _guard = InFlight(inner.clone());
    {
        let mut s = inner.lock().unwrap();
        s.counts.requests += 1;
        s.counts.in_flight += 1;
        *s.counts.by_path.entry("sts".to_owned()).or_default() += 1;
        *s.counts.by_operation.entry("STS".to_owned()).or_default() += 1;
    }
    let body = "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
        <GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/bench</Arn>\
        <UserId>AIDABENCH</UserId><Account>123456789012</Account></GetCallerIdentityResult>\
        <ResponseMetadata><RequestId>bench</RequestId></ResponseMetadata></GetCallerIdentityResponse>";
    (StatusCode::OK, [("content-type", "text/xml")], body).into_response()
}

/// Counts of requests per API's routes path, for pagination checks.
pub fn route_requests(counts: &Counts, api: &str) -> u64 {
    requests_for(counts, api, "routes")
}

/// Counts of requests of one API's listing (`routes`, `authorizers`,
/// `integrations`, `stages`).
pub fn requests_for(counts: &Counts, api: &str, listing: &str) -> u64 {
    counts
        .by_path
        .get(&format!("/v2/apis/{api}/{listing}"))
        .copied()
        .unwrap_or(0)
}

/// Counts of requests of one operation (`GetAuthorizers`).
pub fn operation_requests(counts: &Counts, operation: &str) -> u64 {
    counts.by_operation.get(operation).copied().unwrap_or(0)
}

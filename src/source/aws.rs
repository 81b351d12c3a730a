//! The live source: GetApis (discovery) or GetApi (explicit ids), then GetRoutes
//! with full pagination, for every configured target, through one limiter per
//! account and region.
//!
//! The SDK's own retries are off, so that every attempt passes the limiter and
//! routewarden owns retries: TooManyRequests (by error code, or HTTP 429 alone)
//! cools down everyone on the limiter and is retried; 5xx, timeouts and
//! transport errors are retried a bounded number of times with backoff; other
//! 4xx are not retried. A failure is classified once, here, into an
//! [`ErrorKind`]; an API that fails does not stop the others.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, Region, SdkConfig};
use aws_sdk_apigatewayv2::Client;
use aws_sdk_apigatewayv2::config::SharedCredentialsProvider;
use aws_sdk_apigatewayv2::config::http::HttpResponse;
use aws_sdk_apigatewayv2::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_types::error::display::DisplayErrorContext;
use futures_util::StreamExt;
use tokio::time::Instant;

use super::Fetched;
use super::bounded::{self, BodyLimit};
use crate::audit::{AuditError, ErrorKind, Operation};
use crate::config::{Config, Discover, Target};
use crate::inventory::{Api, Line, Location, Origin, ParameterConstraints, Route};
use crate::limiter::{self, Limiter};

/// Attempts for a request that keeps being throttled, before its API fails.
pub const MAX_THROTTLED_ATTEMPTS: u32 = 10;
/// Attempts for 5xx, timeouts and transport errors.
pub const MAX_FAILED_ATTEMPTS: u32 = 3;
/// APIs one target's discovery may list (GetApis pages are bounded by this
/// over `page_size`, plus two): AWS's own quota is 600 per account and region.
pub const MAX_APIS_PER_TARGET: usize = 100_000;
/// The longest error message kept from a response: an excerpt, not the body.
pub const MAX_MESSAGE_BYTES: usize = 1024;
/// Session name of assumed roles, visible in the account's CloudTrail.
pub const SESSION_NAME: &str = "routewarden";

/// Why the source could not be set up (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("target `{target}` has no region: set `region` for it, `[aws] region`, or AWS_REGION")]
    NoRegion { target: String },
    #[error("invalid AWS_ENDPOINT_URL: {0}")]
    Endpoint(String),
}

/// How a request ended, as `routewarden_aws_requests_total` labels it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RequestOutcome {
    Success,
    Throttled,
    ClientError,
    ServerError,
    Timeout,
    TransportError,
}

impl RequestOutcome {
    pub fn label(self) -> &'static str {
        match self {
            RequestOutcome::Success => "success",
            RequestOutcome::Throttled => "throttled",
            RequestOutcome::ClientError => "client_error",
            RequestOutcome::ServerError => "server_error",
            RequestOutcome::Timeout => "timeout",
            RequestOutcome::TransportError => "transport_error",
        }
    }
}

/// Requests made and time waited, per target; read by reports and metrics.
#[derive(Debug, Default)]
pub struct Stats {
    requests: Mutex<BTreeMap<(Operation, RequestOutcome), u64>>,
    rate_limit_wait: Mutex<Duration>,
    backoff: Mutex<Duration>,
}

impl Stats {
    fn request(&self, operation: Operation, outcome: RequestOutcome) {
        *self
            .requests
            .lock()
            .expect("stats lock")
            .entry((operation, outcome))
            .or_default() += 1;
    }

    fn waited(&self, waited: limiter::Waited, backoff: Duration) {
        *self.rate_limit_wait.lock().expect("stats lock") += waited.rate_limit;
        *self.backoff.lock().expect("stats lock") += waited.backoff + backoff;
    }

    /// Requests by operation and outcome.
    pub fn requests(&self) -> BTreeMap<(Operation, RequestOutcome), u64> {
        self.requests.lock().expect("stats lock").clone()
    }

    /// Time spent waiting for the client-side limiter.
    pub fn rate_limit_wait(&self) -> Duration {
        *self.rate_limit_wait.lock().expect("stats lock")
    }

    /// Time spent backing off after throttling or errors.
    pub fn backoff(&self) -> Duration {
        *self.backoff.lock().expect("stats lock")
    }
}

/// One configured target with its client and the limiter of its account.
struct TargetClient {
    target: Target,
    /// The limiter's account part: APIs of one account and region are one
    /// set, whichever targets discover them.
    account: String,
    /// The config's `[[targets]]` entry, where findings of its APIs point.
    origin: Origin,
    name: Arc<str>,
    region: Arc<str>,
    client: Client,
    limiter: Arc<Limiter>,
    stats: Arc<Stats>,
}

/// The live source.
pub struct AwsSource {
    targets: Vec<TargetClient>,
    concurrency: usize,
    page_size: u32,
    max_backoff: Duration,
    max_routes_per_api: usize,
    api_time_budget: Duration,
}

/// An API found by discovery, before its routes are read.
#[derive(Debug, Clone)]
struct ApiRef {
    target: usize,
    api_id: String,
    name: Option<String>,
    protocol_type: Option<String>,
    tags: Option<BTreeMap<String, String>>,
}

/// A request that failed for good.
#[derive(Debug)]
struct Failure {
    kind: ErrorKind,
    message: String,
}

impl AwsSource {
    /// Builds a client per target: credentials from the standard chain (or an
    /// assumed role), the target's region, the endpoint override, SDK retries
    /// off, the per-request timeout. Targets of one account and region share
    /// one limiter.
    pub async fn new(config: &Config, endpoint_url: Option<&str>) -> Result<AwsSource, SetupError> {
        AwsSource::with_loader(config, endpoint_url, |loader| loader).await
    }

    /// [`AwsSource::new`], with `customize` applied to each region's SDK
    /// loader after routewarden's settings: another HTTP client or
    /// credentials provider (the fuzz target feeds responses this way).
    pub async fn with_loader(
        config: &Config,
        endpoint_url: Option<&str>,
        customize: impl Fn(ConfigLoader) -> ConfigLoader,
    ) -> Result<AwsSource, SetupError> {
        let endpoint = endpoint_url
            .map(str::to_owned)
            .or_else(|| config.aws.endpoint_url.clone());
        // The SDK reads AWS_ENDPOINT_URL itself: hold it to the same rules.
        if endpoint.is_none()
            && let Some(url) = std::env::var_os("AWS_ENDPOINT_URL")
        {
            crate::config::endpoint_url(&url.to_string_lossy()).map_err(SetupError::Endpoint)?;
        }
        let timeouts = TimeoutConfig::builder()
            .operation_attempt_timeout(config.aws.timeout)
            .connect_timeout(config.aws.timeout)
            .build();
        let mut base_configs: HashMap<Option<String>, SdkConfig> = HashMap::new();
        let mut limiters: HashMap<(String, String), Arc<Limiter>> = HashMap::new();
        let mut stats: HashMap<String, Arc<Stats>> = HashMap::new();
        let mut targets = Vec::with_capacity(config.targets.len());
        for target in &config.targets {
            let region = target.region.clone().or_else(|| config.aws.region.clone());
            if !base_configs.contains_key(&region) {
                let mut loader = aws_config::defaults(BehaviorVersion::latest())
                    .retry_config(RetryConfig::disabled())
                    .timeout_config(timeouts.clone());
                if let Some(region) = &region {
                    loader = loader.region(Region::new(region.clone()));
                }
                if let Some(url) = &endpoint {
                    loader = loader.endpoint_url(url.clone());
                }
                base_configs.insert(region.clone(), customize(loader).load().await);
            }
            let base = &base_configs[&region];
            let Some(region) = base.region().map(|r| r.as_ref().to_owned()) else {
                return Err(SetupError::NoRegion {
                    target: target.name.clone(),
                });
            };
            let sdk_config = match &target.role_arn {
                Some(role_arn) => {
                    let mut builder = aws_config::sts::AssumeRoleProvider::builder(role_arn)
                        .session_name(SESSION_NAME)
                        .region(Region::new(region.clone()))
                        .configure(base);
                    if let Some(external_id) = &target.external_id {
                        builder = builder.external_id(external_id);
                    }
                    let provider = builder.build().await;
                    base.to_builder()
                        .credentials_provider(SharedCredentialsProvider::new(provider))
                        .region(Region::new(region.clone()))
                        .build()
                }
                None => base
                    .to_builder()
                    .region(Region::new(region.clone()))
                    .build(),
            };
            let account = account_key(target.role_arn.as_deref());
            let limiter = limiters
                .entry((account.clone(), region.clone()))
                .or_insert_with(|| {
                    Arc::new(Limiter::new(
                        format!("{account}/{region}"),
                        config.aws.requests_per_second,
                        config.aws.burst,
                        config.aws.max_backoff,
                    ))
                })
                .clone();
            let stats = stats.entry(target.name.clone()).or_default().clone();
            let origin = Origin(config.path.as_deref().map(|path| {
                Arc::new(Location {
                    path: crate::diag::display_path(path).into(),
                    line: target.line,
                })
            }));
            targets.push(TargetClient {
                target: target.clone(),
                account: account.clone(),
                origin,
                name: target.name.as_str().into(),
                region: region.as_str().into(),
                client: Client::from_conf(
                    aws_sdk_apigatewayv2::config::Builder::from(&sdk_config)
                        .interceptor(BodyLimit(config.aws.max_response_bytes))
                        .build(),
                ),
                limiter,
                stats,
            });
        }
        Ok(AwsSource {
            targets,
            concurrency: config.audit.concurrency,
            page_size: config.aws.page_size,
            max_backoff: config.aws.max_backoff,
            max_routes_per_api: config.aws.max_routes_per_api,
            api_time_budget: config.aws.api_time_budget,
        })
    }

    /// Per-target request statistics, by target name.
    pub fn stats(&self) -> Vec<(Arc<str>, Arc<Stats>)> {
        self.targets
            .iter()
            .map(|t| (t.name.clone(), t.stats.clone()))
            .collect()
    }

    /// Reads every target: discovery, then the routes of every API, with at
    /// most `audit.concurrency` APIs in flight across all targets.
    pub async fn fetch(&self) -> Fetched {
        let progress = Progress::new();
        let mut errors = Vec::new();
        let discovered: Vec<(Vec<ApiRef>, Vec<AuditError>)> =
            futures_util::stream::iter(0..self.targets.len())
                .map(|t| async move {
                    match tokio::time::timeout(self.api_time_budget, self.discover(t)).await {
                        Ok(found) => found,
                        Err(_) => {
                            let failure = self.over_budget();
                            (
                                Vec::new(),
                                vec![self.error(t, None, Operation::GetApis, failure)],
                            )
                        }
                    }
                })
                .buffered(self.concurrency)
                .collect()
                .await;
        let mut refs: Vec<ApiRef> = Vec::new();
        // One API is one API: targets of one account and region whose
        // discovery overlaps audit it once, under the first.
        let mut owner: HashMap<(&str, &str, String), usize> = HashMap::new();
        for (found, failed) in discovered {
            for api in found {
                let t = &self.targets[api.target];
                let key = (t.account.as_str(), &*t.region, api.api_id.clone());
                match owner.get(&key) {
                    Some(&first) => tracing::warn!(
                        api_id = %api.api_id,
                        first = %self.targets[first].name,
                        also = %t.name,
                        "targets overlap: the API is audited under the first only"
                    ),
                    None => {
                        owner.insert(key, api.target);
                        refs.push(api);
                    }
                }
            }
            errors.extend(failed);
        }
        progress.start(refs.len() as u64);
        let results: Vec<(ApiRef, Result<Vec<Route>, Failure>)> = futures_util::stream::iter(refs)
            .map(|api| async {
                // One API that never ends (pages, throttling, hangs) gives up
                // its own budget, never the cycle's.
                let routes = tokio::time::timeout(self.api_time_budget, self.routes(&api))
                    .await
                    .unwrap_or_else(|_| Err(self.over_budget()));
                progress.inc();
                (api, routes)
            })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        progress.finish();
        let mut apis = Vec::with_capacity(results.len());
        for (api, result) in results {
            let t = &self.targets[api.target];
            match result {
                Ok(routes) => apis.push(Api {
                    api_id: api.api_id.into(),
                    name: api.name.map(Into::into),
                    protocol_type: api.protocol_type.map(Into::into),
                    tags: api.tags,
                    target_name: Some(t.name.clone()),
                    region: Some(t.region.clone()),
                    routes,
                    origin: t.origin.clone(),
                }),
                Err(failure) => errors.push(self.error(
                    api.target,
                    Some(&api.api_id),
                    Operation::GetRoutes,
                    failure,
                )),
            }
        }
        // Stable output: targets in config order, APIs by id.
        let order: HashMap<&str, usize> = self
            .targets
            .iter()
            .enumerate()
            .map(|(i, t)| (&*t.name, i))
            .collect();
        let rank = |name: &Option<Arc<str>>| {
            name.as_deref()
                .and_then(|n| order.get(n).copied())
                .unwrap_or(usize::MAX)
        };
        apis.sort_by(|a, b| {
            (rank(&a.target_name), &a.api_id).cmp(&(rank(&b.target_name), &b.api_id))
        });
        errors.sort_by(|a, b| {
            (rank(&a.target_name), &a.api_id).cmp(&(rank(&b.target_name), &b.api_id))
        });
        for error in &errors {
            tracing::warn!(
                target_name = error.target_name.as_deref(),
                api_id = error.api_id.as_deref(),
                operation = ?error.operation,
                kind = ?error.kind,
                message = %error.message,
                "could not read"
            );
        }
        Fetched {
            inventory: crate::inventory::Inventory { apis },
            errors,
        }
    }

    fn over_budget(&self) -> Failure {
        Failure {
            kind: ErrorKind::Timeout,
            message: format!(
                "not read within the time budget of {} (api_time_budget)",
                humantime::format_duration(self.api_time_budget)
            ),
        }
    }

    fn error(
        &self,
        target: usize,
        api_id: Option<&str>,
        operation: Operation,
        failure: Failure,
    ) -> AuditError {
        let t = &self.targets[target];
        AuditError {
            target_name: Some(t.name.clone()),
            region: Some(t.region.clone()),
            api_id: api_id.map(Into::into),
            operation,
            kind: failure.kind,
            message: failure.message,
        }
    }

    /// The APIs of a target: its `api_ids` (GetApi each; one that fails does
    /// not stop the others), or GetApis filtered by `discover`.
    async fn discover(&self, index: usize) -> (Vec<ApiRef>, Vec<AuditError>) {
        let t = &self.targets[index];
        if let Some(ids) = &t.target.api_ids {
            let mut refs = Vec::with_capacity(ids.len());
            let mut errors = Vec::new();
            for id in ids {
                let api = match self
                    .call(t, Operation::GetApi, || {
                        t.client.get_api().api_id(id).send()
                    })
                    .await
                {
                    Ok(api) => api,
                    Err(mut failure) => {
                        if failure.kind == ErrorKind::NotFound {
                            failure.message = format!(
                                "API `{id}` does not exist in {}: {}",
                                t.region, failure.message
                            );
                        }
                        errors.push(self.error(index, Some(id), Operation::GetApi, failure));
                        continue;
                    }
                };
                refs.push(ApiRef {
                    target: index,
                    api_id: api.api_id.unwrap_or_else(|| id.clone()),
                    name: api.name,
                    protocol_type: api.protocol_type.map(|p| p.as_str().to_owned()),
                    tags: api.tags.map(|t| t.into_iter().collect()),
                });
            }
            return (refs, errors);
        }
        match self.list_apis(index).await {
            Ok(refs) => (refs, Vec::new()),
            Err(err) => (Vec::new(), vec![err]),
        }
    }

    /// GetApis, every page, filtered by the target's `discover`.
    async fn list_apis(&self, index: usize) -> Result<Vec<ApiRef>, AuditError> {
        let t = &self.targets[index];
        let mut refs = Vec::new();
        let mut token: Option<String> = None;
        let mut seen = HashSet::new();
        let max_pages = MAX_APIS_PER_TARGET / self.page_size as usize + 2;
        for _ in 0..max_pages {
            let page = self
                .call(t, Operation::GetApis, || {
                    t.client
                        .get_apis()
                        .max_results(self.page_size.to_string())
                        .set_next_token(token.clone())
                        .send()
                })
                .await
                .map_err(|failure| self.error(index, None, Operation::GetApis, failure))?;
            for api in page.items.unwrap_or_default() {
                let Some(api_id) = api.api_id else { continue };
                let api = ApiRef {
                    target: index,
                    api_id,
                    name: api.name,
                    protocol_type: api.protocol_type.map(|p| p.as_str().to_owned()),
                    tags: api.tags.map(|t| t.into_iter().collect()),
                };
                if matches(&t.target.discover, &api) {
                    refs.push(api);
                }
            }
            match next_token(page.next_token, &mut seen) {
                Ok(Some(next)) => token = Some(next),
                Ok(None) => return Ok(refs),
                Err(failure) => return Err(self.error(index, None, Operation::GetApis, failure)),
            }
        }
        Err(self.error(index, None, Operation::GetApis, endless(max_pages)))
    }

    /// Every route of an API, page by page.
    async fn routes(&self, api: &ApiRef) -> Result<Vec<Route>, Failure> {
        let t = &self.targets[api.target];
        let mut routes = Vec::new();
        let mut token: Option<String> = None;
        let mut seen = HashSet::new();
        let max_pages = self.max_routes_per_api / self.page_size as usize + 2;
        for _ in 0..max_pages {
            let page = self
                .call(t, Operation::GetRoutes, || {
                    t.client
                        .get_routes()
                        .api_id(&api.api_id)
                        .max_results(self.page_size.to_string())
                        .set_next_token(token.clone())
                        .send()
                })
                .await?;
            let items = page.items.unwrap_or_default();
            if routes.len() + items.len() > self.max_routes_per_api {
                return Err(Failure {
                    kind: ErrorKind::Incomplete,
                    message: format!(
                        "more than {} routes (max_routes_per_api); given up after {} routes",
                        self.max_routes_per_api,
                        routes.len() + items.len()
                    ),
                });
            }
            for route in items {
                match convert(route) {
                    Some(route) => routes.push(route),
                    None => {
                        return Err(Failure {
                            kind: ErrorKind::MalformedResponse,
                            message: "GetRoutes returned a route without a RouteKey".to_owned(),
                        });
                    }
                }
            }
            match next_token(page.next_token, &mut seen)? {
                Some(next) => token = Some(next),
                None => return Ok(routes),
            }
        }
        Err(endless(max_pages))
    }

    /// One request with routewarden's retries: every attempt waits on the
    /// limiter; the outcome of each is counted.
    async fn call<T, E, F, Fut>(
        &self,
        t: &TargetClient,
        operation: Operation,
        send: F,
    ) -> Result<T, Failure>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let mut throttled = 0;
        let mut failed = 0;
        let mut rng = fastrand::Rng::new();
        loop {
            let waited = t.limiter.acquire().await;
            t.stats.waited(waited, Duration::ZERO);
            let sent = Instant::now();
            let err = match send().await {
                Ok(output) => {
                    t.limiter.on_success();
                    t.stats.request(operation, RequestOutcome::Success);
                    return Ok(output);
                }
                Err(err) => classify(&err),
            };
            t.stats.request(operation, err.outcome);
            match err.kind {
                ErrorKind::Throttled => {
                    throttled += 1;
                    let cooldown = t.limiter.on_throttle(sent, err.retry_after);
                    tracing::debug!(target_name = %t.name, ?operation, attempt = throttled, cooldown_ms = cooldown.as_millis() as u64, "throttled");
                    if throttled >= MAX_THROTTLED_ATTEMPTS {
                        return Err(Failure {
                            kind: err.kind,
                            message: format!("{} (after {throttled} attempts)", err.message),
                        });
                    }
                }
                ErrorKind::ServerError | ErrorKind::Timeout | ErrorKind::Transport => {
                    failed += 1;
                    if failed >= MAX_FAILED_ATTEMPTS {
                        return Err(Failure {
                            kind: err.kind,
                            message: format!("{} (after {failed} attempts)", err.message),
                        });
                    }
                    let delay = limiter::retry_delay(failed, self.max_backoff, &mut rng);
                    tracing::debug!(target_name = %t.name, ?operation, attempt = failed, delay_ms = delay.as_millis() as u64, error = %err.message, "retrying");
                    tokio::time::sleep(delay).await;
                    t.stats.waited(limiter::Waited::default(), delay);
                }
                _ => {
                    return Err(Failure {
                        kind: err.kind,
                        message: err.message,
                    });
                }
            }
        }
    }
}

/// The limiter key's account part: the role's account, or the default credentials.
fn account_key(role_arn: Option<&str>) -> String {
    role_arn
        .and_then(|arn| arn.split(':').nth(4))
        .map_or_else(|| "default".to_owned(), str::to_owned)
}

/// Whether a discovered API passes the target's filters.
fn matches(discover: &Discover, api: &ApiRef) -> bool {
    let name_ok = discover
        .name_matches
        .as_ref()
        .is_none_or(|re| api.name.as_deref().is_some_and(|n| re.is_match(n)));
    let protocol_ok = discover
        .protocol_type
        .as_ref()
        .is_none_or(|p| api.protocol_type.as_deref() == Some(p.as_str()));
    let tags_ok = discover.tags.iter().all(|(key, value)| {
        api.tags
            .as_ref()
            .and_then(|tags| tags.get(key))
            .is_some_and(|v| v == value)
    });
    name_ok && protocol_ok && tags_ok
}

/// The next page's token; a token seen before means the server loops.
fn next_token(
    token: Option<String>,
    seen: &mut HashSet<String>,
) -> Result<Option<String>, Failure> {
    match token.filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(token) if !seen.insert(token.clone()) => Err(Failure {
            kind: ErrorKind::MalformedResponse,
            message: format!("the server returned pagination token `{token}` a second time"),
        }),
        Some(token) => Ok(Some(token)),
    }
}

fn endless(pages: usize) -> Failure {
    Failure {
        kind: ErrorKind::Incomplete,
        message: format!(
            "pagination did not end after {pages} pages (bounded by max_routes_per_api over page_size)"
        ),
    }
}

/// An SDK route as the inventory holds it; `None` without a route key.
fn convert(route: aws_sdk_apigatewayv2::types::Route) -> Option<Route> {
    Some(Route {
        line: Line::default(),
        route_key: route.route_key?,
        route_id: route.route_id,
        authorization_type: route.authorization_type.map(|a| a.as_str().to_owned()),
        authorizer_id: route.authorizer_id,
        authorization_scopes: route.authorization_scopes,
        api_key_required: route.api_key_required,
        api_gateway_managed: route.api_gateway_managed,
        operation_name: route.operation_name,
        target: route.target,
        model_selection_expression: route.model_selection_expression,
        route_response_selection_expression: route.route_response_selection_expression,
        request_models: route.request_models.map(|m| m.into_iter().collect()),
        request_parameters: route.request_parameters.map(|p| {
            p.into_iter()
                .map(|(k, v)| {
                    (
                        k,
                        ParameterConstraints {
                            required: v.required,
                        },
                    )
                })
                .collect()
        }),
    })
}

/// An error message clipped to [`MAX_MESSAGE_BYTES`]: an excerpt of what the
/// endpoint said, never the body (sinks escape it where people read it).
fn short(message: String) -> String {
    match crate::sanitize::clip(&message, MAX_MESSAGE_BYTES) {
        std::borrow::Cow::Borrowed(_) => message,
        std::borrow::Cow::Owned(clipped) => clipped,
    }
}

/// A failed attempt, classified once.
#[derive(Debug)]
struct Classified {
    kind: ErrorKind,
    outcome: RequestOutcome,
    retry_after: Option<Duration>,
    message: String,
}

fn classify<E>(err: &SdkError<E, HttpResponse>) -> Classified
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let plain = |kind, outcome| Classified {
        kind,
        outcome,
        retry_after: None,
        message: short(DisplayErrorContext(err).to_string()),
    };
    if let Some(too_large) = bounded::too_large(err) {
        return Classified {
            kind: ErrorKind::MalformedResponse,
            outcome: RequestOutcome::ServerError,
            retry_after: None,
            message: too_large.to_string(),
        };
    }
    match err {
        SdkError::TimeoutError(_) => plain(ErrorKind::Timeout, RequestOutcome::Timeout),
        SdkError::DispatchFailure(failure) if failure.is_timeout() => {
            plain(ErrorKind::Timeout, RequestOutcome::Timeout)
        }
        SdkError::DispatchFailure(_) | SdkError::ConstructionFailure(_) => {
            plain(ErrorKind::Transport, RequestOutcome::TransportError)
        }
        SdkError::ResponseError(_) | SdkError::ServiceError(_) | _ => {
            let response = err.raw_response();
            let status = response.map(|r| r.status().as_u16());
            let code = ProvideErrorMetadata::code(err);
            let retry_after = response.and_then(|r| {
                let headers = r.headers();
                let ms = headers
                    .get("x-amz-retry-after")
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_millis);
                let secs = headers
                    .get("retry-after")
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                ms.or(secs)
            });
            // An excerpt: a body that is not an AWS error could be the size
            // of the response.
            let message = short(match (code, ProvideErrorMetadata::message(err)) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code.to_owned(),
                _ => match status {
                    Some(status) => format!("HTTP {status}: {}", DisplayErrorContext(err)),
                    None => DisplayErrorContext(err).to_string(),
                },
            });
            let (kind, outcome) = match (code, status) {
                (Some("TooManyRequestsException" | "ThrottlingException" | "Throttling"), _)
                | (_, Some(429)) => (ErrorKind::Throttled, RequestOutcome::Throttled),
                (Some("NotFoundException"), _) | (_, Some(404)) => {
                    (ErrorKind::NotFound, RequestOutcome::ClientError)
                }
                (
                    Some(
                        "AccessDeniedException"
                        | "UnrecognizedClientException"
                        | "InvalidSignatureException"
                        | "ExpiredTokenException"
                        | "UnauthorizedException"
                        | "ForbiddenException",
                    ),
                    _,
                )
                | (_, Some(401 | 403)) => (ErrorKind::AccessDenied, RequestOutcome::ClientError),
                (_, Some(500..=599)) => (ErrorKind::ServerError, RequestOutcome::ServerError),
                (Some("BadRequestException"), _) | (_, Some(400..=499)) => {
                    (ErrorKind::BadRequest, RequestOutcome::ClientError)
                }
                // A 2xx whose body did not parse.
                _ => (ErrorKind::MalformedResponse, RequestOutcome::ServerError),
            };
            Classified {
                kind,
                outcome,
                retry_after,
                message,
            }
        }
    }
}

/// Progress on stderr while a person waits at a terminal; nothing otherwise.
struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    fn new() -> Progress {
        use std::io::IsTerminal;
        let attended = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
        Progress(attended.then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_message("discovering APIs");
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        }))
    }

    fn start(&self, len: u64) {
        if let Some(bar) = &self.0 {
            bar.set_length(len);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} reading routes {pos}/{len} APIs [{elapsed}]",
                )
                .expect("valid template"),
            );
        }
    }

    fn inc(&self) {
        if let Some(bar) = &self.0 {
            bar.inc(1);
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_come_from_role_arns() {
        assert_eq!(
            account_key(Some("arn:aws:iam::123456789012:role/x")),
            "123456789012"
        );
        assert_eq!(account_key(None), "default");
    }

    #[test]
    fn a_repeated_token_is_an_error_not_a_loop() {
        let mut seen = HashSet::new();
        assert_eq!(
            next_token(Some("a".into()), &mut seen).unwrap(),
            Some("a".into())
        );
        assert_eq!(
            next_token(Some("b".into()), &mut seen).unwrap(),
            Some("b".into())
        );
        assert_eq!(next_token(None, &mut seen).unwrap(), None);
        assert_eq!(next_token(Some(String::new()), &mut seen).unwrap(), None);
        let failure = next_token(Some("a".into()), &mut seen).unwrap_err();
        assert_eq!(failure.kind, ErrorKind::MalformedResponse);
    }

    #[test]
    fn discovery_filters_by_name_protocol_and_tags() {
        let discover = Discover {
            name_matches: Some(regex::Regex::new("^prod-").unwrap()),
            protocol_type: Some("HTTP".into()),
            tags: BTreeMap::from([("env".into(), "prod".into())]),
        };
        let api = |name: &str, protocol: &str, env: Option<&str>| ApiRef {
            target: 0,
            api_id: "a".into(),
            name: Some(name.into()),
            protocol_type: Some(protocol.into()),
            tags: env.map(|e| BTreeMap::from([("env".to_owned(), e.to_owned())])),
        };
        assert!(matches(&discover, &api("prod-pay", "HTTP", Some("prod"))));
        assert!(!matches(&discover, &api("dev-pay", "HTTP", Some("prod"))));
        assert!(!matches(
            &discover,
            &api("prod-pay", "WEBSOCKET", Some("prod"))
        ));
        assert!(!matches(&discover, &api("prod-pay", "HTTP", Some("dev"))));
        assert!(!matches(&discover, &api("prod-pay", "HTTP", None)));
        assert!(matches(&Discover::default(), &api("x", "WEBSOCKET", None)));
    }
}

//! The live source: GetApis (discovery) or GetApi (explicit ids), then GetRoutes
//! with full pagination, for every configured target, through one limiter per
//! account and region.
//!
//! - [`client`]: one SDK client per target, and the limiters they share;
//! - [`discover`]: which APIs a target has;
//! - [`paginate`]: every paginated call, through one loop;
//! - [`classify`]: a failed attempt, classified once, into an [`ErrorKind`];
//! - [`limiter`]: the per account and region budget, and throttling backoff.
//!
//! The SDK's own retries are off, so that every attempt passes the limiter and
//! routewarden owns retries ([`AwsSource::call`]): TooManyRequests cools down
//! everyone on the limiter and is retried; 5xx, timeouts and transport errors
//! are retried a bounded number of times with backoff; other 4xx are not
//! retried. An API that fails does not stop the others.

mod bounded;
mod classify;
mod client;
mod discover;
pub mod limiter;
mod paginate;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::Duration;

use aws_config::ConfigLoader;
use aws_sdk_apigatewayv2::config::http::HttpResponse;
use aws_sdk_apigatewayv2::error::{ProvideErrorMetadata, SdkError};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use routewarden_core::config::Config;
use routewarden_core::diag::LoadError;
use routewarden_core::inventory::{Api, Line, Needs, ParameterConstraints, Route};
use tokio::time::Instant;

pub use self::client::SetupError;
use self::client::TargetClient;
use self::discover::ApiRef;
use self::paginate::Bounds;
use super::{ErrorKind, Event, FetchError, Item, Observer, Operation, RequestOutcome, Source};

/// Attempts for a request that keeps being throttled, before its API fails.
const MAX_THROTTLED_ATTEMPTS: u32 = 10;
/// Attempts for 5xx, timeouts and transport errors.
const MAX_FAILED_ATTEMPTS: u32 = 3;

/// The live source.
pub struct AwsSource {
    targets: Vec<TargetClient>,
    /// Which of GetAuthorizers, GetIntegrations and GetStages to call.
    #[allow(dead_code)] // issue 14: read by the calls that follow GetRoutes
    needs: Needs,
    concurrency: usize,
    page_size: u32,
    max_backoff: Duration,
    max_routes_per_api: usize,
    api_time_budget: Duration,
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
    pub async fn new(
        config: &Config,
        endpoint_url: Option<&str>,
        needs: Needs,
    ) -> Result<AwsSource, SetupError> {
        AwsSource::with_loader(config, endpoint_url, needs, |loader| loader).await
    }

    /// [`AwsSource::new`], with `customize` applied to each region's SDK
    /// loader after routewarden's settings: another HTTP client or
    /// credentials provider (the fuzz target feeds responses this way).
    pub async fn with_loader(
        config: &Config,
        endpoint_url: Option<&str>,
        needs: Needs,
        customize: impl Fn(ConfigLoader) -> ConfigLoader,
    ) -> Result<AwsSource, SetupError> {
        Ok(AwsSource {
            needs,
            targets: client::targets(config, endpoint_url, customize).await?,
            concurrency: config.audit.concurrency,
            page_size: config.aws.page_size,
            max_backoff: config.aws.max_backoff,
            max_routes_per_api: config.aws.max_routes_per_api,
            api_time_budget: config.aws.api_time_budget,
        })
    }

    /// Every target's discovery, at most `audit.concurrency` at once. One API
    /// is one API: targets of one account and region whose discovery
    /// overlaps audit it once, under the first. The APIs come in a stable
    /// order (targets in config order, APIs by id), failed discoveries apart.
    async fn discover_all(&self, observer: &dyn Observer) -> (Vec<ApiRef>, Vec<FetchError>) {
        let discovered: Vec<(Vec<ApiRef>, Vec<FetchError>)> =
            futures_util::stream::iter(0..self.targets.len())
                .map(|t| async move {
                    let discovery = discover::discover(self, t, observer);
                    match tokio::time::timeout(self.api_time_budget, discovery).await {
                        Ok(found) => found,
                        Err(_) => (
                            Vec::new(),
                            vec![self.error(t, None, Operation::GetApis, self.over_budget())],
                        ),
                    }
                })
                .buffered(self.concurrency)
                .collect()
                .await;
        let mut refs: Vec<ApiRef> = Vec::new();
        let mut errors = Vec::new();
        let mut owner: HashMap<(&str, &str, String), usize> = HashMap::new();
        for (mut found, failed) in discovered {
            found.sort_by(|a, b| a.api_id.cmp(&b.api_id));
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
        (refs, errors)
    }

    /// One API, routes and all, within its own time budget: one that never
    /// ends (pages, throttling, hangs) gives up its own budget, never the
    /// cycle's.
    async fn read_api(&self, api: ApiRef, observer: &dyn Observer) -> Item {
        let routes = tokio::time::timeout(self.api_time_budget, self.routes(&api, observer))
            .await
            .unwrap_or_else(|_| Err(self.over_budget()));
        observer.on(Event::Done);
        let t = &self.targets[api.target];
        match routes {
            Ok(routes) => Item::Api(Box::new(Api {
                api_id: api.api_id.into(),
                name: api.name.map(Into::into),
                protocol_type: api.protocol_type.map(Into::into),
                tags: api.tags,
                target_name: Some(t.name.clone()),
                region: Some(t.region.clone()),
                routes,
                origin: t.origin.clone(),
                ..Api::default()
            })),
            Err(failure) => Item::Failed(self.error(
                api.target,
                Some(&api.api_id),
                Operation::GetRoutes,
                failure,
            )),
        }
    }

    /// Every route of an API.
    async fn routes(&self, api: &ApiRef, observer: &dyn Observer) -> Result<Vec<Route>, Failure> {
        let t = &self.targets[api.target];
        let bounds = Bounds {
            items: self.max_routes_per_api,
            noun: "routes",
            setting: "max_routes_per_api",
            page_size: self.page_size,
        };
        let pages = paginate::all(bounds, |token| async move {
            let page = self
                .call(t, Operation::GetRoutes, observer, || {
                    t.client
                        .get_routes()
                        .api_id(&api.api_id)
                        .max_results(self.page_size.to_string())
                        .set_next_token(token.clone())
                        .send()
                })
                .await?;
            Ok((page.items.unwrap_or_default(), page.next_token))
        });
        pages
            .await?
            .into_iter()
            .map(|route| {
                convert(route).ok_or_else(|| Failure {
                    kind: ErrorKind::MalformedResponse,
                    message: "GetRoutes returned a route without a RouteKey".to_owned(),
                })
            })
            .collect()
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
    ) -> FetchError {
        let t = &self.targets[target];
        FetchError {
            target_name: Some(t.name.clone()),
            region: Some(t.region.clone()),
            api_id: api_id.map(Into::into),
            operation,
            kind: failure.kind,
            message: failure.message,
        }
    }

    /// One request with routewarden's retries: every attempt waits on the
    /// limiter; the outcome of each, and every wait, goes to the observer.
    async fn call<T, E, F, Fut>(
        &self,
        t: &TargetClient,
        operation: Operation,
        observer: &dyn Observer,
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
        let target = &*t.name;
        loop {
            let waited = t.limiter.acquire().await;
            observer.on(Event::Waited {
                target,
                rate_limit: waited.rate_limit,
                backoff: waited.backoff,
            });
            let sent = Instant::now();
            let err = match send().await {
                Ok(output) => {
                    t.limiter.on_success();
                    let outcome = RequestOutcome::Success;
                    observer.on(Event::Request {
                        target,
                        operation,
                        outcome,
                    });
                    return Ok(output);
                }
                Err(err) => classify::classify(&err),
            };
            observer.on(Event::Request {
                target,
                operation,
                outcome: err.outcome,
            });
            match err.kind {
                ErrorKind::Throttled => {
                    throttled += 1;
                    let cooldown = t.limiter.on_throttle(sent, err.retry_after);
                    tracing::debug!(target_name = %t.name, operation = operation.label(), attempt = throttled, cooldown_ms = cooldown.as_millis() as u64, "throttled");
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
                    tracing::debug!(target_name = %t.name, operation = operation.label(), attempt = failed, delay_ms = delay.as_millis() as u64, error = %err.message, "retrying");
                    tokio::time::sleep(delay).await;
                    observer.on(Event::Waited {
                        target,
                        rate_limit: Duration::ZERO,
                        backoff: delay,
                    });
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

impl Source for AwsSource {
    /// Discovery first (every target), then the routes of every API, with at
    /// most `audit.concurrency` APIs in flight across all targets. APIs are
    /// yielded in discovery order as soon as they and those before them are
    /// read: a slow API holds back what is yielded, never what is read.
    fn read<'a>(&'a self, observer: &'a dyn Observer) -> BoxStream<'a, Result<Item, LoadError>> {
        let discovery = self.discover_all(observer);
        futures_util::stream::once(discovery)
            .flat_map(move |(refs, errors)| {
                observer.on(Event::Found { apis: refs.len() });
                let failed = futures_util::stream::iter(errors).map(Item::Failed);
                let apis = futures_util::stream::iter(refs.into_iter().enumerate())
                    .map(move |(n, api)| async move { (n, self.read_api(api, observer).await) })
                    .buffer_unordered(self.concurrency);
                failed.chain(in_order(apis))
            })
            .map(Ok)
            .boxed()
    }
}

/// Items numbered 0, 1, 2... that arrive in any order, yielded in their
/// order: each as soon as every one before it has arrived; at the end,
/// whatever is left.
fn in_order<'a, T: Send + 'a>(
    numbered: impl futures_util::Stream<Item = (usize, T)> + Send + 'a,
) -> impl futures_util::Stream<Item = T> + Send + 'a {
    let mut waiting: BTreeMap<usize, T> = BTreeMap::new();
    let mut next = 0;
    numbered
        .map(Some)
        .chain(futures_util::stream::once(async { None }))
        .flat_map(move |arrived| {
            let mut ready = Vec::new();
            match arrived {
                Some((n, item)) => {
                    waiting.insert(n, item);
                    while let Some(item) = waiting.remove(&next) {
                        ready.push(item);
                        next += 1;
                    }
                }
                // The end: nothing is held back, gap or not.
                None => ready.extend(std::mem::take(&mut waiting).into_values()),
            }
            futures_util::stream::iter(ready)
        })
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

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    #[tokio::test]
    async fn items_are_yielded_in_order_as_soon_as_those_before_them_arrived() {
        let arrivals = futures_util::stream::iter([(2, 'c'), (0, 'a'), (3, 'd'), (1, 'b')]);
        let got: Vec<char> = super::in_order(arrivals).collect().await;
        assert_eq!(got, ['a', 'b', 'c', 'd']);
        // Nothing is lost when one never arrives.
        let gap = futures_util::stream::iter([(3, 'd'), (0, 'a'), (2, 'c')]);
        let got: Vec<char> = super::in_order(gap).collect().await;
        assert_eq!(got, ['a', 'c', 'd']);
    }
}

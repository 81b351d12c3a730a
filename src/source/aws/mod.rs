//! The live source: GetApis (discovery) or GetApi (explicit ids), then per
//! API GetRoutes and, as the rules need them ([`Needs`]), GetAuthorizers,
//! GetIntegrations and GetStages, each with full pagination, for every
//! configured target, through one limiter per account and region.
//!
//! - [`client`]: one SDK client per target, and the limiters they share;
//! - [`dns`]: host names resolved without the C library (Linux);
//! - [`organizations`]: `[[organizations]]` expanded into targets, per cycle;
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
#[cfg(target_os = "linux")]
mod dns;
pub mod limiter;
mod organizations;
mod paginate;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_config::ConfigLoader;
use aws_sdk_apigatewayv2::config::http::HttpResponse;
use aws_sdk_apigatewayv2::error::{ProvideErrorMetadata, SdkError};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use routewarden_core::config::Config;
use routewarden_core::diag::LoadError;
use routewarden_core::inventory::{
    AccessLogSettings, Api, Authorizer, Integration, JwtConfiguration, Line, Needs,
    ParameterConstraints, Route, RouteSettings, Stage, TlsConfig,
};
use tokio::time::Instant;

pub use self::client::SetupError;
use self::client::{Clients, TargetClient};
use self::discover::ApiRef;
use self::limiter::Limiter;
use self::organizations::Org;
use self::paginate::Bounds;
use super::{ErrorKind, Event, FetchError, Item, Observer, Operation, RequestOutcome, Source};
use crate::shard::Shard;

/// Attempts for a request that keeps being throttled, before its API fails.
const MAX_THROTTLED_ATTEMPTS: u32 = 10;
/// Attempts for 5xx, timeouts and transport errors.
const MAX_FAILED_ATTEMPTS: u32 = 3;

/// The live source.
pub struct AwsSource {
    clients: Clients,
    /// The hand-written targets this shard owns.
    targets: Vec<Arc<TargetClient>>,
    /// Organizations, expanded into targets every cycle.
    organizations: Vec<Org>,
    /// This replica's shard: generated targets are cut to it as they appear.
    shard: Shard,
    /// Which of GetAuthorizers, GetIntegrations and GetStages to call.
    needs: Needs,
    concurrency: usize,
    page_size: u32,
    max_backoff: Duration,
    max_routes_per_api: usize,
    api_time_budget: Duration,
}

/// One page of a listing as the SDK gives it: its items, and the next token.
type Page<T> = (Option<Vec<T>>, Option<String>);

/// Who makes a request: the name its events carry (a target, an
/// organization) and the limiter it waits on.
#[derive(Clone, Copy)]
struct Caller<'a> {
    name: &'a str,
    limiter: &'a Limiter,
}

impl TargetClient {
    fn caller(&self) -> Caller<'_> {
        Caller {
            name: &self.name,
            limiter: &self.limiter,
        }
    }
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
        shard: Shard,
    ) -> Result<AwsSource, SetupError> {
        AwsSource::with_loader(config, endpoint_url, needs, shard, |loader| loader).await
    }

    /// [`AwsSource::new`], with `customize` applied to each region's SDK
    /// loader after routewarden's settings: another HTTP client or
    /// credentials provider (the fuzz target feeds responses this way).
    pub async fn with_loader(
        config: &Config,
        endpoint_url: Option<&str>,
        needs: Needs,
        shard: Shard,
        customize: impl Fn(ConfigLoader) -> ConfigLoader + Send + Sync + 'static,
    ) -> Result<AwsSource, SetupError> {
        let clients = Clients::new(config, endpoint_url, Arc::new(customize))?;
        let mut mine = config.clone();
        mine.targets.retain(|t| shard.owns(&t.name));
        if shard != Shard::default() {
            tracing::info!(shard = %shard, targets = mine.targets.len(), of = config.targets.len(), "hand-written targets of this shard");
        }
        let targets = clients.targets(&mine).await?;
        let organizations = config
            .organizations
            .iter()
            .map(|org| Org::new(config, org, &clients))
            .collect();
        Ok(AwsSource {
            needs,
            clients,
            targets,
            organizations,
            shard,
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
    async fn discover_all(
        &self,
        targets: &[Arc<TargetClient>],
        observer: &dyn Observer,
    ) -> (Vec<ApiRef>, Vec<FetchError>) {
        let discovered: Vec<(Vec<ApiRef>, Vec<FetchError>)> =
            futures_util::stream::iter(targets.to_vec())
                .map(|t| async move {
                    let discovery = discover::discover(self, &t, observer);
                    match tokio::time::timeout(self.api_time_budget, discovery).await {
                        Ok(found) => found,
                        Err(_) => (
                            Vec::new(),
                            vec![self.error(&t, None, Operation::GetApis, self.over_budget())],
                        ),
                    }
                })
                .buffered(self.concurrency)
                .collect()
                .await;
        let mut refs: Vec<ApiRef> = Vec::new();
        let mut errors = Vec::new();
        let mut owner: HashMap<(String, Arc<str>, Arc<str>), Arc<str>> = HashMap::new();
        for (mut found, failed) in discovered {
            found.sort_by(|a, b| a.api.api_id.cmp(&b.api.api_id));
            for api in found {
                let t = &api.target;
                let key = (t.account.clone(), t.region.clone(), api.api.api_id.clone());
                match owner.get(&key) {
                    Some(first) => tracing::warn!(
                        api_id = %api.api.api_id,
                        first = %first,
                        also = %t.name,
                        "targets overlap: the API is audited under the first only"
                    ),
                    None => {
                        owner.insert(key, t.name.clone());
                        refs.push(api);
                    }
                }
            }
            errors.extend(failed);
        }
        (refs, errors)
    }

    /// One API: its routes, then the parts the rules need (authorizers,
    /// integrations, stages, in that order, one call after the other), all
    /// within the API's own time budget: one that never ends (pages,
    /// throttling, hangs) gives up its own budget, never the cycle's. The
    /// first call that fails makes the whole API unread, named with that
    /// call's operation; the other APIs go on.
    async fn read_api(&self, found: ApiRef, observer: &dyn Observer) -> Item {
        let deadline = Instant::now() + self.api_time_budget;
        let mut api = found.api;
        let t = &found.target;
        let read = self.read_parts(t, &mut api, deadline, observer).await;
        observer.on(Event::Done);
        match read {
            Ok(()) => {
                api.target_name = Some(t.name.clone());
                api.region = Some(t.region.clone());
                api.account = t.context.clone();
                api.origin = t.origin.clone();
                Item::Api(Box::new(api))
            }
            Err((operation, failure)) => {
                Item::Failed(self.error(t, Some(&api.api_id), operation, failure))
            }
        }
    }

    /// GetRoutes, then GetAuthorizers, GetIntegrations and GetStages as
    /// `needs` says, every page of each, into `api`.
    async fn read_parts(
        &self,
        t: &TargetClient,
        api: &mut Api,
        deadline: Instant,
        observer: &dyn Observer,
    ) -> Result<(), (Operation, Failure)> {
        let id = api.api_id.clone();
        let page_size = self.page_size.to_string();
        // Every page of one listing of this API, each item converted.
        macro_rules! read {
            ($operation:ident, $noun:literal, $get:ident, $convert:ident, $missing:literal) => {{
                let operation = Operation::$operation;
                let send = |token| {
                    let get = t.client.$get().api_id(&*id).max_results(&page_size);
                    get.set_next_token(token).send()
                };
                let listed = self.list(t, operation, $noun, deadline, observer, send, |page| {
                    (page.items, page.next_token)
                });
                converted(listed.await, operation, $convert, $missing)
            }};
        }
        api.routes = read!(
            GetRoutes,
            "routes",
            get_routes,
            convert,
            "a route without a RouteKey"
        )?;
        if self.needs.authorizers {
            api.authorizers = Some(read!(
                GetAuthorizers,
                "authorizers",
                get_authorizers,
                authorizer,
                "an authorizer without an AuthorizerId"
            )?);
        }
        if self.needs.integrations {
            api.integrations = Some(read!(
                GetIntegrations,
                "integrations",
                get_integrations,
                integration,
                "an integration without an IntegrationId"
            )?);
        }
        if self.needs.stages {
            api.stages = Some(read!(
                GetStages,
                "stages",
                get_stages,
                stage,
                "a stage without a StageName"
            )?);
        }
        Ok(())
    }

    /// Every item of one paginated listing of an API (GetRoutes,
    /// GetAuthorizers, GetIntegrations, GetStages): every page through
    /// [`AwsSource::call`], bounded by `max_routes_per_api` items (an API
    /// holds fewer authorizers, integrations and stages than routes) and by
    /// the API's `deadline`. `send(token)` sends one page's request; `split`
    /// takes its items and next token from the answer.
    #[allow(clippy::too_many_arguments)]
    async fn list<T, O, E, F, Fut>(
        &self,
        t: &TargetClient,
        operation: Operation,
        noun: &'static str,
        deadline: Instant,
        observer: &dyn Observer,
        send: F,
        split: fn(O) -> Page<T>,
    ) -> Result<Vec<T>, Failure>
    where
        F: Fn(Option<String>) -> Fut,
        Fut: Future<Output = Result<O, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let bounds = Bounds {
            items: self.max_routes_per_api,
            noun,
            setting: "max_routes_per_api",
            page_size: self.page_size,
        };
        let send = &send;
        let pages = paginate::all(bounds, |token| async move {
            let page = self
                .call(t.caller(), operation, observer, || send(token.clone()))
                .await?;
            let (items, next) = split(page);
            Ok((items.unwrap_or_default(), next))
        });
        tokio::time::timeout_at(deadline, pages)
            .await
            .unwrap_or_else(|_| Err(self.over_budget()))
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
        t: &TargetClient,
        api_id: Option<&str>,
        operation: Operation,
        failure: Failure,
    ) -> FetchError {
        FetchError {
            target_name: Some(t.name.clone()),
            region: Some(t.region.clone()),
            api_id: api_id.map(Into::into),
            account_id: t.context.as_ref().map(|a| a.id.clone()),
            organization: t.context.as_ref().and_then(|a| a.organization.clone()),
            operation,
            kind: failure.kind,
            message: failure.message,
        }
    }

    /// One request with routewarden's retries: every attempt waits on the
    /// limiter; the outcome of each, and every wait, goes to the observer.
    async fn call<T, E, F, Fut>(
        &self,
        who: Caller<'_>,
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
        let target = who.name;
        loop {
            let waited = who.limiter.acquire().await;
            observer.on(Event::Waited {
                target,
                rate_limit: waited.rate_limit,
                backoff: waited.backoff,
            });
            let sent = Instant::now();
            let err = match send().await {
                Ok(output) => {
                    who.limiter.on_success();
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
                    let cooldown = who.limiter.on_throttle(sent, err.retry_after);
                    tracing::debug!(target_name = %who.name, operation = operation.label(), attempt = throttled, cooldown_ms = cooldown.as_millis() as u64, "throttled");
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
                    tracing::debug!(target_name = %who.name, operation = operation.label(), attempt = failed, delay_ms = delay.as_millis() as u64, error = %err.message, "retrying");
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

impl AwsSource {
    /// This cycle's targets: the hand-written ones, then each organization's
    /// (listed again when its list is older than `refresh`), with the
    /// organizations' rosters and what could not be prepared (a listing, a
    /// member role).
    async fn targets(
        &self,
        observer: &dyn Observer,
    ) -> (Vec<Arc<TargetClient>>, Vec<super::Roster>, Vec<FetchError>) {
        let mut targets = self.targets.clone();
        let mut rosters = Vec::new();
        let mut errors = Vec::new();
        for org in &self.organizations {
            let cycle = org.cycle(self, self.shard, observer).await;
            targets.extend(cycle.targets);
            rosters.extend(cycle.roster);
            errors.extend(cycle.errors);
            tracing::debug!(organization = org.name(), "organization prepared");
        }
        (targets, rosters, errors)
    }
}

impl Source for AwsSource {
    /// Discovery first (every target), then the routes of every API, with at
    /// most `audit.concurrency` APIs in flight across all targets. APIs are
    /// yielded in discovery order as soon as they and those before them are
    /// read: a slow API holds back what is yielded, never what is read.
    fn read<'a>(&'a self, observer: &'a dyn Observer) -> BoxStream<'a, Result<Item, LoadError>> {
        let discovery = async move {
            let (targets, rosters, mut errors) = self.targets(observer).await;
            let (refs, failed) = self.discover_all(&targets, observer).await;
            errors.extend(failed);
            (rosters, refs, errors)
        };
        futures_util::stream::once(discovery)
            .flat_map(move |(rosters, refs, errors)| {
                observer.on(Event::Found { apis: refs.len() });
                let failed = futures_util::stream::iter(rosters)
                    .map(Item::Roster)
                    .chain(futures_util::stream::iter(errors).map(Item::Failed));
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

/// Every item of a listing converted, or the API's failure: an item without
/// its identifier (`missing` says which) is a malformed response.
fn converted<T, U>(
    listed: Result<Vec<T>, Failure>,
    operation: Operation,
    convert: fn(T) -> Option<U>,
    missing: &str,
) -> Result<Vec<U>, (Operation, Failure)> {
    let malformed = || Failure {
        kind: ErrorKind::MalformedResponse,
        message: format!("{} returned {missing}", operation.label()),
    };
    listed
        .and_then(|items| {
            items
                .into_iter()
                .map(|item| convert(item).ok_or_else(malformed))
                .collect()
        })
        .map_err(|failure| (operation, failure))
}

/// An SDK authorizer as the inventory holds it; `None` without an id.
fn authorizer(a: aws_sdk_apigatewayv2::types::Authorizer) -> Option<Authorizer> {
    Some(Authorizer {
        line: Line::default(),
        authorizer_id: a.authorizer_id?,
        name: a.name,
        authorizer_type: a.authorizer_type.map(|t| t.as_str().to_owned()),
        identity_source: a.identity_source,
        jwt_configuration: a.jwt_configuration.map(|jwt| JwtConfiguration {
            audience: jwt.audience,
            issuer: jwt.issuer,
        }),
        authorizer_uri: a.authorizer_uri,
        authorizer_credentials_arn: a.authorizer_credentials_arn,
        authorizer_payload_format_version: a.authorizer_payload_format_version,
        identity_validation_expression: a.identity_validation_expression,
        authorizer_result_ttl_in_seconds: a.authorizer_result_ttl_in_seconds.map(i64::from),
        enable_simple_responses: a.enable_simple_responses,
    })
}

/// An SDK integration as the inventory holds it; `None` without an id.
fn integration(i: aws_sdk_apigatewayv2::types::Integration) -> Option<Integration> {
    Some(Integration {
        line: Line::default(),
        integration_id: i.integration_id?,
        integration_type: i.integration_type.map(|t| t.as_str().to_owned()),
        connection_type: i.connection_type.map(|t| t.as_str().to_owned()),
        integration_uri: i.integration_uri,
        integration_method: i.integration_method,
        connection_id: i.connection_id,
        credentials_arn: i.credentials_arn,
        payload_format_version: i.payload_format_version,
        integration_subtype: i.integration_subtype,
        tls_config: i.tls_config.map(|tls| TlsConfig {
            server_name_to_verify: tls.server_name_to_verify,
        }),
        timeout_in_millis: i.timeout_in_millis.map(i64::from),
        request_parameters: i.request_parameters.map(|p| p.into_iter().collect()),
    })
}

/// An SDK stage as the inventory holds it; `None` without a name.
fn stage(s: aws_sdk_apigatewayv2::types::Stage) -> Option<Stage> {
    Some(Stage {
        line: Line::default(),
        stage_name: s.stage_name?,
        deployment_id: s.deployment_id,
        client_certificate_id: s.client_certificate_id,
        description: s.description,
        auto_deploy: s.auto_deploy,
        api_gateway_managed: s.api_gateway_managed,
        access_log_settings: s.access_log_settings.map(|log| AccessLogSettings {
            destination_arn: log.destination_arn,
            format: log.format,
        }),
        default_route_settings: s.default_route_settings.map(|r| RouteSettings {
            throttling_rate_limit: r.throttling_rate_limit,
            throttling_burst_limit: r.throttling_burst_limit.map(i64::from),
            logging_level: r.logging_level.map(|l| l.as_str().to_owned()),
            detailed_metrics_enabled: r.detailed_metrics_enabled,
            data_trace_enabled: r.data_trace_enabled,
        }),
        tags: s.tags.map(|t| t.into_iter().collect()),
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

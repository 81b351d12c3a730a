//! Client setup: one SDK client per target (credentials from the standard
//! chain or an assumed role, the target's region, the endpoint override, SDK
//! retries off, the per-request timeout), and one limiter per account and
//! region, shared by every target that uses it: hand-written targets and the
//! targets organizations generate alike.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, Region, SdkConfig};
use aws_sdk_apigatewayv2::Client;
use aws_sdk_apigatewayv2::config::SharedCredentialsProvider;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use routewarden_core::config::{Aws, Config, Target};
use routewarden_core::inventory::{Account, Location, Origin};

use super::bounded::BodyLimit;
use super::limiter::Limiter;

/// Session name of assumed roles, visible in the account's CloudTrail.
pub(super) const SESSION_NAME: &str = "routewarden";

/// Changes each region's SDK loader after routewarden's settings (another
/// HTTP client or credentials provider: the fuzz target).
pub(super) type Customize = Arc<dyn Fn(ConfigLoader) -> ConfigLoader + Send + Sync>;

/// Why the source could not be set up (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("target `{target}` has no region: set `region` for it, `[aws] region`, or AWS_REGION")]
    NoRegion { target: String },
    #[error("invalid AWS_ENDPOINT_URL: {0}")]
    Endpoint(String),
}

/// One target with its client and the limiter of its account and region.
pub(super) struct TargetClient {
    pub(super) target: Target,
    /// The limiter's account part: the account id where it is known, else
    /// `default` (the default credentials' account). APIs of one account
    /// and region are one set, whichever targets discover them.
    pub(super) account: String,
    /// The account as policies and reports see it, where it is known.
    pub(super) context: Option<Arc<Account>>,
    /// The config's `[[targets]]` (or `[[organizations]]`) entry, where
    /// findings of its APIs point.
    pub(super) origin: Origin,
    pub(super) name: Arc<str>,
    pub(super) region: Arc<str>,
    pub(super) client: Client,
    pub(super) limiter: Arc<Limiter>,
}

impl std::fmt::Debug for TargetClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TargetClient")
            .field("name", &self.name)
            .field("region", &self.region)
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

/// What every client is built from: the SDK's base config per region (the
/// default credential chain), the limiters by account and region, and the
/// settings of `[aws]`. Organizations build their targets' clients from it
/// at run time, so one account's budget is shared with hand-written targets
/// of the same account.
pub(super) struct Clients {
    endpoint: Option<String>,
    timeouts: TimeoutConfig,
    aws: Aws,
    customize: Customize,
    /// One HTTP client (TLS configuration, connection pool) for every
    /// target: an SDK client without one builds its own, which for an
    /// organization of a thousand targets is a thousand TLS configurations
    /// and pools.
    http: SharedHttpClient,
    /// Base configs by region (`None`: the environment's region).
    bases: tokio::sync::Mutex<HashMap<Option<String>, SdkConfig>>,
    limiters: Mutex<HashMap<(String, String), Arc<Limiter>>>,
}

impl Clients {
    pub(super) fn new(
        config: &Config,
        endpoint_url: Option<&str>,
        customize: Customize,
    ) -> Result<Clients, SetupError> {
        let endpoint = endpoint_url
            .map(str::to_owned)
            .or_else(|| config.aws.endpoint_url.clone());
        // The SDK reads AWS_ENDPOINT_URL itself: hold it to the same rules.
        if endpoint.is_none()
            && let Some(url) = std::env::var_os("AWS_ENDPOINT_URL")
        {
            routewarden_core::config::endpoint_url(&url.to_string_lossy())
                .map_err(SetupError::Endpoint)?;
        }
        let timeouts = TimeoutConfig::builder()
            .operation_attempt_timeout(config.aws.timeout)
            .connect_timeout(config.aws.timeout)
            .build();
        Ok(Clients {
            endpoint,
            timeouts,
            aws: config.aws.clone(),
            customize,
            http: https_client(),
            bases: tokio::sync::Mutex::new(HashMap::new()),
            limiters: Mutex::new(HashMap::new()),
        })
    }

    /// The base SDK config of a region (`None`: the environment's), with
    /// the default credential chain. Loaded once per region.
    pub(super) async fn base(&self, region: Option<&str>) -> SdkConfig {
        let key = region.map(str::to_owned);
        let mut bases = self.bases.lock().await;
        if let Some(base) = bases.get(&key) {
            return base.clone();
        }
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(RetryConfig::disabled())
            .timeout_config(self.timeouts.clone())
            .http_client(self.http.clone());
        if let Some(region) = region {
            loader = loader.region(Region::new(region.to_owned()));
        }
        if let Some(url) = &self.endpoint {
            loader = loader.endpoint_url(url.clone());
        }
        let base = (self.customize)(loader).load().await;
        bases.insert(key, base.clone());
        base
    }

    /// The limiter of an account and region, shared by all its targets.
    pub(super) fn limiter(&self, account: &str, region: &str) -> Arc<Limiter> {
        let mut limiters = self.limiters.lock().unwrap_or_else(|e| e.into_inner());
        limiters
            .entry((account.to_owned(), region.to_owned()))
            .or_insert_with(|| {
                Arc::new(Limiter::new(
                    format!("{account}/{region}"),
                    self.aws.requests_per_second,
                    self.aws.burst,
                    self.aws.max_backoff,
                ))
            })
            .clone()
    }

    /// An ApiGatewayV2 client of `base` with `credentials` (or the base's)
    /// in `region`.
    pub(super) fn api_client(
        &self,
        base: &SdkConfig,
        region: &str,
        credentials: Option<SharedCredentialsProvider>,
    ) -> Client {
        let mut builder = base.to_builder().region(Region::new(region.to_owned()));
        if let Some(credentials) = credentials {
            builder = builder.credentials_provider(credentials);
        }
        let sdk_config = builder.build();
        Client::from_conf(
            aws_sdk_apigatewayv2::config::Builder::from(&sdk_config)
                .interceptor(BodyLimit(self.aws.max_response_bytes))
                .build(),
        )
    }

    /// A client for every hand-written target of the config, in config order.
    pub(super) async fn targets(
        &self,
        config: &Config,
    ) -> Result<Vec<Arc<TargetClient>>, SetupError> {
        let mut targets = Vec::with_capacity(config.targets.len());
        for target in &config.targets {
            let region = target.region.clone().or_else(|| config.aws.region.clone());
            let base = self.base(region.as_deref()).await;
            let Some(region) = base.region().map(|r| r.as_ref().to_owned()) else {
                return Err(SetupError::NoRegion {
                    target: target.name.clone(),
                });
            };
            let credentials = match &target.role_arn {
                Some(role_arn) => {
                    let mut builder = aws_config::sts::AssumeRoleProvider::builder(role_arn)
                        .session_name(SESSION_NAME)
                        .region(Region::new(region.clone()))
                        .configure(&base);
                    if let Some(external_id) = &target.external_id {
                        builder = builder.external_id(external_id);
                    }
                    Some(SharedCredentialsProvider::new(builder.build().await))
                }
                None => None,
            };
            let account = account_of(target.role_arn.as_deref());
            let context = account.map(|id| {
                Arc::new(Account {
                    id: id.into(),
                    ..Account::default()
                })
            });
            let account = account.unwrap_or("default").to_owned();
            targets.push(Arc::new(TargetClient {
                target: target.clone(),
                limiter: self.limiter(&account, &region),
                account,
                context,
                origin: origin(config, target.line),
                name: target.name.as_str().into(),
                client: self.api_client(&base, &region, credentials),
                region: region.as_str().into(),
            }));
        }
        Ok(targets)
    }
}

/// The SDK's default HTTPS client (rustls with aws-lc, the proxy from the
/// environment), built once, as `aws-smithy-runtime` builds it for each
/// client that has none; on Linux it resolves host names itself
/// ([`super::dns`]), not through the C library.
fn https_client() -> SharedHttpClient {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
    use aws_smithy_http_client::{Builder, ConnectorBuilder};
    #[cfg(target_os = "linux")]
    let resolver = super::dns::Resolver::system();
    Builder::new().build_with_connector_fn(move |settings, components| {
        let mut connector =
            ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        #[cfg(target_os = "linux")]
        let connector = connector.build_with_resolver(resolver.clone());
        #[cfg(not(target_os = "linux"))]
        let connector = connector.build();
        connector
    })
}

/// Where findings of a config entry's APIs point: the config file at `line`.
pub(super) fn origin(config: &Config, line: u32) -> Origin {
    Origin(config.path.as_deref().map(|path| {
        Arc::new(Location {
            path: routewarden_core::diag::display_path(path).into(),
            line,
            column: None,
        })
    }))
}

/// The account of a role ARN; `None` without one (the default credentials).
fn account_of(role_arn: Option<&str>) -> Option<&str> {
    role_arn.and_then(|arn| arn.split(':').nth(4))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use routewarden_core::config::Config;

    use super::Clients;

    /// Two targets of one account and region share one budget, whatever
    /// block they come from; different accounts, or regions, never do.
    #[tokio::test]
    async fn one_budget_per_account_and_region() {
        let config = Config::load_str(
            "routewarden.toml",
            r#"
[aws]
endpoint_url = "http://127.0.0.1:9"
[[targets]]
name = "a"
region = "eu-west-1"
role_arn = "arn:aws:iam::111111111111:role/one"
[[targets]]
name = "b"
region = "eu-west-1"
role_arn = "arn:aws:iam::111111111111:role/other"
[[targets]]
name = "c"
region = "eu-west-1"
role_arn = "arn:aws:iam::222222222222:role/one"
[[targets]]
name = "d"
region = "us-east-1"
role_arn = "arn:aws:iam::111111111111:role/one"
"#,
        )
        .unwrap();
        let clients = Clients::new(&config, None, Arc::new(|loader| loader)).unwrap();
        let t = clients.targets(&config).await.unwrap();
        assert!(Arc::ptr_eq(&t[0].limiter, &t[1].limiter), "one account");
        assert!(!Arc::ptr_eq(&t[0].limiter, &t[2].limiter), "two accounts");
        assert!(!Arc::ptr_eq(&t[0].limiter, &t[3].limiter), "two regions");
        // An organization's target of the same account and region: the same.
        assert!(Arc::ptr_eq(
            &t[0].limiter,
            &clients.limiter("111111111111", "eu-west-1")
        ));
        assert_eq!(t[2].context.as_ref().unwrap().id.as_ref(), "222222222222");
    }

    #[test]
    fn accounts_come_from_role_arns() {
        assert_eq!(
            super::account_of(Some("arn:aws:iam::123456789012:role/x")),
            Some("123456789012")
        );
        assert_eq!(super::account_of(None), None);
    }
}

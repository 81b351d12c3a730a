//! Client setup: one SDK client per target (credentials from the standard
//! chain or an assumed role, the target's region, the endpoint override, SDK
//! retries off, the per-request timeout), and one limiter per account and
//! region, shared by the targets that use it.

use std::collections::HashMap;
use std::sync::Arc;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, ConfigLoader, Region, SdkConfig};
use aws_sdk_apigatewayv2::Client;
use aws_sdk_apigatewayv2::config::SharedCredentialsProvider;
use routewarden_core::config::{Config, Target};
use routewarden_core::inventory::{Location, Origin};

use super::bounded::BodyLimit;
use super::limiter::Limiter;

/// Session name of assumed roles, visible in the account's CloudTrail.
const SESSION_NAME: &str = "routewarden";

/// Why the source could not be set up (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("target `{target}` has no region: set `region` for it, `[aws] region`, or AWS_REGION")]
    NoRegion { target: String },
    #[error("invalid AWS_ENDPOINT_URL: {0}")]
    Endpoint(String),
}

/// One configured target with its client and the limiter of its account.
pub(super) struct TargetClient {
    pub(super) target: Target,
    /// The limiter's account part: APIs of one account and region are one
    /// set, whichever targets discover them.
    pub(super) account: String,
    /// The config's `[[targets]]` entry, where findings of its APIs point.
    pub(super) origin: Origin,
    pub(super) name: Arc<str>,
    pub(super) region: Arc<str>,
    pub(super) client: Client,
    pub(super) limiter: Arc<Limiter>,
}

/// A client for every target of the config, in config order.
pub(super) async fn targets(
    config: &Config,
    endpoint_url: Option<&str>,
    customize: impl Fn(ConfigLoader) -> ConfigLoader,
) -> Result<Vec<TargetClient>, SetupError> {
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
    let mut base_configs: HashMap<Option<String>, SdkConfig> = HashMap::new();
    let mut limiters: HashMap<(String, String), Arc<Limiter>> = HashMap::new();
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
        let origin = Origin(config.path.as_deref().map(|path| {
            Arc::new(Location {
                path: routewarden_core::diag::display_path(path).into(),
                line: target.line,
                column: None,
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
        });
    }
    Ok(targets)
}

/// The limiter key's account part: the role's account, or the default credentials.
fn account_key(role_arn: Option<&str>) -> String {
    role_arn
        .and_then(|arn| arn.split(':').nth(4))
        .map_or_else(|| "default".to_owned(), str::to_owned)
}

#[cfg(test)]
mod tests {
    #[test]
    fn accounts_come_from_role_arns() {
        assert_eq!(
            super::account_key(Some("arn:aws:iam::123456789012:role/x")),
            "123456789012"
        );
        assert_eq!(super::account_key(None), "default");
    }
}

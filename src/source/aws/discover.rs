//! Which APIs a target has: its `api_ids` (GetApi each; one that fails does
//! not stop the others), or every API GetApis lists, filtered by the target's
//! `discover` (name regex, protocol, tags).

use aws_sdk_apigatewayv2::types::Cors as SdkCors;
use routewarden_core::config::Discover;
use routewarden_core::inventory::{Api, Cors};

use std::sync::Arc;

use super::client::TargetClient;
use super::paginate::{self, Bounds};
use super::{AwsSource, Failure};
use crate::source::{ErrorKind, FetchError, Observer, Operation};

/// APIs one target's discovery may list: AWS's own quota is 600 per account
/// and region.
const MAX_APIS_PER_TARGET: usize = 100_000;

/// An API found by discovery, before its routes are read: its id, name,
/// protocol, tags and settings as GetApis (or GetApi) returned them.
#[derive(Debug, Clone)]
pub(super) struct ApiRef {
    /// Its target.
    pub(super) target: Arc<TargetClient>,
    pub(super) api: Api,
}

/// The API as GetApi and GetApis describe it (two SDK types with the same
/// fields): what the inventory keeps of it, routes and parts not yet read.
macro_rules! api_of {
    ($api:ident, $api_id:expr) => {
        Api {
            api_id: $api_id.into(),
            name: $api.name.map(Into::into),
            protocol_type: $api.protocol_type.map(|p| p.as_str().into()),
            tags: $api.tags.map(|t| t.into_iter().collect()),
            api_endpoint: $api.api_endpoint,
            disable_execute_api_endpoint: $api.disable_execute_api_endpoint,
            ip_address_type: $api.ip_address_type.map(|t| t.as_str().to_owned()),
            api_key_selection_expression: $api.api_key_selection_expression,
            route_selection_expression: $api.route_selection_expression,
            description: $api.description,
            version: $api.version,
            cors_configuration: $api.cors_configuration.map(cors),
            ..Api::default()
        }
    };
}

/// `Api.CorsConfiguration` as the inventory holds it.
fn cors(cors: SdkCors) -> Cors {
    Cors {
        allow_credentials: cors.allow_credentials,
        allow_headers: cors.allow_headers,
        allow_methods: cors.allow_methods,
        allow_origins: cors.allow_origins,
        expose_headers: cors.expose_headers,
        max_age: cors.max_age.map(i64::from),
    }
}

/// The APIs of the target at `index`, and the errors of what could not be read.
pub(super) async fn discover(
    source: &AwsSource,
    t: &Arc<TargetClient>,
    observer: &dyn Observer,
) -> (Vec<ApiRef>, Vec<FetchError>) {
    let Some(ids) = &t.target.api_ids else {
        return match list_apis(source, t, observer).await {
            Ok(refs) => (refs, Vec::new()),
            Err(failure) => (
                Vec::new(),
                vec![source.error(t, None, Operation::GetApis, failure)],
            ),
        };
    };
    let mut refs = Vec::with_capacity(ids.len());
    let mut errors = Vec::new();
    for id in ids {
        let got = source
            .call(t.caller(), Operation::GetApi, observer, || {
                t.client.get_api().api_id(id).send()
            })
            .await;
        match got {
            Ok(mut api) => {
                let api_id = api.api_id.take().unwrap_or_else(|| id.clone());
                refs.push(ApiRef {
                    target: t.clone(),
                    api: api_of!(api, api_id),
                });
            }
            Err(mut failure) => {
                if failure.kind == ErrorKind::NotFound {
                    failure.message = format!(
                        "API `{id}` does not exist in {}: {}",
                        t.region, failure.message
                    );
                }
                errors.push(source.error(t, Some(id), Operation::GetApi, failure));
            }
        }
    }
    (refs, errors)
}

/// GetApis, every page, filtered by the target's `discover`.
async fn list_apis(
    source: &AwsSource,
    t: &Arc<TargetClient>,
    observer: &dyn Observer,
) -> Result<Vec<ApiRef>, Failure> {
    let bounds = Bounds {
        items: MAX_APIS_PER_TARGET,
        noun: "APIs",
        setting: "a target's limit",
        page_size: source.page_size,
    };
    let apis = paginate::all(bounds, |token| async move {
        let page = source
            .call(t.caller(), Operation::GetApis, observer, || {
                t.client
                    .get_apis()
                    .max_results(source.page_size.to_string())
                    .set_next_token(token.clone())
                    .send()
            })
            .await?;
        Ok((page.items.unwrap_or_default(), page.next_token))
    })
    .await?;
    Ok(apis
        .into_iter()
        .filter_map(|mut api| {
            let api_id = api.api_id.take()?;
            Some(ApiRef {
                target: t.clone(),
                api: api_of!(api, api_id),
            })
        })
        .filter(|found| matches(&t.target.discover, &found.api))
        .collect())
}

/// Whether a discovered API passes the target's filters.
fn matches(discover: &Discover, api: &Api) -> bool {
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn discovery_filters_by_name_protocol_and_tags() {
        let discover = Discover {
            name_matches: Some(regex::Regex::new("^prod-").unwrap()),
            protocol_type: Some("HTTP".into()),
            tags: BTreeMap::from([("env".into(), "prod".into())]),
        };
        let api = |name: &str, protocol: &str, env: Option<&str>| Api {
            api_id: "a".into(),
            name: Some(name.into()),
            protocol_type: Some(protocol.into()),
            tags: env.map(|e| BTreeMap::from([("env".to_owned(), e.to_owned())])),
            ..Api::default()
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

//! Which APIs a target has: its `api_ids` (GetApi each; one that fails does
//! not stop the others), or every API GetApis lists, filtered by the target's
//! `discover` (name regex, protocol, tags).

use std::collections::BTreeMap;

use routewarden_core::config::Discover;

use super::paginate::{self, Bounds};
use super::{AwsSource, Failure};
use crate::source::{ErrorKind, FetchError, Observer, Operation};

/// APIs one target's discovery may list: AWS's own quota is 600 per account
/// and region.
const MAX_APIS_PER_TARGET: usize = 100_000;

/// An API found by discovery, before its routes are read.
#[derive(Debug, Clone)]
pub(super) struct ApiRef {
    /// The index of its target.
    pub(super) target: usize,
    pub(super) api_id: String,
    pub(super) name: Option<String>,
    pub(super) protocol_type: Option<String>,
    pub(super) tags: Option<BTreeMap<String, String>>,
}

/// The APIs of the target at `index`, and the errors of what could not be read.
pub(super) async fn discover(
    source: &AwsSource,
    index: usize,
    observer: &dyn Observer,
) -> (Vec<ApiRef>, Vec<FetchError>) {
    let t = &source.targets[index];
    let Some(ids) = &t.target.api_ids else {
        return match list_apis(source, index, observer).await {
            Ok(refs) => (refs, Vec::new()),
            Err(failure) => (
                Vec::new(),
                vec![source.error(index, None, Operation::GetApis, failure)],
            ),
        };
    };
    let mut refs = Vec::with_capacity(ids.len());
    let mut errors = Vec::new();
    for id in ids {
        let got = source
            .call(t, Operation::GetApi, observer, || {
                t.client.get_api().api_id(id).send()
            })
            .await;
        match got {
            Ok(api) => refs.push(ApiRef {
                target: index,
                api_id: api.api_id.unwrap_or_else(|| id.clone()),
                name: api.name,
                protocol_type: api.protocol_type.map(|p| p.as_str().to_owned()),
                tags: api.tags.map(|t| t.into_iter().collect()),
            }),
            Err(mut failure) => {
                if failure.kind == ErrorKind::NotFound {
                    failure.message = format!(
                        "API `{id}` does not exist in {}: {}",
                        t.region, failure.message
                    );
                }
                errors.push(source.error(index, Some(id), Operation::GetApi, failure));
            }
        }
    }
    (refs, errors)
}

/// GetApis, every page, filtered by the target's `discover`.
async fn list_apis(
    source: &AwsSource,
    index: usize,
    observer: &dyn Observer,
) -> Result<Vec<ApiRef>, Failure> {
    let t = &source.targets[index];
    let bounds = Bounds {
        items: MAX_APIS_PER_TARGET,
        noun: "APIs",
        setting: "a target's limit",
        page_size: source.page_size,
    };
    let apis = paginate::all(bounds, |token| async move {
        let page = source
            .call(t, Operation::GetApis, observer, || {
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
        .filter_map(|api| {
            Some(ApiRef {
                target: index,
                api_id: api.api_id?,
                name: api.name,
                protocol_type: api.protocol_type.map(|p| p.as_str().to_owned()),
                tags: api.tags.map(|t| t.into_iter().collect()),
            })
        })
        .filter(|api| matches(&t.target.discover, api))
        .collect())
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

#[cfg(test)]
mod tests {
    use super::*;

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

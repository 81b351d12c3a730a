//! The route inventory: `Api`, `Route`, and the fleet file.
//!
//! One JSON format is the inventory everywhere: `snapshot` writes it, `--routes`
//! and `--baseline` read it. Field names are the AWS API's, so a route read from
//! GetRoutes and one read from a file are the same value. `--routes` also takes
//! the raw output of `aws apigatewayv2 get-routes` (`{"Items": [...]}`), whose API
//! id is the file's stem. Unknown fields are ignored, because AWS adds fields
//! over time. This module knows nothing about rules or AWS clients.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::diag::{Diagnostics, FileId};

/// A route as GetRoutes returns it. Absent and `null` fields are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Route {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_id: Option<String>,
    pub route_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorizer_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_scopes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_required: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_gateway_managed: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_selection_expression: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_response_selection_expression: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_models: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_parameters: Option<BTreeMap<String, ParameterConstraints>>,
}

/// `RequestParameters` values: `{ "Required": true }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ParameterConstraints {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
}

impl Route {
    /// The authorization type as the policy language reads it: absent is `NONE`.
    pub fn authorization_type(&self) -> &str {
        self.authorization_type.as_deref().unwrap_or("NONE")
    }

    /// `GET` of `GET /pets`; the whole key where it has no space (`$default`).
    pub fn method(&self) -> &str {
        self.route_key
            .split_once(' ')
            .map_or(self.route_key.as_str(), |(method, _)| method)
    }

    /// `/pets` of `GET /pets`; `None` where the key has no space.
    pub fn path(&self) -> Option<&str> {
        self.route_key.split_once(' ').map(|(_, path)| path)
    }
}

/// An API with its context and routes. Context the source could not know (a raw
/// get-routes file has no name or protocol) is `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Api {
    pub api_id: Arc<str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Arc<str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_type: Option<Arc<str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_name: Option<Arc<str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<Arc<str>>,
    #[serde(default)]
    pub routes: Vec<Route>,
}

/// A fleet file: every API that was read, with its routes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Inventory {
    pub apis: Vec<Api>,
}

impl Inventory {
    pub fn route_count(&self) -> usize {
        self.apis.iter().map(|api| api.routes.len()).sum()
    }

    /// Writes the fleet file, pretty-printed, with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("inventory serializes");
        text.push('\n');
        text
    }
}

/// What a `--routes` file may hold: a fleet file or get-routes output.
#[derive(Deserialize)]
struct RoutesDocument {
    #[serde(rename = "Apis")]
    apis: Option<Vec<Api>>,
    #[serde(rename = "Items")]
    items: Option<Vec<Route>>,
}

/// Reads a fleet file or a raw get-routes output; problems go to `diags`.
pub fn load_routes_file(diags: &mut Diagnostics, path: &Path) -> Option<Vec<Api>> {
    let mut apis = Vec::new();
    stream_routes_file(diags, path, |api| apis.push(api))?;
    Some(apis)
}

/// Reads a fleet file or a raw get-routes output, handing each API to `on_api`
/// as soon as it is parsed, so that a caller that needs only what it derives
/// from each API never holds them all (nor the file's text: a 100k-route fleet
/// is 15 MB of JSON). Only when the file does not parse is its text read, to
/// point at the problem; `on_api` may have seen some APIs by then.
pub fn stream_routes_file(
    diags: &mut Diagnostics,
    path: &Path,
    mut on_api: impl FnMut(Api),
) -> Option<()> {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let parsed = std::fs::File::open(path).map(|file| {
        let mut reader = serde_json::Deserializer::from_reader(std::io::BufReader::new(file));
        let shape = serde::Deserializer::deserialize_map(
            &mut reader,
            stream::Document {
                on_api: &mut on_api,
            },
        )?;
        reader.end()?;
        Ok::<_, serde_json::Error>(shape)
    });
    let shape = match parsed {
        Ok(Ok(shape)) => shape,
        // Unreadable, or malformed: read the text for the diagnostics.
        _ => {
            let file = crate::diag::read_file(diags, path)?;
            parse_routes(diags, file, &stem)?;
            return None;
        }
    };
    let document = match shape {
        stream::Shape::Apis => return Some(()),
        stream::Shape::Items(routes) => RoutesDocument {
            apis: None,
            items: Some(routes),
        },
        stream::Shape::Both => RoutesDocument {
            apis: Some(Vec::new()),
            items: Some(Vec::new()),
        },
        stream::Shape::Neither => RoutesDocument {
            apis: None,
            items: None,
        },
    };
    match interpret(document, &stem) {
        Ok(apis) => {
            apis.into_iter().for_each(on_api);
            Some(())
        }
        Err((message, label)) => {
            let file = crate::diag::read_file(diags, path)?;
            diags.push(file, 0..0, message, label);
            None
        }
    }
}

/// serde visitors that hand the `Apis` array's elements over one by one.
mod stream {
    use std::fmt;

    use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

    use super::{Api, Route};

    /// What the document held.
    pub enum Shape {
        /// `Apis`, handed over already.
        Apis,
        Items(Vec<Route>),
        Both,
        Neither,
    }

    pub struct Document<'a, F> {
        pub on_api: &'a mut F,
    }

    impl<'de, F: FnMut(Api)> Visitor<'de> for Document<'_, F> {
        type Value = Shape;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a fleet file or get-routes output (a JSON object)")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
            let (mut apis, mut items) = (false, None);
            while let Some(key) = map.next_key::<String>()? {
                match key.as_str() {
                    "Apis" => {
                        apis |= map.next_value_seed(Apis {
                            on_api: &mut *self.on_api,
                        })?
                    }
                    "Items" => items = map.next_value::<Option<Vec<Route>>>()?,
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            Ok(match (apis, items) {
                (true, None) => Shape::Apis,
                (false, Some(items)) => Shape::Items(items),
                (true, Some(_)) => Shape::Both,
                (false, None) => Shape::Neither,
            })
        }
    }

    /// `Apis`: `null` (absent) or an array; true when it was an array.
    struct Apis<'a, F> {
        on_api: &'a mut F,
    }

    impl<'de, F: FnMut(Api)> DeserializeSeed<'de> for Apis<'_, F> {
        type Value = bool;

        fn deserialize<D: serde::Deserializer<'de>>(
            self,
            deserializer: D,
        ) -> Result<bool, D::Error> {
            deserializer.deserialize_option(self)
        }
    }

    impl<'de, F: FnMut(Api)> Visitor<'de> for Apis<'_, F> {
        type Value = bool;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array of APIs")
        }

        fn visit_none<E>(self) -> Result<bool, E> {
            Ok(false)
        }

        fn visit_some<D: serde::Deserializer<'de>>(
            self,
            deserializer: D,
        ) -> Result<bool, D::Error> {
            deserializer.deserialize_seq(self)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
            while let Some(api) = seq.next_element::<Api>()? {
                (self.on_api)(api);
            }
            Ok(true)
        }
    }
}

/// Parses a registered file; `stem` names the API of get-routes output.
pub fn parse_routes(diags: &mut Diagnostics, file: FileId, stem: &str) -> Option<Vec<Api>> {
    let text = diags.source(file);
    let document: RoutesDocument = match serde_json::from_str(text) {
        Ok(document) => document,
        Err(err) => {
            let offset = offset_of(text, err.line(), err.column());
            let full = err.to_string();
            let message = full
                .rsplit_once(" at line ")
                .map_or(full.as_str(), |(message, _)| message)
                .to_owned();
            diags.push(
                file,
                offset..offset,
                format!("malformed fleet file: {message}"),
                message,
            );
            return None;
        }
    };
    match interpret(document, stem) {
        Ok(apis) => Some(apis),
        Err((message, label)) => {
            diags.push(file, 0..0, message, label);
            None
        }
    }
}

/// The APIs of a parsed document, or what is wrong with it.
fn interpret(
    document: RoutesDocument,
    stem: &str,
) -> Result<Vec<Api>, (&'static str, &'static str)> {
    match (document.apis, document.items) {
        (Some(apis), None) => Ok(apis),
        (None, Some(routes)) => Ok(vec![Api {
            api_id: Arc::from(stem),
            routes,
            ..Api::default()
        }]),
        (Some(_), Some(_)) => Err((
            "malformed fleet file: it has both `Apis` and `Items`",
            "expected a fleet file (`Apis`) or get-routes output (`Items`), not both",
        )),
        (None, None) => Err((
            "malformed fleet file: no `Apis` or `Items` array",
            "expected {\"Apis\": [...]} (a fleet file) or {\"Items\": [...]} (aws apigatewayv2 get-routes output)",
        )),
    }
}

/// Byte offset of a 1-based line and column as serde_json reports them.
fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let mut offset = (line_start + column.saturating_sub(1)).min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<Api>, String> {
        let mut diags = Diagnostics::new();
        let file = diags.add_file("fleet.json", text);
        parse_routes(&mut diags, file, "abc123").ok_or_else(|| {
            diags
                .problems()
                .iter()
                .map(|p| format!("{} {}", diags.position(p), p.message))
                .collect::<Vec<_>>()
                .join("\n")
        })
    }

    #[test]
    fn reads_a_fleet_file_and_ignores_unknown_fields() {
        let apis = parse(
            r#"{"Apis": [{"ApiId": "a1", "Name": "payments", "ProtocolType": "HTTP",
                "Tags": {"env": "prod"}, "TargetName": "t", "Region": "eu-west-1",
                "ApiEndpoint": "https://x", "Routes": [
                  {"RouteId": "r1", "RouteKey": "GET /pets", "AuthorizationType": "JWT",
                   "AuthorizationScopes": ["read"], "RequestParameters": {"route.request.header.x": {"Required": true}},
                   "SomethingNew": 1}]}]}"#,
        )
        .unwrap();
        assert_eq!(apis.len(), 1);
        assert_eq!(&*apis[0].api_id, "a1");
        assert_eq!(apis[0].tags.as_ref().unwrap()["env"], "prod");
        let route = &apis[0].routes[0];
        assert_eq!(
            route.authorization_scopes.as_deref(),
            Some(&["read".to_owned()][..])
        );
        assert_eq!(
            route.request_parameters.as_ref().unwrap()["route.request.header.x"].required,
            Some(true)
        );
    }

    #[test]
    fn reads_get_routes_output_with_nulls_and_names_the_api_by_stem() {
        let apis = parse(r#"{"Items": [{"RouteKey": "$default", "AuthorizerId": null, "AuthorizationScopes": null}], "NextToken": null}"#).unwrap();
        assert_eq!(&*apis[0].api_id, "abc123");
        assert_eq!(apis[0].name, None);
        assert_eq!(apis[0].routes[0].authorizer_id, None);
        assert_eq!(apis[0].routes[0].authorization_type(), "NONE");
    }

    #[test]
    fn malformed_files_name_the_position() {
        let err = parse("{\"Apis\": [\n  {\"ApiId\": \"a\", \"Routes\": [{\"RouteKey\": 7}]}\n]}")
            .unwrap_err();
        assert!(err.starts_with("fleet.json:2:"), "{err}");
        assert!(err.contains("expected a string"), "{err}");
        let err = parse("{\"Apis\": [{\"Routes\": []}]}").unwrap_err();
        assert!(err.contains("missing field `ApiId`"), "{err}");
        assert!(parse("{}").unwrap_err().contains("no `Apis` or `Items`"));
        assert!(
            parse("{\"Apis\": [], \"Items\": []}")
                .unwrap_err()
                .contains("both")
        );
        let err = parse("not json").unwrap_err();
        assert!(
            err.starts_with("fleet.json:1:2 malformed fleet file: expected ident"),
            "{err}"
        );
    }

    #[test]
    fn method_and_path_split_at_the_first_space() {
        let route = |key: &str| Route {
            route_key: key.into(),
            ..Route::default()
        };
        assert_eq!(route("GET /pets/{id}").method(), "GET");
        assert_eq!(route("GET /pets/{id}").path(), Some("/pets/{id}"));
        assert_eq!(route("$connect").method(), "$connect");
        assert_eq!(route("$connect").path(), None);
        assert_eq!(route("ANY /a b").path(), Some("/a b"));
    }

    #[test]
    fn the_fleet_file_round_trips() {
        let text = r#"{"Apis": [{"ApiId": "a1", "Routes": [{"RouteKey": "GET /", "ApiKeyRequired": false}]}]}"#;
        let inventory = Inventory {
            apis: parse(text).unwrap(),
        };
        let again = Inventory {
            apis: parse(&inventory.to_json()).unwrap(),
        };
        assert_eq!(inventory, again);
    }
}

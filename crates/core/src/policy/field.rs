//! The fields a condition can test, their types, and how each is read from a
//! route and its context without allocating.

use std::collections::BTreeMap;

use crate::inventory::{AUTHORIZATION_TYPES, Api, PROTOCOL_TYPES, ParameterConstraints, Route};

/// The type of a field, against which operators are checked at load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    String,
    Bool,
    List,
    Map,
}

impl Type {
    /// "a string", ... for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Type::String => "a string",
            Type::Bool => "a boolean",
            Type::List => "a list of strings",
            Type::Map => "a map",
        }
    }
}

/// A field, resolved at load time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    RouteId,
    RouteKey,
    AuthorizationType,
    AuthorizerId,
    AuthorizationScopes,
    ApiKeyRequired,
    ApiGatewayManaged,
    OperationName,
    Target,
    ModelSelectionExpression,
    RouteResponseSelectionExpression,
    RequestModels,
    RequestParameters,
    Method,
    Path,
    ApiId,
    ApiName,
    ApiProtocolType,
    ApiTag(Box<str>),
    TargetName,
    Region,
}

/// Route and audit-context fields addressed by a plain key (the `api` table is
/// read separately).
pub const ROUTE_FIELDS: &[(&str, Field)] = &[
    ("route_id", Field::RouteId),
    ("route_key", Field::RouteKey),
    ("authorization_type", Field::AuthorizationType),
    ("authorizer_id", Field::AuthorizerId),
    ("authorization_scopes", Field::AuthorizationScopes),
    ("api_key_required", Field::ApiKeyRequired),
    ("api_gateway_managed", Field::ApiGatewayManaged),
    ("operation_name", Field::OperationName),
    ("target", Field::Target),
    (
        "model_selection_expression",
        Field::ModelSelectionExpression,
    ),
    (
        "route_response_selection_expression",
        Field::RouteResponseSelectionExpression,
    ),
    ("request_models", Field::RequestModels),
    ("request_parameters", Field::RequestParameters),
    ("method", Field::Method),
    ("path", Field::Path),
    ("target_name", Field::TargetName),
    ("region", Field::Region),
];

/// Keys of the `api` table; `tags` is a table of tag keys.
pub const API_FIELDS: &[(&str, Field)] = &[
    ("id", Field::ApiId),
    ("name", Field::ApiName),
    ("protocol_type", Field::ApiProtocolType),
];

impl Field {
    pub fn ty(&self) -> Type {
        match self {
            Field::ApiKeyRequired | Field::ApiGatewayManaged => Type::Bool,
            Field::AuthorizationScopes => Type::List,
            Field::RequestModels | Field::RequestParameters => Type::Map,
            _ => Type::String,
        }
    }

    /// The values AWS defines for an enumerated field, spelled as AWS spells
    /// them; `None` for free-form fields.
    pub fn values(&self) -> Option<&'static [&'static str]> {
        match self {
            Field::AuthorizationType => Some(AUTHORIZATION_TYPES),
            Field::ApiProtocolType => Some(PROTOCOL_TYPES),
            _ => None,
        }
    }

    /// The name a user writes, for messages and explanations.
    pub fn name(&self) -> String {
        if let Some((name, _)) = ROUTE_FIELDS.iter().find(|(_, f)| f == self) {
            return (*name).to_owned();
        }
        if let Some((name, _)) = API_FIELDS.iter().find(|(_, f)| f == self) {
            return format!("api.{name}");
        }
        match self {
            Field::ApiTag(key) => format!("api.tags.{key}"),
            _ => unreachable!("every field is in a table"),
        }
    }

    /// Reads the field. Absent and unknown values are [`Value::Absent`].
    #[inline]
    pub fn read<'a>(&self, route: &'a Route, ctx: &Context<'a>) -> Value<'a> {
        fn string(value: Option<&str>) -> Value<'_> {
            value.map_or(Value::Absent, Value::Str)
        }
        match self {
            Field::RouteId => string(route.route_id.as_deref()),
            Field::RouteKey => Value::Str(&route.route_key),
            Field::AuthorizationType => Value::Str(route.authorization_type()),
            Field::AuthorizerId => string(route.authorizer_id.as_deref()),
            Field::AuthorizationScopes => route
                .authorization_scopes
                .as_deref()
                .map_or(Value::Absent, Value::List),
            Field::ApiKeyRequired => Value::Bool(route.api_key_required.unwrap_or(false)),
            Field::ApiGatewayManaged => Value::Bool(route.api_gateway_managed.unwrap_or(false)),
            Field::OperationName => string(route.operation_name.as_deref()),
            Field::Target => string(route.target.as_deref()),
            Field::ModelSelectionExpression => string(route.model_selection_expression.as_deref()),
            Field::RouteResponseSelectionExpression => {
                string(route.route_response_selection_expression.as_deref())
            }
            Field::RequestModels => route
                .request_models
                .as_ref()
                .map_or(Value::Absent, Value::Models),
            Field::RequestParameters => route
                .request_parameters
                .as_ref()
                .map_or(Value::Absent, Value::Parameters),
            Field::Method => Value::Str(route.method()),
            Field::Path => string(route.path()),
            Field::ApiId => Value::Str(ctx.api_id),
            Field::ApiName => string(ctx.api_name),
            Field::ApiProtocolType => string(ctx.protocol_type),
            Field::ApiTag(key) => string(
                ctx.tags
                    .and_then(|tags| tags.get(&**key))
                    .map(String::as_str),
            ),
            Field::TargetName => string(ctx.target_name),
            Field::Region => string(ctx.region),
        }
    }
}

/// The API and audit context a route is evaluated in.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub api_id: &'a str,
    pub api_name: Option<&'a str>,
    pub protocol_type: Option<&'a str>,
    pub tags: Option<&'a BTreeMap<String, String>>,
    pub target_name: Option<&'a str>,
    pub region: Option<&'a str>,
}

impl<'a> Context<'a> {
    pub fn of(api: &'a Api) -> Self {
        Context {
            api_id: &api.api_id,
            api_name: api.name.as_deref(),
            protocol_type: api.protocol_type.as_deref(),
            tags: api.tags.as_ref(),
            target_name: api.target_name.as_deref(),
            region: api.region.as_deref(),
        }
    }
}

/// A field's value, borrowed from the route or context.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    Absent,
    Str(&'a str),
    Bool(bool),
    List(&'a [String]),
    Models(&'a BTreeMap<String, String>),
    Parameters(&'a BTreeMap<String, ParameterConstraints>),
}

impl Value<'_> {
    /// Length: characters of a string, elements of a list, keys of a map.
    pub fn length(&self) -> Option<usize> {
        match self {
            Value::Str(s) => Some(s.chars().count()),
            Value::List(items) => Some(items.len()),
            Value::Models(map) => Some(map.len()),
            Value::Parameters(map) => Some(map.len()),
            Value::Absent | Value::Bool(_) => None,
        }
    }

    /// Present and not empty, as `exists = true` reads it.
    pub fn exists(&self) -> bool {
        match self {
            Value::Absent => false,
            Value::Bool(_) => true,
            Value::Str(s) => !s.is_empty(),
            _ => self.length().is_some_and(|n| n > 0),
        }
    }

    /// Whether a map has the key.
    pub fn has_key(&self, key: &str) -> bool {
        match self {
            Value::Models(map) => map.contains_key(key),
            Value::Parameters(map) => map.contains_key(key),
            _ => false,
        }
    }
}

//! The fields a condition can test: their names, types, which subject has
//! them, what must be read for them, and how each is read from an evaluation
//! [`Context`] without allocating.

use std::collections::BTreeMap;

use crate::finding::Subject;
use crate::inventory::{
    AUTHORIZATION_TYPES, AUTHORIZER_TYPES, Api, Authorizer, CONNECTION_TYPES, INTEGRATION_TYPES,
    IP_ADDRESS_TYPES, Integration, LOGGING_LEVELS, Needs, PROTOCOL_TYPES, ParameterConstraints,
    Part, Route, Stage, Unknown,
};

/// The type of a field, against which operators are checked at load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    String,
    Bool,
    Integer,
    Number,
    List,
    Map,
}

impl Type {
    /// "a string", ... for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Type::String => "a string",
            Type::Bool => "a boolean",
            Type::Integer => "an integer",
            Type::Number => "a number",
            Type::List => "a list of strings",
            Type::Map => "a map",
        }
    }
}

/// Which evaluations have a field: a route's (with its authorizer and
/// integration), a stage's, or every one (the API and the audit context).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Route,
    Stage,
    Any,
}

impl Scope {
    /// Whether a rule on `subject` can read a field of this scope.
    pub fn visible_to(self, subject: Subject) -> bool {
        match self {
            Scope::Any => true,
            Scope::Route => subject == Subject::Route,
            Scope::Stage => subject == Subject::Stage,
        }
    }
}

/// A field, resolved at load time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    // The route's own, from GetRoutes.
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
    // The audit context.
    TargetName,
    Region,
    // The account, where the source knows it (organizations).
    AccountId,
    AccountName,
    AccountOuPath,
    AccountTag(Box<str>),
    // The API, from GetApis.
    ApiId,
    ApiName,
    ApiProtocolType,
    ApiTag(Box<str>),
    ApiEndpoint,
    ApiDisableExecuteApiEndpoint,
    ApiIpAddressType,
    ApiKeySelectionExpression,
    ApiRouteSelectionExpression,
    ApiDescription,
    ApiVersion,
    CorsAllowOrigins,
    CorsAllowMethods,
    CorsAllowHeaders,
    CorsExposeHeaders,
    CorsAllowCredentials,
    CorsMaxAge,
    // The route's authorizer, joined through `authorizer_id`.
    AuthorizerOwnId,
    AuthorizerName,
    AuthorizerType,
    AuthorizerIdentitySource,
    JwtIssuer,
    JwtAudience,
    AuthorizerUri,
    AuthorizerCredentialsArn,
    AuthorizerPayloadFormatVersion,
    AuthorizerIdentityValidationExpression,
    AuthorizerResultTtlSeconds,
    AuthorizerEnableSimpleResponses,
    // The route's integration, joined through `target` (`integrations/ID`).
    IntegrationId,
    IntegrationType,
    IntegrationConnectionType,
    IntegrationUri,
    IntegrationMethod,
    IntegrationConnectionId,
    IntegrationCredentialsArn,
    IntegrationPayloadFormatVersion,
    IntegrationSubtype,
    IntegrationTlsServerName,
    IntegrationTimeoutMs,
    IntegrationRequestParameters,
    // A stage, from GetStages (stage rules).
    StageName,
    StageDeploymentId,
    StageClientCertificateId,
    StageDescription,
    StageAutoDeploy,
    StageApiGatewayManaged,
    AccessLogDestinationArn,
    AccessLogFormat,
    ThrottlingRateLimit,
    ThrottlingBurstLimit,
    LoggingLevel,
    DetailedMetricsEnabled,
    DataTraceEnabled,
    StageTag(Box<str>),
}

/// Every field with a fixed name, by the dotted name a policy writes.
pub const FIELDS: &[(&str, Field)] = &[
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
    ("account.id", Field::AccountId),
    ("account.name", Field::AccountName),
    ("account.ou_path", Field::AccountOuPath),
    ("api.id", Field::ApiId),
    ("api.name", Field::ApiName),
    ("api.protocol_type", Field::ApiProtocolType),
    ("api.endpoint", Field::ApiEndpoint),
    (
        "api.disable_execute_api_endpoint",
        Field::ApiDisableExecuteApiEndpoint,
    ),
    ("api.ip_address_type", Field::ApiIpAddressType),
    (
        "api.api_key_selection_expression",
        Field::ApiKeySelectionExpression,
    ),
    (
        "api.route_selection_expression",
        Field::ApiRouteSelectionExpression,
    ),
    ("api.description", Field::ApiDescription),
    ("api.version", Field::ApiVersion),
    ("api.cors.allow_origins", Field::CorsAllowOrigins),
    ("api.cors.allow_methods", Field::CorsAllowMethods),
    ("api.cors.allow_headers", Field::CorsAllowHeaders),
    ("api.cors.expose_headers", Field::CorsExposeHeaders),
    ("api.cors.allow_credentials", Field::CorsAllowCredentials),
    ("api.cors.max_age", Field::CorsMaxAge),
    ("authorizer.id", Field::AuthorizerOwnId),
    ("authorizer.name", Field::AuthorizerName),
    ("authorizer.type", Field::AuthorizerType),
    (
        "authorizer.identity_source",
        Field::AuthorizerIdentitySource,
    ),
    ("authorizer.jwt.issuer", Field::JwtIssuer),
    ("authorizer.jwt.audience", Field::JwtAudience),
    ("authorizer.uri", Field::AuthorizerUri),
    (
        "authorizer.credentials_arn",
        Field::AuthorizerCredentialsArn,
    ),
    (
        "authorizer.payload_format_version",
        Field::AuthorizerPayloadFormatVersion,
    ),
    (
        "authorizer.identity_validation_expression",
        Field::AuthorizerIdentityValidationExpression,
    ),
    (
        "authorizer.result_ttl_seconds",
        Field::AuthorizerResultTtlSeconds,
    ),
    (
        "authorizer.enable_simple_responses",
        Field::AuthorizerEnableSimpleResponses,
    ),
    ("integration.id", Field::IntegrationId),
    ("integration.type", Field::IntegrationType),
    (
        "integration.connection_type",
        Field::IntegrationConnectionType,
    ),
    ("integration.uri", Field::IntegrationUri),
    ("integration.method", Field::IntegrationMethod),
    ("integration.connection_id", Field::IntegrationConnectionId),
    (
        "integration.credentials_arn",
        Field::IntegrationCredentialsArn,
    ),
    (
        "integration.payload_format_version",
        Field::IntegrationPayloadFormatVersion,
    ),
    ("integration.subtype", Field::IntegrationSubtype),
    (
        "integration.tls.server_name_to_verify",
        Field::IntegrationTlsServerName,
    ),
    ("integration.timeout_ms", Field::IntegrationTimeoutMs),
    (
        "integration.request_parameters",
        Field::IntegrationRequestParameters,
    ),
    ("stage.name", Field::StageName),
    ("stage.deployment_id", Field::StageDeploymentId),
    (
        "stage.client_certificate_id",
        Field::StageClientCertificateId,
    ),
    ("stage.description", Field::StageDescription),
    ("stage.auto_deploy", Field::StageAutoDeploy),
    ("stage.api_gateway_managed", Field::StageApiGatewayManaged),
    (
        "stage.access_log.destination_arn",
        Field::AccessLogDestinationArn,
    ),
    ("stage.access_log.format", Field::AccessLogFormat),
    (
        "stage.default_route_settings.throttling_rate_limit",
        Field::ThrottlingRateLimit,
    ),
    (
        "stage.default_route_settings.throttling_burst_limit",
        Field::ThrottlingBurstLimit,
    ),
    (
        "stage.default_route_settings.logging_level",
        Field::LoggingLevel,
    ),
    (
        "stage.default_route_settings.detailed_metrics_enabled",
        Field::DetailedMetricsEnabled,
    ),
    (
        "stage.default_route_settings.data_trace_enabled",
        Field::DataTraceEnabled,
    ),
];

/// Tables of fields addressed by a key of the user's choosing (tags).
pub const KEYED: &[&str] = &["api.tags", "stage.tags", "account.tags"];

impl Field {
    /// The field of a tag table (`api.tags`, `stage.tags`) with this key.
    pub fn keyed(table: &str, key: &str) -> Option<Field> {
        match table {
            "api.tags" => Some(Field::ApiTag(key.into())),
            "stage.tags" => Some(Field::StageTag(key.into())),
            "account.tags" => Some(Field::AccountTag(key.into())),
            _ => None,
        }
    }

    pub fn ty(&self) -> Type {
        use Field::*;
        match self {
            ApiKeyRequired
            | ApiGatewayManaged
            | ApiDisableExecuteApiEndpoint
            | CorsAllowCredentials
            | AuthorizerEnableSimpleResponses
            | StageAutoDeploy
            | StageApiGatewayManaged
            | DetailedMetricsEnabled
            | DataTraceEnabled => Type::Bool,
            CorsMaxAge
            | AuthorizerResultTtlSeconds
            | IntegrationTimeoutMs
            | ThrottlingBurstLimit => Type::Integer,
            ThrottlingRateLimit => Type::Number,
            AuthorizationScopes
            | CorsAllowOrigins
            | CorsAllowMethods
            | CorsAllowHeaders
            | CorsExposeHeaders
            | AuthorizerIdentitySource
            | JwtAudience => Type::List,
            RequestModels | RequestParameters | IntegrationRequestParameters => Type::Map,
            _ => Type::String,
        }
    }

    /// Which evaluations have the field.
    pub fn scope(&self) -> Scope {
        use Field::*;
        match self {
            TargetName
            | Region
            | AccountId
            | AccountName
            | AccountOuPath
            | AccountTag(_)
            | ApiId
            | ApiName
            | ApiProtocolType
            | ApiTag(_)
            | ApiEndpoint
            | ApiDisableExecuteApiEndpoint
            | ApiIpAddressType
            | ApiKeySelectionExpression
            | ApiRouteSelectionExpression
            | ApiDescription
            | ApiVersion
            | CorsAllowOrigins
            | CorsAllowMethods
            | CorsAllowHeaders
            | CorsExposeHeaders
            | CorsAllowCredentials
            | CorsMaxAge => Scope::Any,
            StageName
            | StageDeploymentId
            | StageClientCertificateId
            | StageDescription
            | StageAutoDeploy
            | StageApiGatewayManaged
            | AccessLogDestinationArn
            | AccessLogFormat
            | ThrottlingRateLimit
            | ThrottlingBurstLimit
            | LoggingLevel
            | DetailedMetricsEnabled
            | DataTraceEnabled
            | StageTag(_) => Scope::Stage,
            _ => Scope::Route,
        }
    }

    /// What must be read, beyond routes and the API, to know the field.
    pub fn needs(&self) -> Needs {
        use Field::*;
        let mut needs = Needs::default();
        match self {
            AuthorizerOwnId
            | AuthorizerName
            | AuthorizerType
            | AuthorizerIdentitySource
            | JwtIssuer
            | JwtAudience
            | AuthorizerUri
            | AuthorizerCredentialsArn
            | AuthorizerPayloadFormatVersion
            | AuthorizerIdentityValidationExpression
            | AuthorizerResultTtlSeconds
            | AuthorizerEnableSimpleResponses => needs.authorizers = true,
            IntegrationId
            | IntegrationType
            | IntegrationConnectionType
            | IntegrationUri
            | IntegrationMethod
            | IntegrationConnectionId
            | IntegrationCredentialsArn
            | IntegrationPayloadFormatVersion
            | IntegrationSubtype
            | IntegrationTlsServerName
            | IntegrationTimeoutMs
            | IntegrationRequestParameters => needs.integrations = true,
            AccountTag(_) => needs.account_tags = true,
            _ if self.scope() == Scope::Stage => needs.stages = true,
            _ => {}
        }
        needs
    }

    /// The values AWS defines for an enumerated field, spelled as AWS spells
    /// them; `None` for free-form fields.
    pub fn values(&self) -> Option<&'static [&'static str]> {
        match self {
            Field::AuthorizationType => Some(AUTHORIZATION_TYPES),
            Field::ApiProtocolType => Some(PROTOCOL_TYPES),
            Field::AuthorizerType => Some(AUTHORIZER_TYPES),
            Field::IntegrationType => Some(INTEGRATION_TYPES),
            Field::IntegrationConnectionType => Some(CONNECTION_TYPES),
            Field::ApiIpAddressType => Some(IP_ADDRESS_TYPES),
            Field::LoggingLevel => Some(LOGGING_LEVELS),
            _ => None,
        }
    }

    /// The name a user writes, for messages and explanations.
    pub fn name(&self) -> String {
        match self {
            Field::ApiTag(key) => format!("api.tags.{key}"),
            Field::StageTag(key) => format!("stage.tags.{key}"),
            Field::AccountTag(key) => format!("account.tags.{key}"),
            _ => FIELDS
                .iter()
                .find(|(_, f)| f == self)
                .map(|(name, _)| (*name).to_owned())
                .expect("every field is in the table"),
        }
    }

    /// Reads the field. Absent and unknown values are [`Value::Absent`]; so
    /// is a field of a part the context does not have (no authorizer joined).
    #[inline]
    pub fn read<'a>(&self, ctx: &Context<'a>) -> Value<'a> {
        use Field::*;
        let api = ctx.api;
        match self {
            TargetName => string(api.target_name.as_deref()),
            Region => string(api.region.as_deref()),
            AccountId => string(api.account.as_ref().map(|a| &*a.id)),
            AccountName => string(api.account.as_ref().and_then(|a| a.name.as_deref())),
            AccountOuPath => string(api.account.as_ref().and_then(|a| a.ou_path.as_deref())),
            AccountTag(key) => string(
                api.account
                    .as_ref()
                    .and_then(|a| a.tags.get(&**key))
                    .map(String::as_str),
            ),
            ApiId => Value::Str(&api.api_id),
            ApiName => string(api.name.as_deref()),
            ApiProtocolType => string(api.protocol_type.as_deref()),
            ApiTag(key) => tag(api.tags.as_ref(), key),
            ApiEndpoint => string(api.api_endpoint.as_deref()),
            ApiDisableExecuteApiEndpoint => {
                Value::Bool(api.disable_execute_api_endpoint.unwrap_or(false))
            }
            ApiIpAddressType => string(api.ip_address_type.as_deref()),
            ApiKeySelectionExpression => string(api.api_key_selection_expression.as_deref()),
            ApiRouteSelectionExpression => string(api.route_selection_expression.as_deref()),
            ApiDescription => string(api.description.as_deref()),
            ApiVersion => string(api.version.as_deref()),
            CorsAllowOrigins | CorsAllowMethods | CorsAllowHeaders | CorsExposeHeaders
            | CorsAllowCredentials | CorsMaxAge => {
                let Some(cors) = &api.cors_configuration else {
                    return Value::Absent;
                };
                match self {
                    CorsAllowOrigins => list(cors.allow_origins.as_deref()),
                    CorsAllowMethods => list(cors.allow_methods.as_deref()),
                    CorsAllowHeaders => list(cors.allow_headers.as_deref()),
                    CorsExposeHeaders => list(cors.expose_headers.as_deref()),
                    CorsAllowCredentials => boolean(cors.allow_credentials),
                    _ => integer(cors.max_age),
                }
            }
            _ => match self.scope() {
                Scope::Route => ctx.route.map_or(Value::Absent, |route| {
                    self.read_route(route, ctx.authorizer, ctx.integration)
                }),
                _ => ctx
                    .stage
                    .map_or(Value::Absent, |stage| self.read_stage(stage)),
            },
        }
    }

    #[inline]
    fn read_route<'a>(
        &self,
        route: &'a Route,
        authorizer: Option<&'a Authorizer>,
        integration: Option<&'a Integration>,
    ) -> Value<'a> {
        use Field::*;
        match self {
            RouteId => string(route.route_id.as_deref()),
            RouteKey => Value::Str(&route.route_key),
            AuthorizationType => Value::Str(route.authorization_type()),
            AuthorizerId => string(route.authorizer_id.as_deref()),
            AuthorizationScopes => list(route.authorization_scopes.as_deref()),
            ApiKeyRequired => Value::Bool(route.api_key_required.unwrap_or(false)),
            ApiGatewayManaged => Value::Bool(route.api_gateway_managed.unwrap_or(false)),
            OperationName => string(route.operation_name.as_deref()),
            Target => string(route.target.as_deref()),
            ModelSelectionExpression => string(route.model_selection_expression.as_deref()),
            RouteResponseSelectionExpression => {
                string(route.route_response_selection_expression.as_deref())
            }
            RequestModels => route
                .request_models
                .as_ref()
                .map_or(Value::Absent, Value::StrMap),
            RequestParameters => route
                .request_parameters
                .as_ref()
                .map_or(Value::Absent, Value::Parameters),
            Method => Value::Str(route.method()),
            Path => string(route.path()),
            _ => match self.needs() {
                Needs {
                    authorizers: true, ..
                } => authorizer.map_or(Value::Absent, |a| self.read_authorizer(a)),
                _ => integration.map_or(Value::Absent, |i| self.read_integration(i)),
            },
        }
    }

    #[inline]
    fn read_authorizer<'a>(&self, a: &'a Authorizer) -> Value<'a> {
        use Field::*;
        let jwt = a.jwt_configuration.as_ref();
        match self {
            AuthorizerOwnId => Value::Str(&a.authorizer_id),
            AuthorizerName => string(a.name.as_deref()),
            AuthorizerType => string(a.authorizer_type.as_deref()),
            AuthorizerIdentitySource => list(a.identity_source.as_deref()),
            JwtIssuer => string(jwt.and_then(|j| j.issuer.as_deref())),
            JwtAudience => list(jwt.and_then(|j| j.audience.as_deref())),
            AuthorizerUri => string(a.authorizer_uri.as_deref()),
            AuthorizerCredentialsArn => string(a.authorizer_credentials_arn.as_deref()),
            AuthorizerPayloadFormatVersion => {
                string(a.authorizer_payload_format_version.as_deref())
            }
            AuthorizerIdentityValidationExpression => {
                string(a.identity_validation_expression.as_deref())
            }
            AuthorizerResultTtlSeconds => integer(a.authorizer_result_ttl_in_seconds),
            AuthorizerEnableSimpleResponses => boolean(a.enable_simple_responses),
            _ => Value::Absent,
        }
    }

    #[inline]
    fn read_integration<'a>(&self, i: &'a Integration) -> Value<'a> {
        use Field::*;
        match self {
            IntegrationId => Value::Str(&i.integration_id),
            IntegrationType => string(i.integration_type.as_deref()),
            IntegrationConnectionType => string(i.connection_type.as_deref()),
            IntegrationUri => string(i.integration_uri.as_deref()),
            IntegrationMethod => string(i.integration_method.as_deref()),
            IntegrationConnectionId => string(i.connection_id.as_deref()),
            IntegrationCredentialsArn => string(i.credentials_arn.as_deref()),
            IntegrationPayloadFormatVersion => string(i.payload_format_version.as_deref()),
            IntegrationSubtype => string(i.integration_subtype.as_deref()),
            IntegrationTlsServerName => string(
                i.tls_config
                    .as_ref()
                    .and_then(|t| t.server_name_to_verify.as_deref()),
            ),
            IntegrationTimeoutMs => integer(i.timeout_in_millis),
            IntegrationRequestParameters => i
                .request_parameters
                .as_ref()
                .map_or(Value::Absent, Value::StrMap),
            _ => Value::Absent,
        }
    }

    #[inline]
    fn read_stage<'a>(&self, s: &'a Stage) -> Value<'a> {
        use Field::*;
        let log = s.access_log_settings.as_ref();
        let settings = s.default_route_settings.as_ref();
        match self {
            StageName => Value::Str(&s.stage_name),
            StageDeploymentId => string(s.deployment_id.as_deref()),
            StageClientCertificateId => string(s.client_certificate_id.as_deref()),
            StageDescription => string(s.description.as_deref()),
            StageAutoDeploy => boolean(s.auto_deploy),
            StageApiGatewayManaged => boolean(s.api_gateway_managed),
            AccessLogDestinationArn => string(log.and_then(|l| l.destination_arn.as_deref())),
            AccessLogFormat => string(log.and_then(|l| l.format.as_deref())),
            ThrottlingRateLimit => settings
                .and_then(|s| s.throttling_rate_limit)
                .map_or(Value::Absent, Value::Num),
            ThrottlingBurstLimit => integer(settings.and_then(|s| s.throttling_burst_limit)),
            LoggingLevel => string(settings.and_then(|s| s.logging_level.as_deref())),
            DetailedMetricsEnabled => boolean(settings.and_then(|s| s.detailed_metrics_enabled)),
            DataTraceEnabled => boolean(settings.and_then(|s| s.data_trace_enabled)),
            StageTag(key) => tag(s.tags.as_ref(), key),
            _ => Value::Absent,
        }
    }
}

fn string(value: Option<&str>) -> Value<'_> {
    value.map_or(Value::Absent, Value::Str)
}

fn list(value: Option<&[String]>) -> Value<'_> {
    value.map_or(Value::Absent, Value::List)
}

fn boolean<'a>(value: Option<bool>) -> Value<'a> {
    value.map_or(Value::Absent, Value::Bool)
}

fn integer<'a>(value: Option<i64>) -> Value<'a> {
    value.map_or(Value::Absent, Value::Int)
}

fn tag<'a>(tags: Option<&'a BTreeMap<String, String>>, key: &str) -> Value<'a> {
    string(tags.and_then(|tags| tags.get(key)).map(String::as_str))
}

/// What one evaluation sees: the API and its audit context always; for a
/// route, the route and what it joins to (its authorizer through
/// `authorizer_id`, its integration through `target`); for a stage, the stage.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub api: &'a Api,
    pub route: Option<&'a Route>,
    pub authorizer: Option<&'a Authorizer>,
    pub integration: Option<&'a Integration>,
    pub stage: Option<&'a Stage>,
}

impl<'a> Context<'a> {
    /// The API alone (API rules).
    pub fn of(api: &'a Api) -> Self {
        Context {
            api,
            route: None,
            authorizer: None,
            integration: None,
            stage: None,
        }
    }

    /// A route of the API, joined to its authorizer and integration where
    /// the API has them. A reference that names nothing leaves them absent.
    pub fn route(self, route: &'a Route) -> Self {
        let authorizer = route
            .authorizer_id
            .as_deref()
            .filter(|id| !id.is_empty())
            .and_then(|id| {
                self.api
                    .authorizers
                    .as_deref()?
                    .iter()
                    .find(|a| a.authorizer_id == id)
            });
        let integration = route
            .target
            .as_deref()
            .and_then(|t| t.strip_prefix("integrations/"))
            .and_then(|id| {
                self.api
                    .integrations
                    .as_deref()?
                    .iter()
                    .find(|i| i.integration_id == id)
            });
        Context {
            route: Some(route),
            authorizer,
            integration,
            stage: None,
            ..self
        }
    }

    /// The value of `field` that the code defining the API leaves unknown
    /// in this context, if any: the field itself, its whole part, or the
    /// reference that joins the part (an authorizer through an unknown
    /// `authorizer_id`). Live APIs have none, and cost one test.
    pub fn unknown(&self, field: &Field) -> Option<&'a Unknown> {
        let marks = &self.api.unknown;
        if marks.is_empty() {
            return None;
        }
        let name = match field {
            Field::Method | Field::Path => "route_key".to_owned(),
            _ => field.name(),
        };
        let route_key = self.route.map_or("", |r| r.route_key.as_str());
        let on_route = |wanted: &str| {
            marks.iter().find(|m| {
                m.part == Part::Route
                    && self.route.is_some()
                    && m.key == route_key
                    && (m.field == wanted || m.field == "*")
            })
        };
        let on = |part: Part, key: &str| {
            marks
                .iter()
                .find(|m| m.part == part && m.key == key && (m.field == name || m.field == "*"))
        };
        if name.starts_with("authorizer.") {
            let id = self
                .route
                .and_then(|r| r.authorizer_id.as_deref())
                .unwrap_or("");
            return on_route("authorizer_id").or_else(|| on(Part::Authorizer, id));
        }
        if name.starts_with("integration.") {
            let id = self
                .route
                .and_then(|r| r.target.as_deref())
                .and_then(|t| t.strip_prefix("integrations/"))
                .unwrap_or("");
            return on_route("target").or_else(|| on(Part::Integration, id));
        }
        if name.starts_with("stage.") {
            return on(
                Part::Stage,
                self.stage.map_or("", |s| s.stage_name.as_str()),
            );
        }
        if name.starts_with("api.")
            || name.starts_with("account.")
            || matches!(field, Field::TargetName | Field::Region)
        {
            return on(Part::Api, "");
        }
        on_route(&name)
    }

    /// A stage of the API (stage rules).
    pub fn stage(self, stage: &'a Stage) -> Self {
        Context {
            route: None,
            authorizer: None,
            integration: None,
            stage: Some(stage),
            ..self
        }
    }
}

/// A field's value, borrowed from the context.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    Absent,
    Str(&'a str),
    Bool(bool),
    Int(i64),
    Num(f64),
    List(&'a [String]),
    StrMap(&'a BTreeMap<String, String>),
    Parameters(&'a BTreeMap<String, ParameterConstraints>),
}

impl Value<'_> {
    /// Length: characters of a string, elements of a list, keys of a map.
    pub fn length(&self) -> Option<usize> {
        match self {
            Value::Str(s) => Some(s.chars().count()),
            Value::List(items) => Some(items.len()),
            Value::StrMap(map) => Some(map.len()),
            Value::Parameters(map) => Some(map.len()),
            Value::Absent | Value::Bool(_) | Value::Int(_) | Value::Num(_) => None,
        }
    }

    /// Present and not empty, as `exists = true` reads it.
    pub fn exists(&self) -> bool {
        match self {
            Value::Absent => false,
            Value::Bool(_) | Value::Int(_) | Value::Num(_) => true,
            Value::Str(s) => !s.is_empty(),
            _ => self.length().is_some_and(|n| n > 0),
        }
    }

    /// A number's value, for the numeric operators.
    pub fn number(&self) -> Option<f64> {
        match *self {
            Value::Int(n) => Some(n as f64),
            Value::Num(n) => Some(n),
            _ => None,
        }
    }

    /// Whether a map has the key.
    pub fn has_key(&self, key: &str) -> bool {
        match self {
            Value::StrMap(map) => map.contains_key(key),
            Value::Parameters(map) => map.contains_key(key),
            _ => false,
        }
    }
}

//! The route inventory: `Api`, `Route`, and the fleet file.
//!
//! One JSON format is the inventory everywhere: `snapshot` writes it, `--routes`
//! and `--baseline` read it. Field names are the AWS API's, so a route read from
//! GetRoutes and one read from a file are the same value. `--routes` also takes
//! the raw output of `aws apigatewayv2 get-routes` (`{"Items": [...]}`), whose API
//! id is the file's stem. Unknown fields are ignored, because AWS adds fields
//! over time. This module knows nothing about rules or AWS clients.

use std::collections::BTreeMap;
use std::io::{BufRead, Read};
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::diag::{Diagnostics, FileId};

/// A route as GetRoutes returns it. Absent and `null` fields are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Route {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_id: Option<String>,
    #[serde(deserialize_with = "position::mark_part")]
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
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "unique::map"
    )]
    pub request_models: Option<BTreeMap<String, String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "unique::map"
    )]
    pub request_parameters: Option<BTreeMap<String, ParameterConstraints>>,
    /// The line of its `RouteKey` in the file it was read from.
    #[serde(skip, default = "position::part_line")]
    pub line: Line,
}

/// `RequestParameters` values: `{ "Required": true }`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

/// An AWS account as policies and reports see it (`account.id`,
/// `account.name`, `account.ou_path`, `account.tags.<key>`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Account {
    /// The 12-digit account id.
    pub id: Arc<str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The organization block (config) it was listed through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<Arc<str>>,
    /// Its place in the organization, by OU names: `Root/Prod/Payments`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ou_path: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

/// An API with its context and routes. Context the source could not know (a raw
/// get-routes file has no name or protocol) is `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Api {
    #[serde(deserialize_with = "position::mark_api")]
    pub api_id: Arc<str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Arc<str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_type: Option<Arc<str>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "unique::map"
    )]
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_name: Option<Arc<str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<Arc<str>>,
    /// The AWS account the API lives in, where the source knows it: an
    /// organization's member account (with its name, OU path and tags), or
    /// the account of a target's `role_arn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<Arc<Account>>,
    // The API's own settings (GetApis); absent in fleet files written before
    // routewarden read them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_execute_api_endpoint: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_selection_expression: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_selection_expression: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors_configuration: Option<Cors>,
    #[serde(default)]
    pub routes: Vec<Route>,
    /// GetAuthorizers; `None` where they were not read (not the same as
    /// none: rules on authorizers do not apply to an API whose authorizers
    /// are unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorizers: Option<Vec<Authorizer>>,
    /// GetIntegrations; `None` where they were not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integrations: Option<Vec<Integration>>,
    /// GetStages; `None` where they were not read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stages: Option<Vec<Stage>>,
    /// Where the API was defined: the file and line of its `ApiId` (line 1
    /// of a get-routes file), or the config's `[[targets]]` entry that
    /// reached it live.
    #[serde(skip, default = "position::api_origin")]
    pub origin: Origin,
    /// Values the code that defines the API leaves unknown until deploy
    /// (read from infrastructure as code); always empty live.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<Unknown>,
}

/// A value that code does not fix before deploy: a parameter without a
/// default, an `ImportValue`, a Terraform value known after apply. A rule
/// whose outcome depends on it is `indeterminate`, never passed or violated.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Unknown {
    /// The part of the API that holds the value.
    pub part: Part,
    /// Which one: the route key, authorizer id, integration id or stage
    /// name; empty for the API itself.
    #[serde(default)]
    pub key: String,
    /// The field, as policies name it (`authorization_type`,
    /// `authorizer.jwt.audience`, `stage.access_log.destination_arn`); `*`
    /// for every field of the part.
    pub field: String,
    /// Why it is unknown, for the finding: `parameter AuthType has no default`.
    pub reason: String,
    /// The value is there and not empty, only not known (a property set to
    /// `!GetAtt Log.Arn`, a list holding one): rules that ask only whether
    /// it is set are decided.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub present: bool,
    /// The known beginning of a string otherwise unknown
    /// (`https://cognito-idp.` of an issuer built with `Fn::Sub`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// The values it may take, where the code lists them (a parameter's
    /// `AllowedValues`): a test that holds for all alike is decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
}

/// A part of an API, as [`Unknown`] names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    Api,
    Route,
    Authorizer,
    Integration,
    Stage,
}

/// `Api.CorsConfiguration`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Cors {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_credentials: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_headers: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_methods: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_origins: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expose_headers: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<i64>,
}

/// An authorizer as GetAuthorizers returns it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Authorizer {
    #[serde(deserialize_with = "position::mark_part")]
    pub authorizer_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorizer_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_source: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt_configuration: Option<JwtConfiguration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorizer_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorizer_credentials_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorizer_payload_format_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_validation_expression: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorizer_result_ttl_in_seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_simple_responses: Option<bool>,
    /// The line of its `AuthorizerId` in the file it was read from.
    #[serde(skip, default = "position::part_line")]
    pub line: Line,
}

/// `Authorizer.JwtConfiguration`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JwtConfiguration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
}

/// An integration as GetIntegrations returns it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Integration {
    #[serde(deserialize_with = "position::mark_part")]
    pub integration_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration_method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_format_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration_subtype: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_config: Option<TlsConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_in_millis: Option<i64>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "unique::map"
    )]
    pub request_parameters: Option<BTreeMap<String, String>>,
    /// The line of its `IntegrationId` in the file it was read from.
    #[serde(skip, default = "position::part_line")]
    pub line: Line,
}

/// `Integration.TlsConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TlsConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name_to_verify: Option<String>,
}

/// A stage as GetStages returns it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Stage {
    #[serde(deserialize_with = "position::mark_part")]
    pub stage_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_deploy: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_gateway_managed: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_log_settings: Option<AccessLogSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_route_settings: Option<RouteSettings>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "unique::map"
    )]
    pub tags: Option<BTreeMap<String, String>>,
    /// The line of its `StageName` in the file it was read from.
    #[serde(skip, default = "position::part_line")]
    pub line: Line,
}

/// `Stage.AccessLogSettings`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccessLogSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

/// `Stage.DefaultRouteSettings`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RouteSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttling_rate_limit: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttling_burst_limit: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging_level: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detailed_metrics_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_trace_enabled: Option<bool>,
}

/// Settings compare by value: JSON holds no NaN, so a rate read from AWS or
/// a fleet file equals itself.
impl Eq for RouteSettings {}

/// Which of an API's optional parts an audit reads: each costs a paginated
/// call per API (GetAuthorizers, GetIntegrations, GetStages) against the
/// account's shared quota, so it is read only when a rule or the baseline
/// needs it. Routes and the API's own settings are always read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    pub authorizers: bool,
    pub integrations: bool,
    pub stages: bool,
    /// The tags of organization accounts (ListTagsForResource, one call per
    /// account): a rule reads `account.tags.<key>`.
    pub account_tags: bool,
}

impl Needs {
    /// Everything (`snapshot`).
    pub const ALL: Needs = Needs {
        authorizers: true,
        integrations: true,
        stages: true,
        account_tags: true,
    };

    pub fn union(self, other: Needs) -> Needs {
        Needs {
            authorizers: self.authorizers || other.authorizers,
            integrations: self.integrations || other.integrations,
            stages: self.stages || other.stages,
            account_tags: self.account_tags || other.account_tags,
        }
    }

    /// Whether an API holds every part needed (its parts were read).
    pub fn met_by(self, api: &Api) -> bool {
        (!self.authorizers || api.authorizers.is_some())
            && (!self.integrations || api.integrations.is_some())
            && (!self.stages || api.stages.is_some())
    }
}

/// What an API holds, hashed part by part: see [`Api::fingerprint`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint([u64; 5]);

impl Fingerprint {
    const PARTS: [&str; 5] = [
        "API fields",
        "routes",
        "authorizers",
        "integrations",
        "stages",
    ];

    /// The parts in which two fingerprints differ (`routes`, `stages`, ...).
    pub fn differences(&self, other: &Fingerprint) -> Vec<&'static str> {
        (0..Self::PARTS.len())
            .filter(|&i| self.0[i] != other.0[i])
            .map(|i| Self::PARTS[i])
            .collect()
    }
}

/// A file and line, as reports point at them (SARIF's physical location).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    /// As the user named the file, relative to the working directory where
    /// it is inside it.
    pub path: Arc<str>,
    pub line: u32,
    /// 1-based, where the source knows it (infrastructure as code).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
}

/// `path:line`, or `path:line:column` where the column is known: as editors
/// and terminals open it.
impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.path, self.line)?;
        if let Some(column) = self.column {
            write!(f, ":{column}")?;
        }
        Ok(())
    }
}

/// A 1-based line in the file a value was read from, where it was read from
/// a file, and its 1-based column where the reader knows it. Where something
/// was read is not part of what it is: two lines are always equal, so routes
/// and inventories compare by content.
#[derive(Debug, Clone, Copy, Default)]
pub struct Line(pub Option<u32>, pub Option<u32>);

impl Line {
    /// Line and column.
    pub fn at(line: u32, column: u32) -> Line {
        Line(Some(line), Some(column))
    }
}

impl PartialEq for Line {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Line {}

impl std::hash::Hash for Line {
    fn hash<H: std::hash::Hasher>(&self, _: &mut H) {}
}

/// Where an API was defined; like [`Line`], never part of its identity.
#[derive(Debug, Clone, Default)]
pub struct Origin(pub Option<Arc<Location>>);

impl PartialEq for Origin {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Origin {}

impl Api {
    /// Where a route of this API was defined: its own line in the API's
    /// file, else the API's origin.
    pub fn location_of(&self, route: &Route) -> Option<Location> {
        self.location_at(route.line)
    }

    /// Where a stage of this API was defined: its `StageName` line in the
    /// API's file, else the API's origin.
    pub fn location_of_stage(&self, stage: &Stage) -> Option<Location> {
        self.location_at(stage.line)
    }

    /// A line of this API's file (a route's, an authorizer's, ...) as a
    /// location; the API's origin where the line is unknown.
    pub fn location_at(&self, line: Line) -> Option<Location> {
        let origin = self.origin.0.as_deref()?;
        Some(match line.0 {
            Some(n) => Location {
                path: origin.path.clone(),
                line: n,
                column: line.1,
            },
            None => origin.clone(),
        })
    }

    /// The API without its routes, authorizers, integrations and stages:
    /// its identity, context and own settings (cheap to clone and serialize).
    pub fn without_parts(&self) -> Api {
        // Destructured in full: a field added to `Api` must be placed here.
        let Api {
            api_id,
            name,
            protocol_type,
            tags,
            target_name,
            region,
            account,
            api_endpoint,
            disable_execute_api_endpoint,
            ip_address_type,
            api_key_selection_expression,
            route_selection_expression,
            description,
            version,
            cors_configuration,
            routes: _,
            authorizers: _,
            integrations: _,
            stages: _,
            origin,
            unknown,
        } = self;
        Api {
            api_id: api_id.clone(),
            name: name.clone(),
            protocol_type: protocol_type.clone(),
            tags: tags.clone(),
            target_name: target_name.clone(),
            region: region.clone(),
            account: account.clone(),
            api_endpoint: api_endpoint.clone(),
            disable_execute_api_endpoint: *disable_execute_api_endpoint,
            ip_address_type: ip_address_type.clone(),
            api_key_selection_expression: api_key_selection_expression.clone(),
            route_selection_expression: route_selection_expression.clone(),
            description: description.clone(),
            version: version.clone(),
            cors_configuration: cors_configuration.clone(),
            routes: Vec::new(),
            authorizers: None,
            integrations: None,
            stages: None,
            origin: origin.clone(),
            unknown: unknown.clone(),
        }
    }

    /// What the API holds, hashed, lines and origin aside: two inputs of one
    /// API with equal fingerprints say the same. Routes, authorizers,
    /// integrations and stages count in any order; a part not read differs
    /// from a part read and empty. Stable within a process.
    pub fn fingerprint(&self) -> Fingerprint {
        use std::hash::{DefaultHasher, Hash, Hasher};
        fn hash(value: impl Hash) -> u64 {
            let mut hasher = DefaultHasher::new();
            value.hash(&mut hasher);
            hasher.finish()
        }
        fn json<T: Serialize>(value: &T) -> String {
            serde_json::to_string(value).expect("the inventory serializes")
        }
        // Each element by its hash (lines hash to nothing), in any order.
        fn set<T>(items: Option<&[T]>, each: impl Fn(&T) -> u64) -> u64 {
            hash(items.map(|items| {
                let mut hashes: Vec<u64> = items.iter().map(each).collect();
                hashes.sort_unstable();
                hashes
            }))
        }
        Fingerprint([
            hash(json(&self.without_parts())),
            set(Some(&self.routes), |r| hash(r)),
            set(self.authorizers.as_deref(), |a| hash(a)),
            set(self.integrations.as_deref(), |i| hash(i)),
            // A stage's settings hold a number (no `Hash`): by its JSON.
            set(self.stages.as_deref(), |stage| hash(json(stage))),
        ])
    }

    /// The audit's key for an API: target, region, id (`""` where unknown).
    /// Two inputs with the same key are the same API.
    pub fn key(&self) -> (&str, &str, &str) {
        (
            self.target_name.as_deref().unwrap_or(""),
            self.region.as_deref().unwrap_or(""),
            &self.api_id,
        )
    }
}

/// A fleet file: every API that was read, with its routes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Inventory {
    pub apis: Vec<Api>,
}

impl Inventory {
    /// The parts its APIs hold: a baseline that holds authorizers makes drift
    /// need them.
    pub fn needs(&self) -> Needs {
        self.apis.iter().fold(Needs::default(), |needs, api| {
            needs.union(Needs {
                authorizers: api.authorizers.is_some(),
                integrations: api.integrations.is_some(),
                stages: api.stages.is_some(),
                account_tags: false,
            })
        })
    }

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

/// The values of `AuthorizationType` that AWS defines.
pub const AUTHORIZATION_TYPES: &[&str] = &["NONE", "AWS_IAM", "CUSTOM", "JWT"];
/// The values of `ProtocolType` that AWS defines.
pub const PROTOCOL_TYPES: &[&str] = &["HTTP", "WEBSOCKET"];
/// The values of `AuthorizerType` that AWS defines.
pub const AUTHORIZER_TYPES: &[&str] = &["JWT", "REQUEST"];
/// The values of `IntegrationType` that AWS defines.
pub const INTEGRATION_TYPES: &[&str] = &["AWS", "AWS_PROXY", "HTTP", "HTTP_PROXY", "MOCK"];
/// The values of `ConnectionType` that AWS defines.
pub const CONNECTION_TYPES: &[&str] = &["INTERNET", "VPC_LINK"];
/// The values of `IpAddressType` that AWS defines.
pub const IP_ADDRESS_TYPES: &[&str] = &["ipv4", "dualstack"];
/// The values of `LoggingLevel` that AWS defines.
pub const LOGGING_LEVELS: &[&str] = &["ERROR", "INFO", "OFF"];

/// What reading one file found besides its APIs.
#[derive(Debug, Default)]
pub struct FileRead {
    /// The API of a get-routes file whose `NextToken` is set: the file holds
    /// only the first page (`--max-items`, `--no-paginate`).
    pub first_page_of: Option<Arc<str>>,
}

/// Reads a fleet file or a raw get-routes output; problems go to `diags`.
pub fn load_routes_file(diags: &mut Diagnostics, path: &Path) -> Option<(Vec<Api>, FileRead)> {
    let mut apis = Vec::new();
    let read = stream_routes_file(diags, path, |api| apis.push(api))?;
    Some((apis, read))
}

/// Reads a fleet file or a raw get-routes output, handing each API to `on_api`
/// as soon as it is parsed, so that a caller that needs only what it derives
/// from each API never holds them all (nor the file's text: a 100k-route fleet
/// is 15 MB of JSON). Only when the file does not parse is its text read, to
/// point at the problem; `on_api` may have seen some APIs by then. Every API
/// and route carries the line it was read from; values of AWS enumerations
/// that AWS does not define are read as they are, with a warning naming the
/// line.
pub fn stream_routes_file(
    diags: &mut Diagnostics,
    path: &Path,
    mut on_api: impl FnMut(Api),
) -> Option<FileRead> {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let shown: Arc<str> = crate::diag::display_path(path).into();
    let mut checked = |api: Api| {
        warn_undefined_values(&api, &shown);
        on_api(api)
    };
    let parsed = open_text(path).map(|reader| {
        let _tracking = position::track(reader.line.clone(), shown.clone());
        let mut reader = serde_json::Deserializer::from_reader(reader);
        let shape = serde::Deserializer::deserialize_map(
            &mut reader,
            stream::Document {
                on_api: &mut checked,
            },
        )?;
        reader.end()?;
        Ok::<_, serde_json::Error>(shape)
    });
    let shape = match parsed {
        Ok(Ok(shape)) => shape,
        // Malformed: the parser's position is the problem's; the text is read
        // only to show it (never parsed again: a huge file is held once).
        Ok(Err(err)) if !err.is_io() => {
            let file = crate::diag::read_file(diags, path)?;
            malformed(diags, file, &err);
            return None;
        }
        // Unreadable: say why (not a regular file, not UTF-8, ...).
        _ => {
            let file = crate::diag::read_file(diags, path)?;
            parse_routes(diags, file, &stem)?;
            return None;
        }
    };
    let mut read = FileRead::default();
    let document = match shape {
        stream::Shape::Apis => return Some(read),
        stream::Shape::Items { routes, next_token } => {
            if next_token.is_some_and(|t| !t.is_empty()) {
                read.first_page_of = Some(stem.as_str().into());
            }
            RoutesDocument {
                apis: None,
                items: Some(routes),
            }
        }
        stream::Shape::Other(keys) => {
            let file = crate::diag::read_file(diags, path)?;
            let (message, label) = unrecognized(&keys);
            diags.push(file, 0..0, message, label);
            return None;
        }
    };
    match interpret(document, &stem) {
        Ok(apis) => {
            for mut api in apis {
                api.origin = Origin(Some(Arc::new(Location {
                    path: shown.clone(),
                    line: 1,
                    column: None,
                })));
                checked(api);
            }
            Some(read)
        }
        Err((message, label)) => {
            let file = crate::diag::read_file(diags, path)?;
            diags.push(file, 0..0, message, label);
            None
        }
    }
}

/// A counting reader over a file's text as UTF-8: a UTF-8 byte-order mark
/// skipped; a UTF-16 file decoded first (Windows files are small). A file
/// [`crate::diag::decode`] refuses is an error, and the caller reads it again
/// for the diagnostics.
fn open_text(path: &Path) -> std::io::Result<position::Counting<Box<dyn BufRead>>> {
    crate::diag::regular_file(path)?;
    let mut file = std::io::BufReader::new(std::fs::File::open(path)?);
    let head = file.fill_buf()?;
    let reader: Box<dyn BufRead> = if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
        file.consume(3);
        Box::new(file)
    } else if head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]) {
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let text = crate::diag::decode(bytes)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.reason))?;
        Box::new(std::io::Cursor::new(text.into_bytes()))
    } else {
        Box::new(file)
    };
    Ok(position::Counting::new(reader))
}

/// Warns about values of AWS enumerations that AWS does not define: read as
/// they are (AWS adds values over time), but a policy literal cannot name them.
fn warn_undefined_values(api: &Api, file: &str) {
    let api_line = api.origin.0.as_ref().map_or(0, |o| o.line);
    // `at` is formatted only for a warning: most values are defined.
    let check = |at: &dyn Fn() -> String,
                 line: Line,
                 field: &str,
                 value: Option<&str>,
                 defined: &[&str]| {
        if let Some(value) = value
            && !defined.contains(&value)
        {
            tracing::warn!(
                file,
                line = line.0.unwrap_or(api_line),
                api_id = %api.api_id,
                at = at(),
                value,
                "{field} is not a value AWS defines ({}); read as it is",
                defined.join(", ")
            );
        }
    };
    let api_at = || format!("API {}", api.api_id);
    check(
        &api_at,
        Line(None, None),
        "ProtocolType",
        api.protocol_type.as_deref(),
        PROTOCOL_TYPES,
    );
    check(
        &api_at,
        Line(None, None),
        "IpAddressType",
        api.ip_address_type.as_deref(),
        IP_ADDRESS_TYPES,
    );
    for route in &api.routes {
        check(
            &|| format!("route {}", route.route_key),
            route.line,
            "AuthorizationType",
            route.authorization_type.as_deref(),
            AUTHORIZATION_TYPES,
        );
    }
    for authorizer in api.authorizers.iter().flatten() {
        check(
            &|| format!("authorizer {}", authorizer.authorizer_id),
            authorizer.line,
            "AuthorizerType",
            authorizer.authorizer_type.as_deref(),
            AUTHORIZER_TYPES,
        );
    }
    for integration in api.integrations.iter().flatten() {
        let at = || format!("integration {}", integration.integration_id);
        let line = integration.line;
        let (kind, connection) = (&integration.integration_type, &integration.connection_type);
        check(
            &at,
            line,
            "IntegrationType",
            kind.as_deref(),
            INTEGRATION_TYPES,
        );
        check(
            &at,
            line,
            "ConnectionType",
            connection.as_deref(),
            CONNECTION_TYPES,
        );
    }
    for stage in api.stages.iter().flatten() {
        let settings = stage.default_route_settings.as_ref();
        check(
            &|| format!("stage {}", stage.stage_name),
            stage.line,
            "DefaultRouteSettings.LoggingLevel",
            settings.and_then(|s| s.logging_level.as_deref()),
            LOGGING_LEVELS,
        );
    }
}

/// What to say of a JSON object that is neither a fleet file nor get-routes
/// output, from its top-level keys.
fn unrecognized(keys: &[String]) -> (String, &'static str) {
    let has = |k: &str| keys.iter().any(|key| key == k);
    if has("Apis") && has("Items") {
        return (
            "malformed fleet file: it has both `Apis` and `Items`".to_owned(),
            "expected a fleet file (`Apis`) or get-routes output (`Items`), not both",
        );
    }
    let message = if has("items") || has("apis") {
        "this looks like the REST wire format (camelCase keys such as `items`): give the AWS CLI's output (`aws apigatewayv2 get-routes`, PascalCase `Items`) or a fleet file"
    } else if let Some(what) = not_a_route(keys) {
        return (
            format!(
                "this looks like {what}, not routes: give the output of `aws apigatewayv2 get-routes` or a fleet file"
            ),
            "expected {\"Apis\": [...]} (a fleet file) or {\"Items\": [...]} (aws apigatewayv2 get-routes output)",
        );
    } else if has("RouteKey") {
        "this looks like a single route (`aws apigatewayv2 get-route` or create-route output): give the output of `aws apigatewayv2 get-routes` for the API"
    } else if has("status_code") && has("data") {
        "this looks like a recorded SDK response (placebo), not routewarden input: give a fleet file or get-routes output"
    } else {
        "malformed fleet file: no `Apis` or `Items` array"
    };
    (
        message.to_owned(),
        "expected {\"Apis\": [...]} (a fleet file) or {\"Items\": [...]} (aws apigatewayv2 get-routes output)",
    )
}

/// What an object with these keys is, where it is an API Gateway object other
/// than a route (an authorizer, stage, integration or API).
fn not_a_route(keys: &[String]) -> Option<&'static str> {
    let has = |k: &str| keys.iter().any(|key| key == k);
    if has("RouteKey") {
        None
    } else if has("AuthorizerType") || has("AuthorizerId") {
        Some("an authorizer (get-authorizer or get-authorizers output)")
    } else if has("StageName") {
        Some("a stage (get-stage or get-stages output)")
    } else if has("IntegrationType") || has("IntegrationId") {
        Some("an integration (get-integration or get-integrations output)")
    } else if has("ApiId") && has("ProtocolType") {
        Some("an API (get-api or get-apis output)")
    } else {
        None
    }
}

/// Maps whose keys must be unique: JSON allows a key twice and serde keeps the
/// last, so `{"env": "dev", "env": "prod"}` would hide a value from the
/// audit. A duplicate key is an error (struct fields are checked by serde).
mod unique {
    use std::collections::BTreeMap;
    use std::fmt;
    use std::marker::PhantomData;

    use serde::de::{Deserialize, Deserializer, Error, MapAccess, Visitor};

    pub fn map<'de, D, V>(d: D) -> Result<Option<BTreeMap<String, V>>, D::Error>
    where
        D: Deserializer<'de>,
        V: Deserialize<'de>,
    {
        struct Unique<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for Unique<V> {
            type Value = Option<BTreeMap<String, V>>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object with unique keys")
            }

            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(None)
            }

            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(None)
            }

            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_map(self)
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let mut map = BTreeMap::new();
                while let Some(key) = access.next_key::<String>()? {
                    if map.contains_key(&key) {
                        return Err(A::Error::custom(format_args!("duplicate key `{key}`")));
                    }
                    let value = access.next_value()?;
                    map.insert(key, value);
                }
                Ok(Some(map))
            }
        }
        d.deserialize_option(Unique(PhantomData))
    }
}

/// The keys of a listing's first item, read without holding the listing.
mod probe {
    use std::fmt;

    use serde::Deserialize;
    use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

    #[derive(Deserialize)]
    pub struct Probe {
        #[serde(rename = "Items")]
        pub items: Option<FirstKeys>,
    }

    /// The first element's keys; the other elements are skipped unread.
    pub struct FirstKeys(pub Vec<String>);

    /// An object's keys (at most 64); its values are skipped unread.
    struct Keys(Vec<String>);

    impl<'de> Deserialize<'de> for Keys {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_map(Keys(Vec::new()))
        }
    }

    impl<'de> Visitor<'de> for Keys {
        type Value = Keys;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }

        fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Keys, A::Error> {
            while let Some(key) = map.next_key::<String>()? {
                map.next_value::<IgnoredAny>()?;
                if self.0.len() < 64 {
                    self.0.push(key);
                }
            }
            Ok(self)
        }
    }

    impl<'de> Deserialize<'de> for FirstKeys {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_seq(FirstKeys(Vec::new()))
        }
    }

    impl<'de> Visitor<'de> for FirstKeys {
        type Value = FirstKeys;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FirstKeys, A::Error> {
            let first = seq.next_element::<Keys>()?.map_or(Vec::new(), |k| k.0);
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(FirstKeys(first))
        }
    }
}

/// Line tracking for the streaming parser. serde_json reads its input one
/// byte at a time and never ahead of the value it parses (it peeks one
/// byte), so a reader that counts newlines knows the line of the value being
/// deserialized. The count reaches the model through a thread-local set for
/// the duration of one file's parse: `ApiId` marks the API's line, and the
/// key of each part of an API (`RouteKey`, `AuthorizerId`, `IntegrationId`,
/// `StageName`) marks the part's line; the skipped `origin`/`line` fields
/// take the mark when their object is complete. Parts never nest in one
/// another, so one mark serves them all. Parsed from a string (diagnostics,
/// tests), nothing is tracked and lines are unknown.
mod position {
    use std::cell::{Cell, RefCell};
    use std::io::{self, Read};
    use std::rc::Rc;
    use std::sync::Arc;

    use serde::{Deserialize, Deserializer};

    use super::{Line, Location, Origin};

    struct Tracker {
        line: Rc<Cell<u32>>,
        path: Arc<str>,
        /// The line of the key of the route, authorizer, integration or
        /// stage being read.
        part: Cell<Option<u32>>,
        api: Cell<Option<u32>>,
    }

    thread_local! {
        static TRACKER: RefCell<Option<Tracker>> = const { RefCell::new(None) };
    }

    /// Tracks lines until dropped.
    pub struct Tracking(());

    impl Drop for Tracking {
        fn drop(&mut self) {
            TRACKER.with(|t| t.borrow_mut().take());
        }
    }

    pub fn track(line: Rc<Cell<u32>>, path: Arc<str>) -> Tracking {
        TRACKER.with(|t| {
            *t.borrow_mut() = Some(Tracker {
                line,
                path,
                part: Cell::new(None),
                api: Cell::new(None),
            })
        });
        Tracking(())
    }

    fn mark(which: fn(&Tracker) -> &Cell<Option<u32>>) {
        TRACKER.with(|t| {
            if let Some(t) = &*t.borrow() {
                which(t).set(Some(t.line.get()));
            }
        });
    }

    /// `RouteKey`, `AuthorizerId`, `IntegrationId`, `StageName`.
    pub fn mark_part<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<T, D::Error> {
        mark(|t| &t.part);
        T::deserialize(d)
    }

    pub fn mark_api<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<T, D::Error> {
        mark(|t| &t.api);
        T::deserialize(d)
    }

    pub fn part_line() -> Line {
        Line(
            TRACKER.with(|t| t.borrow().as_ref().and_then(|t| t.part.take())),
            None,
        )
    }

    pub fn api_origin() -> Origin {
        Origin(TRACKER.with(|t| {
            let t = t.borrow();
            let t = t.as_ref()?;
            Some(Arc::new(Location {
                path: t.path.clone(),
                line: t.api.take()?,
                column: None,
            }))
        }))
    }

    /// A reader that counts the newlines it has handed out.
    pub struct Counting<R> {
        inner: R,
        pub line: Rc<Cell<u32>>,
    }

    impl<R> Counting<R> {
        pub fn new(inner: R) -> Self {
            Counting {
                inner,
                line: Rc::new(Cell::new(1)),
            }
        }
    }

    impl<R: Read> Read for Counting<R> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.inner.read(buf)?;
            let newlines = buf[..n].iter().filter(|b| **b == b'\n').count();
            if newlines > 0 {
                self.line
                    .set(self.line.get().saturating_add(newlines as u32));
            }
            Ok(n)
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
        /// get-routes output: its routes, and its `NextToken` if set.
        Items {
            routes: Vec<Route>,
            next_token: Option<String>,
        },
        /// Neither or both: the top-level keys, to say what it looks like.
        Other(Vec<String>),
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
            let (mut apis, mut items, mut next_token) = (false, None, None);
            let mut keys = Vec::new();
            let mut seen = std::collections::HashSet::new();
            while let Some(key) = map.next_key::<String>()? {
                // Two `Apis` (or `Items`) would be merged: an error instead.
                if !seen.insert(key.clone()) {
                    return Err(serde::de::Error::custom(format_args!(
                        "duplicate key `{key}`"
                    )));
                }
                match key.as_str() {
                    "Apis" => {
                        apis |= map.next_value_seed(Apis {
                            on_api: &mut *self.on_api,
                        })?
                    }
                    "Items" => items = map.next_value::<Option<Vec<Route>>>()?,
                    "NextToken" => next_token = map.next_value::<Option<String>>()?,
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                // Enough to say what the document looks like.
                if keys.len() < 32 {
                    keys.push(key);
                }
            }
            Ok(match (apis, items) {
                (true, None) => Shape::Apis,
                (false, Some(routes)) => Shape::Items { routes, next_token },
                _ => Shape::Other(keys),
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
            malformed(diags, file, &err);
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

/// Reports a document that does not parse as routes, at the parser's
/// position; JSON that is another listing (get-authorizers, get-stages, ...)
/// is named instead. Only a document that is JSON but not routes is probed,
/// and the probe keeps the first item's keys alone.
fn malformed(diags: &mut Diagnostics, file: FileId, err: &serde_json::Error) {
    let text = diags.source(file);
    let probe = (err.classify() == serde_json::error::Category::Data)
        .then(|| serde_json::from_str::<probe::Probe>(text).ok())
        .flatten();
    if let Some(what) = probe
        .and_then(|p| p.items)
        .and_then(|first| not_a_route(&first.0))
    {
        diags.push(
            file,
            0..0,
            format!("this looks like {what}, not routes: give the output of `aws apigatewayv2 get-routes` or a fleet file"),
            "expected {\"Items\": [...]} of routes (aws apigatewayv2 get-routes output)",
        );
        return;
    }
    let offset = crate::diag::offset_of(text, err.line(), err.column());
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
    fn a_key_given_twice_is_an_error_not_a_merge() {
        for (text, expected) in [
            (
                r#"{"Apis": [], "Apis": [{"ApiId": "b", "Routes": []}]}"#,
                "duplicate field `Apis`",
            ),
            (
                r#"{"Apis": [{"ApiId": "a", "Tags": {"env": "dev", "env": "prod"}}]}"#,
                "duplicate key `env`",
            ),
            (
                r#"{"Items": [{"RouteKey": "GET /", "RequestModels": {"m": "a", "m": "b"}}]}"#,
                "duplicate key `m`",
            ),
            (
                r#"{"Items": [{"RouteKey": "GET /", "AuthorizationType": "JWT", "AuthorizationType": "NONE"}]}"#,
                "duplicate field `AuthorizationType`",
            ),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains(expected), "{text}: {err}");
        }
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
    /// A v2 fleet file: the API's settings and every part, one key a line.
    const V2: &str = r#"{
  "Apis": [
    {
      "ApiId": "a1",
      "ApiEndpoint": "https://a1.execute-api.eu-west-1.amazonaws.com",
      "DisableExecuteApiEndpoint": true,
      "IpAddressType": "dualstack",
      "RouteSelectionExpression": "$request.method $request.path",
      "CorsConfiguration": { "AllowOrigins": ["https://app.example"], "MaxAge": 300 },
      "Routes": [
        { "RouteKey": "GET /pets", "AuthorizationType": "JWT", "AuthorizerId": "abc1" }
      ],
      "Authorizers": [
        {
          "AuthorizerId": "abc1",
          "Name": "cognito",
          "AuthorizerType": "JWT",
          "JwtConfiguration": { "Audience": ["api"], "Issuer": "https://issuer.example" }
        }
      ],
      "Integrations": [
        {
          "IntegrationId": "int1",
          "IntegrationType": "HTTP_PROXY",
          "TimeoutInMillis": 30000,
          "RequestParameters": { "append:header.x": "$context.requestId" },
          "TlsConfig": { "ServerNameToVerify": "backend.example" }
        }
      ],
      "Stages": [
        {
          "StageName": "$default",
          "AutoDeploy": true
        },
        {
          "StageName": "prod",
          "AccessLogSettings": { "DestinationArn": "arn:aws:logs:eu-west-1:1:log-group:a" },
          "DefaultRouteSettings": { "LoggingLevel": "INFO", "ThrottlingRateLimit": 100.5 },
          "Tags": { "env": "prod" }
        }
      ]
    }
  ]
}
"#;

    fn stream_file(text: &str) -> Result<Vec<Api>, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fleet.json");
        std::fs::write(&path, text).unwrap();
        let mut diags = Diagnostics::new();
        load_routes_file(&mut diags, &path)
            .map(|(apis, _)| apis)
            .ok_or_else(|| diags.render(false))
    }

    #[test]
    fn a_v2_fleet_file_carries_settings_and_parts_with_their_lines() {
        let apis = stream_file(V2).unwrap();
        let api = &apis[0];
        assert_eq!(api.ip_address_type.as_deref(), Some("dualstack"));
        assert_eq!(api.disable_execute_api_endpoint, Some(true));
        assert_eq!(api.cors_configuration.as_ref().unwrap().max_age, Some(300));
        let authorizer = &api.authorizers.as_ref().unwrap()[0];
        assert_eq!(authorizer.line.0, Some(15), "the AuthorizerId line");
        assert_eq!(
            authorizer
                .jwt_configuration
                .as_ref()
                .unwrap()
                .audience
                .as_deref(),
            Some(&["api".to_owned()][..])
        );
        let integration = &api.integrations.as_ref().unwrap()[0];
        assert_eq!(integration.line.0, Some(23));
        assert_eq!(integration.timeout_in_millis, Some(30000));
        let stages = api.stages.as_ref().unwrap();
        assert_eq!(
            stages.iter().map(|s| s.line.0).collect::<Vec<_>>(),
            [Some(32), Some(36)]
        );
        let at = api.location_of_stage(&stages[1]).unwrap();
        assert!(at.path.ends_with("fleet.json") && at.line == 36, "{at:?}");
        assert_eq!(api.location_of(&api.routes[0]).unwrap().line, 11);
        let settings = stages[1].default_route_settings.as_ref().unwrap();
        assert_eq!(settings.throttling_rate_limit, Some(100.5));
        let parts = Needs {
            account_tags: false,
            ..Needs::ALL
        };
        assert_eq!(Inventory { apis: apis.clone() }.needs(), parts);
        // Written back (lines are not written) and read again: the same.
        let inventory = Inventory { apis };
        assert_eq!(stream_file(&inventory.to_json()).unwrap(), inventory.apis);
        assert!(!inventory.to_json().contains("Line"));
    }

    #[test]
    fn a_v1_fleet_file_reads_with_its_parts_unread() {
        let apis =
            parse(r#"{"Apis": [{"ApiId": "a1", "Routes": [{"RouteKey": "GET /"}]}]}"#).unwrap();
        let api = &apis[0];
        assert_eq!(
            (&api.authorizers, &api.integrations, &api.stages),
            (&None, &None, &None)
        );
        assert_eq!(api.api_endpoint, None);
        assert_eq!(Inventory { apis }.needs(), Needs::default());
        let empty =
            parse(r#"{"Apis": [{"ApiId": "a1", "Stages": [], "Authorizers": null}]}"#).unwrap();
        assert_eq!(empty[0].stages, Some(Vec::new()), "read, and none");
        assert_eq!(empty[0].authorizers, None, "null is absent");
    }

    #[test]
    fn malformed_parts_are_errors_at_their_position() {
        for (text, expected) in [
            (
                "{\"Apis\": [{\"ApiId\": \"a\",\n \"Authorizers\": [{\"Name\": \"n\"}]}]}",
                "fleet.json:2:30 malformed fleet file: missing field `AuthorizerId`",
            ),
            (
                "{\"Apis\": [{\"ApiId\": \"a\",\n \"Stages\": [{\"StageName\": 7}]}]}",
                "fleet.json:2:27 malformed fleet file: invalid type: integer `7`, expected a string",
            ),
            (
                "{\"Apis\": [{\"ApiId\": \"a\",\n \"Integrations\": {\"IntegrationId\": \"i\"}}]}",
                "fleet.json:2:17 malformed fleet file: invalid type: map, expected a sequence",
            ),
            (
                "{\"Apis\": [{\"ApiId\": \"a\",\n \"Stages\": [{\"StageName\": \"p\", \"Tags\": {\"env\": \"dev\", \"env\": \"prod\"}}]}]}",
                "fleet.json:2:59 malformed fleet file: duplicate key `env`",
            ),
            (
                "{\"Apis\": [{\"ApiId\": \"a\",\n \"Integrations\": [{\"IntegrationId\": \"i\", \"RequestParameters\": {\"h\": \"a\", \"h\": \"b\"}}]}]}",
                "fleet.json:2:76 malformed fleet file: duplicate key `h`",
            ),
            (
                "{\"Apis\": [{\"ApiId\": \"a\",\n \"Authorizers\": [{\"AuthorizerId\": \"x\", \"AuthorizerId\": \"y\"}]}]}",
                "fleet.json:2:53 malformed fleet file: duplicate field `AuthorizerId`",
            ),
            (
                "{\"Apis\": [{\"ApiId\": \"a\",\n \"Stages\": [{\"StageName\": \"p\", \"DefaultRouteSettings\": {\"ThrottlingBurstLimit\": 1.5}}]}]}",
                "fleet.json:2:83 malformed fleet file: invalid type: floating point `1.5`, expected i64",
            ),
        ] {
            assert_eq!(parse(text).unwrap_err(), expected, "{text}");
        }
    }

    #[test]
    fn listings_of_other_parts_are_not_routes() {
        for (items, says) in [
            (
                r#"{"AuthorizerId": "a", "AuthorizerType": "JWT"}"#,
                "an authorizer",
            ),
            (
                r#"{"IntegrationId": "i", "IntegrationType": "AWS_PROXY"}"#,
                "an integration",
            ),
            (r#"{"StageName": "prod", "AutoDeploy": true}"#, "a stage"),
        ] {
            let text = format!("{{\"Items\": [{items}]}}");
            let err = parse(&text).unwrap_err();
            assert!(err.contains(&format!("this looks like {says}")), "{err}");
            let err = stream_file(&text).unwrap_err();
            assert!(err.contains(&format!("this looks like {says}")), "{err}");
        }
    }

    #[test]
    fn fingerprints_tell_what_differs() {
        let apis = parse(V2).unwrap();
        let api = &apis[0];
        assert_eq!(api.fingerprint(), api.clone().fingerprint());
        let mut reordered = api.clone();
        reordered.stages.as_mut().unwrap().reverse();
        reordered.stages.as_mut().unwrap()[0].line = Line(Some(99), None);
        assert_eq!(
            api.fingerprint(),
            reordered.fingerprint(),
            "order and lines aside"
        );
        let mut other = api.clone();
        other.stages.as_mut().unwrap()[1].access_log_settings = None;
        other.authorizers = None;
        assert_eq!(
            api.fingerprint().differences(&other.fingerprint()),
            ["authorizers", "stages"]
        );
        let mut other = api.clone();
        other.integrations = Some(Vec::new());
        other.description = Some("d".into());
        assert_eq!(
            api.fingerprint().differences(&other.fingerprint()),
            ["API fields", "integrations"]
        );
    }
}

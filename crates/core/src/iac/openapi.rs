//! OpenAPI 3 definitions with the API Gateway extensions, read as API
//! Gateway imports them into an HTTP API: standalone (as `aws apigatewayv2
//! export-api` writes them) or inline in a template's `Body` /
//! `DefinitionBody` or a Terraform `body`.
//!
//! What becomes part of the API is read: `paths` and their operations
//! (routes), `security` with `components.securitySchemes` (authorizers and
//! each route's authorization), `x-amazon-apigateway-integration`,
//! `x-amazon-apigateway-cors`, tags and `info`. Schemas, parameters and
//! responses are not: HTTP APIs ignore them on import.

use std::collections::BTreeMap;
use std::path::Path;

use super::cfn::Unknowns;
use super::node::{Key, Node, Value};
use super::{Doc, Read, mark};
use crate::inventory::{
    Api, Authorizer, Cors, Integration, JwtConfiguration, Line, Part, Route, TlsConfig,
};

/// OpenAPI 3's operations, as a path item names them.
const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];
/// API Gateway's catch-all operation: the `ANY` method.
const ANY_METHOD: &str = "x-amazon-apigateway-any-method";
const AUTHORIZER: &str = "x-amazon-apigateway-authorizer";
const INTEGRATION: &str = "x-amazon-apigateway-integration";

/// The policy fields of an API's CORS configuration.
pub(super) const CORS_FIELDS: &[&str] = &[
    "api.cors.allow_credentials",
    "api.cors.allow_headers",
    "api.cors.allow_methods",
    "api.cors.allow_origins",
    "api.cors.expose_headers",
    "api.cors.max_age",
];

/// What decides a route's authorization.
const AUTHORIZATION_FIELDS: &[&str] = &[
    "authorization_type",
    "authorizer_id",
    "authorization_scopes",
];

/// A standalone definition: one API, named by its `info.title` (the file's
/// stem where the title is missing or not known).
pub fn read(doc: &mut Doc, root: &Node, read: &mut Read) {
    let body = unresolved(root);
    let title = body
        .get("info")
        .and_then(|info| info.get("title"))
        .and_then(Node::text);
    let id = match title {
        Some(title) => title.to_owned(),
        None => Path::new(&*doc.path)
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_else(|| doc.path.to_string()),
    };
    let mut api = Api {
        api_id: id.into(),
        target_name: Some(doc.path.clone()),
        authorizers: Some(Vec::new()),
        integrations: Some(Vec::new()),
        stages: Some(Vec::new()),
        // Its first key: a YAML mapping's own mark is after it.
        origin: doc.origin(root.entries().first().map_or(root.at, |(k, _)| k.at)),
        ..Api::default()
    };
    build(doc, &body, &mut api);
    read.apis.push(api);
}

/// A standalone file's CloudFormation functions (`{"Fn::Sub": ...}`,
/// `{"Ref": ...}`, short-form tags): such a file is written for SAM's
/// `AWS::Include`, whose template resolves them at deploy; read alone, they
/// are unknown.
fn unresolved(node: &Node) -> Node {
    if node.unknown_reason().is_some() {
        return node.clone();
    }
    if let Some(tag) = node.tag.as_deref() {
        return Node::unknown(
            format!("!{tag} is resolved by CloudFormation at deploy"),
            node.at,
        );
    }
    let value = match &node.value {
        Value::Map(entries) => {
            if let [(key, _)] = entries.as_slice()
                && (&*key.name == "Ref" || key.name.starts_with("Fn::"))
            {
                return Node::unknown(
                    format!("{} is resolved by CloudFormation at deploy", key.name),
                    node.at,
                );
            }
            Value::Map(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), unresolved(v)))
                    .collect(),
            )
        }
        Value::Seq(items) => Value::Seq(items.iter().map(unresolved).collect()),
        _ => return node.clone(),
    };
    Node::new(value, node.at)
}

/// Fills an API's routes, authorizers, integrations and CORS from a
/// resolved OpenAPI body. What the API's own properties already say (its
/// name, CORS) is kept.
pub fn build(doc: &mut Doc, body: &Node, api: &mut Api) {
    let paths = match body.get("paths") {
        Some(paths) if paths.is_map() || paths.unknown_reason().is_some() => paths,
        paths => {
            // Where `paths` is written, else where the definition starts (its
            // first key: a YAML mapping's own mark is after it).
            let at = match (paths, body.entries().first()) {
                (Some(paths), _) => paths.at,
                (None, Some((key, _))) => key.at,
                (None, None) => body.at,
            };
            doc.error(
                at,
                "an OpenAPI definition without paths",
                "API Gateway makes routes of `paths`: a mapping of paths to operations",
            );
            return;
        }
    };
    read_info(body, api);
    read_cors(body, api);
    // Components not known before deploy stand for their schemes: a
    // security requirement then names a scheme that may exist.
    let schemes = body
        .get("components")
        .and_then(|c| match c.unknown_reason() {
            Some(_) => Some(c),
            None => c.get("securitySchemes"),
        });
    for (key, scheme) in schemes.map_or(&[][..], Node::entries) {
        if let Some(ext) = scheme.get(AUTHORIZER) {
            let authorizer = authorizer_of(&key.name, ext, doc.line(key.at), api);
            api.authorizers
                .get_or_insert_with(Vec::new)
                .push(authorizer);
        }
    }
    if let Some(reason) = paths.unknown_reason() {
        unknown_routes(
            api,
            "(paths not known before deploy)",
            reason,
            doc.line(paths.at),
        );
        return;
    }
    let security = body.get("security");
    for (path, item) in paths.entries() {
        if let Some(reason) = item.unknown_reason() {
            let key = format!("{} (methods not known before deploy)", path.name);
            unknown_routes(api, &key, reason, doc.line(path.at));
            continue;
        }
        for (method, operation) in item.entries() {
            let Some(route_key) = route_key(&path.name, &method.name, operation) else {
                continue;
            };
            let route = route_of(
                doc,
                body,
                &route_key,
                (method, operation),
                security,
                schemes,
                api,
            );
            api.routes.push(route);
        }
    }
}

/// `info` and API-level extensions: what the API's own properties leave
/// unset.
fn read_info(body: &Node, api: &mut Api) {
    let info = body.get("info");
    let mut unknown = Unknowns::default();
    if unset(api, "api.name", api.name.is_none()) {
        api.name = info
            .and_then(|i| unknown.string(i, "title", "api.name"))
            .map(Into::into);
    }
    if unset(api, "api.version", api.version.is_none()) {
        api.version = info.and_then(|i| unknown.string(i, "version", "api.version"));
    }
    if unset(api, "api.description", api.description.is_none()) {
        api.description = info.and_then(|i| unknown.string(i, "description", "api.description"));
    }
    // Only HTTP APIs are imported from OpenAPI.
    api.protocol_type.get_or_insert_with(|| "HTTP".into());
    if unset(
        api,
        "api.disable_execute_api_endpoint",
        api.disable_execute_api_endpoint.is_none(),
    ) {
        let endpoint = body
            .get("servers")
            .map_or(&[][..], Node::items)
            .iter()
            .find_map(|server| server.get("x-amazon-apigateway-endpoint-configuration"));
        if let Some(endpoint) = endpoint {
            api.disable_execute_api_endpoint = unknown.boolean(
                endpoint,
                "disableExecuteApiEndpoint",
                "api.disable_execute_api_endpoint",
            );
        }
    }
    // OpenAPI's `tags` group operations; those with a value are the API's.
    for tag in body.get("tags").map_or(&[][..], Node::items) {
        let (Some(name), Some(value)) = (
            tag.get("name").and_then(Node::text),
            tag.get("x-amazon-apigateway-tag-value"),
        ) else {
            continue;
        };
        match value.unknown_reason() {
            Some(reason) => unknown.note("api.tags", reason.to_owned(), false),
            None => {
                api.tags
                    .get_or_insert_with(BTreeMap::new)
                    .entry(name.to_owned())
                    .or_insert_with(|| value.text().unwrap_or_default().to_owned());
            }
        }
    }
    unknown.mark_on(api, Part::Api, "");
}

/// Whether an API field is neither set nor marked unknown by the API's own
/// properties, so that the body may fill it.
fn unset(api: &Api, field: &str, none: bool) -> bool {
    none && !api
        .unknown
        .iter()
        .any(|u| u.part == Part::Api && u.field == field)
}

/// `x-amazon-apigateway-cors`, unless the API's own properties configure
/// CORS.
fn read_cors(body: &Node, api: &mut Api) {
    let Some(cors) = body.get("x-amazon-apigateway-cors") else {
        return;
    };
    if api.cors_configuration.is_some() {
        return;
    }
    if let Some(reason) = cors.unknown_reason() {
        for field in CORS_FIELDS {
            mark(api, Part::Api, "", *field, reason);
        }
        return;
    }
    let mut unknown = Unknowns::default();
    api.cors_configuration = Some(Cors {
        allow_credentials: unknown.boolean(cors, "allowCredentials", "api.cors.allow_credentials"),
        allow_headers: unknown.strings(cors, "allowHeaders", "api.cors.allow_headers"),
        allow_methods: unknown.strings(cors, "allowMethods", "api.cors.allow_methods"),
        allow_origins: unknown.strings(cors, "allowOrigins", "api.cors.allow_origins"),
        expose_headers: unknown.strings(cors, "exposeHeaders", "api.cors.expose_headers"),
        max_age: unknown.integer(cors, "maxAge", "api.cors.max_age"),
    });
    unknown.mark_on(api, Part::Api, "");
}

/// A security scheme's authorizer (`x-amazon-apigateway-authorizer`): its
/// id and name are the scheme's name, as API Gateway imports it.
fn authorizer_of(id: &str, ext: &Node, line: Line, api: &mut Api) -> Authorizer {
    let mut unknown = Unknowns::default();
    if let Some(reason) = ext.unknown_reason() {
        unknown.note("*", reason.to_owned(), false);
    }
    let jwt = ext.get("jwtConfiguration");
    if let Some(reason) = jwt.and_then(Node::unknown_reason) {
        unknown.note("authorizer.jwt.audience", reason.to_owned(), false);
        unknown.note("authorizer.jwt.issuer", reason.to_owned(), false);
    }
    let authorizer = Authorizer {
        authorizer_id: id.to_owned(),
        name: Some(id.to_owned()),
        authorizer_type: unknown
            .string(ext, "type", "authorizer.type")
            .map(|t| t.to_ascii_uppercase()),
        // One string of comma-separated sources in the extension; a list
        // in the API.
        identity_source: unknown
            .strings(ext, "identitySource", "authorizer.identity_source")
            .map(|sources| {
                sources
                    .iter()
                    .flat_map(|s| s.split(','))
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            }),
        jwt_configuration: jwt.map(|jwt| JwtConfiguration {
            audience: unknown.strings(jwt, "audience", "authorizer.jwt.audience"),
            issuer: unknown.string(jwt, "issuer", "authorizer.jwt.issuer"),
        }),
        authorizer_uri: unknown.string(ext, "authorizerUri", "authorizer.uri"),
        authorizer_credentials_arn: unknown.string(
            ext,
            "authorizerCredentials",
            "authorizer.credentials_arn",
        ),
        authorizer_payload_format_version: unknown.string(
            ext,
            "authorizerPayloadFormatVersion",
            "authorizer.payload_format_version",
        ),
        identity_validation_expression: unknown.string(
            ext,
            "identityValidationExpression",
            "authorizer.identity_validation_expression",
        ),
        authorizer_result_ttl_in_seconds: unknown.integer(
            ext,
            "authorizerResultTtlInSeconds",
            "authorizer.result_ttl_seconds",
        ),
        enable_simple_responses: unknown.boolean(
            ext,
            "enableSimpleResponses",
            "authorizer.enable_simple_responses",
        ),
        line,
    };
    unknown.mark_on(api, Part::Authorizer, id);
    authorizer
}

/// The route key of a path item's entry; `None` for entries that are not
/// operations (`parameters`, `summary`, `servers`, other extensions).
fn route_key(path: &str, method: &str, operation: &Node) -> Option<String> {
    if method == ANY_METHOD {
        let default = operation
            .get("isDefaultRoute")
            .and_then(Node::boolean)
            .unwrap_or(false);
        return Some(if default {
            "$default".to_owned()
        } else {
            format!("ANY {path}")
        });
    }
    METHODS
        .contains(&method)
        .then(|| format!("{} {path}", method.to_ascii_uppercase()))
}

/// A route whose key is known but nothing else (its operation is not known
/// before deploy), or a stand-in for routes that cannot be listed: every
/// field unknown, so every rule on it is indeterminate rather than passed.
fn unknown_routes(api: &mut Api, route_key: &str, reason: &str, line: Line) {
    mark(api, Part::Route, route_key, "*", reason);
    api.routes.push(Route {
        route_key: route_key.to_owned(),
        line,
        ..Route::default()
    });
}

/// One operation as a route, with its integration added to the API.
fn route_of(
    doc: &mut Doc,
    body: &Node,
    route_key: &str,
    (method, operation): (&Key, &Node),
    security: Option<&Node>,
    schemes: Option<&Node>,
    api: &mut Api,
) -> Route {
    let line = doc.line(method.at);
    let mut unknown = Unknowns::default();
    if let Some(reason) = operation.unknown_reason() {
        for field in AUTHORIZATION_FIELDS
            .iter()
            .chain(&["operation_name", "target"])
        {
            unknown.note(field, reason.to_owned(), false);
        }
        unknown.mark_on(api, Part::Route, route_key);
        return Route {
            route_key: route_key.to_owned(),
            line,
            ..Route::default()
        };
    }
    let security = operation.get("security").or(security);
    let (authorization_type, authorizer_id, authorization_scopes) =
        authorization(doc, security, schemes, &mut unknown);
    let target = operation.get(INTEGRATION).and_then(|ext| {
        let integration = integration_of(doc, body, route_key, ext, api)?;
        let target = format!("integrations/{}", integration.integration_id);
        api.integrations
            .get_or_insert_with(Vec::new)
            .push(integration);
        Some(target)
    });
    let route = Route {
        route_key: route_key.to_owned(),
        authorization_type,
        authorizer_id,
        authorization_scopes,
        operation_name: unknown.string(operation, "operationId", "operation_name"),
        target,
        line,
        ..Route::default()
    };
    unknown.mark_on(api, Part::Route, route_key);
    route
}

/// How a security scheme authorizes the routes that name it.
enum Scheme {
    None,
    Iam,
    Jwt,
    Custom,
    Unknown(String),
}

/// A route's authorization type, authorizer and scopes, from the first
/// security requirement that applies (HTTP API routes have one authorizer;
/// OpenAPI's alternatives beyond the first are not imported).
fn authorization(
    doc: &mut Doc,
    security: Option<&Node>,
    schemes: Option<&Node>,
    unknown: &mut Unknowns,
) -> (Option<String>, Option<String>, Option<Vec<String>>) {
    let none = (Some("NONE".to_owned()), None, None);
    let Some(security) = security else {
        return none;
    };
    let whole = security
        .unknown_reason()
        .or_else(|| security.items().first().and_then(Node::unknown_reason));
    if let Some(reason) = whole {
        for field in AUTHORIZATION_FIELDS {
            unknown.note(field, reason.to_owned(), false);
        }
        return (None, None, None);
    }
    let Some(requirement) = security.items().first() else {
        return none;
    };
    if security.items().len() > 1 || requirement.entries().len() > 1 {
        tracing::warn!(
            file = %doc.path,
            line = doc.line(security.at).0,
            "several security requirements: API Gateway routes take one authorizer, the first"
        );
    }
    // `{}`: anonymous access.
    let Some((name, scopes)) = requirement.entries().first() else {
        return none;
    };
    let scheme = match (
        schemes.and_then(|s| s.get(&name.name)),
        schemes.and_then(Node::unknown_reason),
    ) {
        (Some(scheme), _) => scheme_of(&name.name, scheme),
        // How SAM writes `Auth: {Authorizer: NONE}`.
        (None, _) if &*name.name == "NONE" => Scheme::None,
        (None, Some(reason)) => Scheme::Unknown(reason.to_owned()),
        (None, None) => {
            doc.error(
                name.at,
                format!(
                    "`security` names `{}`, which `components.securitySchemes` does not define",
                    name.name
                ),
                "a reference to a security scheme that does not exist",
            );
            Scheme::Unknown(format!("security scheme {} does not exist", name.name))
        }
    };
    let scopes = match scopes.unknown_reason() {
        Some(reason) => {
            unknown.note("authorization_scopes", reason.to_owned(), false);
            None
        }
        None => {
            let mut list = Vec::new();
            for scope in scopes.items() {
                match scope.unknown_reason() {
                    Some(reason) => unknown.note("authorization_scopes", reason.to_owned(), false),
                    None => list.extend(scope.text().map(str::to_owned)),
                }
            }
            (!list.is_empty()).then_some(list)
        }
    };
    let id = Some(name.name.to_string());
    match scheme {
        Scheme::None => none,
        Scheme::Iam => (Some("AWS_IAM".to_owned()), None, None),
        Scheme::Jwt => (Some("JWT".to_owned()), id, scopes),
        Scheme::Custom => (Some("CUSTOM".to_owned()), id, scopes),
        Scheme::Unknown(reason) => {
            unknown.note("authorization_type", reason, false);
            (None, id, scopes)
        }
    }
}

/// A security scheme as API Gateway's HTTP API import reads it: an
/// `x-amazon-apigateway-authorizer` of type `jwt` or `request`, or IAM
/// (`x-amazon-apigateway-authtype: awsSigv4`). A plain OpenAPI scheme
/// (`apiKey`, `http`, `oauth2`, `openIdConnect` without either extension)
/// does not say how API Gateway guards the route: unknown, never assumed
/// open or closed.
fn scheme_of(name: &str, scheme: &Node) -> Scheme {
    if let Some(reason) = scheme.unknown_reason() {
        return Scheme::Unknown(reason.to_owned());
    }
    if let Some(ext) = scheme.get(AUTHORIZER) {
        let kind = ext.get("type");
        if let Some(reason) = ext
            .unknown_reason()
            .or_else(|| kind.and_then(Node::unknown_reason))
        {
            return Scheme::Unknown(reason.to_owned());
        }
        return match kind.and_then(Node::text) {
            Some(k) if k.eq_ignore_ascii_case("jwt") => Scheme::Jwt,
            Some(k) if k.eq_ignore_ascii_case("request") => Scheme::Custom,
            Some(k) => Scheme::Unknown(format!(
                "authorizer {name} has type {k}, which HTTP APIs do not take (jwt or request)"
            )),
            None => Scheme::Unknown(format!("authorizer {name} has no type")),
        };
    }
    let authtype = scheme.get("x-amazon-apigateway-authtype");
    if let Some(reason) = authtype.and_then(Node::unknown_reason) {
        return Scheme::Unknown(reason.to_owned());
    }
    if authtype
        .and_then(Node::text)
        .is_some_and(|t| t.eq_ignore_ascii_case("awsSigv4"))
    {
        return Scheme::Iam;
    }
    Scheme::Unknown(format!(
        "security scheme {name} is neither an API Gateway authorizer nor IAM (awsSigv4), so the definition does not say how API Gateway authorizes its routes"
    ))
}

/// An operation's integration, its id the route key; `$ref`s to
/// `components.x-amazon-apigateway-integrations` followed.
fn integration_of(
    doc: &mut Doc,
    body: &Node,
    route_key: &str,
    ext: &Node,
    api: &mut Api,
) -> Option<Integration> {
    let ext = match ext.get("$ref") {
        Some(reference) => match reference.text().and_then(|r| pointer(body, r)) {
            Some(target) => target,
            None => {
                doc.error(
                    reference.at,
                    format!(
                        "`$ref` {} names nothing in this definition",
                        reference.text().unwrap_or("(not a string)")
                    ),
                    "integrations are referenced as #/components/x-amazon-apigateway-integrations/NAME",
                );
                return None;
            }
        },
        None => ext,
    };
    let line = doc.line(ext.at);
    let mut unknown = Unknowns::default();
    if let Some(reason) = ext.unknown_reason() {
        unknown.note("*", reason.to_owned(), false);
    }
    let integration = Integration {
        integration_id: route_key.to_owned(),
        // `aws_proxy` in the extension, `AWS_PROXY` in the API.
        integration_type: unknown
            .string(ext, "type", "integration.type")
            .map(|t| t.to_ascii_uppercase()),
        connection_type: unknown.string(ext, "connectionType", "integration.connection_type"),
        integration_uri: unknown.string(ext, "uri", "integration.uri"),
        integration_method: unknown.string(ext, "httpMethod", "integration.method"),
        connection_id: unknown.string(ext, "connectionId", "integration.connection_id"),
        credentials_arn: unknown.string(ext, "credentials", "integration.credentials_arn"),
        payload_format_version: unknown.string(
            ext,
            "payloadFormatVersion",
            "integration.payload_format_version",
        ),
        integration_subtype: unknown.string(ext, "integrationSubtype", "integration.subtype"),
        tls_config: ext.get("tlsConfig").map(|tls| TlsConfig {
            server_name_to_verify: unknown.string(
                tls,
                "serverNameToVerify",
                "integration.tls.server_name_to_verify",
            ),
        }),
        timeout_in_millis: unknown.integer(ext, "timeoutInMillis", "integration.timeout_ms"),
        request_parameters: unknown.string_map(
            ext,
            "requestParameters",
            "integration.request_parameters",
        ),
        line,
    };
    unknown.mark_on(api, Part::Integration, route_key);
    Some(integration)
}

/// A local JSON pointer (`#/components/...`) in the definition; where it
/// passes through a value not known before deploy, that value.
fn pointer<'n>(body: &'n Node, reference: &str) -> Option<&'n Node> {
    let mut node = body;
    for segment in reference.strip_prefix("#/")?.split('/') {
        if node.unknown_reason().is_some() {
            break;
        }
        node = node.get(&segment.replace("~1", "/").replace("~0", "~"))?;
    }
    Some(node)
}

#[cfg(test)]
mod tests;

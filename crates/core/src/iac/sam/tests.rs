use std::path::{Path, PathBuf};

use super::*;
use crate::diag::Diagnostics;
use crate::iac::node::{parse_json, parse_yaml};
use crate::iac::{Options, Read};
use crate::inventory::Route;

/// Reads a template as `--iac` does: the serverless APIs and the
/// `AWS::ApiGatewayV2` parts.
fn apis(text: &str) -> (Read, Diagnostics) {
    crate::iac::read_text("t.yaml", text, &Options::default())
}

fn api<'r>(read: &'r Read, id: &str) -> &'r Api {
    read.apis
        .iter()
        .find(|a| &*a.api_id == id)
        .unwrap_or_else(|| panic!("no API {id} in {:?}", read.apis))
}

fn route<'a>(api: &'a Api, key: &str) -> &'a Route {
    api.routes
        .iter()
        .find(|r| r.route_key == key)
        .unwrap_or_else(|| panic!("no route {key} in {:?}", api.routes))
}

/// Authorization type, authorizer and scopes, as one comparable value.
fn auth(route: &Route) -> (Option<&str>, Option<&str>, Option<Vec<&str>>) {
    (
        route.authorization_type.as_deref(),
        route.authorizer_id.as_deref(),
        route
            .authorization_scopes
            .as_ref()
            .map(|s| s.iter().map(String::as_str).collect()),
    )
}

/// The line of the first occurrence of `needle` in `text`.
fn line_of(text: &str, needle: &str) -> u32 {
    let at = text.find(needle).unwrap();
    text[..at].matches('\n').count() as u32 + 1
}

const FUNCTION: &str = "    Type: AWS::Serverless::Function
    Properties:
      Runtime: nodejs22.x
      Handler: index.handler
      InlineCode: exports.handler = async () => ({})
";

/// One function with the given events (YAML, indented for `Events:`).
fn function(name: &str, events: &str) -> String {
    format!("  {name}:\n{FUNCTION}      Events:\n{events}")
}

const SAM: &str = "Transform: AWS::Serverless-2016-10-31\n";

#[test]
fn the_default_authorizer_covers_routes_that_name_none() {
    let text = format!(
        "{SAM}Resources:
  Orders:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: Jwt
        Authorizers:
          Jwt:
            IdentitySource: $request.header.Authorization
            AuthorizationScopes: [orders/read]
            JwtConfiguration:
              issuer: https://auth.example.com/
              Audience: [orders]
          Partners:
            IdentitySource: $request.header.X-Partner
            JwtConfiguration: {{issuer: https://partners.example.com/, audience: [partners]}}
{}{}",
        function(
            "List",
            "        ListOrders:
          Type: HttpApi
          Properties: {ApiId: !Ref Orders, Path: /orders, Method: get}
        CreateOrder:
          Type: HttpApi
          Properties:
            ApiId: !Ref Orders
            Path: /orders
            Method: POST
            Auth:
              AuthorizationScopes: [orders/write]
        Health:
          Type: HttpApi
          Properties:
            ApiId: !Ref Orders
            Path: /health
            Method: ANY
            Auth: {Authorizer: NONE}
",
        ),
        function(
            "Partner",
            "        PartnerOrders:
          Type: HttpApi
          Properties:
            ApiId: !Ref Orders
            Path: /partners/{id}
            Method: get
            Auth: {Authorizer: Partners}
",
        ),
    );
    let (read, diags) = apis(&text);
    assert!(diags.is_empty(), "{diags:?}");
    let orders = api(&read, "Orders");
    assert_eq!(orders.routes.len(), 4, "{:?}", orders.routes);
    // The authorizer's own scopes, where the event gives none.
    assert_eq!(
        auth(route(orders, "GET /orders")),
        (Some("JWT"), Some("Jwt"), Some(vec!["orders/read"]))
    );
    assert_eq!(
        auth(route(orders, "POST /orders")),
        (Some("JWT"), Some("Jwt"), Some(vec!["orders/write"]))
    );
    assert_eq!(
        auth(route(orders, "ANY /health")),
        (Some("NONE"), None, None)
    );
    assert_eq!(
        auth(route(orders, "GET /partners/{id}")),
        (Some("JWT"), Some("Partners"), None)
    );
    let authorizers = orders.authorizers.as_ref().unwrap();
    let jwt = authorizers
        .iter()
        .find(|a| a.authorizer_id == "Jwt")
        .unwrap();
    assert_eq!(jwt.authorizer_type.as_deref(), Some("JWT"));
    assert_eq!(
        jwt.identity_source,
        Some(vec!["$request.header.Authorization".to_owned()])
    );
    // SAM reads JwtConfiguration's keys in any case.
    let config = jwt.jwt_configuration.as_ref().unwrap();
    assert_eq!(config.audience, Some(vec!["orders".to_owned()]));
    assert_eq!(config.issuer.as_deref(), Some("https://auth.example.com/"));
    assert_eq!(authorizers.len(), 2);
    // Routes are where their events are written; the authorizer where it is.
    assert_eq!(
        route(orders, "POST /orders").line.0,
        Some(line_of(&text, "CreateOrder:"))
    );
    assert_eq!(jwt.line.0, Some(line_of(&text, "Jwt:\n")));
    // Every route has a Lambda proxy integration to its function, whose
    // ARN is not known yet.
    let route = route(orders, "GET /orders");
    let target = route
        .target
        .as_deref()
        .unwrap()
        .strip_prefix("integrations/");
    let integration = orders
        .integrations
        .iter()
        .flatten()
        .find(|i| Some(i.integration_id.as_str()) == target)
        .unwrap();
    assert_eq!(integration.integration_type.as_deref(), Some("AWS_PROXY"));
    assert_eq!(integration.payload_format_version.as_deref(), Some("2.0"));
    let uri = orders
        .unknown
        .iter()
        .find(|u| u.part == Part::Integration && u.field == "integration.uri")
        .unwrap();
    assert!(uri.reason.contains("function List"), "{uri:?}");
    // The API is named after the stack, which is not known before deploy.
    assert_eq!(orders.name, None);
    assert!(orders.unknown.iter().any(|u| u.field == "api.name"));
    let stage = &orders.stages.as_ref().unwrap()[0];
    assert_eq!(
        (stage.stage_name.as_str(), stage.auto_deploy),
        ("$default", Some(true))
    );
}

#[test]
fn events_without_an_api_make_the_implicit_one_with_globals() {
    let text = format!(
        "{SAM}Globals:
  HttpApi:
    CorsConfiguration: true
    Auth:
      DefaultAuthorizer: Team
      Authorizers:
        Team:
          IdentitySource: $request.header.Authorization
          JwtConfiguration: {{issuer: https://login.example.com/, audience: [team]}}
    AccessLogSettings:
      DestinationArn: arn:aws:logs:eu-west-1:111122223333:log-group:api
      Format: $context.requestId
Resources:
{}",
        function(
            "Profile",
            "        GetProfile:
          Type: HttpApi
          Properties: {Path: /profile, Method: get}
        Fallback:
          Type: HttpApi
        Ping:
          Type: HttpApi
          Properties: {Path: /ping, Method: get, Auth: {Authorizer: NONE}}
",
        ),
    );
    let (read, diags) = apis(&text);
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(read.apis.len(), 1);
    let implicit = api(&read, "ServerlessHttpApi");
    assert_eq!(
        auth(route(implicit, "GET /profile")),
        (Some("JWT"), Some("Team"), None)
    );
    // No path and no method: the $default route.
    assert_eq!(
        auth(route(implicit, "$default")),
        (Some("JWT"), Some("Team"), None)
    );
    assert_eq!(
        auth(route(implicit, "GET /ping")),
        (Some("NONE"), None, None)
    );
    // `CorsConfiguration: true` allows every origin.
    let cors = implicit.cors_configuration.as_ref().unwrap();
    assert_eq!(cors.allow_origins, Some(vec!["*".to_owned()]));
    let stage = &implicit.stages.as_ref().unwrap()[0];
    assert_eq!(
        stage
            .access_log_settings
            .as_ref()
            .and_then(|l| l.format.as_deref()),
        Some("$context.requestId")
    );
    // The implicit API is where its first event is written.
    let origin = implicit.origin.0.as_ref().unwrap();
    assert_eq!(origin.line, line_of(&text, "GetProfile:"));
}

#[test]
fn lambda_and_iam_authorizers() {
    let text = format!(
        "{SAM}Resources:
  Inventory:
    Type: AWS::Serverless::HttpApi
    Properties:
      Name: inventory
      StageName: v1
      Auth:
        EnableIamAuthorizer: true
        DefaultAuthorizer: ApiKey
        Authorizers:
          ApiKey:
            FunctionArn: !GetAtt Authorize.Arn
            FunctionInvokeRole: !GetAtt AuthorizeRole.Arn
            AuthorizerPayloadFormatVersion: 2.0
            EnableSimpleResponses: true
            Identity:
              Headers: [x-api-key]
              ReauthorizeEvery: 300
{}{}",
        function("Authorize", "        {}\n"),
        function(
            "Things",
            "        ListThings:
          Type: HttpApi
          Properties: {ApiId: !Ref Inventory, Path: /things, Method: get}
        Admin:
          Type: HttpApi
          Properties:
            ApiId: !Ref Inventory
            Path: /admin
            Method: post
            Auth: {Authorizer: AWS_IAM}
",
        ),
    );
    let (read, diags) = apis(&text);
    assert!(diags.is_empty(), "{diags:?}");
    let inventory = api(&read, "Inventory");
    assert_eq!(inventory.name.as_deref(), Some("inventory"));
    assert_eq!(
        auth(route(inventory, "GET /things")),
        (Some("CUSTOM"), Some("ApiKey"), None)
    );
    assert_eq!(
        auth(route(inventory, "POST /admin")),
        (Some("AWS_IAM"), None, None)
    );
    // IAM is no authorizer of the API.
    let authorizers = inventory.authorizers.as_ref().unwrap();
    assert_eq!(authorizers.len(), 1);
    let lambda = &authorizers[0];
    assert_eq!(lambda.authorizer_type.as_deref(), Some("REQUEST"));
    assert_eq!(
        lambda.identity_source,
        Some(vec!["$request.header.x-api-key".to_owned()])
    );
    assert_eq!(lambda.authorizer_result_ttl_in_seconds, Some(300));
    assert_eq!(lambda.enable_simple_responses, Some(true));
    assert_eq!(
        lambda.authorizer_payload_format_version.as_deref(),
        Some("2.0")
    );
    // The function's ARN, and the role SAM makes for it, are not known yet
    // (`AuthorizeRole` is not in the template: SAM's translation adds it).
    let unknown = |field: &str| {
        inventory
            .unknown
            .iter()
            .any(|u| u.part == Part::Authorizer && u.key == "ApiKey" && u.field == field)
    };
    assert!(unknown("authorizer.uri"));
    assert!(unknown("authorizer.credentials_arn"));
    assert_eq!(inventory.stages.as_ref().unwrap()[0].stage_name, "v1");
}

#[test]
fn a_definition_body_gets_the_events_and_the_default_authorizer() {
    let text = format!(
        "{SAM}Resources:
  Shop:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: Jwt
        Authorizers:
          Jwt:
            IdentitySource: $request.header.Authorization
            JwtConfiguration: {{issuer: https://auth.example.com/, audience: [shop]}}
      DefinitionBody:
        openapi: '3.0.1'
        info: {{title: shop, version: '1'}}
        paths:
          /catalog:
            get:
              x-amazon-apigateway-integration:
                type: http_proxy
                httpMethod: GET
                uri: https://catalog.example.com/
                payloadFormatVersion: '1.0'
          /docs:
            get:
              security: [{{Jwt: [docs]}}]
              x-amazon-apigateway-integration:
                type: http_proxy
                httpMethod: GET
                uri: https://docs.example.com/
                payloadFormatVersion: '1.0'
          /draft:
            get:
              responses: {{}}
  Extra:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref Shop
      RouteKey: GET /extra
{}",
        function(
            "Cart",
            "        Cart:
          Type: HttpApi
          Properties: {ApiId: !Ref Shop, Path: /cart, Method: post}
",
        ),
    );
    let (read, diags) = apis(&text);
    assert!(diags.is_empty(), "{diags:?}");
    let shop = api(&read, "Shop");
    // The body's title names the API.
    assert_eq!(shop.name.as_deref(), Some("shop"));
    // SAM gives the default authorizer to every integrated operation
    // without security, its own and the body's; an operation without an
    // integration keeps none.
    assert_eq!(
        auth(route(shop, "GET /catalog")),
        (Some("JWT"), Some("Jwt"), None)
    );
    assert_eq!(
        auth(route(shop, "GET /docs")),
        (Some("JWT"), Some("Jwt"), Some(vec!["docs"]))
    );
    assert_eq!(auth(route(shop, "GET /draft")), (Some("NONE"), None, None));
    assert_eq!(
        auth(route(shop, "POST /cart")),
        (Some("JWT"), Some("Jwt"), None)
    );
    // A plain route resource of the serverless API belongs to it; SAM's
    // default authorizer does not reach it (it is not in the body).
    assert_eq!(auth(route(shop, "GET /extra")), (Some("NONE"), None, None));
}

#[test]
fn an_api_defined_elsewhere_is_unread() {
    let (read, diags) = apis(&format!(
        "{SAM}Resources:
  Remote:
    Type: AWS::Serverless::HttpApi
    Properties:
      DefinitionUri: s3://bucket/api.yaml
"
    ));
    assert!(diags.is_empty(), "{diags:?}");
    assert!(read.apis.is_empty());
    assert_eq!(&*read.unread[0].api.api_id, "Remote");
    assert!(read.unread[0].reason.contains("DefinitionUri"));
}

#[test]
fn a_function_whose_condition_is_unknown_has_routes_that_may_not_exist() {
    let text = format!(
        "{SAM}Parameters:
  Env: {{Type: String}}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
Resources:
{}  Debug:
    Condition: IsProd
{}      Events:
        Debug:
          Type: HttpApi
          Properties: {{Path: /debug, Method: get}}
        Trace:
          Type: HttpApi
          Properties: {{Path: /trace, Method: get}}
",
        function(
            "Main",
            "        Main:
          Type: HttpApi
          Properties: {Path: /debug, Method: post}
",
        ),
        FUNCTION
    );
    let (read, diags) = apis(&text);
    assert!(diags.is_empty(), "{diags:?}");
    let implicit = api(&read, "ServerlessHttpApi");
    assert_eq!(
        auth(route(implicit, "POST /debug")),
        (Some("NONE"), None, None)
    );
    // Not passed, not violated: unknown. SAM makes the operation
    // conditional, and the path too where every operation on it is.
    assert_eq!(route(implicit, "GET /debug").authorization_type, None);
    let trace = implicit
        .routes
        .iter()
        .find(|r| r.route_key.starts_with("/trace"))
        .unwrap();
    assert_eq!(trace.authorization_type, None);
    for (key, field) in [
        ("GET /debug", "authorization_type"),
        (trace.route_key.as_str(), "*"),
    ] {
        assert!(
            implicit
                .unknown
                .iter()
                .any(|u| u.key == key && u.field == field && u.reason.contains("IsProd")),
            "{key}: {:?}",
            implicit.unknown
        );
    }
}

#[test]
fn what_the_translator_rejects_is_an_error_with_its_position() {
    let text = format!(
        "{SAM}Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        Authorizers:
          Jwt:
            IdentitySource: $request.header.Authorization
            JwtConfiguration: {{issuer: https://auth.example.com/, audience: [a]}}
{}",
        function(
            "F",
            "        Missing:
          Type: HttpApi
          Properties: {ApiId: !Ref Nowhere, Path: /a, Method: get}
        Half:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Path: /b}
        Unnamed:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Path: /c, Method: get, Auth: {Authorizer: Other}}
        Open:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Path: /d, Method: get, Auth: {Authorizer: NONE}}
",
        ),
    );
    let (_, diags) = apis(&text);
    let problems: Vec<(String, &str, &str)> = diags
        .problems()
        .iter()
        .map(|p| (diags.position(p), p.message.as_str(), p.label.as_str()))
        .collect();
    // Where a text is written, as file:line:column.
    let at = |needle: &str| {
        let offset = text.find(needle).unwrap();
        let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
        format!(
            "t.yaml:{}:{}",
            line_of(&text, needle),
            text[start..offset].chars().count() + 1
        )
    };
    assert_eq!(
        problems,
        vec![
            (
                at("Nowhere"),
                "`ApiId` of event `Missing` names `Nowhere`, which is not a resource of this template",
                "a reference to a resource that does not exist"
            ),
            (
                at("Half:"),
                "event `Half` has no `Method`",
                "an HttpApi event has both `Path` and `Method`, or neither (the $default route)"
            ),
            (
                at("Other}"),
                "authorizer `Other` of route GET /c is not one of the `Auth.Authorizers` of `Api`",
                ""
            ),
            (
                at("NONE}"),
                "`Authorizer: NONE` on route GET /d of `Api` needs a `DefaultAuthorizer` on the API to override",
                ""
            ),
        ]
    );
}

#[test]
fn authorization_sam_cannot_read_is_an_error_not_an_open_route() {
    // SAM reads `Auth` when it translates, before CloudFormation resolves
    // its functions: the translator rejects them.
    let text = format!(
        "{SAM}Parameters:
  Env: {{Type: String}}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth: !If [IsProd, {{DefaultAuthorizer: Jwt}}, !Ref AWS::NoValue]
{}",
        function(
            "F",
            "        Get:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Path: /a, Method: get}
",
        ),
    );
    let (_, diags) = apis(&text);
    let messages: Vec<&str> = diags
        .problems()
        .iter()
        .map(|p| p.message.as_str())
        .collect();
    assert_eq!(
        messages,
        [
            "the `Auth` of `Api` must be a mapping SAM can read (it depends on condition IsProd, whose inputs are not known before deploy)"
        ]
    );
}

#[test]
fn a_problem_in_globals_is_reported_once() {
    let text = format!(
        "{SAM}Globals:
  HttpApi:
    Auth:
      Authorizers:
        Lambda: {{FunctionArn: arn:aws:lambda:eu-west-1:111122223333:function:auth}}
Resources:
  First:
    Type: AWS::Serverless::HttpApi
  Second:
    Type: AWS::Serverless::HttpApi
"
    );
    let (_, diags) = apis(&text);
    let messages: Vec<&str> = diags
        .problems()
        .iter()
        .map(|p| p.message.as_str())
        .collect();
    assert_eq!(
        messages,
        ["Lambda authorizer `Lambda` has no `AuthorizerPayloadFormatVersion`"]
    );
}

#[test]
fn references_to_what_sam_adds_are_not_errors() {
    // `ServerlessHttpApi` and `MyFunctionRole` exist once SAM has
    // translated the template; a plain route may join the implicit API.
    let text = format!(
        "{SAM}Resources:
{}  Extra:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref ServerlessHttpApi
      RouteKey: GET /extra
      AuthorizationType: AWS_IAM
  Policy:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref ServerlessHttpApi
      RouteKey: GET /role
      AuthorizerId: !GetAtt MainRole.Arn
",
        function(
            "Main",
            "        Main:
          Type: HttpApi
          Properties: {Path: /main, Method: get}
",
        ),
    );
    let (read, diags) = apis(&text);
    assert!(diags.is_empty(), "{diags:?}");
    let implicit = api(&read, "ServerlessHttpApi");
    assert_eq!(
        auth(route(implicit, "GET /extra")),
        (Some("AWS_IAM"), None, None)
    );
    assert!(implicit.unknown.iter().any(|u| u.key == "GET /role"
        && u.field == "authorizer_id"
        && u.reason.contains("MainRole.Arn")));
}

/// What must agree between a SAM template and its translation, API by API:
/// routes (key, authorization, authorizer, scopes, integration type),
/// authorizers, stages, CORS, name, and which values are unknown. Unknown
/// values' reasons may differ: SAM's view names the function whose ARN an
/// integration needs, the translation the first pseudo parameter of its
/// `Fn::Sub`.
fn summary(read: &Read) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for api in &read.apis {
        let mut lines = vec![format!(
            "{:?} {:?} {:?} {:?} {:?}",
            api.name,
            api.protocol_type,
            api.cors_configuration,
            api.tags,
            api.disable_execute_api_endpoint
        )];
        let integration = |route: &Route| {
            let id = route.target.as_deref()?.strip_prefix("integrations/")?;
            let integration = api
                .integrations
                .iter()
                .flatten()
                .find(|i| i.integration_id == id)?;
            Some((
                integration.integration_type.clone(),
                integration.payload_format_version.clone(),
                integration.timeout_in_millis,
            ))
        };
        lines.extend(
            api.routes
                .iter()
                .map(|r| format!("{} {:?} {:?}", r.route_key, auth(r), integration(r))),
        );
        lines.extend(api.authorizers.iter().flatten().map(|a| {
            let mut sources = a.identity_source.clone();
            sources.iter_mut().for_each(|s| s.sort());
            format!(
                "{} {:?} {:?} {sources:?} {:?} {:?} {:?}",
                a.authorizer_id,
                a.authorizer_type,
                a.jwt_configuration,
                a.authorizer_payload_format_version,
                a.enable_simple_responses,
                a.authorizer_result_ttl_in_seconds
            )
        }));
        lines.extend(api.stages.iter().flatten().map(|s| {
            format!(
                "{} {:?} {:?} {:?} {:?}",
                s.stage_name,
                s.auto_deploy,
                s.access_log_settings,
                s.default_route_settings,
                s.tags
            )
        }));
        lines.extend(
            api.unknown
                .iter()
                .map(|u| format!("{:?} {} {}", u.part, u.key, u.field)),
        );
        lines.sort();
        out.insert(api.api_id.to_string(), lines);
    }
    for unread in &read.unread {
        out.insert(format!("unread {}", unread.api.api_id), Vec::new());
    }
    out
}

/// Run with `cargo test -p routewarden-core -- --ignored`.
#[test]
#[ignore = "reads /work/shared/corpus, which is outside the repository"]
fn apis_are_the_translations() {
    let mut failures = Vec::new();
    for (input, output) in translator_pairs() {
        let (ours, problems) = apis(&with_transform(&read(&input)));
        assert!(problems.is_empty(), "{}: {problems:?}", input.display());
        let (theirs, problems) = apis(&read(&output));
        assert!(problems.is_empty(), "{}: {problems:?}", output.display());
        if summary(&ours) != summary(&theirs) {
            failures.push(format!(
                "{}:\n ours   {:#?}\n theirs {:#?}",
                input.display(),
                summary(&ours),
                summary(&theirs)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A node as JSON, positions dropped and unknown values reduced to a
/// marker (their reasons may differ: SAM's view names the function whose
/// ARN the translation's `Fn::Sub` holds).
fn json(node: &Node) -> serde_json::Value {
    use serde_json::Value as J;
    if node.unknown_reason().is_some() {
        return J::String("<unknown>".to_owned());
    }
    match &node.value {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Num(n) => J::String(n.to_string()),
        Value::Str(s) => J::String(s.to_string()),
        // SAM orders tags by Python 2's hashes; their order means nothing.
        Value::Seq(items)
            if items
                .iter()
                .all(|i| i.get("x-amazon-apigateway-tag-value").is_some()) =>
        {
            let mut tags: Vec<serde_json::Value> = items.iter().map(json).collect();
            tags.sort_by_key(|t| t["name"].to_string());
            J::Array(tags)
        }
        Value::Seq(items) => J::Array(items.iter().map(json).collect()),
        Value::Map(entries) => J::Object(
            entries
                .iter()
                .map(|(k, v)| {
                    let mut value = json(v);
                    // SAM's expected outputs sort this list.
                    if &*k.name == "identitySource"
                        && let J::Array(items) = &mut value
                    {
                        items.sort_by_key(ToString::to_string);
                    }
                    (k.name.to_string(), value)
                })
                .collect(),
        ),
    }
}

/// The bodies SAM's translation of `text` gives, by API.
fn translated_bodies(text: &str) -> (BTreeMap<String, serde_json::Value>, Diagnostics) {
    let text = &with_transform(text);
    let mut diags = Diagnostics::new();
    let mut doc = Doc::from_text(&mut diags, "t.yaml", text);
    let root = parse_yaml(text).unwrap();
    let template = Template::new(&mut doc, &root, &Options::default(), "t.yaml", "");
    let bodies = translate(&mut doc, &template)
        .into_iter()
        .filter_map(|t| match t.body {
            Body::Inline(body) => Some((t.logical, json(&body))),
            Body::Unread(_) => None,
        })
        .collect();
    doc.finish(&mut diags);
    (bodies, diags)
}

/// SAM's translator tests keep their inputs without the `Transform` line
/// their harness adds.
fn with_transform(text: &str) -> String {
    if text.contains("Transform:") {
        text.to_owned()
    } else {
        format!("Transform: AWS::Serverless-2016-10-31\n{text}")
    }
}

/// The `Body` of every `AWS::ApiGatewayV2::Api` of a CloudFormation
/// template, resolved as the CloudFormation reader resolves it.
fn cfn_bodies(text: &str) -> BTreeMap<String, serde_json::Value> {
    let mut diags = Diagnostics::new();
    let mut doc = Doc::from_text(&mut diags, "t.json", text);
    let root = parse_json(text).unwrap();
    let template = Template::new(&mut doc, &root, &Options::default(), "t.json", "");
    let mut out = BTreeMap::new();
    for logical in template.of_type("AWS::ApiGatewayV2::Api") {
        let (_, resource) = template.resources[logical];
        if template.exists(&mut doc, resource) == Some(false) {
            continue;
        }
        if let Some(body) = template.properties(&mut doc, resource).get("Body") {
            out.insert(logical.to_owned(), json(body));
        }
    }
    out
}

const CORPUS: &str = "/work/shared/corpus/iac-realworld";

/// Pairs of SAM translator inputs and outputs: the corpus's copy (outside
/// the repository), and with `SAM_TRANSLATOR_TESTS=<checkout>/tests/translator`
/// every HTTP API test of SAM's own suite.
fn translator_pairs() -> Vec<(PathBuf, PathBuf)> {
    let corpus = Path::new(CORPUS);
    assert!(corpus.is_dir(), "{CORPUS} is missing");
    let mut dirs = vec![(
        corpus.join("sam/sam-translator"),
        corpus.join("cfn/sam-translated"),
    )];
    if let Some(suite) = std::env::var_os("SAM_TRANSLATOR_TESTS") {
        let suite = PathBuf::from(suite);
        dirs.push((suite.join("input"), suite.join("output")));
    }
    let mut pairs = Vec::new();
    for (inputs, outputs) in dirs {
        let Ok(entries) = std::fs::read_dir(&inputs) else {
            continue;
        };
        let mut names: Vec<PathBuf> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
        names.sort();
        for input in names {
            let stem = input.file_stem().unwrap().to_string_lossy().into_owned();
            let output = outputs.join(format!("{stem}.json"));
            if stem.contains("http_api") && !stem.starts_with("error_") && output.exists() {
                pairs.push((input, output));
            }
        }
    }
    pairs
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

/// Run with `cargo test -p routewarden-core -- --ignored`.
#[test]
#[ignore = "reads /work/shared/corpus, which is outside the repository"]
fn bodies_are_the_translators() {
    let mut failures = Vec::new();
    for (input, output) in translator_pairs() {
        let (ours, diags) = translated_bodies(&read(&input));
        let theirs = cfn_bodies(&read(&output));
        let name = input.display();
        if !diags.is_empty() {
            failures.push(format!("{name}: {:?}", diags.problems()));
            continue;
        }
        if ours != theirs {
            failures.push(format!(
                "{name}:\n ours   {}\n theirs {}",
                serde_json::to_string(&ours).unwrap(),
                serde_json::to_string(&theirs).unwrap()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// SAM templates found in the wild (the corpus, outside the repository),
/// each as SAM's translator 1.115 makes it: every route's authorization.
/// `serverless-patterns-sam-webapp-cognito.yaml` is not here: a duplicate
/// key in one of its CloudFront resources does not parse.
#[test]
#[ignore = "reads /work/shared/corpus, which is outside the repository"]
fn realworld_templates() {
    let dir = Path::new(CORPUS).join("sam");
    assert!(dir.is_dir(), "{} is missing", dir.display());
    let routes = |name: &str| {
        let (read, problems) = apis(&read(&dir.join(name)));
        assert!(problems.is_empty(), "{name}: {problems:?}");
        let mut out: Vec<String> = read
            .apis
            .iter()
            .flat_map(|api| {
                api.routes.iter().map(|r| {
                    let (kind, authorizer, scopes) = auth(r);
                    format!(
                        "{} {} {} {} {scopes:?}",
                        api.api_id,
                        r.route_key,
                        kind.unwrap_or("?"),
                        authorizer.unwrap_or("-")
                    )
                })
            })
            .collect();
        out.sort();
        out
    };
    assert_eq!(
        routes("serverless-patterns-apigw-sqs-lambda-ddb.yaml"),
        ["HttpApi POST /submit CUSTOM AuthorizerFunction None"]
    );
    assert_eq!(
        routes("serverless-patterns-cognito-httpapi.yaml"),
        ["AppApi GET / JWT OAuth2Authorizer Some([\"email\"])"]
    );
    // A plain AWS::ApiGatewayV2::Route on the serverless API.
    assert_eq!(
        routes("serverless-patterns-custom-http-headers-to-sqs.yaml"),
        ["MyHttpApi ANY /sqs NONE - None"]
    );
    assert_eq!(
        routes("sessions-with-aws-sam-http-api.yaml"),
        [
            "HttpApi GET / NONE - None",
            "HttpApi GET /admin JWT GeneralAuth None",
            "HttpApi GET /both JWT GeneralAuth None",
            "HttpApi GET /simple JWT GeneralAuth Some([\"email\"])",
            "HttpApi GET /su JWT GeneralAuth None",
            "ServerlessHttpApi $default NONE - None",
        ]
    );
    let samples = routes("serverless-samples-python-http-sam.yaml");
    assert_eq!(samples.len(), 13);
    assert!(
        samples
            .iter()
            .all(|r| r.starts_with("HttpApi ") && r.ends_with(" CUSTOM LambdaAuthorizer None")),
        "{samples:#?}"
    );
}

use super::*;
use crate::diag::Diagnostics;
use crate::iac::Options;
use crate::iac::node::parse_yaml;

/// Reads a standalone definition named `name`.
fn standalone(name: &str, text: &str) -> (Read, Diagnostics) {
    let mut diags = Diagnostics::new();
    let mut doc = Doc::from_text(&mut diags, name, text);
    let root = parse_yaml(text).unwrap();
    let mut out = Read::default();
    read(&mut doc, &root, &mut out);
    doc.finish(&mut diags);
    (out, diags)
}

/// The 1-based line and column of the first occurrence of `needle`.
fn position_of(text: &str, needle: &str) -> (Option<u32>, Option<u32>) {
    let at = text.find(needle).unwrap();
    let line = text[..at].matches('\n').count() + 1;
    let column = at - text[..at].rfind('\n').map_or(0, |n| n + 1) + 1;
    (Some(line as u32), Some(column as u32))
}

const PETS: &str = r##"openapi: 3.0.1
info:
  title: pets
  version: "1.0"
security:
  - jwt: [read]
paths:
  /pets:
    summary: the pets
    parameters:
      - {name: x, in: query}
    get:
      operationId: listPets
      x-amazon-apigateway-integration:
        type: aws_proxy
        httpMethod: POST
        uri: arn:aws:lambda:eu-west-1:123456789012:function:pets
        payloadFormatVersion: "2.0"
        timeoutInMillis: 5000
    post:
      security:
        - lambda: []
      x-amazon-apigateway-integration:
        $ref: '#/components/x-amazon-apigateway-integrations/backend'
    options:
      security: []
  /admin:
    delete:
      security:
        - iam: []
  /$default:
    x-amazon-apigateway-any-method:
      isDefaultRoute: true
      security:
        - NONE: []
  "/{proxy+}":
    x-amazon-apigateway-any-method:
      security:
        - {}
components:
  securitySchemes:
    jwt:
      type: oauth2
      x-amazon-apigateway-authorizer:
        type: jwt
        identitySource: $request.header.Authorization
        jwtConfiguration:
          audience: [pets-api]
          issuer: https://issuer.example.com
    lambda:
      type: apiKey
      name: Authorization
      in: header
      x-amazon-apigateway-authorizer:
        type: request
        authorizerUri: arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:auth/invocations
        authorizerPayloadFormatVersion: "2.0"
        enableSimpleResponses: true
        identitySource: $request.header.Authorization, $context.stage
        authorizerResultTtlInSeconds: 300
    iam:
      type: apiKey
      name: Authorization
      in: header
      x-amazon-apigateway-authtype: awsSigv4
  x-amazon-apigateway-integrations:
    backend:
      type: http_proxy
      httpMethod: ANY
      uri: http://backend.example.com/pets
      connectionType: INTERNET
      payloadFormatVersion: "1.0"
      tlsConfig: {serverNameToVerify: backend.example.com}
      requestParameters: {"append:header.x-source": api}
x-amazon-apigateway-cors:
  allowOrigins: ["*"]
  allowMethods: [GET, POST]
  maxAge: 300
  allowCredentials: false
tags:
  - name: team
    x-amazon-apigateway-tag-value: pets
  - name: grouping-only
"##;

#[test]
fn operations_become_routes_with_their_authorization_and_integrations() {
    let (read, diags) = standalone("pets.yaml", PETS);
    assert!(diags.is_empty(), "{diags:?}");
    let api = &read.apis[0];
    assert_eq!(&*api.api_id, "pets");
    assert_eq!(api.name.as_deref(), Some("pets"));
    assert_eq!(api.target_name.as_deref(), Some("pets.yaml"));
    let origin = api.origin.0.as_deref().unwrap();
    assert_eq!((origin.line, origin.column), (1, Some(1)));
    assert_eq!(api.protocol_type.as_deref(), Some("HTTP"));
    assert_eq!(api.version.as_deref(), Some("1.0"));
    assert!(api.unknown.is_empty(), "{:?}", api.unknown);
    let keys: Vec<&str> = api.routes.iter().map(|r| r.route_key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "GET /pets",
            "POST /pets",
            "OPTIONS /pets",
            "DELETE /admin",
            "$default",
            "ANY /{proxy+}"
        ]
    );
    let route = |key: &str| api.routes.iter().find(|r| r.route_key == key).unwrap();
    let auth = |key: &str| {
        let r = route(key);
        (
            r.authorization_type.as_deref(),
            r.authorizer_id.as_deref(),
            r.authorization_scopes.clone(),
        )
    };
    // The document's `security` applies where the operation has none.
    assert_eq!(
        auth("GET /pets"),
        (Some("JWT"), Some("jwt"), Some(vec!["read".to_owned()]))
    );
    assert_eq!(auth("POST /pets"), (Some("CUSTOM"), Some("lambda"), None));
    assert_eq!(auth("OPTIONS /pets"), (Some("NONE"), None, None));
    assert_eq!(auth("DELETE /admin"), (Some("AWS_IAM"), None, None));
    assert_eq!(auth("$default"), (Some("NONE"), None, None));
    assert_eq!(auth("ANY /{proxy+}"), (Some("NONE"), None, None));
    assert_eq!(
        route("GET /pets").operation_name.as_deref(),
        Some("listPets")
    );
    let line = route("GET /pets").line;
    assert_eq!((line.0, line.1), position_of(PETS, "get:"));

    let authorizers = api.authorizers.as_deref().unwrap();
    let jwt = authorizers
        .iter()
        .find(|a| a.authorizer_id == "jwt")
        .unwrap();
    assert_eq!(jwt.authorizer_type.as_deref(), Some("JWT"));
    assert_eq!(
        jwt.identity_source,
        Some(vec!["$request.header.Authorization".to_owned()])
    );
    let config = jwt.jwt_configuration.as_ref().unwrap();
    assert_eq!(config.audience, Some(vec!["pets-api".to_owned()]));
    assert_eq!(config.issuer.as_deref(), Some("https://issuer.example.com"));
    let lambda = authorizers
        .iter()
        .find(|a| a.authorizer_id == "lambda")
        .unwrap();
    assert_eq!(lambda.authorizer_type.as_deref(), Some("REQUEST"));
    assert_eq!(
        lambda.identity_source,
        Some(vec![
            "$request.header.Authorization".to_owned(),
            "$context.stage".to_owned()
        ])
    );
    assert_eq!(lambda.enable_simple_responses, Some(true));
    assert_eq!(lambda.authorizer_result_ttl_in_seconds, Some(300));
    assert_eq!(
        lambda.authorizer_payload_format_version.as_deref(),
        Some("2.0")
    );
    assert_eq!(authorizers.len(), 2, "the IAM scheme is no authorizer");

    let integrations = api.integrations.as_deref().unwrap();
    assert_eq!(integrations.len(), 2);
    let get = &integrations[0];
    assert_eq!(
        route("GET /pets").target.as_deref(),
        Some("integrations/GET /pets")
    );
    assert_eq!(get.integration_id, "GET /pets");
    assert_eq!(get.integration_type.as_deref(), Some("AWS_PROXY"));
    assert_eq!(get.timeout_in_millis, Some(5000));
    let post = &integrations[1];
    assert_eq!(
        route("POST /pets").target.as_deref(),
        Some("integrations/POST /pets")
    );
    assert_eq!(post.integration_type.as_deref(), Some("HTTP_PROXY"));
    assert_eq!(
        post.integration_uri.as_deref(),
        Some("http://backend.example.com/pets")
    );
    assert_eq!(
        post.tls_config
            .as_ref()
            .unwrap()
            .server_name_to_verify
            .as_deref(),
        Some("backend.example.com")
    );
    assert_eq!(
        post.request_parameters.as_ref().unwrap()["append:header.x-source"],
        "api"
    );
    assert_eq!(route("OPTIONS /pets").target, None);

    let cors = api.cors_configuration.as_ref().unwrap();
    assert_eq!(cors.allow_origins, Some(vec!["*".to_owned()]));
    assert_eq!(cors.max_age, Some(300));
    assert_eq!(cors.allow_credentials, Some(false));
    let tags = api.tags.as_ref().unwrap();
    assert_eq!(tags.len(), 1, "{tags:?}");
    assert_eq!(tags["team"], "pets");
}

#[test]
fn cloudformation_functions_in_a_standalone_file_are_unknown() {
    let text = r#"openapi: "3.0.1"
info:
  title: {"Fn::Sub": "${AWS::StackName}-jobs"}
paths:
  /jobs:
    post:
      security: [{key: []}]
      x-amazon-apigateway-integration:
        type: aws_proxy
        uri: !Sub "arn:aws:apigateway:${AWS::Region}:lambda:path/functions/${Worker.Arn}/invocations"
        credentials:
          Fn::GetAtt: [Role, Arn]
  /later: !If [Enabled, {get: {}}, {}]
components:
  securitySchemes:
    key: {type: apiKey, name: x-api-key, in: header}
"#;
    let (read, diags) = standalone("defs/jobs.yaml", text);
    assert!(diags.is_empty(), "{diags:?}");
    let api = &read.apis[0];
    // The title is not known: the API is named after the file.
    assert_eq!(&*api.api_id, "jobs");
    assert_eq!(api.name, None);
    let marked = |part: Part, key: &str, field: &str| {
        api.unknown
            .iter()
            .find(|u| u.part == part && u.key == key && u.field == field)
            .map(|u| u.reason.as_str())
    };
    assert!(
        marked(Part::Api, "", "api.name").is_some_and(|r| r.contains("Fn::Sub")),
        "{:?}",
        api.unknown
    );
    let post = &api.routes[0];
    assert_eq!(post.route_key, "POST /jobs");
    // A plain API key scheme does not say how API Gateway guards the
    // route: neither NONE nor a pass.
    assert_eq!(post.authorization_type, None);
    assert!(
        marked(Part::Route, "POST /jobs", "authorization_type")
            .is_some_and(|r| r.contains("neither an API Gateway authorizer")),
        "{:?}",
        api.unknown
    );
    let integration = &api.integrations.as_deref().unwrap()[0];
    assert_eq!(integration.integration_type.as_deref(), Some("AWS_PROXY"));
    assert_eq!(integration.integration_uri, None);
    assert!(
        marked(Part::Integration, "POST /jobs", "integration.uri")
            .is_some_and(|r| r.contains("!Sub")),
        "{:?}",
        api.unknown
    );
    assert!(
        marked(
            Part::Integration,
            "POST /jobs",
            "integration.credentials_arn"
        )
        .is_some()
    );
    // A path whose operations are not known stands for routes that every
    // rule finds indeterminate.
    let later = &api.routes[1];
    assert_eq!(later.route_key, "/later (methods not known before deploy)");
    assert!(marked(Part::Route, &later.route_key, "*").is_some());
}

#[test]
fn components_not_known_leave_what_they_define_unknown_not_missing() {
    let text = r#"openapi: 3.0.1
info: {title: shared}
paths:
  /a:
    get:
      security: [{jwt: []}]
      x-amazon-apigateway-integration: {$ref: '#/components/x-amazon-apigateway-integrations/a'}
components: {"Fn::If": [Prod, {}, {}]}
"#;
    let (read, diags) = standalone("shared.yaml", text);
    assert!(diags.is_empty(), "{diags:?}");
    let api = &read.apis[0];
    let get = &api.routes[0];
    assert_eq!(get.authorization_type, None);
    assert_eq!(get.target.as_deref(), Some("integrations/GET /a"));
    let fields: Vec<(Part, &str)> = api
        .unknown
        .iter()
        .map(|u| (u.part, u.field.as_str()))
        .collect();
    assert_eq!(
        fields,
        [
            (Part::Integration, "*"),
            (Part::Route, "authorization_type")
        ]
    );
}

#[test]
fn definitions_without_paths_and_unknown_schemes_are_errors_with_positions() {
    let (read, diags) = standalone("empty.yaml", "openapi: 3.0.1\ninfo: {title: x}\n");
    assert!(read.apis[0].routes.is_empty());
    let problem = &diags.problems()[0];
    assert_eq!(problem.message, "an OpenAPI definition without paths");
    assert_eq!(diags.position(problem), "empty.yaml:1:1");

    let (_, diags) = standalone(
        "listed.yaml",
        "openapi: 3.0.1\ninfo: {title: x}\npaths: [/a]\n",
    );
    assert_eq!(
        diags.problems()[0].message,
        "an OpenAPI definition without paths"
    );

    let text = "openapi: 3.0.1\ninfo: {title: x}\npaths:\n  /a:\n    get:\n      security:\n        - jtw: []\n";
    let (_, diags) = standalone("typo.yaml", text);
    let problem = &diags.problems()[0];
    assert!(
        problem.message.contains("names `jtw`, which"),
        "{problem:?}"
    );
    assert_eq!(diags.position(problem), "typo.yaml:7:11");
}

#[test]
fn a_template_body_is_resolved_by_the_template_and_its_properties_win() {
    let text = r#"Parameters:
  Cors: {Type: String}
Conditions:
  WithCors: !Equals [!Ref Cors, "yes"]
Resources:
  Api:
    Type: AWS::ApiGatewayV2::Api
    Properties:
      Name: from-template
      Body:
        openapi: "3.0.1"
        info: {title: !Ref AWS::StackName}
        paths:
          /hello:
            get:
              x-amazon-apigateway-integration:
                type: aws_proxy
                uri: !Sub "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/functions/${Fn.Arn}/invocations"
        x-amazon-apigateway-cors: !If [WithCors, {allowOrigins: ["*"]}, !Ref AWS::NoValue]
"#;
    let (out, diags) = crate::iac::read_text("t.yaml", text, &Options::default());
    assert!(diags.is_empty(), "{diags:?}");
    let api = &out.apis[0];
    assert_eq!(api.name.as_deref(), Some("from-template"));
    let route = &api.routes[0];
    assert_eq!(route.route_key, "GET /hello");
    assert_eq!(route.authorization_type.as_deref(), Some("NONE"));
    assert_eq!((route.line.0, route.line.1), position_of(text, "get:"));
    // CORS hangs on a parameter without a default.
    assert_eq!(api.cors_configuration, None);
    assert!(
        api.unknown
            .iter()
            .any(|u| u.field == "api.cors.allow_origins" && u.reason.contains("WithCors")),
        "{:?}",
        api.unknown
    );
    assert!(
        api.unknown
            .iter()
            .any(|u| u.key == "GET /hello" && u.field == "integration.uri"),
        "{:?}",
        api.unknown
    );
}

/// The real-world definitions of /work/shared/corpus (outside the
/// repository): run with `cargo test -p routewarden-core -- --ignored`.
#[test]
#[ignore = "reads /work/shared/corpus, which is outside the repository"]
fn realworld_definitions() {
    let dir = Path::new("/work/shared/corpus/iac-realworld/openapi");
    assert!(dir.is_dir(), "{} is missing", dir.display());
    let read = crate::iac::load(&[dir.to_path_buf()], &Options::default())
        .unwrap_or_else(|err| panic!("{}", err.0.render(false)));
    let keys = |title: &str| {
        let api = read
            .apis
            .iter()
            .find(|a| &*a.api_id == title)
            .unwrap_or_else(|| panic!("no API {title}"));
        api.routes
            .iter()
            .map(|r| (r.route_key.clone(), r.authorization_type.clone()))
            .collect::<Vec<_>>()
    };
    let none = Some("NONE".to_owned());
    assert_eq!(
        keys("HTTP API proxy to Restaurant API"),
        [("POST /restaurant".to_owned(), none.clone())]
    );
    assert_eq!(
        keys("API Gateway SQS Ingestion API"),
        [
            ("GET /job-status/{job-id}".to_owned(), none.clone()),
            ("POST /submit-job-request".to_owned(), none)
        ]
    );
    let sqs = read
        .apis
        .iter()
        .find(|a| &*a.api_id == "API Gateway SQS Ingestion API")
        .unwrap();
    assert!(
        sqs.unknown
            .iter()
            .any(|u| u.field == "integration.credentials_arn"),
        "{:?}",
        sqs.unknown
    );
}

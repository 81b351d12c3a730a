//! The live source against moto's server, set up through the real SDK:
//! discovery, explicit ids, tags, every route field, the API's settings,
//! authorizers, integrations and stages, NotFound, `--check` with the
//! built-in pack, snapshot, and drift after a route changes.
//!
//! moto 5.2 does not implement GetAuthorizers: the tests run moto behind the
//! fault server's proxy ([`support::Peer`]), which answers it from the
//! authorizers created through it. Every other call is moto's.

mod support;

use aws_sdk_apigatewayv2::types::{
    AccessLogSettings, AuthorizationType, AuthorizerType, IntegrationType, JwtConfiguration,
    ParameterConstraints, ProtocolType,
};
use serde_json::Value;
use support::Peer;
use support::fault;

struct Estate {
    payments: String,
    chat: String,
    internal: String,
    /// The unauthenticated route of `payments`.
    open_route: String,
    /// The JWT authorizer of `payments` (an audience, an https issuer).
    authorizer: String,
    /// The HTTP_PROXY integration of `payments` (https).
    integration: String,
}

/// A JWT authorizer in moto, through the proxy that records it; its id.
async fn jwt_authorizer(
    client: &aws_sdk_apigatewayv2::Client,
    api: &str,
    audience: &[&str],
    issuer: &str,
) -> String {
    let jwt = JwtConfiguration::builder()
        .set_audience(Some(audience.iter().map(|a| a.to_string()).collect()))
        .issuer(issuer)
        .build();
    client
        .create_authorizer()
        .api_id(api)
        .name(format!("jwt-{}", audience.len()))
        .authorizer_type(AuthorizerType::Jwt)
        .identity_source("$request.header.Authorization")
        .jwt_configuration(jwt)
        .send()
        .await
        .unwrap()
        .authorizer_id
        .unwrap()
}

/// A stage in moto, with access logs to `log_group` if given.
async fn stage(
    client: &aws_sdk_apigatewayv2::Client,
    api: &str,
    name: &str,
    log_group: Option<&str>,
) {
    let logs = log_group.map(|group| {
        AccessLogSettings::builder()
            .destination_arn(format!(
                "arn:aws:logs:us-east-1:123456789012:log-group:{group}"
            ))
            .format("$context.requestId $context.status")
            .build()
    });
    client
        .create_stage()
        .api_id(api)
        .stage_name(name)
        .set_access_log_settings(logs)
        .send()
        .await
        .unwrap();
}

/// Three APIs: an HTTP API tagged prod with a mix of routes, a WebSocket API,
/// and an internal HTTP API tagged dev.
async fn estate(client: &aws_sdk_apigatewayv2::Client) -> Estate {
    let create = |name: &str, protocol: ProtocolType, env: &str| {
        client
            .create_api()
            .name(name)
            .protocol_type(protocol)
            .route_selection_expression("$request.method $request.path")
            .tags("env", env)
            .tags("team", "platform")
            .send()
    };
    let payments = create("prod-payments", ProtocolType::Http, "prod")
        .await
        .unwrap()
        .api_id
        .unwrap();
    let chat = create("prod-chat", ProtocolType::Websocket, "prod")
        .await
        .unwrap()
        .api_id
        .unwrap();
    let internal = create("dev-internal", ProtocolType::Http, "dev")
        .await
        .unwrap()
        .api_id
        .unwrap();
    let authorizer = jwt_authorizer(client, &payments, &["pets-api"], "https://issuer.test/").await;
    let integration = client
        .create_integration()
        .api_id(&payments)
        .integration_type(IntegrationType::HttpProxy)
        .integration_method("ANY")
        .integration_uri("https://backend.test/pets")
        .payload_format_version("1.0")
        .send()
        .await
        .unwrap()
        .integration_id
        .unwrap();
    stage(client, &payments, "prod", Some("pets")).await;
    let open_route = client
        .create_route()
        .api_id(&payments)
        .route_key("GET /pets")
        .authorization_type(AuthorizationType::None)
        .target(format!("integrations/{integration}"))
        .send()
        .await
        .unwrap()
        .route_id
        .unwrap();
    client
        .create_route()
        .api_id(&payments)
        .route_key("POST /pets/{id}")
        .authorization_type(AuthorizationType::Jwt)
        .authorizer_id(&authorizer)
        .authorization_scopes("pets:write")
        .api_key_required(true)
        .operation_name("CreatePet")
        .model_selection_expression("$request.header.Accept")
        .route_response_selection_expression("$default")
        .request_models("application/json", "Pet")
        .request_parameters(
            "route.request.header.x-trace",
            ParameterConstraints::builder().required(true).build(),
        )
        .send()
        .await
        .unwrap();
    client
        .create_route()
        .api_id(&payments)
        .route_key("OPTIONS /pets")
        .authorization_type(AuthorizationType::None)
        .send()
        .await
        .unwrap();
    client
        .create_route()
        .api_id(&chat)
        .route_key("$connect")
        .authorization_type(AuthorizationType::None)
        .send()
        .await
        .unwrap();
    client
        .create_route()
        .api_id(&internal)
        .route_key("GET /status")
        .authorization_type(AuthorizationType::AwsIam)
        .send()
        .await
        .unwrap();
    Estate {
        payments,
        chat,
        internal,
        open_route,
        authorizer,
        integration,
    }
}

fn findings(report: &Value) -> Vec<(String, String, String)> {
    let mut out: Vec<_> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule_id"].as_str().unwrap().to_owned(),
                f["api_name"].as_str().unwrap_or("-").to_owned(),
                f["route_key"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

fn owned(items: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    items
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_end_to_end() {
    let Some(peer) = Peer::start().await else {
        return;
    };
    let url = peer.url();
    let client = support::client(&url).await;
    let estate = estate(&client).await;
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();

    // Discovery of every API, the built-in pack, a JSON report.
    let config = support::config(home, &url, "[[targets]]\nname = \"sandbox\"");
    let config = config.to_str().unwrap();
    let output = support::run_async(home, &["--check", "--format", "json", "-c", config]).await;
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        support::stderr(&output)
    );
    let report = support::json(&output);
    assert_eq!(report["summary"]["apis"], 3);
    assert_eq!(report["summary"]["routes"], 5);
    assert_eq!(
        findings(&report),
        owned(&[
            ("RW001", "prod-chat", "$connect"),
            ("RW001", "prod-payments", "GET /pets")
        ])
    );
    let open = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["route_key"] == "GET /pets")
        .unwrap();
    assert_eq!(open["api_id"], estate.payments.as_str());
    assert_eq!(open["route_id"], estate.open_route.as_str());
    assert_eq!(open["target_name"], "sandbox");
    assert_eq!(open["region"], "us-east-1");

    // Discovery filters: name, protocol and tags.
    let filtered = support::config(
        home,
        &url,
        "[[targets]]\nname = \"prod-http\"\ndiscover = { name_matches = \"^prod-\", protocol_type = \"HTTP\", tags = { env = \"prod\" } }",
    );
    let output = support::run_async(
        home,
        &[
            "--check",
            "--format",
            "json",
            "-c",
            filtered.to_str().unwrap(),
        ],
    )
    .await;
    let report = support::json(&output);
    assert_eq!(report["summary"]["apis"], 1, "only prod-payments");
    assert_eq!(
        findings(&report),
        owned(&[("RW001", "prod-payments", "GET /pets")])
    );

    // Explicit ids (tags through GetApi), and an id that does not exist.
    let explicit = support::config(
        home,
        &url,
        &format!(
            "[[targets]]\nname = \"ids\"\napi_ids = [\"{}\", \"{}\", \"doesnotexist\"]",
            estate.internal, estate.chat
        ),
    );
    let rule = "[[rules]]\nid = \"TAGGED\"\ntitle = \"t\"\nseverity = \"low\"\nwhen = { api.tags.env = \"dev\" }\nrequire = { method = \"NEVER\" }\n";
    let policy = home.join("tagged.toml");
    std::fs::write(&policy, rule).unwrap();
    let output = support::run_async(
        home,
        &[
            "--check",
            "--format",
            "json",
            "-c",
            explicit.to_str().unwrap(),
            "-p",
            "builtin",
            "-p",
            policy.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(
        output.status.code(),
        Some(1),
        "violations outrank the incomplete audit"
    );
    let report = support::json(&output);
    assert_eq!(
        findings(&report),
        owned(&[
            ("RW001", "prod-chat", "$connect"),
            ("TAGGED", "dev-internal", "GET /status")
        ])
    );
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["api_id"], "doesnotexist");
    assert_eq!(errors[0]["operation"], "GetApi");
    assert_eq!(errors[0]["kind"], "not_found");

    // Snapshot: every field of every route, then no drift against itself.
    let snapshot = home.join("baseline.json");
    let output = support::run_async(
        home,
        &["snapshot", "-c", config, "-o", snapshot.to_str().unwrap()],
    )
    .await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        support::stderr(&output)
    );
    let fleet: Value = serde_json::from_slice(&std::fs::read(&snapshot).unwrap()).unwrap();
    let payments = fleet["Apis"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["ApiId"] == estate.payments.as_str())
        .unwrap();
    assert_eq!(payments["Name"], "prod-payments");
    assert_eq!(payments["ProtocolType"], "HTTP");
    assert_eq!(payments["Tags"]["env"], "prod");
    // The API's settings (GetApis), authorizers (the proxy), integrations
    // and stages (moto), under the AWS API's names.
    assert_eq!(
        payments["RouteSelectionExpression"],
        "$request.method $request.path"
    );
    assert!(
        payments["ApiEndpoint"].is_string(),
        "{}",
        payments["ApiEndpoint"]
    );
    let authorizer = &payments["Authorizers"][0];
    assert_eq!(authorizer["AuthorizerId"], estate.authorizer.as_str());
    assert_eq!(authorizer["AuthorizerType"], "JWT");
    assert_eq!(
        authorizer["IdentitySource"][0],
        "$request.header.Authorization"
    );
    assert_eq!(authorizer["JwtConfiguration"]["Audience"][0], "pets-api");
    assert_eq!(
        authorizer["JwtConfiguration"]["Issuer"],
        "https://issuer.test/"
    );
    let integration = &payments["Integrations"][0];
    assert_eq!(integration["IntegrationId"], estate.integration.as_str());
    assert_eq!(integration["IntegrationType"], "HTTP_PROXY");
    assert_eq!(integration["IntegrationUri"], "https://backend.test/pets");
    let stage = &payments["Stages"][0];
    assert_eq!(stage["StageName"], "prod");
    assert_eq!(
        stage["AccessLogSettings"]["DestinationArn"],
        "arn:aws:logs:us-east-1:123456789012:log-group:pets"
    );
    for api in fleet["Apis"].as_array().unwrap() {
        assert!(
            api["Authorizers"].is_array() && api["Integrations"].is_array(),
            "snapshot reads every part of every API: {api}"
        );
    }
    let post = payments["Routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["RouteKey"] == "POST /pets/{id}")
        .unwrap();
    assert_eq!(post["AuthorizationType"], "JWT");
    assert_eq!(post["AuthorizerId"], estate.authorizer.as_str());
    assert_eq!(post["AuthorizationScopes"][0], "pets:write");
    assert_eq!(post["ApiKeyRequired"], true);
    assert_eq!(post["OperationName"], "CreatePet");
    assert_eq!(post["ModelSelectionExpression"], "$request.header.Accept");
    assert_eq!(post["RouteResponseSelectionExpression"], "$default");
    assert_eq!(post["RequestModels"]["application/json"], "Pet");
    assert_eq!(
        post["RequestParameters"]["route.request.header.x-trace"]["Required"],
        true
    );

    let drift_args = [
        "--check",
        "--format",
        "json",
        "--fail-on",
        "never",
        "-c",
        config,
        "--baseline",
        snapshot.to_str().unwrap(),
    ];
    let report = support::json(&support::run_async(home, &drift_args).await);
    assert!(
        findings(&report)
            .iter()
            .all(|(rule, _, _)| !rule.starts_with("drift.")),
        "no drift yet"
    );

    // Change a route in moto: drift.modified names the field; a new route is drift.added.
    support::set_authorization(
        &client,
        &estate.payments,
        &estate.open_route,
        AuthorizationType::AwsIam,
    )
    .await;
    client
        .create_route()
        .api_id(&estate.internal)
        .route_key("DELETE /everything")
        .authorization_type(AuthorizationType::None)
        .send()
        .await
        .unwrap();
    let output = support::run_async(home, &drift_args).await;
    let report = support::json(&output);
    let mut drift: Vec<_> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule_id"].as_str().unwrap().starts_with("drift."))
        .map(|f| {
            (
                f["rule_id"].as_str().unwrap(),
                f["route_key"].as_str().unwrap(),
                f["message"].as_str().unwrap(),
            )
        })
        .collect();
    drift.sort();
    assert_eq!(
        drift,
        [
            ("drift.added", "DELETE /everything", "not in the baseline"),
            (
                "drift.modified",
                "GET /pets",
                "changed: authorization_type \"NONE\" -> \"AWS_IAM\""
            ),
        ]
    );
    let severity = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule_id"] == "drift.added")
        .unwrap()["severity"]
        .clone();
    assert_eq!(severity, "medium", "[drift] severity's default");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_endpoint_is_an_incomplete_audit_not_a_crash() {
    let port = support::free_port();
    let (code, report, stderr) = support::check_json(
        &format!("http://127.0.0.1:{port}"),
        "timeout = \"1s\"\nmax_backoff = \"1s\"\n[[targets]]\nname = \"down\"",
        &[],
    )
    .await;
    assert_eq!(code, Some(3), "{stderr}");
    let error = &report["errors"][0];
    assert_eq!(error["operation"], "GetApis");
    assert_eq!(error["kind"], "transport");
    assert!(
        error.get("api_id").is_none(),
        "discovery is about no one API"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_can_assume_a_role_with_an_external_id() {
    let Some(peer) = Peer::start().await else {
        return;
    };
    let client = support::client(&peer.url()).await;
    let estate = estate(&client).await;
    let (_, report, stderr) = support::check_json(
        &peer.url(),
        "[[targets]]\nname = \"cross-account\"\nrole_arn = \"arn:aws:iam::123456789012:role/routewarden-read\"\nexternal_id = \"audit-7\"\ndiscover = { name_matches = \"^prod-payments$\" }",
        &[],
    )
    .await;
    // moto answers STS AssumeRole at the same endpoint: the audit runs on the
    // assumed role's credentials and completes.
    assert_eq!(report["summary"]["complete"], true, "{stderr}");
    assert_eq!(
        findings(&report),
        owned(&[("RW001", "prod-payments", "GET /pets")])
    );
    assert_eq!(report["findings"][0]["api_id"], estate.payments.as_str());
}

/// A JWT route with scopes on `authorizer`.
async fn jwt_route(
    client: &aws_sdk_apigatewayv2::Client,
    api: &str,
    route_key: &str,
    authorizer: &str,
) {
    client
        .create_route()
        .api_id(api)
        .route_key(route_key)
        .authorization_type(AuthorizationType::Jwt)
        .authorizer_id(authorizer)
        .authorization_scopes("read")
        .send()
        .await
        .unwrap();
}

/// `(rule, api id, route key)` of every finding of `rules`.
fn findings_of(report: &Value, rules: &[&str]) -> Vec<(String, String, String)> {
    let mut out: Vec<_> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| rules.contains(&f["rule_id"].as_str().unwrap()))
        .map(|f| {
            (
                f["rule_id"].as_str().unwrap().to_owned(),
                f["api_id"].as_str().unwrap().to_owned(),
                f["route_key"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

/// The first end-to-end case: a JWT authorizer created with an
/// empty audience (moto stores it; the proxy records it from moto's answer
/// and serves it to GetAuthorizers) fires RW011 on the route that uses it,
/// not on the route whose authorizer has an audience; the joins hold (no
/// RW010); one GetAuthorizers request per API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwt_authorizer_without_audience_fires_rw011_through_moto_and_the_proxy() {
    let Some(peer) = Peer::start().await else {
        return;
    };
    let client = support::client(&peer.url()).await;
    let api = support::http_api(&client, "tokens").await;
    let any_audience = jwt_authorizer(&client, &api, &[], "https://issuer.test/").await;
    let scoped = jwt_authorizer(&client, &api, &["orders"], "https://issuer.test/").await;
    jwt_route(&client, &api, "GET /orders", &any_audience).await;
    jwt_route(&client, &api, "GET /invoices", &scoped).await;
    let other = support::http_api(&client, "plain").await;
    jwt_route(&client, &other, "GET /plain", "nosuchauthorizer").await;
    peer.proxy.reset_counts();

    let (code, report, stderr) =
        support::check_json(&peer.url(), "[[targets]]\nname = \"peer\"", &[]).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(report["summary"]["complete"], true, "{stderr}");
    assert_eq!(
        findings_of(&report, &["RW010", "RW011", "RW012"]),
        [
            ("RW010".into(), other.clone(), "GET /plain".into()),
            ("RW011".into(), api.clone(), "GET /orders".into()),
        ],
        "RW011 where the audience is empty; RW010 where the authorizer does not exist"
    );
    let counts = peer.proxy.counts();
    assert_eq!(
        fault::operation_requests(&counts, "GetAuthorizers"),
        2,
        "one page per API: {counts:?}"
    );
    for (api, routes) in [(&api, 1), (&other, 1)] {
        for listing in ["routes", "authorizers", "integrations", "stages"] {
            assert_eq!(
                fault::requests_for(&counts, api, listing),
                routes,
                "{listing} of {api}: {counts:?}"
            );
        }
    }
}

/// The second end-to-end case: a stage that moto holds without
/// AccessLogSettings fires RW014 (one finding per such stage, about no
/// route); an API whose stage writes access logs does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_without_access_logs_fires_rw014_in_moto() {
    let Some(peer) = Peer::start().await else {
        return;
    };
    let client = support::client(&peer.url()).await;
    let logged = support::http_api(&client, "logged").await;
    stage(&client, &logged, "prod", Some("logged")).await;
    let unlogged = support::http_api(&client, "unlogged").await;
    stage(&client, &unlogged, "prod", None).await;
    stage(&client, &unlogged, "dev", None).await;

    let (code, report, stderr) =
        support::check_json(&peer.url(), "[[targets]]\nname = \"peer\"", &[]).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(report["summary"]["complete"], true, "{stderr}");
    assert_eq!(
        findings_of(&report, &["RW014"]),
        [
            ("RW014".into(), unlogged.clone(), String::new()),
            ("RW014".into(), unlogged.clone(), String::new()),
        ],
        "one per stage without access logs, none for the logged API"
    );
    let mut stages: Vec<(&str, &str)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule_id"] == "RW014")
        .map(|f| (f["subject"].as_str().unwrap(), f["stage"].as_str().unwrap()))
        .collect();
    stages.sort();
    assert_eq!(stages, [("stage", "dev"), ("stage", "prod")]);
    // GetStages is moto's own answer, through the proxy.
    assert_eq!(
        fault::operation_requests(&peer.proxy.counts(), "GetStages"),
        2
    );
}

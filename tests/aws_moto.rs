//! The live source against moto's server, set up through the real SDK:
//! discovery, explicit ids, tags, every route field, NotFound, `--check` with
//! the built-in pack, snapshot, and drift after a route changes.

mod support;

use aws_sdk_apigatewayv2::types::{AuthorizationType, ParameterConstraints, ProtocolType};
use serde_json::Value;
use support::Moto;

struct Estate {
    payments: String,
    chat: String,
    internal: String,
    /// The unauthenticated route of `payments`.
    open_route: String,
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
    let open_route = client
        .create_route()
        .api_id(&payments)
        .route_key("GET /pets")
        .authorization_type(AuthorizationType::None)
        .target("integrations/abc123")
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
        .authorizer_id("jwt0001")
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
    let Some(_moto) = Moto::start() else { return };
    let url = _moto.url();
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
    let post = payments["Routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["RouteKey"] == "POST /pets/{id}")
        .unwrap();
    assert_eq!(post["AuthorizationType"], "JWT");
    assert_eq!(post["AuthorizerId"], "jwt0001");
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
    let Some(moto) = Moto::start() else { return };
    let client = support::client(&moto.url()).await;
    let estate = estate(&client).await;
    let (_, report, stderr) = support::check_json(
        &moto.url(),
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

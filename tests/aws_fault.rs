//! The live source against the fault server: pagination, throttling and every
//! fault, end to end through the built binary and the real SDK.

mod support;

use serde_json::Value;
use support::fault::{self, Fault, FaultServer, Meter, Rule, Throttle};

/// A generous budget, so that only the server throttles, and a per-request
/// timeout no loaded machine reaches, so that only injected faults cause
/// retries: request counts are exact.
const FAST: &str =
    "requests_per_second = 1000.0\nburst = 1000\ntimeout = \"30s\"\nmax_backoff = \"2s\"";

async fn check(
    server: &FaultServer,
    aws: &str,
    rest: &str,
    extra_args: &[&str],
) -> (Option<i32>, Value, String) {
    let mut args = vec!["--fail-on", "never"];
    args.extend_from_slice(extra_args);
    support::check_json(&server.url(), &format!("{aws}\n{rest}"), &args).await
}

/// `snapshot` of target `t` on the server: the run and the fleet file it wrote.
async fn snapshot(server: &FaultServer) -> (std::process::Output, Value) {
    let dir = tempfile::tempdir().unwrap();
    let config = support::config(
        dir.path(),
        &server.url(),
        &format!("{FAST}\n[[targets]]\nname = \"t\""),
    );
    let out = dir.path().join("fleet.json");
    let output = support::run_async(
        dir.path(),
        &[
            "snapshot",
            "-c",
            config.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
    )
    .await;
    let fleet = std::fs::read(&out)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(Value::Null);
    (output, fleet)
}

/// A snapshot that must succeed: the fleet file it wrote.
async fn complete_snapshot(server: &FaultServer) -> Value {
    let (output, fleet) = snapshot(server).await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        support::stderr(&output)
    );
    fleet
}

fn route_keys(report: &Value, api: &str) -> usize {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["api_id"] == api)
        .count()
}

fn errors(report: &Value) -> Vec<(String, String, String)> {
    report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["api_id"].as_str().unwrap_or("-").to_owned(),
                e["operation"].as_str().unwrap().to_owned(),
                e["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagination_reads_every_page_of_every_shape() {
    let server = FaultServer::start(vec![
        fault::api("one", 1),
        fault::api("ten", 10),
        fault::api("empty", 0),
        fault::api("seven", 7),
    ])
    .await;
    server.set_page_cap(5);
    let (code, report, stderr) = check(&server, FAST, "[[targets]]\nname = \"t\"", &[]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report["summary"]["apis"], 4);
    assert_eq!(report["summary"]["routes"], 18, "1 + 10 + 0 + 7");
    let counts = server.counts();
    assert_eq!(
        fault::route_requests(&counts, "ten"),
        2,
        "an exact multiple: no empty third page"
    );
    assert_eq!(fault::route_requests(&counts, "seven"), 2);
    assert_eq!(fault::route_requests(&counts, "empty"), 1);
    assert_eq!(counts.by_path["/v2/apis"], 1);

    // Pages of one, with MaxResults 1 and many APIs to discover.
    let many: Vec<_> = (0..12)
        .map(|i| fault::api(&format!("api{i:02}"), 3))
        .collect();
    let server = FaultServer::start(many).await;
    let (code, report, stderr) = check(
        &server,
        &format!("{FAST}\npage_size = 1"),
        "[[targets]]\nname = \"t\"",
        &[],
    )
    .await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report["summary"]["routes"], 36);
    let counts = server.counts();
    assert_eq!(counts.by_path["/v2/apis"], 12, "GetApis one API per page");
    assert_eq!(fault::route_requests(&counts, "api05"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_field_reaches_the_policies() {
    let mut api = fault::api("full", 0);
    api.routes = vec![serde_json::json!({
        "routeId": "r1", "routeKey": "ANY /{proxy+}", "authorizationType": "JWT",
        "authorizationScopes": ["a", "b"], "authorizerId": "au1", "apiKeyRequired": true,
        "apiGatewayManaged": true, "operationName": "Op", "target": "integrations/x",
        "modelSelectionExpression": "$request.body.action", "routeResponseSelectionExpression": "$default",
        "requestModels": {"application/json": "M"}, "requestParameters": {"route.request.header.x": {"required": true}}
    })];
    let server = FaultServer::start(vec![api]).await;
    let fleet = complete_snapshot(&server).await;
    let api = &fleet["Apis"][0];
    assert_eq!(api["Name"], "name-full");
    assert_eq!(api["ProtocolType"], "HTTP");
    assert_eq!(api["Tags"]["env"], "test");
    assert_eq!(api["TargetName"], "t");
    assert_eq!(api["Region"], "us-east-1");
    let route = &api["Routes"][0];
    for (key, value) in [
        ("RouteId", "\"r1\""),
        ("RouteKey", "\"ANY /{proxy+}\""),
        ("AuthorizationType", "\"JWT\""),
        ("AuthorizationScopes", "[\"a\",\"b\"]"),
        ("AuthorizerId", "\"au1\""),
        ("ApiKeyRequired", "true"),
        ("ApiGatewayManaged", "true"),
        ("OperationName", "\"Op\""),
        ("Target", "\"integrations/x\""),
        ("ModelSelectionExpression", "\"$request.body.action\""),
        ("RouteResponseSelectionExpression", "\"$default\""),
        ("RequestModels", "{\"application/json\":\"M\"}"),
        (
            "RequestParameters",
            "{\"route.request.header.x\":{\"Required\":true}}",
        ),
    ] {
        assert_eq!(route[key].to_string(), value, "{key}");
    }
}

/// Every field of the API's settings, authorizers, integrations and stages
/// that the SDK decodes reaches the fleet file under AWS's names, numbers
/// widened (TTL, timeout and burst are i32 on the wire, i64 in the file; the
/// rate limit a float).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_field_of_the_whole_api_reaches_the_fleet_file() {
    use serde_json::json;
    let mut api = fault::api("whole", 1);
    api.settings = json!({
        "apiKeySelectionExpression": "$request.header.x-api-key",
        "description": "the whole API",
        "version": "2026-11",
        "disableExecuteApiEndpoint": true,
        "ipAddressType": "dualstack",
        "corsConfiguration": {
            "allowCredentials": true, "allowHeaders": ["authorization"],
            "allowMethods": ["GET", "POST"], "allowOrigins": ["https://app.test"],
            "exposeHeaders": ["x-request-id"], "maxAge": 600
        }
    })
    .as_object()
    .unwrap()
    .clone();
    api.authorizers = vec![json!({
        "authorizerId": "lambda1", "authorizerType": "REQUEST", "name": "lambda",
        "identitySource": ["$request.header.Authorization", "$context.routeKey"],
        "authorizerUri": "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:auth/invocations",
        "authorizerCredentialsArn": "arn:aws:iam::123456789012:role/invoke",
        "authorizerPayloadFormatVersion": "2.0", "authorizerResultTtlInSeconds": 300,
        "enableSimpleResponses": true, "identityValidationExpression": "^Bearer .+$"
    })];
    api.integrations = vec![json!({
        "integrationId": "i1", "integrationType": "HTTP_PROXY", "connectionType": "VPC_LINK",
        "connectionId": "vpclink1", "integrationMethod": "POST",
        "integrationUri": "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/x/1/2",
        "credentialsArn": "arn:aws:iam::123456789012:role/integration",
        "payloadFormatVersion": "1.0", "integrationSubtype": "SQS-SendMessage",
        "tlsConfig": {"serverNameToVerify": "backend.test"}, "timeoutInMillis": 29000,
        "requestParameters": {"append:header.x-source": "routewarden"}
    })];
    api.stages = vec![json!({
        "stageName": "prod", "deploymentId": "d1", "clientCertificateId": "cert1",
        "description": "production", "autoDeploy": false, "apiGatewayManaged": false,
        "accessLogSettings": {"destinationArn": "arn:aws:logs:us-east-1:123456789012:log-group:p", "format": "$context.requestId"},
        "defaultRouteSettings": {"throttlingRateLimit": 12.5, "throttlingBurstLimit": 40, "loggingLevel": "INFO", "detailedMetricsEnabled": true, "dataTraceEnabled": false},
        "tags": {"team": "payments"}
    })];
    let server = FaultServer::start(vec![api]).await;
    let fleet = complete_snapshot(&server).await;
    let api = &fleet["Apis"][0];
    let expected = json!({
        "ApiEndpoint": "https://whole.execute-api.local",
        "RouteSelectionExpression": "$request.method $request.path",
        "ApiKeySelectionExpression": "$request.header.x-api-key",
        "Description": "the whole API",
        "Version": "2026-11",
        "DisableExecuteApiEndpoint": true,
        "IpAddressType": "dualstack",
        "CorsConfiguration": {
            "AllowCredentials": true, "AllowHeaders": ["authorization"],
            "AllowMethods": ["GET", "POST"], "AllowOrigins": ["https://app.test"],
            "ExposeHeaders": ["x-request-id"], "MaxAge": 600
        },
        "Authorizers": [{
            "AuthorizerId": "lambda1", "AuthorizerType": "REQUEST", "Name": "lambda",
            "IdentitySource": ["$request.header.Authorization", "$context.routeKey"],
            "AuthorizerUri": "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:auth/invocations",
            "AuthorizerCredentialsArn": "arn:aws:iam::123456789012:role/invoke",
            "AuthorizerPayloadFormatVersion": "2.0", "AuthorizerResultTtlInSeconds": 300,
            "EnableSimpleResponses": true, "IdentityValidationExpression": "^Bearer .+$"
        }],
        "Integrations": [{
            "IntegrationId": "i1", "IntegrationType": "HTTP_PROXY", "ConnectionType": "VPC_LINK",
            "ConnectionId": "vpclink1", "IntegrationMethod": "POST",
            "IntegrationUri": "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/x/1/2",
            "CredentialsArn": "arn:aws:iam::123456789012:role/integration",
            "PayloadFormatVersion": "1.0", "IntegrationSubtype": "SQS-SendMessage",
            "TlsConfig": {"ServerNameToVerify": "backend.test"}, "TimeoutInMillis": 29000,
            "RequestParameters": {"append:header.x-source": "routewarden"}
        }],
        "Stages": [{
            "StageName": "prod", "DeploymentId": "d1", "ClientCertificateId": "cert1",
            "Description": "production", "AutoDeploy": false, "ApiGatewayManaged": false,
            "AccessLogSettings": {"DestinationArn": "arn:aws:logs:us-east-1:123456789012:log-group:p", "Format": "$context.requestId"},
            "DefaultRouteSettings": {"ThrottlingRateLimit": 12.5, "ThrottlingBurstLimit": 40, "LoggingLevel": "INFO", "DetailedMetricsEnabled": true, "DataTraceEnabled": false},
            "Tags": {"team": "payments"}
        }]
    });
    for (key, value) in expected.as_object().unwrap() {
        assert_eq!(&api[key], value, "{key}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_survived_without_losing_a_route() {
    let apis: Vec<_> = (0..8).map(|i| fault::api(&format!("t{i}"), 30)).collect();
    let server = FaultServer::start(apis).await;
    server.set_page_cap(5);
    server.set_throttle(Some(Throttle {
        rate: 40.0,
        burst: 5.0,
        retry_after_ms: None,
        retry_after_s: None,
    }));
    // A timeout no loaded machine reaches: a retry is a throttle, never a timeout.
    let aws = "requests_per_second = 200.0\nburst = 50\ntimeout = \"30s\"\nmax_backoff = \"1s\"";
    let (code, report, stderr) = check(
        &server,
        aws,
        "[audit]\nconcurrency = 4\n[[targets]]\nname = \"t\"",
        &[],
    )
    .await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report["summary"]["routes"], 240, "every route audited");
    assert!(errors(&report).is_empty());
    let counts = server.counts();
    assert!(counts.throttled > 0, "the server did throttle: {counts:?}");
    // GetApis: 8 APIs in pages of 5; per API, GetRoutes: 30 routes in pages
    // of 5, and one page each of GetAuthorizers, GetIntegrations and
    // GetStages (the built-in pack reads them).
    assert_eq!(
        counts.requests - counts.throttled,
        2 + 8 * (6 + 3),
        "each page served once: {counts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_hints_and_bare_429s_are_throttling() {
    for throttle in [
        Throttle {
            rate: 5.0,
            burst: 2.0,
            retry_after_ms: Some(300),
            retry_after_s: None,
        },
        Throttle {
            rate: 5.0,
            burst: 2.0,
            retry_after_ms: None,
            retry_after_s: Some(1),
        },
    ] {
        let server =
            FaultServer::start((0..3).map(|i| fault::api(&format!("h{i}"), 4)).collect()).await;
        server.set_throttle(Some(throttle));
        let (code, report, stderr) = check(&server, FAST, "[[targets]]\nname = \"t\"", &[]).await;
        assert_eq!(code, Some(0), "{throttle:?}: {stderr}");
        assert_eq!(report["summary"]["routes"], 12);
    }
    let server = FaultServer::start(vec![fault::api("bare", 4)]).await;
    server.add_fault(Rule::on("bare", Fault::Bare429).times(2));
    let (code, report, stderr) = check(&server, FAST, "[[targets]]\nname = \"t\"", &[]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report["summary"]["routes"], 4);
    assert_eq!(
        fault::route_requests(&server.counts(), "bare"),
        3,
        "two 429s, then the page"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_server_errors_are_retried_and_persistent_ones_isolated() {
    let server = FaultServer::start(vec![
        fault::api("flaky", 4),
        fault::api("broken", 4),
        fault::api("fine", 4),
    ])
    .await;
    server.add_fault(Rule::on("flaky", Fault::error(503, "ServiceUnavailableException")).times(1));
    server.add_fault(Rule::on("broken", Fault::error(500, "InternalServerError")));
    let (code, report, stderr) = check(&server, FAST, "[[targets]]\nname = \"t\"", &[]).await;
    assert_eq!(code, Some(3), "incomplete, nothing failed: {stderr}");
    assert_eq!(report["summary"]["complete"], false);
    assert_eq!(
        errors(&report),
        [(
            "broken".to_owned(),
            "GetRoutes".to_owned(),
            "server_error".to_owned()
        )]
    );
    let error = &report["errors"][0];
    assert_eq!(error["target_name"], "t");
    assert_eq!(error["region"], "us-east-1");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("after 3 attempts"),
        "{error}"
    );
    assert_eq!(
        route_keys(&report, "flaky"),
        route_keys(&report, "fine"),
        "flaky was audited"
    );
    assert_eq!(
        fault::route_requests(&server.counts(), "broken"),
        3,
        "bounded retries"
    );

    // With violations at or above --fail-on, violations win: exit 1.
    let dir = tempfile::tempdir().unwrap();
    let config = support::config(
        dir.path(),
        &server.url(),
        &format!("{FAST}\n[[targets]]\nname = \"t\""),
    );
    let output = support::run_async(dir.path(), &["--check", "-c", config.to_str().unwrap()]).await;
    assert_eq!(output.status.code(), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hangs_bad_json_and_pagination_faults_name_the_api() {
    let server = FaultServer::start(vec![
        fault::api("hangs", 4),
        fault::api("garbled", 4),
        fault::api("loops", 12),
        fault::api("vanishes", 12),
        fault::api("badtoken", 12),
        fault::api("fine", 4),
    ])
    .await;
    server.set_page_cap(5);
    server.add_fault(Rule::on("hangs", Fault::Hang));
    server.add_fault(Rule::on("garbled", Fault::InvalidJson));
    server.add_fault(Rule::on("loops", Fault::RepeatToken));
    server.add_fault(Rule::on("vanishes", Fault::error(404, "NotFoundException")).paged());
    server.add_fault(Rule::on("badtoken", Fault::error(400, "BadRequestException")).paged());
    let aws = "requests_per_second = 1000.0\nburst = 1000\ntimeout = \"1s\"\nmax_backoff = \"1s\"";
    let (code, report, stderr) = check(
        &server,
        aws,
        "[audit]\nconcurrency = 6\n[[targets]]\nname = \"t\"",
        &[],
    )
    .await;
    assert_eq!(code, Some(3), "{stderr}");
    let mut got = errors(&report);
    got.sort();
    let want = [
        ("badtoken", "bad_request"),
        ("garbled", "malformed_response"),
        ("hangs", "timeout"),
        ("loops", "malformed_response"),
        ("vanishes", "not_found"),
    ];
    let want: Vec<_> = want
        .iter()
        .map(|(a, k)| (a.to_string(), "GetRoutes".to_owned(), k.to_string()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(report["summary"]["apis"], 1, "only `fine` was read whole");
    assert!(route_keys(&report, "fine") > 0);
    let loops = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["api_id"] == "loops")
        .unwrap();
    assert!(
        loops["message"].as_str().unwrap().contains("a second time"),
        "{loops}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_ids_discovery_filters_and_unknown_apis() {
    let mut ws = fault::api("ws1", 2);
    ws.protocol = "WEBSOCKET";
    ws.routes
        .push(serde_json::json!({"routeKey": "$connect", "authorizationType": "NONE"}));
    let mut prod = fault::api("prod1", 2);
    prod.name = "prod-payments".into();
    prod.tags.insert("env".into(), "prod".into());
    let server = FaultServer::start(vec![prod, ws, fault::api("dev1", 2)]).await;
    let targets = r#"
[[targets]]
name = "explicit"
api_ids = ["dev1", "nope"]
[[targets]]
name = "filtered"
discover = { name_matches = "^prod-", protocol_type = "HTTP", tags = { env = "prod" } }
[[targets]]
name = "sockets"
discover = { protocol_type = "WEBSOCKET" }
"#;
    let (code, report, stderr) = check(&server, FAST, targets, &[]).await;
    assert_eq!(code, Some(3), "{stderr}");
    let mut apis: Vec<(String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["target_name"].as_str().unwrap().to_owned(),
                f["api_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    apis.sort();
    apis.dedup();
    assert_eq!(
        apis,
        [
            ("explicit".into(), "dev1".into()),
            ("filtered".into(), "prod1".into()),
            ("sockets".into(), "ws1".into())
        ]
    );
    // `nope` does not exist: a named error; the target's other ids are still audited.
    assert_eq!(
        errors(&report),
        [(
            "nope".to_owned(),
            "GetApi".to_owned(),
            "not_found".to_owned()
        )]
    );
    let message = report["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("API `nope` does not exist in us-east-1"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_bounds_apis_in_flight_across_targets() {
    let apis: Vec<_> = (0..12)
        .map(|i| fault::api(&format!("c{i:02}"), 2))
        .collect();
    let server = FaultServer::start(apis).await;
    // Every request is held a while: requests sent together are seen
    // together, however slowly the machine runs.
    server.set_latency(std::time::Duration::from_millis(250));
    let targets = "[audit]\nconcurrency = 2\n[[targets]]\nname = \"a\"\n[[targets]]\nname = \"b\"";
    let (code, report, stderr) = check(&server, FAST, targets, &[]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report["summary"]["apis"], 12);
    let counts = server.counts();
    assert!(
        counts.max_in_flight <= 2,
        "never above the bound: {counts:?}"
    );
    assert!(
        counts.max_in_flight >= 2,
        "requests run at once, not one at a time: {counts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_of_one_account_and_region_share_one_budget() {
    // Two targets on the default credentials, each configured at 10/s, each
    // with two APIs of ten pages, all four read at once: shared, they send
    // 10/s in all; two budgets would send 20/s. The server measures the rate
    // against 12/s on its own clock but throttles nothing: throttling would
    // slow two budgets down until they looked like one.
    let apis: Vec<_> = ["s00", "s01", "s10", "s11"]
        .iter()
        .map(|id| fault::api(id, 50))
        .collect();
    let server = FaultServer::start(apis).await;
    server.set_page_cap(5);
    server.set_meter(Some(Meter {
        rate: 12.0,
        burst: 4.0,
    }));
    let aws = "requests_per_second = 10.0\nburst = 1\ntimeout = \"30s\"";
    let targets = "[audit]\nconcurrency = 4\n[[targets]]\nname = \"a\"\ndiscover = { name_matches = \"-s0\" }\n[[targets]]\nname = \"b\"\ndiscover = { name_matches = \"-s1\" }";
    let started = std::time::Instant::now();
    let (code, report, stderr) = check(&server, aws, targets, &[]).await;
    let elapsed = started.elapsed();
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        report["summary"]["apis"], 4,
        "the two targets read every API"
    );
    assert_eq!(report["summary"]["routes"], 200);
    let counts = server.counts();
    // GetApis twice; per API ten pages of routes and one page each of
    // authorizers, integrations and stages.
    assert_eq!(counts.requests, 2 + 4 * (10 + 3), "{counts:?}");
    // One budget of 10/s with burst 1 spaces every request by 100 ms on the
    // client's clock: the run cannot be shorter. Two budgets take about half.
    let spaced = std::time::Duration::from_millis(100) * (counts.requests as u32 - 1);
    assert!(
        elapsed >= spaced,
        "{} requests in {elapsed:?}, under the {spaced:?} one 10/s budget takes",
        counts.requests
    );
    // On the server's clock requests arrive bunched whenever either process
    // stalls on a loaded machine: at most 4 (the concurrency) at once, which
    // the meter's burst absorbs once. Allow 4 more over the rate; two budgets
    // go over by about 13, no limiter at all by nearly every request.
    assert!(
        counts.over_rate <= 4,
        "{} requests over 12/s: {counts:?}",
        counts.over_rate
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_targets_audit_an_api_once_under_the_first() {
    // `all` and `prod` both discover `p1` in one account and region.
    let server = FaultServer::start(vec![fault::api("p1", 2), fault::api("d1", 2)]).await;
    let targets = "[[targets]]\nname = \"all\"\n[[targets]]\nname = \"prod\"\ndiscover = { name_matches = \"-p\" }";
    let (code, report, stderr) = check(&server, FAST, targets, &["--log-format", "text"]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report["summary"]["apis"], 2, "{report:#}");
    assert_eq!(report["summary"]["routes"], 4);
    let targets: Vec<(&str, &str)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["api_id"].as_str().unwrap(),
                f["target_name"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(targets.iter().all(|(_, t)| *t == "all"), "{targets:?}");
    let warning = stderr
        .lines()
        .find(|l| l.contains("targets overlap"))
        .unwrap_or_else(|| panic!("no warning:\n{stderr}"));
    assert!(
        warning.contains("api_id=p1")
            && warning.contains("first=all")
            && warning.contains("also=prod"),
        "{warning}"
    );
    // Each API was read once: routes, authorizers, integrations, stages.
    assert_eq!(server.counts().requests, 2 + 2 * 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_of_an_incomplete_read_keeps_what_was_read_and_exits_3() {
    let server = FaultServer::start(vec![fault::api("good", 3), fault::api("bad", 3)]).await;
    server.add_fault(Rule::on("bad", Fault::error(403, "AccessDeniedException")));
    let (output, fleet) = snapshot(&server).await;
    assert_eq!(output.status.code(), Some(3));
    assert!(
        support::stderr(&output).contains("AccessDeniedException"),
        "the error is logged"
    );
    let ids: Vec<&str> = fleet["Apis"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["ApiId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["good"]);
    assert_eq!(
        fault::route_requests(&server.counts(), "bad"),
        1,
        "access denied is not retried"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoint_comes_from_the_flag_or_the_environment() {
    let server = FaultServer::start(vec![fault::api("e1", 2)]).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("no-endpoint.toml");
    std::fs::write(
        &config,
        "[aws]\nregion = \"us-east-1\"\ntimeout = \"30s\"\n[[targets]]\nname = \"t\"\n",
    )
    .unwrap();
    let config = config.to_str().unwrap().to_owned();
    let url = server.url();
    let home = dir.path().to_path_buf();
    let (flag, env) = tokio::task::spawn_blocking(move || {
        let args = [
            "--check",
            "--format",
            "json",
            "--fail-on",
            "never",
            "-c",
            &config,
        ];
        let flag = support::command(&home)
            .args(args)
            .args(["--endpoint-url", &url])
            .output()
            .unwrap();
        let env = support::command(&home)
            .args(args)
            .env("AWS_ENDPOINT_URL", &url)
            .output()
            .unwrap();
        (flag, env)
    })
    .await
    .unwrap();
    for output in [flag, env] {
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            support::stderr(&output)
        );
        assert_eq!(support::json(&output)["summary"]["routes"], 2);
    }
    assert_eq!(fault::route_requests(&server.counts(), "e1"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_resets_are_transport_errors_retried_then_reported() {
    // A server that accepts and resets every connection.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let _ = stream.set_zero_linger();
            drop(stream);
        }
    });
    let (code, report, stderr) = support::check_json(
        &format!("http://127.0.0.1:{port}"),
        &format!("{FAST}\n[[targets]]\nname = \"t\""),
        &[],
    )
    .await;
    assert_eq!(code, Some(3), "{stderr}");
    assert_eq!(
        errors(&report),
        [("-".to_owned(), "GetApis".to_owned(), "transport".to_owned())]
    );
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::Relaxed),
        3,
        "bounded retries"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_that_stop_working_name_every_target_and_exit_3() {
    let server = FaultServer::start(vec![fault::api("c1", 4), fault::api("c2", 4)]).await;
    server.add_fault(Rule::everywhere(Fault::error(403, "ExpiredTokenException")));
    let targets =
        "[[targets]]\nname = \"found\"\n[[targets]]\nname = \"listed\"\napi_ids = [\"c2\"]";
    let (code, report, stderr) = check(&server, FAST, targets, &[]).await;
    assert_eq!(code, Some(3), "incomplete, not a crash: {stderr}");
    assert_eq!(report["summary"]["complete"], false);
    let named: Vec<(String, String, String, String)> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["target_name"].as_str().unwrap().to_owned(),
                e["api_id"].as_str().unwrap_or("-").to_owned(),
                e["operation"].as_str().unwrap().to_owned(),
                e["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want = [
        ("found", "-", "GetApis", "access_denied"),
        ("listed", "c2", "GetApi", "access_denied"),
    ]
    .map(|(t, a, o, k)| (t.to_owned(), a.to_owned(), o.to_owned(), k.to_owned()));
    assert_eq!(named, want);
    assert!(stderr.contains("ExpiredTokenException"), "{stderr}");
    assert_eq!(
        server.counts().requests,
        2,
        "refused credentials are not retried"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_cut_mid_response_is_retried_then_names_the_api() {
    let server = FaultServer::start(vec![
        fault::api("cut", 4),
        fault::api("cut-once", 4),
        fault::api("fine", 4),
    ])
    .await;
    server.add_fault(Rule::on("cut", Fault::Reset));
    server.add_fault(Rule::on("cut-once", Fault::Reset).times(1));
    let (code, report, stderr) = check(&server, FAST, "[[targets]]\nname = \"t\"", &[]).await;
    assert_eq!(code, Some(3), "{stderr}");
    assert_eq!(
        errors(&report),
        [(
            "cut".to_owned(),
            "GetRoutes".to_owned(),
            "transport".to_owned()
        )]
    );
    assert_eq!(
        fault::route_requests(&server.counts(), "cut"),
        3,
        "bounded retries"
    );
    assert_eq!(route_keys(&report, "cut-once"), route_keys(&report, "fine"));
}

/// `--check --format json` as a child process, watching its peak RSS
/// (`VmHWM`) until it exits: the exit code, the report, stderr, the peak in
/// MiB and the wall time.
fn check_watched(
    server: &FaultServer,
    aws: &str,
) -> (Option<i32>, Value, String, f64, std::time::Duration) {
    let dir = tempfile::tempdir().unwrap();
    let config = support::config(
        dir.path(),
        &server.url(),
        &format!("{aws}\n[[targets]]\nname = \"t\""),
    );
    let started = std::time::Instant::now();
    let mut child = support::command(dir.path())
        .args(["--check", "--format", "json", "--fail-on", "never", "-c"])
        .arg(&config)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0u64;
    while child.try_wait().unwrap().is_none() {
        if let Ok(status) = std::fs::read_to_string(&status_path)
            && let Some(kb) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak_kb = peak_kb.max(kb);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let elapsed = started.elapsed();
    let output = child.wait_with_output().unwrap();
    (
        output.status.code(),
        support::json(&output),
        support::stderr(&output),
        peak_kb as f64 / 1024.0,
        elapsed,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::print_stderr)] // the figures, for docs/security.md
async fn hostile_endpoints_are_bounded_and_cost_only_their_api() {
    let cases = [
        (
            Fault::EndlessPages(5000),
            "incomplete",
            "more than 10000 routes",
        ),
        (
            Fault::EndlessBody,
            "malformed_response",
            "over 4194304 bytes",
        ),
        (
            Fault::HugeBody(30 << 20),
            "malformed_response",
            "over 4194304 bytes",
        ),
        (Fault::HostileError, "bad_request", "BadRequestException"),
        (Fault::Hang, "timeout", "time budget of 3s"),
    ];
    for (fault, kind, says) in cases {
        let server =
            FaultServer::start(vec![fault::api("other", 3), fault::api("victim", 3)]).await;
        server.add_fault(Rule::on("victim", fault.clone()));
        let aws = format!("{FAST}\napi_time_budget = \"3s\"");
        let (code, report, stderr, peak_mib, elapsed) =
            tokio::task::spawn_blocking(move || check_watched(&server, &aws))
                .await
                .unwrap();
        assert_eq!(code, Some(3), "{fault:?}: {stderr}");
        assert_eq!(
            report["summary"]["apis"], 1,
            "{fault:?}: the other API is audited"
        );
        let error = &report["errors"][0];
        assert_eq!(
            (error["api_id"].as_str(), error["kind"].as_str()),
            (Some("victim"), Some(kind)),
            "{fault:?}: {error:#}"
        );
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(says), "{fault:?}: {message}");
        assert!(
            message.len() <= 1100,
            "{fault:?}: an excerpt, not the body ({} bytes)",
            message.len()
        );
        assert!(
            stderr.len() < 64 << 10,
            "{fault:?}: {} bytes of logs",
            stderr.len()
        );
        assert!(peak_mib < 150.0, "{fault:?}: peak RSS {peak_mib:.0} MiB");
        assert!(
            elapsed < std::time::Duration::from_secs(20),
            "{fault:?}: {elapsed:?}"
        );
        eprintln!(
            "{fault:?}: exit 3, {kind}, peak RSS {peak_mib:.1} MiB, {:.1} s",
            elapsed.as_secs_f64()
        );
    }
}

/// Requests by operation, as a sorted list of `(operation, count)`.
fn by_operation(server: &FaultServer) -> Vec<(String, u64)> {
    server.counts().by_operation.into_iter().collect()
}

fn ops(counts: &[(&str, u64)]) -> Vec<(String, u64)> {
    counts.iter().map(|(o, n)| (o.to_string(), *n)).collect()
}

/// An API with 7 routes and 3 each of authorizers, integrations and stages:
/// in pages of 2, four pages of routes and two of each part.
fn three_of_each(id: &str) -> fault::FakeApi {
    let mut api = fault::api(id, 7);
    let template = (
        api.authorizers[0].clone(),
        api.integrations[0].clone(),
        api.stages[0].clone(),
    );
    for n in 2..=3 {
        let mut authorizer = template.0.clone();
        authorizer["authorizerId"] = format!("auth{n}").into();
        api.authorizers.push(authorizer);
        let mut integration = template.1.clone();
        integration["integrationId"] = format!("{id}-{n}").into();
        api.integrations.push(integration);
        let mut stage = template.2.clone();
        stage["stageName"] = format!("stage{n}").into();
        api.stages.push(stage);
    }
    api
}

/// The issue's third end-to-end case: what the rules need is all that is
/// read, counted at the server. The v1 pack makes exactly the requests of
/// before (GetApis, then GetRoutes pages per API); a stage rule adds
/// GetStages and nothing else; the built-in (v2) pack adds one paginated
/// listing each of authorizers, integrations and stages per API; a v1 pack
/// with a baseline that holds authorizers reads them for drift.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_set_that_needs_no_authorizers_makes_no_get_authorizers_call() {
    let dir = tempfile::tempdir().unwrap();
    let targets = "[[targets]]\nname = \"t\"";
    let start = || async {
        let server = FaultServer::start(vec![three_of_each("big"), fault::api("small", 2)]).await;
        server.set_page_cap(2);
        server
    };

    // The v1 pack: GetApis (2 APIs, one page), GetRoutes 4 + 1 pages.
    let server = start().await;
    let (code, report, stderr) = check(&server, FAST, targets, &support::V1_PACK).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report["summary"]["complete"], true);
    assert_eq!(
        by_operation(&server),
        ops(&[("GetApis", 1), ("GetRoutes", 4 + 1)])
    );

    // A rule on stages only: GetStages (2 + 1 pages), no authorizers, no
    // integrations.
    let stage_rule = dir.path().join("stages.toml");
    std::fs::write(
        &stage_rule,
        "[[rules]]\nid = \"ORG-STAGE\"\ntitle = \"t\"\nseverity = \"low\"\nsubject = \"stage\"\nrequire = { stage.auto_deploy = true }\n",
    )
    .unwrap();
    let server = start().await;
    let (code, _, stderr) = check(
        &server,
        FAST,
        targets,
        &["-p", stage_rule.to_str().unwrap()],
    )
    .await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        by_operation(&server),
        ops(&[("GetApis", 1), ("GetRoutes", 5), ("GetStages", 2 + 1)])
    );

    // The built-in pack (v2): every part, every page, once.
    let server = start().await;
    let (code, report, stderr) = check(&server, FAST, targets, &[]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report["summary"]["complete"], true);
    assert_eq!(
        by_operation(&server),
        ops(&[
            ("GetApis", 1),
            ("GetAuthorizers", 2 + 1),
            ("GetIntegrations", 2 + 1),
            ("GetRoutes", 5),
            ("GetStages", 2 + 1),
        ])
    );
    for (api, pages) in [("big", [4, 2, 2, 2]), ("small", [1, 1, 1, 1])] {
        let counts = server.counts();
        let got = ["routes", "authorizers", "integrations", "stages"]
            .map(|listing| fault::requests_for(&counts, api, listing));
        assert_eq!(
            got, pages,
            "{api}: routes, authorizers, integrations, stages"
        );
    }

    // The v1 pack against a baseline that holds every part (a snapshot):
    // drift needs them, so they are read.
    let server = start().await;
    let fleet = complete_snapshot(&server).await;
    let baseline = dir.path().join("baseline.json");
    std::fs::write(&baseline, serde_json::to_vec(&fleet).unwrap()).unwrap();
    server.reset_counts();
    let mut args = support::V1_PACK.to_vec();
    args.extend(["--baseline", baseline.to_str().unwrap()]);
    let (code, report, stderr) = check(&server, FAST, targets, &args).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| !f["rule_id"].as_str().unwrap().starts_with("drift.")),
        "no drift against itself: {report:#}"
    );
    assert_eq!(
        fault::operation_requests(&server.counts(), "GetAuthorizers"),
        3
    );
}

/// The issue's fourth end-to-end case: a page of authorizers that fails
/// (the second, refused) makes its API incomplete, named with GetAuthorizers,
/// and nothing more of it is read; a GetStages that keeps failing does the
/// same to another API after its retries, an integration without its id to
/// a third; the last API is read whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorizer_page_that_fails_makes_that_api_incomplete_and_the_others_complete() {
    let mut malformed = three_of_each("malformed");
    malformed.integrations[1]
        .as_object_mut()
        .unwrap()
        .remove("integrationId");
    let server = FaultServer::start(vec![
        three_of_each("refused"),
        three_of_each("failing"),
        malformed,
        three_of_each("fine"),
    ])
    .await;
    server.set_page_cap(2);
    server.add_fault(
        Rule::on("refused", Fault::error(400, "BadRequestException"))
            .only("GetAuthorizers")
            .paged(),
    );
    server
        .add_fault(Rule::on("failing", Fault::error(500, "InternalServerError")).only("GetStages"));
    // --fail-on never: violations do not outrank the incomplete audit.
    let (code, report, stderr) = check(&server, FAST, "[[targets]]\nname = \"t\"", &[]).await;
    assert_eq!(code, Some(3), "incomplete: {stderr}");
    assert_eq!(report["summary"]["complete"], false);
    let mut got = errors(&report);
    got.sort();
    assert_eq!(
        got,
        [
            ("failing".into(), "GetStages".into(), "server_error".into()),
            (
                "malformed".into(),
                "GetIntegrations".into(),
                "malformed_response".into()
            ),
            (
                "refused".into(),
                "GetAuthorizers".into(),
                "bad_request".into()
            ),
        ]
    );
    let malformed = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["api_id"] == "malformed")
        .unwrap();
    assert_eq!(
        malformed["message"],
        "GetIntegrations returned an integration without an IntegrationId"
    );
    assert_eq!(report["summary"]["apis"], 1, "only `fine` was read whole");
    let counts = server.counts();
    let listings = |api: &str| {
        ["routes", "authorizers", "integrations", "stages"]
            .map(|listing| fault::requests_for(&counts, api, listing))
    };
    assert_eq!(
        listings("refused"),
        [4, 2, 0, 0],
        "stopped at the refused page"
    );
    assert_eq!(
        listings("failing"),
        [4, 2, 2, 3],
        "GetStages tried three times"
    );
    assert_eq!(listings("fine"), [4, 2, 2, 2]);
}

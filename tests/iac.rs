//! Code before deploy (`--iac`): the fixtures in tests/fixtures/iac, each
//! valid CloudFormation by cfn-lint (tests/iac/lint_fixtures.sh), audited
//! with the built-in pack; positions in every format; values not known
//! before deploy; bad input; and the peers: SAM templates against what the
//! AWS SAM translator makes of them, the CDK app synthesised by `cdk synth`,
//! and drift of what is live in moto against the code.

#![allow(clippy::print_stderr)] // a skipped peer says so

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

fn fixture(path: &str) -> String {
    format!("tests/fixtures/iac/{path}")
}

/// `--check --format json` over `args`: exit code and report.
fn check(args: &[&str]) -> (Option<i32>, Value) {
    let home = tempfile::tempdir().unwrap();
    let mut all = vec!["--check", "--format", "json"];
    all.extend_from_slice(args);
    let output = support::run(home.path(), &all);
    (output.status.code(), support::json(&output))
}

/// `(rule, route or stage, status)` of every finding, sorted.
fn verdicts(report: &Value) -> BTreeSet<(String, String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let subject = match f["subject"].as_str().unwrap() {
                "stage" => format!("stage {}", f["stage"].as_str().unwrap()),
                "api" => "(api)".to_owned(),
                _ => f["route_key"].as_str().unwrap().to_owned(),
            };
            (
                f["rule_id"].as_str().unwrap().to_owned(),
                subject,
                f["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn has(report: &Value, rule: &str, subject: &str, status: &str) -> bool {
    verdicts(report).contains(&(rule.to_owned(), subject.to_owned(), status.to_owned()))
}

fn finding<'a>(report: &'a Value, rule: &str, route_key: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule_id"] == rule && f["route_key"] == route_key)
        .unwrap_or_else(|| panic!("no {rule} on {route_key}: {report:#}"))
}

/// The 1-based line of the first line of a fixture that starts with `text`
/// (after its indentation), and that indentation plus one (the column).
fn line_of(path: &str, text: &str) -> (u64, u64) {
    let source = std::fs::read_to_string(path).unwrap();
    for (i, line) in source.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with(text) {
            return ((i + 1) as u64, (line.len() - trimmed.len() + 1) as u64);
        }
    }
    panic!("{text} is not in {path}");
}

#[test]
fn cloudformation_yaml_with_short_tags_and_json_say_the_same() {
    let (code, yaml) = check(&["--iac", &fixture("cfn/http-api.yaml")]);
    assert_eq!(code, Some(1), "{yaml:#}");
    let (_, json) = check(&["--iac", &fixture("cfn/http-api.json")]);
    assert_eq!(verdicts(&yaml), verdicts(&json));
    // Unauthenticated, any audience, plain HTTP, no access logs.
    assert!(has(&yaml, "RW001", "GET /public", "violation"));
    assert!(has(&yaml, "RW011", "GET /reports", "violation"));
    assert!(has(&yaml, "RW013", "$default", "violation"));
    assert!(has(&yaml, "RW014", "stage $default", "violation"));
    // The logged stage, the preflight route and the authorized route pass.
    assert!(!verdicts(&yaml).iter().any(|v| v.1 == "stage prod"));
    assert!(
        !verdicts(&yaml)
            .iter()
            .any(|v| v.1 == "OPTIONS /items" && v.0 == "RW001")
    );
    assert!(
        !verdicts(&yaml)
            .iter()
            .any(|v| v.1 == "POST /items" && v.0 == "RW011")
    );
    // `!If [IsProd, JWT, NONE]` with the default stage: NONE.
    assert!(has(&yaml, "RW001", "$default", "violation"));
    // A parameter without a default is not a pass and not a violation. Its
    // `AllowedValues` (NONE, AWS_IAM) decide the rules that hold for both
    // alike (RW002 and RW003 apply to JWT and CUSTOM routes only); RW001
    // depends on which: undecided.
    assert!(has(
        &yaml,
        "RW001",
        "GET /internal/metrics",
        "indeterminate"
    ));
    for rule in ["RW002", "RW003"] {
        let on = |v: &(String, String, String)| v.0 == rule && v.1 == "GET /internal/metrics";
        assert!(!verdicts(&yaml).iter().any(on), "{rule}");
    }
    let message = finding(&yaml, "RW001", "GET /internal/metrics")["message"]
        .as_str()
        .unwrap();
    assert!(
        message.contains("authorization_type") && message.contains("AuthType"),
        "{message}"
    );
    assert_eq!(yaml["summary"]["indeterminate"], 1, "{:#}", yaml["summary"]);
}

#[test]
fn parameters_given_on_the_command_line_decide() {
    let path = fixture("cfn/http-api.yaml");
    let (_, report) = check(&[
        "--iac",
        &path,
        "--iac-param",
        "AuthType=AWS_IAM",
        "--iac-param",
        "Stage=prod",
    ]);
    let verdicts = verdicts(&report);
    assert!(
        !verdicts.iter().any(|v| v.2 == "indeterminate"),
        "{verdicts:?}"
    );
    assert!(!verdicts.iter().any(|v| v.0 == "RW001" && v.1 == "$default"));
    assert!(
        !verdicts
            .iter()
            .any(|v| v.0 == "RW001" && v.1 == "GET /internal/metrics")
    );
    let (_, report) = check(&["--iac", &path, "--iac-param", "AuthType=NONE"]);
    assert!(has(&report, "RW001", "GET /internal/metrics", "violation"));
}

#[test]
fn indeterminate_fails_only_when_asked() {
    let path = fixture("cfn/http-api.yaml");
    let (code, _) = check(&["--iac", &path, "--fail-on", "never"]);
    assert_eq!(code, Some(0));
    let (code, _) = check(&[
        "--iac",
        &path,
        "--fail-on",
        "never",
        "--fail-on-indeterminate",
    ]);
    assert_eq!(code, Some(1));
}

#[test]
fn findings_point_at_the_resource_in_every_format() {
    let path = fixture("cfn/http-api.yaml");
    let (line, column) = line_of(&path, "PublicRoute:");
    let (_, report) = check(&["--iac", &path]);
    let location = &finding(&report, "RW001", "GET /public")["location"];
    assert_eq!(location["path"], path.as_str());
    assert_eq!(
        (location["line"].as_u64(), location["column"].as_u64()),
        (Some(line), Some(column))
    );

    let home = tempfile::tempdir().unwrap();
    let text = support::run(home.path(), &["--check", "--iac", &path]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains(&format!("{path}:{line}:{column}")), "{text}");

    let sarif = support::run(
        home.path(),
        &["--check", "--format", "sarif", "--iac", &path],
    );
    let sarif = support::json(&sarif);
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let public = results
        .iter()
        .find(|r| {
            r["ruleId"] == "RW001"
                && r["message"]["text"]
                    .as_str()
                    .unwrap()
                    .contains("GET /public")
        })
        .unwrap();
    let physical = &public["locations"][0]["physicalLocation"];
    assert_eq!(physical["artifactLocation"]["uri"], path.as_str());
    assert_eq!(physical["region"]["startLine"].as_u64(), Some(line));
    assert_eq!(physical["region"]["startColumn"].as_u64(), Some(column));
    // Undecided before deploy: a note, whatever the severity.
    let undecided = results
        .iter()
        .find(|r| {
            r["message"]["text"]
                .as_str()
                .unwrap()
                .contains("/internal/metrics")
        })
        .unwrap();
    assert_eq!(undecided["level"], "note");

    let junit = support::run(
        home.path(),
        &["--check", "--format", "junit", "--iac", &path],
    );
    let junit = String::from_utf8_lossy(&junit.stdout);
    assert!(
        junit.contains("indeterminate: authorization_type"),
        "{junit}"
    );
}

#[test]
fn websocket_and_quick_create_follow_the_live_semantics() {
    let (_, report) = check(&["--iac", &fixture("cfn/websocket.yaml")]);
    let rw001: BTreeSet<_> = verdicts(&report)
        .into_iter()
        .filter(|v| v.0 == "RW001")
        .collect();
    // Only $connect carries authorization on a WebSocket API; it has it.
    assert!(rw001.is_empty(), "{rw001:?}");

    let (_, report) = check(&["--iac", &fixture("cfn/quick-create.yaml")]);
    let on = |api: &str, rule: &str| {
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["api_name"] == api && f["rule_id"] == rule)
    };
    // The managed route: open as quick create makes it, unless overridden.
    assert!(on("hooks-api", "RW001"));
    assert!(!on("accounts-api", "RW001"));
    assert!(on("hooks-api", "RW014"));
    assert!(!on("accounts-api", "RW014"), "the overrides log the stage");
}

#[test]
fn exemptions_match_by_api_name_before_deploy() {
    let dir = tempfile::tempdir().unwrap();
    let exemptions = dir.path().join("exemptions.toml");
    std::fs::write(
        &exemptions,
        "[[exemptions]]\nrule = \"RW001\"\napi = \"items-api-*\"\nroute_key = \"GET /public\"\nreason = \"public by design\"\nowner = \"team-items\"\nexpires = 2099-01-01\n",
    )
    .unwrap();
    let (_, report) = check(&[
        "--iac",
        &fixture("cfn/http-api.yaml"),
        "-p",
        "builtin",
        "-p",
        exemptions.to_str().unwrap(),
    ]);
    assert!(
        has(&report, "RW001", "GET /public", "exempted"),
        "{report:#}"
    );
}

#[test]
fn snapshot_writes_what_the_code_defines_and_audits_alike() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = dir.path().join("fleet.json");
    let path = fixture("cfn/http-api.yaml");
    let output = support::run(
        dir.path(),
        &["snapshot", "--iac", &path, "-o", fleet.to_str().unwrap()],
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        support::stderr(&output)
    );
    let (_, from_code) = check(&["--iac", &path]);
    let (_, from_fleet) = check(&["--routes", fleet.to_str().unwrap()]);
    assert_eq!(verdicts(&from_code), verdicts(&from_fleet));
}

#[test]
fn validate_reads_code_and_counts_it() {
    let home = tempfile::tempdir().unwrap();
    let output = support::run(
        home.path(),
        &["validate", "--iac", "tests/fixtures/iac/cfn"],
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        support::stderr(&output)
    );
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("routes of") && text.contains("in code"),
        "{text}"
    );
}

/// Writes `files` into a new directory; returns it.
fn files(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

fn run_in(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = support::command(dir);
    cmd.current_dir(dir).args(args);
    cmd.output().unwrap()
}

#[test]
fn bad_code_is_exit_2_naming_every_file_and_position() {
    let dir = files(&[
        (
            "broken.yaml",
            "Resources:\n  Api:\n    Type: AWS::ApiGatewayV2::Api\n    Properties: {Name: x\n",
        ),
        (
            "dangling.yaml",
            "Resources:\n  Api:\n    Type: AWS::ApiGatewayV2::Api\n    Properties: {Name: x, ProtocolType: HTTP}\n  R:\n    Type: AWS::ApiGatewayV2::Route\n    Properties:\n      ApiId: !Ref Api\n      RouteKey: GET /x\n      AuthorizerId: !Ref Missing\n",
        ),
        (
            "nopaths.yaml",
            "openapi: 3.0.1\ninfo: {title: t, version: '1'}\nx-amazon-apigateway-cors: {allowOrigins: ['*']}\n",
        ),
        (
            "plan.json",
            "{\"format_version\": \"2.0\", \"planned_values\": {\"root_module\": {}}}\n",
        ),
    ]);
    let output = run_in(dir.path(), &["--check", "--iac", "."]);
    let stderr = support::stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("broken.yaml:"), "{stderr}");
    assert!(stderr.contains("dangling.yaml:10:"), "{stderr}");
    assert!(stderr.contains("`Missing` is neither"), "{stderr}");
    assert!(stderr.contains("nopaths.yaml:"), "{stderr}");
    assert!(stderr.contains("plan.json:1:"), "{stderr}");
    assert!(stderr.contains("format_version"), "{stderr}");
}

#[test]
fn a_file_that_is_no_kind_of_code_is_refused_when_named_and_skipped_in_a_directory() {
    let dir = files(&[("package.json", "{\"name\": \"x\"}\n")]);
    let output = run_in(dir.path(), &["--check", "--iac", "package.json"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(support::stderr(&output).contains("is not a CloudFormation"));
    std::fs::write(
        dir.path().join("api.yaml"),
        "Resources:\n  Api:\n    Type: AWS::ApiGatewayV2::Api\n    Properties: {Name: x, ProtocolType: HTTP}\n  R:\n    Type: AWS::ApiGatewayV2::Route\n    Properties: {ApiId: !Ref Api, RouteKey: GET /x}\n",
    )
    .unwrap();
    // A Helm chart's templated YAML does not parse, and is not code.
    std::fs::write(
        dir.path().join("deployment.yaml"),
        "spec:\n  replicas: {{ .Values.replicas }}\n  {{- if .Values.x }}\n",
    )
    .unwrap();
    let output = run_in(dir.path(), &["--check", "--format", "json", "--iac", "."]);
    let stderr = support::stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(has(&support::json(&output), "RW001", "GET /x", "violation"));
    // An OpenAPI file broken by an edit fails the run; it never vanishes.
    std::fs::write(
        dir.path().join("openapi.yaml"),
        "openapi: 3.0.1\npaths: {\n",
    )
    .unwrap();
    let output = run_in(dir.path(), &["--check", "--iac", "."]);
    let stderr = support::stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("openapi.yaml:"), "{stderr}");
}

/// A peer's path from the variable the test command sets; `None` (skip)
/// outside it, a failure under CI=true.
fn peer(variable: &str) -> Option<PathBuf> {
    match std::env::var_os(variable) {
        Some(path) if Path::new(&path).exists() => Some(PathBuf::from(path)),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{variable} is not set: run the test command (bash tests/run.sh)")
        }
        _ => {
            eprintln!("skipped: {variable} is not set; bash tests/run.sh sets it");
            None
        }
    }
}

/// What must agree between a SAM template and its translation: per route,
/// the rule, route key and status (API ids agree: SAM keeps logical ids).
fn comparable(report: &Value) -> BTreeSet<(String, String, String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["api_id"].as_str().unwrap().to_owned(),
                f["rule_id"].as_str().unwrap().to_owned(),
                format!(
                    "{}{}",
                    f["route_key"].as_str().unwrap(),
                    f["stage"].as_str().unwrap_or("")
                ),
                f["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn sam_templates_audit_as_the_sam_translator_translates_them() {
    let Some(translate) = peer("ROUTEWARDEN_SAM_TRANSLATE") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut compared = 0;
    let fixtures = std::fs::read_dir("tests/fixtures/iac/sam").unwrap();
    let example = PathBuf::from("examples/iac/sam/template.yaml");
    for sam in fixtures.map(|e| e.unwrap().path()).chain([example]) {
        let translated = dir
            .path()
            .join(sam.file_stem().unwrap())
            .with_extension("json");
        let status = std::process::Command::new(&translate)
            .arg(&sam)
            .arg(&translated)
            .status()
            .unwrap();
        assert!(
            status.success(),
            "the SAM translator failed on {}",
            sam.display()
        );
        let (_, from_sam) = check(&["--iac", sam.to_str().unwrap()]);
        let (_, from_cfn) = check(&["--iac", translated.to_str().unwrap()]);
        assert!(!comparable(&from_sam).is_empty(), "{}", sam.display());
        assert_eq!(
            comparable(&from_sam),
            comparable(&from_cfn),
            "{}: routewarden on the SAM template (left) and on its translation (right)",
            sam.display()
        );
        compared += 1;
    }
    assert!(compared >= 4, "{compared} SAM templates");
}

#[test]
fn the_cdk_app_synthesised_by_cdk_is_audited() {
    let Some(out) = peer("ROUTEWARDEN_CDK_OUT") else {
        return;
    };
    let (code, report) = check(&["--iac", out.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    let by_api = |name: &str| -> BTreeSet<(String, String, String)> {
        let mut only = report.clone();
        only["findings"] = Value::Array(
            report["findings"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["api_name"] == name)
                .cloned()
                .collect(),
        );
        verdicts(&only)
    };
    let orders = by_api("orders-api");
    let expected = [
        ("RW001", "GET /public"),
        ("RW011", "GET /reports"),
        ("RW014", "stage $default"),
    ];
    for (rule, subject) in expected {
        assert!(
            orders.contains(&(rule.to_owned(), subject.to_owned(), "violation".to_owned())),
            "{rule} on {subject}: {orders:?}"
        );
    }
    // Inherited default authorizer, the Lambda authorizer and preflight pass RW001.
    for key in [
        "GET /orders",
        "POST /orders",
        "GET /admin",
        "OPTIONS /orders",
    ] {
        assert!(
            !orders.iter().any(|v| v.0 == "RW001" && v.1 == key),
            "{key}: {orders:?}"
        );
    }
    assert!(!orders.iter().any(|v| v.1 == "stage prod"), "{orders:?}");
    let status = by_api("status-api");
    assert!(status.contains(&("RW013".into(), "GET /status".into(), "violation".into())));
    let chat = by_api("chat-api");
    assert!(!chat.iter().any(|v| v.0 == "RW001"), "{chat:?}");
    assert!(chat.contains(&("RW014".into(), "stage prod".into(), "violation".into())));
    // Ids are Stack/LogicalId; positions are the templates'.
    let public = finding(&report, "RW001", "GET /public");
    assert!(
        public["api_id"]
            .as_str()
            .unwrap()
            .starts_with("RoutewardenHttp/")
    );
    assert!(
        public["location"]["path"]
            .as_str()
            .unwrap()
            .ends_with("RoutewardenHttp.template.json")
    );
}

/// The IaC venv's python (boto3 and cfn-lint's decoder): beside cfn-lint.
fn iac_python() -> Option<PathBuf> {
    peer("ROUTEWARDEN_CFN_LINT").map(|lint| lint.with_file_name("python"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_made_outside_the_pipeline_are_drift_against_the_code() {
    let Some(python) = iac_python() else {
        return;
    };
    let Some(peer) = support::Peer::start().await else {
        return;
    };
    let template = fixture("cfn/http-api.yaml");
    // Deploy the template's APIs as CloudFormation would.
    let deployed = std::process::Command::new(&python)
        .args([
            "tests/iac/deploy_to_moto.py",
            &template,
            &peer.url(),
            "AuthType=AWS_IAM",
        ])
        .output()
        .unwrap();
    assert!(deployed.status.success(), "{}", support::stderr(&deployed));
    let ids: Value = serde_json::from_slice(&deployed.stdout).unwrap();
    let api = ids["ItemsApi"].as_str().unwrap();
    let param = ["--iac-param", "AuthType=AWS_IAM"];
    let target = "[[targets]]\nname = \"prod\"\n";

    // As deployed: the code and what is live agree.
    let mut args = vec!["--baseline-iac", template.as_str()];
    args.extend(param);
    let (code, report, stderr) = support::check_json(&peer.url(), target, &args).await;
    let drift: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule_id"].as_str().unwrap().starts_with("drift."))
        .collect();
    assert!(drift.is_empty(), "{drift:#?}\n{stderr}");
    assert_eq!(code, Some(1), "the built-in rules still fire live");

    // By hand: a new route, and an authorizer taken off a route.
    let client = support::client(&peer.url()).await;
    client
        .create_route()
        .api_id(api)
        .route_key("GET /backdoor")
        .send()
        .await
        .unwrap();
    client
        .update_route()
        .api_id(api)
        .route_id(ids["CreateItemRoute"].as_str().unwrap())
        .authorization_type(aws_sdk_apigatewayv2::types::AuthorizationType::None)
        .authorizer_id("")
        .send()
        .await
        .unwrap();
    // The config's `baseline_iac`, as the daemon takes it.
    let absolute = std::fs::canonicalize(&template).unwrap();
    let extra = format!(
        "{target}[audit]\nbaseline_iac = \"{}\"\n",
        absolute.display()
    );
    let (_, report, stderr) = support::check_json(&peer.url(), &extra, &param).await;
    let drift: BTreeSet<(String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule_id"].as_str().unwrap().starts_with("drift."))
        .map(|f| {
            (
                f["rule_id"].as_str().unwrap().to_owned(),
                f["route_key"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: BTreeSet<(String, String)> = [
        ("drift.added", "GET /backdoor"),
        ("drift.modified", "POST /items"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_owned(), b.to_owned()))
    .collect();
    assert_eq!(drift, expected, "{stderr}");
    let modified = finding(&report, "drift.modified", "POST /items");
    let message = modified["message"].as_str().unwrap();
    assert!(message.contains("authorization_type"), "{message}");
    assert_eq!(
        modified["title"],
        "Route authorization differs from the code"
    );
}

#[test]
fn terraform_plans_read_modules_instances_and_references() {
    let (code, report) = check(&["--iac", &fixture("terraform/http-api.plan.json")]);
    assert_eq!(code, Some(1));
    let apis: BTreeSet<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["api_id"].as_str().unwrap())
        .collect();
    assert!(
        apis.contains("module.edge[\"eu\"].aws_apigatewayv2_api.this"),
        "{apis:?}"
    );
    assert!(
        apis.contains("module.edge[\"us\"].aws_apigatewayv2_api.this"),
        "{apis:?}"
    );
    // The authorizer joined through configuration references: its audience.
    assert!(
        verdicts(&report)
            .iter()
            .any(|v| v.0 == "RW011" && v.2 == "violation")
    );
    let home = tempfile::tempdir().unwrap();
    let path = fixture("terraform/unsupported.plan.json");
    let output = support::run(home.path(), &["--check", "--iac", &path]);
    assert_eq!(output.status.code(), Some(2));
    assert!(support::stderr(&output).contains(&format!("{path}:2:21")));
}

#[test]
fn the_examples_fire_the_built_in_rules() {
    for (example, rules) in [
        (
            "examples/iac/sam",
            &["RW001", "RW011", "RW014", "RW015"][..],
        ),
        (
            "examples/iac/terraform",
            &["RW001", "RW011", "RW013", "RW014", "RW015"],
        ),
        ("examples/iac/openapi", &["RW001", "RW002", "RW013"]),
    ] {
        let (code, report) = check(&["--iac", example]);
        assert_eq!(code, Some(1), "{example}");
        let fired: BTreeSet<String> = verdicts(&report)
            .into_iter()
            .filter(|v| v.2 == "violation")
            .map(|v| v.0)
            .collect();
        for rule in rules {
            assert!(fired.contains(*rule), "{example}: {rule} in {fired:?}");
        }
    }
}

//! Snapshot tests of every report format on the bundled example, with a fixed
//! date so that exemption expiry is stable, plus structural checks of SARIF
//! and JUnit that a consumer (code scanning, a CI test view) relies on.

use std::path::Path;

use routewarden::audit::{self, Audit, Outcome};
use routewarden::report::{self, FailOn, Format, Summary};
use routewarden::source::{ErrorKind, FetchError, Operation};
use routewarden_core::config::Config;
use routewarden_core::diag::Diagnostics;
use routewarden_core::finding::Subject;
use routewarden_core::inventory::{self, Inventory};
use routewarden_core::policy::PolicySet;

/// The audit of an inventory, on a fixed day, routes kept.
fn audit_of(inventory: Inventory, policies: &PolicySet) -> Outcome {
    let audit = Audit {
        policies,
        baseline: None,
        code: None,
        drift_severity: routewarden_core::finding::Severity::Medium,
        today: time::macros::date!(2026 - 06 - 01),
        keep_routes: true,
        warn_expiring: routewarden::audit::WARN_EXPIRING,
    };
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(audit::run(&inventory, &audit, &()))
        .unwrap()
}

fn example() -> Outcome {
    let config = Config::load(Path::new("examples/routewarden.toml")).unwrap();
    let policies = PolicySet::load(&config.audit.policies).unwrap();
    let mut diags = Diagnostics::new();
    let apis = inventory::load_routes_file(&mut diags, Path::new("examples/fleet.json"))
        .unwrap()
        .0;
    audit_of(Inventory { apis }, &policies)
}

fn render(format: Format, outcome: &Outcome, fail_on: FailOn) -> String {
    let summary = Summary::of(outcome, fail_on, false);
    let mut out = Vec::new();
    report::write(format, outcome, &summary, &mut out, false).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn text() {
    let text = render(
        Format::Text,
        &example(),
        FailOn::Severity(routewarden_core::policy::Severity::Low),
    );
    assert!(!text.contains('\x1b'), "no colour unless asked");
    insta::assert_snapshot!(text);
}

#[test]
fn text_in_colour_marks_severities() {
    let outcome = example();
    let summary = Summary::of(&outcome, FailOn::Never, false);
    let mut out = Vec::new();
    report::write(Format::Text, &outcome, &summary, &mut out, true).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("\x1b[1m\x1b[31mcritical"), "{text}");
    assert!(
        text.ends_with("never fails: \x1b[1m\x1b[32mPASS\x1b[0m\n"),
        "{text}"
    );
}

#[test]
fn json() {
    let json = render(
        Format::Json,
        &example(),
        FailOn::Severity(routewarden_core::policy::Severity::High),
    );
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["version"], 1);
    assert_eq!(value["summary"]["failing"], 5, "2 critical + 3 high");
    let keys = [
        "rule_id",
        "severity",
        "title",
        "status",
        "target_name",
        "region",
        "api_id",
        "api_name",
        "route_id",
        "route_key",
        "message",
        "remediation",
    ];
    for finding in value["findings"].as_array().unwrap() {
        for key in keys {
            assert!(finding.get(key).is_some(), "{key} in {finding}");
        }
    }
    insta::assert_snapshot!(json);
}

#[test]
fn sarif() {
    let sarif = render(Format::Sarif, &example(), FailOn::Never);
    let value: serde_json::Value = serde_json::from_str(&sarif).unwrap();
    assert_eq!(value["version"], "2.1.0");
    let run = &value["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 11);
    let level_of = |id: &str| {
        let result = run["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["ruleId"] == id)
            .unwrap();
        result["level"].as_str().unwrap().to_owned()
    };
    assert_eq!(level_of("RW001"), "error");
    assert_eq!(level_of("RW003"), "error");
    assert_eq!(level_of("RW002"), "warning");
    assert_eq!(level_of("RW005"), "note");
    for result in run["results"].as_array().unwrap() {
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], result["ruleId"]);
        assert!(result["locations"][0]["logicalLocations"][0]["fullyQualifiedName"].is_string());
    }
    let suppressed: Vec<_> = run["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r.get("suppressions").is_some())
        .collect();
    assert_eq!(suppressed.len(), 1, "the one active exemption");
    insta::assert_snapshot!(sarif);
}

/// JUnit test cases of an API: each route by each route rule evaluated on
/// it, the API by each API rule, each stage by each stage rule.
fn cases_of(outcome: &Outcome, api: &routewarden_core::inventory::Api) -> usize {
    let rules = |subject: Subject| {
        (outcome.rules.iter())
            .filter(|r| r.subject == subject && r.needs.met_by(api))
            .count()
    };
    let stages = api.stages.as_ref().map_or(0, Vec::len);
    api.routes.len() * rules(Subject::Route) + rules(Subject::Api) + stages * rules(Subject::Stage)
}

#[test]
fn junit() {
    let outcome = example();
    let xml = render(Format::Junit, &outcome, FailOn::Never);
    // The example holds the whole API: every route rule is a case on every
    // route, every API rule on every API, every stage rule on every stage.
    let cases: usize = outcome
        .inventory
        .apis
        .iter()
        .map(|api| cases_of(&outcome, api))
        .sum();
    let api_rules = outcome
        .rules
        .iter()
        .filter(|r| r.subject == Subject::Api)
        .count();
    let stages = 3;
    assert_eq!(
        cases,
        outcome.inventory.route_count() * 9 + 3 * api_rules + stages
    );
    assert_eq!(
        xml.matches("<testcase ").count(),
        cases,
        "one per route and rule evaluated on it, one per API and API rule"
    );
    assert_eq!(xml.matches("<testsuite ").count(), 3, "one per API");
    assert_eq!(
        xml.matches("<failure ").count(),
        11,
        "violations, the expired exemption among them"
    );
    assert_eq!(xml.matches("<skipped ").count(), 1, "the active exemption");
    insta::assert_snapshot!(xml);
}

/// Characters that must never reach a reader raw: what `sanitize` escapes.
fn raw_controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|c| routewarden_core::sanitize::is_escaped(*c) && *c != '\n')
        .collect()
}

/// Route keys that differ only in characters a terminal or an XML writer
/// would act on or drop.
const HOSTILE_KEYS: &[&str] = &[
    "GET /a",
    "GET /a\u{1b}[31m",
    "GET /a\u{7}",
    "GET /a\n",
    "GET /a\r",
    "GET /a\u{202e}",
    "GET /a\u{9b}2J",
];

/// A fleet file whose strings try to drive the terminal, and a read error
/// that does the same with a long message.
fn hostile() -> Outcome {
    let routes: Vec<serde_json::Value> = HOSTILE_KEYS
        .iter()
        .map(|key| serde_json::json!({ "RouteKey": key, "AuthorizationType": "NONE" }))
        .collect();
    let fleet = serde_json::json!({ "Apis": [{
        "ApiId": "x\u{1b}[2J",
        "Name": "evil\u{1b}]0;pwned\u{7}",
        "TargetName": "t\u{202e}gnp.exe",
        "Region": "eu\r\nwest-1",
        "Routes": routes,
    }]});
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hostile.json");
    std::fs::write(&path, fleet.to_string()).unwrap();
    let mut diags = Diagnostics::new();
    let apis = inventory::load_routes_file(&mut diags, &path).unwrap().0;
    let policies = PolicySet::load(&[routewarden_core::policy::PolicySource::Builtin]).unwrap();
    let mut outcome = audit_of(Inventory { apis }, &policies);
    outcome.errors.push(FetchError {
        account_id: None,
        organization: None,
        target_name: Some("t\u{1b}]0;pwned\u{7}".into()),
        region: Some("us\u{202e}".into()),
        api_id: Some("y\u{1b}[2J".into()),
        operation: Operation::GetRoutes,
        kind: ErrorKind::ServerError,
        message: format!(
            "{}\n2026-06-01T00:00:00Z INFO forged",
            "\u{1b}[2J".repeat(20_000)
        ),
    });
    outcome
}

#[test]
fn text_escapes_every_field_and_clips_error_messages() {
    let outcome = hostile();
    let text = render(Format::Text, &outcome, FailOn::Never);
    assert_eq!(raw_controls(&text), Vec::<char>::new(), "{text}");
    assert!(
        text.starts_with(r"evil\u{1b}]0;pwned\u{7} (x\u{1b}[2J) · t\u{202e}gnp.exe · eu\r\nwest-1"),
        "the header: {text}"
    );
    for key in [
        r"GET /a\u{1b}[31m",
        r"GET /a\u{7}",
        r"GET /a\n",
        r"GET /a\r",
        r"GET /a\u{202e}",
        r"GET /a\u{9b}2J",
    ] {
        assert!(text.contains(key), "{key} in {text}");
    }
    let error = text
        .lines()
        .skip_while(|l| *l != "Could not audit")
        .nth(1)
        .unwrap();
    assert!(
        error.starts_with(r"  t\u{1b}]0;pwned\u{7} y\u{1b}[2J GetRoutes: \u{1b}[2J"),
        "{error}"
    );
    assert!(
        error.ends_with("… (79009 more bytes)"),
        "clipped to 1 KiB: {}",
        &error[error.len() - 40..]
    );
    assert!(error.len() < 1024 * 6 + 100, "{} bytes", error.len());
    assert!(!text.contains("forged"), "the forged line was clipped away");
}

#[test]
fn junit_keeps_distinct_route_keys_distinct_and_visible() {
    let outcome = hostile();
    let xml = render(Format::Junit, &outcome, FailOn::Never);
    assert_eq!(raw_controls(&xml), Vec::<char>::new(), "{xml}");
    let names: Vec<&str> = xml
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("<testcase name=\""))
        .map(|l| &l[..l.find('"').unwrap()])
        .collect();
    let cases = cases_of(&outcome, &outcome.inventory.apis[0]);
    assert!(cases >= HOSTILE_KEYS.len() * 5);
    assert_eq!(names.len(), cases, "one line per test case: {xml}");
    let mut distinct = names.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        cases,
        "no two route keys collapse: {names:?}"
    );
    assert!(
        xml.contains(
            r#"<testcase name="RW001 GET /a\u{1b}[31m" classname="t\u{202e}gnp.exe.x\u{1b}[2J">"#
        ),
        "{xml}"
    );
    assert!(xml.contains(r#"<testcase name="RW001 GET /a\n" "#), "{xml}");
    assert!(
        xml.contains(r#"<testsuite name="evil\u{1b}]0;pwned\u{7} (x\u{1b}[2J)""#),
        "{xml}"
    );
}

/// Rules on each subject: a route, the API, each stage.
const SUBJECT_RULES: &str = r#"
[[rules]]
id = "ORG-AUTH"
title = "Route allows unauthenticated access"
severity = "critical"
remediation = "Attach an authorizer."
require = { authorization_type = { ne = "NONE" } }

[[rules]]
id = "ORG-CORS"
title = "CORS allows any origin"
severity = "medium"
subject = "api"
remediation = "List the origins."
require = { not = { api.cors.allow_origins = { contains = "*" } } }

[[rules]]
id = "ORG-STAGE-LOGS"
title = "Stages write access logs"
severity = "medium"
subject = "stage"
remediation = "Set AccessLogSettings."
require = { stage.access_log.destination_arn = { exists = true } }
"#;

/// A v2 fleet file audited against a v2 baseline (drift on the API's
/// settings, an authorizer, integrations and stages beside route drift), with
/// a route rule, an API rule and a stage rule.
fn subjects() -> Outcome {
    let load = |path: &str| {
        let mut diags = Diagnostics::new();
        let apis = inventory::load_routes_file(&mut diags, Path::new(path))
            .unwrap_or_else(|| panic!("{}", diags.render(false)))
            .0;
        Inventory { apis }
    };
    let live = load("tests/fixtures/fleets/v2-live.json");
    let baseline = load("tests/fixtures/fleets/v2-baseline.json");
    let policies = PolicySet::load_str("subjects.toml", SUBJECT_RULES).unwrap();
    let audit = Audit {
        policies: &policies,
        baseline: Some(&baseline),
        code: None,
        drift_severity: routewarden_core::finding::Severity::Medium,
        today: time::macros::date!(2026 - 06 - 01),
        keep_routes: true,
        warn_expiring: routewarden::audit::WARN_EXPIRING,
    };
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(audit::run(&live, &audit, &()))
        .unwrap()
}

#[test]
fn api_and_stage_findings_in_every_format() {
    let outcome = subjects();
    // Drift: one finding per route, API part and stage that changed.
    let drift: Vec<(&str, &str, String)> = outcome
        .drift
        .iter()
        .map(|f| {
            let what = match f.subject {
                Subject::Route => f.route_key.clone(),
                Subject::Stage => format!("stage {}", f.stage.as_deref().unwrap()),
                Subject::Api => "(API)".to_owned(),
            };
            (&*f.rule.id, f.subject.as_str(), what)
        })
        .collect();
    assert_eq!(drift.len(), 8, "{drift:?}");
    let text = render(Format::Text, &outcome, FailOn::Never);
    assert!(
        text.contains("  medium   ORG-STAGE-LOGS stage prod      Stages write access logs"),
        "{text}"
    );
    assert!(
        text.contains("  medium   ORG-CORS       (API)           CORS"),
        "{text}"
    );
    insta::assert_snapshot!("subjects-text", text);

    let json = render(Format::Json, &outcome, FailOn::Never);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    for finding in value["findings"].as_array().unwrap() {
        let subject = finding["subject"].as_str().unwrap();
        assert_eq!(
            finding.get("stage").is_some(),
            subject == "stage",
            "{finding}"
        );
        assert_eq!(finding["route_key"] == "", subject != "route", "{finding}");
    }
    insta::assert_snapshot!("subjects-json", json);

    let sarif = render(Format::Sarif, &outcome, FailOn::Never);
    let value: serde_json::Value = serde_json::from_str(&sarif).unwrap();
    let results = value["runs"][0]["results"].as_array().unwrap();
    let fingerprints: std::collections::HashSet<_> = results
        .iter()
        .map(|r| r["partialFingerprints"]["routewarden/v1"].as_str().unwrap())
        .collect();
    assert_eq!(
        fingerprints.len(),
        results.len(),
        "each finding its own identity"
    );
    let stage_result = results
        .iter()
        .find(|r| {
            r["ruleId"] == "drift.modified"
                && r["message"]["text"].as_str().unwrap().starts_with("Stage")
        })
        .unwrap();
    let location = &stage_result["locations"][0];
    assert_eq!(
        location["logicalLocations"][0]["fullyQualifiedName"],
        "payments-prod/pay7x2k9q1/stage:prod"
    );
    assert_eq!(
        location["physicalLocation"]["artifactLocation"]["uri"],
        "tests/fixtures/fleets/v2-live.json"
    );
    assert_eq!(location["physicalLocation"]["region"]["startLine"], 55);
    insta::assert_snapshot!("subjects-sarif", sarif);

    let xml = render(Format::Junit, &outcome, FailOn::Never);
    for name in [
        "ORG-STAGE-LOGS stage $default",
        "ORG-STAGE-LOGS stage prod",
        "ORG-STAGE-LOGS stage dev",
        "ORG-CORS (API)",
        "drift.modified stage prod",
        "drift.modified authorizer `jwt01`",
        "drift.removed authorizer `lam01`",
        "drift.modified API settings",
    ] {
        assert_eq!(
            xml.matches(&format!("<testcase name=\"{name}\"")).count(),
            1,
            "{name} in {xml}"
        );
    }
    assert_eq!(
        xml.matches("<failure ").count(),
        outcome
            .all_findings()
            .filter(|f| f.status.is_open())
            .count()
    );
    insta::assert_snapshot!("subjects-junit", xml);
}

#[test]
fn a_finding_on_what_the_inventory_no_longer_holds_is_still_a_junit_case() {
    let mut outcome = subjects();
    outcome.inventory.apis[0].stages = None;
    let xml = render(Format::Junit, &outcome, FailOn::Never);
    // No stage was read: no stage passes, but every stage finding fails.
    for stage in ["$default", "prod", "dev"] {
        let case = format!("<testcase name=\"ORG-STAGE-LOGS stage {stage}\"");
        assert_eq!(xml.matches(&case).count(), 1, "{case} in {xml}");
    }
    assert_eq!(xml.matches("<testcase name=\"ORG-STAGE-LOGS").count(), 3);
    assert_eq!(
        xml.matches("<failure ").count(),
        outcome.all_findings().count()
    );
}

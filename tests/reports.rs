//! Snapshot tests of every report format on the bundled example, with a fixed
//! date so that exemption expiry is stable, plus structural checks of SARIF
//! and JUnit that a consumer (code scanning, a CI test view) relies on.

use std::path::Path;

use routewarden::audit::{self, Outcome};
use routewarden::config::Config;
use routewarden::diag::Diagnostics;
use routewarden::inventory::{self, Inventory};
use routewarden::policy::PolicySet;
use routewarden::report::{self, FailOn, Format, Summary};

fn example() -> Outcome {
    let config = Config::load(Path::new("examples/routewarden.toml")).unwrap();
    let policies = PolicySet::load(&config.audit.policies).unwrap();
    let mut diags = Diagnostics::new();
    let apis = inventory::load_routes_file(&mut diags, Path::new("examples/fleet.json"))
        .unwrap()
        .0;
    audit::evaluate(
        Inventory { apis },
        &policies,
        time::macros::date!(2026 - 06 - 01),
    )
}

fn render(format: Format, outcome: &Outcome, fail_on: FailOn) -> String {
    let summary = Summary::of(outcome, fail_on);
    let mut out = Vec::new();
    report::write(format, outcome, &summary, &mut out, false).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn text() {
    let text = render(
        Format::Text,
        &example(),
        FailOn::Severity(routewarden::policy::Severity::Low),
    );
    assert!(!text.contains('\x1b'), "no colour unless asked");
    insta::assert_snapshot!(text);
}

#[test]
fn text_in_colour_marks_severities() {
    let outcome = example();
    let summary = Summary::of(&outcome, FailOn::Never);
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
        FailOn::Severity(routewarden::policy::Severity::High),
    );
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["version"], 1);
    assert_eq!(value["summary"]["failing"], 3, "2 critical + 1 high");
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
    assert_eq!(rules.len(), 5);
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

#[test]
fn junit() {
    let outcome = example();
    let xml = render(Format::Junit, &outcome, FailOn::Never);
    let cases = outcome.inventory.route_count() * outcome.rules.len();
    assert_eq!(
        xml.matches("<testcase ").count(),
        cases,
        "one per route and rule"
    );
    assert_eq!(xml.matches("<testsuite ").count(), 3, "one per API");
    assert_eq!(
        xml.matches("<failure ").count(),
        6,
        "violations and the expired exemption"
    );
    assert_eq!(xml.matches("<skipped ").count(), 1, "the active exemption");
    insta::assert_snapshot!(xml);
}

//! Exemption upkeep: exemptions that match nothing and exemptions that expire
//! soon while they still match, in the text, JSON and SARIF reports of
//! `--check`, with `--warn-expiring` and `[audit] warn_expiring`; and in the
//! daemon's metrics (`routewarden_exemption_expiry_timestamp_seconds`,
//! `routewarden_exemption_matched_findings`), checked by promtool.

mod support;

use std::path::{Path, PathBuf};

use serde_json::Value;
use support::{Daemon, json, run, sample, stderr};

const FLEET: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/fleets/v2-live.json"
);

/// Today (UTC) plus `days`, as a TOML date.
fn in_days(days: i64) -> String {
    (time::OffsetDateTime::now_utc().date() + time::Duration::days(days)).to_string()
}

/// The built-in pack plus three exemptions on v2-live.json's API: one that
/// matches (no expiry), one that matches and expires in 5 days, one that
/// matches nothing (a typo in its route key).
fn policies(dir: &Path) -> PathBuf {
    let path = dir.join("exemptions.toml");
    std::fs::write(
        &path,
        format!(
            r#"# Exemptions of the payments API.
[[exemptions]]
rule = "RW013"
api = "payments"
route_key = "GET /health"
reason = "The health probe's backend is on a private network."
owner = "team-payments"

[[exemptions]]
rule = "RW001"
api = "pay7x2k9q1"
route_key = "GET /health"
reason = "Public health probe, no data."
owner = "team-payments"
expires = {soon}

[[exemptions]]
rule = "RW011"
route_key = "GET /paymnets"
reason = "Audience checked in the backend."
expires = {later}
"#,
            soon = in_days(5),
            later = in_days(300),
        ),
    )
    .unwrap();
    path
}

fn check(dir: &Path, args: &[&str]) -> std::process::Output {
    let policies = policies(dir);
    let mut all = vec![
        "--check",
        "--routes",
        FLEET,
        "-p",
        "builtin",
        "-p",
        policies.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    run(dir, &all)
}

#[test]
fn the_json_report_lists_every_exemption_with_what_it_matched() {
    let dir = tempfile::tempdir().unwrap();
    let report = json(&check(dir.path(), &["--format", "json"]));
    let exemptions = report["exemptions"].as_array().unwrap();
    assert_eq!(exemptions.len(), 3, "{exemptions:#?}");
    let by_rule = |rule: &str| -> &Value { exemptions.iter().find(|e| e["rule"] == rule).unwrap() };
    let (health, open, typo) = (by_rule("RW013"), by_rule("RW001"), by_rule("RW011"));
    assert_eq!(health["matched"], 1);
    assert_eq!(health["unmatched"], false);
    assert_eq!(health["expiring"], false);
    assert!(health["days_left"].is_null());
    assert_eq!(open["matched"], 1);
    assert_eq!(open["expiring"], true);
    assert_eq!(open["days_left"], 5);
    assert_eq!(typo["matched"], 0);
    assert_eq!(typo["unmatched"], true);
    assert_eq!(typo["expiring"], false, "300 days away");
    // Where each is written: the policy file and the entry's line.
    assert!(
        open["location"]["path"]
            .as_str()
            .unwrap()
            .ends_with("exemptions.toml")
    );
    assert_eq!(health["location"]["line"], 2);
    assert_eq!(open["location"]["line"], 9);
    assert_eq!(typo["location"]["line"], 17);
    // A stable label: the rule and a hash of what it matches.
    let label = open["label"].as_str().unwrap();
    assert!(
        label.starts_with("RW001-") && label.len() == "RW001-".len() + 8,
        "{label}"
    );
    let again = json(&check(dir.path(), &["--format", "json"]));
    assert_eq!(again["exemptions"][1]["label"], open["label"]);
}

#[test]
fn the_text_report_asks_for_review_of_what_matches_nothing_or_expires_soon() {
    let dir = tempfile::tempdir().unwrap();
    let output = check(dir.path(), &[]);
    let text = String::from_utf8_lossy(&output.stdout);
    let section = text
        .split("Exemptions to review")
        .nth(1)
        .unwrap_or_else(|| panic!("{text}"));
    let lines: Vec<&str> = section
        .lines()
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    assert_eq!(lines.len(), 2, "{section}");
    assert!(lines.iter().any(|l| l.contains("RW011-")
        && l.contains("exemptions.toml:17")
        && l.contains("matches nothing in this audit")));
    assert!(lines.iter().any(|l| l.contains("RW001-")
        && l.contains("exemptions.toml:9")
        && l.contains(&format!(
            "expires {} (in 5 days), still matches 1 finding",
            in_days(5)
        ))));
    // A window of 0 days leaves only the one that matches nothing; a
    // config's window is used when the flag is not given.
    let output = check(dir.path(), &["--warn-expiring", "0d"]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        !text.contains("(in 5 days)") && text.contains("matches nothing"),
        "{text}"
    );
    let config = dir.path().join("routewarden.toml");
    std::fs::write(&config, "[audit]\nwarn_expiring = \"3d\"\n").unwrap();
    let output = check(dir.path(), &["-c", config.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(!text.contains("(in 5 days)"), "{text}");
    let output = check(
        dir.path(),
        &["-c", config.to_str().unwrap(), "--warn-expiring", "1w"],
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("(in 5 days)"));
    // The HTML report has the same two, in its own section.
    let output = check(dir.path(), &["--format", "html"]);
    let page = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        page.matches("class=\"exemption-review\"").count(),
        2,
        "{page}"
    );
    assert!(page.contains("data-unmatched=\"true\""));
    // A window that is no duration is a usage error.
    let output = check(dir.path(), &["--warn-expiring", "soon"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
}

#[test]
fn sarif_results_stand_on_the_exemptions_entries() {
    let dir = tempfile::tempdir().unwrap();
    let sarif = json(&check(dir.path(), &["--format", "sarif"]));
    let run = &sarif["runs"][0];
    let rules: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let upkeep: Vec<&Value> = run["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["ruleId"]
                .as_str()
                .unwrap()
                .starts_with("routewarden.exemption")
        })
        .collect();
    assert_eq!(upkeep.len(), 2, "{upkeep:#?}");
    for result in upkeep {
        let id = result["ruleId"].as_str().unwrap();
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index], id, "ruleIndex points at its descriptor");
        let at = &result["locations"][0]["physicalLocation"];
        assert!(
            at["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
                .ends_with("exemptions.toml")
        );
        let line = at["region"]["startLine"].as_u64().unwrap();
        match id {
            "routewarden.exemption-unmatched" => assert_eq!(line, 17),
            "routewarden.exemption-expiring" => {
                assert_eq!(line, 9);
                assert_eq!(result["level"], "warning");
            }
            other => panic!("{other}"),
        }
    }
}

#[test]
fn the_daemon_exports_each_exemptions_expiry_and_matches() {
    let dir = tempfile::tempdir().unwrap();
    let policies = policies(dir.path());
    let config = dir.path().join("routewarden.toml");
    std::fs::write(&config, support::every_second()).unwrap();
    let daemon = Daemon::start_ready(
        dir.path(),
        &[
            "-c",
            config.to_str().unwrap(),
            "--routes",
            FLEET,
            "-p",
            "builtin",
            "-p",
            policies.to_str().unwrap(),
        ],
    );
    let metrics = daemon.metrics();
    support::promtool(&metrics);
    let expiry = |rule: &str| {
        sample(
            &metrics,
            "routewarden_exemption_expiry_timestamp_seconds",
            &[("rule_id", rule)],
        )
    };
    let soon = time::OffsetDateTime::now_utc().date() + time::Duration::days(5);
    assert_eq!(
        expiry("RW001"),
        Some(soon.midnight().assume_utc().unix_timestamp() as f64),
        "{metrics}"
    );
    assert!(expiry("RW011").is_some());
    assert_eq!(expiry("RW013"), None, "no expiry, no series");
    let matched = |rule: &str| {
        sample(
            &metrics,
            "routewarden_exemption_matched_findings",
            &[("rule_id", rule)],
        )
    };
    assert_eq!(matched("RW001"), Some(1.0));
    assert_eq!(matched("RW013"), Some(1.0));
    assert_eq!(matched("RW011"), Some(0.0));
    let log = daemon.log_text();
    assert_eq!(log.matches("exemption matches nothing").count(), 1, "{log}");
    assert_eq!(
        log.matches("exemption expires soon and still matches")
            .count(),
        1,
        "logged once, not every cycle\n{log}"
    );
    // Still once after more cycles.
    let since = daemon.cycles();
    daemon.wait_for_cycles(since, 2, "two more cycles");
    assert_eq!(
        daemon
            .log_text()
            .matches("exemption matches nothing")
            .count(),
        1
    );
}

//! SARIF as GitHub code scanning accepts it, checked by the SARIF multitool
//! (`validate` with GitHub's rule kinds and SARIF's) and by what the
//! multitool does not check: every result has a physical location (GitHub
//! rejects a whole upload otherwise), in the file and at the line that define
//! the route. Two runs: the bundled example (fleet files), and a live audit of
//! moto (the config's `[[targets]]` line).

#![allow(clippy::print_stderr)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::Peer;

/// The multitool the test command installs (`ROUTEWARDEN_SARIF_MULTITOOL`,
/// else under target/). `None` when missing outside CI; under CI=true a
/// missing peer fails the test.
fn multitool() -> Option<PathBuf> {
    let path = std::env::var_os("ROUTEWARDEN_SARIF_MULTITOOL")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(
                "target/sarif-multitool/node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool",
            )
        });
    if path.exists() {
        return Some(path);
    }
    assert_ne!(
        std::env::var("CI").as_deref(),
        Ok("true"),
        "the SARIF multitool is missing at {}: run the test command (bash tests/run.sh)",
        path.display()
    );
    eprintln!("skipped: SARIF multitool not found; bash tests/run.sh installs it");
    None
}

/// Validates with GitHub's and SARIF's rules; fails on any error, with the
/// multitool's own lines.
fn validate(tool: &Path, sarif: &Path) {
    let out = sarif.with_extension("validation.sarif");
    let output = Command::new(tool)
        .arg("validate")
        .arg(sarif)
        .args(["--rule-kind", "Gh;Sarif", "--log", "ForceOverwrite", "-o"])
        .arg(&out)
        .env("DOTNET_CLI_TELEMETRY_OPTOUT", "1")
        .output()
        .expect("the multitool runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let errors: Vec<&str> = stdout.lines().filter(|l| l.contains(": error ")).collect();
    assert!(
        output.status.success() && errors.is_empty(),
        "SARIF multitool rejects {}:\n{stdout}\n{}",
        sarif.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    // The validation log is itself SARIF: no result at level error.
    let log: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let results = log["runs"][0]["results"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        results.iter().all(|r| r["level"] != "error"),
        "{results:#?}"
    );
}

fn read(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Every rule as GitHub ranks and shows it.
fn check_rules(sarif: &Value) {
    let rules = sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap();
    assert!(!rules.is_empty());
    for rule in rules {
        let id = rule["id"].as_str().unwrap();
        let name = rule["name"]
            .as_str()
            .unwrap_or_else(|| panic!("{id} has no name"));
        assert!(name.chars().all(char::is_alphanumeric), "{id}: {name}");
        assert!(!rule["help"]["text"].as_str().unwrap().is_empty(), "{id}");
        let score: f64 = rule["properties"]["security-severity"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((0.1..=10.0).contains(&score), "{id}: {score}");
        let tags = rule["properties"]["tags"].as_array().unwrap();
        assert!(tags.contains(&Value::from("security")), "{id}");
    }
}

/// `(ruleId, uri, startLine, route, suppressed)` of every result; every
/// result must have a physical location.
fn located(sarif: &Value) -> Vec<(String, String, u64, String, bool)> {
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let mut rows: Vec<_> = results
        .iter()
        .map(|r| {
            let location = &r["locations"][0];
            let physical = &location["physicalLocation"];
            assert!(physical.is_object(), "no physical location: {r:#}");
            assert_eq!(
                physical["artifactLocation"]["uriBaseId"], "%SRCROOT%",
                "{r:#}"
            );
            assert!(
                r["partialFingerprints"]["routewarden/v1"].is_string(),
                "{r:#}"
            );
            (
                r["ruleId"].as_str().unwrap().to_owned(),
                physical["artifactLocation"]["uri"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                physical["region"]["startLine"].as_u64().unwrap(),
                location["logicalLocations"][0]["name"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                r["suppressions"].is_array(),
            )
        })
        .collect();
    rows.sort();
    rows
}

/// The line of `needle` in a file (1-based).
fn line_of(path: &Path, needle: &str) -> u64 {
    let text = std::fs::read_to_string(path).unwrap();
    let index = text
        .lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle} not in {}", path.display()));
    index as u64 + 1
}

#[test]
fn the_bundled_example_validates_and_points_at_each_route() {
    let Some(tool) = multitool() else { return };
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sarif = dir.path().join("example.sarif");
    let output = support::command(dir.path())
        .current_dir(root)
        .args(["--check", "--config", "examples/routewarden.toml"])
        .args(["--routes", "examples/fleet.json", "--format", "sarif", "-o"])
        .arg(&sarif)
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        support::stderr(&output)
    );
    validate(&tool, &sarif);
    let report = read(&sarif);
    check_rules(&report);
    let rows = located(&report);
    let fleet = root.join("examples/fleet.json");
    assert!(!rows.is_empty());
    // Each finding points at what it is about: a route's, a stage's or an
    // API's line.
    for (rule, uri, line, name, _) in &rows {
        assert_eq!(uri, "examples/fleet.json", "{rule} {name}");
        let key = match name.strip_prefix("stage:") {
            Some(stage) => format!("\"StageName\": \"{stage}\""),
            None if rule == "RW015" => format!("\"ApiId\": \"{name}\""),
            None => format!("\"RouteKey\": \"{name}\""),
        };
        assert_eq!(*line, line_of(&fleet, &key), "{rule} {name}");
    }
    let subjects: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert!(
        subjects.contains(&"RW014") && subjects.contains(&"RW015"),
        "{rows:#?}"
    );
    // Exempted findings are results with a suppression, not left out.
    let suppressed: Vec<_> = rows.iter().filter(|r| r.4).collect();
    assert_eq!(suppressed.len(), 1, "{rows:#?}");
    let result = report["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["suppressions"].is_array())
        .unwrap();
    assert_eq!(result["suppressions"][0]["kind"], "external");
    assert!(
        !result["suppressions"][0]["justification"]
            .as_str()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn code_validates_and_points_at_template_lines_and_columns() {
    let Some(tool) = multitool() else { return };
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sarif = dir.path().join("code.sarif");
    // Every kind, with findings undecided before deploy among them.
    let output = support::command(dir.path())
        .current_dir(root)
        .args(["--check", "--format", "sarif", "-o"])
        .arg(&sarif)
        .args(["--iac", "examples/iac", "--iac", "tests/fixtures/iac/cfn"])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        support::stderr(&output)
    );
    validate(&tool, &sarif);
    let report = read(&sarif);
    check_rules(&report);
    let results = report["runs"][0]["results"].as_array().unwrap();
    assert!(results.iter().any(|r| r["level"] == "note"));
    for result in results {
        let physical = &result["locations"][0]["physicalLocation"];
        let uri = physical["artifactLocation"]["uri"].as_str().unwrap();
        assert!(
            uri.starts_with("examples/iac/") || uri.starts_with("tests/fixtures/iac/cfn/"),
            "{uri}"
        );
        assert!(
            physical["region"]["startColumn"].as_u64().is_some(),
            "{result:#}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_audit_points_at_the_targets_entry_of_the_config() {
    let Some(tool) = multitool() else { return };
    // moto behind the proxy that answers GetAuthorizers (the built-in pack
    // reads every part of the API).
    let Some(peer) = Peer::start().await else {
        return;
    };
    let client = support::client(&peer.url()).await;
    support::api_with_open_route(&client, "prod-payments", "GET /pets").await;
    support::api_with_open_route(&client, "staging-shop", "POST /orders").await;
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().to_path_buf();
    let extra = "\n# the prod APIs\n[[targets]]\nname = \"prod\"\ndiscover = { name_matches = \"^prod-\" }\n\n[[targets]]\nname = \"staging\"\ndiscover = { name_matches = \"^staging-\" }\n";
    let config = support::config(&home, &peer.url(), extra);
    let config_name = config.file_name().unwrap().to_str().unwrap().to_owned();
    let output = tokio::task::spawn_blocking({
        let home = home.clone();
        let config_name = config_name.clone();
        move || {
            support::command(&home)
                .current_dir(&home)
                .args([
                    "--check",
                    "-c",
                    &config_name,
                    "--format",
                    "sarif",
                    "-o",
                    "live.sarif",
                ])
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        support::stderr(&output)
    );
    let sarif = home.join("live.sarif");
    validate(&tool, &sarif);
    let report = read(&sarif);
    check_rules(&report);
    let prod = line_of(&config, "name = \"prod\"") - 1;
    let staging = line_of(&config, "name = \"staging\"") - 1;
    let rows: Vec<_> = located(&report)
        .into_iter()
        .filter(|r| r.0 == "RW001")
        .map(|(_, uri, line, route, _)| (uri, line, route))
        .collect();
    assert_eq!(
        rows,
        [
            (config_name.clone(), prod, "GET /pets".to_owned()),
            (config_name, staging, "POST /orders".to_owned()),
        ]
    );
}

#[test]
fn exemptions_to_review_validate_on_their_policy_file() {
    let Some(tool) = multitool() else { return };
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let policies = dir.path().join("exemptions.toml");
    let soon = time::OffsetDateTime::now_utc().date() + time::Duration::days(3);
    std::fs::write(
        &policies,
        format!(
            "[[exemptions]]\nrule = \"RW001\"\nroute_key = \"GET /health\"\nreason = \"Probe.\"\nexpires = {soon}\n\n[[exemptions]]\nrule = \"RW011\"\nroute_key = \"GET /nothing\"\nreason = \"Typo.\"\n"
        ),
    )
    .unwrap();
    // Run where the files are, as CI runs in its checkout: paths relative.
    let fleet = root.join("tests/fixtures/fleets/v2-live.json");
    std::fs::copy(fleet, dir.path().join("fleet.json")).unwrap();
    let sarif = dir.path().join("upkeep.sarif");
    let output = support::command(dir.path())
        .current_dir(dir.path())
        .args(["--check", "--routes", "fleet.json"])
        .args(["-p", "builtin", "-p", "exemptions.toml"])
        .args(["--format", "sarif", "-o"])
        .arg(&sarif)
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        support::stderr(&output)
    );
    validate(&tool, &sarif);
    let report = read(&sarif);
    check_rules(&report);
    let rows = located(&report);
    let upkeep: Vec<_> = rows
        .iter()
        .filter(|r| r.0.starts_with("routewarden.exemption"))
        .map(|r| (r.0.as_str(), r.2))
        .collect();
    assert_eq!(
        upkeep,
        [
            ("routewarden.exemption-expiring", 1),
            ("routewarden.exemption-unmatched", 7)
        ],
        "{rows:#?}"
    );
}

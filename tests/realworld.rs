//! routewarden over inputs in the shapes users really have (tests/fixtures/realworld,
//! written after the AWS CLI's documented outputs), run as a user runs it: the
//! exit code, the findings, and the message that names the place. Each case is
//! one way a "pass" could be wrong: a partial listing, two files for one API,
//! Windows encodings, typos in policies, values out of range.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

const DIR: &str = "tests/fixtures/realworld";

fn fixture(name: &str) -> String {
    format!("{DIR}/{name}")
}

fn run(args: &[&str]) -> Output {
    let home = tempfile::tempdir().unwrap();
    support::command(home.path())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .unwrap()
}

/// `--check --format json` over `routes`: exit code, report, stderr.
fn check(routes: &[&str], extra: &[&str]) -> (i32, Value, String) {
    let mut args = vec!["--check", "--format", "json"];
    for file in routes {
        args.extend(["--routes", file]);
    }
    args.extend(extra);
    let output = run(&args);
    let report = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    (
        output.status.code().unwrap(),
        report,
        support::stderr(&output),
    )
}

/// `(rule, api, route)` of every open violation, sorted.
fn violations(report: &Value) -> Vec<(String, String, String)> {
    let mut rows: Vec<_> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] != "exempted")
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap_or("").to_owned();
            (s("rule_id"), s("api_id"), s("route_key"))
        })
        .collect();
    rows.sort();
    rows
}

fn row(rule: &str, api: &str, route: &str) -> (String, String, String) {
    (rule.to_owned(), api.to_owned(), route.to_owned())
}

#[test]
fn documented_get_routes_output_is_audited() {
    let (code, report, stderr) = check(&[&fixture("k3x9p2m4qa.json")], &[]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(report["summary"]["complete"], true);
    assert_eq!(
        violations(&report),
        [row("RW001", "k3x9p2m4qa", "$default")]
    );
}

#[test]
fn a_first_page_is_audited_and_the_audit_is_incomplete() {
    let (code, report, stderr) = check(&[&fixture("paged/k3x9p2m4qa.json")], &[]);
    assert_eq!(code, 3, "{stderr}");
    assert_eq!(report["summary"]["complete"], false);
    assert_eq!(report["summary"]["routes"], 1);
    let error = &report["errors"][0];
    assert_eq!(error["kind"], "incomplete");
    assert_eq!(error["api_id"], "k3x9p2m4qa");
    assert_eq!(error["operation"], "GetRoutes");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("paged/k3x9p2m4qa.json"), "{message}");
    assert!(message.contains("NextToken"), "{message}");
}

#[test]
fn two_files_for_one_api_id_with_different_routes_are_a_load_error() {
    let dev = fixture("stem/dev/routes.json");
    let prod = fixture("stem/prod/routes.json");
    for order in [[&dev, &prod], [&prod, &dev]] {
        let (code, _, stderr) = check(&[order[0], order[1]], &[]);
        assert_eq!(code, 2, "{stderr}");
        assert!(
            stderr.contains("API `routes` is given twice with different routes"),
            "{stderr}"
        );
        // Both files are named, the second with its position.
        assert!(stderr.contains(&format!("{}:1", order[0])), "{stderr}");
        assert!(stderr.contains(&format!("┌─ {}:1:1", order[1])), "{stderr}");
    }
}

#[test]
fn the_same_api_given_twice_is_audited_once() {
    let (code, report, stderr) = check(
        &[
            &fixture("same/a/routes.json"),
            &fixture("same/b/routes.json"),
        ],
        &[],
    );
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(report["summary"]["apis"], 1);
    assert_eq!(report["summary"]["routes"], 1);
    assert_eq!(violations(&report), [row("RW001", "routes", "GET /")]);
}

#[test]
fn drift_keys_apis_by_target_region_and_id() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("baseline.json");
    let fleet = fixture("fleet-two-targets.json");
    let output = run(&[
        "snapshot",
        "--routes",
        &fleet,
        "-o",
        baseline.to_str().unwrap(),
    ]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        support::stderr(&output)
    );
    // In either order, nothing drifted: the two `routes` APIs stay apart.
    let (code, report, stderr) = check(&[&fleet], &["--baseline", baseline.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    let drift: Vec<_> = violations(&report)
        .into_iter()
        .filter(|(rule, _, _)| rule.starts_with("drift."))
        .collect();
    assert!(drift.is_empty(), "{drift:?}");
    assert_eq!(report["summary"]["apis"], 2);
    assert_eq!(report["summary"]["routes"], 3);
}

/// The fixture's text as Windows tools write it.
fn windows_copies(dir: &Path) -> Vec<(PathBuf, &'static str)> {
    let text = std::fs::read_to_string(fixture("k3x9p2m4qa.json")).unwrap();
    let crlf = text.replace('\n', "\r\n");
    let mut bom8 = vec![0xEF, 0xBB, 0xBF];
    bom8.extend(crlf.as_bytes());
    let mut utf16le = vec![0xFF, 0xFE];
    utf16le.extend(crlf.encode_utf16().flat_map(u16::to_le_bytes));
    let mut utf16be = vec![0xFE, 0xFF];
    utf16be.extend(crlf.encode_utf16().flat_map(u16::to_be_bytes));
    let mut copies = Vec::new();
    for (name, bytes, what) in [
        ("bom8", bom8, "UTF-8 with a byte-order mark"),
        ("utf16le", utf16le, "UTF-16LE (PowerShell 5's >)"),
        ("utf16be", utf16be, "UTF-16BE"),
    ] {
        let sub = dir.join(name);
        std::fs::create_dir_all(&sub).unwrap();
        let path = sub.join("k3x9p2m4qa.json");
        std::fs::write(&path, bytes).unwrap();
        copies.push((path, what));
    }
    copies
}

#[test]
fn windows_encodings_are_read_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    for (path, what) in windows_copies(dir.path()) {
        let output = run(&[
            "--check",
            "--format",
            "sarif",
            "--routes",
            path.to_str().unwrap(),
        ]);
        let stderr = support::stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{what}: {stderr}");
        let report: Value = serde_json::from_slice(&output.stdout).unwrap();
        let result = &report["runs"][0]["results"][0];
        assert_eq!(result["ruleId"], "RW001", "{what}");
        // Lines count the same in every encoding: `$default` is on line 8.
        assert_eq!(
            result["locations"][0]["physicalLocation"]["region"]["startLine"], 8,
            "{what}"
        );
    }
    // Config and policies too.
    let policy = "[[rules]]\r\nid = \"ORG-1\"\r\ntitle = \"Caf\u{e9} routes are authorized\"\r\nseverity = \"low\"\r\nrequire = { authorization_type = { ne = \"NONE\" } }\r\n";
    let config = "[audit]\r\npolicies = [\"policy.toml\"]\r\n";
    let utf16 = |text: &str| -> Vec<u8> {
        [0xFF, 0xFE]
            .into_iter()
            .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
            .collect()
    };
    std::fs::write(dir.path().join("policy.toml"), utf16(policy)).unwrap();
    let mut bom_config = vec![0xEF, 0xBB, 0xBF];
    bom_config.extend(config.as_bytes());
    let config_path = dir.path().join("routewarden.toml");
    std::fs::write(&config_path, bom_config).unwrap();
    let output = run(&["rules", "-c", config_path.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        support::stderr(&output)
    );
    assert!(
        stdout.contains("ORG-1") && stdout.contains("Caf\u{e9} routes"),
        "{stdout}"
    );
}

#[test]
fn other_encodings_say_what_the_file_looks_like() {
    let dir = tempfile::tempdir().unwrap();
    let latin1 = dir.path().join("k3x9p2m4qa.json");
    let mut bytes = b"{\"Items\": [\n  {\"RouteKey\": \"GET /caf".to_vec();
    bytes.extend([0xE9, b'"', b'}', b']', b'}']);
    std::fs::write(&latin1, bytes).unwrap();
    let output = run(&["validate", "--routes", latin1.to_str().unwrap()]);
    let stderr = support::stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("k3x9p2m4qa.json:2:25"), "{stderr}");
    assert!(stderr.contains("Windows-1252"), "{stderr}");
    let no_bom = dir.path().join("routewarden.toml");
    let text: Vec<u8> = "[audit]\r\n"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    std::fs::write(&no_bom, text).unwrap();
    let output = run(&["validate", "-c", no_bom.to_str().unwrap()]);
    let stderr = support::stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("UTF-16 without a byte-order mark"),
        "{stderr}"
    );
}

#[test]
fn undefined_enum_values_are_read_with_a_warning_naming_the_line() {
    let (code, report, stderr) = check(&[&fixture("odd-enums.json")], &["--log-format", "text"]);
    // `websocket` is not WEBSOCKET: RW001 applies as for an unknown protocol.
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        violations(&report),
        [row("RW001", "w5s8k1t4zq", "$connect")]
    );
    let warned = |value: &str, line: u32| {
        stderr.lines().any(|l| {
            l.contains("WARN")
                && l.contains(&format!("value=\"{value}\""))
                && l.contains("odd-enums.json")
                && l.contains(&format!("line={line}"))
        })
    };
    assert!(warned("websocket", 4), "{stderr}");
    assert!(warned("COGNITO_USER_POOLS", 9), "{stderr}");
}

#[test]
fn undefined_values_of_the_whole_api_are_read_with_a_warning_naming_the_line() {
    let (code, report, stderr) = check(
        &[&fixture("odd-enums-v2.json")],
        &["--log-format", "text", "--fail-on", "never"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["summary"]["apis"], 1);
    let warned = |field: &str, value: &str, line: u32| {
        stderr.lines().any(|l| {
            l.contains("WARN")
                && l.contains(&format!("{field} is not a value AWS defines"))
                && l.contains(&format!("value=\"{value}\""))
                && l.contains("odd-enums-v2.json")
                && l.contains(&format!("line={line}"))
        })
    };
    for (field, value, line) in [
        ("IpAddressType", "ipv6", 4),
        ("AuthorizerType", "COGNITO_USER_POOLS", 13),
        ("IntegrationType", "LAMBDA", 19),
        ("ConnectionType", "PRIVATE_LINK", 19),
        ("DefaultRouteSettings.LoggingLevel", "DEBUG", 26),
    ] {
        assert!(warned(field, value, line), "{field} {value}: {stderr}");
    }
    // Defined values are not warned about.
    assert_eq!(
        stderr.matches("is not a value AWS defines").count(),
        5,
        "{stderr}"
    );
}

#[test]
fn two_files_for_one_api_with_the_same_routes_and_other_stages_are_a_load_error() {
    let a = fixture("differ/a/catalog.json");
    let b = fixture("differ/b/catalog.json");
    let (code, _, stderr) = check(&[&a, &b], &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "API `q7v2n5c8xr` is given twice with different stages: here and in {a}:4"
        )),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("┌─ {b}:4:1")), "{stderr}");
    // The same file twice is one API.
    let (code, report, stderr) = check(&[&a, &a], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["summary"]["apis"], 1);
}

#[test]
fn shapes_that_are_not_routewarden_input_say_what_they_are() {
    for (file, says) in [
        ("wire-k3x9p2m4qa.json", "REST wire format"),
        ("get-route-0q1w2e3.json", "single route"),
        (
            "authorizers/k3x9p2m4qa.json",
            "an authorizer (get-authorizer or get-authorizers output)",
        ),
        (
            "stages/k3x9p2m4qa.json",
            "a stage (get-stage or get-stages output)",
        ),
        (
            "integrations/k3x9p2m4qa.json",
            "an integration (get-integration or get-integrations output)",
        ),
    ] {
        let (code, _, stderr) = check(&[&fixture(file)], &[]);
        assert_eq!(code, 2, "{file}: {stderr}");
        assert!(stderr.contains(says), "{file}: {stderr}");
        assert!(stderr.contains(&format!("{file}:1:1")), "{file}: {stderr}");
    }
}

#[test]
fn typos_in_policies_fail_validate_with_their_positions() {
    let output = run(&["validate", "-p", "builtin", "-p", &fixture("typos.toml")]);
    let stderr = support::stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    for expected in [
        "typos.toml:5:31",
        "`jwt` is not a value of `authorization_type`: did you mean `JWT`?",
        "typos.toml:12:30",
        "`WEBSOCKETS` is not a value of `api.protocol_type`: did you mean `WEBSOCKET`?",
        "typos.toml:13:49",
        "`COGNITO_USER_POOLS` is not a value of `authorization_type`",
        "3 problems found",
    ] {
        assert!(stderr.contains(expected), "missing {expected}:\n{stderr}");
    }
}

#[test]
fn out_of_range_config_values_fail_validate_with_their_positions() {
    let output = run(&["validate", "-c", &fixture("out-of-range.toml")]);
    let stderr = support::stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    for expected in [
        "out-of-range.toml:2:12",
        "`interval`",
        "out-of-range.toml:6:23",
        "`requests_per_second` must be from 0.001 to 10000",
        "out-of-range.toml:7:13",
        "`page_size` must be from 1 to 500",
        "out-of-range.toml:8:15",
        "`max_backoff`",
        "4 problems found",
    ] {
        assert!(stderr.contains(expected), "missing {expected}:\n{stderr}");
    }
}

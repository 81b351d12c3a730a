//! End to end: the built binary on fleet files, checking exit codes, reports,
//! and what a user reads on stderr.

use std::path::Path;
use std::process::{Command, Output};

fn routewarden(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_routewarden"))
        .args(args)
        .env_remove("ROUTEWARDEN_CONFIG")
        .env_remove("ROUTEWARDEN_SHARD")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .output()
        .expect("the binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

const EXAMPLE: &[&str] = &[
    "--check",
    "--config",
    "examples/routewarden.toml",
    "--routes",
    "examples/fleet.json",
];

#[test]
fn the_example_fails_with_every_builtin_rule_and_one_exemption() {
    let output = routewarden(EXAMPLE);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stdout(&output);
    // Every built-in rule but RW010 and RW012 (tested on their own in the core).
    for id in [
        "RW001", "RW002", "RW003", "RW004", "RW005", "RW011", "RW013", "RW014", "RW015",
    ] {
        assert!(text.contains(id), "{id} fires:\n{text}");
    }
    assert!(text.contains("RW014 stage prod"), "{text}");
    assert!(text.contains("RW015 (API)"), "{text}");
    assert!(
        text.contains("exempted: Load balancer health probe"),
        "{text}"
    );
    assert!(
        text.contains("exemption expired: Scopes roll out"),
        "{text}"
    );
    assert!(
        text.contains(
            "11 violations (2 critical, 3 high, 4 medium, 1 low, 1 info), 1 exempted, 1 expired exemption"
        ),
        "{text}"
    );
    assert!(!text.contains('\x1b'), "no colour on a pipe");
}

#[test]
fn fail_on_sets_the_threshold() {
    let with = |level: &str| {
        let mut args = EXAMPLE.to_vec();
        args.extend(["--fail-on", level]);
        routewarden(&args).status.code()
    };
    assert_eq!(with("never"), Some(0));
    assert_eq!(with("critical"), Some(1));
    assert_eq!(with("info"), Some(1));
    let clean = routewarden(&["--check", "--routes", "tests/fixtures/fleets/clean.json"]);
    assert_eq!(
        clean.status.code(),
        Some(0),
        "only an info finding: {}",
        stdout(&clean)
    );
    let strict = routewarden(&[
        "--check",
        "--routes",
        "tests/fixtures/fleets/clean.json",
        "--fail-on",
        "info",
    ]);
    assert_eq!(strict.status.code(), Some(1));
}

#[test]
fn json_report_to_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.json");
    let mut args = EXAMPLE.to_vec();
    args.extend(["--format", "json", "-o", out.to_str().unwrap()]);
    let output = routewarden(&args);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty(), "the report went to the file");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(report["summary"]["violations"], 11);
    assert_eq!(report["summary"]["exempted"], 1);
    assert_eq!(report["summary"]["complete"], true);
    assert_eq!(report["errors"].as_array().unwrap().len(), 0);
    let statuses: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["status"].as_str().unwrap())
        .collect();
    assert!(statuses.contains(&"exempted") && statuses.contains(&"expired_exemption"));
}

#[test]
fn sarif_and_junit_are_written() {
    for (format, marker) in [
        ("sarif", "\"version\": \"2.1.0\""),
        ("junit", "<testsuites"),
    ] {
        let mut args = EXAMPLE.to_vec();
        args.extend(["--format", format]);
        let output = routewarden(&args);
        assert_eq!(output.status.code(), Some(1));
        assert!(stdout(&output).contains(marker), "{format}");
    }
}

#[test]
fn raw_get_routes_output_is_an_api_named_by_its_file() {
    let output = routewarden(&[
        "--check",
        "--routes",
        "tests/fixtures/fleets/legacy0001.json",
        "--format",
        "json",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let finding = &report["findings"][0];
    assert_eq!(
        finding["rule_id"], "RW001",
        "unknown protocol: every non-OPTIONS route"
    );
    assert_eq!(finding["api_id"], "legacy0001");
    assert_eq!(finding["route_key"], "$disconnect");
    assert!(finding["api_name"].is_null());
    assert_eq!(report["summary"]["routes"], 2);
}

#[test]
fn several_routes_files_are_one_inventory() {
    let output = routewarden(&[
        "--check",
        "--format",
        "json",
        "--routes",
        "tests/fixtures/fleets/legacy0001.json",
        "--routes",
        "examples/fleet.json",
    ]);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["summary"]["apis"], 4);
    assert_eq!(report["summary"]["routes"], 15);
}

#[test]
fn malformed_inputs_exit_2_naming_the_position() {
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "--check",
                "--routes",
                "tests/fixtures/invalid/fleet-type.json",
            ],
            "tests/fixtures/invalid/fleet-type.json:6:75",
        ),
        (
            &[
                "--check",
                "--routes",
                "tests/fixtures/invalid/fleet-truncated.json",
            ],
            "fleet-truncated.json:7:1",
        ),
        (
            &[
                "--check",
                "--routes",
                "examples/fleet.json",
                "-p",
                "tests/fixtures/invalid/policy-types.toml",
            ],
            "policy-types.toml:6:36",
        ),
        (
            &[
                "--check",
                "--routes",
                "examples/fleet.json",
                "-c",
                "tests/fixtures/invalid/config-values.toml",
            ],
            "config-values.toml:2:10",
        ),
        (
            &[
                "validate",
                "-p",
                "tests/fixtures/invalid/policy-exemptions.toml",
            ],
            "policy-exemptions.toml:9:8",
        ),
        (
            &["--check", "--routes", "no/such/file.json"],
            "cannot read no/such/file.json",
        ),
    ];
    for (args, position) in cases {
        let output = routewarden(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let err = stderr(&output);
        assert!(err.contains(position), "{args:?}: {position} in\n{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(output.stdout.is_empty(), "no report on bad input");
    }
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["--check"][..],
        &["--format", "json"][..],
        &[
            "--check",
            "--fail-on",
            "severe",
            "--routes",
            "examples/fleet.json",
        ][..],
        &[
            "--check",
            "--format",
            "xml",
            "--routes",
            "examples/fleet.json",
        ][..],
    ] {
        let output = routewarden(args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}

#[test]
fn validate_reports_what_it_loaded() {
    let output = routewarden(&[
        "validate",
        "--config",
        "examples/routewarden.toml",
        "--routes",
        "examples/fleet.json",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "ok: 11 rules (11 enabled), 2 exemptions, 0 targets, 13 routes in 1 fleet files\n"
    );
}

#[test]
fn rules_lists_the_pack() {
    let output = routewarden(&["rules"]);
    assert_eq!(output.status.code(), Some(0));
    insta::assert_snapshot!(stdout(&output));
}

#[test]
fn policies_replace_or_extend_the_pack() {
    let dir = tempfile::tempdir().unwrap();
    let org = dir.path().join("org.toml");
    std::fs::write(&org, "[[rules]]\nid = \"ORG-1\"\ntitle = \"Orders need IAM\"\nseverity = \"high\"\nwhen = { api.name = \"orders\" }\nrequire = { authorization_type = \"AWS_IAM\" }\n").unwrap();
    let run = |policies: &[&str]| {
        let mut args = vec![
            "--check",
            "--format",
            "json",
            "--routes",
            "examples/fleet.json",
        ];
        for p in policies {
            args.extend(["-p", p]);
        }
        let out = routewarden(&args);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut ids: Vec<String> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["rule_id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids.dedup();
        ids
    };
    let org = org.to_str().unwrap();
    assert_eq!(run(&[org]), ["ORG-1"]);
    assert_eq!(
        run(&["builtin", org]),
        [
            "ORG-1", "RW001", "RW002", "RW003", "RW004", "RW005", "RW011", "RW013", "RW014",
            "RW015"
        ]
    );
}

#[test]
fn snapshot_writes_a_fleet_file_that_reads_back_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fleet.json");
    let output = routewarden(&[
        "snapshot",
        "-o",
        out.to_str().unwrap(),
        "--routes",
        "examples/fleet.json",
        "--routes",
        "tests/fixtures/fleets/legacy0001.json",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let again = routewarden(&[
        "--check",
        "--format",
        "json",
        "--fail-on",
        "never",
        "--routes",
        out.to_str().unwrap(),
    ]);
    let direct = routewarden(&[
        "--check",
        "--format",
        "json",
        "--fail-on",
        "never",
        "--routes",
        "examples/fleet.json",
        "--routes",
        "tests/fixtures/fleets/legacy0001.json",
    ]);
    assert_eq!(again.status.code(), Some(0));
    // The same findings; where they point differs (the snapshot's lines).
    let without_locations = |output: &Output| {
        let mut report: serde_json::Value = serde_json::from_str(&stdout(output)).unwrap();
        for finding in report["findings"].as_array_mut().unwrap() {
            finding.as_object_mut().unwrap().remove("location");
        }
        report
    };
    assert_eq!(
        without_locations(&again),
        without_locations(&direct),
        "same findings from the snapshot"
    );
    assert!(Path::new(&out).exists());
}

/// `(rule, subject, stage or route key, message)` of each drift finding.
fn drift_of(report: &str) -> Vec<(String, String, String, String)> {
    let value: serde_json::Value = serde_json::from_str(report).unwrap();
    let mut rows: Vec<_> = value["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule_id"].as_str().unwrap().starts_with("drift."))
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap_or("").to_owned();
            let what = if f["subject"] == "stage" {
                s("stage")
            } else {
                s("route_key")
            };
            (s("rule_id"), s("subject"), what, s("message"))
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn a_v2_snapshot_is_a_baseline_for_the_whole_api() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("baseline.json");
    let live = "tests/fixtures/fleets/v2-live.json";
    let output = routewarden(&[
        "snapshot",
        "-o",
        baseline.to_str().unwrap(),
        "--routes",
        live,
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let written = std::fs::read_to_string(&baseline).unwrap();
    for key in [
        "\"Authorizers\"",
        "\"Integrations\"",
        "\"Stages\"",
        "\"CorsConfiguration\"",
    ] {
        assert!(written.contains(key), "{key} in {written}");
    }
    let check = |baseline: &str| {
        let output = routewarden(&[
            "--check",
            "--format",
            "json",
            "--fail-on",
            "never",
            "--routes",
            live,
            "--baseline",
            baseline,
        ]);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        drift_of(&stdout(&output))
    };
    assert_eq!(
        check(baseline.to_str().unwrap()),
        [],
        "no drift against itself"
    );
    let row = |rule: &str, subject: &str, what: &str, message: &str| {
        (
            rule.to_owned(),
            subject.to_owned(),
            what.to_owned(),
            message.to_owned(),
        )
    };
    assert_eq!(
        check("tests/fixtures/fleets/v2-baseline.json"),
        [
            row(
                "drift.added",
                "api",
                "",
                "integration `int03`: not in the baseline"
            ),
            row("drift.added", "stage", "dev", "not in the baseline"),
            row(
                "drift.modified",
                "api",
                "",
                "API settings: changed: cors_configuration.allow_origins [\"https://shop.example\"] -> [\"*\"]"
            ),
            row(
                "drift.modified",
                "api",
                "",
                "authorizer `jwt01` (cognito): changed: jwt_configuration.audience [\"payments-api\"] -> []"
            ),
            row(
                "drift.modified",
                "api",
                "",
                "integration `int01`: changed: timeout_in_millis 30000 -> 29000"
            ),
            row(
                "drift.modified",
                "route",
                "GET /health",
                "changed: target \"integrations/int02\" -> \"integrations/int03\""
            ),
            row(
                "drift.modified",
                "stage",
                "prod",
                "changed: access_log_settings.destination_arn \"arn:aws:logs:eu-west-1:123456789012:log-group:payments-access\" -> absent; access_log_settings.format \"$context.requestId\" -> absent; default_route_settings.logging_level \"INFO\" -> \"OFF\"; deployment_id \"dep001\" -> \"dep002\""
            ),
            row(
                "drift.removed",
                "api",
                "",
                "authorizer `lam01` (legacy-lambda): in the baseline, not live"
            ),
        ]
    );
    // A v1 baseline (routes only) of the same API says nothing of the rest.
    let mut v1: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string("tests/fixtures/fleets/v2-baseline.json").unwrap(),
    )
    .unwrap();
    let api = v1["Apis"][0].as_object_mut().unwrap();
    api.retain(|key, _| {
        [
            "ApiId",
            "Name",
            "ProtocolType",
            "Tags",
            "TargetName",
            "Region",
            "Routes",
        ]
        .contains(&key.as_str())
    });
    let v1_path = dir.path().join("v1.json");
    std::fs::write(&v1_path, v1.to_string()).unwrap();
    assert_eq!(
        check(v1_path.to_str().unwrap()),
        [row(
            "drift.modified",
            "route",
            "GET /health",
            "changed: target \"integrations/int02\" -> \"integrations/int03\""
        )]
    );
}

#[test]
fn help_is_stable() {
    insta::assert_snapshot!("help", stdout(&routewarden(&["--help"])));
    insta::assert_snapshot!("help-short", stdout(&routewarden(&["-h"])));
    for sub in ["validate", "snapshot", "rules"] {
        insta::assert_snapshot!(
            format!("help-{sub}"),
            stdout(&routewarden(&[sub, "--help"]))
        );
    }
}

#[test]
fn control_characters_from_a_fleet_file_cannot_drive_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = dir.path().join("evil.json");
    std::fs::write(
        &fleet,
        r#"{"Apis":[{"ApiId":"x\u001b[2J","Name":"evil\u001b]0;pwned\u0007","Routes":[{"RouteKey":"GET /\u001b[31mred\nline","AuthorizationType":"NONE"}]}]}"#,
    )
    .unwrap();
    let output = routewarden(&["--check", "--routes", fleet.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(!text.contains('\x1b') && !text.contains('\x07'), "{text:?}");
    assert!(
        text.contains(r"GET /\u{1b}[31mred\nline"),
        "escaped, not dropped: {text}"
    );
}

/// What `sanitize` escapes, found raw in `text` (line breaks allowed).
fn raw_controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|c| routewarden_core::sanitize::is_escaped(*c) && *c != '\n')
        .collect()
}

#[test]
fn hostile_fleet_and_file_names_reach_no_report_or_log_raw() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = dir.path().join("evil.json");
    std::fs::write(
        &fleet,
        r#"{"Apis":[{"ApiId":"x\u001b[2J","Name":"evil\u001b]0;pwned\u0007","TargetName":"prod\u001b]0;pwned\u0007","Region":"eu\u202ewest","Routes":[{"RouteKey":"GET /\u202eadmin","AuthorizationType":"NONE"},{"RouteKey":"GET /a\rb","AuthorizationType":"NONE"}]}]}"#,
    )
    .unwrap();
    // A get-routes file holding only its first page: an error whose API id
    // (the file's stem) and message (its path) carry the name's characters.
    let paged = dir.path().join("p\u{1b}]0;pwned\u{7}\u{202e}\n.json");
    std::fs::write(
        &paged,
        r#"{"Items":[{"RouteKey":"GET /x","AuthorizationType":"NONE"}],"NextToken":"t"}"#,
    )
    .unwrap();
    let (fleet, paged) = (fleet.to_str().unwrap(), paged.to_str().unwrap());
    let output = routewarden(&[
        "--check",
        "--log-format",
        "text",
        "--routes",
        fleet,
        "--routes",
        paged,
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stdout(&output);
    assert_eq!(raw_controls(&text), Vec::<char>::new(), "{text:?}");
    assert!(
        text.contains(
            r"evil\u{1b}]0;pwned\u{7} (x\u{1b}[2J) · prod\u{1b}]0;pwned\u{7} · eu\u{202e}west"
        ),
        "the header: {text}"
    );
    assert!(
        text.contains(r"GET /\u{202e}admin") && text.contains(r"GET /a\rb"),
        "{text}"
    );
    let error = text
        .lines()
        .skip_while(|l| *l != "Could not audit")
        .nth(1)
        .unwrap();
    assert!(
        error.starts_with(r"  - p\u{1b}]0;pwned\u{7}\u{202e}\n GetRoutes: "),
        "{error}"
    );
    // Text logs: the warning about the partial listing is one line.
    let log = stderr(&output);
    assert_eq!(raw_controls(&log), Vec::<char>::new(), "{log:?}");
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("could not read"))
        .collect();
    assert_eq!(warnings.len(), 1, "{log}");
    assert!(
        warnings[0].contains(r#"api_id="p\u{1b}]0;pwned\u{7}\u{202e}\n""#),
        "{log}"
    );
    let events = log.matches(" WARN ").count();
    assert_eq!(log.lines().count(), events, "one event, one line: {log}");

    // JSON logs: each line is a JSON document holding the exact value.
    let output = routewarden(&[
        "--check",
        "--log-format",
        "json",
        "--routes",
        fleet,
        "--routes",
        paged,
    ]);
    let log = stderr(&output);
    assert_eq!(raw_controls(&log), Vec::<char>::new(), "{log:?}");
    let events: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|e: &serde_json::Value| e["fields"]["message"] == "could not read")
        .collect();
    assert_eq!(events.len(), 1, "{log}");
    assert_eq!(
        events[0]["fields"]["api_id"], "p\u{1b}]0;pwned\u{7}\u{202e}\n",
        "{log}"
    );

    // JUnit: visible, not stripped; no line break inside an attribute.
    let output = routewarden(&["--check", "--format", "junit", "--routes", fleet]);
    let xml = stdout(&output);
    assert_eq!(raw_controls(&xml), Vec::<char>::new(), "{xml:?}");
    assert!(
        xml.contains(
            r#"<testcase name="RW001 GET /a\rb" classname="prod\u{1b}]0;pwned\u{7}.x\u{1b}[2J">"#
        ),
        "{xml}"
    );
}

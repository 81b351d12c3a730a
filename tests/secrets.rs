//! Credentials never leave the process: with an access key, a secret key and
//! a session token set to known values, `--check` and the daemon run at trace
//! level with text and JSON logs against a server that receives signed
//! requests, and none of the values appears in any log line, report or
//! /metrics.

mod support;

use support::fault::{self, FaultServer};

const ACCESS_KEY: &str = "AKIDSECRETTESTKEY01";
const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG/secret-marker-02";
const SESSION_TOKEN: &str = "FwoGZXIvYXdzEsession-marker-03+/=";

fn assert_clean(what: &str, text: &str) {
    for secret in [ACCESS_KEY, SECRET_KEY, SESSION_TOKEN] {
        assert!(
            !text.contains(secret),
            "{secret:?} appears in {what}:\n{text}"
        );
    }
}

fn with_secrets(cmd: &mut std::process::Command) {
    cmd.env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_SESSION_TOKEN", SESSION_TOKEN)
        .env("RUST_LOG", "trace");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credential_reaches_logs_reports_or_metrics() {
    let server = FaultServer::start(vec![fault::api("sec1", 5)]).await;
    let dir = tempfile::tempdir().unwrap();
    let config = support::config(
        dir.path(),
        &server.url(),
        &format!("{}[[targets]]\nname = \"t\"", support::every_second()),
    );
    let home = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        for log_format in ["json", "text"] {
            for format in ["text", "json", "sarif", "junit"] {
                let mut cmd = support::command(&home);
                with_secrets(&mut cmd);
                cmd.args([
                    "--check",
                    "--format",
                    format,
                    "--log-format",
                    log_format,
                    "-c",
                ])
                .arg(&config);
                let output = cmd.output().unwrap();
                assert_eq!(
                    output.status.code(),
                    Some(1),
                    "{}",
                    support::stderr(&output)
                );
                let log = support::stderr(&output);
                assert!(log.lines().count() > 20, "trace logs were written");
                assert_clean(&format!("--check logs ({log_format})"), &log);
                assert_clean(
                    &format!("the {format} report"),
                    &String::from_utf8_lossy(&output.stdout),
                );
            }
            let daemon =
                support::Daemon::spawn(&home, &format!("daemon-{log_format}.log"), |cmd| {
                    with_secrets(cmd);
                    cmd.args(["--log-format", log_format, "-c"]).arg(&config);
                });
            // Two cycles at trace level, the first of them published.
            daemon.wait_for(
                |d| d.cycles() >= 2.0 && d.log_text().contains("audit cycle finished"),
                "two audit cycles, logged",
            );
            let metrics = daemon.metrics();
            assert!(
                metrics.contains("routewarden_violation{"),
                "the daemon audited:\n{metrics}"
            );
            let log_path = daemon.log.clone();
            drop(daemon);
            assert_clean("/metrics", &metrics);
            let log = std::fs::read_to_string(&log_path).unwrap();
            assert!(log.contains("audit cycle finished"));
            assert_clean(&format!("daemon logs ({log_format})"), &log);
        }
    })
    .await
    .unwrap();
    assert!(server.counts().requests > 10, "signed requests were sent");
}

/// The external id of an assumed role is a shared secret between accounts:
/// the AWS SDK prints it at trace level (in the Debug output of the STS
/// request and of the runtime components), and the logs redact it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_ids_are_redacted_from_trace_logs() {
    const EXTERNAL_ID: &str = "xid-marker-04:+/=";
    let server = FaultServer::start(vec![fault::api("sec2", 1)]).await;
    let dir = tempfile::tempdir().unwrap();
    let config = support::config(
        dir.path(),
        &server.url(),
        &format!(
            "[[targets]]\nname = \"cross\"\nrole_arn = \"arn:aws:iam::123456789012:role/audit\"\nexternal_id = \"{EXTERNAL_ID}\""
        ),
    );
    let home = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        for log_format in ["json", "text"] {
            let mut cmd = support::command(&home);
            with_secrets(&mut cmd);
            let output = cmd
                .args(["--check", "--log-format", log_format, "-c"])
                .arg(&config)
                .output()
                .unwrap();
            let log = support::stderr(&output);
            assert!(
                log.contains("external_id: Some(") && log.contains("** redacted **"),
                "the SDK logged the external id ({log_format}):\n{log}"
            );
            assert!(
                !log.contains("xid-marker-04"),
                "the external id appears in the {log_format} logs:\n{log}"
            );
            assert_clean(&format!("--check logs ({log_format})"), &log);
        }
    })
    .await
    .unwrap();
}

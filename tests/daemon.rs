//! The daemon end to end: the built binary, scraped over HTTP, its metrics
//! checked by promtool; against fleet files and against moto.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use aws_sdk_apigatewayv2::types::AuthorizationType;
use support::{Daemon, promtool, sample};

/// The sum of `routewarden_aws_requests_total` over the series with these labels.
fn requests(metrics: &str, labels: &[(&str, &str)]) -> f64 {
    metrics
        .lines()
        .filter_map(|line| line.strip_prefix("routewarden_aws_requests_total{"))
        .filter(|series| {
            labels
                .iter()
                .all(|(k, v)| series.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|series| series.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn config(dir: &Path, body: &str) -> PathBuf {
    write(
        dir,
        "routewarden.toml",
        &format!("{}{body}", support::every_second()),
    )
}

#[test]
fn metrics_from_fleet_files_pass_promtool_and_keep_odd_route_keys_intact() {
    let dir = tempfile::tempdir().unwrap();
    let keys = [
        "GET /say/\"hello\"",
        "GET /back\\slash",
        "GET /new\nline",
        "GET /{proxy+}",
        "GET /café/ünïcødé/日本",
    ];
    let routes: Vec<serde_json::Value> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| serde_json::json!({"RouteId": format!("r{i}"), "RouteKey": k, "AuthorizationType": "NONE"}))
        .collect();
    let fleet = serde_json::json!({"Apis": [{"ApiId": "odd1", "Name": "odd \"api\"", "ProtocolType": "HTTP", "TargetName": "t", "Region": "eu-west-1", "Routes": routes}]});
    let fleet = write(dir.path(), "fleet.json", &fleet.to_string());
    let config = config(dir.path(), "");
    let daemon = Daemon::ready(dir.path(), &config, fleet.to_str().unwrap());
    let metrics = daemon.metrics();
    promtool(&metrics);
    for key in keys {
        let escaped = key
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        assert!(
            metrics.contains(&format!("route_key=\"{escaped}\"")),
            "{key:?} is in /metrics as {escaped:?}:\n{metrics}"
        );
    }
    assert!(metrics.contains("api_name=\"odd \\\"api\\\"\""));
    assert_eq!(
        sample(&metrics, "routewarden_violations", &[("rule_id", "RW001")]),
        Some(5.0)
    );
    assert_eq!(
        sample(&metrics, "routewarden_api_up", &[("api_id", "odd1")]),
        Some(1.0)
    );
    assert_eq!(
        sample(&metrics, "routewarden_policy_rules", &[]),
        Some(11.0)
    );
    assert_eq!(
        sample(&metrics, "routewarden_audit_interval_seconds", &[]),
        Some(1.0)
    );
    assert_eq!(
        sample(&metrics, "routewarden_config_last_reload_successful", &[]),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &metrics,
            "routewarden_shard",
            &[("index", "0"), ("count", "1")]
        ),
        Some(1.0)
    );
    assert_eq!(sample(&metrics, "routewarden_build_info", &[]), Some(1.0));

    // Only GET, only these paths.
    assert_eq!(daemon.get("/nowhere").0, 404);
    let mut stream = TcpStream::connect(("127.0.0.1", daemon.port)).unwrap();
    write!(
        stream,
        "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 405"), "{response}");
}

#[test]
fn a_first_page_is_current_down_and_keeps_the_routes_it_does_not_hold() {
    let dir = tempfile::tempdir().unwrap();
    let open = |key: &str| serde_json::json!({"RouteKey": key, "AuthorizationType": "NONE"});
    let fixed = serde_json::json!({"RouteKey": "GET /a", "AuthorizationType": "AWS_IAM"});
    let file = |items: Vec<serde_json::Value>, token: Option<&str>| {
        serde_json::json!({"Items": items, "NextToken": token}).to_string()
    };
    let routes = write(
        dir.path(),
        "k3x9p2m4qa.json",
        &file(vec![open("GET /a"), open("GET /b")], None),
    );
    let config = config(dir.path(), "");
    let daemon = Daemon::ready(dir.path(), &config, routes.to_str().unwrap());
    let open_rw001 = |m: &str| sample(m, "routewarden_violations", &[("rule_id", "RW001")]);
    let up = |m: &str| sample(m, "routewarden_api_up", &[("api_id", "k3x9p2m4qa")]);
    let metrics = daemon.metrics();
    assert_eq!((up(&metrics), open_rw001(&metrics)), (Some(1.0), Some(2.0)));

    // `--max-items 1`: GET /a, now fixed, and a NextToken. GET /b was not read.
    write(
        dir.path(),
        "k3x9p2m4qa.json",
        &file(vec![fixed], Some("eyJ0b2tlbiI6IDF9")),
    );
    daemon.wait_for(|d| up(&d.metrics()) == Some(0.0), "the API down");
    let metrics = daemon.metrics();
    promtool(&metrics);
    assert_eq!(open_rw001(&metrics), Some(1.0), "{metrics}");
    let violation = |key: &str| {
        sample(
            &metrics,
            "routewarden_violation",
            &[("rule_id", "RW001"), ("route_key", key)],
        )
    };
    assert_eq!(
        (violation("GET /a"), violation("GET /b")),
        (None, Some(1.0))
    );
}

#[test]
fn the_cap_limits_per_route_series_but_not_the_counts() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        "max_violation_series = 2\npolicies = [\"builtin\"]",
    );
    let daemon = Daemon::ready(dir.path(), &config, "examples/fleet.json");
    let metrics = daemon.metrics();
    promtool(&metrics);
    let series = metrics
        .lines()
        .filter(|l| l.starts_with("routewarden_violation{"))
        .count();
    assert_eq!(series, 2);
    // The most severe are kept: 20 info series can never push out RW001.
    assert!(
        metrics
            .lines()
            .filter(|l| l.starts_with("routewarden_violation{"))
            .all(|l| l.contains("severity=\"critical\"")),
        "{metrics}"
    );
    // 12 open violations with the built-in pack alone (no exemptions): 10 dropped.
    assert_eq!(
        sample(&metrics, "routewarden_violation_series_dropped", &[]),
        Some(10.0)
    );
    let total: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("routewarden_violations{"))
        .map(|l| l.rsplit_once(' ').unwrap().1.parse::<f64>().unwrap())
        .sum();
    assert_eq!(total, 12.0, "routewarden_violations stays complete");
    let log = std::fs::read_to_string(dir.path().join("daemon.log")).unwrap();
    assert!(
        log.contains("1 critical, 3 high, 4 medium, 1 low, 1 info"),
        "the dropped series are counted by severity:\n{log}"
    );
}

#[test]
fn sighup_with_a_broken_policy_keeps_the_old_one_and_sigterm_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let policy = write(
        dir.path(),
        "org.toml",
        "[[rules]]\nid = \"ORG-1\"\ntitle = \"t\"\nseverity = \"high\"\nrequire = { authorization_type = { ne = \"NONE\" } }\n",
    );
    let config = config(
        dir.path(),
        &format!("policies = [\"{}\"]", policy.display()),
    );
    let mut daemon = Daemon::ready(dir.path(), &config, "examples/fleet.json");
    let before = sample(
        &daemon.metrics(),
        "routewarden_violations",
        &[("rule_id", "ORG-1")],
    );
    assert!(before.unwrap_or(0.0) > 0.0);

    std::fs::write(&policy, "[[rules]]\nid = \"ORG-1\"\nseverity = \"nope\"\n").unwrap();
    daemon.signal("HUP");
    daemon.wait_for(
        |d| {
            sample(
                &d.metrics(),
                "routewarden_config_last_reload_successful",
                &[],
            ) == Some(0.0)
        },
        "the failed reload is reported",
    );
    // A cycle that started after the failed reload: the second to finish
    // from now (the first may have started before it).
    let since = daemon.cycles();
    daemon.wait_for_cycles(since, 2, "a cycle that started after the failed reload");
    let metrics = daemon.metrics();
    assert_eq!(
        sample(&metrics, "routewarden_violations", &[("rule_id", "ORG-1")]),
        before,
        "old policies still apply"
    );
    let log = std::fs::read_to_string(dir.path().join("daemon.log")).unwrap();
    assert!(
        log.contains("reload failed") && log.contains("org.toml:3:12"),
        "diagnostics are logged:\n{log}"
    );

    // A fixed file is picked up without a signal (the watcher).
    std::fs::write(&policy, "[[rules]]\nid = \"ORG-2\"\ntitle = \"t\"\nseverity = \"low\"\nrequire = { method = \"NEVER\" }\n").unwrap();
    daemon.wait_for(
        |d| {
            let m = d.metrics();
            sample(&m, "routewarden_config_last_reload_successful", &[]) == Some(1.0)
                && sample(&m, "routewarden_violations", &[("rule_id", "ORG-2")]).is_some()
        },
        "the changed file is reloaded and applied",
    );
    assert!(
        sample(
            &daemon.metrics(),
            "routewarden_violations",
            &[("rule_id", "ORG-1")]
        )
        .is_none()
    );

    assert_eq!(terminated(&mut daemon).code(), Some(0));
}

#[test]
fn a_shard_exports_only_its_targets() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "");
    let mut owned = Vec::new();
    for index in 0..2 {
        let shard = format!("{index}/2");
        let daemon = Daemon::start_ready(
            dir.path(),
            &[
                "-c",
                config.to_str().unwrap(),
                "--routes",
                "examples/fleet.json",
                "--shard",
                &shard,
            ],
        );
        let metrics = daemon.metrics();
        assert_eq!(
            sample(
                &metrics,
                "routewarden_shard",
                &[("index", &index.to_string()), ("count", "2")]
            ),
            Some(1.0)
        );
        for target in ["payments-prod", "shop-prod"] {
            if sample(&metrics, "routewarden_api_up", &[("target_name", target)]).is_some() {
                owned.push(target);
            }
        }
    }
    owned.sort();
    assert_eq!(
        owned,
        ["payments-prod", "shop-prod"],
        "each target on exactly one shard"
    );
}

#[test]
fn readiness_waits_for_the_first_cycle() {
    let dir = tempfile::tempdir().unwrap();
    // A listener that never accepts: the daemon's first request connects and
    // waits (up to its 60 s timeout) for an answer that never comes, so the
    // first cycle cannot have finished when /readyz is asked, however slow
    // the machine. Closing the listener resets that connection and refuses
    // the retries: the cycle gives up, and only then is the daemon ready.
    let endpoint = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = endpoint.local_addr().unwrap().port();
    let config = config(
        dir.path(),
        &format!(
            "[aws]\nregion = \"us-east-1\"\nendpoint_url = \"http://127.0.0.1:{port}\"\ntimeout = \"60s\"\nmax_backoff = \"2s\"\n[[targets]]\nname = \"t\""
        ),
    );
    let daemon = Daemon::start(dir.path(), &["-c", config.to_str().unwrap()]);
    assert_eq!(daemon.get("/readyz").0, 503);
    drop(endpoint);
    daemon.wait_for(
        |d| d.get("/readyz").0 == 200,
        "ready after the first (failed) cycle",
    );
    let metrics = daemon.metrics();
    promtool(&metrics);
    assert!(
        sample(
            &metrics,
            "routewarden_audit_cycles_total",
            &[("outcome", "partial")]
        )
        .unwrap()
            >= 1.0
    );
    assert!(
        requests(
            &metrics,
            &[("outcome", "transport_error"), ("operation", "GetApis")]
        ) >= 1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn against_moto_violations_follow_the_estate_and_survive_an_outage() {
    // moto behind the proxy that answers GetAuthorizers: the built-in pack
    // reads every part of the API.
    let Some(mut peer) = support::Peer::start().await else {
        return;
    };
    let client = support::client(&peer.url()).await;
    let (api, route) = support::api_with_open_route(&client, "shop", "GET /orders").await;
    // A stage without access logs: a stage finding (RW014), about no route.
    client
        .create_stage()
        .api_id(&api)
        .stage_name("prod")
        .send()
        .await
        .unwrap();
    let (_dir, daemon) = daemon_against(&peer.url(), "shop-prod", "max_backoff = \"1s\"").await;
    let d = daemon.clone();
    let api_id = api.clone();
    tokio::task::spawn_blocking(move || {
        d.wait_for(
            |d| {
                sample(
                    &d.metrics(),
                    "routewarden_violation",
                    &[
                        ("rule_id", "RW001"),
                        ("api_id", &api_id),
                        ("route_key", "GET /orders"),
                        ("stage", ""),
                    ],
                ) == Some(1.0)
            },
            "the unauthenticated route's series",
        );
        let metrics = d.metrics();
        promtool(&metrics);
        assert_eq!(
            sample(
                &metrics,
                "routewarden_violation",
                &[
                    ("rule_id", "RW014"),
                    ("api_id", &api_id),
                    ("route_key", ""),
                    ("stage", "prod"),
                ],
            ),
            Some(1.0),
            "the stage's series: stage set, route_key empty\n{metrics}"
        );
        // Every operation by name.
        for operation in [
            "GetApis",
            "GetRoutes",
            "GetAuthorizers",
            "GetIntegrations",
            "GetStages",
        ] {
            assert!(
                requests(
                    &metrics,
                    &[("operation", operation), ("outcome", "success")]
                ) >= 1.0,
                "{operation} counted"
            );
        }
    })
    .await
    .unwrap();

    // Fix the route in moto: the series goes within two intervals, counted
    // in cycles, not seconds: by the second complete cycle that finishes after
    // the fix (the first may have read the route before it).
    support::set_authorization(&client, &api, &route, AuthorizationType::AwsIam).await;
    let d = daemon.clone();
    let api_id = api.clone();
    tokio::task::spawn_blocking(move || {
        let fixed = support::complete_cycles(&d.metrics());
        d.wait_for(
            |d| support::complete_cycles(&d.metrics()) >= fixed + 2.0,
            "two complete cycles after the fix",
        );
        let metrics = d.metrics();
        assert_eq!(
            sample(
                &metrics,
                "routewarden_violation",
                &[("api_id", &api_id), ("rule_id", "RW001")]
            ),
            None,
            "the series is gone by the second complete cycle after the fix ({} then, now {})",
            fixed,
            support::complete_cycles(&metrics)
        );
    })
    .await
    .unwrap();

    // Break it again, then stop moto: api_up drops to 0, the violation stays.
    support::set_authorization(&client, &api, &route, AuthorizationType::None).await;
    let d = daemon.clone();
    let api_id = api.clone();
    tokio::task::spawn_blocking(move || {
        d.wait_for(
            |d| {
                sample(
                    &d.metrics(),
                    "routewarden_violation",
                    &[("api_id", &api_id), ("rule_id", "RW001")],
                ) == Some(1.0)
            },
            "violation back",
        )
    })
    .await
    .unwrap();
    let partial = |m: &str| {
        sample(
            m,
            "routewarden_audit_cycles_total",
            &[("outcome", "partial")],
        )
        .unwrap_or(0.0)
    };
    let before = partial(&daemon.metrics());
    // moto stops: the proxy answers 502, as a gateway does for a dead peer.
    peer.moto.stop();
    let d = daemon.clone();
    let api_id = api.clone();
    tokio::task::spawn_blocking(move || {
        d.wait_for(
            |d| partial(&d.metrics()) > before,
            "a cycle through the outage",
        );
        let metrics = d.metrics();
        promtool(&metrics);
        assert_eq!(
            sample(
                &metrics,
                "routewarden_violation",
                &[("api_id", &api_id), ("route_key", "GET /orders")]
            ),
            Some(1.0),
            "an outage never resolves an alert"
        );
        assert_eq!(
            sample(
                &metrics,
                "routewarden_violation",
                &[("api_id", &api_id), ("stage", "prod")]
            ),
            Some(1.0),
            "nor a stage's"
        );
        assert_eq!(
            sample(&metrics, "routewarden_api_up", &[("api_id", &api_id)]),
            Some(0.0)
        );
        // Neither the logs nor /metrics ever carry the credentials.
        let log = std::fs::read_to_string(d.home.join("daemon.log")).unwrap();
        assert!(log.contains("audit cycle finished"), "the log was written");
        for secret in [support::ACCESS_KEY, support::SECRET_KEY] {
            assert!(!log.contains(secret), "{secret} in the log");
            assert!(!metrics.contains(secret), "{secret} in /metrics");
        }
    })
    .await
    .unwrap();
}

#[test]
fn slow_oversized_and_stray_clients_do_not_hold_metrics_from_others() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "");
    let daemon = Daemon::ready(dir.path(), &config, "examples/fleet.json");

    // Fifty clients that send half a request head and then nothing.
    let opened = Instant::now();
    let slow: Vec<TcpStream> = (0..50)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", daemon.port)).unwrap();
            s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .unwrap();
            s
        })
        .collect();
    // A request head far over the cap is refused, not buffered.
    let mut big = TcpStream::connect(("127.0.0.1", daemon.port)).unwrap();
    big.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let header = format!(
        "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(256 * 1024)
    );
    let _ = big.write_all(header.as_bytes());
    let mut answer = String::new();
    let _ = big.read_to_string(&mut answer);
    assert!(
        !answer.starts_with("HTTP/1.1 200"),
        "an oversized head is not served: {}",
        &answer[..answer.len().min(80)]
    );
    // Stray paths and methods are answered without work.
    assert_eq!(daemon.get("/metrics/../../etc/passwd").0, 404);

    // Meanwhile /metrics answers others at once.
    for _ in 0..5 {
        let started = Instant::now();
        let (status, body) = daemon.get("/metrics");
        assert_eq!(status, 200);
        assert!(body.contains("routewarden_build_info"));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "/metrics took {:?}",
            started.elapsed()
        );
    }
    // The slow clients are cut off by the header read timeout (5 s): each is
    // closed by the server, waited for until a deadline of six times that.
    let deadline = opened + Duration::from_secs(30);
    let closed = slow
        .iter()
        .filter(|s| support::closed_by(s, deadline))
        .count();
    assert_eq!(
        closed,
        50,
        "every slow client was timed out within {:?} (the timeout is 5 s)",
        deadline - opened
    );
}

/// A daemon auditing `endpoint` every second, one target `target`, with a
/// 1 s timeout and `aws` added to `[aws]`; its directory lives as long as it.
async fn daemon_against(
    endpoint: &str,
    target: &str,
    aws: &str,
) -> (tempfile::TempDir, std::sync::Arc<Daemon>) {
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        &format!(
            "[aws]\nregion = \"us-east-1\"\nendpoint_url = \"{endpoint}\"\ntimeout = \"1s\"\n{aws}\n[[targets]]\nname = \"{target}\"",
        ),
    );
    let home = dir.path().to_path_buf();
    let daemon = tokio::task::spawn_blocking(move || {
        Daemon::start(&home, &["-c", config.to_str().unwrap()])
    })
    .await
    .unwrap();
    (dir, std::sync::Arc::new(daemon))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_in_the_daemon_keep_last_known_violations_and_drop_what_is_gone() {
    use support::fault::{self, Fault, FaultServer, Rule};
    let server = FaultServer::start(vec![
        fault::api("stays", 4),
        fault::api("flaky", 4),
        fault::api("gone", 4),
    ])
    .await;
    let (_dir, daemon) = daemon_against(&server.url(), "t", "max_backoff = \"1s\"").await;
    let violations = |m: &str, api: &str| sample(m, "routewarden_violation", &[("api_id", api)]);
    let up = |m: &str, api: &str| sample(m, "routewarden_api_up", &[("api_id", api)]);
    let d = daemon.clone();
    tokio::task::spawn_blocking(move || {
        d.wait_for(
            |d| {
                ["stays", "flaky", "gone"]
                    .iter()
                    .all(|a| violations(&d.metrics(), a) == Some(1.0))
            },
            "first audit",
        );
    })
    .await
    .unwrap();

    // `gone` leaves discovery; `flaky` answers 500 from now on.
    server.remove_api("gone");
    server.add_fault(Rule::on("flaky", Fault::error(500, "InternalServerError")));
    let d = daemon.clone();
    tokio::task::spawn_blocking(move || {
        d.wait_for(
            |d| {
                let m = d.metrics();
                up(&m, "gone").is_none() && up(&m, "flaky") == Some(0.0)
            },
            "gone removed, flaky down",
        );
        let m = d.metrics();
        assert!(violations(&m, "gone").is_none(), "a gone API's series go");
        assert_eq!(
            violations(&m, "flaky"),
            Some(1.0),
            "a failing API keeps its violations"
        );
        assert_eq!(up(&m, "stays"), Some(1.0));
        assert!(
            requests(
                &m,
                &[("operation", "GetRoutes"), ("outcome", "server_error")]
            ) >= 3.0
        );
    })
    .await
    .unwrap();

    // Credentials stop working: every call is refused, nothing resolves.
    server.add_fault(Rule::everywhere(Fault::error(403, "ExpiredTokenException")));
    let d = daemon.clone();
    tokio::task::spawn_blocking(move || {
        // The fault may land mid-cycle (a GetRoutes refused after GetApis
        // succeeded): wait for a cycle whose discovery was refused too.
        d.wait_for(
            |d| {
                let m = d.metrics();
                up(&m, "stays") == Some(0.0)
                    && requests(&m, &[("operation", "GetApis"), ("outcome", "client_error")]) >= 1.0
            },
            "everything down, discovery refused",
        );
        let m = d.metrics();
        assert_eq!(violations(&m, "stays"), Some(1.0));
        assert_eq!(violations(&m, "flaky"), Some(1.0));
        assert!(requests(&m, &[("operation", "GetApis"), ("outcome", "client_error")]) >= 1.0);
        promtool(&m);
        assert_eq!(d.get("/healthz").0, 200, "the process survives");
    })
    .await
    .unwrap();
}

/// The fault matrix in the daemon: each fault hits one API (`victim`) while
/// `other` stays healthy. Whatever the fault, the process serves, `other` is
/// audited in the same cycle, the victim is named (`routewarden_api_up` 0,
/// and the request outcome counted) and keeps its last known violations;
/// only an API that no longer exists loses its series. Between cases the
/// fault clears and the victim recovers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_names_its_api_keeps_its_violations_and_spares_the_others() {
    use support::fault::{self, Fault, FaultServer, Rule, Throttle};
    let server = FaultServer::start(vec![fault::api("other", 12), fault::api("victim", 12)]).await;
    server.set_page_cap(5);
    let (_dir, daemon) = daemon_against(
        &server.url(),
        "t",
        "max_backoff = \"1s\"\nrequests_per_second = 50.0\nburst = 10",
    )
    .await;
    let violations = |m: &str, api: &str| {
        m.lines()
            .filter(|l| l.starts_with("routewarden_violation{"))
            .filter(|l| l.contains(&format!("api_id=\"{api}\"")))
            .count()
    };
    let up = |m: &str, api: &str| sample(m, "routewarden_api_up", &[("api_id", api)]);
    let d = daemon.clone();
    let known = tokio::task::spawn_blocking(move || {
        d.wait_for(
            |d| up(&d.metrics(), "victim") == Some(1.0) && up(&d.metrics(), "other") == Some(1.0),
            "first audit",
        );
        violations(&d.metrics(), "victim")
    })
    .await
    .unwrap();
    assert_eq!(known, 3, "a quarter of 12 routes are open");

    // Between cases the fault is cleared and the victim read again.
    let recovered = || {
        let d = daemon.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                d.wait_for(
                    |d| up(&d.metrics(), "victim") == Some(1.0),
                    "the victim recovers",
                );
            })
            .await
            .unwrap();
        }
    };

    let error = Fault::error;
    // (case, fault, later pages only, outcome counted, the API no longer exists)
    #[rustfmt::skip]
    let matrix = [
        ("hang past the timeout", Fault::Hang, false, "timeout", false),
        ("truncated JSON", Fault::InvalidJson, false, "server_error", false),
        ("connection cut mid-response", Fault::Reset, false, "transport_error", false),
        ("repeated token", Fault::RepeatToken, true, "success", false),
        ("500", error(500, "InternalServerError"), false, "server_error", false),
        ("503", error(503, "ServiceUnavailableException"), false, "server_error", false),
        ("persistent bare 429s", Fault::Bare429, false, "throttled", false),
        ("BadRequest on a token", error(400, "BadRequestException"), true, "client_error", false),
        ("NotFound mid-pagination", error(404, "NotFoundException"), true, "client_error", true),
    ];
    for (case, fault, paged_only, outcome, gone) in matrix {
        server.clear_faults();
        recovered().await;
        let before = requests(&daemon.metrics(), &[("outcome", outcome)]);
        let rule = Rule::on("victim", fault);
        server.add_fault(if paged_only { rule.paged() } else { rule });
        let d = daemon.clone();
        tokio::task::spawn_blocking(move || {
            d.wait_for(
                |d| {
                    let m = d.metrics();
                    if gone {
                        up(&m, "victim").is_none()
                    } else {
                        up(&m, "victim") == Some(0.0)
                    }
                },
                case,
            );
            let m = d.metrics();
            assert_eq!(d.get("/healthz").0, 200, "{case}: the process serves");
            assert_eq!(
                up(&m, "other"),
                Some(1.0),
                "{case}: the other API is audited"
            );
            assert_eq!(violations(&m, "other"), 3, "{case}");
            let kept = if gone { 0 } else { known };
            assert_eq!(
                violations(&m, "victim"),
                kept,
                "{case}: last known violations"
            );
            assert!(
                requests(&m, &[("outcome", outcome)]) > before,
                "{case}: {outcome} counted"
            );
        })
        .await
        .unwrap();
    }

    // The parts the built-in pack reads after the routes: a call that fails
    // for one of them makes the victim unread (its last known violations
    // kept), counted under the operation's own name; the other is audited.
    for operation in ["GetAuthorizers", "GetIntegrations", "GetStages"] {
        server.clear_faults();
        recovered().await;
        let failed = [("operation", operation), ("outcome", "server_error")];
        let before = requests(&daemon.metrics(), &failed);
        server.add_fault(Rule::on("victim", error(500, "InternalServerError")).only(operation));
        let d = daemon.clone();
        tokio::task::spawn_blocking(move || {
            d.wait_for(|d| up(&d.metrics(), "victim") == Some(0.0), operation);
            let m = d.metrics();
            assert_eq!(up(&m, "other"), Some(1.0), "{operation}: the other API");
            assert_eq!(violations(&m, "victim"), known, "{operation}: last known");
            assert!(
                requests(&m, &failed) > before,
                "{operation}: counted under its name"
            );
            assert!(
                d.log_text().lines().any(|l| l.contains("could not read")
                    && l.contains("\"victim\"")
                    && l.contains(&format!("\"{operation}\""))),
                "{operation}: the log names the API and the operation"
            );
        })
        .await
        .unwrap();
    }

    // Storms on the whole endpoint (as AWS throttles: per account), with and
    // without retry-after hints: survived whole, a complete cycle in each.
    server.clear_faults();
    for hint in [Some(200), None] {
        server.set_throttle(Some(Throttle {
            rate: 4.0,
            burst: 2.0,
            retry_after_ms: hint,
            retry_after_s: None,
        }));
        let d = daemon.clone();
        tokio::task::spawn_blocking(move || {
            let throttled = requests(&d.metrics(), &[("outcome", "throttled")]);
            d.wait_for(
                |d| requests(&d.metrics(), &[("outcome", "throttled")]) > throttled,
                "the storm throttles",
            );
            let cycles = |m: &str| {
                sample(
                    m,
                    "routewarden_audit_cycles_total",
                    &[("outcome", "complete")],
                )
                .unwrap_or(0.0)
            };
            let complete = cycles(&d.metrics());
            d.wait_for(
                |d| cycles(&d.metrics()) > complete,
                "a complete cycle in the storm",
            );
            let m = d.metrics();
            assert_eq!(up(&m, "victim"), Some(1.0), "storm {hint:?}");
            assert_eq!(up(&m, "other"), Some(1.0), "storm {hint:?}");
        })
        .await
        .unwrap();
    }
    server.set_throttle(None);

    // The API leaves discovery: its series go; the other's stay.
    server.remove_api("victim");
    let d = daemon.clone();
    tokio::task::spawn_blocking(move || {
        d.wait_for(
            |d| up(&d.metrics(), "victim").is_none(),
            "victim gone from discovery",
        );
        let m = d.metrics();
        assert_eq!(violations(&m, "victim"), 0);
        assert_eq!(violations(&m, "other"), 3);
    })
    .await
    .unwrap();

    // Credentials stop working: nothing can be read, everything is kept.
    server.add_api(fault::api("victim", 12));
    let d = daemon.clone();
    tokio::task::spawn_blocking(move || {
        d.wait_for(
            |d| up(&d.metrics(), "victim") == Some(1.0),
            "victim back in discovery",
        );
    })
    .await
    .unwrap();
    server.add_fault(Rule::everywhere(error(403, "ExpiredTokenException")));
    let d = daemon.clone();
    tokio::task::spawn_blocking(move || {
        d.wait_for(
            |d| up(&d.metrics(), "victim") == Some(0.0) && up(&d.metrics(), "other") == Some(0.0),
            "everything down",
        );
        let m = d.metrics();
        assert_eq!(violations(&m, "victim"), 3);
        assert_eq!(violations(&m, "other"), 3);
        promtool(&m);
        assert_eq!(d.get("/healthz").0, 200);
    })
    .await
    .unwrap();
}

/// Waits for the daemon to exit after SIGTERM, within the shutdown bound.
fn terminated(daemon: &mut Daemon) -> std::process::ExitStatus {
    daemon.signal("TERM");
    let started = Instant::now();
    loop {
        if let Some(status) = daemon.child.try_wait().unwrap() {
            return status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(12),
            "exits within the shutdown bound"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_fifo_in_the_policy_directory_blocks_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    let rule = |id: &str| {
        format!(
            "[[rules]]\nid = \"{id}\"\ntitle = \"t\"\nseverity = \"high\"\nrequire = {{ authorization_type = {{ ne = \"NONE\" }} }}\n"
        )
    };
    write(&policies, "org.toml", &rule("ORG-1"));
    // A FIFO with a policy file's name, and a large backup beside it.
    let fifo = policies.join("zz-pipe.toml");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    std::fs::write(policies.join("org.toml.bak"), vec![b'#'; 50 << 20]).unwrap();
    let config = config(
        dir.path(),
        &format!("policies = [\"{}\"]", policies.display()),
    );
    let mut daemon = Daemon::ready(dir.path(), &config, "examples/fleet.json");
    let has = |d: &Daemon, id: &str| {
        sample(&d.metrics(), "routewarden_violations", &[("rule_id", id)]).is_some()
    };
    assert!(has(&daemon, "ORG-1"));
    // The watcher keeps watching, and cycles go on, while the FIFO has no writer.
    let cycles = |d: &Daemon| {
        sample(
            &d.metrics(),
            "routewarden_audit_cycles_total",
            &[("outcome", "complete")],
        )
        .unwrap()
    };
    let before = cycles(&daemon);
    write(&policies, "org.toml", &rule("ORG-2"));
    daemon.wait_for(
        |d| has(d, "ORG-2") && cycles(d) > before + 2.0,
        "reloaded, cycles go on",
    );
    let started = Instant::now();
    assert_eq!(daemon.get("/healthz").0, 200);
    assert!(started.elapsed() < Duration::from_secs(1));
    let log = std::fs::read_to_string(dir.path().join("daemon.log")).unwrap();
    assert!(
        log.contains("skipped in a policy directory") && log.contains("zz-pipe.toml"),
        "the FIFO is named:\n{log}"
    );
    assert_eq!(terminated(&mut daemon).code(), Some(0));
}

#[test]
fn a_config_that_once_panicked_is_a_failed_reload_and_reload_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "");
    let mut daemon = Daemon::ready(dir.path(), &config, "examples/fleet.json");
    let reloaded = |d: &Daemon| {
        sample(
            &d.metrics(),
            "routewarden_config_last_reload_successful",
            &[],
        )
    };
    // `requests_per_second = 1e12` used to pass validation and panic the
    // limiter, killing the reloader for good with the metric left at 1.
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("{text}\n[aws]\nrequests_per_second = 1e12\n"),
    )
    .unwrap();
    daemon.signal("HUP");
    daemon.wait_for(
        |d| reloaded(d) == Some(0.0),
        "the failed reload is reported",
    );
    std::fs::write(
        &config,
        format!("{text}\n[aws]\nrequests_per_second = 20.0\n"),
    )
    .unwrap();
    daemon.signal("HUP");
    daemon.wait_for(|d| reloaded(d) == Some(1.0), "the next reload succeeds");
    assert_eq!(daemon.get("/healthz").0, 200);
    assert_eq!(terminated(&mut daemon).code(), Some(0));
}

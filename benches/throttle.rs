//! The throttling scenario: `--check` against the fault server throttling at
//! 10 requests/s with a burst of 20 (AWS's management quota, roughly), with
//! routewarden configured at 25 requests/s (a shared account, or a wrong
//! setting), once with the v1 pack (GetRoutes only) and once with the whole
//! built-in pack (GetAuthorizers, GetIntegrations and GetStages too). The
//! floor is what the server allows: (requests needed - burst) / 10 s, every
//! call the pack needs counted. Reports requests per API per cycle, wall
//! time, the ratio to the floor and the throttled share.
//!
//! A second scenario serves the same kind of fleet with no rate limit at all,
//! so that routewarden itself is the bottleneck: requests per second sustained
//! and CPU time per request (user + system, from GNU time).
//!
//! Run with `bash benches/run.sh` (or `cargo bench --bench throttle`).

#[allow(clippy::print_stderr)]
#[path = "../tests/support/fault.rs"]
mod fault;

use std::process::Command;
use std::time::Instant;

use fault::{FaultServer, Throttle};

const APIS: usize = 100;
const ROUTES_PER_API: usize = 25;
const PAGE_CAP: usize = 10;
const SERVER_RATE: f64 = 10.0;
const SERVER_BURST: f64 = 20.0;
const CLIENT_RATE: f64 = 25.0;

/// The v1 built-in pack (RW001 to RW005): routes and the API's settings only.
const V1_PACK: [&str; 4] = [
    "-p",
    concat!(env!("CARGO_MANIFEST_DIR"), "/policies/authentication.toml"),
    "-p",
    concat!(env!("CARGO_MANIFEST_DIR"), "/policies/hygiene.toml"),
];

#[allow(clippy::print_stdout)]
fn main() {
    // `cargo bench` passes `--bench`; there is nothing to filter.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        println!("throttling scenario: server {SERVER_RATE}/s burst {SERVER_BURST}, client {CLIENT_RATE}/s; {APIS} APIs x {ROUTES_PER_API} routes in pages of {PAGE_CAP}, each with one authorizer, integration and stage");
        println!("| pack | requests per API per cycle | requests needed | sent | throttled | wall (s) | floor (s) | ratio | throttled share | routes audited |");
        println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        let v1 = throttled("v1 (RW001-RW005)", &V1_PACK).await;
        let v2 = throttled("v2 (built-in, RW001-RW015)", &[]).await;
        let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
        for (pack, (ratio, share, complete)) in [("v1", v1), ("v2", v2)] {
            println!(
                "targets ({pack}): ratio <= 1.3 (issue 3) {}, <= 1.1 (issues 6, 14) {}; throttled share < 25% {}, < 10% {}; every route audited: {}",
                verdict(ratio <= 1.3),
                verdict(ratio <= 1.1),
                verdict(share < 0.25),
                verdict(share < 0.10),
                verdict(complete)
            );
        }
        unthrottled().await;
    });
}

/// One throttled `--check` with the policies of `args` on a fresh server:
/// prints its row; returns the ratio to the floor, the throttled share and
/// whether every route was audited. The floor counts every request the
/// audit needs, the v2 pack's GetAuthorizers, GetIntegrations and GetStages
/// included.
#[allow(clippy::print_stdout)]
async fn throttled(pack: &str, args: &[&str]) -> (f64, f64, bool) {
    let apis = (0..APIS)
        .map(|i| fault::api(&format!("b{i:03}"), ROUTES_PER_API))
        .collect();
    let server = FaultServer::start(apis).await;
    server.set_page_cap(PAGE_CAP);
    server.set_throttle(Some(Throttle {
        rate: SERVER_RATE,
        burst: SERVER_BURST,
        retry_after_ms: None,
        retry_after_s: None,
    }));
    let settings =
        format!("concurrency = 4\nrequests_per_second = {CLIENT_RATE}\ntimeout = \"5s\"");
    let (output, wall) = check(&server.url(), &settings, args).await;
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("a JSON report");
    let counts = server.counts();
    let needed = counts.requests - counts.throttled;
    // Per API: everything but discovery (GetApis pages).
    let discovery = counts.by_operation.get("GetApis").copied().unwrap_or(0);
    let served: u64 = counts.by_operation.values().sum();
    let per_api = (served - counts.throttled - discovery) as f64 / APIS as f64;
    let floor = (needed as f64 - SERVER_BURST) / SERVER_RATE;
    let ratio = wall / floor;
    let share = counts.throttled as f64 / counts.requests as f64;
    let routes = report["summary"]["routes"].as_u64().unwrap_or(0);
    let complete =
        report["summary"]["complete"] == true && routes == (APIS * ROUTES_PER_API) as u64;
    println!(
        "| {pack} | {per_api:.0} | {needed} | {} | {} | {wall:.2} | {floor:.2} | {ratio:.3} | {:.1}% | {routes}{} |",
        counts.requests,
        counts.throttled,
        share * 100.0,
        if complete { "" } else { " (INCOMPLETE)" }
    );
    server.stop();
    (ratio, share, complete)
}

/// No server-side limit: how fast routewarden itself goes, with the v1 pack
/// and with the built-in pack.
#[allow(clippy::print_stdout)]
async fn unthrottled() {
    println!();
    println!(
        "unthrottled: {FAST_APIS} APIs x {ROUTES_PER_API} routes in pages of {PAGE_CAP}, concurrency 16, no server limit"
    );
    println!(
        "| pack | requests | wall (s) | requests/s | routewarden CPU (s) | CPU per request | routes audited |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    unthrottled_with("v1 (RW001-RW005)", &V1_PACK).await;
    unthrottled_with("v2 (built-in)", &[]).await;
}

const FAST_APIS: usize = 400;

#[allow(clippy::print_stdout)]
async fn unthrottled_with(pack: &str, args: &[&str]) {
    let apis = (0..FAST_APIS)
        .map(|i| fault::api(&format!("u{i:03}"), ROUTES_PER_API))
        .collect();
    let server = FaultServer::start(apis).await;
    server.set_page_cap(PAGE_CAP);
    let settings = "concurrency = 16\nrequests_per_second = 10000.0\nburst = 1000";
    let (output, wall) = check(&server.url(), settings, args).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let cpu: f64 = stderr
        .lines()
        .last()
        .unwrap_or("0 0")
        .split_whitespace()
        .filter_map(|v| v.parse::<f64>().ok())
        .sum();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("a JSON report");
    let requests = server.counts().requests;
    println!(
        "| {pack} | {requests} | {wall:.2} | {:.0} | {cpu:.2} | {:.0} µs | {} |",
        requests as f64 / wall,
        cpu / requests as f64 * 1e6,
        report["summary"]["routes"]
    );
    server.stop();
}

/// `--check` against `endpoint` under GNU time (which appends "user system"
/// CPU seconds to stderr), with only the environment it needs; returns its
/// output and wall time. `settings` are `[audit]` and `[aws]` keys, mixed:
/// each is placed in its section; `args` follow the config (`-p` policies).
async fn check(endpoint: &str, settings: &str, args: &[&str]) -> (std::process::Output, f64) {
    let (audit, aws): (Vec<&str>, Vec<&str>) =
        settings.lines().partition(|l| l.starts_with("concurrency"));
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("routewarden.toml");
    std::fs::write(
        &config,
        format!(
            "[audit]\n{}\n[aws]\nregion = \"us-east-1\"\nendpoint_url = \"{endpoint}\"\npage_size = 100\n{}\n[[targets]]\nname = \"bench\"\n",
            audit.join("\n"),
            aws.join("\n")
        ),
    )
    .unwrap();
    let binary = env!("CARGO_BIN_EXE_routewarden");
    let home = dir.path().to_path_buf();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let start = Instant::now();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("/usr/bin/time")
            .args([
                "-f",
                "%U %S",
                binary,
                "--check",
                "--format",
                "json",
                "--fail-on",
                "never",
                "-c",
            ])
            .arg(&config)
            .args(&args)
            .env_clear()
            .env("HOME", &home)
            .env("AWS_ACCESS_KEY_ID", "AKIDBENCH")
            .env("AWS_SECRET_ACCESS_KEY", "bench-secret")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", home.join("none"))
            .env("AWS_SHARED_CREDENTIALS_FILE", home.join("none"))
            .env("RUST_LOG", "error")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    (output, start.elapsed().as_secs_f64())
}

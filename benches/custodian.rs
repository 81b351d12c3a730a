//! routewarden's RW001 against Cloud Custodian's `aws.apigwv2-route` with
//! `AuthorizationType: NONE`, over the same fleet of 200 HTTP APIs × 25 routes,
//! served (a) by moto and (b) by the fault server with no throttling, so that
//! the server is not the bottleneck. Both tools run alternately, several
//! times; the table has medians, their ratio, and the floor: the time a bare
//! HTTP client needs to fetch the same pages from that server. The two tools
//! must report the same set of unauthenticated routes, or the bench fails.
//!
//! Needs moto (target/moto-venv, from the test command) and Cloud Custodian
//! (target/c7n-venv); `bash benches/run.sh` installs the latter.

#[path = "../tests/support/mod.rs"]
mod support;

use support::fault;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_apigatewayv2::types::{AuthorizationType, ProtocolType};
use futures_util::StreamExt;

const APIS: usize = 200;
const ROUTES: usize = 25;
const RUNS: usize = 5;

type Routes = BTreeSet<(String, String)>;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The environment both tools get: dummy credentials, the server, no metadata.
fn aws_env(cmd: &mut Command, home: &Path, endpoint: &str) {
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("AWS_ACCESS_KEY_ID", "AKIDBENCH")
        .env("AWS_SECRET_ACCESS_KEY", "bench-secret")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_CONFIG_FILE", home.join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("none"))
        .env("RUST_LOG", "error");
}

/// One `--check` with `concurrency` APIs in flight; returns its wall time and
/// the RW001 routes it found.
fn routewarden(home: &Path, endpoint: &str, concurrency: usize) -> (f64, Routes) {
    let config = home.join("routewarden.toml");
    std::fs::write(
        &config,
        format!("[audit]\nconcurrency = {concurrency}\n[aws]\nregion = \"us-east-1\"\nrequests_per_second = 10000.0\nburst = 1000\npage_size = 100\n[[targets]]\nname = \"bench\"\n"),
    )
    .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_routewarden"));
    aws_env(&mut cmd, home, endpoint);
    cmd.args(["--check", "--format", "json", "--fail-on", "never", "-c"])
        .arg(&config)
        // The v1 pack: routes only, as Custodian's policy (and the floor) reads
        // them. The whole built-in pack would also read authorizers,
        // integrations and stages, which moto cannot serve whole (no
        // GetAuthorizers) and Custodian does not read.
        .args([
            "-p",
            concat!(env!("CARGO_MANIFEST_DIR"), "/policies/authentication.toml"),
            "-p",
            concat!(env!("CARGO_MANIFEST_DIR"), "/policies/hygiene.toml"),
        ]);
    let start = Instant::now();
    let output = cmd.output().unwrap();
    let wall = start.elapsed().as_secs_f64();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "routewarden: {e}: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    assert_eq!(
        report["summary"]["complete"], true,
        "routewarden read everything"
    );
    let routes = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule_id"] == "RW001")
        .map(|f| {
            (
                f["api_id"].as_str().unwrap().to_owned(),
                f["route_key"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (wall, routes)
}

/// One `custodian run`; returns its wall time and the routes it matched.
fn custodian(home: &Path, endpoint: &str) -> (f64, Routes) {
    let policy = home.join("policy.yml");
    std::fs::write(
        &policy,
        "policies:\n  - name: unauthenticated-routes\n    resource: aws.apigwv2-route\n    filters:\n      - AuthorizationType: NONE\n",
    )
    .unwrap();
    let out = home.join("c7n-out");
    let _ = std::fs::remove_dir_all(&out);
    let mut cmd = Command::new(root().join("target/c7n-venv/bin/custodian"));
    aws_env(&mut cmd, home, endpoint);
    cmd.args(["run", "--cache-period", "0", "-r", "us-east-1", "-s"])
        .arg(&out)
        .arg(&policy);
    let start = Instant::now();
    let output = cmd.output().unwrap();
    let wall = start.elapsed().as_secs_f64();
    assert!(
        output.status.success(),
        "custodian failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let resources = std::fs::read(out.join("unauthenticated-routes/resources.json"))
        .expect("custodian wrote its resources");
    let resources: serde_json::Value = serde_json::from_slice(&resources).unwrap();
    let routes = resources
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["c7n:parent-id"].as_str().unwrap().to_owned(),
                r["RouteKey"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (wall, routes)
}

/// A bare HTTP/1.1 client fetching every page routewarden reads: keep-alive
/// where the server allows it (a Content-Length), a new connection where it
/// closes (moto answers some requests that way).
struct Bare {
    port: u16,
    conn: Option<(BufReader<TcpStream>, TcpStream)>,
}

impl Bare {
    fn get(&mut self, path: &str) -> serde_json::Value {
        let port = self.port;
        let (reader, writer) = self.conn.get_or_insert_with(|| {
            let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
            // One write per request, sent at once (no Nagle delay).
            stream.set_nodelay(true).unwrap();
            (BufReader::new(stream.try_clone().unwrap()), stream)
        });
        // A SigV4-looking header: moto routes requests by it (it does not verify it).
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIDBENCH/20260101/us-east-1/apigateway/aws4_request, SignedHeaders=host, Signature=0\r\n\r\n"
        );
        writer.write_all(request.as_bytes()).unwrap();
        let mut length = None;
        let mut close = false;
        loop {
            let mut line = String::new();
            let n = reader.read_line(&mut line).unwrap();
            assert!(n > 0, "the server closed the connection mid-response");
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = Some(value.trim().parse::<usize>().unwrap());
                } else if name.eq_ignore_ascii_case("connection")
                    && value.trim().eq_ignore_ascii_case("close")
                {
                    close = true;
                }
            }
        }
        let mut body = Vec::new();
        match length {
            Some(n) => {
                body.resize(n, 0);
                reader.read_exact(&mut body).unwrap();
            }
            None => {
                reader.read_to_end(&mut body).unwrap();
                close = true;
            }
        }
        if close {
            self.conn = None;
        }
        serde_json::from_slice(&body).unwrap()
    }
}

fn floor(port: u16) -> f64 {
    let start = Instant::now();
    let mut client = Bare { port, conn: None };
    let mut apis = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let path = match &token {
            Some(t) => format!("/v2/apis?maxResults=100&nextToken={t}"),
            None => "/v2/apis?maxResults=100".to_owned(),
        };
        let page = client.get(&path);
        apis.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["apiId"].as_str().unwrap().to_owned()),
        );
        match page["nextToken"].as_str() {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
    }
    for api in apis {
        let mut token: Option<String> = None;
        loop {
            let path = match &token {
                Some(t) => format!("/v2/apis/{api}/routes?maxResults=100&nextToken={t}"),
                None => format!("/v2/apis/{api}/routes?maxResults=100"),
            };
            let page = client.get(&path);
            match page["nextToken"].as_str() {
                Some(t) => token = Some(t.to_owned()),
                None => break,
            }
        }
    }
    start.elapsed().as_secs_f64()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Runs both tools alternately against a server and prints a table row.
#[allow(clippy::print_stdout, clippy::print_stderr)]
fn compare(name: &str, endpoint: &str, port: u16, home: &Path, concurrency: usize) {
    let (mut ours, mut theirs, mut floors) = (Vec::new(), Vec::new(), Vec::new());
    let mut sets = None;
    for _ in 0..RUNS {
        let (a, ours_routes) = routewarden(home, endpoint, concurrency);
        let (b, their_routes) = custodian(home, endpoint);
        assert_eq!(
            ours_routes, their_routes,
            "{name}: both tools report the same unauthenticated routes"
        );
        sets = Some(ours_routes.len());
        ours.push(a);
        theirs.push(b);
        floors.push(floor(port));
    }
    let (a, b, f) = (median(ours), median(theirs), median(floors));
    println!(
        "| {name} | {:.3} s | {:.3} s | {:.1}x | {:.3} s | {:.2}x | {} |",
        a,
        b,
        b / a,
        f,
        a / f,
        sets.unwrap_or(0)
    );
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[allow(clippy::print_stdout, clippy::print_stderr)]
fn main() {
    let moto_server = root().join("target/moto-venv/bin/moto_server");
    assert!(
        moto_server.exists(),
        "moto is missing: run bash tests/run.sh once"
    );
    assert!(
        root().join("target/c7n-venv/bin/custodian").exists(),
        "Cloud Custodian is missing: bash benches/run.sh installs it"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let home = tempfile::tempdir().unwrap();
    println!("{APIS} HTTP APIs x {ROUTES} routes; medians of {RUNS} alternating runs of each tool");
    println!(
        "| server | routewarden | Cloud Custodian | Custodian / routewarden | floor (bare HTTP client) | routewarden / floor | unauthenticated routes (same set) |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");

    // (a) moto, filled through the SDK.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _moto = Killed(
        Command::new(&moto_server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let endpoint = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let filling = Instant::now();
    runtime.block_on(fill_moto(&endpoint));
    eprintln!("moto filled in {:.1} s", filling.elapsed().as_secs_f64());
    // moto answers one request at a time (one Python process): more in
    // flight only contend, so routewarden runs with concurrency 2 there.
    compare("moto", &endpoint, port, home.path(), 2);

    // (b) the fault server, no rate limit.
    runtime.block_on(async {
        let apis = (0..APIS)
            .map(|i| fault::api(&format!("f{i:03}"), ROUTES))
            .collect();
        let server = fault::FaultServer::start(apis).await;
        server.set_page_cap(100);
        let url = server.url();
        let port = server.addr.port();
        let home = home.path().to_path_buf();
        tokio::task::spawn_blocking(move || compare("fault server", &url, port, &home, 8))
            .await
            .unwrap();
        server.stop();
    });
}

/// The fleet in moto: 7 of every API's 25 routes are unauthenticated.
async fn fill_moto(endpoint: &str) {
    let client = support::client(endpoint).await;
    let auths = [
        AuthorizationType::None,
        AuthorizationType::Jwt,
        AuthorizationType::AwsIam,
        AuthorizationType::Custom,
    ];
    futures_util::stream::iter(0..APIS)
        .map(|a| {
            let client = client.clone();
            let auths = auths.clone();
            async move {
                let api = client
                    .create_api()
                    .name(format!("bench-{a}"))
                    .protocol_type(ProtocolType::Http)
                    .send()
                    .await
                    .unwrap()
                    .api_id
                    .unwrap();
                for r in 0..ROUTES {
                    let mut route = client
                        .create_route()
                        .api_id(&api)
                        .route_key(format!("GET /bench{a}/item{r}"))
                        .authorization_type(auths[r % 4].clone());
                    if r % 4 != 0 {
                        route = route.authorizer_id("auth1");
                    }
                    route.send().await.unwrap();
                }
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<()>>()
        .await;
}

//! A whole organization: 500 member accounts x 2 regions (1,000 targets),
//! each with one HTTP API of 10 routes, served by the fake organization
//! (tests/support/org.rs) with AWS's quota per account and region (10
//! requests/s, burst 40) and a fixed latency per request. The daemon
//! discovers the organization (listing, OU paths, one AssumeRole per
//! account) and audits every target; the bench reports the time to its first
//! complete cycle (/readyz), its peak memory (VmHWM), the requests per
//! account, and how many accounts were read at once.
//!
//! The baseline, in the same run: the same 1,000 APIs in **one** account and
//! region, so that every request waits on one budget, as a tool that
//! serialized the organization behind one limiter would. The ratio of the two
//! is what reading accounts side by side buys.
//!
//! Run with `bash benches/run.sh` (or `cargo bench --bench organization`).

#[allow(clippy::print_stderr)]
#[path = "../tests/support/fault.rs"]
mod fault;
#[allow(clippy::print_stderr)]
#[path = "../tests/support/org.rs"]
mod org;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use org::{FakeAccount, FakeOrg, OrgServer};

const ACCOUNTS: usize = 500;
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
const ROUTES: usize = 10;
/// API Gateway's management quota, per account and region.
const SERVER_RATE: f64 = 10.0;
const SERVER_BURST: f64 = 40.0;
/// What each request costs the server before it answers.
const LATENCY: Duration = Duration::from_millis(20);
/// routewarden's budget per account and region, and APIs in flight.
const CLIENT_RATE: f64 = 10.0;
const CONCURRENCY: usize = 32;

/// The v1 built-in pack (RW001 to RW005): routes and the API's settings only.
const V1_PACK: [&str; 4] = [
    "-p",
    concat!(env!("CARGO_MANIFEST_DIR"), "/policies/authentication.toml"),
    "-p",
    concat!(env!("CARGO_MANIFEST_DIR"), "/policies/hygiene.toml"),
];

#[allow(clippy::print_stdout)]
fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        println!(
            "organization: {ACCOUNTS} accounts x {} regions, 1 API x {ROUTES} routes each; server quota {SERVER_RATE}/s burst {SERVER_BURST} per account and region, {} ms a request; client {CLIENT_RATE}/s per account and region, concurrency {CONCURRENCY}",
            REGIONS.len(),
            LATENCY.as_millis()
        );
        println!(
            "| run | targets | APIs | routes | time to first cycle (s) | peak RSS (MiB) | requests | ApiGatewayV2 requests per account | AssumeRole | Organizations calls | accounts read at once (max) | requests in flight (max) |"
        );
        println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        let whole = FakeOrg::builder()
            .accounts(ACCOUNTS)
            .regions(&REGIONS)
            .apis(1)
            .routes(ROUTES)
            .build();
        let block = format!(
            "[[organizations]]\nname = \"bench\"\nmember_role_name = \"{}\"\nregions = [{}]\n",
            whole.member_role_name,
            REGIONS.map(|r| format!("\"{r}\"")).join(", ")
        );
        let organization = run("organization (500 x 2)", whole, &block).await;

        // The baseline: the same APIs in one account and region.
        let mut single = FakeOrg::new("111111111111", "routewarden-read");
        let root = single.root_id.clone();
        let mut account = FakeAccount::new("222222222222", "everything", &root);
        for i in 0..ACCOUNTS * REGIONS.len() {
            account = account.api("us-east-1", fault::api(&format!("s{i:05}"), ROUTES));
        }
        single.add_account(account);
        let block = "[[targets]]\nname = \"one-account\"\nrole_arn = \"arn:aws:iam::222222222222:role/routewarden-read\"\n";
        let baseline = run("baseline: one account, one budget", single, block).await;
        println!();
        println!(
            "time to first cycle: organization / one budget = {:.3} ({:.1}x faster); peak RSS: organization / one budget = {:.2}",
            organization.0 / baseline.0,
            baseline.0 / organization.0,
            organization.1 / baseline.1
        );
    });
}

/// Starts the daemon on `org` with `block` in its config; returns the time
/// to its first complete cycle and its peak RSS (MiB), and prints the row.
#[allow(clippy::print_stdout)]
async fn run(name: &str, fake: FakeOrg, block: &str) -> (f64, f64) {
    let accounts = fake.accounts.len();
    let server = OrgServer::start(fake).await;
    server.set_quota(SERVER_RATE, SERVER_BURST);
    server.set_latency(LATENCY);
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("routewarden.toml");
    std::fs::write(
        &config,
        format!(
            "[audit]\ninterval = \"1h\"\njitter = \"0s\"\nconcurrency = {CONCURRENCY}\n[aws]\nregion = \"us-east-1\"\nendpoint_url = \"{}\"\nrequests_per_second = {CLIENT_RATE}\nburst = 20\n{block}",
            server.url()
        ),
    )
    .unwrap();
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let home = dir.path().to_path_buf();
    let mut child = Command::new(env!("CARGO_BIN_EXE_routewarden"))
        .args(["-c", config.to_str().unwrap(), "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .args(V1_PACK)
        .env_clear()
        .env("HOME", &home)
        .env("AWS_ACCESS_KEY_ID", "AKIDBENCH")
        .env("AWS_SECRET_ACCESS_KEY", "bench-secret")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", home.join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join("none"))
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the daemon starts");
    let start = Instant::now();
    let ready = tokio::task::spawn_blocking(move || {
        loop {
            if get(port, "/readyz").is_some_and(|(status, _)| status == 200) {
                return Instant::now();
            }
            assert!(
                start.elapsed() < Duration::from_secs(900),
                "no first cycle in 15 minutes"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    })
    .await
    .unwrap();
    let wall = ready.duration_since(start).as_secs_f64();
    let metrics = tokio::task::spawn_blocking(move || get(port, "/metrics").unwrap().1)
        .await
        .unwrap();
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let peak_kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    let _ = child.kill();
    let _ = child.wait();
    let counts = server.counts();
    server.stop();
    let sum = |prefix: &str| -> f64 {
        metrics
            .lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
            .sum()
    };
    let targets = sum("routewarden_api_up{") as usize;
    let routes = sum("routewarden_routes{") as usize;
    let complete = sum("routewarden_audit_cycles_total{outcome=\"complete\"");
    let organizations = [
        "ListAccounts",
        "ListAccountsForParent",
        "ListOrganizationalUnitsForParent",
        "ListParents",
        "ListTagsForResource",
    ]
    .iter()
    .map(|op| org::operation_requests(&counts, op))
    .sum::<u64>();
    let apigw: u64 = counts.by_account.values().sum();
    let per_account = apigw as f64 / counts.by_account.len().max(1) as f64;
    println!(
        "| {name}{} | {} | {targets} | {routes} | {wall:.2} | {:.1} | {} | {per_account:.1} (of {accounts} accounts) | {} | {organizations} | {} | {} |",
        if complete >= 1.0 { "" } else { " (INCOMPLETE)" },
        counts.by_target.len(),
        peak_kib / 1024.0,
        counts.requests,
        org::operation_requests(&counts, "AssumeRole"),
        counts.max_accounts_in_flight,
        counts.max_in_flight,
    );
    (wall, peak_kib / 1024.0)
}

/// `(status, body)` of a GET on 127.0.0.1, or `None` if nothing answers.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

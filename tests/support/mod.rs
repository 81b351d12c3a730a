//! Helpers for end-to-end tests: running the built binary with a clean AWS
//! environment (dummy credentials, no instance metadata, no profile), writing
//! configs, starting the daemon and moto's server on 127.0.0.1, and SDK
//! clients with explicit credentials, region and a 127.0.0.1 endpoint.

#![allow(dead_code, clippy::print_stderr)]

pub mod fault;
pub mod moto_org;
pub mod org;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The v1 built-in pack (RW001 to RW005): the built-in files that read only
/// routes and the API's settings, as `-p` arguments. An audit with these
/// makes exactly the requests it made before the whole API was read.
pub const V1_PACK: [&str; 4] = [
    "-p",
    concat!(env!("CARGO_MANIFEST_DIR"), "/policies/authentication.toml"),
    "-p",
    concat!(env!("CARGO_MANIFEST_DIR"), "/policies/hygiene.toml"),
];

/// Dummy credentials the tests set; never real ones.
pub const ACCESS_KEY: &str = "AKIDROUTEWARDENTEST";
pub const SECRET_KEY: &str = "routewarden-test-secret-key";

/// The binary with only the environment a test means it to have: dummy
/// credentials, a region, no instance metadata, a HOME without AWS config.
pub fn command(home: &Path) -> Command {
    // Empty AWS config files: nothing from the machine's own ~/.aws leaks in.
    for name in ["aws-config", "aws-credentials"] {
        let path = home.join(name);
        if !path.exists() {
            std::fs::write(&path, "").unwrap();
        }
    }
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_routewarden"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", home.join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            home.join("no-aws-credentials"),
        )
        .env("NO_COLOR", "1");
    cmd
}

/// Runs the binary to the end.
pub fn run(home: &Path, args: &[&str]) -> Output {
    command(home).args(args).output().expect("the binary runs")
}

/// Runs it from async tests without blocking the runtime serving a fake server.
pub async fn run_async(home: &Path, args: &[&str]) -> Output {
    let home = home.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&home, &args)
    })
    .await
    .unwrap()
}

/// Writes a config for `endpoint` with the given extra TOML to a new file;
/// returns its path.
pub fn config(dir: &Path, endpoint: &str, extra: &str) -> PathBuf {
    static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = dir.join(format!("routewarden-{n}.toml"));
    let text = format!("[aws]\nregion = \"us-east-1\"\nendpoint_url = \"{endpoint}\"\n{extra}\n");
    std::fs::write(&path, text).unwrap();
    path
}

/// `--check --format json` against `endpoint`, with `extra` in the config and
/// `args` after it: the exit code, the report and stderr.
pub async fn check_json(
    endpoint: &str,
    extra: &str,
    args: &[&str],
) -> (Option<i32>, serde_json::Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), endpoint, extra);
    let mut all = vec![
        "--check",
        "--format",
        "json",
        "-c",
        config.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let output = run_async(dir.path(), &all).await;
    let stderr = stderr(&output);
    (output.status.code(), json(&output), stderr)
}

pub fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "report is JSON ({e}):\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A free port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// How long a test waits for a condition before it fails. Generous: on a
/// loaded machine a wait may take longer, never fail; a condition that never
/// comes still fails the test, naming what it waited for.
pub const WAIT: Duration = Duration::from_secs(60);

/// Polls `condition` every 100 ms until it holds; fails naming `what` once
/// `limit` has passed.
pub fn wait_until(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for: {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The value of the first sample of `name` that carries all of `labels`.
pub fn sample(metrics: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let matches = series.starts_with(&format!("{name}{{")) || series == name;
            let labelled = labels
                .iter()
                .all(|(k, v)| series.contains(&format!("{k}=\"{v}\"")));
            (matches && labelled).then(|| value.parse().ok()).flatten()
        })
}

/// Finished audit cycles in a /metrics text, whatever their outcome.
pub fn cycles(metrics: &str) -> f64 {
    ["complete", "partial"]
        .iter()
        .filter_map(|outcome| {
            sample(
                metrics,
                "routewarden_audit_cycles_total",
                &[("outcome", outcome)],
            )
        })
        .sum()
}

/// Finished audit cycles that read everything.
pub fn complete_cycles(metrics: &str) -> f64 {
    sample(
        metrics,
        "routewarden_audit_cycles_total",
        &[("outcome", "complete")],
    )
    .unwrap_or(0.0)
}

/// Whether the server closes the connection (EOF, a 408, or a reset) by
/// `deadline`; false if it is still open then, or sends anything else.
pub fn closed_by(mut stream: &std::net::TcpStream, deadline: Instant) -> bool {
    use std::io::Read;
    let wait = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 256];
    match stream.read(&mut buf) {
        Ok(0) => true,
        Ok(n) => String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 408"),
        Err(err) => err.kind() == std::io::ErrorKind::ConnectionReset,
    }
}

/// The daemon, started with `--listen` on a free 127.0.0.1 port, its logs
/// (stderr) in a file under `home`; killed when dropped.
pub struct Daemon {
    pub child: Child,
    pub port: u16,
    pub home: PathBuf,
    /// Where its stderr goes.
    pub log: PathBuf,
}

impl Daemon {
    /// Starts it with `args` and JSON logs in `home/daemon.log`, and waits
    /// until /healthz answers.
    pub fn start(home: &Path, args: &[&str]) -> Daemon {
        Daemon::spawn(home, "daemon.log", |cmd| {
            cmd.args(["--log-format", "json"]).args(args);
        })
    }

    /// Starts it as `setup` prepares [`command`] (arguments, environment),
    /// with `--listen` added and stderr in `home/log`; waits until /healthz
    /// answers. A port taken between [`free_port`] and the daemon's bind is
    /// retried on another.
    pub fn spawn(home: &Path, log: &str, setup: impl Fn(&mut Command)) -> Daemon {
        let log = home.join(log);
        for _ in 0..3 {
            let port = free_port();
            let mut cmd = command(home);
            setup(&mut cmd);
            let child = cmd
                .args(["--listen", &format!("127.0.0.1:{port}")])
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .expect("the daemon starts");
            let mut daemon = Daemon {
                child,
                port,
                home: home.to_path_buf(),
                log: log.clone(),
            };
            let deadline = Instant::now() + WAIT;
            loop {
                if daemon.get("/healthz").0 == 200 {
                    return daemon;
                }
                if let Some(status) = daemon.child.try_wait().unwrap() {
                    let text = daemon.log_text();
                    assert!(
                        text.contains("cannot listen"),
                        "the daemon exited ({status}) before listening:\n{text}"
                    );
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "timed out after {WAIT:?} waiting for the daemon to listen:\n{}",
                    daemon.log_text()
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        panic!("the daemon found no free port in three tries");
    }

    /// Starts it with `args` and waits until the first cycle has finished
    /// (/readyz).
    pub fn start_ready(home: &Path, args: &[&str]) -> Daemon {
        let daemon = Daemon::start(home, args);
        daemon.wait_for(|d| d.get("/readyz").0 == 200, "ready");
        daemon
    }

    /// Starts it with a config and a fleet file and waits until the first
    /// cycle has finished (/readyz).
    pub fn ready(home: &Path, config: &Path, routes: &str) -> Daemon {
        Daemon::start_ready(home, &["-c", config.to_str().unwrap(), "--routes", routes])
    }

    /// `(status, body)` of a GET.
    pub fn get(&self, path: &str) -> (u16, String) {
        http_get(self.port, path)
    }

    /// /metrics as published between two cycles: two scrapes 50 ms apart
    /// that agree. At the end of every cycle the daemon rebuilds its per-API
    /// and per-violation series (reset, then set one by one); a scrape in
    /// between sees some of them missing, which a test must not take for the
    /// state.
    pub fn metrics(&self) -> String {
        let scrape = || {
            let (status, body) = self.get("/metrics");
            assert_eq!(status, 200, "/metrics answers");
            body
        };
        let deadline = Instant::now() + WAIT;
        let mut last = scrape();
        loop {
            std::thread::sleep(Duration::from_millis(50));
            let next = scrape();
            if next == last {
                return next;
            }
            assert!(
                Instant::now() < deadline,
                "/metrics did not hold still for 50 ms in {WAIT:?}"
            );
            last = next;
        }
    }

    /// What it has logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Finished audit cycles, whatever their outcome.
    pub fn cycles(&self) -> f64 {
        cycles(&self.metrics())
    }

    /// Waits up to [`WAIT`] for a condition; fails at once, with the log, if
    /// the daemon has died.
    pub fn wait_for(&self, condition: impl Fn(&Daemon) -> bool, what: &str) {
        let deadline = Instant::now() + WAIT;
        while !condition(self) {
            assert!(
                self.get("/healthz").0 == 200,
                "the daemon stopped answering while waiting for: {what}\n{}",
                self.log_text()
            );
            assert!(
                Instant::now() < deadline,
                "timed out after {WAIT:?} waiting for: {what}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until at least `n` cycles have finished after the `since`-th
    /// (a count read from [`Daemon::cycles`]). The first of them may have
    /// started before `since` was read; the `n`-th (n >= 2) started after.
    pub fn wait_for_cycles(&self, since: f64, n: u32, what: &str) {
        self.wait_for(|d| d.cycles() >= since + f64::from(n), what);
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// moto's server, stopped when dropped.
pub struct Moto {
    child: Child,
    pub port: u16,
}

impl Moto {
    /// `moto_server` from the venv the test command installs
    /// (`ROUTEWARDEN_MOTO_SERVER`, else target/moto-venv/bin/moto_server).
    /// `None` when it is not installed and CI is not set; under CI=true a
    /// missing moto fails the test.
    pub fn start() -> Option<Moto> {
        let path = std::env::var_os("ROUTEWARDEN_MOTO_SERVER")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/moto-venv/bin/moto_server")
            });
        if !path.exists() {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!(
                    "moto_server not found at {}: run the test command (bash tests/run.sh)",
                    path.display()
                );
            }
            eprintln!(
                "skipped: moto_server not found at {}; bash tests/run.sh installs it",
                path.display()
            );
            return None;
        }
        // A port taken between `free_port` and moto's bind: moto exits, and
        // another port is tried.
        for _ in 0..3 {
            let port = free_port();
            let child = Command::new(&path)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("moto_server starts");
            let mut moto = Moto { child, port };
            let mut exited = false;
            wait_until(&format!("moto_server to listen on {port}"), WAIT, || {
                exited = moto.child.try_wait().unwrap().is_some();
                exited || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            });
            if !exited {
                return Some(moto);
            }
        }
        panic!("moto_server exited before listening, three times");
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops the server (the API becomes unreachable).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}

/// moto behind the fault server's proxy: the complete AWS peer of the live
/// source (moto serves everything but GetAuthorizers, which the proxy
/// answers from the authorizers created through it). Set up through
/// [`Peer::url`], audit through it.
pub struct Peer {
    pub moto: Moto,
    pub proxy: fault::FaultServer,
}

impl Peer {
    /// moto and its proxy, on the current tokio runtime; `None` as for
    /// [`Moto::start`].
    pub async fn start() -> Option<Peer> {
        let moto = tokio::task::spawn_blocking(Moto::start).await.unwrap()?;
        let proxy = fault::FaultServer::proxy(&moto.url()).await;
        Some(Peer { moto, proxy })
    }

    /// The proxy's URL: where setup and audits go.
    pub fn url(&self) -> String {
        self.proxy.url()
    }
}

/// An SDK client for setting up moto, with the same dummy credentials.
pub async fn client(endpoint: &str) -> aws_sdk_apigatewayv2::Client {
    let credentials =
        aws_sdk_apigatewayv2::config::Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "tests");
    let config = aws_sdk_apigatewayv2::Config::builder()
        .behavior_version(aws_sdk_apigatewayv2::config::BehaviorVersion::latest())
        .region(aws_sdk_apigatewayv2::config::Region::new("us-east-1"))
        .credentials_provider(credentials)
        .endpoint_url(endpoint)
        .build();
    aws_sdk_apigatewayv2::Client::from_conf(config)
}

/// SDK credentials of the tests' dummy keys: the management account, for
/// moto and for the fake organization ([`org::OrgServer`]).
pub fn dummy_credentials() -> aws_sdk_sts::config::Credentials {
    aws_sdk_sts::config::Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "tests")
}

/// An Organizations client for `endpoint` (us-east-1) with `credentials`,
/// never the machine's; one attempt per call, so that a test sees exactly
/// what the server answered.
pub fn organizations_client(
    endpoint: &str,
    credentials: aws_sdk_sts::config::Credentials,
) -> aws_sdk_organizations::Client {
    use aws_sdk_organizations::config;
    let config = aws_sdk_organizations::Config::builder()
        .behavior_version(config::BehaviorVersion::latest())
        .region(config::Region::new("us-east-1"))
        .credentials_provider(credentials)
        .endpoint_url(endpoint)
        .retry_config(config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_organizations::Client::from_conf(config)
}

/// An STS client for `endpoint` (us-east-1) with `credentials`; one attempt
/// per call.
pub fn sts_client(
    endpoint: &str,
    credentials: aws_sdk_sts::config::Credentials,
) -> aws_sdk_sts::Client {
    use aws_sdk_sts::config;
    let config = aws_sdk_sts::Config::builder()
        .behavior_version(config::BehaviorVersion::latest())
        .region(config::Region::new("us-east-1"))
        .credentials_provider(credentials)
        .endpoint_url(endpoint)
        .retry_config(config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_sts::Client::from_conf(config)
}

/// An ApiGatewayV2 client for `endpoint` in `region` with `credentials`
/// (an assumed role's, or [`dummy_credentials`]); one attempt per call.
pub fn apigw_client(
    endpoint: &str,
    region: &str,
    credentials: aws_sdk_sts::config::Credentials,
) -> aws_sdk_apigatewayv2::Client {
    use aws_sdk_apigatewayv2::config;
    let config = aws_sdk_apigatewayv2::Config::builder()
        .behavior_version(config::BehaviorVersion::latest())
        .region(config::Region::new(region.to_owned()))
        .credentials_provider(credentials)
        .endpoint_url(endpoint)
        .retry_config(config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_apigatewayv2::Client::from_conf(config)
}

/// Assumes `role_arn` (with `external_id`, if given) through the STS at
/// `endpoint`, signed with the dummy keys: the session's credentials.
pub async fn assume_role(
    endpoint: &str,
    role_arn: &str,
    external_id: Option<&str>,
) -> Result<
    aws_sdk_sts::config::Credentials,
    aws_sdk_sts::error::SdkError<aws_sdk_sts::operation::assume_role::AssumeRoleError>,
> {
    let output = sts_client(endpoint, dummy_credentials())
        .assume_role()
        .role_arn(role_arn)
        .role_session_name("routewarden-test")
        .set_external_id(external_id.map(str::to_owned))
        .send()
        .await?;
    let session = output.credentials.expect("AssumeRole returns credentials");
    Ok(aws_sdk_sts::config::Credentials::new(
        session.access_key_id,
        session.secret_access_key,
        Some(session.session_token),
        std::time::SystemTime::try_from(session.expiration).ok(),
        "assumed",
    ))
}

/// `(status, body)` of a plain HTTP/1.1 GET on 127.0.0.1; status 0 when
/// nothing answers. Chunked bodies are decoded.
pub fn http_get(port: u16, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    if write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .is_err()
    {
        return (0, String::new());
    }
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    (
        status,
        if chunked {
            dechunk(body)
        } else {
            body.to_owned()
        },
    )
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}

/// An HTTP API in moto with one unauthenticated route; `(api id, route id)`.
pub async fn api_with_open_route(
    client: &aws_sdk_apigatewayv2::Client,
    name: &str,
    route_key: &str,
) -> (String, String) {
    let api = http_api(client, name).await;
    let route = client
        .create_route()
        .api_id(&api)
        .route_key(route_key)
        .authorization_type(aws_sdk_apigatewayv2::types::AuthorizationType::None)
        .send()
        .await
        .unwrap()
        .route_id
        .unwrap();
    (api, route)
}

/// An HTTP API in moto (through the proxy, where one runs); its id.
pub async fn http_api(client: &aws_sdk_apigatewayv2::Client, name: &str) -> String {
    client
        .create_api()
        .name(name)
        .protocol_type(aws_sdk_apigatewayv2::types::ProtocolType::Http)
        .send()
        .await
        .unwrap()
        .api_id
        .unwrap()
}

/// Sets a route's authorization type in moto (fixing or breaking it).
pub async fn set_authorization(
    client: &aws_sdk_apigatewayv2::Client,
    api: &str,
    route: &str,
    auth: aws_sdk_apigatewayv2::types::AuthorizationType,
) {
    client
        .update_route()
        .api_id(api)
        .route_id(route)
        .authorization_type(auth)
        .send()
        .await
        .unwrap();
}

/// The config line of a daemon that audits every second: the `test-intervals`
/// feature lowers the minimum interval to 1 s (the test command enables it).
pub fn every_second() -> &'static str {
    #[cfg(not(feature = "test-intervals"))]
    panic!(
        "daemon tests audit every second: run them with --features test-intervals (bash tests/run.sh does)"
    );
    #[cfg(feature = "test-intervals")]
    "[audit]\ninterval = \"1s\"\njitter = \"0s\"\n"
}

/// `promtool check metrics` on the text; `None` when promtool is absent outside CI.
pub fn promtool(metrics: &str) -> Option<String> {
    use std::io::Write;
    let Ok(mut child) = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    else {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "promtool is missing: run bash tests/run.sh"
        );
        return None;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "promtool check metrics failed:\n{text}\n{metrics}"
    );
    Some(text)
}

//! The daemon: audit on a schedule, publish what was found, reload, shut down.
//! The only place that holds long-lived state.
//!
//! Three tasks share a [`CancellationToken`]: the scheduler (one cycle at a
//! time; a slow cycle delays the next rather than stacking), the HTTP server,
//! and the reloader (SIGHUP, or a watched file that changed). The loaded
//! config, policies and source are swapped atomically as one [`Loaded`]; a
//! reload that fails keeps the old one.

mod server;
pub mod state;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::audit::{self, Operation};
use crate::cli::Cli;
use crate::commands::{Error, Exit};
use crate::config::Config;
use crate::inventory::Inventory;
use crate::metrics::Metrics;
use crate::policy::{PolicySet, PolicySource};
use crate::shard::Shard;
use crate::source::aws::{AwsSource, RequestOutcome};
use crate::source::{self, Source};

/// How long shutdown may take: in-flight requests are cancelled, open HTTP
/// connections get this long to finish.
pub const SHUTDOWN_BOUND: Duration = Duration::from_secs(10);
/// How often watched files are checked for changes.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(5);

/// Everything a cycle needs, loaded and validated together.
pub struct Loaded {
    pub config: Config,
    pub policies: PolicySet,
    pub source: Source,
    pub baseline: Option<Inventory>,
    /// This replica's shard: fleet-file APIs are filtered by it each cycle
    /// (AWS targets were filtered when the source was built).
    pub shard: Shard,
    /// Counts reloads, so that request statistics restart with a new source.
    pub generation: u64,
}

/// The parts of the command line that a (re)load reads.
struct Args {
    config: Option<PathBuf>,
    policies: Vec<String>,
    routes: Vec<PathBuf>,
    baseline: Option<PathBuf>,
    endpoint_url: Option<String>,
}

impl Args {
    fn of(cli: &Cli) -> Args {
        Args {
            config: cli.common.config.clone(),
            policies: cli.common.policies.clone(),
            routes: cli.common.routes.clone(),
            baseline: cli.common.baseline.clone(),
            endpoint_url: cli.common.endpoint_url.clone(),
        }
    }

    /// `-p` replaces the config's list.
    fn policy_sources(&self, config: &Config) -> Vec<PolicySource> {
        if self.policies.is_empty() {
            config.audit.policies.clone()
        } else {
            self.policies
                .iter()
                .map(|p| PolicySource::parse(p, Path::new("")))
                .collect()
        }
    }
}

/// Loads config, policies, baseline and source; every problem is an error.
/// File I/O runs on the blocking pool, never on the runtime's workers; a
/// panic anywhere in loading is a failed load, never a dead reloader.
async fn load(args: &Arc<Args>, shard: Shard, generation: u64) -> Result<Loaded, Error> {
    no_panic(load_inner(args, shard, generation)).await
}

/// A load that panics is a failed load ([`Error::Panic`]), not a dead task.
async fn no_panic<T>(
    load: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    use futures_util::FutureExt;
    std::panic::AssertUnwindSafe(load)
        .catch_unwind()
        .await
        .unwrap_or_else(|panic| Err(Error::Panic(panic_message(&*panic))))
}

/// What a panic said, for the log line of a failed load.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_owned())
}

async fn load_inner(args: &Arc<Args>, shard: Shard, generation: u64) -> Result<Loaded, Error> {
    let files = args.clone();
    let (config, policies, baseline) = tokio::task::spawn_blocking(move || {
        let args = files;
        let config = match &args.config {
            Some(path) => Config::load(path)?,
            None => Config::default(),
        };
        let policies = PolicySet::load(&args.policy_sources(&config))?;
        let baseline = match args.baseline.as_ref().or(config.audit.baseline.as_ref()) {
            Some(path) => Some(source::read_files(std::slice::from_ref(path))?.inventory),
            None => None,
        };
        if !args.routes.is_empty() {
            // Read once now so that a broken file fails the (re)load, not a cycle.
            source::read_files(&args.routes)?;
        }
        Ok::<_, Error>((config, policies, baseline))
    })
    .await
    .map_err(|err| Error::Panic(join_error(err)))??;
    let source = if !args.routes.is_empty() {
        Source::Files(args.routes.clone())
    } else if config.targets.is_empty() {
        return Err(Error::Usage(
            "nothing to audit: give --routes FILE (a fleet file), or [[targets]] in the config"
                .to_owned(),
        ));
    } else {
        let mut mine = config.clone();
        mine.targets.retain(|t| shard.owns(&t.name));
        tracing::info!(shard = %shard, targets = mine.targets.len(), of = config.targets.len(), "targets of this shard");
        Source::Aws(Arc::new(
            AwsSource::new(&mine, args.endpoint_url.as_deref()).await?,
        ))
    };
    Ok(Loaded {
        config,
        policies,
        source,
        baseline,
        shard,
        generation,
    })
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Runs the daemon until SIGTERM or SIGINT.
pub async fn run(cli: &Cli) -> Result<Exit, Error> {
    let shard = match &cli.daemon.shard {
        Some(text) => text.parse::<Shard>().map_err(Error::Usage)?,
        None => Shard::default(),
    };
    let args = Arc::new(Args::of(cli));
    let loaded = load(&args, shard, 0).await?;
    let listen: SocketAddr = match &cli.daemon.listen {
        Some(text) => text.parse().map_err(|_| {
            Error::Usage(format!(
                "invalid --listen address `{text}`: expected HOST:PORT"
            ))
        })?,
        None => loaded.config.server.listen,
    };
    let listener = server::bind(listen)
        .map_err(|err| Error::Usage(format!("cannot listen on {listen}: {err}")))?;

    let metrics = Arc::new(Metrics::new());
    metrics
        .shard
        .with_label_values(&[&shard.index.to_string(), &shard.count.to_string()])
        .set(1.0);
    publish_loaded(&metrics, &loaded);
    metrics.reload_successful.set(1.0);
    metrics.reload_success_timestamp.set(unix_now());

    let current = Arc::new(RwLock::new(Arc::new(loaded)));
    let ready = Arc::new(AtomicBool::new(false));
    let cancel = CancellationToken::new();
    tracing::info!(listen = %listen, shard = %shard, version = env!("CARGO_PKG_VERSION"), "routewarden daemon started");

    let app = server::router(server::Shared {
        metrics: metrics.clone(),
        ready: ready.clone(),
    });
    let server = tokio::spawn(server::serve(listener, app, cancel.clone(), SHUTDOWN_BOUND));
    let reloader = tokio::spawn(reload_loop(
        args,
        shard,
        current.clone(),
        metrics.clone(),
        cancel.clone(),
    ));
    let signals = tokio::spawn(shutdown_signal(cancel.clone()));

    // Supervision: the scheduler runs here; the server and the reloader must
    // live as long as it does. One that ends (or panics) before shutdown
    // leaves the daemon half-alive, so the daemon stops with an error instead.
    let mut server = server;
    let mut reloader = reloader;
    let ended: Option<(&str, String)> = tokio::select! {
        () = schedule(current, metrics.clone(), ready, cancel.clone()) => None,
        result = &mut server => Some(("server", task_end(result))),
        result = &mut reloader => Some(("reloader", task_end(result))),
    };
    // At shutdown every task ends: only an end before it is a failure.
    let failed = ended.filter(|_| !cancel.is_cancelled());
    if let Some((task, how)) = &failed {
        metrics.task_failures.with_label_values(&[task]).inc();
        if *task == "reloader" {
            metrics.reload_successful.set(0.0);
        }
        tracing::error!(task, how = %how, "a daemon task stopped; the daemon stops rather than run half-alive");
    }

    // Stop the others and wait, within the bound.
    cancel.cancel();
    let _ = tokio::time::timeout(SHUTDOWN_BOUND, async {
        if !server.is_finished() {
            let _ = server.await;
        }
        if !reloader.is_finished() {
            let _ = reloader.await;
        }
    })
    .await;
    signals.abort();
    tracing::info!("routewarden daemon stopped");
    match failed {
        Some((task, how)) => Err(Error::TaskFailed { task, how }),
        None => Ok(Exit::Success),
    }
}

/// How a supervised task ended before shutdown.
fn task_end<T>(result: Result<T, tokio::task::JoinError>) -> String {
    match result {
        Ok(_) => "it returned".to_owned(),
        Err(err) => format!("it failed: {}", join_error(err)),
    }
}

/// What a task that did not return said: its panic's message, or why it
/// was cancelled.
fn join_error(err: tokio::task::JoinError) -> String {
    match err.try_into_panic() {
        Ok(panic) => panic_message(&*panic),
        Err(err) => err.to_string(),
    }
}

/// Waits for SIGTERM or SIGINT, then cancels everything.
async fn shutdown_signal(cancel: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!(signal = "SIGTERM", "shutting down"),
        _ = int.recv() => tracing::info!(signal = "SIGINT", "shutting down"),
    }
    cancel.cancel();
}

/// Metrics that follow the loaded config and policies.
fn publish_loaded(metrics: &Metrics, loaded: &Loaded) {
    metrics
        .policy_rules
        .set(loaded.policies.enabled().count() as f64);
    metrics
        .audit_interval
        .set(loaded.config.audit.interval.as_secs_f64());
}

/// Reloads on SIGHUP and when a watched file changes. A failed reload keeps
/// the old config and policies and says so in logs and metrics.
async fn reload_loop(
    args: Arc<Args>,
    shard: Shard,
    current: Arc<RwLock<Arc<Loaded>>>,
    metrics: Arc<Metrics>,
    cancel: CancellationToken,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::error!("cannot install the SIGHUP handler");
        return;
    };
    let mut watch = tokio::time::interval(WATCH_INTERVAL);
    watch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let config = current.read().expect("lock").config.clone();
    let mut fingerprint = watched_fingerprint(args.clone(), config).await;
    loop {
        let reason = tokio::select! {
            // A signal asks for a reload whatever the files say.
            _ = hup.recv() => "SIGHUP",
            // Files are polled: ConfigMap updates swap symlinks, which change
            // no inode a watcher would be looking at.
            _ = watch.tick() => {
                let config = current.read().expect("lock").config.clone();
                let now = watched_fingerprint(args.clone(), config).await;
                if now == fingerprint { continue; }
                fingerprint = now;
                "file changed"
            }
            () = cancel.cancelled() => return,
        };
        let generation = current.read().expect("lock").generation + 1;
        match load(&args, shard, generation).await {
            Ok(loaded) => {
                publish_loaded(&metrics, &loaded);
                fingerprint = watched_fingerprint(args.clone(), loaded.config.clone()).await;
                *current.write().expect("lock") = Arc::new(loaded);
                metrics.reload_successful.set(1.0);
                metrics.reload_success_timestamp.set(unix_now());
                tracing::info!(reason, "config and policies reloaded");
            }
            Err(err) => {
                metrics.reload_successful.set(0.0);
                let diagnostics = match &err {
                    Error::Load(load) => load.0.render(false),
                    other => other.to_string(),
                };
                tracing::error!(reason, %diagnostics, "reload failed; keeping the previous config and policies");
            }
        }
    }
}

/// A fingerprint of every watched file (config, policies, baseline), from
/// metadata alone: path, size, modification time, inode. Nothing is opened
/// or read, so a FIFO cannot block it and a large file costs nothing; it
/// runs on the blocking pool. In a policy directory only policy files
/// count; one that is not a regular file is marked as such here, and the
/// reload it triggers skips it with a warning.
async fn watched_fingerprint(args: Arc<Args>, config: Config) -> u64 {
    tokio::task::spawn_blocking(move || fingerprint_files(&args, &config))
        .await
        .unwrap_or_default()
}

fn fingerprint_files(args: &Args, config: &Config) -> u64 {
    use std::hash::Hasher;
    use std::os::unix::fs::MetadataExt;
    let mut paths: Vec<PathBuf> = Vec::new();
    paths.extend(args.config.clone());
    for source in args.policy_sources(config) {
        if let PolicySource::Path(path) = source {
            if path.is_dir() {
                if let Ok(entries) = std::fs::read_dir(&path) {
                    let mut files: Vec<PathBuf> = entries
                        .filter_map(Result::ok)
                        .map(|e| e.path())
                        .filter(|p| crate::policy::is_policy_file(p))
                        .collect();
                    files.sort();
                    paths.extend(files);
                }
            } else {
                paths.push(path);
            }
        }
    }
    paths.extend(args.baseline.clone().or(config.audit.baseline.clone()));
    let mut hasher = fnv::FnvHasher::default();
    for path in paths {
        hasher.write(path.as_os_str().as_encoded_bytes());
        // Through symlinks: a ConfigMap swaps the link, the target changes.
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_file() => {
                hasher.write_u64(meta.len());
                hasher.write_i64(meta.mtime());
                hasher.write_i64(meta.mtime_nsec());
                hasher.write_u64(meta.ino());
                hasher.write_u64(meta.dev());
            }
            Ok(_) => hasher.write(b"\0not a regular file"),
            Err(_) => hasher.write(b"\0missing"),
        }
    }
    hasher.finish()
}

/// What the AWS source had counted when the counters were last published, so
/// that each cycle adds only the difference.
#[derive(Default)]
struct Published {
    /// The source generation these counts belong to (a reload starts at zero).
    generation: u64,
    requests: BTreeMap<(String, Operation, RequestOutcome), u64>,
    /// Seconds of rate-limit wait and of backoff, per target.
    waits: BTreeMap<String, (f64, f64)>,
}

/// One cycle after another, never overlapping; the next starts `interval`
/// plus jitter after the previous one started, or at once if it ran longer.
async fn schedule(
    current: Arc<RwLock<Arc<Loaded>>>,
    metrics: Arc<Metrics>,
    ready: Arc<AtomicBool>,
    cancel: CancellationToken,
) {
    let mut state = state::State::default();
    let mut seen = Published::default();
    let mut rng = fastrand::Rng::new();
    loop {
        let started = Instant::now();
        let loaded = current.read().expect("lock").clone();
        tokio::select! {
            () = cycle(&loaded, &mut state, &metrics, &mut seen) => {}
            // Shutdown drops the cycle, and with it every request in flight.
            () = cancel.cancelled() => return,
        }
        ready.store(true, Ordering::Release);
        let audit = &loaded.config.audit;
        let jitter = audit.jitter.mul_f64(rng.f64());
        let next = started + audit.interval + jitter;
        tokio::select! {
            () = tokio::time::sleep_until(next) => {}
            () = cancel.cancelled() => return,
        }
    }
}

async fn cycle(loaded: &Loaded, state: &mut state::State, metrics: &Metrics, seen: &mut Published) {
    let started = Instant::now();
    let (fetched, source_failed) = match loaded.source.fetch().await {
        Ok(fetched) => (fetched, false),
        Err(err) => {
            tracing::error!(diagnostics = %err.0.render(false), "routes files could not be read; keeping the last known state");
            (source::Fetched::default(), true)
        }
    };
    let mut inventory = fetched.inventory;
    inventory
        .apis
        .retain(|api| loaded.shard.owns(api.target_name.as_deref().unwrap_or("")));
    let changes = state.apply(state::Cycle {
        inventory,
        errors: &fetched.errors,
        source_failed,
        policies: &loaded.policies,
        today: audit::today_utc(),
        now: unix_now(),
        baseline: loaded.baseline.as_ref(),
        drift_severity: loaded.config.drift.severity,
    });
    for f in &changes.opened {
        tracing::warn!(
            rule_id = %f.rule.id, severity = %f.severity(), target_name = f.target_name.as_deref(),
            region = f.region.as_deref(), api_id = %f.api_id, api_name = f.api_name.as_deref(),
            route_key = %f.route_key, status = f.status.as_str(), message = %f.message,
            "violation opened"
        );
    }
    for f in &changes.closed {
        tracing::info!(
            rule_id = %f.rule.id, severity = %f.severity(), target_name = f.target_name.as_deref(),
            api_id = %f.api_id, route_key = %f.route_key, "violation closed"
        );
    }
    for f in &changes.expired_exemptions {
        let e = f.exemption.as_ref();
        tracing::warn!(
            rule_id = %f.rule.id, target_name = f.target_name.as_deref(), api_id = %f.api_id,
            route_key = %f.route_key, reason = e.map(|e| &*e.reason), owner = e.and_then(|e| e.owner.as_deref()),
            expires = e.and_then(|e| e.expires).map(|d| d.to_string()),
            "exemption expired"
        );
    }
    for (target, region, api_id) in &changes.removed {
        tracing::info!(target_name = %target, region = %region, api_id = %api_id, "API no longer exists; its series are removed");
    }

    publish_state(metrics, state, loaded.config.audit.max_violation_series);
    publish_requests(metrics, loaded, seen);
    let complete = fetched.errors.is_empty() && !source_failed;
    let elapsed = started.elapsed();
    metrics
        .audit_cycles
        .with_label_values(&[if complete { "complete" } else { "partial" }])
        .inc();
    metrics.cycle_duration.observe(elapsed.as_secs_f64());
    tracing::info!(
        outcome = if complete { "complete" } else { "partial" },
        duration_ms = elapsed.as_millis() as u64,
        apis = state.apis.len(),
        routes = state.routes(),
        violations = state.open_violations(),
        opened = changes.opened.len(),
        closed = changes.closed.len(),
        errors = fetched.errors.len(),
        tasks = tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks(),
        "audit cycle finished"
    );
}

/// Rebuilds every per-API gauge from the state.
fn publish_state(metrics: &Metrics, state: &state::State, cap: usize) {
    let dropped = metrics.publish_findings(state.findings(), cap);
    if !dropped.is_empty() {
        let by_severity = dropped
            .iter()
            .rev()
            .map(|(severity, n)| format!("{n} {severity}"))
            .collect::<Vec<_>>()
            .join(", ");
        tracing::warn!(
            dropped = dropped.values().sum::<usize>(),
            by_severity,
            cap,
            "violation series over max_violation_series were left out, least severe first"
        );
    }
    metrics.routes.reset();
    metrics.api_up.reset();
    metrics.api_last_success.reset();
    for entry in state.apis.values() {
        let api = &entry.api;
        let target = api.target_name.as_deref().unwrap_or("");
        let region = api.region.as_deref().unwrap_or("");
        let name = api.name.as_deref().unwrap_or("");
        let mut by_type: BTreeMap<&str, u64> = BTreeMap::new();
        for route in &api.routes {
            *by_type.entry(route.authorization_type()).or_default() += 1;
        }
        for (auth, n) in by_type {
            metrics
                .routes
                .with_label_values(&[target, region, &api.api_id, name, auth])
                .set(n as f64);
        }
        let labels = [target, region, &*api.api_id];
        metrics
            .api_up
            .with_label_values(&labels)
            .set(if entry.up { 1.0 } else { 0.0 });
        metrics
            .api_last_success
            .with_label_values(&labels)
            .set(entry.last_success);
    }
    metrics.drift_routes.reset();
    let mut drift: BTreeMap<(&str, &str, &str), u64> = BTreeMap::new();
    for f in &state.drift {
        let change = f.rule.id.strip_prefix("drift.").unwrap_or(&f.rule.id);
        *drift
            .entry((f.target_name.as_deref().unwrap_or(""), &f.api_id, change))
            .or_default() += 1;
    }
    for ((target, api, change), n) in drift {
        metrics
            .drift_routes
            .with_label_values(&[target, api, change])
            .set(n as f64);
    }
}

/// Adds what the AWS source counted since the last cycle to the counters.
fn publish_requests(metrics: &Metrics, loaded: &Loaded, seen: &mut Published) {
    let Source::Aws(aws) = &loaded.source else {
        return;
    };
    if seen.generation != loaded.generation {
        // A new source counts from zero.
        *seen = Published {
            generation: loaded.generation,
            ..Published::default()
        };
    }
    for (target, stats) in aws.stats() {
        for ((operation, outcome), n) in stats.requests() {
            let key = (target.to_string(), operation, outcome);
            let before = seen.requests.insert(key, n).unwrap_or(0);
            let op = format!("{operation:?}");
            metrics
                .aws_requests
                .with_label_values(&[&*target, &op, outcome.label()])
                .inc_by(n.saturating_sub(before));
        }
        let now = (
            stats.rate_limit_wait().as_secs_f64(),
            stats.backoff().as_secs_f64(),
        );
        let before = seen
            .waits
            .insert(target.to_string(), now)
            .unwrap_or((0.0, 0.0));
        metrics
            .rate_limit_wait
            .with_label_values(&[&*target])
            .inc_by((now.0 - before.0).max(0.0));
        metrics
            .backoff
            .with_label_values(&[&*target])
            .inc_by((now.1 - before.1).max(0.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_load_is_a_failed_load() {
        let panicking = async {
            let rates: Vec<f64> = Vec::new();
            let first = rates.first().copied();
            Ok::<f64, Error>(first.unwrap_or_else(|| panic!("a bug in a loader")))
        };
        match no_panic(panicking).await {
            Err(Error::Panic(message)) => assert_eq!(message, "a bug in a loader"),
            other => panic!("{other:?}"),
        }
        let blocking = async {
            tokio::task::spawn_blocking(|| -> Result<(), Error> { panic!("in {}", "a file") })
                .await
                .map_err(|err| Error::Panic(join_error(err)))?
        };
        match no_panic(blocking).await {
            Err(Error::Panic(message)) => assert_eq!(message, "in a file"),
            other => panic!("{other:?}"),
        }
        assert_eq!(no_panic(async { Ok::<_, Error>(7) }).await.unwrap(), 7);
    }
}

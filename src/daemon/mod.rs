//! The daemon: audit on a schedule, publish what was found, reload, shut down.
//! The only place that holds long-lived state.
//!
//! Three tasks share a [`CancellationToken`]: the scheduler (one cycle at a
//! time; a slow cycle delays the next rather than stacking), the HTTP server,
//! and the reloader (SIGHUP, or a watched file that changed). The loaded
//! config, policies and source are swapped atomically as one [`Plan`]; a
//! reload that fails keeps the old one.

mod server;
mod state;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use routewarden_core::config::Config;
use routewarden_core::finding::Subject;
use routewarden_core::policy::{self, PolicySource};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::audit::{self, Audit};
use crate::error::{Error, Exit, join_error, panic_message};
use crate::load::{self, Args, Plan, Purpose};
use crate::metrics::Metrics;
use crate::shard::Shard;

/// How long shutdown may take: in-flight requests are cancelled, open HTTP
/// connections get this long to finish.
const SHUTDOWN_BOUND: Duration = Duration::from_secs(10);
/// How often watched files are checked for changes.
const WATCH_INTERVAL: Duration = Duration::from_secs(5);

/// What the command line says about the daemon itself.
pub struct Options {
    /// `--listen`, over the config's `[server] listen`.
    pub listen: Option<SocketAddr>,
    pub shard: Shard,
}

/// Loads the daemon's plan. A load that panics (a bug) is a failed load,
/// never a dead reloader.
async fn load(args: &Args, shard: Shard) -> Result<Plan, Error> {
    no_panic(load::load(args, Purpose::Daemon(shard))).await
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

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Runs the daemon until SIGTERM or SIGINT.
pub async fn run(args: Args, options: Options) -> Result<Exit, Error> {
    let Options { listen, shard } = options;
    let args = Arc::new(args);
    let loaded = load(&args, shard).await?;
    let listen = listen.unwrap_or(loaded.config.server.listen);
    let listener = server::bind(listen).map_err(|source| Error::Bind {
        addr: listen,
        source,
    })?;

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
fn publish_loaded(metrics: &Metrics, loaded: &Plan) {
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
    current: Arc<RwLock<Arc<Plan>>>,
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
        match load(&args, shard).await {
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
                        .filter(|p| policy::is_policy_file(p))
                        .collect();
                    files.sort();
                    paths.extend(files);
                }
            } else {
                paths.push(path);
            }
        }
    }
    paths.extend(args.baseline(config).cloned());
    // The code drift is reported against, file by file.
    let mut code: Vec<PathBuf> = args.baseline_iac(config).to_vec();
    while let Some(path) = code.pop() {
        match std::fs::read_dir(&path) {
            Ok(entries) => code.extend(entries.filter_map(Result::ok).map(|e| e.path())),
            Err(_) => paths.push(path),
        }
    }
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

/// One cycle after another, never overlapping; the next starts `interval`
/// plus jitter after the previous one started, or at once if it ran longer.
async fn schedule(
    current: Arc<RwLock<Arc<Plan>>>,
    metrics: Arc<Metrics>,
    ready: Arc<AtomicBool>,
    cancel: CancellationToken,
) {
    let mut state = state::State::default();
    let mut rng = fastrand::Rng::new();
    loop {
        let started = Instant::now();
        let loaded = current.read().expect("lock").clone();
        tokio::select! {
            () = cycle(&loaded, &mut state, &metrics) => {}
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

async fn cycle(loaded: &Plan, state: &mut state::State, metrics: &Metrics) {
    let started = Instant::now();
    let audit = Audit {
        policies: &loaded.policies,
        baseline: loaded.baseline.as_ref(),
        code: loaded.code.as_ref(),
        drift_severity: loaded.config.drift.severity,
        today: audit::today_utc(),
        keep_routes: true,
        warn_expiring: loaded.config.audit.warn_expiring,
    };
    // The metrics hear every request and wait as it happens.
    let outcome = match loaded.source() {
        Ok(source) => audit::run(source, &audit, metrics).await,
        Err(err) => {
            tracing::error!(%err, "no source to audit");
            return;
        }
    };
    let (changes, errors) = match outcome {
        Ok(outcome) => {
            let errors = outcome.errors.len();
            (state.apply(outcome, unix_now()), Some(errors))
        }
        Err(err) => {
            tracing::error!(diagnostics = %err.0.render(false), "the --routes or --iac files could not be read; keeping the last known state");
            state.source_failed();
            (state::Changes::default(), None)
        }
    };
    for f in &changes.opened {
        tracing::warn!(
            rule_id = %f.rule.id, severity = %f.severity(), target_name = f.target_name.as_deref(),
            region = f.region.as_deref(), account_id = f.account_id.as_deref(), api_id = %f.api_id, api_name = f.api_name.as_deref(),
            route_key = %f.route_key, stage = f.stage.as_deref(), status = f.status.as_str(),
            explanation = %f.message, "violation opened"
        );
    }
    for f in &changes.closed {
        tracing::info!(
            rule_id = %f.rule.id, severity = %f.severity(), target_name = f.target_name.as_deref(),
            account_id = f.account_id.as_deref(), api_id = %f.api_id, route_key = %f.route_key, stage = f.stage.as_deref(), "violation closed"
        );
    }
    for f in &changes.expired_exemptions {
        let e = f.exemption.as_ref();
        tracing::warn!(
            rule_id = %f.rule.id, target_name = f.target_name.as_deref(), api_id = %f.api_id,
            route_key = %f.route_key, stage = f.stage.as_deref(), reason = e.map(|e| &*e.reason), owner = e.and_then(|e| e.owner.as_deref()),
            expires = e.and_then(|e| e.expires).map(|d| d.to_string()),
            "exemption expired"
        );
    }
    for e in &changes.review {
        let at = e.info.location.as_ref().map(ToString::to_string);
        if e.matched == 0 {
            tracing::warn!(rule_id = %e.info.rule, exemption = %e.info.label, at, owner = e.info.owner.as_deref(), "exemption matches nothing");
        } else {
            tracing::warn!(
                rule_id = %e.info.rule, exemption = %e.info.label, at, owner = e.info.owner.as_deref(),
                expires = e.info.expires.map(|d| d.to_string()), days_left = e.days_left, matched = e.matched,
                "exemption expires soon and still matches"
            );
        }
    }
    for (target, region, api_id) in &changes.removed {
        tracing::info!(target_name = %target, region = %region, api_id = %api_id, "API no longer exists; its series are removed");
    }

    let cap = loaded.config.audit.max_violation_series;
    metrics.rebuild(|| publish_state(metrics, state, cap));
    let complete = errors == Some(0);
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
        errors,
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
        let account = api.account.as_ref().map_or("", |a| &*a.id);
        let name = api.name.as_deref().unwrap_or("");
        let mut by_type: BTreeMap<&str, u64> = BTreeMap::new();
        for route in &api.routes {
            *by_type.entry(route.authorization_type()).or_default() += 1;
        }
        for (auth, n) in by_type {
            metrics
                .routes
                .with_label_values(&[target, region, account, &api.api_id, name, auth])
                .set(n as f64);
        }
        let labels = [target, region, account, &*api.api_id];
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
    metrics.drift_parts.reset();
    // Routes by change; other parts by kind (stage, authorizer, integration,
    // settings) and change.
    type Api<'a> = (&'a str, &'a str, &'a str);
    let mut routes: BTreeMap<(Api<'_>, &str), u64> = BTreeMap::new();
    let mut parts: BTreeMap<(Api<'_>, &str, &str), u64> = BTreeMap::new();
    for f in &state.drift {
        let change = f.rule.id.strip_prefix("drift.").unwrap_or(&f.rule.id);
        let api = (
            f.target_name.as_deref().unwrap_or(""),
            f.account_id.as_deref().unwrap_or(""),
            &*f.api_id,
        );
        let part = match (f.subject, f.part.as_deref()) {
            (Subject::Route, _) => None,
            (Subject::Stage, _) => Some("stage"),
            (_, Some(part)) if part.starts_with("authorizer") => Some("authorizer"),
            (_, Some(part)) if part.starts_with("integration") => Some("integration"),
            _ => Some("settings"),
        };
        match part {
            None => *routes.entry((api, change)).or_default() += 1,
            Some(part) => *parts.entry((api, part, change)).or_default() += 1,
        }
    }
    for (((target, account, api), change), n) in routes {
        metrics
            .drift_routes
            .with_label_values(&[target, account, api, change])
            .set(n as f64);
    }
    for (((target, account, api), part, change), n) in parts {
        metrics
            .drift_parts
            .with_label_values(&[target, account, api, part, change])
            .set(n as f64);
    }
    metrics.exemption_expiry.reset();
    metrics.exemption_matched.reset();
    for e in &state.exemptions {
        let labels = [&*e.info.rule, &*e.info.label];
        metrics
            .exemption_matched
            .with_label_values(&labels)
            .set(e.matched as f64);
        if let Some(expires) = e.info.expires {
            let at = expires.midnight().assume_utc().unix_timestamp();
            metrics
                .exemption_expiry
                .with_label_values(&labels)
                .set(at as f64);
        }
    }
    // Accounts of the last cycle only: one that left the organization is gone.
    metrics.account_up.reset();
    metrics.organization_accounts.reset();
    metrics.organization_listed.reset();
    for status in &state.accounts {
        let organization = status.account.organization.as_deref().unwrap_or("");
        metrics
            .account_up
            .with_label_values(&[organization, &status.account.id])
            .set(if status.up() { 1.0 } else { 0.0 });
    }
    for roster in &state.organizations {
        metrics
            .organization_accounts
            .with_label_values(&[&roster.organization])
            .set(roster.total as f64);
        metrics
            .organization_listed
            .with_label_values(&[&roster.organization])
            .set(roster.listed_at);
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

    #[test]
    fn a_scrape_never_sees_a_cycle_half_published() {
        use routewarden_core::inventory::Api;
        let mut state = state::State::default();
        let key = ("t".to_owned(), "r".to_owned(), "a1".to_owned());
        let entry = state::ApiEntry {
            api: Api {
                api_id: "a1".into(),
                target_name: Some("t".into()),
                region: Some("r".into()),
                ..Api::default()
            },
            findings: Vec::new(),
            up: true,
            last_success: 1.0,
        };
        state.apis.insert(key, entry);
        let metrics = Arc::new(Metrics::new());
        let stop = Arc::new(AtomicBool::new(false));
        let publisher = {
            let (metrics, stop) = (metrics.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    metrics.rebuild(|| publish_state(&metrics, &state, 100));
                }
            })
        };
        while !metrics.render().contains("routewarden_api_up{") {
            std::thread::yield_now();
        }
        let missing = (0..300)
            .filter(|_| !metrics.render().contains("routewarden_api_up{"))
            .count();
        stop.store(true, Ordering::Relaxed);
        publisher.join().unwrap();
        assert_eq!(missing, 0, "scrapes that saw the API's series missing");
    }

    #[test]
    fn drift_is_counted_by_route_and_by_part() {
        use routewarden_core::drift;
        use routewarden_core::finding::Severity;
        use routewarden_core::inventory::{Api, Inventory, Route, Stage};
        let route = |key: &str| Route {
            route_key: key.into(),
            ..Route::default()
        };
        let stage = |arn: Option<&str>| Stage {
            stage_name: "prod".into(),
            access_log_settings: arn.map(|a| routewarden_core::inventory::AccessLogSettings {
                destination_arn: Some(a.into()),
                format: None,
            }),
            ..Stage::default()
        };
        let api = |routes: Vec<Route>, arn: Option<&str>| Api {
            api_id: "a1".into(),
            target_name: Some("t".into()),
            routes,
            stages: Some(vec![stage(arn)]),
            ..Api::default()
        };
        let baseline = Inventory {
            apis: vec![api(vec![route("GET /a")], Some("arn:logs"))],
        };
        let live = Inventory {
            apis: vec![api(vec![route("GET /a"), route("GET /b")], None)],
        };
        let state = state::State {
            drift: drift::compare(&live, &baseline, &Default::default(), Severity::Medium),
            ..state::State::default()
        };
        let metrics = Metrics::new();
        publish_state(&metrics, &state, 100);
        let text = metrics.render();
        assert!(
            text.contains(
                r#"routewarden_drift_routes{account_id="",api_id="a1",change="added",target_name="t"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"routewarden_drift_parts{account_id="",api_id="a1",change="modified",part="stage",target_name="t"} 1"#
            ),
            "{text}"
        );
    }
}

//! The soak test (not part of CI; `bash benches/soak.sh`): the daemon, built in
//! release, audits the fault server every second for `SOAK_SECONDS` (default
//! 1800) while the faults change every minute, in a six-minute loop:
//!
//! 0. throttling with `x-amz-retry-after` hints;
//! 1. throttling without hints, bare 429s on one API;
//! 2. per-API 500, 503 on later pages, invalid JSON, a repeated token, a hang
//!    past the timeout, BadRequest and NotFound on a page token;
//! 3. churn: an API leaves discovery and a new one (a new id every loop)
//!    appears, so series are removed and added;
//! 4. the credentials stop working (403 ExpiredTokenException everywhere);
//! 5. healthy, no throttling.
//!
//! (`SOAK_PHASE_SECONDS` changes the minute, for a quick trial.) Every
//! `SOAK_SAMPLE_SECONDS` (default 5) it samples the daemon's resident
//! memory, open file descriptors and threads (/proc), its live tokio tasks
//! (from the `audit cycle finished` log line), the cycles finished, and a
//! `/metrics` scrape (time and lines). Writes `target/soak/samples.csv` and
//! fails if the process dies, stops finishing cycles, or if memory, fds or
//! tasks grow between the first window after warm-up and the last.

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::fault::{self, Fault, FaultServer, Rule, Throttle};

const APIS: usize = 20;
const ROUTES: usize = 60;

/// What the daemon's log said last.
#[derive(Default)]
struct Logged {
    cycles: u64,
    partial: u64,
    tasks: u64,
    panics: u64,
}

#[derive(Clone, Copy)]
struct Sample {
    t: f64,
    phase: usize,
    rss_kib: u64,
    fds: u64,
    threads: u64,
    tasks: u64,
    cycles: u64,
    partial: u64,
    scrape_ms: f64,
    metric_lines: u64,
}

fn env_secs(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn proc_status(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn open_fds(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64)
}

/// Switches the server to phase `phase` of loop `round`.
fn enter(server: &FaultServer, phase: usize, round: usize) {
    server.clear_faults();
    let hinted = Throttle {
        rate: 40.0,
        burst: 20.0,
        retry_after_ms: Some(300),
        retry_after_s: None,
    };
    match phase {
        0 => server.set_throttle(Some(hinted)),
        1 => {
            server.set_throttle(Some(Throttle {
                retry_after_ms: None,
                ..hinted
            }));
            server.add_fault(Rule::on("api-01", Fault::Bare429));
        }
        2 => {
            server.set_throttle(Some(hinted));
            server.add_fault(Rule::on("api-02", Fault::error(500, "InternalServerError")));
            server.add_fault(Rule::on("api-03", Fault::error(503, "ServiceUnavailable")).paged());
            server.add_fault(Rule::on("api-04", Fault::InvalidJson));
            server.add_fault(Rule::on("api-05", Fault::RepeatToken));
            server.add_fault(Rule::on("api-06", Fault::Hang));
            server.add_fault(Rule::on("api-07", Fault::error(400, "BadRequestException")).paged());
            server.add_fault(Rule::on("api-08", Fault::error(404, "NotFoundException")).paged());
        }
        3 => {
            server.set_throttle(Some(hinted));
            server.remove_api("api-19");
            server.add_api(fault::api(&format!("churn-{round}"), ROUTES));
        }
        4 => {
            server.set_throttle(None);
            server.add_fault(Rule::everywhere(Fault::error(403, "ExpiredTokenException")));
        }
        _ => {
            server.set_throttle(None);
            server.remove_api(&format!("churn-{round}"));
            server.remove_api("api-19");
            server.add_api(fault::api("api-19", ROUTES));
        }
    }
}

fn spawn_log_reader(child: &mut Child, logged: Arc<Mutex<Logged>>, path: PathBuf) {
    let stderr = child.stderr.take().expect("piped stderr");
    std::thread::spawn(move || {
        let mut file = std::fs::File::create(path).unwrap();
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let _ = writeln!(file, "{line}");
            let mut logged = logged.lock().unwrap();
            if line.contains("panicked") {
                logged.panics += 1;
            }
            let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            let fields = &event["fields"];
            if fields["message"] == "audit cycle finished" {
                logged.cycles += 1;
                if fields["outcome"] == "partial" {
                    logged.partial += 1;
                }
                logged.tasks = fields["tasks"].as_u64().unwrap_or(0);
            }
        }
    });
}

/// A column of the summary: its name and how to read it from a sample.
type Measure = (&'static str, fn(&Sample) -> u64);

fn median(values: impl Iterator<Item = u64>) -> u64 {
    let mut v: Vec<u64> = values.collect();
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

#[allow(clippy::print_stdout, clippy::print_stderr)]
fn main() {
    // `cargo bench` passes `--bench`; this is not a criterion bench.
    let total = Duration::from_secs(env_secs("SOAK_SECONDS", 1800));
    let every = Duration::from_secs(env_secs("SOAK_SAMPLE_SECONDS", 5));
    let phase_secs = env_secs("SOAK_PHASE_SECONDS", 60).max(1);
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/soak");
    std::fs::create_dir_all(&out).unwrap();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let apis = (0..APIS)
        .map(|i| fault::api(&format!("api-{i:02}"), ROUTES))
        .collect();
    let server = runtime.block_on(FaultServer::start(apis));
    server.set_page_cap(25);
    enter(&server, 0, 0);

    let home = tempfile::tempdir().unwrap();
    let config = support::config(
        home.path(),
        &server.url(),
        "timeout = \"1s\"\nmax_backoff = \"2s\"\nrequests_per_second = 50.0\nburst = 20\n\
         [audit]\ninterval = \"1s\"\njitter = \"0s\"\nconcurrency = 4\n\
         [[targets]]\nname = \"soak\"",
    );
    let port = support::free_port();
    let mut child = support::command(home.path())
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--log-format",
            "json",
        ])
        .arg("-c")
        .arg(&config)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the daemon starts");
    let pid = child.id();
    let logged = Arc::new(Mutex::new(Logged::default()));
    spawn_log_reader(&mut child, logged.clone(), out.join("daemon.log"));

    eprintln!(
        "soak: daemon pid {pid} on 127.0.0.1:{port}, fault server {}, {} s, sampling every {} s",
        server.url(),
        total.as_secs(),
        every.as_secs()
    );
    let start = Instant::now();
    let mut samples: Vec<Sample> = Vec::new();
    let mut phase = 0;
    let mut failure = None;
    while start.elapsed() < total {
        std::thread::sleep(every.saturating_sub(Duration::from_millis(
            (start.elapsed().as_millis() % every.as_millis().max(1)) as u64,
        )));
        let t = start.elapsed();
        let step = (t.as_secs() / phase_secs) as usize;
        if step % 6 != phase {
            phase = step % 6;
            enter(&server, phase, step / 6);
        }
        if let Ok(Some(status)) = child.try_wait() {
            failure = Some(format!("the daemon exited: {status}"));
            break;
        }
        let scrape = Instant::now();
        let (code, body) = support::http_get(port, "/metrics");
        let scrape_ms = scrape.elapsed().as_secs_f64() * 1e3;
        if code != 200 {
            failure = Some(format!(
                "/metrics answered {code} at {:.0} s",
                t.as_secs_f64()
            ));
            break;
        }
        let logged = logged.lock().unwrap();
        samples.push(Sample {
            t: t.as_secs_f64(),
            phase,
            rss_kib: proc_status(pid, "VmRSS:"),
            fds: open_fds(pid),
            threads: proc_status(pid, "Threads:"),
            tasks: logged.tasks,
            cycles: logged.cycles,
            partial: logged.partial,
            scrape_ms,
            metric_lines: body.lines().filter(|l| !l.starts_with('#')).count() as u64,
        });
        if logged.panics > 0 {
            failure = Some("the daemon logged a panic".to_owned());
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    server.stop();

    let mut csv = std::fs::File::create(out.join("samples.csv")).unwrap();
    writeln!(
        csv,
        "seconds,phase,rss_kib,fds,threads,tasks,cycles,partial_cycles,scrape_ms,metric_lines"
    )
    .unwrap();
    for s in &samples {
        writeln!(
            csv,
            "{:.1},{},{},{},{},{},{},{},{:.2},{}",
            s.t,
            s.phase,
            s.rss_kib,
            s.fds,
            s.threads,
            s.tasks,
            s.cycles,
            s.partial,
            s.scrape_ms,
            s.metric_lines
        )
        .unwrap();
    }

    // Windows: after a warm-up of a fifth of the run, the first and the last
    // fifth. Each spans whole phases when the run is long enough.
    let len = samples.len();
    let fifth = (len / 5).max(1);
    let first = &samples[fifth.min(len)..(2 * fifth).min(len)];
    let last = &samples[len.saturating_sub(fifth)..];
    let stat = |w: &[Sample], f: fn(&Sample) -> u64| {
        (median(w.iter().map(f)), w.iter().map(f).max().unwrap_or(0))
    };
    let rows: [Measure; 5] = [
        ("RSS (KiB)", |s| s.rss_kib),
        ("open fds", |s| s.fds),
        ("threads", |s| s.threads),
        ("tokio tasks", |s| s.tasks),
        ("metric lines", |s| s.metric_lines),
    ];
    println!(
        "| measure | first window median | first window max | last window median | last window max |"
    );
    println!("| --- | --- | --- | --- | --- |");
    for (name, f) in rows {
        let (m1, x1) = stat(first, f);
        let (m2, x2) = stat(last, f);
        println!("| {name} | {m1} | {x1} | {m2} | {x2} |");
    }
    let cycles = samples.last().map_or(0, |s| s.cycles);
    let partial = samples.last().map_or(0, |s| s.partial);
    let scrape_max = samples.iter().map(|s| s.scrape_ms).fold(0.0, f64::max);
    println!(
        "{} samples over {:.0} s; {cycles} cycles ({partial} partial); slowest /metrics scrape {scrape_max:.1} ms",
        len,
        samples.last().map_or(0.0, |s| s.t)
    );
    println!("samples: target/soak/samples.csv; daemon log: target/soak/daemon.log");

    if failure.is_none() && first.len() > 1 && last.len() > 1 {
        let (rss1, _) = stat(first, |s| s.rss_kib);
        let (rss2, _) = stat(last, |s| s.rss_kib);
        let (_, fd1) = stat(first, |s| s.fds);
        let (_, fd2) = stat(last, |s| s.fds);
        let (_, task1) = stat(first, |s| s.tasks);
        let (_, task2) = stat(last, |s| s.tasks);
        if rss2 > rss1 + rss1 / 10 + 2048 {
            failure = Some(format!(
                "resident memory grew: median {rss1} KiB -> {rss2} KiB"
            ));
        } else if fd2 > fd1 + 4 {
            failure = Some(format!("open fds grew: max {fd1} -> {fd2}"));
        } else if task2 > task1 + 4 {
            failure = Some(format!("tokio tasks grew: max {task1} -> {task2}"));
        } else if last.first().map(|s| s.cycles) == last.last().map(|s| s.cycles) {
            failure = Some("no cycle finished in the last window".to_owned());
        }
    }
    match failure {
        Some(why) => {
            eprintln!("soak FAILED: {why}");
            std::process::exit(1);
        }
        None => {
            println!("soak passed: no growth in memory, fds or tasks; the daemon kept auditing")
        }
    }
}

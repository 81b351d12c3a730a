//! The daemon's HTTP endpoint under idle and stalled clients, end to end:
//! while 1,000 idle connections and a few clients that stop mid-head are held
//! open against it (and /metrics is being scraped), /healthz answers within
//! 1 s, inside a liveness probe's timeout, and /metrics within 2 s. All on
//! 127.0.0.1.

#![allow(clippy::print_stderr)]

mod support;

use std::io::{ErrorKind, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use support::Daemon;

/// Idle connections held open: the number the endpoint is specified to hold.
const IDLE: usize = 1_000;
/// Clients that send half a request head and stall.
const SLOW: usize = 10;
/// The contract: /healthz within 1 s, /metrics within 2 s.
const HEALTHZ_WITHIN: Duration = Duration::from_secs(1);
const METRICS_WITHIN: Duration = Duration::from_secs(2);
/// The daemon's header read timeout (`HEADER_READ_TIMEOUT`, 5 s): idle and
/// stalled clients are closed after it.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// A fleet file big enough that each cycle and each render is real work:
/// 100 APIs of 20 routes, a quarter of them unauthenticated.
fn write_fleet(dir: &Path) -> std::path::PathBuf {
    let apis: Vec<serde_json::Value> = (0..100)
        .map(|a| {
            let routes: Vec<serde_json::Value> = (0..20)
                .map(|r| {
                    let auth = if r % 4 == 0 { "NONE" } else { "AWS_IAM" };
                    serde_json::json!({"RouteId": format!("r{a}-{r}"), "RouteKey": format!("GET /items/{r}"), "AuthorizationType": auth})
                })
                .collect();
            serde_json::json!({"ApiId": format!("api{a:03}"), "Name": format!("api {a}"), "ProtocolType": "HTTP", "TargetName": "t", "Region": "eu-west-1", "Routes": routes})
        })
        .collect();
    let path = dir.join("fleet.json");
    std::fs::write(&path, serde_json::json!({ "Apis": apis }).to_string()).unwrap();
    path
}

/// Lets this process hold the connections: raises its soft open-file limit
/// towards the hard one if it is below `needed`.
fn allow_open_files(needed: u64) {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current.is_some_and(|soft| soft < needed) {
        let raised = Rlimit {
            current: Some(limit.maximum.map_or(needed, |hard| hard.min(needed))),
            maximum: limit.maximum,
        };
        setrlimit(Resource::Nofile, raised).expect("the soft open-file limit can be raised");
    }
    let soft = getrlimit(Resource::Nofile).current;
    assert!(
        soft.is_none_or(|soft| soft >= needed),
        "this test needs {needed} open files; the hard limit allows {soft:?}"
    );
}

/// `(status, body, time taken)` of a GET on a new connection.
fn timed_get(daemon: &Daemon, path: &str) -> (u16, String, Duration) {
    let started = Instant::now();
    let (status, body) = daemon.get(path);
    (status, body, started.elapsed())
}

/// Whether the connection is open, with nothing from the server: asks
/// without waiting.
fn open_and_silent(stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).unwrap();
    let open =
        matches!(stream.peek(&mut [0u8; 1]), Err(err) if err.kind() == ErrorKind::WouldBlock);
    stream.set_nonblocking(false).unwrap();
    open
}

#[test]
fn healthz_and_metrics_answer_in_time_while_a_thousand_idle_connections_are_held() {
    allow_open_files((IDLE + SLOW + 256) as u64);
    let dir = tempfile::tempdir().unwrap();
    let fleet = write_fleet(dir.path());
    let config = dir.path().join("routewarden.toml");
    std::fs::write(&config, support::every_second()).unwrap();
    let daemon = Daemon::ready(dir.path(), &config, fleet.to_str().unwrap());

    // Two scrapers in a loop meanwhile: /healthz must not wait behind them.
    let stop = Arc::new(AtomicBool::new(false));
    let scrapers: Vec<_> = (0..2)
        .map(|_| {
            let (stop, port) = (stop.clone(), daemon.port);
            std::thread::spawn(move || {
                let mut answers = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    answers.push(support::http_get(port, "/metrics").0);
                }
                answers
            })
        })
        .collect();

    let check = |round: usize| {
        let (status, body, took) = timed_get(&daemon, "/healthz");
        eprintln!("round {round}: /healthz {status} in {took:?}");
        assert_eq!((status, &*body), (200, "ok\n"), "/healthz answers");
        assert!(took < HEALTHZ_WITHIN, "/healthz took {took:?}");
        let (status, body, took) = timed_get(&daemon, "/metrics");
        eprintln!("round {round}: /metrics {status} in {took:?}");
        assert_eq!(status, 200, "/metrics answers");
        assert!(
            body.contains("routewarden_violation{"),
            "/metrics carries the violations"
        );
        assert!(took < METRICS_WITHIN, "/metrics took {took:?}");
    };

    // The idle and stalled clients connect from another thread, as fast as
    // the server lets them in; probes meanwhile are answered in time.
    let port = daemon.port;
    let opener = std::thread::spawn(move || {
        let idle: Vec<TcpStream> = (0..IDLE)
            .map(|i| {
                TcpStream::connect(("127.0.0.1", port))
                    .unwrap_or_else(|err| panic!("idle connection {i}: {err}"))
            })
            .collect();
        let slow: Vec<TcpStream> = (0..SLOW)
            .map(|_| {
                let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                    .unwrap();
                s
            })
            .collect();
        (idle, slow)
    });
    let mut round = 0;
    loop {
        round += 1;
        check(round);
        if opener.is_finished() {
            break;
        }
    }
    let (idle, slow) = opener.join().unwrap();
    let held = Instant::now();
    // Every one of them is held open, and the endpoint still answers in time.
    let open = idle
        .iter()
        .chain(&slow)
        .filter(|s| open_and_silent(s))
        .count();
    assert_eq!(open, IDLE + SLOW, "every connection is held open");
    check(round + 1);
    check(round + 2);

    stop.store(true, Ordering::Relaxed);
    for scraper in scrapers {
        let answers = scraper.join().unwrap();
        assert!(!answers.is_empty(), "the scrapers were answered");
        assert!(
            answers.iter().all(|&status| status == 200),
            "every scrape succeeded: {answers:?}"
        );
    }

    // They do not hold their slots for long: the header read timeout closes
    // idle and stalled connections alike. Each is waited on until it closes,
    // up to a deadline of six times the timeout after all were open.
    let deadline = held + 6 * HEADER_READ_TIMEOUT;
    let still_open = idle
        .iter()
        .chain(&slow)
        .filter(|s| !support::closed_by(s, deadline))
        .count();
    assert_eq!(
        still_open,
        0,
        "idle and stalled connections are closed within {:?}",
        deadline - held
    );
}

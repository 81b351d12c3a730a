//! Config values against the clocks and the limiter: every number and duration
//! that loads (config.md, "Ranges") is driven through what the daemon does with
//! it (the limiter's pacing, throttling backoff and retries; the next cycle's
//! start; request timeouts) on tokio's paused clock, and nothing panics or
//! overflows. Values outside the ranges are refused with their position.

use std::time::Duration;

use proptest::prelude::*;
use routewarden::source::aws::limiter::{Limiter, retry_delay};
use routewarden_core::config::Config;
use tokio::time::Instant;

/// A TOML number in any of the shapes a user might write, extremes included.
fn float() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<f64>().prop_map(|f| {
            if f.is_nan() {
                "nan".to_owned()
            } else if f.is_infinite() {
                if f > 0.0 { "inf" } else { "-inf" }.to_owned()
            } else {
                format!("{f:e}")
            }
        }),
        (0.0005f64..20_000.0).prop_map(|f| format!("{f:.4}")),
        prop::sample::select(vec![
            "1e-300", "3e9", "1e12", "0.001", "10000.0", "0.0", "-0.0"
        ])
        .prop_map(str::to_owned),
        integer(),
    ]
}

fn integer() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        (-5i64..20_000).prop_map(|n| n.to_string()),
        prop::sample::select(vec!["0", "1", "500", "501", "1024", "1025", "10000000"])
            .prop_map(str::to_owned),
    ]
}

fn duration() -> impl Strategy<Value = String> {
    let unit = prop::sample::select(vec!["ns", "ms", "s", "m", "h", "d", "w", "M", "y"]);
    prop_oneof![
        (any::<u64>(), unit.clone()).prop_map(|(n, u)| format!("\"{n}{u}\"")),
        (0u64..1000, unit).prop_map(|(n, u)| format!("\"{n}{u}\"")),
        prop::sample::select(vec![
            "\"300000000000y\"",
            "\"0s\"",
            "\"7d\"",
            "\"8d\"",
            "\"99ms\""
        ])
        .prop_map(str::to_owned),
    ]
}

/// Everything the process does with the values, on a paused clock.
fn exercise(config: &Config) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        let aws = &config.aws;
        let limiter = Limiter::new(
            "acct/region",
            aws.requests_per_second,
            aws.burst,
            aws.max_backoff,
        );
        for _ in 0..3 {
            limiter.acquire().await;
            limiter.on_success();
        }
        for hint in [None, Some(Duration::MAX), Some(aws.max_backoff)] {
            limiter.on_throttle(Instant::now(), hint);
            limiter.acquire().await;
        }
        let mut rng = fastrand::Rng::with_seed(7);
        for attempt in [0, 1, 16, 40, u32::MAX] {
            let delay = retry_delay(attempt, aws.max_backoff, &mut rng);
            assert!(delay <= aws.max_backoff);
        }
        let audit = &config.audit;
        // The daemon's next cycle: started + interval + jitter.
        let next = Instant::now() + audit.interval + audit.jitter.mul_f64(1.0);
        tokio::time::sleep_until(next).await;
        tokio::time::timeout(aws.timeout, std::future::pending::<()>())
            .await
            .unwrap_err();
    });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn nothing_that_loads_panics_or_overflows_a_clock(
        rate in float(),
        burst in integer(),
        page_size in integer(),
        concurrency in integer(),
        series in integer(),
        timeout in duration(),
        max_backoff in duration(),
        interval in duration(),
        jitter in duration(),
    ) {
        let text = format!(
            "[audit]\ninterval = {interval}\njitter = {jitter}\nconcurrency = {concurrency}\n\
             max_violation_series = {series}\n[aws]\nrequests_per_second = {rate}\nburst = {burst}\n\
             page_size = {page_size}\ntimeout = {timeout}\nmax_backoff = {max_backoff}\n"
        );
        if let Ok(config) = Config::load_str("routewarden.toml", &text) {
            let aws = &config.aws;
            prop_assert!(aws.requests_per_second > 0.0 && aws.requests_per_second <= 10_000.0);
            prop_assert!((1..=10_000).contains(&aws.burst));
            prop_assert!((1..=500).contains(&aws.page_size));
            prop_assert!((1..=1024).contains(&config.audit.concurrency));
            prop_assert!(config.audit.jitter <= config.audit.interval);
            exercise(&config);
        }
    }
}

/// Each bound, inside and just outside, with the position and the range named.
#[test]
fn every_range_is_checked_with_its_position() {
    let inside = "[audit]\ninterval = \"10s\"\njitter = \"10s\"\nconcurrency = 1024\n\
                  max_violation_series = 10000000\n[aws]\nrequests_per_second = 10000\nburst = 10000\n\
                  page_size = 500\ntimeout = \"100ms\"\nmax_backoff = \"1h\"\n";
    let config = Config::load_str("routewarden.toml", inside).unwrap();
    exercise(&config);
    let inside = "[audit]\ninterval = \"7d\"\njitter = \"0s\"\nmax_violation_series = 0\n[aws]\n\
                  requests_per_second = 0.001\nburst = 1\npage_size = 1\ntimeout = \"10m\"\nmax_backoff = \"1s\"\n";
    exercise(&Config::load_str("routewarden.toml", inside).unwrap());

    let cases = [
        (
            "[aws]\nrequests_per_second = 3e9\n",
            "2:23",
            "`requests_per_second` must be from 0.001 to 10000",
        ),
        (
            "[aws]\nrequests_per_second = 1e12\n",
            "2:23",
            "`requests_per_second` must be from",
        ),
        (
            "[aws]\nrequests_per_second = nan\n",
            "2:23",
            "`requests_per_second` must be from",
        ),
        (
            "[aws]\nburst = 10001\n",
            "2:9",
            "`burst` must be from 1 to 10000",
        ),
        (
            "[aws]\npage_size = 100000\n",
            "2:13",
            "`page_size` must be from 1 to 500 (the MaxResults AWS accepts)",
        ),
        (
            "[aws]\ntimeout = \"99ms\"\n",
            "2:11",
            "`timeout` must be from 100ms to 10m",
        ),
        (
            "[aws]\nmax_backoff = \"300000000000y\"\n",
            "2:15",
            "max_backoff",
        ),
        (
            "[aws]\nmax_backoff = \"2h\"\n",
            "2:15",
            "`max_backoff` must be from 1s to 1h",
        ),
        (
            "[audit]\ninterval = \"300000000000y\"\n",
            "2:12",
            "interval",
        ),
        (
            "[audit]\ninterval = \"500ms\"\n",
            "2:12",
            "`interval` must be from",
        ),
        ("[audit]\njitter = \"300000000000y\"\n", "2:10", "jitter"),
        (
            "[audit]\ninterval = \"1m\"\njitter = \"2m\"\n",
            "3:10",
            "`jitter` must not be longer than `interval` (1m)",
        ),
        (
            "[audit]\nconcurrency = 1025\n",
            "2:15",
            "`concurrency` must be from 1 to 1024",
        ),
        (
            "[audit]\nmax_violation_series = 10000001\n",
            "2:24",
            "`max_violation_series` must be from 0 to 10000000",
        ),
    ];
    // The daemon's end-to-end tests lower the minimum to 1 s (the
    // `test-intervals` feature); users' builds take 10 s at least.
    let nine = Config::load_str("routewarden.toml", "[audit]\ninterval = \"9s\"\n");
    if cfg!(feature = "test-intervals") {
        nine.unwrap();
    } else {
        let err = nine.unwrap_err().to_string();
        assert!(
            err.contains("`interval` must be from 10s to 7days"),
            "{err}"
        );
    }
    for (text, position, message) in cases {
        let err = Config::load_str("routewarden.toml", text).unwrap_err();
        let problem = &err.0.problems()[0];
        assert_eq!(err.0.problems().len(), 1, "{text}: {err}");
        assert_eq!(
            err.0.position(problem),
            format!("routewarden.toml:{position}"),
            "{text}"
        );
        assert!(
            problem.message.contains(message),
            "{text}: {}",
            problem.message
        );
    }
}

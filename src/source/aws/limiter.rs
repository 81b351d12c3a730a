//! The request budget of one AWS account and region, shared by every target
//! and task that uses it, and the backoff after throttling.
//!
//! Three layers, each waited on in order before a request is sent:
//!
//! 1. a **cooldown** shared by everyone on the limiter, set after a
//!    TooManyRequests: exponential with full jitter, capped by `max_backoff`,
//!    or the server's retry-after hint when it gave one;
//! 2. **pacing** at the effective rate, which is lowered multiplicatively after
//!    throttling and raised additively after successes, never above the
//!    configured rate (AIMD, as TCP does, so that an auditor sharing an account
//!    with deploy pipelines settles below what the account has left);
//! 3. the **governor** limiter at the configured rate and burst: the hard ceiling.
//!
//! All waiting happens on tokio's clock (governor runs on [`TokioClock`]), so
//! tests pause time and advance it deterministically. This module knows
//! nothing about AWS errors: the caller classifies and reports outcomes.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::time::Instant;

/// First backoff step after a TooManyRequests; doubles per consecutive one.
pub const BASE_BACKOFF: Duration = Duration::from_millis(500);
/// Effective rate after a throttle: this fraction of what it was.
pub const DECREASE_FACTOR: f64 = 0.7;
/// Effective rate gained per successful request, as a fraction of the configured rate.
pub const INCREASE_FRACTION: f64 = 0.01;
/// The effective rate never drops below this (or the configured rate, where
/// that is lower), so an audit always progresses.
pub const MIN_RATE: f64 = 0.2;

/// governor's clock, read from tokio's, so that paused time drives it too.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    type Instant = std::time::Instant;

    fn now(&self) -> Self::Instant {
        Instant::now().into_std()
    }
}

type Governor =
    RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<std::time::Instant>>;

/// The limiter of one account and region.
pub struct Limiter {
    /// `account/region`, for logs.
    pub key: String,
    governor: Governor,
    max_rate: f64,
    /// The floor of the effective rate: [`MIN_RATE`], or the configured rate
    /// where that is lower.
    min_rate: f64,
    max_backoff: Duration,
    state: Mutex<State>,
    /// Nanoseconds spent waiting for pacing and the governor.
    waited_nanos: AtomicU64,
    /// Nanoseconds spent in cooldown after throttling.
    cooled_nanos: AtomicU64,
}

struct State {
    /// Nobody sends before this.
    cooldown_until: Instant,
    /// Throttles since the last success: the backoff's exponent.
    consecutive_throttles: u32,
    /// Requests per second currently allowed.
    rate: f64,
    /// Next free pacing slot, while `rate` is below the configured rate.
    next_slot: Instant,
    /// When the rate was last lowered: throttles of requests sent before it
    /// lower it no further (one decrease per congestion event).
    last_decrease: Option<Instant>,
    rng: fastrand::Rng,
}

/// Waiting done before one request, for the caller's accounting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Waited {
    /// Time spent in a throttling cooldown.
    pub backoff: Duration,
    /// Time spent waiting for pacing or the rate limiter.
    pub rate_limit: Duration,
}

impl Limiter {
    /// A limiter at `rate` requests per second with `burst`.
    pub fn new(key: impl Into<String>, rate: f64, burst: u32, max_backoff: Duration) -> Limiter {
        Self::with_seed(key, rate, burst, max_backoff, fastrand::u64(..))
    }

    /// The same with a fixed jitter seed (tests).
    pub fn with_seed(
        key: impl Into<String>,
        rate: f64,
        burst: u32,
        max_backoff: Duration,
        seed: u64,
    ) -> Limiter {
        // The config's range keeps the period within what clocks hold; the
        // clamp keeps a caller that skipped it from a zero or endless period.
        let rate = rate.clamp(1e-3, 1e4);
        let period = Duration::from_secs_f64(1.0 / rate);
        let burst = NonZeroU32::new(burst.max(1)).expect("at least 1");
        let quota = Quota::with_period(period)
            .expect("positive period")
            .allow_burst(burst);
        let now = Instant::now();
        Limiter {
            key: key.into(),
            governor: RateLimiter::direct_with_clock(quota, TokioClock),
            max_rate: rate,
            min_rate: rate.min(MIN_RATE),
            max_backoff,
            state: Mutex::new(State {
                cooldown_until: now,
                consecutive_throttles: 0,
                rate,
                next_slot: now,
                last_decrease: None,
                rng: fastrand::Rng::with_seed(seed),
            }),
            waited_nanos: AtomicU64::new(0),
            cooled_nanos: AtomicU64::new(0),
        }
    }

    /// Waits until a request may be sent: cooldown, pacing, then the governor.
    pub async fn acquire(&self) -> Waited {
        let mut waited = Waited::default();
        loop {
            // The lock is held only to read and reserve, never across a sleep.
            let (cooldown, slot) = {
                let mut state = self.state.lock().expect("limiter lock");
                let now = Instant::now();
                if state.cooldown_until > now {
                    (Some(state.cooldown_until), None)
                } else if state.rate < self.max_rate {
                    let slot = state.next_slot.max(now);
                    state.next_slot = slot + Duration::from_secs_f64(1.0 / state.rate);
                    (None, Some(slot))
                } else {
                    (None, None)
                }
            };
            if let Some(until) = cooldown {
                let start = Instant::now();
                tokio::time::sleep_until(until).await;
                waited.backoff += start.elapsed();
                // Someone may have extended the cooldown meanwhile: look again.
                continue;
            }
            let start = Instant::now();
            if let Some(slot) = slot {
                tokio::time::sleep_until(slot).await;
            }
            while let Err(not_until) = self.governor.check() {
                let wait = not_until.wait_time_from(TokioClock.now());
                tokio::time::sleep(wait).await;
            }
            waited.rate_limit += start.elapsed();
            // A throttle that arrived while we waited starts a new cooldown:
            // respect it rather than send into it.
            if self.state.lock().expect("limiter lock").cooldown_until > Instant::now() {
                continue;
            }
            break;
        }
        self.waited_nanos
            .fetch_add(nanos(waited.rate_limit), Ordering::Relaxed);
        self.cooled_nanos
            .fetch_add(nanos(waited.backoff), Ordering::Relaxed);
        waited
    }

    /// A request succeeded: the backoff resets and the rate creeps back up.
    pub fn on_success(&self) {
        let mut state = self.state.lock().expect("limiter lock");
        state.consecutive_throttles = 0;
        if state.rate < self.max_rate {
            state.rate = (state.rate + self.max_rate * INCREASE_FRACTION).min(self.max_rate);
        }
    }

    /// A request sent at `sent` was throttled. Starts (or extends) the shared
    /// cooldown and lowers the rate once per congestion event. Returns the
    /// cooldown applied.
    pub fn on_throttle(&self, sent: Instant, retry_after: Option<Duration>) -> Duration {
        let mut state = self.state.lock().expect("limiter lock");
        let now = Instant::now();
        let exponent = state.consecutive_throttles.min(16);
        state.consecutive_throttles = state.consecutive_throttles.saturating_add(1);
        let ceiling = BASE_BACKOFF
            .saturating_mul(1 << exponent)
            .min(self.max_backoff);
        let wait = match retry_after {
            Some(hint) => hint.min(self.max_backoff),
            // Full jitter: anywhere in [0, ceiling], so waiters do not retry in step.
            None => ceiling.mul_f64(state.rng.f64()),
        };
        state.cooldown_until = state.cooldown_until.max(now + wait);
        if state.last_decrease.is_none_or(|at| sent >= at) {
            state.rate = (state.rate * DECREASE_FACTOR).max(self.min_rate);
            state.last_decrease = Some(now);
            state.next_slot = state.next_slot.max(now + wait);
            tracing::debug!(limiter = %self.key, rate = state.rate, cooldown_ms = wait.as_millis() as u64, "throttled: rate lowered");
        }
        wait
    }

    /// The rate currently allowed, in requests per second.
    pub fn effective_rate(&self) -> f64 {
        self.state.lock().expect("limiter lock").rate
    }

    /// Total time spent waiting for the rate limit, and in cooldowns.
    pub fn totals(&self) -> (Duration, Duration) {
        (
            Duration::from_nanos(self.waited_nanos.load(Ordering::Relaxed)),
            Duration::from_nanos(self.cooled_nanos.load(Ordering::Relaxed)),
        )
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Exponential backoff with full jitter for retries of 5xx, timeouts and
/// transport errors (not shared: one failing API does not slow the others).
pub fn retry_delay(attempt: u32, max: Duration, rng: &mut fastrand::Rng) -> Duration {
    let ceiling = BASE_BACKOFF.saturating_mul(1 << attempt.min(16)).min(max);
    ceiling.mul_f64(rng.f64())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    const MAX_BACKOFF: Duration = Duration::from_secs(60);

    /// Sends `n` acquires one after another; returns when each was allowed,
    /// relative to the start.
    async fn schedule(limiter: &Limiter, n: usize) -> Vec<Duration> {
        let start = Instant::now();
        let mut times = Vec::new();
        for _ in 0..n {
            limiter.acquire().await;
            times.push(start.elapsed());
        }
        times
    }

    #[tokio::test(start_paused = true)]
    async fn the_burst_goes_at_once_then_the_rate_applies() {
        let limiter = Limiter::with_seed("a/r", 10.0, 5, MAX_BACKOFF, 1);
        let times = schedule(&limiter, 15).await;
        assert!(times[..5].iter().all(|t| t.is_zero()), "{times:?}");
        // Then one every 100 ms.
        assert_eq!(times[5], Duration::from_millis(100));
        assert_eq!(times[14], Duration::from_millis(1000));
        let (waited, cooled) = limiter.totals();
        assert_eq!(waited, Duration::from_millis(1000));
        assert!(cooled.is_zero());
    }

    #[tokio::test(start_paused = true)]
    async fn tasks_share_one_budget() {
        let limiter = Arc::new(Limiter::with_seed("a/r", 4.0, 1, MAX_BACKOFF, 1));
        let start = Instant::now();
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let limiter = limiter.clone();
                tokio::spawn(async move {
                    limiter.acquire().await;
                    start.elapsed()
                })
            })
            .collect();
        let mut times = Vec::new();
        for task in tasks {
            times.push(task.await.unwrap());
        }
        times.sort();
        // 8 requests at 4/s with burst 1: the last goes at 1.75 s, not at once.
        assert_eq!(times.last().copied(), Some(Duration::from_millis(1750)));
    }

    /// Whether the longest of many seeded full-jitter draws shows the range
    /// `[0, cap]`: within 5 % of its top, never above it.
    fn near_cap(observed: Duration, cap: Duration) -> bool {
        observed <= cap && observed >= cap.mul_f64(0.95)
    }

    #[tokio::test(start_paused = true)]
    async fn consecutive_throttles_double_the_jitter_range_up_to_the_cap() {
        let max_backoff = Duration::from_secs(4);
        // 200 limiters with fixed seeds, each throttled 7 times in a row: the
        // n-th cooldowns of all of them span [0, 0.5 s * 2^n], capped at 4 s.
        let waits: Vec<Vec<Duration>> = (0..200u64)
            .map(|seed| {
                let limiter = Limiter::with_seed("a/r", 10.0, 10, max_backoff, seed);
                (0..7)
                    .map(|_| limiter.on_throttle(Instant::now(), None))
                    .collect()
            })
            .collect();
        let mut caps = Vec::new();
        for n in 0..7usize {
            let cap = BASE_BACKOFF.saturating_mul(1 << n).min(max_backoff);
            let observed = waits.iter().map(|w| w[n]).max().unwrap();
            assert!(
                near_cap(observed, cap),
                "throttle {}: the longest of 200 cooldowns is {observed:?}, the range [0, {cap:?}]",
                n + 1
            );
            caps.push(observed);
        }
        // 0.5, 1, 2, 4 s: each range twice the one before, until the cap.
        for n in 1..4 {
            assert!(
                caps[n] > caps[n - 1].mul_f64(1.8),
                "throttle {}: {:?} after {:?}: the backoff grows",
                n + 1,
                caps[n],
                caps[n - 1]
            );
        }
        // A success starts over at the first range.
        let limiter = Limiter::with_seed("a/r", 10.0, 10, max_backoff, 1);
        for _ in 0..7 {
            limiter.on_throttle(Instant::now(), None);
        }
        limiter.on_success();
        assert!(limiter.on_throttle(Instant::now(), None) <= BASE_BACKOFF);
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttle_cools_everyone_down_with_full_jitter_under_the_cap() {
        let limiter = Limiter::with_seed("a/r", 10.0, 10, Duration::from_secs(4), 7);
        let sent = Instant::now();
        let mut ceilings = Vec::new();
        for n in 0..6u32 {
            let wait = limiter.on_throttle(sent, None);
            let ceiling = BASE_BACKOFF
                .saturating_mul(1 << n)
                .min(Duration::from_secs(4));
            assert!(wait <= ceiling, "attempt {n}: {wait:?} <= {ceiling:?}");
            ceilings.push(wait);
        }
        // Whoever acquires next waits out the longest cooldown set.
        let longest = *ceilings.iter().max().unwrap();
        let start = Instant::now();
        let waited = limiter.acquire().await;
        // tokio's timer rounds up to the millisecond.
        assert!(
            start.elapsed().abs_diff(longest) < Duration::from_millis(1),
            "{:?} vs {longest:?}",
            start.elapsed()
        );
        assert_eq!(waited.backoff, start.elapsed());
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_hints_are_honoured_but_capped() {
        let limiter = Limiter::with_seed("a/r", 10.0, 10, Duration::from_secs(5), 7);
        assert_eq!(
            limiter.on_throttle(Instant::now(), Some(Duration::from_millis(1500))),
            Duration::from_millis(1500)
        );
        let start = Instant::now();
        limiter.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_millis(1500));
        assert_eq!(
            limiter.on_throttle(Instant::now(), Some(Duration::from_secs(600))),
            Duration::from_secs(5)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_rate_drops_once_per_event_and_recovers_gradually_to_the_ceiling() {
        let limiter = Limiter::with_seed("a/r", 10.0, 10, MAX_BACKOFF, 1);
        let sent = Instant::now();
        tokio::time::advance(Duration::from_millis(10)).await;
        limiter.on_throttle(sent, Some(Duration::ZERO));
        assert!((limiter.effective_rate() - 7.0).abs() < 1e-9);
        // Other requests of the same burst, sent before the decrease: no further drop.
        limiter.on_throttle(sent, Some(Duration::ZERO));
        limiter.on_throttle(sent, Some(Duration::ZERO));
        assert!((limiter.effective_rate() - 7.0).abs() < 1e-9);
        // A request sent after the decrease and throttled again: a new event.
        limiter.on_throttle(Instant::now(), Some(Duration::ZERO));
        assert!((limiter.effective_rate() - 4.9).abs() < 1e-9);
        for _ in 0..50 {
            limiter.on_success();
        }
        assert!((limiter.effective_rate() - 9.9).abs() < 1e-9);
        for _ in 0..50 {
            limiter.on_success();
        }
        assert_eq!(
            limiter.effective_rate(),
            10.0,
            "never above the configured rate"
        );
        for _ in 0..100 {
            limiter.on_throttle(Instant::now(), Some(Duration::ZERO));
            tokio::time::advance(Duration::from_millis(1)).await;
        }
        assert_eq!(limiter.effective_rate(), MIN_RATE, "never below the floor");
    }

    #[tokio::test(start_paused = true)]
    async fn below_the_ceiling_requests_are_paced_at_the_effective_rate() {
        let limiter = Limiter::with_seed("a/r", 10.0, 10, MAX_BACKOFF, 1);
        limiter.on_throttle(Instant::now(), Some(Duration::ZERO));
        limiter.on_throttle(
            Instant::now() + Duration::from_secs(1),
            Some(Duration::ZERO),
        );
        let rate = limiter.effective_rate();
        assert!((rate - 4.9).abs() < 1e-9);
        // The governor's burst is still full, yet requests are spaced at 1/4.9 s.
        let times = schedule(&limiter, 5).await;
        let gap = times[4] - times[3];
        let expected = Duration::from_secs_f64(1.0 / 4.9);
        assert!(
            gap.abs_diff(expected) < Duration::from_millis(2),
            "{gap:?} vs {expected:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn success_resets_the_backoff_exponent() {
        let limiter = Limiter::with_seed("a/r", 10.0, 10, MAX_BACKOFF, 3);
        for _ in 0..8 {
            limiter.on_throttle(Instant::now(), None);
        }
        limiter.on_success();
        for _ in 0..20 {
            assert!(limiter.on_throttle(Instant::now(), None) <= BASE_BACKOFF);
            limiter.on_success();
        }
    }

    #[test]
    fn retry_delays_grow_and_are_capped() {
        let max = Duration::from_secs(3);
        let mut rng = fastrand::Rng::with_seed(5);
        let mut caps = Vec::new();
        for attempt in 0..20 {
            let cap = BASE_BACKOFF.saturating_mul(1 << attempt.min(16)).min(max);
            let observed = (0..200)
                .map(|_| retry_delay(attempt, max, &mut rng))
                .max()
                .unwrap();
            assert!(
                near_cap(observed, cap),
                "attempt {attempt}: the longest of 200 delays is {observed:?}, the range [0, {cap:?}]"
            );
            caps.push(observed);
        }
        // 0.5, 1, 2 s, then the cap of 3 s.
        for attempt in 1..3 {
            assert!(
                caps[attempt] > caps[attempt - 1].mul_f64(1.8),
                "attempt {attempt}: {:?} after {:?}: the delay grows",
                caps[attempt],
                caps[attempt - 1]
            );
        }
    }
}

//! The Prometheus registry and every metric, in one file (docs/metrics.md).
//! Label values are whatever AWS returned; the text encoder escapes them.
//! Per-audit gauges are rebuilt from the daemon's state after every cycle, so
//! a series that is gone from the state is gone from /metrics.

use std::collections::BTreeMap;

use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, IntCounterVec, Opts, Registry, TextEncoder,
};

use routewarden_core::finding::Severity;
use routewarden_core::finding::{Finding, Status};

use crate::source::{Event, Observer};

/// Buckets of `routewarden_audit_cycle_duration_seconds`: a cycle takes from
/// under a second (files) to many minutes (large throttled estates).
const CYCLE_BUCKETS: &[f64] = &[
    0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
];

pub struct Metrics {
    registry: Registry,
    /// Held for writing while the per-audit gauges are rebuilt (reset, then
    /// set again) and for reading while /metrics is rendered, so that a
    /// scrape never sees the series of a cycle half-published: an alert must
    /// not resolve for one scrape because its series was between reset and set.
    rebuilding: std::sync::RwLock<()>,
    /// 1 for each open violation; capped by `max_violation_series`. A route
    /// finding has `stage=""`, a stage finding `route_key=""`, an API
    /// finding both empty.
    pub violation: GaugeVec,
    /// Open violations by rule; never capped.
    pub violations: GaugeVec,
    /// Per-route series left out by the cap.
    pub violation_series_dropped: Gauge,
    /// Exemptions that matched a route, by state.
    pub exemptions: GaugeVec,
    /// Routes by authorization type (inventory).
    pub routes: GaugeVec,
    /// Routes drifted from the baseline.
    pub drift_routes: GaugeVec,
    /// Stages, authorizers, integrations and API settings drifted from the
    /// baseline (not routes: `drift_routes` counts those).
    pub drift_parts: GaugeVec,
    /// 1 if the last audit of the API succeeded, else 0.
    pub api_up: GaugeVec,
    /// Unix time of the last successful audit of the API.
    pub api_last_success: GaugeVec,
    /// Finished cycles, by outcome.
    pub audit_cycles: IntCounterVec,
    /// Wall time of a cycle.
    pub cycle_duration: Histogram,
    /// AWS calls made.
    pub aws_requests: IntCounterVec,
    /// Time spent waiting for the client-side limiter.
    pub rate_limit_wait: prometheus::CounterVec,
    /// Time spent backing off after throttling or errors.
    pub backoff: prometheus::CounterVec,
    /// Rules loaded and enabled.
    pub policy_rules: Gauge,
    /// 1 or 0.
    pub reload_successful: Gauge,
    /// Unix time of the last successful (re)load.
    pub reload_success_timestamp: Gauge,
    /// The configured `audit.interval`.
    pub audit_interval: Gauge,
    /// Always 1; this replica's shard.
    pub shard: GaugeVec,
    /// Always 1; the version.
    pub build_info: GaugeVec,
    /// Daemon tasks (server, reloader) that stopped before shutdown; the
    /// daemon then exits with status 4.
    pub task_failures: IntCounterVec,
    /// 1 if an organization's account was audited in the last cycle, else 0.
    pub account_up: GaugeVec,
    /// Accounts an organization's last listing holds (after its filters).
    pub organization_accounts: GaugeVec,
    /// Unix time of an organization's last successful listing.
    pub organization_listed: GaugeVec,
    /// Unix time at which an exemption stops applying (00:00 UTC of its
    /// `expires` day); only exemptions with an expiry.
    pub exemption_expiry: GaugeVec,
    /// Findings an exemption matched in the last cycle.
    pub exemption_matched: GaugeVec,
}

fn gauge_vec(name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    GaugeVec::new(Opts::new(name, help), labels).expect("valid metric")
}

fn gauge(name: &str, help: &str) -> Gauge {
    Gauge::with_opts(Opts::new(name, help)).expect("valid metric")
}

const VIOLATION_LABELS: &[&str] = &[
    "rule_id",
    "severity",
    "target_name",
    "region",
    "account_id",
    "api_id",
    "api_name",
    "route_key",
    "stage",
];
const API_LABELS: &[&str] = &["target_name", "region", "account_id", "api_id"];

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let m = Metrics {
            registry: Registry::new(),
            rebuilding: std::sync::RwLock::new(()),
            violation: gauge_vec(
                "routewarden_violation",
                "1 for each open violation, capped by max_violation_series.",
                VIOLATION_LABELS,
            ),
            violations: gauge_vec(
                "routewarden_violations",
                "Open violations by rule; never capped.",
                &["rule_id", "severity", "target_name"],
            ),
            violation_series_dropped: gauge(
                "routewarden_violation_series_dropped",
                "Per-route violation series left out by the cap.",
            ),
            exemptions: gauge_vec(
                "routewarden_exemptions",
                "Exemptions that matched a route, by state.",
                &["rule_id", "state"],
            ),
            routes: gauge_vec(
                "routewarden_routes",
                "Routes by authorization type.",
                &[
                    "target_name",
                    "region",
                    "account_id",
                    "api_id",
                    "api_name",
                    "authorization_type",
                ],
            ),
            drift_routes: gauge_vec(
                "routewarden_drift_routes",
                "Routes drifted from the baseline.",
                &["target_name", "account_id", "api_id", "change"],
            ),
            drift_parts: gauge_vec(
                "routewarden_drift_parts",
                "Stages, authorizers, integrations and API settings drifted from the baseline.",
                &["target_name", "account_id", "api_id", "part", "change"],
            ),
            api_up: gauge_vec(
                "routewarden_api_up",
                "1 if the last audit of the API succeeded, else 0.",
                API_LABELS,
            ),
            api_last_success: gauge_vec(
                "routewarden_api_last_success_timestamp_seconds",
                "Unix time of the last successful audit of the API.",
                API_LABELS,
            ),
            audit_cycles: IntCounterVec::new(
                Opts::new("routewarden_audit_cycles_total", "Finished audit cycles."),
                &["outcome"],
            )
            .expect("valid metric"),
            cycle_duration: Histogram::with_opts(
                HistogramOpts::new(
                    "routewarden_audit_cycle_duration_seconds",
                    "Wall time of an audit cycle.",
                )
                .buckets(CYCLE_BUCKETS.to_vec()),
            )
            .expect("valid metric"),
            aws_requests: IntCounterVec::new(
                Opts::new("routewarden_aws_requests_total", "AWS calls made."),
                &["target_name", "operation", "outcome"],
            )
            .expect("valid metric"),
            rate_limit_wait: prometheus::CounterVec::new(
                Opts::new(
                    "routewarden_rate_limit_wait_seconds_total",
                    "Time spent waiting for the client-side limiter.",
                ),
                &["target_name"],
            )
            .expect("valid metric"),
            backoff: prometheus::CounterVec::new(
                Opts::new(
                    "routewarden_backoff_seconds_total",
                    "Time spent backing off after throttling or errors.",
                ),
                &["target_name"],
            )
            .expect("valid metric"),
            policy_rules: gauge("routewarden_policy_rules", "Rules loaded and enabled."),
            reload_successful: gauge(
                "routewarden_config_last_reload_successful",
                "1 if the last config and policy (re)load succeeded.",
            ),
            reload_success_timestamp: gauge(
                "routewarden_config_last_reload_success_timestamp_seconds",
                "Unix time of the last successful config and policy (re)load.",
            ),
            audit_interval: gauge(
                "routewarden_audit_interval_seconds",
                "The configured audit.interval.",
            ),
            shard: gauge_vec(
                "routewarden_shard",
                "Always 1; this replica's shard.",
                &["index", "count"],
            ),
            build_info: gauge_vec(
                "routewarden_build_info",
                "Always 1; the build.",
                &["version"],
            ),
            account_up: gauge_vec(
                "routewarden_account_up",
                "1 if the organization's account was audited in the last cycle, else 0.",
                &["organization", "account_id"],
            ),
            organization_accounts: gauge_vec(
                "routewarden_organization_accounts",
                "Accounts the organization's last listing holds, after its filters.",
                &["organization"],
            ),
            organization_listed: gauge_vec(
                "routewarden_organization_last_listing_timestamp_seconds",
                "Unix time of the organization's last successful listing.",
                &["organization"],
            ),
            exemption_expiry: gauge_vec(
                "routewarden_exemption_expiry_timestamp_seconds",
                "Unix time at which the exemption stops applying (00:00 UTC of its expires day).",
                &["rule_id", "exemption"],
            ),
            exemption_matched: gauge_vec(
                "routewarden_exemption_matched_findings",
                "Findings the exemption matched in the last cycle.",
                &["rule_id", "exemption"],
            ),
            task_failures: IntCounterVec::new(
                Opts::new(
                    "routewarden_task_failures_total",
                    "Daemon tasks that stopped before shutdown (the daemon then exits).",
                ),
                &["task"],
            )
            .expect("valid metric"),
        };
        let collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(m.violation.clone()),
            Box::new(m.violations.clone()),
            Box::new(m.violation_series_dropped.clone()),
            Box::new(m.exemptions.clone()),
            Box::new(m.routes.clone()),
            Box::new(m.drift_routes.clone()),
            Box::new(m.drift_parts.clone()),
            Box::new(m.api_up.clone()),
            Box::new(m.api_last_success.clone()),
            Box::new(m.audit_cycles.clone()),
            Box::new(m.cycle_duration.clone()),
            Box::new(m.aws_requests.clone()),
            Box::new(m.rate_limit_wait.clone()),
            Box::new(m.backoff.clone()),
            Box::new(m.policy_rules.clone()),
            Box::new(m.reload_successful.clone()),
            Box::new(m.reload_success_timestamp.clone()),
            Box::new(m.audit_interval.clone()),
            Box::new(m.shard.clone()),
            Box::new(m.build_info.clone()),
            Box::new(m.task_failures.clone()),
            Box::new(m.account_up.clone()),
            Box::new(m.organization_accounts.clone()),
            Box::new(m.organization_listed.clone()),
            Box::new(m.exemption_expiry.clone()),
            Box::new(m.exemption_matched.clone()),
        ];
        for collector in collectors {
            m.registry.register(collector).expect("unique metric names");
        }
        m.build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1.0);
        for outcome in ["complete", "partial"] {
            m.audit_cycles.with_label_values(&[outcome]);
        }
        m
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let families = {
            let _consistent = self
                .rebuilding
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            self.registry.gather()
        };
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&families, &mut buffer)
            .expect("text encoding cannot fail");
        String::from_utf8(buffer).expect("the text format is UTF-8")
    }

    /// Runs `rebuild` (which resets and sets gauges) with no /metrics render
    /// in between: a scrape sees the state before or after, never a part.
    pub fn rebuild<T>(&self, rebuild: impl FnOnce() -> T) -> T {
        let _exclusive = self
            .rebuilding
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        rebuild()
    }

    /// Rebuilds the per-finding gauges. The cap keeps the most severe
    /// violations' series (so info findings can never push out a critical
    /// one); returns how many series it left out, by severity.
    pub fn publish_findings<'a>(
        &self,
        findings: impl Iterator<Item = &'a Finding>,
        cap: usize,
    ) -> BTreeMap<Severity, usize> {
        self.violation.reset();
        self.violations.reset();
        self.exemptions.reset();
        let mut by_rule: BTreeMap<(&str, &str, &str), u64> = BTreeMap::new();
        let mut exemptions: BTreeMap<(&str, &str), u64> = BTreeMap::new();
        let mut open: Vec<&Finding> = Vec::new();
        for f in findings {
            let target = f.target_name.as_deref().unwrap_or("");
            match f.status {
                Status::Exempted => *exemptions.entry((&f.rule.id, "active")).or_default() += 1,
                // Undecided before deploy (a daemon auditing code): not a
                // violation, so no series.
                Status::Indeterminate => {}
                status => {
                    if status == Status::ExpiredExemption {
                        *exemptions.entry((&f.rule.id, "expired")).or_default() += 1;
                    }
                    *by_rule
                        .entry((&f.rule.id, f.severity().as_str(), target))
                        .or_default() += 1;
                    open.push(f);
                }
            }
        }
        // Most severe first; a stable sort keeps the state's order within one.
        open.sort_by_key(|f| std::cmp::Reverse(f.severity()));
        let mut dropped: BTreeMap<Severity, usize> = BTreeMap::new();
        for (n, f) in open.into_iter().enumerate() {
            if n >= cap {
                *dropped.entry(f.severity()).or_default() += 1;
                continue;
            }
            self.violation
                .with_label_values(&[
                    &*f.rule.id,
                    f.severity().as_str(),
                    f.target_name.as_deref().unwrap_or(""),
                    f.region.as_deref().unwrap_or(""),
                    f.account_id.as_deref().unwrap_or(""),
                    &f.api_id,
                    f.api_name.as_deref().unwrap_or(""),
                    &f.route_key,
                    f.stage.as_deref().unwrap_or(""),
                ])
                .set(1.0);
        }
        for ((rule, severity, target), n) in by_rule {
            self.violations
                .with_label_values(&[rule, severity, target])
                .set(n as f64);
        }
        for ((rule, state), n) in exemptions {
            self.exemptions
                .with_label_values(&[rule, state])
                .set(n as f64);
        }
        self.violation_series_dropped
            .set(dropped.values().sum::<usize>() as f64);
        dropped
    }
}
/// The daemon's observer: what the sources do feeds the counters as it
/// happens, so a cycle cut short by shutdown has counted what it did.
impl Observer for Metrics {
    fn on(&self, event: Event<'_>) {
        match event {
            Event::Request {
                target,
                operation,
                outcome,
            } => self
                .aws_requests
                .with_label_values(&[target, operation.label(), outcome.label()])
                .inc(),
            Event::Waited {
                target,
                rate_limit,
                backoff,
            } => {
                self.rate_limit_wait
                    .with_label_values(&[target])
                    .inc_by(rate_limit.as_secs_f64());
                self.backoff
                    .with_label_values(&[target])
                    .inc_by(backoff.as_secs_f64());
            }
            Event::Found { .. } | Event::Done => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use routewarden_core::inventory::{Api, Cors, Route, Stage};
    use routewarden_core::policy::{PolicySet, PolicySource};

    use super::*;

    /// `routewarden_violation` lines of a render, labels as exported.
    fn violation_lines(text: &str) -> Vec<&str> {
        text.lines()
            .filter(|l| l.starts_with("routewarden_violation{"))
            .collect()
    }

    #[test]
    fn route_stage_and_api_findings_carry_the_stage_label_as_the_contract_says() {
        let api = Api {
            api_id: "a1".into(),
            name: Some("shop".into()),
            protocol_type: Some("HTTP".into()),
            target_name: Some("t".into()),
            region: Some("r".into()),
            cors_configuration: Some(Cors {
                allow_origins: Some(vec!["*".into()]),
                ..Cors::default()
            }),
            routes: vec![Route {
                route_key: "GET /basket".into(),
                authorization_type: Some("NONE".into()),
                ..Route::default()
            }],
            authorizers: Some(vec![]),
            integrations: Some(vec![]),
            stages: Some(vec![Stage {
                stage_name: "prod".into(),
                ..Stage::default()
            }]),
            ..Api::default()
        };
        let policies = PolicySet::load(&[PolicySource::Builtin]).unwrap();
        let mut findings = Vec::new();
        policies.evaluate(&api, time::macros::date!(2026 - 01 - 01), &mut findings);
        let metrics = Metrics::new();
        metrics.publish_findings(findings.iter(), 100);
        let text = metrics.render();
        // The exposition sorts labels by name, and series by their labels.
        let line = |rule: &str, severity: &str, route_key: &str, stage: &str| {
            format!(
                r#"routewarden_violation{{account_id="",api_id="a1",api_name="shop",region="r",route_key="{route_key}",rule_id="{rule}",severity="{severity}",stage="{stage}",target_name="t"}} 1"#
            )
        };
        assert_eq!(
            violation_lines(&text),
            [
                line("RW014", "medium", "", "prod"),
                line("RW015", "low", "", ""),
                line("RW001", "critical", "GET /basket", ""),
            ],
            "route: stage empty; stage: route_key empty; API: both\n{text}"
        );
    }
}

//! The one audit entry point: a [`Source`] read once against the policies,
//! giving an [`Outcome`]: findings, drift against the baseline, and the errors
//! of what could not be read. `--check`, `snapshot` and every daemon cycle
//! call [`run`]; they differ only in what they do with the outcome.
//!
//! APIs are evaluated as the source yields them, so memory holds the findings
//! and, unless asked to keep them, no routes.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use futures_util::StreamExt;
use routewarden_core::diag::LoadError;
use routewarden_core::drift::{self, Unread};
use routewarden_core::finding::{Finding, Severity};
use routewarden_core::inventory::Inventory;
use routewarden_core::policy::{ExemptionInfo, PolicySet, RuleInfo};

use routewarden_core::inventory::Account;

use crate::source::{ErrorKind, FetchError, Item, Observer, Roster, Source};

/// What one audit is asked to do.
pub struct Audit<'a> {
    pub policies: &'a PolicySet,
    /// Drift is computed against it, when there is one.
    pub baseline: Option<&'a Inventory>,
    /// And against what code defines (`--baseline-iac`), when given.
    pub code: Option<&'a drift::Code>,
    /// The severity of drift findings.
    pub drift_severity: Severity,
    /// Decides which exemptions have expired (UTC).
    pub today: time::Date,
    /// Keep every API's routes in the outcome (JUnit lists every route, the
    /// daemon's state and `snapshot` hold them); drift keeps them anyway.
    pub keep_routes: bool,
    /// Exemptions that expire within this are reported as expiring.
    pub warn_expiring: std::time::Duration,
}

/// By default, exemptions that expire within two weeks are reported.
pub const WARN_EXPIRING: std::time::Duration = routewarden_core::config::DEFAULT_WARN_EXPIRING;

/// What an audit found.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The APIs read. Their routes are dropped after evaluation unless kept
    /// (see [`Audit::keep_routes`]); `routes` counts them either way.
    pub inventory: Inventory,
    /// Routes audited.
    pub routes: usize,
    /// Enabled rules, in load order.
    pub rules: Vec<Arc<RuleInfo>>,
    /// Rule findings, API by API in the order the source yielded them.
    pub findings: Vec<Finding>,
    /// Drift findings; empty without a baseline.
    pub drift: Vec<Finding>,
    /// What could not be read.
    pub errors: Vec<FetchError>,
    /// The APIs the errors leave unknown, by the one definition both the
    /// drift here and the daemon's state use.
    pub unread: Unread,
    /// The organizations audited, with their accounts.
    pub organizations: Vec<Roster>,
    /// Every account of those organizations, and whether it was audited.
    pub accounts: Vec<AccountStatus>,
    /// Every exemption loaded, with what it matched in this audit.
    pub exemptions: Vec<ExemptionUse>,
}

/// An exemption as one audit used it: for its upkeep.
#[derive(Debug, Clone)]
pub struct ExemptionUse {
    pub info: Arc<ExemptionInfo>,
    /// Findings it matched in this audit (exempted, or counted again as
    /// expired). Zero: it matches nothing (any more).
    pub matched: usize,
    /// Days from the audit's day to its expiry (0: expires today, negative:
    /// expired); `None` without an expiry.
    pub days_left: Option<i64>,
    /// Still active, but expires within the audit's warning window.
    pub expiring: bool,
}

impl ExemptionUse {
    /// Whether reports ask for a look at it: it matches nothing, or it
    /// expires soon while it still applies.
    pub fn needs_review(&self) -> bool {
        self.matched == 0 || self.expiring
    }
}

/// An organization's account in one audit: up, or why not.
#[derive(Debug, Clone)]
pub struct AccountStatus {
    pub account: Arc<Account>,
    /// What kept it from being audited: its member role could not be
    /// assumed, a region's APIs could not be listed, access was denied (a
    /// suspended account). One per kind of error, with how many targets or
    /// APIs it hit and the first message. Empty: up.
    pub causes: Vec<Cause>,
}

#[derive(Debug, Clone)]
pub struct Cause {
    pub kind: ErrorKind,
    pub operation: crate::source::Operation,
    pub count: usize,
    pub message: String,
}

impl AccountStatus {
    pub fn up(&self) -> bool {
        self.causes.is_empty()
    }
}

impl Outcome {
    /// Rule findings, then drift findings.
    pub fn all_findings(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().chain(&self.drift)
    }

    /// Whether every API was read.
    pub fn is_complete(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Reads the source once and audits what it yields. `Err` when the source's
/// own input could not be loaded (a broken fleet file).
pub async fn run(
    source: &dyn Source,
    audit: &Audit<'_>,
    observer: &dyn Observer,
) -> Result<Outcome, LoadError> {
    let keep_routes = audit.keep_routes || audit.baseline.is_some() || audit.code.is_some();
    let mut outcome = Outcome {
        rules: audit
            .policies
            .enabled()
            .map(|(_, r)| r.info.clone())
            .collect(),
        ..Outcome::default()
    };
    // Rules that could not be evaluated on some API, and on how many.
    let mut unmet: BTreeSet<Arc<str>> = BTreeSet::new();
    let mut unmet_apis = 0usize;
    let mut items = source.read(observer);
    while let Some(item) = items.next().await {
        match item? {
            Item::Api(mut api) => {
                let mut any = false;
                for id in audit.policies.unmet(&api) {
                    any = true;
                    if !unmet.contains(id) {
                        unmet.insert(id.clone());
                    }
                }
                unmet_apis += usize::from(any);
                audit
                    .policies
                    .evaluate(&api, audit.today, &mut outcome.findings);
                outcome.routes += api.routes.len();
                if !keep_routes {
                    api.routes = Vec::new();
                }
                outcome.inventory.apis.push(*api);
            }
            Item::Failed(error) => {
                tracing::warn!(
                    target_name = error.target_name.as_deref(),
                    api_id = error.api_id.as_deref(),
                    operation = error.operation.label(),
                    kind = error.kind.label(),
                    error = %error.message,
                    "could not read"
                );
                outcome.errors.push(error);
            }
            Item::Roster(roster) => outcome.organizations.push(roster),
        }
    }
    if !unmet.is_empty() {
        let rules: Vec<&str> = unmet.iter().map(|id| &**id).collect();
        tracing::warn!(
            rules = %rules.join(", "),
            apis = unmet_apis,
            "rules not evaluated on APIs whose authorizers, integrations or stages were not read (a fleet file written without them)"
        );
    }
    outcome.unread = unread(&outcome.errors);
    outcome.accounts = accounts(&outcome.organizations, &outcome.errors);
    outcome.exemptions = exemptions(audit, &outcome.findings);
    if let Some(baseline) = audit.baseline {
        outcome.drift = drift::compare(
            &outcome.inventory,
            baseline,
            &outcome.unread,
            audit.drift_severity,
        );
    }
    if let Some(code) = audit.code {
        outcome.drift.extend(drift::compare_code(
            &outcome.inventory,
            code,
            &outcome.unread,
            audit.drift_severity,
        ));
    }
    Ok(outcome)
}

/// The APIs that errors leave unknown: an API that failed (but not one that
/// is gone), and every API of a target and region whose discovery failed.
fn unread(errors: &[FetchError]) -> Unread {
    let mut unread = Unread::default();
    for e in errors.iter().filter(|e| !e.kind.is_gone()) {
        let target = e.target_name.as_deref().unwrap_or("");
        let region = e.region.as_deref().unwrap_or("");
        match (
            e.api_id.as_deref(),
            e.target_name.as_deref(),
            &e.organization,
        ) {
            (Some(id), _, _) => unread.add_api((target, region, id)),
            (None, None, Some(organization)) => unread.add_organization(organization),
            (None, _, _) => unread.add_scope(target, region),
        }
    }
    unread
}

/// Each account of the rosters with what kept it from being audited: the
/// errors of its targets that stand for the whole account (its role, a
/// region's listing, access denied), by kind. One log line per account and
/// cause; an API that failed for its own reasons (a 5xx, a timeout) is that
/// API's, reported by `routewarden_api_up`.
fn accounts(rosters: &[Roster], errors: &[FetchError]) -> Vec<AccountStatus> {
    let mut causes: std::collections::HashMap<&str, Vec<Cause>> = Default::default();
    for e in errors {
        let Some(account) = e.account_id.as_deref() else {
            continue;
        };
        if e.api_id.is_some() && e.kind != ErrorKind::AccessDenied {
            continue;
        }
        let list = causes.entry(account).or_default();
        match list.iter_mut().find(|c| c.kind == e.kind) {
            Some(cause) => cause.count += 1,
            None => list.push(Cause {
                kind: e.kind,
                operation: e.operation,
                count: 1,
                message: e.message.clone(),
            }),
        }
    }
    let mut statuses = Vec::new();
    for roster in rosters {
        for account in &roster.accounts {
            let causes = causes.remove(&*account.id).unwrap_or_default();
            for cause in &causes {
                tracing::error!(
                    organization = %roster.organization, account_id = %account.id,
                    account_name = account.name.as_deref(), cause = cause.kind.label(),
                    operation = cause.operation.label(), hits = cause.count, error = %cause.message,
                    "account not audited"
                );
            }
            statuses.push(AccountStatus {
                account: account.clone(),
                causes,
            });
        }
    }
    statuses
}

/// Every exemption with what it matched and when it expires.
fn exemptions(audit: &Audit<'_>, findings: &[Finding]) -> Vec<ExemptionUse> {
    let window = i64::try_from(audit.warn_expiring.as_secs() / 86_400).unwrap_or(i64::MAX);
    // One pass over the findings (a million at the largest audits), not one
    // per exemption: each finding names the exemption it matched.
    let mut matches: HashMap<*const ExemptionInfo, usize> = HashMap::new();
    for info in findings.iter().filter_map(|f| f.exemption.as_ref()) {
        *matches.entry(Arc::as_ptr(info)).or_default() += 1;
    }
    audit
        .policies
        .exemptions
        .iter()
        .map(|e| {
            let matched = matches.get(&Arc::as_ptr(&e.info)).copied().unwrap_or(0);
            let days_left = e.info.expires.map(|at| (at - audit.today).whole_days());
            ExemptionUse {
                info: e.info.clone(),
                matched,
                days_left,
                expiring: days_left.is_some_and(|d| (0..=window).contains(&d)),
            }
        })
        .collect()
}

/// Today's date in UTC, for exemption expiry.
pub fn today_utc() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}

#[cfg(test)]
pub(crate) mod tests {
    use routewarden_core::inventory::{Api, Route};
    use routewarden_core::policy::PolicySource;

    use super::*;
    use crate::source::{ErrorKind, Operation};

    fn api(target: &str, id: &str, keys: &[&str]) -> Api {
        Api {
            api_id: id.into(),
            target_name: Some(target.into()),
            region: Some("r".into()),
            routes: keys
                .iter()
                .map(|k| Route {
                    route_key: (*k).into(),
                    authorization_type: Some("AWS_IAM".into()),
                    ..Route::default()
                })
                .collect(),
            ..Api::default()
        }
    }

    fn error(target: &str, api_id: Option<&str>, kind: ErrorKind) -> FetchError {
        FetchError {
            account_id: None,
            organization: None,
            target_name: Some(target.into()),
            region: Some("r".into()),
            api_id: api_id.map(Into::into),
            operation: Operation::GetRoutes,
            kind,
            message: "x".into(),
        }
    }

    /// A source that yields what it is given, errors included.
    pub(crate) struct Given(pub(crate) Vec<Api>, pub(crate) Vec<FetchError>);

    impl Source for Given {
        fn read<'a>(
            &'a self,
            _: &'a dyn Observer,
        ) -> futures_util::stream::BoxStream<'a, Result<Item, LoadError>> {
            let apis = self.0.iter().cloned().map(|api| Item::Api(Box::new(api)));
            let errors = self.1.iter().cloned().map(Item::Failed);
            futures_util::stream::iter(apis.chain(errors).map(Ok)).boxed()
        }
    }

    #[tokio::test]
    async fn drift_skips_what_could_not_be_read_and_reports_what_is_gone() {
        let policies = PolicySet::load(&[PolicySource::Builtin]).unwrap();
        let baseline = Inventory {
            apis: vec![
                api("t", "read", &["GET /a"]),
                api("t", "failed", &["GET /b"]),
                api("t", "gone", &["GET /c"]),
                api("blind", "any", &["GET /d"]),
            ],
        };
        let source = Given(
            vec![api("t", "read", &["GET /a", "GET /new"])],
            vec![
                error("t", Some("failed"), ErrorKind::ServerError),
                error("t", Some("gone"), ErrorKind::NotFound),
                error("blind", None, ErrorKind::AccessDenied),
            ],
        );
        let audit = Audit {
            policies: &policies,
            baseline: Some(&baseline),
            code: None,
            drift_severity: Severity::Medium,
            today: today_utc(),
            keep_routes: false,
            warn_expiring: WARN_EXPIRING,
        };
        let outcome = run(&source, &audit, &()).await.unwrap();
        let drift: Vec<String> = outcome
            .drift
            .iter()
            .map(|f| format!("{} {} {}", f.rule.id, f.api_id, f.route_key))
            .collect();
        assert_eq!(
            drift,
            ["drift.added read GET /new", "drift.removed gone GET /c"]
        );
        assert_eq!(outcome.errors.len(), 3);
        assert!(!outcome.is_complete());
        assert_eq!(outcome.routes, 2);
        assert_eq!(
            outcome.inventory.apis[0].routes.len(),
            2,
            "drift keeps routes"
        );
    }

    #[tokio::test]
    async fn routes_are_dropped_after_evaluation_unless_kept() {
        let policies = PolicySet::load(&[PolicySource::Builtin]).unwrap();
        let mut open = api("t", "a", &["GET /x"]);
        open.routes[0].authorization_type = Some("NONE".into());
        let source = Inventory { apis: vec![open] };
        let mut audit = Audit {
            policies: &policies,
            baseline: None,
            code: None,
            drift_severity: Severity::Medium,
            today: today_utc(),
            keep_routes: false,
            warn_expiring: WARN_EXPIRING,
        };
        let outcome = run(&source, &audit, &()).await.unwrap();
        assert!(outcome.inventory.apis[0].routes.is_empty());
        assert_eq!(outcome.routes, 1);
        assert!(outcome.findings.iter().any(|f| &*f.rule.id == "RW001"));
        audit.keep_routes = true;
        let outcome = run(&source, &audit, &()).await.unwrap();
        assert_eq!(outcome.inventory.apis[0].routes.len(), 1);
    }
}

//! One audit: every route of an inventory against every enabled rule, with
//! exemptions applied, giving findings; and the errors of APIs that could not
//! be read. Findings are self-contained (they carry the names reports need), so
//! sinks never go back to the policies or the inventory to re-evaluate.

use std::sync::Arc;

use serde::Serialize;

use crate::inventory::{Api, Inventory, Location, Route};
use crate::policy::{Context, Exempted, ExemptionInfo, PolicySet, RuleInfo, Severity};

/// How a finding stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Open: fails `--check` at or above `--fail-on`.
    Violation,
    /// Covered by an active exemption.
    Exempted,
    /// Only expired exemptions match: it counts as a violation again.
    ExpiredExemption,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Violation => "violation",
            Status::Exempted => "exempted",
            Status::ExpiredExemption => "expired_exemption",
        }
    }

    /// Whether it counts as an open violation.
    pub fn is_open(self) -> bool {
        self != Status::Exempted
    }
}

/// One rule's verdict on one route.
#[derive(Debug, Clone)]
pub struct Finding {
    pub rule: Arc<RuleInfo>,
    pub status: Status,
    pub target_name: Option<Arc<str>>,
    pub region: Option<Arc<str>>,
    pub api_id: Arc<str>,
    pub api_name: Option<Arc<str>>,
    pub route_id: Option<String>,
    pub route_key: String,
    /// Why the route fails the rule, naming fields and values.
    pub message: String,
    /// The exemption that covers it, or the expired one that matched.
    pub exemption: Option<Arc<ExemptionInfo>>,
    /// Where the route is defined (file and line), where the source knows.
    pub location: Option<Location>,
}

impl Finding {
    pub fn severity(&self) -> Severity {
        self.rule.severity
    }
}

/// The AWS operation an error came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Operation {
    GetApis,
    GetApi,
    GetRoutes,
    GetTags,
}

/// Why an API (or a discovery) could not be read, classified once, where it happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    Throttled,
    NotFound,
    BadRequest,
    AccessDenied,
    ServerError,
    Timeout,
    Transport,
    MalformedResponse,
    /// Only part of the API was given: a get-routes file whose `NextToken`
    /// is set holds only its first page.
    Incomplete,
}

/// An API or a discovery that could not be read; the audit is incomplete.
#[derive(Debug, Clone, Serialize)]
pub struct AuditError {
    pub target_name: Option<Arc<str>>,
    pub region: Option<Arc<str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_id: Option<Arc<str>>,
    pub operation: Operation,
    pub kind: ErrorKind,
    pub message: String,
}

impl AuditError {
    /// The API it is about, keyed as [`Api::key`] keys APIs; `None` for a
    /// failed discovery.
    pub fn api_key(&self) -> Option<(&str, &str, &str)> {
        Some((
            self.target_name.as_deref().unwrap_or(""),
            self.region.as_deref().unwrap_or(""),
            self.api_id.as_deref()?,
        ))
    }
}

/// What an audit found.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The APIs audited. Their routes may have been dropped after evaluation
    /// (see [`Auditor`]); `routes` counts them either way.
    pub inventory: Inventory,
    /// Routes audited.
    pub routes: usize,
    /// Enabled rules, in load order.
    pub rules: Vec<Arc<RuleInfo>>,
    pub findings: Vec<Finding>,
    pub errors: Vec<AuditError>,
}

/// Evaluates every route of the inventory against the enabled rules.
/// `today` (UTC) decides which exemptions have expired.
pub fn evaluate(inventory: Inventory, policies: &PolicySet, today: time::Date) -> Outcome {
    let mut findings = Vec::new();
    for api in &inventory.apis {
        evaluate_api(api, policies, today, &mut findings);
    }
    Outcome {
        rules: policies.enabled().map(|(_, r)| r.info.clone()).collect(),
        routes: inventory.route_count(),
        inventory,
        findings,
        errors: Vec::new(),
    }
}

/// An audit fed one API at a time, as a fleet file is parsed: memory holds
/// the findings and, unless asked to keep them, no routes.
pub struct Auditor<'p> {
    policies: &'p PolicySet,
    today: time::Date,
    keep_routes: bool,
    outcome: Outcome,
}

impl<'p> Auditor<'p> {
    /// `keep_routes`: keep every API's routes in the outcome (JUnit lists
    /// every route, drift compares them).
    pub fn new(policies: &'p PolicySet, today: time::Date, keep_routes: bool) -> Self {
        let outcome = Outcome {
            rules: policies.enabled().map(|(_, r)| r.info.clone()).collect(),
            ..Outcome::default()
        };
        Auditor {
            policies,
            today,
            keep_routes,
            outcome,
        }
    }

    pub fn add(&mut self, mut api: Api) {
        evaluate_api(&api, self.policies, self.today, &mut self.outcome.findings);
        self.outcome.routes += api.routes.len();
        if !self.keep_routes {
            api.routes = Vec::new();
        }
        self.outcome.inventory.apis.push(api);
    }

    pub fn finish(self) -> Outcome {
        self.outcome
    }
}

/// Appends the findings of one API's routes.
pub fn evaluate_api(api: &Api, policies: &PolicySet, today: time::Date, out: &mut Vec<Finding>) {
    let ctx = Context::of(api);
    for route in &api.routes {
        for (index, rule) in policies.enabled() {
            if !rule.violated_by(route, &ctx) {
                continue;
            }
            let (status, exemption) = match policies.exemption_for(index, route, &ctx, today) {
                Exempted::No => (Status::Violation, None),
                Exempted::Active(e) => (Status::Exempted, Some(e)),
                Exempted::Expired(e) => (Status::ExpiredExemption, Some(e)),
            };
            out.push(Finding::new(
                api,
                route,
                rule.info.clone(),
                status,
                rule.explain(route, &ctx),
                exemption,
            ));
        }
    }
}

impl Finding {
    /// A finding of `rule` on a route of an API, with the names reports need.
    pub fn new(
        api: &Api,
        route: &Route,
        rule: Arc<RuleInfo>,
        status: Status,
        message: String,
        exemption: Option<Arc<ExemptionInfo>>,
    ) -> Finding {
        Finding {
            rule,
            status,
            target_name: api.target_name.clone(),
            region: api.region.clone(),
            api_id: api.api_id.clone(),
            api_name: api.name.clone(),
            route_id: route.route_id.clone(),
            route_key: route.route_key.clone(),
            message,
            exemption,
            location: api.location_of(route),
        }
    }
}

/// Today's date in UTC, for exemption expiry.
pub fn today_utc() -> time::Date {
    time::OffsetDateTime::now_utc().date()
}

//! What audits produce and sinks consume: [`Severity`], [`Status`] and
//! [`Finding`]. A finding is self-contained (it carries the names reports
//! need), so sinks never go back to the policies or the inventory.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use crate::inventory::{Api, Location, Route};
use crate::policy::{Context, ExemptionInfo, RuleInfo};

/// How bad a violation is. Ordered: `Info < Low < ... < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];

    pub fn parse(text: &str) -> Option<Severity> {
        Some(match text {
            "info" => Severity::Info,
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// What a rule evaluates, and a finding is about.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    /// Each route, with its API, authorizer and integration.
    #[default]
    Route,
    /// Each API, once.
    Api,
    /// Each stage of each API.
    Stage,
}

impl Subject {
    pub fn as_str(self) -> &'static str {
        match self {
            Subject::Route => "route",
            Subject::Api => "api",
            Subject::Stage => "stage",
        }
    }
}

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
    /// The outcome depends on a value the code leaves unknown until deploy:
    /// neither passed nor violated. Fails a run only with
    /// `--fail-on-indeterminate`.
    Indeterminate,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Violation => "violation",
            Status::Exempted => "exempted",
            Status::ExpiredExemption => "expired_exemption",
            Status::Indeterminate => "indeterminate",
        }
    }

    /// Whether it counts as an open violation.
    pub fn is_open(self) -> bool {
        matches!(self, Status::Violation | Status::ExpiredExemption)
    }
}

/// One rule's verdict on one route.
#[derive(Debug, Clone)]
pub struct Finding {
    pub rule: Arc<RuleInfo>,
    pub status: Status,
    pub target_name: Option<Arc<str>>,
    pub region: Option<Arc<str>>,
    /// The AWS account of the API, where the source knows it.
    pub account_id: Option<Arc<str>>,
    pub api_id: Arc<str>,
    pub api_name: Option<Arc<str>>,
    /// What the finding is about: a route, an API or a stage.
    pub subject: Subject,
    pub route_id: Option<String>,
    /// The route's key; empty for API and stage findings.
    pub route_key: String,
    /// The stage's name, for stage findings.
    pub stage: Option<Arc<str>>,
    /// For a finding on one part of an API (drift on an authorizer, an
    /// integration, the API's settings): which, as ``authorizer `abc1` ``.
    /// Several such findings of one rule may stand on one API at once: this
    /// tells them apart in reports and metrics.
    pub part: Option<Arc<str>>,
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

    /// A finding of `rule` on what the context holds: a route, a stage, or
    /// the API itself.
    pub fn of(
        ctx: &Context<'_>,
        rule: Arc<RuleInfo>,
        status: Status,
        message: String,
        exemption: Option<Arc<ExemptionInfo>>,
    ) -> Finding {
        let api = ctx.api;
        if let Some(route) = ctx.route {
            return Finding::new(api, route, rule, status, message, exemption);
        }
        let mut finding = Finding::on(api, rule, status, message, exemption);
        if let Some(stage) = ctx.stage {
            finding.subject = Subject::Stage;
            finding.stage = Some(stage.stage_name.as_str().into());
            finding.location = api.location_of_stage(stage);
        }
        finding
    }

    /// A finding of `rule` on the API itself, located at the API.
    pub fn on(
        api: &Api,
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
            account_id: api.account.as_ref().map(|a| a.id.clone()),
            api_id: api.api_id.clone(),
            api_name: api.name.clone(),
            subject: Subject::Api,
            route_id: None,
            route_key: String::new(),
            stage: None,
            part: None,
            message,
            exemption,
            location: api.origin.0.as_deref().cloned(),
        }
    }

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
            subject: Subject::Route,
            route_id: route.route_id.clone(),
            route_key: route.route_key.clone(),
            location: api.location_of(route),
            ..Finding::on(api, rule, status, message, exemption)
        }
    }
}

//! The JSON report: `{ "version": 1, "summary", "findings", "errors" }`,
//! and `accounts` where organizations were audited.
//! Every finding carries every key (but `stage`, only on stage findings, and
//! `exemption`); unknown values are `null`.

use std::io;

use serde::Serialize;

use super::Summary;
use crate::audit::Outcome;
use crate::source::FetchError;
use routewarden_core::finding::Severity;
use routewarden_core::finding::{Finding, Status, Subject};
use routewarden_core::policy::ExemptionInfo;

#[derive(Serialize)]
struct Report<'a> {
    version: u32,
    summary: &'a Summary,
    findings: Vec<JsonFinding<'a>>,
    errors: &'a [FetchError],
    /// Each organization's accounts: audited, or why not.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    accounts: Vec<JsonAccount<'a>>,
    /// Every exemption loaded, for upkeep: what it matched, when it expires.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    exemptions: Vec<JsonExemption<'a>>,
}

#[derive(Serialize)]
struct JsonExemption<'a> {
    #[serde(flatten)]
    info: &'a ExemptionInfo,
    /// Findings it matched in this audit.
    matched: usize,
    /// It matched nothing in this audit.
    unmatched: bool,
    /// Still active, and expires within the warning window.
    expiring: bool,
    /// Days until it expires (negative: expired); null without an expiry.
    days_left: Option<i64>,
}

#[derive(Serialize)]
struct JsonAccount<'a> {
    organization: Option<&'a str>,
    account_id: &'a str,
    name: Option<&'a str>,
    ou_path: Option<&'a str>,
    up: bool,
    causes: Vec<JsonCause<'a>>,
}

#[derive(Serialize)]
struct JsonCause<'a> {
    kind: crate::source::ErrorKind,
    operation: crate::source::Operation,
    count: usize,
    message: &'a str,
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    rule_id: &'a str,
    severity: Severity,
    title: &'a str,
    status: Status,
    target_name: Option<&'a str>,
    region: Option<&'a str>,
    /// The AWS account, where the source knows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    account_id: Option<&'a str>,
    api_id: &'a str,
    api_name: Option<&'a str>,
    subject: Subject,
    route_id: Option<&'a str>,
    route_key: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    stage: Option<&'a str>,
    message: &'a str,
    remediation: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exemption: Option<&'a ExemptionInfo>,
    /// Where what the finding is about is defined: the file, line and
    /// column (column where the source knows it); `null` where nothing is.
    location: Option<JsonLocation<'a>>,
}

#[derive(Serialize)]
struct JsonLocation<'a> {
    path: &'a str,
    line: u32,
    column: Option<u32>,
}

impl<'a> From<&'a Finding> for JsonFinding<'a> {
    fn from(f: &'a Finding) -> Self {
        JsonFinding {
            rule_id: &f.rule.id,
            severity: f.severity(),
            title: &f.rule.title,
            status: f.status,
            target_name: f.target_name.as_deref(),
            region: f.region.as_deref(),
            account_id: f.account_id.as_deref(),
            api_id: &f.api_id,
            api_name: f.api_name.as_deref(),
            subject: f.subject,
            route_id: f.route_id.as_deref(),
            route_key: &f.route_key,
            stage: f.stage.as_deref(),
            message: &f.message,
            remediation: f.rule.remediation.as_deref(),
            exemption: f.exemption.as_deref(),
            location: f.location.as_ref().map(|at| JsonLocation {
                path: &at.path,
                line: at.line,
                column: at.column,
            }),
        }
    }
}

pub fn write(outcome: &Outcome, summary: &Summary, out: &mut dyn io::Write) -> io::Result<()> {
    let report = Report {
        version: 1,
        summary,
        findings: outcome.all_findings().map(JsonFinding::from).collect(),
        errors: &outcome.errors,
        accounts: outcome
            .accounts
            .iter()
            .map(|status| JsonAccount {
                organization: status.account.organization.as_deref(),
                account_id: &status.account.id,
                name: status.account.name.as_deref(),
                ou_path: status.account.ou_path.as_deref(),
                up: status.up(),
                causes: status
                    .causes
                    .iter()
                    .map(|c| JsonCause {
                        kind: c.kind,
                        operation: c.operation,
                        count: c.count,
                        message: &c.message,
                    })
                    .collect(),
            })
            .collect(),
        exemptions: outcome
            .exemptions
            .iter()
            .map(|e| JsonExemption {
                info: &e.info,
                matched: e.matched,
                unmatched: e.matched == 0,
                expiring: e.expiring,
                days_left: e.days_left,
            })
            .collect(),
    };
    serde_json::to_writer_pretty(&mut *out, &report)?;
    writeln!(out)
}

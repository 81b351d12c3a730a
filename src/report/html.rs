//! The HTML report: one self-contained page for people who look at a CI
//! artifact rather than a log. It holds the summary and verdict, the rule
//! findings grouped by target (with its account) and API, drift in a section
//! of its own, read errors and the accounts not audited, and filters by
//! severity and status. It renders an [`Outcome`] and its [`Summary`] as they
//! are; it never re-evaluates, so it agrees with the JSON report and the exit
//! code.
//!
//! # Self-contained
//!
//! The page's CSS and JS are constants of this module (`html/report.css`,
//! `html/report.js`), inlined; it loads nothing: no script, style, font or
//! image from anywhere, so it works opened from disk, from a CI artifact
//! store or a mail attachment. A `Content-Security-Policy` meta element says
//! so to the browser: `default-src 'none'`, and the one inline style and the
//! one inline script allowed by their SHA-256 hashes. Even a string that got
//! past escaping could then neither run a script (no `'unsafe-inline'`, no
//! event-handler attributes: the script binds its listeners itself) nor load
//! anything. Without JS (a viewer that strips scripts) every finding is shown
//! and the filters stay hidden.
//!
//! # Escaping
//!
//! Written with `maud`: every value spliced into the markup, `(value)`, is
//! HTML-escaped by the macro (`&`, `<`, `>`, `"`; every attribute is
//! double-quoted), so escaping cannot be forgotten at one call site; the only
//! text written raw (`PreEscaped`) is this module's own CSS and JS and the
//! CSP built from their hashes. Strings from a fleet file, code or AWS go
//! through [`shown`] first, the text report's
//! [`sanitize::escape`](routewarden_core::sanitize::escape), so that control
//! and bidirectional characters are visible (`\u{202e}`) rather than
//! reordering what the reader sees; error messages are clipped as in the
//! text report. (A file template engine such as askama would add a template
//! language and its parser for one page; string building with an escaping
//! function leaves each `push_str` a place to forget it. maud is four small
//! crates.)
//!
//! # Hooks
//!
//! Tests and scripts read the page by stable ids and attributes: each finding
//! is an element `.finding` with `data-severity`, `data-status`, `data-rule`
//! and `data-subject`; `#count-<severity>` holds the open findings of a
//! severity (the JSON `summary.by_severity`), `#count-violations`,
//! `#count-exempted`, `#count-expired`, `#count-indeterminate` and
//! `#count-errors` the other counts, `#verdict` the verdict (`data-exit`: the
//! exit code); `#filter-<severity>` and `#filter-status-<status>` are the
//! filter buttons (`aria-pressed="true"` while shown), `#filter-count-<severity>`
//! the number of findings of a severity whatever their status, and
//! `#shown-count` the number of findings the filters leave shown.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io;

use base64::Engine as _;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use sha2::{Digest, Sha256};

use super::{FailOn, Summary, Verdict, api_label};
use crate::audit::{AccountStatus, Outcome};
use crate::source::FetchError;
use routewarden_core::finding::{Finding, Severity, Status, Subject};
use routewarden_core::policy::ExemptionInfo;
use routewarden_core::sanitize::{clip_escaped, escape};

const CSS: &str = include_str!("html/report.css");
const JS: &str = include_str!("html/report.js");

/// Bytes of an error message shown, as in the text report.
const ERROR_MESSAGE_MAX: usize = 1024;

/// The statuses, in the order the page shows them.
const STATUSES: [Status; 4] = [
    Status::Violation,
    Status::ExpiredExemption,
    Status::Indeterminate,
    Status::Exempted,
];

pub fn write(outcome: &Outcome, summary: &Summary, out: &mut dyn io::Write) -> io::Result<()> {
    out.write_all(page(outcome, summary).into_string().as_bytes())
}

/// A string from outside, made safe to look at (the markup escaping is
/// maud's).
fn shown(text: &str) -> Cow<'_, str> {
    escape(text)
}

/// `'sha256-…'`, the CSP source that allows exactly this inline text.
fn csp_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The policy: nothing from anywhere, but this page's own style and script.
fn content_security_policy() -> String {
    format!(
        "default-src 'none'; style-src {}; script-src {}; base-uri 'none'; form-action 'none'",
        csp_hash(CSS),
        csp_hash(JS)
    )
}

fn verdict(summary: &Summary) -> (&'static str, &'static str, u8) {
    match summary.verdict() {
        Verdict::Pass => ("PASS", "pass", 0),
        Verdict::Fail => ("FAIL", "fail", 1),
        Verdict::Incomplete => ("INCOMPLETE", "incomplete", 3),
    }
}

fn page(outcome: &Outcome, summary: &Summary) -> Markup {
    let (verdict_text, verdict_class, exit) = verdict(summary);
    let title = format!(
        "routewarden: {verdict_text}, {} open, {} exempted",
        summary.violations, summary.exempted
    );
    let rule_groups = group(outcome.findings.iter());
    let drift_groups = group(outcome.drift.iter());
    let down: Vec<&AccountStatus> = outcome.accounts.iter().filter(|a| !a.up()).collect();
    let total = outcome.all_findings().count();
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="Content-Security-Policy" content=(content_security_policy());
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="generator" content={ "routewarden " (env!("CARGO_PKG_VERSION")) };
                title { (title) }
                style { (PreEscaped(CSS)) }
            }
            body {
                header {
                    h1 { "routewarden audit" }
                    p #verdict .{ "verdict " (verdict_class) } data-exit=(exit) {
                        (verdict_text)
                    }
                    p .threshold {
                        (threshold(summary.fail_on)) " · exit code " (exit)
                        @if summary.failing > 0 {
                            " · " (summary.failing) " failing"
                        }
                    }
                }
                main {
                    (summary_section(summary))
                    (filters(outcome, total))
                    section #findings {
                        h2 { "Findings" }
                        @if rule_groups.is_empty() {
                            p .none { "No rule findings." }
                        }
                        @for g in &rule_groups { (target_group(g)) }
                    }
                    section #drift {
                        h2 { "Drift" }
                        @if drift_groups.is_empty() {
                            p .none { "No drift (or no baseline to compare with)." }
                        } @else {
                            p .note { "What changed since the baseline. Drift is never exempted." }
                        }
                        @for g in &drift_groups { (target_group(g)) }
                    }
                    @if outcome.exemptions.iter().any(|e| e.needs_review()) {
                        (exemptions_section(outcome))
                    }
                    @if !down.is_empty() {
                        (accounts_section(&down, outcome.accounts.len()))
                    }
                    @if !outcome.errors.is_empty() {
                        (errors_section(&outcome.errors))
                    }
                }
                footer {
                    "routewarden " (env!("CARGO_PKG_VERSION"))
                    " · a self-contained page: it loads nothing from anywhere"
                }
                script { (PreEscaped(JS)) }
            }
        }
    }
}

fn threshold(fail_on: FailOn) -> String {
    match fail_on {
        FailOn::Never => "never fails".to_owned(),
        FailOn::Severity(sev) => format!("fails at {sev} and above"),
    }
}

fn summary_section(s: &Summary) -> Markup {
    html! {
        section #summary {
            h2 { "Summary" }
            dl .counts {
                div { dt { "APIs" } dd #summary-apis { (s.apis) } }
                div { dt { "routes" } dd #summary-routes { (s.routes) } }
                div { dt { "rules" } dd #summary-rules { (s.rules) } }
                div .open { dt { "open violations" } dd #count-violations { (s.violations) } }
                div { dt { "exempted" } dd #count-exempted { (s.exempted) } }
                div { dt { "expired exemptions" } dd #count-expired { (s.expired_exemptions) } }
                div { dt { "indeterminate" } dd #count-indeterminate { (s.indeterminate) } }
                div .bad[s.errors > 0] { dt { "read errors" } dd #count-errors { (s.errors) } }
            }
            table .severities {
                caption { "Open violations by severity" }
                thead {
                    tr {
                        @for sev in Severity::ALL {
                            th scope="col" .{ "sev-" (sev.as_str()) } { (sev.as_str()) }
                        }
                    }
                }
                tbody {
                    tr {
                        @for sev in Severity::ALL {
                            td #{ "count-" (sev.as_str()) } .{ "sev-" (sev.as_str()) } {
                                (s.by_severity.get(&sev).copied().unwrap_or(0))
                            }
                        }
                    }
                }
            }
        }
    }
}

fn status_label(status: Status) -> &'static str {
    match status {
        Status::Violation => "open",
        Status::ExpiredExemption => "exemption expired",
        Status::Exempted => "exempted",
        Status::Indeterminate => "indeterminate",
    }
}

fn filters(outcome: &Outcome, total: usize) -> Markup {
    let mut by_severity: HashMap<Severity, usize> = HashMap::new();
    let mut by_status: HashMap<Status, usize> = HashMap::new();
    for f in outcome.all_findings() {
        *by_severity.entry(f.severity()).or_default() += 1;
        *by_status.entry(f.status).or_default() += 1;
    }
    html! {
        // Hidden until the script runs: without it, the buttons would do nothing.
        nav #filters aria-label="Filters" hidden {
            div .filter-row {
                span .legend { "Severity" }
                @for sev in Severity::ALL {
                    button type="button" #{ "filter-" (sev.as_str()) }
                        .{ "filter sev-" (sev.as_str()) }
                        data-filter="severity" data-value=(sev.as_str()) aria-pressed="true"
                        title={ "Show or hide " (sev.as_str()) " findings, whatever their status" } {
                        (sev.as_str()) " "
                        span .n #{ "filter-count-" (sev.as_str()) } { (by_severity.get(&sev).copied().unwrap_or(0)) }
                    }
                }
            }
            div .filter-row {
                span .legend { "Status" }
                @for status in STATUSES {
                    button type="button" #{ "filter-status-" (status.as_str()) }
                        .{ "filter st-" (status.as_str()) }
                        data-filter="status" data-value=(status.as_str()) aria-pressed="true" {
                        (status_label(status)) " "
                        span .n { (by_status.get(&status).copied().unwrap_or(0)) }
                    }
                }
                span .shown { span #shown-count { (total) } " of " span #total-count { (total) } " findings shown" }
            }
        }
    }
}

/// Findings of one target (an organization's: `<org>/<account>/<region>`).
struct TargetGroup<'a> {
    target: Option<&'a str>,
    account: Option<&'a str>,
    apis: Vec<ApiGroup<'a>>,
}

struct ApiGroup<'a> {
    api_id: &'a str,
    api_name: Option<&'a str>,
    region: Option<&'a str>,
    findings: Vec<&'a Finding>,
}

/// Findings by target and account, then API (target, region and id), in
/// the order the audit met them; in each API open findings first, worst
/// first, then indeterminate ones, exempted ones last.
fn group<'a>(findings: impl Iterator<Item = &'a Finding>) -> Vec<TargetGroup<'a>> {
    type TargetKey<'a> = (Option<&'a str>, Option<&'a str>);
    type ApiKey<'a> = (TargetKey<'a>, Option<&'a str>, &'a str);
    let mut targets: Vec<TargetGroup<'a>> = Vec::new();
    let mut target_index: HashMap<TargetKey<'a>, usize> = HashMap::new();
    let mut api_index: HashMap<ApiKey<'a>, (usize, usize)> = HashMap::new();
    for f in findings {
        let target_key = (f.target_name.as_deref(), f.account_id.as_deref());
        let api_key = (target_key, f.region.as_deref(), &*f.api_id);
        let (t, a) = *api_index.entry(api_key).or_insert_with(|| {
            let t = *target_index.entry(target_key).or_insert_with(|| {
                targets.push(TargetGroup {
                    target: target_key.0,
                    account: target_key.1,
                    apis: Vec::new(),
                });
                targets.len() - 1
            });
            targets[t].apis.push(ApiGroup {
                api_id: &f.api_id,
                api_name: f.api_name.as_deref(),
                region: f.region.as_deref(),
                findings: Vec::new(),
            });
            (t, targets[t].apis.len() - 1)
        });
        targets[t].apis[a].findings.push(f);
    }
    for api in targets.iter_mut().flat_map(|t| &mut t.apis) {
        api.findings.sort_by_key(|f| {
            (
                f.status == Status::Exempted,
                f.status == Status::Indeterminate,
                std::cmp::Reverse(f.severity()),
            )
        });
    }
    targets
}

fn target_group(g: &TargetGroup<'_>) -> Markup {
    html! {
        section .target data-target=(shown(g.target.unwrap_or(""))) {
            h3 {
                span .kind { "target" }
                @match g.target {
                    Some(target) => code { (shown(target)) },
                    None => span .unknown { "(no target name)" },
                }
                @if let Some(account) = g.account {
                    span .meta { "account " code { (shown(account)) } }
                }
            }
            @for api in &g.apis {
                section .api data-api=(shown(api.api_id)) {
                    h4 {
                        span .kind { "API" }
                        (shown(&api_label(api.api_id, api.api_name)))
                        @if let Some(region) = api.region {
                            span .meta { (shown(region)) }
                        }
                    }
                    ol .findings {
                        @for f in &api.findings { (finding(f)) }
                    }
                }
            }
        }
    }
}

/// What the finding is about: its kind and its name.
fn subject(f: &Finding) -> (&'static str, Cow<'_, str>) {
    if let Some(part) = routewarden_core::drift::part_of(f) {
        return ("API", Cow::Borrowed(part));
    }
    match f.subject {
        Subject::Route => ("route", Cow::Borrowed(&f.route_key)),
        Subject::Stage => ("stage", Cow::Borrowed(f.stage.as_deref().unwrap_or(""))),
        Subject::Api => (
            "API",
            Cow::Owned(api_label(&f.api_id, f.api_name.as_deref())),
        ),
    }
}

fn finding(f: &Finding) -> Markup {
    let sev = f.severity().as_str();
    let status = f.status.as_str();
    let (kind, name) = subject(f);
    html! {
        li .{ "finding sev-" (sev) " st-" (status) }
            data-severity=(sev) data-status=(status) data-rule=(shown(&f.rule.id))
            data-subject=(f.subject.as_str()) {
            div .head {
                span .{ "badge sev-" (sev) } { (sev) }
                span .{ "status st-" (status) } { (status_label(f.status)) }
                code .rule { (shown(&f.rule.id)) }
                span .title { (shown(&f.rule.title)) }
            }
            div .subject {
                span .kind { (kind) }
                code { (shown(&name)) }
            }
            p .message { (shown(&f.message)) }
            @if let Some(at) = &f.location {
                p .location {
                    span .kind { "at" }
                    code { (shown(&at.to_string())) }
                }
            }
            @if let Some(e) = &f.exemption {
                (exemption(f.status, e))
            }
            @if let Some(fix) = &f.rule.remediation {
                details .fix {
                    summary { "How to fix" }
                    @for line in fix.trim().lines() {
                        p { (shown(line)) }
                    }
                }
            }
        }
    }
}

fn exemption(status: Status, e: &ExemptionInfo) -> Markup {
    let label = if status == Status::ExpiredExemption {
        "Exemption expired:"
    } else {
        "Exempted:"
    };
    html! {
        p .exemption {
            strong { (label) } " "
            span .reason { (shown(e.reason.trim())) }
            @if let Some(owner) = &e.owner {
                " · owner " span .owner { (shown(owner)) }
            }
            @if let Some(expires) = e.expires {
                " · " @if status == Status::ExpiredExemption { "expired " } @else { "expires " }
                time .expires datetime=(expires.to_string()) { (expires.to_string()) }
            }
            @if e.rule.as_ref() != "*" {
                " · rule " code { (shown(&e.rule)) }
            }
        }
    }
}

/// Exemptions that match nothing, or expire soon while they still match.
fn exemptions_section(outcome: &Outcome) -> Markup {
    html! {
        section #exemptions {
            h2 { "Exemptions to review" }
            table {
                thead {
                    tr {
                        @for name in ["exemption", "rule", "where", "owner", "why", "reason"] {
                            th { (name) }
                        }
                    }
                }
                tbody {
                    @for e in outcome.exemptions.iter().filter(|e| e.needs_review()) {
                        @let info = &e.info;
                        @let at = info.location.as_ref().map(ToString::to_string).unwrap_or_default();
                        tr .exemption-review data-exemption=(shown(&info.label)) data-unmatched=(e.matched == 0) {
                            td { code { (shown(&info.label)) } }
                            td { (shown(&info.rule)) }
                            td { code { (shown(&at)) } }
                            td { (shown(info.owner.as_deref().unwrap_or(""))) }
                            td {
                                @if e.matched == 0 {
                                    "matches nothing in this audit"
                                } @else {
                                    "expires " (info.expires.map(|d| d.to_string()).unwrap_or_default())
                                    " (" (e.days_left.unwrap_or(0)) " days), still matches " (e.matched)
                                }
                            }
                            td { (shown(&info.reason)) }
                        }
                    }
                }
            }
        }
    }
}

fn accounts_section(down: &[&AccountStatus], all: usize) -> Markup {
    html! {
        section #accounts {
            h2 { "Accounts not audited" }
            p .note { (down.len()) " of " (all) " accounts could not be audited; every other account was." }
            table {
                thead {
                    tr {
                        @for name in ["organization", "account", "name", "OU path", "cause", "operation", "hits", "message"] {
                            th { (name) }
                        }
                    }
                }
                tbody {
                    @for status in down {
                        @let a = &status.account;
                        @for cause in &status.causes {
                            tr .account-down data-account=(shown(&a.id)) {
                                td { (shown(a.organization.as_deref().unwrap_or("-"))) }
                                td { code { (shown(&a.id)) } }
                                td { (shown(a.name.as_deref().unwrap_or(""))) }
                                td { (shown(a.ou_path.as_deref().unwrap_or(""))) }
                                td { (cause.kind.label()) }
                                td { (cause.operation.label()) }
                                td { (cause.count) }
                                td .message { (clip_escaped(&cause.message, ERROR_MESSAGE_MAX)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn errors_section(errors: &[FetchError]) -> Markup {
    html! {
        section #errors {
            h2 { "Could not audit" }
            p .note { "What could not be read; the audit is incomplete." }
            table {
                thead {
                    tr {
                        @for name in ["target", "region", "API", "operation", "kind", "message"] {
                            th { (name) }
                        }
                    }
                }
                tbody {
                    @for e in errors {
                        tr .read-error data-kind=(e.kind.label()) {
                            td {
                                @match (&e.target_name, &e.organization) {
                                    (Some(target), _) => code { (shown(target)) },
                                    (None, Some(org)) => { "organization " code { (shown(org)) } },
                                    (None, None) => "-",
                                }
                            }
                            td { (shown(e.region.as_deref().unwrap_or("-"))) }
                            td {
                                @match (&e.api_id, &e.target_name) {
                                    (Some(api), _) => code { (shown(api)) },
                                    (None, Some(_)) => "(discovery)",
                                    (None, None) => "(listing)",
                                }
                            }
                            td { (e.operation.label()) }
                            td { (e.kind.label()) }
                            td .message { (clip_escaped(&e.message, ERROR_MESSAGE_MAX)) }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_exactly_the_inline_style_and_script() {
        let csp = content_security_policy();
        assert!(csp.starts_with("default-src 'none'; "), "{csp}");
        assert!(!csp.contains("unsafe"), "{csp}");
        // Known answer: SHA-256 of "" in base64.
        assert_eq!(
            csp_hash(""),
            "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='"
        );
    }

    #[test]
    fn the_inline_assets_carry_nothing_a_browser_would_fetch() {
        for asset in [CSS, JS] {
            for needle in ["@import", "url(", "http:", "https:", "</"] {
                assert!(!asset.contains(needle), "{needle}");
            }
        }
    }
}

//! JUnit XML through quick-junit: one test suite per API, one test case per
//! route and enabled rule. A violation (or an expired exemption) is a failure;
//! an exempted violation is skipped with its reason; every other pair passes.
//! Drift findings form one more suite, `drift`, a failure each.
//!
//! Every string from a file or from AWS goes through
//! [`sanitize::escape`](routewarden_core::sanitize::escape) before quick-junit sees it:
//! quick-junit drops control characters and ANSI sequences, so route keys
//! that differ only in them would collapse into one test name, and it leaves
//! line breaks raw in attributes, where XML readers turn them into spaces.
//! Escaped, they stay distinct and visible; quick-junit then XML-encodes.

use std::collections::HashMap;
use std::io;

use std::sync::Arc;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::audit::Outcome;
use routewarden_core::finding::{Finding, Status};
use routewarden_core::policy::RuleInfo;
use routewarden_core::sanitize::escape;

pub fn write(outcome: &Outcome, out: &mut dyn io::Write) -> io::Result<()> {
    let mut by_pair: HashMap<(Option<&str>, &str, &str, &str), &Finding> = HashMap::new();
    for f in &outcome.findings {
        by_pair.insert(
            (
                f.target_name.as_deref(),
                &*f.api_id,
                f.route_key.as_str(),
                &*f.rule.id,
            ),
            f,
        );
    }
    let mut report = Report::new("routewarden");
    for api in &outcome.inventory.apis {
        let target = api.target_name.as_deref();
        let mut suite = TestSuite::new(escape(&super::api_label(&api.api_id, api.name.as_deref())));
        let classname = classname(target, &api.api_id);
        // Route rules that were evaluated on this API's routes; API and stage
        // rules, and rules whose parts were not read, are not route cases.
        let rules: Vec<&Arc<RuleInfo>> = outcome
            .rules
            .iter()
            .filter(|r| r.judges_routes_of(api))
            .collect();
        for route in &api.routes {
            for rule in rules.iter().copied() {
                let key = (target, &*api.api_id, route.route_key.as_str(), &*rule.id);
                let status = match by_pair.get(&key) {
                    None => TestCaseStatus::success(),
                    Some(f) if f.status == Status::Exempted => {
                        let mut status = TestCaseStatus::skipped();
                        let reason = f.exemption.as_ref().map_or("", |e| e.reason.trim());
                        status.set_message(format!("exempted: {}", escape(reason)));
                        status
                    }
                    Some(f) => failure(rule, f, true),
                };
                let mut case = TestCase::new(case_name(&rule.id, &route.route_key), status);
                case.set_classname(classname.clone());
                suite.add_test_case(case);
            }
        }
        report.add_test_suite(suite);
    }
    // Drift findings are not route x rule pairs: one suite holds them all.
    if !outcome.drift.is_empty() {
        let mut suite = TestSuite::new("drift");
        for f in &outcome.drift {
            let status = failure(&f.rule, f, false);
            let mut case = TestCase::new(case_name(&f.rule.id, &f.route_key), status);
            case.set_classname(classname(f.target_name.as_deref(), &f.api_id));
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    let xml = report.to_string().map_err(io::Error::other)?;
    out.write_all(xml.as_bytes())?;
    writeln!(out)
}

/// A failure: the rule's title and the finding's message; with `fix`, the
/// message and the remediation as its text.
fn failure(rule: &RuleInfo, f: &Finding, fix: bool) -> TestCaseStatus {
    let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
    let message = escape(&f.message);
    status.set_message(format!("{}: {message}", escape(&rule.title)));
    status.set_type(f.severity().as_str());
    if fix {
        let mut description = message.into_owned();
        if let Some(remediation) = &rule.remediation {
            description.push_str("\nfix: ");
            let lines: Vec<_> = remediation.trim().lines().map(escape).collect();
            description.push_str(&lines.join("\n"));
        }
        status.set_description(description);
    }
    status
}

/// `RULE ROUTE_KEY`, escaped: distinct route keys give distinct names.
fn case_name(rule_id: &str, route_key: &str) -> String {
    format!("{} {}", escape(rule_id), escape(route_key))
}

/// `TARGET.API_ID`, escaped; `default` for the unnamed target.
fn classname(target: Option<&str>, api_id: &str) -> String {
    format!("{}.{}", escape(target.unwrap_or("default")), escape(api_id))
}

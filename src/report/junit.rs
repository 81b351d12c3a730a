//! JUnit XML through quick-junit: one test suite per API, one test case per
//! route and enabled route rule, per API rule (`RULE (API)`), and per stage
//! and stage rule (`RULE stage NAME`). A violation (or an expired exemption)
//! is a failure; an exempted violation is skipped with its reason; every
//! other pair passes. Drift findings form one more suite, `drift`, a failure
//! each.
//!
//! Every string from a file or from AWS goes through
//! [`sanitize::escape`](routewarden_core::sanitize::escape) before quick-junit sees it:
//! quick-junit drops control characters and ANSI sequences, so route keys
//! that differ only in them would collapse into one test name, and it leaves
//! line breaks raw in attributes, where XML readers turn them into spaces.
//! Escaped, they stay distinct and visible; quick-junit then XML-encodes.

use std::collections::HashMap;
use std::io;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::audit::Outcome;
use routewarden_core::finding::{Finding, Status, Subject};
use routewarden_core::policy::RuleInfo;
use routewarden_core::sanitize::escape;

/// One test case: target, API id, subject, its name there (route key, stage
/// name, `""` for the API) and rule id.
type CaseKey<'a> = (Option<&'a str>, &'a str, Subject, &'a str, &'a str);

fn case_key(f: &Finding) -> CaseKey<'_> {
    let name = match f.subject {
        Subject::Route => f.route_key.as_str(),
        Subject::Stage => f.stage.as_deref().unwrap_or(""),
        Subject::Api => "",
    };
    (
        f.target_name.as_deref(),
        &f.api_id,
        f.subject,
        name,
        &f.rule.id,
    )
}

pub fn write(outcome: &Outcome, out: &mut dyn io::Write) -> io::Result<()> {
    // Rule findings by test case, and whether a case took each.
    let by_case: HashMap<CaseKey<'_>, usize> = (outcome.findings.iter().enumerate())
        .map(|(i, f)| (case_key(f), i))
        .collect();
    let mut used = vec![false; outcome.findings.len()];
    let mut suites: Vec<TestSuite> = Vec::new();
    let mut suite_of: HashMap<(Option<&str>, &str), usize> = HashMap::new();
    for api in &outcome.inventory.apis {
        // The rules evaluated on this API, by subject: a rule whose parts
        // were not read (authorizers of a v1 fleet file) has no cases.
        let rules = |subject: Subject| {
            (outcome.rules.iter()).filter(move |r| r.subject == subject && r.needs.met_by(api))
        };
        let target = api.target_name.as_deref();
        let mut suite = TestSuite::new(escape(&super::api_label(&api.api_id, api.name.as_deref())));
        if let Some(account) = &api.account {
            suite.add_property(quick_junit::Property::new("account_id", &*account.id));
            if let Some(name) = &account.name {
                suite.add_property(quick_junit::Property::new("account_name", escape(name)));
            }
            if let Some(path) = &account.ou_path {
                suite.add_property(quick_junit::Property::new("account_ou_path", escape(path)));
            }
        }
        let classname = classname(target, &api.api_id);
        let mut case = |rule: &RuleInfo, subject: Subject, name: &'_ str, label: &str| {
            let key = (target, &*api.api_id, subject, name, &*rule.id);
            let status = match by_case.get(&key) {
                None => TestCaseStatus::success(),
                Some(&i) => {
                    used[i] = true;
                    status(rule, &outcome.findings[i])
                }
            };
            let mut case = TestCase::new(case_name(&rule.id, label), status);
            case.set_classname(classname.clone());
            suite.add_test_case(case);
        };
        for route in &api.routes {
            for rule in rules(Subject::Route) {
                case(rule, Subject::Route, &route.route_key, &route.route_key);
            }
        }
        for rule in rules(Subject::Api) {
            case(rule, Subject::Api, "", "(API)");
        }
        for stage in api.stages.iter().flatten() {
            let label = format!("stage {}", stage.stage_name);
            for rule in rules(Subject::Stage) {
                case(rule, Subject::Stage, &stage.stage_name, &label);
            }
        }
        suite_of.insert((target, &api.api_id), suites.len());
        suites.push(suite);
    }
    // A finding on what the inventory no longer holds (routes not kept) is
    // still a test case: a failure never goes unreported.
    for (f, _) in outcome
        .findings
        .iter()
        .zip(&used)
        .filter(|(_, used)| !**used)
    {
        let mut case = TestCase::new(
            case_name(&f.rule.id, &super::subject_label(f)),
            status(&f.rule, f),
        );
        case.set_classname(classname(f.target_name.as_deref(), &f.api_id));
        let index = *suite_of
            .entry((f.target_name.as_deref(), &f.api_id))
            .or_insert_with(|| {
                let name = super::api_label(&f.api_id, f.api_name.as_deref());
                suites.push(TestSuite::new(escape(&name)));
                suites.len() - 1
            });
        suites[index].add_test_case(case);
    }
    let mut report = Report::new("routewarden");
    report.add_test_suites(suites);
    // Drift findings are not subject x rule pairs: one suite holds them all.
    if !outcome.drift.is_empty() {
        let mut suite = TestSuite::new("drift");
        for f in &outcome.drift {
            let status = failure(&f.rule, f, false);
            let mut case = TestCase::new(case_name(&f.rule.id, &super::subject_name(f)), status);
            case.set_classname(classname(f.target_name.as_deref(), &f.api_id));
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    let xml = report.to_string().map_err(io::Error::other)?;
    out.write_all(xml.as_bytes())?;
    writeln!(out)
}

/// A rule finding's test case status: skipped when exempted or
/// indeterminate (undecided before deploy), else a failure.
fn status(rule: &RuleInfo, f: &Finding) -> TestCaseStatus {
    if f.status == Status::Indeterminate {
        let mut status = TestCaseStatus::skipped();
        status.set_message(format!("indeterminate: {}", escape(&f.message)));
        return status;
    }
    if f.status == Status::Exempted {
        let mut status = TestCaseStatus::skipped();
        let reason = f.exemption.as_ref().map_or("", |e| e.reason.trim());
        status.set_message(format!("exempted: {}", escape(reason)));
        status
    } else {
        failure(rule, f, true)
    }
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

/// `RULE ROUTE_KEY` (or `RULE stage NAME`, `RULE (API)`), escaped: distinct
/// route keys give distinct names.
fn case_name(rule_id: &str, subject: &str) -> String {
    format!("{} {}", escape(rule_id), escape(subject))
}

/// `TARGET.API_ID`, escaped; `default` for the unnamed target.
fn classname(target: Option<&str>, api_id: &str) -> String {
    format!("{}.{}", escape(target.unwrap_or("default")), escape(api_id))
}

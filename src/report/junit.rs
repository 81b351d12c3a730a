//! JUnit XML through quick-junit: one test suite per API, one test case per
//! route and enabled rule. A violation (or an expired exemption) is a failure;
//! an exempted violation is skipped with its reason; every other pair passes.
//! Drift findings form one more suite, `drift`, a failure each.

use std::collections::HashMap;
use std::io;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::audit::{Finding, Outcome, Status};

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
        let mut suite = TestSuite::new(super::api_label(&api.api_id, api.name.as_deref()));
        let classname = format!("{}.{}", target.unwrap_or("default"), api.api_id);
        for route in &api.routes {
            for rule in &outcome.rules {
                let key = (target, &*api.api_id, route.route_key.as_str(), &*rule.id);
                let status = match by_pair.get(&key) {
                    None => TestCaseStatus::success(),
                    Some(f) if f.status == Status::Exempted => {
                        let mut status = TestCaseStatus::skipped();
                        let reason = f.exemption.as_ref().map_or("", |e| e.reason.trim());
                        status.set_message(format!("exempted: {reason}"));
                        status
                    }
                    Some(f) => {
                        let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                        status.set_message(format!("{}: {}", rule.title, f.message));
                        status.set_type(f.severity().as_str());
                        let mut description = f.message.clone();
                        if let Some(remediation) = &rule.remediation {
                            description.push_str("\nfix: ");
                            description.push_str(remediation.trim());
                        }
                        status.set_description(description);
                        status
                    }
                };
                let mut case = TestCase::new(format!("{} {}", rule.id, route.route_key), status);
                case.set_classname(classname.clone());
                suite.add_test_case(case);
            }
        }
        report.add_test_suite(suite);
    }
    // Drift findings are not route x rule pairs: one suite holds them all.
    let drift: Vec<&Finding> = outcome
        .findings
        .iter()
        .filter(|f| f.rule.id.starts_with("drift."))
        .collect();
    if !drift.is_empty() {
        let mut suite = TestSuite::new("drift");
        for f in drift {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status.set_message(format!("{}: {}", f.rule.title, f.message));
            status.set_type(f.severity().as_str());
            let mut case = TestCase::new(format!("{} {}", f.rule.id, f.route_key), status);
            case.set_classname(format!(
                "{}.{}",
                f.target_name.as_deref().unwrap_or("default"),
                f.api_id
            ));
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    let xml = report.to_string().map_err(io::Error::other)?;
    out.write_all(xml.as_bytes())?;
    writeln!(out)
}

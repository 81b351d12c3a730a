//! SARIF 2.1.0 through serde-sarif, as GitHub code scanning accepts it: each
//! rule a `reportingDescriptor` with `name`, `help`, `security-severity` and
//! `tags`; each finding a result on a physical location (the file and line
//! that define the route: a fleet or get-routes file, or for live audits the
//! config's `[[targets]]` entry; GitHub rejects a whole upload with a result
//! that has none) with the route (or the stage, or the API) beside it as a
//! logical location. Critical and high map to `error`, medium to `warning`,
//! low and info to `note`.
//! Exempted findings are results with an external suppression carrying the
//! reason; `partialFingerprints` identify a finding across runs.

use std::collections::BTreeMap;
use std::io;

use std::hash::Hasher;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_sarif::sarif::{
    ArtifactLocation, Location, LogicalLocation, Message, MultiformatMessageString,
    PhysicalLocation, PropertyBag, Region, ReportingConfiguration, ReportingDescriptor,
    Result as SarifResult, ResultLevel, Run, Sarif, Suppression, Tool, ToolComponent,
};

use crate::audit::Outcome;
use routewarden_core::finding::Severity;
use routewarden_core::finding::{Finding, Status, Subject};
use routewarden_core::policy::RuleInfo;

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

fn level(severity: Severity) -> ResultLevel {
    match severity {
        Severity::Critical | Severity::High => ResultLevel::Error,
        Severity::Medium => ResultLevel::Warning,
        Severity::Low | Severity::Info => ResultLevel::Note,
    }
}

/// GitHub code scanning ranks security results by this score.
fn security_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "1.0",
    }
}

/// Where paths are relative to: the working directory of the run, which in
/// CI is the checkout.
const SRCROOT: &str = "%SRCROOT%";

/// What stays as it is in a URI path: unreserved characters and `/`.
const PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// A rule's `name`: its title in UpperCamelCase ("Route allows
/// unauthenticated access" -> `RouteAllowsUnauthenticatedAccess`).
fn rule_name(rule: &RuleInfo) -> String {
    rule.title
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(|word| {
            let mut chars = word.chars();
            let first = chars.next().expect("not empty");
            first.to_uppercase().chain(chars).collect::<String>()
        })
        .collect()
}

fn text(s: &str) -> MultiformatMessageString {
    MultiformatMessageString::builder().text(s.trim()).build()
}

fn descriptor(rule: &RuleInfo) -> ReportingDescriptor {
    let level = serde_json::to_value(level(rule.severity)).expect("level serializes");
    let mut properties = BTreeMap::new();
    properties.insert(
        "security-severity".to_owned(),
        security_severity(rule.severity).into(),
    );
    properties.insert("severity".to_owned(), rule.severity.as_str().into());
    let help = [
        rule.remediation.as_deref(),
        rule.description.as_deref(),
        Some(&*rule.title),
    ]
    .into_iter()
    .flatten()
    .next()
    .unwrap_or_default();
    let mut descriptor = ReportingDescriptor::builder()
        .id(&*rule.id)
        .name(rule_name(rule))
        .short_description(text(&rule.title))
        .help(text(help))
        .default_configuration(ReportingConfiguration::builder().level(level).build())
        .properties(
            PropertyBag::builder()
                .tags(vec!["security".to_owned(), "api-gateway".to_owned()])
                .additional_properties(properties)
                .build(),
        )
        .build();
    // GitHub requires a full description: the title where there is none.
    descriptor.full_description = Some(text(rule.description.as_deref().unwrap_or(&rule.title)));
    descriptor
}

/// A file and line (and column) as SARIF places it.
fn physical(at: &routewarden_core::inventory::Location) -> PhysicalLocation {
    let path = utf8_percent_encode(&at.path, PATH).to_string();
    // Paths inside the working directory are relative to it (and so to
    // the checkout in CI); others are absolute `file:` URIs.
    let artifact = if at.path.starts_with('/') {
        ArtifactLocation::builder()
            .uri(format!("file://{path}"))
            .build()
    } else {
        ArtifactLocation::builder()
            .uri(path)
            .uri_base_id(SRCROOT)
            .build()
    };
    PhysicalLocation::builder()
        .artifact_location(artifact)
        .region(match at.column {
            Some(column) => Region::builder()
                .start_line(i64::from(at.line))
                .start_column(i64::from(column))
                .build(),
            None => Region::builder().start_line(i64::from(at.line)).build(),
        })
        .build()
}

/// The two upkeep "rules": an exemption that matches nothing, and one that
/// expires soon while it still matches. Their results stand on the policy
/// file's `[[exemptions]]` entry.
fn upkeep_rules() -> [RuleInfo; 2] {
    let rule = |id: &str, title: &str, severity, remediation: &str| RuleInfo {
        id: id.into(),
        title: title.into(),
        severity,
        description: Some(title.into()),
        remediation: Some(remediation.into()),
        enabled: true,
        subject: Subject::Api,
        needs: Default::default(),
    };
    [
        rule(
            "routewarden.exemption-unmatched",
            "Exemption matches nothing",
            Severity::Low,
            "Remove the exemption, or fix its api, route_key or target_name patterns.",
        ),
        rule(
            "routewarden.exemption-expiring",
            "Exemption expires soon and still matches",
            Severity::Medium,
            "Fix what it exempts before it expires, or renew it with a new expiry and a reason.",
        ),
    ]
}

/// Results for the exemptions to review, on their policy file entries.
fn upkeep_results(outcome: &Outcome, first_index: usize) -> Vec<SarifResult> {
    let mut results = Vec::new();
    for e in &outcome.exemptions {
        let (index, text) = match (e.matched, e.expiring) {
            (0, _) => (
                0,
                format!(
                    "Exemption {} of {} matches nothing in this audit",
                    e.info.label, e.info.rule
                ),
            ),
            (n, true) => (
                1,
                format!(
                    "Exemption {} of {} expires {} and still matches {n} finding(s)",
                    e.info.label,
                    e.info.rule,
                    e.info.expires.map(|d| d.to_string()).unwrap_or_default()
                ),
            ),
            _ => continue,
        };
        let Some(at) = &e.info.location else { continue };
        let mut result = SarifResult::builder()
            .rule_id(upkeep_rules()[index].id.to_string())
            .level(if index == 0 {
                ResultLevel::Note
            } else {
                ResultLevel::Warning
            })
            .message(Message::builder().text(text).build())
            .locations(vec![
                Location::builder()
                    .physical_location(physical(at))
                    .logical_locations(vec![
                        LogicalLocation::builder()
                            .name(e.info.label.to_string())
                            .kind("resource")
                            .build(),
                    ])
                    .build(),
            ])
            .build();
        result.rule_index = i64::try_from(first_index + index).ok();
        let mut fingerprints = BTreeMap::new();
        fingerprints.insert(
            "routewarden/v1".to_owned(),
            format!("{}/{index}", e.info.label),
        );
        result.partial_fingerprints = Some(fingerprints);
        results.push(result);
    }
    results
}

fn result(finding: &Finding, rule_index: Option<usize>) -> SarifResult {
    let target = finding.target_name.as_deref().unwrap_or("-");
    let api = &finding.api_id;
    let (name, qualified) = match finding.subject {
        Subject::Route => (
            finding.route_key.clone(),
            format!("{target}/{api}/{}", finding.route_key),
        ),
        Subject::Stage => {
            let stage = format!("stage:{}", finding.stage.as_deref().unwrap_or(""));
            let qualified = format!("{target}/{api}/{stage}");
            (stage, qualified)
        }
        Subject::Api => (api.to_string(), format!("{target}/{api}")),
    };
    let logical = LogicalLocation::builder()
        .name(name)
        .fully_qualified_name(qualified)
        .kind("resource")
        .build();
    let mut location = Location::builder().logical_locations(vec![logical]).build();
    // Every finding a source yields has a place; without one (a finding
    // built by hand), the result keeps only the route.
    location.physical_location = finding.location.as_ref().map(physical);
    let api_label = super::api_label(&finding.api_id, finding.api_name.as_deref());
    let message = match finding.subject {
        Subject::Api => format!("{}: {} ({api_label})", finding.rule.title, finding.message),
        _ => format!(
            "{}: {} on {} ({api_label})",
            finding.rule.title,
            finding.message,
            super::subject_label(finding),
        ),
    };
    // Identity across runs: rule, target, region, API and route, not the line
    // (a file reformatted is not a new finding). Each part is length-prefixed,
    // so no two different tuples encode alike; FNV is stable everywhere.
    // Findings on the API or a stage add their subject and what names it
    // there (the stage, the part of the API), so a route finding's tuple,
    // and so its fingerprint, is what it always was.
    let mut hasher = fnv::FnvHasher::default();
    let subject_name = super::subject_name(finding);
    let mut parts = vec![
        &*finding.rule.id,
        finding.target_name.as_deref().unwrap_or(""),
        finding.region.as_deref().unwrap_or(""),
        &finding.api_id,
        &finding.route_key,
    ];
    if finding.subject != Subject::Route {
        parts.extend([finding.subject.as_str(), &*subject_name]);
    }
    for part in parts {
        hasher.write_u64(part.len() as u64);
        hasher.write(part.as_bytes());
    }
    let mut fingerprints = BTreeMap::new();
    fingerprints.insert(
        "routewarden/v1".to_owned(),
        format!("{:016x}", hasher.finish()),
    );
    let mut result = SarifResult::builder()
        .rule_id(&*finding.rule.id)
        // Undecided before deploy: a note, whatever the rule's severity.
        .level(match finding.status {
            Status::Indeterminate => ResultLevel::Note,
            _ => level(finding.severity()),
        })
        .message(Message::builder().text(message).build())
        .locations(vec![location])
        .partial_fingerprints(fingerprints)
        .build();
    result.rule_index = rule_index.and_then(|i| i64::try_from(i).ok());
    if let Some(account) = &finding.account_id {
        let mut properties = BTreeMap::new();
        properties.insert("account_id".to_owned(), serde_json::json!(&**account));
        result.properties = Some(
            PropertyBag::builder()
                .additional_properties(properties)
                .build(),
        );
    }
    if let (Status::Exempted, Some(exemption)) = (finding.status, &finding.exemption) {
        result.suppressions = Some(vec![
            Suppression::builder()
                .kind("external")
                .justification(exemption.reason.trim())
                .build(),
        ]);
    }
    result
}

pub fn write(outcome: &Outcome, out: &mut dyn io::Write) -> io::Result<()> {
    // Descriptors: enabled rules, then any rule a finding names that is not one (drift).
    let mut rules: Vec<&RuleInfo> = outcome.rules.iter().map(|r| &**r).collect();
    for finding in outcome.all_findings() {
        if !rules.iter().any(|r| r.id == finding.rule.id) {
            rules.push(&finding.rule);
        }
    }
    let mut results = outcome
        .all_findings()
        .map(|f| result(f, rules.iter().position(|r| r.id == f.rule.id)))
        .collect::<Vec<_>>();
    let upkeep = upkeep_results(outcome, rules.len());
    let upkeep_rules = upkeep_rules();
    if !upkeep.is_empty() {
        rules.extend(upkeep_rules.iter());
    }
    results.extend(upkeep);
    let driver = ToolComponent::builder()
        .name("routewarden")
        .version(env!("CARGO_PKG_VERSION"))
        .semantic_version(env!("CARGO_PKG_VERSION"))
        .rules(rules.into_iter().map(descriptor).collect::<Vec<_>>())
        .build();
    let run = Run::builder()
        .tool(Tool::builder().driver(driver).build())
        .results(results)
        .build();
    let sarif = Sarif::builder()
        .schema(SCHEMA)
        .version(serde_json::Value::from("2.1.0"))
        .runs(vec![run])
        .build();
    serde_json::to_writer_pretty(&mut *out, &sarif)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use routewarden_core::inventory::{Api, Route};

    fn fingerprint(target: &str, api_id: &str, route_key: &str) -> serde_json::Value {
        let api = Api {
            api_id: api_id.into(),
            target_name: Some(target.into()),
            ..Api::default()
        };
        let route = Route {
            route_key: route_key.into(),
            ..Route::default()
        };
        let rule = Arc::new(RuleInfo {
            id: "RW001".into(),
            title: "t".into(),
            severity: Severity::High,
            description: None,
            remediation: None,
            enabled: true,
            subject: routewarden_core::finding::Subject::Route,
            needs: Default::default(),
        });
        let finding = Finding::new(&api, &route, rule, Status::Violation, String::new(), None);
        let result = serde_json::to_value(result(&finding, Some(0))).unwrap();
        result["partialFingerprints"]["routewarden/v1"].clone()
    }

    #[test]
    fn fingerprints_do_not_collide_on_separators() {
        // Joined with `|`, these were the same string.
        assert_ne!(
            fingerprint("a|b", "c", "GET /"),
            fingerprint("a", "b|c", "GET /")
        );
        assert_ne!(
            fingerprint("a", "b", "c\u{0}GET /"),
            fingerprint("a", "b\u{0}c", "GET /")
        );
        assert_eq!(
            fingerprint("a", "b", "GET /"),
            fingerprint("a", "b", "GET /")
        );
    }
}

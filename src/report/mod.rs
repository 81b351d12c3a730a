//! Report writers for `--check`: text, JSON, SARIF 2.1.0, JUnit XML and a
//! self-contained HTML page. They render an [`Outcome`] as it is; they never
//! re-evaluate. The verdict (exit status) is computed here once, so every
//! format agrees with the exit code.

mod html;
mod json;
mod junit;
mod sarif;
mod text;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::str::FromStr;

use serde::Serialize;

use crate::audit::Outcome;
use routewarden_core::finding::{Finding, Severity, Subject};

/// A report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Sarif,
    Junit,
    Html,
}

/// The lowest severity that fails the run, or never.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOn {
    Severity(Severity),
    Never,
}

impl FailOn {
    pub fn fails(self, severity: Severity) -> bool {
        matches!(self, FailOn::Severity(lowest) if severity >= lowest)
    }
}

impl FromStr for FailOn {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text == "never" {
            return Ok(FailOn::Never);
        }
        Severity::parse(text).map(FailOn::Severity).ok_or_else(|| {
            format!("expected one of: info, low, medium, high, critical, never; got `{text}`")
        })
    }
}

impl fmt::Display for FailOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailOn::Severity(s) => s.fmt(f),
            FailOn::Never => f.write_str("never"),
        }
    }
}

impl Serialize for FailOn {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// How a `--check` run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Complete, nothing at or above `--fail-on`: exit 0.
    Pass,
    /// A violation at or above `--fail-on`: exit 1.
    Fail,
    /// Nothing failed, but some API could not be read: exit 3.
    Incomplete,
}

/// Counts for the summary line and the JSON `summary`.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub apis: usize,
    pub routes: usize,
    pub rules: usize,
    /// Open violations (expired exemptions included).
    pub violations: usize,
    /// Open violations by severity, every severity present.
    pub by_severity: BTreeMap<Severity, usize>,
    pub exempted: usize,
    pub expired_exemptions: usize,
    /// Findings whose outcome depends on a value not known before deploy.
    pub indeterminate: usize,
    pub errors: usize,
    /// Every API was read.
    pub complete: bool,
    pub fail_on: FailOn,
    /// Open violations at or above `fail_on`.
    pub failing: usize,
}

impl Summary {
    /// `fail_on_indeterminate`: findings whose outcome depends on a value not
    /// known before deploy fail the run too.
    pub fn of(outcome: &Outcome, fail_on: FailOn, fail_on_indeterminate: bool) -> Summary {
        let mut by_severity: BTreeMap<Severity, usize> =
            Severity::ALL.iter().map(|s| (*s, 0)).collect();
        let (mut violations, mut exempted, mut expired, mut failing) = (0, 0, 0, 0);
        let mut indeterminate = 0;
        for finding in outcome.all_findings() {
            match finding.status {
                routewarden_core::finding::Status::Exempted => exempted += 1,
                routewarden_core::finding::Status::Indeterminate => {
                    indeterminate += 1;
                    if fail_on_indeterminate {
                        failing += 1;
                    }
                }
                status => {
                    if status == routewarden_core::finding::Status::ExpiredExemption {
                        expired += 1;
                    }
                    violations += 1;
                    *by_severity.entry(finding.severity()).or_default() += 1;
                    if fail_on.fails(finding.severity()) {
                        failing += 1;
                    }
                }
            }
        }
        Summary {
            apis: outcome.inventory.apis.len(),
            routes: outcome.routes,
            rules: outcome.rules.len(),
            violations,
            by_severity,
            exempted,
            expired_exemptions: expired,
            indeterminate,
            errors: outcome.errors.len(),
            complete: outcome.errors.is_empty(),
            fail_on,
            failing,
        }
    }

    pub fn verdict(&self) -> Verdict {
        if self.failing > 0 {
            Verdict::Fail
        } else if !self.complete {
            Verdict::Incomplete
        } else {
            Verdict::Pass
        }
    }
}

/// Writes the report. `color` applies to text only.
pub fn write(
    format: Format,
    outcome: &Outcome,
    summary: &Summary,
    out: &mut dyn io::Write,
    color: bool,
) -> io::Result<()> {
    match format {
        Format::Text => text::write(outcome, summary, out, color),
        Format::Json => json::write(outcome, summary, out),
        Format::Sarif => sarif::write(outcome, out),
        Format::Junit => junit::write(outcome, out),
        Format::Html => html::write(outcome, summary, out),
    }
}

/// `name (id)` or just `id` where the name is unknown.
fn api_label(api_id: &str, api_name: Option<&str>) -> String {
    match api_name {
        Some(name) => format!("{name} ({api_id})"),
        None => api_id.to_owned(),
    }
}

/// What a finding is about, where a route's key would be shown: the route
/// key, `stage NAME`, or `(API)`. Not escaped.
fn subject_label(f: &Finding) -> Cow<'_, str> {
    match f.subject {
        Subject::Route => Cow::Borrowed(&f.route_key),
        Subject::Stage => Cow::Owned(format!("stage {}", f.stage.as_deref().unwrap_or(""))),
        Subject::Api => Cow::Borrowed("(API)"),
    }
}

/// What tells a finding apart from the API's other findings of its rule:
/// the route key, `stage NAME`, `(API)`, or for drift on the API the part it
/// names (``authorizer `abc1` ``, `API settings`). Not escaped.
fn subject_name(f: &Finding) -> Cow<'_, str> {
    match routewarden_core::drift::part_of(f) {
        Some(part) => Cow::Borrowed(part),
        None => subject_label(f),
    }
}

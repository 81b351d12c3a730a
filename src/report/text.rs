//! The text report, for people: findings grouped by API, the fix for each
//! failing rule once, then a summary line. Colour only when asked (a terminal).
//! Every string that comes from a file or from AWS is shown through
//! [`sanitize::escape`](routewarden_core::sanitize::escape), so that it cannot move the
//! cursor, retitle the window or reorder the line; error messages are clipped.

use std::collections::HashMap;
use std::io;

use anstyle::{AnsiColor, Style};

use super::{Summary, Verdict, api_label, subject_label};
use crate::audit::Outcome;
use routewarden_core::finding::Severity;
use routewarden_core::finding::{Finding, Status};
use routewarden_core::sanitize::{clip_escaped, escape};

/// Bytes of an error message shown in "Could not audit".
const ERROR_MESSAGE_MAX: usize = 1024;

struct Painter {
    color: bool,
}

impl Painter {
    fn paint(&self, style: Style, text: &str) -> String {
        if self.color {
            format!("{style}{text}{style:#}")
        } else {
            text.to_owned()
        }
    }
}

fn severity_style(severity: Severity) -> Style {
    let color = match severity {
        Severity::Critical => return Style::new().bold().fg_color(Some(AnsiColor::Red.into())),
        Severity::High => AnsiColor::Red,
        Severity::Medium => AnsiColor::Yellow,
        Severity::Low => AnsiColor::Cyan,
        Severity::Info => AnsiColor::BrightBlack,
    };
    Style::new().fg_color(Some(color.into()))
}

const DIM: Style = Style::new().dimmed();
const BOLD: Style = Style::new().bold();

pub fn write(
    outcome: &Outcome,
    summary: &Summary,
    out: &mut dyn io::Write,
    color: bool,
) -> io::Result<()> {
    let p = Painter { color };

    // Group by (target, API), in the order the APIs were audited.
    let mut order: Vec<(Option<&str>, &str)> = Vec::new();
    let mut groups: HashMap<(Option<&str>, &str), Vec<&Finding>> = HashMap::new();
    for finding in outcome.all_findings() {
        let key = (finding.target_name.as_deref(), &*finding.api_id);
        groups.entry(key).or_insert_with(|| {
            order.push(key);
            Vec::new()
        });
        groups.get_mut(&key).expect("inserted").push(finding);
    }

    let id_width = outcome
        .all_findings()
        .map(|f| escape(&f.rule.id).chars().count())
        .max()
        .unwrap_or(0)
        .max(5);
    let key_width = outcome
        .all_findings()
        .map(|f| escape(&subject_label(f)).chars().count())
        .max()
        .unwrap_or(0)
        .min(40);
    for key in &order {
        let findings = groups.get_mut(key).expect("grouped");
        // Open violations first, worst first; then indeterminate ones;
        // exempted ones last.
        findings.sort_by_key(|f| {
            (
                f.status == Status::Exempted,
                f.status == Status::Indeterminate,
                std::cmp::Reverse(f.severity()),
            )
        });
        let findings = &*findings;
        let first = findings[0];
        let mut header = p.paint(
            BOLD,
            &escape(&api_label(&first.api_id, first.api_name.as_deref())),
        );
        for part in [first.target_name.as_deref(), first.region.as_deref()]
            .into_iter()
            .flatten()
        {
            header.push_str(&p.paint(DIM, &format!(" · {}", escape(part))));
        }
        writeln!(out, "{header}")?;
        for f in findings {
            let (tag, style) = match f.status {
                Status::Violation => (f.severity().as_str(), severity_style(f.severity())),
                Status::Exempted => (
                    "exempted",
                    Style::new().fg_color(Some(AnsiColor::Green.into())),
                ),
                Status::ExpiredExemption => (f.severity().as_str(), severity_style(f.severity())),
                Status::Indeterminate => (
                    "unknown",
                    Style::new().fg_color(Some(AnsiColor::Cyan.into())),
                ),
            };
            writeln!(
                out,
                "  {} {:<id_width$} {:<key_width$}  {}",
                p.paint(style, &format!("{tag:<8}")),
                escape(&f.rule.id),
                escape(&subject_label(f)),
                escape(&f.rule.title),
            )?;
            let indent = " ".repeat(11);
            // Code has places worth clicking: `file:line:col`.
            if let Some(at) = &f.location
                && at.column.is_some()
            {
                writeln!(out, "{indent}{}", p.paint(DIM, &escape(&at.to_string())))?;
            }
            match (&f.status, &f.exemption) {
                (Status::Exempted, Some(e)) => {
                    writeln!(
                        out,
                        "{indent}{}",
                        p.paint(DIM, &format!("exempted: {}", exemption_note(e)))
                    )?;
                }
                (Status::ExpiredExemption, Some(e)) => {
                    writeln!(out, "{indent}{}", p.paint(DIM, &escape(&f.message)))?;
                    let note = format!("exemption expired: {}", exemption_note(e));
                    writeln!(
                        out,
                        "{indent}{}",
                        p.paint(
                            Style::new().fg_color(Some(AnsiColor::Magenta.into())),
                            &note
                        )
                    )?;
                }
                _ => writeln!(out, "{indent}{}", p.paint(DIM, &escape(&f.message)))?,
            }
        }
        writeln!(out)?;
    }

    // The fix for each rule with an open violation, once.
    let mut fixes: Vec<&Finding> = Vec::new();
    for f in outcome.all_findings().filter(|f| f.status.is_open()) {
        if f.rule.remediation.is_some() && !fixes.iter().any(|g| g.rule.id == f.rule.id) {
            fixes.push(f);
        }
    }
    fixes.sort_by_key(|f| std::cmp::Reverse(f.severity()));
    if !fixes.is_empty() {
        writeln!(out, "{}", p.paint(BOLD, "How to fix"))?;
        for f in fixes {
            let remediation = f.rule.remediation.as_deref().unwrap_or_default();
            // A remediation may have lines of its own: each is escaped, and
            // continues under the first.
            let indent = format!("\n  {:id_width$} ", "");
            let lines: Vec<_> = remediation.trim().lines().map(escape).collect();
            writeln!(
                out,
                "  {:<id_width$} {}",
                escape(&f.rule.id),
                lines.join(&indent)
            )?;
        }
        writeln!(out)?;
    }

    let review: Vec<_> = outcome
        .exemptions
        .iter()
        .filter(|e| e.needs_review())
        .collect();
    if !review.is_empty() {
        writeln!(out, "{}", p.paint(BOLD, "Exemptions to review"))?;
        for e in review {
            let at = e
                .info
                .location
                .as_ref()
                .map(|at| escape(&at.to_string()).into_owned())
                .unwrap_or_default();
            let why = match (e.matched, e.days_left) {
                (0, _) => {
                    "matches nothing in this audit: remove it, or fix its patterns".to_owned()
                }
                (n, Some(days)) => format!(
                    "expires {} ({}), still matches {n} finding{}",
                    e.info.expires.map(|d| d.to_string()).unwrap_or_default(),
                    match days {
                        0 => "today".to_owned(),
                        1 => "tomorrow".to_owned(),
                        d => format!("in {d} days"),
                    },
                    if n == 1 { "" } else { "s" }
                ),
                (_, None) => String::new(),
            };
            writeln!(out, "  {} {at} {why}", escape(&e.info.label))?;
        }
        writeln!(out)?;
    }

    let down: Vec<_> = outcome.accounts.iter().filter(|a| !a.up()).collect();
    if !down.is_empty() {
        writeln!(out, "{}", p.paint(BOLD, "Accounts not audited"))?;
        for status in down {
            let a = &status.account;
            let name = a.name.as_deref().map(|n| format!(" ({})", escape(n)));
            for cause in &status.causes {
                writeln!(
                    out,
                    "  {}/{}{}: {} ({}): {}",
                    escape(a.organization.as_deref().unwrap_or("-")),
                    escape(&a.id),
                    name.as_deref().unwrap_or(""),
                    cause.kind.label(),
                    cause.operation.label(),
                    clip_escaped(&cause.message, ERROR_MESSAGE_MAX)
                )?;
            }
        }
        writeln!(out)?;
    }

    if !outcome.errors.is_empty() {
        writeln!(out, "{}", p.paint(BOLD, "Could not audit"))?;
        for e in &outcome.errors {
            let target = match (&e.target_name, &e.organization) {
                (Some(target), _) => escape(target),
                (None, Some(organization)) => {
                    format!("organization {}", escape(organization)).into()
                }
                (None, None) => "-".into(),
            };
            let api = match (&e.api_id, &e.target_name) {
                (Some(api), _) => escape(api),
                (None, Some(_)) => "(discovery)".into(),
                (None, None) => "(listing)".into(),
            };
            writeln!(
                out,
                "  {target} {api} {}: {}",
                e.operation.label(),
                clip_escaped(&e.message, ERROR_MESSAGE_MAX)
            )?;
        }
        writeln!(out)?;
    }

    writeln!(out, "{}", summary_line(summary, &p))
}

fn exemption_note(e: &routewarden_core::policy::ExemptionInfo) -> String {
    let mut note = escape(e.reason.trim()).into_owned();
    let mut extra = Vec::new();
    if let Some(owner) = &e.owner {
        extra.push(format!("owner {}", escape(owner)));
    }
    if let Some(expires) = e.expires {
        extra.push(format!("expires {expires}"));
    }
    if !extra.is_empty() {
        note.push_str(&format!(" ({})", extra.join(", ")));
    }
    note
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn summary_line(s: &Summary, p: &Painter) -> String {
    let mut line = format!(
        "{}, {}, {}: ",
        plural(s.apis, "API", "APIs"),
        plural(s.routes, "route", "routes"),
        plural(s.rules, "rule", "rules"),
    );
    line.push_str(&plural(s.violations, "violation", "violations"));
    let by: Vec<String> = Severity::ALL
        .iter()
        .filter(|sev| s.by_severity[sev] > 0)
        .map(|sev| {
            p.paint(
                severity_style(*sev),
                &format!("{} {sev}", s.by_severity[sev]),
            )
        })
        .collect();
    if !by.is_empty() {
        line.push_str(&format!(" ({})", by.join(", ")));
    }
    line.push_str(&format!(
        ", {} exempted, {}",
        s.exempted,
        plural(
            s.expired_exemptions,
            "expired exemption",
            "expired exemptions"
        )
    ));
    if s.errors > 0 {
        line.push_str(&format!(
            ", {} (audit incomplete)",
            plural(s.errors, "read error", "read errors")
        ));
    }
    let verdict = match s.verdict() {
        Verdict::Pass => p.paint(
            Style::new().bold().fg_color(Some(AnsiColor::Green.into())),
            "PASS",
        ),
        Verdict::Fail => p.paint(
            Style::new().bold().fg_color(Some(AnsiColor::Red.into())),
            "FAIL",
        ),
        Verdict::Incomplete => p.paint(
            Style::new().bold().fg_color(Some(AnsiColor::Yellow.into())),
            "INCOMPLETE",
        ),
    };
    let threshold = match s.fail_on {
        super::FailOn::Never => "never fails".to_owned(),
        super::FailOn::Severity(sev) => format!("fails at {sev} and above"),
    };
    format!("{line} · {threshold}: {verdict}")
}

//! Policy unit tests (`routewarden test`, docs/policy-tests.md): TOML files
//! of cases, each an input (APIs inline in fleet-file shape, or a fleet
//! file, get-routes output or infrastructure-as-code path) and the outcome
//! expected of each rule on each route, stage or API:
//! `violation`, `pass`, `exempted`, `not_applicable` or `indeterminate`.
//!
//! A case fails when an expectation is not met, and when the policies under
//! test find something it does not expect: no silent extra matches. A test
//! file that does not load (a key, an outcome or a rule id that is not
//! known, an input that does not load) is a [`LoadError`] with positions.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::{PolicySet, PolicySource};
use crate::diag::{self, Cursor, Diagnostics, LoadError};
use crate::finding::{Finding, Status, Subject};
use crate::iac;
use crate::inventory::{self, Api};

/// The outcomes a case may expect.
pub const OUTCOMES: &[&str] = &[
    "violation",
    "pass",
    "exempted",
    "not_applicable",
    "indeterminate",
];

const TOP_KEYS: &[&str] = &["policies", "cases"];
const CASE_KEYS: &[&str] = &["name", "today", "input", "apis", "iac_params", "expect"];
const EXPECT_KEYS: &[&str] = &["rule", "api", "route_key", "stage", "outcome"];

/// Whether a path names a policy test file: `*_test.toml`.
pub fn is_test_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.to_ascii_lowercase().ends_with("_test.toml"))
}

/// A loaded test file, ready to run.
pub struct TestFile {
    pub path: PathBuf,
    /// The policies under test.
    pub policies: PolicySet,
    pub cases: Vec<Case>,
}

pub struct Case {
    pub name: String,
    /// `file:line` of the case.
    pub at: String,
    pub today: time::Date,
    pub apis: Vec<Api>,
    pub expect: Vec<Expect>,
}

/// One expected outcome.
#[derive(Debug, Clone)]
pub struct Expect {
    pub rule: Arc<str>,
    /// API id or name; `None`: any API of the input.
    pub api: Option<String>,
    pub subject: Target,
    pub outcome: &'static str,
    /// `file:line` of the expectation.
    pub at: String,
}

/// What an expectation is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Route(String),
    Stage(String),
    Api,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Route(key) => write!(f, "route `{key}`"),
            Target::Stage(name) => write!(f, "stage `{name}`"),
            Target::Api => f.write_str("the API"),
        }
    }
}

/// What running a case found.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub name: String,
    pub at: String,
    /// Empty: passed.
    pub failures: Vec<String>,
}

/// Loads a test file: its policies, every case's input and expectations.
/// `today` is the day cases without their own are judged on.
pub fn load(path: &Path, today: time::Date) -> Result<TestFile, LoadError> {
    let mut diags = Diagnostics::new();
    let Some(file) = diag::read_file(&mut diags, path) else {
        return Err(LoadError(diags));
    };
    let text = diags.source(file).to_owned();
    let base = path.parent().unwrap_or(Path::new("")).to_path_buf();
    let Some(doc) = diag::parse_toml(&mut diags, file, &text) else {
        return Err(LoadError(diags));
    };
    let mut cur = Cursor {
        diags: &mut diags,
        file,
        context: None,
    };
    let table = doc.get_ref();
    cur.deny_unknown_keys(table, TOP_KEYS, "a policy test file");
    let sources = policy_sources(&mut cur, table, path, &base);
    let policies = match PolicySet::load(&sources) {
        Ok(policies) => Some(policies),
        Err(err) => {
            let name = cur.diags.name(file).to_owned();
            cur.error(
                table.get("policies").map_or(0..0, Spanned::span),
                format_args!("the policies under test do not load ({name})"),
                first_problem(&err),
            );
            None
        }
    };
    let mut cases = Vec::new();
    match table.get("cases") {
        None => cur.error(
            0..0,
            "a policy test file needs [[cases]]",
            "add [[cases]] with an input and `expect`",
        ),
        Some(value) => {
            if let Some(items) = cur.array(value, "cases") {
                for item in items {
                    if let Some(case) = case(&mut cur, item, &base, today, policies.as_ref()) {
                        cases.push(case);
                    }
                    cur.context = None;
                }
            }
        }
    }
    if !diags.is_empty() {
        return Err(LoadError(diags));
    }
    Ok(TestFile {
        path: path.to_path_buf(),
        policies: policies.expect("no problem, so loaded"),
        cases,
    })
}

/// The first problem of a load error, for a label.
fn first_problem(err: &LoadError) -> String {
    err.0
        .problems()
        .first()
        .map(|p| format!("{}: {}", err.0.position(p), p.message))
        .unwrap_or_default()
}

/// `policies = [...]`, relative to the test file; by default the file the
/// test file is named after (`authentication_test.toml` tests
/// `authentication.toml`).
fn policy_sources(
    cur: &mut Cursor<'_>,
    table: &DeTable<'_>,
    path: &Path,
    base: &Path,
) -> Vec<PolicySource> {
    if let Some(v) = table.get("policies") {
        return cur
            .strings(v, "policies")
            .map(|list| list.iter().map(|p| PolicySource::parse(p, base)).collect())
            .unwrap_or_default();
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let stem = &name[..name.len().saturating_sub("_test.toml".len())];
    let sibling = base.join(format!("{stem}.toml"));
    if !sibling.is_file() {
        cur.error(
            0..0,
            format_args!(
                "no `policies` given, and no {} beside this test file",
                sibling.display()
            ),
            "add policies = [\"file.toml\"] (or \"builtin\")",
        );
        return Vec::new();
    }
    vec![PolicySource::Path(sibling)]
}

/// `file:line` of an offset of the test file: where a case or an
/// expectation is, as results name it.
fn file_line(cur: &Cursor<'_>, offset: usize) -> String {
    format!(
        "{}:{}",
        cur.diags.name(cur.file),
        cur.diags.line(cur.file, offset)
    )
}

fn case(
    cur: &mut Cursor<'_>,
    item: &Spanned<DeValue<'_>>,
    base: &Path,
    default_today: time::Date,
    policies: Option<&PolicySet>,
) -> Option<Case> {
    let table = cur.table(item, "cases")?;
    let span = item.span();
    let at = file_line(cur, span.start);
    let name = cur
        .required(table, "name", span.clone(), "a case")
        .and_then(|v| cur.string(v, "name"))
        .map(str::to_owned);
    if let Some(name) = &name {
        cur.context = Some(format!("case `{name}`"));
    }
    cur.deny_unknown_keys(table, CASE_KEYS, "a case");
    let today = match table.get("today") {
        None => Some(default_today),
        Some(v) => date(cur, v),
    };
    let mut params = BTreeMap::new();
    if let Some(v) = table.get("iac_params")
        && let Some(t) = cur.table(v, "iac_params")
    {
        for (key, value) in t {
            if let Some(text) = cur.string(value, "iac_params") {
                params.insert(key.get_ref().to_string(), text.to_owned());
            }
        }
    }
    let apis = match (table.get("input"), table.get("apis")) {
        (Some(_), Some(v)) => {
            cur.error(
                v.span(),
                "a case takes `input` or `apis`, not both",
                "remove one of them",
            );
            None
        }
        (None, None) => {
            cur.error(
                span.clone(),
                "a case needs an `input` path or inline `apis`",
                "add input = \"fleet.json\" or apis = [...]",
            );
            None
        }
        (Some(v), None) => {
            let path = cur.string(v, "input").map(|p| base.join(p));
            path.and_then(|p| input(cur, v.span(), &p, params))
        }
        (None, Some(v)) => inline(cur, v),
    };
    let expect = cur
        .required(table, "expect", span, "a case")
        .and_then(|v| cur.array(v, "expect"))
        .map(|items| {
            items
                .iter()
                .filter_map(|item| expectation(cur, item, policies))
                .collect::<Vec<_>>()
        });
    Some(Case {
        name: name?,
        at,
        today: today?,
        apis: apis?,
        expect: expect?,
    })
}

/// A TOML date (`today = 2026-06-01`).
fn date(cur: &mut Cursor<'_>, v: &Spanned<DeValue<'_>>) -> Option<time::Date> {
    if let DeValue::Datetime(dt) = v.get_ref()
        && dt.time.is_none()
        && let Some(d) = dt.date
        && let Ok(month) = time::Month::try_from(d.month)
        && let Ok(date) = time::Date::from_calendar_date(i32::from(d.year), month, d.day)
    {
        return Some(date);
    }
    cur.error(
        v.span(),
        "`today` must be a TOML date",
        "expected a bare date: today = 2026-06-01",
    );
    None
}

/// APIs of an input path: a fleet file or get-routes output (`.json` that
/// reads as one), else infrastructure as code. Its problems are reported
/// at the `input` value, with the first of them.
fn input(
    cur: &mut Cursor<'_>,
    span: std::ops::Range<usize>,
    path: &Path,
    params: BTreeMap<String, String>,
) -> Option<Vec<Api>> {
    let fleet = path.extension().is_some_and(|e| e == "json") && {
        std::fs::read_to_string(path)
            .is_ok_and(|t| t.contains("\"Apis\"") || t.contains("\"Items\""))
    };
    let loaded = if fleet {
        let mut diags = Diagnostics::new();
        match inventory::load_routes_file(&mut diags, path) {
            Some((apis, _)) if diags.is_empty() => Ok(apis),
            _ => Err(LoadError(diags)),
        }
    } else {
        iac::load(&[path.to_path_buf()], &iac::Options { params }).map(|read| read.apis)
    };
    match loaded {
        Ok(apis) => Some(apis),
        Err(err) => {
            cur.error(
                span,
                format_args!("the input {} does not load", path.display()),
                first_problem(&err),
            );
            None
        }
    }
}

/// Inline `apis`, in fleet-file shape (`ApiId`, `Routes`, ...).
fn inline(cur: &mut Cursor<'_>, v: &Spanned<DeValue<'_>>) -> Option<Vec<Api>> {
    let text = &cur.diags.source(cur.file)[v.span()];
    let value: Result<toml::Value, _> = toml::from_str(&format!("apis = {text}"))
        .map(|mut t: toml::Table| t.remove("apis").unwrap_or(toml::Value::Array(Vec::new())));
    let json = value.map_err(|e| e.to_string()).and_then(|v| {
        serde_json::to_string(&serde_json::json!({ "Apis": v })).map_err(|e| e.to_string())
    });
    let parsed = json.and_then(|json| {
        let mut diags = Diagnostics::new();
        let file = diags.add_file("apis", json);
        inventory::parse_routes(&mut diags, file, "apis")
            .filter(|_| diags.is_empty())
            .ok_or_else(|| first_problem(&LoadError(diags)))
    });
    match parsed {
        Ok(apis) => Some(apis),
        Err(why) => {
            cur.error(
                v.span(),
                "`apis` is not a list of APIs in fleet-file shape",
                why,
            );
            None
        }
    }
}

fn expectation(
    cur: &mut Cursor<'_>,
    item: &Spanned<DeValue<'_>>,
    policies: Option<&PolicySet>,
) -> Option<Expect> {
    let table = cur.table(item, "expect")?;
    let span = item.span();
    cur.deny_unknown_keys(table, EXPECT_KEYS, "an expectation");
    let at = file_line(cur, span.start);
    let rule = cur
        .required(table, "rule", span.clone(), "an expectation")
        .and_then(|v| {
            let id = cur.string(v, "rule")?;
            if let Some(policies) = policies
                && !policies.rules.iter().any(|r| &*r.info.id == id)
            {
                let ids: Vec<&str> = policies.rules.iter().map(|r| &*r.info.id).collect();
                let hint = nearest(id, &ids)
                    .map(|c| format!("did you mean `{c}`?"))
                    .unwrap_or_else(|| {
                        format!("the policies under test define: {}", ids.join(", "))
                    });
                cur.error(v.span(), format_args!("unknown rule id `{id}`"), hint);
                return None;
            }
            Some(Arc::<str>::from(id))
        });
    let outcome = cur
        .required(table, "outcome", span.clone(), "an expectation")
        .and_then(|v| {
            let text = cur.string(v, "outcome")?;
            match OUTCOMES.iter().find(|o| **o == text) {
                Some(o) => Some(*o),
                None => {
                    let hint = nearest(text, OUTCOMES)
                        .map(|c| format!("did you mean `{c}`? "))
                        .unwrap_or_default();
                    cur.error(
                        v.span(),
                        format_args!("unknown outcome `{text}`"),
                        format!("{hint}expected one of: {}", OUTCOMES.join(", ")),
                    );
                    None
                }
            }
        });
    let text = |cur: &mut Cursor<'_>, key: &str| {
        table
            .get(key)
            .and_then(|v| cur.string(v, key))
            .map(str::to_owned)
    };
    let api = text(cur, "api");
    let subject = match (text(cur, "route_key"), text(cur, "stage")) {
        (Some(_), Some(_)) => {
            cur.error(
                span,
                "an expectation names a `route_key` or a `stage`, not both",
                "neither: the API itself",
            );
            return None;
        }
        (Some(key), None) => Target::Route(key),
        (None, Some(stage)) => Target::Stage(stage),
        (None, None) => Target::Api,
    };
    Some(Expect {
        rule: rule?,
        api,
        subject,
        outcome: outcome?,
        at,
    })
}

impl TestFile {
    /// Runs every case.
    pub fn run(&self) -> Vec<CaseResult> {
        self.cases.iter().map(|c| self.run_case(c)).collect()
    }

    /// The rules under test that an expectation names.
    pub fn covered(&self) -> BTreeSet<Arc<str>> {
        self.cases
            .iter()
            .flat_map(|c| c.expect.iter().map(|e| e.rule.clone()))
            .collect()
    }

    fn run_case(&self, case: &Case) -> CaseResult {
        let mut findings: Vec<Finding> = Vec::new();
        for api in &case.apis {
            self.policies.evaluate(api, case.today, &mut findings);
        }
        let mut used = vec![false; findings.len()];
        let mut failures = Vec::new();
        for expect in &case.expect {
            let apis: Vec<&Api> = case
                .apis
                .iter()
                .filter(|api| {
                    expect
                        .api
                        .as_deref()
                        .is_none_or(|a| &*api.api_id == a || api.name.as_deref() == Some(a))
                })
                .filter(|api| match &expect.subject {
                    Target::Route(key) => api.routes.iter().any(|r| &r.route_key == key),
                    Target::Stage(name) => {
                        api.stages.iter().flatten().any(|s| &s.stage_name == name)
                    }
                    Target::Api => true,
                })
                .collect();
            let [api] = apis.as_slice() else {
                failures.push(format!(
                    "{}: {} of {} is in {} APIs of the input, not one{}",
                    expect.at,
                    expect.subject,
                    expect.api.as_deref().unwrap_or("any API"),
                    apis.len(),
                    if apis.len() > 1 {
                        ": name one with `api`"
                    } else {
                        ""
                    }
                ));
                continue;
            };
            let found = findings.iter().enumerate().find(|(_, f)| {
                f.rule.id == expect.rule && f.api_id == api.api_id && about(f, &expect.subject)
            });
            let actual = match found {
                Some((i, f)) => {
                    used[i] = true;
                    match f.status {
                        Status::Violation | Status::ExpiredExemption => "violation",
                        Status::Exempted => "exempted",
                        Status::Indeterminate => "indeterminate",
                    }
                }
                None => self.quiet_outcome(api, expect),
            };
            if actual != expect.outcome {
                failures.push(format!(
                    "{}: expected {} {} on {}, got {actual}",
                    expect.at, expect.rule, expect.outcome, expect.subject
                ));
            }
        }
        for (f, used) in findings.iter().zip(used) {
            if !used {
                let subject = match f.subject {
                    Subject::Route => Target::Route(f.route_key.clone()),
                    Subject::Stage => Target::Stage(f.stage.as_deref().unwrap_or("").to_owned()),
                    Subject::Api => Target::Api,
                };
                failures.push(format!(
                    "{}: unexpected {} {} on {} of API {} (add it to `expect`)",
                    case.at,
                    f.rule.id,
                    f.status.as_str(),
                    subject,
                    f.api_id
                ));
            }
        }
        CaseResult {
            name: case.name.clone(),
            at: case.at.clone(),
            failures,
        }
    }

    /// The outcome of a rule that found nothing on the subject: `pass`, or
    /// `not_applicable` where its `when` does not hold, it is about another
    /// kind of subject, it is disabled, or the API lacks what it reads.
    fn quiet_outcome(&self, api: &Api, expect: &Expect) -> &'static str {
        let Some(rule) = self
            .policies
            .rules
            .iter()
            .find(|r| r.info.id == expect.rule)
        else {
            return "not_applicable";
        };
        if !rule.info.enabled || !rule.needs.met_by(api) {
            return "not_applicable";
        }
        let ctx = super::Context::of(api);
        let applies = match (&expect.subject, rule.info.subject) {
            (Target::Route(key), Subject::Route) => api
                .routes
                .iter()
                .find(|r| &r.route_key == key)
                .is_some_and(|r| judge_when(rule, &ctx.route(r))),
            (Target::Stage(name), Subject::Stage) => api
                .stages
                .iter()
                .flatten()
                .find(|s| &s.stage_name == name)
                .is_some_and(|s| judge_when(rule, &ctx.stage(s))),
            (Target::Api, Subject::Api) => judge_when(rule, &ctx),
            _ => false,
        };
        if applies { "pass" } else { "not_applicable" }
    }
}

/// Whether the rule's `when` holds (or may: an unknown value counts).
fn judge_when(rule: &super::Rule, ctx: &super::Context<'_>) -> bool {
    rule.when
        .as_ref()
        .is_none_or(|w| w.judge(ctx) != Some(false))
}

/// The value a misspelt one most likely meant, by edit distance.
fn nearest<'v>(text: &str, values: &[&'v str]) -> Option<&'v str> {
    values
        .iter()
        .map(|v| (strsim::levenshtein(text, v), *v))
        .filter(|(distance, v)| *distance <= (v.len() / 3).max(1))
        .min()
        .map(|(_, v)| v)
}

/// Whether a finding is about the subject.
fn about(f: &Finding, subject: &Target) -> bool {
    match subject {
        Target::Route(key) => f.subject == Subject::Route && &f.route_key == key,
        Target::Stage(name) => f.subject == Subject::Stage && f.stage.as_deref() == Some(name),
        Target::Api => f.subject == Subject::Api,
    }
}

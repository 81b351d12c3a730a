//! Policies: the rule model, loading and compiling policy files, evaluation,
//! exemptions, and the built-in pack.
//!
//! Loading does all the work once: keys are checked, operators type-checked,
//! regexes and globs compiled. Evaluation ([`PolicySet::evaluate_route`]) is
//! then a pure function of a route and its context. The engine does no I/O
//! beyond reading the policy files it is given, and knows no AWS client.

mod builtin;
mod compile;
pub mod eval;
pub mod field;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::diag::{self, Cursor, Diagnostics, LoadError};
pub use crate::finding::Severity;
use crate::finding::{Finding, Status, Subject};
use crate::inventory::{Api, Needs, Route};
pub use builtin::BUILTIN_FILES;
pub use eval::Condition;
pub use field::Context;

/// What reports say about a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleInfo {
    pub id: Arc<str>,
    pub title: Arc<str>,
    pub severity: Severity,
    pub description: Option<Arc<str>>,
    pub remediation: Option<Arc<str>>,
    pub enabled: bool,
    /// What the rule evaluates: routes (the default), APIs or stages.
    pub subject: Subject,
}

/// A compiled rule: a route that satisfies `when` (or any route, without it)
/// and does not satisfy `require` violates it.
#[derive(Debug, Clone)]
pub struct Rule {
    pub info: Arc<RuleInfo>,
    pub when: Option<Condition>,
    pub require: Condition,
}

impl Rule {
    /// Whether the rule applies to the route.
    #[inline]
    pub fn applies(&self, route: &Route, ctx: &Context<'_>) -> bool {
        self.when.as_ref().is_none_or(|when| when.holds(route, ctx))
    }

    /// Whether the route violates the rule. Allocates nothing.
    #[inline]
    pub fn violated_by(&self, route: &Route, ctx: &Context<'_>) -> bool {
        self.applies(route, ctx) && !self.require.holds(route, ctx)
    }

    /// Why a violating route fails `require`, e.g. `authorization_type is "NONE", expected ne "NONE"`.
    pub fn explain(&self, route: &Route, ctx: &Context<'_>) -> String {
        self.require.explain(route, ctx)
    }
}

/// What reports say about an exemption.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExemptionInfo {
    /// A rule id, or `*`.
    pub rule: Arc<str>,
    pub reason: Arc<str>,
    pub owner: Option<Arc<str>>,
    /// From this day on (UTC) the exemption no longer applies.
    #[serde(serialize_with = "serialize_date")]
    pub expires: Option<time::Date>,
}

fn serialize_date<S: serde::Serializer>(
    date: &Option<time::Date>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match date {
        Some(date) => s.collect_str(date),
        None => s.serialize_none(),
    }
}

/// A compiled exemption; an absent matcher matches anything.
#[derive(Debug, Clone)]
pub struct Exemption {
    pub info: Arc<ExemptionInfo>,
    pub api: Option<eval::Glob>,
    pub route_key: Option<eval::Glob>,
    pub target_name: Option<eval::Glob>,
}

impl Exemption {
    /// Whether it covers a route of an API (matched by id or by name).
    pub fn covers(&self, route: &Route, ctx: &Context<'_>) -> bool {
        let api = self.api.as_ref().is_none_or(|glob| {
            glob.is_match(ctx.api_id) || ctx.api_name.is_some_and(|name| glob.is_match(name))
        });
        api && self
            .route_key
            .as_ref()
            .is_none_or(|g| g.is_match(&route.route_key))
            && self
                .target_name
                .as_ref()
                .is_none_or(|g| ctx.target_name.is_some_and(|t| g.is_match(t)))
    }

    fn is_active(&self, today: time::Date) -> bool {
        self.info.expires.is_none_or(|expires| today < expires)
    }
}

/// How a violation stands against the exemptions.
#[derive(Debug, Clone)]
pub enum Exempted {
    /// No exemption matched.
    No,
    /// An active exemption covers it.
    Active(Arc<ExemptionInfo>),
    /// Only expired exemptions match: the violation counts again.
    Expired(Arc<ExemptionInfo>),
}

/// Where a policy comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicySource {
    /// The pack compiled into the binary.
    Builtin,
    /// A file, or a directory whose `*.toml` files load in name order.
    Path(PathBuf),
}

impl PolicySource {
    /// `builtin` names the built-in pack; anything else is a path.
    pub fn parse(text: &str, base: &Path) -> PolicySource {
        if text == "builtin" {
            PolicySource::Builtin
        } else {
            PolicySource::Path(base.join(text))
        }
    }
}

impl fmt::Display for PolicySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicySource::Builtin => f.write_str("builtin"),
            PolicySource::Path(path) => write!(f, "{}", path.display()),
        }
    }
}

/// Every loaded rule (enabled or not) and exemption.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    pub rules: Vec<Rule>,
    pub exemptions: Vec<Exemption>,
    /// For each rule, the exemptions naming it or `*`, in file order.
    by_rule: Vec<Vec<usize>>,
}

impl PolicySet {
    /// What the enabled rules read beyond routes and API settings: an audit
    /// makes GetAuthorizers, GetIntegrations and GetStages calls only for
    /// what is needed.
    pub fn needs(&self) -> Needs {
        Needs::default()
    }

    /// Appends the findings of one API's routes against every enabled rule,
    /// with exemptions applied; `today` (UTC) decides which have expired.
    /// Pure: the same API, policies and day give the same findings.
    pub fn evaluate(&self, api: &Api, today: time::Date, out: &mut Vec<Finding>) {
        let ctx = Context::of(api);
        for route in &api.routes {
            for (index, rule) in self.enabled() {
                if !rule.violated_by(route, &ctx) {
                    continue;
                }
                let (status, exemption) = match self.exemption_for(index, route, &ctx, today) {
                    Exempted::No => (Status::Violation, None),
                    Exempted::Active(e) => (Status::Exempted, Some(e)),
                    Exempted::Expired(e) => (Status::ExpiredExemption, Some(e)),
                };
                out.push(Finding::new(
                    api,
                    route,
                    rule.info.clone(),
                    status,
                    rule.explain(route, &ctx),
                    exemption,
                ));
            }
        }
    }

    /// Loads and compiles policies; all problems of all files are reported together.
    pub fn load(sources: &[PolicySource]) -> Result<PolicySet, LoadError> {
        let mut diags = Diagnostics::new();
        let mut files = Vec::new();
        for source in sources {
            match source {
                PolicySource::Builtin => {
                    for (name, text) in BUILTIN_FILES {
                        files.push(diags.add_file(format!("builtin/{name}"), *text));
                    }
                }
                PolicySource::Path(path) => files.extend(read_policy_path(&mut diags, path)),
            }
        }
        Self::compile(diags, files)
    }

    /// Compiles policy text that is not in a file (tests, fuzzing); `name`
    /// stands for the file in diagnostics.
    pub fn load_str(name: &str, text: &str) -> Result<PolicySet, LoadError> {
        let mut diags = Diagnostics::new();
        let file = diags.add_file(name, text);
        Self::compile(diags, vec![file])
    }

    fn compile(mut diags: Diagnostics, files: Vec<diag::FileId>) -> Result<PolicySet, LoadError> {
        let mut rules: Vec<(Rule, diag::FileId, std::ops::Range<usize>)> = Vec::new();
        let mut drafts = Vec::new();
        for &file in &files {
            let text = diags.source(file).to_owned();
            let Some(doc) = diag::parse_toml(&mut diags, file, &text) else {
                continue;
            };
            let mut cur = Cursor {
                diags: &mut diags,
                file,
                context: None,
            };
            let items = compile::file(&mut cur, &doc);
            for (rule, span) in items.rules {
                let first = rules.iter().find(|(r, _, _)| r.info.id == rule.info.id);
                if let Some((_, first_file, first_span)) = first {
                    let problem = diag::Problem {
                        file: *first_file,
                        span: first_span.clone(),
                        message: String::new(),
                        label: String::new(),
                    };
                    let first_at = diags.position(&problem);
                    diags.push(
                        file,
                        span,
                        format!("duplicate rule id `{}`", rule.info.id),
                        format!("first defined at {first_at}"),
                    );
                } else {
                    rules.push((rule, file, span));
                }
            }
            drafts.extend(items.exemptions.into_iter().map(|d| (d, file)));
        }
        let mut exemptions = Vec::with_capacity(drafts.len());
        for (draft, file) in drafts {
            let rule = &draft.exemption.info.rule;
            if &**rule != "*" && !rules.iter().any(|(r, _, _)| r.info.id == *rule) {
                diags.push(
                    file,
                    draft.rule_span,
                    format!("exemption names unknown rule `{rule}`"),
                    "expected a loaded rule id, or \"*\" for every rule",
                );
            }
            exemptions.push(draft.exemption);
        }
        if diags.is_empty() && !rules.iter().any(|(r, _, _)| r.info.enabled) {
            // Fail closed: an audit with no rule passes every route.
            let (message, label) = if rules.is_empty() {
                (
                    "no rules loaded: the policies define no [[rules]]",
                    "add rules, or `builtin` for the built-in pack",
                )
            } else {
                (
                    "no enabled rules: every loaded rule has `enabled = false`",
                    "enable a rule, or add `builtin` for the built-in pack",
                )
            };
            let file = match files.first() {
                Some(file) => *file,
                None => diags.add_file("policies", String::new()),
            };
            diags.push(file, 0..0, message, label);
        }
        if !diags.is_empty() {
            return Err(LoadError(diags));
        }
        Ok(PolicySet::new(
            rules.into_iter().map(|(r, _, _)| r).collect(),
            exemptions,
        ))
    }

    /// A set from compiled parts (tests, benchmarks).
    pub fn new(rules: Vec<Rule>, exemptions: Vec<Exemption>) -> PolicySet {
        let by_rule = rules
            .iter()
            .map(|rule| {
                exemptions
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| *e.info.rule == *"*" || e.info.rule == rule.info.id)
                    .map(|(i, _)| i)
                    .collect()
            })
            .collect();
        PolicySet {
            rules,
            exemptions,
            by_rule,
        }
    }

    /// Rules with `enabled = true`.
    pub fn enabled(&self) -> impl Iterator<Item = (usize, &Rule)> {
        self.rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.info.enabled)
    }

    /// How a violation of rule `index` by a route stands: an active exemption
    /// wins over an expired one.
    pub fn exemption_for(
        &self,
        index: usize,
        route: &Route,
        ctx: &Context<'_>,
        today: time::Date,
    ) -> Exempted {
        let mut expired = None;
        for &e in &self.by_rule[index] {
            let exemption = &self.exemptions[e];
            if exemption.covers(route, ctx) {
                if exemption.is_active(today) {
                    return Exempted::Active(exemption.info.clone());
                }
                expired.get_or_insert_with(|| exemption.info.clone());
            }
        }
        expired.map_or(Exempted::No, Exempted::Expired)
    }
}

/// The files of a policy path: the file itself, or a directory's policy
/// files (`*.toml`, any case) by name. Entries that are not regular files
/// (FIFOs, sockets, devices) are skipped with a warning, never opened; a
/// directory with no policy file is an error, not an empty policy.
fn read_policy_path(diags: &mut Diagnostics, path: &Path) -> Vec<diag::FileId> {
    if !path.is_dir() {
        return diag::read_file(diags, path).into_iter().collect();
    }
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(err) => {
            diags.io_error(path, "read directory", &err);
            return Vec::new();
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|p| is_policy_file(p))
        .filter(|p| match diag::regular_file(p) {
            Ok(()) => true,
            Err(err) => {
                tracing::warn!(path = %p.display(), %err, "skipped in a policy directory");
                false
            }
        })
        .collect();
    paths.sort();
    if paths.is_empty() {
        let file = diags.add_file(path.display().to_string(), String::new());
        diags.push(
            file,
            0..0,
            format!(
                "no policy files in {}: it holds no *.toml file",
                path.display()
            ),
            "a policy directory that loads nothing would pass every route",
        );
    }
    paths
        .iter()
        .filter_map(|p| diag::read_file(diags, p))
        .collect()
}

/// Whether a directory entry's name is a policy file's: `*.toml`, any case.
pub fn is_policy_file(path: &Path) -> bool {
    path.extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("toml"))
}

#[cfg(test)]
mod tests;

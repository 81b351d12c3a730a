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
pub mod testing;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::diag::{self, Cursor, Diagnostics, LoadError};
pub use crate::finding::Severity;
use crate::finding::{Finding, Status, Subject};
use crate::inventory::{Api, Needs};
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
    /// What must be read for it to be evaluated (see [`Rule::needs`]).
    #[serde(skip)]
    pub needs: Needs,
}

/// A compiled rule: a route that satisfies `when` (or any route, without it)
/// and does not satisfy `require` violates it.
#[derive(Debug, Clone)]
pub struct Rule {
    pub info: Arc<RuleInfo>,
    pub when: Option<Condition>,
    pub require: Condition,
    /// What must be read for the rule to be evaluated: an API whose
    /// authorizers (say) are unknown is not evaluated by rules on them.
    pub needs: Needs,
}

impl RuleInfo {
    /// Whether the rule is evaluated on the routes of the API: a route rule
    /// whose parts the API holds.
    pub fn judges_routes_of(&self, api: &Api) -> bool {
        self.subject == Subject::Route && self.needs.met_by(api)
    }
}

impl Rule {
    /// Whether the rule applies in the context.
    #[inline]
    pub fn applies(&self, ctx: &Context<'_>) -> bool {
        self.when.as_ref().is_none_or(|when| when.holds(ctx))
    }

    /// Whether the context (a route, an API or a stage, as the rule's
    /// subject says) violates the rule. Allocates nothing.
    #[inline]
    pub fn violated_by(&self, ctx: &Context<'_>) -> bool {
        self.applies(ctx) && !self.require.holds(ctx)
    }

    /// The rule's verdict where the API holds values its code leaves
    /// unknown: `Pass`, `Violated`, or `Indeterminate` naming the first
    /// unknown value the outcome depends on. Equal to [`Rule::violated_by`]
    /// where nothing is unknown.
    pub fn verdict(&self, ctx: &Context<'_>) -> Verdict {
        let applies = self.when.as_ref().map_or(Some(true), |w| w.judge(ctx));
        let holds = self.require.judge(ctx);
        match (applies, holds) {
            (Some(false), _) | (_, Some(true)) => Verdict::Pass,
            (Some(true), Some(false)) => Verdict::Violated,
            _ => {
                let unknown = self
                    .when
                    .iter()
                    .chain(std::iter::once(&self.require))
                    .flat_map(Condition::fields)
                    .find_map(|field| ctx.unknown(field).map(|u| (field.name(), u)));
                let message = match unknown {
                    Some((name, u)) => format!("{name} is not known before deploy: {}", u.reason),
                    None => "depends on a value not known before deploy".to_owned(),
                };
                Verdict::Indeterminate(message)
            }
        }
    }

    /// Why a violation fails `require`, e.g. `authorization_type is "NONE", expected ne "NONE"`.
    pub fn explain(&self, ctx: &Context<'_>) -> String {
        self.require.explain(ctx)
    }
}

/// A rule's outcome on code, where values may be unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Violated,
    /// Why it cannot be decided: which value is unknown, and why.
    Indeterminate(String),
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
    /// Stable across edits of the file that move it, and of its reason and
    /// owner: the rule and a hash of what it matches and when it expires
    /// (`RW001-1a2b3c4d`). Metrics label exemptions with it.
    pub label: Arc<str>,
    /// Its `[[exemptions]]` entry: the policy file and line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<crate::inventory::Location>,
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
    /// Whether it covers what the context holds: a route of an API (the API
    /// matched by id or by name), or an API or a stage (whose route key is
    /// empty).
    pub fn covers(&self, ctx: &Context<'_>) -> bool {
        let api = ctx.api;
        let api_ok = self.api.as_ref().is_none_or(|glob| {
            glob.is_match(&api.api_id) || api.name.as_deref().is_some_and(|n| glob.is_match(n))
        });
        let route_key = ctx.route.map_or("", |r| r.route_key.as_str());
        api_ok
            && self
                .route_key
                .as_ref()
                .is_none_or(|g| g.is_match(route_key))
            && self
                .target_name
                .as_ref()
                .is_none_or(|g| api.target_name.as_deref().is_some_and(|t| g.is_match(t)))
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
    /// The enabled rules of each subject (route, API, stage), in load order.
    by_subject: [Vec<usize>; 3],
}

impl PolicySet {
    /// What the enabled rules read beyond routes and API settings: an audit
    /// makes GetAuthorizers, GetIntegrations and GetStages calls only for
    /// what is needed.
    pub fn needs(&self) -> Needs {
        self.enabled()
            .fold(Needs::default(), |needs, (_, rule)| needs.union(rule.needs))
    }

    /// Appends the findings of one API against every enabled rule: API rules
    /// once, route rules on each route, stage rules on each stage; with
    /// exemptions applied, `today` (UTC) deciding which have expired. A rule
    /// whose data the API does not hold (authorizers that were not read) is
    /// not evaluated on it. Pure: the same API, policies and day give the
    /// same findings.
    pub fn evaluate(&self, api: &Api, today: time::Date, out: &mut Vec<Finding>) {
        let ctx = Context::of(api);
        let applicable = |subject: Subject| {
            self.by_subject[subject as usize]
                .iter()
                .map(|&index| (index, &self.rules[index]))
                .filter(move |(_, rule)| rule.needs.met_by(api))
        };
        // Code before deploy may leave values unknown; live APIs never do,
        // and take the two-valued path that allocates nothing.
        let decided = api.unknown.is_empty();
        let check = |index: usize, rule: &Rule, ctx: &Context<'_>, out: &mut Vec<Finding>| {
            let undecided = if decided {
                if !rule.violated_by(ctx) {
                    return;
                }
                None
            } else {
                match rule.verdict(ctx) {
                    Verdict::Pass => return,
                    Verdict::Violated => None,
                    Verdict::Indeterminate(why) => Some(why),
                }
            };
            let (status, exemption) = match (self.exemption_for(index, ctx, today), undecided) {
                (Exempted::Active(e), _) => (Status::Exempted, Some(e)),
                (_, Some(why)) => {
                    out.push(Finding::of(
                        ctx,
                        rule.info.clone(),
                        Status::Indeterminate,
                        why,
                        None,
                    ));
                    return;
                }
                (Exempted::No, None) => (Status::Violation, None),
                (Exempted::Expired(e), None) => (Status::ExpiredExemption, Some(e)),
            };
            out.push(Finding::of(
                ctx,
                rule.info.clone(),
                status,
                rule.explain(ctx),
                exemption,
            ));
        };
        for (index, rule) in applicable(Subject::Api) {
            check(index, rule, &ctx, out);
        }
        for route in &api.routes {
            let ctx = ctx.route(route);
            for (index, rule) in applicable(Subject::Route) {
                check(index, rule, &ctx, out);
            }
        }
        for stage in api.stages.iter().flatten() {
            let ctx = ctx.stage(stage);
            for (index, rule) in applicable(Subject::Stage) {
                check(index, rule, &ctx, out);
            }
        }
    }

    /// The ids of enabled rules that cannot be evaluated on the API: they
    /// read parts of it that were not read (a fleet file written before
    /// routewarden read authorizers, integrations and stages).
    pub fn unmet(&self, api: &Api) -> impl Iterator<Item = &Arc<str>> {
        self.enabled()
            .filter(|(_, rule)| !rule.needs.met_by(api))
            .map(|(_, rule)| &rule.info.id)
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
        let mut by_subject: [Vec<usize>; 3] = Default::default();
        for (index, rule) in rules.iter().enumerate().filter(|(_, r)| r.info.enabled) {
            by_subject[rule.info.subject as usize].push(index);
        }
        PolicySet {
            rules,
            exemptions,
            by_rule,
            by_subject,
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
    pub fn exemption_for(&self, index: usize, ctx: &Context<'_>, today: time::Date) -> Exempted {
        let mut expired = None;
        for &e in &self.by_rule[index] {
            let exemption = &self.exemptions[e];
            if exemption.covers(ctx) {
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

/// Whether a directory entry's name is a policy file's: `*.toml`, any case,
/// but not a policy test file (`*_test.toml`, which sits beside them).
pub fn is_policy_file(path: &Path) -> bool {
    path.extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("toml"))
        && !testing::is_test_file(path)
}

#[cfg(test)]
mod tests;

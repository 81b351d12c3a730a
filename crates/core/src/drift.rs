//! Drift: the live inventory against a baseline fleet file. Routes are matched
//! by API id and route key (a route re-created with the same key and settings
//! is not drift, whatever its new RouteId); authorizers by AuthorizerId,
//! integrations by IntegrationId, stages by StageName. An API's settings,
//! authorizers, integrations and stages are compared only where both sides
//! hold them (a baseline written before routewarden read them, or an audit
//! that did not read them, says nothing of them). An API that could not be
//! read is left out of removals: nothing is known about it, so nothing is
//! reported as removed.
//!
//! Fields are compared as the fleet file writes them (serde JSON), one
//! mechanism for every kind: each field, nested ones included, is named by
//! its path (`jwt_configuration.audience`) with its value before and after.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::finding::{Finding, Severity, Status, Subject};
use crate::inventory::{Api, Authorizer, Integration, Inventory, Line, Route, Stage};
use crate::policy::RuleInfo;

/// The three kinds of drift, with their rule ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Change {
    Added,
    Removed,
    Modified,
}

impl Change {
    pub const ALL: [Change; 3] = [Change::Added, Change::Removed, Change::Modified];

    pub fn rule_id(self) -> &'static str {
        match self {
            Change::Added => "drift.added",
            Change::Removed => "drift.removed",
            Change::Modified => "drift.modified",
        }
    }

    /// The rule, as findings on `subject` show it: one id per change, a
    /// title that says what changed.
    fn rule(self, subject: Subject, severity: Severity, against: Against) -> RuleInfo {
        if against == Against::Code {
            return self.code_rule(subject, severity);
        }
        let (title, remediation) = match (subject, self) {
            (Subject::Route, Change::Added) => (
                "Route added since the baseline",
                "If the route was deployed on purpose, take a new baseline (routewarden snapshot); otherwise remove it.",
            ),
            (Subject::Route, Change::Removed) => (
                "Route removed since the baseline",
                "If the route was removed on purpose, take a new baseline (routewarden snapshot); otherwise restore it.",
            ),
            (Subject::Route, Change::Modified) => (
                "Route changed since the baseline",
                "If the change went through the pipeline, take a new baseline (routewarden snapshot); otherwise revert it.",
            ),
            (Subject::Api, Change::Added) => (
                "Authorizer or integration added since the baseline",
                "If it was created on purpose, take a new baseline (routewarden snapshot); otherwise delete it.",
            ),
            (Subject::Api, Change::Removed) => (
                "Authorizer or integration removed since the baseline",
                "If it was deleted on purpose, take a new baseline (routewarden snapshot); otherwise restore it.",
            ),
            (Subject::Api, Change::Modified) => (
                "API settings, authorizer or integration changed since the baseline",
                "If the change went through the pipeline, take a new baseline (routewarden snapshot); otherwise revert it.",
            ),
            (Subject::Stage, Change::Added) => (
                "Stage added since the baseline",
                "If the stage was created on purpose, take a new baseline (routewarden snapshot); otherwise delete it.",
            ),
            (Subject::Stage, Change::Removed) => (
                "Stage removed since the baseline",
                "If the stage was deleted on purpose, take a new baseline (routewarden snapshot); otherwise restore it.",
            ),
            (Subject::Stage, Change::Modified) => (
                "Stage changed since the baseline",
                "If the change went through the pipeline, take a new baseline (routewarden snapshot); otherwise revert it.",
            ),
        };
        let description = match self {
            Change::Added => {
                "Live, and not in the baseline fleet file: a route, stage, authorizer or integration created since the baseline was taken, perhaps outside the pipeline."
            }
            Change::Removed => {
                "In the baseline fleet file, and no longer live: a route, stage, authorizer or integration deleted since the baseline was taken, perhaps outside the pipeline."
            }
            Change::Modified => {
                "Live with other settings than the baseline fleet file holds: a route, stage, authorizer, integration or the API's settings changed since the baseline was taken, perhaps outside the pipeline."
            }
        };
        self.info(subject, severity, [title, description, remediation])
    }

    /// The rule of drift against code (`--baseline-iac`), where only routes
    /// and their authorization are compared.
    fn code_rule(self, subject: Subject, severity: Severity) -> RuleInfo {
        let (title, description, remediation) = match self {
            Change::Added => (
                "Route live but defined in no code",
                "Live, and defined by none of the code given: it appeared outside the deployment pipeline.",
                "If the route is wanted, define it in the code and deploy it through the pipeline; otherwise delete it.",
            ),
            Change::Removed => (
                "Route defined in code but not live",
                "The code defines it, and it is not live: the code was not deployed, or the route was deleted outside the pipeline.",
                "Deploy the code, or remove the route from it.",
            ),
            Change::Modified => (
                "Route authorization differs from the code",
                "Live with another authorization (type, authorizer, scopes, API key) than the code defines: changed outside the pipeline, or the code was not deployed.",
                "Deploy the code to restore the authorization it defines, or change the code.",
            ),
        };
        self.info(subject, severity, [title, description, remediation])
    }

    /// The rule as reports show it, from its title, description and
    /// remediation.
    fn info(
        self,
        subject: Subject,
        severity: Severity,
        [title, description, remediation]: [&str; 3],
    ) -> RuleInfo {
        RuleInfo {
            id: self.rule_id().into(),
            title: title.into(),
            severity,
            description: Some(description.into()),
            remediation: Some(remediation.into()),
            enabled: true,
            subject,
            needs: Default::default(),
        }
    }
}

/// What drift compares live state with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Against {
    /// A fleet file taken earlier (`--baseline`).
    Baseline,
    /// What infrastructure as code defines (`--baseline-iac`).
    Code,
}

impl Against {
    fn absent(self) -> &'static str {
        match self {
            Against::Baseline => "not in the baseline",
            Against::Code => "defined in no code",
        }
    }

    fn not_live(self) -> &'static str {
        match self {
            Against::Baseline => "in the baseline, not live",
            Against::Code => "defined in code, not live",
        }
    }

    fn api_gone(self) -> &'static str {
        match self {
            Against::Baseline => "in the baseline; its API is gone",
            Against::Code => "defined in code; its API is not live",
        }
    }
}

/// An API's identity for drift: target, region and id (see [`Api::key`]).
pub type ApiKey<'a> = (&'a str, &'a str, &'a str);

/// The APIs that could not be (completely) read this time: nothing is known
/// of their routes beyond what was read, so none is reported removed. One
/// definition, shared by `--check` and the daemon.
#[derive(Debug, Clone, Default)]
pub struct Unread {
    apis: HashSet<(String, String, String)>,
    /// Targets and regions whose discovery failed: every API of them.
    scopes: HashSet<(String, String)>,
    /// Organizations that could not be listed: every API of every target
    /// they generate (`<organization>/...`).
    organizations: HashSet<String>,
}

impl Unread {
    /// An API that could not be read, or only in part.
    pub fn add_api(&mut self, (target, region, id): ApiKey<'_>) {
        self.apis
            .insert((target.to_owned(), region.to_owned(), id.to_owned()));
    }

    /// A target (in a region) whose APIs could not be listed.
    pub fn add_scope(&mut self, target: &str, region: &str) {
        self.scopes.insert((target.to_owned(), region.to_owned()));
    }

    /// An organization whose accounts could not be listed.
    pub fn add_organization(&mut self, name: &str) {
        self.organizations.insert(name.to_owned());
    }

    pub fn contains(&self, (target, region, id): ApiKey<'_>) -> bool {
        if let Some((organization, _)) = target.split_once('/')
            && self.organizations.contains(organization)
        {
            return true;
        }
        let scope = (target.to_owned(), region.to_owned());
        self.scopes.contains(&scope) || self.apis.contains(&(scope.0, scope.1, id.to_owned()))
    }
}

/// Drift findings of `live` against `baseline`: routes, authorizers,
/// integrations and stages added and modified among those read, API settings
/// modified, and what was removed from APIs that are not `unread`. API
/// settings, authorizers, integrations and stages are compared only for APIs
/// on both sides, and only where both sides hold them.
pub fn compare(
    live: &Inventory,
    baseline: &Inventory,
    unread: &Unread,
    severity: Severity,
) -> Vec<Finding> {
    compare_with(live, baseline, unread, severity, Against::Baseline)
}

/// Code to compare live state with (`--baseline-iac`, `[audit] baseline_iac`).
#[derive(Debug, Clone, Default)]
pub struct Code {
    /// What the code defines.
    pub apis: Vec<Api>,
    /// Per target, live API name → the name the code gives it.
    pub names: BTreeMap<String, BTreeMap<String, String>>,
}

/// Drift of `live` against code: APIs are matched by name within a target
/// (through the target's `iac_names`), routes by route key. A live route no
/// code defines is `drift.added`; a route the code defines that is not live
/// is `drift.removed` (on the live API, or on the code's API where no live
/// API has its name); a route whose authorization (type, authorizer by
/// name, scopes, API key) differs is `drift.modified`, the fields named.
/// Nothing else is compared: ids, integrations and stages differ between
/// code and what a deploy made of it.
pub fn compare_code(
    live: &Inventory,
    code: &Code,
    unread: &Unread,
    severity: Severity,
) -> Vec<Finding> {
    let by_name: BTreeMap<&str, &Api> = code
        .apis
        .iter()
        .map(|api| (api.name.as_deref().unwrap_or(&api.api_id), api))
        .collect();
    let mut matched = HashSet::new();
    let mut before = Inventory::default();
    let mut after = Inventory::default();
    for api in &live.apis {
        after.apis.push(authorization_view(api, api));
        let live_name = api.name.as_deref().unwrap_or(&api.api_id);
        let target = api.target_name.as_deref().unwrap_or("");
        let name = code
            .names
            .get(target)
            .and_then(|names| names.get(live_name))
            .map_or(live_name, String::as_str);
        if let Some(code_api) = by_name.get(name) {
            matched.insert(name);
            let mut view = authorization_view(code_api, api);
            view.origin = code_api.origin.clone();
            before.apis.push(view);
        }
    }
    for (name, code_api) in &by_name {
        if !matched.contains(name) {
            before.apis.push(authorization_view(code_api, code_api));
        }
    }
    compare_with(&after, &before, unread, severity, Against::Code)
}

/// The routes of `api` as drift against code compares them, under the
/// identity of `identity`: authorization only, the authorizer by its name
/// (ids are the code's logical ids on one side and AWS's on the other).
fn authorization_view(api: &Api, identity: &Api) -> Api {
    let authorizer_name = |id: &str| -> String {
        api.authorizers
            .iter()
            .flatten()
            .find(|a| a.authorizer_id == id)
            .and_then(|a| a.name.clone())
            .unwrap_or_else(|| id.to_owned())
    };
    let routes = api
        .routes
        .iter()
        .map(|route| {
            let mut scopes = route.authorization_scopes.clone().unwrap_or_default();
            scopes.sort();
            Route {
                route_key: route.route_key.clone(),
                authorization_type: Some(route.authorization_type().to_owned()),
                authorizer_id: route
                    .authorizer_id
                    .as_deref()
                    .filter(|id| !id.is_empty())
                    .map(authorizer_name),
                authorization_scopes: (!scopes.is_empty()).then_some(scopes),
                api_key_required: route.api_key_required.filter(|&required| required),
                line: route.line,
                ..Route::default()
            }
        })
        .collect();
    Api {
        api_id: identity.api_id.clone(),
        name: identity.name.clone(),
        target_name: identity.target_name.clone(),
        region: identity.region.clone(),
        account: identity.account.clone(),
        routes,
        origin: identity.origin.clone(),
        ..Api::default()
    }
}

fn compare_with(
    live: &Inventory,
    baseline: &Inventory,
    unread: &Unread,
    severity: Severity,
    against: Against,
) -> Vec<Finding> {
    let live_apis = index(live);
    let base_apis = index(baseline);
    let mut drift = Drift {
        rules: BTreeMap::new(),
        severity,
        findings: Vec::new(),
        against,
    };
    for (id, live_api) in &live_apis {
        let base_api = base_apis.get(id).copied();
        // A new API: all its routes are new (its other parts are not
        // compared: the routes say it).
        let no_routes = &[][..];
        drift.added_and_modified(
            live_api,
            &live_api.routes,
            base_api.map_or(no_routes, |b| &b.routes),
        );
        let Some(base_api) = base_api else {
            continue;
        };
        drift.settings(live_api, base_api);
        if let (Some(after), Some(before)) = (&live_api.authorizers, &base_api.authorizers) {
            drift.added_and_modified(live_api, after, before);
        }
        if let (Some(after), Some(before)) = (&live_api.integrations, &base_api.integrations) {
            drift.added_and_modified(live_api, after, before);
        }
        if let (Some(after), Some(before)) = (&live_api.stages, &base_api.stages) {
            drift.added_and_modified(live_api, after, before);
        }
    }
    for (id, base_api) in &base_apis {
        if unread.contains(*id) {
            continue;
        }
        let Some(live_api) = live_apis.get(id).copied() else {
            drift.removed(base_api, None, &base_api.routes, &[]);
            continue;
        };
        drift.removed(base_api, Some(live_api), &base_api.routes, &live_api.routes);
        if let (Some(before), Some(after)) = (&base_api.authorizers, &live_api.authorizers) {
            drift.removed(base_api, Some(live_api), before, after);
        }
        if let (Some(before), Some(after)) = (&base_api.integrations, &live_api.integrations) {
            drift.removed(base_api, Some(live_api), before, after);
        }
        if let (Some(before), Some(after)) = (&base_api.stages, &live_api.stages) {
            drift.removed(base_api, Some(live_api), before, after);
        }
    }
    drift.findings
}

fn index(inventory: &Inventory) -> BTreeMap<ApiKey<'_>, &Api> {
    inventory.apis.iter().map(|api| (api.key(), api)).collect()
}

/// The findings being gathered, and one rule per change and subject.
struct Drift {
    rules: BTreeMap<(Subject, &'static str), Arc<RuleInfo>>,
    severity: Severity,
    findings: Vec<Finding>,
    against: Against,
}

impl Drift {
    fn rule(&mut self, change: Change, subject: Subject) -> Arc<RuleInfo> {
        let (severity, against) = (self.severity, self.against);
        self.rules
            .entry((subject, change.rule_id()))
            .or_insert_with(|| Arc::new(change.rule(subject, severity, against)))
            .clone()
    }

    fn push<T: Part>(&mut self, change: Change, part: &T, api: &Api, message: String, at: &Api) {
        let rule = self.rule(change, T::SUBJECT);
        let mut finding = part.finding(api, rule, message);
        finding.location = at.location_at(part.line());
        self.findings.push(finding);
    }

    /// Parts of `api` not in `before` (added) or different there (modified).
    fn added_and_modified<T: Part>(&mut self, api: &Api, after: &[T], before: &[T]) {
        let before = by_id(before);
        for part in after {
            match before.get(part.id()) {
                None => {
                    let message = part.say(self.against.absent());
                    self.push(Change::Added, part, api, message, api);
                }
                Some(&old) if old != part => {
                    let changed = changes(T::KIND, old, part);
                    if !changed.is_empty() {
                        let message = part.say(&format!("changed: {}", changed.join("; ")));
                        self.push(Change::Modified, part, api, message, api);
                    }
                }
                Some(_) => {}
            }
        }
    }

    /// Parts of the baseline's `api` not in `after`: the live API's, or none
    /// where it is gone (`live` is `None`). A finding names the live API
    /// where it still exists, and points at the part's line in the baseline.
    fn removed<T: Part>(&mut self, api: &Api, live: Option<&Api>, before: &[T], after: &[T]) {
        let after = by_id(after);
        for part in before {
            if !after.contains_key(part.id()) {
                let message = part.say(match live {
                    Some(_) => self.against.not_live(),
                    None => self.against.api_gone(),
                });
                self.push(Change::Removed, part, live.unwrap_or(api), message, api);
            }
        }
    }

    /// The API's own settings, where both sides hold them.
    fn settings(&mut self, live: &Api, base: &Api) {
        let (after, before) = (live.without_parts(), base.without_parts());
        if after == before || !holds_settings(&after) || !holds_settings(&before) {
            return;
        }
        let changed = changes(&SETTINGS, &before, &after);
        if !changed.is_empty() {
            let rule = self.rule(Change::Modified, Subject::Api);
            let message = format!("{SETTINGS_LABEL}: changed: {}", changed.join("; "));
            let part = Some(SETTINGS_LABEL.to_owned());
            let mut finding = api_finding(live, rule, None, part, message);
            finding.location = live.location_at(Line(None, None));
            self.findings.push(finding);
        }
    }
}

fn by_id<T: Part>(parts: &[T]) -> BTreeMap<&str, &T> {
    parts.iter().map(|p| (p.id(), p)).collect()
}

/// A finding on the API (`stage` `None`) or one of its stages, without a
/// location.
fn api_finding(
    api: &Api,
    rule: Arc<RuleInfo>,
    stage: Option<&str>,
    part: Option<String>,
    message: String,
) -> Finding {
    let subject = match stage {
        Some(_) => Subject::Stage,
        None => Subject::Api,
    };
    Finding {
        subject,
        stage: stage.map(Arc::from),
        part: part.map(Arc::from),
        location: None,
        ..Finding::on(api, rule, Status::Violation, message, None)
    }
}

/// What drift compares: a route, an authorizer, an integration, a stage.
trait Part: Serialize + PartialEq {
    const KIND: &'static Kind;
    /// What its findings are about.
    const SUBJECT: Subject;
    /// What matches it across the two sides.
    fn id(&self) -> &str;
    fn line(&self) -> Line;
    /// A finding of `rule` about it, saying `message`.
    fn finding(&self, api: &Api, rule: Arc<RuleInfo>, message: String) -> Finding;
    /// `what`, prefixed with the part's name where the finding's row does
    /// not name it (authorizers and integrations: the row is the API's).
    fn say(&self, what: &str) -> String {
        what.to_owned()
    }
}

impl Part for Route {
    const KIND: &'static Kind = &Kind {
        skip: &["RouteId", "RouteKey"],
        implied: &[
            ("AuthorizationType", Implied::Text("NONE")),
            ("ApiKeyRequired", Implied::Bool(false)),
            ("ApiGatewayManaged", Implied::Bool(false)),
        ],
    };
    const SUBJECT: Subject = Subject::Route;

    fn id(&self) -> &str {
        &self.route_key
    }

    fn line(&self) -> Line {
        self.line
    }

    fn finding(&self, api: &Api, rule: Arc<RuleInfo>, message: String) -> Finding {
        Finding::new(api, self, rule, Status::Violation, message, None)
    }
}

impl Part for Stage {
    const KIND: &'static Kind = &Kind {
        skip: &["StageName"],
        implied: &[],
    };
    const SUBJECT: Subject = Subject::Stage;

    fn id(&self) -> &str {
        &self.stage_name
    }

    fn line(&self) -> Line {
        self.line
    }

    fn finding(&self, api: &Api, rule: Arc<RuleInfo>, message: String) -> Finding {
        api_finding(api, rule, Some(&self.stage_name), None, message)
    }
}

impl Part for Authorizer {
    const KIND: &'static Kind = &Kind {
        skip: &["AuthorizerId"],
        implied: &[],
    };
    const SUBJECT: Subject = Subject::Api;

    fn id(&self) -> &str {
        &self.authorizer_id
    }

    fn line(&self) -> Line {
        self.line
    }

    fn finding(&self, api: &Api, rule: Arc<RuleInfo>, message: String) -> Finding {
        let part = format!("authorizer `{}`", self.authorizer_id);
        api_finding(api, rule, None, Some(part), message)
    }

    fn say(&self, what: &str) -> String {
        match &self.name {
            Some(name) => format!("authorizer `{}` ({name}): {what}", self.authorizer_id),
            None => format!("authorizer `{}`: {what}", self.authorizer_id),
        }
    }
}

impl Part for Integration {
    const KIND: &'static Kind = &Kind {
        skip: &["IntegrationId"],
        implied: &[],
    };
    const SUBJECT: Subject = Subject::Api;

    fn id(&self) -> &str {
        &self.integration_id
    }

    fn line(&self) -> Line {
        self.line
    }

    fn finding(&self, api: &Api, rule: Arc<RuleInfo>, message: String) -> Finding {
        let part = format!("integration `{}`", self.integration_id);
        api_finding(api, rule, None, Some(part), message)
    }

    fn say(&self, what: &str) -> String {
        format!("integration `{}`: {what}", self.integration_id)
    }
}

/// How a message names the API's own settings.
const SETTINGS_LABEL: &str = "API settings";

/// The API's settings: what GetApis says of it beyond its identity and the
/// context a v1 fleet file already held (name, protocol, tags), which are not
/// drift.
const SETTINGS: Kind = Kind {
    skip: &[
        "ApiId",
        "Name",
        "ProtocolType",
        "Tags",
        "TargetName",
        "Region",
        "Routes",
    ],
    implied: &[("DisableExecuteApiEndpoint", Implied::Bool(false))],
};

/// Whether an API holds any setting: a fleet file written before
/// routewarden read them, or get-routes output, holds none.
fn holds_settings(api: &Api) -> bool {
    fields(&SETTINGS, api).is_some_and(|fields| !fields.is_empty())
}

/// Which fields of a kind drift compares, and how absent ones read.
struct Kind {
    /// Keys that are not compared: its identity, or not part of it.
    skip: &'static [&'static str],
    /// Absent fields that read as a value (as the policy language reads
    /// them: `AuthorizationType` absent is `NONE`).
    implied: &'static [(&'static str, Implied)],
}

#[derive(Clone, Copy)]
enum Implied {
    Text(&'static str),
    Bool(bool),
}

/// Fields whose values are maps keyed by data (tag keys, parameter names):
/// compared whole, not key by key as nested settings are.
const MAPS: &[&str] = &["Tags", "RequestModels", "RequestParameters"];

/// A value's compared fields, as the fleet file writes them.
fn fields<T: Serialize>(kind: &Kind, value: &T) -> Option<Map<String, Value>> {
    let Ok(Value::Object(mut fields)) = serde_json::to_value(value) else {
        return None;
    };
    for key in kind.skip {
        fields.remove(*key);
    }
    Some(fields)
}

/// `field before -> after` for every field that differs, nested ones by
/// their path (`jwt_configuration.audience ["api"] -> []`); a missing value
/// is `absent`.
fn changes<T: Serialize>(kind: &Kind, before: &T, after: &T) -> Vec<String> {
    let with_implied = |value: &T| {
        let mut fields = fields(kind, value).unwrap_or_default();
        for (key, implied) in kind.implied {
            fields.entry(*key).or_insert_with(|| match implied {
                Implied::Text(text) => Value::from(*text),
                Implied::Bool(b) => Value::from(*b),
            });
        }
        fields
    };
    let mut changes = Vec::new();
    diff(
        "",
        &with_implied(before),
        &with_implied(after),
        &mut changes,
    );
    changes
}

fn diff(
    prefix: &str,
    before: &Map<String, Value>,
    after: &Map<String, Value>,
    out: &mut Vec<String>,
) {
    let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let empty = Map::new();
    for key in keys {
        let (old, new) = (before.get(key), after.get(key));
        if old == new {
            continue;
        }
        let name = format!("{prefix}{}", snake_case(key));
        match (object(old, &empty), object(new, &empty)) {
            // A nested setting (JwtConfiguration, AccessLogSettings, ...):
            // field by field, an absent one read as empty.
            (Some(old), Some(new)) if !MAPS.contains(&key.as_str()) => {
                diff(&format!("{name}."), old, new, out)
            }
            _ => out.push(format!("{name} {} -> {}", show(old), show(new))),
        }
    }
}

/// An object, or absent read as empty; `None` for other values.
fn object<'a>(
    value: Option<&'a Value>,
    empty: &'a Map<String, Value>,
) -> Option<&'a Map<String, Value>> {
    match value {
        None => Some(empty),
        Some(Value::Object(map)) => Some(map),
        Some(_) => None,
    }
}

fn show(value: Option<&Value>) -> String {
    value.map_or_else(|| "absent".to_owned(), Value::to_string)
}

/// `AuthorizerResultTtlInSeconds` -> `authorizer_result_ttl_in_seconds`.
fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The part of its API that a finding names (``authorizer `abc1` ``,
/// `API settings`); `None` for findings on a route, a stage or the whole API.
pub fn part_of(finding: &Finding) -> Option<&str> {
    finding.part.as_deref()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{AccessLogSettings, JwtConfiguration, RouteSettings};

    fn api(id: &str, routes: Vec<Route>) -> Api {
        Api {
            api_id: id.into(),
            routes,
            ..Api::default()
        }
    }

    fn route(key: &str, auth: &str) -> Route {
        Route {
            route_id: Some(format!("id-{key}")),
            route_key: key.into(),
            authorization_type: Some(auth.into()),
            ..Route::default()
        }
    }

    fn summary(findings: &[Finding]) -> Vec<String> {
        let mut lines: Vec<String> = findings
            .iter()
            .map(|f| format!("{} {} {}: {}", f.rule.id, f.api_id, f.route_key, f.message))
            .collect();
        lines.sort();
        lines
    }

    #[test]
    fn against_code_apis_match_by_name_and_authorizers_by_name() {
        let jwt = |id: &str| Authorizer {
            authorizer_id: id.into(),
            name: Some("jwt".into()),
            ..Authorizer::default()
        };
        let mut guarded = route("GET /a", "JWT");
        guarded.authorizer_id = Some("JwtAuthorizer".into());
        let code_api = Api {
            name: Some("orders".into()),
            target_name: Some("template.yaml".into()),
            authorizers: Some(vec![jwt("JwtAuthorizer")]),
            ..api("OrdersApi", vec![guarded, route("GET /b", "NONE")])
        };
        let other = Api {
            name: Some("billing".into()),
            ..api("BillingApi", vec![route("GET /bill", "JWT")])
        };
        let mut live_guarded = route("GET /a", "JWT");
        live_guarded.authorizer_id = Some("x9k2".into());
        let live = Inventory {
            apis: vec![Api {
                name: Some("orders-prod".into()),
                target_name: Some("prod".into()),
                authorizers: Some(vec![jwt("x9k2")]),
                ..api(
                    "a1b2c3",
                    vec![
                        live_guarded,
                        route("GET /b", "AWS_IAM"),
                        route("GET /new", "NONE"),
                    ],
                )
            }],
        };
        let code = Code {
            apis: vec![code_api, other],
            names: BTreeMap::from([(
                "prod".to_owned(),
                BTreeMap::from([("orders-prod".to_owned(), "orders".to_owned())]),
            )]),
        };
        let drift = compare_code(&live, &code, &Unread::default(), Severity::High);
        assert_eq!(
            summary(&drift),
            [
                "drift.added a1b2c3 GET /new: defined in no code",
                "drift.modified a1b2c3 GET /b: changed: authorization_type \"NONE\" -> \"AWS_IAM\"",
                "drift.removed BillingApi GET /bill: defined in code; its API is not live",
            ]
        );
        let added = drift.iter().find(|f| f.route_key == "GET /new").unwrap();
        assert_eq!(&*added.rule.title, "Route live but defined in no code");
    }

    #[test]
    fn added_removed_and_modified_routes() {
        let baseline = Inventory {
            apis: vec![
                api(
                    "a1",
                    vec![
                        route("GET /a", "JWT"),
                        route("GET /b", "AWS_IAM"),
                        route("GET /gone", "JWT"),
                    ],
                ),
                api("old", vec![route("GET /x", "JWT")]),
            ],
        };
        let mut recreated = route("GET /b", "AWS_IAM");
        recreated.route_id = Some("new-id".into());
        let live = Inventory {
            apis: vec![
                api(
                    "a1",
                    vec![
                        route("GET /a", "NONE"),
                        recreated,
                        route("POST /new", "NONE"),
                    ],
                ),
                api("new", vec![route("GET /y", "JWT")]),
            ],
        };
        let findings = compare(&live, &baseline, &Unread::default(), Severity::High);
        assert_eq!(
            summary(&findings),
            [
                "drift.added a1 POST /new: not in the baseline",
                "drift.added new GET /y: not in the baseline",
                "drift.modified a1 GET /a: changed: authorization_type \"JWT\" -> \"NONE\"",
                "drift.removed a1 GET /gone: in the baseline, not live",
                "drift.removed old GET /x: in the baseline; its API is gone",
            ]
        );
        assert!(findings.iter().all(|f| f.severity() == Severity::High));
    }

    #[test]
    fn unread_apis_are_not_reported_removed() {
        let mut scoped = api("a2", vec![route("GET /b", "JWT")]);
        scoped.target_name = Some("t".into());
        scoped.region = Some("r".into());
        let baseline = Inventory {
            apis: vec![api("a1", vec![route("GET /a", "JWT")]), scoped],
        };
        let live = Inventory::default();
        let removed = |unread: &Unread| compare(&live, &baseline, unread, Severity::Low).len();
        assert_eq!(removed(&Unread::default()), 2);
        let mut unread = Unread::default();
        unread.add_api(("", "", "a1"));
        assert_eq!(removed(&unread), 1, "a1 unread; a2 gone");
        // A failed discovery leaves every API of its target and region unread.
        unread.add_scope("t", "r");
        assert_eq!(removed(&unread), 0);
        unread = Unread::default();
        unread.add_scope("t", "other");
        assert_eq!(
            removed(&unread),
            2,
            "another region's discovery says nothing of a2"
        );
    }

    #[test]
    fn absent_and_defaulted_values_are_not_changes() {
        let mut before = route("GET /a", "NONE");
        before.authorization_type = None;
        let mut after = route("GET /a", "NONE");
        after.api_key_required = Some(false);
        after.route_id = Some("re-created".into());
        assert!(changes(Route::KIND, &before, &after).is_empty());
        after.authorization_scopes = Some(vec!["read".into()]);
        after.authorizer_id = Some("abc1".into());
        assert_eq!(
            changes(Route::KIND, &before, &after),
            [
                "authorization_scopes absent -> [\"read\"]",
                "authorizer_id absent -> \"abc1\""
            ]
        );
    }

    #[test]
    fn maps_compare_whole_and_nested_settings_by_path() {
        let mut before = route("GET /a", "NONE");
        before.request_parameters = Some(
            [(
                "route.request.header.x".to_owned(),
                crate::inventory::ParameterConstraints {
                    required: Some(true),
                },
            )]
            .into(),
        );
        let after = route("GET /a", "NONE");
        assert_eq!(
            changes(Route::KIND, &before, &after),
            ["request_parameters {\"route.request.header.x\":{\"Required\":true}} -> absent"]
        );
        let stage = |logging: Option<&str>, arn: Option<&str>| Stage {
            stage_name: "prod".into(),
            access_log_settings: arn.map(|arn| AccessLogSettings {
                destination_arn: Some(arn.into()),
                format: Some("$context.requestId".into()),
            }),
            default_route_settings: Some(RouteSettings {
                logging_level: logging.map(Into::into),
                throttling_rate_limit: Some(100.0),
                ..RouteSettings::default()
            }),
            tags: Some([("env".to_owned(), "prod".to_owned())].into()),
            ..Stage::default()
        };
        assert_eq!(
            changes(
                Stage::KIND,
                &stage(Some("INFO"), Some("arn:aws:logs:eu-west-1:1:log-group:a")),
                &stage(None, None)
            ),
            [
                "access_log_settings.destination_arn \"arn:aws:logs:eu-west-1:1:log-group:a\" -> absent",
                "access_log_settings.format \"$context.requestId\" -> absent",
                "default_route_settings.logging_level \"INFO\" -> absent",
            ]
        );
    }

    fn jwt(id: &str, audience: &[&str]) -> Authorizer {
        Authorizer {
            authorizer_id: id.into(),
            name: Some(format!("{id}-name")),
            authorizer_type: Some("JWT".into()),
            identity_source: Some(vec!["$request.header.Authorization".into()]),
            jwt_configuration: Some(JwtConfiguration {
                audience: Some(audience.iter().map(|a| (*a).to_owned()).collect()),
                issuer: Some("https://issuer.example".into()),
            }),
            ..Authorizer::default()
        }
    }

    fn integration(id: &str, timeout: i64) -> Integration {
        Integration {
            integration_id: id.into(),
            integration_type: Some("HTTP_PROXY".into()),
            integration_uri: Some("https://backend.example".into()),
            timeout_in_millis: Some(timeout),
            ..Integration::default()
        }
    }

    fn stage(name: &str, arn: Option<&str>) -> Stage {
        Stage {
            stage_name: name.into(),
            auto_deploy: Some(true),
            access_log_settings: arn.map(|arn| AccessLogSettings {
                destination_arn: Some(arn.into()),
                format: None,
            }),
            ..Stage::default()
        }
    }

    /// An API with every part read.
    fn full(id: &str) -> Api {
        Api {
            api_id: id.into(),
            api_endpoint: Some(format!("https://{id}.execute-api.eu-west-1.amazonaws.com")),
            route_selection_expression: Some("$request.method $request.path".into()),
            routes: vec![route("GET /a", "JWT")],
            authorizers: Some(vec![jwt("abc1", &["api"]), jwt("abc2", &["x"])]),
            integrations: Some(vec![integration("int1", 30000), integration("int2", 1000)]),
            stages: Some(vec![stage("prod", Some("arn:log")), stage("dev", None)]),
            ..Api::default()
        }
    }

    /// `rule subject stage: message` of each finding, sorted.
    fn described(findings: &[Finding]) -> Vec<String> {
        let mut lines: Vec<String> = findings
            .iter()
            .map(|f| {
                assert_eq!(f.rule.subject, f.subject);
                assert!(f.subject == Subject::Route || f.route_key.is_empty());
                let stage = f.stage.as_deref().unwrap_or("-");
                format!(
                    "{} {} {}: {}",
                    f.rule.id,
                    f.subject.as_str(),
                    stage,
                    f.message
                )
            })
            .collect();
        lines.sort();
        lines
    }

    #[test]
    fn an_unchanged_api_has_no_drift_and_its_parts_may_come_in_any_order() {
        let baseline = Inventory {
            apis: vec![full("a1")],
        };
        let mut live = full("a1");
        live.authorizers.as_mut().unwrap().reverse();
        live.stages.as_mut().unwrap().reverse();
        let live = Inventory { apis: vec![live] };
        assert_eq!(
            described(&compare(
                &live,
                &baseline,
                &Unread::default(),
                Severity::Low
            )),
            Vec::<String>::new()
        );
    }

    #[test]
    fn authorizers_added_removed_and_modified() {
        let baseline = Inventory {
            apis: vec![full("a1")],
        };
        let mut live = full("a1");
        live.authorizers = Some(vec![
            jwt("abc1", &[]),
            Authorizer {
                name: None,
                ..jwt("abc3", &["y"])
            },
        ]);
        let live = Inventory { apis: vec![live] };
        let findings = compare(&live, &baseline, &Unread::default(), Severity::Low);
        assert_eq!(
            described(&findings),
            [
                "drift.added api -: authorizer `abc3`: not in the baseline",
                "drift.modified api -: authorizer `abc1` (abc1-name): changed: jwt_configuration.audience [\"api\"] -> []",
                "drift.removed api -: authorizer `abc2` (abc2-name): in the baseline, not live",
            ]
        );
        let parts: Vec<_> = findings.iter().map(|f| part_of(f).unwrap()).collect();
        assert_eq!(
            parts,
            [
                "authorizer `abc1`",
                "authorizer `abc3`",
                "authorizer `abc2`"
            ]
        );
        assert!(findings.iter().all(|f| f.severity() == Severity::Low));
    }

    #[test]
    fn integrations_added_removed_and_modified() {
        let baseline = Inventory {
            apis: vec![full("a1")],
        };
        let mut live = full("a1");
        let mut changed = integration("int1", 29000);
        changed.tls_config = Some(crate::inventory::TlsConfig {
            server_name_to_verify: Some("backend.example".into()),
        });
        live.integrations = Some(vec![changed, integration("int3", 1000)]);
        let live = Inventory { apis: vec![live] };
        assert_eq!(
            described(&compare(
                &live,
                &baseline,
                &Unread::default(),
                Severity::Low
            )),
            [
                "drift.added api -: integration `int3`: not in the baseline",
                "drift.modified api -: integration `int1`: changed: timeout_in_millis 30000 -> 29000; tls_config.server_name_to_verify absent -> \"backend.example\"",
                "drift.removed api -: integration `int2`: in the baseline, not live",
            ]
        );
    }

    #[test]
    fn stages_added_removed_and_modified() {
        let mut base = full("a1");
        base.origin = crate::inventory::Origin(Some(Arc::new(crate::inventory::Location {
            path: "baseline.json".into(),
            line: 3,
            column: None,
        })));
        base.stages.as_mut().unwrap()[1].line = Line(Some(40), None);
        let baseline = Inventory { apis: vec![base] };
        let mut live = full("a1");
        live.origin = crate::inventory::Origin(Some(Arc::new(crate::inventory::Location {
            path: "live.json".into(),
            line: 2,
            column: None,
        })));
        let mut prod = stage("prod", None);
        prod.line = Line(Some(20), None);
        live.stages = Some(vec![prod, stage("canary", Some("arn:log"))]);
        let live = Inventory { apis: vec![live] };
        let findings = compare(&live, &baseline, &Unread::default(), Severity::Low);
        assert_eq!(
            described(&findings),
            [
                "drift.added stage canary: not in the baseline",
                "drift.modified stage prod: changed: access_log_settings.destination_arn \"arn:log\" -> absent",
                "drift.removed stage dev: in the baseline, not live",
            ]
        );
        let at = |stage: &str| {
            let f = findings
                .iter()
                .find(|f| f.stage.as_deref() == Some(stage))
                .unwrap();
            let at = f.location.as_ref().unwrap();
            format!("{}:{}", at.path, at.line)
        };
        // Live ones at their line (or the API's), a removed one in the baseline.
        assert_eq!(at("prod"), "live.json:20");
        assert_eq!(at("canary"), "live.json:2");
        assert_eq!(at("dev"), "baseline.json:40");
        assert!(findings.iter().all(|f| part_of(f).is_none()));
    }

    #[test]
    fn api_settings_are_compared_where_both_sides_hold_them() {
        let baseline = Inventory {
            apis: vec![full("a1")],
        };
        let mut live = full("a1");
        live.disable_execute_api_endpoint = Some(false);
        live.tags = Some([("env".to_owned(), "dev".to_owned())].into());
        let unchanged = Inventory {
            apis: vec![live.clone()],
        };
        assert!(
            compare(&unchanged, &baseline, &Unread::default(), Severity::Low).is_empty(),
            "false is the default; tags are context, not settings"
        );
        live.cors_configuration = Some(crate::inventory::Cors {
            allow_origins: Some(vec!["*".into()]),
            ..crate::inventory::Cors::default()
        });
        live.api_endpoint = None;
        let live = Inventory { apis: vec![live] };
        let findings = compare(&live, &baseline, &Unread::default(), Severity::Low);
        assert_eq!(
            described(&findings),
            [
                "drift.modified api -: API settings: changed: api_endpoint \"https://a1.execute-api.eu-west-1.amazonaws.com\" -> absent; cors_configuration.allow_origins absent -> [\"*\"]"
            ]
        );
        assert_eq!(part_of(&findings[0]), Some("API settings"));
    }

    #[test]
    fn a_v1_baseline_or_an_unread_part_is_not_v2_drift() {
        // A v1 baseline: routes only.
        let mut v1 = full("a1");
        v1.api_endpoint = None;
        v1.route_selection_expression = None;
        v1.authorizers = None;
        v1.integrations = None;
        v1.stages = None;
        let v1 = Inventory { apis: vec![v1] };
        let mut live = full("a1");
        live.description = Some("new".into());
        live.stages = Some(Vec::new());
        let live = Inventory { apis: vec![live] };
        assert!(compare(&live, &v1, &Unread::default(), Severity::Low).is_empty());
        // A live audit that did not read stages (no rule needs them).
        let baseline = Inventory {
            apis: vec![full("a1")],
        };
        let mut live = full("a1");
        live.stages = None;
        live.authorizers = None;
        let live = Inventory { apis: vec![live] };
        assert!(compare(&live, &baseline, &Unread::default(), Severity::Low).is_empty());
    }

    #[test]
    fn nothing_is_removed_from_an_unread_api() {
        let baseline = Inventory {
            apis: vec![full("a1")],
        };
        let mut live = full("a1");
        // Partly read: one stage, one authorizer, one integration, changed.
        live.stages = Some(vec![stage("prod", None)]);
        live.authorizers = Some(vec![jwt("abc1", &[])]);
        live.integrations = Some(Vec::new());
        live.routes.clear();
        let live = Inventory { apis: vec![live] };
        let mut unread = Unread::default();
        unread.add_api(("", "", "a1"));
        assert_eq!(
            described(&compare(&live, &baseline, &unread, Severity::Low)),
            [
                "drift.modified api -: authorizer `abc1` (abc1-name): changed: jwt_configuration.audience [\"api\"] -> []",
                "drift.modified stage prod: changed: access_log_settings.destination_arn \"arn:log\" -> absent",
            ]
        );
    }

    #[test]
    fn the_parts_of_a_new_or_gone_api_are_said_by_its_routes() {
        let baseline = Inventory {
            apis: vec![full("gone")],
        };
        let live = Inventory {
            apis: vec![full("new")],
        };
        assert_eq!(
            described(&compare(
                &live,
                &baseline,
                &Unread::default(),
                Severity::Low
            )),
            [
                "drift.added route -: not in the baseline",
                "drift.removed route -: in the baseline; its API is gone",
            ]
        );
    }

    #[test]
    fn a_removed_route_points_at_the_baseline() {
        let mut base = api("a1", vec![route("GET /a", "JWT"), route("GET /b", "JWT")]);
        base.origin = crate::inventory::Origin(Some(Arc::new(crate::inventory::Location {
            path: "baseline.json".into(),
            line: 1,
            column: None,
        })));
        base.routes[1].line = Line(Some(9), None);
        let mut live = api("a1", vec![route("GET /a", "JWT")]);
        live.name = Some("payments".into());
        live.origin = crate::inventory::Origin(Some(Arc::new(crate::inventory::Location {
            path: "live.json".into(),
            line: 1,
            column: None,
        })));
        let findings = compare(
            &Inventory { apis: vec![live] },
            &Inventory { apis: vec![base] },
            &Unread::default(),
            Severity::Low,
        );
        assert_eq!(findings.len(), 1);
        let at = findings[0].location.as_ref().unwrap();
        assert_eq!((&*at.path, at.line), ("baseline.json", 9));
        assert_eq!(
            findings[0].api_name.as_deref(),
            Some("payments"),
            "named as live"
        );
    }

    #[test]
    fn field_names_are_snake_case() {
        assert_eq!(
            snake_case("AuthorizerResultTtlInSeconds"),
            "authorizer_result_ttl_in_seconds"
        );
        assert_eq!(snake_case("Target"), "target");
    }
}

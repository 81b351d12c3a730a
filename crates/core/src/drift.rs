//! Drift: the live inventory against a baseline fleet file. Routes are matched
//! by API id and route key (a route re-created with the same key and settings
//! is not drift, whatever its new RouteId). An API that could not be read is
//! left out: nothing is known about it, so nothing is reported as removed.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use crate::finding::{Finding, Severity, Status, Subject};
use crate::inventory::{Api, Inventory, Route};
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

    fn rule(self, severity: Severity) -> RuleInfo {
        let (title, remediation) = match self {
            Change::Added => (
                "Route added since the baseline",
                "If the route was deployed on purpose, take a new baseline (routewarden snapshot); otherwise remove it.",
            ),
            Change::Removed => (
                "Route removed since the baseline",
                "If the route was removed on purpose, take a new baseline (routewarden snapshot); otherwise restore it.",
            ),
            Change::Modified => (
                "Route changed since the baseline",
                "If the change went through the pipeline, take a new baseline (routewarden snapshot); otherwise revert it.",
            ),
        };
        RuleInfo {
            id: self.rule_id().into(),
            title: title.into(),
            severity,
            description: None,
            remediation: Some(remediation.into()),
            enabled: true,
            subject: Subject::Route,
            needs: Default::default(),
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

    pub fn contains(&self, (target, region, id): ApiKey<'_>) -> bool {
        let scope = (target.to_owned(), region.to_owned());
        self.scopes.contains(&scope) || self.apis.contains(&(scope.0, scope.1, id.to_owned()))
    }
}

/// Drift findings of `live` against `baseline`: routes added and modified
/// among those read, and routes removed from APIs that are not `unread`.
pub fn compare(
    live: &Inventory,
    baseline: &Inventory,
    unread: &Unread,
    severity: Severity,
) -> Vec<Finding> {
    let rules: BTreeMap<&str, Arc<RuleInfo>> = Change::ALL
        .iter()
        .map(|c| (c.rule_id(), Arc::new(c.rule(severity))))
        .collect();
    let live_apis = index(live);
    let base_apis = index(baseline);
    let mut findings = Vec::new();
    let mut push = |change: Change, api: &Api, route: &Route, message: String| {
        let rule = rules[change.rule_id()].clone();
        findings.push(Finding::new(
            api,
            route,
            rule,
            Status::Violation,
            message,
            None,
        ));
    };
    for (id, live_api) in &live_apis {
        let base_routes = base_apis.get(id).map(|api| by_key(api)).unwrap_or_default();
        for route in &live_api.routes {
            match base_routes.get(route.route_key.as_str()) {
                None => push(
                    Change::Added,
                    live_api,
                    route,
                    "not in the baseline".to_owned(),
                ),
                Some(before) => {
                    let changed = changed_fields(before, route);
                    if !changed.is_empty() {
                        push(
                            Change::Modified,
                            live_api,
                            route,
                            format!("changed: {}", changed.join("; ")),
                        );
                    }
                }
            }
        }
    }
    for (id, base_api) in &base_apis {
        if unread.contains(*id) {
            continue;
        }
        let live_routes = live_apis.get(id).map(|api| by_key(api)).unwrap_or_default();
        for route in &base_api.routes {
            if !live_routes.contains_key(route.route_key.as_str()) {
                let message = if live_apis.contains_key(id) {
                    "in the baseline, not live".to_owned()
                } else {
                    "in the baseline; its API is gone".to_owned()
                };
                // Context from the live API where it still exists.
                let api = live_apis.get(id).copied().unwrap_or(base_api);
                push(Change::Removed, api, route, message);
            }
        }
    }
    findings
}

fn index(inventory: &Inventory) -> BTreeMap<ApiKey<'_>, &Api> {
    inventory.apis.iter().map(|api| (api.key(), api)).collect()
}

fn by_key(api: &Api) -> BTreeMap<&str, &Route> {
    api.routes
        .iter()
        .map(|r| (r.route_key.as_str(), r))
        .collect()
}

/// `field: before -> after` for every field that differs (RouteId aside).
fn changed_fields(before: &Route, after: &Route) -> Vec<String> {
    fn show<T: serde::Serialize>(value: &T) -> String {
        serde_json::to_string(value).unwrap_or_default()
    }
    let mut changes = Vec::new();
    let mut check = |name: &str, a: String, b: String| {
        if a != b {
            changes.push(format!("{name} {a} -> {b}"));
        }
    };
    check(
        "authorization_type",
        show(&before.authorization_type()),
        show(&after.authorization_type()),
    );
    check(
        "authorizer_id",
        show(&before.authorizer_id),
        show(&after.authorizer_id),
    );
    check(
        "authorization_scopes",
        show(&before.authorization_scopes),
        show(&after.authorization_scopes),
    );
    check(
        "api_key_required",
        show(&before.api_key_required.unwrap_or(false)),
        show(&after.api_key_required.unwrap_or(false)),
    );
    check(
        "api_gateway_managed",
        show(&before.api_gateway_managed.unwrap_or(false)),
        show(&after.api_gateway_managed.unwrap_or(false)),
    );
    check(
        "operation_name",
        show(&before.operation_name),
        show(&after.operation_name),
    );
    check("target", show(&before.target), show(&after.target));
    check(
        "model_selection_expression",
        show(&before.model_selection_expression),
        show(&after.model_selection_expression),
    );
    check(
        "route_response_selection_expression",
        show(&before.route_response_selection_expression),
        show(&after.route_response_selection_expression),
    );
    check(
        "request_models",
        show(&before.request_models),
        show(&after.request_models),
    );
    check(
        "request_parameters",
        show(&before.request_parameters),
        show(&after.request_parameters),
    );
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(changed_fields(&before, &after).is_empty());
        after.authorization_scopes = Some(vec!["read".into()]);
        assert_eq!(
            changed_fields(&before, &after),
            ["authorization_scopes null -> [\"read\"]"]
        );
    }
}

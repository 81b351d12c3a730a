//! The daemon's last known state: every API with its routes and findings, and
//! whether its last audit succeeded. An API that cannot be read keeps its last
//! routes and violations (so an outage never resolves an alert); an API that no
//! longer exists (NotFound, or gone from a discovery that succeeded) is removed.

use std::collections::{BTreeMap, HashSet};

use crate::audit::{self, AuditError, ErrorKind, Finding, Status};
use crate::drift;
use crate::inventory::{Api, Inventory};
use crate::policy::{PolicySet, Severity};

/// `(target name, region, API id)`; empty where unknown (fleet-file APIs
/// without a target or region).
pub type ApiKey = (String, String, String);

/// One API as last seen.
#[derive(Debug, Clone)]
pub struct ApiEntry {
    pub api: Api,
    pub findings: Vec<Finding>,
    /// Whether the last audit of this API succeeded.
    pub up: bool,
    /// Unix time of the last successful audit.
    pub last_success: f64,
}

/// What changed in a cycle, for the logs.
#[derive(Debug, Default)]
pub struct Changes {
    pub opened: Vec<Finding>,
    pub closed: Vec<Finding>,
    pub expired_exemptions: Vec<Finding>,
    /// APIs removed because they no longer exist.
    pub removed: Vec<ApiKey>,
}

#[derive(Debug, Default)]
pub struct State {
    pub apis: BTreeMap<ApiKey, ApiEntry>,
    pub drift: Vec<Finding>,
}

fn owned((target, region, api_id): (&str, &str, &str)) -> ApiKey {
    (target.to_owned(), region.to_owned(), api_id.to_owned())
}

/// Identity of an open violation across cycles.
fn violation_key(f: &Finding) -> (String, String, String, String) {
    (
        f.rule.id.to_string(),
        f.target_name.as_deref().unwrap_or("").to_owned(),
        f.api_id.to_string(),
        f.route_key.clone(),
    )
}

pub struct Cycle<'a> {
    pub inventory: Inventory,
    pub errors: &'a [AuditError],
    /// Every API was expected to be read (a files source that failed to load: false).
    pub source_failed: bool,
    pub policies: &'a PolicySet,
    pub today: time::Date,
    pub now: f64,
    pub baseline: Option<&'a Inventory>,
    pub drift_severity: Severity,
}

impl State {
    /// Applies what a cycle read; returns what changed.
    pub fn apply(&mut self, cycle: Cycle<'_>) -> Changes {
        // Open and exempted findings before the cycle, by identity.
        let mut before: BTreeMap<_, Finding> = self
            .apis
            .values()
            .flat_map(|e| e.findings.iter())
            .map(|f| (violation_key(f), f.clone()))
            .collect();

        // Targets whose discovery failed: nothing is known about their APIs.
        let blind_targets: HashSet<&str> = cycle
            .errors
            .iter()
            .filter(|e| e.api_id.is_none())
            .map(|e| e.target_name.as_deref().unwrap_or(""))
            .collect();
        let failed: HashSet<ApiKey> = cycle
            .errors
            .iter()
            .filter(|e| e.kind != ErrorKind::NotFound)
            .filter_map(AuditError::api_key)
            .map(owned)
            .collect();

        let mut next = BTreeMap::new();
        for mut api in cycle.inventory.apis {
            let mut findings = Vec::new();
            audit::evaluate_api(&api, cycle.policies, cycle.today, &mut findings);
            let key = owned(api.key());
            // Read, but not completely (a first page only): what was read is
            // current; the routes not read keep their last known state.
            let up = !failed.contains(&key);
            let mut last_success = cycle.now;
            if !up && let Some(old) = self.apis.get(&key) {
                let read: HashSet<&str> = api.routes.iter().map(|r| r.route_key.as_str()).collect();
                findings.extend(
                    old.findings
                        .iter()
                        .filter(|f| !read.contains(f.route_key.as_str()))
                        .cloned(),
                );
                let unread = old
                    .api
                    .routes
                    .iter()
                    .filter(|r| !read.contains(r.route_key.as_str()));
                let unread: Vec<_> = unread.cloned().collect();
                api.routes.extend(unread);
                last_success = old.last_success;
            }
            next.insert(
                key,
                ApiEntry {
                    api,
                    findings,
                    up,
                    last_success,
                },
            );
        }
        let mut changes = Changes::default();
        for (key, mut entry) in std::mem::take(&mut self.apis) {
            if next.contains_key(&key) {
                continue;
            }
            let unknown = cycle.source_failed
                || blind_targets.contains(key.0.as_str())
                || failed.contains(&key);
            if unknown {
                // Last known routes and violations stay; the API is down.
                entry.up = false;
                next.insert(key, entry);
            } else {
                changes.removed.push(key);
            }
        }
        self.apis = next;

        self.drift = match cycle.baseline {
            Some(baseline) => {
                let live = Inventory {
                    apis: self
                        .apis
                        .values()
                        .filter(|e| e.up)
                        .map(|e| e.api.clone())
                        .collect(),
                };
                let unread: HashSet<drift::ApiKey<'_>> = self
                    .apis
                    .values()
                    .filter(|e| !e.up)
                    .map(|e| e.api.key())
                    .collect();
                drift::compare(&live, baseline, &unread, cycle.drift_severity)
            }
            None => Vec::new(),
        };

        // One pass over the new findings against the old ones: what is left in
        // `before` afterwards no longer exists.
        for f in self.apis.values().flat_map(|e| e.findings.iter()) {
            let was = before.remove(&violation_key(f)).map(|old| old.status);
            match (was, f.status) {
                (Some(Status::Exempted), Status::ExpiredExemption) => {
                    changes.expired_exemptions.push(f.clone())
                }
                (None | Some(Status::Exempted), Status::Violation | Status::ExpiredExemption) => {
                    changes.opened.push(f.clone())
                }
                (Some(old), Status::Exempted) if old.is_open() => changes.closed.push(f.clone()),
                _ => {}
            }
        }
        changes
            .closed
            .extend(before.into_values().filter(|f| f.status.is_open()));
        changes
    }

    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.apis.values().flat_map(|e| e.findings.iter())
    }

    /// Open violations in the state.
    pub fn open_violations(&self) -> usize {
        self.findings().filter(|f| f.status.is_open()).count()
    }

    pub fn routes(&self) -> usize {
        self.apis.values().map(|e| e.api.routes.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Operation;
    use crate::inventory::Route;
    use crate::policy::PolicySource;

    fn api(target: &str, id: &str, auth: &str) -> Api {
        Api {
            api_id: id.into(),
            target_name: Some(target.into()),
            protocol_type: Some("HTTP".into()),
            routes: vec![Route {
                route_key: "GET /x".into(),
                authorization_type: Some(auth.into()),
                ..Route::default()
            }],
            ..Api::default()
        }
    }

    fn error(target: &str, api: Option<&str>, kind: ErrorKind) -> AuditError {
        AuditError {
            target_name: Some(target.into()),
            region: None,
            api_id: api.map(Into::into),
            operation: Operation::GetRoutes,
            kind,
            message: "x".into(),
        }
    }

    fn cycle<'a>(
        apis: Vec<Api>,
        errors: &'a [AuditError],
        policies: &'a PolicySet,
        now: f64,
    ) -> Cycle<'a> {
        Cycle {
            inventory: Inventory { apis },
            errors,
            source_failed: false,
            policies,
            today: time::macros::date!(2026 - 01 - 01),
            now,
            baseline: None,
            drift_severity: Severity::Medium,
        }
    }

    #[test]
    fn violations_open_close_and_survive_outages() {
        let policies = PolicySet::load(&[PolicySource::Builtin]).unwrap();
        let mut state = State::default();
        let changes = state.apply(cycle(
            vec![api("t", "a1", "NONE"), api("t", "a2", "JWT")],
            &[],
            &policies,
            1.0,
        ));
        assert_eq!(
            changes.opened.len(),
            3,
            "RW001 on a1; RW002 and RW003 on a2"
        );
        assert_eq!(state.open_violations(), 3);

        // The same again: nothing opens or closes.
        let changes = state.apply(cycle(
            vec![api("t", "a1", "NONE"), api("t", "a2", "JWT")],
            &[],
            &policies,
            2.0,
        ));
        assert!(changes.opened.is_empty() && changes.closed.is_empty());

        // a1 cannot be read: it keeps its violation, down, with its last success.
        let errors = [error("t", Some("a1"), ErrorKind::ServerError)];
        let changes = state.apply(cycle(vec![api("t", "a2", "JWT")], &errors, &policies, 3.0));
        assert!(changes.closed.is_empty(), "an outage resolves nothing");
        let a1 = &state.apis[&("t".to_owned(), String::new(), "a1".to_owned())];
        assert!(!a1.up);
        assert_eq!(a1.last_success, 2.0);
        assert_eq!(state.open_violations(), 3);

        // Discovery of the target fails: every API of it is kept, down.
        let errors = [error("t", None, ErrorKind::Timeout)];
        state.apply(cycle(vec![], &errors, &policies, 4.0));
        assert_eq!(state.apis.len(), 2);
        assert!(state.apis.values().all(|e| !e.up));

        // a1 fixed; a2 gone (NotFound): a1's violation closes, a2's series go.
        let errors = [error("t", Some("a2"), ErrorKind::NotFound)];
        let changes = state.apply(cycle(
            vec![api("t", "a1", "AWS_IAM")],
            &errors,
            &policies,
            5.0,
        ));
        assert_eq!(
            changes.closed.len(),
            3,
            "a1's by the fix, a2's two with their API"
        );
        assert_eq!(
            changes.removed,
            [("t".to_owned(), String::new(), "a2".to_owned())]
        );
        assert_eq!(state.open_violations(), 0);
        assert!(state.apis[&("t".to_owned(), String::new(), "a1".to_owned())].up);

        // Gone from a discovery that succeeded: removed too.
        let changes = state.apply(cycle(vec![], &[], &policies, 6.0));
        assert_eq!(changes.removed.len(), 1);
        assert!(state.apis.is_empty());
    }

    #[test]
    fn a_failed_files_source_keeps_everything() {
        let policies = PolicySet::load(&[PolicySource::Builtin]).unwrap();
        let mut state = State::default();
        state.apply(cycle(vec![api("t", "a1", "NONE")], &[], &policies, 1.0));
        let mut failed = cycle(vec![], &[], &policies, 2.0);
        failed.source_failed = true;
        let changes = state.apply(failed);
        assert!(changes.closed.is_empty() && changes.removed.is_empty());
        assert_eq!(state.open_violations(), 1);
    }

    #[test]
    fn a_first_page_updates_what_it_holds_and_keeps_the_rest() {
        let policies = PolicySet::load(&[PolicySource::Builtin]).unwrap();
        let mut both = api("t", "a1", "NONE");
        both.routes.push(Route {
            route_key: "GET /y".into(),
            authorization_type: Some("NONE".into()),
            ..Route::default()
        });
        let mut state = State::default();
        state.apply(cycle(vec![both], &[], &policies, 1.0));
        assert_eq!(state.open_violations(), 2);
        // The first page now holds GET /x, fixed; GET /y was not read.
        let first_page = api("t", "a1", "AWS_IAM");
        let errors = [error("t", Some("a1"), ErrorKind::Incomplete)];
        let changes = state.apply(cycle(vec![first_page], &errors, &policies, 2.0));
        let entry = &state.apis[&("t".to_owned(), String::new(), "a1".to_owned())];
        assert!(!entry.up);
        assert_eq!(entry.api.routes.len(), 2);
        let open: Vec<&str> = state.findings().map(|f| f.route_key.as_str()).collect();
        assert_eq!(open, ["GET /y"]);
        assert_eq!(changes.closed.len(), 1);
        assert_eq!(changes.closed[0].route_key, "GET /x");
    }
}

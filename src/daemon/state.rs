//! The daemon's last known state: every API with its routes and findings, and
//! whether its last audit succeeded. It compares one cycle's [`Outcome`] with
//! the last; it never evaluates. An API that cannot be read keeps its last
//! routes and violations (so an outage never resolves an alert); an API that
//! no longer exists (NotFound, or gone from a discovery that succeeded) is
//! removed.

use std::collections::{BTreeMap, HashSet};

use routewarden_core::finding::{Finding, Status, Subject};
use routewarden_core::inventory::Api;

use crate::audit::{AccountStatus, Cause, ExemptionUse, Outcome};
use crate::source::Roster;

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
    /// Exemptions that now match nothing, or now expire soon (each logged
    /// once, when it becomes so).
    pub review: Vec<ExemptionUse>,
}

#[derive(Debug, Default)]
pub struct State {
    pub apis: BTreeMap<ApiKey, ApiEntry>,
    pub drift: Vec<Finding>,
    /// The organizations' accounts of the last cycle, up or not.
    pub accounts: Vec<AccountStatus>,
    /// Every exemption loaded, with what it matched in the last cycle.
    pub exemptions: Vec<ExemptionUse>,
    pub organizations: Vec<Roster>,
}

fn owned((target, region, api_id): (&str, &str, &str)) -> ApiKey {
    (target.to_owned(), region.to_owned(), api_id.to_owned())
}

fn key_of(f: &Finding) -> ApiKey {
    owned((
        f.target_name.as_deref().unwrap_or(""),
        f.region.as_deref().unwrap_or(""),
        &f.api_id,
    ))
}

/// Identity of an open violation across cycles: its rule, target, API,
/// route (`""` for API and stage findings) and stage (`""` for route and API
/// findings), so that each stage of an API has its own.
type ViolationKey = (String, String, String, String, String);

fn violation_key(f: &Finding) -> ViolationKey {
    (
        f.rule.id.to_string(),
        f.target_name.as_deref().unwrap_or("").to_owned(),
        f.api_id.to_string(),
        f.route_key.clone(),
        f.stage.as_deref().unwrap_or("").to_owned(),
    )
}

impl State {
    /// Takes in one cycle's outcome (with routes kept); `now` is the Unix
    /// time of its end. Returns what changed.
    pub fn apply(&mut self, outcome: Outcome, now: f64) -> Changes {
        let before = self.open_and_exempted();
        // Each exemption is logged once when it starts to need review, and
        // again only if why changes (it stops matching, or starts expiring).
        let why = |e: &ExemptionUse| (e.info.label.clone(), e.matched == 0);
        let known: HashSet<_> = self
            .exemptions
            .iter()
            .filter(|e| e.needs_review())
            .map(why)
            .collect();
        let review: Vec<ExemptionUse> = outcome
            .exemptions
            .iter()
            .filter(|e| e.needs_review() && !known.contains(&why(e)))
            .cloned()
            .collect();
        self.exemptions = outcome.exemptions;
        // An organization that could not be listed at all keeps its last
        // roster, its accounts down for that reason; one no longer in the
        // config (and every account that left) is gone.
        let unlisted: Vec<(&str, Cause)> = outcome
            .errors
            .iter()
            .filter(|e| e.target_name.is_none())
            .filter_map(|e| {
                let cause = Cause {
                    kind: e.kind,
                    operation: e.operation,
                    count: 1,
                    message: e.message.clone(),
                };
                Some((e.organization.as_deref()?, cause))
            })
            .collect();
        let cause_of = |organization: Option<&str>| {
            unlisted
                .iter()
                .find(|(o, _)| Some(*o) == organization)
                .map(|(_, cause)| cause.clone())
        };
        let mut accounts: Vec<AccountStatus> = std::mem::take(&mut self.accounts)
            .into_iter()
            .filter_map(|mut status| {
                let cause = cause_of(status.account.organization.as_deref())?;
                status.causes = vec![cause];
                Some(status)
            })
            .collect();
        accounts.extend(outcome.accounts);
        self.accounts = accounts;
        let mut organizations: Vec<Roster> = std::mem::take(&mut self.organizations)
            .into_iter()
            .filter(|r| cause_of(Some(&r.organization)).is_some())
            .collect();
        organizations.extend(outcome.organizations);
        self.organizations = organizations;
        let mut findings: BTreeMap<ApiKey, Vec<Finding>> = BTreeMap::new();
        for f in outcome.findings {
            findings.entry(key_of(&f)).or_default().push(f);
        }
        // What an unread API's routes were, for its drift below.
        let mut read_routes: BTreeMap<ApiKey, HashSet<String>> = BTreeMap::new();
        let mut next = BTreeMap::new();
        for mut api in outcome.inventory.apis {
            let key = owned(api.key());
            let mut findings = findings.remove(&key).unwrap_or_default();
            // Read, but not completely (a first page only): what was read is
            // current; the routes not read keep their last known state.
            let up = !outcome.unread.contains(api.key());
            let mut last_success = now;
            if !up {
                let read: HashSet<String> =
                    api.routes.iter().map(|r| r.route_key.clone()).collect();
                if let Some(old) = self.apis.get(&key) {
                    let unread = |key: &str| !read.contains(key);
                    // Route findings of the routes not read; the API's and
                    // its stages' findings are this cycle's.
                    findings.extend(
                        old.findings
                            .iter()
                            .filter(|f| f.subject == Subject::Route && unread(&f.route_key))
                            .cloned(),
                    );
                    let routes = old.api.routes.iter().filter(|r| unread(&r.route_key));
                    api.routes.extend(routes.cloned().collect::<Vec<_>>());
                    last_success = old.last_success;
                }
                read_routes.insert(key.clone(), read);
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
        let mut changes = Changes {
            review,
            ..Changes::default()
        };
        for (key, mut entry) in std::mem::take(&mut self.apis) {
            if next.contains_key(&key) {
                continue;
            }
            if outcome.unread.contains((&key.0, &key.1, &key.2)) {
                // Last known routes and violations stay; the API is down.
                entry.up = false;
                next.insert(key, entry);
            } else {
                changes.removed.push(key);
            }
        }
        self.apis = next;

        // Drift as violations: this cycle's, and the last known of what
        // could not be read, by the rule findings follow above: an API not
        // read at all keeps all of it; one read in part keeps the drift of
        // the routes not read (its stage and API drift are this cycle's).
        let old_drift = std::mem::take(&mut self.drift);
        self.drift = outcome.drift;
        self.drift.extend(old_drift.into_iter().filter(|f| {
            let key = key_of(f);
            outcome.unread.contains((&key.0, &key.1, &key.2))
                && read_routes
                    .get(&key)
                    .is_none_or(|read| f.subject == Subject::Route && !read.contains(&f.route_key))
        }));

        self.compare(before, &mut changes);
        changes
    }

    /// The source's own input could not be loaded: nothing is known this
    /// cycle. Every API keeps its last state, down.
    pub fn source_failed(&mut self) {
        for entry in self.apis.values_mut() {
            entry.up = false;
        }
    }

    fn open_and_exempted(&self) -> BTreeMap<ViolationKey, Finding> {
        self.findings()
            .map(|f| (violation_key(f), f.clone()))
            .collect()
    }

    /// One pass over the new findings against the old ones: what is left in
    /// `before` afterwards no longer exists.
    fn compare(&self, mut before: BTreeMap<ViolationKey, Finding>, changes: &mut Changes) {
        for f in self.findings() {
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
    use routewarden_core::finding::Severity;
    use routewarden_core::inventory::{Inventory, Route};
    use routewarden_core::policy::{PolicySet, PolicySource};

    use super::*;
    use crate::audit::tests::Given;
    use crate::audit::{self, Audit};
    use crate::source::{ErrorKind, FetchError, Operation};

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

    fn error(target: &str, api: Option<&str>, kind: ErrorKind) -> FetchError {
        FetchError {
            account_id: None,
            organization: None,
            target_name: Some(target.into()),
            region: None,
            api_id: api.map(Into::into),
            operation: Operation::GetRoutes,
            kind,
            message: "x".into(),
        }
    }

    /// One cycle's outcome: the audit of what the source yields.
    fn cycle(apis: Vec<Api>, errors: &[FetchError], policies: &PolicySet) -> Outcome {
        against(None, apis, errors, policies)
    }

    /// The same, with drift against a baseline.
    fn against(
        baseline: Option<&Inventory>,
        apis: Vec<Api>,
        errors: &[FetchError],
        policies: &PolicySet,
    ) -> Outcome {
        let audit = Audit {
            policies,
            baseline,
            code: None,
            drift_severity: Severity::Medium,
            today: time::macros::date!(2026 - 01 - 01),
            keep_routes: true,
            warn_expiring: crate::audit::WARN_EXPIRING,
        };
        let source = Given(apis, errors.to_vec());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(audit::run(&source, &audit, &())).unwrap()
    }

    #[test]
    fn violations_open_close_and_survive_outages() {
        let policies = PolicySet::load(&[PolicySource::Builtin]).unwrap();
        let mut state = State::default();
        let changes = state.apply(
            cycle(
                vec![api("t", "a1", "NONE"), api("t", "a2", "JWT")],
                &[],
                &policies,
            ),
            1.0,
        );
        assert_eq!(
            changes.opened.len(),
            3,
            "RW001 on a1; RW002 and RW003 on a2"
        );
        assert_eq!(state.open_violations(), 3);

        // The same again: nothing opens or closes.
        let changes = state.apply(
            cycle(
                vec![api("t", "a1", "NONE"), api("t", "a2", "JWT")],
                &[],
                &policies,
            ),
            2.0,
        );
        assert!(changes.opened.is_empty() && changes.closed.is_empty());

        // a1 cannot be read: it keeps its violation, down, with its last success.
        let errors = [error("t", Some("a1"), ErrorKind::ServerError)];
        let changes = state.apply(cycle(vec![api("t", "a2", "JWT")], &errors, &policies), 3.0);
        assert!(changes.closed.is_empty(), "an outage resolves nothing");
        let a1 = &state.apis[&("t".to_owned(), String::new(), "a1".to_owned())];
        assert!(!a1.up);
        assert_eq!(a1.last_success, 2.0);
        assert_eq!(state.open_violations(), 3);

        // Discovery of the target fails: every API of it is kept, down.
        let errors = [error("t", None, ErrorKind::Timeout)];
        state.apply(cycle(vec![], &errors, &policies), 4.0);
        assert_eq!(state.apis.len(), 2);
        assert!(state.apis.values().all(|e| !e.up));

        // a1 fixed; a2 gone (NotFound): a1's violation closes, a2's series go.
        let errors = [error("t", Some("a2"), ErrorKind::NotFound)];
        let changes = state.apply(
            cycle(vec![api("t", "a1", "AWS_IAM")], &errors, &policies),
            5.0,
        );
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
        let changes = state.apply(cycle(vec![], &[], &policies), 6.0);
        assert_eq!(changes.removed.len(), 1);
        assert!(state.apis.is_empty());
    }

    #[test]
    fn each_stage_has_its_own_violation() {
        use routewarden_core::inventory::{AccessLogSettings, Stage};
        let policies = PolicySet::load(&[PolicySource::Builtin]).unwrap();
        let stage = |name: &str, logs: bool| Stage {
            stage_name: name.into(),
            access_log_settings: logs.then(|| AccessLogSettings {
                destination_arn: Some("arn:aws:logs:us-east-1:1:log-group:x".into()),
                format: Some("$context.requestId".into()),
            }),
            ..Stage::default()
        };
        let with_stages = |stages: Vec<Stage>| {
            let mut a1 = api("t", "a1", "AWS_IAM");
            a1.stages = Some(stages);
            a1
        };
        let rw014 = |state: &State| -> Vec<String> {
            state
                .findings()
                .filter(|f| &*f.rule.id == "RW014")
                .map(|f| {
                    assert_eq!(f.subject, Subject::Stage);
                    assert_eq!(f.route_key, "", "a stage finding is about no route");
                    f.stage.as_deref().unwrap().to_owned()
                })
                .collect()
        };
        let mut state = State::default();
        let changes = state.apply(
            cycle(
                vec![with_stages(vec![stage("dev", false), stage("prod", false)])],
                &[],
                &policies,
            ),
            1.0,
        );
        assert_eq!(changes.opened.len(), 2, "one per stage: {changes:?}");
        assert_eq!(rw014(&state), ["dev", "prod"]);

        // prod gets access logs: its violation closes, dev's stays open.
        let changes = state.apply(
            cycle(
                vec![with_stages(vec![stage("dev", false), stage("prod", true)])],
                &[],
                &policies,
            ),
            2.0,
        );
        assert!(changes.opened.is_empty(), "{changes:?}");
        assert_eq!(changes.closed.len(), 1);
        assert_eq!(changes.closed[0].stage.as_deref(), Some("prod"));
        assert_eq!(rw014(&state), ["dev"]);

        // The API cannot be read (GetStages fails): dev's violation stays.
        let mut failed = error("t", Some("a1"), ErrorKind::Throttled);
        failed.operation = Operation::GetStages;
        let changes = state.apply(cycle(vec![], &[failed], &policies), 3.0);
        assert!(changes.closed.is_empty(), "an outage resolves nothing");
        assert_eq!(rw014(&state), ["dev"]);
    }

    #[test]
    fn a_failed_files_source_keeps_everything() {
        let policies = PolicySet::load(&[PolicySource::Builtin]).unwrap();
        let mut state = State::default();
        state.apply(cycle(vec![api("t", "a1", "NONE")], &[], &policies), 1.0);
        state.source_failed();
        assert!(!state.apis.values().any(|e| e.up));
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
        state.apply(cycle(vec![both], &[], &policies), 1.0);
        assert_eq!(state.open_violations(), 2);
        // The first page now holds GET /x, fixed; GET /y was not read.
        let first_page = api("t", "a1", "AWS_IAM");
        let errors = [error("t", Some("a1"), ErrorKind::Incomplete)];
        let changes = state.apply(cycle(vec![first_page], &errors, &policies), 2.0);
        let entry = &state.apis[&("t".to_owned(), String::new(), "a1".to_owned())];
        assert!(!entry.up);
        assert_eq!(entry.api.routes.len(), 2);
        let open: Vec<&str> = state.findings().map(|f| f.route_key.as_str()).collect();
        assert_eq!(open, ["GET /y"]);
        assert_eq!(changes.closed.len(), 1);
        assert_eq!(changes.closed[0].route_key, "GET /x");
    }

    #[test]
    fn drift_of_an_api_that_cannot_be_read_stays_until_it_is_read_again() {
        let policies = PolicySet::load(&[PolicySource::Builtin]).unwrap();
        let baseline = Inventory {
            apis: vec![api("t", "a1", "AWS_IAM")],
        };
        let drifted = || {
            let mut a1 = api("t", "a1", "AWS_IAM");
            a1.routes.push(Route {
                route_key: "POST /new".into(),
                authorization_type: Some("AWS_IAM".into()),
                ..Route::default()
            });
            a1
        };
        let mut state = State::default();
        state.apply(
            against(Some(&baseline), vec![drifted()], &[], &policies),
            1.0,
        );
        assert_eq!(state.drift.len(), 1);
        assert_eq!(&*state.drift[0].rule.id, "drift.added");

        // a1 cannot be read: its drift is what was last known, not "removed".
        let errors = [error("t", Some("a1"), ErrorKind::Throttled)];
        state.apply(against(Some(&baseline), vec![], &errors, &policies), 2.0);
        let drift: Vec<_> = state
            .drift
            .iter()
            .map(|f| (&*f.rule.id, &*f.route_key))
            .collect();
        assert_eq!(drift, [("drift.added", "POST /new")]);

        // Read again, back to the baseline: the drift goes.
        state.apply(
            against(
                Some(&baseline),
                vec![api("t", "a1", "AWS_IAM")],
                &[],
                &policies,
            ),
            3.0,
        );
        assert!(state.drift.is_empty());

        // Gone (NotFound): its routes are removed drift, not unknown.
        let errors = [error("t", Some("a1"), ErrorKind::NotFound)];
        state.apply(against(Some(&baseline), vec![], &errors, &policies), 4.0);
        let drift: Vec<_> = state.drift.iter().map(|f| &*f.rule.id).collect();
        assert_eq!(drift, ["drift.removed"]);
    }
}

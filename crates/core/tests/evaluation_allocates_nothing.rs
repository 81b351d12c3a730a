//! The hot path allocates nothing: once regex caches are warm, evaluating every
//! route, API and stage of a fleet against every rule makes no heap
//! allocation, joins to authorizers and integrations included. This counts
//! allocations (a property of the code), it does not time anything.

use std::path::Path;

use routewarden_core::diag::Diagnostics;
use routewarden_core::finding::Subject;
use routewarden_core::inventory::{self, Api};
use routewarden_core::policy::{Context, PolicySet, PolicySource};

/// The example fleet (v1), and one API of the whole-API example (v2).
fn fleet() -> Vec<Api> {
    let mut diags = Diagnostics::new();
    let mut apis = Vec::new();
    for file in ["../../examples/fleet.json", "tests/fixtures/whole-api.json"] {
        apis.extend(
            inventory::load_routes_file(&mut diags, Path::new(file))
                .unwrap_or_else(|| panic!("{file}: {diags}"))
                .0,
        );
    }
    apis
}

#[test]
fn evaluating_rules_makes_no_allocation() {
    let set = PolicySet::load(&[
        PolicySource::Builtin,
        PolicySource::Path("../../benches/rules.toml".into()),
    ])
    .unwrap();
    let apis = fleet();
    assert!(
        apis.iter()
            .any(|a| a.authorizers.is_some() && a.stages.is_some()),
        "the fleet holds the whole API"
    );
    let evaluate = || {
        let mut violations = [0usize; 3];
        for api in &apis {
            let ctx = Context::of(api);
            let rules = |subject: Subject| {
                set.enabled()
                    .map(|(_, r)| r)
                    .filter(move |r| r.info.subject == subject && r.needs.met_by(api))
            };
            for rule in rules(Subject::Api) {
                violations[0] += usize::from(rule.violated_by(&ctx));
            }
            for route in &api.routes {
                let ctx = ctx.route(route);
                for rule in rules(Subject::Route) {
                    violations[1] += usize::from(rule.violated_by(&ctx));
                }
            }
            for stage in api.stages.iter().flatten() {
                let ctx = ctx.stage(stage);
                for rule in rules(Subject::Stage) {
                    violations[2] += usize::from(rule.violated_by(&ctx));
                }
            }
        }
        violations
    };
    let warm = evaluate();
    assert!(
        warm.iter().all(|&n| n > 0),
        "every subject has violations, so every path is taken: {warm:?}"
    );
    let mut again = [0; 3];
    let info = allocation_counter::measure(|| again = evaluate());
    assert_eq!(again, warm);
    assert_eq!(
        info.count_total, 0,
        "allocations while evaluating: {info:?}"
    );
}

//! The hot path allocates nothing: once regex caches are warm, evaluating every
//! route of a fleet against every rule makes no heap allocation. This counts
//! allocations (a property of the code), it does not time anything.

use std::path::Path;

use routewarden_core::diag::Diagnostics;
use routewarden_core::inventory;
use routewarden_core::policy::{Context, PolicySet, PolicySource};

#[test]
fn evaluating_rules_makes_no_allocation() {
    let set = PolicySet::load(&[
        PolicySource::Builtin,
        PolicySource::Path("../../benches/rules.toml".into()),
    ])
    .unwrap();
    let mut diags = Diagnostics::new();
    let apis = inventory::load_routes_file(&mut diags, Path::new("../../examples/fleet.json"))
        .unwrap()
        .0;
    let evaluate = || {
        let mut violations = 0;
        for api in &apis {
            let ctx = Context::of(api);
            for route in &api.routes {
                let ctx = ctx.route(route);
                for (_, rule) in set.enabled() {
                    violations += usize::from(rule.violated_by(&ctx));
                }
            }
        }
        violations
    };
    let warm = evaluate();
    assert!(warm > 0, "the fleet has violations, so every path is taken");
    let mut again = 0;
    let info = allocation_counter::measure(|| again = evaluate());
    assert_eq!(again, warm);
    assert_eq!(
        info.count_total, 0,
        "allocations while evaluating: {info:?}"
    );
}

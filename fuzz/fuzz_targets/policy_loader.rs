//! Any text given as a policy file: loads or reports problems, never panics;
//! rendering the diagnostics never panics either. What loads evaluates.
#![no_main]

use libfuzzer_sys::fuzz_target;
use routewarden_core::inventory::{Api, Route};
use routewarden_core::policy::{Context, PolicySet};

fuzz_target!(|text: &str| {
    match PolicySet::load_str("fuzz.toml", text) {
        Ok(set) => {
            let api = Api {
                api_id: "a".into(),
                ..Api::default()
            };
            let route = Route {
                route_key: "GET /a".into(),
                ..Route::default()
            };
            for (_, rule) in set.enabled() {
                let _ = rule.violated_by(&Context::of(&api).route(&route));
            }
        }
        Err(err) => {
            let _ = err.0.render(false);
        }
    }
});

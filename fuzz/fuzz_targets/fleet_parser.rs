//! Any text given as a fleet file or get-routes output: parses or reports a
//! positioned problem, never panics; what parses round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use routewarden_core::diag::Diagnostics;
use routewarden_core::inventory::{self, Inventory};

fuzz_target!(|text: &str| {
    let mut diags = Diagnostics::new();
    let file = diags.add_file("fuzz.json", text);
    match inventory::parse_routes(&mut diags, file, "fuzz") {
        Some(apis) => {
            let inventory = Inventory { apis };
            let again = inventory.to_json();
            let mut diags = Diagnostics::new();
            let file = diags.add_file("again.json", again);
            let reparsed = inventory::parse_routes(&mut diags, file, "fuzz")
                .expect("a written fleet file reads back");
            assert_eq!(reparsed, inventory.apis);
        }
        None => {
            let _ = diags.render(false);
        }
    }
});

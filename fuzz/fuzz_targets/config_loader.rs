//! Any text given as a config file: loads or reports problems, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use routewarden_core::config::Config;

fuzz_target!(|text: &str| {
    if let Err(err) = Config::load_str("fuzz.toml", text) {
        let _ = err.0.render(false);
    }
});

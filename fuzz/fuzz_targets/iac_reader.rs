//! Any text given as code (`--iac`): a CloudFormation or SAM template, a
//! Terraform plan, an OpenAPI definition, or none of them, in JSON or YAML:
//! read, or a positioned problem; never a panic, an unbounded loop or a
//! finding without a place.
#![no_main]

use libfuzzer_sys::fuzz_target;
use routewarden_core::iac::{self, Options};

fuzz_target!(|text: &str| {
    match iac::read_str("fuzz.yaml", text, &Options::default()) {
        Ok(read) => {
            for api in &read.apis {
                assert!(api.origin.0.is_some(), "an API from code has a place");
            }
        }
        Err(err) => {
            let _ = err.0.render(false);
        }
    }
});

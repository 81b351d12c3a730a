//! routewarden's pure core: what an API Gateway v2 inventory is, what a
//! policy says about it, and what an audit of one against the other finds.
//!
//! Nothing here does network I/O or needs an async runtime: no tokio, no AWS
//! SDK, no HTTP in the dependency tree (the test command checks it). The
//! loaders read local files with `std::fs`; everything else is pure. The
//! `routewarden` crate builds the sources, the daemon, reports and the
//! command line on top.
//!
//! - [`inventory`]: `Api`, `Route`; fleet files and get-routes outputs.
//! - [`policy`]: rule model, compile, evaluate, exemptions, built-in pack.
//! - [`finding`]: `Severity`, `Status`, `Finding`: what audits produce.
//! - [`drift`]: an inventory against a baseline.
//! - [`config`]: the config file model, loading and validation.
//! - [`diag`]: file:line:column diagnostics and load errors.
//! - [`sanitize`]: external text made safe to show: escaped and clipped.

pub mod config;
pub mod diag;
pub mod drift;
pub mod finding;
pub mod iac;
pub mod inventory;
pub mod policy;
pub mod sanitize;

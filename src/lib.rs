//! routewarden audits AWS API Gateway v2 routes for compliance and drift.
//!
//! Data flows one way: config -> source -> policy -> findings -> sinks.
//!
//! # Layout
//!
//! - [`cli`]: clap derive types, nothing else.
//! - [`commands`]: each command from arguments to an exit status.
//! - [`config`]: the config file model, loading, validation, defaults.
//! - [`diag`]: file:line:column diagnostics shared by every loader.
//! - [`policy`]: rule model, compile, evaluate, exemptions, built-in pack.
//! - [`inventory`]: `Api`, `Route` and the fleet file.
//! - [`source`]: where routes come from: fleet files, or AWS (GetApis/GetRoutes).
//! - [`limiter`]: the per account and region budget, and throttling backoff.
//! - [`drift`]: the inventory against a baseline fleet file.
//! - [`audit`]: one audit: routes against rules, giving findings and errors.
//! - [`daemon`]: scheduler, HTTP server (/metrics, /healthz, /readyz), reload,
//!   shutdown; the only place that holds long-lived state.
//! - [`logging`]: log output with credentials redacted.
//! - [`metrics`]: the Prometheus registry and every metric.
//! - [`shard`]: which replica audits which target (rendezvous hashing).
//! - [`report`]: text, JSON, SARIF and JUnit writers for `--check`.
//! - [`sanitize`]: external text made safe to show: escaped and clipped.

pub mod audit;
pub mod cli;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod diag;
pub mod drift;
pub mod inventory;
pub mod limiter;
pub mod logging;
pub mod metrics;
pub mod policy;
pub mod report;
pub mod sanitize;
pub mod shard;
pub mod source;

pub use commands::{Error, Exit, run};

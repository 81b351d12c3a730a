//! routewarden audits AWS API Gateway v2 routes for compliance and drift.
//!
//! Data flows one way: **load -> source -> audit -> outcome -> sinks**. The
//! pure core (inventory, policies, findings, drift, diagnostics, config) is
//! the `routewarden-core` crate; this crate reads, schedules and writes.
//! docs/architecture.md draws the whole.
//!
//! - [`cli`]: clap derive types, nothing else.
//! - [`commands`]: each command, from arguments to an [`Exit`]: the sinks.
//! - [`load`]: the one load step: arguments and config to a plan.
//! - [`source`]: one trait; fleet files and AWS (client, discovery,
//!   pagination, classification, limiter) implement it.
//! - [`audit`]: the one audit entry point: source and policies to an outcome.
//! - [`report`]: text, JSON, SARIF and JUnit writers.
//! - [`daemon`]: scheduler, HTTP server, state, reload, shutdown: the only
//!   place that holds long-lived state.
//! - [`metrics`]: the Prometheus registry and every metric.
//! - [`shard`]: which replica audits which target.
//! - [`logging`]: log output with credentials redacted.
//! - [`progress`]: the command line's progress bar.

pub mod audit;
pub mod cli;
mod commands;
mod daemon;
mod error;
mod load;
pub mod logging;
mod metrics;
mod policy_tests;
mod progress;
pub mod report;
pub mod shard;
pub mod source;

pub use commands::run;
pub use error::{Error, Exit};

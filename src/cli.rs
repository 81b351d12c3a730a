//! The command line (clap derive types, nothing else). See docs/reports.md.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::report::{FailOn, Format};

/// Audits AWS API Gateway v2 routes for compliance and drift.
///
/// Without a subcommand routewarden is the daemon: it audits on a schedule and
/// serves Prometheus metrics. With --check it audits once, writes a report and
/// exits 0 (pass), 1 (violations), 2 (bad input) or 3 (audit incomplete).
#[derive(Debug, Parser)]
#[command(name = "routewarden", version, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Audit once, write a report and exit (for CI)
    #[arg(long)]
    pub check: bool,

    #[command(flatten)]
    pub common: Common,

    #[command(flatten)]
    pub report: ReportArgs,

    #[command(flatten)]
    pub daemon: DaemonArgs,
}

/// Options every mode takes.
#[derive(Debug, Args)]
#[command(next_help_heading = "Common options")]
pub struct Common {
    /// Config file (TOML); without it, built-in defaults
    #[arg(
        short,
        long,
        env = "ROUTEWARDEN_CONFIG",
        value_name = "FILE",
        global = true
    )]
    pub config: Option<PathBuf>,

    /// Policy file or directory, repeatable; replaces the config's list; `builtin` is the built-in pack
    #[arg(short, long = "policies", value_name = "PATH", global = true)]
    pub policies: Vec<String>,

    /// Offline source: a fleet file or `aws apigatewayv2 get-routes` output, repeatable; no AWS call is made
    #[arg(long, value_name = "FILE", global = true)]
    pub routes: Vec<PathBuf>,

    /// Fleet file to compare against: route drift is reported
    #[arg(long, value_name = "FILE", global = true)]
    pub baseline: Option<PathBuf>,

    /// Infrastructure as code to audit instead of live state: CloudFormation, SAM, a CDK cdk.out, a Terraform plan (JSON) or OpenAPI; a file or directory, repeatable; no AWS call is made
    #[arg(long, value_name = "PATH", global = true, conflicts_with = "routes")]
    pub iac: Vec<PathBuf>,

    /// A template parameter's value (over its default), repeatable
    #[arg(long = "iac-param", value_name = "NAME=VALUE", global = true, value_parser = name_value)]
    pub iac_params: Vec<(String, String)>,

    /// Code to compare live state (or --routes) against: routes defined in no code, defined and not live, or with other authorization; repeatable; replaces the config's
    #[arg(long, value_name = "PATH", global = true)]
    pub baseline_iac: Vec<PathBuf>,

    /// AWS endpoint override (an emulator); AWS_ENDPOINT_URL works too
    #[arg(long, value_name = "URL", global = true, value_parser = routewarden_core::config::endpoint_url)]
    pub endpoint_url: Option<String>,

    /// Log format on stderr; RUST_LOG sets the level filter [default: json when stderr is not a terminal]
    #[arg(long, value_enum, value_name = "FORMAT", global = true)]
    pub log_format: Option<LogFormat>,
}

/// `--check` options.
#[derive(Debug, Args)]
#[command(next_help_heading = "--check options")]
pub struct ReportArgs {
    /// Report format
    #[arg(long, value_enum, default_value = "text", requires = "check")]
    pub format: Format,

    /// Where the report goes [default: stdout]
    #[arg(short, long, value_name = "FILE", requires = "check")]
    pub output: Option<PathBuf>,

    /// Lowest severity that fails the run: info, low, medium, high, critical or never
    #[arg(
        long,
        value_name = "SEVERITY",
        default_value = "low",
        requires = "check"
    )]
    pub fail_on: FailOn,

    /// Fail the run when a rule's outcome depends on a value not known before deploy
    #[arg(long, requires = "check")]
    pub fail_on_indeterminate: bool,

    /// Report exemptions that expire within this (e.g. 14d, 0d) [default: the config's, else 14d]
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, requires = "check")]
    pub warn_expiring: Option<std::time::Duration>,
}

/// Daemon options.
#[derive(Debug, Args)]
#[command(next_help_heading = "Daemon options")]
pub struct DaemonArgs {
    /// Address for /metrics, /healthz and /readyz [default: the config's, else 0.0.0.0:9464]
    #[arg(long, value_name = "ADDR", conflicts_with = "check")]
    pub listen: Option<String>,

    /// This replica's shard, INDEX/COUNT (0-based); INDEX `auto` takes the hostname's ordinal
    #[arg(
        long,
        env = "ROUTEWARDEN_SHARD",
        value_name = "INDEX/COUNT",
        conflicts_with = "check"
    )]
    pub shard: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load config and policies, report every problem, exit 0 or 2
    Validate,
    /// Write the current route inventory as a fleet file
    Snapshot {
        /// Where the fleet file goes
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
    /// List the loaded rules: id, severity, title
    Rules,
    /// Run policy unit tests: *_test.toml files (docs/policy-tests.md); exit 0, 1 or 2
    Test {
        /// Test files, or directories searched for *_test.toml [default: policies/]
        #[arg(value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Output format
        #[arg(
            long = "format",
            value_enum,
            default_value = "text",
            id = "test_format"
        )]
        format: TestFormat,
    },
}

/// `routewarden test` output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TestFormat {
    Text,
    Junit,
}

/// `NAME=VALUE`.
fn name_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("expected NAME=VALUE, got `{text}`")),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

//! What each command does, from parsed arguments to an [`Exit`]: load config
//! and policies, read the inventory, audit, write. The library never exits the
//! process; `main` maps [`Exit`] and [`Error`] to exit codes in one place.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::audit::{self, AuditError, Outcome};
use crate::cli::{Cli, Command};
use crate::config::Config;
use crate::drift;
use crate::inventory::Inventory;
use crate::policy::{LoadError, PolicySet, PolicySource};
use crate::report::{self, Summary, Verdict};
use crate::source::{self, Source, aws::AwsSource};

/// How a command ended, when it ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Exit 0.
    Success,
    /// Exit 1: a violation at or above `--fail-on`.
    Violations,
    /// Exit 3: nothing failed, but some API could not be read.
    Incomplete,
}

/// Why a command could not run: exit 2.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    /// A config, policy or fleet file could not be loaded; every problem inside.
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Setup(#[from] source::aws::SetupError),
    /// Loading panicked (a bug): the load fails, the process goes on.
    #[error("loading panicked: {0}")]
    Panic(String),
    /// A daemon task stopped before shutdown: exit 4.
    #[error("the daemon's {task} stopped: {how}")]
    TaskFailed { task: &'static str, how: String },
}

/// Runs the command the arguments name.
pub async fn run(cli: &Cli) -> Result<Exit, Error> {
    match &cli.command {
        Some(Command::Validate) => validate(cli),
        Some(Command::Rules) => rules(cli),
        Some(Command::Snapshot { output }) => snapshot(cli, output).await,
        None if cli.check => check(cli).await,
        None => crate::daemon::run(cli).await,
    }
}

/// The config named by `--config`, or the defaults.
fn load_config(cli: &Cli) -> Result<Config, Error> {
    match &cli.common.config {
        Some(path) => Ok(Config::load(path)?),
        None => Ok(Config::default()),
    }
}

/// `-p` replaces the config's list; paths on the command line are relative to
/// the working directory, those in the config to the config file.
fn load_policies(cli: &Cli, config: &Config) -> Result<PolicySet, Error> {
    let sources: Vec<PolicySource> = if cli.common.policies.is_empty() {
        config.audit.policies.clone()
    } else {
        cli.common
            .policies
            .iter()
            .map(|p| PolicySource::parse(p, Path::new("")))
            .collect()
    };
    Ok(PolicySet::load(&sources)?)
}

/// The source to audit: `--routes` files, else the config's targets.
async fn source(cli: &Cli, config: &Config) -> Result<Source, Error> {
    if !cli.common.routes.is_empty() {
        return Ok(Source::Files(cli.common.routes.clone()));
    }
    if config.targets.is_empty() {
        return Err(Error::Usage(
            "nothing to audit: give --routes FILE (a fleet file), or [[targets]] in the config"
                .to_owned(),
        ));
    }
    let endpoint = cli.common.endpoint_url.as_deref();
    Ok(Source::Aws(std::sync::Arc::new(
        AwsSource::new(config, endpoint).await?,
    )))
}

/// The baseline fleet file: `--baseline`, else the config's.
fn baseline(cli: &Cli, config: &Config) -> Result<Option<Inventory>, Error> {
    match cli
        .common
        .baseline
        .as_ref()
        .or(config.audit.baseline.as_ref())
    {
        Some(path) => {
            let fetched = source::read_files(std::slice::from_ref(path))?;
            if !fetched.errors.is_empty() {
                tracing::warn!(
                    path = %path.display(),
                    "the baseline holds a partial listing: drift for that API covers only its first page"
                );
            }
            Ok(Some(fetched.inventory))
        }
        None => Ok(None),
    }
}

async fn check(cli: &Cli) -> Result<Exit, Error> {
    let config = load_config(cli)?;
    let policies = load_policies(cli, &config)?;
    let baseline = baseline(cli, &config)?;
    let today = audit::today_utc();
    let mut outcome: Outcome = match source(cli, &config).await? {
        // Fleet files are audited as they are parsed; routes are kept only
        // where the report or drift needs them.
        Source::Files(paths) => {
            let keep = cli.report.format == report::Format::Junit || baseline.is_some();
            let mut auditor = audit::Auditor::new(&policies, today, keep);
            let errors = source::stream_files(&paths, |api| auditor.add(api))?;
            let mut outcome = auditor.finish();
            outcome.errors = errors;
            outcome
        }
        live => {
            let fetched = live.fetch().await?;
            let mut outcome = audit::evaluate(fetched.inventory, &policies, today);
            outcome.errors = fetched.errors;
            outcome
        }
    };
    tracing::debug!(
        apis = outcome.inventory.apis.len(),
        routes = outcome.routes,
        "inventory read"
    );
    if let Some(baseline) = &baseline {
        let unread = outcome
            .errors
            .iter()
            .filter_map(AuditError::api_key)
            .collect();
        let found = drift::compare(&outcome.inventory, baseline, &unread, config.drift.severity);
        outcome.findings.extend(found);
    }
    let summary = Summary::of(&outcome, cli.report.fail_on);
    tracing::info!(
        violations = summary.violations,
        failing = summary.failing,
        exempted = summary.exempted,
        routes = summary.routes,
        "audit finished"
    );
    let format = cli.report.format;
    match &cli.report.output {
        Some(path) => {
            let write = || -> io::Result<()> {
                let mut out = io::BufWriter::new(fs::File::create(path)?);
                report::write(format, &outcome, &summary, &mut out, false)?;
                out.flush()
            };
            write().map_err(|source| Error::Write {
                path: path.clone(),
                source,
            })?;
        }
        None => {
            let color = anstream::AutoStream::choice(&io::stdout()) != anstream::ColorChoice::Never;
            let mut stdout = io::stdout().lock();
            let written = report::write(format, &outcome, &summary, &mut stdout, color)
                .and_then(|()| stdout.flush());
            stdout_result(written)?;
        }
    }
    Ok(match summary.verdict() {
        Verdict::Pass => Exit::Success,
        Verdict::Fail => Exit::Violations,
        Verdict::Incomplete => Exit::Incomplete,
    })
}

fn validate(cli: &Cli) -> Result<Exit, Error> {
    let config = load_config(cli)?;
    let policies = load_policies(cli, &config)?;
    let mut files = cli.common.routes.clone();
    files.extend(
        cli.common
            .baseline
            .clone()
            .or(config.audit.baseline.clone()),
    );
    let inventory = source::read_files(&files)?.inventory;
    let enabled = policies.enabled().count();
    let line = format!(
        "ok: {} rules ({enabled} enabled), {} exemptions, {} targets{}\n",
        policies.rules.len(),
        policies.exemptions.len(),
        config.targets.len(),
        if files.is_empty() {
            String::new()
        } else {
            format!(
                ", {} routes in {} fleet files",
                inventory.route_count(),
                files.len()
            )
        }
    );
    write_stdout(line.as_bytes())?;
    Ok(Exit::Success)
}

fn rules(cli: &Cli) -> Result<Exit, Error> {
    let config = load_config(cli)?;
    let policies = load_policies(cli, &config)?;
    let width = policies
        .rules
        .iter()
        .map(|r| r.info.id.len())
        .max()
        .unwrap_or(2)
        .max(2);
    let mut text = format!(
        "{:<width$}  {:<8}  {:<8}  TITLE\n",
        "ID", "SEVERITY", "ENABLED"
    );
    for rule in &policies.rules {
        let info = &rule.info;
        let enabled = if info.enabled { "yes" } else { "no" };
        text.push_str(&format!(
            "{:<width$}  {:<8}  {enabled:<8}  {}\n",
            info.id,
            info.severity,
            crate::sanitize::escape(&info.title)
        ));
    }
    write_stdout(text.as_bytes())?;
    Ok(Exit::Success)
}

async fn snapshot(cli: &Cli, output: &Path) -> Result<Exit, Error> {
    let config = load_config(cli)?;
    let fetched = source(cli, &config).await?.fetch().await?;
    let inventory = fetched.inventory;
    fs::write(output, inventory.to_json()).map_err(|source| Error::Write {
        path: output.to_path_buf(),
        source,
    })?;
    tracing::info!(
        apis = inventory.apis.len(),
        routes = inventory.route_count(),
        errors = fetched.errors.len(),
        path = %output.display(),
        "snapshot written"
    );
    // The file holds what was read; what was not is logged by the source.
    Ok(if fetched.errors.is_empty() {
        Exit::Success
    } else {
        Exit::Incomplete
    })
}

fn write_stdout(bytes: &[u8]) -> Result<(), Error> {
    let mut stdout = io::stdout().lock();
    stdout_result(stdout.write_all(bytes).and_then(|()| stdout.flush()))
}

/// A reader that stops early (`| head`) is not a failure of the command.
fn stdout_result(written: io::Result<()>) -> Result<(), Error> {
    match written {
        Err(err) if err.kind() != io::ErrorKind::BrokenPipe => Err(Error::Write {
            path: "stdout".into(),
            source: err,
        }),
        _ => Ok(()),
    }
}

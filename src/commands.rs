//! Each command, from parsed arguments to an [`Exit`]: load a plan, run the
//! audit, hand the outcome to the command's sink. They differ only in the
//! sink: a report, a fleet file, a listing, or the daemon.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use routewarden_core::sanitize::escape;

use crate::audit::{self, Audit, Outcome};
use crate::cli::{Cli, Command};
use crate::error::{Error, Exit};
use crate::load::{self, Args, Plan, Purpose};
use crate::progress::Progress;
use crate::report::{self, Summary, Verdict};
use crate::shard::Shard;
use crate::source::files;

/// Runs the command the arguments name.
pub async fn run(cli: &Cli) -> Result<Exit, Error> {
    let args = Args {
        config: cli.common.config.clone(),
        policies: cli.common.policies.clone(),
        routes: cli.common.routes.clone(),
        baseline: cli.common.baseline.clone(),
        endpoint_url: cli.common.endpoint_url.clone(),
        iac: cli.common.iac.clone(),
        iac_params: cli.common.iac_params.iter().cloned().collect(),
        baseline_iac: cli.common.baseline_iac.clone(),
    };
    match &cli.command {
        Some(Command::Validate) => validate(&args).await,
        Some(Command::Rules) => rules(&args).await,
        Some(Command::Test { paths, format }) => crate::policy_tests::run(paths, *format).await,
        Some(Command::Snapshot { output }) => snapshot(&args, output).await,
        None if cli.check => check(cli, &args).await,
        None => {
            let shard = match &cli.daemon.shard {
                Some(text) => text.parse::<Shard>().map_err(Error::Shard)?,
                None => Shard::default(),
            };
            let listen = match &cli.daemon.listen {
                Some(text) => Some(text.parse().map_err(|_| Error::Listen(text.clone()))?),
                None => None,
            };
            crate::daemon::run(args, crate::daemon::Options { listen, shard }).await
        }
    }
}

/// One audit of the plan's source, with progress on a terminal.
async fn audit(
    plan: &Plan,
    keep_routes: bool,
    warn_expiring: Option<std::time::Duration>,
) -> Result<Outcome, Error> {
    let audit = Audit {
        policies: &plan.policies,
        baseline: plan.baseline.as_ref(),
        code: plan.code.as_ref(),
        drift_severity: plan.config.drift.severity,
        today: audit::today_utc(),
        keep_routes,
        warn_expiring: warn_expiring.unwrap_or(plan.config.audit.warn_expiring),
    };
    Ok(audit::run(plan.source()?, &audit, &Progress::new()).await?)
}

async fn check(cli: &Cli, args: &Args) -> Result<Exit, Error> {
    let plan = load::load(args, Purpose::Check).await?;
    let keep_routes = cli.report.format == report::Format::Junit;
    let outcome = audit(&plan, keep_routes, cli.report.warn_expiring).await?;
    tracing::debug!(
        apis = outcome.inventory.apis.len(),
        routes = outcome.routes,
        "inventory read"
    );
    let summary = Summary::of(
        &outcome,
        cli.report.fail_on,
        cli.report.fail_on_indeterminate,
    );
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

async fn validate(args: &Args) -> Result<Exit, Error> {
    let Plan {
        config, policies, ..
    } = load::load(args, Purpose::Validate).await?;
    let mut files = args.routes.clone();
    files.extend(args.baseline(&config).cloned());
    let inventory = files::read(&files)?.0;
    // Code is parsed in full: every problem of every file is reported.
    let mut code = args.iac.clone();
    code.extend(args.baseline_iac(&config).iter().cloned());
    let code_apis = if code.is_empty() {
        None
    } else {
        let read = routewarden_core::iac::load(&code, &args.iac_options())?;
        Some((
            read.apis.len(),
            read.apis.iter().map(|a| a.routes.len()).sum::<usize>(),
        ))
    };
    let enabled = policies.enabled().count();
    let line = format!(
        "ok: {} rules ({enabled} enabled), {} exemptions, {} targets{}{}{}\n",
        policies.rules.len(),
        policies.exemptions.len(),
        config.targets.len(),
        match config.organizations.len() {
            0 => String::new(),
            1 => ", 1 organization".to_owned(),
            n => format!(", {n} organizations"),
        },
        if files.is_empty() {
            String::new()
        } else {
            format!(
                ", {} routes in {} fleet files",
                inventory.route_count(),
                files.len()
            )
        },
        match code_apis {
            Some((apis, routes)) => format!(", {routes} routes of {apis} APIs in code"),
            None => String::new(),
        }
    );
    write_stdout(line.as_bytes())?;
    Ok(Exit::Success)
}

async fn rules(args: &Args) -> Result<Exit, Error> {
    let policies = load::load(args, Purpose::Rules).await?.policies;
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
            escape(&info.title)
        ));
    }
    write_stdout(text.as_bytes())?;
    Ok(Exit::Success)
}

async fn snapshot(args: &Args, output: &Path) -> Result<Exit, Error> {
    let plan = load::load(args, Purpose::Snapshot).await?;
    let outcome = audit(&plan, true, None).await?;
    let inventory = &outcome.inventory;
    fs::write(output, inventory.to_json()).map_err(|source| Error::Write {
        path: output.to_path_buf(),
        source,
    })?;
    tracing::info!(
        apis = inventory.apis.len(),
        routes = inventory.route_count(),
        errors = outcome.errors.len(),
        path = %output.display(),
        "snapshot written"
    );
    // The file holds what was read; what was not is logged by the audit.
    Ok(if outcome.is_complete() {
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

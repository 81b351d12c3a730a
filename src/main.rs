//! The `routewarden` binary: parse the command line, set up logging, run the
//! library, and map its result to an exit code in one place.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use routewarden::cli::{Cli, LogFormat};
use routewarden::logging;
use routewarden::{Error, Exit};
use routewarden_core::sanitize::escape;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli);
    let result = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(routewarden::run(&cli)),
        Err(source) => Err(Error::Runtime(source)),
    };
    // Every way the program ends, and its exit code (docs/exit-codes in the
    // README): here and nowhere else.
    match result {
        Ok(Exit::Success) => ExitCode::SUCCESS,
        Ok(Exit::Violations) => ExitCode::from(1),
        Ok(Exit::Incomplete) => ExitCode::from(3),
        Err(Error::Load(err)) => {
            err.0.eprint();
            ExitCode::from(2)
        }
        Err(
            err @ (Error::NothingToAudit
            | Error::Listen(_)
            | Error::Shard(_)
            | Error::Setup(_)
            | Error::Write { .. }
            | Error::Bind { .. }
            | Error::Runtime(_)
            | Error::Panic(_)),
        ) => {
            report(&err);
            ExitCode::from(2)
        }
        Err(err @ Error::TaskFailed { .. }) => {
            report(&err);
            ExitCode::from(4)
        }
    }
}

fn report(err: &Error) {
    #[allow(clippy::print_stderr)]
    {
        eprintln!("error: {}", escape(&err.to_string()));
    }
}

/// Logs go to stderr: JSON unless stderr is a terminal (or `--log-format`
/// says otherwise); the level from `RUST_LOG`, else warnings for one-shot
/// commands and info for the daemon. Credentials are redacted from every line;
/// values from outside are escaped, so that one event is one line.
fn init_tracing(cli: &Cli) {
    let one_shot = cli.check || cli.command.is_some();
    let default_level = if one_shot { "warn" } else { "info" };
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let terminal = std::io::stderr().is_terminal();
    let format = cli.common.log_format.unwrap_or(if terminal {
        LogFormat::Text
    } else {
        LogFormat::Json
    });
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let redacting = logging::Redacting::from_env();
    match format {
        LogFormat::Json => builder
            .with_writer(redacting.for_json())
            .json()
            .with_current_span(false)
            .init(),
        LogFormat::Text => builder
            .with_writer(redacting)
            .fmt_fields(logging::EscapedFields)
            .with_ansi(terminal)
            .init(),
    }
}

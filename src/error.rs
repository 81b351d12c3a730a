//! How a command ends: [`Exit`] when it ran, [`Error`] when it could not.
//! `main` maps both to exit codes in one `match`; the library never exits.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use routewarden_core::diag::LoadError;

use crate::source::aws::SetupError;

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

/// Why a command could not run (exit 2), or why the daemon stopped (exit 4).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("nothing to audit: give --routes FILE (a fleet file), or [[targets]] in the config")]
    NothingToAudit,
    #[error("invalid --listen address `{0}`: expected HOST:PORT")]
    Listen(String),
    #[error("{0}")]
    Shard(String),
    /// A config, policy or fleet file could not be loaded; every problem inside.
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
    #[error("cannot start the async runtime: {0}")]
    Runtime(io::Error),
    /// Loading panicked (a bug): the load fails, the process goes on.
    #[error("loading panicked: {0}")]
    Panic(String),
    /// A daemon task stopped before shutdown.
    #[error("the daemon's {task} stopped: {how}")]
    TaskFailed { task: &'static str, how: String },
}

/// What a panic said, for the log line of a failed load or task.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_owned())
}

/// What a task that did not return said: its panic's message, or why it
/// was cancelled.
pub(crate) fn join_error(err: tokio::task::JoinError) -> String {
    match err.try_into_panic() {
        Ok(panic) => panic_message(&*panic),
        Err(err) => err.to_string(),
    }
}

//! The one load step: arguments and config become a [`Plan`] (config,
//! policies, baseline, source). `--check`, `validate`, `snapshot`, `rules`
//! and the daemon call [`load`]; a daemon reload is the same call. Every
//! problem is an error: nothing half-loaded is ever used.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use routewarden_core::config::Config;
use routewarden_core::drift;
use routewarden_core::iac;
use routewarden_core::inventory::{Inventory, Needs};
use routewarden_core::policy::{PolicySet, PolicySource};

use crate::error::Error;
use crate::shard::{Shard, Sharded};
use crate::source::Source;
use crate::source::aws::AwsSource;
use crate::source::files::{self, Files};
use crate::source::iac::Code;

/// What the command line says about what to load.
#[derive(Debug, Clone, Default)]
pub struct Args {
    pub config: Option<PathBuf>,
    /// `-p`: replaces the config's list when given.
    pub policies: Vec<String>,
    /// `--routes`: fleet files instead of the config's targets.
    pub routes: Vec<PathBuf>,
    /// `--baseline`: replaces the config's.
    pub baseline: Option<PathBuf>,
    pub endpoint_url: Option<String>,
    /// `--iac`: code instead of the config's targets.
    pub iac: Vec<PathBuf>,
    /// `--iac-param`.
    pub iac_params: BTreeMap<String, String>,
    /// `--baseline-iac`: replaces the config's.
    pub baseline_iac: Vec<PathBuf>,
}

impl Args {
    /// The policy sources: `-p` (relative to the working directory), else
    /// the config's (relative to the config file).
    pub fn policy_sources(&self, config: &Config) -> Vec<PolicySource> {
        if self.policies.is_empty() {
            config.audit.policies.clone()
        } else {
            self.policies
                .iter()
                .map(|p| PolicySource::parse(p, Path::new("")))
                .collect()
        }
    }

    /// The code to report drift against: `--baseline-iac`, else the config's.
    pub fn baseline_iac<'a>(&'a self, config: &'a Config) -> &'a [PathBuf] {
        if self.baseline_iac.is_empty() {
            &config.audit.baseline_iac
        } else {
            &self.baseline_iac
        }
    }

    pub fn iac_options(&self) -> iac::Options {
        iac::Options {
            params: self.iac_params.clone(),
        }
    }

    /// The baseline fleet file: `--baseline`, else the config's.
    pub fn baseline<'a>(&'a self, config: &'a Config) -> Option<&'a PathBuf> {
        self.baseline.as_ref().or(config.audit.baseline.as_ref())
    }
}

/// What a command needs loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Config and policies.
    Rules,
    /// Config and policies; fleet files are the command's to read.
    Validate,
    /// Config and source.
    Snapshot,
    /// Everything.
    Check,
    /// Everything, the source cut to this replica's shard; fleet files are
    /// read once now, so that a broken one fails the (re)load, not a cycle.
    Daemon(Shard),
}

/// Everything a command runs on, loaded and validated together.
pub struct Plan {
    pub config: Config,
    /// Empty for `snapshot`.
    pub policies: PolicySet,
    pub baseline: Option<Inventory>,
    /// The code to report drift against, with each target's name mapping.
    pub code: Option<drift::Code>,
    /// `None` for `rules` and `validate`.
    pub source: Option<Box<dyn Source>>,
}

impl Plan {
    /// The source, for the purposes that have one.
    pub fn source(&self) -> Result<&dyn Source, Error> {
        self.source.as_deref().ok_or(Error::NothingToAudit)
    }
}

/// Loads what `purpose` needs. Files are read on the blocking pool, never on
/// the runtime's workers.
pub async fn load(args: &Args, purpose: Purpose) -> Result<Plan, Error> {
    let files = Arc::new(args.clone());
    let (config, policies, baseline, code) =
        tokio::task::spawn_blocking(move || load_files(&files, purpose))
            .await
            .map_err(|err| Error::Panic(crate::error::join_error(err)))??;
    let source: Option<Box<dyn Source>> = match purpose {
        Purpose::Rules | Purpose::Validate => None,
        Purpose::Snapshot | Purpose::Check | Purpose::Daemon(_) if !args.iac.is_empty() => {
            // Code is small next to a fleet: a shard audits all of it.
            Some(Box::new(Code::new(args.iac.clone(), args.iac_options())))
        }
        Purpose::Snapshot | Purpose::Check | Purpose::Daemon(_) if !args.routes.is_empty() => {
            let files = Files::new(args.routes.clone());
            Some(match purpose {
                Purpose::Daemon(shard) if shard != Shard::default() => {
                    Box::new(Sharded::new(files, shard))
                }
                _ => Box::new(files),
            })
        }
        _ if !config.has_targets() => return Err(Error::NothingToAudit),
        _ => {
            let shard = match purpose {
                Purpose::Daemon(shard) => shard,
                _ => Shard::default(),
            };
            // Read only what the rules and the baseline need; a snapshot
            // holds everything.
            let needs = match purpose {
                Purpose::Snapshot => Needs::ALL,
                _ => policies
                    .needs()
                    .union(baseline.as_ref().map(Inventory::needs).unwrap_or_default()),
            };
            Some(Box::new(
                AwsSource::new(&config, args.endpoint_url.as_deref(), needs, shard).await?,
            ))
        }
    };
    Ok(Plan {
        config,
        policies,
        baseline,
        code,
        source,
    })
}

/// What [`load_files`] loads.
type Loaded = (Config, PolicySet, Option<Inventory>, Option<drift::Code>);

/// Config, policies, baseline and the code drift is reported against, as
/// `purpose` needs them.
fn load_files(args: &Args, purpose: Purpose) -> Result<Loaded, Error> {
    let config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    let policies = match purpose {
        Purpose::Snapshot => PolicySet::default(),
        _ => PolicySet::load(&args.policy_sources(&config))?,
    };
    let baseline = match (purpose, args.baseline(&config)) {
        (Purpose::Check | Purpose::Daemon(_), Some(path)) => {
            let (inventory, errors) = files::read(std::slice::from_ref(path))?;
            if !errors.is_empty() {
                tracing::warn!(
                    path = %path.display(),
                    "the baseline holds a partial listing: drift for that API covers only its first page"
                );
            }
            Some(inventory)
        }
        _ => None,
    };
    let code = match (purpose, args.baseline_iac(&config)) {
        (Purpose::Check | Purpose::Daemon(_), paths) if !paths.is_empty() => {
            let read = iac::load(paths, &args.iac_options())?;
            for unread in &read.unread {
                tracing::warn!(
                    api_id = %unread.api.api_id,
                    reason = %unread.reason,
                    "drift against code: the routes of this API are not known before deploy; it is left out"
                );
            }
            let names = config
                .targets
                .iter()
                .filter(|t| !t.iac_names.is_empty())
                .map(|t| (t.name.clone(), t.iac_names.clone()))
                .collect();
            Some(drift::Code {
                apis: read.apis,
                names,
            })
        }
        _ => None,
    };
    if matches!(purpose, Purpose::Daemon(_)) {
        if !args.routes.is_empty() {
            files::read(&args.routes)?;
        }
        if !args.iac.is_empty() {
            iac::load(&args.iac, &args.iac_options())?;
        }
    }
    Ok((config, policies, baseline, code))
}

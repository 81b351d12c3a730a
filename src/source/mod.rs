//! Where routes come from: fleet files (offline) or live AWS accounts. A
//! source yields an inventory and the errors of what it could not read; it
//! knows nothing about rules or findings.

pub mod aws;

use std::path::PathBuf;
use std::sync::Arc;

use crate::audit::AuditError;
use crate::diag::Diagnostics;
use crate::inventory::{self, Inventory};
use crate::policy::LoadError;

/// What a source read.
#[derive(Debug, Default)]
pub struct Fetched {
    pub inventory: Inventory,
    /// APIs (or discoveries) that could not be read.
    pub errors: Vec<AuditError>,
}

/// A source of routes.
pub enum Source {
    /// `--routes` files, re-read on every fetch.
    Files(Vec<PathBuf>),
    /// The configured targets, through the AWS API.
    Aws(Arc<aws::AwsSource>),
}

impl Source {
    /// Reads the inventory. Files that fail to load are an error (exit 2):
    /// they are the user's input, not a service that may recover.
    pub async fn fetch(&self) -> Result<Fetched, LoadError> {
        match self {
            Source::Files(paths) => Ok(Fetched {
                inventory: read_files(paths)?,
                errors: Vec::new(),
            }),
            Source::Aws(aws) => Ok(aws.fetch().await),
        }
    }
}

/// Hands every API of every fleet file to `on_api` as it is parsed; all
/// problems of all files are reported together.
pub fn stream_files(
    paths: &[PathBuf],
    mut on_api: impl FnMut(crate::inventory::Api),
) -> Result<(), LoadError> {
    let mut diags = Diagnostics::new();
    for path in paths {
        inventory::stream_routes_file(&mut diags, path, &mut on_api);
    }
    if diags.is_empty() {
        Ok(())
    } else {
        Err(LoadError(diags))
    }
}

/// Reads every fleet file; all problems of all files are reported together.
pub fn read_files(paths: &[PathBuf]) -> Result<Inventory, LoadError> {
    let mut diags = Diagnostics::new();
    let mut inventory = Inventory::default();
    for path in paths {
        if let Some(apis) = inventory::load_routes_file(&mut diags, path) {
            inventory.apis.extend(apis);
        }
    }
    if diags.is_empty() {
        Ok(inventory)
    } else {
        Err(LoadError(diags))
    }
}

//! The code source: CloudFormation, SAM, CDK output, Terraform plans and
//! OpenAPI files, given with `--iac` (see docs/iac.md). Read on the blocking
//! pool, on every [`Source::read`], so a daemon or a watcher sees edits.

use std::path::PathBuf;
use std::sync::Arc;

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use routewarden_core::diag::LoadError;
use routewarden_core::iac::{self, Options};

use super::{ErrorKind, FetchError, Item, Observer, Operation, Source};

/// `--iac` paths, with `--iac-param` values.
pub struct Code {
    paths: Arc<[PathBuf]>,
    options: Arc<Options>,
}

impl Code {
    pub fn new(paths: Vec<PathBuf>, options: Options) -> Code {
        Code {
            paths: paths.into(),
            options: Arc::new(options),
        }
    }
}

impl Source for Code {
    fn read<'a>(&'a self, _: &'a dyn Observer) -> BoxStream<'a, Result<Item, LoadError>> {
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let paths = self.paths.clone();
        let options = self.options.clone();
        // Parsing is blocking work; a reader that went away drops the rest.
        tokio::task::spawn_blocking(move || match items(&paths, &options) {
            Ok(items) => {
                for item in items {
                    if tx.blocking_send(Ok(item)).is_err() {
                        return;
                    }
                }
            }
            Err(err) => {
                let _ = tx.blocking_send(Err(err));
            }
        });
        super::files::stream_of(rx).boxed()
    }
}

/// What the code defines, as the audit takes it: every API, then an error
/// for each API whose routes the code does not hold.
pub fn items(paths: &[PathBuf], options: &Options) -> Result<Vec<Item>, LoadError> {
    let read = iac::load(paths, options)?;
    let mut items: Vec<Item> = read
        .apis
        .into_iter()
        .map(|api| Item::Api(Box::new(api)))
        .collect();
    items.extend(read.unread.into_iter().map(|u| {
        Item::Failed(FetchError {
            account_id: None,
            organization: None,
            target_name: u.api.target_name.clone(),
            region: None,
            api_id: Some(u.api.api_id.clone()),
            operation: Operation::GetRoutes,
            kind: ErrorKind::Incomplete,
            message: format!(
                "API `{}` cannot be audited before deploy: {}",
                u.api.api_id, u.reason
            ),
        })
    }));
    Ok(items)
}

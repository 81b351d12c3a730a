//! Where routes come from: fleet files (offline) or live AWS accounts. A
//! source yields an inventory and the errors of what it could not read; it
//! knows nothing about rules or findings.

pub mod aws;
mod bounded;

use std::collections::HashMap;
use std::collections::hash_map::{DefaultHasher, Entry};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::audit::{AuditError, ErrorKind, Operation};
use crate::diag::Diagnostics;
use crate::inventory::{self, Api, Inventory, Location};
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
            // Files are read on the blocking pool: the runtime's workers
            // serve /healthz and /metrics meanwhile.
            Source::Files(paths) => {
                let paths = paths.clone();
                tokio::task::spawn_blocking(move || read_files(&paths))
                    .await
                    .expect("reading fleet files does not panic")
            }
            Source::Aws(aws) => Ok(aws.fetch().await),
        }
    }
}

/// Hands every API of every fleet file to `on_api` as it is parsed; all
/// problems of all files are reported together. One API is one API: the same
/// target, region and id given twice is handed over once, and given twice
/// with different routes is a load error naming both files. A get-routes
/// file that holds only its first page yields an `incomplete` error.
pub fn stream_files(
    paths: &[PathBuf],
    mut on_api: impl FnMut(Api),
) -> Result<Vec<AuditError>, LoadError> {
    let mut diags = Diagnostics::new();
    let mut errors = Vec::new();
    let mut seen = Seen::default();
    for path in paths {
        let mut conflicts = Vec::new();
        let read = inventory::stream_routes_file(&mut diags, path, |api| match seen.admit(&api) {
            Admit::New => on_api(api),
            Admit::Same => tracing::debug!(
                api_id = %api.api_id,
                file = %path.display(),
                "API given again with the same routes; audited once"
            ),
            Admit::Different(first) => conflicts.push((api, first)),
        });
        for (api, first) in conflicts {
            report_conflict(&mut diags, path, &api, &first);
        }
        if let Some(api_id) = read.and_then(|r| r.first_page_of) {
            let file = crate::diag::display_path(path);
            errors.push(AuditError {
                target_name: None,
                region: None,
                api_id: Some(api_id),
                operation: Operation::GetRoutes,
                kind: ErrorKind::Incomplete,
                message: format!(
                    "{file} holds only the first page of get-routes: its NextToken is set (written with --max-items or --no-paginate), so the routes after it were not read"
                ),
            });
        }
    }
    for error in &errors {
        tracing::warn!(api_id = error.api_id.as_deref(), message = %error.message, "incomplete listing");
    }
    if diags.is_empty() {
        Ok(errors)
    } else {
        Err(LoadError(diags))
    }
}

/// Reads every fleet file; all problems of all files are reported together.
pub fn read_files(paths: &[PathBuf]) -> Result<Fetched, LoadError> {
    let mut inventory = Inventory::default();
    let errors = stream_files(paths, |api| inventory.apis.push(api))?;
    Ok(Fetched { inventory, errors })
}

/// An API's target, region and id.
type Key = (String, String, String);

/// The APIs handed over so far, by key: a fingerprint of their routes, and
/// where they were first given.
#[derive(Default)]
struct Seen {
    apis: HashMap<Key, (u64, Option<Arc<Location>>)>,
}

enum Admit {
    New,
    Same,
    /// Given before with other routes, there.
    Different(Option<Arc<Location>>),
}

impl Seen {
    fn admit(&mut self, api: &Api) -> Admit {
        let (target, region, id) = api.key();
        let key = (target.to_owned(), region.to_owned(), id.to_owned());
        let fingerprint = routes_fingerprint(api);
        match self.apis.entry(key) {
            Entry::Vacant(slot) => {
                slot.insert((fingerprint, api.origin.0.clone()));
                Admit::New
            }
            Entry::Occupied(slot) if slot.get().0 == fingerprint => Admit::Same,
            Entry::Occupied(slot) => Admit::Different(slot.get().1.clone()),
        }
    }
}

/// The routes of an API, in any order (lines do not count).
fn routes_fingerprint(api: &Api) -> u64 {
    let hash = |value: &dyn Fn(&mut DefaultHasher)| {
        let mut hasher = DefaultHasher::new();
        value(&mut hasher);
        hasher.finish()
    };
    let mut routes: Vec<u64> = api
        .routes
        .iter()
        .map(|r| hash(&|h: &mut DefaultHasher| r.hash(h)))
        .collect();
    routes.sort_unstable();
    hash(&|h: &mut DefaultHasher| routes.hash(h))
}

fn report_conflict(diags: &mut Diagnostics, path: &Path, api: &Api, first: &Option<Arc<Location>>) {
    let Some(file) = crate::diag::read_file(diags, path) else {
        return;
    };
    let line = api.origin.0.as_ref().map_or(1, |o| o.line);
    let text = diags.source(file);
    let start = crate::diag::offset_of(text, line as usize, 1);
    let end = text[start..].find('\n').map_or(text.len(), |n| start + n);
    let first = first.as_ref().map_or("an earlier file".to_owned(), |l| {
        format!("{}:{}", l.path, l.line)
    });
    let (target, region, id) = api.key();
    let scope = match (target, region) {
        ("", "") => String::new(),
        _ => format!(" (target `{target}`, region `{region}`)"),
    };
    diags.push(
        file,
        start..end,
        format!(
            "API `{id}`{scope} is given twice with different routes: here and in {first}"
        ),
        "one API is one API: rename a get-routes file to its API id, or give a fleet file with TargetName and Region",
    );
}

//! The offline source: fleet files and raw `aws apigatewayv2 get-routes`
//! outputs, given with `--routes`. Files are re-read on every [`Source::read`],
//! parsed on the blocking pool and handed over API by API as they are parsed,
//! so a 100k-route file never sits in memory whole.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use routewarden_core::diag::{self, Diagnostics, LoadError};
use routewarden_core::inventory::{self, Api, Fingerprint, Inventory, Location};

use super::{ErrorKind, FetchError, Item, Observer, Operation, Source};

/// APIs parsed ahead of the audit: enough to keep both sides busy.
const AHEAD: usize = 64;

/// `--routes` files.
pub struct Files {
    paths: Arc<[PathBuf]>,
}

impl Files {
    pub fn new(paths: Vec<PathBuf>) -> Files {
        Files {
            paths: paths.into(),
        }
    }
}

impl Source for Files {
    fn read<'a>(&'a self, _: &'a dyn Observer) -> BoxStream<'a, Result<Item, LoadError>> {
        let (tx, rx) = tokio::sync::mpsc::channel(AHEAD);
        let paths = self.paths.clone();
        // Parsing is blocking work: the runtime's workers serve /healthz and
        // /metrics meanwhile. A reader that went away drops the rest.
        tokio::task::spawn_blocking(move || {
            let streamed = stream(&paths, |api| {
                let _ = tx.blocking_send(Ok(Item::Api(Box::new(api))));
            });
            match streamed {
                Ok(errors) => {
                    for error in errors {
                        let _ = tx.blocking_send(Ok(Item::Failed(error)));
                    }
                }
                Err(err) => {
                    let _ = tx.blocking_send(Err(err));
                }
            }
        });
        stream_of(rx).boxed()
    }
}

/// The receiving end as a stream.
pub(super) fn stream_of<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Hands every API of every fleet file to `on_api` as it is parsed; all
/// problems of all files are reported together. One API is one API: the same
/// target, region and id given twice is handed over once, and given twice
/// with different contents (routes, settings, authorizers, integrations,
/// stages) is a load error naming both files and what differs. A get-routes
/// file that holds only its first page yields an `incomplete` error.
pub fn stream(
    paths: &[PathBuf],
    mut on_api: impl FnMut(Api),
) -> Result<Vec<FetchError>, LoadError> {
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
                "API given again with the same contents; audited once"
            ),
            Admit::Different(first, differences) => conflicts.push((api, first, differences)),
        });
        for (api, first, differences) in conflicts {
            report_conflict(&mut diags, path, &api, &first, &differences);
        }
        if let Some(api_id) = read.and_then(|r| r.first_page_of) {
            let file = diag::display_path(path);
            errors.push(FetchError {
                account_id: None,
                organization: None,
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
    if diags.is_empty() {
        Ok(errors)
    } else {
        Err(LoadError(diags))
    }
}

/// Reads every fleet file at once (baselines, validation); all problems of
/// all files are reported together.
pub fn read(paths: &[PathBuf]) -> Result<(Inventory, Vec<FetchError>), LoadError> {
    let mut inventory = Inventory::default();
    let errors = stream(paths, |api| inventory.apis.push(api))?;
    Ok((inventory, errors))
}

/// An API's target, region and id.
type Key = (String, String, String);

/// The APIs handed over so far, by key: a fingerprint of all they hold, and
/// where they were first given.
#[derive(Default)]
struct Seen {
    apis: HashMap<Key, (Fingerprint, Option<Arc<Location>>)>,
}

enum Admit {
    New,
    Same,
    /// Given before, there, with other contents: the parts that differ.
    Different(Option<Arc<Location>>, Vec<&'static str>),
}

impl Seen {
    fn admit(&mut self, api: &Api) -> Admit {
        let (target, region, id) = api.key();
        let key = (target.to_owned(), region.to_owned(), id.to_owned());
        let fingerprint = api.fingerprint();
        match self.apis.entry(key) {
            Entry::Vacant(slot) => {
                slot.insert((fingerprint, api.origin.0.clone()));
                Admit::New
            }
            Entry::Occupied(slot) if slot.get().0 == fingerprint => Admit::Same,
            Entry::Occupied(slot) => {
                Admit::Different(slot.get().1.clone(), slot.get().0.differences(&fingerprint))
            }
        }
    }
}

fn report_conflict(
    diags: &mut Diagnostics,
    path: &Path,
    api: &Api,
    first: &Option<Arc<Location>>,
    differences: &[&str],
) {
    let Some(file) = diag::read_file(diags, path) else {
        return;
    };
    let line = api.origin.0.as_ref().map_or(1, |o| o.line);
    let text = diags.source(file);
    let start = diag::offset_of(text, line as usize, 1);
    let end = text[start..].find('\n').map_or(text.len(), |n| start + n);
    let first = first.as_ref().map_or("an earlier file".to_owned(), |l| {
        format!("{}:{}", l.path, l.line)
    });
    let (target, region, id) = api.key();
    let scope = match (target, region) {
        ("", "") => String::new(),
        _ => format!(" (target `{target}`, region `{region}`)"),
    };
    let what = match differences {
        [] => "contents".to_owned(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    };
    diags.push(
        file,
        start..end,
        format!("API `{id}`{scope} is given twice with different {what}: here and in {first}"),
        "one API is one API: rename a get-routes file to its API id, or give a fleet file with TargetName and Region",
    );
}

//! Where APIs come from. One trait, [`Source`], with one method that yields
//! the inventory as it is read: each API, or the error of one that could not
//! be read. Fleet files ([`files`]) and live AWS accounts ([`aws`]) implement
//! it; the audit consumes any of them the same way.
//!
//! A source knows nothing about rules or findings. It classifies its failures
//! once, where they happen ([`ErrorKind`]), and reports what it does (requests,
//! waits, progress) to an [`Observer`]: the command line draws a progress bar
//! from it, the daemon feeds Prometheus.

pub mod aws;
pub mod files;
pub mod iac;

use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::BoxStream;
use routewarden_core::diag::LoadError;
use routewarden_core::inventory::{Account, Api, Inventory};
use serde::Serialize;

/// What a source yields, one at a time.
#[derive(Debug)]
pub enum Item {
    /// An API, with every route it has.
    Api(Box<Api>),
    /// An API (or a discovery) that could not be read.
    Failed(FetchError),
    /// The accounts of an organization audited this cycle.
    Roster(Roster),
}

/// An organization's accounts as audited in one cycle (this shard's part).
#[derive(Debug, Clone)]
pub struct Roster {
    pub organization: Arc<str>,
    /// The accounts with a target on this shard, in listing order.
    pub accounts: Vec<Arc<Account>>,
    /// Accounts of the whole listing, every shard's.
    pub total: usize,
    /// Unix time of the listing the accounts come from (an older one when
    /// this cycle's listing failed).
    pub listed_at: f64,
}

/// A source of APIs.
pub trait Source: Send + Sync {
    /// Reads the inventory once, yielding each API as it is read. An
    /// `Err` means the source's own input could not be loaded (a fleet file
    /// that does not parse: the user's input, not a service that may
    /// recover); it ends the stream.
    fn read<'a>(&'a self, observer: &'a dyn Observer) -> BoxStream<'a, Result<Item, LoadError>>;
}

/// An inventory already in memory is a source (tests, fuzzing, benches).
impl Source for Inventory {
    fn read<'a>(&'a self, _: &'a dyn Observer) -> BoxStream<'a, Result<Item, LoadError>> {
        use futures_util::StreamExt;
        futures_util::stream::iter(
            self.apis
                .iter()
                .cloned()
                .map(|api| Ok(Item::Api(Box::new(api)))),
        )
        .boxed()
    }
}

/// Hears what a source does while it reads.
pub trait Observer: Sync {
    fn on(&self, event: Event<'_>);
}

/// Nobody listening.
impl Observer for () {
    fn on(&self, _: Event<'_>) {}
}

/// What a source reports while it reads.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// Discovery found this many APIs to read.
    Found { apis: usize },
    /// One API was read, or failed.
    Done,
    /// One request to AWS ended.
    Request {
        target: &'a str,
        operation: Operation,
        outcome: RequestOutcome,
    },
    /// Time spent before a request: waiting for the client-side limiter,
    /// and backing off after throttling or errors.
    Waited {
        target: &'a str,
        rate_limit: Duration,
        backoff: Duration,
    },
}

/// The operation an error came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Operation {
    GetApis,
    GetApi,
    GetRoutes,
    GetAuthorizers,
    GetIntegrations,
    GetStages,
    AssumeRole,
    ListAccounts,
    ListAccountsForParent,
    ListOrganizationalUnitsForParent,
    ListParents,
    ListTagsForResource,
}

impl Operation {
    /// The AWS operation's name: a bounded metric label.
    pub fn label(self) -> &'static str {
        match self {
            Operation::GetApis => "GetApis",
            Operation::GetApi => "GetApi",
            Operation::GetRoutes => "GetRoutes",
            Operation::GetAuthorizers => "GetAuthorizers",
            Operation::GetIntegrations => "GetIntegrations",
            Operation::GetStages => "GetStages",
            Operation::AssumeRole => "AssumeRole",
            Operation::ListAccounts => "ListAccounts",
            Operation::ListAccountsForParent => "ListAccountsForParent",
            Operation::ListOrganizationalUnitsForParent => "ListOrganizationalUnitsForParent",
            Operation::ListParents => "ListParents",
            Operation::ListTagsForResource => "ListTagsForResource",
        }
    }
}

/// Why an API (or a discovery) could not be read, classified once, where it
/// happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    Throttled,
    NotFound,
    BadRequest,
    AccessDenied,
    ServerError,
    Timeout,
    Transport,
    MalformedResponse,
    /// Only part of the API was given: a get-routes file whose `NextToken`
    /// is set holds only its first page; or an API over its bounds.
    Incomplete,
}

impl ErrorKind {
    /// A bounded label, as reports and logs name it.
    pub fn label(self) -> &'static str {
        match self {
            ErrorKind::Throttled => "throttled",
            ErrorKind::NotFound => "not_found",
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::AccessDenied => "access_denied",
            ErrorKind::ServerError => "server_error",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Transport => "transport",
            ErrorKind::MalformedResponse => "malformed_response",
            ErrorKind::Incomplete => "incomplete",
        }
    }

    /// Whether the API is known to be gone (rather than unread).
    pub fn is_gone(self) -> bool {
        self == ErrorKind::NotFound
    }
}

/// How a request ended, as `routewarden_aws_requests_total` labels it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RequestOutcome {
    Success,
    Throttled,
    ClientError,
    ServerError,
    Timeout,
    TransportError,
}

impl RequestOutcome {
    pub fn label(self) -> &'static str {
        match self {
            RequestOutcome::Success => "success",
            RequestOutcome::Throttled => "throttled",
            RequestOutcome::ClientError => "client_error",
            RequestOutcome::ServerError => "server_error",
            RequestOutcome::Timeout => "timeout",
            RequestOutcome::TransportError => "transport_error",
        }
    }
}

/// An API or a discovery that could not be read; the audit is incomplete.
#[derive(Debug, Clone, Serialize)]
pub struct FetchError {
    /// `None` for an organization that could not be listed.
    pub target_name: Option<Arc<str>>,
    pub region: Option<Arc<str>>,
    /// The API; `None` for a failed discovery.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_id: Option<Arc<str>>,
    /// The account, where known (organizations' targets).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<Arc<str>>,
    /// The organization of the target, or the one that could not be listed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization: Option<Arc<str>>,
    pub operation: Operation,
    pub kind: ErrorKind,
    pub message: String,
}

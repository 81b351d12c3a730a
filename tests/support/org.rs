//! A fake multi-account AWS for `[[organizations]]`: one server on 127.0.0.1
//! that the real SDKs reach through a single `endpoint_url`, speaking the
//! three wire formats an organization audit needs: Organizations (awsJson1_1,
//! `X-Amz-Target`), STS AssumeRole and GetCallerIdentity (awsQuery, XML
//! answers), and ApiGatewayV2's reads (REST-JSON, paginated as
//! [`super::fault`] serves them).
//!
//! The organization is a [`FakeOrg`]: a root, OUs, and accounts with tags
//! and, per region, their own [`FakeApi`]s (the same API id may exist in two
//! accounts). AssumeRole hands out session credentials whose access key id
//! spells the account (`ASIA` + the 12 digits + a serial). An ApiGatewayV2
//! request is served from the account its signing key belongs to (a key the
//! server did not issue, such as the tests' dummy one, is the management
//! account's) and from the region of its credential scope: an audit that
//! reads one account with another's credentials sees the other's APIs, as it
//! would on AWS. Each account and region has its own token bucket when a
//! quota is set, as AWS's quotas are per account and region.
//!
//! The rules are AWS's where a client can tell: a role that does not exist
//! or is denied, a wrong or missing external id, a suspended account or one
//! that left are AccessDenied; a session's credentials need its token, expire
//! and die with their account; member accounts cannot call Organizations;
//! Organizations pages hold at most 20 items and MaxResults above 20 is
//! InvalidInputException. Signatures themselves are not checked.
//!
//! It models no SCPs, delegated administrators or write operations: tests
//! change the organization with [`OrgServer::update`] and the switches beside
//! it. It uses nothing of the support module but [`super::fault`], so that a
//! bench can include both files with `#[path]`.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::fault::{self, FakeApi, Paging, Part};

/// The `X-Amz-Target` prefix of Organizations operations.
const ORGANIZATIONS_TARGET: &str = "AWSOrganizationsV20161128.";

/// The largest page of every Organizations listing, and the largest
/// MaxResults AWS accepts for them.
const ORGANIZATIONS_MAX_RESULTS: i64 = 20;

/// The longest session a member role grants (its MaxSessionDuration, AWS's
/// default of one hour).
const ROLE_MAX_SESSION: u64 = 3600;

/// An account's place in the organization's lifecycle: `Status` and `State`
/// on the wire (AWS sends both; for these three they agree).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountStatus {
    Active,
    Suspended,
    PendingClosure,
}

impl AccountStatus {
    fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "ACTIVE",
            AccountStatus::Suspended => "SUSPENDED",
            AccountStatus::PendingClosure => "PENDING_CLOSURE",
        }
    }
}

/// An organizational unit.
#[derive(Debug, Clone)]
pub struct FakeOu {
    /// `ou-<root suffix>-<8 chars>`.
    pub id: String,
    pub name: String,
    /// The root's id or another OU's.
    pub parent: String,
}

/// An account of the organization, with what it holds.
#[derive(Debug, Clone)]
pub struct FakeAccount {
    /// 12 digits.
    pub id: String,
    pub name: String,
    pub email: String,
    pub status: AccountStatus,
    /// The root's id or an OU's.
    pub parent: String,
    pub tags: BTreeMap<String, String>,
    /// Its APIs, by region.
    pub apis: BTreeMap<String, Vec<FakeApi>>,
    /// Whether the organization's member role exists in it (and trusts the
    /// caller): false makes AssumeRole AccessDenied.
    pub has_role: bool,
    /// The external id its member role requires, instead of the
    /// organization's.
    pub external_id: Option<String>,
    /// When it joined, in seconds since the epoch.
    pub joined: i64,
}

impl FakeAccount {
    /// An active account with the member role, no tags and no APIs.
    pub fn new(id: &str, name: &str, parent: &str) -> FakeAccount {
        assert!(
            id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit()),
            "an account id is 12 digits: {id}"
        );
        FakeAccount {
            id: id.to_owned(),
            name: name.to_owned(),
            email: format!("aws+{id}@example.com"),
            status: AccountStatus::Active,
            parent: parent.to_owned(),
            tags: BTreeMap::new(),
            apis: BTreeMap::new(),
            has_role: true,
            external_id: None,
            joined: 1_700_000_000,
        }
    }

    pub fn tag(mut self, key: &str, value: &str) -> FakeAccount {
        self.tags.insert(key.to_owned(), value.to_owned());
        self
    }

    /// Adds an API in `region`.
    pub fn api(mut self, region: &str, api: FakeApi) -> FakeAccount {
        self.apis.entry(region.to_owned()).or_default().push(api);
        self
    }
}

/// An organization: its root, OUs and accounts (the management account
/// among them, as ListAccounts lists it), and how member roles are assumed.
#[derive(Debug, Clone)]
pub struct FakeOrg {
    /// `o-` + 10 characters.
    pub id: String,
    pub management_account: String,
    /// `r-` + 4 characters.
    pub root_id: String,
    pub ous: Vec<FakeOu>,
    pub accounts: Vec<FakeAccount>,
    /// The role assumed in each account: `arn:aws:iam::<id>:role/<name>`.
    pub member_role_name: String,
    /// A role of the management account that may also be assumed, for
    /// Organizations calls (`management_role_arn`); no external id.
    pub management_role_name: Option<String>,
    /// The external id every member role requires, unless the account sets
    /// its own; `None`: any or none is accepted (no condition in the trust
    /// policy).
    pub external_id: Option<String>,
}

impl FakeOrg {
    /// An organization of one account, the management account (named
    /// `management`, at the root, with the member role), no OUs.
    pub fn new(management_account: &str, member_role_name: &str) -> FakeOrg {
        let digits = &management_account[management_account.len().saturating_sub(10)..];
        let root_id = format!("r-{}", &digits[digits.len() - 4..]);
        let mut org = FakeOrg {
            id: format!("o-{digits}"),
            management_account: management_account.to_owned(),
            root_id: root_id.clone(),
            ous: Vec::new(),
            accounts: Vec::new(),
            member_role_name: member_role_name.to_owned(),
            management_role_name: None,
            external_id: None,
        };
        org.add_account(FakeAccount::new(management_account, "management", &root_id));
        org
    }

    /// A generated organization; see [`OrgBuilder`].
    pub fn builder() -> OrgBuilder {
        OrgBuilder {
            accounts: 10,
            regions: vec!["us-east-1".to_owned()],
            apis: 1,
            routes: 4,
            member_role_name: "routewarden-read".to_owned(),
            external_id: None,
        }
    }

    /// Adds an OU under `parent` (the root's id or an OU's); its id.
    pub fn add_ou(&mut self, name: &str, parent: &str) -> String {
        assert!(self.is_parent(parent), "no root or OU {parent}");
        let suffix = &self.root_id[2..];
        let id = format!("ou-{suffix}-{:08}", self.ous.len() + 1);
        self.ous.push(FakeOu {
            id: id.clone(),
            name: name.to_owned(),
            parent: parent.to_owned(),
        });
        id
    }

    /// Adds an account, or replaces the one with its id.
    pub fn add_account(&mut self, account: FakeAccount) {
        assert!(
            self.is_parent(&account.parent),
            "no root or OU {}",
            account.parent
        );
        match self.accounts.iter_mut().find(|a| a.id == account.id) {
            Some(old) => *old = account,
            None => self.accounts.push(account),
        }
    }

    pub fn account(&self, id: &str) -> Option<&FakeAccount> {
        self.accounts.iter().find(|a| a.id == id)
    }

    pub fn account_mut(&mut self, id: &str) -> Option<&mut FakeAccount> {
        self.accounts.iter_mut().find(|a| a.id == id)
    }

    /// The id of the OU at `path` (`Root/Prod/Payments`), or the root's for
    /// `Root`.
    pub fn ou_id(&self, path: &str) -> Option<String> {
        let mut names = path.split('/');
        if names.next() != Some("Root") {
            return None;
        }
        names.try_fold(self.root_id.clone(), |parent, name| {
            self.ous
                .iter()
                .find(|ou| ou.parent == parent && ou.name == name)
                .map(|ou| ou.id.clone())
        })
    }

    /// The path from the root to an account's parent, or to an OU itself:
    /// `Root/Prod/Payments`, as policies see `account.ou_path`.
    pub fn ou_path(&self, id: &str) -> Option<String> {
        let mut at = match self.account(id) {
            Some(account) => account.parent.clone(),
            None => id.to_owned(),
        };
        let mut names = Vec::new();
        while at != self.root_id {
            let ou = self.ous.iter().find(|ou| ou.id == at)?;
            names.push(ou.name.as_str());
            at = ou.parent.clone();
        }
        names.push("Root");
        names.reverse();
        Some(names.join("/"))
    }

    /// The member role's ARN in `account`.
    pub fn role_arn(&self, account: &str) -> String {
        format!("arn:aws:iam::{account}:role/{}", self.member_role_name)
    }

    fn is_parent(&self, id: &str) -> bool {
        id == self.root_id || self.ous.iter().any(|ou| ou.id == id)
    }
}

/// Generates an organization, cheaply enough for hundreds of accounts.
///
/// The management account is `111111111111` (at the root, no APIs). OUs:
/// `Root/Prod`, `Root/Prod/Payments`, `Root/Dev`, `Root/Sandbox`. Member `i`
/// (from 0) is `200000000000 + i`, named `acct-0000` on, in
/// `[Root/Prod/Payments, Root/Prod, Root/Dev, Root/Sandbox][i % 4]`, tagged
/// `env` (`prod`, `prod`, `dev`, `sandbox`, by OU), `team` (`team-{i % 3}`)
/// and `audit` (`yes` when `(i / 4)` is even, else `no`). In each region
/// (the `r`-th) it holds APIs `{i:05}r{r}k{k:02}` ([`fault::api`], routes
/// alternating authorization types).
#[derive(Debug, Clone)]
pub struct OrgBuilder {
    accounts: usize,
    regions: Vec<String>,
    apis: usize,
    routes: usize,
    member_role_name: String,
    external_id: Option<String>,
}

impl OrgBuilder {
    /// Member accounts, besides the management account (default 10).
    pub fn accounts(self, n: usize) -> OrgBuilder {
        OrgBuilder {
            accounts: n,
            ..self
        }
    }

    /// Where every member holds its APIs (default `us-east-1`).
    pub fn regions(self, regions: &[&str]) -> OrgBuilder {
        OrgBuilder {
            regions: regions.iter().map(|r| r.to_string()).collect(),
            ..self
        }
    }

    /// APIs per member and region (default 1).
    pub fn apis(self, n: usize) -> OrgBuilder {
        OrgBuilder { apis: n, ..self }
    }

    /// Routes per API (default 4).
    pub fn routes(self, n: usize) -> OrgBuilder {
        OrgBuilder { routes: n, ..self }
    }

    /// The member role (default `routewarden-read`).
    pub fn member_role_name(self, name: &str) -> OrgBuilder {
        OrgBuilder {
            member_role_name: name.to_owned(),
            ..self
        }
    }

    /// The external id every member role requires (default none).
    pub fn external_id(self, id: &str) -> OrgBuilder {
        OrgBuilder {
            external_id: Some(id.to_owned()),
            ..self
        }
    }

    pub fn build(self) -> FakeOrg {
        assert!(self.accounts < 100_000 && self.apis < 100 && self.regions.len() < 10);
        let mut org = FakeOrg::new("111111111111", &self.member_role_name);
        org.external_id = self.external_id;
        let root = org.root_id.clone();
        let prod = org.add_ou("Prod", &root);
        let homes = [
            (org.add_ou("Payments", &prod), "prod"),
            (prod, "prod"),
            (org.add_ou("Dev", &root), "dev"),
            (org.add_ou("Sandbox", &root), "sandbox"),
        ];
        for i in 0..self.accounts {
            let (parent, env) = &homes[i % homes.len()];
            let id = (200_000_000_000 + i as u64).to_string();
            let mut account = FakeAccount::new(&id, &format!("acct-{i:04}"), parent)
                .tag("env", env)
                .tag("team", &format!("team-{}", i % 3))
                .tag("audit", if (i / 4) % 2 == 0 { "yes" } else { "no" });
            account.joined += i as i64 * 60;
            for (r, region) in self.regions.iter().enumerate() {
                for k in 0..self.apis {
                    account = account.api(
                        region,
                        fault::api(&format!("{i:05}r{r}k{k:02}"), self.routes),
                    );
                }
            }
            org.add_account(account);
        }
        org
    }
}

/// What the server served.
#[derive(Debug, Clone, Default)]
pub struct Counts {
    pub requests: u64,
    /// Requests by operation: `ListAccounts`, `AssumeRole`, `GetRoutes`, ...
    pub by_operation: BTreeMap<String, u64>,
    /// ApiGatewayV2 requests by the account they were served from.
    pub by_account: BTreeMap<String, u64>,
    /// ApiGatewayV2 requests by account and region.
    pub by_target: BTreeMap<(String, String), u64>,
    /// Sessions issued by AssumeRole, by account.
    pub assumed: BTreeMap<String, u64>,
    /// Answers TooManyRequestsException (ApiGatewayV2's 429s and
    /// Organizations' injected ones).
    pub throttled: u64,
    /// Answers that refused the caller: AccessDenied, and credentials that
    /// are invalid, expired or missing.
    pub denied: u64,
    /// Most requests in progress at once.
    pub max_in_flight: u64,
    /// Most distinct accounts with ApiGatewayV2 requests in progress at
    /// once: above 1 when audits of different accounts overlap.
    pub max_accounts_in_flight: u64,
    in_flight: u64,
}

/// An Organizations error to inject.
#[derive(Debug, Clone)]
struct OrgFault {
    /// `None`: every operation.
    operation: Option<String>,
    error_type: &'static str,
    left: u32,
}

/// A session AssumeRole issued, by its access key id.
#[derive(Debug, Clone)]
struct Session {
    account: String,
    /// `arn:aws:sts::<account>:assumed-role/<role>/<session name>`.
    arn: String,
    token: String,
    expires: SystemTime,
}

/// The organization, the switches and the counts, behind one lock shared by
/// the handlers and the test's switches; never held across an await.
struct Inner {
    org: FakeOrg,
    org_page_cap: usize,
    api_page_cap: usize,
    org_faults: Vec<OrgFault>,
    /// ApiGatewayV2's quota (rate per second, burst) and one bucket per
    /// account and region: its tokens and last refill.
    quota: Option<(f64, f64)>,
    buckets: HashMap<(String, String), (f64, Instant)>,
    /// How long every request is held, in flight, before it is answered.
    latency: Duration,
    /// The longest session AssumeRole grants.
    session_cap: Duration,
    sessions: HashMap<String, Session>,
    /// Sessions issued so far (the serial in access keys) and requests
    /// answered (request ids).
    issued: u64,
    serial: u64,
    counts: Counts,
    /// ApiGatewayV2 requests in progress, by account (none at zero).
    accounts_in_flight: HashMap<String, u64>,
}

type Shared = State<Arc<Mutex<Inner>>>;

/// The fake organization's server.
#[derive(Clone)]
pub struct OrgServer {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    shutdown: Arc<tokio::sync::Notify>,
}

impl OrgServer {
    /// Starts on 127.0.0.1 with a free port, on the current tokio runtime.
    pub async fn start(org: FakeOrg) -> OrgServer {
        let inner = Arc::new(Mutex::new(Inner {
            org,
            org_page_cap: ORGANIZATIONS_MAX_RESULTS as usize,
            api_page_cap: 50,
            org_faults: Vec::new(),
            quota: None,
            buckets: HashMap::new(),
            latency: Duration::ZERO,
            session_cap: Duration::from_secs(ROLE_MAX_SESSION),
            sessions: HashMap::new(),
            issued: 0,
            serial: 0,
            counts: Counts::default(),
            accounts_in_flight: HashMap::new(),
        }));
        let app = Router::new()
            // Organizations and STS share `POST /`, told apart by
            // `X-Amz-Target`.
            .route("/", post(post_root))
            .route("/v2/apis", get(get_apis))
            .route("/v2/apis/{api_id}", get(get_api))
            .route("/v2/apis/{api_id}/routes", get(get_routes))
            .route("/v2/apis/{api_id}/authorizers", get(get_authorizers))
            .route("/v2/apis/{api_id}/integrations", get(get_integrations))
            .route("/v2/apis/{api_id}/stages", get(get_stages))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = Arc::new(tokio::sync::Notify::new());
        let stop = shutdown.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.notified().await })
                .await
                .ok();
        });
        OrgServer {
            addr,
            inner,
            shutdown,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn stop(&self) {
        self.shutdown.notify_waiters();
    }

    /// The organization as it stands.
    pub fn org(&self) -> FakeOrg {
        self.inner.lock().unwrap().org.clone()
    }

    /// Changes the organization in place: an API added to an account, a tag
    /// changed, an account moved.
    pub fn update(&self, change: impl FnOnce(&mut FakeOrg)) {
        change(&mut self.inner.lock().unwrap().org);
    }

    pub fn add_account(&self, account: FakeAccount) {
        self.update(|org| org.add_account(account));
    }

    /// The account leaves the organization: gone from every listing, its
    /// role can no longer be assumed, its sessions are refused.
    pub fn remove_account(&self, id: &str) {
        self.update(|org| org.accounts.retain(|a| a.id != id));
    }

    /// The account is suspended (Status and State SUSPENDED): its role can no
    /// longer be assumed, its sessions are refused.
    pub fn suspend_account(&self, id: &str) {
        self.update(|org| {
            org.account_mut(id).expect("a known account").status = AccountStatus::Suspended
        });
    }

    /// The member role of the account cannot be assumed (AccessDenied), as
    /// if deleted or no longer trusting the caller.
    pub fn deny_role(&self, id: &str) {
        self.update(|org| org.account_mut(id).expect("a known account").has_role = false);
    }

    /// Undoes [`OrgServer::deny_role`].
    pub fn allow_role(&self, id: &str) {
        self.update(|org| org.account_mut(id).expect("a known account").has_role = true);
    }

    /// The next `times` Organizations calls (of `operation` only, if given)
    /// answer TooManyRequestsException.
    pub fn throttle_organizations(&self, operation: Option<&str>, times: u32) {
        self.fail_organizations(operation, "TooManyRequestsException", times);
    }

    /// The next `times` Organizations calls (of `operation` only, if given)
    /// answer the error `error_type` (`AccessDeniedException`,
    /// `ServiceException`, ...).
    pub fn fail_organizations(
        &self,
        operation: Option<&str>,
        error_type: &'static str,
        times: u32,
    ) {
        self.inner.lock().unwrap().org_faults.push(OrgFault {
            operation: operation.map(str::to_owned),
            error_type,
            left: times,
        });
    }

    /// Largest page of an Organizations listing, whatever MaxResults asks
    /// (AWS's is 20, the default).
    pub fn set_org_page_cap(&self, cap: usize) {
        self.inner.lock().unwrap().org_page_cap = cap.max(1);
    }

    /// Largest page of an ApiGatewayV2 listing (default 50).
    pub fn set_api_page_cap(&self, cap: usize) {
        self.inner.lock().unwrap().api_page_cap = cap.max(1);
    }

    /// ApiGatewayV2's quota: in each account and region, `rate` requests per
    /// second with a burst of `burst`; beyond it, 429 TooManyRequestsException.
    /// Every bucket starts full.
    pub fn set_quota(&self, rate: f64, burst: f64) {
        let mut inner = self.inner.lock().unwrap();
        inner.quota = Some((rate, burst));
        inner.buckets.clear();
    }

    pub fn clear_quota(&self) {
        let mut inner = self.inner.lock().unwrap();
        inner.quota = None;
        inner.buckets.clear();
    }

    /// Holds every request this long before answering it, so that requests
    /// a client sends at once are seen in flight together.
    pub fn set_latency(&self, latency: Duration) {
        self.inner.lock().unwrap().latency = latency;
    }

    /// Sessions AssumeRole issues from now on last at most this long (AWS's
    /// floor is 15 minutes; a test of expiry wants seconds).
    pub fn set_session_lifetime(&self, lifetime: Duration) {
        self.inner.lock().unwrap().session_cap = lifetime;
    }

    pub fn counts(&self) -> Counts {
        self.inner.lock().unwrap().counts.clone()
    }

    pub fn reset_counts(&self) {
        let mut inner = self.inner.lock().unwrap();
        let in_flight = inner.counts.in_flight;
        inner.counts = Counts {
            in_flight,
            ..Counts::default()
        };
    }
}

/// Requests of one operation.
pub fn operation_requests(counts: &Counts, operation: &str) -> u64 {
    counts.by_operation.get(operation).copied().unwrap_or(0)
}

/// Ends a request's in-flight counts when the handler returns (or is
/// dropped, the client gone).
struct InFlight {
    inner: Arc<Mutex<Inner>>,
    account: Option<String>,
}

impl InFlight {
    fn enter(inner: &Arc<Mutex<Inner>>) -> InFlight {
        let mut s = inner.lock().unwrap();
        s.counts.in_flight += 1;
        s.counts.max_in_flight = s.counts.max_in_flight.max(s.counts.in_flight);
        InFlight {
            inner: inner.clone(),
            account: None,
        }
    }

    /// The request reads `account`'s APIs until it ends.
    fn reading(&mut self, s: &mut Inner, account: &str) {
        *s.accounts_in_flight.entry(account.to_owned()).or_default() += 1;
        let distinct = s.accounts_in_flight.len() as u64;
        s.counts.max_accounts_in_flight = s.counts.max_accounts_in_flight.max(distinct);
        self.account = Some(account.to_owned());
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut s = self.inner.lock().unwrap();
        s.counts.in_flight = s.counts.in_flight.saturating_sub(1);
        if let Some(account) = self.account.take()
            && let Some(n) = s.accounts_in_flight.get_mut(&account)
        {
            *n -= 1;
            if *n == 0 {
                s.accounts_in_flight.remove(&account);
            }
        }
    }
}

impl Inner {
    fn count(&mut self, operation: &str) {
        self.counts.requests += 1;
        *self
            .counts
            .by_operation
            .entry(operation.to_owned())
            .or_default() += 1;
    }

    fn request_id(&mut self) -> String {
        self.serial += 1;
        format!("{:08x}-0000-4000-8000-{:012x}", self.serial, self.serial)
    }

    /// Who signed the request: an issued session (valid with its token,
    /// before it expires, while its account is active in the organization),
    /// or else the management account.
    fn caller(&self, headers: &HeaderMap) -> Result<Caller, Refused> {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .ok_or(Refused::Missing)?;
        // `AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/<service>/aws4_request, ...`
        let scope = auth
            .split("Credential=")
            .nth(1)
            .and_then(|rest| rest.split(',').next())
            .ok_or(Refused::Missing)?;
        let mut parts = scope.split('/');
        let (Some(key), Some(_date), Some(region)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(Refused::Missing);
        };
        let Some(session) = self.sessions.get(key) else {
            return Ok(Caller {
                account: self.org.management_account.clone(),
                arn: format!(
                    "arn:aws:iam::{}:user/routewarden-test",
                    self.org.management_account
                ),
                region: region.to_owned(),
            });
        };
        let token = headers
            .get("x-amz-security-token")
            .and_then(|v| v.to_str().ok());
        if token != Some(session.token.as_str()) {
            return Err(Refused::Invalid);
        }
        if SystemTime::now() >= session.expires {
            return Err(Refused::Expired);
        }
        match self.org.account(&session.account) {
            Some(account) if account.status == AccountStatus::Active => Ok(Caller {
                account: session.account.clone(),
                arn: session.arn.clone(),
                region: region.to_owned(),
            }),
            _ => Err(Refused::Invalid),
        }
    }

    /// Takes a token from the bucket of `account` in `region`; false when
    /// it is empty (the request is throttled).
    fn take_token(&mut self, account: &str, region: &str) -> bool {
        let Some((rate, burst)) = self.quota else {
            return true;
        };
        let now = Instant::now();
        let (tokens, last) = self
            .buckets
            .entry((account.to_owned(), region.to_owned()))
            .or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate).min(burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            self.counts.throttled += 1;
            false
        }
    }
}

/// The signer of a request, as [`Inner::caller`] found it.
struct Caller {
    account: String,
    arn: String,
    /// The region of the credential scope.
    region: String,
}

/// Why a request's credentials were refused.
#[derive(Debug, Clone, Copy)]
enum Refused {
    /// No SigV4 `Authorization` header.
    Missing,
    /// A session's key without its token, or of an account that was
    /// suspended or left.
    Invalid,
    Expired,
}

impl Refused {
    /// The error type and message of the JSON protocols.
    fn json_error(self) -> (&'static str, &'static str) {
        match self {
            Refused::Missing => (
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            ),
            Refused::Invalid => (
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            ),
            Refused::Expired => (
                "ExpiredTokenException",
                "The security token included in the request is expired",
            ),
        }
    }

    /// ApiGatewayV2's answer (REST-JSON): 403.
    fn rest_json(self) -> Response {
        let (error_type, message) = self.json_error();
        fault::error(403, Some(error_type), message)
    }

    /// Organizations' answer (awsJson1_1): 400.
    fn json(self, request_id: &str) -> Response {
        let (error_type, message) = self.json_error();
        json_error(&OrgError::new(error_type, message), request_id)
    }

    /// STS's answer (awsQuery).
    fn query(self, request_id: &str) -> Response {
        let (status, code, message) = match self {
            Refused::Missing => (
                400,
                "MissingAuthenticationToken",
                "Request is missing Authentication Token",
            ),
            Refused::Invalid => (
                403,
                "InvalidClientTokenId",
                "The security token included in the request is invalid.",
            ),
            Refused::Expired => (
                400,
                "ExpiredToken",
                "The security token included in the request is expired",
            ),
        };
        query_error(status, code, message, request_id)
    }
}

/// Holds the request for the configured latency.
async fn hold(inner: &Arc<Mutex<Inner>>) {
    let latency = inner.lock().unwrap().latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
}

/// `POST /`: Organizations when `X-Amz-Target` names it, else STS.
async fn post_root(State(inner): Shared, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let _guard = InFlight::enter(&inner);
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    match target {
        Some(target) => {
            let operation = target.strip_prefix(ORGANIZATIONS_TARGET).unwrap_or(&target);
            organizations(&inner, &headers, operation, &body).await
        }
        None => sts(&inner, &headers, &body).await,
    }
}

// ---------------------------------------------------------------------------
// Organizations (awsJson1_1)

/// An Organizations error: its `__type`, message and, for
/// InvalidInputException, reason.
struct OrgError {
    error_type: &'static str,
    message: String,
    reason: Option<&'static str>,
}

impl OrgError {
    fn new(error_type: &'static str, message: &str) -> OrgError {
        OrgError {
            error_type,
            message: message.to_owned(),
            reason: None,
        }
    }

    fn invalid(reason: &'static str, message: &str) -> OrgError {
        OrgError {
            reason: Some(reason),
            ..OrgError::new("InvalidInputException", message)
        }
    }
}

/// An awsJson1_1 error: 400 (500 for ServiceException) with `__type` and
/// `Message` in the body.
fn json_error(error: &OrgError, request_id: &str) -> Response {
    let mut body = json!({ "__type": error.error_type, "Message": error.message });
    if let Some(reason) = error.reason {
        body["Reason"] = json!(reason);
    }
    let status = if error.error_type == "ServiceException" {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::BAD_REQUEST
    };
    json_answer(status, body, request_id)
}

fn json_answer(status: StatusCode, body: Value, request_id: &str) -> Response {
    (
        status,
        [
            ("content-type", "application/x-amz-json-1.1".to_owned()),
            ("x-amzn-requestid", request_id.to_owned()),
        ],
        body.to_string(),
    )
        .into_response()
}

async fn organizations(
    inner: &Arc<Mutex<Inner>>,
    headers: &HeaderMap,
    operation: &str,
    body: &[u8],
) -> Response {
    inner.lock().unwrap().count(operation);
    hold(inner).await;
    let mut s = inner.lock().unwrap();
    let request_id = s.request_id();
    let caller = match s.caller(headers) {
        Ok(caller) => caller,
        Err(refused) => {
            s.counts.denied += 1;
            return refused.json(&request_id);
        }
    };
    let rule = s
        .org_faults
        .iter_mut()
        .find(|f| f.left > 0 && f.operation.as_deref().is_none_or(|op| op == operation));
    if let Some(rule) = rule {
        rule.left -= 1;
        let error_type = rule.error_type;
        let message = match error_type {
            "TooManyRequestsException" => {
                s.counts.throttled += 1;
                "Rate exceeded"
            }
            "AccessDeniedException" => "You don't have permissions to access this resource.",
            _ => "injected fault",
        };
        return json_error(&OrgError::new(error_type, message), &request_id);
    }
    if caller.account != s.org.management_account {
        s.counts.denied += 1;
        let denied = OrgError::new(
            "AccessDeniedException",
            "You don't have permissions to access this resource.",
        );
        return json_error(&denied, &request_id);
    }
    let input: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(body) {
            Ok(input) => input,
            Err(_) => {
                let error = OrgError::new(
                    "SerializationException",
                    "Start of structure or map found where not expected.",
                );
                return json_error(&error, &request_id);
            }
        }
    };
    match answer(&s, operation, &input) {
        Ok(body) => json_answer(StatusCode::OK, body, &request_id),
        Err(error) => json_error(&error, &request_id),
    }
}

/// The answer to an Organizations call from the management account.
fn answer(s: &Inner, operation: &str, input: &Value) -> Result<Value, OrgError> {
    let org = &s.org;
    let field = |name: &str| input.get(name).and_then(Value::as_str).unwrap_or_default();
    let page = |key: &str, items: Vec<Value>| org_page(key, items, input, s.org_page_cap);
    let parent_not_found = || {
        OrgError::new(
            "ParentNotFoundException",
            "We can't find a root or OU with the ParentId that you specified.",
        )
    };
    match operation {
        "DescribeOrganization" => Ok(json!({ "Organization": {
            "Id": org.id,
            "Arn": format!("arn:aws:organizations::{}:organization/{}", org.management_account, org.id),
            "FeatureSet": "ALL",
            "MasterAccountArn": account_arn(org, &org.management_account),
            "MasterAccountId": org.management_account,
            "MasterAccountEmail": org.account(&org.management_account).map(|a| a.email.clone()),
            "AvailablePolicyTypes": [{ "Type": "SERVICE_CONTROL_POLICY", "Status": "ENABLED" }],
        }})),
        "ListRoots" => page(
            "Roots",
            vec![json!({
                "Id": org.root_id,
                "Arn": format!("arn:aws:organizations::{}:root/{}/{}", org.management_account, org.id, org.root_id),
                "Name": "Root",
                "PolicyTypes": [],
            })],
        ),
        "DescribeAccount" => match org.account(field("AccountId")) {
            Some(account) => Ok(json!({ "Account": account_json(org, account) })),
            None => Err(OrgError::new(
                "AccountNotFoundException",
                "You specified an account that doesn't exist.",
            )),
        },
        "DescribeOrganizationalUnit" => {
            let id = field("OrganizationalUnitId");
            match org.ous.iter().find(|ou| ou.id == id) {
                Some(ou) => Ok(json!({ "OrganizationalUnit": ou_json(org, ou) })),
                None => Err(OrgError::new(
                    "OrganizationalUnitNotFoundException",
                    "We can't find an OU with the OrganizationalUnitId that you specified.",
                )),
            }
        }
        "ListAccounts" => page(
            "Accounts",
            org.accounts.iter().map(|a| account_json(org, a)).collect(),
        ),
        "ListAccountsForParent" => {
            let parent = field("ParentId");
            if !org.is_parent(parent) {
                return Err(parent_not_found());
            }
            let accounts = org.accounts.iter().filter(|a| a.parent == parent);
            page("Accounts", accounts.map(|a| account_json(org, a)).collect())
        }
        "ListOrganizationalUnitsForParent" => {
            let parent = field("ParentId");
            if !org.is_parent(parent) {
                return Err(parent_not_found());
            }
            let ous = org.ous.iter().filter(|ou| ou.parent == parent);
            page(
                "OrganizationalUnits",
                ous.map(|ou| ou_json(org, ou)).collect(),
            )
        }
        "ListParents" => {
            let child = field("ChildId");
            let is_account = child.len() == 12 && child.bytes().all(|b| b.is_ascii_digit());
            if !is_account && !child.starts_with("ou-") {
                return Err(OrgError::invalid(
                    "INVALID_PATTERN",
                    "You provided a value that doesn't match the required pattern.",
                ));
            }
            let parent = match org.account(child) {
                Some(account) => Some(account.parent.clone()),
                None => org
                    .ous
                    .iter()
                    .find(|ou| ou.id == child)
                    .map(|ou| ou.parent.clone()),
            };
            let Some(parent) = parent else {
                return Err(OrgError::new(
                    "ChildNotFoundException",
                    "We can't find an organizational unit (OU) or AWS account with the ChildId that you specified.",
                ));
            };
            let kind = if parent == org.root_id {
                "ROOT"
            } else {
                "ORGANIZATIONAL_UNIT"
            };
            page("Parents", vec![json!({ "Id": parent, "Type": kind })])
        }
        "ListTagsForResource" => {
            let id = field("ResourceId");
            let tags = match org.account(id) {
                Some(account) => account.tags.clone(),
                None if org.is_parent(id) => BTreeMap::new(),
                None => {
                    return Err(OrgError::new(
                        "TargetNotFoundException",
                        "We can't find a root, OU, account, or policy with the TargetId that you specified.",
                    ));
                }
            };
            let tags = tags
                .iter()
                .map(|(k, v)| json!({ "Key": k, "Value": v }))
                .collect();
            page("Tags", tags)
        }
        _ => Err(OrgError::new(
            "UnknownOperationException",
            &format!("the fake organization does not implement {operation}"),
        )),
    }
}

fn account_arn(org: &FakeOrg, account: &str) -> String {
    format!(
        "arn:aws:organizations::{}:account/{}/{account}",
        org.management_account, org.id
    )
}

fn account_json(org: &FakeOrg, account: &FakeAccount) -> Value {
    json!({
        "Id": account.id,
        "Arn": account_arn(org, &account.id),
        "Email": account.email,
        "Name": account.name,
        "Status": account.status.as_str(),
        "State": account.status.as_str(),
        "JoinedMethod": "CREATED",
        "JoinedTimestamp": account.joined,
    })
}

fn ou_json(org: &FakeOrg, ou: &FakeOu) -> Value {
    json!({
        "Id": ou.id,
        "Arn": format!("arn:aws:organizations::{}:ou/{}/{}", org.management_account, org.id, ou.id),
        "Name": ou.name,
    })
}

/// A page of an Organizations listing under `key`: at most `cap` items and
/// MaxResults, which must be 1 to 20; tokens are opaque to clients.
fn org_page(key: &str, items: Vec<Value>, input: &Value, cap: usize) -> Result<Value, OrgError> {
    let start = match input.get("NextToken").and_then(Value::as_str) {
        None => 0,
        Some(token) => token
            .strip_prefix("rw-page-")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| {
                OrgError::invalid(
                    "INVALID_PAGINATION_TOKEN",
                    "You specified an invalid value for nextToken.",
                )
            })?
            .min(items.len()),
    };
    let size = match input.get("MaxResults").and_then(Value::as_i64) {
        None => cap,
        Some(n) if n < 1 => {
            return Err(OrgError::invalid(
                "MIN_VALUE_EXCEEDED",
                "You provided a numeric parameter that has a smaller value than allowed.",
            ));
        }
        Some(n) if n > ORGANIZATIONS_MAX_RESULTS => {
            return Err(OrgError::invalid(
                "MAX_VALUE_EXCEEDED",
                "You provided a numeric parameter that has a larger value than allowed.",
            ));
        }
        Some(n) => (n as usize).min(cap),
    };
    let end = (start + size).min(items.len());
    let mut body = serde_json::Map::new();
    body.insert(key.to_owned(), Value::Array(items[start..end].to_vec()));
    if end < items.len() {
        body.insert("NextToken".to_owned(), json!(format!("rw-page-{end}")));
    }
    Ok(Value::Object(body))
}

// ---------------------------------------------------------------------------
// STS (awsQuery)

const STS_NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// An awsQuery `ErrorResponse`.
fn query_error(status: u16, code: &str, message: &str, request_id: &str) -> Response {
    let body = format!(
        "<ErrorResponse xmlns=\"{STS_NAMESPACE}\">\
         <Error><Type>Sender</Type><Code>{code}</Code><Message>{}</Message></Error>\
         <RequestId>{request_id}</RequestId></ErrorResponse>",
        xml_escape(message)
    );
    xml_answer(StatusCode::from_u16(status).unwrap(), body)
}

fn xml_answer(status: StatusCode, body: String) -> Response {
    (status, [("content-type", "text/xml")], body).into_response()
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn sts(inner: &Arc<Mutex<Inner>>, headers: &HeaderMap, body: &[u8]) -> Response {
    let params: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    let action = params.get("Action").cloned().unwrap_or_default();
    // Counted by action (`AssumeRole`); `STS` when there is none.
    let operation = if action.is_empty() { "STS" } else { &action };
    inner.lock().unwrap().count(operation);
    hold(inner).await;
    let mut s = inner.lock().unwrap();
    let request_id = s.request_id();
    let caller = match s.caller(headers) {
        Ok(caller) => caller,
        Err(refused) => {
            s.counts.denied += 1;
            return refused.query(&request_id);
        }
    };
    match action.as_str() {
        "AssumeRole" => assume_role(&mut s, &caller, &params, &request_id),
        "GetCallerIdentity" => {
            let body = format!(
                "<GetCallerIdentityResponse xmlns=\"{STS_NAMESPACE}\"><GetCallerIdentityResult>\
                 <Arn>{}</Arn><UserId>AIDAROUTEWARDENTEST</UserId><Account>{}</Account>\
                 </GetCallerIdentityResult><ResponseMetadata><RequestId>{request_id}</RequestId>\
                 </ResponseMetadata></GetCallerIdentityResponse>",
                xml_escape(&caller.arn),
                caller.account
            );
            xml_answer(StatusCode::OK, body)
        }
        _ => query_error(
            400,
            "InvalidAction",
            &format!("Could not find operation {action} for version 2011-06-15"),
            &request_id,
        ),
    }
}

/// `arn:aws:iam::<12 digits>:role/<path/>name` -> (account, role name).
fn parse_role_arn(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.strip_prefix("arn:aws:iam::")?;
    let (account, resource) = rest.split_once(':')?;
    let role = resource.strip_prefix("role/")?.rsplit('/').next()?;
    let valid = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    (valid && !role.is_empty()).then_some((account, role))
}

fn assume_role(
    s: &mut Inner,
    caller: &Caller,
    params: &HashMap<String, String>,
    request_id: &str,
) -> Response {
    let validation = |message: &str| query_error(400, "ValidationError", message, request_id);
    let Some(role_arn) = params.get("RoleArn") else {
        return validation(
            "1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null",
        );
    };
    let Some(session_name) = params.get("RoleSessionName") else {
        return validation(
            "1 validation error detected: Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null",
        );
    };
    let Some((account, role)) = parse_role_arn(role_arn) else {
        return validation(&format!("{role_arn} is invalid"));
    };
    let duration = match params.get("DurationSeconds").map(|d| d.parse::<u64>()) {
        None => ROLE_MAX_SESSION,
        Some(Ok(d)) if (900..=ROLE_MAX_SESSION).contains(&d) => d,
        Some(Ok(d)) if d > ROLE_MAX_SESSION => {
            return validation(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
            );
        }
        Some(_) => {
            return validation(
                "1 validation error detected: Value at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900",
            );
        }
    };
    let org = &s.org;
    let allowed = org.account(account).is_some_and(|a| {
        let active = a.status == AccountStatus::Active;
        let member = role == org.member_role_name && a.has_role && {
            let expected = a.external_id.as_ref().or(org.external_id.as_ref());
            expected.is_none_or(|id| params.get("ExternalId") == Some(id))
        };
        let management =
            a.id == org.management_account && org.management_role_name.as_deref() == Some(role);
        active && (member || management)
    });
    if !allowed {
        s.counts.denied += 1;
        let message = format!(
            "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
            caller.arn
        );
        return query_error(403, "AccessDenied", &message, request_id);
    }
    s.issued += 1;
    let serial = s.issued;
    let key = format!("ASIA{account}{}", base36(serial, 4));
    let lifetime = Duration::from_secs(duration).min(s.session_cap);
    let expires = SystemTime::now() + lifetime;
    let arn = format!("arn:aws:sts::{account}:assumed-role/{role}/{session_name}");
    let token = format!("rw-session-token-{account}-{serial}");
    let secret = format!("rw-session-secret-{account}-{serial}");
    *s.counts.assumed.entry(account.to_owned()).or_default() += 1;
    s.sessions.insert(
        key.clone(),
        Session {
            account: account.to_owned(),
            arn: arn.clone(),
            token: token.clone(),
            expires,
        },
    );
    // Whole seconds, as AWS sends it; never later than the real expiry.
    let seconds = expires
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let expiration = aws_smithy_types::DateTime::from_secs(seconds as i64)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap();
    let body = format!(
        "<AssumeRoleResponse xmlns=\"{STS_NAMESPACE}\"><AssumeRoleResult>\
         <AssumedRoleUser><AssumedRoleId>AROA{account}FAKE:{session}</AssumedRoleId>\
         <Arn>{arn}</Arn></AssumedRoleUser>\
         <Credentials><AccessKeyId>{key}</AccessKeyId><SecretAccessKey>{secret}</SecretAccessKey>\
         <SessionToken>{token}</SessionToken><Expiration>{expiration}</Expiration></Credentials>\
         <PackedPolicySize>0</PackedPolicySize></AssumeRoleResult>\
         <ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>\
         </AssumeRoleResponse>",
        session = xml_escape(session_name),
        arn = xml_escape(&arn),
    );
    xml_answer(StatusCode::OK, body)
}

/// `n` in `width` upper-case base-36 digits (the serial of an access key).
fn base36(mut n: u64, width: usize) -> String {
    const DIGITS: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut out = vec![b'0'; width];
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(n % 36) as usize];
        n /= 36;
    }
    String::from_utf8(out).unwrap()
}

// ---------------------------------------------------------------------------
// ApiGatewayV2 (REST-JSON)

/// One ApiGatewayV2 read, served from the signing account's APIs in the
/// signing region: GetApis (`api_id` none), GetApi (`part` none) or one of
/// an API's listings.
async fn apigw(
    inner: Arc<Mutex<Inner>>,
    headers: HeaderMap,
    operation: &str,
    api_id: Option<String>,
    paging: Paging,
    part: Option<Part>,
) -> Response {
    let mut guard = InFlight::enter(&inner);
    let signer = {
        let mut s = inner.lock().unwrap();
        s.count(operation);
        let signer = s.caller(&headers);
        match &signer {
            Ok(caller) => {
                guard.reading(&mut s, &caller.account);
                *s.counts
                    .by_account
                    .entry(caller.account.clone())
                    .or_default() += 1;
                let target = (caller.account.clone(), caller.region.clone());
                *s.counts.by_target.entry(target).or_default() += 1;
            }
            Err(_) => s.counts.denied += 1,
        }
        signer.map(|caller| {
            let allowed = s.take_token(&caller.account, &caller.region);
            (caller, allowed)
        })
    };
    hold(&inner).await;
    let caller = match signer {
        Ok((caller, true)) => caller,
        Ok((_, false)) => {
            return fault::error(429, Some("TooManyRequestsException"), "Too Many Requests");
        }
        Err(refused) => return refused.rest_json(),
    };
    let s = inner.lock().unwrap();
    let apis: &[FakeApi] = s
        .org
        .account(&caller.account)
        .and_then(|a| a.apis.get(&caller.region))
        .map_or(&[], Vec::as_slice);
    let Some(api_id) = api_id else {
        let items = apis.iter().map(fault::api_json).collect();
        return fault::page(items, &paging, s.api_page_cap, None);
    };
    let Some(api) = apis.iter().find(|a| a.id == api_id) else {
        return fault::not_found();
    };
    match part {
        None => fault::ok(fault::api_json(api)),
        Some(part) => fault::page(part(api).clone(), &paging, s.api_page_cap, None),
    }
}

async fn get_apis(
    State(inner): Shared,
    headers: HeaderMap,
    Query(paging): Query<Paging>,
) -> Response {
    apigw(inner, headers, "GetApis", None, paging, None).await
}

async fn get_api(State(inner): Shared, headers: HeaderMap, Path(api_id): Path<String>) -> Response {
    let paging = Paging {
        max_results: None,
        next_token: None,
    };
    apigw(inner, headers, "GetApi", Some(api_id), paging, None).await
}

async fn listing(
    inner: Arc<Mutex<Inner>>,
    headers: HeaderMap,
    api_id: String,
    paging: Paging,
    (operation, _, part): (&'static str, &'static str, Part),
) -> Response {
    apigw(inner, headers, operation, Some(api_id), paging, Some(part)).await
}

async fn get_routes(
    State(inner): Shared,
    headers: HeaderMap,
    Path(api_id): Path<String>,
    Query(paging): Query<Paging>,
) -> Response {
    listing(inner, headers, api_id, paging, fault::ROUTES).await
}

async fn get_authorizers(
    State(inner): Shared,
    headers: HeaderMap,
    Path(api_id): Path<String>,
    Query(paging): Query<Paging>,
) -> Response {
    listing(inner, headers, api_id, paging, fault::AUTHORIZERS).await
}

async fn get_integrations(
    State(inner): Shared,
    headers: HeaderMap,
    Path(api_id): Path<String>,
    Query(paging): Query<Paging>,
) -> Response {
    listing(inner, headers, api_id, paging, fault::INTEGRATIONS).await
}

async fn get_stages(
    State(inner): Shared,
    headers: HeaderMap,
    Path(api_id): Path<String>,
    Query(paging): Query<Paging>,
) -> Response {
    listing(inner, headers, api_id, paging, fault::STAGES).await
}

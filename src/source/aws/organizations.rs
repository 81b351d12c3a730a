//! Whole organizations: an `[[organizations]]` block becomes one target per
//! active account and region, listed through the Organizations API and
//! re-listed every `refresh`.
//!
//! - **Listing** (every call paginated, through the organization's limiter
//!   and routewarden's retries): ListAccounts, or, with `include_ous`, the
//!   OU subtrees; ListParents up to the root; ListOrganizationalUnitsForParent
//!   and ListAccountsForParent down the tree, for each account's OU path;
//!   ListTagsForResource per account where `account_tags` or a rule needs
//!   the tags. Only these (and DescribeOrganization) are in the management
//!   policy (deploy/iam), so ListRoots is never called: the root is found by
//!   climbing from an account or an included OU.
//! - **Credentials**: the member role is assumed with STS per account (with
//!   the external id) through its own limiter and the same retries, and
//!   renewed before it expires. Each account's clients hold that account's
//!   credentials only. A role that cannot be assumed fails that account's
//!   targets, named with the reason; every other account goes on.
//! - **Refresh**: the last good list is kept. A listing that fails keeps the
//!   accounts of the last one (and is retried next cycle); with no list yet,
//!   the organization is one failure and its targets are unread.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_apigatewayv2::config::http::HttpResponse;
use aws_sdk_apigatewayv2::config::{Credentials, SharedCredentialsProvider};
use aws_sdk_apigatewayv2::error::{ProvideErrorMetadata, SdkError};
use futures_util::StreamExt;
use routewarden_core::config::{Config, Organization, Target};
use routewarden_core::inventory::{Account, Origin};
use tokio::time::Instant;

use super::client::{Clients, SESSION_NAME, TargetClient};
use super::limiter::Limiter;
use super::paginate::{self, Bounds};
use super::{AwsSource, Caller, Failure, Page};
use crate::shard::Shard;
use crate::source::{ErrorKind, FetchError, Observer, Operation, Roster};

/// MaxResults of the Organizations list calls: the most AWS accepts.
const ORG_PAGE_SIZE: i32 = 20;
/// Accounts one organization may list: AWS's own limit is 10,000 by default.
const MAX_ACCOUNTS: usize = 100_000;
/// OUs under one parent: AWS allows 2,000 per organization.
const MAX_OUS: usize = 10_000;
/// How deep OUs nest: AWS allows five levels under the root.
const MAX_DEPTH: usize = 10;
/// Member credentials are renewed when they expire within this: a target's
/// reads fit in the rest of the hour STS grants.
const RENEW_BEFORE: Duration = Duration::from_secs(20 * 60);
/// AssumeRole calls per second: STS's quota is its own, not API Gateway's,
/// and far larger; this keeps a large organization's first cycle (one
/// AssumeRole per account) from bursting into it, and a throttled STS is
/// backed off from like any other service.
const STS_RATE: f64 = 100.0;
const STS_BURST: u32 = 100;

/// One organization of the config, with what it learnt.
pub(super) struct Org {
    config: Organization,
    /// The region its STS client uses (the Organizations client uses its
    /// partition's Organizations region).
    region: String,
    /// Where findings of its targets point.
    origin: Origin,
    /// The Organizations API's budget (a small quota, shared by the whole
    /// organization).
    limiter: Arc<Limiter>,
    sts_limiter: Arc<Limiter>,
    state: tokio::sync::Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The last good list.
    listed: Option<Listed>,
    /// The Organizations client, with the management role's credentials
    /// (renewed like members') or the default chain's.
    management: Option<(Option<SystemTime>, aws_sdk_organizations::Client)>,
    members: HashMap<Arc<str>, Member>,
}

struct Listed {
    at: Instant,
    /// Unix time of the listing.
    unix: f64,
    accounts: Vec<Arc<Account>>,
}

/// A member account's credentials and the targets built on them.
struct Member {
    account: Arc<Account>,
    credentials: SharedCredentialsProvider,
    expires: Option<SystemTime>,
    targets: Vec<Arc<TargetClient>>,
}

/// What an organization adds to one cycle.
pub(super) struct OrgCycle {
    pub(super) roster: Option<Roster>,
    pub(super) targets: Vec<Arc<TargetClient>>,
    pub(super) errors: Vec<FetchError>,
}

/// An account of a listing, before filters.
struct Listing {
    id: String,
    name: Option<String>,
    active: bool,
}

impl Org {
    pub(super) fn new(config: &Config, org: &Organization, clients: &Clients) -> Org {
        let region = config
            .aws
            .region
            .clone()
            .unwrap_or_else(|| org.regions[0].clone());
        let key = format!("organizations:{}", org.name);
        Org {
            limiter: clients.limiter(&key, &region),
            sts_limiter: Arc::new(Limiter::new(
                format!("sts:{}", org.name),
                STS_RATE,
                STS_BURST,
                config.aws.max_backoff,
            )),
            origin: super::client::origin(config, org.line),
            region,
            config: org.clone(),
            state: tokio::sync::Mutex::new(State::default()),
        }
    }

    pub(super) fn name(&self) -> &str {
        &self.config.name
    }

    /// This cycle's accounts and targets (those `shard` owns): the list is
    /// re-read when older than `refresh`; member credentials are assumed
    /// or renewed as needed.
    pub(super) async fn cycle(
        &self,
        source: &AwsSource,
        shard: Shard,
        observer: &dyn Observer,
    ) -> OrgCycle {
        let mut state = self.state.lock().await;
        let stale = state
            .listed
            .as_ref()
            .is_none_or(|l| l.at.elapsed() >= self.config.refresh);
        if stale {
            match self.list(source, &mut state, observer).await {
                Ok(accounts) => {
                    let unix = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map_or(0.0, |d| d.as_secs_f64());
                    tracing::info!(organization = %self.config.name, accounts = accounts.len(), "organization listed");
                    state.listed = Some(Listed {
                        at: Instant::now(),
                        unix,
                        accounts,
                    });
                }
                Err((operation, failure)) => {
                    let error = FetchError {
                        target_name: None,
                        region: None,
                        api_id: None,
                        account_id: None,
                        organization: Some(self.config.name.as_str().into()),
                        operation,
                        kind: failure.kind,
                        message: failure.message,
                    };
                    if state.listed.is_none() {
                        // Nothing known: every target of the organization is unread.
                        return OrgCycle {
                            roster: None,
                            targets: Vec::new(),
                            errors: vec![error],
                        };
                    }
                    tracing::warn!(
                        organization = %self.config.name, operation = operation.label(),
                        kind = error.kind.label(), error = %error.message,
                        "the organization could not be listed again; auditing the accounts of the last listing"
                    );
                }
            }
        }
        let listed = state.listed.as_ref().expect("listed or returned");
        let (unix, listed_accounts) = (listed.unix, listed.accounts.clone());
        let total = listed_accounts.len();
        // Accounts that left have nothing kept: no credentials, no clients.
        let present: HashSet<&str> = listed_accounts.iter().map(|a| &*a.id).collect();
        state.members.retain(|id, _| present.contains(&**id));

        // This shard's part: the accounts with at least one region it owns.
        let mine: Vec<(Arc<Account>, Vec<String>)> = listed_accounts
            .into_iter()
            .filter_map(|account| {
                let regions: Vec<String> = self
                    .config
                    .regions
                    .iter()
                    .filter(|r| shard.owns(&self.config.target_name(&account.id, r)))
                    .cloned()
                    .collect();
                (!regions.is_empty()).then_some((account, regions))
            })
            .collect();
        let base = source.clients.base(Some(&self.region)).await;
        let sts = aws_sdk_sts::Client::new(&base);
        let prepared: Vec<Result<Member, Vec<FetchError>>> = {
            let members = &state.members;
            let sts = &sts;
            let mine = &mine;
            futures_util::stream::iter(0..mine.len())
                .map(|i| async move {
                    let (account, regions) = &mine[i];
                    self.member(
                        source,
                        sts,
                        members.get(&account.id),
                        account,
                        regions,
                        observer,
                    )
                    .await
                })
                .buffered(source.concurrency)
                .collect()
                .await
        };
        let mut targets = Vec::new();
        let mut errors = Vec::new();
        for prepared in prepared {
            match prepared {
                Ok(member) => {
                    targets.extend(member.targets.iter().cloned());
                    state.members.insert(member.account.id.clone(), member);
                }
                Err(failed) => errors.extend(failed),
            }
        }
        OrgCycle {
            roster: Some(Roster {
                organization: self.config.name.as_str().into(),
                accounts: mine.into_iter().map(|(account, _)| account).collect(),
                total,
                listed_at: unix,
            }),
            targets,
            errors,
        }
    }

    /// A member account ready for this cycle: its credentials (assumed, or
    /// the last ones while they last) and a target per region. `Err`: the
    /// role could not be assumed; one error per target, naming the reason.
    async fn member(
        &self,
        source: &AwsSource,
        sts: &aws_sdk_sts::Client,
        known: Option<&Member>,
        account: &Arc<Account>,
        regions: &[String],
        observer: &dyn Observer,
    ) -> Result<Member, Vec<FetchError>> {
        let fresh = known.filter(|m| !expiring(m.expires));
        let (credentials, expires) = match fresh {
            Some(m) => (m.credentials.clone(), m.expires),
            None => {
                let role_arn = self.config.member_role_arn(&account.id, &self.region);
                let caller = format!("{}/{}", self.config.name, account.id);
                self.assume(
                    source,
                    sts,
                    &role_arn,
                    self.config.external_id.as_deref(),
                    &caller,
                    observer,
                )
                .await
                .map_err(|failure| {
                    regions
                        .iter()
                        .map(|region| FetchError {
                            target_name: Some(self.config.target_name(&account.id, region).into()),
                            region: Some(region.as_str().into()),
                            api_id: None,
                            account_id: Some(account.id.clone()),
                            organization: Some(self.config.name.as_str().into()),
                            operation: Operation::AssumeRole,
                            kind: failure.kind,
                            message: format!(
                                "the member role {role_arn} could not be assumed: {}",
                                failure.message
                            ),
                        })
                        .collect::<Vec<_>>()
                })?
            }
        };
        // The same credentials and account: the same clients.
        if let Some(m) = fresh
            && m.account == *account
            && m.targets.len() == regions.len()
        {
            return Ok(Member {
                account: account.clone(),
                credentials,
                expires,
                targets: m.targets.clone(),
            });
        }
        let mut targets = Vec::with_capacity(regions.len());
        for region in regions {
            let base = source.clients.base(Some(region)).await;
            let name = self.config.target_name(&account.id, region);
            targets.push(Arc::new(TargetClient {
                target: Target {
                    name: name.clone(),
                    line: self.config.line,
                    region: Some(region.clone()),
                    role_arn: Some(self.config.member_role_arn(&account.id, region)),
                    external_id: self.config.external_id.clone(),
                    api_ids: None,
                    discover: self.config.discover.clone(),
                    iac_names: BTreeMap::new(),
                },
                account: account.id.to_string(),
                context: Some(account.clone()),
                origin: self.origin.clone(),
                name: name.into(),
                region: region.as_str().into(),
                client: source
                    .clients
                    .api_client(&base, region, Some(credentials.clone())),
                limiter: source.clients.limiter(&account.id, region),
            }));
        }
        Ok(Member {
            account: account.clone(),
            credentials,
            expires,
            targets,
        })
    }

    /// AssumeRole through the STS limiter and routewarden's retries.
    async fn assume(
        &self,
        source: &AwsSource,
        sts: &aws_sdk_sts::Client,
        role_arn: &str,
        external_id: Option<&str>,
        caller: &str,
        observer: &dyn Observer,
    ) -> Result<(SharedCredentialsProvider, Option<SystemTime>), Failure> {
        let who = Caller {
            name: caller,
            limiter: &self.sts_limiter,
        };
        let out = source
            .call(who, Operation::AssumeRole, observer, || {
                sts.assume_role()
                    .role_arn(role_arn)
                    .role_session_name(SESSION_NAME)
                    .set_external_id(external_id.map(str::to_owned))
                    .send()
            })
            .await?;
        let Some(c) = out.credentials else {
            return Err(Failure {
                kind: ErrorKind::MalformedResponse,
                message: "AssumeRole returned no credentials".into(),
            });
        };
        let expires = SystemTime::try_from(c.expiration).ok();
        let credentials = Credentials::new(
            c.access_key_id,
            c.secret_access_key,
            Some(c.session_token),
            expires,
            "routewarden-assume-role",
        );
        Ok((SharedCredentialsProvider::new(credentials), expires))
    }

    /// The Organizations client: with the management role's credentials,
    /// assumed (and renewed) here, or the default chain's.
    async fn management(
        &self,
        source: &AwsSource,
        state: &mut State,
        observer: &dyn Observer,
    ) -> Result<aws_sdk_organizations::Client, (Operation, Failure)> {
        if let Some((expires, client)) = &state.management
            && !expiring(*expires)
        {
            return Ok(client.clone());
        }
        let base = source.clients.base(Some(&self.region)).await;
        let (builder, expires) = match &self.config.management_role_arn {
            Some(role_arn) => {
                let sts = aws_sdk_sts::Client::new(&base);
                let (credentials, expires) = self
                    .assume(source, &sts, role_arn, None, &self.config.name, observer)
                    .await
                    .map_err(|mut failure| {
                        failure.message = format!(
                            "the management role {role_arn} could not be assumed: {}",
                            failure.message
                        );
                        (Operation::AssumeRole, failure)
                    })?;
                (base.to_builder().credentials_provider(credentials), expires)
            }
            // The default chain refreshes its own credentials.
            None => (base.to_builder(), None),
        };
        // Organizations is served from one region per partition.
        let home = organizations_region(&self.region);
        let client = aws_sdk_organizations::Client::new(
            &builder.region(aws_config::Region::new(home)).build(),
        );
        state.management = Some((expires, client.clone()));
        Ok(client)
    }

    /// The accounts to audit: active, under `include_ous`, not excluded, with
    /// `account_tags`; each with its name, OU path and (where needed) tags.
    async fn list(
        &self,
        source: &AwsSource,
        state: &mut State,
        observer: &dyn Observer,
    ) -> Result<Vec<Arc<Account>>, (Operation, Failure)> {
        let client = self.management(source, state, observer).await?;
        let walk = Walk {
            org: self,
            source,
            client: &client,
            observer,
        };
        let config = &self.config;
        // Which accounts, and from which subtrees their OU paths come.
        let (listed, starts) = if config.include_ous.is_empty() {
            let listed = walk.list_accounts().await?;
            let Some(first) = listed.first() else {
                return Ok(Vec::new());
            };
            let chain = walk.climb(&first.id).await?;
            let root = chain.last().cloned().unwrap_or_default();
            (Some(listed), vec![root])
        } else {
            (None, config.include_ous.clone())
        };
        // Names and paths of the starts: climb to the root, then read each
        // ancestor's children for their names.
        let mut paths: HashMap<String, String> = HashMap::new();
        let mut children: HashMap<String, Vec<(String, String)>> = HashMap::new();
        for start in &starts {
            if start.starts_with("r-") {
                paths.insert(start.clone(), "Root".into());
                continue;
            }
            let chain = walk.climb(start).await?;
            // chain: parent, grandparent, ..., root.
            let mut path = "Root".to_owned();
            let mut child_of = chain.last().cloned().unwrap_or_default();
            let descent: Vec<&String> = chain
                .iter()
                .rev()
                .skip(1)
                .chain(std::iter::once(start))
                .collect();
            for node in descent {
                let kids = walk.children(&mut children, &child_of).await?;
                let name = kids
                    .iter()
                    .find(|(id, _)| id == node)
                    .map_or_else(|| node.clone(), |(_, name)| name.clone());
                path = format!("{path}/{name}");
                child_of = node.clone();
            }
            paths.insert(start.clone(), path);
        }
        // Down each start's subtree: every OU's path, every account's OU.
        let mut under: HashMap<String, (String, Listing)> = HashMap::new();
        let mut queue: VecDeque<(String, String, usize)> = starts
            .iter()
            .map(|s| (s.clone(), paths[s].clone(), 0))
            .collect();
        let mut seen = HashSet::new();
        while let Some((node, path, depth)) = queue.pop_front() {
            if !seen.insert(node.clone()) || depth > MAX_DEPTH {
                continue;
            }
            for account in walk.accounts_for_parent(&node).await? {
                under.insert(account.id.clone(), (path.clone(), account));
            }
            for (id, name) in walk.children(&mut children, &node).await? {
                queue.push_back((id, format!("{path}/{name}"), depth + 1));
            }
        }
        let candidates: Vec<(Listing, Option<String>)> = match listed {
            Some(listed) => listed
                .into_iter()
                .map(|a| {
                    let path = under.get(&a.id).map(|(path, _)| path.clone());
                    (a, path)
                })
                .collect(),
            None => {
                let mut accounts: Vec<(Listing, Option<String>)> = under
                    .into_values()
                    .map(|(path, account)| (account, Some(path)))
                    .collect();
                accounts.sort_by(|a, b| a.0.id.cmp(&b.0.id));
                accounts
            }
        };
        let tags_needed = !config.account_tags.is_empty() || source.needs.account_tags;
        let mut accounts = Vec::new();
        for (listing, ou_path) in candidates {
            if !listing.active || config.exclude_accounts.contains(&listing.id) {
                continue;
            }
            let tags = if tags_needed {
                walk.tags(&listing.id).await?
            } else {
                BTreeMap::new()
            };
            let tagged = config
                .account_tags
                .iter()
                .all(|(key, value)| tags.get(key) == Some(value));
            if !tagged {
                continue;
            }
            accounts.push(Arc::new(Account {
                id: listing.id.into(),
                name: listing.name,
                organization: Some(config.name.as_str().into()),
                ou_path,
                tags,
            }));
        }
        Ok(accounts)
    }
}

/// The region of the Organizations endpoint of a region's partition.
fn organizations_region(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "cn-northwest-1"
    } else if region.starts_with("us-gov-") {
        "us-gov-west-1"
    } else {
        "us-east-1"
    }
}

/// Whether credentials that expire then must be renewed now.
fn expiring(expires: Option<SystemTime>) -> bool {
    expires.is_some_and(|at| {
        at.duration_since(SystemTime::now())
            .is_ok_and(|left| left < RENEW_BEFORE)
            || at <= SystemTime::now()
    })
}

/// The Organizations calls of one listing.
struct Walk<'a> {
    org: &'a Org,
    source: &'a AwsSource,
    client: &'a aws_sdk_organizations::Client,
    observer: &'a dyn Observer,
}

type Step<T> = Result<T, (Operation, Failure)>;

impl Walk<'_> {
    fn caller(&self) -> Caller<'_> {
        Caller {
            name: &self.org.config.name,
            limiter: &self.org.limiter,
        }
    }

    fn bounds(noun: &'static str, items: usize) -> Bounds {
        Bounds {
            items,
            noun,
            setting: "an organization's limit",
            page_size: ORG_PAGE_SIZE as u32,
        }
    }

    /// Every page of one Organizations listing, through the organization's
    /// limiter and routewarden's retries: `send(token)` sends a page's
    /// request, `split` takes its items and next token.
    async fn pages<T, O, E, F, Fut>(
        &self,
        operation: Operation,
        (noun, items): (&'static str, usize),
        send: F,
        split: fn(O) -> Page<T>,
    ) -> Result<Vec<T>, Failure>
    where
        F: Fn(Option<String>) -> Fut,
        Fut: Future<Output = Result<O, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let send = &send;
        paginate::all(Self::bounds(noun, items), |token| async move {
            let page = self
                .source
                .call(self.caller(), operation, self.observer, || {
                    send(token.clone())
                })
                .await?;
            let (items, next) = split(page);
            Ok((items.unwrap_or_default(), next))
        })
        .await
    }

    /// ListAccounts, every page.
    async fn list_accounts(&self) -> Step<Vec<Listing>> {
        let operation = Operation::ListAccounts;
        let accounts = self
            .pages(
                operation,
                ("accounts", MAX_ACCOUNTS),
                |token| {
                    let list = self.client.list_accounts().max_results(ORG_PAGE_SIZE);
                    list.set_next_token(token).send()
                },
                |page| (page.accounts, page.next_token),
            )
            .await
            .map_err(|f| (operation, f))?;
        listings(accounts, operation)
    }

    /// ListAccountsForParent, every page.
    async fn accounts_for_parent(&self, parent: &str) -> Step<Vec<Listing>> {
        let operation = Operation::ListAccountsForParent;
        let accounts = self
            .pages(
                operation,
                ("accounts", MAX_ACCOUNTS),
                |token| {
                    let list = self.client.list_accounts_for_parent().parent_id(parent);
                    list.max_results(ORG_PAGE_SIZE).set_next_token(token).send()
                },
                |page| (page.accounts, page.next_token),
            )
            .await
            .map_err(|f| (operation, self.not_in_organization(f, parent)))?;
        listings(accounts, operation)
    }

    /// The child OUs of a parent (id, name), read once per listing.
    async fn children(
        &self,
        known: &mut HashMap<String, Vec<(String, String)>>,
        parent: &str,
    ) -> Step<Vec<(String, String)>> {
        if let Some(kids) = known.get(parent) {
            return Ok(kids.clone());
        }
        let operation = Operation::ListOrganizationalUnitsForParent;
        let ous = self
            .pages(
                operation,
                ("OUs", MAX_OUS),
                |token| {
                    let list = self.client.list_organizational_units_for_parent();
                    let list = list.parent_id(parent).max_results(ORG_PAGE_SIZE);
                    list.set_next_token(token).send()
                },
                |page| (page.organizational_units, page.next_token),
            )
            .await
            .map_err(|f| (operation, self.not_in_organization(f, parent)))?;
        let kids: Vec<(String, String)> = ous
            .into_iter()
            .filter_map(|ou| {
                let id = ou.id?;
                let name = ou.name.unwrap_or_else(|| id.clone());
                Some((id, name))
            })
            .collect();
        known.insert(parent.to_owned(), kids.clone());
        Ok(kids)
    }

    /// The ancestors of an account or OU, nearest first, up to the root.
    async fn climb(&self, child: &str) -> Step<Vec<String>> {
        let operation = Operation::ListParents;
        let mut chain: Vec<String> = Vec::new();
        let mut current = child.to_owned();
        for _ in 0..=MAX_DEPTH {
            let parents = self
                .pages(
                    operation,
                    ("parents", 10),
                    |token| {
                        let list = self.client.list_parents().child_id(&current);
                        list.set_next_token(token).send()
                    },
                    |page| (page.parents, page.next_token),
                )
                .await
                .map_err(|f| (operation, self.not_in_organization(f, &current)))?;
            let Some(parent) = parents.into_iter().next() else {
                return Err((
                    operation,
                    Failure {
                        kind: ErrorKind::MalformedResponse,
                        message: format!("ListParents returned no parent of `{current}`"),
                    },
                ));
            };
            let id = parent.id.unwrap_or_default();
            let root = parent
                .r#type
                .is_some_and(|t| t == aws_sdk_organizations::types::ParentType::Root)
                || id.starts_with("r-");
            chain.push(id.clone());
            if root {
                return Ok(chain);
            }
            current = id;
        }
        Err((
            operation,
            Failure {
                kind: ErrorKind::MalformedResponse,
                message: format!("`{child}` is more than {MAX_DEPTH} levels under the root"),
            },
        ))
    }

    /// An account's tags.
    async fn tags(&self, account: &str) -> Step<BTreeMap<String, String>> {
        let operation = Operation::ListTagsForResource;
        let tags = self
            .pages(
                operation,
                ("tags", 1_000),
                |token| {
                    let list = self.client.list_tags_for_resource().resource_id(account);
                    list.set_next_token(token).send()
                },
                |page| (page.tags, page.next_token),
            )
            .await
            .map_err(|f| (operation, f))?;
        Ok(tags.into_iter().map(|t| (t.key, t.value)).collect())
    }

    /// A parent or child that is not in the organization: a config that
    /// names an OU of another organization, or one since deleted.
    fn not_in_organization(&self, mut failure: Failure, id: &str) -> Failure {
        if failure.kind == ErrorKind::NotFound {
            failure.message = format!(
                "`{id}` is not in organization `{}` (include_ous?): {}",
                self.org.config.name, failure.message
            );
        }
        failure
    }
}

/// Accounts as listed: an account without an id is a malformed response.
fn listings(
    accounts: Vec<aws_sdk_organizations::types::Account>,
    operation: Operation,
) -> Step<Vec<Listing>> {
    use aws_sdk_organizations::types::{AccountState, AccountStatus};
    accounts
        .into_iter()
        .map(|a| {
            let Some(id) = a.id else {
                return Err((
                    operation,
                    Failure {
                        kind: ErrorKind::MalformedResponse,
                        message: format!("{} returned an account without an Id", operation.label()),
                    },
                ));
            };
            // `State` supersedes `Status` where AWS sends it.
            let active = match (a.state, a.status) {
                (Some(state), _) => state == AccountState::Active,
                (None, Some(status)) => status == AccountStatus::Active,
                (None, None) => false,
            };
            Ok(Listing {
                id,
                name: a.name,
                active,
            })
        })
        .collect()
}

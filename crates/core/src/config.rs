//! The config file: its model, defaults (named constants), loading and
//! validation. Every key has a default, so an empty file is a valid config.
//! Unknown keys and bad values are reported together with file:line:column.
//! Relative paths in the file are relative to the file's directory. This
//! module does not load policies or build AWS clients; it only says what to do.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::diag::LoadError;
use crate::diag::{self, Cursor, Diagnostics};
use crate::finding::Severity;
use crate::policy::PolicySource;

/// `[server] listen`: where /metrics, /healthz and /readyz are served.
const DEFAULT_LISTEN: &str = "0.0.0.0:9464";
/// `[audit] interval`: time between the starts of two audit cycles.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// `[audit] jitter`: the most random delay added to a cycle's start.
const DEFAULT_JITTER: Duration = Duration::from_secs(10);
/// `[audit] concurrency`: APIs audited at once, across all targets.
const DEFAULT_CONCURRENCY: usize = 4;
/// `[audit] max_violation_series`: cap on per-route violation series.
const DEFAULT_MAX_VIOLATION_SERIES: usize = 10_000;
/// `[drift] severity`.
const DEFAULT_DRIFT_SEVERITY: Severity = Severity::Medium;
/// `[aws] requests_per_second`: client-side budget per account and region.
const DEFAULT_REQUESTS_PER_SECOND: f64 = 5.0;
/// `[aws] burst`.
const DEFAULT_BURST: u32 = 10;
/// `[aws] page_size`: MaxResults sent to GetRoutes and GetApis.
const DEFAULT_PAGE_SIZE: u32 = 100;
/// `[aws] timeout`: per request.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// `[aws] max_backoff`: ceiling for backoff after TooManyRequests.
const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(60);
/// `[aws] max_response_bytes`: the largest response body read from AWS.
const DEFAULT_MAX_RESPONSE_BYTES: usize = 4 << 20;
/// `[aws] max_routes_per_api`: routes read from one API before it is given up.
const DEFAULT_MAX_ROUTES_PER_API: usize = 10_000;
/// `[aws] api_time_budget`: the longest one API (or one target's discovery)
/// may take in a cycle.
const DEFAULT_API_TIME_BUDGET: Duration = Duration::from_secs(5 * 60);

/// A loaded, validated config.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from; `None` for the built-in defaults.
    pub path: Option<PathBuf>,
    pub server: Server,
    pub audit: Audit,
    pub drift: Drift,
    pub aws: Aws,
    pub targets: Vec<Target>,
    /// Whole organizations: each expands into targets at run time.
    pub organizations: Vec<Organization>,
}

impl Config {
    /// Whether there is anything live to audit: targets or organizations.
    pub fn has_targets(&self) -> bool {
        !self.targets.is_empty() || !self.organizations.is_empty()
    }
}

#[derive(Debug, Clone)]
pub struct Server {
    /// Address of the HTTP server.
    pub listen: SocketAddr,
}

#[derive(Debug, Clone)]
pub struct Audit {
    /// Time between the starts of two audit cycles.
    pub interval: Duration,
    /// Random delay added to each cycle start, at most this.
    pub jitter: Duration,
    /// APIs audited at once, across all targets.
    pub concurrency: usize,
    /// Policy files or directories; `builtin` is the built-in pack.
    pub policies: Vec<PolicySource>,
    /// Fleet file to report drift against.
    pub baseline: Option<PathBuf>,
    /// Infrastructure as code to report drift against: live routes no code
    /// defines, routes defined and not live, authorization that differs.
    pub baseline_iac: Vec<PathBuf>,
    /// Cap on per-route violation series in /metrics.
    pub max_violation_series: usize,
    /// Exemptions that expire within this are reported as expiring.
    pub warn_expiring: Duration,
}

#[derive(Debug, Clone)]
pub struct Drift {
    /// Severity of drift findings.
    pub severity: Severity,
}

/// Defaults for every target.
#[derive(Debug, Clone)]
pub struct Aws {
    /// Region; `None`: from the AWS environment.
    pub region: Option<String>,
    /// Endpoint override (an emulator).
    pub endpoint_url: Option<String>,
    /// Client-side budget, shared by all targets of one account and region.
    pub requests_per_second: f64,
    /// Requests that may be made at once before the rate applies.
    pub burst: u32,
    /// MaxResults sent to GetRoutes and GetApis.
    pub page_size: u32,
    /// Per request.
    pub timeout: Duration,
    /// Ceiling for backoff after TooManyRequests.
    pub max_backoff: Duration,
    /// The largest response body read from AWS; a larger one is a
    /// `malformed_response` for that API.
    pub max_response_bytes: usize,
    /// Routes read from one API before it is given up as incomplete (pages
    /// are bounded with it: this over `page_size`, plus two).
    pub max_routes_per_api: usize,
    /// The longest reading one API (or one target's discovery) may take in a
    /// cycle, retries and throttling included.
    pub api_time_budget: Duration,
}

/// An account and region to audit.
#[derive(Debug, Clone)]
pub struct Target {
    /// Unique; labels metrics and findings.
    pub name: String,
    /// The line of its `[[targets]]` entry in the config file (1-based),
    /// where reports point findings of live audits.
    pub line: u32,
    /// Overrides `[aws] region`.
    pub region: Option<String>,
    /// Role to assume through STS.
    pub role_arn: Option<String>,
    /// External id for the assumed role.
    pub external_id: Option<String>,
    /// Explicit APIs; `None`: discover.
    pub api_ids: Option<Vec<String>>,
    /// Filters for discovery; an empty filter audits every API of the region.
    pub discover: Discover,
    /// Live API name → the name its code gives it, for drift against code
    /// (`baseline_iac`) where the two differ.
    pub iac_names: BTreeMap<String, String>,
}

/// A whole AWS Organization (`[[organizations]]`): one target per active
/// account and region, named `<name>/<account id>/<region>`, listed at run
/// time and re-listed every `refresh`.
#[derive(Debug, Clone)]
pub struct Organization {
    /// Unique; prefixes the generated targets.
    pub name: String,
    /// The line of its `[[organizations]]` entry, where reports point.
    pub line: u32,
    /// A role that may call `organizations:List*`; else the default credentials.
    pub management_role_arn: Option<String>,
    /// The read-only role assumed in each member account (a name, not an ARN).
    pub member_role_name: String,
    /// Sent when assuming member roles.
    pub external_id: Option<String>,
    pub regions: Vec<String>,
    /// Only accounts under these OUs (or roots), recursively; empty: all.
    pub include_ous: Vec<String>,
    pub exclude_accounts: Vec<String>,
    /// Only accounts with every one of these tags.
    pub account_tags: BTreeMap<String, String>,
    /// Applied to the APIs of every generated target.
    pub discover: Discover,
    /// How often the account list is re-read.
    pub refresh: Duration,
}

impl Organization {
    /// The name of the target it generates for an account and region.
    pub fn target_name(&self, account_id: &str, region: &str) -> String {
        format!("{}/{account_id}/{region}", self.name)
    }

    /// The ARN of the member role in an account. The partition follows the
    /// region (China and GovCloud regions have their own).
    pub fn member_role_arn(&self, account_id: &str, region: &str) -> String {
        let partition = if region.starts_with("cn-") {
            "aws-cn"
        } else if region.starts_with("us-gov-") {
            "aws-us-gov"
        } else {
            "aws"
        };
        format!(
            "arn:{partition}:iam::{account_id}:role/{}",
            self.member_role_name
        )
    }
}

/// Which discovered APIs to audit; every filter given must hold.
#[derive(Debug, Clone, Default)]
pub struct Discover {
    pub name_matches: Option<Regex>,
    pub protocol_type: Option<String>,
    pub tags: BTreeMap<String, String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            path: None,
            server: Server {
                listen: DEFAULT_LISTEN.parse().expect("valid default"),
            },
            audit: Audit {
                interval: DEFAULT_INTERVAL,
                jitter: DEFAULT_JITTER,
                concurrency: DEFAULT_CONCURRENCY,
                policies: vec![PolicySource::Builtin],
                baseline: None,
                baseline_iac: Vec::new(),
                max_violation_series: DEFAULT_MAX_VIOLATION_SERIES,
                warn_expiring: DEFAULT_WARN_EXPIRING,
            },
            drift: Drift {
                severity: DEFAULT_DRIFT_SEVERITY,
            },
            aws: Aws {
                region: None,
                endpoint_url: None,
                requests_per_second: DEFAULT_REQUESTS_PER_SECOND,
                burst: DEFAULT_BURST,
                page_size: DEFAULT_PAGE_SIZE,
                timeout: DEFAULT_TIMEOUT,
                max_backoff: DEFAULT_MAX_BACKOFF,
                max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
                max_routes_per_api: DEFAULT_MAX_ROUTES_PER_API,
                api_time_budget: DEFAULT_API_TIME_BUDGET,
            },
            targets: Vec::new(),
            organizations: Vec::new(),
        }
    }
}

const TOP_KEYS: &[&str] = &[
    "server",
    "audit",
    "drift",
    "aws",
    "targets",
    "organizations",
];
const SERVER_KEYS: &[&str] = &["listen"];
const AUDIT_KEYS: &[&str] = &[
    "interval",
    "jitter",
    "concurrency",
    "policies",
    "baseline",
    "baseline_iac",
    "max_violation_series",
    "warn_expiring",
];
const DRIFT_KEYS: &[&str] = &["severity"];
const AWS_KEYS: &[&str] = &[
    "region",
    "endpoint_url",
    "requests_per_second",
    "burst",
    "page_size",
    "timeout",
    "max_backoff",
    "max_response_bytes",
    "max_routes_per_api",
    "api_time_budget",
];
const TARGET_KEYS: &[&str] = &[
    "name",
    "region",
    "role_arn",
    "external_id",
    "api_ids",
    "discover",
    "iac_names",
];
const DISCOVER_KEYS: &[&str] = &["name_matches", "protocol_type", "tags"];
const ORGANIZATION_KEYS: &[&str] = &[
    "name",
    "management_role_arn",
    "member_role_name",
    "external_id",
    "regions",
    "include_ous",
    "exclude_accounts",
    "account_tags",
    "discover",
    "refresh",
];
/// `[audit] warn_expiring`: exemptions expiring within it are reported.
pub const DEFAULT_WARN_EXPIRING: Duration = Duration::from_secs(14 * 86_400);
/// `warn_expiring`: 0 (never warn ahead) to a year.
const WARN_EXPIRING: Span = Span {
    min: Duration::ZERO,
    max: Duration::from_secs(366 * 86_400),
};
/// `refresh` of an organization's account list.
const DEFAULT_REFRESH: Duration = Duration::from_secs(3600);

impl Config {
    /// Loads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, LoadError> {
        let mut diags = Diagnostics::new();
        let Some(file) = diag::read_file(&mut diags, path) else {
            return Err(LoadError(diags));
        };
        let mut config = Self::compile(diags, file, path.parent().unwrap_or(Path::new("")))?;
        config.path = Some(path.to_path_buf());
        Ok(config)
    }

    /// Loads config text that is not in a file (tests, fuzzing); relative
    /// paths are relative to the working directory.
    pub fn load_str(name: &str, text: &str) -> Result<Config, LoadError> {
        let mut diags = Diagnostics::new();
        let file = diags.add_file(name, text);
        Self::compile(diags, file, Path::new(""))
    }

    fn compile(
        mut diags: Diagnostics,
        file: diag::FileId,
        base: &Path,
    ) -> Result<Config, LoadError> {
        let text = diags.source(file).to_owned();
        let config = diag::parse_toml(&mut diags, file, &text).map(|doc| {
            let mut cur = Cursor {
                diags: &mut diags,
                file,
                context: None,
            };
            read(&mut cur, &doc, base)
        });
        if !diags.is_empty() {
            return Err(LoadError(diags));
        }
        Ok(config.expect("no problems, so a config"))
    }
}

/// Reads every section; a bad value leaves its default and records a problem.
fn read(cur: &mut Cursor<'_>, doc: &Spanned<DeTable<'_>>, base: &Path) -> Config {
    let mut config = Config::default();
    let table = doc.get_ref();
    cur.deny_unknown_keys(table, TOP_KEYS, "the config");
    if let Some(server) = section(cur, table, "server", SERVER_KEYS)
        && let Some(v) = server.get("listen")
        && let Some(text) = cur.string(v, "listen")
    {
        match text.parse() {
            Ok(addr) => config.server.listen = addr,
            Err(_) => cur.error(
                v.span(),
                format_args!("invalid listen address `{text}`"),
                "expected HOST:PORT, e.g. 0.0.0.0:9464",
            ),
        }
    }
    if let Some(audit) = section(cur, table, "audit", AUDIT_KEYS) {
        let a = &mut config.audit;
        set(&mut a.interval, duration(cur, audit, "interval", INTERVAL));
        set(&mut a.jitter, duration(cur, audit, "jitter", JITTER));
        if !audit.contains_key("jitter") {
            // The default jitter never delays a cycle past the next one.
            a.jitter = a.jitter.min(a.interval);
        } else if let Some(v) = audit.get("jitter")
            && a.jitter > a.interval
        {
            cur.error(
                v.span(),
                format_args!(
                    "`jitter` must not be longer than `interval` ({})",
                    humantime::format_duration(a.interval)
                ),
                "expected 0 to the interval",
            );
        }
        set(
            &mut a.concurrency,
            count(cur, audit, "concurrency", CONCURRENCY),
        );
        set(
            &mut a.max_violation_series,
            count(cur, audit, "max_violation_series", MAX_VIOLATION_SERIES),
        );
        set(
            &mut a.warn_expiring,
            duration(cur, audit, "warn_expiring", WARN_EXPIRING),
        );
        if let Some(v) = audit.get("policies")
            && let Some(list) = cur.strings(v, "policies")
        {
            a.policies = list.iter().map(|p| PolicySource::parse(p, base)).collect();
        }
        if let Some(v) = audit.get("baseline") {
            a.baseline = cur.string(v, "baseline").map(|p| base.join(p));
        }
        // One path, or a list of them (files or directories).
        if let Some(v) = audit.get("baseline_iac") {
            a.baseline_iac = match v.get_ref() {
                DeValue::String(p) => vec![base.join(&**p)],
                _ => cur
                    .strings(v, "baseline_iac")
                    .into_iter()
                    .flatten()
                    .map(|p| base.join(p))
                    .collect(),
            };
        }
    }
    if let Some(drift) = section(cur, table, "drift", DRIFT_KEYS)
        && let Some(v) = drift.get("severity")
        && let Some(text) = cur.string(v, "severity")
    {
        match Severity::parse(text) {
            Some(s) => config.drift.severity = s,
            None => cur.error(
                v.span(),
                format_args!("unknown severity `{text}`"),
                "expected one of: info, low, medium, high, critical",
            ),
        }
    }
    if let Some(aws) = section(cur, table, "aws", AWS_KEYS) {
        let a = &mut config.aws;
        if let Some(v) = aws.get("region") {
            a.region = region(cur, v);
        }
        if let Some(v) = aws.get("endpoint_url")
            && let Some(url) = cur.string(v, "endpoint_url")
        {
            match endpoint_url(url) {
                Ok(url) => a.endpoint_url = Some(url),
                Err(why) => cur.error(
                    v.span(),
                    format_args!("invalid endpoint_url: {why}"),
                    "expected http(s)://HOST[:PORT][/PATH], e.g. http://127.0.0.1:5000",
                ),
            }
        }
        if let Some(v) = aws.get("requests_per_second") {
            let rate = match v.get_ref() {
                DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok(),
                DeValue::Integer(_) => cur.integer(v, "requests_per_second").map(|n| n as f64),
                other => {
                    cur.type_error(v, "requests_per_second", "a number", other);
                    None
                }
            };
            let (min, max) = REQUESTS_PER_SECOND;
            match rate {
                Some(rate) if (min..=max).contains(&rate) => a.requests_per_second = rate,
                Some(_) => cur.error(
                    v.span(),
                    format_args!("`requests_per_second` must be from {min} to {max}"),
                    "AWS's own quota is about 10 per second per account; e.g. 5.0",
                ),
                None => {}
            }
        }
        set(
            &mut a.burst,
            count(cur, aws, "burst", BURST).and_then(|n| u32::try_from(n).ok()),
        );
        set(
            &mut a.page_size,
            count(cur, aws, "page_size", PAGE_SIZE).and_then(|n| u32::try_from(n).ok()),
        );
        set(&mut a.timeout, duration(cur, aws, "timeout", TIMEOUT));
        set(
            &mut a.max_backoff,
            duration(cur, aws, "max_backoff", MAX_BACKOFF),
        );
        set(
            &mut a.max_response_bytes,
            count(cur, aws, "max_response_bytes", MAX_RESPONSE_BYTES),
        );
        set(
            &mut a.max_routes_per_api,
            count(cur, aws, "max_routes_per_api", MAX_ROUTES_PER_API),
        );
        set(
            &mut a.api_time_budget,
            duration(cur, aws, "api_time_budget", API_TIME_BUDGET),
        );
    }
    if let Some(targets) = table.get("targets")
        && let Some(items) = cur.array(targets, "targets")
    {
        for item in items {
            if let Some(target) = target(cur, item) {
                if let Some(first) = config.targets.iter().find(|t| t.name == target.name) {
                    let name = first.name.clone();
                    let span = item
                        .get_ref()
                        .get("name")
                        .map_or(item.span(), Spanned::span);
                    cur.error(
                        span,
                        format_args!("duplicate target name `{name}`"),
                        "target names must be unique",
                    );
                } else {
                    config.targets.push(target);
                }
            }
            cur.context = None;
        }
    }
    if let Some(organizations) = table.get("organizations")
        && let Some(items) = cur.array(organizations, "organizations")
    {
        for item in items {
            if let Some(org) = organization(cur, item) {
                let span = || {
                    item.get_ref()
                        .get("name")
                        .map_or(item.span(), Spanned::span)
                };
                if config.organizations.iter().any(|o| o.name == org.name) {
                    cur.error(
                        span(),
                        format_args!("duplicate organization name `{}`", org.name),
                        "organization names must be unique",
                    );
                } else if let Some(t) = config
                    .targets
                    .iter()
                    .find(|t| t.name.starts_with(&format!("{}/", org.name)))
                {
                    cur.error(
                        span(),
                        format_args!(
                            "target `{}` is named like a target of organization `{}`",
                            t.name, org.name
                        ),
                        format!(
                            "the organization's targets are named {}/<account id>/<region>: rename one of them",
                            org.name
                        ),
                    );
                } else {
                    config.organizations.push(org);
                }
            }
            cur.context = None;
        }
    }
    config
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *slot = value;
    }
}

/// A `[section]` table, its unknown keys reported.
fn section<'t, 'i>(
    cur: &mut Cursor<'_>,
    table: &'t DeTable<'i>,
    key: &str,
    allowed: &[&str],
) -> Option<&'t DeTable<'i>> {
    let value = table.get(key)?;
    let section = cur.table(value, key)?;
    cur.deny_unknown_keys(section, allowed, &format!("[{key}]"));
    Some(section)
}

/// Checks an AWS endpoint override (config, `--endpoint-url`,
/// `AWS_ENDPOINT_URL`): an http or https URL with a host, and no user name
/// or password (they would be sent nowhere and printed by the SDK's debug
/// logs), query or fragment. Returns it as given.
pub fn endpoint_url(text: &str) -> Result<String, String> {
    let url = url::Url::parse(text).map_err(|err| format!("`{text}` is not a URL ({err})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("`{text}` is not an http:// or https:// URL"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "the URL holds a user name or password: credentials come from the AWS credential chain, never from the endpoint"
                .to_owned(),
        );
    }
    if url.host().is_none() || url.query().is_some() || url.fragment().is_some() {
        return Err(format!("`{text}` must be http(s)://HOST[:PORT][/PATH]"));
    }
    Ok(text.to_owned())
}

/// An inclusive range of an integer setting, and why its bounds are there.
struct Range {
    min: usize,
    max: usize,
    why: &'static str,
}

/// Ranges (config.md, "Ranges"): nothing that loads can panic the process
/// or overflow a clock.
const CONCURRENCY: Range = Range {
    min: 1,
    max: 1024,
    why: "APIs audited at once",
};
const MAX_VIOLATION_SERIES: Range = Range {
    min: 0,
    max: 10_000_000,
    why: "series in /metrics",
};
const BURST: Range = Range {
    min: 1,
    max: 10_000,
    why: "requests sent at once before the rate applies",
};
const PAGE_SIZE: Range = Range {
    min: 1,
    max: 500,
    why: "the MaxResults AWS accepts",
};
const MAX_RESPONSE_BYTES: Range = Range {
    min: 64 << 10,
    max: 256 << 20,
    why: "bytes of one response body",
};
const MAX_ROUTES_PER_API: Range = Range {
    min: 1,
    max: 1_000_000,
    why: "routes read from one API",
};
/// `requests_per_second`. The contract's range is (0, 10000]; below one
/// request in 1000 s no audit finishes within the longest interval (7 days
/// hold 604 requests), and near zero the pacing period overflows a clock.
const REQUESTS_PER_SECOND: (f64, f64) = (0.001, 10_000.0);

/// An inclusive range of a duration setting.
struct Span {
    min: Duration,
    max: Duration,
}

/// `interval`: 10 s to 7 days (1 s with the `test-intervals` feature, for the
/// daemon's end-to-end tests).
const INTERVAL: Span = Span {
    min: Duration::from_secs(if cfg!(feature = "test-intervals") {
        1
    } else {
        10
    }),
    max: Duration::from_secs(7 * 24 * 3600),
};
/// Checked against `interval` once both are read.
const JITTER: Span = Span {
    min: Duration::ZERO,
    max: INTERVAL.max,
};
const TIMEOUT: Span = Span {
    min: Duration::from_millis(100),
    max: Duration::from_secs(600),
};
const API_TIME_BUDGET: Span = Span {
    min: Duration::from_secs(1),
    max: Duration::from_secs(24 * 3600),
};
const MAX_BACKOFF: Span = Span {
    min: Duration::from_secs(1),
    max: Duration::from_secs(3600),
};

fn duration(cur: &mut Cursor<'_>, table: &DeTable<'_>, key: &str, range: Span) -> Option<Duration> {
    let v = table.get(key)?;
    let text = cur.string(v, key)?;
    let shown = |d: Duration| humantime::format_duration(d).to_string();
    match humantime::parse_duration(text) {
        Ok(d) if (range.min..=range.max).contains(&d) => Some(d),
        Ok(_) => {
            cur.error(
                v.span(),
                format_args!(
                    "`{key}` must be from {} to {}",
                    shown(range.min),
                    shown(range.max)
                ),
                format!("expected {} to {}", shown(range.min), shown(range.max)),
            );
            None
        }
        Err(err) => {
            cur.error(
                v.span(),
                format_args!("invalid duration `{text}` for `{key}`: {err}"),
                "expected a duration such as \"30s\", \"5m\", \"1h\"",
            );
            None
        }
    }
}

fn count(cur: &mut Cursor<'_>, table: &DeTable<'_>, key: &str, range: Range) -> Option<usize> {
    let v = table.get(key)?;
    let n = cur.integer(v, key)?;
    match usize::try_from(n) {
        Ok(n) if (range.min..=range.max).contains(&n) => Some(n),
        _ => {
            cur.error(
                v.span(),
                format_args!(
                    "`{key}` must be from {} to {} ({})",
                    range.min, range.max, range.why
                ),
                format!("expected an integer from {} to {}", range.min, range.max),
            );
            None
        }
    }
}

fn region(cur: &mut Cursor<'_>, v: &Spanned<DeValue<'_>>) -> Option<String> {
    let text = cur.string(v, "region")?;
    let valid = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid {
        cur.error(
            v.span(),
            format_args!("invalid region `{text}`"),
            "expected a region name such as eu-west-1",
        );
        return None;
    }
    Some(text.to_owned())
}

/// A role ARN (`role_arn`, `management_role_arn`).
fn role_arn(cur: &mut Cursor<'_>, v: &Spanned<DeValue<'_>>, key: &str) -> Option<String> {
    let arn = cur.string(v, key)?;
    let valid = Regex::new(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$").expect("valid regex");
    if !valid.is_match(arn) {
        cur.error(
            v.span(),
            format_args!("invalid {key} `{arn}`"),
            "expected arn:aws:iam::<12-digit account>:role/<name>",
        );
        return None;
    }
    Some(arn.to_owned())
}

/// An external id as STS takes it: 2 to 1224 of `[\w+=,.@:/-]`.
fn external_id(cur: &mut Cursor<'_>, v: &Spanned<DeValue<'_>>) -> Option<String> {
    let id = cur.string(v, "external_id")?;
    let valid = Regex::new(r"^[A-Za-z0-9_+=,.@:/-]+$").expect("valid regex");
    if !valid.is_match(id) || !(2..=1224).contains(&id.len()) {
        cur.error(
            v.span(),
            "invalid external_id",
            "expected 2 to 1224 letters, digits or +=,.@:/-",
        );
        return None;
    }
    Some(id.to_owned())
}

/// Each string of an array, checked by `valid`; `what` says what was expected.
fn checked_strings(
    cur: &mut Cursor<'_>,
    v: &Spanned<DeValue<'_>>,
    key: &str,
    valid: &Regex,
    what: &str,
) -> Vec<String> {
    let Some(items) = cur.array(v, key) else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    for item in items {
        let Some(text) = cur.string(item, key) else {
            continue;
        };
        if !valid.is_match(text) {
            cur.error(
                item.span(),
                format_args!("invalid value `{text}` in `{key}`"),
                format!("expected {what}"),
            );
        } else if out.iter().any(|o| o == text) {
            cur.error(
                item.span(),
                format_args!("`{text}` is listed twice in `{key}`"),
                "list each value once",
            );
        } else {
            out.push(text.to_owned());
        }
    }
    out
}

/// `refresh`: 5 minutes (1 s with the `test-intervals` feature) to 7 days.
/// The Organizations API's quotas are small and shared by the whole
/// organization: re-listing more often than every few minutes spends them
/// for accounts that join a few times a week.
const REFRESH: Span = Span {
    min: Duration::from_secs(if cfg!(feature = "test-intervals") {
        1
    } else {
        300
    }),
    max: Duration::from_secs(7 * 24 * 3600),
};

fn organization(cur: &mut Cursor<'_>, item: &Spanned<DeValue<'_>>) -> Option<Organization> {
    let table = cur.table(item, "organizations")?;
    let name = cur
        .required(table, "name", item.span(), "an organization")
        .and_then(|v| {
            let name = cur.string(v, "name")?;
            let valid = Regex::new(r"^[A-Za-z0-9_.-]{1,64}$").expect("valid regex");
            if !valid.is_match(name) {
                cur.error(
                    v.span(),
                    format_args!("invalid organization name `{name}`"),
                    "expected 1 to 64 letters, digits, `_`, `.` or `-`: it prefixes target names",
                );
                return None;
            }
            Some(name.to_owned())
        });
    if let Some(name) = &name {
        cur.context = Some(format!("organization `{name}`"));
    }
    cur.deny_unknown_keys(table, ORGANIZATION_KEYS, "an organization");
    let management_role_arn = table
        .get("management_role_arn")
        .and_then(|v| role_arn(cur, v, "management_role_arn"));
    let member_role_name = cur
        .required(table, "member_role_name", item.span(), "an organization")
        .and_then(|v| {
            let role = cur.string(v, "member_role_name")?;
            let valid =
                Regex::new(r"^(?:[A-Za-z0-9_+=,.@-]+/)*[A-Za-z0-9_+=,.@-]{1,64}$").expect("valid regex");
            if role.starts_with("arn:") {
                cur.error(
                    v.span(),
                    format_args!("`member_role_name` is a role name, not an ARN: `{role}`"),
                    "give the name only, e.g. routewarden-read: it is assumed in every member account",
                );
                return None;
            }
            if !valid.is_match(role) {
                cur.error(
                    v.span(),
                    format_args!("invalid member_role_name `{role}`"),
                    "expected an IAM role name (with its path, if any), e.g. routewarden-read",
                );
                return None;
            }
            Some(role.to_owned())
        });
    let external_id = table.get("external_id").and_then(|v| external_id(cur, v));
    let regions = cur
        .required(table, "regions", item.span(), "an organization")
        .and_then(|v| {
            let items = cur.array(v, "regions")?;
            if items.is_empty() {
                cur.error(
                    v.span(),
                    "`regions` must not be empty",
                    "list the regions to audit in every account, e.g. [\"eu-west-1\", \"us-east-1\"]",
                );
                return None;
            }
            let mut regions: Vec<String> = Vec::new();
            for item in items {
                if let Some(r) = region(cur, item) {
                    if regions.contains(&r) {
                        cur.error(
                            item.span(),
                            format_args!("region `{r}` is listed twice"),
                            "list each region once",
                        );
                    } else {
                        regions.push(r);
                    }
                }
            }
            Some(regions)
        });
    let ou = Regex::new(r"^(?:ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}|r-[0-9a-z]{4,32})$")
        .expect("valid regex");
    let include_ous = table.get("include_ous").map_or_else(Vec::new, |v| {
        checked_strings(
            cur,
            v,
            "include_ous",
            &ou,
            "an OU id such as ou-ab12-prod0001 (or a root id such as r-ab12)",
        )
    });
    let account = Regex::new(r"^\d{12}$").expect("valid regex");
    let exclude_accounts = table.get("exclude_accounts").map_or_else(Vec::new, |v| {
        checked_strings(
            cur,
            v,
            "exclude_accounts",
            &account,
            "a 12-digit account id",
        )
    });
    let mut account_tags = BTreeMap::new();
    if let Some(v) = table.get("account_tags")
        && let Some(tags) = cur.table(v, "account_tags")
    {
        for (key, value) in tags {
            if let Some(text) = cur.string(value, &format!("account_tags.{}", key.get_ref())) {
                account_tags.insert(key.get_ref().to_string(), text.to_owned());
            }
        }
    }
    let discover = table
        .get("discover")
        .and_then(|v| discover(cur, v))
        .unwrap_or_default();
    let refresh = duration(cur, table, "refresh", REFRESH).unwrap_or(DEFAULT_REFRESH);
    let line = cur.diags.line(cur.file, item.span().start);
    Some(Organization {
        name: name?,
        line,
        management_role_arn,
        member_role_name: member_role_name?,
        external_id,
        regions: regions?,
        include_ous,
        exclude_accounts,
        account_tags,
        discover,
        refresh,
    })
}

fn target(cur: &mut Cursor<'_>, item: &Spanned<DeValue<'_>>) -> Option<Target> {
    let table = cur.table(item, "targets")?;
    let name = cur
        .required(table, "name", item.span(), "a target")
        .and_then(|v| {
            let name = cur.string(v, "name")?;
            if name.trim().is_empty() {
                cur.error(
                    v.span(),
                    "target `name` must not be empty",
                    "a unique name, e.g. payments-prod",
                );
                return None;
            }
            Some(name.to_owned())
        });
    if let Some(name) = &name {
        cur.context = Some(format!("target `{name}`"));
    }
    cur.deny_unknown_keys(table, TARGET_KEYS, "a target");
    let region = table.get("region").and_then(|v| region(cur, v));
    let role_arn = table
        .get("role_arn")
        .and_then(|v| role_arn(cur, v, "role_arn"));
    let external_id = table.get("external_id").and_then(|v| {
        let id = cur.string(v, "external_id")?;
        if !table.contains_key("role_arn") {
            cur.error(
                v.span(),
                "`external_id` needs `role_arn`",
                "an external id is sent when assuming role_arn",
            );
        }
        Some(id.to_owned())
    });
    let api_ids = table.get("api_ids").and_then(|v| {
        let ids = cur.strings(v, "api_ids")?;
        if table.contains_key("discover") {
            cur.error(
                v.span(),
                "a target takes `api_ids` or `discover`, not both",
                "remove one of them",
            );
        }
        Some(ids.into_iter().map(str::to_owned).collect())
    });
    let discover = table
        .get("discover")
        .and_then(|v| discover(cur, v))
        .unwrap_or_default();
    let mut iac_names = BTreeMap::new();
    if let Some(v) = table.get("iac_names")
        && let Some(names) = cur.table(v, "iac_names")
    {
        for (live, code) in names {
            if let Some(code) = cur.string(code, "iac_names") {
                iac_names.insert(live.get_ref().to_string(), code.to_owned());
            }
        }
    }
    // A `[[targets]]` entry's span is its header.
    let line = cur.diags.line(cur.file, item.span().start);
    Some(Target {
        name: name?,
        line,
        region,
        role_arn,
        external_id,
        api_ids,
        discover,
        iac_names,
    })
}

fn discover(cur: &mut Cursor<'_>, v: &Spanned<DeValue<'_>>) -> Option<Discover> {
    let table = cur.table(v, "discover")?;
    cur.deny_unknown_keys(table, DISCOVER_KEYS, "`discover`");
    let mut discover = Discover::default();
    if let Some(v) = table.get("name_matches")
        && let Some(pattern) = cur.string(v, "name_matches")
    {
        match Regex::new(pattern) {
            Ok(re) => discover.name_matches = Some(re),
            Err(err) => cur.error(
                v.span(),
                format_args!(
                    "invalid regex for `name_matches`: {}",
                    diag::regex_error(&err)
                ),
                "this regex does not compile",
            ),
        }
    }
    if let Some(v) = table.get("protocol_type")
        && let Some(p) = cur.string(v, "protocol_type")
    {
        if p == "HTTP" || p == "WEBSOCKET" {
            discover.protocol_type = Some(p.to_owned());
        } else {
            cur.error(
                v.span(),
                format_args!("unknown protocol_type `{p}`"),
                "expected HTTP or WEBSOCKET",
            );
        }
    }
    if let Some(v) = table.get("tags")
        && let Some(tags) = cur.table(v, "tags")
    {
        for (key, value) in tags.iter() {
            if let Some(text) = cur.string(value, &format!("tags.{}", key.get_ref())) {
                discover
                    .tags
                    .insert(key.get_ref().to_string(), text.to_owned());
            }
        }
    }
    Some(discover)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("routewarden.toml");
        std::fs::write(&path, text).unwrap();
        Config::load(&path).map_err(|e| {
            let d = &e.0;
            d.problems()
                .iter()
                .map(|p| {
                    format!(
                        "{} {}",
                        d.position(p).rsplit('/').next().unwrap(),
                        p.message
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
    }

    #[test]
    fn an_empty_file_is_the_defaults() {
        let config = load("").unwrap();
        assert_eq!(config.server.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(config.audit.interval, DEFAULT_INTERVAL);
        assert_eq!(config.audit.jitter, DEFAULT_JITTER);
        assert_eq!(config.audit.concurrency, 4);
        assert_eq!(config.audit.policies, vec![PolicySource::Builtin]);
        assert_eq!(config.audit.max_violation_series, 10_000);
        assert_eq!(config.drift.severity, Severity::Medium);
        assert_eq!(config.aws.requests_per_second, 5.0);
        assert_eq!(config.aws.burst, 10);
        assert_eq!(config.aws.page_size, 100);
        assert_eq!(config.aws.timeout, Duration::from_secs(10));
        assert_eq!(config.aws.max_backoff, Duration::from_secs(60));
        assert!(config.targets.is_empty());
    }

    #[test]
    fn every_key_is_read() {
        let config = load(
            r#"
[server]
listen = "127.0.0.1:9000"
[audit]
interval = "30s"
jitter = "0s"
concurrency = 8
policies = ["builtin", "org/"]
baseline = "baseline.json"
max_violation_series = 5
[drift]
severity = "high"
[aws]
region = "us-east-1"
endpoint_url = "http://127.0.0.1:5000"
requests_per_second = 2.5
burst = 4
page_size = 500
timeout = "3s"
max_backoff = "1m"
[[targets]]
name = "payments-prod"
region = "eu-west-1"
role_arn = "arn:aws:iam::123456789012:role/routewarden-read"
external_id = "xyz"
api_ids = ["a1b2c3d4e5"]
[[targets]]
name = "all"
discover = { name_matches = "^prod-", protocol_type = "HTTP", tags = { env = "prod" } }
"#,
        )
        .unwrap();
        assert_eq!(config.server.listen.port(), 9000);
        assert_eq!(config.audit.interval, Duration::from_secs(30));
        assert!(config.audit.jitter.is_zero());
        assert_eq!(config.audit.concurrency, 8);
        assert_eq!(config.audit.policies[0], PolicySource::Builtin);
        assert!(matches!(&config.audit.policies[1], PolicySource::Path(p) if p.ends_with("org/")));
        assert!(config.audit.baseline.as_ref().unwrap().is_absolute());
        assert_eq!(config.drift.severity, Severity::High);
        assert_eq!(
            config.aws.endpoint_url.as_deref(),
            Some("http://127.0.0.1:5000")
        );
        assert_eq!(config.aws.requests_per_second, 2.5);
        assert_eq!((config.aws.burst, config.aws.page_size), (4, 500));
        assert_eq!(config.aws.max_backoff, Duration::from_secs(60));
        let t = &config.targets[0];
        assert_eq!(t.external_id.as_deref(), Some("xyz"));
        assert_eq!(t.api_ids.as_ref().unwrap()[0], "a1b2c3d4e5");
        let d = &config.targets[1].discover;
        assert!(d.name_matches.as_ref().unwrap().is_match("prod-x"));
        assert_eq!(d.tags["env"], "prod");
    }

    #[test]
    fn every_problem_is_reported_with_its_position() {
        let err = load(
            r#"[audit]
interval = "5 parsecs"
concurrency = 0
colour = "blue"
[aws]
requests_per_second = -1
endpoint_url = "127.0.0.1:5000"
[[targets]]
name = "a"
external_id = "x"
discover = { name_matches = "(", protocol_type = "REST" }
[[targets]]
name = "a"
"#,
        )
        .unwrap_err();
        let expected = [
            "routewarden.toml:2:12 invalid duration",
            "routewarden.toml:3:15 `concurrency` must be from 1 to 1024",
            "routewarden.toml:4:1 unknown key `colour` in [audit]",
            "routewarden.toml:6:23 `requests_per_second` must be from 0.001 to 10000",
            "routewarden.toml:7:16 invalid endpoint_url",
            "routewarden.toml:10:15 `external_id` needs `role_arn` (in target `a`)",
            "routewarden.toml:11:29 invalid regex for `name_matches`: unclosed group",
            "routewarden.toml:11:50 unknown protocol_type `REST`",
            "routewarden.toml:13:8 duplicate target name `a`",
        ];
        for line in expected {
            assert!(err.contains(line), "missing {line:?} in:\n{err}");
        }
        assert_eq!(err.lines().count(), expected.len(), "{err}");
    }

    #[test]
    fn an_organization_block_is_read_whole() {
        let config = load(
            r#"
[[targets]]
name = "payments-prod"
[[organizations]]
name = "acme"
management_role_arn = "arn:aws:iam::111111111111:role/routewarden-org-read"
member_role_name = "routewarden-read"
external_id = "rw-1234"
regions = ["eu-west-1", "us-east-1"]
include_ous = ["ou-ab12-prod0001", "r-ab12"]
exclude_accounts = ["222222222222"]
account_tags = { audit = "yes" }
discover = { tags = { env = "prod" } }
refresh = "2h"
[[organizations]]
name = "lab"
member_role_name = "audit/routewarden-read"
regions = ["eu-central-1"]
"#,
        )
        .unwrap();
        assert!(config.has_targets());
        let acme = &config.organizations[0];
        assert_eq!(acme.line, 4);
        assert_eq!(acme.regions, ["eu-west-1", "us-east-1"]);
        assert_eq!(acme.include_ous, ["ou-ab12-prod0001", "r-ab12"]);
        assert_eq!(acme.exclude_accounts, ["222222222222"]);
        assert_eq!(acme.account_tags["audit"], "yes");
        assert_eq!(acme.discover.tags["env"], "prod");
        assert_eq!(acme.refresh, Duration::from_secs(7200));
        assert_eq!(acme.external_id.as_deref(), Some("rw-1234"));
        assert_eq!(
            acme.target_name("333333333333", "eu-west-1"),
            "acme/333333333333/eu-west-1"
        );
        assert_eq!(
            acme.member_role_arn("333333333333", "eu-west-1"),
            "arn:aws:iam::333333333333:role/routewarden-read"
        );
        let lab = &config.organizations[1];
        assert_eq!(lab.refresh, DEFAULT_REFRESH, "an hour by default");
        assert!(lab.management_role_arn.is_none() && lab.include_ous.is_empty());
        assert_eq!(
            lab.member_role_arn("444444444444", "cn-north-1"),
            "arn:aws-cn:iam::444444444444:role/audit/routewarden-read",
            "paths kept; the partition follows the region"
        );
    }

    #[test]
    fn a_bad_organization_block_is_refused_at_its_positions() {
        let err = load(
            r#"[[targets]]
name = "acme/111111111111/eu-west-1"
[[organizations]]
name = "acme"
member_role_name = "arn:aws:iam::111111111111:role/routewarden-read"
regions = []
include_ous = ["ou-PROD", "o-abcdefghij"]
exclude_accounts = ["1234"]
management_role_arn = "routewarden-org-read"
colour = "blue"
[[organizations]]
member_role_name = "r"
regions = ["eu-west-1", "eu-west-1"]
[[organizations]]
name = "b"
regions = ["Mars-1"]
refresh = "soon"
"#,
        )
        .unwrap_err();
        let expected = [
            "routewarden.toml:5:20 `member_role_name` is a role name, not an ARN",
            "routewarden.toml:6:11 `regions` must not be empty",
            "routewarden.toml:7:16 invalid value `ou-PROD` in `include_ous`",
            "routewarden.toml:7:27 invalid value `o-abcdefghij` in `include_ous`",
            "routewarden.toml:8:21 invalid value `1234` in `exclude_accounts`",
            "routewarden.toml:9:23 invalid management_role_arn `routewarden-org-read`",
            "routewarden.toml:10:1 unknown key `colour` in an organization",
            "routewarden.toml:11:1 missing required key `name` in an organization",
            "routewarden.toml:13:25 region `eu-west-1` is listed twice",
            "routewarden.toml:14:1 missing required key `member_role_name` in an organization",
            "routewarden.toml:16:12 invalid region `Mars-1`",
            "routewarden.toml:17:11 invalid duration `soon` for `refresh`",
        ];
        for line in expected {
            assert!(err.contains(line), "missing {line:?} in:\n{err}");
        }
        assert_eq!(err.lines().count(), expected.len(), "{err}");
        // Generated target names cannot collide with hand-written ones.
        let err = load(
            "[[targets]]\nname = \"acme/111111111111/eu-west-1\"\n[[organizations]]\nname = \"acme\"\nmember_role_name = \"r\"\nregions = [\"eu-west-1\"]\n",
        )
        .unwrap_err();
        assert!(
            err.contains("routewarden.toml:4:8 target `acme/111111111111/eu-west-1` is named like a target of organization `acme`"),
            "{err}"
        );
    }

    /// The floor of `refresh` as users' builds have it; the test command
    /// runs this test without the `test-intervals` feature (tests/run.sh).
    #[test]
    fn floors_refresh_is_five_minutes() {
        let text = |refresh: &str| {
            format!(
                "[[organizations]]\nname = \"acme\"\nmember_role_name = \"r\"\nregions = [\"eu-west-1\"]\nrefresh = \"{refresh}\"\n"
            )
        };
        load(&text("5m")).unwrap();
        let four = load(&text("4m"));
        if cfg!(feature = "test-intervals") {
            four.unwrap();
        } else {
            let err = four.unwrap_err();
            assert!(
                err.contains("routewarden.toml:5:11 `refresh` must be from 5m to 7days"),
                "{err}"
            );
        }
        assert!(
            load(&text("8d"))
                .unwrap_err()
                .contains("`refresh` must be from")
        );
    }

    #[test]
    fn endpoint_urls_carry_no_credentials() {
        for (url, expected) in [
            ("http://user:pass@127.0.0.1:5000", "user name or password"),
            ("http://user@127.0.0.1:5000", "user name or password"),
            ("127.0.0.1:5000", "is not a URL"),
            ("ftp://127.0.0.1:5000", "not an http:// or https:// URL"),
            ("http://127.0.0.1:5000/?x=1", "must be http(s)://HOST"),
        ] {
            let err = load(&format!("[aws]\nendpoint_url = \"{url}\"\n")).unwrap_err();
            assert!(
                err.starts_with("routewarden.toml:2:16 invalid endpoint_url"),
                "{url}: {err}"
            );
            assert!(err.contains(expected), "{url}: {err}");
            assert!(!err.contains("pass@"), "the password is not echoed");
        }
        let ok = load("[aws]\nendpoint_url = \"https://apigateway.example:8443/base\"\n").unwrap();
        assert!(ok.aws.endpoint_url.is_some());
    }

    #[test]
    fn syntax_errors_have_positions() {
        let err = load("[audit\ninterval = 1").unwrap_err();
        assert!(err.starts_with("routewarden.toml:1:"), "{err}");
    }
}

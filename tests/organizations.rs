//! Whole organizations (`[[organizations]]`), end to end through the binary:
//!
//! - against **moto's** Organizations and STS (a real organization with OUs,
//!   tagged accounts and APIs created inside member accounts with their
//!   assumed credentials): discovery, OU paths, `include_ous`,
//!   `exclude_accounts`, `account_tags`, account fields in policies and
//!   reports, and credentials that never serve another account;
//! - against the **fake organization** ([`support::org::OrgServer`]) for what
//!   moto cannot do: a role that cannot be assumed (denied, missing, a wrong
//!   external id), throttled listing, accounts that join, leave or are
//!   suspended between cycles, and shards.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use support::moto_org::moto_organization;
use support::org::{FakeAccount, FakeOrg, OrgServer};
use support::{Daemon, Moto, V1_PACK, check_json, config, every_second, fault, sample};

/// A policy that reads every account field.
const ACCOUNT_RULES: &str = r#"
[[rules]]
id = "ORG.PROD"
title = "Routes of production OUs are authenticated"
severity = "high"
when = { account.ou_path = { glob = "Root/Prod*" }, authorization_type = "NONE" }
require = { account.tags.team = { exists = false } }

[[rules]]
id = "ORG.NAMED"
title = "Every account is known by name"
severity = "low"
subject = "api"
require = { account.name = { exists = true }, account.id = { matches = "^[0-9]{12}$" } }
"#;

fn findings(report: &Value) -> Vec<&Value> {
    report["findings"].as_array().unwrap().iter().collect()
}

/// `(rule, target, account)` of every finding.
fn triples(report: &Value) -> BTreeSet<(String, String, String)> {
    findings(report)
        .iter()
        .map(|f| {
            (
                f["rule_id"].as_str().unwrap().to_owned(),
                f["target_name"].as_str().unwrap().to_owned(),
                f["account_id"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

async fn moto() -> Option<Moto> {
    tokio::task::spawn_blocking(Moto::start).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_moto_organization_is_audited_account_by_account_with_its_context() {
    let Some(moto) = moto().await else { return };
    let org = moto_organization(&moto.url()).await;
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("org.toml");
    std::fs::write(&policy, ACCOUNT_RULES).unwrap();
    let block = r#"
[[organizations]]
name = "acme"
member_role_name = "routewarden-read"
external_id = "rw-external"
regions = ["us-east-1", "eu-west-1"]
"#;
    let mut args = V1_PACK.to_vec();
    args.extend(["-p", policy.to_str().unwrap()]);
    let (code, report, stderr) = check_json(&moto.url(), block, &args).await;
    assert_eq!(code, Some(1), "violations: {stderr}");
    assert_eq!(report["summary"]["errors"], 0, "{report:#}");

    // One target per account and region; each API under the account that
    // created it, with that account's id: credentials never cross accounts.
    let mut apis_seen: BTreeMap<String, String> = BTreeMap::new();
    for f in findings(&report) {
        let target = f["target_name"].as_str().unwrap();
        let account = f["account_id"].as_str().unwrap();
        let region = f["region"].as_str().unwrap();
        assert_eq!(target, format!("acme/{account}/{region}"));
        apis_seen.insert(f["api_name"].as_str().unwrap().to_owned(), account.into());
    }
    // (The management account's one API has no unauthenticated route.)
    for account in org.accounts.iter().filter(|a| a.name != "master") {
        for api in &account.apis {
            assert_eq!(
                apis_seen.get(&api.name),
                Some(&account.id),
                "{} is audited in {} only",
                api.name,
                account.name
            );
        }
    }
    let payments = org.account("payments");
    let web = org.account("web");
    let sandbox = org.account("sandbox");
    let expected: BTreeSet<(String, String, String)> = [
        ("RW001", payments, "us-east-1"),
        ("RW001", payments, "eu-west-1"),
        ("RW001", web, "us-east-1"),
        ("RW001", sandbox, "us-east-1"),
        // Root/Prod and Root/Prod/Payments, whose accounts carry a team tag.
        ("ORG.PROD", payments, "us-east-1"),
        ("ORG.PROD", payments, "eu-west-1"),
        ("ORG.PROD", web, "us-east-1"),
    ]
    .into_iter()
    .map(|(rule, a, region)| (rule.into(), format!("acme/{}/{region}", a.id), a.id.clone()))
    .collect();
    let rw: BTreeSet<_> = triples(&report)
        .into_iter()
        .filter(|(rule, ..)| rule == "RW001" || rule.starts_with("ORG."))
        .collect();
    assert_eq!(rw, expected, "{report:#}");

    // Every account listed, with its name and OU path, and audited.
    let accounts = report["accounts"].as_array().unwrap();
    let listed: BTreeMap<&str, (&str, &str, bool)> = accounts
        .iter()
        .map(|a| {
            (
                a["account_id"].as_str().unwrap(),
                (
                    a["name"].as_str().unwrap(),
                    a["ou_path"].as_str().unwrap(),
                    a["up"].as_bool().unwrap(),
                ),
            )
        })
        .collect();
    for account in &org.accounts {
        assert_eq!(
            listed.get(account.id.as_str()),
            Some(&(account.name.as_str(), account.ou_path.as_str(), true)),
            "{accounts:#?}"
        );
    }
    assert_eq!(listed.len(), org.accounts.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn include_ous_exclude_accounts_and_account_tags_choose_the_accounts() {
    let Some(moto) = moto().await else { return };
    let org = moto_organization(&moto.url()).await;
    let (payments, web) = (&org.account("payments").id, &org.account("web").id);
    let accounts_of = |report: &Value| -> BTreeSet<String> {
        report["accounts"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|a| a["account_id"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    // Under Root/Prod, recursively: payments (Root/Prod/Payments) and web.
    let prod = &org.ous["Root/Prod"];
    let block = format!(
        "[[organizations]]\nname = \"acme\"\nmember_role_name = \"routewarden-read\"\nregions = [\"us-east-1\"]\ninclude_ous = [\"{prod}\"]\n"
    );
    let (_, report, stderr) = check_json(&moto.url(), &block, &V1_PACK).await;
    assert_eq!(
        accounts_of(&report),
        BTreeSet::from([payments.clone(), web.clone()]),
        "{stderr}"
    );
    let paths: BTreeSet<&str> = report["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["ou_path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, BTreeSet::from(["Root/Prod", "Root/Prod/Payments"]));
    // Minus an excluded account.
    let excluded = format!("{block}exclude_accounts = [\"{web}\"]\n");
    let (_, report, _) = check_json(&moto.url(), &excluded, &V1_PACK).await;
    assert_eq!(accounts_of(&report), BTreeSet::from([payments.clone()]));
    // By tags over the whole organization: audit = yes.
    let tagged = "[[organizations]]\nname = \"acme\"\nmember_role_name = \"routewarden-read\"\nregions = [\"us-east-1\"]\naccount_tags = { audit = \"yes\" }\n";
    let (_, report, _) = check_json(&moto.url(), tagged, &V1_PACK).await;
    assert_eq!(
        accounts_of(&report),
        BTreeSet::from([payments.clone(), web.clone()])
    );
    // An OU of no organization: a read error naming it, exit 3; a
    // hand-written target beside it is still audited.
    let missing = "[[targets]]\nname = \"management\"\n[[organizations]]\nname = \"acme\"\nmember_role_name = \"routewarden-read\"\nregions = [\"us-east-1\"]\ninclude_ous = [\"ou-zz99-zzzzzzzz\"]\n";
    let (code, report, _) = check_json(&moto.url(), missing, &V1_PACK).await;
    assert_eq!(code, Some(3), "{report:#}");
    let error = &report["errors"][0];
    assert_eq!(error["organization"], "acme");
    assert!(error["target_name"].is_null());
    assert_eq!(error["kind"], "not_found");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("`ou-zz99-zzzzzzzz` is not in organization `acme`"),
        "{error}"
    );
    assert!(
        report["summary"]["apis"].as_u64().unwrap() >= 1,
        "the management target"
    );
}

/// A fake organization: the management account and `members` accounts
/// (`2000000000NN`), each with one API of 4 routes (one unauthenticated) in
/// us-east-1.
fn fake(members: usize) -> FakeOrg {
    FakeOrg::builder()
        .accounts(members)
        .apis(1)
        .routes(4)
        .build()
}

/// Backoff after throttling capped low, so that ten throttled attempts
/// take seconds.
/// It follows the `[aws]` table that [`config`] opens.
const FAKE_BLOCK: &str = "max_backoff = \"1s\"\n[[organizations]]\nname = \"acme\"\nmember_role_name = \"routewarden-read\"\nregions = [\"us-east-1\"]\n";

/// The ids of the fake organization's accounts, the management account first.
fn account_ids(server: &OrgServer) -> Vec<String> {
    server.org().accounts.iter().map(|a| a.id.clone()).collect()
}

/// The daemon, auditing the fake organization every second with the v1 pack
/// and listing it again every `refresh`; returned once its first cycle ended.
fn org_daemon(server: &OrgServer, dir: &std::path::Path, refresh: &str) -> Daemon {
    let extra = format!("{FAKE_BLOCK}refresh = \"{refresh}\"\n{}", every_second());
    let path = config(dir, &server.url(), &extra);
    let mut args = vec!["-c", path.to_str().unwrap()];
    args.extend(V1_PACK);
    Daemon::start_ready(dir, &args)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_role_that_cannot_be_assumed_stops_only_its_own_account() {
    let mut org = FakeOrg::builder()
        .accounts(6)
        .apis(1)
        .routes(4)
        .external_id("rw-external")
        .build();
    let ids: Vec<String> = org.accounts.iter().map(|a| a.id.clone()).collect();
    // Three ways a member role fails: missing, denied, another external id.
    org.account_mut(&ids[1]).unwrap().has_role = false;
    org.account_mut(&ids[3]).unwrap().external_id = Some("someone-else".into());
    let server = OrgServer::start(org).await;
    server.deny_role(&ids[2]);
    let block = format!("{FAKE_BLOCK}external_id = \"rw-external\"\n");
    let (code, report, stderr) = check_json(&server.url(), &block, &V1_PACK).await;
    assert_eq!(
        code,
        Some(1),
        "violations elsewhere win over the incomplete audit"
    );

    let down: BTreeMap<String, Value> = report["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["up"] == false)
        .map(|a| {
            (
                a["account_id"].as_str().unwrap().to_owned(),
                a["causes"].clone(),
            )
        })
        .collect();
    assert_eq!(
        down.keys().cloned().collect::<BTreeSet<_>>(),
        BTreeSet::from([ids[1].clone(), ids[2].clone(), ids[3].clone()]),
        "{report:#}"
    );
    for causes in down.values() {
        assert_eq!(causes[0]["kind"], "access_denied");
        assert_eq!(causes[0]["operation"], "AssumeRole");
        assert!(
            causes[0]["message"]
                .as_str()
                .unwrap()
                .contains("AccessDenied")
        );
    }
    // One error per target of those accounts, naming the role.
    for id in &ids[1..4] {
        let errors: Vec<&Value> = report["errors"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["account_id"] == id.as_str())
            .collect();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0]["target_name"], format!("acme/{id}/us-east-1"));
        assert!(
            errors[0]["message"]
                .as_str()
                .unwrap()
                .contains(&format!("arn:aws:iam::{id}:role/routewarden-read")),
        );
    }
    // Every other account audited: its unauthenticated route found.
    let audited: BTreeSet<String> = findings(&report)
        .iter()
        .filter(|f| f["rule_id"] == "RW001")
        .map(|f| f["account_id"].as_str().unwrap().to_owned())
        .collect();
    // (The management account, ids[0], holds no API.)
    let expected: BTreeSet<String> = ids
        .iter()
        .enumerate()
        .filter(|(i, _)| *i >= 4)
        .map(|(_, id)| id.clone())
        .collect();
    assert_eq!(audited, expected);
    // One log line per account and cause.
    let lines = stderr.matches("account not audited").count();
    assert_eq!(lines, 3, "{stderr}");
    // Nothing reached API Gateway with another account's credentials.
    let counts = server.counts();
    for id in &ids[1..4] {
        assert_eq!(counts.by_account.get(id), None, "{counts:?}");
    }

    // The same in text: the accounts, their causes, exit 3 once the
    // violations are not failing (a fail-on above critical).
    let dir = tempfile::tempdir().unwrap();
    let path = config(dir.path(), &server.url(), &block);
    let mut args = vec![
        "--check",
        "-c",
        path.to_str().unwrap(),
        "--fail-on",
        "never",
    ];
    args.extend(V1_PACK);
    let output = support::run_async(dir.path(), &args).await;
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(3), "{text}");
    assert!(text.contains("Accounts not audited"), "{text}");
    assert!(text.contains(&format!("acme/{} (", ids[2])), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn throttled_listing_is_retried_and_a_listing_that_never_succeeds_fails_only_its_organization()
 {
    let mut org = fake(3);
    let management = org.management_account.clone();
    let own = fault::api("mgmt", 4);
    org.account_mut(&management)
        .unwrap()
        .apis
        .insert("us-east-1".into(), vec![own]);
    let server = OrgServer::start(org).await;
    // Throttled three times: backed off, retried, the audit complete.
    server.throttle_organizations(Some("ListAccounts"), 3);
    let (code, report, stderr) = check_json(&server.url(), FAKE_BLOCK, &V1_PACK).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(report["summary"]["errors"], 0, "{report:#}");
    assert_eq!(report["accounts"].as_array().unwrap().len(), 4);
    assert!(server.counts().throttled >= 3);

    // Throttled past every retry: the organization is one read error; the
    // hand-written target (the default credentials' account) is audited.
    server.throttle_organizations(None, 1000);
    let block = format!("{FAKE_BLOCK}[[targets]]\nname = \"management\"\n");
    let (code, report, _) = check_json(&server.url(), &block, &V1_PACK).await;
    assert_eq!(code, Some(1), "the management account's violation");
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["organization"], "acme");
    assert_eq!(errors[0]["kind"], "throttled");
    let targets: BTreeSet<&str> = findings(&report)
        .iter()
        .map(|f| f["target_name"].as_str().unwrap())
        .collect();
    assert_eq!(targets, BTreeSet::from(["management"]));
}

fn account_up(metrics: &str, account: &str) -> Option<f64> {
    sample(
        metrics,
        "routewarden_account_up",
        &[("organization", "acme"), ("account_id", account)],
    )
}

fn violations_of(metrics: &str, account: &str) -> usize {
    metrics
        .lines()
        .filter(|l| l.starts_with("routewarden_violation{"))
        .filter(|l| l.contains(&format!("account_id=\"{account}\"")))
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_follows_accounts_that_join_leave_or_are_suspended() {
    let server = OrgServer::start(fake(4)).await;
    // Sessions shorter than the renewal margin: every cycle assumes again,
    // so a role denied later is seen at the next cycle.
    server.set_session_lifetime(std::time::Duration::from_secs(30));
    let ids = account_ids(&server);
    let dir = tempfile::tempdir().unwrap();
    let daemon = org_daemon(&server, dir.path(), "1s");
    let metrics = daemon.metrics();
    for id in &ids {
        assert_eq!(account_up(&metrics, id), Some(1.0), "{id}\n{metrics}");
    }
    assert_eq!(violations_of(&metrics, &ids[1]), 1, "{metrics}");
    assert_eq!(
        sample(
            &metrics,
            "routewarden_organization_accounts",
            &[("organization", "acme")]
        ),
        Some(ids.len() as f64)
    );

    // One leaves, one joins, one is suspended (its role is then refused).
    server.remove_account(&ids[1]);
    let joined = "299999999999";
    let prod = server.org().ou_id("Root/Prod").unwrap();
    server.add_account(
        FakeAccount::new(joined, "joined", &prod).api("us-east-1", fault::api("newapi", 4)),
    );
    server.suspend_account(&ids[2]);
    daemon.wait_for(
        |d| {
            let m = d.metrics();
            account_up(&m, joined) == Some(1.0) && account_up(&m, &ids[1]).is_none()
        },
        "the next listing",
    );
    let metrics = daemon.metrics();
    assert_eq!(
        violations_of(&metrics, &ids[1]),
        0,
        "gone, not kept\n{metrics}"
    );
    assert!(
        sample(&metrics, "routewarden_api_up", &[("account_id", &ids[1])]).is_none(),
        "{metrics}"
    );
    assert_eq!(
        violations_of(&metrics, joined),
        1,
        "audited from the next cycle"
    );
    // A suspended account is listed no more: it is gone too (AWS lists it as
    // SUSPENDED, which is not active).
    assert!(account_up(&metrics, &ids[2]).is_none(), "{metrics}");
    // The others never stopped.
    assert_eq!(account_up(&metrics, &ids[3]), Some(1.0));
    assert_eq!(violations_of(&metrics, &ids[3]), 1);

    // A role denied from now on: the account is down, its violations kept.
    server.deny_role(&ids[3]);
    daemon.wait_for(
        |d| account_up(&d.metrics(), &ids[3]) == Some(0.0),
        "the denied account down",
    );
    let metrics = daemon.metrics();
    support::promtool(&metrics);
    assert_eq!(violations_of(&metrics, &ids[3]), 1, "last known\n{metrics}");
    assert_eq!(
        sample(&metrics, "routewarden_api_up", &[("account_id", &ids[3])]),
        Some(0.0)
    );
    assert!(daemon.log_text().contains("account not audited"));
}

#[tokio::test(flavor = "multi_thread")]
async fn shards_split_the_generated_targets_and_a_new_account_moves_nothing_else() {
    let server = OrgServer::start(fake(12)).await;
    let dir = tempfile::tempdir().unwrap();
    let extra = format!("{FAKE_BLOCK}refresh = \"1s\"\n{}", every_second());
    let path = config(dir.path(), &server.url(), &extra);
    let shard_accounts = |daemon: &Daemon| -> BTreeSet<String> {
        daemon
            .metrics()
            .lines()
            .filter(|l| l.starts_with("routewarden_account_up{"))
            .filter_map(|l| {
                let start = l.find("account_id=\"")? + "account_id=\"".len();
                Some(l[start..start + 12].to_owned())
            })
            .collect()
    };
    let daemons: Vec<Daemon> = (0..2)
        .map(|i| {
            let home = dir.path().join(format!("shard{i}"));
            std::fs::create_dir_all(&home).unwrap();
            let shard = format!("{i}/2");
            let mut args = vec!["-c", path.to_str().unwrap(), "--shard", &shard];
            args.extend(V1_PACK);
            Daemon::start_ready(&home, &args)
        })
        .collect();
    let before: Vec<BTreeSet<String>> = daemons.iter().map(shard_accounts).collect();
    assert!(before[0].is_disjoint(&before[1]), "{before:?}");
    assert_eq!(before[0].len() + before[1].len(), 13);
    assert!(!before[0].is_empty() && !before[1].is_empty(), "{before:?}");

    let joined = "299999999999";
    server.add_account(FakeAccount::new(joined, "joined", &server.org().root_id));
    for d in &daemons {
        let since = d.cycles();
        d.wait_for_cycles(since, 2, "a cycle after the new account");
    }
    let after: Vec<BTreeSet<String>> = daemons.iter().map(shard_accounts).collect();
    let owner = usize::from(after[1].contains(joined));
    assert!(after[owner].contains(joined));
    for i in 0..2 {
        let mut expected = before[i].clone();
        if i == owner {
            expected.insert(joined.into());
        }
        assert_eq!(after[i], expected, "shard {i}: only the new account moved");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_account_suspended_while_listed_is_down_and_the_others_are_not() {
    let server = OrgServer::start(fake(3)).await;
    let ids = account_ids(&server);
    let dir = tempfile::tempdir().unwrap();
    // The list is kept for an hour: the account stays listed after its
    // suspension, and its credentials (assumed before) are refused.
    let daemon = org_daemon(&server, dir.path(), "1h");
    assert_eq!(account_up(&daemon.metrics(), &ids[1]), Some(1.0));
    server.suspend_account(&ids[1]);
    daemon.wait_for(
        |d| account_up(&d.metrics(), &ids[1]) == Some(0.0),
        "the suspended account down",
    );
    let metrics = daemon.metrics();
    assert_eq!(violations_of(&metrics, &ids[1]), 1, "last known\n{metrics}");
    for id in [&ids[0], &ids[2], &ids[3]] {
        assert_eq!(account_up(&metrics, id), Some(1.0), "{id}");
    }
    let log = daemon.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("account not audited") && l.contains(&ids[1]))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        line.contains("access_denied") && line.contains("GetApis"),
        "{line}"
    );
    assert_eq!(server.org().accounts.len(), 4, "listed all along");
}

#[test]
fn a_broken_organization_block_is_exit_2_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("routewarden.toml");
    std::fs::write(
        &path,
        "[[organizations]]\nname = \"acme\"\nmember_role_name = \"arn:aws:iam::111111111111:role/r\"\nregions = [\"eu-west-1\"]\nrefresh = \"1ms\"\ninclude_ous = [\"ou-x\"]\n",
    )
    .unwrap();
    for args in [
        vec!["validate", "-c", path.to_str().unwrap()],
        vec!["--check", "-c", path.to_str().unwrap()],
    ] {
        let output = support::run(dir.path(), &args);
        let stderr = support::stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        for at in [
            "routewarden.toml:3:20",
            "routewarden.toml:5:11",
            "routewarden.toml:6:16",
        ] {
            assert!(stderr.contains(at), "{at} in:\n{stderr}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_daemon_whose_listing_fails_keeps_auditing_the_last_one() {
    let server = OrgServer::start(fake(2)).await;
    let ids = account_ids(&server);
    let dir = tempfile::tempdir().unwrap();
    let daemon = org_daemon(&server, dir.path(), "1s");
    let listed = |m: &str| {
        sample(
            m,
            "routewarden_organization_last_listing_timestamp_seconds",
            &[("organization", "acme")],
        )
        .unwrap()
    };
    let before = listed(&daemon.metrics());
    // Every Organizations call refused from now on (the management role's
    // policy changed): each cycle's listing fails, and the last listing's
    // accounts are audited all the same. (Throttling past the retries is the
    // same failure, slower: see the --check test above.)
    server.fail_organizations(None, "AccessDeniedException", 1_000_000);
    daemon.wait_for(
        |d| d.log_text().contains("could not be listed again"),
        "a failed listing",
    );
    let requests = server.counts().by_account.values().sum::<u64>();
    daemon.wait_for(
        |d| server.counts().by_account.values().sum::<u64>() > requests + 2 && d.cycles() > 0.0,
        "accounts audited after the failed listing",
    );
    let metrics = daemon.metrics();
    for id in &ids {
        assert_eq!(account_up(&metrics, id), Some(1.0), "{id}\n{metrics}");
    }
    assert_eq!(listed(&metrics), before, "the last good listing's time");
    assert_eq!(violations_of(&metrics, &ids[1]), 1);
}

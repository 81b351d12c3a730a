//! The peers of organization audits, checked with the real SDK clients so
//! that a test passing against them means something: the fake organization
//! ([`support::org::OrgServer`]) for Organizations listings (pages, the OU
//! tree, tags, errors), STS AssumeRole and its refusals, ApiGatewayV2 per
//! account and region, per-account quotas and organizations that change; and
//! moto's Organizations and STS ([`support::moto_org`]), whose accounts are
//! kept apart by the credentials that sign each request.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use aws_sdk_organizations::types::{AccountState, AccountStatus, InvalidInputExceptionReason};
use aws_sdk_organizations::types::{ParentType, Tag};
use aws_sdk_sts::config::Credentials;
use aws_sdk_sts::error::ProvideErrorMetadata;
use support::org::{self, FakeAccount, FakeOrg, OrgServer};
use support::{Moto, apigw_client, assume_role, dummy_credentials, organizations_client};

fn org_client(server: &OrgServer) -> aws_sdk_organizations::Client {
    organizations_client(&server.url(), dummy_credentials())
}

/// The API ids `credentials` see in `region`, in one GetApis call.
async fn api_ids(endpoint: &str, region: &str, credentials: Credentials) -> Vec<String> {
    apigw_client(endpoint, region, credentials)
        .get_apis()
        .send()
        .await
        .expect("GetApis")
        .items
        .unwrap_or_default()
        .into_iter()
        .filter_map(|api| api.api_id)
        .collect()
}

/// Every account ListAccounts lists, through the SDK's paginator.
async fn list_accounts(
    client: &aws_sdk_organizations::Client,
) -> Vec<aws_sdk_organizations::types::Account> {
    let pages: Vec<_> = client
        .list_accounts()
        .into_paginator()
        .send()
        .try_collect()
        .await
        .expect("ListAccounts");
    pages
        .into_iter()
        .flat_map(|page| page.accounts.unwrap_or_default())
        .collect()
}

/// AssumeRole must fail as AWS refuses it: 403, `AccessDenied`, naming the
/// action.
async fn assert_denied(endpoint: &str, role_arn: &str, external_id: Option<&str>) {
    let err = assume_role(endpoint, role_arn, external_id)
        .await
        .expect_err("AssumeRole is refused");
    let status = err.raw_response().map(|r| r.status().as_u16());
    assert_eq!(status, Some(403), "{role_arn}");
    let err = err.into_service_error();
    assert_eq!(err.code(), Some("AccessDenied"), "{role_arn}: {err:?}");
    let message = err.message().unwrap_or_default();
    assert!(
        message.contains("is not authorized to perform: sts:AssumeRole")
            && message.contains(role_arn),
        "{message}"
    );
}

#[tokio::test]
async fn list_accounts_pages_like_aws() {
    let fake = FakeOrg::builder().accounts(44).build();
    let server = OrgServer::start(fake.clone()).await;
    let client = org_client(&server);

    let accounts = list_accounts(&client).await;
    let ids: Vec<&str> = accounts.iter().filter_map(|a| a.id()).collect();
    let expected: Vec<&str> = fake.accounts.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, expected, "every account, once, in order");
    assert_eq!(
        org::operation_requests(&server.counts(), "ListAccounts"),
        3,
        "45 accounts in pages of at most 20"
    );

    let first = accounts
        .iter()
        .find(|a| a.id() == Some("200000000000"))
        .unwrap();
    assert_eq!(first.name(), Some("acct-0000"));
    assert_eq!(first.email(), Some("aws+200000000000@example.com"));
    assert_eq!(
        first.arn(),
        Some("arn:aws:organizations::111111111111:account/o-1111111111/200000000000")
    );
    assert_eq!(first.status(), Some(&AccountStatus::Active));
    assert_eq!(first.state(), Some(&AccountState::Active));
    assert_eq!(
        first.joined_timestamp().map(|t| t.secs()),
        Some(1_700_000_000)
    );

    // MaxResults below the cap is honoured; the server's cap bounds it.
    server.reset_counts();
    let pages: Vec<_> = client
        .list_accounts()
        .max_results(10)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(pages.len(), 5);
    server.set_org_page_cap(7);
    assert_eq!(list_accounts(&client).await.len(), 45);
    assert_eq!(
        org::operation_requests(&server.counts(), "ListAccounts"),
        5 + 7
    );

    // AWS's range for MaxResults is 1 to 20; tokens are opaque.
    let err = client
        .list_accounts()
        .max_results(21)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_input_exception(), "{err:?}");
    let aws_sdk_organizations::operation::list_accounts::ListAccountsError::InvalidInputException(
        invalid,
    ) = err
    else {
        unreachable!()
    };
    assert_eq!(
        invalid.reason(),
        Some(&InvalidInputExceptionReason::MaxValueExceeded)
    );
    let err = client
        .list_accounts()
        .next_token("20")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_input_exception(), "{err:?}");
}

#[tokio::test]
async fn ou_tree_parents_children_and_tags() {
    let fake = FakeOrg::builder().accounts(8).build();
    let server = OrgServer::start(fake.clone()).await;
    let client = org_client(&server);
    let payments = fake.ou_id("Root/Prod/Payments").unwrap();
    let prod = fake.ou_id("Root/Prod").unwrap();

    // Up: ListParents from an account to the root.
    let mut chain = Vec::new();
    let mut child = "200000000000".to_owned();
    loop {
        let parents = client
            .list_parents()
            .child_id(&child)
            .send()
            .await
            .unwrap()
            .parents
            .unwrap();
        assert_eq!(parents.len(), 1);
        let parent = &parents[0];
        chain.push((parent.id().unwrap().to_owned(), parent.r#type().cloned()));
        if parent.r#type() == Some(&ParentType::Root) {
            break;
        }
        child = parent.id().unwrap().to_owned();
    }
    assert_eq!(
        chain,
        [
            (payments.clone(), Some(ParentType::OrganizationalUnit)),
            (prod.clone(), Some(ParentType::OrganizationalUnit)),
            (fake.root_id.clone(), Some(ParentType::Root)),
        ]
    );

    // Down: the OU tree with its names, and the accounts in each OU, give
    // every account's path.
    let roots = client.list_roots().send().await.unwrap().roots.unwrap();
    assert_eq!(roots.len(), 1);
    assert_eq!(roots[0].id(), Some(fake.root_id.as_str()));
    let mut paths = BTreeMap::new();
    let mut todo = vec![(fake.root_id.clone(), "Root".to_owned())];
    while let Some((parent, path)) = todo.pop() {
        let accounts = client
            .list_accounts_for_parent()
            .parent_id(&parent)
            .send()
            .await
            .unwrap()
            .accounts
            .unwrap();
        for account in accounts {
            paths.insert(account.id().unwrap().to_owned(), path.clone());
        }
        let ous = client
            .list_organizational_units_for_parent()
            .parent_id(&parent)
            .send()
            .await
            .unwrap()
            .organizational_units
            .unwrap();
        for ou in ous {
            todo.push((
                ou.id().unwrap().to_owned(),
                format!("{path}/{}", ou.name().unwrap()),
            ));
        }
    }
    let expected: BTreeMap<String, String> = fake
        .accounts
        .iter()
        .map(|a| (a.id.clone(), fake.ou_path(&a.id).unwrap()))
        .collect();
    assert_eq!(paths, expected);
    assert_eq!(paths["200000000000"], "Root/Prod/Payments");
    assert_eq!(paths["200000000001"], "Root/Prod");
    assert_eq!(paths["111111111111"], "Root");

    let described = client
        .describe_organizational_unit()
        .organizational_unit_id(&payments)
        .send()
        .await
        .unwrap()
        .organizational_unit
        .unwrap();
    assert_eq!(described.name(), Some("Payments"));

    // Tags, as pairs.
    let tags = client
        .list_tags_for_resource()
        .resource_id("200000000004")
        .send()
        .await
        .unwrap()
        .tags
        .unwrap();
    let tags: BTreeMap<&str, &str> = tags.iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(
        tags,
        BTreeMap::from([("audit", "no"), ("env", "prod"), ("team", "team-1")])
    );
    let none = client
        .list_tags_for_resource()
        .resource_id(&prod)
        .send()
        .await
        .unwrap()
        .tags
        .unwrap();
    assert!(none.is_empty());

    // Unknown ids, as AWS names them.
    let err = client
        .list_parents()
        .child_id("999999999999")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_child_not_found_exception(), "{err:?}");
    let err = client
        .list_accounts_for_parent()
        .parent_id("ou-1111-99999999")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_parent_not_found_exception(), "{err:?}");
    let err = client
        .list_organizational_units_for_parent()
        .parent_id("ou-1111-99999999")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_parent_not_found_exception(), "{err:?}");
    let err = client
        .list_tags_for_resource()
        .resource_id("999999999999")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_target_not_found_exception(), "{err:?}");

    let organization = client
        .describe_organization()
        .send()
        .await
        .unwrap()
        .organization
        .unwrap();
    assert_eq!(organization.master_account_id(), Some("111111111111"));
}

#[tokio::test]
async fn assume_role_issues_credentials_of_the_account() {
    let fake = FakeOrg::builder()
        .accounts(4)
        .external_id("ext-123")
        .build();
    let server = OrgServer::start(fake.clone()).await;
    let url = server.url();
    let before = SystemTime::now();

    let credentials = assume_role(&url, &fake.role_arn("200000000001"), Some("ext-123"))
        .await
        .expect("AssumeRole");
    let key = credentials.access_key_id();
    assert!(key.starts_with("ASIA200000000001"), "{key}");
    assert_eq!(key.len(), 20);
    assert!(credentials.session_token().is_some());
    let lifetime = credentials
        .expiry()
        .unwrap()
        .duration_since(before)
        .unwrap();
    assert!(
        lifetime > Duration::from_secs(3500) && lifetime <= Duration::from_secs(3601),
        "about an hour: {lifetime:?}"
    );
    assert_eq!(server.counts().assumed["200000000001"], 1);

    let identity = support::sts_client(&url, credentials.clone())
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(identity.account(), Some("200000000001"));
    assert_eq!(
        identity.arn(),
        Some("arn:aws:sts::200000000001:assumed-role/routewarden-read/routewarden-test")
    );

    assert_eq!(
        api_ids(&url, "us-east-1", credentials).await,
        ["00001r0k00"],
        "the session reads its own account"
    );
    assert_eq!(server.counts().by_account["200000000001"], 1);
}

#[tokio::test]
async fn assume_role_refusals_are_access_denied() {
    let mut fake = FakeOrg::builder()
        .accounts(6)
        .external_id("ext-123")
        .build();
    fake.account_mut("200000000003").unwrap().external_id = Some("ext-own".to_owned());
    fake.account_mut("200000000004").unwrap().has_role = false;
    let server = OrgServer::start(fake.clone()).await;
    let url = server.url();
    let role = |account: &str| fake.role_arn(account);

    assert_denied(&url, &role("200000000001"), Some("ext-wrong")).await;
    assert_denied(&url, &role("200000000001"), None).await;
    // An account's own external id replaces the organization's.
    assert_denied(&url, &role("200000000003"), Some("ext-123")).await;
    assume_role(&url, &role("200000000003"), Some("ext-own"))
        .await
        .expect("the account's own external id");
    // A role that does not exist; another role name; an account outside.
    assert_denied(&url, &role("200000000004"), Some("ext-123")).await;
    let other = "arn:aws:iam::200000000001:role/admin";
    assert_denied(&url, other, Some("ext-123")).await;
    assert_denied(&url, &role("999999999999"), Some("ext-123")).await;

    // The fault switch, and back.
    server.deny_role("200000000002");
    assert_denied(&url, &role("200000000002"), Some("ext-123")).await;
    server.allow_role("200000000002");
    assume_role(&url, &role("200000000002"), Some("ext-123"))
        .await
        .expect("the role allowed again");

    server.suspend_account("200000000005");
    assert_denied(&url, &role("200000000005"), Some("ext-123")).await;
    assert_eq!(server.counts().denied, 8);
    assert_eq!(server.counts().assumed.values().sum::<u64>(), 2);
}

#[tokio::test]
async fn apis_are_per_account_and_region() {
    let mut fake = FakeOrg::new("111111111111", "routewarden-read");
    let root = fake.root_id.clone();
    fake.add_account(
        FakeAccount::new("222222222222", "a", &root)
            .api("us-east-1", support::fault::api("sameid0001", 2))
            .api("eu-west-1", support::fault::api("euonly0001", 1)),
    );
    fake.add_account(
        FakeAccount::new("333333333333", "b", &root)
            .api("us-east-1", support::fault::api("sameid0001", 5)),
    );
    fake.account_mut("111111111111").unwrap().apis.insert(
        "us-east-1".to_owned(),
        vec![support::fault::api("mgmt000001", 1)],
    );
    let server = OrgServer::start(fake.clone()).await;
    let url = server.url();
    let a = assume_role(&url, &fake.role_arn("222222222222"), None)
        .await
        .unwrap();
    let b = assume_role(&url, &fake.role_arn("333333333333"), None)
        .await
        .unwrap();

    assert_eq!(api_ids(&url, "us-east-1", a.clone()).await, ["sameid0001"]);
    assert_eq!(api_ids(&url, "eu-west-1", a.clone()).await, ["euonly0001"]);
    assert_eq!(api_ids(&url, "us-east-1", b.clone()).await, ["sameid0001"]);
    assert!(api_ids(&url, "eu-west-1", b.clone()).await.is_empty());
    assert_eq!(
        api_ids(&url, "us-east-1", dummy_credentials()).await,
        ["mgmt000001"],
        "a key the server did not issue is the management account's"
    );

    // The same API id, each account's own routes, paginated.
    server.set_api_page_cap(2);
    let routes = |credentials: Credentials| {
        let client = apigw_client(&url, "us-east-1", credentials);
        async move {
            let mut keys = Vec::new();
            let mut token = None;
            loop {
                let page = client
                    .get_routes()
                    .api_id("sameid0001")
                    .set_next_token(token)
                    .send()
                    .await
                    .unwrap();
                keys.extend(
                    page.items
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|r| r.route_key),
                );
                token = page.next_token;
                if token.is_none() {
                    return keys;
                }
            }
        }
    };
    server.reset_counts();
    assert_eq!(routes(a.clone()).await.len(), 2);
    assert_eq!(routes(b.clone()).await.len(), 5);
    let counts = server.counts();
    assert_eq!(org::operation_requests(&counts, "GetRoutes"), 1 + 3);
    assert_eq!(counts.by_account["222222222222"], 1);
    assert_eq!(
        counts.by_target[&("333333333333".to_owned(), "us-east-1".to_owned())],
        3
    );
    let err = apigw_client(&url, "us-east-1", dummy_credentials())
        .get_api()
        .api_id("sameid0001")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_not_found_exception(), "{err:?}");

    // A session's key without its token is no credential at all.
    let forged = Credentials::new(
        a.access_key_id(),
        a.secret_access_key(),
        Some("forged".to_owned()),
        None,
        "forged",
    );
    let err = apigw_client(&url, "us-east-1", forged)
        .get_apis()
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(403));
    assert_eq!(err.code(), Some("UnrecognizedClientException"));

    // Quotas are per account and region: A's bucket empties, B's and A's
    // other region's do not.
    server.set_quota(0.001, 3.0);
    for _ in 0..3 {
        api_ids(&url, "us-east-1", a.clone()).await;
    }
    let err = apigw_client(&url, "us-east-1", a.clone())
        .get_apis()
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(429));
    assert!(
        err.into_service_error().is_too_many_requests_exception(),
        "typed as AWS's throttling"
    );
    api_ids(&url, "us-east-1", b).await;
    api_ids(&url, "eu-west-1", a).await;
    assert_eq!(server.counts().throttled, 1);
}

#[tokio::test]
async fn throttled_organizations_calls_are_too_many_requests() {
    let server = OrgServer::start(FakeOrg::builder().accounts(3).build()).await;
    let client = org_client(&server);

    server.throttle_organizations(Some("ListAccounts"), 1);
    client
        .list_roots()
        .send()
        .await
        .expect("other operations pass");
    let err = client.list_accounts().send().await.unwrap_err();
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(400));
    assert!(
        err.into_service_error().is_too_many_requests_exception(),
        "typed TooManyRequestsException"
    );
    assert_eq!(list_accounts(&client).await.len(), 4, "once only");

    server.throttle_organizations(None, 2);
    let err = client
        .list_parents()
        .child_id("200000000000")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_too_many_requests_exception(), "{err:?}");
    let err = client
        .list_tags_for_resource()
        .resource_id("200000000000")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_too_many_requests_exception(), "{err:?}");
    client.list_roots().send().await.expect("twice only");
    assert_eq!(server.counts().throttled, 3);

    server.fail_organizations(Some("ListAccounts"), "AccessDeniedException", 1);
    let err = client
        .list_accounts()
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_access_denied_exception(), "{err:?}");
}

#[tokio::test]
async fn member_credentials_cannot_call_organizations() {
    let fake = FakeOrg::builder().accounts(2).build();
    let server = OrgServer::start(fake.clone()).await;
    let member = assume_role(&server.url(), &fake.role_arn("200000000000"), None)
        .await
        .unwrap();
    let err = organizations_client(&server.url(), member)
        .list_accounts()
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_access_denied_exception(), "{err:?}");
}

#[tokio::test]
async fn accounts_that_leave_or_are_suspended() {
    let fake = FakeOrg::builder().accounts(5).build();
    let server = OrgServer::start(fake.clone()).await;
    let url = server.url();
    let client = org_client(&server);
    let leaving = assume_role(&url, &fake.role_arn("200000000001"), None)
        .await
        .unwrap();
    let suspended = assume_role(&url, &fake.role_arn("200000000002"), None)
        .await
        .unwrap();

    server.remove_account("200000000001");
    let ids: BTreeSet<String> = list_accounts(&client)
        .await
        .into_iter()
        .filter_map(|a| a.id)
        .collect();
    assert_eq!(ids.len(), 5);
    assert!(!ids.contains("200000000001"));
    let prod = fake.ou_id("Root/Prod").unwrap();
    let in_prod: Vec<String> = client
        .list_accounts_for_parent()
        .parent_id(&prod)
        .send()
        .await
        .unwrap()
        .accounts
        .unwrap()
        .into_iter()
        .filter_map(|a| a.id)
        .collect();
    assert!(in_prod.is_empty(), "{in_prod:?}");
    let err = client
        .list_parents()
        .child_id("200000000001")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_child_not_found_exception(), "{err:?}");
    assert_denied(&url, &fake.role_arn("200000000001"), None).await;
    let err = apigw_client(&url, "us-east-1", leaving)
        .get_apis()
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("UnrecognizedClientException"));

    server.suspend_account("200000000002");
    let listed = list_accounts(&client).await;
    let account = listed
        .iter()
        .find(|a| a.id() == Some("200000000002"))
        .unwrap();
    assert_eq!(account.status(), Some(&AccountStatus::Suspended));
    assert_eq!(account.state(), Some(&AccountState::Suspended));
    assert_denied(&url, &fake.role_arn("200000000002"), None).await;
    let err = apigw_client(&url, "us-east-1", suspended)
        .get_apis()
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(403));
    assert_eq!(err.code(), Some("UnrecognizedClientException"));

    // An account that joins is listed, and its role can be assumed.
    let root = fake.root_id.clone();
    server.add_account(
        FakeAccount::new("444444444444", "joined", &root)
            .api("us-east-1", support::fault::api("joined0001", 1)),
    );
    assert_eq!(list_accounts(&client).await.len(), 6);
    let joined = assume_role(&url, &fake.role_arn("444444444444"), None)
        .await
        .unwrap();
    assert_eq!(api_ids(&url, "us-east-1", joined).await, ["joined0001"]);
}

#[tokio::test]
async fn sessions_expire() {
    let fake = FakeOrg::builder().accounts(1).build();
    let server = OrgServer::start(fake.clone()).await;
    let url = server.url();
    server.set_session_lifetime(Duration::from_secs(2));
    let session = assume_role(&url, &fake.role_arn("200000000000"), None)
        .await
        .unwrap();
    // The same keys without their expiry, so that the SDK signs with them
    // after it and the server is the one to refuse them.
    let session = Credentials::new(
        session.access_key_id(),
        session.secret_access_key(),
        session.session_token().map(str::to_owned),
        None,
        "no-expiry",
    );
    assert_eq!(api_ids(&url, "us-east-1", session.clone()).await.len(), 1);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let err = apigw_client(&url, "us-east-1", session)
        .get_apis()
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(403));
    assert_eq!(err.code(), Some("ExpiredTokenException"));
}

#[tokio::test]
async fn counts_accounts_read_at_once() {
    let fake = FakeOrg::builder().accounts(3).build();
    let server = OrgServer::start(fake.clone()).await;
    let url = server.url();
    let mut sessions = Vec::new();
    for account in ["200000000000", "200000000001", "200000000002"] {
        sessions.push(
            assume_role(&url, &fake.role_arn(account), None)
                .await
                .unwrap(),
        );
    }
    server.set_latency(Duration::from_millis(300));

    server.reset_counts();
    for session in &sessions {
        api_ids(&url, "us-east-1", session.clone()).await;
    }
    assert_eq!(
        server.counts().max_accounts_in_flight,
        1,
        "one after another"
    );

    server.reset_counts();
    let reads = sessions
        .iter()
        .map(|session| api_ids(&url, "us-east-1", session.clone()));
    futures_util::future::join_all(reads).await;
    let counts = server.counts();
    assert_eq!(counts.max_accounts_in_flight, 3, "three accounts at once");
    assert_eq!(counts.max_in_flight, 3);
}

#[tokio::test]
async fn builds_an_organization_of_500_accounts() {
    let fake = FakeOrg::builder()
        .accounts(500)
        .regions(&["eu-west-1", "us-east-1"])
        .apis(2)
        .routes(10)
        .build();
    assert_eq!(fake.accounts.len(), 501);
    let member = fake.account("200000000499").unwrap();
    assert_eq!(member.apis["eu-west-1"].len(), 2);
    assert_eq!(member.apis["us-east-1"][1].id, "00499r1k01");
    assert_eq!(member.apis["us-east-1"][1].routes.len(), 10);
    let by_path = fake.accounts.iter().fold(BTreeMap::new(), |mut n, a| {
        *n.entry(fake.ou_path(&a.id).unwrap()).or_insert(0) += 1;
        n
    });
    assert_eq!(
        by_path,
        BTreeMap::from([
            ("Root".to_owned(), 1),
            ("Root/Dev".to_owned(), 125),
            ("Root/Prod".to_owned(), 125),
            ("Root/Prod/Payments".to_owned(), 125),
            ("Root/Sandbox".to_owned(), 125),
        ])
    );

    let server = OrgServer::start(fake).await;
    assert_eq!(list_accounts(&org_client(&server)).await.len(), 501);
    assert_eq!(
        org::operation_requests(&server.counts(), "ListAccounts"),
        26
    );
}

/// moto's organization, set up with the real SDKs: what it lists, that its
/// accounts are kept apart by the credentials that sign each request, and
/// the refusals it does not make (which only the fake can test).
#[tokio::test]
async fn moto_keeps_member_accounts_apart() {
    let Some(moto) = tokio::task::spawn_blocking(Moto::start).await.unwrap() else {
        return;
    };
    let url = moto.url();
    let org = support::moto_org::moto_organization(&url).await;
    let client = organizations_client(&url, dummy_credentials());

    // ListAccounts pages with MaxResults; every account has Status and State.
    let pages: Vec<_> = client
        .list_accounts()
        .max_results(2)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(pages.len(), 2, "4 accounts in pages of 2");
    let accounts: Vec<_> = pages
        .into_iter()
        .flat_map(|p| p.accounts.unwrap_or_default())
        .collect();
    let ids: BTreeSet<&str> = accounts.iter().filter_map(|a| a.id()).collect();
    let expected: BTreeSet<&str> = org.accounts.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, expected);
    for account in &accounts {
        assert_eq!(account.status(), Some(&AccountStatus::Active));
        assert_eq!(account.state(), Some(&AccountState::Active));
    }

    // ListParents: the direct parent only, typed.
    let payments = org.account("payments");
    let parents = client
        .list_parents()
        .child_id(&payments.id)
        .send()
        .await
        .unwrap()
        .parents
        .unwrap();
    assert_eq!(parents.len(), 1);
    assert_eq!(
        parents[0].id(),
        Some(org.ous["Root/Prod/Payments"].as_str())
    );
    assert_eq!(parents[0].r#type(), Some(&ParentType::OrganizationalUnit));
    let parents = client
        .list_parents()
        .child_id(&org.ous["Root/Prod"])
        .send()
        .await
        .unwrap()
        .parents
        .unwrap();
    assert_eq!(parents[0].id(), Some(org.root_id.as_str()));
    assert_eq!(parents[0].r#type(), Some(&ParentType::Root));
    let under_root: BTreeSet<String> = client
        .list_organizational_units_for_parent()
        .parent_id(&org.root_id)
        .send()
        .await
        .unwrap()
        .organizational_units
        .unwrap()
        .into_iter()
        .filter_map(|ou| ou.name)
        .collect();
    assert_eq!(
        under_root,
        BTreeSet::from(["Dev".to_owned(), "Prod".to_owned()])
    );
    let in_prod: Vec<String> = client
        .list_accounts_for_parent()
        .parent_id(&org.ous["Root/Prod"])
        .send()
        .await
        .unwrap()
        .accounts
        .unwrap()
        .into_iter()
        .filter_map(|a| a.id)
        .collect();
    assert_eq!(in_prod, [org.account("web").id.clone()]);
    let tags: BTreeMap<String, String> = client
        .list_tags_for_resource()
        .resource_id(&payments.id)
        .send()
        .await
        .unwrap()
        .tags
        .unwrap()
        .into_iter()
        .map(|t: Tag| (t.key, t.value))
        .collect();
    assert_eq!(tags, payments.tags);

    // Each account's credentials see its own APIs, in each region, and no
    // other's: the management account's dummy keys included.
    for account in &org.accounts {
        let credentials = if account.id == org.management_account {
            dummy_credentials()
        } else {
            assume_role(&url, &org.role_arn(&account.id), None)
                .await
                .unwrap()
        };
        for region in ["us-east-1", "eu-west-1"] {
            let seen: BTreeSet<String> = api_ids(&url, region, credentials.clone())
                .await
                .into_iter()
                .collect();
            let own: BTreeSet<String> = account
                .apis
                .iter()
                .filter(|api| api.region == region)
                .map(|api| api.id.clone())
                .collect();
            assert_eq!(seen, own, "{} in {region}", account.name);
        }
    }
    let payments_api = &payments.apis[0];
    let err = apigw_client(&url, "us-east-1", dummy_credentials())
        .get_routes()
        .api_id(&payments_api.id)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_not_found_exception(), "{err:?}");

    // moto's AssumeRole enforces nothing: a role that does not exist and any
    // external id give the ARN's account. Refusals are the fake's to test.
    let anything = format!("arn:aws:iam::{}:role/no-such-role", payments.id);
    let credentials = assume_role(&url, &anything, Some("any-external-id"))
        .await
        .expect("moto accepts any role");
    let seen = api_ids(&url, "us-east-1", credentials.clone()).await;
    assert_eq!(seen, std::slice::from_ref(&payments_api.id));
    // Nor does it refuse member credentials Organizations calls (an empty
    // list, where AWS says AccessDenied), or a closed account's role.
    let listed = organizations_client(&url, credentials)
        .list_accounts()
        .send()
        .await
        .expect("moto answers members")
        .accounts
        .unwrap_or_default();
    assert!(listed.is_empty(), "{listed:?}");
    let web = org.account("web");
    client
        .close_account()
        .account_id(&web.id)
        .send()
        .await
        .unwrap();
    let closed = assume_role(&url, &org.role_arn(&web.id), None)
        .await
        .expect("moto lets a closed account's role be assumed");
    assert_eq!(api_ids(&url, "us-east-1", closed).await.len(), 1);
}

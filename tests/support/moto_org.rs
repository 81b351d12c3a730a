//! moto's Organizations and STS as the peer of an organization audit: a
//! small organization created through the real SDKs, whose member accounts
//! hold their own APIs, created with each account's assumed credentials.
//!
//! moto keeps one backend per account and region and picks the account from
//! the access key that signed a request (the keys its AssumeRole issued
//! belong to the role's account; any other key is the default account,
//! 123456789012, which becomes the management account). So an API created
//! with one account's credentials is invisible to every other's, and an
//! audit that uses the wrong credentials for an account sees the wrong APIs.
//! moto's AssumeRole checks nothing (role, external id): refusals need
//! [`super::org::OrgServer`].

use std::collections::BTreeMap;

use aws_sdk_apigatewayv2::types::{AuthorizationType, ProtocolType};
use aws_sdk_organizations::types::{OrganizationFeatureSet, Tag};

use super::{apigw_client, assume_role, dummy_credentials, organizations_client};

/// The member role every account of [`moto_organization`] is created with.
pub const MOTO_MEMBER_ROLE: &str = "routewarden-read";

/// An API created in an account.
#[derive(Debug, Clone)]
pub struct MotoApi {
    pub id: String,
    pub name: String,
    pub region: String,
    /// Its routes' keys.
    pub route_keys: Vec<String>,
}

/// An account of the organization, as created.
#[derive(Debug, Clone)]
pub struct MotoAccount {
    pub id: String,
    /// `master` for the management account (moto's name for it).
    pub name: String,
    /// `Root/Prod/Payments`, as policies see `account.ou_path`.
    pub ou_path: String,
    pub tags: BTreeMap<String, String>,
    pub apis: Vec<MotoApi>,
}

/// The organization [`moto_organization`] created.
#[derive(Debug, Clone)]
pub struct MotoOrg {
    pub management_account: String,
    pub root_id: String,
    /// OU ids by path: `Root/Prod`, `Root/Prod/Payments`, `Root/Dev`.
    pub ous: BTreeMap<String, String>,
    /// The management account first, then `payments`, `web`, `sandbox`.
    pub accounts: Vec<MotoAccount>,
}

impl MotoOrg {
    /// The account named `name`.
    pub fn account(&self, name: &str) -> &MotoAccount {
        self.accounts
            .iter()
            .find(|a| a.name == name)
            .unwrap_or_else(|| panic!("no account {name}"))
    }

    /// The member role's ARN in `account`.
    pub fn role_arn(&self, account: &str) -> String {
        format!("arn:aws:iam::{account}:role/{MOTO_MEMBER_ROLE}")
    }
}

/// An account to create: name, OU path, tags, APIs.
type AccountPlan = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static [ApiPlan],
);
/// An API to create: region, name, routes (key, authorization type).
type ApiPlan = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

const MEMBERS: [AccountPlan; 3] = [
    (
        "payments",
        "Root/Prod/Payments",
        &[("env", "prod"), ("team", "payments"), ("audit", "yes")],
        &[
            (
                "us-east-1",
                "payments",
                &[("GET /pay", "NONE"), ("POST /pay", "AWS_IAM")],
            ),
            ("eu-west-1", "payments-eu", &[("GET /eu", "NONE")]),
        ],
    ),
    (
        "web",
        "Root/Prod",
        &[("env", "prod"), ("team", "web"), ("audit", "yes")],
        &[("us-east-1", "web", &[("GET /", "NONE")])],
    ),
    (
        "sandbox",
        "Root/Dev",
        &[("env", "dev"), ("audit", "no")],
        &[("us-east-1", "sandbox", &[("ANY /{proxy+}", "NONE")])],
    ),
];

/// The management account's own API.
const MANAGEMENT_APIS: &[ApiPlan] = &[("us-east-1", "management", &[("GET /admin", "AWS_IAM")])];

/// Sets up moto at `endpoint` (a fresh server) as an organization: feature
/// set ALL; OUs `Root/Prod`, `Root/Prod/Payments`, `Root/Dev`; members
/// `payments` (Root/Prod/Payments; APIs in us-east-1 and eu-west-1), `web`
/// (Root/Prod) and `sandbox` (Root/Dev), each created with the role
/// [`MOTO_MEMBER_ROLE`], moved into its OU and tagged (`env`, `audit`, some
/// `team`); each member's HTTP APIs created with its assumed credentials,
/// and one API in the management account, with the dummy credentials.
pub async fn moto_organization(endpoint: &str) -> MotoOrg {
    let organizations = organizations_client(endpoint, dummy_credentials());
    let management_account = organizations
        .create_organization()
        .feature_set(OrganizationFeatureSet::All)
        .send()
        .await
        .expect("CreateOrganization")
        .organization
        .and_then(|o| o.master_account_id)
        .expect("the organization's management account");
    let root_id = organizations
        .list_roots()
        .send()
        .await
        .expect("ListRoots")
        .roots
        .unwrap_or_default()
        .into_iter()
        .find_map(|r| r.id)
        .expect("a root");
    let mut ous = BTreeMap::from([("Root".to_owned(), root_id.clone())]);
    for path in ["Root/Prod", "Root/Prod/Payments", "Root/Dev"] {
        let (parent, name) = path.rsplit_once('/').unwrap();
        let id = organizations
            .create_organizational_unit()
            .parent_id(&ous[parent])
            .name(name)
            .send()
            .await
            .expect("CreateOrganizationalUnit")
            .organizational_unit
            .and_then(|ou| ou.id)
            .expect("the OU's id");
        ous.insert(path.to_owned(), id);
    }
    let mut accounts = vec![MotoAccount {
        id: management_account.clone(),
        name: "master".to_owned(),
        ou_path: "Root".to_owned(),
        tags: BTreeMap::new(),
        apis: create_apis(endpoint, dummy_credentials(), MANAGEMENT_APIS).await,
    }];
    for (name, ou_path, tags, apis) in MEMBERS {
        let id = organizations
            .create_account()
            .account_name(name)
            .email(format!("{name}@example.com"))
            .role_name(MOTO_MEMBER_ROLE)
            .send()
            .await
            .expect("CreateAccount")
            .create_account_status
            .and_then(|s| s.account_id)
            .expect("the new account's id");
        organizations
            .move_account()
            .account_id(&id)
            .source_parent_id(&root_id)
            .destination_parent_id(&ous[ou_path])
            .send()
            .await
            .expect("MoveAccount");
        let mut tag_resource = organizations.tag_resource().resource_id(&id);
        for (key, value) in tags {
            tag_resource =
                tag_resource.tags(Tag::builder().key(*key).value(*value).build().unwrap());
        }
        tag_resource.send().await.expect("TagResource");
        let role_arn = format!("arn:aws:iam::{id}:role/{MOTO_MEMBER_ROLE}");
        let credentials = assume_role(endpoint, &role_arn, None)
            .await
            .expect("AssumeRole in moto");
        accounts.push(MotoAccount {
            id,
            name: name.to_owned(),
            ou_path: ou_path.to_owned(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            apis: create_apis(endpoint, credentials, apis).await,
        });
    }
    MotoOrg {
        management_account,
        root_id,
        ous,
        accounts,
    }
}

/// Creates HTTP APIs and their routes with `credentials` (so in their
/// account).
async fn create_apis(
    endpoint: &str,
    credentials: aws_sdk_sts::config::Credentials,
    plans: &[ApiPlan],
) -> Vec<MotoApi> {
    let mut apis = Vec::new();
    for (region, name, routes) in plans {
        let client = apigw_client(endpoint, region, credentials.clone());
        let id = client
            .create_api()
            .name(*name)
            .protocol_type(ProtocolType::Http)
            .send()
            .await
            .expect("CreateApi")
            .api_id
            .expect("the API's id");
        for (route_key, auth) in *routes {
            client
                .create_route()
                .api_id(&id)
                .route_key(*route_key)
                .authorization_type(AuthorizationType::from(*auth))
                .send()
                .await
                .expect("CreateRoute");
        }
        apis.push(MotoApi {
            id,
            name: name.to_string(),
            region: region.to_string(),
            route_keys: routes.iter().map(|(k, _)| k.to_string()).collect(),
        });
    }
    apis
}

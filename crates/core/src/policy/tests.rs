//! Loading and evaluating policies end to end: the language as a user writes
//! it, the built-in pack's rules firing and passing, and load errors.

use std::collections::BTreeMap;

use super::*;
use crate::inventory::{Api, Route};

/// Loads policy text as one file; `Err` holds `line:col message` lines.
fn load(text: &str) -> Result<PolicySet, String> {
    load_files(&[("policy.toml", text)])
}

fn load_files(files: &[(&str, &str)]) -> Result<PolicySet, String> {
    let dir = tempfile::tempdir().unwrap();
    let mut sources = Vec::new();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        sources.push(PolicySource::Path(path));
    }
    PolicySet::load(&sources).map_err(|LoadError(d)| {
        d.problems()
            .iter()
            .map(|p| {
                let pos = d.position(p);
                let short = pos.rsplit('/').next().unwrap().to_owned();
                format!("{short} {}", p.message)
            })
            .collect::<Vec<_>>()
            .join("\n")
    })
}

fn builtin() -> PolicySet {
    PolicySet::load(&[PolicySource::Builtin]).expect("the built-in pack loads")
}

fn http_api(routes: Vec<Route>) -> Api {
    Api {
        api_id: "a1".into(),
        name: Some("shop".into()),
        protocol_type: Some("HTTP".into()),
        tags: Some(BTreeMap::from([("env".into(), "prod".into())])),
        target_name: Some("shop-prod".into()),
        region: Some("eu-west-1".into()),
        routes,
        ..Api::default()
    }
}

fn route(key: &str, auth: Option<&str>) -> Route {
    Route {
        route_key: key.into(),
        authorization_type: auth.map(Into::into),
        ..Route::default()
    }
}

/// Ids of the enabled route rules the route violates (of those that can be
/// evaluated on the API).
fn violations(set: &PolicySet, api: &Api, route: &Route) -> Vec<String> {
    let ctx = Context::of(api).route(route);
    set.enabled()
        .filter(|(_, r)| r.info.subject == Subject::Route && r.needs.met_by(api))
        .filter(|(_, r)| r.violated_by(&ctx))
        .map(|(_, r)| r.info.id.to_string())
        .collect()
}

fn single_rule(when: &str, require: &str) -> PolicySet {
    let text = format!(
        "[[rules]]\nid = \"T\"\ntitle = \"t\"\nseverity = \"low\"\n{}require = {require}\n",
        if when.is_empty() {
            String::new()
        } else {
            format!("when = {when}\n")
        }
    );
    load(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

#[test]
fn the_builtin_pack_has_the_contract_rules() {
    let set = builtin();
    let find = |id: &str| set.rules.iter().find(|r| &*r.info.id == id).unwrap();
    assert_eq!(find("RW001").info.severity, Severity::Critical);
    assert_eq!(find("RW002").info.severity, Severity::Medium);
    assert_eq!(find("RW003").info.severity, Severity::High);
    for rule in &set.rules {
        assert!(
            rule.info.description.is_some(),
            "{} has a description",
            rule.info.id
        );
        assert!(
            rule.info.remediation.is_some(),
            "{} has a remediation",
            rule.info.id
        );
    }
}

#[test]
fn rw001_fires_on_unauthenticated_http_routes_but_not_preflight() {
    let set = builtin();
    let api = http_api(vec![]);
    assert_eq!(
        violations(&set, &api, &route("GET /pets", Some("NONE"))),
        ["RW001"]
    );
    assert_eq!(
        violations(&set, &api, &route("GET /pets", None)),
        ["RW001"],
        "absent reads NONE"
    );
    assert_eq!(
        violations(&set, &api, &route("$default", Some("NONE"))),
        ["RW001"]
    );
    assert!(violations(&set, &api, &route("OPTIONS /pets", Some("NONE"))).is_empty());
    assert!(violations(&set, &api, &route("GET /pets", Some("AWS_IAM"))).is_empty());
}

#[test]
fn rw001_on_websocket_apis_looks_only_at_connect() {
    let set = builtin();
    let mut api = http_api(vec![]);
    api.protocol_type = Some("WEBSOCKET".into());
    assert_eq!(
        violations(&set, &api, &route("$connect", Some("NONE"))),
        ["RW001"]
    );
    assert!(
        violations(&set, &api, &route("$connect", Some("CUSTOM")))
            .iter()
            .all(|id| id != "RW001")
    );
    assert!(violations(&set, &api, &route("$disconnect", Some("NONE"))).is_empty());
    assert!(violations(&set, &api, &route("sendmessage", None)).is_empty());
}

#[test]
fn rw001_with_unknown_protocol_applies_to_every_non_options_route() {
    let set = builtin();
    let mut api = http_api(vec![]);
    api.protocol_type = None;
    assert_eq!(
        violations(&set, &api, &route("$disconnect", Some("NONE"))),
        ["RW001"]
    );
    assert_eq!(
        violations(&set, &api, &route("$connect", Some("NONE"))),
        ["RW001"]
    );
    assert!(violations(&set, &api, &route("OPTIONS /x", Some("NONE"))).is_empty());
}

#[test]
fn rw002_fires_on_jwt_routes_without_scopes() {
    let set = builtin();
    let api = http_api(vec![]);
    let mut jwt = route("GET /pets", Some("JWT"));
    jwt.authorizer_id = Some("auth1".into());
    assert_eq!(violations(&set, &api, &jwt), ["RW002"], "absent scopes");
    jwt.authorization_scopes = Some(vec![]);
    assert_eq!(violations(&set, &api, &jwt), ["RW002"], "empty scopes");
    jwt.authorization_scopes = Some(vec!["pets:read".into()]);
    assert!(violations(&set, &api, &jwt).is_empty());
}

#[test]
fn rw003_fires_on_jwt_and_custom_routes_without_authorizer() {
    let set = builtin();
    let api = http_api(vec![]);
    let mut custom = route("GET /pets", Some("CUSTOM"));
    assert_eq!(violations(&set, &api, &custom), ["RW003"]);
    custom.authorizer_id = Some(String::new());
    assert_eq!(violations(&set, &api, &custom), ["RW003"], "empty id");
    custom.authorizer_id = Some("lambda1".into());
    assert!(violations(&set, &api, &custom).is_empty());
    let mut jwt = route("GET /pets", Some("JWT"));
    jwt.authorization_scopes = Some(vec!["s".into()]);
    assert_eq!(violations(&set, &api, &jwt), ["RW003"]);
    assert!(violations(&set, &api, &route("GET /pets", Some("AWS_IAM"))).is_empty());
}

#[test]
fn rw004_fires_on_scopes_outside_jwt() {
    let set = builtin();
    let api = http_api(vec![]);
    let mut iam = route("GET /pets", Some("AWS_IAM"));
    iam.authorization_scopes = Some(vec!["admin".into()]);
    assert_eq!(violations(&set, &api, &iam), ["RW004"]);
    iam.authorization_scopes = Some(vec![]);
    assert!(
        violations(&set, &api, &iam).is_empty(),
        "empty scopes are no scopes"
    );
    let mut jwt = route("GET /pets", Some("JWT"));
    jwt.authorizer_id = Some("a".into());
    jwt.authorization_scopes = Some(vec!["read".into()]);
    assert!(violations(&set, &api, &jwt).is_empty());
}

#[test]
fn rw005_fires_on_any_routes_of_http_apis() {
    let set = builtin();
    let mut api = http_api(vec![]);
    assert_eq!(
        violations(&set, &api, &route("ANY /{proxy+}", Some("AWS_IAM"))),
        ["RW005"]
    );
    assert!(violations(&set, &api, &route("GET /{proxy+}", Some("AWS_IAM"))).is_empty());
    api.protocol_type = Some("WEBSOCKET".into());
    assert!(violations(&set, &api, &route("ANY", Some("NONE"))).is_empty());
}

#[test]
fn shorthands_equal_their_operator_forms() {
    let api = http_api(vec![]);
    let routes = [
        route("GET /a", Some("NONE")),
        route("POST /a", Some("JWT")),
        route("$default", None),
    ];
    let pairs = [
        ("{ method = \"GET\" }", "{ method = { eq = \"GET\" } }"),
        (
            "{ method = [\"GET\", \"PUT\"] }",
            "{ method = { in = [\"GET\", \"PUT\"] } }",
        ),
        (
            "{ api_key_required = false }",
            "{ api_key_required = { eq = false } }",
        ),
    ];
    for (short, long) in pairs {
        let a = single_rule("", short);
        let b = single_rule("", long);
        for r in &routes {
            assert_eq!(
                violations(&a, &api, r),
                violations(&b, &api, r),
                "{short} vs {long} on {}",
                r.route_key
            );
        }
    }
}

#[test]
fn dotted_api_keys_and_tags_work() {
    let set = single_rule(
        "{ api.tags.env = \"prod\", api.name = { glob = \"sh*\" }, path = { matches = \"^/admin(/|$)\" } }",
        "{ authorization_type = \"AWS_IAM\" }",
    );
    let mut api = http_api(vec![]);
    assert_eq!(
        violations(&set, &api, &route("GET /admin/users", Some("JWT"))),
        ["T"]
    );
    assert!(violations(&set, &api, &route("GET /admin/users", Some("AWS_IAM"))).is_empty());
    assert!(violations(&set, &api, &route("GET /administrator", Some("JWT"))).is_empty());
    api.tags = None;
    assert!(
        violations(&set, &api, &route("GET /admin", Some("JWT"))).is_empty(),
        "absent tag"
    );
}

#[test]
fn combinators_and_target_context() {
    let set = single_rule(
        "{ any = [ { target_name = { glob = \"*-prod\" } }, { region = \"us-east-1\" } ], not = { method = \"OPTIONS\" } }",
        "{ all = [ { authorization_type = { ne = \"NONE\" } }, { operation_name = { exists = true } } ] }",
    );
    let mut api = http_api(vec![]);
    let mut ok = route("GET /a", Some("JWT"));
    ok.operation_name = Some("GetA".into());
    assert!(violations(&set, &api, &ok).is_empty());
    assert_eq!(
        violations(&set, &api, &route("GET /a", Some("JWT"))),
        ["T"],
        "no operation name"
    );
    assert!(violations(&set, &api, &route("OPTIONS /a", None)).is_empty());
    api.target_name = Some("shop-dev".into());
    assert!(
        violations(&set, &api, &route("GET /a", None)).is_empty(),
        "when does not hold"
    );
}

#[test]
fn disabled_rules_load_but_do_not_evaluate() {
    let off = "[[rules]]\nid = \"OFF\"\ntitle = \"t\"\nseverity = \"low\"\nenabled = false\nrequire = { method = \"NEVER\" }\n\
         [[exemptions]]\nrule = \"OFF\"\nreason = \"r\"\n";
    let on = "[[rules]]\nid = \"ON\"\ntitle = \"t\"\nseverity = \"low\"\nrequire = { method = \"GET\" }\n";
    let set = load(&format!("{off}{on}")).unwrap();
    assert_eq!(set.rules.len(), 2);
    assert_eq!(set.enabled().count(), 1);
    // Fail closed: nothing enabled would pass every route.
    let err = load(off).unwrap_err();
    assert!(err.contains("no enabled rules"), "{err}");
}

#[test]
fn policies_that_load_no_rule_fail_closed() {
    let err = load("[[exemptions]]\nrule = \"*\"\nreason = \"r\"\n").unwrap_err();
    assert!(err.contains("policy.toml:1:1 no rules loaded"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a policy").unwrap();
    let err = PolicySet::load(&[PolicySource::Path(dir.path().to_path_buf())]).unwrap_err();
    assert!(
        err.0.problems()[0].message.contains("holds no *.toml file"),
        "{err}"
    );
    // `.TOML` is a policy file too: it loads rather than being skipped.
    std::fs::write(
        dir.path().join("ORG.TOML"),
        "[[rules]]\nid = \"ORG-1\"\ntitle = \"t\"\nseverity = \"low\"\nrequire = { method = \"GET\" }\n",
    )
    .unwrap();
    let set = PolicySet::load(&[PolicySource::Path(dir.path().to_path_buf())]).unwrap();
    assert_eq!(set.enabled().count(), 1);
}

#[test]
fn exemptions_match_by_api_id_or_name_route_and_target() {
    let set = load(
        r#"
[[rules]]
id = "R"
title = "t"
severity = "high"
require = { authorization_type = { ne = "NONE" } }

[[exemptions]]
rule = "R"
api = "sh?p"
route_key = "GET /health*"
target_name = "*-prod"
reason = "probe"
expires = 2030-01-01

[[exemptions]]
rule = "*"
api = "a1"
route_key = "GET /old"
reason = "legacy"
expires = 2020-01-01
"#,
    )
    .unwrap();
    let api = http_api(vec![]);
    let ctx = Context::of(&api);
    let today = time::macros::date!(2026 - 06 - 01);
    let status = |key: &str| match set.exemption_for(0, &ctx.route(&route(key, None)), today) {
        Exempted::No => "none".to_owned(),
        Exempted::Active(e) => format!("active:{}", e.reason),
        Exempted::Expired(e) => format!("expired:{}", e.reason),
    };
    assert_eq!(status("GET /health"), "active:probe", "by name");
    assert_eq!(status("GET /healthz"), "active:probe");
    assert_eq!(
        status("GET /old"),
        "expired:legacy",
        "by id, and * covers every rule"
    );
    assert_eq!(status("GET /other"), "none");
    // From the expiry day on, it no longer applies.
    let on_expiry = time::macros::date!(2030 - 01 - 01);
    assert!(matches!(
        set.exemption_for(0, &ctx.route(&route("GET /health", None)), on_expiry),
        Exempted::Expired(_)
    ));
    let mut dev = api.clone();
    dev.target_name = Some("shop-dev".into());
    assert!(matches!(
        set.exemption_for(
            0,
            &Context::of(&dev).route(&route("GET /health", None)),
            today
        ),
        Exempted::No
    ));
}

#[test]
fn an_active_exemption_wins_over_an_expired_one() {
    let set = load(
        r#"
[[rules]]
id = "R"
title = "t"
severity = "high"
require = { authorization_type = { ne = "NONE" } }
[[exemptions]]
rule = "R"
reason = "old"
expires = 2020-01-01
[[exemptions]]
rule = "R"
reason = "new"
"#,
    )
    .unwrap();
    let api = http_api(vec![]);
    let today = time::macros::date!(2026 - 06 - 01);
    match set.exemption_for(0, &Context::of(&api).route(&route("GET /", None)), today) {
        Exempted::Active(e) => assert_eq!(&*e.reason, "new"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_directory_loads_its_toml_files_in_name_order_and_ids_are_global() {
    let rule = |id: &str| {
        format!("[[rules]]\nid = \"{id}\"\ntitle = \"t\"\nseverity = \"low\"\nrequire = {{}}\n")
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("b.toml"), rule("B")).unwrap();
    std::fs::write(dir.path().join("a.toml"), rule("A")).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a policy").unwrap();
    let set = PolicySet::load(&[PolicySource::Path(dir.path().to_path_buf())]).unwrap();
    let ids: Vec<&str> = set.rules.iter().map(|r| &*r.info.id).collect();
    assert_eq!(ids, ["A", "B"]);

    let err = load_files(&[("one.toml", &rule("X")), ("two.toml", &rule("X"))]).unwrap_err();
    assert!(err.contains("two.toml:2:6 duplicate rule id `X`"), "{err}");
}

#[test]
fn exemptions_may_name_rules_of_other_files_but_not_unknown_ones() {
    let rule = "[[rules]]\nid = \"X\"\ntitle = \"t\"\nseverity = \"low\"\nrequire = {}\n";
    let exemption = "[[exemptions]]\nrule = \"X\"\nreason = \"r\"\n[[exemptions]]\nrule = \"Y\"\nreason = \"r\"\n";
    let err = load_files(&[("a.toml", rule), ("b.toml", exemption)]).unwrap_err();
    assert_eq!(err, "b.toml:5:8 exemption names unknown rule `Y`");
}

#[test]
fn every_problem_in_a_file_is_reported() {
    let err = load(
        r#"
[[rules]]
id = "R1"
title = "t"
severity = "urgent"
colour = "red"
when = { methd = "GET", api.nam = "x", route_key = { eqq = "x" } }
require = { api_key_required = { matches = "x" }, path = { matches = "(" }, authorization_scopes = "x" }

[[rules]]
id = "bad id!"
severity = "low"
require = { route_key = { glob = 3 }, authorization_scopes = { min_len = -1 }, method = { } }

[[exemptions]]
rule = "R1"
reason = " "
expires = 2027-02-20T10:00:00Z

[[exemptions]]
rule = "R1"
expires = "2027-01-01"
"#,
    )
    .unwrap_err();
    let expected = [
        "5:12 unknown severity `urgent` (in rule `R1`)",
        "6:1 unknown key `colour` in a rule (in rule `R1`)",
        "7:10 unknown field `methd`: did you mean `method`? (in rule `R1`)",
        "7:29 unknown field `api.nam`: did you mean `api.name`? (in rule `R1`)",
        "7:54 unknown operator `eqq` for `route_key` (in rule `R1`)",
        "8:34 operator `matches` does not apply to `api_key_required`, which is a boolean (in rule `R1`)",
        "8:70 invalid regex for `path.matches`",
        "8:100 operator `eq` does not apply to `authorization_scopes`, which is a list of strings (in rule `R1`)",
        "10:1 missing required key `title` in a rule (in rule `bad id!`)",
        "11:6 invalid rule id `bad id!`",
        "13:34 `route_key.glob` must be a string, found an integer",
        "13:74 `authorization_scopes.min_len` must not be negative",
        "13:89 empty predicate for `method`",
        "17:10 `reason` must not be empty (in exemption of `R1`)",
        "18:11 `expires` must be a TOML date such as 2027-03-01, found a date-time",
        "20:1 missing required key `reason` in an exemption (in exemption of `R1`)",
        "22:11 `expires` must be a TOML date such as 2027-03-01, found a string",
    ];
    let mut missing = Vec::new();
    for line in expected {
        if !err
            .lines()
            .any(|l| l.starts_with("policy.toml:") && l.contains(line))
        {
            missing.push(line);
        }
    }
    assert!(missing.is_empty(), "missing {missing:#?} in:\n{err}");
}

#[test]
fn wrong_operand_types_are_load_errors_not_silent_false() {
    let cases = [
        (
            "{ authorization_type = true }",
            "compares it with a boolean",
        ),
        (
            "{ api_key_required = \"yes\" }",
            "compares it with a string",
        ),
        ("{ method = 3 }", "compares it with an integer"),
        (
            "{ authorization_scopes = { contains_any = \"a\" } }",
            "must be an array",
        ),
        (
            "{ request_models = { contains_all = [\"a\"] } }",
            "does not apply to `request_models`",
        ),
        ("{ route_key = { exists = \"yes\" } }", "must be a boolean"),
        (
            "{ api = \"x\" }",
            "`api` is a table of fields, found a string",
        ),
        ("{ api.tags = \"x\" }", "addressed by tag key"),
        ("{ any = { method = \"GET\" } }", "must be an array"),
        ("{ all = [\"x\"] }", "must be a condition table"),
        ("{ path = 1.5 }", "compares it with a float"),
    ];
    for (require, message) in cases {
        let text = format!(
            "[[rules]]\nid = \"T\"\ntitle = \"t\"\nseverity = \"low\"\nrequire = {require}\n"
        );
        let err = load(&text)
            .err()
            .unwrap_or_else(|| panic!("{require} loaded"));
        assert!(err.contains(message), "{require}: {err}");
    }
}

#[test]
fn bad_toml_and_missing_files_are_reported() {
    let err = load("[[rules]\nid = 1").unwrap_err();
    assert!(err.starts_with("policy.toml:1:"), "{err}");
    let err =
        load("[[exemptions]]\nrule = \"*\"\nreason = \"r\"\nexpires = 2027-02-30\n").unwrap_err();
    assert!(
        err.starts_with("policy.toml:4:11 invalid TOML: invalid date"),
        "{err}"
    );
    let err = PolicySet::load(&[PolicySource::Path("/nonexistent/p.toml".into())]).unwrap_err();
    assert!(
        err.0.problems()[0]
            .message
            .contains("cannot read /nonexistent/p.toml")
    );
}

#[test]
fn enum_literals_are_checked_with_a_did_you_mean() {
    let cases = [
        (
            "when = { authorization_type = \"jwt\" }",
            "6:31 `jwt` is not a value of `authorization_type`: did you mean `JWT`?",
        ),
        (
            "when = { api.protocol_type = \"WEBSOCKETS\" }",
            "6:30 `WEBSOCKETS` is not a value of `api.protocol_type`: did you mean `WEBSOCKET`?",
        ),
        (
            "when = { authorization_type = { in = [\"JWT\", \"COGNITO_USER_POOLS\"] } }",
            "6:46 `COGNITO_USER_POOLS` is not a value of `authorization_type` (that is a REST API type",
        ),
        (
            "when = { authorization_type = { ne = \"IAM\" } }",
            "6:38 `IAM` is not a value of `authorization_type`",
        ),
        (
            "when = { authorization_type = [\"none\", \"AWS-IAM\"] }",
            "6:32 `none` is not a value of `authorization_type`: did you mean `NONE`?",
        ),
        (
            "when = { api = { protocol_type = { not_in = [\"http\"] } } }",
            "did you mean `HTTP`?",
        ),
    ];
    for (when, expected) in cases {
        let text = format!(
            "[[rules]]\nid = \"T\"\ntitle = \"t\"\nseverity = \"low\"\nrequire = {{ method = \"GET\" }}\n{when}\n"
        );
        let err = load(&text).err().unwrap_or_else(|| panic!("{when} loaded"));
        assert!(err.contains(expected), "{when}:\n{err}");
    }
    // Each literal of a list is checked on its own.
    let err = load(
        "[[rules]]\nid = \"T\"\ntitle = \"t\"\nseverity = \"low\"\nrequire = { authorization_type = [\"none\", \"AWS-IAM\"] }\n",
    )
    .unwrap_err();
    assert_eq!(err.lines().count(), 2, "{err}");
    assert!(
        err.contains("`AWS-IAM` is not a value of `authorization_type`: did you mean `AWS_IAM`?"),
        "{err}"
    );
    // Patterns are not literals; AWS's spellings load.
    load(
        "[[rules]]\nid = \"T\"\ntitle = \"t\"\nseverity = \"low\"\nrequire = { authorization_type = { matches = \"^(jwt|JWT)$\" }, api.protocol_type = { in = [\"HTTP\", \"WEBSOCKET\"] } }\nwhen = { authorization_type = { not_in = [\"NONE\", \"AWS_IAM\", \"CUSTOM\", \"JWT\"] } }\n",
    )
    .unwrap();
}

// --- The whole API (policy language v2) ---

use crate::inventory::{
    AccessLogSettings, Authorizer, Cors, Integration, JwtConfiguration, Needs, RouteSettings, Stage,
};

/// An API with a JWT authorizer `jwt1`, a Lambda authorizer `lam1`, an HTTP
/// integration `int1` and a Lambda integration `int2`, and two stages.
fn whole_api(routes: Vec<Route>) -> Api {
    let jwt = |audience: Option<Vec<String>>, issuer: &str| JwtConfiguration {
        audience,
        issuer: Some(issuer.into()),
    };
    Api {
        authorizers: Some(vec![
            Authorizer {
                authorizer_id: "jwt1".into(),
                authorizer_type: Some("JWT".into()),
                jwt_configuration: Some(jwt(Some(vec!["app".into()]), "https://idp.example/")),
                ..Authorizer::default()
            },
            Authorizer {
                authorizer_id: "jwt2".into(),
                authorizer_type: Some("JWT".into()),
                jwt_configuration: Some(jwt(None, "http://idp.example/")),
                ..Authorizer::default()
            },
            Authorizer {
                authorizer_id: "lam1".into(),
                authorizer_type: Some("REQUEST".into()),
                authorizer_result_ttl_in_seconds: Some(300),
                ..Authorizer::default()
            },
        ]),
        integrations: Some(vec![
            Integration {
                integration_id: "int1".into(),
                integration_type: Some("HTTP_PROXY".into()),
                integration_uri: Some("HTTP://backend.example/".into()),
                timeout_in_millis: Some(30000),
                ..Integration::default()
            },
            Integration {
                integration_id: "int2".into(),
                integration_type: Some("HTTP_PROXY".into()),
                connection_type: Some("VPC_LINK".into()),
                integration_uri: Some("http://internal/".into()),
                ..Integration::default()
            },
        ]),
        stages: Some(vec![
            Stage {
                stage_name: "$default".into(),
                ..Stage::default()
            },
            Stage {
                stage_name: "prod".into(),
                access_log_settings: Some(AccessLogSettings {
                    destination_arn: Some("arn:aws:logs:eu-west-1:1:log-group:x".into()),
                    format: Some("$context.requestId".into()),
                }),
                default_route_settings: Some(RouteSettings {
                    throttling_rate_limit: Some(12.5),
                    throttling_burst_limit: Some(20),
                    logging_level: Some("INFO".into()),
                    ..RouteSettings::default()
                }),
                ..Stage::default()
            },
        ]),
        cors_configuration: Some(Cors {
            allow_origins: Some(vec!["https://shop.example".into(), "*".into()]),
            ..Cors::default()
        }),
        ..http_api(routes)
    }
}

fn with(authorizer: Option<&str>, target: Option<&str>) -> Route {
    Route {
        route_key: "GET /x".into(),
        authorization_type: Some("JWT".into()),
        authorizer_id: authorizer.map(Into::into),
        authorization_scopes: Some(vec!["read".into()]),
        target: target.map(Into::into),
        ..Route::default()
    }
}

/// `rule-id subject where` of every finding of the built-in pack on the API.
fn findings(api: &Api) -> Vec<String> {
    let mut out = Vec::new();
    builtin().evaluate(api, time::macros::date!(2026 - 06 - 01), &mut out);
    out.iter()
        .map(|f| {
            let at = match f.subject {
                Subject::Route => f.route_key.clone(),
                Subject::Stage => format!("stage {}", f.stage.as_deref().unwrap()),
                Subject::Api => "api".to_owned(),
            };
            format!("{} {at}", f.rule.id)
        })
        .collect()
}

#[test]
fn rw010_to_rw013_judge_the_authorizer_and_integration_a_route_joins() {
    let api = |route: Route| {
        let mut api = whole_api(vec![route]);
        api.stages = Some(vec![]);
        api.cors_configuration = None;
        api
    };
    // A good JWT authorizer and a VPC link: nothing.
    assert!(findings(&api(with(Some("jwt1"), Some("integrations/int2")))).is_empty());
    // An authorizer id the API does not have.
    assert_eq!(findings(&api(with(Some("gone"), None))), ["RW010 GET /x"]);
    // No audience, and an http:// issuer.
    assert_eq!(
        findings(&api(with(Some("jwt2"), None))),
        ["RW011 GET /x", "RW012 GET /x"]
    );
    // Plain HTTP over the internet (any case), not over a VPC link.
    assert_eq!(
        findings(&api(with(Some("jwt1"), Some("integrations/int1")))),
        ["RW013 GET /x"]
    );
    // A target that names no integration joins nothing: no RW013.
    assert!(findings(&api(with(Some("jwt1"), Some("integrations/nope")))).is_empty());
}

#[test]
fn rw014_judges_stages_and_rw015_the_api() {
    let api = whole_api(vec![with(Some("jwt1"), None)]);
    assert_eq!(findings(&api), ["RW015 api", "RW014 stage $default"]);
    let mut fixed = api.clone();
    fixed.cors_configuration = Some(Cors {
        allow_origins: Some(vec!["https://shop.example".into()]),
        ..Cors::default()
    });
    fixed.stages.as_mut().unwrap().remove(0);
    assert!(findings(&fixed).is_empty());
    // No CORS configuration at all: RW015 does not apply.
    fixed.cors_configuration = None;
    assert!(findings(&fixed).is_empty());
}

#[test]
fn rules_on_parts_that_were_not_read_are_not_evaluated() {
    // A v1 fleet file: no authorizers, integrations or stages were read. A
    // route naming an authorizer is not RW010 (unknown is not missing).
    let api = http_api(vec![with(Some("jwt1"), Some("integrations/int1"))]);
    assert!(findings(&api).is_empty());
    let set = builtin();
    let unmet: Vec<&str> = set.unmet(&api).map(|id| &**id).collect();
    assert_eq!(unmet, ["RW010", "RW011", "RW012", "RW013", "RW014"]);
    // Read and empty is known: the authorizer is missing.
    let mut read = api.clone();
    read.authorizers = Some(vec![]);
    assert_eq!(findings(&read), ["RW010 GET /x"]);
}

#[test]
fn the_pack_needs_what_its_enabled_rules_read() {
    assert_eq!(
        builtin().needs(),
        Needs {
            account_tags: false,
            ..Needs::ALL
        },
        "every part of the API; no account tags"
    );
    let v1 = load_files(&[("v1.toml", BUILTIN_FILES[0].1)]).unwrap();
    assert_eq!(
        v1.needs(),
        Needs::default(),
        "the v1 rules read routes only"
    );
    let one = |require: &str, subject: &str| {
        load(&format!(
            "[[rules]]\nid = \"T\"\ntitle = \"t\"\nseverity = \"low\"\nsubject = \"{subject}\"\nrequire = {require}\n"
        ))
        .unwrap()
        .needs()
    };
    assert_eq!(
        one("{ authorizer.name = { exists = true } }", "route"),
        Needs {
            authorizers: true,
            ..Needs::default()
        }
    );
    assert_eq!(
        one("{ integration.timeout_ms = { le = 29000 } }", "route"),
        Needs {
            integrations: true,
            ..Needs::default()
        }
    );
    assert_eq!(
        one("{ api.name = { exists = true } }", "stage"),
        Needs {
            stages: true,
            ..Needs::default()
        }
    );
    assert_eq!(
        one("{ api.name = { exists = true } }", "api"),
        Needs::default()
    );
    assert_eq!(
        one("{ account.tags.env = \"prod\" }", "route"),
        Needs {
            account_tags: true,
            ..Needs::default()
        },
        "an account's tags cost a call per account"
    );
    assert_eq!(
        one("{ account.ou_path = { glob = \"Root/Prod/*\" } }", "api"),
        Needs::default(),
        "names and OU paths come with the listing"
    );
    // A disabled rule costs nothing.
    let disabled = load(
        "[[rules]]\nid = \"A\"\ntitle = \"t\"\nseverity = \"low\"\nrequire = { method = \"GET\" }\n\
         [[rules]]\nid = \"B\"\ntitle = \"t\"\nseverity = \"low\"\nenabled = false\nsubject = \"stage\"\nrequire = { stage.name = \"x\" }\n",
    )
    .unwrap();
    assert_eq!(disabled.needs(), Needs::default());
}

#[test]
fn numeric_operators_compare_integers_and_numbers() {
    let api = whole_api(vec![]);
    let stage = &api.stages.as_ref().unwrap()[1];
    let holds = |require: &str| {
        let set = load(&format!(
            "[[rules]]\nid = \"T\"\ntitle = \"t\"\nseverity = \"low\"\nsubject = \"stage\"\nrequire = {require}\n"
        ))
        .unwrap_or_else(|e| panic!("{require}: {e}"));
        !set.rules[0].violated_by(&Context::of(&api).stage(stage))
    };
    let burst = "stage.default_route_settings.throttling_burst_limit";
    let rate = "stage.default_route_settings.throttling_rate_limit";
    assert!(holds(&format!("{{ {burst} = 20 }}")));
    assert!(holds(&format!("{{ {burst} = {{ ne = 21 }} }}")));
    assert!(holds(&format!(
        "{{ {burst} = {{ lt = 21, le = 20, gt = 19, ge = 20 }} }}"
    )));
    assert!(!holds(&format!("{{ {burst} = {{ lt = 20 }} }}")));
    assert!(!holds(&format!("{{ {burst} = {{ gt = 20.5 }} }}")));
    assert!(holds(&format!("{{ {rate} = {{ gt = 12, lt = 12.75 }} }}")));
    assert!(holds(&format!("{{ {rate} = 12.5 }}")));
    assert!(!holds(&format!("{{ {rate} = {{ ge = 13 }} }}")));
    // Absent: ne holds, the others do not.
    let stage0 = &api.stages.as_ref().unwrap()[0];
    let set = load(&format!(
        "[[rules]]\nid = \"T\"\ntitle = \"t\"\nseverity = \"low\"\nsubject = \"stage\"\nrequire = {{ {burst} = {{ ne = 1 }} }}\n\
         [[rules]]\nid = \"U\"\ntitle = \"t\"\nseverity = \"low\"\nsubject = \"stage\"\nrequire = {{ {burst} = {{ ge = 0 }} }}\n"
    ))
    .unwrap();
    let ctx = Context::of(&api).stage(stage0);
    assert!(!set.rules[0].violated_by(&ctx));
    assert!(set.rules[1].violated_by(&ctx));
    assert_eq!(
        set.rules[1].explain(&ctx),
        format!("{burst} is absent (requires: ge 0)")
    );
}

#[test]
fn subjects_see_only_their_fields_and_mistakes_are_load_errors() {
    let rule = |subject: &str, require: &str| {
        load(&format!(
            "[[rules]]\nid = \"T\"\ntitle = \"t\"\nseverity = \"low\"\nsubject = \"{subject}\"\nrequire = {require}\n"
        ))
    };
    let err = rule("stage", "{ route_key = \"GET /\" }").unwrap_err();
    assert_eq!(
        err,
        "policy.toml:6:13 `route_key` is a route field, which a rule with subject = \"stage\" does not have (in rule `T`)"
    );
    let err = rule("route", "{ stage.name = \"prod\" }").unwrap_err();
    assert!(
        err.starts_with("policy.toml:6:19 `stage.name` is a stage field"),
        "{err}"
    );
    let err = rule("api", "{ authorizer.type = \"JWT\" }").unwrap_err();
    assert!(err.contains("`authorizer.type` is a route field"), "{err}");
    // Every subject sees the API and the audit context.
    for subject in ["route", "api", "stage"] {
        rule(
            subject,
            "{ api.cors.max_age = { le = 600 }, region = \"eu-west-1\" }",
        )
        .unwrap_or_else(|e| panic!("{subject}: {e}"));
    }
    let err = rule("stages", "{ api.name = \"x\" }").unwrap_err();
    assert!(err.contains("5:11 unknown subject `stages`"), "{err}");
    // A misspelt nested field, with the closest name.
    let err = rule("route", "{ authorizer.jwt.audiences = { exists = true } }").unwrap_err();
    assert!(
        err.contains(
            "unknown field `authorizer.jwt.audiences`: did you mean `authorizer.jwt.audience`?"
        ),
        "{err}"
    );
    // Operators are checked against the new types.
    let err = rule(
        "stage",
        "{ stage.default_route_settings.throttling_burst_limit = 2.5 }",
    )
    .unwrap_err();
    assert!(
        err.contains("is an integer, but `eq` compares it with a float"),
        "{err}"
    );
    let err = rule("route", "{ authorizer.name = { lt = 3 } }").unwrap_err();
    assert!(
        err.contains("operator `lt` does not apply to `authorizer.name`"),
        "{err}"
    );
    let err = rule("route", "{ integration.timeout_ms = { gt = \"30\" } }").unwrap_err();
    assert!(err.contains("compares it with a string"), "{err}");
    // Enumerated fields of the whole API are checked too.
    let err = rule(
        "route",
        "{ authorizer.type = \"jwt\", integration.type = \"HTTP-PROXY\" }",
    )
    .unwrap_err();
    assert!(
        err.contains("`jwt` is not a value of `authorizer.type`: did you mean `JWT`?"),
        "{err}"
    );
    assert!(err.contains("did you mean `HTTP_PROXY`?"), "{err}");
    let err = rule(
        "stage",
        "{ stage.default_route_settings.logging_level = \"info\" }",
    )
    .unwrap_err();
    assert!(err.contains("did you mean `INFO`?"), "{err}");
}

#[test]
fn stage_tags_and_exemptions_cover_api_and_stage_findings() {
    let mut api = whole_api(vec![]);
    api.stages.as_mut().unwrap()[0].tags = Some(BTreeMap::from([("tier".into(), "dev".into())]));
    let set = load(
        "[[rules]]\nid = \"LOGS\"\ntitle = \"t\"\nseverity = \"low\"\nsubject = \"stage\"\n\
         when = { stage.tags.tier = { ne = \"dev\" } }\n\
         require = { stage.access_log.destination_arn = { exists = true } }\n\
         [[rules]]\nid = \"CORS\"\ntitle = \"t\"\nseverity = \"low\"\nsubject = \"api\"\n\
         require = { api.cors.allow_credentials = true }\n\
         [[exemptions]]\nrule = \"CORS\"\napi = \"shop\"\nreason = \"public\"\n",
    )
    .unwrap();
    let mut out = Vec::new();
    set.evaluate(&api, time::macros::date!(2026 - 06 - 01), &mut out);
    // The dev stage is left out by its tag; prod has logs.
    assert_eq!(out.len(), 1);
    assert_eq!(&*out[0].rule.id, "CORS");
    assert_eq!(out[0].subject, Subject::Api);
    assert_eq!(out[0].status, Status::Exempted);
    assert_eq!(
        out[0].message,
        "api.cors.allow_credentials is absent (requires: eq true)"
    );
}

#[test]
fn the_pack_on_a_whole_api_fleet_file() {
    let mut diags = crate::diag::Diagnostics::new();
    let apis = crate::inventory::load_routes_file(
        &mut diags,
        std::path::Path::new("tests/fixtures/whole-api.json"),
    )
    .unwrap()
    .0;
    assert_eq!(
        findings(&apis[0]),
        [
            "RW015 api",
            "RW011 POST /orders",
            "RW012 POST /orders",
            "RW013 POST /orders",
            "RW010 GET /admin",
            "RW013 GET /report",
            "RW014 stage $default",
        ]
    );
}

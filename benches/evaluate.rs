//! Policy evaluation throughput: a generated 10k-route fleet against the
//! built-in pack plus twenty varied rules (benches/rules.toml).
//!
//! `floor` is the baseline measured in the same run: one string comparison
//! per route x rule pair, the least any evaluator must do. The figure to report
//! is `evaluate` in route x rule evaluations per second, and its ratio to
//! `floor`. `audit` adds exemption lookups and building findings.
//!
//! A bench of `routewarden-core` (crates/core/Cargo.toml names this file):
//! it can use nothing but the core.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use routewarden_core::finding::Subject;
use routewarden_core::inventory::{
    AccessLogSettings, Api, Authorizer, Cors, Integration, Inventory, JwtConfiguration, Route,
    RouteSettings, Stage,
};
use routewarden_core::policy::{Context, PolicySet, PolicySource};

const ROUTES: usize = 10_000;
const ROUTES_PER_API: usize = 25;

/// A deterministic fleet with the variety of a real estate: routes, and the
/// authorizers, integrations and stages (policy language v2) they join to.
fn fleet() -> Inventory {
    let methods = ["GET", "POST", "PUT", "DELETE", "ANY", "OPTIONS", "PATCH"];
    let auths = [
        Some("JWT"),
        Some("AWS_IAM"),
        Some("CUSTOM"),
        Some("NONE"),
        None,
        Some("JWT"),
    ];
    let paths = [
        "/v1/orders",
        "/v1/orders/{id}",
        "/admin/users",
        "/{proxy+}",
        "/v2/search",
        "/static/{proxy+}",
        "/health",
    ];
    let mut apis = Vec::new();
    for a in 0..ROUTES / ROUTES_PER_API {
        let mut tags = BTreeMap::from([(
            "env".to_owned(),
            if a % 3 == 0 { "dev" } else { "prod" }.to_owned(),
        )]);
        if a % 4 != 0 {
            tags.insert("team".into(), format!("team-{}", a % 7));
        }
        let routes = (0..ROUTES_PER_API)
            .map(|r| {
                let i = a * ROUTES_PER_API + r;
                let auth = auths[i % auths.len()];
                Route {
                    route_id: Some(format!("r{i:07}")),
                    route_key: format!(
                        "{} {}{}",
                        methods[i % methods.len()],
                        paths[(i / 7) % paths.len()],
                        if r % 5 == 0 { "/x" } else { "" }
                    ),
                    authorization_type: auth.map(Into::into),
                    authorizer_id: (!i.is_multiple_of(11)).then(|| format!("au{}", i % 13)),
                    authorization_scopes: (auth == Some("JWT") && !i.is_multiple_of(4)).then(
                        || {
                            vec![
                                "orders:read".to_owned(),
                                if i.is_multiple_of(3) {
                                    "admin"
                                } else {
                                    "orders:write"
                                }
                                .to_owned(),
                            ]
                        },
                    ),
                    api_key_required: Some(i.is_multiple_of(9)),
                    target: Some(format!("integrations/int{}", i % 17)),
                    operation_name: i.is_multiple_of(2).then(|| format!("Op{i}")),
                    ..Route::default()
                }
            })
            .collect();
        let authorizers = (0..13)
            .map(|n| Authorizer {
                authorizer_id: format!("au{n}"),
                authorizer_type: Some(if n % 3 == 0 { "REQUEST" } else { "JWT" }.into()),
                identity_source: Some(vec!["$request.header.Authorization".into()]),
                jwt_configuration: (n % 3 != 0).then(|| JwtConfiguration {
                    audience: (n % 4 != 0).then(|| vec![format!("client-{n}")]),
                    issuer: Some(
                        if n % 5 == 0 {
                            "http://idp"
                        } else {
                            "https://idp"
                        }
                        .into(),
                    ),
                }),
                authorizer_result_ttl_in_seconds: (n % 3 == 0).then_some(i64::from(n) * 60),
                ..Authorizer::default()
            })
            // Routes name au0 to au12; au12 is missing (RW010).
            .filter(|a| a.authorizer_id != "au12")
            .collect();
        let integrations = (0..17)
            .map(|n| Integration {
                integration_id: format!("int{n}"),
                integration_type: Some(["HTTP_PROXY", "AWS_PROXY", "HTTP"][n % 3].into()),
                integration_uri: Some(
                    if n % 4 == 0 {
                        "http://backend"
                    } else {
                        "https://backend"
                    }
                    .into(),
                ),
                timeout_in_millis: Some(if n % 6 == 0 { 29000 } else { 10000 }),
                ..Integration::default()
            })
            .collect();
        let stages = ["$default", "prod"]
            .iter()
            .enumerate()
            .map(|(n, name)| Stage {
                stage_name: (*name).into(),
                access_log_settings: (n == 1).then(|| AccessLogSettings {
                    destination_arn: Some("arn:aws:logs:eu-west-1:1:log-group:g".into()),
                    format: None,
                }),
                default_route_settings: Some(RouteSettings {
                    throttling_rate_limit: Some(if a % 5 == 0 { 0.0 } else { 100.0 }),
                    logging_level: Some(if n == 0 { "OFF" } else { "INFO" }.into()),
                    ..RouteSettings::default()
                }),
                ..Stage::default()
            })
            .collect();
        apis.push(Api {
            authorizers: Some(authorizers),
            integrations: Some(integrations),
            stages: Some(stages),
            cors_configuration: (a % 2 == 0).then(|| Cors {
                allow_origins: Some(vec![if a % 4 == 0 { "*" } else { "https://shop" }.into()]),
                max_age: Some(if a % 8 == 0 { 3600 } else { 300 }),
                ..Cors::default()
            }),
            api_id: format!("api{a:07}").into(),
            name: Some(format!("service-{a}").into()),
            protocol_type: Some(if a % 10 == 0 { "WEBSOCKET" } else { "HTTP" }.into()),
            tags: Some(tags),
            target_name: Some(if a % 2 == 0 { "shop-prod" } else { "shop-dev" }.into()),
            region: Some("eu-west-1".into()),
            routes,
            ..Api::default()
        });
    }
    Inventory { apis }
}

fn policies() -> PolicySet {
    let extra = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../benches/rules.toml");
    PolicySet::load(&[PolicySource::Builtin, PolicySource::Path(extra)])
        .expect("bench policies load")
}

fn bench(c: &mut Criterion) {
    let inventory = fleet();
    let set = policies();
    // Route rules, evaluated per route; `audit` below runs every subject.
    let rules: Vec<_> = set
        .enabled()
        .map(|(_, r)| r)
        .filter(|r| r.info.subject == Subject::Route)
        .collect();
    let pairs = (inventory.route_count() * rules.len()) as u64;
    let mut group = c.benchmark_group("evaluate_10k_routes");
    group.throughput(Throughput::Elements(pairs));

    group.bench_function("floor", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for api in &inventory.apis {
                for route in &api.routes {
                    for rule in &rules {
                        n += usize::from(route.authorization_type() == &*rule.info.id);
                    }
                }
            }
            black_box(n)
        });
    });

    group.bench_function("evaluate", |b| {
        b.iter(|| {
            let mut violations = 0usize;
            for api in &inventory.apis {
                let ctx = Context::of(api);
                for route in &api.routes {
                    let ctx = ctx.route(black_box(route));
                    for rule in &rules {
                        violations += usize::from(rule.violated_by(&ctx));
                    }
                }
            }
            black_box(violations)
        });
    });

    let today = time::macros::date!(2026 - 06 - 01);
    group.bench_function("audit", |b| {
        b.iter(|| {
            let mut findings = Vec::new();
            for api in &inventory.apis {
                set.evaluate(api, today, &mut findings);
            }
            black_box(findings.len())
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

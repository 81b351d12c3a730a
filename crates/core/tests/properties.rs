//! Properties of the policy language, over random conditions and routes:
//! `not` inverts, `all` and `any` compose as `and` and `or`, a table of keys is
//! `all` of them, and shorthands equal their operator forms. Conditions are
//! written as TOML and compiled by the real loader.

use std::collections::BTreeMap;

use proptest::prelude::*;
use routewarden_core::inventory::{Api, Route};
use routewarden_core::policy::{Context, PolicySet};

/// Whether `condition` (an inline TOML table) holds for the route.
fn holds(condition: &str, route: &Route, api: &Api) -> bool {
    let text = format!(
        "[[rules]]\nid = \"P\"\ntitle = \"p\"\nseverity = \"low\"\nrequire = {condition}\n"
    );
    let set =
        PolicySet::load_str("property.toml", &text).unwrap_or_else(|e| panic!("{condition}: {e}"));
    !set.rules[0].violated_by(&Context::of(api).route(route))
}

fn leaf() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec!["GET", "POST", "ANY", "OPTIONS", "$default"])
            .prop_map(|m| format!("{{ method = \"{m}\" }}")),
        prop::sample::subsequence(vec!["GET", "POST", "ANY"], 0..3)
            .prop_map(|ms| format!("{{ method = {{ in = {ms:?} }} }}")),
        prop::sample::select(vec!["NONE", "JWT", "AWS_IAM", "CUSTOM"])
            .prop_map(|a| format!("{{ authorization_type = {{ ne = \"{a}\" }} }}")),
        prop::sample::select(vec!["^/a", "b$", "^/$", "x"])
            .prop_map(|re| format!("{{ path = {{ matches = \"{re}\" }} }}")),
        prop::sample::select(vec!["^/a", "b$"])
            .prop_map(|re| format!("{{ path = {{ not_matches = \"{re}\" }} }}")),
        prop::sample::select(vec!["GET /*", "* /a*", "?*", "$default"])
            .prop_map(|g| format!("{{ route_key = {{ glob = \"{g}\" }} }}")),
        any::<bool>().prop_map(|b| format!("{{ authorizer_id = {{ exists = {b} }} }}")),
        any::<bool>().prop_map(|b| format!("{{ api_key_required = {b} }}")),
        prop::sample::select(vec!["a", "b", "z"])
            .prop_map(|s| format!("{{ authorization_scopes = {{ contains = \"{s}\" }} }}")),
        (0usize..3).prop_map(|n| format!("{{ authorization_scopes = {{ min_len = {n} }} }}")),
        prop::sample::subsequence(vec!["a", "b", "c"], 0..3)
            .prop_map(|s| format!("{{ authorization_scopes = {{ subset_of = {s:?} }} }}")),
        prop::sample::select(vec!["prod", "dev"])
            .prop_map(|e| format!("{{ api.tags.env = \"{e}\" }}")),
        prop::sample::select(vec!["HTTP", "WEBSOCKET"])
            .prop_map(|p| format!("{{ api.protocol_type = {{ not_in = [\"{p}\"] }} }}")),
    ]
}

fn condition() -> impl Strategy<Value = String> {
    leaf().prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|c| format!("{{ not = {c} }}")),
            prop::collection::vec(inner.clone(), 0..3)
                .prop_map(|cs| format!("{{ all = [{}] }}", cs.join(", "))),
            prop::collection::vec(inner, 0..3)
                .prop_map(|cs| format!("{{ any = [{}] }}", cs.join(", "))),
        ]
    })
}

fn route() -> impl Strategy<Value = Route> {
    (
        prop::sample::select(vec![
            "GET /a",
            "POST /a/b",
            "ANY /{proxy+}",
            "OPTIONS /a",
            "$default",
            "GET /",
        ]),
        prop::option::of(prop::sample::select(vec![
            "NONE", "JWT", "AWS_IAM", "CUSTOM",
        ])),
        prop::option::of(prop::sample::select(vec!["", "auth1"])),
        prop::option::of(prop::sample::subsequence(vec!["a", "b", "c"], 0..3)),
        prop::option::of(any::<bool>()),
    )
        .prop_map(|(key, auth, authorizer, scopes, api_key)| Route {
            route_key: key.to_owned(),
            authorization_type: auth.map(Into::into),
            authorizer_id: authorizer.map(Into::into),
            authorization_scopes: scopes.map(|s| s.into_iter().map(Into::into).collect()),
            api_key_required: api_key,
            ..Route::default()
        })
}

fn api() -> impl Strategy<Value = Api> {
    (
        prop::option::of(prop::sample::select(vec!["HTTP", "WEBSOCKET"])),
        prop::option::of(prop::sample::select(vec!["prod", "dev"])),
    )
        .prop_map(|(protocol, env)| Api {
            api_id: "a1".into(),
            protocol_type: protocol.map(Into::into),
            tags: env.map(|e| BTreeMap::from([("env".to_owned(), e.to_owned())])),
            ..Api::default()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn not_inverts(c in condition(), r in route(), a in api()) {
        prop_assert_eq!(holds(&format!("{{ not = {c} }}"), &r, &a), !holds(&c, &r, &a));
    }

    #[test]
    fn all_and_any_compose(x in condition(), y in condition(), r in route(), a in api()) {
        let (hx, hy) = (holds(&x, &r, &a), holds(&y, &r, &a));
        prop_assert_eq!(holds(&format!("{{ all = [{x}, {y}] }}"), &r, &a), hx && hy);
        prop_assert_eq!(holds(&format!("{{ any = [{x}, {y}] }}"), &r, &a), hx || hy);
        let (empty_all, empty_any) = (holds("{ all = [] }", &r, &a), holds("{ any = [] }", &r, &a));
        prop_assert!(empty_all, "all of nothing holds");
        prop_assert!(!empty_any, "any of nothing does not");
    }

    #[test]
    fn a_table_of_keys_is_all_of_them(m in prop::sample::select(vec!["GET", "POST", "ANY"]), auth in prop::sample::select(vec!["NONE", "JWT"]), r in route(), a in api()) {
        let both = format!("{{ method = \"{m}\", authorization_type = \"{auth}\" }}");
        let all = format!("{{ all = [{{ method = \"{m}\" }}, {{ authorization_type = \"{auth}\" }}] }}");
        prop_assert_eq!(holds(&both, &r, &a), holds(&all, &r, &a));
    }

    #[test]
    fn shorthands_equal_operators(
        m in prop::sample::select(vec!["GET", "POST", "ANY", "$default"]),
        ms in prop::sample::subsequence(vec!["GET", "POST", "ANY", "OPTIONS"], 0..4),
        b in any::<bool>(),
        r in route(),
        a in api(),
    ) {
        prop_assert_eq!(holds(&format!("{{ method = \"{m}\" }}"), &r, &a), holds(&format!("{{ method = {{ eq = \"{m}\" }} }}"), &r, &a));
        prop_assert_eq!(holds(&format!("{{ method = {ms:?} }}"), &r, &a), holds(&format!("{{ method = {{ in = {ms:?} }} }}"), &r, &a));
        prop_assert_eq!(holds(&format!("{{ api_key_required = {b} }}"), &r, &a), holds(&format!("{{ api_key_required = {{ eq = {b} }} }}"), &r, &a));
        prop_assert_eq!(holds(&format!("{{ api.tags.env = \"{m}\" }}"), &r, &a), holds(&format!("{{ api.tags.env = {{ eq = \"{m}\" }} }}"), &r, &a));
    }
}

/// Fleet files over random inventories, pretty or compact, UTF-8, UTF-8 with
/// a BOM or UTF-16: the streaming reader yields what a whole-text parse
/// yields, and every route's line is the line of its `"RouteKey"`.
mod fleet_files {
    use super::*;
    use routewarden_core::diag::Diagnostics;
    use routewarden_core::inventory::{self, Inventory};

    fn inventory() -> impl Strategy<Value = Inventory> {
        prop::collection::vec(
            (
                api(),
                prop::collection::vec(route(), 0..6),
                "[a-z0-9]{1,10}",
            ),
            0..5,
        )
        .prop_map(|apis| Inventory {
            apis: apis
                .into_iter()
                .enumerate()
                .map(|(i, (mut api, routes, id))| {
                    api.api_id = format!("{id}{i}").into();
                    // Distinct keys: a route is found again by its key.
                    api.routes = routes
                        .into_iter()
                        .enumerate()
                        .map(|(n, mut r)| {
                            r.route_key = format!("{} /r{n}", r.method());
                            r
                        })
                        .collect();
                    api
                })
                .collect(),
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn streaming_reads_what_a_whole_parse_reads(inv in inventory(), pretty in any::<bool>(), encoding in 0u8..3) {
            let text = if pretty {
                inv.to_json()
            } else {
                serde_json::to_string(&inv).unwrap()
            };
            let bytes: Vec<u8> = match encoding {
                0 => text.clone().into_bytes(),
                1 => [0xEF, 0xBB, 0xBF].into_iter().chain(text.bytes()).collect(),
                _ => [0xFF, 0xFE]
                    .into_iter()
                    .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
                    .collect(),
            };
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("fleet.json");
            std::fs::write(&path, bytes).unwrap();
            let mut diags = Diagnostics::new();
            let (streamed, _) = inventory::load_routes_file(&mut diags, &path)
                .unwrap_or_else(|| panic!("{}", diags.render(false)));
            let file = diags.add_file("fleet.json", text.clone());
            let parsed = inventory::parse_routes(&mut diags, file, "fleet").unwrap();
            prop_assert_eq!(&streamed, &parsed);
            let lines: Vec<&str> = text.lines().collect();
            for api in &streamed {
                for route in &api.routes {
                    let location = api.location_of(route).unwrap();
                    let line = lines[location.line as usize - 1];
                    let needle = format!("\"RouteKey\":{}", if pretty { " " } else { "" });
                    prop_assert!(line.contains(&format!("{needle}\"{}\"", route.route_key)) || !pretty,
                        "line {} is {line:?}, not {}", location.line, route.route_key);
                    if !pretty {
                        prop_assert_eq!(location.line, 1);
                    }
                }
            }
        }
    }
}

use std::path::{Path, PathBuf};

use super::*;
use crate::iac::{Options, load};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/iac/terraform")
        .join(name)
}

fn plan(name: &str) -> (Read, String) {
    let read = load(&[fixture(name)], &Options::default())
        .unwrap_or_else(|err| panic!("{}", err.0.render(false)));
    let text = std::fs::read_to_string(fixture(name)).unwrap();
    (read, text)
}

/// The line and column of the object whose first `"address"` is `address`
/// (in `planned_values`, which comes first).
fn object_of(text: &str, address: &str) -> (Option<u32>, Option<u32>) {
    let needle = format!("\"address\": {}", serde_json::to_string(address).unwrap());
    let at = text[..text.find(&needle).unwrap()].rfind('{').unwrap();
    let line = text[..at].matches('\n').count() + 1;
    let column = at - text[..at].rfind('\n').map_or(0, |n| n + 1) + 1;
    (Some(line as u32), Some(column as u32))
}

fn api<'r>(read: &'r Read, id: &str) -> &'r Api {
    read.apis
        .iter()
        .find(|a| &*a.api_id == id)
        .unwrap_or_else(|| panic!("no API {id}"))
}

fn route<'a>(api: &'a Api, key: &str) -> &'a Route {
    api.routes
        .iter()
        .find(|r| r.route_key == key)
        .unwrap_or_else(|| panic!("no route {key} in {}", api.api_id))
}

fn keys(api: &Api) -> Vec<&str> {
    api.routes.iter().map(|r| r.route_key.as_str()).collect()
}

fn marked<'a>(api: &'a Api, part: Part, key: &str, field: &str) -> Option<&'a str> {
    api.unknown
        .iter()
        .find(|u| u.part == part && u.key == key && u.field == field)
        .map(|u| u.reason.as_str())
}

#[test]
fn an_http_api_its_parts_and_a_for_each_module() {
    let (read, text) = plan("http-api.plan.json");
    let ids: Vec<&str> = read.apis.iter().map(|a| &*a.api_id).collect();
    assert_eq!(
        ids,
        [
            "aws_apigatewayv2_api.http",
            r#"module.edge["eu"].aws_apigatewayv2_api.this"#,
            r#"module.edge["us"].aws_apigatewayv2_api.this"#,
        ]
    );
    let http = api(&read, "aws_apigatewayv2_api.http");
    assert_eq!(http.name.as_deref(), Some("orders"));
    assert_eq!(http.protocol_type.as_deref(), Some("HTTP"));
    assert_eq!(http.tags.as_ref().unwrap()["team"], "orders");
    assert!(
        http.target_name
            .as_deref()
            .is_some_and(|t| t.ends_with("http-api.plan.json"))
    );
    let origin = http.origin.0.as_deref().unwrap();
    assert_eq!(
        (Some(origin.line), origin.column),
        object_of(&text, "aws_apigatewayv2_api.http")
    );

    assert_eq!(
        keys(http),
        ["GET /public", "GET /items", "$default", "OPTIONS /items"]
    );
    let auth = |key: &str| route(http, key).authorization_type.as_deref();
    assert_eq!(auth("GET /public"), Some("NONE"));
    assert_eq!(auth("GET /items"), Some("JWT"));
    assert_eq!(auth("$default"), Some("JWT"));
    assert_eq!(auth("OPTIONS /items"), Some("NONE"));

    // Ids known after apply join through the configuration's references.
    let authorizer = |route: &Route| {
        let id = route.authorizer_id.as_deref().unwrap();
        http.authorizers
            .iter()
            .flatten()
            .find(|a| a.authorizer_id == id)
            .unwrap_or_else(|| panic!("no authorizer {id}"))
            .clone()
    };
    let items = route(http, "GET /items");
    assert_eq!(
        items.authorizer_id.as_deref(),
        Some("aws_apigatewayv2_authorizer.cognito")
    );
    assert_eq!(
        items.authorization_scopes,
        Some(vec!["orders/read".to_owned()])
    );
    let cognito = authorizer(items);
    assert_eq!(cognito.authorizer_type.as_deref(), Some("JWT"));
    assert_eq!(
        cognito.jwt_configuration.unwrap().audience,
        Some(vec!["orders-api".to_owned()])
    );
    let anyone = authorizer(route(http, "$default"));
    assert_eq!(anyone.authorizer_id, "aws_apigatewayv2_authorizer.anyone");
    assert_eq!(anyone.jwt_configuration.unwrap().audience, Some(vec![]));
    for route in &http.routes {
        assert_eq!(
            route.target.as_deref(),
            Some("integrations/aws_apigatewayv2_integration.legacy"),
            "{}",
            route.route_key
        );
    }
    let legacy = &http.integrations.as_deref().unwrap()[0];
    assert_eq!(legacy.integration_id, "aws_apigatewayv2_integration.legacy");
    assert_eq!(legacy.integration_type.as_deref(), Some("HTTP_PROXY"));
    assert_eq!(
        legacy.integration_uri.as_deref(),
        Some("http://legacy.example.com/orders")
    );
    let stage = &http.stages.as_deref().unwrap()[0];
    assert_eq!(stage.stage_name, "$default");
    assert_eq!(stage.auto_deploy, Some(true));
    assert!(stage.access_log_settings.is_none());

    // What only apply tells is unknown; nothing a route rule reads is.
    for field in ["route_key", "authorization_type", "authorizer_id", "target"] {
        assert!(
            http.unknown
                .iter()
                .all(|u| u.part != Part::Route || u.field != field),
            "{:?}",
            http.unknown
        );
    }
    assert!(
        marked(
            http,
            Part::Authorizer,
            "aws_apigatewayv2_authorizer.cognito",
            "authorizer.result_ttl_seconds"
        )
        .is_some_and(|r| r.contains("known after apply"))
    );
    assert!(marked(http, Part::Stage, "$default", "stage.deployment_id").is_some());
    assert!(marked(http, Part::Api, "", "api.endpoint").is_some());

    let line = items.line;
    assert_eq!(
        (line.0, line.1),
        object_of(&text, "aws_apigatewayv2_route.items")
    );

    for region in ["eu", "us"] {
        let address = format!(r#"module.edge["{region}"].aws_apigatewayv2_api.this"#);
        let edge = api(&read, &address);
        assert_eq!(edge.name.as_deref(), Some(&*format!("edge-{region}")));
        assert_eq!(keys(edge), ["GET /health"]);
        let line = edge.routes[0].line;
        assert_eq!(
            (line.0, line.1),
            object_of(
                &text,
                &format!(r#"module.edge["{region}"].aws_apigatewayv2_route.health"#)
            )
        );
    }
}

#[test]
fn an_unsupported_format_version_is_an_error_at_its_value() {
    let err = load(&[fixture("unsupported.plan.json")], &Options::default()).unwrap_err();
    let problem = &err.0.problems()[0];
    assert_eq!(
        problem.message,
        "unsupported Terraform JSON format_version 2.0: routewarden reads 1.x"
    );
    let position = err.0.position(problem);
    assert!(
        position.ends_with("unsupported.plan.json:2:21"),
        "{position}"
    );
}

#[test]
fn values_known_after_apply_are_unknown_and_known_ids_join() {
    let (read, _) = plan("values-known-after-apply.plan.json");
    // The route whose API comes from a `local` is not audited.
    assert_eq!(read.apis.len(), 1);
    let legacy = api(&read, "aws_apigatewayv2_api.legacy");
    assert_eq!(
        legacy.api_endpoint.as_deref(),
        Some("https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com")
    );
    assert_eq!(marked(legacy, Part::Api, "", "api.endpoint"), None);
    assert_eq!(keys(legacy), ["POST /admin"]);
    let admin = route(legacy, "POST /admin");
    // From a data source read at apply: neither NONE nor JWT.
    assert_eq!(admin.authorization_type, None);
    let reason = marked(legacy, Part::Route, "POST /admin", "authorization_type").unwrap();
    assert_eq!(
        reason,
        "aws_apigatewayv2_route.admin.authorization_type is known after apply"
    );
    // Existing resources' ids are known: they name the plan's resources.
    assert_eq!(
        admin.authorizer_id.as_deref(),
        Some("aws_apigatewayv2_authorizer.staff")
    );
    assert!(
        legacy
            .authorizers
            .iter()
            .flatten()
            .any(|a| a.authorizer_id == "aws_apigatewayv2_authorizer.staff")
    );
    assert_eq!(
        admin.target.as_deref(),
        Some("integrations/aws_apigatewayv2_integration.staff")
    );
}

#[test]
fn references_through_count_module_variables_and_outputs() {
    let (read, _) = plan("references.plan.json");
    assert_eq!(
        keys(api(&read, "aws_apigatewayv2_api.tenant[0]")),
        ["GET /"]
    );
    assert_eq!(
        keys(api(&read, "aws_apigatewayv2_api.tenant[1]")),
        ["GET /", "GET /status"]
    );
    assert_eq!(
        keys(api(&read, "module.shared.aws_apigatewayv2_api.this")),
        ["GET /shared"]
    );
}

#[test]
fn an_openapi_body_quick_create_and_a_body_known_after_apply() {
    let (read, text) = plan("body-and-quick-create.plan.json");
    let unread: Vec<&str> = read.unread.iter().map(|u| &*u.api.api_id).collect();
    assert_eq!(unread, ["aws_apigatewayv2_api.generated"]);
    assert!(read.unread[0].reason.contains("known after apply"));

    let catalog = api(&read, "aws_apigatewayv2_api.catalog");
    assert_eq!(catalog.name.as_deref(), Some("catalog"));
    assert_eq!(keys(catalog), ["GET /products", "POST /products"]);
    let get = route(catalog, "GET /products");
    assert_eq!(get.authorization_type.as_deref(), Some("JWT"));
    assert_eq!(get.authorizer_id.as_deref(), Some("jwt"));
    assert_eq!(
        get.authorization_scopes,
        Some(vec!["catalog/read".to_owned()])
    );
    assert_eq!(
        route(catalog, "POST /products")
            .authorization_type
            .as_deref(),
        Some("NONE")
    );
    let jwt = &catalog.authorizers.as_deref().unwrap()[0];
    assert_eq!(
        jwt.jwt_configuration.as_ref().unwrap().audience,
        Some(vec!["catalog".to_owned()])
    );
    // Positions inside the body string are the resource's.
    assert_eq!(
        (get.line.0, get.line.1),
        object_of(&text, "aws_apigatewayv2_api.catalog")
    );

    let quick = api(&read, "aws_apigatewayv2_api.quick");
    assert_eq!(keys(quick), ["$default"]);
    assert_eq!(quick.routes[0].api_gateway_managed, Some(true));
    assert_eq!(quick.routes[0].authorization_type.as_deref(), Some("NONE"));
    assert!(
        marked(quick, Part::Integration, "quick-create", "integration.uri")
            .is_some_and(|r| r.contains("aws_apigatewayv2_api.quick.target"))
    );
}

#[test]
fn addresses_parse_with_quoted_keys() {
    assert_eq!(
        module_path(r#"module.a["x.y]"].module.b[0]"#),
        [
            ("a".to_owned(), r#"["x.y]"]"#.to_owned()),
            ("b".to_owned(), "[0]".to_owned())
        ]
    );
    assert!(matches!(
        reference(r#"aws_apigatewayv2_api.this["eu"].id"#),
        Some(Reference::Resource {
            kind: "aws_apigatewayv2_api",
            name: "this",
            key: Some(r#"["eu"]"#)
        })
    ));
    assert!(matches!(
        reference("module.api.id"),
        Some(Reference::Output {
            call: "api",
            key: None,
            output: "id"
        })
    ));
    assert!(reference("data.aws_apigatewayv2_api.x.id").is_none());
}

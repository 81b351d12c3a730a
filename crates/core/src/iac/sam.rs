//! SAM templates: `AWS::Serverless::HttpApi` and the `HttpApi` events of
//! `AWS::Serverless::Function`, read as SAM's translator makes them.
//!
//! The translator turns each HTTP API into an `AWS::ApiGatewayV2::Api`
//! whose routes, authorizers and CORS live in an OpenAPI `Body`, and a stage
//! beside it. This module writes that body as the translator does
//! (`Globals.HttpApi` merged in; the `DefinitionBody`, or SAM's skeleton;
//! each event's route and Lambda integration; `Auth.Authorizers` as security
//! schemes; the default authorizer on every integrated operation that names
//! none; CORS, tags, name) and hands it to [`openapi::build`], which reads
//! every body: a SAM template and its translation give the same APIs. What
//! it adds to a body carries the position of what the template wrote (an
//! event's key, an authorizer's), so findings point at the SAM template.
//!
//! Not read: REST APIs (`AWS::Serverless::Api`, API Gateway v1), custom
//! domains, and what the inventory has no place for (`RouteSettings`,
//! `StageVariables`). `AWS::Serverless::WebSocketApi` is reported unread.

use std::collections::BTreeMap;

use super::cfn::{Template, Unknowns, new_api, stage_of};
use super::node::{Key, Node, Value};
use super::{Doc, Unreadable, cfn, openapi};
use crate::inventory::{Api, Part};

/// Whether a template's `Transform` includes SAM's.
pub fn is_sam(root: &Node) -> bool {
    const SAM: &str = "AWS::Serverless-2016-10-31";
    match root.get("Transform") {
        Some(t) => t.text() == Some(SAM) || t.items().iter().any(|i| i.text() == Some(SAM)),
        None => false,
    }
}

const HTTP_API: &str = "AWS::Serverless::HttpApi";
/// The API of the events that name none.
pub(super) const IMPLICIT: &str = "ServerlessHttpApi";
const ANY_METHOD: &str = "x-amazon-apigateway-any-method";
const INTEGRATION: &str = "x-amazon-apigateway-integration";
const AUTHORIZER: &str = "x-amazon-apigateway-authorizer";
const CORS: &str = "x-amazon-apigateway-cors";
const DEFAULT_PATH: &str = "$default";
const NONEXISTENT: &str = "a reference to a resource that does not exist";

/// Adds the serverless APIs of a SAM template to `apis` (by logical id);
/// those whose routes are not in the template (`DefinitionUri`) go to
/// `unread`. Runs before the `AWS::ApiGatewayV2::*` parts are read, so that
/// a route or stage may belong to a serverless API.
pub fn read(
    doc: &mut Doc,
    template: &Template<'_>,
    apis: &mut BTreeMap<String, Api>,
    unread: &mut Vec<Unreadable>,
) {
    for translated in translate(doc, template) {
        let mut api = new_api(template, doc, &translated.logical, translated.at);
        if translated.exists.is_none() {
            cfn::mark_conditional(&mut api);
        }
        match &translated.body {
            Body::Inline(body) => openapi::build(doc, body, &mut api),
            Body::Unread(reason) => {
                unread.push(Unreadable {
                    api,
                    reason: reason.clone(),
                });
                continue;
            }
        }
        add_stage(doc, &translated, &mut api);
        apis.insert(translated.logical, api);
    }
    for logical in template.of_type("AWS::Serverless::WebSocketApi") {
        let (key, resource) = template.resources[logical];
        if template.exists(doc, resource) == Some(false) {
            continue;
        }
        let mut api = new_api(template, doc, logical, key.at);
        api.protocol_type = Some("WEBSOCKET".into());
        unread.push(Unreadable {
            api,
            reason: "routewarden does not read AWS::Serverless::WebSocketApi yet (audit the template SAM translates it to)".to_owned(),
        });
    }
}

/// An HTTP API as the translator leaves it.
struct Translated {
    logical: String,
    /// Where it is defined: its key, or the first event of the implicit API.
    at: usize,
    exists: Option<bool>,
    /// Its properties, resolved, with `Globals.HttpApi` merged in.
    props: Node,
    body: Body,
    /// SAM writes the whole body (there is no `DefinitionBody`), so two
    /// events may not add the same route.
    managed: bool,
}

enum Body {
    /// Inline: the `DefinitionBody` or SAM's skeleton, as SAM edits it.
    Inline(Node),
    /// Not in the template, or not known before deploy: why.
    Unread(String),
}

/// Every HTTP API of the template with its body as the translator writes
/// it: functions' events first, then each API's own settings (the
/// translator's order, which decides what the default authorizer covers).
fn translate(doc: &mut Doc, template: &Template<'_>) -> Vec<Translated> {
    let globals = Globals::read(doc, template);
    let (events, implicit_tags) = events(doc, template, &globals);
    let mut apis = Vec::new();
    for logical in template.of_type(HTTP_API) {
        let (key, resource) = template.resources[logical];
        let exists = template.exists(doc, resource);
        if exists == Some(false) {
            continue;
        }
        let props = globals.merged(resource, template.properties(doc, resource));
        apis.push(declared(doc, template, logical, key.at, exists, props));
    }
    let implicit: Vec<&Event<'_>> = events.iter().filter(|e| e.api == IMPLICIT).collect();
    if let Some(first) = implicit.first()
        && template.kind(IMPLICIT).is_none()
    {
        // The implicit API exists when one of its routes does: always,
        // unless every event's function has a condition not known yet.
        let exists = if implicit.iter().all(|e| e.condition.is_some()) {
            None
        } else {
            Some(true)
        };
        let at = first.key.at;
        let own = if implicit_tags.is_empty() {
            mapping(at, Vec::new())
        } else {
            mapping(at, vec![("Tags", Node::new(Value::Map(implicit_tags), at))])
        };
        let props = match &globals.http_api {
            Some(global) => merge(global, &own),
            None => own,
        };
        apis.push(Translated {
            logical: IMPLICIT.to_owned(),
            at,
            exists,
            body: Body::Inline(skeleton(doc, template, at)),
            props,
            managed: true,
        });
    }
    for event in &events {
        if let Some(api) = apis.iter_mut().find(|a| a.logical == event.api) {
            add_event(doc, template, api, event);
        }
    }
    for api in &mut apis {
        finish(doc, template, api);
    }
    apis
}

/// An explicit `AWS::Serverless::HttpApi`, before its events.
fn declared(
    doc: &mut Doc,
    template: &Template<'_>,
    logical: &str,
    at: usize,
    exists: Option<bool>,
    props: Node,
) -> Translated {
    let (body, managed) = match (props.get("DefinitionBody"), props.get("DefinitionUri")) {
        (Some(_), Some(uri)) => {
            doc.error(
                uri.at,
                format!("`{logical}` has both `DefinitionUri` and `DefinitionBody`"),
                "specify one of them",
            );
            (Body::Unread("its definition is ambiguous".to_owned()), false)
        }
        (None, Some(_)) => (
            Body::Unread(
                "its routes are in the OpenAPI definition at DefinitionUri, which is not read before deploy"
                    .to_owned(),
            ),
            false,
        ),
        (Some(body), None) => match body.unknown_reason() {
            Some(reason) => (
                Body::Unread(format!(
                    "its OpenAPI body is not known before deploy: {reason}"
                )),
                false,
            ),
            None => (Body::Inline(body.clone()), false),
        },
        (None, None) => (Body::Inline(skeleton(doc, template, at)), true),
    };
    Translated {
        logical: logical.to_owned(),
        at,
        exists,
        props,
        body,
        managed,
    }
}

/// The body SAM starts from when the template gives none: no paths, and
/// the stack's name as title.
fn skeleton(doc: &mut Doc, template: &Template<'_>, at: usize) -> Node {
    mapping(
        at,
        vec![
            ("openapi", string("3.0.1", at)),
            (
                "info",
                mapping(
                    at,
                    vec![
                        ("version", string("1.0", at)),
                        ("title", stack_name(doc, template, at)),
                    ],
                ),
            ),
            ("paths", mapping(at, Vec::new())),
        ],
    )
}

/// `!Ref AWS::StackName`, resolved as CloudFormation would (unknown).
fn stack_name(doc: &mut Doc, template: &Template<'_>, at: usize) -> Node {
    let reference = Node {
        value: Value::Str("AWS::StackName".into()),
        tag: Some("Ref".into()),
        at,
    };
    template.eval(doc, &reference)
}

/// Whether a body is one SAM edits: `openapi: 3.x` and a `paths` mapping.
fn is_openapi(body: &Node) -> bool {
    let version = body.get("openapi").and_then(Node::text).unwrap_or_default();
    let mut parts = version.split('.');
    let major = parts.next() == Some("3");
    let rest: Vec<&str> = parts.collect();
    let minor = matches!(rest.len(), 1 | 2)
        && rest
            .iter()
            .all(|p| p.len() == 1 && p.chars().all(|c| c.is_ascii_digit()));
    major && minor && body.get("paths").is_some_and(Node::is_map)
}

/// `Globals`: what SAM merges into every HTTP API, and what reaches the
/// implicit API from `Globals.Function`.
struct Globals {
    http_api: Option<Node>,
    function_tags: Option<Node>,
    function_propagate: bool,
}

impl Globals {
    fn read(doc: &mut Doc, template: &Template<'_>) -> Globals {
        let section = template.root.get("Globals");
        let http_api = section
            .and_then(|g| g.get("HttpApi"))
            .map(|n| template.eval(doc, n));
        let function = section.and_then(|g| g.get("Function"));
        let function_tags = function
            .and_then(|f| f.get("Tags"))
            .map(|n| template.eval(doc, n));
        let function_propagate = function
            .and_then(|f| f.get("PropagateTags"))
            .is_some_and(|n| template.eval(doc, n).boolean() == Some(true));
        Globals {
            http_api,
            function_tags,
            function_propagate,
        }
    }

    /// An HTTP API's properties with the globals it does not ignore
    /// (`IgnoreGlobals: "*"` or a list of names).
    fn merged(&self, resource: &Node, props: Node) -> Node {
        let Some(global) = &self.http_api else {
            return props;
        };
        match resource.get("IgnoreGlobals") {
            Some(ignore) if ignore.text() == Some("*") => props,
            Some(ignore) => {
                let ignored: Vec<&str> = ignore.items().iter().filter_map(Node::text).collect();
                let kept = global
                    .entries()
                    .iter()
                    .filter(|(k, _)| !ignored.contains(&&*k.name))
                    .cloned()
                    .collect();
                merge(&Node::new(Value::Map(kept), global.at), &props)
            }
            None => merge(global, &props),
        }
    }
}

/// SAM's merge of a global value into a resource's: mappings merge key by
/// key, lists concatenate (global first), anything else is the resource's.
fn merge(global: &Node, local: &Node) -> Node {
    let unknown = global.unknown_reason().is_some() || local.unknown_reason().is_some();
    match (&global.value, &local.value) {
        (Value::Map(globals), Value::Map(locals)) if !unknown => {
            let mut out = globals.clone();
            for (key, value) in locals {
                match out.iter_mut().find(|(k, _)| k.name == key.name) {
                    Some(entry) => *entry = (key.clone(), merge(&entry.1, value)),
                    None => out.push((key.clone(), value.clone())),
                }
            }
            Node::new(Value::Map(out), local.at)
        }
        (Value::Seq(globals), Value::Seq(locals)) if !unknown => Node::new(
            Value::Seq(globals.iter().chain(locals).cloned().collect()),
            local.at,
        ),
        _ => local.clone(),
    }
}

/// An `HttpApi` event of a function.
struct Event<'n> {
    key: &'n Key,
    function: &'n str,
    /// Its function's condition, when it is not known before deploy.
    condition: Option<&'n str>,
    /// The logical id of its API.
    api: String,
    path: String,
    /// Lower case; `ANY` is `x-amazon-apigateway-any-method`.
    method: String,
    /// Its `Properties`, resolved.
    props: Node,
}

/// The `HttpApi` events of every function that may exist, in template
/// order, and the tags functions give the implicit API (`PropagateTags`).
fn events<'n>(
    doc: &mut Doc,
    template: &Template<'n>,
    globals: &Globals,
) -> (Vec<Event<'n>>, Vec<(Key, Node)>) {
    let mut out = Vec::new();
    let mut implicit_tags: Vec<(Key, Node)> = Vec::new();
    for function in template.of_type("AWS::Serverless::Function") {
        let (_, resource) = template.resources[function];
        let condition = match template.exists(doc, resource) {
            Some(false) => continue,
            Some(true) => None,
            None => resource.get("Condition").and_then(Node::text),
        };
        let Some(events) = resource.get("Properties").and_then(|p| p.get("Events")) else {
            continue;
        };
        for (key, event) in events.entries() {
            if event.get("Type").and_then(Node::text) != Some("HttpApi") {
                continue;
            }
            let raw = event.get("Properties");
            // `ApiId` is read as written (SAM wants a `Ref`), not resolved:
            // a reference to nothing is reported once, below.
            let props = match raw {
                Some(p) => {
                    let mut p = p.clone();
                    if let Value::Map(entries) = &mut p.value {
                        entries.retain(|(k, _)| &*k.name != "ApiId");
                    }
                    template.eval(doc, &p)
                }
                None => Node::new(Value::Map(Vec::new()), key.at),
            };
            if !props.is_map() {
                doc.error(
                    props.at,
                    format!("the `Properties` of event `{}` must be a mapping", key.name),
                    "",
                );
                continue;
            }
            let Some(api) = event_api(doc, template, key, raw.and_then(|p| p.get("ApiId"))) else {
                continue;
            };
            if raw.and_then(|p| p.get("ApiId")).is_none() {
                propagate_tags(doc, template, resource, globals, &mut implicit_tags);
            }
            let Some((path, method)) = route_of(doc, key, &props) else {
                continue;
            };
            out.push(Event {
                key,
                function,
                condition,
                api,
                path,
                method,
                props,
            });
        }
    }
    (out, implicit_tags)
}

/// The API an event names: `ApiId: !Ref X` (or `X`), or the implicit API.
fn event_api(
    doc: &mut Doc,
    template: &Template<'_>,
    key: &Key,
    api_id: Option<&Node>,
) -> Option<String> {
    let Some(node) = api_id else {
        return Some(IMPLICIT.to_owned());
    };
    let Some(name) = reference(node) else {
        doc.error(
            node.at,
            format!(
                "`ApiId` of event `{}` must be a `!Ref` to an AWS::Serverless::HttpApi of this template",
                key.name
            ),
            "",
        );
        return None;
    };
    match template.kind(name) {
        Some(HTTP_API) => Some(name.to_owned()),
        None if name == IMPLICIT => Some(IMPLICIT.to_owned()),
        Some(kind) => {
            doc.error(
                node.at,
                format!(
                    "`ApiId` of event `{}` names `{name}`, a {kind}, not an AWS::Serverless::HttpApi",
                    key.name
                ),
                "",
            );
            None
        }
        None => {
            doc.error(
                node.at,
                format!(
                    "`ApiId` of event `{}` names `{name}`, which is not a resource of this template",
                    key.name
                ),
                NONEXISTENT,
            );
            None
        }
    }
}

/// The logical id a `Ref` (short or long form) or a plain string names.
fn reference(node: &Node) -> Option<&str> {
    match (node.tag.as_deref(), node.entries()) {
        (Some("Ref"), _) => node.text(),
        (None, [(key, value)]) if &*key.name == "Ref" => value.text(),
        (None, _) => node.text(),
        _ => None,
    }
}

/// SAM gives the implicit API the tags of a function that propagates them.
fn propagate_tags(
    doc: &mut Doc,
    template: &Template<'_>,
    function: &Node,
    globals: &Globals,
    tags: &mut Vec<(Key, Node)>,
) {
    let props = function.get("Properties");
    let own = |key: &str| props.and_then(|p| p.get(key));
    let propagate = match own("PropagateTags") {
        Some(node) => template.eval(doc, node).boolean() == Some(true),
        None => false,
    } || globals.function_propagate;
    let own_tags = own("Tags").map(|t| template.eval(doc, t));
    let given = own_tags
        .filter(truthy)
        .or_else(|| globals.function_tags.clone());
    if let (true, Some(given)) = (propagate, given) {
        for (key, value) in given.entries() {
            match tags.iter_mut().find(|(k, _)| k.name == key.name) {
                Some(entry) => entry.1 = value.clone(),
                None => tags.push((key.clone(), value.clone())),
            }
        }
    }
}

/// An event's path and method: both, or neither (the `$default` route).
fn route_of(doc: &mut Doc, key: &Key, props: &Node) -> Option<(String, String)> {
    let text = |doc: &mut Doc, field: &str| -> Option<Option<String>> {
        let Some(node) = props.get(field) else {
            return Some(None);
        };
        match node.text() {
            Some(text) => Some(Some(text.to_owned())),
            None => {
                doc.error(
                    node.at,
                    format!(
                        "the `{field}` of event `{}` must be text SAM can read ({})",
                        key.name,
                        node.unknown_reason().unwrap_or("it is not a string")
                    ),
                    "",
                );
                None
            }
        }
    };
    let path = text(doc, "Path")?;
    let method = text(doc, "Method")?;
    match (path, method) {
        (None, None) => Some((DEFAULT_PATH.to_owned(), ANY_METHOD.to_owned())),
        (Some(path), Some(method)) => Some((path, normalize(&method))),
        (path, _) => {
            let missing = if path.is_none() { "Path" } else { "Method" };
            doc.error(
                key.at,
                format!("event `{}` has no `{missing}`", key.name),
                "an HttpApi event has both `Path` and `Method`, or neither (the $default route)",
            );
            None
        }
    }
}

/// A method as SAM writes it in a body: lower case, `ANY` as API
/// Gateway's extension.
fn normalize(method: &str) -> String {
    let lower = method.to_ascii_lowercase();
    if lower == "any" {
        ANY_METHOD.to_owned()
    } else {
        lower
    }
}

/// Adds an event's route to its API's body: its path and method, a Lambda
/// proxy integration when the operation has none, its `Auth`, timeout,
/// path parameters and payload format version.
fn add_event(doc: &mut Doc, template: &Template<'_>, api: &mut Translated, event: &Event<'_>) {
    let Translated {
        props,
        body,
        managed,
        ..
    } = api;
    let Body::Inline(body) = body else {
        return;
    };
    if !is_openapi(body) {
        doc.error(
            event.key.at,
            format!(
                "event `{}` adds a route to `{}`, whose DefinitionBody is not an OpenAPI 3 definition",
                event.key.name, event.api
            ),
            "a DefinitionBody has `openapi: 3.x` and `paths`",
        );
        return;
    }
    let at = event.key.at;
    let (path, method) = (event.path.as_str(), event.method.as_str());
    let integrated = body
        .get("paths")
        .and_then(|p| p.get(path))
        .and_then(|p| p.get(method))
        .is_some_and(has_integration);
    if integrated && *managed {
        doc.error(
            at,
            format!(
                "event `{}` of `{}`: method {} of path {path} is defined by another event too",
                event.key.name,
                event.function,
                display_method(method)
            ),
            "each route of an API comes from one event",
        );
        return;
    }
    let security = event_security(doc, props, event);
    let Some(operation) = child(body, "paths", at)
        .and_then(|paths| child(paths, path, at))
        .and_then(|item| {
            if item
                .get(method)
                .is_some_and(|m| matches!(m.value, Value::Null))
            {
                set(item, method, at, Node::new(Value::Map(Vec::new()), at));
            }
            child(item, method, at)
        })
    else {
        // A path or method the template leaves unknown (`!If` on a
        // condition not known yet): SAM edits its branches, which are
        // unknown all the same.
        return;
    };
    if !integrated {
        let uri = Node::unknown(
            format!(
                "the integration invokes function {}, whose ARN is known after deploy",
                event.function
            ),
            at,
        );
        let integration = mapping(
            at,
            vec![
                ("type", string("aws_proxy", at)),
                ("httpMethod", string("POST", at)),
                ("payloadFormatVersion", string("2.0", at)),
                ("uri", uri),
            ],
        );
        set(operation, INTEGRATION, at, integration);
        if path == DEFAULT_PATH && method == ANY_METHOD {
            set(
                operation,
                "isDefaultRoute",
                at,
                Node::new(Value::Bool(true), at),
            );
        }
        if operation.get("responses").is_none() {
            set(operation, "responses", at, mapping(at, Vec::new()));
        }
    }
    let existing = operation.get("security");
    if let Some(requirement) = security
        && existing.is_none_or(|s| s.unknown_reason().is_none())
    {
        let mut list = existing.map(|s| s.items().to_vec()).unwrap_or_default();
        list.push(requirement);
        set(operation, "security", at, Node::new(Value::Seq(list), at));
    }
    if let Some(integration) = child(operation, INTEGRATION, at) {
        for (field, name) in [
            ("TimeoutInMillis", "timeoutInMillis"),
            ("PayloadFormatVersion", "payloadFormatVersion"),
        ] {
            if let Some(value) = event.props.get(field).filter(|v| truthy(v)) {
                set(integration, name, value.at, value.clone());
            }
        }
    }
    add_path_parameters(operation, path, at);
    if !integrated && let Some(condition) = event.condition {
        // SAM wraps the operation in `Fn::If [condition, operation,
        // AWS::NoValue]`; CloudFormation resolves it so.
        let wrapped = Node {
            value: Value::Seq(vec![
                string(condition, at),
                operation.clone(),
                Node {
                    value: Value::Str("AWS::NoValue".into()),
                    tag: Some("Ref".into()),
                    at,
                },
            ]),
            tag: Some("If".into()),
            at,
        };
        *operation = template.eval(doc, &wrapped);
    }
}

/// `GET`, or `ANY` for API Gateway's extension, for messages.
fn display_method(method: &str) -> String {
    if method == ANY_METHOD {
        "ANY".to_owned()
    } else {
        method.to_ascii_uppercase()
    }
}

/// The security requirement an event's `Auth` gives its operation
/// (`{authorizer: scopes}`), checked as SAM checks it; `None` without `Auth`.
fn event_security(doc: &mut Doc, api: &Node, event: &Event<'_>) -> Option<Node> {
    let auth = event.props.get("Auth").filter(|a| truthy(a))?;
    if !auth.is_map() {
        doc.error(
            auth.at,
            format!(
                "the `Auth` of event `{}` must be a mapping SAM can read ({})",
                event.key.name,
                auth.unknown_reason().unwrap_or("it is not a mapping")
            ),
            "SAM reads a route's authorizer before deploy",
        );
        return None;
    }
    let api_auth = api.get("Auth");
    let default = api_auth
        .and_then(|a| a.get("DefaultAuthorizer"))
        .filter(|d| truthy(d));
    let route = format!(
        "{} {}",
        display_method(&event.method),
        if event.path == DEFAULT_PATH {
            "$default"
        } else {
            &event.path
        }
    );
    let Some(chosen) = auth.get("Authorizer").filter(|a| truthy(a)).or(default) else {
        doc.error(
            auth.at,
            format!(
                "the `Auth` of event `{}` names no `Authorizer`, and `{}` has no `DefaultAuthorizer`",
                event.key.name, event.api
            ),
            "",
        );
        return None;
    };
    let Some(name) = chosen.text() else {
        doc.error(
            chosen.at,
            format!(
                "the authorizer of event `{}` must be a name SAM can read",
                event.key.name
            ),
            "",
        );
        return None;
    };
    let authorizers = api_auth.and_then(|a| a.get("Authorizers"));
    let config = authorizers.and_then(|a| a.get(name));
    let iam = api_auth
        .and_then(|a| a.get("EnableIamAuthorizer"))
        .is_some_and(|e| matches!(e.value, Value::Bool(true)));
    if name == "NONE" {
        if default.is_none() {
            doc.error(
                chosen.at,
                format!(
                    "`Authorizer: NONE` on route {route} of `{}` needs a `DefaultAuthorizer` on the API to override",
                    event.api
                ),
                "",
            );
            return None;
        }
    } else if !(name == "AWS_IAM" && iam) && config.is_none() {
        doc.error(
            chosen.at,
            format!(
                "authorizer `{name}` of route {route} is not one of the `Auth.Authorizers` of `{}`",
                event.api
            ),
            if name == "AWS_IAM" {
                "AWS_IAM needs `EnableIamAuthorizer: true` on the API"
            } else {
                ""
            },
        );
        return None;
    }
    let own = auth.get("AuthorizationScopes").filter(|s| truthy(s));
    if let Some(scopes) = own
        && !matches!(scopes.value, Value::Seq(_))
        && scopes.unknown_reason().is_none()
    {
        doc.error(
            scopes.at,
            format!(
                "the `AuthorizationScopes` of event `{}` must be a list",
                event.key.name
            ),
            "",
        );
        return None;
    }
    let at = chosen.at;
    let scopes = if name == "NONE" || name == "AWS_IAM" {
        None
    } else {
        own.or_else(|| config?.get("AuthorizationScopes").filter(|s| truthy(s)))
    };
    let scopes = scopes
        .cloned()
        .unwrap_or_else(|| Node::new(Value::Seq(Vec::new()), at));
    Some(mapping(at, vec![(name, scopes)]))
}

/// SAM's path parameters: each `{name}` of the path is a required
/// parameter of the operation.
fn add_path_parameters(operation: &mut Node, path: &str, at: usize) {
    let names: Vec<&str> = path
        .split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
        .collect();
    let unknown = operation
        .get("parameters")
        .is_some_and(|p| p.unknown_reason().is_some());
    if names.is_empty() || !operation.is_map() || unknown {
        return;
    }
    let mut parameters = operation
        .get("parameters")
        .map(|p| p.items().to_vec())
        .unwrap_or_default();
    for name in names {
        let existing = parameters
            .iter_mut()
            .find(|p| p.get("name").and_then(Node::text) == Some(name));
        match existing {
            Some(parameter) => {
                set(parameter, "in", at, string("path", at));
                set(parameter, "required", at, Node::new(Value::Bool(true), at));
            }
            None => parameters.push(mapping(
                at,
                vec![
                    ("name", string(name, at)),
                    ("in", string("path", at)),
                    ("required", Node::new(Value::Bool(true), at)),
                ],
            )),
        }
    }
    set(
        operation,
        "parameters",
        at,
        Node::new(Value::Seq(parameters), at),
    );
}

/// What SAM does to a body after the events, in its order: CORS, `Auth`
/// (security schemes, default authorizer), tags, the endpoint setting,
/// name and description, and with `FailOnWarnings` the `/$default` path.
fn finish(doc: &mut Doc, template: &Template<'_>, api: &mut Translated) {
    let Translated {
        logical,
        at,
        props,
        body,
        managed,
        ..
    } = api;
    let Body::Inline(body) = body else {
        return;
    };
    if !is_openapi(body) {
        // SAM leaves a body it cannot edit as it is; so does this, and
        // the OpenAPI reader says what is wrong with it.
        return;
    }
    add_cors(doc, props, body);
    add_auth(doc, logical, props, body);
    add_tags(doc, props, body, *at);
    if let Some(disable) = props.get("DisableExecuteApiEndpoint")
        && body
            .get("servers")
            .is_none_or(|s| s.unknown_reason().is_none())
    {
        let servers = body
            .get("servers")
            .map(|s| s.items().to_vec())
            .unwrap_or_else(|| vec![mapping(disable.at, Vec::new())]);
        let servers = servers
            .into_iter()
            .map(|mut server| {
                if let Some(config) = child(
                    &mut server,
                    "x-amazon-apigateway-endpoint-configuration",
                    disable.at,
                ) {
                    set(
                        config,
                        "disableExecuteApiEndpoint",
                        disable.at,
                        disable.clone(),
                    );
                }
                server
            })
            .collect();
        set(
            body,
            "servers",
            disable.at,
            Node::new(Value::Seq(servers), disable.at),
        );
    }
    if let Some(name) = props.get("Name").filter(|n| truthy(n)) {
        let default = stack_name(doc, template, name.at);
        if let Some(info) = child(body, "info", name.at) {
            let title = info.get("title");
            if title.and_then(Node::unknown_reason) == default.unknown_reason() {
                set(info, "title", name.at, name.clone());
            } else {
                doc.error(
                    name.at,
                    format!("`{logical}` has a `Name` and its DefinitionBody an `info.title`"),
                    "SAM sets the title from Name only when the body leaves it to the stack name",
                );
            }
        }
    }
    if let Some(description) = props.get("Description").filter(|d| truthy(d))
        && let Some(info) = child(body, "info", description.at)
    {
        if info.get("description").is_some_and(truthy) {
            doc.error(
                description.at,
                format!(
                    "`{logical}` has a `Description` and its DefinitionBody an `info.description`"
                ),
                "",
            );
        } else {
            set(info, "description", description.at, description.clone());
        }
    }
    if props.get("FailOnWarnings").is_some_and(truthy)
        && let Some(paths) = entries_mut(body, "paths")
        && let Some(i) = paths.iter().position(|(k, _)| &*k.name == DEFAULT_PATH)
    {
        let (key, item) = paths.remove(i);
        let key = Key {
            name: format!("/{DEFAULT_PATH}").into(),
            at: key.at,
        };
        paths.push((key, item));
    }
    if *managed && let Some(paths) = entries_mut(body, "paths") {
        // SAM makes a path conditional when every method on it is: with
        // none of the conditions known, the path may be absent too.
        for (_, item) in paths.iter_mut() {
            let methods = item.entries();
            if methods.is_empty() || !methods.iter().all(|(_, m)| m.may_be_absent()) {
                continue;
            }
            let mut reasons: Vec<&str> = methods
                .iter()
                .filter_map(|(_, m)| m.unknown_reason())
                .collect();
            reasons.sort_unstable();
            reasons.dedup();
            *item = Node::maybe_absent(reasons.join("; "), item.at);
        }
    }
}

/// `CorsConfiguration`: `true` allows every origin; a mapping sets the
/// fields it gives, over the body's `x-amazon-apigateway-cors`.
fn add_cors(doc: &mut Doc, props: &Node, body: &mut Node) {
    let Some(config) = props.get("CorsConfiguration").filter(|c| truthy(c)) else {
        return;
    };
    let at = config.at;
    if config.unknown_reason().is_some() {
        set(body, CORS, at, config.clone());
        return;
    }
    let mut fields: Vec<(&str, Node)> = Vec::new();
    match &config.value {
        Value::Bool(true) => fields.push(("allowOrigins", list(at, vec![string("*", at)]))),
        Value::Map(entries) => {
            for (key, value) in entries {
                let field = match &*key.name {
                    "AllowOrigins" => "allowOrigins",
                    "AllowHeaders" => "allowHeaders",
                    "AllowMethods" => "allowMethods",
                    "ExposeHeaders" => "exposeHeaders",
                    "MaxAge" => "maxAge",
                    "AllowCredentials" => "allowCredentials",
                    other => {
                        doc.error(
                            key.at,
                            format!("`{other}` is not a field of `CorsConfiguration`"),
                            "AllowOrigins, AllowHeaders, AllowMethods, ExposeHeaders, MaxAge or AllowCredentials",
                        );
                        continue;
                    }
                };
                let kept = match field {
                    "maxAge" => !matches!(value.value, Value::Null),
                    "allowCredentials" => matches!(value.value, Value::Bool(true)),
                    _ => truthy(value),
                };
                if kept {
                    fields.push((field, value.clone()));
                }
            }
            let wildcard = fields.iter().any(|(f, v)| {
                *f == "allowOrigins" && v.items().len() == 1 && v.items()[0].text() == Some("*")
            });
            if wildcard && fields.iter().any(|(f, _)| *f == "allowCredentials") {
                doc.error(
                    at,
                    "`AllowCredentials: true` cannot go with `AllowOrigins: ['*']`",
                    "SAM rejects it: browsers never send credentials to a wildcard origin",
                );
            }
        }
        _ => {
            doc.error(
                at,
                format!(
                    "`CorsConfiguration` must be true or a mapping, not {}",
                    config.kind()
                ),
                "",
            );
            return;
        }
    }
    if let Some(cors) = child(body, CORS, at) {
        for (field, value) in fields {
            set(cors, field, value.at, value);
        }
    }
}

/// `Auth`: the authorizers become security schemes (over the body's of the
/// same name), and the default authorizer is the security of every
/// integrated operation that has none (OPTIONS excepted).
fn add_auth(doc: &mut Doc, logical: &str, props: &Node, body: &mut Node) {
    let Some(auth) = props.get("Auth").filter(|a| truthy(a)) else {
        return;
    };
    if !auth.is_map() {
        doc.error(
            auth.at,
            format!(
                "the `Auth` of `{logical}` must be a mapping SAM can read ({})",
                auth.unknown_reason().unwrap_or("it is not a mapping")
            ),
            "SAM reads the authorizers before deploy",
        );
        return;
    }
    for (key, _) in auth.entries() {
        if !["Authorizers", "DefaultAuthorizer", "EnableIamAuthorizer"].contains(&&*key.name) {
            doc.error(
                key.at,
                format!("`{}` is not a field of the `Auth` of an HttpApi", key.name),
                "Authorizers, DefaultAuthorizer or EnableIamAuthorizer",
            );
        }
    }
    let mut schemes: Vec<(Key, Node)> = Vec::new();
    if let Some(iam) = auth
        .get("EnableIamAuthorizer")
        .filter(|e| matches!(e.value, Value::Bool(true)))
    {
        let at = iam.at;
        schemes.push((
            Key {
                name: "AWS_IAM".into(),
                at,
            },
            mapping(
                at,
                vec![
                    ("type", string("apiKey", at)),
                    ("name", string("Authorization", at)),
                    ("in", string("header", at)),
                    ("x-amazon-apigateway-authtype", string("awsSigv4", at)),
                ],
            ),
        ));
    }
    let authorizers = auth.get("Authorizers").filter(|a| truthy(a));
    if let Some(authorizers) = authorizers {
        if !authorizers.is_map() {
            doc.error(
                authorizers.at,
                format!("the `Auth.Authorizers` of `{logical}` must be a mapping"),
                "",
            );
        }
        for (key, config) in authorizers.entries() {
            if let Some(scheme) = scheme(doc, key, config) {
                schemes.retain(|(k, _)| k.name != key.name);
                schemes.push((key.clone(), scheme));
            }
        }
    }
    if !schemes.is_empty()
        && let Some(components) = child(body, "components", auth.at)
        && let Some(existing) = child(components, "securitySchemes", auth.at)
    {
        for (key, scheme) in &schemes {
            set(existing, &key.name, key.at, scheme.clone());
        }
    }
    let Some(default) = auth.get("DefaultAuthorizer").filter(|d| truthy(d)) else {
        return;
    };
    let Some(name) = default.text() else {
        doc.error(
            default.at,
            format!("the `DefaultAuthorizer` of `{logical}` must be a name SAM can read"),
            "",
        );
        return;
    };
    if !schemes.iter().any(|(k, _)| &*k.name == name) {
        // An authorizer SAM rejects is reported as such.
        if authorizers.and_then(|a| a.get(name)).is_none() {
            doc.error(
                default.at,
                format!(
                    "`DefaultAuthorizer: {name}` of `{logical}` is not one of its `Auth.Authorizers`"
                ),
                "",
            );
        }
        return;
    }
    let scopes = authorizers
        .and_then(|a| a.get(name))
        .and_then(|c| c.get("AuthorizationScopes"))
        .filter(|s| !matches!(s.value, Value::Null))
        .cloned()
        .unwrap_or_else(|| Node::new(Value::Seq(Vec::new()), default.at));
    let requirement = list(default.at, vec![mapping(default.at, vec![(name, scopes)])]);
    let Some(paths) = entries_mut(body, "paths") else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Value::Map(methods) = &mut item.value else {
            continue;
        };
        let names: Vec<Box<str>> = methods.iter().map(|(k, _)| k.name.clone()).collect();
        for (key, operation) in methods.iter_mut() {
            let method = normalize(&key.name);
            if method == "parameters" || method == "options" {
                continue;
            }
            if !names.iter().any(|n| **n == *method) {
                // `any` and `GET` are not keys SAM can find again.
                doc.error(
                    key.at,
                    format!(
                        "method `{}` of path {} is not one SAM can give the default authorizer (write `{method}`)",
                        key.name, path.name
                    ),
                    "",
                );
                continue;
            }
            let open = operation.is_map()
                && has_integration(operation)
                && !operation.get("security").is_some_and(truthy);
            if open {
                let at = operation.at;
                let mut requirement = requirement.clone();
                requirement.at = at;
                set(operation, "security", at, requirement);
            }
        }
    }
}

/// An authorizer of `Auth.Authorizers` as the security scheme SAM writes:
/// a JWT authorizer (`JwtConfiguration`, `IdentitySource`) or a Lambda
/// authorizer (`FunctionArn`, `AuthorizerPayloadFormatVersion`, `Identity`,
/// ...); `None`, with the problem reported, where SAM rejects it.
fn scheme(doc: &mut Doc, key: &Key, config: &Node) -> Option<Node> {
    const JWT: [&str; 3] = ["AuthorizationScopes", "JwtConfiguration", "IdentitySource"];
    const LAMBDA: [&str; 6] = [
        "FunctionArn",
        "FunctionInvokeRole",
        "Identity",
        "AuthorizerPayloadFormatVersion",
        "EnableSimpleResponses",
        "EnableFunctionDefaultPermissions",
    ];
    let name = &key.name;
    if !config.is_map() {
        doc.error(
            config.at,
            format!("authorizer `{name}` must be a mapping"),
            "",
        );
        return None;
    }
    if let Some(url) = config.get("OpenIdConnectUrl") {
        doc.error(
            url.at,
            format!("authorizer `{name}`: SAM no longer supports `OpenIdConnectUrl`"),
            "give the issuer in JwtConfiguration",
        );
        return None;
    }
    let jwt = config.get("JwtConfiguration").filter(|j| truthy(j));
    let (kind, foreign) = match jwt {
        Some(_) => ("OAuth2 (JWT)", LAMBDA.as_slice()),
        None => ("Lambda", JWT.as_slice()),
    };
    let present = |field: &str| {
        config
            .get(field)
            .filter(|v| !matches!(v.value, Value::Null))
    };
    for field in foreign {
        if let Some(value) = present(field) {
            doc.error(
                value.at,
                format!("authorizer `{name}` is a {kind} authorizer, which has no `{field}`"),
                if *field == "IdentitySource" {
                    "a Lambda authorizer's identity sources are under `Identity`"
                } else {
                    ""
                },
            );
            return None;
        }
    }
    let required = |doc: &mut Doc, field: &str| {
        let value = config.get(field).filter(|v| truthy(v));
        if value.is_none() {
            doc.error(
                key.at,
                format!("{kind} authorizer `{name}` has no `{field}`"),
                "",
            );
        }
        value
    };
    let at = config.at;
    if let Some(jwt) = jwt {
        let identity = required(doc, "IdentitySource")?;
        // SAM lower-cases the keys, so `Audience` and `audience` both work.
        let lowered = match &jwt.value {
            Value::Map(entries) if jwt.unknown_reason().is_none() => Node::new(
                Value::Map(
                    entries
                        .iter()
                        .map(|(k, v)| {
                            let key = Key {
                                name: k.name.to_lowercase().into(),
                                at: k.at,
                            };
                            (key, v.clone())
                        })
                        .collect(),
                ),
                jwt.at,
            ),
            _ => jwt.clone(),
        };
        return Some(mapping(
            at,
            vec![
                ("type", string("oauth2", at)),
                (
                    AUTHORIZER,
                    mapping(
                        at,
                        vec![
                            ("jwtConfiguration", lowered),
                            ("identitySource", identity.clone()),
                            ("type", string("jwt", at)),
                        ],
                    ),
                ),
            ],
        ));
    }
    let arn = required(doc, "FunctionArn");
    let version = required(doc, "AuthorizerPayloadFormatVersion");
    let (arn, version) = (arn?, version?);
    let uri = Node::unknown(
        match arn.unknown_reason() {
            Some(reason) => reason.to_owned(),
            None => "the authorizer's URI names the region, known at deploy".to_owned(),
        },
        arn.at,
    );
    let mut fields = vec![("type", string("request", at)), ("authorizerUri", uri)];
    if let Some(role) = config
        .get("FunctionInvokeRole")
        .filter(|r| truthy(r) && r.text() != Some("NONE"))
    {
        fields.push(("authorizerCredentials", role.clone()));
    }
    if let Some(identity) = config.get("Identity").filter(|i| truthy(i)) {
        if let Some(ttl) = identity
            .get("ReauthorizeEvery")
            .filter(|t| !matches!(t.value, Value::Null))
        {
            fields.push(("authorizerResultTtlInSeconds", ttl.clone()));
        }
        fields.push(("identitySource", identity_source(doc, name, identity)?));
    }
    fields.push(("authorizerPayloadFormatVersion", version.clone()));
    if let Some(simple) = config.get("EnableSimpleResponses").filter(|s| truthy(s)) {
        fields.push(("enableSimpleResponses", simple.clone()));
    }
    Some(mapping(
        at,
        vec![
            ("type", string("apiKey", at)),
            ("name", string("Unused", at)),
            ("in", string("header", at)),
            (AUTHORIZER, mapping(at, fields)),
        ],
    ))
}

/// A Lambda authorizer's `Identity` as API Gateway's identity sources:
/// `Headers: [Authorization]` is `$request.header.Authorization`.
fn identity_source(doc: &mut Doc, name: &str, identity: &Node) -> Option<Node> {
    let mut sources = Vec::new();
    for (prefix, field) in [
        ("$request.header.", "Headers"),
        ("$request.querystring.", "QueryStrings"),
        ("$stageVariables.", "StageVariables"),
        ("$context.", "Context"),
    ] {
        let Some(values) = identity.get(field).filter(|v| truthy(v)) else {
            continue;
        };
        if let Some(reason) = values.unknown_reason() {
            return Some(Node::unknown(reason, values.at));
        }
        for value in values.items() {
            if let Some(reason) = value.unknown_reason() {
                return Some(Node::unknown(reason, value.at));
            }
            let Some(text) = value.text() else {
                doc.error(
                    value.at,
                    format!("`Identity.{field}` of authorizer `{name}` must be a list of names"),
                    "",
                );
                return None;
            };
            sources.push(string(&format!("{prefix}{text}"), value.at));
        }
    }
    Some(list(identity.at, sources))
}

/// `Tags`, and the `httpapi:createdBy: SAM` tag SAM adds to every HTTP API
/// whose body it writes: the body's tags and the stage's.
fn tags_of(props: &Node, at: usize) -> Vec<(Key, Node)> {
    let mut tags: Vec<(Key, Node)> = props
        .get("Tags")
        .map(|t| t.entries().to_vec())
        .unwrap_or_default();
    tags.retain(|(k, _)| &*k.name != "httpapi:createdBy");
    tags.push((
        Key {
            name: "httpapi:createdBy".into(),
            at,
        },
        string("SAM", at),
    ));
    tags
}

/// The tags as the body's `tags` (`name`, `x-amazon-apigateway-tag-value`),
/// over those it has.
fn add_tags(doc: &mut Doc, props: &Node, body: &mut Node, at: usize) {
    let tags = tags_of(props, at);
    let Some(list) = child_with(body, "tags", at, || Node::new(Value::Seq(Vec::new()), at)) else {
        return;
    };
    let Value::Seq(items) = &mut list.value else {
        doc.error(
            list.at,
            format!(
                "the `tags` of a DefinitionBody must be a list, not {}",
                list.kind()
            ),
            "SAM adds its own tags to the list",
        );
        return;
    };
    for (key, value) in tags {
        let existing = items
            .iter_mut()
            .find(|t| t.get("name").and_then(Node::text) == Some(&*key.name));
        match existing {
            Some(tag) => set(tag, "x-amazon-apigateway-tag-value", value.at, value),
            None => items.push(mapping(
                key.at,
                vec![
                    ("name", string(&key.name, key.at)),
                    ("x-amazon-apigateway-tag-value", value),
                ],
            )),
        }
    }
}

/// The stage SAM adds beside the API: `StageName` (`$default` unless
/// given), auto-deployed, with the API's access log and route settings and
/// tags.
fn add_stage(doc: &mut Doc, translated: &Translated, api: &mut Api) {
    let (props, at) = (&translated.props, translated.at);
    let mut unknown = Unknowns::default();
    let logical = &translated.logical;
    let name = match props.get("StageName") {
        None => Some(DEFAULT_PATH.to_owned()),
        Some(_) => unknown.string(props, "StageName", "stage.name"),
    };
    // The stage's logical id, as SAM makes it (a name it cannot read gets
    // a hash there; here the plain prefix).
    let stage = match name.as_deref() {
        Some(DEFAULT_PATH) => format!("{logical}ApiGatewayDefaultStage"),
        Some(name) if name.chars().all(|c| c.is_ascii_alphanumeric()) => {
            format!("{logical}{name}Stage")
        }
        _ => format!("{logical}Stage"),
    };
    let name = name.unwrap_or_else(|| stage.clone());
    let mut fields: Vec<(&str, Node)> = Vec::new();
    for field in ["AccessLogSettings", "DefaultRouteSettings"] {
        if let Some(value) = props.get(field) {
            fields.push((field, value.clone()));
        }
    }
    fields.push(("Tags", Node::new(Value::Map(tags_of(props, at)), at)));
    fields.push(("AutoDeploy", Node::new(Value::Bool(true), at)));
    if translated.exists.is_none() {
        unknown.note(
            "*",
            format!(
                "{stage} exists only when its condition holds, which is not known before deploy"
            ),
            false,
        );
    }
    let stage = stage_of(&name, &mapping(at, fields), &mut unknown, doc.line(at));
    unknown.mark_on(api, Part::Stage, &name);
    api.stages.get_or_insert_with(Vec::new).push(stage);
}

/// Whether an operation has an integration (SAM adds its own only where
/// there is none, and the default authorizer only where there is one).
fn has_integration(operation: &Node) -> bool {
    operation.get(INTEGRATION).is_some_and(truthy)
}

/// Python's truth, which SAM's checks use: empty text, lists and
/// mappings, `false`, `0` and null are false; an unknown value is true
/// (the translator saw an intrinsic function there).
fn truthy(node: &Node) -> bool {
    if node.unknown_reason().is_some() {
        return true;
    }
    match &node.value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Num(n) => n.parse::<f64>() != Ok(0.0),
        Value::Str(s) => !s.is_empty(),
        Value::Seq(items) => !items.is_empty(),
        Value::Map(entries) => !entries.is_empty(),
    }
}

// What SAM adds to a body, written where `at` is in the template.

fn string(text: &str, at: usize) -> Node {
    Node::new(Value::Str(text.into()), at)
}

fn list(at: usize, items: Vec<Node>) -> Node {
    Node::new(Value::Seq(items), at)
}

fn mapping(at: usize, entries: Vec<(&str, Node)>) -> Node {
    Node::new(
        Value::Map(
            entries
                .into_iter()
                .map(|(name, value)| {
                    (
                        Key {
                            name: name.into(),
                            at,
                        },
                        value,
                    )
                })
                .collect(),
        ),
        at,
    )
}

/// Sets `key` of a mapping (in place when present, last otherwise).
fn set(node: &mut Node, key: &str, at: usize, value: Node) {
    if let Value::Map(entries) = &mut node.value {
        match entries.iter_mut().find(|(k, _)| &*k.name == key) {
            Some(entry) => entry.1 = value,
            None => entries.push((
                Key {
                    name: key.into(),
                    at,
                },
                value,
            )),
        }
    }
}

/// The entries of the mapping at `key` of a mapping, to edit.
fn entries_mut<'a>(node: &'a mut Node, key: &str) -> Option<&'a mut Vec<(Key, Node)>> {
    let Value::Map(entries) = &mut node.value else {
        return None;
    };
    match &mut entries.iter_mut().find(|(k, _)| &*k.name == key)?.1.value {
        Value::Map(inner) => Some(inner),
        _ => None,
    }
}

/// The mapping at `key` of a mapping, added empty when absent; `None` when
/// either is not a mapping (an unknown value, a list).
fn child<'a>(node: &'a mut Node, key: &str, at: usize) -> Option<&'a mut Node> {
    child_with(node, key, at, || Node::new(Value::Map(Vec::new()), at)).filter(|c| c.is_map())
}

/// The value at `key` of a mapping, added as `empty()` when absent or null.
fn child_with<'a>(
    node: &'a mut Node,
    key: &str,
    at: usize,
    empty: impl FnOnce() -> Node,
) -> Option<&'a mut Node> {
    if node.unknown_reason().is_some() {
        return None;
    }
    let Value::Map(entries) = &mut node.value else {
        return None;
    };
    let index = match entries.iter().position(|(k, _)| &*k.name == key) {
        Some(i) => {
            if matches!(entries[i].1.value, Value::Null) {
                entries[i].1 = empty();
            }
            i
        }
        None => {
            entries.push((
                Key {
                    name: key.into(),
                    at,
                },
                empty(),
            ));
            entries.len() - 1
        }
    };
    Some(&mut entries[index].1)
}

#[cfg(test)]
mod tests;

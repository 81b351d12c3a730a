//! Terraform plans (`terraform show -json PLAN`, format 1.x): the
//! `aws_apigatewayv2_*` resources of every module instance, `count` and
//! `for_each` instances included, as APIs whose ids are their resource
//! addresses (`module.edge["eu"].aws_apigatewayv2_api.this`).
//!
//! A plan leaves the ids of new resources "known after apply". Where the
//! plan's `configuration` says which resource a route's `api_id`,
//! `authorizer_id` or `target` refers to (directly, through a module's input
//! variable or through a module's output), the reference resolves to that
//! resource's address, so that routes join their API, authorizer and
//! integration as they will live. Any other value known only after apply is
//! unknown. Not followed: data sources, `local` values and `dynamic` blocks,
//! whose values the plan's configuration does not hold.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::cfn::{self, Unknowns};
use super::node::{self, Key, Node, Value};
use super::{Doc, Read, Unreadable};
use crate::inventory::{
    AccessLogSettings, Api, Authorizer, Cors, Integration, JwtConfiguration, ParameterConstraints,
    Part, Route, RouteSettings, Stage, TlsConfig,
};

const API: &str = "aws_apigatewayv2_api";
const AUTHORIZER: &str = "aws_apigatewayv2_authorizer";
const INTEGRATION: &str = "aws_apigatewayv2_integration";
const ROUTE: &str = "aws_apigatewayv2_route";
const STAGE: &str = "aws_apigatewayv2_stage";

/// How deep references are followed through module variables and outputs
/// (a cycle ends here rather than overflowing the stack).
const DEPTH: usize = 16;

/// A plan's APIs with their parts. An API whose `body` is known only after
/// apply is unread; a part whose API the plan does not define, or does not
/// name, is not audited (a warning says which).
pub fn read(doc: &mut Doc, root: &Node, read: &mut Read) {
    if !supported(doc, root) {
        return;
    }
    let Some(planned) = root.get("planned_values") else {
        doc.error(
            root.entries().first().map_or(root.at, |(k, _)| k.at),
            "a Terraform plan without planned_values",
            "`terraform show -json PLAN` writes planned_values; a state's JSON is not a plan",
        );
        return;
    };
    let plan = Plan::new(root, planned);
    let mut apis = BTreeMap::new();
    // APIs whose routes are not known: their parts are not audited either.
    let mut unread = HashSet::new();
    for instance in plan.of_type(API) {
        match api_of(doc, instance, read) {
            Some(api) => {
                apis.insert(instance.address, api);
            }
            None => {
                unread.insert(instance.address);
            }
        }
    }
    for kind in [AUTHORIZER, INTEGRATION, ROUTE, STAGE] {
        for instance in plan.of_type(kind) {
            let Some(address) = owner(doc, &plan, instance) else {
                continue;
            };
            let Some(api) = apis.get_mut(address.as_str()) else {
                if !unread.contains(address.as_str()) {
                    tracing::warn!(
                        file = %doc.path,
                        resource = instance.address,
                        api = address,
                        "not audited: the API it belongs to is not defined in this plan"
                    );
                }
                continue;
            };
            match kind {
                AUTHORIZER => authorizer(doc, instance, api),
                INTEGRATION => integration(doc, instance, api),
                ROUTE => route(doc, &plan, instance, api),
                _ => stage(doc, instance, api),
            }
        }
    }
    read.apis.extend(apis.into_values());
}

/// The address of the API a part belongs to (its `api_id`); `None` where
/// the plan does not say which API that is: such a part is not audited (a
/// warning says so), as a CloudFormation part of an API outside its
/// template is not.
fn owner(doc: &mut Doc, plan: &Plan<'_>, instance: &Instance<'_>) -> Option<String> {
    match plan.id(instance, "api_id", API) {
        Ok(Some(address)) => Some(address),
        Ok(None) => {
            doc.error(
                instance.at,
                format!("`{}` has no api_id", instance.address),
                "every API Gateway v2 part names its API",
            );
            None
        }
        Err(reason) => {
            tracing::warn!(
                file = %doc.path,
                resource = instance.address,
                reason,
                "not audited: the plan does not say which API it belongs to"
            );
            None
        }
    }
}

/// Terraform's JSON output promises compatibility within a major version:
/// 1.x is read, any other is refused (its meaning may have changed).
fn supported(doc: &mut Doc, root: &Node) -> bool {
    let version = root.get("format_version");
    let text = version.and_then(Node::text);
    if text.is_some_and(|v| v == "1" || v.starts_with("1.")) {
        return true;
    }
    doc.error(
        version.map_or(root.at, |v| v.at),
        format!(
            "unsupported Terraform JSON format_version {}: routewarden reads 1.x",
            text.unwrap_or("(none)")
        ),
        "plans of Terraform 1.x (`terraform show -json PLAN`) have format_version 1.N",
    );
    false
}

/// A module instance: each module call's name and instance key (`[0]`,
/// `["eu"]`, or empty), from the root.
type ModulePath = Vec<(String, String)>;

/// An API Gateway resource instance of the plan.
struct Instance<'n> {
    address: &'n str,
    kind: &'n str,
    name: &'n str,
    module: ModulePath,
    /// Its own instance key: `[0]`, `["eu"]`, or empty.
    key: &'n str,
    /// Where its object is in the plan's `planned_values`: where findings
    /// point.
    at: usize,
    /// Its planned values, with what is known only after apply unknown and
    /// nulls (unset) left out.
    values: Node,
}

/// The API Gateway resources of a plan and its configuration.
struct Plan<'n> {
    instances: Vec<Instance<'n>>,
    /// The ids the plan knows (of resources that exist already), by type:
    /// (type, id) → address.
    ids: HashMap<(&'n str, &'n str), &'n str>,
    /// `configuration.root_module`.
    config: Option<&'n Node>,
}

/// Where an expression is evaluated: a module instance and the instance
/// key of what holds it, which `count.index` and `each.key` stand for.
struct Scope {
    module: ModulePath,
    key: String,
}

impl<'n> Plan<'n> {
    fn new(root: &'n Node, planned: &'n Node) -> Plan<'n> {
        // Only the current object of each instance: deposed ones are being
        // destroyed.
        let after_unknown: HashMap<&str, &Node> = root
            .get("resource_changes")
            .map_or(&[][..], Node::items)
            .iter()
            .filter(|change| change.get("deposed").is_none())
            .filter_map(|change| {
                let address = change.get("address").and_then(Node::text)?;
                Some((address, change.get("change")?.get("after_unknown")?))
            })
            .collect();
        let mut plan = Plan {
            instances: Vec::new(),
            ids: HashMap::new(),
            config: root.get("configuration").and_then(|c| c.get("root_module")),
        };
        if let Some(module) = planned.get("root_module") {
            plan.walk(module, "", &after_unknown);
        }
        plan
    }

    /// A module of `planned_values` and its child modules.
    fn walk(&mut self, module: &'n Node, address: &str, after_unknown: &HashMap<&str, &'n Node>) {
        let path = module_path(address);
        for resource in module.get("resources").map_or(&[][..], Node::items) {
            let text = |key: &str| resource.get(key).and_then(Node::text);
            let (Some("managed"), Some(kind), Some(name), Some(own)) =
                (text("mode"), text("type"), text("name"), text("address"))
            else {
                continue;
            };
            if !kind.starts_with("aws_apigatewayv2_") {
                continue;
            }
            let base = if address.is_empty() {
                format!("{kind}.{name}")
            } else {
                format!("{address}.{kind}.{name}")
            };
            let empty = Node::new(Value::Map(Vec::new()), resource.at);
            let values = after_apply(
                resource.get("values").unwrap_or(&empty),
                after_unknown.get(own).copied(),
                own,
                resource.at,
            );
            if let Some(id) = resource
                .get("values")
                .and_then(|v| v.get("id"))
                .and_then(Node::text)
            {
                self.ids.insert((kind, id), own);
            }
            self.instances.push(Instance {
                address: own,
                kind,
                name,
                module: path.clone(),
                key: own.strip_prefix(base.as_str()).unwrap_or(""),
                at: resource.at,
                values,
            });
        }
        for child in module.get("child_modules").map_or(&[][..], Node::items) {
            if let Some(address) = child.get("address").and_then(Node::text) {
                self.walk(child, address, after_unknown);
            }
        }
    }

    /// The instances of a type, in the plan's order.
    fn of_type<'p>(&'p self, kind: &'p str) -> impl Iterator<Item = &'p Instance<'n>> + 'p {
        self.instances.iter().filter(move |i| i.kind == kind)
    }

    /// The id a part names through `attribute` (`api_id`, `authorizer_id`),
    /// as the address of the resource of `kind` it is when the plan has it:
    /// `Ok(None)` where it is unset, `Err` (why) where it is known only after
    /// apply and the configuration does not say which resource it is.
    fn id(
        &self,
        instance: &Instance<'_>,
        attribute: &str,
        kind: &str,
    ) -> Result<Option<String>, String> {
        let Some(value) = instance.values.get(attribute) else {
            return Ok(None);
        };
        match value.unknown_reason() {
            Some(reason) => self
                .referred_by(instance, attribute, kind)
                .map(|address| Some(address.to_owned()))
                .ok_or_else(|| reason.to_owned()),
            None => Ok(value.text().map(|id| self.known(kind, id))),
        }
    }

    /// A known id as the address of the resource that has it, where the
    /// plan holds that resource; else as it is.
    fn known(&self, kind: &str, id: &str) -> String {
        self.ids
            .get(&(kind, id))
            .map_or_else(|| id.to_owned(), |address| (*address).to_owned())
    }

    /// The address of the resource of `kind` that an attribute of an
    /// instance refers to in the configuration.
    fn referred_by(&self, instance: &Instance<'_>, attribute: &str, kind: &str) -> Option<&'n str> {
        let expression = self
            .config_module(&instance.module)?
            .get("resources")?
            .items()
            .iter()
            .find(|r| {
                r.get("mode").and_then(Node::text) == Some("managed")
                    && r.get("type").and_then(Node::text) == Some(instance.kind)
                    && r.get("name").and_then(Node::text) == Some(instance.name)
            })?
            .get("expressions")?
            .get(attribute)?;
        let scope = Scope {
            module: instance.module.clone(),
            key: instance.key.to_owned(),
        };
        self.referred(kind, expression, &scope, 0)
    }

    /// The configuration of a module (by its calls' names).
    fn config_module(&self, module: &[(String, String)]) -> Option<&'n Node> {
        module.iter().try_fold(self.config?, |config, (call, _)| {
            config.get("module_calls")?.get(call)?.get("module")
        })
    }

    /// The address of the resource of `kind` an expression refers to: a
    /// resource of the same module instance (the instance with the same key
    /// as the referrer's, or the only one, unless the reference names its
    /// key), a module input variable (followed to the module call), or a
    /// module output (followed into the module).
    fn referred(
        &self,
        kind: &str,
        expression: &Node,
        scope: &Scope,
        depth: usize,
    ) -> Option<&'n str> {
        if depth > DEPTH {
            return None;
        }
        let references = expression.get("references").map_or(&[][..], Node::items);
        references
            .iter()
            .filter_map(Node::text)
            .filter_map(reference)
            .find_map(|reference| match reference {
                Reference::Resource { kind: k, name, key } if k == kind => {
                    let candidates: Vec<&Instance<'n>> = self
                        .instances
                        .iter()
                        .filter(|i| i.kind == kind && i.name == name && i.module == scope.module)
                        .collect();
                    let with_key = |key: &str| candidates.iter().find(|i| i.key == key);
                    let found = match key {
                        Some(key) => with_key(key),
                        None => with_key(&scope.key).or(match candidates.as_slice() {
                            [only] => Some(only),
                            _ => None,
                        }),
                    };
                    found.map(|i| i.address)
                }
                Reference::Resource { .. } => None,
                Reference::Variable(variable) => {
                    let ((call, call_key), parent) = scope.module.split_last()?;
                    let expression = self
                        .config_module(parent)?
                        .get("module_calls")?
                        .get(call)?
                        .get("expressions")?
                        .get(variable)?;
                    let parent = Scope {
                        module: parent.to_vec(),
                        key: call_key.clone(),
                    };
                    self.referred(kind, expression, &parent, depth + 1)
                }
                Reference::Output { call, key, output } => {
                    let key = match key {
                        Some(key) => key.to_owned(),
                        None => self.module_key(scope, call)?,
                    };
                    let mut module = scope.module.clone();
                    module.push((call.to_owned(), key));
                    let expression = self
                        .config_module(&module)?
                        .get("outputs")?
                        .get(output)?
                        .get("expression")?;
                    let inner = Scope {
                        module,
                        key: String::new(),
                    };
                    self.referred(kind, expression, &inner, depth + 1)
                }
            })
    }

    /// The instance key of a module call that a reference without one
    /// means: the referrer's own key, or the call's only instance.
    fn module_key(&self, scope: &Scope, call: &str) -> Option<String> {
        let depth = scope.module.len();
        let keys: HashSet<&str> = self
            .instances
            .iter()
            .filter(|i| i.module.len() > depth && i.module[..depth] == scope.module[..])
            .filter(|i| i.module[depth].0 == call)
            .map(|i| i.module[depth].1.as_str())
            .collect();
        if keys.contains(scope.key.as_str()) {
            return Some(scope.key.clone());
        }
        match keys.into_iter().collect::<Vec<_>>().as_slice() {
            [only] => Some((*only).to_owned()),
            _ => None,
        }
    }
}

/// A reference of the configuration (`aws_apigatewayv2_api.this.id`,
/// `var.api_id`, `module.api.id`), as far as it can lead to a resource.
enum Reference<'r> {
    Resource {
        kind: &'r str,
        name: &'r str,
        key: Option<&'r str>,
    },
    Variable(&'r str),
    Output {
        call: &'r str,
        key: Option<&'r str>,
        output: &'r str,
    },
}

fn reference(text: &str) -> Option<Reference<'_>> {
    let (first, rest) = text.split_once('.')?;
    match first {
        "var" => Some(Reference::Variable(word(rest).0)),
        "module" => {
            let (call, rest) = word(rest);
            let (key, rest) = index(rest);
            let output = word(rest.strip_prefix('.')?).0;
            (!output.is_empty()).then_some(Reference::Output { call, key, output })
        }
        "data" | "local" | "each" | "count" | "path" | "terraform" | "self" => None,
        kind => {
            let (name, rest) = word(rest);
            Some(Reference::Resource {
                kind,
                name,
                key: index(rest).0,
            })
        }
    }
}

/// A module instance's address (`module.a["x"].module.b`) as its path.
fn module_path(address: &str) -> ModulePath {
    let mut path = Vec::new();
    let mut rest = address;
    while let Some(after) = rest.strip_prefix("module.") {
        let (call, after) = word(after);
        let (key, after) = index(after);
        path.push((call.to_owned(), key.unwrap_or_default().to_owned()));
        rest = after.strip_prefix('.').unwrap_or(after);
    }
    path
}

/// The name at the start of an address, up to `.` or `[`, and the rest.
fn word(text: &str) -> (&str, &str) {
    text.split_at(text.find(['.', '[']).unwrap_or(text.len()))
}

/// The instance key at the start of an address (`[0]`, `["e.u"]`), and
/// the rest.
fn index(text: &str) -> (Option<&str>, &str) {
    if !text.starts_with('[') {
        return (None, text);
    }
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ']' if !quoted => return (Some(&text[..=i]), &text[i + 1..]),
            _ => {}
        }
    }
    (Some(text), "")
}

/// A resource's planned values with what `after_unknown` says is known only
/// after apply as unknown nodes (planned values omit those, or hold null),
/// and nulls (unset attributes) left out. `path` names the value for the
/// reason; `at` is the resource's position.
fn after_apply(values: &Node, unknown: Option<&Node>, path: &str, at: usize) -> Node {
    if unknown.is_some_and(|u| u.value == Value::Bool(true)) {
        return Node::unknown(format!("{path} is known after apply"), at);
    }
    let unknown_entries = unknown.map_or(&[][..], Node::entries);
    let unknown_items = unknown.map_or(&[][..], Node::items);
    match &values.value {
        Value::Map(entries) => {
            let mut out = Vec::new();
            for (key, value) in entries {
                let node = after_apply(
                    value,
                    unknown.and_then(|u| u.get(&key.name)),
                    &format!("{path}.{}", key.name),
                    at,
                );
                if node.value != Value::Null {
                    out.push((key.clone(), node));
                }
            }
            for (key, u) in unknown_entries {
                if entries.iter().all(|(k, _)| k.name != key.name) {
                    let absent = Node::new(Value::Null, at);
                    let node = after_apply(&absent, Some(u), &format!("{path}.{}", key.name), at);
                    if node.value != Value::Null {
                        out.push((
                            Key {
                                name: key.name.clone(),
                                at,
                            },
                            node,
                        ));
                    }
                }
            }
            Node::new(Value::Map(out), values.at)
        }
        Value::Seq(items) => Node::new(
            Value::Seq(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        after_apply(item, unknown_items.get(i), &format!("{path}[{i}]"), at)
                    })
                    .collect(),
            ),
            values.at,
        ),
        // Unknown parts of a value the plan omits altogether.
        Value::Null if !unknown_entries.is_empty() => {
            after_apply(&Node::new(Value::Map(Vec::new()), at), unknown, path, at)
        }
        Value::Null if !unknown_items.is_empty() => {
            let nulls = vec![Node::new(Value::Null, at); unknown_items.len()];
            after_apply(&Node::new(Value::Seq(nulls), at), unknown, path, at)
        }
        _ => values.clone(),
    }
}

/// A nested block (`cors_configuration`, `jwt_configuration`): Terraform
/// writes it as a list of at most one; `None` where it is empty.
fn block<'v>(values: &'v Node, name: &str) -> Option<&'v Node> {
    let node = values.get(name)?;
    if node.unknown_reason().is_some() {
        return Some(node);
    }
    node.items().first()
}

/// A block known only after apply: each of its fields is unknown.
fn unknown_block(block: &Node, fields: &[&'static str], unknown: &mut Unknowns) {
    if let Some(reason) = block.unknown_reason() {
        for field in fields {
            unknown.note(field, reason.to_owned(), false);
        }
    }
}

/// `tags_all` (with the provider's default tags, as the resource will be
/// tagged) where the plan has it, else `tags`.
fn tags(values: &Node) -> &'static str {
    if values.get("tags_all").is_some() {
        "tags_all"
    } else {
        "tags"
    }
}

/// An `aws_apigatewayv2_api`, with its OpenAPI `body` and quick create
/// (`target`); `None` for an API whose body is known only after apply,
/// which goes to `read.unread`.
fn api_of(doc: &mut Doc, instance: &Instance<'_>, read: &mut Read) -> Option<Api> {
    let values = &instance.values;
    let mut unknown = Unknowns::default();
    let mut api = Api {
        api_id: instance.address.into(),
        target_name: Some(doc.path.clone()),
        authorizers: Some(Vec::new()),
        integrations: Some(Vec::new()),
        stages: Some(Vec::new()),
        origin: doc.origin(instance.at),
        ..Api::default()
    };
    api.name = unknown.string(values, "name", "api.name").map(Into::into);
    api.protocol_type = unknown
        .string(values, "protocol_type", "api.protocol_type")
        .map(Into::into);
    api.description = unknown.string(values, "description", "api.description");
    api.version = unknown.string(values, "version", "api.version");
    api.api_endpoint = unknown.string(values, "api_endpoint", "api.endpoint");
    api.disable_execute_api_endpoint = unknown.boolean(
        values,
        "disable_execute_api_endpoint",
        "api.disable_execute_api_endpoint",
    );
    api.ip_address_type = unknown.string(values, "ip_address_type", "api.ip_address_type");
    api.api_key_selection_expression = unknown.string(
        values,
        "api_key_selection_expression",
        "api.api_key_selection_expression",
    );
    api.route_selection_expression = unknown.string(
        values,
        "route_selection_expression",
        "api.route_selection_expression",
    );
    api.tags = unknown.string_map(values, tags(values), "api.tags");
    if let Some(cors) = block(values, "cors_configuration") {
        unknown_block(cors, super::openapi::CORS_FIELDS, &mut unknown);
        api.cors_configuration = Some(Cors {
            allow_credentials: unknown.boolean(
                cors,
                "allow_credentials",
                "api.cors.allow_credentials",
            ),
            allow_headers: unknown.strings(cors, "allow_headers", "api.cors.allow_headers"),
            allow_methods: unknown.strings(cors, "allow_methods", "api.cors.allow_methods"),
            allow_origins: unknown.strings(cors, "allow_origins", "api.cors.allow_origins"),
            expose_headers: unknown.strings(cors, "expose_headers", "api.cors.expose_headers"),
            max_age: unknown.integer(cors, "max_age", "api.cors.max_age"),
        });
    }
    unknown.mark_on(&mut api, Part::Api, "");
    if let Some(body) = values.get("body") {
        if let Some(reason) = body.unknown_reason() {
            read.unread.push(Unreadable {
                api,
                reason: format!("its OpenAPI body is not known before apply: {reason}"),
            });
            return None;
        }
        let text = body.text().unwrap_or_default();
        let parsed = if text.trim_start().starts_with('{') {
            node::parse_json(text)
        } else {
            node::parse_yaml(text)
        };
        match parsed {
            Ok(mut definition) => {
                relocate(&mut definition, instance.at);
                super::openapi::build(doc, &definition, &mut api);
            }
            Err(err) => doc.error(
                body.at,
                format!(
                    "the OpenAPI body of {} does not parse: {}",
                    instance.address, err.message
                ),
                "`body` holds an OpenAPI definition, JSON or YAML",
            ),
        }
    }
    if values.get("target").is_some() {
        cfn::quick_create(
            &quick_create(values, instance.at),
            &mut api,
            doc.line(instance.at),
        );
    }
    Some(api)
}

/// A body's nodes, moved to where the body is in the plan: positions inside
/// the string are not positions in the file.
fn relocate(node: &mut Node, at: usize) {
    node.at = at;
    match &mut node.value {
        Value::Seq(items) => items.iter_mut().for_each(|item| relocate(item, at)),
        Value::Map(entries) => {
            for (key, value) in entries {
                key.at = at;
                relocate(value, at);
            }
        }
        _ => {}
    }
}

/// Quick create's attributes under CloudFormation's names, as
/// [`cfn::quick_create`] reads them.
fn quick_create(values: &Node, at: usize) -> Node {
    let entries = [
        ("RouteKey", "route_key"),
        ("Target", "target"),
        ("CredentialsArn", "credentials_arn"),
    ]
    .into_iter()
    .filter_map(|(cfn, terraform)| {
        let value = values.get(terraform)?.clone();
        Some((
            Key {
                name: cfn.into(),
                at,
            },
            value,
        ))
    })
    .collect();
    Node::new(Value::Map(entries), at)
}

fn authorizer(doc: &Doc, instance: &Instance<'_>, api: &mut Api) {
    let values = &instance.values;
    let mut unknown = Unknowns::default();
    let jwt = block(values, "jwt_configuration");
    if let Some(jwt) = jwt {
        unknown_block(
            jwt,
            &["authorizer.jwt.audience", "authorizer.jwt.issuer"],
            &mut unknown,
        );
    }
    let authorizer = Authorizer {
        authorizer_id: instance.address.to_owned(),
        name: unknown.string(values, "name", "authorizer.name"),
        authorizer_type: unknown.string(values, "authorizer_type", "authorizer.type"),
        identity_source: unknown.strings(values, "identity_sources", "authorizer.identity_source"),
        jwt_configuration: jwt.map(|jwt| JwtConfiguration {
            audience: unknown.strings(jwt, "audience", "authorizer.jwt.audience"),
            issuer: unknown.string(jwt, "issuer", "authorizer.jwt.issuer"),
        }),
        authorizer_uri: unknown.string(values, "authorizer_uri", "authorizer.uri"),
        authorizer_credentials_arn: unknown.string(
            values,
            "authorizer_credentials_arn",
            "authorizer.credentials_arn",
        ),
        authorizer_payload_format_version: unknown.string(
            values,
            "authorizer_payload_format_version",
            "authorizer.payload_format_version",
        ),
        identity_validation_expression: None,
        authorizer_result_ttl_in_seconds: unknown.integer(
            values,
            "authorizer_result_ttl_in_seconds",
            "authorizer.result_ttl_seconds",
        ),
        enable_simple_responses: unknown.boolean(
            values,
            "enable_simple_responses",
            "authorizer.enable_simple_responses",
        ),
        line: doc.line(instance.at),
    };
    unknown.mark_on(api, Part::Authorizer, instance.address);
    api.authorizers
        .get_or_insert_with(Vec::new)
        .push(authorizer);
}

fn integration(doc: &Doc, instance: &Instance<'_>, api: &mut Api) {
    let values = &instance.values;
    let mut unknown = Unknowns::default();
    let tls = block(values, "tls_config");
    if let Some(tls) = tls {
        unknown_block(
            tls,
            &["integration.tls.server_name_to_verify"],
            &mut unknown,
        );
    }
    let integration = Integration {
        integration_id: instance.address.to_owned(),
        integration_type: unknown.string(values, "integration_type", "integration.type"),
        connection_type: unknown.string(values, "connection_type", "integration.connection_type"),
        integration_uri: unknown.string(values, "integration_uri", "integration.uri"),
        integration_method: unknown.string(values, "integration_method", "integration.method"),
        connection_id: unknown.string(values, "connection_id", "integration.connection_id"),
        credentials_arn: unknown.string(values, "credentials_arn", "integration.credentials_arn"),
        payload_format_version: unknown.string(
            values,
            "payload_format_version",
            "integration.payload_format_version",
        ),
        integration_subtype: unknown.string(values, "integration_subtype", "integration.subtype"),
        tls_config: tls.map(|tls| TlsConfig {
            server_name_to_verify: unknown.string(
                tls,
                "server_name_to_verify",
                "integration.tls.server_name_to_verify",
            ),
        }),
        timeout_in_millis: unknown.integer(
            values,
            "timeout_milliseconds",
            "integration.timeout_ms",
        ),
        request_parameters: unknown.string_map(
            values,
            "request_parameters",
            "integration.request_parameters",
        ),
        line: doc.line(instance.at),
    };
    unknown.mark_on(api, Part::Integration, instance.address);
    api.integrations
        .get_or_insert_with(Vec::new)
        .push(integration);
}

fn route(doc: &mut Doc, plan: &Plan<'_>, instance: &Instance<'_>, api: &mut Api) {
    let values = &instance.values;
    let mut unknown = Unknowns::default();
    let route_key = match values.get("route_key") {
        Some(key) => match key.unknown_reason() {
            Some(reason) => {
                unknown.note("route_key", reason.to_owned(), false);
                format!("{} (route key not known before apply)", instance.address)
            }
            None => key.text().unwrap_or_default().to_owned(),
        },
        None => {
            doc.error(
                instance.at,
                format!("route `{}` has no route_key", instance.address),
                "",
            );
            return;
        }
    };
    let authorizer_id = plan
        .id(instance, "authorizer_id", AUTHORIZER)
        .unwrap_or_else(|reason| {
            unknown.note("authorizer_id", reason, false);
            None
        });
    let target = target(plan, instance).unwrap_or_else(|reason| {
        unknown.note("target", reason, false);
        None
    });
    let authorization_type = unknown.string(values, "authorization_type", "authorization_type");
    let authorization_type = match authorization_type {
        None if !unknown.has("authorization_type") => Some("NONE".to_owned()),
        other => other,
    };
    let route = Route {
        route_id: None,
        route_key: route_key.clone(),
        authorization_type,
        authorizer_id,
        authorization_scopes: unknown.strings(
            values,
            "authorization_scopes",
            "authorization_scopes",
        ),
        api_key_required: unknown.boolean(values, "api_key_required", "api_key_required"),
        api_gateway_managed: None,
        operation_name: unknown.string(values, "operation_name", "operation_name"),
        target,
        model_selection_expression: unknown.string(
            values,
            "model_selection_expression",
            "model_selection_expression",
        ),
        route_response_selection_expression: unknown.string(
            values,
            "route_response_selection_expression",
            "route_response_selection_expression",
        ),
        request_models: unknown.string_map(values, "request_models", "request_models"),
        request_parameters: request_parameters(values, &mut unknown),
        line: doc.line(instance.at),
    };
    unknown.mark_on(api, Part::Route, &route_key);
    api.routes.push(route);
}

/// A route's `target` (`integrations/ID`), the integration named by its
/// address where the plan has it.
fn target(plan: &Plan<'_>, instance: &Instance<'_>) -> Result<Option<String>, String> {
    let Some(value) = instance.values.get("target") else {
        return Ok(None);
    };
    if let Some(reason) = value.unknown_reason() {
        return plan
            .referred_by(instance, "target", INTEGRATION)
            .map(|address| Some(format!("integrations/{address}")))
            .ok_or_else(|| reason.to_owned());
    }
    Ok(value
        .text()
        .map(|target| match target.strip_prefix("integrations/") {
            Some(id) => format!("integrations/{}", plan.known(INTEGRATION, id)),
            None => target.to_owned(),
        }))
}

/// `request_parameter` blocks: `{request_parameter_key, required}`.
fn request_parameters(
    values: &Node,
    unknown: &mut Unknowns,
) -> Option<BTreeMap<String, ParameterConstraints>> {
    let blocks = values.get("request_parameter")?;
    if let Some(reason) = blocks.unknown_reason() {
        unknown.note("request_parameters", reason.to_owned(), false);
        return None;
    }
    let parameters: BTreeMap<String, ParameterConstraints> = blocks
        .items()
        .iter()
        .filter_map(|block| {
            let key = block.get("request_parameter_key")?.text()?;
            let required = block.get("required").and_then(Node::boolean);
            Some((key.to_owned(), ParameterConstraints { required }))
        })
        .collect();
    (!parameters.is_empty()).then_some(parameters)
}

fn stage(doc: &Doc, instance: &Instance<'_>, api: &mut Api) {
    let values = &instance.values;
    let mut unknown = Unknowns::default();
    let name = unknown
        .string(values, "name", "stage.name")
        .unwrap_or_else(|| instance.address.to_owned());
    let logs = block(values, "access_log_settings");
    if let Some(logs) = logs {
        unknown_block(
            logs,
            &[
                "stage.access_log.destination_arn",
                "stage.access_log.format",
            ],
            &mut unknown,
        );
    }
    let settings = block(values, "default_route_settings");
    if let Some(settings) = settings {
        unknown_block(
            settings,
            &[
                "stage.default_route_settings.throttling_rate_limit",
                "stage.default_route_settings.throttling_burst_limit",
                "stage.default_route_settings.logging_level",
                "stage.default_route_settings.detailed_metrics_enabled",
                "stage.default_route_settings.data_trace_enabled",
            ],
            &mut unknown,
        );
    }
    let stage = Stage {
        stage_name: name.clone(),
        deployment_id: unknown.string(values, "deployment_id", "stage.deployment_id"),
        client_certificate_id: unknown.string(
            values,
            "client_certificate_id",
            "stage.client_certificate_id",
        ),
        description: unknown.string(values, "description", "stage.description"),
        auto_deploy: unknown.boolean(values, "auto_deploy", "stage.auto_deploy"),
        api_gateway_managed: None,
        access_log_settings: logs.map(|logs| AccessLogSettings {
            destination_arn: unknown.string(
                logs,
                "destination_arn",
                "stage.access_log.destination_arn",
            ),
            format: unknown.string(logs, "format", "stage.access_log.format"),
        }),
        default_route_settings: settings.map(|s| RouteSettings {
            throttling_rate_limit: unknown.number(
                s,
                "throttling_rate_limit",
                "stage.default_route_settings.throttling_rate_limit",
            ),
            throttling_burst_limit: unknown.integer(
                s,
                "throttling_burst_limit",
                "stage.default_route_settings.throttling_burst_limit",
            ),
            logging_level: unknown.string(
                s,
                "logging_level",
                "stage.default_route_settings.logging_level",
            ),
            detailed_metrics_enabled: unknown.boolean(
                s,
                "detailed_metrics_enabled",
                "stage.default_route_settings.detailed_metrics_enabled",
            ),
            data_trace_enabled: unknown.boolean(
                s,
                "data_trace_enabled",
                "stage.default_route_settings.data_trace_enabled",
            ),
        }),
        tags: unknown.string_map(values, tags(values), "stage.tags"),
        line: doc.line(instance.at),
    };
    unknown.mark_on(api, Part::Stage, &name);
    api.stages.get_or_insert_with(Vec::new).push(stage);
}

#[cfg(test)]
mod tests;

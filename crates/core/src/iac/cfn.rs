//! CloudFormation templates (JSON, or YAML with short-form tags): the
//! `AWS::ApiGatewayV2::*` resources as APIs, with intrinsic functions
//! resolved where the template fixes their value. SAM templates come here
//! too; their serverless resources are read by [`super::sam`] with the same
//! [`Template`].

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::node::{Key, Node, Value};
use super::{Doc, Options, Read, Unreadable, mark};
use crate::inventory::{
    AccessLogSettings, Api, Authorizer, Cors, Integration, JwtConfiguration, Line,
    ParameterConstraints, Part, Route, RouteSettings, Stage, TlsConfig, Unknown,
};

/// A template being read: its resources, parameters and conditions, and
/// the evaluation of intrinsic functions against them.
pub struct Template<'n> {
    pub root: &'n Node,
    /// Logical id → (the key's position, the resource).
    pub resources: HashMap<&'n str, (&'n Key, &'n Node)>,
    /// Logical ids in the order written.
    pub order: Vec<&'n str>,
    params: HashMap<&'n str, Param>,
    conditions: RefCell<HashMap<String, Option<bool>>>,
    mappings: Option<&'n Node>,
    /// What APIs of this template are reported under (`target_name`).
    pub stack: Arc<str>,
    /// Prefixed to logical ids to make API ids (`Stack/` for CDK).
    pub prefix: String,
    /// A SAM template, whose references may name what its translation adds.
    sam: bool,
}

/// A parameter's value: given, its default, or unknown.
enum Param {
    Known(Node),
    Unknown(String),
    /// Unknown, one of its `AllowedValues`.
    OneOf(String, Vec<String>),
}

/// Resource types whose `Ref` (and id attributes) stand for themselves:
/// their logical id is their id before deploy.
fn stands_for_itself(kind: &str) -> bool {
    kind.starts_with("AWS::ApiGatewayV2::") || kind == "AWS::Serverless::HttpApi"
}

const PSEUDO: &[&str] = &[
    "AWS::AccountId",
    "AWS::NotificationARNs",
    "AWS::Partition",
    "AWS::Region",
    "AWS::StackId",
    "AWS::StackName",
    "AWS::URLSuffix",
];

impl<'n> Template<'n> {
    pub fn new(
        doc: &mut Doc,
        root: &'n Node,
        options: &Options,
        stack: &str,
        prefix: &str,
    ) -> Self {
        let mut resources = HashMap::new();
        let mut order = Vec::new();
        if let Some(node) = root.get("Resources") {
            for (key, resource) in node.entries() {
                if !resource.is_map() {
                    doc.error(
                        resource.at,
                        format!(
                            "resource `{}` is {}, not a mapping",
                            key.name,
                            resource.kind()
                        ),
                        "a resource has `Type` and `Properties`",
                    );
                    continue;
                }
                resources.insert(&*key.name, (key, resource));
                order.push(&*key.name);
            }
        }
        let mut params = HashMap::new();
        if let Some(node) = root.get("Parameters") {
            for (key, param) in node.entries() {
                let list = param
                    .get("Type")
                    .and_then(Node::text)
                    .is_some_and(|t| t.starts_with("List<") || t == "CommaDelimitedList");
                let given = options
                    .params
                    .get(&*key.name)
                    .map(|v| Node::new(Value::Str(v.as_str().into()), key.at));
                let value = match given.or_else(|| param.get("Default").cloned()) {
                    Some(value) if list => match value.text() {
                        Some(text) => Param::Known(Node::new(
                            Value::Seq(
                                text.split(',')
                                    .map(|s| Node::new(Value::Str(s.trim().into()), value.at))
                                    .collect(),
                            ),
                            value.at,
                        )),
                        None => Param::Known(value),
                    },
                    Some(value) => Param::Known(value),
                    None => {
                        let reason = format!(
                            "parameter {} has no default (give it with --iac-param {}=VALUE)",
                            key.name, key.name
                        );
                        let allowed: Option<Vec<String>> = param.get("AllowedValues").map(|list| {
                            list.items()
                                .iter()
                                .filter_map(Node::text)
                                .map(str::to_owned)
                                .collect()
                        });
                        match allowed.filter(|values| !values.is_empty() && !list) {
                            Some(values) => Param::OneOf(reason, values),
                            None => Param::Unknown(reason),
                        }
                    }
                };
                params.insert(&*key.name, value);
            }
        }
        Template {
            root,
            resources,
            order,
            params,
            conditions: RefCell::new(HashMap::new()),
            mappings: root.get("Mappings"),
            stack: stack.into(),
            prefix: prefix.to_owned(),
            sam: super::sam::is_sam(root),
        }
    }

    /// A resource's type.
    pub fn kind(&self, logical: &str) -> Option<&'n str> {
        self.resources
            .get(logical)
            .and_then(|(_, r)| r.get("Type"))
            .and_then(Node::text)
    }

    /// Whether `name` is SAM's implicit HTTP API, which a SAM template may
    /// reference though it does not define it.
    pub fn implicit_api(&self, name: &str) -> bool {
        self.sam && name == super::sam::IMPLICIT
    }

    /// Whether `name` is a resource SAM's translation adds, which a SAM
    /// template may reference: the implicit APIs, and what a serverless
    /// resource expands to (`MyFunctionRole`, `MyApiApiGatewayDefaultStage`).
    fn made_by_sam(&self, name: &str) -> bool {
        self.sam
            && (name == "ServerlessRestApi"
                || self.implicit_api(name)
                || self.resources.iter().any(|(id, (_, resource))| {
                    name.len() > id.len()
                        && name.starts_with(id)
                        && resource
                            .get("Type")
                            .and_then(Node::text)
                            .is_some_and(|t| t.starts_with("AWS::Serverless::"))
                }))
    }

    /// The logical ids of the resources of a type, in template order.
    pub fn of_type(&self, kind: &str) -> Vec<&'n str> {
        self.order
            .iter()
            .copied()
            .filter(|id| self.kind(id) == Some(kind))
            .collect()
    }

    /// Whether a resource is created: its `Condition` holds (`None` when the
    /// condition's inputs are unknown).
    pub fn exists(&self, doc: &mut Doc, resource: &Node) -> Option<bool> {
        match resource.get("Condition") {
            None => Some(true),
            Some(name) => match name.text() {
                Some(name) => self.condition(doc, name, name_at(resource)),
                None => None,
            },
        }
    }

    /// A resource's `Properties`, resolved.
    pub fn properties(&self, doc: &mut Doc, resource: &Node) -> Node {
        match resource.get("Properties") {
            Some(props) => self.eval(doc, props),
            None => Node::new(Value::Map(Vec::new()), resource.at),
        }
    }

    /// The value of a named condition; `None` when it depends on an unknown.
    pub fn condition(&self, doc: &mut Doc, name: &str, at: usize) -> Option<bool> {
        if let Some(known) = self.conditions.borrow().get(name) {
            return *known;
        }
        let Some(node) = self.root.get("Conditions").and_then(|c| c.get(name)) else {
            doc.error(
                at,
                format!("condition `{name}` is not defined"),
                "conditions are defined under `Conditions`",
            );
            return None;
        };
        // A cycle reads as unknown rather than overflowing the stack.
        self.conditions.borrow_mut().insert(name.to_owned(), None);
        let value = self.truth(doc, node);
        self.conditions.borrow_mut().insert(name.to_owned(), value);
        value
    }

    /// A condition function's value.
    fn truth(&self, doc: &mut Doc, node: &Node) -> Option<bool> {
        // In a condition, `{"Condition": name}` is another condition (SAM's
        // translation combines its conditions so), not a resource attribute.
        if let [(key, name)] = node.entries()
            && &*key.name == "Condition"
        {
            return self.condition(doc, name.text()?, name.at);
        }
        let Some((function, args)) = intrinsic(node) else {
            return self.eval(doc, node).boolean();
        };
        match function {
            "Fn::Equals" => {
                let items = self.eval(doc, &args).value;
                let Value::Seq(items) = items else {
                    doc.error(args.at, "Fn::Equals takes a list of two values", "");
                    return None;
                };
                match items.as_slice() {
                    [a, b] => {
                        if a.unknown_reason().is_some() || b.unknown_reason().is_some() {
                            None
                        } else {
                            Some(same(a, b))
                        }
                    }
                    _ => {
                        doc.error(args.at, "Fn::Equals takes a list of two values", "");
                        None
                    }
                }
            }
            "Fn::And" | "Fn::Or" => {
                let and = function == "Fn::And";
                let mut unknown = false;
                for item in args.items() {
                    match self.truth(doc, item) {
                        Some(v) if v != and => return Some(v),
                        None => unknown = true,
                        _ => {}
                    }
                }
                (!unknown).then_some(and)
            }
            "Fn::Not" => match args.items() {
                [one] => self.truth(doc, one).map(|v| !v),
                _ => {
                    doc.error(args.at, "Fn::Not takes a list of one condition", "");
                    None
                }
            },
            "Condition" => match args.text() {
                Some(name) => self.condition(doc, name, args.at),
                None => None,
            },
            _ => self.eval(doc, node).boolean(),
        }
    }

    /// A value with its intrinsic functions resolved: references to
    /// parameters and to API Gateway resources (which stand for their
    /// logical ids), `Fn::Sub`, `Fn::Join`, `Fn::If`, `Fn::Select`,
    /// `Fn::Split`, `Fn::FindInMap`, `Fn::GetAtt`. What the template does not
    /// fix becomes an unknown node saying why; `AWS::NoValue` removes the
    /// entry or item that holds it.
    pub fn eval(&self, doc: &mut Doc, node: &Node) -> Node {
        self.resolve(doc, node)
            .unwrap_or_else(|| Node::new(Value::Null, node.at))
    }

    /// `None` for `AWS::NoValue`.
    fn resolve(&self, doc: &mut Doc, node: &Node) -> Option<Node> {
        if let Some((function, args)) = intrinsic(node) {
            return self.call(doc, function, &args, node.at);
        }
        Some(match &node.value {
            Value::Seq(items) => Node {
                value: Value::Seq(items.iter().filter_map(|i| self.resolve(doc, i)).collect()),
                tag: None,
                at: node.at,
            },
            Value::Map(entries) => Node {
                value: Value::Map(
                    entries
                        .iter()
                        .filter_map(|(k, v)| Some((k.clone(), self.resolve(doc, v)?)))
                        .collect(),
                ),
                tag: None,
                at: node.at,
            },
            _ => node.clone(),
        })
    }

    fn call(&self, doc: &mut Doc, function: &str, args: &Node, at: usize) -> Option<Node> {
        let unknown = |reason: String| Some(Node::unknown(reason, at));
        match function {
            "Ref" => {
                let Some(name) = args.text() else {
                    doc.error(args.at, "Ref takes the name of a parameter or resource", "");
                    return unknown("an invalid Ref".into());
                };
                self.reference(doc, name, at)
            }
            "Fn::GetAtt" => {
                let (logical, attribute) = match (&args.value, args.items()) {
                    (Value::Str(s), _) => match s.split_once('.') {
                        Some((l, a)) => (l.to_owned(), a.to_owned()),
                        None => (s.to_string(), String::new()),
                    },
                    (_, [l, a]) => {
                        let a = self.eval(doc, a);
                        (
                            l.text().unwrap_or_default().to_owned(),
                            a.text().unwrap_or_default().to_owned(),
                        )
                    }
                    _ => {
                        doc.error(args.at, "Fn::GetAtt takes [resource, attribute]", "");
                        return unknown("an invalid Fn::GetAtt".into());
                    }
                };
                let Some(kind) = self.kind(&logical) else {
                    if self.made_by_sam(&logical) {
                        return unknown(format!("{logical}.{attribute} is known after deploy"));
                    }
                    doc.error(
                        args.at,
                        format!(
                            "Fn::GetAtt names `{logical}`, which is not a resource of this template"
                        ),
                        "a reference to a resource that does not exist",
                    );
                    return unknown(format!("resource {logical} does not exist"));
                };
                let is_id = matches!(
                    attribute.as_str(),
                    "ApiId" | "AuthorizerId" | "IntegrationId" | "RouteId" | "StageName"
                );
                if stands_for_itself(kind) && is_id {
                    return Some(Node::new(Value::Str(logical.into()), at));
                }
                unknown(format!("{logical}.{attribute} is known after deploy"))
            }
            "Fn::Sub" => {
                let (template, vars) = match &args.value {
                    Value::Seq(items) if items.len() == 2 => (&items[0], Some(&items[1])),
                    _ => (args, None),
                };
                let Some(text) = template.text() else {
                    doc.error(
                        template.at,
                        "Fn::Sub takes a string, or [string, variables]",
                        "",
                    );
                    return unknown("an invalid Fn::Sub".into());
                };
                let vars = vars.map(|v| self.eval(doc, v));
                self.substitute(doc, text, vars.as_ref(), at)
            }
            "Fn::Join" => {
                let items = args.items();
                let [separator, list] = items else {
                    doc.error(args.at, "Fn::Join takes [separator, list]", "");
                    return unknown("an invalid Fn::Join".into());
                };
                let list = self.eval(doc, list);
                if let Some(reason) = list.unknown_reason() {
                    return unknown(reason.to_owned());
                }
                let mut parts = Vec::new();
                for item in list.items() {
                    if let Some(reason) = item.unknown_reason() {
                        return unknown(reason.to_owned());
                    }
                    parts.push(item.text().unwrap_or_default().to_owned());
                }
                let separator = separator.text().unwrap_or_default();
                Some(Node::new(Value::Str(parts.join(separator).into()), at))
            }
            "Fn::If" => {
                let [condition, yes, no] = args.items() else {
                    doc.error(
                        args.at,
                        "Fn::If takes [condition, value if true, value if false]",
                        "",
                    );
                    return unknown("an invalid Fn::If".into());
                };
                let name = condition.text().unwrap_or_default();
                match self.condition(doc, name, condition.at) {
                    Some(true) => self.resolve(doc, yes),
                    Some(false) => self.resolve(doc, no),
                    None => {
                        let reason = format!(
                            "it depends on condition {name}, whose inputs are not known before deploy"
                        );
                        let branches = [self.resolve(doc, yes), self.resolve(doc, no)];
                        Some(if branches.iter().any(Option::is_none) {
                            Node::maybe_absent(reason, at)
                        } else {
                            Node::unknown(reason, at)
                        })
                    }
                }
            }
            "Fn::Select" => {
                let [index, list] = args.items() else {
                    doc.error(args.at, "Fn::Select takes [index, list]", "");
                    return unknown("an invalid Fn::Select".into());
                };
                let index = self.eval(doc, index);
                let list = self.eval(doc, list);
                if let Some(reason) = list.unknown_reason().or(index.unknown_reason()) {
                    return unknown(reason.to_owned());
                }
                match index
                    .integer()
                    .and_then(|i| list.items().get(usize::try_from(i).ok()?))
                {
                    Some(item) => Some(item.clone()),
                    None => {
                        doc.error(args.at, "Fn::Select's index is outside its list", "");
                        unknown("an invalid Fn::Select".into())
                    }
                }
            }
            "Fn::Split" => {
                let [separator, text] = args.items() else {
                    doc.error(args.at, "Fn::Split takes [separator, string]", "");
                    return unknown("an invalid Fn::Split".into());
                };
                let text = self.eval(doc, text);
                if let Some(reason) = text.unknown_reason() {
                    return unknown(reason.to_owned());
                }
                let separator = separator.text().unwrap_or(",");
                let items = text
                    .text()
                    .unwrap_or_default()
                    .split(separator)
                    .map(|s| Node::new(Value::Str(s.into()), at))
                    .collect();
                Some(Node::new(Value::Seq(items), at))
            }
            "Fn::FindInMap" => {
                let keys: Vec<Node> = args.items().iter().map(|k| self.eval(doc, k)).collect();
                if let Some(reason) = keys.iter().find_map(Node::unknown_reason) {
                    return unknown(reason.to_owned());
                }
                let found = match keys.as_slice() {
                    [map, top, second] => self
                        .mappings
                        .and_then(|m| m.get(map.text()?))
                        .and_then(|m| m.get(top.text()?))
                        .and_then(|m| m.get(second.text()?)),
                    _ => None,
                };
                match found {
                    Some(value) => self.resolve(doc, value),
                    None => {
                        doc.error(args.at, "Fn::FindInMap names no value of `Mappings`", "");
                        unknown("an invalid Fn::FindInMap".into())
                    }
                }
            }
            "Fn::ImportValue" => {
                unknown("it is imported from another stack (Fn::ImportValue)".into())
            }
            "Fn::GetAZs" | "Fn::Cidr" | "Fn::Base64" | "Fn::Transform" | "Fn::ToJsonString"
            | "Fn::Length" | "Fn::GetParam" => {
                unknown(format!("{function} is not evaluated before deploy"))
            }
            "Condition" => {
                let name = args.text().unwrap_or_default();
                let value = self.condition(doc, name, args.at);
                Some(match value {
                    Some(v) => Node::new(Value::Bool(v), at),
                    None => {
                        Node::unknown(format!("condition {name} is not known before deploy"), at)
                    }
                })
            }
            _ => unknown(format!("{function} is not evaluated before deploy")),
        }
    }

    /// `Ref`: a parameter's value, a pseudo parameter (unknown), or a
    /// resource's id (API Gateway resources stand for their logical id).
    fn reference(&self, doc: &mut Doc, name: &str, at: usize) -> Option<Node> {
        if name == "AWS::NoValue" {
            return None;
        }
        if let Some(param) = self.params.get(name) {
            return Some(match param {
                Param::Known(value) => Node {
                    at,
                    ..value.clone()
                },
                Param::Unknown(reason) => Node::unknown(reason.as_str(), at),
                Param::OneOf(reason, values) => Node::one_of(reason.as_str(), values, at),
            });
        }
        if PSEUDO.contains(&name) {
            return Some(Node::unknown(format!("{name} is known at deploy"), at));
        }
        match self.kind(name) {
            Some(kind) if stands_for_itself(kind) => Some(Node::new(Value::Str(name.into()), at)),
            Some(_) => Some(Node::unknown(
                format!("the id of resource {name} is known after deploy"),
                at,
            )),
            // The implicit HTTP API stands for itself, as SAM's APIs do.
            None if self.implicit_api(name) => Some(Node::new(Value::Str(name.into()), at)),
            None if self.made_by_sam(name) => Some(Node::unknown(
                format!("{name} is added by SAM's translation; its id is known after deploy"),
                at,
            )),
            None => {
                doc.error(
                    at,
                    format!("`{name}` is neither a parameter nor a resource of this template"),
                    "a reference to a resource that does not exist",
                );
                Some(Node::unknown(format!("{name} does not exist"), at))
            }
        }
    }

    /// `Fn::Sub`: `${Name}`, `${Resource.Attribute}`, `${!Literal}`.
    fn substitute(
        &self,
        doc: &mut Doc,
        text: &str,
        vars: Option<&Node>,
        at: usize,
    ) -> Option<Node> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                out.push_str(&rest[start..]);
                rest = "";
                break;
            };
            let name = after[..end].trim();
            rest = &after[end + 1..];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
                continue;
            }
            let value = match vars.and_then(|v| v.get(name)) {
                Some(value) => value.clone(),
                None => match name.split_once('.') {
                    Some((logical, attribute)) if !self.params.contains_key(name) => {
                        let args = Node::new(
                            Value::Seq(vec![
                                Node::new(Value::Str(logical.into()), at),
                                Node::new(Value::Str(attribute.into()), at),
                            ]),
                            at,
                        );
                        self.call(doc, "Fn::GetAtt", &args, at)?
                    }
                    _ => self.reference(doc, name, at)?,
                },
            };
            if let Some(reason) = value.unknown_reason() {
                let known = value.known_prefix().unwrap_or_default();
                out.push_str(known);
                return Some(Node::unknown_after(reason, &out, at));
            }
            out.push_str(value.text().unwrap_or_default());
        }
        out.push_str(rest);
        Some(Node::new(Value::Str(out.into()), at))
    }
}

/// Whether two resolved scalars are equal as CloudFormation compares them.
fn same(a: &Node, b: &Node) -> bool {
    match (a.text(), b.text()) {
        (Some(a), Some(b)) => a == b,
        _ => a.value == b.value,
    }
}

/// An intrinsic function call: `{"Ref": x}`, `{"Fn::Sub": ...}`, or a
/// short-form tag (`!Ref x`, `!Sub ...`, `!Condition x`). Returns the
/// function's long name and its argument (untagged).
fn intrinsic(node: &Node) -> Option<(&'static str, Node)> {
    if let Some(tag) = node.tag.as_deref() {
        if node.unknown_reason().is_some() {
            return None;
        }
        let long = match tag {
            "Ref" => "Ref",
            "Condition" => "Condition",
            other => FUNCTIONS
                .iter()
                .copied()
                .find(|f| f.strip_prefix("Fn::") == Some(other))?,
        };
        let mut args = node.clone();
        args.tag = None;
        return Some((long, args));
    }
    let [(key, value)] = node.entries() else {
        return None;
    };
    let name = &*key.name;
    let long = match name {
        "Ref" => "Ref",
        "Condition" => return None,
        other => FUNCTIONS.iter().copied().find(|f| *f == other)?,
    };
    Some((long, value.clone()))
}

const FUNCTIONS: &[&str] = &[
    "Fn::And",
    "Fn::Base64",
    "Fn::Cidr",
    "Fn::Equals",
    "Fn::FindInMap",
    "Fn::GetAZs",
    "Fn::GetAtt",
    "Fn::GetParam",
    "Fn::If",
    "Fn::ImportValue",
    "Fn::Join",
    "Fn::Length",
    "Fn::Not",
    "Fn::Or",
    "Fn::Select",
    "Fn::Split",
    "Fn::Sub",
    "Fn::ToJsonString",
    "Fn::Transform",
];

/// Where a resource's `Condition` is written, for messages.
fn name_at(resource: &Node) -> usize {
    resource.get("Condition").map_or(resource.at, |c| c.at)
}

/// Reads a template's APIs into `read`: for a SAM template its serverless
/// APIs first (an `AWS::ApiGatewayV2::Route` or `::Stage` may belong to
/// one), then the `AWS::ApiGatewayV2::*` resources. `stack` names the file
/// or CDK stack; `prefix` is prefixed to API ids.
pub fn read(
    doc: &mut Doc,
    root: &Node,
    options: &Options,
    stack: &str,
    prefix: Option<&str>,
    read: &mut Read,
) {
    let template = Template::new(doc, root, options, stack, prefix.unwrap_or(""));
    let mut apis = Apis::default();
    if super::sam::is_sam(root) {
        super::sam::read(doc, &template, &mut apis.by_id, &mut read.unread);
    } else {
        untransformed_sam(doc, root);
    }
    read_v2(doc, &template, &mut apis, read);
    for (_, api) in apis.by_id {
        read.apis.push(api);
    }
}

/// A SAM resource in a template whose `Transform` is not SAM's is an error:
/// CloudFormation rejects the template ("Unrecognized resource types"), and
/// reading it as plain CloudFormation would find none of its APIs and pass.
/// (SAM's translator keeps its test inputs without the line: users meet them.)
fn untransformed_sam(doc: &mut Doc, root: &Node) {
    let Some(resources) = root.get("Resources") else {
        return;
    };
    let serverless = resources.entries().iter().find_map(|(_, resource)| {
        let kind = resource.get("Type")?;
        kind.text()
            .is_some_and(|t| t.starts_with("AWS::Serverless::"))
            .then_some(kind)
    });
    if let Some(kind) = serverless {
        doc.error(
            kind.at,
            format!(
                "`{}` is a SAM resource, but the template's `Transform` does not include `AWS::Serverless-2016-10-31`: CloudFormation rejects it, and none of its APIs would be read",
                kind.text().unwrap_or_default()
            ),
            "add `Transform: AWS::Serverless-2016-10-31` at the top level",
        );
    }
}

/// The APIs of one template by logical id, in template order.
#[derive(Default)]
pub struct Apis {
    pub by_id: BTreeMap<String, Api>,
}

/// Collects what one property's resolution left unknown, to be marked on
/// the API once the part's key is known: the field, why, and whether the
/// value is known to be set and not empty.
#[derive(Default)]
pub struct Unknowns(pub Vec<Noted>);

/// One unknown value noted: the field, why, whether it is set, its known
/// beginning, and the values it may take.
pub struct Noted {
    pub field: &'static str,
    pub reason: String,
    pub present: bool,
    pub prefix: Option<String>,
    pub values: Option<Vec<String>>,
}

impl Unknowns {
    /// Notes an unknown value.
    pub fn note(&mut self, field: &'static str, reason: impl Into<String>, present: bool) {
        self.0.push(Noted {
            field,
            reason: reason.into(),
            present,
            prefix: None,
            values: None,
        });
    }

    /// The known value of a property, noting it when unknown; a scalar set
    /// to an unknown is set (unless an unknown condition may remove it).
    fn known<'v>(&mut self, props: &'v Node, key: &str, field: &'static str) -> Option<&'v Node> {
        let value = props.get(key)?;
        match value.unknown_reason() {
            Some(reason) => {
                self.0.push(Noted {
                    field,
                    reason: reason.to_owned(),
                    present: !value.may_be_absent(),
                    prefix: value.known_prefix().map(str::to_owned),
                    values: value.possible_values(),
                });
                None
            }
            None => Some(value),
        }
    }

    /// A property as text; unknown values noted under `field`.
    pub fn string(&mut self, props: &Node, key: &str, field: &'static str) -> Option<String> {
        self.known(props, key, field)?.text().map(str::to_owned)
    }

    pub fn boolean(&mut self, props: &Node, key: &str, field: &'static str) -> Option<bool> {
        self.known(props, key, field)?.boolean()
    }

    pub fn integer(&mut self, props: &Node, key: &str, field: &'static str) -> Option<i64> {
        self.known(props, key, field)?.integer()
    }

    pub fn number(&mut self, props: &Node, key: &str, field: &'static str) -> Option<f64> {
        self.known(props, key, field)?
            .text()
            .and_then(|t| t.parse().ok())
    }

    /// A list of strings (a single string reads as a list of one). A list
    /// written with an unknown item is known not to be empty; a list that is
    /// unknown as a whole may be.
    pub fn strings(&mut self, props: &Node, key: &str, field: &'static str) -> Option<Vec<String>> {
        let value = props.get(key)?;
        if let Some(reason) = value.unknown_reason() {
            self.note(field, reason, false);
            return None;
        }
        if let Some(text) = value.text() {
            return Some(vec![text.to_owned()]);
        }
        let mut out = Vec::new();
        for item in value.items() {
            if let Some(reason) = item.unknown_reason() {
                self.note(field, reason, true);
                return None;
            }
            out.extend(item.text().map(str::to_owned));
        }
        Some(out)
    }

    /// A map of strings.
    pub fn string_map(
        &mut self,
        props: &Node,
        key: &str,
        field: &'static str,
    ) -> Option<BTreeMap<String, String>> {
        let value = props.get(key)?;
        if let Some(reason) = value.unknown_reason() {
            self.note(field, reason, false);
            return None;
        }
        let mut out = BTreeMap::new();
        for (k, v) in value.entries() {
            if let Some(reason) = v.unknown_reason() {
                self.note(field, reason, true);
                return None;
            }
            out.insert(k.name.to_string(), v.text().unwrap_or_default().to_owned());
        }
        Some(out)
    }

    /// Whether a field was noted unknown.
    pub fn has(&self, field: &str) -> bool {
        self.0.iter().any(|noted| noted.field == field)
    }

    /// Marks what was noted on the API's part.
    pub fn mark_on(self, api: &mut Api, part: Part, key: &str) {
        for noted in self.0 {
            let unknown = Unknown {
                part,
                key: key.to_owned(),
                field: noted.field.to_owned(),
                reason: noted.reason,
                present: noted.present,
                prefix: noted.prefix,
                values: noted.values,
            };
            super::add(api, unknown);
        }
    }
}

/// The API a part belongs to, by its resolved `ApiId`.
fn owner(
    doc: &mut Doc,
    template: &Template<'_>,
    props: &Node,
    logical: &str,
    at: usize,
) -> Option<String> {
    let api = props.get("ApiId");
    match api {
        Some(node) if node.unknown_reason().is_some() => {
            tracing::warn!(
                file = %doc.path,
                resource = logical,
                reason = node.unknown_reason(),
                "not audited: the API it belongs to is not defined in this template"
            );
            None
        }
        Some(node) => match node.text() {
            Some(id) if template.kind(id) == Some("AWS::ApiGatewayV2::Api") => Some(id.to_owned()),
            Some(id) if template.kind(id).is_some() || template.implicit_api(id) => {
                Some(id.to_owned())
            }
            // An API made elsewhere, named by its id: not this code's.
            Some(id) => {
                tracing::warn!(
                    file = %doc.path,
                    resource = logical,
                    api_id = id,
                    "not audited: the API it belongs to is not defined in this template"
                );
                None
            }
            None => {
                doc.error(
                    node.at,
                    format!("`ApiId` of `{logical}` names no API of this template"),
                    "",
                );
                None
            }
        },
        None => {
            doc.error(
                at,
                format!("`{logical}` has no `ApiId`"),
                "every API Gateway v2 part names its API",
            );
            None
        }
    }
}

/// The API resources and their parts.
fn read_v2(doc: &mut Doc, template: &Template<'_>, apis: &mut Apis, read: &mut Read) {
    for logical in template.of_type("AWS::ApiGatewayV2::Api") {
        let (key, resource) = template.resources[logical];
        let exists = template.exists(doc, resource);
        if exists == Some(false) {
            continue;
        }
        let props = template.properties(doc, resource);
        let mut api = new_api(template, doc, logical, key.at);
        let mut unknown = Unknowns::default();
        api.name = unknown.string(&props, "Name", "api.name").map(Into::into);
        api.protocol_type = unknown
            .string(&props, "ProtocolType", "api.protocol_type")
            .map(Into::into);
        api.description = unknown.string(&props, "Description", "api.description");
        api.version = unknown.string(&props, "Version", "api.version");
        api.disable_execute_api_endpoint = unknown.boolean(
            &props,
            "DisableExecuteApiEndpoint",
            "api.disable_execute_api_endpoint",
        );
        api.ip_address_type = unknown.string(&props, "IpAddressType", "api.ip_address_type");
        api.api_key_selection_expression = unknown.string(
            &props,
            "ApiKeySelectionExpression",
            "api.api_key_selection_expression",
        );
        api.route_selection_expression = unknown.string(
            &props,
            "RouteSelectionExpression",
            "api.route_selection_expression",
        );
        api.tags = unknown.string_map(&props, "Tags", "api.tags");
        if let Some(cors) = props.get("CorsConfiguration") {
            api.cors_configuration = Some(cors_of(cors, &mut unknown));
        }
        if exists.is_none() {
            mark_conditional(&mut api);
        }
        unknown.mark_on(&mut api, Part::Api, "");
        if let Some(body) = props.get("Body") {
            if let Some(reason) = body.unknown_reason() {
                read.unread.push(Unreadable {
                    api: api.clone(),
                    reason: format!("its OpenAPI body is not known before deploy: {reason}"),
                });
                continue;
            }
            super::openapi::build(doc, body, &mut api);
        } else if props.get("BodyS3Location").is_some() {
            read.unread.push(Unreadable {
                reason: "its routes are in an OpenAPI body in S3 (BodyS3Location), which is not read before deploy".to_owned(),
                api,
            });
            continue;
        }
        if props.get("Target").is_some() {
            quick_create(&props, &mut api, doc.line(key.at));
        }
        apis.by_id.insert(logical.to_owned(), api);
    }
    for logical in template.of_type("AWS::ApiGatewayV2::Authorizer") {
        let (key, resource) = template.resources[logical];
        let Some((mut unknown, props, api)) = part(doc, template, apis, logical, resource, key.at)
        else {
            continue;
        };
        let authorizer = Authorizer {
            authorizer_id: logical.to_owned(),
            name: unknown.string(&props, "Name", "authorizer.name"),
            authorizer_type: unknown.string(&props, "AuthorizerType", "authorizer.type"),
            identity_source: unknown.strings(
                &props,
                "IdentitySource",
                "authorizer.identity_source",
            ),
            jwt_configuration: props.get("JwtConfiguration").map(|jwt| JwtConfiguration {
                audience: unknown.strings(jwt, "Audience", "authorizer.jwt.audience"),
                issuer: unknown.string(jwt, "Issuer", "authorizer.jwt.issuer"),
            }),
            authorizer_uri: unknown.string(&props, "AuthorizerUri", "authorizer.uri"),
            authorizer_credentials_arn: unknown.string(
                &props,
                "AuthorizerCredentialsArn",
                "authorizer.credentials_arn",
            ),
            authorizer_payload_format_version: unknown.string(
                &props,
                "AuthorizerPayloadFormatVersion",
                "authorizer.payload_format_version",
            ),
            identity_validation_expression: unknown.string(
                &props,
                "IdentityValidationExpression",
                "authorizer.identity_validation_expression",
            ),
            authorizer_result_ttl_in_seconds: unknown.integer(
                &props,
                "AuthorizerResultTtlInSeconds",
                "authorizer.result_ttl_seconds",
            ),
            enable_simple_responses: unknown.boolean(
                &props,
                "EnableSimpleResponses",
                "authorizer.enable_simple_responses",
            ),
            line: doc.line(key.at),
        };
        unknown.mark_on(api, Part::Authorizer, logical);
        api.authorizers
            .get_or_insert_with(Vec::new)
            .push(authorizer);
    }
    for logical in template.of_type("AWS::ApiGatewayV2::Integration") {
        let (key, resource) = template.resources[logical];
        let Some((mut unknown, props, api)) = part(doc, template, apis, logical, resource, key.at)
        else {
            continue;
        };
        let integration = integration_of(logical, &props, &mut unknown, doc.line(key.at));
        unknown.mark_on(api, Part::Integration, logical);
        api.integrations
            .get_or_insert_with(Vec::new)
            .push(integration);
    }
    for logical in template.of_type("AWS::ApiGatewayV2::Route") {
        let (key, resource) = template.resources[logical];
        let Some((mut unknown, props, api)) = part(doc, template, apis, logical, resource, key.at)
        else {
            continue;
        };
        let route_key = match props.get("RouteKey") {
            Some(node) => match node.unknown_reason() {
                Some(reason) => {
                    unknown.note("route_key", reason, true);
                    format!("{logical} (route key not known before deploy)")
                }
                None => node.text().unwrap_or_default().to_owned(),
            },
            None => {
                doc.error(key.at, format!("route `{logical}` has no `RouteKey`"), "");
                continue;
            }
        };
        let route = Route {
            route_id: Some(logical.to_owned()),
            route_key: route_key.clone(),
            authorization_type: Some(
                unknown
                    .string(&props, "AuthorizationType", "authorization_type")
                    .unwrap_or_else(|| "NONE".to_owned()),
            ),
            authorizer_id: unknown.string(&props, "AuthorizerId", "authorizer_id"),
            authorization_scopes: unknown.strings(
                &props,
                "AuthorizationScopes",
                "authorization_scopes",
            ),
            api_key_required: unknown.boolean(&props, "ApiKeyRequired", "api_key_required"),
            api_gateway_managed: None,
            operation_name: unknown.string(&props, "OperationName", "operation_name"),
            target: unknown.string(&props, "Target", "target"),
            model_selection_expression: unknown.string(
                &props,
                "ModelSelectionExpression",
                "model_selection_expression",
            ),
            route_response_selection_expression: unknown.string(
                &props,
                "RouteResponseSelectionExpression",
                "route_response_selection_expression",
            ),
            request_models: unknown.string_map(&props, "RequestModels", "request_models"),
            request_parameters: props.get("RequestParameters").map(|params| {
                params
                    .entries()
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.name.to_string(),
                            ParameterConstraints {
                                required: v.get("Required").and_then(Node::boolean),
                            },
                        )
                    })
                    .collect()
            }),
            line: doc.line(key.at),
        };
        // An unknown `AuthorizationType` is not NONE: it is unknown.
        if unknown.has("authorization_type") {
            let mut route = route;
            route.authorization_type = None;
            unknown.mark_on(api, Part::Route, &route_key);
            api.routes.push(route);
        } else {
            unknown.mark_on(api, Part::Route, &route_key);
            api.routes.push(route);
        }
    }
    for logical in template.of_type("AWS::ApiGatewayV2::Stage") {
        let (key, resource) = template.resources[logical];
        let Some((mut unknown, props, api)) = part(doc, template, apis, logical, resource, key.at)
        else {
            continue;
        };
        let name = unknown
            .string(&props, "StageName", "stage.name")
            .unwrap_or_else(|| logical.to_owned());
        let stage = stage_of(&name, &props, &mut unknown, doc.line(key.at));
        unknown.mark_on(api, Part::Stage, &name);
        api.stages.get_or_insert_with(Vec::new).push(stage);
    }
    for logical in template.of_type("AWS::ApiGatewayV2::ApiGatewayManagedOverrides") {
        let (key, resource) = template.resources[logical];
        let Some((mut unknown, props, api)) = part(doc, template, apis, logical, resource, key.at)
        else {
            continue;
        };
        overrides(&props, api, &mut unknown, doc.line(key.at));
    }
}

/// A part's resource resolved, with the API it belongs to; `None` when it
/// is not created or belongs to no API of the template.
fn part<'a>(
    doc: &mut Doc,
    template: &Template<'_>,
    apis: &'a mut Apis,
    logical: &str,
    resource: &Node,
    at: usize,
) -> Option<(Unknowns, Node, &'a mut Api)> {
    let exists = template.exists(doc, resource);
    if exists == Some(false) {
        return None;
    }
    let props = template.properties(doc, resource);
    let owner = owner(doc, template, &props, logical, at)?;
    let api = apis.by_id.get_mut(&owner)?;
    let mut unknown = Unknowns::default();
    if exists.is_none() {
        unknown.note(
            "*",
            format!(
                "{logical} exists only when its condition holds, which is not known before deploy"
            ),
            false,
        );
    }
    Some((unknown, props, api))
}

/// Marks every value of an API whose `Condition` is not known before
/// deploy: it may not exist at all.
pub fn mark_conditional(api: &mut Api) {
    mark(
        api,
        Part::Api,
        "",
        "*",
        "the API exists only when its condition holds, which is not known before deploy",
    );
}

/// A new API of a template, located at its logical id; every part read
/// (code defines them all).
pub fn new_api(template: &Template<'_>, doc: &Doc, logical: &str, at: usize) -> Api {
    Api {
        api_id: format!("{}{logical}", template.prefix).into(),
        target_name: Some(template.stack.clone()),
        authorizers: Some(Vec::new()),
        integrations: Some(Vec::new()),
        stages: Some(Vec::new()),
        origin: doc.origin(at),
        ..Api::default()
    }
}

pub fn cors_of(cors: &Node, unknown: &mut Unknowns) -> Cors {
    Cors {
        allow_credentials: unknown.boolean(cors, "AllowCredentials", "api.cors.allow_credentials"),
        allow_headers: unknown.strings(cors, "AllowHeaders", "api.cors.allow_headers"),
        allow_methods: unknown.strings(cors, "AllowMethods", "api.cors.allow_methods"),
        allow_origins: unknown.strings(cors, "AllowOrigins", "api.cors.allow_origins"),
        expose_headers: unknown.strings(cors, "ExposeHeaders", "api.cors.expose_headers"),
        max_age: unknown.integer(cors, "MaxAge", "api.cors.max_age"),
    }
}

pub fn integration_of(id: &str, props: &Node, unknown: &mut Unknowns, line: Line) -> Integration {
    Integration {
        integration_id: id.to_owned(),
        integration_type: unknown.string(props, "IntegrationType", "integration.type"),
        connection_type: unknown.string(props, "ConnectionType", "integration.connection_type"),
        integration_uri: unknown.string(props, "IntegrationUri", "integration.uri"),
        integration_method: unknown.string(props, "IntegrationMethod", "integration.method"),
        connection_id: unknown.string(props, "ConnectionId", "integration.connection_id"),
        credentials_arn: unknown.string(props, "CredentialsArn", "integration.credentials_arn"),
        payload_format_version: unknown.string(
            props,
            "PayloadFormatVersion",
            "integration.payload_format_version",
        ),
        integration_subtype: unknown.string(props, "IntegrationSubtype", "integration.subtype"),
        tls_config: props.get("TlsConfig").map(|tls| TlsConfig {
            server_name_to_verify: unknown.string(
                tls,
                "ServerNameToVerify",
                "integration.tls.server_name_to_verify",
            ),
        }),
        timeout_in_millis: unknown.integer(props, "TimeoutInMillis", "integration.timeout_ms"),
        request_parameters: unknown.string_map(
            props,
            "RequestParameters",
            "integration.request_parameters",
        ),
        line,
    }
}

pub fn stage_of(name: &str, props: &Node, unknown: &mut Unknowns, line: Line) -> Stage {
    Stage {
        stage_name: name.to_owned(),
        deployment_id: unknown.string(props, "DeploymentId", "stage.deployment_id"),
        client_certificate_id: unknown.string(
            props,
            "ClientCertificateId",
            "stage.client_certificate_id",
        ),
        description: unknown.string(props, "Description", "stage.description"),
        auto_deploy: unknown.boolean(props, "AutoDeploy", "stage.auto_deploy"),
        api_gateway_managed: None,
        access_log_settings: props
            .get("AccessLogSettings")
            .map(|logs| AccessLogSettings {
                destination_arn: unknown.string(
                    logs,
                    "DestinationArn",
                    "stage.access_log.destination_arn",
                ),
                format: unknown.string(logs, "Format", "stage.access_log.format"),
            }),
        default_route_settings: props.get("DefaultRouteSettings").map(|s| RouteSettings {
            throttling_rate_limit: unknown.number(
                s,
                "ThrottlingRateLimit",
                "stage.default_route_settings.throttling_rate_limit",
            ),
            throttling_burst_limit: unknown.integer(
                s,
                "ThrottlingBurstLimit",
                "stage.default_route_settings.throttling_burst_limit",
            ),
            logging_level: unknown.string(
                s,
                "LoggingLevel",
                "stage.default_route_settings.logging_level",
            ),
            detailed_metrics_enabled: unknown.boolean(
                s,
                "DetailedMetricsEnabled",
                "stage.default_route_settings.detailed_metrics_enabled",
            ),
            data_trace_enabled: unknown.boolean(
                s,
                "DataTraceEnabled",
                "stage.default_route_settings.data_trace_enabled",
            ),
        }),
        tags: unknown.string_map(props, "Tags", "stage.tags"),
        line,
    }
}

/// The managed id of quick create's integration.
const MANAGED: &str = "quick-create";

/// Quick create (`Target`): the managed `$default` route (or `RouteKey`),
/// its integration and the `$default` stage, as API Gateway makes them.
/// Terraform's `target` is the same quick create, read here under these
/// names.
pub(super) fn quick_create(props: &Node, api: &mut Api, line: Line) {
    let route_key = props
        .get("RouteKey")
        .and_then(Node::text)
        .unwrap_or("$default")
        .to_owned();
    let target = props.get("Target");
    let uri = target.and_then(Node::text).map(str::to_owned);
    if let Some(reason) = target.and_then(Node::unknown_reason) {
        mark(api, Part::Integration, MANAGED, "integration.uri", reason);
    }
    let lambda = uri.as_deref().is_some_and(|u| u.contains(":lambda:"));
    let unknown_kind = uri.is_none();
    api.integrations
        .get_or_insert_with(Vec::new)
        .push(Integration {
            integration_id: MANAGED.to_owned(),
            integration_type: Some(if lambda { "AWS_PROXY" } else { "HTTP_PROXY" }.to_owned()),
            integration_uri: uri,
            payload_format_version: Some(if lambda { "2.0" } else { "1.0" }.to_owned()),
            integration_method: (!lambda).then(|| "ANY".to_owned()),
            credentials_arn: props
                .get("CredentialsArn")
                .and_then(Node::text)
                .map(str::to_owned),
            line,
            ..Integration::default()
        });
    if unknown_kind {
        mark(
            api,
            Part::Integration,
            MANAGED,
            "integration.type",
            "quick create's target is not known before deploy",
        );
    }
    api.routes.push(Route {
        route_key,
        authorization_type: Some("NONE".to_owned()),
        api_gateway_managed: Some(true),
        target: Some(format!("integrations/{MANAGED}")),
        line,
        ..Route::default()
    });
    api.stages.get_or_insert_with(Vec::new).push(Stage {
        stage_name: "$default".to_owned(),
        auto_deploy: Some(true),
        api_gateway_managed: Some(true),
        line,
        ..Stage::default()
    });
}

/// `AWS::ApiGatewayV2::ApiGatewayManagedOverrides`: quick create's route,
/// integration and stage, as the template overrides them.
fn overrides(props: &Node, api: &mut Api, unknown: &mut Unknowns, line: Line) {
    if let Some(over) = props.get("Route") {
        let managed = api
            .routes
            .iter_mut()
            .find(|r| r.api_gateway_managed == Some(true));
        if let Some(route) = managed {
            let key = route.route_key.clone();
            let mut noted = Unknowns::default();
            if over.get("AuthorizationType").is_some() {
                route.authorization_type =
                    noted.string(over, "AuthorizationType", "authorization_type");
            }
            if over.get("AuthorizerId").is_some() {
                route.authorizer_id = noted.string(over, "AuthorizerId", "authorizer_id");
            }
            if over.get("AuthorizationScopes").is_some() {
                route.authorization_scopes =
                    noted.strings(over, "AuthorizationScopes", "authorization_scopes");
            }
            if over.get("OperationName").is_some() {
                route.operation_name = noted.string(over, "OperationName", "operation_name");
            }
            if over.get("Target").is_some() {
                route.target = noted.string(over, "Target", "target");
            }
            route.line = line;
            noted.mark_on(api, Part::Route, &key);
        }
    }
    if let Some(over) = props.get("Integration")
        && let Some(integration) = api
            .integrations
            .iter_mut()
            .flatten()
            .find(|i| i.integration_id == MANAGED)
    {
        let mut noted = Unknowns::default();
        if over.get("IntegrationMethod").is_some() {
            integration.integration_method =
                noted.string(over, "IntegrationMethod", "integration.method");
        }
        if over.get("PayloadFormatVersion").is_some() {
            integration.payload_format_version = noted.string(
                over,
                "PayloadFormatVersion",
                "integration.payload_format_version",
            );
        }
        if over.get("TimeoutInMillis").is_some() {
            integration.timeout_in_millis =
                noted.integer(over, "TimeoutInMillis", "integration.timeout_ms");
        }
        integration.line = line;
        noted.mark_on(api, Part::Integration, MANAGED);
    }
    if let Some(over) = props.get("Stage")
        && let Some(stage) = api
            .stages
            .iter_mut()
            .flatten()
            .find(|s| s.api_gateway_managed == Some(true))
    {
        let name = stage.stage_name.clone();
        let replaced = stage_of(&name, over, unknown, line);
        stage.description = replaced.description.or(stage.description.take());
        stage.auto_deploy = replaced.auto_deploy.or(stage.auto_deploy);
        stage.access_log_settings = replaced
            .access_log_settings
            .or(stage.access_log_settings.take());
        stage.default_route_settings = replaced
            .default_route_settings
            .or(stage.default_route_settings.take());
        stage.line = line;
        std::mem::take(unknown).mark_on(api, Part::Stage, &name);
    }
}

#[cfg(test)]
mod tests;

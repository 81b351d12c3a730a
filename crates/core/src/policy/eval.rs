//! Compiled conditions and their evaluation: a pure function of an evaluation
//! context (a route, an API or a stage, with what it joins to). Regexes and globs were compiled at load and operand types were
//! checked against the field table, so evaluation neither fails nor allocates.

use regex::Regex;

use super::field::{Context, Field, Value};
use crate::inventory::Unknown;

/// A compiled condition.
#[derive(Debug, Clone)]
pub enum Condition {
    /// Every one holds (a table's keys, or `all = [...]`); empty holds.
    All(Box<[Condition]>),
    /// At least one holds; empty does not.
    Any(Box<[Condition]>),
    Not(Box<Condition>),
    Test(Test),
}

/// One operator applied to one field.
#[derive(Debug, Clone)]
pub struct Test {
    pub field: Field,
    pub op: Op,
}

/// An operator with its compiled operand.
#[derive(Debug, Clone)]
pub enum Op {
    EqStr(Box<str>),
    NeStr(Box<str>),
    EqBool(bool),
    NeBool(bool),
    In(Box<[Box<str>]>),
    NotIn(Box<[Box<str>]>),
    Matches(Regex),
    NotMatches(Regex),
    Glob(Glob),
    Exists(bool),
    /// A list's element or a map's key.
    Contains(Box<str>),
    ContainsAny(Box<[Box<str>]>),
    ContainsAll(Box<[Box<str>]>),
    SubsetOf(Box<[Box<str>]>),
    MinLen(usize),
    MaxLen(usize),
    /// Numeric comparisons of integer and number fields.
    Num(Cmp, f64),
}

/// A numeric comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    pub fn name(self) -> &'static str {
        match self {
            Cmp::Eq => "eq",
            Cmp::Ne => "ne",
            Cmp::Lt => "lt",
            Cmp::Le => "le",
            Cmp::Gt => "gt",
            Cmp::Ge => "ge",
        }
    }

    #[inline]
    fn holds(self, value: f64, operand: f64) -> bool {
        match self {
            Cmp::Eq => value == operand,
            Cmp::Ne => value != operand,
            Cmp::Lt => value < operand,
            Cmp::Le => value <= operand,
            Cmp::Gt => value > operand,
            Cmp::Ge => value >= operand,
        }
    }
}

/// A whole-value glob: `*` any run (`/` included), `?` one character, every
/// other character itself. Globs without wildcards compare as plain strings.
#[derive(Debug, Clone)]
pub enum Glob {
    Literal(Box<str>),
    Pattern(Regex),
}

impl Glob {
    pub fn new(pattern: &str) -> Result<Glob, regex::Error> {
        if !pattern.contains(['*', '?']) {
            return Ok(Glob::Literal(pattern.into()));
        }
        let mut re = String::with_capacity(pattern.len() + 8);
        re.push_str("^(?s:");
        for c in pattern.chars() {
            match c {
                '*' => re.push_str(".*"),
                '?' => re.push('.'),
                c => re.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
            }
        }
        re.push_str(")$");
        Regex::new(&re).map(Glob::Pattern)
    }

    #[inline]
    pub fn is_match(&self, value: &str) -> bool {
        match self {
            Glob::Literal(literal) => **literal == *value,
            Glob::Pattern(regex) => regex.is_match(value),
        }
    }
}

/// Whether a regex matches a string of which only the beginning is known:
/// yes where it matches within that beginning and nothing in it can tell
/// where the string ends (`$`, `\z`, word boundaries); else unknown.
fn prefix_match(re: &Regex, prefix: Option<&str>) -> Option<bool> {
    let prefix = prefix?;
    let source = re.as_str();
    let ends = ["$", "\\z", "\\b", "\\B"];
    (!ends.iter().any(|e| source.contains(e)) && re.is_match(prefix)).then_some(true)
}

fn one_of(list: &[Box<str>], value: &str) -> bool {
    list.iter().any(|item| **item == *value)
}

fn has(items: &[String], wanted: &str) -> bool {
    items.iter().any(|item| item == wanted)
}

impl Op {
    /// Whether the operator holds for a value. Absent values: `exists = false`,
    /// `ne`, `not_in` and `not_matches` hold; every other operator does not.
    #[inline]
    pub fn holds(&self, value: Value<'_>) -> bool {
        if let Value::Absent = value {
            return matches!(
                self,
                Op::Exists(false)
                    | Op::NeStr(_)
                    | Op::NeBool(_)
                    | Op::NotIn(_)
                    | Op::NotMatches(_)
                    | Op::Num(Cmp::Ne, _)
            );
        }
        match (self, value) {
            (Op::Exists(want), v) => v.exists() == *want,
            (Op::EqStr(x), Value::Str(s)) => **x == *s,
            (Op::NeStr(x), Value::Str(s)) => **x != *s,
            (Op::EqBool(x), Value::Bool(b)) => *x == b,
            (Op::NeBool(x), Value::Bool(b)) => *x != b,
            (Op::In(list), Value::Str(s)) => one_of(list, s),
            (Op::NotIn(list), Value::Str(s)) => !one_of(list, s),
            (Op::Matches(re), Value::Str(s)) => re.is_match(s),
            (Op::NotMatches(re), Value::Str(s)) => !re.is_match(s),
            (Op::Glob(glob), Value::Str(s)) => glob.is_match(s),
            (Op::Contains(x), Value::List(items)) => has(items, x),
            (Op::Contains(x), map) => map.has_key(x),
            (Op::ContainsAny(xs), Value::List(items)) => xs.iter().any(|x| has(items, x)),
            (Op::ContainsAll(xs), Value::List(items)) => xs.iter().all(|x| has(items, x)),
            (Op::SubsetOf(xs), Value::List(items)) => items.iter().all(|i| one_of(xs, i)),
            (Op::MinLen(n), v) => v.length().is_some_and(|len| len >= *n),
            (Op::MaxLen(n), v) => v.length().is_some_and(|len| len <= *n),
            (Op::Num(cmp, x), v) => v.number().is_some_and(|n| cmp.holds(n, *x)),
            // Types were checked at load; a mismatch cannot be reached.
            _ => false,
        }
    }

    /// The operator as a user wrote it, for explanations.
    pub fn describe(&self) -> String {
        fn list(items: &[Box<str>]) -> String {
            let quoted: Vec<String> = items.iter().map(|i| format!("{i:?}")).collect();
            format!("[{}]", quoted.join(", "))
        }
        match self {
            Op::EqStr(x) => format!("eq {x:?}"),
            Op::NeStr(x) => format!("ne {x:?}"),
            Op::EqBool(x) => format!("eq {x}"),
            Op::NeBool(x) => format!("ne {x}"),
            Op::In(xs) => format!("in {}", list(xs)),
            Op::NotIn(xs) => format!("not_in {}", list(xs)),
            Op::Matches(re) => format!("matches {:?}", re.as_str()),
            Op::NotMatches(re) => format!("not_matches {:?}", re.as_str()),
            Op::Glob(Glob::Literal(x)) => format!("glob {x:?}"),
            Op::Glob(Glob::Pattern(re)) => format!("glob /{}/", re.as_str()),
            Op::Exists(true) => "present and not empty".to_owned(),
            Op::Exists(false) => "absent or empty".to_owned(),
            Op::Contains(x) => format!("contains {x:?}"),
            Op::ContainsAny(xs) => format!("contains_any {}", list(xs)),
            Op::ContainsAll(xs) => format!("contains_all {}", list(xs)),
            Op::SubsetOf(xs) => format!("subset_of {}", list(xs)),
            Op::MinLen(n) => format!("min_len {n}"),
            Op::MaxLen(n) => format!("max_len {n}"),
            Op::Num(cmp, x) => format!("{} {x}", cmp.name()),
        }
    }
}

impl Condition {
    /// Whether the condition holds in the context.
    #[inline]
    pub fn holds(&self, ctx: &Context<'_>) -> bool {
        match self {
            Condition::All(items) => items.iter().all(|c| c.holds(ctx)),
            Condition::Any(items) => items.iter().any(|c| c.holds(ctx)),
            Condition::Not(inner) => !inner.holds(ctx),
            Condition::Test(test) => test.op.holds(test.field.read(ctx)),
        }
    }

    /// Whether the condition holds where some values are unknown (code
    /// before deploy): `None` when the answer depends on one, by Kleene's
    /// three-valued logic (`all` with one false test is false whatever the
    /// unknowns; `any` with one true test is true).
    pub fn judge(&self, ctx: &Context<'_>) -> Option<bool> {
        match self {
            Condition::All(items) => {
                let mut unknown = false;
                for item in items {
                    match item.judge(ctx) {
                        Some(false) => return Some(false),
                        None => unknown = true,
                        Some(true) => {}
                    }
                }
                (!unknown).then_some(true)
            }
            Condition::Any(items) => {
                let mut unknown = false;
                for item in items {
                    match item.judge(ctx) {
                        Some(true) => return Some(true),
                        None => unknown = true,
                        Some(false) => {}
                    }
                }
                (!unknown).then_some(false)
            }
            Condition::Not(inner) => inner.judge(ctx).map(|b| !b),
            Condition::Test(test) => match ctx.unknown(&test.field) {
                // One of a few values: decided where all of them agree.
                Some(Unknown {
                    values: Some(values),
                    ..
                }) if !values.is_empty() => {
                    let first = test.op.holds(Value::Str(&values[0]));
                    values[1..]
                        .iter()
                        .all(|v| test.op.holds(Value::Str(v)) == first)
                        .then_some(first)
                }
                // Set, not known: whether it is set is known.
                Some(unknown) if unknown.present => match &test.op {
                    Op::Exists(want) => Some(*want),
                    Op::Matches(re) => prefix_match(re, unknown.prefix.as_deref()),
                    Op::NotMatches(re) => prefix_match(re, unknown.prefix.as_deref()).map(|m| !m),
                    _ => None,
                },
                Some(_) => None,
                None => Some(test.op.holds(test.field.read(ctx))),
            },
        }
    }

    /// Every field the condition reads.
    pub fn fields(&self) -> Box<dyn Iterator<Item = &Field> + '_> {
        match self {
            Condition::All(items) | Condition::Any(items) => {
                Box::new(items.iter().flat_map(Condition::fields))
            }
            Condition::Not(inner) => inner.fields(),
            Condition::Test(test) => Box::new(std::iter::once(&test.field)),
        }
    }

    /// Says why the condition does not hold, naming the fields involved. Called
    /// only for violations, so it may allocate.
    pub fn explain(&self, ctx: &Context<'_>) -> String {
        match self {
            Condition::All(items) => items
                .iter()
                .find(|c| !c.holds(ctx))
                .map_or_else(String::new, |c| c.explain(ctx)),
            Condition::Any(items) if items.is_empty() => "`any = []` never holds".to_owned(),
            Condition::Any(items) => {
                let parts: Vec<String> = items.iter().map(|c| c.explain(ctx)).collect();
                format!("none of: {}", parts.join("; "))
            }
            Condition::Not(inner) => format!("not expected: {}", inner.describe()),
            Condition::Test(test) => {
                let actual = describe_value(test.field.read(ctx));
                format!(
                    "{} is {actual} (requires: {})",
                    test.field.name(),
                    test.op.describe()
                )
            }
        }
    }

    /// The condition as a user would read it.
    fn describe(&self) -> String {
        match self {
            Condition::All(items) => {
                let parts: Vec<String> = items.iter().map(Condition::describe).collect();
                parts.join(" and ")
            }
            Condition::Any(items) => {
                let parts: Vec<String> = items.iter().map(Condition::describe).collect();
                format!("any of ({})", parts.join("; "))
            }
            Condition::Not(inner) => format!("not ({})", inner.describe()),
            Condition::Test(test) => format!("{} {}", test.field.name(), test.op.describe()),
        }
    }
}

fn describe_value(value: Value<'_>) -> String {
    match value {
        Value::Absent => "absent".to_owned(),
        Value::Str(s) => format!("{s:?}"),
        Value::Bool(b) => b.to_string(),
        Value::Int(n) => n.to_string(),
        Value::Num(n) => n.to_string(),
        Value::List(items) => format!("{items:?}"),
        Value::StrMap(map) => format!("{:?}", map.keys().collect::<Vec<_>>()),
        Value::Parameters(map) => format!("{:?}", map.keys().collect::<Vec<_>>()),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::inventory::{Api, ParameterConstraints, Route};

    fn boxed(items: &[&str]) -> Box<[Box<str>]> {
        items.iter().map(|s| Box::from(*s)).collect()
    }

    fn route() -> Route {
        Route {
            route_id: Some("r1".into()),
            route_key: "GET /pets/{id}".into(),
            authorization_type: Some("JWT".into()),
            authorizer_id: Some(String::new()),
            authorization_scopes: Some(vec!["read".into(), "write".into()]),
            api_key_required: None,
            request_models: Some(BTreeMap::from([("application/json".into(), "Pet".into())])),
            request_parameters: Some(BTreeMap::from([(
                "route.request.header.x".into(),
                ParameterConstraints {
                    required: Some(true),
                },
            )])),
            ..Route::default()
        }
    }

    fn api() -> Api {
        Api {
            api_id: "a1".into(),
            name: Some("pets".into()),
            tags: Some(BTreeMap::from([("env".into(), "prod".into())])),
            ..Api::default()
        }
    }

    fn check(field: Field, op: Op) -> bool {
        let route = route();
        let api = api();
        Condition::Test(Test { field, op }).holds(&Context::of(&api).route(&route))
    }

    #[test]
    fn eq_and_ne_on_strings_and_bools() {
        assert!(check(Field::AuthorizationType, Op::EqStr("JWT".into())));
        assert!(!check(Field::AuthorizationType, Op::EqStr("NONE".into())));
        assert!(check(Field::AuthorizationType, Op::NeStr("NONE".into())));
        assert!(!check(Field::AuthorizationType, Op::NeStr("JWT".into())));
        // Absent booleans read as false, so they are present.
        assert!(check(Field::ApiKeyRequired, Op::EqBool(false)));
        assert!(!check(Field::ApiKeyRequired, Op::NeBool(false)));
        assert!(check(Field::ApiKeyRequired, Op::NeBool(true)));
    }

    #[test]
    fn in_and_not_in() {
        assert!(check(Field::Method, Op::In(boxed(&["GET", "HEAD"]))));
        assert!(!check(Field::Method, Op::In(boxed(&["POST"]))));
        assert!(check(Field::Method, Op::NotIn(boxed(&["POST"]))));
        assert!(!check(Field::Method, Op::NotIn(boxed(&["GET"]))));
    }

    #[test]
    fn matches_is_an_unanchored_search() {
        let re = |s: &str| Regex::new(s).unwrap();
        assert!(check(Field::Path, Op::Matches(re("pets"))));
        assert!(!check(Field::Path, Op::Matches(re("^pets"))));
        assert!(check(Field::Path, Op::NotMatches(re("^/admin"))));
        assert!(!check(Field::Path, Op::NotMatches(re("\\{id\\}$"))));
    }

    #[test]
    fn glob_matches_the_whole_value_with_literal_braces() {
        let glob = |s: &str| Op::Glob(Glob::new(s).unwrap());
        assert!(check(Field::RouteKey, glob("GET /pets/{id}")));
        assert!(check(Field::RouteKey, glob("GET /*")));
        assert!(check(Field::RouteKey, glob("* /pets/{??}")));
        assert!(!check(Field::RouteKey, glob("GET /pets")));
        assert!(!check(Field::RouteKey, glob("GET /pets/{?}")));
        assert!(Glob::new("a.c").unwrap().is_match("a.c"));
        assert!(!Glob::new("a.c*").unwrap().is_match("abc"));
        assert!(Glob::new("[x]*").unwrap().is_match("[x]/y\nz"));
        assert!(
            Glob::new("ANY /{proxy+}")
                .unwrap()
                .is_match("ANY /{proxy+}")
        );
    }

    #[test]
    fn exists_reads_empty_as_absent() {
        assert!(check(Field::RouteId, Op::Exists(true)));
        assert!(
            !check(Field::AuthorizerId, Op::Exists(true)),
            "empty string"
        );
        assert!(check(Field::AuthorizerId, Op::Exists(false)));
        assert!(
            check(Field::ApiKeyRequired, Op::Exists(true)),
            "booleans are always present"
        );
        assert!(check(Field::RequestModels, Op::Exists(true)));
        let mut empty = route();
        empty.authorization_scopes = Some(vec![]);
        let api = api();
        let ctx = Context::of(&api).route(&empty);
        assert!(Op::Exists(false).holds(Field::AuthorizationScopes.read(&ctx)));
    }

    #[test]
    fn contains_on_lists_and_map_keys() {
        assert!(check(
            Field::AuthorizationScopes,
            Op::Contains("read".into())
        ));
        assert!(!check(
            Field::AuthorizationScopes,
            Op::Contains("admin".into())
        ));
        assert!(check(
            Field::RequestModels,
            Op::Contains("application/json".into())
        ));
        assert!(check(
            Field::RequestParameters,
            Op::Contains("route.request.header.x".into())
        ));
        assert!(!check(Field::RequestParameters, Op::Contains("x".into())));
        assert!(check(
            Field::AuthorizationScopes,
            Op::ContainsAny(boxed(&["admin", "write"]))
        ));
        assert!(!check(
            Field::AuthorizationScopes,
            Op::ContainsAny(boxed(&["admin"]))
        ));
        assert!(check(
            Field::AuthorizationScopes,
            Op::ContainsAll(boxed(&["read", "write"]))
        ));
        assert!(!check(
            Field::AuthorizationScopes,
            Op::ContainsAll(boxed(&["read", "admin"]))
        ));
        assert!(check(
            Field::AuthorizationScopes,
            Op::SubsetOf(boxed(&["read", "write", "x"]))
        ));
        assert!(!check(
            Field::AuthorizationScopes,
            Op::SubsetOf(boxed(&["read"]))
        ));
    }

    #[test]
    fn lengths_count_characters_elements_and_keys() {
        assert!(check(Field::AuthorizationScopes, Op::MinLen(2)));
        assert!(!check(Field::AuthorizationScopes, Op::MinLen(3)));
        assert!(check(Field::AuthorizationScopes, Op::MaxLen(2)));
        assert!(!check(Field::AuthorizationScopes, Op::MaxLen(1)));
        assert!(check(Field::RequestModels, Op::MaxLen(1)));
        assert!(check(Field::RouteKey, Op::MaxLen(14)));
        assert!(!check(Field::RouteKey, Op::MaxLen(13)));
        let mut unicode = route();
        unicode.operation_name = Some("héllo✓".into());
        let api = api();
        let value = Field::OperationName.read(&Context::of(&api).route(&unicode));
        assert!(
            Op::MaxLen(6).holds(value) && Op::MinLen(6).holds(value),
            "6 chars, 9 bytes"
        );
    }

    #[test]
    fn absent_fields_hold_only_for_negative_operators() {
        let re = Regex::new("x").unwrap();
        let negative = [
            Op::Exists(false),
            Op::NeStr("x".into()),
            Op::NeBool(true),
            Op::NotIn(boxed(&["x"])),
            Op::NotMatches(re.clone()),
        ];
        let positive = [
            Op::Exists(true),
            Op::EqStr("x".into()),
            Op::EqBool(false),
            Op::In(boxed(&["x"])),
            Op::Matches(re),
            Op::Glob(Glob::new("*").unwrap()),
            Op::Contains("x".into()),
            Op::ContainsAny(boxed(&["x"])),
            Op::ContainsAll(boxed(&[])),
            Op::SubsetOf(boxed(&["x"])),
            Op::MinLen(0),
            Op::MaxLen(100),
        ];
        for op in &negative {
            assert!(op.holds(Value::Absent), "{op:?} holds on absent");
        }
        for op in &positive {
            assert!(!op.holds(Value::Absent), "{op:?} does not hold on absent");
        }
    }

    #[test]
    fn absent_context_and_tags() {
        assert!(check(Field::ApiTag("env".into()), Op::EqStr("prod".into())));
        assert!(!check(Field::ApiTag("team".into()), Op::Exists(true)));
        assert!(check(Field::ApiTag("team".into()), Op::NeStr("x".into())));
        assert!(!check(Field::ApiProtocolType, Op::EqStr("HTTP".into())));
        assert!(check(Field::ApiProtocolType, Op::NeStr("WEBSOCKET".into())));
        assert!(!check(Field::TargetName, Op::Glob(Glob::new("*").unwrap())));
        assert!(check(Field::ApiName, Op::EqStr("pets".into())));
        assert!(check(Field::ApiId, Op::EqStr("a1".into())));
    }

    #[test]
    fn combinators_compose() {
        let t = || {
            Condition::Test(Test {
                field: Field::Method,
                op: Op::EqStr("GET".into()),
            })
        };
        let f = || {
            Condition::Test(Test {
                field: Field::Method,
                op: Op::EqStr("PUT".into()),
            })
        };
        let route = route();
        let api = api();
        let ctx = Context::of(&api).route(&route);
        assert!(Condition::All(Box::new([])).holds(&ctx));
        assert!(!Condition::Any(Box::new([])).holds(&ctx));
        assert!(Condition::All(Box::new([t(), t()])).holds(&ctx));
        assert!(!Condition::All(Box::new([t(), f()])).holds(&ctx));
        assert!(Condition::Any(Box::new([f(), t()])).holds(&ctx));
        assert!(Condition::Not(Box::new(f())).holds(&ctx));
        assert!(!Condition::Not(Box::new(t())).holds(&ctx));
    }

    #[test]
    fn explanations_name_the_field_and_its_value() {
        let route = route();
        let api = api();
        let ctx = Context::of(&api).route(&route);
        let cond = Condition::All(Box::new([
            Condition::Test(Test {
                field: Field::Method,
                op: Op::EqStr("GET".into()),
            }),
            Condition::Test(Test {
                field: Field::AuthorizerId,
                op: Op::Exists(true),
            }),
        ]));
        assert_eq!(
            cond.explain(&ctx),
            "authorizer_id is \"\" (requires: present and not empty)"
        );
    }
}

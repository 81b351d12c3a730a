//! Policy files to compiled rules and exemptions: every key checked, every
//! operator type-checked against the field table, every regex and glob compiled.
//! Problems are collected, never returned early, so a file is fixed in one pass.

use std::ops::Range;
use std::sync::Arc;

use regex::RegexBuilder;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::eval::{Cmp, Condition, Glob, Op, Test};
use super::field::{FIELDS, Field, KEYED, Type};
use super::{Exemption, ExemptionInfo, Rule, RuleInfo, Severity};
use crate::diag::{Cursor, describe, regex_error};
use crate::finding::Subject;
use crate::inventory::Needs;

const TOP_KEYS: &[&str] = &["rules", "exemptions"];
const RULE_KEYS: &[&str] = &[
    "id",
    "title",
    "severity",
    "description",
    "remediation",
    "enabled",
    "subject",
    "when",
    "require",
];
const EXEMPTION_KEYS: &[&str] = &[
    "rule",
    "api",
    "route_key",
    "target_name",
    "reason",
    "owner",
    "expires",
];
const OPERATORS: &[&str] = &[
    "eq",
    "ne",
    "in",
    "not_in",
    "matches",
    "not_matches",
    "glob",
    "exists",
    "contains",
    "contains_any",
    "contains_all",
    "subset_of",
    "min_len",
    "max_len",
    "lt",
    "le",
    "gt",
    "ge",
];
/// Regexes are compiled with a size cap, so a hostile policy cannot exhaust memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// An exemption as read, before its rule is resolved against every loaded file.
pub struct ExemptionDraft {
    pub exemption: Exemption,
    pub rule_span: Range<usize>,
}

/// What one file yields; spans point into it.
#[derive(Default)]
pub struct FileItems {
    pub rules: Vec<(Rule, Range<usize>)>,
    pub exemptions: Vec<ExemptionDraft>,
}

/// Compiles one parsed policy file.
pub fn file(cur: &mut Cursor<'_>, doc: &Spanned<DeTable<'_>>) -> FileItems {
    let mut items = FileItems::default();
    let table = doc.get_ref();
    cur.deny_unknown_keys(table, TOP_KEYS, "a policy file");
    if let Some(rules) = table.get("rules") {
        for entry in array_of_tables(cur, rules, "rules") {
            if let Some(rule) = rule(cur, entry) {
                items.rules.push(rule);
            }
            cur.context = None;
        }
    }
    if let Some(exemptions) = table.get("exemptions") {
        for entry in array_of_tables(cur, exemptions, "exemptions") {
            if let Some(draft) = exemption(cur, entry) {
                items.exemptions.push(draft);
            }
        }
    }
    items
}

fn array_of_tables<'t, 'i>(
    cur: &mut Cursor<'_>,
    value: &'t Spanned<DeValue<'i>>,
    key: &str,
) -> Vec<&'t Spanned<DeValue<'i>>> {
    let Some(items) = cur.array(value, key) else {
        return Vec::new();
    };
    items
        .iter()
        .filter(|item| {
            let ok = item.get_ref().is_table();
            if !ok {
                cur.type_error(item, key, "a table ([[{key}]])", item.get_ref());
            }
            ok
        })
        .collect()
}

fn rule(cur: &mut Cursor<'_>, entry: &Spanned<DeValue<'_>>) -> Option<(Rule, Range<usize>)> {
    let table = entry.get_ref().as_table()?;
    let span = entry.span();
    let id_value = cur.required(table, "id", span.clone(), "a rule");
    let id = id_value.and_then(|v| cur.string(v, "id"));
    let id_span = id_value.map_or(span.clone(), Spanned::span);
    if let Some(id) = id {
        cur.context = Some(format!("rule `{id}`"));
        if !valid_id(id) {
            cur.error(
                id_span.clone(),
                format_args!("invalid rule id `{id}`"),
                "ids are 1 to 64 of A-Z a-z 0-9 _ . -",
            );
        } else if id.starts_with("drift.") {
            cur.error(
                id_span.clone(),
                format_args!("rule id `{id}` is reserved"),
                "ids starting with `drift.` name drift findings",
            );
        }
    }
    cur.deny_unknown_keys(table, RULE_KEYS, "a rule");

    let title = cur
        .required(table, "title", span.clone(), "a rule")
        .and_then(|v| {
            let title = cur.string(v, "title")?;
            if title.trim().is_empty() || title.contains('\n') {
                cur.error(
                    v.span(),
                    "`title` must be one non-empty line",
                    "one line of text",
                );
                return None;
            }
            Some(title)
        });
    let severity = cur
        .required(table, "severity", span.clone(), "a rule")
        .and_then(|v| {
            let text = cur.string(v, "severity")?;
            let severity = Severity::parse(text);
            if severity.is_none() {
                cur.error(
                    v.span(),
                    format_args!("unknown severity `{text}`"),
                    "expected one of: info, low, medium, high, critical",
                );
            }
            severity
        });
    let description = optional_string(cur, table, "description");
    let remediation = optional_string(cur, table, "remediation");
    let enabled = match table.get("enabled") {
        Some(v) => cur.bool(v, "enabled"),
        None => Some(true),
    };
    let subject = match table.get("subject") {
        None => Some(Subject::Route),
        Some(v) => cur.string(v, "subject").and_then(|text| {
            let subject = [Subject::Route, Subject::Api, Subject::Stage]
                .into_iter()
                .find(|s| s.as_str() == text);
            if subject.is_none() {
                cur.error(
                    v.span(),
                    format_args!("unknown subject `{text}`"),
                    "expected one of: route (the default), api, stage",
                );
            }
            subject
        }),
    };
    // The fields a condition may name depend on the subject; with an invalid
    // one, check them as for routes so that their own problems are found too.
    let of = subject.unwrap_or_default();
    // `Some(None)`: no `when`; `None`: a `when` with errors.
    let when = match table.get("when") {
        Some(v) => cur
            .table(v, "when")
            .and_then(|t| condition(cur, of, t))
            .map(Some),
        None => Some(None),
    };
    let require = cur
        .required(table, "require", span.clone(), "a rule")
        .and_then(|v| cur.table(v, "require"))
        .and_then(|t| condition(cur, of, t));

    let info = RuleInfo {
        id: id?.into(),
        title: title?.into(),
        severity: severity?,
        description: description?.map(Into::into),
        remediation: remediation?.map(Into::into),
        enabled: enabled?,
        subject: subject?,
        needs: Needs::default(),
    };
    let when = when?;
    let require = require?;
    let reads = when
        .iter()
        .chain(Some(&require))
        .flat_map(Condition::fields);
    let stages = Needs {
        stages: info.subject == Subject::Stage,
        ..Needs::default()
    };
    let needs = reads.fold(stages, |needs, field| needs.union(field.needs()));
    let info = RuleInfo { needs, ..info };
    let rule = Rule {
        info: Arc::new(info),
        when,
        require,
        needs,
    };
    Some((rule, id_span))
}

fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// `Some(None)` when absent, `None` when present with the wrong type.
fn optional_string<'t>(
    cur: &mut Cursor<'_>,
    table: &'t DeTable<'_>,
    key: &str,
) -> Option<Option<&'t str>> {
    match table.get(key) {
        Some(v) => cur.string(v, key).map(Some),
        None => Some(None),
    }
}

/// A condition table: every key must hold. `None` when it had errors (which
/// are reported); the walk goes on so that every problem is found.
fn condition(cur: &mut Cursor<'_>, subject: Subject, table: &DeTable<'_>) -> Option<Condition> {
    all_of(table.iter().map(|(key, value)| {
        let name: &str = key.get_ref().as_ref();
        match name {
            "all" | "any" => combinator_list(cur, subject, name, value),
            "not" => cur
                .table(value, "not")
                .and_then(|t| condition(cur, subject, t))
                .map(|c| Condition::Not(Box::new(c))),
            _ => field(cur, subject, "", key, value),
        }
    }))
}

/// A field key: a field (its value is a predicate), or a table of fields
/// (`api`, `api.cors`, `authorizer.jwt`, `stage.access_log`...: TOML dotted
/// keys nest), or a table of tags (`api.tags.<key>`).
fn field(
    cur: &mut Cursor<'_>,
    subject: Subject,
    prefix: &str,
    key: &Spanned<std::borrow::Cow<'_, str>>,
    value: &Spanned<DeValue<'_>>,
) -> Option<Condition> {
    let name = format!("{prefix}{}", key.get_ref());
    if let Some((_, field)) = FIELDS.iter().find(|(n, _)| *n == name) {
        return visible(cur, subject, field, key.span())
            .then(|| predicate(cur, field.clone(), value))
            .flatten();
    }
    let keyed = KEYED.contains(&name.as_str());
    let namespace = format!("{name}.");
    if !keyed && !FIELDS.iter().any(|(n, _)| n.starts_with(&namespace)) {
        unknown_field(cur, key.span(), &name);
        return None;
    }
    let Some(table) = value.get_ref().as_table() else {
        let example = if keyed {
            format!("{name}.<key> = <predicate>, e.g. {name}.env = \"prod\"")
        } else {
            let first = FIELDS.iter().find(|(n, _)| n.starts_with(&namespace));
            format!("{} = <predicate>", first.map_or(name.as_str(), |(n, _)| n))
        };
        let what = if keyed {
            "addressed by tag key"
        } else {
            "a table of fields"
        };
        cur.error(
            value.span(),
            format_args!("`{name}` is {what}, found {}", describe(value.get_ref())),
            format!("write {example}"),
        );
        return None;
    };
    all_of(table.iter().map(|(key, value)| {
        if keyed {
            let field = Field::keyed(&name, key.get_ref()).expect("a keyed table");
            visible(cur, subject, &field, key.span())
                .then(|| predicate(cur, field, value))
                .flatten()
        } else {
            field(cur, subject, &namespace, key, value)
        }
    }))
}

/// Whether a rule on `subject` can read the field; an error where it cannot.
fn visible(cur: &mut Cursor<'_>, subject: Subject, field: &Field, span: Range<usize>) -> bool {
    let scope = field.scope();
    if scope.visible_to(subject) {
        return true;
    }
    let what = match scope {
        super::field::Scope::Stage => "a stage field",
        _ => "a route field",
    };
    let sees = match subject {
        Subject::Route => {
            "route fields (with authorizer.* and integration.*), api.*, target_name and region"
        }
        Subject::Api => "api.*, target_name and region",
        Subject::Stage => "stage.*, api.*, target_name and region",
    };
    cur.error(
        span,
        format_args!(
            "`{}` is {what}, which a rule with subject = \"{}\" does not have",
            field.name(),
            subject.as_str()
        ),
        format!("a {} rule sees {sees}", subject.as_str()),
    );
    false
}

fn unknown_field(cur: &mut Cursor<'_>, span: Range<usize>, name: &str) {
    let names = FIELDS.iter().map(|(n, _)| *n).chain(KEYED.iter().copied());
    let hint = names
        .map(|n| (strsim::levenshtein(name, n), n))
        .filter(|(distance, n)| *distance <= (n.len() / 3).max(2))
        .min()
        .map(|(_, n)| format!(": did you mean `{n}`?"))
        .unwrap_or_default();
    cur.error(
        span,
        format_args!("unknown field `{name}`{hint}"),
        "expected a combinator (all, any, not) or a field: route fields, api.*, authorizer.*, integration.*, stage.*, target_name, region (docs/policy-language.md lists them)",
    );
}

/// Compiles every part, even after one fails, so that every problem is
/// reported; `None` if any part had errors.
fn compile_all(parts: impl IntoIterator<Item = Option<Condition>>) -> Option<Vec<Condition>> {
    let mut ok = true;
    let mut out = Vec::new();
    for part in parts {
        match part {
            Some(part) => out.push(part),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// Every part must hold; a single part stands for itself.
fn all_of(parts: impl IntoIterator<Item = Option<Condition>>) -> Option<Condition> {
    let mut parts = compile_all(parts)?;
    Some(if parts.len() == 1 {
        parts.pop().expect("one part")
    } else {
        Condition::All(parts.into_boxed_slice())
    })
}

fn combinator_list(
    cur: &mut Cursor<'_>,
    subject: Subject,
    key: &str,
    value: &Spanned<DeValue<'_>>,
) -> Option<Condition> {
    let items = cur.array(value, key)?;
    let conditions = compile_all(items.iter().map(|item| match item.get_ref() {
        DeValue::Table(t) => condition(cur, subject, t),
        other => {
            cur.type_error(item, &format!("{key}[]"), "a condition table", other);
            None
        }
    }))?
    .into_boxed_slice();
    Some(match key {
        "all" => Condition::All(conditions),
        _ => Condition::Any(conditions),
    })
}

/// A predicate: a shorthand value or a table of operators, all of which must hold.
fn predicate(
    cur: &mut Cursor<'_>,
    field: Field,
    value: &Spanned<DeValue<'_>>,
) -> Option<Condition> {
    let test = |op| {
        Condition::Test(Test {
            field: field.clone(),
            op,
        })
    };
    match value.get_ref() {
        DeValue::Table(ops) => {
            if ops.is_empty() {
                cur.error(
                    value.span(),
                    format_args!("empty predicate for `{}`", field.name()),
                    format!("give an operator: {}", OPERATORS.join(", ")),
                );
                return None;
            }
            all_of(
                ops.iter()
                    .map(|(op_key, operand)| operator(cur, &field, op_key, operand).map(test)),
            )
        }
        DeValue::Array(_) => {
            let key = Spanned::new(value.span(), std::borrow::Cow::Borrowed("in"));
            operator(cur, &field, &key, value).map(test)
        }
        _ => {
            let key = Spanned::new(value.span(), std::borrow::Cow::Borrowed("eq"));
            operator(cur, &field, &key, value).map(test)
        }
    }
}

/// Which field types each operator applies to.
fn applies_to(op: &str) -> &'static [Type] {
    match op {
        "eq" | "ne" => &[Type::String, Type::Bool, Type::Integer, Type::Number],
        "lt" | "le" | "gt" | "ge" => &[Type::Integer, Type::Number],
        "in" | "not_in" | "matches" | "not_matches" | "glob" => &[Type::String],
        "exists" => &[
            Type::String,
            Type::Bool,
            Type::Integer,
            Type::Number,
            Type::List,
            Type::Map,
        ],
        "contains" => &[Type::List, Type::Map],
        "contains_any" | "contains_all" | "subset_of" => &[Type::List],
        "min_len" | "max_len" => &[Type::String, Type::List, Type::Map],
        _ => &[],
    }
}

fn operator(
    cur: &mut Cursor<'_>,
    field: &Field,
    key: &Spanned<std::borrow::Cow<'_, str>>,
    operand: &Spanned<DeValue<'_>>,
) -> Option<Op> {
    let name: &str = key.get_ref().as_ref();
    let field_name = field.name();
    if !OPERATORS.contains(&name) {
        cur.error(
            key.span(),
            format_args!("unknown operator `{name}` for `{field_name}`"),
            format!("expected one of: {}", OPERATORS.join(", ")),
        );
        return None;
    }
    let ty = field.ty();
    let types = applies_to(name);
    if !types.contains(&ty) {
        let wanted: Vec<&str> = types.iter().map(|t| t.describe()).collect();
        cur.error(
            key.span(),
            format_args!(
                "operator `{name}` does not apply to `{field_name}`, which is {}",
                ty.describe()
            ),
            format!("`{name}` applies to {}", one_of(&wanted)),
        );
        return None;
    }
    let what = format!("{field_name}.{name}");
    if matches!(name, "eq" | "ne" | "in" | "not_in")
        && let Some(values) = field.values()
        && !enum_literals(cur, &field_name, values, operand)
    {
        return None;
    }
    if matches!(ty, Type::Integer | Type::Number) {
        return number(cur, &field_name, name, ty, operand);
    }
    match name {
        "eq" | "ne" => match (ty, operand.get_ref()) {
            (Type::String, DeValue::String(s)) => Some(if name == "eq" {
                Op::EqStr(s.as_ref().into())
            } else {
                Op::NeStr(s.as_ref().into())
            }),
            (Type::Bool, DeValue::Boolean(b)) => Some(if name == "eq" {
                Op::EqBool(*b)
            } else {
                Op::NeBool(*b)
            }),
            (_, other) => {
                let expected = if ty == Type::Bool {
                    "a boolean"
                } else {
                    "a string"
                };
                cur.error(
                    operand.span(),
                    format_args!(
                        "`{field_name}` is {}, but `{name}` compares it with {}",
                        ty.describe(),
                        describe(other)
                    ),
                    format!("expected {expected}"),
                );
                None
            }
        },
        "in" | "not_in" | "contains_any" | "contains_all" | "subset_of" => {
            let list: Box<[Box<str>]> = cur
                .strings(operand, &what)?
                .into_iter()
                .map(Box::from)
                .collect();
            Some(match name {
                "in" => Op::In(list),
                "not_in" => Op::NotIn(list),
                "contains_any" => Op::ContainsAny(list),
                "contains_all" => Op::ContainsAll(list),
                _ => Op::SubsetOf(list),
            })
        }
        "matches" | "not_matches" => {
            let pattern = cur.string(operand, &what)?;
            match RegexBuilder::new(pattern)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
            {
                Ok(re) if name == "matches" => Some(Op::Matches(re)),
                Ok(re) => Some(Op::NotMatches(re)),
                Err(err) => {
                    cur.error(
                        operand.span(),
                        format_args!("invalid regex for `{what}`: {}", regex_error(&err)),
                        "this regex does not compile",
                    );
                    None
                }
            }
        }
        "glob" => {
            let pattern = cur.string(operand, &what)?;
            match Glob::new(pattern) {
                Ok(glob) => Some(Op::Glob(glob)),
                Err(err) => {
                    cur.error(
                        operand.span(),
                        format_args!("invalid glob for `{what}`: {}", regex_error(&err)),
                        "this glob does not compile",
                    );
                    None
                }
            }
        }
        "exists" => cur.bool(operand, &what).map(Op::Exists),
        "contains" => cur.string(operand, &what).map(|s| Op::Contains(s.into())),
        "min_len" | "max_len" => {
            let n = cur.integer(operand, &what)?;
            let Ok(n) = usize::try_from(n) else {
                cur.error(
                    operand.span(),
                    format_args!("`{what}` must not be negative"),
                    "expected 0 or more",
                );
                return None;
            };
            Some(if name == "min_len" {
                Op::MinLen(n)
            } else {
                Op::MaxLen(n)
            })
        }
        _ => unreachable!("every operator is handled"),
    }
}

/// `a, b or c`.
fn one_of(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// A numeric comparison: an integer operand, or for number fields (and the
/// ordering operators) a float. `eq 3.5` on an integer field could never hold,
/// so it is an error, not a silent false.
fn number(
    cur: &mut Cursor<'_>,
    field_name: &str,
    op: &str,
    ty: Type,
    operand: &Spanned<DeValue<'_>>,
) -> Option<Op> {
    let cmp = match op {
        "eq" => Cmp::Eq,
        "ne" => Cmp::Ne,
        "lt" => Cmp::Lt,
        "le" => Cmp::Le,
        "gt" => Cmp::Gt,
        _ => Cmp::Ge,
    };
    let exact = ty == Type::Integer && matches!(cmp, Cmp::Eq | Cmp::Ne);
    let value = match operand.get_ref() {
        DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
            .ok()
            .map(|i| i as f64),
        DeValue::Float(f) if !exact => f.as_str().replace('_', "").parse::<f64>().ok(),
        _ => None,
    };
    match value.filter(|v| v.is_finite()) {
        Some(value) => Some(Op::Num(cmp, value)),
        None => {
            let expected = if exact { "an integer" } else { "a number" };
            cur.error(
                operand.span(),
                format_args!(
                    "`{field_name}` is {}, but `{op}` compares it with {}",
                    ty.describe(),
                    describe(operand.get_ref())
                ),
                format!("expected {expected}"),
            );
            None
        }
    }
}

/// Checks the string literals compared with an enumerated field (one, or
/// each of a list) against AWS's values: a typo would make the comparison
/// never hold, so a rule would silently never apply. Other types are left to
/// the type checks. False when a literal is not a value.
fn enum_literals(
    cur: &mut Cursor<'_>,
    field_name: &str,
    values: &[&str],
    operand: &Spanned<DeValue<'_>>,
) -> bool {
    let literals: Vec<&Spanned<DeValue<'_>>> = match operand.get_ref() {
        DeValue::Array(items) => items.iter().collect(),
        _ => vec![operand],
    };
    let mut ok = true;
    for literal in literals {
        let DeValue::String(text) = literal.get_ref() else {
            continue;
        };
        let text: &str = text.as_ref();
        if values.contains(&text) {
            continue;
        }
        ok = false;
        let hint = match closest(text, values) {
            Some(value) => format!(": did you mean `{value}`?"),
            None if text.eq_ignore_ascii_case("COGNITO_USER_POOLS") => {
                " (that is a REST API type; HTTP APIs check Cognito tokens with `JWT`)".to_owned()
            }
            None => String::new(),
        };
        cur.error(
            literal.span(),
            format_args!("`{text}` is not a value of `{field_name}`{hint}"),
            format!(
                "`{field_name}` is one of: {} (as AWS spells them)",
                values.join(", ")
            ),
        );
    }
    ok
}

/// The value a literal most likely meant: the same but for case, else the
/// nearest by edit distance where it is close.
fn closest<'v>(text: &str, values: &[&'v str]) -> Option<&'v str> {
    if let Some(value) = values.iter().find(|v| v.eq_ignore_ascii_case(text)) {
        return Some(value);
    }
    let upper = text.to_ascii_uppercase();
    values
        .iter()
        .map(|v| (strsim::levenshtein(&upper, v), *v))
        .filter(|(distance, v)| *distance <= (v.len() / 3).max(1))
        .min()
        .map(|(_, v)| v)
}

/// An exemption's stable label: its rule and a hash (FNV-1a, the same on
/// every platform and release) of its patterns and expiry, each
/// length-prefixed so that no two differ only in where one ends.
fn exemption_label(rule: &str, patterns: &[&str], expires: Option<time::Date>) -> String {
    use std::hash::Hasher;
    let mut hasher = fnv::FnvHasher::default();
    let expires = expires.map(|d| d.to_string()).unwrap_or_default();
    for part in std::iter::once(rule)
        .chain(patterns.iter().copied())
        .chain(std::iter::once(expires.as_str()))
    {
        hasher.write_u64(part.len() as u64);
        hasher.write(part.as_bytes());
    }
    let rule = if rule == "*" { "any" } else { rule };
    format!("{rule}-{:08x}", hasher.finish() as u32)
}

fn exemption(cur: &mut Cursor<'_>, entry: &Spanned<DeValue<'_>>) -> Option<ExemptionDraft> {
    let table = entry.get_ref().as_table()?;
    let span = entry.span();
    cur.context = None;
    let rule_value = cur.required(table, "rule", span.clone(), "an exemption");
    let rule = rule_value.and_then(|v| cur.string(v, "rule"));
    if let Some(rule) = rule {
        cur.context = Some(format!("exemption of `{rule}`"));
    }
    cur.deny_unknown_keys(table, EXEMPTION_KEYS, "an exemption");
    let mut glob = |key: &str| -> Option<Option<Glob>> {
        let Some(v) = table.get(key) else {
            return Some(None);
        };
        let pattern = cur.string(v, key)?;
        match Glob::new(pattern) {
            Ok(glob) => Some(Some(glob)),
            Err(err) => {
                cur.error(
                    v.span(),
                    format_args!("invalid glob for `{key}`: {}", regex_error(&err)),
                    "this glob does not compile",
                );
                None
            }
        }
    };
    let api = glob("api");
    let route_key = glob("route_key");
    let target_name = glob("target_name");
    // What the exemption matches, for its label: the patterns as written.
    let matched: Vec<&str> = ["api", "route_key", "target_name"]
        .iter()
        .map(|key| {
            table
                .get(*key)
                .and_then(|v| v.get_ref().as_str())
                .unwrap_or("")
        })
        .collect();
    let reason = cur
        .required(table, "reason", span.clone(), "an exemption")
        .and_then(|v| {
            let reason = cur.string(v, "reason")?;
            if reason.trim().is_empty() {
                cur.error(
                    v.span(),
                    "`reason` must not be empty",
                    "say why this is accepted",
                );
                return None;
            }
            Some(reason)
        });
    let owner = optional_string(cur, table, "owner");
    let expires = match table.get("expires") {
        None => Some(None),
        Some(v) => match v.get_ref() {
            DeValue::Datetime(dt)
                if dt.time.is_none() && dt.offset.is_none() && dt.date.is_some() =>
            {
                let date = dt.date.expect("checked");
                let parsed = time::Month::try_from(date.month).ok().and_then(|m| {
                    time::Date::from_calendar_date(i32::from(date.year), m, date.day).ok()
                });
                if parsed.is_none() {
                    cur.error(
                        v.span(),
                        "`expires` is not a valid date",
                        "expected a date like 2027-03-01",
                    );
                }
                parsed.map(Some)
            }
            other => {
                cur.error(
                    v.span(),
                    format_args!(
                        "`expires` must be a TOML date such as 2027-03-01, found {}",
                        describe(other)
                    ),
                    "expected a bare date: expires = 2027-03-01",
                );
                None
            }
        },
    };
    cur.context = None;
    let rule = rule?;
    let expires = expires?;
    let label = exemption_label(rule, &matched, expires);
    let location = crate::inventory::Location {
        path: crate::diag::display_path(std::path::Path::new(cur.diags.name(cur.file))).into(),
        line: cur.diags.line(cur.file, span.start),
        column: None,
    };
    let info = ExemptionInfo {
        rule: rule.into(),
        reason: reason?.into(),
        owner: owner?.map(Into::into),
        expires,
        label: label.into(),
        location: Some(location),
    };
    Some(ExemptionDraft {
        exemption: Exemption {
            info: Arc::new(info),
            api: api?,
            route_key: route_key?,
            target_name: target_name?,
        },
        rule_span: rule_value.map_or(span, Spanned::span),
    })
}

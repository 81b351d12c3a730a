//! Policy files to compiled rules and exemptions: every key checked, every
//! operator type-checked against the field table, every regex and glob compiled.
//! Problems are collected, never returned early, so a file is fixed in one pass.

use std::ops::Range;
use std::sync::Arc;

use regex::RegexBuilder;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::eval::{Condition, Glob, Op, Test};
use super::field::{API_FIELDS, Field, ROUTE_FIELDS, Type};
use super::{Exemption, ExemptionInfo, Rule, RuleInfo, Severity};
use crate::diag::{Cursor, describe, regex_error};
use crate::finding::Subject;

const TOP_KEYS: &[&str] = &["rules", "exemptions"];
const RULE_KEYS: &[&str] = &[
    "id",
    "title",
    "severity",
    "description",
    "remediation",
    "enabled",
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
const COMBINATORS: &[&str] = &["all", "any", "not"];
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
    // `Some(None)`: no `when`; `None`: a `when` with errors.
    let when = match table.get("when") {
        Some(v) => cur
            .table(v, "when")
            .and_then(|t| condition(cur, t))
            .map(Some),
        None => Some(None),
    };
    let require = cur
        .required(table, "require", span.clone(), "a rule")
        .and_then(|v| cur.table(v, "require"))
        .and_then(|t| condition(cur, t));

    let info = RuleInfo {
        id: id?.into(),
        title: title?.into(),
        severity: severity?,
        description: description?.map(Into::into),
        remediation: remediation?.map(Into::into),
        enabled: enabled?,
        subject: Subject::Route,
    };
    let rule = Rule {
        info: Arc::new(info),
        when: when?,
        require: require?,
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
fn condition(cur: &mut Cursor<'_>, table: &DeTable<'_>) -> Option<Condition> {
    all_of(table.iter().map(|(key, value)| {
        let name: &str = key.get_ref().as_ref();
        match name {
            "all" | "any" => combinator_list(cur, name, value),
            "not" => cur
                .table(value, "not")
                .and_then(|t| condition(cur, t))
                .map(|c| Condition::Not(Box::new(c))),
            "api" => api_fields(cur, value),
            _ => match ROUTE_FIELDS.iter().find(|(n, _)| *n == name) {
                Some((_, field)) => predicate(cur, field.clone(), value),
                None => {
                    let mut expected: Vec<&str> = COMBINATORS.to_vec();
                    expected.extend(ROUTE_FIELDS.iter().map(|(n, _)| *n));
                    expected.push("api.<field>");
                    cur.error(
                        key.span(),
                        format_args!("unknown field `{name}`"),
                        format!("expected a combinator or a field: {}", expected.join(", ")),
                    );
                    None
                }
            },
        }
    }))
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
    key: &str,
    value: &Spanned<DeValue<'_>>,
) -> Option<Condition> {
    let items = cur.array(value, key)?;
    let conditions = compile_all(items.iter().map(|item| match item.get_ref() {
        DeValue::Table(t) => condition(cur, t),
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

/// The `api` table: `id`, `name`, `protocol_type`, and `tags.<key>`.
fn api_fields(cur: &mut Cursor<'_>, value: &Spanned<DeValue<'_>>) -> Option<Condition> {
    let Some(table) = value.get_ref().as_table() else {
        cur.error(
            value.span(),
            format_args!(
                "`api` must be a table of API fields, found {}",
                describe(value.get_ref())
            ),
            "write api.name = ..., api.id = ..., api.protocol_type = ... or api.tags.<key> = ...",
        );
        return None;
    };
    all_of(table.iter().map(|(key, value)| {
        let name: &str = key.get_ref().as_ref();
        if name == "tags" {
            tag_fields(cur, value)
        } else if let Some((_, field)) = API_FIELDS.iter().find(|(n, _)| *n == name) {
            predicate(cur, field.clone(), value)
        } else {
            cur.error(
                key.span(),
                format_args!("unknown field `api.{name}`"),
                "expected one of: api.id, api.name, api.protocol_type, api.tags.<key>",
            );
            None
        }
    }))
}

fn tag_fields(cur: &mut Cursor<'_>, value: &Spanned<DeValue<'_>>) -> Option<Condition> {
    let Some(table) = value.get_ref().as_table() else {
        cur.error(
            value.span(),
            "`api.tags` must be addressed by tag key",
            "write api.tags.<key> = <predicate>, e.g. api.tags.env = \"prod\"",
        );
        return None;
    };
    all_of(
        table.iter().map(|(key, value)| {
            predicate(cur, Field::ApiTag(key.get_ref().as_ref().into()), value)
        }),
    )
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
        "eq" | "ne" => &[Type::String, Type::Bool],
        "in" | "not_in" | "matches" | "not_matches" | "glob" => &[Type::String],
        "exists" => &[Type::String, Type::Bool, Type::List, Type::Map],
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
            format!("`{name}` applies to {}", wanted.join(" or ")),
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
    let info = ExemptionInfo {
        rule: rule.into(),
        reason: reason?.into(),
        owner: owner?.map(Into::into),
        expires: expires?,
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

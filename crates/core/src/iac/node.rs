//! A document tree that remembers where each value was written: what the
//! readers of templates, plans and OpenAPI files walk. JSON is parsed by
//! `jsonc-parser`, YAML by `yaml-rust2` (its event API, so that short-form
//! tags such as `!Ref` and every value's position are kept); both become the
//! same [`Node`].

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A value with its position (a byte offset in its file) and, in YAML, its
/// tag (`Ref` for `!Ref`).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub tag: Option<Box<str>>,
    pub at: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// A number, as written.
    Num(Box<str>),
    Str(Box<str>),
    Seq(Vec<Node>),
    /// Keys in the order written.
    Map(Vec<(Key, Node)>),
}

/// The tag of an unknown value (no YAML tag can be spelled so).
const UNKNOWN: &str = "?unknown";
const ONE_OF: &str = "?one-of";
const MAYBE_ABSENT: &str = "?maybe-absent";

/// A mapping key with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub name: Box<str>,
    pub at: usize,
}

impl Node {
    pub fn new(value: Value, at: usize) -> Node {
        Node {
            value,
            tag: None,
            at,
        }
    }

    /// A value not known before deploy, and why: what the readers of
    /// templates make of a parameter without a default, an `ImportValue`, a
    /// Terraform value known after apply.
    pub fn unknown(reason: impl Into<Box<str>>, at: usize) -> Node {
        Node {
            value: Value::Str(reason.into()),
            tag: Some(UNKNOWN.into()),
            at,
        }
    }

    /// A value not known before deploy that may not be set at all (a
    /// `Fn::If` on an unknown condition with an `AWS::NoValue` branch).
    pub fn maybe_absent(reason: impl Into<Box<str>>, at: usize) -> Node {
        Node {
            value: Value::Str(reason.into()),
            tag: Some(MAYBE_ABSENT.into()),
            at,
        }
    }

    /// A string not known before deploy whose beginning is known
    /// (`https://cognito-idp.${AWS::Region}...`): rules on its scheme are
    /// decided.
    pub fn unknown_after(reason: impl Into<Box<str>>, prefix: &str, at: usize) -> Node {
        if prefix.is_empty() {
            return Node::unknown(reason, at);
        }
        Node {
            value: Value::Seq(vec![
                Node::new(Value::Str(reason.into()), at),
                Node::new(Value::Str(prefix.into()), at),
            ]),
            tag: Some(UNKNOWN.into()),
            at,
        }
    }

    /// A value not known before deploy that is one of a few the code
    /// allows (a parameter's `AllowedValues`): rules that hold for all of
    /// them alike are decided.
    pub fn one_of(reason: impl Into<Box<str>>, values: &[String], at: usize) -> Node {
        let mut parts = vec![Node::new(Value::Str(reason.into()), at)];
        parts.extend(
            values
                .iter()
                .map(|v| Node::new(Value::Str(v.as_str().into()), at)),
        );
        Node {
            value: Value::Seq(parts),
            tag: Some(ONE_OF.into()),
            at,
        }
    }

    /// Why the value is unknown, where it is.
    pub fn unknown_reason(&self) -> Option<&str> {
        match (&self.value, self.tag.as_deref()) {
            (Value::Str(reason), Some(UNKNOWN | MAYBE_ABSENT)) => Some(reason),
            (Value::Seq(parts), Some(UNKNOWN | ONE_OF)) => parts.first()?.text_unchecked(),
            _ => None,
        }
    }

    /// The values an unknown value may take, where the code lists them.
    pub fn possible_values(&self) -> Option<Vec<String>> {
        match (&self.value, self.tag.as_deref()) {
            (Value::Seq(parts), Some(ONE_OF)) => Some(
                parts
                    .iter()
                    .skip(1)
                    .filter_map(Node::text_unchecked)
                    .map(str::to_owned)
                    .collect(),
            ),
            _ => None,
        }
    }

    /// The known beginning of an unknown string, if any.
    pub fn known_prefix(&self) -> Option<&str> {
        match (&self.value, self.tag.as_deref()) {
            (Value::Seq(parts), Some(UNKNOWN)) => parts.get(1)?.text_unchecked(),
            _ => None,
        }
    }

    fn text_unchecked(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Whether an unknown value may be unset (see [`Node::maybe_absent`]).
    pub fn may_be_absent(&self) -> bool {
        self.tag.as_deref() == Some(MAYBE_ABSENT)
    }

    /// The value of `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries()
            .iter()
            .find(|(k, _)| &*k.name == key)
            .map(|(_, v)| v)
    }

    /// A mapping's entries; empty for anything else.
    pub fn entries(&self) -> &[(Key, Node)] {
        match &self.value {
            Value::Map(entries) => entries,
            _ => &[],
        }
    }

    /// A sequence's items; empty for anything else.
    pub fn items(&self) -> &[Node] {
        match &self.value {
            Value::Seq(items) => items,
            _ => &[],
        }
    }

    pub fn is_map(&self) -> bool {
        matches!(self.value, Value::Map(_))
    }

    /// A scalar as text: strings, numbers as written, booleans as
    /// `true`/`false` (how CloudFormation and Terraform read them); `None`
    /// for an unknown value.
    pub fn text(&self) -> Option<&str> {
        if self.unknown_reason().is_some() {
            return None;
        }
        match &self.value {
            Value::Str(s) | Value::Num(s) => Some(s),
            Value::Bool(true) => Some("true"),
            Value::Bool(false) => Some("false"),
            _ => None,
        }
    }

    /// A boolean, written as one or as the string `"true"`/`"false"` (any case).
    pub fn boolean(&self) -> Option<bool> {
        match &self.value {
            Value::Bool(b) => Some(*b),
            Value::Str(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Value::Str(s) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        }
    }

    /// An integer, written as a number or a string of digits.
    pub fn integer(&self) -> Option<i64> {
        match &self.value {
            Value::Num(s) | Value::Str(s) => s
                .parse::<i64>()
                .ok()
                .or_else(|| s.parse::<f64>().ok().map(|f| f as i64)),
            _ => None,
        }
    }

    /// The kind of value, for messages.
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Num(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// Line starts of a text, to turn byte offsets into 1-based lines and
/// columns (columns count characters).
#[derive(Debug, Clone)]
pub struct Lines {
    starts: Vec<usize>,
}

impl Lines {
    pub fn new(text: &str) -> Lines {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Lines { starts }
    }

    /// The 1-based line and column of a byte offset.
    pub fn position(&self, text: &str, at: usize) -> (u32, u32) {
        let line = self.starts.partition_point(|&s| s <= at).max(1);
        let start = self.starts[line - 1];
        let end = at.min(text.len());
        let column = text
            .get(start..end)
            .map_or(end.saturating_sub(start), |s| s.chars().count())
            + 1;
        (line as u32, column as u32)
    }
}

/// A document that does not parse: why, and where (a byte offset).
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub message: String,
    pub at: usize,
}

/// How deep documents may nest. Real templates stay under 20 levels; the
/// readers recurse over the tree, so a hostile file must not nest without end.
pub const MAX_DEPTH: usize = 256;

/// Where a JSON text first nests deeper than [`MAX_DEPTH`], if it does
/// (brackets counted outside strings).
fn too_deep(text: &str) -> Option<usize> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, byte) in text.bytes().enumerate() {
        match (in_string, byte) {
            (true, _) if escaped => escaped = false,
            (true, b'\\') => escaped = true,
            (true, b'"') => in_string = false,
            (true, _) => {}
            (false, b'"') => in_string = true,
            (false, b'[' | b'{') => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Some(i);
                }
            }
            (false, b']' | b'}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

fn nesting_error(at: usize) -> SyntaxError {
    SyntaxError {
        message: format!("the document nests deeper than {MAX_DEPTH} levels"),
        at,
    }
}

/// Parses JSON (comments and trailing commas tolerated, as editors write).
pub fn parse_json(text: &str) -> Result<Node, SyntaxError> {
    if let Some(at) = too_deep(text) {
        return Err(nesting_error(at));
    }
    use jsonc_parser::{CollectOptions, ParseOptions, parse_to_ast};
    let options = ParseOptions {
        allow_loose_object_property_names: false,
        allow_missing_commas: false,
        allow_single_quoted_strings: false,
        allow_hexadecimal_numbers: false,
        allow_unary_plus_numbers: false,
        allow_bare_decimal_point_numbers: false,
        allow_non_finite_numbers: false,
        allow_extended_string_escapes: false,
        ..ParseOptions::default()
    };
    let parsed =
        parse_to_ast(text, &CollectOptions::default(), &options).map_err(|err| SyntaxError {
            message: err.kind().to_string(),
            at: err.range().start,
        })?;
    match parsed.value {
        Some(value) => Ok(from_json(value)),
        None => Err(SyntaxError {
            message: "the file is empty".to_owned(),
            at: 0,
        }),
    }
}

fn from_json(value: jsonc_parser::ast::Value<'_>) -> Node {
    use jsonc_parser::ast::{ObjectPropName, Value as J};
    match value {
        J::StringLit(s) => Node::new(Value::Str(s.value.into()), s.range.start),
        J::NumberLit(n) => Node::new(Value::Num(n.value.into()), n.range.start),
        J::BooleanLit(b) => Node::new(Value::Bool(b.value), b.range.start),
        J::NullKeyword(n) => Node::new(Value::Null, n.range.start),
        J::Array(a) => Node::new(
            Value::Seq(a.elements.into_iter().map(from_json).collect()),
            a.range.start,
        ),
        J::Object(o) => {
            let at = o.range.start;
            let entries = o
                .properties
                .into_iter()
                .map(|p| {
                    let key = match p.name {
                        ObjectPropName::String(s) => Key {
                            name: s.value.into(),
                            at: s.range.start,
                        },
                        ObjectPropName::Word(w) => Key {
                            name: w.value.into(),
                            at: w.range.start,
                        },
                    };
                    (key, from_json(p.value))
                })
                .collect();
            Node::new(Value::Map(entries), at)
        }
    }
}

/// Parses one YAML document. Tags are kept on their nodes (`!Ref x` is the
/// string `x` tagged `Ref`); anchors and aliases are resolved; plain scalars
/// follow YAML 1.2's core schema (`true`, `null`, numbers), every other
/// scalar is a string.
pub fn parse_yaml(text: &str) -> Result<Node, SyntaxError> {
    let mut builder = Builder::new(text);
    let mut parser = Parser::new_from_str(text);
    parser
        .load(&mut builder, false)
        .map_err(|err| SyntaxError {
            message: err.info().to_owned(),
            at: builder.offset(err.marker()),
        })?;
    if let Some(message) = builder.error {
        return Err(SyntaxError {
            message,
            at: builder.error_at,
        });
    }
    match builder.done {
        Some(node) => Ok(node),
        None => Err(SyntaxError {
            message: "the file holds no YAML document".to_owned(),
            at: 0,
        }),
    }
}

/// Builds nodes from parser events.
struct Builder<'t> {
    /// Open collections: the node, and for a mapping its pending key.
    stack: Vec<(Node, Option<Key>)>,
    /// Anchored nodes, with how many nodes each holds.
    anchors: HashMap<usize, (Node, usize)>,
    /// Nodes made so far, aliases expanded: bounded, so that aliases of
    /// aliases (a "billion laughs") cannot exhaust memory.
    made: usize,
    /// Anchor ids of the open collections, parallel to `stack`.
    anchor_ids: Vec<usize>,
    done: Option<Node>,
    error: Option<String>,
    error_at: usize,
    text: &'t str,
    lines: Lines,
}

impl<'t> Builder<'t> {
    fn new(text: &'t str) -> Builder<'t> {
        Builder {
            stack: Vec::new(),
            anchors: HashMap::new(),
            made: 0,
            anchor_ids: Vec::new(),
            done: None,
            error: None,
            error_at: 0,
            text,
            lines: Lines::new(text),
        }
    }

    /// The most nodes a document may expand to: far above what its text
    /// writes out, far below what exhausts memory.
    fn most_nodes(&self) -> usize {
        (self.text.len() * 4).max(100_000)
    }

    /// yaml-rust2's markers count characters; offsets here are bytes: the
    /// marker's line start plus its column's characters.
    fn offset(&self, marker: &Marker) -> usize {
        let line = marker.line().max(1);
        let Some(&start) = self.lines.starts.get(line - 1) else {
            return self.text.len();
        };
        let rest = &self.text[start..];
        rest.char_indices()
            .nth(marker.col())
            .map_or(self.text.len(), |(i, _)| start + i)
    }

    fn push(&mut self, node: Node, at: usize) {
        match self.stack.last_mut() {
            None => {
                if self.done.is_none() {
                    self.done = Some(node);
                }
            }
            Some((parent, pending)) => match &mut parent.value {
                Value::Seq(items) => items.push(node),
                Value::Map(entries) => match pending.take() {
                    None => {
                        let name = match node.text() {
                            Some(text) => text.into(),
                            None if matches!(node.value, Value::Null) => "".into(),
                            None => {
                                if self.error.is_none() {
                                    self.error = Some(format!(
                                        "a mapping key must be a scalar, not {}",
                                        node.kind()
                                    ));
                                    self.error_at = at;
                                }
                                "".into()
                            }
                        };
                        *pending = Some(Key { name, at: node.at });
                    }
                    Some(key) => {
                        if entries.iter().any(|(k, _)| k.name == key.name) && self.error.is_none() {
                            self.error = Some(format!("duplicate key `{}`", key.name));
                            self.error_at = key.at;
                        }
                        entries.push((key, node));
                    }
                },
                _ => unreachable!("only collections are open"),
            },
        }
    }
}

/// How many nodes a tree holds.
fn weight(node: &Node) -> usize {
    1 + match &node.value {
        Value::Seq(items) => items.iter().map(weight).sum(),
        Value::Map(entries) => entries.iter().map(|(_, v)| weight(v)).sum(),
        _ => 0,
    }
}

fn tag_name(tag: Option<Tag>) -> Option<Box<str>> {
    let tag = tag?;
    match tag.handle.as_str() {
        // `!Ref`: a local tag; `!!str` and friends are the core schema's.
        // A written tag never spells the readers' own marks (`?unknown`).
        "!" if !tag.suffix.starts_with('?') => Some(tag.suffix.into()),
        _ => None,
    }
}

fn scalar(value: String, style: TScalarStyle, tagged: bool) -> Value {
    if style != TScalarStyle::Plain || tagged {
        return Value::Str(value.into());
    }
    match value.as_str() {
        "~" | "null" | "Null" | "NULL" | "" => Value::Null,
        "true" | "True" | "TRUE" => Value::Bool(true),
        "false" | "False" | "FALSE" => Value::Bool(false),
        v if is_number(v) => Value::Num(value.into()),
        _ => Value::Str(value.into()),
    }
}

/// YAML 1.2 core schema numbers (decimal; hex and octal read as strings,
/// which CloudFormation would do too).
fn is_number(v: &str) -> bool {
    let digits = v.strip_prefix(['-', '+']).unwrap_or(v);
    !digits.is_empty()
        && digits.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && digits.parse::<f64>().is_ok()
        && !digits.contains(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
}

impl MarkedEventReceiver for Builder<'_> {
    fn on_event(&mut self, event: Event, mark: Marker) {
        let at = self.offset(&mark);
        match event {
            Event::Scalar(value, style, anchor, tag) => {
                let tag = tag_name(tag);
                let node = Node {
                    value: scalar(value, style, tag.is_some()),
                    tag,
                    at,
                };
                if anchor > 0 {
                    self.anchors.insert(anchor, (node.clone(), 1));
                }
                self.made += 1;
                self.push(node, at);
            }
            Event::SequenceStart(..) | Event::MappingStart(..) if self.stack.len() >= MAX_DEPTH => {
                if self.error.is_none() {
                    let error = nesting_error(at);
                    self.error = Some(error.message);
                    self.error_at = at;
                }
                // Kept open so that its end closes it; its items are dropped.
                self.stack
                    .push((Node::new(Value::Seq(Vec::new()), at), None));
                self.anchor_ids.push(0);
            }
            Event::SequenceStart(anchor, tag) => {
                let node = Node {
                    value: Value::Seq(Vec::new()),
                    tag: tag_name(tag),
                    at,
                };
                self.stack.push((node, None));
                self.anchor_ids.push(anchor);
            }
            Event::MappingStart(anchor, tag) => {
                let node = Node {
                    value: Value::Map(Vec::new()),
                    tag: tag_name(tag),
                    at,
                };
                self.stack.push((node, None));
                self.anchor_ids.push(anchor);
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let (Some((node, _)), Some(anchor)) = (self.stack.pop(), self.anchor_ids.pop()) {
                    self.made += 1;
                    if anchor > 0 {
                        self.anchors.insert(anchor, (node.clone(), weight(&node)));
                    }
                    let at = node.at;
                    self.push(node, at);
                }
            }
            Event::Alias(anchor) => match self.anchors.get(&anchor) {
                Some((_, size)) if self.made + size > self.most_nodes() => {
                    if self.error.is_none() {
                        self.error = Some(format!(
                            "aliases expand the document beyond {} values",
                            self.most_nodes()
                        ));
                        self.error_at = at;
                    }
                }
                Some((node, size)) => {
                    let mut node = node.clone();
                    node.at = at;
                    self.made += size;
                    self.push(node, at);
                }
                None => {
                    if self.error.is_none() {
                        self.error = Some("an alias names no anchor".to_owned());
                        self.error_at = at;
                    }
                }
            },
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_keeps_tags_positions_and_types() {
        let text = "Resources:\n  R:\n    Type: AWS::X\n    A: !Ref P\n    B: !GetAtt [R, Arn]\n    C: true\n    D: '1'\n    E: 10\n";
        let doc = parse_yaml(text).unwrap();
        let r = doc.get("Resources").unwrap().get("R").unwrap();
        let a = r.get("A").unwrap();
        assert_eq!(a.tag.as_deref(), Some("Ref"));
        assert_eq!(a.text(), Some("P"));
        let lines = Lines::new(text);
        // A tagged scalar is where its value starts, after the tag.
        assert_eq!(lines.position(text, a.at), (4, 13));
        assert_eq!(r.get("B").unwrap().tag.as_deref(), Some("GetAtt"));
        assert_eq!(r.get("B").unwrap().items().len(), 2);
        assert_eq!(r.get("C").unwrap().value, Value::Bool(true));
        assert_eq!(r.get("D").unwrap().value, Value::Str("1".into()));
        assert_eq!(r.get("E").unwrap().value, Value::Num("10".into()));
        let key = &r.entries()[0].0;
        assert_eq!(lines.position(text, key.at), (3, 5));
    }

    #[test]
    fn yaml_errors_have_positions() {
        let text = "a: 1\nb: [1, 2\n";
        let err = parse_yaml(text).unwrap_err();
        assert!(err.at > 0, "{err:?}");
        let err = parse_yaml("a: 1\na: 2\n").unwrap_err();
        assert!(err.message.contains("duplicate key"), "{err:?}");
        assert_eq!(err.at, 5);
    }

    #[test]
    fn yaml_anchors_resolve() {
        let doc = parse_yaml("a: &x {k: v}\nb: *x\n").unwrap();
        assert_eq!(doc.get("b").unwrap().get("k").unwrap().text(), Some("v"));
    }

    #[test]
    fn json_positions_and_errors() {
        let text = "{\n \"a\": {\"b\": [1, \"x\"]}\n}";
        let doc = parse_json(text).unwrap();
        let b = doc.get("a").unwrap().get("b").unwrap();
        let lines = Lines::new(text);
        assert_eq!(lines.position(text, b.items()[1].at), (2, 17));
        let err = parse_json("{\"a\": }").unwrap_err();
        assert_eq!(err.at, 6);
    }

    #[test]
    fn written_tags_cannot_spell_unknown_values() {
        let doc = parse_yaml("a: !?one-of []\nb: !?unknown x\n").unwrap();
        for key in ["a", "b"] {
            let node = doc.get(key).unwrap();
            assert_eq!(node.unknown_reason(), None, "{key}");
            assert_eq!(node.possible_values(), None, "{key}");
        }
    }

    #[test]
    fn aliases_cannot_expand_without_bound() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let prev = format!("*a{}", i - 1);
            let items = [prev.as_str(); 10].join(", ");
            text.push_str(&format!("a{i}: &a{i} [{items}]\n"));
        }
        let err = parse_yaml(&text).unwrap_err();
        assert!(err.message.contains("aliases expand"), "{err:?}");
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = |open: &str, close: &str| {
            format!(
                "{}{}",
                open.repeat(MAX_DEPTH + 1),
                close.repeat(MAX_DEPTH + 1)
            )
        };
        let err = parse_json(&deep("[", "]")).unwrap_err();
        assert!(err.message.contains("nests deeper"), "{err:?}");
        // yaml-rust2 bounds flow collections itself; block ones are ours.
        assert!(parse_yaml(&deep("[", "]")).is_err());
        let block: String = (0..=MAX_DEPTH)
            .map(|i| format!("{}k:\n", " ".repeat(i)))
            .collect();
        let err = parse_yaml(&format!("{block}{}v\n", " ".repeat(MAX_DEPTH + 1))).unwrap_err();
        assert!(err.message.contains("nests deeper"), "{err:?}");
        // Brackets inside strings do not count.
        let text = format!("{{\"a\": \"{}\"}}", "[".repeat(1000));
        assert!(parse_json(&text).is_ok());
    }

    #[test]
    fn columns_count_characters() {
        let text = "é: !Ref x\n";
        let doc = parse_yaml(text).unwrap();
        let lines = Lines::new(text);
        assert_eq!(lines.position(text, doc.get("é").unwrap().at), (1, 9));
        assert_eq!(lines.position(text, doc.entries()[0].0.at), (1, 1));
    }
}

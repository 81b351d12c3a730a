use std::path::{Path, PathBuf};

use super::*;
use crate::diag::Diagnostics;
use crate::iac::Options;
use crate::iac::node::{parse_json, parse_yaml};

/// A node as JSON, positions dropped and unknown values reduced to a
/// marker (their reasons may differ: SAM's view names the function whose
/// ARN the translation's `Fn::Sub` holds).
fn json(node: &Node) -> serde_json::Value {
    use serde_json::Value as J;
    if node.unknown_reason().is_some() {
        return J::String("<unknown>".to_owned());
    }
    match &node.value {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Num(n) => J::String(n.to_string()),
        Value::Str(s) => J::String(s.to_string()),
        // SAM orders tags by Python 2's hashes; their order means nothing.
        Value::Seq(items)
            if items
                .iter()
                .all(|i| i.get("x-amazon-apigateway-tag-value").is_some()) =>
        {
            let mut tags: Vec<serde_json::Value> = items.iter().map(json).collect();
            tags.sort_by_key(|t| t["name"].to_string());
            J::Array(tags)
        }
        Value::Seq(items) => J::Array(items.iter().map(json).collect()),
        Value::Map(entries) => J::Object(
            entries
                .iter()
                .map(|(k, v)| {
                    let mut value = json(v);
                    // SAM's expected outputs sort this list.
                    if &*k.name == "identitySource"
                        && let J::Array(items) = &mut value
                    {
                        items.sort_by_key(ToString::to_string);
                    }
                    (k.name.to_string(), value)
                })
                .collect(),
        ),
    }
}

/// The bodies SAM's translation of `text` gives, by API.
fn translated_bodies(text: &str) -> (BTreeMap<String, serde_json::Value>, Diagnostics) {
    let text = &with_transform(text);
    let mut diags = Diagnostics::new();
    let mut doc = Doc::from_text(&mut diags, "t.yaml", text);
    let root = parse_yaml(text).unwrap();
    let template = Template::new(&mut doc, &root, &Options::default(), "t.yaml", "");
    let bodies = translate(&mut doc, &template)
        .into_iter()
        .filter_map(|t| match t.body {
            Body::Inline(body) => Some((t.logical, json(&body))),
            Body::Unread(_) => None,
        })
        .collect();
    doc.finish(&mut diags);
    (bodies, diags)
}

/// SAM's translator tests keep their inputs without the `Transform` line
/// their harness adds.
fn with_transform(text: &str) -> String {
    if text.contains("Transform:") {
        text.to_owned()
    } else {
        format!("Transform: AWS::Serverless-2016-10-31\n{text}")
    }
}

/// The `Body` of every `AWS::ApiGatewayV2::Api` of a CloudFormation
/// template, resolved as the CloudFormation reader resolves it.
fn cfn_bodies(text: &str) -> BTreeMap<String, serde_json::Value> {
    let mut diags = Diagnostics::new();
    let mut doc = Doc::from_text(&mut diags, "t.json", text);
    let root = parse_json(text).unwrap();
    let template = Template::new(&mut doc, &root, &Options::default(), "t.json", "");
    let mut out = BTreeMap::new();
    for logical in template.of_type("AWS::ApiGatewayV2::Api") {
        let (_, resource) = template.resources[logical];
        if template.exists(&mut doc, resource) == Some(false) {
            continue;
        }
        if let Some(body) = template.properties(&mut doc, resource).get("Body") {
            out.insert(logical.to_owned(), json(body));
        }
    }
    out
}

/// Pairs of SAM translator inputs and outputs: the corpus's copy, and with
/// `SAM_TRANSLATOR_TESTS=<checkout>/tests/translator` every HTTP API test of
/// SAM's own suite. Neither is in the repository; without them, none.
fn translator_pairs() -> Vec<(PathBuf, PathBuf)> {
    let mut dirs = vec![(
        PathBuf::from("/work/shared/corpus/iac-realworld/sam/sam-translator"),
        PathBuf::from("/work/shared/corpus/iac-realworld/cfn/sam-translated"),
    )];
    if let Some(suite) = std::env::var_os("SAM_TRANSLATOR_TESTS") {
        let suite = PathBuf::from(suite);
        dirs.push((suite.join("input"), suite.join("output")));
    }
    let mut pairs = Vec::new();
    for (inputs, outputs) in dirs {
        let Ok(entries) = std::fs::read_dir(&inputs) else {
            continue;
        };
        let mut names: Vec<PathBuf> = entries.filter_map(|e| Some(e.ok()?.path())).collect();
        names.sort();
        for input in names {
            let stem = input.file_stem().unwrap().to_string_lossy().into_owned();
            let output = outputs.join(format!("{stem}.json"));
            if stem.contains("http_api") && !stem.starts_with("error_") && output.exists() {
                pairs.push((input, output));
            }
        }
    }
    pairs
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn bodies_are_the_translators() {
    let mut failures = Vec::new();
    for (input, output) in translator_pairs() {
        let (ours, diags) = translated_bodies(&read(&input));
        let theirs = cfn_bodies(&read(&output));
        let name = input.display();
        if !diags.is_empty() {
            failures.push(format!("{name}: {:?}", diags.problems()));
            continue;
        }
        if ours != theirs {
            failures.push(format!(
                "{name}:\n ours   {}\n theirs {}",
                serde_json::to_string(&ours).unwrap(),
                serde_json::to_string(&theirs).unwrap()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

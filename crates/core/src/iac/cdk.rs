//! AWS CDK output: a cloud assembly (`cdk.out`) whose `manifest.json` lists
//! the stacks' templates; nested assemblies (CDK stages) and nested stacks
//! are read too. Each stack's APIs are reported under the stack's name, with
//! ids `Stack/LogicalId`.

use std::path::{Path, PathBuf};

use super::node::{self, Node};
use super::{Doc, Options, Read};
use crate::diag::{self, Diagnostics};

/// Whether a directory is a cloud assembly: it holds a `manifest.json` with
/// `artifacts`.
pub fn is_assembly(dir: &Path) -> bool {
    let manifest = dir.join("manifest.json");
    manifest.is_file()
        && std::fs::read_to_string(&manifest)
            .ok()
            .and_then(|text| node::parse_json(&text).ok())
            .is_some_and(|doc| doc.get("artifacts").is_some())
}

/// Reads every stack template of an assembly.
pub fn read(diags: &mut Diagnostics, dir: &Path, options: &Options, read: &mut Read) {
    let manifest_path = dir.join("manifest.json");
    let Some(file) = diag::read_file(diags, &manifest_path) else {
        return;
    };
    let mut manifest = Doc::new(diags, file, &manifest_path);
    let root = match node::parse_json(&manifest.text) {
        Ok(root) => root,
        Err(err) => {
            manifest.error(
                err.at,
                format!("{} does not parse: {}", manifest.path, err.message),
                "",
            );
            manifest.finish(diags);
            return;
        }
    };
    let mut stacks: Vec<(String, PathBuf, usize)> = Vec::new();
    for (name, artifact) in root.get("artifacts").map_or(&[][..], Node::entries) {
        let kind = artifact
            .get("type")
            .and_then(Node::text)
            .unwrap_or_default();
        let properties = artifact.get("properties");
        match kind {
            "aws:cloudformation:stack" => {
                let Some(template) = properties
                    .and_then(|p| p.get("templateFile"))
                    .and_then(Node::text)
                else {
                    manifest.error(
                        name.at,
                        format!("stack `{}` names no templateFile", name.name),
                        "",
                    );
                    continue;
                };
                // The stack's CloudFormation name: `stackName` where it
                // differs from the artifact's id (stacks of a CDK stage).
                let stack = properties
                    .and_then(|p| p.get("stackName"))
                    .and_then(Node::text)
                    .unwrap_or(&name.name)
                    .to_owned();
                stacks.push((stack, dir.join(template), name.at));
            }
            "cdk:cloud-assembly" => {
                if let Some(nested) = properties
                    .and_then(|p| p.get("directoryName"))
                    .and_then(Node::text)
                {
                    let nested = dir.join(nested);
                    if is_assembly(&nested) {
                        self::read(diags, &nested, options, read);
                    } else {
                        manifest.error(
                            name.at,
                            format!("nested assembly `{}` has no manifest.json", name.name),
                            "",
                        );
                    }
                }
            }
            _ => {}
        }
    }
    manifest.finish(diags);
    for (stack, path, _) in stacks {
        read_stack(diags, &stack, &path, dir, options, read);
    }
}

/// One stack's template, and the nested stacks it names through CDK's
/// `aws:asset:path` metadata.
fn read_stack(
    diags: &mut Diagnostics,
    stack: &str,
    path: &Path,
    dir: &Path,
    options: &Options,
    read: &mut Read,
) {
    let Some(file) = diag::read_file(diags, path) else {
        return;
    };
    let mut doc = Doc::new(diags, file, path);
    let root = match node::parse_json(&doc.text) {
        Ok(root) => root,
        Err(err) => {
            doc.error(
                err.at,
                format!("{} does not parse: {}", doc.path, err.message),
                "",
            );
            doc.finish(diags);
            return;
        }
    };
    let prefix = format!("{stack}/");
    super::cfn::read(&mut doc, &root, options, stack, Some(&prefix), read);
    let mut nested = Vec::new();
    for (name, resource) in root.get("Resources").map_or(&[][..], Node::entries) {
        if resource.get("Type").and_then(Node::text) != Some("AWS::CloudFormation::Stack") {
            continue;
        }
        let asset = resource
            .get("Metadata")
            .and_then(|m| m.get("aws:asset:path"))
            .and_then(Node::text);
        if let Some(asset) = asset.filter(|a| a.ends_with(".json")) {
            nested.push((format!("{stack}/{}", name.name), dir.join(asset)));
        }
    }
    doc.finish(diags);
    for (name, path) in nested {
        if path.is_file() {
            read_stack(diags, &name, &path, dir, options, read);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(api: &str) -> String {
        format!(
            r#"{{"Resources": {{
 "{api}": {{"Type": "AWS::ApiGatewayV2::Api", "Properties": {{"Name": "{api}", "ProtocolType": "HTTP"}}}},
 "Route": {{"Type": "AWS::ApiGatewayV2::Route", "Properties": {{"ApiId": {{"Ref": "{api}"}}, "RouteKey": "GET /x"}}}}
}}}}"#
        )
    }

    #[test]
    fn stacks_nested_stacks_and_nested_assemblies() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("cdk.out");
        let stage = out.join("assembly-Prod");
        std::fs::create_dir_all(&stage).unwrap();
        std::fs::write(
            out.join("manifest.json"),
            r#"{"version": "48.0.0", "artifacts": {
              "Edge": {"type": "aws:cloudformation:stack", "properties": {"templateFile": "Edge.template.json"}, "displayName": "Edge"},
              "Prod": {"type": "cdk:cloud-assembly", "properties": {"directoryName": "assembly-Prod"}},
              "Tree": {"type": "cdk:tree", "properties": {"file": "tree.json"}}}}"#,
        )
        .unwrap();
        let edge = template("EdgeApi").replace(
            "\n}}",
            ",\n \"Inner\": {\"Type\": \"AWS::CloudFormation::Stack\", \"Metadata\": {\"aws:asset:path\": \"EdgeInner.nested.template.json\"}}\n}}",
        );
        std::fs::write(out.join("Edge.template.json"), edge).unwrap();
        std::fs::write(
            out.join("EdgeInner.nested.template.json"),
            template("InnerApi"),
        )
        .unwrap();
        std::fs::write(
            stage.join("manifest.json"),
            r#"{"version": "48.0.0", "artifacts": {
              "ProdOrders": {"type": "aws:cloudformation:stack", "properties": {"templateFile": "ProdOrders.template.json", "stackName": "Prod-Orders"}, "displayName": "Prod/Orders"}}}"#,
        )
        .unwrap();
        std::fs::write(
            stage.join("ProdOrders.template.json"),
            template("OrdersApi"),
        )
        .unwrap();
        assert!(is_assembly(&out));
        let read = super::super::load(&[out], &Options::default()).unwrap();
        let mut ids: Vec<&str> = read.apis.iter().map(|a| &*a.api_id).collect();
        ids.sort_unstable();
        assert_eq!(
            ids,
            [
                "Edge/EdgeApi",
                "Edge/Inner/InnerApi",
                "Prod-Orders/OrdersApi"
            ]
        );
        assert!(read.apis.iter().all(|a| a.routes.len() == 1));
    }
}

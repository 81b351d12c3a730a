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
                let stack = artifact
                    .get("displayName")
                    .and_then(Node::text)
                    .filter(|d| !d.contains('/'))
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

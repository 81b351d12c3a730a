//! SAM templates: `AWS::Serverless::HttpApi` and the `HttpApi` events of
//! `AWS::Serverless::Function`, with SAM's own semantics (its default
//! authorizer, `Authorizer: NONE`, the implicit API).

use std::collections::BTreeMap;

use super::Doc;
use super::cfn::Template;
use super::node::Node;
use crate::inventory::Api;

/// Whether a template's `Transform` includes SAM's.
pub fn is_sam(root: &Node) -> bool {
    const SAM: &str = "AWS::Serverless-2016-10-31";
    match root.get("Transform") {
        Some(t) => t.text() == Some(SAM) || t.items().iter().any(|i| i.text() == Some(SAM)),
        None => false,
    }
}

/// Adds the serverless APIs of a SAM template to `apis` (by logical id).
pub fn read(doc: &mut Doc, template: &Template<'_>, _apis: &mut BTreeMap<String, Api>) {
    if !template.of_type("AWS::Serverless::HttpApi").is_empty() {
        doc.error(
            template.root.at,
            "SAM HttpApi resources are not read yet",
            "",
        );
    }
}

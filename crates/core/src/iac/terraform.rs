//! Terraform plans (`terraform show -json PLAN`, format 1.x): the
//! `aws_apigatewayv2_*` resources of every module, references resolved
//! through the plan's `configuration`.

use super::node::Node;
use super::{Doc, Read};

pub fn read(doc: &mut Doc, root: &Node, _read: &mut Read) {
    doc.error(root.at, "Terraform plans are not read yet", "");
}

//! OpenAPI 3 definitions with the API Gateway extensions: standalone (as
//! `aws apigatewayv2 export-api` writes them) or inline in a template's
//! `Body` / `DefinitionBody` or a Terraform `body`.

use super::node::Node;
use super::{Doc, Read};
use crate::inventory::Api;

/// A standalone definition: one API.
pub fn read(doc: &mut Doc, root: &Node, _read: &mut Read) {
    doc.error(root.at, "OpenAPI definitions are not read yet", "");
}

/// Fills an API's routes, authorizers, integrations and CORS from a
/// resolved OpenAPI body.
pub fn build(doc: &mut Doc, body: &Node, _api: &mut Api) {
    doc.error(body.at, "OpenAPI bodies are not read yet", "");
}

//! Infrastructure as code: APIs read from CloudFormation and SAM templates,
//! CDK output, Terraform plans and OpenAPI definitions, as the same [`Api`]s
//! that live accounts give, so that one policy set audits both (contract:
//! docs/iac.md).
//!
//! The kind of a file is told by its content. An API defined in code has no
//! id yet: its `api_id` is its logical id (`Stack/LogicalId` for CDK) or its
//! Terraform address, its `target_name` the file (or CDK stack) it came from.
//! Values the code leaves unknown until deploy are marked on the API
//! ([`Unknown`]) so that rules depending on them are indeterminate.

pub mod cdk;
pub mod cfn;
pub mod node;
pub mod openapi;
pub mod sam;
pub mod terraform;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diag::{self, Diagnostics, FileId, LoadError};
use crate::inventory::{Api, Line, Location, Origin, Part, Unknown};
use node::{Lines, Node};

/// How code is read.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--iac-param NAME=VALUE`: values of template parameters (CloudFormation,
    /// SAM, CDK), over their defaults.
    pub params: BTreeMap<String, String>,
}

/// What the code defines.
#[derive(Debug, Default)]
pub struct Read {
    /// Every API, with its routes, authorizers, integrations and stages.
    pub apis: Vec<Api>,
    /// APIs whose routes cannot be known before deploy (an OpenAPI body in
    /// S3): their identity, and why.
    pub unread: Vec<Unreadable>,
}

/// An API the code defines but whose routes it does not hold.
#[derive(Debug, Clone)]
pub struct Unreadable {
    pub api: Api,
    pub reason: String,
}

/// The kinds of files read, as told by their content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    CloudFormation,
    Sam,
    Cdk,
    TerraformPlan,
    OpenApi,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::CloudFormation => "CloudFormation template",
            Kind::Sam => "SAM template",
            Kind::Cdk => "CDK cloud assembly",
            Kind::TerraformPlan => "Terraform plan",
            Kind::OpenApi => "OpenAPI definition",
        }
    }

    /// The kind of a parsed document, or `None` for a file that is none.
    pub fn of(doc: &Node) -> Option<Kind> {
        if doc.get("format_version").is_some()
            && (doc.get("planned_values").is_some() || doc.get("resource_changes").is_some())
        {
            return Some(Kind::TerraformPlan);
        }
        if doc
            .get("openapi")
            .and_then(Node::text)
            .is_some_and(|v| v.starts_with('3'))
        {
            return Some(Kind::OpenApi);
        }
        if let Some(resources) = doc.get("Resources") {
            let aws = resources.entries().iter().any(|(_, r)| {
                r.get("Type")
                    .and_then(Node::text)
                    .is_some_and(|t| t.starts_with("AWS::"))
            });
            if aws {
                return Some(if sam::is_sam(doc) {
                    Kind::Sam
                } else {
                    Kind::CloudFormation
                });
            }
        }
        if doc.get("artifacts").is_some() && doc.get("version").is_some() {
            return Some(Kind::Cdk);
        }
        None
    }
}

/// One file being read: its text, where problems go, and what it yields.
pub struct Doc {
    /// As reports show it (relative to the working directory).
    pub path: Arc<str>,
    pub text: String,
    pub lines: Lines,
    file: FileId,
    problems: Vec<(usize, String, String)>,
}

impl Doc {
    fn new(diags: &Diagnostics, file: FileId, path: &Path) -> Doc {
        let text = diags.source(file).to_owned();
        Doc {
            path: diag::display_path(path).into(),
            lines: Lines::new(&text),
            text,
            file,
            problems: Vec::new(),
        }
    }

    /// A document from text (tests, fuzzing); `name` stands for the file.
    pub fn from_text(diags: &mut Diagnostics, name: &str, text: &str) -> Doc {
        let file = diags.add_file(name, text);
        Doc {
            path: name.into(),
            lines: Lines::new(text),
            text: text.to_owned(),
            file,
            problems: Vec::new(),
        }
    }

    /// The line and column of a byte offset.
    pub fn line(&self, at: usize) -> Line {
        let (line, column) = self.lines.position(&self.text, at);
        Line::at(line, column)
    }

    /// A byte offset as an API's origin.
    pub fn origin(&self, at: usize) -> Origin {
        let (line, column) = self.lines.position(&self.text, at);
        Origin(Some(Arc::new(Location {
            path: self.path.clone(),
            line,
            column: Some(column),
        })))
    }

    /// A problem at a byte offset: the file does not load. Reported once
    /// where it is met several times (SAM's `Globals`, read for each API).
    pub fn error(&mut self, at: usize, message: impl Into<String>, label: impl Into<String>) {
        let problem = (at, message.into(), label.into());
        if !self.problems.contains(&problem) {
            self.problems.push(problem);
        }
    }

    pub fn has_errors(&self) -> bool {
        !self.problems.is_empty()
    }

    /// Hands the problems to the diagnostics.
    pub fn finish(self, diags: &mut Diagnostics) {
        for (at, message, label) in self.problems {
            diags.push(self.file, at..at, message, label);
        }
    }
}

/// Marks a value of an API as unknown before deploy, whether it is set at
/// all unknown too ([`cfn::Unknowns`] knows more, and adds its own).
pub fn mark(
    api: &mut Api,
    part: Part,
    key: impl Into<String>,
    field: impl Into<String>,
    reason: impl Into<String>,
) {
    add(
        api,
        Unknown {
            part,
            key: key.into(),
            field: field.into(),
            reason: reason.into(),
            present: false,
            prefix: None,
            values: None,
        },
    );
}

/// Adds an unknown value to an API, once.
pub fn add(api: &mut Api, unknown: Unknown) {
    if !api.unknown.contains(&unknown) {
        api.unknown.push(unknown);
    }
}

/// Reads every file and directory; all problems of all files are reported
/// together.
pub fn load(paths: &[PathBuf], options: &Options) -> Result<Read, LoadError> {
    let mut diags = Diagnostics::new();
    let mut read = Read::default();
    for path in paths {
        if path.is_dir() && !cdk::is_assembly(path) {
            let mut files = Vec::new();
            walk(&mut diags, path, &mut files);
            for file in files {
                read_file(&mut diags, &file, false, options, &mut read);
            }
        } else {
            read_file(&mut diags, path, true, options, &mut read);
        }
    }
    if diags.is_empty() {
        Ok(read)
    } else {
        Err(LoadError(diags))
    }
}

/// File names that may hold code, in a directory walk.
fn may_hold_code(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    [".json", ".yaml", ".yml", ".template"]
        .iter()
        .any(|ext| name.ends_with(ext))
}

/// The files of a directory, recursively, in name order; `node_modules`
/// and hidden folders skipped; a CDK cloud assembly is one entry (its
/// templates are read through its manifest, once).
fn walk(diags: &mut Diagnostics, dir: &Path, files: &mut Vec<PathBuf>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) => {
            diags.io_error(dir, "read directory", &err);
            return;
        }
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if path.is_dir() {
            if name.starts_with('.') || name == "node_modules" {
                continue;
            }
            if cdk::is_assembly(&path) {
                files.push(path);
            } else {
                walk(diags, &path, files);
            }
        } else if may_hold_code(&path) && diag::regular_file(&path).is_ok() {
            files.push(path);
        }
    }
}

/// Reads one file (or a CDK assembly found in a walk). A file given by name
/// must be one of the kinds; a file met in a directory that is none of them
/// (a `package.json`, a workflow) is skipped.
fn read_file(
    diags: &mut Diagnostics,
    path: &Path,
    explicit: bool,
    options: &Options,
    read: &mut Read,
) {
    if path.is_dir() {
        cdk::read(diags, path, options, read);
        return;
    }
    let Some(file) = diag::read_file(diags, path) else {
        return;
    };
    let doc = Doc::new(diags, file, path);
    read_doc(diags, doc, Some(path), explicit, options, read);
}

/// Code given as text (tests, fuzzing): one template, plan or OpenAPI
/// definition named `name`; every problem reported.
pub fn read_str(name: &str, text: &str, options: &Options) -> Result<Read, LoadError> {
    let (read, diags) = read_text(name, text, options);
    if diags.is_empty() {
        Ok(read)
    } else {
        Err(LoadError(diags))
    }
}

/// What [`read_str`] reads, kept beside the problems found (tests look at
/// both).
pub(crate) fn read_text(name: &str, text: &str, options: &Options) -> (Read, Diagnostics) {
    let mut diags = Diagnostics::new();
    let mut read = Read::default();
    let doc = Doc::from_text(&mut diags, name, text);
    read_doc(&mut diags, doc, None, true, options, &mut read);
    (read, diags)
}

/// Parses a document and reads it by its kind; `path` is where a CDK
/// manifest's assembly lies.
fn read_doc(
    diags: &mut Diagnostics,
    mut doc: Doc,
    path: Option<&Path>,
    explicit: bool,
    options: &Options,
    read: &mut Read,
) {
    let parsed = if looks_like_json(&doc.text) {
        node::parse_json(&doc.text)
    } else {
        node::parse_yaml(&doc.text)
    };
    let root = match parsed {
        Ok(root) => root,
        Err(err) => {
            if explicit || mentions_code(&doc.text) {
                doc.error(
                    err.at,
                    format!("{} does not parse: {}", doc.path, err.message),
                    "a template, plan or OpenAPI file must be valid JSON or YAML",
                );
                doc.finish(diags);
            } else {
                tracing::debug!(path = %doc.path, error = %err.message, "skipped: not JSON or YAML");
            }
            return;
        }
    };
    match Kind::of(&root) {
        Some(Kind::CloudFormation | Kind::Sam) => {
            let stack = doc.path.clone();
            cfn::read(&mut doc, &root, options, &stack, None, read);
        }
        Some(Kind::TerraformPlan) => terraform::read(&mut doc, &root, read),
        Some(Kind::OpenApi) => openapi::read(&mut doc, &root, read),
        Some(Kind::Cdk) => {
            if let Some(dir) = path.and_then(Path::parent) {
                cdk::read(diags, dir, options, read);
            }
        }
        None if explicit => {
            doc.error(
                root.at,
                format!(
                    "{} is not a CloudFormation or SAM template, a Terraform plan, an OpenAPI 3 definition or a CDK manifest",
                    doc.path
                ),
                "templates have `Resources` of `AWS::` types; plans `format_version` and `planned_values` (`terraform show -json`); OpenAPI files `openapi: 3.x`",
            );
        }
        None => tracing::debug!(path = %doc.path, "skipped: not infrastructure as code"),
    }
    doc.finish(diags);
}

/// JSON documents start with `{` or `[` (after whitespace).
fn looks_like_json(text: &str) -> bool {
    text.trim_start().starts_with(['{', '['])
}

/// Whether a file met in a directory that does not parse was meant to be
/// code, so that its error is reported rather than the file skipped: it
/// names what the kinds start with. A template broken by an edit must fail
/// the run, never vanish from it; a Helm chart's templated YAML, which
/// names none of these, is skipped.
fn mentions_code(text: &str) -> bool {
    [
        "AWSTemplateFormatVersion",
        "AWS::",
        "Resources",
        "x-amazon-apigateway",
        "openapi",
        "format_version",
        "planned_values",
    ]
    .iter()
    .any(|marker| text.contains(marker))
}

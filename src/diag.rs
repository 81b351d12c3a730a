//! Diagnostics for files a user wrote: config, policies, fleet files.
//!
//! Loaders never stop at the first problem. They push every problem of a file
//! into [`Diagnostics`], each with its byte span, and fail once at the end, so a
//! user fixes a file in one pass. Rendering (file:line:column, the offending
//! line, what was expected) is codespan-reporting's. This module also holds the
//! small span-keeping readers over `toml`'s `DeTable` that both TOML loaders use.
//! It knows nothing about rules or config keys.

use std::fmt;
use std::io::{self, IsTerminal};
use std::ops::Range;

use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label};
use codespan_reporting::files::{Files, SimpleFiles};
use codespan_reporting::term::{self, termcolor};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// Handle of a file registered in [`Diagnostics`].
pub type FileId = usize;

/// One problem in one file.
#[derive(Debug, Clone)]
pub struct Problem {
    pub file: FileId,
    pub span: Range<usize>,
    /// What is wrong, e.g. "unknown operator `eqq` in rule `RW001`".
    pub message: String,
    /// Shown under the offending text, e.g. "expected one of: eq, ne".
    pub label: String,
}

/// The files that were read and every problem found in them.
#[derive(Default)]
pub struct Diagnostics {
    files: SimpleFiles<String, String>,
    problems: Vec<Problem>,
}

impl fmt::Debug for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Diagnostics")
            .field("problems", &self.problems)
            .finish_non_exhaustive()
    }
}

impl Diagnostics {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a file so that problems can point into it.
    pub fn add_file(&mut self, name: impl Into<String>, text: impl Into<String>) -> FileId {
        self.files.add(name.into(), text.into())
    }

    pub fn source(&self, file: FileId) -> &str {
        self.files
            .get(file)
            .map(|f| f.source().as_str())
            .unwrap_or("")
    }

    pub fn name(&self, file: FileId) -> &str {
        self.files
            .get(file)
            .map(|f| f.name().as_str())
            .unwrap_or("")
    }

    pub fn push(
        &mut self,
        file: FileId,
        span: Range<usize>,
        message: impl Into<String>,
        label: impl Into<String>,
    ) {
        self.problems.push(Problem {
            file,
            span,
            message: message.into(),
            label: label.into(),
        });
    }

    /// Records a file that could not be read (`what`: "read", "read directory").
    pub fn io_error(&mut self, path: &std::path::Path, what: &str, err: &io::Error) {
        let file = self.add_file(path.display().to_string(), String::new());
        self.push(
            file,
            0..0,
            format!("cannot {what} {}: {err}", path.display()),
            "",
        );
    }

    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }

    pub fn len(&self) -> usize {
        self.problems.len()
    }

    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// `file:line:column` of a problem (1-based), as editors and CI logs link it.
    pub fn position(&self, problem: &Problem) -> String {
        let name = self.name(problem.file);
        match self.files.location(problem.file, problem.span.start) {
            Ok(loc) => format!("{name}:{}:{}", loc.line_number, loc.column_number),
            Err(_) => name.to_owned(),
        }
    }

    /// Problems in file order, then by position, so output is stable.
    fn sorted(&self) -> Vec<&Problem> {
        let mut sorted: Vec<&Problem> = self.problems.iter().collect();
        sorted.sort_by_key(|p| (p.file, p.span.start, p.span.end));
        sorted
    }

    /// Renders every problem, with the offending line and a caret under it.
    pub fn render(&self, color: bool) -> String {
        let mut buffer = if color {
            termcolor::Buffer::ansi()
        } else {
            termcolor::Buffer::no_color()
        };
        let config = term::Config::default();
        let styles = term::Styles::default();
        for problem in self.sorted() {
            let diagnostic = CsDiagnostic::error()
                .with_message(&problem.message)
                .with_labels(vec![
                    Label::primary(problem.file, problem.span.clone()).with_message(&problem.label),
                ]);
            let mut writer = term::StylesWriter::new(&mut buffer, &styles);
            // A span outside the file is a bug in a loader; fall back to one line.
            if term::emit_to_write_style(&mut writer, &config, &self.files, &diagnostic).is_err() {
                let line = format!("error: {}: {}\n", self.position(problem), problem.message);
                let _ = io::Write::write_all(&mut buffer, line.as_bytes());
            }
        }
        let count = self.problems.len();
        let summary = format!(
            "error: {count} problem{} found; nothing was loaded\n",
            if count == 1 { "" } else { "s" }
        );
        let _ = io::Write::write_all(&mut buffer, summary.as_bytes());
        String::from_utf8_lossy(buffer.as_slice()).into_owned()
    }

    /// Writes the rendered problems to stderr, coloured only on a terminal.
    pub fn eprint(&self) {
        let color = io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        let _ = io::Write::write_all(&mut io::stderr().lock(), self.render(color).as_bytes());
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
    }
}

/// Where a reader is: the file, and the rule being read (named in messages).
pub struct Cursor<'d> {
    pub diags: &'d mut Diagnostics,
    pub file: FileId,
    pub context: Option<String>,
}

impl Cursor<'_> {
    /// Records a problem. `context` (e.g. "rule `RW001`") is appended to the message.
    pub fn error(
        &mut self,
        span: Range<usize>,
        message: impl fmt::Display,
        label: impl Into<String>,
    ) {
        let message = match &self.context {
            Some(context) => format!("{message} (in {context})"),
            None => message.to_string(),
        };
        self.diags.push(self.file, span, message, label);
    }

    /// Reports every key of `table` that is not in `allowed`.
    pub fn deny_unknown_keys(&mut self, table: &DeTable<'_>, allowed: &[&str], what: &str) {
        for key in table.keys() {
            if !allowed.contains(&key.get_ref().as_ref()) {
                self.error(
                    key.span(),
                    format_args!("unknown key `{}` in {what}", key.get_ref()),
                    format!("expected one of: {}", allowed.join(", ")),
                );
            }
        }
    }

    /// A required key: reports it missing at `table_span` (the table's header).
    pub fn required<'t, 'i>(
        &mut self,
        table: &'t DeTable<'i>,
        key: &str,
        table_span: Range<usize>,
        what: &str,
    ) -> Option<&'t Spanned<DeValue<'i>>> {
        let value = table.get(key);
        if value.is_none() {
            self.error(
                table_span,
                format_args!("missing required key `{key}` in {what}"),
                format!("add `{key} = ...` here"),
            );
        }
        value
    }

    pub fn string<'v>(&mut self, value: &'v Spanned<DeValue<'_>>, key: &str) -> Option<&'v str> {
        match value.get_ref() {
            DeValue::String(s) => Some(s.as_ref()),
            other => {
                self.type_error(value, key, "a string", other);
                None
            }
        }
    }

    pub fn bool(&mut self, value: &Spanned<DeValue<'_>>, key: &str) -> Option<bool> {
        match value.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            other => {
                self.type_error(value, key, "a boolean", other);
                None
            }
        }
    }

    pub fn integer(&mut self, value: &Spanned<DeValue<'_>>, key: &str) -> Option<i64> {
        match value.get_ref() {
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) => Some(n),
                Err(_) => {
                    self.error(
                        value.span(),
                        format_args!("`{key}` is out of range"),
                        "too large",
                    );
                    None
                }
            },
            other => {
                self.type_error(value, key, "an integer", other);
                None
            }
        }
    }

    pub fn table<'t, 'i>(
        &mut self,
        value: &'t Spanned<DeValue<'i>>,
        key: &str,
    ) -> Option<&'t DeTable<'i>> {
        match value.get_ref() {
            DeValue::Table(t) => Some(t),
            other => {
                self.type_error(value, key, "a table", other);
                None
            }
        }
    }

    pub fn array<'t, 'i>(
        &mut self,
        value: &'t Spanned<DeValue<'i>>,
        key: &str,
    ) -> Option<&'t [Spanned<DeValue<'i>>]> {
        match value.get_ref() {
            DeValue::Array(a) => Some(&a[..]),
            other => {
                self.type_error(value, key, "an array", other);
                None
            }
        }
    }

    /// An array of strings; every element that is not a string is reported.
    pub fn strings<'v>(
        &mut self,
        value: &'v Spanned<DeValue<'_>>,
        key: &str,
    ) -> Option<Vec<&'v str>> {
        let items = self.array(value, key)?;
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for item in items {
            match item.get_ref() {
                DeValue::String(s) => out.push(s.as_ref()),
                other => {
                    ok = false;
                    self.type_error(item, &format!("{key}[]"), "a string", other);
                }
            }
        }
        ok.then_some(out)
    }

    pub fn type_error(
        &mut self,
        value: &Spanned<DeValue<'_>>,
        key: &str,
        expected: &str,
        found: &DeValue<'_>,
    ) {
        self.error(
            value.span(),
            format_args!("`{key}` must be {expected}, found {}", describe(found)),
            format!("expected {expected}"),
        );
    }
}

/// "a string", "an integer", ... for messages.
pub fn describe(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// Parses a TOML document, reporting syntax errors with their position.
pub fn parse_toml<'i>(
    diags: &mut Diagnostics,
    file: FileId,
    text: &'i str,
) -> Option<Spanned<DeTable<'i>>> {
    let (table, errors) = DeTable::parse_recoverable(text);
    if errors.is_empty() {
        return Some(table);
    }
    for error in errors {
        let span = error.span().unwrap_or(0..0);
        let message = error.message().trim().to_owned();
        diags.push(file, span, format!("invalid TOML: {message}"), message);
    }
    None
}

/// Reads a file for a loader, registering it; an I/O failure is a problem too.
pub fn read_file(diags: &mut Diagnostics, path: &std::path::Path) -> Option<FileId> {
    match std::fs::read_to_string(path) {
        Ok(text) => Some(diags.add_file(path.display().to_string(), text)),
        Err(err) => {
            diags.io_error(path, "read", &err);
            None
        }
    }
}

/// The one line of a regex error that says what is wrong.
pub fn regex_error(err: &regex::Error) -> String {
    let text = err.to_string();
    text.lines()
        .find_map(|line| line.strip_prefix("error: "))
        .unwrap_or(text.lines().last().unwrap_or_default())
        .to_owned()
}

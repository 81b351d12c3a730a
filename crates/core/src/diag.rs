//! Diagnostics for files a user wrote: config, policies, fleet files.
//!
//! Loaders never stop at the first problem. They push every problem of a file
//! into [`Diagnostics`], each with its byte span, and fail once at the end, so a
//! user fixes a file in one pass. Rendering (file:line:column, the offending
//! line, what was expected) is codespan-reporting's. This module also holds the
//! small span-keeping readers over `toml`'s `DeTable` that both TOML loaders use.
//! It knows nothing about rules or config keys.
//!
//! What is rendered is bounded and printable whatever the file holds: codespan
//! is given an `Excerpt` of the lines a problem points at, not the file. A
//! line longer than 200 bytes is shown as a window around the problem, marked
//! where it was cut; control and bidirectional characters are escaped
//! ([`sanitize`](crate::sanitize)); messages are clipped; and at most
//! [`PROBLEMS_SHOWN_PER_FILE`] problems of a file are shown, the rest counted.
//! Positions (`file:line:column`) are always those of the real text.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::{self, IsTerminal};
use std::ops::Range;

use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label};
use codespan_reporting::files::{self, Files, Location, SimpleFiles};
use codespan_reporting::term::{self, termcolor};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::sanitize::{clip_escaped, escape, escape_keeping_tabs, more_bytes};

/// A source line up to this many bytes is shown whole; a longer one as a
/// window of [`LINE_WINDOW`] bytes around the problem.
const LINE_MAX: usize = 200;
/// Bytes of a long line shown, [`WINDOW_BEFORE`] of them before the problem.
const LINE_WINDOW: usize = 160;
const WINDOW_BEFORE: usize = 60;
/// Problems of one file that are shown; the rest are counted in one line.
pub const PROBLEMS_SHOWN_PER_FILE: usize = 50;
/// Bytes of a problem's message, or of its label, that are shown.
const MESSAGE_MAX: usize = 1024;

/// A config, policy or fleet file could not be loaded; every problem found
/// is inside, to be reported together.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LoadError(pub Diagnostics);

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

    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// `file:line:column` of a problem (1-based), as editors and CI logs link
    /// it; the name escaped.
    pub fn position(&self, problem: &Problem) -> String {
        let name = escape(self.name(problem.file));
        match self.files.location(problem.file, problem.span.start) {
            Ok(loc) => format!("{name}:{}:{}", loc.line_number, loc.column_number),
            Err(_) => name.into_owned(),
        }
    }

    /// The 1-based line of a byte offset of a registered file.
    pub fn line(&self, file: FileId, offset: usize) -> u32 {
        self.files
            .location(file, offset)
            .map_or(1, |loc| u32::try_from(loc.line_number).unwrap_or(u32::MAX))
    }

    /// Problems in file order, then by position, so output is stable.
    fn sorted(&self) -> Vec<&Problem> {
        let mut sorted: Vec<&Problem> = self.problems.iter().collect();
        sorted.sort_by_key(|p| (p.file, p.span.start, p.span.end));
        sorted
    }

    /// Renders the problems, each with the offending line and a caret under
    /// it; at most [`PROBLEMS_SHOWN_PER_FILE`] of each file.
    pub fn render(&self, color: bool) -> String {
        let mut buffer = if color {
            termcolor::Buffer::ansi()
        } else {
            termcolor::Buffer::no_color()
        };
        let config = term::Config::default();
        let styles = term::Styles::default();
        let sorted = self.sorted();
        let mut shown = 0;
        for (i, problem) in sorted.iter().enumerate() {
            if i == 0 || sorted[i - 1].file != problem.file {
                shown = 0;
            }
            shown += 1;
            if shown > PROBLEMS_SHOWN_PER_FILE {
                if shown == PROBLEMS_SHOWN_PER_FILE + 1 {
                    let more = sorted[i..]
                        .iter()
                        .take_while(|p| p.file == problem.file)
                        .count();
                    let line = format!(
                        "… and {more} more problem{} in {}\n\n",
                        if more == 1 { "" } else { "s" },
                        escape(self.name(problem.file))
                    );
                    let _ = io::Write::write_all(&mut buffer, line.as_bytes());
                }
                continue;
            }
            let message = clip_escaped(&problem.message, MESSAGE_MAX);
            let rendered = self.excerpt(problem).is_some_and(|excerpt| {
                let diagnostic = CsDiagnostic::error()
                    .with_message(message.as_ref())
                    .with_labels(vec![
                        Label::primary((), excerpt.span.clone())
                            .with_message(clip_escaped(&problem.label, MESSAGE_MAX)),
                    ]);
                let mut writer = term::StylesWriter::new(&mut buffer, &styles);
                term::emit_to_write_style(&mut writer, &config, &excerpt, &diagnostic).is_ok()
            });
            // A span outside the file is a bug in a loader; fall back to one line.
            if !rendered {
                let line = format!("error: {}: {message}\n", self.position(problem));
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

    /// The lines of the file that `problem` points at, as codespan is to show
    /// them; `None` when its span is not in the file.
    fn excerpt(&self, problem: &Problem) -> Option<Excerpt> {
        let id = problem.file;
        let file = self.files.get(id).ok()?;
        let text = file.source().as_str();
        let span = &problem.span;
        if span.start > span.end || span.end > text.len() || !text.is_char_boundary(span.start) {
            return None;
        }
        let location = self.files.location(id, span.start).ok()?;
        let first = self.files.line_index(id, span.start).ok()?;
        let last = self.files.line_index(id, span.end).ok()?;
        // The lines codespan renders of a label over many lines: the first
        // few and the last two (see `term::Config`'s context lines).
        let config = term::Config::default();
        let kept: BTreeSet<usize> = (first..=last.min(first + config.start_context_lines + 1))
            .chain(last.saturating_sub(config.end_context_lines).max(first)..=last)
            .collect();
        let mut excerpt = Excerpt {
            name: escape(self.name(id)).into_owned(),
            location,
            lines: BTreeMap::new(),
            first,
            last,
            source: String::new(),
            span: 0..0,
        };
        for index in kept {
            let range = self.files.line_range(id, index).ok()?;
            let line = &text[range.clone()];
            let content = line.trim_end_matches(['\n', '\r']);
            let mark = |at: usize| at.clamp(range.start, range.end) - range.start;
            let (focus, marks) = match (index == first, index == last) {
                (true, true) => (mark(span.start), vec![mark(span.start), mark(span.end)]),
                (true, false) => (mark(span.start), vec![mark(span.start)]),
                (false, true) => (mark(span.end), vec![mark(span.end)]),
                (false, false) => (0, vec![]),
            };
            let (shown, mapped) = show_line(content, focus, &marks);
            let start = excerpt.source.len();
            excerpt.source.push_str(&shown);
            excerpt.source.push_str(&line[content.len()..]);
            excerpt.lines.insert(index, start..excerpt.source.len());
            if index == first {
                excerpt.span.start = start + mapped[0];
            }
            if index == last {
                excerpt.span.end = start + mapped[mapped.len() - 1];
            }
        }
        Some(excerpt)
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

/// What codespan renders of one problem: the lines it points at, each shown
/// by [`show_line`], in a text of their own. Line numbers and the location
/// are the real file's; `span` is the problem's, in `source`.
struct Excerpt {
    /// The file's name, escaped.
    name: String,
    /// Of the problem's start in the real file.
    location: Location,
    /// Real line index to its range in `source`.
    lines: BTreeMap<usize, Range<usize>>,
    /// The real line indexes of the span's start and end.
    first: usize,
    last: usize,
    source: String,
    span: Range<usize>,
}

impl<'a> Files<'a> for Excerpt {
    type FileId = ();
    type Name = &'a str;
    type Source = &'a str;

    fn name(&'a self, (): ()) -> Result<&'a str, files::Error> {
        Ok(&self.name)
    }

    fn source(&'a self, (): ()) -> Result<&'a str, files::Error> {
        Ok(&self.source)
    }

    fn line_index(&'a self, (): (), byte_index: usize) -> Result<usize, files::Error> {
        // The last line starting at or before the byte; an empty line that
        // starts there too (the end of a file) comes after the one it ends.
        self.lines
            .iter()
            .rev()
            .find(|(_, range)| range.start <= byte_index)
            .map(|(index, _)| *index)
            .ok_or(files::Error::FileMissing)
    }

    fn line_range(&'a self, (): (), line_index: usize) -> Result<Range<usize>, files::Error> {
        match self.lines.get(&line_index) {
            Some(range) => Ok(range.clone()),
            // Lines inside a long label that codespan does not render.
            None if (self.first..=self.last).contains(&line_index) => Ok(0..0),
            None => Err(files::Error::LineTooLarge {
                given: line_index,
                max: self.last,
            }),
        }
    }

    fn location(&'a self, (): (), _byte_index: usize) -> Result<Location, files::Error> {
        // Asked only for the label's start, whose real location this is.
        Ok(self.location)
    }
}

/// One line of a file as it is shown: escaped (tabs kept: codespan expands
/// them), and when longer than [`LINE_MAX`], a window around `focus` with
/// `… ` and ` … (N more bytes)` where it was cut. `marks` (byte offsets into
/// `line`, or past its end into the line break) are returned mapped into the
/// shown text.
fn show_line(line: &str, focus: usize, marks: &[usize]) -> (String, Vec<usize>) {
    let (from, to) = if line.len() <= LINE_MAX {
        (0, line.len())
    } else {
        let from = focus
            .saturating_sub(WINDOW_BEFORE)
            .min(line.len() - LINE_WINDOW);
        let from = line.floor_char_boundary(from);
        (from, line.ceil_char_boundary(from + LINE_WINDOW))
    };
    let prefix = if from > 0 { "… " } else { "" };
    let body = escape_keeping_tabs(&line[from..to]);
    let suffix = if to < line.len() {
        format!(" {}", more_bytes(line.len() - to))
    } else {
        String::new()
    };
    let shown = format!("{prefix}{body}{suffix}");
    let mapped = marks
        .iter()
        .map(|&at| {
            if at < from {
                prefix.len()
            } else if at <= to {
                let at = line.floor_char_boundary(at);
                prefix.len() + escape_keeping_tabs(&line[from..at]).len()
            } else if to == line.len() {
                // In the line break: as far past the shown text.
                shown.len() + (at - line.len())
            } else {
                prefix.len() + body.len()
            }
        })
        .collect();
    (shown, mapped)
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

/// Reads a file for a loader, registering it; an I/O failure is a problem too,
/// and so is an encoding [`decode`] does not read (pointing at the first byte
/// that is not UTF-8).
pub fn read_file(diags: &mut Diagnostics, path: &std::path::Path) -> Option<FileId> {
    let bytes = match regular_file(path).and_then(|()| std::fs::read(path)) {
        Ok(bytes) => bytes,
        Err(err) => {
            diags.io_error(path, "read", &err);
            return None;
        }
    };
    match decode(bytes) {
        Ok(text) => Some(diags.add_file(path.display().to_string(), text)),
        Err(err) => {
            // The valid prefix is registered, so that the position is the
            // line and column of the first byte that is not UTF-8.
            let file = diags.add_file(path.display().to_string(), err.valid_prefix);
            let at = diags.source(file).len();
            diags.push(
                file,
                at..at,
                format!("cannot read {}: {}", path.display(), err.reason),
                "save the file as UTF-8",
            );
            None
        }
    }
}

/// Checks, without opening it, that a path is a regular file (through
/// symlinks): opening a FIFO blocks until a writer comes, and a device never
/// ends.
pub fn regular_file(path: &std::path::Path) -> io::Result<()> {
    let meta = std::fs::metadata(path)?;
    if meta.is_file() {
        return Ok(());
    }
    let what = if meta.is_dir() {
        "a directory"
    } else {
        "a FIFO, socket or device"
    };
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("not a regular file: it is {what}"),
    ))
}

/// Byte offset of a 1-based line and column (as serde_json reports them),
/// clamped to the text and to a character boundary.
pub fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let mut offset = (line_start + column.saturating_sub(1)).min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// Why a file's bytes are not text routewarden reads.
#[derive(Debug)]
pub struct DecodeError {
    /// What the file looks like, for the message.
    pub reason: String,
    /// The text up to the problem, so that it can be located.
    pub valid_prefix: String,
}

/// Decodes an input file: UTF-8 with or without a byte-order mark, or UTF-16
/// (little or big endian) with one, as Windows PowerShell 5's `>` writes. Any
/// other encoding is an error that says what the bytes look like.
pub fn decode(bytes: Vec<u8>) -> Result<String, DecodeError> {
    let fail = |reason: String, valid_prefix: &str| DecodeError {
        reason,
        valid_prefix: valid_prefix.to_owned(),
    };
    if bytes.starts_with(&[0xFF, 0xFE, 0, 0]) || bytes.starts_with(&[0, 0, 0xFE, 0xFF]) {
        return Err(fail(
            "the file is UTF-32 (it starts with a UTF-32 byte-order mark); only UTF-8 and UTF-16 are read".to_owned(),
            "",
        ));
    }
    let utf16 = match bytes.get(..2) {
        Some([0xFF, 0xFE]) => Some(u16::from_le_bytes as fn([u8; 2]) -> u16),
        Some([0xFE, 0xFF]) => Some(u16::from_be_bytes as fn([u8; 2]) -> u16),
        _ => None,
    };
    if let Some(unit) = utf16 {
        let body = &bytes[2..];
        let units = body.chunks_exact(2).map(|pair| unit([pair[0], pair[1]]));
        let mut text = String::with_capacity(body.len() / 2);
        for c in char::decode_utf16(units) {
            match c {
                Ok(c) => text.push(c),
                Err(_) => {
                    return Err(fail(
                        "the file starts with a UTF-16 byte-order mark but is not valid UTF-16 (an unpaired surrogate)".to_owned(),
                        &text,
                    ));
                }
            }
        }
        if body.len() % 2 == 1 {
            return Err(fail(
                "the file starts with a UTF-16 byte-order mark but has an odd number of bytes (truncated?)".to_owned(),
                &text,
            ));
        }
        return Ok(text);
    }
    let start = if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        3
    } else {
        0
    };
    let body = &bytes[start..];
    // NUL is valid UTF-8 but never in a JSON or TOML text: UTF-16 without a
    // mark (ASCII text is every other byte zero), or a binary file.
    let invalid = std::str::from_utf8(body).err().map(|e| e.valid_up_to());
    let nul = body.iter().position(|b| *b == 0);
    let bad = match (invalid, nul) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    match bad {
        None => {
            let mut bytes = bytes;
            bytes.drain(..start);
            Ok(String::from_utf8(bytes).expect("checked"))
        }
        Some(bad) => {
            let valid = std::str::from_utf8(&body[..bad]).expect("valid prefix");
            let byte = body[bad];
            // UTF-16 without a mark: every other byte of ASCII text is zero.
            let sample = &body[..body.len().min(512)];
            let zeros = sample.iter().filter(|b| **b == 0).count();
            let reason = if zeros * 4 >= sample.len() && !sample.is_empty() {
                "the file looks like UTF-16 without a byte-order mark (every other byte is zero); save it as UTF-8".to_owned()
            } else if zeros > 0 {
                "the file holds NUL bytes: it is binary, not text".to_owned()
            } else {
                format!(
                    "it is not UTF-8 (byte 0x{byte:02X}); it looks like a legacy 8-bit encoding such as Windows-1252 or Latin-1"
                )
            };
            Err(fail(reason, valid))
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

/// A path as reports show it: relative to the working directory where it is
/// inside it (SARIF's `%SRCROOT%`), else as given.
pub fn display_path(path: &std::path::Path) -> String {
    let relative = std::env::current_dir().ok().and_then(|cwd| {
        path.strip_prefix(cwd)
            .ok()
            .map(std::path::Path::to_path_buf)
    });
    let shown = relative.as_deref().unwrap_or(path);
    let text = shown.display().to_string();
    text.strip_prefix("./").map_or(text.clone(), str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_utf8_with_and_without_a_bom_and_utf16_with_one() {
        assert_eq!(decode(b"{\"a\": 1}".to_vec()).unwrap(), "{\"a\": 1}");
        assert_eq!(decode(b"\xEF\xBB\xBF{}".to_vec()).unwrap(), "{}");
        let le: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("{\"é\": 1}\r\n".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert_eq!(decode(le).unwrap(), "{\"é\": 1}\r\n");
        let be: Vec<u8> = [0xFE, 0xFF]
            .into_iter()
            .chain("[1]".encode_utf16().flat_map(u16::to_be_bytes))
            .collect();
        assert_eq!(decode(be).unwrap(), "[1]");
    }

    #[test]
    fn other_encodings_say_what_they_look_like() {
        let latin1 = decode(b"name = \"caf\xE9\"".to_vec()).unwrap_err();
        assert!(latin1.reason.contains("Windows-1252"), "{}", latin1.reason);
        assert!(latin1.reason.contains("0xE9"), "{}", latin1.reason);
        assert_eq!(latin1.valid_prefix, "name = \"caf");
        let no_bom: Vec<u8> = "{\"Items\": []}"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let err = decode(no_bom).unwrap_err();
        assert!(
            err.reason.contains("UTF-16 without a byte-order mark"),
            "{}",
            err.reason
        );
        assert!(
            decode(vec![0xFF, 0xFE, 0, 0, b'{', 0, 0, 0])
                .unwrap_err()
                .reason
                .contains("UTF-32")
        );
        assert!(
            decode(vec![0xFF, 0xFE, b'{'])
                .unwrap_err()
                .reason
                .contains("odd number")
        );
        assert!(
            decode(vec![0xFF, 0xFE, 0x00, 0xD8, b'x', 0])
                .unwrap_err()
                .reason
                .contains("surrogate")
        );
    }

    #[test]
    fn an_undecodable_file_is_a_problem_at_its_first_bad_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.toml");
        std::fs::write(&path, b"[[rules]]\nid = \"caf\xE9\"\n").unwrap();
        let mut diags = Diagnostics::new();
        assert!(read_file(&mut diags, &path).is_none());
        let problem = &diags.problems()[0];
        assert!(
            diags.position(problem).ends_with("policy.toml:2:10"),
            "{}",
            diags.position(problem)
        );
        assert!(problem.message.contains("not UTF-8"), "{}", problem.message);
    }
}

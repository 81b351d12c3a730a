//! Log output that never carries credentials and that a log parser can
//! trust to be one line per event.
//!
//! The AWS SDK already redacts secret keys and session tokens in what it
//! logs, but at debug and trace it prints access key ids (in identities and
//! in signed `Authorization` headers) and the external id of an assumed role
//! (in the Debug output of its runtime components and of `AssumeRoleInput`).
//! Every log line passes through [`Redacting`], which removes the credential
//! values of the environment, anything shaped like an AWS access key id, and
//! every external id, before it reaches stderr.
//!
//! Values from outside (API ids, route keys, error messages, paths) reach
//! log fields as they are. In text logs, [`EscapedFields`] formats every
//! field through [`sanitize::escape`](routewarden_core::sanitize::escape), so a line
//! break or an ESC in a value cannot forge a line or drive a terminal. JSON
//! logs are safe by JSON's own encoding, which escapes the C0 controls; the
//! writer also writes DEL, the C1 controls and the bidirectional controls as
//! `\uXXXX` escapes, the same JSON value, so that `tail` on a terminal shows
//! them as text. This module does not choose the level or the format: `main`
//! does.

use std::error::Error;
use std::fmt;
use std::io::{self, Write};
use std::sync::Arc;

use regex::Regex;
use tracing::field::{Field, Visit};
use tracing_subscriber::field::{MakeVisitor, VisitFmt, VisitOutput};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::Writer;

use routewarden_core::sanitize::{escape, is_escaped};

const REDACTED: &str = "** redacted **";
/// Environment variables whose values never appear in logs.
const SECRET_VARS: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
];

/// Makes stderr writers that redact credentials.
#[derive(Clone)]
pub struct Redacting {
    secrets: Arc<Vec<String>>,
    key_id: Regex,
    external_id: Regex,
    /// Lines are JSON: escape DEL, C1 and bidirectional controls as `\uXXXX`.
    json: bool,
}

impl Redacting {
    /// Redacts the credential values of this process's environment.
    pub fn from_env() -> Redacting {
        let secrets = SECRET_VARS
            .iter()
            .filter_map(|v| std::env::var(v).ok())
            .filter(|s| s.len() >= 4)
            .collect();
        Redacting::new(secrets)
    }

    pub fn new(secrets: Vec<String>) -> Redacting {
        Redacting {
            secrets: Arc::new(secrets),
            // Long-term (AKIA) and temporary (ASIA) access key ids.
            key_id: Regex::new(r"\b(?:AKIA|ASIA)[A-Z0-9]{12,}\b").expect("valid regex"),
            // The value after an external id's name, in the shapes it is
            // logged in: Debug (`external_id: Some("v")`, and `\"` inside a
            // JSON log), a query body (`ExternalId=v`, percent-encoded), JSON
            // (`"ExternalId":"v"`) and TOML (`external_id = "v"`). The value
            // class is AWS's for external ids, plus `%` for the encoded form.
            external_id: Regex::new(
                r#"(?i)(external_?id\\?"?\s*[:=]\s*(?:Some\()?\\?"?)[\w+=,.@:/%-]+"#,
            )
            .expect("valid regex"),
            json: false,
        }
    }

    /// The same, for JSON lines (`--log-format json`).
    pub fn for_json(self) -> Redacting {
        Redacting { json: true, ..self }
    }

    /// The line with every secret replaced.
    pub fn redact(&self, line: &str) -> String {
        let mut out = self.key_id.replace_all(line, REDACTED).into_owned();
        if self.external_id.is_match(&out) {
            out = self
                .external_id
                .replace_all(&out, format!("${{1}}{REDACTED}"))
                .into_owned();
        }
        for secret in self.secrets.iter() {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        out
    }

    /// The line as written: redacted, and for JSON, with the characters
    /// [`is_escaped`] that JSON leaves raw written as `\uXXXX`.
    fn clean(&self, line: &str) -> String {
        let out = self.redact(line);
        if self.json { json_escaped(out) } else { out }
    }
}

/// A JSON line with DEL, the C1 controls and the bidirectional controls
/// escaped. serde_json escapes every C0 control inside strings, so the only
/// raw one left is the line's final newline; the others can only be inside a
/// string, where `\uXXXX` is the same value.
fn json_escaped(line: String) -> String {
    let raw = |c: char| is_escaped(c) && c >= '\u{7f}';
    if !line.contains(raw) {
        return line;
    }
    let mut out = String::with_capacity(line.len() + 16);
    for c in line.chars() {
        if raw(c) {
            let _ = fmt::Write::write_fmt(&mut out, format_args!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// One event's output, redacted and written when complete.
pub struct RedactingWriter {
    redacting: Redacting,
    buffer: Vec<u8>,
}

impl Write for RedactingWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&self.buffer);
        let clean = self.redacting.clean(&text);
        self.buffer.clear();
        io::stderr().lock().write_all(clean.as_bytes())
    }
}

impl Drop for RedactingWriter {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

impl<'a> MakeWriter<'a> for Redacting {
    type Writer = RedactingWriter;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter {
            redacting: self.clone(),
            buffer: Vec::with_capacity(256),
        }
    }
}

/// Formats the fields of events and spans for text logs as tracing's default
/// formatter does (`message key=value ...`, strings quoted), but with every
/// value passed through [`escape`]: one event is one line, and no value can
/// drive the terminal that shows it.
#[derive(Debug, Clone, Copy, Default)]
pub struct EscapedFields;

impl<'w> MakeVisitor<Writer<'w>> for EscapedFields {
    type Visitor = EscapedVisitor<'w>;

    fn make_visitor(&self, writer: Writer<'w>) -> EscapedVisitor<'w> {
        EscapedVisitor {
            writer,
            empty: true,
            result: Ok(()),
        }
    }
}

/// Writes one set of fields for [`EscapedFields`].
pub struct EscapedVisitor<'w> {
    writer: Writer<'w>,
    empty: bool,
    result: fmt::Result,
}

impl EscapedVisitor<'_> {
    fn field(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        let name = field.name();
        // `log.*` fields carry a `log` record's metadata, which the event
        // formatter already shows.
        if self.result.is_err() || name.starts_with("log.") {
            return;
        }
        let text = value.to_string();
        let text = escape(&text);
        let separator = if std::mem::take(&mut self.empty) {
            ""
        } else {
            " "
        };
        self.result = if name == "message" {
            write!(self.writer, "{separator}{text}")
        } else {
            let name = name.strip_prefix("r#").unwrap_or(name);
            if self.writer.has_ansi_escapes() {
                let italic = anstyle::Style::new().italic();
                let dimmed = anstyle::Style::new().dimmed();
                write!(
                    self.writer,
                    "{separator}{italic}{name}{italic:#}{dimmed}={dimmed:#}{text}"
                )
            } else {
                write!(self.writer, "{separator}{name}={text}")
            }
        };
    }
}

impl Visit for EscapedVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.field(field, format_args!("{value}"));
        } else {
            self.field(field, format_args!("{value:?}"));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn Error + 'static)) {
        let mut text = value.to_string();
        let mut sources = Vec::new();
        let mut source = value.source();
        while let Some(err) = source {
            sources.push(err.to_string());
            source = err.source();
        }
        if !sources.is_empty() {
            text.push_str(&format!(
                " {}.sources=[{}]",
                field.name(),
                sources.join(", ")
            ));
        }
        self.field(field, format_args!("{text}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.field(field, format_args!("{value:?}"));
    }
}

impl VisitOutput<fmt::Result> for EscapedVisitor<'_> {
    fn finish(self) -> fmt::Result {
        self.result
    }
}

impl VisitFmt for EscapedVisitor<'_> {
    fn writer(&mut self) -> &mut dyn fmt::Write {
        &mut self.writer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_key_ids_are_redacted() {
        let r = Redacting::new(vec!["s3cr3t/value+x=".into(), "FQoGZXIvYXdzEtoken".into()]);
        let line = r#"{"identity":"Credentials { access_key_id: \"AKIAIOSFODNN7EXAMPLE\" }","auth":"Credential=ASIAXYZXYZXYZXYZXYZX/2026","other":"s3cr3t/value+x= and FQoGZXIvYXdzEtoken"}"#;
        let clean = r.redact(line);
        for gone in [
            "AKIAIOSFODNN7EXAMPLE",
            "ASIAXYZXYZXYZXYZXYZX",
            "s3cr3t/value+x=",
            "FQoGZXIvYXdzEtoken",
        ] {
            assert!(!clean.contains(gone), "{gone} in {clean}");
        }
        assert!(clean.contains("Credential=** redacted **/2026"));
        assert_eq!(r.redact("nothing here"), "nothing here");
    }

    #[test]
    fn external_ids_are_redacted_in_every_shape_they_are_logged_in() {
        let r = Redacting::new(Vec::new());
        for line in [
            r#"RuntimeComponents { transitive_tag_keys: None, external_id: Some("xid-marker:9+/="), serial_number: None }"#,
            r#"{"fields":{"runtime_components":"Ab { external_id: Some(\"xid-marker:9+/=\"), x: 1 }"}}"#,
            "Action=AssumeRole&ExternalId=xid-marker%3A9%2B%2F%3D&RoleSessionName=routewarden",
            r#"{"ExternalId":"xid-marker:9+/=","RoleArn":"arn"}"#,
            r#"external_id = "xid-marker:9+/=""#,
        ] {
            let clean = r.redact(line);
            assert!(!clean.contains("xid-marker"), "{clean}");
            assert!(clean.contains(REDACTED), "{clean}");
        }
        let clean = r.redact(r#"x external_id: Some("a,b"), serial_number: None"#);
        assert_eq!(
            clean,
            r#"x external_id: Some("** redacted **"), serial_number: None"#
        );
        // Prose about the key is left alone.
        let prose = "`external_id` needs `role_arn` (in target `a`)";
        assert_eq!(r.redact(prose), prose);
    }

    #[test]
    fn json_lines_keep_their_value_and_lose_raw_c1_and_bidi_characters() {
        let r = Redacting::new(Vec::new()).for_json();
        let value = "GET /a\u{202e}b\u{9b}2J\u{7f}\u{2028}é";
        let line = format!("{}\n", serde_json::json!({ "route_key": value }));
        let clean = r.clean(&line);
        assert!(!clean.trim_end().chars().any(is_escaped), "{clean:?}");
        assert_eq!(clean.lines().count(), 1);
        let back: serde_json::Value = serde_json::from_str(&clean).unwrap();
        assert_eq!(back["route_key"], value, "the same JSON value");
        assert!(
            clean.contains(r"\u202e") && clean.contains(r"\u009b"),
            "{clean}"
        );
        // Text lines are escaped field by field, not here.
        assert_eq!(Redacting::new(Vec::new()).clean("a\u{9b}\n"), "a\u{9b}\n");
    }

    #[test]
    fn text_fields_are_escaped_so_one_event_is_one_line() {
        use tracing_subscriber::layer::SubscriberExt;

        // The fields as the subscriber formats them, captured.
        #[derive(Clone, Default)]
        struct Capture(Arc<std::sync::Mutex<Vec<u8>>>);
        impl Write for Capture {
            fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let capture = Capture::default();
        let writer = capture.clone();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .fmt_fields(EscapedFields)
                .with_ansi(false)
                .without_time()
                .with_writer(move || writer.clone()),
        );
        let hostile =
            "x\n2026-01-01T00:00:00Z  INFO forged: \u{1b}]0;pwned\u{7}\u{1b}[2J\r\u{202e}";
        let err = io::Error::other(hostile.to_owned());
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("audit", api_id = hostile);
            let _entered = span.enter();
            tracing::warn!(
                route_key = hostile,
                path = %hostile,
                debug = ?hostile,
                error = &err as &(dyn Error + 'static),
                "cannot read {hostile}"
            );
            tracing::info!(count = 3, name = "plain", "done");
        });
        let out = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "one line per event: {out}");
        for line in &lines {
            assert!(!line.chars().any(is_escaped), "{line:?}");
        }
        // Plain values read as tracing's default formatter writes them.
        assert!(
            lines[1].ends_with(r#"done count=3 name="plain""#),
            "{}",
            lines[1]
        );
        assert!(
            out.contains(r"cannot read x\n2026-01-01T00:00:00Z  INFO forged: \u{1b}]0;pwned\u{7}\u{1b}[2J\r\u{202e}"),
            "{out}"
        );
        assert!(out.contains(r#"route_key="x\n2026"#), "{out}");
        assert!(out.contains(r"path=x\n2026"), "{out}");
        assert!(out.contains(r"api_id="), "the span's fields too: {out}");
    }
}

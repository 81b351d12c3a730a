//! Log output that never carries credentials. The AWS SDK already redacts
//! secret keys and session tokens in what it logs, but at debug and trace it
//! prints access key ids (in identities and in signed `Authorization`
//! headers). Every log line passes through [`Redacting`], which removes the
//! credential values of the environment and anything shaped like an AWS
//! access key id, before it reaches stderr.

use std::io::{self, Write};
use std::sync::Arc;

use regex::Regex;
use tracing_subscriber::fmt::MakeWriter;

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
        }
    }

    /// The line with every secret replaced.
    pub fn redact(&self, line: &str) -> String {
        let mut out = self.key_id.replace_all(line, REDACTED).into_owned();
        for secret in self.secrets.iter() {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        out
    }
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
        let clean = self.redacting.redact(&text);
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
}

//! Text from outside (fleet files, AWS responses, file excerpts) made safe to
//! show a person or a log parser: [`escape`] makes the characters that drive
//! a terminal or reorder text visible, and [`clip`] bounds the length.
//!
//! Every sink that a person or a line-oriented parser reads (the text report,
//! JUnit, text logs, diagnostics) passes external strings through here. The
//! machine formats (the JSON report, SARIF, JSON logs) do not: their encoders
//! keep the exact value, and a consumer gets it back. Escaping is for display
//! only; nothing here can be reversed, and nothing here is a security boundary
//! for anything but the reader's terminal and the log's line structure.
//!
//! # The escaped form
//!
//! Rust's own escapes, as `char::escape_debug` writes them: `\t`, `\n` and
//! `\r` for tab, line feed and carriage return, and `\u{HEX}` (lower-case hex,
//! no leading zeros) for every other character escaped, e.g. `\u{1b}` for ESC
//! and `\u{202e}` for RIGHT-TO-LEFT OVERRIDE. Escaped are:
//!
//! - the C0 controls U+0000–U+001F, DEL U+007F and the C1 controls
//!   U+0080–U+009F (ESC and CSI start terminal sequences; CR and LF forge lines);
//! - the Unicode bidirectional controls U+061C, U+200E, U+200F,
//!   U+202A–U+202E and U+2066–U+2069, which reorder what is displayed;
//! - U+2028 and U+2029, the line and paragraph separators some viewers and
//!   parsers break lines on.
//!
//! A backslash is left as it is, so that paths and regexes read as written;
//! text that already holds a literal `\u{1b}` therefore looks like text that
//! held an ESC. Distinct strings that differ in an escaped character stay
//! distinct.

use std::borrow::Cow;
use std::fmt::Write;

/// Whether `c` is shown escaped: a C0 or C1 control, DEL, a bidirectional
/// control, or a line or paragraph separator.
pub fn is_escaped(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

/// `text` with every character [`is_escaped`] made visible (see the module
/// docs for the form); borrowed when there is none.
pub fn escape(text: &str) -> Cow<'_, str> {
    escape_unless(text, |_| false)
}

/// As [`escape`], but tabs are kept: for a line of a file shown under a
/// caret, where a renderer expands tabs to spaces itself.
pub(crate) fn escape_keeping_tabs(text: &str) -> Cow<'_, str> {
    escape_unless(text, |c| c == '\t')
}

fn escape_unless(text: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    let Some(first) = text.find(|c| is_escaped(c) && !keep(c)) else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len() + 8);
    out.push_str(&text[..first]);
    for c in text[first..].chars() {
        if is_escaped(c) && !keep(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\t' => out.push_str("\\t"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        c => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

/// `text` cut to at most `max_bytes` bytes at a character boundary, followed
/// by `… (N more bytes)` saying how much was cut; borrowed when it fits.
/// The marker is not counted in `max_bytes`.
pub fn clip(text: &str, max_bytes: usize) -> Cow<'_, str> {
    if text.len() <= max_bytes {
        return Cow::Borrowed(text);
    }
    let cut = text.floor_char_boundary(max_bytes);
    Cow::Owned(format!("{}{}", &text[..cut], more_bytes(text.len() - cut)))
}

/// [`clip`], then [`escape`]: a bounded, printable rendering of a value that
/// may be large (an error message, a response body). The result is at most
/// about six times `max_bytes` (`\u{9f}` for a two-byte character) plus the
/// marker.
pub fn clip_escaped(text: &str, max_bytes: usize) -> Cow<'_, str> {
    match clip(text, max_bytes) {
        Cow::Borrowed(text) => escape(text),
        Cow::Owned(clipped) => Cow::Owned(escape(&clipped).into_owned()),
    }
}

/// The marker [`clip`] appends: `… (N more bytes)`.
pub(crate) fn more_bytes(n: usize) -> String {
    format!("… ({n} more byte{})", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        for text in ["", "GET /pets/{id}", "café ünïcode ✓", r"C:\fleet\a.json"] {
            assert!(matches!(escape(text), Cow::Borrowed(t) if t == text));
            assert!(matches!(clip(text, 100), Cow::Borrowed(t) if t == text));
        }
    }

    #[test]
    fn terminal_sequences_and_line_breaks_are_made_visible() {
        assert_eq!(escape("a\u{1b}]0;pwned\u{7}b"), r"a\u{1b}]0;pwned\u{7}b");
        assert_eq!(escape("\u{1b}[2J"), r"\u{1b}[2J");
        assert_eq!(escape("x\r\ny\tz"), r"x\r\ny\tz");
        assert_eq!(escape("\0\u{7f}\u{9b}\u{85}"), r"\u{0}\u{7f}\u{9b}\u{85}");
        assert_eq!(escape("a\u{2028}b\u{2029}"), r"a\u{2028}b\u{2029}");
    }

    #[test]
    fn every_bidirectional_control_is_made_visible() {
        let bidi = [
            '\u{061c}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}',
            '\u{202e}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
        ];
        for c in bidi {
            let text = format!("/admin{c}nimda");
            assert_eq!(escape(&text), format!("/admin\\u{{{:x}}}nimda", c as u32));
        }
        // Neighbours that do not reorder text are left alone.
        for c in ['\u{200d}', '\u{2065}', '\u{206a}', '\u{202f}', 'é'] {
            assert!(matches!(escape(&c.to_string()), Cow::Borrowed(_)), "{c:?}");
        }
    }

    #[test]
    fn no_escaped_character_survives_and_distinct_texts_stay_distinct() {
        let texts = [
            "GET /a",
            "GET /a\u{1b}",
            "GET /a\u{1b}[31m",
            "GET /a\n",
            "GET /a\r",
            "GET /a\u{202e}",
            "GET /a\u{9b}",
        ];
        let escaped: Vec<String> = texts.iter().map(|t| escape(t).into_owned()).collect();
        for e in &escaped {
            assert!(!e.chars().any(is_escaped), "{e:?}");
        }
        let mut unique = escaped.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), texts.len(), "{escaped:?}");
    }

    #[test]
    fn tabs_can_be_kept() {
        assert_eq!(escape_keeping_tabs("\tid = 1\u{1b}"), "\tid = 1\\u{1b}");
    }

    #[test]
    fn clip_cuts_at_a_character_boundary_and_says_how_much() {
        assert_eq!(clip("abcdef", 4), "abcd… (2 more bytes)");
        assert_eq!(clip("abcde", 4), "abcd… (1 more byte)");
        // "é" is two bytes: a cut inside it moves back to before it.
        assert_eq!(clip("aé", 2), "a… (2 more bytes)");
        assert_eq!(clip("ééé", 0), "… (6 more bytes)");
        let big = "x".repeat(10_000);
        let clipped = clip(&big, 1024);
        assert!(clipped.starts_with(&"x".repeat(1024)));
        assert!(clipped.ends_with("… (8976 more bytes)"), "{clipped}");
    }

    #[test]
    fn clip_escaped_bounds_before_it_escapes() {
        let hostile = "\u{1b}".repeat(5000);
        let shown = clip_escaped(&hostile, 100);
        assert_eq!(
            shown,
            format!("{}… (4900 more bytes)", r"\u{1b}".repeat(100))
        );
        assert!(matches!(clip_escaped("fine", 100), Cow::Borrowed("fine")));
    }
}

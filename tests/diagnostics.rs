//! Snapshot tests of what a user reads when a file is wrong: every file of
//! the malformed-input corpus (tests/fixtures/invalid) is loaded with its
//! loader and the rendered diagnostics are compared with the snapshot.

use std::path::{Path, PathBuf};

use routewarden_core::config::Config;
use routewarden_core::diag::Diagnostics;
use routewarden_core::inventory;
use routewarden_core::policy::{PolicySet, PolicySource};

fn corpus() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir("tests/fixtures/invalid")
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

/// Loads a corpus file with the loader its name says; every one must fail.
fn diagnostics(path: &Path) -> Diagnostics {
    let name = path.file_name().unwrap().to_str().unwrap();
    if name.starts_with("policy-") {
        PolicySet::load(&[PolicySource::Path(path.into())])
            .unwrap_err()
            .0
    } else if name.starts_with("config-") {
        Config::load(path).unwrap_err().0
    } else if name.starts_with("fleet-") {
        let mut diags = Diagnostics::new();
        assert!(
            inventory::load_routes_file(&mut diags, path).is_none(),
            "{name} loaded"
        );
        diags
    } else {
        panic!("unexpected corpus file {name}");
    }
}

#[test]
fn every_malformed_file_gets_positioned_diagnostics() {
    let files = corpus();
    assert!(files.len() >= 10, "the corpus is there");
    for path in files {
        let diags = diagnostics(&path);
        assert!(!diags.is_empty());
        let rendered = diags.render(false);
        // Every problem names file:line:column.
        for problem in diags.problems() {
            let position = diags.position(problem);
            assert!(
                position.matches(':').count() == 2 && rendered.contains(&position),
                "{position} in\n{rendered}"
            );
        }
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        insta::assert_snapshot!(name, rendered);
    }
}

#[test]
fn colour_is_only_added_when_asked() {
    let diags = diagnostics(Path::new("tests/fixtures/invalid/policy-types.toml"));
    assert!(!diags.render(false).contains('\x1b'));
    assert!(diags.render(true).contains('\x1b'));
}

/// What `sanitize` escapes, found raw in `text` (line breaks allowed).
fn raw_controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|c| routewarden_core::sanitize::is_escaped(*c) && *c != '\n')
        .collect()
}

fn load_fleet(dir: &Path, name: &str, text: &str) -> Diagnostics {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    let mut diags = Diagnostics::new();
    assert!(inventory::load_routes_file(&mut diags, &path).is_none());
    diags
}

#[test]
fn the_echoed_line_is_escaped_and_the_caret_stays_under_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    // A raw ESC inside a JSON string is an error at that byte; the line also
    // holds a title sequence, a bidi override and a tab before it.
    let diags = load_fleet(
        dir.path(),
        "evil.json",
        "{\"Apis\": [{\"ApiId\": \"\u{202e}x\", \"Name\":\t\"\u{7}]0;\u{1b}[2J\"}]}\n",
    );
    let rendered = diags.render(false);
    assert_eq!(raw_controls(&rendered), Vec::<char>::new(), "{rendered}");
    let position = diags.position(&diags.problems()[0]);
    assert!(position.ends_with("evil.json:1:36"), "{position}");
    insta::assert_snapshot!(
        "hostile-line",
        rendered.replace(&dir.path().display().to_string(), "DIR")
    );
}

#[test]
fn a_long_line_is_shown_as_a_window_and_positions_stay_exact() {
    let dir = tempfile::tempdir().unwrap();
    // One line of 1 MB, cut off inside a route: the problem is at its end.
    let route = r#"{"RouteKey":"GET /pets","AuthorizationType":"NONE"},"#;
    let mut text = String::from(r#"{"Apis":[{"ApiId":"big","Routes":["#);
    while text.len() < 1_000_000 {
        text.push_str(route);
    }
    text.push_str(r#"{"RouteKey":"GET /p"#);
    let diags = load_fleet(dir.path(), "long.json", &text);
    let rendered = diags.render(false);
    assert!(
        rendered.len() < 1024,
        "{} bytes:\n{rendered}",
        rendered.len()
    );
    // serde_json points at the last character.
    let position = format!("long.json:1:{}", text.len());
    assert!(rendered.contains(&position), "{position} in\n{rendered}");
    assert!(diags.position(&diags.problems()[0]).ends_with(&position));
    insta::assert_snapshot!(
        "long-line",
        rendered.replace(&dir.path().display().to_string(), "DIR")
    );
}

#[test]
fn problems_per_file_are_capped_and_the_rest_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("routewarden.toml");
    let text: String = (0..120).map(|i| format!("unknown{i} = 1\n")).collect();
    std::fs::write(&path, text).unwrap();
    let diags = Config::load(&path).unwrap_err().0;
    assert_eq!(diags.problems().len(), 120);
    let rendered = diags.render(false);
    let shown = rendered.matches("error: unknown key").count();
    assert_eq!(
        shown,
        routewarden_core::diag::PROBLEMS_SHOWN_PER_FILE,
        "{rendered}"
    );
    assert!(
        rendered.contains(&format!("… and 70 more problems in {}\n", path.display())),
        "{rendered}"
    );
    assert!(rendered.contains("unknown49 = 1") && !rendered.contains("unknown50 = 1"));
    assert!(rendered.ends_with("error: 120 problems found; nothing was loaded\n"));
}

#[test]
fn long_messages_are_clipped_and_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.toml");
    // A quoted key may hold anything: 100 KB of it, escapes included.
    let key = format!("k{}", "\\u001b[2J".repeat(10_000));
    std::fs::write(&path, format!("[[rules]]\n\"{key}\" = 1\n")).unwrap();
    let diags = PolicySet::load(&[PolicySource::Path(path)]).unwrap_err().0;
    let rendered = diags.render(false);
    assert_eq!(raw_controls(&rendered), Vec::<char>::new());
    assert!(rendered.len() < 20_000, "{} bytes", rendered.len());
    assert!(rendered.contains("more bytes)"), "{rendered}");
}

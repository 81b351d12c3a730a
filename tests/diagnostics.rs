//! Snapshot tests of what a user reads when a file is wrong: every file of
//! the malformed-input corpus (tests/fixtures/invalid) is loaded with its
//! loader and the rendered diagnostics are compared with the snapshot.

use std::path::{Path, PathBuf};

use routewarden::config::Config;
use routewarden::diag::Diagnostics;
use routewarden::inventory;
use routewarden::policy::{PolicySet, PolicySource};

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

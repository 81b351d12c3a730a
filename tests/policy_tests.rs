//! `routewarden test`: the built-in pack's own tests (policies/*_test.toml)
//! pass; every outcome is checked (tests/fixtures/policy-tests); a wrong
//! expectation and an unexpected finding fail a case (exit 1); a test file
//! that does not load is exit 2 with positions; `--format junit`.

mod support;

use std::path::Path;

use support::{run, stderr};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_built_in_pack_passes_its_own_tests_with_full_coverage() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(dir.path(), &["test", &format!("{ROOT}/policies")]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}{}", stderr(&output));
    assert!(
        text.contains("authentication_test.toml: 3 cases, 3 passed"),
        "{text}"
    );
    assert!(
        text.contains("coverage: all 11 rules under test have a case"),
        "{text}"
    );
    // The test files sit beside the policies and are never loaded as policies.
    let rules = run(dir.path(), &["rules", "-p", &format!("{ROOT}/policies")]);
    assert_eq!(rules.status.code(), Some(0), "{}", stderr(&rules));
}

#[test]
fn every_outcome_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(
        dir.path(),
        &["test", &format!("{ROOT}/tests/fixtures/policy-tests")],
    );
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}{}", stderr(&output));
    assert!(text.contains("org_test.toml: 4 cases, 4 passed"), "{text}");
}

/// A copy of the fixture's policies with a test file of `cases`.
fn suite(dir: &Path, cases: &str) -> String {
    let fixtures = Path::new(ROOT).join("tests/fixtures/policy-tests");
    for name in ["org.toml", "template.yaml"] {
        std::fs::copy(fixtures.join(name), dir.join(name)).unwrap();
    }
    let path = dir.join("org_test.toml");
    std::fs::write(&path, cases).unwrap();
    path.to_str().unwrap().to_owned()
}

const ROUTES: &str = r#"apis = [{ ApiId = "a1", ProtocolType = "HTTP", Routes = [
  { RouteKey = "GET /admin/users", AuthorizationType = "NONE" },
  { RouteKey = "GET /admin/more", AuthorizationType = "NONE" },
] }]"#;

#[test]
fn a_wrong_expectation_or_an_unexpected_finding_fails_the_case() {
    let dir = tempfile::tempdir().unwrap();
    let path = suite(
        dir.path(),
        &format!(
            "[[cases]]\nname = \"two admin routes\"\n{ROUTES}\nexpect = [{{ rule = \"ORG001\", route_key = \"GET /admin/users\", outcome = \"pass\" }}]\n"
        ),
    );
    let output = run(dir.path(), &["test", &path]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("FAIL "), "{text}");
    assert!(
        text.contains(
            "org_test.toml:7: expected ORG001 pass on route `GET /admin/users`, got violation"
        ),
        "{text}"
    );
    assert!(
        text.contains("unexpected ORG001 violation on route `GET /admin/more` of API a1"),
        "no silent extra matches: {text}"
    );
    // JUnit: one suite per file, the case failed with the reasons.
    let output = run(dir.path(), &["test", &path, "--format", "junit"]);
    let xml = stdout(&output);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        xml.contains("<testsuite name=") && xml.contains("two admin routes"),
        "{xml}"
    );
    assert!(
        xml.contains("<failure") && xml.contains("GET /admin/more"),
        "{xml}"
    );
}

#[test]
fn a_test_file_that_does_not_load_is_exit_2_with_positions() {
    let dir = tempfile::tempdir().unwrap();
    let path = suite(
        dir.path(),
        &format!(
            "[[cases]]\nname = \"typos\"\n{ROUTES}\nexpect = [\n  {{ rule = \"ORG01\", route_key = \"GET /admin/users\", outcome = \"violation\" }},\n  {{ rule = \"ORG001\", route_key = \"GET /admin/users\", outcome = \"violaton\" }},\n]\n\n[[cases]]\nname = \"no input\"\ninput = \"nowhere.json\"\nexpect = []\n"
        ),
    );
    let output = run(dir.path(), &["test", &path]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    for expected in [
        "unknown rule id `ORG01`",
        "did you mean `ORG001`?",
        "org_test.toml:8:12",
        "unknown outcome `violaton`",
        "did you mean `violation`?",
        "org_test.toml:9:64",
        "the input",
        "nowhere.json does not load",
        "org_test.toml:14:9",
    ] {
        assert!(err.contains(expected), "{expected} in:\n{err}");
    }
    // No test file at all is an error too: a run that tests nothing.
    let empty = tempfile::tempdir().unwrap();
    let output = run(empty.path(), &["test", empty.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("no policy test files"));
}

//! `routewarden test`: runs policy unit tests (`*_test.toml`) and reports
//! per file, with a coverage line; `--format junit` for CI. Exit 0 when every
//! case passes, 1 when one fails, 2 when a test file does not load.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use routewarden_core::diag::{Diagnostics, LoadError};
use routewarden_core::policy::testing::{self, CaseResult, TestFile};
use routewarden_core::sanitize::escape;

use crate::cli::TestFormat;
use crate::error::{Error, Exit};

/// Where tests are looked for without a path.
const DEFAULT_PATH: &str = "policies";

pub async fn run(paths: &[PathBuf], format: TestFormat) -> Result<Exit, Error> {
    let paths = paths.to_vec();
    tokio::task::spawn_blocking(move || run_blocking(&paths, format))
        .await
        .map_err(|err| Error::Panic(crate::error::join_error(err)))?
}

fn run_blocking(paths: &[PathBuf], format: TestFormat) -> Result<Exit, Error> {
    let paths = if paths.is_empty() {
        vec![PathBuf::from(DEFAULT_PATH)]
    } else {
        paths.to_vec()
    };
    let files = test_files(&paths)?;
    let today = crate::audit::today_utc();
    let mut loaded = Vec::new();
    let mut problems: Vec<LoadError> = Vec::new();
    for path in &files {
        match testing::load(path, today) {
            Ok(file) => loaded.push(file),
            Err(err) => problems.push(err),
        }
    }
    // Every file's problems are shown; the last one as the command's error.
    if let Some(last) = problems.pop() {
        for err in &problems {
            err.0.eprint();
        }
        return Err(Error::Load(last));
    }
    let results: Vec<(&TestFile, Vec<CaseResult>)> = loaded.iter().map(|f| (f, f.run())).collect();
    let failed = results
        .iter()
        .flat_map(|(_, r)| r)
        .filter(|r| !r.failures.is_empty())
        .count();
    let text = match format {
        TestFormat::Text => text(&results),
        TestFormat::Junit => junit(&results),
    };
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .map_err(|source| Error::Write {
            path: "stdout".into(),
            source,
        })?;
    Ok(if failed == 0 {
        Exit::Success
    } else {
        Exit::Violations
    })
}

/// The test files of the paths: files as given, directories searched
/// (recursively, in name order) for `*_test.toml`. None at all is an error:
/// a run that tests nothing must not pass.
fn test_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
    let mut files = Vec::new();
    let mut diags = Diagnostics::new();
    for path in paths {
        if path.is_dir() {
            walk(path, &mut files);
        } else if path.is_file() {
            files.push(path.clone());
        } else {
            diags.io_error(
                path,
                "read",
                &std::io::Error::from(std::io::ErrorKind::NotFound),
            );
        }
    }
    if diags.is_empty() && files.is_empty() {
        let file = diags.add_file(
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" "),
            String::new(),
        );
        diags.push(
            file,
            0..0,
            "no policy test files (*_test.toml) found",
            "a test run that tests nothing would pass",
        );
    }
    if !diags.is_empty() {
        return Err(Error::Load(LoadError(diags)));
    }
    Ok(files)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            walk(&path, files);
        } else if testing::is_test_file(&path) {
            files.push(path);
        }
    }
}

/// The rules under test that no case names, across every file.
fn untested(results: &[(&TestFile, Vec<CaseResult>)]) -> (usize, Vec<Arc<str>>) {
    let mut all: BTreeSet<Arc<str>> = BTreeSet::new();
    let mut covered: BTreeSet<Arc<str>> = BTreeSet::new();
    for (file, _) in results {
        all.extend(file.policies.rules.iter().map(|r| r.info.id.clone()));
        covered.extend(file.covered());
    }
    let missing: Vec<Arc<str>> = all.difference(&covered).cloned().collect();
    (all.len(), missing)
}

fn text(results: &[(&TestFile, Vec<CaseResult>)]) -> String {
    let mut out = String::new();
    let (mut cases, mut failed) = (0, 0);
    for (file, results) in results {
        let bad = results.iter().filter(|r| !r.failures.is_empty()).count();
        cases += results.len();
        failed += bad;
        out.push_str(&format!(
            "{} {}: {} cases, {} passed{}\n",
            if bad == 0 { "ok  " } else { "FAIL" },
            escape(&routewarden_core::diag::display_path(&file.path)),
            results.len(),
            results.len() - bad,
            if bad == 0 {
                String::new()
            } else {
                format!(", {bad} failed")
            }
        ));
        for r in results.iter().filter(|r| !r.failures.is_empty()) {
            out.push_str(&format!(
                "  case `{}` ({}):\n",
                escape(&r.name),
                escape(&r.at)
            ));
            for failure in &r.failures {
                out.push_str(&format!("    {}\n", escape(failure)));
            }
        }
    }
    let (rules, missing) = untested(results);
    if missing.is_empty() {
        out.push_str(&format!(
            "coverage: all {rules} rules under test have a case\n"
        ));
    } else {
        let names: Vec<&str> = missing.iter().map(|m| &**m).collect();
        out.push_str(&format!(
            "coverage: {} of {rules} rules have a case; no case for: {}\n",
            rules - missing.len(),
            escape(&names.join(", "))
        ));
    }
    out.push_str(&format!(
        "{cases} cases: {} passed, {failed} failed\n",
        cases - failed
    ));
    out
}

fn junit(results: &[(&TestFile, Vec<CaseResult>)]) -> String {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut report = Report::new("routewarden test");
    for (file, results) in results {
        let name = routewarden_core::diag::display_path(&file.path);
        let mut suite = TestSuite::new(escape(&name));
        for r in results {
            let status = if r.failures.is_empty() {
                TestCaseStatus::success()
            } else {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                status.set_message(escape(&r.failures.join("\n")));
                status
            };
            let mut case = TestCase::new(escape(&r.name), status);
            case.set_classname(escape(&name));
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    let mut text = report.to_string().unwrap_or_default();
    text.push('\n');
    text
}

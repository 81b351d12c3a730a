//! The HTML report (`--format html`), read by a real browser: the binary
//! writes the page and the JSON report of the same audit (the bundled
//! example, its exemptions, drift against a baseline made from it; code with
//! a value unknown before deploy), headless Chromium loads the page from disk,
//! and the test reads its DOM: the counts per severity and status are the
//! JSON report's, every finding is there under its target and API, exempted
//! and indeterminate findings look different from open ones, a severity
//! filter hides that severity and nothing else, and the page loaded nothing.
//! A screenshot goes to `target/html-report/report.png` (docs/reports.md
//! shows a copy, docs/report-html.png, refreshed when
//! `ROUTEWARDEN_UPDATE_SCREENSHOT=1`).
//!
//! Chromium: `ROUTEWARDEN_CHROMIUM` (tests/run.sh installs Debian's
//! `chromium` and sets it) or PATH; under `CI=true` a missing browser fails.

#![allow(clippy::print_stderr)] // a skipped browser test says so

mod chromium;
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use chromium::Browser;

/// A removed route whose key is markup: the page must show it as text.
const MARKUP_KEY: &str = "GET /<script>alert(\"x\")</script>&'";
/// A removed route whose key holds a right-to-left override.
const BIDI_KEY: &str = "GET /admin\u{202e}nimda";

/// Screenshot size, CSS pixels.
const WIDTH: u32 = 1280;
const SHOT_HEIGHT: u32 = 1100;

/// Where the test leaves the page and its screenshot: `target/html-report/`.
fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("html-report");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A baseline made from the example fleet: one live route it lacks
/// (`drift.added`), one it holds differently (`drift.modified`), and two it
/// holds that are gone (`drift.removed`), with hostile keys.
fn baseline(dir: &Path) -> PathBuf {
    let mut fleet: Value =
        serde_json::from_str(&std::fs::read_to_string("examples/fleet.json").unwrap()).unwrap();
    let routes = fleet["Apis"][0]["Routes"].as_array_mut().unwrap();
    routes.retain(|r| r["RouteKey"] != "OPTIONS /{proxy+}");
    for route in routes.iter_mut() {
        if route["RouteKey"] == "GET /health" {
            route["AuthorizationType"] = json!("AWS_IAM");
        }
    }
    routes.push(
        json!({ "RouteId": "gone1", "RouteKey": MARKUP_KEY, "AuthorizationType": "AWS_IAM" }),
    );
    routes
        .push(json!({ "RouteId": "gone2", "RouteKey": BIDI_KEY, "AuthorizationType": "AWS_IAM" }));
    let path = dir.join("baseline.json");
    std::fs::write(&path, serde_json::to_string_pretty(&fleet).unwrap()).unwrap();
    path
}

/// `--check` over `args` in HTML (to `page`) and in JSON: the exit code
/// (the same for both), the page and the JSON report.
fn check(home: &Path, args: &[&str], page: &Path) -> (Option<i32>, String, Value) {
    let mut html_args = vec!["--check", "--format", "html", "-o", page.to_str().unwrap()];
    html_args.extend_from_slice(args);
    let html = support::run(home, &html_args);
    let mut json_args = vec!["--check", "--format", "json"];
    json_args.extend_from_slice(args);
    let json = support::run(home, &json_args);
    assert_eq!(
        html.status.code(),
        json.status.code(),
        "{}",
        support::stderr(&html)
    );
    assert!(html.stdout.is_empty(), "the page goes to -o only");
    let page = std::fs::read_to_string(page).unwrap();
    (json.status.code(), page, support::json(&json))
}

/// Every start tag with its attributes: `(tag, [(attribute, value)])`.
/// Text content and attribute values have `<` and `"` escaped, so a raw `<`
/// opens a tag and a `"` closes a value.
fn tags(html: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        rest = &rest[start + 1..];
        if rest.starts_with('/') || rest.starts_with('!') {
            continue; // an end tag, the doctype
        }
        let name_end = rest
            .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
            .unwrap();
        let tag = rest[..name_end].to_ascii_lowercase();
        let mut attrs = Vec::new();
        let mut inside = &rest[name_end..];
        loop {
            inside = inside.trim_start();
            if inside.starts_with('>') || inside.starts_with("/>") || inside.is_empty() {
                break;
            }
            let end = inside
                .find(|c: char| c.is_whitespace() || c == '=' || c == '>')
                .unwrap();
            let attr = inside[..end].to_ascii_lowercase();
            inside = &inside[end..];
            let mut value = String::new();
            if let Some(after) = inside.strip_prefix("=\"") {
                let close = after.find('"').unwrap();
                value = after[..close].to_owned();
                inside = &after[close + 1..];
            } else {
                assert!(!inside.starts_with('='), "unquoted value in <{tag}>");
            }
            attrs.push((attr, value));
        }
        // The raw text of the style and script elements is not markup.
        let close = format!("</{tag}>");
        rest = match tag.as_str() {
            "style" | "script" => &rest[rest.find(&close).unwrap()..],
            _ => &rest[rest.find('>').unwrap()..],
        };
        found.push((tag, attrs));
    }
    found
}

/// The page refers to nothing outside itself, runs no inline handler, and
/// says so to the browser.
fn assert_self_contained(html: &str) {
    let tags = tags(html);
    for (tag, attrs) in &tags {
        assert!(
            !matches!(
                tag.as_str(),
                "link" | "img" | "iframe" | "object" | "embed" | "base" | "frame"
            ),
            "<{tag}>"
        );
        for (attr, value) in attrs {
            let refers = matches!(
                attr.as_str(),
                "src" | "href" | "srcset" | "action" | "formaction" | "poster" | "data"
            );
            assert!(
                !refers || value.starts_with('#'),
                "<{tag} {attr}=\"{value}\">"
            );
            assert!(!attr.starts_with("on"), "no inline handler: <{tag} {attr}>");
        }
    }
    let lower = html.to_ascii_lowercase();
    for needle in ["@import", "url("] {
        assert!(!lower.contains(needle), "{needle}");
    }
    let count = |name: &str| tags.iter().filter(|(t, _)| t == name).count();
    assert_eq!(count("script"), 1, "one inline script");
    assert_eq!(count("style"), 1, "one inline style");
    let csp = tags
        .iter()
        .filter(|(t, _)| t == "meta")
        .find(|(_, a)| a.contains(&("http-equiv".into(), "Content-Security-Policy".into())))
        .and_then(|(_, a)| a.iter().find(|(name, _)| name == "content"))
        .map(|(_, value)| value.as_str())
        .expect("a Content-Security-Policy meta element");
    assert!(csp.starts_with("default-src 'none';"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
}

/// What the page says, read from its DOM.
const READ_DOM: &str = r#"(() => {
  const q = s => Array.from(document.querySelectorAll(s));
  const text = id => { const e = document.getElementById(id); return e ? e.textContent.trim() : null; };
  const r = { counts: {}, filterCounts: {} };
  for (const s of ['critical', 'high', 'medium', 'low', 'info']) {
    r.counts[s] = Number(text('count-' + s));
    r.filterCounts[s] = Number(text('filter-count-' + s));
  }
  r.findings = q('.finding').map(f => [
    f.closest('section.target').dataset.target,
    f.closest('section.api').dataset.api,
    f.dataset.rule, f.dataset.severity, f.dataset.status,
    f.closest('#drift') !== null,
  ]);
  r.summary = {
    violations: Number(text('count-violations')),
    exempted: Number(text('count-exempted')),
    expired: Number(text('count-expired')),
    indeterminate: Number(text('count-indeterminate')),
    errors: Number(text('count-errors')),
    apis: Number(text('summary-apis')),
    routes: Number(text('summary-routes')),
    rules: Number(text('summary-rules')),
  };
  r.verdict = text('verdict');
  r.exit = Number(document.getElementById('verdict').dataset.exit);
  r.external = q('[src],[href],[srcset],link,img,iframe,object,embed,base').length;
  r.resources = performance.getEntriesByType('resource').length;
  r.scripts = document.scripts.length;
  r.filtersShown = !document.getElementById('filters').hidden;
  r.shown = Number(text('shown-count'));
  r.verdictColour = getComputedStyle(document.getElementById('verdict')).backgroundColor;
  r.driftSubjects = q('#drift .finding .subject code').map(c => c.textContent);
  return r;
})()"#;

/// Whether each finding of severity `sev`, and each other one, takes space
/// on the page (display none on it or a parent: it does not).
fn visibility(browser: &mut Browser, sev: &str) -> (Vec<bool>, Vec<bool>, u64, String) {
    let v = browser.eval(&format!(
        r#"(() => {{
          const q = s => Array.from(document.querySelectorAll(s));
          const shown = f => f.getClientRects().length > 0;
          return [
            q('.finding[data-severity="{sev}"]').map(shown),
            q('.finding:not([data-severity="{sev}"])').map(shown),
            Number(document.getElementById('shown-count').textContent),
            document.getElementById('filter-{sev}').getAttribute('aria-pressed'),
          ];
        }})()"#
    ));
    let bools = |v: &Value| -> Vec<bool> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_bool().unwrap())
            .collect()
    };
    (
        bools(&v[0]),
        bools(&v[1]),
        v[2].as_u64().unwrap(),
        v[3].as_str().unwrap().to_owned(),
    )
}

fn open_page(browser: &mut Browser, page: &Path) {
    let url = url::Url::from_file_path(page.canonicalize().unwrap()).unwrap();
    browser.open(url.as_str());
    let blocked: Vec<&Value> = browser
        .events
        .iter()
        .filter(|e| e.to_string().contains("Content Security Policy"))
        .collect();
    assert!(
        blocked.is_empty(),
        "the page's own style or script was refused: {blocked:?}"
    );
}

fn count(findings: &[Value], pred: impl Fn(&Value) -> bool) -> usize {
    findings.iter().filter(|f| pred(f)).count()
}

#[test]
fn the_page_agrees_with_the_json_report_and_its_filters_work_in_chromium() {
    let Some(chromium) = chromium::find_or_skip("html") else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let baseline = baseline(home.path());
    let page = artifacts().join("report.html");
    let (code, html, report) = check(
        home.path(),
        &[
            "-c",
            "examples/routewarden.toml",
            "--routes",
            "examples/fleet.json",
            "--baseline",
            baseline.to_str().unwrap(),
        ],
        &page,
    );
    assert_eq!(code, Some(1), "the example fails");
    assert_self_contained(&html);
    assert!(
        html.contains("GET /&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;'"),
        "the markup key is escaped"
    );

    let findings = report["findings"].as_array().unwrap();
    let summary = &report["summary"];
    let by_severity = &summary["by_severity"];
    // The input is what the test means it to be: several severities, an
    // exemption, an expired one, drift.
    let severities_with_open = ["critical", "high", "medium", "low", "info"]
        .iter()
        .filter(|s| by_severity[**s].as_u64() > Some(0))
        .count();
    assert!(severities_with_open >= 4, "{summary}");
    assert_eq!(summary["exempted"], 1, "{summary}");
    assert_eq!(summary["expired_exemptions"], 1, "{summary}");
    let drift = count(findings, |f| {
        f["rule_id"].as_str().unwrap().starts_with("drift.")
    });
    assert_eq!(drift, 4, "added, modified, two removed");

    let mut browser = Browser::launch(&chromium, WIDTH, 900);
    open_page(&mut browser, &page);
    let dom = browser.eval(READ_DOM);

    // Nothing was loaded; the page's own style and script were.
    assert_eq!(dom["external"], 0, "{dom}");
    assert_eq!(dom["resources"], 0, "{dom}");
    assert_eq!(dom["scripts"], 1, "the markup key made no script element");
    assert_eq!(dom["filtersShown"], true, "the script ran");
    assert_eq!(
        dom["verdictColour"], "rgb(209, 36, 47)",
        "the style applies"
    );

    // The counts are the JSON report's.
    for sev in ["critical", "high", "medium", "low", "info"] {
        assert_eq!(dom["counts"][sev], by_severity[sev], "open {sev}: {dom}");
        let all = count(findings, |f| f["severity"] == sev);
        assert_eq!(dom["filterCounts"][sev], all, "all {sev}: {dom}");
    }
    let s = &dom["summary"];
    assert_eq!(s["violations"], summary["violations"]);
    assert_eq!(s["exempted"], summary["exempted"]);
    assert_eq!(s["expired"], summary["expired_exemptions"]);
    assert_eq!(s["indeterminate"], summary["indeterminate"]);
    assert_eq!(s["errors"], summary["errors"]);
    assert_eq!(s["apis"], summary["apis"]);
    assert_eq!(s["routes"], summary["routes"]);
    assert_eq!(s["rules"], summary["rules"]);
    assert_eq!(dom["verdict"], "FAIL");
    assert_eq!(dom["exit"], 1);
    assert_eq!(dom["shown"], findings.len());

    // Every finding, under its target and API, with its rule, severity and
    // status; drift in its own section.
    let key = |v: &[Value]| -> BTreeMap<Vec<String>, usize> {
        let mut m = BTreeMap::new();
        for item in v {
            *m.entry(
                item.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.to_string())
                    .collect(),
            )
            .or_default() += 1;
        }
        m
    };
    let from_json: Vec<Value> = findings
        .iter()
        .map(|f| {
            json!([
                f["target_name"].as_str().unwrap_or(""),
                f["api_id"],
                f["rule_id"],
                f["severity"],
                f["status"],
                f["rule_id"].as_str().unwrap().starts_with("drift."),
            ])
        })
        .collect();
    assert_eq!(
        key(dom["findings"].as_array().unwrap()),
        key(&from_json),
        "the page's findings (target, API, rule, severity, status, drift) are the report's"
    );
    let subjects = dom["driftSubjects"].as_array().unwrap();
    assert!(subjects.contains(&json!(MARKUP_KEY)), "{subjects:?}");
    assert!(
        subjects.contains(&json!("GET /admin\\u{202e}nimda")),
        "the override is shown, not obeyed: {subjects:?}"
    );

    // Exempted and expired findings show their exemption; each status looks
    // different.
    let exempted = findings.iter().find(|f| f["status"] == "exempted").unwrap();
    let shown = browser.eval(
        r#"(() => {
          const f = s => document.querySelector('.finding[data-status="' + s + '"]');
          const style = e => { const c = getComputedStyle(e); return [c.backgroundImage, c.backgroundColor, c.borderLeftStyle].join(' | '); };
          return {
            exemption: f('exempted').querySelector('.exemption').textContent,
            expired: f('expired_exemption').querySelector('.exemption').textContent,
            fix: f('violation').querySelector('details.fix').textContent,
            location: f('violation').querySelector('.location code').textContent,
            looks: ['violation', 'exempted', 'expired_exemption'].map(s => style(f(s))),
          };
        })()"#,
    );
    let exemption = shown["exemption"].as_str().unwrap();
    for part in [
        exempted["exemption"]["reason"].as_str().unwrap(),
        exempted["exemption"]["owner"].as_str().unwrap(),
        exempted["exemption"]["expires"].as_str().unwrap(),
    ] {
        assert!(exemption.contains(part), "{part} in {exemption}");
    }
    assert!(
        shown["expired"]
            .as_str()
            .unwrap()
            .starts_with("Exemption expired:"),
        "{shown}"
    );
    let looks: Vec<&str> = shown["looks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        looks[0] != looks[1] && looks[1] != looks[2] && looks[0] != looks[2],
        "{looks:?}"
    );
    assert!(shown["fix"].as_str().unwrap().starts_with("How to fix"));
    assert!(
        shown["location"]
            .as_str()
            .unwrap()
            .starts_with("examples/fleet.json:"),
        "{shown}"
    );

    // The screenshot, before any filter.
    let png = browser.screenshot(SHOT_HEIGHT);
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let size = (
        u32::from_be_bytes(png[16..20].try_into().unwrap()),
        u32::from_be_bytes(png[20..24].try_into().unwrap()),
    );
    assert_eq!(size, (WIDTH, SHOT_HEIGHT));
    std::fs::write(artifacts().join("report.png"), &png).unwrap();
    if std::env::var("ROUTEWARDEN_UPDATE_SCREENSHOT").as_deref() == Ok("1") {
        std::fs::write("docs/report-html.png", &png).unwrap();
    }

    // A filter: hiding `high` hides every high finding, whatever its status,
    // and nothing else; showing it again brings them back.
    let high = count(findings, |f| f["severity"] == "high");
    assert!(high > 0 && high < findings.len());
    let (ours, others, shown, pressed) = visibility(&mut browser, "high");
    assert!(ours.iter().chain(&others).all(|v| *v), "all shown at first");
    assert_eq!((shown as usize, pressed.as_str()), (findings.len(), "true"));
    browser.click("#filter-high");
    let (ours, others, shown, pressed) = visibility(&mut browser, "high");
    assert_eq!(ours.len(), high);
    assert!(ours.iter().all(|v| !v), "high findings hidden: {ours:?}");
    assert!(others.iter().all(|v| *v), "the others shown: {others:?}");
    assert_eq!(shown as usize, findings.len() - high);
    assert_eq!(pressed, "false");
    // A status filter combines with it.
    browser.click("#filter-status-exempted");
    let (_, others, shown, _) = visibility(&mut browser, "high");
    let exempted_not_high = count(findings, |f| {
        f["status"] == "exempted" && f["severity"] != "high"
    });
    assert_eq!(
        others.iter().filter(|v| !**v).count(),
        exempted_not_high,
        "{others:?}"
    );
    assert_eq!(shown as usize, findings.len() - high - exempted_not_high);
    browser.click("#filter-status-exempted");
    browser.click("#filter-high");
    let (ours, others, shown, pressed) = visibility(&mut browser, "high");
    assert!(ours.iter().chain(&others).all(|v| *v));
    assert_eq!((shown as usize, pressed.as_str()), (findings.len(), "true"));
}

#[test]
fn indeterminate_findings_from_code_are_shown_apart_in_chromium() {
    let Some(chromium) = chromium::find_or_skip("html") else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let page = home.path().join("code.html");
    let (_, html, report) = check(
        home.path(),
        &["--iac", "tests/fixtures/iac/cfn/http-api.yaml"],
        &page,
    );
    assert_self_contained(&html);
    let findings = report["findings"].as_array().unwrap();
    let indeterminate = findings
        .iter()
        .find(|f| f["status"] == "indeterminate")
        .expect("the fixture has a value unknown before deploy");
    assert!(report["summary"]["indeterminate"].as_u64() > Some(0));

    let mut browser = Browser::launch(&chromium, WIDTH, 900);
    open_page(&mut browser, &page);
    let dom = browser.eval(&format!(
        r#"(() => {{
          const q = s => Array.from(document.querySelectorAll(s));
          const first = s => document.querySelector('.finding[data-status="' + s + '"]');
          const i = q('.finding[data-status="indeterminate"]').find(f => f.dataset.rule === {rule});
          return {{
            count: Number(document.getElementById('count-indeterminate').textContent),
            elements: q('.finding[data-status="indeterminate"]').length,
            message: i.querySelector('.message').textContent,
            location: i.querySelector('.location code').textContent,
            badge: i.querySelector('.status').textContent,
            border: getComputedStyle(i).borderLeftStyle,
            violationBorder: getComputedStyle(first('violation')).borderLeftStyle,
            visible: i.getClientRects().length > 0,
          }};
        }})()"#,
        rule = indeterminate["rule_id"]
    ));
    assert_eq!(dom["count"], report["summary"]["indeterminate"], "{dom}");
    assert_eq!(dom["elements"], report["summary"]["indeterminate"], "{dom}");
    assert_eq!(dom["message"], indeterminate["message"]);
    let at = &indeterminate["location"];
    assert_eq!(
        dom["location"].as_str().unwrap(),
        format!(
            "{}:{}:{}",
            at["path"].as_str().unwrap(),
            at["line"],
            at["column"]
        )
    );
    assert_eq!(dom["badge"], "indeterminate");
    assert_eq!(dom["visible"], true);
    assert_eq!(
        (dom["border"].as_str(), dom["violationBorder"].as_str()),
        (Some("dashed"), Some("solid")),
        "indeterminate looks unlike a violation"
    );
}

/// Without a browser: what comes from outside is escaped, long messages are
/// clipped, accounts not audited and read errors are listed, findings of an
/// organization name their account.
#[test]
fn hostile_strings_errors_and_accounts_not_audited() {
    use routewarden::audit::{self, AccountStatus, Audit, Cause};
    use routewarden::report::{self, FailOn, Format, Summary};
    use routewarden::source::{ErrorKind, FetchError, Operation};
    use routewarden_core::diag::Diagnostics;
    use routewarden_core::inventory::{self, Account, Inventory};
    use routewarden_core::policy::PolicySet;
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let fleet = json!({ "Apis": [{
        "ApiId": "x<b>\u{1b}[2J",
        "Name": "evil\"><img src=x>",
        "TargetName": "acme/123456789012/eu-west-1",
        "Region": "eu\r\nwest-1",
        "Routes": [
            { "RouteKey": "GET /a\u{202e}b", "AuthorizationType": "NONE" },
            { "RouteKey": "GET /<script>alert(1)</script>", "AuthorizationType": "NONE" },
        ],
    }]});
    let path = dir.path().join("hostile.json");
    std::fs::write(&path, fleet.to_string()).unwrap();
    let mut diags = Diagnostics::new();
    let apis = inventory::load_routes_file(&mut diags, &path).unwrap().0;
    let policies = PolicySet::load(&[routewarden_core::policy::PolicySource::Builtin]).unwrap();
    let audit = Audit {
        policies: &policies,
        baseline: None,
        code: None,
        drift_severity: routewarden_core::finding::Severity::Medium,
        today: time::macros::date!(2026 - 06 - 01),
        keep_routes: false,
        warn_expiring: routewarden::audit::WARN_EXPIRING,
    };
    let mut outcome = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(audit::run(&Inventory { apis }, &audit, &()))
        .unwrap();
    assert!(!outcome.findings.is_empty());
    for f in &mut outcome.findings {
        f.account_id = Some("123456789012".into());
    }
    outcome.errors.push(FetchError {
        account_id: Some("210987654321".into()),
        organization: Some("acme".into()),
        target_name: Some("acme/210987654321/eu-west-1".into()),
        region: Some("eu-west-1".into()),
        api_id: None,
        operation: Operation::AssumeRole,
        kind: ErrorKind::AccessDenied,
        message: format!("<script>{}\u{1b}[2J", "x".repeat(5000)),
    });
    outcome.accounts.push(AccountStatus {
        account: Arc::new(Account {
            id: "210987654321".into(),
            name: Some("sandbox</td>".into()),
            organization: Some("acme".into()),
            ou_path: Some("Root/Sandbox".into()),
            ..Account::default()
        }),
        causes: vec![Cause {
            kind: ErrorKind::AccessDenied,
            operation: Operation::AssumeRole,
            count: 1,
            message: "not authorized to perform sts:AssumeRole".into(),
        }],
    });
    let summary = Summary::of(&outcome, FailOn::Never, false);
    let mut out = Vec::new();
    report::write(Format::Html, &outcome, &summary, &mut out, false).unwrap();
    let html = String::from_utf8(out).unwrap();

    assert_self_contained(&html);
    let raw: Vec<char> = html
        .chars()
        .filter(|c| routewarden_core::sanitize::is_escaped(*c) && *c != '\n')
        .collect();
    assert_eq!(raw, Vec::<char>::new(), "no raw control or bidi character");
    for shown in [
        r"GET /a\u{202e}b",
        "GET /&lt;script&gt;alert(1)&lt;/script&gt;",
        r"x&lt;b&gt;\u{1b}[2J",
        "evil&quot;&gt;&lt;img src=x&gt;",
        r"eu\r\nwest-1",
        "sandbox&lt;/td&gt;",
        "… (3988 more bytes)",
    ] {
        assert!(html.contains(shown), "{shown}");
    }
    assert!(html.contains("<section id=\"accounts\">"));
    assert!(html.contains("data-account=\"210987654321\""));
    assert!(html.contains("<section id=\"errors\">"));
    assert!(html.contains("data-kind=\"access_denied\""));
    assert!(
        html.contains("account <code>123456789012</code>"),
        "the target's account"
    );
    assert!(html.contains("class=\"verdict incomplete\" id=\"verdict\" data-exit=\"3\""));
}

/// What users read, as a snapshot: the example's page without its style and
/// script, one tag a line.
#[test]
fn snapshot_of_the_example() {
    let home = tempfile::tempdir().unwrap();
    let page = home.path().join("example.html");
    let output = support::run(
        home.path(),
        &[
            "--check",
            "-c",
            "examples/routewarden.toml",
            "--routes",
            "examples/fleet.json",
            "--format",
            "html",
            "-o",
            page.to_str().unwrap(),
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    let html = std::fs::read_to_string(&page).unwrap();
    let body = &html[html.find("<body>").unwrap()..html.find("<script>").unwrap()];
    // The example's one active exemption expires in 2099 and the other
    // expired in 2025: the page is the same any day this test runs.
    insta::assert_snapshot!("example-body", body.replace("><", ">\n<"));
}

//! Any sequence of HTTP responses as AWS's answers to a live audit: the SDK's
//! real deserializers decode them, routewarden classifies, retries and
//! paginates, then evaluates the built-in pack and writes every report.
//! Never panics, never loops, names the target (and the API) of every error,
//! and the JSON report is valid JSON whatever the strings AWS sent.
//!
//! Input: replies separated by lines `---`. A reply's first line is the
//! status then any `name:value` headers (`429 x-amzn-ErrorType:TooManyRequestsException
//! x-amz-retry-after:200`); the rest is the body. Requests take the replies in
//! order (one API in flight, so the order is fixed: GetApis pages of the
//! discovering target, GetApi of each listed id, then per API the pages of
//! GetRoutes, GetAuthorizers, GetIntegrations and GetStages, since the
//! source reads everything here); when they run out, every answer is
//! `200 {"items":[]}`.
#![no_main]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use aws_sdk_apigatewayv2::config::Credentials;
use aws_smithy_http_client::test_util::infallible_client_fn;
use aws_smithy_types::body::SdkBody;
use libfuzzer_sys::fuzz_target;
use routewarden::audit::{self, Audit};
use routewarden::report::{self, FailOn, Format, Summary};
use routewarden::source::Operation;
use routewarden::shard::Shard;
use routewarden::source::aws::AwsSource;
use routewarden_core::config::Config;
use routewarden_core::finding::Severity;
use routewarden_core::inventory::Needs;
use routewarden_core::policy::{PolicySet, PolicySource};

const CONFIG: &str = r#"
[audit]
concurrency = 1
[aws]
region = "us-east-1"
# Never dialled: the HTTP client below answers instead.
endpoint_url = "http://127.0.0.1:9"
max_backoff = "1s"
[[targets]]
name = "discovered"
[[targets]]
name = "listed"
api_ids = ["a1", "a2"]
"#;

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

type Queue = Arc<Mutex<VecDeque<Reply>>>;

struct Harness {
    runtime: tokio::runtime::Runtime,
    source: AwsSource,
    policies: PolicySet,
    replies: Queue,
}

thread_local! {
    static HARNESS: RefCell<Option<Harness>> = const { RefCell::new(None) };
}

fn harness() -> Harness {
    // Paused time: backoffs and cool-downs pass at once, on tokio's clock.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let replies: Queue = Arc::default();
    let queue = replies.clone();
    let client = infallible_client_fn(move |_request| {
        let reply = queue.lock().unwrap().pop_front().unwrap_or(Reply {
            status: 200,
            headers: Vec::new(),
            body: br#"{"items":[]}"#.to_vec(),
        });
        let mut response = http::Response::builder()
            .status(reply.status)
            .header("content-type", "application/json");
        for (name, value) in reply.headers {
            response = response.header(name, value);
        }
        response
            .body(SdkBody::from(reply.body.clone()))
            .unwrap_or_else(|_| {
                http::Response::builder()
                    .status(200)
                    .body(SdkBody::from(reply.body))
                    .unwrap()
            })
    });
    let config = Config::load_str("fuzz.toml", CONFIG).expect("the fuzz config loads");
    let source = runtime
        .block_on(AwsSource::with_loader(&config, None, Needs::ALL, Shard::default(), move |loader| {
            loader
                .http_client(client.clone())
                .credentials_provider(Credentials::new(
                    "AKIDFUZZ",
                    "fuzz-secret",
                    None,
                    None,
                    "fuzz",
                ))
        }))
        .expect("the source builds");
    let policies = PolicySet::load(&[PolicySource::Builtin]).expect("the built-in pack loads");
    Harness {
        runtime,
        source,
        policies,
        replies,
    }
}

fn parse(input: &str) -> VecDeque<Reply> {
    input
        .split("\n---\n")
        .map(|chunk| {
            let (head, body) = chunk.split_once('\n').unwrap_or((chunk, ""));
            let mut words = head.split_whitespace();
            let status = words
                .next()
                .and_then(|s| s.parse::<u16>().ok())
                .filter(|s| (100..=999).contains(s))
                .unwrap_or(200);
            let headers = words
                .filter_map(|w| w.split_once(':'))
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect();
            Reply {
                status,
                headers,
                body: body.as_bytes().to_vec(),
            }
        })
        .collect()
}

fuzz_target!(|input: &str| {
    HARNESS.with(|cell| {
        let mut cell = cell.borrow_mut();
        let h = cell.get_or_insert_with(harness);
        *h.replies.lock().unwrap() = parse(input);
        let audit = Audit {
            policies: &h.policies,
            baseline: None,
            code: None,
            drift_severity: Severity::Medium,
            today: audit::today_utc(),
            keep_routes: true,
            warn_expiring: routewarden::audit::WARN_EXPIRING,
        };
        let outcome = h
            .runtime
            .block_on(audit::run(&h.source, &audit, &()))
            .expect("the AWS source has no input of its own to fail on");
        h.replies.lock().unwrap().clear();

        for error in &outcome.errors {
            assert!(
                error.target_name.is_some(),
                "an error names its target: {error:?}"
            );
            if !matches!(error.operation, Operation::GetApis | Operation::GetApi) {
                assert!(
                    error.api_id.is_some(),
                    "an error reading an API's routes, authorizers, integrations or stages names its API: {error:?}"
                );
            }
        }
        let summary = Summary::of(&outcome, FailOn::Never, false);
        let mut json = Vec::new();
        report::write(Format::Json, &outcome, &summary, &mut json, false).unwrap();
        serde_json::from_slice::<serde_json::Value>(&json).expect("the JSON report is JSON");
        for format in [Format::Text, Format::Sarif, Format::Junit, Format::Html] {
            report::write(format, &outcome, &summary, &mut std::io::sink(), false).unwrap();
        }
    });
});

//! Alerting end to end: a real Prometheus server (Debian's) scrapes the
//! daemon, which audits moto holding an unauthenticated route, with the alert
//! rules of deploy/prometheus/rules.yml loaded. The alert fires (read from
//! Prometheus's /api/v1/alerts); the route is fixed in moto and it resolves.

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};

use aws_sdk_apigatewayv2::types::AuthorizationType;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Firing RoutewardenUnauthenticatedRoute alerts, as `(api_id, route_key)`.
fn firing(prometheus: u16) -> Vec<(String, String)> {
    let (status, body) = support::http_get(prometheus, "/api/v1/alerts");
    let Ok(value) = serde_json::from_str::<serde_json::Value>(&body) else {
        return Vec::new();
    };
    if status != 200 {
        return Vec::new();
    }
    value["data"]["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| {
            a["labels"]["alertname"] == "RoutewardenUnauthenticatedRoute" && a["state"] == "firing"
        })
        .map(|a| {
            (
                a["labels"]["api_id"].as_str().unwrap_or("").to_owned(),
                a["labels"]["route_key"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[allow(clippy::print_stderr)]
fn prometheus_available() -> bool {
    let found = Command::new("prometheus")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "prometheus is missing: run bash tests/run.sh"
        );
        eprintln!("skipped: no prometheus binary; bash tests/run.sh installs it");
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unauthenticated_route_alert_fires_and_resolves() {
    if !prometheus_available() {
        return;
    }
    let Some(moto) = support::Moto::start() else {
        return;
    };
    let client = support::client(&moto.url()).await;
    let (api, route) = support::api_with_open_route(&client, "storefront", "GET /basket").await;

    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().to_path_buf();
    let config = home.join("routewarden.toml");
    std::fs::write(
        &config,
        format!(
            "{}[aws]\nregion = \"us-east-1\"\nendpoint_url = \"{}\"\ntimeout = \"2s\"\n[[targets]]\nname = \"shop-prod\"\n",
            support::every_second(),
            moto.url()
        ),
    )
    .unwrap();
    let daemon = tokio::task::spawn_blocking({
        let home = home.clone();
        move || support::Daemon::start(&home, &["-c", config.to_str().unwrap()])
    })
    .await
    .unwrap();
    let daemon_port = daemon.port;

    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus/rules.yml");
    let prometheus_config = home.join("prometheus.yml");
    std::fs::write(
        &prometheus_config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: routewarden\n    static_configs:\n      - targets: ['127.0.0.1:{daemon_port}']\n",
            rules.display()
        ),
    )
    .unwrap();
    let prometheus_port = support::free_port();
    let _prometheus = Killed(
        Command::new("prometheus")
            .arg(format!("--config.file={}", prometheus_config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                home.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prometheus_port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(home.join("prometheus.log")).unwrap())
            .spawn()
            .unwrap(),
    );

    let api_id = api.clone();
    tokio::task::spawn_blocking(move || {
        support::wait_until("the alert to fire", support::WAIT, || {
            firing(prometheus_port).contains(&(api_id.clone(), "GET /basket".to_owned()))
        });
    })
    .await
    .unwrap();

    support::set_authorization(&client, &api, &route, AuthorizationType::AwsIam).await;
    tokio::task::spawn_blocking(move || {
        support::wait_until("the alert to resolve", support::WAIT, || {
            firing(prometheus_port).is_empty()
        });
    })
    .await
    .unwrap();
}

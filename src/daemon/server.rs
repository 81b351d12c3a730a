//! The HTTP server: `GET /metrics`, `/healthz`, `/readyz`. Other methods get
//! 405, other paths 404.
//!
//! It holds under idle, slow and hostile clients: connections are capped in
//! number (with room for far more than a thousand idle ones, and file
//! descriptors to match), each must send its request head within a timeout
//! that is also its keep-alive idle timeout, heads are capped in size, and
//! each connection has a deadline. /metrics renders on the blocking pool,
//! a few at a time, so /healthz never waits behind a scrape. It does not
//! decide who may connect: that is the NetworkPolicy's job (docs/deploy.md).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// Time a client has to send a request head, counted from when its
/// connection opens or its previous response ends: it is also the keep-alive
/// idle timeout. An idle or stalled client is closed after it.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Age at which a connection is asked to close: the request in progress
/// finishes (within [`FINISH_BOUND`]), no other starts.
const CONNECTION_DEADLINE: Duration = Duration::from_secs(30);
/// Time the request in progress has to finish once its connection is asked
/// to close, at its deadline or on shutdown.
const FINISH_BOUND: Duration = Duration::from_secs(5);
/// Largest request head accepted (GET requests have no body).
const MAX_REQUEST_HEAD: usize = 16 * 1024;
/// Connections served at once: twice the 1,000 idle connections under which
/// /healthz must answer within a second. An idle connection costs about
/// 10 KiB (its read buffer and task), so 20 MiB at the cap. Beyond it,
/// clients wait in the listen backlog until a connection closes.
const MAX_CONNECTIONS: usize = 2048;
/// Connections the kernel queues before they are accepted (it caps this at
/// `net.core.somaxconn`). Attempts beyond a full queue are dropped and
/// retried by the client 1, 3, 7 s later, which is what a liveness probe
/// cannot afford; tokio's default is 128.
const LISTEN_BACKLOG: u32 = 1024;
/// File descriptors kept for all but served connections: the listener, the
/// AWS client's connections, config, policy and fleet files, the runtime.
const RESERVED_FDS: u64 = 64;
/// /metrics renders at once. Each runs on the blocking pool, so the
/// runtime's workers stay free for /healthz; more scrapes wait their turn.
const MAX_CONCURRENT_RENDERS: usize = 2;

/// What the handlers read.
#[derive(Clone)]
pub struct Shared {
    pub metrics: Arc<Metrics>,
    /// Set when the first audit cycle has finished.
    pub ready: Arc<AtomicBool>,
}

/// [`Shared`] and the handlers' own bounds.
#[derive(Clone)]
struct Handlers {
    shared: Shared,
    renders: Arc<Semaphore>,
}

pub fn router(shared: Shared) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        // Reads nothing and takes no lock: it answers while a worker is free.
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(Handlers {
            shared,
            renders: Arc::new(Semaphore::new(MAX_CONCURRENT_RENDERS)),
        })
}

async fn metrics(State(handlers): State<Handlers>) -> Response {
    // Scrapes queue here, as futures, rather than as threads of the pool.
    let turn = handlers
        .renders
        .clone()
        .acquire_owned()
        .await
        .expect("never closed");
    let metrics = handlers.shared.metrics.clone();
    // Rendering is CPU work proportional to the series: off the workers. The
    // turn is held until the render ends, even if the client has gone.
    let render = move || {
        let _turn = turn;
        metrics.render()
    };
    match tokio::task::spawn_blocking(render).await {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(err) => {
            tracing::error!(error = %err, "rendering /metrics failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn readyz(State(handlers): State<Handlers>) -> impl IntoResponse {
    if handlers.shared.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ready\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the first audit cycle has not finished\n",
        )
    }
}

/// Binds the address with a [`LISTEN_BACKLOG`] queue; an address in use is
/// a startup error.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // As `TcpListener::bind` does: a restarted daemon rebinds at once.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// The connection cap the open-file limit allows. A soft limit below what
/// [`MAX_CONNECTIONS`] needs (container runtimes often give 1024) is raised
/// towards the hard limit, as Go's runtime does for every program; if the
/// hard limit is lower still, fewer connections are served, with a warning.
fn connection_limit() -> usize {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let needed = MAX_CONNECTIONS as u64 + RESERVED_FDS;
    let limit = getrlimit(Resource::Nofile);
    let soft = match limit.current {
        Some(soft) if soft < needed => {
            let raised = limit.maximum.map_or(needed, |hard| hard.min(needed));
            let raise = rustix::process::Rlimit {
                current: Some(raised),
                maximum: limit.maximum,
            };
            if raised > soft && setrlimit(Resource::Nofile, raise).is_ok() {
                tracing::info!(from = soft, to = raised, "raised the open-file limit");
                raised
            } else {
                soft
            }
        }
        _ => return MAX_CONNECTIONS,
    };
    let fits = usize::try_from(soft.saturating_sub(RESERVED_FDS)).unwrap_or(MAX_CONNECTIONS);
    let limit = fits.clamp(1, MAX_CONNECTIONS);
    if limit < MAX_CONNECTIONS {
        tracing::warn!(
            open_files = soft,
            connections = limit,
            wanted = MAX_CONNECTIONS,
            "the open-file limit allows fewer HTTP connections than wanted; raise it (ulimit -n) to hold more idle clients"
        );
    }
    limit
}

/// Serves until `cancel`; then stops accepting and gives open connections
/// until `grace` to finish.
pub async fn serve(listener: TcpListener, app: Router, cancel: CancellationToken, grace: Duration) {
    let slots = Arc::new(Semaphore::new(connection_limit()));
    let connections = tokio_util::task::TaskTracker::new();
    loop {
        // Wait for a free slot before accepting, so excess clients queue in
        // the backlog instead of costing us memory and descriptors.
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => permit.expect("never closed"),
            () = cancel.cancelled() => break,
        };
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = cancel.cancelled() => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let cancel = cancel.clone();
        connections.spawn(async move {
            let _permit = permit;
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .max_buf_size(MAX_REQUEST_HEAD)
                .serve_connection(TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                // The client closed, or sent no head in time (hyper's timer).
                _ = connection.as_mut() => return,
                // Old enough: it makes room for others.
                () = tokio::time::sleep(CONNECTION_DEADLINE) => {}
                // Shutdown.
                () = cancel.cancelled() => {}
            }
            // Finish the request in progress, if any, then close.
            connection.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(FINISH_BOUND, connection).await;
        });
    }
    connections.close();
    let _ = tokio::time::timeout(grace, connections.wait()).await;
}

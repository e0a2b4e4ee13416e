//! `/metrics`, `/healthz` and `/readyz` on axum: what the kubelet and Prometheus read.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;

use super::metrics::{CONTENT_TYPE, Metrics};

/// What the endpoints read.
#[derive(Clone)]
pub struct Endpoints {
    pub metrics: Arc<Metrics>,
    /// Set once the controllers are running.
    pub ready: Arc<AtomicBool>,
}

async fn metrics(State(e): State<Endpoints>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], e.metrics.render())
}

async fn readyz(State(e): State<Endpoints>) -> impl IntoResponse {
    if e.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting\n")
    }
}

/// The routes.
pub fn router(endpoints: Endpoints) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(endpoints)
}

/// Serves until the task is dropped (or the listener fails).
pub async fn serve(listener: TcpListener, endpoints: Endpoints) -> std::io::Result<()> {
    axum::serve(listener, router(endpoints)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(addr: std::net::SocketAddr, method: &str, path: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        s.write_all(
            format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).await.expect("read");
        out
    }

    #[tokio::test]
    async fn endpoints_over_a_real_socket() {
        let endpoints = Endpoints {
            metrics: Arc::new(Metrics::default()),
            ready: Arc::new(AtomicBool::new(false)),
        };
        endpoints.metrics.set_active_injections(2);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(serve(listener, endpoints.clone()));
        assert!(
            get(addr, "GET", "/healthz")
                .await
                .starts_with("HTTP/1.1 200 OK")
        );
        assert!(
            get(addr, "GET", "/readyz")
                .await
                .starts_with("HTTP/1.1 503")
        );
        endpoints.ready.store(true, Ordering::Relaxed);
        assert!(
            get(addr, "GET", "/readyz")
                .await
                .starts_with("HTTP/1.1 200 OK")
        );
        let m = get(addr, "GET", "/metrics").await;
        assert!(m.contains("application/openmetrics-text"), "{m}");
        assert!(m.contains("oomsday_active_injections 2\n"), "{m}");
        assert!(get(addr, "GET", "/nope").await.starts_with("HTTP/1.1 404"));
        assert!(
            get(addr, "POST", "/metrics")
                .await
                .starts_with("HTTP/1.1 405")
        );
        server.abort();
    }
}

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

//! A tiny HTTP/1.1 server for `/metrics`, `/healthz` and `/readyz`. Three GET endpoints read
//! by the kubelet and Prometheus do not need a web framework; each connection answers one
//! request and closes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::metrics::Metrics;

/// What the endpoints read.
#[derive(Clone)]
pub struct Probes {
    pub metrics: Arc<Metrics>,
    /// Set once the controllers are running.
    pub ready: Arc<AtomicBool>,
}

/// The response (status line, content type, body) for a request line.
pub fn respond(request_line: &str, probes: &Probes) -> (&'static str, &'static str, String) {
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default();
    let path = parts
        .next()
        .unwrap_or_default()
        .split('?')
        .next()
        .unwrap_or_default();
    const TEXT: &str = "text/plain; charset=utf-8";
    if method != "GET" && method != "HEAD" {
        return ("405 Method Not Allowed", TEXT, "only GET\n".into());
    }
    match path {
        "/metrics" => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            probes.metrics.render(),
        ),
        "/healthz" => ("200 OK", TEXT, "ok\n".into()),
        "/readyz" if probes.ready.load(Ordering::Relaxed) => ("200 OK", TEXT, "ready\n".into()),
        "/readyz" => ("503 Service Unavailable", TEXT, "starting\n".into()),
        _ => ("404 Not Found", TEXT, "not found\n".into()),
    }
}

/// Serves until the task is dropped.
pub async fn serve(listener: TcpListener, probes: Probes) {
    loop {
        let Ok((mut sock, _)) = listener.accept().await else {
            continue;
        };
        let probes = probes.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let mut len = 0;
            // Read until the end of the request line (or headers), bounded in size and time.
            let read = tokio::time::timeout(Duration::from_secs(5), async {
                while len < buf.len() {
                    match sock.read(&mut buf[len..]).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => len += n,
                    }
                    if buf[..len].windows(2).any(|w| w == b"\r\n") {
                        break;
                    }
                }
            })
            .await;
            if read.is_err() {
                return;
            }
            let text = String::from_utf8_lossy(&buf[..len]);
            let line = text.lines().next().unwrap_or_default();
            let (status, ctype, body) = respond(line, &probes);
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = sock.write_all(head.as_bytes()).await;
            if !line.starts_with("HEAD ") {
                let _ = sock.write_all(body.as_bytes()).await;
            }
            let _ = sock.shutdown().await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn endpoints_over_a_real_socket() {
        let probes = Probes {
            metrics: Arc::new(Metrics::default()),
            ready: Arc::new(AtomicBool::new(false)),
        };
        probes.metrics.set_active_injections(2);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let server = tokio::spawn(serve(listener, probes.clone()));
        let get = |path: &'static str| async move {
            let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
            s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
                .await
                .expect("write");
            let mut out = String::new();
            s.read_to_string(&mut out).await.expect("read");
            out
        };
        assert!(get("/healthz").await.starts_with("HTTP/1.1 200 OK"));
        assert!(get("/readyz").await.starts_with("HTTP/1.1 503"));
        probes.ready.store(true, Ordering::Relaxed);
        assert!(get("/readyz").await.starts_with("HTTP/1.1 200 OK"));
        let m = get("/metrics").await;
        assert!(m.contains("version=0.0.4"), "{m}");
        assert!(m.contains("oomsday_active_injections 2\n"), "{m}");
        assert!(get("/nope").await.starts_with("HTTP/1.1 404"));
        server.abort();
    }
}

use super::*;

#[test]
fn urls() {
    let u = Url::parse("http://prometheus.monitoring.svc:9090").unwrap();
    assert_eq!(
        (u.host.as_str(), u.port, u.target.as_str()),
        ("prometheus.monitoring.svc", 9090, "/")
    );
    let u = Url::parse("http://checkout.shop.svc/healthz?deep=1").unwrap();
    assert_eq!((u.port, u.target.as_str()), (80, "/healthz?deep=1"));
    let u = Url::parse("http://[::1]:8080/x").unwrap();
    assert_eq!(
        (u.host.as_str(), u.port, u.host_header()),
        ("::1", 8080, "[::1]:8080".to_string())
    );
    assert_eq!(
        Url::parse("http://h:9090/prom/")
            .unwrap()
            .join("/api/v1/alerts")
            .target,
        "/prom/api/v1/alerts"
    );
    assert!(
        Url::parse("https://x")
            .unwrap_err()
            .to_string()
            .contains("https is not supported")
    );
    assert!(Url::parse("ftp://x").is_err());
    assert!(Url::parse("http://:80").is_err());
    assert!(Url::parse("http://h:port").is_err());
    assert_eq!(
        encode_query("up{job=\"a\"} > 0"),
        "up%7Bjob%3D%22a%22%7D%20%3E%200"
    );
}

#[test]
fn responses() {
    let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false)
        .unwrap()
        .unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
    assert!(
        parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", false)
            .unwrap()
            .is_none()
    );
    assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", true).is_err());
    let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\n\r\n";
    assert_eq!(
        parse_response(chunked, false).unwrap().unwrap().body,
        b"Wikipedia"
    );
    assert!(parse_response(&chunked[..60], false).unwrap().is_none());
    let close = parse_response(b"HTTP/1.0 503 Service Unavailable\r\n\r\ndown", true)
        .unwrap()
        .unwrap();
    assert_eq!((close.status, close.is_success()), (503, false));
    assert!(parse_response(b"SSH-2.0-OpenSSH\r\n\r\n", true).is_err());
}

#[tokio::test]
async fn get_against_a_local_server() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        for reply in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"[..],
            b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n",
        ] {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).await.unwrap();
            assert!(
                std::str::from_utf8(&buf[..n])
                    .unwrap()
                    .starts_with("GET /healthz HTTP/1.1\r\n")
            );
            s.write_all(reply).await.unwrap();
        }
        // A third connection that never answers.
        let (_s, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    let url = Url::parse(&format!("http://127.0.0.1:{port}/healthz")).unwrap();
    let r = get(&url, Duration::from_secs(5)).await.unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"ok"[..]));
    assert_eq!(get(&url, Duration::from_secs(5)).await.unwrap().status, 500);
    let e = get(&url, Duration::from_millis(200))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("no answer within 200ms"), "{e}");
    server.abort();
}

use super::*;

/// deploy/prometheus-rules.yaml (PrometheusRule) and deploy/prometheus/oomsday-rules.yml
/// (plain, for promtool) must carry the same rule groups.
#[test]
fn shipped_rules_agree() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    let read = |p: &str| -> serde_json::Value {
        let text = std::fs::read_to_string(root.join(p)).unwrap();
        serde_saphyr::from_str(&text).unwrap()
    };
    let cr = read("prometheus-rules.yaml");
    let plain = read("prometheus/oomsday-rules.yml");
    assert_eq!(cr["kind"], "PrometheusRule");
    assert_eq!(cr["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(
        cr["spec"], plain,
        "the PrometheusRule's spec differs from the plain rule file"
    );
    let alerts: Vec<&str> = plain["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .filter_map(|r| r["alert"].as_str())
        .collect();
    for want in [
        "PodMemoryUsageHigh",
        "ContainerMemoryLeakPredicted",
        "NodeMemoryExhaustionPredicted",
        "NodeMemoryPressure",
        "ContainerWithoutMemoryLimit",
    ] {
        assert!(alerts.contains(&want), "{want} missing from {alerts:?}");
    }
    let text = serde_json::to_string(&plain).unwrap();
    assert!(text.contains("predict_linear("), "a leak-rate alert");
}

#[test]
fn bounds() {
    assert!(within(1.0, Some(0.5), Some(2.0)));
    assert!(!within(0.1, Some(0.5), None));
    assert!(!within(3.0, None, Some(2.0)));
    assert!(within(3.0, None, None));
    assert!(!within(f64::NAN, None, None));
}

#[tokio::test]
async fn probes_run_on_their_interval_against_a_real_socket() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut n = 0;
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                break;
            };
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            n += 1;
            let reply: &[u8] = if n == 1 {
                b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
            } else {
                b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n"
            };
            let _ = s.write_all(reply).await;
        }
    });
    let spec = crate::score::testkit::spec(serde_json::json!({
        "probes": [{"name": "health", "http": {"url": format!("http://127.0.0.1:{port}/healthz")}, "interval": "10s"}]
    }));
    let mut p = Prober::new(&spec).unwrap();
    let t0 = crate::score::testkit::t(0);
    assert_eq!(p.next_due(false), Some(Time::MIN));
    let obs = p.poll(t0, false).await;
    assert_eq!(
        obs,
        vec![Observation::new(
            t0,
            Happening::Probe {
                name: "health".into(),
                ok: true,
                detail: "HTTP 200".into()
            }
        )]
    );
    assert_eq!(p.next_due(false), Some(crate::score::testkit::t(10)));
    assert!(
        p.poll(crate::score::testkit::t(5), false).await.is_empty(),
        "not due yet"
    );
    let obs = p.poll(crate::score::testkit::t(10), false).await;
    assert!(
        matches!(&obs[0].happening, Happening::Probe { ok: false, detail, .. } if detail == "HTTP 503"),
        "{obs:?}"
    );
    server.abort();
}

#[test]
fn bad_specs_fail_before_the_leak() {
    let s = crate::score::testkit::spec(
        serde_json::json!({"probes": [{"name": "q", "query": {"expr": "up"}}]}),
    );
    assert!(
        Prober::new(&s)
            .err()
            .unwrap()
            .to_string()
            .contains("needs spec.prometheus")
    );
    let s = crate::score::testkit::spec(
        serde_json::json!({"probes": [{"name": "h", "http": {"url": "https://x"}}]}),
    );
    assert!(Prober::new(&s).is_err());
    let s = crate::score::testkit::spec(serde_json::json!({}));
    let p = Prober::new(&s).unwrap();
    assert!(p.is_empty());
    assert_eq!(p.next_due(false), None);
}

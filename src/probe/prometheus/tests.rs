use super::*;
use crate::testkit::{EPOCH, t};

#[test]
fn parses_api_answers() {
    let q: QueryData = unwrap_envelope(
            "query",
            br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"leaker"},"value":[1800000000.5,"1"]},{"metric":{},"value":[1800000000.5,"NaN"]}]}}"#,
        )
        .unwrap();
    let s = parse_query(&q).unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].labels["job"], "leaker");
    assert_eq!(s[0].value, 1.0);
    assert_eq!(s[0].at, Time::from_millisecond(EPOCH * 1000 + 500).unwrap());
    assert!(s[1].value.is_nan());
    let q: QueryData = unwrap_envelope(
        "query",
        br#"{"status":"success","data":{"resultType":"scalar","result":[1800000000,"42"]}}"#,
    )
    .unwrap();
    assert_eq!(parse_query(&q).unwrap()[0].value, 42.0);
    let q: QueryData = unwrap_envelope(
        "query",
        br#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#,
    )
    .unwrap();
    assert!(parse_query(&q).is_err());
    let e = unwrap_envelope::<QueryData>(
        "query",
        br#"{"status":"error","errorType":"bad_data","error":"parse error at char 3"}"#,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("parse error at char 3"), "{e}");

    let a: AlertsData = unwrap_envelope(
            "alerts",
            br#"{"status":"success","data":{"alerts":[{"labels":{"alertname":"LeakerBytesHigh","job":"leaker"},"annotations":{},"state":"firing","activeAt":"2026-09-21T14:13:20.123456789Z","value":"4e+07"},{"labels":{"alertname":"X"},"state":"inactive"}]}}"#,
        )
        .unwrap();
    assert_eq!(a.alerts.len(), 2);
    assert_eq!(
        a.alerts[0].active_at.as_deref(),
        Some("2026-09-21T14:13:20.123456789Z")
    );

    let r: RulesData = unwrap_envelope(
            "rules",
            br#"{"status":"success","data":{"groups":[{"name":"g","file":"f","rules":[{"name":"A","query":"x","duration":120,"type":"alerting","alerts":[]},{"name":"A","duration":30,"type":"alerting"},{"name":"rec","type":"recording"}]}]}}"#,
        )
        .unwrap();
    assert_eq!(r.groups[0].rules.len(), 3);
}

fn alert(name: &str, state: AlertState, active: i64, labels: &[(&str, &str)]) -> ActiveAlert {
    let mut l: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    l.insert("alertname".into(), name.into());
    ActiveAlert {
        name: name.into(),
        labels: l,
        state,
        active_at: Some(t(active)),
    }
}

#[test]
fn alert_watch_dates_changes_by_the_alerts_own_times() {
    let expected = vec![ExpectedAlert {
        name: "MemHigh".into(),
        within: oomsday_core::Duration::from_secs(300),
        labels: [("namespace".to_string(), "shop".to_string())].into(),
    }];
    let mut w = AlertWatch::new(expected);
    let fors: BTreeMap<String, f64> = [("MemHigh".to_string(), 60.0)].into();
    // Another namespace's alert does not count.
    assert!(
        w.update(
            &[alert(
                "MemHigh",
                AlertState::Firing,
                0,
                &[("namespace", "other")]
            )],
            Some(&fors),
            t(10)
        )
        .is_empty()
    );
    let obs = w.update(
        &[alert(
            "MemHigh",
            AlertState::Pending,
            20,
            &[("namespace", "shop")],
        )],
        Some(&fors),
        t(30),
    );
    assert_eq!(
        obs,
        vec![Observation::new(
            t(20),
            Happening::Alert {
                name: "MemHigh".into(),
                state: AlertState::Pending
            }
        )]
    );
    // Same state again: nothing new.
    assert!(
        w.update(
            &[alert(
                "MemHigh",
                AlertState::Pending,
                20,
                &[("namespace", "shop")]
            )],
            Some(&fors),
            t(40)
        )
        .is_empty()
    );
    // Firing: activeAt + for = 80, although we only looked at 95.
    let obs = w.update(
        &[alert(
            "MemHigh",
            AlertState::Firing,
            20,
            &[("namespace", "shop")],
        )],
        Some(&fors),
        t(95),
    );
    assert_eq!(
        obs,
        vec![Observation::new(
            t(80),
            Happening::Alert {
                name: "MemHigh".into(),
                state: AlertState::Firing
            }
        )]
    );
    // Gone: resolved, dated by the poll.
    let obs = w.update(&[], Some(&fors), t(200));
    assert_eq!(
        obs,
        vec![Observation::new(
            t(200),
            Happening::Alert {
                name: "MemHigh".into(),
                state: AlertState::Resolved
            }
        )]
    );
    // Without the rules' durations, firing is dated by the poll: never earlier than known.
    let mut w = AlertWatch::new(vec![ExpectedAlert {
        name: "MemHigh".into(),
        within: oomsday_core::Duration::from_secs(1),
        labels: Default::default(),
    }]);
    let obs = w.update(
        &[alert("MemHigh", AlertState::Firing, 20, &[])],
        None,
        t(95),
    );
    assert_eq!(obs[0].at, t(95));
}

use super::*;
use crate::observe::classify::tests::classifier;
use crate::testkit::ts;

fn ingest() -> Ingest {
    let c = classifier("checkout");
    Ingest::new(c.target().clone(), ts("2026-11-24T13:30:00Z"))
}

fn gaps(obs: &[Observation]) -> Vec<(String, bool)> {
    obs.iter()
        .filter_map(|o| match &o.happening {
            Happening::ObservationGap { open, .. } => Some((o.at.to_string(), *open)),
            _ => None,
        })
        .collect()
}

#[test]
fn failing_watches_open_one_gap_that_closes_when_every_one_is_back() {
    let mut i = ingest();
    let fail = |e: &str| Delivery::Failed(e.into());
    let mut seen = Vec::new();
    // However many attempts fail, one gap: the engine judges it by its length.
    for s in 0..20 {
        let at = ts("2026-11-24T13:31:00Z") + jiff::SignedDuration::from_secs(s);
        seen.extend(i.take("pods", at, fail("connection refused")));
        seen.extend(i.take("nodes", at, fail("connection refused")));
    }
    // A failed watch delivering again proves the API server answers: the gap closes, though
    // a quiet watch that reconnected may deliver nothing for minutes.
    seen.extend(i.take(
        "pods",
        ts("2026-11-24T13:31:30Z"),
        Delivery::ListStarted(ObjectKind::Pod),
    ));
    seen.extend(i.take(
        "nodes",
        ts("2026-11-24T13:31:31Z"),
        Delivery::ListStarted(ObjectKind::Node),
    ));
    // A watch that is really broken (say, its RBAC is gone) opens a gap of its own again.
    seen.extend(i.take("events", ts("2026-11-24T13:31:35Z"), fail("403 Forbidden")));
    assert_eq!(
        gaps(&seen),
        vec![
            ("2026-11-24T13:31:00Z".to_string(), true),
            ("2026-11-24T13:31:30Z".to_string(), false),
            ("2026-11-24T13:31:35Z".to_string(), true),
        ]
    );
    assert!(
        !seen
            .iter()
            .any(|o| matches!(o.happening, Happening::ObservationFailed { .. })),
        "failed attempts are never a failure of the run: {seen:#?}"
    );
}

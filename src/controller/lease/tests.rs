use super::*;
use crate::testkit::ts;

fn lease(holder: Option<&str>, rv: &str) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some("oomsday-controller".into()),
            resource_version: Some(rv.into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: holder.map(String::from),
            lease_duration_seconds: Some(15),
            lease_transitions: Some(3),
            renew_time: Some(MicroTime(ts("2026-11-24T10:00:00Z"))),
            ..Default::default()
        }),
    }
}

#[test]
fn decisions() {
    let t0 = ts("2026-11-24T10:00:00Z");
    let in_time = ts("2026-11-24T10:00:14Z");
    let late = ts("2026-11-24T10:00:16Z");
    assert_eq!(decide_lease(None, "a", t0, t0), LeaseAction::Create);
    let mine = lease(Some("a"), "1");
    assert_eq!(decide_lease(Some(&mine), "a", t0, late), LeaseAction::Renew);
    let theirs = lease(Some("b"), "1");
    assert_eq!(
        decide_lease(Some(&theirs), "a", t0, in_time),
        LeaseAction::Follow { holder: "b".into() }
    );
    assert_eq!(
        decide_lease(Some(&theirs), "a", t0, late),
        LeaseAction::Acquire
    );
    let free = lease(None, "1");
    assert_eq!(decide_lease(Some(&free), "a", t0, t0), LeaseAction::Acquire);
}

#[test]
fn written_lease_keeps_resource_version_and_counts_transitions() {
    let now = ts("2026-11-24T10:00:20Z");
    let theirs = lease(Some("b"), "42");
    let w = lease_to_write(
        Some(&theirs),
        &LeaseAction::Acquire,
        "oomsday-controller",
        "a",
        now,
    )
    .expect("a write");
    assert_eq!(w.metadata.resource_version.as_deref(), Some("42"));
    let spec = w.spec.expect("spec");
    assert_eq!(spec.holder_identity.as_deref(), Some("a"));
    assert_eq!(spec.lease_transitions, Some(4));
    assert_eq!(spec.acquire_time, Some(MicroTime(now)));
    assert_eq!(spec.renew_time, Some(MicroTime(now)));
    assert_eq!(spec.lease_duration_seconds, Some(15));

    let mine = lease(Some("a"), "43");
    let w = lease_to_write(
        Some(&mine),
        &LeaseAction::Renew,
        "oomsday-controller",
        "a",
        now,
    )
    .expect("a write");
    let spec = w.spec.expect("spec");
    assert_eq!(spec.lease_transitions, Some(3));
    assert_eq!(spec.acquire_time, None);
    assert!(
        lease_to_write(
            Some(&theirs),
            &LeaseAction::Follow { holder: "b".into() },
            "x",
            "a",
            now
        )
        .is_none()
    );
}

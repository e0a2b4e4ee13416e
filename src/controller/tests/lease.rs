//! Leader election rounds against the mock API server.

use super::*;
use crate::controller::lease::Elector;

fn elector(client: Client) -> Elector {
    Elector {
        api: kube::Api::namespaced(client, "oomsday-system"),
        name: "oomsday-controller".into(),
        me: "oomsday-controller-me".into(),
        clock: now,
    }
}

#[tokio::test]
async fn a_lease_held_by_another_replica_is_only_read() {
    let (svc, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let v = ApiServerVerifier {
        handle,
        log: Log::default(),
    }
    .run(vec![expect("GET", LEASE, vec![], |_| {
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
               "metadata": {"name": "oomsday-controller", "namespace": "oomsday-system", "resourceVersion": "9"},
               "spec": {"holderIdentity": "oomsday-controller-other", "leaseDurationSeconds": 15,
                        "renewTime": "2026-11-24T11:00:00.000000Z"}})
    })]);
    let mut seen = None;
    assert!(
        !elector(Client::new(svc, "default"))
            .round(&mut seen)
            .await
            .expect("round")
    );
    verified(v).await;
}

#[tokio::test]
async fn the_leader_renews_its_lease_conditionally() {
    for conflict in [false, true] {
        let (svc, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let held = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
               "metadata": {"name": "oomsday-controller", "namespace": "oomsday-system", "resourceVersion": "9"},
               "spec": {"holderIdentity": "oomsday-controller-me", "leaseDurationSeconds": 15,
                        "leaseTransitions": 2, "renewTime": "2026-11-24T10:59:56.000000Z"}});
        let mut put = expect("PUT", LEASE, vec![], |b| {
            assert_eq!(b["metadata"]["resourceVersion"], "9", "conditional write");
            assert_eq!(b["spec"]["holderIdentity"], "oomsday-controller-me");
            assert_eq!(b["spec"]["renewTime"], "2026-11-24T11:00:01.000000Z");
            assert_eq!(
                b["spec"]["leaseTransitions"], 2,
                "a renewal is no transition"
            );
            let mut l = b.clone();
            l["metadata"]["resourceVersion"] = json!("10");
            l
        });
        if conflict {
            put.status = StatusCode::CONFLICT;
            put.body = Box::new(|_| {
                json!({"apiVersion": "v1", "kind": "Status", "status": "Failure",
                       "reason": "Conflict", "code": 409, "message": "the object has been modified"})
            });
        }
        let v = ApiServerVerifier {
            handle,
            log: Log::default(),
        }
        .run(vec![
            expect("GET", LEASE, vec![], move |_| held.clone()),
            put,
        ]);
        let leads = elector(Client::new(svc, "default"))
            .round(&mut None)
            .await
            .expect("round");
        assert_eq!(
            leads, !conflict,
            "a 409 means another replica won this round"
        );
        verified(v).await;
    }
}

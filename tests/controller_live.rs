//! Controller tests against a live cluster (the current kubeconfig context). Ignored by
//! default; run them with:
//!
//!     cargo test --test controller_live -- --ignored --test-threads=1
//!
//! They need: the CRDs (`kubectl apply -f deploy/crds/`), a namespace to play in
//! (`OOMSDAY_TEST_NAMESPACE`, default `default`) and the rights to create Leases and
//! LeakExperiments there. They clean up after themselves.

use std::sync::Arc;

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::events::{Recorder, Reporter};
use kube::{Client, ResourceExt};
use oomsday::controller::executor::{EngineExecutor, ForRun, Registry};
use oomsday::controller::lease::Elector;
use oomsday::controller::lifecycle::TargetPolicy;
use oomsday::controller::metrics::Metrics;
use oomsday::controller::reconcile::{Context, reconcile_experiment};
use oomsday::spec::LeakExperiment;

fn namespace() -> String {
    std::env::var("OOMSDAY_TEST_NAMESPACE").unwrap_or_else(|_| "default".into())
}

fn elector(client: &Client, name: &str, me: &str) -> Elector {
    Elector {
        api: Api::namespaced(client.clone(), &namespace()),
        name: name.into(),
        me: me.into(),
        clock: jiff::Timestamp::now,
    }
}

#[tokio::test]
#[ignore = "uses k8s current-context"]
async fn only_one_replica_leads_and_release_hands_over() {
    let client = Client::try_default().await.expect("a kubeconfig");
    let name = format!("oomsday-test-{}", jiff::Timestamp::now().as_second());
    let a = elector(&client, &name, "replica-a");
    let b = elector(&client, &name, "replica-b");
    let (mut seen_a, mut seen_b) = (None, None);
    assert!(
        a.round(&mut seen_a).await.expect("a"),
        "a creates the Lease"
    );
    assert!(!b.round(&mut seen_b).await.expect("b"), "b follows");
    assert!(a.round(&mut seen_a).await.expect("a"), "a renews");
    a.release().await.expect("release");
    assert!(
        b.round(&mut seen_b).await.expect("b"),
        "b takes over a released Lease"
    );
    assert!(!a.round(&mut seen_a).await.expect("a"), "a follows now");
    let leases: Api<Lease> = Api::namespaced(client, &namespace());
    let _ = leases.delete(&name, &DeleteParams::default()).await;
}

#[tokio::test]
#[ignore = "uses k8s current-context"]
async fn a_new_experiment_gets_a_status_and_no_finalizer() {
    let client = Client::try_default().await.expect("a kubeconfig");
    let ns = namespace();
    let api: Api<LeakExperiment> = Api::namespaced(client.clone(), &ns);
    let name = format!("oomsday-test-{}", jiff::Timestamp::now().as_second());
    let spec = serde_json::from_value(serde_json::json!({
        "target": {"kind": "Deployment", "name": "does-not-exist"},
        "leak": {"pattern": "linear", "rate": "1Mi/min", "max": "8Mi"},
        "duration": "1m",
        "schedule": {"cron": "0 0 3 * * *", "timeZone": "Europe/Berlin", "suspend": false}
    }))
    .expect("spec");
    let created = api
        .create(&PostParams::default(), &LeakExperiment::new(&name, spec))
        .await
        .expect("create (are the CRDs installed?)");

    let (_tx, leader) = tokio::sync::watch::channel(true);
    let config = kube::Config::infer().await.expect("config");
    let ctx = Arc::new(Context {
        client: client.clone(),
        policy: TargetPolicy::default(),
        leader,
        registry: Registry::default(),
        executor: Arc::new(EngineExecutor::new(move |_: Option<ForRun<'_>>| {
            Ok(oomsday::cluster::KubeCluster::new(
                Client::try_from(config.clone())?,
                "live test",
            ))
        })),
        recorder: Recorder::new(
            client.clone(),
            Reporter {
                controller: "oomsday-controller-test".into(),
                instance: None,
            },
        ),
        metrics: Arc::new(Metrics::default()),
        clock: jiff::Timestamp::now,
        identity: "oomsday-controller-test".into(),
    });
    reconcile_experiment(Arc::new(created), ctx.clone())
        .await
        .expect("writes status");
    let got = api.get(&name).await.expect("get");
    assert!(got.finalizers().is_empty(), "{:?}", got.finalizers());
    let status = got.status.expect("a status");
    assert!(status.next_run_time.is_some(), "{status:?}");
    assert!(status.active_run.is_none());
    assert!(
        status
            .conditions
            .iter()
            .any(|c| c.type_ == "Scheduled" && c.status == "True"),
        "{status:?}"
    );

    // No finalizer: the API deletes it at once, no controller needed.
    api.delete(&name, &DeleteParams::default())
        .await
        .expect("delete");
    assert!(api.get_opt(&name).await.expect("get").is_none());
}

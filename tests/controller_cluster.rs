//! The controller as a whole — the `oomsday controller` binary, or managers with their watches,
//! Lease and reconcilers — against a stateful fake API server over HTTP
//! (`oomsday_testkit`):
//!
//! - configuration errors fail fast, non-zero, naming the flag or manifest that fixes them;
//! - a namespace holding finished LeakRuns and their LeakExperiment is deleted with no
//!   controller running (and one holding a live run is not: the finalizer does hold);
//! - leader failover: the leader killed mid-run, the other replica takes the Lease and reverts
//!   and finishes the orphaned run exactly once. The takeover time is printed.
//!
//! The runs themselves are on `ScriptedCluster`s on a virtual clock; what is timed in real time
//! is the controller's own: its Lease, watches and status writes.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use oomsday::controller::executor::{EngineExecutor, ForRun};
use oomsday::controller::lease::{LEASE_DURATION, RENEW_PERIOD};
use oomsday::controller::lifecycle::RUN_FINALIZER;
use oomsday::controller::manager::serve_until;
use oomsday::engine::testing::{Calls, ScriptedCluster};
use oomsday::observe::Time;
use oomsday_testkit::{ApiServer, Listening, free_port, write_kubeconfig};
use serde_json::{Value, json};

/// A cluster for a replica's runs, scripted on a virtual clock, logging every call to `calls`:
/// its runs take no real time.
fn finishing(calls: &Calls) -> ScriptedCluster {
    ScriptedCluster::new(Time::now(), Vec::new()).logging_to(calls)
}

/// [`finishing`], except that a leak goes on until the replica stops the run: `observe` says
/// nothing and never returns once the run has begun, as a quiet watch does.
fn never_ending(calls: &Calls) -> ScriptedCluster {
    let mut cluster = finishing(calls);
    cluster.observe_hangs_at = Some(cluster.now);
    cluster
}

/// The injections and reverts in `calls`: `inject RUN`, `revert RUN`.
fn leaks(calls: &Calls) -> Vec<String> {
    calls
        .all()
        .into_iter()
        .filter(|c| matches!(c.name, "inject" | "revert"))
        .map(|c| format!("{} {}", c.name, c.run_id.unwrap_or_default()))
        .collect()
}

/// One controller replica on its own runtime; killing it drops everything at once, like
/// SIGKILL: no revert, no final status, no Lease release.
struct Replica {
    kill: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Replica {
    /// Replica `who`, whose runs and reverts are on clusters `make` makes, logging to `calls`.
    fn start(
        server: &Listening,
        who: &str,
        calls: &Calls,
        make: fn(&Calls) -> ScriptedCluster,
    ) -> Replica {
        let url = format!("http://{}", server.addr);
        let (kill, killed) = tokio::sync::oneshot::channel::<()>();
        let (who, calls) = (who.to_string(), calls.clone());
        let thread = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let config = kube::Config::new(url.parse().expect("url"));
                let client = kube::Client::try_from(config).expect("client");
                let executor = EngineExecutor::new(move |_: Option<ForRun<'_>>| Ok(make(&calls)));
                let opts = support::controller_options(&who);
                tokio::select! {
                    r = serve_until(client, Arc::new(executor), opts, std::future::pending()) => {
                        if let Err(e) = r {
                            eprintln!("replica stopped: {e}");
                        }
                    }
                    _ = killed => {}
                }
            });
            rt.shutdown_background();
        });
        Replica {
            kill: Some(kill),
            thread: Some(thread),
        }
    }

    fn kill(&mut self) {
        if let Some(k) = self.kill.take() {
            let _ = k.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

fn experiment(server: &ApiServer, ns: &str, duration: &str) -> Value {
    server.create(
        "leakexperiments",
        json!({"apiVersion": "oomsday.dev/v1alpha1", "kind": "LeakExperiment",
               "metadata": {"name": "checkout-leak", "namespace": ns},
               "spec": {"target": {"kind": "Deployment", "name": "checkout"},
                        "leak": {"pattern": "linear", "rate": "40Mi/min", "max": "1Gi"},
                        "duration": duration, "recovery": "1s"}}),
    )
}

fn run_now(server: &ApiServer, ns: &str) {
    server.merge(
        "leakexperiments",
        ns,
        "checkout-leak",
        &json!({"metadata": {"annotations": {"oomsday.dev/run-now": "test"}}}),
    );
}

/// Waits (real time, bounded) until `f` gives something.
async fn until<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn the_run(server: &ApiServer, ns: &str) -> Option<Value> {
    server.list("leakruns", ns).into_iter().next()
}

fn holder(server: &ApiServer) -> Option<String> {
    server
        .get("leases", "oomsday-system", "oomsday-controller")
        .and_then(|l| l["spec"]["holderIdentity"].as_str().map(String::from))
}

// ----------------------------------------------------------------- fail fast

/// Runs `oomsday controller` against the API server at `server` (a URL); returns (exit code,
/// stderr, how long).
fn controller_binary(server: &str, args: &[&str]) -> (Option<i32>, String, Duration) {
    let dir = std::env::temp_dir().join(format!(
        "oomsday-ctl-{}-{}",
        std::process::id(),
        Time::now().as_nanosecond()
    ));
    let kubeconfig = write_kubeconfig(&dir, server);
    // Bounded: a controller that does not exit is killed and reported.
    let out = support::binary()
        .args(["controller", "--listen", "127.0.0.1:0"])
        .args(args)
        .env("KUBECONFIG", Some(&kubeconfig))
        .env("POD_NAMESPACE", None::<&str>)
        .output_within(Duration::from_secs(20));
    let _ = std::fs::remove_dir_all(&dir);
    (out.code, out.stderr, out.took)
}

/// [`controller_binary`] on a blocking thread; the controller must give up within 10 s.
/// Returns its exit code and stderr.
async fn fails_fast(server: String, args: &'static [&'static str]) -> (Option<i32>, String) {
    let (code, stderr, took) =
        tokio::task::spawn_blocking(move || controller_binary(&server, args))
            .await
            .expect("binary");
    assert!(took < Duration::from_secs(10), "took {took:?}: {stderr}");
    (code, stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_lease_namespace_fails_fast_naming_the_flag() {
    let server = support::serve().await;
    let kubeconfig = server.url();
    let (code, stderr) = fails_fast(kubeconfig, &["--lease-namespace", "oomsday-system"]).await;
    assert_eq!(code, Some(7), "{stderr}");
    assert!(stderr.contains("--lease-namespace"), "{stderr}");
    assert!(stderr.contains("oomsday-system"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_crds_fail_fast_naming_the_manifest() {
    let server = ApiServer::new().listen().await.expect("listens");
    support::namespace(&server, "oomsday-system");
    let kubeconfig = server.url();
    let (code, stderr) = fails_fast(kubeconfig, &[]).await;
    assert_eq!(code, Some(7), "{stderr}");
    assert!(stderr.contains("kubectl apply -f deploy/crds/"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_rbac_verb_fails_fast_naming_it_and_the_manifest() {
    let server = support::serve().await;
    server.deny("patch leakruns/status");
    server.deny("update leases");
    support::namespace(&server, "oomsday-system");
    let kubeconfig = server.url();
    let (code, stderr) = fails_fast(kubeconfig, &[]).await;
    assert_eq!(code, Some(6), "{stderr}");
    assert!(
        stderr.contains("patch leakruns/status.oomsday.dev"),
        "{stderr}"
    );
    assert!(
        stderr.contains("update leases.coordination.k8s.io in namespace oomsday-system"),
        "{stderr}"
    );
    assert!(stderr.contains("deploy/rbac.yaml"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_cluster_is_not_a_usage_error() {
    // A port nobody listens on.
    let kubeconfig = format!("http://127.0.0.1:{}", free_port());
    let (code, stderr) = fails_fast(kubeconfig, &[]).await;
    assert_eq!(code, Some(5), "{stderr}");
    assert!(stderr.contains("could not be reached"), "{stderr}");
}

// ------------------------------------------------------- namespace deletion

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_of_finished_runs_is_deleted_with_no_controller_running() {
    let server = support::serve().await;
    support::namespace(&server, "oomsday-system");
    support::namespace(&server, "shop");
    experiment(&server, "shop", "2s");
    let calls = Calls::default();
    let mut replica = Replica::start(&server, "replica-a", &calls, finishing);
    until("a leader", Duration::from_secs(10), || holder(&server)).await;
    run_now(&server, "shop");
    let done = until("the run to finish", Duration::from_secs(30), || {
        the_run(&server, "shop").filter(|r| {
            r["status"]["phase"] == "Completed" && r["metadata"]["finalizers"] == json!([])
        })
    })
    .await;
    assert!(done["status"]["revertedTime"].is_string(), "{done}");
    let exp = server
        .get("leakexperiments", "shop", "checkout-leak")
        .expect("experiment");
    assert!(
        exp["metadata"]["finalizers"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "{exp}"
    );
    replica.kill();

    // A control: a namespace whose run may still leak stays until that run is reverted.
    support::namespace(&server, "live");
    let owner = experiment(&server, "live", "30m");
    server.create(
        "leakruns",
        json!({"apiVersion": "oomsday.dev/v1alpha1", "kind": "LeakRun",
               "metadata": {"name": "checkout-leak-20261124-100000", "namespace": "live",
                            "finalizers": [RUN_FINALIZER],
                            "ownerReferences": [{"apiVersion": "oomsday.dev/v1alpha1", "kind": "LeakExperiment",
                                                  "name": "checkout-leak", "uid": owner["metadata"]["uid"],
                                                  "controller": true, "blockOwnerDeletion": true}]},
               "spec": {"experiment": "checkout-leak", "experimentSpec": owner["spec"], "trigger": "Manual"},
               "status": {"phase": "Leaking"}}),
    );

    server.delete("namespaces", "", "shop");
    server.delete("namespaces", "", "live");
    assert!(
        server.get("namespaces", "", "shop").is_none(),
        "shop is gone"
    );
    assert!(server.list("leakruns", "shop").is_empty());
    assert!(server.list("leakexperiments", "shop").is_empty());
    let live = server.get("namespaces", "", "live").expect("live stays");
    assert_eq!(live["status"]["phase"], "Terminating");
    assert_eq!(
        server.list("leakruns", "live").len(),
        1,
        "held by its finalizer"
    );
}

// ------------------------------------------------------------ leader failover

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_other_replica_takes_over_and_reverts_the_orphan_exactly_once() {
    let server = support::serve().await;
    support::namespace(&server, "oomsday-system");
    support::namespace(&server, "shop");
    experiment(&server, "shop", "10m");
    // Each replica's calls, in a log of its own.
    let mut replicas: Vec<(&str, Calls, Replica)> = ["replica-a", "replica-b"]
        .into_iter()
        .map(|who| {
            let calls = Calls::default();
            let replica = Replica::start(&server, who, &calls, never_ending);
            (who, calls, replica)
        })
        .collect();
    let leader = until("a leader", Duration::from_secs(10), || holder(&server)).await;
    run_now(&server, "shop");
    let leaking = until("the run to leak", Duration::from_secs(20), || {
        the_run(&server, "shop").filter(|r| r["status"]["phase"] == "Leaking")
    })
    .await;
    assert_eq!(
        leaking["metadata"]["finalizers"],
        json!([RUN_FINALIZER]),
        "protected while live"
    );
    let run_id = leaking["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let idx = replicas
        .iter()
        .position(|(n, _, _)| *n == leader)
        .expect("leader replica");
    let (_, leader_calls, mut dead) = replicas.remove(idx);
    let (survivor, survivor_calls, _) = &replicas[0];
    let survivor = *survivor;
    assert_eq!(leaks(&leader_calls), [format!("inject {run_id}")]);
    assert_eq!(leaks(survivor_calls), Vec::<String>::new());

    // SIGKILL the leader mid-run.
    dead.kill();
    let killed = Instant::now();
    until("the takeover", LEASE_DURATION + RENEW_PERIOD * 3, || {
        (holder(&server).as_deref() == Some(survivor)).then_some(())
    })
    .await;
    let takeover = killed.elapsed();
    eprintln!(
        "TAKEOVER: {survivor} took the Lease {:.1}s after {leader} was killed (lease duration {:?}, retry period {:?})",
        takeover.as_secs_f64(),
        LEASE_DURATION,
        RENEW_PERIOD
    );
    assert!(
        takeover <= LEASE_DURATION + RENEW_PERIOD * 2,
        "takeover took {takeover:?}"
    );

    let finished = until(
        "the orphan reverted and finished",
        Duration::from_secs(20),
        || {
            the_run(&server, "shop").filter(|r| {
                r["status"]["phase"] == "Aborted" && r["metadata"]["finalizers"] == json!([])
            })
        },
    )
    .await;
    assert_eq!(
        finished["status"]["reason"], "ControllerRestarted",
        "{finished}"
    );
    assert!(finished["status"]["revertedTime"].is_string());
    // Exactly once: give a second revert every chance to happen, then count.
    tokio::time::sleep(RENEW_PERIOD * 2).await;
    assert_eq!(leaks(&leader_calls), [format!("inject {run_id}")]);
    assert_eq!(leaks(survivor_calls), [format!("revert {run_id}")]);
}

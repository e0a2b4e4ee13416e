//! Wires the controller together: leader election, the two kube-runtime Controllers, the HTTP
//! endpoints, and shutdown. On SIGTERM (or SIGINT) the controllers stop taking work and every
//! run in flight is stopped — the engine reverts its injection — and its final status written,
//! within `shutdown_grace` (keep it under the pod's terminationGracePeriodSeconds).
//!
//! Scheduling is done by requeueing each experiment at its next fire time through the
//! kube-runtime Controller rather than with tokio-cron-scheduler: the schedule's state then
//! lives in the experiment's status (`nextRunTime`), which survives restarts and leader changes
//! and makes missed runs computable, and there is one event loop instead of two.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::{FutureExt, StreamExt};

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube::Client;
use kube::runtime::controller::Controller;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::watcher;
use tokio::sync::watch;

use crate::spec::{LeakExperiment, LeakRun};

use super::executor::{Executor, Registry};
use super::http::{self, Endpoints};
use super::lease::Elector;
use super::lifecycle::TargetPolicy;
use super::metrics::Metrics;
use super::reconcile::{Context, error_policy, reconcile_experiment, reconcile_run};
use super::startup::{SetupError, check};

/// How the controller runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// This replica's name (the pod name): the Lease holder identity and Event instance.
    pub identity: String,
    /// Where the Lease lives (the controller's own namespace).
    pub lease_namespace: String,
    pub lease_name: String,
    /// Where experiments are watched; `None` for all namespaces.
    pub watch_namespace: Option<String>,
    pub policy: TargetPolicy,
    /// Address of /metrics, /healthz, /readyz.
    pub listen: SocketAddr,
    /// How long in-flight runs get to revert on shutdown.
    pub shutdown_grace: Duration,
}

/// A stream that yields whenever `leader` turns true: every object is reconciled then, which
/// is how a new leader finds the runs its predecessor left unfinished.
fn on_becoming_leader(rx: watch::Receiver<bool>) -> impl futures::Stream<Item = ()> + Send {
    futures::stream::unfold((rx, false), |(mut rx, mut was)| async move {
        loop {
            rx.changed().await.ok()?;
            let now = *rx.borrow_and_update();
            let rising = now && !was;
            was = now;
            if rising {
                return Some(((), (rx, was)));
            }
        }
    })
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Runs the controller until SIGTERM; returns after in-flight runs were reverted (or the grace
/// period ran out — the leakers still stop at their own deadlines, and `oomsday cleanup`
/// finds anything left). Fails within seconds, naming what to fix, when the configuration
/// cannot work ([`super::startup`]).
pub async fn serve(
    client: Client,
    executor: Arc<dyn Executor>,
    opts: Options,
) -> Result<(), SetupError> {
    serve_until(client, executor, opts, shutdown_signal()).await
}

/// [`serve`], stopping (gracefully: runs in flight are reverted) when `shutdown` resolves.
pub async fn serve_until(
    client: Client,
    executor: Arc<dyn Executor>,
    opts: Options,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), SetupError> {
    check(
        &client,
        &opts.lease_namespace,
        opts.watch_namespace.as_deref(),
    )
    .await?;
    let metrics = Arc::new(Metrics::default());
    let ready = Arc::new(AtomicBool::new(false));
    let server = start_endpoints(opts.listen, &metrics, &ready).await?;

    let (leader_tx, leader_rx) = watch::channel(false);
    let elector = Arc::new(elector(&client, &opts));
    let election = {
        let elector = elector.clone();
        tokio::spawn(async move { elector.run(leader_tx).await })
    };
    let registry = Registry::default();
    let lost = tokio::spawn(revert_when_lost(
        leader_rx.clone(),
        registry.clone(),
        metrics.clone(),
        opts.shutdown_grace,
    ));
    let ctx = reconcile_context(
        &client,
        &opts,
        executor,
        leader_rx.clone(),
        registry.clone(),
        metrics.clone(),
    );
    let (stop_tx, controllers) = controllers(&client, &opts, ctx, leader_rx);
    ready.store(true, Ordering::Relaxed);
    tracing::info!(identity = %opts.identity, "controller started");

    let controllers = controllers.fuse();
    let mut controllers = std::pin::pin!(controllers);
    until_shutdown(shutdown, &mut controllers).await;
    ready.store(false, Ordering::Relaxed);
    let _ = stop_tx.send(true);
    revert_in_flight(&registry, opts.shutdown_grace).await;
    election.abort();
    if let Err(e) = elector.release().await {
        tracing::warn!(error = %e, "could not release the leader Lease; it expires by itself");
    }
    lost.abort();
    server.abort();
    Ok(())
}

/// Binds the listen address and serves /metrics, /healthz and /readyz from a task.
async fn start_endpoints(
    listen: SocketAddr,
    metrics: &Arc<Metrics>,
    ready: &Arc<AtomicBool>,
) -> Result<tokio::task::JoinHandle<std::io::Result<()>>, SetupError> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| SetupError::Listen {
            addr: listen,
            source,
        })?;
    Ok(tokio::spawn(http::serve(
        listener,
        Endpoints {
            metrics: metrics.clone(),
            ready: ready.clone(),
        },
    )))
}

/// This replica's side of the leader election, on the Lease the options name.
fn elector(client: &Client, opts: &Options) -> Elector {
    Elector {
        api: Api::<Lease>::namespaced(client.clone(), &opts.lease_namespace),
        name: opts.lease_name.clone(),
        me: opts.identity.clone(),
        clock: jiff::Timestamp::now,
    }
}

/// What every reconcile shares: the client, the policy, leadership, the runs in flight, Events
/// and metrics.
fn reconcile_context(
    client: &Client,
    opts: &Options,
    executor: Arc<dyn Executor>,
    leader: watch::Receiver<bool>,
    registry: Registry,
    metrics: Arc<Metrics>,
) -> Arc<Context> {
    Arc::new(Context {
        client: client.clone(),
        policy: opts.policy.clone(),
        leader,
        registry,
        executor,
        recorder: Recorder::new(
            client.clone(),
            Reporter {
                controller: super::reconcile::FIELD_MANAGER.into(),
                instance: Some(opts.identity.clone()),
            },
        ),
        metrics,
        clock: jiff::Timestamp::now,
        identity: opts.identity.clone(),
    })
}

/// Waits for the shutdown request or, should they end first, the controllers. The caller keeps
/// the controllers' future (unpolled) until its shutdown is done.
async fn until_shutdown(
    shutdown: impl std::future::Future<Output = ()>,
    controllers: &mut (impl std::future::Future<Output = ()> + Unpin),
) {
    tokio::select! {
        _ = shutdown => {
            tracing::info!("shutting down: reverting the runs in flight");
        }
        _ = controllers => {
            tracing::warn!("the controllers stopped");
        }
    }
}

/// Stops every run in flight (each reverts) and waits for them, at most `grace`.
async fn revert_in_flight(registry: &Registry, grace: Duration) {
    let left = registry
        .stop_all("the controller is shutting down (SIGTERM)", grace)
        .await;
    if left > 0 {
        tracing::error!(
            runs = left,
            "runs still in flight at the end of the grace period: their leakers stop at their \
             deadlines; `oomsday cleanup` reverts what is left"
        );
    }
}

/// Losing the Lease: another replica may start injecting, so stop (revert) everything here.
async fn revert_when_lost(
    mut rx: watch::Receiver<bool>,
    registry: Registry,
    metrics: Arc<Metrics>,
    grace: Duration,
) {
    while rx.changed().await.is_ok() {
        let leading = *rx.borrow_and_update();
        metrics.set_leader(leading);
        if !leading && !registry.is_empty() {
            tracing::warn!("lost the leader Lease: reverting the runs in flight");
            registry
                .stop_all("the controller lost its leader Lease", grace)
                .await;
        }
    }
}

/// The two kube-runtime Controllers, reconciling everything again whenever this replica
/// becomes the leader; and the sender that shuts them down gracefully.
fn controllers(
    client: &Client,
    opts: &Options,
    ctx: Arc<Context>,
    leader_rx: watch::Receiver<bool>,
) -> (
    watch::Sender<bool>,
    impl std::future::Future<Output = ()> + Send + use<>,
) {
    let (exps, runs): (Api<LeakExperiment>, Api<LeakRun>) = match &opts.watch_namespace {
        Some(ns) => (
            Api::namespaced(client.clone(), ns),
            Api::namespaced(client.clone(), ns),
        ),
        None => (Api::all(client.clone()), Api::all(client.clone())),
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let wc = || watcher::Config::default().any_semantic();
    let experiments = Controller::new(exps, wc())
        .owns(runs.clone(), wc())
        .reconcile_all_on(on_becoming_leader(leader_rx.clone()))
        .graceful_shutdown_on(stopped(stop_rx.clone()))
        .run(reconcile_experiment, error_policy, ctx.clone())
        .for_each({
            let metrics = ctx.metrics.clone();
            move |r| {
                match r {
                    // A deleted experiment (no finalizer: it is simply gone): forget its score.
                    Err(kube::runtime::controller::Error::ObjectNotFound(gone)) => {
                        metrics.forget(gone.namespace.as_deref().unwrap_or_default(), &gone.name)
                    }
                    Err(e) => tracing::debug!(error = %e, "experiment controller"),
                    Ok(_) => {}
                }
                futures::future::ready(())
            }
        });
    let run_records = Controller::new(runs, wc())
        .reconcile_all_on(on_becoming_leader(leader_rx.clone()))
        .graceful_shutdown_on(stopped(stop_rx.clone()))
        .run(reconcile_run, error_policy, ctx.clone())
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!(error = %e, "run controller");
            }
        });
    (
        stop_tx,
        futures::future::join(experiments, run_records).map(|_| ()),
    )
}

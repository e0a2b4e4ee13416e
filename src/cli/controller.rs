//! `oomsday controller` (the in-cluster controller) and the commands that talk to it through
//! the API: `oomsday trigger NAME`, `oomsday abort RUN`, `oomsday history EXPERIMENT`.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use kube::Client;
use kube::api::{Api, ListParams, Patch, PatchParams};

use crate::cluster::kube::KubeCluster;
use crate::controller::executor::{EngineExecutor, ForRun};
use crate::controller::history::{history_rows, render_history};
use crate::controller::lifecycle::{ABORT_ANNOTATION, RUN_NOW_ANNOTATION, TargetPolicy};
use crate::controller::manager::{Options, serve};
use crate::engine::ExperimentRef;
use crate::spec::{LeakExperiment, LeakRun};

use super::exit;

/// Run the in-cluster controller: schedules, LeakRun records, crash safety, metrics.
///
/// Watches LeakExperiments, runs their schedules, records each execution as a LeakRun, and
/// reverts every run in flight on shutdown. Meant for the Deployment in deploy/controller.yaml
/// (`kubectl apply -k deploy/`).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// This replica's identity (Lease holder, Event instance): the pod's name.
    #[arg(long, env = "POD_NAME", default_value = "oomsday-controller")]
    pub identity: String,
    /// Namespace of the leader-election Lease: the controller's own.
    #[arg(long, env = "POD_NAMESPACE", default_value = "oomsday-system")]
    pub lease_namespace: String,
    /// Name of the leader-election Lease.
    #[arg(long, default_value = "oomsday-controller")]
    pub lease_name: String,
    /// Watch only this namespace (default: all).
    #[arg(long, env = "OOMSDAY_WATCH_NAMESPACE")]
    pub watch_namespace: Option<String>,
    /// Allow targets in namespaces without the `oomsday.dev/allow=true` label.
    #[arg(long, env = "OOMSDAY_ALLOW_UNLABELLED_NAMESPACES")]
    pub allow_unlabelled_namespaces: bool,
    /// The controller's consent to kube-system, kube-public, kube-node-lease (the experiment
    /// must also set spec.allowSystemNamespaces).
    #[arg(long, env = "OOMSDAY_ALLOW_SYSTEM_NAMESPACES")]
    pub allow_system_namespaces: bool,
    /// Address of /metrics, /healthz and /readyz.
    #[arg(long, env = "OOMSDAY_LISTEN", default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,
    /// Time in-flight runs get to revert on SIGTERM; keep it under the pod's
    /// terminationGracePeriodSeconds.
    #[arg(long, default_value = "50s", value_parser = humantime::parse_duration)]
    pub shutdown_grace: std::time::Duration,
    /// Keep every run's recording (`NS/RUN.jsonl`: every watch event as received, the
    /// leakers' samples, the run's phases; for `oomsday replay`) and its JSON report
    /// (`NS/RUN.json`) in this directory (mount a volume there: the root filesystem is
    /// read-only).
    #[arg(long, env = "OOMSDAY_RECORD_DIR")]
    pub record_dir: Option<std::path::PathBuf>,
    /// In a pod, neither is needed: the ServiceAccount's token is used.
    #[command(flatten)]
    pub cluster: super::cluster::ClusterArgs,
}

/// How the controller's runs name their cluster.
const CONTROLLER_CLUSTER: &str = "in-cluster (oomsday controller)";

pub async fn exec(args: Args) -> anyhow::Result<u8> {
    let client = args.cluster.connect(None).await?.client().clone();
    // Runs are tasks on this runtime, sharing the client (and its connection pool).
    let run_client = client.clone();
    let predict_client = client.clone();
    let executor = EngineExecutor::new(move |run: Option<ForRun<'_>>| {
        let mut cluster = KubeCluster::new(run_client.clone(), CONTROLLER_CLUSTER);
        if let Some(run) = run {
            cluster.set_experiment(&run.exp.name);
            cluster.set_recorder(run.recorder.cloned());
        }
        Ok(cluster)
    })
    .with_record_dir(args.record_dir.clone())
    // spec.predict: a snapshot just before the run, the experiment simulated on it.
    .with_predictor(Arc::new(move |exp: ExperimentRef| {
        let client = predict_client.clone();
        Box::pin(async move {
            let taken = crate::snapshot::Taken {
                at: jiff::Timestamp::now(),
                context: CONTROLLER_CLUSTER.into(),
            };
            crate::snapshot::predict(&client, &taken, &exp).await
        })
    }));
    let opts = Options {
        identity: args.identity,
        lease_namespace: args.lease_namespace,
        lease_name: args.lease_name,
        watch_namespace: args.watch_namespace,
        policy: TargetPolicy {
            require_allow_label: !args.allow_unlabelled_namespaces,
            allow_system_namespaces: args.allow_system_namespaces,
        },
        listen: args.listen,
        shutdown_grace: args.shutdown_grace,
    };
    serve(client, Arc::new(executor), opts).await?;
    Ok(exit::OK)
}

/// Which cluster and namespace the client commands talk to.
#[derive(Debug, clap::Args)]
pub struct Scope {
    #[command(flatten)]
    pub cluster: super::cluster::ClusterArgs,
    /// The namespace (default: the context's).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
}

async fn connect(t: &Scope) -> anyhow::Result<(Client, String)> {
    let cluster = t.cluster.connect(t.namespace.as_deref()).await?;
    Ok((
        cluster.client().clone(),
        cluster.default_namespace().to_string(),
    ))
}

/// Start a run of a LeakExperiment now (the controller picks it up; sets oomsday.dev/run-now).
#[derive(Debug, clap::Args)]
pub struct TriggerArgs {
    /// The LeakExperiment's name.
    pub name: String,
    #[command(flatten)]
    pub scope: Scope,
}

pub async fn exec_trigger(args: TriggerArgs) -> anyhow::Result<u8> {
    let (client, ns) = connect(&args.scope).await?;
    let api: Api<LeakExperiment> = Api::namespaced(client, &ns);
    let stamp = jiff::Timestamp::now().to_string();
    let patch = serde_json::json!({"metadata": {"annotations": {RUN_NOW_ANNOTATION: stamp}}});
    api.patch(&args.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .with_context(|| format!("triggering LeakExperiment {ns}/{}", args.name))?;
    println!(
        "triggered {ns}/{}: the controller starts a run unless one already leaks into the workload \
         (see `kubectl get leakruns -n {ns}`)",
        args.name
    );
    Ok(exit::OK)
}

/// Stop a LeakRun now: the controller reverts it (sets oomsday.dev/abort).
#[derive(Debug, clap::Args)]
pub struct AbortArgs {
    /// The LeakRun's name.
    pub run: String,
    /// Why, shown on the run.
    #[arg(long, default_value = "oomsday abort")]
    pub reason: String,
    #[command(flatten)]
    pub scope: Scope,
}

pub async fn exec_abort(args: AbortArgs) -> anyhow::Result<u8> {
    let (client, ns) = connect(&args.scope).await?;
    let api: Api<LeakRun> = Api::namespaced(client, &ns);
    let patch = serde_json::json!({"metadata": {"annotations": {ABORT_ANNOTATION: args.reason}}});
    api.patch(&args.run, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .with_context(|| format!("aborting LeakRun {ns}/{}", args.run))?;
    println!(
        "asked the controller to abort {ns}/{}; it reverts, then records why",
        args.run
    );
    Ok(exit::OK)
}

/// Print the scores of an experiment's past runs (its LeakRuns), oldest first.
#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// The LeakExperiment's name.
    pub experiment: String,
    #[command(flatten)]
    pub scope: Scope,
}

pub async fn exec_history(args: HistoryArgs) -> anyhow::Result<u8> {
    let (client, ns) = connect(&args.scope).await?;
    let api: Api<LeakRun> = Api::namespaced(client, &ns);
    let runs = api
        .list(&ListParams::default())
        .await
        .with_context(|| format!("listing LeakRuns in {ns}"))?;
    let rows = history_rows(&runs.items, &args.experiment);
    print!("{}", render_history(&args.experiment, &rows));
    Ok(exit::OK)
}

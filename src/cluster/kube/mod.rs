//! The real cluster: [`KubeCluster`] implements the engine's [`Cluster`] seam over kube-rs.
//!
//! Every API call is bounded by a timeout and retried on 429/5xx ([`CallPolicy`]); changes are
//! server-side applies under the field manager `oomsday`, never forced; observation is by
//! watches only, fed through the pure classifier.

mod call;
mod ops;
mod preflight;
mod watch;

pub use call::CallPolicy;
pub use ops::conflict_managers;
pub use preflight::{
    Access, Marked, SYSTEM_NAMESPACES, matching_pdbs, node_allocatable, required_access,
};
pub use watch::Observer;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{LimitRange, Pod};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::Selector;
use kube::{Api, Client, Config, ResourceExt};

use self::ops::{Workload, WorkloadView};
use crate::defences::Defences;
use crate::engine::{Cluster, InjectionPlan};
use crate::inject::{self, FIELD_MANAGER};
use crate::keys::{DEADLINE, RUN_ID};
use crate::observe::classify::TargetRef;
use crate::observe::{Observation, Time};
use crate::recording::{RecordedExperiment, Recorder, RunNote};
use crate::spec::{Injected, InjectionMode, TargetKind};
use crate::{Error, Result};

/// Which cluster to talk to, by kubeconfig conventions.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// A kubeconfig file; default: `$KUBECONFIG`, then `~/.kube/config`, then in-cluster.
    pub kubeconfig: Option<PathBuf>,
    /// A context of the kubeconfig; default: its current context.
    pub context: Option<String>,
    /// Overrides the context's namespace as [`KubeCluster::default_namespace`].
    pub namespace: Option<String>,
}

/// How long preflight waits for the watches' first lists (the baseline) before it goes on.
const FIRST_LISTS: Duration = Duration::from_secs(30);

/// A real cluster behind the engine's seam.
pub struct KubeCluster {
    client: Client,
    name: String,
    default_namespace: String,
    experiment: String,
    policy: CallPolicy,
    scrape: Option<Duration>,
    recorder: Option<Arc<Recorder>>,
    /// The run in progress, from its preflight on: a suite's next run starts a new one.
    session: Option<Session>,
}

/// What one run holds on the cluster: its target and the watches that observe it, started
/// at preflight (their first lists are the run's baseline).
struct Session {
    target: TargetRef,
    observer: Observer,
}

impl std::fmt::Debug for KubeCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // kube's Client has no Debug; the rest says which cluster this is.
        f.debug_struct("KubeCluster")
            .field("name", &self.name)
            .field("default_namespace", &self.default_namespace)
            .field("experiment", &self.experiment)
            .field("policy", &self.policy)
            .field("target", &self.session.as_ref().map(|s| &s.target))
            .finish_non_exhaustive()
    }
}

/// A workload or pod that an earlier run left marked, as `cleanup` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leftover {
    /// A sidecar injection: revertible.
    Workload {
        namespace: String,
        kind: TargetKind,
        name: String,
        run_id: String,
        deadline: Option<String>,
    },
    /// An ephemeral leaker: cannot be removed; it ends at its deadline.
    Ephemeral {
        namespace: String,
        pod: String,
        container: String,
        deadline: Option<String>,
    },
}

impl KubeCluster {
    /// Connects by kubeconfig conventions.
    pub async fn connect(opts: ConnectOptions) -> Result<Self> {
        let kube_opts = KubeConfigOptions {
            context: opts.context.clone(),
            ..KubeConfigOptions::default()
        };
        let (config, name) = match &opts.kubeconfig {
            Some(path) => {
                let kc = Kubeconfig::read_from(path).map_err(|e| {
                    Error::Kubeconfig(format!("kubeconfig {}: {e}", path.display()))
                })?;
                let name = opts.context.clone().or(kc.current_context.clone());
                let config = Config::from_custom_kubeconfig(kc, &kube_opts)
                    .await
                    .map_err(|e| {
                        Error::Kubeconfig(format!("kubeconfig {}: {e}", path.display()))
                    })?;
                (config, name)
            }
            None if opts.context.is_some() => {
                let config = Config::from_kubeconfig(&kube_opts)
                    .await
                    .map_err(|e| Error::Kubeconfig(format!("kubeconfig: {e}")))?;
                (config, opts.context.clone())
            }
            None => {
                let config = Config::infer()
                    .await
                    .map_err(|e| Error::Kubeconfig(format!("no cluster configured: {e}")))?;
                let name = Kubeconfig::read().ok().and_then(|k| k.current_context);
                (config, name)
            }
        };
        let default_namespace = opts
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        let client = Client::try_from(config)?;
        let name = match name {
            Some(ctx) => format!("context {ctx}"),
            None => "in-cluster".to_string(),
        };
        let mut cluster = Self::new(client, name);
        cluster.default_namespace = default_namespace;
        Ok(cluster)
    }

    /// Wraps a client (tests hand in a mock API server's).
    pub fn new(client: Client, name: impl Into<String>) -> Self {
        KubeCluster {
            client,
            name: name.into(),
            default_namespace: "default".into(),
            experiment: String::new(),
            policy: CallPolicy::default(),
            scrape: Some(watch::DEFAULT_SCRAPE),
            session: None,
            recorder: None,
        }
    }

    /// The namespace experiments without one run in: `-n`, else the context's, else `default`.
    pub fn default_namespace(&self) -> &str {
        &self.default_namespace
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The experiment's name, written into the `oomsday.dev/experiment` annotation.
    pub fn set_experiment(&mut self, name: impl Into<String>) {
        self.experiment = name.into();
    }

    /// How API calls are bounded and retried.
    pub fn with_policy(mut self, policy: CallPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// How often the leakers' own bytes are read through the API server's pod proxy (needs
    /// `get pods/proxy`; without it the bytes are simply missing); `None` never reads them.
    pub fn with_scrape_interval(mut self, every: Option<Duration>) -> Self {
        self.scrape = every;
        self
    }

    /// Records the runs: every watch event as received, the leakers' metrics and the
    /// experiment and defences of each run (`oomsday run --record`).
    pub fn set_recorder(&mut self, recorder: Option<Arc<Recorder>>) {
        self.recorder = recorder;
    }

    /// Asks the API which of `needed` the caller may do; an error names every refusal.
    pub async fn check_access(&self, needed: &[Access]) -> Result<()> {
        let api: Api<SelfSubjectAccessReview> = Api::all(self.client.clone());
        let pp = PostParams::default();
        let mut missing = Vec::new();
        for a in needed {
            let review = SelfSubjectAccessReview {
                spec: SelfSubjectAccessReviewSpec {
                    resource_attributes: Some(ResourceAttributes {
                        verb: Some(a.verb.into()),
                        group: Some(a.group.into()),
                        resource: Some(a.resource.into()),
                        subresource: a.subresource.map(Into::into),
                        namespace: a.namespace.clone(),
                        ..ResourceAttributes::default()
                    }),
                    ..SelfSubjectAccessReviewSpec::default()
                },
                ..SelfSubjectAccessReview::default()
            };
            let what = format!("SelfSubjectAccessReview for {a}");
            let answer = self.policy.call(&what, || api.create(&pp, &review)).await?;
            if !answer.status.is_some_and(|s| s.allowed) {
                missing.push(a.clone());
            }
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(preflight::forbidden(&missing))
        }
    }

    async fn workload(&self, kind: TargetKind, ns: &str, name: &str) -> Result<WorkloadView> {
        Ok(match kind {
            TargetKind::Deployment => {
                ops::get::<Deployment>(&self.client, &self.policy, kind, ns, name)
                    .await?
                    .view()
            }
            TargetKind::StatefulSet => {
                ops::get::<StatefulSet>(&self.client, &self.policy, kind, ns, name)
                    .await?
                    .view()
            }
        })
    }

    async fn apply(
        &self,
        kind: TargetKind,
        ns: &str,
        name: &str,
        patch: &serde_json::Value,
        dry_run: bool,
    ) -> Result<()> {
        let (c, p) = (&self.client, &self.policy);
        match kind {
            TargetKind::Deployment => {
                ops::apply::<Deployment>(c, p, kind, ns, name, patch, dry_run)
                    .await
                    .map(drop)
            }
            TargetKind::StatefulSet => {
                ops::apply::<StatefulSet>(c, p, kind, ns, name, patch, dry_run)
                    .await
                    .map(drop)
            }
        }
    }

    /// Reverts a sidecar injection on a workload by its identity (what `cleanup` calls).
    pub async fn revert_workload(&self, kind: TargetKind, ns: &str, name: &str) -> Result<()> {
        let (c, p) = (&self.client, &self.policy);
        match kind {
            TargetKind::Deployment => ops::revert::<Deployment>(c, p, kind, ns, name).await,
            TargetKind::StatefulSet => ops::revert::<StatefulSet>(c, p, kind, ns, name).await,
        }
    }

    /// Running pods of the workload, by name.
    async fn running_pods(&self, ns: &str, selector: &Selector) -> Result<Vec<String>> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let lp = ListParams::default().labels(&selector.to_string());
        let pods = self
            .policy
            .call(&format!("list pods in {ns}"), || api.list(&lp))
            .await?;
        Ok(pods
            .items
            .iter()
            .filter(|p| crate::objects::is_running(p))
            .map(|p| p.name_any())
            .collect())
    }

    async fn ephemeral_targets(&self, plan: &InjectionPlan) -> Result<Vec<String>> {
        let t = &plan.spec.target;
        // The run's own watch of the target's pods knows which run; a dry run has none and
        // asks the API.
        let pods = match &self.session {
            Some(s) => s.observer.running_target_pods(),
            None => {
                let view = self.workload(t.kind, &plan.namespace, &t.name).await?;
                let selector = Selector::try_from(view.selector).map_err(|e| {
                    Error::Invalid(format!("{} {}: selector: {e}", t.kind.as_str(), t.name))
                })?;
                self.running_pods(&plan.namespace, &selector).await?
            }
        };
        let chosen = inject::choose_pods(&plan.run_id, &pods, plan.spec.injection.pods);
        if chosen.is_empty() {
            return Err(Error::Invalid(format!(
                "{} {}/{} has no running pod to attach an ephemeral leaker to",
                t.kind.as_str(),
                plan.namespace,
                t.name
            )));
        }
        Ok(chosen)
    }

    async fn attach(
        &self,
        ns: &str,
        pod: &str,
        patch: &serde_json::Value,
        dry_run: bool,
    ) -> Result<()> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let mut pp = PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..PatchParams::default()
        };
        pp.dry_run = dry_run;
        let patch = Patch::Strategic(patch);
        let what = format!("attach an ephemeral leaker to pod {ns}/{pod}");
        self.policy
            .call(&what, || api.patch_ephemeral_containers(pod, &pp, &patch))
            .await
            .map(drop)
            .map_err(|e| match e {
                Error::Kube(kube::Error::Api(s)) if s.code == 404 => Error::NotFound {
                    kind: "Pod".into(),
                    namespace: ns.into(),
                    name: pod.into(),
                },
                other => other,
            })
    }

    /// `oomsday run --dry-run`: resolves the target, sends the exact patch with the API's
    /// server-side dry run (admission and validation run, nothing changes) and returns it as
    /// YAML.
    pub async fn dry_run(&mut self, plan: &InjectionPlan) -> Result<String> {
        let t = &plan.spec.target;
        preflight::check_namespace(&plan.namespace, plan.spec.allow_system_namespaces)?;
        let docs = match plan.spec.injection.mode {
            InjectionMode::Sidecar => {
                let patch = inject::sidecar_patch(plan, &self.experiment)?;
                self.workload(t.kind, &plan.namespace, &t.name).await?;
                self.apply(t.kind, &plan.namespace, &t.name, &patch, true)
                    .await?;
                vec![(
                    format!("# server-side apply, field manager {FIELD_MANAGER}"),
                    patch,
                )]
            }
            InjectionMode::Ephemeral => {
                let patch = inject::ephemeral_patch(plan)?;
                let mut docs = Vec::new();
                for pod in self.ephemeral_targets(plan).await? {
                    self.attach(&plan.namespace, &pod, &patch, true).await?;
                    docs.push((
                        format!("# strategic merge patch of pods/{pod}/ephemeralcontainers"),
                        patch.clone(),
                    ));
                }
                docs
            }
        };
        let mut out = String::new();
        for (comment, doc) in docs {
            let yaml = serde_saphyr::to_string(&doc)
                .map_err(|e| Error::Internal(format!("rendering the patch: {e}")))?;
            out.push_str(&format!("---\n{comment}\n{yaml}"));
        }
        Ok(out)
    }

    /// Every workload marked with `oomsday.dev/run-id`, and every pod with an ephemeral leaker
    /// still running, in `namespace` or everywhere.
    pub async fn find_leftovers(&self, namespace: Option<&str>) -> Result<Vec<Leftover>> {
        let lp = ListParams::default().labels(RUN_ID);
        let mut out = Vec::new();
        macro_rules! marked {
            ($ty:ty, $kind:expr) => {{
                let api: Api<$ty> = match namespace {
                    Some(ns) => Api::namespaced(self.client.clone(), ns),
                    None => Api::all(self.client.clone()),
                };
                let list = self
                    .policy
                    .call(concat!("list marked ", stringify!($ty), "s"), || {
                        api.list(&lp)
                    })
                    .await?;
                for w in list.items {
                    out.push(Leftover::Workload {
                        namespace: w.namespace().unwrap_or_default(),
                        kind: $kind,
                        name: w.name_any(),
                        run_id: w.labels().get(RUN_ID).cloned().unwrap_or_default(),
                        deadline: w.annotations().get(DEADLINE).cloned(),
                    });
                }
            }};
        }
        marked!(Deployment, TargetKind::Deployment);
        marked!(StatefulSet, TargetKind::StatefulSet);
        let pods: Api<Pod> = match namespace {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        };
        let all = ListParams::default();
        let list = self.policy.call("list pods", || pods.list(&all)).await?;
        for p in list.items {
            out.extend(ephemeral_leftovers(&p));
        }
        Ok(out)
    }
}

/// Running ephemeral leakers of a pod.
fn ephemeral_leftovers(p: &Pod) -> Vec<Leftover> {
    let running: Vec<&str> = p
        .status
        .as_ref()
        .and_then(|s| s.ephemeral_container_statuses.as_ref())
        .into_iter()
        .flatten()
        .filter(|s| s.state.as_ref().is_some_and(|st| st.running.is_some()))
        .map(|s| s.name.as_str())
        .collect();
    p.spec
        .as_ref()
        .and_then(|s| s.ephemeral_containers.as_ref())
        .into_iter()
        .flatten()
        .filter(|c| crate::keys::is_leaker(&c.name) && running.contains(&c.name.as_str()))
        .map(|c| Leftover::Ephemeral {
            namespace: p.namespace().unwrap_or_default(),
            pod: p.name_any(),
            container: c.name.clone(),
            deadline: c
                .env
                .iter()
                .flatten()
                .find(|e| e.name == oomsday_core::leaker_config::ENV_DEADLINE)
                .and_then(|e| e.value.clone()),
        })
        .collect()
}

impl Cluster for KubeCluster {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn simulated(&self) -> bool {
        false
    }

    fn now(&self) -> Time {
        // A real cluster's clock is the wall clock; the engine never reads it itself.
        Time::now()
    }

    async fn preflight(&mut self, plan: &InjectionPlan) -> Result<Defences> {
        // A suite runs experiments one after another on one cluster: each run watches its own
        // target from its own start.
        self.session = None;
        let started = plan.started;
        let t = &plan.spec.target;
        let ns = plan.namespace.as_str();
        preflight::check_namespace(ns, plan.spec.allow_system_namespaces)?;
        inject::check_run_id(&plan.run_id)?;
        self.check_access(&required_access(ns, t.kind, plan.spec.injection.mode))
            .await?;
        let view = self.workload(t.kind, ns, &t.name).await?;
        self.claim(plan, &view).await?;
        let target = TargetRef::new(
            ns,
            t.kind,
            &t.name,
            view.selector.clone(),
            view.template.as_ref(),
        )?;
        // Observation starts now: the watches' first lists are the state the run begins in
        // (the baseline), and the one list of budgets and nodes every consumer shares.
        let mut observer = Observer::start(
            self.client.clone(),
            target.clone(),
            started,
            self.recorder.clone(),
        );
        observer.set_scrape_interval(self.scrape);
        let missing = observer.wait_first_lists(FIRST_LISTS).await;
        if !missing.is_empty() {
            tracing::warn!(
                ?missing,
                "the first lists took longer than {FIRST_LISTS:?}: the baseline may be incomplete"
            );
        }
        let defences = self.defences(plan, view, &observer).await?;
        self.session = Some(Session { target, observer });
        self.record_preflight(plan, &defences);
        Ok(defences)
    }

    async fn inject(&mut self, plan: &InjectionPlan) -> Result<Injected> {
        // The watches started at preflight, before the change: nothing the leak does is missed.
        self.session()?;
        let t = &plan.spec.target;
        let ns = plan.namespace.as_str();
        match plan.spec.injection.mode {
            InjectionMode::Sidecar => {
                // Injected is when the API accepted the template change: the rollout that
                // follows (and its dip in availability) is observed, not waited for.
                let patch = inject::sidecar_patch(plan, &self.experiment)?;
                self.apply(t.kind, ns, &t.name, &patch, false).await?;
                tracing::info!(kind = t.kind.as_str(), %ns, name = %t.name, "leaker applied; the rollout is observed");
                Ok(inject::sidecar_record(plan))
            }
            InjectionMode::Ephemeral => {
                let patch = inject::ephemeral_patch(plan)?;
                let pods = self.ephemeral_targets(plan).await?;
                for pod in &pods {
                    self.attach(ns, pod, &patch, false).await?;
                }
                let mut record = inject::sidecar_record(plan);
                record.mode = InjectionMode::Ephemeral;
                record.container = inject::ephemeral_container_name(&plan.run_id);
                record.pods = pods;
                Ok(record)
            }
        }
    }

    async fn revert(&mut self, record: &Injected) -> Result<()> {
        match record.mode {
            InjectionMode::Sidecar => {
                self.revert_workload(record.kind, &record.namespace, &record.name)
                    .await
            }
            InjectionMode::Ephemeral => {
                // The API cannot remove an ephemeral container; the leaker exits at its deadline.
                tracing::warn!(
                    pods = ?record.pods,
                    deadline = %record.deadline,
                    "ephemeral leakers cannot be removed; they free their memory and exit at their deadline"
                );
                Ok(())
            }
        }
    }

    async fn observe(&mut self, until: Time) -> Result<Vec<Observation>> {
        let session = self.session()?;
        Ok(session.observer.next_batch(until, Time::now).await)
    }
}

impl KubeCluster {
    /// Makes sure no other run leaks into the workload; an earlier run's leftover is reverted.
    async fn claim(&self, plan: &InjectionPlan, view: &WorkloadView) -> Result<()> {
        let (t, ns) = (&plan.spec.target, plan.namespace.as_str());
        match preflight::marked(&view.annotations, &plan.run_id, self.now()) {
            Marked::Free => Ok(()),
            Marked::Active { run_id, deadline } => Err(Error::Busy(format!(
                "{} {ns}/{} is in oomsday run {run_id} until {deadline}; wait for it or run \
                 `oomsday cleanup -n {ns}`",
                t.kind.as_str(),
                t.name
            ))),
            Marked::Leftover { run_id } => {
                tracing::warn!(%run_id, "reverting a leftover injection of an earlier run");
                self.revert_workload(t.kind, ns, &t.name).await
            }
        }
    }

    /// The target's defences: its template and replicas, the budgets and nodes from the
    /// watches' first lists, and the namespace's LimitRanges and HPAs.
    async fn defences(
        &self,
        plan: &InjectionPlan,
        view: WorkloadView,
        observer: &Observer,
    ) -> Result<Defences> {
        let (t, ns) = (&plan.spec.target, plan.namespace.as_str());
        let lp = ListParams::default();
        let lr_api: Api<LimitRange> = Api::namespaced(self.client.clone(), ns);
        let limit_ranges = self
            .policy
            .call("list limitranges", || lr_api.list(&lp))
            .await?;
        let hpa_api: Api<HorizontalPodAutoscaler> = Api::namespaced(self.client.clone(), ns);
        let hpas = self
            .policy
            .call("list horizontalpodautoscalers", || hpa_api.list(&lp))
            .await?;
        let nodes = observer.nodes();
        Ok(Defences {
            namespace: ns.to_string(),
            kind: t.kind,
            name: t.name.clone(),
            replicas: view.replicas,
            pdbs: preflight::matching_pdbs(observer.budgets(), view.template.as_ref()),
            template: view.template,
            limit_ranges: limit_ranges.items,
            hpas: preflight::matching_hpas(hpas.items, t.kind, &t.name),
            node_allocatable: preflight::node_allocatable(&nodes),
            node_capacity: crate::objects::node_capacity(&nodes),
            nodes: observer
                .classifier()
                .target_nodes()
                .map(str::to_string)
                .collect(),
        })
    }

    /// A recorded run starts with its experiment and the defences read in preflight.
    fn record_preflight(&self, plan: &InjectionPlan, defences: &Defences) {
        if let Some(r) = &self.recorder {
            r.run(
                self.now(),
                RunNote {
                    run_id: plan.run_id.clone(),
                    phase: None,
                    detail: String::new(),
                    reason: None,
                    experiment: Some(RecordedExperiment {
                        name: self.experiment.clone(),
                        namespace: plan.namespace.clone(),
                        spec: plan.spec.clone(),
                    }),
                    defences: Some(Box::new(defences.clone())),
                },
            );
        }
    }

    /// The run in progress; injecting or observing without a preflight is a bug of the caller.
    fn session(&mut self) -> Result<&mut Session> {
        self.session.as_mut().ok_or_else(|| {
            Error::Internal("preflight must run before injecting or observing".into())
        })
    }
}

use super::*;
use crate::cli::conclude::summary_line;
use crate::engine::Tally;
use crate::engine::testing::ScriptedCluster;
use crate::observe::{DisruptionCause, Happening, Observation, PodRef};
use crate::report::Format;
use crate::spec::{LeakExperiment, LeakExperimentSpec, Phase};
use crate::testkit::t;
use serde_json::json;

fn spec() -> LeakExperimentSpec {
    serde_json::from_value(json!({
        "target": {"kind": "Deployment", "name": "checkout"},
        "leak": {"pattern": "linear", "rate": "40Mi/min", "max": "2Gi"},
        "duration": "30m",
        "recovery": "10m",
        "hypothesis": {"maxBystanderEvictions": 0},
    }))
    .unwrap()
}

fn sourced(name: Option<&str>, namespace: Option<&str>) -> SourcedExperiment {
    let mut experiment = LeakExperiment::new(name.unwrap_or(""), spec());
    experiment.metadata.name = name.map(str::to_string);
    experiment.metadata.namespace = namespace.map(str::to_string);
    SourcedExperiment {
        file: PathBuf::from("experiments/black-friday.yaml"),
        line: 1,
        experiment,
    }
}

#[test]
fn namespace_precedence_and_names() {
    let s = sourced(Some("bf"), Some("shop"));
    assert_eq!(
        experiment_ref(&s, Some("staging"), "default")
            .unwrap()
            .namespace,
        "staging"
    );
    assert_eq!(
        experiment_ref(&s, None, "default").unwrap().namespace,
        "shop"
    );
    let s = sourced(None, None);
    let e = experiment_ref(&s, None, "team-ns").unwrap();
    assert_eq!(e.namespace, "team-ns");
    assert_eq!(e.name, "black-friday");
}

fn pod(name: &str, target: bool) -> PodRef {
    PodRef {
        name: name.into(),
        node: Some("n1".into()),
        target,
    }
}

#[test]
fn status_line_shows_the_figures() {
    let mut tally = Tally::new(t(0));
    for o in [
        Observation::new(t(1), Happening::workload(4, 3)),
        Observation::new(
            t(2),
            Happening::LeakerBytes {
                pod: "checkout-1".into(),
                bytes: 480 << 20,
            },
        ),
        Observation::new(
            t(3),
            Happening::PodEvicted {
                pod: pod("cart-1", false),
                cause: DisruptionCause::TerminationByKubelet,
                message: String::new(),
            },
        ),
        Observation::new(
            t(4),
            Happening::Budget {
                name: "checkout".into(),
                current_healthy: 3,
                desired_healthy: 3,
                disruptions_allowed: 0,
                expected_pods: 4,
            },
        ),
    ] {
        tally.record(&o);
    }
    let p = Progress {
        experiment: "bf",
        run_id: "bf-1",
        phase: Phase::Leaking,
        started: t(0),
        now: t(723),
        until: Some(t(1800)),
        tally: &tally,
        new: &[],
        note: None,
        reason: None,
    };
    assert_eq!(
        status_line(&p),
        "[Leaking] 12m 3s, 17m 57s left · leaked 480.00 MiB · 0 OOM kills · 1 evictions \
             (1 bystanders) · ready 3/4 (budget 3)"
    );
}

#[tokio::test]
async fn conclude_writes_reports_and_maps_the_outcome() {
    let exp = experiment_ref(&sourced(Some("bf"), Some("shop")), None, "default").unwrap();
    let evicted = Observation::new(
        t(100),
        Happening::PodEvicted {
            pod: pod("cart-1", false),
            cause: DisruptionCause::TerminationByKubelet,
            message: String::new(),
        },
    );
    let mut cluster = ScriptedCluster::new(
        t(0),
        vec![
            Observation::new(t(0), Happening::workload(4, 4)),
            Observation::new(
                t(5),
                Happening::LeakerStarted {
                    pod: pod("checkout-1", true),
                },
            ),
            evicted,
        ],
    );
    let opts = RunOptions::new("bf-1");
    let result = engine::run_unattended(&mut cluster, &exp, &opts).await;
    let dir = std::env::temp_dir().join(format!("oomsday-run-test-{}", std::process::id()));
    let reports = ReportArgs {
        min_score: None,
        out: dir.clone(),
        format: vec![Format::Json],
    };
    let (report, outcome) = conclude(result, None, Vec::new(), &reports).unwrap();
    let report = report.unwrap();
    // A bystander was evicted and the hypothesis allows none.
    assert_eq!(report.score.verdict, crate::spec::Verdict::Failed);
    assert_eq!(outcome, Outcome::HypothesisFailed);
    assert_eq!(exit::of(outcome), exit::FAILED);
    let written =
        std::fs::read_to_string(dir.join(format!("{}.json", report.file_stem()))).unwrap();
    let back = Report::from_json(&written).unwrap();
    assert_eq!(back.record.run_id, "bf-1");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_run_that_never_injected_writes_one_small_report_and_no_score() {
    let exp = experiment_ref(&sourced(Some("bf"), Some("shop")), None, "default").unwrap();
    let mut cluster = ScriptedCluster::new(t(0), vec![]);
    cluster.preflight =
        crate::engine::testing::Script::Fail("Deployment shop/checkout not found".into());
    let result = engine::run_unattended(&mut cluster, &exp, &RunOptions::new("bf-2")).await;
    let dir = std::env::temp_dir().join(format!("oomsday-notrun-{}", std::process::id()));
    let reports = ReportArgs {
        min_score: Some(80),
        out: dir.clone(),
        format: vec![Format::Json, Format::Md, Format::Junit, Format::Html],
    };
    let (report, outcome) = conclude(result, None, Vec::new(), &reports).unwrap();
    let report = report.unwrap();
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(files, [format!("{}.json", report.file_stem())]);
    assert_eq!(report.score.total, None);
    assert_eq!(outcome, Outcome::Inconclusive);
    let line = summary_line(&report, outcome);
    assert!(
        line.contains(": inconclusive — not scored, verdict Inconclusive, phase Failed"),
        "{line}"
    );
}

fn args(path: PathBuf) -> Args {
    Args {
        path,
        cluster: crate::cli::cluster::ClusterArgs {
            kubeconfig: Some(PathBuf::from("/nonexistent/kubeconfig")),
            context: None,
        },
        namespace: None,
        dry_run: false,
        record: None,
        reports: ReportArgs {
            min_score: None,
            out: std::env::temp_dir(),
            format: vec![Format::Json],
        },
        no_progress: true,
        predict: false,
    }
}

#[tokio::test]
async fn invalid_input_exits_2_before_touching_a_cluster() {
    let code = exec(args(PathBuf::from("/nonexistent/experiment.yaml")))
        .await
        .unwrap();
    assert_eq!(code, exit::USAGE);

    // A probe URL that cannot be used is invalid input too, found before connecting (the
    // kubeconfig above does not exist, so reaching it would be an error instead).
    let dir = std::env::temp_dir().join(format!("oomsday-run-probe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad-probe.yaml");
    std::fs::write(
        &file,
        "apiVersion: oomsday.dev/v1alpha1
kind: LeakExperiment
metadata: {name: bad-probe, namespace: shop}
spec:
  target: {kind: Deployment, name: checkout}
  leak: {pattern: linear, rate: 40Mi/min, max: 2Gi}
  duration: 30m
  probes: [{name: health, http: {url: 'ftp://checkout/healthz'}}]
",
    )
    .unwrap();
    let res = exec(args(file)).await;
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(res.unwrap(), exit::USAGE);
}

use serde_json::json;

use super::*;
use crate::observe::{AlertState, DisruptionCause, Happening, NodeConditionKind};
use crate::score::testkit::*;
use crate::spec::Verdict;

/// The Black Friday story as a timeline: no limit, three nodes under pressure and NotReady, 41
/// bystanders evicted, the alert firing after the damage.
fn story(simulated: bool) -> Report {
    let mut events = vec![
        (0, leaker_started("checkout-1", "n1")),
        (0, leaker_started("checkout-2", "n2")),
        (0, workload(4, 4)),
        (
            0,
            Happening::Budget {
                name: "checkout".into(),
                current_healthy: 4,
                desired_healthy: 3,
                disruptions_allowed: 1,
                expected_pods: 4,
            },
        ),
    ];
    for i in 0..10 {
        events.push((
            i * 30,
            Happening::LeakerBytes {
                pod: "checkout-1".into(),
                bytes: (800 + 120 * i as u64) << 20,
            },
        ));
        events.push((
            i * 30 + 5,
            Happening::LeakerBytes {
                pod: "checkout-2".into(),
                bytes: (800 + 100 * i as u64) << 20,
            },
        ));
    }
    for (k, n) in ["n1", "n2", "n3"].iter().enumerate() {
        let k = k as i64;
        events.push((
            100 + k,
            Happening::NodeCondition {
                node: n.to_string(),
                condition: NodeConditionKind::MemoryPressure,
                status: true,
                reason: "KubeletHasInsufficientMemory".into(),
            },
        ));
        events.push((
            300 + k,
            Happening::NodeCondition {
                node: n.to_string(),
                condition: NodeConditionKind::Ready,
                status: false,
                reason: "KubeletNotReady".into(),
            },
        ));
        events.push((
            500 + k,
            Happening::NodeCondition {
                node: n.to_string(),
                condition: NodeConditionKind::Ready,
                status: true,
                reason: String::new(),
            },
        ));
    }
    for i in 0..41 {
        events.push((
            120 + i,
            Happening::PodEvicted {
                pod: pod(
                    &format!("cart-{i}"),
                    ["n1", "n2", "n3"][i as usize % 3],
                    false,
                ),
                cause: DisruptionCause::TerminationByKubelet,
                message: "The node was low on resource: memory.".into(),
            },
        ));
    }
    events.push((200, workload(4, 1)));
    // As the disruption controller follows the pods.
    events.push((
        200,
        Happening::Budget {
            name: "checkout".into(),
            current_healthy: 1,
            desired_healthy: 3,
            disruptions_allowed: 0,
            expected_pods: 4,
        },
    ));
    events.push((
        220,
        Happening::Alert {
            name: "PodMemoryUsageHigh".into(),
            state: AlertState::Firing,
        },
    ));
    let spec = spec(json!({
        "prometheus": {"url": "http://127.0.0.1:9090"},
        "expectAlerts": [{"name": "PodMemoryUsageHigh", "within": "10m"}],
        "hypothesis": {"pdbHolds": true, "maxBystanderEvictions": 0, "recoveredWithin": "5m"},
    }));
    let mut r = record(spec, events);
    r.simulated = simulated;
    r.defences = Some(defences(
        json!({
            "metadata": {"labels": {"app": "checkout"}},
            "spec": {"containers": [{"name": "app", "image": "shop/checkout:1"}]}
        }),
        4,
    ));
    Report::new(r, None)
}

#[test]
fn json_round_trip_and_schema_version() {
    let r = story(false);
    let text = render(&r, Format::Json);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["schemaVersion"], 2);
    assert!(v["score"]["facets"].is_array());
    assert_eq!(Report::from_json(&text).unwrap(), r);
    // Without a prediction, version 1 had the same shape.
    let old = text.replacen("\"schemaVersion\": 2", "\"schemaVersion\": 1", 1);
    assert_eq!(Report::from_json(&old).unwrap(), r);

    let future = text.replacen("\"schemaVersion\": 2", "\"schemaVersion\": 3", 1);
    let e = Report::from_json(&future).unwrap_err().to_string();
    assert!(e.contains("schemaVersion 3"), "{e}");
    assert!(Report::from_json("{}").is_err());
}

#[test]
fn recommendation_tells_the_story() {
    let r = story(false);
    let recs = recommendations(&r);
    assert!(
        recs.iter().any(|x| x.starts_with("checkout has no memory limit: the leak reached 3 nodes and evicted or OOM-killed 41 bystander pods")),
        "{recs:#?}"
    );
    assert!(
        recs.iter().any(|x| x.contains("went NotReady")),
        "{recs:#?}"
    );
    assert!(
        recs.iter()
            .any(|x| x.contains("fired only after the damage")),
        "{recs:#?}"
    );
    assert_eq!(r.score.verdict, Verdict::Failed);
}

#[test]
fn kube_reserved_follows_gke_s_tiers() {
    const GIB: u64 = 1 << 30;
    // 25% of 4 GiB + 20% of 4 + 10% of 8 + 6% of 16 = 3.56 GiB for the story's 32 GiB nodes.
    let r = text::gke_kube_reserved(32 * GIB);
    assert_eq!(r.div_ceil(1 << 20), 3646, "{r}");
    assert_eq!(text::gke_kube_reserved(4 * GIB).div_ceil(1 << 20), 1024);
    assert_eq!(text::gke_kube_reserved(512 << 20), 255 << 20);
    // Above 128 GiB only 2% more per GiB.
    let big = text::gke_kube_reserved(256 * GIB) - text::gke_kube_reserved(128 * GIB);
    assert_eq!(big.div_ceil(1 << 20), (128 * 1024 * 2) / 100 + 1);
}

#[test]
fn lost_nodes_get_a_reservation_for_their_size_and_evicted_bystanders_a_priority() {
    let mut r = story(false);
    if let Some(d) = r.record.defences.as_mut() {
        d.node_capacity = vec![32 << 30, 32 << 30, 32 << 30];
        d.node_allocatable = vec![(32 << 30) - (100 << 20); 3];
    }
    let recs = recommendations(&r);
    let nodes = recs
        .iter()
        .find(|x| x.contains("went NotReady"))
        .expect("a recommendation for the lost nodes");
    assert!(
        nodes.contains(
            "on nodes of 32.00 GiB, kubeReserved memory: 3646Mi and evictionHard \
             memory.available: 100Mi (today 100.00 MiB is kept back)"
        ),
        "{nodes}"
    );
    assert!(nodes.contains("GKE's reservation formula"), "{nodes}");
    // A node whose allocatable was not reported: the sizes stand, what is kept back is not said.
    let mut short = r.clone();
    if let Some(d) = short.record.defences.as_mut() {
        d.node_allocatable.pop();
    }
    let recs_short = recommendations(&short);
    let short_nodes = recs_short
        .iter()
        .find(|x| x.contains("went NotReady"))
        .expect("a recommendation for the lost nodes");
    assert!(
        short_nodes.contains("kubeReserved memory: 3646Mi") && !short_nodes.contains("kept back"),
        "{short_nodes}"
    );
    // The story's target was never evicted, its bystanders were: a priority with a number.
    let order = recs
        .iter()
        .find(|x| x.contains("evicted before checkout"))
        .expect("a priority recommendation");
    assert!(
        order.starts_with("41 bystander pods (cart-0, cart-1, cart-2 and 38 more) were evicted"),
        "{order}"
    );
    assert!(
        order.contains("above checkout's 0 (no priorityClassName), e.g. value: 1000"),
        "{order}"
    );
    assert!(
        order.contains("Pod selection for kubelet eviction"),
        "{order}"
    );
}

#[test]
fn a_simulated_run_recommends_memory_from_its_model_and_round_trips_it() {
    use crate::core::Quantity;
    let one = Quantity::from_bytes(1 << 30);
    let memory = vec![crate::predict::ContainerMemory {
        container: "app".into(),
        working_set: crate::sim::model::Spread {
            min: one,
            p50: one,
            p90: one,
            max: one,
        },
        pods_measured: 0,
        request: None,
        limit: None,
    }];
    let r = story(true).with_model_memory(memory);
    let recs = recommendations(&r);
    assert!(
        recs.iter().any(|x| x.starts_with(
            "Set checkout's container app to requests.memory: 1178Mi and limits.memory: 1178Mi"
        ) && x.ends_with("the model's own value, not measured.")),
        "{recs:#?}"
    );
    // The namespace's missing LimitRange gets a default to start from: that limit.
    assert!(
        recs.iter()
            .any(|x| x.contains("add a LimitRange with a default memory limit (default: 1178Mi")),
        "{recs:#?}"
    );
    let back = Report::from_json(&render(&r, Format::Json)).unwrap();
    assert_eq!(back.target_memory(), r.target_memory());
    // Without a model or a prediction there is no number to give.
    assert!(
        !recommendations(&story(true))
            .iter()
            .any(|x| x.contains("requests.memory: "))
    );
}

#[test]
fn markdown_summary() {
    let md = render(&story(false), Format::Md);
    assert!(md.starts_with("# oomsday: checkout-leak — F"), "{md}");
    assert!(md.contains("| detection | 35 |"), "{md}");
    assert!(md.contains("`pdbHolds: true` | ❌ failed"), "{md}");
    assert!(!md.contains("SIMULATED"));
    assert!(md.contains("… and 38 more like"), "bursts folded: {md}");
    let sim = render(&story(true), Format::Md);
    assert!(sim.contains("**SIMULATED RUN.**"), "{sim}");
}

#[test]
fn junit_has_one_testcase_per_clause_and_escapes() {
    let mut r = story(false);
    r.score.hypothesis[0].detail = "a <b> & \"c\" 'd' \u{1}".into();
    let xml = render(&r, Format::Junit);
    assert_eq!(xml.matches("<testcase ").count(), 3, "{xml}");
    assert_eq!(xml.matches("<failure ").count(), 3, "{xml}");
    assert!(xml.contains("failures=\"3\""));
    assert!(
        xml.contains("a &lt;b&gt; &amp; &quot;c&quot; &#39;d&#39; "),
        "{xml}"
    );
    assert!(!xml.contains('\u{1}'));
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));

    // A clause that could not be judged is skipped, neither a pass nor a failure.
    let mut r = story(false);
    r.score.hypothesis[1].judged = false;
    r.score.hypothesis[1].detail = "no Prometheus configured".into();
    let xml = render(&r, Format::Junit);
    assert_eq!(xml.matches("<failure ").count(), 2, "{xml}");
    assert!(
        xml.contains("<skipped message=\"not judged: no Prometheus configured\"/>"),
        "{xml}"
    );
    assert!(
        xml.contains("failures=\"2\" errors=\"0\" skipped=\"1\""),
        "{xml}"
    );

    // Inconclusive: errors, not passes.
    let mut r = story(false);
    r.record.timeline = Vec::<crate::observe::Observation>::new().into();
    r.score = crate::score::score(&r.record);
    let xml = render(&r, Format::Junit);
    assert_eq!(r.score.verdict, Verdict::Inconclusive);
    assert_eq!(xml.matches("<error ").count(), 3, "{xml}");
    assert!(xml.contains("errors=\"3\""));

    // No hypothesis: one verdict testcase.
    let mut rec = r.record.clone();
    rec.spec.hypothesis = None;
    rec.timeline = vec![crate::observe::Observation::new(
        t(0),
        leaker_started("p", "n1"),
    )]
    .into();
    let xml = render(&Report::new(rec, None), Format::Junit);
    assert_eq!(xml.matches("<testcase ").count(), 1);
    assert!(xml.contains("name=\"verdict\" time=\"0\"/>"), "{xml}");
}

#[test]
fn html_is_self_contained_with_charts_and_says_simulated() {
    let mut r = story(true);
    r.record.experiment = "<script>alert(1)</script>".into();
    let html = render(&r, Format::Html);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("SIMULATED RUN"));
    assert!(!html.contains("<script>"), "unescaped experiment name");
    assert!(!html.contains("src=\"http"), "external asset");
    assert!(!html.contains("<link"), "external stylesheet");
    assert_eq!(
        html.matches("<svg ").count(),
        3,
        "leak, ready and node charts"
    );
    // Leaked memory, one path per pod; markers for evictions and the alert; node bands.
    assert!(html.contains("<title>checkout-1</title>"));
    assert!(html.contains("class=\"m-evict\""));
    assert!(html.contains("class=\"m-alert\""));
    assert!(html.contains("class=\"notready\""));
    assert!(html.contains("class=\"pressure\""));
    assert!(html.contains("class=\"budget\""));
    assert!(html.contains("has no memory limit: the leak reached 3 nodes"));
    assert!(!render(&story(false), Format::Html).contains("SIMULATED"));
}

#[test]
fn html_of_an_empty_run() {
    let mut rec = story(false).record;
    rec.timeline = Default::default();
    rec.finished = rec.started;
    let html = render(&Report::new(rec, None), Format::Html);
    assert!(html.contains("no leaker memory was observed"));
    assert!(html.contains("ready pods were not observed"));
}

#[test]
fn write_files() {
    let dir = std::env::temp_dir().join(format!("oomsday-report-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let r = story(false);
    let paths = write(&dir, &r, &Format::ALL).unwrap();
    let names: Vec<String> = paths
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "checkout-leak-run-1.json",
            "checkout-leak-run-1.md",
            "checkout-leak-run-1.junit.xml",
            "checkout-leak-run-1.html"
        ]
    );
    let back = Report::from_json(&std::fs::read_to_string(&paths[0]).unwrap()).unwrap();
    assert_eq!(back, r);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn suite() {
    let a = story(false);
    let mut b = story(true);
    b.record.experiment = "calm".into();
    b.record.timeline = vec![crate::observe::Observation::new(
        t(0),
        leaker_started("p", "n1"),
    )]
    .into();
    b.record.spec.hypothesis = None;
    b.score = crate::score::score(&b.record);
    let md = suite_summary(&[a, b]);
    assert!(md.contains("| checkout-leak | Failed |"), "{md}");
    assert!(md.contains("| calm (sim) | Passed |"), "{md}");
    assert!(
        md.contains("**2 runs: 1 passed, 1 failed, 0 inconclusive.**"),
        "{md}"
    );
    assert!(md.contains("SIMULATED"));
    assert!(suite_summary(&[]).contains("No runs."));
}

#[test]
fn long_runs_draw_one_point_per_pixel() {
    let mut r = story(false);
    let mut events: Vec<crate::observe::Observation> = r.record.timeline.entries().to_vec();
    for i in 0..5000 {
        events.push(crate::observe::Observation::new(
            t(i * 3600 / 5000),
            Happening::LeakerBytes {
                pod: "checkout-1".into(),
                bytes: (i as u64) << 20,
            },
        ));
    }
    r.record.timeline = events.into();
    let html = render(&r, Format::Html);
    let path = html
        .split("<path d=\"")
        .find(|p| p.contains("<title>checkout-1</title>"))
        .unwrap();
    let points = path.split('"').next().unwrap().matches(" L").count() + 1;
    assert!(points <= 800, "{points} points");
    assert!(html.len() < 400_000, "{} bytes", html.len());
}

#[test]
fn bursts_are_folded_in_the_story() {
    let r = story(false);
    let folded = story_folded(&r);
    let evictions: Vec<&String> = folded
        .iter()
        .map(|(_, l)| l)
        .filter(|l| l.starts_with("BYSTANDER pod"))
        .collect();
    assert_eq!(evictions.len(), 3, "{folded:#?}");
    let fold = folded
        .iter()
        .find(|(_, l)| l.starts_with("… and 38 more like \"BYSTANDER pod cart-40"))
        .expect("a folded line");
    assert_eq!(fold.0, t(160));
    assert!(folded.windows(2).all(|w| w[0].0 <= w[1].0), "in time order");
    // Nothing is lost from the unfolded story.
    assert_eq!(
        super::story(&r)
            .iter()
            .filter(|(_, l)| l.starts_with("BYSTANDER pod"))
            .count(),
        41
    );
    // 200 evictions in the same second draw one marker per chart, which counts them.
    let mut rec = r.record.clone();
    let mut events: Vec<crate::observe::Observation> = rec.timeline.entries().to_vec();
    for i in 0..200 {
        events.push(crate::observe::Observation::new(
            t(700),
            Happening::PodEvicted {
                pod: pod(&format!("storm-{i}"), "n4", false),
                cause: DisruptionCause::TerminationByKubelet,
                message: String::new(),
            },
        ));
    }
    rec.timeline = events.into();
    let before = render(&r, Format::Html)
        .matches("class=\"m-evict\"")
        .count();
    let html = render(&Report::new(rec, None), Format::Html);
    assert_eq!(
        html.matches("class=\"m-evict\"").count(),
        before + 2,
        "one more marker per chart"
    );
    assert!(html.contains("(200 in all)"), "a counted marker");
}

/// A budget recommendation carries its number and where the number comes from.
#[test]
fn a_missing_budget_is_recommended_with_its_number() {
    use super::text::budget_for;
    assert_eq!(
        budget_for(3),
        "maxUnavailable: 1 (minAvailable: 2 of 3; one pod at a time, as the Kubernetes docs \
         advise for a replicated stateless workload)."
    );
    assert!(budget_for(1).starts_with("run at least 2 replicas first"));
    let r = story(false);
    assert!(
        r.record
            .defences
            .as_ref()
            .is_some_and(|d| d.pdbs.is_empty())
    );
    let recs = recommendations(&r);
    assert!(
        recs.iter()
            .any(|x| x.contains("has no PodDisruptionBudget") && x.contains("maxUnavailable: 1")),
        "{recs:#?}"
    );
}

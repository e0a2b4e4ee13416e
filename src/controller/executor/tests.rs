use super::*;
use crate::engine::{RunReason, Tally, stop_channel};
use crate::observe::{DisruptionCause, Happening, Observation, PodRef};
use crate::spec::TargetKind;

fn target(name: &str) -> crate::spec::WorkloadRef {
    crate::spec::WorkloadRef {
        namespace: "shop".into(),
        kind: TargetKind::Deployment,
        name: name.into(),
    }
}

#[tokio::test]
async fn stop_all_waits_for_runs_to_revert_and_reports_stragglers() {
    let reg = Registry::default();
    // A run that reverts (ends) 50 ms after its stop request, like the engine does.
    let (h, mut sig) = stop_channel();
    let done = reg.insert(key("shop", "a"), h, target("checkout"));
    let r2 = reg.clone();
    let seen = tokio::spawn(async move {
        let stop = sig.requested().await;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        r2.remove(&key("shop", "a"));
        let _ = done.send(true);
        stop
    });
    assert!(reg.contains("shop/a"));
    assert_eq!(reg.target_busy(&target("checkout")), Some("shop/a".into()));
    assert_eq!(reg.target_busy(&target("cart")), None);
    let left = reg
        .stop_all("SIGTERM", std::time::Duration::from_secs(5))
        .await;
    assert_eq!(left, 0);
    let stop = seen.await.expect("task");
    assert_eq!(stop.reason, RunReason::Signal);
    assert_eq!(stop.detail, "SIGTERM");

    // A run that never ends is reported once the grace period is over.
    let (h, _sig) = stop_channel();
    let _done = reg.insert(key("shop", "b"), h, target("checkout"));
    let left = reg
        .stop_all("SIGTERM", std::time::Duration::from_millis(50))
        .await;
    assert_eq!(left, 1);
}

#[test]
fn progress_becomes_phase_changes_and_the_narrators_lines() {
    let t0: Time = "2026-11-24T11:00:00Z".parse().expect("time");
    let tally = Tally::new(t0);
    let pod = PodRef {
        name: "checkout-1".into(),
        node: None,
        target: false,
    };
    let new = vec![
        Observation::new(
            t0,
            Happening::PodEvicted {
                pod: pod.clone(),
                cause: DisruptionCause::TerminationByKubelet,
                message: "low on memory".into(),
            },
        ),
        Observation::new(t0, Happening::workload(3, 2)),
        Observation::new(
            t0,
            Happening::Budget {
                name: "checkout".into(),
                current_healthy: 1,
                desired_healthy: 2,
                disruptions_allowed: 0,
                expected_pods: 3,
            },
        ),
    ];
    let progress = |phase| Progress {
        experiment: "lx",
        run_id: "lx-1",
        phase,
        started: t0,
        now: t0,
        until: None,
        tally: &tally,
        new: &new,
        note: None,
        reason: None,
    };
    let mut n = Narration::new("checkout");
    let u = n.updates(&progress(Phase::Leaking));
    assert!(matches!(
        u[0],
        RunUpdate::Phase {
            phase: Phase::Leaking,
            ..
        }
    ));
    // The eviction, the breached budget and the first workload sample, each in the
    // narrator's words.
    let lines: Vec<&str> = u
        .iter()
        .filter_map(|u| match u {
            RunUpdate::Line(l) => Some(l.text.as_str()),
            RunUpdate::Phase { .. } => None,
        })
        .collect();
    let mut direct = Narrator::new("checkout");
    let want: Vec<String> = new
        .iter()
        .filter_map(|o| direct.line(o))
        .map(|l| l.text)
        .collect();
    assert_eq!(lines, want);
    assert_eq!(lines.len(), 3, "{lines:?}");
    // The same phase again, and nothing new: no update.
    let u = n.updates(&progress(Phase::Leaking));
    assert!(u.iter().all(|u| matches!(u, RunUpdate::Line(_))), "{u:?}");
}

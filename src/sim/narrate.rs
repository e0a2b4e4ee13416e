//! The run told the way the story tells it: "02:47 node ip-10-0-1-89 NotReady: kubelet
//! OOM-killed", times relative to the start, with bursts of similar events folded into one line
//! so that an hour of cascade fits on a screen. Pure: a timeline in, lines out.

use std::collections::BTreeMap;

use crate::observe::{DisruptionCause, Event, NodeConditionKind, Observation, Time};

/// `MM:SS` from the start, `H:MM:SS` past the first hour.
pub fn clock(start: Time, at: Time) -> String {
    let s = at.duration_since(start).as_secs().max(0);
    if s < 3600 {
        format!("{:02}:{:02}", s / 60, s % 60)
    } else {
        format!("{}:{:02}:{:02}", s / 3600, (s % 3600) / 60, s % 60)
    }
}

/// One line of the story: what it is about (for folding) and the sentence.
fn line(o: &Observation, target: &str) -> Option<(String, String)> {
    let on = |n: &Option<String>| n.as_deref().map(|n| format!(" on {n}")).unwrap_or_default();
    Some(match &o.event {
        Event::RunPhase { phase, detail } => {
            (format!("phase {phase:?}"), format!("{phase:?}: {detail}"))
        }
        Event::LeakerStarted { pod } => (
            "leaker-started".into(),
            format!("leaker running in {}{}", pod.name, on(&pod.node)),
        ),
        Event::OomKilled {
            pod,
            container,
            leaker,
            ..
        } => {
            let who = if *leaker {
                "leaker"
            } else if pod.target {
                "target container"
            } else {
                "bystander"
            };
            (
                format!("oom-{who}"),
                format!("{who} {}/{container} OOMKilled{}", pod.name, on(&pod.node)),
            )
        }
        Event::PodEvicted { pod, cause, .. } => {
            let by = match cause {
                DisruptionCause::TerminationByKubelet => "evicted by the kubelet (memory)",
                DisruptionCause::DeletionByTaintManager => {
                    "deleted by the taint manager (node NotReady)"
                }
                DisruptionCause::EvictionByEvictionAPI => "evicted through the Eviction API",
                DisruptionCause::PreemptionByScheduler => "preempted",
                DisruptionCause::Deleted => "deleted",
                DisruptionCause::Other(_) => "disrupted",
            };
            let who = if pod.target { target } else { "bystander" };
            (
                format!("evict-{}-{by}", pod.target),
                format!("{who} pod {}{} {by}", pod.name, on(&pod.node)),
            )
        }
        Event::NodeCondition {
            node,
            condition,
            status,
            ..
        } => match (condition, status) {
            (NodeConditionKind::MemoryPressure, true) => {
                ("pressure".into(), format!("node {node} MemoryPressure"))
            }
            (NodeConditionKind::MemoryPressure, false) => (
                "pressure-cleared".into(),
                format!("node {node} MemoryPressure cleared"),
            ),
            (NodeConditionKind::Ready, false) => {
                ("notready".into(), format!("node {node} NotReady"))
            }
            (NodeConditionKind::Ready, true) => ("ready".into(), format!("node {node} Ready")),
        },
        Event::NodeEvent {
            node,
            reason,
            message,
        } => match reason.as_str() {
            "KubeletOOMKilled" => (
                "kubelet-oom".into(),
                format!("node {node} kubelet OOM-killed (no kube-reserved)"),
            ),
            "NodeNotReady" => (
                "notready".into(),
                format!("node {node} NotReady: kubelet OOM-killed"),
            ),
            "SystemOOM" => (
                "system-oom".into(),
                format!("node {node} SystemOOM: {message}"),
            ),
            // The condition line already says it.
            "EvictionThresholdMet" | "Starting" => return None,
            _ => (
                format!("node-{reason}"),
                format!("node {node} {reason}: {message}"),
            ),
        },
        Event::FailedScheduling { pod, message, .. } => (
            "failed-scheduling".into(),
            format!("pod {pod} Pending: {message}"),
        ),
        Event::Abort { reason, detail } => ("abort".into(), format!("ABORT {reason}: {detail}")),
        Event::ObservationFailed { detail } => {
            ("observe".into(), format!("observation failed: {detail}"))
        }
        Event::Alert { name, state } => ("alert".into(), format!("alert {name} {state:?}")),
        Event::Workload { .. }
        | Event::Budget { .. }
        | Event::LeakerBytes { .. }
        | Event::CrashLoopBackOff { .. }
        | Event::Probe { .. } => return None,
    })
}

/// The story of a timeline: one line per significant event, similar events within the same
/// minute folded ("… and 6 more"), and the target's ready count whenever it reaches a new low or
/// comes back. `target` names the target workload in the sentences.
pub fn narrate(start: Time, timeline: &[Observation], target: &str) -> Vec<String> {
    let mut out = Vec::new();
    // Folding: per minute, the first line of each kind and how many more followed.
    let mut minute: Option<i64> = None;
    let mut bucket: BTreeMap<String, (usize, Time, String, usize)> = BTreeMap::new();
    let mut order = 0usize;
    let mut low: Option<u32> = None;
    let mut last_ready: Option<(u32, u32)> = None;
    let mut budget_breached = BTreeMap::<String, bool>::new();
    let flush = |bucket: &mut BTreeMap<String, (usize, Time, String, usize)>,
                 out: &mut Vec<String>| {
        let mut v: Vec<_> = std::mem::take(bucket).into_values().collect();
        v.sort_by_key(|(ord, ..)| *ord);
        for (_, at, text, more) in v {
            let more = if more > 0 {
                format!(" … and {more} more like it")
            } else {
                String::new()
            };
            out.push(format!("{} {text}{more}", clock(start, at)));
        }
    };
    for o in timeline {
        let m = o.at.duration_since(start).as_secs() / 60;
        if minute != Some(m) {
            flush(&mut bucket, &mut out);
            minute = Some(m);
        }
        match &o.event {
            Event::Workload { desired, ready } => {
                let first = last_ready.is_none();
                let new_low = low.is_none_or(|l| *ready < l);
                let back = last_ready.is_some_and(|(_, r)| r < *desired) && ready >= desired;
                if (first || new_low || back) && last_ready != Some((*desired, *ready)) {
                    flush(&mut bucket, &mut out);
                    out.push(format!(
                        "{} {target} ready {ready}/{desired}",
                        clock(start, o.at)
                    ));
                }
                if new_low {
                    low = Some(*ready);
                }
                if back {
                    low = Some(*ready);
                }
                last_ready = Some((*desired, *ready));
            }
            Event::Budget {
                name,
                current_healthy,
                desired_healthy,
                ..
            } => {
                let below = current_healthy < desired_healthy;
                let was = budget_breached.insert(name.clone(), below).unwrap_or(false);
                if below != was {
                    flush(&mut bucket, &mut out);
                    out.push(format!(
                        "{} PDB {name} {}: {current_healthy} healthy, {desired_healthy} desired",
                        clock(start, o.at),
                        if below { "BREACHED" } else { "healthy again" }
                    ));
                }
            }
            _ => {
                if let Some((key, text)) = line(o, target) {
                    order += 1;
                    bucket
                        .entry(key)
                        .and_modify(|e| e.3 += 1)
                        .or_insert((order, o.at, text, 0));
                }
            }
        }
    }
    flush(&mut bucket, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::PodRef;

    fn t(s: i64) -> Time {
        Time::from_second(1_800_000_000 + s).unwrap()
    }

    #[test]
    fn clock_is_relative() {
        assert_eq!(clock(t(0), t(167)), "02:47");
        assert_eq!(clock(t(0), t(3600 + 61)), "1:01:01");
    }

    #[test]
    fn bursts_fold_and_lows_are_reported() {
        let ev = |s, pod: &str, target| {
            Observation::new(
                t(s),
                Event::PodEvicted {
                    pod: PodRef {
                        name: pod.into(),
                        node: Some("ip-10-0-1-89".into()),
                        target,
                    },
                    cause: DisruptionCause::TerminationByKubelet,
                    message: String::new(),
                },
            )
        };
        let tl = vec![
            Observation::new(
                t(0),
                Event::Workload {
                    desired: 20,
                    ready: 20,
                },
            ),
            ev(100, "a", false),
            ev(110, "b", false),
            ev(115, "c", false),
            ev(116, "checkout-x", true),
            Observation::new(
                t(167),
                Event::NodeEvent {
                    node: "ip-10-0-1-89".into(),
                    reason: "NodeNotReady".into(),
                    message: String::new(),
                },
            ),
            Observation::new(
                t(170),
                Event::Workload {
                    desired: 20,
                    ready: 12,
                },
            ),
            Observation::new(
                t(180),
                Event::Workload {
                    desired: 20,
                    ready: 14,
                },
            ),
            Observation::new(
                t(200),
                Event::Workload {
                    desired: 20,
                    ready: 20,
                },
            ),
        ];
        let lines = narrate(t(0), &tl, "checkout");
        assert_eq!(
            lines,
            vec![
                "00:00 checkout ready 20/20",
                "01:40 bystander pod a on ip-10-0-1-89 evicted by the kubelet (memory) … and 2 more like it",
                "01:56 checkout pod checkout-x on ip-10-0-1-89 evicted by the kubelet (memory)",
                "02:47 node ip-10-0-1-89 NotReady: kubelet OOM-killed",
                "02:50 checkout ready 12/20",
                "03:20 checkout ready 20/20",
            ]
        );
    }
}

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};

use serde::{Deserialize, Serialize};

use super::{Event, Observation, Time};

/// The run's observations in time order, without duplicates.
///
/// Watches re-list after a reconnect and deliver the same objects again; since observations are
/// timestamped from the objects, a re-delivered fact is identical to the first and is dropped
/// here. State samples (node conditions, budgets, ready counts) are kept only when they change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "Vec<Observation>", into = "Vec<Observation>")]
pub struct Timeline {
    entries: Vec<Observation>,
    /// Hashes of the discrete facts seen: a cheap first test, confirmed exactly on a hit.
    hashes: HashSet<u64>,
    last_in_series: HashMap<String, Event>,
}

impl Timeline {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an observation; returns whether it was new.
    pub fn push(&mut self, obs: Observation) -> bool {
        if let Some(series) = obs.event.series() {
            if self.last_in_series.get(&series) == Some(&obs.event) {
                return false;
            }
            self.last_in_series.insert(series, obs.event.clone());
        } else {
            // A re-delivered fact carries the object's own timestamp, so a duplicate can only sit
            // among the entries with the same time. The hash set answers "new" for almost every
            // fact; a hit is confirmed exactly against that range (a collision is not a dup).
            let mut h = DefaultHasher::new();
            obs.hash(&mut h);
            if !self.hashes.insert(h.finish()) {
                let lo = self.entries.partition_point(|e| e.at < obs.at);
                let hi = self.entries.partition_point(|e| e.at <= obs.at);
                if self.entries[lo..hi].contains(&obs) {
                    return false;
                }
            }
        }
        // Usually appended in order; a late arrival with an older timestamp is placed by time,
        // after any entries with the same timestamp so that insertion order breaks ties.
        let pos = self.entries.partition_point(|e| e.at <= obs.at);
        self.entries.insert(pos, obs);
        true
    }

    pub fn extend(&mut self, obs: impl IntoIterator<Item = Observation>) -> usize {
        obs.into_iter().filter(|o| self.push(o.clone())).count()
    }

    pub fn entries(&self) -> &[Observation] {
        &self.entries
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Observation> {
        self.entries.iter()
    }

    /// Observations in `[from, to)`.
    pub fn between(&self, from: Time, to: Time) -> &[Observation] {
        let a = self.entries.partition_point(|e| e.at < from);
        let b = self.entries.partition_point(|e| e.at < to);
        &self.entries[a..b.max(a)]
    }
}

impl From<Vec<Observation>> for Timeline {
    fn from(v: Vec<Observation>) -> Self {
        let mut t = Timeline::new();
        t.extend(v);
        t
    }
}

impl From<Timeline> for Vec<Observation> {
    fn from(t: Timeline) -> Self {
        t.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::{NodeConditionKind, PodRef};

    use crate::testkit::t;

    fn oom(at: i64, pod: &str) -> Observation {
        Observation::new(
            t(at),
            Event::OomKilled {
                pod: PodRef {
                    name: pod.into(),
                    node: Some("n1".into()),
                    target: true,
                },
                container: "oomsday-leaker".into(),
                leaker: true,
                restart_count: 1,
            },
        )
    }

    #[test]
    fn relisted_facts_are_not_duplicated() {
        let mut tl = Timeline::new();
        assert!(tl.push(oom(10, "a")));
        assert!(!tl.push(oom(10, "a")));
        assert!(tl.push(oom(20, "a")));
        assert_eq!(tl.len(), 2);
    }

    #[test]
    fn unchanged_state_samples_are_dropped() {
        let mut tl = Timeline::new();
        let w = |at, ready| Observation::new(t(at), Event::workload(3, ready));
        assert!(tl.push(w(0, 3)));
        assert!(!tl.push(w(5, 3)));
        assert!(tl.push(w(6, 2)));
        assert!(tl.push(w(9, 3)));
        let p = |at, status| {
            Observation::new(
                t(at),
                Event::NodeCondition {
                    node: "n1".into(),
                    condition: NodeConditionKind::MemoryPressure,
                    status,
                    reason: String::new(),
                },
            )
        };
        assert!(tl.push(p(1, true)));
        assert!(!tl.push(p(1, true)));
        assert_eq!(tl.len(), 4);
    }

    #[test]
    fn late_arrivals_are_ordered_by_their_own_time() {
        let mut tl = Timeline::new();
        tl.push(oom(30, "a"));
        tl.push(oom(10, "b"));
        tl.push(oom(20, "c"));
        let times: Vec<_> = tl.iter().map(|o| o.at).collect();
        assert_eq!(times, vec![t(10), t(20), t(30)]);
        assert_eq!(tl.between(t(15), t(30)).len(), 1);
    }

    #[test]
    fn serde_round_trip() {
        let mut tl = Timeline::new();
        tl.push(oom(1, "a"));
        tl.push(Observation::new(t(2), Event::workload(3, 2)));
        let json = serde_json::to_string(&tl).unwrap();
        assert!(json.contains("\"type\":\"oomKilled\""), "{json}");
        let back: Timeline = serde_json::from_str(&json).unwrap();
        assert_eq!(back.entries(), tl.entries());
    }
}

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};

use serde::{Deserialize, Serialize};

use super::{Happening, Observation, Time};

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
    last_in_series: HashMap<String, Happening>,
}

impl Timeline {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an observation; returns whether it was new.
    pub fn push(&mut self, obs: Observation) -> bool {
        if let Some(series) = obs.happening.series() {
            if self.last_in_series.get(&series) == Some(&obs.happening) {
                return false;
            }
            self.last_in_series.insert(series, obs.happening.clone());
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
mod tests;

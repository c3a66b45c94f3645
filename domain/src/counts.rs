//! Per-unit headcount index: O(log n) point lookups, bitemporal.
//!
//! Every change to a unit's counts is a delta (valid date, transaction
//! seq). The current answer is a binary search in cumulative points; the
//! answer as known at K subtracts the deltas recorded after K, which for
//! the usual "what did we know last week" question are few.

use crate::{Date, Seq};

/// Posted and working counts, or deltas of them.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub(crate) struct CountPair {
    pub posted: i64,
    pub working: i64,
}

impl CountPair {
    fn add(&mut self, other: CountPair) {
        self.posted += other.posted;
        self.working += other.working;
    }

    fn sub(&mut self, other: CountPair) {
        self.posted -= other.posted;
        self.working -= other.working;
    }

    pub fn is_zero(self) -> bool {
        self.posted == 0 && self.working == 0
    }
}

#[derive(Clone, Default, Debug)]
pub(crate) struct CountIndex {
    /// Cumulative counts from each change date on, sorted by date.
    cumulative: Vec<(Date, CountPair)>,
    /// Every delta in transaction order: (seq, valid date, delta).
    deltas: Vec<(Seq, Date, CountPair)>,
}

impl CountIndex {
    pub fn add(&mut self, seq: Seq, date: Date, delta: CountPair) {
        debug_assert!(!delta.is_zero());
        debug_assert!(self.deltas.last().is_none_or(|(last, _, _)| *last <= seq));
        self.deltas.push((seq, date, delta));
        let i = match self.cumulative.binary_search_by_key(&date, |(d, _)| *d) {
            Ok(i) => i,
            Err(i) => {
                let before = i.checked_sub(1).map_or(CountPair::default(), |j| self.cumulative[j].1);
                self.cumulative.insert(i, (date, before));
                i
            }
        };
        // A backdated delta shifts every later point of this unit: the cost
        // is the unit's own timeline after `date`, never the ledger's.
        for (_, counts) in &mut self.cumulative[i..] {
            counts.add(delta);
        }
    }

    pub fn at(&self, date: Date, known_at: Option<Seq>) -> CountPair {
        let i = self.cumulative.partition_point(|(d, _)| *d <= date);
        let mut counts = i.checked_sub(1).map_or(CountPair::default(), |j| self.cumulative[j].1);
        if let Some(known_at) = known_at {
            let later = self.deltas.partition_point(|(seq, _, _)| *seq <= known_at);
            for (_, delta_date, delta) in &self.deltas[later..] {
                if *delta_date <= date {
                    counts.sub(*delta);
                }
            }
        }
        debug_assert!(counts.posted >= 0 && counts.working >= 0, "negative headcount");
        counts
    }

    /// Every date on which this unit's counts ever changed (any version).
    pub fn change_dates(&self) -> impl Iterator<Item = Date> + '_ {
        self.deltas.iter().map(|(_, date, _)| *date)
    }
}

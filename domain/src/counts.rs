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
    fn sub(&mut self, other: CountPair) {
        self.posted -= other.posted;
        self.working -= other.working;
    }

    pub fn is_zero(self) -> bool {
        self.posted == 0 && self.working == 0
    }
}

/// A count pair as stored: headcounts fit in i32 (asserted on the way in),
/// halving the index's memory against i64.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
struct Small {
    posted: i32,
    working: i32,
}

impl Small {
    fn of(pair: CountPair) -> Small {
        let narrow = |v: i64| i32::try_from(v).expect("a headcount or delta beyond i32");
        Small { posted: narrow(pair.posted), working: narrow(pair.working) }
    }

    fn wide(self) -> CountPair {
        CountPair { posted: i64::from(self.posted), working: i64::from(self.working) }
    }
}

/// Dates and counts in separate arrays: the binary search over dates only
/// touches 4-byte keys (16 to a cache line), which is what a whole-tree
/// query over tens of thousands of units spends its time on.
#[derive(Clone, Default, Debug)]
pub(crate) struct CountIndex {
    /// Each change date, sorted.
    dates: Vec<Date>,
    /// Cumulative counts from `dates[i]` on.
    cumulative: Vec<Small>,
    /// Every delta in transaction order: (seq, valid date, delta).
    deltas: Vec<(Seq, Date, Small)>,
}

impl CountIndex {
    /// Bytes it takes on the heap (capacity, not length).
    pub fn heap_bytes(&self) -> usize {
        self.dates.capacity() * std::mem::size_of::<Date>()
            + self.cumulative.capacity() * std::mem::size_of::<Small>()
            + self.deltas.capacity() * std::mem::size_of::<(Seq, Date, Small)>()
    }

    pub fn add(&mut self, seq: Seq, date: Date, delta: CountPair) {
        debug_assert!(!delta.is_zero());
        debug_assert!(self.deltas.last().is_none_or(|(last, _, _)| *last <= seq));
        let small = Small::of(delta);
        self.deltas.push((seq, date, small));
        let i = match self.dates.binary_search(&date) {
            Ok(i) => i,
            Err(i) => {
                let before = i.checked_sub(1).map_or(Small::default(), |j| self.cumulative[j]);
                self.dates.insert(i, date);
                self.cumulative.insert(i, before);
                i
            }
        };
        // A backdated delta shifts every later point of this unit: the cost
        // is the unit's own timeline after `date`, never the ledger's.
        for counts in &mut self.cumulative[i..] {
            counts.posted += small.posted;
            counts.working += small.working;
        }
    }

    pub fn at(&self, date: Date, known_at: Option<Seq>) -> CountPair {
        let i = self.dates.partition_point(|d| *d <= date);
        let mut counts = i.checked_sub(1).map_or(CountPair::default(), |j| self.cumulative[j].wide());
        if let Some(known_at) = known_at {
            let later = self.deltas.partition_point(|(seq, _, _)| *seq <= known_at);
            for (_, delta_date, delta) in &self.deltas[later..] {
                if *delta_date <= date {
                    counts.sub(delta.wide());
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

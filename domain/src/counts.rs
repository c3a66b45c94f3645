//! Per-unit headcount index: O(log n) point lookups, bitemporal.
//!
//! Every change to a unit's counts is a delta (valid date, transaction
//! seq). The current answer is a binary search in cumulative points; the
//! answer as known at K subtracts the deltas recorded after K, which for
//! the usual "what did we know last week" question are few.

use crate::history::{reserve_gently, tx, Tx};
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

/// One recorded change: 12 bytes. Rationale: there are about four per
/// accepted event (posted and working, at the units left and joined), the
/// largest part of a query replica's memory; the sequence in 32 bits (see
/// `history::Mark`); a change of more than `i16` people at once (a merger
/// of large units) is kept as several, which sum to it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Delta {
    seq: Tx,
    date: Date,
    posted: i16,
    working: i16,
}

impl Delta {
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
    /// Every delta in transaction order.
    deltas: Vec<Delta>,
}

impl CountIndex {
    /// Bytes it takes on the heap (capacity, not length).
    pub fn heap_bytes(&self) -> usize {
        self.dates.capacity() * std::mem::size_of::<Date>()
            + self.cumulative.capacity() * std::mem::size_of::<Small>()
            + self.deltas.capacity() * std::mem::size_of::<Delta>()
    }

    pub fn add(&mut self, seq: Seq, date: Date, delta: CountPair) {
        debug_assert!(!delta.is_zero());
        let seq = tx(seq);
        debug_assert!(self.deltas.last().is_none_or(|last| last.seq <= seq));
        let small = Small::of(delta);
        let (mut posted, mut working) = (delta.posted, delta.working);
        while posted != 0 || working != 0 {
            let part = |v: i64| v.clamp(i64::from(i16::MIN), i64::from(i16::MAX)) as i16;
            let (p, w) = (part(posted), part(working));
            reserve_gently(&mut self.deltas, 1);
            self.deltas.push(Delta { seq, date, posted: p, working: w });
            posted -= i64::from(p);
            working -= i64::from(w);
        }
        // Most changes are on or after the unit's last change date: no
        // search (the dates of 50k units are cold in cache).
        let i = match self.dates.last() {
            Some(last) if *last == date => self.dates.len() - 1,
            Some(last) if *last < date => self.dates.len(),
            _ => self.dates.partition_point(|d| *d < date),
        };
        let i = match self.dates.get(i) {
            Some(found) if *found == date => i,
            _ => {
                let before = i.checked_sub(1).map_or(Small::default(), |j| self.cumulative[j]);
                reserve_gently(&mut self.dates, 1);
                reserve_gently(&mut self.cumulative, 1);
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
            let later = self.deltas.partition_point(|delta| Seq::from(delta.seq) <= known_at);
            for delta in &self.deltas[later..] {
                if delta.date <= date {
                    counts.sub(delta.wide());
                }
            }
        }
        debug_assert!(counts.posted >= 0 && counts.working >= 0, "negative headcount");
        counts
    }

    /// What entry `seq` changed of the counts on `date`: the sum of its
    /// deltas effective on or before `date` (zero if it changed nothing
    /// there). Deltas are in transaction order: a search, not a scan.
    pub fn change_by(&self, seq: Seq, date: Date) -> CountPair {
        let mut change = CountPair::default();
        for delta in self.deltas_of(seq).filter(|delta| delta.date <= date) {
            change.posted += i64::from(delta.posted);
            change.working += i64::from(delta.working);
        }
        change
    }

    /// Whether entry `seq` changed this unit's counts on any day.
    pub fn changed_by(&self, seq: Seq) -> bool {
        self.deltas_of(seq).next().is_some()
    }

    /// Every entry that changed this unit's counts, in sequence order
    /// (repeated when it changed several days).
    pub fn change_seqs(&self) -> impl Iterator<Item = Seq> + '_ {
        self.deltas.iter().map(|delta| Seq::from(delta.seq))
    }

    fn deltas_of(&self, seq: Seq) -> impl Iterator<Item = &Delta> + '_ {
        let start = self.deltas.partition_point(|delta| Seq::from(delta.seq) < seq);
        self.deltas[start..].iter().take_while(move |delta| Seq::from(delta.seq) == seq)
    }

    /// Every date on which this unit's counts ever changed (any version).
    pub fn change_dates(&self) -> impl Iterator<Item = Date> + '_ {
        self.deltas.iter().map(|delta| delta.date)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_beyond_i16_is_kept_whole_now_and_as_known_before() {
        let day = |n: u32| Date::from_day_number(40_000 + n).unwrap();
        let mut index = CountIndex::default();
        index.add(1, day(0), CountPair { posted: 3, working: 3 });
        index.add(2, day(5), CountPair { posted: 100_000, working: -3 });
        index.add(3, day(2), CountPair { posted: -1, working: 0 });
        assert_eq!(index.at(day(4), None), CountPair { posted: 2, working: 3 });
        assert_eq!(index.at(day(5), None), CountPair { posted: 100_002, working: 0 });
        assert_eq!(index.at(day(5), Some(2)), CountPair { posted: 100_003, working: 0 });
        assert_eq!(index.at(day(5), Some(1)), CountPair { posted: 3, working: 3 });
        assert!(std::mem::size_of::<Delta>() <= 12);
    }
}

//! Read-only queries over the whole timeline, split over the machine's
//! cores.
//!
//! Rationale: the whole tree and the audit visit every unit or every
//! member, each lookup a few cache misses into cold memory; on the 2-core
//! benchmark machine one core left them at the edge of their targets.
//! Each part works on a contiguous range of indexes and the parts are
//! joined in index order, so the answer is the same bytes whatever the
//! number of threads (the invariant of the crate).

use std::ops::Range;

/// Below this many items a query runs on the calling thread: a thread
/// costs tens of microseconds to start.
const SPLIT_MIN_ITEMS: usize = 8192;

/// At most this many parts, whatever the machine.
const PARTS_MAX: usize = 4;

/// Runs `work` over `0..items` in contiguous ranges, one per core (at most
/// [`PARTS_MAX`]), and returns the parts' results in range order.
pub(crate) fn split<T: Send>(items: usize, work: impl Fn(Range<usize>) -> T + Sync) -> Vec<T> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let parts = if items < SPLIT_MIN_ITEMS { 1 } else { cores.clamp(1, PARTS_MAX) };
    if parts == 1 {
        return vec![work(0..items)];
    }
    let size = items.div_ceil(parts);
    let ranges: Vec<Range<usize>> = (0..parts).map(|p| p * size..((p + 1) * size).min(items)).collect();
    std::thread::scope(|scope| {
        let work = &work;
        // The first part on this thread, the others on their own.
        let others: Vec<_> = ranges[1..].iter().cloned().map(|range| scope.spawn(move || work(range))).collect();
        let mut results = vec![work(ranges[0].clone())];
        results.extend(others.into_iter().map(|handle| handle.join().expect("a query part panicked")));
        results
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_every_item_once_in_order() {
        for items in [0, 1, SPLIT_MIN_ITEMS - 1, SPLIT_MIN_ITEMS, 100_003] {
            let parts = split(items, |range| range.collect::<Vec<usize>>());
            let joined: Vec<usize> = parts.into_iter().flatten().collect();
            assert_eq!(joined, (0..items).collect::<Vec<_>>());
        }
    }
}

//! Bitemporal histories: an entity's states along valid time, each version
//! stamped with the transaction range in which the ledger held it.
//!
//! A backdated event does not edit the past in place: it closes the
//! versions it supersedes (`tx_to`) and adds new ones (`tx_from`), so
//! "what did the ledger say at sequence K" stays answerable.

use crate::{Date, Seq};

/// A place on the timeline: events are ordered by (effective date, seq).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Pos {
    /// Valid time.
    pub date: Date,
    /// Transaction time; breaks ties between events of one day.
    pub seq: Seq,
}

/// The highest sequence the timeline can hold. Rationale: its indexes keep
/// sequences in 32 bits (see [`Mark`]); the ledger refuses to commit past
/// it rather than let the timeline assert.
pub const SEQ_MAX: Seq = u32::MAX as Seq;

/// A sequence as the indexes keep it.
pub(crate) type Tx = u32;

/// `seq` narrowed for the indexes. Panics past [`SEQ_MAX`]: the ledger
/// checks before deciding, so reaching it here is a bug.
pub(crate) fn tx(seq: Seq) -> Tx {
    Tx::try_from(seq).expect("a sequence beyond the timeline's capacity (SEQ_MAX)")
}

/// A [`Pos`] as the indexes keep it: 8 bytes instead of 16, same order.
/// Rationale: there are several per accepted event (history steps, event
/// refs, records), the bulk of the timeline's memory at 10M events.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub(crate) struct Mark {
    pub date: Date,
    pub seq: Tx,
}

impl Mark {
    pub fn of(pos: Pos) -> Mark {
        Mark { date: pos.date, seq: tx(pos.seq) }
    }

    pub fn pos(self) -> Pos {
        Pos { date: self.date, seq: Seq::from(self.seq) }
    }
}

/// Makes room for `extra` more items, growing by a quarter instead of
/// doubling. Rationale: a history and a list of refs per staff member are
/// a million small vectors; doubling left about a third of their slots
/// empty. Growing by a quarter copies each item a few more times, at the
/// scale of one member's history.
pub(crate) fn reserve_gently<T>(items: &mut Vec<T>, extra: usize) {
    if items.capacity() - items.len() < extra {
        items.reserve_exact(extra.max(items.len() / 4).max(2));
    }
}

/// A state held from `pos` on, as recorded from `tx_from` on.
#[derive(Clone, Debug)]
pub(crate) struct Step<StaffIx> {
    pub pos: Mark,
    pub tx_from: Tx,
    pub state: StaffIx,
}

/// A superseded state: held from `pos`, recorded from `tx_from` until `tx_to`.
#[derive(Clone, Debug)]
pub(crate) struct DeadStep<StaffIx> {
    pub pos: Mark,
    pub tx_from: Tx,
    pub tx_to: Tx,
    pub state: StaffIx,
}

impl<StaffIx> DeadStep<StaffIx> {
    fn visible_at(&self, known_at: Seq) -> bool {
        Seq::from(self.tx_from) <= known_at && known_at < Seq::from(self.tx_to)
    }
}

#[derive(Clone, Debug)]
pub(crate) struct History<StaffIx> {
    /// The current versions, sorted by `pos`, no two at one `pos`.
    live: Vec<Step<StaffIx>>,
    /// Superseded versions, in the order they were superseded.
    /// Rationale for the box: most entities never have a superseded
    /// version (only backdated events make them), and there is one history
    /// per staff member: 8 bytes instead of an empty `Vec`'s 24.
    #[allow(clippy::box_collection, reason = "8 bytes when empty, which is almost always")]
    dead: Option<Box<Vec<DeadStep<StaffIx>>>>,
}

impl<StaffIx> Default for History<StaffIx> {
    fn default() -> Self {
        History { live: Vec::new(), dead: None }
    }
}

impl<StaffIx: Clone> History<StaffIx> {
    /// Bytes its versions take on the heap (capacity, not length).
    pub fn heap_bytes(&self) -> usize {
        self.live.capacity() * std::mem::size_of::<Step<StaffIx>>()
            + self.dead.as_ref().map_or(0, |dead| {
                std::mem::size_of::<Vec<DeadStep<StaffIx>>>()
                    + dead.capacity() * std::mem::size_of::<DeadStep<StaffIx>>()
            })
    }

    fn dead(&self) -> &[DeadStep<StaffIx>] {
        self.dead.as_deref().map_or(&[], Vec::as_slice)
    }

    pub fn live(&self) -> &[Step<StaffIx>] {
        &self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// The current state just before `pos` (after every step < pos).
    pub fn before(&self, pos: Pos) -> Option<&StaffIx> {
        let i = self.live.partition_point(|step| step.pos.pos() < pos);
        i.checked_sub(1).map(|i| &self.live[i].state)
    }

    /// The current state right after `pos` (after every step <= pos).
    pub fn at_or_before(&self, pos: Pos) -> Option<&StaffIx> {
        let i = self.live.partition_point(|step| step.pos.pos() <= pos);
        i.checked_sub(1).map(|i| &self.live[i].state)
    }

    pub fn has_step_at(&self, pos: Pos) -> bool {
        self.live.binary_search_by(|step| step.pos.pos().cmp(&pos)).is_ok()
    }

    /// The state in force on `date` as recorded at `known_at` (None: now),
    /// with the place of the step that set it.
    pub fn state_on(&self, date: Date, known_at: Option<Seq>) -> Option<(Pos, &StaffIx)> {
        let end = self.live.partition_point(|step| step.pos.date <= date);
        let Some(known_at) = known_at else {
            return end.checked_sub(1).map(|i| (self.live[i].pos.pos(), &self.live[i].state));
        };
        let from_live = self.live[..end]
            .iter()
            .rev()
            .find(|step| Seq::from(step.tx_from) <= known_at)
            .map(|step| (step.pos.pos(), &step.state));
        let from_dead = self
            .dead()
            .iter()
            .filter(|step| step.pos.date <= date && step.visible_at(known_at))
            .max_by_key(|step| step.pos)
            .map(|step| (step.pos.pos(), &step.state));
        match (from_live, from_dead) {
            (Some(a), Some(b)) => Some(if a.0 >= b.0 { a } else { b }),
            (a, b) => a.or(b),
        }
    }

    /// Whether `f` holds for some version visible at `known_at` (None:
    /// now); without allocating when asked about now.
    pub fn any_visible(&self, known_at: Option<Seq>, mut f: impl FnMut(Pos, &StaffIx) -> bool) -> bool {
        match known_at {
            None => self.live.iter().any(|step| f(step.pos.pos(), &step.state)),
            Some(_) => self.visible(known_at).into_iter().any(|(pos, state)| f(pos, state)),
        }
    }

    /// Every version visible at `known_at` (None: now), in timeline order.
    pub fn visible(&self, known_at: Option<Seq>) -> Vec<(Pos, &StaffIx)> {
        let Some(known_at) = known_at else {
            return self.live.iter().map(|step| (step.pos.pos(), &step.state)).collect();
        };
        let mut steps: Vec<(Pos, &StaffIx)> = self
            .live
            .iter()
            .filter(|step| Seq::from(step.tx_from) <= known_at)
            .map(|step| (step.pos.pos(), &step.state))
            .chain(
                self.dead().iter().filter(|step| step.visible_at(known_at)).map(|step| (step.pos.pos(), &step.state)),
            )
            .collect();
        steps.sort_by_key(|(pos, _)| *pos);
        steps
    }

    /// The days on which `changed(previous, next)` holds between
    /// consecutive current steps, the first step's day, and every
    /// superseded step's day: a superset, for any `known_at`, of the days
    /// on which what `changed` looks at can change.
    pub fn dates_where<'a>(
        &'a self,
        changed: impl Fn(&StaffIx, &StaffIx) -> bool + 'a,
    ) -> impl Iterator<Item = Date> + 'a {
        let live = self.live.iter().enumerate().filter_map(move |(i, step)| {
            let new = i == 0 || changed(&self.live[i - 1].state, &step.state);
            new.then_some(step.pos.date)
        });
        live.chain(self.dead().iter().map(|step| step.pos.date))
    }

    /// The sequence of every event that ever wrote a version, live or
    /// superseded (retracted events included), unsorted.
    pub fn all_seqs(&self) -> impl Iterator<Item = Seq> + '_ {
        self.live.iter().map(|step| step.pos.seq).chain(self.dead().iter().map(|step| step.pos.seq)).map(Seq::from)
    }

    /// Every position ever held, live or superseded (for candidate dates).
    pub fn all_dates(&self) -> impl Iterator<Item = Date> + '_ {
        self.live.iter().map(|step| step.pos.date).chain(self.dead().iter().map(|step| step.pos.date))
    }

    /// Supersedes every current step at or after `from` (as of `tx`) and
    /// records `steps` in their place.
    pub fn replace_from(&mut self, from: Pos, steps: Vec<(Pos, StaffIx)>, tx: Seq) {
        debug_assert!(steps.windows(2).all(|w| w[0].0 < w[1].0), "steps out of order");
        debug_assert!(steps.first().is_none_or(|(pos, _)| *pos >= from));
        let tx = self::tx(tx);
        let start = self.live.partition_point(|step| step.pos.pos() < from);
        let dead = self.live.len() - start;
        if dead > 0 {
            reserve_gently(self.dead.get_or_insert_default(), dead);
        }
        for old in self.live.drain(start..) {
            assert!(old.tx_from < tx, "a step superseded in the transaction that wrote it");
            self.dead.get_or_insert_default().push(DeadStep {
                pos: old.pos,
                state: old.state,
                tx_from: old.tx_from,
                tx_to: tx,
            });
        }
        reserve_gently(&mut self.live, steps.len());
        self.live.extend(steps.into_iter().map(|(pos, state)| Step { pos: Mark::of(pos), state, tx_from: tx }));
    }
}

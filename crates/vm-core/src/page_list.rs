//! The page list: the sparse per-node record of what each page offset holds
//! (digest §3.5, Zircon's `VmPageList`).
//!
//! Pages are grouped in nodes of [`FAN_OUT`] consecutive slots, kept in a
//! `BTreeMap` keyed by node index; a node exists only while one of its slots
//! is non-empty (invariant 1 of §3.5). Lookup is O(log n) and walking a range
//! visits only the populated nodes, so a 1 TiB list holding a few pages is as
//! cheap to scan as a small one.
//!
//! Each slot is one packed `u64`. An index holds an [`Entry`]: nothing, a
//! page, a zero marker, or part of a *zero interval* (digest §3.2, §3.5): a
//! run of pages that read zero, stored as two sentinels (`Start` on its
//! first page, `End` on its last, the slots between empty) or one (`Slot`)
//! for a single page, so a zero range costs two slots whatever its length.
//! Intervals are kept well formed and maximal (invariant 2 of §3.5): every
//! operation that adds, splits or trims one rewrites its sentinels, and
//! adjacent intervals of one state are merged.
//!
//! Owned content is never dropped silently (invariant 3 of §3.5): every call
//! that removes or overwrites an entry returns it, `#[must_use]`, so the
//! caller releases its frame.

use alloc::boxed::Box;
use alloc::collections::{btree_map, BTreeMap};
use alloc::vec::Vec;

use crate::{PhysAddr, PAGE_SIZE};

/// Slots per node (`kPageFanOut` of §3.5).
pub const FAN_OUT: u64 = 16;

const TYPE_MASK: u64 = 0b111;
const TYPE_PAGE: u64 = 1;
const TYPE_MARKER: u64 = 2;
const TYPE_INTERVAL: u64 = 3;
const STATE_SHIFT: u32 = 3;
const SENTINEL_SHIFT: u32 = 5;
const PAYLOAD_SHIFT: u32 = 12;
const FIELD_MASK: u64 = 0b11;

/// The per-page dirty state of digest §3.1 (`VmCowPages::DirtyState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirtyState {
    /// Not dirty-tracked: every page of an anonymous VMO or a clone.
    Untracked = 0,
    /// Same as the pager's copy; evictable.
    Clean = 1,
    /// Modified since supplied or last written back.
    Dirty = 2,
    /// Being written back (between WRITEBACK_BEGIN and WRITEBACK_END).
    AwaitingClean = 3,
}

impl DirtyState {
    fn from_bits(bits: u64) -> DirtyState {
        match bits & FIELD_MASK {
            0 => DirtyState::Untracked,
            1 => DirtyState::Clean,
            2 => DirtyState::Dirty,
            _ => DirtyState::AwaitingClean,
        }
    }
}

/// What one page index holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// Nothing: look in the parent (clones) or "not supplied" (pager roots).
    Empty,
    /// A committed frame and its dirty state.
    Page { frame: PhysAddr, state: DirtyState },
    /// Known zero: do not look in the parent; supplied, for a pager root.
    Marker,
    /// Inside a zero interval with this dirty state: reads zero, like a
    /// marker.
    Zero { state: DirtyState },
}

impl Entry {
    /// Whether nothing is recorded here.
    pub fn is_empty(self) -> bool {
        self == Entry::Empty
    }

    /// The frame this entry owns, if it is a page.
    pub fn frame(self) -> Option<PhysAddr> {
        match self {
            Entry::Page { frame, .. } => Some(frame),
            _ => None,
        }
    }
}

/// Which end of a zero interval a sentinel marks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sentinel {
    /// First page of an interval of two or more pages.
    Start = 1,
    /// Last page of an interval of two or more pages.
    End = 2,
    /// A one-page interval.
    Single = 3,
}

/// One packed slot: bits 0-2 the type (0 is empty), bits 3-4 the dirty
/// state; a page keeps its frame address in bits 12-63, an interval
/// sentinel its kind in bits 5-6 and, on a `Start` or `Single`, the length
/// of the interval's AwaitingClean prefix (pages) in bits 12-63.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Slot(u64);

impl Slot {
    const EMPTY: Slot = Slot(0);

    #[inline(always)]
    fn from_entry(entry: Entry) -> Slot {
        match entry {
            Entry::Empty => Slot::EMPTY,
            Entry::Page { frame, state } => {
                debug_assert!(frame.is_multiple_of(PAGE_SIZE));
                Slot(frame | (state as u64) << STATE_SHIFT | TYPE_PAGE)
            }
            Entry::Marker => Slot(TYPE_MARKER),
            Entry::Zero { .. } => unreachable!("intervals are written as sentinels"),
        }
    }

    fn sentinel(sentinel: Sentinel, state: DirtyState, awaiting: u64) -> Slot {
        debug_assert!(awaiting < 1 << (64 - PAYLOAD_SHIFT));
        Slot(
            awaiting << PAYLOAD_SHIFT
                | (sentinel as u64) << SENTINEL_SHIFT
                | (state as u64) << STATE_SHIFT
                | TYPE_INTERVAL,
        )
    }

    /// The AwaitingClean prefix length a `Start` or `Single` sentinel holds.
    fn awaiting(self) -> u64 {
        self.0 >> PAYLOAD_SHIFT
    }

    fn is_empty(self) -> bool {
        self.0 == 0
    }

    fn state(self) -> DirtyState {
        DirtyState::from_bits(self.0 >> STATE_SHIFT)
    }

    /// The sentinel kind, if this is an interval sentinel.
    fn sentinel_kind(self) -> Option<Sentinel> {
        let kind = match (self.0 >> SENTINEL_SHIFT) & FIELD_MASK {
            1 => Sentinel::Start,
            2 => Sentinel::End,
            _ => Sentinel::Single,
        };
        (self.0 & TYPE_MASK == TYPE_INTERVAL).then_some(kind)
    }

    /// The entry of a page or marker slot; sentinels and empty slots are
    /// decoded by the list, which knows the interval around them.
    fn entry(self) -> Entry {
        match self.0 & TYPE_MASK {
            TYPE_PAGE => Entry::Page { frame: self.0 & !(PAGE_SIZE - 1), state: self.state() },
            TYPE_MARKER => Entry::Marker,
            TYPE_INTERVAL => Entry::Zero { state: self.state() },
            _ => Entry::Empty,
        }
    }
}

/// A zero interval, or a piece of one: indices `[start, end)`, its dirty
/// state, and where its AwaitingClean prefix ends (digest §3.2: pages
/// `[start, awaiting_end)` are being written back; `awaiting_end == start`
/// when none are).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interval {
    pub start: u64,
    pub end: u64,
    pub state: DirtyState,
    pub awaiting_end: u64,
}

impl Interval {
    /// A zero range with no AwaitingClean prefix.
    pub fn new(start: u64, end: u64, state: DirtyState) -> Interval {
        Interval { start, end, state, awaiting_end: start }
    }

    /// The part of the interval in `[start, end)`, its prefix clipped too.
    pub fn clip(self, start: u64, end: u64) -> Interval {
        let (s, e) = (self.start.max(start), self.end.min(end));
        Interval { start: s, end: e, state: self.state, awaiting_end: self.awaiting_end.clamp(s, e) }
    }

    /// Whether part of it is AwaitingClean.
    pub fn has_awaiting(&self) -> bool {
        self.awaiting_end > self.start
    }
}

/// What lies in part of a range: one page or marker, or a piece of a zero
/// interval (clipped to the range).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item {
    /// A page or marker at an index.
    One(u64, Entry),
    /// A piece of a zero interval.
    Zero(Interval),
}

type Node = [Slot; FAN_OUT as usize];

/// A sparse map from page index to [`Entry`].
#[derive(Default)]
pub struct PageList {
    nodes: BTreeMap<u64, Box<Node>>,
    pages: u64,
    intervals: u64,
}

impl PageList {
    /// An empty list.
    pub fn new() -> PageList {
        PageList::default()
    }

    fn raw(&self, index: u64) -> Slot {
        self.nodes.get(&(index / FAN_OUT)).map_or(Slot::EMPTY, |node| node[(index % FAN_OUT) as usize])
    }

    /// Stores `slot` at `index` and returns what was stored there, keeping
    /// the node map and the page count right.
    #[inline(always)]
    fn set_raw(&mut self, index: u64, slot: Slot) -> Slot {
        let key = index / FAN_OUT;
        let i = (index % FAN_OUT) as usize;
        // One descent of the node map, for the change and for a node's
        // creation or removal.
        let old = match self.nodes.entry(key) {
            btree_map::Entry::Occupied(mut node) => {
                let old = core::mem::replace(&mut node.get_mut()[i], slot);
                if slot.is_empty() && node.get().iter().all(|s| s.is_empty()) {
                    let _empty = node.remove();
                }
                old
            }
            btree_map::Entry::Vacant(_) if slot.is_empty() => return Slot::EMPTY,
            btree_map::Entry::Vacant(vacant) => {
                let mut node = Box::new([Slot::EMPTY; FAN_OUT as usize]);
                node[i] = slot;
                vacant.insert(node);
                Slot::EMPTY
            }
        };
        let is_page = |s: Slot| u64::from(s.0 & TYPE_MASK == TYPE_PAGE);
        self.pages = self.pages + is_page(slot) - is_page(old);
        old
    }

    /// The stored (non-empty) slots with index in `[start, end)`, in order.
    fn stored(&self, start: u64, end: u64) -> impl Iterator<Item = (u64, Slot)> + '_ {
        let first = start / FAN_OUT;
        let last = end.div_ceil(FAN_OUT);
        self.nodes
            .range(first..last.max(first))
            .flat_map(|(&key, node)| {
                node.iter().enumerate().map(move |(i, &slot)| (key * FAN_OUT + i as u64, slot))
            })
            .filter(move |&(index, slot)| !slot.is_empty() && index >= start && index < end)
    }

    /// The last stored slot with index below `index`.
    fn stored_before(&self, index: u64) -> Option<(u64, Slot)> {
        let key = index / FAN_OUT;
        if let Some(node) = self.nodes.get(&key) {
            let below = &node[..(index % FAN_OUT) as usize];
            if let Some(i) = below.iter().rposition(|s| !s.is_empty()) {
                return Some((key * FAN_OUT + i as u64, below[i]));
            }
        }
        let (&k, node) = self.nodes.range(..key).next_back()?;
        let i = node.iter().rposition(|s| !s.is_empty()).expect("nodes are never empty");
        Some((k * FAN_OUT + i as u64, node[i]))
    }

    /// The zero interval covering `index`, whole. Inlined for the check
    /// of the common list with no intervals, which every lookup of an
    /// empty slot makes.
    #[inline]
    pub fn interval(&self, index: u64) -> Option<Interval> {
        if self.intervals == 0 {
            return None;
        }
        self.interval_slow(index)
    }

    fn interval_slow(&self, index: u64) -> Option<Interval> {
        let slot = self.raw(index);
        let (start, first) = match slot.sentinel_kind() {
            Some(Sentinel::Single) => {
                let awaiting_end = index + slot.awaiting();
                return Some(Interval { start: index, end: index + 1, state: slot.state(), awaiting_end });
            }
            Some(Sentinel::Start) => (index, slot),
            Some(Sentinel::End) => self.stored_before(index).expect("an End has its Start"),
            None if slot.is_empty() => match self.stored_before(index) {
                Some((s, before)) if before.sentinel_kind() == Some(Sentinel::Start) => (s, before),
                _ => return None,
            },
            None => return None,
        };
        let (last, end) = self.stored(start + 1, u64::MAX).next().expect("a Start has its End");
        debug_assert_eq!(end.sentinel_kind(), Some(Sentinel::End));
        Some(Interval { start, end: last + 1, state: end.state(), awaiting_end: start + first.awaiting() })
    }

    fn write_interval(&mut self, iv: Interval) {
        debug_assert!(iv.start < iv.end && (iv.start..=iv.end).contains(&iv.awaiting_end));
        self.intervals += 1;
        let awaiting = iv.awaiting_end - iv.start;
        if iv.end - iv.start == 1 {
            let _empty = self.set_raw(iv.start, Slot::sentinel(Sentinel::Single, iv.state, awaiting));
        } else {
            let _empty = self.set_raw(iv.start, Slot::sentinel(Sentinel::Start, iv.state, awaiting));
            let _empty = self.set_raw(iv.end - 1, Slot::sentinel(Sentinel::End, iv.state, 0));
        }
    }

    fn clear_interval(&mut self, iv: Interval) {
        self.intervals -= 1;
        let _sentinel = self.set_raw(iv.start, Slot::EMPTY);
        let _sentinel = self.set_raw(iv.end - 1, Slot::EMPTY);
    }

    /// Shrinks interval `iv` to its parts outside `[cut_start, cut_end)`,
    /// each keeping the part of the AwaitingClean prefix that is its own
    /// prefix.
    fn cut_interval(&mut self, iv: Interval, cut_start: u64, cut_end: u64) {
        self.clear_interval(iv);
        if iv.start < cut_start {
            self.write_interval(iv.clip(iv.start, cut_start));
        }
        if cut_end < iv.end {
            self.write_interval(iv.clip(cut_end, iv.end));
        }
    }

    /// Gives the zero interval starting at `start` an AwaitingClean prefix
    /// ending at `awaiting_end` (digest §3.2).
    pub fn set_awaiting(&mut self, start: u64, awaiting_end: u64) {
        let iv = self.interval(start).expect("a zero interval to mark");
        debug_assert!(iv.start == start && start <= awaiting_end && awaiting_end <= iv.end);
        self.clear_interval(iv);
        self.write_interval(Interval { awaiting_end, ..iv });
    }

    /// What page `index` holds. O(log n).
    #[inline]
    pub fn get(&self, index: u64) -> Entry {
        match self.raw(index).entry() {
            Entry::Empty => match self.interval(index) {
                Some(iv) => Entry::Zero { state: iv.state },
                None => Entry::Empty,
            },
            entry => entry,
        }
    }

    /// Stores a page, a marker or nothing ([`Entry::Empty`]) at `index` and
    /// returns what was there; a zero interval covering `index` is split
    /// around it. `entry` may not be [`Entry::Zero`] (see
    /// [`PageList::add_zero`]).
    #[must_use]
    #[inline(always)]
    pub fn replace(&mut self, index: u64, entry: Entry) -> Entry {
        if self.intervals == 0 {
            // No interval to split: what the slot held is the whole answer,
            // and one descent of the node map finds and changes it.
            return self.set_raw(index, Slot::from_entry(entry)).entry();
        }
        let old = self.get(index);
        if let Entry::Zero { .. } = old {
            let interval = self.interval(index).expect("inside an interval");
            self.cut_interval(interval, index, index + 1);
        }
        let _old = self.set_raw(index, Slot::from_entry(entry));
        old
    }

    /// Empties page `index` and returns what was there.
    #[must_use]
    pub fn remove(&mut self, index: u64) -> Entry {
        self.replace(index, Entry::Empty)
    }

    /// Makes `[start, end)` a zero interval with `state`, merged with
    /// adjacent intervals of the same state: the one before keeps its
    /// AwaitingClean prefix, the one after loses its own, which is no longer
    /// a prefix (Zircon's OpZeroWriteback; the pages stay dirty, which is
    /// safe). Markers and intervals in the range are absorbed, their
    /// prefixes with them; the range may hold no pages (their frames would
    /// be lost).
    pub fn add_zero(&mut self, start: u64, end: u64, state: DirtyState) {
        if start >= end {
            return;
        }
        let absorbed = self.take_range(start, end);
        debug_assert!(absorbed.iter().all(|(_, e)| e.frame().is_none()), "a zero interval over pages");
        let mut merged = Interval::new(start, end, state);
        if let Some(left) = start.checked_sub(1).and_then(|i| self.interval(i)) {
            if left.state == state {
                self.clear_interval(left);
                merged.start = left.start;
                merged.awaiting_end = left.awaiting_end;
            }
        }
        if let Some(right) = self.interval(end) {
            if right.state == state {
                self.clear_interval(right);
                merged.end = right.end;
            }
        }
        self.write_interval(merged);
    }

    /// What lies in `[start, end)`, in index order: pages and markers one by
    /// one, zero intervals as pieces clipped to the range. Costs
    /// O(log n + populated nodes in the range).
    pub fn items(&self, start: u64, end: u64) -> Vec<Item> {
        let mut out = Vec::new();
        if start >= end {
            return out;
        }
        let mut pos = start;
        if let Some(iv) = self.interval(start) {
            out.push(Item::Zero(iv.clip(start, end)));
            pos = iv.end;
        }
        for (index, slot) in self.stored(pos, end) {
            match slot.sentinel_kind() {
                None => out.push(Item::One(index, slot.entry())),
                Some(Sentinel::Start | Sentinel::Single) => {
                    let iv = self.interval(index).expect("a sentinel has its interval");
                    out.push(Item::Zero(iv.clip(start, end)));
                }
                Some(Sentinel::End) => {}
            }
        }
        out
    }

    /// The maximal runs of empty indices in `[start, end)`, in order.
    pub fn gaps(&self, start: u64, end: u64) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut pos = start;
        for item in self.items(start, end) {
            let (s, e) = match item {
                Item::One(index, _) => (index, index + 1),
                Item::Zero(iv) => (iv.start, iv.end),
            };
            if s > pos {
                out.push((pos, s));
            }
            pos = e;
        }
        if pos < end {
            out.push((pos, end));
        }
        out
    }

    /// The first index in `[start, end)` that is not empty. O(log n).
    pub fn next_populated(&self, start: u64, end: u64) -> Option<u64> {
        if start >= end {
            return None;
        }
        if self.interval(start).is_some() {
            return Some(start);
        }
        self.stored(start, end).next().map(|(index, _)| index)
    }

    /// The pages and markers with index in `[start, end)`, in index order
    /// (zero intervals are left out). Costs O(log n + populated nodes in the
    /// range).
    pub fn pages(&self, start: u64, end: u64) -> impl Iterator<Item = (u64, Entry)> + '_ {
        self.stored(start, end)
            .filter(|(_, slot)| slot.sentinel_kind().is_none())
            .map(|(i, s)| (i, s.entry()))
    }

    /// Empties `[start, end)` and returns the pages and markers that were
    /// there, in index order, for the caller to release; zero intervals are
    /// trimmed to the parts outside the range.
    #[must_use]
    pub fn take_range(&mut self, start: u64, end: u64) -> Vec<(u64, Entry)> {
        let mut taken = Vec::new();
        let mut intervals = Vec::new();
        for item in self.items(start, end) {
            match item {
                Item::One(index, entry) => taken.push((index, entry)),
                Item::Zero(piece) => intervals.push(self.interval(piece.start).expect("an interval piece")),
            }
        }
        for interval in intervals {
            self.cut_interval(interval, start, end);
        }
        for &(index, _) in &taken {
            let _taken = self.set_raw(index, Slot::EMPTY);
        }
        taken
    }

    /// Removes and returns every page and marker, and drops every interval.
    #[must_use]
    pub fn take_all(&mut self) -> Vec<(u64, Entry)> {
        self.take_range(0, u64::MAX)
    }

    /// One past the highest index that is not empty (0 if none). O(log n).
    pub fn end_index(&self) -> u64 {
        self.nodes.last_key_value().map_or(0, |(&key, node)| {
            let last = node.iter().rposition(|s| !s.is_empty()).unwrap_or(0);
            key * FAN_OUT + last as u64 + 1
        })
    }

    /// How many indices hold a page.
    pub fn page_count(&self) -> u64 {
        self.pages
    }

    /// Whether every index is empty.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Number of nodes allocated (for the metadata measurements).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Heap bytes of the nodes allocated (their slots).
    pub fn heap_bytes(&self) -> usize {
        self.nodes.len() * core::mem::size_of::<Node>()
    }

    /// Checks the interval invariants of §3.5 over the whole list: every
    /// `Start` is followed, past empty slots only, by an `End` of the same
    /// state; no `End` without a `Start`; no two intervals of one state
    /// touch (they would have been merged).
    #[cfg(any(test, feature = "mock"))]
    pub fn check_intervals(&self) {
        let mut open: Option<(u64, DirtyState)> = None;
        let mut last_end: Option<(u64, DirtyState)> = None;
        let mut count = 0;
        for (index, slot) in self.stored(0, u64::MAX) {
            let kind = slot.sentinel_kind();
            if let Some((start, state)) = open {
                assert_eq!(kind, Some(Sentinel::End), "index {index} inside the interval from {start}");
                assert_eq!(slot.state(), state, "the End of the interval from {start} has another state");
                open = None;
                last_end = Some((index + 1, state));
                continue;
            }
            match kind {
                Some(Sentinel::End) => panic!("an End at {index} without a Start"),
                Some(s) => {
                    count += 1;
                    if let Some((end, state)) = last_end {
                        let mergeable = end == index && state == slot.state();
                        assert!(!mergeable, "intervals touching at {index} were not merged");
                    }
                    if s == Sentinel::Start {
                        open = Some((index, slot.state()));
                    } else {
                        last_end = Some((index + 1, slot.state()));
                    }
                }
                None => last_end = None,
            }
        }
        assert!(open.is_none(), "an interval without its End");
        assert_eq!(count, self.intervals, "the interval count");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn page(i: u64) -> Entry {
        Entry::Page { frame: i * PAGE_SIZE, state: DirtyState::Untracked }
    }

    const ZD: Entry = Entry::Zero { state: DirtyState::Dirty };

    #[test]
    fn encode_decode_round_trips() {
        for state in [DirtyState::Untracked, DirtyState::Clean, DirtyState::Dirty, DirtyState::AwaitingClean]
        {
            let frame = 0xffff_ffff_ffff_f000;
            let e = Entry::Page { frame, state };
            assert_eq!(Slot::from_entry(e).entry(), e);
            assert_eq!(e.frame(), Some(frame));
            for s in [Sentinel::Start, Sentinel::End, Sentinel::Single] {
                let slot = Slot::sentinel(s, state, (1 << 52) - 1);
                assert_eq!(slot.sentinel_kind(), Some(s));
                assert_eq!(slot.state(), state);
                assert_eq!(slot.awaiting(), (1 << 52) - 1);
            }
        }
        assert_eq!(Slot::from_entry(Entry::Marker).entry(), Entry::Marker);
        assert!(!Slot::from_entry(page(0)).is_empty());
    }

    #[test]
    fn sparse_insert_lookup_remove() {
        let mut l = PageList::new();
        let far = (1u64 << 40) / PAGE_SIZE * 1024 - 1;
        assert!(l.replace(3, page(1)).is_empty());
        assert!(l.replace(far, Entry::Marker).is_empty());
        assert_eq!(l.get(3).frame(), Some(PAGE_SIZE));
        assert_eq!(l.get(far), Entry::Marker);
        assert_eq!(l.get(4), Entry::Empty);
        assert_eq!(l.page_count(), 1);
        assert_eq!(l.node_count(), 2);
        assert_eq!(l.end_index(), far + 1);
        assert_eq!(l.pages(0, u64::MAX).collect::<Vec<_>>(), vec![(3, page(1)), (far, Entry::Marker)]);
        assert_eq!(l.pages(4, far).count(), 0);
        assert_eq!(l.remove(3), page(1));
        assert_eq!(l.page_count(), 0);
        assert_eq!(l.node_count(), 1, "empty nodes are dropped");
        assert_eq!(l.take_all(), vec![(far, Entry::Marker)]);
        assert!(l.is_empty());
    }

    #[test]
    fn take_range_is_exact() {
        let mut l = PageList::new();
        for i in 0..40 {
            assert!(l.replace(i, page(i)).is_empty());
        }
        let taken = l.take_range(5, 33);
        assert_eq!(taken.len(), 28);
        assert_eq!(taken[0].0, 5);
        assert_eq!(taken[27].0, 32);
        assert_eq!(l.page_count(), 12);
        assert_eq!(l.pages(0, 40).map(|(i, _)| i).collect::<Vec<_>>(), {
            let mut v: Vec<u64> = (0..5).collect();
            v.extend(33..40);
            v
        });
        assert_eq!(l.end_index(), 40);
        assert_eq!(l.take_all().len(), 12);
        assert_eq!(l.end_index(), 0);
        assert_eq!(l.node_count(), 0);
    }

    #[test]
    fn a_huge_zero_interval_costs_two_slots() {
        let mut l = PageList::new();
        l.add_zero(10, 1 << 40, DirtyState::Dirty);
        assert_eq!(l.node_count(), 2);
        assert_eq!(l.get(9), Entry::Empty);
        assert_eq!(l.get(10), ZD);
        assert_eq!(l.get(1 << 30), ZD);
        assert_eq!(l.get((1 << 40) - 1), ZD);
        assert_eq!(l.get(1 << 40), Entry::Empty);
        assert_eq!(l.items(5, 20), vec![Item::Zero(Interval::new(10, 20, DirtyState::Dirty))]);
        assert_eq!(l.gaps(0, 12), vec![(0, 10)]);
        assert_eq!(l.next_populated(0, 100), Some(10));
        assert_eq!(l.next_populated(1 << 20, 1 << 21), Some(1 << 20));
        l.check_intervals();
    }

    #[test]
    fn writing_into_an_interval_splits_it() {
        // Resize 1→6 pages, write pages 2 and 4 (digest §3.2's example).
        let mut l = PageList::new();
        l.add_zero(1, 6, DirtyState::Dirty);
        assert_eq!(l.replace(2, page(2)), ZD);
        assert_eq!(l.replace(4, page(4)), ZD);
        let d = DirtyState::Dirty;
        assert_eq!(
            l.items(0, 6),
            vec![
                Item::Zero(Interval::new(1, 2, d)),
                Item::One(2, page(2)),
                Item::Zero(Interval::new(3, 4, d)),
                Item::One(4, page(4)),
                Item::Zero(Interval::new(5, 6, d)),
            ]
        );
        l.check_intervals();
        // Freeing a page between intervals leaves a gap, not a merge.
        assert_eq!(l.remove(2), page(2));
        assert_eq!(l.get(2), Entry::Empty);
        l.check_intervals();
        // Zeroing the gap merges the three pieces around page 4's left.
        l.add_zero(2, 3, d);
        assert_eq!(l.items(0, 4), vec![Item::Zero(Interval::new(1, 4, d))]);
        l.check_intervals();
    }

    #[test]
    fn take_range_trims_intervals_at_both_edges() {
        let mut l = PageList::new();
        l.add_zero(0, 100, DirtyState::Dirty);
        assert!(l.take_range(10, 20).is_empty());
        assert_eq!(l.get(9), ZD);
        assert_eq!(l.get(10), Entry::Empty);
        assert_eq!(l.get(19), Entry::Empty);
        assert_eq!(l.get(20), ZD);
        l.check_intervals();
        assert!(l.take_range(50, u64::MAX).is_empty());
        assert_eq!(l.end_index(), 50);
        assert_eq!(l.gaps(0, 60), vec![(10, 20), (50, 60)]);
        l.check_intervals();
        assert!(l.take_all().is_empty());
        assert!(l.is_empty());
        l.check_intervals();
    }

    #[test]
    fn adjacent_intervals_merge_only_with_the_same_state() {
        let mut l = PageList::new();
        l.add_zero(0, 4, DirtyState::Dirty);
        l.add_zero(4, 8, DirtyState::Untracked);
        l.add_zero(8, 9, DirtyState::Dirty);
        l.check_intervals();
        assert_eq!(l.items(0, 9).len(), 3);
        l.add_zero(9, 12, DirtyState::Dirty);
        assert_eq!(l.items(8, 12), vec![Item::Zero(Interval::new(8, 12, DirtyState::Dirty))]);
        assert_eq!(l.replace(5, Entry::Marker), Entry::Zero { state: DirtyState::Untracked });
        assert_eq!(l.items(4, 6).len(), 2, "the marker splits its interval");
        l.check_intervals();
    }

    #[test]
    fn an_awaiting_clean_prefix_follows_splits_trims_and_merges() {
        let d = DirtyState::Dirty;
        let mut l = PageList::new();
        l.add_zero(5, 10, d);
        l.set_awaiting(5, 7);
        assert_eq!(l.interval(9), Some(Interval { start: 5, end: 10, state: d, awaiting_end: 7 }));
        // A write at 6 splits the interval; each piece keeps its own prefix.
        assert_eq!(l.replace(6, page(6)), ZD);
        assert_eq!(l.interval(5).unwrap().awaiting_end, 6);
        assert_eq!(l.interval(7), Some(Interval::new(7, 10, d)));
        l.set_awaiting(7, 10);
        l.check_intervals();
        // A zero range added after a prefixed interval merges into it and
        // keeps its prefix; one added before it takes the prefix away.
        l.add_zero(10, 12, d);
        assert_eq!(l.interval(11), Some(Interval { start: 7, end: 12, state: d, awaiting_end: 10 }));
        assert_eq!(l.remove(6), page(6));
        l.add_zero(6, 7, d);
        assert_eq!(l.interval(6), Some(Interval { start: 5, end: 12, state: d, awaiting_end: 6 }));
        l.check_intervals();
        // Trimming keeps what is left of a prefix.
        assert!(l.take_range(5, 6).is_empty());
        assert_eq!(l.interval(6), Some(Interval::new(6, 12, d)));
        l.set_awaiting(6, 9);
        assert!(l.take_range(6, 7).is_empty());
        assert_eq!(l.interval(7), Some(Interval { start: 7, end: 12, state: d, awaiting_end: 9 }));
        l.check_intervals();
    }

    /// A reference model: one entry and one AwaitingClean flag per index,
    /// applied the same operations.
    #[test]
    fn matches_a_per_index_model_under_random_operations() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rand = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        const N: u64 = 80;
        let states = [DirtyState::Untracked, DirtyState::Dirty];
        for _round in 0..200 {
            let mut l = PageList::new();
            let mut model = vec![(Entry::Empty, false); N as usize];
            for _op in 0..60 {
                let (a, b) = (rand(N), rand(N));
                let (s, e) = (a.min(b), a.max(b) + 1);
                match rand(5) {
                    0 => {
                        let i = rand(N);
                        let entry = match rand(3) {
                            0 => Entry::Empty,
                            1 => Entry::Marker,
                            _ => page(i + 1),
                        };
                        assert_eq!(l.replace(i, entry), model[i as usize].0);
                        model[i as usize] = (entry, false);
                    }
                    1 => {
                        let pages: Vec<u64> =
                            (s..e).filter(|&i| model[i as usize].0.frame().is_some()).collect();
                        for i in pages {
                            assert!(l.remove(i).frame().is_some());
                            model[i as usize].0 = Entry::Empty;
                        }
                        let state = states[rand(2) as usize];
                        l.add_zero(s, e, state);
                        for m in &mut model[s as usize..e as usize] {
                            *m = (Entry::Zero { state }, false);
                        }
                        // The interval after loses its prefix when merged.
                        for m in model[e as usize..].iter_mut().take_while(|m| m.0 == Entry::Zero { state }) {
                            m.1 = false;
                        }
                    }
                    2 => {
                        let taken = l.take_range(s, e);
                        let expected: Vec<(u64, Entry)> = (s..e)
                            .map(|i| (i, model[i as usize].0))
                            .filter(|(_, m)| matches!(m, Entry::Page { .. } | Entry::Marker))
                            .collect();
                        assert_eq!(taken, expected);
                        for m in &mut model[s as usize..e as usize] {
                            *m = (Entry::Empty, false);
                        }
                    }
                    3 => {
                        // A prefix of the interval covering `s`.
                        if let Some(iv) = l.interval(s) {
                            let end = e.clamp(iv.start, iv.end);
                            l.set_awaiting(iv.start, end);
                            for i in iv.start..iv.end {
                                model[i as usize].1 = i < end;
                            }
                        }
                    }
                    _ => {
                        let first = (s..e).find(|&i| !model[i as usize].0.is_empty());
                        assert_eq!(l.next_populated(s, e), first);
                        let gaps = l.gaps(s, e);
                        let empty: Vec<u64> = (s..e).filter(|&i| model[i as usize].0.is_empty()).collect();
                        assert_eq!(gaps.iter().flat_map(|&(a, b)| a..b).collect::<Vec<_>>(), empty);
                    }
                }
                l.check_intervals();
                for i in 0..N {
                    let awaiting = l.interval(i).is_some_and(|iv| i < iv.awaiting_end);
                    assert_eq!((l.get(i), awaiting), model[i as usize], "index {i}");
                }
                assert_eq!(l.page_count(), model.iter().filter(|m| m.0.frame().is_some()).count() as u64);
            }
        }
    }
}

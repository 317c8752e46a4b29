//! The page list: the sparse per-node record of what each page offset holds
//! (digest §3.5, Zircon's `VmPageList`).
//!
//! Pages are grouped in nodes of [`FAN_OUT`] consecutive slots, kept in a
//! `BTreeMap` keyed by node index; a node exists only while one of its slots
//! is non-empty (invariant 1 of §3.5). Lookup is O(log n) and walking a range
//! visits only the populated nodes, so a 1 TiB list holding a few pages is as
//! cheap to scan as a small one.
//!
//! Each slot is one packed `u64` ([`Slot`]). Owned content is never dropped
//! silently (invariant 3 of §3.5): every call that removes or overwrites a slot
//! returns the old one, `#[must_use]`, so the caller releases its frame.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
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
    /// Not dirty-tracked: every page of an anonymous VMO.
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

/// Which end of a zero interval a slot marks (digest §3.5): offsets strictly
/// between a `Start` and its `End` are empty slots that read as the interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sentinel {
    /// First page of an interval of two or more pages.
    Start = 1,
    /// Last page of an interval of two or more pages.
    End = 2,
    /// A one-page interval.
    Slot = 3,
}

/// What one slot holds, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotKind {
    /// Nothing: look in the parent (clones) or "not supplied" (pager roots).
    Empty,
    /// A committed frame and its dirty state.
    Page { frame: PhysAddr, state: DirtyState },
    /// Known zero: do not look in the parent.
    Marker,
    /// A sentinel of a (dirty) zero interval (digest §3.2). Only `Untracked`
    /// and `Dirty` are used as states; `awaiting_clean` is the page count of
    /// the interval's AwaitingClean prefix, meaningful on `Start`/`Slot`.
    Interval { sentinel: Sentinel, state: DirtyState, awaiting_clean: u64 },
}

/// One packed slot: bits 0-2 the type (0 is empty), bits 3-4 the dirty state;
/// a page keeps its frame address in bits 12-63, an interval keeps its
/// sentinel in bits 5-6 and its AwaitingClean length (pages) in bits 12-63.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Slot(u64);

impl Slot {
    /// The empty slot.
    pub const EMPTY: Slot = Slot(0);
    /// A zero marker.
    pub const MARKER: Slot = Slot(TYPE_MARKER);

    /// A slot owning `frame` (page-aligned).
    pub fn page(frame: PhysAddr, state: DirtyState) -> Slot {
        debug_assert!(frame.is_multiple_of(PAGE_SIZE));
        Slot(frame | (state as u64) << STATE_SHIFT | TYPE_PAGE)
    }

    /// A zero-interval sentinel; `awaiting_clean` must fit in 52 bits.
    pub fn interval(sentinel: Sentinel, state: DirtyState, awaiting_clean: u64) -> Slot {
        debug_assert!(awaiting_clean < 1 << (64 - PAYLOAD_SHIFT));
        Slot(
            awaiting_clean << PAYLOAD_SHIFT
                | (sentinel as u64) << SENTINEL_SHIFT
                | (state as u64) << STATE_SHIFT
                | TYPE_INTERVAL,
        )
    }

    /// Decodes the slot.
    pub fn kind(self) -> SlotKind {
        match self.0 & TYPE_MASK {
            TYPE_PAGE => SlotKind::Page {
                frame: self.0 & !(PAGE_SIZE - 1),
                state: DirtyState::from_bits(self.0 >> STATE_SHIFT),
            },
            TYPE_MARKER => SlotKind::Marker,
            TYPE_INTERVAL => SlotKind::Interval {
                sentinel: match (self.0 >> SENTINEL_SHIFT) & FIELD_MASK {
                    1 => Sentinel::Start,
                    2 => Sentinel::End,
                    _ => Sentinel::Slot,
                },
                state: DirtyState::from_bits(self.0 >> STATE_SHIFT),
                awaiting_clean: self.0 >> PAYLOAD_SHIFT,
            },
            _ => SlotKind::Empty,
        }
    }

    /// Whether nothing is recorded here.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The frame this slot owns, if it is a page.
    pub fn frame(self) -> Option<PhysAddr> {
        match self.kind() {
            SlotKind::Page { frame, .. } => Some(frame),
            _ => None,
        }
    }
}

type Node = [Slot; FAN_OUT as usize];

/// A sparse map from page index to [`Slot`].
#[derive(Default)]
pub struct PageList {
    nodes: BTreeMap<u64, Box<Node>>,
    pages: u64,
}

impl PageList {
    /// An empty list.
    pub fn new() -> PageList {
        PageList::default()
    }

    /// The slot of page `index`.
    pub fn get(&self, index: u64) -> Slot {
        self.nodes.get(&(index / FAN_OUT)).map_or(Slot::EMPTY, |node| node[(index % FAN_OUT) as usize])
    }

    /// Stores `slot` at page `index` and returns what was there.
    #[must_use]
    pub fn replace(&mut self, index: u64, slot: Slot) -> Slot {
        let key = index / FAN_OUT;
        let i = (index % FAN_OUT) as usize;
        let old = match self.nodes.get_mut(&key) {
            Some(node) => core::mem::replace(&mut node[i], slot),
            None if slot.is_empty() => return Slot::EMPTY,
            None => {
                let mut node = Box::new([Slot::EMPTY; FAN_OUT as usize]);
                node[i] = slot;
                self.nodes.insert(key, node);
                Slot::EMPTY
            }
        };
        if slot.is_empty() && self.nodes[&key].iter().all(|s| s.is_empty()) {
            self.nodes.remove(&key);
        }
        self.pages = self.pages + u64::from(slot.frame().is_some()) - u64::from(old.frame().is_some());
        old
    }

    /// Empties page `index` and returns what was there.
    #[must_use]
    pub fn remove(&mut self, index: u64) -> Slot {
        self.replace(index, Slot::EMPTY)
    }

    /// The non-empty slots with index in `[start, end)`, in index order.
    /// Costs O(log n + populated nodes in the range).
    pub fn range(&self, start: u64, end: u64) -> impl Iterator<Item = (u64, Slot)> + '_ {
        let first = start / FAN_OUT;
        let last = end.div_ceil(FAN_OUT);
        self.nodes
            .range(first..last.max(first))
            .flat_map(|(&key, node)| {
                node.iter().enumerate().map(move |(i, &slot)| (key * FAN_OUT + i as u64, slot))
            })
            .filter(move |&(index, slot)| !slot.is_empty() && index >= start && index < end)
    }

    /// Removes every non-empty slot with index in `[start, end)` and returns
    /// them in index order; the caller releases their frames.
    #[must_use]
    pub fn take_range(&mut self, start: u64, end: u64) -> Vec<(u64, Slot)> {
        let taken: Vec<(u64, Slot)> = self.range(start, end).collect();
        for &(index, _) in &taken {
            let _ = self.remove(index);
        }
        taken
    }

    /// Removes and returns every non-empty slot, in index order.
    #[must_use]
    pub fn take_all(&mut self) -> Vec<(u64, Slot)> {
        self.take_range(0, u64::MAX)
    }

    /// One past the highest populated index (0 if empty). O(log n).
    pub fn end_index(&self) -> u64 {
        self.nodes.last_key_value().map_or(0, |(&key, node)| {
            let last = node.iter().rposition(|s| !s.is_empty()).unwrap_or(0);
            key * FAN_OUT + last as u64 + 1
        })
    }

    /// How many slots hold a page.
    pub fn page_count(&self) -> u64 {
        self.pages
    }

    /// Whether no slot is populated.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Number of nodes allocated (for the metadata measurements).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn encode_decode_round_trips() {
        assert_eq!(Slot::EMPTY.kind(), SlotKind::Empty);
        assert_eq!(Slot::MARKER.kind(), SlotKind::Marker);
        for state in [DirtyState::Untracked, DirtyState::Clean, DirtyState::Dirty, DirtyState::AwaitingClean]
        {
            let frame = 0xffff_ffff_ffff_f000;
            let s = Slot::page(frame, state);
            assert_eq!(s.kind(), SlotKind::Page { frame, state });
            assert_eq!(s.frame(), Some(frame));
            assert_eq!(Slot::page(0, state).frame(), Some(0));
            for sentinel in [Sentinel::Start, Sentinel::End, Sentinel::Slot] {
                let len = (1 << 52) - 1;
                let i = Slot::interval(sentinel, state, len);
                assert_eq!(i.kind(), SlotKind::Interval { sentinel, state, awaiting_clean: len });
                assert_eq!(i.frame(), None);
                assert!(!i.is_empty());
            }
        }
        assert!(!Slot::page(0, DirtyState::Untracked).is_empty());
    }

    #[test]
    fn sparse_insert_lookup_remove() {
        let mut l = PageList::new();
        let far = (1u64 << 40) / PAGE_SIZE * 1024 - 1;
        assert!(l.replace(3, Slot::page(0x1000, DirtyState::Untracked)).is_empty());
        assert!(l.replace(far, Slot::MARKER).is_empty());
        assert_eq!(l.get(3).frame(), Some(0x1000));
        assert_eq!(l.get(far), Slot::MARKER);
        assert_eq!(l.get(4), Slot::EMPTY);
        assert_eq!(l.page_count(), 1);
        assert_eq!(l.node_count(), 2);
        assert_eq!(l.end_index(), far + 1);
        assert_eq!(l.range(0, u64::MAX).collect::<Vec<_>>(), vec![(3, l.get(3)), (far, Slot::MARKER)]);
        assert_eq!(l.range(4, far).count(), 0);
        assert_eq!(l.remove(3).frame(), Some(0x1000));
        assert_eq!(l.page_count(), 0);
        assert_eq!(l.node_count(), 1, "empty nodes are dropped");
        assert_eq!(l.take_all(), vec![(far, Slot::MARKER)]);
        assert!(l.is_empty());
    }

    #[test]
    fn take_range_is_exact() {
        let mut l = PageList::new();
        for i in 0..40 {
            assert!(l.replace(i, Slot::page(i * PAGE_SIZE, DirtyState::Untracked)).is_empty());
        }
        let taken = l.take_range(5, 33);
        assert_eq!(taken.len(), 28);
        assert_eq!(taken[0].0, 5);
        assert_eq!(taken[27].0, 32);
        assert_eq!(l.page_count(), 12);
        assert_eq!(l.range(0, 40).map(|(i, _)| i).collect::<Vec<_>>(), {
            let mut v: Vec<u64> = (0..5).collect();
            v.extend(33..40);
            v
        });
        assert_eq!(l.end_index(), 40);
        assert_eq!(l.take_all().len(), 12);
        assert_eq!(l.end_index(), 0);
        assert_eq!(l.node_count(), 0);
    }
}

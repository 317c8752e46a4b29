//! The dirty-state machine of a pager VMO's pages and its writeback (digest
//! §2.5-2.7, §3.1, §3.2): `ZX_PAGER_OP_DIRTY`, `WRITEBACK_BEGIN` and
//! `WRITEBACK_END`, and the dirty-range and stats queries.
//!
//! ```text
//!             supply / COMMIT of a marker
//!  (absent) ─────────────────────────────► Clean ◄──────────────── END ─┐
//!                                            │ write (TRAP_DIRTY:        │
//!                                            ▼   once OP_DIRTY approves) │
//!                                          Dirty ── BEGIN ──► AwaitingClean
//!                                            ▲                           │
//!                                            └──── write during writeback┘
//! ```
//!
//! Dirty zero ranges (a resize's new tail, OP_ZERO of whole pages) are zero
//! intervals of the root's page list in state Dirty; their AwaitingClean
//! part is the interval's prefix (§3.2), and cleaning it leaves a gap the
//! pager must supply again. Only the paged root is dirty-tracked: every
//! offset here is the root's (a slice's calls reach it through its window).

use alloc::vec::Vec;

use super::family::Harvest;
use super::notices::Runs;
use super::{range_end, Vmo};
use crate::cow::Reserve;
use crate::page_list::{DirtyState, Entry, Interval, Item};
use crate::{Status, PAGE_SIZE};

/// One entry of `zx_pager_query_dirty_ranges`' answer
/// (`zx_vmo_dirty_range_t`): a maximal run of dirty content, bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirtyRange {
    pub offset: u64,
    pub length: u64,
    /// A dirty zero range (`ZX_VMO_DIRTY_RANGE_IS_ZERO`).
    pub zero: bool,
}

/// What `WRITEBACK_BEGIN` marks (its `data`, digest §2.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Writeback {
    /// Every Dirty page and dirty zero range.
    All,
    /// Only the dirty zero ranges (`ZX_VMO_DIRTY_RANGE_IS_ZERO`): a page
    /// written since the pager's query stays Dirty.
    ZeroRanges,
}

impl Vmo {
    /// The root node and the root offsets of `[offset, offset + len)`,
    /// which must lie within the size (OUT_OF_RANGE).
    fn root_range(
        &self,
        fam: &super::family::Family,
        offset: u64,
        len: u64,
    ) -> Result<(usize, u64, u64), Status> {
        let (leaf, base, size) = fam.geometry(self.view);
        let end = range_end(offset, len, size)?;
        Ok((leaf, (base + offset) / PAGE_SIZE, (base + end).div_ceil(PAGE_SIZE)))
    }

    /// `ZX_PAGER_OP_DIRTY` (digest §2.5), page-aligned arguments:
    /// OUT_OF_RANGE; NOT_SUPPORTED without TRAP_DIRTY; BAD_STATE once
    /// detached; NOT_FOUND if a page of the range was never supplied or its
    /// zero range was written back; NO_MEMORY; on any of these nothing
    /// changes, but the writes waiting for approval in the part of the range
    /// within the size retry (and ask again, for a READ first where a page
    /// went missing; Zircon's DelayedDirtyNotFound). Otherwise Clean and
    /// AwaitingClean pages become Dirty, markers and zero ranges become
    /// committed Dirty zero pages, and the writes waiting for that approval
    /// go on. It does not count as a modification.
    pub(crate) fn dirty_pages(&self, offset: u64, len: u64) -> Result<(), Status> {
        self.locked(|fam, notices| {
            let (_, base, size) = fam.geometry(self.view);
            if offset > size {
                return Err(Status::OutOfRange);
            }
            let within =
                ((base + offset) / PAGE_SIZE, (base + offset.saturating_add(len).min(size)) / PAGE_SIZE);
            let result = Self::approve(fam, notices, self.root_range(fam, offset, len));
            if result.is_err() {
                fam.source.as_mut().expect("a pager family").release_dirty(within.0, within.1);
            }
            result
        })
    }

    /// The work of [`Vmo::dirty_pages`] once the range is known.
    fn approve(
        fam: &mut super::family::Family,
        notices: &super::notices::Notices,
        range: Result<(usize, u64, u64), Status>,
    ) -> Result<(), Status> {
        let (root, start, end) = range?;
        let source = fam.source.as_ref().expect("a pager family");
        if !source.traps_dirty() {
            return Err(Status::NotSupported);
        }
        if !source.is_attached() {
            return Err(Status::BadState);
        }
        let pages = fam.cow.pages(root);
        if !pages.gaps(start, end).is_empty() {
            return Err(Status::NotFound);
        }
        let zeros: u64 = pages
            .items(start, end)
            .iter()
            .map(|item| match *item {
                Item::Zero(iv) => iv.end - iv.start,
                Item::One(_, Entry::Marker) => 1,
                Item::One(..) => 0,
            })
            .sum();
        let mut reserve = Reserve::empty(notices.allocator());
        reserve.fill(zeros)?;
        let (mut dirtied, mut committed) = (Runs::default(), Runs::default());
        for index in start..end {
            let at = index * PAGE_SIZE;
            match fam.cow.entry(root, at) {
                Entry::Page { state: DirtyState::Dirty, .. } => continue,
                Entry::Page { .. } => fam.cow.set_state(root, at, DirtyState::Dirty),
                _ => {
                    // A marker or zero range: a real zero page now, which
                    // the mappings of the zero frame there must find.
                    let _fresh = fam.cow.fork(root, at, &mut reserve);
                    committed.add(at);
                }
            }
            dirtied.add(at);
        }
        fam.notify_runs(root, &committed, notices);
        let source = fam.source.as_mut().expect("a pager family");
        for &(s, e) in &dirtied.0 {
            source.dirtied(s / PAGE_SIZE, e / PAGE_SIZE, fam.cow.pages(root));
        }
        Ok(())
    }

    /// `ZX_PAGER_OP_WRITEBACK_BEGIN` (digest §2.5, §3.2), page-aligned
    /// arguments; OUT_OF_RANGE. Dirty pages become AwaitingClean and lose
    /// write permission in every mapping, so the next write is seen; dirty
    /// zero ranges get an AwaitingClean prefix: a BEGIN that reaches an
    /// interval's start sets or lengthens it (never shortens it); one that
    /// starts inside an interval leaves it alone (Zircon's
    /// ResizeWritebackRepeated). Repeating it changes nothing. Works after
    /// detach.
    pub(crate) fn writeback_begin(&self, offset: u64, len: u64, what: Writeback) -> Result<(), Status> {
        self.locked(|fam, _| {
            let (root, start, end) = self.root_range(fam, offset, len)?;
            // Every translation of the range goes read-only first, and the
            // writes they recorded make their pages Dirty: a store after this
            // faults, one before it is written back.
            let written = fam.harvest(root, start * PAGE_SIZE, end * PAGE_SIZE, Harvest::RemoveWrite);
            fam.absorb_written(root, &written);
            for item in fam.cow.pages(root).items(start, end) {
                match item {
                    Item::One(index, Entry::Page { state: DirtyState::Dirty, .. })
                        if what == Writeback::All =>
                    {
                        fam.cow.set_state(root, index * PAGE_SIZE, DirtyState::AwaitingClean);
                    }
                    Item::Zero(piece) if piece.state == DirtyState::Dirty => {
                        Self::begin_zero_range(fam.cow.pages_mut(root), piece);
                    }
                    Item::One(..) | Item::Zero(_) => {}
                }
            }
            Ok(())
        })
    }

    /// BEGIN's rule for the part `piece` of a dirty zero interval (see
    /// [`Vmo::writeback_begin`]): only a BEGIN that reaches the interval's
    /// start marks it, lengthening its prefix to the end of the BEGIN range.
    fn begin_zero_range(pages: &mut crate::page_list::PageList, piece: Interval) {
        let whole = pages.interval(piece.start).expect("a zero interval");
        if piece.start == whole.start && whole.awaiting_end < piece.end {
            pages.set_awaiting(whole.start, piece.end);
        }
    }

    /// `ZX_PAGER_OP_WRITEBACK_END` (digest §2.5, §3.2), page-aligned
    /// arguments; OUT_OF_RANGE. AwaitingClean pages become Clean (pages
    /// written since BEGIN are Dirty again and stay so); the AwaitingClean
    /// parts of zero ranges become gaps the pager must supply again. END
    /// without BEGIN changes nothing. Works after detach.
    pub(crate) fn writeback_end(&self, offset: u64, len: u64) -> Result<(), Status> {
        self.locked(|fam, _| {
            let (root, start, end) = self.root_range(fam, offset, len)?;
            let mut gaps = Vec::new();
            for item in fam.cow.pages(root).items(start, end) {
                match item {
                    Item::One(index, Entry::Page { state: DirtyState::AwaitingClean, .. }) => {
                        fam.cow.set_state(root, index * PAGE_SIZE, DirtyState::Clean);
                    }
                    Item::Zero(piece) if piece.has_awaiting() => gaps.push((piece.start, piece.awaiting_end)),
                    Item::One(..) | Item::Zero(_) => {}
                }
            }
            for (s, e) in gaps {
                let cleaned = fam.cow.pages_mut(root).take_range(s, e);
                debug_assert!(cleaned.is_empty(), "a zero range holds no pages");
                if let Some(source) = fam.source.as_mut() {
                    source.emptied(s, e);
                }
            }
            Ok(())
        })
    }

    /// `zx_pager_query_dirty_ranges` (digest §2.6): the dirty content of
    /// `[offset, offset + len)` rounded out to pages (OUT_OF_RANGE beyond
    /// the size), in order: maximal runs of Dirty and AwaitingClean pages,
    /// and dirty zero ranges reported apart, also when adjacent.
    pub(crate) fn dirty_ranges(&self, offset: u64, len: u64) -> Result<Vec<DirtyRange>, Status> {
        let mut fam = self.family.lock();
        let (leaf, base, size) = fam.geometry(self.view);
        let end = range_end(offset, len, size)?;
        let (start, end) = ((base + offset) / PAGE_SIZE, (base + end).div_ceil(PAGE_SIZE));
        let written = fam.harvest(leaf, start * PAGE_SIZE, end * PAGE_SIZE, Harvest::Report);
        fam.absorb_written(leaf, &written);
        let mut out: Vec<DirtyRange> = Vec::new();
        for item in fam.cow.pages(leaf).items(start, end) {
            let (s, e, zero) = match item {
                Item::One(
                    index,
                    Entry::Page { state: DirtyState::Dirty | DirtyState::AwaitingClean, .. },
                ) => (index, index + 1, false),
                Item::Zero(iv) if iv.state == DirtyState::Dirty => (iv.start, iv.end, true),
                Item::One(..) | Item::Zero(_) => continue,
            };
            let (s, e) = (s * PAGE_SIZE - base, e * PAGE_SIZE - base);
            match out.last_mut() {
                Some(last) if last.zero == zero && last.offset + last.length == s => last.length += e - s,
                _ => out.push(DirtyRange { offset: s, length: e - s, zero }),
            }
        }
        Ok(out)
    }

    /// `zx_pager_query_vmo_stats` (digest §2.7): whether the VMO was
    /// modified since the last reset, resetting it if `reset`.
    pub(crate) fn modified(&self, reset: bool) -> bool {
        let mut fam = self.family.lock();
        let (leaf, _, _) = fam.geometry(self.view);
        let written = fam.harvest(leaf, 0, u64::MAX, Harvest::Report);
        fam.absorb_written(leaf, &written);
        fam.source.as_mut().is_some_and(|s| s.modified(reset))
    }
}

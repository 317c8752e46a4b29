//! A family's shared state: its copy-on-write tree and the views (VMOs)
//! onto it, each with the mappings that must hear of page changes.

use alloc::sync::Weak;
use alloc::vec::Vec;
use smallvec::SmallVec;

use super::discard::Discard;
use super::notices::{NoticeKind, Notices, Runs};
use super::{Stop, VmoMapping};
use crate::cow::{Content, CowTree, NodeId};
use crate::page_list::{DirtyState, Entry};
use crate::page_source::PageSource;
use crate::platform::CachePolicy;
use crate::slab::Slab;
use crate::PAGE_SIZE;

#[derive(Clone, Copy)]
pub(super) struct Window {
    pub(super) offset: u64,
    pub(super) size: u64,
}

pub(super) struct View {
    pub(super) node: NodeId,
    /// `None`: the whole leaf, following its size. `Some`: a slice.
    pub(super) window: Option<Window>,
    pub(super) mappings: Vec<Weak<dyn VmoMapping>>,
    /// How the view's pages are mapped (digest §3.6); slices and
    /// references take their parent's.
    pub(super) cache: CachePolicy,
    /// Whether the view's memory is attributed to it (`ZX_INFO_VMO`): not
    /// for slices and references, whose pages are their parent's.
    pub(super) attributed: bool,
}

impl View {
    /// A view of `node` through `window`, not mapped yet.
    pub(super) fn new(node: NodeId, window: Option<Window>, cache: CachePolicy, attributed: bool) -> View {
        View { node, window, mappings: Vec::new(), cache, attributed }
    }
}

/// What [`Family::harvest`] does to the translations it asks about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Harvest {
    /// Drop them (the pages are about to go).
    Unmap,
    /// Take write permission away (the next write must fault).
    RemoveWrite,
    /// Leave them, clean again.
    Report,
}

/// What writing a page of a view's node takes first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Need {
    /// Nothing: the node owns it, writable.
    Ready,
    /// A frame: a fork, or a fresh page for a zero one.
    Frame,
    /// Its content, from the pager (READ).
    Read,
    /// The pager's approval of the first write (TRAP_DIRTY, DIRTY).
    Approval,
}

pub(crate) struct Family {
    pub(super) cow: CowTree,
    pub(super) views: Slab<View>,
    /// Used only by a discardable root, which can have no children.
    pub(super) discard: Discard,
    /// The page source of a pager family's paged root.
    pub(super) source: Option<PageSource>,
    /// The eviction hints of a pager family's paged root.
    pub(super) hints: super::eviction::Hints,
    /// Evictions and discards that freed pages (`committed_change_events`).
    pub(super) reclaim_events: u64,
    /// Whether a translation may map a frame the leaf of its mapping does
    /// not own: the zero frame, handed to a read fault of a page never
    /// written, or a page shared copy-on-write, which needs a copy-on-write
    /// child. Until then a page that gets a new frame was translated
    /// nowhere, and [`Family::notify_runs`] has no one to tell. Never
    /// cleared.
    pub(super) lent: bool,
}

impl Family {
    /// The paged root of a pager family.
    pub(super) fn paged_root(&self) -> Option<NodeId> {
        self.cow.paged_root()
    }

    pub(super) fn view(&self, view: usize) -> &View {
        self.views.get(view)
    }

    /// The leaf, the view's offset 0 in it, and the view's size.
    pub(super) fn geometry(&self, view: usize) -> (NodeId, u64, u64) {
        let v = self.view(view);
        let leaf_size = self.cow.size(v.node);
        match v.window {
            None => (v.node, 0, leaf_size),
            Some(w) => (v.node, w.offset, w.size.min(leaf_size.saturating_sub(w.offset))),
        }
    }

    pub(super) fn add_view(&mut self, view: View) -> usize {
        self.views.insert(view)
    }

    /// Queues `kind` for every mapping of every view of `leaf` overlapping the
    /// leaf's `[start, end)`.
    pub(super) fn notify(&self, leaf: NodeId, start: u64, end: u64, kind: NoticeKind, out: &Notices) {
        for v in self.views.iter().filter(|v| v.node == leaf) {
            let (s, e) = match v.window {
                None => (start, end),
                Some(w) => {
                    (start.max(w.offset) - w.offset, end.min(w.offset + w.size).saturating_sub(w.offset))
                }
            };
            if s >= e {
                continue;
            }
            for m in &v.mappings {
                out.call(m, kind, s, e - s);
            }
        }
    }

    /// Queues `kind` for every mapping of every view that sees `node`'s
    /// `[start, end)`: views of `node` itself and of the clones looking
    /// through to it (a paged root's pages are shared live with them).
    pub(super) fn notify_seeing(&self, node: NodeId, start: u64, end: u64, kind: NoticeKind, out: &Notices) {
        self.notify_seeing_ranges(node, &[(start, end)], kind, out);
    }

    /// [`Self::notify_seeing`] of each of `ranges`, finding the views that
    /// see `node` once for all of them.
    #[inline(always)]
    fn notify_seeing_ranges(&self, node: NodeId, ranges: &[(u64, u64)], kind: NoticeKind, out: &Notices) {
        if self.cow.is_childless(node) {
            // No clone looks through to `node`: its own views alone see
            // its pages (the copy-on-write fault's leaf).
            for &(start, end) in ranges {
                self.notify(node, start, end, kind, out);
            }
            return;
        }
        let mut leaves: SmallVec<[NodeId; 4]> = self.views.iter().map(|v| v.node).collect();
        leaves.sort_unstable();
        leaves.dedup();
        for leaf in leaves {
            let Some((shift, visible_end)) = self.cow.window_onto(leaf, node) else { continue };
            for &(start, end) in ranges {
                let (s, e) = (start.saturating_sub(shift), end.saturating_sub(shift).min(visible_end));
                if s < e {
                    self.notify(leaf, s, e, kind, out);
                }
            }
        }
    }

    /// Whether writing `leaf`'s page at `offset` needs the pager's approval:
    /// on the paged root of a TRAP_DIRTY VMO, every page that is not Dirty
    /// already (Clean and AwaitingClean pages, markers, zero ranges; digest
    /// §3.1).
    #[inline(always)]
    fn needs_approval(&self, leaf: NodeId, offset: u64) -> bool {
        self.cow.is_paged(leaf)
            && self.source.as_ref().is_some_and(PageSource::traps_dirty)
            && !matches!(
                self.cow.entry(leaf, offset),
                Entry::Empty | Entry::Page { state: DirtyState::Dirty, .. }
            )
    }

    /// What a write of `leaf`'s page at page-aligned `offset` needs first.
    pub(super) fn write_need(&self, leaf: NodeId, offset: u64) -> Need {
        self.write_need_of(leaf, offset, self.cow.lookup(leaf, offset))
    }

    /// [`Family::write_need`] of a page whose content was just looked up.
    #[inline(always)]
    pub(super) fn write_need_of(&self, leaf: NodeId, offset: u64, content: Content) -> Need {
        match content {
            Content::Missing { .. } => Need::Read,
            _ if self.needs_approval(leaf, offset) => Need::Approval,
            Content::Own(..) => Need::Ready,
            Content::Shared(..) | Content::Zero => Need::Frame,
        }
    }

    /// The first zero range in `[start, end)` of `leaf` (as its first and
    /// end byte) that a COMMIT must have approved (markers commit as Clean
    /// pages, so they need none).
    pub(super) fn first_zero_needing_approval(
        &self,
        leaf: NodeId,
        start: u64,
        end: u64,
    ) -> Option<(u64, u64)> {
        if !self.cow.is_paged(leaf) || !self.source.as_ref().is_some_and(PageSource::traps_dirty) {
            return None;
        }
        self.cow.pages(leaf).items(start / PAGE_SIZE, end.div_ceil(PAGE_SIZE)).into_iter().find_map(|item| {
            match item {
                crate::page_list::Item::Zero(iv) => Some((iv.start * PAGE_SIZE, iv.end * PAGE_SIZE)),
                crate::page_list::Item::One(..) => None,
            }
        })
    }

    /// The wait a write needs before it can go on at `leaf`'s page `offset`
    /// (`need` is [`Need::Read`] or [`Need::Approval`]), for the run up to
    /// `end` that needs the same.
    pub(super) fn wait_to_write(&mut self, need: Need, leaf: NodeId, offset: u64, end: u64) -> Stop {
        if need == Need::Read {
            return self.wait_for_page(leaf, offset, end);
        }
        let mut run_end = offset + PAGE_SIZE;
        while run_end < end && self.needs_approval(leaf, run_end) {
            run_end += PAGE_SIZE;
        }
        let source = self.source.as_mut().expect("only pager families need approval");
        match source.wait_for_dirty(offset / PAGE_SIZE, run_end / PAGE_SIZE) {
            Ok(ticket) => Stop::Wait(ticket),
            Err(status) => Stop::Fail(status),
        }
    }

    /// Whether `leaf`'s page, seen as `content`, may be mapped writable: it
    /// is `leaf`'s own, and either needs no dirty tracking, is Dirty
    /// already, or is a Clean page of a paged root without TRAP_DIRTY,
    /// whose first write the translation's dirty state records with no fault
    /// (harvested by [`Family::harvest`]). AwaitingClean pages and every
    /// Clean page of a TRAP_DIRTY root fault on their first write (§3.1).
    pub(super) fn maps_writable(&self, leaf: NodeId, content: Content) -> bool {
        let traps = self.source.as_ref().is_some_and(PageSource::traps_dirty);
        match content {
            Content::Own(_, DirtyState::Dirty | DirtyState::Untracked) => true,
            Content::Own(_, DirtyState::Clean) => self.cow.is_paged(leaf) && !traps,
            _ => false,
        }
    }

    /// Asks every mapping of `node`'s own views (not clones: they never map
    /// its pages writable) to `how` its translations of `node`'s
    /// `[start, end)` (bytes) at once, and returns the pages (offsets in
    /// `node`) whose translations had been written through.
    pub(super) fn harvest(&self, node: NodeId, start: u64, end: u64, how: Harvest) -> Vec<u64> {
        let mut written = Vec::new();
        for v in self.views.iter().filter(|v| v.node == node) {
            let (base, s, e) = match v.window {
                None => (0, start, end),
                Some(w) => (
                    w.offset,
                    start.max(w.offset) - w.offset,
                    end.min(w.offset + w.size).saturating_sub(w.offset),
                ),
            };
            if s >= e {
                continue;
            }
            let mut note = |offset: u64| written.push(base + (offset & !(PAGE_SIZE - 1)));
            for m in v.mappings.iter().filter_map(Weak::upgrade) {
                match how {
                    Harvest::Unmap => m.unmap_vmo_range(s, e - s, &mut note),
                    Harvest::RemoveWrite => m.remove_write_vmo_range(s, e - s, &mut note),
                    Harvest::Report => m.harvest_written(s, e - s, &mut note),
                }
            }
        }
        written
    }

    /// Pages of paged root `root` at `offsets` were written through
    /// mappings: a Clean one becomes Dirty (AwaitingClean ones are never
    /// mapped writable), and the VMO counts as modified.
    pub(super) fn absorb_written(&mut self, root: NodeId, offsets: &[u64]) {
        if offsets.is_empty() || !self.cow.is_paged(root) {
            return;
        }
        for &offset in offsets {
            if let Entry::Page { state: DirtyState::Clean, .. } = self.cow.entry(root, offset) {
                self.cow.set_state(root, offset, DirtyState::Dirty);
            }
        }
        self.note_modified(root);
    }

    /// Frees the Clean pages (and zero markers) of paged root `root` in the
    /// byte `runs`, after taking them out of every mapping at once: a page
    /// some translation had been written through is Dirty instead and stays
    /// (never evict or decommit a page the hardware dirtied). The pages
    /// freed go missing: the pager supplies them again on the next access.
    pub(super) fn drop_clean(&mut self, root: NodeId, runs: &[(u64, u64)], notices: &Notices) {
        for &(s, e) in runs {
            let written = self.harvest(root, s, e, Harvest::Unmap);
            self.absorb_written(root, &written);
        }
        let mut freed = Runs::default();
        for &(s, e) in runs {
            for offset in (s..e).step_by(PAGE_SIZE as usize) {
                match self.cow.entry(root, offset) {
                    Entry::Page { state: DirtyState::Clean, .. } | Entry::Marker => {
                        let taken = self.cow.pages_mut(root).remove(offset / PAGE_SIZE);
                        if let Some(frame) = taken.frame() {
                            crate::platform::FrameAllocator::free(notices, frame);
                        }
                        freed.add(offset);
                    }
                    _ => {}
                }
            }
        }
        for &(s, e) in &freed.0 {
            // Clones may map the freed frames read-only.
            self.notify_seeing(root, s, e, NoticeKind::Unmap, notices);
            if let Some(source) = self.source.as_mut() {
                source.emptied(s / PAGE_SIZE, e / PAGE_SIZE);
            }
        }
    }

    /// Notes that a write, a zero or a resize changed `leaf`, when it is a
    /// paged root (digest §2.7: clones do not count).
    #[inline(always)]
    pub(super) fn note_modified(&mut self, leaf: NodeId) {
        if self.cow.is_paged(leaf) {
            if let Some(source) = self.source.as_mut() {
                source.set_modified();
            }
        }
    }

    /// The wait for page-aligned `offset` of `leaf`, which is missing: a
    /// ticket on the request for the missing run from there up to `end`
    /// (digest §2.15 batching), in the root's pages.
    pub(super) fn wait_for_page(&mut self, leaf: NodeId, offset: u64, end: u64) -> Stop {
        let run_end = self.cow.missing_run(leaf, offset, end);
        let shift = self.cow.root_offset(leaf);
        let source = self.source.as_mut().expect("only pager families miss pages");
        let first = (offset + shift) / PAGE_SIZE;
        match source.wait_for(first, (run_end + shift).div_ceil(PAGE_SIZE)) {
            Ok(ticket) => Stop::Wait(ticket),
            Err(status) => Stop::Fail(status),
        }
    }

    /// Unmaps the runs of `leaf` that got new frames (forks, committed zero
    /// pages) wherever they are seen: in `leaf`'s mappings and in those of
    /// the at-least-on-write clones that see it live, which would otherwise
    /// go on reading the frame (the zero frame, a parent's page) `vmo_read`
    /// no longer reads there.
    #[inline(always)]
    pub(super) fn notify_runs(&self, leaf: NodeId, runs: &Runs, out: &Notices) {
        if self.lent && !runs.0.is_empty() {
            self.notify_seeing_ranges(leaf, &runs.0, NoticeKind::Unmap, out);
        }
    }
}

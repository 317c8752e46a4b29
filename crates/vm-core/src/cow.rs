//! The copy-on-write tree behind a family of VMOs (digest §3.4).
//!
//! Every VMO sees the pages of one *visible* node. Each node sees its
//! parent's pages in a window: own offset `x` reads the parent's
//! `x + parent_offset` while `x < parent_limit`, else zero. Shrinking lowers
//! the limit, so a shrink-then-grow never re-exposes parent data.
//!
//! Two kinds of clone share pages with their parent:
//! - A *snapshot* of a node moves the node's page list into a new *hidden*
//!   node (an O(1) move of the map) that becomes the parent of the node and
//!   of the new child; both start empty, so each sees the contents of the
//!   moment of the snapshot, and later writes on either side stay private
//!   (bidirectional copy-on-write).
//! - An *at-least-on-write* child hangs directly off a visible node, which
//!   keeps its pages: the child sees the parent's current pages until it
//!   writes them (unidirectional copy-on-write). Pager families use these,
//!   since the pager keeps supplying into the root (§3.4).
//!
//! A write to a page a node does not own *forks* it: an ancestor's page no
//! other node can see is moved into the writer (migration), otherwise one
//! page is copied. When a VMO closes, shrinks or zeroes pages, hidden pages
//! no visible node can see any more are freed and pages only one can see
//! move to it; a hidden node left with one child merges into it. So a
//! family holds no more frames than its live contents need.
//!
//! The root of a pager family is *paged*: an empty slot there is a page the
//! pager has not supplied (`Content::Missing`), its pages carry the dirty
//! states of §3.1, and it is never merged away or robbed of pages by a
//! migration, even once its own VMO has closed and only clones see it.

use alloc::vec;
use alloc::vec::Vec;
use core::mem::ManuallyDrop;
use smallvec::SmallVec;

use crate::page_list::{DirtyState, Entry, Item, PageList};
use crate::platform::{FrameAllocator, PhysAddr};
use crate::{Status, PAGE_SIZE};

/// Index of a node in its [`CowTree`].
pub(crate) type NodeId = usize;

struct CowNode {
    pages: PageList,
    parent: Option<NodeId>,
    /// Where this node's offset 0 lies in the parent (page-aligned bytes).
    parent_offset: u64,
    /// Own offsets below this may see the parent's pages.
    parent_limit: u64,
    /// The nodes whose parent this is: a hidden node's snapshot children,
    /// or a visible node's at-least-on-write children.
    children: Vec<NodeId>,
    /// No VMO views this node; it holds pages its children may see.
    hidden: bool,
    /// The root of a pager family (see the module docs).
    paged: bool,
    size: u64,
}

/// Frames taken from the allocator ahead of an operation, so that it either
/// gets every frame it may need or fails with NO_MEMORY before changing
/// anything. Frames left over are returned on drop.
pub(crate) struct Reserve<'a, F: FrameAllocator + ?Sized> {
    frames: &'a F,
    /// Inline for the one or two frames of a fault: no heap allocation.
    /// Dropped by hand ([`Reserve`]'s `drop`): with a field that has drop
    /// glue of its own, the reservation's glue is too large to inline, a
    /// call and return on every fault.
    spare: ManuallyDrop<SmallVec<[PhysAddr; 2]>>,
}

impl<'a, F: FrameAllocator + ?Sized> Reserve<'a, F> {
    /// A reservation from `frames`, holding none yet.
    pub fn empty(frames: &'a F) -> Reserve<'a, F> {
        Reserve { frames, spare: ManuallyDrop::new(SmallVec::new()) }
    }

    /// Takes `count` frames, or fails with NO_MEMORY (what it took goes back
    /// when the reservation is dropped). Built empty and filled in
    /// place: a reservation returned in a `Result` was copied out with two
    /// `memcpy` calls on every fault.
    #[inline(always)]
    pub fn fill(&mut self, count: u64) -> Result<(), Status> {
        let before = self.spare.len();
        for _ in 0..count {
            self.spare.push(self.frames.alloc().ok_or(Status::NoMemory)?);
        }
        // Hand frames out in allocation order, which keeps runs committed in
        // one go physically contiguous when the allocator allows.
        self.spare[before..].reverse();
        Ok(())
    }

    fn take(&mut self) -> PhysAddr {
        self.spare.pop().expect("an operation used more frames than it reserved")
    }

    /// Returns the frames left over, and frees a spilled list's buffer (a
    /// commit of many pages); an inline list owns nothing more.
    #[cold]
    fn release(&mut self) {
        for frame in self.spare.drain(..) {
            self.frames.free(frame);
        }
        drop(core::mem::take(&mut *self.spare));
    }
}

impl<F: FrameAllocator + ?Sized> Drop for Reserve<'_, F> {
    /// A fault uses what it reserved: the common drop has nothing to do.
    #[inline(always)]
    fn drop(&mut self) {
        if !self.spare.is_empty() || self.spare.spilled() {
            self.release();
        }
    }
}

/// Who can see a hidden node's page.
enum Viewers {
    None,
    One(NodeId, u64),
    Many,
}

/// Where a page a node sees comes from.
enum Found {
    /// A frame in `node` at `offset` (that node's offset space).
    Page {
        node: NodeId,
        offset: u64,
        frame: PhysAddr,
        state: DirtyState,
    },
    Zero,
    /// The paged root has nothing at this (root) offset yet.
    Missing(u64),
}

/// A page as a visible node sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Content {
    /// Owned by the node: may be written in place (a tracked page once it
    /// is marked dirty).
    Own(PhysAddr, DirtyState),
    /// An ancestor's page, shared copy-on-write: the frame, the ancestor
    /// that holds it and its offset there.
    Shared(PhysAddr, NodeId, u64),
    /// Reads as zero.
    Zero,
    /// The pager has not supplied it: the family's paged root must get the
    /// page at this root offset (bytes) first.
    Missing { root_offset: u64 },
}

/// The nodes of one family: roots, their clones and the hidden nodes.
#[derive(Default)]
pub(crate) struct CowTree {
    nodes: crate::slab::Slab<CowNode>,
    /// The paged root of a pager family (it stays until the family goes).
    paged_root: Option<NodeId>,
}

fn page(offset: u64) -> u64 {
    offset / PAGE_SIZE
}

fn release(frames: &dyn FrameAllocator, entries: Vec<(u64, Entry)>) {
    for (_, entry) in entries {
        if let Some(frame) = entry.frame() {
            frames.free(frame);
        }
    }
}

impl CowTree {
    #[inline(always)]
    fn node(&self, id: NodeId) -> &CowNode {
        self.nodes.get(id)
    }

    #[inline(always)]
    fn node_mut(&mut self, id: NodeId) -> &mut CowNode {
        self.nodes.get_mut(id)
    }

    fn add(&mut self, node: CowNode) -> NodeId {
        self.nodes.insert(node)
    }

    fn remove(&mut self, id: NodeId) -> CowNode {
        self.nodes.remove(id)
    }

    fn new_node(size: u64, parent: Option<NodeId>, parent_offset: u64, parent_limit: u64) -> CowNode {
        CowNode {
            pages: PageList::new(),
            parent,
            parent_offset,
            parent_limit,
            children: Vec::new(),
            hidden: false,
            paged: false,
            size,
        }
    }

    /// A new parentless node of `size` bytes; `paged` for a pager family.
    pub fn add_root(&mut self, size: u64, paged: bool) -> NodeId {
        let mut node = Self::new_node(size, None, 0, 0);
        node.paged = paged;
        let id = self.add(node);
        if paged {
            self.paged_root = Some(id);
        }
        id
    }

    /// The paged root, in a pager family.
    pub fn paged_root(&self) -> Option<NodeId> {
        self.paged_root
    }

    /// Whether no node is left.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The node's size in bytes.
    pub fn size(&self, leaf: NodeId) -> u64 {
        self.node(leaf).size
    }

    /// Whether `leaf` shares pages with an ancestor (a clone, or a VMO with
    /// live snapshot children): the absence of a page does not imply zero.
    pub fn has_parent(&self, leaf: NodeId) -> bool {
        self.node(leaf).parent.is_some()
    }

    /// Whether `leaf` is a paged root, whose pages are dirty-tracked.
    #[inline(always)]
    pub fn is_paged(&self, leaf: NodeId) -> bool {
        self.node(leaf).paged
    }

    /// Whether no node has `id` as its parent: only `id` itself sees its
    /// pages.
    #[inline(always)]
    pub fn is_childless(&self, id: NodeId) -> bool {
        self.node(id).children.is_empty()
    }

    /// `leaf`'s offset 0 in the offset space of its family's first root.
    pub fn root_offset(&self, leaf: NodeId) -> u64 {
        let mut offset = 0u64;
        let mut id = leaf;
        while let Some(parent) = self.node(id).parent {
            offset += self.node(id).parent_offset;
            id = parent;
        }
        offset
    }

    /// Pages `leaf` owns.
    pub fn own_pages(&self, leaf: NodeId) -> u64 {
        self.node(leaf).pages.page_count()
    }

    /// Pages `leaf` owns in its `[start, end)` (bytes).
    pub fn own_pages_in(&self, leaf: NodeId, start: u64, end: u64) -> u64 {
        let pages = self.node(leaf).pages.pages(page(start), end.div_ceil(PAGE_SIZE));
        pages.filter(|(_, entry)| entry.frame().is_some()).count() as u64
    }

    /// `leaf`'s own page list.
    pub fn pages(&self, leaf: NodeId) -> &PageList {
        &self.node(leaf).pages
    }

    /// `leaf`'s own page list, to change its zero ranges.
    pub fn pages_mut(&mut self, leaf: NodeId) -> &mut PageList {
        &mut self.node_mut(leaf).pages
    }

    /// Removes everything parentless `leaf` records in `[start, end)`
    /// (page-aligned bytes) and hands the pages over to the caller: an
    /// auxiliary VMO's pages on their way into a pager VMO (digest §2.4).
    pub fn take(&mut self, leaf: NodeId, start: u64, end: u64) -> Vec<(u64, Entry)> {
        debug_assert!(!self.has_parent(leaf));
        self.node_mut(leaf).pages.take_range(page(start), page(end))
    }

    /// What `leaf` itself records at page-aligned `offset`.
    pub fn entry(&self, leaf: NodeId, offset: u64) -> Entry {
        self.node(leaf).pages.get(page(offset))
    }

    /// Where the page `leaf` sees at page-aligned `offset` comes from.
    #[inline]
    fn find(&self, leaf: NodeId, offset: u64) -> Found {
        let (mut id, mut off) = (leaf, offset);
        loop {
            let node = self.node(id);
            match node.pages.get(page(off)) {
                Entry::Page { frame, state } => return Found::Page { node: id, offset: off, frame, state },
                Entry::Marker | Entry::Zero { .. } => return Found::Zero,
                Entry::Empty => {}
            }
            match node.parent {
                Some(parent) if off < node.parent_limit => {
                    off += node.parent_offset;
                    id = parent;
                }
                None if node.paged && off < node.size => return Found::Missing(off),
                _ => return Found::Zero,
            }
        }
    }

    /// What `leaf` sees at page-aligned `offset`. O(depth · log n).
    #[inline]
    pub fn lookup(&self, leaf: NodeId, offset: u64) -> Content {
        match self.find(leaf, offset) {
            Found::Page { node, frame, state, .. } if node == leaf => Content::Own(frame, state),
            Found::Page { node, offset, frame, .. } => Content::Shared(frame, node, offset),
            Found::Zero => Content::Zero,
            Found::Missing(root_offset) => Content::Missing { root_offset },
        }
    }

    /// The end of the run of pages from `start` (which `leaf` sees as
    /// [`Content::Missing`]) that are missing too, up to `end` (bytes of
    /// `leaf`): the run stops at any page `leaf` or an ancestor on the way
    /// has, and at every window's limit (digest §2.15: batching checks
    /// ancestor pages). O(depth · log n).
    pub fn missing_run(&self, leaf: NodeId, start: u64, end: u64) -> u64 {
        let (mut id, mut s, mut e, mut shift) = (leaf, start, end, 0);
        loop {
            let node = self.node(id);
            if let Some(i) = node.pages.next_populated(page(s), e.div_ceil(PAGE_SIZE)) {
                e = e.min(i * PAGE_SIZE);
            }
            match node.parent {
                Some(parent) => {
                    e = e.min(node.parent_limit);
                    s += node.parent_offset;
                    e += node.parent_offset;
                    shift += node.parent_offset;
                    id = parent;
                }
                None => return e.min(node.size) - shift,
            }
        }
    }

    /// The first offset in `[start, end)` (page-aligned bytes) that `leaf`
    /// sees as [`Content::Missing`]. Costs O(populated slots in the windows),
    /// not O(range length).
    pub fn first_missing(&self, leaf: NodeId, start: u64, end: u64) -> Option<u64> {
        // Depth first along the parent chain, lowest offsets first: each
        // entry is a node, its offset 0 in `leaf`'s space, and its gaps
        // still to look behind (in its own bytes), lowest last.
        let gaps = |id: NodeId, s: u64, e: u64| -> Vec<(u64, u64)> {
            let pages = &self.node(id).pages;
            pages
                .gaps(page(s), e.div_ceil(PAGE_SIZE))
                .into_iter()
                .rev()
                .map(|(a, b)| (a * PAGE_SIZE, b * PAGE_SIZE))
                .collect()
        };
        let mut stack = vec![(leaf, 0u64, gaps(leaf, start, end))];
        while let Some((id, shift, mut pending)) = stack.pop() {
            let Some((gs, ge)) = pending.pop() else { continue };
            let node = self.node(id);
            stack.push((id, shift, pending));
            match node.parent {
                Some(parent) => {
                    let ge = ge.min(node.parent_limit);
                    if gs < ge {
                        let po = node.parent_offset;
                        stack.push((parent, shift + po, gaps(parent, gs + po, ge + po)));
                    }
                }
                None if node.paged && gs < node.size => return Some(gs - shift),
                None => {}
            }
        }
        None
    }

    /// The nodes that see hidden node `id`'s page at `offset`, counted up to
    /// two. A visible node counts as one viewer, whatever children it has.
    #[inline(always)]
    fn viewers(&self, id: NodeId, offset: u64) -> Viewers {
        match self.count_viewers(id, offset, 2) {
            (0, _) => Viewers::None,
            (1, Some((leaf, off))) => Viewers::One(leaf, off),
            _ => Viewers::Many,
        }
    }

    /// How many visible nodes see hidden node `id`'s page at `offset`,
    /// counting up to `cap`, and the first one found (with its offset).
    fn count_viewers(&self, id: NodeId, offset: u64, cap: u64) -> (u64, Option<(NodeId, u64)>) {
        let (mut count, mut first) = (0, None);
        let mut see = |id: NodeId, off: u64| {
            count += 1;
            first = first.or(Some((id, off)));
            count == cap
        };
        if !self.node(id).hidden {
            see(id, offset);
            return (count, first);
        }
        // Hidden nodes still to look below. A visible child is counted
        // where it is found, so the common tree of a copy-on-write fault (a
        // hidden node over visible ones) pushes nothing.
        let mut hidden: SmallVec<[(NodeId, u64); 8]> = SmallVec::new();
        let (mut id, mut off) = (id, offset);
        loop {
            for &child_id in &self.node(id).children {
                let child = self.node(child_id);
                let Some(child_off) = off.checked_sub(child.parent_offset) else {
                    continue;
                };
                if child_off >= child.parent_limit || !child.pages.get(page(child_off)).is_empty() {
                    continue;
                }
                if child.hidden {
                    hidden.push((child_id, child_off));
                } else if see(child_id, child_off) {
                    return (count, first);
                }
            }
            match hidden.pop() {
                Some(next) => (id, off) = next,
                None => return (count, first),
            }
        }
    }

    /// The bytes of committed pages attributed to visible node `leaf` in
    /// its `[start, end)` (digest §3.4, §7 item 7, the fractional model):
    /// its own pages whole, and each page of a hidden ancestor in equal
    /// shares among the visible nodes that see it (rounded down to a byte
    /// per page). A page of a visible ancestor (the parent of an
    /// at-least-on-write child) is attributed to that ancestor alone. Costs
    /// O(pages seen · the tree they are shared in).
    pub fn attributed_bytes(&self, leaf: NodeId, start: u64, end: u64) -> u64 {
        self.visible(leaf, start, end)
            .into_iter()
            .map(|(offset, _)| match self.find(leaf, offset) {
                Found::Page { node, .. } if node == leaf => PAGE_SIZE,
                Found::Page { node, offset: at, .. } if self.node(node).hidden => {
                    PAGE_SIZE / self.count_viewers(node, at, u64::MAX).0.max(1)
                }
                _ => 0,
            })
            .sum()
    }

    /// Heap bytes of `leaf`'s own page list (`metadata_bytes`).
    pub fn metadata_bytes(&self, leaf: NodeId) -> u64 {
        self.node(leaf).pages.heap_bytes() as u64
    }

    /// Makes `leaf` own the page at `offset`, forking it if needed: a hidden
    /// page no other node sees is moved (no copy), any other ancestor's
    /// page is copied, a zero page is a fresh zeroed frame. Returns the frame
    /// and whether it is new to `leaf`. A new page of a paged root is Dirty
    /// (it was written). Takes at most one frame from `reserve`.
    ///
    /// The page must not be [`Content::Missing`]: its content comes first.
    pub fn fork<F: FrameAllocator + ?Sized>(
        &mut self,
        leaf: NodeId,
        offset: u64,
        reserve: &mut Reserve<'_, F>,
    ) -> (PhysAddr, bool) {
        self.fork_seen(leaf, offset, self.lookup(leaf, offset), reserve)
    }

    /// [`CowTree::fork`] of a page whose content `seen` the caller has just
    /// looked up ([`CowTree::lookup`]), so that the fault path, which needs
    /// the content first, walks the tree once.
    pub fn fork_seen<F: FrameAllocator + ?Sized>(
        &mut self,
        leaf: NodeId,
        offset: u64,
        seen: Content,
        reserve: &mut Reserve<'_, F>,
    ) -> (PhysAddr, bool) {
        debug_assert_eq!(seen, self.lookup(leaf, offset), "what the caller saw is what is there");
        let frames = reserve.frames;
        let frame = match seen {
            Content::Own(frame, _) => return (frame, false),
            Content::Zero => {
                let fresh = reserve.take();
                frames.zero(fresh, 0, PAGE_SIZE as usize);
                fresh
            }
            Content::Shared(frame, node, at) => {
                let owner = self.node(node);
                match self.viewers(node, at) {
                    Viewers::One(only, _) if only == leaf && owner.hidden && !owner.paged => {
                        let _moved = self.node_mut(node).pages.remove(page(at));
                        frame
                    }
                    _ => {
                        let copy = reserve.take();
                        frames.copy(copy, frame);
                        copy
                    }
                }
            }
            Content::Missing { .. } => unreachable!("a missing page is supplied before it is forked"),
        };
        let state = if self.node(leaf).paged { DirtyState::Dirty } else { DirtyState::Untracked };
        // A zero marker or interval may be in the way; it owns nothing.
        let old = self.node_mut(leaf).pages.replace(page(offset), Entry::Page { frame, state });
        debug_assert!(old.frame().is_none(), "a page was overwritten");
        (frame, true)
    }

    /// Sets the dirty state of the page `leaf` owns at `offset`.
    pub fn set_state(&mut self, leaf: NodeId, offset: u64, state: DirtyState) {
        let pages = &mut self.node_mut(leaf).pages;
        match pages.get(page(offset)) {
            Entry::Page { frame, .. } => {
                let _same = pages.replace(page(offset), Entry::Page { frame, state });
            }
            other => unreachable!("no page to mark at {offset:#x}: {other:?}"),
        }
    }

    /// Puts `frame` (or a zero marker for `None`) at page-aligned `offset`
    /// of a paged root, as supplied content (Clean), unless something is
    /// already there (digest §2.4: present content is never replaced).
    /// Returns the frame back when it was not taken.
    pub fn supply(&mut self, root: NodeId, offset: u64, frame: Option<PhysAddr>) -> Option<PhysAddr> {
        let pages = &mut self.node_mut(root).pages;
        if !pages.get(page(offset)).is_empty() {
            return frame;
        }
        let entry = frame.map_or(Entry::Marker, |frame| Entry::Page { frame, state: DirtyState::Clean });
        let _empty = pages.replace(page(offset), entry);
        None
    }

    /// Creates a snapshot child of `leaf` covering `leaf`'s bytes from
    /// `offset` for `size`, of which `leaf` offsets below `limit` hold the
    /// content the child starts with (beyond it the child reads zero). O(1).
    pub fn snapshot(&mut self, leaf: NodeId, offset: u64, size: u64, limit: u64) -> NodeId {
        let child_limit = size.min(limit.saturating_sub(offset));
        let child = self.add(Self::new_node(size, None, offset, child_limit));
        let node = self.node_mut(leaf);
        let hidden = CowNode {
            pages: core::mem::take(&mut node.pages),
            parent: node.parent,
            parent_offset: node.parent_offset,
            parent_limit: node.parent_limit,
            children: vec![leaf, child],
            hidden: true,
            paged: false,
            size: node.size,
        };
        let grandparent = hidden.parent;
        let hidden = self.add(hidden);
        if let Some(gp) = grandparent {
            self.replace_child(gp, leaf, hidden);
        }
        let node = self.node_mut(leaf);
        node.parent = Some(hidden);
        node.parent_offset = 0;
        node.parent_limit = node.size;
        self.node_mut(child).parent = Some(hidden);
        child
    }

    /// Creates an at-least-on-write child of visible node `parent`, seeing
    /// its bytes from `offset` for `size` live: those below `limit` (the end
    /// of the slice the child was made from, if it was) and the parent's
    /// size. O(1).
    pub fn clone_at_least_on_write(&mut self, parent: NodeId, offset: u64, size: u64, limit: u64) -> NodeId {
        let limit = size.min(limit.min(self.size(parent)).saturating_sub(offset));
        let child = self.add(Self::new_node(size, Some(parent), offset, limit));
        self.node_mut(parent).children.push(child);
        child
    }

    fn replace_child(&mut self, parent: NodeId, old: NodeId, new: NodeId) {
        for c in self.node_mut(parent).children.iter_mut() {
            if *c == old {
                *c = new;
            }
        }
    }

    /// Removes visible node `leaf`, whose last VMO closed. A node with
    /// children becomes hidden and keeps what they can see. Otherwise its
    /// pages are freed, a hidden parent left with one child merges into it,
    /// and hidden pages only the node could see are released. Returns
    /// whether the family's last node is gone.
    pub fn close_leaf(&mut self, leaf: NodeId, frames: &dyn FrameAllocator) -> bool {
        if !self.node(leaf).children.is_empty() {
            self.node_mut(leaf).hidden = true;
            let size = self.size(leaf);
            self.release_unseen_in(leaf, 0, size, frames);
            self.collapse(leaf, frames);
            return false;
        }
        let mut node = self.remove(leaf);
        release(frames, node.pages.take_all());
        let Some(parent) = node.parent else {
            return true;
        };
        self.node_mut(parent).children.retain(|&c| c != leaf);
        let p = self.node(parent);
        if !p.hidden {
            return false;
        }
        if p.children.is_empty() {
            // Only a paged root stays hidden with fewer than two children.
            let mut root = self.remove(parent);
            release(frames, root.pages.take_all());
            return root.parent.is_none();
        }
        let (h_parent, h_offset, h_limit) = (p.parent, p.parent_offset, p.parent_limit);
        let (lost_start, lost_end) = (node.parent_offset, node.parent_offset + node.parent_limit);
        if p.children.len() == 1 && !p.paged {
            let sibling = p.children[0];
            let (c_offset, c_limit) = {
                let c = self.node(sibling);
                (c.parent_offset, c.parent_limit)
            };
            self.merge(parent, sibling, frames);
            // Pages that moved into the sibling from the leaf's window may be
            // seen by fewer of the sibling's descendants than before.
            let start = lost_start.max(c_offset) - c_offset;
            let end = lost_end.min(c_offset + c_limit).saturating_sub(c_offset);
            self.release_unseen_in(sibling, start, end, frames);
            let start = lost_start.min(h_limit);
            let end = lost_end.min(h_limit);
            self.release_unseen(h_parent, start + h_offset, end + h_offset, frames);
        } else {
            self.release_unseen(Some(parent), lost_start, lost_end, frames);
        }
        false
    }

    /// Merges hidden node `id` into its only child, unless it is a paged
    /// root (which keeps serving its pager).
    fn collapse(&mut self, id: NodeId, frames: &dyn FrameAllocator) {
        let node = self.node(id);
        if node.hidden && !node.paged && node.children.len() == 1 {
            let child = node.children[0];
            self.merge(id, child, frames);
        }
    }

    /// Merges hidden node `hidden` into its only child: what the child sees
    /// moves into it (pages, markers, and the parts of zero intervals over
    /// the child's empty slots), the rest is freed, and the child takes its
    /// place.
    fn merge(&mut self, hidden: NodeId, child: NodeId, frames: &dyn FrameAllocator) {
        let mut h = self.remove(hidden);
        let c = self.node_mut(child);
        let (po, limit) = (c.parent_offset, c.parent_limit);
        let whole = po == 0 && h.pages.end_index() <= page(limit);
        if whole && c.pages.is_empty() {
            // The child sees all of the parent's slots: take the list as is.
            c.pages = core::mem::take(&mut h.pages);
        }
        let seen = page(po)..page(po) + limit.div_ceil(PAGE_SIZE);
        for item in h.pages.items(0, u64::MAX) {
            match item {
                Item::One(index, entry) => {
                    let target = seen.contains(&index).then(|| index - page(po));
                    match target.filter(|&x| c.pages.get(x).is_empty()) {
                        Some(x) => {
                            let _empty = c.pages.replace(x, entry);
                        }
                        None => release(frames, vec![(index, entry)]),
                    }
                }
                Item::Zero(iv) => {
                    let (s, e) = (iv.start.max(seen.start), iv.end.min(seen.end));
                    if s < e {
                        for (gs, ge) in c.pages.gaps(s - page(po), e - page(po)) {
                            c.pages.add_zero(gs, ge, iv.state);
                        }
                    }
                }
            }
        }
        c.parent_limit = c.parent_limit.min(h.parent_limit.saturating_sub(c.parent_offset));
        c.parent_offset += h.parent_offset;
        c.parent = h.parent;
        if let Some(gp) = h.parent {
            self.replace_child(gp, hidden, child);
        }
    }

    /// For the pages of `node` and its ancestors in `node`'s `[start, end)`
    /// (bytes), which some node just stopped seeing: frees those no visible
    /// node sees and moves those exactly one sees into it.
    fn release_unseen(
        &mut self,
        mut node: Option<NodeId>,
        mut start: u64,
        mut end: u64,
        frames: &dyn FrameAllocator,
    ) {
        while let Some(id) = node {
            if start >= end {
                return;
            }
            self.release_unseen_in(id, start, end, frames);
            let n = self.node(id);
            end = end.min(n.parent_limit);
            start += n.parent_offset;
            end += n.parent_offset;
            node = n.parent;
        }
    }

    /// [`CowTree::release_unseen`] for the pages of `id` alone.
    fn release_unseen_in(&mut self, id: NodeId, start: u64, end: u64, frames: &dyn FrameAllocator) {
        // A visible node sees all its own pages; a paged root keeps them.
        let node = self.node(id);
        if start >= end || !node.hidden || node.paged {
            return;
        }
        let pages: Vec<(u64, Entry)> = node
            .pages
            .pages(page(start), end.div_ceil(PAGE_SIZE))
            .filter(|(_, entry)| entry.frame().is_some())
            .collect();
        for (index, entry) in pages {
            match self.viewers(id, index * PAGE_SIZE) {
                Viewers::None => {
                    let taken = self.node_mut(id).pages.remove(index);
                    release(frames, vec![(index, taken)]);
                }
                Viewers::One(leaf, off) if leaf != id => {
                    let _moved = self.node_mut(id).pages.remove(index);
                    let _empty = self.node_mut(leaf).pages.replace(page(off), entry);
                }
                _ => {}
            }
        }
    }

    /// Sets a visible node's size. Shrinking frees its pages past the end
    /// and stops it, and its at-least-on-write children, seeing their
    /// parents there for good.
    pub fn resize(&mut self, leaf: NodeId, size: u64, frames: &dyn FrameAllocator) {
        let node = self.node_mut(leaf);
        let old_size = node.size;
        node.size = size;
        if size >= old_size {
            return;
        }
        let taken = node.pages.take_range(page(size), u64::MAX);
        release(frames, taken);
        let old_limit = node.parent_limit;
        let children = node.children.clone();
        if size < old_limit {
            node.parent_limit = size;
            let (parent, po) = (node.parent, node.parent_offset);
            self.release_unseen(parent, size + po, old_limit + po, frames);
        }
        for child in children {
            let c = self.node_mut(child);
            c.parent_limit = c.parent_limit.min(size.saturating_sub(c.parent_offset));
        }
    }

    /// Frees the pages `leaf` owns in `[start, end)` (page-aligned bytes);
    /// where an ancestor's content may show through, a zero interval hides
    /// it (digest §3.4, zero markers).
    pub fn zero_pages(&mut self, leaf: NodeId, start: u64, end: u64, frames: &dyn FrameAllocator) {
        let taken = self.node_mut(leaf).pages.take_range(page(start), page(end));
        release(frames, taken);
        let node = self.node(leaf);
        let Some(parent) = node.parent else {
            return;
        };
        let (po, limit) = (node.parent_offset, end.min(node.parent_limit));
        if start >= limit {
            return;
        }
        self.node_mut(leaf).pages.add_zero(page(start), page(limit), DirtyState::Untracked);
        self.release_unseen(Some(parent), start + po, limit + po, frames);
    }

    /// Frees every page, marker and zero interval of `leaf` in
    /// `[start, end)`; for parentless nodes, which then read zero (or, for a
    /// paged root, need the pager) there.
    pub fn decommit(&mut self, leaf: NodeId, start: u64, end: u64, frames: &dyn FrameAllocator) {
        debug_assert!(!self.has_parent(leaf));
        let taken = self.node_mut(leaf).pages.take_range(page(start), page(end));
        release(frames, taken);
    }

    /// Frees every page of parentless `leaf`.
    pub fn decommit_all(&mut self, leaf: NodeId, frames: &dyn FrameAllocator) {
        let size = self.size(leaf);
        self.decommit(leaf, 0, size, frames);
    }

    /// Makes the pages and gaps of `[start, end)` (page-aligned bytes) of
    /// paged root `root` a zero range with `state`, freeing the pages; zero
    /// markers stay markers and existing zero ranges stay as they are
    /// (Zircon's OpZeroWithMarkers, OpZeroTail). Returns the page ranges
    /// that were missing before, which are supplied now.
    pub fn zero_range(
        &mut self,
        root: NodeId,
        start: u64,
        end: u64,
        state: DirtyState,
        frames: &dyn FrameAllocator,
    ) -> Vec<(u64, u64)> {
        let pages = &mut self.node_mut(root).pages;
        let (first, last) = (page(start), page(end));
        let filled = pages.gaps(first, last);
        // The runs to zero: everything but markers and zero ranges.
        let mut runs: Vec<(u64, u64)> = Vec::new();
        let mut pos = first;
        for item in pages.items(first, last) {
            let (s, e, keep) = match item {
                Item::One(index, entry) => (index, index + 1, entry == Entry::Marker),
                Item::Zero(iv) => (iv.start, iv.end, true),
            };
            if keep {
                if pos < s {
                    runs.push((pos, s));
                }
                pos = e;
            }
        }
        if pos < last {
            runs.push((pos, last));
        }
        for (s, e) in runs {
            let taken = pages.take_range(s, e);
            pages.add_zero(s, e, state);
            release(frames, taken);
        }
        filled
    }

    /// The runs (page-aligned bytes) of Clean pages, and with `markers` of
    /// zero markers too, that paged root `root` holds in `[start, end)`.
    pub fn clean_runs(&self, root: NodeId, start: u64, end: u64, markers: bool) -> Vec<(u64, u64)> {
        let mut runs: Vec<(u64, u64)> = Vec::new();
        for (index, entry) in self.node(root).pages.pages(page(start), end.div_ceil(PAGE_SIZE)) {
            let clean = match entry {
                Entry::Page { state: DirtyState::Clean, .. } => true,
                Entry::Marker => markers,
                _ => false,
            };
            if clean {
                match runs.last_mut() {
                    Some((_, e)) if *e == index * PAGE_SIZE => *e += PAGE_SIZE,
                    _ => runs.push((index * PAGE_SIZE, (index + 1) * PAGE_SIZE)),
                }
            }
        }
        runs
    }

    /// Where `ancestor`'s offset 0 lies for `leaf`, and up to which of
    /// `leaf`'s offsets it can see `ancestor`'s pages: `Some((shift, end))`
    /// when `ancestor` is `leaf` or on its parent chain.
    pub fn window_onto(&self, leaf: NodeId, ancestor: NodeId) -> Option<(u64, u64)> {
        let (mut id, mut shift, mut end) = (leaf, 0u64, u64::MAX);
        loop {
            if id == ancestor {
                return Some((shift, end));
            }
            let node = self.node(id);
            let parent = node.parent?;
            // `node`'s offset x is `leaf`'s x - shift.
            end = end.min(node.parent_limit.saturating_sub(shift));
            shift += node.parent_offset;
            id = parent;
        }
    }

    /// The committed pages `id` sees in its `[start, end)`, as (own offset,
    /// frame) in offset order. Costs O(populated pages in the windows), not
    /// O(range length).
    pub fn visible(&self, id: NodeId, start: u64, end: u64) -> Vec<(u64, PhysAddr)> {
        // Windows from `id` up, each as (node, start, end, offset of the
        // node's 0 in `id`'s space, negated as a subtrahend).
        let mut chain = Vec::new();
        let (mut node, mut s, mut e, mut shift) = (Some(id), start, end, 0u64);
        while let Some(n) = node {
            if s >= e {
                break;
            }
            chain.push((n, s, e, shift));
            let cn = self.node(n);
            e = e.min(cn.parent_limit);
            s += cn.parent_offset;
            e += cn.parent_offset;
            shift += cn.parent_offset;
            node = cn.parent;
        }
        let mut seen: Vec<(u64, PhysAddr)> = Vec::new();
        for &(n, s, e, shift) in chain.iter().rev() {
            // What this node records hides what its ancestors hold there.
            let own = self.node(n).pages.items(page(s), e.div_ceil(PAGE_SIZE));
            let mut merged = Vec::with_capacity(own.len() + seen.len());
            let mut inherited = seen.into_iter().peekable();
            for item in own {
                let (first, last, frame) = match item {
                    Item::One(index, entry) => (index, index + 1, entry.frame()),
                    Item::Zero(iv) => (iv.start, iv.end, None),
                };
                let (from, to) = (first * PAGE_SIZE - shift, last * PAGE_SIZE - shift);
                while let Some(&(x, f)) = inherited.peek() {
                    if x >= from {
                        break;
                    }
                    merged.push((x, f));
                    inherited.next();
                }
                while inherited.peek().is_some_and(|&(x, _)| x < to) {
                    inherited.next();
                }
                if let Some(frame) = frame {
                    merged.push((from, frame));
                }
            }
            merged.extend(inherited);
            seen = merged;
        }
        seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::MockFrames;

    const P: u64 = PAGE_SIZE;

    fn tagged(tree: &mut CowTree, frames: &MockFrames, leaf: NodeId, pages: u64) {
        let mut r = Reserve::empty(frames);
        r.fill(pages).unwrap();
        for i in 0..pages {
            let (f, new) = tree.fork(leaf, i * P, &mut r);
            assert!(new);
            frames.write(f, 0, &[i as u8 + 1]);
        }
    }

    fn tag(tree: &CowTree, frames: &MockFrames, leaf: NodeId, off: u64) -> u8 {
        match tree.lookup(leaf, off) {
            Content::Own(f, _) | Content::Shared(f, ..) => {
                let mut b = [0];
                frames.read(f, 0, &mut b);
                b[0]
            }
            Content::Zero => 0,
            Content::Missing { .. } => 0xff,
        }
    }

    #[test]
    fn snapshot_moves_pages_and_close_merges_back() {
        let frames = MockFrames::new(16);
        let mut t = CowTree::default();
        let a = t.add_root(4 * P, false);
        tagged(&mut t, &frames, a, 4);
        let b = t.snapshot(a, P, 2 * P, 4 * P);
        assert_eq!(t.own_pages(a), 0);
        assert_eq!(tag(&t, &frames, b, 0), 2);
        assert_eq!(tag(&t, &frames, b, P), 3);
        assert!(matches!(t.lookup(a, 0), Content::Shared(..)));
        // Page 0 is seen only by `a`: a write migrates it.
        let mut r = Reserve::empty(&frames);
        r.fill(1).unwrap();
        let (f0, _) = t.fork(a, 0, &mut r);
        assert_eq!(r.spare.len(), 1, "migrated, not copied");
        drop(r);
        assert_eq!(t.lookup(a, 0), Content::Own(f0, DirtyState::Untracked));
        assert!(!t.close_leaf(b, &frames));
        assert_eq!(t.own_pages(a), 4);
        assert!(!t.has_parent(a));
        assert_eq!(frames.used(), 4);
        t.decommit_all(a, &frames);
        assert!(t.close_leaf(a, &frames));
        assert!(t.is_empty());
        assert_eq!(frames.used(), 0);
    }

    #[test]
    fn visible_merges_levels_in_order() {
        let frames = MockFrames::new(16);
        let mut t = CowTree::default();
        let a = t.add_root(4 * P, false);
        tagged(&mut t, &frames, a, 3);
        let b = t.snapshot(a, 0, 4 * P, 4 * P);
        let mut r = Reserve::empty(&frames);
        r.fill(2).unwrap();
        t.fork(b, P, &mut r);
        t.fork(b, 3 * P, &mut r);
        t.zero_pages(b, 2 * P, 3 * P, &frames);
        let offs: Vec<u64> = t.visible(b, 0, 4 * P).iter().map(|&(o, _)| o).collect();
        assert_eq!(offs, vec![0, P, 3 * P]);
        assert_eq!(tag(&t, &frames, b, 2 * P), 0);
        assert_eq!(tag(&t, &frames, a, 2 * P), 3);
        t.close_leaf(a, &frames);
        t.close_leaf(b, &frames);
        assert!(t.is_empty());
        assert_eq!(frames.used(), 0);
    }

    #[test]
    fn a_paged_root_misses_unsupplied_pages_and_its_clones_see_it_live() {
        let frames = MockFrames::new(16);
        let mut t = CowTree::default();
        let root = t.add_root(8 * P, true);
        assert_eq!(t.lookup(root, 3 * P), Content::Missing { root_offset: 3 * P });
        let child = t.clone_at_least_on_write(root, 2 * P, 4 * P, u64::MAX);
        let grandchild = t.clone_at_least_on_write(child, P, 2 * P, u64::MAX);
        assert_eq!(t.lookup(grandchild, 0), Content::Missing { root_offset: 3 * P });
        assert_eq!(t.missing_run(grandchild, 0, 2 * P), 2 * P);
        // A page supplied to the root bounds the run and is seen live.
        let f = frames.alloc().unwrap();
        frames.write(f, 0, &[7]);
        assert_eq!(t.supply(root, 4 * P, Some(f)), None);
        assert_eq!(t.missing_run(grandchild, 0, 2 * P), P);
        assert_eq!(tag(&t, &frames, grandchild, P), 7);
        assert_eq!(t.lookup(root, 4 * P), Content::Own(f, DirtyState::Clean));
        // Present content is never replaced.
        let g = frames.alloc().unwrap();
        assert_eq!(t.supply(root, 4 * P, Some(g)), Some(g));
        frames.free(g);
        // A clone's write copies the root's page; the root keeps it.
        let mut r = Reserve::empty(&frames);
        r.fill(1).unwrap();
        let (copy, new) = t.fork(grandchild, P, &mut r);
        assert!(new && copy != f);
        assert_eq!(t.lookup(root, 4 * P), Content::Own(f, DirtyState::Clean));
        assert_eq!(tag(&t, &frames, grandchild, P), 7);
        drop(r);
        // Closing the root keeps its pages for the clones.
        assert!(!t.close_leaf(root, &frames));
        assert_eq!(tag(&t, &frames, child, 2 * P), 7);
        assert!(!t.close_leaf(child, &frames));
        assert!(t.close_leaf(grandchild, &frames));
        assert!(t.is_empty());
        assert_eq!(frames.used(), 0);
    }

    #[test]
    fn shrinking_a_paged_root_clips_its_clones() {
        let frames = MockFrames::new(4);
        let mut t = CowTree::default();
        let root = t.add_root(8 * P, true);
        let child = t.clone_at_least_on_write(root, 0, 8 * P, u64::MAX);
        t.resize(root, 2 * P, &frames);
        assert_eq!(t.lookup(child, P), Content::Missing { root_offset: P });
        assert_eq!(t.lookup(child, 2 * P), Content::Zero);
        t.resize(root, 8 * P, &frames);
        assert_eq!(t.lookup(child, 2 * P), Content::Zero, "growing does not re-expose the parent");
        t.close_leaf(child, &frames);
        t.close_leaf(root, &frames);
        assert!(t.is_empty());
    }
}

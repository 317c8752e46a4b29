//! The copy-on-write tree behind a family of VMOs (digest §3.4).
//!
//! Every VMO sees the pages of one *leaf* node. Taking a snapshot of a leaf
//! moves its page list into a new *hidden* node (an O(1) move of the map, no
//! per-page work) that becomes the parent of the leaf and of the new child;
//! both start empty, so each sees the contents of the moment of the snapshot.
//! Each node sees its parent's pages in a window: own offset `x` reads the
//! parent's `x + parent_offset` while `x < parent_limit`, else zero. Shrinking
//! lowers the limit, so a shrink-then-grow never re-exposes parent data.
//!
//! A write to a page a leaf does not own *forks* it: if no other leaf can see
//! the ancestor's page it is moved into the writer (migration), otherwise one
//! page is copied. When a leaf closes, shrinks or zeroes pages, ancestor pages
//! no leaf can see any more are freed and pages only one leaf can see move to
//! it; a hidden node left with one child merges into it. So a family holds no
//! more frames than its live contents need.

use crate::slab::Slab;
use alloc::vec;
use alloc::vec::Vec;

use crate::page_list::{DirtyState, PageList, Slot};
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
    /// The two children of a hidden node; empty for a leaf.
    children: Vec<NodeId>,
    hidden: bool,
    size: u64,
}

/// Frames taken from the allocator ahead of an operation, so that it either
/// gets every frame it may need or fails with NO_MEMORY before changing
/// anything. Frames left over are returned on drop.
pub(crate) struct Reserve<'a> {
    frames: &'a dyn FrameAllocator,
    spare: Vec<PhysAddr>,
}

impl<'a> Reserve<'a> {
    /// Takes `count` frames, or none and NO_MEMORY.
    pub fn new(frames: &'a dyn FrameAllocator, count: u64) -> Result<Reserve<'a>, Status> {
        let mut reserve = Reserve { frames, spare: Vec::new() };
        for _ in 0..count {
            reserve.spare.push(frames.alloc().ok_or(Status::NoMemory)?);
        }
        // Hand frames out in allocation order, which keeps runs committed in
        // one go physically contiguous when the allocator allows.
        reserve.spare.reverse();
        Ok(reserve)
    }

    fn take(&mut self) -> PhysAddr {
        self.spare.pop().expect("an operation used more frames than it reserved")
    }
}

impl Drop for Reserve<'_> {
    fn drop(&mut self) {
        for frame in self.spare.drain(..) {
            self.frames.free(frame);
        }
    }
}

/// Who can see an ancestor's page.
enum Viewers {
    None,
    One(NodeId, u64),
    Many,
}

/// A page as a leaf sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Content {
    /// Owned by the leaf: may be written in place.
    Own(PhysAddr),
    /// An ancestor's page, shared copy-on-write.
    Shared(PhysAddr),
    /// Reads as zero.
    Zero,
}

/// The nodes of one family: roots, their clones and the hidden nodes.
#[derive(Default)]
pub(crate) struct CowTree {
    nodes: Slab<CowNode>,
}

fn page(offset: u64) -> u64 {
    offset / PAGE_SIZE
}

impl CowTree {
    fn node(&self, id: NodeId) -> &CowNode {
        self.nodes.get(id)
    }

    fn node_mut(&mut self, id: NodeId) -> &mut CowNode {
        self.nodes.get_mut(id)
    }

    fn add(&mut self, node: CowNode) -> NodeId {
        self.nodes.insert(node)
    }

    fn remove(&mut self, id: NodeId) -> CowNode {
        self.nodes.remove(id)
    }

    fn leaf(size: u64, parent: Option<NodeId>, parent_offset: u64, parent_limit: u64) -> CowNode {
        CowNode {
            pages: PageList::new(),
            parent,
            parent_offset,
            parent_limit,
            children: Vec::new(),
            hidden: false,
            size,
        }
    }

    /// A new parentless leaf of `size` bytes.
    pub fn add_root(&mut self, size: u64) -> NodeId {
        self.add(Self::leaf(size, None, 0, 0))
    }

    /// Whether no node is left.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The leaf's size in bytes.
    pub fn size(&self, leaf: NodeId) -> u64 {
        self.node(leaf).size
    }

    /// Whether `leaf` shares pages with an ancestor (a clone, or a VMO with
    /// live snapshot children): the absence of a page does not imply zero.
    pub fn has_parent(&self, leaf: NodeId) -> bool {
        self.node(leaf).parent.is_some()
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
        let pages = &self.node(leaf).pages;
        let owned = pages.range(page(start), end.div_ceil(PAGE_SIZE));
        owned.filter(|(_, slot)| slot.frame().is_some()).count() as u64
    }

    /// The node, offset and frame of the page `leaf` sees at `offset`
    /// (page-aligned), or `None` if it reads zero.
    fn find(&self, leaf: NodeId, offset: u64) -> Option<(NodeId, u64, PhysAddr)> {
        let (mut id, mut off) = (leaf, offset);
        loop {
            let node = self.node(id);
            let slot = node.pages.get(page(off));
            if !slot.is_empty() {
                return slot.frame().map(|frame| (id, off, frame));
            }
            match node.parent {
                Some(parent) if off < node.parent_limit => {
                    off += node.parent_offset;
                    id = parent;
                }
                _ => return None,
            }
        }
    }

    /// What `leaf` sees at page-aligned `offset`. O(depth · log n).
    pub fn lookup(&self, leaf: NodeId, offset: u64) -> Content {
        match self.find(leaf, offset) {
            Some((owner, _, frame)) if owner == leaf => Content::Own(frame),
            Some((_, _, frame)) => Content::Shared(frame),
            None => Content::Zero,
        }
    }

    /// The leaves that see `id`'s slot at `offset`, counted up to two.
    fn viewers(&self, id: NodeId, offset: u64) -> Viewers {
        let mut found = None;
        let mut stack = vec![(id, offset)];
        while let Some((id, off)) = stack.pop() {
            let node = self.node(id);
            if !node.hidden {
                if found.is_some() {
                    return Viewers::Many;
                }
                found = Some((id, off));
                continue;
            }
            for &child_id in &node.children {
                let child = self.node(child_id);
                let Some(child_off) = off.checked_sub(child.parent_offset) else {
                    continue;
                };
                if child_off < child.parent_limit && child.pages.get(page(child_off)).is_empty() {
                    stack.push((child_id, child_off));
                }
            }
        }
        match found {
            Some((leaf, off)) => Viewers::One(leaf, off),
            None => Viewers::None,
        }
    }

    fn insert_page(&mut self, leaf: NodeId, offset: u64, frame: PhysAddr) {
        let old = self.node_mut(leaf).pages.replace(page(offset), Slot::page(frame, DirtyState::Untracked));
        debug_assert!(old.frame().is_none(), "a page was overwritten");
    }

    /// Makes `leaf` own the page at `offset`, forking it if needed: an
    /// ancestor's page no other leaf sees is moved (no copy), a shared one is
    /// copied, a zero page is a fresh zeroed frame. Returns the frame and
    /// whether it is new to `leaf`. Takes at most one frame from `reserve`.
    pub fn fork(&mut self, leaf: NodeId, offset: u64, reserve: &mut Reserve) -> (PhysAddr, bool) {
        let frames = reserve.frames;
        let frame = match self.find(leaf, offset) {
            Some((owner, _, frame)) if owner == leaf => return (frame, false),
            Some((owner, owner_off, frame)) => match self.viewers(owner, owner_off) {
                Viewers::One(only, _) => {
                    debug_assert_eq!(only, leaf);
                    let _moved = self.node_mut(owner).pages.remove(page(owner_off));
                    frame
                }
                _ => {
                    let copy = reserve.take();
                    frames.copy(copy, frame);
                    copy
                }
            },
            None => {
                let fresh = reserve.take();
                frames.zero(fresh, 0, PAGE_SIZE as usize);
                fresh
            }
        };
        // A zero marker may be in the way; it carries nothing to release.
        let _marker = self.node_mut(leaf).pages.remove(page(offset));
        self.insert_page(leaf, offset, frame);
        (frame, true)
    }

    /// Creates a snapshot child of `leaf` covering `leaf`'s bytes from
    /// `offset` for `size`, of which `leaf` offsets below `limit` hold the
    /// content the child starts with (beyond it the child reads zero). O(1).
    pub fn snapshot(&mut self, leaf: NodeId, offset: u64, size: u64, limit: u64) -> NodeId {
        let child_limit = size.min(limit.saturating_sub(offset));
        let child = self.add(Self::leaf(size, None, offset, child_limit));
        let node = self.node_mut(leaf);
        let hidden = CowNode {
            pages: core::mem::take(&mut node.pages),
            parent: node.parent,
            parent_offset: node.parent_offset,
            parent_limit: node.parent_limit,
            children: vec![leaf, child],
            hidden: true,
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

    fn replace_child(&mut self, parent: NodeId, old: NodeId, new: NodeId) {
        for c in self.node_mut(parent).children.iter_mut() {
            if *c == old {
                *c = new;
            }
        }
    }

    fn release(frames: &dyn FrameAllocator, slots: Vec<(u64, Slot)>) {
        for (_, slot) in slots {
            if let Some(frame) = slot.frame() {
                frames.free(frame);
            }
        }
    }

    /// Removes a leaf whose last VMO closed: frees its pages, merges its
    /// hidden parent into the sibling and releases ancestor pages only the
    /// leaf could see.
    pub fn close_leaf(&mut self, leaf: NodeId, frames: &dyn FrameAllocator) {
        let mut node = self.remove(leaf);
        Self::release(frames, node.pages.take_all());
        let Some(hidden) = node.parent else {
            return;
        };
        self.node_mut(hidden).children.retain(|&c| c != leaf);
        let sibling = self.node(hidden).children[0];
        let (h_parent, h_offset, h_limit) = {
            let h = self.node(hidden);
            (h.parent, h.parent_offset, h.parent_limit)
        };
        let (lost_start, lost_end) = (node.parent_offset, node.parent_offset + node.parent_limit);
        let (c_offset, c_limit) = {
            let c = self.node(sibling);
            (c.parent_offset, c.parent_limit)
        };
        self.merge(hidden, sibling, frames);
        // Pages that moved into the sibling from the leaf's window may be
        // seen by fewer of the sibling's descendants than before.
        let start = lost_start.max(c_offset) - c_offset;
        let end = lost_end.min(c_offset + c_limit).saturating_sub(c_offset);
        self.release_unseen_in(sibling, start, end, frames);
        let start = lost_start.min(h_limit);
        let end = lost_end.min(h_limit);
        self.release_unseen(h_parent, start + h_offset, end + h_offset, frames);
    }

    /// Merges hidden node `hidden` into its only child: slots the child sees
    /// move into it, the rest are freed, and the child takes its place.
    fn merge(&mut self, hidden: NodeId, child: NodeId, frames: &dyn FrameAllocator) {
        let mut h = self.remove(hidden);
        let c = self.node_mut(child);
        let whole = c.parent_offset == 0 && h.pages.end_index() <= page(c.parent_limit);
        if whole && c.pages.is_empty() {
            // The child sees all of the parent's slots: take the list as is.
            c.pages = core::mem::take(&mut h.pages);
        }
        for (index, slot) in h.pages.take_all() {
            let off = index * PAGE_SIZE;
            let target = off
                .checked_sub(c.parent_offset)
                .filter(|&x| x < c.parent_limit && c.pages.get(page(x)).is_empty());
            match target {
                Some(x) => {
                    let _empty = c.pages.replace(page(x), slot);
                }
                None => Self::release(frames, vec![(index, slot)]),
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
    /// (bytes), which some leaf just stopped seeing: frees those no leaf
    /// sees and moves those exactly one leaf sees into it.
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
        // A leaf sees all its own pages.
        if start >= end || !self.node(id).hidden {
            return;
        }
        let pages: Vec<(u64, Slot)> = self
            .node(id)
            .pages
            .range(page(start), end.div_ceil(PAGE_SIZE))
            .filter(|(_, slot)| slot.frame().is_some())
            .collect();
        for (index, slot) in pages {
            match self.viewers(id, index * PAGE_SIZE) {
                Viewers::None => {
                    let taken = self.node_mut(id).pages.remove(index);
                    Self::release(frames, vec![(index, taken)]);
                }
                Viewers::One(leaf, off) if leaf != id => {
                    let _moved = self.node_mut(id).pages.remove(index);
                    let _empty = self.node_mut(leaf).pages.replace(page(off), slot);
                }
                _ => {}
            }
        }
    }

    /// Sets a leaf's size. Shrinking frees its pages past the end and stops it
    /// seeing its parent there for good.
    pub fn resize(&mut self, leaf: NodeId, size: u64, frames: &dyn FrameAllocator) {
        let node = self.node_mut(leaf);
        let old_size = node.size;
        node.size = size;
        if size >= old_size {
            return;
        }
        let taken = node.pages.take_range(page(size), u64::MAX);
        Self::release(frames, taken);
        let old_limit = node.parent_limit;
        if size < old_limit {
            node.parent_limit = size;
            let (parent, po) = (node.parent, node.parent_offset);
            self.release_unseen(parent, size + po, old_limit + po, frames);
        }
    }

    /// Frees the pages `leaf` owns in `[start, end)` (page-aligned bytes);
    /// where an ancestor's content would show through, a zero marker hides
    /// it (digest §3.4, zero markers).
    pub fn zero_pages(&mut self, leaf: NodeId, start: u64, end: u64, frames: &dyn FrameAllocator) {
        let taken = self.node_mut(leaf).pages.take_range(page(start), page(end));
        Self::release(frames, taken);
        let node = self.node(leaf);
        let Some(parent) = node.parent else {
            return;
        };
        let (po, limit) = (node.parent_offset, end.min(node.parent_limit));
        if start >= limit {
            return;
        }
        for (off, _) in self.visible(parent, start + po, limit + po) {
            let _empty = self.node_mut(leaf).pages.replace(page(off - po), Slot::MARKER);
        }
        self.release_unseen(Some(parent), start + po, limit + po, frames);
    }

    /// Frees every slot of parentless `leaf` in `[start, end)`.
    pub fn decommit(&mut self, leaf: NodeId, start: u64, end: u64, frames: &dyn FrameAllocator) {
        debug_assert!(!self.has_parent(leaf));
        let taken = self.node_mut(leaf).pages.take_range(page(start), page(end));
        Self::release(frames, taken);
    }

    /// Frees every page of parentless `leaf`.
    pub fn decommit_all(&mut self, leaf: NodeId, frames: &dyn FrameAllocator) {
        let size = self.size(leaf);
        self.decommit(leaf, 0, size, frames);
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
            let own: Vec<(u64, Slot)> = self
                .node(n)
                .pages
                .range(page(s), e.div_ceil(PAGE_SIZE))
                .map(|(i, slot)| (i * PAGE_SIZE - shift, slot))
                .collect();
            let mut merged = Vec::with_capacity(own.len() + seen.len());
            let mut inherited = seen.into_iter().peekable();
            for (off, slot) in own {
                while let Some(&(x, f)) = inherited.peek() {
                    if x >= off {
                        break;
                    }
                    merged.push((x, f));
                    inherited.next();
                }
                if inherited.peek().is_some_and(|&(x, _)| x == off) {
                    inherited.next();
                }
                if let Some(frame) = slot.frame() {
                    merged.push((off, frame));
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
        let mut r = Reserve::new(frames, pages).unwrap();
        for i in 0..pages {
            let (f, new) = tree.fork(leaf, i * P, &mut r);
            assert!(new);
            frames.write(f, 0, &[i as u8 + 1]);
        }
    }

    fn tag(tree: &CowTree, frames: &MockFrames, leaf: NodeId, off: u64) -> u8 {
        match tree.lookup(leaf, off) {
            Content::Own(f) | Content::Shared(f) => {
                let mut b = [0];
                frames.read(f, 0, &mut b);
                b[0]
            }
            Content::Zero => 0,
        }
    }

    #[test]
    fn snapshot_moves_pages_and_close_merges_back() {
        let frames = MockFrames::new(16);
        let mut t = CowTree::default();
        let a = t.add_root(4 * P);
        tagged(&mut t, &frames, a, 4);
        let b = t.snapshot(a, P, 2 * P, 4 * P);
        assert_eq!(t.own_pages(a), 0);
        assert_eq!(tag(&t, &frames, b, 0), 2);
        assert_eq!(tag(&t, &frames, b, P), 3);
        assert!(matches!(t.lookup(a, 0), Content::Shared(_)));
        // Page 0 is seen only by `a`: a write migrates it.
        let mut r = Reserve::new(&frames, 1).unwrap();
        let (f0, _) = t.fork(a, 0, &mut r);
        assert_eq!(r.spare.len(), 1, "migrated, not copied");
        drop(r);
        assert_eq!(t.lookup(a, 0), Content::Own(f0));
        t.close_leaf(b, &frames);
        assert_eq!(t.own_pages(a), 4);
        assert!(!t.has_parent(a));
        assert_eq!(frames.used(), 4);
        t.decommit_all(a, &frames);
        t.close_leaf(a, &frames);
        assert!(t.is_empty());
        assert_eq!(frames.used(), 0);
    }

    #[test]
    fn visible_merges_levels_in_order() {
        let frames = MockFrames::new(16);
        let mut t = CowTree::default();
        let a = t.add_root(4 * P);
        tagged(&mut t, &frames, a, 3);
        let b = t.snapshot(a, 0, 4 * P, 4 * P);
        let mut r = Reserve::new(&frames, 2).unwrap();
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
}

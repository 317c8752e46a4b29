//! The plain model: what every VMO must read, and which pages of a pager
//! VMO must be dirty, worked out without any of vm-core's machinery.
//!
//! Snapshots are eager copies (digest §2.10: SNAPSHOT "behaves as if
//! eagerly copied"); AT_LEAST_ON_WRITE children of pager VMOs are live
//! views that fork a page on its first write or COMMIT (§3.4), clipped by
//! every shrink of their ancestors (`parent_limit`) and of themselves;
//! slices and references are windows. A pager VMO's Clean pages always
//! equal its disk, so eviction changes nothing the model sees. Its dirty
//! pages are tracked with the writeback state machine (digest §5): which
//! are a dirty zero range, and which are AwaitingClean since a
//! WRITEBACK_BEGIN.

use std::collections::{BTreeMap, BTreeSet};

use crate::P;

/// What a node's bytes are.
#[derive(Clone, Debug)]
pub enum Body {
    /// An anonymous VMO, or a snapshot (an eager copy).
    Own(Vec<u8>),
    /// A pager VMO: its bytes, its disk (what the writeback wrote, or the
    /// initial pattern), its dirty state, whether it was created with
    /// TRAP_DIRTY and whether it was detached from its pager.
    Pager { bytes: Vec<u8>, disk: Vec<u8>, dirty: Dirty, trap: bool, detached: bool },
    /// An AT_LEAST_ON_WRITE child of a pager-backed VMO: it sees `parent`
    /// from `offset`, below `limit` (in the parent's offsets), except for
    /// the pages it forked (`None`: a zero marker, which an OP_ZERO of the
    /// whole page leaves).
    Live { parent: usize, offset: u64, limit: u64, forked: BTreeMap<u64, Option<Vec<u8>>> },
    /// A slice or a reference: `parent` from `offset`.
    Window { parent: usize, offset: u64 },
}

/// The dirty state of a pager VMO's pages; `zero` and `awaiting` are
/// subsets of `pages`.
#[derive(Clone, Debug, Default)]
pub struct Dirty {
    /// Dirty or AwaitingClean: what `query_dirty_ranges` reports.
    pub pages: BTreeSet<u64>,
    /// Those in a dirty zero range (`ZX_VMO_DIRTY_RANGE_IS_ZERO`): a tail a
    /// resize made, or whole pages OP_ZERO zeroed (digest §2.11).
    pub zero: BTreeSet<u64>,
    /// Those WRITEBACK_BEGIN made AwaitingClean and nothing dirtied since:
    /// WRITEBACK_END cleans them (§2.5). A write, an OP_ZERO, or a COMMIT of
    /// a zero page makes a page Dirty again; a zero range keeps the state in
    /// the parts a write splits it into.
    pub awaiting: BTreeSet<u64>,
    /// Once detached: the Clean pages still present, which an END made
    /// Clean since (the detach dropped the others, and eviction drops
    /// these); the rest of the Clean pages would need the pager.
    pub present_clean: BTreeSet<u64>,
    /// Pages of zero ranges an END made gaps, which a mapping may still
    /// show as the zero page, as Zircon leaves it (they read zero: the pager
    /// was given zeros); a write or a new zero range ends that.
    pub stale_zero: BTreeSet<u64>,
}

impl Dirty {
    /// `page` is Dirty, with content of its own.
    fn dirty(&mut self, page: u64) {
        self.pages.insert(page);
        self.zero.remove(&page);
        self.awaiting.remove(&page);
        self.present_clean.remove(&page);
        self.stale_zero.remove(&page);
    }

    /// Keeps the pages below `pages`.
    fn truncate(&mut self, pages: u64) {
        for set in [
            &mut self.pages,
            &mut self.zero,
            &mut self.awaiting,
            &mut self.present_clean,
            &mut self.stale_zero,
        ] {
            set.retain(|&p| p < pages);
        }
    }
}

#[derive(Clone, Debug)]
pub struct Node {
    pub body: Body,
    pub size: u64,
    pub resizable: bool,
    /// Whether a snapshot ever involved it (as parent or child): DECOMMIT
    /// may then be refused (digest §2.11: only anonymous VMOs without
    /// non-slice children).
    pub cow: bool,
}

/// One handle: its node, and what its rights allow.
#[derive(Clone, Debug)]
pub struct HandleModel {
    pub node: usize,
    pub write: bool,
    pub resize: bool,
    /// The length of the handle's mapping (0: none), made at creation with
    /// WRITE if the handle has it.
    pub mapped: u64,
    pub open: bool,
}

/// The initial disk byte of `offset` of the pager VMO `key`.
pub fn disk_byte(key: u64, offset: u64) -> u8 {
    (key.wrapping_mul(73) ^ (offset / P).wrapping_mul(29) ^ (offset % 251)) as u8 | 1
}

#[derive(Default, Debug)]
pub struct Model {
    pub nodes: Vec<Node>,
    pub handles: Vec<HandleModel>,
}

impl Model {
    /// The byte at `offset` of `node` (which must be below its size).
    pub fn byte(&self, node: usize, offset: u64) -> u8 {
        match &self.nodes[node].body {
            Body::Own(bytes) | Body::Pager { bytes, .. } => bytes[offset as usize],
            Body::Window { parent, offset: at } => self.byte_or_zero(*parent, at + offset),
            Body::Live { parent, offset: at, limit, forked } => match forked.get(&(offset / P)) {
                Some(Some(page)) => page[(offset % P) as usize],
                Some(None) => 0,
                None if at + offset < *limit => self.byte_or_zero(*parent, at + offset),
                None => 0,
            },
        }
    }

    fn byte_or_zero(&self, node: usize, offset: u64) -> u8 {
        if offset < self.nodes[node].size {
            self.byte(node, offset)
        } else {
            0
        }
    }

    /// `len` bytes of `node` from `offset`, zero past its end.
    pub fn bytes(&self, node: usize, offset: u64, len: u64) -> Vec<u8> {
        (offset..offset + len).map(|o| self.byte_or_zero(node, o)).collect()
    }

    /// Whether `node` is a pager VMO or sees one (through windows and live
    /// views).
    pub fn pager_backed(&self, node: usize) -> bool {
        match &self.nodes[node].body {
            Body::Own(_) => false,
            Body::Pager { .. } | Body::Live { .. } => true,
            Body::Window { parent, .. } => self.pager_backed(*parent),
        }
    }

    /// The node `node`'s writes land in, and where, for the byte `offset`
    /// (`None`: past a window's parent).
    fn target(&self, node: usize, offset: u64) -> Option<(usize, u64)> {
        match &self.nodes[node].body {
            Body::Window { parent, offset: at } => {
                (at + offset < self.nodes[*parent].size).then(|| self.target(*parent, at + offset))?
            }
            _ => Some((node, offset)),
        }
    }

    /// Writes `data` at `offset` of `node` (in range): in place, through a
    /// window, or into a live view's forked pages. A pager VMO's written
    /// pages become dirty.
    pub fn write(&mut self, node: usize, offset: u64, data: &[u8]) {
        for (i, &b) in data.iter().enumerate() {
            let Some((n, o)) = self.target(node, offset + i as u64) else { continue };
            self.fork(n, o / P);
            match &mut self.nodes[n].body {
                Body::Own(bytes) => bytes[o as usize] = b,
                Body::Pager { bytes, dirty, .. } => {
                    bytes[o as usize] = b;
                    dirty.dirty(o / P);
                }
                Body::Live { forked, .. } => {
                    let page = forked.get_mut(&(o / P)).and_then(Option::as_mut).expect("forked");
                    page[(o % P) as usize] = b;
                }
                Body::Window { .. } => unreachable!("targets are not windows"),
            }
        }
    }

    /// Copies `page` of a live view into it, if it has not yet; a zero
    /// marker becomes a page of zeros.
    pub fn fork(&mut self, node: usize, page: u64) {
        if let Body::Live { forked, .. } = &self.nodes[node].body {
            if !matches!(forked.get(&page), Some(Some(_))) {
                let content = self.bytes(node, page * P, P);
                if let Body::Live { forked, .. } = &mut self.nodes[node].body {
                    forked.insert(page, Some(content));
                }
            }
        }
    }

    /// Whether `page` of `node` reads zero without a page of its own to
    /// show: vm-core's (and Zircon's `PageWouldReadZeroLocked`) test that
    /// lets OP_ZERO skip a partial page. A live view's page that reads zero
    /// through its parent may later read what the parent writes there.
    pub fn reads_zero(&self, node: usize, page: u64) -> bool {
        match &self.nodes[node].body {
            Body::Own(_) => false,
            Body::Pager { dirty, .. } => dirty.zero.contains(&page),
            Body::Live { parent, offset, limit, forked } => match forked.get(&page) {
                Some(marker) => marker.is_none(),
                None => {
                    let at = offset + page * P;
                    at >= *limit || at >= self.nodes[*parent].size || self.reads_zero(*parent, at / P)
                }
            },
            Body::Window { parent, offset } => self.reads_zero(*parent, offset / P + page),
        }
    }

    /// `vmo_set_size`: truncated or zero-extended; a pager VMO's new pages
    /// are a dirty zero range; every live view of it (directly) is clipped
    /// to the new size, and a live view clips itself.
    pub fn resize(&mut self, node: usize, size: u64) {
        let old = self.nodes[node].size;
        match &mut self.nodes[node].body {
            Body::Own(bytes) => bytes.resize(size as usize, 0),
            Body::Pager { bytes, dirty, .. } => {
                bytes.resize(size as usize, 0);
                dirty.truncate(size / P);
                dirty.pages.extend(old.min(size) / P..size / P);
                dirty.zero.extend(old.min(size) / P..size / P);
            }
            Body::Live { offset, limit, forked, .. } => {
                forked.retain(|&p, _| p * P < size);
                *limit = (*limit).min(*offset + size.min(old));
            }
            Body::Window { .. } => unreachable!("windows do not resize"),
        }
        self.nodes[node].size = size;
        for child in 0..self.nodes.len() {
            if let Body::Live { parent, limit, .. } = &mut self.nodes[child].body {
                if *parent == node {
                    *limit = (*limit).min(size);
                }
            }
        }
    }

    /// OP_ZERO or DECOMMIT of `[offset, offset + len)`: the range reads
    /// zero (digest §2.11). DECOMMIT never reaches a pager VMO or a live
    /// view. Page by page, where the bytes land:
    /// - a partial page that reads zero already is left as it is;
    /// - a live view's whole page becomes a zero marker (past its parent's
    ///   limit, nothing: it reads zero there anyway);
    /// - a pager VMO's whole page, unless in a dirty zero range already
    ///   (left as it is, AwaitingClean or not), becomes part of one, which
    ///   merges with those beside it: the one before keeps its AwaitingClean
    ///   pages, the one after loses them (Zircon's OpZeroWriteback);
    /// - the rest is written with zeros.
    pub fn zero(&mut self, node: usize, offset: u64, len: u64) {
        let end = offset + len;
        let mut new_zero = Vec::new();
        for page in offset / P..end.div_ceil(P) {
            let (s, e) = ((page * P).max(offset), ((page + 1) * P).min(end));
            let Some((n, o)) = self.target(node, s) else { continue };
            let whole = e - s == P;
            if !whole && self.reads_zero(n, o / P) {
                continue;
            }
            match &mut self.nodes[n].body {
                Body::Live { offset, limit, forked, .. } if whole => {
                    if *offset + o < *limit {
                        forked.insert(o / P, None);
                    } else {
                        forked.remove(&(o / P));
                    }
                }
                Body::Pager { dirty, .. } if whole => {
                    if !dirty.zero.contains(&(o / P)) {
                        self.write(node, s, &[0; P as usize]);
                        new_zero.push((n, o / P));
                    }
                }
                _ => self.write(node, s, &vec![0; (e - s) as usize]),
            }
        }
        for &(n, page) in &new_zero {
            let Body::Pager { dirty, .. } = &mut self.nodes[n].body else { continue };
            dirty.zero.insert(page);
            if !new_zero.contains(&(n, page + 1)) {
                for q in (page + 1..).take_while(|q| dirty.zero.contains(q)) {
                    dirty.awaiting.remove(&q);
                }
            }
        }
    }

    /// COMMIT of the pages `[first, end)`: a live view forks them, and a
    /// pager VMO's dirty zero pages become committed Dirty pages (digest
    /// §2.11); nothing changes what anything reads.
    pub fn commit(&mut self, node: usize, first: u64, end: u64) {
        match &mut self.nodes[node].body {
            Body::Pager { dirty, .. } => {
                let zero: Vec<u64> = dirty.zero.range(first..end).copied().collect();
                zero.into_iter().for_each(|page| dirty.dirty(page));
            }
            &mut Body::Window { parent, offset } => {
                let parent_pages = self.nodes[parent].size / P;
                let (first, end) =
                    ((first + offset / P).min(parent_pages), (end + offset / P).min(parent_pages));
                self.commit(parent, first, end)
            }
            _ => (first..end).for_each(|page| self.fork(node, page)),
        }
    }

    /// The dirty state of a pager VMO node.
    pub fn dirty(&self, node: usize) -> &Dirty {
        match &self.nodes[node].body {
            Body::Pager { dirty, .. } => dirty,
            _ => unreachable!("only pager VMOs are dirty-tracked"),
        }
    }

    /// The first half of the writeback loop: every dirty page is begun
    /// (AwaitingClean) and its bytes copied to the disk.
    pub fn writeback_begun(&mut self, node: usize) {
        if let Body::Pager { bytes, dirty, disk, .. } = &mut self.nodes[node].body {
            if disk.len() < bytes.len() {
                disk.resize(bytes.len(), 0);
            }
            for &page in dirty.pages.iter() {
                let range = (page * P) as usize..((page + 1) * P) as usize;
                disk[range.clone()].copy_from_slice(&bytes[range]);
            }
            dirty.awaiting.clone_from(&dirty.pages);
        }
    }

    /// WRITEBACK_END of the whole VMO: the AwaitingClean pages are Clean
    /// (a zero range's become a gap).
    pub fn writeback_ended(&mut self, node: usize) {
        if let Body::Pager { dirty, detached, .. } = &mut self.nodes[node].body {
            for page in core::mem::take(&mut dirty.awaiting) {
                dirty.pages.remove(&page);
                if dirty.zero.remove(&page) {
                    dirty.stale_zero.insert(page);
                } else if *detached {
                    dirty.present_clean.insert(page);
                }
            }
        }
    }

    /// `zx_pager_detach_vmo` (digest §2.3): the Clean pages go (again, if
    /// it was detached before), the rest stays; what would need the pager
    /// fails from now on.
    pub fn detach(&mut self, node: usize) {
        if let Body::Pager { detached, dirty, .. } = &mut self.nodes[node].body {
            *detached = true;
            dirty.present_clean.clear();
        }
    }

    /// Eviction of every Clean page.
    pub fn reclaimed(&mut self) {
        for node in &mut self.nodes {
            if let Body::Pager { dirty, .. } = &mut node.body {
                dirty.present_clean.clear();
            }
        }
    }

    /// Whether a load of `page` of `node` may read zero through a mapping
    /// although the page needs the pager ([`Dirty::stale_zero`]).
    pub fn maybe_stale_zero(&self, node: usize, page: u64) -> bool {
        match &self.nodes[node].body {
            Body::Own(_) => false,
            Body::Pager { dirty, .. } => dirty.stale_zero.contains(&page),
            Body::Live { parent, offset, limit, forked } => {
                let at = offset + page * P;
                !forked.contains_key(&page) && at < *limit && self.maybe_stale_zero(*parent, at / P)
            }
            Body::Window { parent, offset } => self.maybe_stale_zero(*parent, offset / P + page),
        }
    }

    /// Whether reading `page` of `node` needs a pager that is gone: the
    /// page, or the ancestor page it shows, is a Clean page a detach (or
    /// eviction after it) dropped.
    pub fn read_blocked(&self, node: usize, page: u64) -> bool {
        match &self.nodes[node].body {
            Body::Own(_) => false,
            Body::Pager { dirty, detached, .. } => {
                *detached && !dirty.pages.contains(&page) && !dirty.present_clean.contains(&page)
            }
            Body::Live { parent, offset, limit, forked } => {
                let at = offset + page * P;
                !forked.contains_key(&page)
                    && at < *limit
                    && at < self.nodes[*parent].size
                    && self.read_blocked(*parent, at / P)
            }
            Body::Window { parent, offset } => {
                let at = offset + page * P;
                at < self.nodes[*parent].size && self.read_blocked(*parent, at / P)
            }
        }
    }

    /// Whether writing (or committing, with `commit`) `page` of `node`
    /// needs a pager that is gone: its content is, or under TRAP_DIRTY the
    /// page is not Dirty with content of its own, so it would need a DIRTY
    /// request (digest §2.3 item 4, §3.2); a COMMIT needs no DIRTY request
    /// but for a dirty zero page.
    pub fn write_blocked(&self, node: usize, page: u64, commit: bool) -> bool {
        match &self.nodes[node].body {
            Body::Pager { dirty, trap, detached: true, .. } => {
                let needs_dirty = if commit {
                    dirty.zero.contains(&page)
                } else {
                    !dirty.pages.contains(&page)
                        || dirty.awaiting.contains(&page)
                        || dirty.zero.contains(&page)
                };
                self.read_blocked(node, page) || *trap && needs_dirty
            }
            Body::Window { parent, offset } => {
                let at = offset + page * P;
                at < self.nodes[*parent].size && self.write_blocked(*parent, at / P, commit)
            }
            _ => self.read_blocked(node, page),
        }
    }
}

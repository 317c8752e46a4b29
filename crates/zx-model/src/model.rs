//! The plain model: what every VMO must read, and which pages of a pager
//! VMO must be dirty, worked out without any of vm-core's machinery.
//!
//! Snapshots are eager copies (digest §2.10: SNAPSHOT "behaves as if
//! eagerly copied"); AT_LEAST_ON_WRITE children of pager VMOs are live
//! views that fork a page on its first write or COMMIT (§3.4), clipped by
//! every shrink of their ancestors (`parent_limit`) and of themselves;
//! slices and references are windows. A pager VMO's Clean pages always
//! equal its disk, so eviction changes nothing the model sees.

use std::collections::{BTreeMap, BTreeSet};

use crate::P;

/// What a node's bytes are.
#[derive(Clone, Debug)]
pub enum Body {
    /// An anonymous VMO, or a snapshot (an eager copy).
    Own(Vec<u8>),
    /// A pager VMO: its bytes, the pages that are dirty, and its disk (what
    /// the writeback wrote, or the initial pattern).
    Pager { bytes: Vec<u8>, dirty: BTreeSet<u64>, disk: Vec<u8> },
    /// An AT_LEAST_ON_WRITE child of a pager-backed VMO: it sees `parent`
    /// from `offset`, below `limit` (in the parent's offsets), except for
    /// the pages it forked.
    Live { parent: usize, offset: u64, limit: u64, forked: BTreeMap<u64, Vec<u8>> },
    /// A slice or a reference: `parent` from `offset`.
    Window { parent: usize, offset: u64 },
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
                Some(page) => page[(offset % P) as usize],
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
                    dirty.insert(o / P);
                }
                Body::Live { forked, .. } => forked.get_mut(&(o / P)).expect("forked")[(o % P) as usize] = b,
                Body::Window { .. } => unreachable!("targets are not windows"),
            }
        }
    }

    /// Copies `page` of a live view into it, if it has not yet.
    pub fn fork(&mut self, node: usize, page: u64) {
        if let Body::Live { forked, .. } = &self.nodes[node].body {
            if !forked.contains_key(&page) {
                let content = self.bytes(node, page * P, P);
                if let Body::Live { forked, .. } = &mut self.nodes[node].body {
                    forked.insert(page, content);
                }
            }
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
                dirty.retain(|&p| p * P < size);
                dirty.extend(old.min(size) / P..size / P);
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
    /// zero. OP_ZERO is like writing zeros, and a pager VMO's whole pages
    /// become a dirty zero range (digest §2.11): dirty either way. DECOMMIT
    /// never reaches a pager VMO.
    pub fn zero(&mut self, node: usize, offset: u64, len: u64) {
        self.write(node, offset, &vec![0; len as usize]);
    }

    /// COMMIT of the pages `[first, end)`: a live view forks them (digest
    /// §2.11); nothing else changes what anything reads.
    pub fn commit(&mut self, node: usize, first: u64, end: u64) {
        match self.nodes[node].body {
            Body::Window { parent, offset } => {
                let parent_pages = self.nodes[parent].size / P;
                let (first, end) =
                    ((first + offset / P).min(parent_pages), (end + offset / P).min(parent_pages));
                self.commit(parent, first, end)
            }
            _ => (first..end).for_each(|page| self.fork(node, page)),
        }
    }

    /// The dirty pages of a pager VMO node.
    pub fn dirty(&self, node: usize) -> &BTreeSet<u64> {
        match &self.nodes[node].body {
            Body::Pager { dirty, .. } => dirty,
            _ => unreachable!("only pager VMOs are dirty-tracked"),
        }
    }

    /// After a complete writeback: the disk holds the bytes, nothing is
    /// dirty.
    pub fn written_back(&mut self, node: usize) {
        if let Body::Pager { bytes, dirty, disk } = &mut self.nodes[node].body {
            if disk.len() < bytes.len() {
                disk.resize(bytes.len(), 0);
            }
            for &page in dirty.iter() {
                let range = (page * P) as usize..((page + 1) * P) as usize;
                disk[range.clone()].copy_from_slice(&bytes[range]);
            }
            dirty.clear();
        }
    }
}

//! A family's shared state: its copy-on-write tree and the views (VMOs)
//! onto it, each with the mappings that must hear of page changes.

use alloc::sync::Weak;
use alloc::vec::Vec;

use super::discard::Discard;
use super::notices::{NoticeKind, Notices, Runs};
use super::{Stop, VmoMapping};
use crate::cow::{CowTree, NodeId};
use crate::page_source::PageSource;
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
}

pub(super) struct Family {
    pub(super) cow: CowTree,
    pub(super) views: Slab<View>,
    /// Used only by a discardable root, which can have no children.
    pub(super) discard: Discard,
    /// The page source of a pager family's paged root.
    pub(super) source: Option<PageSource>,
}

impl Family {
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
            for m in v.mappings.iter().filter_map(Weak::upgrade) {
                out.call(m, kind, s, e - s);
            }
        }
    }

    /// Queues `kind` for every mapping of every view that sees `node`'s
    /// `[start, end)`: views of `node` itself and of the clones looking
    /// through to it (a paged root's pages are shared live with them).
    pub(super) fn notify_seeing(&self, node: NodeId, start: u64, end: u64, kind: NoticeKind, out: &Notices) {
        let mut leaves: Vec<NodeId> = self.views.iter().map(|v| v.node).collect();
        leaves.sort_unstable();
        leaves.dedup();
        for leaf in leaves {
            if let Some((shift, visible_end)) = self.cow.window_onto(leaf, node) {
                let (s, e) = (start.saturating_sub(shift), end.saturating_sub(shift).min(visible_end));
                if s < e {
                    self.notify(leaf, s, e, kind, out);
                }
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

    pub(super) fn notify_runs(&self, leaf: NodeId, runs: &Runs, out: &Notices) {
        for &(s, e) in &runs.0 {
            self.notify(leaf, s, e, NoticeKind::Unmap, out);
        }
    }
}

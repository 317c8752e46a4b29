//! A family's shared state: its copy-on-write tree and the views (VMOs)
//! onto it, each with the mappings that must hear of page changes.

use alloc::sync::Weak;
use alloc::vec::Vec;

use super::discard::Discard;
use super::notices::{NoticeKind, Notices, Runs};
use super::VmoMapping;
use crate::cow::{CowTree, NodeId};
use crate::slab::Slab;

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
    pub(super) fn notify(&self, leaf: NodeId, start: u64, end: u64, kind: NoticeKind, out: &mut Notices) {
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
                out.calls.push((m, kind, s, e - s));
            }
        }
    }

    pub(super) fn notify_runs(&self, leaf: NodeId, runs: &Runs, out: &mut Notices) {
        for &(s, e) in &runs.0 {
            self.notify(leaf, s, e, NoticeKind::Unmap, out);
        }
    }
}

//! The pager's side of a pager-backed VMO (digest §2.2-2.5): creating it,
//! supplying pages (moved out of an auxiliary VMO), failing requests,
//! detaching it, and the pager going away. [`crate::pager::Pager`] checks
//! that a call names one of its VMOs before it gets here.

use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;

use super::family::Family;
use super::notices::{NoticeKind, Runs};
use super::{range_end, Vmo, VmoOptions};
use crate::context::VmContext;
use crate::page_source::{PageSource, PagerPort};
use crate::platform::{FrameAllocator, PhysAddr};
use crate::{Status, PAGE_SIZE};

/// A pager's weak hold on one of its VMOs' families, to detach it when the
/// pager closes.
pub(crate) struct PagedFamily {
    family: Weak<crate::sync::Mutex<Family>>,
    ctx: Arc<VmContext>,
}

impl PagedFamily {
    /// Whether the family is gone (every VMO of it closed).
    pub fn is_gone(&self) -> bool {
        self.family.strong_count() == 0
    }

    /// The pager's last handle closed (digest §2.1): no more packets, the
    /// waiting operations fail with BAD_STATE, later requests too; the
    /// pages stay readable.
    pub fn pager_closed(&self) {
        let Some(family) = self.family.upgrade() else { return };
        let wake = {
            let mut fam = family.lock();
            let source = fam.source.as_mut().expect("a pager family");
            source.detach(true);
            source.take_wake()
        };
        if wake {
            self.ctx.waiter.wake_all();
        }
    }
}

impl Vmo {
    /// `zx_pager_create_vmo` for pager `pager` (its koid): a VMO of `size`
    /// rounded up (OUT_OF_RANGE when that overflows) whose pages come from
    /// requests sent to `port` with `key`.
    pub(crate) fn create_paged(
        ctx: &Arc<VmContext>,
        size: u64,
        options: VmoOptions,
        port: Arc<dyn PagerPort>,
        key: u64,
        pager: u64,
    ) -> Result<(Arc<Vmo>, PagedFamily), Status> {
        let source = PageSource::new(port, key, pager, options.contains(VmoOptions::TRAP_DIRTY));
        let vmo = Self::new_root(ctx, size, options, Some(source))?;
        vmo.register_evictable();
        let family = PagedFamily { family: Arc::downgrade(&vmo.family), ctx: ctx.clone() };
        Ok((vmo, family))
    }

    /// Whether this is a VMO `pager` created (not a child of one): the VMO
    /// a pager's calls may name.
    pub fn is_paged_by(&self, pager: &crate::pager::Pager) -> bool {
        self.paged && self.family.lock().source.as_ref().is_some_and(|s| s.pager() == pager.koid())
    }

    /// The range and attachment checks of supply and FAIL: the range within
    /// the size (OUT_OF_RANGE), the pager still attached (BAD_STATE).
    fn check_pager_op(&self, fam: &Family, offset: u64, len: u64) -> Result<(), Status> {
        range_end(offset, len, fam.geometry(self.view).2)?;
        if !fam.source.as_ref().is_some_and(PageSource::is_attached) {
            return Err(Status::BadState);
        }
        Ok(())
    }

    /// `zx_pager_supply_pages` (digest §2.4), page-aligned arguments: moves
    /// the pages of `aux`'s `[aux_offset, +len)` (which ends decommitted; a
    /// mapping of it reads zero) into `[offset, +len)`. Pages already
    /// present are never replaced (the aux page is freed); uncommitted aux
    /// pages become zero markers. Supplied pages are Clean, and the requests
    /// they fill are satisfied (or withdrawn, if the pager has not read
    /// them). Errors: this VMO's range (OUT_OF_RANGE) or detachment
    /// (BAD_STATE) before `aux` is touched, then [`Vmo::take_pages`]'s.
    pub(crate) fn supply_pages(
        &self,
        offset: u64,
        len: u64,
        aux: &Vmo,
        aux_offset: u64,
    ) -> Result<(), Status> {
        self.check_pager_op(&self.family.lock(), offset, len)?;
        let taken = aux.take_pages(aux_offset, len)?;
        self.locked(|fam, notices| {
            if let Err(status) = self.check_pager_op(fam, offset, len) {
                // Detached or shrunk meanwhile: the aux range stays
                // decommitted, as the syscall allows.
                taken.iter().flatten().for_each(|&frame| notices.free(frame));
                return Err(status);
            }
            let root = fam.view(self.view).node;
            let mut filled = Runs::default();
            for (i, frame) in taken.into_iter().enumerate() {
                let at = offset + i as u64 * PAGE_SIZE;
                match fam.cow.supply(root, at, frame) {
                    Some(unused) => notices.free(unused),
                    None => filled.add(at),
                }
            }
            for &(s, e) in &filled.0 {
                // A gap left by writing back a zero range may still be
                // mapped to the zero page: those translations go.
                fam.notify_seeing(root, s, e, NoticeKind::Unmap, notices);
                let source = fam.source.as_mut().expect("a pager family");
                source.filled(s / PAGE_SIZE, e / PAGE_SIZE, fam.cow.pages(root));
            }
            Ok(())
        })
    }

    /// Takes the pages of `[offset, offset + len)` out of this VMO, as the
    /// auxiliary VMO of a supply: one entry per page, `None` where nothing
    /// is committed. OUT_OF_RANGE beyond the size, then NOT_SUPPORTED for a
    /// pager-backed VMO, BAD_STATE for a VMO with children or one that is a
    /// child (only a `zx_vmo_create` VMO can supply). The range ends
    /// decommitted and its mappings are told before this returns.
    fn take_pages(&self, offset: u64, len: u64) -> Result<Vec<Option<PhysAddr>>, Status> {
        self.locked(|fam, notices| {
            let (leaf, base, size) = fam.geometry(self.view);
            range_end(offset, len, size)?;
            if fam.source.is_some() {
                return Err(Status::NotSupported);
            }
            if fam.views.iter().count() > 1 || fam.cow.has_parent(leaf) || base != 0 {
                return Err(Status::BadState);
            }
            let mut pages = alloc::vec![None; (len / PAGE_SIZE) as usize];
            for (index, entry) in fam.cow.take(leaf, offset, offset + len) {
                pages[(index - offset / PAGE_SIZE) as usize] = entry.frame();
            }
            fam.notify(leaf, offset, offset + len, NoticeKind::Unmap, notices);
            Ok(pages)
        })
    }

    /// `ZX_PAGER_OP_FAIL` (digest §2.5), page-aligned arguments and a
    /// permitted status: fails the requests overlapping the range (see
    /// [`crate::page_source`]). OUT_OF_RANGE beyond the size, BAD_STATE once
    /// detached.
    pub(crate) fn fail_pages(&self, offset: u64, len: u64, status: Status) -> Result<(), Status> {
        self.locked(|fam, _| {
            self.check_pager_op(fam, offset, len)?;
            let root = fam.view(self.view).node;
            let source = fam.source.as_mut().expect("a pager family");
            source.fail(offset / PAGE_SIZE, (offset + len) / PAGE_SIZE, status, fam.cow.pages(root));
            Ok(())
        })
    }

    /// `zx_pager_detach_vmo` (digest §2.3): the pager hears COMPLETE and
    /// nothing more; waiting operations fail with BAD_STATE, as will any
    /// that would need the pager; Clean pages (and zero markers) are
    /// decommitted, Dirty pages and dirty zero ranges stay.
    pub(crate) fn detach(&self) {
        self.locked(|fam, notices| {
            let root = fam.view(self.view).node;
            fam.source.as_mut().expect("a pager family").detach(false);
            let clean = fam.cow.clean_runs(root, 0, u64::MAX, true);
            fam.drop_clean(root, &clean, notices);
        })
    }
}

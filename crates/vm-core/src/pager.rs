//! Pagers (digest §2.1-2.5): the owner of a set of pager-backed VMOs, which
//! creates them, supplies their pages, fails their requests and detaches
//! them. Requests reach the pager through the port each VMO was created
//! with ([`crate::page_source`]).
//!
//! When the pager goes away (the zx layer drops it with its last handle),
//! every VMO it created behaves as if detached, except that it hears no
//! COMPLETE and keeps its pages (digest §2.1, ClosePagerTest).

use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::context::VmContext;
use crate::page_source::PagerPort;
use crate::vmo::{next_koid, DirtyRange, PagedFamily, Vmo, VmoOptions, Writeback};
use crate::{Status, PAGE_SIZE};

/// The statuses `ZX_PAGER_OP_FAIL` may give (digest §2.5).
pub const FAIL_STATUSES: [Status; 5] =
    [Status::Io, Status::IoDataIntegrity, Status::BadState, Status::NoSpace, Status::BufferTooSmall];

/// A pager. Dropping it closes it.
pub struct Pager {
    ctx: Arc<VmContext>,
    koid: u64,
    families: crate::sync::Mutex<Vec<PagedFamily>>,
}

fn page_aligned(x: u64) -> bool {
    x.is_multiple_of(PAGE_SIZE)
}

impl Pager {
    /// `zx_pager_create`.
    pub fn new(ctx: &Arc<VmContext>) -> Arc<Pager> {
        Arc::new(Pager { ctx: ctx.clone(), koid: next_koid(), families: crate::sync::Mutex::new(Vec::new()) })
    }

    /// The pager's kernel object id.
    pub fn koid(&self) -> u64 {
        self.koid
    }

    /// `zx_pager_create_vmo` (digest §2.2) with RESIZABLE, TRAP_DIRTY and
    /// UNBOUNDED as the only options (INVALID_ARGS otherwise): a VMO of
    /// `size` rounded up to pages (OUT_OF_RANGE when that overflows), or of
    /// the largest size if UNBOUNDED, whose missing pages are requested on
    /// `port` with `key`; its content size is `size`.
    pub fn create_vmo(
        &self,
        options: VmoOptions,
        port: Arc<dyn PagerPort>,
        key: u64,
        size: u64,
    ) -> Result<Arc<Vmo>, Status> {
        if !(VmoOptions::RESIZABLE | VmoOptions::TRAP_DIRTY | VmoOptions::UNBOUNDED).contains(options) {
            return Err(Status::InvalidArgs);
        }
        let (vmo, family) = Vmo::create_paged(&self.ctx, size, options, port, key, self.koid)?;
        let mut families = self.families.lock();
        families.retain(|f| !f.is_gone());
        families.push(family);
        Ok(vmo)
    }

    /// INVALID_ARGS unless `vmo` is a VMO this pager created.
    fn check_owns(&self, vmo: &Vmo) -> Result<(), Status> {
        if vmo.is_paged_by(self) {
            Ok(())
        } else {
            Err(Status::InvalidArgs)
        }
    }

    /// `zx_pager_detach_vmo` (digest §2.3): INVALID_ARGS for a VMO this
    /// pager did not create; detaching twice is harmless.
    pub fn detach_vmo(&self, vmo: &Vmo) -> Result<(), Status> {
        self.check_owns(vmo)?;
        vmo.detach();
        Ok(())
    }

    /// `zx_pager_supply_pages` (digest §2.4): INVALID_ARGS for a VMO this
    /// pager did not create (before `aux` is looked at) or an offset or
    /// length that is not page-aligned; then the VMO's and `aux`'s checks.
    pub fn supply_pages(
        &self,
        vmo: &Vmo,
        offset: u64,
        len: u64,
        aux: &Vmo,
        aux_offset: u64,
    ) -> Result<(), Status> {
        self.check_owns(vmo)?;
        if !page_aligned(offset) || !page_aligned(len) || !page_aligned(aux_offset) {
            return Err(Status::InvalidArgs);
        }
        vmo.supply_pages(offset, len, aux, aux_offset)
    }

    /// `ZX_PAGER_OP_FAIL` (digest §2.5): INVALID_ARGS for a VMO this pager
    /// did not create, an offset or length that is not page-aligned, or a
    /// status outside [`FAIL_STATUSES`]; then OUT_OF_RANGE beyond the VMO
    /// and BAD_STATE once detached. Failing a range nobody waits on is OK.
    pub fn fail_pages(&self, vmo: &Vmo, offset: u64, len: u64, status: Status) -> Result<(), Status> {
        self.check_op(vmo, offset, len)?;
        if !FAIL_STATUSES.contains(&status) {
            return Err(Status::InvalidArgs);
        }
        vmo.fail_pages(offset, len, status)
    }
}

impl Pager {
    /// INVALID_ARGS unless `vmo` is this pager's and `offset` and `len` are
    /// page-aligned: the checks every pager op starts with.
    fn check_op(&self, vmo: &Vmo, offset: u64, len: u64) -> Result<(), Status> {
        self.check_owns(vmo)?;
        if !page_aligned(offset) || !page_aligned(len) {
            return Err(Status::InvalidArgs);
        }
        Ok(())
    }

    /// `ZX_PAGER_OP_DIRTY` (digest §2.5): after the checks every pager op
    /// starts with (INVALID_ARGS), the VMO's (see `Vmo`'s `dirty_pages`).
    pub fn dirty_pages(&self, vmo: &Vmo, offset: u64, len: u64) -> Result<(), Status> {
        self.check_op(vmo, offset, len)?;
        vmo.dirty_pages(offset, len)
    }

    /// `ZX_PAGER_OP_WRITEBACK_BEGIN` (digest §2.5, §3.2).
    pub fn writeback_begin(&self, vmo: &Vmo, offset: u64, len: u64, what: Writeback) -> Result<(), Status> {
        self.check_op(vmo, offset, len)?;
        vmo.writeback_begin(offset, len, what)
    }

    /// `ZX_PAGER_OP_WRITEBACK_END` (digest §2.5, §3.2).
    pub fn writeback_end(&self, vmo: &Vmo, offset: u64, len: u64) -> Result<(), Status> {
        self.check_op(vmo, offset, len)?;
        vmo.writeback_end(offset, len)
    }

    /// `zx_pager_query_dirty_ranges` (digest §2.6): INVALID_ARGS for a VMO
    /// this pager did not create (clones and slices included); offset and
    /// length are rounded out to pages; OUT_OF_RANGE beyond the size.
    pub fn query_dirty_ranges(&self, vmo: &Vmo, offset: u64, len: u64) -> Result<Vec<DirtyRange>, Status> {
        self.check_owns(vmo)?;
        vmo.dirty_ranges(offset, len)
    }

    /// `zx_pager_query_vmo_stats` (digest §2.7): whether the VMO was
    /// modified since the last reset, resetting it if `reset`; INVALID_ARGS
    /// for a VMO this pager did not create.
    pub fn query_vmo_stats(&self, vmo: &Vmo, reset: bool) -> Result<bool, Status> {
        self.check_owns(vmo)?;
        Ok(vmo.modified(reset))
    }
}

impl Drop for Pager {
    fn drop(&mut self) {
        for family in self.families.get_mut().drain(..) {
            family.pager_closed();
        }
    }
}

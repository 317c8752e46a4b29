//! Discardable VMOs (digest §2.11 LOCK/TRY_LOCK/UNLOCK): the lock count,
//! and discarding the pages of an unlocked VMO on reclaim.

use super::family::Family;
use super::notices::NoticeKind;
use super::{round_up, LockState, Vmo};
use crate::Status;

/// Discardable lifecycle (digest §2.11 LOCK/TRY_LOCK/UNLOCK).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Discard {
    /// Never locked: not eligible for reclaim.
    Unset,
    Locked(u64),
    Unlocked,
    Discarded,
}

impl Family {
    /// NOT_FOUND while a discarded VMO has not been locked again: its pages
    /// may not be looked up (Zircon's `LookupPagesLocked`).
    pub(super) fn check_not_discarded(&self) -> Result<(), Status> {
        match self.discard {
            Discard::Discarded => Err(Status::NotFound),
            _ => Ok(()),
        }
    }
}

impl Vmo {
    /// LOCK/TRY_LOCK/UNLOCK checks: a discardable VMO (else NOT_SUPPORTED)
    /// and exactly `(0, size)` with `len` rounded up (else OUT_OF_RANGE).
    fn check_lock_range(&self, fam: &Family, offset: u64, len: u64) -> Result<u64, Status> {
        if !self.discardable {
            return Err(Status::NotSupported);
        }
        let size = fam.geometry(self.view).2;
        if offset != 0 || round_up(len) != Some(size) {
            return Err(Status::OutOfRange);
        }
        Ok(size)
    }

    /// `ZX_VMO_OP_LOCK`: protects the VMO from discard; reports the range
    /// discarded since it was last unlocked.
    pub fn lock(&self, offset: u64, len: u64) -> Result<LockState, Status> {
        let mut fam = self.family.lock();
        let size = self.check_lock_range(&fam, offset, len)?;
        let mut state = LockState { offset: 0, size, ..LockState::default() };
        fam.discard = match fam.discard {
            Discard::Locked(n) => Discard::Locked(n + 1),
            Discard::Discarded => {
                state.discarded_size = size;
                Discard::Locked(1)
            }
            Discard::Unset | Discard::Unlocked => Discard::Locked(1),
        };
        Ok(state)
    }

    /// `ZX_VMO_OP_TRY_LOCK`: like LOCK, but UNAVAILABLE once discarded.
    pub fn try_lock(&self, offset: u64, len: u64) -> Result<(), Status> {
        let mut fam = self.family.lock();
        self.check_lock_range(&fam, offset, len)?;
        fam.discard = match fam.discard {
            Discard::Discarded => return Err(Status::Unavailable),
            Discard::Locked(n) => Discard::Locked(n + 1),
            Discard::Unset | Discard::Unlocked => Discard::Locked(1),
        };
        Ok(())
    }

    /// `ZX_VMO_OP_UNLOCK`: BAD_STATE if not locked. The last unlock makes the
    /// VMO eligible for [`VmContext::reclaim`](crate::context::VmContext::reclaim).
    pub fn unlock(&self, offset: u64, len: u64) -> Result<(), Status> {
        let mut fam = self.family.lock();
        self.check_lock_range(&fam, offset, len)?;
        fam.discard = match fam.discard {
            Discard::Locked(1) => Discard::Unlocked,
            Discard::Locked(n) => Discard::Locked(n - 1),
            _ => return Err(Status::BadState),
        };
        Ok(())
    }

    /// Discards the VMO's pages if it is unlocked; returns the frames freed.
    pub(crate) fn discard_if_unlocked(&self) -> u64 {
        self.locked(|fam, notices| {
            if fam.discard != Discard::Unlocked {
                return 0;
            }
            let (leaf, _, size) = fam.geometry(self.view);
            let freed = fam.cow.own_pages(leaf);
            fam.cow.decommit_all(leaf, notices.frames());
            fam.discard = Discard::Discarded;
            fam.reclaim_events += u64::from(freed > 0);
            fam.notify(leaf, 0, size, NoticeKind::Unmap, notices);
            freed
        })
    }
}

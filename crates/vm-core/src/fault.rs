//! The page-fault path: from a faulting address to an installed translation.
//!
//! Digest §2.12 "Fault behaviour" and §6.5: a fault finds the mapping that
//! covers the address (none: `NOT_FOUND`), checks the access against the
//! mapping's permissions (`ACCESS_DENIED`), asks the VMO for the page
//! ([`Vmo::lookup_for_fault`](crate::vmo::Vmo::lookup_for_fault), which
//! commits, forks or refuses with `OUT_OF_RANGE` beyond the VMO's size) and
//! installs the translation, a write having first taken the tables it
//! needs (`NO_MEMORY` before the VMO changes). A page the VMO does not hand out as writable
//! (the shared zero page, a page still shared copy-on-write) is mapped without
//! WRITE, so the first write faults again and forks.

use crate::platform::{FrameAllocator, MmuFlags, Translation};
use crate::vmar::Vmar;
use crate::{Status, PAGE_SIZE};

/// The kind of access that faulted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// A load.
    Read,
    /// A store.
    Write,
    /// An instruction fetch.
    Execute,
}

impl Access {
    /// The permission a translation needs to allow this access.
    pub fn required(self) -> MmuFlags {
        match self {
            Access::Read => MmuFlags::READ,
            Access::Write => MmuFlags::WRITE,
            Access::Execute => MmuFlags::EXECUTE,
        }
    }
}

impl Vmar {
    /// Resolves a fault at `addr` for `access`, searching this region and the
    /// regions below it, and installs the translation of `addr`'s page.
    ///
    /// `NOT_FOUND` when no mapping covers `addr` (or this region was
    /// destroyed), `ACCESS_DENIED` when the mapping does not permit `access`,
    /// and the VMO's status when it cannot supply the page (`OUT_OF_RANGE`
    /// beyond its size, `NO_MEMORY`).
    ///
    /// Never inlined: it is [`Vmar::fault_with`]'s fallback, which would
    /// otherwise put a second copy of the fault path beside the first.
    #[inline(never)]
    pub fn fault(&self, addr: u64, access: Access) -> Result<(), Status> {
        let (tables, frames) = self.platform();
        self.fault_in(addr, access, tables, frames)
    }

    /// [`Vmar::fault`], calling the address space's translation and the
    /// context's frame allocator statically when `tables` and `frames` are
    /// those objects under their own types (the translation the root was
    /// made over, the allocator the context was made with; see
    /// [`crate::platform`]). Given other objects it ignores them and calls
    /// its own through their trait objects, as `fault` does.
    pub fn fault_with<T, F>(&self, addr: u64, access: Access, tables: &T, frames: &F) -> Result<(), Status>
    where
        T: Translation + 'static,
        F: FrameAllocator + 'static,
    {
        if self.platform_is(tables, frames) {
            self.fault_in(addr, access, tables, frames)
        } else {
            self.fault(addr, access)
        }
    }

    /// The fault, calling `tables` and `frames`: the address space's and the
    /// context's, under some type.
    #[inline(always)]
    fn fault_in<T, F>(&self, addr: u64, access: Access, tables: &T, frames: &F) -> Result<(), Status>
    where
        T: Translation + ?Sized,
        F: FrameAllocator + ?Sized,
    {
        let va = addr & !(PAGE_SIZE - 1);
        loop {
            let target = self.fault_target(va, access)?;
            let write = access == Access::Write;
            // The tables first for a write, which commits or forks: a fault
            // that finds no memory for them must not have changed the VMO
            // (`Translation::prepare`). A read changes nothing there, and its
            // install takes the tables itself (NO_MEMORY from there).
            if write {
                tables.prepare(va)?;
            }
            let (page, took_over) = target.mapping.vmo().lookup_for_mapping_fault(
                target.vmo_offset,
                write,
                &target.mapping,
                frames,
            )?;
            // A mapping change or VMO invalidation between the lookup and
            // here makes the page stale: look it up again.
            let generation = took_over.unwrap_or(target.generation);
            if target.mapping.install(tables, va, page, generation, Some(access), took_over.is_some())? {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{FrameBudget, VmContext};
    use crate::mock::{Machine, MockMmu};
    use crate::mock::{MockCache, MockFrames, MockWaiter};
    use crate::vmar::VmFlags;
    use crate::vmo::{ChildKind, Vmo, VmoMapping, VmoOptions};
    use alloc::sync::Arc;

    const P: u64 = PAGE_SIZE;

    /// A fork whose install finds the mapping changed since its lookup (an
    /// unmap of another page started a generation) removes the read-only
    /// translation of the shared frame it took over, which would otherwise
    /// outlive the fork, and the fault then installs the private page.
    #[test]
    fn a_fork_that_looks_again_removes_the_translation_it_took_over() {
        let machine = Machine::new(16);
        let mmu = Arc::new(MockMmu::with_range(0x10_0000_0000, 1 << 30));
        let root = Vmar::new_root(&machine.ctx, mmu.clone());
        let parent = Vmo::create(&machine.ctx, 2 * P, VmoOptions::empty()).unwrap();
        parent.write(0, &[1]).unwrap();
        let child = parent.create_child(ChildKind::Snapshot, 0, 2 * P, false).unwrap();
        let rw = VmFlags::PERM_READ | VmFlags::PERM_WRITE;
        let va = root.map(rw.into(), 0, &child, 0, 2 * P).unwrap();
        root.fault(va, Access::Read).unwrap();
        let shared = mmu.pte(va).unwrap().frame;

        let target = root.fault_target(va, Access::Write).unwrap();
        let (page, took_over) = child
            .lookup_for_mapping_fault(target.vmo_offset, true, &target.mapping, &*machine.frames)
            .unwrap();
        let generation = took_over.expect("the fork's notice to this mapping was taken over");
        assert!(generation > target.generation && page.frame != shared);
        assert_eq!(mmu.pte(va).unwrap().frame, shared, "left for the fault to replace");
        target.mapping.unmap_vmo_range(P, P, &mut |_| {});
        assert!(!target.mapping.install(&*mmu, va, page, generation, Some(Access::Write), true).unwrap());
        assert!(mmu.pte(va).is_none(), "the stale translation went");

        root.fault(va, Access::Write).unwrap();
        assert_eq!(mmu.pte(va).unwrap().frame, page.frame);
        let mut byte = [0];
        child.read(0, &mut byte).unwrap();
        assert_eq!(byte, [1]);
    }

    /// A fault that looked a page up before another fault through the same
    /// mapping forked it must not install what it found: the fork's
    /// takeover starts a generation, as the notice it replaces would.
    #[test]
    fn a_takeover_makes_earlier_lookups_look_again() {
        let machine = Machine::new(16);
        let mmu = Arc::new(MockMmu::with_range(0x10_0000_0000, 1 << 30));
        let root = Vmar::new_root(&machine.ctx, mmu.clone());
        let vmo = Vmo::create(&machine.ctx, P, VmoOptions::empty()).unwrap();
        let rw = VmFlags::PERM_READ | VmFlags::PERM_WRITE;
        let va = root.map(rw.into(), 0, &vmo, 0, P).unwrap();

        // A read looks up the zero page; before it installs, a write forks.
        let reader = root.fault_target(va, Access::Read).unwrap();
        let (zero, _) = vmo
            .lookup_for_mapping_fault(reader.vmo_offset, false, &reader.mapping, &*machine.frames)
            .unwrap();
        assert_eq!(zero.frame, machine.ctx.zero_frame());
        root.fault(va, Access::Write).unwrap();
        let private = mmu.pte(va).unwrap().frame;
        assert!(!reader
            .mapping
            .install(&*mmu, va, zero, reader.generation, Some(Access::Read), false)
            .unwrap());
        assert_eq!(mmu.pte(va).unwrap().frame, private, "the zero page did not come back");
    }

    /// An address space over a fresh mock MMU with a fresh one-page VMO
    /// mapped read-write: the MMU, the root, the VMO and its address.
    fn one_page_space(machine: &Machine) -> (Arc<MockMmu>, Arc<Vmar>, Arc<Vmo>, u64) {
        let mmu = Arc::new(MockMmu::with_range(0x10_0000_0000, 1 << 30));
        let root = Vmar::new_root(&machine.ctx, mmu.clone());
        let vmo = Vmo::create(&machine.ctx, P, VmoOptions::empty()).unwrap();
        let rw = VmFlags::PERM_READ | VmFlags::PERM_WRITE;
        let va = root.map(rw.into(), 0, &vmo, 0, P).unwrap();
        (mmu, root, vmo, va)
    }

    /// Given the root's own translation and the context's own allocator,
    /// `fault_with` faults with them: the page is committed from that
    /// allocator and mapped in those tables.
    #[test]
    fn a_fault_with_the_platforms_own_objects_uses_them() {
        let machine = Machine::new(16);
        let (mmu, root, vmo, va) = one_page_space(&machine);
        let used = machine.used_frames();
        root.fault_with(va + 8, Access::Write, &*mmu, &*machine.frames).unwrap();
        assert_eq!(machine.used_frames(), used + 1);
        let pte = mmu.pte(va).expect("mapped");
        assert!(pte.flags.contains(MmuFlags::WRITE));
        assert_eq!(vmo.committed_pages(0, P)[0].1.frame, pte.frame);
        assert_eq!(root.fault_with(va + P, Access::Read, &*mmu, &*machine.frames), Err(Status::NotFound));
    }

    /// Given other objects, even of the same types, `fault_with` leaves
    /// them alone and faults as `fault` does: a translation in other tables
    /// or a frame from another allocator would be one vm-core never unmaps
    /// or frees.
    #[test]
    fn a_fault_with_other_objects_uses_the_address_spaces_own() {
        let machine = Machine::new(16);
        let (mmu, root, _vmo, va) = one_page_space(&machine);
        let other_mmu = MockMmu::with_range(0x10_0000_0000, 1 << 30);
        let other_frames = MockFrames::new(4);
        root.fault_with(va, Access::Write, &other_mmu, &*machine.frames).unwrap();
        root.fault_with(va + 8, Access::Write, &*mmu, &other_frames).unwrap();
        assert!(other_mmu.pte(va).is_none(), "the other tables were not touched");
        assert_eq!(other_frames.free_count(), 4, "nor was the other allocator");
        assert!(mmu.pte(va).is_some_and(|pte| pte.flags.contains(MmuFlags::WRITE)));
    }

    /// A context over an allocator of another type (a budget over the
    /// platform's frames) is not the platform's allocator: its frames are
    /// counted against the budget.
    #[test]
    fn a_fault_in_a_budgeted_context_takes_from_the_budget() {
        let frames = Arc::new(MockFrames::new(8));
        let budget = Arc::new(FrameBudget::new(frames.clone(), 3));
        let ctx =
            VmContext::new(budget.clone(), Arc::new(MockCache::new()), Arc::new(MockWaiter::new())).unwrap();
        let mmu = Arc::new(MockMmu::with_range(0x10_0000_0000, 1 << 30));
        let root = Vmar::new_root(&ctx, mmu.clone());
        let vmo = Vmo::create(&ctx, P, VmoOptions::empty()).unwrap();
        let rw = VmFlags::PERM_READ | VmFlags::PERM_WRITE;
        let va = root.map(rw.into(), 0, &vmo, 0, P).unwrap();
        assert_eq!(budget.free_count(), 2, "the zero frame is the budget's");
        root.fault_with(va, Access::Write, &*mmu, &*frames).unwrap();
        assert_eq!(budget.free_count(), 1);
        drop((root, vmo));
        drop(ctx);
        assert_eq!(frames.free_count(), 8);
    }
}

//! vm-core with four cores on the real tables: concurrent faults on one
//! shared mapping and on copy-on-write children, a fault that blocks until
//! another core signals it through the waiting trait, and an unmap while
//! other cores read, after which no core reads the old page.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use platform_virt::mmu::hw::HwAddressSpace;
use platform_virt::smp::{cpu_count, cpu_index, run_on, run_on_all};
use platform_virt::vm::{context, Space};
use platform_virt::wait::EventWaiter;
use platform_virt::Boot;
use vm_core::platform::{MmuFlags, PhysAddr, Translation, Waiter};
use vm_core::vmar::VmFlags;
use vm_core::vmo::{ChildKind, Vmo, VmoOptions};
use vm_core::{Status, PAGE_SIZE as P};

platform_virt::test_image!(
    four_cores_fault_on_one_shared_mapping,
    four_cores_write_their_own_cow_children,
    a_fault_blocks_until_another_core_signals,
    no_core_reads_the_old_page_after_an_overwrite,
    no_core_reads_the_old_page_after_a_decommit,
    every_frame_comes_back,
);

const RW: VmFlags = VmFlags::PERM_READ.union(VmFlags::PERM_WRITE);

fn load(va: u64) -> u64 {
    // SAFETY: `va` lies in a readable mapping of the active address space;
    // a missing translation is a fault the VM resolves.
    unsafe { (va as *const u64).read_volatile() }
}

fn store(va: u64, value: u64) {
    // SAFETY: as for `load`, in a writable mapping.
    unsafe { (va as *mut u64).write_volatile(value) }
}

/// Makes `space` current for faults and on every core.
fn enter_everywhere(space: &Arc<Space>) {
    space.activate();
    let s = space.clone();
    run_on_all(move || s.enter());
}

fn leave(space: &Arc<Space>) {
    run_on_all(Space::deactivate);
    space.root.destroy().unwrap();
}

fn four_cores_fault_on_one_shared_mapping(_: &Boot) {
    assert_eq!(cpu_count(), 4);
    let ctx = context().unwrap();
    let space = Space::new(&ctx).unwrap();
    enter_everywhere(&space);
    const PAGES: u64 = 64;
    let vmo = Vmo::create(&ctx, PAGES * P, VmoOptions::empty()).unwrap();
    let va = space.root.map(RW.into(), 0, &vmo, 0, PAGES * P).unwrap();
    // Every core reads every page (zero-page faults race), then writes its
    // own word of every page (write faults on the same pages race).
    let sums = run_on_all(move || {
        let me = cpu_index() as u64;
        let sum: u64 = (0..PAGES).map(|p| load(va + p * P + 8 * me)).sum();
        for p in 0..PAGES {
            store(va + p * P + 8 * me, p * 100 + me + 1);
        }
        sum
    });
    assert!(sums.iter().all(|&s| s == 0));
    for p in 0..PAGES {
        for cpu in 0..4 {
            let mut b = [0; 8];
            vmo.read(p * P + 8 * cpu, &mut b).unwrap();
            assert_eq!(u64::from_le_bytes(b), p * 100 + cpu + 1, "page {p}, core {cpu}: a write was lost");
        }
    }
    assert_eq!(vmo.committed_bytes(), PAGES * P, "one page per offset, however many cores faulted");
    leave(&space);
}

fn four_cores_write_their_own_cow_children(_: &Boot) {
    let ctx = context().unwrap();
    let space = Space::new(&ctx).unwrap();
    enter_everywhere(&space);
    const PAGES: u64 = 16;
    let parent = Vmo::create(&ctx, PAGES * P, VmoOptions::empty()).unwrap();
    for p in 0..PAGES {
        parent.write(p * P, &(p + 1).to_le_bytes()).unwrap();
    }
    // A chain: each core's child is a snapshot of the previous one's.
    let mut children = Vec::new();
    let mut base = parent.clone();
    for _ in 0..4 {
        let child = base.create_child(ChildKind::Snapshot, 0, PAGES * P, false).unwrap();
        let cva = space.root.map(RW.into(), 0, &child, 0, PAGES * P).unwrap();
        children.push((child.clone(), cva));
        base = child;
    }
    let pva = space.root.map(RW.into(), 0, &parent, 0, PAGES * P).unwrap();
    let vas: Arc<Vec<u64>> = Arc::new(children.iter().map(|(_, va)| *va).collect());
    let v = vas.clone();
    run_on_all(move || {
        let me = cpu_index();
        for p in 0..PAGES {
            assert_eq!(load(pva + p * P), p + 1, "the parent is untouched while children fork");
            store(v[me] + p * P, 1000 * (me as u64 + 1) + p);
        }
    });
    for (i, (child, va)) in children.iter().enumerate() {
        for p in 0..PAGES {
            assert_eq!(load(va + p * P), 1000 * (i as u64 + 1) + p);
            let mut b = [0; 8];
            child.read(p * P, &mut b).unwrap();
            assert_eq!(u64::from_le_bytes(b), 1000 * (i as u64 + 1) + p);
            assert_eq!(load(pva + p * P), p + 1);
        }
    }
    leave(&space);
}

/// The tables, behind a gate: `map` waits, through the platform's waiting
/// trait, until the gate is opened.
struct Gated {
    tables: Arc<HwAddressSpace>,
    entered: AtomicBool,
    open: AtomicBool,
}

impl Translation for Gated {
    fn va_range(&self) -> (u64, u64) {
        Translation::va_range(&*self.tables)
    }
    fn can_map_execute_only(&self) -> bool {
        Translation::can_map_execute_only(&*self.tables)
    }
    fn map(&self, va: u64, frame: PhysAddr, flags: MmuFlags) -> Result<(), Status> {
        self.entered.store(true, SeqCst);
        EventWaiter.wake_all();
        EventWaiter.wait_until(&|| self.open.load(SeqCst));
        Translation::map(&*self.tables, va, frame, flags)
    }
    fn unmap(&self, va: u64, len: u64) {
        Translation::unmap(&*self.tables, va, len)
    }
    fn protect(&self, va: u64, len: u64, flags: MmuFlags) {
        Translation::protect(&*self.tables, va, len, flags)
    }
    fn query(&self, va: u64) -> Option<(PhysAddr, MmuFlags)> {
        Translation::query(&*self.tables, va)
    }
    fn harvest_accessed(&self, va: u64) -> bool {
        Translation::harvest_accessed(&*self.tables, va)
    }
    fn harvest_dirty(&self, va: u64) -> bool {
        Translation::harvest_dirty(&*self.tables, va)
    }
}

fn a_fault_blocks_until_another_core_signals(_: &Boot) {
    let ctx = context().unwrap();
    let gate = Arc::new(spin::Once::<Arc<Gated>>::new());
    let g = gate.clone();
    let space = Space::with_translation(&ctx, move |tables| {
        g.call_once(|| {
            Arc::new(Gated { tables, entered: AtomicBool::new(false), open: AtomicBool::new(false) })
        })
        .clone()
    })
    .unwrap();
    enter_everywhere(&space);
    let gate = gate.get().unwrap().clone();
    let vmo = Vmo::create(&ctx, P, VmoOptions::empty()).unwrap();
    vmo.write(0, &77u64.to_le_bytes()).unwrap();
    let va = space.root.map(VmFlags::PERM_READ.into(), 0, &vmo, 0, P).unwrap();
    let faulted_done = Arc::new(AtomicBool::new(false));
    let signalled = Arc::new(AtomicBool::new(false));
    // Core 1 waits until core 0's fault is inside the gate, checks core 0
    // is still blocked, then signals.
    let (g1, d1, s1) = (gate.clone(), faulted_done.clone(), signalled.clone());
    let signaller = run_on(1, move || {
        EventWaiter.wait_until(&|| g1.entered.load(SeqCst));
        let still_blocked = !d1.load(SeqCst);
        s1.store(true, SeqCst);
        g1.open.store(true, SeqCst);
        EventWaiter.wake_all();
        still_blocked
    });
    // Core 0 faults: the fault path blocks in the gate.
    let value = load(va);
    let seen_signal = signalled.load(SeqCst);
    faulted_done.store(true, SeqCst);
    assert!(signaller.join(), "core 0's fault completed before core 1 signalled");
    assert!(seen_signal, "the fault returned before the signal");
    assert_eq!(value, 77);
    leave(&space);
}

/// Cores 1-3 read `va` (which holds `OLD`) in a loop; once all read it,
/// core 0 runs `change`, after which every read on every core must give
/// `new`: no core may still use a translation of the old page.
fn readers_never_see_old_after(va: u64, new: u64, change: impl FnOnce()) {
    let replaced = Arc::new(AtomicBool::new(false));
    let reading = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = (1..4)
        .map(|cpu| {
            let (replaced, reading) = (replaced.clone(), reading.clone());
            run_on(cpu, move || {
                let (mut stale, mut reads_after, mut counted) = (0u64, 0u64, false);
                loop {
                    let done = replaced.load(SeqCst);
                    let v = load(va);
                    assert!(v == OLD || v == new, "read {v:#x}");
                    if !counted {
                        counted = true;
                        reading.fetch_add(1, SeqCst);
                        EventWaiter.wake_all();
                    }
                    if done {
                        stale += (v == OLD) as u64;
                        reads_after += 1;
                        if reads_after == 1000 {
                            return stale;
                        }
                    }
                }
            })
        })
        .collect();
    EventWaiter.wait_until(&|| reading.load(SeqCst) == 3);
    change();
    replaced.store(true, SeqCst);
    for r in readers {
        assert_eq!(r.join(), 0, "a core read the old page after the change returned");
    }
    assert_eq!(load(va), new);
}

const OLD: u64 = 0x01d;

fn no_core_reads_the_old_page_after_an_overwrite(_: &Boot) {
    let ctx = context().unwrap();
    let space = Space::new(&ctx).unwrap();
    enter_everywhere(&space);
    const NEW: u64 = 0x4e3;
    let old = Vmo::create(&ctx, P, VmoOptions::empty()).unwrap();
    old.write(0, &OLD.to_le_bytes()).unwrap();
    let new = Vmo::create(&ctx, P, VmoOptions::empty()).unwrap();
    new.write(0, &NEW.to_le_bytes()).unwrap();
    let va = space.root.map(VmFlags::PERM_READ.into(), 0, &old, 0, P).unwrap();
    let root = space.root.clone();
    readers_never_see_old_after(va, NEW, || {
        // Unmap the old mapping and map the new VMO in its place, at once.
        let opts = VmFlags::PERM_READ.union(VmFlags::SPECIFIC_OVERWRITE).into();
        assert_eq!(root.map(opts, va - root.base(), &new, 0, P).unwrap(), va);
    });
    leave(&space);
}

fn no_core_reads_the_old_page_after_a_decommit(boot: &Boot) {
    let ctx = context().unwrap();
    let space = Space::new(&ctx).unwrap();
    enter_everywhere(&space);
    let vmo = Vmo::create(&ctx, P, VmoOptions::empty()).unwrap();
    vmo.write(0, &OLD.to_le_bytes()).unwrap();
    let va = space.root.map(VmFlags::PERM_READ.into(), 0, &vmo, 0, P).unwrap();
    // The first fault also builds the translation tables for `va`.
    assert_eq!(load(va), OLD);
    let free = boot.frames().free_count();
    readers_never_see_old_after(va, 0, || vmo.decommit(0, P).unwrap());
    assert_eq!(boot.frames().free_count(), free + 1, "the old page was freed");
    leave(&space);
}

fn every_frame_comes_back(boot: &Boot) {
    // Each case dropped its context, address space and VMOs; run one more
    // round and compare.
    let free = boot.frames().free_count();
    four_cores_fault_on_one_shared_mapping(boot);
    four_cores_write_their_own_cow_children(boot);
    assert_eq!(boot.frames().free_count(), free);
}

//! vm-core on the real translation tables: the host fault scenarios of
//! vm-core repeated with real loads, stores and instruction fetches, on
//! `-cpu cortex-a72` (software dirty/accessed state) and `-cpu max`
//! (FEAT_HAFDBS), plus the cache operations and a JIT test.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::sync::Arc;
use platform_virt::vm::{context, Space};
use platform_virt::Boot;
use vm_core::context::VmContext;
use vm_core::platform::CacheOp;
use vm_core::vmar::{VmFlags, VmarOp};
use vm_core::vmo::{ChildKind, Vmo, VmoOptions};
use vm_core::PAGE_SIZE as P;

platform_virt::test_image!(
    demand_commit_zero_page_then_private_page,
    copy_on_write_isolation_both_ways_at_depth_three,
    protect_downgrade_and_upgrade,
    decommit_through_the_vmar,
    dont_need_keeps_contents,
    dirty_and_accessed_state_is_seen,
    cache_ops_skip_uncommitted_pages,
    jit_write_sync_execute,
    every_frame_comes_back,
);

const RW: VmFlags = VmFlags::PERM_READ.union(VmFlags::PERM_WRITE);
const R: VmFlags = VmFlags::PERM_READ;

/// A context and an active address space; everything is returned to the
/// frame allocator when both are dropped (checked by the last case).
struct Env {
    space: Arc<Space>,
    ctx: Arc<VmContext>,
}

impl Env {
    fn new() -> Env {
        let ctx = context().expect("a VM context");
        let space = Space::new(&ctx).expect("an address space");
        space.activate();
        Env { space, ctx }
    }

    fn vmo(&self, pages: u64) -> Arc<Vmo> {
        Vmo::create(&self.ctx, pages * P, VmoOptions::empty()).unwrap()
    }

    fn map(&self, vmo: &Arc<Vmo>, flags: VmFlags) -> u64 {
        self.space.root.map(flags.into(), 0, vmo, 0, vmo.size()).unwrap()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        Space::deactivate();
        self.space.root.destroy().unwrap();
    }
}

fn load(va: u64) -> u64 {
    // SAFETY: `va` lies in a readable mapping of the active address space;
    // a missing translation is a fault the VM resolves.
    unsafe { (va as *const u64).read_volatile() }
}

fn store(va: u64, value: u64) {
    // SAFETY: as for `load`, in a writable mapping.
    unsafe { (va as *mut u64).write_volatile(value) }
}

fn read_u64(vmo: &Vmo, offset: u64) -> u64 {
    let mut b = [0; 8];
    vmo.read(offset, &mut b).unwrap();
    u64::from_le_bytes(b)
}

fn demand_commit_zero_page_then_private_page(_: &Boot) {
    let env = Env::new();
    let vmo = env.vmo(4);
    let va = env.map(&vmo, RW);
    assert_eq!(load(va + P), 0);
    let (frame, flags) = env.space.tables.query(va + P).expect("the read fault mapped a page");
    assert_eq!(frame, env.ctx.zero_frame(), "a read maps the shared zero page");
    assert!(!flags.write);
    assert_eq!(vmo.committed_bytes(), 0);
    store(va + P + 8, 0xfeed);
    assert_ne!(env.space.tables.query(va + P).unwrap().0, env.ctx.zero_frame());
    assert_eq!(read_u64(&vmo, P + 8), 0xfeed);
    assert_eq!(load(va + P + 8), 0xfeed);
    assert_eq!(vmo.committed_bytes(), P);
}

fn copy_on_write_isolation_both_ways_at_depth_three(_: &Boot) {
    let env = Env::new();
    let parent = env.vmo(2);
    let pva = env.map(&parent, RW);
    store(pva, 1);
    store(pva + P, 2);
    let mut chain = alloc::vec![(parent.clone(), pva)];
    for _ in 0..3 {
        let child = chain.last().unwrap().0.create_child(ChildKind::Snapshot, 0, 2 * P, false).unwrap();
        let va = env.map(&child, RW);
        assert_eq!(load(va), 1);
        chain.push((child, va));
    }
    for (i, (_, va)) in chain.iter().enumerate() {
        store(*va, 100 + i as u64);
    }
    for (i, (vmo, va)) in chain.iter().enumerate() {
        assert_eq!(load(*va), 100 + i as u64);
        assert_eq!(read_u64(vmo, 0), 100 + i as u64);
        assert_eq!(load(*va + P), 2);
    }
    store(chain[2].1 + P, 7);
    assert_eq!(load(chain[1].1 + P), 2);
    assert_eq!(load(chain[3].1 + P), 2);
    assert_eq!(load(pva + P), 2);
    assert_eq!(load(chain[2].1 + P), 7);
}

fn protect_downgrade_and_upgrade(_: &Boot) {
    let env = Env::new();
    let vmo = env.vmo(1);
    let va = env.map(&vmo, RW);
    store(va, 5);
    env.space.root.protect(R.into(), va, P, true).unwrap();
    assert!(!env.space.tables.query(va).is_some_and(|(_, p)| p.write), "protect downgraded the translation");
    assert_eq!(load(va), 5);
    env.space.root.protect(RW.into(), va, P, true).unwrap();
    store(va, 6);
    assert_eq!(read_u64(&vmo, 0), 6);
}

fn decommit_through_the_vmar(boot: &Boot) {
    let env = Env::new();
    let vmo = env.vmo(2);
    let va = env.map(&vmo, RW);
    store(va, 9);
    store(va + P, 10);
    let free = boot.frames().free_count();
    env.space.root.op_range(VmarOp::Decommit, va, P).unwrap();
    assert_eq!(boot.frames().free_count(), free + 1, "the page went back to the allocator");
    assert_eq!(env.space.tables.query(va), None, "and its translation is gone");
    assert_eq!(load(va), 0);
    assert_eq!(load(va + P), 10);
}

fn dont_need_keeps_contents(_: &Boot) {
    let env = Env::new();
    let vmo = env.vmo(2);
    let va = env.map(&vmo, RW);
    store(va, 3);
    env.space.root.op_range(VmarOp::DontNeed, va, 2 * P).unwrap();
    assert_eq!(load(va), 3);
    assert_eq!(read_u64(&vmo, 0), 3);
}

/// Whether the hardware (`-cpu max`) or the fault path (`-cpu cortex-a72`)
/// keeps them, the address space answers the same.
fn dirty_and_accessed_state_is_seen(_: &Boot) {
    let env = Env::new();
    let vmo = env.vmo(1);
    vmo.commit(0, P).unwrap();
    let va = env.map(&vmo, RW);
    store(va, 1);
    let tables = &env.space.tables;
    assert!(tables.harvest_accessed(va));
    assert!(tables.harvest_dirty(va));
    assert!(!tables.harvest_accessed(va));
    assert!(!tables.harvest_dirty(va));
    assert_eq!(load(va), 1);
    assert!(tables.harvest_accessed(va), "a read is seen");
    assert!(!tables.harvest_dirty(va), "a read does not dirty");
    store(va, 2);
    assert!(tables.harvest_dirty(va), "the write after the harvest is seen");
    assert_eq!(read_u64(&vmo, 0), 2);
}

fn cache_ops_skip_uncommitted_pages(_: &Boot) {
    let env = Env::new();
    // 1 TiB with two committed pages: every op covers the whole VMO without
    // touching (and so without faulting on) anything uncommitted.
    let vmo = Vmo::create(&env.ctx, 1 << 40, VmoOptions::empty()).unwrap();
    vmo.write(0x1234, &[1, 2, 3]).unwrap();
    vmo.write((1 << 39) + 7, &[4]).unwrap();
    for op in [CacheOp::Clean, CacheOp::CleanInvalidate, CacheOp::Invalidate, CacheOp::Sync] {
        vmo.cache_op(op, 0, 1 << 40).unwrap();
        vmo.cache_op(op, 0x1235, 1).unwrap();
    }
    let mut b = [0; 3];
    vmo.read(0x1234, &mut b).unwrap();
    assert_eq!(b, [1, 2, 3], "invalidate kept the bytes (partial lines are cleaned first)");
}

fn jit_write_sync_execute(_: &Boot) {
    let env = Env::new();
    let vmo = env.vmo(1);
    let va = env.map(&vmo, RW.union(VmFlags::PERM_EXECUTE));
    // mov w0, #42 ; ret
    let code: [u32; 2] = [0x5280_0540, 0xd65f_03c0];
    for (i, insn) in code.iter().enumerate() {
        // SAFETY: the mapping is writable; a fault commits the page.
        unsafe { ((va + 4 * i as u64) as *mut u32).write_volatile(*insn) };
    }
    vmo.cache_op(CacheOp::Sync, 0, 8).unwrap();
    // SAFETY: the page holds a complete function of this signature, made
    // visible to instruction fetch by CACHE_SYNC; the mapping is executable.
    let f: extern "C" fn() -> u32 = unsafe { core::mem::transmute(va as usize) };
    assert_eq!(f(), 42);
    // New code at the same place runs once synced again.
    // SAFETY: as above.
    unsafe { (va as *mut u32).write_volatile(0x5280_0e40) }; // mov w0, #114
    vmo.cache_op(CacheOp::Sync, 0, 4).unwrap();
    assert_eq!(f(), 114);
}

fn every_frame_comes_back(boot: &Boot) {
    let free = boot.frames().free_count();
    {
        let env = Env::new();
        let vmo = env.vmo(8);
        let va = env.map(&vmo, RW);
        for i in 0..8 {
            store(va + i * P, i);
        }
        let child = vmo.create_child(ChildKind::Snapshot, 0, 8 * P, false).unwrap();
        let cva = env.map(&child, RW);
        store(cva, 99);
        assert!(boot.frames().free_count() < free);
    }
    assert_eq!(boot.frames().free_count(), free, "VMOs, tables, ASID and zero page all returned");
}

//! The VM through zx on the real translation tables: the host fault
//! scenarios of vm-core driven by zx syscalls, with real loads, stores and
//! instruction fetches at the addresses `vmar_map` returns, on
//! `-cpu cortex-a72` (software dirty/accessed state) and `-cpu max`
//! (FEAT_HAFDBS), plus the cache operations, the cache policies' memory
//! types, a JIT test and execute-only mappings.
#![no_std]
#![no_main]

extern crate alloc;

use platform_virt::fault::catch;
use platform_virt::mmu::descriptor::MemoryType;
use platform_virt::process::Process;
use platform_virt::vm::AddressSpace;
use platform_virt::Boot;
use qemu_tests::access::{load, store};
use zx::ops::*;
use zx::options::*;
use zx::{Access, Handle, Status};

platform_virt::test_image!(
    demand_commit_zero_page_then_private_page,
    copy_on_write_isolation_both_ways_at_depth_three,
    protect_downgrade_and_upgrade,
    decommit_through_the_vmar,
    dont_need_keeps_contents,
    dirty_and_accessed_state_is_seen,
    a_store_after_a_dirty_harvest_is_seen,
    cache_ops_skip_uncommitted_pages,
    cache_policies_choose_the_leaf_memory_type,
    jit_write_sync_execute,
    execute_only_gets_read_where_xom_is_unsupported,
    a_fault_keeps_the_interrupted_fp_simd_registers,
    every_frame_comes_back,
);

const P: u64 = 4096;
const R: u32 = ZX_VM_PERM_READ;
const RW: u32 = ZX_VM_PERM_READ | ZX_VM_PERM_WRITE;

/// A process entered on this CPU; leaving it on drop, then dropping it,
/// returns everything to the frame allocator (checked by the last case).
struct Env {
    p: Process,
}

impl Env {
    fn new() -> Env {
        let p = Process::new().expect("a process");
        p.enter();
        Env { p }
    }

    fn vmo(&self, pages: u64) -> Handle {
        self.p.zx.vmo_create(pages * P, 0).unwrap()
    }

    fn map(&self, vmo: Handle, pages: u64, options: u32) -> u64 {
        self.p.zx.vmar_map(self.p.zx.root_vmar(), options, 0, vmo, 0, pages * P).unwrap()
    }

    fn read_u64(&self, vmo: Handle, offset: u64) -> u64 {
        let mut b = [0; 8];
        self.p.zx.vmo_read(vmo, &mut b, offset).unwrap();
        u64::from_le_bytes(b)
    }

    fn write_u64(&self, vmo: Handle, offset: u64, value: u64) {
        self.p.zx.vmo_write(vmo, &value.to_le_bytes(), offset).unwrap();
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        AddressSpace::leave();
    }
}

fn free_frames(boot: &Boot) -> usize {
    boot.frames().free_count()
}

fn demand_commit_zero_page_then_private_page(boot: &Boot) {
    let env = Env::new();
    let vmo = env.vmo(4);
    let va = env.map(vmo, 4, RW);
    assert_eq!(load(va + P), 0);
    // Direct: zx cannot show what the hardware tables hold.
    let (frame, perms) = env.p.aspace.tables.query(va + P).expect("the read fault mapped a page");
    assert_eq!(frame, env.p.zx.context().zero_frame(), "a read maps the shared zero page");
    assert!(!perms.write);
    let free = free_frames(boot);
    store(va + P + 8, 0xfeed);
    assert_ne!(env.p.aspace.tables.query(va + P).unwrap().0, env.p.zx.context().zero_frame());
    assert_eq!(free_frames(boot), free - 1, "the write committed one page");
    assert_eq!(env.read_u64(vmo, P + 8), 0xfeed);
    assert_eq!(load(va + P + 8), 0xfeed);
}

fn copy_on_write_isolation_both_ways_at_depth_three(_: &Boot) {
    let env = Env::new();
    let parent = env.vmo(2);
    let pva = env.map(parent, 2, RW);
    store(pva, 1);
    store(pva + P, 2);
    let mut chain = alloc::vec![(parent, pva)];
    for _ in 0..3 {
        let base = chain.last().unwrap().0;
        let child = env.p.zx.vmo_create_child(base, ZX_VMO_CHILD_SNAPSHOT, 0, 2 * P).unwrap();
        let va = env.map(child, 2, RW);
        assert_eq!(load(va), 1);
        chain.push((child, va));
    }
    for (i, (_, va)) in chain.iter().enumerate() {
        store(*va, 100 + i as u64);
    }
    for (i, (vmo, va)) in chain.iter().enumerate() {
        assert_eq!(load(*va), 100 + i as u64);
        assert_eq!(env.read_u64(*vmo, 0), 100 + i as u64);
        assert_eq!(load(*va + P), 2);
    }
    // The grandchild's write reaches neither its ancestors nor its child.
    store(chain[2].1 + P, 7);
    assert_eq!(load(chain[1].1 + P), 2);
    assert_eq!(load(chain[3].1 + P), 2);
    assert_eq!(load(pva + P), 2);
    assert_eq!(load(chain[2].1 + P), 7);
    assert_eq!(env.read_u64(chain[2].0, P), 7);
    assert_eq!(env.read_u64(parent, P), 2);
}

fn protect_downgrade_and_upgrade(_: &Boot) {
    let env = Env::new();
    let vmo = env.vmo(1);
    let va = env.map(vmo, 1, RW);
    store(va, 5);
    env.p.zx.vmar_protect(env.p.zx.root_vmar(), R, va, P).unwrap();
    // Direct: the downgrade must reach the hardware tables.
    assert!(
        !env.p.aspace.tables.query(va).is_some_and(|(_, p)| p.write),
        "protect downgraded the translation"
    );
    // SAFETY: the closure is one store and owns nothing.
    let refused = unsafe { catch(|| store(va, 6)) };
    let fault = refused.expect_err("a store through a read-only mapping");
    assert_eq!((fault.address, fault.access, fault.status), (va, Access::Write, Status::AccessDenied));
    assert_eq!(fault.vmo.map(|vmo| vmo.offset), Some(0), "the fault names the VMO and the offset");
    assert_eq!(load(va), 5);
    env.p.zx.vmar_protect(env.p.zx.root_vmar(), RW, va, P).unwrap();
    store(va, 6);
    assert_eq!(env.read_u64(vmo, 0), 6);
}

fn decommit_through_the_vmar(boot: &Boot) {
    let env = Env::new();
    let vmo = env.vmo(2);
    let va = env.map(vmo, 2, RW);
    store(va, 9);
    store(va + P, 10);
    let free = free_frames(boot);
    env.p.zx.vmar_op_range(env.p.zx.root_vmar(), ZX_VMAR_OP_DECOMMIT, va, P, &mut []).unwrap();
    assert_eq!(free_frames(boot), free + 1, "the page went back to the allocator");
    // Direct: the translation must be gone from the hardware tables.
    assert_eq!(env.p.aspace.tables.query(va), None, "and its translation is gone");
    assert_eq!(load(va), 0);
    assert_eq!(load(va + P), 10);
    assert_eq!(env.read_u64(vmo, 0), 0);
}

fn dont_need_keeps_contents(_: &Boot) {
    let env = Env::new();
    let vmo = env.vmo(2);
    let va = env.map(vmo, 2, RW);
    store(va, 3);
    env.p.zx.vmar_op_range(env.p.zx.root_vmar(), ZX_VMAR_OP_DONT_NEED, va, 2 * P, &mut []).unwrap();
    assert_eq!(load(va), 3);
    assert_eq!(env.read_u64(vmo, 0), 3);
}

/// Whether the hardware (`-cpu max`) or the fault path (`-cpu cortex-a72`)
/// keeps them, the tables answer the same. Direct: harvesting is the
/// tables' business, which no syscall reaches.
fn dirty_and_accessed_state_is_seen(_: &Boot) {
    let env = Env::new();
    let vmo = env.vmo(1);
    env.p.zx.vmo_op_range(vmo, ZX_VMO_OP_COMMIT, 0, P, &mut []).unwrap();
    let va = env.map(vmo, 1, RW);
    store(va, 1);
    let tables = &env.p.aspace.tables;
    assert!(tables.harvest_accessed(va));
    assert!(tables.harvest_dirty(va));
    assert!(!tables.harvest_accessed(va));
    assert!(!tables.harvest_dirty(va));
    assert_eq!(load(va), 1);
    assert!(tables.harvest_accessed(va), "a read is seen");
    assert!(!tables.harvest_dirty(va), "a read does not dirty");
    store(va, 2);
    assert!(tables.harvest_dirty(va), "the write after the harvest is seen");
    assert_eq!(env.read_u64(vmo, 0), 2);
}

/// A dirty harvest must drop the TLB's writable entry by itself: no
/// accessed-flag harvest (and its invalidation) comes in between here.
/// Direct, as above.
fn a_store_after_a_dirty_harvest_is_seen(_: &Boot) {
    let env = Env::new();
    let vmo = env.vmo(1);
    env.p.zx.vmo_op_range(vmo, ZX_VMO_OP_COMMIT, 0, P, &mut []).unwrap();
    let va = env.map(vmo, 1, RW);
    let tables = &env.p.aspace.tables;
    for round in 1..=3 {
        store(va, round);
        assert!(tables.harvest_dirty(va), "round {round}: the store after a dirty harvest went unseen");
    }
    assert_eq!(env.read_u64(vmo, 0), 3);
}

/// `zx_vmo_set_cache_policy` (digest §3.6) reaches the hardware: a fault
/// on a mapping installs a leaf whose `AttrIndx` names the policy's
/// `MAIR_EL1` attribute (Zircon's arm64 choice: cached → Normal write-back,
/// write-combining → Normal non-cacheable, uncached → Device-nGnRnE,
/// uncached-device → Device-nGnRE), and loads and stores work through it.
fn cache_policies_choose_the_leaf_memory_type(_: &Boot) {
    let env = Env::new();
    for (policy, memory) in [
        (ZX_CACHE_POLICY_CACHED, MemoryType::Normal),
        (ZX_CACHE_POLICY_WRITE_COMBINING, MemoryType::NormalNonCacheable),
        (ZX_CACHE_POLICY_UNCACHED, MemoryType::Device),
        (ZX_CACHE_POLICY_UNCACHED_DEVICE, MemoryType::DeviceNgnre),
    ] {
        let vmo = env.vmo(2);
        env.p.zx.vmo_set_cache_policy(vmo, policy).unwrap();
        let va = env.map(vmo, 2, RW);
        store(va + 8, 0x5a5a);
        assert_eq!(load(va + 8), 0x5a5a);
        assert_eq!(load(va + P), 0);
        // Direct: the descriptors the faults installed.
        for page in [va, va + P] {
            let leaf = env.p.aspace.tables.leaf_at(page).expect("the fault mapped the page");
            assert_eq!(leaf.attributes().memory, memory, "policy {policy}");
            assert_eq!((leaf.0 >> 2) & 0b111, memory as u64, "AttrIndx of policy {policy}");
        }
        env.p.zx.vmar_unmap(env.p.zx.root_vmar(), va, 2 * P).unwrap();
        env.p.zx.handle_close(vmo).unwrap();
    }
}

fn cache_ops_skip_uncommitted_pages(_: &Boot) {
    let env = Env::new();
    // 1 TiB with two committed pages: every op covers the whole VMO without
    // touching (and so without faulting on) anything uncommitted.
    let vmo = env.p.zx.vmo_create(1 << 40, 0).unwrap();
    env.p.zx.vmo_write(vmo, &[1, 2, 3], 0x1234).unwrap();
    env.p.zx.vmo_write(vmo, &[4], (1 << 39) + 7).unwrap();
    for op in [
        ZX_VMO_OP_CACHE_CLEAN,
        ZX_VMO_OP_CACHE_CLEAN_INVALIDATE,
        ZX_VMO_OP_CACHE_INVALIDATE,
        ZX_VMO_OP_CACHE_SYNC,
    ] {
        env.p.zx.vmo_op_range(vmo, op, 0, 1 << 40, &mut []).unwrap();
        env.p.zx.vmo_op_range(vmo, op, 0x1235, 1, &mut []).unwrap();
    }
    let mut b = [0; 3];
    env.p.zx.vmo_read(vmo, &mut b, 0x1234).unwrap();
    assert_eq!(b, [1, 2, 3], "invalidate kept the bytes (partial lines are cleaned first)");
    let mut b = [0; 1];
    env.p.zx.vmo_read(vmo, &mut b, (1 << 39) + 7).unwrap();
    assert_eq!(b, [4]);
}

/// `mov w0, #42 ; ret`.
const RETURN_42: [u32; 2] = [0x5280_0540, 0xd65f_03c0];
/// `mov w0, #114`, replacing the first instruction.
const MOV_W0_114: u32 = 0x5280_0e40;

/// Calls the function at `va`.
fn call(va: u64) -> u32 {
    // SAFETY: callers put a complete function of this signature at `va`,
    // made visible to instruction fetch by CACHE_SYNC, in an executable
    // mapping.
    let f: extern "C" fn() -> u32 = unsafe { core::mem::transmute(va as usize) };
    f()
}

fn instructions(code: &[u32]) -> alloc::vec::Vec<u8> {
    code.iter().flat_map(|insn| insn.to_le_bytes()).collect()
}

fn jit_write_sync_execute(_: &Boot) {
    let env = Env::new();
    let vmo = env.vmo(1);
    let exec = env.p.zx.vmo_replace_as_executable(vmo, Handle::INVALID).unwrap();
    let va = env.map(exec, 1, RW | ZX_VM_PERM_EXECUTE);
    for (i, insn) in RETURN_42.iter().enumerate() {
        // SAFETY: the mapping is writable; a fault commits the page.
        unsafe { ((va + 4 * i as u64) as *mut u32).write_volatile(*insn) };
    }
    env.p.zx.vmo_op_range(exec, ZX_VMO_OP_CACHE_SYNC, 0, 8, &mut []).unwrap();
    assert_eq!(call(va), 42);
    // New code at the same place runs once synced again.
    // SAFETY: as above.
    unsafe { (va as *mut u32).write_volatile(MOV_W0_114) };
    env.p.zx.vmo_op_range(exec, ZX_VMO_OP_CACHE_SYNC, 0, 4, &mut []).unwrap();
    assert_eq!(call(va), 114);
}

/// At EL1 a translation cannot allow fetches without loads: EXECUTE alone
/// is refused, and `ZX_VM_PERM_READ_IF_XOM_UNSUPPORTED` adds READ.
fn execute_only_gets_read_where_xom_is_unsupported(_: &Boot) {
    let env = Env::new();
    let zx = &env.p.zx;
    let vmo = env.vmo(1);
    let exec = zx.vmo_replace_as_executable(vmo, Handle::INVALID).unwrap();
    zx.vmo_write(exec, &instructions(&RETURN_42), 0).unwrap();
    zx.vmo_op_range(exec, ZX_VMO_OP_CACHE_SYNC, 0, 8, &mut []).unwrap();
    let root = zx.root_vmar();
    assert_eq!(zx.vmar_map(root, ZX_VM_PERM_EXECUTE, 0, exec, 0, P), Err(Status::InvalidArgs));
    let xom = ZX_VM_PERM_EXECUTE | ZX_VM_PERM_READ_IF_XOM_UNSUPPORTED;
    let va = zx.vmar_map(root, xom, 0, exec, 0, P).unwrap();
    assert_eq!(call(va), 42);
    assert_eq!(load(va) as u32, RETURN_42[0], "READ was added: the code is readable");
    // Direct: what the hardware tables hold.
    let (_, perms) = env.p.aspace.tables.query(va).expect("the fetch mapped the page");
    assert!(perms.read && perms.execute && !perms.write, "{perms:?}");
    // Code written through a second, writable mapping runs after a sync.
    let wva = env.map(exec, 1, RW);
    // SAFETY: the second mapping is writable.
    unsafe { (wva as *mut u32).write_volatile(MOV_W0_114) };
    zx.vmo_op_range(exec, ZX_VMO_OP_CACHE_SYNC, 0, 4, &mut []).unwrap();
    assert_eq!(call(va), 114);
    // The same rule for protect.
    assert_eq!(zx.vmar_protect(root, ZX_VM_PERM_EXECUTE, va, P), Err(Status::InvalidArgs));
    zx.vmar_protect(root, R, va, P).unwrap();
    zx.vmar_protect(root, xom, va, P).unwrap();
    assert_eq!(call(va), 114);
}

/// Sets d0-d31 to 0x100, 0x101, …, loads from `va` (a fault the VM
/// resolves, running vm-core's code in the handler), and returns d0-d31.
fn fp_simd_across_a_fault(va: u64) -> [u64; 32] {
    let mut out = [0u64; 32];
    // SAFETY: `va` is readable in this CPU's address space (its fault is
    // resolved); `out` has room for the 32 registers stored.
    unsafe {
        core::arch::asm!(
            "mov {t}, #0x100",
            "fmov d0, {t}",
            "add {t}, {t}, #1",
            "fmov d1, {t}",
            "add {t}, {t}, #1",
            "fmov d2, {t}",
            "add {t}, {t}, #1",
            "fmov d3, {t}",
            "add {t}, {t}, #1",
            "fmov d4, {t}",
            "add {t}, {t}, #1",
            "fmov d5, {t}",
            "add {t}, {t}, #1",
            "fmov d6, {t}",
            "add {t}, {t}, #1",
            "fmov d7, {t}",
            "add {t}, {t}, #1",
            "fmov d8, {t}",
            "add {t}, {t}, #1",
            "fmov d9, {t}",
            "add {t}, {t}, #1",
            "fmov d10, {t}",
            "add {t}, {t}, #1",
            "fmov d11, {t}",
            "add {t}, {t}, #1",
            "fmov d12, {t}",
            "add {t}, {t}, #1",
            "fmov d13, {t}",
            "add {t}, {t}, #1",
            "fmov d14, {t}",
            "add {t}, {t}, #1",
            "fmov d15, {t}",
            "add {t}, {t}, #1",
            "fmov d16, {t}",
            "add {t}, {t}, #1",
            "fmov d17, {t}",
            "add {t}, {t}, #1",
            "fmov d18, {t}",
            "add {t}, {t}, #1",
            "fmov d19, {t}",
            "add {t}, {t}, #1",
            "fmov d20, {t}",
            "add {t}, {t}, #1",
            "fmov d21, {t}",
            "add {t}, {t}, #1",
            "fmov d22, {t}",
            "add {t}, {t}, #1",
            "fmov d23, {t}",
            "add {t}, {t}, #1",
            "fmov d24, {t}",
            "add {t}, {t}, #1",
            "fmov d25, {t}",
            "add {t}, {t}, #1",
            "fmov d26, {t}",
            "add {t}, {t}, #1",
            "fmov d27, {t}",
            "add {t}, {t}, #1",
            "fmov d28, {t}",
            "add {t}, {t}, #1",
            "fmov d29, {t}",
            "add {t}, {t}, #1",
            "fmov d30, {t}",
            "add {t}, {t}, #1",
            "fmov d31, {t}",
            "add {t}, {t}, #1",
            "ldr {t}, [{va}]",
            "stp d0, d1, [{out}, #0]",
            "stp d2, d3, [{out}, #16]",
            "stp d4, d5, [{out}, #32]",
            "stp d6, d7, [{out}, #48]",
            "stp d8, d9, [{out}, #64]",
            "stp d10, d11, [{out}, #80]",
            "stp d12, d13, [{out}, #96]",
            "stp d14, d15, [{out}, #112]",
            "stp d16, d17, [{out}, #128]",
            "stp d18, d19, [{out}, #144]",
            "stp d20, d21, [{out}, #160]",
            "stp d22, d23, [{out}, #176]",
            "stp d24, d25, [{out}, #192]",
            "stp d26, d27, [{out}, #208]",
            "stp d28, d29, [{out}, #224]",
            "stp d30, d31, [{out}, #240]",
            t = out(reg) _,
            va = in(reg) va,
            out = in(reg) out.as_mut_ptr(),
            out("v0") _, out("v1") _, out("v2") _, out("v3") _, out("v4") _, out("v5") _, out("v6") _, out("v7") _, out("v8") _, out("v9") _, out("v10") _, out("v11") _, out("v12") _, out("v13") _, out("v14") _, out("v15") _, out("v16") _, out("v17") _, out("v18") _, out("v19") _, out("v20") _, out("v21") _, out("v22") _, out("v23") _, out("v24") _, out("v25") _, out("v26") _, out("v27") _, out("v28") _, out("v29") _, out("v30") _, out("v31") _,
            options(nostack),
        )
    };
    out
}

/// The exception handler runs Rust code that may use the FP/SIMD
/// registers; the code a fault interrupted gets all of them back.
fn a_fault_keeps_the_interrupted_fp_simd_registers(_: &Boot) {
    let env = Env::new();
    let vmo = env.vmo(4);
    let va = env.map(vmo, 4, RW);
    for page in 0..4 {
        let regs = fp_simd_across_a_fault(va + page * P);
        for (i, value) in regs.iter().enumerate() {
            assert_eq!(*value, 0x100 + i as u64, "d{i} changed across the fault on page {page}");
        }
    }
}

fn every_frame_comes_back(boot: &Boot) {
    let free = free_frames(boot);
    {
        let env = Env::new();
        let vmo = env.vmo(8);
        let va = env.map(vmo, 8, RW);
        for i in 0..8 {
            store(va + i * P, i);
        }
        let child = env.p.zx.vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT, 0, 8 * P).unwrap();
        let cva = env.map(child, 8, RW);
        store(cva, 99);
        env.write_u64(child, P, 98);
        assert!(free_frames(boot) < free);
    }
    assert_eq!(free_frames(boot), free, "VMOs, tables, ASID and zero page all returned");
}

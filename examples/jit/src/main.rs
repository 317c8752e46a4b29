//! A JIT through zx: a function of two aarch64 instructions written into a
//! VMO with `vmo_write`, the handle made executable, `ZX_VMO_OP_CACHE_SYNC`
//! over the code, a READ|EXECUTE mapping called through a function pointer
//! (the image runs at EL1, and VMAR mappings are EL1 pages); then the code
//! is rewritten in place, synced and called again. Exits with 0 only if
//! every call returned what its code says and every frame came back.
#![no_std]
#![no_main]

extern crate alloc;

use platform_virt::process::Process;
use platform_virt::vm::AddressSpace;
use platform_virt::{println, Boot};
use zx::ops::*;
use zx::options::*;
use zx::{Handle, Rights, Status, Zx};

platform_virt::entry!(main);

const P: u64 = 4096;
/// `ret`.
const RET: u32 = 0xd65f_03c0;

/// `movz x0, #imm`.
const fn movz_x0(imm: u16) -> u32 {
    0xd280_0000 | (imm as u32) << 5
}

fn main(boot: &Boot) -> i32 {
    run(boot);
    println!("jit: every check passed");
    0
}

fn run(boot: &Boot) {
    let free_at_start = boot.frames().free_count();
    println!("jit: {free_at_start} free frames before the process");
    let p = Process::new().expect("a process");
    p.enter();
    steps(&p.zx);
    AddressSpace::leave();
    drop(p);
    let free = boot.frames().free_count();
    println!("step 7: process gone: {free} free frames, as before it");
    assert!(free == free_at_start, "{free} free frames at the end, {free_at_start} at the start");
}

fn steps(zx: &Zx) {
    let vmo = zx.vmo_create(P, 0).expect("vmo_create");
    let code = [movz_x0(42), RET];
    zx.vmo_write(vmo, &bytes(&code), 0).expect("vmo_write");
    println!(
        "step 1: wrote movz x0, #42; ret ({:#010x} {:#010x}) into a VMO with vmo_write",
        code[0], code[1]
    );

    let rx = ZX_VM_PERM_READ | ZX_VM_PERM_EXECUTE;
    let refused = zx.vmar_map(zx.root_vmar(), rx, 0, vmo, 0, P);
    assert!(refused == Err(Status::AccessDenied), "mapping without EXECUTE gave {refused:?}");
    let vmo = zx.vmo_replace_as_executable(vmo, Handle::INVALID).expect("vmo_replace_as_executable");
    let rights = zx.object_get_info_handle_basic(vmo).expect("object_get_info").rights;
    assert!(rights.contains(Rights::EXECUTE), "the new handle's rights are {rights:?}");
    println!("step 2: vmar_map READ|EXECUTE refused (AccessDenied); vmo_replace_as_executable adds EXECUTE");

    zx.vmo_op_range(vmo, ZX_VMO_OP_CACHE_SYNC, 0, 8, &mut []).expect("vmo_op_range");
    let va = zx.vmar_map(zx.root_vmar(), rx, 0, vmo, 0, P).expect("vmar_map");
    println!("step 3: ZX_VMO_OP_CACHE_SYNC over the 8 bytes of code; mapped READ|EXECUTE at {va:#x}");

    let value = execute(va);
    println!("step 4: called {va:#x}: it returned {value}");
    assert!(value == 42, "the code returned {value}, not 42");

    let first = movz_x0(1234);
    zx.vmo_write(vmo, &first.to_le_bytes(), 0).expect("vmo_write");
    zx.vmo_op_range(vmo, ZX_VMO_OP_CACHE_SYNC, 0, 4, &mut []).expect("vmo_op_range");
    println!(
        "step 5: rewrote the first instruction to movz x0, #1234 ({first:#010x}) with vmo_write; CACHE_SYNC"
    );

    let value = execute(va);
    println!("step 6: called {va:#x} again: it returned {value}");
    assert!(value == 1234, "the rewritten code returned {value}, not 1234");

    zx.vmar_unmap(zx.root_vmar(), va, P).expect("vmar_unmap");
    zx.handle_close(vmo).expect("handle_close");
}

/// Instructions as the little-endian bytes the CPU fetches.
fn bytes(code: &[u32]) -> alloc::vec::Vec<u8> {
    code.iter().flat_map(|insn| insn.to_le_bytes()).collect()
}

/// Calls the code at `va`, a function without arguments returning x0.
fn execute(va: u64) -> u64 {
    // SAFETY: `va` starts a READ|EXECUTE mapping of this CPU's address
    // space that holds `movz x0, #imm; ret`, made visible to instruction
    // fetch by CACHE_SYNC: a complete function of this type that clobbers
    // only x0.
    let f = unsafe { core::mem::transmute::<*const (), extern "C" fn() -> u64>(va as *const ()) };
    f()
}

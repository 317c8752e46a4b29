//! Copy-on-write through zx: a VMO and a `ZX_VMO_CHILD_SNAPSHOT` child of
//! it, both mapped; a write to either is not seen by the other, read back
//! through the mappings and with `vmo_read`. The writes through a mapping
//! run on a second CPU when there is one. Prints each step with the free
//! frames (a write to a shared page takes one), closes everything and
//! checks that the frame allocator has every frame back; exits with 0 only
//! if every check passed.
#![no_std]
#![no_main]

extern crate alloc;

use platform_virt::process::Process;
use platform_virt::smp::{cpu_count, run_on};
use platform_virt::vm::AddressSpace;
use platform_virt::{println, Boot};
use zx::options::*;
use zx::{Handle, Zx};

platform_virt::entry!(main);

const P: u64 = 4096;
/// Bytes of text at the start of each page.
const TEXT: usize = 32;

fn main(boot: &Boot) -> i32 {
    run(boot);
    println!("cow_snapshot: every check passed");
    0
}

fn run(boot: &Boot) {
    let free_at_start = boot.frames().free_count();
    println!("cow_snapshot: {free_at_start} free frames before the process");
    let p = Process::new().expect("a process");
    // The writer CPU enters the process too, to store through its mappings.
    let writer = if cpu_count() > 1 { 1 } else { 0 };
    p.enter();
    let aspace = p.aspace.clone();
    run_on(writer, move || aspace.enter()).join();
    steps(boot, &p.zx, writer);
    run_on(writer, AddressSpace::leave).join();
    AddressSpace::leave();
    drop(p);
    let free = boot.frames().free_count();
    println!("step 7: process gone: {free} free frames, as before it");
    assert!(free == free_at_start, "{free} free frames at the end, {free_at_start} at the start");
}

fn steps(boot: &Boot, zx: &Zx, writer: usize) {
    let parent = zx.vmo_create(2 * P, 0).expect("vmo_create");
    zx.vmo_write(parent, &text("page 0, first version"), 0).expect("vmo_write");
    zx.vmo_write(parent, &text("page 1, first version"), P).expect("vmo_write");
    println!("step 1: a 2-page VMO, its pages written with vmo_write");
    frames(boot);

    let snapshot = zx.vmo_create_child(parent, ZX_VMO_CHILD_SNAPSHOT, 0, 2 * P).expect("vmo_create_child");
    let rw = ZX_VM_PERM_READ | ZX_VM_PERM_WRITE;
    let pva = zx.vmar_map(zx.root_vmar(), rw, 0, parent, 0, 2 * P).expect("vmar_map");
    let sva = zx.vmar_map(zx.root_vmar(), rw, 0, snapshot, 0, 2 * P).expect("vmar_map");
    println!("step 2: a ZX_VMO_CHILD_SNAPSHOT child; parent mapped at {pva:#x}, snapshot at {sva:#x}");
    println!("  (the pages moved to a hidden node that both see; no page was copied)");
    let parent_at = (zx, "parent", parent, pva);
    let snapshot_at = (zx, "snapshot", snapshot, sva);
    holds(parent_at, ["page 0, first version", "page 1, first version"]);
    holds(snapshot_at, ["page 0, first version", "page 1, first version"]);
    frames(boot);

    let new = text("page 0, the parent's write");
    run_on(writer, move || store(pva, new)).join();
    println!("step 3: CPU {writer} wrote page 0 of the parent through its mapping");
    holds(parent_at, ["page 0, the parent's write", "page 1, first version"]);
    holds(snapshot_at, ["page 0, first version", "page 1, first version"]);

    zx.vmo_write(snapshot, &text("page 1, the snapshot's write"), P).expect("vmo_write");
    println!("step 4: page 1 of the snapshot written with vmo_write");
    holds(parent_at, ["page 0, the parent's write", "page 1, first version"]);
    holds(snapshot_at, ["page 0, first version", "page 1, the snapshot's write"]);
    frames(boot);

    zx.vmar_unmap(zx.root_vmar(), pva, 2 * P).expect("vmar_unmap");
    zx.handle_close(parent).expect("handle_close");
    println!("step 5: parent unmapped and closed; the snapshot keeps what it saw");
    holds(snapshot_at, ["page 0, first version", "page 1, the snapshot's write"]);
    frames(boot);

    zx.vmar_unmap(zx.root_vmar(), sva, 2 * P).expect("vmar_unmap");
    zx.handle_close(snapshot).expect("handle_close");
    println!("step 6: snapshot unmapped and closed: {} free frames", boot.frames().free_count());
}

/// `s` as the bytes at the start of a page, padded with zeros.
fn text(s: &str) -> [u8; TEXT] {
    let mut bytes = [0; TEXT];
    bytes[..s.len()].copy_from_slice(s.as_bytes());
    bytes
}

/// The text at the start of a page, up to its first zero.
fn shown(bytes: &[u8; TEXT]) -> &str {
    let len = bytes.iter().position(|&b| b == 0).unwrap_or(TEXT);
    core::str::from_utf8(&bytes[..len]).unwrap_or("(not text)")
}

/// The text at `va`, loaded through this CPU's translation tables.
fn load(va: u64) -> [u8; TEXT] {
    // SAFETY: `va` is the start of a page of a mapping `vmar_map` made in
    // the address space this CPU is in. VM addresses lie outside the
    // kernel's identity map, so no Rust object is there; the VM resolves
    // the load's faults.
    unsafe { (va as *const [u8; TEXT]).read_volatile() }
}

/// Stores `bytes` at `va`, through this CPU's translation tables.
fn store(va: u64, bytes: [u8; TEXT]) {
    // SAFETY: as for `load`, of a writable mapping.
    unsafe { (va as *mut [u8; TEXT]).write_volatile(bytes) }
}

/// Prints what both pages of `name` (mapped at `va`) hold, and checks that
/// they hold `expected`, through the mapping and with `vmo_read`.
fn holds((zx, name, vmo, va): (&Zx, &str, Handle, u64), expected: [&str; 2]) {
    let mut shows = [[0; TEXT]; 2];
    for (page, want) in (0..2).zip(expected) {
        let mapped = load(va + page * P);
        let mut read = [0; TEXT];
        zx.vmo_read(vmo, &mut read, page * P).expect("vmo_read");
        assert!(
            mapped == read,
            "{name} page {page}: \"{}\" mapped, \"{}\" read",
            shown(&mapped),
            shown(&read)
        );
        assert!(mapped == text(want), "{name} page {page}: \"{}\", not \"{want}\"", shown(&mapped));
        shows[page as usize] = mapped;
    }
    println!("  {name:8} holds \"{}\", \"{}\" (mapping and vmo_read)", shown(&shows[0]), shown(&shows[1]));
}

/// Prints the frame allocator's free frames.
fn frames(boot: &Boot) {
    println!("  free frames: {}", boot.frames().free_count());
}

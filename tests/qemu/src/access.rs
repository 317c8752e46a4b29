//! Loads and stores of one word at an address of this CPU's address space,
//! as a program makes them: through the translation tables, taking (and
//! waiting out) the faults the VM resolves, or returning the fatal ones
//! with [`catch`]; and the first word of each page of a range, checked
//! once, as a bench's timed loop touches pages.

use platform_virt::fault::{catch, FatalFault};
use platform_virt::vm::AddressSpace;

/// `va` as a pointer to the first of `len` bytes of words, after checking
/// that they lie in the root VMAR of this CPU's address space: that range
/// is disjoint from the kernel's identity map, so no Rust reference covers
/// it and an access there either goes through a VM mapping or faults
/// (resolved by the VM, or fatal).
fn vm_words(va: u64, len: u64) -> *mut u64 {
    let aspace = AddressSpace::current().expect("this CPU is in an address space");
    let (base, size) = (aspace.root.base(), aspace.root.size());
    assert!(
        va.is_multiple_of(8) && len >= 8 && va >= base && len <= size && va - base <= size - len,
        "[{va:#x}, +{len:#x}) is not in the words of the root VMAR [{base:#x}, +{size:#x})"
    );
    va as *mut u64
}

/// `va` as a pointer to a word of the VM range ([`vm_words`]).
fn vm_word(va: u64) -> *mut u64 {
    vm_words(va, 8)
}

/// The word at `va`, a VM address (panics otherwise).
pub fn load(va: u64) -> u64 {
    // SAFETY: `vm_word` checked that `va` is an aligned word of the VM
    // range, which aliases no Rust memory; a fault there is the VM's.
    unsafe { vm_word(va).read_volatile() }
}

/// Stores `value` at `va`, a VM address (panics otherwise).
pub fn store(va: u64, value: u64) {
    // SAFETY: as for `load`.
    unsafe { vm_word(va).write_volatile(value) }
}

/// [`load`], returning a fatal fault instead of ending the run.
pub fn caught_load(va: u64) -> Result<u64, FatalFault> {
    // SAFETY: the closure is one load, which holds no lock and owns no
    // value when it accesses the word (`vm_word` has let go of both).
    unsafe { catch(|| load(va)) }
}

/// [`store`], returning a fatal fault instead of ending the run.
pub fn caught_store(va: u64, value: u64) -> Result<(), FatalFault> {
    // SAFETY: as for `caught_load`, with a store.
    unsafe { catch(|| store(va, value)) }
}

/// The size of a page.
const PAGE: u64 = 4096;

/// Loads the first word of each of the `pages` pages at `va` (a VM
/// address, page-aligned), checking the range once; returns their sum.
pub fn load_each_page(va: u64, pages: u64) -> u64 {
    let first = vm_words(va, pages * PAGE);
    // SAFETY: `vm_words` checked that the pages lie in the VM range, which
    // aliases no Rust memory; a fault there is the VM's.
    (0..pages).map(|p| unsafe { first.byte_add((p * PAGE) as usize).read_volatile() }).sum()
}

/// Stores `value` in the first word of each of the `pages` pages at `va`
/// (a VM address, page-aligned), checking the range once.
pub fn store_each_page(va: u64, pages: u64, value: u64) {
    let first = vm_words(va, pages * PAGE);
    for p in 0..pages {
        // SAFETY: as for `load_each_page`, with stores.
        unsafe { first.byte_add((p * PAGE) as usize).write_volatile(value) };
    }
}

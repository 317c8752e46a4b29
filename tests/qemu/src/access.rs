//! Loads and stores of one word at an address of this CPU's address space,
//! as a program makes them: through the translation tables, taking (and
//! waiting out) the faults the VM resolves, or returning the fatal ones
//! with [`catch`].

use platform_virt::fault::{catch, FatalFault};
use platform_virt::vm::AddressSpace;

/// `va` as a pointer to a word, after checking that the word lies in the
/// root VMAR of this CPU's address space: that range is disjoint from the
/// kernel's identity map, so no Rust reference covers it and an access
/// there either goes through a VM mapping or faults (resolved by the VM, or
/// fatal).
fn vm_word(va: u64) -> *mut u64 {
    let aspace = AddressSpace::current().expect("this CPU is in an address space");
    let (base, size) = (aspace.root.base(), aspace.root.size());
    assert!(
        va.is_multiple_of(8) && va >= base && va - base <= size - 8,
        "{va:#x} is not a word of the root VMAR [{base:#x}, +{size:#x})"
    );
    va as *mut u64
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

//! The MMU: translation table descriptors, the translation tables of an
//! address space with their ASID, and the barrier/TLBI/cache maintenance
//! they issue.
//!
//! Everything here is plain Rust that also builds on the host, where the
//! tables live in host memory (`table_memory::HostTables`) and a
//! `maintenance::Recorder` stands in for the instructions, so tests check
//! both the tables and the instruction sequences, against `rules`. On the
//! target, `checking` runs the real sequences through the same rules.
//!
//! Layout: 4 KiB granule, 48-bit VAs through `TTBR0_EL1`, 4 levels. The
//! first 512 GiB (root entry 0) are the kernel's identity map — image,
//! devices and a physmap of all RAM — shared by every address space with
//! global entries; each address space maps its own pages above
//! [`tables::USER_BASE`], tagged with its ASID.

pub mod asid;
#[cfg(target_os = "none")]
pub mod checking;
pub mod descriptor;
#[cfg(target_os = "none")]
pub mod hw;
pub mod maintenance;
pub mod rules;
pub mod table_memory;
pub mod tables;

#[cfg(test)]
mod tests;

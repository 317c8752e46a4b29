//! The device tree blob's structure block, checked and freed of `FDT_NOP`
//! tokens before the `fdt` crate reads it.
//!
//! The Devicetree Specification (v0.4, 5.4.1) lets `FDT_NOP` stand between
//! any two tokens, and tools that edit a tree in place leave them: QEMU
//! booting with `-dtb` turns its old `/memory` node into NOPs, and libfdt's
//! `fdt_nop_node` and `fdt_nop_property` do the same for any caller. The
//! `fdt` crate (0.1.5) skips them only in some places: after a NOP between
//! two sibling nodes, `find_node` no longer sees the later ones (so
//! `/chosen` is lost, and `Fdt::chosen` panics), and a NOP between a node's
//! properties ends its property list. Its walks also `assert` on a
//! malformed block. [`compact`] therefore walks the block once first: it
//! refuses a malformed one with [`DtbError::Invalid`], and moves every
//! other token down over the NOPs, which leaves the same tree.

use crate::boot_info::DtbError;

const FDT_MAGIC: u32 = 0xd00d_feed;
const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_NOP: u32 = 4;
const FDT_END: u32 = 9;
/// The first version with `size_dt_struct` (DTSpec 5.2: version 17).
const VERSION_WITH_STRUCT_SIZE: u32 = 17;

fn be32(blob: &[u8], at: usize) -> Result<u32, DtbError> {
    let bytes = blob.get(at..at.checked_add(4).ok_or(DtbError::Invalid)?).ok_or(DtbError::Invalid)?;
    Ok(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// `len` rounded up to the structure block's 4-byte alignment.
fn aligned(len: usize) -> Result<usize, DtbError> {
    len.checked_add(3).map(|n| n & !3).ok_or(DtbError::Invalid)
}

/// Where the structure block lies, and the strings block's size.
struct Blocks {
    start: usize,
    end: usize,
    strings_size: usize,
}

impl Blocks {
    /// Walks the structure block from its first token to `FDT_END`,
    /// checking each token; with `apply`, moves each token but the NOPs
    /// down over the NOPs before it. Returns where the compacted block
    /// ends and how many NOPs there were. A walk that fails has moved
    /// nothing only if `apply` was false: [`compact`] checks first.
    fn walk(&self, blob: &mut [u8], apply: bool) -> Result<(usize, usize), DtbError> {
        let (mut read, mut write, mut depth, mut nops) = (self.start, self.start, 0usize, 0);
        loop {
            let token = be32(blob, read)?;
            let len = match token {
                // A second root is not a tree.
                FDT_BEGIN_NODE if depth > 0 || write == self.start => {
                    depth += 1;
                    let name = blob.get(read + 4..self.end).ok_or(DtbError::Invalid)?;
                    let nul = name.iter().position(|&b| b == 0).ok_or(DtbError::Invalid)?;
                    4 + aligned(nul + 1)?
                }
                FDT_END_NODE => {
                    depth = depth.checked_sub(1).ok_or(DtbError::Invalid)?;
                    4
                }
                FDT_PROP if depth > 0 => {
                    let (value_len, name_at) =
                        (be32(blob, read + 4)? as usize, be32(blob, read + 8)? as usize);
                    if name_at >= self.strings_size {
                        return Err(DtbError::Invalid);
                    }
                    12 + aligned(value_len)?
                }
                FDT_NOP => 4,
                FDT_END if depth == 0 && write != self.start => 4,
                _ => return Err(DtbError::Invalid),
            };
            let next = read.checked_add(len).filter(|&next| next <= self.end).ok_or(DtbError::Invalid)?;
            if token == FDT_NOP {
                nops += 1;
            } else {
                if apply {
                    blob.copy_within(read..next, write);
                }
                write += len;
            }
            read = next;
            if token == FDT_END {
                return Ok((write, nops));
            }
        }
    }
}

/// Checks the structure block of `blob` (tokens within the block, names
/// NUL-terminated, property names within the strings block, nodes nested
/// under one root and closed before `FDT_END`) and removes its `FDT_NOP`
/// tokens in place: the tokens after each run of NOPs move down, the
/// header's `size_dt_struct` shrinks to match and the freed tail is
/// zeroed. Returns how many NOPs it removed; a blob it refuses is left as
/// it was.
pub fn compact(blob: &mut [u8]) -> Result<usize, DtbError> {
    if be32(blob, 0)? != FDT_MAGIC || be32(blob, 20)? < VERSION_WITH_STRUCT_SIZE {
        return Err(DtbError::Invalid);
    }
    let total = (be32(blob, 4)? as usize).min(blob.len());
    let (start, size) = (be32(blob, 8)? as usize, be32(blob, 36)? as usize);
    let end =
        start.checked_add(size).filter(|&end| end <= total && start % 4 == 0).ok_or(DtbError::Invalid)?;
    let blocks = Blocks { start, end, strings_size: be32(blob, 32)? as usize };
    let (_, nops) = blocks.walk(blob, false)?;
    if nops == 0 {
        return Ok(0);
    }
    let (write, _) = blocks.walk(blob, true)?;
    blob[write..end].fill(0);
    blob[36..40].copy_from_slice(&((write - start) as u32).to_be_bytes());
    Ok(nops)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boot_info::{BootInfo, GicInfo};
    use crate::memory_map::PhysRange;

    /// QEMU's tree as an image booted with `-dtb` sees it: dumped with
    /// `qemu-system-aarch64 -M virt,dumpdtb=… -cpu cortex-a72 -m 128M -smp
    /// 4` (QEMU 7.2), booted with `-dtb` and `-append "semihosting
    /// ram_mib=128 entry_el=1 gic=2 cpus=4"`, read back from the start of
    /// RAM (`pmemsave`) and cut to its blocks: its old `/memory` node is
    /// 54 NOPs between two root nodes.
    const WITH_NOPS: &[u8] = include_bytes!("../testdata/virt-a72-128m-4cpu-nops.dtb");
    /// QEMU's own tree, as the other tests read it.
    const WITHOUT_NOPS: &[u8] = include_bytes!("../testdata/virt-a72-256m-2cpu.dtb");

    #[test]
    fn a_tree_with_nops_reads_like_one_without() {
        let before = fdt::Fdt::new(WITH_NOPS).unwrap();
        assert!(before.find_node("/chosen").is_none(), "the fdt crate loses /chosen after a NOP");
        let mut blob = WITH_NOPS.to_vec();
        assert_eq!(compact(&mut blob), Ok(54));
        let info = BootInfo::parse(&blob, 0x4000_0000).unwrap();
        assert_eq!(info.bootargs, "semihosting ram_mib=128 entry_el=1 gic=2 cpus=4");
        assert_eq!(info.ram.as_slice(), [PhysRange::new(0x4000_0000, 0x4800_0000)]);
        assert_eq!(info.uart, Some(0x0900_0000));
        assert_eq!(info.mpidrs.as_slice(), [0, 1, 2, 3]);
        assert_eq!(info.gic, Some(GicInfo::V2 { distributor: 0x0800_0000, cpu_interface: 0x0801_0000 }));
        // Every node is still there, in order, and a second pass finds no NOP.
        let names = |fdt: fdt::Fdt<'_>| fdt.all_nodes().map(|n| n.name).collect::<Vec<_>>().join(" ");
        assert_eq!(names(fdt::Fdt::new(&blob).unwrap()), names(before));
        assert_eq!(compact(&mut blob), Ok(0));
    }

    #[test]
    fn a_tree_without_nops_is_left_as_it_was() {
        let mut blob = WITHOUT_NOPS.to_vec();
        assert_eq!(compact(&mut blob), Ok(0));
        assert_eq!(blob, WITHOUT_NOPS);
    }

    /// The structure block's offset in the test trees' headers.
    fn struct_block(blob: &[u8]) -> usize {
        be32(blob, 8).unwrap() as usize
    }

    #[test]
    fn a_malformed_block_is_invalid_and_not_a_panic() {
        let at = struct_block(WITHOUT_NOPS);
        let mut cases: Vec<Vec<u8>> = Vec::new();
        for (offset, bytes) in [
            (at, FDT_END_NODE.to_be_bytes()), // an end before any node
            (at, FDT_PROP.to_be_bytes()),     // a property outside a node
            (at, 7u32.to_be_bytes()),         // no such token
            (36, u32::MAX.to_be_bytes()),     // a block past the blob
            (20, 16u32.to_be_bytes()),        // a version without the block's size
        ] {
            let mut blob = WITHOUT_NOPS.to_vec();
            blob[offset..offset + 4].copy_from_slice(&bytes);
            cases.push(blob);
        }
        // The root's first property names a string past the strings block.
        let mut blob = WITHOUT_NOPS.to_vec();
        let root_name_end = at + 4 + 4; // "\0" padded, then FDT_PROP
        assert_eq!(be32(&blob, root_name_end), Ok(FDT_PROP));
        blob[root_name_end + 8..root_name_end + 12].copy_from_slice(&u32::MAX.to_be_bytes());
        cases.push(blob);
        // Cut short: the walk runs off the end of the blob.
        cases.push(WITHOUT_NOPS[..WITHOUT_NOPS.len() / 2].to_vec());
        for mut blob in cases {
            let unchanged = blob.clone();
            assert_eq!(compact(&mut blob), Err(DtbError::Invalid));
            assert_eq!(blob, unchanged, "a refused tree is not changed");
        }
    }
}

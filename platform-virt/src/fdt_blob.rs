//! The device tree blob: the size its header declares, and its structure
//! block, checked and freed of `FDT_NOP` tokens before the `fdt` crate
//! reads it.
//!
//! The Devicetree Specification (v0.4, 5.4.1) lets `FDT_NOP` stand between
//! any two tokens, and tools that edit a tree in place leave them: QEMU
//! booting with `-dtb` turns its old `/memory` node into NOPs, and libfdt's
//! `fdt_nop_node` and `fdt_nop_property` do the same for any caller. The
//! `fdt` crate (0.1.5) skips them only in some places: after a NOP between
//! two sibling nodes, `find_node` no longer sees the later ones (so
//! `/chosen` is lost, and `Fdt::chosen` panics), and a NOP between a node's
//! properties ends its property list. It also panics on some malformed
//! trees (a property after a child node, a name that is not UTF-8, a
//! short `#size-cells`, a root with a name). [`compact`] therefore walks
//! the block once first: it refuses such a tree with
//! [`DtbError::Invalid`], and moves every other token down over the NOPs,
//! which leaves the same tree. The `dtb` fuzz target checks that this and
//! [`crate::boot_info::BootInfo::parse`] after it never panic.

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

/// The size a flattened device tree header at the start of `header`
/// declares, if it has the FDT magic.
pub fn total_size(header: &[u8; 8]) -> Option<usize> {
    let (magic, size) = (be32(header, 0).ok()?, be32(header, 4).ok()?);
    (magic == FDT_MAGIC).then_some(size as usize)
}

/// `len` rounded up to the structure block's 4-byte alignment.
fn aligned(len: usize) -> Result<usize, DtbError> {
    len.checked_add(3).map(|n| n & !3).ok_or(DtbError::Invalid)
}

/// Where the structure and strings blocks lie.
struct Blocks {
    start: usize,
    end: usize,
    strings: core::ops::Range<usize>,
}

/// The length, with its NUL, of the NUL-terminated UTF-8 string that
/// `bytes` begins with.
fn string_at(bytes: &[u8]) -> Result<usize, DtbError> {
    let nul = bytes.iter().position(|&b| b == 0).ok_or(DtbError::Invalid)?;
    core::str::from_utf8(&bytes[..nul]).map_err(|_| DtbError::Invalid)?;
    Ok(nul + 1)
}

impl Blocks {
    /// Walks the structure block from its first token to `FDT_END`,
    /// checking each token; with `apply`, moves each token but the NOPs
    /// down over the NOPs before it. Returns where the compacted block
    /// ends and how many NOPs there were. A walk that fails has moved
    /// nothing only if `apply` was false: [`compact`] checks first.
    fn walk(&self, blob: &mut [u8], apply: bool) -> Result<(usize, usize), DtbError> {
        let (mut read, mut write, mut depth, mut nops) = (self.start, self.start, 0usize, 0);
        let mut previous = FDT_NOP;
        loop {
            let token = be32(blob, read)?;
            let len = match token {
                // One root, named "" (DTSpec 2.2.1), and no second one.
                FDT_BEGIN_NODE if depth > 0 || write == self.start => {
                    let name = string_at(blob.get(read + 4..self.end).ok_or(DtbError::Invalid)?)?;
                    if depth == 0 && name != 1 {
                        return Err(DtbError::Invalid);
                    }
                    depth += 1;
                    4 + aligned(name)?
                }
                FDT_END_NODE => {
                    depth = depth.checked_sub(1).ok_or(DtbError::Invalid)?;
                    4
                }
                // A node's properties come before its children (DTSpec
                // 5.4.2).
                FDT_PROP if previous == FDT_BEGIN_NODE || previous == FDT_PROP => {
                    let (value_len, name_at) =
                        (be32(blob, read + 4)? as usize, be32(blob, read + 8)? as usize);
                    let name_at = self.strings.start.checked_add(name_at).ok_or(DtbError::Invalid)?;
                    let name = blob.get(name_at..self.strings.end).ok_or(DtbError::Invalid)?;
                    let name = &name[..string_at(name)? - 1];
                    // Cell counts are one u32 (DTSpec 2.3.5); the crate
                    // panics on a shorter one.
                    if (name == b"#address-cells" || name == b"#size-cells") && value_len != 4 {
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
                previous = token;
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

/// Checks the structure block of `blob` and removes its `FDT_NOP` tokens
/// in place: the tokens after each run of NOPs move down, the header's
/// `size_dt_struct` shrinks to match and the freed tail is zeroed.
/// Returns how many NOPs it removed; a blob it refuses is left as it was.
///
/// The checks: tokens within the block; node and property names
/// NUL-terminated UTF-8, the latter in the strings block; the reservation
/// block starting within the blob; nodes nested under one root named ""
/// and closed before `FDT_END`; a node's properties before its children;
/// cell counts one `u32`.
pub fn compact(blob: &mut [u8]) -> Result<usize, DtbError> {
    if be32(blob, 0)? != FDT_MAGIC || be32(blob, 20)? < VERSION_WITH_STRUCT_SIZE {
        return Err(DtbError::Invalid);
    }
    let total = (be32(blob, 4)? as usize).min(blob.len());
    let (start, size) = (be32(blob, 8)? as usize, be32(blob, 36)? as usize);
    let end =
        start.checked_add(size).filter(|&end| end <= total && start % 4 == 0).ok_or(DtbError::Invalid)?;
    let strings_start = be32(blob, 12)? as usize;
    let strings_end = strings_start
        .checked_add(be32(blob, 32)? as usize)
        .filter(|&e| e <= total)
        .ok_or(DtbError::Invalid)?;
    // The reservation block, which the crate slices from its offset on.
    if be32(blob, 16)? as usize > total {
        return Err(DtbError::Invalid);
    }
    let blocks = Blocks { start, end, strings: strings_start..strings_end };
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

    #[test]
    fn header_size_needs_the_magic() {
        let header: [u8; 8] = WITHOUT_NOPS[..8].try_into().unwrap();
        assert_eq!(total_size(&header), Some(WITHOUT_NOPS.len()));
        assert_eq!(total_size(&[0; 8]), None);
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

    /// A version 17 blob of the structure block `tokens` (big-endian
    /// words) and the strings block "#size-cells\0model\0", with no
    /// reservations.
    fn tree(tokens: &[u32]) -> Vec<u8> {
        const STRINGS: &[u8] = b"#size-cells\0model\0";
        let (structs, strings) = (56, 56 + 4 * tokens.len());
        let total = strings + STRINGS.len();
        let header = [FDT_MAGIC, total as u32, structs as u32, strings as u32, 40, 17, 16, 0];
        let sizes = [STRINGS.len() as u32, 4 * tokens.len() as u32];
        let mut blob: Vec<u8> = header.iter().chain(&sizes).flat_map(|w| w.to_be_bytes()).collect();
        blob.extend([0; 16]); // the reservation block's terminating entry
        blob.extend(tokens.iter().flat_map(|w| w.to_be_bytes()));
        blob.extend(STRINGS);
        blob
    }

    /// `FDT_PROP` of `#size-cells` (string offset 0) with one cell.
    const SIZE_CELLS: [u32; 4] = [FDT_PROP, 4, 0, 1];
    /// `FDT_PROP` of `model` (string offset 12), "ab".
    const MODEL: [u32; 4] = [FDT_PROP, 3, 12, u32::from_be_bytes(*b"ab\0\0")];
    /// `FDT_BEGIN_NODE` of the root and of a node "a".
    const ROOT: [u32; 2] = [FDT_BEGIN_NODE, 0];
    const NODE_A: [u32; 2] = [FDT_BEGIN_NODE, u32::from_be_bytes(*b"a\0\0\0")];

    #[test]
    fn nops_between_properties_are_removed() {
        let tokens = [
            &ROOT[..],
            &SIZE_CELLS,
            &[FDT_NOP, FDT_NOP],
            &MODEL,
            &NODE_A,
            &[FDT_END_NODE, FDT_END_NODE, FDT_END],
        ]
        .concat();
        let mut blob = tree(&tokens);
        assert_eq!(compact(&mut blob), Ok(2));
        let fdt = fdt::Fdt::new(&blob).unwrap();
        let root = fdt.find_node("/").unwrap();
        assert_eq!(root.property("model").and_then(|p| p.as_str()), Some("ab"));
        assert_eq!(root.children().map(|n| n.name).collect::<Vec<_>>(), ["a"]);
    }

    #[test]
    fn what_the_crate_would_panic_on_is_invalid() {
        let end = [FDT_END_NODE, FDT_END_NODE, FDT_END];
        for tokens in [
            // A property after a child node.
            [&ROOT[..], &NODE_A, &[FDT_END_NODE], &MODEL, &[FDT_END_NODE, FDT_END]].concat(),
            // A cell count that is not one u32.
            [&ROOT[..], &[FDT_PROP, 2, 0, 0], &NODE_A, &end].concat(),
            // A root with a name.
            [&NODE_A[..], &NODE_A, &end].concat(),
            // A node name that is not UTF-8.
            [&ROOT[..], &[FDT_BEGIN_NODE, 0xff00_0000], &end].concat(),
            // A property name past the strings block.
            [&ROOT[..], &[FDT_PROP, 0, 40, 0], &NODE_A, &end].concat(),
            // Two roots.
            [&ROOT[..], &[FDT_END_NODE], &ROOT, &[FDT_END_NODE, FDT_END]].concat(),
        ] {
            let mut blob = tree(&tokens);
            assert_eq!(compact(&mut blob), Err(DtbError::Invalid), "{tokens:x?}");
        }
        let mut blob = tree(&[&ROOT[..], &SIZE_CELLS, &NODE_A, &end].concat());
        assert_eq!(compact(&mut blob), Ok(0), "the cases' well-formed base");
        let past = blob.len() as u32 + 1;
        blob[16..20].copy_from_slice(&past.to_be_bytes());
        assert_eq!(compact(&mut blob), Err(DtbError::Invalid), "reservations past the blob");
    }
}

//! What the device tree tells the platform: RAM, reservations, the console,
//! the PSCI conduit, CPUs, the interrupt controller, virtio-mmio slots and
//! the boot arguments. Memory and devices whose `status` says they are not
//! in use are left out.
//!
//! Plain Rust over the `fdt` crate, tested on the host against a device tree
//! dumped from QEMU's virt board. The boot hands it a blob that
//! [`crate::fdt_blob::compact`] has checked and freed of NOPs.

use crate::memory_map::{PhysRange, RangeSet, TooManyRanges};
use fdt::node::FdtNode;
use fdt::Fdt;

/// How PSCI calls reach the firmware (the `/psci` node's `method`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciConduit {
    Hvc,
    Smc,
}

/// Why a device tree could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DtbError {
    /// The blob is not a valid flattened device tree.
    Invalid,
    /// There is no `/memory` node with a usable `reg`.
    NoMemory,
    /// More RAM or reserved ranges than [`RangeSet`] holds.
    TooManyRanges,
}

impl From<TooManyRanges> for DtbError {
    fn from(_: TooManyRanges) -> Self {
        DtbError::TooManyRanges
    }
}

/// The most CPUs the platform starts; further `/cpus` entries are ignored.
pub const MAX_CPUS: usize = 8;

/// The MPIDR affinity values (`/cpus/cpu@N` `reg`) of up to [`MAX_CPUS`]
/// CPUs, in device tree order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuList {
    mpidrs: [u64; MAX_CPUS],
    len: usize,
}

impl CpuList {
    pub fn as_slice(&self) -> &[u64] {
        &self.mpidrs[..self.len]
    }
}

/// The most virtio-mmio slots kept (QEMU's virt board has 32).
pub const MAX_VIRTIO_MMIO: usize = 32;

/// The register windows of up to [`MAX_VIRTIO_MMIO`] `virtio,mmio` nodes, in
/// device tree order. A slot may hold no device (its device ID reads 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VirtioMmioList {
    slots: [PhysRange; MAX_VIRTIO_MMIO],
    len: usize,
}

impl VirtioMmioList {
    pub fn as_slice(&self) -> &[PhysRange] {
        &self.slots[..self.len]
    }
}

/// The interrupt controller, by its binding (`arm,gic` and `arm,gic-v3`
/// in the kernel's device tree bindings): the first two `reg` windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicInfo {
    /// GICv2 (`arm,cortex-a15-gic`, `arm,gic-400`, …): the distributor and
    /// the CPU interface.
    V2 { distributor: u64, cpu_interface: u64 },
    /// GICv3 (`arm,gic-v3`): the distributor and the redistributors.
    V3 { distributor: u64, redistributors: u64 },
}

/// The `compatible` strings of the GICv2 binding that QEMU and common
/// boards use.
const GIC_V2_COMPATIBLE: [&str; 3] = ["arm,cortex-a15-gic", "arm,gic-400", "arm,cortex-a9-gic"];

/// The facts the platform takes from the device tree.
#[derive(Clone, Copy)]
pub struct BootInfo<'a> {
    /// Where the device tree blob itself lies.
    pub dtb: PhysRange,
    /// RAM, from every `/memory` node.
    pub ram: RangeSet,
    /// `/memreserve/` entries and `/reserved-memory` children.
    pub reserved: RangeSet,
    /// The console UART's MMIO base (`/chosen/stdout-path`, else the first PL011).
    pub uart: Option<u64>,
    /// The PSCI conduit, if the tree has a `/psci` node.
    pub psci: Option<PsciConduit>,
    /// Number of `/cpus/cpu@*` nodes.
    pub cpus: usize,
    /// The MPIDRs of the first [`MAX_CPUS`] of them that have a `reg`.
    pub mpidrs: CpuList,
    /// The interrupt controller, if the tree has a GIC node.
    pub gic: Option<GicInfo>,
    /// The `virtio,mmio` register windows.
    pub virtio_mmio: VirtioMmioList,
    /// `/chosen/bootargs`, empty when absent.
    pub bootargs: &'a str,
}

impl<'a> BootInfo<'a> {
    /// Reads the device tree `blob`, which lies at physical address `pa`.
    pub fn parse(blob: &'a [u8], pa: u64) -> Result<Self, DtbError> {
        let fdt = Fdt::new(blob).map_err(|_| DtbError::Invalid)?;
        let mut ram = RangeSet::new();
        for node in fdt.find_all_nodes("/memory").filter(enabled) {
            for region in node.reg().into_iter().flatten() {
                let start = region.starting_address as u64;
                let size = region.size.unwrap_or(0) as u64;
                ram.add(PhysRange::new(start, start.saturating_add(size)))?;
            }
        }
        if ram.total() == 0 {
            return Err(DtbError::NoMemory);
        }
        let mut reserved = RangeSet::new();
        for r in fdt.memory_reservations() {
            let start = r.address() as u64;
            reserved.add(PhysRange::new(start, start.saturating_add(r.size() as u64)))?;
        }
        if let Some(node) = fdt.find_node("/reserved-memory") {
            for child in node.children() {
                for region in child.reg().into_iter().flatten() {
                    let start = region.starting_address as u64;
                    let end = start.saturating_add(region.size.unwrap_or(0) as u64);
                    reserved.add(PhysRange::new(start, end))?;
                }
            }
        }
        // The crate's `chosen` and `cpus` panic where the node is missing:
        // a tree may lack `/chosen`, and one without `/cpus` (which DTSpec
        // requires) is refused.
        let chosen = fdt.find_node("/chosen").map(|_| fdt.chosen());
        if fdt.find_node("/cpus").is_none() {
            return Err(DtbError::Invalid);
        }
        let uart = chosen
            .and_then(|chosen| chosen.stdout())
            .filter(|n| enabled(n) && is_compatible(n, &["arm,pl011"]))
            .or_else(|| find_enabled(&fdt, &["arm,pl011"]))
            .and_then(|n| n.reg()?.next())
            .map(|r| r.starting_address as u64);
        let psci = fdt.find_node("/psci").and_then(|n| n.property("method")).and_then(|p| match p.as_str() {
            Some("hvc") => Some(PsciConduit::Hvc),
            Some("smc") => Some(PsciConduit::Smc),
            _ => None,
        });
        let mut mpidrs = CpuList { mpidrs: [0; MAX_CPUS], len: 0 };
        for mpidr in fdt.cpus().filter_map(|c| c.property("reg")?.as_usize()).take(MAX_CPUS) {
            mpidrs.mpidrs[mpidrs.len] = mpidr as u64;
            mpidrs.len += 1;
        }
        let gic = find_enabled(&fdt, &GIC_V2_COMPATIBLE)
            .map(|n| (n, false))
            .or_else(|| find_enabled(&fdt, &["arm,gic-v3"]).map(|n| (n, true)));
        let gic = gic.and_then(|(node, v3)| {
            let mut reg = node.reg()?.map(|r| r.starting_address as u64);
            let (first, second) = (reg.next()?, reg.next()?);
            Some(if v3 {
                GicInfo::V3 { distributor: first, redistributors: second }
            } else {
                GicInfo::V2 { distributor: first, cpu_interface: second }
            })
        });
        let mut virtio_mmio = VirtioMmioList { slots: [PhysRange::new(0, 0); MAX_VIRTIO_MMIO], len: 0 };
        let windows = fdt.all_nodes().filter(|n| enabled(n) && is_compatible(n, &["virtio,mmio"]));
        for region in windows.filter_map(|n| n.reg()?.next()).take(MAX_VIRTIO_MMIO) {
            let start = region.starting_address as u64;
            virtio_mmio.slots[virtio_mmio.len] =
                PhysRange::new(start, start.saturating_add(region.size.unwrap_or(0) as u64));
            virtio_mmio.len += 1;
        }
        Ok(BootInfo {
            dtb: PhysRange::new(pa, pa.saturating_add(fdt.total_size() as u64)),
            ram,
            reserved,
            uart,
            psci,
            cpus: fdt.cpus().count(),
            mpidrs,
            gic,
            virtio_mmio,
            bootargs: chosen.and_then(|chosen| chosen.bootargs()).unwrap_or(""),
        })
    }

    /// The value of `key=value` in the boot arguments.
    pub fn bootarg(&self, key: &str) -> Option<&'a str> {
        self.bootargs.split_whitespace().find_map(|arg| arg.strip_prefix(key)?.strip_prefix('='))
    }

    /// Whether the bare word `flag` is among the boot arguments.
    pub fn has_flag(&self, flag: &str) -> bool {
        self.bootargs.split_whitespace().any(|arg| arg == flag)
    }
}

/// Whether `node` is in use (DTSpec 2.3.4): it has no `status`, or
/// `"okay"` (`"ok"` in older trees). A `"disabled"` device is left alone.
fn enabled(node: &FdtNode<'_, '_>) -> bool {
    node.property("status").and_then(|p| p.as_str()).is_none_or(|s| s == "okay" || s == "ok")
}

/// Whether `node`'s `compatible` names one of `names`.
fn is_compatible(node: &FdtNode<'_, '_>, names: &[&str]) -> bool {
    node.compatible().is_some_and(|c| c.all().any(|s| names.contains(&s)))
}

/// The first node in use that is compatible with one of `names`.
fn find_enabled<'b, 'a>(fdt: &'b Fdt<'a>, names: &[&str]) -> Option<FdtNode<'b, 'a>> {
    fdt.all_nodes().find(|n| enabled(n) && is_compatible(n, names))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Dumped with `qemu-system-aarch64 -M virt,dumpdtb=… -cpu cortex-a72
    /// -m 256M -smp 2` (QEMU 7.2) and repacked with `dtc`.
    const VIRT_DTB: &[u8] = include_bytes!("../testdata/virt-a72-256m-2cpu.dtb");

    #[test]
    fn reads_qemu_virt_tree() {
        let info = BootInfo::parse(VIRT_DTB, 0x4000_0000).unwrap();
        assert_eq!(info.ram.as_slice(), [PhysRange::new(0x4000_0000, 0x5000_0000)]);
        assert_eq!(info.ram.total(), 256 << 20);
        assert_eq!(info.uart, Some(0x0900_0000));
        assert_eq!(info.psci, Some(PsciConduit::Hvc));
        assert_eq!(info.cpus, 2);
        assert_eq!(info.mpidrs.as_slice(), [0, 1]);
        assert_eq!(info.gic, Some(GicInfo::V2 { distributor: 0x0800_0000, cpu_interface: 0x0801_0000 }));
        assert_eq!(info.dtb, PhysRange::new(0x4000_0000, 0x4000_0000 + VIRT_DTB.len() as u64));
        assert_eq!(info.bootargs, "");
        assert_eq!(info.reserved.total(), 0);
        let slots = info.virtio_mmio.as_slice();
        assert_eq!(slots.len(), 32);
        assert!(slots.contains(&PhysRange::new(0x0a00_0000, 0x0a00_0200)));
        assert!(slots.contains(&PhysRange::new(0x0a00_3e00, 0x0a00_4000)));
    }

    /// Dumped with `qemu-system-aarch64 -M virt,gic-version=3,dumpdtb=…
    /// -cpu max -m 128M -smp 12` (QEMU 7.2) and repacked with `dtc`.
    const VIRT_DTB_12_CPUS: &[u8] = include_bytes!("../testdata/virt-max-128m-12cpu.dtb");

    #[test]
    fn cpus_beyond_the_maximum_are_counted_not_listed() {
        let info = BootInfo::parse(VIRT_DTB_12_CPUS, 0x4000_0000).unwrap();
        assert_eq!(info.cpus, 12);
        assert_eq!(info.mpidrs.as_slice(), [0, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(info.ram.total(), 128 << 20);
        assert_eq!(info.gic, Some(GicInfo::V3 { distributor: 0x0800_0000, redistributors: 0x080a_0000 }));
    }

    /// [`VIRT_DTB`] decompiled with `dtc`, `status = "disabled"` added to
    /// `intc@8000000` and `virtio_mmio@a000000`, and compiled again.
    const VIRT_DTB_DISABLED: &[u8] = include_bytes!("../testdata/virt-a72-256m-2cpu-disabled.dtb");

    #[test]
    fn disabled_devices_are_left_out() {
        let info = BootInfo::parse(VIRT_DTB_DISABLED, 0x4000_0000).unwrap();
        assert_eq!(info.gic, None);
        let slots = info.virtio_mmio.as_slice();
        assert_eq!(slots.len(), 31);
        assert!(!slots.contains(&PhysRange::new(0x0a00_0000, 0x0a00_0200)));
        assert!(slots.contains(&PhysRange::new(0x0a00_0200, 0x0a00_0400)));
        assert_eq!(info.uart, Some(0x0900_0000));
        assert_eq!(info.ram.total(), 256 << 20);
    }

    #[test]
    fn garbage_is_invalid_not_a_panic() {
        assert_eq!(BootInfo::parse(&[0u8; 64], 0).err(), Some(DtbError::Invalid));
        assert_eq!(BootInfo::parse(&VIRT_DTB[..40], 0).err(), Some(DtbError::Invalid));
    }

    #[test]
    fn bootargs_lookup() {
        let mut info = BootInfo::parse(VIRT_DTB, 0).unwrap();
        info.bootargs = "ram_mib=128 semihosting  x=1=2";
        assert_eq!(info.bootarg("ram_mib"), Some("128"));
        assert_eq!(info.bootarg("x"), Some("1=2"));
        assert_eq!(info.bootarg("ram"), None);
        assert!(info.has_flag("semihosting"));
        assert!(!info.has_flag("ram_mib"));
    }
}

//! `MockMmu`: a recording [`Translation`] for host tests.
//!
//! A page table kept in a `BTreeMap` (va → frame, flags, accessed, dirty) that
//! logs every `map`/`unmap`/`protect` it is asked for, so tests can check what
//! vm-core did to the hardware. [`MockMmu::touch`] plays the part of the CPU's
//! table walk, and [`MockMmu::read`]/[`MockMmu::write`] that of a CPU running
//! loads and stores, taking faults through [`Vmar::fault`].
//!
//! Built with [`MockMmu::with_tables_from`], it also takes its translation
//! tables from a frame allocator as the aarch64 tables do (a root, then a
//! table per level on the way to a new page's entry, kept until the address
//! space goes), so a `map` can fail with NO_MEMORY.

use core::ops::Bound;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::vec::Vec;

use crate::fault::Access;
use crate::platform::{FrameAllocator, MmuFlags, PhysAddr, Translation};
use crate::vmar::Vmar;
use crate::{Status, PAGE_SIZE};

/// One translation of the mock page table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pte {
    /// The frame the page translates to.
    pub frame: PhysAddr,
    /// Its permissions.
    pub flags: MmuFlags,
    /// Set by an access through [`MockMmu::touch`].
    pub accessed: bool,
    /// Set by a write through [`MockMmu::touch`].
    pub dirty: bool,
}

/// One call vm-core made on the [`Translation`] trait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MmuOp {
    /// `map(va, frame, flags)`.
    Map { va: u64, frame: PhysAddr, flags: MmuFlags },
    /// `unmap(va, len)`.
    Unmap { va: u64, len: u64 },
    /// `protect(va, len, flags)`.
    Protect { va: u64, len: u64, flags: MmuFlags },
}

#[derive(Default)]
struct Tables {
    ptes: BTreeMap<u64, Pte>,
    log: Vec<MmuOp>,
    /// The table frames below the root, by (level, the VA bits above what
    /// one table of that level covers).
    tables: BTreeMap<(u32, u64), PhysAddr>,
}

/// Where [`MockMmu::with_tables_from`]'s tables come from, and its root.
struct TableFrames {
    frames: std::sync::Arc<dyn FrameAllocator>,
    root: PhysAddr,
}

/// The levels below the root of a 4 KiB-granule, 48-bit walk, each with the
/// VA bits one of its tables covers: a level-1 table 512 GiB, a level-2
/// table 1 GiB, a level-3 table 2 MiB.
const TABLE_LEVELS: [(u32, u32); 3] = [(1, 39), (2, 30), (3, 21)];

/// A recording page table for one address space.
///
/// Like the aarch64 tables at EL1 it cannot map execute-only pages, and it
/// panics when asked to, or asked for an address outside its range: vm-core
/// must never do either.
pub struct MockMmu {
    tables: Mutex<Tables>,
    base: u64,
    size: u64,
    table_frames: Option<TableFrames>,
}

/// The address space of [`MockMmu::new`]: Zircon's arm64 user address space,
/// `[0x100_0000, 2^47)`.
pub const MOCK_ASPACE_BASE: u64 = 0x0000_0000_0100_0000;
/// The size of [`MOCK_ASPACE_BASE`]'s range.
pub const MOCK_ASPACE_SIZE: u64 = (1 << 47) - MOCK_ASPACE_BASE;

impl Default for MockMmu {
    fn default() -> Self {
        MockMmu::with_range(MOCK_ASPACE_BASE, MOCK_ASPACE_SIZE)
    }
}

/// How often a simulated access may fault on one page before the mock
/// decides the fault handler is not making progress (other threads' changes
/// can legitimately make an access fault more than once).
const MAX_FAULTS_PER_ACCESS: usize = 64;

impl MockMmu {
    /// An empty page table over `[MOCK_ASPACE_BASE, MOCK_ASPACE_BASE +
    /// MOCK_ASPACE_SIZE)`.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty page table over `[base, base + size)`.
    pub fn with_range(base: u64, size: u64) -> Self {
        MockMmu { tables: Mutex::default(), base, size, table_frames: None }
    }

    /// An empty page table over the range of [`MockMmu::new`] whose root and
    /// tables are frames of `frames`; NO_MEMORY if there is none for the root.
    pub fn with_tables_from(frames: std::sync::Arc<dyn FrameAllocator>) -> Result<Self, Status> {
        let root = frames.alloc().ok_or(Status::NoMemory)?;
        let table_frames = Some(TableFrames { frames, root });
        Ok(MockMmu { tables: Mutex::default(), base: MOCK_ASPACE_BASE, size: MOCK_ASPACE_SIZE, table_frames })
    }

    /// How many frames the tables hold (the root included), which the
    /// address space gives back when it goes.
    pub fn table_frames(&self) -> usize {
        self.table_frames.as_ref().map_or(0, |_| 1 + self.tables().tables.len())
    }

    /// Takes the tables a walk to `va`'s entry passes that do not exist
    /// yet; those taken stay if a later one finds no frame, as on aarch64.
    fn ensure_tables(&self, tables: &mut Tables, va: u64) -> Result<(), Status> {
        let Some(source) = &self.table_frames else { return Ok(()) };
        for (level, shift) in TABLE_LEVELS {
            if let std::collections::btree_map::Entry::Vacant(slot) =
                tables.tables.entry((level, va >> shift))
            {
                slot.insert(source.frames.alloc().ok_or(Status::NoMemory)?);
            }
        }
        Ok(())
    }

    /// Panics unless `[va, va + len)` is page-aligned and inside the range.
    fn check(&self, va: u64, len: u64) {
        assert!(
            va.is_multiple_of(PAGE_SIZE) && len.is_multiple_of(PAGE_SIZE),
            "unaligned range {va:#x}+{len:#x}"
        );
        assert!(
            va >= self.base && len <= self.size && va - self.base <= self.size - len,
            "{va:#x}+{len:#x} outside the address space"
        );
    }

    /// Panics for permissions the hardware cannot express.
    fn check_flags(flags: MmuFlags) {
        assert!(
            flags.contains(MmuFlags::READ) || !flags.contains(MmuFlags::EXECUTE),
            "execute-only translations are not supported"
        );
    }

    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every call recorded so far, oldest first.
    pub fn log(&self) -> Vec<MmuOp> {
        self.tables().log.clone()
    }

    /// Returns the recorded calls and clears the log.
    pub fn take_log(&self) -> Vec<MmuOp> {
        core::mem::take(&mut self.tables().log)
    }

    /// The translation of `va`'s page, if present.
    pub fn pte(&self, va: u64) -> Option<Pte> {
        self.tables().ptes.get(&(va & !(PAGE_SIZE - 1))).copied()
    }

    /// Every present translation, by virtual address.
    pub fn ptes(&self) -> Vec<(u64, Pte)> {
        self.tables().ptes.iter().map(|(&va, &p)| (va, p)).collect()
    }

    /// Simulates the hardware table walk for one `access` to `va`: when the
    /// translation permits it, sets accessed (and dirty for a write) and
    /// returns the physical address; otherwise returns the fault the CPU
    /// would take (`Err(access)`).
    pub fn touch(&self, va: u64, access: Access) -> Result<PhysAddr, Access> {
        Self::walk(&mut self.tables(), va, access)
    }

    fn walk(tables: &mut Tables, va: u64, access: Access) -> Result<PhysAddr, Access> {
        let pte = tables
            .ptes
            .get_mut(&(va & !(PAGE_SIZE - 1)))
            .filter(|pte| pte.flags.contains(access.required()))
            .ok_or(access)?;
        pte.accessed = true;
        pte.dirty |= access == Access::Write;
        Ok(pte.frame + (va & (PAGE_SIZE - 1)))
    }

    /// One access to `va` by a CPU whose faults `root` handles: walks the
    /// table, and on a fault calls [`Vmar::fault`] and retries. `use_frame`
    /// runs with the physical address while the page table is held, so an
    /// unmap or protect cannot complete in the middle of the access (as a
    /// TLB shootdown would wait for it). Returns the physical address, or the
    /// status the fault was resolved with.
    ///
    /// # Panics
    /// If the handler keeps returning `Ok` without making the access possible.
    fn cpu_access(
        &self,
        root: &Vmar,
        va: u64,
        access: Access,
        use_frame: &mut dyn FnMut(PhysAddr),
    ) -> Result<PhysAddr, Status> {
        for _ in 0..MAX_FAULTS_PER_ACCESS {
            let walked = {
                let mut tables = self.tables();
                Self::walk(&mut tables, va, access).inspect(|&pa| use_frame(pa))
            };
            match walked {
                Ok(pa) => return Ok(pa),
                Err(access) => root.fault(va, access)?,
            }
        }
        panic!("fault at {va:#x} ({access:?}) resolved without a usable translation");
    }

    /// One access to `va` without touching memory: [`MockMmu::touch`], taking
    /// faults through `root` like [`MockMmu::read`] does.
    pub fn access(&self, root: &Vmar, va: u64, access: Access) -> Result<PhysAddr, Status> {
        self.cpu_access(root, va, access, &mut |_| {})
    }

    /// Loads `buf.len()` bytes from `va` like a CPU would, page by page.
    pub fn read(&self, root: &Vmar, va: u64, buf: &mut [u8]) -> Result<(), Status> {
        let frames = &root.context().frames;
        self.per_page(va, buf.len(), |addr, range| {
            let mut load = |pa: PhysAddr| {
                let buf = &mut buf[range.clone()];
                frames.read(pa & !(PAGE_SIZE - 1), (pa % PAGE_SIZE) as usize, buf);
            };
            self.cpu_access(root, addr, Access::Read, &mut load).map(drop)
        })
    }

    /// Stores `data` at `va` like a CPU would, page by page.
    pub fn write(&self, root: &Vmar, va: u64, data: &[u8]) -> Result<(), Status> {
        let frames = &root.context().frames;
        self.per_page(va, data.len(), |addr, range| {
            let mut store = |pa: PhysAddr| {
                let data = &data[range.clone()];
                frames.write(pa & !(PAGE_SIZE - 1), (pa % PAGE_SIZE) as usize, data);
            };
            self.cpu_access(root, addr, Access::Write, &mut store).map(drop)
        })
    }

    /// Calls `f(address, buffer range)` for each page-bounded piece of
    /// `[va, va + len)`.
    fn per_page(
        &self,
        va: u64,
        len: usize,
        mut f: impl FnMut(u64, core::ops::Range<usize>) -> Result<(), Status>,
    ) -> Result<(), Status> {
        let mut done = 0;
        while done < len {
            let addr = va + done as u64;
            let chunk = ((PAGE_SIZE - addr % PAGE_SIZE) as usize).min(len - done);
            f(addr, done..done + chunk)?;
            done += chunk;
        }
        Ok(())
    }
}

impl Drop for MockMmu {
    /// Gives the tables back, as an address space's end does.
    fn drop(&mut self) {
        if let Some(source) = &self.table_frames {
            let tables = core::mem::take(&mut self.tables().tables);
            tables.into_values().chain([source.root]).for_each(|frame| source.frames.free(frame));
        }
    }
}

/// The keys of `[va, va + len)`, which may end at the top of the address space.
fn span(va: u64, len: u64) -> (Bound<u64>, Bound<u64>) {
    let end = va.checked_add(len).map_or(Bound::Unbounded, Bound::Excluded);
    (Bound::Included(va), end)
}

impl Translation for MockMmu {
    fn va_range(&self) -> (u64, u64) {
        (self.base, self.size)
    }

    fn can_map_execute_only(&self) -> bool {
        false
    }

    fn map(&self, va: u64, frame: PhysAddr, flags: MmuFlags, access: Option<Access>) -> Result<(), Status> {
        self.check(va, PAGE_SIZE);
        Self::check_flags(flags);
        assert!(frame.is_multiple_of(PAGE_SIZE), "unaligned frame");
        let mut tables = self.tables();
        tables.log.push(MmuOp::Map { va, frame, flags });
        self.ensure_tables(&mut tables, va)?;
        let dirty = access == Some(Access::Write) && flags.contains(MmuFlags::WRITE);
        let pte = Pte { frame, flags, accessed: access.is_some(), dirty };
        tables.ptes.insert(va, pte);
        Ok(())
    }

    fn prepare(&self, va: u64) -> Result<(), Status> {
        self.check(va & !(PAGE_SIZE - 1), PAGE_SIZE);
        self.ensure_tables(&mut self.tables(), va)
    }

    fn unmap(&self, va: u64, len: u64, dirty: &mut dyn FnMut(u64)) {
        self.check(va, len);
        let mut tables = self.tables();
        tables.log.push(MmuOp::Unmap { va, len });
        let doomed: Vec<u64> = tables.ptes.range(span(va, len)).map(|(&v, _)| v).collect();
        for v in doomed {
            if tables.ptes.remove(&v).is_some_and(|pte| pte.dirty) {
                dirty(v);
            }
        }
    }

    fn protect(&self, va: u64, len: u64, flags: MmuFlags, dirty: &mut dyn FnMut(u64)) {
        self.check(va, len);
        Self::check_flags(flags);
        let mut tables = self.tables();
        tables.log.push(MmuOp::Protect { va, len, flags });
        for (&v, pte) in tables.ptes.range_mut(span(va, len)) {
            pte.flags = flags;
            if !flags.contains(MmuFlags::WRITE) && core::mem::take(&mut pte.dirty) {
                dirty(v);
            }
        }
    }

    fn query(&self, va: u64) -> Option<(PhysAddr, MmuFlags)> {
        self.pte(va).map(|pte| (pte.frame, pte.flags))
    }

    fn harvest_accessed(&self, va: u64) -> bool {
        let mut tables = self.tables();
        tables.ptes.get_mut(&(va & !(PAGE_SIZE - 1))).is_some_and(|pte| core::mem::take(&mut pte.accessed))
    }

    fn harvest_dirty(&self, va: u64, len: u64, dirty: &mut dyn FnMut(u64)) {
        self.check(va, len);
        for (&v, pte) in self.tables().ptes.range_mut(span(va, len)) {
            if core::mem::take(&mut pte.dirty) {
                dirty(v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RW: MmuFlags = MmuFlags::READ.union(MmuFlags::WRITE);

    #[test]
    fn records_calls_and_updates_the_table() {
        let mmu = MockMmu::with_range(0, 1 << 30);
        mmu.map(0x1000, 0x8000, RW, None).unwrap();
        mmu.map(0x2000, 0x9000, MmuFlags::READ, None).unwrap();
        mmu.protect(0x0, 0x3000, MmuFlags::READ, &mut |_| {});
        assert_eq!(mmu.query(0x1000), Some((0x8000, MmuFlags::READ)));
        mmu.unmap(0x2000, 0x1000, &mut |_| {});
        assert_eq!(mmu.query(0x2000), None);
        assert_eq!(
            mmu.take_log(),
            [
                MmuOp::Map { va: 0x1000, frame: 0x8000, flags: RW },
                MmuOp::Map { va: 0x2000, frame: 0x9000, flags: MmuFlags::READ },
                MmuOp::Protect { va: 0, len: 0x3000, flags: MmuFlags::READ },
                MmuOp::Unmap { va: 0x2000, len: 0x1000 },
            ]
        );
        assert!(mmu.log().is_empty());
        assert_eq!(mmu.ptes().len(), 1);
    }

    #[test]
    fn touch_checks_permissions_and_sets_accessed_and_dirty() {
        let mmu = MockMmu::with_range(0, 1 << 30);
        assert_eq!(mmu.touch(0x1000, Access::Read), Err(Access::Read));
        mmu.map(0x1000, 0x8000, MmuFlags::READ, None).unwrap();
        assert_eq!(mmu.touch(0x1234, Access::Write), Err(Access::Write));
        assert_eq!(mmu.touch(0x1234, Access::Execute), Err(Access::Execute));
        assert!(!mmu.harvest_accessed(0x1000));
        assert_eq!(mmu.touch(0x1234, Access::Read), Ok(0x8234));
        assert!(mmu.harvest_accessed(0x1000));
        assert!(!mmu.harvest_accessed(0x1000));
        let harvest = |mmu: &MockMmu| {
            let mut dirty = Vec::new();
            mmu.harvest_dirty(0, 0x4000, &mut |va| dirty.push(va));
            dirty
        };
        assert!(harvest(&mmu).is_empty());
        mmu.protect(0x1000, 0x1000, RW, &mut |_| {});
        assert_eq!(mmu.touch(0x1fff, Access::Write), Ok(0x8fff));
        let pte = mmu.pte(0x1000).unwrap();
        assert!(pte.accessed && pte.dirty);
        assert_eq!(harvest(&mmu), [0x1000]);
        assert!(harvest(&mmu).is_empty());
        // Unmapping and write-protecting report the dirty state they take.
        mmu.touch(0x1000, Access::Write).unwrap();
        let mut reported = Vec::new();
        mmu.protect(0x1000, 0x1000, RW, &mut |va| reported.push(va));
        assert!(reported.is_empty(), "a protect keeping WRITE keeps the dirty state");
        mmu.protect(0x1000, 0x1000, MmuFlags::READ, &mut |va| reported.push(va));
        assert_eq!(reported, [0x1000]);
        mmu.protect(0x1000, 0x1000, RW, &mut |_| {});
        mmu.touch(0x1000, Access::Write).unwrap();
        mmu.unmap(0x1000, 0x1000, &mut |va| reported.push(va));
        assert_eq!(reported, [0x1000, 0x1000]);
    }

    #[test]
    fn ranges_may_end_at_the_top_of_the_address_space() {
        let top = u64::MAX - PAGE_SIZE + 1;
        let mmu = MockMmu::with_range(top, PAGE_SIZE);
        mmu.map(top, 0x8000, RW, None).unwrap();
        mmu.protect(top, PAGE_SIZE, MmuFlags::READ, &mut |_| {});
        assert_eq!(mmu.query(top), Some((0x8000, MmuFlags::READ)));
        mmu.unmap(top, PAGE_SIZE, &mut |_| {});
        assert!(mmu.ptes().is_empty());
    }

    #[test]
    fn tables_come_from_the_frames_and_go_back() {
        let frames = std::sync::Arc::new(crate::mock::MockFrames::new(5));
        let mmu = MockMmu::with_tables_from(frames.clone()).unwrap();
        assert_eq!((mmu.table_frames(), frames.used()), (1, 1), "the root");
        mmu.map(MOCK_ASPACE_BASE, 0x8000, RW, None).unwrap();
        assert_eq!((mmu.table_frames(), frames.used()), (4, 4), "a table per level");
        mmu.map(MOCK_ASPACE_BASE + PAGE_SIZE, 0x9000, RW, None).unwrap();
        assert_eq!(frames.used(), 4, "the same 2 MiB: the same tables");
        assert_eq!(mmu.map(MOCK_ASPACE_BASE + (1 << 30), 0xa000, RW, None), Err(Status::NoMemory));
        assert_eq!(mmu.query(MOCK_ASPACE_BASE + (1 << 30)), None, "a failed map maps nothing");
        assert_eq!(frames.used(), 5, "the level-2 table taken before the level-3 one failed stays");
        mmu.unmap(MOCK_ASPACE_BASE, 2 * PAGE_SIZE, &mut |_| {});
        assert_eq!(frames.used(), 5, "tables stay until the address space goes");
        drop(mmu);
        assert_eq!(frames.used(), 0);
        assert!(MockMmu::with_tables_from(std::sync::Arc::new(crate::mock::MockFrames::new(0))).is_err());
    }

    #[test]
    #[should_panic(expected = "outside the address space")]
    fn refuses_addresses_outside_its_range() {
        MockMmu::with_range(0x10_0000, 0x10_0000).unmap(0x20_0000, PAGE_SIZE, &mut |_| {});
    }

    #[test]
    #[should_panic(expected = "execute-only")]
    fn refuses_execute_only_translations() {
        MockMmu::new().map(MOCK_ASPACE_BASE, 0x8000, MmuFlags::EXECUTE, None).unwrap();
    }
}

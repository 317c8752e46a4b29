//! The translation tables of one address space: a 4-level table (4 KiB
//! granule, 48-bit VA) with an ASID, changed with break-before-make and TLB
//! maintenance reaching every CPU that made the tables current (inner
//! shareable, or this CPU's alone when no other did), and the software half
//! of access-flag and dirty-state management for CPUs without FEAT_HAFDBS.

use super::asid::Asids;
use super::descriptor::{Descriptor, LeafAttributes, MemoryType};
use super::maintenance::{tlbi_operand, EntryWrite, Maintenance};
use super::table_memory::{TableMemory, ENTRIES};
use core::sync::atomic::{AtomicU64, Ordering::SeqCst};
use spin::Mutex;
pub use vm_core::fault::Access;
use vm_core::platform::{MmuFlags, PhysAddr, Translation};
use vm_core::Status;

/// Bytes of virtual address space (T0SZ = 16).
pub const VA_SIZE: u64 = 1 << 48;
/// The root entries below this index are shared with the kernel's identity
/// map (the first 512 GiB); an address space's own mappings start above.
pub const KERNEL_ROOT_ENTRIES: usize = 1;
/// The lowest VA an address space maps itself.
pub const USER_BASE: u64 = (KERNEL_ROOT_ENTRIES as u64) << 39;

const PAGE: u64 = 4096;
/// Above this many pages, an unmap or protect invalidates the whole ASID
/// instead of page by page.
pub const TLBI_PAGE_LIMIT: usize = 64;

/// Access permissions of a mapping.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Perms {
    pub read: bool,
    pub write: bool,
    pub execute: bool,
}

/// Which of the access flag and the dirty state the hardware manages
/// (`TCR_EL1.HA` and `TCR_EL1.HD` with FEAT_HAFDBS).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HwManaged {
    pub access_flag: bool,
    pub dirty: bool,
}

/// The fault the hardware takes for an access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HwFault {
    Translation { level: usize },
    AccessFlag,
    Permission,
}

/// Why a mapping could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// No frame for a translation table.
    NoMemory,
    /// The VA is outside the address space's own range.
    OutOfRange,
    /// Every ASID is in use.
    NoAsid,
}

/// The translation tables of one address space: a root table and its ASID.
pub struct TranslationTables<T: TableMemory, M: Maintenance> {
    tables: T,
    maint: M,
    root: u64,
    asid: u16,
    /// Where the ASID goes back when the address space is dropped.
    asids: Option<&'static Asids>,
    /// The CPUs whose TLBs may hold entries of the ASID, by bit: each that
    /// made these tables current since they were made ([`Self::enter_here`];
    /// a fresh ASID is in no TLB). Never cleared: a CPU that left keeps
    /// what it cached.
    cpus: AtomicU64,
    /// Serialises changes to the table structure and break-before-make
    /// sequences; hardware updates of AF and dirty state race with
    /// everything, so leaves are changed with compare-and-swap.
    lock: Mutex<()>,
}

/// The slot of one entry: its table and index, and the page whose walk
/// led there.
#[derive(Clone, Copy)]
struct Slot {
    table: u64,
    index: usize,
    va: u64,
}

const fn index(va: u64, level: usize) -> usize {
    ((va >> (39 - 9 * level)) & (ENTRIES as u64 - 1)) as usize
}

impl<T: TableMemory, M: Maintenance> TranslationTables<T, M> {
    /// Empty tables with `asid` whose first root entries are
    /// copied from `kernel_root` (the kernel's identity map), if given.
    pub fn new(tables: T, maint: M, asid: u16, kernel_root: Option<u64>) -> Result<Self, MapError> {
        let root = tables.alloc_table().ok_or(MapError::NoMemory)?;
        if let Some(k) = kernel_root {
            for i in 0..KERNEL_ROOT_ENTRIES {
                let d = tables.entry(k, i).load(SeqCst);
                tables.entry(root, i).store(d, SeqCst);
            }
        }
        Ok(TranslationTables {
            tables,
            maint,
            root,
            asid,
            asids: None,
            cpus: AtomicU64::new(0),
            lock: Mutex::new(()),
        })
    }

    /// Like [`TranslationTables::new`] with an ASID from `asids`, returned to it
    /// (after the TLBs are rid of it) when the tables are dropped.
    pub fn with_asid_from(
        tables: T,
        maint: M,
        asids: &'static Asids,
        kernel_root: Option<u64>,
    ) -> Result<Self, MapError> {
        let asid = asids.alloc().ok_or(MapError::NoAsid)?;
        let mut space = Self::new(tables, maint, asid, kernel_root).inspect_err(|_| asids.free(asid))?;
        space.asids = Some(asids);
        Ok(space)
    }

    pub fn asid(&self) -> u16 {
        self.asid
    }

    pub fn root(&self) -> u64 {
        self.root
    }

    /// The `TTBR0_EL1` value that selects these tables.
    pub fn ttbr0(&self) -> u64 {
        self.root | ((self.asid as u64) << 48)
    }

    /// Counts this CPU among those whose TLBs may hold these tables'
    /// entries, for it is about to make them current: returns the
    /// `TTBR0_EL1` value to write. The only way to make them current.
    ///
    /// The `DSB ISH` completes the count before this CPU's first walk. A
    /// break-before-make reads the CPUs only once its invalid entry is seen
    /// (after its `DSB ISHST`): one that missed this CPU made the entry
    /// invalid before this CPU's walks began, which find it invalid, so no
    /// TLB here holds the old one.
    pub fn enter_here(&self) -> u64 {
        self.cpus.fetch_or(1 << self.maint.this_cpu(), SeqCst);
        self.maint.asid_entered(self.asid);
        self.maint.dsb_ish();
        self.ttbr0()
    }

    pub fn tables(&self) -> &T {
        &self.tables
    }

    pub fn maintenance(&self) -> &M {
        &self.maint
    }

    fn entry(&self, slot: Slot) -> &AtomicU64 {
        self.tables.entry(slot.table, slot.index)
    }

    /// Tells the maintenance that `slot` went from `old` to `new`.
    fn written(&self, slot: Slot, old: u64, new: u64) {
        let entry = slot.table + slot.index as u64 * 8;
        self.maint.entry_written(EntryWrite { entry, va: slot.va, asid: self.asid, old, new });
    }

    fn store(&self, slot: Slot, d: Descriptor) {
        let old = self.entry(slot).swap(d.0, SeqCst);
        self.written(slot, old, d.0);
    }

    /// Replaces a leaf by compare-and-swap with `f(current)`, since the
    /// hardware may set AF or the dirty state at any moment. Returns the
    /// old and new leaf. Where `f` changes nothing, the load is the whole
    /// update: no store, and no exclusive pair.
    fn update(&self, slot: Slot, f: impl Fn(Descriptor) -> Descriptor) -> (Descriptor, Descriptor) {
        let entry = self.entry(slot);
        let mut old = entry.load(SeqCst);
        loop {
            let new = f(Descriptor(old));
            if new.0 == old {
                return (new, new);
            }
            match entry.compare_exchange(old, new.0, SeqCst, SeqCst) {
                Ok(_) => {
                    if new.0 != old {
                        self.written(slot, old, new.0);
                    }
                    return (Descriptor(old), new);
                }
                Err(current) => old = current,
            }
        }
    }

    fn check_range(va: u64, len: u64) -> Result<(), MapError> {
        let end = va.checked_add(len).ok_or(MapError::OutOfRange)?;
        if va < USER_BASE || end > VA_SIZE || !va.is_multiple_of(PAGE) || !len.is_multiple_of(PAGE) {
            return Err(MapError::OutOfRange);
        }
        Ok(())
    }

    /// The level 3 slot for `va`, creating tables on the way if `create`
    /// (under `lock`: two CPUs linking a table into one slot would lose one).
    #[inline(always)]
    fn leaf_slot(&self, va: u64, create: bool) -> Result<Option<Slot>, MapError> {
        let va = va & !(PAGE - 1);
        let mut table = self.root;
        for level in 0..3 {
            let slot = Slot { table, index: index(va, level), va };
            let d = Descriptor(self.entry(slot).load(SeqCst));
            table = if d.is_table(level) {
                d.output_address()
            } else if !create {
                return Ok(None);
            } else {
                let next = self.tables.alloc_table().ok_or(MapError::NoMemory)?;
                // The new table's zeroed entries must be visible to the
                // walker before the table is linked in.
                self.maint.dsb_ishst();
                self.store(slot, Descriptor::table(next));
                next
            };
        }
        Ok(Some(Slot { table, index: index(va, 3), va }))
    }

    /// The level 3 slot of `va`'s page if its tables exist; none past the
    /// VA range, where the walk does not start (the table indices would
    /// alias an address inside it).
    fn existing_slot(&self, va: u64) -> Option<Slot> {
        if va >= VA_SIZE {
            return None;
        }
        self.leaf_slot(va, false).ok().flatten()
    }

    /// Calls `f` for every valid leaf in `[va, va + len)`, skipping absent
    /// tables whole: the cost follows what is mapped, not the range's size.
    fn for_each_leaf(&self, va: u64, len: u64, mut f: impl FnMut(u64, Slot)) {
        let end = va + len;
        let mut addr = va;
        'outer: while addr < end {
            let mut table = self.root;
            for level in 0..3 {
                let d = Descriptor(self.tables.entry(table, index(addr, level)).load(SeqCst));
                if !d.is_table(level) {
                    let span = 1u64 << (39 - 9 * level);
                    addr = (addr & !(span - 1)) + span;
                    continue 'outer;
                }
                table = d.output_address();
            }
            let slot = Slot { table, index: index(addr, 3), va: addr };
            if Descriptor(self.entry(slot).load(SeqCst)).is_page() {
                f(addr, slot);
            }
            addr += PAGE;
        }
    }

    /// Invalidates the TLB entries of `pages` (already changed in the
    /// tables) on every core that may hold them: `DSB ISHST` so the table
    /// writes are seen first, TLBI by VA (or the whole ASID for many
    /// pages), `DSB ISH` to wait for completion, `ISB`. While no other CPU
    /// has made the tables current, no other TLB holds their entries
    /// ([`Self::enter_here`]): page by page, this CPU's TLBI (`TLBI VALE1`,
    /// `DSB NSH`) does it, with no broadcast for every other core to
    /// answer. Inlined: a COW fault's break-before-make calls it.
    #[inline(always)]
    fn invalidate(&self, pages: &[u64], many: bool) {
        if pages.is_empty() && !many {
            return;
        }
        self.maint.dsb_ishst();
        if many {
            self.maint.tlbi_aside1is((self.asid as u64) << 48);
            self.maint.dsb_ish();
        } else if self.cpus.load(SeqCst) & !(1 << self.maint.this_cpu()) == 0 {
            for &va in pages {
                self.maint.tlbi_vale1(tlbi_operand(va, self.asid));
            }
            self.maint.dsb_nsh();
        } else {
            for &va in pages {
                self.maint.tlbi_vale1is(tlbi_operand(va, self.asid));
            }
            self.maint.dsb_ish();
        }
        self.maint.isb();
    }

    /// Drops this CPU's TLB entries of `va`: after a change that only
    /// relaxed the entry, a stale stricter one here would fault again
    /// (others' faults drop theirs the same way), and no other CPU needs to
    /// see anything (Arm ARM D8.14: relaxing permissions or setting the
    /// access flag needs no break-before-make and no broadcast).
    fn invalidate_locally(&self, va: u64) {
        self.maint.dsb_ishst();
        self.maint.tlbi_vale1(tlbi_operand(va, self.asid));
        self.maint.dsb_nsh();
        self.maint.isb();
    }

    /// Whether `new` only relaxes `old`: the same page and memory type,
    /// no permission or access flag taken away.
    fn only_relaxes(old: Descriptor, new: Descriptor) -> bool {
        let (a, b) = (old.attributes(), new.attributes());
        old.output_address() == new.output_address()
            && a.memory == b.memory
            && (!a.writable || b.writable)
            && (!a.executable || b.executable)
            && (!old.hardware_writable() || new.hardware_writable())
            && (!a.accessed || b.accessed)
    }

    fn leaf(pa: u64, perms: Perms, memory: MemoryType) -> Descriptor {
        Descriptor::page(pa, LeafAttributes::new(memory, perms.write, perms.execute))
    }

    /// `leaf` as touched by `access`: accessed, and after a write, dirty
    /// (if writable). Nothing is cleared.
    fn touched(leaf: Descriptor, access: Option<Access>) -> Descriptor {
        match access {
            None => leaf,
            Some(Access::Write) => leaf.with_accessed(true).with_dirty(true),
            Some(Access::Read | Access::Execute) => leaf.with_accessed(true),
        }
    }

    /// Maps the page at `va` to `pa`, replacing any translation `va` had.
    /// A new translation starts not accessed and clean, unless it resolves
    /// a fault of `access` ([`Translation::map`]). Changing the output
    /// address of a valid entry breaks before making: invalid, `DSB ISHST`,
    /// TLBI, `DSB ISH`, then the new entry.
    pub fn map(&self, va: u64, pa: u64, perms: Perms, access: Option<Access>) -> Result<(), MapError> {
        self.map_as(va, pa, perms, MemoryType::Normal, access)
    }

    /// [`TranslationTables::map`] of `memory` rather than normal memory. A
    /// translation to the same page keeps the memory type it has (vm-core
    /// never changes a mapped VMO's cache policy).
    #[inline(always)]
    pub fn map_as(
        &self,
        va: u64,
        pa: u64,
        perms: Perms,
        memory: MemoryType,
        access: Option<Access>,
    ) -> Result<(), MapError> {
        Self::check_range(va, PAGE)?;
        if !perms.read {
            self.unmap(va, PAGE)?;
            return Ok(());
        }
        let _guard = self.lock.lock();
        let slot = self.leaf_slot(va, true)?.expect("created");
        let new = Self::touched(Self::leaf(pa, perms, memory), access);
        let old = Descriptor(self.entry(slot).load(SeqCst));
        if !old.is_page() {
            self.store(slot, new);
            self.maint.dsb_ishst();
            self.maint.isb();
        } else if old.output_address() == pa {
            let (old, new) = self.update(slot, |cur| Self::touched(Self::repermit(cur, perms), access));
            if Self::only_relaxes(old, new) {
                self.invalidate_locally(va);
            } else {
                self.invalidate(&[va], false);
            }
        } else {
            self.store(slot, Descriptor::INVALID);
            self.invalidate(&[va], false);
            self.store(slot, new);
            self.maint.dsb_ishst();
            self.maint.isb();
        }
        Ok(())
    }

    /// `cur` with permissions `perms`, keeping its output address, access
    /// flag, and dirty state while it stays writable.
    fn repermit(cur: Descriptor, perms: Perms) -> Descriptor {
        let a = cur.attributes();
        let mut next = LeafAttributes::new(a.memory, perms.write, perms.execute);
        next.accessed = a.accessed;
        next.dirty = a.dirty && perms.write;
        Descriptor::page(cur.output_address(), next)
    }

    /// Removes every translation in `[va, va + len)`; only pages that were
    /// mapped are invalidated in the TLBs.
    pub fn unmap(&self, va: u64, len: u64) -> Result<(), MapError> {
        self.unmap_reporting(va, len, &mut |_| {})
    }

    /// [`TranslationTables::unmap`], calling `dirty(va)` for each page
    /// whose entry was writable-dirty. Each entry is swapped out atomically,
    /// so a hardware dirty update either lands before (and is seen) or finds
    /// the entry invalid (and faults): a cached writable-clean translation
    /// cannot write without updating the entry first.
    pub fn unmap_reporting(&self, va: u64, len: u64, dirty: &mut dyn FnMut(u64)) -> Result<(), MapError> {
        Self::check_range(va, len)?;
        let _guard = self.lock.lock();
        let mut pages = alloc::vec::Vec::new();
        let mut written = alloc::vec::Vec::new();
        self.for_each_leaf(va, len, |addr, slot| {
            let old = Descriptor(self.entry(slot).swap(Descriptor::INVALID.0, SeqCst));
            self.written(slot, old.0, Descriptor::INVALID.0);
            if old.attributes().dirty {
                written.push(addr);
            }
            pages.push(addr);
        });
        self.invalidate(&pages, pages.len() > TLBI_PAGE_LIMIT);
        written.into_iter().for_each(dirty);
        Ok(())
    }

    /// Sets the permissions of every present translation in the range;
    /// without `read` the translations are removed. Permission changes keep
    /// the output address, so they need no break-before-make.
    pub fn protect(&self, va: u64, len: u64, perms: Perms) -> Result<(), MapError> {
        self.protect_reporting(va, len, perms, &mut |_| {})
    }

    /// [`TranslationTables::protect`], calling `dirty(va)` for each page
    /// whose writable-dirty entry loses WRITE (read and changed in one
    /// compare-and-swap).
    pub fn protect_reporting(
        &self,
        va: u64,
        len: u64,
        perms: Perms,
        dirty: &mut dyn FnMut(u64),
    ) -> Result<(), MapError> {
        if !perms.read {
            return self.unmap_reporting(va, len, dirty);
        }
        Self::check_range(va, len)?;
        let _guard = self.lock.lock();
        let mut pages = alloc::vec::Vec::new();
        let mut written = alloc::vec::Vec::new();
        self.for_each_leaf(va, len, |addr, slot| {
            let (old, new) = self.update(slot, |cur| Self::repermit(cur, perms));
            if old.attributes().dirty && !new.attributes().dirty {
                written.push(addr);
            }
            if old != new {
                pages.push(addr);
            }
        });
        self.invalidate(&pages, pages.len() > TLBI_PAGE_LIMIT);
        written.into_iter().for_each(dirty);
        Ok(())
    }

    /// Calls `dirty(va)` for each writable-dirty page in `[va, va + len)`
    /// and makes it writable-clean again, so the next write is recorded
    /// anew; visits only present tables.
    pub fn harvest_dirty_range(&self, va: u64, len: u64, dirty: &mut dyn FnMut(u64)) -> Result<(), MapError> {
        Self::check_range(va, len)?;
        let _guard = self.lock.lock();
        let mut written = alloc::vec::Vec::new();
        self.for_each_leaf(va, len, |addr, slot| {
            let (old, _) = self.update(slot, |cur| cur.with_dirty(false));
            if old.attributes().dirty {
                written.push(addr);
            }
        });
        self.invalidate(&written, written.len() > TLBI_PAGE_LIMIT);
        written.into_iter().for_each(dirty);
        Ok(())
    }

    /// The output address and permissions of `va`'s page, if mapped.
    pub fn query(&self, va: u64) -> Option<(u64, Perms)> {
        self.leaf_at(va).map(|d| {
            let a = d.attributes();
            (d.output_address(), Perms { read: true, write: a.writable, execute: a.executable })
        })
    }

    /// The page descriptor translating `va`, if any.
    pub fn leaf_at(&self, va: u64) -> Option<Descriptor> {
        let slot = self.existing_slot(va)?;
        let d = Descriptor(self.entry(slot).load(SeqCst));
        d.is_page().then_some(d)
    }

    /// Clears a leaf state bit through `clear`, invalidating the TLB entry
    /// if it was set; returns whether it was.
    fn harvest(
        &self,
        va: u64,
        is_set: fn(LeafAttributes) -> bool,
        clear: fn(Descriptor) -> Descriptor,
    ) -> bool {
        let Some(slot) = self.existing_slot(va) else { return false };
        let (old, _) = self.update(slot, |cur| if cur.is_page() { clear(cur) } else { cur });
        let was = old.is_page() && is_set(old.attributes());
        if was {
            self.invalidate(&[va & !(PAGE - 1)], false);
        }
        was
    }

    /// Whether `va`'s page was accessed since the last harvest; clears AF.
    pub fn harvest_accessed(&self, va: u64) -> bool {
        self.harvest(va, |a| a.accessed, |d| d.with_accessed(false))
    }

    /// Whether `va`'s page was written since the last harvest; makes it
    /// writable-clean again so the next write is seen.
    pub fn harvest_dirty(&self, va: u64) -> bool {
        self.harvest(va, |a| a.dirty, |d| d.with_dirty(false))
    }

    /// The software half of access-flag and dirty-state management: after an
    /// access-flag fault or a permission fault for `access` at `va`, sets AF
    /// and, for a write to a writable-clean page, the dirty state. Returns
    /// whether the leaf now permits the access, so that retrying it
    /// succeeds; false when the fault is the VM's (no translation, or one
    /// that does not allow `access`, such as a copy-on-write page).
    pub fn resolve_access_fault(&self, va: u64, access: Access) -> bool {
        let Some(slot) = self.existing_slot(va) else { return false };
        let allows = |d: Descriptor| {
            let a = d.attributes();
            d.is_page()
                && match access {
                    Access::Read => true,
                    Access::Write => a.writable,
                    Access::Execute => a.executable,
                }
        };
        let (_, new) = self.update(slot, |cur| {
            if allows(cur) {
                cur.with_accessed(true).with_dirty(cur.attributes().dirty || access == Access::Write)
            } else {
                cur
            }
        });
        if !allows(new) {
            return false;
        }
        // This CPU faulted on an entry that allows the access now (it or
        // another CPU just relaxed it): whatever it holds of `va` is stale.
        self.invalidate_locally(va & !(PAGE - 1));
        true
    }

    /// What the hardware does for `access` at `va`: the walk, the access
    /// flag and dirty updates it makes itself when `hw` says it manages
    /// them, or the fault it takes. Host tests use it as the MMU.
    pub fn translate(&self, va: u64, access: Access, hw: HwManaged) -> Result<u64, HwFault> {
        // Past the 48-bit VA range (T0SZ = 16) the walk does not start.
        if va >= VA_SIZE {
            return Err(HwFault::Translation { level: 0 });
        }
        let mut table = self.root;
        for level in 0..3 {
            let d = Descriptor(self.tables.entry(table, index(va, level)).load(SeqCst));
            if !d.is_table(level) {
                return Err(HwFault::Translation { level });
            }
            table = d.output_address();
        }
        let slot = Slot { table, index: index(va, 3), va: va & !(PAGE - 1) };
        let d = Descriptor(self.entry(slot).load(SeqCst));
        if !d.is_page() {
            return Err(HwFault::Translation { level: 3 });
        }
        let a = d.attributes();
        if !a.accessed {
            if !hw.access_flag {
                return Err(HwFault::AccessFlag);
            }
            self.update(slot, |cur| cur.with_accessed(true));
        }
        match access {
            Access::Execute if !a.executable => return Err(HwFault::Permission),
            Access::Write if !d.hardware_writable() => {
                if !(hw.dirty && a.writable) {
                    return Err(HwFault::Permission);
                }
                self.update(slot, |cur| cur.with_dirty(true));
            }
            _ => {}
        }
        Ok(d.output_address() | (va & (PAGE - 1)))
    }

    /// Frees the tables below `table` (at `level`), then `table` itself.
    fn free_tree(&self, table: u64, level: usize, first: usize) {
        if level < 3 {
            for i in first..ENTRIES {
                let d = Descriptor(self.tables.entry(table, i).load(SeqCst));
                if d.is_table(level) {
                    self.free_tree(d.output_address(), level + 1, 0);
                }
            }
        }
        self.tables.free_table(table);
    }
}

impl<T: TableMemory, M: Maintenance> Drop for TranslationTables<T, M> {
    /// Drops every translation of the ASID on every core, then frees the
    /// address space's own tables (not the kernel's shared ones) and the ASID.
    fn drop(&mut self) {
        self.invalidate(&[], true);
        self.maint.asid_retired(self.asid);
        self.free_tree(self.root, 0, KERNEL_ROOT_ENTRIES);
        if let Some(asids) = self.asids {
            asids.free(self.asid);
        }
    }
}

impl From<MmuFlags> for Perms {
    fn from(f: MmuFlags) -> Perms {
        Perms {
            read: f.contains(MmuFlags::READ),
            write: f.contains(MmuFlags::WRITE),
            execute: f.contains(MmuFlags::EXECUTE),
        }
    }
}

impl From<Perms> for MmuFlags {
    fn from(p: Perms) -> MmuFlags {
        let mut f = MmuFlags::empty();
        f.set(MmuFlags::READ, p.read);
        f.set(MmuFlags::WRITE, p.write);
        f.set(MmuFlags::EXECUTE, p.execute);
        f
    }
}

impl From<MapError> for Status {
    fn from(e: MapError) -> Status {
        match e {
            MapError::NoMemory => Status::NoMemory,
            MapError::OutOfRange => Status::OutOfRange,
            MapError::NoAsid => Status::NoResources,
        }
    }
}

/// vm-core's view of the tables. The root VMAR covers exactly
/// [`Translation::va_range`] and vm-core never asks for an execute-only
/// translation ([`Translation::can_map_execute_only`] is false), so a range
/// the tables refuse, or a translation without READ, is a bug in the layers
/// above: it panics, naming the range, rather than being dropped.
impl<T: TableMemory, M: Maintenance> Translation for TranslationTables<T, M> {
    fn va_range(&self) -> (u64, u64) {
        (USER_BASE, VA_SIZE - USER_BASE)
    }

    /// At EL1 a valid stage 1 translation is always readable.
    fn can_map_execute_only(&self) -> bool {
        false
    }

    // Inlined into the fault path, which calls it statically
    // (`Vmar::fault_with`), as is `prepare`: a call and return fewer each.
    #[inline(always)]
    fn map(&self, va: u64, frame: PhysAddr, flags: MmuFlags, access: Option<Access>) -> Result<(), Status> {
        let perms = Perms::from(flags);
        assert!(perms.read, "map of [{va:#x}, {:#x}) without READ ({flags:?})", va.wrapping_add(PAGE));
        match TranslationTables::map_as(self, va, frame, perms, MemoryType::of(flags), access) {
            Err(MapError::OutOfRange) => refused("map", va, PAGE),
            result => Ok(result?),
        }
    }

    #[inline(always)]
    fn prepare(&self, va: u64) -> Result<(), Status> {
        Self::check_range(va & !(PAGE - 1), PAGE).unwrap_or_else(|_| refused("prepare", va, PAGE));
        // Tables are freed only with the address space: once linked, the
        // walk finds them without the lock, which only creating needs.
        if self.leaf_slot(va, false)?.is_some() {
            return Ok(());
        }
        let _guard = self.lock.lock();
        Ok(self.leaf_slot(va, true).map(drop)?)
    }

    fn unmap(&self, va: u64, len: u64, dirty: &mut dyn FnMut(u64)) {
        if self.unmap_reporting(va, len, dirty).is_err() {
            refused("unmap", va, len)
        }
    }

    fn protect(&self, va: u64, len: u64, flags: MmuFlags, dirty: &mut dyn FnMut(u64)) {
        let perms = Perms::from(flags);
        assert!(perms.read, "protect of [{va:#x}, {:#x}) without READ ({flags:?})", va.wrapping_add(len));
        if self.protect_reporting(va, len, perms, dirty).is_err() {
            refused("protect", va, len)
        }
    }

    fn query(&self, va: u64) -> Option<(PhysAddr, MmuFlags)> {
        let memory = self.leaf_at(va)?.attributes().memory;
        TranslationTables::query(self, va).map(|(pa, perms)| (pa, MmuFlags::from(perms) | memory.mmu_flags()))
    }

    fn harvest_accessed(&self, va: u64) -> bool {
        TranslationTables::harvest_accessed(self, va)
    }

    fn harvest_dirty(&self, va: u64, len: u64, dirty: &mut dyn FnMut(u64)) {
        if self.harvest_dirty_range(va, len, dirty).is_err() {
            refused("harvest", va, len)
        }
    }
}

/// A range outside the tables' own, or misaligned, asked for through
/// [`Translation`]: a bug above the tables.
fn refused(what: &str, va: u64, len: u64) -> ! {
    panic!(
        "the translation tables refused {what} of [{va:#x}, {:#x}): outside [{USER_BASE:#x}, {VA_SIZE:#x}) or misaligned",
        va.wrapping_add(len)
    )
}

//! VMARs: the regions of an address space, and the mappings in them.
//!
//! One [`Vmar::new_root`] per address space. Regions nest (`allocate`) and
//! hold mappings of VMOs (`map`); `unmap`, `protect`, `op_range` and
//! `destroy` follow digest §2.12-§2.14 and `vmar_op_range.md`. Handle rights
//! are the zx layer's business; what is checked here is the regions' own
//! `CAN_MAP_*` permissions and each mapping's permission ceiling.
//!
//! Locking: the whole region tree of an address space sits under one lock,
//! which is never held while a VMO is asked to change pages, so the VMO's
//! invalidations ([`VmoMapping`](crate::vmo::VmoMapping)), which take only a
//! mapping's own lock, can never deadlock against it. Once no handle to any
//! region of an address space is left, the address space is destroyed: every
//! mapping is unmapped and lets go of its VMO.

pub(crate) mod mapping;
mod options;

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::sync::Mutex;

use crate::context::VmContext;
use crate::platform::{MmuFlags, Translation};
use crate::vmo::{next_koid, Vmo};
use crate::{Status, PAGE_SIZE};
use mapping::{Mapping, Run};
pub use options::{VmFlags, VmOptions, VmarOp};

type RegionId = u64;

/// The options `allocate` accepts (Zircon's `CreateSubVmar`).
const ALLOCATE_FLAGS: VmFlags = VmFlags::COMPACT
    .union(VmFlags::SPECIFIC)
    .union(VmFlags::CAN_MAP_SPECIFIC)
    .union(VmFlags::CAN_MAP_PERMS)
    .union(VmFlags::OFFSET_IS_UPPER_LIMIT);
/// The options `map` accepts.
const MAP_FLAGS: VmFlags = VmFlags::PERMS
    .union(VmFlags::SPECIFIC)
    .union(VmFlags::SPECIFIC_OVERWRITE)
    .union(VmFlags::CAN_MAP_PERMS)
    .union(VmFlags::MAP_RANGE)
    .union(VmFlags::REQUIRE_NON_RESIZABLE)
    .union(VmFlags::ALLOW_FAULTS)
    .union(VmFlags::OFFSET_IS_UPPER_LIMIT)
    .union(VmFlags::PERM_READ_IF_XOM_UNSUPPORTED)
    .union(VmFlags::FAULT_BEYOND_STREAM_SIZE);
/// The options `protect` accepts.
const PROTECT_FLAGS: VmFlags = VmFlags::PERMS.union(VmFlags::PERM_READ_IF_XOM_UNSUPPORTED);

/// A handle to a region of an address space (`zx_handle_t` of type VMAR
/// minus the rights). Its base, size and `CAN_MAP_*` never change; once the
/// region is destroyed every operation on it fails with `BAD_STATE`.
pub struct Vmar {
    space: Arc<AddressSpace>,
    id: RegionId,
    koid: u64,
    base: u64,
    size: u64,
    flags: VmFlags,
}

/// One address space: its translation tables and its region tree.
struct AddressSpace {
    ctx: Arc<VmContext>,
    mmu: Arc<dyn Translation>,
    /// The type behind `mmu`, for [`Vmar::fault_with`].
    mmu_type: core::any::TypeId,
    tree: Mutex<Tree>,
}

struct Tree {
    regions: BTreeMap<RegionId, Region>,
    next_id: RegionId,
}

struct Region {
    base: u64,
    size: u64,
    parent: Option<RegionId>,
    /// Sub-regions and mapping runs, by start address.
    children: BTreeMap<u64, Child>,
}

#[derive(Clone)]
enum Child {
    Region(RegionId),
    /// The run of the mapping that starts at the key.
    Mapping(Arc<Mapping>),
}

/// What lies in a range of a region, in address order, descending into
/// sub-regions.
enum Item {
    /// An unmapped hole.
    Gap,
    /// A sub-region overlapping the range (its contents follow).
    Region,
    /// Part of a mapping run: the run's region and start, and the part
    /// `[va, va + len)` inside the range.
    Mapping { region: RegionId, run_va: u64, mapping: Arc<Mapping>, va: u64, len: u64 },
}

/// What the fault path needs from the tree (see [`crate::fault`]).
pub(crate) struct FaultTarget {
    pub mapping: Arc<Mapping>,
    pub vmo_offset: u64,
    pub generation: u64,
}

fn page_aligned(x: u64) -> bool {
    x.is_multiple_of(PAGE_SIZE)
}

impl Tree {
    fn region(&self, id: RegionId) -> Result<&Region, Status> {
        self.regions.get(&id).ok_or(Status::BadState)
    }

    fn extent(&self, start: u64, child: &Child) -> u64 {
        match child {
            Child::Region(id) => self.regions[id].size,
            Child::Mapping(m) => m.run(start).map_or(0, |run| run.len),
        }
    }

    /// The children of `id` overlapping `[start, end)`, in address order.
    fn overlapping(&self, id: RegionId, start: u64, end: u64) -> Vec<(u64, u64, Child)> {
        let children = &self.regions[&id].children;
        let before = children.range(..start).next_back();
        before
            .into_iter()
            .chain(children.range(start..end))
            .map(|(&at, child)| (at, at + self.extent(at, child), child.clone()))
            .filter(|&(_, child_end, _)| child_end > start)
            .collect()
    }

    /// Lists what lies in `[start, end)` of region `id`, descending.
    fn walk(&self, id: RegionId, start: u64, end: u64, out: &mut Vec<Item>) {
        let mut cursor = start;
        for (at, child_end, child) in self.overlapping(id, start, end) {
            if at > cursor {
                out.push(Item::Gap);
            }
            let (lo, hi) = (at.max(start), child_end.min(end));
            match child {
                Child::Region(sub) => {
                    out.push(Item::Region);
                    self.walk(sub, lo, hi, out);
                }
                Child::Mapping(mapping) => {
                    out.push(Item::Mapping { region: id, run_va: at, mapping, va: lo, len: hi - lo })
                }
            }
            cursor = child_end;
        }
        if cursor < end {
            out.push(Item::Gap);
        }
    }

    /// The lowest base in region `id`, aligned to `align`, where `len` bytes
    /// are free and end at or below `limit`.
    fn find_spot(&self, id: RegionId, len: u64, align: u64, limit: u64) -> Option<u64> {
        let region = &self.regions[&id];
        let mut cursor = region.base;
        let ends = region
            .children
            .iter()
            .map(|(&at, child)| (at, at + self.extent(at, child)))
            .chain([(limit, limit)]);
        for (next, next_end) in ends {
            let candidate = cursor.checked_next_multiple_of(align)?;
            match candidate.checked_add(len) {
                Some(end) if end <= next.min(limit) => return Some(candidate),
                Some(_) if next < limit => {}
                _ => return None,
            }
            cursor = cursor.max(next_end);
        }
        None
    }

    fn insert_region(&mut self, parent: RegionId, base: u64, size: u64) -> RegionId {
        let id = self.next_id;
        self.next_id += 1;
        let region = Region { base, size, parent: Some(parent), children: BTreeMap::new() };
        self.regions.insert(id, region);
        self.child_map(parent).insert(base, Child::Region(id));
        id
    }

    fn child_map(&mut self, id: RegionId) -> &mut BTreeMap<u64, Child> {
        &mut self.regions.get_mut(&id).expect("child_map of a live region").children
    }

    /// Unmaps `[va, va + len)` of the run at `run_va` of `mapping` (a child of
    /// `region`). A mapping left without runs is unregistered and handed to
    /// `dead`, to be dropped once no lock is held.
    fn cut(
        &mut self,
        region: RegionId,
        run_va: u64,
        mapping: &Arc<Mapping>,
        va: u64,
        len: u64,
        dead: &mut Vec<Arc<Mapping>>,
    ) {
        let after = mapping.cut(run_va, va, len);
        let children = self.child_map(region);
        if va == run_va {
            children.remove(&run_va);
        }
        if let Some(after) = after {
            children.insert(after, Child::Mapping(mapping.clone()));
        }
        if mapping.is_empty() {
            mapping.unregister();
            dead.push(mapping.clone());
        }
    }

    /// Destroys region `id` and everything in it, and removes it from its
    /// parent.
    fn destroy(&mut self, id: RegionId, dead: &mut Vec<Arc<Mapping>>) {
        let Some(region) = self.regions.get(&id) else {
            return;
        };
        let children: Vec<(u64, Child)> =
            region.children.iter().map(|(&at, child)| (at, child.clone())).collect();
        let parent = region.parent;
        let base = region.base;
        for (at, child) in children {
            match child {
                Child::Region(sub) => self.destroy(sub, dead),
                Child::Mapping(mapping) => {
                    let len = mapping.run(at).map_or(0, |run| run.len);
                    self.cut(id, at, &mapping, at, len, dead);
                }
            }
        }
        self.regions.remove(&id);
        if let Some(parent) = parent {
            self.child_map(parent).remove(&base);
        }
    }
}

impl Drop for AddressSpace {
    fn drop(&mut self) {
        let mut dead = Vec::new();
        self.tree.get_mut().destroy(ROOT, &mut dead);
        drop(dead);
    }
}

/// The root region's id.
const ROOT: RegionId = 0;

impl Vmar {
    /// The root region of a new address space whose translations `mmu`
    /// holds. It covers exactly the range the tables translate
    /// ([`Translation::va_range`]), so no mapping can lie where the tables
    /// cannot put it, and may map anything anywhere
    /// (`CAN_MAP_READ|WRITE|EXECUTE|SPECIFIC`). `mmu`'s type is recorded,
    /// for [`Vmar::fault_with`].
    ///
    /// # Panics
    /// If that range is not page-aligned, is empty, or wraps: the platform
    /// sets up address spaces, not users.
    pub fn new_root<T: Translation + 'static>(ctx: &Arc<VmContext>, mmu: Arc<T>) -> Arc<Vmar> {
        let (base, size) = mmu.va_range();
        assert!(
            page_aligned(base) && page_aligned(size) && size > 0 && base.checked_add(size).is_some(),
            "bad address space {base:#x}+{size:#x}"
        );
        let flags = VmFlags::CAN_MAP_PERMS | VmFlags::CAN_MAP_SPECIFIC;
        let root = Region { base, size, parent: None, children: BTreeMap::new() };
        let tree = Tree { regions: BTreeMap::from([(ROOT, root)]), next_id: ROOT + 1 };
        let space = Arc::new(AddressSpace {
            ctx: ctx.clone(),
            mmu,
            mmu_type: core::any::TypeId::of::<T>(),
            tree: Mutex::new(tree),
        });
        Arc::new(Vmar { space, id: ROOT, koid: next_koid(), base, size, flags })
    }

    /// The kernel object id, unique among all objects.
    pub fn koid(&self) -> u64 {
        self.koid
    }

    /// The region's first address.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// The region's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The region's `CAN_MAP_*` flags.
    pub fn flags(&self) -> VmFlags {
        self.flags
    }

    /// Whether the address space can map execute-only pages
    /// ([`Translation::can_map_execute_only`]).
    pub fn can_map_execute_only(&self) -> bool {
        self.space.mmu.can_map_execute_only()
    }

    /// The VM context the address space belongs to.
    pub fn context(&self) -> &Arc<VmContext> {
        &self.space.ctx
    }

    /// Whether the region has not been destroyed.
    pub fn is_alive(&self) -> bool {
        self.space.tree.lock().regions.contains_key(&self.id)
    }

    fn contains(&self, addr: u64, len: u64) -> bool {
        addr >= self.base && len <= self.size && addr - self.base <= self.size - len
    }

    /// Where a new region of `len` bytes goes (Zircon's
    /// `CreateSubVmarInternal`): at `offset` for SPECIFIC(_OVERWRITE), else
    /// the lowest free spot (below `base + offset` with
    /// OFFSET_IS_UPPER_LIMIT). Returns the base and whether the caller must
    /// still check that the range is free.
    fn place(&self, tree: &Tree, options: VmOptions, offset: u64, len: u64) -> Result<(u64, bool), Status> {
        let flags = options.flags;
        let upper_limit = flags.contains(VmFlags::OFFSET_IS_UPPER_LIMIT);
        if flags.is_specific() && upper_limit {
            return Err(Status::InvalidArgs);
        }
        if !flags.is_specific() && !upper_limit && offset != 0 {
            return Err(Status::InvalidArgs);
        }
        if (flags.is_specific() || upper_limit) && !self.flags.contains(VmFlags::CAN_MAP_SPECIFIC) {
            return Err(Status::AccessDenied);
        }
        let align = options.alignment();
        if flags.is_specific() {
            if offset >= self.size || len > self.size - offset {
                return Err(Status::InvalidArgs);
            }
            let base = self.base + offset;
            if !base.is_multiple_of(align) {
                return Err(Status::InvalidArgs);
            }
            return Ok((base, true));
        }
        let limit = if upper_limit {
            if offset > self.size || len > offset {
                return Err(Status::InvalidArgs);
            }
            self.base + offset
        } else {
            self.base + self.size
        };
        let base = tree.find_spot(self.id, len, align, limit).ok_or(Status::NoResources)?;
        Ok((base, false))
    }

    /// `zx_vmar_allocate` (digest §2.12 rules for placement): a sub-region of
    /// `size` bytes with the `CAN_MAP_*` flags of `options`, which must be a
    /// subset of this region's (`ACCESS_DENIED`).
    ///
    /// `INVALID_ARGS` for options other than COMPACT, SPECIFIC,
    /// CAN_MAP_*, OFFSET_IS_UPPER_LIMIT and an alignment, a size of 0 or not
    /// page-aligned, a non-zero `offset` without SPECIFIC, or a specific
    /// range that is misaligned or outside this region; `ALREADY_EXISTS`
    /// when a specific range is taken; `NO_RESOURCES` when no spot is free;
    /// `BAD_STATE` when this region was destroyed.
    pub fn allocate(&self, options: VmOptions, offset: u64, size: u64) -> Result<Arc<Vmar>, Status> {
        let flags = options.flags;
        if !ALLOCATE_FLAGS.contains(flags) || size == 0 || !page_aligned(size) {
            return Err(Status::InvalidArgs);
        }
        if !self.flags.contains(flags & VmFlags::CAN_MAP_PERMS) {
            return Err(Status::AccessDenied);
        }
        let mut tree = self.space.tree.lock();
        tree.region(self.id)?;
        let (base, check_free) = self.place(&tree, options, offset, size)?;
        if check_free && !tree.overlapping(self.id, base, base + size).is_empty() {
            return Err(Status::AlreadyExists);
        }
        let flags = flags & (VmFlags::CAN_MAP_PERMS | VmFlags::CAN_MAP_SPECIFIC);
        let id = tree.insert_region(self.id, base, size);
        Ok(Arc::new(Vmar { space: self.space.clone(), id, koid: next_koid(), base, size, flags }))
    }

    /// `zx_vmar_map` (digest §2.12): maps `len` bytes of `vmo` from
    /// `vmo_offset` with the `PERM_*` of `options`; returns the address.
    ///
    /// The `CAN_MAP_*` bits of `options` (which the zx layer sets from the
    /// VMO handle's rights, as Zircon's `sys_vmar_map` does) together with
    /// the requested permissions bound what `protect` may later grant; they
    /// are clipped to this region's `CAN_MAP_*`.
    ///
    /// Errors in order: `INVALID_ARGS` for unknown options, WRITE without
    /// READ, MAP_RANGE with SPECIFIC_OVERWRITE, `len` 0 or misaligned, a
    /// misaligned `vmo_offset`; `ACCESS_DENIED` for permissions beyond this
    /// region's `CAN_MAP_*`; `OUT_OF_RANGE` when `vmo_offset + len`
    /// overflows; `NOT_SUPPORTED` for REQUIRE_NON_RESIZABLE on a resizable
    /// VMO or a discardable VMO without ALLOW_FAULTS; `BAD_STATE` when this
    /// region was destroyed; then placement as in [`Vmar::allocate`]
    /// (`ALREADY_EXISTS` on overlap unless SPECIFIC_OVERWRITE, which replaces
    /// the mappings it covers but gives `INVALID_ARGS` over a sub-region).
    /// MAP_RANGE then installs translations for the pages the VMO already has.
    /// EXECUTE without READ is `INVALID_ARGS` unless the tables can map
    /// execute-only pages; PERM_READ_IF_XOM_UNSUPPORTED adds READ when they
    /// cannot ([`VmOptions::resolve_xom`]). ALLOW_FAULTS and
    /// FAULT_BEYOND_STREAM_SIZE are accepted and change nothing here.
    pub fn map(
        &self,
        options: VmOptions,
        vmar_offset: u64,
        vmo: &Arc<Vmo>,
        vmo_offset: u64,
        len: u64,
    ) -> Result<u64, Status> {
        let xom = self.can_map_execute_only();
        let options = options.resolve_xom(xom);
        let flags = options.flags;
        let perms = flags.perms();
        if !MAP_FLAGS.contains(flags)
            || !flags.valid_protection(xom)
            || flags.contains(VmFlags::MAP_RANGE | VmFlags::SPECIFIC_OVERWRITE)
            || len == 0
            || !page_aligned(len)
            || !page_aligned(vmo_offset)
        {
            return Err(Status::InvalidArgs);
        }
        if !self.flags.can_map().contains(perms) {
            return Err(Status::AccessDenied);
        }
        if vmo_offset.checked_add(len).is_none() {
            return Err(Status::OutOfRange);
        }
        if (flags.contains(VmFlags::REQUIRE_NON_RESIZABLE) && vmo.is_resizable())
            || (vmo.is_discardable() && !flags.contains(VmFlags::ALLOW_FAULTS))
        {
            return Err(Status::NotSupported);
        }
        let mut dead = Vec::new();
        let (va, mapping) = {
            let mut tree = self.space.tree.lock();
            tree.region(self.id)?;
            let (va, check_free) = self.place(&tree, options, vmar_offset, len)?;
            let taken = if check_free { tree.overlapping(self.id, va, va + len) } else { Vec::new() };
            if !taken.is_empty() {
                if !flags.contains(VmFlags::SPECIFIC_OVERWRITE) {
                    return Err(Status::AlreadyExists);
                }
                if taken.iter().any(|(_, _, c)| matches!(c, Child::Region(_))) {
                    return Err(Status::InvalidArgs);
                }
                for (at, end, child) in taken {
                    if let Child::Mapping(m) = child {
                        let (lo, hi) = (at.max(va), end.min(va + len));
                        tree.cut(self.id, at, &m, lo, hi - lo, &mut dead);
                    }
                }
            }
            let ceiling = (flags.can_map() | perms) & self.flags.can_map();
            let run = Run { len, perms };
            let mapping = Mapping::new(vmo.clone(), self.space.mmu.clone(), va, vmo_offset, run, ceiling);
            tree.child_map(self.id).insert(va, Child::Mapping(mapping.clone()));
            (va, mapping)
        };
        drop(dead);
        if flags.contains(VmFlags::MAP_RANGE) {
            if let Err(status) = mapping.populate(va, len) {
                self.remove_mapping(va, &mapping);
                return Err(status);
            }
        }
        Ok(va)
    }

    /// Takes a mapping that `map` just created back out.
    fn remove_mapping(&self, va: u64, mapping: &Arc<Mapping>) {
        let mut dead = Vec::new();
        {
            let mut tree = self.space.tree.lock();
            if let Some(run) = mapping.run(va) {
                tree.cut(self.id, va, mapping, va, run.len, &mut dead);
            }
        }
        drop(dead);
    }

    /// `zx_vmar_unmap` (digest §2.13): unmaps `[addr, addr + len)`, cutting
    /// mappings that are partly covered and destroying sub-regions that are
    /// wholly covered. `op_children` says whether the caller may act on
    /// sub-regions (`ZX_RIGHT_OP_CHILDREN`).
    ///
    /// `INVALID_ARGS` for a misaligned `addr`, `len` 0 or misaligned, a range
    /// outside this region, a sub-region only partly covered, or any
    /// sub-region without `op_children`; `NOT_FOUND` when nothing is mapped
    /// there; `BAD_STATE` when this region was destroyed. On failure nothing
    /// changes.
    pub fn unmap(&self, addr: u64, len: u64, op_children: bool) -> Result<(), Status> {
        if !page_aligned(addr) || len == 0 || !page_aligned(len) {
            return Err(Status::InvalidArgs);
        }
        let mut dead = Vec::new();
        {
            let mut tree = self.space.tree.lock();
            tree.region(self.id)?;
            if !self.contains(addr, len) {
                return Err(Status::InvalidArgs);
            }
            let end = addr + len;
            let found = tree.overlapping(self.id, addr, end);
            for (at, child_end, child) in &found {
                if matches!(child, Child::Region(_)) && (!op_children || *at < addr || *child_end > end) {
                    return Err(Status::InvalidArgs);
                }
            }
            if found.is_empty() {
                return Err(Status::NotFound);
            }
            for (at, child_end, child) in found {
                match child {
                    Child::Region(sub) => tree.destroy(sub, &mut dead),
                    Child::Mapping(m) => {
                        let (lo, hi) = (at.max(addr), child_end.min(end));
                        tree.cut(self.id, at, &m, lo, hi - lo, &mut dead);
                    }
                }
            }
        }
        drop(dead);
        Ok(())
    }

    /// `zx_vmar_protect` (digest §2.13): gives every mapping in
    /// `[addr, addr + len)` the `PERM_*` of `options`. Raising permissions
    /// never grants hardware write access directly: pages become writable
    /// through a write fault, which forks shared copy-on-write pages and
    /// replaces the zero page.
    ///
    /// `INVALID_ARGS` for options other than PERM_* and
    /// PERM_READ_IF_XOM_UNSUPPORTED, an invalid protection (as for
    /// [`Vmar::map`]), a misaligned `addr`, `len` 0 or misaligned, a range
    /// outside this region, or a sub-region in the range without
    /// `op_children`; `NOT_FOUND` when part of the range is unmapped;
    /// `ACCESS_DENIED` when a mapping's ceiling does not allow the
    /// permissions; `BAD_STATE` when this region was destroyed. On failure
    /// nothing changes.
    pub fn protect(&self, options: VmOptions, addr: u64, len: u64, op_children: bool) -> Result<(), Status> {
        let xom = self.can_map_execute_only();
        let options = options.resolve_xom(xom);
        let perms = options.flags.perms();
        if !PROTECT_FLAGS.contains(options.flags)
            || !options.flags.valid_protection(xom)
            || !page_aligned(addr)
            || len == 0
            || !page_aligned(len)
        {
            return Err(Status::InvalidArgs);
        }
        let mut tree = self.space.tree.lock();
        tree.region(self.id)?;
        if !self.contains(addr, len) {
            return Err(Status::InvalidArgs);
        }
        let mut items = Vec::new();
        tree.walk(self.id, addr, addr + len, &mut items);
        for item in &items {
            match item {
                Item::Gap => return Err(Status::NotFound),
                Item::Region if !op_children => return Err(Status::InvalidArgs),
                Item::Region => {}
                Item::Mapping { mapping, .. } => {
                    if !mapping.ceiling().contains(perms) {
                        return Err(Status::AccessDenied);
                    }
                }
            }
        }
        for item in items {
            if let Item::Mapping { region, run_va, mapping, va, len } = item {
                let starts = mapping.protect(run_va, va, len, perms);
                let children = tree.child_map(region);
                for start in starts {
                    children.insert(start, Child::Mapping(mapping.clone()));
                }
            }
        }
        Ok(())
    }

    /// `zx_vmar_op_range` (digest §2.14, `vmar_op_range.md`): applies `op` to
    /// the VMO range behind each mapping in `[addr, addr + len)`; `len` is
    /// rounded up to pages. The zx layer checks the handle's rights and that
    /// the buffer is empty.
    ///
    /// `INVALID_ARGS` for `len` 0 or a misaligned `addr`; `BAD_STATE` when
    /// this region was destroyed; `OUT_OF_RANGE` for a range outside this
    /// region; then, in address order, `BAD_STATE` for an unmapped gap,
    /// `INVALID_ARGS` for a sub-region under COMMIT, DECOMMIT or ZERO, and
    /// `ACCESS_DENIED` for a mapping that can never be writable (COMMIT,
    /// DECOMMIT, ZERO) or readable (PREFETCH). Nothing is changed before all
    /// of these pass; the VMOs' own errors (e.g. `NOT_SUPPORTED` for
    /// DECOMMIT of a clone) stop the walk at that mapping.
    pub fn op_range(&self, op: VmarOp, addr: u64, len: u64) -> Result<(), Status> {
        let len = len.checked_next_multiple_of(PAGE_SIZE).ok_or(Status::InvalidArgs)?;
        if len == 0 || !page_aligned(addr) {
            return Err(Status::InvalidArgs);
        }
        let mut items = Vec::new();
        {
            let tree = self.space.tree.lock();
            tree.region(self.id)?;
            if !self.contains(addr, len) {
                return Err(Status::OutOfRange);
            }
            tree.walk(self.id, addr, addr + len, &mut items);
        }
        let (no_regions, needs) = match op {
            VmarOp::Commit | VmarOp::Decommit | VmarOp::Zero => (true, MmuFlags::WRITE),
            VmarOp::Prefetch => (false, MmuFlags::READ),
            VmarOp::MapRange | VmarOp::DontNeed | VmarOp::AlwaysNeed => (false, MmuFlags::empty()),
        };
        let mut pieces = Vec::new();
        for item in items {
            match item {
                Item::Gap => return Err(Status::BadState),
                Item::Region if no_regions => return Err(Status::InvalidArgs),
                Item::Region => {}
                Item::Mapping { mapping, va, len, .. } => {
                    if !mapping.ceiling().contains(needs) {
                        return Err(Status::AccessDenied);
                    }
                    pieces.push((mapping, va, len));
                }
            }
        }
        for (mapping, va, len) in pieces {
            let vmo = mapping.vmo();
            let offset = mapping.offset_of(va);
            match op {
                VmarOp::Commit => vmo.commit(offset, len)?,
                VmarOp::Decommit => vmo.decommit(offset, len)?,
                VmarOp::Zero => vmo.zero(offset, len)?,
                VmarOp::DontNeed => vmo.dont_need(offset, len)?,
                VmarOp::AlwaysNeed => vmo.always_need(offset, len)?,
                VmarOp::Prefetch => vmo.prefetch(offset, len)?,
                VmarOp::MapRange => mapping.populate(va, len)?,
            }
        }
        Ok(())
    }

    /// `zx_vmar_destroy`: unmaps everything in this region, destroys its
    /// sub-regions and removes it from its parent. `BAD_STATE` if it was
    /// already destroyed.
    pub fn destroy(&self) -> Result<(), Status> {
        let mut dead = Vec::new();
        {
            let mut tree = self.space.tree.lock();
            tree.region(self.id)?;
            tree.destroy(self.id, &mut dead);
        }
        drop(dead);
        Ok(())
    }

    /// The address space's translation and its context's allocator, as the
    /// trait objects vm-core holds.
    pub(crate) fn platform(&self) -> (&dyn Translation, &dyn crate::platform::FrameAllocator) {
        (&*self.space.mmu, &*self.space.ctx.frames)
    }

    /// Whether `tables` and `frames` are the address space's translation
    /// and its context's allocator under their own types
    /// ([`crate::platform::is_same_object`]).
    pub(crate) fn platform_is<T, F>(&self, tables: &T, frames: &F) -> bool
    where
        T: Translation + 'static,
        F: crate::platform::FrameAllocator + 'static,
    {
        let space = &self.space;
        crate::platform::is_same_object(&space.mmu, space.mmu_type, tables) && space.ctx.frames_are(frames)
    }

    /// The mapping that covers page `va` in this region or below, checked
    /// for `access` (`NOT_FOUND`, `ACCESS_DENIED`).
    #[inline(always)]
    pub(crate) fn fault_target(&self, va: u64, access: crate::fault::Access) -> Result<FaultTarget, Status> {
        let tree = self.space.tree.lock();
        let (mapping, run, generation) = self.mapping_at(&tree, va)?;
        if !run.perms.contains(access.required()) {
            return Err(Status::AccessDenied);
        }
        Ok(FaultTarget { vmo_offset: mapping.offset_of(va), mapping, generation })
    }

    /// The mapping covering `va` in this region or below, its run there and
    /// its generation; `NOT_FOUND` if there is none.
    #[inline(always)]
    fn mapping_at(&self, tree: &Tree, va: u64) -> Result<(Arc<Mapping>, Run, u64), Status> {
        let mut id = self.id;
        loop {
            let region = tree.regions.get(&id).ok_or(Status::NotFound)?;
            let (&at, child) = region.children.range(..=va).next_back().ok_or(Status::NotFound)?;
            match child {
                Child::Region(sub) if va - at < tree.regions[sub].size => id = *sub,
                Child::Mapping(mapping) => {
                    let (run, generation) = mapping
                        .run_and_generation(at)
                        .filter(|(run, _)| va - at < run.len)
                        .ok_or(Status::NotFound)?;
                    return Ok((mapping.clone(), run, generation));
                }
                Child::Region(_) => return Err(Status::NotFound),
            }
        }
    }

    /// The VMO mapped at `va` and the offset of `va` in it, if any; for
    /// reports such as a fatal page fault's.
    pub fn vmo_at(&self, va: u64) -> Option<(Arc<Vmo>, u64)> {
        let tree = self.space.tree.lock();
        let (mapping, ..) = self.mapping_at(&tree, va).ok()?;
        Some((mapping.vmo().clone(), mapping.offset_of(va)))
    }
}

//! The descriptor decoder and the table walker over arbitrary tables: an
//! address space over [`HostTables`] changed by a sequence of actions, raw
//! entry writes among them, checking that nothing panics and that the
//! walker, `query` and the changes agree.
//!
//! Raw writes keep one invariant the hardware's tables need too: a table
//! descriptor at level L (0-2) points at a table of level L+1 (one already
//! in the tree, or a fresh one), so every walk ends at a real table and no
//! table is seen at two levels. Before the tables are dropped, links that
//! share a table are cleared so that each is freed once.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use platform_virt::mmu::descriptor::{Descriptor, LeafAttributes, MemoryType};
use platform_virt::mmu::maintenance::Recorder;
use platform_virt::mmu::table_memory::{HostTables, TableMemory, ENTRIES};
use platform_virt::mmu::tables::{
    Access, HwFault, HwManaged, MapError, Perms, TranslationTables, KERNEL_ROOT_ENTRIES, USER_BASE, VA_SIZE,
};
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;

type Space = TranslationTables<Arc<HostTables>, Arc<Recorder>>;

const PAGE: u64 = 4096;
const CAPACITY: usize = 16;
/// A walk that needs neither the access flag nor the dirty state set by hardware.
const SW: HwManaged = HwManaged { access_flag: false, dirty: false };

/// A VA: near the tables' edges (level indices 0, 1, 2 or 511, so that
/// VAs share tables), or any 64-bit value.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Va {
    Near { l0: u8, l1: u8, l2: u8, l3: u8 },
    Raw(u64),
}

impl Va {
    fn get(self) -> u64 {
        let near = |i: u8| [0, 1, 2, 511][usize::from(i & 3)];
        match self {
            Va::Near { l0, l1, l2, l3 } => {
                (near(l0) << 39) | (near(l1) << 30) | (near(l2) << 21) | (u64::from(l3) << 12)
            }
            Va::Raw(va) => va,
        }
    }
}

/// A length: whole pages, or any 64-bit value.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Len {
    Pages(u16),
    Raw(u64),
}

impl Len {
    fn get(self) -> u64 {
        match self {
            Len::Pages(n) => u64::from(n) * PAGE,
            Len::Raw(len) => len,
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum AccessKind {
    Read,
    Write,
    Execute,
}

impl From<AccessKind> for Access {
    fn from(a: AccessKind) -> Access {
        match a {
            AccessKind::Read => Access::Read,
            AccessKind::Write => Access::Write,
            AccessKind::Execute => Access::Execute,
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
struct Hw {
    access_flag: bool,
    dirty: bool,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
struct P {
    read: bool,
    write: bool,
    execute: bool,
}

impl From<P> for Perms {
    fn from(p: P) -> Perms {
        Perms { read: p.read, write: p.write, execute: p.execute }
    }
}

/// Leaf attributes, for the encoder.
#[derive(Arbitrary, Debug, Clone, Copy)]
struct Attrs {
    memory: u8,
    writable: bool,
    dirty: bool,
    executable: bool,
    user: bool,
    global: bool,
    accessed: bool,
}

/// One step; `Write` stores `value` into entry `index` of the `table`-th
/// table in the tree (see [`write_raw`]).
#[derive(Arbitrary, Debug)]
enum Action {
    Write { table: u8, index: u16, value: u64 },
    Translate { va: Va, offset: u16, access: AccessKind, hw: Hw },
    Query { va: Va },
    Map { va: Va, pa: u64, perms: P, access: Option<AccessKind> },
    Unmap { va: Va, len: Len },
    Protect { va: Va, len: Len, perms: P },
    ResolveAccessFault { va: Va, access: AccessKind },
    HarvestAccessed { va: Va },
    HarvestDirty { va: Va, len: Len },
    Decode { raw: u64 },
    Encode { pa: u64, attrs: Attrs },
}

fuzz_target!(|actions: Vec<Action>| {
    let tables = Arc::new(HostTables::new(CAPACITY));
    let space = Space::new(tables.clone(), Arc::new(Recorder::default()), 7, None).expect("a root table");
    for action in actions {
        step(&space, &tables, action);
    }
    unshare(&space, &tables);
});

/// Whether `[va, va + len)` is a page-aligned range the tables map.
fn in_range(va: u64, len: u64) -> bool {
    va.checked_add(len)
        .is_some_and(|end| va >= USER_BASE && end <= VA_SIZE && (va | len).is_multiple_of(PAGE))
}

fn step(space: &Space, tables: &HostTables, action: Action) {
    match action {
        Action::Write { table, index, value } => write_raw(space, tables, table, index, value),
        Action::Translate { va, offset, access, hw } => {
            check_translate(space, va.get() | u64::from(offset & 0xfff), access.into(), hw)
        }
        Action::Query { va } => {
            let va = va.get();
            if let Some((pa, perms)) = space.query(va) {
                assert!(pa.is_multiple_of(PAGE) && perms.read, "query({va:#x}) = {pa:#x} {perms:?}");
            }
        }
        Action::Map { va, pa, perms, access } => {
            let (va, perms) = (va.get(), Perms::from(perms));
            let access = access.map(Access::from);
            match space.map(va, pa, perms, access) {
                Err(MapError::OutOfRange) => assert!(!in_range(va, PAGE), "map({va:#x}) refused"),
                Err(e) => assert!(in_range(va, PAGE) && e == MapError::NoMemory, "map({va:#x}): {e:?}"),
                Ok(()) => {
                    assert!(in_range(va, PAGE), "map({va:#x}) outside the range succeeded");
                    let want = perms.read.then_some((pa & 0x0000_ffff_ffff_f000, perms));
                    assert_eq!(space.query(va), want, "query after map({va:#x}, {pa:#x}, {perms:?})");
                    // A map that resolves a fault lets the access retry with no help.
                    let permitted = |a: Access| match a {
                        Access::Read => true,
                        Access::Write => perms.write,
                        Access::Execute => perms.execute,
                    };
                    if let Some(a) = access.filter(|&a| perms.read && permitted(a)) {
                        assert_eq!(
                            space.translate(va, a, SW),
                            Ok(want.unwrap().0),
                            "{a:?} after map({va:#x})"
                        );
                    }
                }
            }
        }
        Action::Unmap { va, len } => {
            let (va, len) = (va.get(), len.get());
            let before = pages_of(space, va, len);
            let mut dirty = Vec::new();
            let result = space.unmap_reporting(va, len, &mut |a| dirty.push(a));
            check_result("unmap", va, len, result, &dirty);
            if result.is_ok() {
                for (page, _) in before {
                    assert_eq!(space.query(page), None, "query({page:#x}) after unmap({va:#x}, {len:#x})");
                }
            }
        }
        Action::Protect { va, len, perms } => {
            let (va, len, perms) = (va.get(), len.get(), Perms::from(perms));
            let before = pages_of(space, va, len);
            let mut dirty = Vec::new();
            let result = space.protect_reporting(va, len, perms, &mut |a| dirty.push(a));
            check_result("protect", va, len, result, &dirty);
            if result.is_ok() {
                for (page, old) in before {
                    let want = old.filter(|_| perms.read).map(|(pa, _)| (pa, perms));
                    assert_eq!(space.query(page), want, "query({page:#x}) after protect({va:#x}, {len:#x})");
                }
            }
        }
        Action::ResolveAccessFault { va, access } => {
            let (va, access) = (va.get(), Access::from(access));
            if space.resolve_access_fault(va, access) {
                let retried = space.translate(va, access, SW);
                assert!(retried.is_ok(), "{access:?} at {va:#x} after its fault was resolved: {retried:?}");
            }
        }
        Action::HarvestAccessed { va } => {
            let va = va.get();
            space.harvest_accessed(va);
            assert!(!space.harvest_accessed(va), "{va:#x} accessed twice with no access between");
            if space.query(va).is_some() {
                let read = space.translate(va, Access::Read, SW);
                assert_eq!(read, Err(HwFault::AccessFlag), "read of {va:#x} after its AF was cleared");
            }
        }
        Action::HarvestDirty { va, len } => {
            let (va, len) = (va.get(), len.get());
            let mut dirty = Vec::new();
            let result = space.harvest_dirty_range(va, len, &mut |a| dirty.push(a));
            check_result("harvest_dirty_range", va, len, result, &dirty);
            if result.is_ok() {
                let mut again = Vec::new();
                space.harvest_dirty_range(va, len, &mut |a| again.push(a)).expect("in range");
                assert!(again.is_empty(), "dirty again with no write between: {again:x?}");
            }
        }
        Action::Decode { raw } => check_decode(Descriptor(raw)),
        Action::Encode { pa, attrs } => check_encode(pa, attrs),
    }
}

/// The first and last page of `[va, va + len)` and their translations, when
/// the range is valid.
fn pages_of(space: &Space, va: u64, len: u64) -> Vec<(u64, Option<(u64, Perms)>)> {
    if !in_range(va, len) || len == 0 {
        return Vec::new();
    }
    let mut pages = vec![va, va + len - PAGE];
    pages.dedup();
    pages.into_iter().map(|p| (p, space.query(p))).collect()
}

/// A range change succeeds exactly for valid ranges, and reports only
/// pages inside its range, each once and in order.
fn check_result(what: &str, va: u64, len: u64, result: Result<(), MapError>, dirty: &[u64]) {
    assert_eq!(result.is_ok(), in_range(va, len), "{what}({va:#x}, {len:#x}): {result:?}");
    assert!(
        dirty.iter().all(|&d| d.is_multiple_of(PAGE) && d >= va && d - va < len)
            && dirty.windows(2).all(|w| w[0] < w[1]),
        "{what}({va:#x}, {len:#x}) reported {dirty:x?}"
    );
}

/// The walker and `query` agree, and an access the walker allowed with the
/// hardware's help (which it recorded in the entry) is allowed without.
fn check_translate(space: &Space, va: u64, access: Access, hw: Hw) {
    let hw = HwManaged { access_flag: hw.access_flag, dirty: hw.dirty };
    let found = space.query(va);
    match space.translate(va, access, hw) {
        Ok(pa) => {
            assert_eq!(pa & (PAGE - 1), va & (PAGE - 1), "translate({va:#x}) = {pa:#x}");
            let (page, perms) = found.unwrap_or_else(|| panic!("translate({va:#x}) = {pa:#x}, query: none"));
            assert_eq!(page, pa & !(PAGE - 1), "translate({va:#x}) and query disagree");
            assert!(access != Access::Execute || perms.execute, "execute of {va:#x} without EXECUTE");
            assert_eq!(
                space.translate(va, access, SW),
                Ok(pa),
                "{access:?} at {va:#x} after the hardware's updates"
            );
        }
        Err(HwFault::Translation { level }) => {
            assert!(level <= 3 && found.is_none(), "translation fault at {va:#x}, query: {found:?}")
        }
        Err(HwFault::AccessFlag) => {
            assert!(
                !hw.access_flag && found.is_some(),
                "access flag fault at {va:#x} ({hw:?}), query: {found:?}"
            )
        }
        Err(HwFault::Permission) => {
            let perms = found.unwrap_or_else(|| panic!("permission fault at {va:#x}, query: none")).1;
            match access {
                Access::Read => panic!("permission fault for a read at {va:#x}"),
                Access::Write => {
                    assert!(!(hw.dirty && perms.write), "write to writable {va:#x} faulted ({hw:?})")
                }
                Access::Execute => assert!(!perms.execute, "execute of executable {va:#x} faulted"),
            }
        }
    }
}

/// Decoding is stable: re-encoding a leaf's fields and decoding them gives
/// the same fields, and the state changes touch only their own field.
fn check_decode(d: Descriptor) {
    let a = d.attributes();
    for re in [Descriptor::page(d.output_address(), a), Descriptor::block(d.output_address(), a)] {
        assert_eq!(
            (re.attributes(), re.output_address()),
            (a, d.output_address()),
            "{d:?} re-encoded as {re:?}"
        );
    }
    for accessed in [false, true] {
        assert_eq!(d.with_accessed(accessed).attributes(), LeafAttributes { accessed, ..a }, "{d:?}");
    }
    for dirty in [false, true] {
        let want = LeafAttributes { dirty: dirty && a.writable, ..a };
        let got = d.with_dirty(dirty);
        assert_eq!(got.attributes(), if a.writable { want } else { a }, "{d:?}.with_dirty({dirty})");
        assert!(!a.writable || got.hardware_writable() == dirty, "{d:?}.with_dirty({dirty})");
    }
}

/// Every field the encoder takes comes back from the decoder (dirtiness
/// only for writable leaves), and the encoding is a fixed point.
fn check_encode(pa: u64, x: Attrs) {
    let memory =
        [MemoryType::Normal, MemoryType::NormalNonCacheable, MemoryType::Device][usize::from(x.memory % 3)];
    let a = LeafAttributes {
        memory,
        writable: x.writable,
        dirty: x.dirty && x.writable,
        executable: x.executable,
        user: x.user,
        global: x.global,
        accessed: x.accessed,
    };
    let (page, block) = (Descriptor::page(pa, a), Descriptor::block(pa, a));
    for d in [page, block] {
        assert!(d.is_valid() && d.output_address() == pa & 0x0000_ffff_ffff_f000, "{d:?}");
        assert_eq!(d.attributes(), a, "{d:?}");
        assert_eq!(d.hardware_writable(), a.dirty, "{d:?}");
    }
    assert_eq!(Descriptor::page(page.output_address(), page.attributes()), page);
    assert!(!block.is_table(1) && !block.is_table(2) && !page.is_table(3));
}

/// The tables reachable from the root (from root entry `first_root` on),
/// each with its level, parents first.
fn tree(space: &Space, tables: &HostTables, first_root: usize) -> Vec<(u64, usize)> {
    let mut found = vec![(space.root(), 0)];
    let mut next = 0;
    while let Some(&(table, level)) = found.get(next) {
        next += 1;
        if level == 3 {
            continue;
        }
        let first = if level == 0 { first_root } else { 0 };
        for i in first..ENTRIES {
            let d = Descriptor(tables.entry(table, i).load(SeqCst));
            if d.is_table(level) && !found.iter().any(|&(t, _)| t == d.output_address()) {
                found.push((d.output_address(), level + 1));
            }
        }
    }
    found
}

/// Stores `value` into an entry of a table in the tree; a table descriptor
/// at levels 0-2 is pointed at a table of the next level, chosen by its
/// output address bits among those in the tree and a fresh one.
fn write_raw(space: &Space, tables: &HostTables, table: u8, index: u16, mut value: u64) {
    let all = tree(space, tables, 0);
    let (table, level) = all[usize::from(table) % all.len()];
    if Descriptor(value).is_table(level) {
        let below: Vec<u64> = all.iter().filter(|&&(_, l)| l == level + 1).map(|&(t, _)| t).collect();
        let choice = (Descriptor(value).output_address() >> 12) as usize % (below.len() + 1);
        match below.get(choice).copied().or_else(|| tables.alloc_table()) {
            Some(next) => value = (value & !0x0000_ffff_ffff_f000) | next,
            None => value &= !0b10,
        }
    }
    tables.entry(table, usize::from(index) % ENTRIES).store(value, SeqCst);
}

/// Clears every link to a table already linked from elsewhere in the part
/// of the tree the tables free when dropped, so that each is freed once.
fn unshare(space: &Space, tables: &HostTables) {
    let mut seen = vec![space.root()];
    for (table, level) in tree(space, tables, KERNEL_ROOT_ENTRIES) {
        if level == 3 {
            continue;
        }
        let first = if level == 0 { KERNEL_ROOT_ENTRIES } else { 0 };
        for i in first..ENTRIES {
            let entry = tables.entry(table, i);
            let d = Descriptor(entry.load(SeqCst));
            if d.is_table(level) {
                if seen.contains(&d.output_address()) {
                    entry.store(0, SeqCst);
                } else {
                    seen.push(d.output_address());
                }
            }
        }
    }
}

//! Host tests of address spaces over [`HostTables`] and the [`Recorder`]:
//! the tables the hardware would walk, and the instruction sequences.

use super::descriptor::Descriptor;
use super::maintenance::{Op, Recorder};
use super::table_memory::{HostTables, TableMemory};
use super::tables::{Access, HwFault, HwManaged, MapError, Perms, TranslationTables, USER_BASE};
use std::collections::BTreeMap;
use std::sync::Arc;

type Space = TranslationTables<Arc<HostTables>, Arc<Recorder>>;

const ASID: u16 = 5;
const VA: u64 = USER_BASE + 0x1234_5000;
const RW: Perms = Perms { read: true, write: true, execute: false };
const RO: Perms = Perms { read: true, write: false, execute: false };
const SW: HwManaged = HwManaged { access_flag: false, dirty: false };
const HW: HwManaged = HwManaged { access_flag: true, dirty: true };

fn space() -> (Space, Arc<HostTables>, Arc<Recorder>) {
    let tables = Arc::new(HostTables::new(64));
    let rec = Arc::new(Recorder::default());
    let s = TranslationTables::new(tables.clone(), rec.clone(), ASID, None).unwrap();
    (s, tables, rec)
}

/// The TLBI operand for `va`, written out independently of the code under
/// test: VA\[55:12\] in \[43:0\], ASID in \[63:48\].
fn operand(va: u64) -> u64 {
    ((ASID as u64) << 48) | ((va >> 12) & 0xfff_ffff_ffff)
}

/// Checks the architectural rules over a log, given the entries' values
/// before it:
/// - an entry that is valid is never overwritten with a different output
///   address: it must be made invalid, then `DSB ISHST`, a TLBI covering it,
///   and `DSB ISH` must complete before the new value is written;
/// - every TLBI follows a `DSB ISHST` issued after the last table write;
/// - every TLBI is followed by a `DSB ISH` before the log ends.
fn check_rules(log: &[Op], mut entries: BTreeMap<u64, u64>, tlbi_covers: impl Fn(u64, u64) -> bool) {
    #[derive(PartialEq)]
    enum Bbm {
        Invalidated,
        Synced,
        Flushed,
        Done,
    }
    let mut bbm: BTreeMap<u64, Bbm> = BTreeMap::new();
    let mut stores_since_dsb = false;
    let mut tlbi_pending = false;
    for op in log {
        match *op {
            Op::Write(pa, new) => {
                let old = Descriptor(entries.get(&pa).copied().unwrap_or(0));
                let new_d = Descriptor(new);
                if old.is_valid() && new_d.is_valid() && old.output_address() != new_d.output_address() {
                    panic!("entry {pa:#x}: output address changed while valid: {old:?} -> {new_d:?}");
                }
                if new_d.is_valid() && bbm.get(&pa).is_some_and(|s| *s != Bbm::Done) {
                    panic!("entry {pa:#x} re-made before invalid -> DSB ISHST -> TLBI -> DSB ISH completed");
                }
                if !new_d.is_valid() && old.is_valid() {
                    bbm.insert(pa, Bbm::Invalidated);
                } else {
                    bbm.remove(&pa);
                }
                entries.insert(pa, new);
                stores_since_dsb = true;
            }
            Op::DsbIshst => {
                stores_since_dsb = false;
                for s in bbm.values_mut() {
                    if *s == Bbm::Invalidated {
                        *s = Bbm::Synced;
                    }
                }
            }
            Op::TlbiVale1is(operand) | Op::TlbiAside1is(operand) => {
                assert!(!stores_since_dsb, "TLBI without a DSB ISHST after the table writes");
                tlbi_pending = true;
                for (pa, s) in bbm.iter_mut() {
                    if *s == Bbm::Synced && tlbi_covers(*pa, operand) {
                        *s = Bbm::Flushed;
                    }
                }
            }
            Op::DsbIsh => {
                tlbi_pending = false;
                for s in bbm.values_mut() {
                    if *s == Bbm::Flushed {
                        *s = Bbm::Done;
                    }
                }
            }
            _ => {}
        }
    }
    assert!(!tlbi_pending, "TLBI not completed by DSB ISH");
}

/// The entry address of `va`'s leaf, found by walking the host tables.
fn leaf_pa(tables: &HostTables, root: u64, va: u64) -> u64 {
    let mut table = root;
    for level in 0..3 {
        let i = ((va >> (39 - 9 * level)) & 511) as usize;
        table =
            Descriptor(tables.entry(table, i).load(core::sync::atomic::Ordering::SeqCst)).output_address();
    }
    table + ((va >> 12) & 511) * 8
}

fn leaf(tables: &HostTables, root: u64, va: u64) -> Descriptor {
    let pa = leaf_pa(tables, root, va);
    let (table, i) = (pa & !0xfff, ((pa & 0xfff) / 8) as usize);
    Descriptor(tables.entry(table, i).load(core::sync::atomic::Ordering::SeqCst))
}

#[test]
fn fresh_map_is_not_accessed_and_needs_no_tlbi() {
    let (s, tables, rec) = space();
    s.map(VA, 0x4000_0000, RW, None).unwrap();
    let d = leaf(&tables, s.root(), VA);
    assert!(d.is_valid());
    assert!(!d.attributes().accessed, "AF must start clear or accessed tracking is blind");
    assert!(d.attributes().writable && !d.attributes().dirty);
    let log = rec.take();
    assert!(!log.iter().any(|op| matches!(op, Op::TlbiVale1is(_) | Op::TlbiAside1is(_))));
    assert_eq!(log.last(), Some(&Op::Isb));
    assert_eq!(s.query(VA + 0x10), Some((0x4000_0000, RW)));
    assert!(!s.harvest_accessed(VA));
    check_rules(&log, BTreeMap::new(), |_, _| false);
}

#[test]
fn changing_the_output_address_breaks_before_make() {
    let (s, tables, rec) = space();
    s.map(VA, 0x4000_0000, RW, None).unwrap();
    let entries = snapshot(&tables, s.root(), VA);
    rec.take();
    s.map(VA, 0x4000_1000, RW, None).unwrap();
    let log = rec.take();
    let entry = leaf_pa(&tables, s.root(), VA);
    let new = leaf(&tables, s.root(), VA).0;
    assert_eq!(
        log,
        [
            Op::Write(entry, 0),
            Op::DsbIshst,
            Op::TlbiVale1is(operand(VA)),
            Op::DsbIsh,
            Op::Isb,
            Op::Write(entry, new),
            Op::DsbIshst,
            Op::Isb,
        ]
    );
    check_rules(&log, entries, |_, op| op == operand(VA));
    assert_eq!(s.query(VA).unwrap().0, 0x4000_1000);
}

/// The value of the leaf entry of `va`, keyed by its address, for
/// [`check_rules`].
fn snapshot(tables: &HostTables, root: u64, va: u64) -> BTreeMap<u64, u64> {
    BTreeMap::from([(leaf_pa(tables, root, va), leaf(tables, root, va).0)])
}

#[test]
fn the_rule_checker_catches_each_mistake() {
    let d = Descriptor::page(
        0x4000_0000,
        super::descriptor::LeafAttributes::new(super::descriptor::MemoryType::Normal, true, false),
    );
    let moved = Descriptor::page(0x4000_1000, d.attributes());
    let before = BTreeMap::from([(0x100, d.0)]);
    let covers = |_: u64, op: u64| op == 7;
    let caught = |log: std::vec::Vec<Op>| {
        let before = before.clone();
        std::panic::catch_unwind(move || check_rules(&log, before, covers)).is_err()
    };
    // Output address changed in place.
    assert!(caught(vec![Op::Write(0x100, moved.0), Op::DsbIshst]));
    // Invalidated but re-made without the TLBI.
    assert!(caught(vec![Op::Write(0x100, 0), Op::DsbIshst, Op::DsbIsh, Op::Write(0x100, moved.0)]));
    // TLBI without DSB ISHST after the store.
    assert!(caught(vec![Op::Write(0x100, 0), Op::TlbiVale1is(7), Op::DsbIsh]));
    // TLBI never completed.
    assert!(caught(vec![Op::Write(0x100, 0), Op::DsbIshst, Op::TlbiVale1is(7)]));
    // The right sequence passes.
    assert!(!caught(vec![
        Op::Write(0x100, 0),
        Op::DsbIshst,
        Op::TlbiVale1is(7),
        Op::DsbIsh,
        Op::Write(0x100, moved.0)
    ]));
}

#[test]
fn unmap_invalidates_only_mapped_pages_with_shifted_operands() {
    let (s, tables, rec) = space();
    let pages = [VA, VA + 0x3000, VA + (1 << 30)];
    for (i, va) in pages.iter().enumerate() {
        s.map(*va, 0x4000_0000 + i as u64 * 0x1000, RO, None).unwrap();
    }
    let mut entries = BTreeMap::new();
    for va in pages {
        entries.extend(snapshot(&tables, s.root(), va));
    }
    rec.take();
    // A 1 TiB range with three pages in it.
    s.unmap(USER_BASE, 1 << 40).unwrap();
    let log = rec.take();
    let tlbis: std::vec::Vec<u64> =
        log.iter().filter_map(|op| if let Op::TlbiVale1is(o) = op { Some(*o) } else { None }).collect();
    assert_eq!(tlbis, pages.map(operand));
    check_rules(&log, entries, |pa, op| {
        pages.iter().any(|va| leaf_pa(&tables, s.root(), *va) == pa && operand(*va) == op)
    });
    for va in pages {
        assert_eq!(s.query(va), None);
    }
}

#[test]
fn protect_downgrades_and_upgrades_without_granting_dirty() {
    for hw in [SW, HW] {
        let (s, tables, rec) = space();
        s.map(VA, 0x4000_0000, RW, None).unwrap();
        // Write: the page becomes dirty (by hardware, or by the fault path).
        if s.translate(VA, Access::Write, hw).is_err() {
            assert!(s.resolve_access_fault(VA, Access::Write));
        }
        assert!(leaf(&tables, s.root(), VA).attributes().dirty);
        rec.take();
        s.protect(VA, 0x1000, RO).unwrap();
        let log = rec.take();
        assert!(log.contains(&Op::TlbiVale1is(operand(VA))));
        assert_eq!(s.translate(VA, Access::Write, hw), Err(HwFault::Permission));
        assert!(!s.resolve_access_fault(VA, Access::Write), "a read-only page is the VM's business");
        s.protect(VA, 0x1000, RW).unwrap();
        let d = leaf(&tables, s.root(), VA);
        assert!(d.attributes().writable && !d.attributes().dirty, "upgrade must not grant a dirty page");
        assert!(d.attributes().accessed, "protect keeps the access flag");
    }
}

#[test]
fn dirty_and_accessed_answers_match_with_and_without_hafdbs() {
    for hw in [SW, HW] {
        let (s, _, _) = space();
        s.map(VA, 0x4000_0000, RW, None).unwrap();
        assert!(!s.harvest_accessed(VA) && !s.harvest_dirty(VA));
        // A read: accessed, not dirty.
        match s.translate(VA, Access::Read, hw) {
            Ok(pa) => assert_eq!(pa, 0x4000_0000),
            Err(f) => {
                assert_eq!(f, HwFault::AccessFlag);
                assert!(s.resolve_access_fault(VA, Access::Read));
                assert_eq!(s.translate(VA, Access::Read, hw), Ok(0x4000_0000));
            }
        }
        assert!(s.harvest_accessed(VA));
        assert!(!s.harvest_accessed(VA));
        assert!(!s.harvest_dirty(VA));
        // A write: dirty.
        if let Err(f) = s.translate(VA + 8, Access::Write, hw) {
            assert!(matches!(f, HwFault::AccessFlag | HwFault::Permission));
            assert!(s.resolve_access_fault(VA, Access::Write));
            assert_eq!(s.translate(VA + 8, Access::Write, hw), Ok(0x4000_0008));
        }
        assert!(s.harvest_dirty(VA));
        assert!(!s.harvest_dirty(VA), "harvest makes the page writable-clean again");
        assert_eq!(
            s.translate(VA, Access::Write, SW),
            Err(HwFault::Permission),
            "the next write is seen again"
        );
    }
}

/// A translation made for a fault's access starts as that access leaves
/// it, so the retried access takes no access-flag or dirty-state fault
/// where software manages them: a read's accessed, a write's also dirty
/// (harvested as written); a read-only one is never made dirty; remapping
/// the same frame for a read keeps what a write set.
#[test]
fn a_translation_made_for_a_fault_starts_touched_by_its_access() {
    let (s, _, _) = space();
    s.map(VA, 0x4000_0000, RW, Some(Access::Read)).unwrap();
    assert_eq!(s.translate(VA, Access::Read, SW), Ok(0x4000_0000), "no access-flag fault");
    assert_eq!(s.translate(VA, Access::Write, SW), Err(HwFault::Permission), "a read leaves it clean");
    assert!(s.harvest_accessed(VA) && !s.harvest_dirty(VA));
    s.map(VA, 0x4000_0000, RW, Some(Access::Write)).unwrap();
    assert_eq!(s.translate(VA + 8, Access::Write, SW), Ok(0x4000_0008), "no dirty-state fault");
    s.map(VA, 0x4000_0000, RW, Some(Access::Read)).unwrap();
    assert!(s.harvest_dirty(VA), "the write's dirty state stays and is reported");
    s.map(VA + 0x1000, 0x4000_1000, RO, Some(Access::Write)).unwrap();
    assert_eq!(s.translate(VA + 0x1000, Access::Write, SW), Err(HwFault::Permission));
    assert!(!s.harvest_dirty(VA + 0x1000), "a read-only translation is never dirty");
}

#[test]
fn execute_needs_an_executable_mapping() {
    let (s, _, _) = space();
    s.map(VA, 0x4000_0000, RW, None).unwrap();
    assert_eq!(s.translate(VA, Access::Execute, HW), Err(HwFault::Permission));
    assert!(!s.resolve_access_fault(VA, Access::Execute), "a fetch from a non-executable page is the VM's");
    s.protect(VA, 0x1000, Perms { read: true, write: false, execute: true }).unwrap();
    assert!(s.resolve_access_fault(VA, Access::Execute));
    assert_eq!(s.translate(VA, Access::Execute, HW), Ok(0x4000_0000));
    assert_eq!(s.translate(VA + 0x1000, Access::Read, HW), Err(HwFault::Translation { level: 3 }));
    assert_eq!(s.translate(VA + (1 << 39), Access::Read, HW), Err(HwFault::Translation { level: 0 }));
    assert_eq!(s.translate(VA + (1 << 30), Access::Read, HW), Err(HwFault::Translation { level: 1 }));
    assert_eq!(s.translate(VA + (1 << 21), Access::Read, HW), Err(HwFault::Translation { level: 2 }));
}

#[test]
fn kernel_range_and_misalignment_are_refused() {
    let (s, _, _) = space();
    assert_eq!(s.map(0x4000_0000, 0x4000_0000, RW, None), Err(MapError::OutOfRange));
    assert_eq!(s.map(1 << 48, 0x4000_0000, RW, None), Err(MapError::OutOfRange));
    assert_eq!(s.unmap(VA + 1, 0x1000), Err(MapError::OutOfRange));
    assert_eq!(s.unmap(VA, u64::MAX), Err(MapError::OutOfRange));
}

#[test]
fn drop_flushes_the_asid_and_frees_own_tables_only() {
    let tables = Arc::new(HostTables::new(64));
    let rec = Arc::new(Recorder::default());
    // A kernel root whose entry 0 points at a kernel table.
    let kernel_root = tables.alloc_table().unwrap();
    let kernel_l1 = tables.alloc_table().unwrap();
    tables.entry(kernel_root, 0).store(Descriptor::table(kernel_l1).0, core::sync::atomic::Ordering::SeqCst);
    let start = tables.free_count();
    {
        let s = TranslationTables::new(tables.clone(), rec.clone(), ASID, Some(kernel_root)).unwrap();
        assert_eq!(
            tables.entry(s.root(), 0).load(core::sync::atomic::Ordering::SeqCst),
            Descriptor::table(kernel_l1).0
        );
        s.map(VA, 0x4000_0000, RW, None).unwrap();
        s.map(VA + (1 << 40), 0x4000_1000, RW, None).unwrap();
        assert!(tables.free_count() < start);
        rec.take();
    }
    assert_eq!(tables.free_count(), start);
    let log = rec.take();
    assert!(log.contains(&Op::TlbiAside1is((ASID as u64) << 48)));
    check_rules(&log, BTreeMap::new(), |_, _| true);
}

#[test]
fn asid_comes_back_after_the_flush() {
    static ASIDS: super::asid::Asids = super::asid::Asids::new();
    let tables = Arc::new(HostTables::new(8));
    let rec = Arc::new(Recorder::default());
    let s = TranslationTables::with_asid_from(tables.clone(), rec.clone(), &ASIDS, None).unwrap();
    let asid = s.asid();
    assert_eq!(asid, 1);
    drop(s);
    assert!(rec.take().contains(&Op::TlbiAside1is((asid as u64) << 48)));
    assert_eq!(ASIDS.alloc(), Some(asid), "the ASID was returned");
}

/// Each harvest that finds its bit set clears it and drops the page's TLB
/// entries on every core by itself, with the exact sequence: the CAS'd
/// entry, `DSB ISHST`, `TLBI VALE1IS` for the page, `DSB ISH`, `ISB`. One
/// that finds it clear changes nothing and issues nothing.
#[test]
fn each_harvest_invalidates_the_page_it_clears() {
    for hw in [SW, HW] {
        let (s, tables, rec) = space();
        s.map(VA, 0x4000_0000, RW, None).unwrap();
        if s.translate(VA, Access::Write, hw).is_err() {
            assert!(s.resolve_access_fault(VA, Access::Write));
        }
        let entry = leaf_pa(&tables, s.root(), VA);
        let expected = |value: u64| {
            [Op::Write(entry, value), Op::DsbIshst, Op::TlbiVale1is(operand(VA)), Op::DsbIsh, Op::Isb]
        };
        rec.take();
        assert!(s.harvest_dirty(VA + 0x10));
        let cleaned = leaf(&tables, s.root(), VA);
        assert!(!cleaned.attributes().dirty && cleaned.attributes().accessed);
        assert_eq!(rec.take(), expected(cleaned.0), "dirty harvest");
        assert!(s.harvest_accessed(VA));
        let old = leaf(&tables, s.root(), VA);
        assert!(!old.attributes().accessed);
        assert_eq!(rec.take(), expected(old.0), "accessed harvest");
        assert!(!s.harvest_dirty(VA) && !s.harvest_accessed(VA));
        assert_eq!(rec.take(), [], "nothing to clear, nothing to invalidate");
    }
}

/// Through vm-core's seam a refused range or a translation without READ is
/// a bug above the tables: it panics instead of being dropped.
#[test]
fn the_seam_is_loud_about_what_the_tables_refuse() {
    use vm_core::platform::{MmuFlags, Translation};
    let (s, _, _) = space();
    let panics =
        |f: &dyn Fn(&Space)| std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&s))).is_err();
    assert!(
        panics(&|s| Translation::unmap(s, 0x4000_0000, 0x1000, &mut |_| {})),
        "unmap of the kernel's range"
    );
    assert!(panics(&|s| Translation::unmap(s, VA + 1, 0x1000, &mut |_| {})), "misaligned unmap");
    assert!(
        panics(&|s| Translation::protect(s, 1 << 48, 0x1000, MmuFlags::READ, &mut |_| {})),
        "protect beyond the range"
    );
    assert!(
        panics(&|s| Translation::protect(s, VA, 0x1000, MmuFlags::EXECUTE, &mut |_| {})),
        "execute-only protect"
    );
    assert!(
        panics(&|s| {
            let _ = Translation::map(s, VA, 0x4000_0000, MmuFlags::EXECUTE, None);
        }),
        "execute-only map"
    );
    assert!(
        panics(&|s| {
            let _ = Translation::map(s, 0x1000, 0x4000_0000, MmuFlags::READ, None);
        }),
        "map below the range"
    );
    // What the tables accept goes through.
    assert_eq!(Translation::map(&s, VA, 0x4000_0000, MmuFlags::READ | MmuFlags::EXECUTE, None), Ok(()));
    Translation::protect(&s, VA, 0x1000, MmuFlags::READ, &mut |_| {});
    assert_eq!(Translation::query(&s, VA), Some((0x4000_0000, MmuFlags::READ)));
    Translation::unmap(&s, VA, 0x1000, &mut |_| {});
    assert_eq!(Translation::query(&s, VA), None);
}

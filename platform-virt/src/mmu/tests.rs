//! Host tests of address spaces over [`HostTables`] and the [`Recorder`]:
//! the tables the hardware would walk, and the instruction sequences,
//! checked against [`rules`](super::rules) as the target's real ones are.

use super::descriptor::{Descriptor, LeafAttributes, MemoryType};
use super::maintenance::{EntryWrite, Op, Recorder};
use super::rules::{check, Violation};
use super::table_memory::{HostTables, TableMemory};
use super::tables::{Access, HwFault, HwManaged, MapError, Perms, TranslationTables, USER_BASE};
use std::sync::Arc;

type Space = TranslationTables<Arc<HostTables>, Arc<Recorder>>;

const ASID: u16 = 5;
const VA: u64 = USER_BASE + 0x1234_5000;
const RW: Perms = Perms { read: true, write: true, execute: false };
const RO: Perms = Perms { read: true, write: false, execute: false };
const SW: HwManaged = HwManaged { access_flag: false, dirty: false };
const HW: HwManaged = HwManaged { access_flag: true, dirty: true };

/// Tables that CPU 1 has made current, so that their changes must reach
/// other CPUs' TLBs; the recorder stands for CPU 0 and has nothing logged.
fn space() -> (Space, Arc<HostTables>, Arc<Recorder>) {
    let (s, tables, rec) = space_alone();
    rec.set_cpu(1);
    s.enter_here();
    rec.set_cpu(0);
    rec.take();
    (s, tables, rec)
}

/// Tables no CPU has made current yet.
fn space_alone() -> (Space, Arc<HostTables>, Arc<Recorder>) {
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

/// The write of `entry` (of `va`'s walk in [`ASID`]) from `old` to `new`.
fn write(entry: u64, va: u64, old: u64, new: u64) -> Op {
    Op::Write(EntryWrite { entry, va, asid: ASID, old, new })
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
    assert_eq!(check(&log), Ok(()));
}

#[test]
fn changing_the_output_address_breaks_before_make() {
    let (s, tables, rec) = space();
    s.map(VA, 0x4000_0000, RW, None).unwrap();
    let old = leaf(&tables, s.root(), VA).0;
    rec.take();
    s.map(VA, 0x4000_1000, RW, None).unwrap();
    let log = rec.take();
    let entry = leaf_pa(&tables, s.root(), VA);
    let new = leaf(&tables, s.root(), VA).0;
    assert_eq!(
        log,
        [
            write(entry, VA, old, 0),
            Op::DsbIshst,
            Op::TlbiVale1is(operand(VA)),
            Op::DsbIsh,
            Op::Isb,
            write(entry, VA, 0, new),
            Op::DsbIshst,
            Op::Isb,
        ]
    );
    assert_eq!(check(&log), Ok(()));
    assert_eq!(s.query(VA).unwrap().0, 0x4000_1000);
}

/// Each rule the checker knows, broken once; the right sequence, and the
/// same sequence with the TLBI of another VA or ASID.
#[test]
fn the_rule_checker_catches_each_mistake() {
    let d = Descriptor::page(0x4000_0000, LeafAttributes::new(MemoryType::Normal, true, false));
    let moved = Descriptor::page(0x4000_1000, d.attributes()).0;
    let (break_, make) = (write(0x100, VA, d.0, 0), write(0x100, VA, 0, moved));
    let Op::Write(w) = make else { unreachable!() };
    let tlbi = Op::TlbiVale1is(operand(VA));
    assert_eq!(
        check(&[write(0x100, VA, d.0, moved), Op::DsbIshst]),
        Err(Violation::MovedWhileValid(EntryWrite { old: d.0, ..w })),
        "output address changed in place"
    );
    assert_eq!(
        check(&[break_, Op::DsbIshst, Op::DsbIsh, make]),
        Err(Violation::RemadeTooEarly(w)),
        "invalidated but re-made without the TLBI"
    );
    assert_eq!(
        check(&[break_, tlbi, Op::DsbIsh]),
        Err(Violation::TlbiBeforeDsb(tlbi)),
        "TLBI without DSB ISHST after the store"
    );
    assert_eq!(check(&[break_, Op::DsbIshst, tlbi]), Err(Violation::TlbiNotCompleted));
    assert_eq!(check(&[break_, Op::DsbIshst, tlbi, Op::DsbIsh, make]), Ok(()), "the right sequence");
    for other in [Op::TlbiVale1is(operand(VA + 0x1000)), Op::TlbiAside1is(((ASID as u64) + 1) << 48)] {
        assert_eq!(
            check(&[break_, Op::DsbIshst, other, Op::DsbIsh, make]),
            Err(Violation::RemadeTooEarly(w)),
            "{other:?} does not cover the entry"
        );
    }
    assert_eq!(
        check(&[break_, Op::DsbIshst, Op::TlbiAside1is((ASID as u64) << 48), Op::DsbIsh, make]),
        Ok(()),
        "the whole ASID covers it"
    );
}

/// A local TLBI only clears this CPU's TLB: it never stands in for the
/// broadcast of break-before-make, and it too must be completed.
#[test]
fn a_local_tlbi_does_not_break_before_make() {
    let d = Descriptor::page(0x4000_0000, LeafAttributes::new(MemoryType::Normal, true, false));
    let moved = Descriptor::page(0x4000_1000, d.attributes()).0;
    let (break_, make) = (write(0x100, VA, d.0, 0), write(0x100, VA, 0, moved));
    let Op::Write(w) = make else { unreachable!() };
    let local = Op::TlbiVale1(operand(VA));
    let entered = |cpu| Op::Entered { asid: ASID, cpu };
    let seq = [entered(1), break_, Op::DsbIshst, local, Op::DsbNsh, make];
    assert_eq!(check(&seq), Err(Violation::RemadeTooEarly(w)), "CPU 1 may hold the old entry");
    assert_eq!(check(&seq[1..]), Ok(()), "no other CPU made the ASID current");
    assert_eq!(check(&[&[entered(0)], &seq[1..]].concat()), Ok(()), "only this CPU did");
    assert_eq!(check(&[&seq[..1], &[Op::Retired(ASID)], &seq[1..]].concat()), Ok(()), "retired since");
    let other_asid = Op::Entered { asid: ASID + 1, cpu: 1 };
    assert_eq!(check(&[&[other_asid], &seq[1..]].concat()), Ok(()), "another ASID elsewhere");
    // CPU 1 made it current after the invalid entry was seen: its walks
    // see that entry.
    assert_eq!(check(&[break_, Op::DsbIshst, entered(1), local, Op::DsbNsh, make]), Ok(()));
    assert_eq!(
        check(&[break_, Op::DsbIshst, local, make]),
        Err(Violation::RemadeTooEarly(w)),
        "not completed"
    );
    let elsewhere = Op::TlbiVale1(operand(VA + 0x1000));
    assert_eq!(
        check(&[break_, Op::DsbIshst, elsewhere, Op::DsbNsh, make]),
        Err(Violation::RemadeTooEarly(w))
    );
    assert_eq!(check(&[Op::DsbIshst, local]), Err(Violation::TlbiNotCompleted));
    assert_eq!(check(&[break_, local, Op::DsbNsh]), Err(Violation::TlbiBeforeDsb(local)));
    assert_eq!(check(&[Op::DsbIshst, local, Op::DsbNsh, Op::Isb]), Ok(()));
}

/// Tables that no other CPU made current change with this CPU's TLBI
/// alone; once another has (even one that has left since, whose TLBs keep
/// what they cached), the TLBI is broadcast. Dropped, the tables rid every
/// TLB of their ASID, then retire it.
#[test]
fn only_the_cpus_that_made_the_tables_current_are_invalidated() {
    let (s, _tables, rec) = space_alone();
    let broadcast = |log: &[Op]| log.iter().any(|op| matches!(op, Op::TlbiVale1is(_) | Op::TlbiAside1is(_)));
    let mut log = Vec::new();
    s.enter_here();
    s.map(VA, 0x4000_0000, RW, Some(Access::Write)).unwrap();
    log.extend(rec.take());
    s.map(VA, 0x4000_1000, RW, Some(Access::Write)).unwrap();
    let moved = rec.take();
    assert!(!broadcast(&moved), "{moved:?}");
    assert!(moved.contains(&Op::TlbiVale1(operand(VA))) && moved.contains(&Op::DsbNsh), "{moved:?}");
    log.extend(moved);
    s.unmap(VA, 0x1000).unwrap();
    let unmapped = rec.take();
    assert!(!broadcast(&unmapped) && unmapped.contains(&Op::TlbiVale1(operand(VA))), "{unmapped:?}");
    log.extend(unmapped);
    // CPU 2 makes the tables current.
    rec.set_cpu(2);
    assert_eq!(s.enter_here(), s.ttbr0());
    rec.set_cpu(0);
    let entered = rec.take();
    assert_eq!(entered, [Op::Entered { asid: ASID, cpu: 2 }, Op::DsbIsh]);
    log.extend(entered);
    s.map(VA, 0x4000_0000, RW, Some(Access::Write)).unwrap();
    s.map(VA, 0x4000_2000, RW, Some(Access::Write)).unwrap();
    let moved = rec.take();
    assert!(moved.contains(&Op::TlbiVale1is(operand(VA))) && moved.contains(&Op::DsbIsh), "{moved:?}");
    log.extend(moved);
    drop(s);
    let dropped = rec.take();
    assert_eq!(
        dropped,
        [Op::DsbIshst, Op::TlbiAside1is((ASID as u64) << 48), Op::DsbIsh, Op::Isb, Op::Retired(ASID)]
    );
    log.extend(dropped);
    assert_eq!(check(&log), Ok(()));
}

/// Relaxing an entry (write permission granted, the access flag or dirty
/// state set) needs no broadcast: the CPU that resolves the fault drops its
/// own stale entry, with a local TLBI, whether or not it made the change
/// (another CPU's fault may have). Taking permission away broadcasts.
#[test]
fn relaxations_invalidate_locally_and_restrictions_broadcast() {
    let (s, _tables, rec) = space();
    let broadcast = |log: &[Op]| log.iter().any(|op| matches!(op, Op::TlbiVale1is(_) | Op::TlbiAside1is(_)));
    s.map(VA, 0x4000_0000, RO, None).unwrap();
    rec.take();
    s.map(VA, 0x4000_0000, RW, Some(Access::Write)).unwrap();
    let log = rec.take();
    assert!(!broadcast(&log) && log.contains(&Op::TlbiVale1(operand(VA))), "read-only to writable: {log:?}");
    assert_eq!(check(&log), Ok(()));
    s.map(VA, 0x4000_0000, RO, None).unwrap();
    let log = rec.take();
    assert!(log.contains(&Op::TlbiVale1is(operand(VA))), "writable to read-only broadcasts: {log:?}");
    assert_eq!(check(&log), Ok(()));
    // A writable-clean page: the first write's fault, then a second CPU's
    // stale fault on the same, already dirty entry.
    s.map(VA, 0x4000_0000, RW, None).unwrap();
    rec.take();
    for _ in 0..2 {
        assert!(s.resolve_access_fault(VA, Access::Write));
        let log = rec.take();
        assert!(!broadcast(&log) && log.contains(&Op::TlbiVale1(operand(VA))), "{log:?}");
        assert_eq!(check(&log), Ok(()));
    }
}

#[test]
fn unmap_invalidates_only_mapped_pages_with_shifted_operands() {
    let (s, _, rec) = space();
    let pages = [VA, VA + 0x3000, VA + (1 << 30)];
    for (i, va) in pages.iter().enumerate() {
        s.map(*va, 0x4000_0000 + i as u64 * 0x1000, RO, None).unwrap();
    }
    rec.take();
    // A 1 TiB range with three pages in it.
    s.unmap(USER_BASE, 1 << 40).unwrap();
    let log = rec.take();
    let tlbis: std::vec::Vec<u64> =
        log.iter().filter_map(|op| if let Op::TlbiVale1is(o) = op { Some(*o) } else { None }).collect();
    assert_eq!(tlbis, pages.map(operand));
    assert_eq!(check(&log), Ok(()));
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
    assert_eq!(check(&log), Ok(()));
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
        let expected = |old: Descriptor, new: Descriptor| {
            [write(entry, VA, old.0, new.0), Op::DsbIshst, Op::TlbiVale1is(operand(VA)), Op::DsbIsh, Op::Isb]
        };
        let written = leaf(&tables, s.root(), VA);
        rec.take();
        assert!(s.harvest_dirty(VA + 0x10));
        let cleaned = leaf(&tables, s.root(), VA);
        assert!(!cleaned.attributes().dirty && cleaned.attributes().accessed);
        assert_eq!(rec.take(), expected(written, cleaned), "dirty harvest");
        assert!(s.harvest_accessed(VA));
        let unaccessed = leaf(&tables, s.root(), VA);
        assert!(!unaccessed.attributes().accessed);
        assert_eq!(rec.take(), expected(cleaned, unaccessed), "accessed harvest");
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

/// One operation after another on one address space, as one CPU issues
/// them (maps, remaps to other frames, accesses, protects and unmaps of a
/// few pages and of more than the TLBI page limit, harvests, the drop):
/// the whole sequence obeys the rules, on both dirty-state paths.
#[test]
fn a_long_mixed_sequence_obeys_the_rules() {
    const PAGES: u64 = super::tables::TLBI_PAGE_LIMIT as u64 + 16;
    const LEN: u64 = PAGES * 0x1000;
    for hw in [SW, HW] {
        let (s, _, rec) = space();
        let page = |i: u64| VA + i * 0x1000;
        for i in 0..PAGES {
            s.map(page(i), 0x4000_0000 + i * 0x1000, RW, None).unwrap();
            if s.translate(page(i), Access::Write, hw).is_err() {
                assert!(s.resolve_access_fault(page(i), Access::Write));
            }
        }
        s.protect(page(0), LEN, RO).unwrap();
        s.protect(page(0), 4 * 0x1000, RW).unwrap();
        s.map(page(1), 0x5000_0000, RW, Some(Access::Write)).unwrap();
        s.harvest_dirty_range(page(0), LEN, &mut |_| {}).unwrap();
        assert!(s.harvest_accessed(page(2)));
        s.unmap(page(0), 2 * 0x1000).unwrap();
        s.map(page(0), 0x5000_1000, RO, Some(Access::Read)).unwrap();
        s.unmap(page(0), LEN).unwrap();
        s.map(page(3), 0x5000_2000, RW, None).unwrap();
        drop(s);
        assert_eq!(check(&rec.take()), Ok(()));
    }
}

/// Found by reading while writing the `tables` fuzz target: a level-3
/// entry with bits \[1:0\] = `0b01` is reserved, and the hardware faults on
/// it as on an invalid one; nor does it walk past the 48-bit VA range,
/// where the index bits alone would alias a lower address.
#[test]
fn reserved_leaves_and_addresses_past_the_va_range_fault() {
    let (s, tables, _rec) = space();
    s.map(VA, 0x4000_0000, RW, Some(Access::Write)).unwrap();
    assert_eq!(s.translate(VA, Access::Read, SW), Ok(0x4000_0000));
    let alias = VA | (1 << 48);
    assert_eq!(s.translate(alias, Access::Read, HW), Err(HwFault::Translation { level: 0 }));
    assert_eq!(s.query(alias), None);
    // The fuzz target's crash-24cafb50: the software access-flag path
    // resolved a fault at an alias the hardware never walks.
    assert!(!s.resolve_access_fault(alias, Access::Read), "no fault to resolve past the VA range");
    assert!(!s.harvest_accessed(alias));
    assert!(s.harvest_accessed(VA), "the page itself was accessed");
    let pa = leaf_pa(&tables, s.root(), VA);
    let entry = tables.entry(pa & !0xfff, ((pa & 0xfff) / 8) as usize);
    entry.store(leaf(&tables, s.root(), VA).0 & !0b10, core::sync::atomic::Ordering::SeqCst);
    assert_eq!(s.translate(VA, Access::Read, HW), Err(HwFault::Translation { level: 3 }));
    assert_eq!(s.query(VA), None);
    assert!(!s.resolve_access_fault(VA, Access::Read), "nothing to resolve on a reserved entry");
}

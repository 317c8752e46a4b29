//! Dirty tracking and writeback of pager VMOs through zx with four cores on
//! the real tables, on both dirty-state paths: with FEAT_HAFDBS (`-cpu
//! max`) a Clean page of a VMO without TRAP_DIRTY is mapped writable-clean
//! and the hardware records its first write with no fault; without it
//! (`-cpu cortex-a72`) that write takes one permission fault the platform
//! resolves. The answers of every query must be the same on both; only the
//! fault counts differ, and the cases count them. Also: WRITEBACK_BEGIN
//! write-protecting every mapping on every core, stores racing writeback
//! and eviction, detach and eviction keeping pages written without a fault,
//! and a VMO larger than its process's frame budget, with the pager on core
//! 1. Each case ends with every frame back in the allocator.
#![no_std]
#![no_main]

extern crate alloc;

use aarch64_cpu::registers::{Readable, ID_AA64MMFR1_EL1};
use alloc::sync::Arc;
use alloc::vec::Vec;
use platform_virt::process::Process;
use platform_virt::smp::cpu_index;
use platform_virt::vm::{fault_counts, FaultCounts};
use platform_virt::Boot;
use qemu_tests::access::{caught_load, load, store};
use qemu_tests::user_pager::*;
use spin::Mutex;
use zx::options::ZX_VMO_TRAP_DIRTY;
use zx::port::{ZX_PAGER_VMO_COMPLETE, ZX_PAGER_VMO_DIRTY, ZX_PAGER_VMO_READ};
use zx::{Access, Status};

platform_virt::test_image!(
    rewriting_clean_pages_faults_once_per_page_only_without_hardware_dirty_bits,
    trap_dirty_stores_wait_for_the_pager_on_both_paths,
    writeback_begin_write_protects_every_mapping_on_every_core,
    eviction_and_detach_keep_pages_written_without_a_fault,
    stores_racing_writeback_are_never_lost,
    stores_racing_writeback_and_eviction_are_never_lost,
    a_vmo_larger_than_its_frame_budget_with_the_pager_on_core_1,
);

/// Whether this CPU updates dirty state in translation table entries
/// (FEAT_HAFDBS level 2), read from the ID register rather than from the
/// platform, which the cases check.
fn hardware_dirty() -> bool {
    ID_AA64MMFR1_EL1.read(ID_AA64MMFR1_EL1::HAFDBS) >= 2
}

/// The aborts `f` caused, as (software write faults, VM faults); the other
/// cores do nothing with the VM meanwhile.
fn faults_of(f: impl FnOnce()) -> (u64, u64) {
    let before = fault_counts();
    f();
    let after = fault_counts();
    let delta = |f: fn(&FaultCounts) -> u64| f(&after) - f(&before);
    (delta(|c| c.software_writes), delta(|c| c.vm))
}

/// The pages core `cpu` owns in the cases that split a VMO between the
/// four cores.
fn pages_of(cpu: usize, per_core: u64) -> core::ops::Range<u64> {
    cpu as u64 * per_core..(cpu as u64 + 1) * per_core
}

/// Runs `f(cpu)` on each of the four cores in turn, each finishing before
/// the next starts (so the fault counts of `faults_of` are the sum of
/// theirs).
fn on_each_core(f: impl Fn(usize) + Clone + Send + 'static) {
    for cpu in 0..4 {
        let f = f.clone();
        spawn(cpu, move || f(cpu)).join();
    }
}

/// A 16-page VMO without TRAP_DIRTY, supplied and mapped; each core loads
/// its 4 pages (translations that, being of Clean pages, record a write
/// without a fault where the hardware can). Each core then stores to its
/// pages: with FEAT_HAFDBS no abort at all, without it one software write
/// fault per page, never a VM fault; a second rewrite takes no abort on
/// either path. Every core's `pager_query_dirty_ranges` then reports the 16
/// pages as one range and `pager_query_vmo_stats` MODIFIED (once: it
/// resets), and the stores read back through `vmo_read`.
fn rewriting_clean_pages_faults_once_per_page_only_without_hardware_dirty_bits(boot: &Boot) {
    const KEY: u64 = 1;
    const PER_CORE: u64 = 4;
    const PAGES: u64 = 4 * PER_CORE;
    with_pager(boot, |up| {
        let vmo = up.vmo(PAGES, KEY);
        up.supply(vmo, KEY, 0, PAGES);
        let va = up.map(vmo, PAGES);
        on_each_core(move |cpu| {
            for page in pages_of(cpu, PER_CORE) {
                assert_eq!(load(va + page * P), tagged_word(KEY, page), "core {cpu}, page {page}");
            }
        });
        assert_eq!(up.dirty_ranges(vmo, PAGES), [], "loads dirty nothing");
        assert!(!up.modified_and_reset(vmo), "loads modify nothing");
        let rewrite = move |cpu: usize| {
            for page in pages_of(cpu, PER_CORE) {
                store(va + page * P + 8, stored(cpu, page));
            }
        };
        let first = faults_of(|| on_each_core(rewrite));
        let expected = if hardware_dirty() { (0, 0) } else { (PAGES, 0) };
        assert_eq!(first, expected, "(software write faults, VM faults) of the first rewrite");
        assert_eq!(faults_of(|| on_each_core(rewrite)), (0, 0), "a second rewrite takes no abort");
        let up2 = up.clone();
        on_each_core(move |cpu| {
            assert_eq!(up2.dirty_ranges(vmo, PAGES), [(0, PAGES, false)], "the query on core {cpu}");
        });
        assert!(up.modified_and_reset(vmo), "stores that took no fault modified the VMO");
        assert!(!up.modified_and_reset(vmo), "the stats were reset");
        for page in 0..PAGES {
            let mut expected = tagged(KEY, page..page + 1);
            expected[8..16].copy_from_slice(&stored((page / PER_CORE) as usize, page).to_ne_bytes());
            assert!(up.read(vmo, page, 1) == expected, "page {page} through vmo_read");
        }
    });
}

/// A 12-page TRAP_DIRTY VMO, mapped, with a pager on core 1 that supplies
/// READs and acknowledges DIRTYs. Cores 0, 2 and 3 load their 4 pages
/// (one READ each), then store to them: every store waits for a one-page
/// DIRTY request the pager acknowledges, on both paths (the pager must
/// approve the first write), one VM fault per page and no software write
/// fault. The pages are then dirty and hold the stores.
fn trap_dirty_stores_wait_for_the_pager_on_both_paths(boot: &Boot) {
    const KEY: u64 = 2;
    const PER_CORE: u64 = 4;
    const PAGES: u64 = 3 * PER_CORE;
    with_pager(boot, |up| {
        let vmo = up.vmo_with(ZX_VMO_TRAP_DIRTY, PAGES, KEY);
        let va = up.map(vmo, PAGES);
        let pager = up.serve(&[(KEY, vmo)]);
        // Faulter i owns pages [4i, 4i + 4).
        let each_faulter = |f: fn(u64, u64)| {
            for (i, cpu) in FAULTERS.into_iter().enumerate() {
                spawn(cpu, move || pages_of(i, PER_CORE).for_each(|page| f(va, page))).join();
            }
        };
        each_faulter(|va, page| assert_eq!(load(va + page * P), tagged_word(KEY, page)));
        let faults = faults_of(|| each_faulter(|va, page| store(va + page * P, !page)));
        assert_eq!(faults, (0, PAGES), "(software write faults, VM faults) of the stores");
        let mut expected = one_page_reads(KEY, 0..PAGES);
        expected.extend(one_page_requests(KEY, ZX_PAGER_VMO_DIRTY, 0..PAGES));
        expected.sort_unstable();
        assert_eq!(up.stop(pager), expected, "one READ and one DIRTY per page");
        assert_eq!(up.dirty_ranges(vmo, PAGES), [(0, PAGES, false)]);
        for page in 0..PAGES {
            assert_eq!(load(va + page * P), !page, "page {page}");
        }
    });
}

/// An 8-page VMO without TRAP_DIRTY, supplied, mapped twice; every core
/// stores its word of every page through both mappings, so every core may
/// cache writable translations of all of them. WRITEBACK_BEGIN of the
/// whole VMO must reach every core's TLB: after it, core `c` stores to page
/// `2c` through mapping `c % 2`, one VM fault each on both paths (the page
/// is AwaitingClean and faults its first write), and WRITEBACK_END leaves
/// exactly those four pages dirty. A store a stale writable translation let
/// through would be cleaned by END and missing from the query.
fn writeback_begin_write_protects_every_mapping_on_every_core(boot: &Boot) {
    const KEY: u64 = 3;
    const PAGES: u64 = 8;
    const AFTER: u64 = 0xaf7e_0000_0000_0000;
    with_pager(boot, |up| {
        let vmo = up.vmo(PAGES, KEY);
        up.supply(vmo, KEY, 0, PAGES);
        let vas = [up.map(vmo, PAGES), up.map(vmo, PAGES)];
        on_each_core(move |cpu| {
            for page in 0..PAGES {
                for va in vas {
                    store(va + page * P + 8 * cpu as u64, stored(cpu, page));
                }
            }
        });
        assert_eq!(up.dirty_ranges(vmo, PAGES), [(0, PAGES, false)]);
        up.begin(vmo, 0, PAGES);
        assert_eq!(up.dirty_ranges(vmo, PAGES), [(0, PAGES, false)], "AwaitingClean pages are dirty");
        let faults = faults_of(|| {
            on_each_core(move |cpu| store(vas[cpu % 2] + 2 * cpu as u64 * P + 64, AFTER | cpu as u64));
        });
        assert_eq!(faults, (0, 4), "(software write faults, VM faults) of the stores after BEGIN");
        up.end(vmo, 0, PAGES);
        let dirty: Vec<DirtyPages> = (0..4).map(|cpu| (2 * cpu, 1, false)).collect();
        assert_eq!(up.dirty_ranges(vmo, PAGES), dirty, "the pages stored to after BEGIN");
        on_each_core(move |cpu| {
            for (c, va) in (0..4u64).zip([vas[0], vas[1], vas[0], vas[1]]) {
                assert_eq!(load(va + 2 * c * P + 64), AFTER | c, "core {cpu} reads core {c}'s store");
            }
        });
    });
}

/// Pages written through a translation that took no fault (on FEAT_HAFDBS)
/// must be seen before their pages are dropped. An 8-page VMO without
/// TRAP_DIRTY, supplied and loaded on core 2, which then stores to pages 1
/// and 5: a reclaim evicts the other 6 pages only; the two read back with
/// no request while pages 0 and 4 are asked for again (core 3 stores to
/// page 4). Then the VMO is detached: the written pages stay, through the
/// mapping and `vmo_read`, and the Clean page 0 goes (BAD_STATE).
fn eviction_and_detach_keep_pages_written_without_a_fault(boot: &Boot) {
    const KEY: u64 = 4;
    const PAGES: u64 = 8;
    const WRITTEN: [u64; 2] = [1, 5];
    with_pager(boot, |up| {
        let vmo = up.vmo(PAGES, KEY);
        up.supply(vmo, KEY, 0, PAGES);
        let (va, koid) = (up.map(vmo, PAGES), up.koid(vmo));
        spawn(2, move || {
            (0..PAGES).for_each(|page| assert_eq!(load(va + page * P), tagged_word(KEY, page)));
            WRITTEN.into_iter().for_each(|page| store(va + page * P + 16, !page));
        })
        .join();
        assert_eq!(up.zx().context().reclaim(), PAGES - 2, "the Clean pages are evicted");
        assert_eq!(up.dirty_ranges(vmo, PAGES), [(1, 1, false), (5, 1, false)]);
        let pager = up.serve(&[(KEY, vmo)]);
        for page in WRITTEN {
            assert_eq!(load(va + page * P + 16), !page, "page {page} kept its store");
        }
        assert_eq!(load(va), tagged_word(KEY, 0), "page 0, supplied again");
        spawn(3, move || store(va + 4 * P + 16, !4)).join();
        assert_eq!(
            up.stop(pager),
            one_page_reads(KEY, [0, 4].into_iter()),
            "only pages 0 and 4 were asked for"
        );
        up.zx().pager_detach_vmo(up.pager, vmo).unwrap();
        assert_eq!(up.next_request(), (KEY, ZX_PAGER_VMO_COMPLETE, 0, 0));
        for page in [1, 4, 5] {
            assert_eq!(load(va + page * P + 16), !page, "page {page} kept its store after detach");
            let mut word = [0; 8];
            up.zx().vmo_read(vmo, &mut word, page * P + 16).unwrap();
            assert_eq!(u64::from_ne_bytes(word), !page, "page {page} through vmo_read");
        }
        let bad_state = fatal(va, koid, va, Access::Read, Status::BadState);
        assert_eq!(caught_load(va), Err(bad_state), "the Clean page 0 was decommitted");
        up.expect_no_packet();
    });
}

/// What writer core `cpu` stores in its word of `page` in `round`.
fn round_word(cpu: usize, round: u64, page: u64) -> u64 {
    (round << 32) | ((cpu as u64) << 16) | page
}

/// Cores 2 and 3 store their word of every page of a 32-page VMO without
/// TRAP_DIRTY, round after round, while this core (0) runs the writeback loop
/// (and, if `evict`, reclaims after each pass, evicting what it cleaned),
/// and the pager on core 1 supplies pages from the disk the loop writes.
/// A store landing between a harvest and the write-protect or unmap that
/// should have seen it would be cleaned without reaching the disk (and,
/// evicted, come back without it). After the writers stop, a last loop:
/// the disk equals the VMO byte for byte, each word holds its last round,
/// and nothing is dirty.
fn stores_race_writeback(boot: &Boot, key: u64, evict: bool) {
    const PAGES: u64 = 32;
    const ROUNDS: u64 = 24;
    const WRITERS: [usize; 2] = [2, 3];
    with_pager(boot, |up| {
        let disk = Arc::new(Mutex::new(tagged(key, 0..PAGES)));
        let vmo = up.vmo(PAGES, key);
        let va = up.map(vmo, PAGES);
        let pager = up.serve_from(&[(key, vmo)], Content::Disk(disk.clone()));
        let writers: Vec<_> = WRITERS
            .into_iter()
            .map(|cpu| {
                spawn(cpu, move || {
                    for round in 1..=ROUNDS {
                        for page in 0..PAGES {
                            store(va + page * P + 8 * cpu as u64, round_word(cpu_index(), round, page));
                        }
                    }
                })
            })
            .collect();
        let mut passes = 0;
        while !writers.iter().all(Pending::is_done) {
            up.write_back(vmo, 0, PAGES, &disk);
            if evict {
                up.zx().context().reclaim();
            }
            passes += 1;
        }
        for w in writers {
            w.join();
        }
        assert!(passes > 0, "the loop ran");
        up.write_back(vmo, 0, PAGES, &disk);
        assert_eq!(up.dirty_ranges(vmo, PAGES), [], "nothing is dirty after the last loop");
        let mut expected = tagged(key, 0..PAGES);
        for page in 0..PAGES {
            for cpu in WRITERS {
                let at = (page * P) as usize + 8 * cpu;
                expected[at..at + 8].copy_from_slice(&round_word(cpu, ROUNDS, page).to_ne_bytes());
            }
        }
        if evict {
            // Read back in, every page is Clean: all of them go, and the
            // reads below come from the disk.
            up.read(vmo, 0, PAGES);
            assert_eq!(up.zx().context().reclaim(), PAGES, "every page is Clean and evictable");
        }
        let vmo_bytes = up.read(vmo, 0, PAGES);
        let first_difference = |a: &[u8], b: &[u8]| a.iter().zip(b).position(|(x, y)| x != y);
        assert_eq!(first_difference(&vmo_bytes, &expected), None, "the VMO holds the last round");
        assert_eq!(first_difference(&disk.lock(), &vmo_bytes), None, "the disk equals the VMO");
        let requests = up.stop(pager);
        if evict {
            // Evicted pages are asked for again, by faults one at a time and
            // by the reads above as whole ranges.
            assert!(
                requests.iter().all(|r| r.0 == key && r.1 == ZX_PAGER_VMO_READ),
                "READs only: {requests:?}"
            );
            let asked =
                |page| requests.iter().any(|&(_, _, first, count)| (first..first + count).contains(&page));
            assert!((0..PAGES).all(asked), "every page was asked for: {requests:?}");
        } else {
            assert_eq!(requests, one_page_reads(key, 0..PAGES), "one READ for every page");
        }
    });
}

fn stores_racing_writeback_are_never_lost(boot: &Boot) {
    stores_race_writeback(boot, 5, false);
}

fn stores_racing_writeback_and_eviction_are_never_lost(boot: &Boot) {
    stores_race_writeback(boot, 6, true);
}

/// A process whose VM context may hold 16 frames, with a 64-page VMO
/// without TRAP_DIRTY whose pager on core 1 supplies pages from a disk.
/// Cores 0, 2 and 3 in turn load every page: with at most 16 present, each
/// pass after the first asks for most pages again (the allocation of a
/// supply, finding no frame, evicts Clean pages). Core 2 then stores to 8
/// pages, which no eviction takes while core 3 loads every page again;
/// they stay dirty. Written back, they become evictable, and a last pass
/// reads them from the disk.
fn a_vmo_larger_than_its_frame_budget_with_the_pager_on_core_1(boot: &Boot) {
    const KEY: u64 = 7;
    const PAGES: u64 = 64;
    const BUDGET: usize = 16;
    const STORED: core::ops::Range<u64> = 20..28;
    with_pager_in(
        boot,
        || Process::with_frame_budget(BUDGET),
        |up| {
            let disk = Arc::new(Mutex::new(tagged(KEY, 0..PAGES)));
            let vmo = up.vmo(PAGES, KEY);
            let va = up.map(vmo, PAGES);
            let pager = up.serve_from(&[(KEY, vmo)], Content::Disk(disk.clone()));
            // What a load of `page` finds, before and after the stores.
            let word = move |page: u64, stored: bool| {
                if stored && STORED.contains(&page) {
                    !page
                } else {
                    tagged_word(KEY, page)
                }
            };
            let pass = move |cpu: usize, stored: bool| {
                spawn(cpu, move || {
                    for page in 0..PAGES {
                        assert_eq!(load(va + page * P + 8), word(page, stored), "core {cpu}, page {page}");
                    }
                })
                .join()
            };
            for cpu in FAULTERS {
                pass(cpu, false);
            }
            spawn(2, move || STORED.for_each(|page| store(va + page * P + 8, !page))).join();
            pass(3, true);
            assert_eq!(
                up.dirty_ranges(vmo, PAGES),
                [(STORED.start, 8, false)],
                "the stored pages stay dirty"
            );
            assert!(up.write_back(vmo, 0, PAGES, &disk));
            assert!(
                up.zx().context().reclaim() >= STORED.end - STORED.start,
                "the written-back pages are evicted"
            );
            pass(0, true);
            let reads = up.stop(pager);
            assert!(reads
                .iter()
                .all(|&(key, command, _, count)| (key, command, count) == (KEY, ZX_PAGER_VMO_READ, 1)));
            let asked = |page: u64| reads.iter().filter(|r| r.2 == page).count();
            // A page is asked for on every pass but those that found it
            // present; at most `BUDGET` pages are present at the end of one.
            let again = (0..PAGES).filter(|&p| asked(p) > 1).count();
            assert!(again as u64 >= PAGES - BUDGET as u64, "only {again} pages were asked for again");
            assert!(
                STORED.clone().all(|p| asked(p) >= 2),
                "the written-back pages were evicted and read again"
            );
        },
    );
}

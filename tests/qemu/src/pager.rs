//! The user pager through zx with four cores on the real tables: a pager on
//! core 1 serving the faults the other three take on one mapping; a request
//! failed with `ZX_PAGER_OP_FAIL`, the pager closed and the VMO detached,
//! each seen by the blocked core as a fatal page fault with the right status
//! (caught with `fault::catch`); and `vmo_read` / `vmo_write` whose user
//! buffer is an unsupplied pager mapping, of another VMO or of the same one.
//! Each case ends with every frame back in the allocator.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::AtomicUsize;
use platform_virt::smp::cpu_index;
use platform_virt::Boot;
use qemu_tests::access::{caught_load, caught_store, load, store};
use qemu_tests::user_pager::*;
use zx::port::{ZX_PAGER_VMO_COMPLETE, ZX_PAGER_VMO_READ};
use zx::{Access, Status};

platform_virt::test_image!(
    a_pager_on_core_1_serves_faults_from_the_other_three_cores,
    a_failed_request_is_a_fatal_fault_with_its_status_and_is_not_sticky,
    closing_the_pager_is_a_fatal_fault_with_bad_state_and_sends_nothing,
    detaching_is_a_fatal_fault_with_bad_state_after_complete,
    vmo_read_into_an_unsupplied_pager_mapping_completes_once_supplied,
    vmo_write_from_an_unsupplied_pager_mapping_completes_once_supplied,
    vmo_read_and_write_between_pages_of_one_pager_vmo_through_its_mapping,
);

/// The statuses `ZX_PAGER_OP_FAIL` may give (`pager_op_range.md`, digest
/// §2.5).
const FAIL_STATUSES: [Status; 5] =
    [Status::Io, Status::IoDataIntegrity, Status::BadState, Status::NoSpace, Status::BufferTooSmall];

/// Cores 0, 2 and 3 go through the pages of a 48-page pager mapping in
/// the same order, meeting before each page, so that they fault on the
/// same pages at the same time: core 0 stores its word of each page first
/// (a write fault on a missing page), cores 2 and 3 load theirs first and
/// check the supplied content, then store. Once all have stored, each checks every
/// core's word of every page, and that the words nobody stored still hold
/// the supplied content. The pager on core 1 saw one one-page READ per
/// page, never two for one page; `vmo_read` sees what the loads saw; and
/// with the mapping and the handle gone the pager hears COMPLETE.
fn a_pager_on_core_1_serves_faults_from_the_other_three_cores(boot: &Boot) {
    const KEY: u64 = 1;
    const PAGES: u64 = 48;
    with_pager(boot, |up| {
        let vmo = up.vmo(PAGES, KEY);
        let va = up.map(vmo, PAGES);
        let pager = up.serve(&[(KEY, vmo)]);
        let (next, done) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        // Cores 3 and 2 are given their work first; core 0's then runs
        // here, at once (`run_on` on this CPU).
        let faulters: Vec<_> = FAULTERS
            .iter()
            .rev()
            .map(|&cpu| {
                let (next, done) = (next.clone(), done.clone());
                spawn(cpu, move || {
                    let me = cpu_index();
                    for page in 0..PAGES {
                        rendezvous(&next, FAULTERS.len() * (page + 1) as usize);
                        let mine = va + page * P + 8 * me as u64;
                        if me == 0 {
                            store(mine, stored(me, page));
                            assert_eq!(load(mine), stored(me, page), "core 0, page {page}: its store");
                        } else {
                            let v = load(mine);
                            assert_eq!(v, tagged_word(KEY, page), "core {me}, page {page}: not as supplied");
                            store(mine, stored(me, page));
                        }
                    }
                    rendezvous(&done, FAULTERS.len());
                    for page in 0..PAGES {
                        for cpu in FAULTERS {
                            let v = load(va + page * P + 8 * cpu as u64);
                            assert_eq!(v, stored(cpu, page), "core {me}, page {page}: core {cpu}'s store");
                        }
                        for word in [PAGER_CPU as u64, 4, P / 8 - 1] {
                            let v = load(va + page * P + 8 * word);
                            assert_eq!(v, tagged_word(KEY, page), "core {me}, page {page}, word {word}");
                        }
                    }
                })
            })
            .collect();
        for f in faulters {
            f.join();
        }
        assert_eq!(up.stop(pager), one_page_reads(KEY, 0..PAGES), "one one-page READ per page");
        for page in 0..PAGES {
            let mut expected = tagged(KEY, page..page + 1);
            for cpu in FAULTERS {
                expected[8 * cpu..8 * cpu + 8].copy_from_slice(&stored(cpu, page).to_ne_bytes());
            }
            let mut got = vec![0; P as usize];
            up.zx().vmo_read(vmo, &mut got, page * P).unwrap();
            assert!(got == expected, "page {page} through vmo_read");
        }
        up.unmap(va, PAGES);
        up.zx().handle_close(vmo).unwrap();
        assert_eq!(up.next_request(), (KEY, ZX_PAGER_VMO_COMPLETE, 0, 0), "the last reference went away");
        up.expect_no_packet();
    });
}

/// Core 1 fails the READ of page `i` with the `i`-th permitted status;
/// the access (a load of even pages, a store to odd ones) on core 0, 2 or
/// 3 in turn takes a fatal fault with exactly that status, address, access
/// and VMO offset. The failure is not sticky: the same access again sends
/// the same READ, and works once the page is supplied.
fn a_failed_request_is_a_fatal_fault_with_its_status_and_is_not_sticky(boot: &Boot) {
    const KEY: u64 = 2;
    const PAGES: u64 = FAIL_STATUSES.len() as u64;
    with_pager(boot, |up| {
        let vmo = up.vmo(PAGES, KEY);
        let (va, koid) = (up.map(vmo, PAGES), up.koid(vmo));
        let u = up.clone();
        let pager = spawn(PAGER_CPU, move || {
            for (page, status) in (0..).zip(FAIL_STATUSES) {
                assert_eq!(u.next_request(), (KEY, ZX_PAGER_VMO_READ, page, 1));
                u.try_fail(vmo, page, 1, status).unwrap();
                assert_eq!(u.next_request(), (KEY, ZX_PAGER_VMO_READ, page, 1), "asked again after a FAIL");
                u.supply(vmo, KEY, page, 1);
            }
        });
        for ((page, status), cpu) in (0..).zip(FAIL_STATUSES).zip(FAULTERS.iter().cycle()) {
            let at = va + page * P + 8 * (page + 1);
            let access = if page % 2 == 0 { Access::Read } else { Access::Write };
            let mark = stored(*cpu, page);
            let (first, again) = spawn(*cpu, move || {
                let access_once = || match access {
                    Access::Read => caught_load(at),
                    _ => caught_store(at, mark).map(|()| load(at)),
                };
                (access_once(), access_once())
            })
            .join();
            assert_eq!(first, Err(fatal(va, koid, at, access, status)), "page {page} on core {cpu}");
            let value = if access == Access::Read { tagged_word(KEY, page) } else { mark };
            assert_eq!(again, Ok(value), "page {page} on core {cpu}, after the supply");
            assert_eq!(load(va + page * P), tagged_word(KEY, page), "the rest of page {page} as supplied");
        }
        pager.join();
        up.expect_no_packet();
    });
}

/// Cores 2 and 3 load page 1 (one READ between them), core 0 stores to
/// page 2 (another); once all three wait, core 1 closes the pager's only
/// handle. All three take a fatal fault with BAD_STATE. The port hears
/// nothing more: no COMPLETE, not on close nor when the VMO goes, and no
/// request for a new fault, which fails at once; the page supplied before
/// the close stays readable.
fn closing_the_pager_is_a_fatal_fault_with_bad_state_and_sends_nothing(boot: &Boot) {
    const KEY: u64 = 3;
    const PAGES: u64 = 4;
    with_pager(boot, |up| {
        let vmo = up.vmo(PAGES, KEY);
        let (va, koid) = (up.map(vmo, PAGES), up.koid(vmo));
        up.supply(vmo, KEY, 0, 1);
        let u = up.clone();
        let closer = spawn(PAGER_CPU, move || {
            let mut requests = [u.next_request(), u.next_request()];
            requests.sort_unstable();
            assert_eq!(requests, [(KEY, ZX_PAGER_VMO_READ, 1, 1), (KEY, ZX_PAGER_VMO_READ, 2, 1)]);
            u.wait_blocked(vmo, 3);
            u.zx().handle_close(u.pager).unwrap();
        });
        let loads = [2, 3].map(|cpu| (cpu, spawn(cpu, move || caught_load(va + P + 8 * cpu as u64))));
        let at = va + 2 * P + 16;
        let fault = caught_store(at, 1);
        closer.join();
        let bad_state = |address, access| fatal(va, koid, address, access, Status::BadState);
        assert_eq!(fault, Err(bad_state(at, Access::Write)), "core 0's store");
        for (cpu, load) in loads {
            assert_eq!(
                load.join(),
                Err(bad_state(va + P + 8 * cpu as u64, Access::Read)),
                "core {cpu}'s load"
            );
        }
        up.expect_no_packet();
        assert_eq!(
            caught_load(va + 3 * P),
            Err(bad_state(va + 3 * P, Access::Read)),
            "a fault after the close"
        );
        up.expect_no_packet();
        assert_eq!(load(va + 8), tagged_word(KEY, 0), "the supplied page stays");
        let mut word = [0; 8];
        up.zx().vmo_read(vmo, &mut word, 8).unwrap();
        assert_eq!(u64::from_ne_bytes(word), tagged_word(KEY, 0));
        up.unmap(va, PAGES);
        up.zx().handle_close(vmo).unwrap();
        up.expect_no_packet();
    });
}

/// Pages 0 and 1 supplied and loaded, page 0 then stored to (Dirty); core
/// 2 loads page 2 and core 0 stores to page 3, and once both wait core 1
/// detaches the VMO: both take a fatal fault with BAD_STATE, and the next
/// packet is COMPLETE. Then: a fault needing the pager fails at once with
/// no request; the Clean page 1 was decommitted, so its load faults with
/// BAD_STATE too, while the Dirty page 0 stays, through the mapping and
/// `vmo_read`; supply and FAIL are BAD_STATE; a second detach is harmless;
/// and closing the VMO sends no second COMPLETE.
fn detaching_is_a_fatal_fault_with_bad_state_after_complete(boot: &Boot) {
    const KEY: u64 = 4;
    const PAGES: u64 = 5;
    const DIRTY: u64 = 0xd1e7_0000_0000_0001;
    with_pager(boot, |up| {
        let vmo = up.vmo(PAGES, KEY);
        let (va, koid) = (up.map(vmo, PAGES), up.koid(vmo));
        up.supply(vmo, KEY, 0, 2);
        assert_eq!((load(va), load(va + P)), (tagged_word(KEY, 0), tagged_word(KEY, 1)));
        store(va + 8, DIRTY);
        let u = up.clone();
        let detacher = spawn(PAGER_CPU, move || {
            let mut requests = [u.next_request(), u.next_request()];
            requests.sort_unstable();
            assert_eq!(requests, [(KEY, ZX_PAGER_VMO_READ, 2, 1), (KEY, ZX_PAGER_VMO_READ, 3, 1)]);
            u.wait_blocked(vmo, 2);
            u.zx().pager_detach_vmo(u.pager, vmo).unwrap();
            assert_eq!(u.next_request(), (KEY, ZX_PAGER_VMO_COMPLETE, 0, 0), "COMPLETE after detach");
        });
        let blocked_load = spawn(2, move || caught_load(va + 2 * P + 24));
        let fault = caught_store(va + 3 * P + 32, 1);
        detacher.join();
        let bad_state = |address, access| fatal(va, koid, address, access, Status::BadState);
        assert_eq!(blocked_load.join(), Err(bad_state(va + 2 * P + 24, Access::Read)), "core 2's load");
        assert_eq!(fault, Err(bad_state(va + 3 * P + 32, Access::Write)), "core 0's store");
        assert_eq!(caught_load(va + 4 * P), Err(bad_state(va + 4 * P, Access::Read)), "a fault after detach");
        assert_eq!(
            caught_load(va + P),
            Err(bad_state(va + P, Access::Read)),
            "the Clean page was decommitted"
        );
        up.expect_no_packet();
        assert_eq!((load(va), load(va + 8)), (tagged_word(KEY, 0), DIRTY), "the Dirty page stays");
        let mut word = [0; 8];
        up.zx().vmo_read(vmo, &mut word, 8).unwrap();
        assert_eq!(u64::from_ne_bytes(word), DIRTY);
        assert_eq!(up.zx().vmo_read(vmo, &mut word, P), Err(Status::BadState), "vmo_read of the Clean page");
        assert_eq!(up.try_supply(vmo, KEY, 4, 1), Err(Status::BadState));
        assert_eq!(up.try_fail(vmo, 4, 1, Status::Io), Err(Status::BadState));
        up.zx().pager_detach_vmo(up.pager, vmo).unwrap();
        up.expect_no_packet();
        up.unmap(va, PAGES);
        up.zx().handle_close(vmo).unwrap();
        up.expect_no_packet();
    });
}

/// Where the user buffers of the copy cases start in their first page,
/// and how long they are: 19 pages touched, more than vm-core copies per
/// lock hold (16).
const SKEW: u64 = 100;
const COPIED: u64 = 18 * P;
const BUFFER_PAGES: u64 = 19;

/// `i`-th byte of the ordinary VMO the copy cases read or write.
fn plain_byte(i: u64) -> u8 {
    (i * 7 + i / P) as u8
}

/// `vmo_read` of an ordinary VMO into `[va + SKEW, +COPIED)` of an
/// unsupplied pager mapping, on core 0, returns once the pager on core 1
/// has supplied the buffer's 19 pages (one one-page READ each, the
/// copy's faults); the buffer then holds the copied bytes, and the bytes
/// of its first and last page outside it the supplied ones.
fn vmo_read_into_an_unsupplied_pager_mapping_completes_once_supplied(boot: &Boot) {
    const KEY: u64 = 5;
    with_pager(boot, |up| {
        let plain: Vec<u8> = (0..COPIED).map(plain_byte).collect();
        let source = up.zx().vmo_create(COPIED, 0).unwrap();
        up.zx().vmo_write(source, &plain, 0).unwrap();
        let vmo = up.vmo(BUFFER_PAGES, KEY);
        let va = up.map(vmo, BUFFER_PAGES);
        let pager = up.serve(&[(KEY, vmo)]);
        {
            // SAFETY: the range lies in the mapping just made, which
            // nothing else reads or writes while the slice lives; its pages
            // fault in through the pager.
            let buffer = unsafe { core::slice::from_raw_parts_mut((va + SKEW) as *mut u8, COPIED as usize) };
            up.zx().vmo_read(source, buffer, 0).unwrap();
            assert!(*buffer == *plain, "the copied bytes, through the mapping");
        }
        assert_eq!(up.stop(pager), one_page_reads(KEY, 0..BUFFER_PAGES));
        let mut expected = tagged(KEY, 0..BUFFER_PAGES);
        expected[SKEW as usize..(SKEW + COPIED) as usize].copy_from_slice(&plain);
        let mut got = vec![0; (BUFFER_PAGES * P) as usize];
        up.zx().vmo_read(vmo, &mut got, 0).unwrap();
        assert!(got == expected, "the copied bytes inside the supplied ones, through vmo_read");
    });
}

/// `vmo_write` to an ordinary VMO from `[va + SKEW, +COPIED)` of an
/// unsupplied pager mapping, on core 0, returns once the pager on core 1
/// has supplied the 19 pages it reads (one one-page READ each); the VMO
/// then holds the supplied bytes.
fn vmo_write_from_an_unsupplied_pager_mapping_completes_once_supplied(boot: &Boot) {
    const KEY: u64 = 6;
    with_pager(boot, |up| {
        let target = up.zx().vmo_create(COPIED, 0).unwrap();
        let vmo = up.vmo(BUFFER_PAGES, KEY);
        let va = up.map(vmo, BUFFER_PAGES);
        let pager = up.serve(&[(KEY, vmo)]);
        {
            // SAFETY: the range lies in the mapping just made, which
            // nothing writes while the slice lives; its pages fault in
            // through the pager.
            let data = unsafe { core::slice::from_raw_parts((va + SKEW) as *const u8, COPIED as usize) };
            up.zx().vmo_write(target, data, 0).unwrap();
        }
        assert_eq!(up.stop(pager), one_page_reads(KEY, 0..BUFFER_PAGES));
        let expected = &tagged(KEY, 0..BUFFER_PAGES)[SKEW as usize..(SKEW + COPIED) as usize];
        let mut got = vec![0; COPIED as usize];
        up.zx().vmo_read(target, &mut got, 0).unwrap();
        assert!(got == expected, "the supplied bytes, written");
    });
}

/// One unsupplied 16-page pager VMO, mapped whole, quarters A, B, C, D:
/// `vmo_read` of A into the mapping of B, then `vmo_write` to D from the
/// mapping of C. The read asks for A in one READ, then the copy into B
/// faults each of B's pages; the write's copy from C faults each of C's
/// pages, then the write asks for D in one READ. Afterwards B holds A's
/// content and D C's, both through the mapping and `vmo_read`.
fn vmo_read_and_write_between_pages_of_one_pager_vmo_through_its_mapping(boot: &Boot) {
    const KEY: u64 = 7;
    const Q: u64 = 4;
    with_pager(boot, |up| {
        let vmo = up.vmo(4 * Q, KEY);
        let va = up.map(vmo, 4 * Q);
        let pager = up.serve(&[(KEY, vmo)]);
        let len = (Q * P) as usize;
        {
            // SAFETY: B lies in the mapping just made, which nothing else
            // reads or writes while the slice lives (the read reads A); its
            // pages fault in through the pager.
            let b = unsafe { core::slice::from_raw_parts_mut((va + Q * P) as *mut u8, len) };
            up.zx().vmo_read(vmo, b, 0).unwrap();
        }
        {
            // SAFETY: as for B, with C (the write writes D).
            let c = unsafe { core::slice::from_raw_parts((va + 2 * Q * P) as *const u8, len) };
            up.zx().vmo_write(vmo, c, 3 * Q * P).unwrap();
        }
        let mut expected = vec![(KEY, ZX_PAGER_VMO_READ, 0, Q), (KEY, ZX_PAGER_VMO_READ, 3 * Q, Q)];
        expected.extend(one_page_reads(KEY, Q..3 * Q));
        expected.sort_unstable();
        assert_eq!(up.stop(pager), expected);
        let content = |page: u64| match page / Q {
            1 | 3 => tag(KEY, page - Q),
            _ => tag(KEY, page),
        };
        for page in 0..4 * Q {
            for word in [0, P / 8 - 1] {
                let v = load(va + page * P + 8 * word);
                assert_eq!(v, u64::from_ne_bytes([content(page); 8]), "page {page}, word {word}");
            }
            let mut got = vec![0; P as usize];
            up.zx().vmo_read(vmo, &mut got, page * P).unwrap();
            assert!(got.iter().all(|&b| b == content(page)), "page {page} through vmo_read");
        }
    });
}

//! The default image of `cargo xtask run`: a file cache over a virtio block
//! disk, through the zx layer, on four cores.
//!
//! A pager on core 1 serves a pager VMO the size of the disk (and one page
//! past its end) from the device ([`disk_pager`]). The process may hold
//! fewer frames than the disk has pages, so Clean pages are evicted and read
//! again. In turn:
//! 1. readers on cores 2 and 3 fault every page in through a mapping;
//!    `vmo_read` and COMMIT read it too;
//! 2. writers on cores 2 and 3 store through the mapping and `vmo_write`
//!    writes, while core 0 runs the writeback loop ([`writeback`]);
//! 3. the writers store a last round, and a reader sweeps every page: Clean
//!    pages are evicted, Dirty ones stay;
//! 4. the page past the disk's end fails with `ZX_ERR_IO`, losing nothing;
//! 5. a shrink and a grow make a dirty zero tail, and a last loop writes
//!    everything back.
//!
//! The xtask then checks the disk image against `disk_layout::expected`.
#![no_std]
#![no_main]

extern crate alloc;

mod disk_pager;
mod writeback;

use alloc::sync::Arc;
use alloc::vec;
use core::ops::Range;
use core::sync::atomic::{AtomicBool, Ordering::Relaxed};

use disk_layout::*;
use disk_pager::{DiskPager, PagerStats};
use platform_virt::block::BlockDevice;
use platform_virt::fault::catch;
use platform_virt::process::Process;
use platform_virt::smp::{cpu_count, run_on, run_on_all, Handle};
use platform_virt::vm::AddressSpace;
use platform_virt::{println, Boot};
use zx::ops::ZX_VMO_OP_COMMIT;
use zx::options::{ZX_VMO_RESIZABLE, ZX_VM_PERM_READ, ZX_VM_PERM_WRITE};
use zx::{PortPacket, Status};

platform_virt::entry!(main);

/// The frames the process may hold: an eighth of the disk.
const FRAME_BUDGET: usize = (DISK_PAGES / 8) as usize;

/// The cores of the readers and, later, of the writers.
const WORKERS: [usize; WRITERS] = [2, 3];

/// The key of the pager VMO's page requests.
const KEY: u64 = 1;

fn main(boot: &Boot) -> i32 {
    let Some(disk) = BlockDevice::find(&boot.info) else {
        println!("no virtio block device: boot this image with `cargo xtask run`, which attaches the disk");
        return 1;
    };
    if disk.size() != DISK_SIZE || cpu_count() != 4 {
        println!(
            "needs a {DISK_SIZE}-byte disk and 4 cores; found {} bytes, {} cores",
            disk.size(),
            cpu_count()
        );
        return 1;
    }
    println!("disk: virtio-blk at {:#x}, {} KiB", disk.base(), disk.size() >> 10);
    let free = boot.frames().free_count();
    run(disk);
    assert_eq!(boot.frames().free_count(), free, "every frame came back");
    println!("the process is gone and every frame is back; powering off");
    0
}

/// Everything a core needs to take part.
struct Job {
    p: Process,
    disk: BlockDevice,
    stats: PagerStats,
    pager: zx::Handle,
    vmo: zx::Handle,
    /// Where the VMO is mapped, read-write.
    va: u64,
}

fn run(disk: BlockDevice) {
    let p = Process::with_frame_budget(FRAME_BUDGET).expect("a process");
    let (pager, port) = (p.zx.pager_create(0).unwrap(), p.zx.port_create(0).unwrap());
    let vmo = p.zx.pager_create_vmo(pager, ZX_VMO_RESIZABLE, port, KEY, DISK_SIZE + PAGE).unwrap();
    let rw = ZX_VM_PERM_READ | ZX_VM_PERM_WRITE;
    let va = p.zx.vmar_map(p.zx.root_vmar(), rw, 0, vmo, 0, DISK_SIZE + PAGE).unwrap();
    let job = Arc::new(Job { p, disk, stats: PagerStats::default(), pager, vmo, va });
    let zx = &job.p.zx;
    let j = job.clone();
    run_on_all(move || j.p.enter());
    println!(
        "a pager VMO of {} pages (the disk and one page past its end) mapped at {va:#x}, in a process that may hold {FRAME_BUDGET} frames",
        DISK_PAGES + 1
    );
    let j = job.clone();
    let pager_core = run_on(1, move || {
        DiskPager { zx: &j.p.zx, pager, port, vmo, disk: &j.disk, stats: &j.stats }.serve()
    });
    println!("pager: serving READs on core 1");

    read_everything(&job);
    write_while_writing_back(&job);
    store_the_last_round_under_pressure(&job);
    fail_past_the_end(&job);
    write_back_a_zero_tail_and_everything(&job);

    zx.port_queue(port, &PortPacket::user(0, 0, [0; 32])).unwrap();
    pager_core.join();
    let (read, failed) = (job.stats.pages_read.load(Relaxed), job.stats.pages_failed.load(Relaxed));
    println!(
        "pager: {read} pages read on demand, {failed} failed with ZX_ERR_IO; {} Clean pages evicted under the frame budget",
        zx.context().evicted_pages()
    );
    for handle in [vmo, pager, port] {
        zx.handle_close(handle).unwrap();
    }
    run_on_all(AddressSpace::leave);
}

/// The word at `va` through the mapping, or the status of the fatal fault
/// the load took.
fn load(job: &Job, offset: u64) -> Result<u64, Status> {
    let word = (job.va + offset) as *const u64;
    // SAFETY: `word` is an aligned word of the VMO's mapping, in the root
    // VMAR, which aliases no Rust memory; the closure holds no lock and owns
    // nothing when it loads.
    unsafe { catch(|| word.read_volatile()) }.map_err(|fault| fault.status)
}

/// Stores `value` at `offset` of the VMO through the mapping.
fn store(job: &Job, offset: u64, value: u64) {
    // SAFETY: as for `load`; the VM resolves the fault a store may take.
    unsafe { ((job.va + offset) as *mut u64).write_volatile(value) }
}

/// The word at `offset` of a disk whose bytes `byte` gives.
fn word_of(byte: fn(u64) -> u8, offset: u64) -> u64 {
    u64::from_le_bytes(core::array::from_fn(|i| byte(offset + i as u64)))
}

/// Cores 2 and 3 load a word of every page (even and odd pages), taking a
/// fault per page; then `vmo_read` reads the whole disk in 16-page pieces,
/// and COMMIT brings in 16 pages. Every byte is the disk's.
fn read_everything(job: &Arc<Job>) {
    let readers = WORKERS.map(|cpu| {
        let j = job.clone();
        run_on(cpu, move || {
            for page in (cpu as u64 % 2..DISK_PAGES).step_by(2) {
                let offset = page * PAGE + 8 * (page % 512);
                assert_eq!(load(&j, offset), Ok(word_of(original, offset)), "core {cpu}, page {page}");
            }
        })
    });
    for reader in readers {
        reader.join();
    }
    println!("readers: cores 2 and 3 faulted in all {DISK_PAGES} pages through the mapping");
    let zx = &job.p.zx;
    let mut bytes = vec![0; (16 * PAGE) as usize];
    for first in (0..DISK_PAGES).step_by(16) {
        zx.vmo_read(job.vmo, &mut bytes, first * PAGE).unwrap();
        let offset = |i: usize| first * PAGE + i as u64;
        assert!(bytes.iter().enumerate().all(|(i, &b)| b == original(offset(i))), "vmo_read at page {first}");
    }
    let commit = 200 * PAGE..216 * PAGE;
    zx.vmo_op_range(job.vmo, ZX_VMO_OP_COMMIT, commit.start, commit.end - commit.start, &mut []).unwrap();
    println!("vmo_read: the whole disk, as on the device; COMMIT of pages 200..216: ok");
}

/// Writers on cores 2 and 3 store rounds `1..ROUNDS` into their pages;
/// meanwhile core 0 writes [`MESSAGE`] with `vmo_write` and runs the
/// writeback loop until the writers are done.
fn write_while_writing_back(job: &Arc<Job>) {
    let zx = &job.p.zx;
    let done = Arc::new([AtomicBool::new(false), AtomicBool::new(false)]);
    let writers = store_rounds(job, 1..ROUNDS, Some(done.clone()));
    zx.vmo_write(job.vmo, MESSAGE, MESSAGE_AT).unwrap();
    println!(
        "writers: cores 2 and 3 store {} rounds into {} pages each while vmo_write writes {} bytes and core 0 writes back",
        ROUNDS - 1,
        writer_pages(0).end - writer_pages(0).start,
        MESSAGE.len()
    );
    let (mut passes, mut written) = (0, 0);
    while !done.iter().all(|d| d.load(Relaxed)) {
        written += writeback::write_back(zx, job.pager, job.vmo, DISK_SIZE, &job.disk);
        passes += 1;
    }
    for writer in writers {
        writer.join();
    }
    println!("writeback: {passes} passes while the writers ran wrote {written} pages");
}

/// The writers store their last round; then a reader on core 3 loads every
/// page. Under the frame budget that evicts Clean pages, but none of the
/// Dirty ones: it reads their last round.
fn store_the_last_round_under_pressure(job: &Arc<Job>) {
    for writer in store_rounds(job, ROUNDS..ROUNDS + 1, None) {
        writer.join();
    }
    let zx = &job.p.zx;
    let evicted = zx.context().evicted_pages();
    let j = job.clone();
    run_on(3, move || {
        // Everything is written but the zero tail, which comes later.
        let tail = DISK_SIZE - ZERO_TAIL_PAGES * PAGE;
        for offset in (0..DISK_SIZE).step_by(PAGE as usize) {
            let now = word_of(if offset < tail { expected } else { original }, offset);
            assert_eq!(load(&j, offset), Ok(now), "page {}", offset / PAGE);
        }
    })
    .join();
    let evicted = zx.context().evicted_pages() - evicted;
    let dirty = writeback::dirty_pages(zx, job.pager, job.vmo, DISK_SIZE);
    assert!(evicted > 0 && dirty > 0, "the sweep evicted ({evicted}) Clean pages, {dirty} pages stay Dirty");
    println!(
        "writers: the last round; readers: core 3 loaded every page again, evicting {evicted} Clean pages; the {dirty} Dirty ones kept their last round"
    );
}

/// The page past the disk's end: the device cannot read it, the pager
/// fails it with IO, and `vmo_read` and a load through the mapping get
/// ZX_ERR_IO. The Dirty pages are untouched.
fn fail_past_the_end(job: &Job) {
    let zx = &job.p.zx;
    let dirty = writeback::dirty_pages(zx, job.pager, job.vmo, DISK_SIZE);
    let mut byte = [0];
    assert_eq!(zx.vmo_read(job.vmo, &mut byte, DISK_SIZE), Err(Status::Io));
    assert_eq!(load(job, DISK_SIZE), Err(Status::Io));
    assert_eq!(writeback::dirty_pages(zx, job.pager, job.vmo, DISK_SIZE), dirty, "the failure lost nothing");
    println!("the page past the disk's end: vmo_read and a load both get ZX_ERR_IO, as the pager failed it; the {dirty} Dirty pages are still dirty");
}

/// The VMO shrinks to [`ZERO_TAIL_PAGES`] short of the disk and grows back
/// to it: a dirty zero tail. A last loop writes every dirty page and the
/// tail (as zeros) to the disk.
fn write_back_a_zero_tail_and_everything(job: &Job) {
    let zx = &job.p.zx;
    zx.vmo_set_size(job.vmo, DISK_SIZE - ZERO_TAIL_PAGES * PAGE).unwrap();
    zx.vmo_set_size(job.vmo, DISK_SIZE).unwrap();
    println!("a shrink and a grow made a {ZERO_TAIL_PAGES}-page dirty zero tail");
    let dirty = writeback::dirty_pages(zx, job.pager, job.vmo, DISK_SIZE);
    let mut last = 0;
    loop {
        match writeback::write_back(zx, job.pager, job.vmo, DISK_SIZE, &job.disk) {
            0 => break,
            pages => last += pages,
        }
    }
    assert_eq!(last, dirty, "the last loop wrote what was dirty");
    job.disk.flush().expect("a flush");
    println!("writeback: a last loop wrote {last} pages; nothing is dirty; the disk is flushed");
}

/// Writers on cores 2 and 3 store `rounds` into their pages; each then
/// sets its flag in `done`, if given.
fn store_rounds(
    job: &Arc<Job>,
    rounds: Range<u64>,
    done: Option<Arc<[AtomicBool; WRITERS]>>,
) -> [Handle<()>; WRITERS] {
    WORKERS.map(|cpu| {
        let (j, done, rounds) = (job.clone(), done.clone(), rounds.clone());
        let w = cpu - WORKERS[0];
        run_on(cpu, move || {
            for round in rounds {
                for page in writer_pages(w) {
                    for word in (page * PAGE..(page + 1) * PAGE).step_by(WORD_STRIDE as usize) {
                        store(&j, word, stored_word(w, round, word));
                    }
                }
            }
            if let Some(done) = done {
                done[w].store(true, Relaxed);
            }
        })
    })
}

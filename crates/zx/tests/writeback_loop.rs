//! The writeback loop `pager_op_range.md` suggests, run against concurrent
//! writers: a pager thread backed by a host "disk" supplies READs from it,
//! approves DIRTY requests, and repeatedly writes back with query →
//! WRITEBACK_BEGIN → copy to the disk → WRITEBACK_END. Once the writers
//! stop and a last loop ran, the disk must equal the VMO byte for byte
//! (read with `vmo_read` and through the writers' mapping) and nothing is
//! dirty.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::*;
use zx::ops::*;
use zx::options::*;
use zx::port::{ZX_PAGER_VMO_COMPLETE, ZX_PAGER_VMO_DIRTY, ZX_PAGER_VMO_READ};
use zx::{Handle, Status};

const PAGES: u64 = 24;
const K: u64 = 7;
const OPS_PER_WRITER: usize = 300;

type Disk = Arc<Mutex<Vec<u8>>>;

enum Command {
    /// Run one more loop after handling what is queued, then answer.
    FinalLoop(Sender<()>),
    Stop,
}

/// Supplies pages `[first, first + pages)` of `vmo` with the disk's bytes.
fn supply_from_disk(up: &UserPager, vmo: Handle, disk: &[u8], first: u64, pages: u64) {
    let aux = up.env.vmo(pages);
    up.zx().vmo_write(aux, &disk[(first * P) as usize..((first + pages) * P) as usize], 0).unwrap();
    up.zx().pager_supply_pages(up.pager, vmo, first * P, pages * P, aux, 0).unwrap();
    up.zx().handle_close(aux).unwrap();
}

/// Answers the queued requests: READs from the disk, DIRTY requests with
/// OP_DIRTY (NOT_FOUND when a written-back zero range became a gap since:
/// the write then asks for a READ first).
fn serve_requests(up: &UserPager, vmo: Handle, disk: &Disk) {
    while let Some((key, command, first, pages)) = up.next_request(Duration::from_millis(1)) {
        assert_eq!(key, K);
        match command {
            ZX_PAGER_VMO_READ => supply_from_disk(up, vmo, &disk.lock().unwrap(), first, pages),
            ZX_PAGER_VMO_DIRTY => match up.op(ZX_PAGER_OP_DIRTY, vmo, first, pages, 0) {
                Ok(()) | Err(Status::NotFound) => {}
                Err(status) => panic!("OP_DIRTY ({first}, {pages}): {status:?}"),
            },
            ZX_PAGER_VMO_COMPLETE => panic!("COMPLETE while the VMO is open"),
            other => panic!("command {other}"),
        }
    }
}

/// One pass of the sample loop: every dirty range is begun, copied to the
/// disk (zeros for a zero range, written back with IS_ZERO) and ended.
fn writeback(up: &UserPager, vmo: Handle, disk: &Disk) {
    let mut buf = vec![0u8; (PAGES as usize + 1) * VmoDirtyRange::SIZE];
    let (actual, avail) = up.zx().pager_query_dirty_ranges(up.pager, vmo, 0, PAGES * P, &mut buf).unwrap();
    assert_eq!(actual, avail, "at most one range a page");
    for range in VmoDirtyRange::from_bytes(&buf, actual) {
        let (start, end) = (range.offset as usize, (range.offset + range.length) as usize);
        let zero = range.options == ZX_VMO_DIRTY_RANGE_IS_ZERO;
        let data = if zero { ZX_VMO_DIRTY_RANGE_IS_ZERO } else { 0 };
        up.zx()
            .pager_op_range(up.pager, ZX_PAGER_OP_WRITEBACK_BEGIN, vmo, range.offset, range.length, data)
            .unwrap();
        if zero {
            disk.lock().unwrap()[start..end].fill(0);
        } else {
            // Dirty and AwaitingClean pages are committed: no request.
            let mut bytes = vec![0u8; end - start];
            up.zx().vmo_read(vmo, &mut bytes, range.offset).unwrap();
            disk.lock().unwrap()[start..end].copy_from_slice(&bytes);
        }
        up.zx()
            .pager_op_range(up.pager, ZX_PAGER_OP_WRITEBACK_END, vmo, range.offset, range.length, 0)
            .unwrap();
    }
}

fn pager_thread(
    up: Arc<UserPager>,
    vmo: Handle,
    disk: Disk,
    commands: Receiver<Command>,
    loops: Arc<AtomicUsize>,
) {
    loop {
        serve_requests(&up, vmo, &disk);
        writeback(&up, vmo, &disk);
        loops.fetch_add(1, Ordering::SeqCst);
        match commands.try_recv() {
            Ok(Command::FinalLoop(done)) => {
                serve_requests(&up, vmo, &disk);
                writeback(&up, vmo, &disk);
                done.send(()).unwrap();
            }
            Ok(Command::Stop) | Err(TryRecvError::Disconnected) => return,
            Err(TryRecvError::Empty) => {}
        }
    }
}

/// Every `BATCH` operations a writer waits for the pager thread to finish
/// another writeback loop, so that loops and writes interleave whatever the
/// scheduling.
const BATCH: usize = 25;

fn pace(loops: &AtomicUsize, op: usize, since: &mut usize) {
    if op % BATCH == BATCH - 1 {
        let start = std::time::Instant::now();
        while loops.load(Ordering::SeqCst) <= *since {
            assert!(start.elapsed() < PATIENCE, "the pager thread stopped looping");
            std::thread::yield_now();
        }
        *since = loops.load(Ordering::SeqCst);
    }
}

fn random_bytes(rng: &mut Rng, len: usize) -> Vec<u8> {
    (0..len).map(|_| rng.next() as u8).collect()
}

/// A random byte range of the VMO at most `max` long: (offset, len).
fn random_range(rng: &mut Rng, max: u64) -> (u64, u64) {
    let offset = rng.below(PAGES * P);
    let len = 1 + rng.below(max.min(PAGES * P - offset));
    (offset, len)
}

fn writeback_loop(options: u32, seed: u64) {
    let up = Arc::new(UserPager::new());
    let vmo = up.vmo_with(PAGES, K, options);
    let va = up.env.map_rw(vmo, PAGES);
    let mut rng = Rng(seed);
    let disk: Disk = Arc::new(Mutex::new(random_bytes(&mut rng, (PAGES * P) as usize)));
    let (commands, received) = channel();
    let loops = Arc::new(AtomicUsize::new(0));
    let pager = {
        let (up, disk, loops) = (up.clone(), disk.clone(), loops.clone());
        std::thread::spawn(move || pager_thread(up, vmo, disk, received, loops))
    };

    let loops_before = loops.load(Ordering::SeqCst);
    let mut writers = Vec::new();
    for w in 0..2u64 {
        let (up, mut rng, loops) = (up.clone(), Rng(seed * 31 + w), loops.clone());
        writers.push(spawn(move || {
            let mut since = loops.load(Ordering::SeqCst);
            for op in 0..OPS_PER_WRITER {
                pace(&loops, op, &mut since);
                let (offset, len) = random_range(&mut rng, 3 * P);
                up.zx().vmo_write(vmo, &random_bytes(&mut rng, len as usize), offset)?;
            }
            Ok::<(), Status>(())
        }));
    }
    {
        let (up, mut rng, loops) = (up.clone(), Rng(seed * 31 + 2), loops.clone());
        writers.push(spawn(move || {
            let mut since = loops.load(Ordering::SeqCst);
            for op in 0..OPS_PER_WRITER {
                pace(&loops, op, &mut since);
                let (offset, len) = random_range(&mut rng, 64);
                up.env.store(va + offset, &random_bytes(&mut rng, len as usize))?;
            }
            Ok(())
        }));
    }
    {
        let (up, mut rng, loops) = (up.clone(), Rng(seed * 31 + 3), loops.clone());
        writers.push(spawn(move || {
            let mut since = loops.load(Ordering::SeqCst);
            for op in 0..OPS_PER_WRITER / 2 {
                pace(&loops, op, &mut since);
                let (offset, len) = if rng.below(2) == 0 {
                    // Whole pages: a dirty zero range.
                    let first = rng.below(PAGES);
                    (first * P, (1 + rng.below(3.min(PAGES - first))) * P)
                } else {
                    random_range(&mut rng, 2 * P)
                };
                up.zx().vmo_op_range(vmo, ZX_VMO_OP_ZERO, offset, len, &mut [])?;
            }
            Ok(())
        }));
    }
    {
        // A reader through the mapping, so that zero ranges get the zero
        // page mapped before they are written back.
        let (up, mut rng, loops) = (up.clone(), Rng(seed * 31 + 4), loops.clone());
        writers.push(spawn(move || {
            let mut since = loops.load(Ordering::SeqCst);
            for op in 0..OPS_PER_WRITER {
                pace(&loops, op, &mut since);
                let (offset, len) = random_range(&mut rng, 2 * P);
                up.env.load(va + offset, len as usize)?;
            }
            Ok(())
        }));
    }
    for writer in writers {
        assert_eq!(writer.join(), Ok(()));
    }
    let loops_during = loops.load(Ordering::SeqCst) - loops_before;
    assert!(
        loops_during >= OPS_PER_WRITER / BATCH,
        "only {loops_during} writeback loops ran during the writes"
    );

    // A last loop with nothing writing cleans everything.
    let (done, finished) = channel();
    commands.send(Command::FinalLoop(done)).unwrap();
    finished.recv_timeout(PATIENCE).expect("the final loop ran");
    assert_eq!(dirty_ranges(&up, vmo), [], "nothing dirty after the final loop");
    // Read the VMO while the pager thread still answers READs (of the
    // written-back zero ranges, now gaps).
    let got = up.reader(vmo, 0, (PAGES * P) as usize).join().unwrap();
    assert_same(&got, &disk.lock().unwrap(), "VMO against disk");
    // And through the mapping the writers and the reader used.
    let u = up.clone();
    let mapped = spawn(move || u.env.load(va, (PAGES * P) as usize)).join().unwrap();
    assert_same(&mapped, &disk.lock().unwrap(), "mapping against disk");
    assert_eq!(dirty_ranges(&up, vmo), [], "reading dirtied nothing");

    commands.send(Command::Stop).unwrap();
    let joined = spawn(move || pager.join().is_ok()).join();
    assert!(joined, "the pager thread panicked");
    up.unmap(va, PAGES);
    up.close_all_and_check_clean(&[vmo]);
}

#[test]
fn writeback_loop_trap_dirty() {
    for seed in 1..=8 {
        writeback_loop(ZX_VMO_TRAP_DIRTY, seed);
    }
}

#[test]
fn writeback_loop_no_trap_dirty() {
    for seed in 1..=8 {
        writeback_loop(0, seed);
    }
}

//! Host benchmarks (issue 13): each job of vm-core next to the same job done
//! by this machine's Linux, and next to its physical limit, all measured in
//! the same run. `cargo xtask bench host` runs them (release build), prints
//! the table and writes `target/bench/host.json`.
//!
//! - [`project`]: vm-core over [`pool::PoolFrames`] (frames that behave like
//!   physical memory), and over the host mock's heap frames where the
//!   difference shows;
//! - [`linux`]: madvise, userfaultfd, fork and PAGEMAP_SCAN on 4 KiB pages;
//! - [`limits`]: memset, memcpy and a slot load over warm memory, and a
//!   hand-off between two threads;
//! - [`harness`]: repetition (median and spread), rows, targets, the table
//!   and the JSON.
//!
//! Host-only (std, libc): not part of the images.

pub mod harness;
pub mod limits;
pub mod linux;
pub mod pool;
pub mod project;
pub mod region;
mod uapi;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;

use harness::{Figure, MachineInfo, Row, Run, Stats, Target, Unit};
use linux::Fill;
use pool::PoolFrames;
use project::Vm;

/// The page size of both sides (vm-core's `PAGE_SIZE`; Linux's on x86_64
/// and on the arm64 kernels this project targets).
pub const PAGE: usize = vm_core::PAGE_SIZE as usize;

/// The system allocator, counting live heap bytes (for vm-core's metadata
/// per page).
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards every call unchanged to `System`.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Heap bytes allocated and not yet freed by this process.
pub fn live_heap_bytes() -> isize {
    LIVE.load(Ordering::Relaxed)
}

const KIB: usize = 1 << 10;
const MIB: usize = 1 << 20;
const GIB: usize = 1 << 30;
const TIB: usize = 1 << 40;

/// The sizes and repetitions of a run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Config {
    pub quick: bool,
    /// Commit, decommit, metadata: the 64 MiB.
    pub commit: usize,
    /// The large snapshot parent and the dirty-tracked VMO: 1 GiB.
    pub large: usize,
    /// The sparse VMO: 1 TiB.
    pub sparse: usize,
    /// Calls of 64 pages in a supply run.
    pub supply_calls: usize,
    /// Faults in a round-trip or COW run.
    pub faults: usize,
    /// Dirty pages in the dirty-range jobs: 16 and 4096.
    pub dirty: [usize; 2],
    /// Runs of each measurement (more for the short ones).
    pub runs: usize,
    /// Only the jobs whose name contains this (for profiling one job).
    pub only: Option<String>,
}

impl Config {
    /// The sizes.
    pub fn full() -> Config {
        Config {
            quick: false,
            commit: 64 * MIB,
            large: GIB,
            sparse: TIB,
            supply_calls: 256,
            faults: 1024,
            dirty: [16, 4096],
            runs: 11,
            only: None,
        }
    }

    /// Small sizes, one run each: that every job runs and gives sane
    /// figures (the smoke test), not a measurement.
    pub fn quick() -> Config {
        Config {
            quick: true,
            // Enough for Linux's page-table pages to grow (2 MiB each).
            commit: 4 * MIB,
            large: 8 * MIB,
            sparse: TIB,
            supply_calls: 4,
            faults: 16,
            dirty: [16, 64],
            runs: 1,
            only: None,
        }
    }

    fn wants(&self, job: &str) -> bool {
        self.only.as_ref().is_none_or(|only| job.contains(only.as_str()))
    }

    /// Runs for a measurement of one short call.
    fn short_runs(&self) -> usize {
        if self.quick {
            1
        } else {
            101
        }
    }
}

fn size(bytes: usize) -> String {
    match bytes {
        b if b >= TIB => format!("{} TiB", b / TIB),
        b if b >= GIB => format!("{} GiB", b / GIB),
        b if b >= MIB => format!("{} MiB", b / MIB),
        b => format!("{} KiB", b / KIB),
    }
}

/// Runs every job (or those [`Config::only`] names); `progress` hears each
/// row as it is done.
pub fn run(cfg: &Config, progress: &mut dyn FnMut(&Row)) -> Run {
    const P: usize = PAGE;
    let (runs, short) = (cfg.runs, cfg.short_runs());
    let pool = Arc::new(PoolFrames::new((cfg.large + cfg.commit + 16 * MIB) / P).expect("the frame pool"));
    let vm = Vm::over(pool);
    let mock = || Vm::mock(cfg.commit / P + 1024);
    let (commit, c) = (size(cfg.commit), cfg.commit as u64);
    let mut rows = Vec::new();
    let mut push = |row: Row| {
        progress(&row);
        rows.push(row);
    };
    // Figures two rows share, measured once when either is wanted.
    let memset = || {
        Figure::measured(
            format!("memset of {commit} of present memory"),
            limits::memset(cfg.commit, cfg.commit, runs),
        )
    };
    let memcpy = |pages, calls| {
        let what = if pages == 1 {
            "memcpy of one page".to_string()
        } else {
            format!("memcpy of {pages} pages at a time")
        };
        Figure::measured(what, limits::memcpy(pages, calls, runs))
    };
    let (mut memset_fig, mut memcpy64, mut memcpy1, mut round_trip) = (None, None, None, None);

    let job = format!("commit {commit}");
    if cfg.wants(&job) {
        let limit = memset_fig.get_or_insert_with(memset).clone();
        let project = Figure::measured("COMMIT of a fresh VMO, frame pool", project::commit(&vm, c, runs));
        let row = Row::new(job, Unit::TimePerPage, project, linux::populate_write(cfg.commit, runs), limit);
        push(row.with_target(Target::TimesLimit(1.25)));
    }
    let job = format!("commit {commit}, host mock frames");
    if cfg.wants(&job) {
        let limit = memset_fig.get_or_insert_with(memset).clone();
        let project = project::commit(&mock(), c, runs);
        let project = Figure::measured("COMMIT of a fresh VMO, MockFrames (heap boxes)", project);
        push(Row::new(job, Unit::TimePerPage, project, Figure::None, limit));
    }
    let job = format!("zeroing {commit} one page at a time");
    if cfg.wants(&job) {
        let what = format!("memset of each 4 KiB page of {commit} of present memory");
        let limit = Figure::measured(what, limits::memset(cfg.commit, P, runs));
        push(Row::new(job, Unit::TimePerPage, Figure::None, Figure::None, limit));
    }
    let job = format!("decommit {commit}");
    if cfg.wants(&job) {
        let project =
            Figure::measured("DECOMMIT of a committed VMO, frame pool", project::decommit(&vm, c, runs));
        push(Row::new(job, Unit::TimePerPage, project, linux::dontneed(cfg.commit, runs), Figure::None));
    }

    let calls = cfg.supply_calls;
    let job = "supply 64 pages per call, by move".to_string();
    if cfg.wants(&job) {
        let limit = memcpy64.get_or_insert_with(|| memcpy(64, cfg.supply_calls)).clone();
        let project = project::supply(&vm, 64, calls as u64, runs);
        let project = Figure::measured("zx_pager_supply_pages of 64 pages moved from an aux VMO", project);
        let row = Row::new(
            job,
            Unit::PagesPerSecond,
            project,
            linux::uffd_supply(Fill::Move, 64, calls, runs),
            limit,
        );
        push(row.with_target(Target::TimesLinux(1.0)));
    }
    let job = "supply 64 pages per call, by copy".to_string();
    if cfg.wants(&job) {
        let limit = memcpy64.get_or_insert_with(|| memcpy(64, cfg.supply_calls)).clone();
        let linux = linux::uffd_supply(Fill::Copy, 64, calls, runs);
        push(Row::new(job, Unit::PagesPerSecond, Figure::None, linux, limit));
    }
    let mut handoff = None;
    for fill in [Fill::Copy, Fill::Move] {
        let job = format!("pager fault round trip (Linux: {})", fill.name());
        if cfg.wants(&job) {
            let limit = handoff.get_or_insert_with(|| {
                let what = "a request to another thread and its answer through a Mutex and Condvar";
                Figure::measured(what, limits::handoff(cfg.faults as u64, runs))
            });
            let project = round_trip.get_or_insert_with(|| {
                Figure::measured(
                    "a read fault (lookup_for_fault) on a missing pager page, a pager thread supplying it",
                    project::fault_round_trip(&vm, cfg.faults as u64, runs),
                )
            });
            let linux = linux::uffd_fault(fill, cfg.faults, runs);
            push(Row::new(job, Unit::TimePerCall, project.clone(), linux, limit.clone()));
        }
    }

    for bytes in [4 * KIB, cfg.commit, cfg.large] {
        let job = format!("snapshot of a {} populated parent", size(bytes));
        if cfg.wants(&job) {
            let project = project::snapshot(&vm, bytes as u64, short);
            let project = Figure::measured("create_child(SNAPSHOT) of a committed VMO", project);
            let row = Row::new(job, Unit::TimePerCall, project, linux::fork(bytes, runs), Figure::None);
            push(if bytes == cfg.large { row.with_target(Target::TimesLinux(0.01)) } else { row });
        }
    }

    let faults = cfg.faults as u64;
    let job = "COW write fault".to_string();
    if cfg.wants(&job) {
        let limit = memcpy1.get_or_insert_with(|| memcpy(1, cfg.faults)).clone();
        let project = Figure::measured(
            "lookup_for_fault(write) of a page shared with a snapshot, frame pool",
            project::cow_fault(&vm, faults, runs),
        );
        push(Row::new(job, Unit::TimePerPage, project, linux::cow_after_fork(cfg.faults, runs), limit));
    }
    let job = "COW write fault, host mock frames".to_string();
    if cfg.wants(&job) {
        let limit = memcpy1.get_or_insert_with(|| memcpy(1, cfg.faults)).clone();
        let project = Figure::measured(
            "lookup_for_fault(write) of a page shared with a snapshot, MockFrames",
            project::cow_fault(&mock(), faults, runs),
        );
        push(Row::new(job, Unit::TimePerPage, project, Figure::None, limit));
    }

    let large = size(cfg.large);
    for dirty in cfg.dirty {
        let (query_job, writeback_job) = (
            format!("dirty query over {large}, {dirty} dirty pages"),
            format!("WRITEBACK_BEGIN+END of those {dirty} ranges"),
        );
        if !cfg.wants(&query_job) && !cfg.wants(&writeback_job) {
            continue;
        }
        let (query, writeback) = project::dirty_ranges(&vm, cfg.large as u64, dirty as u64, runs);
        let (scan, rearm) = linux::written_pages(cfg.large, dirty, runs);
        let query = Figure::measured("zx_pager_query_dirty_ranges over the supplied pager VMO", query);
        push(
            Row::new(query_job, Unit::TimePerCall, query, scan, Figure::None)
                .with_target(Target::TimesLinux(0.1)),
        );
        let writeback = Figure::measured("WRITEBACK_BEGIN and WRITEBACK_END of each dirty range", writeback);
        push(Row::new(writeback_job, Unit::TimePerCall, writeback, rearm, Figure::None));
    }

    let job = "page-list lookup".to_string();
    if cfg.wants(&job) {
        let pages = 1024;
        let project = Figure::measured(
            "lookup_for_fault(read) of a committed page of a 1024-page VMO",
            project::lookup(&vm, pages, runs),
        );
        let limit = Figure::measured(
            "a load from a dense table of 1024 u64 slots",
            limits::slot_load(pages as usize, runs),
        );
        push(Row::new(job, Unit::TimePerCall, project, Figure::None, limit));
    }
    let job = format!("scan of a sparse {} VMO, 16 pages", size(cfg.sparse));
    if cfg.wants(&job) {
        let project = project::sparse_scan(&vm, cfg.sparse as u64, 16, short);
        let project = Figure::measured("committed_pages over the whole VMO", project);
        push(Row::new(
            job,
            Unit::TimePerCall,
            project,
            linux::sparse_scan(cfg.sparse, 16, short),
            Figure::None,
        ));
    }
    let job = "metadata per committed page".to_string();
    if cfg.wants(&job) {
        let what = format!("heap bytes held by a committed {commit} VMO (counting allocator)");
        let project = Figure::measured(what, project::metadata(&vm, c));
        let limit = Figure::measured("one 8-byte descriptor per page", Stats::exact(8.0));
        let row = Row::new(job, Unit::BytesPerPage, project, linux::metadata(cfg.commit), limit);
        push(row.with_target(Target::AtMost(16.0)));
    }
    Run { machine: MachineInfo::here(), config: cfg.clone(), rows }
}

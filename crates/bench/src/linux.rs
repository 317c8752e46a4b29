//! Linux's side of each job, done by this machine's kernel in this process:
//! anonymous memory with 4 KiB pages (`MADV_NOHUGEPAGE`, page for page what
//! vm-core does), madvise, userfaultfd, fork and PAGEMAP_SCAN.
//!
//! A feature the running kernel (or this process's privileges) does not
//! offer gives [`Figure::Absent`] with the call that failed and its errno,
//! never a figure.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::harness::{sample, time_per, Figure, Stats};
use crate::region::{Pages, Region, MADV_POPULATE_WRITE};
use crate::uapi::*;
use crate::PAGE;

/// What a Linux job gives when the kernel cannot do it.
type Absent = String;

fn measured(what: &str, stats: Result<Stats, Absent>) -> Figure {
    match stats {
        Ok(stats) => Figure::measured(what, stats),
        Err(why) => Figure::Absent { why },
    }
}

fn errno(call: &str) -> Absent {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{call}: {} (kernel {})", io::Error::last_os_error(), kernel.trim())
}

/// `ioctl(fd, request, arg)`; the errno as an [`Absent`] on failure.
fn ioctl<T>(fd: &OwnedFd, request: u64, arg: &mut T, call: &str) -> Result<libc::c_int, Absent> {
    // SAFETY: `arg` is the `#[repr(C)]` struct of the kernel's header for
    // `request` (see `uapi`), valid for reads and writes for the call.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), request as _, arg as *mut T) };
    if r < 0 {
        Err(errno(call))
    } else {
        Ok(r)
    }
}

/// `MADV_POPULATE_WRITE` of a fresh region of `bytes`: ns per page.
pub fn populate_write(bytes: usize, runs: usize) -> Figure {
    let stats = (|| {
        let mut samples = Vec::new();
        for _ in 0..runs {
            let r = Region::new(bytes, Pages::Small, false).map_err(|e| format!("mmap: {e}"))?;
            let mut result = Ok(());
            samples
                .push(time_per((bytes / PAGE) as u64, || result = r.advise(0, bytes, MADV_POPULATE_WRITE)));
            result.map_err(|e| format!("madvise(MADV_POPULATE_WRITE): {e}"))?;
        }
        Ok(Stats::of(samples))
    })();
    measured("MADV_POPULATE_WRITE of a fresh anonymous region", stats)
}

/// `MADV_DONTNEED` of a populated region of `bytes`: ns per page.
pub fn dontneed(bytes: usize, runs: usize) -> Figure {
    let stats = sample(runs, || {
        let r = Region::populated(bytes, Pages::Small, false).expect("a populated region");
        time_per((bytes / PAGE) as u64, || r.advise(0, bytes, libc::MADV_DONTNEED).expect("MADV_DONTNEED"))
    });
    Figure::measured("MADV_DONTNEED of a populated anonymous region", stats)
}

/// A userfaultfd with `features`, from the syscall or, where that is not
/// permitted, `/dev/userfaultfd`.
fn userfaultfd(features: u64) -> Result<OwnedFd, Absent> {
    // SAFETY: a syscall that only creates a file descriptor.
    let fd = unsafe { libc::syscall(libc::SYS_userfaultfd, libc::O_CLOEXEC | UFFD_USER_MODE_ONLY) };
    let fd = if fd >= 0 {
        fd as libc::c_int
    } else {
        let dev = std::fs::File::open("/dev/userfaultfd").map_err(|e| format!("userfaultfd: {e}"))?;
        // SAFETY: USERFAULTFD_IOC_NEW takes the new descriptor's flags and
        // only creates a descriptor.
        let fd = unsafe { libc::ioctl(dev.as_raw_fd(), USERFAULTFD_IOC_NEW as _, libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(errno("USERFAULTFD_IOC_NEW"));
        }
        fd
    };
    // SAFETY: `fd` is a new descriptor owned by nothing else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut api = UffdioApi { api: UFFD_API, features, ioctls: 0 };
    ioctl(&fd, UFFDIO_API, &mut api, &format!("UFFDIO_API with features {features:#x}"))?;
    Ok(fd)
}

/// Registers `region` with `uffd` in `mode`; fails unless the range
/// allows the ioctl numbered `needs`.
fn register(uffd: &OwnedFd, region: &Region, mode: u64, needs: u64, name: &str) -> Result<(), Absent> {
    let range = UffdioRange { start: region.addr() as u64, len: region.size() as u64 };
    let mut reg = UffdioRegister { range, mode, ioctls: 0 };
    ioctl(uffd, UFFDIO_REGISTER, &mut reg, "UFFDIO_REGISTER")?;
    if reg.ioctls & (1 << needs) == 0 {
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        return Err(format!("{name} is not offered on this range (kernel {})", kernel.trim()));
    }
    Ok(())
}

/// How userfaultfd fills a page.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// UFFDIO_COPY: a new page, copied from a buffer.
    Copy,
    /// UFFDIO_MOVE (6.8): the buffer's own page, moved (the buffer's range
    /// ends unmapped).
    Move,
}

impl Fill {
    pub fn name(self) -> &'static str {
        match self {
            Fill::Copy => "UFFDIO_COPY",
            Fill::Move => "UFFDIO_MOVE",
        }
    }

    fn features(self) -> u64 {
        match self {
            Fill::Copy => 0,
            Fill::Move => UFFD_FEATURE_MOVE,
        }
    }

    /// Fills `len` bytes at `dst` from `src`.
    fn fill(self, uffd: &OwnedFd, dst: usize, src: usize, len: usize, wake: bool) -> Result<(), Absent> {
        let (request, dontwake) = match self {
            Fill::Copy => (UFFDIO_COPY, UFFDIO_COPY_MODE_DONTWAKE),
            Fill::Move => (UFFDIO_MOVE, UFFDIO_MOVE_MODE_DONTWAKE),
        };
        let mode = if wake { 0 } else { dontwake };
        let mut arg = UffdioCopy { dst: dst as u64, src: src as u64, len: len as u64, mode, result: 0 };
        ioctl(uffd, request, &mut arg, self.name())?;
        if arg.result != len as i64 {
            return Err(format!("{} filled {} of {len} bytes", self.name(), arg.result));
        }
        Ok(())
    }

    /// A registered missing range and a populated source of `len` each.
    fn setup(self, len: usize) -> Result<(OwnedFd, Region, Region), Absent> {
        let uffd = userfaultfd(self.features())?;
        let dst = Region::new(len, Pages::Small, false).map_err(|e| format!("mmap: {e}"))?;
        let nr = if self == Fill::Copy { NR_COPY } else { NR_MOVE };
        register(&uffd, &dst, UFFDIO_REGISTER_MODE_MISSING, nr, self.name())?;
        let mut src = Region::populated(len, Pages::Small, false).map_err(|e| format!("mmap: {e}"))?;
        src.bytes().fill(7);
        Ok((uffd, dst, src))
    }
}

/// `per_call` pages at a time into a registered missing range, `calls`
/// times, nobody waiting: ns per page.
pub fn uffd_supply(fill: Fill, per_call: usize, calls: usize, runs: usize) -> Figure {
    let len = per_call * PAGE;
    let stats = (|| {
        let mut samples = Vec::new();
        for _ in 0..runs {
            let (uffd, dst, src) = fill.setup(len * calls)?;
            let mut result = Ok(());
            samples.push(time_per((per_call * calls) as u64, || {
                result = (0..calls).try_for_each(|k| {
                    fill.fill(&uffd, dst.addr() + k * len, src.addr() + k * len, len, false)
                });
            }));
            result?;
            assert_eq!(dst.read(len * calls - 1), 7, "the pages arrived");
        }
        Ok(Stats::of(samples))
    })();
    measured(&format!("{} of {per_call} pages per call into a registered range", fill.name()), stats)
}

/// A read of each of `pages` pages of a registered missing range, each
/// fault served by a handler thread that reads the event from the
/// userfaultfd and fills the page: ns per fault, round trip.
pub fn uffd_fault(fill: Fill, pages: usize, runs: usize) -> Figure {
    let stats = (|| {
        let mut samples = Vec::new();
        for _ in 0..runs {
            let (uffd, dst, src) = fill.setup(pages * PAGE)?;
            let served = std::thread::scope(|s| {
                let handler = s.spawn(|| -> Result<(), Absent> {
                    for _ in 0..pages {
                        let mut msg = UffdMsg::default();
                        let size = std::mem::size_of::<UffdMsg>();
                        // SAFETY: reads one `uffd_msg` into `msg`, which is
                        // that struct's layout and size.
                        let n =
                            unsafe { libc::read(uffd.as_raw_fd(), (&mut msg as *mut UffdMsg).cast(), size) };
                        if n != size as isize || msg.event != UFFD_EVENT_PAGEFAULT {
                            return Err(errno("read(userfaultfd)"));
                        }
                        let page = msg.address as usize & !(PAGE - 1);
                        fill.fill(&uffd, page, src.addr() + (page - dst.addr()), PAGE, true)?;
                    }
                    Ok(())
                });
                let t = time_per(pages as u64, || (0..pages).for_each(|p| assert_eq!(dst.read(p * PAGE), 7)));
                handler.join().expect("the handler").map(|()| t)
            })?;
            samples.push(served);
        }
        Ok(Stats::of(samples))
    })();
    measured(
        &format!("a read fault on a userfaultfd-missing page, served by a thread with {}", fill.name()),
        stats,
    )
}

/// Forks a child that waits for its parent to close a pipe, then exits
/// without touching memory; returns the child and the pipe's write end.
/// The fork itself is timed into `fork_ns`.
fn fork_waiting_child(fork_ns: &mut f64) -> (libc::pid_t, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` is the two-element array pipe(2) fills.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0, "pipe");
    // SAFETY: two new descriptors owned by nothing else.
    let (read_end, write_end) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let mut pid = 0;
    // SAFETY: the child calls only async-signal-safe functions (close,
    // read, _exit) before it exits, as fork in a threaded process requires.
    *fork_ns = time_per(1, || pid = unsafe { libc::fork() });
    assert!(pid >= 0, "fork: {}", io::Error::last_os_error());
    if pid == 0 {
        let mut byte = 0u8;
        // SAFETY: see above; the child touches only its stack byte.
        unsafe {
            libc::close(write_end.as_raw_fd());
            libc::read(read_end.as_raw_fd(), (&mut byte as *mut u8).cast(), 1);
            libc::_exit(0);
        }
    }
    (pid, write_end)
}

fn reap(pid: libc::pid_t, write_end: OwnedFd) {
    drop(write_end);
    let mut status = 0;
    // SAFETY: waits for our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid, "waitpid");
}

/// `fork()` of this process holding a populated region of `bytes` (the
/// frame pool and the limits' buffers are `MADV_DONTFORK`): ns per call.
pub fn fork(bytes: usize, runs: usize) -> Figure {
    let _region = Region::populated(bytes, Pages::Small, false).expect("a populated region");
    let stats = sample(runs, || {
        let mut t = 0.0;
        let (pid, pipe) = fork_waiting_child(&mut t);
        reap(pid, pipe);
        t
    });
    Figure::measured("fork() of this process holding the populated region", stats)
}

/// A write to each of `pages` pages shared copy-on-write with a forked
/// child that is still alive: ns per fault.
pub fn cow_after_fork(pages: usize, runs: usize) -> Figure {
    let stats = sample(runs, || {
        let r = Region::populated(pages * PAGE, Pages::Small, false).expect("a populated region");
        let (pid, pipe) = fork_waiting_child(&mut 0.0);
        let t = time_per(pages as u64, || (0..pages).for_each(|p| r.write(p * PAGE, 1)));
        reap(pid, pipe);
        t
    });
    Figure::measured("a write to a page after fork, the child alive", stats)
}

/// PAGEMAP_SCAN of `region` for pages in `category`, into `out`; returns
/// how many regions it found.
fn pagemap_scan(
    pagemap: &OwnedFd,
    region: &Region,
    category: u64,
    out: &mut [PageRegion],
) -> Result<usize, Absent> {
    let mut arg = PmScanArg {
        size: std::mem::size_of::<PmScanArg>() as u64,
        start: region.addr() as u64,
        end: (region.addr() + region.size()) as u64,
        vec: out.as_mut_ptr() as u64,
        vec_len: out.len() as u64,
        category_mask: category,
        return_mask: category,
        ..PmScanArg::default()
    };
    ioctl(pagemap, PAGEMAP_SCAN, &mut arg, "PAGEMAP_SCAN").map(|n| n as usize)
}

/// One PAGEMAP_SCAN as [`pagemap_scan`], timed: ns, after checking that
/// it found `expected` regions.
fn timed_scan(
    pagemap: &OwnedFd,
    region: &Region,
    category: u64,
    out: &mut [PageRegion],
    expected: usize,
) -> Result<f64, Absent> {
    let mut found = Ok(0);
    let t = time_per(1, || found = pagemap_scan(pagemap, region, category, out));
    match found? {
        n if n == expected => Ok(t),
        n => Err(format!("PAGEMAP_SCAN found {n} regions of category {category:#x}, not {expected}")),
    }
}

fn open_pagemap() -> Result<OwnedFd, Absent> {
    std::fs::File::open("/proc/self/pagemap")
        .map(OwnedFd::from)
        .map_err(|e| format!("/proc/self/pagemap: {e}"))
}

/// Write-protects (re-arms) `[start, start + len)` of a WP-registered range.
fn write_protect(uffd: &OwnedFd, start: u64, len: u64) -> Result<(), Absent> {
    let mut wp = UffdioWriteprotect { range: UffdioRange { start, len }, mode: UFFDIO_WRITEPROTECT_MODE_WP };
    ioctl(uffd, UFFDIO_WRITEPROTECT, &mut wp, "UFFDIO_WRITEPROTECT").map(drop)
}

/// The dirty-tracking jobs over a populated region of `bytes` registered
/// for asynchronous write protection (UFFD_FEATURE_WP_ASYNC), all of it
/// write-protected and then `dirty` pages spread evenly written:
/// PAGEMAP_SCAN for written pages over all of it (ns per call), and
/// UFFDIO_WRITEPROTECT re-arming each written range it found (ns for all of
/// them; the pages are written again, untimed, between runs).
pub fn written_pages(bytes: usize, dirty: usize, runs: usize) -> (Figure, Figure) {
    let result = (|| {
        let pages = bytes / PAGE;
        let region = Region::populated(bytes, Pages::Small, false).map_err(|e| format!("mmap: {e}"))?;
        let uffd = userfaultfd(UFFD_FEATURE_WP_ASYNC)?;
        register(&uffd, &region, UFFDIO_REGISTER_MODE_WP, NR_WRITEPROTECT, "UFFDIO_WRITEPROTECT")?;
        write_protect(&uffd, region.addr() as u64, bytes as u64)?;
        let pagemap = open_pagemap()?;
        let stride = pages / dirty;
        let dirty_all = || (0..dirty).for_each(|k| region.write(k * stride * PAGE, 1));
        dirty_all();
        let mut out = vec![PageRegion::default(); dirty + 1];
        let mut scans = Vec::new();
        let mut rearms = Vec::new();
        for _ in 0..runs {
            scans.push(timed_scan(&pagemap, &region, PAGE_IS_WRITTEN, &mut out, dirty)?);
        }
        for _ in 0..runs {
            let found = pagemap_scan(&pagemap, &region, PAGE_IS_WRITTEN, &mut out)?;
            let mut result = Ok(());
            rearms.push(time_per(1, || {
                result = out[..found].iter().try_for_each(|r| write_protect(&uffd, r.start, r.end - r.start));
            }));
            result?;
            if pagemap_scan(&pagemap, &region, PAGE_IS_WRITTEN, &mut out)? != 0 {
                return Err("pages still written after UFFDIO_WRITEPROTECT".to_string());
            }
            dirty_all();
        }
        Ok((Stats::of(scans), Stats::of(rearms)))
    })();
    match result {
        Ok((scan, rearm)) => (
            Figure::measured("PAGEMAP_SCAN for PAGE_IS_WRITTEN (uffd-wp async) over the region", scan),
            Figure::measured("UFFDIO_WRITEPROTECT of each written range", rearm),
        ),
        Err(why) => (Figure::Absent { why: why.clone() }, Figure::Absent { why }),
    }
}

/// PAGEMAP_SCAN for present pages over a reserved (MAP_NORESERVE) region
/// of `bytes` holding `populated` pages spread evenly: ns per call.
pub fn sparse_scan(bytes: usize, populated: usize, runs: usize) -> Figure {
    let stats = (|| {
        let region = Region::new(bytes, Pages::Small, true).map_err(|e| format!("mmap: {e}"))?;
        (0..populated).for_each(|k| region.write(k * (bytes / populated) + 5 * PAGE, 1));
        let pagemap = open_pagemap()?;
        let mut out = vec![PageRegion::default(); populated + 1];
        let mut samples = Vec::new();
        for _ in 0..runs {
            samples.push(timed_scan(&pagemap, &region, PAGE_IS_PRESENT, &mut out, populated)?);
        }
        Ok(Stats::of(samples))
    })();
    measured("PAGEMAP_SCAN for PAGE_IS_PRESENT over the region", stats)
}

/// This process's page-table bytes (`VmPTE` of /proc/self/status).
fn page_table_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmPTE:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Page-table bytes Linux adds per page when a region of `bytes` is
/// populated (`VmPTE`; the `struct page` of every frame, 64 bytes, exists
/// whether mapped or not and is not counted).
pub fn metadata(bytes: usize) -> Figure {
    let stats = (|| {
        let region = Region::new(bytes, Pages::Small, false).map_err(|e| format!("mmap: {e}"))?;
        let before = page_table_bytes().ok_or("no VmPTE in /proc/self/status")?;
        region.advise(0, bytes, MADV_POPULATE_WRITE).map_err(|e| format!("MADV_POPULATE_WRITE: {e}"))?;
        let after = page_table_bytes().ok_or("no VmPTE in /proc/self/status")?;
        Ok(Stats::exact((after - before) as f64 / (bytes / PAGE) as f64))
    })();
    measured("page-table bytes (VmPTE) added by populating the region", stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_feature_the_kernel_lacks_gives_the_failing_call_not_a_figure() {
        // No kernel has feature bit 63: UFFDIO_API refuses it (or, without
        // the privilege, userfaultfd itself fails); either way, a reason.
        let why = userfaultfd(1 << 63).map(drop).unwrap_err();
        assert!(why.contains("UFFDIO_API") || why.contains("userfaultfd"), "{why}");
        assert!(matches!(measured("x", Err(why)), Figure::Absent { .. }));
    }
}

//! The pager: it answers each `ZX_PAGER_VMO_READ` by reading the pages'
//! sectors from the block device into an aux VMO and supplying them, and
//! fails with `ZX_ERR_IO` (`ZX_PAGER_OP_FAIL`) the pages the device cannot
//! read. The VMO has no TRAP_DIRTY, so no DIRTY request comes.

use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use disk_layout::PAGE;
use platform_virt::block::{BlockDevice, BlockError, SECTOR_SIZE};
use zx::ops::ZX_PAGER_OP_FAIL;
use zx::port::{ZX_PAGER_VMO_READ, ZX_PKT_TYPE_PAGE_REQUEST, ZX_TIME_INFINITE};
use zx::{Handle, Status, Zx};

/// What the pager did, for the run's report.
#[derive(Default)]
pub struct PagerStats {
    /// Pages read from the disk and supplied.
    pub pages_read: AtomicU64,
    /// Pages failed with `ZX_ERR_IO`.
    pub pages_failed: AtomicU64,
}

/// One pager serving one VMO from `disk`.
pub struct DiskPager<'a> {
    pub zx: &'a Zx,
    pub pager: Handle,
    pub port: Handle,
    pub vmo: Handle,
    pub disk: &'a BlockDevice,
    pub stats: &'a PagerStats,
}

impl DiskPager<'_> {
    /// Serves page requests until a user packet arrives on the port.
    pub fn serve(&self) {
        loop {
            let packet = self.zx.port_wait(self.port, ZX_TIME_INFINITE).expect("the pager's port");
            if packet.packet_type != ZX_PKT_TYPE_PAGE_REQUEST {
                return;
            }
            let request = packet.page_request().expect("a page request");
            assert_eq!(request.command, ZX_PAGER_VMO_READ, "only READs come without TRAP_DIRTY");
            self.read(request.offset / PAGE, request.length / PAGE);
        }
    }

    /// Reads pages `[first, first + pages)` page by page, supplying each
    /// run the device read and failing each page it could not.
    fn read(&self, first: u64, pages: u64) {
        let mut run: Vec<u8> = Vec::new();
        let mut run_start = first;
        for page in first..first + pages {
            let mut bytes = vec![0; PAGE as usize];
            match self.disk.read(page * PAGE / SECTOR_SIZE as u64, &mut bytes) {
                Ok(()) => run.extend_from_slice(&bytes),
                Err(BlockError::Io) => {
                    self.supply(run_start, &run);
                    run.clear();
                    run_start = page + 1;
                    self.fail(page);
                }
                Err(error) => panic!("reading page {page}: {error:?}"),
            }
        }
        self.supply(run_start, &run);
    }

    /// Supplies `bytes` (whole pages) at page `first` through an aux VMO.
    fn supply(&self, first: u64, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let len = bytes.len() as u64;
        let aux = self.zx.vmo_create(len, 0).expect("an aux VMO");
        self.zx.vmo_write(aux, bytes, 0).expect("the aux VMO takes the pages");
        // A supply over pages that were supplied since is ignored, not an
        // error.
        self.zx.pager_supply_pages(self.pager, self.vmo, first * PAGE, len, aux, 0).expect("supply");
        self.zx.handle_close(aux).expect("the aux VMO's handle");
        self.stats.pages_read.fetch_add(len / PAGE, Relaxed);
    }

    /// Fails `page` with `ZX_ERR_IO`: whoever waits for it gets that status.
    fn fail(&self, page: u64) {
        let io = Status::Io.into_raw() as i64 as u64;
        self.zx.pager_op_range(self.pager, ZX_PAGER_OP_FAIL, self.vmo, page * PAGE, PAGE, io).expect("fail");
        self.stats.pages_failed.fetch_add(1, Relaxed);
    }
}

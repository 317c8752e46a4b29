//! A virtio block device on QEMU virt's virtio-mmio transport, driven by the
//! `virtio-drivers` crate with polled, synchronous requests.
//!
//! The crate's [`Hal`] is this platform's: DMA memory comes from the kernel
//! heap, which the kernel's identity map covers, so a buffer's virtual
//! address is its physical one. Virtio devices are cache-coherent, so
//! sharing a buffer needs no cache maintenance. Buffers handed to the device
//! must therefore lie in the identity map ([`USER_BASE`] and above holds
//! VMAR mappings, whose addresses mean nothing to a device): the methods
//! refuse others.

use alloc::alloc::{alloc_zeroed, dealloc, Layout};
use core::ptr::NonNull;

use spin::Mutex;
use virtio_drivers::device::blk::VirtIOBlk;
use virtio_drivers::transport::mmio::{MmioTransport, VirtIOHeader};
use virtio_drivers::transport::{DeviceType, Transport};
use virtio_drivers::{BufferDirection, Hal, PhysAddr, PAGE_SIZE};

use crate::boot_info::BootInfo;
use crate::mmu::tables::USER_BASE;

/// The size of a block (a virtio sector).
pub const SECTOR_SIZE: usize = virtio_drivers::device::blk::SECTOR_SIZE;

/// Why a block request did not complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockError {
    /// The device reported an I/O error (a sector past its end included).
    Io,
    /// The buffer is not a whole number of sectors, or lies outside the
    /// identity map.
    BadBuffer,
    /// The driver refused the request for another reason.
    Driver,
}

/// The platform's DMA and MMIO rules for `virtio-drivers`.
pub struct VirtHal;

fn dma_layout(pages: usize) -> Layout {
    Layout::from_size_align(pages * PAGE_SIZE, PAGE_SIZE).expect("a page-aligned layout")
}

// SAFETY: DMA memory is zeroed, page-aligned heap memory that stays
// allocated until `dma_dealloc`; its physical address is its virtual one in
// the identity map. MMIO and shared buffers are identity-mapped too.
unsafe impl Hal for VirtHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        // SAFETY: the layout has a non-zero size (the driver asks for at
        // least one page).
        let ptr = unsafe { alloc_zeroed(dma_layout(pages)) };
        let ptr = NonNull::new(ptr).expect("heap memory for virtio DMA");
        (ptr.as_ptr() as PhysAddr, ptr)
    }

    unsafe fn dma_dealloc(_paddr: PhysAddr, vaddr: NonNull<u8>, pages: usize) -> i32 {
        // SAFETY: the caller passes what `dma_alloc` returned for `pages`.
        unsafe { dealloc(vaddr.as_ptr(), dma_layout(pages)) };
        0
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, _size: usize) -> NonNull<u8> {
        NonNull::new(paddr as *mut u8).expect("a non-zero MMIO address")
    }

    unsafe fn share(buffer: NonNull<[u8]>, _direction: BufferDirection) -> PhysAddr {
        buffer.as_ptr() as *mut u8 as PhysAddr
    }

    unsafe fn unshare(_paddr: PhysAddr, _buffer: NonNull<[u8]>, _direction: BufferDirection) {}
}

/// A virtio-blk device; requests from several CPUs are served one at a
/// time.
pub struct BlockDevice {
    driver: Mutex<VirtIOBlk<VirtHal, MmioTransport<'static>>>,
    base: u64,
    sectors: u64,
}

impl BlockDevice {
    /// The first virtio-mmio slot of the device tree that holds a block
    /// device, initialised; `None` if there is none or it fails to start.
    pub fn find(info: &BootInfo) -> Option<BlockDevice> {
        info.virtio_mmio.as_slice().iter().find_map(|slot| {
            let header = NonNull::new(slot.start as *mut VirtIOHeader)?;
            // SAFETY: the device tree names a virtio-mmio register window of
            // `slot.len()` bytes here; the identity map maps it as device
            // memory for the whole run, and only this transport uses it.
            let transport = unsafe { MmioTransport::new(header, slot.len() as usize) }.ok()?;
            if transport.device_type() != DeviceType::Block {
                return None;
            }
            let driver = VirtIOBlk::<VirtHal, _>::new(transport).ok()?;
            let sectors = driver.capacity();
            Some(BlockDevice { driver: Mutex::new(driver), base: slot.start, sectors })
        })
    }

    /// The MMIO base of the device's slot.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// The device's size in bytes.
    pub fn size(&self) -> u64 {
        self.sectors * SECTOR_SIZE as u64
    }

    /// Reads the sectors from `sector` on into `buf`.
    pub fn read(&self, sector: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        check(buf)?;
        self.driver.lock().read_blocks(sector as usize, buf).map_err(BlockError::from)
    }

    /// Writes `buf` to the sectors from `sector` on.
    pub fn write(&self, sector: u64, buf: &[u8]) -> Result<(), BlockError> {
        check(buf)?;
        self.driver.lock().write_blocks(sector as usize, buf).map_err(BlockError::from)
    }

    /// Waits until what was written is durable.
    pub fn flush(&self) -> Result<(), BlockError> {
        self.driver.lock().flush().map_err(BlockError::from)
    }
}

/// BAD_BUFFER unless `buf` is a non-empty whole number of sectors in the
/// identity map.
fn check(buf: &[u8]) -> Result<(), BlockError> {
    let end = (buf.as_ptr() as u64).checked_add(buf.len() as u64);
    let in_identity_map = end.is_some_and(|end| end <= USER_BASE);
    if buf.is_empty() || !buf.len().is_multiple_of(SECTOR_SIZE) || !in_identity_map {
        return Err(BlockError::BadBuffer);
    }
    Ok(())
}

impl From<virtio_drivers::Error> for BlockError {
    fn from(error: virtio_drivers::Error) -> Self {
        match error {
            virtio_drivers::Error::IoError => BlockError::Io,
            _ => BlockError::Driver,
        }
    }
}

//! The Linux uAPI the Linux side uses that `libc` does not carry:
//! userfaultfd (`linux/userfaultfd.h`, UFFDIO_MOVE since 6.8) and
//! PAGEMAP_SCAN (`linux/fs.h`, since 6.7). Layouts as in the kernel's
//! headers; the ioctl numbers are the generic `_IOWR` encoding, shared by
//! x86_64 and arm64.

/// `_IOC(dir, ty, nr, size)` of `asm-generic/ioctl.h`.
const fn ioc(dir: u64, ty: u64, nr: u64, size: usize) -> u64 {
    (dir << 30) | ((size as u64) << 16) | (ty << 8) | nr
}
const READ_WRITE: u64 = 3;
const fn iowr<T>(ty: u64, nr: u64) -> u64 {
    ioc(READ_WRITE, ty, nr, std::mem::size_of::<T>())
}

pub const UFFD_API: u64 = 0xAA;
const UFFDIO: u64 = 0xAA;
pub const UFFD_USER_MODE_ONLY: libc::c_int = 1;
/// `USERFAULTFD_IOC_NEW` on `/dev/userfaultfd`: `_IO(0xAA, 0x00)`.
pub const USERFAULTFD_IOC_NEW: u64 = ioc(0, UFFDIO, 0x00, 0);

pub const UFFD_FEATURE_WP_ASYNC: u64 = 1 << 15;
pub const UFFD_FEATURE_MOVE: u64 = 1 << 16;

pub const UFFDIO_REGISTER_MODE_MISSING: u64 = 1 << 0;
pub const UFFDIO_REGISTER_MODE_WP: u64 = 1 << 1;

pub const UFFDIO_COPY_MODE_DONTWAKE: u64 = 1 << 0;
pub const UFFDIO_MOVE_MODE_DONTWAKE: u64 = 1 << 0;
pub const UFFDIO_WRITEPROTECT_MODE_WP: u64 = 1 << 0;

/// The `_UFFDIO_*` numbers: also the bits of `uffdio_register.ioctls`.
pub const NR_COPY: u64 = 0x03;
pub const NR_MOVE: u64 = 0x05;
pub const NR_WRITEPROTECT: u64 = 0x06;

pub const UFFD_EVENT_PAGEFAULT: u8 = 0x12;

#[repr(C)]
#[derive(Default)]
pub struct UffdioApi {
    pub api: u64,
    pub features: u64,
    pub ioctls: u64,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
pub struct UffdioRange {
    pub start: u64,
    pub len: u64,
}

#[repr(C)]
#[derive(Default)]
pub struct UffdioRegister {
    pub range: UffdioRange,
    pub mode: u64,
    pub ioctls: u64,
}

/// `struct uffdio_copy`; `struct uffdio_move` has the same layout.
#[repr(C)]
#[derive(Default)]
pub struct UffdioCopy {
    pub dst: u64,
    pub src: u64,
    pub len: u64,
    pub mode: u64,
    /// Bytes copied (moved), or a negated errno.
    pub result: i64,
}

#[repr(C)]
#[derive(Default)]
pub struct UffdioWriteprotect {
    pub range: UffdioRange,
    pub mode: u64,
}

/// `struct uffd_msg` for a page fault: the event, then `arg.pagefault`.
#[repr(C)]
#[derive(Default)]
pub struct UffdMsg {
    pub event: u8,
    pub reserved1: u8,
    pub reserved2: u16,
    pub reserved3: u32,
    pub flags: u64,
    pub address: u64,
    pub ptid: u32,
    pub pad: u32,
}

pub const UFFDIO_API: u64 = iowr::<UffdioApi>(UFFDIO, 0x3F);
pub const UFFDIO_REGISTER: u64 = iowr::<UffdioRegister>(UFFDIO, 0x00);
pub const UFFDIO_COPY: u64 = iowr::<UffdioCopy>(UFFDIO, NR_COPY);
pub const UFFDIO_MOVE: u64 = iowr::<UffdioCopy>(UFFDIO, NR_MOVE);
pub const UFFDIO_WRITEPROTECT: u64 = iowr::<UffdioWriteprotect>(UFFDIO, NR_WRITEPROTECT);

pub const PAGE_IS_WRITTEN: u64 = 1 << 1;
pub const PAGE_IS_PRESENT: u64 = 1 << 3;

/// `struct pm_scan_arg`.
#[repr(C)]
#[derive(Default)]
pub struct PmScanArg {
    pub size: u64,
    pub flags: u64,
    pub start: u64,
    pub end: u64,
    pub walk_end: u64,
    pub vec: u64,
    pub vec_len: u64,
    pub max_pages: u64,
    pub category_inverted: u64,
    pub category_mask: u64,
    pub category_anyof_mask: u64,
    pub return_mask: u64,
}

/// `struct page_region`.
#[repr(C)]
#[derive(Default, Clone, Copy)]
pub struct PageRegion {
    pub start: u64,
    pub end: u64,
    pub categories: u64,
}

pub const PAGEMAP_SCAN: u64 = iowr::<PmScanArg>(b'f' as u64, 16);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_and_numbers_match_the_headers() {
        assert_eq!(std::mem::size_of::<UffdMsg>(), 32);
        assert_eq!(std::mem::size_of::<PmScanArg>(), 96);
        // Values of the kernel headers' macros.
        assert_eq!(UFFDIO_API, 0xc018_aa3f);
        assert_eq!(UFFDIO_REGISTER, 0xc020_aa00);
        assert_eq!(UFFDIO_COPY, 0xc028_aa03);
        assert_eq!(UFFDIO_WRITEPROTECT, 0xc018_aa06);
        assert_eq!(PAGEMAP_SCAN, 0xc060_6610);
    }
}

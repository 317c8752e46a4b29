//! From `_start` to the image's main: the device tree, the console, the
//! memory map, the heap and the frame allocator.

use crate::boot_info::BootInfo;
use crate::frames::{self, Frames, FRAME_SIZE};
use crate::gic::Wakeups;
use crate::memory_map::{PhysRange, RangeSet};
use crate::{fatal, power, println};
use buddy_system_allocator::LockedHeap;

core::arch::global_asm!(include_str!("asm/boot.S"));

/// Start of RAM on QEMU's virt board, where QEMU places the device tree for
/// images that are not Linux kernels (they get no pointer in x0).
const VIRT_DTB_AT_RAM_START: u64 = 0x4000_0000;

#[global_allocator]
static HEAP: LockedHeap<32> = LockedHeap::empty();

/// What the platform found and set up, handed to the image's main.
pub struct Boot {
    /// The device tree's facts.
    pub info: BootInfo<'static>,
    /// The exception level QEMU started the image at (1, or 2 with
    /// `virtualization=on`); the image always runs at EL1.
    pub entry_el: u8,
    /// The image, including its stacks and BSS.
    pub image: PhysRange,
    /// The kernel heap.
    pub heap: PhysRange,
    /// The RAM given to the frame allocator.
    pub frame_ranges: RangeSet,
}

impl Boot {
    /// The physical frame allocator ([`frames::global`]).
    pub fn frames(&self) -> &'static Frames {
        frames::global()
    }
}

/// Declares the image's main: `platform_virt::entry!(main)` with
/// `fn main(boot: &Boot) -> i32`; its return value is the run's exit status.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[no_mangle]
        fn __platform_virt_main(boot: &$crate::Boot) -> i32 {
            $main(boot)
        }
    };
}

extern "Rust" {
    fn __platform_virt_main(boot: &Boot) -> i32;
}

extern "C" {
    static __image_start: u8;
    static __image_end: u8;
}

/// Finds the device tree: x0 if the loader passed one, else the start of RAM.
fn find_dtb(x0: u64) -> Option<&'static mut [u8]> {
    [x0, VIRT_DTB_AT_RAM_START].into_iter().filter(|pa| *pa != 0 && pa % 8 == 0).find_map(|pa| {
        // SAFETY: with the MMU off every RAM address is accessible, and QEMU
        // puts the tree (or the image, which starts 2 MiB further) there.
        let header = unsafe { core::ptr::read_volatile(pa as *const [u8; 8]) };
        let size = crate::fdt_blob::total_size(&header)?;
        // SAFETY: the header's magic matched; QEMU loaded `size` bytes of
        // tree there, RAM that the boot CPU alone uses until it has read them
        // (the tree stays reserved for the whole run), and this is the one
        // reference to them.
        Some(unsafe { core::slice::from_raw_parts_mut(pa as *mut u8, size) })
    })
}

#[no_mangle]
extern "C" fn platform_entry(x0: u64, entry_el: u64) -> ! {
    let Some(blob) = find_dtb(x0) else { power::exit(1) };
    if crate::fdt_blob::compact(blob).is_err() {
        power::exit(1)
    }
    let blob: &'static [u8] = blob;
    let Ok(info) = BootInfo::parse(blob, blob.as_ptr() as u64) else { power::exit(1) };
    if let Some(uart) = info.uart {
        // SAFETY: the device tree names a PL011 there; with the MMU off its
        // MMIO block is reachable at that address for the whole run.
        unsafe { crate::console::init(uart) };
    }
    power::init(info.psci, info.has_flag("semihosting"));

    let image =
        PhysRange::new(core::ptr::addr_of!(__image_start) as u64, core::ptr::addr_of!(__image_end) as u64);
    let (heap, frame_ranges) = match carve_memory(&info, image) {
        Ok(layout) => layout,
        Err(why) => fatal::report(format_args!("memory layout: {why}")),
    };
    // SAFETY: `heap` is RAM that nothing else uses: it was taken out of the
    // free ranges, which exclude the image, the device tree and reservations.
    unsafe { HEAP.lock().init(heap.start as usize, heap.len() as usize) };
    for range in frame_ranges.as_slice() {
        frames::global().add_range(*range);
    }
    crate::mmu::hw::enable(&info.ram);
    crate::wait::enable_event_stream();
    let wakeups = crate::gic::init(info.gic);
    crate::smp::start(&info.mpidrs, entry_el as u8);
    let boot = Boot { info, entry_el: entry_el as u8, image, heap, frame_ranges };
    print_memory_map(&boot, wakeups);
    // SAFETY: every image defines `__platform_virt_main` with `entry!`, which
    // gives it exactly this signature.
    let status = unsafe { __platform_virt_main(&boot) };
    power::exit(status)
}

/// Splits RAM into the heap and the frame allocator's ranges.
fn carve_memory(info: &BootInfo, image: PhysRange) -> Result<(PhysRange, RangeSet), &'static str> {
    let mut free = info.ram;
    for taken in [image, info.dtb].iter().chain(info.reserved.as_slice()) {
        free.remove(*taken).map_err(|_| "too many reserved ranges")?;
    }
    let heap_size = (info.ram.total() / 8).clamp(1 << 20, 64 << 20) / FRAME_SIZE * FRAME_SIZE;
    let heap = free.take(heap_size, FRAME_SIZE).ok_or("no room for the heap")?;
    Ok((heap, free))
}

fn print_memory_map(boot: &Boot, wakeups: Wakeups) {
    println!(
        "platform-virt: started at EL{}, running at EL1, {} CPU(s), bootargs \"{}\"",
        boot.entry_el, boot.info.cpus, boot.info.bootargs
    );
    println!("memory map from the device tree:");
    for r in boot.info.ram.as_slice() {
        println!("  ram       {r}");
    }
    println!("  dtb       {}", boot.info.dtb);
    for r in boot.info.reserved.as_slice() {
        println!("  reserved  {r}");
    }
    println!("  image     {}", boot.image);
    println!("  heap      {}", boot.heap);
    for r in boot.frame_ranges.as_slice() {
        println!("  frames    {r}");
    }
    let hw = crate::mmu::hw::kernel_map().hw;
    println!(
        "mmu: on, 48-bit VA, 4 KiB pages; hardware access flag: {}, hardware dirty state: {}",
        if hw.access_flag { "yes" } else { "no" },
        if hw.dirty { "yes" } else { "no" }
    );
    match wakeups {
        Wakeups::Gic(version) => println!(
            "wait: WFI, woken by GICv{version} SGI {} and the virtual timer (PPI {})",
            crate::gic::WAKE_SGI,
            crate::gic::VTIMER_PPI
        ),
        Wakeups::None(why) => println!("wait: WFE ({why}); under TCG waiting cores spin"),
    }
    let free = boot.frames().free_count();
    println!("frame allocator: {free} free frames ({} KiB)", free as u64 * FRAME_SIZE / 1024);
}

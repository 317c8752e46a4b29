//! The smallest image: the platform prints the memory map
//! it found in the device tree and the frame allocator's free frames before
//! calling `main`.
#![no_std]
#![no_main]

use platform_virt::{println, Boot};

platform_virt::entry!(main);

fn main(boot: &Boot) -> i32 {
    println!(
        "hello from platform-virt: {} MiB of RAM, {} free frames",
        boot.info.ram.total() >> 20,
        boot.frames().free_count()
    );
    0
}

//! The boot's reading of the device tree over arbitrary blobs: the check
//! and compaction of the structure block ([`compact`]), then
//! [`BootInfo::parse`], return a value or an error and never panic; a
//! blob [`compact`] refuses is left as it was, and one it accepted has no
//! NOP left for a second pass.
#![no_main]

use libfuzzer_sys::fuzz_target;
use platform_virt::boot_info::BootInfo;
use platform_virt::fdt_blob::compact;

fuzz_target!(|data: &[u8]| {
    let mut blob = data.to_vec();
    match compact(&mut blob) {
        Err(_) => assert_eq!(blob, data, "a refused blob is unchanged"),
        Ok(_) => {
            let compacted = blob.clone();
            assert_eq!(compact(&mut blob), Ok(0));
            assert_eq!(blob, compacted, "a compacted blob is left as it is");
            let _ = BootInfo::parse(&blob, 0x4000_0000);
        }
    }
});

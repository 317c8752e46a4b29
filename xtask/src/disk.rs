//! The disk image of the default run (`block_pager`): created before the
//! boot with `disk_layout::original`, checked after it against
//! `disk_layout::expected`, byte for byte, and kept for a look.

use disk_layout::{expected, original, DISK_SIZE};
use std::fs;
use std::path::Path;

/// Writes a fresh image at `path`, replacing any earlier one.
pub fn create(path: &Path) -> Result<(), String> {
    let bytes: Vec<u8> = (0..DISK_SIZE).map(original).collect();
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    fs::write(path, bytes).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// The verdict on the image at `path` after a run: what the run wrote is
/// there and nothing else changed (`Ok` says how many bytes it wrote), or
/// where the first of the differing bytes is and how many there are.
pub fn verify(path: &Path) -> Result<String, String> {
    let bytes = fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    judge(&bytes)
}

fn judge(bytes: &[u8]) -> Result<String, String> {
    if bytes.len() as u64 != DISK_SIZE {
        return Err(format!("the disk image is {} bytes, not {DISK_SIZE}", bytes.len()));
    }
    let wrong: Vec<u64> = (0..DISK_SIZE).filter(|&o| bytes[o as usize] != expected(o)).collect();
    if let Some(&first) = wrong.first() {
        let (was, want) = (bytes[first as usize], expected(first));
        return Err(format!(
            "{} of the disk image's bytes differ from what the run wrote: the first, at {first:#x} \
             (page {}), is {was:#04x}, not {want:#04x}{}",
            wrong.len(),
            first / 4096,
            if was == original(first) { ", as before the run" } else { "" }
        ));
    }
    let written = (0..DISK_SIZE).filter(|&o| expected(o) != original(o)).count();
    Ok(format!(
        "all {written} bytes the run changed through the VMO are on the disk, and the other {} are as created",
        DISK_SIZE as usize - written
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn after_the_run() -> Vec<u8> {
        (0..DISK_SIZE).map(expected).collect()
    }

    #[test]
    fn the_image_the_run_should_leave_passes() {
        assert!(judge(&after_the_run()).unwrap().starts_with("all "));
    }

    #[test]
    fn a_lost_write_a_stray_write_and_a_short_image_fail() {
        let lost = disk_layout::MESSAGE_AT;
        let mut image = after_the_run();
        image[lost as usize] = original(lost);
        let why = judge(&image).unwrap_err();
        assert!(why.starts_with("1 of") && why.contains("as before the run"), "{why}");
        let mut image = after_the_run();
        image[12_345] ^= 1;
        assert!(judge(&image).unwrap_err().contains(&format!("{:#x}", 12_345)));
        assert!(judge(&image[..4096]).unwrap_err().contains("4096 bytes"));
    }
}

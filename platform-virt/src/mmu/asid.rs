//! ASIDs: 8-bit (`TCR_EL1.AS` = 0, which every CPU supports); ASID 0 is the
//! kernel's, the others are handed to address spaces.

use spin::Mutex;

/// Hands out ASIDs 1-255.
pub struct Asids {
    used: Mutex<[u64; 4]>,
}

impl Default for Asids {
    fn default() -> Self {
        Self::new()
    }
}

impl Asids {
    pub const fn new() -> Self {
        // ASID 0 is the kernel's.
        Asids { used: Mutex::new([1, 0, 0, 0]) }
    }

    /// A free ASID, or `None` when all 255 are in use.
    pub fn alloc(&self) -> Option<u16> {
        let mut used = self.used.lock();
        let (word, bits) = used.iter_mut().enumerate().find(|(_, w)| **w != u64::MAX)?;
        let bit = bits.trailing_ones();
        *bits |= 1 << bit;
        Some((word as u32 * 64 + bit) as u16)
    }

    /// Returns `asid`. Its TLB entries must already be invalidated (an
    /// address space does so when dropped).
    pub fn free(&self, asid: u16) {
        assert!(asid != 0 && asid < 256, "ASID {asid} was never handed out");
        let mut used = self.used.lock();
        let (word, bit) = (asid as usize / 64, asid % 64);
        assert!(used[word] & (1 << bit) != 0, "ASID {asid} freed twice");
        used[word] &= !(1 << bit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hands_out_1_to_255_then_reuses() {
        let asids = Asids::new();
        let all: std::vec::Vec<u16> = std::iter::from_fn(|| asids.alloc()).collect();
        assert_eq!(all, (1..=255).collect::<std::vec::Vec<u16>>());
        asids.free(77);
        assert_eq!(asids.alloc(), Some(77));
        assert_eq!(asids.alloc(), None);
    }
}

//! The physical memory map: RAM from the device tree, less what is reserved.
//!
//! Plain Rust with fixed capacity (it runs before the heap exists), tested on
//! the host.

use core::fmt;

/// A half-open physical address range `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PhysRange {
    pub start: u64,
    pub end: u64,
}

impl PhysRange {
    pub const fn new(start: u64, end: u64) -> Self {
        PhysRange { start, end }
    }

    pub const fn len(&self) -> u64 {
        self.end - self.start
    }

    pub const fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// The largest page-aligned range inside this one.
    pub const fn page_aligned_inward(&self, page: u64) -> PhysRange {
        let start = self.start.div_ceil(page) * page;
        let end = self.end / page * page;
        if end > start {
            PhysRange::new(start, end)
        } else {
            PhysRange::new(start, start)
        }
    }
}

impl fmt::Display for PhysRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:#012x}, {:#012x}) {:>8} KiB", self.start, self.end, self.len() / 1024)
    }
}

/// The most ranges a set holds; QEMU virt reports one RAM range, and each
/// reservation can split a range in two.
pub const MAX_RANGES: usize = 32;

/// Why a range could not be added to a [`RangeSet`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooManyRanges;

/// A sorted set of disjoint ranges with fixed capacity.
#[derive(Clone, Copy)]
pub struct RangeSet {
    ranges: [PhysRange; MAX_RANGES],
    len: usize,
}

impl Default for RangeSet {
    fn default() -> Self {
        Self::new()
    }
}

impl RangeSet {
    pub const fn new() -> Self {
        RangeSet { ranges: [PhysRange::new(0, 0); MAX_RANGES], len: 0 }
    }

    pub fn as_slice(&self) -> &[PhysRange] {
        &self.ranges[..self.len]
    }

    /// Total bytes covered.
    pub fn total(&self) -> u64 {
        self.as_slice().iter().map(PhysRange::len).sum()
    }

    /// Adds `range`, merging it with the ranges it overlaps or touches.
    pub fn add(&mut self, range: PhysRange) -> Result<(), TooManyRanges> {
        if range.is_empty() {
            return Ok(());
        }
        let mut merged = range;
        let mut out = RangeSet::new();
        for r in self.as_slice() {
            if r.end < merged.start || r.start > merged.end {
                out.push(*r)?;
            } else {
                merged = PhysRange::new(merged.start.min(r.start), merged.end.max(r.end));
            }
        }
        out.push(merged)?;
        out.ranges[..out.len].sort_unstable_by_key(|r| r.start);
        *self = out;
        Ok(())
    }

    /// Removes `hole` from every range.
    pub fn remove(&mut self, hole: PhysRange) -> Result<(), TooManyRanges> {
        if hole.is_empty() {
            return Ok(());
        }
        let mut out = RangeSet::new();
        for r in self.as_slice() {
            if hole.end <= r.start || hole.start >= r.end {
                out.push(*r)?;
                continue;
            }
            let below = PhysRange::new(r.start, hole.start.max(r.start));
            let above = PhysRange::new(hole.end.min(r.end), r.end);
            for piece in [below, above] {
                if !piece.is_empty() {
                    out.push(piece)?;
                }
            }
        }
        *self = out;
        Ok(())
    }

    /// Takes `len` bytes, `align`-aligned, from the front of the largest range.
    pub fn take(&mut self, len: u64, align: u64) -> Option<PhysRange> {
        let largest = *self.as_slice().iter().max_by_key(|r| r.len())?;
        let start = largest.start.div_ceil(align) * align;
        let taken = PhysRange::new(start, start.checked_add(len)?);
        if taken.end > largest.end {
            return None;
        }
        self.remove(taken).ok()?;
        Some(taken)
    }

    fn push(&mut self, range: PhysRange) -> Result<(), TooManyRanges> {
        let slot = self.ranges.get_mut(self.len).ok_or(TooManyRanges)?;
        *slot = range;
        self.len += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ranges: &[(u64, u64)]) -> RangeSet {
        let mut s = RangeSet::new();
        for &(a, b) in ranges {
            s.add(PhysRange::new(a, b)).unwrap();
        }
        s
    }

    fn pairs(s: &RangeSet) -> std::vec::Vec<(u64, u64)> {
        s.as_slice().iter().map(|r| (r.start, r.end)).collect()
    }

    #[test]
    fn add_merges_overlapping_and_touching_ranges() {
        let s = set(&[(0x3000, 0x4000), (0x1000, 0x2000), (0x2000, 0x2800), (0x3800, 0x5000)]);
        assert_eq!(pairs(&s), [(0x1000, 0x2800), (0x3000, 0x5000)]);
        assert_eq!(s.total(), 0x1800 + 0x2000);
    }

    #[test]
    fn remove_splits_and_trims() {
        let mut s = set(&[(0x0, 0x10000)]);
        s.remove(PhysRange::new(0x4000, 0x5000)).unwrap();
        s.remove(PhysRange::new(0xf000, 0x20000)).unwrap();
        s.remove(PhysRange::new(0x0, 0x1000)).unwrap();
        assert_eq!(pairs(&s), [(0x1000, 0x4000), (0x5000, 0xf000)]);
    }

    #[test]
    fn take_comes_from_the_largest_range_aligned() {
        let mut s = set(&[(0x1000, 0x3000), (0x10800, 0x40000)]);
        let t = s.take(0x8000, 0x1000).unwrap();
        assert_eq!((t.start, t.end), (0x11000, 0x19000));
        assert_eq!(pairs(&s), [(0x1000, 0x3000), (0x10800, 0x11000), (0x19000, 0x40000)]);
        assert_eq!(s.take(0x100000, 0x1000), None);
    }

    #[test]
    fn page_aligned_inward_never_grows() {
        let r = PhysRange::new(0x1001, 0x3fff).page_aligned_inward(0x1000);
        assert_eq!((r.start, r.end), (0x2000, 0x3000));
        assert!(PhysRange::new(0x1001, 0x1fff).page_aligned_inward(0x1000).is_empty());
    }

    #[test]
    fn capacity_is_reported_not_exceeded() {
        let mut s = RangeSet::new();
        for i in 0..MAX_RANGES as u64 {
            s.add(PhysRange::new(i * 0x2000, i * 0x2000 + 0x1000)).unwrap();
        }
        assert_eq!(s.add(PhysRange::new(0x100_0000, 0x100_1000)), Err(TooManyRanges));
        assert_eq!(s.as_slice().len(), MAX_RANGES);
    }
}

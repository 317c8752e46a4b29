//! The disk of `cargo xtask run`'s default image (`block_pager`): what the
//! xtask puts in the image before the run, and what the run writes to it
//! through a pager-backed VMO, so that the host can check the image after
//! the run byte for byte.
//!
//! The disk is [`DISK_PAGES`] pages: a header (its first
//! [`HEADER.len()`](HEADER) bytes) and a pattern every byte of which depends
//! on its offset ([`original`]). The run changes it in three ways, all
//! listed here ([`expected`]):
//! - two writers, one per core, store [`ROUNDS`] rounds of words through a
//!   mapping into their own pages ([`writer_pages`], [`stored_word`]);
//! - `vmo_write` writes [`MESSAGE`] at [`MESSAGE_AT`], across a page
//!   boundary;
//! - the VMO is shrunk by [`ZERO_TAIL_PAGES`] and grown back, which makes a
//!   dirty zero tail that the writeback writes as zeros.
#![no_std]

use core::ops::Range;

/// The page size.
pub const PAGE: u64 = 4096;

/// The disk's size in pages.
pub const DISK_PAGES: u64 = 512;

/// The disk's size in bytes.
pub const DISK_SIZE: u64 = DISK_PAGES * PAGE;

/// The disk's first bytes.
pub const HEADER: &[u8] = b"zircon-vm block_pager disk v1\n";

/// How many writers store through the mapping.
pub const WRITERS: usize = 2;

/// The pages writer `w` stores to: 8 pages each, apart from each other and
/// from the message and the tail.
pub const fn writer_pages(w: usize) -> Range<u64> {
    let first = 64 + 128 * w as u64;
    first..first + 8
}

/// How many rounds each writer stores.
pub const ROUNDS: u64 = 32;

/// The words of a page a writer stores to: one at the start of each sector.
pub const WORD_STRIDE: u64 = 512;

/// What writer `w` stores in round `round` at the word `offset` of the
/// disk.
pub const fn stored_word(w: usize, round: u64, offset: u64) -> u64 {
    0x5700_0000_0000_0000 | ((w as u64) << 48) | (round << 32) | offset
}

/// What `vmo_write` writes at [`MESSAGE_AT`].
pub const MESSAGE: &[u8] = b"written with vmo_write across a page boundary";

/// Where [`MESSAGE`] goes: 20 bytes before the end of page 99.
pub const MESSAGE_AT: u64 = 100 * PAGE - 20;

/// The pages at the disk's end the run zeroes by shrinking the VMO and
/// growing it back.
pub const ZERO_TAIL_PAGES: u64 = 16;

/// The byte at `offset` of the disk as the xtask creates it.
pub fn original(offset: u64) -> u8 {
    match HEADER.get(offset as usize) {
        Some(&byte) => byte,
        // A pattern that differs from page to page and within a page.
        None => (offset.wrapping_mul(0x9e37_79b9).rotate_right(13) ^ (offset >> 12)) as u8,
    }
}

/// The byte at `offset` of the disk after the run.
pub fn expected(offset: u64) -> u8 {
    if offset >= DISK_SIZE - ZERO_TAIL_PAGES * PAGE {
        return 0;
    }
    if (MESSAGE_AT..MESSAGE_AT + MESSAGE.len() as u64).contains(&offset) {
        return MESSAGE[(offset - MESSAGE_AT) as usize];
    }
    let word = offset & !7;
    for w in 0..WRITERS {
        if writer_pages(w).contains(&(offset / PAGE)) && word.is_multiple_of(WORD_STRIDE) {
            return stored_word(w, ROUNDS, word).to_le_bytes()[(offset - word) as usize];
        }
    }
    original(offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_changes_lie_apart_and_inside_the_disk() {
        let message_pages = MESSAGE_AT / PAGE..(MESSAGE_AT + MESSAGE.len() as u64).div_ceil(PAGE);
        let tail = DISK_PAGES - ZERO_TAIL_PAGES..DISK_PAGES;
        let (a, b) = (writer_pages(0), writer_pages(1));
        for writer in [&a, &b] {
            assert!(writer.end <= tail.start);
            assert!(writer.end <= message_pages.start || writer.start >= message_pages.end);
        }
        assert!(a.end <= b.start);
        assert!(message_pages.end <= tail.start);
    }

    #[test]
    fn the_header_survives_the_run() {
        assert!((0..HEADER.len()).all(|i| original(i as u64) == HEADER[i] && expected(i as u64) == HEADER[i]));
    }

    /// A page read from, or written to, the wrong place shows: no two pages
    /// of the pattern are alike, nor is any page uniform.
    #[test]
    fn every_page_of_the_pattern_is_its_own() {
        let page = |p: u64| (p * PAGE + 64..p * PAGE + 128).map(original);
        for p in 0..DISK_PAGES {
            assert!(page(p).any(|b| b != original(p * PAGE + 64)), "page {p} is uniform");
            for q in p + 1..DISK_PAGES {
                assert!(!page(p).eq(page(q)), "pages {p} and {q} are alike");
            }
        }
    }
}

//! Zeroing and copying frames with the instructions made for it: `DC ZVA`
//! zeroes a whole block of memory (its size in `DCZID_EL0`) without
//! reading it, and a page is copied 128 bytes per loop iteration with
//! register-pair loads and stores, as Linux's arm64 `copy_page` does
//! (with SIMD registers here), rather than by `compiler_builtins`' word
//! loop.

use core::arch::asm;

/// The size in bytes of the block `DC ZVA` zeroes, or `None` where the
/// instruction is prohibited (`DCZID_EL0.DZP`, bit 4).
fn zva_block() -> Option<usize> {
    let dczid: u64;
    // SAFETY: reading DCZID_EL0 has no side effects (EL1 may always read it).
    unsafe { asm!("mrs {}, dczid_el0", out(reg) dczid, options(nomem, nostack, preserves_flags)) };
    // BS, bits [3:0]: log2 of the block size in 4-byte words.
    (dczid & 1 << 4 == 0).then(|| 4 << (dczid & 0xf))
}

/// Zeroes the `len` bytes at `start`: the whole `DC ZVA` blocks among them
/// with `DC ZVA`, the bytes around them with stores.
///
/// # Safety
/// The bytes are writable normal memory nothing else uses meanwhile.
#[inline]
pub unsafe fn zero(start: *mut u8, len: usize) {
    let (start, end) = (start as usize, start as usize + len);
    let (first, last, block) = match zva_block() {
        Some(block) => {
            let first = start.next_multiple_of(block).min(end);
            (first, (end & !(block - 1)).max(first), block)
        }
        None => (end, end, 1),
    };
    // The edges are empty for a whole frame: no `memset` calls then.
    // SAFETY: the caller's contract; `start <= first <= last <= end`, and
    // `[first, last)` is whole blocks.
    unsafe {
        if first > start {
            core::ptr::write_bytes(start as *mut u8, 0, first - start);
        }
        // Four blocks an iteration, a page's 64 in 16: half the loop's
        // instructions. The loop starts a 64-byte block, as `copy_page`'s
        // (below).
        let mut va = first;
        let quads = (last - va) / (4 * block);
        if quads > 0 {
            asm!(
                "b 1f",
                ".p2align 6",
                "1:",
                "dc zva, {va}",
                "add {va}, {va}, {block}",
                "dc zva, {va}",
                "add {va}, {va}, {block}",
                "dc zva, {va}",
                "add {va}, {va}, {block}",
                "dc zva, {va}",
                "add {va}, {va}, {block}",
                "subs {n}, {n}, #1",
                "b.ne 1b",
                va = inout(reg) va,
                block = in(reg) block,
                n = inout(reg) quads => _,
                options(nostack),
            );
        }
        for va in (va..last).step_by(block) {
            asm!("dc zva, {}", in(reg) va, options(nostack, preserves_flags));
        }
        if end > last {
            core::ptr::write_bytes(last as *mut u8, 0, end - last);
        }
    }
}

/// Copies the 4 KiB page at `src` to `dst`, 128 bytes an iteration with
/// SIMD register-pair loads and stores: half the instructions of a
/// general-register loop, which matters where each is emulated.
///
/// # Safety
/// Both are 4 KiB of memory, 16-byte aligned, that do not overlap; `src`
/// is readable and `dst` writable, and nothing else writes either meanwhile.
pub unsafe fn copy_page(dst: *mut u8, src: *const u8) {
    // SAFETY: the caller's contract; the loop reads `src` and writes `dst`
    // in 128-byte steps, 4096 bytes in all.
    unsafe {
        asm!(
            // The loop starts a 64-byte block (a cache line, the fetch unit
            // of many cores), so it never straddles a page either: under
            // TCG, every jump back across a page would be a block lookup.
            // Jumped to, over the padding.
            "b 1f",
            ".p2align 6",
            "1:",
            "ldp {a:q}, {b:q}, [{src}]",
            "ldp {c:q}, {d:q}, [{src}, #32]",
            "ldp {e:q}, {f:q}, [{src}, #64]",
            "ldp {g:q}, {h:q}, [{src}, #96]",
            "add {src}, {src}, #128",
            "stp {a:q}, {b:q}, [{dst}]",
            "stp {c:q}, {d:q}, [{dst}, #32]",
            "stp {e:q}, {f:q}, [{dst}, #64]",
            "stp {g:q}, {h:q}, [{dst}, #96]",
            "add {dst}, {dst}, #128",
            "subs {n}, {n}, #128",
            "b.ne 1b",
            src = inout(reg) src => _,
            dst = inout(reg) dst => _,
            n = inout(reg) 4096usize => _,
            a = out(vreg) _, b = out(vreg) _, c = out(vreg) _, d = out(vreg) _,
            e = out(vreg) _, f = out(vreg) _, g = out(vreg) _, h = out(vreg) _,
            options(nostack),
        )
    }
}

//! Arbitrary bytes as a sequence of zx calls, each result checked against
//! zx-model's plain model; a divergence (or a panic, which zx-model turns
//! into one) panics with its message, so libFuzzer records the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(why) = zx_model::run_bytes(data) {
        panic!("zx diverged from the model: {why}");
    }
});

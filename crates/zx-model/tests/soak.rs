//! The soak run behind `cargo xtask soak [--seconds N] [--seed S]`
//! (`SOAK_SECONDS`, `SOAK_SEED`): random call sequences against the model
//! for `N` seconds (default 60), sequence `k` from the seed `S + k`
//! (default: the time). A failure prints its seed, the minimized sequence
//! and why; `--seed` of that seed with `--seconds 0` runs that sequence
//! alone. A test (ignored unless asked for) so that a panic unwinds into
//! the minimizer whatever the profile's panic strategy.

use std::time::{Duration, Instant, SystemTime};

/// How many bytes of random input one sequence decodes (about 150 calls).
const INPUT: usize = 1200;

#[test]
#[ignore = "long: cargo xtask soak runs it"]
fn soak() {
    let value = |name: &str| std::env::var(name).ok()?.parse::<u64>().ok();
    let seconds = value("SOAK_SECONDS").unwrap_or(60);
    let first = value("SOAK_SEED").unwrap_or_else(|| {
        SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(1, |d| d.as_secs())
    });
    println!("soak: seeds from {first} for {seconds} s");
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (mut seed, mut calls) = (first, 0);
    loop {
        let ops = zx_model::decode(&zx_model::seeded_bytes(seed, INPUT));
        calls += ops.len();
        if zx_model::run(&ops).is_err() {
            // Panics while minimizing are expected: keep them quiet.
            std::panic::set_hook(Box::new(|_| {}));
            let small = zx_model::minimize(ops);
            let _ = std::panic::take_hook();
            zx_model::TRACE.store(true, std::sync::atomic::Ordering::Relaxed);
            println!("soak: seed {seed} failed: {}", zx_model::run(&small).unwrap_err());
            panic!("minimized calls: {small:#?}");
        }
        seed += 1;
        if Instant::now() >= deadline {
            break;
        }
    }
    println!("soak: {} sequences ({calls} calls) agreed with the model", seed - first + 1);
}

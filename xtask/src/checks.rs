//! The checks beyond `cargo test`: the long model soak (`cargo xtask
//! soak`) and miri over vm-core and zx (`cargo xtask miri`, and bounded in
//! `cargo xtask test`). A check that cannot run here is reported as skipped,
//! with why, never as passed.

use std::path::Path;
use std::process::Command;

use crate::toolchain;

/// How a check ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Failed,
    Skipped(String),
}

impl Outcome {
    /// `ok`, `FAILED` or `skipped: why`, for a result line.
    pub fn describe(&self) -> String {
        match self {
            Outcome::Passed => "ok".into(),
            Outcome::Failed => "FAILED".into(),
            Outcome::Skipped(why) => format!("skipped: {why}"),
        }
    }
}

/// `cargo xtask soak [--seconds N] [--seed S]`: zx-model's soak test in
/// release, which prints the first seed and, on a failure, the seed to
/// reproduce it and the minimized sequence.
pub fn soak(root: &Path, cargo: &Path, args: &[String]) -> Result<i32, String> {
    let mut command = Command::new(cargo);
    command.current_dir(root).args(["test", "--release", "-p", "zx-model", "--test", "soak"]);
    command.args(["--", "--ignored", "--nocapture"]);
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let value = it.next().ok_or(format!("{arg} needs a value"))?;
        value.parse::<u64>().map_err(|_| format!("{arg} takes a number"))?;
        match arg.as_str() {
            "--seconds" => command.env("SOAK_SECONDS", value),
            "--seed" => command.env("SOAK_SEED", value),
            other => return Err(format!("unknown option {other}: soak [--seconds N] [--seed S]")),
        };
    }
    let status = command.status().map_err(|e| format!("running cargo test: {e}"))?;
    Ok(status.code().unwrap_or(1))
}

/// What miri runs (about a minute): vm-core's unit tests over the mock
/// (but the long random page-list model), zx's unit tests and its VMO
/// syscall tests. The thread-heavy pager and copy-on-write suites take
/// minutes each under the interpreter; `cargo +nightly miri test -p zx`
/// runs them all.
const MIRI_RUNS: [&[&str]; 3] = [
    &["-p", "vm-core", "--features", "mock", "--lib", "--", "--skip", "matches_a_per_index_model"],
    &["-p", "zx", "--lib"],
    &["-p", "zx", "--test", "vmo"],
];

/// `cargo miri test` on the nightly over [`MIRI_RUNS`], installing the nightly's
/// miri component first if it is missing (and saying so); skipped when no
/// nightly toolchain or no miri can be had.
pub fn miri(root: &Path) -> Outcome {
    let has_miri =
        || toolchain::nightly_cargo().args(["miri", "--version"]).output().is_ok_and(|o| o.status.success());
    if !has_miri() {
        if let Some(why) = toolchain::nightly_missing() {
            return Outcome::Skipped(why);
        }
        println!("xtask: installing miri for the nightly toolchain (rustup component add miri rust-src)");
        let added = Command::new("rustup")
            .args(["component", "add", "--toolchain", "nightly", "miri", "rust-src"])
            .status();
        if !added.is_ok_and(|s| s.success()) || !has_miri() {
            return Outcome::Skipped("the nightly's miri component did not install".into());
        }
    }
    let target_dir = root.join("target").join("miri");
    for run in MIRI_RUNS {
        println!("xtask: miri test {}", run.join(" "));
        let status = toolchain::nightly_cargo()
            .current_dir(root)
            .args(["miri", "test", "-q", "--target-dir"])
            .arg(&target_dir)
            .args(run)
            // The tests' bounded waits read the clock.
            .env("MIRIFLAGS", "-Zmiri-disable-isolation")
            .status();
        if !status.is_ok_and(|s| s.success()) {
            return Outcome::Failed;
        }
    }
    Outcome::Passed
}

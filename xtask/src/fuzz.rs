//! Fuzzing with cargo-fuzz on rustup's nightly toolchain, installing
//! cargo-fuzz when missing and saying so.
//!
//! The targets in `fuzz/` start from the seeds in `fuzz/corpus/TARGET`; the
//! inputs they find go to `fuzz/target/corpus/TARGET` and crashes to
//! `fuzz/artifacts/TARGET`, both ignored by git. Without a nightly toolchain
//! nothing can be fuzzed: [`run`] fails saying why, unless
//! `XTASK_FUZZ_SKIP_OK=1` lets it say so and return 0, and [`ci`] reports
//! each target as skipped, never as passed.

use std::io::Write;
use std::process::Command;

use crate::toolchain;

/// The targets in `fuzz/fuzz_targets/`.
pub const TARGETS: [&str; 3] = ["syscalls", "tables", "dtb"];

/// How long [`ci`] fuzzes each target.
const CI_SECONDS: u64 = 30;

/// Set to `1`, lets [`run`] return 0 when fuzzing cannot run here.
const SKIP_OK: &str = "XTASK_FUZZ_SKIP_OK";

/// Fuzzes `target` for `seconds`, streaming the fuzzer's output; returns its
/// exit code (non-zero when it found a crash).
pub fn run(target: &str, seconds: u64) -> Result<i32, String> {
    if !TARGETS.contains(&target) {
        return Err(format!("no fuzz target {target}: expected one of {}", TARGETS.join(", ")));
    }
    if let Some(why) = prepare()? {
        if std::env::var(SKIP_OK).as_deref() == Ok("1") {
            println!("xtask: fuzzing skipped: {why}");
            return Ok(0);
        }
        return Err(format!("cannot fuzz: {why} (set {SKIP_OK}=1 to skip instead)"));
    }
    let status = command(target, seconds)?.status().map_err(|e| format!("running cargo fuzz: {e}"))?;
    Ok(status.code().unwrap_or(1))
}

/// Fuzzes each target for [`CI_SECONDS`], printing one line per target
/// (`ok (N runs)`, `FAILED` followed by the end of the fuzzer's output, or
/// `skipped: why`); returns whether every target that ran passed.
pub fn ci() -> Result<bool, String> {
    let skip = prepare()?;
    let mut passed = true;
    for target in TARGETS {
        print!("fuzz {target} ... ");
        std::io::stdout().flush().map_err(|e| e.to_string())?;
        if let Some(why) = &skip {
            println!("skipped: {why}");
            continue;
        }
        let out = command(target, CI_SECONDS)?.output().map_err(|e| format!("running cargo fuzz: {e}"))?;
        let log = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            println!("ok ({} runs)", runs(&log).map_or("?".to_string(), |n| n.to_string()));
        } else {
            passed = false;
            println!("FAILED ({})", out.status);
            let lines: Vec<&str> = log.lines().collect();
            eprintln!("{}", lines[lines.len().saturating_sub(40)..].join("\n"));
        }
    }
    Ok(passed)
}

/// Why fuzzing cannot run here, if it cannot; installs cargo-fuzz when the
/// nightly toolchain lacks it.
fn prepare() -> Result<Option<String>, String> {
    if let Some(why) = toolchain::nightly_missing() {
        return Ok(Some(format!("cargo-fuzz needs the nightly toolchain: {why}")));
    }
    let nightly =
        |args: &[&str]| toolchain::nightly_cargo().args(args).output().is_ok_and(|o| o.status.success());
    if !nightly(&["fuzz", "--version"]) {
        println!("xtask: installing cargo-fuzz (cargo install cargo-fuzz --locked)");
        if !nightly(&["install", "cargo-fuzz", "--locked"]) {
            return Err("installing cargo-fuzz failed".into());
        }
    }
    Ok(None)
}

/// `cargo +nightly fuzz run TARGET` for `seconds`, in `fuzz/`.
fn command(target: &str, seconds: u64) -> Result<Command, String> {
    let fuzz = crate::root().join("fuzz");
    let found = format!("target/corpus/{target}");
    std::fs::create_dir_all(fuzz.join(&found)).map_err(|e| format!("creating fuzz/{found}: {e}"))?;
    let mut cmd = toolchain::nightly_cargo();
    cmd.current_dir(fuzz)
        .args(["fuzz", "run", target, &found, &format!("corpus/{target}"), "--"])
        .arg(format!("-max_total_time={seconds}"));
    Ok(cmd)
}

/// The runs libFuzzer reports at the end: `Done 1234 runs in 30 second(s)`.
fn runs(log: &str) -> Option<u64> {
    log.lines().rev().find_map(|l| l.strip_prefix("Done ")?.split_whitespace().next()?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_come_from_libfuzzers_last_line() {
        let log = "#2\tINITED cov: 10\nDone 12345 runs in 31 second(s)\n";
        assert_eq!(runs(log), Some(12345));
        assert_eq!(runs("==1== ERROR: libFuzzer: deadly signal\n"), None);
    }
}

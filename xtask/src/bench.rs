//! `cargo xtask bench host|qemu|profile|idle`: performance, measured side
//! by side (issue 13), counted (issue 15).
//!
//! `host` runs the `host-bench` crate built with `--release`: vm-core's jobs,
//! the same jobs done by this machine's Linux and their physical limits, in
//! one run; it prints the table and writes `target/bench/host.json`.
//! `--quick` runs every job once at small sizes (a check, not a
//! measurement). `qemu` is [`crate::bench_qemu`], `profile` is
//! [`crate::profile`], `idle` is [`crate::idle`].

use std::path::Path;
use std::process::Command;

/// Where `bench host` writes the JSON of its run, under the workspace root.
const HOST_JSON: &str = "target/bench/host.json";

fn usage() -> String {
    "usage: cargo xtask bench host [--quick] | cargo xtask bench qemu … | cargo xtask bench profile JOB … | cargo xtask bench idle …"
        .to_string()
}

/// Runs `cargo xtask bench ARGS`; returns the exit code.
pub fn run(root: &Path, cargo: &Path, args: &[String]) -> Result<i32, String> {
    match args.first().map(String::as_str) {
        Some("host") => host(root, cargo, &args[1..]),
        Some("qemu") => crate::bench_qemu::run(root, &args[1..]),
        Some("profile") => crate::profile::run(root, &args[1..]),
        Some("idle") => crate::idle::run(root, &args[1..]),
        _ => Err(usage()),
    }
}

fn host(root: &Path, cargo: &Path, args: &[String]) -> Result<i32, String> {
    let mut command = Command::new(cargo);
    command.current_dir(root).args(["run", "--release", "-q", "-p", "host-bench", "--", "--json", HOST_JSON]);
    match args {
        [] => {}
        [quick] if quick == "--quick" => {
            command.arg("--quick");
        }
        _ => return Err(usage()),
    }
    println!("xtask: cargo run --release -p host-bench (the JSON goes to {HOST_JSON})");
    let status = command.status().map_err(|e| format!("running cargo: {e}"))?;
    Ok(status.code().unwrap_or(1))
}

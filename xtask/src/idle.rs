//! `cargo xtask bench idle [--cpu CPU]...`: the host CPU time QEMU spends
//! while a `-smp 4` image sits idle (issue 15: idle cores sleep, so an idle
//! image uses almost no host CPU).
//!
//! The bench image with `idle_ms=N` waits N ms on every core and exits
//! (`tests/qemu/src/bench.rs`). Each CPU and GIC version boots it twice,
//! idle for 0 and for [`IDLE_MS`] ms; the difference between the two runs'
//! CPU time (user and system, of QEMU as a reaped child, from
//! `/proc/self/stat`) is what the idle seconds cost, since boot and exit
//! cost both runs the same. The clock ticks of `/proc` are 10 ms (Linux's
//! `USER_HZ` of 100), and a run's own cost varies by a few ticks: the
//! figure says "almost nothing" or not, no finer.

use crate::qemu::{self, Boot};
use std::fs;
use std::path::Path;
use std::time::Duration;

const USAGE: &str = "usage: cargo xtask bench idle [--cpu CPU]...";
/// How long the measured run idles.
const IDLE_MS: u64 = 2000;
/// `/proc`'s clock ticks per second (`USER_HZ`).
const TICKS_PER_SECOND: u64 = 100;

/// The user and system time of this process's reaped children, in ms:
/// fields 16 and 17 of `/proc/self/stat` (counted after the command name,
/// which is in parentheses and may hold spaces).
fn children_cpu_ms() -> Result<u64, String> {
    let stat = fs::read_to_string("/proc/self/stat").map_err(|e| format!("reading /proc/self/stat: {e}"))?;
    children_cpu_ms_of(&stat).ok_or_else(|| format!("unreadable /proc/self/stat: {stat}"))
}

fn children_cpu_ms_of(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    // Field 3 (state) is the first after the name: 16 and 17 are the 14th
    // and 15th from there.
    let fields: Vec<u64> =
        after_name.split_whitespace().skip(13).take(2).map(str::parse).collect::<Result<_, _>>().ok()?;
    let [cutime, cstime] = fields[..] else { return None };
    Some((cutime + cstime) * 1000 / TICKS_PER_SECOND)
}

/// `cargo xtask bench idle ARGS`.
pub fn run(root: &Path, args: &[String]) -> Result<i32, String> {
    let mut cpus = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--cpu" => cpus.push(it.next().ok_or(USAGE)?.clone()),
            _ => return Err(USAGE.into()),
        }
    }
    if cpus.is_empty() {
        cpus = ["cortex-a72", "max"].map(String::from).to_vec();
    }
    let image = crate::bench_qemu::build_image(root)?;
    println!("xtask: -smp 4, every core idle for {IDLE_MS} ms; host CPU time of QEMU, that run's less an idle-for-0 run's");
    println!("| -cpu | GIC | host CPU per idle second | the idle run | the idle-for-0 run |");
    println!("|---|---|---|---|---|");
    for cpu in &cpus {
        for gic_v3 in [false, true] {
            let used = |ms: u64| -> Result<u64, String> {
                let mut boot = Boot::new(image.clone(), cpu, 128);
                (boot.cpu, boot.smp, boot.gic_v3, boot.bootargs) =
                    (cpu.clone(), 4, gic_v3, format!("idle_ms={ms}"));
                let before = children_cpu_ms()?;
                let run = qemu::run_command(boot.command(), Duration::from_secs(120), false)?;
                if !run.output.lines().any(|l| l.trim() == format!("bench-idle {ms}")) {
                    return Err(format!("-cpu {cpu}: the idle image did not finish:\n{}", run.output));
                }
                Ok(children_cpu_ms()? - before)
            };
            let (base, idle) = (used(0)?, used(IDLE_MS)?);
            let per_second = idle.saturating_sub(base) * 1000 / IDLE_MS;
            let share = per_second as f64 / 10.0;
            let gic = if gic_v3 { 3 } else { 2 };
            println!("| {cpu} | GICv{gic} | {per_second} ms ({share:.1} % of a host core) | {idle} ms | {base} ms |");
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_times_are_fields_16_and_17() {
        let stat = "4242 (a (tricky) name) S 1 2 3 4 5 6 7 8 9 10 11 12 250 30 20 0 1 0";
        assert_eq!(children_cpu_ms_of(stat), Some(2800), "250 + 30 ticks of 10 ms");
        assert_eq!(children_cpu_ms_of("4242 (short) S 1 2"), None);
    }
}

//! `cargo xtask bench qemu [--reps N] [--pages N] [--cpu CPU]... [--mem MIB] [--smp N] [--only JOB] [--tcg-thread single|multi]`:
//! the bench image (`tests/qemu/src/bench.rs`, built release with debug
//! info) and a stock Debian Linux doing the same jobs ([`linux_guest`]),
//! booted one after the other on the same `-cpu`, `-smp` (4 unless
//! `--smp`) and `-m`, for each CPU (default: `cortex-a72`, `max` and
//! `max,pauth-impdef=on`). With fewer than four cores the jobs that need
//! them (the pager on core 1, the unmap seen by four cores) are left out
//! on both sides; `--only JOB` runs one job (to profile it).
//! `--tcg-thread single` runs every vCPU on one host thread (QEMU's
//! `-accel tcg,thread=single`) instead of one thread each: on a host with
//! fewer cores than vCPUs, the default's broadcast TLB invalidations wait
//! for descheduled vCPU threads, and its figures scatter.
//!
//! Both print `bench JOB NS...`, the ns per operation of each repetition;
//! this prints, per CPU, each job's median and spread (lowest and highest
//! repetition) on both, their ratio and the target for it, and
//! writes it all to `target/bench/qemu.json`. No figure is judged here:
//! a missed target is reported, never a failure.
//!
//! [`linux_guest`]: crate::linux_guest

use crate::linux_guest;
use crate::qemu::{self, Boot, Run};
use crate::toolchain;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The CPUs a run measures unless `--cpu` says: without FEAT_HAFDBS, and
/// with it, with pointer authentication as the architecture specifies it
/// (QARMA5, slow to emulate) and as QEMU's cheap stand-in.
const CPUS: [&str; 3] = ["cortex-a72", "max", "max,pauth-impdef=on"];
/// The cores of both guests unless `--smp` says: the pager and the
/// shootdown need four.
const SMP: u32 = 4;
/// A boot is killed after this long: it has hung.
const LIMIT: Duration = Duration::from_secs(900);

/// One job: its name in both guests' output, what each side does, and the
/// issue's target for this project's time over Linux's, if it sets one.
struct Job {
    name: &'static str,
    ours: &'static str,
    linux: &'static str,
    target: Option<f64>,
}

const JOBS: [Job; 10] = [
    Job {
        name: "demand_zero",
        ours: "demand-zero write fault",
        linux: "anonymous touch",
        target: Some(0.25),
    },
    Job {
        name: "zero_read",
        ours: "read fault of the zero page",
        linux: "read of a never-written page",
        target: Some(0.25),
    },
    Job { name: "cow_write", ours: "COW write fault", linux: "write after fork", target: Some(0.25) },
    Job {
        name: "pager_round_trip",
        ours: "pager fault round trip, pager on core 1",
        linux: "userfaultfd MISSING + UFFDIO_COPY, thread on CPU 1",
        target: Some(0.5),
    },
    Job {
        name: "dirty_write",
        ours: "write to a clean page (software dirty trap, or hardware dirty bit on max)",
        linux: "mprotect + SIGSEGV write-protect trap",
        target: Some(0.25),
    },
    Job {
        name: "cache_sync_64k",
        ours: "CACHE_SYNC of 64 KiB",
        linux: "__builtin___clear_cache of 64 KiB",
        target: None,
    },
    Job {
        name: "unmap_4_cores",
        ours: "unmap of a page loaded on 4 cores",
        linux: "munmap of a page loaded by threads on 4 CPUs",
        target: None,
    },
    Job {
        name: "map_touch_1m",
        ours: "vmar_map + first touch of 1 MiB",
        linux: "mmap + first touch of 1 MiB",
        target: None,
    },
    Job {
        name: "zero_page",
        ours: "zeroing a frame (the fault path's, DC ZVA)",
        linux: "memset of a 4 KiB page (glibc)",
        target: Some(1.1),
    },
    Job {
        name: "copy_page",
        ours: "copying a frame (the COW fault's, LDP/STP)",
        linux: "memcpy of a 4 KiB page (glibc)",
        target: Some(1.1),
    },
];

/// The command's options.
pub const USAGE: &str =
    "[--reps N] [--pages N] [--mem MIB] [--cpu CPU]... [--smp N] [--only JOB] [--tcg-thread single|multi]";

/// What the command takes.
struct Options {
    reps: u32,
    pages: u32,
    mem_mib: u32,
    cpus: Vec<String>,
    smp: u32,
    /// The one job to run, if not all.
    only: Option<String>,
    /// `-accel tcg,thread=` this, if given.
    tcg_thread: Option<String>,
}

fn options(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        reps: 9,
        pages: 256,
        mem_mib: 256,
        cpus: Vec::new(),
        smp: SMP,
        only: None,
        tcg_thread: None,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{arg} needs a value"));
        let number =
            |v: String| v.parse::<u32>().ok().filter(|&n| n > 0).ok_or(format!("{arg} takes a count"));
        match arg.as_str() {
            "--reps" => o.reps = number(value()?)?,
            "--pages" => o.pages = number(value()?)?,
            "--mem" => o.mem_mib = number(value()?)?,
            "--cpu" => o.cpus.push(value()?),
            "--smp" => o.smp = number(value()?)?,
            "--only" => {
                let job = value()?;
                check_job(&job)?;
                o.only = Some(job);
            }
            "--tcg-thread" => match value()?.as_str() {
                t @ ("single" | "multi") => o.tcg_thread = Some(t.to_string()),
                _ => return Err("--tcg-thread takes single or multi".into()),
            },
            other => return Err(format!("unknown option {other}\nusage: cargo xtask bench qemu {USAGE}")),
        }
    }
    if o.cpus.is_empty() {
        o.cpus = CPUS.map(String::from).to_vec();
    }
    Ok(o)
}

/// Fails unless `job` is the name of one of [`JOBS`].
pub fn check_job(job: &str) -> Result<(), String> {
    if JOBS.iter().any(|j| j.name == job) {
        return Ok(());
    }
    let names: Vec<&str> = JOBS.iter().map(|j| j.name).collect();
    Err(format!("{job}: no such job (jobs: {})", names.join(", ")))
}

/// The repetitions of each job a guest printed, and its aborts per
/// operation (this project's guest only).
#[derive(Default)]
struct Figures {
    reps: BTreeMap<String, Vec<u64>>,
    faults: BTreeMap<String, (f64, f64)>,
}

/// Reads a guest's `bench` and `faults` lines; fails unless it printed
/// `bench-done` and exited with 0.
fn figures(run: &Run, who: &str) -> Result<Figures, String> {
    if !run.output.lines().any(|l| l.trim() == "bench-done") || run.exit_code() != Some(0) {
        return Err(format!(
            "{who} did not finish (status {:?}); its output:\n{}",
            run.exit_code(),
            run.output
        ));
    }
    let mut f = Figures::default();
    for line in run.output.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["bench", job, reps @ ..] => {
                let reps =
                    reps.iter().map(|r| r.parse().map_err(|_| format!("{who}: bad figure in {line:?}")));
                f.reps.insert(job.to_string(), reps.collect::<Result<_, _>>()?);
            }
            ["faults", job, vm, software] => {
                let count = |c: &str| c.parse().map_err(|_| format!("{who}: bad count in {line:?}"));
                f.faults.insert(job.to_string(), (count(vm)?, count(software)?));
            }
            _ => {}
        }
    }
    Ok(f)
}

/// Median, lowest and highest of `reps` (not empty).
fn summary(reps: &[u64]) -> (u64, u64, u64) {
    let mut sorted = reps.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    let median = if n % 2 == 1 { sorted[n / 2] } else { (sorted[n / 2 - 1] + sorted[n / 2]) / 2 };
    (median, sorted[0], sorted[n - 1])
}

/// `ns` in ns, µs or ms, whichever shows it with 2-4 digits.
fn time(ns: u64) -> String {
    match ns {
        0..10_000 => format!("{ns} ns"),
        10_000..10_000_000 => format!("{:.1} µs", ns as f64 / 1e3),
        _ => format!("{:.1} ms", ns as f64 / 1e6),
    }
}

/// A ratio with two decimals, or two significant digits below 0.01.
fn ratio(r: f64) -> String {
    if r >= 0.01 {
        format!("{r:.2}")
    } else {
        format!("{r:.1e}")
    }
}

/// A median with its spread: `median (lowest–highest)`.
fn cell(reps: Option<&Vec<u64>>) -> String {
    match reps.filter(|r| !r.is_empty()) {
        Some(r) => {
            let (median, low, high) = summary(r);
            format!("{} ({}–{})", time(median), time(low), time(high))
        }
        None => "—".into(),
    }
}

/// The bench image, built release (with debug info, the workspace's
/// release profile).
pub fn build_image(root: &Path) -> Result<PathBuf, String> {
    let route = toolchain::choose_route()?;
    toolchain::ensure(route)?;
    let target_dir = toolchain::target_dir(route, root);
    println!("xtask: building the bench image, release ({route:?} route)");
    let status = toolchain::image_build_command(route, root, &["qemu-tests"], &target_dir)
        .args(["--release", "--bin", "bench"])
        .status()
        .map_err(|e| format!("running cargo: {e}"))?;
    if !status.success() {
        return Err(format!("building the bench image failed: {status}"));
    }
    Ok(target_dir.join(toolchain::TARGET).join("release").join("bench"))
}

/// What this machine is: the host CPU and its count, the QEMU version, and
/// how busy it was when the run started (the 1, 5 and 15 minute load
/// averages: others' work on it spreads the figures).
fn machine() -> Value {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo.lines().find_map(|l| Some(l.strip_prefix("model name")?.split_once(':')?.1.trim()));
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let qemu = Command::new("qemu-system-aarch64")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().next().unwrap_or("").to_string())
        .unwrap_or_default();
    let load = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    json!({ "host_cpu": model.unwrap_or("unknown"), "host_cores": cores, "qemu": qemu, "load_average": load.join(" ") })
}

/// `cargo xtask bench qemu ARGS`: returns the exit status (0 when both
/// guests finished on every CPU).
pub fn run(root: &Path, args: &[String]) -> Result<i32, String> {
    let o = options(args)?;
    let image = build_image(root)?;
    let guest = linux_guest::prepare(root)?;
    let machine = machine();
    println!(
        "xtask: bench on {} ({} cores, load average {}), {}; -smp {} -m {}M, {} repetitions of {} pages",
        machine["host_cpu"].as_str().unwrap_or(""),
        machine["host_cores"],
        machine["load_average"].as_str().unwrap_or(""),
        machine["qemu"].as_str().unwrap_or(""),
        o.smp,
        o.mem_mib,
        o.reps,
        o.pages
    );
    let threads = o.tcg_thread.as_deref().unwrap_or("multi");
    println!(
        "xtask: TCG with {threads} thread(s) (--tcg-thread); the figures are QEMU's, not an arm64 machine's"
    );
    println!("xtask: the Linux guest is {}", guest.kernel_package);
    let mut bootargs = format!("reps={} pages={}", o.reps, o.pages);
    if let Some(job) = &o.only {
        bootargs += &format!(" only={job}");
    }
    let accel: Vec<String> = match &o.tcg_thread {
        Some(t) => vec!["-accel".into(), format!("tcg,thread={t}")],
        None => Vec::new(),
    };
    let mut per_cpu = Vec::new();
    for cpu in &o.cpus {
        let mut ours = Boot::new(image.clone(), cpu, o.mem_mib);
        // Verbatim: `max` here is QEMU's `max`, not `Boot::new`'s.
        (ours.cpu, ours.smp, ours.bootargs) = (cpu.clone(), o.smp, bootargs.clone());
        println!("xtask: -cpu {cpu}: the bench image");
        let mut cmd = ours.command();
        cmd.args(&accel);
        let mine = figures(&qemu::run_command(cmd, LIMIT, false)?, "the bench image")?;
        let mut linux = ours.clone();
        linux.image = guest.kernel.clone();
        println!("xtask: -cpu {cpu}: Linux");
        let mut cmd =
            linux.linux_command(&guest.initrd, &format!("console=ttyAMA0 quiet panic=-1 {bootargs}"));
        cmd.args(&accel);
        let theirs = figures(&qemu::run_command(cmd, LIMIT, false)?, "the Linux guest")?;
        per_cpu.push(table(cpu, o.smp, threads, &mine, &theirs));
    }
    let command = format!("cargo xtask bench qemu {}", args.join(" "));
    let report = json!({
        "command": command.trim_end(),
        "machine": machine,
        "linux_kernel": guest.kernel_package,
        "smp": o.smp,
        "mem_mib": o.mem_mib,
        "tcg_thread": o.tcg_thread.as_deref().unwrap_or("multi (QEMU's default)"),
        "reps": o.reps,
        "pages": o.pages,
        "unit": "ns per operation",
        "cpus": per_cpu,
    });
    let out = root.join("target").join("bench").join("qemu.json");
    let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
    fs::write(&out, text + "\n").map_err(|e| format!("writing {}: {e}", out.display()))?;
    println!("xtask: figures written to {}", out.display());
    Ok(0)
}

/// Prints the table of one CPU; returns its JSON.
fn table(cpu: &str, smp: u32, threads: &str, mine: &Figures, theirs: &Figures) -> Value {
    println!("\n-cpu {cpu}, -smp {smp}, TCG {threads}-threaded: median (lowest–highest) per operation");
    println!("| job | this project | Linux | ratio | target |");
    println!("|---|---|---|---|---|");
    let mut jobs = Vec::new();
    for job in &JOBS {
        let (ours, linux) = (mine.reps.get(job.name), theirs.reps.get(job.name));
        let median = |r: Option<&Vec<u64>>| r.filter(|r| !r.is_empty()).map(|r| summary(r).0);
        let ratio = match (median(ours), median(linux)) {
            (Some(a), Some(b)) if b > 0 => Some(a as f64 / b as f64),
            _ => None,
        };
        let verdict = match (ratio, job.target) {
            (Some(r), Some(t)) => format!("≤ {t} {}", if r <= t { "met" } else { "missed" }),
            (None, Some(t)) => format!("≤ {t}"),
            (_, None) => "—".into(),
        };
        let shown = ratio.map_or("—".into(), self::ratio);
        println!("| {} | {} | {} | {shown} | {verdict} |", job.ours, cell(ours), cell(linux));
        let side = |r: Option<&Vec<u64>>| match r.filter(|r| !r.is_empty()) {
            Some(r) => {
                let (median, low, high) = summary(r);
                json!({ "median": median, "min": low, "max": high, "reps": r })
            }
            None => Value::Null,
        };
        let faults = mine.faults.get(job.name).map(|(vm, sw)| json!({ "vm": vm, "software": sw }));
        jobs.push(json!({
            "job": job.name,
            "this_project": job.ours,
            "linux_job": job.linux,
            "ours": side(ours),
            "linux": side(linux),
            "ratio": ratio,
            "target": job.target,
            "met": ratio.zip(job.target).map(|(r, t)| r <= t),
            "aborts_per_op": faults,
        }));
    }
    json!({ "cpu": cpu, "jobs": jobs })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    fn run(output: &str, code: i32) -> Run {
        Run { output: output.into(), status: Some(std::process::ExitStatus::from_raw(code << 8)) }
    }

    #[test]
    fn figures_are_read_only_from_a_finished_run() {
        let out = "noise\nbench demand_zero 30 10 20\nfaults demand_zero 1.00 0.00\nbench-done\n";
        let f = figures(&run(out, 0), "g").unwrap();
        assert_eq!(f.reps["demand_zero"], [30, 10, 20]);
        assert_eq!(f.faults["demand_zero"], (1.0, 0.0));
        assert!(figures(&run("bench demand_zero 30\n", 0), "g").is_err(), "no bench-done");
        assert!(figures(&run(out, 1), "g").is_err(), "a failed run");
        assert!(figures(&run("bench x 1 y\nbench-done\n", 0), "g").is_err(), "a bad figure");
    }

    #[test]
    fn medians_and_spread() {
        assert_eq!(summary(&[5, 1, 9]), (5, 1, 9));
        assert_eq!(summary(&[4, 1, 9, 2]), (3, 1, 9));
        assert_eq!(cell(Some(&vec![20_000, 500])), "10.2 µs (500 ns–20.0 µs)");
        assert_eq!(cell(None), "—");
        assert_eq!(time(12_345_678), "12.3 ms");
        assert_eq!((ratio(0.256), ratio(0.00047)), ("0.26".into(), "4.7e-4".into()));
    }

    #[test]
    fn options_default_to_the_three_cpus() {
        let o = options(&[]).unwrap();
        assert_eq!((o.reps, o.pages, o.mem_mib, o.cpus.len()), (9, 256, 256, 3));
        let o = options(&["--cpu".into(), "max".into(), "--reps".into(), "3".into()]).unwrap();
        assert_eq!((o.reps, o.cpus), (3, vec!["max".to_string()]));
        assert!(options(&["--reps".into(), "0".into()]).is_err());
        assert!(options(&["--bogus".into()]).is_err());
        let o = options(&["--tcg-thread".into(), "single".into()]).unwrap();
        assert_eq!(o.tcg_thread.as_deref(), Some("single"));
        assert!(options(&["--tcg-thread".into(), "two".into()]).is_err());
        assert_eq!((o.smp, o.only), (4, None));
        let o = options(&["--smp".into(), "1".into(), "--only".into(), "cow_write".into()]).unwrap();
        assert_eq!((o.smp, o.only.as_deref()), (1, Some("cow_write")));
        assert!(options(&["--only".into(), "cow".into()]).is_err(), "not a job's name");
    }
}

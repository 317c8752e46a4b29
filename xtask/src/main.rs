//! `cargo xtask`: set-up, images, QEMU.
//!
//! ```text
//! cargo xtask run  [IMAGE] [--cpu CPU] [--mem MIB] [--smp N] [--el2]   boot an image (default: hello)
//! cargo xtask test                                                      every host test and QEMU test
//! cargo xtask qemu [IMAGE] [options] [-- QEMU ARGS]                     boot with extra QEMU arguments
//! cargo xtask gdb  [IMAGE] [options]                                    boot halted, waiting for gdb on :1234
//! ```
//! Every command first installs what is missing (see `toolchain`).

mod qemu;
mod toolchain;

use qemu::Boot;
use std::path::{Path, PathBuf};
use std::process::{exit, Command};
use std::time::Duration;
use toolchain::Route;

/// The bootable images and the packages they come from.
const IMAGES: [(&str, &str); 12] = [
    ("hello", "hello"),
    ("boot", "qemu-tests"),
    ("frames", "qemu-tests"),
    ("data_abort", "qemu-tests"),
    ("smp", "qemu-tests"),
    ("smp_data_abort", "qemu-tests"),
    ("vm", "qemu-tests"),
    ("page_fault", "qemu-tests"),
    ("smp_vm", "qemu-tests"),
    ("fault_catch", "qemu-tests"),
    ("pager", "qemu-tests"),
    ("writeback", "qemu-tests"),
];

/// A QEMU test run is killed after this long: it has hung.
const HANG_LIMIT: Duration = Duration::from_secs(300);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => boot_command(&args[1..], BootMode::Run),
        Some("qemu") => boot_command(&args[1..], BootMode::Qemu),
        Some("gdb") => boot_command(&args[1..], BootMode::Gdb),
        Some("test") => test(),
        _ => Err(format!("usage: cargo xtask <run|test|qemu|gdb> …\n{}", usage())),
    };
    match result {
        Ok(code) => exit(code),
        Err(why) => {
            eprintln!("xtask: {why}");
            exit(2);
        }
    }
}

/// The commands and their options, then the images (from [`IMAGES`]).
fn usage() -> String {
    let images: Vec<&str> = IMAGES.iter().map(|(name, _)| *name).collect();
    format!(
        "  run  [IMAGE] [--cpu cortex-a72|max] [--mem MIB] [--smp N] [--el2]
  qemu [IMAGE] [same options] [-- extra QEMU arguments]
  gdb  [IMAGE] [same options]
  test
IMAGE: one of {} (default: hello)",
        images.join(", ")
    )
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask sits in the workspace").to_path_buf()
}

/// Installs what is missing and builds every image; returns their folder.
fn build_images() -> Result<PathBuf, String> {
    let route = toolchain::choose_route()?;
    toolchain::ensure(route)?;
    let root = root();
    let target_dir = match route {
        Route::Rustup => root.join("target"),
        Route::Debian => root.join("target").join("debian-route"),
    };
    let mut packages: Vec<&str> = IMAGES.iter().map(|(_, p)| *p).collect();
    packages.dedup();
    println!("xtask: building images for {} ({route:?} route)", toolchain::TARGET);
    let status = toolchain::image_build_command(route, &root, &packages, &target_dir)
        .status()
        .map_err(|e| format!("running cargo: {e}"))?;
    if !status.success() {
        return Err(format!("building the images failed: {status}"));
    }
    Ok(target_dir.join(toolchain::TARGET).join("debug"))
}

#[derive(Clone, Copy, PartialEq)]
enum BootMode {
    Run,
    Qemu,
    Gdb,
}

fn boot_command(args: &[String], mode: BootMode) -> Result<i32, String> {
    let (ours, extra) = match args.iter().position(|a| a == "--") {
        Some(i) if mode == BootMode::Qemu => (&args[..i], &args[i + 1..]),
        _ => (args, &[][..]),
    };
    let mut name = "hello".to_string();
    let (mut cpu, mut mem, mut smp, mut el2) = ("cortex-a72".to_string(), 128, 1, false);
    let mut it = ours.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--cpu" => cpu = value()?,
            "--mem" => mem = value()?.parse().map_err(|_| "--mem takes MiB")?,
            "--smp" => smp = value()?.parse().map_err(|_| "--smp takes a count")?,
            "--el2" => el2 = true,
            image if !image.starts_with('-') => name = image.to_string(),
            other => return Err(format!("unknown option {other}\n{}", usage())),
        }
    }
    if !IMAGES.iter().any(|(n, _)| *n == name) {
        return Err(format!("no image named {name}\n{}", usage()));
    }
    let dir = build_images()?;
    let mut boot = Boot::new(dir.join(&name), &cpu, mem);
    boot.smp = smp;
    boot.el2 = el2;
    let mut cmd = boot.command();
    cmd.args(extra);
    if mode == BootMode::Gdb {
        cmd.args(["-s", "-S"]);
        println!("xtask: QEMU waits for gdb; in another terminal:");
        println!("  gdb-multiarch {} -ex 'target remote :1234'", boot.image.display());
    }
    println!("xtask: {}", describe_command(&cmd));
    let status = cmd.status().map_err(|e| format!("starting qemu-system-aarch64: {e}"))?;
    Ok(status.code().unwrap_or(1))
}

fn describe_command(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        let a = a.to_string_lossy();
        if a.contains(' ') {
            s += &format!(" \"{a}\"");
        } else {
            s += &format!(" {a}");
        }
    }
    s
}

/// What a QEMU test run must show.
enum Expect {
    /// The harness ran every case and all passed.
    TestsPass,
    /// A plain image booted, printed its memory map and exited with 0.
    Boots,
    /// The run failed, with one report that says all of these.
    FailsReporting(&'static [&'static str]),
}

/// An unexpected data abort, with its decoded syndrome.
const DATA_ABORT_REPORT: &[&str] = &["unexpected exception", "DataAbortSameEl", "ESR_EL1=", "FAR_EL1="];
/// A fatal page fault naming the address, the access, the VMO and the status.
const PAGE_FAULT_REPORT: &[&str] =
    &["fatal page fault: Write at 0x", " in VMO ", " at offset 0x1008: AccessDenied"];

fn qemu_tests(dir: &Path) -> Vec<(Boot, Expect)> {
    let image = |name: &str| dir.join(name);
    let mut runs = Vec::new();
    for cpu in ["cortex-a72", "max"] {
        runs.push((Boot::new(image("hello"), cpu, 128), Expect::Boots));
        let mut el2 = Boot::new(image("hello"), cpu, 128);
        el2.el2 = true;
        runs.push((el2, Expect::Boots));
        runs.push((Boot::new(image("frames"), cpu, 128), Expect::TestsPass));
        runs.push((Boot::new(image("data_abort"), cpu, 128), Expect::FailsReporting(DATA_ABORT_REPORT)));
        // The VM through zx on the real tables, with four cores up; the
        // user pager, dirty tracking and writeback on four cores.
        for (name, mem, expect) in [
            ("vm", 256, Expect::TestsPass),
            ("page_fault", 128, Expect::FailsReporting(PAGE_FAULT_REPORT)),
            ("smp_vm", 256, Expect::TestsPass),
            ("fault_catch", 128, Expect::TestsPass),
            ("pager", 128, Expect::TestsPass),
            ("writeback", 128, Expect::TestsPass),
        ] {
            let mut b = Boot::new(image(name), cpu, mem);
            b.smp = 4;
            runs.push((b, expect));
        }
    }
    // RAM size against -m, for two sizes on each CPU, from EL1 and from EL2.
    for (cpu, mem, el2) in
        [("cortex-a72", 128, false), ("cortex-a72", 512, true), ("max", 256, false), ("max", 1024, true)]
    {
        let mut b = Boot::new(image("boot"), cpu, mem);
        b.el2 = el2;
        runs.push((b, Expect::TestsPass));
    }
    // Four CPUs, each started from EL1 and from EL2; the image learns -smp.
    for (cpu, el2) in [("cortex-a72", false), ("max", false), ("cortex-a72", true), ("max", true)] {
        let mut b = Boot::new(image("smp"), cpu, 128);
        (b.smp, b.el2, b.bootargs) = (4, el2, "cpus=4".into());
        runs.push((b, Expect::TestsPass));
    }
    for cpu in ["cortex-a72", "max"] {
        let mut b = Boot::new(image("smp_data_abort"), cpu, 128);
        b.smp = 4;
        runs.push((b, Expect::FailsReporting(DATA_ABORT_REPORT)));
    }
    runs
}

fn judge(run: &qemu::Run, expect: &Expect) -> Option<String> {
    match expect {
        Expect::TestsPass => run.failure(true),
        Expect::Boots => run.failure(false).or_else(|| {
            (!run.output.contains("memory map from the device tree") || !run.output.contains("free frames"))
                .then(|| "the memory map or the free frames were not printed".into())
        }),
        Expect::FailsReporting(needles) => {
            let reported = needles.iter().all(|n| run.output.contains(n));
            let once = run.output.matches(needles[0]).count() == 1;
            match (run.exit_code(), run.counts()) {
                (Some(c), Some((0, 1))) if c != 0 && reported && once => None,
                _ => Some(format!(
                    "expected a failing run reporting {needles:?} once; got status {:?}",
                    run.exit_code()
                )),
            }
        }
    }
}

fn test() -> Result<i32, String> {
    let root = root();
    println!("xtask: host tests (cargo test)");
    let cargo = std::env::var_os("CARGO")
        .map_or_else(|| toolchain::which("cargo").unwrap_or("cargo".into()), PathBuf::from);
    toolchain::check_host(&cargo)?;
    let host = Command::new(&cargo)
        .current_dir(&root)
        .args(["test", "--all-features"])
        .status()
        .map_err(|e| format!("running cargo test: {e}"))?;
    let dir = build_images()?;
    println!("xtask: QEMU tests");
    let (mut passed, mut failed) = (0, 0);
    for (boot, expect) in qemu_tests(&dir) {
        let run = qemu::run(&boot, HANG_LIMIT, false)?;
        match judge(&run, &expect) {
            None => {
                passed += 1;
                println!("qemu {} ... ok", boot.describe());
            }
            Some(why) => {
                failed += 1;
                println!("qemu {} ... FAILED: {why}", boot.describe());
                println!("  command: {}", describe_command(&boot.command()));
                for line in run.output.lines() {
                    println!("    {line}");
                }
            }
        }
    }
    println!("qemu: {passed} passed, {failed} failed");
    if !host.success() {
        println!("xtask: host tests FAILED");
    }
    Ok(if host.success() && failed == 0 { 0 } else { 1 })
}

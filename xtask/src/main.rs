//! `cargo xtask`: set-up, images, QEMU.
//!
//! ```text
//! cargo xtask run  [IMAGE] [--cpu CPU] [--mem MIB] [--smp N] [--el2] [--gicv3] [--hide-gic] [--secure] [--debug]   boot an image (default: block_pager), release unless --debug
//! cargo xtask test                                                      every host test and QEMU test
//! cargo xtask qemu [IMAGE] [options] [-- QEMU ARGS]                     boot with extra QEMU arguments
//! cargo xtask gdb  [IMAGE] [options]                                    boot halted, waiting for gdb on :1234
//! cargo xtask soak [--seconds N] [--seed S]                             the model check, long (see `checks`)
//! cargo xtask miri                                                      miri over vm-core and zx
//! cargo xtask fuzz TARGET [--seconds N]                                 a cargo-fuzz target, longer (see `fuzz`)
//! cargo xtask bench host [--quick]                                      host benchmarks next to Linux (see `bench`)
//! cargo xtask bench qemu [--reps N] [--cpu CPU]... [options]            the VM against Linux on QEMU (see `bench_qemu`)
//! cargo xtask bench profile JOB [--cpu CPU] [--pages N]                 guest instructions per fault of one job (see `profile`)
//! cargo xtask bench idle [--cpu CPU]...                                 host CPU time of an idle -smp 4 image (see `idle`)
//! ```
//! Every command first installs what is missing (see `toolchain`).

mod bench;
mod bench_qemu;
mod checks;
mod disk;
mod fuzz;
mod idle;
mod linux_guest;
mod profile;
mod qemu;
mod toolchain;

use qemu::Boot;
use std::path::{Path, PathBuf};
use std::process::{exit, Command};
use std::time::Duration;

/// The bootable images, the packages they come from, and the CPUs they
/// boot with unless `--smp` says otherwise.
const IMAGES: [(&str, &str, u32); 17] = [
    ("block_pager", "block_pager", 4),
    ("cow_snapshot", "cow_snapshot", 4),
    ("jit", "jit", 1),
    ("hello", "hello", 1),
    ("boot", "qemu-tests", 1),
    ("frames", "qemu-tests", 1),
    ("data_abort", "qemu-tests", 1),
    ("smp", "qemu-tests", 4),
    ("smp_data_abort", "qemu-tests", 4),
    ("vm", "qemu-tests", 4),
    ("page_fault", "qemu-tests", 4),
    ("smp_vm", "qemu-tests", 4),
    ("fault_catch", "qemu-tests", 4),
    ("pager", "qemu-tests", 4),
    ("writeback", "qemu-tests", 4),
    ("stress", "qemu-tests", 4),
    ("bench", "qemu-tests", 4),
];

/// The image `cargo xtask run` boots without a name: the block pager, the
/// job this library exists for.
const DEFAULT_IMAGE: &str = "block_pager";

/// The images that run over a disk image ([`disk`]).
const DISK_IMAGES: [&str; 1] = ["block_pager"];

/// Where the disk image of a run of `name` is kept: `target/disks/`.
fn disk_path(name: &str) -> PathBuf {
    root().join("target").join("disks").join(format!("{name}.img"))
}

/// A QEMU test run is killed after this long: it has hung.
const HANG_LIMIT: Duration = Duration::from_secs(300);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => boot_command(&args[1..], BootMode::Run),
        Some("qemu") => boot_command(&args[1..], BootMode::Qemu),
        Some("gdb") => boot_command(&args[1..], BootMode::Gdb),
        Some("test") => test(),
        Some("soak") => checks::soak(&root(), &host_cargo(), &args[1..]),
        Some("fuzz") => fuzz_command(&args[1..]),
        Some("bench") => bench::run(&root(), &host_cargo(), &args[1..]),
        Some("miri") => {
            let outcome = checks::miri(&root());
            println!("miri ... {}", outcome.describe());
            Ok(i32::from(outcome == checks::Outcome::Failed))
        }
        _ => Err(format!("usage: cargo xtask <run|test|qemu|gdb|soak|miri|fuzz|bench> …\n{}", usage())),
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
    let images: Vec<&str> = IMAGES.iter().map(|(name, _, _)| *name).collect();
    format!(
        "  run  [IMAGE] [--cpu cortex-a72|max] [--mem MIB] [--smp N] [--el2] [--gicv3] [--hide-gic] [--secure] [--debug]
  qemu [IMAGE] [same options] [-- extra QEMU arguments]
  gdb  [IMAGE] [same options] (a debug build unless told otherwise)
  test
  soak [--seconds N] [--seed S]
  miri
  fuzz {} [--seconds N]
  bench host [--quick]
  bench qemu {}
  bench profile JOB [--cpu CPU] [--pages N]
  bench idle [--cpu CPU]...
IMAGE: one of {} (default: {DEFAULT_IMAGE})",
        fuzz::TARGETS.join("|"),
        bench_qemu::USAGE,
        images.join(", ")
    )
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask sits in the workspace").to_path_buf()
}

/// How the images are built: release (optimised, with debug info, the
/// workspace's release profile) for `run`, `qemu` and benches; debug for
/// `gdb`; `test` boots both, since optimisation changes the orderings the
/// tests should see.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Profile {
    Debug,
    Release,
}

impl Profile {
    /// Cargo's folder of the profile's artefacts.
    fn dir(self) -> &'static str {
        match self {
            Profile::Debug => "debug",
            Profile::Release => "release",
        }
    }
}

/// Installs what is missing and builds every image in `profile`; returns
/// their folder.
fn build_images(profile: Profile) -> Result<PathBuf, String> {
    let route = toolchain::choose_route()?;
    toolchain::ensure(route)?;
    let root = root();
    let target_dir = toolchain::target_dir(route, &root);
    let mut packages: Vec<&str> = IMAGES.iter().map(|(_, p, _)| *p).collect();
    packages.dedup();
    println!("xtask: building images for {}, {} ({route:?} route)", toolchain::TARGET, profile.dir());
    let mut build = toolchain::image_build_command(route, &root, &packages, &target_dir);
    if profile == Profile::Release {
        build.arg("--release");
    }
    let status = build.status().map_err(|e| format!("running cargo: {e}"))?;
    if !status.success() {
        return Err(format!("building the images failed: {status}"));
    }
    Ok(target_dir.join(toolchain::TARGET).join(profile.dir()))
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
    let mut name = DEFAULT_IMAGE.to_string();
    let (mut cpu, mut mem, mut smp, mut el2, mut gic_v3, mut hide_gic, mut secure) =
        ("cortex-a72".to_string(), 128, None, false, false, false, false);
    let mut profile = if mode == BootMode::Gdb { Profile::Debug } else { Profile::Release };
    let mut it = ours.iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--cpu" => cpu = value()?,
            "--mem" => mem = value()?.parse().map_err(|_| "--mem takes MiB")?,
            "--smp" => smp = Some(value()?.parse().map_err(|_| "--smp takes a count")?),
            "--el2" => el2 = true,
            "--gicv3" => gic_v3 = true,
            "--hide-gic" => hide_gic = true,
            "--secure" => secure = true,
            "--debug" => profile = Profile::Debug,
            image if !image.starts_with('-') => name = image.to_string(),
            other => return Err(format!("unknown option {other}\n{}", usage())),
        }
    }
    let Some(&(_, _, cores)) = IMAGES.iter().find(|(n, _, _)| *n == name) else {
        return Err(format!("no image named {name}\n{}", usage()));
    };
    let dir = build_images(profile)?;
    let mut boot = Boot::new(dir.join(&name), &cpu, mem);
    boot.smp = smp.unwrap_or(cores);
    (boot.el2, boot.gic_v3, boot.hide_gic, boot.secure) = (el2, gic_v3, hide_gic, secure);
    if hide_gic {
        qemu::write_tree_without_gic(&boot)?;
    }
    if DISK_IMAGES.contains(&name.as_str()) {
        let path = disk_path(&name);
        disk::create(&path)?;
        println!("xtask: a fresh disk image at {}", path.display());
        boot.disk = Some(path);
    }
    let mut cmd = boot.command();
    cmd.args(extra);
    if mode == BootMode::Gdb {
        cmd.args(["-s", "-S"]);
        println!("xtask: QEMU waits for gdb; in another terminal:");
        println!("  gdb-multiarch {} -ex 'target remote :1234'", boot.image.display());
    }
    println!("xtask: {}", describe_command(&cmd));
    let status = cmd.status().map_err(|e| format!("starting qemu-system-aarch64: {e}"))?;
    let code = status.code().unwrap_or(1);
    match &boot.disk {
        Some(path) if code == 0 => {
            let verdict = disk::verify(path)?;
            println!("xtask: the disk image after the run ({}): {verdict}", path.display());
            Ok(0)
        }
        _ => Ok(code),
    }
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
    /// The run exited with 0 after printing each of these lines, and left
    /// its disk image as [`disk::verify`] wants it.
    WritesDisk(&'static [&'static str]),
    /// An example exited with 0 after printing each of these (in lines,
    /// anywhere).
    Prints(&'static [&'static str]),
}

/// What the copy-on-write example prints when the snapshot and its parent
/// each see only their own writes.
const COW_SNAPSHOT_LINES: &[&str] = &[
    "step 2: a ZX_VMO_CHILD_SNAPSHOT child",
    "snapshot holds \"page 0, first version\", \"page 1, first version\"",
    "step 3: CPU 1 wrote page 0 of the parent through its mapping",
    "parent   holds \"page 0, the parent's write\", \"page 1, first version\"",
    "snapshot holds \"page 0, first version\", \"page 1, the snapshot's write\"",
    ", as before it",
    "cow_snapshot: every check passed",
];

/// What the JIT example prints when both versions of its code ran.
const JIT_LINES: &[&str] = &[
    "vmar_map READ|EXECUTE refused (AccessDenied)",
    "ZX_VMO_OP_CACHE_SYNC over the 8 bytes of code",
    ": it returned 42",
    "again: it returned 1234",
    ", as before it",
    "jit: every check passed",
];

/// What the block pager prints on its way (beginnings of its lines).
const BLOCK_PAGER_LINES: &[&str] = &[
    "disk: virtio-blk at 0x",
    "pager: serving READs on core 1",
    "readers: cores 2 and 3 faulted in all 512 pages through the mapping",
    "vmo_read: the whole disk, as on the device; COMMIT of pages 200..216: ok",
    "writers: cores 2 and 3 store ",
    "writeback: ",
    "writers: the last round; readers: core 3 loaded every page again, evicting ",
    "the page past the disk's end: vmo_read and a load both get ZX_ERR_IO",
    "a shrink and a grow made a 16-page dirty zero tail",
    "writeback: a last loop wrote ",
    "pager: ",
    "the process is gone and every frame is back; powering off",
];

/// What the bench image prints when every job ran.
const BENCH_LINES: &[&str] = &["bench demand_zero ", "bench map_touch_1m ", "bench copy_page ", "bench-done"];

/// An unexpected data abort, with its decoded syndrome.
const DATA_ABORT_REPORT: &[&str] = &["unexpected exception", "DataAbortSameEl", "ESR_EL1=", "FAR_EL1="];
/// A fatal page fault naming the address, the access, the VMO and the status.
const PAGE_FAULT_REPORT: &[&str] =
    &["fatal page fault: Write at 0x", " in VMO ", " at offset 0x1008: AccessDenied"];

fn qemu_tests(dir: &Path) -> Vec<(Boot, Expect)> {
    let image = |name: &str| dir.join(name);
    let mut runs = Vec::new();
    for cpu in ["cortex-a72", "max"] {
        // The default run, each over its own fresh disk image.
        let mut b = Boot::new(image("block_pager"), cpu, 128);
        (b.smp, b.disk) = (4, Some(disk_path(&format!("block_pager-test-{cpu}"))));
        runs.push((b, Expect::WritesDisk(BLOCK_PAGER_LINES)));
        let mut b = Boot::new(image("cow_snapshot"), cpu, 128);
        b.smp = 4;
        runs.push((b, Expect::Prints(COW_SNAPSHOT_LINES)));
        runs.push((Boot::new(image("jit"), cpu, 128), Expect::Prints(JIT_LINES)));
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
            ("stress", 128, Expect::TestsPass),
        ] {
            let mut b = Boot::new(image(name), cpu, mem);
            b.smp = 4;
            runs.push((b, expect));
        }
        // The bench image, one short repetition of each job: that it runs
        // to its end, never how fast (`cargo xtask bench qemu` times it).
        let mut b = Boot::new(image("bench"), cpu, 128);
        (b.smp, b.bootargs) = (4, "reps=1 pages=16".into());
        runs.push((b, Expect::Prints(BENCH_LINES)));
    }
    // RAM size against -m, for two sizes on each CPU, from EL1 and from EL2.
    for (cpu, mem, el2) in
        [("cortex-a72", 128, false), ("cortex-a72", 512, true), ("max", 256, false), ("max", 1024, true)]
    {
        let mut b = Boot::new(image("boot"), cpu, mem);
        b.el2 = el2;
        runs.push((b, Expect::TestsPass));
    }
    // Four CPUs, each started from EL1 and from EL2, on a GICv2 and on a
    // GICv3, every CPU asleep in WFI while it waits; the image learns -smp.
    for gic_v3 in [false, true] {
        for (cpu, el2) in [("cortex-a72", false), ("max", false), ("cortex-a72", true), ("max", true)] {
            let mut b = Boot::new(image("smp"), cpu, 128);
            (b.smp, b.el2, b.gic_v3, b.bootargs) = (4, el2, gic_v3, "cpus=4".into());
            runs.push((b, Expect::TestsPass));
        }
    }
    // The VM on four cores, the user pager and the stress run on a GICv3,
    // where their waits sleep on GICv3 SGIs.
    for (name, mem, cpu, el2) in [
        ("smp_vm", 256, "cortex-a72", false),
        ("smp_vm", 256, "max", false),
        ("smp_vm", 256, "cortex-a72", true),
        ("smp_vm", 256, "max", true),
        ("pager", 128, "cortex-a72", false),
        ("pager", 128, "max", true),
        ("stress", 128, "cortex-a72", true),
        ("stress", 128, "max", false),
    ] {
        let mut b = Boot::new(image(name), cpu, mem);
        (b.smp, b.el2, b.gic_v3) = (4, el2, true);
        runs.push((b, Expect::TestsPass));
    }
    // The same waits where the device tree names no GIC the platform
    // drives: every CPU waits in WFE and is woken by SEV.
    for (name, mem, cpu, el2, gic_v3) in [
        ("smp", 128, "cortex-a72", false, false),
        ("smp", 128, "max", true, true),
        ("smp_vm", 256, "max", false, false),
        ("pager", 128, "cortex-a72", true, true),
    ] {
        let mut b = Boot::new(image(name), cpu, mem);
        (b.smp, b.el2, b.gic_v3, b.hide_gic, b.bootargs) = (4, el2, gic_v3, true, "cpus=4".into());
        runs.push((b, Expect::TestsPass));
    }
    // Entered at EL3 with no firmware (secure=on): down to EL1 (through
    // EL2 where the board has it), the other CPUs let out of the reset
    // pen, and every CPU waiting with WFE, since the GIC's interrupt
    // groups stay secure.
    for (name, mem, smp, cpu, el2, gic_v3) in [
        ("boot", 128, 1, "cortex-a72", false, false),
        ("boot", 256, 1, "max", true, true),
        ("smp", 128, 4, "cortex-a72", false, false),
        ("smp", 128, 4, "max", true, true),
        ("smp_vm", 256, 4, "cortex-a72", false, true),
    ] {
        let mut b = Boot::new(image(name), cpu, mem);
        (b.smp, b.el2, b.gic_v3, b.secure) = (smp, el2, gic_v3, true);
        if smp > 1 {
            b.bootargs = format!("cpus={smp}");
        }
        runs.push((b, Expect::TestsPass));
    }
    for cpu in ["cortex-a72", "max"] {
        let mut b = Boot::new(image("smp_data_abort"), cpu, 128);
        b.smp = 4;
        runs.push((b, Expect::FailsReporting(DATA_ABORT_REPORT)));
    }
    runs
}

fn judge(run: &qemu::Run, boot: &Boot, expect: &Expect) -> Option<String> {
    match expect {
        Expect::WritesDisk(lines) => run.failure(false).or_else(|| {
            let missing = lines.iter().find(|l| !run.output.lines().any(|line| line.starts_with(*l)));
            if let Some(line) = missing {
                return Some(format!("no line starting {line:?}"));
            }
            let path = boot.disk.as_ref().expect("a disk run has a disk");
            disk::verify(path).err()
        }),
        Expect::Prints(needles) => run.failure(false).or_else(|| {
            let missing = needles.iter().find(|n| !run.output.contains(*n))?;
            Some(format!("{missing:?} was not printed"))
        }),
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

/// `cargo xtask fuzz TARGET [--seconds N]`: one target for `N` seconds
/// (default 600).
fn fuzz_command(args: &[String]) -> Result<i32, String> {
    let usage = || format!("usage: cargo xtask fuzz {} [--seconds N]", fuzz::TARGETS.join("|"));
    let target = args.first().filter(|t| fuzz::TARGETS.contains(&t.as_str())).ok_or_else(usage)?;
    let seconds = match &args[1..] {
        [] => 600,
        [flag, n] if flag == "--seconds" => n.parse().map_err(|_| usage())?,
        _ => return Err(usage()),
    };
    fuzz::run(target, seconds)
}

/// The cargo that runs the xtask (host builds and tests).
fn host_cargo() -> PathBuf {
    std::env::var_os("CARGO")
        .map_or_else(|| toolchain::which("cargo").unwrap_or("cargo".into()), PathBuf::from)
}

fn test() -> Result<i32, String> {
    let root = root();
    println!("xtask: host tests (cargo test)");
    let cargo = host_cargo();
    toolchain::check_host(&cargo)?;
    let host = Command::new(&cargo)
        .current_dir(&root)
        .args(["test", "--all-features"])
        .status()
        .map_err(|e| format!("running cargo test: {e}"))?;
    let miri = checks::miri(&root);
    println!("miri ... {}", miri.describe());
    let fuzzed = fuzz::ci()?;
    let (mut passed, mut failed) = (0, 0);
    for profile in [Profile::Debug, Profile::Release] {
        let dir = build_images(profile)?;
        println!("xtask: QEMU tests, {} images", profile.dir());
        for (boot, expect) in qemu_tests(&dir) {
            if let Some(path) = &boot.disk {
                disk::create(path)?;
            }
            let run = qemu::run(&boot, HANG_LIMIT, false)?;
            let what = format!("{} {}", boot.describe(), profile.dir());
            match judge(&run, &boot, &expect) {
                None => {
                    passed += 1;
                    println!("qemu {what} ... ok");
                }
                Some(why) => {
                    failed += 1;
                    println!("qemu {what} ... FAILED: {why}");
                    println!("  command: {}", describe_command(&boot.command()));
                    for line in run.output.lines() {
                        println!("    {line}");
                    }
                }
            }
        }
    }
    println!("qemu: {passed} passed, {failed} failed");
    if !host.success() {
        println!("xtask: host tests FAILED");
    }
    if let checks::Outcome::Skipped(why) = &miri {
        println!("xtask: miri was skipped ({why}); it did not pass");
    }
    let checks_failed = miri == checks::Outcome::Failed || !fuzzed;
    Ok(if host.success() && failed == 0 && !checks_failed { 0 } else { 1 })
}

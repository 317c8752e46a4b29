//! Booting images on `qemu-system-aarch64 -M virt` and judging their output.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// One boot of one image.
#[derive(Clone, Debug)]
pub struct Boot {
    pub image: PathBuf,
    /// `-cpu`, as QEMU takes it: `cortex-a72` (no hardware dirty bits), or
    /// `max,pauth-impdef=on` ([`Boot::new`]'s `max`).
    pub cpu: String,
    pub mem_mib: u32,
    pub smp: u32,
    /// Start at EL2 (`-M virt,virtualization=on`) instead of EL1.
    pub el2: bool,
    /// A GICv3 (`-M virt,gic-version=3`) instead of the board's default
    /// GICv2.
    pub gic_v3: bool,
    /// Extra boot arguments (QEMU's `-append`, the tree's `/chosen/bootargs`).
    pub bootargs: String,
    /// A raw disk image attached as a virtio-blk device (virtio-mmio).
    pub disk: Option<PathBuf>,
}

impl Boot {
    /// A boot of `image` on one CPU; `cpu` `max` is `max,pauth-impdef=on`:
    /// FEAT_HAFDBS stays, and pointer authentication is emulated cheaply.
    pub fn new(image: PathBuf, cpu: &str, mem_mib: u32) -> Self {
        let cpu = if cpu == "max" { "max,pauth-impdef=on" } else { cpu };
        Boot {
            image,
            cpu: cpu.to_string(),
            mem_mib,
            smp: 1,
            el2: false,
            gic_v3: false,
            bootargs: String::new(),
            disk: None,
        }
    }

    /// A short description for result lines.
    pub fn describe(&self) -> String {
        format!(
            "{} [{}, {} MiB, {} CPU(s), EL{}, GICv{}]",
            self.image.file_name().map(|n| n.to_string_lossy()).unwrap_or_default(),
            self.cpu,
            self.mem_mib,
            self.smp,
            if self.el2 { 2 } else { 1 },
            self.gic_version()
        )
    }

    /// The GIC's architecture version: 2 or 3.
    fn gic_version(&self) -> u8 {
        if self.gic_v3 {
            3
        } else {
            2
        }
    }

    /// The machine: board (with its GIC), CPU, memory, CPUs, the console
    /// on stdio.
    fn machine(&self) -> Command {
        let mut machine = String::from("virt");
        if self.el2 {
            machine += ",virtualization=on";
        }
        if self.gic_v3 {
            machine += ",gic-version=3";
        }
        let mut cmd = Command::new("qemu-system-aarch64");
        cmd.args(["-M", &machine, "-cpu", &self.cpu])
            .args(["-m", &format!("{}M", self.mem_mib), "-smp", &self.smp.to_string()])
            .args(["-display", "none", "-serial", "stdio", "-monitor", "none", "-nic", "none"]);
        cmd
    }

    /// The same machine booting `image` as a Linux kernel with `initrd`
    /// and the command line `append`; a panic ends the run (`-no-reboot`).
    pub fn linux_command(&self, initrd: &Path, append: &str) -> Command {
        let mut cmd = self.machine();
        cmd.arg("-no-reboot")
            .arg("-kernel")
            .arg(&self.image)
            .arg("-initrd")
            .arg(initrd)
            .args(["-append", append]);
        cmd
    }

    /// The QEMU command line. The image learns `-m`, the entry level and
    /// the GIC's version through the boot arguments, so it can check what
    /// it finds.
    pub fn command(&self) -> Command {
        let bootargs = format!(
            "semihosting ram_mib={} entry_el={} gic={} {}",
            self.mem_mib,
            if self.el2 { 2 } else { 1 },
            self.gic_version(),
            self.bootargs
        );
        let mut cmd = self.machine();
        cmd.args(["-semihosting", "-kernel"]).arg(&self.image).args(["-append", bootargs.trim_end()]);
        if let Some(disk) = &self.disk {
            let drive = format!("file={},if=none,format=raw,id=disk", disk.display());
            cmd.args(["-global", "virtio-mmio.force-legacy=false", "-drive", &drive])
                .args(["-device", "virtio-blk-device,drive=disk"]);
        }
        cmd
    }
}

/// What a boot printed and how it ended.
#[derive(Debug)]
pub struct Run {
    pub output: String,
    /// `None` when the run was killed at its time limit.
    pub status: Option<ExitStatus>,
}

impl Run {
    /// The `N passed, M failed` line of the test harness, if printed.
    pub fn counts(&self) -> Option<(u32, u32)> {
        self.output.lines().rev().find_map(|line| {
            let (passed, failed) = line.trim().split_once(" passed, ")?;
            Some((passed.parse().ok()?, failed.strip_suffix(" failed")?.parse().ok()?))
        })
    }

    pub fn exit_code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    /// Why this run, expected to pass, did not; `None` if it passed.
    pub fn failure(&self, expect_tests: bool) -> Option<String> {
        let Some(code) = self.exit_code() else {
            return Some("timed out".into());
        };
        if code != 0 {
            return Some(format!("QEMU exited with status {code}"));
        }
        match (expect_tests, self.counts()) {
            (false, _) => None,
            (true, Some((p, 0))) if p > 0 => None,
            (true, Some((p, f))) => Some(format!("{p} passed, {f} failed")),
            (true, None) => Some("no closing `N passed, M failed` line".into()),
        }
    }
}

/// Boots `boot`, echoing its console, and kills it after `limit`.
pub fn run(boot: &Boot, limit: Duration, echo: bool) -> Result<Run, String> {
    run_command(boot.command(), limit, echo)
}

/// Runs the QEMU command `cmd`, echoing its console, and kills it after
/// `limit`.
pub fn run_command(mut cmd: Command, limit: Duration, echo: bool) -> Result<Run, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting qemu-system-aarch64: {e}"))?;
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().expect("piped");
    let reader = thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let line = line.trim_end_matches('\r').to_string();
            if echo {
                println!("    {line}");
            }
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut stderr = child.stderr.take().expect("piped");
    let errors = thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(20));
    };
    let _ = reader.join();
    let mut output: String = rx.try_iter().flat_map(|l| [l, "\n".into()]).collect();
    let errors = errors.join().unwrap_or_default();
    if !errors.trim().is_empty() {
        output.push_str(&errors);
        if echo {
            print!("{errors}");
        }
    }
    Ok(Run { output, status })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    fn run(output: &str, code: Option<i32>) -> Run {
        Run { output: output.into(), status: code.map(|c| ExitStatus::from_raw(c << 8)) }
    }

    #[test]
    fn closing_line_is_read() {
        let r = run("test a ... ok\n3 passed, 0 failed\nexit status: 0\n", Some(0));
        assert_eq!(r.counts(), Some((3, 0)));
        assert_eq!(r.failure(true), None);
    }

    #[test]
    fn every_failure_is_a_failure() {
        assert_eq!(run("1 passed, 0 failed\n", None).failure(true).as_deref(), Some("timed out"));
        assert!(run("2 passed, 0 failed\n", Some(1)).failure(true).unwrap().contains("status 1"));
        assert_eq!(run("2 passed, 1 failed\n", Some(0)).failure(true).as_deref(), Some("2 passed, 1 failed"));
        assert!(run("panic\n", Some(0)).failure(true).unwrap().contains("no closing"));
        assert!(run("0 passed, 0 failed\n", Some(0)).failure(true).is_some());
        assert_eq!(run("hello\n", Some(0)).failure(false), None);
    }

    #[test]
    fn command_line_carries_size_level_and_cpu() {
        let mut b = Boot::new("img".into(), "max", 512);
        b.el2 = true;
        let cmd = b.command();
        let args: Vec<String> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        let joined = args.join(" ");
        assert!(joined.contains("-M virt,virtualization=on -cpu max,pauth-impdef=on -m 512M"));
        assert!(joined.ends_with("-append semihosting ram_mib=512 entry_el=2 gic=2"));
        b.gic_v3 = true;
        let args: Vec<String> = b.command().get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        let joined = args.join(" ");
        assert!(joined.contains("-M virt,virtualization=on,gic-version=3 -cpu"));
        assert!(joined.ends_with("entry_el=2 gic=3"));
        b.disk = Some("d.img".into());
        let args: Vec<String> = b.command().get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        assert!(args
            .join(" ")
            .contains("-drive file=d.img,if=none,format=raw,id=disk -device virtio-blk-device,drive=disk"));
    }
}

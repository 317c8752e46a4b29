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
    /// The image's device tree names no interrupt controller the platform
    /// drives: QEMU's own tree for this machine with the GIC node's
    /// `compatible` overwritten ([`write_tree_without_gic`]), so every CPU waits
    /// with `WFE` and wakes on `SEV`, as on a board with some other GIC.
    pub hide_gic: bool,
    /// `-M virt,secure=on` with no firmware: every CPU enters the image at
    /// EL3 at reset, and the GIC has two security states whose interrupt
    /// groups nobody made non-secure, so every CPU waits with `WFE`.
    pub secure: bool,
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
            hide_gic: false,
            secure: false,
            bootargs: String::new(),
            disk: None,
        }
    }

    /// A short description for result lines.
    pub fn describe(&self) -> String {
        format!(
            "{} [{}, {} MiB, {} CPU(s), EL{}{}, GICv{}{}]",
            self.image.file_name().map(|n| n.to_string_lossy()).unwrap_or_default(),
            self.cpu,
            self.mem_mib,
            self.smp,
            self.entry_el(),
            if self.secure && self.el2 { " (EL2 below)" } else { "" },
            self.gic_version(),
            if self.hide_gic { " hidden" } else { "" }
        )
    }

    /// The exception level QEMU enters the image at.
    fn entry_el(&self) -> u8 {
        match (self.secure, self.el2) {
            (true, _) => 3,
            (false, true) => 2,
            (false, false) => 1,
        }
    }

    /// The GIC's architecture version: 2 or 3.
    fn gic_version(&self) -> u8 {
        if self.gic_v3 {
            3
        } else {
            2
        }
    }

    /// Where [`run`] writes the device tree of a [`Boot::hide_gic`] boot:
    /// beside the image.
    fn tree_without_gic(&self) -> PathBuf {
        let name = self.image.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
        self.image.with_file_name(format!("{name}-no-gic.dtb"))
    }

    /// The machine: board (with its GIC and `board_options`), CPU, memory,
    /// CPUs, the console on stdio.
    fn machine_with(&self, board_options: &str) -> Command {
        let mut machine = String::from("virt");
        if self.el2 {
            machine += ",virtualization=on";
        }
        if self.gic_v3 {
            machine += ",gic-version=3";
        }
        if self.secure {
            machine += ",secure=on";
        }
        machine += board_options;
        let mut cmd = Command::new("qemu-system-aarch64");
        cmd.args(["-M", &machine, "-cpu", &self.cpu])
            .args(["-m", &format!("{}M", self.mem_mib), "-smp", &self.smp.to_string()])
            .args(["-display", "none", "-serial", "stdio", "-monitor", "none", "-nic", "none"]);
        cmd
    }

    fn machine(&self) -> Command {
        self.machine_with("")
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
    /// the GIC's version (`none` when hidden, `-secure` after it when its
    /// interrupts stay secure) through the boot arguments, so it can check
    /// what it finds.
    pub fn command(&self) -> Command {
        let gic = match (self.hide_gic, self.secure) {
            (true, _) => "none".into(),
            (false, true) => format!("{}-secure", self.gic_version()),
            (false, false) => self.gic_version().to_string(),
        };
        let bootargs = format!(
            "semihosting ram_mib={} entry_el={} gic={gic} {}",
            self.mem_mib,
            self.entry_el(),
            self.bootargs
        );
        let mut cmd = self.machine();
        if self.hide_gic {
            cmd.arg("-dtb").arg(self.tree_without_gic());
        }
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

/// Boots `boot`, echoing its console, and kills it after `limit`; first
/// writes the device tree of a [`Boot::hide_gic`] boot.
pub fn run(boot: &Boot, limit: Duration, echo: bool) -> Result<Run, String> {
    if boot.hide_gic {
        write_tree_without_gic(boot)?;
    }
    run_command(boot.command(), limit, echo)
}

/// The `compatible` strings of the GICs the platform drives
/// (`platform-virt/src/boot_info.rs`), each as a whole string of a
/// property's string list.
const GIC_COMPATIBLES: [&[u8]; 4] =
    [b"arm,cortex-a15-gic", b"arm,gic-400", b"arm,cortex-a9-gic", b"arm,gic-v3"];

/// Has QEMU write its device tree for `boot`'s machine (`-M
/// virt,dumpdtb=`), then hides the GIC in it.
pub fn write_tree_without_gic(boot: &Boot) -> Result<(), String> {
    let path = boot.tree_without_gic();
    let dump = boot
        .machine_with(&format!(",dumpdtb={}", path.display()))
        .output()
        .map_err(|e| format!("starting qemu-system-aarch64: {e}"))?;
    if !dump.status.success() {
        let why = String::from_utf8_lossy(&dump.stderr);
        return Err(format!("QEMU could not write its device tree to {}: {why}", path.display()));
    }
    let mut tree = std::fs::read(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    if hide_gic(&mut tree) == 0 {
        return Err(format!("QEMU's device tree {} names no GIC the platform drives", path.display()));
    }
    cut_to_blocks(&mut tree)
        .ok_or_else(|| format!("QEMU's device tree {} has no valid header", path.display()))?;
    std::fs::write(&path, tree).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// Cuts the device tree blob `tree` to the end of its strings block and
/// sets its header's `totalsize` to match: QEMU dumps its tree padded to
/// 1 MiB, and with `-dtb` loads the file at the start of RAM, where an
/// image 2 MiB further leaves room for twice the file and a little.
fn cut_to_blocks(tree: &mut Vec<u8>) -> Option<()> {
    let word = |at: usize| Some(u32::from_be_bytes(tree.get(at..at + 4)?.try_into().ok()?) as usize);
    let structs_end = word(8)? + word(36)?;
    let strings_end = word(12)? + word(32)?;
    let end = structs_end.max(strings_end).next_multiple_of(8);
    if word(0)? != 0xd00d_feed || end > tree.len() {
        return None;
    }
    tree.truncate(end);
    tree[4..8].copy_from_slice(&(end as u32).to_be_bytes());
    Some(())
}

/// Overwrites the vendor of every GIC `compatible` string in the device
/// tree blob `tree` (`arm,gic-v3` becomes `off,gic-v3`), in place: the
/// same length keeps the blob valid. Returns how many it overwrote.
fn hide_gic(tree: &mut [u8]) -> usize {
    let mut hidden = 0;
    for name in GIC_COMPATIBLES {
        let len = name.len();
        // A whole string: the start of a property's value (aligned to 4
        // bytes in the structure block) or after an earlier string's NUL,
        // and NUL-terminated.
        let mut at = 0;
        while at + len < tree.len() {
            let starts = at % 4 == 0 || tree[at - 1] == 0;
            if starts && &tree[at..at + len] == name && tree[at + len] == 0 {
                tree[at..at + 3].copy_from_slice(b"off");
                hidden += 1;
            }
            at += 1;
        }
    }
    hidden
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
        b.hide_gic = true;
        let joined =
            b.command().get_args().map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>().join(" ");
        assert!(joined.contains("-dtb img-no-gic.dtb -semihosting"));
        assert!(joined.ends_with("entry_el=2 gic=none"));
        b.hide_gic = false;
        b.secure = true;
        let joined =
            b.command().get_args().map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>().join(" ");
        assert!(joined.contains("-M virt,virtualization=on,gic-version=3,secure=on -cpu"));
        assert!(joined.ends_with("entry_el=3 gic=3-secure"));
        b.secure = false;
        b.disk = Some("d.img".into());
        let args: Vec<String> = b.command().get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        assert!(args
            .join(" ")
            .contains("-drive file=d.img,if=none,format=raw,id=disk -device virtio-blk-device,drive=disk"));
    }

    #[test]
    fn only_whole_gic_compatible_strings_are_hidden() {
        let mut tree = b"\0\0\0\x0barm,gic-v3\0arm,gic-v3-its\0xarm,gic-400\0arm,cortex-a15-gic\0".to_vec();
        assert_eq!(hide_gic(&mut tree), 2);
        assert_eq!(&tree[..], b"\0\0\0\x0boff,gic-v3\0arm,gic-v3-its\0xarm,gic-400\0off,cortex-a15-gic\0");
        assert_eq!(hide_gic(&mut tree), 0);
    }

    #[test]
    fn a_padded_tree_is_cut_to_its_blocks() {
        // A header (struct block at 0x40, 8 bytes; strings at 0x48, 5 bytes)
        // padded to 256 bytes.
        let mut tree = vec![0u8; 256];
        for (at, value) in [(0, 0xd00d_feed_u32), (4, 256), (8, 0x40), (12, 0x48), (32, 5), (36, 8)] {
            tree[at..at + 4].copy_from_slice(&value.to_be_bytes());
        }
        assert_eq!(cut_to_blocks(&mut tree), Some(()));
        assert_eq!(tree.len(), 0x50);
        assert_eq!(&tree[4..8], &0x50u32.to_be_bytes());
        assert_eq!(cut_to_blocks(&mut vec![0u8; 64]), None);
    }
}

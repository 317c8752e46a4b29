//! The Linux guest of `cargo xtask bench qemu`: a stock Debian arm64 kernel
//! and an initramfs whose `/init` is the static C bench
//! (`benches/linux-guest/bench.c`), each fetched or built once into
//! `target/bench/linux/`, installing and downloading what is missing and
//! saying so.
//!
//! The kernel is the `vmlinuz` of the `linux-image-*-arm64` package that
//! Debian's `linux-image-arm64` depends on, fetched with `apt-get download`
//! (after adding the arm64 architecture to dpkg, so apt lists it) and
//! unpacked with `dpkg-deb`. It must be an uncompressed arm64 `Image`, which
//! QEMU 7.2's `-kernel` boots (not an EFI zboot image), and have the PL011
//! console, initramfs support and userfaultfd built in: the guest loads no
//! modules.

use crate::toolchain;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The kernel and initramfs of one bench run.
pub struct Guest {
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    /// The kernel's package and version, as `dpkg-deb` reads them.
    pub kernel_package: String,
}

/// The kernel options the bench needs, each `=y`.
const BUILT_IN: [&str; 5] = [
    "CONFIG_SERIAL_AMBA_PL011",
    "CONFIG_SERIAL_AMBA_PL011_CONSOLE",
    "CONFIG_BLK_DEV_INITRD",
    "CONFIG_USERFAULTFD",
    "CONFIG_ARM64_HW_AFDBM",
];

/// The cross compiler and the C library it links statically.
const GCC: &str = "aarch64-linux-gnu-gcc";
const STATIC_LIBC: &str = "/usr/aarch64-linux-gnu/lib/libc.a";

/// The kernel (fetched once) and an initramfs with the bench built now.
pub fn prepare(root: &Path) -> Result<Guest, String> {
    let dir = root.join("target").join("bench").join("linux");
    fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let (kernel, kernel_package) = kernel(&dir)?;
    let init = dir.join("init");
    build_init(&root.join("benches").join("linux-guest").join("bench.c"), &init)?;
    let initrd = dir.join("initrd.cpio");
    let binary = fs::read(&init).map_err(|e| format!("reading {}: {e}", init.display()))?;
    fs::write(&initrd, initramfs(&binary)).map_err(|e| format!("writing {}: {e}", initrd.display()))?;
    Ok(Guest { kernel, initrd, kernel_package })
}

/// The kernel in `dir`, fetching and checking it if it is not there.
fn kernel(dir: &Path) -> Result<(PathBuf, String), String> {
    let (kernel, about) = (dir.join("vmlinuz"), dir.join("kernel-package.txt"));
    if let (true, Ok(package)) = (kernel.is_file(), fs::read_to_string(&about)) {
        return Ok((kernel, package.trim().to_string()));
    }
    let foreign = output(Command::new("dpkg").arg("--print-foreign-architectures"))?;
    if !foreign.lines().any(|a| a.trim() == "arm64") {
        println!("xtask: adding the arm64 architecture to dpkg (dpkg --add-architecture arm64), so apt can fetch the arm64 kernel package");
        toolchain::as_root("dpkg", &["--add-architecture", "arm64"])?;
        toolchain::sources_changed();
    }
    toolchain::refresh_package_lists()?;
    let depends = output(Command::new("apt-cache").args(["depends", "linux-image-arm64:arm64"]))?;
    let package = depends
        .lines()
        .find_map(|l| l.trim().strip_prefix("Depends: ")?.strip_suffix(":arm64"))
        .filter(|p| p.starts_with("linux-image-"))
        .ok_or("apt-cache names no kernel package that linux-image-arm64:arm64 depends on")?
        .to_string();
    let fetch = dir.join("fetch");
    let _ = fs::remove_dir_all(&fetch);
    fs::create_dir_all(&fetch).map_err(|e| e.to_string())?;
    println!("xtask: downloading Debian's {package} (arm64) with apt-get download, for the Linux guest");
    let mut download = Command::new("apt-get");
    download.current_dir(&fetch).args(["download", "-q"]);
    if toolchain::is_root() {
        // The download goes to a folder that apt's `_apt` user cannot write.
        download.args(["-o", "APT::Sandbox::User=root"]);
    }
    run(download.arg(format!("{package}:arm64")))?;
    let deb = fs::read_dir(&fetch)
        .map_err(|e| e.to_string())?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or("apt-get download left no .deb")?;
    let version = output(Command::new("dpkg-deb").arg("-f").arg(&deb).arg("Version"))?;
    let unpacked = fetch.join("unpacked");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&unpacked))?;
    let boot = unpacked.join("boot");
    let named = |prefix: &str| -> Result<PathBuf, String> {
        fs::read_dir(&boot)
            .map_err(|e| format!("{}: {e}", boot.display()))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(prefix)))
            .ok_or(format!("the package has no /boot/{prefix}*"))
    };
    let image = fs::read(named("vmlinuz-")?).map_err(|e| e.to_string())?;
    check_image(&image)?;
    let config = fs::read_to_string(named("config-")?).map_err(|e| e.to_string())?;
    check_config(&config)?;
    fs::write(&kernel, &image).map_err(|e| e.to_string())?;
    let described = format!("{package} {}", version.trim());
    fs::write(&about, &described).map_err(|e| e.to_string())?;
    // The modules are not needed: drop the unpacked tree and the package.
    fs::remove_dir_all(&fetch).map_err(|e| e.to_string())?;
    println!("xtask: the Linux guest's kernel: {described} at {}", kernel.display());
    Ok((kernel, described))
}

/// An uncompressed arm64 `Image` (`ARM\x64` at 0x38), which QEMU 7.2 boots
/// with `-kernel`; an EFI zboot image (`zimg` at 4) it does not.
fn check_image(image: &[u8]) -> Result<(), String> {
    match (image.get(0x38..0x3c), image.get(4..8)) {
        (Some(b"ARM\x64"), _) => Ok(()),
        (_, Some(b"zimg")) => {
            Err("the kernel is an EFI zboot image, which QEMU 7.2's -kernel cannot boot".into())
        }
        _ => Err("the kernel is not an arm64 Image".into()),
    }
}

/// Every option of [`BUILT_IN`] is `=y` in the kernel's config.
fn check_config(config: &str) -> Result<(), String> {
    let missing: Vec<&str> =
        BUILT_IN.iter().copied().filter(|o| !config.lines().any(|l| l == format!("{o}=y"))).collect();
    match missing.as_slice() {
        [] => Ok(()),
        _ => Err(format!("the kernel does not build in {}", missing.join(", "))),
    }
}

/// Compiles `source` statically to `out` with Debian's cross compiler,
/// installing it if missing.
fn build_init(source: &Path, out: &Path) -> Result<(), String> {
    if toolchain::which(GCC).is_none() || !Path::new(STATIC_LIBC).is_file() {
        toolchain::refresh_package_lists()?;
        toolchain::install(&[
            ("gcc-aarch64-linux-gnu", "the C compiler of the Linux guest's bench".into()),
            ("libc6-dev-arm64-cross", "the arm64 C library it links statically".into()),
        ])?;
    }
    run(Command::new(GCC)
        .args(["-static", "-O2", "-Wall", "-Wextra", "-Werror", "-pthread", "-o"])
        .arg(out)
        .arg(source))
}

/// A member of the initramfs: its name, mode, contents, and device number
/// (major, minor).
type Member<'a> = (&'a str, u32, &'a [u8], (u32, u32));

/// A cpio archive (the `newc` format the kernel unpacks) of `/dev`,
/// `/dev/console` (character device 5:1, where init's output goes) and
/// `/init`.
pub fn initramfs(init: &[u8]) -> Vec<u8> {
    let mut archive = Vec::new();
    let entries: [Member; 4] = [
        ("dev", 0o040_755, b"", (0, 0)),
        ("dev/console", 0o020_600, b"", (5, 1)),
        ("init", 0o100_755, init, (0, 0)),
        ("TRAILER!!!", 0, b"", (0, 0)),
    ];
    for (ino, (name, mode, data, (major, minor))) in (1..).zip(entries) {
        let links = if mode & 0o040_000 != 0 { 2 } else { 1 };
        let fields =
            [ino, mode, 0, 0, links, 0, data.len() as u32, 0, 0, major, minor, name.len() as u32 + 1, 0];
        archive.extend_from_slice(b"070701");
        for field in fields {
            archive.extend_from_slice(format!("{field:08X}").as_bytes());
        }
        archive.extend_from_slice(name.as_bytes());
        archive.push(0);
        pad(&mut archive);
        archive.extend_from_slice(data);
        pad(&mut archive);
    }
    archive
}

/// Zeros to the next multiple of 4 bytes, as `newc` aligns names and data.
fn pad(archive: &mut Vec<u8>) {
    archive.resize(archive.len().next_multiple_of(4), 0);
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let status = cmd.status().map_err(|e| format!("{:?}: {e}", cmd.get_program()))?;
    status.success().then_some(()).ok_or_else(|| format!("{:?} failed: {status}", cmd.get_program()))
}

fn output(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.stderr(Stdio::inherit()).output().map_err(|e| format!("{:?}: {e}", cmd.get_program()))?;
    if !out.status.success() {
        return Err(format!("{:?} failed: {}", cmd.get_program(), out.status));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header fields of the entry at `at`: (name, mode, file size,
    /// rdev major, rdev minor), and where the next entry starts.
    fn entry(archive: &[u8], at: usize) -> ((String, u32, usize, u32, u32), usize) {
        assert_eq!(&archive[at..at + 6], b"070701");
        let field = |i: usize| {
            u32::from_str_radix(std::str::from_utf8(&archive[at + 6 + 8 * i..at + 14 + 8 * i]).unwrap(), 16)
                .unwrap()
        };
        let (size, name_len) = (field(6) as usize, field(11) as usize);
        let name_at = at + 110;
        let name = std::str::from_utf8(&archive[name_at..name_at + name_len - 1]).unwrap().to_string();
        assert_eq!(archive[name_at + name_len - 1], 0, "names end with NUL");
        let data_at = (name_at + name_len).next_multiple_of(4);
        ((name, field(1), size, field(9), field(10)), (data_at + size).next_multiple_of(4))
    }

    #[test]
    fn initramfs_holds_console_and_init_in_newc() {
        let init = b"\x7fELF and five";
        let archive = initramfs(init);
        assert_eq!(archive.len() % 4, 0);
        let mut at = 0;
        let mut seen = Vec::new();
        while at < archive.len() {
            let (fields, next) = entry(&archive, at);
            if fields.0 == "init" {
                let data_at = (at + 110 + 5).next_multiple_of(4);
                assert_eq!(&archive[data_at..data_at + init.len()], init);
            }
            seen.push(fields);
            at = next;
        }
        assert_eq!(at, archive.len());
        assert_eq!(
            seen,
            [
                ("dev".to_string(), 0o040_755, 0, 0, 0),
                ("dev/console".to_string(), 0o020_600, 0, 5, 1),
                ("init".to_string(), 0o100_755, init.len(), 0, 0),
                ("TRAILER!!!".to_string(), 0, 0, 0, 0),
            ]
        );
    }

    #[test]
    fn only_an_uncompressed_image_with_the_options_passes() {
        let mut image = vec![0; 64];
        image[0x38..0x3c].copy_from_slice(b"ARM\x64");
        assert_eq!(check_image(&image), Ok(()));
        let mut zboot = vec![0; 64];
        zboot[4..8].copy_from_slice(b"zimg");
        assert!(check_image(&zboot).unwrap_err().contains("zboot"));
        assert!(check_image(&[0; 16]).is_err());
        let all: String = BUILT_IN.iter().map(|o| format!("{o}=y\n")).collect();
        assert_eq!(check_config(&all), Ok(()));
        let module = all.replace("CONFIG_USERFAULTFD=y", "CONFIG_USERFAULTFD=m");
        assert_eq!(check_config(&module), Err("the kernel does not build in CONFIG_USERFAULTFD".into()));
    }
}

//! The aarch64 build route and QEMU: found, or installed from Debian's
//! packages, saying what is installed.
//!
//! Route 1: rustup's toolchain, when its `aarch64-unknown-none` standard
//! library is already installed. Route 2 (every fresh machine here): Debian's
//! `rustc-web`/`cargo-web`/`rust-web-src` and `lld`, building `core` and
//! `alloc` from source with `-Zbuild-std` and linking with `ld.lld`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

pub const TARGET: &str = "aarch64-unknown-none";

/// How images are built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Rustup,
    Debian,
}

const DEBIAN_CARGO: &str = "/usr/bin/cargo";
const DEBIAN_RUSTC: &str = "/usr/bin/rustc";
const DEBIAN_RUST_SRC: &str = "/usr/lib/rustlib/src/rust/library/core/Cargo.toml";

/// Picks the route: `XTASK_ROUTE=debian|rustup` forces one; otherwise rustup
/// when its aarch64 standard library is installed.
pub fn choose_route() -> Result<Route, String> {
    match std::env::var("XTASK_ROUTE").as_deref() {
        Ok("debian") => return Ok(Route::Debian),
        Ok("rustup") => return Ok(Route::Rustup),
        Ok(other) => return Err(format!("XTASK_ROUTE={other}: expected `debian` or `rustup`")),
        Err(_) => {}
    }
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).lines().any(|l| l.trim() == TARGET))
        .unwrap_or(false);
    Ok(if installed { Route::Rustup } else { Route::Debian })
}

/// The oldest Rust the workspace builds with: its `rust-version`.
pub fn min_rust() -> Version {
    Version::parse(env!("CARGO_PKG_RUST_VERSION")).expect("the workspace declares rust-version")
}

/// A Rust version, `major.minor.patch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(u32, u32, u32);

impl Version {
    /// The first `x.y[.z]` in `text`, after an optional Debian epoch:
    /// `rustc 1.85.0 (…)`, `1.96.0+dfsg1-1~deb12u1`, `1.87`.
    pub fn parse(text: &str) -> Option<Version> {
        text.split(|c: char| !(c.is_ascii_digit() || c == '.' || c == ':'))
            .map(|word| word.rsplit(':').next().unwrap_or(word))
            .find_map(|word| {
                let mut parts = word.split('.').map(|n| n.parse::<u32>().ok());
                let (major, minor) = (parts.next()??, parts.next()??);
                Some(Version(major, minor, parts.next().flatten().unwrap_or(0)))
            })
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// The version `rustc --version` reports, if `rustc` runs.
fn rustc_version(rustc: &Path) -> Option<Version> {
    let out = Command::new(rustc).arg("--version").output().ok()?;
    out.status.success().then(|| Version::parse(&String::from_utf8_lossy(&out.stdout)))?
}

/// Fails with one line unless the rustc next to `cargo` (the toolchain that
/// builds the host crates) is at least [`min_rust`].
pub fn check_host(cargo: &Path) -> Result<(), String> {
    let rustc = cargo.with_file_name("rustc");
    let rustc = if rustc.is_file() { rustc } else { PathBuf::from("rustc") };
    let min = min_rust();
    match rustc_version(&rustc) {
        Some(found) if found >= min => Ok(()),
        Some(found) => Err(format!(
            "the host toolchain ({}) is Rust {found}; this workspace needs Rust {min} or newer: run `rustup update stable`",
            rustc.display()
        )),
        None => Err(format!("cannot run {} to check its version", rustc.display())),
    }
}

/// Installs whatever `route` and QEMU still lack, and upgrades Debian's Rust
/// when it is older than [`min_rust`]; with everything present and new
/// enough it installs nothing. Package lists are refreshed before any
/// install: a fresh machine's lists are months old, and installing from
/// them would give an old Rust.
pub fn ensure(route: Route) -> Result<(), String> {
    let min = min_rust();
    let mut wanted: Vec<(&str, String)> = Vec::new();
    match route {
        Route::Debian => {
            let found = rustc_version(Path::new(DEBIAN_RUSTC));
            let old = found.filter(|v| *v < min);
            let rust_packages = [
                ("cargo-web", "Debian's cargo", Path::new(DEBIAN_CARGO)),
                ("rustc-web", "Debian's rustc", Path::new(DEBIAN_RUSTC)),
                ("rust-web-src", "the Rust library sources for -Zbuild-std", Path::new(DEBIAN_RUST_SRC)),
            ];
            for (package, what, path) in rust_packages {
                match old {
                    Some(v) => {
                        wanted.push((package, format!("{what}: {v} is installed, Rust {min} is needed")))
                    }
                    None if !path.exists() => wanted.push((package, what.to_string())),
                    None => {}
                }
            }
            if which("ld.lld").is_none() {
                wanted.push(("lld", "the linker ld.lld".into()));
            }
        }
        Route::Rustup => {
            let rustc = which("rustc").ok_or("rustup's rustc is not on PATH")?;
            match rustc_version(&rustc) {
                Some(found) if found < min => {
                    return Err(format!(
                        "rustup's toolchain is Rust {found}; this workspace needs Rust {min} or newer: run `rustup update stable`"
                    ))
                }
                Some(_) => {}
                None => return Err(format!("cannot run {} to check its version", rustc.display())),
            }
        }
    }
    if which("qemu-system-aarch64").is_none() {
        wanted.push(("qemu-system-arm", "qemu-system-aarch64".into()));
    }
    if wanted.is_empty() {
        return Ok(());
    }
    refresh_package_lists()?;
    if route == Route::Debian && wanted.iter().any(|(p, _)| *p == "rustc-web") {
        match apt_candidate("rustc-web") {
            Some(candidate) if candidate >= min => {}
            found => {
                return Err(format!(
                    "Debian offers rustc-web {}, but this workspace needs Rust {min} or newer: add bookworm-security \
                     (`deb http://deb.debian.org/debian-security bookworm-security main`) to the apt sources, \
                     or install rustup's target (`rustup target add aarch64-unknown-none`), and run again",
                    found.map_or("(none)".to_string(), |v| v.to_string())
                ))
            }
        }
    }
    install(&wanted)?;
    if route == Route::Debian {
        match rustc_version(Path::new(DEBIAN_RUSTC)) {
            Some(found) if found >= min => {}
            found => {
                return Err(format!(
                    "after installing, Debian's rustc is {}; this workspace needs Rust {min} or newer",
                    found.map_or("missing".to_string(), |v| v.to_string())
                ))
            }
        }
    }
    Ok(())
}

/// Whether this command refreshed the package lists since apt's sources
/// last changed.
static LISTS_FRESH: AtomicBool = AtomicBool::new(false);

/// `apt-get update`, saying so, once per command (again after
/// [`sources_changed`]): before any install (a fresh machine's lists are
/// months old) or download.
pub fn refresh_package_lists() -> Result<(), String> {
    if LISTS_FRESH.load(Ordering::Relaxed) {
        return Ok(());
    }
    println!("xtask: refreshing the package lists (apt-get update)");
    apt(&["update", "-q"])?;
    LISTS_FRESH.store(true, Ordering::Relaxed);
    Ok(())
}

/// apt's sources changed (an architecture was added): the lists need
/// refreshing again.
pub fn sources_changed() {
    LISTS_FRESH.store(false, Ordering::Relaxed);
}

/// Installs the Debian packages of `wanted` (package, what it is for),
/// saying what each is; the lists must be fresh ([`refresh_package_lists`]).
pub fn install(wanted: &[(&str, String)]) -> Result<(), String> {
    for (package, why) in wanted {
        println!("xtask: installing Debian package {package} ({why})");
    }
    let mut install = vec!["install", "-y", "-q", "--no-install-recommends"];
    install.extend(wanted.iter().map(|(p, _)| *p));
    apt(&install)
}

/// The version `apt-get install` would install of `package`.
fn apt_candidate(package: &str) -> Option<Version> {
    let out = Command::new("apt-cache").args(["policy", package]).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find_map(|l| l.trim().strip_prefix("Candidate:"))?;
    Version::parse(line.trim())
}

/// Runs `apt-get args`, through sudo when not root.
fn apt(args: &[&str]) -> Result<(), String> {
    as_root("apt-get", args)
}

/// Runs `program args`, through sudo when not root.
pub fn as_root(program: &str, args: &[&str]) -> Result<(), String> {
    let mut cmd = match (is_root(), which("sudo")) {
        (false, Some(sudo)) => {
            let mut c = Command::new(sudo);
            c.arg(program);
            c
        }
        _ => Command::new(program),
    };
    cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
    let status = cmd.status().map_err(|e| format!("{program}: {e}"))?;
    status.success().then_some(()).ok_or_else(|| format!("{program} {} failed: {status}", args.join(" ")))
}

pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `cargo` of rustup's nightly toolchain (`rustup run nightly cargo`, which
/// works whichever cargo comes first on `PATH`, unlike `cargo +nightly`),
/// never installing the toolchain itself. Miri and cargo-fuzz run on it.
pub fn nightly_cargo() -> Command {
    let mut cmd = Command::new("rustup");
    cmd.env("RUSTUP_AUTO_INSTALL", "0").args(["run", "nightly", "cargo"]);
    cmd
}

/// Why rustup's nightly toolchain cannot be used here, if it cannot.
pub fn nightly_missing() -> Option<String> {
    match nightly_cargo().arg("--version").output() {
        Err(_) => Some("rustup is not installed, and the check needs its nightly toolchain".into()),
        Ok(o) if !o.status.success() => {
            Some("the nightly toolchain is not installed (`rustup toolchain install nightly`)".into())
        }
        Ok(_) => None,
    }
}

/// The full path of `program` on `PATH`.
pub fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// Where images built on `route` go: rustup's beside the host's, Debian's
/// in a folder of their own (another rustc, another build of `core`).
pub fn target_dir(route: Route, root: &Path) -> PathBuf {
    match route {
        Route::Rustup => root.join("target"),
        Route::Debian => root.join("target").join("debian-route"),
    }
}

/// A `cargo build` of `packages` for the aarch64 target on `route`, writing
/// to `target_dir`.
pub fn image_build_command(route: Route, root: &Path, packages: &[&str], target_dir: &Path) -> Command {
    let mut cmd = match route {
        Route::Rustup => Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())),
        Route::Debian => {
            let mut c = Command::new(DEBIAN_CARGO);
            c.env_remove("RUSTUP_TOOLCHAIN")
                .env("RUSTC", DEBIAN_RUSTC)
                .env("RUSTC_BOOTSTRAP", "1")
                .env("CARGO_TARGET_AARCH64_UNKNOWN_NONE_LINKER", "ld.lld");
            c
        }
    };
    // The linker script arrives through .cargo/config.toml's rustflags,
    // which RUSTFLAGS from the environment would replace.
    cmd.current_dir(root)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .args(["build", "--target", TARGET, "--target-dir"])
        .arg(target_dir);
    for p in packages {
        cmd.args(["-p", p]);
    }
    if route == Route::Debian {
        cmd.args(["-Zbuild-std=core,alloc,compiler_builtins", "-Zbuild-std-features=compiler-builtins-mem"]);
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_from_rustc_and_debian() {
        assert_eq!(
            Version::parse("rustc 1.85.0 (4d91de4e4 2025-02-17) (built from a source tarball)"),
            Some(Version(1, 85, 0))
        );
        assert_eq!(Version::parse("1.96.0+dfsg1-1~deb12u1"), Some(Version(1, 96, 0)));
        assert_eq!(Version::parse("1:14.0-55.7~deb12u1"), Some(Version(14, 0, 0)));
        assert_eq!(Version::parse("1.87"), Some(Version(1, 87, 0)));
        assert_eq!(Version::parse("(none)"), None);
        assert!(Version(1, 85, 0) < min_rust() && min_rust() <= Version(1, 96, 0));
    }
}

//! The aarch64 build route and QEMU: found, or installed from Debian's
//! packages, saying what is installed.
//!
//! Route 1: rustup's toolchain, when its `aarch64-unknown-none` standard
//! library is already installed. Route 2 (every fresh machine here): Debian's
//! `rustc-web`/`cargo-web`/`rust-web-src` and `lld`, building `core` and
//! `alloc` from source with `-Zbuild-std` and linking with `ld.lld`.

use std::path::{Path, PathBuf};
use std::process::Command;

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

/// Installs whatever `route` and QEMU still lack; with everything present it
/// installs nothing.
pub fn ensure(route: Route) -> Result<(), String> {
    let mut missing: Vec<(&str, &str)> = Vec::new();
    if route == Route::Debian {
        if !Path::new(DEBIAN_CARGO).exists() {
            missing.push(("cargo-web", "Debian's cargo"));
        }
        if !Path::new(DEBIAN_RUSTC).exists() {
            missing.push(("rustc-web", "Debian's rustc"));
        }
        if !Path::new(DEBIAN_RUST_SRC).exists() {
            missing.push(("rust-web-src", "the Rust library sources for -Zbuild-std"));
        }
        if which("ld.lld").is_none() {
            missing.push(("lld", "the linker ld.lld"));
        }
    }
    if which("qemu-system-aarch64").is_none() {
        missing.push(("qemu-system-arm", "qemu-system-aarch64"));
    }
    if missing.is_empty() {
        return Ok(());
    }
    for (package, why) in &missing {
        println!("xtask: installing Debian package {package} ({why})");
    }
    let packages: Vec<&str> = missing.iter().map(|(p, _)| *p).collect();
    apt_install(&packages)
}

fn apt_install(packages: &[&str]) -> Result<(), String> {
    let sudo = if is_root() { None } else { which("sudo") };
    let apt = |args: &[&str]| -> Result<(), String> {
        let mut cmd = match &sudo {
            Some(sudo) => {
                let mut c = Command::new(sudo);
                c.arg("apt-get");
                c
            }
            None => Command::new("apt-get"),
        };
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        let status = cmd.status().map_err(|e| format!("apt-get: {e}"))?;
        status.success().then_some(()).ok_or_else(|| format!("apt-get {} failed: {status}", args.join(" ")))
    };
    let mut install = vec!["install", "-y", "-q", "--no-install-recommends"];
    install.extend_from_slice(packages);
    // A fresh machine has no package lists yet: update once, then retry.
    if apt(&install).is_err() {
        apt(&["update", "-q"])?;
        apt(&install)?;
    }
    Ok(())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// The full path of `program` on `PATH`.
pub fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
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

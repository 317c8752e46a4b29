//! Puts the linker script of bootable images on their link search path.

use std::{env, fs, path::PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=platform-virt.ld");
    if env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("none") {
        return;
    }
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::copy("platform-virt.ld", out.join("platform-virt.ld")).expect("copy the linker script");
    println!("cargo:rustc-link-search={}", out.display());
}

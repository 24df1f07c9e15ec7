//! Installing what the build needs, and only what is missing.
//!
//! Everything comes from Debian's archive, rustup's components and crates.io. Each check is
//! cheap, so `setup` runs before every build and costs a second when all is present.

use crate::command;
use crate::paths::{KERNEL_PACKAGE, KERNEL_PACKAGE_VERSION};
use anyhow::{bail, Context, Result};
use std::process::Command;

/// Debian packages the build, the guest and the lint steps need.
const DEBIAN_PACKAGES: &[&str] = &[
    "bc",
    "bison",
    "busybox-static",
    "ccache",
    "clang",
    "cpio",
    "flex",
    // The font of the benchmark's chart.
    "fonts-dejavu-core",
    "ipxe-qemu",
    "kmod",
    "libclang-dev",
    // The static C library for the guest's fbtool (xtask/guest/fbtool.c).
    "libc6-dev",
    "libelf-dev",
    "libssl-dev",
    "lld",
    "llvm",
    "make",
    // UEFI firmware for the boot-logo run (OVMF_CODE_4M.fd, OVMF_VARS_4M.fd).
    "ovmf",
    "patch",
    "perl",
    "python3",
    "qemu-system-x86",
    "rsync",
    "seabios",
    "xz-utils",
];

/// The oldest bindgen the 6.12 tree accepts (scripts/min-tool-version.sh).
const BINDGEN_MINIMUM: (u32, u32, u32) = (0, 65, 1);

/// Installs whatever is missing; quick and silent when everything is present.
pub fn ensure_prerequisites() -> Result<()> {
    ensure_debian_packages()?;
    ensure_rust_src()?;
    ensure_bindgen()
}

fn ensure_debian_packages() -> Result<()> {
    let mut missing: Vec<String> = DEBIAN_PACKAGES
        .iter()
        .filter(|package| installed_version(package).is_none())
        .map(|package| package.to_string())
        .collect();
    match installed_version(KERNEL_PACKAGE) {
        Some(version) if version == KERNEL_PACKAGE_VERSION => {}
        _ => missing.push(format!("{KERNEL_PACKAGE}={KERNEL_PACKAGE_VERSION}")),
    }
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("setup: installing Debian packages: {}", missing.join(" "));
    if !is_root() {
        bail!(
            "installing packages needs root; run as root or install them yourself:\n  \
             apt-get install {}",
            missing.join(" ")
        );
    }
    command::run(Command::new("apt-get").args(["update", "-q"]))
        .context("apt-get update failed: check the network and /etc/apt/sources.list")?;
    command::run(
        Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
    .with_context(|| {
        format!(
            "apt-get install failed. If {KERNEL_PACKAGE} {KERNEL_PACKAGE_VERSION} has left the \
             archive (`apt-cache policy {KERNEL_PACKAGE}` lists what is there), update \
             KERNEL_PACKAGE_VERSION in xtask/src/paths.rs and check that patches/ still apply \
             with `cargo xtask overlay --pristine`"
        )
    })
}

/// The installed version of a Debian package, if it is installed.
fn installed_version(package: &str) -> Option<String> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Status}\t${Version}", package])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let (status, version) = text.split_once('\t')?;
    (status == "install ok installed").then(|| version.to_string())
}

fn is_root() -> bool {
    command::output(Command::new("id").arg("-u"))
        .map(|uid| uid.trim() == "0")
        .unwrap_or(false)
}

fn ensure_rust_src() -> Result<()> {
    let installed =
        command::output(Command::new("rustup").args(["component", "list", "--installed"]))
            .context("rustup is needed to add the rust-src component")?;
    if installed.lines().any(|line| line.starts_with("rust-src")) {
        return Ok(());
    }
    eprintln!("setup: adding the rust-src component");
    command::run(Command::new("rustup").args(["component", "add", "rust-src"]))
}

fn ensure_bindgen() -> Result<()> {
    let version = Command::new("bindgen")
        .arg("--version")
        .output()
        .ok()
        .and_then(|out| parse_bindgen_version(&String::from_utf8_lossy(&out.stdout)));
    if version.is_some_and(|version| version >= BINDGEN_MINIMUM) {
        return Ok(());
    }
    eprintln!("setup: installing bindgen-cli from crates.io (a few minutes)");
    command::run(Command::new("cargo").args(["install", "bindgen-cli", "--locked"]))
        .context("cargo install bindgen-cli failed")
}

/// `bindgen 0.73.2` to `(0, 73, 2)`.
fn parse_bindgen_version(text: &str) -> Option<(u32, u32, u32)> {
    let version = text.split_whitespace().nth(1)?;
    let mut parts = version.split('.').map(|part| part.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??, parts.next()??))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindgen_versions_are_read_and_compared() {
        assert_eq!(parse_bindgen_version("bindgen 0.73.2\n"), Some((0, 73, 2)));
        assert!(parse_bindgen_version("bindgen 0.60.1").unwrap() < BINDGEN_MINIMUM);
        assert_eq!(parse_bindgen_version("garbage"), None);
    }
}

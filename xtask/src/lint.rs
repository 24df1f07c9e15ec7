//! Static checks: rustfmt with the tree's settings, checkpatch, rustdoc, and the tooling's own
//! fmt and Clippy. (Clippy on the kernel side runs in every build: see `build.rs`.)

use crate::build;
use crate::command;
use crate::kconfig;
use crate::paths::{Flavour, Paths};
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Folders of the checkout that hold kernel code (a host test checks that none is missing).
const KERNEL_SOURCE_DIRS: &[&str] = &[
    "drm_client",
    "vmap_cache",
    "fbdev",
    "module_param",
    "kunit",
    "bootsplash",
    "fbdev_emulation",
    "c",
];

/// One static check.
type Check = fn(&Paths, Flavour) -> Result<()>;

/// Runs every static check and fails if any of them found something.
pub fn all(paths: &Paths, flavour: Flavour) -> Result<()> {
    let mut failed = Vec::new();
    let checks: [(&str, Check); 4] = [
        ("rustfmt (kernel style)", rustfmt),
        ("checkpatch", checkpatch),
        ("xtask fmt and clippy", tooling),
        ("rustdoc", rustdoc),
    ];
    for (name, check) in checks {
        eprintln!("lint: {name}");
        if let Err(error) = check(paths, flavour) {
            eprintln!("lint: {name} failed: {error:#}");
            failed.push(name);
        }
    }
    if !failed.is_empty() {
        bail!("lint failed: {}", failed.join(", "));
    }
    Ok(())
}

/// Our kernel-side files ending in one of `extensions`.
fn kernel_files(repo: &Path, extensions: &[&str]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending: Vec<PathBuf> = KERNEL_SOURCE_DIRS
        .iter()
        .map(|dir| repo.join(dir))
        .collect();
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for path in entries.flatten().map(|entry| entry.path()) {
            if path.is_dir() {
                pending.push(path);
            } else if path
                .extension()
                .is_some_and(|ext| extensions.iter().any(|wanted| ext == *wanted))
            {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn rustfmt(paths: &Paths, _: Flavour) -> Result<()> {
    // The same settings as the kernel's own `make rustfmtcheck`, on our files only.
    command::run(
        Command::new("rustfmt")
            .args(["--check", "--edition", "2021", "--config-path"])
            .arg(paths.tree().join(".rustfmt.toml"))
            .args(kernel_files(&paths.repo, &["rs"])),
    )
}

fn checkpatch(paths: &Paths, _: Flavour) -> Result<()> {
    let script = paths.tree().join("scripts/checkpatch.pl");
    let mut files = kernel_files(&paths.repo, &["rs", "c", "h"]);
    files.extend(["Kconfig", "Kbuild"].map(|name| paths.repo.join(name)));
    command::run(
        Command::new("perl")
            .arg(&script)
            .args(["--no-tree", "--terse", "--strict", "--show-types", "-f"])
            .args(&files),
    )?;
    let mut patch_files: Vec<PathBuf> = std::fs::read_dir(paths.repo.join("patches"))?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<std::io::Result<_>>()?;
    patch_files.sort();
    command::run(
        Command::new("perl")
            .arg(&script)
            .args([
                "--no-tree",
                "--terse",
                "--no-signoff",
                "--ignore",
                "COMMIT_MESSAGE",
            ])
            .args(&patch_files),
    )
}

fn tooling(paths: &Paths, _: Flavour) -> Result<()> {
    let manifest = paths.repo.join("xtask/Cargo.toml");
    command::run(
        Command::new("cargo")
            .args(["fmt", "--check", "--manifest-path"])
            .arg(&manifest),
    )?;
    command::run(
        Command::new("cargo")
            .args(["clippy", "--quiet", "--all-targets", "--manifest-path"])
            .arg(&manifest)
            .args(["--", "-D", "warnings"]),
    )
}

fn rustdoc(paths: &Paths, flavour: Flavour) -> Result<()> {
    kconfig::configure(paths, flavour)?;
    build::make(paths, flavour, &["rustdoc"], "rustdoc")?;
    build::fail_on_our_warnings(&paths.output().join("rustdoc.log"))
}

#[cfg(test)]
mod tests {
    use super::KERNEL_SOURCE_DIRS;
    use std::path::Path;

    /// Every top-level folder with kernel sources is linted: one left out of the list (as
    /// `fbdev/` and `fbdev_emulation/` once were) would skip rustfmt and checkpatch silently.
    #[test]
    fn every_kernel_source_folder_is_linted() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let kernel_source = |ext: &str| matches!(ext, "rs" | "c" | "h");
        for entry in std::fs::read_dir(&repo).expect("the checkout").flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !entry.path().is_dir()
                || name.starts_with('.')
                || ["xtask", "target"].contains(&name.as_str())
            {
                continue;
            }
            let has_sources = walk(&entry.path()).iter().any(|path| {
                path.extension()
                    .and_then(|ext| ext.to_str())
                    .is_some_and(kernel_source)
            });
            assert!(
                !has_sources || KERNEL_SOURCE_DIRS.contains(&name.as_str()),
                "{name}/ holds kernel sources but is not in KERNEL_SOURCE_DIRS"
            );
        }
    }

    fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                files.extend(walk(&path));
            } else {
                files.push(path);
            }
        }
        files
    }
}

//! Building the kernel: `LLVM=1`, ccache, Clippy, a kept build directory, every core.
//!
//! The make command line must be the same on every run: kbuild records each object's command
//! and rebuilds it when the command changes.

use crate::command;
use crate::kconfig;
use crate::overlay;
use crate::paths::{Flavour, Paths};
use anyhow::{bail, Result};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// Paths in the kernel tree that are ours: warnings there fail the build.
pub const OUR_TREE_PATHS: &[&str] = &[
    "rust/kernel/drm_client/",
    "rust/kernel/vmap_cache/",
    "rust/kernel/ktest/",
    "rust/kernel/fbdev/",
    "rust/kernel/module_param/",
    "drivers/gpu/drm/vmap_client/",
    "rust/helpers/drm_vmap_client.c",
    "drivers/gpu/drm/vgem/vgem_drv.c",
];

/// Runs `make` with the project's fixed options for `targets`.
pub fn make(paths: &Paths, flavour: Flavour, targets: &[&str], step: &str) -> Result<Duration> {
    let log = paths.output().join(format!("{step}.log"));
    std::fs::create_dir_all(paths.output())?;
    let mut make = Command::new("make");
    make.arg("-C")
        .arg(paths.tree())
        .arg(format!("O={}", paths.build(flavour).display()))
        .args(["LLVM=1", "CC=ccache clang", "CLIPPY=1"])
        .arg(format!("-j{}", jobs()))
        .args(targets)
        // ccache keys on the compiler's arguments, which hold absolute paths: relative to the
        // work directory, a tree in another work directory hits the same cache entries.
        .env("CCACHE_BASEDIR", &paths.work)
        .env("CCACHE_NOHASHDIR", "1");
    command::run_logged(step, &mut make, &log)
}

/// Overlays, configures and builds `flavour`, returning the kernel image.
pub fn kernel(paths: &Paths, flavour: Flavour) -> Result<PathBuf> {
    overlay::apply(paths)?;
    kconfig::configure(paths, flavour)?;
    eprintln!(
        "build: kernel in {} (cold: about 12 minutes on 2 cores; after an edit: under a minute)",
        paths.build(flavour).display()
    );
    let step = format!("build-{flavour:?}").to_lowercase();
    // Modules too: the debug kernel builds the splash as one.
    let elapsed = make(paths, flavour, &["bzImage", "modules"], &step)?;
    eprintln!("build: done in {}", command::format_duration(elapsed));
    fail_on_our_warnings(&paths.output().join(format!("{step}.log")))?;
    Ok(paths.build(flavour).join("arch/x86/boot/bzImage"))
}

/// Fails if the compiler, Clippy or rustdoc warned about one of our files in `log`.
pub fn fail_on_our_warnings(log: &std::path::Path) -> Result<()> {
    let text = std::fs::read_to_string(log)?;
    let warnings = our_warnings(&text);
    if warnings.is_empty() {
        return Ok(());
    }
    for warning in &warnings {
        eprintln!("{warning}\n");
    }
    bail!(
        "{} warning(s) in our files; full log: {}",
        warnings.len(),
        log.display()
    )
}

/// The warning and error blocks of a build log that point into our files.
///
/// A C diagnostic is one line (`path:line:col: warning: ...`); a Rust one starts with
/// `warning:` and names its file on a later `--> path` line, so blocks run until a blank line.
pub fn our_warnings(log: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut block: Vec<&str> = Vec::new();
    let mut flush = |block: &mut Vec<&str>| {
        let text = block.join("\n");
        if OUR_TREE_PATHS.iter().any(|path| text.contains(path)) {
            found.push(text);
        }
        block.clear();
    };
    for line in log.lines() {
        let starts_rust = line.starts_with("warning:") || line.starts_with("error");
        let is_c = line.contains(": warning:") || line.contains(": error:");
        if starts_rust || is_c || line.trim().is_empty() {
            flush(&mut block);
        }
        if is_c {
            block.push(line);
            flush(&mut block);
        } else if starts_rust || !block.is_empty() {
            block.push(line);
        }
    }
    flush(&mut block);
    found.retain(|text| !text.starts_with("warning: ") || !text.contains("warnings emitted"));
    found
}

fn jobs() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_warnings_in_our_files_are_found() {
        let log = "  RUSTC L rust/kernel.o\nwarning: unused variable: `x`\n  --> \
                   /src/rust/kernel/vmap_cache/mapping.rs:3:9\n   |\n\nwarning: unused \
                   import\n  --> /src/rust/kernel/sync.rs:1:1\n\n";
        let warnings = our_warnings(log);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("mapping.rs:3:9"));
    }

    #[test]
    fn c_warnings_in_our_files_are_found_and_others_ignored() {
        let log = "rust/helpers/drm_vmap_client.c:3:1: warning: no previous prototype\n\
                   fs/super.c:1:1: warning: something upstream\n  CC fs/x.o\n";
        let warnings = our_warnings(log);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].starts_with("rust/helpers/drm_vmap_client.c"));
    }
}

//! Placing this project into the kernel tree.
//!
//! The tree is unpacked once from Debian's tarball. Our files are copied to their places (only
//! the ones whose content changed, so `make` rebuilds only what an edit touched), and the hook
//! points into existing kernel files are applied from `patches/`. The tree remembers which
//! patches it carries: when a patch changes, the old version is reversed before the new one is
//! applied, so re-running never needs a fresh unpack.

use crate::command;
use crate::paths::{Paths, KERNEL_TARBALL};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where each file or folder of the checkout goes in the kernel tree (see the top `Kbuild`).
pub const PLACEMENTS: &[(&str, &str)] = &[
    ("Kbuild", "drivers/gpu/drm/vmap_client/Kbuild"),
    ("Kconfig", "drivers/gpu/drm/vmap_client/Kconfig"),
    ("bootsplash", "drivers/gpu/drm/vmap_client/bootsplash"),
    (
        "fbdev_emulation",
        "drivers/gpu/drm/vmap_client/fbdev_emulation",
    ),
    ("kunit/suites", "drivers/gpu/drm/vmap_client/kunit/suites"),
    ("drm_client", "rust/kernel/drm_client"),
    ("vmap_cache", "rust/kernel/vmap_cache"),
    ("module_param", "rust/kernel/module_param"),
    ("fbdev", "rust/kernel/fbdev"),
    ("kunit/rust", "rust/kernel/ktest"),
    ("c/bindings.h", "rust/bindings/drm_vmap_client.h"),
    ("c/helpers.c", "rust/helpers/drm_vmap_client.c"),
    ("c/drm_vgem.h", "include/drm/drm_vgem.h"),
    (
        "c/drm_vmap_client_test.h",
        "include/drm/drm_vmap_client_test.h",
    ),
    ("Documentation/gpu", "Documentation/gpu/drm-vmap-client"),
];

/// The tree's record of the patches it carries.
const APPLIED_DIR: &str = ".drm-vmap-client/applied-patches";

/// Makes the tree current: unpacked, our files in place, our patches applied.
pub fn apply(paths: &Paths) -> Result<()> {
    let tree = paths.tree();
    if !tree.join("Makefile").exists() {
        unpack(paths)?;
    }
    let mut copied = 0;
    for (from, to) in PLACEMENTS {
        copied += place(&paths.repo.join(from), &tree.join(to))?;
    }
    if copied > 0 {
        eprintln!("overlay: updated {copied} file(s) in {}", tree.display());
    }
    apply_patches(&paths.repo.join("patches"), &tree)
}

/// Replaces the tree with a freshly unpacked one, then applies the overlay.
pub fn recreate(paths: &Paths) -> Result<()> {
    let tree = paths.tree();
    if tree.exists() {
        eprintln!("overlay: removing {}", tree.display());
        fs::remove_dir_all(&tree).with_context(|| format!("cannot remove {}", tree.display()))?;
    }
    apply(paths)
}

fn unpack(paths: &Paths) -> Result<()> {
    if !Path::new(KERNEL_TARBALL).exists() {
        bail!("{KERNEL_TARBALL} is missing: run `cargo xtask setup` first");
    }
    let staging = paths.work.join(".unpacking");
    if staging.exists() {
        fs::remove_dir_all(&staging)?;
    }
    fs::create_dir_all(&staging)?;
    eprintln!("overlay: unpacking {KERNEL_TARBALL} (about 20 s)");
    command::run(
        Command::new("tar")
            .arg("-xf")
            .arg(KERNEL_TARBALL)
            .arg("-C")
            .arg(&staging),
    )?;
    let unpacked = staging.join(paths.tree().file_name().context("tree has no name")?);
    fs::rename(&unpacked, paths.tree()).context("cannot move the unpacked tree into place")?;
    fs::remove_dir_all(&staging)?;
    Ok(())
}

/// Copies `from` (a file or a folder) to `to`, writing only changed files and removing files
/// that no longer exist in the checkout. Returns how many files were written or removed.
fn place(from: &Path, to: &Path) -> Result<usize> {
    if from.is_file() {
        return copy_if_changed(from, to).map(usize::from);
    }
    let wanted = list_files(from)?;
    let mut changes = 0;
    for relative in &wanted {
        changes += usize::from(copy_if_changed(&from.join(relative), &to.join(relative))?);
    }
    if to.exists() {
        for relative in list_files(to)? {
            if !wanted.contains(&relative) {
                fs::remove_file(to.join(&relative))?;
                changes += 1;
            }
        }
    }
    Ok(changes)
}

fn copy_if_changed(from: &Path, to: &Path) -> Result<bool> {
    let content = fs::read(from).with_context(|| format!("cannot read {}", from.display()))?;
    if fs::read(to).is_ok_and(|existing| existing == content) {
        return Ok(false);
    }
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::write(to, content).with_context(|| format!("cannot write {}", to.display()))?;
    Ok(true)
}

/// The files below `dir`, as paths relative to it, sorted.
fn list_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        for entry in fs::read_dir(dir.join(&relative))? {
            let entry = entry?;
            let path = relative.join(entry.file_name());
            if entry.file_type()?.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Patch file name to content.
type PatchSet = BTreeMap<String, Vec<u8>>;

fn read_patch_set(dir: &Path) -> Result<PatchSet> {
    let mut set = PatchSet::new();
    if !dir.exists() {
        return Ok(set);
    }
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "patch") {
            let name = path.file_name().context("patch without a name")?;
            set.insert(name.to_string_lossy().into_owned(), fs::read(&path)?);
        }
    }
    Ok(set)
}

/// Brings the tree from the patches it carries to the ones in `patches`: reverses, newest
/// first, every applied patch from the first difference on, then applies the rest in order.
fn apply_patches(patches: &Path, tree: &Path) -> Result<()> {
    let wanted = read_patch_set(patches)?;
    let record = tree.join(APPLIED_DIR);
    let applied = read_patch_set(&record)?;
    let common = wanted
        .iter()
        .zip(&applied)
        .take_while(|(a, b)| a == b)
        .count();
    for (name, _) in applied.iter().skip(common).rev() {
        eprintln!("overlay: reversing {name}");
        run_patch(tree, &record.join(name), true).with_context(|| {
            format!("{name} no longer reverses: `cargo xtask overlay --pristine`")
        })?;
        fs::remove_file(record.join(name))?;
    }
    fs::create_dir_all(&record)?;
    for (name, content) in wanted.iter().skip(common) {
        eprintln!("overlay: applying {name}");
        run_patch(tree, &patches.join(name), false).with_context(|| {
            format!(
                "{name} does not apply to {}: rebase it on the pristine tree",
                tree.display()
            )
        })?;
        fs::write(record.join(name), content)?;
    }
    Ok(())
}

/// Applies (or reverses) one patch, after a dry run so that a failure changes nothing.
fn run_patch(tree: &Path, patch: &Path, reverse: bool) -> Result<()> {
    for dry_run in [true, false] {
        let mut command = Command::new("patch");
        command
            .args([
                "-p1",
                "--batch",
                "--forward",
                "--no-backup-if-mismatch",
                "--quiet",
            ])
            .arg("-d")
            .arg(tree)
            .arg("-i")
            .arg(patch);
        if reverse {
            command.arg("--reverse");
        }
        if dry_run {
            command.arg("--dry-run");
        }
        let out = command.output().context("cannot run patch")?;
        if !out.status.success() {
            bail!(
                "patch {}: {}",
                if dry_run { "dry run failed" } else { "failed" },
                String::from_utf8_lossy(&out.stdout).trim()
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    #[test]
    fn placing_copies_changes_and_removes_stale_files() {
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("from"), dir.path().join("to"));
        write(&from.join("a.rs"), "a");
        write(&from.join("sub/b.rs"), "b");
        write(&to.join("stale.rs"), "old");
        assert_eq!(place(&from, &to).unwrap(), 3);
        assert_eq!(fs::read_to_string(to.join("sub/b.rs")).unwrap(), "b");
        assert!(!to.join("stale.rs").exists());
        assert_eq!(
            place(&from, &to).unwrap(),
            0,
            "unchanged files are not rewritten"
        );
    }

    #[test]
    fn a_changed_patch_is_reversed_before_the_new_one_applies() {
        let dir = tempfile::tempdir().unwrap();
        let (tree, patches) = (dir.path().join("tree"), dir.path().join("patches"));
        write(&tree.join("f.txt"), "one\n");
        let patch = |from: &str, to: &str| {
            format!("--- a/f.txt\n+++ b/f.txt\n@@ -1 +1 @@\n-{from}\n+{to}\n")
        };
        write(&patches.join("0001-x.patch"), &patch("one", "two"));
        apply_patches(&patches, &tree).unwrap();
        assert_eq!(fs::read_to_string(tree.join("f.txt")).unwrap(), "two\n");
        apply_patches(&patches, &tree).unwrap();
        write(&patches.join("0001-x.patch"), &patch("one", "three"));
        apply_patches(&patches, &tree).unwrap();
        assert_eq!(fs::read_to_string(tree.join("f.txt")).unwrap(), "three\n");
        fs::remove_file(patches.join("0001-x.patch")).unwrap();
        apply_patches(&patches, &tree).unwrap();
        assert_eq!(fs::read_to_string(tree.join("f.txt")).unwrap(), "one\n");
    }

    #[test]
    fn a_patch_that_does_not_apply_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (tree, patches) = (dir.path().join("tree"), dir.path().join("patches"));
        write(&tree.join("f.txt"), "one\n");
        write(
            &patches.join("0001-x.patch"),
            "--- a/f.txt\n+++ b/f.txt\n@@ -1 +1 @@\n-zero\n+two\n",
        );
        assert!(apply_patches(&patches, &tree).is_err());
        assert_eq!(fs::read_to_string(tree.join("f.txt")).unwrap(), "one\n");
    }
}
